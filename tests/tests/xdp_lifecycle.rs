//! The XDP classifier is attached (with a bpf_link) only while the scanner runs: it
//! is gone after a normal exit and after the process is killed.

use lab_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for(what: &str, limit: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a slow scan (1000 pps) of the closed host, so there is time to look, on
/// the fast paths by name (an error, not a fallback, if they cannot open), with `-v`
/// so that it says which paths it used (on its stderr, piped).
fn start_slow_scan(ports: &str) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", xtask::lab::SCANNER_NS])
        .arg(scanner_binary())
        .args([
            "-sS",
            "-v",
            "--send-mode",
            "afxdp",
            "--recv-mode",
            "xdp",
            "-p",
            ports,
            "--rate",
            "1000",
            "198.18.0.13",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scanner")
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn classifier_is_attached_while_scanning_and_gone_after_exit() {
    require_lab();
    assert!(
        !xdp_attached(),
        "an XDP program is attached before the scan"
    );
    let child = start_slow_scan("1-4000");
    wait_for(
        "the classifier is attached",
        Duration::from_secs(3),
        xdp_attached,
    );
    let out = child.wait_with_output().expect("scanner");
    let messages = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{messages}");
    assert_eq!(
        paths_used(&messages),
        Some(("AF_XDP".to_string(), "XDP".to_string())),
        "{messages}"
    );
    wait_for(
        "the classifier is detached after exit",
        Duration::from_secs(2),
        || !xdp_attached(),
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn classifier_is_gone_when_the_scanner_is_killed() {
    require_lab();
    let mut child = start_slow_scan("1-60000");
    wait_for(
        "the classifier is attached",
        Duration::from_secs(3),
        xdp_attached,
    );
    // `ip netns exec` execs the scanner, so this is the scanner's own pid.
    // SAFETY: kill(2) on our child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    let _ = child.wait();
    wait_for(
        "the classifier is detached after SIGKILL",
        Duration::from_secs(2),
        || !xdp_attached(),
    );
}
