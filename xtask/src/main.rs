//! `cargo xtask`: everything that is not plain cargo — machine setup, the eBPF build,
//! running the scanner in the lab, the lab itself, the demo and the full test run, and
//! the service database's linter.

mod setup;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;
use xtask::{lab, shell, workspace_root};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Development tasks for the scanner")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what a fresh machine lacks: apt packages, the nightly's rust-src,
    /// bpf-linker built against the nightly's LLVM. Idempotent; seconds when done.
    Setup,
    /// Build the XDP classifier alone (the scanner's build embeds it anyway).
    BuildEbpf,
    /// Build the scanner (release).
    Build,
    /// Build and run the scanner; with --lab, inside the lab's scanner namespace.
    Run {
        #[arg(long)]
        lab: bool,
        /// Arguments for the scanner.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Manage the lab of network namespaces.
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
    /// A Slurm cluster on the lab (machines of their own on its segment, each with a
    /// slurmd), and sweeps run on it as job arrays.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Set up, bring the lab up, scan it with version detection, and print the
    /// results next to the truth.
    Demo,
    /// Set up, bring the lab up, and run every test (unit and lab integration).
    Test,
    /// Build what a user installs into target/dist/: a .deb and a tarball (the binary,
    /// its data files, a manual page, shell completions).
    Dist,
    /// Serve the lab's hostile services (the lab starts this in its hostile host).
    #[command(hide = true)]
    HostileServices,
    /// Answer UDP on every address (the lab starts this in its sweep host).
    #[command(hide = true)]
    AnyAddressUdp,
    /// Capture the OS-detection fixtures: nmap -O of lab hosts under tcpdump, into
    /// tests/fixtures/os/ (the lab must be up).
    OsCapture,
    /// Check a service probe database (nmap-service-probes format): every line parses
    /// and every pattern compiles, templates use only groups their patterns have, and
    /// every match line names at least one recorded answer; warn of probes without
    /// match lines, probe names used twice, fallbacks to no probe, port 0.
    LintDb {
        /// The database [default: fingerprints/service-probes].
        path: Option<PathBuf>,
        /// The recorded answers [default: fingerprints/service-answers].
        #[arg(long)]
        answers: Option<PathBuf>,
    },
    /// Benchmarks: the scanner next to its peers on the lab, in one run.
    Bench {
        #[command(subcommand)]
        which: BenchKind,
    },
}

#[derive(Subcommand)]
enum BenchKind {
    /// Sweeps next to masscan and zmap: send rate, accuracy at speed, memory and CPU,
    /// and the send rate of each probe module's sweep next to the SYN sweep's.
    Sweep,
    /// Only the probe modules' send rates (UDP, ACK, ICMP echo next to SYN), on the
    /// lab as it is: bring it up first (`cargo xtask lab up`).
    SweepModules,
    /// nmap-style scans next to nmap -T4 with the same flags: -sn, -sS -p-, -sU.
    Nmap,
    /// -sV of the lab's open ports next to nmap -sV: time, memory, answers per port.
    Version {
        /// Instead, the coverage lab's daemons (brought up and down here): the own
        /// database next to nmap's database and to nmap -sV, time and agreement.
        #[arg(long)]
        coverage: bool,
    },
    /// Raw-packet dispatch to N script waiters next to a libpcap filter per waiter;
    /// -sV -sC next to nmap's.
    Scripts,
    /// -sS -sV -sC --traceroute of the lab next to nmap with the same flags and
    /// databases: time ratio, findings, and every difference ndiff finds. Uses the lab
    /// as it is when it is up (and leaves it up).
    Pipeline,
    /// -O of the lab's hosts next to nmap -O (with nmap's database and the built-in
    /// one): time ratio, best matches, test values that differ; then -A next to nmap
    /// -A. Uses the lab as it is when it is up.
    Os,
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Build the cluster on the lab (which must be up): `nodes` machines.
    Up {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
    /// Remove the cluster (the lab stays).
    Down,
    /// Sweep the catch-all range as a job array of `shards` tasks and report each
    /// shard (the cluster must be up).
    Sweep {
        #[arg(long, default_value_t = 3)]
        shards: usize,
    },
}

#[derive(Subcommand)]
enum LabAction {
    /// Build the lab from scratch (removes leftovers first).
    Up {
        /// Also start the coverage lab: common daemons the main lab does not run,
        /// each in a namespace of its own (for the own service database's coverage).
        #[arg(long)]
        coverage: bool,
    },
    /// Remove every lab namespace and daemon.
    Down,
    /// Print the hosts, addresses and services.
    Status,
    /// Drop this percentage of packets at random in every target host (0 turns it off).
    Loss { percent: f64 },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.task {
        Task::Setup => setup::run(),
        Task::BuildEbpf => build_ebpf(),
        Task::Build => build_scanner().map(|_| ()),
        Task::Run { lab: in_lab, args } => run_scanner(in_lab, &args),
        Task::Lab { action } => match action {
            LabAction::Up { coverage } => {
                require_root("the lab")?;
                lab::build::up()?;
                if coverage {
                    lab::coverage::up()?;
                }
                lab::build::status()
            }
            LabAction::Down => lab::build::down(),
            LabAction::Status => lab::build::status(),
            LabAction::Loss { percent } => lab::build::set_loss(percent / 100.0),
        },
        Task::Cluster { action } => {
            require_root("the cluster")?;
            match action {
                ClusterAction::Up { nodes } => xtask::cluster::up(nodes),
                ClusterAction::Down => xtask::cluster::down(),
                ClusterAction::Sweep { shards } => {
                    xtask::cluster::sweep_and_report(shards, &build_scanner()?)
                }
            }
        }
        Task::HostileServices => lab::hostile::serve(),
        Task::AnyAddressUdp => lab::any_address_udp::serve(),
        Task::OsCapture => xtask::os_capture::run(),
        Task::LintDb { path, answers } => lint_db(path.as_deref(), answers.as_deref()),
        Task::Demo => demo(),
        Task::Test => test(),
        Task::Dist => xtask::dist::package(&build_scanner()?).map(|_| ()),
        Task::Bench {
            which: BenchKind::Sweep,
        } => bench_sweep(),
        Task::Bench {
            which: BenchKind::SweepModules,
        } => bench_sweep_modules(),
        Task::Bench {
            which: BenchKind::Nmap,
        } => bench_nmap(),
        Task::Bench {
            which: BenchKind::Version { coverage: false },
        } => bench_version(),
        Task::Bench {
            which: BenchKind::Version { coverage: true },
        } => bench_in_lab(false, xtask::bench_version::version_coverage),
        Task::Bench {
            which: BenchKind::Scripts,
        } => bench_scripts(),
        Task::Bench {
            which: BenchKind::Pipeline,
        } => bench_in_lab(true, xtask::bench_pipeline::run),
        Task::Bench {
            which: BenchKind::Os,
        } => bench_in_lab(true, xtask::bench_os::run_bench),
    }
}

#[cfg(feature = "lint-db")]
fn lint_db(path: Option<&Path>, answers: Option<&Path>) -> Result<()> {
    xtask::lint_db::run(path, answers)
}

/// `cargo xtask` builds without the linter (see xtask/Cargo.toml): run the build that
/// has it, from the directory the paths are relative to.
#[cfg(not(feature = "lint-db"))]
fn lint_db(path: Option<&Path>, answers: Option<&Path>) -> Result<()> {
    let mut cmd = cargo();
    cmd.current_dir(std::env::current_dir()?)
        .args(["run", "--quiet", "--release", "--package", "xtask"])
        .args(["--", "lint-db"])
        .args(path);
    if let Some(answers) = answers {
        cmd.arg("--answers").arg(answers);
    }
    let status = cmd.status().context("could not start cargo")?;
    std::process::exit(status.code().unwrap_or(1));
}

fn require_root(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("{what} needs root (network namespaces, XDP): run as root");
    }
    Ok(())
}

/// A cargo command in the workspace root, without the variables `cargo run` set about
/// xtask itself (`CARGO_PKG_NAME=xtask`, `CARGO_MANIFEST_DIR`, ...): build scripts that
/// watch them (ring's) would otherwise run again, and a build from xtask and a plain
/// `cargo build` would each rebuild, for minutes, what the other built.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Whether `cargo run` (and `cargo test`) sets variable `name` for what it runs.
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

fn build_ebpf() -> Result<()> {
    setup::ensure_ebpf_toolchain()?;
    let target_dir = workspace_root().join("target/ebpf");
    let mut cmd = Command::new("rustup");
    cmd.current_dir(workspace_root())
        .args([
            "run",
            "nightly",
            "cargo",
            "build",
            "--package",
            "scanner-ebpf",
            "-Z",
            "build-std=core",
        ])
        .args([
            "--bins",
            "--release",
            "--target",
            "bpfel-unknown-none",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            [
                "--cfg=bpf_target_arch=\"x86_64\"",
                "-Cdebuginfo=2",
                "-Clink-arg=--btf",
            ]
            .join("\x1f"),
        );
    shell::run_visible(&mut cmd)?;
    println!(
        "{}",
        target_dir
            .join("bpfel-unknown-none/release/scanner")
            .display()
    );
    Ok(())
}

/// Builds the release scanner and returns the binary's path.
fn build_scanner() -> Result<std::path::PathBuf> {
    setup::ensure_ebpf_toolchain()?;
    build_release_binary(&[])?;
    Ok(workspace_root().join("target/release/scanner"))
}

/// `cargo build --release` of the scanner binary, with `extra` arguments.
fn build_release_binary(extra: &[&str]) -> Result<()> {
    shell::run_visible(
        cargo()
            .args([
                "build",
                "--release",
                "--package",
                "scanner",
                "--bin",
                "scanner",
            ])
            .args(extra),
    )
}

/// Builds the portable configuration (no `xdp` feature: libpcap only, no eBPF) and
/// puts it at `target/portable/release/scanner`, where the lab's `portable` test finds
/// it, and checks that it compiles for Windows and FreeBSD
/// (`setup::PORTABLE_CHECK_TARGETS`).
///
/// It is built in the workspace's own target folder, so it reuses the dependencies the
/// full build compiled (a folder of its own rebuilt them all: minutes on CI's two
/// cores); building the full configuration again afterwards, which compiles nothing,
/// puts the full binary back at `target/release/scanner`.
fn build_portable() -> Result<()> {
    build_release_binary(&["--no-default-features"])?;
    let root = workspace_root();
    let portable = root.join("target/portable/release/scanner");
    std::fs::create_dir_all(portable.parent().expect("a path with folders"))?;
    // Removed first: a running copy (a test's) keeps its file, the new one is a new file.
    let _ = std::fs::remove_file(&portable);
    std::fs::copy(root.join("target/release/scanner"), &portable).with_context(|| {
        format!(
            "could not copy the portable build to {}",
            portable.display()
        )
    })?;
    build_release_binary(&[])?;
    for (target, c_compiler) in setup::PORTABLE_CHECK_TARGETS {
        let cc_variable = format!("CC_{}", target.replace('-', "_"));
        shell::run_visible(
            cargo()
                .args(["check", "--package", "scanner", "--no-default-features"])
                .args(["--target", target])
                .env(cc_variable, c_compiler),
        )
        .with_context(|| format!("the portable build does not compile for {target}"))?;
    }
    Ok(())
}

fn run_scanner(in_lab: bool, args: &[String]) -> Result<()> {
    let binary = build_scanner()?;
    let mut cmd = if in_lab {
        if !lab::is_up() {
            bail!("the lab is down: run `cargo xtask lab up` first");
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", lab::SCANNER_NS]).arg(&binary);
        cmd
    } else {
        Command::new(&binary)
    };
    cmd.args(args);
    let status = cmd.status().context("could not start the scanner")?;
    std::process::exit(status.code().unwrap_or(1));
}

fn demo() -> Result<()> {
    require_root("the demo")?;
    setup::run()?;
    let binary = build_scanner()?;
    println!("==> bringing the lab up");
    lab::build::up()?;
    lab::build::status()?;
    let ports = lab::standard_scan_ports();
    let mut targets: Vec<String> = lab::hosts().iter().map(|h| h.addr.to_string()).collect();
    targets.sort();
    println!("\n==> scanner -sSV -p {ports} {}", targets.join(" "));
    let started = std::time::Instant::now();
    let output = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(&binary)
        .args(["-sSV", "-p", &ports, "-oJ", "/run/scanner-lab/demo.jsonl"])
        .args(&targets)
        .status()
        .context("could not start the scanner")?;
    let elapsed = started.elapsed();
    if !output.success() {
        bail!("the scan failed ({output})");
    }
    let findings = std::fs::read_to_string("/run/scanner-lab/demo.jsonl")?;
    let expected = lab::truth::truth(&targets, &ports);
    let mismatches = lab::truth::differences(&expected, &lab::truth::parse_findings(&findings)?);
    let misnamed = lab::truth::service_differences(&findings)?;
    println!("\n==> scan took {:.2} s", elapsed.as_secs_f64());
    if mismatches.is_empty() && misnamed.is_empty() {
        println!(
            "==> all {} (host, port) states match the lab's truth, and every open TCP port's service is named as expected",
            expected.len()
        );
        Ok(())
    } else {
        for line in mismatches.iter().chain(&misnamed) {
            println!("MISMATCH {line}");
        }
        bail!(
            "{} ports differ from the lab's truth, {} services are misnamed",
            mismatches.len(),
            misnamed.len()
        )
    }
}

fn bench_sweep() -> Result<()> {
    require_root("the benchmarks")?;
    setup::run()?;
    let scanner = build_scanner()?;
    let xdp_drop = build_lab_tool("lab-xdp-drop")?;
    lab::build::up()?;
    let bench = xtask::bench::Bench {
        scanner,
        xdp_drop,
        out_dir: workspace_root().join("target/bench"),
    };
    let result = xtask::bench::sweep(&bench);
    lab::build::down()?;
    result
}

fn bench_sweep_modules() -> Result<()> {
    require_root("the benchmarks")?;
    let bench = xtask::bench::Bench {
        scanner: build_scanner()?,
        xdp_drop: build_lab_tool("lab-xdp-drop")?,
        out_dir: workspace_root().join("target/bench"),
    };
    xtask::bench::sweep_modules(&bench)
}

/// Builds one of the lab's helper binaries (`tests/src/bin`) in release mode, after
/// setup (they may link system libraries that setup installs), and returns its path.
fn build_lab_tool(name: &str) -> Result<std::path::PathBuf> {
    shell::run_visible(cargo().args([
        "build",
        "--release",
        "--package",
        "lab-tests",
        "--bin",
        name,
    ]))?;
    Ok(workspace_root().join("target/release").join(name))
}

fn bench_scripts() -> Result<()> {
    require_root("the benchmarks")?;
    setup::run()?;
    build_lab_tool(xtask::bench_scripts::PCAP_DISPATCH_BIN)?;
    bench_in_lab(false, xtask::bench_scripts::run)
}

fn bench_nmap() -> Result<()> {
    bench_in_lab(false, xtask::bench_nmap::nmap)
}

fn bench_version() -> Result<()> {
    bench_in_lab(false, xtask::bench_version::version)
}

/// Sets up, builds the scanner, brings the lab up, runs `bench` with the scanner's
/// path, and takes the lab down; with `reuse`, a lab that is up already is used as it
/// is and left up.
fn bench_in_lab(reuse: bool, bench: impl FnOnce(&std::path::Path) -> Result<()>) -> Result<()> {
    require_root("the benchmarks")?;
    setup::run()?;
    let scanner = build_scanner()?;
    if reuse && lab::is_up() {
        println!("==> the lab is up: using it as it is (it stays up)");
        return bench(&scanner);
    }
    lab::build::up()?;
    let result = bench(&scanner);
    lab::build::down()?;
    result
}

fn test() -> Result<()> {
    require_root("the lab tests")?;
    setup::run()?;
    build_scanner()?;
    build_portable()?;
    lab::build::up()?;
    // One test at a time: the lab tests share the scanner namespace and its XDP hook.
    let result = shell::run_visible(cargo().args([
        "test",
        "--workspace",
        "--exclude",
        "scanner-ebpf",
        "--release",
        "--no-fail-fast",
        "--",
        "--include-ignored",
        "--test-threads=1",
    ]));
    lab::build::down()?;
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn cargo_runs_without_the_variables_about_xtask_itself() {
        // `cargo test` sets them for this test as `cargo run` does for xtask.
        assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
        let removed: Vec<String> = super::cargo()
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
        ] {
            assert!(removed.iter().any(|r| r == name), "{name}");
        }
        assert!(!super::set_by_cargo_run("CARGO_HOME"));
        assert!(!super::set_by_cargo_run("CARGO_TARGET_DIR"));
    }
}
