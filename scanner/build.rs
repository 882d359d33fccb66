//! Builds the XDP classifier (`scanner-ebpf`) with the nightly toolchain and
//! bpf-linker, so that `include_bytes_aligned!` can embed the object in the binary,
//! and sets `cfg(fast_path)` for the code that uses it (the `xdp` feature, on Linux).
//! `cargo xtask setup` installs what this needs. The portable build (no `xdp`
//! feature, or a system other than Linux) builds no eBPF and needs none of it.

fn main() -> anyhow::Result<()> {
    println!("cargo::rustc-check-cfg=cfg(fast_path)");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if !linux || std::env::var_os("CARGO_FEATURE_XDP").is_none() {
        return Ok(());
    }
    println!("cargo::rustc-cfg=fast_path");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let ebpf_dir = std::path::Path::new(&manifest_dir).join("../scanner-ebpf");
    let ebpf_dir = ebpf_dir.canonicalize()?;
    let root_dir = ebpf_dir.to_str().expect("utf-8 path");
    println!("cargo:rerun-if-changed=../scanner-common/src");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "scanner-ebpf",
            root_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .map_err(|err| {
        anyhow::anyhow!(
            "building the XDP classifier failed: {err:#}\n\
             run `cargo xtask setup` once (it installs the nightly's rust-src and bpf-linker), \
             or build the portable configuration without it: --no-default-features"
        )
    })
}
