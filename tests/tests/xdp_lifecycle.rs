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

/// Runs `work` in the lab's scanner namespace, on a thread of its own (a namespace
/// switch holds for the thread that makes it), with the index of its interface.
fn in_scanner_namespace<T: Send + 'static>(work: impl FnOnce(u32) -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let path = format!("/run/netns/{}", xtask::lab::SCANNER_NS);
        let ns = std::fs::File::open(&path).expect("the scanner namespace");
        // SAFETY: setns(2) on a descriptor we own; it changes only this thread.
        let switched =
            unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) };
        assert_eq!(switched, 0, "setns {path}");
        let name = std::ffi::CString::new(xtask::lab::SCANNER_IFACE).unwrap();
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(
            ifindex,
            0,
            "no {} in the namespace",
            xtask::lab::SCANNER_IFACE
        );
        work(ifindex)
    })
    .join()
    .expect("the namespace thread")
}

/// Leaves `program` attached through netlink to the scanner namespace's interface, as
/// a scanner killed on a kernel without bpf_link for XDP does; whatever is attached
/// there is detached again when the guard goes, even when the test fails.
struct LeftAttached;

impl LeftAttached {
    fn new(program: &'static str) -> Self {
        in_scanner_namespace(move |ifindex| {
            scanner::io::xdp::leave_attached(program, ifindex).expect("attach through netlink")
        });
        Self
    }
}

impl Drop for LeftAttached {
    fn drop(&mut self) {
        in_scanner_namespace(|ifindex| {
            use scanner::io::xdp_slot;
            if !xdp_slot::attached(ifindex).unwrap_or_default().is_empty() {
                for mode in [xdp_slot::SlotMode::Skb, xdp_slot::SlotMode::Driver] {
                    let _ = xdp_slot::set(ifindex, None, mode, None);
                }
            }
        });
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_classifier_left_attached_by_a_killed_scanner_is_replaced() {
    require_lab();
    assert!(
        !xdp_attached(),
        "an XDP program is attached before the test"
    );
    let _left = LeftAttached::new("scanner_xdp");
    assert!(xdp_attached(), "the classifier was left attached");
    let (out, messages) = scan_output_and_messages(&["-sS", "-n", "-p", "22,80,81", "198.18.0.10"])
        .expect("the scan replaces the classifier left behind and runs");
    assert!(
        messages.contains("detached the XDP classifier a killed scanner left attached"),
        "{messages}"
    );
    for line in ["22/tcp open", "80/tcp open", "81/tcp closed"] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    assert!(
        !messages.contains("AF_PACKET socket instead"),
        "the scan fell back to the packet socket: {messages}"
    );
    wait_for(
        "the scanner's own classifier is detached after exit",
        Duration::from_secs(2),
        || !xdp_attached(),
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn another_xdp_program_stops_the_scan_with_its_name() {
    require_lab();
    assert!(
        !xdp_attached(),
        "an XDP program is attached before the test"
    );
    let _left = LeftAttached::new("drop_all");
    let output = Command::new("ip")
        .args(["netns", "exec", xtask::lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(["-sS", "-n", "-p", "22", "198.18.0.10"])
        .stdout(Stdio::null())
        .output()
        .expect("run the scanner");
    let messages = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{messages}");
    assert!(
        messages.contains("\"drop_all\"") && messages.contains("not the scanner's"),
        "{messages}"
    );
    assert!(xdp_attached(), "the other program was left alone");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_running_scanners_classifier_is_left_alone() {
    require_lab();
    let mut first = start_slow_scan("1-4000");
    wait_for(
        "the first scanner's classifier is attached",
        Duration::from_secs(3),
        xdp_attached,
    );
    let second = scan_output_and_messages(&["-sS", "-n", "-p", "22,80", "198.18.0.10"]);
    let still_running = first.try_wait().expect("first scanner").is_none();
    // SAFETY: kill(2) on our child's pid (`ip netns exec` execs the scanner).
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    let _ = first.wait();
    assert!(
        still_running,
        "the first scan ended before the second started"
    );
    let (out, messages) = second.expect("the second scan runs beside the first");
    assert!(
        messages.contains("another scanner is running on"),
        "{messages}"
    );
    assert!(
        out.contains("22/tcp open") && out.contains("80/tcp open"),
        "{out}"
    );
}
