//! The fixed hashes of the egress gateway (defined once, in
//! `tern_ebpf_common::egress`, for the programs and for userspace), so that every node,
//! every build and the eBPF programs compute the same numbers: FNV-1a 64
//! (Fowler, Noll, Vo) over byte strings, and MurmurHash3's 64-bit finaliser
//! (`fmix64`, Appleby) to mix words. Both need only xor, shifts and
//! multiplication, which the BPF instruction set has.
//!
//! Addresses are hashed as 16 bytes, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`),
//! the layout of the datapath's map keys.
use std::net::IpAddr;

pub use tern_ebpf_common::egress::{fmix64, fnv1a64};

/// An address as the datapath keys it: IPv6 as is, IPv4 as `::ffff:a.b.c.d`.
pub fn addr_bytes(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// The 5-tuple of a flow as the pod sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IANA protocol number (6 TCP, 17 UDP, 1 / 58 ICMP).
    pub proto: u8,
    /// Ports (0 for protocols without them; the echo identifier for ICMP
    /// echo in `src_port`).
    pub src_port: u16,
    pub dst_port: u16,
}

/// The reference flow hash: FNV-1a 64 over `src[16] dst[16] src_port (2,
/// big-endian) dst_port (2, big-endian) proto (1)` (37 bytes), its two
/// halves xored into 32 bits. Any well-spread 32-bit hash serves [`crate::pick`];
/// this one is defined so that tests and programs can share vectors.
pub fn flow_hash(flow: &FlowKey) -> u32 {
    tern_ebpf_common::egress::flow_hash(
        &addr_bytes(flow.src),
        &addr_bytes(flow.dst),
        flow.src_port,
        flow.dst_port,
        flow.proto,
    )
}

/// A gateway's rendezvous key: FNV-1a 64 over `node[16] egress_ip[16]`.
/// Computed once per gateway (ternd writes it next to the gateway in the
/// map), so that a packet costs one [`fmix64`] per gateway.
pub fn gateway_key(node: IpAddr, egress_ip: IpAddr) -> u64 {
    tern_ebpf_common::egress::gateway_key(&addr_bytes(node), &addr_bytes(egress_ip))
}

/// The rendezvous (highest random weight) score of a gateway for a flow:
/// `fmix64(key ^ flow_hash * GOLDEN)`. The flow goes to the highest score.
pub fn rendezvous_score(flow_hash: u32, key: u64) -> u64 {
    tern_ebpf_common::egress::pick_score(flow_hash, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_vectors() {
        // The FNV reference test vectors (draft-eastlake-fnv, FNV-1a 64).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fmix_is_a_mixing_bijection_on_samples() {
        assert_eq!(fmix64(0), 0);
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u64 {
            assert!(seen.insert(fmix64(i)));
        }
        // Avalanche: one flipped input bit flips about half the output bits.
        let mut flips = 0u32;
        for i in 0..64 {
            flips += (fmix64(0x1234_5678) ^ fmix64(0x1234_5678 ^ (1 << i))).count_ones();
        }
        let mean = f64::from(flips) / 64.0;
        assert!((28.0..36.0).contains(&mean), "{mean}");
    }

    #[test]
    fn vectors_for_the_datapath() {
        // Pinned values: a change here breaks agreement with the programs.
        let flow = FlowKey {
            src: "10.244.1.5".parse().unwrap(),
            dst: "192.0.2.130".parse().unwrap(),
            proto: 6,
            src_port: 40_000,
            dst_port: 5432,
        };
        assert_eq!(
            addr_bytes(flow.src),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 244, 1, 5]
        );
        let h = flow_hash(&flow);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&addr_bytes(flow.src));
        bytes.extend_from_slice(&addr_bytes(flow.dst));
        bytes.extend_from_slice(&[0x9c, 0x40, 0x15, 0x38, 6]);
        let full = fnv1a64(&bytes);
        assert_eq!(h, (full ^ (full >> 32)) as u32);
        assert_eq!(h, PINNED_FLOW_HASH);
        let key = gateway_key(
            "198.51.100.12".parse().unwrap(),
            "203.0.113.10".parse().unwrap(),
        );
        assert_eq!(key, PINNED_GATEWAY_KEY);
        assert_eq!(rendezvous_score(h, key), PINNED_SCORE);
        // The other direction is another flow.
        let back = FlowKey {
            src: flow.dst,
            dst: flow.src,
            src_port: flow.dst_port,
            dst_port: flow.src_port,
            ..flow
        };
        assert_ne!(flow_hash(&back), h);
    }

    // Computed by an independent script (Python) from the definitions above.
    const PINNED_FLOW_HASH: u32 = 0x9bfc_e7df;
    const PINNED_GATEWAY_KEY: u64 = 0x1a3d_af53_872a_bd8e;
    const PINNED_SCORE: u64 = 0xd45f_bc2f_05bd_70e3;
}
