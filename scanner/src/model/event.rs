//! What phases emit: each thing a scan learns, as it learns it. Phases never hold the
//! result; they emit [`Event`]s into an [`EventSink`], and the one
//! [`Collector`](super::collector::Collector) builds the model from them.

use super::{PortFinding, Reason, ScriptOutput, ScriptSubject, SynAckPrint};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One thing a phase learnt.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A port's state, as a port scan found it.
    Port(PortFinding),
    /// A port with the service version detection named on it; its state may have
    /// changed since the scan (a silent UDP port that answered a probe is open).
    Service(PortFinding),
    /// A port's state or service as a script set it (`nmap.set_port_state`,
    /// `nmap.set_port_version`): only those two are taken.
    PortChanged(PortFinding),
    /// The passive fingerprint of an open TCP port's SYN+ACK.
    SynAck(Ipv4Addr, u16, SynAckPrint),
    /// What a script said.
    Script(ScriptSubject, ScriptOutput),
    /// What was learnt about a host; facts it does not give are kept as they were.
    Host(Ipv4Addr, HostFacts),
    /// Nothing more will be learnt about the host: it is final.
    HostDone(Ipv4Addr),
    /// The host is left out of the results (it ran past `--host-timeout`).
    HostDropped(Ipv4Addr),
}

/// Facts about a host (each `None` where this event says nothing of it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostFacts {
    /// Why it is taken to be up.
    pub up_reason: Option<Reason>,
    /// Smoothed round-trip time of its replies.
    pub latency: Option<Duration>,
    /// Its MAC address, for on-link hosts.
    pub mac: Option<[u8; 6]>,
    /// The name the user gave for it.
    pub hostname: Option<String>,
    /// Its name from reverse DNS.
    pub ptr_name: Option<String>,
    /// The way to it (`--traceroute`).
    pub trace: Option<super::Trace>,
    /// What OS detection (`-O`) learnt of it.
    pub os: Option<super::HostOs>,
}

/// Where phases emit what they learn.
pub trait EventSink {
    fn emit(&mut self, event: Event) -> anyhow::Result<()>;
}

/// Events kept in order, for a phase's result to be looked at (tests) or passed on.
impl EventSink for Vec<Event> {
    fn emit(&mut self, event: Event) -> anyhow::Result<()> {
        self.push(event);
        Ok(())
    }
}
