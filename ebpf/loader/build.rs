//! Builds the eBPF programs (ebpf/programs) with the nightly toolchain for
//! bpfel-unknown-none; the objects land in OUT_DIR and are embedded by the
//! loader with include_bytes.
fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let programs_dir = std::path::Path::new(&manifest_dir).join("../programs");
    let programs_dir = programs_dir
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path to ebpf/programs"))?
        .to_owned();
    println!("cargo:rerun-if-changed=../common/src");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "tern-ebpf-programs",
            root_dir: &programs_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::Nightly,
    )
}
