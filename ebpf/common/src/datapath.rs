//! Map layouts of the pod datapath: endpoints, tunnel routes, the datapath
//! configuration and the counters the programs in
//! ebpf/programs/src/datapath.rs fill.
//!
//! Addresses are stored as 16 bytes: IPv6 as is, IPv4 as an IPv4-mapped IPv6
//! address (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2), so that one map and
//! one LPM trie serve both families.

use core::net::{Ipv4Addr, Ipv6Addr};

/// Hash map: pod address ([`IpKey`]) -> [`EndpointInfo`].
pub const ENDPOINTS_MAP: &str = "TERN_ENDPOINTS";
/// Hash map: ifindex of a pod's host-side interface -> `u32` endpoint id.
/// A packet arriving on one of them must come from one of that pod's
/// addresses (else it is dropped as [`DropReason::SourceSpoofed`]).
pub const POD_IFACES_MAP: &str = "TERN_POD_IFACES";
/// Per-CPU array indexed by endpoint id -> [`EndpointCounters`].
pub const ENDPOINT_COUNTERS_MAP: &str = "TERN_EP_COUNTERS";
/// Per-CPU array indexed by [`DropReason`] -> dropped packets (`u64`).
pub const DROPS_MAP: &str = "TERN_DROPS";
/// Per-CPU array indexed by [`PathKind`] -> packets that took it (`u64`).
pub const PATHS_MAP: &str = "TERN_PATHS";
/// LPM trie: remote pod prefix ([`IpKey`] with a prefix length) -> [`RemoteNode`].
pub const TUNNELS_MAP: &str = "TERN_TUNNELS";
/// Array of one [`DatapathConfig`].
pub const CONFIG_MAP: &str = "TERN_DP_CONFIG";
/// LRU hash: remote node address ([`IpKey`]) -> [`PathMtu`]: the path MTU
/// towards a node the tunnel learnt from an ICMP "fragmentation needed" /
/// "packet too big" about one of its own outer packets.
pub const PATH_MTU_MAP: &str = "TERN_PATH_MTU";
/// Remote nodes whose path MTU is remembered.
pub const PATH_MTU_ENTRIES: u32 = 4096;
/// How long a learnt path MTU holds, in seconds (Linux's `mtu_expires`).
pub const PATH_MTU_TIMEOUT_SECS: u64 = 600;
/// The smallest path MTU taken from an ICMP message: Linux's `min_pmtu`
/// for IPv4, the minimum link MTU for IPv6 (RFC 8200 section 5); a
/// message with less is taken as this (a forged one cannot shrink the
/// tunnel further).
pub const MIN_PATH_MTU_V4: u32 = 552;
pub const MIN_PATH_MTU_V6: u32 = 1280;
/// Hash map: address of an external VTEP ([`IpKey`]) -> [`VtepMac`]: a
/// node that is not Tern (a Linux VXLAN device, a hardware VTEP) whose
/// device takes only frames addressed to its own MAC. Packets tunnelled to
/// it carry that MAC as their inner destination ([`CFG_FLAG_VTEP`]).
pub const VTEPS_MAP: &str = "TERN_VTEPS";
/// External VTEPs the map holds.
pub const MAX_VTEPS: u32 = 1024;
/// LPM trie: trusted outer source ([`IpKey`] with a prefix length, IPv4 as
/// `::ffff:a.b.c.d/96+len`, as [`TUNNELS_MAP`]) -> `u32` (1). Geneve and
/// VXLAN packets are decapsulated only from a source inside one of them:
/// the other nodes, the external VTEPs and the nodes' underlay ranges.
/// Anything else is dropped as [`DropReason::UnknownTunnelSource`].
pub const NODES_MAP: &str = "TERN_NODES";
/// Trusted outer sources (addresses or prefixes) the map holds.
pub const MAX_TRUSTED_SOURCES: u32 = 4096;
/// Per-CPU array of one [`RedirectTrace`]: the last redirect decision
/// (written only while [`CFG_FLAG_TRACE`] is set).
pub const TRACE_MAP: &str = "TERN_TRACE";

/// Endpoint ids are below this; id 0 is never used, so a node holds one
/// pod interface fewer (ternd's endpoint registry takes no more).
pub const MAX_ENDPOINTS: u32 = 4096;
/// Addresses one endpoint may have (ternd's registry refuses more).
pub const MAX_ENDPOINT_ADDRESSES: u32 = 16;
/// Entries of the endpoint map (one per address): room for every address
/// of every endpoint the registry can hold, so that it never fills first.
pub const ENDPOINT_MAP_ENTRIES: u32 = MAX_ENDPOINTS * MAX_ENDPOINT_ADDRESSES;
/// Remote pod prefixes the tunnel map can hold.
pub const MAX_TUNNEL_ROUTES: u32 = 65536;

/// TCX ingress of a pod's host-side veth: packets sent by the pod.
pub const PROG_POD_INGRESS: &str = "tern_pod_ingress";
/// TCX ingress of the node's uplink: Geneve decapsulation, native delivery.
pub const PROG_UPLINK_INGRESS: &str = "tern_uplink_ingress";
/// The uplink's XDP program: north-south service packets to a backend on
/// this node, translated and redirected before an skb exists.
pub const PROG_UPLINK_XDP: &str = "tern_uplink_xdp";
/// TCX ingress of the collect_md VXLAN device: decapsulated packets.
pub const PROG_VXLAN_INGRESS: &str = "tern_vxlan_ingress";
/// TCX egress of the collect_md VXLAN device: the fragments the node's
/// stack made of a pod's packet too big for its tunnel
/// ([`DatapathConfig::frag_mark`]), tunnelled one by one.
pub const PROG_VXLAN_EGRESS: &str = "tern_vxlan_egress";
/// A program that returns TCX_NEXT and does nothing (benchmark baseline).
pub const PROG_NOOP: &str = "tern_noop";
/// Benchmark probe: one endpoint-map lookup of the IPv4 destination.
pub const PROG_PROBE_ENDPOINT: &str = "tern_probe_endpoint";
/// Benchmark probe: one bpf_fib_lookup for the IPv4 addresses.
pub const PROG_PROBE_FIB: &str = "tern_probe_fib";

/// IANA's Geneve port (RFC 8926 section 3.3).
pub const GENEVE_DEFAULT_PORT: u16 = 6081;
/// IANA's VXLAN port (RFC 7348 section 5).
pub const VXLAN_DEFAULT_PORT: u16 = 4789;
/// Geneve protocol type of an inner Ethernet frame (Transparent Ethernet Bridging).
pub const GENEVE_PROTO_ETH: u16 = 0x6558;
/// Bytes a tunnel adds in front of the inner IP packet with an IPv4 outer
/// header: IPv4 20 + UDP 8 + VXLAN or Geneve 8 + inner Ethernet 14.
pub const TUNNEL_OVERHEAD_V4: u32 = 50;
/// The same with an IPv6 outer header (40 instead of 20).
pub const TUNNEL_OVERHEAD_V6: u32 = 70;

/// Endpoint flag: the endpoint is a pod behind a veth (deliver with
/// bpf_redirect_peer into the pod's namespace). Without it, packets are
/// redirected to the egress of `ifindex`.
pub const EP_FLAG_VETH_PEER: u32 = 1;

/// An address in a map key: IPv6, or IPv4 mapped into IPv6.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpKey {
    pub addr: [u8; 16],
}

impl IpKey {
    /// The key of an IPv4 address (`::ffff:a.b.c.d`).
    pub const fn v4(a: [u8; 4]) -> Self {
        Self {
            addr: [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3],
            ],
        }
    }
    /// The key of an IPv6 address.
    pub const fn v6(a: [u8; 16]) -> Self {
        Self { addr: a }
    }
    /// The IPv4 address, if this key holds one.
    pub fn as_v4(&self) -> Option<[u8; 4]> {
        let a = &self.addr;
        if a[..10] == [0; 10] && a[10] == 0xff && a[11] == 0xff {
            Some([a[12], a[13], a[14], a[15]])
        } else {
            None
        }
    }
}

/// One local pod: where to deliver packets addressed to it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointInfo {
    /// ifindex of the pod's host-side veth (in the node's namespace).
    pub ifindex: u32,
    /// Endpoint id: the index of its counters (below [`MAX_ENDPOINTS`]).
    pub id: u32,
    /// MAC address of the pod's interface (destination of delivered frames).
    pub pod_mac: [u8; 6],
    /// MAC address of the host-side veth (source of delivered frames; the
    /// pod's gateway MAC).
    pub host_mac: [u8; 6],
    /// `EP_FLAG_*` bits.
    pub flags: u32,
}

/// Traffic of one endpoint, for one CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointCounters {
    /// Packets the pod sent (seen on its host veth's ingress).
    pub from_pod_packets: u64,
    pub from_pod_bytes: u64,
    /// Packets the datapath delivered to the pod.
    pub to_pod_packets: u64,
    pub to_pod_bytes: u64,
}

impl EndpointCounters {
    /// Adds another CPU's counts.
    pub fn add(&mut self, o: &EndpointCounters) {
        self.from_pod_packets = self.from_pod_packets.wrapping_add(o.from_pod_packets);
        self.from_pod_bytes = self.from_pod_bytes.wrapping_add(o.from_pod_bytes);
        self.to_pod_packets = self.to_pod_packets.wrapping_add(o.to_pod_packets);
        self.to_pod_bytes = self.to_pod_bytes.wrapping_add(o.to_pod_bytes);
    }
}

/// The node a remote pod prefix lives behind (the BGP next hop of the
/// prefix the node announces).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteNode {
    /// The node's address ([`IpKey`] layout: IPv4 mapped into IPv6).
    pub addr: [u8; 16],
    /// 4 or 6: the family of the outer header towards this node.
    pub family: u32,
    /// The VNI to send with; 0: the datapath's own ([`DatapathConfig::vni`]).
    /// The egress gateway sends a policy's traffic with the policy's id.
    pub vni: u32,
}

/// The MAC address of an external VTEP's device ([`VTEPS_MAP`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VtepMac {
    pub mac: [u8; 6],
    pub pad: [u8; 2],
}

/// A learnt path MTU and when it expires (CLOCK_MONOTONIC nanoseconds).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathMtu {
    pub expires: u64,
    pub mtu: u32,
    pub pad: u32,
}

/// How packets to remote pods leave the node.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// bpf_fib_lookup in the kernel FIB and bpf_redirect_neigh.
    Native = 0,
    /// bpf_skb_set_tunnel_key and a collect_md VXLAN device.
    Vxlan = 1,
    /// Geneve encapsulation written by the program itself.
    Geneve = 2,
}

impl Mode {
    /// The mode of a config value (unknown values read as native).
    pub const fn from_u32(v: u32) -> Mode {
        match v {
            1 => Mode::Vxlan,
            2 => Mode::Geneve,
            _ => Mode::Native,
        }
    }
    /// The config keyword (`datapath mode native|vxlan|geneve`).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Vxlan => "vxlan",
            Mode::Geneve => "geneve",
        }
    }
    /// The mode of a config keyword.
    pub fn parse(word: &str) -> Option<Mode> {
        match word {
            "native" => Some(Mode::Native),
            "vxlan" => Some(Mode::Vxlan),
            "geneve" => Some(Mode::Geneve),
            _ => None,
        }
    }
}

/// The datapath's settings: entry 0 of [`CONFIG_MAP`]. Changing it takes
/// effect with the next packet (no reload, no re-attach).
///
/// The programs read the raw fields; userspace builds and reads it through
/// the typed constructor and accessors below ([`Mode`], `core::net`
/// addresses, `None` for an all-zero address).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatapathConfig {
    /// A [`Mode`] value ([`DatapathConfig::mode`]).
    pub mode: u32,
    /// VXLAN / Geneve network identifier (24 bits).
    pub vni: u32,
    /// ifindex of the collect_md VXLAN device (VXLAN mode).
    pub vxlan_ifindex: u32,
    /// ifindex of the uplink (Geneve mode: encapsulated packets leave here).
    pub uplink_ifindex: u32,
    /// MTU of the uplink: tunnelled packets must fit it with their overhead.
    pub uplink_mtu: u32,
    /// UDP destination port of Geneve (sent and accepted).
    pub geneve_port: u16,
    /// UDP port of the VXLAN device (the device's `dstport`; informative).
    pub vxlan_port: u16,
    /// The node's IPv4 address: outer source, Geneve destination accepted
    /// (all zero: none; [`DatapathConfig::local_v4`]).
    pub local_v4: [u8; 4],
    /// The node's IPv6 address (all zero: none; [`DatapathConfig::local_v6`]).
    pub local_v6: [u8; 16],
    /// `CFG_FLAG_*` bits. The loader owns them (they follow its trace,
    /// services and egress switches): it ignores those it is given.
    pub flags: u32,
    /// The packet mark under which the node's stack routes a pod's IPv4
    /// packet without DF that is too big for its tunnel (0: none, such a
    /// packet is dropped as [`DropReason::MtuExceeded`]). ternd sets it
    /// once a rule sends that mark to a table whose route leads into the
    /// VXLAN device with the tunnel's room as its MTU: the stack fragments
    /// the packet like a router, and `tern_vxlan_egress` tunnels each
    /// fragment ([`PathKind::Fragmented`]).
    pub frag_mark: u32,
}

impl DatapathConfig {
    /// The settings of a datapath in `mode`: VNI 1, a 1500-byte uplink,
    /// IANA's Geneve and VXLAN ports, no interfaces, no local addresses, no
    /// flags.
    pub const fn new(mode: Mode) -> Self {
        DatapathConfig {
            mode: mode as u32,
            vni: 1,
            vxlan_ifindex: 0,
            uplink_ifindex: 0,
            uplink_mtu: 1500,
            geneve_port: GENEVE_DEFAULT_PORT,
            vxlan_port: VXLAN_DEFAULT_PORT,
            local_v4: [0; 4],
            local_v6: [0; 16],
            flags: 0,
            frag_mark: 0,
        }
    }

    /// The mode (an unknown value reads as native, as the programs take it).
    pub const fn mode(&self) -> Mode {
        Mode::from_u32(self.mode)
    }

    /// The same settings in another mode.
    pub const fn with_mode(self, mode: Mode) -> Self {
        DatapathConfig {
            mode: mode as u32,
            ..self
        }
    }

    /// The node's IPv4 address, if it has one.
    pub fn local_v4(&self) -> Option<Ipv4Addr> {
        (self.local_v4 != [0; 4]).then(|| Ipv4Addr::from(self.local_v4))
    }

    /// The same settings with another IPv4 address (`None`: none).
    pub fn with_local_v4(self, a: Option<Ipv4Addr>) -> Self {
        DatapathConfig {
            local_v4: a.map_or([0; 4], |a| a.octets()),
            ..self
        }
    }

    /// The node's IPv6 address, if it has one.
    pub fn local_v6(&self) -> Option<Ipv6Addr> {
        (self.local_v6 != [0; 16]).then(|| Ipv6Addr::from(self.local_v6))
    }

    /// The same settings with another IPv6 address (`None`: none).
    pub fn with_local_v6(self, a: Option<Ipv6Addr>) -> Self {
        DatapathConfig {
            local_v6: a.map_or([0; 16], |a| a.octets()),
            ..self
        }
    }

    /// The MTU pods must use in this mode so that their packets fit the
    /// uplink with the tunnel overhead (`outer_v6`: the underlay is IPv6).
    pub const fn pod_mtu(&self, outer_v6: bool) -> u32 {
        match self.mode() {
            Mode::Native => self.uplink_mtu,
            Mode::Vxlan | Mode::Geneve => self.uplink_mtu.saturating_sub(if outer_v6 {
                TUNNEL_OVERHEAD_V6
            } else {
                TUNNEL_OVERHEAD_V4
            }),
        }
    }
}

/// Native mode with [`DatapathConfig::new`]'s values.
impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig::new(Mode::Native)
    }
}

/// [`DatapathConfig::flags`]: record every redirect in [`TRACE_MAP`] (tests
/// and diagnostics; off in production, where it costs one branch).
pub const CFG_FLAG_TRACE: u32 = 1;
/// [`DatapathConfig::flags`]: services exist: look packets up in the service
/// and conntrack maps (without it, the programs skip both lookups).
pub const CFG_FLAG_SERVICES: u32 = 2;
/// [`DatapathConfig::flags`]: egress gateway policies exist: pods' packets
/// are looked up in the steering map, tunnelled packets with a policy's VNI
/// are translated, and replies are looked up in the conntrack map.
pub const CFG_FLAG_EGRESS: u32 = 4;
/// [`DatapathConfig::flags`]: SRv6 state exists (a VRF interface, an
/// encapsulation policy, a local SID or locator): pods' packets are looked
/// up in the VRF map and IPv6 on the uplink in the SID map (without it,
/// the programs skip both lookups).
pub const CFG_FLAG_SRV6: u32 = 8;
/// [`DatapathConfig::flags`]: external VTEPs exist: a tunnelled packet's
/// remote node is looked up in [`VTEPS_MAP`] (without it, never).
pub const CFG_FLAG_VTEP: u32 = 16;

/// Why a packet was dropped: the index into [`DROPS_MAP`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// A header field is invalid (IP version, header length, Geneve version,
    /// unknown critical option, protocol type).
    BadHeader = 0,
    /// The packet ends before a header it announces.
    Truncated = 1,
    /// Too big for the path and cannot be answered with ICMP.
    MtuExceeded = 2,
    /// A tunnel route points at a node of a family with no local address.
    NoTunnel = 3,
    /// The FIB has no route for an encapsulated packet.
    NoRoute = 4,
    /// A tunnelled packet carries another VNI than ours.
    WrongVni = 5,
    /// bpf_skb_adjust_room or a header write failed while encapsulating.
    EncapFailed = 6,
    /// bpf_skb_adjust_room failed while decapsulating.
    DecapFailed = 7,
    /// A decapsulated packet is not addressed to a local pod.
    NoEndpoint = 8,
    /// A helper refused a redirect or a tunnel key.
    RedirectFailed = 9,
    /// To a frontend address, but no frontend has the port and protocol
    /// (or a fragment, whose ports cannot be read).
    NoService = 10,
    /// The service has no backend that takes new connections.
    NoBackend = 11,
    /// The client is outside the service's source ranges.
    SourceRange = 12,
    /// Translation failed: no SNAT port free, no node address of the
    /// backend's family, or a header write failed.
    NatFailed = 13,
    /// An egress gateway policy takes the packet but none of its gateways
    /// of the family is healthy (fail closed).
    EgressNoGateway = 14,
    /// Every SNAT port of the egress IP towards that destination and port
    /// is taken (or the probes found none free).
    EgressPortsExhausted = 15,
    /// A packet tunnelled with a policy's VNI that the policy does not
    /// allow here (source or destination outside it, an excluded
    /// destination, no gateway of the policy on this node).
    EgressDenied = 16,
    /// A packet an egress gateway policy takes that cannot be translated:
    /// neither TCP nor UDP, or a fragment (no ports to translate).
    EgressUnsupported = 17,
    /// A pod sent a packet (to be forwarded) from an address that is not
    /// one of its own (a pod in a VRF: that its VRF's table does not route
    /// back to its interface).
    SourceSpoofed = 18,
    /// An IPv6 packet to a local SID whose headers do not add up: an
    /// extension header or the SRH longer than the payload, an SRH whose
    /// Hdr Ext Len cannot hold its Last Entry, an inner packet longer than
    /// what the outer one carries.
    Srv6BadHeader = 19,
    /// A routing header with Segments Left other than 0 at an End.DT* SID
    /// (the SID must be the last segment, RFC 8986 section 4.6), or Segments
    /// Left beyond Last Entry + 1 (RFC 8754 section 4.3.1.1).
    Srv6SegmentsLeft = 20,
    /// To an address inside one of this node's locators that is no SID.
    Srv6UnknownSid = 21,
    /// The upper-layer header after the outer IPv6 header and its extension
    /// headers is not what the SID's behavior takes (End.DT4: IPv4,
    /// End.DT6: IPv6, End.DT46: either).
    Srv6WrongInner = 22,
    /// The packet to forward into or out of a VRF has a TTL / hop limit of
    /// 1 or 0 (decapsulated, or sent by a pod in a VRF).
    HopLimitExceeded = 23,
    /// The VRF's table has no usable route for the packet (decapsulated,
    /// or from a pod in the VRF with no encapsulation policy for it).
    VrfNoRoute = 24,
    /// A Geneve or VXLAN packet from an outer source that is not a trusted
    /// one ([`NODES_MAP`]: no known node, external VTEP or node prefix).
    UnknownTunnelSource = 25,
}

/// Number of [`DropReason`] values (size of [`DROPS_MAP`]).
pub const DROP_REASONS: u32 = 26;

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; DROP_REASONS as usize] = [
        DropReason::BadHeader,
        DropReason::Truncated,
        DropReason::MtuExceeded,
        DropReason::NoTunnel,
        DropReason::NoRoute,
        DropReason::WrongVni,
        DropReason::EncapFailed,
        DropReason::DecapFailed,
        DropReason::NoEndpoint,
        DropReason::RedirectFailed,
        DropReason::NoService,
        DropReason::NoBackend,
        DropReason::SourceRange,
        DropReason::NatFailed,
        DropReason::EgressNoGateway,
        DropReason::EgressPortsExhausted,
        DropReason::EgressDenied,
        DropReason::EgressUnsupported,
        DropReason::SourceSpoofed,
        DropReason::Srv6BadHeader,
        DropReason::Srv6SegmentsLeft,
        DropReason::Srv6UnknownSid,
        DropReason::Srv6WrongInner,
        DropReason::HopLimitExceeded,
        DropReason::VrfNoRoute,
        DropReason::UnknownTunnelSource,
    ];
    /// Short name for output (`show` commands, JSON keys).
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::BadHeader => "bad-header",
            DropReason::Truncated => "truncated",
            DropReason::MtuExceeded => "mtu-exceeded",
            DropReason::NoTunnel => "no-tunnel",
            DropReason::NoRoute => "no-route",
            DropReason::WrongVni => "wrong-vni",
            DropReason::EncapFailed => "encap-failed",
            DropReason::DecapFailed => "decap-failed",
            DropReason::NoEndpoint => "no-endpoint",
            DropReason::RedirectFailed => "redirect-failed",
            DropReason::NoService => "no-service",
            DropReason::NoBackend => "no-backend",
            DropReason::SourceRange => "source-range",
            DropReason::NatFailed => "nat-failed",
            DropReason::EgressNoGateway => "egress-no-gateway",
            DropReason::EgressPortsExhausted => "egress-ports-exhausted",
            DropReason::EgressDenied => "egress-denied",
            DropReason::EgressUnsupported => "egress-unsupported",
            DropReason::SourceSpoofed => "source-spoofed",
            DropReason::Srv6BadHeader => "srv6-bad-header",
            DropReason::Srv6SegmentsLeft => "srv6-segments-left",
            DropReason::Srv6UnknownSid => "srv6-unknown-sid",
            DropReason::Srv6WrongInner => "srv6-wrong-inner",
            DropReason::HopLimitExceeded => "hop-limit-exceeded",
            DropReason::VrfNoRoute => "vrf-no-route",
            DropReason::UnknownTunnelSource => "unknown-tunnel-source",
        }
    }
}

/// Which way a packet went: the index into [`PATHS_MAP`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathKind {
    /// Pod to pod on the same node (redirected to the peer).
    Local = 0,
    /// Forwarded natively: FIB lookup and bpf_redirect_neigh.
    Native = 1,
    /// Handed to the kernel stack (the FIB cannot route it, TTL expiring,
    /// fragmentation needed without DF, not unicast IP).
    Stack = 2,
    /// Sent into the VXLAN device with a tunnel key.
    VxlanEncap = 3,
    /// Geneve-encapsulated and redirected to the uplink.
    GeneveEncap = 4,
    /// Geneve-decapsulated on the uplink and delivered to a pod.
    GeneveDecap = 5,
    /// Received from the VXLAN device and delivered to a pod.
    VxlanDeliver = 6,
    /// Arrived natively on the uplink and delivered to a pod.
    UplinkDeliver = 7,
    /// Answered with ICMP fragmentation-needed / ICMPv6 packet-too-big.
    IcmpTooBig = 8,
    /// Sent to a service frontend and translated to a backend.
    ServiceForward = 9,
    /// A reply from a backend translated back to the frontend.
    ServiceReply = 10,
    /// A pod's packet tunnelled to its egress gateway.
    EgressSteer = 11,
    /// Translated to an egress IP on this node, the gateway.
    EgressSnat = 12,
    /// A reply to an egress IP translated back towards its pod (also an
    /// ICMP error about such a flow).
    EgressReply = 13,
    /// An ICMP "fragmentation needed" / "packet too big" about one of this
    /// node's tunnel packets: the path MTU towards that node was learnt.
    PathMtuLearnt = 14,
    /// A VRF pod's packet encapsulated in SRv6 (H.Encaps.Red) and
    /// redirected towards the first SID.
    Srv6Encap = 15,
    /// Decapsulated at a local End.DT4/DT6/DT46 SID and forwarded through
    /// the VRF's table.
    Srv6Decap = 16,
    /// A VRF pod's packet forwarded through its VRF's table on this node
    /// (no encapsulation policy covers it, the table has a route).
    VrfLocal = 17,
    /// Sent to a service frontend, translated to a backend on this node and
    /// redirected to its pod by the uplink's XDP program (the TC program
    /// never saw it).
    ServiceXdp = 18,
    /// A pod's IPv4 packet without DF, too big for its tunnel, handed to
    /// the node's stack to be fragmented ([`DatapathConfig::frag_mark`]).
    Fragmented = 19,
    /// A fragment the node's stack made, tunnelled by the VXLAN device's
    /// egress program.
    FragmentTunnelled = 20,
}

/// Number of [`PathKind`] values (size of [`PATHS_MAP`]).
pub const PATH_KINDS: u32 = 21;

impl PathKind {
    /// Every path, in index order.
    pub const ALL: [PathKind; PATH_KINDS as usize] = [
        PathKind::Local,
        PathKind::Native,
        PathKind::Stack,
        PathKind::VxlanEncap,
        PathKind::GeneveEncap,
        PathKind::GeneveDecap,
        PathKind::VxlanDeliver,
        PathKind::UplinkDeliver,
        PathKind::IcmpTooBig,
        PathKind::ServiceForward,
        PathKind::ServiceReply,
        PathKind::EgressSteer,
        PathKind::EgressSnat,
        PathKind::EgressReply,
        PathKind::PathMtuLearnt,
        PathKind::Srv6Encap,
        PathKind::Srv6Decap,
        PathKind::VrfLocal,
        PathKind::ServiceXdp,
        PathKind::Fragmented,
        PathKind::FragmentTunnelled,
    ];
    /// Short name for output.
    pub const fn name(self) -> &'static str {
        match self {
            PathKind::Local => "local",
            PathKind::Native => "native",
            PathKind::Stack => "stack",
            PathKind::VxlanEncap => "vxlan-encap",
            PathKind::GeneveEncap => "geneve-encap",
            PathKind::GeneveDecap => "geneve-decap",
            PathKind::VxlanDeliver => "vxlan-deliver",
            PathKind::UplinkDeliver => "uplink-deliver",
            PathKind::IcmpTooBig => "icmp-too-big",
            PathKind::ServiceForward => "service-forward",
            PathKind::ServiceReply => "service-reply",
            PathKind::EgressSteer => "egress-steer",
            PathKind::EgressSnat => "egress-snat",
            PathKind::EgressReply => "egress-reply",
            PathKind::PathMtuLearnt => "path-mtu-learnt",
            PathKind::Srv6Encap => "srv6-encap",
            PathKind::Srv6Decap => "srv6-decap",
            PathKind::VrfLocal => "vrf-local",
            PathKind::ServiceXdp => "service-xdp",
            PathKind::Fragmented => "stack-fragment",
            PathKind::FragmentTunnelled => "fragment-tunnelled",
        }
    }
}

/// [`RedirectTrace::kind`]: bpf_redirect to the device's egress.
pub const REDIRECT_EGRESS: u32 = 1;
/// [`RedirectTrace::kind`]: bpf_redirect_peer (into the veth peer's namespace).
pub const REDIRECT_PEER: u32 = 2;
/// [`RedirectTrace::kind`]: bpf_redirect_neigh (neighbour resolution).
pub const REDIRECT_NEIGH: u32 = 3;

/// The last redirect a program asked for on this CPU: what
/// BPF_PROG_TEST_RUN cannot show (it returns TC_ACT_REDIRECT only).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedirectTrace {
    /// `REDIRECT_*`, 0 when nothing was redirected.
    pub kind: u32,
    /// The target ifindex.
    pub ifindex: u32,
    /// The tunnel id given to bpf_skb_set_tunnel_key (VXLAN), else 0.
    pub tunnel_id: u32,
    /// 4 or 6 when a tunnel key was set, else 0.
    pub tunnel_family: u32,
    /// The tunnel key's remote address ([`IpKey`] layout).
    pub tunnel_remote: [u8; 16],
    /// The next hop given to bpf_redirect_neigh ([`IpKey`] layout).
    pub nexthop: [u8; 16],
    /// 4 or 6: the family of `nexthop` (0: none).
    pub nexthop_family: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_keys_are_mapped_into_ipv6_and_back() {
        let k = IpKey::v4([10, 1, 2, 3]);
        assert_eq!(k.addr[..12], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(k.as_v4(), Some([10, 1, 2, 3]));
        let mut v6 = [0u8; 16];
        v6[0] = 0xfd;
        assert_eq!(IpKey::v6(v6).as_v4(), None);
    }

    #[test]
    fn enums_index_their_maps_in_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, p) in PathKind::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i);
        }
        for m in [Mode::Native, Mode::Vxlan, Mode::Geneve] {
            assert_eq!(Mode::from_u32(m as u32), m);
            assert_eq!(Mode::parse(m.name()), Some(m));
        }
    }

    #[test]
    fn config_accessors_round_trip_and_pod_mtu_follows_the_mode() {
        let c = DatapathConfig::default();
        assert_eq!(
            (c.mode(), c.vni, c.uplink_mtu, c.flags),
            (Mode::Native, 1, 1500, 0)
        );
        assert_eq!((c.geneve_port, c.vxlan_port), (6081, 4789));
        assert_eq!((c.local_v4(), c.local_v6()), (None, None));
        let v4 = Ipv4Addr::new(10, 0, 0, 1);
        let v6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
        let c = c
            .with_mode(Mode::Geneve)
            .with_local_v4(Some(v4))
            .with_local_v6(Some(v6));
        assert_eq!(c.mode, Mode::Geneve as u32);
        assert_eq!(c.local_v4, [10, 0, 0, 1]);
        assert_eq!((c.local_v4(), c.local_v6()), (Some(v4), Some(v6)));
        assert_eq!((c.pod_mtu(false), c.pod_mtu(true)), (1450, 1430));
        assert_eq!(c.with_mode(Mode::Native).pod_mtu(true), 1500);
        assert_eq!(c.with_local_v4(None).local_v4, [0; 4]);
        assert_eq!(DatapathConfig { mode: 9, ..c }.mode(), Mode::Native);
    }
}

// The layouts are part of the ABI between programs and loader.
const _: () = assert!(core::mem::size_of::<IpKey>() == 16);
const _: () = assert!(core::mem::size_of::<EndpointInfo>() == 24);
const _: () = assert!(core::mem::size_of::<EndpointCounters>() == 32);
const _: () = assert!(core::mem::size_of::<RemoteNode>() == 24);
const _: () = assert!(core::mem::size_of::<PathMtu>() == 16);
const _: () = assert!(core::mem::size_of::<VtepMac>() == 8);
const _: () = assert!(core::mem::size_of::<DatapathConfig>() == 52);
const _: () = assert!(core::mem::size_of::<RedirectTrace>() == 52);

// SAFETY (all impls below): the types are #[repr(C)], made of integers and
// byte arrays with no padding (checked by the size asserts above), so every
// byte pattern is a valid value.
#[cfg(feature = "user")]
mod pod {
    #![allow(unsafe_code)]
    use super::*;
    unsafe impl aya::Pod for IpKey {}
    unsafe impl aya::Pod for EndpointInfo {}
    unsafe impl aya::Pod for EndpointCounters {}
    unsafe impl aya::Pod for VtepMac {}
    unsafe impl aya::Pod for RemoteNode {}
    unsafe impl aya::Pod for PathMtu {}
    unsafe impl aya::Pod for DatapathConfig {}
    unsafe impl aya::Pod for RedirectTrace {}
}
