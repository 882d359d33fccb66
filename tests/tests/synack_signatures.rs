//! Passive SYN+ACK signatures: each open port's signature, read from the SYN+ACK the
//! SYN scan received, equals what p0f itself reads from the same SYN+ACK (captured on
//! the switch port of the scanner, so with the TTL the scanner saw, beside the SYN
//! p0f needs to see first), and names the system p0f names from the project's own
//! signature database (`fingerprints/synack-signatures`, given to both). Through the
//! XDP classifier's capture, and through the packet socket where the classifier is not
//! used for replies.
//! Run by `cargo xtask test`, which brings the lab up first.

use lab_tests::*;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// (host, port) → p0f signature and the system it matches in the project's own
/// signature database (`???` for none, as p0f writes it).
type Signatures = BTreeMap<(Ipv4Addr, u16), (String, String)>;

/// The hosts with open TCP ports on the segment, behind the router, and a port
/// forwarded to another machine.
const HOSTS: [&str; 5] = [
    "198.18.0.10",
    "198.18.0.11",
    "198.18.0.12",
    "198.18.0.16",
    "198.18.1.10",
];

/// A tcpdump on the switch port of the scanner, writing a pcap.
struct SwitchCapture {
    child: std::process::Child,
    path: std::path::PathBuf,
}

impl SwitchCapture {
    fn start(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("scanner-synack-{}-{name}.pcap", std::process::id()));
        let child = Command::new("ip")
            .args(["netns", "exec", "lab-switch", "tcpdump", "-i", "s-scanner"])
            .args(["-U", "-B", "16384", "-w"])
            .arg(&path)
            .arg("tcp")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump");
        std::thread::sleep(Duration::from_millis(700));
        SwitchCapture { child, path }
    }

    /// Stops the capture and returns what p0f read of each SYN+ACK in it.
    fn p0f_signatures(mut self) -> Signatures {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill(2) on our child (`ip netns exec` execs tcpdump).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        make_probes_look_like_a_stack(&self.path);
        let log = self.path.with_extension("p0f.log");
        let status = Command::new("p0f")
            .arg("-f")
            .arg(xtask::workspace_root().join("fingerprints/synack-signatures"))
            .arg("-r")
            .arg(&self.path)
            .arg("-o")
            .arg(&log)
            .stdout(Stdio::null())
            .status()
            .expect("p0f (installed by cargo xtask setup)");
        assert!(status.success(), "p0f failed on the capture");
        let text = std::fs::read_to_string(&log).expect("p0f's log");
        let _ = std::fs::remove_file(&log);
        parse_p0f_log(&text)
    }
}

impl Drop for SwitchCapture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// p0f drops the flow of a SYN it takes for a scanner's (nmap's SYN scan signature,
/// window 1024 and an MSS option alone) before its SYN+ACK: the scanner's SYNs in the
/// capture get window 65535, as a stack's would have, and keep their MSS (which p0f
/// reads when sizing the SYN+ACK's window). Nothing of the SYN+ACKs is touched.
fn make_probes_look_like_a_stack(pcap: &std::path::Path) {
    let mut bytes = std::fs::read(pcap).expect("the capture");
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian pcap"
    );
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let captured = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = at + 16;
        let end = (frame + captured).min(bytes.len());
        let packet = &mut bytes[frame..end];
        // Ethernet, IPv4 without options, TCP from the scanner with SYN alone.
        if packet.len() >= 54
            && packet[12..14] == [0x08, 0x00]
            && packet[14] == 0x45
            && packet[23] == 6
            && packet[26..30] == [198, 18, 0, 1]
            && packet[47] == 0x02
        {
            packet[48..50].copy_from_slice(&[0xff, 0xff]);
        }
        at = frame + captured;
    }
    std::fs::write(pcap, bytes).unwrap();
}

/// p0f's log lines for SYN+ACKs (`mod=syn+ack|cli=...|srv=ADDR/PORT|...|raw_sig=SIG`).
fn parse_p0f_log(text: &str) -> Signatures {
    let mut found = Signatures::new();
    for line in text.lines().filter(|l| l.contains("mod=syn+ack|")) {
        let field = |name: &str| {
            line.split('|')
                .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        };
        let (Some(server), Some(signature), Some(os)) =
            (field("srv"), field("raw_sig"), field("os"))
        else {
            continue;
        };
        let Some((addr, port)) = server.split_once('/') else {
            continue;
        };
        if let (Ok(addr), Ok(port)) = (addr.parse(), port.parse()) {
            found
                .entry((addr, port))
                .or_insert_with(|| (signature.to_string(), os.to_string()));
        }
    }
    found
}

/// The scanner's signatures from its JSON lines.
fn our_signatures(json: &str) -> Signatures {
    let mut found = Signatures::new();
    for line in json.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(signature) = value["synack"]["signature"].as_str() else {
            continue;
        };
        let addr = value["addr"].as_str().unwrap().parse().unwrap();
        let port = value["port"].as_u64().unwrap() as u16;
        let os = value["synack"]["match"]["os"].as_str().unwrap_or("???");
        found.insert((addr, port), (signature.to_string(), os.to_string()));
    }
    found
}

fn signatures_equal_p0fs(extra: &[&str], recv: &str) {
    require_lab();
    let hosts: Vec<String> = HOSTS.iter().map(|h| h.to_string()).collect();
    let ports = standard_ports();
    let mut args = vec!["-sS", "-p", &ports, "--synack-signatures", "-v", "-oJ", "-"];
    args.extend(extra);
    args.extend(HOSTS);
    let capture = SwitchCapture::start(recv);
    let (json, messages) = scan_output_and_messages(&args).expect("scan");
    let theirs = capture.p0f_signatures();
    assert_eq!(
        paths_used(&messages).map(|(_, recv)| recv).as_deref(),
        Some(recv),
        "{messages}"
    );
    let ours = our_signatures(&json);
    let findings: String = json
        .lines()
        .filter(|l| !l.contains("\"synack\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let open: Vec<(Ipv4Addr, u16)> = open_of(parse_findings(&findings).unwrap());
    let expected: Vec<(Ipv4Addr, u16)> = open_of(truth(&hosts, &ports));
    assert_eq!(
        open, expected,
        "the scan is wrong before its signatures are"
    );
    // Every open port has one, and only open ports.
    let signed: Vec<(Ipv4Addr, u16)> = ours.keys().copied().collect();
    assert_eq!(signed, expected, "ports with a signature");
    for (port, signature) in &ours {
        assert_eq!(
            theirs.get(port),
            Some(signature),
            "{}:{}: ours {signature:?}, p0f's {:?} (signature and match)",
            port.0,
            port.1,
            theirs.get(port)
        );
    }
    // Every lab stack is in the database (both sides saying `???` would agree).
    for (port, (signature, os)) in &ours {
        assert_ne!(
            os, "???",
            "{}:{} {signature} matched nothing",
            port.0, port.1
        );
    }
    // The forward's signature is another stack's (the svc host's, one hop further).
    let forwarded = &ours[&("198.18.0.16".parse().unwrap(), 8022)];
    let direct = &ours[&("198.18.0.16".parse().unwrap(), 22)];
    assert_ne!(
        forwarded, direct,
        "the forwarded port looks like the host's own"
    );
}

#[test]
#[ignore = "needs the lab: run with cargo xtask test"]
fn signatures_through_xdp_equal_p0fs() {
    signatures_equal_p0fs(&[], "XDP");
}

#[test]
#[ignore = "needs the lab: run with cargo xtask test"]
fn signatures_through_the_packet_socket_equal_p0fs() {
    signatures_equal_p0fs(&["--recv-mode", "packet"], "AF_PACKET");
}
