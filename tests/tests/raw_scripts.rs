//! Raw-packet scripts in the lab, each against an oracle or the lab's truth:
//! `synack-fingerprint` against p0f's raw signatures of the same ports and what p0f
//! matches them to in the project's signature database (and the lab's DNAT port
//! singled out), `ip-record-route` against `ping -R`, `tcp-traceroute`
//! against the lab's routes, `sniffer-detect` against the one host whose interface is
//! promiscuous (and the same host with promiscuous mode off). Captures work the same
//! through the XDP classifier and through the packet-socket fallback, and a script
//! cannot send outside the scan. Run by `cargo xtask test`.

use lab_tests::*;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use xtask::lab;

/// The `|   key: value` lines of script `id` in normal output, per host address.
fn script_lines(out: &str, id: &str) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut host = String::new();
    let mut inside = false;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Scan report for ") {
            host = rest.split(' ').next().unwrap_or("").to_string();
            inside = false;
        } else if line.starts_with(&format!("| {id}:")) || line.starts_with(&format!("|_{id}:")) {
            inside = true;
            let value = line.split_once(": ").map_or("", |(_, v)| v).trim();
            if !value.is_empty() {
                found
                    .entry(host.clone())
                    .or_default()
                    .push(value.to_string());
            }
            if line.starts_with("|_") {
                inside = false;
            }
        } else if inside && (line.starts_with("|   ") || line.starts_with("|_  ")) {
            found
                .entry(host.clone())
                .or_default()
                .push(line[4..].to_string());
            if line.starts_with("|_") {
                inside = false;
            }
        } else {
            inside = false;
        }
    }
    found
}

/// p0f's raw SYN+ACK signatures of kernel connections to `addr`'s `ports`, and the
/// system each matches in the scanner's own signature database (p0f's `os`).
fn p0f_signatures(addr: &str, ports: &[u16]) -> BTreeMap<u16, (String, String)> {
    let log = std::env::temp_dir().join(format!("scanner-p0f-{}.txt", std::process::id()));
    let db = xtask::workspace_root().join("fingerprints/synack-signatures");
    let mut p0f = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS, "p0f", "-i", "eth0", "-f"])
        .arg(&db)
        .arg(format!("tcp and host {addr}"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("p0f (cargo xtask setup installs it)");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for port in ports {
        let status = Command::new("ip")
            .args(["netns", "exec", lab::SCANNER_NS, "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{addr}/{port}; sleep 0.2"))
            .status()
            .unwrap();
        assert!(status.success(), "cannot connect to {addr}:{port}");
    }
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let _ = p0f.kill();
    let _ = p0f.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    // ".-[ 198.18.0.1/51712 -> 198.18.0.16/22 (syn+ack) ]-" then "| raw_sig  = ...".
    let mut signatures = BTreeMap::new();
    let mut port = None;
    let mut os = String::new();
    for line in text.lines() {
        if line.starts_with(".-[") {
            port = line
                .contains("(syn+ack)")
                .then(|| {
                    line.split(" -> ")
                        .nth(1)?
                        .split([' ', '/'])
                        .nth(1)?
                        .parse::<u16>()
                        .ok()
                })
                .flatten();
        } else if let Some(name) = line.strip_prefix("| os       = ") {
            os = name.trim().to_string();
        } else if let (Some(p), Some(sig)) = (port, line.strip_prefix("| raw_sig  = ")) {
            signatures.insert(p, (sig.trim().to_string(), std::mem::take(&mut os)));
        }
    }
    signatures
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn synack_fingerprints_match_p0f_and_single_out_the_forwarded_port() {
    require_lab();
    let win = lab::host("win");
    let addr = win.addr.to_string();
    let ports: Vec<u16> = win.listening_tcp_ports().into_iter().collect();
    let forwarded: Vec<u16> = win.forwards.iter().map(|f| f.port).collect();
    assert!(!forwarded.is_empty(), "the lab's win host forwards a port");
    let port_list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let p0f = p0f_signatures(&addr, &ports);
    let mut outputs = Vec::new();
    for mode in ["xdp", "packet"] {
        let out = scan_output(&[
            "--script",
            "synack-fingerprint",
            "-n",
            "--recv-mode",
            mode,
            "-p",
            &port_list,
            &addr,
        ])
        .unwrap();
        let lines = script_lines(&out, "synack-fingerprint");
        let lines = lines
            .get(&addr)
            .unwrap_or_else(|| panic!("no output:\n{out}"));
        for &port in &ports {
            let line = lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{port}/tcp: ")))
                .unwrap_or_else(|| panic!("no signature for {port}:\n{out}"));
            // "SIGNATURE -- OS, N hops", and " -- differs from ..." on another stack's port.
            let mut parts = line.split(" -- ");
            let (signature, matched) = (parts.next().unwrap(), parts.next().expect(line));
            let (p0f_signature, p0f_os) = &p0f[&port];
            assert_eq!(
                signature, p0f_signature,
                "port {port}: ours vs p0f's raw_sig ({mode})"
            );
            let os = matched
                .rsplit_once(", ")
                .filter(|(_, hops)| hops.ends_with(" hops"))
                .map_or(matched, |(os, _)| os);
            let os = if os == "no match" { "???" } else { os };
            assert_eq!(
                os, p0f_os,
                "port {port}: our match vs p0f's with the same database ({mode}):\n{out}"
            );
            assert!(os != "???", "the lab's stacks are in the database: {line}");
            assert_eq!(
                line.contains("differs from the host's other ports"),
                forwarded.contains(&port),
                "only the forwarded port is singled out ({mode}):\n{out}"
            );
        }
        outputs.push(lines.clone());
    }
    assert_eq!(
        outputs[0], outputs[1],
        "XDP and packet-socket captures differ"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn ip_record_route_lists_what_ping_r_lists() {
    require_lab();
    let far = lab::host("far").addr.to_string();
    let scanner_addr = lab::SCANNER_ADDR.to_string();
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab::SCANNER_NS,
            "ping",
            "-R",
            "-c1",
            "-W2",
            &far,
        ])
        .output()
        .expect("ping (iputils-ping; cargo xtask setup installs it)");
    let text = String::from_utf8_lossy(&ping.stdout);
    // "RR: \t198.18.0.1" then "\t198.18.1.1" … up to the next line without a tab.
    let mut route: Vec<String> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("RR:") {
            inside = true;
            route.push(rest.trim().to_string());
        } else if inside && line.starts_with('\t') {
            route.push(line.trim().to_string());
        } else {
            inside = false;
        }
    }
    assert!(route.len() > 2, "ping -R recorded nothing:\n{text}");
    // ping's own kernel writes this machine's address on the way out and in; raw
    // packets leave without it.
    route.retain(|addr| *addr != scanner_addr);
    let out = scan_output(&["--script", "ip-record-route", "-n", "-p", "80", &far]).unwrap();
    let ours = script_lines(&out, "ip-record-route");
    assert_eq!(ours.get(&far), Some(&route), "{out}\n{text}");
    // The router's two interfaces are on it, the way there and back.
    assert!(route.contains(&"198.18.1.1".to_string()) && route.contains(&"198.18.0.2".to_string()));
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn tcp_traceroute_follows_a_connection_through_the_router_and_the_firewall() {
    require_lab();
    let far = lab::host("far").addr.to_string();
    let web = lab::host("web").addr.to_string();
    // drop filters every TCP port but 22: the probes ride the connection to 22.
    let drop = lab::host("drop").addr.to_string();
    let router = lab::host("router").addr.to_string();
    // Through the classifier's captures, and through a packet socket's, whose frames
    // are read after the kernel received them: a frame received before the script's
    // capture opened (the connection's own handshake) must not reach it.
    for mode in ["xdp", "packet"] {
        let out = scan_output(&[
            "--script",
            "tcp-traceroute",
            "--recv-mode",
            mode,
            "-n",
            "-Pn",
            "-p",
            "22,80",
            &far,
            &web,
            &drop,
        ])
        .unwrap();
        let hops = script_lines(&out, "tcp-traceroute");
        assert_eq!(
            hops.get(&far),
            Some(&vec![
                format!("1  {router}"),
                format!("2  {far} (the host, port 80)")
            ]),
            "{mode}: {out}"
        );
        assert_eq!(
            hops.get(&web),
            Some(&vec![format!("1  {web} (the host, port 80)")]),
            "{mode}: {out}"
        );
        assert_eq!(
            hops.get(&drop),
            Some(&vec![format!("1  {drop} (the host, port 22)")]),
            "{mode}: {out}"
        );
    }
}

/// Turns the sniffer host's promiscuous mode back on when dropped.
struct PromiscuousAgain;

impl Drop for PromiscuousAgain {
    fn drop(&mut self) {
        lab::build::set_promiscuous(&lab::host("sniffer"), true).unwrap();
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn sniffer_detect_finds_the_promiscuous_interface() {
    require_lab();
    let sniffer = lab::host("sniffer");
    let addr = sniffer.addr.to_string();
    let args = [
        "--script",
        "sniffer-detect",
        "-n",
        "-p",
        "22",
        addr.as_str(),
    ];
    let out = scan_output(&args).unwrap();
    assert_eq!(
        script_lines(&out, "sniffer-detect").get(&addr),
        Some(&vec![
            "Likely in promiscuous mode (tests: \"11111111\")".to_string()
        ]),
        "{out}"
    );
    let _restore = PromiscuousAgain;
    lab::build::set_promiscuous(&sniffer, false).unwrap();
    // A macvlan delivers multicast frames from a work queue, through a filter the
    // kernel recomputes after the flag changes: on a loaded machine, frames to the
    // multicast addresses of the test still got through for a moment (seen once in a
    // full run: "1____1_1"). The host's answers are asked again until they settle.
    let mut tries = 0;
    let (out, err) = loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let (out, err) = scan_output_and_messages(&[&args[..], &["-d"]].concat()).unwrap();
        tries += 1;
        if !out.contains("sniffer-detect") || tries == 3 {
            break (out, err);
        }
    };
    assert!(!out.contains("sniffer-detect"), "{out}");
    // Only the all-hosts group and the real broadcast are answered.
    assert!(
        err.contains("not promiscuous (tests: \"_____1_1\")"),
        "{err}"
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn raw_packets_stay_inside_the_scan() {
    require_lab();
    let dir = std::env::temp_dir().join(format!("scanner-raw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("raw-probe.nse");
    std::fs::write(
        &script,
        r#"categories = {'test'}
hostrule = function() return true end
action = function(host)
  local ok, why = rawpacket.available()
  if not ok then return 'unavailable: ' .. why end
  local inside = rawpacket.send(rawpacket.icmp { dst = host.ip, icmp_id = 7 })
  local _, outside = rawpacket.send(rawpacket.icmp { dst = '198.18.0.11', icmp_id = 7 })
  local _, frame = rawpacket.send_frame(rawpacket.arp_request { target = '198.18.0.11' })
  return ('inside %s / outside %s / arp %s'):format(tostring(inside), outside, frame)
end
"#,
    )
    .unwrap();
    let web = lab::host("web").addr.to_string();
    let path = script.to_str().unwrap();
    let raw = scan_output(&["--script", path, "-n", "-p", "80", &web]).unwrap();
    let connect = scan_output(&["--script", path, "-sT", "-n", "-p", "80", &web]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        raw.contains("|_raw-probe: inside true / outside 198.18.0.11 is not a host this scan found up / arp 198.18.0.11 is not a host this scan found up"),
        "{raw}"
    );
    assert!(
        connect.contains("|_raw-probe: unavailable: raw packets need a raw-packet scan"),
        "{connect}"
    );
}
