//! `cargo xtask bench scripts`: the script engine next to the classic way, in one run.
//!
//! 1. Dispatch cost. N raw-packet waiters at once (N = 1, 100, 1000, 10000), each
//!    pinging one lab host with its own ICMP identifier and waiting for its own
//!    replies, [`PACKETS`] replies in all whatever N. The scanner: N script threads,
//!    each with a capture on its key, fed by the XDP classifier and the dispatcher.
//!    The classic way: one libpcap handle per waiter, each with its BPF filter, all
//!    polled (what nmap's NSE does per raw-packet script). The fair baseline: one
//!    AF_PACKET socket with no filter, reading every frame and handing each reply to
//!    its waiter through a hash of the ICMP identifier (what a careful engine
//!    without XDP would do). Shown: replies received, wall time, and the machine's
//!    busy CPU per reply (every CPU, user, system and softirq, from /proc/stat, less
//!    the same run with no packets): a BPF filter per waiter runs on every packet,
//!    so its cost grows with N; the classifier's lookup and the hash do not.
//! 2. `-sV -sC` on the lab next to nmap's: time, and for each (port, script) both ran,
//!    whether the outputs are the same.

use crate::lab::{self, SCANNER_NS};
use crate::nmap_xml;
use crate::shell::{machine_busy_seconds, measured_in_ns};
use anyhow::{Context, Result};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// Replies per dispatch run, whatever the number of waiters.
const PACKETS: usize = 20_000;
/// Waiter counts.
const WAITERS: [usize; 4] = [1, 100, 1000, 10_000];
/// The most one run may take.
const LIMIT: Duration = Duration::from_secs(240);
/// The libpcap and packet-socket sides stop here and report what they got (at N =
/// 10000 libpcap needs minutes for what the scanner does in a second).
pub const PCAP_BUDGET: Duration = Duration::from_secs(60);
/// The libpcap and packet-socket sides' binary (`tests/src/bin/lab-pcap-dispatch.rs`):
/// built after setup has installed libpcap, so that xtask links no system library.
pub const PCAP_DISPATCH_BIN: &str = "lab-pcap-dispatch";

/// The scanner's side: `n` threads, each with its own capture, sharing `packets`.
const DISPATCH_SCRIPT: &str = r#"
categories = { "bench" }
hostrule = function() return true end
action = function(host)
  local n = tonumber(stdnse.get_script_args("n"))
  local per = tonumber(stdnse.get_script_args("per"))
  local received, threads = 0, {}
  local done = nmap.condvar(threads)
  local function waiter(id)
    local capture = rawpacket.capture { proto = "icmp", host = host.ip, icmp_id = id }
    for seq = 1, per do
      rawpacket.send(rawpacket.icmp { dst = host.ip, icmp_id = id, icmp_seq = seq })
      if capture:receive(1000) then received = received + 1 end
    end
    capture:close()
    done("signal")
  end
  for id = 1, n do threads[stdnse.new_thread(waiter, id)] = true end
  repeat
    for co in pairs(threads) do
      if coroutine.status(co) == "dead" then threads[co] = nil end
    end
    if next(threads) then done("wait") end
  until next(threads) == nil
  return "replies=" .. received
end
"#;

/// One dispatch run: replies, wall seconds, machine CPU seconds.
struct DispatchRun {
    replies: usize,
    /// Handles the libpcap side had opened when it ran out of time opening them.
    opened: Option<usize>,
    /// Stopped at its time budget before every reply was in.
    stopped: bool,
    seconds: f64,
    busy: f64,
}

fn replies_in(text: &str) -> usize {
    text.split("replies=")
        .nth(1)
        .and_then(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Runs `program args` in the scanner namespace, measuring the machine's busy CPU.
fn measured(program: &str, args: &[String]) -> Result<DispatchRun> {
    let before = machine_busy_seconds()?;
    let run = measured_in_ns(SCANNER_NS, program, args, LIMIT)?;
    let busy = machine_busy_seconds()? - before;
    anyhow::ensure!(
        run.success || run.stopped,
        "`{program} {}` failed:\n{}",
        args.join(" "),
        run.stdout
    );
    Ok(DispatchRun {
        stopped: run.stopped || run.stdout.contains("stopped after"),
        replies: replies_in(&run.stdout),
        opened: run
            .stdout
            .split("opened=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok()),
        seconds: run.seconds,
        busy,
    })
}

fn scanner_dispatch(
    scanner: &Path,
    script: &Path,
    target: Ipv4Addr,
    n: usize,
    per: usize,
) -> Result<DispatchRun> {
    let args: Vec<String> = [
        "--script",
        script.to_str().context("script path")?,
        "--script-args",
        &format!("n={n},per={per}"),
        "--max-script-threads",
        "20000",
        "--recv-mode",
        "xdp",
        "-n",
        "-Pn",
        "-p",
        "80",
        &target.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    measured(scanner.to_str().context("scanner path")?, &args)
}

/// The other sides: `mode` "pcap" (a filtered libpcap handle per waiter) or "packet"
/// (one unfiltered packet socket, hash dispatch).
fn other_dispatch(mode: &str, target: Ipv4Addr, n: usize, per: usize) -> Result<DispatchRun> {
    let worker = crate::workspace_root()
        .join("target/release")
        .join(PCAP_DISPATCH_BIN);
    anyhow::ensure!(
        worker.exists(),
        "{} is missing: `cargo xtask bench scripts` builds it",
        worker.display()
    );
    let args: Vec<String> = [mode, &n.to_string(), &per.to_string(), &target.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    measured(worker.to_str().context("worker path")?, &args)
}

/// "K/WANTED" replies, "stopped" first when the run hit its time budget.
fn replies(run: &DispatchRun, wanted: usize) -> String {
    let stopped = if run.stopped { "stopped " } else { "" };
    format!("{stopped}{}/{wanted}", run.replies)
}

/// CPU per reply in µs, less the cost of the same run without packets.
fn micros_per_reply(run: &DispatchRun, idle: &DispatchRun) -> String {
    if run.replies == 0 {
        return "-".into();
    }
    format!(
        "{:.1}",
        (run.busy - idle.busy).max(0.0) * 1e6 / run.replies as f64
    )
}

fn dispatch(scanner: &Path) -> Result<()> {
    let target = lab::host("web").addr;
    let dir = std::env::temp_dir().join(format!("scanner-bench-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("raw-dispatch.nse");
    std::fs::write(&script, DISPATCH_SCRIPT)?;
    println!("\n== Dispatch: N waiters, {PACKETS} ICMP echo replies in all, to {target} ==");
    println!(
        "{:>6} | {:>18} {:>7} {:>10} | {:>30} {:>7} {:>10} | {:>18} {:>7} {:>10} | {:>7} {:>7}",
        "N",
        "scanner replies",
        "wall s",
        "CPU µs/rep",
        "libpcap replies",
        "wall s",
        "CPU µs/rep",
        "AF_PACKET replies",
        "wall s",
        "CPU µs/rep",
        "pcap/x",
        "pkt/x"
    );
    for n in WAITERS {
        let per = (PACKETS / n).max(1);
        let ours_idle = scanner_dispatch(scanner, &script, target, n, 0)?;
        let ours = scanner_dispatch(scanner, &script, target, n, per)?;
        let pcap_idle = other_dispatch("pcap", target, n, 0)?;
        let pcap = other_dispatch("pcap", target, n, per)?;
        let packet_idle = other_dispatch("packet", target, n, 0)?;
        let packet = other_dispatch("packet", target, n, per)?;
        let (a, b, c) = (
            micros_per_reply(&ours, &ours_idle),
            micros_per_reply(&pcap, &pcap_idle),
            micros_per_reply(&packet, &packet_idle),
        );
        let ratio = |theirs: &str| match (a.parse::<f64>(), theirs.parse::<f64>()) {
            (Ok(a), Ok(b)) if a > 0.0 => format!("{:.1}x", b / a),
            _ => "-".into(),
        };
        println!(
            "{n:>6} | {:>18} {:>7.2} {a:>10} | {:>30} {:>7.2} {b:>10} | {:>18} {:>7.2} {c:>10} | {:>7} {:>7}",
            replies(&ours, n * per),
            ours.seconds,
            match pcap.opened.or(pcap_idle.opened) {
                Some(opened) => format!("{opened}/{n} handles open in {}s", PCAP_BUDGET.as_secs()),
                None => replies(&pcap, n * per),
            },
            pcap.seconds,
            replies(&packet, n * per),
            packet.seconds,
            ratio(&b),
            ratio(&c),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("(CPU: the whole machine's busy time from /proc/stat, less the same run with no packets; pcap/x, pkt/x = CPU per reply of libpcap, of AF_PACKET, over the scanner's)");
    Ok(())
}

/// `-sV -sC` by both tools: the first line of each (port, script) output.
fn default_scripts(scanner: &Path) -> Result<()> {
    let hosts: Vec<String> = ["web", "svc", "dns"]
        .iter()
        .map(|h| lab::host(h).addr.to_string())
        .collect();
    let mut args: Vec<String> = [
        "-sS",
        "-sU",
        "-sV",
        "-sC",
        "-n",
        "-Pn",
        "-p",
        "T:21,22,53,80,443,6379,11211,U:53",
        "-oX",
        "-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(hosts.iter().cloned());
    println!("\n== -sV -sC on {} next to nmap's ==", hosts.join(" "));
    let ours = measured_in_ns(
        SCANNER_NS,
        scanner.to_str().context("scanner path")?,
        &args,
        LIMIT,
    )?;
    let theirs = measured_in_ns(SCANNER_NS, "nmap", &args, LIMIT)?;
    let (a, b) = (
        nmap_xml::script_outputs(&ours.stdout),
        nmap_xml::script_outputs(&theirs.stdout),
    );
    println!(
        "scanner {:.2} s, nmap {:.2} s: {:.1}x",
        ours.seconds,
        theirs.seconds,
        theirs.seconds / ours.seconds.max(1e-3)
    );
    let mut same = 0;
    let mut both = 0;
    for (key, theirs_out) in &b {
        let Some(ours_out) = a.get(key) else {
            println!("  {key:<40} nmap only: {}", first_line(theirs_out));
            continue;
        };
        both += 1;
        let agree = first_line(ours_out) == first_line(theirs_out);
        same += usize::from(agree);
        println!(
            "  {key:<40} {} {}",
            if agree { "same:" } else { "DIFFERENT: ours" },
            first_line(ours_out)
        );
        if !agree {
            println!("  {:<40} nmap's: {}", "", first_line(theirs_out));
        }
    }
    for key in a.keys().filter(|k| !b.contains_key(*k)) {
        println!("  {key:<40} scanner only: {}", first_line(&a[key]));
    }
    println!("{same} of {both} (port, script) outputs both ran agree on their first line");
    Ok(())
}

fn first_line(text: &str) -> String {
    text.replace("&#xa;", "\n")
        .trim()
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

pub fn run(scanner: &Path) -> Result<()> {
    dispatch(scanner)?;
    default_scripts(scanner)
}
