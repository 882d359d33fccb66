//! nmap's XML output (`-oX`), shaped to validate against nmap's DTD, so that ndiff and
//! the other tools that read nmap XML read ours. The root element says
//! `scanner="nmap"` because the DTD allows no other value; the `version` attribute
//! and the opening comment say which program wrote it.

use super::{
    compress_ranges, ctime, epoch_seconds, folded_states, format_mac, HostResult, OutputOptions,
    ScanResult,
};
use crate::script::output::{ScriptOutput, ScriptValue};
use crate::service::ServiceInfo;
use std::fmt::Write;

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

pub fn render(result: &ScanResult, opts: OutputOptions) -> String {
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
            scan.port_ranges()
        );
    }
    out.push_str("<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n");
    let (start_secs, end_secs) = (epoch_seconds(start), epoch_seconds(start + result.elapsed));
    script_group(&mut out, "prescript", &result.prescripts);
    for (addr, host) in &result.hosts {
        if !opts.shows_host(host) {
            continue;
        }
        let _ = write!(
            out,
            "<host starttime=\"{start_secs}\" endtime=\"{end_secs}\"><status state=\"{}\" reason=\"{}\" reason_ttl=\"0\"/>\n<address addr=\"{addr}\" addrtype=\"ipv4\"/>\n",
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
        write_ports(&mut out, host, opts);
        script_group(&mut out, "hostscript", &host.scripts);
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
    script_group(&mut out, "postscript", &result.postscripts);
    let up = result.hosts_up();
    let total = result.addresses.max(result.hosts.len() as u64);
    let end = start + result.elapsed;
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

fn write_ports(out: &mut String, host: &HostResult, opts: OutputOptions) {
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
        let mut reasons: Vec<(&str, &str)> =
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
        let service = port
            .service
            .clone()
            .unwrap_or_else(|| ServiceInfo::from_table(port.port, port.proto));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{record_sample_ports, ScanInfo};
    use std::net::Ipv4Addr;

    #[test]
    fn escapes_attribute_text() {
        assert_eq!(
            escape(r#"-p "1<2" & 'x'"#),
            "-p &quot;1&lt;2&quot; &amp; &apos;x&apos;"
        );
        assert_eq!(escape("a\u{1}b"), "ab");
    }

    #[test]
    fn writes_nmaps_structure() {
        let mut result = ScanResult {
            scans: vec![ScanInfo {
                kind: "syn",
                protocol: "tcp",
                ports: (1..=30).collect(),
            }],
            args: "scanner -sS -p 1-30 x".into(),
            addresses: 1,
            ..Default::default()
        };
        let addr = Ipv4Addr::new(198, 18, 0, 10);
        record_sample_ports(&mut result, addr, 64);
        result.hosts.get_mut(&addr).unwrap().mac = Some([2, 0, 0, 0, 0, 1]);
        let xml = render(&result, OutputOptions::default());
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
