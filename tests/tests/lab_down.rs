//! `cargo xtask lab down` removes only what `lab up` made: on the running lab (left
//! up), what `down` would remove is worked out with another `lab-*` namespace and a
//! process in it beside the lab, and neither is chosen. Run by `cargo xtask test`,
//! whose `lab up` writes the record.

use lab_tests::*;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use xtask::lab::record::{live_namespaces, live_processes, namespace_inode, select, Made};
use xtask::lab::{self, record::RECORD_FILE, STATE_DIR};

/// A namespace named like the lab's but not made by it, with a sleeping process in
/// it; both removed when dropped.
struct Bystander {
    name: String,
    sleeper: Child,
}

impl Bystander {
    fn start() -> Self {
        let name = format!("lab-keepme-{}", std::process::id());
        xtask::shell::run("ip", &["netns", "add", &name]).unwrap();
        let sleeper = Command::new("ip")
            .args(["netns", "exec", &name, "sleep", "60"])
            .spawn()
            .unwrap();
        Self { name, sleeper }
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
        let _ = xtask::shell::run("ip", &["netns", "del", &self.name]);
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn lab_down_leaves_other_lab_namespaces_and_their_processes_alone() {
    require_lab();
    let record = std::path::Path::new(STATE_DIR).join(RECORD_FILE);
    let made = Made::read(&record)
        .unwrap()
        .expect("the lab has no record: bring it up with this version's `cargo xtask lab up`");
    let bystander = Bystander::start();
    let inode = namespace_inode(&bystander.name).unwrap();
    // `ip netns exec` execs sleep: its pid is the child's, once it is in the namespace.
    let pid = bystander.sleeper.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !live_processes()
        .iter()
        .any(|p| p.pid == pid && p.netns == inode)
    {
        assert!(
            Instant::now() < deadline,
            "the sleeper never entered {}",
            bystander.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let removal = select(&made, &live_namespaces().unwrap(), &live_processes());
    assert!(
        !removal.namespaces.contains(&bystander.name),
        "down would delete {}",
        bystander.name
    );
    assert!(
        !removal.processes.contains(&pid),
        "down would kill the process in {}",
        bystander.name
    );
    // And it still removes the whole lab: every namespace the lab defines, and the
    // daemons `up` started.
    let mut defined = vec![lab::SWITCH_NS.to_string(), lab::SCANNER_NS.to_string()];
    defined.extend(lab::hosts().iter().map(lab::Host::namespace));
    for name in &defined {
        assert!(removal.namespaces.contains(name), "down would leave {name}");
    }
    assert!(!made.processes.is_empty(), "up recorded no daemon");
    let alive = live_processes();
    for recorded in &made.processes {
        if alive
            .iter()
            .any(|p| p.pid == recorded.pid && p.start == recorded.start)
        {
            assert!(
                removal.processes.contains(&recorded.pid),
                "down would leave process {} that up started",
                recorded.pid
            );
        }
    }
    assert!(removal.reused.is_empty(), "{:?}", removal.reused);
}
