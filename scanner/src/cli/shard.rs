//! `--shard`: `I/N` as given, or `auto` / `auto/N`, which take the shard's index from
//! the scheduler that started this process, so one command line serves every task of
//! a job:
//!
//! - Kubernetes (an Indexed Job): `JOB_COMPLETION_INDEX`;
//! - Slurm (a job array): `SLURM_ARRAY_TASK_ID`, counted from `SLURM_ARRAY_TASK_MIN`.
//!
//! The count is `N` when given; else Slurm's `SLURM_ARRAY_TASK_COUNT`, or
//! `SCANNER_SHARD_COUNT` (what the Kubernetes manifests set, since a Job does not tell
//! its pods its completion count).

use crate::target::permutation::Shard;
use anyhow::{bail, Context, Result};

/// The shard `spec` names, reading the scheduler's variables through `env`.
pub fn resolve(spec: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
    let Some(rest) = spec.strip_prefix("auto") else {
        return Shard::parse(spec);
    };
    let number = |name: &str| -> Result<Option<u64>> {
        env(name)
            .map(|value| {
                value
                    .trim()
                    .parse::<u64>()
                    .with_context(|| format!("--shard {spec}: {name}={value:?} is not a number"))
            })
            .transpose()
    };
    let index = match (
        number("JOB_COMPLETION_INDEX")?,
        number("SLURM_ARRAY_TASK_ID")?,
    ) {
        (Some(index), _) => index,
        (None, Some(task)) => {
            let first = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            task.checked_sub(first).with_context(|| {
                format!("--shard {spec}: SLURM_ARRAY_TASK_ID {task} is below SLURM_ARRAY_TASK_MIN {first}")
            })?
        }
        (None, None) => bail!(
            "--shard {spec}: no scheduler gave this task an index (JOB_COMPLETION_INDEX from a \
             Kubernetes Indexed Job, SLURM_ARRAY_TASK_ID from a Slurm job array); give it as I/N"
        ),
    };
    let count = match rest.strip_prefix('/') {
        Some(count) => count
            .trim()
            .parse::<u64>()
            .with_context(|| format!("--shard {spec}: N is not a number"))?,
        None if rest.is_empty() => number("SLURM_ARRAY_TASK_COUNT")?
            .or(number("SCANNER_SHARD_COUNT")?)
            .with_context(|| {
                format!(
                    "--shard {spec}: the number of shards is not known here: give it as \
                     auto/N, or set SCANNER_SHARD_COUNT"
                )
            })?,
        None => bail!("--shard wants I/N, auto or auto/N"),
    };
    Shard::parse(&format!("{index}/{count}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn shard(index: u64, count: u64) -> Shard {
        Shard { index, count }
    }

    #[test]
    fn given_shards_are_parsed_as_before() {
        assert_eq!(resolve("2/8", with(&[])).unwrap(), shard(2, 8));
        assert!(resolve("8/8", with(&[])).is_err());
    }

    #[test]
    fn kubernetes_and_slurm_give_the_index() {
        let k8s = [("JOB_COMPLETION_INDEX", "3"), ("SCANNER_SHARD_COUNT", "5")];
        assert_eq!(resolve("auto", with(&k8s)).unwrap(), shard(3, 5));
        assert_eq!(resolve("auto/4", with(&k8s)).unwrap(), shard(3, 4));
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(resolve("auto", with(&slurm)).unwrap(), shard(2, 3));
    }

    #[test]
    fn what_is_missing_or_wrong_is_said() {
        let message = |spec, vars| format!("{:#}", resolve(spec, with(vars)).unwrap_err());
        assert!(message("auto", &[]).contains("no scheduler gave this task an index"));
        assert!(message("auto", &[("JOB_COMPLETION_INDEX", "1")]).contains("auto/N"));
        assert!(message("auto/2", &[("JOB_COMPLETION_INDEX", "2")]).contains("0 <= I < N"));
        assert!(message("auto", &[("JOB_COMPLETION_INDEX", "x")]).contains("not a number"));
        assert!(message("auto/", &[("JOB_COMPLETION_INDEX", "0")]).contains("not a number"));
        assert!(message("autox", &[("JOB_COMPLETION_INDEX", "0")]).contains("I/N"));
        let below = [("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "2")];
        assert!(message("auto/4", &below).contains("below"));
    }
}
