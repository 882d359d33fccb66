//! Debian packages: whether one is installed, and installing those missing without
//! letting their daemons start in the root namespace (the lab starts its own copies
//! inside network namespaces); and unpacking packages into a folder of their own
//! where installing them would remove one the lab needs.

use crate::shell;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// The file whose presence says [`unpack`] finished a folder.
const UNPACKED_MARK: &str = ".unpacked";

/// Whether dpkg has `package` installed.
pub fn is_installed(package: &str) -> bool {
    shell::output("dpkg-query", &["-W", "-f=${Status}", package])
        .map(|status| status == "install ok installed")
        .unwrap_or(false)
}

/// Installs those of `packages` that are missing (none: nothing runs).
pub fn install_missing(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("==> apt-get install {}", missing.join(" "));
    // policy-rc.d tells invoke-rc.d not to start what is installed.
    let policy = std::path::Path::new("/usr/sbin/policy-rc.d");
    let made_policy = !policy.exists();
    if made_policy {
        std::fs::write(policy, "#!/bin/sh\nexit 101\n")?;
        shell::run("chmod", &["755", "/usr/sbin/policy-rc.d"])?;
    }
    let result = (|| {
        shell::run_visible(Command::new("apt-get").args(["update", "-qq"]))?;
        shell::run_visible(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    })();
    if made_policy {
        let _ = std::fs::remove_file(policy);
    }
    result.context("installing Debian packages (needs root and Debian's package mirrors)")
}

/// Whether [`unpack`] has filled `folder`.
pub fn is_unpacked(folder: &Path) -> bool {
    folder.join(UNPACKED_MARK).exists()
}

/// Downloads `packages` and extracts their files into `folder` (`dpkg -x`: nothing is
/// installed, no maintainer script runs, dpkg does not know them), unless that was
/// done before.
pub fn unpack(packages: &[&str], folder: &Path) -> Result<()> {
    if is_unpacked(folder) {
        return Ok(());
    }
    println!(
        "==> unpacking {} into {}",
        packages.join(" "),
        folder.display()
    );
    let downloads = folder.with_extension("downloads");
    let _ = std::fs::remove_dir_all(&downloads);
    std::fs::create_dir_all(&downloads)?;
    let download = || {
        let mut command = Command::new("apt-get");
        command
            .arg("download")
            .args(packages)
            .current_dir(&downloads);
        command
    };
    if shell::run_visible(&mut download()).is_err() {
        // The package lists may be older than the mirror, or missing.
        shell::run_visible(Command::new("apt-get").args(["update", "-qq"]))?;
        shell::run_visible(&mut download())
            .context("downloading Debian packages (needs Debian's package mirrors)")?;
    }
    std::fs::create_dir_all(folder)?;
    for entry in std::fs::read_dir(&downloads)? {
        let deb = entry?.path();
        let deb = deb.to_str().context("a downloaded package's name")?;
        let into = folder.to_str().context("the folder's name")?;
        shell::run("dpkg", &["-x", deb, into])?;
    }
    std::fs::write(folder.join(UNPACKED_MARK), packages.join("\n"))?;
    std::fs::remove_dir_all(&downloads)?;
    Ok(())
}
