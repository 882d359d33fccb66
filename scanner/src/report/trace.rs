//! The traceroute sections of the writers (`--traceroute`), as nmap writes them: the
//! normal output's TRACEROUTE table (shared leading hops folded into "Hops 1-N are the
//! same as for ...", runs of silent hops into "..."), the XML `<trace>` element, and
//! the JSON line of a host's trace.

use super::xml::escape;
use crate::model::trace::{timeout_runs, Hop, Trace};
use std::fmt::Write;
use std::net::Ipv4Addr;

/// The TRACEROUTE table, then a blank line.
pub fn normal(out: &mut String, trace: &Trace) {
    match trace.probe {
        Some(probe) => match probe.port() {
            Some(port) => {
                let _ = writeln!(out, "TRACEROUTE (using port {port}/{})", probe.proto());
            }
            None => {
                let _ = writeln!(out, "TRACEROUTE (using proto 1/{})", probe.proto());
            }
        },
        None => out.push_str("TRACEROUTE\n"),
    }
    // Rows of (HOP, RTT, ADDRESS); a folded row's text spans the RTT and ADDRESS columns
    // and does not widen them.
    let mut rows: Vec<[String; 3]> = vec![["HOP".into(), "RTT".into(), "ADDRESS".into()]];
    let mut folded = None;
    let mut hops: &[Hop] = &trace.hops;
    if let Some(shared) = trace.shared {
        let text = if shared.last_ttl == 1 {
            format!("Hop 1 is the same as for {}", shared.with)
        } else {
            format!(
                "Hops 1-{} are the same as for {}",
                shared.last_ttl, shared.with
            )
        };
        folded = Some(text);
        let first = hops
            .iter()
            .position(|h| h.ttl > shared.last_ttl)
            .unwrap_or(hops.len());
        hops = &hops[first..];
    }
    let runs = timeout_runs(hops);
    for hop in hops {
        match hop.addr {
            Some(addr) => {
                let rtt = hop
                    .rtt_ms
                    .map_or("--".to_string(), |ms| format!("{ms:.2} ms"));
                rows.push([hop.ttl.to_string(), rtt, display_name(hop, addr)]);
            }
            None => {
                // One row per run of silent hops, at its first.
                if let Some(&(first, last)) = runs.iter().find(|(first, _)| *first == hop.ttl) {
                    let rtt = if first == last {
                        "...".to_string()
                    } else {
                        format!("... {last}")
                    };
                    rows.push([first.to_string(), rtt, String::new()]);
                }
            }
        }
    }
    let hop_width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(1);
    let rtt_width = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    for (i, row) in rows.iter().enumerate() {
        let line = format!("{:<hop_width$} {:<rtt_width$} {}", row[0], row[1], row[2]);
        let _ = writeln!(out, "{}", line.trim_end());
        if i == 0 {
            if let Some(text) = &folded {
                let _ = writeln!(out, "{:<hop_width$} {text}", "-");
            }
        }
    }
    out.push('\n');
}

/// How nmap names a hop: "name (address)", or the address alone.
fn display_name(hop: &Hop, addr: Ipv4Addr) -> String {
    match &hop.host {
        Some(name) => format!("{name} ({addr})"),
        None => addr.to_string(),
    }
}

/// The `<trace>` element: one `<hop>` per hop that answered (nmap's DTD).
pub fn xml(out: &mut String, trace: &Trace) {
    out.push_str("<trace");
    if let Some(probe) = trace.probe {
        if let Some(port) = probe.port() {
            let _ = write!(out, " port=\"{port}\"");
        }
        let _ = write!(out, " proto=\"{}\"", probe.proto());
    }
    out.push_str(">\n");
    for hop in &trace.hops {
        let Some(addr) = hop.addr else {
            continue;
        };
        let _ = write!(out, "<hop ttl=\"{}\" ipaddr=\"{addr}\"", hop.ttl);
        match hop.rtt_ms {
            Some(ms) => {
                let _ = write!(out, " rtt=\"{ms:.2}\"");
            }
            None => out.push_str(" rtt=\"--\""),
        }
        if let Some(name) = &hop.host {
            let _ = write!(out, " host=\"{}\"", escape(name));
        }
        out.push_str("/>\n");
    }
    out.push_str("</trace>\n");
}

/// The JSON line of `addr`'s trace: `{"addr": ..., "trace": {...}}`.
pub fn json(
    addr: Ipv4Addr,
    trace: &Trace,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut object = serde_json::Map::new();
    object.insert("addr".into(), addr.to_string().into());
    object.insert("trace".into(), serde_json::to_value(trace)?);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceroute::{SharedHops, TraceProbe};

    const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const FAR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 10);
    const FAR2: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 11);

    fn hop(ttl: u8, addr: Option<Ipv4Addr>, rtt_ms: f64, host: Option<&str>) -> Hop {
        Hop {
            ttl,
            addr,
            rtt_ms: addr.map(|_| rtt_ms),
            host: host.map(str::to_string),
        }
    }

    fn far_trace() -> Trace {
        Trace {
            probe: Some(TraceProbe::Tcp { port: 80 }),
            hops: vec![
                hop(1, Some(ROUTER), 0.05, Some("router")),
                hop(2, Some(FAR), 0.1, None),
            ],
            shared: None,
        }
    }

    #[test]
    fn the_normal_table_is_nmaps() {
        let mut out = String::new();
        normal(&mut out, &far_trace());
        assert_eq!(
            out,
            "TRACEROUTE (using port 80/tcp)\n\
             HOP RTT     ADDRESS\n\
             1   0.05 ms router (198.18.0.2)\n\
             2   0.10 ms 198.18.1.10\n\n"
        );
    }

    #[test]
    fn shared_hops_and_silent_ones_are_folded() {
        let trace = Trace {
            probe: Some(TraceProbe::Icmp),
            hops: vec![
                hop(1, Some(ROUTER), 0.05, None),
                hop(2, None, 0.0, None),
                hop(3, None, 0.0, None),
                hop(4, None, 0.0, None),
                hop(5, Some(FAR2), 1.5, None),
            ],
            shared: Some(SharedHops {
                last_ttl: 1,
                with: FAR,
            }),
        };
        let mut out = String::new();
        normal(&mut out, &trace);
        assert_eq!(
            out,
            "TRACEROUTE (using proto 1/icmp)\n\
             HOP RTT     ADDRESS\n\
             -   Hop 1 is the same as for 198.18.1.10\n\
             2   ... 4\n\
             5   1.50 ms 198.18.1.11\n\n"
        );
        let two = Trace {
            shared: Some(SharedHops {
                last_ttl: 2,
                with: FAR,
            }),
            ..trace
        };
        let mut out = String::new();
        normal(&mut out, &two);
        assert!(out.contains("-   Hops 1-2 are the same as for 198.18.1.10\n3   ... 4\n"));
    }

    #[test]
    fn an_on_link_host_has_a_bare_heading() {
        let trace =
            crate::traceroute::direct(FAR, Some(std::time::Duration::from_micros(120)), None);
        let mut out = String::new();
        normal(&mut out, &trace);
        assert_eq!(
            out,
            "TRACEROUTE\nHOP RTT     ADDRESS\n1   0.12 ms 198.18.1.10\n\n"
        );
        let mut xml_out = String::new();
        xml(&mut xml_out, &trace);
        assert_eq!(
            xml_out,
            "<trace>\n<hop ttl=\"1\" ipaddr=\"198.18.1.10\" rtt=\"0.12\"/>\n</trace>\n"
        );
    }

    #[test]
    fn the_xml_element_is_nmaps() {
        let mut out = String::new();
        xml(&mut out, &far_trace());
        assert_eq!(
            out,
            "<trace port=\"80\" proto=\"tcp\">\n\
             <hop ttl=\"1\" ipaddr=\"198.18.0.2\" rtt=\"0.05\" host=\"router\"/>\n\
             <hop ttl=\"2\" ipaddr=\"198.18.1.10\" rtt=\"0.10\"/>\n\
             </trace>\n"
        );
    }

    #[test]
    fn the_json_line_carries_every_hop() {
        let value = serde_json::Value::Object(json(FAR, &far_trace()).unwrap());
        assert_eq!(value["addr"], "198.18.1.10");
        assert_eq!(value["trace"]["probe"]["proto"], "tcp");
        assert_eq!(value["trace"]["probe"]["port"], 80);
        assert_eq!(value["trace"]["hops"][0]["addr"], "198.18.0.2");
        assert_eq!(value["trace"]["hops"][0]["host"], "router");
        assert_eq!(value["trace"]["hops"][1]["ttl"], 2);
    }
}
