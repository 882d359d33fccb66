//! nmap's normal output: a report per host with PORT STATE SERVICE lines (REASON with
//! `--reason`), the uninteresting states folded into a "Not shown" line, the MAC of
//! on-link hosts, script results (under their port, the host, or before and after
//! the hosts for pre- and post-scan scripts), and a closing summary. It is written as
//! the scan goes ([`NormalWriter`]): each host's report once the host is finished.

use super::output_file::OutputFile;
use super::{folded_states, OutputOptions};
use crate::model::{HostResult, Proto, ScanResult, ScriptOutput, ScriptSubject, Writer};
use crate::target::services::ServicesTable;
use crate::text::format_mac;
use anyhow::Result;
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::sync::Arc;

pub fn render(result: &ScanResult, opts: OutputOptions, services: &ServicesTable) -> String {
    let mut out = String::new();
    script_section(&mut out, "Pre-scan script results:", &result.prescripts);
    for (addr, host) in &result.hosts {
        host_report(&mut out, *addr, host, opts, services);
    }
    out.push_str(&closing(result));
    out
}

/// The post-scan scripts' results and the summary line.
fn closing(result: &ScanResult) -> String {
    let mut out = String::new();
    script_section(&mut out, "Post-scan script results:", &result.postscripts);
    let _ = writeln!(out, "Scan done: {}", result.summary());
    out
}

/// One host's report (nothing for a host `--open` hides).
fn host_report(
    out: &mut String,
    addr: Ipv4Addr,
    host: &HostResult,
    opts: OutputOptions,
    services: &ServicesTable,
) {
    if !opts.shows_host(host) {
        return;
    }
    match host.display_name() {
        Some(name) => {
            let _ = writeln!(out, "Scan report for {name} ({addr})");
        }
        None => {
            let _ = writeln!(out, "Scan report for {addr}");
        }
    }
    let received = if opts.reason {
        format!(", received {}", host.status_reason())
    } else {
        String::new()
    };
    match host.latency {
        Some(latency) if host.is_up() => {
            let _ = writeln!(
                out,
                "Host is up{received} ({:.5}s latency).",
                latency.as_secs_f64()
            );
        }
        _ if host.is_up() => {
            let _ = writeln!(out, "Host is up{received}.");
        }
        _ => out.push_str("Host seems down or filters every probe (no reply).\n"),
    }
    render_ports(out, host, opts, services);
    if let Some(mac) = &host.mac {
        let _ = writeln!(out, "MAC Address: {}", format_mac(mac));
    }
    if let Some(os) = &host.os {
        super::os::normal(out, os, opts.os_guess, opts.verbose);
    }
    if let Some(line) = service_info(host) {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    script_section(out, "Host script results:", &host.scripts);
    if opts.synack_signatures {
        synack_section(out, host);
    }
    if let Some(trace) = &host.trace {
        super::trace::normal(out, trace);
    }
}

/// The SYN+ACK signatures of the host's open ports (`--synack-signatures`), as p0f
/// writes them, and what each matched in the signature database.
fn synack_section(out: &mut String, host: &HostResult) {
    let rows: Vec<_> = host
        .ports
        .values()
        .filter_map(|p| {
            let print = p.synack.as_ref()?;
            Some((
                format!("{}/{}", p.port, p.proto),
                print.signature.as_str(),
                print.matched.as_ref(),
            ))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    super::os::signature_table(out, "SYN+ACK signatures (p0f v3):", &rows);
    out.push('\n');
}

/// The normal output as the scan goes: the pre-scan scripts' results before the first
/// host, each host's report once the host is finished, the rest at the end.
pub struct NormalWriter {
    out: OutputFile,
    opts: OutputOptions,
    services: Arc<ServicesTable>,
    /// The pre-scan scripts' results, until they are written.
    prescripts: Option<Vec<ScriptOutput>>,
}

impl NormalWriter {
    pub fn new(out: OutputFile, opts: OutputOptions, services: Arc<ServicesTable>) -> Self {
        Self {
            out,
            opts,
            services,
            prescripts: Some(Vec::new()),
        }
    }

    /// The pre-scan section, the first time only.
    fn prescan_section(&mut self) -> String {
        let mut out = String::new();
        if let Some(scripts) = self.prescripts.take() {
            script_section(&mut out, "Pre-scan script results:", &scripts);
        }
        out
    }
}

impl Writer for NormalWriter {
    fn script(&mut self, subject: ScriptSubject, output: &ScriptOutput) -> Result<()> {
        if let (ScriptSubject::PreScan, Some(scripts)) = (subject, &mut self.prescripts) {
            scripts.push(output.clone());
        }
        Ok(())
    }

    fn host(&mut self, addr: Ipv4Addr, host: &HostResult) -> Result<()> {
        let mut text = self.prescan_section();
        host_report(&mut text, addr, host, self.opts, &self.services);
        self.out.write_text(&text)
    }

    fn finish(&mut self, scan: &ScanResult) -> Result<()> {
        let mut text = self.prescan_section();
        text.push_str(&closing(scan));
        self.out.write_text(&text)
    }
}

/// A heading and the `|` lines of `scripts` under it, then a blank line (nothing
/// when there are none).
fn script_section(out: &mut String, heading: &str, scripts: &[ScriptOutput]) {
    if scripts.is_empty() {
        return;
    }
    let _ = writeln!(out, "{heading}");
    for line in scripts.iter().flat_map(script_lines) {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
}

/// NSE's lines under a port or host: `|_id: text` for one line, else `| id: …`,
/// `| …` and `|_…` for the last.
pub fn script_lines(script: &ScriptOutput) -> Vec<String> {
    let lines: Vec<&str> = script.output.lines().collect();
    if lines.len() <= 1 {
        return vec![format!("|_{}: {}", script.id, lines.first().unwrap_or(&""))];
    }
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| match i {
            0 => format!("| {}: {line}", script.id),
            _ if i == last => format!("|_{line}"),
            _ => format!("| {line}"),
        })
        .collect()
}

fn render_ports(
    out: &mut String,
    host: &HostResult,
    opts: OutputOptions,
    services: &ServicesTable,
) {
    let folded = folded_states(host);
    if !folded.is_empty() {
        let parts: Vec<String> = folded
            .iter()
            .flat_map(|state| {
                [Proto::Tcp, Proto::Udp]
                    .into_iter()
                    .filter_map(move |proto| {
                        let ports: Vec<_> = host
                            .ports
                            .values()
                            .filter(|p| p.state == *state && p.proto == proto)
                            .collect();
                        let reason = ports.first()?.reason.as_str();
                        let noun = if ports.len() == 1 { "port" } else { "ports" };
                        Some(format!(
                            "{} {} {proto} {noun} ({reason})",
                            ports.len(),
                            state.as_str()
                        ))
                    })
            })
            .collect();
        let _ = writeln!(out, "Not shown: {}", parts.join(", "));
    }
    let shown: Vec<_> = host
        .ports
        .values()
        .filter(|p| !folded.contains(&p.state) && opts.lists_port(p))
        .collect();
    if shown.is_empty() {
        if !folded.is_empty() {
            let _ = writeln!(
                out,
                "All {} scanned ports are in ignored states.",
                host.ports.len()
            );
        }
        return;
    }
    // PORT STATE SERVICE [REASON] [VERSION]; every column but the last is padded.
    let versions = host.ports.values().any(|p| p.service.is_some());
    let mut header = vec!["PORT", "STATE", "SERVICE"];
    if opts.reason {
        header.push("REASON");
    }
    if versions {
        header.push("VERSION");
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|p| {
            let mut row = vec![
                format!("{}/{}", p.port, p.proto),
                p.state.as_str().to_string(),
                p.service.as_ref().map_or_else(
                    || services.name(p.port, p.proto.as_str()).to_string(),
                    // Probed and not recognised: the table's guess, marked as one.
                    |s| match s.method {
                        "table" => format!("{}?", s.display_name()),
                        _ => s.display_name(),
                    },
                ),
            ];
            if opts.reason {
                let ttl = p.ttl.map(|t| format!(" ttl {t}")).unwrap_or_default();
                row.push(format!("{}{ttl}", p.reason.as_str()));
            }
            if versions {
                row.push(
                    p.service
                        .as_ref()
                        .map(|s| s.version_column())
                        .unwrap_or_default(),
                );
            }
            row
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].len())
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for (row, port) in
        std::iter::once((&header, None)).chain(rows.iter().zip(shown.iter().map(Some)))
    {
        let last = row.len() - 1;
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column == last {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$} ", width = widths[column]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(cert) = port.and_then(|p| p.service.as_ref()?.certificate.as_ref()) {
            let _ = writeln!(
                out,
                "|_tls-certificate: subject {}; issuer {}; valid {} to {}",
                cert.subject, cert.issuer, cert.not_before, cert.not_after
            );
        }
        for script in port.iter().flat_map(|p| &p.scripts) {
            for line in script_lines(script) {
                let _ = writeln!(out, "{line}");
            }
        }
    }
}

/// nmap's `Service Info:` line: the host names, OS types, device types and OS CPEs
/// the services gave, if any.
fn service_info(host: &HostResult) -> Option<String> {
    let mut hosts: Vec<&str> = Vec::new();
    let mut oses: Vec<&str> = Vec::new();
    let mut devices: Vec<&str> = Vec::new();
    let mut cpes: Vec<&str> = Vec::new();
    for service in host.ports.values().filter_map(|p| p.service.as_ref()) {
        let v = &service.version;
        for (list, item) in [
            (&mut hosts, v.hostname.as_deref()),
            (&mut oses, v.ostype.as_deref()),
            (&mut devices, v.devicetype.as_deref()),
        ] {
            if let Some(item) = item {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
        }
        for cpe in v
            .cpes
            .iter()
            .filter(|c| c.starts_with("cpe:/o:") || c.starts_with("cpe:/h:"))
        {
            if !cpes.contains(&cpe.as_str()) {
                cpes.push(cpe);
            }
        }
    }
    let parts: Vec<String> = [
        ("Host", "Hosts", hosts),
        ("OS", "OSs", oses),
        ("Device", "Devices", devices),
        ("CPE", "CPE", cpes),
    ]
    .into_iter()
    .filter(|(_, _, items)| !items.is_empty())
    .map(|(one, many, items)| {
        let label = if items.len() == 1 { one } else { many };
        format!("{label}: {}", items.join(", "))
    })
    .collect();
    (!parts.is_empty()).then(|| format!("Service Info: {}", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortFinding, PortState, Reason};

    fn finding(port: u16, state: PortState, reason: Reason) -> PortFinding {
        PortFinding {
            addr: Ipv4Addr::new(198, 18, 0, 10),
            port,
            proto: Proto::Tcp,
            state,
            reason,
            ttl: Some(64),
            service: None,
            scripts: Vec::new(),
            synack: None,
            time: 0.0,
        }
    }

    fn table() -> ServicesTable {
        ServicesTable::built_in().unwrap()
    }

    fn sample() -> ScanResult {
        let mut result = ScanResult::default();
        for port in 1..=100 {
            result.record(finding(port, PortState::Closed, Reason::Reset));
        }
        for port in 200..=230 {
            result.record(finding(port, PortState::Filtered, Reason::NoResponse));
        }
        result.record(finding(22, PortState::Open, Reason::SynAck));
        result.record(finding(80, PortState::Open, Reason::SynAck));
        result.record(finding(300, PortState::Filtered, Reason::NoResponse));
        result
    }

    #[test]
    fn the_writer_writes_each_host_when_done_and_the_same_text_in_the_end() {
        let path = std::env::temp_dir().join(format!("scanner-normal-{}", std::process::id()));
        let out = OutputFile::create(path.to_str().unwrap(), "normal").unwrap();
        let mut writer = NormalWriter::new(out, OutputOptions::default(), Arc::new(table()));
        let mut result = sample();
        let pre = ScriptOutput {
            id: "pre".into(),
            output: "before".into(),
            table: None,
        };
        result.prescripts.push(pre.clone());
        writer.start(&result).unwrap();
        writer.script(ScriptSubject::PreScan, &pre).unwrap();
        let addr = Ipv4Addr::new(198, 18, 0, 10);
        writer.host(addr, &result.hosts[&addr]).unwrap();
        let so_far = std::fs::read_to_string(&path).unwrap();
        assert!(
            so_far.starts_with(
                "Pre-scan script results:\n|_pre: before\n\nScan report for 198.18.0.10\n"
            ),
            "{so_far}"
        );
        assert!(!so_far.contains("Scan done"), "{so_far}");
        writer.finish(&result).unwrap();
        let whole = std::fs::read_to_string(&path).unwrap();
        assert_eq!(whole, render(&result, OutputOptions::default(), &table()));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn script_lines_as_nse_writes_them() {
        let one = ScriptOutput {
            id: "http-title".into(),
            output: "lab host web".into(),
            table: None,
        };
        assert_eq!(script_lines(&one), vec!["|_http-title: lab host web"]);
        let many = ScriptOutput {
            id: "redis-info".into(),
            output: "\n  Version: 7.0.15\n  Mode: standalone".into(),
            table: None,
        };
        assert_eq!(
            script_lines(&many),
            vec![
                "| redis-info: ",
                "|   Version: 7.0.15",
                "|_  Mode: standalone"
            ]
        );
    }

    #[test]
    fn folds_every_large_uninteresting_state() {
        let text = render(&sample(), OutputOptions::default(), &table());
        assert!(text.contains("Scan report for 198.18.0.10\n"), "{text}");
        assert!(
            text.contains(
                "Not shown: 98 closed tcp ports (reset), 32 filtered tcp ports (no-response)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("PORT   STATE SERVICE\n22/tcp open  ssh\n80/tcp open  http\n"),
            "{text}"
        );
        assert!(text.contains("(1 host up)"), "{text}");
    }

    #[test]
    fn reason_column_and_open_only() {
        let text = render(
            &sample(),
            OutputOptions {
                open_only: true,
                reason: true,
                synack_signatures: false,
                os_guess: false,
                verbose: false,
            },
            &table(),
        );
        assert!(
            text.contains("22/tcp open  ssh     syn-ack ttl 64\n"),
            "{text}"
        );
        assert!(!text.contains("300/tcp"), "{text}");
    }
}
