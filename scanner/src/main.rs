//! The `scanner` binary: parses the command line, picks the scan (an nmap-style SYN
//! scan, or a stateless sweep for large spaces), runs it on a single-threaded tokio
//! runtime, and writes the results.

use anyhow::{bail, Context, Result};
use clap::Parser;
use scanner::cli::plan::{
    check_named_paths, discovery, load_services, port_list, script_options, timing,
    version_detection, ScanTypes,
};
use scanner::cli::{normalize_args, parse_port_range, Args};
use scanner::discovery;
use scanner::engine::timing::parse_time;
use scanner::engine::NetworkOptions;
use scanner::io::privileges;
use scanner::pipeline::{self, RawScanOptions};
use scanner::portscan::connect::{self, ConnectScanOptions};
use scanner::portscan::syn::{parse_scan_flags, Reading, TcpProbe};
use scanner::report::fields::Field;
use scanner::report::grepable::{GrepableLog, ResumePoint};
use scanner::report::progress::ProgressOptions;
use scanner::report::{
    csv::Csv, grepable, json::JsonLines, normal, xml, FindingSink, HostResult, HostSink,
    OutputOptions, PortFinding, ScanResult, ScriptSubject,
};
use scanner::script::engine::{Engine, Phase, ScriptOptions};
use scanner::script::output::ScriptOutput;
use scanner::service::scan::{ProbeOpenPorts, VersionScan};
use scanner::sweep::{self, resume::ResumeState, SweepOptions};
use scanner::target::permutation::Shard;
use scanner::target::{blocklist, resolve, TargetSet};
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

    fn script_result(&mut self, subject: ScriptSubject, output: &ScriptOutput) -> Result<()> {
        match &mut self.json {
            Some(json) => json.script_result(subject, output),
            None => Ok(()),
        }
    }
}

fn main() {
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let args = Args::parse_from(normalize_args(std::env::args()));
    let outcome = match resume_point(&args) {
        Ok(Some(point)) => resume(point),
        Ok(None) => run(args, &command_line, false),
        Err(err) => Err(err),
    };
    if let Err(err) = outcome {
        eprintln!("scanner: error: {err:#}");
        std::process::exit(1);
    }
}

/// The `-oG` log `--resume` names, if it is one (a sweep's resume file is not).
fn resume_point(args: &Args) -> Result<Option<ResumePoint>> {
    let Some(path) = &args.resume else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the resume file {}", path.display()))?;
    Ok(ResumePoint::parse(&text))
}

/// Continues the scan a `-oG` log was written by: the same command line, without the
/// hosts the log already has, appending to the log.
fn resume(point: ResumePoint) -> Result<()> {
    let mut args = Args::try_parse_from(normalize_args(
        point.command_line.split_whitespace().map(String::from),
    ))
    .context("the command line in the resume file no longer parses")?;
    if args.output_grepable.is_none() && args.output_all.is_none() {
        bail!("the resumed scan wrote no -oG log: nothing to append to");
    }
    notice(&format!(
        "resuming: {} host(s) already finished are left out",
        point.finished.len()
    ));
    if !point.finished.is_empty() {
        let finished: Vec<String> = point.finished.iter().map(|a| a.to_string()).collect();
        args.exclude.push(finished.join(","));
    }
    run(args, &point.command_line, true)
}

/// A host sink that keeps nothing (the ping phase before a connect scan).
struct NoHosts;

impl HostSink for NoHosts {
    fn host_done(&mut self, _: Ipv4Addr, _: &HostResult) -> Result<()> {
        Ok(())
    }
}

/// Where finished hosts go: the `-oG` log written host by host, with the names the
/// user gave for them.
struct HostLog<'a> {
    log: Option<GrepableLog>,
    names: &'a [(String, Ipv4Addr)],
}

impl HostSink for HostLog<'_> {
    fn host_done(&mut self, addr: Ipv4Addr, host: &HostResult) -> Result<()> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let mut host = host.clone();
        if let Some((name, _)) = self.names.iter().find(|(_, a)| *a == addr) {
            host.hostname.get_or_insert_with(|| name.clone());
        }
        log.host_done(addr, &host)
    }
}

fn notice(message: &str) {
    eprintln!("scanner: {message}");
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

/// An end-of-scan output: `None` for standard output (`-`), else its file, created
/// before the scan (privileges are dropped by the time it is written).
fn create_output(path: &str, what: &str) -> Result<Option<std::fs::File>> {
    if path == "-" {
        return Ok(None);
    }
    std::fs::File::create(path)
        .map(Some)
        .with_context(|| format!("cannot write {what} output to {path}"))
}

/// Writes an end-of-scan output to its file, or to standard output.
fn write_output(file: Option<std::fs::File>, path: &str, text: &str, what: &str) -> Result<()> {
    use std::io::Write;
    match file {
        None => {
            print!("{text}");
            Ok(())
        }
        Some(mut file) => file
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot write {what} output to {path}")),
    }
}

/// Runs the scan `args` ask for and writes its outputs; `resuming` appends to the
/// `-oG` log instead of starting it.
fn run(args: Args, command_line: &str, resuming: bool) -> Result<()> {
    if let Some(spec) = &args.script_help {
        let help = Engine::new(ScriptOptions {
            spec: spec.clone(),
            ..Default::default()
        })?;
        print!("{}", help.help());
        return Ok(());
    }
    // --unprivileged acts as a user without raw packets, --privileged as one with them
    // (as nmap's); root is dropped either way once what needs it is open.
    let raw_allowed = !args.unprivileged && (args.privileged || privileges::raw_packets_allowed());
    check_named_paths(&args, raw_allowed)?;
    let run_as = privileges::RunAs::choose(args.run_as.as_deref())?;
    let mut types = ScanTypes::parse(&args.scan_type)?;
    if types.names_no_scan() {
        if raw_allowed {
            types.tcp = Some(Reading::Syn);
        } else if args.unprivileged {
            notice("--unprivileged: running a connect scan (-sT)");
            types.connect = true;
        } else {
            notice("no raw-packet privileges (root or CAP_NET_RAW): running a connect scan (-sT); run as root for -sS");
            types.connect = true;
        }
    }
    load_services(&args)?;
    let version = version_detection(&args, &types)?;
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
    let scripts = script_options(&args, &types, &targets)?
        .map(Engine::new)
        .transpose()?;
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
    if sweep_mode && scripts.is_some() {
        bail!("scripts run on nmap-style scans, not on stateless sweeps: scan fewer than {SWEEP_THRESHOLD} (target, port) pairs");
    }
    if sweep_mode && version.is_some() {
        bail!("-sV runs on nmap-style scans, not on stateless sweeps: scan fewer than {SWEEP_THRESHOLD} (target, port) pairs, or sweep first and -sV the open ports");
    }
    // Without privileges, -sn pings with TCP connects, as nmap does.
    let connect_path = types.connect || (types.ping_only && !raw_allowed);
    if !connect_path && args.unprivileged {
        bail!("-sS, -sU, the other raw scans and sweeps send raw packets, which --unprivileged gives up: drop it, or use -sT");
    }
    if !connect_path && !raw_allowed {
        bail!("-sS, -sU, the other raw scans and sweeps send raw packets: run as root (or give the binary CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF), or use -sT");
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
    let view = OutputOptions {
        open_only: args.open,
        reason: args.reason,
    };
    let grepable_path = args
        .output_grepable
        .clone()
        .or_else(|| args.output_all.as_deref().map(|b| format!("{b}.gnmap")));
    let mut host_log = HostLog {
        log: grepable_path
            .as_deref()
            .filter(|path| *path != "-")
            .map(|path| GrepableLog::open(path, command_line, view, resuming))
            .transpose()?,
        names: &names,
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
    let base = args.output_all.as_deref();
    let normal_path = args
        .output_normal
        .clone()
        .or_else(|| base.map(|b| format!("{b}.nmap")));
    let xml_path = args
        .output_xml
        .clone()
        .or_else(|| base.map(|b| format!("{b}.xml")));
    let normal_file = normal_path
        .as_deref()
        .map(|path| create_output(path, "normal"))
        .transpose()?
        .flatten();
    let xml_file = xml_path
        .as_deref()
        .map(|path| create_output(path, "XML"))
        .transpose()?
        .flatten();
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
            run_as: Some(run_as.clone()),
            debug: args.debug,
        };
        let (result, stats) = runtime.block_on(sweep::run(&opts, &mut sinks, &mut report))?;
        if args.verbose > 0 {
            notice(&format!(
                "sweep seed {seed}: sent {} probes via {} ({} thread(s)), {} replies via {} ({} open, {} closed, {} duplicates, {} lost in the kernel ring)",
                stats.sent, stats.send_path, stats.threads, stats.replies, stats.recv_path, stats.open, stats.closed, stats.duplicates, stats.lost_in_kernel
            ));
        }
        result
    } else if connect_path {
        // Nothing here needs privileges but raw pings, which drop them once open.
        if !raw_allowed || args.no_ping {
            let mut debug = |message: &str| notice(message);
            privileges::drop_privileges(
                &run_as,
                (args.debug > 0).then_some(&mut debug as &mut dyn FnMut(&str)),
            )?;
        }
        let started = std::time::Instant::now();
        let addresses = targets.len();
        let parallelism = args.max_parallelism.map_or(256, |n| n as usize);
        // Host discovery first (unless -Pn): raw pings where allowed, connects otherwise.
        let pinged = (!args.no_ping)
            .then(|| -> Result<ScanResult> {
                if !raw_allowed {
                    let statuses =
                        runtime.block_on(discovery::connect::ping(&targets, parallelism));
                    return Ok(ScanResult::of_statuses(targets.len(), &statuses));
                }
                let opts = RawScanOptions {
                    targets: targets.clone(),
                    discovery: discovery(&args)?,
                    tcp: None,
                    udp: None,
                    timing,
                    net: net.clone(),
                    seed: args.seed,
                    progress,
                    debug: args.debug,
                    hostgroup: args.max_hostgroup as usize,
                    reverse_dns: false,
                    version: None,
                    run_as: Some(run_as.clone()),
                };
                let mut nothing = NoHosts;
                let scan = pipeline::run(&opts, None, &mut sinks, &mut nothing, &mut report);
                Ok(runtime.block_on(scan)?.0)
            })
            .transpose()?;
        if let Some(pinged) = &pinged {
            let down = addresses - pinged.hosts.len() as u64;
            if down > 0 && !types.ping_only {
                notice(&format!("{down} target(s) did not answer host discovery and are not port scanned; -Pn scans them anyway"));
            }
        }
        let mut result = match (types.ping_only, pinged) {
            (true, Some(pinged)) => pinged,
            (true, None) => ScanResult::all_up(&targets),
            (false, pinged) => {
                let up = match &pinged {
                    Some(pinged) => TargetSet::from_addrs(pinged.hosts.keys().copied()),
                    None => targets,
                };
                if up.is_empty() {
                    bail!("no target answered host discovery: nothing to scan (-Pn scans them anyway)");
                }
                let opts = ConnectScanOptions {
                    targets: up,
                    ports: tcp_ports.context("a connect scan scans TCP ports")?,
                    retries: args.retries.unwrap_or(2),
                    parallelism,
                };
                let (mut result, stats) = runtime.block_on(async {
                    let mut before = ScanResult::default();
                    if let Some(engine) = &scripts {
                        pipeline::run_phase_scripts(
                            engine,
                            Phase::PreScan,
                            &mut before,
                            &mut sinks,
                            &mut report,
                        )
                        .await?;
                    }
                    let (mut result, stats) = match &version {
                        None => connect::run(&opts, &mut sinks).await?,
                        Some(version) => {
                            let mut probing = VersionScan::new(version.clone());
                            let mut sink = ProbeOpenPorts {
                                inner: &mut sinks,
                                scan: &mut probing,
                            };
                            let (mut result, stats) = connect::run(&opts, &mut sink).await?;
                            probing.finish(&mut sinks, &mut result).await?;
                            (result, stats)
                        }
                    };
                    if let Some(engine) = &scripts {
                        let hosts: Vec<Ipv4Addr> = result.hosts.keys().copied().collect();
                        pipeline::run_scripts(engine, &hosts, &mut result, &mut sinks, &mut report)
                            .await?;
                        result.prescripts = before.prescripts;
                        pipeline::run_phase_scripts(
                            engine,
                            Phase::PostScan,
                            &mut result,
                            &mut sinks,
                            &mut report,
                        )
                        .await?;
                    }
                    anyhow::Ok((result, stats))
                })?;
                if args.verbose > 0 {
                    notice(&format!(
                        "connect scan: {} connects, {} timed out",
                        stats.attempts, stats.timeouts
                    ));
                }
                if let Some(pinged) = pinged {
                    result.adopt_host_facts(&pinged);
                }
                result
            }
        };
        result.addresses = addresses;
        result.elapsed = started.elapsed();
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
            hostgroup: args.max_hostgroup as usize,
            reverse_dns: !args.no_dns,
            version,
            run_as: Some(run_as.clone()),
        };
        let scan = pipeline::run(
            &opts,
            scripts.as_ref(),
            &mut sinks,
            &mut host_log,
            &mut report,
        );
        let (result, stats) = runtime.block_on(async {
            tokio::select! {
                done = scan => done,
                _ = tokio::signal::ctrl_c() => {
                    interrupted(grepable_path.as_deref());
                }
            }
        })?;
        if args.verbose > 0 || args.debug > 0 {
            notice(&format!(
                "sent {} probes ({} retransmits) via {}, {} replies via {} ({} duplicates, {} lost in the kernel ring), {} RSTs, congestion window halved {} time(s)",
                stats.probes_sent, stats.retransmits, stats.send_path, stats.replies, stats.recv_path, stats.duplicates, stats.replies_lost_in_kernel, stats.rsts_sent, stats.window_cuts
            ));
        }
        result
    };
    result.args = command_line.to_string();
    let raw_scan = !sweep_mode && !connect_path;
    if !raw_scan && !args.no_dns && (!sweep_mode || args.resolve_all) {
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
    for (name, addr) in &names {
        if let Some(host) = result.hosts.get_mut(addr) {
            host.hostname.get_or_insert_with(|| name.clone());
        }
    }
    if !raw_scan {
        // Sweeps and connect scans finish every host at the end.
        for (addr, host) in &result.hosts {
            host_log.host_done(*addr, host)?;
        }
    }
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
        write_output(normal_file, path, &text, "normal")?;
    }
    if let Some(path) = &xml_path {
        write_output(xml_file, path, &xml::render(&result, view), "XML")?;
    }
    match (&grepable_path, host_log.log) {
        (_, Some(log)) => log.finish(&result)?,
        (Some(path), None) => {
            write_output(None, path, &grepable::render(&result, view), "grepable")?
        }
        (None, None) => {}
    }
    Ok(())
}

/// Ctrl-C during an nmap-style scan: say how to go on, and stop.
fn interrupted(grepable_path: Option<&str>) -> ! {
    match grepable_path.filter(|path| *path != "-") {
        Some(path) => notice(&format!(
            "interrupted: the hosts finished so far are in {path}; `scanner --resume {path}` scans the rest"
        )),
        None => notice("interrupted (with -oG FILE, `scanner --resume FILE` would continue)"),
    }
    std::process::exit(130)
}
