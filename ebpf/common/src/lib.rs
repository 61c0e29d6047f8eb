//! The one place where Tern's eBPF map layouts are defined.
//!
//! Both sides include this crate: the programs (`no_std`, built for
//! `bpfel-unknown-none`) and the loader in userspace (with the `user` feature,
//! which marks the types as plain old data for aya). Every type is `#[repr(C)]`
//! with explicit, padding-free fields, so that the byte layout the kernel sees
//! is the one both sides agree on.
#![no_std]

pub mod datapath;
pub mod egress;
pub mod services;
pub mod srv6;

/// Name of the per-CPU hash map of per-interface traffic counters.
pub const IF_COUNTERS_MAP: &str = "TERN_IF_COUNTERS";
/// Capacity of [`IF_COUNTERS_MAP`]: interfaces one node can count.
pub const IF_COUNTERS_MAX_ENTRIES: u32 = 1024;

/// Name of the TC program counting packets received by an interface.
pub const PROG_COUNT_INGRESS: &str = "tern_count_ingress";
/// Name of the TC program counting packets sent by an interface.
pub const PROG_COUNT_EGRESS: &str = "tern_count_egress";

/// Traffic seen by Tern's TC programs on one interface, for one CPU.
///
/// Keyed by interface index (`u32`). Byte counts are `skb->len`: the L2 frame
/// without the FCS, as `ip -s link` counts it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfCounters {
    /// Packets seen on TC ingress.
    pub rx_packets: u64,
    /// Bytes seen on TC ingress.
    pub rx_bytes: u64,
    /// Packets seen on TC egress.
    pub tx_packets: u64,
    /// Bytes seen on TC egress.
    pub tx_bytes: u64,
}

impl IfCounters {
    /// Adds another CPU's (or snapshot's) counts to this one.
    pub fn add(&mut self, other: &IfCounters) {
        self.rx_packets = self.rx_packets.wrapping_add(other.rx_packets);
        self.rx_bytes = self.rx_bytes.wrapping_add(other.rx_bytes);
        self.tx_packets = self.tx_packets.wrapping_add(other.tx_packets);
        self.tx_bytes = self.tx_bytes.wrapping_add(other.tx_bytes);
    }
}

// SAFETY: IfCounters is #[repr(C)], made only of u64 fields (no padding, no
// invalid bit patterns), so any byte pattern the kernel hands back is valid.
#[cfg(feature = "user")]
#[allow(unsafe_code)]
unsafe impl aya::Pod for IfCounters {}

// The layout is part of the kernel ABI between programs and loader.
const _: () = assert!(core::mem::size_of::<IfCounters>() == 32);
