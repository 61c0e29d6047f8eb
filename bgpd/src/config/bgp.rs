//! `router bgp` configuration: the model, the lines of `(config-router)#`
//! and `(config-router-af)#`, and their rendering for show running-config.
//!
//! Defaults follow FRR's `datacenter` profile, which is what a node facing
//! its top-of-rack router wants: keepalive 3 s / hold 9 s, connect retry
//! 10 s, and no policy required to exchange routes on eBGP. A neighbor is
//! activated in the address family of its own address unless told otherwise.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr},
};

use ipnet::IpNet;

use super::Handled;

/// Keepalive interval of FRR's datacenter profile, in seconds.
pub const DEFAULT_KEEPALIVE: u16 = 3;
/// Hold time of FRR's datacenter profile, in seconds.
pub const DEFAULT_HOLD: u16 = 9;
/// Connect retry interval of FRR's datacenter profile, in seconds.
pub const DEFAULT_CONNECT_RETRY: u16 = 10;

/// The address families Tern speaks today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Ipv4Unicast,
    Ipv6Unicast,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    /// `ipv4 unicast` / `ipv6 unicast`.
    pub fn keyword(self) -> &'static str {
        match self {
            Family::Ipv4Unicast => "ipv4 unicast",
            Family::Ipv6Unicast => "ipv6 unicast",
        }
    }

    /// The family whose routes share the address's version.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4Unicast,
            IpAddr::V6(_) => Family::Ipv6Unicast,
        }
    }

    fn holds(self, net: &IpNet) -> bool {
        matches!(
            (self, net),
            (Family::Ipv4Unicast, IpNet::V4(_)) | (Family::Ipv6Unicast, IpNet::V6(_))
        )
    }
}

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

    fn parse(s: &str) -> Option<Redistribute> {
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
    pub path_attributes: BTreeMap<IpAddr, super::PathAttrPolicy>,
    /// The same lines of peer-groups, by name.
    pub group_path_attributes: BTreeMap<String, super::PathAttrPolicy>,
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
        }
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
    pub fn path_attr_policy(&self, peer: IpAddr) -> Option<&super::PathAttrPolicy> {
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

pub(super) fn parse_asn(s: &str) -> Result<u32, String> {
    // asplain, or asdot (RFC 5396) "X.Y".
    let v = if let Some((hi, lo)) = s.split_once('.') {
        let hi: u16 = hi
            .parse()
            .map_err(|_| format!("invalid AS number \"{s}\""))?;
        let lo: u16 = lo
            .parse()
            .map_err(|_| format!("invalid AS number \"{s}\""))?;
        (u32::from(hi) << 16) | u32::from(lo)
    } else {
        s.parse::<u32>()
            .map_err(|_| format!("invalid AS number \"{s}\" (1..4294967295)"))?
    };
    if v == 0 {
        return Err("AS 0 is reserved (RFC 7607)".into());
    }
    Ok(v)
}

pub(super) fn parse_u16(s: &str, what: &str, min: u16, max: u16) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(format!("invalid {what} \"{s}\" ({min}..{max})")),
    }
}

/// Lines of `(config-router)#`. `Handled::No` lets the caller try the parent
/// mode (a top-level line leaves router mode, as in vtysh).
pub(super) fn apply_router(
    bgp: &mut BgpConfig,
    words: &[&str],
    line: &str,
) -> Result<Handled, String> {
    if let Some(refusal) = super::neighbor::unsupported(words) {
        return Err(refusal);
    }
    match words {
        ["timers", "bgp", ka, hold] => {
            bgp.timers = Some(super::neighbor::parse_timers(ka, hold)?);
        }
        ["timers", "bgp", ..] => return Err("usage: timers bgp KEEPALIVE HOLDTIME".into()),
        ["no", "timers", "bgp", ..] => bgp.timers = None,
        // Stored only when they depart from the profile's default, which
        // FRR's running-config does not show either.
        ["bgp", "log-neighbor-changes"] | ["no", "bgp", "log-neighbor-changes"] => {
            let on = words[0] != "no";
            bgp.log_neighbor_changes = (on != bgp.profile.log_neighbor_changes()).then_some(on);
        }
        ["bgp", "ebgp-requires-policy"] | ["no", "bgp", "ebgp-requires-policy"] => {
            let on = words[0] != "no";
            bgp.ebgp_requires_policy = (on != bgp.profile.ebgp_requires_policy()).then_some(on);
        }
        ["bgp", "log-neighbor-changes" | "ebgp-requires-policy", ..]
        | [
            "no",
            "bgp",
            "log-neighbor-changes" | "ebgp-requires-policy",
            ..,
        ] => {
            return Err(format!(
                "usage: [no] bgp {}",
                words.iter().find(|w| w.contains('-')).unwrap_or(&"")
            ));
        }
        ["bgp", "router-id", id] => {
            let id: Ipv4Addr = id
                .parse()
                .map_err(|_| format!("invalid router-id \"{id}\" (an IPv4 address)"))?;
            if id.is_unspecified() || id.is_broadcast() || id.is_multicast() {
                return Err(format!("router-id {id} is not usable"));
            }
            bgp.router_id = Some(id);
        }
        ["no", "bgp", "router-id", ..] => bgp.router_id = None,
        ["bgp", "graceful-restart"] => bgp.graceful_restart.enabled = true,
        ["no", "bgp", "graceful-restart"] => bgp.graceful_restart.enabled = false,
        ["bgp", "graceful-restart", "restart-time", t] => {
            bgp.graceful_restart.restart_time = Some(parse_u16(t, "restart-time", 0, 4095)?);
        }
        ["bgp", "graceful-restart", "stalepath-time", t] => {
            bgp.graceful_restart.stalepath_time = Some(parse_u16(t, "stalepath-time", 1, 4095)?);
        }
        ["no", "bgp", "graceful-restart", "restart-time", ..] => {
            bgp.graceful_restart.restart_time = None;
        }
        ["no", "bgp", "graceful-restart", "stalepath-time", ..] => {
            bgp.graceful_restart.stalepath_time = None;
        }
        ["bgp", "graceful-restart", ..] => {
            return Err(format!(
                "unsupported graceful-restart option \"{}\" (restart-time, stalepath-time)",
                words[2..].join(" ")
            ));
        }
        ["bgp", "bestpath", rest @ ..] | ["no", "bgp", "bestpath", rest @ ..] => {
            bgp.multipath_relax = apply_bestpath(words[0] != "no", rest)?;
        }
        ["bgp", "listen", ..] | ["no", "bgp", "listen", ..] => {
            super::neighbor::apply_listen(bgp, words)?;
        }
        // FRR takes these address-family lines in router mode too, for
        // IPv4 unicast, and shows them under that address family.
        [
            "neighbor",
            _,
            "allowas-in" | "next-hop-self" | "soft-reconfiguration",
            ..,
        ]
        | [
            "no",
            "neighbor",
            _,
            "allowas-in" | "next-hop-self" | "soft-reconfiguration",
            ..,
        ] => {
            return apply_af(bgp, Family::Ipv4Unicast, words);
        }
        ["neighbor", peer, "path-attribute", rest @ ..] => {
            super::path_attr::apply(bgp, peer, rest, false)?;
        }
        ["no", "neighbor", peer, "path-attribute", rest @ ..] => {
            super::path_attr::apply(bgp, peer, rest, true)?;
        }
        ["neighbor", peer, rest @ ..] => match peer.parse::<IpAddr>() {
            Ok(addr) => apply_neighbor(bgp, addr, rest, line)?,
            Err(_) => super::neighbor::apply_group(bgp, peer, rest, line)?,
        },
        ["no", "neighbor", peer] => match peer.parse::<IpAddr>() {
            Ok(addr) => {
                if bgp.neighbors.remove(&addr).is_none() {
                    return Err(format!("neighbor {addr} is not configured"));
                }
                bgp.path_attributes.remove(&addr);
                for af in bgp.families.values_mut() {
                    af.neighbors.remove(&addr);
                }
            }
            Err(_) => super::neighbor::delete_group(bgp, peer)?,
        },
        ["no", "neighbor", peer, rest @ ..] => match peer.parse::<IpAddr>() {
            Ok(addr) => unapply_neighbor(bgp, addr, rest)?,
            Err(_) => super::neighbor::unapply_group(bgp, peer, rest)?,
        },
        _ => return Ok(Handled::No),
    }
    Ok(Handled::Yes)
}

/// `[no] bgp bestpath ...` (words after `bestpath`): the multipath-relax
/// setting after the line. Only `as-path multipath-relax` is implemented;
/// the other bestpath options are refused by name.
fn apply_bestpath(on: bool, rest: &[&str]) -> Result<bool, String> {
    let no = if on { "" } else { "no " };
    match rest {
        // FRR's optional last word; `no-as-set` is its default and Tern's
        // behaviour (the ECMP set's AS_PATH is the best path's).
        ["as-path", "multipath-relax"] | ["as-path", "multipath-relax", "no-as-set"] => Ok(on),
        ["as-path", "multipath-relax", "as-set"] => Err(format!(
            "\"{no}bgp bestpath as-path multipath-relax as-set\" is not supported by Tern yet \
             (an ECMP set never makes an AS_SET)"
        )),
        ["compare-routerid"] => Err(format!(
            "\"{no}bgp bestpath compare-routerid\" is not supported by Tern yet: between eBGP \
             paths the older one wins before the router-id is compared"
        )),
        [] => Err("usage: bgp bestpath as-path multipath-relax".into()),
        other => Err(format!(
            "\"{no}bgp bestpath {}\" is not supported by Tern yet \
             (only \"bgp bestpath as-path multipath-relax\")",
            other.join(" ")
        )),
    }
}

pub(super) fn parse_remote_as(asn: &str) -> Result<RemoteAsConfig, String> {
    Ok(match asn {
        "internal" => RemoteAsConfig::Internal,
        "external" => RemoteAsConfig::External,
        a => RemoteAsConfig::Asn(parse_asn(a)?),
    })
}

fn apply_neighbor(
    bgp: &mut BgpConfig,
    addr: IpAddr,
    rest: &[&str],
    line: &str,
) -> Result<(), String> {
    match rest {
        ["remote-as", asn] => {
            let r = parse_remote_as(asn)?;
            let group = bgp.neighbors.get(&addr).and_then(|n| n.peer_group.clone());
            if let Some(g) = group
                && let Some(gas) = bgp.peer_groups.get(&g).and_then(|g| g.remote_as)
                && gas != r
            {
                return Err(format!(
                    "peer-group {g} has remote-as {}: cannot configure remote-as for member {addr}",
                    remote_as_word(gas)
                ));
            }
            bgp.neighbors.entry(addr).or_default().remote_as = Some(r);
            return Ok(());
        }
        ["peer-group", name] => return super::neighbor::bind(bgp, addr, name),
        _ => {}
    }
    let group = bgp.neighbors.get(&addr).and_then(|n| n.peer_group.clone());
    let group_cfg = group.and_then(|g| bgp.peer_groups.get(&g)).cloned();
    let n = bgp.neighbors.get_mut(&addr).ok_or_else(|| {
        format!("neighbor {addr} needs \"neighbor {addr} peer-group NAME\" or \"neighbor {addr} remote-as ...\" first")
    })?;
    super::neighbor::set_option(n, group_cfg.as_ref(), rest, line)
}

fn unapply_neighbor(bgp: &mut BgpConfig, addr: IpAddr, rest: &[&str]) -> Result<(), String> {
    let n = bgp
        .neighbors
        .get_mut(&addr)
        .ok_or_else(|| format!("neighbor {addr} is not configured"))?;
    match rest {
        ["peer-group", ..] => {
            let Some(g) = n.peer_group.clone() else {
                return Err(format!("neighbor {addr} is not a member of a peer-group"));
            };
            if let [_, name] = rest
                && *name != g
            {
                return Err("Peer is not a member of this peer-group".into());
            }
            // As FRR: a member that took its remote-as from the group goes
            // with it; one with its own stays as a plain neighbor.
            if n.remote_as.is_none() {
                bgp.neighbors.remove(&addr);
                bgp.path_attributes.remove(&addr);
                for af in bgp.families.values_mut() {
                    af.neighbors.remove(&addr);
                }
            } else {
                n.peer_group = None;
            }
            Ok(())
        }
        ["remote-as", ..] if n.peer_group.is_some() => {
            n.remote_as = None;
            Ok(())
        }
        _ => super::neighbor::unset_option(n, rest),
    }
}

/// The words of a remote-as setting.
pub(super) fn remote_as_word(r: RemoteAsConfig) -> String {
    match r {
        RemoteAsConfig::Asn(a) => a.to_string(),
        RemoteAsConfig::Internal => "internal".into(),
        RemoteAsConfig::External => "external".into(),
    }
}

/// Parses `ipv4 unicast` / `ipv6 unicast` after `address-family`.
pub(super) fn parse_family(words: &[&str]) -> Result<Family, String> {
    match words {
        ["ipv4"] | ["ipv4", "unicast"] => Ok(Family::Ipv4Unicast),
        ["ipv6"] | ["ipv6", "unicast"] => Ok(Family::Ipv6Unicast),
        _ => Err(format!(
            "address family \"{}\" is not supported (ipv4 unicast, ipv6 unicast)",
            words.join(" ")
        )),
    }
}

/// Lines of `(config-router-af)#`.
pub(super) fn apply_af(
    bgp: &mut BgpConfig,
    family: Family,
    words: &[&str],
) -> Result<Handled, String> {
    let known: Vec<IpAddr> = bgp.neighbors.keys().copied().collect();
    let groups: Vec<String> = bgp.peer_groups.keys().cloned().collect();
    let af = bgp.families.entry(family).or_default();
    let handled = apply_af_line(af, family, &known, &groups, words);
    // Keep the model canonical: what renders to nothing is not stored, so
    // that reading running-config back gives an equal state.
    for af in bgp.families.values_mut() {
        af.neighbors.retain(|_, n| *n != AfNeighbor::default());
        af.groups.retain(|_, n| *n != AfNeighbor::default());
    }
    bgp.families.retain(|_, af| *af != AfConfig::default());
    handled
}

/// A neighbor named in an address-family line: an address or a peer-group.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AfPeer {
    Addr(IpAddr),
    Group(String),
}

impl AfPeer {
    /// The neighbor `s` names; it must be configured.
    fn known(s: &str, known: &[IpAddr], groups: &[String]) -> Result<AfPeer, String> {
        match s.parse::<IpAddr>() {
            Ok(a) if known.contains(&a) => Ok(AfPeer::Addr(a)),
            Ok(a) => Err(format!("neighbor {a} is not configured")),
            Err(_) if groups.iter().any(|g| g == s) => Ok(AfPeer::Group(s.to_owned())),
            Err(_) => Err(format!(
                "\"{s}\" is neither a neighbor address nor a configured peer-group"
            )),
        }
    }

    /// For `no` lines: any address or name (nothing to undo is no error).
    fn any(s: &str) -> AfPeer {
        s.parse::<IpAddr>()
            .map_or_else(|_| AfPeer::Group(s.to_owned()), AfPeer::Addr)
    }

    fn entry<'a>(&self, af: &'a mut AfConfig) -> &'a mut AfNeighbor {
        match self {
            AfPeer::Addr(a) => af.neighbors.entry(*a).or_default(),
            AfPeer::Group(g) => af.groups.entry(g.clone()).or_default(),
        }
    }
}

fn parse_af_prefix(p: &str, family: Family) -> Result<IpNet, String> {
    let net: IpNet = p.parse().map_err(|_| format!("invalid prefix \"{p}\""))?;
    if !family.holds(&net) {
        return Err(format!("{net} is not an {} prefix", family.keyword()));
    }
    if net.trunc() != net {
        return Err(format!(
            "{net} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

fn apply_af_line(
    af: &mut AfConfig,
    family: Family,
    known: &[IpAddr],
    groups: &[String],
    words: &[&str],
) -> Result<Handled, String> {
    match words {
        ["network", p] | ["no", "network", p] => {
            let net = parse_af_prefix(p, family)?;
            if words[0] == "no" {
                if !af.networks.remove(&net) {
                    return Err(format!("network {net} is not configured"));
                }
            } else {
                af.networks.insert(net);
            }
        }
        ["aggregate-address", p, opts @ ..] => {
            let net = parse_af_prefix(p, family)?;
            let mut agg = AggregateConfig::default();
            for o in opts {
                match *o {
                    "summary-only" => agg.summary_only = true,
                    "as-set" => agg.as_set = true,
                    other => {
                        return Err(format!(
                            "aggregate-address option \"{other}\" is not supported (as-set, summary-only)"
                        ));
                    }
                }
            }
            af.aggregates.insert(net, agg);
        }
        ["no", "aggregate-address", p, ..] => {
            let net = parse_af_prefix(p, family)?;
            if af.aggregates.remove(&net).is_none() {
                return Err(format!("aggregate-address {net} is not configured"));
            }
        }
        ["maximum-paths", n] => af.maximum_paths = Some(parse_u16(n, "maximum-paths", 1, 256)?),
        ["redistribute", what] | ["no", "redistribute", what] => {
            let r = Redistribute::parse(what).ok_or_else(|| {
                format!("cannot redistribute \"{what}\" (connected, kernel, static)")
            })?;
            if words[0] == "no" {
                af.redistribute.remove(&r);
            } else {
                af.redistribute.insert(r);
            }
        }
        ["redistribute", ..] => {
            return Err("route-map and metric on redistribute are not supported yet".into());
        }
        ["no", "maximum-paths", ..] => af.maximum_paths = None,
        ["neighbor", peer, "maximum-prefix", n] => {
            let who = AfPeer::known(peer, known, groups)?;
            let n: u32 = n
                .parse()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| format!("invalid maximum-prefix \"{n}\" (1..4294967295)"))?;
            who.entry(af).maximum_prefix = Some(n);
        }
        ["no", "neighbor", peer, "maximum-prefix", ..] => {
            AfPeer::any(peer).entry(af).maximum_prefix = None;
        }
        ["neighbor", peer, "send-community", kind @ ..] => {
            AfPeer::known(peer, known, groups)?;
            super::neighbor::check_send_community(kind)?;
        }
        ["neighbor", peer, "route-reflector-client"] => {
            AfPeer::known(peer, known, groups)?.entry(af).rr_client = true;
        }
        ["no", "neighbor", peer, "route-reflector-client"] => {
            AfPeer::any(peer).entry(af).rr_client = false;
        }
        ["neighbor", peer, "route-map", name, dir] => {
            let who = AfPeer::known(peer, known, groups)?;
            super::policy::check_name("route-map", name)?;
            if !matches!(*dir, "in" | "out") {
                return Err(format!("route-map direction \"{dir}\": in or out"));
            }
            let n = who.entry(af);
            if *dir == "in" {
                n.route_map_in = Some((*name).to_owned());
            } else {
                n.route_map_out = Some((*name).to_owned());
            }
        }
        ["no", "neighbor", peer, "route-map", .., dir] => {
            if !matches!(*dir, "in" | "out") {
                return Err(format!("route-map direction \"{dir}\": in or out"));
            }
            let n = AfPeer::any(peer).entry(af);
            if *dir == "in" {
                n.route_map_in = None;
            } else {
                n.route_map_out = None;
            }
        }
        ["neighbor", _, "route-map", ..] => {
            return Err("usage: neighbor ADDRESS route-map NAME in|out".into());
        }
        ["neighbor", peer, "allowas-in", arg @ ..] => {
            let who = AfPeer::known(peer, known, groups)?;
            who.entry(af).allowas_in = Some(parse_allowas_in(arg)?);
        }
        ["no", "neighbor", peer, "allowas-in", arg @ ..] => {
            if arg.len() > 1 {
                return Err(ALLOWAS_IN_USAGE.into());
            }
            AfPeer::any(peer).entry(af).allowas_in = None;
        }
        ["neighbor", peer, "next-hop-self"] => {
            AfPeer::known(peer, known, groups)?.entry(af).next_hop_self = true;
        }
        ["neighbor", peer, "next-hop-self", "force"] => {
            AfPeer::known(peer, known, groups)?
                .entry(af)
                .next_hop_self_force = true;
        }
        ["no", "neighbor", peer, "next-hop-self"] => {
            AfPeer::any(peer).entry(af).next_hop_self = false;
        }
        ["no", "neighbor", peer, "next-hop-self", "force"] => {
            AfPeer::any(peer).entry(af).next_hop_self_force = false;
        }
        ["neighbor", _, "next-hop-self", ..] | ["no", "neighbor", _, "next-hop-self", ..] => {
            return Err("usage: [no] neighbor ADDRESS next-hop-self [force]".into());
        }
        ["neighbor", peer, "soft-reconfiguration", "inbound"] => {
            AfPeer::known(peer, known, groups)?
                .entry(af)
                .soft_reconfig_in = true;
        }
        ["no", "neighbor", peer, "soft-reconfiguration", "inbound"] => {
            AfPeer::any(peer).entry(af).soft_reconfig_in = false;
        }
        ["neighbor", _, "soft-reconfiguration", ..]
        | ["no", "neighbor", _, "soft-reconfiguration", ..] => {
            return Err("usage: [no] neighbor ADDRESS soft-reconfiguration inbound".into());
        }
        ["neighbor", peer, "activate"] | ["no", "neighbor", peer, "activate"] => {
            let who = AfPeer::known(peer, known, groups)?;
            let on = words[0] != "no";
            // Only a departure from the default is stored: an address is
            // active in its own family; a group has no default of its own.
            let stored = match &who {
                AfPeer::Addr(a) => (on != (Family::of(*a) == family)).then_some(on),
                AfPeer::Group(_) => Some(on),
            };
            who.entry(af).activate = stored;
        }
        _ => return Ok(Handled::No),
    }
    Ok(Handled::Yes)
}

/// The options of one neighbor or peer-group (`who`), after its remote-as
/// and peer-group lines.
fn render_options(who: &str, n: &NeighborConfig, secrets: bool, out: &mut String) {
    if let Some(d) = &n.description {
        let _ = writeln!(out, " neighbor {who} description {d}");
    }
    if n.passive {
        let _ = writeln!(out, " neighbor {who} passive");
    }
    if let Some(pw) = &n.password {
        let pw = if secrets { pw } else { super::PASSWORD_MASK };
        let _ = writeln!(out, " neighbor {who} password {pw}");
    }
    match n.ebgp_multihop {
        Some(255) => {
            let _ = writeln!(out, " neighbor {who} ebgp-multihop");
        }
        Some(t) => {
            let _ = writeln!(out, " neighbor {who} ebgp-multihop {t}");
        }
        None => {}
    }
    if let Some(src) = &n.update_source {
        let _ = writeln!(out, " neighbor {who} update-source {src}");
    }
    if n.shutdown {
        let _ = writeln!(out, " neighbor {who} shutdown");
    }
    if let Some((ka, hold)) = n.timers {
        let _ = writeln!(out, " neighbor {who} timers {ka} {hold}");
    }
    if let Some(c) = n.connect_retry {
        let _ = writeln!(out, " neighbor {who} timers connect {c}");
    }
    if let Some(h) = n.ttl_security {
        let _ = writeln!(out, " neighbor {who} ttl-security hops {h}");
    }
    if n.bfd {
        let _ = writeln!(out, " neighbor {who} bfd");
    }
}

/// The address-family lines of one neighbor or peer-group.
fn render_af_neighbor(who: &str, n: &AfNeighbor, body: &mut String) {
    match n.activate {
        Some(true) => {
            let _ = writeln!(body, "  neighbor {who} activate");
        }
        Some(false) => {
            let _ = writeln!(body, "  no neighbor {who} activate");
        }
        None => {}
    }
    if let Some(m) = n.maximum_prefix {
        let _ = writeln!(body, "  neighbor {who} maximum-prefix {m}");
    }
    if n.rr_client {
        let _ = writeln!(body, "  neighbor {who} route-reflector-client");
    }
    if let Some(m) = &n.route_map_in {
        let _ = writeln!(body, "  neighbor {who} route-map {m} in");
    }
    if let Some(m) = &n.route_map_out {
        let _ = writeln!(body, "  neighbor {who} route-map {m} out");
    }
    match n.allowas_in {
        Some(AllowAsIn::Count(AllowAsIn::DEFAULT_COUNT)) => {
            let _ = writeln!(body, "  neighbor {who} allowas-in");
        }
        Some(AllowAsIn::Count(c)) => {
            let _ = writeln!(body, "  neighbor {who} allowas-in {c}");
        }
        Some(AllowAsIn::Origin) => {
            let _ = writeln!(body, "  neighbor {who} allowas-in origin");
        }
        None => {}
    }
    if n.next_hop_self {
        let _ = writeln!(body, "  neighbor {who} next-hop-self");
    }
    if n.next_hop_self_force {
        let _ = writeln!(body, "  neighbor {who} next-hop-self force");
    }
    if n.soft_reconfig_in {
        let _ = writeln!(body, "  neighbor {who} soft-reconfiguration inbound");
    }
}

const ALLOWAS_IN_USAGE: &str = "usage: neighbor ADDRESS allowas-in [(1-10)|origin]";

/// The argument of `neighbor X allowas-in [N|origin]`.
fn parse_allowas_in(arg: &[&str]) -> Result<AllowAsIn, String> {
    match arg {
        [] => Ok(AllowAsIn::Count(AllowAsIn::DEFAULT_COUNT)),
        ["origin"] => Ok(AllowAsIn::Origin),
        [n] => match n.parse::<u8>() {
            Ok(v @ 1..=10) => Ok(AllowAsIn::Count(v)),
            _ => Err(format!(
                "invalid allowas-in count \"{n}\" (1..10, or origin)"
            )),
        },
        _ => Err(ALLOWAS_IN_USAGE.into()),
    }
}

/// The `router bgp` block in running-config syntax. Peer-groups come
/// before the listen ranges and neighbors that name them. Without
/// `secrets`, passwords are shown as [`super::PASSWORD_MASK`].
pub(super) fn render(bgp: &BgpConfig, secrets: bool, out: &mut String) {
    let _ = writeln!(out, "router bgp {}", bgp.asn);
    if let Some(id) = bgp.router_id {
        let _ = writeln!(out, " bgp router-id {id}");
    }
    let gr = &bgp.graceful_restart;
    if gr.enabled {
        out.push_str(" bgp graceful-restart\n");
    }
    if let Some(t) = gr.restart_time {
        let _ = writeln!(out, " bgp graceful-restart restart-time {t}");
    }
    if let Some(t) = gr.stalepath_time {
        let _ = writeln!(out, " bgp graceful-restart stalepath-time {t}");
    }
    match bgp.log_neighbor_changes {
        Some(true) => out.push_str(" bgp log-neighbor-changes\n"),
        Some(false) => out.push_str(" no bgp log-neighbor-changes\n"),
        None => {}
    }
    match bgp.ebgp_requires_policy {
        Some(true) => out.push_str(" bgp ebgp-requires-policy\n"),
        Some(false) => out.push_str(" no bgp ebgp-requires-policy\n"),
        None => {}
    }
    if let Some((ka, hold)) = bgp.timers {
        let _ = writeln!(out, " timers bgp {ka} {hold}");
    }
    if bgp.multipath_relax {
        out.push_str(" bgp bestpath as-path multipath-relax\n");
    }
    if let Some(l) = bgp.listen_limit {
        let _ = writeln!(out, " bgp listen limit {l}");
    }
    for (name, g) in &bgp.peer_groups {
        let _ = writeln!(out, " neighbor {name} peer-group");
        if let Some(r) = g.remote_as {
            let _ = writeln!(out, " neighbor {name} remote-as {}", remote_as_word(r));
        }
        render_options(name, g, secrets, out);
        super::path_attr::render(name, bgp.group_path_attributes.get(name), out);
    }
    for (range, group) in &bgp.listen_ranges {
        let _ = writeln!(out, " bgp listen range {range} peer-group {group}");
    }
    for (addr, n) in &bgp.neighbors {
        let who = addr.to_string();
        if let Some(r) = n.remote_as {
            let _ = writeln!(out, " neighbor {who} remote-as {}", remote_as_word(r));
        }
        if let Some(g) = &n.peer_group {
            let _ = writeln!(out, " neighbor {who} peer-group {g}");
        }
        render_options(&who, n, secrets, out);
        super::path_attr::render(&who, bgp.path_attributes.get(addr), out);
    }
    for (family, af) in &bgp.families {
        let mut body = String::new();
        for net in &af.networks {
            let _ = writeln!(body, "  network {net}");
        }
        for (net, a) in &af.aggregates {
            let _ = writeln!(
                body,
                "  aggregate-address {net}{}{}",
                if a.as_set { " as-set" } else { "" },
                if a.summary_only { " summary-only" } else { "" }
            );
        }
        for r in &af.redistribute {
            let _ = writeln!(body, "  redistribute {}", r.keyword());
        }
        for (name, n) in &af.groups {
            render_af_neighbor(name, n, &mut body);
        }
        for (addr, n) in &af.neighbors {
            render_af_neighbor(&addr.to_string(), n, &mut body);
        }
        if let Some(m) = af.maximum_paths {
            let _ = writeln!(body, "  maximum-paths {m}");
        }
        if !body.is_empty() {
            let _ = writeln!(out, " !\n address-family {}", family.keyword());
            out.push_str(&body);
            out.push_str(" exit-address-family\n");
        }
    }
    out.push_str("exit\n!\n");
}
