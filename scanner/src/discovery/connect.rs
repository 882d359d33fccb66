//! Host discovery without raw packets (no root, no CAP_NET_RAW), as nmap does it then:
//! a TCP connect to ports 80 and 443 of every target. A connection accepted or
//! refused means the host is up; silence or "unreachable" means down. Ordinary
//! sockets on the tokio loop, many targets at once.

use super::HostStatus;
use crate::model::Reason;
use crate::portscan::connect::{attempt, Outcome};
use crate::target::TargetSet;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::task::JoinSet;

/// The ports nmap connects to when it cannot send raw pings.
pub const PORTS: [u16; 2] = [80, 443];
/// How long one connect may take, and how many times a silent host is tried.
const TIMEOUT: Duration = Duration::from_millis(1000);
const TRIES: usize = 2;

/// The targets that are up, each with why, `parallelism` connects at a time. The
/// addresses are taken from the set as they are pinged and the hosts down are not
/// kept, so the memory this takes follows the hosts up, not the set's size.
pub async fn ping(targets: &TargetSet, parallelism: usize) -> BTreeMap<Ipv4Addr, HostStatus> {
    let mut statuses = BTreeMap::new();
    let mut queue = targets.iter();
    let mut in_flight = JoinSet::new();
    loop {
        while in_flight.len() < parallelism.max(1) {
            let Some(addr) = queue.next() else {
                break;
            };
            in_flight.spawn(async move { (addr, ping_one(addr).await) });
        }
        let Some(joined) = in_flight.join_next().await else {
            break;
        };
        match joined {
            Ok((addr, status)) if status.up => {
                statuses.insert(addr, status);
            }
            _ => {}
        }
    }
    statuses
}

/// Both ports at once, up to [`TRIES`] times while neither answers.
async fn ping_one(addr: Ipv4Addr) -> HostStatus {
    let mut reason = Reason::NoResponse;
    for _ in 0..TRIES {
        let (a, b) = tokio::join!(
            attempt(addr, PORTS[0], TIMEOUT),
            attempt(addr, PORTS[1], TIMEOUT)
        );
        for outcome in [a, b] {
            match outcome {
                Outcome::Accepted(_) => return up(Reason::SynAck),
                Outcome::Refused(_) => return up(Reason::ConnRefused),
                Outcome::Unreachable => reason = Reason::HostUnreach,
                Outcome::TimedOut => {}
            }
        }
        if reason == Reason::HostUnreach {
            break;
        }
    }
    HostStatus {
        up: false,
        reason,
        ttl: None,
        ping: None,
    }
}

fn up(reason: Reason) -> HostStatus {
    HostStatus {
        up: true,
        reason,
        ttl: None,
        ping: None,
    }
}
