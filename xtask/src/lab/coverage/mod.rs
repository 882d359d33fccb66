//! The coverage lab: common server daemons from Debian's packages that the main lab
//! does not run, each in a namespace of its own on the lab segment, so that version
//! detection with the project's own database can be checked against nmap's database
//! on what users meet (`cargo xtask lab up --coverage`; the `coverage` test).
//!
//! It is kept apart from the main lab so that the main lab stays fast: `lab up`
//! alone starts none of it. Each daemon listens on its usual ports and, through a
//! `REDIRECT` in its namespace, on an unusual one as well ([`unusual_port`]), where
//! only what it answers can name it. Everything it makes (namespaces, processes,
//! folders) is recorded as the lab records what it makes, so `lab down` removes
//! exactly it.
//!
//! The daemons run from their installed packages with configurations of our own,
//! written into a folder per daemon under [`COVERAGE_DIR`]: nothing under /etc is
//! changed. [`SERVICES`] is the one place that says what runs where.

use super::build::add_machine;
use super::daemons::ports_still_unbound_after;
use super::record::Made;
use crate::shell::in_ns;
use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod compare;
mod services;
pub use services::SERVICES;

/// Where the coverage lab keeps each daemon's folder, and its record.
pub const COVERAGE_DIR: &str = "/run/scanner-lab/coverage";
/// The first daemon's address on the lab segment; daemon I is at .100+I.
const FIRST_ADDR: u8 = 100;
/// Where `cargo xtask setup` unpacks the packages that cannot be installed beside the
/// main lab's (installing chrony would remove systemd-timesyncd, proftpd vsftpd): into
/// a folder per daemon, with `apt-get download` and `dpkg -x` (no maintainer scripts).
pub const UNPACKED_DIR: &str = "/var/lib/scanner-lab/unpacked";
/// How long a daemon may take to listen on all its ports.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One daemon of the coverage lab.
#[derive(Clone, Copy, Debug)]
pub struct CoverageService {
    /// Short name: its namespace is `lab-cov-NAME`, its folder `COVERAGE_DIR/NAME`.
    pub name: &'static str,
    /// The Debian packages it runs from (installed by `cargo xtask setup`).
    pub packages: &'static [&'static str],
    /// Debian packages `cargo xtask setup` unpacks into `UNPACKED_DIR/NAME` (`{unpacked}`)
    /// rather than installs, because installing them would remove a package the main
    /// lab needs.
    pub unpack: &'static [&'static str],
    /// Files written into its folder before it starts: (file name, contents), where
    /// `{dir}` stands for the folder, `{addr}` for its address, `{addr:NAME}` for the
    /// address of daemon NAME and `{unpacked}` for the folder of its unpacked packages.
    pub files: &'static [(&'static str, &'static str)],
    /// A shell script run in its namespace before it starts (same placeholders).
    pub prepare: &'static str,
    /// The shell command that runs it in the foreground (same placeholders); its
    /// output goes to `log` in its folder.
    pub start: &'static str,
    pub tcp: &'static [u16],
    pub udp: &'static [u16],
}

/// Where `port` of a daemon is reachable as well: the same daemon on a port no
/// service is known by, so only what it answers names it.
pub fn unusual_port(port: u16) -> u16 {
    assert!(port < 15000, "coverage ports stay below 15000 (got {port})");
    50000 + port
}

/// The namespace, bridge port and address of the daemon at `index` of [`SERVICES`].
pub fn machine(index: usize) -> (String, String, Ipv4Addr) {
    let service = &SERVICES[index];
    (
        format!("lab-cov-{}", service.name),
        format!("s-cov{index}"),
        Ipv4Addr::new(198, 18, 0, FIRST_ADDR + index as u8),
    )
}

/// Every Debian package the coverage lab runs from.
pub fn packages() -> Vec<&'static str> {
    let mut all: Vec<&str> = SERVICES.iter().flat_map(|s| s.packages).copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

fn dir() -> PathBuf {
    PathBuf::from(COVERAGE_DIR)
}

fn record_path() -> PathBuf {
    dir().join("coverage.record")
}

/// Whether the coverage lab is up.
pub fn is_up() -> bool {
    record_path().exists()
}

/// Starts every daemon of [`SERVICES`] on the lab (which must be up), each on its
/// usual and its unusual ports, and waits until each listens.
pub fn up() -> Result<()> {
    if !super::is_up() {
        bail!("the lab is down: run `cargo xtask lab up --coverage`");
    }
    let missing: Vec<&str> = packages()
        .into_iter()
        .filter(|p| !crate::apt::is_installed(p))
        .collect();
    let not_unpacked: Vec<&str> = SERVICES
        .iter()
        .filter(|s| !s.unpack.is_empty() && !crate::apt::is_unpacked(&unpacked_dir(s)))
        .map(|s| s.name)
        .collect();
    if !missing.is_empty() || !not_unpacked.is_empty() {
        bail!(
            "the coverage lab's packages are missing ({}): run `cargo xtask setup`",
            missing
                .iter()
                .chain(&not_unpacked)
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    down()?;
    let mut made = Made::start(&record_path())?;
    for (index, service) in SERVICES.iter().enumerate() {
        let (ns, port, addr) = machine(index);
        add_machine(&ns, &port, addr, true, &mut made)?;
        let folder = dir().join(service.name);
        std::fs::create_dir_all(&folder)?;
        start(service, &ns, &folder, addr).with_context(|| {
            format!(
                "starting {} (its log: {}/log)",
                service.name,
                folder.display()
            )
        })?;
    }
    made.processes_now()?;
    for (index, service) in SERVICES.iter().enumerate() {
        let (ns, _, _) = machine(index);
        wait_until_listening(service, &ns, &dir().join(service.name))?;
        redirect_unusual_ports(service, &ns)?;
    }
    Ok(())
}

/// Removes the coverage lab (its daemons, namespaces and folders), if it is up.
pub fn down() -> Result<()> {
    super::build::remove_recorded(&record_path())
}

/// Prints each daemon's namespace, address and ports (for `lab status`).
pub fn status() {
    for (index, service) in SERVICES.iter().enumerate() {
        let (ns, _, addr) = machine(index);
        let list = |ports: &[u16]| {
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        println!(
            "{:<8} {:<13} {:<15} tcp [{}] udp [{}]  ({})",
            service.name,
            ns,
            addr.to_string(),
            list(service.tcp),
            list(service.udp),
            service.packages.join(", ")
        );
    }
}

/// The packages `cargo xtask setup` unpacks, with the folder each daemon's go into.
pub fn unpacked() -> Vec<(PathBuf, &'static [&'static str])> {
    SERVICES
        .iter()
        .filter(|s| !s.unpack.is_empty())
        .map(|s| (unpacked_dir(s), s.unpack))
        .collect()
}

fn unpacked_dir(service: &CoverageService) -> PathBuf {
    Path::new(UNPACKED_DIR).join(service.name)
}

/// `text` of `service` with its placeholders filled in (see [`CoverageService::files`]).
fn fill(text: &str, service: &CoverageService, folder: &Path, addr: Ipv4Addr) -> String {
    let mut text = text
        .replace("{dir}", &folder.display().to_string())
        .replace("{unpacked}", &unpacked_dir(service).display().to_string());
    for (index, other) in SERVICES.iter().enumerate() {
        let placeholder = format!("{{addr:{}}}", other.name);
        text = text.replace(&placeholder, &machine(index).2.to_string());
    }
    text.replace("{addr}", &addr.to_string())
}

/// Writes the daemon's files, runs its preparation and starts it, detached.
fn start(service: &CoverageService, ns: &str, folder: &Path, addr: Ipv4Addr) -> Result<()> {
    for (name, contents) in service.files {
        let path = folder.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, fill(contents, service, folder, addr))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !service.prepare.is_empty() {
        in_ns(
            ns,
            &["sh", "-ec", &fill(service.prepare, service, folder, addr)],
        )
        .context("preparing it")?;
    }
    let log = folder.join("log");
    let command = format!(
        "exec {} >{} 2>&1 </dev/null",
        fill(service.start, service, folder, addr),
        log.display()
    );
    crate::shell::start_daemon_in_ns(ns, &["setsid", "-f", "sh", "-c", &command])
}

fn wait_until_listening(service: &CoverageService, ns: &str, folder: &Path) -> Result<()> {
    let missing = ports_still_unbound_after(ns, service.tcp, service.udp, READY_WITHIN)?;
    if missing.is_empty() {
        return Ok(());
    }
    let log = folder.join("log");
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let last: Vec<&str> = said.lines().rev().take(20).collect();
    bail!(
        "{} never listened on {} within {:?}; the end of its log ({}):\n{}",
        service.name,
        missing.join(", "),
        READY_WITHIN,
        log.display(),
        last.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// Makes each port reachable on its [`unusual_port`] too (nat `REDIRECT`).
fn redirect_unusual_ports(service: &CoverageService, ns: &str) -> Result<()> {
    for (proto, ports) in [("tcp", service.tcp), ("udp", service.udp)] {
        for &port in ports {
            in_ns(
                ns,
                &[
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-p",
                    proto,
                    "--dport",
                    &unusual_port(port).to_string(),
                    "-j",
                    "REDIRECT",
                    "--to-ports",
                    &port.to_string(),
                ],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_addresses_stay_on_the_segment() {
        assert!(usize::from(FIRST_ADDR) + SERVICES.len() < 250);
        for (index, service) in SERVICES.iter().enumerate() {
            let (_, port, _) = machine(index);
            assert!(
                port.len() <= 15,
                "{port}: an interface name is 15 bytes at most"
            );
            assert!(
                service
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{}",
                service.name
            );
            for port in service.tcp.iter().chain(service.udp) {
                unusual_port(*port);
            }
        }
        let mut names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SERVICES.len(), "two daemons share a name");
    }

    #[test]
    fn every_placeholder_is_filled() {
        for (index, service) in SERVICES.iter().enumerate() {
            let (_, _, addr) = machine(index);
            let texts = service.files.iter().map(|(_, text)| *text);
            for text in texts.chain([service.prepare, service.start]) {
                let filled = fill(text, service, Path::new("/x"), addr);
                for left in ["{dir}", "{addr", "{unpacked}"] {
                    assert!(
                        !filled.contains(left),
                        "{}: {left} left in {filled}",
                        service.name
                    );
                }
            }
        }
        let apache = &SERVICES[0];
        assert_eq!(
            fill(
                "{addr:apache} {addr} {unpacked}",
                apache,
                Path::new("/x"),
                Ipv4Addr::new(1, 2, 3, 4)
            ),
            format!("{} 1.2.3.4 {UNPACKED_DIR}/apache", machine(0).2)
        );
    }
}
