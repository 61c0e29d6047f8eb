//! Map layouts of service load balancing: frontends, backends, the
//! lookup-table pool (Maglev or random tables), Tern's own conntrack, client
//! affinity and source ranges. The programs (ebpf/programs/src/dp/svc.rs)
//! read them; ternd writes them from the service table (services/).
//!
//! Addresses use the [`crate::datapath::IpKey`] layout: IPv6 as is, IPv4
//! mapped into IPv6.
//!
//! A connection to a frontend is translated once, when its first packet
//! arrives, and written down twice in [`CT_MAP`]: the forward entry
//! (client -> frontend, `CT_DIR_FORWARD`) says where the connection goes,
//! the reply entry (backend -> client or node, `CT_DIR_REPLY`) how its
//! replies are translated back. Later packets only look the entry up.

/// Hash map: [`ServiceKey`] -> [`ServiceEntry`]. A frontend address also has
/// an entry with port 0 and protocol 0 ([`SVC_F_ADDRESS`]): packets to that
/// address that match no frontend are dropped (`no-service`), not routed.
pub const SERVICES_MAP: &str = "TERN_SERVICES";
/// Array indexed by backend id -> [`Backend`] (id 0 is never used).
pub const BACKENDS_MAP: &str = "TERN_BACKENDS";
/// Array of backend ids, mmapable: the pool that holds every service's
/// lookup table at `[table_off, table_off + table_size)`. Its elements are
/// u64 pairs of u32 ids (array elements are 8-byte aligned), so its memory
/// is the ids in a row.
pub const LB_TABLE_MAP: &str = "TERN_LB_TABLE";
/// LRU hash: [`CtKey`] -> [`CtEntry`].
pub const CT_MAP: &str = "TERN_CT";
/// LRU hash: [`AffinityKey`] -> [`AffinityEntry`] (session affinity).
pub const AFFINITY_MAP: &str = "TERN_AFFINITY";
/// LPM trie: service id (4 bytes, big endian) + client address (16) ->
/// `u32` 1: the source ranges a service accepts.
pub const SOURCE_RANGES_MAP: &str = "TERN_SRC_RANGES";
/// Array of one [`ServicesConfig`].
pub const SERVICES_CONFIG_MAP: &str = "TERN_SVC_CONFIG";

/// Backend ids are below this.
pub const MAX_BACKENDS: u32 = 65536;
/// Frontend entries (ports and address markers) the service map holds.
pub const MAX_SERVICE_ENTRIES: u32 = 65536;
/// Entries of the lookup-table pool: 4 Mi ids (16 MiB), room for 256
/// services with the default Maglev table of 16,381, or 16,000 with 251.
pub const LB_TABLE_ENTRIES: u32 = 4 * 1024 * 1024;
/// Conntrack entries (two per connection).
pub const CT_ENTRIES: u32 = 262_144;
/// Session-affinity entries.
pub const AFFINITY_ENTRIES: u32 = 65536;
/// Source-range prefixes over all services.
pub const SOURCE_RANGE_ENTRIES: u32 = 16384;

/// [`ServiceEntry::flags`]: external traffic policy local (no SNAT, only
/// local backends in the table).
pub const SVC_F_LOCAL: u32 = 1;
/// Session affinity by client address.
pub const SVC_F_AFFINITY: u32 = 2;
/// Only clients inside the service's source ranges are accepted.
pub const SVC_F_SOURCE_RANGES: u32 = 4;
/// The table holds the candidates once each: pick one at random.
pub const SVC_F_RANDOM: u32 = 8;
/// The entry marks a frontend address (port 0, protocol 0), not a frontend.
pub const SVC_F_ADDRESS: u32 = 16;

/// [`Backend::flags`]: the slot holds a backend.
pub const BACKEND_F_PRESENT: u32 = 1;

/// [`CtKey::dir`]: the client's direction, keyed as the client sends.
pub const CT_DIR_FORWARD: u8 = 0;
/// [`CtKey::dir`]: the reply direction, keyed as the backend sends.
pub const CT_DIR_REPLY: u8 = 1;

/// [`CtEntry::flags`]: the source was translated too (SNAT to the node).
pub const CT_F_SNAT: u8 = 1;
/// [`CtEntry::flags`]: an egress gateway flow (SNAT to an egress IP;
/// `service_id` is the policy's id, the destination is not translated).
pub const CT_F_EGRESS: u8 = 2;

/// [`CtEntry::state`]: TCP, only the opening SYN seen.
pub const CT_STATE_SYN: u8 = 1;
/// TCP established (or any other packet without SYN, FIN or RST).
pub const CT_STATE_ESTABLISHED: u8 = 2;
/// TCP FIN or RST seen.
pub const CT_STATE_CLOSING: u8 = 3;
/// UDP.
pub const CT_STATE_OTHER: u8 = 4;

/// First and last port of the node's SNAT range (28,976 ports per
/// backend address and port): below Kubernetes' NodePort range
/// (30000-32767) and Linux's default ephemeral range (32768-60999), so that
/// the node's own connections to a backend never share a reply tuple with
/// a translated one, and above the well-known ports.
pub const SNAT_PORT_MIN: u16 = 1024;
pub const SNAT_PORT_MAX: u16 = 29999;

/// A frontend: address, port, protocol (IPPROTO_TCP / IPPROTO_UDP).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub addr: [u8; 16],
    pub port: u16,
    pub proto: u8,
    pub pad: u8,
}

/// What a frontend balances to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The service's id (affinity and source-range keys, conntrack).
    pub id: u32,
    /// Where the service's table starts in [`LB_TABLE_MAP`].
    pub table_off: u32,
    /// Entries of the table (0: no backend takes new connections).
    pub table_size: u32,
    /// `SVC_F_*`.
    pub flags: u32,
    /// Session-affinity timeout in seconds.
    pub affinity_timeout: u32,
    pub pad: u32,
}

/// A backend: where translated packets go.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backend {
    pub addr: [u8; 16],
    pub port: u16,
    pub pad: u16,
    /// `BACKEND_F_*`.
    pub flags: u32,
}

/// A conntrack key: the packet's tuple as it arrives, and its direction.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    /// `CT_DIR_*`.
    pub dir: u8,
    pub pad: u16,
}

/// A conntrack entry.
///
/// Forward: `addr_a:port_a` is the backend (the new destination);
/// `addr_b:port_b` the node's address and port when [`CT_F_SNAT`] (the new
/// source). Reply: `addr_a:port_a` is the frontend (the new source);
/// `addr_b:port_b` the client (the new destination when [`CT_F_SNAT`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtEntry {
    /// CLOCK_MONOTONIC nanoseconds after which the entry is dead.
    pub expires: u64,
    pub addr_a: [u8; 16],
    pub addr_b: [u8; 16],
    pub port_a: u16,
    pub port_b: u16,
    pub backend_id: u32,
    pub service_id: u32,
    /// `CT_F_*`.
    pub flags: u8,
    /// `CT_STATE_*`.
    pub state: u8,
    pub pad: u16,
}

/// A session-affinity key: service and client.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AffinityKey {
    pub client: [u8; 16],
    pub service_id: u32,
}

/// The backend a client sticks to, until `expires`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AffinityEntry {
    pub expires: u64,
    pub backend_id: u32,
    pub pad: u32,
}

/// Conntrack timeouts, in seconds (entry 0 of [`SERVICES_CONFIG_MAP`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServicesConfig {
    pub tcp_syn: u32,
    pub tcp_established: u32,
    pub tcp_closing: u32,
    pub other: u32,
}

impl Default for ServicesConfig {
    /// Cilium's defaults: TCP established 6 h, SYN 60 s, closing 10 s,
    /// everything else 60 s.
    fn default() -> Self {
        ServicesConfig {
            tcp_syn: 60,
            tcp_established: 6 * 3600,
            tcp_closing: 10,
            other: 60,
        }
    }
}

/// The flow hash that picks a Maglev slot: the same on every node for the
/// same 5-tuple (MurmurHash3's 32-bit mixing over the addresses, the ports
/// and the protocol; a fixed seed, so no node-local randomness).
#[inline(always)]
pub fn flow_hash(src: &[u8; 16], dst: &[u8; 16], sport: u16, dport: u16, proto: u8) -> u32 {
    #[inline(always)]
    fn word(a: &[u8; 16], i: usize) -> u32 {
        u32::from_le_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]])
    }
    #[inline(always)]
    fn mix(h: u32, k: u32) -> u32 {
        let k = k
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
        (h ^ k)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64)
    }
    let mut h = 0x7465_726e; // "tern"
    h = mix(h, word(src, 0));
    h = mix(h, word(src, 4));
    h = mix(h, word(src, 8));
    h = mix(h, word(src, 12));
    h = mix(h, word(dst, 0));
    h = mix(h, word(dst, 4));
    h = mix(h, word(dst, 8));
    h = mix(h, word(dst, 12));
    h = mix(h, (u32::from(sport) << 16) | u32::from(dport));
    h = mix(h, u32::from(proto));
    h ^= 37;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_hash_depends_on_every_field() {
        let a = [1u8; 16];
        let b = [2u8; 16];
        let h = flow_hash(&a, &b, 1000, 80, 6);
        assert_eq!(h, flow_hash(&a, &b, 1000, 80, 6));
        assert_ne!(h, flow_hash(&b, &a, 1000, 80, 6));
        assert_ne!(h, flow_hash(&a, &b, 1001, 80, 6));
        assert_ne!(h, flow_hash(&a, &b, 1000, 81, 6));
        assert_ne!(h, flow_hash(&a, &b, 1000, 80, 17));
    }
}

const _: () = assert!(core::mem::size_of::<ServiceKey>() == 20);
const _: () = assert!(core::mem::size_of::<ServiceEntry>() == 24);
const _: () = assert!(core::mem::size_of::<Backend>() == 24);
const _: () = assert!(core::mem::size_of::<CtKey>() == 40);
const _: () = assert!(core::mem::size_of::<CtEntry>() == 56);
const _: () = assert!(core::mem::size_of::<AffinityKey>() == 20);
const _: () = assert!(core::mem::size_of::<AffinityEntry>() == 16);
const _: () = assert!(core::mem::size_of::<ServicesConfig>() == 16);

// SAFETY (all impls below): #[repr(C)], integers and byte arrays with no
// padding (checked by the size asserts above): every byte pattern is valid.
#[cfg(feature = "user")]
mod pod {
    #![allow(unsafe_code)]
    use super::*;
    unsafe impl aya::Pod for ServiceKey {}
    unsafe impl aya::Pod for ServiceEntry {}
    unsafe impl aya::Pod for Backend {}
    unsafe impl aya::Pod for CtKey {}
    unsafe impl aya::Pod for CtEntry {}
    unsafe impl aya::Pod for AffinityKey {}
    unsafe impl aya::Pod for AffinityEntry {}
    unsafe impl aya::Pod for ServicesConfig {}
}

/// Socket-level balancing (cgroup connect/sendmsg/recvmsg/getpeername
/// programs): hash map netns cookie -> `u32` 1, the network namespaces
/// whose sockets are balanced (the pods', the node's own).
pub const SOCK_NETNS_MAP: &str = "TERN_SOCK_NETNS";
/// LRU hash: [`SockRevKey`] -> [`SockRevValue`]: what a socket connected
/// (or sent) to, so that recvmsg and getpeername show the frontend.
pub const SOCK_REVNAT_MAP: &str = "TERN_SOCK_REVNAT";
/// Network namespaces the socket programs serve.
pub const MAX_SOCK_NETNS: u32 = 8192;
/// Sockets remembered for reverse translation.
pub const SOCK_REVNAT_ENTRIES: u32 = 65536;

/// cgroup connect4 / connect6 / sendmsg4 / sendmsg6 / recvmsg4 / recvmsg6 /
/// getpeername4 / getpeername6: the programs' names, in that order.
pub const PROG_SOCK: [&str; 8] = [
    "tern_sock_connect4",
    "tern_sock_connect6",
    "tern_sock_sendmsg4",
    "tern_sock_sendmsg6",
    "tern_sock_recvmsg4",
    "tern_sock_recvmsg6",
    "tern_sock_getpeername4",
    "tern_sock_getpeername6",
];

/// A socket and the backend it reached.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SockRevKey {
    pub cookie: u64,
    pub addr: [u8; 16],
    pub port: u16,
    pub pad: [u8; 6],
}

/// The frontend the socket asked for.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockRevValue {
    pub addr: [u8; 16],
    pub port: u16,
    pub pad: u16,
}

const _: () = assert!(core::mem::size_of::<SockRevKey>() == 32);
const _: () = assert!(core::mem::size_of::<SockRevValue>() == 20);

#[cfg(feature = "user")]
mod sock_pod {
    #![allow(unsafe_code)]
    use super::*;
    // SAFETY: #[repr(C)], integers and byte arrays, no padding (asserted).
    unsafe impl aya::Pod for SockRevKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for SockRevValue {}
}
