//! The libpcap mode, for systems without XDP or AF_PACKET: `--send-mode pcap
//! --recv-mode pcap` sends through libpcap and reads every reply through one libpcap
//! handle (classified in userspace, as the XDP program would), for the SYN and UDP
//! scans, version detection, the scripts' raw captures and the SYN+ACK signatures,
//! each against the lab's truth (or the XDP path's answer). The paths the scanner says
//! it used must be libpcap's both ways: a fallback fails the test.
//! Run by `cargo xtask test`, which brings the lab up first.

use lab_tests::*;
use xtask::lab;

const PCAP: [&str; 4] = ["--send-mode", "pcap", "--recv-mode", "pcap"];

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn syn_and_udp_scans_through_libpcap_match_the_truth() {
    require_lab();
    assert_syn_scan_of_the_lab_is_the_truth(|args| {
        let mut args = args.to_vec();
        args.extend(PCAP);
        scan_via(&args, "libpcap", "libpcap").expect("scan")
    });

    let udp_hosts: Vec<lab::Host> = ["svc", "dns"].into_iter().map(lab::host).collect();
    let udp_ports = "7,53,161,11211";
    let mut args = vec!["-sU", "-p", udp_ports];
    args.extend(PCAP);
    let addrs: Vec<String> = udp_hosts.iter().map(|h| h.addr.to_string()).collect();
    args.extend(addrs.iter().map(String::as_str));
    let found = scan_via(&args, "libpcap", "libpcap").expect("scan");
    let mut expected = States::new();
    for host in &udp_hosts {
        for port in lab::truth::expand_ports(udp_ports) {
            let open = host.listening_udp_ports().contains(&port);
            let state = if open {
                lab::PortState::Open
            } else {
                lab::PortState::Closed
            };
            expected.insert((host.addr, port), state);
        }
    }
    assert_eq!(
        found, expected,
        "-sU through libpcap (left) against the lab"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn versions_scripts_and_signatures_through_libpcap_equal_the_xdp_paths() {
    require_lab();
    let web = lab::host("web").addr.to_string();
    let far = lab::host("far").addr.to_string();
    let run = |paths: &[&str]| -> (String, String) {
        let mut args = vec![
            "-sS",
            "-sV",
            "-n",
            "-v",
            "-p",
            "22,80",
            "--script",
            "http-title,tcp-traceroute,synack-fingerprint",
            "--synack-signatures",
        ];
        args.extend(paths);
        args.extend([web.as_str(), far.as_str()]);
        scan_output_and_messages(&args).expect("scan")
    };
    let (pcap, messages) = run(&PCAP);
    assert_eq!(
        paths_used(&messages),
        Some(("libpcap".to_string(), "libpcap".to_string())),
        "{messages}"
    );
    let (xdp, _) = run(&[]);
    assert_eq!(
        steady_report(&pcap),
        steady_report(&xdp),
        "libpcap:\n{pcap}\nXDP:\n{xdp}"
    );
    for expected in [
        "nginx",
        "OpenSSH",
        "http-title",
        "tcp-traceroute",
        "SYN+ACK signatures",
    ] {
        assert!(pcap.contains(expected), "{expected} missing:\n{pcap}");
    }
}
