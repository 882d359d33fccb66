//! An nmap-style scan interrupted with Ctrl-C continues with `--resume LOG` from its
//! `-oG` log: hosts finished before the interruption are not scanned again, the
//! others are, and the log ends up with every host exactly once. Run by
//! `cargo xtask test`.

use lab_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xtask::lab;

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn an_interrupted_scan_resumes_from_its_grepable_log() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-resume-{}", std::process::id()));
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
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
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
