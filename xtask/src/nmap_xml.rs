//! Reading nmap's XML (and the scanner's, which writes the same format): hosts, their
//! status, listed ports with their `<service>`, folded `<extraports>`, traceroute hops,
//! and the ports `<scaninfo>` says were scanned. Just enough for the tests and the
//! benchmarks to compare the two tools; not a general XML parser.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// One host of an nmap-format XML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NmapHost {
    pub addr: Ipv4Addr,
    /// The reason it is up (`arp-response`, ...), if its status is up.
    pub up_reason: Option<String>,
    /// `<extraports>`: (state, count).
    pub extra: Vec<(String, usize)>,
    /// Listed ports: (number, protocol, state).
    pub ports: Vec<(u16, String, String)>,
    /// The `<service>` of each listed port that has one: (number, protocol, service).
    pub services: Vec<(u16, String, ServiceFacts)>,
    /// The hops of its `<trace>` (traceroute), in order; empty without one.
    pub trace: Vec<Hop>,
}

/// What a `<service>` element says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceFacts {
    /// As the SERVICE column shows it: `ssl/http` for HTTP inside TLS.
    pub name: String,
    pub product: Option<String>,
    pub version: Option<String>,
    pub extrainfo: Option<String>,
    /// `probed` or `table`.
    pub method: String,
}

impl ServiceFacts {
    /// Whether this answer (the scanner's) is nmap's answer `nmaps`: the same name,
    /// product and version. nmap's version scripts (NSE, which its `-sV` runs) may
    /// append to a product after "; ".
    pub fn same_answer(&self, nmaps: &ServiceFacts) -> bool {
        let product = match (&self.product, &nmaps.product) {
            (Some(a), Some(b)) => b == a || b.starts_with(&format!("{a}; ")),
            (a, b) => a == b,
        };
        self.name == nmaps.name && self.version == nmaps.version && product
    }

    /// One line for a table: `ssl/http nginx 1.22.1`.
    pub fn summary(&self) -> String {
        [
            Some(self.name.as_str()),
            self.product.as_deref(),
            self.version.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    }
}

impl NmapHost {
    /// The service of `port`/`proto`, if the document names one.
    pub fn service(&self, port: u16, proto: &str) -> Option<&ServiceFacts> {
        self.services
            .iter()
            .find(|(p, pr, _)| *p == port && pr == proto)
            .map(|(_, _, facts)| facts)
    }
}

impl NmapHost {
    /// Every port state with its count, listed and folded together.
    pub fn state_counts(&self) -> impl Iterator<Item = (String, usize)> + '_ {
        self.extra
            .iter()
            .cloned()
            .chain(self.ports.iter().map(|(_, _, state)| (state.clone(), 1)))
    }

    /// The listed ports in `state`, ascending.
    pub fn ports_in(&self, state: &str) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .ports
            .iter()
            .filter(|(_, _, s)| s == state)
            .map(|(port, _, _)| *port)
            .collect();
        ports.sort_unstable();
        ports
    }
}

/// The value of attribute `name` in the text of a tag (after its name).
fn attr(tag: &str, name: &str) -> Option<String> {
    let tag = format!(" {tag}");
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(tag[start..].split('"').next()?.to_string())
}

/// A port's place in a scan: address, port number and protocol (`tcp`, `udp`).
pub type PortKey = (Ipv4Addr, u16, String);

/// The service named on each port of an nmap-format XML document.
pub fn services(xml: &str) -> Result<std::collections::BTreeMap<PortKey, ServiceFacts>> {
    let mut out = std::collections::BTreeMap::new();
    for host in hosts(xml)? {
        for (port, proto, facts) in host.services {
            out.insert((host.addr, port, proto), facts);
        }
    }
    Ok(out)
}

/// Walks the hosts of an nmap-format XML document.
pub fn hosts(xml: &str) -> Result<Vec<NmapHost>> {
    let mut hosts = Vec::new();
    for chunk in xml.split("</host>") {
        // The part of the chunk after its <host> tag (nmap puts <hosthint>s before it).
        let Some(start) = [chunk.rfind("<host "), chunk.rfind("<host>")]
            .into_iter()
            .flatten()
            .max()
        else {
            continue;
        };
        let host = &chunk[start..];
        let Some(addr_tag) = host.split("<address ").nth(1) else {
            continue;
        };
        let status = host.split("<status ").nth(1);
        let mut parsed = NmapHost {
            addr: attr(addr_tag, "addr")
                .context("address without addr")?
                .parse()?,
            up_reason: status
                .filter(|s| attr(s, "state").as_deref() == Some("up"))
                .map(|s| attr(s, "reason").unwrap_or_default()),
            extra: Vec::new(),
            ports: Vec::new(),
            services: Vec::new(),
            trace: Vec::new(),
        };
        if let Some(trace) = host.split("<trace").nth(1) {
            let trace = trace.split("</trace>").next().unwrap_or("");
            for hop in trace.split("<hop ").skip(1) {
                parsed.trace.push(Hop {
                    ttl: attr(hop, "ttl").context("hop without ttl")?.parse()?,
                    addr: attr(hop, "ipaddr").unwrap_or_default(),
                    host: attr(hop, "host"),
                });
            }
        }
        for extra in host.split("<extraports ").skip(1) {
            let count: usize = attr(extra, "count").context("extraports count")?.parse()?;
            parsed
                .extra
                .push((attr(extra, "state").context("extraports state")?, count));
        }
        for port in host.split("<port ").skip(1) {
            let number: u16 = attr(port, "portid").context("portid")?.parse()?;
            let proto = attr(port, "protocol").unwrap_or_else(|| "tcp".into());
            let state_tag = port.split("<state ").nth(1).context("port without state")?;
            if let Some(service) = port.split("<service ").nth(1) {
                let tunnel = attr(service, "tunnel");
                let name = attr(service, "name").unwrap_or_default();
                parsed.services.push((
                    number,
                    proto.clone(),
                    ServiceFacts {
                        name: match tunnel {
                            Some(tunnel) => format!("{tunnel}/{name}"),
                            None => name,
                        },
                        product: attr(service, "product"),
                        version: attr(service, "version"),
                        extrainfo: attr(service, "extrainfo"),
                        method: attr(service, "method").unwrap_or_default(),
                    },
                ));
            }
            parsed
                .ports
                .push((number, proto, attr(state_tag, "state").context("state")?));
        }
        hosts.push(parsed);
    }
    Ok(hosts)
}

/// One hop of a host's `<trace>`: its TTL, address and reverse-DNS name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub ttl: u8,
    pub addr: String,
    pub host: Option<String>,
}

/// The ports a report says it scanned: `<scaninfo>`'s `services` (`1-3,22`), if any.
pub fn scanned_ports(xml: &str) -> Option<String> {
    xml.split("<scaninfo ")
        .nth(1)
        .and_then(|tag| attr(tag.split('>').next()?, "services"))
}

/// The text an attribute value stands for: `&lt;`, `&gt;`, `&amp;`, `&quot;`, `&apos;`
/// and character references (nmap writes `-&#45;` for `--`, `&#xa;` for a new line)
/// replaced; an `&` that starts none of them is kept as it is.
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').and_then(|end| {
            let c = match &rest[1..end] {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                name => {
                    let code = match name.strip_prefix("#x") {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => name.strip_prefix('#')?.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end + 1))
        });
        let (c, len) = decoded.unwrap_or(('&', 1));
        out.push(c);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// Each port script's `output` attribute in an XML report (nmap's or ours), keyed
/// `"ADDR PORT/PROTO SCRIPT"`.
pub fn script_outputs(xml: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for host in xml.split("<host ").skip(1) {
        let addr = host
            .split("<address addr=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("");
        for port in host.split("<port protocol=\"").skip(1) {
            let proto = port.split('"').next().unwrap_or("");
            let number = port
                .split("portid=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("");
            let body = port.split("</port>").next().unwrap_or("");
            for script in body.split("<script id=\"").skip(1) {
                let id = script.split('"').next().unwrap_or("");
                let output = script
                    .split("output=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("");
                out.insert(format!("{addr} {number}/{proto} {id}"), output.to_string());
            }
        }
    }
    out
}

/// Where Debian's nmap keeps its OS database (given to the scanner with `--osdb` where
/// a bench or test compares OS matches with nmap's).
pub const NMAP_OS_DB: &str = "/usr/share/nmap/nmap-os-db";

/// A fingerprint's tests: test name → attribute → value (`SCAN` left out).
pub type OsTests = BTreeMap<String, BTreeMap<String, String>>;

/// Each host's best `<osmatch>` name (if any) and its `<osfingerprint>`'s tests, by
/// address, from an nmap-format XML report (the scanner's or nmap's with `-d`).
pub fn os_by_host(xml: &str) -> BTreeMap<String, (Option<String>, OsTests)> {
    let between = |text: &str, start: &str| -> Option<String> {
        let from = text.find(start)? + start.len();
        let len = text[from..].find('"')?;
        Some(text[from..from + len].to_string())
    };
    let mut found = BTreeMap::new();
    for host in xml.split("<host ").skip(1) {
        let Some(addr) = between(host, "<address addr=\"") else {
            continue;
        };
        let best = between(host, "<osmatch name=\"");
        let mut tests = OsTests::new();
        if let Some(print) = between(host, "<osfingerprint fingerprint=\"") {
            let flat: String = print
                .split("&#xa;")
                .map(|line| line.trim_start_matches("OS:"))
                .collect();
            for test in flat.split(')').filter(|t| !t.is_empty()) {
                let Some((name, attrs)) = test.split_once('(') else {
                    continue;
                };
                if name == "SCAN" {
                    continue;
                }
                let attrs = attrs
                    .split('%')
                    .filter_map(|a| a.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                tests.insert(name.to_string(), attrs);
            }
        }
        found.insert(addr, (best, tests));
    }
    found
}

/// Whether a test attribute's value depends on when the probes left (the rates of
/// the sequence numbers and timestamps, the GCD of the sequence differences).
pub fn os_value_depends_on_timing(test: &str, attr: &str) -> bool {
    test == "SEQ" && matches!(attr, "SP" | "ISR" | "TS" | "GCD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hosts_ports_and_status() {
        let xml = r#"<hosthint><status state="up" reason="arp-response"/><address addr="198.18.0.9" addrtype="ipv4"/></hosthint>
            <host starttime="1"><status state="up" reason="arp-response" reason_ttl="0"/><address addr="198.18.0.12" addrtype="ipv4"/>
            <ports><extraports state="closed" count="12"/>
            <port protocol="udp" portid="53"><state state="open" reason="udp-response" reason_ttl="64"/></port>
            <port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="http" product="nginx" version="1.22.1" tunnel="ssl" method="probed" conf="10"><cpe>cpe:/a:f5:nginx:1.22.1</cpe></service></port>
            </ports></host><host><status state="down" reason="no-response"/><address addr="198.18.0.99" addrtype="ipv4"/></host>"#;
        let hosts = hosts(xml).unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].addr, Ipv4Addr::new(198, 18, 0, 12));
        assert_eq!(hosts[0].up_reason.as_deref(), Some("arp-response"));
        assert_eq!(hosts[0].ports[0], (53, "udp".into(), "open".into()));
        assert_eq!(hosts[0].ports_in("open"), vec![22, 53]);
        assert_eq!(hosts[0].state_counts().map(|(_, n)| n).sum::<usize>(), 14);
        assert_eq!(hosts[1].up_reason, None);
        let https = hosts[0].service(22, "tcp").unwrap();
        assert_eq!(
            (
                https.name.as_str(),
                https.product.as_deref(),
                https.version.as_deref()
            ),
            ("ssl/http", Some("nginx"), Some("1.22.1"))
        );
        assert_eq!(hosts[0].service(53, "udp"), None);
    }

    #[test]
    fn reads_trace_hops_and_scanned_ports() {
        // As nmap 7.93 writes them (`-F --traceroute`), cut short.
        let xml = r#"<nmaprun><scaninfo type="syn" protocol="tcp" numservices="4" services="7,9,19-20"/>
            <host starttime="1"><status state="up" reason="echo-reply" reason_ttl="63"/><address addr="198.18.1.10" addrtype="ipv4"/>
            <ports><extraports state="closed" count="4"/></ports>
            <trace port="993" proto="tcp">
            <hop ttl="1" ipaddr="198.18.0.2" rtt="0.01" host="router.lab.test"/>
            <hop ttl="2" ipaddr="198.18.1.10" rtt="0.01"/>
            </trace>
            <times srtt="11" rttvar="3" to="100000"/></host>
            <host><status state="up" reason="arp-response"/><address addr="198.18.0.13" addrtype="ipv4"/></host></nmaprun>"#;
        let hosts = hosts(xml).unwrap();
        assert_eq!(
            hosts[0].trace,
            vec![
                Hop {
                    ttl: 1,
                    addr: "198.18.0.2".into(),
                    host: Some("router.lab.test".into())
                },
                Hop {
                    ttl: 2,
                    addr: "198.18.1.10".into(),
                    host: None
                }
            ]
        );
        assert!(hosts[1].trace.is_empty());
        assert_eq!(scanned_ports(xml).as_deref(), Some("7,9,19-20"));
        assert_eq!(scanned_ports("<nmaprun></nmaprun>"), None);
    }

    #[test]
    fn unescapes_entities_and_character_references() {
        assert_eq!(
            unescape("-rw-r-&#45;r-&#45; 1&#xa;&lt;a&gt; &amp;&quot;&apos;"),
            "-rw-r--r-- 1\n<a> &\"'"
        );
        for kept in [
            "a & b",
            "&;",
            "&#;",
            "&#x;",
            "&#xzz;",
            "&#1114112;",
            "&bogus;",
            "&",
        ] {
            assert_eq!(unescape(kept), kept);
        }
    }
}
