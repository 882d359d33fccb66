//! Debian packages: whether one is installed, and installing those missing without
//! letting their daemons start in the root namespace (the lab starts its own copies
//! inside network namespaces).

use crate::shell;
use anyhow::{Context, Result};
use std::process::Command;

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
