//! The portable build (`--no-default-features`: no XDP classifier, AF_XDP or AF_PACKET;
//! what other systems get), built by `cargo xtask test` into `target/portable`: with
//! no mode named it sends and receives through libpcap, and says so; it refuses the
//! kernel paths with advice; its SYN and UDP scans match the lab's truth, its sweep
//! (ARP through libpcap too) finds every address, and its version detection, OS
//! detection, raw scripts and SYN+ACK signatures give the report the Linux build gives.
//! Run by `cargo xtask test`, which brings the lab up first.

use lab_tests::*;
use xtask::lab;

/// Scans with the portable build; it must have used libpcap both ways.
fn portable_scan(args: &[&str]) -> States {
    scan_via_binary(&portable_binary(), args, "libpcap", "libpcap").expect("portable scan")
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn the_portable_build_says_it_has_only_libpcap_and_refuses_the_kernel_paths() {
    require_lab();
    let web = lab::host("web").addr.to_string();
    let (_, messages) =
        run_in_lab(&portable_binary(), &["-sS", "-p", "80", "-v", &web]).expect("scan");
    assert_eq!(
        messages.matches("this is the portable build").count(),
        1,
        "said once:\n{messages}"
    );
    for args in [
        ["--send-mode", "afxdp"],
        ["--send-mode", "packet"],
        ["--recv-mode", "xdp"],
        ["--xdp-mode", "skb"],
    ] {
        let mut all = vec!["-sS", "-p", "80"];
        all.extend(args);
        all.push(&web);
        let err = run_in_lab(&portable_binary(), &all).expect_err("refused");
        let err = format!("{err:#}");
        assert!(
            err.contains("needs the Linux build with the `xdp` feature"),
            "{args:?}: {err}"
        );
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn syn_udp_and_sweep_of_the_portable_build_match_the_truth() {
    require_lab();
    assert_syn_scan_of_the_lab_is_the_truth(portable_scan);

    let svc = lab::host("svc");
    let udp_ports = "7,161,11211,1";
    let addr = svc.addr.to_string();
    let found = portable_scan(&["-sU", "-p", udp_ports, &addr]);
    for port in lab::truth::expand_ports(udp_ports) {
        let expected = if svc.listening_udp_ports().contains(&port) {
            lab::PortState::Open
        } else {
            lab::PortState::Closed
        };
        assert_eq!(found.get(&(svc.addr, port)), Some(&expected), "udp {port}");
    }

    // The sweep finds its next hop with ARP through libpcap as well.
    let found = open_of(portable_scan(&[
        "--sweep",
        "--allow-reserved-targets",
        "--no-progress",
        "-p",
        "80,81",
        "198.19.0.0/16",
    ]));
    assert!(
        found == sweep_truth("198.19.0.0/16"),
        "{} of 65,536 found",
        found.len()
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn versions_os_raw_scripts_and_signatures_of_the_portable_build_equal_the_linux_builds() {
    require_lab();
    let web = lab::host("web").addr.to_string();
    let far = lab::host("far").addr.to_string();
    let args = [
        "-sS",
        "-sV",
        "-O",
        "-n",
        "-p",
        "22,80",
        "--script",
        "http-title,tcp-traceroute,synack-fingerprint",
        "--synack-signatures",
        &web,
        &far,
    ];
    let (portable, _) = run_in_lab(&portable_binary(), &args).expect("portable scan");
    let (linux, _) = scan_output_and_messages(&args).expect("scan");
    assert_eq!(
        steady_report(&portable),
        steady_report(&linux),
        "portable:\n{portable}\nLinux build:\n{linux}"
    );
    for expected in [
        "nginx",
        "OpenSSH",
        "http-title",
        "tcp-traceroute",
        "SYN+ACK signatures",
        "OS details: Linux",
    ] {
        assert!(
            portable.contains(expected),
            "{expected} missing:\n{portable}"
        );
    }
}
