//! The sequence run without privileges, on loopback: connect scans and connect pings
//! go through it as raw scans do, host group by host group.

use super::*;
use crate::cli::plan::{plan, Plan, ScanPlan};
use crate::cli::{normalize_args, Args};
use crate::model::collector::Writer;
use crate::model::{HostResult, PortFinding, ScriptOutput, ScriptSubject};
use clap::Parser;
use std::net::TcpListener;

/// What reached the writers, in order.
#[derive(Default)]
struct Written(Vec<String>);

impl Writer for Written {
    fn port(&mut self, f: &PortFinding) -> Result<()> {
        self.0
            .push(format!("port {}:{} {}", f.addr, f.port, f.state.as_str()));
        Ok(())
    }

    fn script(&mut self, subject: ScriptSubject, output: &ScriptOutput) -> Result<()> {
        let on = match subject {
            ScriptSubject::Host(addr) => addr.to_string(),
            ScriptSubject::Port(addr, port, _) => format!("{addr}:{port}"),
            _ => "the scan".to_string(),
        };
        self.0
            .push(format!("script {} on {on}: {}", output.id, output.output));
        Ok(())
    }

    fn host(&mut self, addr: Ipv4Addr, host: &HostResult) -> Result<()> {
        self.0
            .push(format!("host {addr} {}", host.status_reason().as_str()));
        Ok(())
    }
}

/// Plans `line` and runs it through the sequence (keeping this process's
/// privileges): what the writers got.
fn scan(line: &str) -> Vec<String> {
    let argv =
        std::iter::once("scanner".to_string()).chain(line.split_whitespace().map(String::from));
    let args = Args::try_parse_from(normalize_args(argv)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Plan::Scan(plan) = plan(args, line, false, &runtime, &mut |_: &str| {}).unwrap() else {
        panic!("{line}: an nmap-style scan expected");
    };
    let ScanPlan {
        mut scan,
        outputs,
        scripts,
    } = *plan;
    scan.run_as = None;
    let mut written = Written::default();
    let mut collector = Collector::new(outputs.header(), false, &mut written);
    let mut notices = |message: &str| eprintln!("{message}");
    runtime
        .block_on(run(&scan, scripts.as_ref(), &mut collector, &mut notices))
        .unwrap();
    collector.finish().unwrap();
    written.0
}

#[test]
fn a_connect_scan_finishes_each_host_group_before_the_next() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.2:0").unwrap();
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let written = scan(&format!(
        "--unprivileged -Pn -n -sT --max-hostgroup 1 -p {pa},{pb} 127.0.0.1-2"
    ));
    let sorted = |lines: &[String]| {
        let mut lines = lines.to_vec();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(&written[..2]),
        sorted(&[
            format!("port 127.0.0.1:{pa} open"),
            format!("port 127.0.0.1:{pb} closed")
        ]),
        "{written:?}"
    );
    // -Pn: up because the user said so; finished before the next group starts.
    assert_eq!(written[2], "host 127.0.0.1 user-set", "{written:?}");
    assert_eq!(
        sorted(&written[3..5]),
        sorted(&[
            format!("port 127.0.0.2:{pa} closed"),
            format!("port 127.0.0.2:{pb} open")
        ]),
        "{written:?}"
    );
    assert_eq!(written[5..], ["host 127.0.0.2 user-set"], "{written:?}");
}

#[test]
fn own_addresses_are_up_by_the_kernel_and_connect_scanned() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // With raw packets allowed, 127.0.0.1 is one of this machine's own addresses: no
    // ping reaches it, the kernel answers for it.
    let written = scan(&format!("--privileged -sT -n -p {port} 127.0.0.1"));
    assert_eq!(
        written,
        [
            format!("port 127.0.0.1:{port} open"),
            "host 127.0.0.1 localhost-response".to_string()
        ]
    );
}

#[test]
fn without_privileges_hosts_are_found_by_connects() {
    // Ports 80 and 443 of 127.0.0.3: refused (or accepted, if something listens).
    let written = scan("--unprivileged -sn -n 127.0.0.3");
    assert!(
        written == ["host 127.0.0.3 conn-refused"] || written == ["host 127.0.0.3 syn-ack"],
        "{written:?}"
    );
}

/// A port on 127.0.0.2 whose connects hang: its listener's accept queue is full, so
/// the kernel drops further SYNs. Keep both values while it is used.
fn hanging_port() -> (TcpListener, std::net::TcpStream, u16) {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.2:0").unwrap();
    // SAFETY: listen() on a socket this function owns, only to shrink its backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let queued = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, queued, port)
}

/// A port on 127.0.0.1 that says `hello` to every connection.
fn greeting_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = std::io::Write::write_all(&mut stream, b"hello\r\n");
        }
    });
    port
}

#[test]
fn scripts_start_as_their_port_and_host_are_known_not_with_the_group() {
    let fast = greeting_port();
    let (_listener, _queued, slow) = hanging_port();
    let dir = std::env::temp_dir().join(format!("scanner-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let host_script = dir.join("host-seen.nse");
    std::fs::write(
        &host_script,
        "description = [[test]]\ncategories = {\"safe\"}\n\
         hostrule = function(host) return true end\n\
         action = function(host) return \"seen\" end\n",
    )
    .unwrap();
    // One group holds both hosts; 127.0.0.2's port {slow} is done only once its
    // connect times out, a second from now.
    let written = scan(&format!(
        "--unprivileged -Pn -n -sT --max-retries 0 -p {fast},{slow} --script banner,{} 127.0.0.1-2",
        host_script.display()
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    let at = |line: &str| {
        written
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{line:?} not in {written:?}"))
    };
    let slow_done = at(&format!("port 127.0.0.2:{slow} filtered"));
    // The fast host's port script: as soon as its port is known.
    let banner = at(&format!("script banner on 127.0.0.1:{fast}: hello"));
    // Its host script: once its two ports are.
    let fast_host = at("script host-seen on 127.0.0.1: seen");
    assert!(
        banner < slow_done && fast_host < slow_done,
        "the fast host's scripts waited for the slow host: {written:?}"
    );
    assert!(at(&format!("port 127.0.0.1:{slow} closed")) < fast_host);
    // The slow host's host script waits for its ports.
    assert!(
        slow_done < at("script host-seen on 127.0.0.2: seen"),
        "{written:?}"
    );
}
