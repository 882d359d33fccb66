//! The send and receive paths a user names are honoured or refused, never swapped
//! silently: an explicit `--send-mode afxdp`, `--recv-mode xdp` or `--xdp-mode` that
//! cannot open stops the scan with exit status 1 and says what to do, while the
//! defaults fall back with a notice. Run by `cargo xtask test`, which brings the lab
//! up first.

use lab_tests::*;
use std::process::Output;

const WEB: &str = "198.18.0.10";

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Fails unless `output` is the refusal of `option`: exit status 1, the advice, no scan.
fn assert_refused(output: &Output, option: &str) {
    let (stdout, stderr) = text(output);
    assert_eq!(output.status.code(), Some(1), "{option}:\n{stderr}{stdout}");
    assert!(
        stderr.contains(&format!("{option} cannot be honoured")) && stderr.contains("run as root"),
        "{option}: {stderr}"
    );
    assert!(
        !stdout.contains("open"),
        "{option} scanned anyway:\n{stdout}"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn without_privileges_a_named_path_is_an_error_and_the_default_falls_back() {
    require_lab();
    for (option, value) in [
        ("--send-mode", "afxdp"),
        ("--recv-mode", "xdp"),
        ("--xdp-mode", "native"),
        ("--send-mode", "packet"),
    ] {
        let out = scan_unprivileged(&["-p", "80", option, value, WEB]);
        assert_refused(&out, &format!("{option} {value}"));
    }
    let out = scan_unprivileged(&["-p", "80", WEB]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("running a connect scan (-sT)"), "{stderr}");
    assert!(stdout.contains("80/tcp open"), "{stdout}");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn with_raw_sockets_only_named_fast_paths_are_errors_and_the_defaults_fall_back() {
    require_lab();
    // CAP_NET_RAW alone: packet sockets open; the XDP classifier (CAP_BPF,
    // CAP_NET_ADMIN) and the AF_XDP UMEM (locked memory) do not.
    let raw = ["net_raw"];
    for (option, extra) in [
        (
            "--send-mode afxdp",
            &["--send-mode", "afxdp", "--recv-mode", "packet"][..],
        ),
        (
            "--recv-mode xdp",
            &["--send-mode", "packet", "--recv-mode", "xdp"][..],
        ),
        (
            "--xdp-mode skb",
            &["--send-mode", "packet", "--xdp-mode", "skb"][..],
        ),
    ] {
        let mut args = vec!["-sS", "-p", "80"];
        args.extend_from_slice(extra);
        args.push(WEB);
        assert_refused(&scan_as_nobody_with(&raw, &args), option);
    }
    let out = scan_as_nobody_with(&raw, &["-sS", "-v", "-p", "80", WEB]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("sending through an AF_PACKET socket instead")
            && stderr.contains("receiving through an AF_PACKET socket instead"),
        "the fallbacks are announced: {stderr}"
    );
    assert_eq!(
        paths_used(&stderr),
        Some(("AF_PACKET".to_string(), "AF_PACKET".to_string())),
        "{stderr}"
    );
    assert!(stdout.contains("80/tcp open"), "{stdout}");
}
