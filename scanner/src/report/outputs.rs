//! The list of writers a scan writes to, built from the `-o` options and standard
//! output (ZMap's output-module list): every one is opened before the first probe,
//! so a path that cannot be written fails at once. Each gets every final port,
//! script result and host; a writer that fails is told no more, the others go on,
//! and every failure is told at the end.

use super::csv::Csv;
use super::fields::Field;
use super::grepable::GrepableLog;
use super::json::JsonLines;
use super::normal::NormalWriter;
use super::output_file::OutputFile;
use super::xml::XmlWriter;
use super::OutputOptions;
use crate::model::{HostResult, PortFinding, ScanResult, ScriptOutput, ScriptSubject, Writer};
use crate::target::services::ServicesTable;
use anyhow::{bail, Result};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Where each output goes (`-` is standard output), as the options name them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputPaths {
    /// `-oN` (or `-oA BASE`'s `BASE.nmap`).
    pub normal: Option<String>,
    /// `-oX` (or `BASE.xml`).
    pub xml: Option<String>,
    /// `-oG` (or `BASE.gnmap`).
    pub grepable: Option<String>,
    /// `-oJ` (or `BASE.jsonl`).
    pub json: Option<String>,
    /// `-oC`.
    pub csv: Option<String>,
    /// `-oP` (a file only).
    pub parquet: Option<String>,
}

impl OutputPaths {
    /// Whether an output other than the normal one goes to standard output (then the
    /// normal output is not written there too).
    pub fn takes_stdout(&self) -> bool {
        [&self.json, &self.csv, &self.xml, &self.grepable]
            .iter()
            .any(|path| path.as_deref() == Some("-"))
    }

    /// Whether an output is written host by host (normal, XML, grepable), so the
    /// scan's findings must be held until each host is done; the streaming formats
    /// (JSON lines, CSV, Parquet) alone hold nothing.
    pub fn holds_hosts(&self) -> bool {
        !self.takes_stdout()
            || self.normal.is_some()
            || self.xml.is_some()
            || self.grepable.is_some()
    }

    /// The `-oG` file that `--resume` can continue from, if there is one.
    pub fn resume_log(&self) -> Option<&str> {
        self.grepable.as_deref().filter(|path| *path != "-")
    }
}

/// How the outputs are written.
#[derive(Clone, Debug)]
pub struct OutputSettings<'a> {
    /// `--output-fields`, for JSON and CSV.
    pub fields: &'a [Field],
    /// `--open`, `--reason`.
    pub view: OutputOptions,
    /// The services table, for the SERVICE column of ports not probed.
    pub services: &'a Arc<ServicesTable>,
    /// The command line, for the grepable log's first line.
    pub command_line: &'a str,
    /// `--resume`: the grepable log, JSON lines and CSV are appended to, not started.
    pub resuming: bool,
    /// A sweep's shard (`I/N`), for the Parquet file's shard column.
    pub shard: Option<String>,
}

/// Every writer of the scan, in the order they were opened.
pub struct Writers {
    writers: Vec<Box<dyn Writer>>,
    /// Per writer, whether it failed (then it is told no more).
    failed: Vec<bool>,
    failures: Vec<anyhow::Error>,
}

impl Writers {
    /// Opens every output `paths` names, and the normal output on standard output
    /// unless another output takes it.
    pub fn open(paths: &OutputPaths, settings: &OutputSettings) -> Result<Self> {
        let (view, services) = (settings.view, settings.services);
        let mut writers: Vec<Box<dyn Writer>> = Vec::new();
        if !paths.takes_stdout() {
            let out = OutputFile::create("-", "normal")?;
            writers.push(Box::new(NormalWriter::new(out, view, services.clone())));
        }
        if let Some(path) = &paths.normal {
            let out = OutputFile::create(path, "normal")?;
            writers.push(Box::new(NormalWriter::new(out, view, services.clone())));
        }
        if let Some(path) = &paths.xml {
            let out = OutputFile::create(path, "XML")?;
            writers.push(Box::new(XmlWriter::new(out, view, services.clone())));
        }
        if let Some(path) = &paths.grepable {
            let append = settings.resuming && path != "-";
            let log =
                GrepableLog::open(path, settings.command_line, view, services.clone(), append)?;
            writers.push(Box::new(log));
        }
        if let Some(path) = &paths.json {
            writers.push(Box::new(JsonLines::create(
                path,
                settings.fields,
                view.synack_signatures,
                settings.resuming,
            )?));
        }
        if let Some(path) = &paths.parquet {
            writers.push(Box::new(super::parquet::ParquetWriter::create(
                path,
                settings.shard.clone(),
            )?));
        }
        if let Some(path) = &paths.csv {
            writers.push(Box::new(Csv::create(
                path,
                settings.fields,
                settings.resuming,
            )?));
        }
        Ok(Self::of(writers))
    }

    /// These writers, as a list.
    pub fn of(writers: Vec<Box<dyn Writer>>) -> Self {
        Self {
            failed: vec![false; writers.len()],
            writers,
            failures: Vec::new(),
        }
    }

    /// Calls `write` on each writer that has not failed, keeping the failures.
    fn each(&mut self, mut write: impl FnMut(&mut dyn Writer) -> Result<()>) {
        for (writer, failed) in self.writers.iter_mut().zip(&mut self.failed) {
            if *failed {
                continue;
            }
            if let Err(err) = write(writer.as_mut()) {
                *failed = true;
                self.failures.push(err);
            }
        }
    }
}

impl Writer for Writers {
    fn start(&mut self, scan: &ScanResult) -> Result<()> {
        self.each(|w| w.start(scan));
        Ok(())
    }

    fn port(&mut self, finding: &PortFinding) -> Result<()> {
        self.each(|w| w.port(finding));
        Ok(())
    }

    fn script(&mut self, subject: ScriptSubject, output: &ScriptOutput) -> Result<()> {
        self.each(|w| w.script(subject, output));
        Ok(())
    }

    fn host(&mut self, addr: Ipv4Addr, host: &HostResult) -> Result<()> {
        self.each(|w| w.host(addr, host));
        Ok(())
    }

    /// Finishes every writer that has not failed; every failure of the scan, one a
    /// line, if there was any.
    fn finish(&mut self, scan: &ScanResult) -> Result<()> {
        self.each(|w| w.finish(scan));
        if self.failures.is_empty() {
            return Ok(());
        }
        let messages: Vec<String> = self.failures.iter().map(|err| format!("{err:#}")).collect();
        bail!("{}", messages.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Counts the hosts it is given; fails on the first one if told to.
    struct Counting {
        hosts: Rc<RefCell<Vec<&'static str>>>,
        name: &'static str,
        fails: bool,
    }

    impl Writer for Counting {
        fn host(&mut self, _: Ipv4Addr, _: &HostResult) -> Result<()> {
            if self.fails {
                bail!("cannot write {} output", self.name);
            }
            self.hosts.borrow_mut().push(self.name);
            Ok(())
        }
    }

    #[test]
    fn a_failing_writer_stops_alone_and_is_told_at_the_end() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let writer = |name, fails| -> Box<dyn Writer> {
            Box::new(Counting {
                hosts: seen.clone(),
                name,
                fails,
            })
        };
        let mut writers = Writers::of(vec![writer("normal", true), writer("xml", false)]);
        let host = HostResult::default();
        for addr in [Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2)] {
            writers.host(addr, &host).unwrap();
        }
        assert_eq!(*seen.borrow(), ["xml", "xml"]);
        let err = writers.finish(&ScanResult::default()).unwrap_err();
        assert_eq!(format!("{err:#}"), "cannot write normal output");
    }

    #[test]
    fn stdout_is_the_normal_outputs_unless_another_takes_it() {
        let mut paths = OutputPaths {
            grepable: Some("scan.gnmap".into()),
            ..Default::default()
        };
        assert!(!paths.takes_stdout());
        assert_eq!(paths.resume_log(), Some("scan.gnmap"));
        paths.grepable = Some("-".into());
        assert!(paths.takes_stdout());
        assert_eq!(paths.resume_log(), None);
    }
}
