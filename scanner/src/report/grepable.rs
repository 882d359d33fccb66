//! nmap's grepable output (`-oG`): one `Host:` line for status and one for ports per
//! host, `Ignored State:` for the folded ones, and comment lines around them. Written
//! to a file, it is a log that grows host by host, and what `--resume` continues from.

use super::output_file::OutputFile;
use super::{folded_states, OutputOptions};
use crate::model::{HostResult, ScanResult, Writer};
use crate::target::services::ServicesTable;
use crate::text::ctime;
use anyhow::Result;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::SystemTime;

pub fn render(result: &ScanResult, opts: OutputOptions, services: &ServicesTable) -> String {
    let mut out = header(&result.args, result.start_time());
    for (addr, host) in &result.hosts {
        out.push_str(&host_lines(*addr, host, opts, services));
    }
    out.push_str(&footer(result));
    out
}

/// The first line: who ran what, when. `--resume` reads the command back from it.
pub fn header(args: &str, start: SystemTime) -> String {
    format!(
        "# scanner {} scan initiated {} as: {args}\n",
        env!("CARGO_PKG_VERSION"),
        ctime(start)
    )
}

/// A host's `Status:` and `Ports:` lines (nothing for a host `--open` hides).
pub fn host_lines(
    addr: Ipv4Addr,
    host: &HostResult,
    opts: OutputOptions,
    services: &ServicesTable,
) -> String {
    let mut out = String::new();
    if !opts.shows_host(host) {
        return out;
    }
    let name = host.display_name().unwrap_or("");
    let _ = writeln!(
        out,
        "Host: {addr} ({name})\tStatus: {}",
        if host.is_up() { "Up" } else { "Down" }
    );
    let folded = folded_states(host);
    let listed: Vec<String> = host
        .ports
        .values()
        .filter(|p| !folded.contains(&p.state) && opts.lists_port(p))
        .map(|p| {
            let (name, version) = match &p.service {
                Some(service) => (
                    service.display_name().replace('/', "|"),
                    service.version_column().replace('/', "|"),
                ),
                None => (
                    services.name(p.port, p.proto.as_str()).to_string(),
                    String::new(),
                ),
            };
            format!(
                "{}/{}/{}//{name}//{version}/",
                p.port,
                p.state.as_str(),
                p.proto,
            )
        })
        .collect();
    let mut line = format!("Host: {addr} ({name})\tPorts: {}", listed.join(", "));
    if let Some(state) = folded
        .iter()
        .max_by_key(|s| host.ports.values().filter(|p| p.state == **s).count())
    {
        let count = host.ports.values().filter(|p| p.state == *state).count();
        let _ = write!(line, "\tIgnored State: {} ({count})", state.as_str());
    }
    if !listed.is_empty() || !folded.is_empty() {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The closing comment line with the summary.
pub fn footer(result: &ScanResult) -> String {
    format!(
        "# scanner done at {} -- {}\n",
        ctime(result.start_time() + result.elapsed),
        result.summary()
    )
}

/// A grepable log written as the scan goes: the header at once, each host's lines as
/// soon as the host is finished, the summary at the end. If the scan is killed, a
/// file holds every host finished so far, which is what `--resume` reads.
pub struct GrepableLog {
    file: OutputFile,
    opts: OutputOptions,
    services: Arc<ServicesTable>,
}

impl GrepableLog {
    /// Creates `path` (standard output for `-`) with the header, or (resuming) opens
    /// it to append.
    pub fn open(
        path: &str,
        args: &str,
        opts: OutputOptions,
        services: Arc<ServicesTable>,
        append: bool,
    ) -> Result<Self> {
        let mut file = if append {
            OutputFile::append(path, "grepable")?
        } else {
            OutputFile::create(path, "grepable")?
        };
        if !append {
            file.write_text(&header(args, SystemTime::now()))?;
        }
        Ok(Self {
            file,
            opts,
            services,
        })
    }
}

impl Writer for GrepableLog {
    fn host(&mut self, addr: Ipv4Addr, host: &HostResult) -> Result<()> {
        self.file
            .write_text(&host_lines(addr, host, self.opts, &self.services))
    }

    /// Writes the summary line.
    fn finish(&mut self, scan: &ScanResult) -> Result<()> {
        self.file.write_text(&footer(scan))
    }
}

/// What a `-oG` log of an interrupted scan holds: the command line it ran and the
/// hosts it finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    pub command_line: String,
    pub finished: Vec<Ipv4Addr>,
}

impl ResumePoint {
    /// Reads a grepable log written by this scanner; `None` if `text` is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let first = text.lines().next()?;
        if !first.starts_with("# scanner ") {
            return None;
        }
        let (_, command_line) = first.split_once(" as: ")?;
        let mut finished: Vec<Ipv4Addr> = text
            .lines()
            .filter_map(|line| line.strip_prefix("Host: "))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect();
        finished.sort_unstable();
        finished.dedup();
        Some(Self {
            command_line: command_line.to_string(),
            finished,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::record_sample_ports;

    #[test]
    fn resume_point_reads_the_command_and_finished_hosts() {
        let log = "# scanner 0.1.0 scan initiated Sat Nov 28 21:48:57 2026 as: scanner -sS -p 22 -oG x 198.18.0.0/24\n\
            Host: 198.18.0.10 (web.lab.test)\tStatus: Up\n\
            Host: 198.18.0.10 (web.lab.test)\tPorts: 22/open/tcp//ssh///\n\
            Host: 198.18.0.2 ()\tStatus: Up\n";
        let point = ResumePoint::parse(log).unwrap();
        assert_eq!(point.command_line, "scanner -sS -p 22 -oG x 198.18.0.0/24");
        assert_eq!(
            point.finished,
            vec![Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 10)]
        );
        assert!(ResumePoint::parse("{\"seed\": 1}").is_none());
        assert!(ResumePoint::parse("").is_none());
    }

    #[test]
    fn host_lines_as_nmap_writes_them() {
        let mut result = ScanResult {
            addresses: 1,
            ..Default::default()
        };
        let addr = Ipv4Addr::new(198, 18, 1, 10);
        record_sample_ports(&mut result, addr, 63);
        let table = ServicesTable::built_in().unwrap();
        let text = render(&result, OutputOptions::default(), &table);
        assert!(
            text.contains("Host: 198.18.1.10 ()\tStatus: Up\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "Host: 198.18.1.10 ()\tPorts: 22/open/tcp//ssh///\tIgnored State: closed (29)\n"
            ),
            "{text}"
        );
    }
}
