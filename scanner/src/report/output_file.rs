//! Where a writer's bytes go: a file named on the command line, or standard output
//! for `-`. Every output file is created when the scan starts, so a path that cannot
//! be written fails before the first probe instead of after the scan; every write
//! error names the file. Run as root, the last component of the path is never
//! followed when it is a symbolic link (a link planted where a root process writes
//! would send the output anywhere): that is refused with a message. Links in the
//! folders above are followed, as the user named them.
//!
//! What is written, and when, is the writers' business, not this module's.

use anyhow::{Context, Result};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;

pub struct OutputFile {
    out: Box<dyn Write + Send>,
    /// The path as the user gave it, for messages.
    path: String,
    /// What is written there ("XML", "grepable", ...), for messages.
    what: &'static str,
}

impl OutputFile {
    /// Creates (truncates) `path`, or takes standard output for `-`.
    pub fn create(path: &str, what: &'static str) -> Result<Self> {
        Self::open_with(path, what, false, running_as_root())
    }

    /// Opens `path` to append to it (creating it if it is missing).
    pub fn append(path: &str, what: &'static str) -> Result<Self> {
        Self::open_with(path, what, true, running_as_root())
    }

    /// Opens `path` (or standard output for `-`); with `refuse_links`, a symbolic
    /// link as the last component is an error.
    /// (Windows: links are followed; see the README.)
    #[cfg_attr(windows, allow(unused_variables))]
    fn open_with(path: &str, what: &'static str, append: bool, refuse_links: bool) -> Result<Self> {
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            let mut options = std::fs::OpenOptions::new();
            options
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append);
            #[cfg(unix)]
            if refuse_links {
                options.custom_flags(libc::O_NOFOLLOW);
            }
            match options.open(path) {
                Ok(file) => Box::new(file),
                #[cfg(unix)]
                Err(err) if refuse_links && err.raw_os_error() == Some(libc::ELOOP) => {
                    anyhow::bail!(
                        "cannot write {what} output to {path}: it is a symbolic link, and the scanner runs as root \
                         and does not write through links (remove the link, or name the file it points to)"
                    )
                }
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!("cannot write {what} output to {path} (does its folder exist, and may you write there?)")
                    })
                }
            }
        };
        Ok(Self {
            out,
            path: path.to_string(),
            what,
        })
    }

    /// Whether this is standard output (`-`).
    pub fn is_stdout(&self) -> bool {
        self.path == "-"
    }

    /// Writes `text` whole and flushes it; the error names the file.
    pub fn write_text(&mut self, text: &str) -> Result<()> {
        self.write_all(text.as_bytes())?;
        self.flush()?;
        Ok(())
    }

    /// The error of a failed write, naming the file.
    fn named(&self, err: std::io::Error) -> std::io::Error {
        std::io::Error::new(
            err.kind(),
            format!(
                "cannot write {} output to {}: {err}",
                self.what,
                if self.is_stdout() {
                    "standard output"
                } else {
                    &self.path
                }
            ),
        )
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf).map_err(|err| self.named(err))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().map_err(|err| self.named(err))
    }
}

/// Whether the process runs as root (then links are not followed).
fn running_as_root() -> bool {
    crate::io::privileges::running_as_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("scanner-out-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_folder_fails_at_open_with_the_path() {
        let err = OutputFile::create("/nonexistent/x.xml", "XML")
            .err()
            .unwrap();
        let text = format!("{err:#}");
        assert!(
            text.contains("cannot write XML output to /nonexistent/x.xml"),
            "{text}"
        );
    }

    #[test]
    fn a_full_device_fails_at_the_first_write_with_the_path() {
        let mut out = OutputFile::create("/dev/full", "normal").unwrap();
        let err = out.write_text("Nmap scan report\n").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("cannot write normal output to /dev/full") && text.contains("space"),
            "{text}"
        );
    }

    #[test]
    fn links_are_not_followed_when_refused() {
        let dir = scratch("links");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.join("out.xml");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let link = link.to_str().unwrap();
        let err = OutputFile::open_with(link, "XML", false, true)
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        assert!(OutputFile::open_with(link, "grepable", true, true).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // Not root: the user's own link is theirs to follow.
        OutputFile::open_with(link, "XML", false, false)
            .unwrap()
            .write_text("new")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "new");
        // A plain file is created, truncated, or appended to.
        let plain = dir.join("plain.gnmap");
        let plain = plain.to_str().unwrap();
        OutputFile::open_with(plain, "grepable", false, true)
            .unwrap()
            .write_text("a")
            .unwrap();
        OutputFile::open_with(plain, "grepable", true, true)
            .unwrap()
            .write_text("b")
            .unwrap();
        assert_eq!(std::fs::read_to_string(plain).unwrap(), "ab");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
