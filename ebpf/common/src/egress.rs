//! Map layouts of the egress gateway, and the hashes both sides compute.
//! The programs (ebpf/programs/src/dp/egw.rs) read the maps; ternd writes
//! them from the plan of tern-egressgw, whose gateway choice and hashes are
//! the functions below (one definition for the kernel and for userspace).
//!
//! On the pod's node, [`STEER_MAP`] says which pod traffic a policy takes;
//! [`POLICIES_MAP`] lists the policy's healthy gateways, one of which each
//! flow picks by rendezvous hashing ([`pick_score`]). The packet goes
//! through the tunnel to the gateway's node with the policy's id as its
//! VNI; there, [`MATCH_MAP`] checks it against the policy, and it leaves
//! translated to the egress IP of the gateway the same hashing picks among
//! the node's own. Translated flows live in the services' conntrack map
//! ([`crate::services::CT_MAP`]) with [`crate::services::CT_F_EGRESS`].
//!
//! Addresses use the [`crate::datapath::IpKey`] layout: IPv6 as is, IPv4
//! mapped into IPv6.

/// LPM trie: pod address (16 bytes) + destination (16 bytes), prefix length
/// 128 + the destination's (in the 128-bit space) -> [`Steer`].
pub const STEER_MAP: &str = "TERN_EGW_STEER";
/// Hash: [`PolicyKey`] -> [`PolicyGateways`].
pub const POLICIES_MAP: &str = "TERN_EGW_POLICIES";
/// LPM trie: [`match_key`] data -> `u32`: 1 allowed, 0 refused (an
/// exclude). Sources and destinations a gateway accepts for a policy.
pub const MATCH_MAP: &str = "TERN_EGW_MATCH";
/// Array of one [`EgressConfig`].
pub const CONFIG_MAP: &str = "TERN_EGW_CONFIG";

/// Steering entries (pods x destinations and excludes of their policies).
pub const STEER_ENTRIES: u32 = 65536;
/// (policy, family) entries.
pub const POLICY_ENTRIES: u32 = 2048;
/// Match prefixes over all policies this node is a gateway of.
pub const MATCH_ENTRIES: u32 = 16384;
/// Gateways of one policy and family (tern-egressgw's limit per policy).
pub const MAX_GATEWAYS: usize = 64;

/// [`Steer::flags`]: an exclude: the traffic is not steered.
pub const STEER_F_EXCLUDED: u32 = 1;
/// [`Gateway::flags`]: the gateway is this node.
pub const GW_F_LOCAL: u32 = 1;
/// [`PolicyGateways::flags`]: one of the gateways is this node (it accepts
/// the policy's tunnelled traffic).
pub const POLICY_F_LOCAL: u32 = 1;

/// [`MATCH_MAP`] kinds.
pub const MATCH_SOURCE: u8 = 0;
pub const MATCH_DESTINATION: u8 = 1;
/// Bytes of a [`MATCH_MAP`] key's data: policy id (4, big endian), kind
/// (1), zero (3), address (16).
pub const MATCH_KEY_LEN: usize = 24;

/// What a steering entry says.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Steer {
    pub policy_id: u32,
    /// `STEER_F_*`.
    pub flags: u32,
}

/// A policy's gateways of one family.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyKey {
    pub policy_id: u32,
    /// 4 or 6.
    pub family: u32,
}

/// One gateway: where the tunnel goes, the address flows leave with.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gateway {
    /// Its rendezvous key: [`gateway_key`] of node and egress IP.
    pub key: u64,
    pub node: [u8; 16],
    pub egress_ip: [u8; 16],
    /// `GW_F_*`.
    pub flags: u32,
    /// 4 or 6: the family of `node` (the tunnel's outer header).
    pub node_family: u32,
}

/// The healthy gateways of a policy and family, `gateways[..count]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyGateways {
    pub count: u32,
    /// `POLICY_F_*`.
    pub flags: u32,
    pub gateways: [Gateway; MAX_GATEWAYS],
}

impl Default for PolicyGateways {
    fn default() -> Self {
        PolicyGateways {
            count: 0,
            flags: 0,
            gateways: [Gateway::default(); MAX_GATEWAYS],
        }
    }
}

/// The gateway's SNAT settings: timeouts in seconds, the port range ([`EgressConfig::new`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EgressConfig {
    pub tcp_syn: u32,
    pub tcp_established: u32,
    pub tcp_closing: u32,
    pub other: u32,
    pub port_min: u16,
    pub port_max: u16,
    pub pad: u32,
}

impl Default for EgressConfig {
    /// The services' conntrack timeouts; ports [`PORT_MIN`]..=[`PORT_MAX`].
    fn default() -> Self {
        let t = crate::services::ServicesConfig::default();
        EgressConfig {
            tcp_syn: t.tcp_syn,
            tcp_established: t.tcp_established,
            tcp_closing: t.tcp_closing,
            other: t.other,
            port_min: PORT_MIN,
            port_max: PORT_MAX,
            pad: 0,
        }
    }
}

/// The gateway's default SNAT port range: every port but the well-known
/// ones. The egress IP is no address of the gateway (it is only announced),
/// so none of the gateway's own sockets can hold a 4-tuple with it, and
/// replies to it are taken by the datapath before the stack sees them.
pub const PORT_MIN: u16 = 1024;
pub const PORT_MAX: u16 = 65535;

/// Ports a new flow tries before its packet is dropped as
/// [`crate::datapath::DropReason::EgressPortsExhausted`].
pub const PORT_PROBES: u32 = 32;

/// UDP ports never given to a flow: the tunnels' (VXLAN, Geneve), so that a
/// reply can never be taken for a tunnel packet.
pub const RESERVED_UDP_PORTS: [u16; 2] = [4789, 6081];

/// The data of a [`MATCH_MAP`] key (the prefix length is 64 + the
/// address's, in the 128-bit space).
#[inline(always)]
pub fn match_key(policy_id: u32, kind: u8, addr: &[u8; 16]) -> [u8; MATCH_KEY_LEN] {
    let mut k = [0u8; MATCH_KEY_LEN];
    k[..4].copy_from_slice(&policy_id.to_be_bytes());
    k[4] = kind;
    k[8..].copy_from_slice(addr);
    k
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// FNV-1a, 64 bits.
#[inline(always)]
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < data.len() {
        h = (h ^ u64::from(data[i])).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// MurmurHash3's 64-bit finaliser.
#[inline(always)]
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The hash of a flow that picks its gateway: FNV-1a 64 over source,
/// destination (16 bytes each), source and destination port (big endian)
/// and protocol, folded to 32 bits. The same on every node.
#[inline(always)]
pub fn flow_hash(src: &[u8; 16], dst: &[u8; 16], sport: u16, dport: u16, proto: u8) -> u32 {
    let mut h = fnv1a64(src);
    let mut i = 0;
    while i < 16 {
        h = (h ^ u64::from(dst[i])).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    // Written out: an iterator here would cost the BPF stack.
    let [s0, s1] = sport.to_be_bytes();
    let [d0, d1] = dport.to_be_bytes();
    h = (h ^ u64::from(s0)).wrapping_mul(FNV_PRIME);
    h = (h ^ u64::from(s1)).wrapping_mul(FNV_PRIME);
    h = (h ^ u64::from(d0)).wrapping_mul(FNV_PRIME);
    h = (h ^ u64::from(d1)).wrapping_mul(FNV_PRIME);
    h = (h ^ u64::from(proto)).wrapping_mul(FNV_PRIME);
    (h ^ (h >> 32)) as u32
}

/// A gateway's rendezvous key: FNV-1a 64 over node and egress IP.
#[inline(always)]
pub fn gateway_key(node: &[u8; 16], egress_ip: &[u8; 16]) -> u64 {
    let mut h = fnv1a64(node);
    let mut i = 0;
    while i < 16 {
        h = (h ^ u64::from(egress_ip[i])).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// A gateway's score for a flow: the flow takes the gateway with the
/// highest (rendezvous or highest-random-weight hashing).
#[inline(always)]
pub fn pick_score(flow_hash: u32, key: u64) -> u64 {
    fmix64(key ^ u64::from(flow_hash).wrapping_mul(GOLDEN))
}

// Below the functions the programs inline, so that their debug line numbers
// (and with them the compiled object) do not move when this grows.

/// The programs read [`EgressConfig`]'s raw fields (timeouts in seconds, the
/// port range's ends); userspace builds and reads it through the typed
/// constructor and accessors here: the timeouts as the services'
/// [`ServicesConfig`](crate::services::ServicesConfig), the ports as a range.
/// `pad` is the loader's: it writes 0 whatever it is given.
impl EgressConfig {
    /// The settings with these conntrack timeouts and SNAT ports (both ends
    /// included).
    pub const fn new(
        timeouts: crate::services::ServicesConfig,
        ports: core::ops::RangeInclusive<u16>,
    ) -> Self {
        EgressConfig {
            tcp_syn: timeouts.tcp_syn,
            tcp_established: timeouts.tcp_established,
            tcp_closing: timeouts.tcp_closing,
            other: timeouts.other,
            port_min: *ports.start(),
            port_max: *ports.end(),
            pad: 0,
        }
    }

    /// The conntrack timeouts of the translated flows.
    pub const fn timeouts(&self) -> crate::services::ServicesConfig {
        crate::services::ServicesConfig {
            tcp_syn: self.tcp_syn,
            tcp_established: self.tcp_established,
            tcp_closing: self.tcp_closing,
            other: self.other,
        }
    }

    /// The same settings with other timeouts.
    pub const fn with_timeouts(self, timeouts: crate::services::ServicesConfig) -> Self {
        EgressConfig::new(timeouts, self.ports())
    }

    /// The SNAT ports (empty when `port_max` is below `port_min`).
    pub const fn ports(&self) -> core::ops::RangeInclusive<u16> {
        core::ops::RangeInclusive::new(self.port_min, self.port_max)
    }

    /// The same settings with other SNAT ports.
    pub const fn with_ports(self, ports: core::ops::RangeInclusive<u16>) -> Self {
        EgressConfig::new(self.timeouts(), ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ServicesConfig;

    #[test]
    fn config_accessors_round_trip() {
        let c = EgressConfig::default();
        assert_eq!(c.timeouts(), ServicesConfig::default());
        assert_eq!(
            (c.tcp_syn, c.tcp_established, c.tcp_closing, c.other),
            (60, 6 * 3600, 10, 60)
        );
        assert_eq!((c.ports(), c.pad), (PORT_MIN..=PORT_MAX, 0));
        assert_eq!(
            c,
            EgressConfig::new(ServicesConfig::default(), PORT_MIN..=PORT_MAX)
        );
        let t = ServicesConfig {
            tcp_syn: 5,
            tcp_established: 600,
            tcp_closing: 2,
            other: 30,
        };
        let c = c.with_timeouts(t).with_ports(40000..=40009);
        assert_eq!((c.timeouts(), c.ports()), (t, 40000..=40009));
        assert_eq!((c.port_min, c.port_max, c.tcp_closing), (40000, 40009, 2));
        assert_eq!(c, EgressConfig::new(t, 40000..=40009));
        assert!(EgressConfig { port_max: 1, ..c }.ports().is_empty());
    }
}

const _: () = assert!(core::mem::size_of::<Steer>() == 8);
const _: () = assert!(core::mem::size_of::<PolicyKey>() == 8);
const _: () = assert!(core::mem::size_of::<Gateway>() == 48);
const _: () = assert!(core::mem::size_of::<PolicyGateways>() == 8 + 48 * MAX_GATEWAYS);
const _: () = assert!(core::mem::size_of::<EgressConfig>() == 24);

// SAFETY (all impls below): #[repr(C)], integers and byte arrays with no
// padding (checked by the size asserts above): every byte pattern is valid.
#[cfg(feature = "user")]
mod pod {
    #![allow(unsafe_code)]
    use super::*;
    unsafe impl aya::Pod for Steer {}
    unsafe impl aya::Pod for PolicyKey {}
    unsafe impl aya::Pod for Gateway {}
    unsafe impl aya::Pod for PolicyGateways {}
    unsafe impl aya::Pod for EgressConfig {}
}
