//! Memory stays bounded whatever the number of targets: nmap-style scans stream their
//! targets through host groups and keep state only for the group at hand and the
//! hosts up, so thousands of addresses that are down cost no more than a few. Measured
//! as the scanner's peak resident set size (the kernel's count, from `wait4`). Run by
//! `cargo xtask test`.

use lab_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xtask::lab;

/// Short timeouts and no retries: the addresses behind the sink never answer, and the
/// test is about memory, not about patience.
const QUICK: [&str; 7] = [
    "-n",
    "--max-retries",
    "0",
    "--initial-rtt-timeout",
    "300ms",
    "--max-rtt-timeout",
    "300ms",
];

/// The most the scanner's peak memory may grow by for 32768 more addresses that are
/// all down (the ping scan took 5.6 MB more for them when every target was kept).
const ALLOWED_GROWTH_KB: i64 = 2048;

/// Runs the scanner in the lab with `args`: its normal output, its peak resident set
/// size in kB, and how long it took. The peak is the kernel's high-water mark of the
/// scanner's own memory (`VmHWM`), read as it runs: `ru_maxrss` would also count
/// the memory of the test process that started it.
fn peak_rss(args: &[&str]) -> (String, i64, Duration) {
    let out = std::env::temp_dir().join(format!("scanner-memory-{}.txt", std::process::id()));
    let file = std::fs::File::create(&out).expect("a temporary file");
    let started = Instant::now();
    // `ip netns exec` runs the scanner in its own process, under the same pid.
    let mut child = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(QUICK)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
        .expect("running the scanner");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let status = loop {
        let high_water = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|status| {
                let line = status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))?
                    .to_string();
                line.split_whitespace().nth(1)?.parse::<i64>().ok()
            });
        peak_kb = peak_kb.max(high_water.unwrap_or(0));
        if let Some(status) = child.try_wait().expect("waiting for the scanner") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    assert!(status.success(), "scanner {args:?} failed");
    let text = std::fs::read_to_string(&out).expect("the scanner's output");
    std::fs::remove_file(&out).ok();
    (text, peak_kb, elapsed)
}

/// The summary line's "(N hosts up)".
fn hosts_up_in(summary: &str) -> &str {
    summary
        .lines()
        .find(|l| l.contains("scanned in"))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|l| l.split(')').next())
        .unwrap_or("")
}

fn assert_bounded(scan: &[&str]) {
    require_lab();
    let mut small = scan.to_vec();
    small.push("198.18.0.0/24");
    let mut large = small.clone();
    large.push(lab::SINK_RANGE);
    let (small_out, small_kb, _) = peak_rss(&small);
    let (large_out, large_kb, took) = peak_rss(&large);
    assert!(
        small_out.contains("256 IP addresses") && large_out.contains("33024 IP addresses"),
        "{small_out}\n{large_out}"
    );
    assert_eq!(
        hosts_up_in(&small_out),
        hosts_up_in(&large_out),
        "the sink's addresses are all down"
    );
    assert!(took < Duration::from_secs(60), "{large:?} took {took:?}");
    eprintln!(
        "{scan:?}: 256 addresses {small_kb} kB, 33024 addresses {large_kb} kB peak, {took:?}"
    );
    assert!(
        large_kb - small_kb <= ALLOWED_GROWTH_KB,
        "{large:?} peaked at {large_kb} kB, {small:?} at {small_kb} kB: 32768 addresses that are down must not cost memory"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_ping_scan_of_many_down_hosts_needs_the_memory_of_a_small_one() {
    assert_bounded(&["-sn"]);
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_connect_scan_of_many_down_hosts_needs_the_memory_of_a_small_one() {
    assert_bounded(&["-sT", "-p80"]);
}

/// A sweep whose outputs all stream (JSON lines on standard output) keeps none of its
/// findings: finding 65,536 open ports needs the memory of finding 4,096, under 64 MiB.
#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_streaming_sweep_of_many_open_ports_needs_the_memory_of_a_small_one() {
    require_lab();
    let sweep = |range: &'static str| {
        let (json, kb, _) = peak_rss(&[
            "--sweep",
            "--allow-reserved-targets",
            "--no-progress",
            "-p",
            "80",
            "-oJ",
            "-",
            range,
        ]);
        (json.lines().count(), kb)
    };
    let (small_found, small_kb) = sweep("198.19.0.0/20");
    let (large_found, large_kb) = sweep(lab::SWEEP_RANGE);
    assert_eq!((small_found, large_found), (4096, 65_536));
    eprintln!(
        "sweeps streaming JSON lines: 4096 found {small_kb} kB, 65536 found {large_kb} kB peak"
    );
    assert!(
        large_kb - small_kb <= 8 * 1024 && large_kb <= 64 * 1024,
        "61,440 more open ports took {} kB more ({large_kb} kB peak): a streaming sweep must not keep its findings",
        large_kb - small_kb
    );
}
