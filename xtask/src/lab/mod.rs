//! The lab: network namespaces with real daemons, inside 198.18.0.0/15 only, that tests,
//! benchmarks and the demo scan. This module is the one place that says what the lab
//! is (hosts, addresses, services, firewalls) and so what a correct scan must find
//! (the truth); `up`/`down` in [`build`] turn it into namespaces.
//!
//! Everything lives in namespaces named `lab-*`: the bridge too, so the root
//! namespace is never touched. The scanner namespace has routes only into the lab.

pub mod any_address_udp;
pub mod build;
pub mod coverage;
mod daemons;
pub mod hostile;
pub mod record;
pub mod truth;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The namespace the scanner (and nmap, masscan, zmap) runs in.
pub const SCANNER_NS: &str = "lab-scanner";
/// The namespace that holds the bridge joining the scanner and the on-link hosts.
pub const SWITCH_NS: &str = "lab-switch";
/// The scanner's address on the lab segment.
pub const SCANNER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The scanner's interface inside its namespace.
pub const SCANNER_IFACE: &str = "eth0";
/// The on-link segment, behind the bridge.
pub const SEGMENT: &str = "198.18.0.0/24";
/// The segment behind the router.
pub const FAR_SEGMENT: &str = "198.18.1.0/24";
/// The catch-all range answered by the sweep host (every address: TCP port 80 open,
/// UDP 53 and 161 answering, ICMP echo answered).
pub const SWEEP_RANGE: &str = "198.19.0.0/16";
/// The range routed to the sink host, which benchmarks make drop everything at XDP.
pub const SINK_RANGE: &str = "198.18.128.0/17";
/// The lab's DNS domain: every host is NAME.lab.test (served by the dns host).
pub const DOMAIN: &str = "lab.test";
/// `ip netns exec` mounts this over /etc/resolv.conf in the scanner namespace.
pub const SCANNER_RESOLV_CONF: &str = "/etc/netns/lab-scanner/resolv.conf";
/// Where the lab keeps daemon configs, pid files and the TLS certificate.
pub const STATE_DIR: &str = "/run/scanner-lab";

/// The state a port is in, as nmap names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortState {
    Open,
    Closed,
    Filtered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

/// A real daemon from Debian's packages, started in a host's namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Sshd,
    /// nginx on these plain HTTP ports, plus HTTPS on 443 when `https`.
    Nginx {
        http_ports: &'static [u16],
        https: bool,
    },
    Vsftpd,
    Redis,
    Memcached,
    Dnsmasq,
    Snmpd,
    /// The misbehaving services of [`hostile::SERVICES`].
    Hostile,
    /// UDP answered on every address of the host ([`any_address_udp::PORTS`]): the
    /// sweep host's catch-all range.
    AnyAddressUdp,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Sshd => "openssh-server",
            Daemon::Nginx { .. } => "nginx",
            Daemon::Vsftpd => "vsftpd",
            Daemon::Redis => "redis-server",
            Daemon::Memcached => "memcached",
            Daemon::Dnsmasq => "dnsmasq",
            Daemon::Snmpd => "snmpd",
            Daemon::Hostile => "hostile services",
            Daemon::AnyAddressUdp => "any-address UDP answerer",
        }
    }

    /// TCP ports the daemon listens on.
    pub fn tcp_ports(self) -> Vec<u16> {
        match self {
            Daemon::Sshd => vec![22],
            Daemon::Nginx { http_ports, https } => {
                let mut ports = http_ports.to_vec();
                if https {
                    ports.push(443);
                }
                ports
            }
            Daemon::Vsftpd => vec![21],
            Daemon::Redis => vec![6379],
            Daemon::Memcached => vec![11211],
            Daemon::Dnsmasq => vec![53],
            // snmpd also listens for SMUX sub-agents on TCP 199 by default.
            Daemon::Snmpd => vec![199],
            Daemon::Hostile => hostile::SERVICES.iter().map(|s| s.0).collect(),
            Daemon::AnyAddressUdp => vec![],
        }
    }

    /// UDP ports the daemon listens on.
    pub fn udp_ports(self) -> Vec<u16> {
        match self {
            Daemon::Memcached => vec![11211],
            Daemon::Dnsmasq => vec![53],
            Daemon::Snmpd => vec![161],
            Daemon::AnyAddressUdp => any_address_udp::PORTS.to_vec(),
            _ => vec![],
        }
    }
}

/// Packet filtering in a host's namespace.
/// What version detection should say about one lab port: the service, and the
/// product with a version where the daemon tells it (`None`: any product, or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedService {
    pub port: u16,
    pub proto: &'static str,
    /// As the SERVICE column shows it (`ssl/http`).
    pub service: &'static str,
    pub product: Option<&'static str>,
    pub versioned: bool,
}

impl Daemon {
    /// What each of this daemon's ports runs, as version detection should name it.
    pub fn expected_services(self) -> Vec<ExpectedService> {
        let named = |port, proto, service, product: &'static str, versioned| ExpectedService {
            port,
            proto,
            service,
            product: Some(product),
            versioned,
        };
        match self {
            Daemon::Sshd => vec![named(22, "tcp", "ssh", "OpenSSH", true)],
            Daemon::Nginx { http_ports, https } => {
                let mut out: Vec<ExpectedService> = http_ports
                    .iter()
                    .map(|&port| named(port, "tcp", "http", "nginx", true))
                    .collect();
                if https {
                    out.push(named(443, "tcp", "ssl/http", "nginx", true));
                }
                out
            }
            Daemon::Vsftpd => vec![named(21, "tcp", "ftp", "vsftpd", true)],
            Daemon::Redis => vec![named(6379, "tcp", "redis", "Redis key-value store", true)],
            Daemon::Memcached => vec![
                named(11211, "tcp", "memcached", "Memcached", true),
                named(11211, "udp", "memcached", "Memcached", true),
            ],
            Daemon::Dnsmasq => vec![
                named(53, "tcp", "domain", "dnsmasq", true),
                named(53, "udp", "domain", "dnsmasq", true),
            ],
            Daemon::Snmpd => vec![
                named(199, "tcp", "smux", "Linux SNMP multiplexer", false),
                ExpectedService {
                    port: 161,
                    proto: "udp",
                    service: "snmp",
                    product: None,
                    versioned: false,
                },
            ],
            Daemon::Hostile => hostile::SERVICES
                .iter()
                .map(|&(port, _, service)| ExpectedService {
                    port,
                    proto: "tcp",
                    service: service.unwrap_or(""),
                    product: None,
                    versioned: false,
                })
                .collect(),
            // Echoes what it is sent: open, whatever a scanner names it.
            Daemon::AnyAddressUdp => any_address_udp::PORTS
                .iter()
                .map(|&port| ExpectedService {
                    port,
                    proto: "udp",
                    service: "",
                    product: None,
                    versioned: false,
                })
                .collect(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firewall {
    None,
    /// iptables DROP on every TCP port but these: the rest is filtered.
    DropAllTcpExcept(&'static [u16]),
    /// iptables REJECT with icmp-port-unreachable on these TCP port ranges.
    RejectTcp(&'static [(u16, u16)]),
}

/// How the host's TCP/IP stack is tuned (for OS-detection work later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Linux,
    /// TTL 128, no TCP timestamps, no window scaling.
    Ttl128NoTimestampsNoWscale,
}

/// Where the host sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// On the bridge with the scanner.
    OnLink,
    /// On the bridge through a macvlan, which filters multicast as a NIC does, in
    /// promiscuous mode: frames to any multicast address get in (sniffer-detect finds
    /// it; a veth, which filters nothing, would look promiscuous whatever its mode).
    OnLinkPromiscuous,
    /// Behind the router, on [`FAR_SEGMENT`].
    BehindRouter,
}

/// A TCP port forward: connections to `port` on this host go to `to:to_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub port: u16,
    pub to: Ipv4Addr,
    pub to_port: u16,
}

/// One target host of the lab.
#[derive(Clone, Debug)]
pub struct Host {
    /// Short name; the namespace is `lab-<name>`.
    pub name: &'static str,
    pub addr: Ipv4Addr,
    pub segment: Segment,
    pub daemons: Vec<Daemon>,
    pub firewall: Firewall,
    pub stack: Stack,
    pub forwards: Vec<Forward>,
    /// A routed range whose every address this host answers for.
    pub answers_range: Option<&'static str>,
    /// Forwards between the segments (the router).
    pub is_router: bool,
    /// One line for `lab status`.
    pub role: &'static str,
}

impl Host {
    pub fn namespace(&self) -> String {
        format!("lab-{}", self.name)
    }

    /// TCP ports something listens on (daemons and forwards), before the firewall.
    pub fn listening_tcp_ports(&self) -> BTreeSet<u16> {
        let mut ports: BTreeSet<u16> = self.daemons.iter().flat_map(|d| d.tcp_ports()).collect();
        ports.extend(self.forwards.iter().map(|f| f.port));
        ports
    }

    /// UDP ports a daemon listens on.
    pub fn listening_udp_ports(&self) -> BTreeSet<u16> {
        self.daemons.iter().flat_map(|d| d.udp_ports()).collect()
    }

    /// The truth: the state a SYN scan must report for `port`.
    pub fn tcp_state(&self, port: u16) -> PortState {
        match self.firewall {
            Firewall::DropAllTcpExcept(allowed) if !allowed.contains(&port) => {
                return PortState::Filtered
            }
            Firewall::RejectTcp(ranges)
                if ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&port)) =>
            {
                return PortState::Filtered
            }
            _ => {}
        }
        if self.listening_tcp_ports().contains(&port) {
            PortState::Open
        } else {
            PortState::Closed
        }
    }

    /// What version detection should report on each open port of this host (a
    /// forwarded port runs what its destination runs).
    pub fn expected_services(&self) -> Vec<ExpectedService> {
        let mut out: Vec<ExpectedService> = self
            .daemons
            .iter()
            .flat_map(|d| d.expected_services())
            .filter(|e| e.proto == "udp" || self.tcp_state(e.port) == PortState::Open)
            .collect();
        for forward in &self.forwards {
            let target = hosts().into_iter().find(|h| h.addr == forward.to);
            if let Some(expected) = target
                .iter()
                .flat_map(|h| h.expected_services())
                .find(|e| e.port == forward.to_port && e.proto == "tcp")
            {
                out.push(ExpectedService {
                    port: forward.port,
                    ..expected
                });
            }
        }
        out.sort_by_key(|e| (e.port, e.proto));
        out
    }

    /// Open TCP ports according to the truth.
    pub fn open_tcp_ports(&self) -> Vec<u16> {
        self.listening_tcp_ports()
            .into_iter()
            .filter(|&p| self.tcp_state(p) == PortState::Open)
            .collect()
    }
}

/// The router's address on the far segment (its on-link address is its `addr`).
pub const ROUTER_FAR_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

/// Every target host of the lab.
pub fn hosts() -> Vec<Host> {
    let base = Host {
        name: "",
        addr: Ipv4Addr::UNSPECIFIED,
        segment: Segment::OnLink,
        daemons: vec![],
        firewall: Firewall::None,
        stack: Stack::Linux,
        forwards: vec![],
        answers_range: None,
        is_router: false,
        role: "",
    };
    let svc_addr = Ipv4Addr::new(198, 18, 0, 11);
    vec![
        Host {
            name: "router",
            addr: Ipv4Addr::new(198, 18, 0, 2),
            is_router: true,
            role: "router to 198.18.1.0/24; no services (every port closed)",
            ..base.clone()
        },
        Host {
            name: "web",
            addr: Ipv4Addr::new(198, 18, 0, 10),
            daemons: vec![
                Daemon::Sshd,
                Daemon::Nginx {
                    http_ports: &[80],
                    https: true,
                },
            ],
            role: "ssh, http, https (self-signed)",
            ..base.clone()
        },
        Host {
            name: "svc",
            addr: svc_addr,
            daemons: vec![
                Daemon::Sshd,
                Daemon::Vsftpd,
                Daemon::Redis,
                Daemon::Memcached,
            ],
            role: "ssh, ftp, redis, memcached",
            ..base.clone()
        },
        Host {
            name: "dns",
            addr: Ipv4Addr::new(198, 18, 0, 12),
            daemons: vec![Daemon::Sshd, Daemon::Dnsmasq, Daemon::Snmpd],
            role: "ssh, dns (udp+tcp), snmp (udp; smux on tcp 199)",
            ..base.clone()
        },
        Host {
            name: "closed",
            addr: Ipv4Addr::new(198, 18, 0, 13),
            role: "no services: every port closed",
            ..base.clone()
        },
        Host {
            name: "drop",
            addr: Ipv4Addr::new(198, 18, 0, 14),
            daemons: vec![
                Daemon::Sshd,
                Daemon::Nginx {
                    http_ports: &[80],
                    https: false,
                },
            ],
            firewall: Firewall::DropAllTcpExcept(&[22]),
            role: "iptables DROP on every TCP port but 22 (filtered)",
            ..base.clone()
        },
        Host {
            name: "reject",
            addr: Ipv4Addr::new(198, 18, 0, 15),
            daemons: vec![Daemon::Nginx {
                http_ports: &[80, 8080],
                https: false,
            }],
            firewall: Firewall::RejectTcp(&[(1000, 1999), (8080, 8080)]),
            role: "REJECT icmp-port-unreachable on 1000-1999 and 8080",
            ..base.clone()
        },
        Host {
            name: "win",
            addr: Ipv4Addr::new(198, 18, 0, 16),
            daemons: vec![
                Daemon::Sshd,
                Daemon::Nginx {
                    http_ports: &[80],
                    https: false,
                },
            ],
            stack: Stack::Ttl128NoTimestampsNoWscale,
            forwards: vec![Forward {
                port: 8022,
                to: svc_addr,
                to_port: 22,
            }],
            role: "TTL 128, no timestamps/wscale; 8022 forwarded (DNAT) to svc:22",
            ..base.clone()
        },
        Host {
            name: "hostile",
            addr: Ipv4Addr::new(198, 18, 0, 17),
            daemons: vec![Daemon::Hostile],
            role: "misbehaving services: echo, endless banner, garbage, slow drip, reset, TLS garbage, tcpwrapped, silent",
            ..base.clone()
        },
        Host {
            name: "sniffer",
            addr: Ipv4Addr::new(198, 18, 0, 18),
            segment: Segment::OnLinkPromiscuous,
            role: "interface in promiscuous mode (a macvlan: filters multicast like a NIC)",
            ..base.clone()
        },
        Host {
            name: "sweep",
            addr: Ipv4Addr::new(198, 18, 0, 20),
            daemons: vec![
                Daemon::Nginx {
                    http_ports: &[80],
                    https: false,
                },
                Daemon::AnyAddressUdp,
            ],
            answers_range: Some(SWEEP_RANGE),
            role: "answers all of 198.19.0.0/16 (TCP 80 open, UDP 53 and 161 answer, ICMP echo)",
            ..base.clone()
        },
        Host {
            name: "sink",
            addr: Ipv4Addr::new(198, 18, 0, 30),
            answers_range: None,
            role: "gateway of 198.18.128.0/17; drops everything at XDP during `bench sweep`",
            ..base.clone()
        },
        Host {
            name: "far",
            addr: Ipv4Addr::new(198, 18, 1, 10),
            segment: Segment::BehindRouter,
            daemons: vec![
                Daemon::Sshd,
                Daemon::Nginx {
                    http_ports: &[80],
                    https: false,
                },
            ],
            role: "behind the router: ssh, http",
            ..base
        },
    ]
}

/// The host with this name. Panics on a name the lab does not have (a test bug).
pub fn host(name: &str) -> Host {
    hosts()
        .into_iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("the lab has no host named {name}"))
}

/// Every TCP port any lab service listens on (the "service ports" tests add to 1-1024).
pub fn service_tcp_ports() -> BTreeSet<u16> {
    hosts()
        .iter()
        .flat_map(|h| h.listening_tcp_ports())
        .collect()
}

/// Ports 1-1024 plus every lab service port above them, as a `-p` argument: what the
/// demo and the tests scan.
pub fn standard_scan_ports() -> String {
    let mut spec = vec!["1-1024".to_string()];
    spec.extend(
        service_tcp_ports()
            .into_iter()
            .filter(|&p| p > 1024)
            .map(|p| p.to_string()),
    );
    spec.join(",")
}

/// Whether the lab's namespaces exist.
pub fn is_up() -> bool {
    crate::shell::output("ip", &["netns", "list"])
        .map(|list| {
            list.lines()
                .any(|l| l.split_whitespace().next() == Some(SCANNER_NS))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_inside_the_benchmarking_range() {
        for host in hosts() {
            let [a, b, ..] = host.addr.octets();
            assert!(
                a == 198 && (b == 18 || b == 19),
                "{} at {}",
                host.name,
                host.addr
            );
            assert!(host.namespace().starts_with("lab-"));
        }
    }

    #[test]
    fn truth_follows_firewalls() {
        assert_eq!(host("drop").tcp_state(22), PortState::Open);
        assert_eq!(host("drop").tcp_state(80), PortState::Filtered);
        assert_eq!(host("drop").tcp_state(81), PortState::Filtered);
        assert_eq!(host("reject").tcp_state(80), PortState::Open);
        assert_eq!(host("reject").tcp_state(8080), PortState::Filtered);
        assert_eq!(host("reject").tcp_state(1500), PortState::Filtered);
        assert_eq!(host("reject").tcp_state(81), PortState::Closed);
        assert_eq!(host("win").open_tcp_ports(), vec![22, 80, 8022]);
        assert!(host("closed").open_tcp_ports().is_empty());
    }
}
