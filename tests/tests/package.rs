//! What a user installs (`cargo xtask dist`): the `.deb` installed by dpkg (into a
//! root of its own whose package database is a copy of this machine's, so that dpkg
//! checks the package's dependencies against what is really installed and records
//! it) and the tarball unpacked anywhere each run `--version`, `--help` and a lab scan
//! from their own files, with the data files read from the package's folder (not the
//! source tree's); the manual page and completions are in them; and a data file
//! another user could have written is refused when the scanner runs as root.
//! Run by `cargo xtask test`, which brings the lab up first.

use lab_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use xtask::lab;

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scanner-package-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Installs `deb` with dpkg into `root`, whose package database starts as a copy of
/// this machine's: dpkg checks the dependencies, unpacks, configures and records the
/// package there as it would in `/`.
fn dpkg_install(deb: &Path, root: &Path) {
    let admin = root.join("var/lib/dpkg");
    for dir in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(dir)).unwrap();
    }
    std::fs::copy("/var/lib/dpkg/status", admin.join("status")).unwrap();
    std::fs::write(admin.join("available"), "").unwrap();
    let out = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--force-not-root", "--no-triggers", "-i"])
        .arg(deb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dpkg -i: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f=${Status} ${Version}", "scanner"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.starts_with("install ok installed"),
        "dpkg records: {status}"
    );
}

/// The installed binary (`PREFIX/bin/scanner`) answers `--version` and `--help`, scans
/// the web host with version detection and a script, reading every data file from
/// `PREFIX/share/scanner`, and its ports are the lab's truth.
fn check_installed(prefix: &Path) {
    let binary = prefix.join("bin/scanner");
    let version = Command::new(&binary).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("scanner "));
    let help = Command::new(&binary).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--datadir"));
    let web = lab::host("web").addr.to_string();
    let (json, messages) = run_in_lab(
        &binary,
        &[
            "-d",
            "-sS",
            "-sV",
            "-n",
            "-p",
            "22,80,443",
            "--script",
            "http-title",
            "-oJ",
            "-",
            &web,
        ],
    )
    .expect("a scan from the installed files");
    let data = prefix.join("share/scanner");
    for file in [
        "fingerprints/services",
        "fingerprints/service-probes",
        "fingerprints/synack-signatures",
        "scripts",
    ] {
        let line = format!(
            "data file {} (installed beside the binary)",
            data.join(file).display()
        );
        assert!(messages.contains(&line), "{line} not in:\n{messages}");
    }
    assert!(!messages.contains("(the source tree)"), "{messages}");
    assert!(
        json.contains("\"script\"") && json.contains("http-title"),
        "{json}"
    );
    assert!(json.contains("nginx"), "{json}");
    let findings: String = json
        .lines()
        .filter(|l| !l.contains("\"script\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let found = parse_findings(&findings).unwrap();
    assert_eq!(
        differences(&truth(&[web], "22,80,443"), &found),
        Vec::<String>::new()
    );
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn the_packages_run_from_their_own_files() {
    require_lab();
    let packages = xtask::dist::package(&xtask::workspace_root().join("target/release/scanner"))
        .expect("cargo xtask dist");
    // The .deb, installed by dpkg (into a root of its own rather than /).
    let root = folder("deb");
    dpkg_install(&packages.deb, &root);
    let usr = root.join("usr");
    for file in [
        "share/man/man1/scanner.1.gz",
        "share/bash-completion/completions/scanner",
        "share/zsh/vendor-completions/_scanner",
        "share/fish/vendor_completions.d/scanner.fish",
        "share/scanner/fingerprints/os-db",
        "share/scanner/scripts/http-title.nse",
    ] {
        assert!(usr.join(file).is_file(), "{file} is not in the .deb");
    }
    let control = Command::new("dpkg-deb")
        .arg("-f")
        .arg(&packages.deb)
        .arg("Depends")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&control.stdout).contains("libpcap0.8"));
    check_installed(&usr);

    // A data file another user could have written is refused, saying what to do.
    let services = usr.join("share/scanner/fingerprints/services");
    let mode = |m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&services, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(0o666);
    let refused = run_in_lab(
        &usr.join("bin/scanner"),
        &["-sS", "-p", "80", "-n", "198.18.0.10"],
    )
    .expect_err("a planted data file is refused");
    let messages = format!("{refused:#}");
    assert!(
        messages.contains("writable by other users") && messages.contains("chmod go-w"),
        "{messages}"
    );
    mode(0o644);
    std::fs::remove_dir_all(&root).unwrap();

    // The tarball, unpacked anywhere.
    let unpacked = folder("tarball");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&packages.tarball)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(status.success());
    let prefix = std::fs::read_dir(&unpacked)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    check_installed(&prefix);
    std::fs::remove_dir_all(&unpacked).unwrap();
}
