//! The fixed hashes of the egress gateway, written out so that every node,
//! every build and the eBPF programs compute the same numbers: FNV-1a 64
//! (Fowler, Noll, Vo) over byte strings, and MurmurHash3's 64-bit finaliser
//! (`fmix64`, Appleby) to mix words. Both need only xor, shifts and
//! multiplication, which the BPF instruction set has.
//!
//! Addresses are hashed as 16 bytes, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`),
//! the layout of the datapath's map keys.
use std::net::IpAddr;

/// FNV-1a 64 offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime (2^40 + 2^8 + 0xb3).
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// 2^64 / golden ratio: spreads a 32-bit flow hash over 64 bits.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// FNV-1a 64 of `data`.
pub fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// MurmurHash3's 64-bit finaliser: a bijection in which every input bit
/// flips every output bit with probability close to one half.
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

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
    let mut bytes = [0u8; 37];
    bytes[..16].copy_from_slice(&addr_bytes(flow.src));
    bytes[16..32].copy_from_slice(&addr_bytes(flow.dst));
    bytes[32..34].copy_from_slice(&flow.src_port.to_be_bytes());
    bytes[34..36].copy_from_slice(&flow.dst_port.to_be_bytes());
    bytes[36] = flow.proto;
    let h = fnv1a64(&bytes);
    (h ^ (h >> 32)) as u32
}

/// A gateway's rendezvous key: FNV-1a 64 over `node[16] egress_ip[16]`.
/// Computed once per gateway (ternd writes it next to the gateway in the
/// map), so that a packet costs one [`fmix64`] per gateway.
pub fn gateway_key(node: IpAddr, egress_ip: IpAddr) -> u64 {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&addr_bytes(node));
    bytes[16..].copy_from_slice(&addr_bytes(egress_ip));
    fnv1a64(&bytes)
}

/// The rendezvous (highest random weight) score of a gateway for a flow:
/// `fmix64(key ^ flow_hash * GOLDEN)`. The flow goes to the highest score.
pub fn rendezvous_score(flow_hash: u32, key: u64) -> u64 {
    fmix64(key ^ u64::from(flow_hash).wrapping_mul(GOLDEN))
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
