//! `cargo xtask bench sweep`: the scanner next to masscan and zmap on the same lab, in
//! one run, printing a table of rates, ratios and what each found.
//!
//! 1. Sender-limited: each tool sends 2,097,152 probes into 198.18.128.0/17, routed to
//!    the sink host, which drops every IPv4 frame at XDP; the rate is what arrived
//!    there (the sink program's own counter, printed every 20 ms by `lab-xdp-drop`,
//!    over the active window), with each sender's CPU seconds per million probes.
//! 2. Accuracy at speed: port 80 over the catch-all 198.19.0.0/16 (65,536 open), and
//!    all 65,535 ports of the web host (22, 80, 443 open), each tool at its maximum
//!    and as a user would run it (the scanner with its default sender threads, one
//!    per CPU), each writing one line per port found (the scanner JSON lines).
//!    Part 1 and part 4 give the scanner's rows their thread count by name.
//! 3. Scale: the scanner's peak RSS and CPU seconds per million probes for the
//!    catch-all /16 × 4 ports and × 16 ports (memory should not grow with the sweep).
//! 4. Probe modules (also alone: `cargo xtask bench sweep-modules`): the send rate of
//!    the UDP, ACK and ICMP echo sweeps next to the SYN sweep's, as in part 1 (the
//!    same 2,097,152 probes into the sink; ICMP echo, and UDP to port 53 with its DNS
//!    payload, probe each of the sink's 32,768 hosts 21 times, as passes), printed as
//!    ratios (goal: within 10%).

use crate::lab::{self, host, SCANNER_NS};
use crate::shell::{output, run};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SINK_PROBES: u64 = 1 << 21;

/// One sender's row: tool, median pps, frames arrived, CPU seconds, every run's pps.
type SenderResult = (&'static str, f64, u64, f64, Vec<f64>);

/// Paths and addresses the benchmark needs.
pub struct Bench {
    pub scanner: PathBuf,
    pub xdp_drop: PathBuf,
    pub out_dir: PathBuf,
}

fn mac_of(ns: &str) -> Result<String> {
    Ok(output(
        "ip",
        &["netns", "exec", ns, "cat", "/sys/class/net/eth0/address"],
    )?
    .trim()
    .to_string())
}

fn in_scanner_ns(program: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", SCANNER_NS])
        .arg(program)
        .args(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// The sink's drop counter, as the running `lab-xdp-drop` prints it.
struct SinkCounter {
    child: Child,
    lines: std::sync::mpsc::Receiver<(f64, u64)>,
    latest: (f64, u64),
}

impl SinkCounter {
    fn start(xdp_drop: &Path) -> Result<Self> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", "lab-sink"])
            .arg(xdp_drop)
            .arg("eth0")
            .stdout(Stdio::piped())
            .spawn()
            .context("starting lab-xdp-drop")?;
        let stdout = child.stdout.take().context("lab-xdp-drop's output")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(|l| l.ok())
            {
                let mut parts = line.split_whitespace();
                if let (Some(Ok(ns)), Some(Ok(count))) = (
                    parts.next().map(str::parse::<u64>),
                    parts.next().map(str::parse),
                ) {
                    if tx.send((ns as f64 / 1e9, count)).is_err() {
                        break;
                    }
                }
            }
        });
        let mut counter = Self {
            child,
            lines,
            latest: (0.0, 0),
        };
        counter.latest = counter
            .lines
            .recv_timeout(Duration::from_secs(5))
            .context("lab-xdp-drop printed nothing")?;
        Ok(counter)
    }

    /// Runs `cmd` until `expected` more frames arrived or the count, once moving,
    /// stalls for two seconds (at most a minute); returns the frames and the seconds between the first and last
    /// counter reading that saw new frames.
    fn measure(&mut self, mut cmd: Command, expected: u64) -> Result<(u64, f64, f64)> {
        while let Ok(sample) = self.lines.try_recv() {
            self.latest = sample;
        }
        let base = self.latest;
        let cpu_file =
            std::env::temp_dir().join(format!("scanner-bench-cpu-{}", std::process::id()));
        let mut timed = Command::new("/usr/bin/time");
        timed
            .args(["-f", "%U %S", "-o"])
            .arg(&cpu_file)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        timed
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = &mut cmd;
        let mut child = timed.spawn().context("starting the sender")?;
        let mut first: Option<(f64, u64)> = None;
        let mut last = base;
        loop {
            let Ok(sample) = self.lines.recv_timeout(Duration::from_secs(5)) else {
                bail!("lab-xdp-drop stopped")
            };
            if sample.1 > last.1 {
                first.get_or_insert(last);
                last = sample;
            }
            // A sender that is still starting (loading its XDP program on a busy
            // machine) has not stalled: only a count that stops after moving has.
            let stalled = first.is_some() && sample.0 - last.0 > 2.0;
            if sample.1 - base.1 >= expected || stalled || sample.0 - base.0 > 60.0 {
                break;
            }
        }
        stop(&mut child);
        let cpu: f64 = std::fs::read_to_string(&cpu_file)
            .unwrap_or_default()
            .lines()
            .last()
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|v| v.parse::<f64>().ok())
                    .sum()
            })
            .unwrap_or(f64::NAN);
        let _ = std::fs::remove_file(cpu_file);
        let (t0, _) = first.context("nothing arrived at the sink")?;
        Ok((last.1 - base.1, (last.0 - t0).max(1e-3), cpu))
    }
}

impl Drop for SinkCounter {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn stop(child: &mut Child) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
}

struct Row {
    tool: &'static str,
    text: String,
}

impl Bench {
    /// A scanner sweep with `args`, on the fast paths by name unless `args` names
    /// another sender: a path that cannot open stops the run instead of measuring a
    /// fallback under the fast path's name.
    fn scanner_sweep(&self, args: &[&str]) -> Command {
        let mut all = vec![
            "--sweep",
            "--allow-reserved-targets",
            "--no-progress",
            "--recv-mode",
            "xdp",
        ];
        if !args.contains(&"--send-mode") {
            all.extend(["--send-mode", "afxdp"]);
        }
        all.extend_from_slice(args);
        in_scanner_ns(&self.scanner, &all)
    }

    /// The scanner sending `SINK_PROBES` into the sink as fast as it can, with `extra`.
    fn scanner_into_sink(&self, extra: &[&str]) -> Command {
        let mut args = extra.to_vec();
        args.extend([
            "-p",
            "1-64",
            "--rate",
            "100000000",
            "--wait",
            "0",
            lab::SINK_RANGE,
        ]);
        self.scanner_sweep(&args)
    }

    fn masscan(&self, router_mac: &str, extra: &[&str]) -> Result<Command> {
        let scanner_mac = mac_of(SCANNER_NS)?;
        let mut args = vec![
            "-e",
            "eth0",
            "--adapter-ip",
            "198.18.0.1",
            "--adapter-mac",
            &scanner_mac,
            "--router-mac",
            router_mac,
        ];
        args.extend_from_slice(extra);
        Ok(in_scanner_ns(
            Path::new("masscan"),
            &args.iter().map(|s| &**s).collect::<Vec<_>>(),
        ))
    }

    fn zmap(&self, gateway_mac: &str, extra: &[&str]) -> Result<Command> {
        let empty = self.out_dir.join("empty-blocklist");
        std::fs::write(&empty, "")?;
        let empty = empty.to_str().unwrap().to_string();
        let mut args = vec![
            "-i",
            "eth0",
            "-S",
            "198.18.0.1",
            "-G",
            gateway_mac,
            "-b",
            &empty,
            "-q",
        ];
        args.extend_from_slice(extra);
        Ok(in_scanner_ns(Path::new("zmap"), &args))
    }

    /// Part 1: frames per second each sender gets into the sink, and its CPU seconds
    /// (median of three runs each; the rows are (tool, pps, frames, CPU s, all pps)).
    fn sender_limited(&self) -> Result<Vec<SenderResult>> {
        let sink_mac = mac_of("lab-sink")?;
        let mut counter = SinkCounter::start(&self.xdp_drop)?;
        let mut results = Vec::new();
        let tools: [&'static str; 7] = [
            "scanner (XDP live)",
            "scanner (XDP live, 2 thr)",
            "scanner (AF_XDP)",
            "scanner (AF_XDP, 2 thr)",
            "scanner (AF_PACKET)",
            "masscan",
            "zmap",
        ];
        for tool in tools {
            let mut runs = Vec::new();
            for _ in 0..3 {
                let cmd = match tool {
                    "scanner (XDP live)" => {
                        self.scanner_into_sink(&["--send-mode", "xdp", "--threads", "1"])
                    }
                    "scanner (XDP live, 2 thr)" => {
                        self.scanner_into_sink(&["--send-mode", "xdp", "--threads", "2"])
                    }
                    "scanner (AF_XDP)" => self.scanner_into_sink(&["--threads", "1"]),
                    "scanner (AF_XDP, 2 thr)" => self.scanner_into_sink(&["--threads", "2"]),
                    "scanner (AF_PACKET)" => {
                        self.scanner_into_sink(&["--send-mode", "packet", "--threads", "1"])
                    }
                    "masscan" => self.masscan(
                        &sink_mac,
                        &[
                            "-p1-64",
                            "--rate",
                            "10000000",
                            "--wait",
                            "0",
                            lab::SINK_RANGE,
                        ],
                    )?,
                    _ => self.zmap(
                        &sink_mac,
                        &[
                            "-p",
                            "80",
                            "-P",
                            "64",
                            "-r",
                            "0",
                            "-c",
                            "0",
                            "-o",
                            "/dev/null",
                            lab::SINK_RANGE,
                        ],
                    )?,
                };
                let (frames, seconds, cpu) = counter.measure(cmd, SINK_PROBES)?;
                runs.push((frames as f64 / seconds, frames, cpu));
            }
            let all: Vec<f64> = runs.iter().map(|r| r.0).collect();
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (rate, frames, cpu) = runs[1];
            results.push((tool, rate, frames, cpu, all));
        }
        Ok(results)
    }

    /// Part 2: what each tool finds at its maximum rate, for two cases: port 80 over
    /// the catch-all /16, and every port of the web host.
    fn accuracy(&self) -> Result<Vec<Row>> {
        let web = host("web");
        let web_addr = web.addr.to_string();
        let web_open: BTreeSet<u16> = web.open_tcp_ports().into_iter().collect();
        let cases = [
            ("80", lab::SWEEP_RANGE, mac_of("lab-sweep")?),
            ("1-65535", web_addr.as_str(), mac_of("lab-web")?),
        ];
        let mut rows = Vec::new();
        for (n, tool) in ["scanner", "scanner (XDP live)", "masscan"]
            .into_iter()
            .enumerate()
        {
            let out = self.out_dir.join(format!("accuracy-{n}.found"));
            let out_arg = out.to_str().context("output path")?.to_string();
            // (open ports found, their port numbers, seconds) per case.
            let mut found: Vec<(usize, BTreeSet<u16>, f64)> = Vec::new();
            for (ports, target, router_mac) in &cases {
                let started = Instant::now();
                if tool.starts_with("scanner") {
                    // One line per port found, as zmap's and masscan's files: JSON
                    // lines streamed (as found, nothing kept), its default threads.
                    let mut args = vec![
                        "-p",
                        ports,
                        "--rate",
                        "100000000",
                        "--wait",
                        "2",
                        "-oJ",
                        "-",
                        target,
                    ];
                    if tool.contains("XDP live") {
                        args.extend(["--send-mode", "xdp"]);
                    }
                    self.scanner_sweep(&args)
                        .stdout(std::fs::File::create(&out)?)
                        .status()?;
                    let text = std::fs::read_to_string(&out).unwrap_or_default();
                    let ports_found = lab::truth::parse_findings(&text)?
                        .keys()
                        .map(|(_, port)| *port)
                        .collect();
                    found.push((
                        count_lines(&out)?,
                        ports_found,
                        started.elapsed().as_secs_f64(),
                    ));
                } else {
                    let port_arg = format!("-p{ports}");
                    let mut cmd = self.masscan(
                        router_mac,
                        &[
                            &port_arg, "--rate", "10000000", "--wait", "2", "-oL", &out_arg, target,
                        ],
                    )?;
                    run_with_limit(&mut cmd, Duration::from_secs(30))?;
                    found.push((
                        count_prefixed(&out, "open ")?,
                        masscan_ports(&out)?,
                        started.elapsed().as_secs_f64(),
                    ));
                }
            }
            let (catch_all, _, catch_all_time) = &found[0];
            let (_, web_found, web_time) = &found[1];
            rows.push(accuracy_row(
                tool,
                *catch_all,
                *catch_all_time,
                web_found,
                &web_open,
                *web_time,
            ));
        }

        let zout = self.out_dir.join("zmap.csv");
        let zout_arg = zout.to_str().context("output path")?.to_string();
        let started = Instant::now();
        let mut cmd = self.zmap(
            &cases[0].2,
            &[
                "-p",
                "80",
                "-r",
                "0",
                "-c",
                "2",
                "-o",
                &zout_arg,
                lab::SWEEP_RANGE,
            ],
        )?;
        run_with_limit(&mut cmd, Duration::from_secs(30))?;
        rows.push(Row {
            tool: "zmap",
            text: format!(
                "{}/65536 in {:.1} s | one port per run: n/a",
                count_lines(&zout)?,
                started.elapsed().as_secs_f64()
            ),
        });
        Ok(rows)
    }

    /// Part 4: each probe module's sweep into the sink, as in part 1 (AF_XDP, one
    /// thread, median of three): (module, pps, frames, CPU s, every run's pps).
    pub fn modules(&self) -> Result<Vec<SenderResult>> {
        let mut counter = SinkCounter::start(&self.xdp_drop)?;
        // ICMP (and the DNS-payload case) probe each of the sink's 32,768 addresses
        // once per pass: 21 passes (the most --retries allows) make 688,128 probes.
        const PASSES: u64 = 21;
        let hosts = SINK_PROBES / 64;
        let cases: [(&'static str, &[&str], u64); 5] = [
            ("tcp_syn (-sS)", &["-sS", "-p", "1-64"], SINK_PROBES),
            ("tcp_ack (-sA)", &["-sA", "-p", "1-64"], SINK_PROBES),
            ("udp (-sU)", &["-sU", "-p", "1-64"], SINK_PROBES),
            (
                "udp, DNS payload",
                &["-sU", "-p", "53", "--retries", "20"],
                hosts * PASSES,
            ),
            (
                "icmp_echo (-sn -PE)",
                &["-sn", "-PE", "--retries", "20"],
                hosts * PASSES,
            ),
        ];
        let mut results = Vec::new();
        for (module, flags, probes) in cases {
            let mut runs = Vec::new();
            for _ in 0..3 {
                let mut args = flags.to_vec();
                args.extend([
                    "--threads",
                    "1",
                    "--rate",
                    "100000000",
                    "--wait",
                    "0",
                    lab::SINK_RANGE,
                ]);
                let (frames, seconds, cpu) = counter
                    .measure(self.scanner_sweep(&args), probes)
                    .with_context(|| format!("the {module} sweep"))?;
                runs.push((frames as f64 / seconds, frames, cpu));
            }
            let all: Vec<f64> = runs.iter().map(|r| r.0).collect();
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (rate, frames, cpu) = runs[1];
            results.push((module, rate, frames, cpu, all));
        }
        Ok(results)
    }

    /// Part 3: the scanner's memory and CPU for two sweep sizes, with nmap's normal
    /// output (which holds every host until the end, as nmap's formats must) and with
    /// JSON lines alone on standard output (streamed: nothing held).
    fn scale(&self) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        let outputs: [(&str, &[&str]); 2] =
            [("normal output", &[]), ("-oJ - alone", &["-oJ", "-"])];
        for ((output, output_args), ports) in outputs
            .into_iter()
            .flat_map(|o| ["80-83", "80-95"].map(|ports| (o, ports)))
        {
            let mut cmd = Command::new("/usr/bin/time");
            cmd.args(["-f", "%M %U %S", "ip", "netns", "exec", SCANNER_NS])
                .arg(&self.scanner)
                .args([
                    "--sweep",
                    "--allow-reserved-targets",
                    "--no-progress",
                    "-p",
                    ports,
                    "--rate",
                    "200000",
                    "--wait",
                    "1",
                    lab::SWEEP_RANGE,
                ])
                .args(output_args)
                .stdout(Stdio::null());
            let out = cmd.output()?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or("");
            let fields: Vec<f64> = last
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            if fields.len() != 3 {
                bail!("cannot read /usr/bin/time's output: {stderr}");
            }
            let probes = 65536.0 * if ports == "80-83" { 4.0 } else { 16.0 };
            rows.push(Row {
                tool: "scanner",
                text: format!(
                    "/16 x {:>2} ports = {:>9} probes, {output:<13}: peak RSS {:>6.1} MiB, {:.2} CPU s per million probes (with the kernel work of the lab's replies)",
                    probes as u64 / 65536,
                    probes as u64,
                    fields[0] / 1024.0,
                    (fields[1] + fields[2]) / (probes / 1e6)
                ),
            });
        }
        Ok(rows)
    }
}

/// A row of part 2: the catch-all count and time, then the web host's ports.
fn accuracy_row(
    tool: &'static str,
    catch_all: usize,
    catch_all_time: f64,
    web_found: &BTreeSet<u16>,
    web_open: &BTreeSet<u16>,
    web_time: f64,
) -> Row {
    Row {
        tool,
        text: format!(
            "{catch_all}/65536 in {catch_all_time:.1} s | {}/{} {web_found:?} in {:.1} s",
            web_found.intersection(web_open).count(),
            web_open.len(),
            web_time
        ),
    }
}

fn run_with_limit(cmd: &mut Command, limit: Duration) -> Result<()> {
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + limit;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            stop(&mut child);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn count_lines(path: &Path) -> Result<usize> {
    Ok(std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count())
}

fn count_prefixed(path: &Path, prefix: &str) -> Result<usize> {
    Ok(std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count())
}

/// Ports in masscan's list output ("open tcp 80 198.18.0.10 1700000000").
fn masscan_ports(path: &Path) -> Result<BTreeSet<u16>> {
    Ok(std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("open "))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect())
}

/// Part 4 alone, on the lab as it is (bring it up first), printed as a table.
pub fn sweep_modules(bench: &Bench) -> Result<()> {
    std::fs::create_dir_all(&bench.out_dir)?;
    run("ip", &["netns", "exec", SCANNER_NS, "true"]).context("the lab is not up")?;
    println!("\n== 4. probe modules: each sweep into the sink (pps as arrived, median of 3)");
    let rates = bench.modules()?;
    let syn = rates.first().map_or(f64::NAN, |r| r.1);
    println!(
        "{:<22} {:>10}  {:>8}  {:>9}  {:>8}  runs (Mpps)",
        "module", "median", "arrived", "CPU s/M", "/SYN"
    );
    for (module, rate, frames, cpu, all) in &rates {
        let runs: Vec<String> = all.iter().map(|r| format!("{:.3}", r / 1e6)).collect();
        println!(
            "{module:<22} {:>6.3} Mpps  {frames:>8}  {:>9.2}  {:>7.3}x  {}",
            rate / 1e6,
            cpu / (*frames as f64 / 1e6),
            rate / syn,
            runs.join(" ")
        );
    }
    Ok(())
}

/// Runs all four parts and prints the table.
pub fn sweep(bench: &Bench) -> Result<()> {
    std::fs::create_dir_all(&bench.out_dir)?;
    run("ip", &["netns", "exec", SCANNER_NS, "true"]).context("the lab is not up")?;
    println!("\n== 1. sender-limited: {SINK_PROBES} probes into a sink that drops at XDP (pps as arrived, median of 3)");
    let rates = bench.sender_limited()?;
    let ours = rates
        .iter()
        .find(|r| r.0 == "scanner (AF_XDP)")
        .map(|r| r.1)
        .unwrap_or(0.0);
    let best = rates
        .iter()
        .filter(|r| r.0.starts_with("scanner"))
        .map(|r| r.1)
        .fold(0.0, f64::max);
    println!(
        "{:<24} {:>10}  {:>8}  {:>12}  {:>9}  {:>9}  runs (Mpps)",
        "sender", "median", "arrived", "CPU s/M", "AF_XDP/x", "best/x"
    );
    for (tool, rate, frames, cpu, all) in &rates {
        let cpu = if cpu.is_nan() {
            "n/a".to_string()
        } else {
            format!("{:.2}", cpu / (*frames as f64 / 1e6))
        };
        let runs: Vec<String> = all.iter().map(|r| format!("{:.3}", r / 1e6)).collect();
        println!(
            "{tool:<24} {:>6.3} Mpps  {frames:>8}  {cpu:>12}  {:>8.2}x  {:>8.2}x  {}",
            rate / 1e6,
            ours / rate,
            best / rate,
            runs.join(" ")
        );
    }
    println!("\n== 2. accuracy at each tool's maximum rate: catch-all /16 port 80 | web host, all 65535 ports");
    for row in bench.accuracy()? {
        println!("{:<22} {}", row.tool, row.text);
    }
    println!("\n== 3. scale (scanner)");
    for row in bench.scale()? {
        println!("{:<22} {}", row.tool, row.text);
    }
    sweep_modules(bench)
}
