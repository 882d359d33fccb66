//! SYN scans of the whole lab, compared with the lab's truth and with nmap.
//! Run by `cargo xtask test`, which brings the lab up first.

use lab_tests::*;

/// The name the scanner prints for a `--send-mode`.
fn sender_name(send_mode: &str) -> &'static str {
    match send_mode {
        "afxdp" => "AF_XDP",
        "packet" => "AF_PACKET",
        _ => "libpcap",
    }
}

fn scan_matches_truth(send_mode: &str) {
    require_lab();
    let hosts = all_hosts();
    let ports = standard_ports();
    let mut args = vec![
        "-sS",
        "-p",
        &ports,
        "--send-mode",
        send_mode,
        "--recv-mode",
        "xdp",
    ];
    args.extend(hosts.iter().map(String::as_str));
    let found = scan_via(&args, sender_name(send_mode), "XDP").expect("scan");
    let diffs = differences(&truth(&hosts, &ports), &found);
    assert!(
        diffs.is_empty(),
        "{} differences via {send_mode}:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn syn_scan_over_afxdp_matches_the_truth() {
    scan_matches_truth("afxdp");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn syn_scan_over_packet_socket_matches_the_truth() {
    scan_matches_truth("packet");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn syn_scan_over_libpcap_matches_the_truth() {
    scan_matches_truth("pcap");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn syn_scan_with_userspace_classifier_matches_the_truth() {
    require_lab();
    let hosts = vec![
        "198.18.0.10".to_string(),
        "198.18.0.15".to_string(),
        "198.18.1.10".to_string(),
    ];
    let ports = standard_ports();
    let mut args = vec![
        "-sS",
        "-p",
        &ports,
        "--recv-mode",
        "packet",
        "--rate",
        "20000",
    ];
    args.extend(hosts.iter().map(String::as_str));
    let found = scan_via(&args, "AF_XDP", "AF_PACKET").expect("scan");
    let diffs = differences(&truth(&hosts, &ports), &found);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn syn_scan_agrees_with_nmap() {
    require_lab();
    let hosts = all_hosts();
    let ports = standard_ports();
    let mut args = vec!["-sS", "-p", &ports];
    args.extend(hosts.iter().map(String::as_str));
    let ours = summarize(&scan(&args).expect("scan"));
    let nmap = nmap_summary(&hosts, &ports).expect("nmap");
    assert_eq!(ours, nmap, "scanner (left) and nmap -sS (right) disagree");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn sweep_range_and_routed_host_answer() {
    require_lab();
    let found = scan(&["-sS", "-p", "80,22", "198.19.0.0/24", "198.18.1.10"]).expect("scan");
    let open: Vec<_> = found
        .iter()
        .filter(|(_, s)| **s == xtask::lab::PortState::Open)
        .collect();
    // 256 sweep addresses with port 80 open, plus ssh and http on the far host.
    assert_eq!(open.len(), 256 + 2, "{open:?}");
}

/// Every probe must leave the machine the first time: with no retries, a probe stuck
/// in a send ring (as AF_XDP copy mode leaves them when not kicked until empty) would
/// show up as a filtered port.
fn every_probe_leaves_once(send_mode: &str) {
    require_lab();
    let hosts = vec!["198.18.0.13".to_string()];
    let ports = "1-30000";
    let found = scan_via(
        &[
            "-sS",
            "-p",
            ports,
            "--retries",
            "0",
            "--send-mode",
            send_mode,
            "--recv-mode",
            "xdp",
            "198.18.0.13",
        ],
        sender_name(send_mode),
        "XDP",
    )
    .expect("scan");
    let diffs = differences(&truth(&hosts, ports), &found);
    assert!(
        diffs.is_empty(),
        "{} of 30000 probes went unanswered via {send_mode}:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn afxdp_sends_every_probe_without_retries() {
    every_probe_leaves_once("afxdp");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn packet_socket_sends_every_probe_without_retries() {
    every_probe_leaves_once("packet");
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn xml_validates_against_nmaps_dtd_and_ndiff_finds_no_difference() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-xml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = dir.join("scanner.xml");
    let hosts = all_hosts();
    let ports = standard_ports();
    let ours_arg = ours.to_str().unwrap().to_string();
    let mut args = vec!["-sS", "-p", &ports, "-oX", &ours_arg];
    args.extend(hosts.iter().map(String::as_str));
    scan(&args).expect("scan");
    let status = std::process::Command::new("xmllint")
        .args(["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd"])
        .arg(&ours)
        .status()
        .expect("xmllint (libxml2-utils, installed by setup)");
    assert!(
        status.success(),
        "our XML does not validate against nmap's DTD"
    );
    let theirs = nmap_xml(&hosts, &ports, "-sS").expect("nmap");
    assert_ndiff_agrees(&theirs, &ours);
    std::fs::remove_dir_all(dir).unwrap();
}
