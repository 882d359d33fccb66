//! `cargo xtask os-capture`: the fixtures of the OS-detection unit tests. For each lab
//! host that OS detection can fingerprint (an open and a closed TCP port), `nmap -O -d`
//! is run on it from the scanner namespace while tcpdump, on the switch port of the
//! scanner, writes every packet between the two to a pcap. The pcap (nmap's probes and
//! the host's replies, with the TTLs the scanner saw) and nmap's normal output (its
//! printed fingerprint and matches) go to `tests/fixtures/os/`, where the unit tests
//! compute the fingerprint from the replies and compare it with nmap's.
//!
//! The lab must be up (`cargo xtask lab up`); nothing leaves it.

use crate::lab;
use crate::shell::output;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The hosts captured: each stack the lab has (Linux on the segment, the TTL-128 host
/// without timestamps or window scaling, a host behind the router).
pub const HOSTS: [&str; 4] = ["web", "svc", "win", "far"];

/// Where the fixtures go.
pub fn fixtures_dir() -> PathBuf {
    crate::workspace_root().join("tests/fixtures/os")
}

/// Captures every host of [`HOSTS`].
pub fn run() -> Result<()> {
    if !lab::is_up() {
        bail!("the lab is down: bring it up first (cargo xtask lab up)");
    }
    let dir = fixtures_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in HOSTS {
        let host = lab::host(name);
        capture_host(&dir, name, &host.addr.to_string())?;
        println!("captured {name} ({})", host.addr);
    }
    Ok(())
}

/// Runs `nmap -O` on `addr` under tcpdump; writes NAME.pcap and NAME.nmap.txt.
fn capture_host(dir: &Path, name: &str, addr: &str) -> Result<()> {
    let pcap = dir.join(format!("{name}.pcap"));
    let mut tcpdump = Command::new("ip")
        .args([
            "netns",
            "exec",
            "lab-switch",
            "tcpdump",
            "-i",
            "s-scanner",
            "-U",
            "-w",
        ])
        .arg(&pcap)
        .args(["host", addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting tcpdump (cargo xtask setup installs it)")?;
    std::thread::sleep(Duration::from_millis(700));
    let nmap = output(
        "ip",
        &[
            "netns",
            "exec",
            lab::SCANNER_NS,
            "nmap",
            "-O",
            "-n",
            "-d",
            "-p",
            "1,22,80",
            "--max-os-tries",
            "1",
            addr,
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on our own child (`ip netns exec` execs tcpdump).
    unsafe { libc::kill(tcpdump.id() as i32, libc::SIGINT) };
    let _ = tcpdump.wait();
    let text = nmap?;
    if !text.contains("TCP/IP fingerprint:") {
        bail!("nmap printed no fingerprint for {addr}:\n{text}");
    }
    std::fs::write(dir.join(format!("{name}.nmap.txt")), text)?;
    Ok(())
}
