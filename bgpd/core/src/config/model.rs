//! The `router bgp` configuration model: the instance, its neighbors and
//! peer-groups, address families, graceful restart and path-attribute
//! lists. The lines that build it are in [`super::router`].
//!
//! Defaults follow FRR's `datacenter` profile, which is what a node facing
//! its top-of-rack router wants: keepalive 3 s / hold 9 s, connect retry
//! 10 s, and no policy required to exchange routes on eBGP. A neighbor is
//! activated in the address family of its own address unless told otherwise.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr},
};

use ipnet::IpNet;

use super::check::parse_asn;
use crate::family::Family;

/// Keepalive interval of FRR's datacenter profile, in seconds.
pub const DEFAULT_KEEPALIVE: u16 = 3;
/// Hold time of FRR's datacenter profile, in seconds.
pub const DEFAULT_HOLD: u16 = 9;
/// Connect retry interval of FRR's datacenter profile, in seconds.
pub const DEFAULT_CONNECT_RETRY: u16 = 10;

/// `neighbor X remote-as ...`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAsConfig {
    Asn(u32),
    Internal,
    External,
}

/// One `neighbor ADDRESS ...` set of lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NeighborConfig {
    pub remote_as: Option<RemoteAsConfig>,
    pub description: Option<String>,
    /// `timers KEEPALIVE HOLD`.
    pub timers: Option<(u16, u16)>,
    /// `timers connect SECONDS`.
    pub connect_retry: Option<u16>,
    pub passive: bool,
    pub shutdown: bool,
    /// `password WORD`: TCP MD5 signature key (RFC 2385).
    pub password: Option<String>,
    /// `ebgp-multihop [TTL]`: an eBGP peer that is not directly connected.
    pub ebgp_multihop: Option<u8>,
    /// `update-source IFNAME|ADDRESS`: the local address of the session.
    pub update_source: Option<String>,
    /// `ttl-security hops N` (GTSM, RFC 5082): send with TTL 255, accept
    /// only packets that arrive with TTL >= 256 - N.
    pub ttl_security: Option<u8>,
    /// `neighbor X bfd`: a BFD session to the neighbor (ternd's BFD task);
    /// BFD going Down takes the BGP session down at once.
    pub bfd: bool,
    /// `neighbor ADDRESS peer-group NAME`: settings not given here come
    /// from the group. Always None on a group itself.
    pub peer_group: Option<String>,
}

impl NeighborConfig {
    /// Keepalive and hold time in force.
    pub fn timers(&self) -> (u16, u16) {
        self.timers.unwrap_or((DEFAULT_KEEPALIVE, DEFAULT_HOLD))
    }
}

/// Per-family settings of one neighbor (`address-family` mode).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AfNeighbor {
    /// `neighbor X activate` / `no neighbor X activate`; None is the default
    /// (active in the family of the neighbor's own address).
    pub activate: Option<bool>,
    /// `neighbor X maximum-prefix N`: more accepted prefixes than N end the
    /// session with Cease / Maximum Number of Prefixes Reached (RFC 4486).
    pub maximum_prefix: Option<u32>,
    /// `neighbor X route-reflector-client` (RFC 4456).
    pub rr_client: bool,
    /// `neighbor X route-map NAME in`: import policy.
    pub route_map_in: Option<String>,
    /// `neighbor X route-map NAME out`: export policy.
    pub route_map_out: Option<String>,
    /// `neighbor X allowas-in [N|origin]`: how often our AS may appear in
    /// a received AS_PATH.
    pub allowas_in: Option<AllowAsIn>,
    /// `neighbor X next-hop-self`: our address as the next hop of the
    /// eBGP-learnt routes sent to this (internal) peer.
    pub next_hop_self: bool,
    /// `neighbor X next-hop-self force`: also for reflected iBGP routes.
    pub next_hop_self_force: bool,
    /// `neighbor X soft-reconfiguration inbound`: keep the Adj-RIB-In as
    /// received, before the import policy.
    pub soft_reconfig_in: bool,
}

/// `neighbor X allowas-in [N|origin]` (FRR's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowAsIn {
    /// Our AS may appear up to N times (1-10; 3 without a number).
    Count(u8),
    /// Any path that our AS originated (its last AS is ours) is accepted.
    Origin,
}

impl AllowAsIn {
    /// FRR's count when none is given.
    pub const DEFAULT_COUNT: u8 = 3;

    /// Whether a path with this many occurrences of our AS, and this
    /// origin AS, passes.
    pub fn allows(self, occurrences: usize, origin_is_ours: bool) -> bool {
        match self {
            AllowAsIn::Count(n) => occurrences <= usize::from(n),
            AllowAsIn::Origin => origin_is_ours,
        }
    }
}

/// `redistribute connected|kernel|static`: which kernel routes are
/// originated into BGP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Redistribute {
    /// Interface subnets (the kernel's proto-kernel routes without gateway).
    Connected,
    /// Routes other programs or `ip route` put in the main table.
    Kernel,
    /// Routes with protocol `static`.
    Static,
}

impl Redistribute {
    pub fn keyword(self) -> &'static str {
        match self {
            Redistribute::Connected => "connected",
            Redistribute::Kernel => "kernel",
            Redistribute::Static => "static",
        }
    }

    /// The kind a `redistribute` line names.
    pub fn parse(s: &str) -> Option<Redistribute> {
        match s {
            "connected" => Some(Redistribute::Connected),
            "kernel" => Some(Redistribute::Kernel),
            "static" => Some(Redistribute::Static),
            _ => None,
        }
    }
}

/// One `address-family ... unicast` block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AfConfig {
    /// `network PREFIX`: routes this node originates (pod CIDRs).
    pub networks: BTreeSet<IpNet>,
    /// `maximum-paths N`: ECMP width for eBGP paths (FRR's default is 64).
    pub maximum_paths: Option<u16>,
    /// `redistribute connected|kernel|static`.
    pub redistribute: BTreeSet<Redistribute>,
    /// `aggregate-address PREFIX [as-set] [summary-only]`.
    pub aggregates: BTreeMap<IpNet, AggregateConfig>,
    pub neighbors: BTreeMap<IpAddr, AfNeighbor>,
    /// Per-family settings of peer-groups, by group name.
    pub groups: BTreeMap<String, AfNeighbor>,
}

/// One `aggregate-address PREFIX [as-set] [summary-only]` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AggregateConfig {
    /// The more-specific routes are not advertised to any peer.
    pub summary_only: bool,
    /// The aggregate's AS_PATH carries an AS_SET of the contributors' ASes.
    pub as_set: bool,
}

/// FRR's default restart time (`bgp graceful-restart restart-time`), seconds.
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// FRR's default stale-path time (`bgp graceful-restart stalepath-time`).
pub const DEFAULT_STALEPATH_TIME: u16 = 360;

/// `bgp graceful-restart ...` (RFC 4724).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// `bgp graceful-restart`: restarting-speaker mode (keep the kernel
    /// routes across a ternd restart). Without it Tern is a helper only,
    /// FRR's default.
    pub enabled: bool,
    /// `restart-time N`: how long peers keep our routes while we restart.
    pub restart_time: Option<u16>,
    /// `stalepath-time N`: how long we keep a restarting peer's routes
    /// once it is back, waiting for its End-of-RIB.
    pub stalepath_time: Option<u16>,
}

impl GracefulRestartConfig {
    pub fn restart_time(&self) -> u16 {
        self.restart_time.unwrap_or(DEFAULT_RESTART_TIME)
    }

    pub fn stalepath_time(&self) -> u16 {
        self.stalepath_time.unwrap_or(DEFAULT_STALEPATH_TIME)
    }
}

/// `router bgp ASN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpConfig {
    pub asn: u32,
    pub router_id: Option<Ipv4Addr>,
    pub graceful_restart: GracefulRestartConfig,
    pub neighbors: BTreeMap<IpAddr, NeighborConfig>,
    /// `neighbor NAME peer-group` and the settings given to NAME.
    pub peer_groups: BTreeMap<String, NeighborConfig>,
    /// `bgp listen range PREFIX peer-group NAME`: connections from these
    /// addresses create dynamic neighbors of the group.
    pub listen_ranges: BTreeMap<IpNet, String>,
    /// `bgp listen limit N`: most dynamic neighbors at once (FRR's default 100).
    pub listen_limit: Option<u32>,
    pub families: BTreeMap<Family, AfConfig>,
    /// `neighbor ADDRESS path-attribute discard|treat-as-withdraw ...`.
    /// Kept apart from [`NeighborConfig`] so that a change applies to the
    /// running session instead of restarting it.
    pub path_attributes: BTreeMap<IpAddr, PathAttrPolicy>,
    /// The same lines of peer-groups, by name.
    pub group_path_attributes: BTreeMap<String, PathAttrPolicy>,
    /// `bgp bestpath as-path multipath-relax`: paths from different
    /// neighboring ASes of equal AS_PATH length share the ECMP set.
    pub multipath_relax: bool,
    /// `timers bgp KEEPALIVE HOLD`: the timers of neighbors (and
    /// peer-groups) that set none of their own.
    pub timers: Option<(u16, u16)>,
    /// `frr defaults ...` of the whole configuration, mirrored here (the
    /// session keeps it in line) because it decides the defaults below.
    pub profile: FrrProfile,
    /// `[no] bgp ebgp-requires-policy` when it departs from the profile's
    /// default (None: the profile's).
    pub ebgp_requires_policy: Option<bool>,
    /// `[no] bgp log-neighbor-changes` when it departs from the profile's
    /// default.
    pub log_neighbor_changes: Option<bool>,
    /// `address-family ipv4 vpn` / `ipv6 vpn` (RFC 4364 / RFC 4659, SAFI
    /// 128): the neighbors activated there. No neighbor is active in a VPN
    /// family by default.
    pub vpn: BTreeMap<VpnFamily, BTreeSet<IpAddr>>,
}

/// The two VPN families of `address-family ipv4 vpn` / `ipv6 vpn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VpnFamily {
    /// VPN-IPv4 (AFI 1, SAFI 128).
    Ipv4,
    /// VPN-IPv6 (AFI 2, SAFI 128).
    Ipv6,
}

impl VpnFamily {
    pub const ALL: [VpnFamily; 2] = [VpnFamily::Ipv4, VpnFamily::Ipv6];

    /// FRR's words after `address-family`.
    pub fn keyword(self) -> &'static str {
        match self {
            VpnFamily::Ipv4 => "ipv4 vpn",
            VpnFamily::Ipv6 => "ipv6 vpn",
        }
    }

    /// The AFI/SAFI pair of the capability and MP_REACH_NLRI.
    pub fn afi_safi(self) -> tern_bgp_wire::AfiSafi {
        match self {
            VpnFamily::Ipv4 => tern_bgp_wire::AfiSafi::IPV4_VPN,
            VpnFamily::Ipv6 => tern_bgp_wire::AfiSafi::IPV6_VPN,
        }
    }

    /// The family of an AFI/SAFI pair, when it is a VPN one.
    pub fn of(afi_safi: tern_bgp_wire::AfiSafi) -> Option<VpnFamily> {
        VpnFamily::ALL
            .into_iter()
            .find(|f| f.afi_safi() == afi_safi)
    }

    pub fn is_ipv4(self) -> bool {
        self == VpnFamily::Ipv4
    }

    /// FRR's JSON key (`ipv4Vpn`).
    pub fn key(self) -> &'static str {
        match self {
            VpnFamily::Ipv4 => "ipv4Vpn",
            VpnFamily::Ipv6 => "ipv6Vpn",
        }
    }
}

/// `frr defaults traditional|datacenter`: FRR's two sets of defaults.
/// What they change among the settings ternd has (FRR 8.4, bgpd's
/// FRR_CFG_DEFAULT_* lines):
///
/// | setting                      | datacenter | traditional |
/// |------------------------------|------------|-------------|
/// | `bgp ebgp-requires-policy`   | off        | on          |
/// | `timers bgp` (keepalive hold)| 3 9        | 60 180      |
/// | neighbor `timers connect`    | 10         | 120         |
/// | `bgp log-neighbor-changes`   | on         | off         |
/// | hostnames in show output     | shown      | not shown   |
///
/// (The last is FRR's `bgp default show-hostname` and
/// `show-nexthop-hostname`: `tor1(192.0.2.2)` in `show bgp summary`,
/// `192.0.2.2(tor1)` in `show ip bgp`.) Tern's own default, without the
/// line, is the datacenter profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FrrProfile {
    #[default]
    Datacenter,
    Traditional,
}

impl FrrProfile {
    pub fn keyword(self) -> &'static str {
        match self {
            FrrProfile::Datacenter => "datacenter",
            FrrProfile::Traditional => "traditional",
        }
    }

    pub fn parse(s: &str) -> Option<FrrProfile> {
        match s {
            "datacenter" => Some(FrrProfile::Datacenter),
            "traditional" => Some(FrrProfile::Traditional),
            _ => None,
        }
    }

    /// Keepalive and hold time of neighbors that set none.
    pub fn timers(self) -> (u16, u16) {
        match self {
            FrrProfile::Datacenter => (DEFAULT_KEEPALIVE, DEFAULT_HOLD),
            FrrProfile::Traditional => (60, 180),
        }
    }

    /// Connect retry of neighbors that set none.
    pub fn connect_retry(self) -> u16 {
        match self {
            FrrProfile::Datacenter => DEFAULT_CONNECT_RETRY,
            FrrProfile::Traditional => 120,
        }
    }

    /// Whether eBGP sessions need import and export policy.
    pub fn ebgp_requires_policy(self) -> bool {
        self == FrrProfile::Traditional
    }

    /// Whether neighbor state changes are logged.
    pub fn log_neighbor_changes(self) -> bool {
        self == FrrProfile::Datacenter
    }
}

impl BgpConfig {
    pub fn new(asn: u32) -> Self {
        Self {
            asn,
            router_id: None,
            graceful_restart: GracefulRestartConfig::default(),
            neighbors: BTreeMap::new(),
            peer_groups: BTreeMap::new(),
            listen_ranges: BTreeMap::new(),
            listen_limit: None,
            families: BTreeMap::new(),
            path_attributes: BTreeMap::new(),
            group_path_attributes: BTreeMap::new(),
            multipath_relax: false,
            timers: None,
            profile: FrrProfile::default(),
            ebgp_requires_policy: None,
            log_neighbor_changes: None,
            vpn: BTreeMap::new(),
        }
    }

    /// Whether neighbor `addr` is activated in VPN family `family`.
    pub fn vpn_active(&self, family: VpnFamily, addr: IpAddr) -> bool {
        self.vpn.get(&family).is_some_and(|s| s.contains(&addr))
    }

    /// `bgp ebgp-requires-policy` in force: eBGP sessions exchange no
    /// routes in a family without an import (export) route-map.
    pub fn ebgp_requires_policy(&self) -> bool {
        self.ebgp_requires_policy
            .unwrap_or_else(|| self.profile.ebgp_requires_policy())
    }

    /// `bgp log-neighbor-changes` in force.
    pub fn log_neighbor_changes(&self) -> bool {
        self.log_neighbor_changes
            .unwrap_or_else(|| self.profile.log_neighbor_changes())
    }

    /// Puts `profile` in force and drops the settings that now equal its
    /// defaults, so that what renders to nothing is not stored.
    pub fn set_profile(&mut self, profile: FrrProfile) {
        self.profile = profile;
        if self.ebgp_requires_policy == Some(profile.ebgp_requires_policy()) {
            self.ebgp_requires_policy = None;
        }
        if self.log_neighbor_changes == Some(profile.log_neighbor_changes()) {
            self.log_neighbor_changes = None;
        }
    }

    /// `neighbor X path-attribute ...` in force for `peer` (resolved
    /// config: a member's already completed from its group).
    pub fn path_attr_policy(&self, peer: IpAddr) -> Option<&PathAttrPolicy> {
        self.path_attributes.get(&peer).filter(|p| !p.is_empty())
    }

    /// The aggregates configured in `family`.
    pub fn aggregates(&self, family: Family) -> impl Iterator<Item = (&IpNet, &AggregateConfig)> {
        self.families
            .get(&family)
            .into_iter()
            .flat_map(|af| af.aggregates.iter())
    }

    /// Whether `peer` exchanges routes of `family`.
    pub fn is_active(&self, peer: IpAddr, family: Family) -> bool {
        let explicit = self
            .families
            .get(&family)
            .and_then(|af| af.neighbors.get(&peer))
            .and_then(|n| n.activate);
        explicit.unwrap_or(Family::of(peer) == family)
    }

    /// The networks originated in `family`.
    pub fn networks(&self, family: Family) -> impl Iterator<Item = &IpNet> {
        self.families
            .get(&family)
            .into_iter()
            .flat_map(|af| af.networks.iter())
    }

    /// Whether `family` redistributes routes of kind `r`.
    pub fn redistributes(&self, family: Family, r: Redistribute) -> bool {
        self.families
            .get(&family)
            .is_some_and(|af| af.redistribute.contains(&r))
    }

    /// `neighbor X maximum-prefix N` in `family`.
    pub fn maximum_prefix(&self, peer: IpAddr, family: Family) -> Option<u32> {
        self.families
            .get(&family)
            .and_then(|af| af.neighbors.get(&peer))
            .and_then(|n| n.maximum_prefix)
    }

    /// The address-family settings of `peer` in `family` (defaults when
    /// it has none).
    pub fn af_neighbor(&self, peer: IpAddr, family: Family) -> AfNeighbor {
        self.families
            .get(&family)
            .and_then(|af| af.neighbors.get(&peer))
            .cloned()
            .unwrap_or_default()
    }

    /// The route-maps (in, out) applied to `peer` in `family`.
    pub fn route_maps(&self, peer: IpAddr, family: Family) -> (Option<&str>, Option<&str>) {
        let n = self
            .families
            .get(&family)
            .and_then(|af| af.neighbors.get(&peer));
        (
            n.and_then(|n| n.route_map_in.as_deref()),
            n.and_then(|n| n.route_map_out.as_deref()),
        )
    }

    /// Whether `peer` is a route-reflector client (in any family).
    pub fn is_rr_client(&self, peer: IpAddr) -> bool {
        self.families
            .values()
            .any(|af| af.neighbors.get(&peer).is_some_and(|n| n.rr_client))
    }

    /// ECMP width for `family` (FRR's default: 64 with multipath compiled in).
    pub fn maximum_paths(&self, family: Family) -> u16 {
        self.families
            .get(&family)
            .and_then(|af| af.maximum_paths)
            .unwrap_or(64)
    }
}

/// The path-attribute lines of one neighbor or peer-group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttrPolicy {
    /// `path-attribute discard TYPE...`
    pub discard: BTreeSet<u8>,
    /// `path-attribute treat-as-withdraw TYPE...`
    pub withdraw: BTreeSet<u8>,
}

impl PathAttrPolicy {
    pub fn is_empty(&self) -> bool {
        self.discard.is_empty() && self.withdraw.is_empty()
    }

    /// Whether attributes of `code` are dropped on receipt.
    pub fn discards(&self, code: u8) -> bool {
        self.discard.contains(&code)
    }

    /// Whether an UPDATE carrying `code` is treated as withdrawn (this wins
    /// over discard, as in FRR).
    pub fn withdraws(&self, code: u8) -> bool {
        self.withdraw.contains(&code)
    }

    /// A member's lists completed from its group's: each kind the member
    /// does not set comes from the group.
    pub fn inherit(own: Option<&Self>, group: Option<&Self>) -> Option<Self> {
        let pick = |f: fn(&Self) -> &BTreeSet<u8>| {
            own.map(f)
                .filter(|s| !s.is_empty())
                .or_else(|| group.map(f))
                .cloned()
                .unwrap_or_default()
        };
        let p = Self {
            discard: pick(|p| &p.discard),
            withdraw: pick(|p| &p.withdraw),
        };
        (!p.is_empty()).then_some(p)
    }
}

pub fn parse_remote_as(asn: &str) -> Result<RemoteAsConfig, String> {
    Ok(match asn {
        "internal" => RemoteAsConfig::Internal,
        "external" => RemoteAsConfig::External,
        a => RemoteAsConfig::Asn(parse_asn(a)?),
    })
}

/// The words of a remote-as setting.
pub fn remote_as_word(r: RemoteAsConfig) -> String {
    match r {
        RemoteAsConfig::Asn(a) => a.to_string(),
        RemoteAsConfig::Internal => "internal".into(),
        RemoteAsConfig::External => "external".into(),
    }
}
