//! From the command line to what the scan does: which scan types the `-s` flags
//! ask for, which ports for each protocol, which host discovery, and the timing (the
//! `-T` template with the options that override it). Pure functions of [`Args`]: no
//! I/O but reading `--servicedb` and `--versiondb`.

use super::Args;
use crate::discovery::PingSpec;
use crate::engine::timing::{parse_time, Timing};
use crate::io::RecvMode;
use crate::pipeline::Discovery;
use crate::portscan::syn::Reading;
use crate::report::services;
use crate::script::engine::ScriptOptions;
use crate::service::{self, scan::VersionOptions};
use crate::target::ports::PortList;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use std::sync::Arc;
use std::time::Duration;

/// Loads `--servicedb` in place of the built-in services table.
pub fn load_services(args: &Args) -> Result<()> {
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
/// --exclude-ports. `--top-ports` above the table's size takes every port it has,
/// with a `notice`.
pub fn port_list(args: &Args, proto: &str, notice: &mut dyn FnMut(&str)) -> Result<PortList> {
    let table = services::table();
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
    if args.recv_mode == Some(RecvMode::Packet) && args.xdp_mode.is_some() {
        bail!("--xdp-mode places the XDP classifier, which --recv-mode packet does not use: drop one of them");
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
/// cannot start at all).
pub fn sender_threads(args: &Args, cpus: usize) -> Result<usize> {
    if args.threads > cpus.max(1) {
        bail!(
            "--threads {}: this machine has {cpus} CPU(s); give at most {cpus} sender threads (AF_XDP uses one per transmit queue of the interface)",
            args.threads
        );
    }
    Ok(args.threads.max(1))
}

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

/// Version detection as the flags ask for it (`-sV`, `--version-intensity`,
/// `--version-light`, `--version-all`, `--versiondb`, `--allports`), or `None`
/// without `-sV`.
pub fn version_detection(args: &Args, types: &ScanTypes) -> Result<Option<VersionOptions>> {
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
    let mut db = service::load_database(args.versiondb.as_deref())?;
    if args.all_ports {
        db.exclude.clear();
    }
    Ok(Some(VersionOptions {
        db: Arc::new(db),
        intensity,
        per_host: VersionOptions::DEFAULT_PER_HOST,
        parallel: VersionOptions::DEFAULT_PARALLEL,
    }))
}

/// Scripts as the flags ask for them (`--script`, `-sC`, `--script-args`,
/// `--script-args-file`, `--script-timeout`, `--max-script-threads`), or `None`.
/// Sockets of scripts may reach `targets` only.
pub fn script_options(
    args: &Args,
    types: &ScanTypes,
    targets: &crate::target::TargetSet,
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
        debug: args.debug,
        verbose: args.verbose,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::normalize_args;
    use clap::Parser;

    fn args(line: &str) -> Args {
        let argv =
            std::iter::once("scanner".to_string()).chain(line.split_whitespace().map(String::from));
        Args::try_parse_from(normalize_args(argv)).unwrap()
    }

    #[test]
    fn scripts_with_version_detection_take_in_the_version_scripts() {
        let targets = crate::target::TargetSet::parse(&["198.18.0.10".to_string()]).unwrap();
        let spec = |line: &str| {
            let a = args(line);
            let types = ScanTypes::parse(&a.scan_type).unwrap();
            script_options(&a, &types, &targets)
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
            &targets
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
            version_detection(&a, &ScanTypes::parse(&a.scan_type).unwrap())
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
        assert_eq!(sender_threads(&args("--threads 2 x"), 2).unwrap(), 2);
        assert_eq!(sender_threads(&args("x"), 1).unwrap(), 1);
        let err = sender_threads(&args("--threads 100000 x"), 16).unwrap_err();
        assert!(err.to_string().contains("16 CPU"), "{err}");
    }

    #[test]
    fn top_ports_above_the_table_take_all_with_a_notice() {
        let mut notices = Vec::new();
        let ports = port_list(&args("--top-ports 100000000 x"), "tcp", &mut |m: &str| {
            notices.push(m.to_string())
        })
        .unwrap();
        let all = services::table().top_ports(usize::MAX, "tcp").len();
        assert_eq!(ports.len(), all);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("--top-ports 100000000"), "{notices:?}");
        notices.clear();
        let ten = port_list(&args("--top-ports 10 x"), "tcp", &mut |m: &str| {
            notices.push(m.to_string())
        })
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
                port_list(&args(bad), "tcp", &mut |_: &str| {}).is_err(),
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
}
