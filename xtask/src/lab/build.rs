//! Bringing the lab up and down: namespaces, veth links, the bridge, addresses,
//! routes, firewalls, stack tuning, and the daemons (via [`super::daemons`]).
//!
//! `up` first removes whatever a previous lab left behind, so it is idempotent.
//! Only namespaces named `lab-*` are created, and `down` removes only what `up` made,
//! as `up` recorded it ([`super::record`]): never another `lab-*` namespace.

use super::record::{live_namespaces, live_processes, select, Made, RECORD_FILE};
use super::{
    daemons, hosts, Firewall, Host, Segment, Stack, FAR_SEGMENT, ROUTER_FAR_ADDR, SCANNER_ADDR,
    SCANNER_IFACE, SCANNER_NS, SEGMENT, SINK_RANGE, STATE_DIR, SWEEP_RANGE, SWITCH_NS,
};
use crate::shell::{in_ns, output, run};
use anyhow::{bail, Context, Result};

const BRIDGE: &str = "br0";
/// Transmit queues of the scanner's interface (AF_XDP sender threads, one per queue).
const SCANNER_QUEUES: u32 = 2;

/// Builds the whole lab from scratch and waits until every daemon listens.
pub fn up() -> Result<()> {
    down()?;
    // Written as the lab is made, so that `down` also clears a lab half made.
    let mut made = Made::start(&record_path())?;
    run("ip", &["netns", "add", SWITCH_NS])?;
    made.namespace(SWITCH_NS)?;
    in_ns(SWITCH_NS, &["ip", "link", "add", BRIDGE, "type", "bridge"])?;
    in_ns(SWITCH_NS, &["ip", "link", "set", BRIDGE, "up"])?;
    bridge_without_netfilter()?;

    add_namespace(SCANNER_NS, &mut made)?;
    attach_to_bridge(SCANNER_NS, "s-scanner", SCANNER_QUEUES)?;
    // A veth takes XDP frames (the scanner's `--send-mode xdp`) only when its peer
    // runs NAPI, which GRO turns on; without it they are dropped, and the scanner
    // says so. A NIC's driver needs nothing of the kind.
    in_ns(SWITCH_NS, &["ethtool", "-K", "s-scanner", "gro", "on"])?;
    configure_iface(
        SCANNER_NS,
        SCANNER_IFACE,
        &format!("{SCANNER_ADDR}/24"),
        false,
    )?;
    let all = hosts();
    let router = all
        .iter()
        .find(|h| h.is_router)
        .context("the lab needs a router")?;
    let sweep = all
        .iter()
        .find(|h| h.answers_range.is_some())
        .context("the lab needs a sweep host")?;
    add_route(SCANNER_NS, FAR_SEGMENT, router.addr)?;
    let sink = all
        .iter()
        .find(|h| h.name == "sink")
        .context("the lab needs a sink host")?;
    add_route(SCANNER_NS, SINK_RANGE, sink.addr)?;
    in_ns(
        SCANNER_NS,
        &[
            "ip",
            "route",
            "add",
            SWEEP_RANGE,
            "via",
            &sweep.addr.to_string(),
        ],
    )?;

    for host in &all {
        build_host(host, router, &mut made)?;
    }
    daemons::prepare_shared_state()?;
    for host in &all {
        daemons::start(host)?;
    }
    for host in &all {
        daemons::wait_until_listening(host)?;
    }
    let dns = all
        .iter()
        .find(|h| h.daemons.contains(&super::Daemon::Dnsmasq))
        .context("the lab needs a DNS host")?;
    let resolv = std::path::Path::new(super::SCANNER_RESOLV_CONF);
    let resolv_folder = resolv.parent().expect("a folder");
    if !resolv_folder.exists() {
        std::fs::create_dir_all(resolv_folder)?;
        made.folder(resolv_folder)?;
    }
    std::fs::write(
        resolv,
        format!("nameserver {}\nsearch {}\n", dns.addr, super::DOMAIN),
    )?;
    set_loss(0.0)?;
    for host in &all {
        add_syn_counter(host)?;
    }
    made.processes_now()
}

/// Where `up` records what it made.
fn record_path() -> std::path::PathBuf {
    std::path::Path::new(STATE_DIR).join(RECORD_FILE)
}

/// Chain that counts the TCP SYNs arriving at a target (before any loss is applied),
/// so tests can check exactly what a scan sent.
const COUNT_CHAIN: &str = "LAB-COUNT";

fn add_syn_counter(host: &Host) -> Result<()> {
    let ns = host.namespace();
    iptables(&ns, &["-N", COUNT_CHAIN])?;
    iptables(&ns, &["-A", COUNT_CHAIN, "-p", "tcp", "--syn"])?;
    iptables(&ns, &["-I", "INPUT", "1", "-j", COUNT_CHAIN])
}

/// TCP SYNs that have arrived at `host` since the last [`reset_syn_count`].
pub fn syn_count(host: &Host) -> Result<u64> {
    let out = output(
        "ip",
        &[
            "netns",
            "exec",
            &host.namespace(),
            "iptables",
            "-w",
            "-L",
            COUNT_CHAIN,
            "-v",
            "-x",
            "-n",
        ],
    )?;
    out.lines()
        .nth(2)
        .and_then(|line| line.split_whitespace().next())
        .and_then(|packets| packets.parse().ok())
        .with_context(|| format!("cannot read the SYN counter of lab host {}", host.name))
}

/// Zeroes the SYN counter of `host`.
pub fn reset_syn_count(host: &Host) -> Result<()> {
    iptables(&host.namespace(), &["-Z", COUNT_CHAIN])
}

fn build_host(host: &Host, router: &Host, made: &mut Made) -> Result<()> {
    let ns = host.namespace();
    add_namespace(&ns, made)?;
    match host.segment {
        Segment::OnLink => {
            // The sink absorbs multi-threaded senders: as many queues as the scanner.
            let queues = if host.name == "sink" {
                SCANNER_QUEUES
            } else {
                1
            };
            attach_to_bridge(&ns, &format!("s-{}", host.name), queues)?;
            configure_iface(&ns, "eth0", &format!("{}/24", host.addr), true)?;
            if !host.is_router {
                // Replies to the far segment (the router's scans, DNAT) go back through it.
                add_route(&ns, FAR_SEGMENT, router.addr)?;
            }
        }
        Segment::OnLinkPromiscuous => {
            // A veth pair to the bridge whose inner end stays in the switch, and a
            // macvlan on that end as the host's eth0.
            let port = format!("s-{}", host.name);
            let parent = format!("p-{}", host.name);
            let macvlan = format!("m-{}", host.name);
            in_ns(
                SWITCH_NS,
                &[
                    "ip", "link", "add", &port, "type", "veth", "peer", "name", &parent,
                ],
            )?;
            in_ns(
                SWITCH_NS,
                &["ip", "link", "set", &port, "master", BRIDGE, "up"],
            )?;
            in_ns(SWITCH_NS, &["ip", "link", "set", &parent, "up"])?;
            in_ns(
                SWITCH_NS,
                &[
                    "ip", "link", "add", "link", &parent, "name", &macvlan, "type", "macvlan",
                    "mode", "private",
                ],
            )?;
            in_ns(SWITCH_NS, &["ip", "link", "set", &macvlan, "netns", &ns])?;
            in_ns(&ns, &["ip", "link", "set", &macvlan, "name", "eth0"])?;
            configure_iface(&ns, "eth0", &format!("{}/24", host.addr), true)?;
            set_promiscuous(host, true)?;
            add_route(&ns, FAR_SEGMENT, router.addr)?;
        }
        Segment::BehindRouter => {
            let router_ns = router.namespace();
            let router_if = format!("r-{}", host.name);
            in_ns(
                &router_ns,
                &[
                    "ip", "link", "add", &router_if, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
            )?;
            configure_iface(
                &router_ns,
                &router_if,
                &format!("{ROUTER_FAR_ADDR}/24"),
                true,
            )?;
            configure_iface(&ns, "eth0", &format!("{}/24", host.addr), true)?;
            in_ns(
                &ns,
                &[
                    "ip",
                    "route",
                    "add",
                    "default",
                    "via",
                    &ROUTER_FAR_ADDR.to_string(),
                ],
            )?;
        }
    }
    if host.is_router {
        sysctl(&ns, "net.ipv4.ip_forward", "1")?;
    }
    if let Some(range) = host.answers_range {
        in_ns(&ns, &["ip", "route", "add", "local", range, "dev", "lo"])?;
        // It stands for 65,536 machines: a connection version detection closed must
        // not leave a TIME-WAIT that makes the next sweep's SYN from the same source
        // port draw an ACK instead of a SYN+ACK (real machines, each its own, see one
        // scan at a time).
        sysctl(&ns, "net.ipv4.tcp_max_tw_buckets", "0")?;
        // Nor may a full listen queue (thousands of version-detection connections
        // at once) drop a sweep's SYN: one machine each would have a queue of its own.
        sysctl(&ns, "net.core.somaxconn", "65535")?;
        sysctl(&ns, "net.ipv4.tcp_max_syn_backlog", "65535")?;
    }
    if host.stack == Stack::Ttl128NoTimestampsNoWscale {
        sysctl(&ns, "net.ipv4.ip_default_ttl", "128")?;
        sysctl(&ns, "net.ipv4.tcp_timestamps", "0")?;
        sysctl(&ns, "net.ipv4.tcp_window_scaling", "0")?;
    }
    apply_firewall(host)?;
    apply_forwards(host)?;
    Ok(())
}

/// Turns promiscuous mode of `host`'s eth0 on or off.
pub fn set_promiscuous(host: &Host, on: bool) -> Result<()> {
    let mode = if on { "on" } else { "off" };
    in_ns(
        &host.namespace(),
        &["ip", "link", "set", "eth0", "promisc", mode],
    )
}

fn add_route(ns: &str, prefix: &str, via: std::net::Ipv4Addr) -> Result<()> {
    in_ns(ns, &["ip", "route", "add", prefix, "via", &via.to_string()])
}

fn add_namespace(ns: &str, made: &mut Made) -> Result<()> {
    run("ip", &["netns", "add", ns])?;
    made.namespace(ns)?;
    in_ns(ns, &["ip", "link", "set", "lo", "up"])?;
    // Keep the lab quiet: no IPv6 autoconfiguration chatter on the segment.
    sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")?;
    sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
}

/// A machine of the lab's segment: namespace `ns` (recorded in `made`), its `eth0`
/// on the bridge through `port`, at `addr`; a `target` of scans computes its
/// checksums in full, as the lab's hosts do.
pub fn add_machine(
    ns: &str,
    port: &str,
    addr: std::net::Ipv4Addr,
    target: bool,
    made: &mut Made,
) -> Result<()> {
    add_namespace(ns, made)?;
    attach_to_bridge(ns, port, 1)?;
    configure_iface(ns, "eth0", &format!("{addr}/24"), target)
}

/// Creates a veth pair: `port` on the bridge, `eth0` in `ns`, each with `queues`
/// transmit and receive queues (the scanner's has several, for one AF_XDP sender
/// thread per queue).
fn attach_to_bridge(ns: &str, port: &str, queues: u32) -> Result<()> {
    let queues = queues.to_string();
    let q = queues.as_str();
    in_ns(
        SWITCH_NS,
        &[
            "ip",
            "link",
            "add",
            port,
            "numtxqueues",
            q,
            "numrxqueues",
            q,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "numtxqueues",
            q,
            "numrxqueues",
            q,
            "netns",
            ns,
        ],
    )?;
    in_ns(
        SWITCH_NS,
        &["ip", "link", "set", port, "master", BRIDGE, "up"],
    )
}

/// Sets the address, brings the interface up, and on target hosts turns TX checksum
/// offload off, so the scanner's XDP program sees finished checksums (NOTES.md).
fn configure_iface(ns: &str, iface: &str, cidr: &str, target_side: bool) -> Result<()> {
    in_ns(ns, &["ip", "addr", "add", cidr, "dev", iface])?;
    in_ns(ns, &["ip", "link", "set", iface, "up"])?;
    if target_side {
        in_ns(ns, &["ethtool", "-K", iface, "tx", "off"])?;
    }
    Ok(())
}

/// The bridge is a plain switch: where `br_netfilter` is loaded (Docker loads it), every
/// bridged frame would also pass through the switch's netfilter hooks (about a tenth
/// of a sweep's CPU samples here), and only on machines where some other program
/// loaded the module. The hosts' own firewalls are in their own namespaces. Without
/// the module the keys do not exist, which `sysctl -e` lets pass.
fn bridge_without_netfilter() -> Result<()> {
    let keys = ["iptables", "ip6tables", "arptables"]
        .map(|table| format!("net.bridge.bridge-nf-call-{table}=0"));
    let mut args = vec!["sysctl", "-e", "-q", "-w"];
    args.extend(keys.iter().map(String::as_str));
    in_ns(SWITCH_NS, &args)
}

fn sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    in_ns(ns, &["sysctl", "-q", "-w", &format!("{key}={value}")])
}

fn iptables(ns: &str, args: &[&str]) -> Result<()> {
    let mut full = vec!["iptables", "-w"];
    full.extend_from_slice(args);
    in_ns(ns, &full)
}

fn apply_firewall(host: &Host) -> Result<()> {
    let ns = host.namespace();
    match host.firewall {
        Firewall::None => {}
        Firewall::DropAllTcpExcept(allowed) => {
            iptables(&ns, &["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"])?;
            iptables(
                &ns,
                &[
                    "-A",
                    "INPUT",
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "ESTABLISHED,RELATED",
                    "-j",
                    "ACCEPT",
                ],
            )?;
            for port in allowed {
                iptables(
                    &ns,
                    &[
                        "-A",
                        "INPUT",
                        "-p",
                        "tcp",
                        "--dport",
                        &port.to_string(),
                        "-j",
                        "ACCEPT",
                    ],
                )?;
            }
            iptables(&ns, &["-A", "INPUT", "-p", "tcp", "-j", "DROP"])?;
        }
        Firewall::RejectTcp(ranges) => {
            for &(lo, hi) in ranges {
                iptables(
                    &ns,
                    &[
                        "-A",
                        "INPUT",
                        "-p",
                        "tcp",
                        "--dport",
                        &format!("{lo}:{hi}"),
                        "-j",
                        "REJECT",
                        "--reject-with",
                        "icmp-port-unreachable",
                    ],
                )?;
            }
        }
    }
    Ok(())
}

fn apply_forwards(host: &Host) -> Result<()> {
    let ns = host.namespace();
    if host.forwards.is_empty() {
        return Ok(());
    }
    sysctl(&ns, "net.ipv4.ip_forward", "1")?;
    for forward in &host.forwards {
        let target = format!("{}:{}", forward.to, forward.to_port);
        iptables(
            &ns,
            &[
                "-t",
                "nat",
                "-A",
                "PREROUTING",
                "-p",
                "tcp",
                "--dport",
                &forward.port.to_string(),
                "-j",
                "DNAT",
                "--to-destination",
                &target,
            ],
        )?;
        // The target is on the same segment: masquerade so its replies come back here.
        iptables(
            &ns,
            &[
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-p",
                "tcp",
                "-d",
                &forward.to.to_string(),
                "--dport",
                &forward.to_port.to_string(),
                "-j",
                "MASQUERADE",
            ],
        )?;
    }
    Ok(())
}

/// Chain that the loss switch fills; hooked first into INPUT, OUTPUT and FORWARD of
/// every target namespace (XDP on the scanner side sees frames before netfilter would).
const LOSS_CHAIN: &str = "LAB-LOSS";

/// Drops this fraction (0.0..1.0) of packets at random in every target namespace,
/// both ways. 0 removes the loss.
pub fn set_loss(fraction: f64) -> Result<()> {
    if !(0.0..1.0).contains(&fraction) {
        bail!("loss must be a fraction from 0 to below 1 (0.1 for 10%), not {fraction}");
    }
    for host in hosts() {
        let ns = host.namespace();
        if iptables(&ns, &["-F", LOSS_CHAIN]).is_err() {
            iptables(&ns, &["-N", LOSS_CHAIN])?;
            for hook in ["INPUT", "OUTPUT", "FORWARD"] {
                iptables(&ns, &["-I", hook, "1", "-j", LOSS_CHAIN])?;
            }
        }
        if fraction > 0.0 {
            let probability = format!("{fraction}");
            iptables(
                &ns,
                &[
                    "-A",
                    LOSS_CHAIN,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &probability,
                    "-j",
                    "DROP",
                ],
            )?;
        }
    }
    Ok(())
}

/// Removes what `up` made, as its record says: the processes in its namespaces, the
/// namespaces, its folders. With no record (a lab made by an older version), the
/// namespaces the lab's definition names and its folders; never another `lab-*`.
pub fn down() -> Result<()> {
    // A cluster's machines hang on the lab's segment: they go first.
    crate::cluster::down()?;
    super::coverage::down()?;
    let made = match Made::read(&record_path())? {
        Some(made) => made,
        None => {
            let resolv = std::path::Path::new(super::SCANNER_RESOLV_CONF);
            let folders = [STATE_DIR.into(), resolv.parent().expect("a folder").into()];
            let made = Made::by_definition(&defined_namespaces(), &folders);
            let existing = live_namespaces()?;
            if made
                .namespaces
                .iter()
                .any(|ns| existing.contains_key(&ns.name))
            {
                eprintln!(
                    "lab down: no record of what `lab up` made (a lab from an older version?): \
                     removing only the namespaces the lab defines"
                );
            }
            made
        }
    };
    remove(&made)
}

/// Removes what the record at `path` says was made, if there is one.
/// Processes started in the recorded namespaces since (jobs, scans) go too.
pub fn remove_recorded(path: &std::path::Path) -> Result<()> {
    let Some(mut made) = Made::read(path)? else {
        return Ok(());
    };
    made.processes_now()?;
    remove(&made)
}

/// Kills the recorded processes still running, deletes the recorded namespaces that
/// are still the ones made, then the folders, last made first.
fn remove(made: &Made) -> Result<()> {
    let removal = select(made, &live_namespaces()?, &live_processes());
    for name in &removal.reused {
        eprintln!("lab down: {name} is no longer the namespace `lab up` made: left alone");
    }
    for &pid in &removal.processes {
        // SAFETY: kill(2) has no memory preconditions; the pid was chosen by `select`.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    for ns in &removal.namespaces {
        run("ip", &["netns", "del", ns])?;
    }
    // The state folder, which holds the record, was made first: removed last.
    for folder in made.folders.iter().rev() {
        let _ = std::fs::remove_dir_all(folder);
    }
    Ok(())
}

/// Every namespace the lab's definition names.
fn defined_namespaces() -> Vec<String> {
    let mut names = vec![SWITCH_NS.to_string(), SCANNER_NS.to_string()];
    names.extend(hosts().iter().map(Host::namespace));
    names
}

/// Prints the hosts, their addresses and services, and whether the lab is up.
pub fn status() -> Result<()> {
    let up = super::is_up();
    println!(
        "lab is {}",
        if up {
            "up"
        } else {
            "down (cargo xtask lab up)"
        }
    );
    println!("scanner  {SCANNER_NS:<13} {SCANNER_ADDR:<15} on {SEGMENT}");
    for host in hosts() {
        let tcp: Vec<String> = host.open_tcp_ports().iter().map(u16::to_string).collect();
        let udp: Vec<String> = host
            .listening_udp_ports()
            .iter()
            .map(u16::to_string)
            .collect();
        let daemons: Vec<&str> = host.daemons.iter().map(|d| d.name()).collect();
        println!(
            "{:<8} {:<13} {:<15} open tcp [{}] udp [{}]  {}{}",
            host.name,
            host.namespace(),
            host.addr.to_string(),
            tcp.join(","),
            udp.join(","),
            host.role,
            if daemons.is_empty() {
                String::new()
            } else {
                format!(" ({})", daemons.join(", "))
            },
        );
    }
    if super::coverage::is_up() {
        println!("coverage lab is up (each port also on 50000+port):");
        super::coverage::status();
    }
    Ok(())
}
