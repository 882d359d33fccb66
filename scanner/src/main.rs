//! The `scanner` binary: parses the command line, picks the scan (an nmap-style SYN
//! scan, or a stateless sweep for large spaces), runs it on a single-threaded tokio
//! runtime, and writes the results.

use anyhow::{bail, Context, Result};
use clap::Parser;
use scanner::cli::plan::{
    check_named_paths, discovery, load_services, port_list, script_options, sender_threads,
    target_specs, timing, version_detection, ScanTypes,
};
use scanner::cli::resume::{resumed_args, Resumed};
use scanner::cli::{normalize_args, parse_port_range, shell_words, Args};
use scanner::discovery;
use scanner::engine::path::{local_targets, own_address_message};
use scanner::engine::timing::parse_time;
use scanner::engine::NetworkOptions;
use scanner::io::privileges;
use scanner::io::signals::{StopSignal, StopSignals};
use scanner::pipeline::{self, RawScanOptions};
use scanner::portscan::connect::{self, ConnectScanOptions};
use scanner::portscan::syn::{parse_scan_flags, Reading, TcpProbe};
use scanner::report::fields::Field;
use scanner::report::grepable::{GrepableLog, ResumePoint};
use scanner::report::output_file::OutputFile;
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
    let code = match start() {
        Ok(None) => 0,
        // Stopped by a signal, cleanly: the status a shell gives a process it killed.
        Ok(Some(signal)) => signal.exit_code(),
        Err(err) => {
            eprintln!("scanner: error: {err:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Runs what the command line asks for; the signal that stopped it, if one did.
fn start() -> Result<Option<StopSignal>> {
    let argv = std::env::args_os()
        .enumerate()
        .map(|(n, arg)| {
            arg.into_string().map_err(|arg| {
                anyhow::anyhow!(
                    "argument {n} ({}) is not UTF-8 text: name files and targets in UTF-8",
                    arg.to_string_lossy()
                )
            })
        })
        .collect::<Result<Vec<String>>>()?;
    let args = Args::parse_from(normalize_args(argv.iter().cloned()));
    match resume_point(&args)? {
        Some((point, log)) => resume(point, &log, args.resume_accept),
        None => run(args, &shell_words::quote(&argv), false),
    }
}

/// The `-oG` log `--resume` names, with its path, if it is one (a sweep's resume
/// file is not).
fn resume_point(args: &Args) -> Result<Option<(ResumePoint, std::path::PathBuf)>> {
    let Some(path) = &args.resume else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the resume file {}", path.display()))?;
    Ok(ResumePoint::parse(&text).map(|point| (point, path.clone())))
}

/// Continues the scan the `-oG` log at `log` was written by: the same arguments
/// (printed first; checked as `cli::resume` says, `accept` being `--resume-accept`),
/// without the hosts the log already has, appending to the log.
fn resume(point: ResumePoint, log: &std::path::Path, accept: bool) -> Result<Option<StopSignal>> {
    let Resumed { mut args, words } = resumed_args(&point.command_line, log, accept)?;
    let command_line = shell_words::quote(&words);
    notice(&format!(
        "resuming from {}: {command_line}\n  ({} host(s) already finished are left out)",
        log.display(),
        point.finished.len()
    ));
    if !point.finished.is_empty() {
        let finished: Vec<String> = point.finished.iter().map(|a| a.to_string()).collect();
        args.exclude.push(finished.join(","));
    }
    run(args, &command_line, true)
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
    let specs = target_specs(args)?;
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

/// Runs the scan `args` ask for and writes its outputs; `resuming` appends to the
/// `-oG` log instead of starting it. The signal that stopped it, if one did.
fn run(args: Args, command_line: &str, resuming: bool) -> Result<Option<StopSignal>> {
    if let Some(spec) = &args.script_help {
        let help = Engine::new(ScriptOptions {
            spec: spec.clone(),
            ..Default::default()
        })?;
        OutputFile::create("-", "script help")?.write_text(&help.help())?;
        return Ok(None);
    }
    // --unprivileged acts as a user without raw packets, --privileged as one with them
    // (as nmap's); root is dropped either way once what needs it is open.
    let raw_allowed = !args.unprivileged && (args.privileged || privileges::raw_packets_allowed());
    check_named_paths(&args, raw_allowed)?;
    let run_as = privileges::RunAs::choose(args.run_as.as_deref())?;
    let mut types = ScanTypes::parse(&args.scan_type)?;
    let defaulted = types.names_no_scan();
    if defaulted {
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut targets, names) = targets(&args, &runtime)?;
    if targets.is_empty() {
        bail!("no targets left after --exclude / --excludefile");
    }
    // This machine's own addresses: only the kernel's connections reach them. The
    // default scan becomes a connect scan when they are all the targets, as nmap's
    // does without raw packets; -sn finds them up; a raw scan leaves them out of a
    // larger set, with a notice, and is refused for them alone.
    let local = if raw_allowed {
        local_targets(&targets)?
    } else {
        Default::default()
    };
    if let Some(own) = local.iter().next() {
        let raw_scan_type = types.tcp.is_some() || types.udp;
        if local.len() < targets.len() {
            if raw_scan_type {
                notice(&format!(
                    "left out {} of this machine's own address(es) ({own}{}): raw packets to them never leave through an interface; scan them with -sT",
                    local.len(),
                    if local.len() > 1 { ", ..." } else { "" }
                ));
                targets = targets.subtract(&local);
            }
        } else if defaulted && !args.sweep && args.shard.is_none() {
            notice(&format!("{own} is this machine's own address: running a connect scan (-sT), since raw packets to it never leave through an interface"));
            types.tcp = None;
            types.connect = true;
        } else if raw_scan_type {
            bail!("{}", own_address_message(own));
        }
    }
    let version = version_detection(&args, &types)?;
    let mut notice_port_list = |message: &str| notice(message);
    let tcp_ports = (types.tcp.is_some() || types.connect)
        .then(|| port_list(&args, "tcp", &mut notice_port_list))
        .transpose()?;
    let udp_ports = types
        .udp
        .then(|| port_list(&args, "udp", &mut notice_port_list))
        .transpose()?;
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
    // Without privileges, -sn pings with TCP connects, as nmap does; with them, the
    // connect path pings with raw packets all but this machine's own addresses.
    let connect_path = types.connect || (types.ping_only && (!raw_allowed || !local.is_empty()));
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
    // Every output is opened (created) now, before the first probe: a path that
    // cannot be written fails here, not after the scan.
    let base = args.output_all.as_deref();
    let normal_path = args
        .output_normal
        .clone()
        .or_else(|| base.map(|b| format!("{b}.nmap")));
    let xml_path = args
        .output_xml
        .clone()
        .or_else(|| base.map(|b| format!("{b}.xml")));
    let mut normal_out = normal_path
        .as_deref()
        .map(|path| OutputFile::create(path, "normal"))
        .transpose()?;
    let mut xml_out = xml_path
        .as_deref()
        .map(|path| OutputFile::create(path, "XML"))
        .transpose()?;
    let grepable_path = args
        .output_grepable
        .clone()
        .or_else(|| base.map(|b| format!("{b}.gnmap")));
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
    let net = NetworkOptions {
        send_mode: args.send_mode,
        recv_mode: args.recv_mode,
        xdp_mode: args.xdp_mode,
        iface: args.iface.clone(),
        src_ip: args.src_ip,
        src_ports: parse_port_range(&args.source_ports)?,
    };
    let mut report = |message: &str| notice(message);
    let mut stopped_by = None;
    // Caught from the first phase that listens until the end (sweeps listen themselves).
    let mut stop = None;
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
            threads: sender_threads(
                &args,
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )?,
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
        stopped_by = stats.interrupted;
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
                // The kernel answers for its own addresses (nmap's localhost-response);
                // the others are pinged with raw packets.
                let mut pinged = ScanResult::starting_now(targets.len());
                let others = targets.subtract(&local);
                if !others.is_empty() {
                    let opts = RawScanOptions {
                        targets: others,
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
                    pinged = until_stopped(&runtime, &mut stop, scan, grepable_path.as_deref())?.0;
                }
                for addr in local.iter() {
                    pinged.hosts.entry(addr).or_default().up_reason = Some("localhost-response");
                }
                Ok(pinged)
            })
            .transpose()?;
        // Dropped by now, unless only this machine's own addresses were pinged (no raw
        // pings ran): a second call drops them or only checks they are gone.
        privileges::drop_privileges(&run_as, None)?;
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
                let scan = async {
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
                };
                let (mut result, stats) =
                    until_stopped(&runtime, &mut stop, scan, grepable_path.as_deref())?;
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
        let (result, stats) = until_stopped(&runtime, &mut stop, scan, grepable_path.as_deref())?;
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
    // Every output is written, whichever fails; then each failure is told.
    let mut failures = Vec::new();
    if !to_stdout {
        failures.extend(OutputFile::create("-", "normal")?.write_text(&text).err());
    }
    if let Some(out) = &mut normal_out {
        failures.extend(out.write_text(&text).err());
    }
    if let Some(out) = &mut xml_out {
        failures.extend(out.write_text(&xml::render(&result, view)).err());
    }
    match (&grepable_path, host_log.log) {
        (_, Some(log)) => failures.extend(log.finish(&result).err()),
        (Some(path), None) => failures.extend(
            OutputFile::create(path, "grepable")?
                .write_text(&grepable::render(&result, view))
                .err(),
        ),
        (None, None) => {}
    }
    if !failures.is_empty() {
        let messages: Vec<String> = failures.iter().map(|err| format!("{err:#}")).collect();
        bail!("{}", messages.join("\n"));
    }
    Ok(stopped_by)
}

/// Runs `scan` to its end unless SIGINT or SIGTERM comes first (listened for with
/// `stop`, started by the first call): then the hosts a `-oG` log holds are all that
/// is kept (streamed outputs are flushed as they go); it says how to go on and exits
/// with the signal's status.
fn until_stopped<T>(
    runtime: &tokio::runtime::Runtime,
    stop: &mut Option<StopSignals>,
    scan: impl std::future::Future<Output = Result<T>>,
    grepable_path: Option<&str>,
) -> Result<T> {
    let outcome = runtime.block_on(async {
        let stop = match stop {
            Some(stop) => stop,
            None => stop.insert(StopSignals::listen()?),
        };
        tokio::select! {
            done = scan => done.map(Ok),
            signal = stop.recv() => Ok(Err(signal)),
        }
    })?;
    let signal = match outcome {
        Ok(done) => return Ok(done),
        Err(signal) => signal,
    };
    match grepable_path.filter(|path| *path != "-") {
        Some(path) => notice(&format!(
            "{}: the hosts finished so far are in {path}; `scanner --resume {path}` scans the rest",
            signal.name()
        )),
        None => notice(&format!(
            "{} (with -oG FILE, `scanner --resume FILE` would continue)",
            signal.name()
        )),
    }
    std::process::exit(signal.exit_code())
}
