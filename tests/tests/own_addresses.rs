//! Scanning this machine itself, as nmap does: connect scans (and -sn) of
//! 127.0.0.0/8 and of the machine's own addresses go through the kernel's loopback;
//! raw scans of them say why they cannot, and the default scan becomes a connect
//! scan. The scanner namespace has its own loopback, where the test listens. Run by
//! `cargo xtask test`.

use lab_tests::*;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use xtask::lab::{self, PortState};

/// A port nothing in the lab listens on.
const PORT: u16 = 47813;

/// A TCP listener on every address of the scanner namespace (loopback included),
/// killed on drop.
struct Listener(Child);

impl Listener {
    fn start() -> Self {
        let program = format!(
            "import socket, time\n\
             s = socket.socket()\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('0.0.0.0', {PORT}))\n\
             s.listen(64)\n\
             print('ready', flush=True)\n\
             time.sleep(120)\n"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", lab::SCANNER_NS, "python3", "-c", &program])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the listener did not start");
        Self(child)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ports() -> String {
    format!("{PORT},{}", PORT + 1)
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn connect_scans_of_loopback_and_the_own_address_work() {
    require_lab();
    let _listener = Listener::start();
    let ports = ports();
    for addr in ["127.0.0.1".to_string(), lab::SCANNER_ADDR.to_string()] {
        let found = scan(&["-sT", "-n", "-p", &ports, &addr]).expect("-sT of an own address");
        let addr = addr.parse().unwrap();
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            [
                ((addr, PORT), PortState::Open),
                ((addr, PORT + 1), PortState::Closed)
            ],
            "{addr}"
        );
    }
    // The default scan as root is -sS, which cannot reach it: a connect scan instead.
    let (out, messages) =
        scan_output_and_messages(&["-n", "-p", &ports, "127.0.0.2"]).expect("default scan");
    assert!(messages.contains("connect scan (-sT)"), "{messages}");
    assert!(out.contains(&format!("{PORT}/tcp open")), "{out}");
    // Host discovery finds them up without a probe on the wire.
    let (out, _) =
        scan_output_and_messages(&["-sn", "-n", "127.0.0.1", &lab::SCANNER_ADDR.to_string()])
            .expect("-sn of own addresses");
    assert!(out.contains("(2 hosts up)"), "{out}");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn raw_scans_of_own_addresses_say_why_not() {
    require_lab();
    for args in [
        vec!["-sS", "-p", "80", "127.0.0.1"],
        vec!["-sU", "-p", "53", "127.0.0.1"],
        vec!["--sweep", "-p", "80", "127.0.0.1"],
    ] {
        let err = scan_output_and_messages(&args).expect_err("a raw scan of loopback");
        let err = err.to_string();
        assert!(
            err.contains("127.0.0.1 is this machine's own address") && err.contains("-sT"),
            "{args:?}: {err}"
        );
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn raw_scans_leave_own_addresses_out_of_a_larger_set() {
    require_lab();
    let web = lab::host("web");
    let own = lab::SCANNER_ADDR.to_string();
    for scan_type in ["-sS", "-sA"] {
        let (out, messages) = scan_output_and_messages(&[
            scan_type,
            "-n",
            "-p",
            "80",
            "127.0.0.1",
            &own,
            &web.addr.to_string(),
        ])
        .expect("a raw scan of a set with own addresses in it");
        assert!(
            messages.contains("left out 2 of this machine's own address(es)"),
            "{messages}"
        );
        assert!(
            out.contains(&format!("Scan report for {}", web.addr)),
            "{out}"
        );
        assert!(!out.contains(&format!("Scan report for {own}\n")), "{out}");
    }
}
