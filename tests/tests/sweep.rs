//! Stateless sweeps of the lab's catch-all range (198.19.0.0/16: on every address TCP
//! port 80 open, UDP 53 and 161 answering, ICMP echo answered): accuracy, shards,
//! resume, loss, rate, and never sending outside the targets, for SYN sweeps and for
//! the other probe modules a sweep sends (-sU, -sA, -sn -PE). Run by `cargo xtask
//! test`, which brings the lab up first.

use lab_tests::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xtask::lab::{
    self,
    build::{reset_syn_count, syn_count},
};

const SWEEP: &[&str] = &["--sweep", "--allow-reserved-targets", "--no-progress"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    SWEEP.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn sweep_of_the_catch_all_range_finds_every_open_port() {
    require_lab();
    for (mode, threads) in [
        ("afxdp", "1"),
        ("afxdp", "2"),
        ("packet", "2"),
        ("pcap", "1"),
        ("xdp", "1"),
    ] {
        let sender = match mode {
            "afxdp" => "AF_XDP",
            "xdp" => "XDP live frames",
            "packet" => "AF_PACKET",
            _ => "libpcap",
        };
        let found = open_of(
            scan_via(
                &args(&[
                    "-p",
                    "80,81",
                    "--rate",
                    "200000",
                    "--send-mode",
                    mode,
                    "--recv-mode",
                    "xdp",
                    "--threads",
                    threads,
                    "198.19.0.0/16",
                ]),
                sender,
                "XDP",
            )
            .unwrap(),
        );
        let truth: BTreeSet<_> = sweep_truth("198.19.0.0/16").into_iter().collect();
        let found: BTreeSet<_> = found.into_iter().collect();
        let missing: Vec<_> = truth.difference(&found).collect();
        let false_ones: Vec<_> = found.difference(&truth).collect();
        assert!(
            missing.is_empty() && false_ones.is_empty(),
            "via {mode} with {threads} thread(s): {} of {} open ports missing (the first: \
             {:?}), {} not open reported (the first: {:?})",
            missing.len(),
            truth.len(),
            &missing[..missing.len().min(5)],
            false_ones.len(),
            &false_ones[..false_ones.len().min(5)]
        );
    }
    // Every SYN+ACK went on to the kernel, which reset it: no half-open connection
    // is left waiting on the sweep host.
    let half_open = xtask::shell::output(
        "ip",
        &[
            "netns",
            "exec",
            "lab-sweep",
            "ss",
            "-Htn",
            "state",
            "syn-recv",
        ],
    )
    .unwrap();
    assert_eq!(
        half_open.lines().count(),
        0,
        "half-open connections left on the sweep host:\n{half_open}"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn blocklist_keeps_sweeps_out_of_reserved_space_unless_allowed() {
    require_lab();
    let out = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(["--sweep", "-p", "80", "198.19.0.0/24"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-reserved-targets"));
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn shards_with_one_seed_are_disjoint_and_complete() {
    require_lab();
    let sweep_host = lab::host("sweep");
    reset_syn_count(&sweep_host).unwrap();
    let mut all = Vec::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let found = sweep_open(&args(&[
            "-p",
            "80,81",
            "--seed",
            "77",
            "--shard",
            shard,
            "198.19.0.0/20",
        ]))
        .unwrap();
        assert!(!found.is_empty(), "shard {shard} found nothing");
        all.extend(found);
    }
    let probes = syn_count(&sweep_host).unwrap();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "an open port was found by two shards");
    assert_eq!(all, sweep_truth("198.19.0.0/20"));
    assert_eq!(
        probes,
        4096 * 2,
        "every (address, port) probed exactly once across the shards"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn interrupted_sweep_resumes_without_repeating_or_skipping() {
    stop_sweep_and_resume(libc::SIGINT, 130);
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn terminated_sweep_resumes_without_repeating_or_skipping() {
    stop_sweep_and_resume(libc::SIGTERM, 143);
}

/// Runs the scanner with `args` in the lab and sends it `signal` after 1.5 s; what it
/// said and its status.
fn run_then_stop(args: &[&str], signal: i32) -> std::process::Output {
    run_then_stop_after(args, signal, Duration::from_millis(1500))
}

/// [`run_then_stop`], the signal sent after `after`.
fn run_then_stop_after(args: &[&str], signal: i32, after: Duration) -> std::process::Output {
    let child = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    // SAFETY: kill(2) on our child's pid (`ip netns exec` execs the scanner).
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    child.wait_with_output().unwrap()
}

/// A task a scheduler reruns with the same command (`--resume-or-start`): SIGTERM
/// stops the first run, which saves its state; the rerun continues it, appending to
/// the same JSON lines; every probe is sent once, every port found once; the metadata
/// and status-updates files of each run say what it did.
#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_rerun_task_continues_its_saved_sweep_and_records_each_run() {
    require_lab();
    let sweep_host = lab::host("sweep");
    reset_syn_count(&sweep_host).unwrap();
    let dir = std::env::temp_dir().join(format!("scanner-rerun-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (state, json, meta, status) = (
        path("state.json"),
        path("found.jsonl"),
        path("meta.json"),
        path("status.csv"),
    );
    let command = args(&[
        "-p",
        "80,81",
        "--rate",
        "2000",
        "--seed",
        "9",
        "--resume-or-start",
        &state,
        "--metadata-file",
        &meta,
        "--status-updates-file",
        &status,
        "-oJ",
        &json,
        "198.19.0.0/20",
    ]);
    let first = run_then_stop(&command, libc::SIGTERM);
    assert_eq!(first.status.code(), Some(143));
    let read_meta = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap()
    };
    let first_meta = read_meta();
    assert_eq!(first_meta["interrupted"], true, "{first_meta}");
    assert_eq!(first_meta["resumed"], false);
    let sent_first = first_meta["sent"].as_u64().unwrap();
    assert_eq!(syn_count(&sweep_host).unwrap(), sent_first);
    let status_lines = std::fs::read_to_string(&status).unwrap().lines().count();
    assert!(status_lines >= 2, "header and at least one line a second");

    // The same command again: it continues, and says so.
    let (_, messages) = run_in_lab(&scanner_binary(), &command).expect("rerun");
    assert!(
        messages.contains("continuing the sweep saved in"),
        "{messages}"
    );
    let found = std::fs::read_to_string(&json).unwrap();
    let mut all: Vec<(std::net::Ipv4Addr, u16)> =
        parse_findings(&found).unwrap().into_keys().collect();
    let lines = found.lines().count();
    all.sort_unstable();
    assert_eq!(lines, all.len(), "a port reported twice across the runs");
    assert_eq!(all, sweep_truth("198.19.0.0/20"));
    assert_eq!(
        syn_count(&sweep_host).unwrap(),
        8192,
        "probes sent twice or skipped"
    );
    let second_meta = read_meta();
    assert_eq!(second_meta["resumed"], true);
    assert_eq!(second_meta["interrupted"], false);
    assert_eq!(second_meta["sent"].as_u64().unwrap(), 8192 - sent_first);
    assert_eq!(second_meta["seed"], 9);
    assert_eq!(second_meta["target_ranges"][0], "198.19.0.0/20");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "",
        "a finished sweep leaves no state to continue"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Stops a sweep with `signal` after 1.5 s, checks the exit status is `code` and the
/// resume file was written, and resumes it: every probe sent once, every port found.
fn stop_sweep_and_resume(signal: i32, code: i32) {
    require_lab();
    let sweep_host = lab::host("sweep");
    reset_syn_count(&sweep_host).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "scanner-resume-test-{}-{signal}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let resume = dir.join("resume.json");
    let first_json = dir.join("first.jsonl");
    let common = [
        "-p",
        "80,81",
        "--rate",
        "2000",
        "--seed",
        "5",
        "198.19.0.0/20",
    ];
    let mut first_args = args(&common);
    first_args.extend([
        "--resume-file",
        resume.to_str().unwrap(),
        "-oJ",
        first_json.to_str().unwrap(),
    ]);
    let out = run_then_stop(&first_args, signal);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(resume.exists(), "no resume file");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--resume"),
        "no resume hint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent_first = syn_count(&sweep_host).unwrap();
    assert!(
        sent_first > 0 && sent_first < 8192,
        "the first run sent {sent_first}"
    );
    let resume_arg = resume.to_str().unwrap().to_string();
    let mut rest: Vec<&str> = args(&common);
    rest.extend(["--resume", &resume_arg]);
    let second = scan(&rest).unwrap();
    let first_found = parse_findings(&std::fs::read_to_string(&first_json).unwrap()).unwrap();
    let mut all: Vec<_> = first_found.keys().chain(second.keys()).copied().collect();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "a port was reported by both runs");
    assert_eq!(all, sweep_truth("198.19.0.0/20"));
    assert_eq!(
        syn_count(&sweep_host).unwrap(),
        8192,
        "probes sent twice or skipped across the resume"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn sweeps_under_loss_find_everything_with_retries_and_claim_nothing_false_without() {
    require_lab();
    for (loss, retries) in [(0.1, "6"), (0.3, "14")] {
        let _loss = LossGuard::new(loss);
        let found = sweep_open(&args(&[
            "-p",
            "80",
            "--retries",
            retries,
            "--wait",
            "0.3",
            "198.19.1.0/26",
        ]))
        .unwrap();
        assert_eq!(
            found,
            sweep_truth("198.19.1.0/26"),
            "{}% loss with {retries} retries",
            loss * 100.0
        );
    }
    let _loss = LossGuard::new(0.3);
    let found = sweep_open(&args(&["-p", "80", "--retries", "0", "198.19.2.0/24"])).unwrap();
    let truth = sweep_truth("198.19.2.0/24");
    assert!(
        found.len() < truth.len(),
        "30% loss both ways and no retries, yet all {} found",
        found.len()
    );
    assert!(
        found.iter().all(|f| truth.contains(f)),
        "reported a port that is not open"
    );
}

/// A tcpdump in namespace `ns` writing what it prints to a file (a pipe nobody reads
/// until the end would fill, stall tcpdump, and lose packets).
struct Capture {
    child: std::process::Child,
    path: std::path::PathBuf,
}

impl Capture {
    fn start(ns: &str, tcpdump_args: &[&str]) -> Self {
        let path =
            std::env::temp_dir().join(format!("scanner-capture-{}-{ns}.txt", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let child = Command::new("ip")
            .args([
                "netns", "exec", ns, "tcpdump", "-nn", "-l", "-s", "96", "-B", "16384",
            ])
            .args(tcpdump_args)
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump");
        std::thread::sleep(Duration::from_millis(700));
        Capture { child, path }
    }

    /// Stops the capture and returns what it printed.
    fn finish(mut self) -> String {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill(2) on our child (`ip netns exec` execs tcpdump).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.path).unwrap();
        let _ = std::fs::remove_file(&self.path);
        text
    }
}

impl Drop for Capture {
    /// A test that fails before [`Capture::finish`] must not leave tcpdump running
    /// (it would hold whatever it inherited, the lab lock included).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Rate of the SYNs arriving at the sweep host while a sweep at `rate` runs, from its
/// SYN counter read twice, 1.5 s apart, in the middle of the run.
fn measured_rate(rate: u64, cidr: &str) -> f64 {
    let host = lab::host("sweep");
    reset_syn_count(&host).unwrap();
    let rate_arg = rate.to_string();
    let mut sweep = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(args(&[
            "-p", "81", "--rate", &rate_arg, "--wait", "0", cidr,
        ]))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while syn_count(&host).unwrap() == 0 {
        assert!(Instant::now() < deadline, "no probe arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (count0, time0) = (syn_count(&host).unwrap(), Instant::now());
    std::thread::sleep(Duration::from_millis(1500));
    let (count1, time1) = (syn_count(&host).unwrap(), Instant::now());
    assert!(sweep.wait().unwrap().success());
    let total = syn_count(&host).unwrap();
    let expected = 1u64 << (32 - cidr.split('/').nth(1).unwrap().parse::<u32>().unwrap());
    assert_eq!(total, expected, "probes lost or repeated");
    assert!(
        count1 < total,
        "the sweep ended inside the measuring window: make it longer"
    );
    (count1 - count0) as f64 / time1.duration_since(time0).as_secs_f64()
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn rate_is_accurate_within_five_percent() {
    require_lab();
    for (rate, cidr) in [
        (100u64, "198.19.4.0/23"),
        (1000, "198.19.8.0/20"),
        (5000, "198.19.64.0/18"),
        (20000, "198.19.0.0/16"),
    ] {
        let started = Instant::now();
        let measured = measured_rate(rate, cidr);
        let error = (measured - rate as f64).abs() / rate as f64;
        eprintln!(
            "rate: asked {rate} pps, measured {measured:.0} pps at the target ({:+.2}%)",
            (measured / rate as f64 - 1.0) * 100.0
        );
        assert!(
            error <= 0.05,
            "asked {rate} pps, measured {measured:.0} pps in the lab ({:.1}% off; run took {:?})",
            error * 100.0,
            started.elapsed()
        );
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn never_sends_to_excluded_or_untargeted_addresses() {
    require_lab();
    // Everything the scanner puts on the wire enters the bridge at its port.
    let capture = Capture::start(
        lab::SWITCH_NS,
        &["-i", "s-scanner", "-Q", "in", "tcp or arp"],
    );
    let found = sweep_open(&args(&[
        "-p",
        "22,80",
        "--retries",
        "1",
        "--wait",
        "0.3",
        "--exclude",
        "198.19.0.128/25,198.18.0.10-15",
        "198.19.0.0/24",
        "198.18.0.0/24",
    ]))
    .unwrap();
    let text = capture.finish();
    let allowed = |addr: std::net::Ipv4Addr| {
        let [a, b, c, d] = addr.octets();
        let in_sweep = a == 198 && b == 19 && c == 0 && d < 128;
        let on_segment = a == 198 && b == 18 && c == 0 && !(10..=15).contains(&d);
        in_sweep || on_segment
    };
    let mut probes = 0;
    for line in text.lines() {
        // "IP 198.18.0.1.41234 > 198.19.0.7.80: Flags [S], ..." or "ARP, Request who-has 198.18.0.2 tell ..."
        let dst = if let Some(rest) = line.split(" > ").nth(1) {
            if !line.contains("Flags [S]") {
                continue;
            }
            probes += 1;
            let host_port = rest.split(':').next().unwrap_or("");
            host_port
                .rsplit_once('.')
                .map(|(host, _)| host)
                .unwrap_or("")
                .to_string()
        } else if let Some(rest) = line.split("who-has ").nth(1) {
            rest.split_whitespace().next().unwrap_or("").to_string()
        } else {
            continue;
        };
        let addr: std::net::Ipv4Addr = dst
            .parse()
            .unwrap_or_else(|_| panic!("cannot read {line:?}"));
        assert!(
            allowed(addr),
            "sent to {addr}, which is excluded or not a target: {line}"
        );
    }
    assert!(probes >= 128 * 2, "captured only {probes} probes");
    assert!(found.iter().all(|(a, _)| allowed(*a)));
    assert_eq!(
        found.iter().filter(|(a, _)| a.octets()[1] == 19).count(),
        128,
        "sweep hosts' port 80"
    );
}

/// Every address of `cidr`.
fn addresses(cidr: &str) -> Vec<Ipv4Addr> {
    let (base, bits) = cidr.split_once('/').expect("cidr");
    let base = u32::from(base.parse::<Ipv4Addr>().expect("address"));
    let count = 1u32 << (32 - bits.parse::<u32>().expect("bits"));
    (0..count).map(|i| Ipv4Addr::from(base + i)).collect()
}

/// The (address, port, proto, state) of every JSON line the scanner wrote.
fn port_findings(jsonl: &str) -> Vec<(Ipv4Addr, u16, String, String)> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            (
                v["addr"].as_str().expect("addr").parse().expect("address"),
                v["port"].as_u64().expect("port") as u16,
                v["proto"].as_str().expect("proto").to_string(),
                v["state"].as_str().expect("state").to_string(),
            )
        })
        .collect()
}

/// The hosts a grepable output says are up.
fn hosts_up(grepable: &str) -> Vec<Ipv4Addr> {
    grepable
        .lines()
        .filter(|l| l.contains("\tStatus: Up"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect()
}

/// A probe the scanner put on the wire: destination, its port (0 for ICMP), and
/// tcpdump's line (`-q`).
type Probe = (Ipv4Addr, u16, String);

/// Runs a sweep with `extra` while capturing the frames matching `filter` that the
/// scanner sends into the bridge; returns its stdout and the probes.
fn captured_sweep(extra: &[&str], filter: &str) -> (String, Vec<Probe>) {
    wait_for_scanner_connections_to_close();
    let capture = Capture::start(
        lab::SWITCH_NS,
        &["-q", "-i", "s-scanner", "-Q", "in", filter],
    );
    let out = scan_output(&args(extra)).unwrap();
    let text = capture.finish();
    let probes = text
        .lines()
        .filter_map(|line| {
            // "IP 198.18.0.1.41234 > 198.19.0.7.53: UDP, length 30" or
            // "IP 198.18.0.1 > 198.19.5.7: ICMP echo request, id 1, seq 2, length 8"
            let dst = line.split(" > ").nth(1)?.split(':').next()?;
            let parts: Vec<&str> = dst.split('.').collect();
            let (addr, port) = match parts.len() {
                4 => (dst.parse().ok()?, 0),
                5 => (parts[..4].join(".").parse().ok()?, parts[4].parse().ok()?),
                _ => return None,
            };
            Some((addr, port, line.to_string()))
        })
        .collect();
    (out, probes)
}

/// Waits (up to 20 s) until no TCP connection of the scanner's namespace can still
/// send: a connection an earlier scan's script left closing retransmits its FIN when
/// the machine is loaded, and a capture of this sweep's probes would count it (seen in
/// CI: one to 198.19.3.84:80 of the scripts sweep, in the ACK sweep that followed).
/// Sockets in TIME-WAIT only answer and are left alone.
fn wait_for_scanner_connections_to_close() {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let open = xtask::shell::output(
            "ip",
            &[
                "netns",
                "exec",
                lab::SCANNER_NS,
                "ss",
                "-Htn",
                "state",
                "established",
                "state",
                "syn-sent",
                "state",
                "fin-wait-1",
                "state",
                "fin-wait-2",
                "state",
                "close-wait",
                "state",
                "last-ack",
                "state",
                "closing",
            ],
        )
        .unwrap();
        if open.trim().is_empty() || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Checks that `probes` are exactly one to every (address of `cidr`, port of `ports`).
fn each_probe_sent_once(probes: &[Probe], cidr: &str, ports: &[u16]) {
    let mut counts: BTreeMap<(Ipv4Addr, u16), usize> = BTreeMap::new();
    for (addr, port, _) in probes {
        *counts.entry((*addr, *port)).or_default() += 1;
    }
    let expected: BTreeSet<(Ipv4Addr, u16)> = addresses(cidr)
        .into_iter()
        .flat_map(|a| ports.iter().map(move |p| (a, *p)))
        .collect();
    let outside: Vec<_> = counts.keys().filter(|k| !expected.contains(k)).collect();
    assert!(outside.is_empty(), "probes outside the sweep: {outside:?}");
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "probes sent more than once: {repeated:?}"
    );
    assert_eq!(counts.len(), expected.len(), "probes never sent");
}

/// XDP live frames of several lengths (UDP payloads differ per port) leave as written,
/// each once; and where the link drops XDP frames (a veth whose peer has no NAPI:
/// GRO off on the switch's end) the sweep stops with an error saying so instead of
/// reporting a silent range.
#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn xdp_live_frames_leave_as_written_once_each_or_the_sweep_says_why_not() {
    require_lab();
    udp_sweep_is_the_truth_with_payloads("198.19.4.0/24", &["--send-mode", "xdp"]);

    let gro = |state: &str| {
        xtask::shell::run(
            "ip",
            &[
                "netns",
                "exec",
                lab::SWITCH_NS,
                "ethtool",
                "-K",
                "s-scanner",
                "gro",
                state,
            ],
        )
        .unwrap()
    };
    struct GroBackOn<F: Fn(&str)>(F);
    impl<F: Fn(&str)> Drop for GroBackOn<F> {
        fn drop(&mut self) {
            (self.0)("on");
        }
    }
    gro("off");
    let _restore = GroBackOn(gro);
    let failed = run_in_lab(
        &scanner_binary(),
        &args(&["-p", "80", "--send-mode", "xdp", "198.19.5.0/24"]),
    )
    .expect_err("a sweep into nothing succeeded")
    .to_string();
    assert!(
        failed.contains("XDP live frames did not leave eth0"),
        "{failed}"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn udp_sweep_finds_the_answering_ports_of_every_address_with_payloads() {
    require_lab();
    udp_sweep_is_the_truth_with_payloads("198.19.3.0/24", &[]);
}

/// A UDP sweep of `cidr` (ports 53, 161 answering, 162 not) with `extra` finds the
/// answering ports of every address, probing each (address, port) once, DNS and SNMP
/// with their protocol's request and other ports with an empty datagram.
fn udp_sweep_is_the_truth_with_payloads(cidr: &str, extra: &[&str]) {
    let mut sweep = vec![
        "-sU",
        "-p",
        "53,161,162",
        "--rate",
        "5000",
        "--wait",
        "0.5",
        "-oJ",
        "-",
        cidr,
    ];
    sweep.extend_from_slice(extra);
    let (out, probes) = captured_sweep(&sweep, "udp");
    let found: BTreeSet<_> = port_findings(&out).into_iter().collect();
    let truth: BTreeSet<_> = addresses(cidr)
        .into_iter()
        .flat_map(|a| [53, 161].map(|p| (a, p, "udp".to_string(), "open".to_string())))
        .collect();
    let missing: Vec<_> = truth.difference(&found).collect();
    let false_ones: Vec<_> = found.difference(&truth).collect();
    assert!(
        missing.is_empty() && false_ones.is_empty(),
        "with {extra:?}: missing {missing:?}, not in the truth {false_ones:?}"
    );
    each_probe_sent_once(&probes, cidr, &[53, 161, 162]);
    for (addr, port, line) in &probes {
        let length: usize = line
            .rsplit("length ")
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no length in {line:?}"));
        assert_eq!(length > 0, *port != 162, "{addr}:{port}: {line}");
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn ack_sweep_finds_every_port_unfiltered() {
    require_lab();
    let cidr = "198.19.6.0/24";
    let (out, probes) = captured_sweep(&["-sA", "-p", "80,81", "-oJ", "-", cidr], "tcp");
    let found: BTreeSet<_> = port_findings(&out).into_iter().collect();
    let truth: BTreeSet<_> = addresses(cidr)
        .into_iter()
        .flat_map(|a| [80, 81].map(|p| (a, p, "tcp".to_string(), "unfiltered".to_string())))
        .collect();
    assert_eq!(found, truth);
    each_probe_sent_once(&probes, cidr, &[80, 81]);
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn echo_sweep_finds_every_host_up() {
    require_lab();
    let cidr = "198.19.5.0/24";
    let (out, probes) = captured_sweep(&["-sn", "-PE", "-oG", "-", cidr], "icmp");
    let mut up = hosts_up(&out);
    up.sort_unstable();
    assert_eq!(up, addresses(cidr), "{out}");
    each_probe_sent_once(&probes, cidr, &[0]);
    assert!(probes
        .iter()
        .all(|(_, _, l)| l.contains("ICMP echo request")));
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn echo_sweep_shards_are_disjoint_and_complete() {
    require_lab();
    let cidr = "198.19.7.0/24";
    let mut all = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = scan_output(&args(&[
            "-sn", "--seed", "9", "--shard", shard, "-oG", "-", cidr,
        ]))
        .unwrap();
        let up = hosts_up(&out);
        assert!(!up.is_empty(), "shard {shard} found nothing");
        all.extend(up);
    }
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "a host was found by both shards");
    assert_eq!(all, addresses(cidr));
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn interrupted_udp_sweep_resumes_as_a_udp_sweep() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-udp-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let resume = dir.join("resume.json");
    let first_json = dir.join("first.jsonl");
    let cidr = "198.19.8.0/24";
    let common = ["-sU", "-p", "53,161", "--rate", "200", "--seed", "3", cidr];
    let first = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(args(&common))
        .args([
            "--resume-file",
            resume.to_str().unwrap(),
            "-oJ",
            first_json.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    // SAFETY: kill(2) on our child's pid (`ip netns exec` execs the scanner).
    assert_eq!(unsafe { libc::kill(first.id() as i32, libc::SIGINT) }, 0);
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&resume).unwrap()).unwrap();
    assert_eq!(
        state["kind"], "udp",
        "the resume file records the kind: {state}"
    );
    let resume_arg = resume.to_str().unwrap().to_string();
    // Resumed as another kind: refused, with what to do.
    let mut as_ack = args(&["-sA", "-p", "53,161", "--rate", "200", "--seed", "3", cidr]);
    as_ack.extend(["--resume", &resume_arg]);
    let refused = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(&as_ack)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("for a udp sweep"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let mut rest = args(&common);
    rest.extend(["--resume", &resume_arg, "-oJ", "-"]);
    let second = scan_output(&rest).unwrap();
    let first_found = std::fs::read_to_string(&first_json).unwrap();
    let mut all: Vec<_> = port_findings(&first_found)
        .into_iter()
        .chain(port_findings(&second))
        .map(|(a, p, _, _)| (a, p))
        .collect();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "a port was reported by both runs");
    let truth: Vec<_> = addresses(cidr)
        .into_iter()
        .flat_map(|a| [(a, 53), (a, 161)])
        .collect();
    assert_eq!(all, truth);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn sweeps_refuse_what_they_cannot_send_or_report() {
    require_lab();
    for (flags, says) in [
        (&["-sT", "-p", "80"][..], "-sT"),
        (&["-sF", "-p", "80"][..], "silence"),
        (
            &["-sA", "-sV", "-p", "80"][..],
            "-sV names the services of open ports",
        ),
        (&["-sn", "-PS80"][..], "-PE"),
        (
            &["-sA", "--script", "http-title", "-p", "80"][..],
            "scripts in a sweep run on the open ports it finds",
        ),
    ] {
        let mut line = args(flags);
        line.push("198.19.0.0/30");
        let out = Command::new("ip")
            .args(["netns", "exec", lab::SCANNER_NS])
            .arg(scanner_binary())
            .args(&line)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?} was accepted");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}

/// `--sweep -sV`: every port the sweep finds is named as it is found, on the same loop,
/// with nmap's answer for the lab's nginx, within the connection limit given.
#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_sweep_names_the_service_of_every_port_it_finds() {
    require_lab();
    let (json, messages) = run_in_lab(
        &scanner_binary(),
        &args(&[
            "-sV",
            "-v",
            "--max-connections",
            "1024",
            "-p",
            "80",
            "-oJ",
            "-",
            "198.19.0.0/21",
        ]),
    )
    .expect("sweep -sV");
    let mut named = Vec::new();
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let service = &v["service"];
        assert_eq!(
            (&service["name"], &service["product"], &service["version"]),
            (
                &serde_json::json!("http"),
                &serde_json::json!("nginx"),
                &serde_json::json!("1.22.1")
            ),
            "{line}"
        );
        named.push((v["addr"].as_str().unwrap().parse().unwrap(), 80u16));
    }
    named.sort_unstable();
    assert_eq!(named, sweep_truth("198.19.0.0/21"));
    assert!(
        messages.contains("version detection: 2048 services named"),
        "{messages}"
    );
}

/// A port script of the user's: marks the port's version, and fails on every fourth
/// address.
const MARKING_SCRIPT: &str = r#"
description = "Marks each port's version; fails on every fourth address"
categories = {"safe"}
portrule = function(host, port) return port.number == 80 end
action = function(host, port)
  local last = tonumber(host.ip:match("%d+$"))
  if last % 4 == 0 then error("planted failure on " .. host.ip) end
  port.version.product = "marked"
  nmap.set_port_version(host, port)
  local first = nmap.get_ports(host, nil, "tcp", "open")
  local more = nmap.get_ports(host, first, "tcp", "open")
  return "marked " .. host.ip .. " seeing " .. first.number .. (more and " and more" or " only")
end
"#;

/// A host script of the user's: says each host's address.
const HOST_SCRIPT: &str = r#"
description = "Says each host once"
categories = {"safe"}
hostrule = function(host) return true end
action = function(host) return "host " .. host.ip end
"#;

/// `--sweep -sV --script`: every port found is named, then handed to its scripts on
/// the same loop; it is written once they end, with the version a script set, then
/// what each said; a host's scripts run once; a script that fails on some ports is
/// reported and the sweep goes on, losing no port.
#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_sweep_runs_scripts_on_every_port_it_finds() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-sweep-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marking = dir.join("sweep-mark.nse");
    let host_script = dir.join("sweep-host.nse");
    std::fs::write(&marking, MARKING_SCRIPT).unwrap();
    std::fs::write(&host_script, HOST_SCRIPT).unwrap();
    let scripts = format!("http-title,{},{}", marking.display(), host_script.display());
    let range = "198.19.0.0/22";
    let (json, messages) = run_in_lab(
        &scanner_binary(),
        &args(&[
            "-sV", "-v", "--script", &scripts, "-p", "80", "-oJ", "-", range,
        ]),
    )
    .expect("sweep -sV --script");
    std::fs::remove_dir_all(dir).unwrap();

    let mut products = BTreeMap::new();
    let mut said: BTreeMap<(Ipv4Addr, String), String> = BTreeMap::new();
    let mut hosts_said = Vec::new();
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let addr: Ipv4Addr = v["addr"].as_str().unwrap().parse().unwrap();
        match (&v["script"], v["port"].as_u64()) {
            (serde_json::Value::Null, Some(80)) => {
                let product = v["service"]["product"].as_str().unwrap().to_string();
                assert!(products.insert(addr, product).is_none(), "twice: {line}");
            }
            (script, Some(80)) => {
                assert!(products.contains_key(&addr), "before its port: {line}");
                let id = script["id"].as_str().unwrap().to_string();
                let output = script["output"].as_str().unwrap().to_string();
                assert!(said.insert((addr, id), output).is_none(), "twice: {line}");
            }
            (script, None) => {
                assert_eq!(script["output"], format!("host {addr}"), "{line}");
                hosts_said.push(addr);
            }
            _ => panic!("unexpected line {line}"),
        }
    }
    let truth: Vec<Ipv4Addr> = sweep_truth(range).into_iter().map(|(a, _)| a).collect();
    assert_eq!(products.keys().copied().collect::<Vec<_>>(), truth);
    hosts_said.sort_unstable();
    assert_eq!(hosts_said, truth);
    let mut failures = 0;
    for addr in truth {
        let fails = addr.octets()[3] % 4 == 0;
        let expected = if fails { "nginx" } else { "marked" };
        assert_eq!(products[&addr], expected, "{addr}");
        assert_eq!(said[&(addr, "http-title".into())], "lab host sweep");
        match said.get(&(addr, "sweep-mark".into())) {
            Some(output) => {
                assert!(!fails, "{addr}: {output}");
                assert_eq!(output, &format!("marked {addr} seeing 80 only"));
            }
            None => {
                assert!(fails, "{addr}: no sweep-mark output");
                failures += 1;
            }
        }
    }
    assert_eq!(
        messages.matches("planted failure on").count(),
        failures,
        "{messages}"
    );
    assert!(
        messages.contains("scripts: ran on 1024 port(s)"),
        "{messages}"
    );
}

/// A task killed outright (SIGKILL: no chance to save) and rerun with the same
/// command continues from the sweep's last checkpoint (written every
/// `CHECKPOINT_EVERY`) instead of starting again: every port is found, and only the
/// probes sent after that checkpoint are sent twice.
#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_killed_task_continues_from_its_last_checkpoint() {
    require_lab();
    let sweep_host = lab::host("sweep");
    reset_syn_count(&sweep_host).unwrap();
    let dir = std::env::temp_dir().join(format!("scanner-killed-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json").to_str().unwrap().to_string();
    let json = dir.join("found.jsonl").to_str().unwrap().to_string();
    // 8,192 probes at 500 a second: about 16 s; killed after 12 s, 2 s past the
    // first checkpoint.
    let rate = 500;
    let command = args(&[
        "-p",
        "80,81",
        "--rate",
        "500",
        "--seed",
        "11",
        "--resume-or-start",
        &state,
        "-oJ",
        &json,
        "198.19.0.0/20",
    ]);
    let killed = Instant::now();
    let first = run_then_stop_after(&command, libc::SIGKILL, Duration::from_secs(12));
    assert_eq!(first.status.code(), None, "killed by a signal");
    let since_checkpoint =
        killed.elapsed().as_secs() + 1 - scanner::sweep::CHECKPOINT_EVERY.as_secs();
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("positions"), "no checkpoint: {saved:?}");
    let sent_first = syn_count(&sweep_host).unwrap();
    assert!(sent_first < 8192, "the first run sent {sent_first}");

    let (_, messages) = run_in_lab(&scanner_binary(), &command).expect("rerun");
    assert!(
        messages.contains("continuing the sweep saved in"),
        "{messages}"
    );
    // Ports found after the checkpoint by the killed run are found again: a set.
    let found: BTreeSet<(Ipv4Addr, u16)> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["addr"].as_str().unwrap().parse().unwrap(),
                v["port"].as_u64().unwrap() as u16,
            )
        })
        .collect();
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        sweep_truth("198.19.0.0/20"),
        "every port, at least once"
    );
    let total = syn_count(&sweep_host).unwrap();
    let again = total.saturating_sub(8192);
    assert!(
        total >= 8192 && again <= rate * since_checkpoint,
        "{total} SYNs: {again} sent again, more than {since_checkpoint} s of probes since the checkpoint"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
