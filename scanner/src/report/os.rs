//! The OS-detection sections of the writers (`-O`), as nmap writes them: the normal
//! output's Device type / Running / OS CPE / OS details lines (or the guesses, or "No
//! exact OS matches" with the fingerprint to submit), Network Distance and, with `-v`,
//! the uptime guess and the sequence lines; the XML `<os>` element with `<portused>`,
//! `<osmatch>`/`<osclass>`/`<cpe>` and `<osfingerprint>`, then `<distance>`, `<uptime>`,
//! `<tcpsequence>`, `<ipidsequence>` and `<tcptssequence>` (nmap's DTD); and the JSON
//! line of a host's OS.

use super::xml::escape;
use crate::model::os::{HostOs, OsMatch, OsVerdict};
use crate::model::SynAckMatch;
use crate::text::ctime;
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

/// Characters of fingerprint per `OS:` line, as nmap wraps it.
const WRAP: usize = 72;

/// The fingerprint as nmap prints it for submission: `OS:`-prefixed lines of 72.
pub fn wrapped_fingerprint(fingerprint: &str) -> Vec<String> {
    let flat: String = fingerprint.lines().collect();
    flat.as_bytes()
        .chunks(WRAP)
        .map(|chunk| format!("OS:{}", String::from_utf8_lossy(chunk)))
        .collect()
}

/// The normal output's OS lines; `guess` is `--osscan-guess`, `verbose` `-v`.
pub fn normal(out: &mut String, os: &HostOs, guess: bool, verbose: bool) {
    let detection = &os.detection;
    match detection.verdict() {
        OsVerdict::Details(matches) => {
            classification(out, matches, false);
            let names: Vec<&str> = matches.iter().map(|m| m.name.as_str()).collect();
            let _ = writeln!(out, "OS details: {}", names.join(", "));
        }
        OsVerdict::Guesses(matches) => {
            if guess {
                classification(out, matches, true);
                let guesses: Vec<String> = matches
                    .iter()
                    .map(|m| format!("{} ({}%)", m.name, m.percent()))
                    .collect();
                let _ = writeln!(out, "Aggressive OS guesses: {}", guesses.join(", "));
            }
            no_exact_match(out, os);
        }
        OsVerdict::NoMatch => {
            out.push_str("No OS matches for host\n");
            fingerprint_lines(out, os);
        }
        OsVerdict::TooManyPerfect => {
            out.push_str("Too many fingerprints match this host to give specific OS details\n");
        }
    }
    for odd in &os.odd_ports {
        let _ = writeln!(
            out,
            "Port {}/tcp is answered by another stack than the host's: {}; likely {}",
            odd.port,
            odd.differs.join(", "),
            odd.likely
        );
    }
    port_stacks_normal(out, os);
    if verbose {
        if let Some(uptime) = &os.uptime {
            let boot = SystemTime::UNIX_EPOCH + Duration::from_secs(uptime.last_boot);
            let _ = writeln!(
                out,
                "Uptime guess: {:.3} days (since {})",
                uptime.seconds as f64 / 86400.0,
                ctime(boot)
            );
        }
    }
    if let Some(distance) = os.distance {
        let _ = writeln!(
            out,
            "Network Distance: {distance} hop{}",
            if distance == 1 { "" } else { "s" }
        );
    }
    if verbose {
        if let Some(sequence) = &os.tcp_sequence {
            let _ = writeln!(
                out,
                "TCP Sequence Prediction: Difficulty={} ({})",
                sequence.index, sequence.difficulty
            );
        }
        if let Some(sequence) = &os.ip_id_sequence {
            let _ = writeln!(out, "IP ID Sequence Generation: {}", sequence.class);
        }
    }
}

/// "No exact OS matches", and the fingerprint to submit.
fn no_exact_match(out: &mut String, os: &HostOs) {
    out.push_str("No exact OS matches for host (If you know what OS is running on it, see https://nmap.org/submit/ ).\n");
    fingerprint_lines(out, os);
}

fn fingerprint_lines(out: &mut String, os: &HostOs) {
    out.push_str("TCP/IP fingerprint:\n");
    for line in wrapped_fingerprint(&os.fingerprint) {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
}

/// Device type, Running and OS CPE, from the classes of `matches` (with each
/// family's best accuracy when guessing).
fn classification(out: &mut String, matches: &[OsMatch], guessing: bool) {
    let mut types: Vec<&str> = Vec::new();
    // (vendor family, generations, best accuracy), in order of first appearance.
    let mut running: Vec<(String, Vec<&str>, u8)> = Vec::new();
    let mut cpes: Vec<&str> = Vec::new();
    for m in matches {
        for class in &m.classes {
            if !types.contains(&class.device_type.as_str()) {
                types.push(&class.device_type);
            }
            let family = if class.vendor == class.family {
                class.vendor.clone()
            } else {
                format!("{} {}", class.vendor, class.family)
            };
            let at = match running.iter().position(|(f, _, _)| *f == family) {
                Some(at) => at,
                None => {
                    running.push((family, Vec::new(), 0));
                    running.len() - 1
                }
            };
            let entry = &mut running[at];
            if let Some(generation) = class.generation.as_deref() {
                if !entry.1.contains(&generation) {
                    entry.1.push(generation);
                }
            }
            entry.2 = entry.2.max(m.percent());
            for cpe in &class.cpes {
                if !cpes.contains(&cpe.as_str()) {
                    cpes.push(cpe);
                }
            }
        }
    }
    let _ = writeln!(out, "Device type: {}", types.join("|"));
    let running: Vec<String> = running
        .into_iter()
        .map(|(family, generations, percent)| {
            let mut text = family;
            if !generations.is_empty() {
                text = format!("{text} {}", generations.join("|"));
            }
            if guessing {
                text = format!("{text} ({percent}%)");
            }
            text
        })
        .collect();
    let label = if guessing {
        "Running (JUST GUESSING)"
    } else {
        "Running"
    };
    let _ = writeln!(out, "{label}: {}", running.join(", "));
    if !cpes.is_empty() {
        let _ = writeln!(out, "OS CPE: {}", cpes.join(" "));
    }
}

/// Every port's own fingerprint (`--osscan-per-port`), as a table.
fn port_stacks_normal(out: &mut String, os: &HostOs) {
    let rows: Vec<_> = os
        .port_stacks
        .iter()
        .map(|p| {
            (
                format!("{}/tcp", p.port),
                p.signature.as_str(),
                p.matched.as_ref(),
            )
        })
        .collect();
    signature_table(
        out,
        "OS of each port (p0f v3 signature of its SYN+ACK):",
        &rows,
    );
}

/// A table of ports, their SYN+ACK signatures and what each matched (`?` for
/// nothing) under `title`; nothing without rows. The passive signatures' section and
/// the OS of each port are written with it.
pub(super) fn signature_table(
    out: &mut String,
    title: &str,
    rows: &[(String, &str, Option<&SynAckMatch>)],
) {
    if rows.is_empty() {
        return;
    }
    let port_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
    let signature_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(9);
    let _ = writeln!(out, "{title}");
    let _ = writeln!(
        out,
        "{:<port_width$}  {:<signature_width$}  MATCH",
        "PORT", "SIGNATURE"
    );
    for (port, signature, matched) in rows {
        let matched = matched.map_or_else(|| "?".to_string(), SynAckMatch::text);
        let _ = writeln!(
            out,
            "{port:<port_width$}  {signature:<signature_width$}  {matched}"
        );
    }
}

/// Every port's own fingerprint (`--osscan-per-port`): a `<portstacks>` element of
/// this scanner's, outside nmap's DTD (nmap has nothing of the kind), after nmap's
/// host elements; each port another stack answers says what differs and why.
pub fn port_stacks_xml(out: &mut String, os: &HostOs) {
    if os.port_stacks.is_empty() {
        return;
    }
    out.push_str("<portstacks>\n");
    for stack in &os.port_stacks {
        let _ = write!(
            out,
            "<portstack protocol=\"tcp\" portid=\"{}\" signature=\"{}\"",
            stack.port,
            escape(&stack.signature)
        );
        if let Some(matched) = &stack.matched {
            let _ = write!(out, " os=\"{}\"", escape(&matched.text()));
        }
        if let Some(odd) = os.odd_ports.iter().find(|odd| odd.port == stack.port) {
            let _ = write!(
                out,
                " differs=\"{}\" likely=\"{}\"",
                escape(&odd.differs.join(", ")),
                escape(&odd.likely)
            );
        }
        out.push_str("/>\n");
    }
    out.push_str("</portstacks>\n");
}

/// The `<os>` element and the host-level elements after it.
pub fn xml(out: &mut String, os: &HostOs) {
    let used = os.ports_used;
    out.push_str("<os>");
    let _ = writeln!(
        out,
        "<portused state=\"open\" proto=\"tcp\" portid=\"{}\"/>",
        used.open_tcp
    );
    let _ = writeln!(
        out,
        "<portused state=\"closed\" proto=\"tcp\" portid=\"{}\"/>",
        used.closed_tcp
    );
    let _ = writeln!(
        out,
        "<portused state=\"closed\" proto=\"udp\" portid=\"{}\"/>",
        used.closed_udp
    );
    for m in &os.detection.matches {
        let _ = writeln!(
            out,
            "<osmatch name=\"{}\" accuracy=\"{}\" line=\"{}\">",
            escape(&m.name),
            m.percent(),
            m.line
        );
        for class in &m.classes {
            let _ = write!(
                out,
                "<osclass type=\"{}\" vendor=\"{}\" osfamily=\"{}\"",
                escape(&class.device_type),
                escape(&class.vendor),
                escape(&class.family)
            );
            if let Some(generation) = &class.generation {
                let _ = write!(out, " osgen=\"{}\"", escape(generation));
            }
            let _ = write!(out, " accuracy=\"{}\">", m.percent());
            for cpe in &class.cpes {
                let _ = write!(out, "<cpe>{}</cpe>", escape(cpe));
            }
            out.push_str("</osclass>\n");
        }
        out.push_str("</osmatch>\n");
    }
    let fingerprint = wrapped_fingerprint(&os.fingerprint).join("\n");
    let _ = writeln!(
        out,
        "<osfingerprint fingerprint=\"{}\"/>",
        escape(&fingerprint).replace('\n', "&#xa;")
    );
    out.push_str("</os>\n");
    if let Some(uptime) = &os.uptime {
        let boot = SystemTime::UNIX_EPOCH + Duration::from_secs(uptime.last_boot);
        let _ = writeln!(
            out,
            "<uptime seconds=\"{}\" lastboot=\"{}\"/>",
            uptime.seconds,
            ctime(boot)
        );
    }
    if let Some(distance) = os.distance {
        let _ = writeln!(out, "<distance value=\"{distance}\"/>");
    }
    let hex = |values: &[u32]| {
        let words: Vec<String> = values.iter().map(|v| format!("{v:X}")).collect();
        words.join(",")
    };
    if let Some(sequence) = &os.tcp_sequence {
        let _ = writeln!(
            out,
            "<tcpsequence index=\"{}\" difficulty=\"{}\" values=\"{}\"/>",
            sequence.index,
            escape(sequence.difficulty),
            hex(&sequence.values)
        );
    }
    if let Some(sequence) = &os.ip_id_sequence {
        let _ = writeln!(
            out,
            "<ipidsequence class=\"{}\" values=\"{}\"/>",
            escape(sequence.class),
            hex(&sequence.values)
        );
    }
    if let Some(sequence) = &os.timestamp_sequence {
        let _ = writeln!(
            out,
            "<tcptssequence class=\"{}\" values=\"{}\"/>",
            escape(sequence.class),
            hex(&sequence.values)
        );
    }
}

/// A host's OS as a JSON line.
pub fn json(
    addr: Ipv4Addr,
    os: &HostOs,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut object = serde_json::Map::new();
    object.insert("addr".into(), addr.to_string().into());
    object.insert("os".into(), serde_json::to_value(os)?);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::os::{OsClass, OsDetection, PortsUsed, Sequence, TcpSequence};

    fn linux(name: &str, accuracy: f64, generation: &str) -> OsMatch {
        OsMatch {
            name: name.into(),
            accuracy,
            line: 7,
            classes: vec![OsClass {
                vendor: "Linux".into(),
                family: "Linux".into(),
                generation: Some(generation.into()),
                device_type: "general purpose".into(),
                cpes: vec![format!("cpe:/o:linux:linux_kernel:{}", &generation[..1])],
            }],
        }
    }

    fn host(matches: Vec<OsMatch>) -> HostOs {
        HostOs {
            ports_used: PortsUsed {
                open_tcp: 22,
                closed_tcp: 1,
                closed_udp: 43389,
            },
            detection: OsDetection {
                matches,
                too_many_perfect: false,
            },
            fingerprint: "SEQ(SP=100%GCD=1)\nIE(R=Y%DFI=N%T=40%CD=S)\n".into(),
            distance: Some(1),
            uptime: None,
            tcp_sequence: Some(TcpSequence::new(261, vec![0xE94F151C, 0x9227EFB7])),
            ip_id_sequence: Some(Sequence {
                class: "All zeros",
                values: vec![0, 0],
            }),
            timestamp_sequence: None,
            odd_ports: Vec::new(),
            port_stacks: Vec::new(),
        }
    }

    #[test]
    fn perfect_matches_are_os_details() {
        let mut out = String::new();
        let os = host(vec![linux("Linux 5.0 - 5.4", 1.0, "5.X")]);
        normal(&mut out, &os, false, true);
        assert_eq!(
            out,
            "Device type: general purpose\nRunning: Linux 5.X\nOS CPE: cpe:/o:linux:linux_kernel:5\nOS details: Linux 5.0 - 5.4\nNetwork Distance: 1 hop\nTCP Sequence Prediction: Difficulty=261 (Good luck!)\nIP ID Sequence Generation: All zeros\n"
        );
    }

    #[test]
    fn guesses_are_printed_only_when_asked_and_the_fingerprint_always() {
        let os = host(vec![
            linux("Linux 5.3 - 5.4", 0.96, "5.X"),
            linux("Linux 3.2", 0.95, "3.X"),
        ]);
        let mut out = String::new();
        normal(&mut out, &os, false, false);
        assert!(out.starts_with("No exact OS matches for host"), "{out}");
        assert!(out.contains("TCP/IP fingerprint:\nOS:SEQ(SP=100%GCD=1)IE(R=Y%DFI=N%T=40%CD=S)\n"));
        assert!(!out.contains("TCP Sequence"), "only with -v");
        let mut out = String::new();
        normal(&mut out, &os, true, false);
        assert!(
            out.contains("Running (JUST GUESSING): Linux 5.X|3.X (96%)\n"),
            "{out}"
        );
        assert!(out.contains("Aggressive OS guesses: Linux 5.3 - 5.4 (96%), Linux 3.2 (95%)\n"));
    }

    #[test]
    fn fingerprints_wrap_as_nmaps_at_72() {
        let print = "A".repeat(100);
        let lines = wrapped_fingerprint(&print);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 75);
        assert_eq!(lines[1], format!("OS:{}", "A".repeat(28)));
    }

    #[test]
    fn xml_has_nmaps_elements() {
        let os = host(vec![linux("Linux 5.3 - 5.4", 0.96, "5.X")]);
        let mut out = String::new();
        xml(&mut out, &os);
        assert!(out.starts_with("<os><portused state=\"open\" proto=\"tcp\" portid=\"22\"/>\n"));
        assert!(out.contains("<osmatch name=\"Linux 5.3 - 5.4\" accuracy=\"96\" line=\"7\">\n<osclass type=\"general purpose\" vendor=\"Linux\" osfamily=\"Linux\" osgen=\"5.X\" accuracy=\"96\"><cpe>cpe:/o:linux:linux_kernel:5</cpe></osclass>\n</osmatch>\n"));
        assert!(out.contains(
            "<tcpsequence index=\"261\" difficulty=\"Good luck!\" values=\"E94F151C,9227EFB7\"/>"
        ));
        assert!(out.contains("<distance value=\"1\"/>"));
    }
}
