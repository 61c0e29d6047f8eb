//! Map layouts of the SRv6 L3VPN datapath (ebpf/programs/src/dp/srv6.rs):
//! the headend's encapsulation policies per VRF, this node's SIDs and
//! locators, and the VRF of each pod interface.
//!
//! A VRF is a routing table id: the kernel here has no VRF devices, so a
//! pod's VRF is this map's word, and its routes are a table the programs
//! look up with `bpf_fib_lookup` and `BPF_FIB_LOOKUP_TBID`.
//!
//! Prefixes and addresses use the datapath's 16-byte layout (IPv4 mapped
//! into IPv6, [`crate::datapath::IpKey`]), so one trie serves both families.

/// LPM trie: ([`EncapKey`] bytes: VRF table id, destination prefix) ->
/// [`Srv6Policy`]: H.Encaps.Red towards the SID list.
pub const ENCAP_MAP: &str = "TERN_SRV6_ENCAP";
/// Hash map: local SID (16 bytes, exact match) -> [`LocalSid`].
pub const SIDS_MAP: &str = "TERN_SRV6_SIDS";
/// LPM trie: locator prefix of this node (16 bytes) -> `u32` (0). An
/// address inside a locator that is no SID in [`SIDS_MAP`] is dropped as
/// `srv6-unknown-sid` rather than left to the stack.
pub const LOCATORS_MAP: &str = "TERN_SRV6_LOCATORS";
/// Hash map: ifindex of a pod's host-side interface -> `u32` VRF table id.
pub const VRF_IFACES_MAP: &str = "TERN_VRF_IFACES";

/// Encapsulation entries (VPN prefixes of every VRF).
pub const MAX_ENCAP_ROUTES: u32 = 65536;
/// Local SIDs (one per VRF and behavior, in practice).
pub const MAX_LOCAL_SIDS: u32 = 1024;
/// Locators of this node.
pub const MAX_LOCATORS: u32 = 64;
/// Segments of one policy (H.Encaps.Red keeps the first out of the SRH,
/// so the routing header holds at most `MAX_SEGMENTS - 1` of them).
pub const MAX_SEGMENTS: usize = 4;
/// The hop limit of the outer header when the policy gives none.
pub const DEFAULT_HOP_LIMIT: u8 = 64;
/// Bytes of the encap key: the table id (4, big-endian) and the address (16).
pub const ENCAP_KEY_LEN: usize = 20;

/// IPv6 next header of a Routing header (RFC 8200 section 4.4).
pub const IPPROTO_ROUTING: u8 = 43;
/// IPv6 next header of an IPv4 packet (IPv4 in IPv6).
pub const IPPROTO_IPIP: u8 = 4;
/// IPv6 next header of an IPv6 packet (IPv6 in IPv6).
pub const IPPROTO_IPV6: u8 = 41;
/// Routing Type of the Segment Routing Header (RFC 8754 section 2).
pub const ROUTING_TYPE_SRH: u8 = 4;

/// Bytes H.Encaps.Red adds in front of the inner packet for a policy of
/// `segments` SIDs: the IPv6 header (40) and, with more than one segment,
/// an SRH of 8 bytes and 16 per SID after the first.
pub const fn encap_overhead(segments: usize) -> usize {
    if segments <= 1 {
        40
    } else {
        40 + 8 + 16 * (segments - 1)
    }
}

/// The largest [`encap_overhead`] (the programs' scratch buffer).
pub const MAX_ENCAP_OVERHEAD: usize = encap_overhead(MAX_SEGMENTS);

/// The key bytes of an encap entry: `table` big-endian, then the address
/// (the LPM prefix length is 32 + the address's prefix length in the
/// 128-bit layout, so entries of two tables never cover each other).
pub fn encap_key(table: u32, addr: &[u8; 16]) -> [u8; ENCAP_KEY_LEN] {
    let mut k = [0u8; ENCAP_KEY_LEN];
    let t = table.to_be_bytes();
    k[0] = t[0];
    k[1] = t[1];
    k[2] = t[2];
    k[3] = t[3];
    let mut i = 0;
    while i < 16 {
        k[4 + i] = addr[i];
        i += 1;
    }
    k
}

/// An SR policy for a VPN prefix: the SIDs in the order the packet visits
/// them (`segments[0]` is the first, the outer destination; the last is the
/// remote PE's End.DT* SID of the VRF).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Srv6Policy {
    pub segments: [[u8; 16]; MAX_SEGMENTS],
    /// The outer source address (all zero: the node's IPv6 address,
    /// `DatapathConfig::local_v6`).
    pub source: [u8; 16],
    /// How many of `segments` are used: 1..=[`MAX_SEGMENTS`] (another value
    /// is dropped as `encap-failed`).
    pub count: u32,
    /// Hop limit of the outer header (0: [`DEFAULT_HOP_LIMIT`]).
    pub hop_limit: u32,
}

/// What a local SID does (the values are IANA's "SRv6 Endpoint Behaviors"
/// codepoints, RFC 8986 section 10.2, as BGP carries them in RFC 9252).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behavior {
    /// Decapsulation and IPv6 table lookup (RFC 8986 section 4.6).
    EndDt6 = 18,
    /// Decapsulation and IPv4 table lookup (section 4.7).
    EndDt4 = 19,
    /// Decapsulation and IPv4 or IPv6 table lookup (section 4.8).
    EndDt46 = 20,
}

impl Behavior {
    /// The behavior of a codepoint this datapath implements.
    pub const fn from_u32(v: u32) -> Option<Behavior> {
        match v {
            18 => Some(Behavior::EndDt6),
            19 => Some(Behavior::EndDt4),
            20 => Some(Behavior::EndDt46),
            _ => None,
        }
    }
    /// The RFC's name (FRR's `show segment-routing srv6 sid` spelling).
    pub const fn name(self) -> &'static str {
        match self {
            Behavior::EndDt6 => "End.DT6",
            Behavior::EndDt4 => "End.DT4",
            Behavior::EndDt46 => "End.DT46",
        }
    }
    /// Whether the behavior takes an inner packet of IPv4 (`false`: IPv6).
    pub const fn accepts(self, inner_v6: bool) -> bool {
        match self {
            Behavior::EndDt6 => inner_v6,
            Behavior::EndDt4 => !inner_v6,
            Behavior::EndDt46 => true,
        }
    }
}

/// A SID instantiated on this node.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalSid {
    /// A [`Behavior`] codepoint.
    pub behavior: u32,
    /// The VRF's routing table id: where the inner packet is looked up.
    pub table: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_counts_the_srh_only_past_one_segment() {
        assert_eq!(encap_overhead(1), 40);
        assert_eq!(encap_overhead(2), 40 + 8 + 16);
        assert_eq!(encap_overhead(3), 40 + 8 + 32);
        assert_eq!(MAX_ENCAP_OVERHEAD, 96);
    }

    #[test]
    fn encap_keys_start_with_the_table_big_endian() {
        let k = encap_key(0x0102_0304, &[9; 16]);
        assert_eq!(k[..4], [1, 2, 3, 4]);
        assert_eq!(k[4..], [9; 16]);
    }

    #[test]
    fn behaviors_round_trip_and_accept_their_families() {
        for b in [Behavior::EndDt4, Behavior::EndDt6, Behavior::EndDt46] {
            assert_eq!(Behavior::from_u32(b as u32), Some(b));
        }
        assert_eq!(Behavior::from_u32(1), None);
        assert!(Behavior::EndDt4.accepts(false) && !Behavior::EndDt4.accepts(true));
        assert!(Behavior::EndDt6.accepts(true) && !Behavior::EndDt6.accepts(false));
        assert!(Behavior::EndDt46.accepts(true) && Behavior::EndDt46.accepts(false));
    }
}

// The layouts are part of the ABI between programs and loader.
const _: () = assert!(core::mem::size_of::<Srv6Policy>() == 88);
const _: () = assert!(core::mem::size_of::<LocalSid>() == 8);

// SAFETY: #[repr(C)], integers and byte arrays only, no padding (sizes
// asserted above): every byte pattern is a valid value.
#[cfg(feature = "user")]
mod pod {
    #![allow(unsafe_code)]
    use super::*;
    unsafe impl aya::Pod for Srv6Policy {}
    unsafe impl aya::Pod for LocalSid {}
}
