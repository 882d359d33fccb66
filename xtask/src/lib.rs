//! Development tasks for the scanner workspace (`cargo xtask ...`), and the lab.
//!
//! The library half exists so that the integration tests in `tests/` can read the
//! lab's topology and truth from the one place that also builds the lab.

pub mod bench;
pub mod bench_nmap;
pub mod bench_os;
pub mod bench_pipeline;
pub mod bench_scripts;
pub mod bench_version;
pub mod dist;
pub mod lab;
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
