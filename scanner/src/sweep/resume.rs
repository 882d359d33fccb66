//! The resume file: where each sender thread of an interrupted sweep stopped, with the
//! seed and a fingerprint of the command, so `--resume FILE` continues the same
//! permutation exactly where it stopped (nothing sent twice, nothing skipped).

use super::sender::SenderPosition;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    pub version: u32,
    /// Identifies the targets, ports, shard, thread count and retries of the sweep.
    pub fingerprint: String,
    pub seed: u64,
    pub positions: Vec<SenderPosition>,
}

impl ResumeState {
    pub const VERSION: u32 = 1;

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read resume file {}", path.display()))?;
        let state: Self = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a resume file", path.display()))?;
        if state.version != Self::VERSION {
            bail!(
                "{} was written by another version of the scanner",
                path.display()
            );
        }
        Ok(state)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write resume file {}", path.display()))
    }

    /// Fails unless this file was written by the same sweep.
    pub fn check(&self, fingerprint: &str, threads: usize) -> Result<()> {
        if self.fingerprint != fingerprint || self.positions.len() != threads {
            bail!("the resume file is for another sweep: use the same targets, ports, exclusions, --shard, --threads and --retries as the interrupted run");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_the_sweep() {
        let path = std::env::temp_dir().join(format!("scanner-resume-{}", std::process::id()));
        let state = ResumeState {
            version: ResumeState::VERSION,
            fingerprint: "abc".into(),
            seed: 7,
            positions: vec![
                SenderPosition { pass: 0, next: 12 },
                SenderPosition { pass: 1, next: 3 },
            ],
        };
        state.save(&path).unwrap();
        let loaded = ResumeState::load(&path).unwrap();
        assert_eq!(loaded, state);
        assert!(loaded.check("abc", 2).is_ok());
        assert!(loaded.check("abd", 2).is_err());
        assert!(loaded.check("abc", 1).is_err());
        std::fs::write(&path, "{}").unwrap();
        assert!(ResumeState::load(&path).is_err());
        std::fs::remove_file(path).unwrap();
    }
}
