//! Adj-RIB-Out: what each peer is told. The export rules (RFC 4271 §9.1.3,
//! §5.1; RFC 4456 route reflection; RFC 1997 well-known communities), the
//! attributes rewritten per peer (AS prepend, next-hop-self and no
//! LOCAL_PREF / MED towards eBGP; LOCAL_PREF and ORIGINATOR_ID /
//! CLUSTER_LIST towards iBGP), and the UPDATEs for a change of best path:
//! the difference between the exports of the old and the new best path,
//! grouped by attribute set and packed.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;
use tern_bgp_wire::{AfiSafi, Codec, Community, UpdateMessage};

use super::intern::{FastState, Interner};
use super::{
    Changes, NextHopSelf, PathAttrs, PeerId, PeerInfo, PeerState, PeerUpdates, PerFamily, Prior,
    Rib, RibConfig, RouteNextHop, Source, pack,
};
use crate::attrs::prepend as prepend_as;
use crate::family::{Family, afi_safi};
use crate::policy::{Outcome, Policy};

/// The facts about a path's source that export rules read.
#[derive(Clone, Copy)]
struct Origin {
    ibgp: bool,
    rr_client: bool,
    remote_id: Ipv4Addr,
}

/// Everything besides the path's own attributes that shapes what a peer
/// is sent; paths with equal attributes and equal keys export equal
/// attributes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ExportKey {
    /// eBGP: our AS to prepend.
    prepend: Option<u32>,
    next_hop: RouteNextHop,
    /// iBGP: the LOCAL_PREF to send.
    local_pref: Option<u32>,
    keep_med: bool,
    /// Reflected (RFC 4456): the ORIGINATOR_ID to set when absent.
    reflect: Option<Ipv4Addr>,
}

/// Exports paths for peers, sharing the rewritten attribute sets.
struct Exporter<'a> {
    config: &'a RibConfig,
    policy: &'a Policy,
    interner: &'a mut Interner<PathAttrs>,
    cache: HashMap<(usize, ExportKey), Arc<PathAttrs>, FastState>,
}

/// Our next hop for routes of `family` sent to `to` (next-hop-self).
pub(super) fn self_next_hop(family: Family, to: &PeerInfo) -> Option<RouteNextHop> {
    // The link-local address only to external peers on the link (RFC 2545).
    let link_local = if to.ibgp { None } else { to.local_link_local() };
    let v6_global = || match to.local_addr {
        IpAddr::V6(a) => Some(to.local_addr_v6.unwrap_or(a)),
        IpAddr::V4(a) => Some(to.local_addr_v6.unwrap_or_else(|| a.to_ipv6_mapped())),
    };
    match (family, to.local_addr) {
        (Family::Ipv4Unicast, IpAddr::V4(a)) => Some(RouteNextHop::V4(a)),
        (Family::Ipv4Unicast, IpAddr::V6(_)) => {
            if to.codec.may_send_ipv6_next_hop(AfiSafi::IPV4_UNICAST) {
                v6_global().map(|global| RouteNextHop::V6 { global, link_local })
            } else {
                None
            }
        }
        (Family::Ipv6Unicast, _) => {
            v6_global().map(|global| RouteNextHop::V6 { global, link_local })
        }
    }
}

/// The path's own next hop as sent to an internal peer, if `to` can take it.
fn unchanged_next_hop(family: Family, nh: RouteNextHop, to: &PeerInfo) -> Option<RouteNextHop> {
    match (family, nh) {
        (_, RouteNextHop::Local) => None,
        (Family::Ipv4Unicast, RouteNextHop::V4(_)) => Some(nh),
        (Family::Ipv4Unicast, RouteNextHop::V6 { global, .. }) => to
            .codec
            .may_send_ipv6_next_hop(AfiSafi::IPV4_UNICAST)
            .then_some(RouteNextHop::V6 {
                global,
                link_local: None,
            }),
        (Family::Ipv6Unicast, RouteNextHop::V4(a)) => Some(RouteNextHop::V6 {
            global: a.to_ipv6_mapped(),
            link_local: None,
        }),
        (Family::Ipv6Unicast, RouteNextHop::V6 { global, .. }) => Some(RouteNextHop::V6 {
            global,
            link_local: None,
        }),
    }
}

impl Exporter<'_> {
    /// The attributes to send `to` for best path `best` of `prefix` (from
    /// `origin`, None when local), or None when the path is not for `to`.
    /// Without an export route-map the result does not depend on `prefix`.
    fn export(
        &mut self,
        family: Family,
        prefix: &IpNet,
        best: Best<'_>,
        origin: Option<Origin>,
        to: &PeerInfo,
    ) -> Option<Arc<PathAttrs>> {
        let (source, a) = best?;
        // Never back to the peer it came from.
        if source == Source::Peer(to.id) {
            return None;
        }
        let ebgp = !to.ibgp;
        if !a.communities.is_empty() {
            let has = |c| a.communities.contains(&c);
            if has(Community::NO_ADVERTISE)
                || (ebgp && (has(Community::NO_EXPORT) || has(Community::NO_EXPORT_SUBCONFED)))
            {
                return None;
            }
        }
        let mut reflect = None;
        if let Some(o) = origin
            && o.ibgp
            && to.ibgp
        {
            // iBGP split horizon, unless reflecting (RFC 4456 §6): from a
            // client to everyone, from a non-client to clients.
            if !(o.rr_client || to.rr_client) {
                return None;
            }
            reflect = Some(o.remote_id);
        }
        let local = origin.is_none();
        // A node is no transit path between its eBGP peers: without an
        // export route-map, an eBGP peer is sent only what this node
        // originates (networks, VIPs, aggregates, redistributed routes).
        // Passing learned routes on is an explicit choice: a route-map
        // that permits them.
        if ebgp && !local && to.route_maps.export(family).is_none() {
            return None;
        }
        // `bgp ebgp-requires-policy`: nothing, not even our own routes,
        // to an eBGP peer without an export route-map (FRR).
        if to.route_maps.missing_policy(family, false, to.ibgp) {
            return None;
        }
        // `neighbor X next-hop-self [force]` towards an internal peer: our
        // address for routes learnt over eBGP, and with `force` for the
        // reflected ones too (FRR's rules).
        let next_hop_self = match to.route_maps.af(family).next_hop_self {
            NextHopSelf::Off => false,
            NextHopSelf::Ebgp => origin.is_some_and(|o| !o.ibgp),
            NextHopSelf::Force => true,
        };
        let next_hop = if ebgp || local || next_hop_self {
            self_next_hop(family, to)?
        } else {
            unchanged_next_hop(family, a.next_hop, to).or_else(|| self_next_hop(family, to))?
        };
        let key = ExportKey {
            prepend: ebgp.then_some(to.local_as),
            next_hop,
            local_pref: to.ibgp.then(|| a.effective_local_pref()),
            // FRR strips MED towards eBGP except on its own routes.
            keep_med: !ebgp || local,
            reflect,
        };
        let ptr = Arc::as_ptr(a) as usize;
        let Some(map) = to.route_maps.export(family) else {
            if let Some(out) = self.cache.get(&(ptr, key)) {
                return Some(Arc::clone(out));
            }
            let mut out = rewrite(a, &key, self.config.cluster_id());
            leave_as(&mut out, key.prepend);
            let out = self.interner.intern(out);
            self.cache.insert((ptr, key), Arc::clone(&out));
            return Some(out);
        };
        // As FRR: the route-map sees the attributes rewritten for the
        // peer, before our AS is prepended (so its MED and LOCAL_PREF
        // are what gets sent).
        let mut out = rewrite(a, &key, self.config.cluster_id());
        match self.policy.apply(map, prefix, &out) {
            Outcome::Deny => return None,
            Outcome::Unchanged => {}
            Outcome::Changed(changed) => out = *changed,
        }
        leave_as(&mut out, key.prepend);
        Some(self.interner.intern(out))
    }
}

/// The attributes of `a` as sent under `key`, but for the AS prepend.
fn rewrite(a: &PathAttrs, key: &ExportKey, cluster_id: Ipv4Addr) -> PathAttrs {
    let mut out = a.clone();
    out.next_hop = key.next_hop;
    out.local_pref = key.local_pref;
    if !key.keep_med {
        out.med = None;
    }
    if let Some(originator) = key.reflect {
        out.originator_id.get_or_insert(originator);
        out.cluster_list.insert(0, cluster_id);
    }
    out
}

/// Towards eBGP (`prepend` is our AS): our AS in front, and what must not
/// leave the AS removed.
fn leave_as(out: &mut PathAttrs, prepend: Option<u32>) {
    let Some(asn) = prepend else {
        return;
    };
    out.as_path = prepend_as(&out.as_path, asn);
    out.local_pref = None;
    // Not for other ASes: RFC 4456 §8, RFC 4360 §2.
    out.originator_id = None;
    out.cluster_list.clear();
    out.ext_communities.retain(|c| c.is_transitive());
}

/// What one peer is to be sent for one family.
#[derive(Default)]
pub(super) struct FamilyBatch {
    pub(super) withdrawn: Vec<IpNet>,
    groups: Vec<(Arc<PathAttrs>, Vec<IpNet>)>,
    index: HashMap<usize, usize, FastState>,
    /// The group of the last announcement (most follow their predecessor's).
    last: Option<(usize, usize)>,
}

impl FamilyBatch {
    pub(super) fn announce(&mut self, attrs: &Arc<PathAttrs>, prefix: IpNet) {
        let key = Arc::as_ptr(attrs) as usize;
        let slot = match self.last {
            Some((k, i)) if k == key => Some(i),
            _ => self.index.get(&key).copied(),
        };
        match slot.and_then(|i| self.groups.get_mut(i).map(|g| (i, g))) {
            Some((i, (_, prefixes))) => {
                prefixes.push(prefix);
                self.last = Some((key, i));
            }
            None => {
                let i = self.groups.len();
                self.index.insert(key, i);
                self.groups.push((Arc::clone(attrs), vec![prefix]));
                self.last = Some((key, i));
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.withdrawn.is_empty() && self.groups.is_empty()
    }

    /// Packs the batch into `out`; returns how many announced routes did
    /// not fit (their attributes leave no room in an UPDATE).
    pub(super) fn pack(
        &self,
        family: Family,
        codec: &Codec,
        out: &mut Vec<UpdateMessage>,
    ) -> usize {
        pack::withdrawals(family, &self.withdrawn, codec, out);
        self.groups
            .iter()
            .map(|(attrs, prefixes)| pack::announcements(family, attrs, prefixes, codec, out))
            .sum()
    }
}

/// The facts export rules read about a path's source; None when local.
fn origin_of(source: Source, peers: &BTreeMap<PeerId, PeerState>) -> Option<Origin> {
    match source {
        Source::Local => None,
        Source::Peer(id) => Some(match peers.get(&id) {
            Some(s) => Origin {
                ibgp: s.info.ibgp,
                rr_client: s.info.rr_client,
                remote_id: s.info.remote_id,
            },
            // Paths leave the Loc-RIB before their peer: not reached.
            None => Origin {
                ibgp: false,
                rr_client: false,
                remote_id: Ipv4Addr::UNSPECIFIED,
            },
        }),
    }
}

/// A best path as export reads it: its source and attributes.
type Best<'a> = Option<(Source, &'a Arc<PathAttrs>)>;

/// What an export depends on besides the peer: the attributes (by
/// address), the source and the family.
type MemoKey = (usize, Source, Family);

/// Remembers the last two exports to one peer: consecutive prefixes mostly
/// share their attributes (they arrived in one UPDATE), and a change is an
/// old and a new best path.
#[derive(Default)]
struct Memo {
    slots: [Option<(MemoKey, Option<Arc<PathAttrs>>)>; 2],
    next: usize,
}

impl Memo {
    fn get(
        &mut self,
        family: Family,
        best: Best<'_>,
        compute: impl FnOnce() -> Option<Arc<PathAttrs>>,
    ) -> Option<Arc<PathAttrs>> {
        let (source, attrs) = best?;
        let key = (Arc::as_ptr(attrs) as usize, source, family);
        for (k, v) in self.slots.iter().flatten() {
            if *k == key {
                return v.clone();
            }
        }
        let v = compute();
        let i = self.next;
        self.next = (i + 1) % 2;
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some((key, v.clone()));
        }
        v
    }
}

/// A change of a count per family.
#[derive(Clone, Copy, Default)]
struct Delta {
    v4: isize,
    v6: isize,
}

/// One peer being sent changes.
struct Target<'a> {
    info: &'a PeerInfo,
    memo: Memo,
    v4: FamilyBatch,
    v6: FamilyBatch,
    /// Change of the number of routes advertised.
    delta: Delta,
}

impl Rib {
    /// Fills `changes.updates` from `changes.best_changed`, then drops the
    /// Loc-RIB entries left without paths.
    pub(super) fn finish(&mut self, mut changes: Changes) -> Changes {
        self.update_aggregates(&mut changes);
        let prior = std::mem::take(&mut changes.prior);
        let (updates, gone) = self.advertise(&changes.best_changed, prior);
        changes.updates = updates;
        for (family, prefix) in gone {
            let table = self.table_mut(family);
            if table.get(&prefix).is_some_and(|d| d.paths.is_empty()) {
                table.remove(&prefix);
            }
        }
        changes
    }

    /// The UPDATEs that bring every peer's Adj-RIB-Out from the export of
    /// the `prior` best paths of `prefixes` to the export of their current
    /// ones: withdrawals first, then announcements grouped by attribute
    /// set, packed. Also returns the prefixes left without a best path.
    fn advertise(
        &mut self,
        prefixes: &[(Family, IpNet)],
        prior: Vec<Prior>,
    ) -> (PeerUpdates, Vec<(Family, IpNet)>) {
        let Self {
            v4,
            v6,
            peers,
            interner,
            config,
            policy,
            aggregates,
            ..
        } = self;
        let mut exporter = Exporter {
            config,
            policy,
            interner,
            cache: HashMap::default(),
        };
        let mut targets: Vec<Target<'_>> = peers
            .values()
            .filter(|s| !s.down)
            .map(|s| Target {
                info: &s.info,
                memo: Memo::default(),
                v4: FamilyBatch::default(),
                v6: FamilyBatch::default(),
                delta: Delta::default(),
            })
            .collect();
        let mut gone = Vec::new();
        for (&(family, prefix), old) in prefixes.iter().zip(&prior) {
            let table = match family {
                Family::Ipv4Unicast => &*v4,
                Family::Ipv6Unicast => &*v6,
            };
            let new: Best<'_> = table
                .get(&prefix)
                .and_then(|d| d.paths.first())
                .map(|p| (p.source, &p.attrs));
            if new.is_none() {
                gone.push((family, prefix));
            }
            // Hidden by a summary-only aggregate: neither sent nor withdrawn.
            if aggregates.suppressed(family, &prefix) {
                continue;
            }
            let old: Best<'_> = old.as_ref().map(|(s, a)| (*s, a));
            for t in &mut targets {
                let to = t.info;
                if !to.has(family) {
                    continue;
                }
                let mut export = |best: Best<'_>| {
                    let origin = best.and_then(|(s, _)| origin_of(s, peers));
                    exporter.export(family, &prefix, best, origin, to)
                };
                // An export route-map that matches prefixes makes the
                // result depend on the prefix.
                let (before, after) = if to
                    .route_maps
                    .export(family)
                    .is_some_and(|m| policy.reads_prefix(m))
                {
                    (export(old), export(new))
                } else {
                    (
                        t.memo.get(family, old, || export(old)),
                        t.memo.get(family, new, || export(new)),
                    )
                };
                let (batch, delta) = match family {
                    Family::Ipv4Unicast => (&mut t.v4, &mut t.delta.v4),
                    Family::Ipv6Unicast => (&mut t.v6, &mut t.delta.v6),
                };
                match (before, after) {
                    (Some(b), Some(a)) if Arc::ptr_eq(&b, &a) => {}
                    (None, None) => {}
                    (Some(_), None) => {
                        batch.withdrawn.push(prefix);
                        *delta -= 1;
                    }
                    (before, Some(a)) => {
                        batch.announce(&a, prefix);
                        if before.is_none() {
                            *delta += 1;
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut deltas = Vec::new();
        for t in targets {
            if t.v4.is_empty() && t.v6.is_empty() {
                deltas.push((t.info.id, t.delta, 0));
                continue;
            }
            let mut msgs = Vec::new();
            let unsent = t.v4.pack(Family::Ipv4Unicast, &t.info.codec, &mut msgs)
                + t.v6.pack(Family::Ipv6Unicast, &t.info.codec, &mut msgs);
            deltas.push((t.info.id, t.delta, unsent));
            out.push((t.info.id, msgs));
        }
        for (id, d, unsent) in deltas {
            if let Some(s) = peers.get_mut(&id) {
                s.advertised.v4 = s.advertised.v4.saturating_add_signed(d.v4);
                s.advertised.v6 = s.advertised.v6.saturating_add_signed(d.v6);
                s.no_room(unsent);
            }
        }
        (out, gone)
    }

    /// Registers an established session and returns its initial
    /// advertisement: every best path exportable to it, packed, then an
    /// End-of-RIB marker per family (RFC 4724). A peer already known is
    /// sent everything again; its session facts must be the same (a new
    /// session goes through `peer_down` first, since what the others were
    /// sent depends on them). For a ROUTE-REFRESH, [`Rib::resend`] sends
    /// the routes without the End-of-RIB.
    pub fn peer_up(&mut self, info: &PeerInfo) -> Vec<UpdateMessage> {
        let state = self.peers.entry(info.id).or_insert_with(|| PeerState {
            info: info.clone(),
            accepted: PerFamily::default(),
            denied: super::Denied::default(),
            unsent_no_room: 0,
            advertised: PerFamily::default(),
            down: false,
            ignored_families: Vec::new(),
            received: HashMap::default(),
        });
        state.info = info.clone();
        state.down = false;
        let mut out = Vec::new();
        for family in Family::ALL {
            if info.has(family) {
                let n = self.export_all(info.id, family, &mut out);
                if let Some(s) = self.peers.get_mut(&info.id) {
                    *s.advertised.get_mut(family) = n;
                }
            }
        }
        for family in Family::ALL {
            if info.has(family) {
                out.push(UpdateMessage::end_of_rib_marker(afi_safi(family)));
            }
        }
        out
    }

    /// Our link-local address on the link shared with `peer` changed (an
    /// interface's address came or went): the routes we send it with our
    /// next hop are sent again with the new one. The UPDATEs to send.
    pub fn set_link_local(
        &mut self,
        peer: PeerId,
        link_local: Option<Ipv6Addr>,
    ) -> Vec<UpdateMessage> {
        let Some(s) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        if s.info.link_local == link_local {
            return Vec::new();
        }
        s.info.link_local = link_local;
        if s.info.ibgp {
            // Internal peers are sent no link-local next hop.
            return Vec::new();
        }
        let mut out = Vec::new();
        for family in Family::ALL {
            out.extend(self.resend(peer, family));
        }
        out
    }

    /// The whole Adj-RIB-Out of `family` for `peer` again (answering a
    /// ROUTE-REFRESH, RFC 2918), without End-of-RIB.
    pub fn resend(&mut self, peer: PeerId, family: Family) -> Vec<UpdateMessage> {
        let mut out = Vec::new();
        if self.peers.get(&peer).is_some_and(|s| s.info.has(family)) {
            self.export_all(peer, family, &mut out);
        }
        out
    }

    /// Packs the export of every best path of `family` to `peer` into
    /// `out`; returns how many routes that is.
    fn export_all(&mut self, peer: PeerId, family: Family, out: &mut Vec<UpdateMessage>) -> usize {
        let mut batch = FamilyBatch::default();
        let mut n = 0;
        let Some(codec) = self.for_each_export(peer, family, |prefix, attrs| {
            batch.announce(&attrs, prefix);
            n += 1;
        }) else {
            return 0;
        };
        let unsent = batch.pack(family, &codec, out);
        if let Some(s) = self.peers.get_mut(&peer) {
            s.no_room(unsent);
        }
        n
    }

    /// Calls `f` with the export of every best path of `family` to `peer`;
    /// returns the peer's codec (None: no such peer).
    pub(super) fn for_each_export(
        &mut self,
        peer: PeerId,
        family: Family,
        mut f: impl FnMut(IpNet, Arc<PathAttrs>),
    ) -> Option<Codec> {
        let Self {
            v4,
            v6,
            peers,
            interner,
            config,
            policy,
            aggregates,
            ..
        } = self;
        let to = peers.get(&peer).map(|s| &s.info)?;
        let mut exporter = Exporter {
            config,
            policy,
            interner,
            cache: HashMap::default(),
        };
        let table = match family {
            Family::Ipv4Unicast => &*v4,
            Family::Ipv6Unicast => &*v6,
        };
        let policed = to
            .route_maps
            .export(family)
            .is_some_and(|m| policy.reads_prefix(m));
        let mut memo = Memo::default();
        for (prefix, dest) in table.iter() {
            if aggregates.suppressed(family, &prefix) {
                continue;
            }
            let best: Best<'_> = dest.paths.first().map(|p| (p.source, &p.attrs));
            let mut export = || {
                let origin = best.and_then(|(s, _)| origin_of(s, peers));
                exporter.export(family, &prefix, best, origin, to)
            };
            let exported = if policed {
                export()
            } else {
                memo.get(family, best, export)
            };
            if let Some(attrs) = exported {
                f(prefix, attrs);
            }
        }
        Some(to.codec.clone())
    }
}
