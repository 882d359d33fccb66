//! Output files are opened before the scan starts: a path that cannot be written
//! fails at once with a message and nothing is scanned; a full disk is an error
//! that names the file, and the other outputs are still written; run as root, a
//! symbolic link planted where an output goes is not followed. Run by
//! `cargo xtask test`.

use lab_tests::*;
use std::process::Command;
use std::time::{Duration, Instant};
use xtask::lab;

/// Runs the scanner in the scanner namespace: exit code, stdout, stderr.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .arg(scanner_binary())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scanner-outputs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn an_unwritable_output_fails_before_the_scan() {
    require_lab();
    // The drop host's filtered ports make the scan itself take seconds.
    let drop = lab::host("drop").addr.to_string();
    for (flag, path, what) in [
        ("-oX", "/nonexistent/x.xml", "XML"),
        ("-oN", "/nonexistent/x.nmap", "normal"),
        ("-oG", "/nonexistent/x.gnmap", "grepable"),
        ("-oJ", "/nonexistent/x.jsonl", "JSON"),
        ("-oA", "/nonexistent/x", "normal"),
    ] {
        let started = Instant::now();
        let (code, out, err) = run(&["-sS", "-p", "1-100", "-n", flag, path, &drop]);
        assert_eq!(code, Some(1), "{flag}: {err}");
        assert!(
            err.contains(&format!("cannot write {what} output to /nonexistent/")),
            "{flag}: {err}"
        );
        assert!(
            !out.contains("Scan report"),
            "{flag}: scanned anyway:\n{out}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{flag}: not at once"
        );
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_full_device_is_an_error_and_the_other_outputs_are_written() {
    require_lab();
    let dir = scratch("full");
    let xml = dir.join("scan.xml");
    let web = lab::host("web").addr.to_string();
    let (code, _, err) = run(&[
        "-sT",
        "-p",
        "80",
        "-n",
        "-oN",
        "/dev/full",
        "-oX",
        xml.to_str().unwrap(),
        &web,
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("cannot write normal output to /dev/full"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(std::fs::read_to_string(&xml)
        .unwrap()
        .contains("</nmaprun>"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn outputs_written_as_root_do_not_follow_planted_links() {
    require_lab();
    let dir = scratch("links");
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let web = lab::host("web").addr.to_string();
    for flag in ["-oX", "-oN", "-oG", "-oJ", "-oC"] {
        let link = dir.join(format!("out{flag}"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let (code, out, err) = run(&["-sT", "-p", "80", "-n", flag, link.to_str().unwrap(), &web]);
        assert_eq!(code, Some(1), "{flag}: {err}");
        assert!(err.contains("symbolic link"), "{flag}: {err}");
        assert!(
            !out.contains("Scan report"),
            "{flag}: scanned anyway:\n{out}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious",
            "{flag}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
