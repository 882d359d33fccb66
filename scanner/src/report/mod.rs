//! The result model (what a scan found) and its writers: the streaming JSON lines and
//! CSV writers, the progress line, and at the end nmap's normal, XML and grepable
//! output. Writers only read results; they never change them.

pub mod csv;
pub mod fields;
pub mod grepable;
pub mod json;
pub mod normal;
pub mod output_file;
pub mod progress;
pub mod services;
pub mod xml;

use serde::Serialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

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

/// Why a port got its state (nmap's `--reason` words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

/// One port's finding, emitted the moment it is known.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortFinding {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub proto: &'static str,
    pub state: PortState,
    pub reason: Reason,
    /// TTL of the reply, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// Seconds since the Unix epoch when the finding was made.
    pub time: f64,
    /// What version detection (`-sV`) named the service, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::service::ServiceInfo>,
    /// What the port's scripts said (`--script`, `-sC`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<crate::script::output::ScriptOutput>,
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
        Self::now("tcp", addr, port, state, reason, ttl)
    }

    /// A finding about `proto` ("tcp", "udp") made now.
    pub fn now(
        proto: &'static str,
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
            time: unix_time(),
            service: None,
            scripts: Vec::new(),
        }
    }
}

/// What is known about one host.
#[derive(Clone, Debug, Default)]
pub struct HostResult {
    /// By port, then protocol ("tcp" before "udp"), as nmap lists them.
    pub ports: BTreeMap<(u16, &'static str), PortFinding>,
    /// Smoothed round-trip time of its replies, if any came.
    pub latency: Option<Duration>,
    /// The name the user gave for it, if it was given by name.
    pub hostname: Option<String>,
    /// Its name from reverse DNS (PTR), unless `-n`.
    pub ptr_name: Option<String>,
    /// Its MAC address, for on-link hosts (learnt by ARP).
    pub mac: Option<[u8; 6]>,
    /// Why it is taken to be up before any port answered: "arp-response" on-link,
    /// "user-set" where it was simply assumed (nmap's -Pn).
    pub up_reason: Option<&'static str>,
    /// What the host's scripts (hostrule) said.
    pub scripts: Vec<crate::script::output::ScriptOutput>,
}

impl HostResult {
    /// The name to show: the one the user gave, else the reverse-DNS one.
    pub fn display_name(&self) -> Option<&str> {
        self.hostname.as_deref().or(self.ptr_name.as_deref())
    }

    /// A host is up when it answered ARP, was assumed up, or any port answered.
    pub fn is_up(&self) -> bool {
        self.up_reason.is_some() || self.ports.values().any(|p| p.reason != Reason::NoResponse)
    }

    /// Why it is up (or not), in nmap's words.
    pub fn status_reason(&self) -> &'static str {
        match self.up_reason {
            Some(reason) => reason,
            None if self.is_up() => "syn-ack",
            None => "no-response",
        }
    }
}

/// What was scanned and how, for the headers of the output formats.
#[derive(Clone, Debug, Default)]
pub struct ScanInfo {
    /// nmap's scan type word: "syn", "connect", …
    pub kind: &'static str,
    pub protocol: &'static str,
    /// The ports, ascending.
    pub ports: Vec<u16>,
}

impl ScanInfo {
    /// The ports as nmap writes them: `1-1024,8080`.
    pub fn port_ranges(&self) -> String {
        compress_ranges(self.ports.iter().copied())
    }
}

/// Writes ascending numbers as comma-separated ranges (`1-79,81-999`).
pub fn compress_ranges(numbers: impl IntoIterator<Item = u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Option<(u16, u16)> = None;
    let flush = |lo: u16, hi: u16, out: &mut Vec<String>| {
        out.push(if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        });
    };
    for n in numbers {
        run = match run {
            Some((lo, hi)) if u32::from(n) == u32::from(hi) + 1 => Some((lo, n)),
            Some((lo, hi)) => {
                flush(lo, hi, &mut out);
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    if let Some((lo, hi)) = run {
        flush(lo, hi, &mut out);
    }
    out.join(",")
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
    pub prescripts: Vec<crate::script::output::ScriptOutput>,
    /// What `postrule` scripts said, after it.
    pub postscripts: Vec<crate::script::output::ScriptOutput>,
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

    /// The result of a ping scan: the hosts found up, with why, among `addresses`.
    pub fn of_statuses(
        addresses: u64,
        statuses: &BTreeMap<Ipv4Addr, crate::discovery::HostStatus>,
    ) -> Self {
        let mut result = Self::starting_now(addresses);
        for (addr, status) in statuses.iter().filter(|(_, s)| s.up) {
            result.hosts.entry(*addr).or_default().up_reason = Some(status.reason);
        }
        result
    }

    /// Every target taken to be up (`-sn -Pn`).
    pub fn all_up(targets: &crate::target::TargetSet) -> Self {
        let mut result = Self::starting_now(targets.len());
        for addr in targets.iter() {
            result.hosts.entry(addr).or_default().up_reason = Some("user-set");
        }
        result
    }

    /// Takes what host discovery learnt about each host (why it is up, latency, MAC)
    /// where this result does not know better.
    pub fn adopt_host_facts(&mut self, discovered: &ScanResult) {
        for (addr, found) in &discovered.hosts {
            let host = self.hosts.entry(*addr).or_default();
            host.up_reason = host.up_reason.or(found.up_reason);
            host.latency = host.latency.or(found.latency);
            host.mac = host.mac.or(found.mac);
        }
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

/// Which states of a host's ports are folded away ("Not shown", `<extraports>`):
/// every state but open with more than 25 ports, as nmap does.
pub fn folded_states(host: &HostResult) -> Vec<PortState> {
    const FOLD_THRESHOLD: usize = 25;
    [
        PortState::Closed,
        PortState::Filtered,
        PortState::Unfiltered,
        PortState::OpenFiltered,
        PortState::ClosedFiltered,
    ]
    .into_iter()
    .filter(|&state| host.ports.values().filter(|p| p.state == state).count() > FOLD_THRESHOLD)
    .collect()
}

/// How the end-of-scan output is trimmed: `--open`, `--reason`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutputOptions {
    /// Only open ports (and hosts with some).
    pub open_only: bool,
    /// A REASON column.
    pub reason: bool,
}

impl OutputOptions {
    /// Whether a host's report is written (with `--open`, only hosts with open ports).
    pub fn shows_host(&self, host: &HostResult) -> bool {
        !self.open_only || host.ports.values().any(|p| p.state == PortState::Open)
    }

    /// Whether a port that is not folded away is listed (with `--open`, open ones only).
    pub fn lists_port(&self, port: &PortFinding) -> bool {
        !self.open_only || port.state == PortState::Open
    }
}

/// A MAC address as nmap writes it: `DE:F9:CF:DC:50:E2`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Seconds since the Unix epoch of a system time (0 before it).
pub fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A time in UTC, split into its civil parts.
struct CivilTime {
    year: i64,
    /// 1 to 12.
    month: i64,
    day: i64,
    /// Seconds into the day.
    second_of_day: i64,
    /// 0 is Thursday (1970-01-01 was one).
    weekday_from_thursday: i64,
}

impl CivilTime {
    fn of(time: SystemTime) -> Self {
        let secs = epoch_seconds(time) as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // The civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        CivilTime {
            year,
            month,
            day,
            second_of_day: rem,
            weekday_from_thursday: days.rem_euclid(7),
        }
    }

    fn clock(&self) -> String {
        let rem = self.second_of_day;
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
    }
}

/// A time as RFC 3339 writes it, in UTC: "2026-11-28T19:53:09Z".
pub fn rfc3339(time: SystemTime) -> String {
    let t = CivilTime::of(time);
    format!("{}-{:02}-{:02}T{}Z", t.year, t.month, t.day, t.clock())
}

/// A time as nmap's `startstr` writes it: "Sat Nov 28 19:53:09 2026" (UTC).
pub fn ctime(time: SystemTime) -> String {
    let t = CivilTime::of(time);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {} {}",
        WEEKDAYS[t.weekday_from_thursday as usize],
        MONTHS[(t.month - 1) as usize],
        t.day,
        t.clock(),
        t.year
    )
}

/// Seconds since the Unix epoch, for a finding's `time`.
pub fn unix_time() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Something that receives each host's results once the scan has finished with it.
pub trait HostSink {
    fn host_done(&mut self, addr: Ipv4Addr, host: &HostResult) -> anyhow::Result<()>;
}

/// Something that receives findings as the scan makes them.
pub trait FindingSink {
    fn finding(&mut self, finding: &PortFinding) -> anyhow::Result<()>;

    /// A script's result, once the script ended.
    fn script_result(
        &mut self,
        _subject: ScriptSubject,
        _output: &crate::script::output::ScriptOutput,
    ) -> anyhow::Result<()> {
        Ok(())
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
    Port(Ipv4Addr, u16, &'static str),
}

/// For the writers' tests: ports 1-30 of `addr`, 22 open, the rest closed.
#[cfg(test)]
pub(crate) fn record_sample_ports(result: &mut ScanResult, addr: Ipv4Addr, ttl: u8) {
    for port in 1..=30 {
        let (state, reason) = if port == 22 {
            (PortState::Open, Reason::SynAck)
        } else {
            (PortState::Closed, Reason::Reset)
        };
        result.record(PortFinding {
            addr,
            port,
            proto: "tcp",
            state,
            reason,
            ttl: Some(ttl),
            time: 0.0,
            service: None,
            scripts: Vec::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_times_read_as_nmap_writes_them() {
        assert_eq!(compress_ranges([1, 2, 3, 5, 7, 8, 1024]), "1-3,5,7-8,1024");
        assert_eq!(compress_ranges([]), "");
        assert_eq!(compress_ranges([65534, 65535]), "65534-65535");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_895_589);
        assert_eq!(ctime(t), "Sat Nov 28 19:53:09 2026");
        assert_eq!(ctime(SystemTime::UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
        assert_eq!(rfc3339(t), "2026-11-28T19:53:09Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_mac(&[0xde, 0xf9, 0xcf, 0xdc, 0x50, 0xe2]),
            "DE:F9:CF:DC:50:E2"
        );
    }
}
