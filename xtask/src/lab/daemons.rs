//! Starting the lab's real daemons (Debian's packages) inside a host's namespace,
//! each with its own config and pid file under [`STATE_DIR`], and waiting until
//! every one listens where the truth says it does.

use super::{Daemon, Host, STATE_DIR};
use crate::shell::{output, run, start_daemon_in_ns};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn host_dir(host: &Host) -> PathBuf {
    Path::new(STATE_DIR).join(host.name)
}

fn tls_dir() -> PathBuf {
    Path::new(STATE_DIR).join("tls")
}

/// What all hosts share: the self-signed certificate, sshd's host keys and its
/// privilege-separation folder, vsftpd's empty chroot.
pub fn prepare_shared_state() -> Result<()> {
    let tls = tls_dir();
    std::fs::create_dir_all(&tls)?;
    let key = tls.join("key.pem");
    let cert = tls.join("cert.pem");
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "365",
            "-subj",
            "/CN=web.lab.test",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    )?;
    std::fs::create_dir_all("/run/sshd")?;
    run("ssh-keygen", &["-A"])?;
    std::fs::create_dir_all(Path::new(STATE_DIR).join("empty"))?;
    Ok(())
}

/// Starts every daemon of `host` in its namespace.
pub fn start(host: &Host) -> Result<()> {
    let dir = host_dir(host);
    std::fs::create_dir_all(&dir)?;
    let ns = host.namespace();
    for daemon in &host.daemons {
        start_one(host, &ns, &dir, *daemon)
            .with_context(|| format!("starting {} on lab host {}", daemon.name(), host.name))?;
    }
    Ok(())
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("lab paths are UTF-8")
}

fn start_one(host: &Host, ns: &str, dir: &Path, daemon: Daemon) -> Result<()> {
    match daemon {
        Daemon::Sshd => {
            let pid = format!("PidFile={}", path_str(&dir.join("sshd.pid")));
            start_daemon_in_ns(ns, &["/usr/sbin/sshd", "-o", &pid])
        }
        Daemon::Nginx { http_ports, https } => {
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, nginx_config(host, dir, http_ports, https))?;
            start_daemon_in_ns(ns, &["nginx", "-c", path_str(&conf)])
        }
        Daemon::Vsftpd => {
            let root = dir.join("ftp");
            std::fs::create_dir_all(&root)?;
            std::fs::write(root.join("README"), "lab ftp\n")?;
            let conf = dir.join("vsftpd.conf");
            std::fs::write(
                &conf,
                format!(
                    "listen=YES\nlisten_ipv6=NO\nbackground=YES\nanonymous_enable=YES\n\
                     local_enable=NO\nwrite_enable=NO\nseccomp_sandbox=NO\nxferlog_enable=NO\n\
                     secure_chroot_dir={}\nanon_root={}\n",
                    path_str(&Path::new(STATE_DIR).join("empty")),
                    path_str(&root)
                ),
            )?;
            start_daemon_in_ns(ns, &["vsftpd", path_str(&conf)])
        }
        Daemon::Redis => start_daemon_in_ns(
            ns,
            &[
                "redis-server",
                "--port",
                "6379",
                "--bind",
                "0.0.0.0",
                "--protected-mode",
                "no",
                "--daemonize",
                "yes",
                "--dir",
                path_str(dir),
                "--save",
                "",
                "--pidfile",
                path_str(&dir.join("redis.pid")),
                "--logfile",
                path_str(&dir.join("redis.log")),
            ],
        ),
        Daemon::Memcached => start_daemon_in_ns(
            ns,
            &[
                "memcached",
                "-d",
                "-u",
                "nobody",
                "-l",
                "0.0.0.0",
                "-p",
                "11211",
                "-U",
                "11211",
            ],
        ),
        Daemon::Dnsmasq => {
            let listen = format!("--listen-address={}", host.addr);
            let pid = format!("--pid-file={}", path_str(&dir.join("dnsmasq.pid")));
            // A name for every lab host (NAME.lab.test), forward and reverse.
            let records: Vec<String> = super::hosts()
                .iter()
                .map(|h| format!("--host-record={}.{},{}", h.name, super::DOMAIN, h.addr))
                .collect();
            let mut args = vec![
                "dnsmasq",
                "--conf-file=/dev/null",
                "--port=53",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                &listen,
                &pid,
            ];
            args.extend(records.iter().map(String::as_str));
            start_daemon_in_ns(ns, &args)
        }
        Daemon::Hostile => {
            let me = std::env::current_exe().context("the xtask binary's path")?;
            start_daemon_in_ns(ns, &["setsid", "-f", path_str(&me), "hostile-services"])
        }
        Daemon::AnyAddressUdp => {
            let me = std::env::current_exe().context("the xtask binary's path")?;
            start_daemon_in_ns(ns, &["setsid", "-f", path_str(&me), "any-address-udp"])
        }
        Daemon::Snmpd => {
            let conf = dir.join("snmpd.conf");
            std::fs::write(
                &conf,
                format!("agentAddress udp:161\nrocommunity public default\nsysName lab-{}\nsysLocation scanner lab\n", host.name),
            )?;
            start_daemon_in_ns(
                ns,
                &[
                    "snmpd",
                    "-C",
                    "-c",
                    path_str(&conf),
                    "-Lf",
                    path_str(&dir.join("snmpd.log")),
                    "-p",
                    path_str(&dir.join("snmpd.pid")),
                ],
            )
        }
    }
}

fn nginx_config(host: &Host, dir: &Path, http_ports: &[u16], https: bool) -> String {
    // The sweep host's one nginx stands for 65,536 machines: its accept queue is
    // sized for a sweep's version detection (see the host's sysctls), so that a
    // full queue never drops a sweep's SYN (no SYN+ACK: a port missed).
    let backlog = if host.answers_range.is_some() {
        " backlog=65535"
    } else {
        ""
    };
    let mut listen = String::new();
    for port in http_ports {
        listen.push_str(&format!("        listen {port}{backlog};\n"));
    }
    if https {
        let tls = tls_dir();
        listen.push_str(&format!(
            "        listen 443 ssl;\n        ssl_certificate {};\n        ssl_certificate_key {};\n",
            path_str(&tls.join("cert.pem")),
            path_str(&tls.join("key.pem"))
        ));
    }
    let d = path_str(dir);
    format!(
        "daemon on;\nworker_processes 1;\nworker_rlimit_nofile 40000;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
         events {{ worker_connections 16384; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
             server {{\n{listen}        server_name {name}.lab.test;\n\
                 location / {{ default_type text/html; return 200 \"<html><head><title>lab host {name}</title></head><body>{name}</body></html>\\n\"; }}\n    }}\n}}\n",
        name = host.name
    )
}

/// Waits (up to 15 s) until every TCP and UDP port of `host`'s daemons is bound.
pub fn wait_until_listening(host: &Host) -> Result<()> {
    let tcp: Vec<u16> = host.daemons.iter().flat_map(|d| d.tcp_ports()).collect();
    let udp: Vec<u16> = host.listening_udp_ports().into_iter().collect();
    let missing =
        ports_still_unbound_after(&host.namespace(), &tcp, &udp, Duration::from_secs(15))?;
    if !missing.is_empty() {
        bail!(
            "lab host {} never listened on {} (daemon logs are under {})",
            host.name,
            missing.join(", "),
            host_dir(host).display()
        );
    }
    Ok(())
}

/// Waits up to `within` until every port of `tcp` (listening) and `udp` (bound) is
/// bound in `ns`; then the ones still not bound (none when all came up in time).
pub(super) fn ports_still_unbound_after(
    ns: &str,
    tcp: &[u16],
    udp: &[u16],
    within: Duration,
) -> Result<Vec<String>> {
    let deadline = Instant::now() + within;
    loop {
        let missing = ports_not_bound(ns, tcp, udp)?;
        if missing.is_empty() || Instant::now() > deadline {
            return Ok(missing);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Which of `tcp` (listening) and `udp` (bound) nothing in `ns` has bound yet, as
/// `tcp/PORT` and `udp/PORT`.
fn ports_not_bound(ns: &str, tcp: &[u16], udp: &[u16]) -> Result<Vec<String>> {
    let tcp_bound = bound_ports(ns, "-ltnH")?;
    let udp_bound = bound_ports(ns, "-lunH")?;
    Ok(tcp
        .iter()
        .filter(|p| !tcp_bound.contains(p))
        .map(|p| format!("tcp/{p}"))
        .chain(
            udp.iter()
                .filter(|p| !udp_bound.contains(p))
                .map(|p| format!("udp/{p}")),
        )
        .collect())
}

fn bound_ports(ns: &str, flags: &str) -> Result<Vec<u16>> {
    let text = output("ip", &["netns", "exec", ns, "ss", flags])?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3))
        .filter_map(|local| local.rsplit(':').next()?.parse().ok())
        .collect())
}
