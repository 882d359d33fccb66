//! `--resume LOG` for nmap-style scans: the command line the `-oG` log recorded,
//! read back word for word ([`super::shell_words`]), and checked before it runs again.
//!
//! A log is a file anyone may have written, and the scanner runs as root, so the
//! command it holds is not run blindly: it is printed before it runs, and a log may
//! name files (to read: `-iL`, `--excludefile`, `--script` paths, `--script-args-file`,
//! `--servicedb`, `--versiondb`, `--resume`; to write: `-oN`, `-oX`, `-oG`, `-oA`,
//! `-oJ`, `-oC`, `--resume-file`) only in its own folder, where the scan that wrote
//! it put its outputs. Any other file is refused unless `--resume-accept` is given
//! with `--resume`. Standard output (`-`) is always allowed.

use super::{normalize_args, shell_words, Args};
use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::{Path, PathBuf};

/// The scan a `-oG` log recorded: its arguments, parsed, and as words (to print and to
/// record again).
pub struct Resumed {
    pub args: Args,
    pub words: Vec<String>,
}

/// Reads the command line `recorded` in the `-oG` log at `log` back into arguments,
/// and checks them: they must write a `-oG` log, and name files only in the log's
/// folder unless `accept` (`--resume-accept`).
pub fn resumed_args(recorded: &str, log: &Path, accept: bool) -> Result<Resumed> {
    let words = shell_words::split(recorded)
        .with_context(|| format!("the command line in {} cannot be read", log.display()))?;
    let args = Args::try_parse_from(normalize_args(words.iter().cloned()))
        .with_context(|| format!("the command line in {} no longer parses", log.display()))?;
    if args.output_grepable.is_none() && args.output_all.is_none() {
        bail!("the resumed scan wrote no -oG log: nothing to append to");
    }
    if !accept {
        let folder = folder_of(log)?;
        let outside: Vec<String> = named_files(&args)
            .into_iter()
            .filter(|(_, path)| !in_folder(path, &folder))
            .map(|(flag, path)| format!("{flag} {}", path.display()))
            .collect();
        if !outside.is_empty() {
            bail!(
                "{} names files outside its own folder {} ({}): a log may have been written by anyone, \
                 so the scanner does not read or write elsewhere on its word. Check the command it holds: \
                 `{}`; if it is yours, add --resume-accept",
                log.display(),
                folder.display(),
                outside.join(", "),
                shell_words::quote(&words)
            );
        }
    }
    Ok(Resumed { args, words })
}

/// Every file `args` read or write, with the flag that names it (standard output left
/// out).
fn named_files(args: &Args) -> Vec<(&'static str, PathBuf)> {
    let mut files: Vec<(&'static str, PathBuf)> = Vec::new();
    let paths = [
        ("-iL", args.input_list.clone()),
        ("--excludefile", args.excludefile.clone()),
        ("--script-args-file", args.script_args_file.clone()),
        ("--servicedb", args.servicedb.clone()),
        ("--versiondb", args.versiondb.clone()),
        ("--resume", args.resume.clone()),
    ];
    files.extend(
        paths
            .into_iter()
            .filter_map(|(flag, path)| Some((flag, path?))),
    );
    let outputs = [
        ("-oN", &args.output_normal),
        ("-oX", &args.output_xml),
        ("-oG", &args.output_grepable),
        ("-oJ", &args.output_json),
        ("-oC", &args.output_csv),
        ("-oP", &args.output_parquet),
        ("-oA", &args.output_all),
    ];
    files.extend(
        outputs
            .into_iter()
            .filter_map(|(flag, path)| Some((flag, PathBuf::from(path.as_deref()?))))
            .filter(|(_, path)| path != Path::new("-")),
    );
    if args.resume_file
        != Args::try_parse_from(["scanner", "x"]).map_or_else(|_| PathBuf::new(), |a| a.resume_file)
    {
        files.push(("--resume-file", args.resume_file.clone()));
    }
    // As the script engine reads them: an item is a file or folder when it looks like
    // a path.
    if let Some(spec) = &args.script {
        files.extend(
            spec.split(|c: char| c == ',' || c == '(' || c == ')' || c.is_whitespace())
                .filter(|item| item.contains('/') || item.ends_with(".nse"))
                .map(|item| ("--script", PathBuf::from(item))),
        );
    }
    files
}

/// The folder `path` is in, with links resolved.
fn folder_of(path: &Path) -> Result<PathBuf> {
    let full = path
        .canonicalize()
        .with_context(|| format!("cannot find {}", path.display()))?;
    Ok(full
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf))
}

/// Whether `path` is (or, not there yet, would be) a file right in `folder`. A
/// relative path is taken from the current folder, as the resumed scan will take it.
fn in_folder(path: &Path, folder: &Path) -> bool {
    if let Ok(full) = path.canonicalize() {
        return full.parent() == Some(folder);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let named_plainly = path
        .file_name()
        .is_some_and(|name| name != ".." && name != ".");
    named_plainly && parent.canonicalize().is_ok_and(|p| p == folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder with a log in it (and a target list beside it); cleaned up on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("scanner-resume-args-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("scan.gnmap"), "").unwrap();
            std::fs::write(dir.join("targets"), "198.18.0.10\n").unwrap();
            Self(dir.canonicalize().unwrap())
        }

        fn path(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn resume(dir: &Scratch, words: &[&str], accept: bool) -> Result<Resumed> {
        resumed_args(
            &shell_words::quote(words),
            &dir.0.join("scan.gnmap"),
            accept,
        )
    }

    #[test]
    fn the_arguments_come_back_exactly() {
        let dir = Scratch::new("exact");
        let log = dir.path("scan.gnmap");
        let words = [
            "scanner",
            "-sS",
            "--script",
            "banner or http-title",
            "--script-args",
            "http.useragent=Mozilla 5.0 \"x\" 'y' ü",
            "-oG",
            &log,
            "198.18.0.10",
        ];
        let resumed = resume(&dir, &words, false).unwrap();
        assert_eq!(resumed.words, words);
        assert_eq!(resumed.args.script.as_deref(), Some("banner or http-title"));
        assert_eq!(resumed.args.targets, ["198.18.0.10"]);
        assert_eq!(
            resumed.args.script_args.as_deref(),
            Some("http.useragent=Mozilla 5.0 \"x\" 'y' ü")
        );
    }

    #[test]
    fn files_beside_the_log_are_allowed() {
        let dir = Scratch::new("beside");
        let words = [
            "scanner",
            "-iL",
            &dir.path("targets"),
            "-oA",
            &dir.path("scan"),
            "-oX",
            "-",
            "-oJ",
            &dir.path("new.jsonl"),
        ];
        assert!(resume(&dir, &words, false).is_ok());
    }

    #[test]
    fn files_elsewhere_need_resume_accept() {
        let dir = Scratch::new("elsewhere");
        let log = dir.path("scan.gnmap");
        for (flag, path) in [
            ("-oN", "/etc/cron.d/x"),
            ("-oX", "/tmp/elsewhere.xml"),
            ("-iL", "/etc/shadow"),
            ("--excludefile", "/etc/passwd"),
            ("--script-args-file", "/root/.ssh/id_rsa"),
            ("--script", "/tmp/evil.nse"),
            ("--script", "default or ../x/y"),
            ("--servicedb", "/etc/passwd"),
            ("--resume-file", "/etc/x.json"),
            ("-oJ", &format!("{}/../up.jsonl", dir.0.display())),
        ] {
            let words = ["scanner", flag, path, "-oG", &log, "198.18.0.10"];
            let err = resume(&dir, &words, false).err().unwrap().to_string();
            assert!(
                err.contains("--resume-accept") && err.contains(path),
                "{flag} {path}: {err}"
            );
            assert!(resume(&dir, &words, true).is_ok(), "{flag} {path}");
        }
    }

    #[test]
    fn a_log_of_a_scan_without_a_log_is_refused() {
        let dir = Scratch::new("nolog");
        assert!(resume(&dir, &["scanner", "198.18.0.10"], true).is_err());
        assert!(resume(&dir, &["scanner", "--bogus", "-oG", "x"], true).is_err());
    }
}
