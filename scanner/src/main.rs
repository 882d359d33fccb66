//! The `scanner` binary: parses the command line into a plan (`cli::plan`: script
//! help, an nmap-style scan or a stateless sweep), runs it on a single-threaded tokio
//! runtime, and writes the results.

use anyhow::{Context, Result};
use clap::Parser;
use scanner::cli::plan::{plan, Plan, ScanPlan, SweepPlan};
use scanner::cli::resume::{resumed_args, Resumed};
use scanner::cli::{normalize_args, shell_words, Args};
use scanner::io::signals::{StopSignal, StopSignals};
use scanner::model::{Collector, Event, EventSink};
use scanner::pipeline;
use scanner::report::grepable::ResumePoint;
use scanner::report::output_file::OutputFile;
use scanner::script::engine::Engine;
use scanner::sweep;
use std::net::Ipv4Addr;
use tokio::runtime::Runtime;

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

/// Writes the manual page or a shell's completions to standard output, from the
/// command line's own definition (so they never fall behind it).
fn print_packaging_files(args: &Args) -> Result<()> {
    let mut command = <Args as clap::CommandFactory>::command();
    let mut out = std::io::stdout().lock();
    if let Some(shell) = args.print_completions {
        clap_complete::generate(shell, &mut command, "scanner", &mut out);
    } else {
        clap_mangen::Man::new(command).render(&mut out)?;
    }
    Ok(())
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
    if args.print_man_page || args.print_completions.is_some() {
        print_packaging_files(&args)?;
        return Ok(None);
    }
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

fn notice(message: &str) {
    eprintln!("scanner: {message}");
}

/// Runs what `args` ask for and writes its outputs; `resuming` appends to the `-oG`
/// log instead of starting it. The signal that stopped it, if one did.
fn run(args: Args, command_line: &str, resuming: bool) -> Result<Option<StopSignal>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match plan(args, command_line, resuming, &runtime, &mut |m: &str| {
        notice(m)
    })? {
        Plan::ScriptHelp(engine) => script_help(&engine),
        Plan::Scan(plan) => scan(*plan, &runtime),
        Plan::Sweep(plan) => sweep(*plan, &runtime),
    }
}

/// `--script-help`: what the selected scripts do, on stdout.
fn script_help(engine: &Engine) -> Result<Option<StopSignal>> {
    OutputFile::create("-", "script help")?.write_text(&engine.help())?;
    Ok(None)
}

/// An nmap-style scan, raw or connect: the one phase sequence (`pipeline`).
fn scan(plan: ScanPlan, runtime: &Runtime) -> Result<Option<StopSignal>> {
    let ScanPlan {
        scan,
        scripts,
        outputs,
    } = plan;
    let mut writers = outputs.open()?;
    let mut collector = Collector::new(outputs.header(), scan.version.is_some(), &mut writers)
        .with_names(outputs.names.clone());
    collector.result_mut().scans = scan.ports.as_ref().map(|p| p.scans()).unwrap_or_default();
    let mut report = |message: &str| notice(message);
    let running = pipeline::run(&scan, scripts.as_ref(), &mut collector, &mut report);
    let stats = until_stopped(runtime, running, outputs.paths.resume_log())?;
    if let Some(s) = stats
        .probes
        .filter(|_| outputs.verbose > 0 || outputs.debug > 0)
    {
        notice(&format!(
            "sent {} probes ({} retransmits) via {}, {} replies via {} ({} duplicates, {} lost in the kernel ring), {} RSTs, congestion window halved {} time(s)",
            s.probes_sent, s.retransmits, s.send_path, s.replies, s.recv_path, s.duplicates, s.replies_lost_in_kernel, s.rsts_sent, s.window_cuts
        ));
    }
    if let Some(s) = stats.connects.filter(|_| outputs.verbose > 0) {
        notice(&format!(
            "connect scan: {} connects, {} timed out",
            s.attempts, s.timeouts
        ));
    }
    collector.finish()?;
    Ok(None)
}

/// A stateless sweep; every host it found is finished at the end.
fn sweep(plan: SweepPlan, runtime: &Runtime) -> Result<Option<StopSignal>> {
    let SweepPlan {
        sweep,
        scripts,
        reverse_dns,
        outputs,
    } = plan;
    let mut writers = outputs.open()?;
    let streams_only = !outputs.paths.holds_hosts() && !reverse_dns;
    let mut collector =
        Collector::new(outputs.header(), false, &mut writers).with_names(outputs.names.clone());
    if streams_only {
        collector = collector.streaming_only();
    }
    collector.result_mut().scans = sweep::scan_info(&sweep).into_iter().collect();
    let started = std::time::Instant::now();
    let stats = runtime.block_on(sweep::run(
        &sweep,
        scripts.as_ref(),
        &mut collector,
        &mut |m: &str| notice(m),
    ))?;
    collector.result_mut().elapsed = started.elapsed();
    if outputs.verbose > 0 {
        notice(&format!(
            "sweep seed {}: sent {} probes via {} ({} thread(s)), {} replies via {} ({} open, {} closed, {} duplicates, {} lost in the kernel ring)",
            sweep.seed, stats.sent, stats.send_path, stats.threads, stats.replies, stats.recv_path, stats.open, stats.closed, stats.duplicates, stats.lost_in_kernel
        ));
        if sweep.versions.is_some() {
            let seconds = collector.result().elapsed.as_secs_f64().max(1e-3);
            notice(&format!(
                "version detection: {} services named in {seconds:.1} s ({:.0} per second, at most {} ports at once)",
                stats.identified,
                stats.identified as f64 / seconds,
                sweep.max_connections
            ));
        }
        if scripts.is_some() {
            notice(&format!(
                "scripts: ran on {} port(s) in {:.1} s",
                stats.scripted,
                collector.result().elapsed.as_secs_f64()
            ));
        }
    }
    let hosts: Vec<Ipv4Addr> = collector.result().hosts.keys().copied().collect();
    if reverse_dns {
        let up: Vec<Ipv4Addr> = collector
            .result()
            .hosts
            .iter()
            .filter(|(_, host)| host.is_up())
            .map(|(addr, _)| *addr)
            .collect();
        runtime.block_on(pipeline::name_hosts(&up, &mut collector))?;
    }
    for addr in hosts {
        collector.emit(Event::HostDone(addr))?;
    }
    collector.finish()?;
    Ok(stats.interrupted)
}

/// Runs `scan` to its end unless SIGINT or SIGTERM comes first: then the hosts a
/// `-oG` log holds are all that is kept (streamed outputs are flushed as they go);
/// it says how to go on and exits with the signal's status.
fn until_stopped<T>(
    runtime: &Runtime,
    scan: impl std::future::Future<Output = Result<T>>,
    grepable_path: Option<&str>,
) -> Result<T> {
    let outcome = runtime.block_on(async {
        let mut stop = StopSignals::listen()?;
        tokio::select! {
            done = scan => done.map(Ok),
            signal = stop.recv() => Ok(Err(signal)),
        }
    })?;
    let signal = match outcome {
        Ok(done) => return Ok(done),
        Err(signal) => signal,
    };
    match grepable_path {
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
