//! Where the scanner's data files come from, as nmap finds its own: a file a flag
//! names (`--servicedb`, `--versiondb`, `--osdb`, `--synack-db`); else the first data
//! folder that has it, in this order: `--datadir DIR`, `$SCANNER_DATADIR`, the installed
//! folder beside the binary (`PREFIX/share/scanner` for `PREFIX/bin/scanner`, as the
//! package installs it), the source tree the binary was built in (`target/release/
//! scanner` in a clone); else the copy built into the binary. A data folder is laid out
//! as the repository is: `fingerprints/services`, `fingerprints/service-probes`,
//! `fingerprints/os-db`, `fingerprints/synack-signatures` and `scripts/*.nse` (a
//! script there replaces the built-in one of its name, and new ones are selected by
//! name or category as the built-in ones are).
//!
//! The scanner reads these files as root: a file (or a folder above it, up to its data
//! folder) that a user other than root and the binary's owner could have written is
//! refused with what to do, so that nobody plants a database or a script for root to
//! read.

use anyhow::{Context, Result};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The environment variable naming a data folder (nmap's is `NMAPDIR`).
pub const DATADIR_VARIABLE: &str = "SCANNER_DATADIR";

/// The data files of the scan: each the file to read, or `None` for the built-in copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataFiles {
    pub services: Option<PathBuf>,
    pub service_probes: Option<PathBuf>,
    pub os_db: Option<PathBuf>,
    pub synack_signatures: Option<PathBuf>,
    /// A folder of scripts that replace or add to the built-in ones.
    pub scripts: Option<PathBuf>,
    /// One line per file found in a data folder, for `-d`.
    pub found: Vec<String>,
}

/// The data folders to look in, with how each was found, in order.
pub fn data_dirs(named: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let mut dirs = Vec::new();
    if let Some(dir) = named {
        dirs.push((dir.to_path_buf(), "--datadir"));
    }
    if let Some(dir) = std::env::var_os(DATADIR_VARIABLE).filter(|d| !d.is_empty()) {
        dirs.push((PathBuf::from(dir), "$SCANNER_DATADIR"));
    }
    if let Ok(exe) = std::env::current_exe() {
        dirs.extend(beside_binary(&exe));
    }
    dirs
}

/// The installed folder and the source tree of a binary at `exe`, where they exist.
fn beside_binary(exe: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut dirs = Vec::new();
    let bin = exe.parent();
    if let Some(prefix) = bin.and_then(Path::parent) {
        let installed = prefix.join("share/scanner");
        if installed.is_dir() {
            dirs.push((installed, "installed beside the binary"));
        }
    }
    // target/release/scanner (or target/debug/scanner) in a clone.
    if let Some(tree) = bin.and_then(Path::parent).and_then(Path::parent) {
        if tree.join("fingerprints/services").is_file() && tree.join("Cargo.toml").is_file() {
            dirs.push((tree.to_path_buf(), "the source tree"));
        }
    }
    dirs
}

impl DataFiles {
    /// The data files: each `named` by its flag, else found in `dirs`.
    pub fn locate(dirs: &[(PathBuf, &'static str)], named: NamedFiles<'_>) -> Result<Self> {
        let mut found = Vec::new();
        let mut pick = |flag: Option<&Path>, relative: &str| -> Result<Option<PathBuf>> {
            if let Some(path) = flag {
                return Ok(Some(path.to_path_buf()));
            }
            for (dir, how) in dirs {
                let path = dir.join(relative);
                if path.exists() {
                    check_trusted(&path, dir)?;
                    found.push(format!("data file {} ({how})", path.display()));
                    return Ok(Some(path));
                }
            }
            Ok(None)
        };
        let services = pick(named.services, "fingerprints/services")?;
        let service_probes = pick(named.service_probes, "fingerprints/service-probes")?;
        let os_db = pick(named.os_db, "fingerprints/os-db")?;
        let synack_signatures = pick(named.synack_signatures, "fingerprints/synack-signatures")?;
        let scripts = pick(None, "scripts")?;
        if let Some(folder) = &scripts {
            // Each script in it is read as root too.
            for entry in std::fs::read_dir(folder)
                .with_context(|| format!("cannot read the scripts folder {}", folder.display()))?
            {
                check_trusted(&entry?.path(), folder)?;
            }
        }
        Ok(DataFiles {
            services,
            service_probes,
            os_db,
            synack_signatures,
            scripts,
            found,
        })
    }
}

/// The files the flags name.
#[derive(Clone, Copy, Debug, Default)]
pub struct NamedFiles<'a> {
    pub services: Option<&'a Path>,
    pub service_probes: Option<&'a Path>,
    pub os_db: Option<&'a Path>,
    pub synack_signatures: Option<&'a Path>,
}

/// Refuses `path` (in the data folder `dir`) when the scanner runs as root and another
/// user could have written it or a folder between it and `dir`: anyone but root and
/// the owner of the scanner's binary (who could change the binary itself: a clone a
/// developer built, run with sudo). (Windows: not checked; see the README.)
#[cfg(windows)]
fn check_trusted(_path: &Path, _dir: &Path) -> Result<()> {
    Ok(())
}

/// [`check_trusted`] where files have owners and modes.
#[cfg(unix)]
fn check_trusted(path: &Path, dir: &Path) -> Result<()> {
    if !crate::io::privileges::running_as_root() {
        return Ok(());
    }
    let binary_owner = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|meta| meta.uid())
        .unwrap_or(0);
    let mut at = Some(path);
    while let Some(current) = at {
        let meta = std::fs::metadata(current)
            .with_context(|| format!("cannot read the data file {}", current.display()))?;
        let owner_ok = meta.uid() == 0 || meta.uid() == binary_owner;
        let writable_by_others = meta.mode() & 0o022 != 0;
        if !owner_ok || writable_by_others {
            anyhow::bail!(
                "refusing the data file {}: {} is {} and the scanner runs as root, so another \
                 user could have planted it; make it root's (or the scanner binary's owner's) \
                 and not group- or world-writable (chown root {1} && chmod go-w {1}), or name \
                 another --datadir",
                path.display(),
                current.display(),
                if owner_ok {
                    "writable by other users"
                } else {
                    "owned by another user"
                }
            );
        }
        if current == dir {
            break;
        }
        at = current.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("scanner-datadir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("fingerprints")).unwrap();
        dir
    }

    #[test]
    fn flags_win_then_the_first_folder_that_has_the_file_then_the_built_in_copy() {
        let first = folder("first");
        let second = folder("second");
        std::fs::write(first.join("fingerprints/os-db"), "x").unwrap();
        std::fs::write(second.join("fingerprints/os-db"), "x").unwrap();
        std::fs::write(second.join("fingerprints/services"), "x").unwrap();
        std::fs::create_dir_all(second.join("scripts")).unwrap();
        let dirs = vec![(first.clone(), "--datadir"), (second.clone(), "installed")];
        let named = NamedFiles {
            service_probes: Some(Path::new("/elsewhere/probes")),
            ..NamedFiles::default()
        };
        let files = DataFiles::locate(&dirs, named).unwrap();
        assert_eq!(files.os_db, Some(first.join("fingerprints/os-db")));
        assert_eq!(files.services, Some(second.join("fingerprints/services")));
        assert_eq!(
            files.service_probes,
            Some(PathBuf::from("/elsewhere/probes"))
        );
        assert_eq!(files.synack_signatures, None);
        assert_eq!(files.scripts, Some(second.join("scripts")));
        assert_eq!(files.found.len(), 3);
        assert!(
            files
                .found
                .iter()
                .any(|f| f.ends_with("fingerprints/os-db (--datadir)")),
            "{:?}",
            files.found
        );
        std::fs::remove_dir_all(first).unwrap();
        std::fs::remove_dir_all(second).unwrap();
    }

    #[test]
    fn as_root_a_file_others_could_write_is_refused() {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // the check is for root; the lab tests run as root
        }
        let dir = folder("planted");
        let file = dir.join("fingerprints/services");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        let dirs = vec![(dir.clone(), "--datadir")];
        let err = DataFiles::locate(&dirs, NamedFiles::default()).unwrap_err();
        assert!(err.to_string().contains("writable by other users"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let folder_open = dir.join("fingerprints");
        std::fs::set_permissions(&folder_open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = DataFiles::locate(&dirs, NamedFiles::default()).unwrap_err();
        assert!(
            err.to_string().contains("fingerprints is writable"),
            "{err}"
        );
        std::fs::set_permissions(&folder_open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(DataFiles::locate(&dirs, NamedFiles::default()).is_ok());
        // Another user's file (nobody's; the test binary is root's).
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        let err = DataFiles::locate(&dirs, NamedFiles::default()).unwrap_err();
        assert!(err.to_string().contains("owned by another user"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_binary_finds_its_installed_folder_and_its_source_tree() {
        let root = folder("prefix");
        std::fs::create_dir_all(root.join("usr/share/scanner")).unwrap();
        let found = beside_binary(&root.join("usr/bin/scanner"));
        assert_eq!(
            found,
            [(
                root.join("usr/share/scanner"),
                "installed beside the binary"
            )]
        );
        let tree = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let found = beside_binary(&tree.join("target/release/scanner"));
        assert_eq!(found, [(tree.to_path_buf(), "the source tree")]);
        std::fs::remove_dir_all(root).unwrap();
    }
}
