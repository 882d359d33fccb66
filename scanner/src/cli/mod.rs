//! The command line: nmap's flags where nmap has them (`-sS`, `-p`, `-p-`, `-oJ`,
//! `-e`, `-S`, `-Pn`, `-n`), masscan's `--rate`, and the scanner's own options.
//!
//! nmap's two-letter single-dash flags (`-sS`, `-oJ`, `-Pn`) are not something clap
//! parses, so [`normalize_args`] rewrites them to long options first.

pub mod datadir;
pub mod plan;
pub mod resume;
pub mod shard;
pub mod shell_words;

use crate::io::AttachMode;
use crate::io::{RecvMode, SendMode};
use clap::Parser;
use std::net::Ipv4Addr;

#[derive(Parser, Debug)]
#[command(
    name = "scanner",
    version,
    about = "A network scanner: nmap's flags, masscan's speed, an XDP classifier and AF_XDP",
    after_help = "Examples:\n  scanner -sS -p 22,80,443 198.18.0.0/24\n  scanner -sS -p- -oJ - 198.18.0.10\n\nNeeds root (CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF) for raw packets and XDP."
)]
pub struct Args {
    /// Targets: addresses, CIDR blocks (198.18.0.0/24), octet ranges (198.18.0.1-20).
    #[arg(required_unless_present_any = ["input_list", "resume", "script_help", "print_man_page", "print_completions"])]
    pub targets: Vec<String>,

    /// Read targets from FILE (whitespace or newline separated, # comments). Written -iL.
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Option<std::path::PathBuf>,

    /// Scan type: -sS (SYN; the default with raw-packet privileges), -sT (connect; the
    /// default without), -sA (ACK), -sF (FIN), -sN (NULL), -sX (Xmas), -sU (UDP),
    /// -sn (host discovery only, no port scan); -sV adds version detection to any port
    /// scan (-sSV, -sTV, -sUV; alone, to the default scan); -sC runs the default
    /// scripts.
    #[arg(long = "scan-type", value_name = "TYPE", action = clap::ArgAction::Append)]
    pub scan_type: Vec<String>,

    /// Host discovery probes, as nmap's -P flags: -PE (ICMP echo), -PP (timestamp),
    /// -PM (address mask), -PS[PORTS] (TCP SYN, default 80), -PA[PORTS] (TCP ACK,
    /// default 80), -PU[PORTS] (UDP, default 40125), -PR (ARP only). Default: ARP on
    /// the local segment, -PE -PS443 -PA80 -PP elsewhere.
    #[arg(long = "ping", value_name = "KIND", action = clap::ArgAction::Append)]
    pub ping: Vec<String>,

    /// Ping on-link targets with the IP probes too, instead of ARP alone. Also --send-ip.
    #[arg(long = "disable-arp-ping", alias = "send-ip")]
    pub disable_arp_ping: bool,

    /// Timing template: 0-5 or paranoid, sneaky, polite, normal (default), aggressive,
    /// insane. Written -T4.
    #[arg(long = "timing", value_name = "LEVEL")]
    pub timing: Option<String>,

    /// Wait at least this long for a reply before resending (500ms, 2s).
    #[arg(long = "min-rtt-timeout", value_name = "TIME")]
    pub min_rtt_timeout: Option<String>,

    /// Wait at most this long for a reply before resending.
    #[arg(long = "max-rtt-timeout", value_name = "TIME")]
    pub max_rtt_timeout: Option<String>,

    /// Wait this long for the first reply, before any round trip is measured.
    #[arg(long = "initial-rtt-timeout", value_name = "TIME")]
    pub initial_rtt_timeout: Option<String>,

    /// Wait at least this long between probes (caps the rate).
    #[arg(long = "scan-delay", value_name = "TIME")]
    pub scan_delay: Option<String>,

    /// Send at least this many packets per second (raises a slow template's rate).
    #[arg(long = "min-rate", value_name = "PPS", value_parser = positive_rate)]
    pub min_rate: Option<f64>,

    /// Send these TCP flags (a number, or names such as URGPSHFIN) with the scan
    /// type's reading of the replies (SYN's unless -sA/-sF/-sN/-sX).
    #[arg(long = "scanflags", value_name = "FLAGS")]
    pub scan_flags: Option<String>,

    /// Most probes in flight at once (default 100000 for raw scans, which the
    /// congestion window narrows on loss; 256 connects for -sT).
    #[arg(long = "max-parallelism", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_parallelism: Option<u64>,

    /// Fewest probes in flight the congestion window narrows to on loss (default 64).
    #[arg(long = "min-parallelism", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub min_parallelism: Option<u64>,

    /// Hosts port scanned at once; each group is finished (and written to a -oG log)
    /// before the next starts.
    #[arg(long = "max-hostgroup", value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_hostgroup: u64,

    /// Give up on a host after this long (30m, 90s); it is left out of the output.
    #[arg(long = "host-timeout", value_name = "TIME")]
    pub host_timeout: Option<String>,

    /// Ports: 22,80,1000-2000, service names (http,ssh), - (or -p-) for all 65535.
    /// Default 1-1024.
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "PORTS",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,

    /// The 100 most common ports of the services table.
    #[arg(short = 'F', conflicts_with_all = ["ports", "top_ports"])]
    pub fast: bool,

    /// The N most common ports of the services table.
    #[arg(long = "top-ports", value_name = "N", conflicts_with = "ports")]
    pub top_ports: Option<usize>,

    /// Leave these ports out (same syntax as -p).
    #[arg(long = "exclude-ports", value_name = "PORTS")]
    pub exclude_ports: Option<String>,

    /// Look for data files in DIR first (laid out as the repository: fingerprints/services,
    /// fingerprints/service-probes, fingerprints/os-db, fingerprints/synack-signatures,
    /// scripts/*.nse), then in $SCANNER_DATADIR, the installed folder beside the binary
    /// (PREFIX/share/scanner), the source tree it was built in; a file none has is the
    /// copy built into the binary. -d names each file read.
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<std::path::PathBuf>,

    /// Writes the manual page (roff) to standard output and exits (for packagers:
    /// `cargo xtask dist` installs it).
    #[arg(long = "print-man-page", hide = true)]
    pub print_man_page: bool,

    /// Writes the completions of SHELL (bash, zsh, fish, elvish, powershell) to standard
    /// output and exits (for packagers).
    #[arg(long = "print-completions", value_name = "SHELL", hide = true)]
    pub print_completions: Option<clap_complete::Shell>,

    /// Load port names and frequencies from FILE (nmap-services format) instead of the
    /// built-in table.
    #[arg(long, value_name = "FILE")]
    pub servicedb: Option<std::path::PathBuf>,

    /// Version detection: how rare a probe may be and still be sent to ports it does
    /// not list, 0 (only the port's own probes) to 9 (all). Default 7.
    #[arg(long = "version-intensity", value_name = "0-9")]
    pub version_intensity: Option<u8>,

    /// Version detection with intensity 2: quicker, names fewer services.
    #[arg(long = "version-light")]
    pub version_light: bool,

    /// Version detection with intensity 9: every probe.
    #[arg(long = "version-all")]
    pub version_all: bool,

    /// Version detection probes every port, the database's Exclude list included
    /// (it names printer ports that print whatever they are sent).
    #[arg(long = "allports")]
    pub all_ports: bool,

    /// Load version detection's probes from FILE (nmap-service-probes format, such as
    /// nmap's own) instead of the built-in database.
    #[arg(long, value_name = "FILE")]
    pub versiondb: Option<std::path::PathBuf>,

    /// -O -sV -sC --traceroute, as nmap's -A.
    #[arg(short = 'A')]
    pub aggressive: bool,

    /// OS detection: nmap's sixteen probes to each host with an open and a closed TCP
    /// port, the fingerprint they give matched against the OS database.
    #[arg(short = 'O')]
    pub os_detection: bool,

    /// OS detection only of hosts with an open and a closed TCP port (the others'
    /// fingerprints are unreliable, and are not taken).
    #[arg(long = "osscan-limit")]
    pub osscan_limit: bool,

    /// The OS of every port (implies -O): list each open TCP port's own fingerprint
    /// (its SYN+ACK to one probe, as p0f reads it) and what it matches in the SYN+ACK
    /// signature database (--synack-db), in normal, XML (a <portstacks> element of
    /// this scanner's, outside nmap's DTD) and JSON output. Without it, -O names only
    /// the ports another stack answers.
    #[arg(long = "osscan-per-port")]
    pub osscan_per_port: bool,

    /// Print "Aggressive OS guesses" even where nmap's rules would not (-O).
    #[arg(long = "osscan-guess", visible_alias = "fuzzy")]
    pub osscan_guess: bool,

    /// Tries of the OS probes that went unanswered (default 2).
    #[arg(long = "max-os-tries", value_name = "N")]
    pub max_os_tries: Option<u8>,

    /// Match OS fingerprints against FILE (nmap-os-db format, such as nmap's own)
    /// instead of the built-in database.
    #[arg(long, value_name = "FILE")]
    pub osdb: Option<std::path::PathBuf>,

    /// Run these scripts: names, globs (`http-*`), categories (`default`, `safe`, …),
    /// `all`, files or folders, or expressions (`"default and not intrusive"`),
    /// comma-separated. -sC is `--script default`.
    #[arg(long, value_name = "SCRIPTS")]
    pub script: Option<String>,

    /// Arguments for scripts: `name=value,script.name=value`.
    #[arg(long = "script-args", value_name = "ARGS")]
    pub script_args: Option<String>,

    /// Read script arguments from FILE (`name=value` per line or comma-separated).
    #[arg(long = "script-args-file", value_name = "FILE")]
    pub script_args_file: Option<std::path::PathBuf>,

    /// Stop any one script instance after this long (`30s`, `2m`).
    #[arg(long = "script-timeout", value_name = "TIME")]
    pub script_timeout: Option<String>,

    /// Print what these scripts do (same syntax as --script) and exit.
    #[arg(long = "script-help", value_name = "SCRIPTS")]
    pub script_help: Option<String>,

    /// Script instances running at once (each may hold sockets). Default 256.
    #[arg(long = "max-script-threads", value_name = "N", default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536))]
    pub max_script_threads: usize,

    /// Write one JSON object per finding, as found, to FILE (- for standard output). Written -oJ.
    #[arg(long = "output-json", value_name = "FILE")]
    pub output_json: Option<String>,

    /// Write nmap's normal output to FILE too. Written -oN.
    #[arg(long = "output-normal", value_name = "FILE")]
    pub output_normal: Option<String>,

    /// Write nmap's XML to FILE (- for standard output) at the end. Written -oX.
    #[arg(long = "output-xml", value_name = "FILE")]
    pub output_xml: Option<String>,

    /// Write nmap's grepable output to FILE (- for standard output) at the end. Written -oG.
    #[arg(long = "output-grepable", value_name = "FILE")]
    pub output_grepable: Option<String>,

    /// Write BASE.nmap, BASE.xml, BASE.gnmap and BASE.jsonl. Written -oA.
    #[arg(long = "output-all", value_name = "BASE")]
    pub output_all: Option<String>,

    /// Show only open ports (and hosts with some).
    #[arg(long)]
    pub open: bool,

    /// Show why each port has its state.
    #[arg(long)]
    pub reason: bool,

    /// Read each open port's SYN+ACK into its passive signature (p0f v3's format),
    /// match it against the SYN+ACK signature database, and show both in normal, XML
    /// and JSON output: what the port's stack says of itself in the reply the SYN scan
    /// already had, at no extra packet. The SYN probes then carry a client's options
    /// (MSS, SACK, timestamps, window scale) so that the reply shows the stack's own.
    #[arg(long = "synack-signatures")]
    pub synack_signatures: bool,

    /// Match SYN+ACK signatures against FILE (p0f v3's p0f.fp format, such as p0f's own
    /// /etc/p0f/p0f.fp; its [tcp:response] section) instead of the built-in database.
    #[arg(long = "synack-db", value_name = "FILE")]
    pub synack_db: Option<std::path::PathBuf>,

    /// Write CSV, one row per finding as found, to FILE (- for standard output). Written -oC.
    #[arg(long = "output-csv", value_name = "FILE")]
    pub output_csv: Option<String>,

    /// Write Parquet, one row per finding with typed columns, in row groups as found,
    /// to FILE (a file; DuckDB, pyarrow and Spark read it). Written -oP.
    #[arg(long = "output-parquet", value_name = "FILE")]
    pub output_parquet: Option<String>,

    /// Fields of the JSON and CSV output, in order: addr,port,proto,state,reason,ttl,time.
    #[arg(
        long = "output-fields",
        value_name = "LIST",
        default_value = "addr,port,proto,state,reason,ttl,time"
    )]
    pub output_fields: String,

    /// Send from this interface instead of the one the routing table picks.
    #[arg(short = 'e', value_name = "IFACE")]
    pub iface: Option<String>,

    /// Use this source address instead of the interface's.
    #[arg(short = 'S', value_name = "ADDR")]
    pub src_ip: Option<Ipv4Addr>,

    /// Packets per second (default: the timing template's, 100000 for -T3 and -T4).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: Option<u64>,

    /// Never send faster than this many packets per second (caps --rate).
    #[arg(long = "max-rate", value_name = "PPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rate: Option<u64>,

    /// Extra sends of an unanswered probe (default 2, 1 at -T5; 0 for sweeps, as
    /// masscan and ZMap). Also --max-retries.
    #[arg(long, alias = "max-retries", value_parser = clap::value_parser!(u8).range(0..=20))]
    pub retries: Option<u8>,

    /// Seconds to listen for late replies at the end (default 0.2; 1 for sweeps).
    #[arg(long)]
    pub wait: Option<f64>,

    /// Stateless sweep (masscan/ZMap style): random order, no per-probe state, open
    /// ports only. Chosen by itself above 1,048,576 probes.
    #[arg(long)]
    pub sweep: bool,

    /// Sweep only slice I of N (0 <= I < N); run N shards, same --seed, on N machines.
    /// `auto` or `auto/N`: I from the scheduler (Kubernetes' JOB_COMPLETION_INDEX,
    /// Slurm's SLURM_ARRAY_TASK_ID), N given or from SLURM_ARRAY_TASK_COUNT or
    /// SCANNER_SHARD_COUNT.
    #[arg(long, value_name = "I/N|auto[/N]")]
    pub shard: Option<String>,

    /// Sender threads for sweeps (one AF_XDP socket per transmit queue; at most one
    /// per CPU). Default: one per CPU, at most 8 (and for AF_XDP at most one per
    /// transmit queue).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub threads: Option<usize>,

    /// Leave these targets out (addresses, CIDR, ranges; comma-separated; repeatable).
    #[arg(long, value_name = "LIST")]
    pub exclude: Vec<String>,

    /// Leave out the targets listed in FILE (one or more per line, # comments).
    #[arg(long, value_name = "FILE")]
    pub excludefile: Option<std::path::PathBuf>,

    /// Let a sweep reach reserved and private ranges (RFC 6890: 10/8, 192.168/16,
    /// 198.18/15 ...), which the default blocklist keeps sweeps away from.
    #[arg(long = "allow-reserved-targets")]
    pub allow_reserved_targets: bool,

    /// Continue an interrupted scan: a sweep from the resume file it wrote, an
    /// nmap-style scan from its -oG log (the hosts in it are left out, the log grows).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<std::path::PathBuf>,

    /// Run the command a `--resume` log holds even when it names files outside the
    /// log's own folder (a log may have been written by anyone: check the command it
    /// prints first).
    #[arg(long = "resume-accept", requires = "resume")]
    pub resume_accept: bool,

    /// For schedulers that rerun the same command: continue the sweep from FILE's saved
    /// state if it holds one, else start it; an interrupted sweep (SIGTERM, Ctrl-C)
    /// writes its state there. The --resume and --resume-file of a retried task.
    #[arg(
        long = "resume-or-start",
        value_name = "FILE",
        conflicts_with_all = ["resume", "resume_file"]
    )]
    pub resume_or_start: Option<std::path::PathBuf>,

    /// Connections a sweep's version detection (`--sweep -sV`) holds at once (default:
    /// what the descriptor limit allows, raised to its hard limit, at most 4096).
    #[arg(long = "max-connections", value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections: Option<usize>,

    /// A sweep's metadata, written when it ends: seed, shard, targets, exclusions,
    /// counts, rates, times (JSON, as ZMap's --metadata-file).
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<String>,

    /// A sweep's progress, a CSV line every second (as ZMap's --status-updates-file).
    #[arg(long = "status-updates-file", value_name = "FILE")]
    pub status_updates_file: Option<String>,

    /// Where an interrupted sweep writes its resume file.
    #[arg(
        long = "resume-file",
        value_name = "FILE",
        default_value = "scanner-resume.json"
    )]
    pub resume_file: std::path::PathBuf,

    /// No progress line on stderr.
    #[arg(long = "no-progress")]
    pub no_progress: bool,

    /// Print a progress line this often (10s, 1m), on a terminal or not.
    #[arg(long = "stats-every", value_name = "TIME")]
    pub stats_every: Option<String>,

    /// How probes leave: afxdp, packet, or pcap. Left out: afxdp, falling back to
    /// packet with a message; a mode named here is used or the scan stops.
    #[arg(long = "send-mode", value_enum)]
    pub send_mode: Option<SendMode>,

    /// How replies come in: xdp, packet (AF_PACKET) or pcap (one libpcap handle, for
    /// systems without the others). Left out: xdp, falling back to packet with a
    /// message; a mode named here is used or the scan stops.
    #[arg(long = "recv-mode", value_enum)]
    pub recv_mode: Option<RecvMode>,

    /// Where the XDP classifier runs (auto, native, skb); naming one asks for the
    /// classifier, with no fallback.
    #[arg(long = "xdp-mode", value_enum)]
    pub xdp_mode: Option<AttachMode>,

    /// Source ports to send from, LO-HI.
    #[arg(long = "source-ports", default_value = "40000-59999")]
    pub source_ports: String,

    /// Make the probes reproducible (same cookies for the same seed).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Skip host discovery: treat every target as up. Written -Pn.
    #[arg(long = "no-ping")]
    pub no_ping: bool,

    /// No reverse DNS for the hosts found up. Written -n.
    #[arg(long = "no-dns")]
    pub no_dns: bool,

    /// Trace the way to each host found up once its ports are scanned, as nmap's
    /// --traceroute: the routers on the way, with round trips and (unless -n) names.
    #[arg(long)]
    pub traceroute: bool,

    /// Reverse DNS for hosts found up, sweeps included (by default sweeps skip it). Written -R.
    #[arg(long = "resolve-all", conflicts_with = "no_dns")]
    pub resolve_all: bool,

    /// Assume raw-packet rights even where the check says no (capabilities given some
    /// other way), as nmap's --privileged. Privileges are still dropped once open.
    #[arg(long, conflicts_with = "unprivileged")]
    pub privileged: bool,

    /// Act as a user without raw-packet rights even as root: connect scan, no XDP, as
    /// nmap's --unprivileged. Root is still dropped before anything runs.
    #[arg(long)]
    pub unprivileged: bool,

    /// The user to become once the sockets and the XDP classifier are open (a name,
    /// UID or UID:GID). Default: the user who ran sudo, else nobody.
    #[arg(long = "run-as", value_name = "USER")]
    pub run_as: Option<String>,

    /// More messages (counters at the end).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Debugging: every reply and each phase's timing (-dd: every silent probe too).
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    pub debug: u8,
}

/// Rewrites nmap-style flags clap cannot parse into long options:
/// `-sS` → `--scan-type=S`, `-p-` → `--ports=-`, `-p22` → `--ports=22`,
/// `-oJ F` → `--output-json F`, `-oN F` → `--output-normal F`, `-oC F` →
/// `--output-csv F`, `-oP F` → `--output-parquet F`, `-Pn` → `--no-ping`, `-PS22` → `--ping=S22`, `-T4` → `--timing=4`,
/// `-n` → `--no-dns`.
pub fn normalize_args<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_separator = false;
    for arg in args {
        if after_separator || !arg.starts_with('-') || arg.starts_with("--") {
            after_separator |= arg == "--";
            out.push(arg);
            continue;
        }
        let rewritten = match arg.as_str() {
            "-Pn" => "--no-ping".to_string(),
            _ if arg.starts_with("-P") && arg.len() > 2 => format!("--ping={}", &arg[2..]),
            _ if arg.starts_with("-T") && arg.len() > 2 => format!("--timing={}", &arg[2..]),
            "-n" => "--no-dns".to_string(),
            "-R" => "--resolve-all".to_string(),
            "-oJ" => "--output-json".to_string(),
            "-oN" => "--output-normal".to_string(),
            "-oC" => "--output-csv".to_string(),
            "-oP" => "--output-parquet".to_string(),
            "-iL" => "--input-list".to_string(),
            "-oX" => "--output-xml".to_string(),
            "-oG" => "--output-grepable".to_string(),
            "-oA" => "--output-all".to_string(),
            _ if arg.starts_with("-s") && arg.len() >= 3 => format!("--scan-type={}", &arg[2..]),
            _ if arg.starts_with("-p") && arg.len() > 2 => format!("--ports={}", &arg[2..]),
            _ => arg,
        };
        out.push(rewritten);
    }
    out
}

/// Parses `--source-ports LO-HI`: ascending, above the privileged ports.
pub fn parse_port_range(text: &str) -> anyhow::Result<(u16, u16)> {
    let wanted = || {
        anyhow::anyhow!("--source-ports {text}: wants LO-HI, two ports from 1024 to 65535, ascending, such as 40000-59999")
    };
    let (lo, hi) = text.split_once('-').ok_or_else(wanted)?;
    let (Ok(lo), Ok(hi)) = (lo.trim().parse::<u16>(), hi.trim().parse::<u16>()) else {
        return Err(wanted());
    };
    if lo > hi || lo < 1024 {
        return Err(wanted());
    }
    Ok((lo, hi))
}

/// A packet rate: a positive, finite number (fractions allowed: 0.5 is one every two
/// seconds).
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate: give packets per second, a number above 0 (0.5, 100, 10000)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Args {
        let argv =
            std::iter::once("scanner".to_string()).chain(line.split_whitespace().map(String::from));
        Args::try_parse_from(normalize_args(argv)).unwrap()
    }

    #[test]
    fn understands_nmap_flags() {
        let args = parse("-sS -p- -Pn -n -oJ - 198.18.0.10");
        assert_eq!(
            (args.scan_type.clone(), args.ports.as_deref()),
            (vec!["S".to_string()], Some("-"))
        );
        let pings = parse("-sn -PE -PS22,443 -PA -T4 --max-retries 3 198.18.0.0/24");
        assert_eq!(pings.scan_type, vec!["n"]);
        assert_eq!(pings.ping, vec!["E", "S22,443", "A"]);
        assert_eq!(
            (pings.timing.as_deref(), pings.retries),
            (Some("4"), Some(3))
        );
        assert_eq!(parse("-sS -sU x").scan_type, vec!["S", "U"]);
        assert_eq!(args.output_json.as_deref(), Some("-"));
        assert!(args.no_ping && args.no_dns);
        assert_eq!(args.targets, vec!["198.18.0.10"]);
        let args = parse("-p 22,80 -e eth0 -S 198.18.0.1 --send-mode packet 198.18.0.0/24");
        assert_eq!(args.ports.as_deref(), Some("22,80"));
        assert_eq!(args.iface.as_deref(), Some("eth0"));
        assert_eq!(args.send_mode, Some(SendMode::Packet));
        assert_eq!(
            parse("198.18.0.1").send_mode,
            None,
            "the default is resolved later"
        );
        assert_eq!(parse("-p80 198.18.0.1").ports.as_deref(), Some("80"));
        assert!(parse("-F 198.18.0.1").fast);
        assert_eq!(parse("--top-ports 10 198.18.0.1").top_ports, Some(10));
        assert!(Args::try_parse_from(normalize_args(
            ["scanner", "-F", "-p", "22", "x"].map(String::from)
        ))
        .is_err());
        let args = parse("-iL /tmp/targets");
        assert!(args.targets.is_empty() && args.input_list.is_some());
    }

    #[test]
    fn privilege_flags() {
        let args = parse("--unprivileged --run-as daemon 198.18.0.1");
        assert!(args.unprivileged && !args.privileged);
        assert_eq!(args.run_as.as_deref(), Some("daemon"));
        assert!(parse("--privileged 198.18.0.1").privileged);
        assert!(Args::try_parse_from(normalize_args(
            ["scanner", "--privileged", "--unprivileged", "x"].map(String::from)
        ))
        .is_err());
    }

    #[test]
    fn source_port_range() {
        assert_eq!(parse_port_range("40000-40010").unwrap(), (40000, 40010));
        for bad in [
            "40000",
            "50000-40000",
            "0-0",
            "80-90",
            "40000-70000",
            "a-b",
            "-",
        ] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }

    /// Whether `line` is refused by the parser itself.
    fn refused(line: &str) -> bool {
        let argv =
            std::iter::once("scanner".to_string()).chain(line.split_whitespace().map(String::from));
        Args::try_parse_from(normalize_args(argv)).is_err()
    }

    #[test]
    fn nonsense_numbers_are_refused() {
        for bad in [
            "--rate 0 x",
            "--rate -5 x",
            "--rate NaN x",
            "--max-rate 0 x",
            "--min-rate 0 x",
            "--min-rate -1 x",
            "--min-rate NaN x",
            "--min-rate inf x",
            "--min-rate 1e400 x",
            "--threads 0 x",
            "--max-script-threads 0 x",
            "--max-script-threads 1000000 x",
            "--max-hostgroup 0 x",
            "--max-retries 21 x",
            "--max-retries -1 x",
            "--version-intensity 300 x",
            "--version-intensity -1 x",
            "--max-parallelism 0 x",
            "--top-ports -1 x",
            "--rate=-5 x",
            "--min-rate=-1 x",
            "--max-retries=-1 x",
        ] {
            assert!(refused(bad), "{bad}");
        }
        for good in [
            "--min-rate 0.5 x",
            "--rate 1 x",
            "--threads 2 x",
            "--seed 18446744073709551615 x",
        ] {
            assert!(!refused(good), "{good}");
        }
    }
}
