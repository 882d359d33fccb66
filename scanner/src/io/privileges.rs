//! Privileges: whether this process may use raw packets, and giving them up for good.
//!
//! The scanner needs root (or CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF) only to load the
//! XDP classifier and open its sockets. Everything after that (banners, certificates,
//! DNS answers, Lua scripts written by others) runs as an unprivileged user: each scan
//! opens what needs privileges first, then calls [`drop_privileges`], which leaves no
//! way back (setgroups, setresgid, setresuid, PR_SET_NO_NEW_PRIVS, capabilities
//! cleared) and checks that it worked, or stops the scan.
//!
//! What the descriptors opened before still allow is measured, not assumed (kernel
//! 6.18): BPF map lookups and updates on a map descriptor, reading the ring buffers,
//! AF_XDP wakeups, and sending or receiving on packet sockets need no capability once
//! the descriptor is open.
//!
//! This module does not decide when to drop: the scan phases do, once their sockets
//! and maps are open.
//!
//! Off Linux (the portable build): macOS and the BSDs drop root with setgroups,
//! setgid and setuid, checked by trying to get root back; Windows has no such
//! switch, so there the scanner keeps the rights of the user who started it, and
//! says so once.

use anyhow::{bail, Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// Bit of CAP_NET_RAW in the capability sets.
#[cfg(target_os = "linux")]
const CAP_NET_RAW: u32 = 13;

/// The user a root process becomes when no other is named and sudo did not start it.
const NOBODY: (u32, u32) = (65534, 65534);

/// Whether this process runs as root (never, on Windows, in this sense).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    #[cfg(unix)]
    return unsafe { libc::geteuid() == 0 };
    #[cfg(windows)]
    false
}

/// True when raw sockets (and so -sS, sweeps, XDP) can be expected to work.
#[cfg(target_os = "linux")]
pub fn raw_packets_allowed() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    std::fs::read_to_string("/proc/self/status")
        .map(|status| has_cap_net_raw(&status))
        .unwrap_or(false)
}

/// True when libpcap can be expected to capture: as root, or where this user may
/// open the BPF devices (a group some installers make for Wireshark).
#[cfg(all(unix, not(target_os = "linux")))]
pub fn raw_packets_allowed() -> bool {
    let bpf_device_opens = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/bpf0")
            .or_else(|_| std::fs::OpenOptions::new().read(true).open("/dev/bpf"))
            .is_ok()
    };
    running_as_root() || bpf_device_opens()
}

/// On Windows, Npcap decides (it may be installed for administrators only); its
/// error, if it refuses, says so.
#[cfg(windows)]
pub fn raw_packets_allowed() -> bool {
    true
}

/// Reads `CapEff:` from a /proc/PID/status text.
#[cfg(target_os = "linux")]
fn has_cap_net_raw(status: &str) -> bool {
    capability_set(status, "CapEff:").is_some_and(|caps| caps & (1 << CAP_NET_RAW) != 0)
}

/// A capability set (`CapEff:`, `CapPrm:`, ...) from a /proc/PID/status text.
#[cfg(target_os = "linux")]
fn capability_set(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// The ids of a `Uid:` or `Gid:` line (real, effective, saved, filesystem).
#[cfg(target_os = "linux")]
fn ids(status: &str, field: &str) -> Option<Vec<u32>> {
    let line = status.lines().find_map(|line| line.strip_prefix(field))?;
    let ids: Vec<u32> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (ids.len() == 4).then_some(ids)
}

/// Why a /proc/PID/status text is not that of a process without privileges, if it
/// is not: every uid and gid non-zero, no effective, permitted or ambient capability.
#[cfg(target_os = "linux")]
pub fn privileges_left(status: &str) -> Option<String> {
    privileges_left_in(status, &["Uid:", "Gid:"])
}

/// [`privileges_left`], checking the id lines `ids` only.
#[cfg(target_os = "linux")]
fn privileges_left_in(status: &str, ids_checked: &[&str]) -> Option<String> {
    for &field in ids_checked {
        match ids(status, field) {
            None => return Some(format!("no readable {field} line")),
            Some(ids) if ids.contains(&0) => {
                return Some(format!("{field} {ids:?} still holds 0 (root)"))
            }
            Some(_) => {}
        }
    }
    for field in ["CapEff:", "CapPrm:", "CapAmb:"] {
        match capability_set(status, field) {
            Some(0) => {}
            // Kernels before 4.3 have no ambient set.
            None if field == "CapAmb:" => {}
            None => return Some(format!("no readable {field} line")),
            Some(caps) => return Some(format!("{field} is {caps:016x}, not empty")),
        }
    }
    None
}

/// The unprivileged user the scanner runs as once what needs privileges is open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name (or `uid N` when the password file has none).
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// `--run-as USER` (a name from /etc/passwd, or `UID[:GID]`); without it, the user
    /// who ran sudo (SUDO_UID/SUDO_GID), else `nobody` (65534:65534).
    pub fn choose(user: Option<&str>) -> Result<Self> {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let sudo = |name| std::env::var(name).ok();
        Self::choose_from(user, sudo("SUDO_UID"), sudo("SUDO_GID"), &passwd)
    }

    /// [`RunAs::choose`] with the environment and the password file given.
    fn choose_from(
        user: Option<&str>,
        sudo_uid: Option<String>,
        sudo_gid: Option<String>,
        passwd: &str,
    ) -> Result<Self> {
        if let Some(spec) = user {
            let run_as = Self::lookup(spec, passwd)?;
            if run_as.uid == 0 || run_as.gid == 0 {
                bail!("--run-as {spec}: the scanner drops root after opening its sockets; name an unprivileged user (not uid or gid 0)");
            }
            return Ok(run_as);
        }
        let from_sudo = sudo_uid
            .and_then(|uid| uid.parse::<u32>().ok())
            .filter(|&uid| uid != 0)
            .map(|uid| {
                let entry = Self::by_uid(uid, passwd);
                let gid = sudo_gid
                    .and_then(|gid| gid.parse::<u32>().ok())
                    .filter(|&gid| gid != 0)
                    .or(entry.as_ref().map(|e| e.gid).filter(|&gid| gid != 0))
                    .unwrap_or(NOBODY.1);
                let name = entry.map_or_else(|| format!("uid {uid}"), |e| e.name);
                Self { name, uid, gid }
            });
        if let Some(run_as) = from_sudo {
            return Ok(run_as);
        }
        Ok(Self::by_name("nobody", passwd)
            .filter(|e| e.uid != 0 && e.gid != 0)
            .unwrap_or(Self {
                name: "nobody".into(),
                uid: NOBODY.0,
                gid: NOBODY.1,
            }))
    }

    /// A user by name, by `UID` (its group from the password file, else the same
    /// number) or by `UID:GID`.
    fn lookup(spec: &str, passwd: &str) -> Result<Self> {
        if let Some((uid, gid)) = spec.split_once(':') {
            let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.parse::<u32>()) else {
                bail!("--run-as {spec}: expected a user name, UID or UID:GID");
            };
            let name = Self::by_uid(uid, passwd).map_or_else(|| format!("uid {uid}"), |e| e.name);
            return Ok(Self { name, uid, gid });
        }
        if let Ok(uid) = spec.parse::<u32>() {
            return Ok(Self::by_uid(uid, passwd).unwrap_or(Self {
                name: format!("uid {uid}"),
                uid,
                gid: uid,
            }));
        }
        Self::by_name(spec, passwd).with_context(|| {
            format!("--run-as {spec}: no such user in /etc/passwd (a UID or UID:GID works too)")
        })
    }

    fn by_name(name: &str, passwd: &str) -> Option<Self> {
        passwd_entries(passwd).find(|e| e.name == name)
    }

    fn by_uid(uid: u32, passwd: &str) -> Option<Self> {
        passwd_entries(passwd).find(|e| e.uid == uid)
    }
}

/// The entries of a password file (`name:x:uid:gid:...`), skipping what does not parse.
fn passwd_entries(passwd: &str) -> impl Iterator<Item = RunAs> + '_ {
    passwd.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?.trim();
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        (!name.is_empty() && !name.starts_with('#')).then(|| RunAs {
            name: name.to_string(),
            uid,
            gid,
        })
    })
}

/// Set once the process has dropped (the notice is said once).
static DROPPED: AtomicBool = AtomicBool::new(false);

/// Gives up every privilege for the rest of the process's life: as root, becomes
/// `to` (supplementary groups cleared, then real, effective and saved gid and uid;
/// glibc applies them to every thread); as another user (file capabilities), clears
/// its capabilities. Either way PR_SET_NO_NEW_PRIVS is set and the ambient set
/// cleared, and every thread's /proc status is checked: any uid or gid 0 or any
/// capability left is an error. Calling it again once dropped only checks.
/// `notice` (for `-d`) hears one line the first time.
#[cfg(target_os = "linux")]
pub fn drop_privileges(to: &RunAs, notice: Option<&mut dyn FnMut(&str)>) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_NO_NEW_PRIVS)");
    }
    let (mut ruid, mut euid, mut suid) = (0, 0, 0);
    // SAFETY: the three pointers are to live u32s.
    if unsafe { libc::getresuid(&mut ruid, &mut euid, &mut suid) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getresuid");
    }
    let as_root = [ruid, euid, suid].contains(&0);
    if as_root {
        // SAFETY: plain calls with no pointers but the empty group list (length 0).
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0 {
                return Err(std::io::Error::last_os_error())
                    .context("dropping root: setgroups([])");
            }
            if libc::setresgid(to.gid, to.gid, to.gid) != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("dropping root: setresgid({})", to.gid));
            }
            if libc::setresuid(to.uid, to.uid, to.uid) != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("dropping root: setresuid({})", to.uid));
            }
        }
    }
    clear_capabilities()?;
    // A user who started without root keeps the groups it had (gid 0 included, as
    // some containers give): without CAP_SETGID there is no changing them.
    check_dropped(if as_root {
        &["Uid:", "Gid:"]
    } else {
        &["Uid:"]
    })?;
    if !DROPPED.swap(true, Ordering::SeqCst) {
        if let Some(notice) = notice {
            let (uid, gid) = if as_root {
                (to.uid, to.gid)
            } else {
                // SAFETY: getuid and getgid have no preconditions.
                unsafe { (libc::getuid(), libc::getgid()) }
            };
            let who = if as_root {
                to.name.clone()
            } else {
                format!("uid {uid}")
            };
            notice(&format!(
                "privileges dropped: running as {who} ({uid}:{gid}) with no capabilities from here on"
            ));
        }
    }
    Ok(())
}

/// Gives up root for the rest of the process's life (macOS, the BSDs): supplementary
/// groups cleared, then gid and uid set to `to`'s, checked by trying to become root
/// again. A process not started as root has nothing to give up.
#[cfg(all(unix, not(target_os = "linux")))]
pub fn drop_privileges(to: &RunAs, notice: Option<&mut dyn FnMut(&str)>) -> Result<()> {
    // SAFETY: plain calls with no pointers but the empty group list (length 0).
    unsafe {
        if libc::geteuid() == 0 || libc::getuid() == 0 {
            if libc::setgroups(0, std::ptr::null()) != 0 {
                return Err(std::io::Error::last_os_error())
                    .context("dropping root: setgroups([])");
            }
            if libc::setgid(to.gid) != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("dropping root: setgid({})", to.gid));
            }
            if libc::setuid(to.uid) != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("dropping root: setuid({})", to.uid));
            }
        }
        if libc::setuid(0) == 0 || libc::geteuid() == 0 || libc::getegid() == 0 {
            bail!("dropping privileges did not take (root could be had back); refusing to go on with privileges");
        }
    }
    if !DROPPED.swap(true, Ordering::SeqCst) {
        if let Some(notice) = notice {
            // SAFETY: getuid and getgid have no preconditions.
            let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
            notice(&format!(
                "privileges dropped: running as uid {uid} ({uid}:{gid}) from here on"
            ));
        }
    }
    Ok(())
}

/// Windows has no way for a process to give up its user's rights: says so once.
#[cfg(windows)]
pub fn drop_privileges(_to: &RunAs, notice: Option<&mut dyn FnMut(&str)>) -> Result<()> {
    if !DROPPED.swap(true, Ordering::SeqCst) {
        if let Some(notice) = notice {
            notice("privileges are not dropped on Windows: scripts and parsers run with the rights of the user who started the scanner");
        }
    }
    Ok(())
}

/// Empties the calling thread's effective, permitted, inheritable and ambient
/// capability sets (setresuid away from root already emptied them on every thread;
/// this covers a non-root process given capabilities).
#[cfg(target_os = "linux")]
fn clear_capabilities() -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset with a version-3 header and the two data words it reads.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("clearing capabilities (capset)");
    }
    // SAFETY: prctl with integer arguments only. EINVAL: no ambient set (before 4.3).
    let cleared = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    if cleared != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
        return Err(std::io::Error::last_os_error()).context("clearing ambient capabilities");
    }
    Ok(())
}

/// Checks every thread's credentials (`ids` and capabilities) and this thread's
/// no_new_privs flag.
#[cfg(target_os = "linux")]
fn check_dropped(ids: &[&str]) -> Result<()> {
    let this = std::fs::read_to_string("/proc/thread-self/status")
        .context("checking the dropped privileges: reading /proc/thread-self/status")?;
    if !this
        .lines()
        .any(|line| line.split_whitespace().eq(["NoNewPrivs:", "1"]))
    {
        bail!("dropping privileges: PR_SET_NO_NEW_PRIVS did not take");
    }
    let tasks = std::fs::read_dir("/proc/self/task")
        .context("checking the dropped privileges: reading /proc/self/task")?;
    for task in tasks {
        let path = task?.path().join("status");
        // A thread that ended meanwhile has nothing left to check.
        let Ok(status) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Some(why) = privileges_left_in(&status, ids) {
            bail!(
                "dropping privileges did not take ({}: {why}); refusing to go on with privileges",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # a comment\n\
        broken line\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        alice:x:1000:1001:Alice:/home/alice:/bin/bash\n";

    fn user(name: &str, uid: u32, gid: u32) -> RunAs {
        RunAs {
            name: name.into(),
            uid,
            gid,
        }
    }

    #[test]
    fn reads_the_effective_set() {
        assert!(has_cap_net_raw("Name:\tx\nCapEff:\t0000000000002000\n"));
        assert!(has_cap_net_raw("CapEff:\t000001ffffffffff\n"));
        assert!(!has_cap_net_raw("CapEff:\t0000000000000000\n"));
        assert!(!has_cap_net_raw("Name:\tx\n"));
    }

    #[test]
    fn status_of_a_dropped_process_has_nothing_left() {
        let dropped = "Name:\tscanner\nUid:\t65534\t65534\t65534\t65534\n\
            Gid:\t65534\t65534\t65534\t65534\nCapInh:\t0000000000000000\n\
            CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n\
            CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n";
        assert_eq!(privileges_left(dropped), None);
        let saved_root = dropped.replace("Uid:\t65534\t65534\t65534", "Uid:\t65534\t65534\t0");
        assert!(privileges_left(&saved_root).unwrap().contains("Uid:"));
        let root_group = dropped.replace("Gid:\t65534", "Gid:\t0");
        assert!(privileges_left(&root_group).unwrap().contains("Gid:"));
        let raw = dropped.replace("CapEff:\t0000000000000000", "CapEff:\t0000000000002000");
        assert!(privileges_left(&raw).unwrap().contains("CapEff"));
        let permitted = dropped.replace("CapPrm:\t0000000000000000", "CapPrm:\t0000000000000001");
        assert!(privileges_left(&permitted).unwrap().contains("CapPrm"));
        let ambient = dropped.replace("CapAmb:\t0000000000000000", "CapAmb:\t0000000000000400");
        assert!(privileges_left(&ambient).unwrap().contains("CapAmb"));
        // The bounding set does not count; an unreadable status does.
        assert!(privileges_left("Name:\tx\n").is_some());
        assert!(privileges_left("Uid:\t1\t1\nGid:\t1\t1\t1\t1\n").is_some());
        // Started without root: a group 0 it cannot change is not held against it.
        assert_eq!(privileges_left_in(&root_group, &["Uid:"]), None);
        assert!(privileges_left_in(&raw, &["Uid:"]).is_some());
    }

    #[test]
    fn the_default_user_is_sudos_caller_else_nobody() {
        let choose = |uid: Option<&str>, gid: Option<&str>, passwd| {
            RunAs::choose_from(None, uid.map(Into::into), gid.map(Into::into), passwd).unwrap()
        };
        assert_eq!(choose(None, None, PASSWD), user("nobody", 65534, 65534));
        assert_eq!(choose(None, None, ""), user("nobody", 65534, 65534));
        assert_eq!(
            choose(Some("1000"), Some("1001"), PASSWD),
            user("alice", 1000, 1001)
        );
        assert_eq!(
            choose(Some("1000"), None, PASSWD),
            user("alice", 1000, 1001)
        );
        assert_eq!(
            choose(Some("4242"), Some("77"), PASSWD),
            user("uid 4242", 4242, 77)
        );
        // sudo run by root, or nonsense in the environment: nobody.
        assert_eq!(
            choose(Some("0"), Some("0"), PASSWD),
            user("nobody", 65534, 65534)
        );
        assert_eq!(
            choose(Some("x"), None, PASSWD),
            user("nobody", 65534, 65534)
        );
        assert_eq!(
            choose(Some("4242"), Some("0"), ""),
            user("uid 4242", 4242, 65534)
        );
    }

    /// Set in the child process [`dropping_leaves_nothing_on_any_thread`] starts.
    const CHILD: &str = "SCANNER_PRIVILEGES_TEST_CHILD";

    #[test]
    fn dropping_leaves_nothing_on_any_thread() {
        if std::env::var_os(CHILD).is_some() {
            // The child: a thread started before the drop must be dropped too.
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let waiting = std::thread::spawn(move || rx.recv());
            drop_privileges(&user("nobody", 65534, 65534), None).unwrap();
            for task in std::fs::read_dir("/proc/self/task").unwrap() {
                let status = std::fs::read_to_string(task.unwrap().path().join("status"));
                assert_eq!(privileges_left(&status.unwrap()), None);
            }
            // SAFETY: plain calls; their results are checked.
            unsafe {
                assert_ne!(libc::setresuid(0, 0, 0), 0, "root came back");
                let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
                assert_eq!(fd, -1, "a packet socket opened after the drop");
            }
            // Once dropped, dropping again only checks.
            drop_privileges(&user("nobody", 65534, 65534), None).unwrap();
            tx.send(()).unwrap();
            waiting.join().unwrap().unwrap();
            println!("dropped: nothing left");
            return;
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: only root has privileges to drop");
            return;
        }
        // Dropping is for good: done in a child process, this test alone.
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "io::privileges::tests::dropping_leaves_nothing_on_any_thread",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("dropped: nothing left"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn run_as_takes_names_and_numbers_and_refuses_root() {
        let run_as = |spec| RunAs::choose_from(Some(spec), Some("1000".into()), None, PASSWD);
        assert_eq!(run_as("daemon").unwrap(), user("daemon", 1, 1));
        assert_eq!(run_as("alice").unwrap(), user("alice", 1000, 1001));
        assert_eq!(run_as("1000").unwrap(), user("alice", 1000, 1001));
        assert_eq!(run_as("5000").unwrap(), user("uid 5000", 5000, 5000));
        assert_eq!(run_as("5000:6000").unwrap(), user("uid 5000", 5000, 6000));
        assert!(run_as("root")
            .unwrap_err()
            .to_string()
            .contains("unprivileged"));
        assert!(run_as("0").is_err());
        assert!(run_as("1000:0").is_err());
        assert!(run_as("mallory")
            .unwrap_err()
            .to_string()
            .contains("no such user"));
        assert!(run_as("1:x").is_err());
        assert!(run_as("").is_err());
    }
}
