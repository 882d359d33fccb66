//! The stack behind each open port: one SYN with nmap's first option list (window
//! scale, MSS, timestamps, SACK) to every open TCP port of a host, its SYN+ACK read as
//! p0f reads it ([`SynAckSignature`]), and the ports whose stack differs from the rest
//! of their host named, with what differs and the likely reason: a port forwarded to
//! another machine answers with that machine's TTL, distance and options; a load
//! balancer or middlebox with its own options on the host's path.
//!
//! What is compared is what a stack decides, not what an application may set: the
//! initial TTL and distance, DF and the IP ID, the option layout, the window scale
//! and the MSS (not the window, which a server's receive buffer sets). Not the clock
//! of the TCP timestamps: Linux 6 starts each connection's at its own random offset
//! (seen in the lab: three ports of one host, three offsets), and the rate needs two
//! replies of one connection, which the reset our kernel sends to the SYN+ACK ends.
//!
//! With `--osscan-per-port` every port's fingerprint is listed ([`port_stacks`]), each
//! matched against the SYN+ACK signature database (the same `[tcp:response]` entries
//! as the passive signatures: the probe offers every option, as a client does).

use super::probes::{OsProbe, RoundPlan};
use super::synack::{initial_ttl, SynAckSignature};
use super::synack_db::SynAckDb;
use crate::model::os::{PortFingerprint, PortStack};
use crate::raw_access::RawAccess;
use anyhow::{anyhow, Result};
use scanner_common::capture::CaptureKey;
use scanner_common::wire::IPPROTO_TCP;
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

/// How long the replies are waited for.
const WAIT: Duration = Duration::from_millis(1000);

/// Sends one probe to each of `ports` of `addr` and reads each SYN+ACK.
pub async fn probe_ports(
    raw: &RawAccess,
    addr: Ipv4Addr,
    ports: &[u16],
    mut random: impl FnMut() -> u32,
) -> Result<Vec<(u16, SynAckSignature)>> {
    let mut waiting = Vec::with_capacity(ports.len());
    for &port in ports {
        let held = TcpListener::bind((raw.src_ip, 0))
            .map_err(|e| anyhow!("holding a local port for a port's probe: {e}"))?;
        let sport = held.local_addr()?.port();
        let plan = RoundPlan {
            src: raw.src_ip,
            dst: addr,
            open_tcp_port: port,
            closed_tcp_port: port,
            closed_udp_port: port,
            source_ports: [sport; 14],
            seq_base: random(),
            ack: random(),
            icmp_id: 0,
            udp_ttl: 64,
            ip_ids: [random() as u16; 16],
        };
        let key = CaptureKey::transport(IPPROTO_TCP, u32::from(addr), port, sport);
        let capture = raw.hub.open(key)?;
        raw.send_ip(&plan.packet(OsProbe::Seq(1)))
            .map_err(|e| anyhow!("sending a port's probe to {addr}:{port}: {e}"))?;
        waiting.push((port, capture, held));
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut found = Vec::new();
    for (port, mut capture, _held) in waiting {
        while let Ok(Some(captured)) = tokio::time::timeout_at(deadline, capture.next()).await {
            if let Some(signature) = SynAckSignature::read(&captured.frame, None) {
                found.push((port, signature));
                break;
            }
        }
    }
    Ok(found)
}

/// What a stack decides in its SYN+ACK, each with its name.
fn traits(signature: &SynAckSignature) -> [(&'static str, String); 5] {
    let initial = initial_ttl(signature.ttl);
    [
        (
            "TTL",
            format!("{initial} at {} hop(s)", signature.distance()),
        ),
        ("options", signature.layout_text()),
        ("window scale", signature.window_scale.to_string()),
        ("MSS", signature.mss.to_string()),
        ("IP flags", signature.quirks_text()),
    ]
}

/// The ports whose stack differs from the one most of their host's ports show (none
/// where no stack has a majority: then there is no "host's stack" to differ from).
pub fn odd_ports(stacks: &[(u16, SynAckSignature)]) -> Vec<PortStack> {
    let all: Vec<(u16, [(&str, String); 5])> =
        stacks.iter().map(|(port, s)| (*port, traits(s))).collect();
    let Some(majority) = all
        .iter()
        .map(|(_, t)| t)
        .find(|t| all.iter().filter(|(_, other)| other == *t).count() * 2 > all.len())
    else {
        return Vec::new();
    };
    all.iter()
        .filter(|(_, t)| t != majority)
        .map(|(port, t)| {
            let differs: Vec<String> = t
                .iter()
                .zip(majority.iter())
                .filter(|(ours, hosts)| ours.1 != hosts.1)
                .map(|(ours, hosts)| format!("{} {} (the host's: {})", ours.0, ours.1, hosts.1))
                .collect();
            let hops_differ = t[0] != majority[0];
            let likely = if hops_differ {
                "forwarded to another machine (its replies come from another stack at another distance)"
            } else {
                "another stack on the host's path: a load balancer, proxy or middlebox answers it"
            };
            PortStack {
                port: *port,
                differs,
                likely: likely.to_string(),
            }
        })
        .collect()
}

/// Every port's short fingerprint, matched against `db` (`--osscan-per-port`).
pub fn port_stacks(stacks: &[(u16, SynAckSignature)], db: &SynAckDb) -> Vec<PortFingerprint> {
    stacks
        .iter()
        .map(|(port, signature)| PortFingerprint {
            port: *port,
            signature: signature.to_string(),
            matched: db.best_match(signature),
            timestamp: signature.timestamp,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::craft;
    use scanner_common::wire::{TCP_FLAG_ACK, TCP_FLAG_SYN};

    fn signature(ttl: u8, options: &[u8]) -> SynAckSignature {
        let frame = craft::tcp_segment(
            ("198.18.0.16".parse().unwrap(), 22),
            ("198.18.0.1".parse().unwrap(), 40000),
            TCP_FLAG_SYN | TCP_FLAG_ACK,
            64240,
            ttl,
            options,
        );
        SynAckSignature::read(&frame, None).unwrap()
    }

    const LINUX: [u8; 20] = [
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    const NO_TS: [u8; 8] = [2, 4, 5, 0xb4, 1, 1, 4, 2];

    #[test]
    fn every_port_is_listed_with_its_match() {
        let db = crate::os::synack_db::load(None).unwrap();
        let stacks = vec![(22, signature(128, &NO_TS)), (8022, signature(63, &LINUX))];
        let listed = port_stacks(&stacks, &db);
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].signature, stacks[0].1.to_string());
        assert_eq!(listed[1].timestamp, 1);
    }

    #[test]
    fn a_port_answered_from_another_machine_is_named_and_the_rest_not() {
        let stacks = vec![
            (22, signature(128, &NO_TS)),
            (80, signature(128, &NO_TS)),
            (8022, signature(63, &LINUX)),
        ];
        let odd = odd_ports(&stacks);
        assert_eq!(odd.len(), 1);
        assert_eq!(odd[0].port, 8022);
        assert!(odd[0].likely.starts_with("forwarded"), "{:?}", odd[0]);
        assert!(odd[0].differs[0].starts_with("TTL 64 at 1 hop(s) (the host's: 128 at 0 hop(s))"));
    }

    #[test]
    fn one_stack_and_no_majority_name_nothing() {
        let same = vec![(22, signature(64, &LINUX)), (80, signature(64, &LINUX))];
        assert!(odd_ports(&same).is_empty());
        let split = vec![(22, signature(64, &LINUX)), (80, signature(128, &NO_TS))];
        assert!(
            odd_ports(&split).is_empty(),
            "no host's stack to differ from"
        );
        // Another option layout at the same distance: a middlebox, not a forward.
        let stacks = vec![
            (22, signature(64, &LINUX)),
            (80, signature(64, &LINUX)),
            (443, signature(64, &NO_TS)),
        ];
        let odd = odd_ports(&stacks);
        assert_eq!(odd.len(), 1);
        assert!(odd[0].likely.starts_with("another stack"));
    }
}
