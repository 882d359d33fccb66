//! What `lab up` made, written down as it is made, so that `lab down` removes exactly
//! that: the namespaces (by name and by the kernel's identity of each, so that a name
//! reused by someone else is left alone), the processes running in them when the lab
//! was ready (by pid and start time, so that a reused pid is left alone), and the
//! folders. It lives in the lab's state folder, as plain lines (`namespace NAME INODE`,
//! `process PID START NAMESPACE`, `folder PATH`).
//!
//! Deliberately no knowledge of how the lab is built (that is [`super::build`]), and
//! no guessing from names: another `lab-*` namespace is never chosen because of its
//! name. A lab made before records existed is removed by the lab's definition (the
//! namespaces [`super`] names), never by the `lab-` prefix.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The record's file name inside the lab's state folder.
pub const RECORD_FILE: &str = "made-by-lab-up";

/// A namespace `lab up` made: its name and its nsfs inode (`None` for a lab made
/// before records existed, whose namespaces are known by name only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub inode: Option<u64>,
}

/// A process running in the lab's namespaces when `lab up` finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// Start time in clock ticks after boot (`/proc/PID/stat`, field 22).
    pub start: u64,
    /// The nsfs inode of its network namespace.
    pub netns: u64,
}

/// Everything `lab up` made, in the order it was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Made {
    pub namespaces: Vec<Namespace>,
    pub processes: Vec<Process>,
    pub folders: Vec<PathBuf>,
    /// Where the record is kept (written again after each addition); none for a
    /// record read or built only to be removed.
    path: Option<PathBuf>,
}

impl Made {
    /// A new record at `path`, with the folder that holds it as its first entry.
    pub fn start(path: &Path) -> Result<Self> {
        let mut made = Self {
            path: Some(path.to_path_buf()),
            ..Self::default()
        };
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("creating {}", folder.display()))?;
            made.folders.push(folder.to_path_buf());
        }
        made.save()?;
        Ok(made)
    }

    /// Reads the record at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text)
                .map(Some)
                .with_context(|| format!("reading the lab's record {}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// What a lab made before records existed is taken to be: the namespaces the
    /// lab's definition names (by name only), and its folders.
    pub fn by_definition(namespaces: &[String], folders: &[PathBuf]) -> Self {
        Self {
            namespaces: namespaces
                .iter()
                .map(|name| Namespace {
                    name: name.clone(),
                    inode: None,
                })
                .collect(),
            folders: folders.to_vec(),
            ..Self::default()
        }
    }

    /// Records the namespace `name`, just made.
    pub fn namespace(&mut self, name: &str) -> Result<()> {
        let inode = namespace_inode(name)
            .with_context(|| format!("namespace {name} was made but cannot be found"))?;
        self.namespaces.push(Namespace {
            name: name.to_string(),
            inode: Some(inode),
        });
        self.save()
    }

    /// Records the folder `path`, just made.
    pub fn folder(&mut self, path: &Path) -> Result<()> {
        self.folders.push(path.to_path_buf());
        self.save()
    }

    /// Records every process now running in the recorded namespaces.
    pub fn processes_now(&mut self) -> Result<()> {
        let inodes: Vec<u64> = self.namespaces.iter().filter_map(|n| n.inode).collect();
        self.processes = live_processes()
            .into_iter()
            .filter(|p| inodes.contains(&p.netns))
            .collect();
        self.save()
    }

    fn save(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        std::fs::write(path, self.to_text())
            .with_context(|| format!("writing the lab's record {}", path.display()))
    }

    fn to_text(&self) -> String {
        let mut text = String::new();
        for ns in &self.namespaces {
            let inode = ns.inode.map_or("-".to_string(), |i| i.to_string());
            text.push_str(&format!("namespace {} {inode}\n", ns.name));
        }
        for p in &self.processes {
            text.push_str(&format!("process {} {} {}\n", p.pid, p.start, p.netns));
        }
        for folder in &self.folders {
            text.push_str(&format!("folder {}\n", folder.display()));
        }
        text
    }

    fn parse(text: &str) -> Result<Self> {
        let mut made = Self::default();
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split(' ').collect();
            let number = |s: &str| -> Result<u64> {
                s.parse()
                    .with_context(|| format!("line {}: {s:?} is not a number", n + 1))
            };
            match fields.as_slice() {
                ["namespace", name, "-"] => made.namespaces.push(Namespace {
                    name: name.to_string(),
                    inode: None,
                }),
                ["namespace", name, inode] => made.namespaces.push(Namespace {
                    name: name.to_string(),
                    inode: Some(number(inode)?),
                }),
                ["process", pid, start, netns] => made.processes.push(Process {
                    pid: u32::try_from(number(pid)?).context("pid")?,
                    start: number(start)?,
                    netns: number(netns)?,
                }),
                ["folder", ..] if line.len() > "folder ".len() => {
                    made.folders.push(PathBuf::from(&line["folder ".len()..]))
                }
                [""] => {}
                _ => bail!("line {}: {line:?} is not a record line", n + 1),
            }
        }
        Ok(made)
    }
}

/// What `lab down` does, given what exists now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removal {
    /// Namespaces to delete.
    pub namespaces: Vec<String>,
    /// Processes to stop: those `lab up` started and anything else running inside
    /// the namespaces it made (which deleting the namespace would strand).
    pub processes: Vec<u32>,
    /// Recorded names that now belong to another namespace: left alone.
    pub reused: Vec<String>,
}

/// Chooses what to remove: the namespaces of `made` that exist (`existing`: name →
/// inode) and are still the ones made, the processes inside them, and the processes
/// `made` recorded that are still the same (pid and start time). Nothing else.
pub fn select(made: &Made, existing: &BTreeMap<String, u64>, processes: &[Process]) -> Removal {
    let mut removal = Removal::default();
    let mut inodes = Vec::new();
    for ns in &made.namespaces {
        let Some(&now) = existing.get(&ns.name) else {
            continue;
        };
        if ns.inode.is_some_and(|made| made != now) {
            removal.reused.push(ns.name.clone());
            continue;
        }
        removal.namespaces.push(ns.name.clone());
        inodes.push(now);
    }
    for p in processes {
        let started_by_up = made
            .processes
            .iter()
            .any(|r| r.pid == p.pid && r.start == p.start);
        if inodes.contains(&p.netns) || started_by_up {
            removal.processes.push(p.pid);
        }
    }
    removal
}

/// The names in `ip netns list` output ("NAME" or "NAME (id: N)" per line).
pub fn parse_netns_list(list: &str) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every named network namespace now (from `ip netns list`), with its inode.
pub fn live_namespaces() -> Result<BTreeMap<String, u64>> {
    let list = crate::shell::output("ip", &["netns", "list"])?;
    Ok(parse_netns_list(&list)
        .into_iter()
        .filter_map(|name| Some((name.clone(), namespace_inode(&name).ok()?)))
        .collect())
}

/// The nsfs inode of the named namespace `name`.
pub fn namespace_inode(name: &str) -> Result<u64> {
    Ok(std::fs::metadata(Path::new("/run/netns").join(name))?.ino())
}

/// Every process now, with its start time and network namespace (those that exit
/// while being read are left out).
pub fn live_processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let netns = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?.ino();
            Some(Process {
                pid,
                start: start_time(&stat)?,
                netns,
            })
        })
        .collect()
}

/// Field 22 (starttime) of a `/proc/PID/stat` line; the command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, start: u64, netns: u64) -> Process {
        Process { pid, start, netns }
    }

    #[test]
    fn the_record_is_written_as_it_grows_and_read_back() {
        let dir = std::env::temp_dir().join(format!("lab-record-{}", std::process::id()));
        let path = dir.join(RECORD_FILE);
        let mut made = Made::start(&path).unwrap();
        made.namespaces.push(Namespace {
            name: "lab-web".into(),
            inode: Some(4026532801),
        });
        made.processes.push(process(4242, 987654, 4026532801));
        made.folder(Path::new("/etc/netns/lab scanner")).unwrap();
        let read = Made::read(&path).unwrap().expect("a record");
        assert_eq!(read.namespaces, made.namespaces);
        assert_eq!(read.processes, made.processes);
        assert_eq!(read.folders, [dir.clone(), "/etc/netns/lab scanner".into()]);
        std::fs::write(&path, "namespace lab-web\n").unwrap();
        assert!(Made::read(&path).is_err(), "a damaged record is an error");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(Made::read(&path).unwrap(), None);
    }

    #[test]
    fn removes_what_up_made_and_nothing_else() {
        let made = Made {
            namespaces: vec![
                Namespace {
                    name: "lab-web".into(),
                    inode: Some(10),
                },
                Namespace {
                    name: "lab-switch".into(),
                    inode: Some(11),
                },
                Namespace {
                    name: "lab-gone".into(),
                    inode: Some(13),
                },
            ],
            processes: vec![process(100, 5, 10), process(300, 8, 13)],
            ..Made::default()
        };
        let existing: BTreeMap<String, u64> = [
            ("lab-web".to_string(), 10),
            ("lab-switch".to_string(), 99),
            ("lab-keepme-7".to_string(), 12),
        ]
        .into();
        let processes = [
            process(100, 5, 10), // started by up
            process(101, 9, 10), // started later inside the lab's namespace
            process(200, 1, 12), // in another lab-* namespace
            process(201, 2, 99), // in the namespace that took over a recorded name
            process(300, 8, 13), // started by up, its namespace's name deleted by hand
            process(400, 3, 1),  // the root namespace
        ];
        assert_eq!(
            select(&made, &existing, &processes),
            Removal {
                namespaces: vec!["lab-web".into()],
                processes: vec![100, 101, 300],
                reused: vec!["lab-switch".into()],
            }
        );
        // A pid reused by another process is not the one up started.
        let reused_pid = [process(100, 6, 1)];
        assert!(select(&made, &existing, &reused_pid).processes.is_empty());
    }

    #[test]
    fn without_a_record_only_the_defined_namespaces_go() {
        let list = "lab-keepme-7 (id: 5)\nlab-web (id: 2)\nlab-switch\nother\n";
        let names = parse_netns_list(list);
        assert_eq!(names, ["lab-keepme-7", "lab-web", "lab-switch", "other"]);
        let existing: BTreeMap<String, u64> = names.into_iter().zip([12, 10, 11, 1]).collect();
        let defined = ["lab-switch", "lab-scanner", "lab-web"].map(String::from);
        let made = Made::by_definition(&defined, &[]);
        let processes = [process(1, 1, 1), process(50, 4, 11), process(200, 1, 12)];
        assert_eq!(
            select(&made, &existing, &processes),
            Removal {
                namespaces: vec!["lab-switch".into(), "lab-web".into()],
                processes: vec![50],
                reused: vec![],
            }
        );
    }

    #[test]
    fn reads_the_start_time_past_a_strange_command_name() {
        let stat =
            "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50";
        assert_eq!(start_time(stat), Some(987654));
        assert_eq!(start_time("garbage"), None);
    }
}
