//! Development tasks for the scanner workspace (`cargo xtask ...`), and the lab.
//!
//! The library half exists so that the integration tests in `tests/` can read the
//! lab's topology and truth from the one place that also builds the lab.

pub mod apt;
pub mod bench;
pub mod bench_nmap;
pub mod bench_os;
pub mod bench_pipeline;
pub mod bench_scripts;
pub mod bench_version;
pub mod cluster;
pub mod dist;
pub mod lab;
#[cfg(feature = "lint-db")]
pub mod lint_db;
pub mod nmap_xml;
pub mod os_capture;
pub mod shell;

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Where `cargo xtask setup` keeps what it builds or installs for itself.
pub fn setup_cache_dir() -> std::path::PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    std::path::PathBuf::from(home).join(".cache/scanner-setup")
}

/// The validator of the Kubernetes manifests that `cargo xtask setup` installs (in a
/// venv of its own under [`setup_cache_dir`]).
pub fn kubernetes_validate() -> std::path::PathBuf {
    setup_cache_dir().join("venv/bin/kubernetes-validate")
}

/// The Python of that venv, which also has DuckDB and pyarrow (to read Parquet back).
pub fn tools_python() -> std::path::PathBuf {
    setup_cache_dir().join("venv/bin/python")
}
