//! CSV: a header line of field names, then one row per finding as it is made (flushed
//! each row), with the fields `--output-fields` names.

use super::fields::Field;
use super::output_file::OutputFile;
use crate::model::{PortFinding, Writer};
use anyhow::Result;
use std::io::Write;

pub struct Csv {
    out: OutputFile,
    fields: Vec<Field>,
}

impl Csv {
    /// Opens `path` (or standard output for `-`) and writes the header; with
    /// `append` (a sweep going on from its saved state), adds rows to the file as it
    /// is, header and all (a file still empty gets the header).
    pub fn create(path: &str, fields: &[Field], append: bool) -> Result<Self> {
        let grows = append && path != "-";
        let had_rows = grows && std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let mut out = if grows {
            OutputFile::append(path, "CSV")?
        } else {
            OutputFile::create(path, "CSV")?
        };
        if !had_rows {
            let header: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            writeln!(out, "{}", header.join(","))?;
            out.flush()?;
        }
        Ok(Self {
            out,
            fields: fields.to_vec(),
        })
    }
}

impl Writer for Csv {
    fn port(&mut self, finding: &PortFinding) -> Result<()> {
        let row: Vec<String> = self.fields.iter().map(|f| f.text(finding)).collect();
        writeln!(self.out, "{}", row.join(","))?;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{PortFinding, PortState, Proto, Reason};
    use crate::report::fields::Field;

    #[test]
    fn rows_follow_the_fields() {
        let finding = PortFinding {
            addr: "198.19.0.7".parse().unwrap(),
            port: 80,
            proto: Proto::Tcp,
            state: PortState::Open,
            reason: Reason::SynAck,
            ttl: Some(63),
            service: None,
            scripts: Vec::new(),
            synack: None,
            time: 1.5,
        };
        let row: Vec<String> = [
            Field::Addr,
            Field::Port,
            Field::State,
            Field::Ttl,
            Field::Time,
        ]
        .iter()
        .map(|f| f.text(&finding))
        .collect();
        assert_eq!(row.join(","), "198.19.0.7,80,open,63,1.500000");
    }
}
