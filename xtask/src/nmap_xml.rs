//! Reading nmap's XML (and the scanner's, which writes the same format): hosts, their
//! status, listed ports with their `<service>`, and folded `<extraports>`. Just enough for the tests and the
//! benchmarks to compare the two tools; not a general XML parser.

use anyhow::{Context, Result};
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
        };
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
}
