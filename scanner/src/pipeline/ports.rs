//! The port scanners the one sequence runs over: raw probes through the probe loop
//! ([`Prober`]: a TCP probe scan, the UDP scan, or both), or connects through the
//! kernel's sockets (`portscan::connect`, `-sT`). The sequence hands either a group of
//! hosts that are up and an event sink; how the ports are found is this module's
//! business alone. It does not find hosts up (`hosts`) nor run what follows the ports.

use crate::engine::probing::{Prober, Timing};
use crate::model::{EventSink, Proto, ScanInfo};
use crate::packet::template::{SegmentKind, SYN_MSS};
use crate::portscan::connect::{self, ConnectScanOptions, ConnectScanStats};
use crate::portscan::syn::{TcpProbe, TcpScan};
use crate::portscan::udp::UdpScan;
use crate::target::{ports::PortList, TargetSet};
use anyhow::{Context, Result};
use scanner_common::wire::TCP_FLAG_SYN;
use std::net::Ipv4Addr;

/// How the ports of the hosts up are scanned.
#[derive(Clone, Debug)]
pub enum PortScanner {
    /// Raw probes on the probe loop: the TCP probe scan (SYN, ACK, FIN, ...) with its
    /// ports, the UDP scan with its ports, or both (`-sSU`).
    Raw {
        tcp: Option<(TcpProbe, PortList)>,
        udp: Option<PortList>,
    },
    /// A connect to every port (`-sT`): no privileges needed.
    Connect {
        ports: PortList,
        /// Extra attempts of a connect that timed out.
        retries: u8,
        /// Connects in flight at once.
        parallelism: usize,
    },
}

impl PortScanner {
    /// The port scans that run (nmap's `<scaninfo>`s): two for -sSU.
    pub fn scans(&self) -> Vec<ScanInfo> {
        match self {
            Self::Raw { tcp, udp } => {
                let tcp = tcp.as_ref().map(|(probe, ports)| ScanInfo {
                    kind: probe.reading.name(),
                    protocol: Proto::Tcp,
                    ports: ports.as_slice().to_vec(),
                });
                let udp = udp.as_ref().map(|ports| ScanInfo {
                    kind: "udp",
                    protocol: Proto::Udp,
                    ports: ports.as_slice().to_vec(),
                });
                tcp.into_iter().chain(udp).collect()
            }
            Self::Connect { ports, .. } => vec![connect::scan_info(ports)],
        }
    }

    /// How many findings each host scanned gets: one per port scanned.
    pub fn ports_per_host(&self) -> u64 {
        let len = |ports: &PortList| ports.len() as u64;
        match self {
            Self::Raw { tcp, udp } => {
                tcp.as_ref().map_or(0, |(_, ports)| len(ports)) + udp.as_ref().map_or(0, len)
            }
            Self::Connect { ports, .. } => len(ports),
        }
    }

    /// Whether it sends raw packets (and so needs the probe loop open).
    pub fn is_raw(&self) -> bool {
        matches!(self, Self::Raw { .. })
    }

    /// Where raw TCP probes carry SYN (so open ports answer with SYN+ACKs): the MSS
    /// option they carry (`Some(None)`: none).
    pub fn syn_probe_mss(&self) -> Option<Option<u16>> {
        match self {
            Self::Raw {
                tcp: Some((probe, _)),
                ..
            } if probe.flags & TCP_FLAG_SYN != 0 => {
                Some((probe.segment() == SegmentKind::Syn).then_some(SYN_MSS))
            }
            _ => None,
        }
    }

    /// Scans the ports of `group` (hosts up), emitting every finding into `sink` as it
    /// is made; raw probes go through `prober`, which a raw scanner needs.
    pub async fn scan(
        &self,
        prober: Option<&mut Prober>,
        group: &[Ipv4Addr],
        timing: &Timing,
        sink: &mut dyn EventSink,
        connects: &mut ConnectScanStats,
    ) -> Result<()> {
        if group.is_empty() {
            return Ok(());
        }
        match self {
            Self::Raw { tcp, udp } => {
                let prober = prober.context(
                    "a raw port scan runs on the probe loop, which is not open: this is a bug",
                )?;
                let link = prober.link();
                if let Some((probe, ports)) = tcp {
                    let mut scan = TcpScan::new(*probe, &link, &mut *sink);
                    prober
                        .run(&mut scan, group, ports.as_slice(), timing)
                        .await?;
                }
                if let Some(ports) = udp {
                    let mut scan = UdpScan::new(&link, &mut *sink);
                    prober
                        .run(&mut scan, group, ports.as_slice(), timing)
                        .await?;
                }
            }
            Self::Connect {
                ports,
                retries,
                parallelism,
            } => {
                let opts = ConnectScanOptions {
                    targets: TargetSet::from_addrs(group.iter().copied()),
                    ports: ports.clone(),
                    retries: *retries,
                    parallelism: *parallelism,
                };
                let stats = connect::run(&opts, sink).await?;
                connects.attempts += stats.attempts;
                connects.timeouts += stats.timeouts;
            }
        }
        Ok(())
    }
}
