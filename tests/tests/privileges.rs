//! Root is dropped once the sockets and the classifier are open: while scripts run
//! (and while a sweep reads its replies) the scanner's /proc status shows no uid or
//! gid 0 and no capability, on every thread, and the results are still the lab's
//! truth. Also `--unprivileged`, `--privileged`, a process given capabilities instead
//! of root, and the sweep's resume file after the drop. Run by `cargo xtask test`.

use lab_tests::*;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xtask::lab::{self, PortState};

/// The web host and the ports scanned on it (three open, two closed).
const PORTS: &str = "21,22,80,443,8080";

/// A folder for one test's files, readable by everyone (the scanner reads the script
/// as root, before dropping, but the folder stays root's).
fn folder(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("scanner-privileges-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A script that sleeps `seconds` on each host, then says so.
fn sleeper(dir: &Path, seconds: u32) -> String {
    let path = dir.join("sleeper.nse");
    std::fs::write(
        &path,
        format!(
            "description = \"sleeps\"\ncategories = {{\"safe\"}}\n\
             local stdnse = require \"stdnse\"\n\
             hostrule = function(host) return true end\n\
             action = function(host) stdnse.sleep({seconds}) return \"slept\" end\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// One look at the scanner's /proc status (all its threads), and when.
struct Look {
    at: Duration,
    statuses: Vec<String>,
}

/// What a watched run printed and what /proc showed while it ran.
struct Watched {
    looks: Vec<Look>,
    elapsed: Duration,
    stdout: String,
    stderr: String,
    success: bool,
}

/// Runs `prefix` + the scanner + `args` in the scanner namespace, reading the
/// scanner's /proc/PID/task/*/status every 50 ms until it exits.
fn watch(prefix: &[&str], args: &[&str]) -> Watched {
    let binary = scanner_binary();
    let mut child = Command::new("ip")
        .args(["netns", "exec", lab::SCANNER_NS])
        .args(prefix)
        .arg(&binary)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip netns exec");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    // `ip netns exec` and setpriv exec the scanner: same pid, once exec'd.
    let pid = child.id();
    let started = Instant::now();
    let mut looks = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // The command name, not /proc/PID/exe: once the scanner has dropped root the
        // kernel makes it non-dumpable, and reading its exe link then needs
        // CAP_SYS_PTRACE, which a root in a container or a fresh chroot may not have.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() == "scanner" {
            let statuses: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
                .collect();
            // Still the scanner after reading (not a reused pid, not gone).
            if !statuses.is_empty() && child.try_wait().unwrap().is_none() {
                looks.push(Look {
                    at: started.elapsed(),
                    statuses,
                });
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the scan never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    Watched {
        looks,
        elapsed: started.elapsed(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        success: status.success(),
    }
}

/// The numbers of a `Uid:`/`Gid:` line, or the hex of a `Cap...:` line.
fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} line in\n{status}"))
        .trim()
}

/// Panics unless every thread of this look is without privileges.
fn assert_unprivileged(look: &Look) {
    for status in &look.statuses {
        for ids in ["Uid:", "Gid:"] {
            let values: Vec<u32> = field(status, ids)
                .split_whitespace()
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(values.len(), 4, "{status}");
            assert!(
                values.iter().all(|&id| id != 0),
                "{ids} {values:?} at {:?}: still root\n{status}",
                look.at
            );
        }
        for caps in ["CapEff:", "CapPrm:"] {
            assert_eq!(
                u64::from_str_radix(field(status, caps), 16).unwrap(),
                0,
                "{caps} at {:?}: capabilities left\n{status}",
                look.at
            );
        }
    }
}

/// The looks taken at or after `from` (while the sleeper sleeps), which must be some,
/// and the last look before the scanner ended: all without privileges.
fn assert_dropped_from(watched: &Watched, from: Duration) {
    let late: Vec<&Look> = watched.looks.iter().filter(|l| l.at >= from).collect();
    assert!(
        !late.is_empty(),
        "no look at the scanner after {from:?} (it ran {:?})\n{}",
        watched.elapsed,
        watched.stderr
    );
    late.into_iter().for_each(assert_unprivileged);
}

/// The web host's truth on [`PORTS`] against the states in a `-oJ` file (script
/// lines left out).
fn assert_web_truth(json: &Path) {
    let text = std::fs::read_to_string(json).unwrap();
    let findings: String = text
        .lines()
        .filter(|line| !line.contains("\"script\""))
        .map(|line| format!("{line}\n"))
        .collect();
    let found = parse_findings(&findings).expect("findings");
    let web = lab::host("web").addr.to_string();
    let expected = truth(&[web], PORTS);
    assert_eq!(differences(&expected, &found), Vec::<String>::new());
}

/// Scans the web host with `options`, `-n -p PORTS`, the sleeper (`seconds`) and
/// `more_scripts` beside it, and `-oJ` into `dir`, through `watch` with `prefix`;
/// checks that the scan succeeded, that every look while the sleeper slept was
/// unprivileged, and that the ports found are the lab's truth.
fn watch_web_scan(
    dir: &Path,
    prefix: &[&str],
    options: &[&str],
    seconds: u32,
    more_scripts: &str,
) -> Watched {
    let script = sleeper(dir, seconds);
    let scripts = format!("{script}{more_scripts}");
    let json = dir.join("found.jsonl");
    let web = lab::host("web").addr.to_string();
    let mut args = options.to_vec();
    args.extend([
        "-n",
        "-p",
        PORTS,
        "--script",
        &scripts,
        "-oJ",
        json.to_str().unwrap(),
        &web,
    ]);
    let watched = watch(prefix, &args);
    assert!(watched.success, "{}", watched.stderr);
    assert_dropped_from(&watched, Duration::from_secs(3));
    assert_web_truth(&json);
    watched
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn scripts_and_version_detection_of_a_syn_scan_run_without_root() {
    require_lab();
    let dir = folder("syn");
    let watched = watch_web_scan(
        &dir,
        &[],
        &["-sS", "-sV", "-d"],
        6,
        ",synack-fingerprint,tcp-traceroute",
    );
    assert!(
        watched.elapsed >= Duration::from_secs(6),
        "the script did not sleep"
    );
    assert!(
        watched
            .stderr
            .contains("privileges dropped: running as nobody (65534:65534)"),
        "{}",
        watched.stderr
    );
    assert!(
        watched.stdout.contains("|_sleeper: slept"),
        "{}",
        watched.stdout
    );
    // The probes after the drop left through AF_XDP and the replies came through the
    // classifier's ring (the descriptors keep working without capabilities).
    assert!(
        watched.stderr.contains("via AF_XDP") && watched.stderr.contains("replies via XDP"),
        "{}",
        watched.stderr
    );
    // Version detection and a raw-packet script (its capture keyed in the
    // classifier's map after the drop) still work, and the SYN+ACK signatures (a
    // capture opened before it) reach the scripts.
    assert!(watched.stdout.contains("OpenSSH"), "{}", watched.stdout);
    let web = lab::host("web").addr;
    assert!(
        watched
            .stdout
            .contains(&format!("1  {web} (the host, port 80)")),
        "{}",
        watched.stdout
    );
    for port in [22, 80, 443] {
        assert!(
            watched.stdout.contains(&format!("{port}/tcp: 4:64+0:")),
            "no SYN+ACK signature of port {port}:\n{}",
            watched.stdout
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_connect_scan_runs_without_root() {
    require_lab();
    let dir = folder("connect");
    let watched = watch_web_scan(&dir, &[], &["-sT"], 5, "");
    assert!(
        watched.stdout.contains("|_sleeper: slept"),
        "{}",
        watched.stdout
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn unprivileged_acts_without_raw_packets_and_still_drops_root() {
    require_lab();
    let dir = folder("unprivileged");
    let watched = watch_web_scan(&dir, &[], &["--unprivileged"], 5, "");
    assert!(
        watched
            .stderr
            .contains("--unprivileged: running a connect scan"),
        "{}",
        watched.stderr
    );
    // A raw scan is refused, not run.
    let web = lab::host("web").addr.to_string();
    let out = watch(&[], &["--unprivileged", "-sS", "-p", "22", &web]);
    assert!(!out.success);
    assert!(out.stderr.contains("--unprivileged"), "{}", out.stderr);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn capabilities_instead_of_root_are_dropped_too_and_privileged_skips_the_check() {
    require_lab();
    let dir = folder("caps");
    // The scanner never is root here: its output goes to a folder of its own user.
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    // As nobody with the capabilities raw packets and XDP need (as file capabilities
    // would give them): the scan works, and they are gone while scripts run.
    let caps = "+net_raw,+net_admin,+bpf,+perfmon,+ipc_lock";
    let watched = watch_web_scan(
        &dir,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps",
            caps,
            "--ambient-caps",
            caps,
        ],
        &["-sS"],
        5,
        "",
    );
    let first = watched.looks.first().expect("a look at the scanner");
    assert_ne!(
        field(&first.statuses[0], "CapEff:"),
        "0000000000000000",
        "the capabilities were not given"
    );
    let web = lab::host("web").addr.to_string();
    // --privileged takes the rights as given: without any, opening fails with the
    // kernel's answer instead of falling back to -sT.
    let out = watch(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        &[
            "--privileged",
            "-n",
            "-p",
            "22",
            "--send-mode",
            "packet",
            &web,
        ],
    );
    assert!(!out.success, "{}", out.stdout);
    assert!(
        !out.stderr.contains("running a connect scan"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Operation not permitted") || out.stderr.contains("EPERM"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_sweep_reads_its_replies_without_root_and_keeps_its_resume_file_safe() {
    require_lab();
    let dir = folder("sweep");
    let json = dir.join("found.jsonl");
    let resume = dir.join("resume.json");
    let watched = watch(
        &[],
        &[
            "--sweep",
            "-p",
            "80",
            "--allow-reserved-targets",
            "--no-progress",
            "--wait",
            "2",
            // One retry pass: what this checks is that replies are read after root
            // is gone, not a single probe's luck (a fresh-check run on a loaded
            // machine once missed one open port without it).
            "--retries",
            "1",
            "--resume-file",
            resume.to_str().unwrap(),
            "-oJ",
            json.to_str().unwrap(),
            lab::SEGMENT,
        ],
    );
    assert!(watched.success, "{}", watched.stderr);
    // The sweep waits 2 s for late replies after its last probe: look then.
    let last = watched.looks.last().expect("a look at the scanner");
    assert!(
        watched.elapsed.saturating_sub(last.at) < Duration::from_millis(500),
        "no look near the end"
    );
    assert_unprivileged(last);
    let found = parse_findings(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let segment: Vec<String> = lab::hosts()
        .iter()
        .filter(|h| h.addr.octets()[..3] == [198, 18, 0])
        .map(|h| h.addr.to_string())
        .collect();
    let open: States = truth(&segment, "80")
        .into_iter()
        .filter(|(_, state)| *state == PortState::Open)
        .collect();
    assert!(!open.is_empty());
    assert_eq!(differences(&open, &found), Vec::<String>::new());
    // The resume file was made before the drop (0600); the finished sweep leaves it
    // recording nothing (nobody may not remove it from root's folder).
    let meta = std::fs::metadata(&resume).expect("the resume file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 0);
    // A resume file planted as a symlink is refused before anything is sent.
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::remove_file(&resume).unwrap();
    std::os::unix::fs::symlink(&victim, &resume).unwrap();
    let out = watch(
        &[],
        &[
            "--sweep",
            "-p",
            "80",
            "--allow-reserved-targets",
            "--no-progress",
            "--resume-file",
            resume.to_str().unwrap(),
            lab::SEGMENT,
        ],
    );
    assert!(!out.success);
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    std::fs::remove_dir_all(dir).unwrap();
}
