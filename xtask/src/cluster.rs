//! `cargo xtask cluster up|down|sweep`: a real Slurm cluster on the lab, to run a
//! sweep's shards as a job array the way a team with a cluster would.
//!
//! Each "machine" is a namespace of its own on the lab segment (`lab-node0` …, at
//! 198.18.0.40 …) with a route to the sweep host's catch-all range, its own host name
//! (a UTS namespace) and its own `slurmd`; `lab-node0` also runs `slurmctld` and a
//! private `munged` (its own key and socket, so a system's munge is left alone).
//! Everything is Debian's `slurm-wlm` and `munge`, configured here, kept under
//! `/run/scanner-lab/cluster` and recorded as the lab records what it makes, so
//! `cluster down` (and `lab down`) remove exactly it.
//!
//! [`sweep`] submits one job array: task I runs `scanner --sweep --shard auto` (I from
//! `SLURM_ARRAY_TASK_ID`, N from `SLURM_ARRAY_TASK_COUNT`), all with one seed, each
//! continuing its saved state when Slurm reruns it (`--resume-or-start`), with its
//! JSON lines, metadata and status-updates files in the results folder.

use crate::lab::{self, record::Made};
use crate::shell::{in_ns, output, run};
use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the cluster keeps its configuration, state, logs and results.
pub const CLUSTER_DIR: &str = "/run/scanner-lab/cluster";
/// The first node's address; node I is at .40+I.
const FIRST_NODE: u8 = 40;
/// The most nodes the lab segment has room for here.
pub const MAX_NODES: usize = 8;

/// Node `i`'s namespace, host name and address.
pub fn node(i: usize) -> (String, String, Ipv4Addr) {
    (
        format!("lab-node{i}"),
        format!("node{i}"),
        Ipv4Addr::new(198, 18, 0, FIRST_NODE + i as u8),
    )
}

fn dir() -> PathBuf {
    PathBuf::from(CLUSTER_DIR)
}

fn record_path() -> PathBuf {
    dir().join("cluster.record")
}

/// The folder where sweeps write their shards' files.
pub fn results_dir() -> PathBuf {
    dir().join("results")
}

/// Whether a cluster is up.
pub fn is_up() -> bool {
    record_path().exists()
}

/// Builds a cluster of `nodes` machines on the lab (which must be up) and waits until
/// Slurm sees every node idle.
pub fn up(nodes: usize) -> Result<()> {
    if !(1..=MAX_NODES).contains(&nodes) {
        bail!("a lab cluster has 1 to {MAX_NODES} nodes");
    }
    if !lab::is_up() {
        bail!("the lab is down: run `cargo xtask lab up` first");
    }
    for program in ["slurmctld", "slurmd", "munged", "sbatch"] {
        if output("which", &[program]).is_err() {
            bail!(
                "{program} is missing: run `cargo xtask setup` (it installs slurm-wlm and munge)"
            );
        }
    }
    down()?;
    let mut made = Made::start(&record_path())?;
    for folder in ["spool", "state", "log", "results", "munge"] {
        std::fs::create_dir_all(dir().join(folder))?;
    }
    for i in 0..nodes {
        std::fs::create_dir_all(dir().join("spool").join(node(i).1))?;
    }
    write_munge_key()?;
    std::fs::write(dir().join("slurm.conf"), slurm_conf(nodes))?;
    std::fs::write(dir().join("cgroup.conf"), CGROUP_CONF)?;
    let router = lab::host("router");
    let sweep = lab::hosts()
        .into_iter()
        .find(|h| h.answers_range.is_some())
        .context("the lab needs a sweep host")?;
    for i in 0..nodes {
        let (ns, _, addr) = node(i);
        lab::build::add_machine(&ns, &format!("s-node{i}"), addr, false, &mut made)?;
        in_ns(
            &ns,
            &[
                "ip",
                "route",
                "add",
                lab::FAR_SEGMENT,
                "via",
                &router.addr.to_string(),
            ],
        )?;
        in_ns(
            &ns,
            &[
                "ip",
                "route",
                "add",
                lab::SWEEP_RANGE,
                "via",
                &sweep.addr.to_string(),
            ],
        )?;
    }
    let (head, head_name, _) = node(0);
    let munge_socket = munge_socket();
    in_ns(
        &head,
        &[
            "munged",
            "--force",
            &format!("--socket={}", munge_socket.display()),
            &format!("--key-file={}", dir().join("munge/munge.key").display()),
            &format!("--pid-file={}", dir().join("munge/munged.pid").display()),
            &format!("--log-file={}", dir().join("log/munged.log").display()),
            &format!("--seed-file={}", dir().join("munge/munged.seed").display()),
        ],
    )
    .context("starting munged (see /run/scanner-lab/cluster/log/munged.log)")?;
    as_host(&head, &head_name, "", "slurmctld")?;
    for i in 0..nodes {
        let (ns, name, _) = node(i);
        as_host(&ns, &name, MOUNT_CGROUPS, "slurmd")?;
    }
    made.processes_now()?;
    wait_for_idle_nodes(nodes)
}

/// slurmd wants the cgroup hierarchy, which `ip netns exec` hides (it mounts a
/// sysfs of the namespace's own): the v1 controllers are mounted again in the
/// namespace's private mount table (the same hierarchies as the machine's).
const MOUNT_CGROUPS: &str = "mount -t tmpfs cgroup_root /sys/fs/cgroup && \
    for c in freezer cpuset memory devices; do \
    mkdir -p /sys/fs/cgroup/$c && mount -t cgroup -o $c $c /sys/fs/cgroup/$c; done && ";

/// cgroup.conf: the v1 hierarchy [`MOUNT_CGROUPS`] mounts (the processes are tracked
/// without it, `proctrack/linuxproc`).
const CGROUP_CONF: &str = "CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\n";

/// Runs `prepare`, then `daemon -f slurm.conf` (it forks), in namespace `ns` under
/// host name `name`.
fn as_host(ns: &str, name: &str, prepare: &str, daemon: &str) -> Result<()> {
    let conf = dir().join("slurm.conf");
    in_ns(
        ns,
        &[
            "unshare",
            "--uts",
            "sh",
            "-c",
            &format!(
                "{prepare}hostname {name} && exec {daemon} -f {}",
                conf.display()
            ),
        ],
    )
    .with_context(|| format!("starting {daemon} on {name} (see {}/log)", CLUSTER_DIR))
}

fn munge_socket() -> PathBuf {
    dir().join("munge/munge.socket")
}

/// A fresh key for this cluster's munged (1 KiB of randomness, readable by root only).
fn write_munge_key() -> Result<()> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = [0u8; 1024];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    let path = dir().join("munge/munge.key");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, &key)?;
    Ok(())
}

/// Slurm's configuration: the head at node0, `nodes` nodes with one CPU each (one
/// shard at a time per machine), process tracking without cgroups (several slurmd
/// share one kernel here), requeue allowed, everything under [`CLUSTER_DIR`].
fn slurm_conf(nodes: usize) -> String {
    let (_, head_name, head_addr) = node(0);
    let d = CLUSTER_DIR;
    let last = nodes - 1;
    let (_, _, last_addr) = node(last);
    format!(
        "# Written by `cargo xtask cluster up`.\n\
         ClusterName=lab\n\
         SlurmctldHost={head_name}({head_addr})\n\
         SlurmUser=root\n\
         SlurmdUser=root\n\
         AuthType=auth/munge\n\
         CredType=cred/munge\n\
         AuthInfo=socket={d}/munge/munge.socket\n\
         ProctrackType=proctrack/linuxproc\n\
         TaskPlugin=task/none\n\
         JobAcctGatherType=jobacct_gather/none\n\
         SchedulerType=sched/backfill\n\
         SelectType=select/cons_tres\n\
         SelectTypeParameters=CR_CPU\n\
         ReturnToService=2\n\
         SlurmdParameters=config_overrides\n\
         MpiDefault=none\n\
         JobRequeue=1\n\
         KillWait=10\n\
         MinJobAge=600\n\
         SlurmctldPidFile={d}/slurmctld.pid\n\
         SlurmdPidFile={d}/slurmd-%n.pid\n\
         SlurmdSpoolDir={d}/spool/%n\n\
         StateSaveLocation={d}/state\n\
         SlurmctldLogFile={d}/log/slurmctld.log\n\
         SlurmdLogFile={d}/log/slurmd-%n.log\n\
         NodeName=node[0-{last}] NodeAddr=198.18.0.[{first}-{last_octet}] CPUs=1 State=UNKNOWN\n\
         PartitionName=lab Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
        first = FIRST_NODE,
        last_octet = last_addr.octets()[3],
    )
}

/// A Slurm command (`sbatch`, `squeue`, `scontrol`, `sinfo`) on the head node.
pub fn slurm(args: &[&str]) -> Result<String> {
    let (head, _, _) = node(0);
    let out = Command::new("ip")
        .args(["netns", "exec", &head])
        .args(args)
        .env("SLURM_CONF", dir().join("slurm.conf"))
        .output()
        .with_context(|| format!("running {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_for_idle_nodes(nodes: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let idle = slurm(&["sinfo", "-h", "-N", "-t", "idle", "-o", "%N"])
            .map(|text| text.lines().filter(|l| !l.trim().is_empty()).count())
            .unwrap_or(0);
        if idle == nodes {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "only {idle} of {nodes} Slurm nodes came up idle in 30 s (see {}/log)",
                CLUSTER_DIR
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What a cluster sweep is.
#[derive(Clone, Debug)]
pub struct ClusterSweep {
    pub shards: usize,
    pub seed: u64,
    pub ports: String,
    /// Packets per second of each shard.
    pub rate: u64,
    pub targets: String,
}

/// Submits `sweep` as a job array of `shards` tasks; returns the job id.
pub fn submit(sweep: &ClusterSweep, scanner: &Path) -> Result<String> {
    let results = results_dir();
    let script = results.join("sweep.sh");
    let task = |what: &str| format!("{}/shard-$SLURM_ARRAY_TASK_ID{what}", results.display());
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             # One shard of the sweep: task I of the array is shard I.\n\
             exec {scanner} --sweep --shard auto --seed {seed} -p {ports} --rate {rate} \\\n\
             \x20 --allow-reserved-targets --no-progress \\\n\
             \x20 --resume-or-start {state} \\\n\
             \x20 --metadata-file {meta} --status-updates-file {status} \\\n\
             \x20 -oJ {json} {targets}\n",
            scanner = scanner.display(),
            seed = sweep.seed,
            ports = sweep.ports,
            rate = sweep.rate,
            state = task(".state.json"),
            meta = task(".meta.json"),
            status = task(".status.csv"),
            json = task(".jsonl"),
            targets = sweep.targets,
        ),
    )?;
    run("chmod", &["755", script.to_str().context("a UTF-8 path")?])?;
    let array = format!("--array=0-{}", sweep.shards - 1);
    let out = format!("--output={}/slurm-%A_%a.out", results.display());
    let id = slurm(&[
        "sbatch",
        "--parsable",
        "--requeue",
        &array,
        &out,
        "--job-name=sweep",
        script.to_str().context("a UTF-8 path")?,
    ])?;
    Ok(id.trim().to_string())
}

/// The states of job `id`'s tasks (`RUNNING`, `PENDING`, ...), by task index; empty
/// once Slurm has forgotten a finished job.
pub fn task_states(id: &str) -> Result<Vec<(usize, String)>> {
    let text = slurm(&["squeue", "-h", "-r", "-j", id, "-o", "%K %T"])?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (index, state) = line.split_once(' ')?;
            Some((index.trim().parse().ok()?, state.trim().to_string()))
        })
        .collect())
}

/// Waits until no task of job `id` is queued or running.
pub fn wait_for_job(id: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !task_states(id)?.is_empty() {
        if Instant::now() > deadline {
            bail!(
                "job {id} still has tasks after {limit:?}: {:?}",
                task_states(id)?
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(())
}

/// Removes the cluster (its daemons, namespaces and folder), if one is up.
pub fn down() -> Result<()> {
    lab::build::remove_recorded(&record_path())
}

/// `cargo xtask cluster sweep`: a sweep of the catch-all range in `shards` shards on
/// the cluster; prints what each shard found and whether the union is the truth.
pub fn sweep_and_report(shards: usize, scanner: &Path) -> Result<()> {
    let sweep = ClusterSweep {
        shards,
        seed: 20261202,
        ports: "80".into(),
        rate: 20_000,
        targets: lab::SWEEP_RANGE.into(),
    };
    let started = Instant::now();
    let id = submit(&sweep, scanner)?;
    println!("==> job array {id}: {shards} shards of {}", sweep.targets);
    wait_for_job(&id, Duration::from_secs(300))?;
    let elapsed = started.elapsed();
    let mut total = 0;
    for shard in 0..shards {
        let meta = results_dir().join(format!("shard-{shard}.meta.json"));
        let text = std::fs::read_to_string(&meta)
            .with_context(|| format!("shard {shard} wrote no metadata ({})", meta.display()))?;
        let meta: serde_json::Value = serde_json::from_str(&text)?;
        total += meta["answers"].as_u64().unwrap_or(0);
        println!(
            "shard {shard}: sent {}, found {}, {:.0} pps, resumed {}",
            meta["sent"],
            meta["answers"],
            meta["rate_reached_pps"].as_f64().unwrap_or(0.0),
            meta["resumed"]
        );
    }
    println!(
        "==> {total} open ports found in {:.1} s (submission to the last shard's end); results in {}",
        elapsed.as_secs_f64(),
        results_dir().display()
    );
    Ok(())
}
