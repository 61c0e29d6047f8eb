//! Types of the show and clear requests added for `show ip bgp`,
//! `show bgp neighbors`, `show ip route` and `clear bgp`: plain data that
//! ternd fills in and the CLI renders as FRR 8.4 prints it.
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One address family of the speaker, as FRR keys it in JSON (the codec
/// defines it; the name is the protocol's).
pub use tern_bgp_wire::Family as BgpFamily;

/// `show ip bgp`: the Loc-RIB of one family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpTable {
    /// False when the config has no `router bgp`.
    pub configured: bool,
    pub router_id: String,
    pub local_as: u32,
    /// Our hostname, shown next to local next hops.
    pub local_hostname: Option<String>,
    /// FRR's `tableVersion`: best-path changes in the family's table so
    /// far (0 from a ternd that does not count them).
    #[serde(default)]
    pub table_version: u64,
    /// Every prefix with its paths, in address order (`show ip bgp`), or
    /// the one asked for (`show ip bgp PREFIX`).
    pub routes: Vec<BgpRoute>,
    /// Next hops without hostnames in the text (FRR's `traditional`
    /// profile: no `bgp default show-nexthop-hostname`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hide_hostnames: bool,
}

/// `show bgp ipv4|ipv6 vpn`: the VPN routes of one family (RFC 4364,
/// RFC 4659), grouped by route distinguisher.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnTable {
    /// False when the config has no `router bgp`.
    pub configured: bool,
    pub router_id: String,
    pub local_as: u32,
    pub local_hostname: Option<String>,
    /// Best-path changes in the family's VPN table so far.
    pub table_version: u64,
    /// Route distinguishers in order ("65001:1"), each with its routes in
    /// address order.
    pub rds: Vec<VpnRdRoutes>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hide_hostnames: bool,
}

/// The routes of one route distinguisher.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnRdRoutes {
    /// FRR's text form ("65001:1", "192.0.2.1:7").
    pub rd: String,
    pub routes: Vec<BgpRoute>,
}

/// What a VPN path carries besides the attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnPathInfo {
    /// The 20-bit label of the NLRI (with RFC 9252 transposition, the
    /// SID's function bits).
    pub label: u32,
    /// The SRv6 service SID as the Prefix-SID attribute carries it (with
    /// RFC 9252 transposition, the function bits are in the label; FRR's
    /// "Remote SID"); None when the path has none, which makes it
    /// ineligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The SID structure: locator block, locator node, function and
    /// argument lengths in bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid_structure: Option<[u8; 4]>,
    /// A local path: the VRF it is exported from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// That VRF's id as `show vrf` lists it (Tern's VRFs are routing
    /// tables without a VRF device: the id is the table's); None while the
    /// VRF has no table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf_id: Option<u32>,
}

/// A prefix and its paths, best first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpRoute {
    pub prefix: IpNet,
    /// FRR's per-route `version`: the table version of the prefix's last
    /// best-path change.
    #[serde(default)]
    pub version: u64,
    pub paths: Vec<BgpPath>,
    /// Established peers this prefix is advertised to: (address, hostname).
    pub advertised_to: Vec<(String, Option<String>)>,
}

/// One AS_PATH segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsPathSegment {
    /// FRR's names: "as-sequence", "as-set", "as-confed-sequence",
    /// "as-confed-set".
    pub kind: String,
    pub asns: Vec<u32>,
}

/// One path of a prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpPath {
    /// `>`: the best path.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub best: bool,
    /// `=`: in an ECMP set of more than one path.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multipath: bool,
    /// `*`: usable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub valid: bool,
    /// Originated here (`network`, VIPs, redistribute).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
    /// Learned over iBGP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// The peer's address; None for a local path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The peer's BGP identifier (ours for a local path).
    pub peer_router_id: String,
    /// The peer's hostname from its FQDN capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_hostname: Option<String>,
    /// The next hop ("0.0.0.0" / "::" for a local path).
    pub next_hop: String,
    /// An IPv6 link-local next hop sent with the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_link_local: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    pub weight: u32,
    /// AS_PATH as FRR prints it ("65000 65002", "{1 2}").
    pub as_path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub as_path_segments: Vec<AsPathSegment>,
    pub as_path_length: usize,
    /// The AS the path came from (first AS of the path; 0 for a local one).
    pub from_as: u32,
    /// "IGP", "EGP", "incomplete".
    pub origin: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub atomic_aggregate: bool,
    /// COMMUNITIES as FRR prints them in text ("no-export", "65000:1").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// The same, as items of FRR's JSON "list" ("noExport", "65000:1").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub community_list: Vec<String>,
    /// EXTENDED_COMMUNITIES as FRR prints them ("RT:65000:100").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended_communities: Vec<String>,
    /// AGGREGATOR: the aggregating AS and its router id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<(u32, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub large_communities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originator_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_list: Vec<String>,
    /// ADD-PATH identifier as received (0 without ADD-PATH).
    pub path_id: u32,
    /// When the path arrived or last changed (FRR's "Last update").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<LastUpdate>,
    /// A VPN path's label and SID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn: Option<VpnPathInfo>,
}

/// A moment as FRR's bgpd reports it: Unix seconds and ctime(3)'s text in
/// the daemon's local time, newline included ("Mon Nov 23 18:11:25 2026\n").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUpdate {
    pub epoch: u64,
    pub string: String,
}

/// `show bgp neighbors`: one neighbor in detail.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpNeighbor {
    pub address: String,
    pub remote_as: u32,
    pub local_as: u32,
    pub internal: bool,
    pub description: Option<String>,
    /// The peer's hostname and domain from its FQDN capability.
    pub hostname: Option<String>,
    pub domain: Option<String>,
    /// Our hostname as sent in the FQDN capability.
    pub local_hostname: Option<String>,
    /// The peer's BGP identifier (0.0.0.0 before its OPEN).
    pub remote_router_id: String,
    pub local_router_id: String,
    /// FRR's state name ("Established", "Active", "Idle (Admin)", ...).
    pub state: String,
    /// Seconds since the session came up, while Established.
    pub uptime_secs: Option<u64>,
    /// Milliseconds since a message was last read / written on the session.
    pub last_read_msecs: Option<u64>,
    pub last_write_msecs: Option<u64>,
    /// Milliseconds since the last UPDATE was received.
    pub last_update_msecs: Option<u64>,
    /// Negotiated hold time and keepalive interval (seconds), while up.
    pub hold_time: Option<u16>,
    pub keepalive: Option<u16>,
    pub configured_hold_time: u16,
    pub configured_keepalive: u16,
    pub connect_retry: u16,
    /// A TCP MD5 password is configured (FRR's "Peer Authentication
    /// Enabled", `authenticationEnabled`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authentication: bool,
    /// Capabilities: FRR's JSON key ("4byteAs", "routeRefresh", ...) and
    /// whether we advertised and the peer sent it.
    pub capabilities: Vec<NeighborCapability>,
    /// Multiprotocol families advertised / received.
    pub mp_families: Vec<NeighborCapability>,
    /// ADD-PATH (RFC 7911) as the peer announced it, per family: FRR's
    /// keys "rxReceived" (it can receive several paths) and "txReceived"
    /// (it can send them). Tern announces no ADD-PATH.
    pub add_path_received: Vec<(BgpFamily, Vec<String>)>,
    /// Families with End-of-RIB sent and received.
    pub eor_sent: Vec<BgpFamily>,
    /// Families whose End-of-RIB was not followed by an UPDATE in a later
    /// second (FRR's "End-of-RIB sent after update").
    #[serde(default)]
    pub eor_sent_after_update: Vec<BgpFamily>,
    pub eor_received: Vec<BgpFamily>,
    pub messages: MessageCounters,
    /// Prefix counters of each activated family.
    pub families: Vec<NeighborFamily>,
    pub established: u32,
    pub dropped: u32,
    /// Why the session last went down, and how long ago (milliseconds).
    pub last_reset: Option<String>,
    pub last_reset_msecs: Option<u64>,
    /// The maximum hop count of an eBGP session (TTL); None on iBGP.
    pub ebgp_max_hops: Option<u32>,
    /// Endpoints of the TCP connection, while it exists.
    pub local_host: Option<String>,
    pub local_port: Option<u16>,
    pub foreign_host: Option<String>,
    pub foreign_port: Option<u16>,
    /// Our next hops towards the peer: the session's local address, and
    /// the IPv6 global and link-local ones ("::" when none).
    pub nexthop: Option<String>,
    pub nexthop_global: String,
    pub nexthop_local: String,
    /// The peer is on a directly connected network.
    pub shared_network: bool,
    /// Graceful restart (RFC 4724) as FRR's "Graceful restart information".
    #[serde(default)]
    pub graceful_restart: GracefulRestartView,
}

/// Graceful restart towards one neighbor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GracefulRestartView {
    /// FRR's "Local GR Mode": "Helper*" (the default) or "Restart*" with
    /// `bgp graceful-restart` (the star: taken from the global setting).
    pub local_mode: String,
    /// Our restart time and stale-path time (seconds).
    pub restart_time: u16,
    pub stale_path_time: u16,
    /// The peer's capability, once its OPEN has come.
    pub remote: Option<RemoteGracefulRestart>,
}

/// The Graceful Restart capability a neighbor sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteGracefulRestart {
    pub r_bit: bool,
    pub n_bit: bool,
    pub restart_time: u16,
    /// The families it keeps forwarding for, with the F bit.
    pub families: Vec<(BgpFamily, bool)>,
}

/// A capability in `show bgp neighbors`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborCapability {
    /// FRR's JSON key: "4byteAs", "extendedMessage", "routeRefresh",
    /// "enhancedRouteRefresh", "gracefulRestart", "longLivedGracefulRestart",
    /// "addPath", "extendedNexthop", "hostName"; for `mp_families` the
    /// family key.
    pub name: String,
    pub advertised: bool,
    pub received: bool,
}

/// Messages sent and received, by type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounters {
    pub opens_sent: u64,
    pub opens_rcvd: u64,
    pub notifications_sent: u64,
    pub notifications_rcvd: u64,
    pub updates_sent: u64,
    pub updates_rcvd: u64,
    pub keepalives_sent: u64,
    pub keepalives_rcvd: u64,
    pub route_refresh_sent: u64,
    pub route_refresh_rcvd: u64,
}

impl MessageCounters {
    pub fn total_sent(&self) -> u64 {
        self.opens_sent
            + self.notifications_sent
            + self.updates_sent
            + self.keepalives_sent
            + self.route_refresh_sent
    }

    pub fn total_rcvd(&self) -> u64 {
        self.opens_rcvd
            + self.notifications_rcvd
            + self.updates_rcvd
            + self.keepalives_rcvd
            + self.route_refresh_rcvd
    }
}

/// Prefix counters of one neighbor in one family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborFamily {
    pub family: BgpFamily,
    /// Prefixes accepted into the Loc-RIB (FRR's "accepted prefixes").
    pub accepted: u64,
    /// Prefixes advertised to the neighbor.
    pub sent: u64,
    /// `soft-reconfiguration inbound` (FRR: "Inbound soft reconfiguration
    /// allowed").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soft_reconfig_in: bool,
    /// `next-hop-self [force]` (FRR: "NEXT_HOP is always this router").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub next_hop_self: bool,
}

/// What `clear bgp` does to the chosen sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClearMode {
    /// Reset the session: Cease / Administrative Reset (RFC 4486 subcode 4).
    Hard,
    /// Ask the peer to send its routes again (ROUTE-REFRESH) and resend ours.
    Soft,
    /// ROUTE-REFRESH to the peer, when it supports it.
    SoftIn,
    /// Send the Adj-RIB-Out again.
    SoftOut,
}

/// The kernel FIB route as `show ip route` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibRoute {
    pub prefix: IpNet,
    /// zebra's protocol name: "kernel", "connected", "static", "bgp".
    pub protocol: String,
    /// zebra's administrative distance of that protocol (bgp: 20 for eBGP,
    /// 200 for iBGP; kernel 0; static 1; connected 0).
    pub distance: u8,
    pub metric: u32,
    pub table: u32,
    pub nexthops: Vec<FibNextHop>,
    /// Seconds since the route was selected (BGP routes: since their best
    /// path arrived); None where ternd cannot know (the kernel keeps no
    /// route age).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// A blackhole route (no next hops): zebra's "unreachable (blackhole)".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blackhole: bool,
}

/// One next hop of a [`FibRoute`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibNextHop {
    pub gateway: Option<String>,
    pub ifindex: Option<u32>,
    pub ifname: Option<String>,
    pub weight: u8,
    /// The SRv6 segments a VRF's route to a remote VPN prefix is
    /// encapsulated with (zebra's `seg6` next hop); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seg6: Vec<std::net::Ipv6Addr>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replies_without_versions_still_parse() {
        // What a ternd that did not count versions sent.
        let t: BgpTable = serde_json::from_str(
            r#"{"configured":true,"router_id":"192.0.2.1","local_as":65000,"local_hostname":null,
                "routes":[{"prefix":"10.0.0.0/8","paths":[],"advertised_to":[]}]}"#,
        )
        .unwrap();
        assert_eq!((t.table_version, t.routes[0].version), (0, 0));
        let s: crate::BgpSummary = serde_json::from_str(
            r#"{"configured":true,"router_id":"192.0.2.1","local_as":65000,"rib_count":{},
                "rib_memory":{},"peers":[]}"#,
        )
        .unwrap();
        assert!(s.table_version.is_empty());
    }
}

/// `show segment-routing srv6 locator`: one locator of the config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Srv6LocatorView {
    pub name: String,
    /// 1, 2, ... in the order the list has them (by name).
    pub id: u32,
    pub prefix: String,
    pub block_len: u8,
    pub node_len: u8,
    pub function_len: u8,
    pub argument_len: u8,
    /// The protocol whose SIDs come from it ("bgp"), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `show vrf`: one VRF of the config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrfView {
    pub name: String,
    /// Its routing table (also its id: Tern's VRFs have no VRF device);
    /// None while the block has no `table` line, which leaves it inactive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
}
