//! The Kubernetes manifests (`deploy/kubernetes`): every resource validates strictly
//! against Kubernetes' own schemas (kubernetes-validate, which `cargo xtask setup`
//! installs) for the oldest release with every field they use (1.33: per-index
//! backoff), a misspelt field fails the same check, every file a kustomization
//! names exists, and every scanner option the Job's command uses is one the scanner
//! has. Needs no lab.

use lab_tests::scanner_binary;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Kubernetes release the manifests are checked against.
const KUBERNETES: &str = "1.33.0";

fn deploy() -> PathBuf {
    xtask::workspace_root().join("deploy/kubernetes")
}

/// Every YAML file under `dir`, recursively.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// kubernetes-validate's verdict on `files`: success, and what it said.
fn validate(files: &[PathBuf]) -> (bool, String) {
    let validator = xtask::kubernetes_validate();
    assert!(
        validator.exists(),
        "{} is missing: run `cargo xtask setup`",
        validator.display()
    );
    let out = Command::new(validator)
        .args(["--strict", "-k", KUBERNETES])
        .args(files)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn is_kustomization(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "kustomization.yaml")
}

#[test]
fn the_manifests_validate_against_kubernetes_schemas() {
    let resources: Vec<PathBuf> = yaml_files(&deploy())
        .into_iter()
        .filter(|p| !is_kustomization(p))
        .collect();
    assert!(resources.len() >= 3, "{resources:?}");
    let (ok, said) = validate(&resources);
    assert!(ok, "{said}");
    for file in &resources {
        assert!(
            said.contains(&format!("{} passed", file.display())),
            "{said}"
        );
    }
    // The check can fail: a misspelt field in the Job is rejected.
    let job = std::fs::read_to_string(deploy().join("sweep-job.yaml")).unwrap();
    let misspelt = std::env::temp_dir().join(format!("scanner-job-{}.yaml", std::process::id()));
    std::fs::write(
        &misspelt,
        job.replace("backoffLimitPerIndex", "backoffLimitPerIndx"),
    )
    .unwrap();
    let (ok, said) = validate(std::slice::from_ref(&misspelt));
    std::fs::remove_file(&misspelt).unwrap();
    assert!(!ok && said.contains("backoffLimitPerIndx"), "{said}");
}

#[test]
fn every_file_a_kustomization_names_exists() {
    for kustomization in yaml_files(&deploy())
        .into_iter()
        .filter(|p| is_kustomization(p))
    {
        let dir = kustomization.parent().unwrap();
        let text = std::fs::read_to_string(&kustomization).unwrap();
        let named: Vec<&str> = text
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                l.strip_prefix("- path: ")
                    .or_else(|| l.strip_prefix("- ").filter(|_| !l.contains(':')))
            })
            .collect();
        assert!(!named.is_empty(), "{}", kustomization.display());
        for name in named {
            assert!(
                dir.join(name).exists(),
                "{} names {name}, which is not there",
                kustomization.display()
            );
        }
    }
}

#[test]
fn the_jobs_command_uses_only_options_the_scanner_has() {
    let help = Command::new(scanner_binary())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut options = Vec::new();
    for file in yaml_files(&deploy()) {
        let text = std::fs::read_to_string(&file).unwrap();
        options.extend(
            text.split(|c: char| c.is_whitespace() || c == '"')
                .filter(|word| word.starts_with("--") && word.len() > 2)
                .map(|word| word.trim_end_matches([',', ']']).to_string()),
        );
    }
    assert!(
        options.iter().any(|o| o == "--resume-or-start"),
        "{options:?}"
    );
    for option in options {
        assert!(
            help.contains(&format!("{option} ")) || help.contains(&format!("{option}\n")),
            "the manifests use {option}, which `scanner --help` does not list"
        );
    }
}
