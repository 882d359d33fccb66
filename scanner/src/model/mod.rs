//! The result model: what a scan found, typed. Phases produce it, writers read it.
//! It depends on nothing else in the crate (std and serde only), so every layer may
//! use it and it uses none of them.
//!
//! - [`Proto`], [`PortState`], [`Reason`]: the words of a finding, as enums;
//! - [`PortFinding`], [`HostResult`], [`ScanResult`], [`ScanInfo`]: what was found;
//! - [`service`]: what version detection named; [`script`]: what scripts said;
//!   [`os`]: what OS detection concluded; [`synack`]: what an open port's SYN+ACK
//!   says of its stack;
//! - [`event`]: what phases emit; [`collector`]: the one place that builds the model
//!   from events and hands what is final to the writers.

pub mod collector;
pub mod event;
pub mod os;
pub mod script;
pub mod service;
pub mod synack;
pub mod trace;

pub use collector::{Collector, Writer};
pub use event::{Event, EventSink, HostFacts};
pub use os::{HostOs, OsClass, OsDetection, OsMatch, OsVerdict};
pub use script::{ScriptOutput, ScriptValue};
pub use service::ServiceInfo;
pub use synack::{SynAckMatch, SynAckPrint};
pub use trace::Trace;

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

/// A transport protocol that ports belong to. TCP sorts before UDP, as nmap lists them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    #[default]
    Tcp,
    Udp,
}

impl Proto {
    /// nmap's word: "tcp", "udp".
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port's state, as nmap names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PortState {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "closed")]
    Closed,
    #[serde(rename = "filtered")]
    Filtered,
    /// Reachable, open or closed unknown (ACK scan got a reset).
    #[serde(rename = "unfiltered")]
    Unfiltered,
    /// No answer where an open port would stay silent (FIN, NULL, Xmas scans).
    #[serde(rename = "open|filtered")]
    OpenFiltered,
    #[serde(rename = "closed|filtered")]
    ClosedFiltered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unfiltered => "unfiltered",
            PortState::OpenFiltered => "open|filtered",
            PortState::ClosedFiltered => "closed|filtered",
        }
    }
}

/// Why a port got its state, or why a host is taken to be up or down (nmap's
/// `--reason` words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    SynAck,
    Reset,
    NoResponse,
    /// A TCP connection was accepted (connect scan).
    ConnAccepted,
    /// A TCP connection was refused (connect scan).
    ConnRefused,
    /// A UDP datagram came back from the port.
    UdpResponse,
    /// ICMP destination unreachable, by code.
    NetUnreach,
    HostUnreach,
    ProtoUnreach,
    PortUnreach,
    NetProhibited,
    HostProhibited,
    AdminProhibited,
    /// Another ICMP unreachable code, or time exceeded on the way.
    IcmpError,
    /// ICMP echo, timestamp and address mask replies to pings.
    EchoReply,
    TimestampReply,
    AddressmaskReply,
    /// An on-link host answered ARP.
    ArpResponse,
    /// The host was simply taken to be up (nmap's -Pn).
    UserSet,
    /// The host is this machine.
    LocalhostResponse,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Reset => "reset",
            Reason::NoResponse => "no-response",
            Reason::ConnAccepted => "syn-ack",
            Reason::ConnRefused => "conn-refused",
            Reason::UdpResponse => "udp-response",
            Reason::NetUnreach => "net-unreach",
            Reason::HostUnreach => "host-unreach",
            Reason::ProtoUnreach => "proto-unreach",
            Reason::PortUnreach => "port-unreach",
            Reason::NetProhibited => "net-prohibited",
            Reason::HostProhibited => "host-prohibited",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::IcmpError => "icmp-error",
            Reason::EchoReply => "echo-reply",
            Reason::TimestampReply => "timestamp-reply",
            Reason::AddressmaskReply => "addressmask-reply",
            Reason::ArpResponse => "arp-response",
            Reason::UserSet => "user-set",
            Reason::LocalhostResponse => "localhost-response",
        }
    }

    /// The reason an ICMP error of `icmp_type`/`code` gives.
    pub fn from_icmp(icmp_type: u8, code: u8) -> Self {
        match (icmp_type, code) {
            (3, 0) => Reason::NetUnreach,
            (3, 1) => Reason::HostUnreach,
            (3, 2) => Reason::ProtoUnreach,
            (3, 3) => Reason::PortUnreach,
            (3, 9) => Reason::NetProhibited,
            (3, 10) => Reason::HostProhibited,
            (3, 13) => Reason::AdminProhibited,
            _ => Reason::IcmpError,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One port's finding, emitted the moment it is known.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortFinding {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub proto: Proto,
    pub state: PortState,
    pub reason: Reason,
    /// TTL of the reply, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// Seconds since the Unix epoch when the finding was made.
    pub time: f64,
    /// What version detection (`-sV`) named the service, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceInfo>,
    /// What the port's scripts said (`--script`, `-sC`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<ScriptOutput>,
    /// The passive fingerprint of its SYN+ACK (raw SYN scans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synack: Option<SynAckPrint>,
}

impl PortFinding {
    /// A TCP finding made now.
    pub fn tcp(
        addr: Ipv4Addr,
        port: u16,
        state: PortState,
        reason: Reason,
        ttl: Option<u8>,
    ) -> Self {
        Self::now(Proto::Tcp, addr, port, state, reason, ttl)
    }

    /// A finding about `proto` made now.
    pub fn now(
        proto: Proto,
        addr: Ipv4Addr,
        port: u16,
        state: PortState,
        reason: Reason,
        ttl: Option<u8>,
    ) -> Self {
        Self {
            addr,
            port,
            proto,
            state,
            reason,
            ttl,
            time: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            service: None,
            scripts: Vec::new(),
            synack: None,
        }
    }
}

impl PortFinding {
    /// Whether version detection probes this port: open TCP ports, and UDP ports
    /// that answered or stayed silent (open|filtered).
    pub fn gets_version_probes(&self) -> bool {
        match self.proto {
            Proto::Tcp => self.state == PortState::Open,
            Proto::Udp => matches!(self.state, PortState::Open | PortState::OpenFiltered),
        }
    }
}

/// What is known about one host.
#[derive(Clone, Debug, Default)]
pub struct HostResult {
    /// By port, then protocol (TCP before UDP), as nmap lists them.
    pub ports: BTreeMap<(u16, Proto), PortFinding>,
    /// Smoothed round-trip time of its replies, if any came.
    pub latency: Option<Duration>,
    /// The name the user gave for it, if it was given by name.
    pub hostname: Option<String>,
    /// Its name from reverse DNS (PTR), unless `-n`.
    pub ptr_name: Option<String>,
    /// Its MAC address, for on-link hosts (learnt by ARP).
    pub mac: Option<[u8; 6]>,
    /// Why it is taken to be up before any port answered: an answer to host
    /// discovery, [`Reason::ArpResponse`] on-link, [`Reason::UserSet`] where it was
    /// simply assumed (nmap's -Pn).
    pub up_reason: Option<Reason>,
    /// What the host's scripts (hostrule) said.
    pub scripts: Vec<ScriptOutput>,
    /// The way to it (`--traceroute`).
    pub trace: Option<Trace>,
    /// What OS detection (`-O`) learnt of it.
    pub os: Option<HostOs>,
}

impl HostResult {
    /// Its open TCP ports, in order.
    pub fn open_tcp_ports(&self) -> Vec<u16> {
        self.ports
            .values()
            .filter(|p| p.proto == Proto::Tcp && p.state == PortState::Open)
            .map(|p| p.port)
            .collect()
    }

    /// The name to show: the one the user gave, else the reverse-DNS one.
    pub fn display_name(&self) -> Option<&str> {
        self.hostname.as_deref().or(self.ptr_name.as_deref())
    }

    /// A host is up when it answered ARP, was assumed up, or any port answered.
    pub fn is_up(&self) -> bool {
        self.up_reason.is_some() || self.ports.values().any(|p| p.reason != Reason::NoResponse)
    }

    /// Why it is up (or not).
    pub fn status_reason(&self) -> Reason {
        match self.up_reason {
            Some(reason) => reason,
            None if self.is_up() => Reason::SynAck,
            None => Reason::NoResponse,
        }
    }
}

/// What was scanned and how, for the headers of the output formats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanInfo {
    /// nmap's scan type word: "syn", "connect", …
    pub kind: &'static str,
    pub protocol: Proto,
    /// The ports, ascending.
    pub ports: Vec<u16>,
}

/// Everything a scan found, in address order.
#[derive(Clone, Debug, Default)]
pub struct ScanResult {
    /// Each port scan run (nmap's `<scaninfo>`s): none for a ping scan, two for -sSU.
    pub scans: Vec<ScanInfo>,
    /// The command line as the user typed it.
    pub args: String,
    pub hosts: BTreeMap<Ipv4Addr, HostResult>,
    pub started: Option<SystemTime>,
    pub elapsed: Duration,
    /// How many addresses the scan covered (hosts found down included).
    pub addresses: u64,
    /// What `prerule` scripts said, before the scan.
    pub prescripts: Vec<ScriptOutput>,
    /// What `postrule` scripts said, after it.
    pub postscripts: Vec<ScriptOutput>,
}

impl ScanResult {
    /// An empty result for a scan of `addresses` addresses starting now.
    pub fn starting_now(addresses: u64) -> Self {
        Self {
            started: Some(SystemTime::now()),
            addresses,
            ..Default::default()
        }
    }

    /// The result of a ping scan among `addresses`: the hosts found up, with why.
    pub fn of_hosts_up(addresses: u64, up: impl IntoIterator<Item = (Ipv4Addr, Reason)>) -> Self {
        let mut result = Self::starting_now(addresses);
        for (addr, reason) in up {
            result.hosts.entry(addr).or_default().up_reason = Some(reason);
        }
        result
    }

    pub fn record(&mut self, finding: PortFinding) {
        self.hosts
            .entry(finding.addr)
            .or_default()
            .ports
            .insert((finding.port, finding.proto), finding);
    }

    /// Hosts that are up.
    pub fn hosts_up(&self) -> usize {
        self.hosts.values().filter(|h| h.is_up()).count()
    }

    /// nmap's closing summary: "1 IP address (1 host up) scanned in 0.71 seconds".
    pub fn summary(&self) -> String {
        let addresses = self.addresses.max(self.hosts.len() as u64);
        let up = self.hosts_up();
        format!(
            "{addresses} IP address{} ({up} host{} up) scanned in {:.2} seconds",
            if addresses == 1 { "" } else { "es" },
            if up == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64()
        )
    }

    /// When the scan started (now, if unknown).
    pub fn start_time(&self) -> SystemTime {
        self.started.unwrap_or_else(SystemTime::now)
    }
}

/// What a script's result is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptSubject {
    /// A `prerule` script, run once before the scan.
    PreScan,
    /// A `postrule` script, run once after it.
    PostScan,
    /// A `hostrule` script.
    Host(Ipv4Addr),
    /// A `portrule` script: host, port, protocol.
    Port(Ipv4Addr, u16, Proto),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_serialize_as_nmap_writes_them() {
        let finding = PortFinding {
            time: 0.0,
            ..PortFinding::now(
                Proto::Udp,
                Ipv4Addr::new(198, 18, 0, 10),
                53,
                PortState::OpenFiltered,
                Reason::NoResponse,
                None,
            )
        };
        assert_eq!(
            serde_json::to_string(&finding).unwrap(),
            r#"{"addr":"198.18.0.10","port":53,"proto":"udp","state":"open|filtered","reason":"no-response","time":0.0}"#
        );
        assert!(Proto::Tcp < Proto::Udp);
        for (reason, word) in [
            (Reason::ConnAccepted, "syn-ack"),
            (Reason::AddressmaskReply, "addressmask-reply"),
            (Reason::LocalhostResponse, "localhost-response"),
        ] {
            assert_eq!(reason.as_str(), word);
        }
    }

    #[test]
    fn a_host_is_up_by_its_reason_or_any_answer() {
        let mut host = HostResult::default();
        assert_eq!(
            (host.is_up(), host.status_reason()),
            (false, Reason::NoResponse)
        );
        host.ports.insert(
            (80, Proto::Tcp),
            PortFinding::tcp(
                Ipv4Addr::LOCALHOST,
                80,
                PortState::Closed,
                Reason::Reset,
                None,
            ),
        );
        assert_eq!((host.is_up(), host.status_reason()), (true, Reason::SynAck));
        host.up_reason = Some(Reason::ArpResponse);
        assert_eq!(host.status_reason(), Reason::ArpResponse);
    }
}
