//! The collector: the one place the model is built. Phases emit [`Event`]s into it; it
//! records each in the [`ScanResult`], decides when a port and a host are final, and
//! hands what is final to the [`Writer`]. With version detection, a port that is
//! probed is final once its service is known, so it is written once, with it.

use super::event::{Event, EventSink, HostFacts};
use super::{HostResult, PortFinding, Proto, ScanResult, ScriptOutput, ScriptSubject};
use anyhow::Result;
use std::net::Ipv4Addr;

/// What receives the results as they become final (the writers of `report`). Writers
/// only read.
pub trait Writer {
    /// The scan starts: `scan` has its command line, start time and port scans.
    fn start(&mut self, _scan: &ScanResult) -> Result<()> {
        Ok(())
    }

    /// A port is final: its state, and its service where version detection ran.
    fn port(&mut self, _finding: &PortFinding) -> Result<()> {
        Ok(())
    }

    /// A script ended with something to say.
    fn script(&mut self, _subject: ScriptSubject, _output: &ScriptOutput) -> Result<()> {
        Ok(())
    }

    /// A host is finished: nothing more will be learnt about it.
    fn host(&mut self, _addr: Ipv4Addr, _host: &HostResult) -> Result<()> {
        Ok(())
    }

    /// The scan is over: `scan` is all it found.
    fn finish(&mut self, _scan: &ScanResult) -> Result<()> {
        Ok(())
    }
}

/// A writer that writes nothing (a phase whose results are only looked at).
pub struct NoWriter;

impl Writer for NoWriter {}

/// Builds the model from events and passes what is final to its writer.
pub struct Collector<'w> {
    result: ScanResult,
    /// Version detection runs: the ports it probes wait for their service.
    versions: bool,
    /// The names the user gave for addresses: a host's name once it is done.
    names: Vec<(String, Ipv4Addr)>,
    writer: &'w mut dyn Writer,
    /// Whether the writer was told the scan started.
    started: bool,
    /// Whether findings are kept in the result (not when every output streams).
    keeps_findings: bool,
}

impl<'w> Collector<'w> {
    /// A collector that fills `result` (its header: command line, start, the port
    /// scans that will run) and writes to `writer`; `versions` when version detection
    /// runs.
    pub fn new(result: ScanResult, versions: bool, writer: &'w mut dyn Writer) -> Self {
        Self {
            result,
            versions,
            names: Vec::new(),
            writer,
            started: false,
            keeps_findings: true,
        }
    }

    /// Writes ports and hosts as they come without keeping them (a sweep whose
    /// outputs all stream: its memory then stays flat however many it finds).
    pub fn streaming_only(mut self) -> Self {
        self.keeps_findings = false;
        self
    }

    /// Gives each host the user named its name (the first given for it).
    pub fn with_names(mut self, names: Vec<(String, Ipv4Addr)>) -> Self {
        self.names = names;
        self
    }

    /// Tells the writer the scan starts (once: before the first event, with the
    /// header as the scan set it by then).
    fn start(&mut self) -> Result<()> {
        if !self.started {
            self.started = true;
            self.writer.start(&self.result)?;
        }
        Ok(())
    }

    /// Tells the writer the scan is over; the model, whole.
    pub fn finish(mut self) -> Result<ScanResult> {
        self.start()?;
        self.writer.finish(&self.result)?;
        Ok(self.result)
    }

    /// The model as built so far.
    pub fn result(&self) -> &ScanResult {
        &self.result
    }

    /// The model, once the scan is over.
    pub fn into_result(self) -> ScanResult {
        self.result
    }

    /// The result's own fields: the port scans before the first event, the elapsed
    /// time and addresses at the end.
    pub fn result_mut(&mut self) -> &mut ScanResult {
        &mut self.result
    }
}

impl EventSink for Collector<'_> {
    fn emit(&mut self, event: Event) -> Result<()> {
        self.start()?;
        let result = &mut self.result;
        match event {
            Event::Port(finding) => {
                if !(self.versions && finding.gets_version_probes()) {
                    self.writer.port(&finding)?;
                }
                if self.keeps_findings {
                    result.record(finding);
                }
            }
            Event::Service(finding) => {
                self.writer.port(&finding)?;
                if self.keeps_findings {
                    result.record(finding);
                }
            }
            Event::PortChanged(changed) => {
                let host = result.hosts.entry(changed.addr).or_default();
                if let Some(finding) = host.ports.get_mut(&(changed.port, changed.proto)) {
                    finding.state = changed.state;
                    finding.service = changed.service;
                }
            }
            Event::SynAck(addr, port, print) => {
                let host = result.hosts.entry(addr).or_default();
                if let Some(finding) = host.ports.get_mut(&(port, Proto::Tcp)) {
                    finding.synack = Some(print);
                }
            }
            Event::Script(subject, output) => {
                self.writer.script(subject, &output)?;
                let about_the_scan =
                    matches!(subject, ScriptSubject::PreScan | ScriptSubject::PostScan);
                if self.keeps_findings || about_the_scan {
                    record_script(result, subject, output);
                }
            }
            Event::Host(addr, facts) if self.keeps_findings => {
                merge_facts(result.hosts.entry(addr).or_default(), facts)
            }
            Event::Host(..) => {}
            Event::HostDone(addr) => {
                let host = result.hosts.entry(addr).or_default();
                if host.hostname.is_none() {
                    host.hostname = self
                        .names
                        .iter()
                        .find(|(_, named)| *named == addr)
                        .map(|(name, _)| name.clone());
                }
                self.writer.host(addr, host)?;
            }
            Event::HostDropped(addr) => {
                result.hosts.remove(&addr);
            }
        }
        Ok(())
    }
}

/// Takes the facts `facts` gives, keeping the host's others.
fn merge_facts(host: &mut HostResult, facts: HostFacts) {
    let HostFacts {
        up_reason,
        latency,
        mac,
        hostname,
        ptr_name,
        trace,
        os,
    } = facts;
    host.up_reason = up_reason.or(host.up_reason);
    host.latency = latency.or(host.latency);
    host.mac = mac.or(host.mac);
    host.trace = trace.or(host.trace.take());
    host.os = os.or(host.os.take());
    host.hostname = hostname.or(host.hostname.take());
    host.ptr_name = ptr_name.or(host.ptr_name.take());
}

/// Puts a script's output where it belongs: before or after the scan, under its host,
/// or under its port (its host's, if the port is not known). A host's and a port's
/// are kept by script name, as nmap lists them, whatever order the scripts end in.
fn record_script(result: &mut ScanResult, subject: ScriptSubject, output: ScriptOutput) {
    let by_name = |list: &mut Vec<ScriptOutput>, output: ScriptOutput| {
        let at = list.partition_point(|o| o.id <= output.id);
        list.insert(at, output);
    };
    match subject {
        ScriptSubject::PreScan => result.prescripts.push(output),
        ScriptSubject::PostScan => result.postscripts.push(output),
        ScriptSubject::Host(addr) => {
            by_name(&mut result.hosts.entry(addr).or_default().scripts, output)
        }
        ScriptSubject::Port(addr, port, proto) => {
            let host = result.hosts.entry(addr).or_default();
            match host.ports.get_mut(&(port, proto)) {
                Some(finding) => by_name(&mut finding.scripts, output),
                None => by_name(&mut host.scripts, output),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortState, Proto, Reason, ServiceInfo};

    /// What reached the writer, in order.
    #[derive(Default)]
    struct Written(Vec<String>);

    impl Writer for Written {
        fn port(&mut self, f: &PortFinding) -> Result<()> {
            let service = f.service.as_ref().map_or("-", |s| s.name.as_str());
            self.0.push(format!(
                "port {}/{} {} {service}",
                f.port,
                f.proto,
                f.state.as_str()
            ));
            Ok(())
        }

        fn script(&mut self, _: ScriptSubject, output: &ScriptOutput) -> Result<()> {
            self.0.push(format!("script {}", output.id));
            Ok(())
        }

        fn host(&mut self, addr: Ipv4Addr, host: &HostResult) -> Result<()> {
            self.0
                .push(format!("host {addr} {} ports", host.ports.len()));
            Ok(())
        }
    }

    const ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);

    fn port(number: u16, proto: Proto, state: PortState) -> PortFinding {
        PortFinding::now(proto, ADDR, number, state, Reason::NoResponse, None)
    }

    fn named(mut finding: PortFinding, name: &str) -> PortFinding {
        finding.service = Some(ServiceInfo {
            name: name.into(),
            version: Default::default(),
            tunnel: None,
            method: "probed",
            conf: 10,
            certificate: None,
        });
        finding
    }

    #[test]
    fn with_versions_a_probed_port_is_written_once_with_its_service() {
        let mut written = Written::default();
        let mut collector = Collector::new(ScanResult::default(), true, &mut written);
        let open = port(22, Proto::Tcp, PortState::Open);
        let silent = port(53, Proto::Udp, PortState::OpenFiltered);
        let events = [
            Event::Port(open.clone()),
            Event::Port(port(23, Proto::Tcp, PortState::Closed)),
            Event::Port(silent.clone()),
            Event::Service(named(open, "ssh")),
            Event::Service(named(
                PortFinding {
                    state: PortState::Open,
                    ..silent
                },
                "domain",
            )),
            Event::HostDone(ADDR),
        ];
        for event in events {
            collector.emit(event).unwrap();
        }
        let result = collector.into_result();
        assert_eq!(
            written.0,
            [
                "port 23/tcp closed -",
                "port 22/tcp open ssh",
                "port 53/udp open domain",
                "host 198.18.0.10 3 ports"
            ]
        );
        let ports = &result.hosts[&ADDR].ports;
        assert_eq!(ports.len(), 3);
        assert_eq!(ports[&(53, Proto::Udp)].state, PortState::Open);
    }

    #[test]
    fn a_host_done_gets_the_name_the_user_gave() {
        let mut written = Written::default();
        let names = vec![
            ("web.lab.test".to_string(), ADDR),
            ("other".to_string(), ADDR),
        ];
        let mut collector =
            Collector::new(ScanResult::default(), false, &mut written).with_names(names);
        collector.emit(Event::HostDone(ADDR)).unwrap();
        let result = collector.finish().unwrap();
        assert_eq!(
            result.hosts[&ADDR].hostname.as_deref(),
            Some("web.lab.test")
        );
    }

    #[test]
    fn without_versions_every_port_is_written_as_found() {
        let mut written = Written::default();
        let mut collector = Collector::new(ScanResult::default(), false, &mut written);
        collector
            .emit(Event::Port(port(22, Proto::Tcp, PortState::Open)))
            .unwrap();
        assert_eq!(written.0, ["port 22/tcp open -"]);
    }

    #[test]
    fn scripts_and_facts_land_where_they_belong() {
        let mut nothing = NoWriter;
        let mut collector = Collector::new(ScanResult::default(), false, &mut nothing);
        let output = |id: &str| ScriptOutput {
            id: id.into(),
            output: "x".into(),
            table: None,
        };
        let mut finding = port(80, Proto::Tcp, PortState::Open);
        let events = [
            Event::Port(finding.clone()),
            Event::Script(ScriptSubject::PreScan, output("pre")),
            Event::Script(
                ScriptSubject::Port(ADDR, 80, Proto::Tcp),
                output("http-title"),
            ),
            Event::Script(
                ScriptSubject::Port(ADDR, 81, Proto::Tcp),
                output("lost-port"),
            ),
            Event::Host(
                ADDR,
                HostFacts {
                    up_reason: Some(Reason::ArpResponse),
                    latency: Some(std::time::Duration::from_millis(1)),
                    ..Default::default()
                },
            ),
            Event::Host(
                ADDR,
                HostFacts {
                    ptr_name: Some("web.lab.test".into()),
                    ..Default::default()
                },
            ),
        ];
        for event in events {
            collector.emit(event).unwrap();
        }
        finding.state = PortState::Closed;
        collector.emit(Event::PortChanged(finding)).unwrap();
        let result = collector.into_result();
        let host = &result.hosts[&ADDR];
        assert_eq!(result.prescripts[0].id, "pre");
        assert_eq!(host.ports[&(80, Proto::Tcp)].scripts[0].id, "http-title");
        assert_eq!(host.ports[&(80, Proto::Tcp)].state, PortState::Closed);
        assert_eq!(host.scripts[0].id, "lost-port");
        assert_eq!(host.up_reason, Some(Reason::ArpResponse));
        assert_eq!(host.latency, Some(std::time::Duration::from_millis(1)));
        assert_eq!(host.ptr_name.as_deref(), Some("web.lab.test"));
    }

    #[test]
    fn scripts_are_listed_by_name_whatever_order_they_end_in() {
        let mut nothing = NoWriter;
        let mut collector = Collector::new(ScanResult::default(), false, &mut nothing);
        let output = |id: &str| ScriptOutput {
            id: id.into(),
            output: "x".into(),
            table: None,
        };
        collector
            .emit(Event::Port(port(22, Proto::Tcp, PortState::Open)))
            .unwrap();
        for id in ["ssh-hostkey", "banner", "ssh-auth-methods"] {
            let subject = ScriptSubject::Port(ADDR, 22, Proto::Tcp);
            collector.emit(Event::Script(subject, output(id))).unwrap();
        }
        for id in ["smb-os", "asn", "ntp"] {
            let subject = ScriptSubject::Host(ADDR);
            collector.emit(Event::Script(subject, output(id))).unwrap();
        }
        let result = collector.into_result();
        let ids = |list: &[ScriptOutput]| list.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
        let host = &result.hosts[&ADDR];
        assert_eq!(
            ids(&host.ports[&(22, Proto::Tcp)].scripts),
            ["banner", "ssh-auth-methods", "ssh-hostkey"]
        );
        assert_eq!(ids(&host.scripts), ["asn", "ntp", "smb-os"]);
    }

    /// A streaming sweep writes ports and their scripts' outputs as they come and
    /// keeps none of them (its memory stays flat); what the scan-wide scripts said
    /// is kept.
    #[test]
    fn streaming_only_writes_ports_and_scripts_without_keeping_them() {
        let mut written = Written::default();
        let mut collector =
            Collector::new(ScanResult::default(), false, &mut written).streaming_only();
        let output = |id: &str| ScriptOutput {
            id: id.into(),
            output: "x".into(),
            table: None,
        };
        let events = [
            Event::Script(ScriptSubject::PreScan, output("pre")),
            Event::Service(named(port(80, Proto::Tcp, PortState::Open), "http")),
            Event::Script(
                ScriptSubject::Port(ADDR, 80, Proto::Tcp),
                output("http-title"),
            ),
            Event::Script(ScriptSubject::Host(ADDR), output("host-says")),
        ];
        for event in events {
            collector.emit(event).unwrap();
        }
        let result = collector.into_result();
        assert!(result.hosts.is_empty(), "{:?}", result.hosts);
        assert_eq!(result.prescripts.len(), 1);
        assert_eq!(
            written.0,
            [
                "script pre",
                "port 80/tcp open http",
                "script http-title",
                "script host-says"
            ]
        );
    }
}
