//! The `scanner` binary: parses the command line, runs the scan on a single-threaded
//! tokio runtime, and writes the results.

use anyhow::{bail, Context, Result};
use clap::Parser;
use scanner::cli::{normalize_args, parse_port_range, Args};
use scanner::portscan::syn::{self, SynScanOptions};
use scanner::report::{json::JsonLines, normal, FindingSink, PortFinding};
use scanner::target::{ports::PortList, TargetSet};
use std::time::Duration;

/// Findings go to the JSON writer when there is one.
struct Sinks {
    json: Option<JsonLines>,
}

impl FindingSink for Sinks {
    fn finding(&mut self, finding: &PortFinding) -> Result<()> {
        if let Some(json) = &mut self.json {
            json.finding(finding)?;
        }
        Ok(())
    }
}

fn main() {
    let args = Args::parse_from(normalize_args(std::env::args()));
    if let Err(err) = run(args) {
        eprintln!("scanner: error: {err:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.scan_type != "S" {
        bail!(
            "-s{} is not available in this version: only the SYN scan (-sS) is",
            args.scan_type
        );
    }
    let ports = if args.ports == "-" {
        PortList::parse_tcp("1-65535")?
    } else {
        PortList::parse_tcp(&args.ports)?
    };
    let targets = TargetSet::parse(&args.targets)?;
    if targets.is_empty() {
        bail!("no targets given");
    }
    if !(0.0..=3600.0).contains(&args.wait) {
        bail!("--wait must be between 0 and 3600 seconds");
    }
    let opts = SynScanOptions {
        targets,
        ports,
        rate: args.rate,
        retries: args.retries,
        wait: Duration::from_secs_f64(args.wait),
        send_mode: args.send_mode,
        recv_mode: args.recv_mode,
        xdp_mode: args.xdp_mode,
        iface: args.iface.clone(),
        src_ip: args.src_ip,
        src_ports: parse_port_range(&args.source_ports)?,
        seed: args.seed,
    };
    let mut sinks = Sinks {
        json: args
            .output_json
            .as_deref()
            .map(JsonLines::create)
            .transpose()?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut notice = |message: &str| eprintln!("scanner: {message}");
    let (result, stats) = runtime.block_on(syn::run(&opts, &mut sinks, &mut notice))?;
    let text = normal::render(&result);
    if args.output_json.as_deref() != Some("-") {
        print!("{text}");
    }
    if let Some(path) = &args.output_normal {
        std::fs::write(path, &text)
            .with_context(|| format!("cannot write normal output to {path}"))?;
    }
    if args.verbose > 0 {
        eprintln!(
            "scanner: sent {} probes ({} retransmits) via {}, {} replies via {} ({} duplicates, {} lost in the kernel ring), {} RSTs",
            stats.probes_sent,
            stats.retransmits,
            stats.send_path,
            stats.replies,
            stats.recv_path,
            stats.duplicates,
            stats.replies_lost_in_kernel,
            stats.rsts_sent
        );
    }
    Ok(())
}
