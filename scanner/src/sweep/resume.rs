//! The resume file: where each sender thread of an interrupted sweep stopped, with the
//! seed and a fingerprint of the command, so `--resume FILE` continues the same
//! permutation exactly where it stopped (nothing sent twice, nothing skipped).
//!
//! The file is written as root's stand-in: a [`ResumeFile`] is opened (or created,
//! mode 0600) when the sweep starts, before privileges are dropped, never through a
//! symbolic link and never if someone else owns it, and written through the held
//! descriptor on Ctrl-C (and SIGTERM), and every `CHECKPOINT_EVERY` while the sweep
//! runs, so that a sweep killed outright continues from its last checkpoint. A sweep that finishes leaves it recording nothing: removed
//! if this run created it and may still remove it, emptied otherwise. (Windows has
//! no owners or modes to check as these: there the file is opened as it is.)

use super::sender::SenderPosition;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeState {
    pub version: u32,
    /// The probe module swept (`tcp_syn`, `udp`, `icmp_echo`, ...); empty in files of
    /// older versions, which are refused by their version.
    #[serde(default)]
    pub kind: String,
    /// Identifies the probe kind, the targets, ports, shard, thread count and retries of the sweep.
    pub fingerprint: String,
    pub seed: u64,
    pub positions: Vec<SenderPosition>,
}

impl ResumeState {
    pub const VERSION: u32 = 2;

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read resume file {}", path.display()))?;
        if text.is_empty() {
            bail!(
                "{} records no interrupted sweep (the sweep that wrote it finished, or was killed before it could say where it was): nothing to resume",
                path.display()
            );
        }
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

    /// The state as the file holds it.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Fails unless this file was written by the same sweep.
    pub fn check(&self, kind: &str, fingerprint: &str, threads: usize) -> Result<()> {
        if self.kind != kind {
            bail!(
                "the resume file is for a {} sweep, not {kind}: give the scan type flags of the interrupted run",
                self.kind
            );
        }
        if self.fingerprint != fingerprint || self.positions.len() != threads {
            bail!("the resume file is for another sweep: use the same targets, ports, exclusions, --shard, --threads and --retries as the interrupted run");
        }
        Ok(())
    }
}

/// The resume file, held open from before the drop of privileges to the end.
pub struct ResumeFile {
    file: File,
    path: PathBuf,
    /// This run made it (it did not exist before).
    created: bool,
}

impl ResumeFile {
    /// Opens `path` for writing, creating it (mode 0600) if it does not exist, without
    /// changing what it holds. Refuses a symbolic link, anything but a regular file
    /// with one link, and a file owned by another user than this process's.
    pub fn open(path: &Path) -> Result<Self> {
        let refuse = |why: &str| {
            anyhow::anyhow!(
                "refusing the resume file {}: {why}; remove it, or name another with --resume-file",
                path.display()
            )
        };
        let open = |create: bool| {
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true).create_new(create);
            #[cfg(unix)]
            {
                options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
                if create {
                    options.mode(0o600);
                }
            }
            options.open(path)
        };
        let (file, created) = match open(true) {
            Ok(file) => (file, true),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => match open(false) {
                Ok(file) => (file, false),
                #[cfg(unix)]
                Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
                    return Err(refuse("it is a symbolic link"))
                }
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("cannot open the resume file {}", path.display()))
                }
            },
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot create the resume file {}", path.display()))
            }
        };
        let meta = file
            .metadata()
            .with_context(|| format!("cannot read what {} is", path.display()))?;
        if !meta.file_type().is_file() {
            return Err(refuse("it is not a regular file"));
        }
        #[cfg(unix)]
        Self::check_private(&file, &meta, refuse)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            created,
        })
    }

    /// Refuses a file with other hard links or another owner, and makes it 0600.
    #[cfg(unix)]
    fn check_private(
        file: &File,
        meta: &std::fs::Metadata,
        refuse: impl Fn(&str) -> anyhow::Error,
    ) -> Result<()> {
        if meta.nlink() != 1 {
            return Err(refuse("it has other hard links"));
        }
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(refuse(&format!(
                "it belongs to uid {}, not to this user (uid {me})",
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|err| refuse(&format!("it cannot be made private (0600): {err}")))?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces what the file holds with `state`: truncate, write, fsync.
    pub fn save(&mut self, state: &ResumeState) -> Result<()> {
        let text = state.to_json()?;
        self.replace(text.as_bytes())
            .with_context(|| format!("cannot write the resume file {}", self.path.display()))
    }

    /// The sweep finished: the file records nothing. Removed if this run created it
    /// and may still remove it (after dropping root it usually may not), emptied
    /// otherwise.
    pub fn finished(mut self) -> Result<()> {
        if self.created && self.still_at_path() && std::fs::remove_file(&self.path).is_ok() {
            return Ok(());
        }
        self.replace(b"")
            .with_context(|| format!("cannot empty the resume file {}", self.path.display()))
    }

    /// Whether the path still names the file held (so removing it removes ours).
    #[cfg(unix)]
    fn still_at_path(&self) -> bool {
        match (self.file.metadata(), std::fs::symlink_metadata(&self.path)) {
            (Ok(held), Ok(there)) => held.dev() == there.dev() && held.ino() == there.ino(),
            _ => false,
        }
    }

    /// Windows: a file held open cannot be renamed or replaced, so the path names it.
    #[cfg(windows)]
    fn still_at_path(&self) -> bool {
        true
    }

    fn replace(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(bytes)?;
        self.file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder for one test.
    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("scanner-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trips_and_checks_the_sweep() {
        let dir = folder("resume-round-trip");
        let path = dir.join("resume.json");
        let state = ResumeState {
            version: ResumeState::VERSION,
            kind: "udp".into(),
            fingerprint: "abc".into(),
            seed: 7,
            positions: vec![
                SenderPosition { pass: 0, next: 12 },
                SenderPosition { pass: 1, next: 3 },
            ],
        };
        ResumeFile::open(&path).unwrap().save(&state).unwrap();
        let loaded = ResumeState::load(&path).unwrap();
        assert_eq!(loaded, state);
        assert!(loaded.check("udp", "abc", 2).is_ok());
        assert!(loaded.check("udp", "abd", 2).is_err());
        assert!(loaded.check("udp", "abc", 1).is_err());
        let other_kind = loaded.check("tcp_syn", "abc", 2).unwrap_err().to_string();
        assert!(other_kind.contains("for a udp sweep"), "{other_kind}");
        // A file of the version before kinds were recorded is refused by its version.
        std::fs::write(
            &path,
            r#"{"version":1,"fingerprint":"abc","seed":7,"positions":[]}"#,
        )
        .unwrap();
        let old = ResumeState::load(&path).unwrap_err().to_string();
        assert!(old.contains("another version"), "{old}");
        std::fs::write(&path, "{}").unwrap();
        assert!(ResumeState::load(&path).is_err());
        std::fs::write(&path, "").unwrap();
        let empty = ResumeState::load(&path).unwrap_err().to_string();
        assert!(empty.contains("nothing to resume"), "{empty}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn state() -> ResumeState {
        ResumeState {
            version: ResumeState::VERSION,
            kind: "tcp_syn".into(),
            fingerprint: "abc".into(),
            seed: 7,
            positions: vec![SenderPosition { pass: 0, next: 12 }],
        }
    }

    #[test]
    fn a_new_resume_file_is_private_and_written_whole() {
        let dir = folder("resume-new");
        let path = dir.join("resume.json");
        let mut file = ResumeFile::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let mut longer = state();
        longer.positions.push(SenderPosition { pass: 1, next: 99 });
        file.save(&longer).unwrap();
        // A shorter state replaces a longer one whole (no tail left over).
        file.save(&state()).unwrap();
        assert_eq!(ResumeState::load(&path).unwrap(), state());
        // An existing file left readable by others is made private.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(ResumeFile::open(&path).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(ResumeState::load(&path).unwrap(), state());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_planted_symlink_or_link_is_refused_and_nothing_written_through_it() {
        let dir = folder("resume-planted");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.join("resume.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let err = ResumeFile::open(&path).err().expect("a symlink is refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        // A dangling symlink is not followed to create its target either.
        let dangling = dir.join("dangling.json");
        std::os::unix::fs::symlink(dir.join("made-through-link"), &dangling).unwrap();
        assert!(ResumeFile::open(&dangling).is_err());
        assert!(!dir.join("made-through-link").exists());
        // Nor a hard link to another file.
        let hard = dir.join("hard.json");
        std::fs::hard_link(&victim, &hard).unwrap();
        let err = ResumeFile::open(&hard)
            .err()
            .expect("a hard link is refused");
        assert!(err.to_string().contains("hard links"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_of_another_user_is_refused() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: only root can make a file owned by another user");
            return;
        }
        let dir = folder("resume-owner");
        let path = dir.join("resume.json");
        std::fs::write(&path, "theirs").unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let err = ResumeFile::open(&path)
            .err()
            .expect("someone else's file is refused");
        assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_finished_sweep_leaves_nothing_to_resume() {
        let dir = folder("resume-finished");
        // Created by this run: removed.
        let path = dir.join("new.json");
        ResumeFile::open(&path).unwrap().finished().unwrap();
        assert!(!path.exists());
        // There before (the state resumed from): emptied, so it is not resumed twice.
        let old = dir.join("old.json");
        ResumeFile::open(&old).unwrap().save(&state()).unwrap();
        ResumeFile::open(&old).unwrap().finished().unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
