//! Tern's eBPF loader: loads the programs built from ebpf/programs, attaches
//! them to interfaces through TCX, pins their maps under the daemon's instance
//! name and reads them back as typed values.
pub mod counters;
pub mod datapath;
pub mod egress;
mod maps;
pub mod services;
pub mod srv6;
mod table_pool;

pub use counters::{CounterPrograms, Direction, Error, pin_dir};
pub use datapath::{
    Datapath, DatapathConfig, Hook, Probe, ProgramStats, TestRunOutput, TunnelDiff,
};
pub use tern_ebpf_common::IfCounters;

/// The compiled counters object (built by build.rs with nightly for
/// bpfel-unknown-none).
pub(crate) static COUNTERS_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tern-counters"));

/// The compiled datapath object (pod, uplink and VXLAN programs).
pub(crate) static DATAPATH_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tern-datapath"));

/// Loads one of our objects. Without the kernel's BTF: the programs read
/// only UAPI structures and carry no CO-RE relocations (Rust cannot emit
/// them), and parsing /sys/kernel/btf/vmlinux, which aya does by default,
/// cost ternd about 25 MB of peak memory for nothing.
pub(crate) fn load_object(obj: &[u8]) -> Result<aya::Ebpf, aya::EbpfError> {
    aya::EbpfLoader::new().btf(None).load(obj)
}
