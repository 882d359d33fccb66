//! nmap's XML output (`-oX`), shaped to validate against nmap's DTD, so that ndiff and
//! the other tools that read nmap XML read ours. The root element says
//! `scanner="nmap"` because the DTD allows no other value; the `version` attribute
//! and the opening comment say which program wrote it.

use super::output_file::OutputFile;
use super::{folded_states, OutputOptions};
use crate::model::{
    HostResult, Proto, ScanResult, ScriptOutput, ScriptSubject, ScriptValue, ServiceInfo, Writer,
};
use crate::target::services::ServicesTable;
use crate::text::{compress_ranges, ctime, epoch_seconds, format_mac};
use anyhow::Result;
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::SystemTime;

/// Escapes text for an XML attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn render(result: &ScanResult, opts: OutputOptions, services: &ServicesTable) -> String {
    let mut out = header(result);
    script_group(&mut out, "prescript", &result.prescripts);
    let end = result.start_time() + result.elapsed;
    for (addr, host) in &result.hosts {
        let start = result.start_time();
        host_element(&mut out, (*addr, host), opts, services, (start, end));
    }
    out.push_str(&closing(result));
    out
}

/// From the XML declaration to the scan's `<scaninfo>`s and verbosity.
fn header(result: &ScanResult) -> String {
    let mut out = String::new();
    let start = result.start_time();
    let start_str = ctime(start);
    let args = escape(&result.args);
    let _ = writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>"
    );
    let _ = writeln!(
        out,
        "<!-- scanner {VERSION} scan initiated {start_str} as: {} -->",
        args.replace("--", "- -")
    );
    let _ = writeln!(
        out,
        "<nmaprun scanner=\"nmap\" args=\"{args}\" start=\"{}\" startstr=\"{start_str}\" version=\"scanner-{VERSION}\" xmloutputversion=\"1.05\">",
        epoch_seconds(start)
    );
    // A ping scan (-sn) scans no ports and has no scaninfo, as nmap's XML.
    for scan in &result.scans {
        let _ = writeln!(
            out,
            "<scaninfo type=\"{}\" protocol=\"{}\" numservices=\"{}\" services=\"{}\"/>",
            scan.kind,
            scan.protocol,
            scan.ports.len(),
            compress_ranges(scan.ports.iter().copied())
        );
    }
    out.push_str("<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n");
    out
}

/// One `<host>`, scanned from `start` to `end` (nothing for a host `--open` hides).
fn host_element(
    out: &mut String,
    (addr, host): (Ipv4Addr, &HostResult),
    opts: OutputOptions,
    services: &ServicesTable,
    (start, end): (SystemTime, SystemTime),
) {
    if !opts.shows_host(host) {
        return;
    }
    let _ = write!(
        out,
        "<host starttime=\"{}\" endtime=\"{}\"><status state=\"{}\" reason=\"{}\" reason_ttl=\"0\"/>\n<address addr=\"{addr}\" addrtype=\"ipv4\"/>\n",
        epoch_seconds(start),
        epoch_seconds(end),
        if host.is_up() { "up" } else { "down" },
        host.status_reason()
    );
    if let Some(mac) = &host.mac {
        let _ = writeln!(
            out,
            "<address addr=\"{}\" addrtype=\"mac\"/>",
            format_mac(mac)
        );
    }
    out.push_str("<hostnames>\n");
    if let Some(name) = &host.hostname {
        let _ = writeln!(out, "<hostname name=\"{}\" type=\"user\"/>", escape(name));
    }
    if let Some(name) = &host.ptr_name {
        let _ = writeln!(out, "<hostname name=\"{}\" type=\"PTR\"/>", escape(name));
    }
    out.push_str("</hostnames>\n");
    write_ports(out, host, opts, services);
    if let Some(os) = &host.os {
        super::os::xml(out, os);
    }
    script_group(out, "hostscript", &host.scripts);
    if opts.synack_signatures {
        synack_group(out, host);
    }
    if let Some(os) = &host.os {
        super::os::port_stacks_xml(out, os);
    }
    if let Some(trace) = &host.trace {
        super::trace::xml(out, trace);
    }
    if let Some(latency) = host.latency {
        let micros = latency.as_micros();
        let _ = writeln!(
            out,
            "<times srtt=\"{micros}\" rttvar=\"{}\" to=\"{}\"/>",
            micros / 2,
            (micros * 3).max(100_000)
        );
    }
    out.push_str("</host>\n");
}

/// The post-scan scripts, the run's statistics and the end of the document.
fn closing(result: &ScanResult) -> String {
    let mut out = String::new();
    script_group(&mut out, "postscript", &result.postscripts);
    let up = result.hosts_up();
    let total = result.addresses.max(result.hosts.len() as u64);
    let end = result.start_time() + result.elapsed;
    let _ = writeln!(
        out,
        "<runstats><finished time=\"{}\" timestr=\"{}\" summary=\"scanner done at {}; {}\" elapsed=\"{:.2}\" exit=\"success\"/><hosts up=\"{up}\" down=\"{}\" total=\"{total}\"/>\n</runstats>\n</nmaprun>",
        epoch_seconds(end),
        ctime(end),
        ctime(end),
        result.summary(),
        result.elapsed.as_secs_f64(),
        total.saturating_sub(up as u64)
    );
    out
}

/// The XML output as the scan goes: the header at the start, the pre-scan scripts
/// before the first host, each `<host>` once the host is finished (its end time
/// then), the rest at the end; the document grows host by host, as nmap's does.
pub struct XmlWriter {
    out: OutputFile,
    opts: OutputOptions,
    services: Arc<ServicesTable>,
    started: SystemTime,
    /// The pre-scan scripts' results, until they are written.
    prescripts: Option<Vec<ScriptOutput>>,
}

impl XmlWriter {
    pub fn new(out: OutputFile, opts: OutputOptions, services: Arc<ServicesTable>) -> Self {
        Self {
            out,
            opts,
            services,
            started: SystemTime::now(),
            prescripts: Some(Vec::new()),
        }
    }

    /// The `<prescript>` group, the first time only.
    fn prescript_group(&mut self) -> String {
        let mut out = String::new();
        if let Some(scripts) = self.prescripts.take() {
            script_group(&mut out, "prescript", &scripts);
        }
        out
    }
}

impl Writer for XmlWriter {
    fn start(&mut self, scan: &ScanResult) -> Result<()> {
        self.started = scan.start_time();
        self.out.write_text(&header(scan))
    }

    fn script(&mut self, subject: ScriptSubject, output: &ScriptOutput) -> Result<()> {
        if let (ScriptSubject::PreScan, Some(scripts)) = (subject, &mut self.prescripts) {
            scripts.push(output.clone());
        }
        Ok(())
    }

    fn host(&mut self, addr: Ipv4Addr, host: &HostResult) -> Result<()> {
        let mut text = self.prescript_group();
        let times = (self.started, SystemTime::now());
        host_element(&mut text, (addr, host), self.opts, &self.services, times);
        self.out.write_text(&text)
    }

    fn finish(&mut self, scan: &ScanResult) -> Result<()> {
        let mut text = self.prescript_group();
        text.push_str(&closing(scan));
        self.out.write_text(&text)
    }
}

/// `<element>` holding a `<script>` for each of `scripts` (nothing when none).
fn script_group(out: &mut String, element: &str, scripts: &[ScriptOutput]) {
    if scripts.is_empty() {
        return;
    }
    let _ = write!(out, "<{element}>");
    for script in scripts {
        out.push_str(&script_element(script));
    }
    let _ = writeln!(out, "</{element}>");
}

fn write_ports(out: &mut String, host: &HostResult, opts: OutputOptions, services: &ServicesTable) {
    out.push_str("<ports>");
    let folded = folded_states(host);
    for state in &folded {
        let ports: Vec<_> = host.ports.values().filter(|p| p.state == *state).collect();
        let _ = writeln!(
            out,
            "<extraports state=\"{}\" count=\"{}\">",
            state.as_str(),
            ports.len()
        );
        let mut reasons: Vec<(&str, Proto)> =
            ports.iter().map(|p| (p.reason.as_str(), p.proto)).collect();
        reasons.sort_unstable();
        reasons.dedup();
        for (reason, proto) in reasons {
            let with_reason: Vec<u16> = ports
                .iter()
                .filter(|p| p.reason.as_str() == reason && p.proto == proto)
                .map(|p| p.port)
                .collect();
            let _ = writeln!(
                out,
                "<extrareasons reason=\"{reason}\" count=\"{}\" proto=\"{proto}\" ports=\"{}\"/>",
                with_reason.len(),
                compress_ranges(with_reason.iter().copied())
            );
        }
        out.push_str("</extraports>\n");
    }
    for port in host.ports.values().filter(|p| !folded.contains(&p.state)) {
        if !opts.lists_port(port) {
            continue;
        }
        let service = port.service.clone().unwrap_or_else(|| {
            ServiceInfo::table_guess(services.name(port.port, port.proto.as_str()))
        });
        let _ = writeln!(
            out,
            "<port protocol=\"{}\" portid=\"{}\"><state state=\"{}\" reason=\"{}\" reason_ttl=\"{}\"/>{}{}</port>",
            port.proto,
            port.port,
            port.state.as_str(),
            port.reason.as_str(),
            port.ttl.unwrap_or(0),
            service_element(&service),
            port.scripts.iter().map(script_element).collect::<String>()
        );
    }
    out.push_str("</ports>\n");
}

/// nmap's `<script>` element: the text as `output`, a returned table as `<elem>`s
/// and `<table>`s.
fn script_element(script: &ScriptOutput) -> String {
    fn entries(out: &mut String, items: &[(Option<String>, ScriptValue)]) {
        for (key, value) in items {
            let key = key
                .as_ref()
                .map(|k| format!(" key=\"{}\"", escape(k)))
                .unwrap_or_default();
            match value {
                ScriptValue::Text(text) => {
                    let _ = write!(out, "<elem{key}>{}</elem>", escape(text));
                }
                ScriptValue::Table(inner) => {
                    let _ = write!(out, "<table{key}>");
                    entries(out, inner);
                    out.push_str("</table>");
                }
            }
        }
    }
    let mut out = format!(
        "<script id=\"{}\" output=\"{}\">",
        escape(&script.id),
        // Line breaks kept as character references (a raw one reads as a space).
        escape(&script.output).replace('\n', "&#xa;")
    );
    entries(&mut out, script.table.as_deref().unwrap_or_default());
    out.push_str("</script>");
    out
}

/// nmap's `<service>` element, with its `<cpe>`s.
fn service_element(service: &ServiceInfo) -> String {
    let v = &service.version;
    let mut element = format!("<service name=\"{}\"", escape(&service.name));
    for (attribute, value) in [
        ("product", v.product.as_deref()),
        ("version", v.version.as_deref()),
        ("extrainfo", v.info.as_deref()),
        ("hostname", v.hostname.as_deref()),
        ("ostype", v.ostype.as_deref()),
        ("devicetype", v.devicetype.as_deref()),
        ("tunnel", service.tunnel),
    ] {
        if let Some(value) = value {
            let _ = write!(element, " {attribute}=\"{}\"", escape(value));
        }
    }
    let _ = write!(
        element,
        " method=\"{}\" conf=\"{}\"",
        service.method, service.conf
    );
    if v.cpes.is_empty() {
        element.push_str("/>");
    } else {
        element.push('>');
        for cpe in &v.cpes {
            let _ = write!(element, "<cpe>{}</cpe>", escape(cpe));
        }
        element.push_str("</service>");
    }
    element
}

/// The open ports' SYN+ACK signatures (`--synack-signatures`): an element of this
/// scanner's, outside nmap's DTD (nmap has nothing of the kind), asked for by name.
fn synack_group(out: &mut String, host: &HostResult) {
    let prints: Vec<_> = host
        .ports
        .values()
        .filter_map(|p| Some((p, p.synack.as_ref()?)))
        .collect();
    if prints.is_empty() {
        return;
    }
    out.push_str("<synacks>\n");
    for (port, print) in prints {
        let _ = write!(
            out,
            "<synack protocol=\"{}\" portid=\"{}\" signature=\"{}\"",
            port.proto,
            port.port,
            escape(&print.signature)
        );
        if let Some(matched) = &print.matched {
            let _ = write!(
                out,
                " os=\"{}\" generic=\"{}\" fuzzy=\"{}\"",
                escape(&matched.os),
                matched.generic,
                matched.fuzzy
            );
            if let Some(class) = &matched.class {
                let _ = write!(out, " class=\"{}\"", escape(class));
            }
            if let Some(distance) = matched.distance {
                let _ = write!(out, " distance=\"{distance}\"");
            }
        }
        out.push_str("/>\n");
    }
    out.push_str("</synacks>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScanInfo;
    use crate::report::record_sample_ports;

    #[test]
    fn escapes_attribute_text() {
        assert_eq!(
            escape(r#"-p "1<2" & 'x'"#),
            "-p &quot;1&lt;2&quot; &amp; &apos;x&apos;"
        );
        assert_eq!(escape("a\u{1}b"), "ab");
    }

    #[test]
    fn the_writer_grows_the_document_host_by_host() {
        let path = std::env::temp_dir().join(format!("scanner-xml-{}", std::process::id()));
        let out = OutputFile::create(path.to_str().unwrap(), "XML").unwrap();
        let table = Arc::new(ServicesTable::built_in().unwrap());
        let mut writer = XmlWriter::new(out, OutputOptions::default(), table.clone());
        let mut result = ScanResult {
            args: "scanner -sS -p 1-30 x".into(),
            addresses: 1,
            started: Some(SystemTime::now()),
            ..Default::default()
        };
        let addr = Ipv4Addr::new(198, 18, 0, 10);
        record_sample_ports(&mut result, addr, 64);
        writer.start(&result).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .ends_with("<debugging level=\"0\"/>\n"));
        writer.host(addr, &result.hosts[&addr]).unwrap();
        let so_far = std::fs::read_to_string(&path).unwrap();
        assert!(so_far.ends_with("</host>\n"), "{so_far}");
        writer.finish(&result).unwrap();
        // The whole document, as at the end, but for the host's end time.
        let whole = std::fs::read_to_string(&path).unwrap();
        let endtime = |xml: &str| xml.split("endtime=\"").nth(1).map(|t| t[..10].to_string());
        let rendered = render(&result, OutputOptions::default(), &table);
        let rendered = rendered.replace(&endtime(&rendered).unwrap(), &endtime(&whole).unwrap());
        assert_eq!(whole, rendered);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn writes_nmaps_structure() {
        let mut result = ScanResult {
            scans: vec![ScanInfo {
                kind: "syn",
                protocol: Proto::Tcp,
                ports: (1..=30).collect(),
            }],
            args: "scanner -sS -p 1-30 x".into(),
            addresses: 1,
            ..Default::default()
        };
        let addr = Ipv4Addr::new(198, 18, 0, 10);
        record_sample_ports(&mut result, addr, 64);
        result.hosts.get_mut(&addr).unwrap().mac = Some([2, 0, 0, 0, 0, 1]);
        let table = ServicesTable::built_in().unwrap();
        let xml = render(&result, OutputOptions::default(), &table);
        assert!(
            xml.contains(
                r#"<scaninfo type="syn" protocol="tcp" numservices="30" services="1-30"/>"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<extraports state="closed" count="29">"#),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<extrareasons reason="reset" count="29" proto="tcp" ports="1-21,23-30"/>"#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="ssh" method="table" conf="3"/></port>"#), "{xml}");
        assert!(
            xml.contains(r#"<address addr="02:00:00:00:00:01" addrtype="mac"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<hosts up="1" down="0" total="1"/>"#),
            "{xml}"
        );
    }
}
