//! An nmap-style scan stopped with Ctrl-C or SIGTERM continues with `--resume LOG`
//! from its `-oG` log: hosts finished before the interruption are not scanned again,
//! the others are, and the log ends up with every host exactly once. The log keeps
//! the arguments exactly (quoted), and a log naming files outside its folder is not
//! run without `--resume-accept`. Run by `cargo xtask test`.

use lab_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xtask::lab;

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn an_interrupted_scan_resumes_from_its_grepable_log() {
    stop_and_resume(libc::SIGINT, 130);
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_terminated_scan_resumes_from_its_grepable_log() {
    stop_and_resume(libc::SIGTERM, 143);
}

/// Stops a scan of two hosts with `signal` once the first is in the log, checks the
/// exit status is `code`, and resumes it.
fn stop_and_resume(signal: i32, code: i32) {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-resume-{}-{signal}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("scan.gnmap");
    let log_arg = log.to_str().unwrap().to_string();
    let (web, drop) = (lab::host("web"), lab::host("drop"));
    // One host at a time: web (answers at once), then drop (its silent ports wait a
    // second a round), so an interruption after web's lines lands inside drop's scan.
    let child = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(scanner_binary())
        .args([
            "-sS",
            "-p",
            "1-200",
            "--max-hostgroup",
            "1",
            "--initial-rtt-timeout",
            "1s",
            "--min-rtt-timeout",
            "1s",
            "-oG",
            &log_arg,
            &web.addr.to_string(),
            &drop.addr.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let web_line = format!("Host: {} ", web.addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(&web_line)
    {
        assert!(Instant::now() < deadline, "web never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    // `ip netns exec` execs the scanner: the child's pid is the scanner's.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(code));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("--resume {log_arg}")), "{stderr}");
    let partial = std::fs::read_to_string(&log).unwrap();
    let drop_line = format!("Host: {} ", drop.addr);
    assert!(
        !partial.contains(&drop_line),
        "drop finished before the interruption:\n{partial}"
    );

    let resumed = scan_output(&["--resume", &log_arg]).expect("resume");
    assert!(
        resumed.contains(&format!("Scan report for drop.lab.test ({})", drop.addr)),
        "{resumed}"
    );
    assert!(
        !resumed.contains(&format!("({})", web.addr)),
        "web scanned again:\n{resumed}"
    );
    let full = std::fs::read_to_string(&log).unwrap();
    for line in [&web_line, &drop_line] {
        assert_eq!(
            full.matches(&format!("{line}(")).count(),
            2,
            "{line:?} twice (status and ports) in:\n{full}"
        );
    }
    assert!(
        full.contains(&format!(
            "Host: {} (drop.lab.test)\tPorts: 22/open/tcp//ssh///",
            drop.addr
        )),
        "{full}"
    );
    assert!(
        full.lines()
            .last()
            .unwrap()
            .starts_with("# scanner done at"),
        "{full}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A `-oG` log of a scan of `targets` with `args`, in `dir`, that finished `done`.
fn planted_log(dir: &std::path::Path, args: &[&str], done: &str) -> String {
    let log = dir.join("scan.gnmap");
    let log_arg = log.to_str().unwrap().to_string();
    let mut words = vec!["scanner"];
    words.extend(args);
    words.extend(["-oG", &log_arg]);
    std::fs::write(
        &log,
        format!(
            "# scanner 0.1.0 scan initiated Tue Dec  1 05:00:00 2026 as: {}\n\
             Host: {done} ()\tStatus: Up\n",
            scanner::cli::shell_words::quote(&words)
        ),
    )
    .unwrap();
    log_arg
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_resumed_scan_keeps_quoted_arguments_exactly() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-resume-quoted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let web = lab::host("web").addr.to_string();
    let closed = lab::host("closed").addr.to_string();
    // Joined and split on spaces, `banner or http-title` became a target named `or`.
    let log = planted_log(
        &dir,
        &[
            "-sT",
            "-n",
            "-p",
            "80",
            "--script",
            "banner or http-title",
            &web,
            &closed,
        ],
        &closed,
    );
    let (out, messages) = scan_output_and_messages(&["--resume", &log]).expect("resume");
    assert!(
        messages.contains("--script 'banner or http-title'"),
        "the command is not shown: {messages}"
    );
    assert!(out.contains("http-title"), "{out}");
    assert!(
        !out.contains(&format!("({closed})")),
        "closed scanned again:\n{out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_planted_log_writes_nowhere_else_without_resume_accept() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-resume-planted-{}", std::process::id()));
    let elsewhere = std::env::temp_dir().join(format!("scanner-elsewhere-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let target = elsewhere.join("clobbered");
    let web = lab::host("web").addr.to_string();
    let log = planted_log(
        &dir,
        &[
            "-sT",
            "-n",
            "-p",
            "80",
            "-oN",
            target.to_str().unwrap(),
            &web,
        ],
        "198.18.0.99",
    );
    let err = scan_output(&["--resume", &log]).expect_err("a log writing elsewhere ran");
    let err = err.to_string();
    assert!(
        err.contains("--resume-accept") && err.contains(target.to_str().unwrap()),
        "{err}"
    );
    assert!(!target.exists(), "written before the refusal");
    scan_output(&["--resume", &log, "--resume-accept"]).expect("accepted");
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .contains("80/tcp open"));
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(elsewhere).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_stopped_connect_scan_exits_with_the_signals_status() {
    require_lab();
    // The drop host's filtered ports keep a connect scan busy for many seconds.
    let drop = lab::host("drop").addr.to_string();
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let child = Command::new("ip")
            .args(["netns", "exec", lab::SCANNER_NS])
            .arg(scanner_binary())
            .args(["-sT", "-Pn", "-n", "-p", "1-2000", &drop])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        // SAFETY: kill(2) on our own child (`ip netns exec` execs the scanner).
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains("(SIG"), "{stderr}");
    }
}
