//! From the command line to what the scan does: the [`Plan`], one of three modes
//! (script help, an nmap-style scan, a stateless sweep), each with every option it
//! needs. Every rule on which flags combine lives here, with its message: which scan
//! types the `-s` flags ask for, which ports for each protocol, which host discovery,
//! the timing (the `-T` template with the options that override it), when a scan is
//! a sweep and when a connect scan. The helpers are pure functions of [`Args`];
//! [`plan`] also reads `--servicedb`, `--versiondb`, `-iL`, the scripts and the local
//! routes, and resolves target names. Nothing here scans.

use super::datadir::{self, DataFiles, NamedFiles};
use super::{parse_port_range, Args};
use crate::discovery::PingSpec;
use crate::engine::path::{local_targets, own_address_message};
use crate::engine::timing::{parse_time, Timing};
use crate::engine::NetworkOptions;
use crate::io::privileges::{self, RunAs};
use crate::io::RecvMode;
use crate::model::ScanResult;
use crate::os::{self, detect::OsOptions, synack_db::SynAckDb};
use crate::pipeline::{Discovery, PortScanner, ScanOptions};
use crate::portscan::syn::Reading;
use crate::probe::{parse_scan_flags, IcmpQuery, ProbeKind, TcpProbe};
use crate::report::fields::Field;
use crate::report::outputs::{OutputPaths, OutputSettings, Writers};
use crate::report::progress::ProgressOptions;
use crate::report::OutputOptions;
use crate::script::engine::{Engine, ScriptOptions};
use crate::service::{self, scan::VersionOptions};
use crate::sweep::run_record::RunRecordPaths;
use crate::sweep::SenderThreads;
use crate::sweep::{resume::ResumeState, SweepOptions};
use crate::target::permutation::Shard;
use crate::target::ports::PortList;
use crate::target::services::ServicesTable;
use crate::target::{blocklist, resolve, TargetSet};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// The services table: `--servicedb` or a data folder's (`path`), or the built-in one.
pub fn load_services(path: Option<&std::path::Path>) -> Result<Arc<ServicesTable>> {
    let table = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            ServicesTable::parse(&text, &path.display().to_string())?
        }
        None => ServicesTable::built_in()?,
    };
    Ok(Arc::new(table))
}

/// The `proto` ("tcp", "udp") ports to scan: -p, -F or --top-ports, minus
/// --exclude-ports. `--top-ports` above the table's size takes every port it has,
/// with a `notice`.
pub fn port_list(
    args: &Args,
    table: &ServicesTable,
    proto: &str,
    notice: &mut dyn FnMut(&str),
) -> Result<PortList> {
    let ports = match (&args.ports, args.top_ports) {
        _ if args.fast => PortList::top_for(100, table, proto)?,
        (_, Some(n)) => {
            let ports = PortList::top_for(n, table, proto)?;
            if ports.len() < n {
                notice(&format!(
                    "--top-ports {n}: the services table has {} {proto} port(s); scanning all of them (-p- scans every port)",
                    ports.len()
                ));
            }
            ports
        }
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

/// Checks the paths `--send-mode`, `--recv-mode` and `--xdp-mode` name: each needs
/// raw-packet privileges (without them the scan would be a connect scan that sends no
/// frames of its own), and `--xdp-mode` places the classifier that `--recv-mode
/// packet` does without. Whether a named path opens is checked when it opens.
pub fn check_named_paths(args: &Args, raw_allowed: bool) -> Result<()> {
    if matches!(args.recv_mode, Some(RecvMode::Packet | RecvMode::Pcap)) && args.xdp_mode.is_some()
    {
        bail!("--xdp-mode places the XDP classifier, which --recv-mode packet and pcap do not use: drop one of them");
    }
    let named: Vec<String> = [
        (
            "--send-mode",
            args.send_mode.and_then(|m| m.to_possible_value()),
        ),
        (
            "--recv-mode",
            args.recv_mode.and_then(|m| m.to_possible_value()),
        ),
        (
            "--xdp-mode",
            args.xdp_mode.and_then(|m| m.to_possible_value()),
        ),
    ]
    .into_iter()
    .filter_map(|(option, value)| Some(format!("{option} {}", value?.get_name())))
    .collect();
    if !raw_allowed && !named.is_empty() {
        bail!(
            "{} cannot be honoured without privileges: run as root (it needs CAP_BPF, CAP_NET_ADMIN \
             and CAP_NET_RAW), or leave it out for a connect scan (-sT)",
            named.join(" and ")
        );
    }
    Ok(())
}

/// The target specs of the arguments and of `-iL FILE` (whitespace or newline
/// separated, `#` comments); an `-iL` file with none is an error of its own.
pub fn target_specs(args: &Args) -> Result<Vec<String>> {
    let mut specs = args.targets.clone();
    if let Some(path) = &args.input_list {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the target list {}", path.display()))?;
        let before = specs.len();
        specs.extend(
            text.lines()
                .map(|line| line.split('#').next().unwrap_or(""))
                .flat_map(str::split_whitespace)
                .map(str::to_string),
        );
        if specs.len() == before {
            bail!(
                "the target list {} (-iL) is empty: it names no targets (one or more per line, # comments)",
                path.display()
            );
        }
    }
    Ok(specs)
}

/// How many sender threads a sweep may start on a machine with `cpus` CPUs: what
/// `--threads` asks for, refused above one per CPU (each thread spins on its own
/// socket; past the CPUs they only take turns, and past the process's limits they
/// cannot start at all); without it, one per CPU up to [`DEFAULT_MAX_SENDER_THREADS`].
pub fn sender_threads(args: &Args, cpus: usize) -> Result<SenderThreads> {
    let cpus = cpus.max(1);
    match args.threads {
        Some(asked) if asked > cpus => bail!(
            "--threads {asked}: this machine has {cpus} CPU(s); give at most {cpus} sender threads (AF_XDP uses one per transmit queue of the interface)"
        ),
        Some(asked) => Ok(SenderThreads { count: asked, asked: true }),
        None => Ok(SenderThreads {
            count: cpus.min(DEFAULT_MAX_SENDER_THREADS),
            asked: false,
        }),
    }
}

/// Sender threads a sweep starts when `--threads` is not given: one per CPU up to this
/// (each sends, and does the kernel's work of what it sent, on a core of its own).
pub const DEFAULT_MAX_SENDER_THREADS: usize = 8;

/// What the -s flags ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanTypes {
    pub tcp: Option<Reading>,
    pub udp: bool,
    pub connect: bool,
    /// -sn: host discovery only.
    pub ping_only: bool,
    /// -sV: version detection on the open ports.
    pub version: bool,
    /// -sC: the default scripts.
    pub default_scripts: bool,
}

impl ScanTypes {
    pub fn parse(flags: &[String]) -> Result<Self> {
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
                    'V' => {
                        types.version = true;
                        continue;
                    }
                    'C' => {
                        types.default_scripts = true;
                        continue;
                    }
                    other => bail!(
                        "-s{other} is not available in this version: -sS, -sT, -sA, -sF, -sN, -sX, -sU, -sV, -sC and -sn are"
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
        if types.ping_only
            && (types.tcp.is_some()
                || types.udp
                || types.connect
                || types.version
                || types.default_scripts)
        {
            bail!("-sn means no port scan: drop it, or the other -s flags");
        }
        Ok(types)
    }

    /// Whether no port scan type was named (`-sV` alone included): the default scan
    /// runs.
    pub fn names_no_scan(&self) -> bool {
        self.tcp.is_none() && !self.udp && !self.connect && !self.ping_only
    }
}

/// The probe a stateless sweep sends, as the scan-type flags say (`-sS` when none is
/// named): one kind per sweep, among those a sweep can report (see
/// [`ProbeKind::sweep_answer`]); a clear refusal for the others.
pub fn sweep_probe(args: &Args, types: &ScanTypes) -> Result<ProbeKind> {
    const KINDS: &str = "-sS, -sA (or --scanflags), -sU, or -sn -PE";
    if types.connect {
        bail!("-sT connects with the operating system's sockets, which a stateless sweep does not use: sweep with {KINDS}, or drop --sweep");
    }
    let kind = match (types.tcp, types.udp, types.ping_only) {
        (Some(reading), false, false) => {
            let mut probe = TcpProbe::standard(reading);
            if let Some(flags) = &args.scan_flags {
                probe.flags = parse_scan_flags(flags)?;
            }
            ProbeKind::Tcp(probe)
        }
        (None, false, false) => ProbeKind::Tcp(TcpProbe::standard(Reading::Syn)),
        (None, true, false) => ProbeKind::Udp,
        (None, false, true) => {
            if args.no_ping || args.ping.iter().any(|flag| flag != "E") {
                bail!("a host sweep (-sn) sends ICMP echo requests only: drop the -P flags other than -PE");
            }
            ProbeKind::Icmp(IcmpQuery::Echo)
        }
        _ => bail!("a sweep sends one kind of probe: choose one of {KINDS}"),
    };
    if kind.sweep_answer().is_none() {
        bail!(
            "a sweep reports only what answers, and {} probes find ports by their silence (open|filtered): sweep with {KINDS}, or drop --sweep",
            kind.name()
        );
    }
    Ok(kind)
}

/// Version detection as the flags ask for it (`-sV`, `--version-intensity`,
/// `--version-light`, `--version-all`, `--versiondb`, `--allports`), or `None`
/// without `-sV`.
pub fn version_detection(
    args: &Args,
    data: &DataFiles,
    types: &ScanTypes,
    services: &Arc<ServicesTable>,
) -> Result<Option<VersionOptions>> {
    let intensity = match (args.version_intensity, args.version_light, args.version_all) {
        (Some(n), false, false) if n <= 9 => n,
        (Some(n), false, false) => bail!("--version-intensity {n}: from 0 to 9"),
        (None, true, false) => VersionOptions::LIGHT_INTENSITY,
        (None, false, true) => VersionOptions::ALL_INTENSITY,
        (None, false, false) => VersionOptions::DEFAULT_INTENSITY,
        _ => bail!("one of --version-intensity, --version-light and --version-all"),
    };
    let asked = args.version_intensity.is_some()
        || args.version_light
        || args.version_all
        || args.versiondb.is_some()
        || args.all_ports;
    if !types.version {
        if asked {
            bail!("the --version-* options, --versiondb and --allports tune version detection: add -sV");
        }
        return Ok(None);
    }
    let mut db = service::load_database(data.service_probes.as_deref())?;
    if args.all_ports {
        db.exclude.clear();
    }
    Ok(Some(VersionOptions {
        db: Arc::new(db),
        intensity,
        per_host: VersionOptions::DEFAULT_PER_HOST,
        parallel: VersionOptions::DEFAULT_PARALLEL,
        services: services.clone(),
    }))
}

/// Scripts as the flags ask for them (`--script`, `-sC`, `--script-args`,
/// `--script-args-file`, `--script-timeout`, `--max-script-threads`), or `None`.
/// Sockets of scripts may reach `targets` only.
pub fn script_options(
    args: &Args,
    types: &ScanTypes,
    targets: &crate::target::TargetSet,
    services: &Arc<ServicesTable>,
    script_dir: Option<&std::path::Path>,
) -> Result<Option<ScriptOptions>> {
    let mut items: Vec<&str> = Vec::new();
    if types.default_scripts {
        items.push("default");
    }
    if let Some(spec) = &args.script {
        items.push(spec);
    }
    if items.is_empty()
        && (args.script_args.is_some()
            || args.script_args_file.is_some()
            || args.script_timeout.is_some())
    {
        bail!("--script-args, --script-args-file and --script-timeout go with --script or -sC");
    }
    if items.is_empty() {
        return Ok(None);
    }
    // As nmap does, scripts with -sV include the `version` ones (they finish what the
    // probes began: a web server's Server header, say).
    if types.version {
        items.push("version");
    }
    let spec = items.join(",");
    let mut script_args = std::collections::BTreeMap::new();
    let mut add = |text: &str, origin: &str| -> Result<()> {
        for pair in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let Some((key, value)) = pair.split_once('=') else {
                bail!("{origin}: {pair:?} is not name=value");
            };
            script_args.insert(key.trim().to_string(), value.trim().to_string());
        }
        Ok(())
    };
    if let Some(path) = &args.script_args_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --script-args-file {}", path.display()))?;
        add(&text, &path.display().to_string())?;
    }
    if let Some(text) = &args.script_args {
        add(text, "--script-args")?;
    }
    Ok(Some(ScriptOptions {
        spec,
        args: script_args,
        timeout: args
            .script_timeout
            .as_deref()
            .map(|t| parse_time(t).context("in --script-timeout"))
            .transpose()?,
        max_threads: args.max_script_threads.max(1),
        targets: targets.clone(),
        services: services.clone(),
        debug: args.debug,
        verbose: args.verbose,
        script_dir: script_dir.map(std::path::Path::to_path_buf),
    }))
}

/// The host discovery the -P flags (or their absence) ask for.
pub fn discovery(args: &Args) -> Result<Discovery> {
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
pub fn timing(args: &Args, sweep_mode: bool) -> Result<Timing> {
    let mut timing = match &args.timing {
        Some(level) => Timing::parse_template(level)?,
        None => Timing::template(3)?,
    };
    if let Some(rate) = args.rate {
        timing.rate = rate.max(1) as f64;
    }
    if let (Some(min), Some(max)) = (args.min_rate, args.max_rate) {
        if min > max as f64 {
            bail!("--min-rate {min} is above --max-rate {max}: the rate cannot be both");
        }
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

/// Above this many probes a scan runs as a stateless sweep.
pub const SWEEP_THRESHOLD: u64 = 1 << 20;

/// What the command line asks for: one of three things, each with all it needs.
pub enum Plan {
    /// `--script-help`: what the selected scripts do.
    ScriptHelp(Box<Engine>),
    /// An nmap-style scan, raw or connect: discovery, ports, versions, scripts,
    /// traceroute (`pipeline`).
    Scan(Box<ScanPlan>),
    /// A stateless sweep (`sweep`).
    Sweep(Box<SweepPlan>),
}

/// An nmap-style scan.
pub struct ScanPlan {
    pub scan: ScanOptions,
    /// The scripts selected, loaded.
    pub scripts: Option<Engine>,
    pub outputs: Outputs,
}

/// A stateless sweep.
pub struct SweepPlan {
    pub sweep: SweepOptions,
    /// The scripts selected, loaded: run on each port as it is found.
    pub scripts: Option<Engine>,
    /// `--resolve-all`: the reverse-DNS names of the hosts found (not with `-n`).
    pub reverse_dns: bool,
    pub outputs: Outputs,
}

/// Where the results go, how they look, and what the user is told.
pub struct Outputs {
    /// The `-o` files (every one is created before the first probe).
    pub paths: OutputPaths,
    /// `--output-fields`.
    pub fields: Vec<Field>,
    /// `--open`, `--reason`.
    pub view: OutputOptions,
    pub services: Arc<ServicesTable>,
    /// The command line, for the outputs' headers.
    pub command_line: String,
    /// `--resume` (of an `-oG` log, or a sweep from its saved state): the `-oG` log,
    /// JSON lines and CSV are appended to.
    pub resuming: bool,
    /// A sweep's shard (`I/N`; none for the whole space), for the Parquet output.
    pub shard: Option<String>,
    /// The names the user gave for addresses.
    pub names: Vec<(String, Ipv4Addr)>,
    /// How many addresses are scanned.
    pub addresses: u64,
    /// `-v` and `-d` levels.
    pub verbose: u8,
    pub debug: u8,
}

impl Outputs {
    /// Creates every output now, so a path that cannot be written fails before the
    /// scan.
    pub fn open(&self) -> Result<Writers> {
        Writers::open(
            &self.paths,
            &OutputSettings {
                fields: &self.fields,
                view: self.view,
                services: &self.services,
                command_line: &self.command_line,
                resuming: self.resuming,
                shard: self.shard.clone(),
            },
        )
    }

    /// The result's header: the command line, the start, the addresses.
    pub fn header(&self) -> ScanResult {
        ScanResult {
            args: self.command_line.clone(),
            ..ScanResult::starting_now(self.addresses)
        }
    }
}

/// The plan `args` ask for, every check on how flags combine made, target names
/// resolved on `runtime`; `command_line` is what the outputs record, `resuming` an
/// `-oG` log's scan going on. `notice` gets what the user should know (a connect
/// scan chosen, addresses left out).
pub fn plan(
    args: Args,
    command_line: &str,
    resuming: bool,
    runtime: &tokio::runtime::Runtime,
    notice: &mut dyn FnMut(&str),
) -> Result<Plan> {
    let data = DataFiles::locate(
        &datadir::data_dirs(args.datadir.as_deref()),
        NamedFiles {
            services: args.servicedb.as_deref(),
            service_probes: args.versiondb.as_deref(),
            os_db: args.osdb.as_deref(),
            synack_signatures: args.synack_db.as_deref(),
        },
    )?;
    if args.debug > 0 {
        data.found.iter().for_each(|line| notice(line));
    }
    if let Some(spec) = &args.script_help {
        return Ok(Plan::ScriptHelp(Box::new(Engine::new(ScriptOptions {
            spec: spec.clone(),
            script_dir: data.scripts.clone(),
            ..Default::default()
        })?)));
    }
    // --unprivileged acts as a user without raw packets, --privileged as one with them
    // (as nmap's); root is dropped either way once what needs it is open.
    let raw_allowed = !args.unprivileged && (args.privileged || privileges::raw_packets_allowed());
    check_named_paths(&args, raw_allowed)?;
    let run_as = RunAs::choose(args.run_as.as_deref())?;
    let mut args = args;
    let mut types = ScanTypes::parse(&args.scan_type)?;
    // The OS of every port is a part of OS detection.
    args.os_detection |= args.osscan_per_port;
    if args.aggressive {
        // -A is -O -sV -sC --traceroute, as nmap's.
        args.os_detection = true;
        args.traceroute = true;
        types.version = true;
        types.default_scripts = true;
    }
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
    let services = load_services(data.services.as_deref())?;
    let (mut targets, names) = targets(&args, runtime)?;
    if targets.is_empty() {
        bail!("no targets left after --exclude / --excludefile");
    }
    // This machine's own addresses: only the kernel's connections reach them. The
    // default scan becomes a connect scan when they are all the targets, as nmap's
    // does without raw packets; -sn finds them up; a raw scan leaves them out of a
    // larger set, with a notice, and is refused for them alone.
    let mut local = if raw_allowed {
        local_targets(&targets)?
    } else {
        Default::default()
    };
    let mut left_out = false;
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
                left_out = true;
            }
        } else if defaulted && !args.sweep && args.shard.is_none() {
            notice(&format!("{own} is this machine's own address: running a connect scan (-sT), since raw packets to it never leave through an interface"));
            types.tcp = None;
            types.connect = true;
        } else if raw_scan_type {
            bail!("{}", own_address_message(own));
        }
    }
    if left_out {
        // Not scanned, so not reported either.
        local = TargetSet::default();
    }
    let version = version_detection(&args, &data, &types, &services)?;
    let tcp_ports = (types.tcp.is_some() || types.connect)
        .then(|| port_list(&args, &services, "tcp", notice))
        .transpose()?;
    let udp_ports = types
        .udp
        .then(|| port_list(&args, &services, "udp", notice))
        .transpose()?;
    let fields = Field::parse_list(&args.output_fields)?;
    let scripts = script_options(&args, &types, &targets, &services, data.scripts.as_deref())?
        .map(Engine::new)
        .transpose()?;
    let probes = targets.len() * tcp_ports.as_ref().map_or(0, |p| p.len() as u64);
    // What a sweep sends, when the scan is one: as the flags say when asked for, a SYN
    // sweep when a SYN scan is too large for nmap-style.
    let sweep_probe = if args.sweep
        || args.shard.is_some()
        || args.resume.is_some()
        || args.resume_or_start.is_some()
    {
        Some(sweep_probe(&args, &types)?)
    } else {
        (types.tcp == Some(Reading::Syn) && !types.udp && probes > SWEEP_THRESHOLD)
            .then(|| sweep_probe(&args, &types))
            .transpose()?
    };
    let sweep_mode = sweep_probe.is_some();
    if sweep_mode && args.synack_signatures {
        bail!("--synack-signatures reads the SYN+ACKs of nmap-style scans, not of stateless sweeps: scan fewer than {SWEEP_THRESHOLD} (target, port) pairs");
    }
    if let Some(probe) = sweep_probe {
        let finds_open_ports = matches!(
            probe.sweep_answer(),
            Some(crate::probe::SweepAnswer::Port(
                crate::model::PortState::Open
            ))
        );
        let wanted = match (&version, &scripts) {
            (Some(_), _) => Some("-sV names the services of open ports"),
            (None, Some(_)) => Some("scripts in a sweep run on the open ports it finds"),
            (None, None) => None,
        };
        if let (Some(wanted), false) = (wanted, finds_open_ports) {
            bail!(
                "{wanted}: a {} sweep finds none (sweep with -sS or -sU)",
                probe.name()
            );
        }
    }
    // Without privileges, -sn pings with TCP connects, as nmap does; with them, the
    // connect path pings with raw packets all but this machine's own addresses.
    let connect_path =
        !sweep_mode && (types.connect || (types.ping_only && (!raw_allowed || !local.is_empty())));
    if args.traceroute && sweep_mode {
        bail!("--traceroute runs on nmap-style scans, not on stateless sweeps: scan fewer than {SWEEP_THRESHOLD} (target, port) pairs, or trace the hosts the sweep found");
    }
    if args.traceroute && connect_path {
        bail!("--traceroute sends raw packets with short TTLs: run as root (or with CAP_NET_RAW) and use -sS (the default) instead of -sT or --unprivileged");
    }
    let os = os_detection(&args, &data, &types, sweep_mode, connect_path)?;
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
    let base = args.output_all.as_deref();
    let or_base = |path: &Option<String>, extension: &str| {
        path.clone()
            .or_else(|| base.map(|b| format!("{b}.{extension}")))
    };
    let mut outputs = Outputs {
        paths: OutputPaths {
            normal: or_base(&args.output_normal, "nmap"),
            xml: or_base(&args.output_xml, "xml"),
            grepable: or_base(&args.output_grepable, "gnmap"),
            json: or_base(&args.output_json, "jsonl"),
            csv: args.output_csv.clone(),
            parquet: args.output_parquet.clone(),
        },
        fields,
        view: OutputOptions {
            open_only: args.open,
            reason: args.reason,
            synack_signatures: args.synack_signatures,
            os_guess: args.osscan_guess,
            verbose: args.verbose > 0 || args.debug > 0,
        },
        services,
        command_line: command_line.to_string(),
        resuming,
        shard: None,
        names,
        addresses: targets.len(),
        verbose: args.verbose,
        debug: args.debug,
    };
    let net = NetworkOptions {
        send_mode: args.send_mode,
        recv_mode: args.recv_mode,
        xdp_mode: args.xdp_mode,
        iface: args.iface.clone(),
        src_ip: args.src_ip,
        src_ports: parse_port_range(&args.source_ports)?,
    };
    if let Some(probe) = sweep_probe {
        let resume = match (&args.resume, &args.resume_or_start) {
            (Some(path), _) => Some(ResumeState::load(path)?),
            (None, Some(path)) if saved_state_in(path) => {
                notice(&format!("continuing the sweep saved in {}", path.display()));
                Some(ResumeState::load(path)?)
            }
            _ => None,
        };
        // The streaming outputs go on where the interrupted sweep's stopped.
        outputs.resuming |= resume.is_some();
        let shard = args
            .shard
            .as_deref()
            .map(|spec| super::shard::resolve(spec, |name| std::env::var(name).ok()))
            .transpose()?
            .unwrap_or(Shard::WHOLE);
        outputs.shard = (shard != Shard::WHOLE).then(|| format!("{}/{}", shard.index, shard.count));
        let seed = match (&resume, args.seed) {
            (Some(state), Some(seed)) if state.seed != seed => bail!(
                "--seed {seed} differs from the resume file's seed {}",
                state.seed
            ),
            (Some(state), _) => state.seed,
            (None, Some(seed)) => seed,
            (None, None) => rand::random(),
        };
        let sweep = SweepOptions {
            targets,
            probe,
            ports: match probe {
                ProbeKind::Tcp(_) => tcp_ports,
                ProbeKind::Udp => udp_ports,
                ProbeKind::Icmp(_) => None,
            },
            rate: timing.rate.max(1.0) as u64,
            retries: timing.retries,
            wait: timing.wait,
            net,
            seed,
            shard,
            threads: sender_threads(
                &args,
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )?,
            resume,
            resume_path: args
                .resume_or_start
                .clone()
                .unwrap_or_else(|| args.resume_file.clone()),
            progress: ProgressOptions {
                plain_every: (!args.no_progress).then_some(Duration::from_secs(5)),
                ..progress
            },
            run_as: Some(run_as),
            debug: args.debug,
            records: RunRecordPaths {
                metadata: args.metadata_file.clone(),
                status_updates: args.status_updates_file.clone(),
            },
            exclusions: exclusions_given(&args),
            max_connections: match args.max_connections {
                Some(n) => n,
                None if version.is_some() => connections_the_descriptors_allow(),
                None => 0,
            },
            versions: version,
        };
        return Ok(Plan::Sweep(Box::new(SweepPlan {
            sweep,
            scripts,
            reverse_dns: !args.no_dns && args.resolve_all,
            outputs,
        })));
    }
    let synack_db = synack_signatures(&args, &data, scripts.is_some())?;
    let parallelism = args.max_parallelism.map_or(256, |n| n as usize);
    let discovery = match discovery(&args)? {
        // Without raw packets, hosts are pinged with connects.
        Discovery::Ping { .. } if !raw_allowed => Discovery::Connect { parallelism },
        discovery => discovery,
    };
    let ports = if types.ping_only {
        None
    } else if connect_path {
        Some(PortScanner::Connect {
            ports: tcp_ports.context("a connect scan scans TCP ports")?,
            retries: args.retries.unwrap_or(2),
            parallelism,
        })
    } else {
        let tcp = match (types.tcp, tcp_ports) {
            (Some(reading), Some(ports)) => {
                let mut probe = TcpProbe::standard(reading);
                if let Some(flags) = &args.scan_flags {
                    probe.flags = parse_scan_flags(flags)?;
                }
                probe.client_options = synack_db.is_some();
                Some((probe, ports))
            }
            _ => None,
        };
        Some(PortScanner::Raw {
            tcp,
            udp: udp_ports,
        })
    };
    let scan = ScanOptions {
        targets,
        local,
        discovery,
        ports,
        timing,
        net,
        seed: args.seed,
        progress,
        debug: args.debug,
        hostgroup: args.max_hostgroup as usize,
        reverse_dns: !args.no_dns,
        version,
        run_as: Some(run_as),
        traceroute: args.traceroute,
        synack_signatures: synack_db,
        os,
    };
    Ok(Plan::Scan(Box::new(ScanPlan {
        scan,
        scripts,
        outputs,
    })))
}

/// The database SYN+ACK signatures are matched against, where they are read: with
/// `--synack-signatures`, and for the scripts (their `port.synack`) when any run.
fn synack_signatures(
    args: &Args,
    data: &DataFiles,
    scripts: bool,
) -> Result<Option<Arc<SynAckDb>>> {
    if args.synack_db.is_some() && !args.synack_signatures && !args.osscan_per_port {
        bail!(
            "--synack-db names the database of --synack-signatures and --osscan-per-port: add one"
        );
    }
    if !args.synack_signatures && !scripts {
        return Ok(None);
    }
    Ok(Some(Arc::new(os::synack_db::load(
        data.synack_signatures.as_deref(),
    )?)))
}

/// OS detection's options (`-O`), with its database (`--osdb`, or the built-in one);
/// `None` without -O. Refused where it cannot run: sweeps, connect scans, no TCP port
/// scan.
fn os_detection(
    args: &Args,
    data: &DataFiles,
    types: &ScanTypes,
    sweep_mode: bool,
    connect_path: bool,
) -> Result<Option<OsOptions>> {
    if !args.os_detection {
        if args.osscan_limit
            || args.osscan_guess
            || args.max_os_tries.is_some()
            || args.osdb.is_some()
        {
            bail!("--osscan-limit, --osscan-guess, --max-os-tries and --osdb tune OS detection: add -O");
        }
        return Ok(None);
    }
    if sweep_mode {
        bail!("-O runs on nmap-style scans, not on stateless sweeps: scan fewer than {SWEEP_THRESHOLD} (target, port) pairs, or -O the hosts the sweep found");
    }
    if connect_path {
        bail!("-O sends raw probes: run as root (or with CAP_NET_RAW) and use -sS (the default) instead of -sT, -sn or --unprivileged");
    }
    if types.tcp.is_none() {
        bail!("-O needs a TCP port scan to find an open and a closed port: add -sS (or scan TCP ports besides -sU)");
    }
    if args.max_os_tries == Some(0) {
        bail!("--max-os-tries 0: at least one try");
    }
    Ok(Some(OsOptions {
        db: Arc::new(os::db::load(data.os_db.as_deref())?),
        limit: args.osscan_limit,
        list_ports: args
            .osscan_per_port
            .then(|| os::synack_db::load(data.synack_signatures.as_deref()))
            .transpose()?
            .map(Arc::new),
        tries: args.max_os_tries.unwrap_or(os::detect::DEFAULT_TRIES),
    }))
}

/// How many connections version detection in a sweep may hold at once when
/// `--max-connections` is not given: the descriptor limit, raised to its hard limit
/// first (at most 65,536), less 256 for everything else; at least 16, at most
/// 4096.
fn connections_the_descriptors_allow() -> usize {
    /// More at once than this gains little (each port waits about a second for its
    /// answers) and costs memory; `--max-connections` goes higher.
    const SWEEP_CONNECTIONS_CAP: usize = 4096;
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the one struct given.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                let wanted = limit.rlim_max.min(65_536);
                if wanted > limit.rlim_cur {
                    let raised = libc::rlimit {
                        rlim_cur: wanted,
                        rlim_max: limit.rlim_max,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        limit.rlim_cur = wanted;
                    }
                }
            }
        }
        (limit.rlim_cur as usize)
            .saturating_sub(256)
            .clamp(16, SWEEP_CONNECTIONS_CAP)
    }
    #[cfg(windows)]
    {
        crate::service::scan::VersionOptions::DEFAULT_PARALLEL.min(SWEEP_CONNECTIONS_CAP)
    }
}

/// Whether `path` holds a sweep's saved state (a sweep that finished, or was killed
/// before it could write, leaves it empty or absent).
fn saved_state_in(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.len() > 0)
}

/// The exclusions as the user gave them (and the default blocklist, where it
/// applies), for a sweep's metadata.
fn exclusions_given(args: &Args) -> Vec<String> {
    let mut given: Vec<String> = args
        .exclude
        .iter()
        .map(|e| format!("--exclude {e}"))
        .collect();
    given.extend(
        args.excludefile
            .iter()
            .map(|f| format!("--excludefile {}", f.display())),
    );
    if !args.allow_reserved_targets {
        given.push("the reserved and private ranges (RFC 6890)".into());
    }
    given
}

/// The targets (arguments and -iL, names resolved on `runtime`) minus `--exclude` and
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::normalize_args;
    use clap::Parser;

    fn table() -> Arc<ServicesTable> {
        Arc::new(ServicesTable::built_in().unwrap())
    }

    fn args(line: &str) -> Args {
        let argv =
            std::iter::once("scanner".to_string()).chain(line.split_whitespace().map(String::from));
        Args::try_parse_from(normalize_args(argv)).unwrap()
    }

    #[test]
    fn sweeps_send_what_the_flags_say_and_refuse_what_they_cannot_report() {
        let probe = |line: &str| {
            let a = args(line);
            sweep_probe(&a, &ScanTypes::parse(&a.scan_type).unwrap())
        };
        let kind = |line: &str| probe(line).unwrap().name();
        assert_eq!(kind("--sweep -p 80 x"), "tcp_syn");
        assert_eq!(kind("--sweep -sS -p 80 x"), "tcp_syn");
        assert_eq!(kind("--sweep -sA -p 80 x"), "tcp_ack");
        assert_eq!(kind("--sweep -sU -p 53,161 x"), "udp");
        assert_eq!(kind("--sweep -sn x"), "icmp_echo");
        assert_eq!(kind("--sweep -sn -PE x"), "icmp_echo");
        assert_eq!(
            probe("--sweep -sA --scanflags SYNACK -p 80 x").unwrap(),
            ProbeKind::Tcp(TcpProbe {
                flags: 0x12,
                reading: Reading::Ack,
                client_options: false,
            })
        );
        let refused = |line: &str| probe(line).unwrap_err().to_string();
        assert!(refused("--sweep -sT -p 80 x").contains("-sT"));
        assert!(refused("--sweep -sF -p 80 x").contains("silence"));
        assert!(refused("--sweep -sSU -p 80 x").contains("one kind"));
        assert!(refused("--sweep -sn -PS80 x").contains("-PE"));
    }

    #[test]
    fn scripts_with_version_detection_take_in_the_version_scripts() {
        let targets = crate::target::TargetSet::parse(&["198.18.0.10".to_string()]).unwrap();
        let spec = |line: &str| {
            let a = args(line);
            let types = ScanTypes::parse(&a.scan_type).unwrap();
            script_options(&a, &types, &targets, &table(), None)
                .unwrap()
                .map(|o| o.spec)
        };
        assert_eq!(spec("-sV x"), None);
        assert_eq!(spec("-sC x").as_deref(), Some("default"));
        assert_eq!(spec("-sV -sC x").as_deref(), Some("default,version"));
        assert_eq!(
            spec("-sV --script banner x").as_deref(),
            Some("banner,version")
        );
        assert!(script_options(
            &args("--script-args a=b x"),
            &ScanTypes::parse(&[]).unwrap(),
            &targets,
            &table(),
            None
        )
        .is_err());
    }

    #[test]
    fn named_paths_need_privileges_and_agree() {
        for line in ["x", "-sT x", "--send-mode afxdp x", "--recv-mode packet x"] {
            assert!(check_named_paths(&args(line), true).is_ok(), "{line}");
        }
        assert!(check_named_paths(&args("-sT x"), false).is_ok());
        let refused = check_named_paths(&args("--send-mode afxdp x"), false).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.starts_with("--send-mode afxdp cannot be honoured")
                && message.contains("run as root"),
            "{message}"
        );
        for line in [
            "--recv-mode xdp x",
            "--xdp-mode native x",
            "-sT --send-mode packet x",
        ] {
            assert!(check_named_paths(&args(line), false).is_err(), "{line}");
        }
        assert!(check_named_paths(&args("--recv-mode packet --xdp-mode skb x"), true).is_err());
    }

    #[test]
    fn scan_types_combine_as_nmap_allows() {
        let types = ScanTypes::parse(&args("-sSU x").scan_type).unwrap();
        assert_eq!((types.tcp, types.udp), (Some(Reading::Syn), true));
        let types = ScanTypes::parse(&args("-sS -sU x").scan_type).unwrap();
        assert_eq!((types.tcp, types.udp), (Some(Reading::Syn), true));
        assert!(
            ScanTypes::parse(&args("-sn x").scan_type)
                .unwrap()
                .ping_only
        );
        let types = ScanTypes::parse(&args("-sSV x").scan_type).unwrap();
        assert!(types.version && types.tcp == Some(Reading::Syn));
        let alone = ScanTypes::parse(&args("-sV x").scan_type).unwrap();
        assert!(alone.version && alone.names_no_scan());
        for bad in ["-sSA x", "-sT -sU x", "-sn -sS x", "-sn -sV x", "-sY x"] {
            assert!(ScanTypes::parse(&args(bad).scan_type).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_options_follow_nmaps_flags() {
        let opts = |line: &str| {
            let a = args(line);
            let named = NamedFiles {
                service_probes: a.versiondb.as_deref(),
                ..NamedFiles::default()
            };
            version_detection(
                &a,
                &DataFiles::locate(&[], named).unwrap(),
                &ScanTypes::parse(&a.scan_type).unwrap(),
                &table(),
            )
        };
        assert!(opts("-sS x").unwrap().is_none());
        let default = opts("-sV x").unwrap().unwrap();
        assert_eq!(default.intensity, 7);
        assert!(
            !default.db.exclude.is_empty(),
            "the own database excludes printer ports"
        );
        assert_eq!(opts("-sV --version-light x").unwrap().unwrap().intensity, 2);
        assert_eq!(opts("-sV --version-all x").unwrap().unwrap().intensity, 9);
        assert_eq!(
            opts("-sV --version-intensity 0 x")
                .unwrap()
                .unwrap()
                .intensity,
            0
        );
        assert!(opts("-sV --allports x")
            .unwrap()
            .unwrap()
            .db
            .exclude
            .is_empty());
        for bad in [
            "-sV --version-intensity 10 x",
            "-sV --version-light --version-all x",
            "-sS --version-all x",
            "--versiondb /nonexistent x",
            "-sV --versiondb /nonexistent/probes x",
        ] {
            assert!(opts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ping_flags_build_the_ping_spec() {
        let Discovery::Ping { pings, arp } = discovery(&args("-PE -PS22,80 -PA -PU x")).unwrap()
        else {
            panic!("pings expected")
        };
        assert!(pings.echo && !pings.timestamp && arp);
        assert_eq!(
            (pings.syn_ports, pings.ack_ports, pings.udp_ports),
            (vec![22, 80], vec![80], vec![40125])
        );
        assert_eq!(discovery(&args("-Pn x")).unwrap(), Discovery::Skip);
        let Discovery::Ping { pings, arp } = discovery(&args("--disable-arp-ping x")).unwrap()
        else {
            panic!("pings expected")
        };
        assert_eq!((pings, arp), (PingSpec::nmap_default(), false));
        for bad in ["-Pn -PE x", "-PX x", "-PEx x", "-PS99999 x"] {
            assert!(discovery(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn timing_options_override_the_template() {
        let t = timing(&args("-T4 x"), false).unwrap();
        assert_eq!((t.rate, t.retries), (250_000.0, 6));
        let t = timing(&args("-T4 --max-rate 1000 --max-retries 1 x"), false).unwrap();
        assert_eq!((t.rate, t.retries), (1000.0, 1));
        let t = timing(&args("--scan-delay 500ms x"), false).unwrap();
        assert_eq!(t.rate, 2.0);
        let t = timing(&args("-T0 --min-rate 10 x"), false).unwrap();
        assert_eq!((t.rate, t.min_parallelism), (10.0, t.max_parallelism));
        assert_eq!(timing(&args("x"), true).unwrap().retries, 0, "sweeps");
        assert!(timing(&args("--min-rtt-timeout 2s --max-rtt-timeout 1s x"), false).is_err());
        assert!(timing(&args("-T9 x"), false).is_err());
        let t = timing(&args("--host-timeout 90s x"), false).unwrap();
        assert_eq!(t.host_timeout, Some(Duration::from_secs(90)));
    }

    #[test]
    fn nonsense_timing_is_refused() {
        for bad in [
            "--min-rate 1000 --max-rate 10 x",
            "--wait=-1 x",
            "--wait NaN x",
            "--wait inf x",
            "--scan-delay=-1s x",
            "--scan-delay 1e9h x",
            "--host-timeout NaN x",
            "--max-rtt-timeout 2d x",
            "--initial-rtt-timeout fast x",
            "--min-parallelism 10 --max-parallelism 5 x",
        ] {
            assert!(timing(&args(bad), false).is_err(), "{bad}");
        }
        let t = timing(&args("--min-rate 10 --max-rate 10 x"), false).unwrap();
        assert_eq!(t.rate, 10.0);
    }

    #[test]
    fn sender_threads_stay_within_the_cpus() {
        let threads = |line: &str, cpus: usize| sender_threads(&args(line), cpus).unwrap();
        assert_eq!(
            threads("--threads 2 x", 2),
            SenderThreads {
                count: 2,
                asked: true
            }
        );
        assert_eq!(
            threads("--threads 1 x", 16),
            SenderThreads {
                count: 1,
                asked: true
            }
        );
        assert_eq!(
            threads("x", 1),
            SenderThreads {
                count: 1,
                asked: false
            }
        );
        assert_eq!(
            threads("x", 2),
            SenderThreads {
                count: 2,
                asked: false
            }
        );
        assert_eq!(
            threads("x", 64),
            SenderThreads {
                count: 8,
                asked: false
            }
        );
        let err = sender_threads(&args("--threads 100000 x"), 16).unwrap_err();
        assert!(err.to_string().contains("16 CPU"), "{err}");
    }

    #[test]
    fn top_ports_above_the_table_take_all_with_a_notice() {
        let mut notices = Vec::new();
        let ports = port_list(
            &args("--top-ports 100000000 x"),
            &table(),
            "tcp",
            &mut |m: &str| notices.push(m.to_string()),
        )
        .unwrap();
        let all = table().top_ports(usize::MAX, "tcp").len();
        assert_eq!(ports.len(), all);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("--top-ports 100000000"), "{notices:?}");
        notices.clear();
        let ten = port_list(
            &args("--top-ports 10 x"),
            &table(),
            "tcp",
            &mut |m: &str| notices.push(m.to_string()),
        )
        .unwrap();
        assert_eq!((ten.len(), notices.len()), (10, 0));
        for bad in [
            "--top-ports 0 x",
            "-p 0 x",
            "-p 70000 x",
            "-p 90-80 x",
            "-p 1-2-3 x",
        ] {
            assert!(
                port_list(&args(bad), &table(), "tcp", &mut |_: &str| {}).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_empty_target_list_says_so() {
        let path = std::env::temp_dir().join(format!("scanner-empty-il-{}", std::process::id()));
        std::fs::write(&path, "# nothing here\n\n   \n").unwrap();
        let line = format!("-iL {}", path.display());
        let err = target_specs(&args(&line)).unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
        std::fs::write(&path, "198.18.0.10 # web\n198.18.0.11\n").unwrap();
        assert_eq!(
            target_specs(&args(&format!("{line} 198.18.0.12"))).unwrap(),
            ["198.18.0.12", "198.18.0.10", "198.18.0.11"]
        );
        std::fs::remove_file(path).unwrap();
    }

    /// The plan of `line` (targets in TEST-NET-1: planned, never scanned).
    fn planned(line: &str) -> Result<Plan> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        plan(args(line), line, false, &runtime, &mut |_: &str| {})
    }

    #[test]
    fn the_plan_is_one_mode_with_what_it_needs() {
        assert!(matches!(
            planned("--script-help banner").unwrap(),
            Plan::ScriptHelp(_)
        ));
        let Plan::Sweep(sweep) =
            planned("--privileged --sweep --allow-reserved-targets -p 80 192.0.2.10").unwrap()
        else {
            panic!("a sweep expected")
        };
        assert_eq!((sweep.sweep.targets.len(), sweep.reverse_dns), (1, false));
        let scan = |line: &str| match planned(line).unwrap() {
            Plan::Scan(plan) => plan.scan,
            _ => panic!("{line}: a scan expected"),
        };
        let raw = scan("--privileged -sSU -p T:80,U:53 192.0.2.10");
        let Some(PortScanner::Raw {
            tcp: Some((probe, _)),
            udp: Some(udp),
        }) = &raw.ports
        else {
            panic!("a raw scan expected: {:?}", raw.ports)
        };
        assert_eq!((probe.reading, udp.as_slice()), (Reading::Syn, &[53][..]));
        assert!(matches!(raw.discovery, Discovery::Ping { .. }));
        // Without raw packets: a connect scan, and connects find the hosts up.
        let connect = scan("--unprivileged --max-parallelism 300 -p 80 192.0.2.10");
        assert!(matches!(
            connect.ports,
            Some(PortScanner::Connect {
                parallelism: 300,
                ..
            })
        ));
        assert_eq!(connect.discovery, Discovery::Connect { parallelism: 300 });
        let ping = scan("--privileged -sn 192.0.2.10");
        assert!(ping.ports.is_none() && matches!(ping.discovery, Discovery::Ping { .. }));
    }

    #[test]
    fn the_plan_refuses_flags_that_do_not_combine() {
        let refused = |line: &str| match planned(line) {
            Err(err) => err.to_string(),
            Ok(_) => panic!("{line}: refused expected"),
        };
        for (line, message) in [
            (
                "--unprivileged -sS -p 80 192.0.2.10",
                "which --unprivileged gives up",
            ),
            (
                "--privileged -sT --traceroute -p 80 192.0.2.10",
                "--traceroute sends raw packets",
            ),
            (
                "--privileged --sweep --traceroute --allow-reserved-targets -p 80 192.0.2.10",
                "--traceroute runs on nmap-style scans",
            ),
            (
                "--privileged --sweep -sA -sC --allow-reserved-targets -p 80 192.0.2.10",
                "scripts in a sweep run on the open ports it finds",
            ),
            (
                "--privileged --sweep -sA -sV --allow-reserved-targets -p 80 192.0.2.10",
                "-sV names the services of open ports",
            ),
            (
                "--privileged --sweep -p 80 192.0.2.10",
                "--allow-reserved-targets",
            ),
            (
                "--privileged -sS -p 80 127.0.0.1",
                "this machine's own address",
            ),
            ("-p 80 192.0.2.10 --exclude 192.0.2.10", "no targets left"),
        ] {
            let err = refused(line);
            assert!(err.contains(message), "{line}: {err}");
        }
    }
}
