//! What `show datapath`, `show datapath endpoints` and `show datapath
//! drops` carry from ternd to tern: the eBPF pod datapath's settings, its
//! endpoints with their counters, and its drop and path counters.
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::Endpoint;

/// `show datapath`: the datapath as ternd runs it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatapathInfo {
    /// The configured mode ("native", "vxlan", "geneve"); None: no eBPF
    /// datapath (plain kernel routing).
    pub mode: Option<String>,
    /// Whether the programs are loaded (false also when loading failed).
    pub loaded: bool,
    /// The configured uplink and, when it exists, its ifindex and MTU.
    pub uplink: Option<String>,
    pub uplink_ifindex: Option<u32>,
    pub uplink_mtu: u32,
    pub vni: u32,
    pub vxlan_port: u16,
    pub geneve_port: u16,
    /// The collect_md VXLAN device ternd owns (VXLAN mode).
    pub vxlan_device: Option<String>,
    /// Outer source addresses (the uplink's first global addresses).
    pub local_v4: Option<IpAddr>,
    pub local_v6: Option<IpAddr>,
    /// Largest MTU a pod may use in this mode (uplink MTU minus the tunnel
    /// overhead: 50 bytes over IPv4, 70 over IPv6; the larger is taken
    /// when the node has both).
    pub pod_mtu: u32,
    /// `datapath cluster-cidr` prefixes.
    pub cluster_cidrs: Vec<IpNet>,
    /// Interfaces with a datapath program, and which one ("pod", "uplink",
    /// "vxlan").
    pub attached: Vec<(String, String)>,
    /// `datapath xdp`: "auto" or "off".
    #[serde(default)]
    pub xdp: String,
    /// The uplink's XDP program: "native" while attached (the only mode
    /// ternd uses), None otherwise.
    #[serde(default)]
    pub xdp_mode: Option<String>,
    /// Why XDP is not attached although wanted (the driver's refusal).
    #[serde(default)]
    pub xdp_note: Option<String>,
    /// The tunnel map: remote pod prefix -> node address.
    pub tunnels: Vec<(IpNet, IpAddr)>,
    /// The outer sources Geneve and VXLAN are taken from (nodes, external
    /// VTEPs, egress gateway nodes, `datapath node-prefix` ranges), as the
    /// map holds them.
    #[serde(default)]
    pub trusted_sources: Vec<IpNet>,
    /// Path MTUs the tunnel learnt from routers' ICMP errors: node
    /// address, MTU, seconds left.
    #[serde(default)]
    pub path_mtus: Vec<(IpAddr, u32, u64)>,
    /// Packets by path taken.
    pub paths: Vec<NamedCount>,
    /// The last failure while programming the datapath, if any.
    pub last_error: Option<String>,
    /// The SRv6 L3VPN's maps as they are (empty without SRv6).
    #[serde(default)]
    pub srv6: DatapathSrv6,
}

/// The SRv6 maps of the datapath, read back from the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatapathSrv6 {
    /// This node's locators.
    pub locators: Vec<IpNet>,
    /// Local SIDs: (SID, behavior as RFC 8986 names it, VRF table).
    pub sids: Vec<(Ipv6Addr, String, u32)>,
    /// SR policies (H.Encaps.Red): (VRF table, prefix, segments).
    pub policies: Vec<(u32, IpNet, Vec<Ipv6Addr>)>,
    /// Pod interfaces in a VRF: (host veth name, table).
    pub vrf_ifaces: Vec<(String, u32)>,
}

/// A counter with its name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCount {
    pub name: String,
    pub count: u64,
}

/// One pod endpoint with the datapath's view of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatapathEndpoint {
    pub endpoint: Endpoint,
    /// The endpoint id (index of its counters) when programmed.
    pub id: Option<u32>,
    /// Whether the pod program is attached to its host veth.
    pub attached: bool,
    /// Its counters, summed over CPUs (zero without a datapath).
    pub counters: EndpointTraffic,
    /// The pod's MTU is above what the datapath's mode allows
    /// ([`DatapathInfo::pod_mtu`]): its large packets get ICMP too-big.
    #[serde(default)]
    pub mtu_too_big: bool,
}

/// Per-endpoint traffic counted by the datapath.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointTraffic {
    pub from_pod_packets: u64,
    pub from_pod_bytes: u64,
    pub to_pod_packets: u64,
    pub to_pod_bytes: u64,
}
