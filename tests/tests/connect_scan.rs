//! The connect scan (-sT): the same states as `nmap -sT` on the whole lab, and it
//! works with no privileges at all. Run by `cargo xtask test`.

use lab_tests::*;

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn connect_scan_agrees_with_nmap_and_finds_every_open_port() {
    require_lab();
    let hosts = all_hosts();
    let ports = standard_ports();
    let mut args = vec!["-sT", "-p", &ports];
    args.extend(hosts.iter().map(String::as_str));
    let found = scan(&args).expect("scan");
    let mut ours = summarize(&found);
    let mut nmap = nmap_summary_with(&hosts, &ports, "-sT").expect("nmap -sT");
    // The reject host answers its REJECTed ports with ICMP port-unreachable, which a
    // connect reads as refused (closed), but it rate limits those answers: nmap
    // itself misses some in some runs. Its right answer is known, so check ours
    // against that, and nmap on every other host.
    let reject = xtask::lab::host("reject");
    let ours_reject = ours.remove(&reject.addr).expect("reject host scanned");
    nmap.remove(&reject.addr);
    let scanned = xtask::lab::truth::expand_ports(&ports).len();
    let open = reject.open_tcp_ports();
    assert_eq!(
        ours_reject,
        HostSummary {
            closed: scanned - open.len(),
            open,
            filtered: 0
        },
        "the reject host under -sT: every REJECTed port is refused, so closed"
    );
    assert_eq!(
        ours, nmap,
        "scanner -sT (left) and nmap -sT (right) disagree"
    );
    let truth_open: Vec<_> = truth(&hosts, &ports)
        .into_iter()
        .filter(|(_, s)| *s == xtask::lab::PortState::Open)
        .map(|(k, _)| k)
        .collect();
    let found_open: Vec<_> = found
        .into_iter()
        .filter(|(_, s)| *s == xtask::lab::PortState::Open)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(found_open, truth_open);
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn without_privileges_the_default_is_a_connect_scan_that_works() {
    require_lab();
    let out = scan_unprivileged(&[
        "-p",
        "21,22,80,443,6379",
        "-oJ",
        "-",
        "198.18.0.10",
        "198.18.0.11",
        "198.18.1.10",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("running a connect scan (-sT)"));
    let found = parse_findings(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let hosts = vec![
        "198.18.0.10".to_string(),
        "198.18.0.11".to_string(),
        "198.18.1.10".to_string(),
    ];
    let diffs = differences(&truth(&hosts, "21,22,80,443,6379"), &found);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
