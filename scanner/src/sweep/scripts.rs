//! Scripts at sweep speed (`--sweep --script`): every port the sweep finds (named
//! first, with `-sV`) is handed to the port scripts whose rules hold on it, and each
//! host to its host scripts once, with its first port found, on the same loop as the
//! sweep goes on: what ZGrab2's modules do after ZMap, in one process. At most
//! `--max-script-threads` instances run at once; when many more wait, the senders
//! pause, so memory stays flat however large the range.
//!
//! A port is written once its scripts have ended, with the state and service they
//! set (`nmap.set_port_state`, `nmap.set_port_version`), then what each said; a host
//! script's output is written as it ends. A sweep keeps no hosts, so a script sees the
//! one port it runs on (`nmap.get_ports` lists that port) and no raw packets
//! (`rawpacket.available()` says why). A sweep stopped early writes the ports whose
//! scripts still ran with what was said so far: nothing found is lost.

use crate::model::{Event, EventSink, PortFinding, Proto, ScanResult, ScriptOutput, ScriptSubject};
use crate::script::engine::{Ended, Engine, Runs};
use anyhow::Result;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

/// How many instances may wait, per instance running, before the senders pause.
const QUEUE_PER_INSTANCE: usize = 8;

/// A port whose scripts have not all ended.
struct LivePort {
    /// How many of its scripts are still queued or running.
    left: usize,
    /// What they said so far.
    said: Vec<ScriptOutput>,
}

/// The scripts of the ports found and not yet written.
pub struct SweepScripts<'e> {
    runs: Runs<'e>,
    /// The ports whose scripts run, as scripts see them (changes applied as they come).
    live: ScanResult,
    live_ports: HashMap<(Ipv4Addr, u16, Proto), LivePort>,
    /// The hosts whose host scripts were queued (kept only if a script has a hostrule).
    hosts_started: Option<HashSet<Ipv4Addr>>,
    /// Ports whose scripts have all ended.
    pub scripted: u64,
}

impl<'e> SweepScripts<'e> {
    /// Runs `engine`'s host and port scripts, with no raw packets.
    pub async fn new(engine: &'e Engine) -> Self {
        Self {
            runs: engine.runs(None).await,
            live: ScanResult::default(),
            live_ports: HashMap::new(),
            hosts_started: engine.has_host_scripts().then(HashSet::new),
            scripted: 0,
        }
    }

    /// A port the sweep found (and named, with `-sV`): its scripts are queued, and its
    /// host's if it is the host's first; written at once if no rule holds.
    pub fn found(
        &mut self,
        finding: PortFinding,
        sink: &mut dyn EventSink,
        notice: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let (addr, port, proto) = (finding.addr, finding.port, finding.proto);
        self.live.record(finding);
        let first_of_host = self
            .hosts_started
            .as_mut()
            .is_some_and(|started| started.insert(addr));
        if first_of_host {
            self.runs
                .add_host(&self.live, addr, Some(&[]), true, notice)?;
        }
        let left = self
            .runs
            .add_host(&self.live, addr, Some(&[(port, proto)]), false, notice)?;
        if left == 0 {
            return self.write_port((addr, port, proto), Vec::new(), sink);
        }
        self.live_ports.insert(
            (addr, port, proto),
            LivePort {
                left,
                said: Vec::new(),
            },
        );
        Ok(())
    }

    /// Whether so many instances wait that the senders should pause.
    pub fn backlogged(&self) -> bool {
        self.runs.queued() > self.runs.at_once() * QUEUE_PER_INSTANCE
    }

    /// Whether any instance is queued or running (then [`SweepScripts::next`] ends).
    pub fn busy(&mut self) -> bool {
        !self.runs.is_idle()
    }

    /// Whether every port found has been written.
    pub fn done(&mut self) -> bool {
        self.live_ports.is_empty() && self.runs.is_idle()
    }

    /// Runs the scripts until one instance ends; `None` once none is queued or
    /// running. Cancel-safe.
    pub async fn next(&mut self, notice: &mut dyn FnMut(&str)) -> Result<Option<Ended>> {
        self.runs.next_end(notice).await
    }

    /// Takes in an instance that ended: a host script's output is written now; a
    /// port's when the port's last script ends, after the port itself.
    pub fn ended(&mut self, ended: Ended, sink: &mut dyn EventSink) -> Result<()> {
        match ended.subject {
            Some(ScriptSubject::Port(addr, port, proto)) => {
                let key = (addr, port, proto);
                let Some(live) = self.live_ports.get_mut(&key) else {
                    return Ok(());
                };
                live.said.extend(ended.output);
                live.left -= 1;
                if live.left == 0 {
                    let said = self
                        .live_ports
                        .remove(&key)
                        .map(|live| live.said)
                        .unwrap_or_default();
                    self.scripted += 1;
                    self.write_port(key, said, sink)?;
                }
                Ok(())
            }
            Some(subject) => match ended.output {
                Some(output) => sink.emit(Event::Script(subject, output)),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Writes a port as its scripts left it, then what they said; it is no longer live.
    fn write_port(
        &mut self,
        (addr, port, proto): (Ipv4Addr, u16, Proto),
        said: Vec<ScriptOutput>,
        sink: &mut dyn EventSink,
    ) -> Result<()> {
        self.apply_port_changes();
        let Some(host) = self.live.hosts.get_mut(&addr) else {
            return Ok(());
        };
        let finding = host.ports.remove(&(port, proto));
        if host.ports.is_empty() {
            self.live.hosts.remove(&addr);
        }
        let Some(finding) = finding else {
            return Ok(());
        };
        sink.emit(if finding.service.is_some() {
            Event::Service(finding)
        } else {
            Event::Port(finding)
        })?;
        for output in said {
            sink.emit(Event::Script(
                ScriptSubject::Port(addr, port, proto),
                output,
            ))?;
        }
        Ok(())
    }

    /// Takes the state and service changes scripts asked for on live ports.
    fn apply_port_changes(&mut self) {
        let engine = self.runs.engine();
        for event in engine.take_port_changes(&self.live) {
            if let Event::PortChanged(changed) = event {
                self.live.record(changed);
            }
        }
    }

    /// The ports whose scripts had not ended (the sweep stopped): written with what
    /// was said so far. Their instances are dropped.
    pub fn abandon(mut self, sink: &mut dyn EventSink) -> Result<()> {
        let keys: Vec<_> = self.live_ports.keys().copied().collect();
        for key in keys {
            let said = self
                .live_ports
                .remove(&key)
                .map(|live| live.said)
                .unwrap_or_default();
            self.write_port(key, said, sink)?;
        }
        Ok(())
    }
}
