//! `cargo xtask dist`: what a user installs, built from the release binary (the XDP
//! classifier is embedded in it): a `.deb` and a tarball, each holding the binary, the
//! data files it finds beside itself (`share/scanner/`: the fingerprints and the
//! scripts), a manual page and shell completions generated from the binary's own
//! command line (`scanner --print-man-page`, `--print-completions SHELL`), and the
//! README. The tarball is laid out as a prefix (`bin/`, `share/`), so it runs wherever
//! it is unpacked; the `.deb` installs under `/usr`.

use crate::shell;
use crate::workspace_root;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The package's name and version (the scanner crate's).
const NAME: &str = "scanner";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `package` made.
#[derive(Debug)]
pub struct Packages {
    pub deb: PathBuf,
    pub tarball: PathBuf,
}

/// Packages the release binary at `binary` into `target/dist/`.
pub fn package(binary: &Path) -> Result<Packages> {
    let root = workspace_root();
    let dist = root.join("target/dist");
    let arch = shell::output("dpkg", &["--print-architecture"])
        .context("dpkg --print-architecture (dpkg builds the .deb)")?
        .trim()
        .to_string();
    let stage = dist.join(format!("{NAME}_{VERSION}_{arch}"));
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    let usr = stage.join("usr");
    fill_prefix(binary, &usr)?;
    write_control(&stage, &arch, &usr)?;
    let deb = dist.join(format!("{NAME}_{VERSION}_{arch}.deb"));
    shell::run_visible(
        Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(&stage)
            .arg(&deb),
    )?;
    let tarball = dist.join(format!(
        "{NAME}-{VERSION}-{}-linux.tar.gz",
        std::env::consts::ARCH
    ));
    let top = format!("{NAME}-{VERSION}");
    shell::run_visible(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "-czf"])
            .arg(&tarball)
            .arg("-C")
            .arg(&stage)
            .arg(format!("--transform=s,^usr,{top},"))
            .arg("usr"),
    )?;
    println!("==> {}\n==> {}", deb.display(), tarball.display());
    Ok(Packages { deb, tarball })
}

/// Fills `prefix` (`bin/`, `share/`) with the binary and everything beside it.
fn fill_prefix(binary: &Path, prefix: &Path) -> Result<()> {
    let root = workspace_root();
    let bin = prefix.join("bin");
    let data = prefix.join("share/scanner");
    for dir in [&bin, &data.join("fingerprints"), &data.join("scripts")] {
        std::fs::create_dir_all(dir)?;
    }
    let installed = bin.join(NAME);
    // Without its debug information the binary is a fraction of the size.
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&installed)
        .arg(binary)
        .status();
    if !stripped.is_ok_and(|s| s.success()) {
        std::fs::copy(binary, &installed)
            .with_context(|| format!("copying {}", binary.display()))?;
    }
    for name in ["services", "service-probes", "os-db", "synack-signatures"] {
        copy(
            &root.join("fingerprints").join(name),
            &data.join("fingerprints").join(name),
        )?;
    }
    for entry in std::fs::read_dir(root.join("scripts"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "nse") || path.ends_with("README.md") {
            copy(&path, &data.join("scripts").join(path.file_name().unwrap()))?;
        }
    }
    let generated = |args: &[&str]| -> Result<Vec<u8>> {
        let out = Command::new(&installed).args(args).output()?;
        if !out.status.success() {
            bail!(
                "{} {args:?} failed: {}",
                installed.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    };
    let man = prefix.join("share/man/man1");
    std::fs::create_dir_all(&man)?;
    std::fs::write(man.join("scanner.1"), generated(&["--print-man-page"])?)?;
    shell::run_visible(
        Command::new("gzip")
            .args(["-9nf"])
            .arg(man.join("scanner.1")),
    )?;
    for (shell_name, place) in [
        ("bash", "share/bash-completion/completions/scanner"),
        ("zsh", "share/zsh/vendor-completions/_scanner"),
        ("fish", "share/fish/vendor_completions.d/scanner.fish"),
    ] {
        let path = prefix.join(place);
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(&path, generated(&["--print-completions", shell_name])?)?;
    }
    let doc = prefix.join("share/doc/scanner");
    std::fs::create_dir_all(&doc)?;
    copy(&root.join("README.md"), &doc.join("README.md"))?;
    std::fs::write(
        doc.join("copyright"),
        "scanner: MIT OR Apache-2.0 (see the project's Cargo.toml).\n\
         Its data files (fingerprints/, scripts/) are the project's own.\n",
    )?;
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// DEBIAN/control: what the package needs installed (the libraries the binary links,
/// found by dpkg-shlibdeps where it can, else the known list) and its size.
fn write_control(stage: &Path, arch: &str, usr: &Path) -> Result<()> {
    let size_kib = dir_size(usr)? / 1024;
    let control = format!(
        "Package: {NAME}\n\
         Version: {VERSION}\n\
         Architecture: {arch}\n\
         Maintainer: scanner project <scanner@localhost>\n\
         Installed-Size: {size_kib}\n\
         Depends: libc6, libgcc-s1, libpcap0.8, libelf1, zlib1g\n\
         Section: net\n\
         Priority: optional\n\
         Description: network scanner with nmap's reach and masscan's speed\n \
         Host discovery, SYN/connect/UDP port scans, version detection, OS detection\n \
         and Lua scripts, on an XDP classifier and AF_XDP, on one event loop.\n"
    );
    let debian = stage.join("DEBIAN");
    std::fs::create_dir_all(&debian)?;
    std::fs::write(debian.join("control"), control)?;
    Ok(())
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
