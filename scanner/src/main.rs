//! The `scanner` binary: parses the command line, picks the scan (an nmap-style SYN
//! scan, or a stateless sweep for large spaces), runs it on a single-threaded tokio
//! runtime, and writes the results.

use anyhow::{bail, Context, Result};
use clap::Parser;
use scanner::cli::{normalize_args, parse_port_range, Args};
use scanner::discovery::PingSpec;
use scanner::engine::timing::{parse_time, Timing};
use scanner::engine::NetworkOptions;
use scanner::io::privileges;
use scanner::pipeline::{self, Discovery, RawScanOptions};
use scanner::portscan::connect::{self, ConnectScanOptions};
use scanner::portscan::syn::{parse_scan_flags, Reading, TcpProbe};
use scanner::report::fields::Field;
use scanner::report::progress::ProgressOptions;
use scanner::report::{
    csv::Csv, grepable, json::JsonLines, normal, services, xml, FindingSink, OutputOptions,
    PortFinding, ScanResult,
};
use scanner::sweep::{self, resume::ResumeState, SweepOptions};
use scanner::target::permutation::Shard;
use scanner::target::{blocklist, ports::PortList, resolve, TargetSet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Above this many probes a scan runs as a stateless sweep.
const SWEEP_THRESHOLD: u64 = 1 << 20;

/// Findings go to every streaming writer the user asked for.
struct Sinks {
    json: Option<JsonLines>,
    csv: Option<Csv>,
}

impl FindingSink for Sinks {
    fn finding(&mut self, finding: &PortFinding) -> Result<()> {
        if let Some(json) = &mut self.json {
            json.finding(finding)?;
        }
        if let Some(csv) = &mut self.csv {
            csv.finding(finding)?;
        }
        Ok(())
    }
}

fn main() {
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let args = Args::parse_from(normalize_args(std::env::args()));
    if let Err(err) = run(args, &command_line) {
        eprintln!("scanner: error: {err:#}");
        std::process::exit(1);
    }
}

fn notice(message: &str) {
    eprintln!("scanner: {message}");
}

/// Loads `--servicedb` in place of the built-in services table.
fn load_services(args: &Args) -> Result<()> {
    if let Some(path) = &args.servicedb {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        services::install(services::ServicesTable::parse(
            &text,
            &path.display().to_string(),
        )?)?;
    }
    Ok(())
}

/// The `proto` ("tcp", "udp") ports to scan: -p, -F or --top-ports, minus
/// --exclude-ports.
fn port_list(args: &Args, proto: &str) -> Result<PortList> {
    let table = services::table();
    let ports = match (&args.ports, args.top_ports) {
        _ if args.fast => PortList::top_for(100, table, proto)?,
        (_, Some(n)) => PortList::top_for(n, table, proto)?,
        (Some(spec), None) if spec == "-" => PortList::parse_tcp("1-65535")?,
        (Some(spec), None) => PortList::parse_for(spec, table, proto)?,
        (None, None) if proto == "udp" => PortList::top_for(1000, table, proto)?,
        (None, None) => PortList::parse_tcp("1-1024")?,
    };
    match &args.exclude_ports {
        Some(spec) => ports.without(&PortList::parse_for(spec, table, proto)?),
        None => Ok(ports),
    }
}

/// What the -s flags ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ScanTypes {
    tcp: Option<Reading>,
    udp: bool,
    connect: bool,
    /// -sn: host discovery only.
    ping_only: bool,
}

impl ScanTypes {
    fn parse(flags: &[String]) -> Result<Self> {
        let mut types = Self::default();
        for flag in flags {
            if flag == "n" {
                types.ping_only = true;
                continue;
            }
            for letter in flag.chars() {
                let reading = match letter {
                    'S' => Reading::Syn,
                    'A' => Reading::Ack,
                    'F' => Reading::Fin,
                    'N' => Reading::Null,
                    'X' => Reading::Xmas,
                    'U' => {
                        types.udp = true;
                        continue;
                    }
                    'T' => {
                        types.connect = true;
                        continue;
                    }
                    other => bail!(
                        "-s{other} is not available in this version: -sS, -sT, -sA, -sF, -sN, -sX, -sU and -sn are"
                    ),
                };
                if types.tcp.is_some_and(|r| r != reading) {
                    bail!("one TCP scan type at a time (-sS, -sA, -sF, -sN or -sX)");
                }
                types.tcp = Some(reading);
            }
        }
        if types.connect && (types.tcp.is_some() || types.udp) {
            bail!("-sT runs alone: it uses the operating system's connect(), not raw packets");
        }
        if types.ping_only && (types.tcp.is_some() || types.udp || types.connect) {
            bail!("-sn means no port scan: drop it, or the other -s flags");
        }
        Ok(types)
    }
}

/// The host discovery the -P flags (or their absence) ask for.
fn discovery(args: &Args) -> Result<Discovery> {
    if args.no_ping {
        if !args.ping.is_empty() {
            bail!("-Pn skips host discovery: drop it, or the other -P flags");
        }
        return Ok(Discovery::Skip);
    }
    if args.ping.is_empty() {
        return Ok(Discovery::Ping {
            pings: PingSpec::nmap_default(),
            arp: !args.disable_arp_ping,
        });
    }
    let mut pings = PingSpec::default();
    let ports = |rest: &str, default: u16| -> Result<Vec<u16>> {
        if rest.is_empty() {
            return Ok(vec![default]);
        }
        Ok(PortList::parse_tcp(rest)
            .with_context(|| format!("in the ports of a -P flag ({rest:?})"))?
            .as_slice()
            .to_vec())
    };
    for flag in &args.ping {
        let (kind, rest) = flag.split_at(flag.chars().next().map_or(0, char::len_utf8));
        match kind {
            "E" if rest.is_empty() => pings.echo = true,
            "P" if rest.is_empty() => pings.timestamp = true,
            "M" if rest.is_empty() => pings.mask = true,
            "R" if rest.is_empty() => {}
            "S" => pings.syn_ports.extend(ports(rest, 80)?),
            "A" => pings.ack_ports.extend(ports(rest, 80)?),
            "U" => pings.udp_ports.extend(ports(rest, 40125)?),
            _ => bail!(
                "-P{flag} is not a host discovery flag: -PE, -PP, -PM, -PS[ports], -PA[ports], -PU[ports], -PR and -Pn are"
            ),
        }
    }
    pings.validate()?;
    Ok(Discovery::Ping {
        pings,
        arp: !args.disable_arp_ping,
    })
}

/// The timing: the -T template, then the options that override parts of it.
fn timing(args: &Args, sweep_mode: bool) -> Result<Timing> {
    let mut timing = match &args.timing {
        Some(level) => Timing::parse_template(level)?,
        None => Timing::template(3)?,
    };
    if let Some(rate) = args.rate {
        timing.rate = rate.max(1) as f64;
    }
    if let Some(min) = args.min_rate {
        timing.rate = timing.rate.max(min);
    }
    if let Some(delay) = &args.scan_delay {
        let delay = parse_time(delay).context("in --scan-delay")?;
        if !delay.is_zero() {
            timing.rate = timing.rate.min(1.0 / delay.as_secs_f64());
        }
    }
    if let Some(cap) = args.max_rate {
        timing.rate = timing.rate.min(cap.max(1) as f64);
    }
    if let Some(retries) = args.retries {
        timing.retries = retries;
    } else if sweep_mode {
        timing.retries = 0;
    }
    let wait = args.wait.unwrap_or(if sweep_mode { 1.0 } else { 0.2 });
    if !(0.0..=3600.0).contains(&wait) {
        bail!("--wait must be between 0 and 3600 seconds");
    }
    timing.wait = Duration::from_secs_f64(wait);
    for (text, slot, flag) in [
        (
            &args.initial_rtt_timeout,
            &mut timing.initial_timeout,
            "--initial-rtt-timeout",
        ),
        (
            &args.min_rtt_timeout,
            &mut timing.min_timeout,
            "--min-rtt-timeout",
        ),
        (
            &args.max_rtt_timeout,
            &mut timing.max_timeout,
            "--max-rtt-timeout",
        ),
    ] {
        if let Some(text) = text {
            *slot = parse_time(text).with_context(|| format!("in {flag}"))?;
        }
    }
    if timing.min_timeout > timing.max_timeout {
        bail!("--min-rtt-timeout is above --max-rtt-timeout");
    }
    if let Some(n) = args.max_parallelism {
        timing.max_parallelism = n as usize;
    }
    if let Some(n) = args.min_parallelism {
        timing.min_parallelism = n as usize;
    }
    if args.min_rate.is_some() {
        // nmap: --min-rate holds the rate up whatever the congestion window says.
        timing.min_parallelism = timing.max_parallelism;
    }
    if timing.min_parallelism > timing.max_parallelism {
        bail!("--min-parallelism is above --max-parallelism");
    }
    if let Some(text) = &args.host_timeout {
        let limit = parse_time(text).context("in --host-timeout")?;
        timing.host_timeout = (!limit.is_zero()).then_some(limit);
    }
    Ok(timing)
}

/// The targets (arguments and -iL, names resolved) minus `--exclude` and
/// `--excludefile`, with the names given for addresses.
fn targets(
    args: &Args,
    runtime: &tokio::runtime::Runtime,
) -> Result<(TargetSet, Vec<(String, Ipv4Addr)>)> {
    let mut specs = args.targets.clone();
    if let Some(path) = &args.input_list {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the target list {}", path.display()))?;
        specs.extend(
            text.lines()
                .map(|line| line.split('#').next().unwrap_or(""))
                .flat_map(str::split_whitespace)
                .map(str::to_string),
        );
    }
    let (names, mut specs): (Vec<String>, Vec<String>) =
        specs.into_iter().partition(|s| resolve::is_host_name(s));
    let resolved = runtime.block_on(resolve::resolve(&names))?;
    for name in &resolved {
        specs.push(match &name.prefix {
            Some(bits) => format!("{}/{bits}", name.addr),
            None => name.addr.to_string(),
        });
    }
    let targets = TargetSet::parse(&specs)?;
    let specs: Vec<&str> = args.exclude.iter().flat_map(|e| e.split(',')).collect();
    let mut excluded = TargetSet::parse(&specs).context("in --exclude")?;
    if let Some(path) = &args.excludefile {
        excluded = excluded.union(&TargetSet::parse_file(path).context("in --excludefile")?);
    }
    let names = resolved.into_iter().map(|r| (r.name, r.addr)).collect();
    Ok((targets.subtract(&excluded), names))
}

/// Writes an end-of-scan output to `path`, or to standard output for `-`.
fn write_output(path: &str, text: &str, what: &str) -> Result<()> {
    if path == "-" {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {what} output to {path}"))
}

fn run(args: Args, command_line: &str) -> Result<()> {
    let raw_allowed = privileges::raw_packets_allowed();
    let mut types = ScanTypes::parse(&args.scan_type)?;
    if types == ScanTypes::default() {
        if raw_allowed {
            types.tcp = Some(Reading::Syn);
        } else {
            notice("no raw-packet privileges (root or CAP_NET_RAW): running a connect scan (-sT); run as root for -sS");
            types.connect = true;
        }
    }
    load_services(&args)?;
    let tcp_ports = (types.tcp.is_some() || types.connect)
        .then(|| port_list(&args, "tcp"))
        .transpose()?;
    let udp_ports = types.udp.then(|| port_list(&args, "udp")).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut targets, names) = targets(&args, &runtime)?;
    if targets.is_empty() {
        bail!("no targets left after --exclude / --excludefile");
    }
    let fields = Field::parse_list(&args.output_fields)?;
    let probes = targets.len() * tcp_ports.as_ref().map_or(0, |p| p.len() as u64);
    let sweep_mode = types.tcp == Some(Reading::Syn)
        && !types.udp
        && (args.sweep
            || args.shard.is_some()
            || args.resume.is_some()
            || probes > SWEEP_THRESHOLD);
    if (types.connect || types.udp || types.ping_only)
        && (args.sweep || args.shard.is_some() || args.resume.is_some())
    {
        bail!("sweeps are SYN scans: drop -sT, -sU and -sn, and run as root (or with CAP_NET_RAW)");
    }
    if !types.connect && !raw_allowed {
        bail!("-sS, -sU, -sn, the other raw scans and sweeps send raw packets: run as root (or give the binary CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF), or use -sT");
    }
    if sweep_mode && !args.sweep && probes > SWEEP_THRESHOLD {
        notice(&format!(
            "{probes} probes: running as a stateless sweep (open ports only)"
        ));
    }
    if sweep_mode && !args.allow_reserved_targets {
        let allowed = targets.subtract(&blocklist::reserved());
        let left_out = targets.len() - allowed.len();
        if left_out > 0 {
            notice(&format!(
                "left out {left_out} reserved or private address(es) (the default blocklist, RFC 6890); \
                 --allow-reserved-targets includes them"
            ));
        }
        targets = allowed;
        if targets.is_empty() {
            bail!("every target is in a reserved or private range: add --allow-reserved-targets to sweep them (the lab is in 198.18.0.0/15)");
        }
    }
    let timing = timing(&args, sweep_mode)?;
    let progress = ProgressOptions {
        on_terminal: !args.no_progress,
        plain_every: None,
        stats_every: args
            .stats_every
            .as_deref()
            .map(|t| parse_time(t).context("in --stats-every"))
            .transpose()?
            .filter(|every| !every.is_zero()),
    };
    let mut sinks = Sinks {
        json: args
            .output_json
            .clone()
            .or_else(|| args.output_all.as_ref().map(|b| format!("{b}.jsonl")))
            .as_deref()
            .map(|path| JsonLines::create(path, &fields))
            .transpose()?,
        csv: args
            .output_csv
            .as_deref()
            .map(|path| Csv::create(path, &fields))
            .transpose()?,
    };
    let net = NetworkOptions {
        send_mode: args.send_mode,
        recv_mode: args.recv_mode,
        xdp_mode: args.xdp_mode,
        iface: args.iface.clone(),
        src_ip: args.src_ip,
        src_ports: parse_port_range(&args.source_ports)?,
    };
    let mut report = |message: &str| notice(message);
    let mut result: ScanResult = if sweep_mode {
        let resume = args.resume.as_deref().map(ResumeState::load).transpose()?;
        let seed = match (&resume, args.seed) {
            (Some(state), Some(seed)) if state.seed != seed => bail!(
                "--seed {seed} differs from the resume file's seed {}",
                state.seed
            ),
            (Some(state), _) => state.seed,
            (None, Some(seed)) => seed,
            (None, None) => rand::random(),
        };
        let opts = SweepOptions {
            targets,
            ports: tcp_ports.context("a sweep scans TCP ports")?,
            rate: timing.rate.max(1.0) as u64,
            retries: timing.retries,
            wait: timing.wait,
            net: net.clone(),
            seed,
            shard: args
                .shard
                .as_deref()
                .map(Shard::parse)
                .transpose()?
                .unwrap_or(Shard::WHOLE),
            threads: args.threads,
            resume,
            resume_path: args.resume_file.clone(),
            progress: ProgressOptions {
                plain_every: (!args.no_progress).then_some(Duration::from_secs(5)),
                ..progress
            },
        };
        let (result, stats) = runtime.block_on(sweep::run(&opts, &mut sinks, &mut report))?;
        if args.verbose > 0 {
            notice(&format!(
                "sweep seed {seed}: sent {} probes via {} ({} thread(s)), {} replies via {} ({} open, {} closed, {} duplicates, {} lost in the kernel ring)",
                stats.sent, stats.send_path, stats.threads, stats.replies, stats.recv_path, stats.open, stats.closed, stats.duplicates, stats.lost_in_kernel
            ));
        }
        result
    } else if types.connect {
        let opts = ConnectScanOptions {
            targets,
            ports: tcp_ports.context("a connect scan scans TCP ports")?,
            retries: args.retries.unwrap_or(2),
            parallelism: args.max_parallelism.map_or(256, |n| n as usize),
        };
        let (result, stats) = runtime.block_on(connect::run(&opts, &mut sinks))?;
        if args.verbose > 0 {
            notice(&format!(
                "connect scan: {} connects, {} timed out",
                stats.attempts, stats.timeouts
            ));
        }
        result
    } else {
        let tcp = match (types.tcp, tcp_ports) {
            (Some(reading), Some(ports)) => {
                let mut probe = TcpProbe::standard(reading);
                if let Some(flags) = &args.scan_flags {
                    probe.flags = parse_scan_flags(flags)?;
                }
                Some((probe, ports))
            }
            _ => None,
        };
        let opts = RawScanOptions {
            targets,
            discovery: discovery(&args)?,
            tcp,
            udp: udp_ports,
            timing,
            net: net.clone(),
            seed: args.seed,
            progress,
            debug: args.debug,
        };
        let (result, stats) = runtime.block_on(pipeline::run(&opts, &mut sinks, &mut report))?;
        if args.verbose > 0 || args.debug > 0 {
            notice(&format!(
                "sent {} probes ({} retransmits) via {}, {} replies via {} ({} duplicates, {} lost in the kernel ring), {} RSTs, congestion window halved {} time(s)",
                stats.probes_sent, stats.retransmits, stats.send_path, stats.replies, stats.recv_path, stats.duplicates, stats.replies_lost_in_kernel, stats.rsts_sent, stats.window_cuts
            ));
        }
        result
    };
    result.args = command_line.to_string();
    if !args.no_dns && (!sweep_mode || args.resolve_all) {
        let up: Vec<Ipv4Addr> = result
            .hosts
            .iter()
            .filter(|(_, host)| host.is_up())
            .map(|(addr, _)| *addr)
            .collect();
        for (addr, name) in runtime.block_on(resolve::reverse(&up)) {
            if let Some(host) = result.hosts.get_mut(&addr) {
                host.ptr_name = Some(name);
            }
        }
    }
    for (name, addr) in names {
        if let Some(host) = result.hosts.get_mut(&addr) {
            host.hostname.get_or_insert(name);
        }
    }
    let view = OutputOptions {
        open_only: args.open,
        reason: args.reason,
    };
    let base = args.output_all.as_deref();
    let normal_path = args
        .output_normal
        .clone()
        .or_else(|| base.map(|b| format!("{b}.nmap")));
    let xml_path = args
        .output_xml
        .clone()
        .or_else(|| base.map(|b| format!("{b}.xml")));
    let grepable_path = args
        .output_grepable
        .clone()
        .or_else(|| base.map(|b| format!("{b}.gnmap")));
    let text = normal::render(&result, view);
    let to_stdout = [
        &args.output_json,
        &args.output_csv,
        &xml_path,
        &grepable_path,
    ]
    .iter()
    .any(|path| path.as_deref() == Some("-"));
    if !to_stdout {
        print!("{text}");
    }
    if let Some(path) = &normal_path {
        write_output(path, &text, "normal")?;
    }
    if let Some(path) = &xml_path {
        write_output(path, &xml::render(&result, view), "XML")?;
    }
    if let Some(path) = &grepable_path {
        write_output(path, &grepable::render(&result, view), "grepable")?;
    }
    Ok(())
}
