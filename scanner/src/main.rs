//! The `scanner` binary: parses the command line, picks the scan (an nmap-style SYN
//! scan, or a stateless sweep for large spaces), runs it on a single-threaded tokio
//! runtime, and writes the results.

use anyhow::{bail, Context, Result};
use clap::Parser;
use scanner::cli::{normalize_args, parse_port_range, Args};
use scanner::engine::NetworkOptions;
use scanner::io::privileges;
use scanner::portscan::connect::{self, ConnectScanOptions};
use scanner::portscan::syn::{self, parse_scan_flags, Reading, SynScanOptions, TcpProbe};
use scanner::report::fields::Field;
use scanner::report::{
    csv::Csv, grepable, json::JsonLines, normal, services, xml, FindingSink, OutputOptions,
    PortFinding, ScanResult,
};
use scanner::sweep::{self, resume::ResumeState, SweepOptions};
use scanner::target::permutation::Shard;
use scanner::target::{blocklist, ports::PortList, resolve, TargetSet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Which scan runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScanKind {
    /// Raw TCP probes: -sS, -sA, -sF, -sN, -sX.
    Tcp(Reading),
    Connect,
}

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

/// The ports to scan: -p, -F or --top-ports, minus --exclude-ports.
fn port_list(args: &Args) -> Result<PortList> {
    if let Some(path) = &args.servicedb {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        services::install(services::ServicesTable::parse(
            &text,
            &path.display().to_string(),
        )?)?;
    }
    let table = services::table();
    let ports = match (&args.ports, args.top_ports) {
        _ if args.fast => PortList::top(100, table)?,
        (_, Some(n)) => PortList::top(n, table)?,
        (Some(spec), None) if spec == "-" => PortList::parse_tcp("1-65535")?,
        (Some(spec), None) => PortList::parse_tcp_with(spec, table)?,
        (None, None) => PortList::parse_tcp("1-1024")?,
    };
    match &args.exclude_ports {
        Some(spec) => ports.without(&PortList::parse_tcp_with(spec, table)?),
        None => Ok(ports),
    }
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
    let scan = match args.scan_type.as_deref() {
        Some("S") => ScanKind::Tcp(Reading::Syn),
        Some("A") => ScanKind::Tcp(Reading::Ack),
        Some("F") => ScanKind::Tcp(Reading::Fin),
        Some("N") => ScanKind::Tcp(Reading::Null),
        Some("X") => ScanKind::Tcp(Reading::Xmas),
        Some("T") => ScanKind::Connect,
        Some(other) => {
            bail!("-s{other} is not available in this version: -sS, -sT, -sA, -sF, -sN and -sX are")
        }
        None if raw_allowed => ScanKind::Tcp(Reading::Syn),
        None => {
            notice("no raw-packet privileges (root or CAP_NET_RAW): running a connect scan (-sT); run as root for -sS");
            ScanKind::Connect
        }
    };
    let ports = port_list(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut targets, names) = targets(&args, &runtime)?;
    if targets.is_empty() {
        bail!("no targets left after --exclude / --excludefile");
    }
    let fields = Field::parse_list(&args.output_fields)?;
    let probes = targets.len() * ports.len() as u64;
    let sweep_mode = scan == ScanKind::Tcp(Reading::Syn)
        && (args.sweep
            || args.shard.is_some()
            || args.resume.is_some()
            || probes > SWEEP_THRESHOLD);
    if scan == ScanKind::Connect && (args.sweep || args.shard.is_some() || args.resume.is_some()) {
        bail!("sweeps send raw packets: drop -sT and run as root (or with CAP_NET_RAW)");
    }
    if matches!(scan, ScanKind::Tcp(_)) && !raw_allowed {
        bail!("-sS and sweeps send raw packets: run as root (or give the binary CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF), or use -sT");
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
    let rate = args
        .max_rate
        .map_or(args.rate, |cap| args.rate.min(cap))
        .max(1);
    let retries = args.retries.unwrap_or(if sweep_mode { 0 } else { 2 });
    let wait = args.wait.unwrap_or(if sweep_mode { 1.0 } else { 0.2 });
    if !(0.0..=3600.0).contains(&wait) {
        bail!("--wait must be between 0 and 3600 seconds");
    }
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
            ports,
            rate,
            retries,
            wait: Duration::from_secs_f64(wait),
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
            progress: !args.no_progress,
        };
        let (result, stats) = runtime.block_on(sweep::run(&opts, &mut sinks, &mut report))?;
        if args.verbose > 0 {
            notice(&format!(
                "sweep seed {seed}: sent {} probes via {} ({} thread(s)), {} replies via {} ({} open, {} closed, {} duplicates, {} lost in the kernel ring)",
                stats.sent, stats.send_path, stats.threads, stats.replies, stats.recv_path, stats.open, stats.closed, stats.duplicates, stats.lost_in_kernel
            ));
        }
        result
    } else if scan == ScanKind::Connect {
        let opts = ConnectScanOptions {
            targets,
            ports,
            retries,
            parallelism: args.max_parallelism,
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
        let ScanKind::Tcp(reading) = scan else {
            unreachable!("connect scans are handled above")
        };
        let mut probe = TcpProbe::standard(reading);
        if let Some(flags) = &args.scan_flags {
            probe.flags = parse_scan_flags(flags)?;
        }
        let opts = SynScanOptions {
            probe,
            targets,
            ports,
            rate,
            retries,
            wait: Duration::from_secs_f64(wait),
            net: net.clone(),
            seed: args.seed,
        };
        let (result, stats) = runtime.block_on(syn::run(&opts, &mut sinks, &mut report))?;
        if args.verbose > 0 {
            notice(&format!(
                "sent {} probes ({} retransmits) via {}, {} replies via {} ({} duplicates, {} lost in the kernel ring), {} RSTs",
                stats.probes_sent, stats.retransmits, stats.send_path, stats.replies, stats.recv_path, stats.duplicates, stats.replies_lost_in_kernel, stats.rsts_sent
            ));
        }
        result
    };
    result.info.args = command_line.to_string();
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
