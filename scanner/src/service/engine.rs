//! Naming the service on one port: which probes to send, in what order, and how their
//! answers decide, as nmap does, but without waiting out each silent probe in turn.
//!
//! The order is nmap's: the NULL probe (listen for a greeting) first, then the probes
//! that list the port, then the others whose rarity is within the intensity, in file
//! order. The answer is nmap's too: the first hard match in that order wins, a soft
//! match narrows the later probes to its service, and a connection closed at once
//! without a word is `tcpwrapped`.
//!
//! What differs is the timing. Once the greeting has been silent for
//! [`SPECULATE_AFTER`], the next probes go out on parallel connections (up to
//! [`WINDOW`] per port, within the host's connection limit), and answers are read in
//! plan order as they arrive. A later hard match is taken while an earlier probe is
//! still waiting only when that earlier one has been silent for [`SILENT_GRACE`]: a
//! service that has said nothing by then is not about to greet. A service that
//! echoes or says nothing costs a few probe waits, not the sum of them all. A
//! service that serves one connection at a time leaves the ones queued behind the
//! first unanswered, or closes them: a probe that got nothing while an earlier one
//! was still out is sent again, once; and a greeting still withheld after
//! [`NULL_PATIENCE`] while every other probe waits too has its connection closed, so
//! that the others are served, and is listened for again at the end of the plan.
//!
//! TLS: on ports the database marks as TLS (`sslports`), a handshake is tried first;
//! elsewhere a match naming `ssl` (or `ssl/…`) starts one. Inside the session the
//! probing starts again, and the certificate is kept.

use super::exchange::{exchange, new_flag, Answer, Layer};
use super::matcher::ServiceMatch;
use super::probes::{PortRange, ProbeDb, Transport};
use super::tls::CertificateInfo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

/// How long the first probe runs alone before others start beside it.
pub const SPECULATE_AFTER: Duration = Duration::from_millis(250);
/// How long an earlier probe must have been silent for a later hard match to win.
pub const SILENT_GRACE: Duration = Duration::from_millis(1000);
/// How long the greeting (NULL probe) is waited for while every other probe out is
/// silent too, before its connection is closed and the probe put last in the plan.
/// A service that serves one connection at a time serves the others then.
pub const NULL_PATIENCE: Duration = Duration::from_millis(2000);
/// TCP probes of one port in flight at once (UDP probes all go at once).
pub const WINDOW: usize = 8;
/// How often a port's probing looks at its probes while it waits.
const TICK: Duration = Duration::from_millis(50);

/// The connections a port's probing may open: a permit from its host's limit and
/// one from the scan's, per connection.
#[derive(Clone, Debug)]
pub struct Limits {
    pub host: Arc<Semaphore>,
    pub all: Arc<Semaphore>,
}

/// What probing a port found out.
#[derive(Debug, Default)]
pub struct Identified {
    /// The deciding match (hard, or the soft one when no hard one came).
    pub found: Option<ServiceMatch>,
    /// The connection was closed at once, without a word.
    pub tcpwrapped: bool,
    /// Found inside TLS.
    pub over_tls: bool,
    pub certificate: Option<CertificateInfo>,
    /// Some probe got an answer.
    pub answered: bool,
    /// Some connection (or TLS handshake) was made.
    pub reachable: bool,
}

impl ProbeDb {
    /// The probes (indices into `probes`) for `port` over `transport`, in the order
    /// they are tried. `ssl` picks by `sslports` instead of `ports` (probing inside
    /// TLS). An `Exclude`d port gets none.
    pub fn plan(&self, transport: Transport, port: u16, intensity: u8, ssl: bool) -> Vec<usize> {
        let within =
            |ranges: &[PortRange]| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&port));
        if self
            .exclude
            .iter()
            .any(|&(t, range)| t == transport && within(&[range]))
        {
            return Vec::new();
        }
        let of_transport = || {
            self.probes
                .iter()
                .enumerate()
                .filter(move |(_, p)| p.transport == transport)
        };
        let null = of_transport().filter(|(_, p)| p.name == "NULL");
        let listed = of_transport()
            .filter(|(_, p)| p.name != "NULL" && within(if ssl { &p.ssl_ports } else { &p.ports }));
        let rest = of_transport().filter(|(_, p)| {
            p.name != "NULL"
                && !within(if ssl { &p.ssl_ports } else { &p.ports })
                && p.rarity.unwrap_or(1) <= intensity
        });
        null.chain(listed).chain(rest).map(|(i, _)| i).collect()
    }

    /// Whether a TLS handshake is tried first on `port`: some probe lists it in
    /// `sslports`.
    pub fn tls_first(&self, port: u16) -> bool {
        self.probes.iter().any(|p| {
            p.transport == Transport::Tcp
                && p.ssl_ports
                    .iter()
                    .any(|&(lo, hi)| (lo..=hi).contains(&port))
        })
    }
}

/// Names the service on TCP port `addr`, TLS included.
pub async fn identify_tcp(
    db: &Arc<ProbeDb>,
    addr: SocketAddr,
    intensity: u8,
    limits: &Limits,
) -> Identified {
    let port = addr.port();
    if db.tls_first(port) {
        let plan = db.plan(Transport::Tcp, port, intensity, true);
        let inside = run_plan(db, addr, Layer::Tls, plan, limits).await;
        if inside.reachable {
            return Identified {
                over_tls: true,
                ..inside
            };
        }
    }
    let plain = run_plan(
        db,
        addr,
        Layer::Tcp,
        db.plan(Transport::Tcp, port, intensity, false),
        limits,
    )
    .await;
    let names_tls = plain
        .found
        .as_ref()
        .is_some_and(|m| m.service == "ssl" || m.service.starts_with("ssl/"));
    if !names_tls || db.tls_first(port) {
        return plain;
    }
    let plan = db.plan(Transport::Tcp, port, intensity, true);
    let inside = run_plan(db, addr, Layer::Tls, plan, limits).await;
    if !inside.reachable {
        return plain;
    }
    Identified {
        // Inside TLS nothing matched: what the plain answer said stands.
        found: inside.found.or(plain.found),
        over_tls: true,
        answered: true,
        reachable: true,
        tcpwrapped: false,
        certificate: inside.certificate,
    }
}

/// Names the service on UDP port `addr`.
pub async fn identify_udp(
    db: &Arc<ProbeDb>,
    addr: SocketAddr,
    intensity: u8,
    limits: &Limits,
) -> Identified {
    let plan = db.plan(Transport::Udp, addr.port(), intensity, false);
    run_plan(db, addr, Layer::Udp, plan, limits).await
}

/// One planned probe's progress.
enum Slot {
    Waiting,
    Running {
        heard: Arc<AtomicBool>,
        started: Instant,
        task: AbortHandle,
    },
    /// Finished; `hard` says whether its answer hard-matched when it arrived.
    Done {
        answer: Box<Answer>,
        hard: bool,
    },
    /// Skipped (a soft match ruled it out) or given up (silent past the grace).
    Dropped,
}

impl Slot {
    fn is_running(&self) -> bool {
        matches!(self, Slot::Running { .. })
    }

    /// A running probe that has had some bytes back.
    fn has_heard(&self) -> bool {
        matches!(self, Slot::Running { heard, .. } if heard.load(Ordering::Relaxed))
    }
}

/// Whether the first slot (the NULL probe) is a greeting withheld for
/// [`NULL_PATIENCE`] while other probes are out and every one of them is silent too.
fn greeting_withheld(slots: &[Slot]) -> bool {
    let Some(Slot::Running { started, .. }) = slots.first() else {
        return false;
    };
    slots[1..].iter().any(Slot::is_running)
        && !slots.iter().any(Slot::has_heard)
        && started.elapsed() >= NULL_PATIENCE
}

/// Sends the probes of `plan` to `addr` over `layer` and reads the answers in order.
async fn run_plan(
    db: &Arc<ProbeDb>,
    addr: SocketAddr,
    layer: Layer,
    mut plan: Vec<usize>,
    limits: &Limits,
) -> Identified {
    let mut slots: Vec<Slot> = plan.iter().map(|_| Slot::Waiting).collect();
    // Per slot: started while an earlier probe's connection was open; already re-sent.
    let mut overlapped = vec![false; plan.len()];
    let mut resent = vec![false; plan.len()];
    let mut tasks: JoinSet<(usize, Answer)> = JoinSet::new();
    let mut out = Identified::default();
    let mut soft: Option<ServiceMatch> = None;
    let mut next_to_read = 0;
    let began = Instant::now();
    loop {
        // Start probes: the first alone, then up to WINDOW at once.
        let mut running = slots.iter().filter(|s| s.is_running()).count();
        // Others join the first only while every probe out has been silent: a
        // service that is talking is answering, and gets nmap's one at a time.
        let all_silent = !slots.iter().any(Slot::has_heard);
        let most = match layer {
            // A UDP probe is one datagram and holds no connection: all may go at once,
            // within the host's limit.
            Layer::Udp => plan.len(),
            _ if began.elapsed() >= SPECULATE_AFTER && all_silent => WINDOW,
            _ => 1,
        };
        for (slot_index, slot) in slots.iter_mut().enumerate() {
            if running >= most {
                break;
            }
            if !matches!(slot, Slot::Waiting) {
                continue;
            }
            let probe = &db.probes[plan[slot_index]];
            if let Some(service) = soft.as_ref().map(|m| m.service.as_str()) {
                if !db.can_name(probe, service) {
                    *slot = Slot::Dropped;
                    continue;
                }
            }
            overlapped[slot_index] = running > 0;
            let heard = new_flag();
            let (db, limits, flag) = (db.clone(), limits.clone(), heard.clone());
            let probe_index = plan[slot_index];
            let task = tasks.spawn(async move {
                let _host = limits.host.acquire_owned().await;
                let _all = limits.all.acquire_owned().await;
                let answer = exchange(addr, layer, &db.probes[probe_index], &flag).await;
                (slot_index, answer)
            });
            *slot = Slot::Running {
                heard,
                started: Instant::now(),
                task,
            };
            running += 1;
        }

        // A greeting withheld while every other probe waits too: the service may
        // serve one connection at a time. Its turn goes to the others; the NULL
        // probe is sent again last.
        let first_is_null = plan.first().is_some_and(|&i| db.probes[i].name == "NULL");
        if first_is_null && next_to_read == 0 && !resent[0] && greeting_withheld(&slots) {
            if let Slot::Running { task, .. } = &slots[0] {
                task.abort();
            }
            slots[0] = Slot::Dropped;
            plan.push(plan[0]);
            slots.push(Slot::Waiting);
            overlapped.push(false);
            resent.push(true);
        }

        // Read the answers that are next in plan order.
        let later_hard = slots[next_to_read..]
            .iter()
            .position(|s| matches!(s, Slot::Done { hard: true, .. }))
            .map(|offset| next_to_read + offset);
        while let Some(slot) = slots.get_mut(next_to_read) {
            match slot {
                Slot::Waiting => break,
                Slot::Running {
                    heard,
                    started,
                    task,
                } => {
                    let silent_long =
                        !heard.load(Ordering::Relaxed) && started.elapsed() >= SILENT_GRACE;
                    if later_hard.is_some_and(|j| j > next_to_read) && silent_long {
                        task.abort();
                        *slot = Slot::Dropped;
                    } else {
                        break;
                    }
                }
                Slot::Dropped => {}
                Slot::Done { answer, .. } => {
                    let probe = &db.probes[plan[next_to_read]];
                    let answer = std::mem::take(answer.as_mut());
                    out.reachable |= !answer.failed;
                    if out.certificate.is_none() {
                        out.certificate = answer.certificate;
                    }
                    if probe.name == "NULL" && answer.closed_at_once && layer != Layer::Udp {
                        out.tcpwrapped = true;
                        return out;
                    }
                    if !answer.bytes.is_empty() {
                        out.answered = true;
                        let known = soft.as_ref().map(|m| m.service.as_str());
                        if let Some(hit) = db.match_response(probe, &answer.bytes, known) {
                            if !hit.soft {
                                out.found = Some(hit);
                                return out;
                            }
                            soft.get_or_insert(hit);
                        }
                    }
                }
            }
            next_to_read += 1;
        }
        if next_to_read == slots.len() {
            out.found = soft;
            return out;
        }

        // Wait for an answer, or the next look.
        let joined = match tokio::time::timeout(TICK, tasks.join_next_with_id()).await {
            Ok(Some(joined)) => joined,
            _ => continue,
        };
        let (slot_index, answer) = match joined {
            Ok((_, done)) => done,
            Err(err) => {
                // Aborted (given up) or, were an exchange ever to panic, lost: either
                // way that probe gives nothing.
                if let Some(slot) = slots
                    .iter_mut()
                    .find(|s| matches!(s, Slot::Running { task, .. } if task.id() == err.id()))
                {
                    *slot = Slot::Dropped;
                }
                continue;
            }
        };
        {
            let probe = &db.probes[plan[slot_index]];
            let known = soft.as_ref().map(|m| m.service.as_str());
            let hard = !answer.bytes.is_empty()
                && db
                    .match_response(probe, &answer.bytes, known)
                    .is_some_and(|m| !m.soft);
            // A service that serves one connection at a time leaves the ones queued
            // behind another probe's unanswered, or closes them: a TCP probe that got
            // nothing while an earlier one was still out is sent again, once. (UDP
            // probes hold no connection, and all go at once.)
            let earlier_out = slots[..slot_index].iter().any(Slot::is_running);
            let queued_out = layer != Layer::Udp
                && answer.bytes.is_empty()
                && overlapped[slot_index]
                && (answer.closed || earlier_out);
            slots[slot_index] = if queued_out && !resent[slot_index] {
                resent[slot_index] = true;
                Slot::Waiting
            } else {
                Slot::Done {
                    answer: Box::new(answer),
                    hard,
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &[u8] = b"Exclude T:9100\n\
Probe TCP NULL q||\n\
match ssh m|^SSH-|\n\
Probe TCP Common q|x|\n\
rarity 1\n\
ports 80\n\
sslports 443\n\
match http m|^HTTP/|\n\
Probe TCP Rare q|y|\n\
rarity 8\n\
ports 8080\n\
match rare m|^rare|\n\
Probe TCP Middling q|z|\n\
rarity 5\n\
match http m|^zhttp|\n\
Probe UDP Dns q|d|\n\
rarity 1\n\
ports 53\n\
match domain m|^d|\n";

    fn names(db: &ProbeDb, plan: Vec<usize>) -> Vec<&str> {
        plan.into_iter()
            .map(|i| db.probes[i].name.as_str())
            .collect()
    }

    #[test]
    fn plans_follow_nmaps_order_and_intensity() {
        let db = ProbeDb::parse(DB, "test").unwrap();
        // NULL, the port's own probes whatever their rarity, then the rest by rarity.
        let plan = db.plan(Transport::Tcp, 8080, 7, false);
        assert_eq!(names(&db, plan), ["NULL", "Rare", "Common", "Middling"]);
        let plan = db.plan(Transport::Tcp, 22, 7, false);
        assert_eq!(names(&db, plan), ["NULL", "Common", "Middling"]);
        let plan = db.plan(Transport::Tcp, 22, 0, false);
        assert_eq!(names(&db, plan), ["NULL"]);
        let plan = db.plan(Transport::Tcp, 22, 9, false);
        assert_eq!(names(&db, plan), ["NULL", "Common", "Rare", "Middling"]);
        // Inside TLS, sslports pick the port's probes.
        let plan = db.plan(Transport::Tcp, 443, 2, true);
        assert_eq!(names(&db, plan), ["NULL", "Common"]);
        assert!(db.tls_first(443) && !db.tls_first(80));
        // Excluded ports get nothing; UDP plans hold UDP probes only.
        assert!(db.plan(Transport::Tcp, 9100, 9, false).is_empty());
        let plan = db.plan(Transport::Udp, 53, 7, false);
        assert_eq!(names(&db, plan), ["Dns"]);
    }

    #[test]
    fn a_soft_match_rules_out_probes_that_cannot_name_its_service() {
        let db = ProbeDb::parse(DB, "test").unwrap();
        let middling = db.probe(Transport::Tcp, "Middling").unwrap();
        let rare = db.probe(Transport::Tcp, "Rare").unwrap();
        assert!(db.can_name(middling, "http"));
        assert!(!db.can_name(rare, "http"));
        // The NULL probe's lines are read with every TCP answer.
        assert!(db.can_name(rare, "ssh"));
    }
}
