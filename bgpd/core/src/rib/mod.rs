//! Routing information bases of the BGP speaker (RFC 4271 §3.2, §9): the
//! Adj-RIB-In of each peer, the Loc-RIB with the decision process (best
//! path and ECMP set), and the Adj-RIB-Out of each peer with the export
//! rules and the packing of UPDATEs. Pure and sans-IO: the daemon feeds
//! decoded UPDATEs and session events in and takes back FIB changes and
//! UPDATE messages to send.
//!
//! ```text
//! update_from_peer / peer_down / originate / withdraw_local
//!     ──▶ Changes { fib: kernel routes to change,
//!                   updates: UPDATEs per peer (Adj-RIB-Out diffs) }
//! peer_up ──▶ initial UPDATEs + End-of-RIB for the new session
//! ```
//!
//! Layout: each prefix of the Loc-RIB holds its candidate paths (inline
//! when there is one, see [`table`]), best first, then the rest of the ECMP
//! set; a peer's Adj-RIB-In is its paths in those lists (after the import
//! checks). Attribute sets are interned and shared between prefixes, and so
//! are the next-hop sets of FIB changes. A peer's Adj-RIB-Out is not
//! stored (RFC 4271 §3.2 allows it): it is the export of the Loc-RIB's best
//! paths to that peer, a pure function of the best path and the session.
//! When a best path changes, each peer is sent the difference between the
//! export of the old best path and that of the new one.

mod adj_in;
mod adj_out;
mod aggregate;
mod decision;
mod graceful;
mod intern;
mod pack;
mod policy;
mod show;
mod soft;
mod table;
#[cfg(test)]
mod tests;
mod version;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;
use tern_bgp_wire::{Codec, UpdateMessage};

use crate::config::{AggregateConfig, AllowAsIn, BgpConfig, PathAttrPolicy};
use crate::family::Family;
use crate::policy::Policy;

pub use crate::attrs::{DEFAULT_LOCAL_PREF, PathAttrs, RouteNextHop, UnknownAttr};
pub use decision::{PathSender, compare_paths};
pub use policy::PolicyChange;
pub use show::{PathSource, PathView, PeerCounts, RouteView, SortedPrefixes};
pub use soft::AdjRibRoute;

use intern::{FastState, Interner};
pub use table::PeerId;
use table::{Dest, Path, Paths, PrefixTable as Table, Source};
use version::TableVersion;

/// What the RIB needs to know about an established session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub id: PeerId,
    /// The peer's address (the last tie-breaker of the decision process).
    pub addr: IpAddr,
    /// Our AS on this session (prepended on eBGP, used for loop detection).
    pub local_as: u32,
    pub remote_as: u32,
    /// The peer's BGP identifier from its OPEN.
    pub remote_id: Ipv4Addr,
    /// Our BGP identifier.
    pub local_id: Ipv4Addr,
    /// Our address on this session: the next hop we advertise (next-hop-self).
    /// An IPv6 link-local one is also sent as the link-local next hop to
    /// external peers (RFC 2545 §3).
    pub local_addr: IpAddr,
    /// Our global IPv6 address, the next hop of IPv6 routes (and of IPv4
    /// routes under RFC 8950) when the session runs over IPv4 or link-local.
    pub local_addr_v6: Option<Ipv6Addr>,
    /// Our link-local address on the link shared with the peer (the peer's
    /// address is on a subnet of the interface that holds `local_addr`):
    /// sent beside the global next hop to external peers (RFC 2545 §3), as
    /// FRR does. None when the peer is not on a shared link.
    pub link_local: Option<Ipv6Addr>,
    /// Internal peer (same AS).
    pub ibgp: bool,
    /// `neighbor X route-reflector-client` (RFC 4456).
    pub rr_client: bool,
    /// The families negotiated and activated on this session.
    pub families: Vec<Family>,
    /// What the OPEN exchange negotiated: AS width, ADD-PATH, message size,
    /// RFC 8950 next hops.
    pub codec: Codec,
    /// `neighbor X route-map NAME in|out`, per family.
    pub route_maps: RouteMaps,
}

/// The policy the config gives one peer: its route-maps, import and export,
/// per family, and its `path-attribute discard|treat-as-withdraw` lines.
/// Set when the session comes up and again on every reconfiguration, so a
/// change applies to the UPDATEs received after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteMaps {
    pub v4_in: Option<Arc<str>>,
    pub v4_out: Option<Arc<str>>,
    pub v6_in: Option<Arc<str>>,
    pub v6_out: Option<Arc<str>>,
    /// `neighbor X path-attribute ...`, applied on import.
    pub path_attrs: Option<Arc<PathAttrPolicy>>,
    /// The other per-family settings the RIB applies.
    pub v4: AfPolicy,
    pub v6: AfPolicy,
    /// `bgp ebgp-requires-policy`: on an eBGP session, no route in or
    /// out of a family without a route-map in that direction.
    pub requires_policy: bool,
}

/// Per-family neighbor settings of the import and export rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AfPolicy {
    /// `neighbor X allowas-in [N|origin]`.
    pub allowas_in: Option<AllowAsIn>,
    /// `neighbor X next-hop-self [force]`.
    pub next_hop_self: NextHopSelf,
    /// `neighbor X soft-reconfiguration inbound`.
    pub soft_in: bool,
}

/// `neighbor X next-hop-self [force]` towards an internal peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NextHopSelf {
    /// The path's next hop is kept (RFC 4271 §5.1.3).
    #[default]
    Off,
    /// Our address for routes learnt over eBGP (FRR: not for reflected
    /// routes).
    Ebgp,
    /// Our address for every route, reflected ones included.
    Force,
}

impl RouteMaps {
    /// The maps `config` gives `peer`.
    pub fn of(config: &BgpConfig, peer: IpAddr) -> Self {
        let (v4_in, v4_out) = config.route_maps(peer, Family::Ipv4Unicast);
        let (v6_in, v6_out) = config.route_maps(peer, Family::Ipv6Unicast);
        let af = |family| {
            let n = config.af_neighbor(peer, family);
            AfPolicy {
                allowas_in: n.allowas_in,
                next_hop_self: if n.next_hop_self_force {
                    NextHopSelf::Force
                } else if n.next_hop_self {
                    NextHopSelf::Ebgp
                } else {
                    NextHopSelf::Off
                },
                soft_in: n.soft_reconfig_in,
            }
        };
        Self {
            v4_in: v4_in.map(Arc::from),
            v4_out: v4_out.map(Arc::from),
            v6_in: v6_in.map(Arc::from),
            v6_out: v6_out.map(Arc::from),
            path_attrs: config.path_attr_policy(peer).cloned().map(Arc::new),
            v4: af(Family::Ipv4Unicast),
            v6: af(Family::Ipv6Unicast),
            requires_policy: config.ebgp_requires_policy(),
        }
    }

    /// The settings of `family`.
    pub fn af(&self, family: Family) -> AfPolicy {
        match family {
            Family::Ipv4Unicast => self.v4,
            Family::Ipv6Unicast => self.v6,
        }
    }

    /// Whether `bgp ebgp-requires-policy` stops the routes of `family`
    /// coming in (`import`) or going out on a session (`ibgp`: internal).
    pub fn missing_policy(&self, family: Family, import: bool, ibgp: bool) -> bool {
        self.requires_policy
            && !ibgp
            && if import {
                self.import(family).is_none()
            } else {
                self.export(family).is_none()
            }
    }

    /// The import route-map of `family`.
    pub fn import(&self, family: Family) -> Option<&str> {
        match family {
            Family::Ipv4Unicast => self.v4_in.as_deref(),
            Family::Ipv6Unicast => self.v6_in.as_deref(),
        }
    }

    /// The export route-map of `family`.
    pub fn export(&self, family: Family) -> Option<&str> {
        match family {
            Family::Ipv4Unicast => self.v4_out.as_deref(),
            Family::Ipv6Unicast => self.v6_out.as_deref(),
        }
    }
}

impl PeerInfo {
    fn has(&self, family: Family) -> bool {
        self.families.contains(&family)
    }

    /// Our link-local address on the link to the peer: the session's own
    /// address when it runs over link-local, else the shared link's.
    fn local_link_local(&self) -> Option<Ipv6Addr> {
        match self.local_addr {
            IpAddr::V6(a) if a.is_unicast_link_local() => Some(a),
            _ => self.link_local,
        }
    }
}

/// Settings of the decision process and of route reflection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibConfig {
    /// `router bgp ASN`.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// `bgp cluster-id`; the router id when unset (RFC 4456 §7).
    pub cluster_id: Option<Ipv4Addr>,
    /// `maximum-paths` for IPv4 unicast (FRR's default: 64).
    pub maximum_paths_v4: u16,
    /// `maximum-paths` for IPv6 unicast.
    pub maximum_paths_v6: u16,
    /// `bgp always-compare-med`.
    pub always_compare_med: bool,
    /// `bgp bestpath as-path multipath-relax`.
    pub multipath_relax: bool,
    /// `neighbor X enforce-first-as` (FRR's default: on): an eBGP path
    /// whose AS_PATH does not start with the peer's AS is treated as
    /// withdrawn.
    pub enforce_first_as: bool,
}

impl RibConfig {
    /// FRR's defaults for `router bgp local_as`.
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> Self {
        Self {
            local_as,
            router_id,
            cluster_id: None,
            maximum_paths_v4: 64,
            maximum_paths_v6: 64,
            always_compare_med: false,
            multipath_relax: false,
            enforce_first_as: true,
        }
    }

    /// The settings of a `router bgp` block; `router_id` is the one in
    /// force (configured or chosen by the daemon).
    pub fn from_bgp(bgp: &BgpConfig, router_id: Ipv4Addr) -> Self {
        Self {
            maximum_paths_v4: bgp.maximum_paths(Family::Ipv4Unicast),
            maximum_paths_v6: bgp.maximum_paths(Family::Ipv6Unicast),
            multipath_relax: bgp.multipath_relax,
            ..Self::new(bgp.asn, bgp.router_id.unwrap_or(router_id))
        }
    }

    /// ECMP width of `family`, at least 1.
    pub fn maximum_paths(&self, family: Family) -> usize {
        let n = match family {
            Family::Ipv4Unicast => self.maximum_paths_v4,
            Family::Ipv6Unicast => self.maximum_paths_v6,
        };
        usize::from(n.max(1))
    }

    /// The CLUSTER_ID we add when reflecting.
    pub fn cluster_id(&self) -> Ipv4Addr {
        self.cluster_id.unwrap_or(self.router_id)
    }
}

/// A change of what the kernel should forward for one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FibChange {
    pub family: Family,
    pub prefix: IpNet,
    /// The ECMP next hops of the best path set; empty: remove the route.
    pub nexthops: NextHops,
}

/// A route's next hops. The RIB hands out one shared copy of each distinct
/// set, so that a full table's FIB changes cost no allocation each.
pub type NextHops = Arc<[IpAddr]>;

/// What one RIB operation changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Routes to install or remove, in order (a later entry for the same
    /// prefix supersedes an earlier one). Locally originated routes are
    /// never installed.
    pub fib: Vec<FibChange>,
    /// Prefixes whose best path changed.
    pub best_changed: Vec<(Family, IpNet)>,
    /// UPDATEs to send, per peer, in order: what brings each peer's
    /// Adj-RIB-Out in line with the new best paths.
    pub updates: PeerUpdates,
    /// The best path before the change, for each entry of `best_changed`
    /// (consumed when the UPDATEs are computed).
    prior: Vec<Prior>,
}

/// UPDATEs to send, per peer.
pub type PeerUpdates = Vec<(PeerId, Vec<UpdateMessage>)>;

/// A best path before a change: its source and attributes.
type Prior = Option<(Source, Arc<PathAttrs>)>;

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.fib.is_empty() && self.best_changed.is_empty() && self.updates.is_empty()
    }

    /// Appends the changes of a later operation.
    pub fn merge(&mut self, other: Changes) {
        self.fib.extend(other.fib);
        self.best_changed.extend(other.best_changed);
        self.prior.extend(other.prior);
        for (peer, msgs) in other.updates {
            match self.updates.iter_mut().find(|(p, _)| *p == peer) {
                Some((_, mine)) => mine.extend(msgs),
                None => self.updates.push((peer, msgs)),
            }
        }
    }

    /// The FIB changes and the UPDATEs per peer.
    pub fn into_parts(self) -> (Vec<FibChange>, PeerUpdates) {
        (self.fib, self.updates)
    }
}

/// A count per family.
#[derive(Clone, Copy, Debug, Default)]
struct PerFamily {
    v4: usize,
    v6: usize,
}

impl PerFamily {
    fn get(&self, family: Family) -> usize {
        match family {
            Family::Ipv4Unicast => self.v4,
            Family::Ipv6Unicast => self.v6,
        }
    }

    fn get_mut(&mut self, family: Family) -> &mut usize {
        match family {
            Family::Ipv4Unicast => &mut self.v4,
            Family::Ipv6Unicast => &mut self.v6,
        }
    }
}

/// An established peer: its session facts and counters.
struct PeerState {
    info: PeerInfo,
    /// Paths accepted into the Loc-RIB.
    accepted: PerFamily,
    /// Routes received but refused by the import checks (loops, own next
    /// hop, import policy).
    denied: Denied,
    /// Routes in the Adj-RIB-Out (advertised and not withdrawn).
    advertised: PerFamily,
    /// Routes not sent because their attributes leave no room for a
    /// prefix in an UPDATE of the session's size.
    unsent_no_room: u64,
    /// Going down: its paths are being removed, it is sent nothing.
    down: bool,
    /// Families whose MP_REACH_NLRI / MP_UNREACH_NLRI were ignored (not
    /// negotiated, or not modelled), each logged once.
    ignored_families: Vec<tern_bgp_wire::AfiSafi>,
    /// `soft-reconfiguration inbound`: the Adj-RIB-In as received, before
    /// the import policy, by (family, prefix, path id).
    received: std::collections::HashMap<(Family, IpNet, u32), Arc<PathAttrs>, FastState>,
}

impl PeerState {
    /// Counts `n` routes that could not be sent for lack of room; the
    /// first time per session at warn level.
    fn no_room(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let first = self.unsent_no_room == 0;
        self.unsent_no_room += n as u64;
        if first {
            tracing::warn!(
                peer = %self.info.addr,
                routes = n,
                "path attributes leave no room for a prefix in an UPDATE: routes not advertised \
                 to this peer (counted; later ones are logged at debug level)"
            );
        } else {
            tracing::debug!(peer = %self.info.addr, routes = n, total = self.unsent_no_room, "routes not advertised: no room in an UPDATE");
        }
    }
}

/// The routes a peer announced that the import checks refused, with their
/// number per family (maximum-prefix counts them: a peer must not make
/// ternd remember refused routes without limit).
#[derive(Default)]
struct Denied {
    set: HashSet<(Family, IpNet, u32), FastState>,
    count: PerFamily,
}

impl Denied {
    fn insert(&mut self, family: Family, prefix: IpNet, path_id: u32) {
        if self.set.insert((family, prefix, path_id)) {
            *self.count.get_mut(family) += 1;
        }
    }

    fn remove(&mut self, family: Family, prefix: IpNet, path_id: u32) {
        if !self.set.is_empty() && self.set.remove(&(family, prefix, path_id)) {
            let n = self.count.get_mut(family);
            *n = n.saturating_sub(1);
        }
    }

    fn count(&self, family: Family) -> usize {
        self.count.get(family)
    }
}

/// Scratch buffers reused across prefixes, so that the hot path allocates
/// only for what it returns.
#[derive(Default)]
struct Scratch {
    cands: Vec<Cand>,
    order: Vec<usize>,
    fib_old: Vec<IpAddr>,
    fib_new: Vec<IpAddr>,
    /// The next-hop sets handed out in FIB changes.
    nexthop_sets: Interner<[IpAddr]>,
}

/// The parts of the RIB the decision process works on, borrowed apart:
/// one family's table and its version counter, the peers (read by the
/// decision, updated after it), the settings and the scratch buffers.
struct Parts<'a> {
    table: &'a mut Table,
    version: &'a mut TableVersion,
    peers: &'a mut BTreeMap<PeerId, PeerState>,
    config: &'a RibConfig,
    scratch: &'a mut Scratch,
}

/// The RIBs of one BGP speaker.
pub struct Rib {
    config: RibConfig,
    /// Prefix-lists, community-lists and route-maps by name.
    policy: Arc<Policy>,
    v4: Table,
    v6: Table,
    /// The tables' version counters (FRR's `tableVersion`).
    v4_version: TableVersion,
    v6_version: TableVersion,
    peers: BTreeMap<PeerId, PeerState>,
    interner: Interner<PathAttrs>,
    local_attrs: Arc<PathAttrs>,
    /// Our addresses beyond the sessions' own (next hop sanity check).
    own_addresses: Vec<IpAddr>,
    seq: u64,
    /// When paths arrived, without a timestamp per path: see [`Arrivals`].
    arrivals: Arrivals,
    /// The time as last told by [`Rib::set_time`] (Unix seconds): the
    /// RIB reads no clock of its own.
    now: u64,
    scratch: Scratch,
    /// `aggregate-address`: configured and originated aggregates.
    aggregates: Aggregates,
}

impl Rib {
    /// A RIB for `router bgp local_as` with FRR's defaults.
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> Self {
        Self::with_config(RibConfig::new(local_as, router_id))
    }

    pub fn with_config(config: RibConfig) -> Self {
        let mut interner = Interner::default();
        let local_attrs = interner.intern(PathAttrs::local());
        Self {
            config,
            policy: Arc::default(),
            v4: Table::new(Family::Ipv4Unicast),
            v6: Table::new(Family::Ipv6Unicast),
            v4_version: TableVersion::default(),
            v6_version: TableVersion::default(),
            peers: BTreeMap::new(),
            interner,
            local_attrs,
            own_addresses: Vec::new(),
            seq: 0,
            arrivals: Arrivals::default(),
            now: 0,
            scratch: Scratch::default(),
            aggregates: Aggregates::default(),
        }
    }

    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    /// Our addresses on the node (besides the sessions' local addresses):
    /// a received next hop equal to one of them is refused.
    pub fn set_own_addresses(&mut self, addrs: impl IntoIterator<Item = IpAddr>) {
        self.own_addresses = addrs.into_iter().collect();
    }

    /// Changes `maximum-paths` of `family` and reruns the decision process.
    pub fn set_maximum_paths(&mut self, family: Family, paths: u16) -> Changes {
        self.next_op();
        match family {
            Family::Ipv4Unicast => self.config.maximum_paths_v4 = paths,
            Family::Ipv6Unicast => self.config.maximum_paths_v6 = paths,
        }
        let changes = self.reselect_all(family);
        self.finish(changes)
    }

    /// Changes `bgp bestpath as-path multipath-relax` and reruns the
    /// decision process in every family.
    pub fn set_multipath_relax(&mut self, relax: bool) -> Changes {
        self.next_op();
        self.config.multipath_relax = relax;
        let mut changes = Changes::default();
        for family in Family::ALL {
            changes.merge(self.reselect_all(family));
        }
        self.finish(changes)
    }

    /// Number of prefixes in the Loc-RIB of `family`.
    pub fn prefix_count(&self, family: Family) -> usize {
        self.table(family).len()
    }

    /// Bytes the Loc-RIB of `family` holds: the table's index, prefixes
    /// and entries, and the path lists on the heap (attribute sets are
    /// shared and not counted, as FRR's `ribMemory` counts its route nodes
    /// only).
    pub fn memory(&self, family: Family) -> usize {
        self.table(family).memory()
    }

    /// The version of `family`'s table: how many times a prefix's best
    /// path was selected, changed or removed (FRR's `tableVersion`).
    pub fn table_version(&self, family: Family) -> u64 {
        match family {
            Family::Ipv4Unicast => self.v4_version.now(),
            Family::Ipv6Unicast => self.v6_version.now(),
        }
    }

    /// What deciding one prefix of `family` needs, borrowed apart.
    fn parts(&mut self, family: Family) -> Parts<'_> {
        let (table, version) = match family {
            Family::Ipv4Unicast => (&mut self.v4, &mut self.v4_version),
            Family::Ipv6Unicast => (&mut self.v6, &mut self.v6_version),
        };
        Parts {
            table,
            version,
            peers: &mut self.peers,
            config: &self.config,
            scratch: &mut self.scratch,
        }
    }

    fn table_mut(&mut self, family: Family) -> &mut Table {
        match family {
            Family::Ipv4Unicast => &mut self.v4,
            Family::Ipv6Unicast => &mut self.v6,
        }
    }

    fn table(&self, family: Family) -> &Table {
        match family {
            Family::Ipv4Unicast => &self.v4,
            Family::Ipv6Unicast => &self.v6,
        }
    }

    /// Starts an operation (from here on, a prefix's best path changes
    /// once at most, see [`Dest::version`]), and notes its time as the
    /// arrival time of the paths it brings (one clock read per UPDATE, not
    /// per prefix).
    fn next_op(&mut self) {
        self.arrivals.note(self.seq + 1, self.now);
        self.v4_version.begin(&mut self.v4);
        self.v6_version.begin(&mut self.v6);
    }

    /// Tells the RIB the time (Unix seconds), which it notes as the
    /// arrival time of the paths that come in until the next call. The
    /// daemon calls it before each batch of UPDATEs or local changes.
    pub fn set_time(&mut self, unix_secs: u64) {
        self.now = unix_secs;
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// When the path with arrival number `seq` arrived (Unix seconds).
    pub(crate) fn arrival_time(&self, seq: u64) -> Option<u64> {
        self.arrivals.time_of(seq)
    }
}

/// What the decision process compares, gathered once per path.
#[derive(Clone, Debug)]
pub(super) struct Cand {
    local_pref: u32,
    local: bool,
    as_path_len: usize,
    origin: u8,
    med: u32,
    /// First AS of the path; None for paths from inside the AS.
    neighbor_as: Option<u32>,
    ebgp: bool,
    /// The AS of the peer the path came from.
    peer_as: u32,
    seq: u64,
    router_id: Ipv4Addr,
    cluster_len: usize,
    addr: IpAddr,
    path_id: u32,
}

/// The configured aggregates and what they originate now.
#[derive(Debug, Default)]
pub(super) struct Aggregates {
    config: BTreeMap<(Family, IpNet), AggregateConfig>,
    /// Aggregates originated now, with their attributes.
    active: HashMap<(Family, IpNet), Arc<PathAttrs>, FastState>,
}

/// Arrival times of paths to the second (FRR's "Last update"), kept as a
/// log of (first arrival number of a second, that second) rather than a
/// timestamp in each of a full table's paths: one entry per second in
/// which paths arrived. Past `ARRIVALS_MAX` entries the older half is
/// thinned to every other entry, so the oldest times get coarser (an
/// older entry stands for the span up to the next one) while the log stays
/// under a megabyte.
#[derive(Debug, Default)]
struct Arrivals {
    log: Vec<(u64, u64)>,
}

const ARRIVALS_MAX: usize = 1 << 16;

impl Arrivals {
    /// Paths from `seq` on arrive at `now` (until a later note).
    fn note(&mut self, seq: u64, now: u64) {
        match self.log.last_mut() {
            Some((_, t)) if *t == now => return,
            // No path arrived since the last note: it moves on.
            Some((s, t)) if *s == seq => {
                *t = now;
                return;
            }
            _ => {}
        }
        if self.log.len() >= ARRIVALS_MAX {
            let half = self.log.len() / 2;
            let mut i = 0;
            self.log.retain(|_| {
                i += 1;
                i > half || i % 2 == 1
            });
        }
        self.log.push((seq, now));
    }

    fn time_of(&self, seq: u64) -> Option<u64> {
        let n = self.log.partition_point(|(s, _)| *s <= seq);
        n.checked_sub(1).map(|i| self.log[i].1)
    }
}

#[cfg(test)]
mod arrival_tests {
    use super::{ARRIVALS_MAX, Arrivals};

    #[test]
    fn arrivals_give_each_path_its_second_and_stay_bounded() {
        let mut a = Arrivals::default();
        assert_eq!(a.time_of(1), None);
        // Paths 1-3 in second 100, 4 in 101, none in 102, 5-6 in 103.
        for (seq, t) in [(1, 100), (2, 100), (3, 100), (4, 101), (5, 103), (6, 103)] {
            a.note(seq, t);
        }
        let times: Vec<Option<u64>> = (1..=7).map(|s| a.time_of(s)).collect();
        assert_eq!(
            times,
            [100, 100, 100, 101, 103, 103, 103].map(Some).to_vec()
        );
        assert_eq!(a.log.len(), 3);
        // Notes with no path in between: the later time holds.
        a.note(7, 105);
        a.note(7, 106);
        assert_eq!(a.time_of(7), Some(106));
        assert_eq!(a.log.len(), 4);
        // A path a second for longer than the log holds: bounded, the
        // newest exact, the oldest no later than their true time.
        let mut a = Arrivals::default();
        let n = 3 * ARRIVALS_MAX as u64;
        for i in 0..n {
            a.note(i, 1000 + i);
        }
        assert!(a.log.len() <= ARRIVALS_MAX);
        assert_eq!(a.time_of(n - 1), Some(1000 + n - 1));
        assert!(a.time_of(10).is_some_and(|t| t <= 1010));
    }
}
