//! JSON lines: one object per finding, written (and flushed) the moment it is made,
//! to a file or to standard output (`-oJ -`).

use super::{FindingSink, PortFinding};
use anyhow::{Context, Result};
use std::io::Write;

pub struct JsonLines {
    out: Box<dyn Write + Send>,
}

impl JsonLines {
    /// Opens `path` for writing, or standard output for `-`.
    pub fn create(path: &str) -> Result<Self> {
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write JSON output to {path}"))?,
            )
        };
        Ok(Self { out })
    }
}

impl FindingSink for JsonLines {
    fn finding(&mut self, finding: &PortFinding) -> Result<()> {
        serde_json::to_writer(&mut self.out, finding)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }
}
