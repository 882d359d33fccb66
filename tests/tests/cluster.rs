//! A sweep on a real scheduler: Slurm (Debian's slurmctld, slurmd and munge) on a
//! cluster of three lab machines (`cargo xtask cluster up`), one job array of three
//! shards over the catch-all /16. One task is requeued mid-sweep (Slurm sends it
//! SIGTERM, it saves its state, Slurm runs it again, it continues): the union of the
//! shards' findings is still exactly the range, each address once, and the sweep
//! host counted exactly one SYN per address, so no address was probed twice or
//! skipped across shards and the requeue. Each shard's metadata says what it did.
//! Run by `cargo xtask test`, which brings the lab up first.

use lab_tests::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use xtask::cluster::{self, ClusterSweep};
use xtask::lab;

/// Waits until `shard` of job `id` is running and its status file shows probes sent.
fn wait_until_sending(id: &str, shard: usize) {
    let status = cluster::results_dir().join(format!("shard-{shard}.status.csv"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = cluster::task_states(id)
            .unwrap()
            .contains(&(shard, "RUNNING".to_string()));
        let lines = std::fs::read_to_string(&status).map_or(0, |t| t.lines().count());
        if running && lines >= 3 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "shard {shard} never started sending"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn a_job_array_sweeps_the_range_exactly_once_across_shards_and_a_requeue() {
    require_lab();
    let sweep_host = lab::host("sweep");
    cluster::up(3).expect("cluster up");
    lab::build::reset_syn_count(&sweep_host).unwrap();
    let sweep = ClusterSweep {
        shards: 3,
        seed: 4242,
        ports: "80".into(),
        rate: 4000,
        targets: lab::SWEEP_RANGE.into(),
    };
    let id = cluster::submit(&sweep, &scanner_binary()).expect("sbatch");
    wait_until_sending(&id, 1);
    cluster::slurm(&["scontrol", "requeue", &format!("{id}_1")]).expect("requeue");
    // Slurm holds a requeued task for two minutes (its begin time): let it go now.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cluster::task_states(&id)
        .unwrap()
        .iter()
        .any(|(i, s)| *i == 1 && s == "PENDING")
    {
        assert!(Instant::now() < deadline, "the task was not requeued");
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster::slurm(&[
        "scontrol",
        "update",
        &format!("jobid={id}_1"),
        "StartTime=now",
    ])
    .expect("release the requeued task");
    cluster::wait_for_job(&id, Duration::from_secs(90)).expect("the job ends");

    let mut found = Vec::new();
    let mut sent = 0;
    for shard in 0..3 {
        let json =
            std::fs::read_to_string(cluster::results_dir().join(format!("shard-{shard}.jsonl")))
                .unwrap();
        let findings = parse_findings(&json).unwrap();
        assert_eq!(
            json.lines().count(),
            findings.len(),
            "shard {shard} repeated a port"
        );
        found.extend(findings.into_keys());
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                cluster::results_dir().join(format!("shard-{shard}.meta.json")),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(meta["shard"], format!("{shard}/3"));
        assert_eq!(meta["seed"], 4242);
        assert_eq!(meta["interrupted"], false, "shard {shard}: {meta}");
        assert_eq!(meta["resumed"], shard == 1, "shard {shard}: {meta}");
        sent += meta["sent"].as_u64().unwrap();
    }
    let total = found.len();
    let distinct: BTreeSet<_> = found.into_iter().collect();
    assert_eq!(distinct.len(), total, "a port was found by two shards");
    assert_eq!(
        distinct.into_iter().collect::<Vec<_>>(),
        sweep_truth(lab::SWEEP_RANGE),
        "the union of the shards"
    );
    assert_eq!(
        lab::build::syn_count(&sweep_host).unwrap(),
        65_536,
        "SYNs at the sweep host: each address exactly once"
    );
    // The requeued shard's second run sent only what its first had not.
    assert!(
        sent < 65_536,
        "the last run of shard 1 reports only its own probes"
    );
    cluster::down().expect("cluster down");
    assert!(!cluster::is_up());
}
