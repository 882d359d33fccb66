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
use super::daemons::ports_not_bound;
use super::record::Made;
use crate::shell::in_ns;
use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the coverage lab keeps each daemon's folder, and its record.
pub const COVERAGE_DIR: &str = "/run/scanner-lab/coverage";
/// The first daemon's address on the lab segment; daemon I is at .100+I.
const FIRST_ADDR: u8 = 100;
/// How long a daemon may take to listen on all its ports.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One daemon of the coverage lab.
#[derive(Clone, Copy, Debug)]
pub struct CoverageService {
    /// Short name: its namespace is `lab-cov-NAME`, its folder `COVERAGE_DIR/NAME`.
    pub name: &'static str,
    /// The Debian packages it runs from (installed by `cargo xtask setup`).
    pub packages: &'static [&'static str],
    /// Files written into its folder before it starts: (file name, contents), where
    /// `{dir}` stands for the folder and `{addr}` for its address.
    pub files: &'static [(&'static str, &'static str)],
    /// A shell script run in its namespace before it starts (same placeholders).
    pub prepare: &'static str,
    /// The shell command that runs it in the foreground (same placeholders); its
    /// output goes to `log` in its folder.
    pub start: &'static str,
    pub tcp: &'static [u16],
    pub udp: &'static [u16],
}

/// The daemons of the coverage lab, in address order.
pub const SERVICES: &[CoverageService] = &[
    CoverageService {
        name: "apache",
        packages: &["apache2"],
        files: &[
            ("httpd.conf", APACHE_CONF),
            ("htdocs/index.html", "coverage apache2\n"),
        ],
        prepare: "mkdir -p {dir}/logs",
        start: "/usr/sbin/apache2 -f {dir}/httpd.conf -DFOREGROUND",
        tcp: &[80],
        udp: &[],
    },
    CoverageService {
        name: "lighttpd",
        packages: &["lighttpd"],
        files: &[
            ("lighttpd.conf", LIGHTTPD_CONF),
            ("htdocs/index.html", "coverage lighttpd\n"),
        ],
        // It opens its log after dropping to www-data.
        prepare: "mkdir -p {dir}/logs && chown www-data:www-data {dir}/logs",
        start: "/usr/sbin/lighttpd -D -f {dir}/lighttpd.conf",
        tcp: &[80],
        udp: &[],
    },
    CoverageService {
        name: "bind",
        packages: &["bind9"],
        files: &[("named.conf", NAMED_CONF), ("coverage.zone", NAMED_ZONE)],
        prepare: "mkdir -p {dir}/data && chown bind:bind {dir}/data",
        start: "/usr/sbin/named -f -u bind -c {dir}/named.conf -L {dir}/data/named.log",
        tcp: &[53],
        udp: &[53],
    },
    CoverageService {
        name: "squid",
        packages: &["squid"],
        files: &[("squid.conf", SQUID_CONF)],
        prepare: "mkdir -p {dir}/logs && chown -R proxy:proxy {dir}/logs",
        start: "/usr/sbin/squid -N -f {dir}/squid.conf",
        tcp: &[3128],
        udp: &[],
    },
    CoverageService {
        name: "mosquitto",
        packages: &["mosquitto"],
        files: &[("mosquitto.conf", MOSQUITTO_CONF)],
        // It writes its pid file after dropping to its user.
        prepare: "chown mosquitto {dir}",
        start: "/usr/sbin/mosquitto -c {dir}/mosquitto.conf",
        tcp: &[1883],
        udp: &[],
    },
];

/// Apache with the Debian build's modules, its headers saying "Apache/VERSION (Debian)".
const APACHE_CONF: &str = "ServerRoot /etc/apache2
ServerName coverage.lab.test
Listen {addr}:80
PidFile {dir}/apache2.pid
Mutex file:{dir}
DefaultRuntimeDir {dir}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
User www-data
Group www-data
ServerTokens OS
ErrorLog {dir}/logs/error.log
DocumentRoot {dir}/htdocs
<Directory />
  Require all granted
</Directory>
DirectoryIndex index.html
TypesConfig /etc/mime.types
";

const LIGHTTPD_CONF: &str = "server.document-root = \"{dir}/htdocs\"
server.bind = \"{addr}\"
server.port = 80
server.pid-file = \"{dir}/lighttpd.pid\"
server.errorlog = \"{dir}/logs/error.log\"
server.username = \"www-data\"
server.groupname = \"www-data\"
server.modules = ( \"mod_staticfile\" )
index-file.names = ( \"index.html\" )
mimetype.assign = ( \".html\" => \"text/html\" )
";

/// An authoritative server for one small zone, its version string left as Debian
/// builds it; no rndc.
const NAMED_CONF: &str = "options {
  directory \"{dir}/data\";
  pid-file \"{dir}/data/named.pid\";
  session-keyfile \"{dir}/data/session.key\";
  managed-keys-directory \"{dir}/data\";
  listen-on port 53 { {addr}; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  dnssec-validation no;
};
controls { };
zone \"coverage.test\" {
  type primary;
  file \"{dir}/coverage.zone\";
};
";

const NAMED_ZONE: &str = "$TTL 300
@   IN SOA ns.coverage.test. hostmaster.coverage.test. ( 1 3600 600 86400 300 )
    IN NS  ns.coverage.test.
ns  IN A   {addr}
";

/// A memory-only cache that serves nobody (its error pages still name it).
const SQUID_CONF: &str = "http_port {addr}:3128
http_access deny all
cache_effective_user proxy
pid_filename {dir}/squid.pid
access_log {dir}/logs/access.log
cache_log {dir}/logs/cache.log
cache_store_log none
coredump_dir {dir}
visible_hostname coverage.lab.test
shutdown_lifetime 1 seconds
";

const MOSQUITTO_CONF: &str = "listener 1883 {addr}
allow_anonymous true
pid_file {dir}/mosquitto.pid
persistence false
log_dest stderr
user mosquitto
";

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
    if !missing.is_empty() {
        bail!(
            "the coverage lab's packages are missing ({}): run `cargo xtask setup`",
            missing.join(" ")
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

/// `text` with `{dir}` and `{addr}` filled in.
fn fill(text: &str, folder: &Path, addr: Ipv4Addr) -> String {
    text.replace("{dir}", &folder.display().to_string())
        .replace("{addr}", &addr.to_string())
}

/// Writes the daemon's files, runs its preparation and starts it, detached.
fn start(service: &CoverageService, ns: &str, folder: &Path, addr: Ipv4Addr) -> Result<()> {
    for (name, contents) in service.files {
        let path = folder.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, fill(contents, folder, addr))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !service.prepare.is_empty() {
        in_ns(ns, &["sh", "-ec", &fill(service.prepare, folder, addr)]).context("preparing it")?;
    }
    let log = folder.join("log");
    let command = format!(
        "exec {} >{} 2>&1 </dev/null",
        fill(service.start, folder, addr),
        log.display()
    );
    crate::shell::start_daemon_in_ns(ns, &["setsid", "-f", "sh", "-c", &command])
}

fn wait_until_listening(service: &CoverageService, ns: &str, folder: &Path) -> Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let missing = ports_not_bound(ns, service.tcp, service.udp)?;
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} never listened on {} within {:?} (its log: {}/log)",
                service.name,
                missing.join(", "),
                READY_WITHIN,
                folder.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
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
}
