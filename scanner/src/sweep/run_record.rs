//! ZMap-style run records of a sweep, so that an operator of many shards sees each
//! one's progress and what it did:
//!
//! - `--status-updates-file FILE`: a CSV line every second while the sweep runs
//!   (time, shard, probes sent, rate, replies, answers, hit rate, percent done, lost),
//!   flushed as written, so `tail -f` of every shard's file is the cluster's dashboard;
//! - `--metadata-file FILE`: one JSON object when the sweep ends (interrupted or not):
//!   the scanner's version, seed, shard, probe kind, ports, target ranges,
//!   exclusions, counts, rate asked and reached, start and end times, the paths
//!   frames took, and whether it resumed or was interrupted.
//!
//! Both files are created before the first probe (a path that cannot be written stops
//! the sweep at once), as every output file is.

use super::SweepStats;
use crate::report::output_file::OutputFile;
use crate::target::permutation::Shard;
use crate::text::calendar::rfc3339;
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

/// Where the run records go (either may be absent).
#[derive(Clone, Debug, Default)]
pub struct RunRecordPaths {
    pub metadata: Option<String>,
    pub status_updates: Option<String>,
}

/// What the metadata says about the sweep's plan (the counts come at the end).
#[derive(Clone, Debug)]
pub struct SweepPlan {
    pub seed: u64,
    pub shard: Shard,
    pub probe: &'static str,
    pub ports: Vec<u16>,
    pub targets: Vec<(u32, u32)>,
    /// The exclusions as given (`--exclude` specs, `--excludefile` paths, the
    /// default blocklist when it applied).
    pub exclusions: Vec<String>,
    /// Probes this shard sends in one pass.
    pub probes_per_pass: u64,
    pub rate: u64,
    pub threads: usize,
    pub resumed: bool,
}

/// The JSON object of `--metadata-file`.
#[derive(Serialize)]
struct Metadata<'a> {
    scanner_version: &'static str,
    seed: u64,
    shard: String,
    shard_index: u64,
    shard_count: u64,
    probe_module: &'a str,
    target_ports: &'a [u16],
    target_ranges: Vec<String>,
    exclusions: &'a [String],
    probes_per_pass: u64,
    sender_threads: usize,
    send_path: &'a str,
    recv_path: &'a str,
    rate_asked_pps: u64,
    rate_reached_pps: f64,
    sent: u64,
    replies: u64,
    answers: u64,
    closed: u64,
    duplicates: u64,
    lost: u64,
    services_identified: u64,
    hit_rate: f64,
    start_time: String,
    end_time: String,
    duration_seconds: f64,
    resumed: bool,
    interrupted: bool,
}

/// The status-updates file's columns.
const STATUS_HEADER: &str = "real-time,time-elapsed,shard,percent-complete,sent-total,\
sent-last-one-sec,sent-avg-per-sec,recv-total,answers-total,answers-last-one-sec,hit-rate,lost-total";

/// The run records of one sweep, opened before it starts.
pub struct RunRecords {
    plan: SweepPlan,
    metadata: Option<OutputFile>,
    status: Option<OutputFile>,
    started_at: SystemTime,
    started: Instant,
    last_line: Option<Instant>,
    last_sent: u64,
    last_answers: u64,
}

/// What the status line reads at a moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatusReading {
    pub sent: u64,
    pub replies: u64,
    pub answers: u64,
    pub lost: u64,
}

impl RunRecords {
    /// Creates the files `paths` name (the status file gets its header).
    pub fn open(paths: &RunRecordPaths, plan: SweepPlan) -> Result<Self> {
        let metadata = paths
            .metadata
            .as_deref()
            .map(|path| OutputFile::create(path, "metadata"))
            .transpose()?;
        let mut status = paths
            .status_updates
            .as_deref()
            .map(|path| OutputFile::create(path, "status-updates"))
            .transpose()?;
        if let Some(status) = &mut status {
            writeln!(status, "{STATUS_HEADER}")?;
            status.flush()?;
        }
        Ok(Self {
            plan,
            metadata,
            status,
            started_at: SystemTime::now(),
            started: Instant::now(),
            last_line: None,
            last_sent: 0,
            last_answers: 0,
        })
    }

    /// Writes a status line if a second has passed since the last (or none was
    /// written); `read` is asked for the figures only then (the kernel's lost count
    /// is a map read, not something to do per batch of replies).
    pub fn tick(&mut self, now: Instant, read: impl FnOnce() -> StatusReading) -> Result<()> {
        if self.status.is_none()
            || self
                .last_line
                .is_some_and(|last| now < last + Duration::from_secs(1))
        {
            return Ok(());
        }
        self.write_status(now, read())
    }

    fn write_status(&mut self, now: Instant, progress: StatusReading) -> Result<()> {
        let Some(status) = &mut self.status else {
            return Ok(());
        };
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let since_last = self
            .last_line
            .map_or(elapsed, |last| now.duration_since(last).as_secs_f64())
            .max(1e-3);
        let passes_total = self.plan.probes_per_pass.max(1) as f64;
        let line = format!(
            "{},{:.3},{}/{},{:.2},{},{:.0},{:.0},{},{},{:.0},{:.6},{}",
            rfc3339(SystemTime::now()),
            elapsed,
            self.plan.shard.index,
            self.plan.shard.count,
            (100.0 * progress.sent as f64 / passes_total).min(100.0),
            progress.sent,
            (progress.sent - self.last_sent.min(progress.sent)) as f64 / since_last,
            progress.sent as f64 / elapsed.max(1e-3),
            progress.replies,
            progress.answers,
            (progress.answers - self.last_answers.min(progress.answers)) as f64 / since_last,
            hit_rate(progress.answers, progress.sent),
            progress.lost,
        );
        writeln!(status, "{line}")?;
        status.flush()?;
        self.last_line = Some(now);
        self.last_sent = progress.sent;
        self.last_answers = progress.answers;
        Ok(())
    }

    /// The last status line and the metadata, once the sweep has ended.
    pub fn finish(mut self, stats: &SweepStats) -> Result<()> {
        let now = Instant::now();
        self.write_status(
            now,
            StatusReading {
                sent: stats.sent,
                replies: stats.replies,
                answers: stats.open,
                lost: stats.lost_in_kernel,
            },
        )?;
        let Some(mut file) = self.metadata.take() else {
            return Ok(());
        };
        let duration = now.duration_since(self.started).as_secs_f64();
        let plan = &self.plan;
        let metadata = Metadata {
            scanner_version: env!("CARGO_PKG_VERSION"),
            seed: plan.seed,
            shard: format!("{}/{}", plan.shard.index, plan.shard.count),
            shard_index: plan.shard.index,
            shard_count: plan.shard.count,
            probe_module: plan.probe,
            target_ports: &plan.ports,
            target_ranges: plan.targets.iter().map(|&r| range_text(r)).collect(),
            exclusions: &plan.exclusions,
            probes_per_pass: plan.probes_per_pass,
            sender_threads: plan.threads,
            send_path: stats.send_path,
            recv_path: stats.recv_path,
            rate_asked_pps: plan.rate,
            rate_reached_pps: stats.sent as f64 / duration.max(1e-3),
            sent: stats.sent,
            replies: stats.replies,
            answers: stats.open,
            closed: stats.closed,
            duplicates: stats.duplicates,
            lost: stats.lost_in_kernel,
            services_identified: stats.identified,
            hit_rate: hit_rate(stats.open, stats.sent),
            start_time: rfc3339(self.started_at),
            end_time: rfc3339(SystemTime::now()),
            duration_seconds: duration,
            resumed: plan.resumed,
            interrupted: stats.interrupted.is_some(),
        };
        serde_json::to_writer_pretty(&mut file, &metadata)?;
        writeln!(file)?;
        file.flush()?;
        Ok(())
    }
}

fn hit_rate(answers: u64, sent: u64) -> f64 {
    if sent == 0 {
        0.0
    } else {
        answers as f64 / sent as f64
    }
}

/// A range of addresses as CIDR when it is one block, else `first-last`.
fn range_text((first, last): (u32, u32)) -> String {
    let size = u64::from(last) - u64::from(first) + 1;
    if size.is_power_of_two() && u64::from(first) % size == 0 {
        let bits = 32 - size.trailing_zeros();
        format!("{}/{bits}", Ipv4Addr::from(first))
    } else {
        format!("{}-{}", Ipv4Addr::from(first), Ipv4Addr::from(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SweepPlan {
        SweepPlan {
            seed: 7,
            shard: Shard { index: 1, count: 3 },
            probe: "tcp_syn",
            ports: vec![80, 81],
            targets: vec![(
                u32::from(Ipv4Addr::new(198, 19, 0, 0)),
                u32::from(Ipv4Addr::new(198, 19, 255, 255)),
            )],
            exclusions: vec!["--exclude 198.19.7.0/24".into()],
            probes_per_pass: 43_691,
            rate: 100_000,
            threads: 2,
            resumed: false,
        }
    }

    #[test]
    fn ranges_are_written_as_cidr_where_they_are_one_block() {
        let addr = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            range_text((addr("198.19.0.0"), addr("198.19.255.255"))),
            "198.19.0.0/16"
        );
        assert_eq!(
            range_text((addr("10.0.0.5"), addr("10.0.0.5"))),
            "10.0.0.5/32"
        );
        assert_eq!(
            range_text((addr("10.0.0.1"), addr("10.0.0.4"))),
            "10.0.0.1-10.0.0.4"
        );
        assert_eq!(range_text((0, u32::MAX)), "0.0.0.0/0");
    }

    #[test]
    fn the_files_hold_a_status_line_a_second_and_the_metadata() {
        let dir = std::env::temp_dir().join(format!("scanner-run-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (meta, status) = (dir.join("meta.json"), dir.join("status.csv"));
        let paths = RunRecordPaths {
            metadata: Some(meta.display().to_string()),
            status_updates: Some(status.display().to_string()),
        };
        let mut records = RunRecords::open(&paths, plan()).unwrap();
        let start = records.started;
        let at = |ms| start + Duration::from_millis(ms);
        let progress = |sent, answers| StatusReading {
            sent,
            replies: answers,
            answers,
            lost: 0,
        };
        records.tick(at(10), || progress(100, 5)).unwrap();
        records.tick(at(500), || progress(200, 9)).unwrap(); // within the second: no line
        records.tick(at(1010), || progress(300, 12)).unwrap();
        let stats = SweepStats {
            sent: 400,
            replies: 30,
            open: 20,
            closed: 10,
            threads: 2,
            send_path: "AF_XDP",
            recv_path: "XDP",
            ..Default::default()
        };
        records.finish(&stats).unwrap();
        let csv = std::fs::read_to_string(&status).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], STATUS_HEADER);
        assert_eq!(lines.len(), 4, "{csv}");
        let columns = STATUS_HEADER.split(',').count();
        assert!(
            lines.iter().all(|l| l.split(',').count() == columns),
            "{csv}"
        );
        assert!(
            lines[1].contains(",1/3,") && lines[2].contains(",300,"),
            "{csv}"
        );
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
        assert_eq!(meta["seed"], 7);
        assert_eq!(meta["shard"], "1/3");
        assert_eq!(meta["target_ranges"][0], "198.19.0.0/16");
        assert_eq!(meta["sent"], 400);
        assert_eq!(meta["answers"], 20);
        assert_eq!(meta["hit_rate"], 0.05);
        assert_eq!(meta["interrupted"], false);
        assert_eq!(meta["exclusions"][0], "--exclude 198.19.7.0/24");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
