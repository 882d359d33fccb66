//! Parquet (`-oP FILE`): one row per port finding with typed columns, written in row
//! groups as the findings stream in (every [`ROW_GROUP_ROWS`] rows, and at the end),
//! so memory stays bounded whatever the scan's size; readable by DuckDB, pyarrow,
//! Spark and the rest. Each shard of a sweep writes its own file, and the files
//! query together (`SELECT ... FROM 'shard-*.parquet'`).
//!
//! The columns: address, port, protocol, state, reason, ttl, time (a UTC timestamp),
//! the service fields of version detection (service, product, version, extra_info,
//! os_type, device_type, cpe: space-separated), and the sweep's shard (`I/N`).

use super::output_file::OutputFile;
use crate::model::{PortFinding, ScanResult, Writer};
use anyhow::{bail, Context, Result};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::sync::Arc;

/// Rows kept in memory before they are written as a row group (about 4 MiB of them).
pub const ROW_GROUP_ROWS: usize = 16_384;

/// The file's schema, in Parquet's message syntax.
const SCHEMA: &str = "message finding {
    required binary address (STRING);
    required int32 port (INTEGER(16,false));
    required binary protocol (STRING);
    required binary state (STRING);
    required binary reason (STRING);
    optional int32 ttl (INTEGER(8,false));
    required int64 time (TIMESTAMP(MICROS,true));
    optional binary service (STRING);
    optional binary product (STRING);
    optional binary version (STRING);
    optional binary extra_info (STRING);
    optional binary os_type (STRING);
    optional binary device_type (STRING);
    optional binary cpe (STRING);
    optional binary shard (STRING);
}";

/// A column of optional strings: the values present, and a definition level per row.
#[derive(Default)]
struct OptionalText {
    values: Vec<ByteArray>,
    defined: Vec<i16>,
}

impl OptionalText {
    fn push(&mut self, value: Option<&str>) {
        self.defined.push(i16::from(value.is_some()));
        if let Some(value) = value {
            self.values.push(ByteArray::from(value));
        }
    }
}

/// The rows not yet written, column by column.
#[derive(Default)]
struct Rows {
    address: Vec<ByteArray>,
    port: Vec<i32>,
    protocol: Vec<ByteArray>,
    state: Vec<ByteArray>,
    reason: Vec<ByteArray>,
    ttl: (Vec<i32>, Vec<i16>),
    time: Vec<i64>,
    /// service, product, version, extra_info, os_type, device_type, cpe, shard.
    texts: [OptionalText; 8],
}

/// One column's values (and, for an optional one, its definition levels).
enum Column<'a> {
    Text(&'a [ByteArray], Option<&'a [i16]>),
    Int32(&'a [i32], Option<&'a [i16]>),
    Int64(&'a [i64]),
}

impl Rows {
    /// The columns, in the schema's order.
    fn columns(&self) -> Vec<Column<'_>> {
        let mut columns = vec![
            Column::Text(&self.address, None),
            Column::Int32(&self.port, None),
            Column::Text(&self.protocol, None),
            Column::Text(&self.state, None),
            Column::Text(&self.reason, None),
            Column::Int32(&self.ttl.0, Some(&self.ttl.1)),
            Column::Int64(&self.time),
        ];
        columns.extend(
            self.texts
                .iter()
                .map(|t| Column::Text(&t.values, Some(&t.defined))),
        );
        columns
    }

    fn len(&self) -> usize {
        self.port.len()
    }

    fn push(&mut self, finding: &PortFinding, shard: Option<&str>) {
        self.address
            .push(ByteArray::from(finding.addr.to_string().as_str()));
        self.port.push(i32::from(finding.port));
        // nmap's words are static: shared, not copied per row.
        let word = |w: &'static str| ByteArray::from(bytes::Bytes::from_static(w.as_bytes()));
        self.protocol.push(word(finding.proto.as_str()));
        self.state.push(word(finding.state.as_str()));
        self.reason.push(word(finding.reason.as_str()));
        self.ttl.1.push(i16::from(finding.ttl.is_some()));
        self.ttl.0.extend(finding.ttl.map(i32::from));
        self.time.push((finding.time * 1e6) as i64);
        let service = finding.service.as_ref();
        let version = service.map(|s| &s.version);
        let cpe = version
            .filter(|v| !v.cpes.is_empty())
            .map(|v| v.cpes.join(" "));
        let texts = [
            service.map(|s| s.name.as_str()),
            version.and_then(|v| v.product.as_deref()),
            version.and_then(|v| v.version.as_deref()),
            version.and_then(|v| v.info.as_deref()),
            version.and_then(|v| v.ostype.as_deref()),
            version.and_then(|v| v.devicetype.as_deref()),
            cpe.as_deref(),
            shard,
        ];
        for (column, value) in self.texts.iter_mut().zip(texts) {
            column.push(value);
        }
    }
}

/// The Parquet writer of one output file.
pub struct ParquetWriter {
    /// `None` once closed.
    file: Option<SerializedFileWriter<OutputFile>>,
    rows: Rows,
    shard: Option<String>,
    path: String,
}

impl ParquetWriter {
    /// Creates `path` (a file: Parquet is not streamed to standard output); `shard`
    /// fills the shard column.
    pub fn create(path: &str, shard: Option<String>) -> Result<Self> {
        if path == "-" {
            bail!("-oP needs a file: Parquet cannot be written to standard output");
        }
        let schema = Arc::new(parse_message_type(SCHEMA).context("the Parquet schema")?);
        let properties = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by(format!("scanner {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let out = OutputFile::create(path, "Parquet")?;
        let file = SerializedFileWriter::new(out, schema, properties)
            .with_context(|| format!("starting the Parquet file {path}"))?;
        Ok(Self {
            file: Some(file),
            rows: Rows::default(),
            shard,
            path: path.to_string(),
        })
    }

    /// Writes the rows held as one row group.
    fn write_row_group(&mut self) -> Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        if self.rows.len() == 0 {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let mut group = file.next_row_group()?;
        for column in rows.columns() {
            let mut writer = group
                .next_column()?
                .context("the Parquet schema has fewer columns than the rows")?;
            match column {
                Column::Text(values, defined) => writer
                    .typed::<ByteArrayType>()
                    .write_batch(values, defined, None)?,
                Column::Int32(values, defined) => writer
                    .typed::<Int32Type>()
                    .write_batch(values, defined, None)?,
                Column::Int64(values) => writer
                    .typed::<Int64Type>()
                    .write_batch(values, None, None)?,
            };
            writer.close()?;
        }
        group.close()?;
        Ok(())
    }

    /// Writes what is held and the file's footer.
    fn close(&mut self) -> Result<()> {
        self.write_row_group()?;
        if let Some(file) = self.file.take() {
            let mut out = file
                .into_inner()
                .with_context(|| format!("finishing the Parquet file {}", self.path))?;
            std::io::Write::flush(&mut out)?;
        }
        Ok(())
    }
}

impl Writer for ParquetWriter {
    fn port(&mut self, finding: &PortFinding) -> Result<()> {
        self.rows.push(finding, self.shard.as_deref());
        if self.rows.len() >= ROW_GROUP_ROWS {
            self.write_row_group()
                .with_context(|| format!("writing Parquet to {}", self.path))?;
        }
        Ok(())
    }

    fn finish(&mut self, _scan: &ScanResult) -> Result<()> {
        self.close()
            .with_context(|| format!("writing Parquet to {}", self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortState, Proto, Reason, ServiceInfo};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;

    fn finding(n: u32, service: bool) -> PortFinding {
        PortFinding {
            addr: std::net::Ipv4Addr::from(0xC613_0000 + n),
            port: 80,
            proto: Proto::Tcp,
            state: PortState::Open,
            reason: Reason::SynAck,
            ttl: n.is_multiple_of(2).then_some(64),
            service: service.then(|| ServiceInfo {
                name: "http".into(),
                version: crate::model::service::VersionInfo {
                    product: Some("nginx".into()),
                    cpes: vec!["cpe:/a:igor_sysoev:nginx".into()],
                    ..Default::default()
                },
                tunnel: None,
                method: "probed",
                conf: 10,
                certificate: None,
            }),
            scripts: Vec::new(),
            synack: None,
            time: 1_764_000_000.5,
        }
    }

    #[test]
    fn rows_stream_into_row_groups_and_read_back_typed() {
        let path = std::env::temp_dir().join(format!("scanner-{}.parquet", std::process::id()));
        let path_text = path.to_str().unwrap();
        let mut writer = ParquetWriter::create(path_text, Some("1/4".into())).unwrap();
        let total = ROW_GROUP_ROWS + 10;
        for n in 0..total as u32 {
            writer.port(&finding(n, n == 3)).unwrap();
        }
        writer.finish(&ScanResult::starting_now(0)).unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 2);
        assert_eq!(meta.file_metadata().num_rows() as usize, total);
        let rows: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .take(4)
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows[0].get_string(0).unwrap(), "198.19.0.0");
        assert_eq!(rows[0].get_ushort(1).unwrap(), 80);
        assert_eq!(rows[0].get_string(3).unwrap(), "open");
        assert_eq!(rows[0].get_ubyte(5).unwrap(), 64);
        assert!(rows[1].get_ubyte(5).is_err(), "no TTL: null");
        assert_eq!(
            rows[0].get_timestamp_micros(6).unwrap(),
            1_764_000_000_500_000
        );
        assert_eq!(rows[3].get_string(8).unwrap(), "nginx");
        assert_eq!(rows[3].get_string(13).unwrap(), "cpe:/a:igor_sysoev:nginx");
        assert_eq!(rows[0].get_string(14).unwrap(), "1/4");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn standard_output_is_refused() {
        let err = ParquetWriter::create("-", None).err().expect("refused");
        assert!(err.to_string().contains("needs a file"), "{err}");
    }
}
