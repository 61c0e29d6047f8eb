//! The control protocol spoken over ternd's Unix socket, shared by the daemon
//! and the `tern` CLI.
//!
//! Framing: one JSON document per line, both ways. The client sends one
//! [`Request`] line and reads one [`Reply`] line; it may send more requests on
//! the same connection. A request longer than [`MAX_REQUEST`] is answered with
//! an error and the connection closed; one that does not parse gets an error
//! reply, and the daemon goes on serving. A client has
//! [`REQUEST_TIMEOUT`] to send a request it started (or its first one) and to
//! take its answer; a connection idle between requests keeps its place until
//! the daemon needs the slot for another client.
//!
//! What a [`Request::ConfigLine`] may say is [`grammar`]: the config-mode
//! words that the shell completes from and ternd spells lines out with.
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub mod bfd;
pub mod datapath;
pub mod egress;
pub mod endpoint;
pub mod framing;
pub mod grammar;
pub mod services;
pub mod show;

pub use datapath::{DatapathEndpoint, DatapathInfo, DatapathSrv6, EndpointTraffic, NamedCount};
pub use endpoint::{
    Endpoint, EndpointClaim, IpamFile, IpamFileAllocation, Refusal, Reservation, check_namespace,
};
pub use show::{
    AsPathSegment, BgpFamily, BgpNeighbor, BgpPath, BgpRoute, BgpTable, ClearMode, FibNextHop,
    FibRoute, GracefulRestartView, LastUpdate, MessageCounters, NeighborCapability, NeighborFamily,
    RemoteGracefulRestart, Srv6LocatorView, VpnPathInfo, VpnRdRoutes, VpnTable, VrfView,
};

/// Longest line the framing helpers read, in bytes (tern-cni bounds
/// ternd's answers with it).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// Longest request line the daemon accepts, in bytes: a longer one is
/// answered with an error and the connection closed.
pub const MAX_REQUEST: usize = 1024 * 1024;

/// How long the daemon waits for a client to finish sending a request (or
/// to send its first one after connecting), and for it to read more of an
/// answer.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Longest reply line the CLI accepts, in bytes: a reply comes from the
/// daemon and may hold a whole routing table (`show ip bgp json` of a
/// full table).
pub const MAX_REPLY: usize = 1024 * 1024 * 1024;

/// Directory holding the sockets of every instance (as /var/run/frr for FRR).
pub const RUN_DIR: &str = "/run/tern";

/// Socket file name inside an instance's run directory.
pub const SOCKET_NAME: &str = "ternd.sock";

/// Errors of the protocol layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid instance name {0:?}: use 1 to 64 letters, digits, '.', '-' or '_', not starting with '.'"
    )]
    InstanceName(String),
    #[error("i/o on the control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("control message longer than the protocol allows")]
    TooLong,
    #[error("malformed control message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the daemon closed the connection")]
    Closed,
}

/// Checks an instance name (the `-N` of ternd and tern, like vtysh's).
pub fn validate_instance(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InstanceName(name.to_owned()))
    }
}

/// The run directory of an instance: /run/tern or /run/tern/NAME.
pub fn run_dir(instance: Option<&str>) -> Result<PathBuf, Error> {
    let base = PathBuf::from(RUN_DIR);
    match instance {
        None => Ok(base),
        Some(n) => {
            validate_instance(n)?;
            Ok(base.join(n))
        }
    }
}

/// The control socket of an instance.
pub fn socket_path(instance: Option<&str>) -> Result<PathBuf, Error> {
    Ok(run_dir(instance)?.join(SOCKET_NAME))
}

/// What the CLI asks the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// Daemon identity and health.
    ShowVersion,
    /// Interfaces of the daemon's namespace; `name` narrows to one.
    ShowInterfaces { name: Option<String> },
    /// The running configuration in the config file's syntax.
    ShowRunningConfig,
    /// BGP sessions and counts (`show bgp summary`).
    ShowBgpSummary,
    /// Announce a service VIP (a /32 or /128) to every BGP peer.
    AddVip { prefix: IpNet },
    /// Withdraw a service VIP.
    DelVip { prefix: IpNet },
    /// The VIPs announced now.
    ShowVips,
    /// One line typed in configuration mode (`configure terminal`). The
    /// daemon keeps the mode per control connection; the line is applied to
    /// the running configuration at once, or refused with the reason and no
    /// change. `end` returns the connection's session to the top mode.
    ConfigLine { line: String },
    /// `write memory`: save the running configuration to the config file
    /// atomically (temporary file, fsync, rename), keeping the previous file
    /// as FILE.bak.
    WriteMemory,
    /// Allocate a pod interface's addresses (`tern-cni` ADD, before it
    /// makes the veth): ternd keeps them for the key, saved, and answers
    /// [`Reply::EndpointReserved`]; the same key gets the same addresses
    /// again. Refused with [`Reply::EndpointRefused`].
    EndpointAllocate(EndpointClaim),
    /// Register the pod endpoint of a key holding these addresses (sent by
    /// `tern-cni` ADD once the veth is made). With the eBPF datapath
    /// running, answered once the endpoint is programmed in its maps.
    EndpointAdd(Endpoint),
    /// Take the allocations of an IPAM file left by an older tern-cni
    /// (sent once per file by tern-cni): all or none, refused when one of
    /// them clashes with what ternd holds.
    EndpointImport(IpamFile),
    /// Forget a pod endpoint and free its addresses (sent by `tern-cni`
    /// DEL); unknown is fine.
    EndpointDel {
        container_id: String,
        ifname: String,
    },
    /// The registered pod endpoints (and the reservations).
    ShowEndpoints,
    /// `show datapath`: mode, uplink, tunnel settings, pod MTU.
    ShowDatapath,
    /// `show datapath endpoints`: endpoints with their datapath counters.
    ShowDatapathEndpoints,
    /// `show datapath drops`: dropped packets by reason.
    ShowDatapathDrops,
    /// `show ip bgp` / `show bgp ipv6 unicast`: the Loc-RIB of a family;
    /// with `prefix`, that prefix only (`show ip bgp PREFIX`): an exact
    /// prefix, or for a host address (/32, /128) given without a length,
    /// the longest prefix that contains it.
    ShowBgpRoutes {
        family: BgpFamily,
        prefix: Option<IpNet>,
        longest_match: bool,
        /// The whole table (no `prefix`) as a stream of replies:
        /// [`Reply::BgpTableStart`], [`Reply::BgpRoutes`] chunks in address
        /// order, then [`Reply::BgpTableEnd`] (or an [`Reply::Error`]).
        #[serde(default)]
        stream: bool,
    },
    /// `show bgp ipv4|ipv6 vpn [rd RD] [PREFIX]`: the VPN routes of one
    /// family, of one route distinguisher ("65001:1") and one prefix when
    /// given. Answered with [`Reply::BgpVpnTable`].
    ShowBgpVpn {
        ipv6: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rd: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<IpNet>,
    },
    /// `show segment-routing srv6 locator`. Answered with
    /// [`Reply::Srv6Locators`].
    ShowSrv6Locators,
    /// `show vrf`. Answered with [`Reply::Vrfs`].
    ShowVrfs,
    /// `show bgp neighbors [ADDR]`.
    ShowBgpNeighbors { address: Option<std::net::IpAddr> },
    /// `show ip bgp neighbors ADDR received-routes|advertised-routes`: the
    /// neighbor's Adj-RIB-In as received (soft-reconfiguration inbound
    /// only) or its Adj-RIB-Out. Answered with [`Reply::BgpAdjRib`].
    ShowBgpAdjRib {
        family: BgpFamily,
        address: std::net::IpAddr,
        advertised: bool,
    },
    /// `show ip route` / `show ipv6 route`: the kernel's main table.
    ShowRoutes {
        ipv6: bool,
        /// As a stream of replies: [`Reply::RoutesStart`], [`Reply::Routes`]
        /// chunks in prefix order (the routes of one prefix never split),
        /// then [`Reply::RoutesEnd`] (or an [`Reply::Error`]).
        #[serde(default)]
        stream: bool,
    },
    /// `show ip route vrf NAME` / `show ipv6 route vrf NAME`: the VRF's
    /// table (its pods' routes, and the remote VPN prefixes its SR
    /// policies reach). Answered with [`Reply::Routes`].
    ShowVrfRoutes { ipv6: bool, vrf: String },
    /// Services in bulk (an orchestrator's call): upsert and delete many
    /// at once, or with `replace_all` make the given ones all there are.
    /// All or nothing: one bad service refuses the whole request.
    ServicesApply {
        #[serde(default)]
        upsert: Vec<services::Service>,
        #[serde(default)]
        delete: Vec<String>,
        #[serde(default)]
        replace_all: bool,
    },
    /// `show service [NAME]`.
    ShowServices { name: Option<String> },
    /// `show service conntrack`: connections, those of `service` only when given.
    ShowConntrack {
        service: Option<String>,
        #[serde(default)]
        limit: Option<u64>,
    },
    /// Egress gateway policies in bulk (an orchestrator's call): upsert
    /// and delete many at once, or with `replace_all` make the given ones
    /// all there are. All or nothing, like [`Request::ServicesApply`].
    EgressApply {
        #[serde(default)]
        upsert: Vec<egress::Policy>,
        #[serde(default)]
        delete: Vec<String>,
        #[serde(default)]
        replace_all: bool,
    },
    /// `show egress-gateway`: policies, gateways and their health, this
    /// node's steered pods and SNAT entries, the egress drop counters.
    ShowEgressGateway,
    /// `show egress-gateway nat`: the flows this node translates.
    ShowEgressNat,
    /// `show bfd peers` (`peer` None) or `show bfd peer ADDR`.
    ShowBfdPeers { peer: Option<std::net::IpAddr> },
    /// `clear bgp *|ADDR [soft [in|out]]`; `address` None means every
    /// neighbor.
    ClearBgp {
        address: Option<std::net::IpAddr>,
        mode: ClearMode,
    },
}

impl Request {
    /// A request of tern-cni's (pod endpoint registration and its check):
    /// ternd serves these from slots of their own, so that idle shells never
    /// keep a pod from starting.
    pub fn is_registration(&self) -> bool {
        matches!(
            self,
            Request::EndpointAllocate(_)
                | Request::EndpointAdd(_)
                | Request::EndpointImport(_)
                | Request::EndpointDel { .. }
                | Request::ShowEndpoints
        )
    }
}

/// What the daemon answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Version(VersionInfo),
    Interfaces {
        interfaces: Vec<InterfaceInfo>,
    },
    RunningConfig {
        text: String,
    },
    BgpSummary(BgpSummary),
    /// The VIPs announced, after the change if the request made one.
    Vips {
        vips: Vec<IpNet>,
    },
    /// A configuration line was applied; `mode` is the mode the next line is
    /// read in, as vtysh names it in the prompt: "config", "config-if",
    /// "config-router", "config-router-af".
    ConfigApplied {
        mode: String,
    },
    /// The running configuration was saved to `path`.
    Written {
        path: String,
    },
    /// The registered pod endpoints, after the change if the request made
    /// one, and the addresses held for ADDs not finished.
    Endpoints {
        endpoints: Vec<Endpoint>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reserved: Vec<Reservation>,
    },
    /// The addresses allocated for an [`Request::EndpointAllocate`].
    EndpointReserved(Reservation),
    /// An endpoint request refused, with the reason tern-cni maps to a CNI
    /// error code.
    EndpointRefused {
        reason: Refusal,
        message: String,
    },
    Datapath(Box<DatapathInfo>),
    DatapathEndpoints {
        endpoints: Vec<DatapathEndpoint>,
    },
    /// Dropped packets by reason (every reason, zeros included).
    DatapathDrops {
        drops: Vec<NamedCount>,
    },
    BgpTable(BgpTable),
    /// `show bgp ipv4|ipv6 vpn`.
    BgpVpnTable(VpnTable),
    Srv6Locators {
        locators: Vec<Srv6LocatorView>,
    },
    Vrfs {
        vrfs: Vec<VrfView>,
    },
    /// The first reply of a streamed table: its header (no routes).
    BgpTableStart(BgpTable),
    /// The next routes of a streamed table, in address order.
    BgpRoutes {
        routes: Vec<BgpRoute>,
    },
    /// The end of a streamed table: how many routes and paths it held.
    BgpTableEnd {
        routes: u64,
        paths: u64,
    },
    BgpNeighbors {
        /// False when the config has no `router bgp`.
        configured: bool,
        neighbors: Vec<BgpNeighbor>,
    },
    Routes {
        routes: Vec<FibRoute>,
    },
    /// The first reply of a streamed `show ip route`.
    RoutesStart,
    /// The end of a streamed `show ip route`: how many routes it held.
    RoutesEnd {
        routes: u64,
    },
    /// A bulk service request was applied: what changed, one line each
    /// ("added web", "updated db", "removed old", "unchanged x").
    ServicesApplied {
        changes: Vec<String>,
    },
    Services {
        services: Vec<services::ServiceStatus>,
    },
    Conntrack(services::Conntrack),
    /// A bulk egress request was applied: what changed, one line each, as
    /// for services.
    EgressApplied {
        changes: Vec<String>,
    },
    EgressGateway(egress::EgressStatus),
    EgressNat(egress::EgressNat),
    /// `show bfd peers`: the sessions, in peer order.
    BfdPeers {
        peers: Vec<bfd::BfdPeer>,
    },
    /// `show ip bgp neighbors ADDR received-routes|advertised-routes`:
    /// one path per route (FRR's layout: next hop 0.0.0.0 for our own
    /// address, the path before our AS is prepended), and how many
    /// received routes the import policy refuses. `error` is FRR's text
    /// when there is no such list (no such neighbor, no soft
    /// reconfiguration), and then the table is empty.
    BgpAdjRib {
        table: BgpTable,
        filtered: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<AdjRibError>,
    },
    /// `clear bgp` was carried out on these neighbors.
    Cleared {
        neighbors: Vec<String>,
    },
    /// The request could not be served; `message` says why (already phrased
    /// for an operator).
    Error {
        message: String,
    },
}

/// `show bgp summary`: the speaker and its neighbors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpSummary {
    /// False when the config has no `router bgp`.
    pub configured: bool,
    pub router_id: String,
    pub local_as: u32,
    /// Loc-RIB prefixes per family ("ipv4Unicast", "ipv6Unicast").
    pub rib_count: std::collections::BTreeMap<String, u64>,
    /// Bytes the Loc-RIB of each family takes, as the RIB estimates it.
    pub rib_memory: std::collections::BTreeMap<String, u64>,
    /// FRR's `tableVersion` of each family's Loc-RIB.
    #[serde(default)]
    pub table_version: std::collections::BTreeMap<String, u64>,
    pub peers: Vec<BgpPeerSummary>,
    /// Neighbors by address alone in the text, without their hostnames
    /// (FRR's `traditional` profile: no `bgp default show-hostname`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hide_hostnames: bool,
}

/// Why `show ip bgp neighbors ADDR received-routes|advertised-routes`
/// has no list to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdjRibError {
    /// Not a neighbor (FRR: "No such neighbor in this view/vrf").
    NoSuchNeighbor,
    /// A neighbor not active in the family (FRR: "No such neighbor or
    /// address family").
    NotActive,
    /// received-routes without soft-reconfiguration inbound.
    SoftReconfigurationOff,
}

/// One neighbor's line of `show bgp summary`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpPeerSummary {
    pub address: String,
    pub remote_as: u32,
    pub local_as: u32,
    /// FSM state as FRR names it (Idle, Connect, Active, OpenSent,
    /// OpenConfirm, Established), or "Idle (Admin)" when shut down.
    pub state: String,
    pub msg_rcvd: u64,
    pub msg_sent: u64,
    /// Seconds since the session came up (Established) or went down; None
    /// when it never came up.
    pub uptime_secs: Option<u64>,
    /// Families the neighbor is activated for ("ipv4Unicast", ...).
    pub families: Vec<String>,
    /// Prefixes received (accepted) and sent, per family.
    pub pfx_rcvd: std::collections::BTreeMap<String, u64>,
    pub pfx_sent: std::collections::BTreeMap<String, u64>,
    pub established: u32,
    pub dropped: u32,
    pub description: Option<String>,
    /// The peer's hostname from its FQDN capability, if it sent one.
    pub hostname: Option<String>,
    /// Why the session last went down.
    pub last_reset: Option<String>,
    /// Created by a connection from a `bgp listen range` (FRR marks it `*`).
    #[serde(default)]
    pub dynamic: bool,
    /// Families ("ipv4Unicast", ...) where `bgp ebgp-requires-policy`
    /// finds no import (`_in`) or export (`_out`) route-map on this eBGP
    /// session: nothing is accepted or sent (FRR shows "(Policy)").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_missing_in: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_missing_out: Vec<String>,
}

/// Identity and health of a daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// ternd's version (the workspace's crate version).
    pub version: String,
    pub hostname: String,
    pub instance: Option<String>,
    pub pid: u32,
    pub uptime_secs: u64,
    pub config_file: String,
    /// Interfaces with Tern's eBPF counters attached.
    pub counters_attached: Vec<String>,
}

/// One interface as `show interface` presents it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceInfo {
    pub name: String,
    pub ifindex: u32,
    /// Kernel link kind (veth, vxlan, ...), empty for physical and loopback.
    pub kind: String,
    pub admin_up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub lower_up: bool,
    pub loopback: bool,
    /// The kernel's IFF_* flags.
    pub flags: u32,
    /// Link-layer type ("Ethernet", "Loopback", ...).
    pub link_type: String,
    /// The peer or lower device's ifindex (a veth's other end).
    pub parent_ifindex: Option<u32>,
    /// RFC 2863 operational state, lower-case as `ip link` prints it.
    pub oper_state: String,
    pub mtu: u32,
    pub hw_addr: String,
    pub addresses: Vec<IpNet>,
    /// The kernel's counters (IFLA_STATS64).
    pub kernel: KernelCounters,
    /// Tern's eBPF counters, when the config names this interface.
    pub tern: Option<TernCounters>,
    /// Description from the config, if any.
    pub description: Option<String>,
}

/// The kernel's own counters for one interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
    pub multicast: u64,
}

/// Packets and bytes counted by Tern's TCX programs on one interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TernCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names() {
        for ok in ["node1", "clab-tern-node1", "a.b_c-1"] {
            assert!(validate_instance(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(validate_instance(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            socket_path(Some("node1")).unwrap(),
            PathBuf::from("/run/tern/node1/ternd.sock")
        );
        assert_eq!(
            socket_path(None).unwrap(),
            PathBuf::from("/run/tern/ternd.sock")
        );
    }

    #[test]
    fn requests_and_replies_round_trip_as_json() {
        let reqs = [
            Request::ShowVersion,
            Request::ShowInterfaces { name: None },
            Request::ShowInterfaces {
                name: Some("eth1".into()),
            },
            Request::ShowRunningConfig,
            Request::ShowBgpRoutes {
                family: BgpFamily::Ipv6Unicast,
                prefix: Some("2001:db8::/64".parse().unwrap()),
                longest_match: false,
                stream: false,
            },
            Request::ShowBgpRoutes {
                family: BgpFamily::Ipv4Unicast,
                prefix: None,
                longest_match: false,
                stream: true,
            },
            Request::ShowBgpNeighbors {
                address: Some("192.0.2.1".parse().unwrap()),
            },
            Request::ShowRoutes {
                ipv6: true,
                stream: false,
            },
            Request::ClearBgp {
                address: None,
                mode: ClearMode::SoftIn,
            },
            Request::ShowEgressGateway,
            Request::ShowEgressNat,
            Request::EgressApply {
                upsert: vec![egress::Policy::new("legacy-db")],
                delete: vec!["old".into()],
                replace_all: false,
            },
        ];
        for r in reqs {
            let s = serde_json::to_string(&r).unwrap();
            assert!(!s.contains('\n'));
            assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        }
        assert_eq!(
            serde_json::to_string(&Request::ShowVersion).unwrap(),
            r#"{"request":"show-version"}"#
        );
        // Paths leave their defaults out and read back the same.
        let t = Reply::BgpTable(BgpTable {
            configured: true,
            routes: vec![BgpRoute {
                prefix: "10.0.0.0/8".parse().unwrap(),
                version: 3,
                paths: vec![BgpPath {
                    best: true,
                    next_hop: "192.0.2.1".into(),
                    ..Default::default()
                }],
                advertised_to: Vec::new(),
            }],
            ..Default::default()
        });
        let s = serde_json::to_string(&t).unwrap();
        assert!(!s.contains("multipath"), "{s}");
        assert_eq!(serde_json::from_str::<Reply>(&s).unwrap(), t);
        let e = Reply::Error {
            message: "no".into(),
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&s).unwrap(), e);
    }
}
