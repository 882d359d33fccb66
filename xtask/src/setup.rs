//! `cargo xtask setup`: installs what a fresh machine of this kind (Debian 12, root,
//! stable + nightly Rust from rustup) lacks to build, run and test the scanner.
//! Every step checks first, so a second run takes seconds.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use xtask::shell;

/// Debian packages: the AF_XDP build (clang-19, llvm-19, libelf, m4, pkg-config, zlib),
/// libpcap, the lab's tools and daemons, the peers (nmap, masscan, zmap), and what
/// the tests and benchmarks measure with (tcpdump, GNU time), and the oracles of the
/// raw-packet scripts (p0f for SYN+ACK signatures, iputils' ping -R for record route),
/// MinGW's C compiler, with which the portable build is checked for Windows, and
/// Python's venv, for the Kubernetes manifests' validator, and Slurm with munge, for
/// the lab's cluster (`cargo xtask cluster`).
const APT_PACKAGES: &[&str] = &[
    "clang-19",
    "llvm-19",
    "libelf-dev",
    "m4",
    "pkg-config",
    "zlib1g-dev",
    "libpcap-dev",
    "iproute2",
    "ethtool",
    "iptables",
    "openssl",
    "nmap",
    "ndiff",
    "masscan",
    "zmap",
    "openssh-server",
    "nginx-light",
    "vsftpd",
    "redis-server",
    "memcached",
    "dnsmasq-base",
    "snmpd",
    "libxml2-utils",
    "tcpdump",
    "time",
    "p0f",
    "iputils-ping",
    "gcc-mingw-w64-x86-64",
    "python3-venv",
    "slurm-wlm",
    "munge",
];

/// The Python tools the tests use, from PyPI, in a venv of their own: the validator of
/// the Kubernetes manifests (`deploy/kubernetes`; it carries the schemas of every
/// Kubernetes release up to its own version), and DuckDB and pyarrow, which read the
/// Parquet output back.
const PYTHON_TOOLS: &[&str] = &[
    "kubernetes-validate==1.37.0",
    "duckdb==2.0.1",
    "pyarrow==26.0.1",
];

/// The systems the portable build is compiled for by `cargo xtask test` (checked, not
/// linked: no Npcap or FreeBSD libc is here), each with the C compiler that builds
/// the C parts of its dependencies (Lua, PCRE2, ring): MinGW for Windows; for
/// FreeBSD the host's gcc, whose objects are only there for the check to proceed.
pub const PORTABLE_CHECK_TARGETS: &[(&str, &str)] = &[
    ("x86_64-pc-windows-gnu", "x86_64-w64-mingw32-gcc"),
    ("x86_64-unknown-freebsd", "gcc"),
];

const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn run() -> Result<()> {
    install_apt_packages()?;
    ensure_ebpf_toolchain()?;
    ensure_portable_check_targets()?;
    ensure_python_tools()
}

/// [`PYTHON_TOOLS`] in their venv, made with Debian's Python (whatever else is first
/// on PATH).
fn ensure_python_tools() -> Result<()> {
    let venv = xtask::setup_cache_dir().join("venv");
    let stamp = venv.join("scanner-setup.stamp");
    let wanted = PYTHON_TOOLS.join(" ");
    if xtask::tools_python().exists()
        && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
    {
        return Ok(());
    }
    println!(
        "==> python3 -m venv {} && pip install {wanted}",
        venv.display()
    );
    let venv_text = venv
        .to_str()
        .context("the cache folder's path is not UTF-8")?;
    shell::run("/usr/bin/python3", &["-m", "venv", venv_text])?;
    let pip = venv.join("bin/pip");
    shell::run_visible(Command::new(pip).args(["install", "-q"]).args(PYTHON_TOOLS))
        .context("installing the tests' Python tools (needs PyPI)")?;
    std::fs::write(stamp, wanted)?;
    Ok(())
}

/// The Rust standard library of each of [`PORTABLE_CHECK_TARGETS`], from rustup.
fn ensure_portable_check_targets() -> Result<()> {
    let installed = shell::output("rustup", &["target", "list", "--installed"])?;
    for (target, _) in PORTABLE_CHECK_TARGETS {
        if installed.lines().any(|t| t.trim() == *target) {
            continue;
        }
        println!("==> rustup target add {target}");
        shell::run("rustup", &["target", "add", target]).with_context(|| {
            format!("adding the {target} target (needs rustup's download server)")
        })?;
    }
    Ok(())
}

fn install_apt_packages() -> Result<()> {
    let mut packages = APT_PACKAGES.to_vec();
    packages.extend(xtask::lab::coverage::packages());
    xtask::apt::install_missing(&packages)?;
    for (folder, unpack) in xtask::lab::coverage::unpacked() {
        xtask::apt::unpack(unpack, &folder)?;
    }
    Ok(())
}

/// The nightly's rust-src and a bpf-linker built against the nightly's own LLVM.
pub fn ensure_ebpf_toolchain() -> Result<()> {
    let nightly = shell::output("rustc", &["+nightly", "--version"])
        .context("the nightly toolchain is missing: the eBPF crate needs it (rustup toolchain install nightly)")?;
    let components = shell::output(
        "rustup",
        &["component", "list", "--toolchain", "nightly", "--installed"],
    )?;
    if !components.lines().any(|l| l.starts_with("rust-src")) {
        println!("==> rustup component add rust-src --toolchain nightly");
        shell::run(
            "rustup",
            &["component", "add", "rust-src", "--toolchain", "nightly"],
        )?;
    }
    let stamp = xtask::setup_cache_dir().join("bpf-linker.stamp");
    let wanted = format!("bpf-linker {BPF_LINKER_VERSION} for {}", nightly.trim());
    let linker_runs = shell::capture("bpf-linker", &["--version"])
        .map(|o| o.status.success())
        .unwrap_or(false);
    if linker_runs && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    build_bpf_linker(&wanted, &stamp)
}

/// bpf-linker has no prebuilt binary reachable here and Debian's LLVM is too old, so
/// it is built against the libLLVM the nightly ships (shared/NOTES.md).
fn build_bpf_linker(wanted: &str, stamp: &std::path::Path) -> Result<()> {
    let sysroot = shell::output("rustc", &["+nightly", "--print", "sysroot"])?;
    let nightly_lib = PathBuf::from(sysroot.trim()).join("lib");
    let libllvm = std::fs::read_dir(&nightly_lib)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("libLLVM.so.") && !p.is_symlink()
        })
        .with_context(|| format!("no libLLVM.so.* in {}", nightly_lib.display()))?;
    let soname = libllvm.file_name().unwrap().to_str().unwrap().to_string();
    let major = soname
        .trim_start_matches("libLLVM.so.")
        .split('.')
        .next()
        .context("cannot read LLVM's version from its file name")?
        .to_string();
    let prefix = xtask::setup_cache_dir().join("llvm");
    let lib = prefix.join("lib");
    std::fs::create_dir_all(&lib)?;
    for name in ["libLLVM.so", soname.as_str()] {
        let link = lib.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&libllvm, &link)?;
    }
    println!("==> building bpf-linker {BPF_LINKER_VERSION} against the nightly's LLVM {major} (about a minute)");
    let status = Command::new("cargo")
        .args([
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
            "--force",
        ])
        .args([
            "--no-default-features",
            "--features",
            &format!("llvm-{major}"),
        ])
        .env("LLVM_PREFIX", &prefix)
        .status()
        .context("could not run cargo install")?;
    if !status.success() {
        bail!("building bpf-linker failed ({status})");
    }
    std::fs::write(stamp, wanted)?;
    Ok(())
}
