//! JSON lines: one object per finding, written (and flushed) the moment it is made,
//! to a file or to standard output (`-oJ -`), with the fields `--output-fields` names
//! and, after `-sV`, the port's `service`; each script's result is a line of its own
//! (`script`, with the host and port it is about, or the `phase`, `prescan` or
//! `postscan`, of a script that ran before or after the scan).

use super::fields::Field;
use super::output_file::OutputFile;
use crate::model::{PortFinding, ScriptOutput, ScriptSubject, Writer};
use anyhow::Result;
use std::io::Write;

pub struct JsonLines {
    out: OutputFile,
    fields: Vec<Field>,
    /// Write the open ports' SYN+ACK signatures (`--synack-signatures`; the scan also
    /// reads them for the scripts without it).
    synack_signatures: bool,
}

impl JsonLines {
    /// With `append` (a sweep going on from its saved state), the lines are added to
    /// the file as it is.
    pub fn create(
        path: &str,
        fields: &[Field],
        synack_signatures: bool,
        append: bool,
    ) -> Result<Self> {
        Ok(Self {
            out: if append && path != "-" {
                OutputFile::append(path, "JSON")?
            } else {
                OutputFile::create(path, "JSON")?
            },
            fields: fields.to_vec(),
            synack_signatures,
        })
    }
}

impl Writer for JsonLines {
    fn port(&mut self, finding: &PortFinding) -> Result<()> {
        let mut object: serde_json::Map<String, serde_json::Value> = self
            .fields
            .iter()
            .map(|f| (f.name().to_string(), f.json(finding)))
            .collect();
        // Version detection's answer, whole, whatever the fields.
        if let Some(service) = &finding.service {
            object.insert("service".into(), serde_json::to_value(service)?);
        }
        self.write(&object)
    }

    /// Once the host is done: each open port's SYN+ACK signature (`--synack-signatures`),
    /// its OS (`-O`) and its trace (`--traceroute`), each a line of its own.
    fn host(&mut self, addr: std::net::Ipv4Addr, host: &crate::model::HostResult) -> Result<()> {
        if self.synack_signatures {
            for finding in host.ports.values() {
                let Some(print) = &finding.synack else {
                    continue;
                };
                let mut object = serde_json::Map::new();
                object.insert("addr".into(), addr.to_string().into());
                object.insert("port".into(), finding.port.into());
                object.insert("proto".into(), finding.proto.as_str().into());
                object.insert("synack".into(), serde_json::to_value(print)?);
                self.write(&object)?;
            }
        }
        if let Some(os) = &host.os {
            self.write(&super::os::json(addr, os)?)?;
        }
        match &host.trace {
            Some(trace) => self.write(&super::trace::json(addr, trace)?),
            None => Ok(()),
        }
    }

    fn script(&mut self, subject: ScriptSubject, output: &ScriptOutput) -> Result<()> {
        let mut object = serde_json::Map::new();
        match subject {
            ScriptSubject::PreScan => {
                object.insert("phase".into(), "prescan".into());
            }
            ScriptSubject::PostScan => {
                object.insert("phase".into(), "postscan".into());
            }
            ScriptSubject::Host(addr) => {
                object.insert("addr".into(), addr.to_string().into());
            }
            ScriptSubject::Port(addr, number, proto) => {
                object.insert("addr".into(), addr.to_string().into());
                object.insert("port".into(), number.into());
                object.insert("proto".into(), proto.as_str().into());
            }
        }
        object.insert("script".into(), serde_json::to_value(output)?);
        self.write(&object)
    }
}

impl JsonLines {
    /// Writes one object as a line, flushed.
    fn write(&mut self, object: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
        serde_json::to_writer(&mut self.out, object)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }
}
