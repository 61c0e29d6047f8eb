//! Adj-RIB-In: routes received from peers and originated locally, with the
//! import checks (RFC 4271 §9.1.2: AS_PATH loop, treated as withdrawn;
//! RFC 4456 §8: ORIGINATOR_ID and CLUSTER_LIST loops; RFC 4271 §6.3 first
//! AS; a next hop that is one of our own addresses or a martian), into the
//! Loc-RIB.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use tern_bgp_wire::{Nlri, NlriPrefix, UpdateMessage, UpdateOutcome};

use super::decision::{self, Ctx, Mutation};
use super::{
    Changes, Parts, Path, PathAttrs, PeerId, PeerInfo, PerFamily, Rib, RouteNextHop, Source,
};
use crate::attrs::Received;
use crate::family::{Family, family_of};

/// Why received routes were refused (they are treated as withdrawn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// ORIGIN or AS_PATH (or NEXT_HOP for the NLRI field) missing.
    Incomplete,
    /// Our AS is in the AS_PATH.
    AsPathLoop,
    /// The AS_PATH of an eBGP path does not start with the peer's AS.
    FirstAs,
    /// ORIGINATOR_ID is our router id.
    OriginatorLoop,
    /// CLUSTER_LIST holds our cluster id.
    ClusterLoop,
    /// The next hop is one of our addresses, or a martian (see
    /// [`martian_next_hop`]).
    NextHop,
}

/// The prefix of an NLRI entry if it belongs to `family`.
fn prefix_of(family: Family, nlri: &Nlri) -> Option<IpNet> {
    match (family, nlri.prefix) {
        (Family::Ipv4Unicast, NlriPrefix::Ipv4(p)) => Some(IpNet::V4(p)),
        (Family::Ipv6Unicast, NlriPrefix::Ipv6(p)) => Some(IpNet::V6(p)),
        _ => None,
    }
}

/// Whether `a` is a martian next hop, refused as FRR refuses it: IPv4
/// 0.0.0.0/8 ("this network"), 127.0.0.0/8 (loopback), 224.0.0.0/4
/// (multicast) and 240.0.0.0/4 (class E, broadcast included); IPv6 `::`,
/// `::1`, multicast (ff00::/8), and the IPv4-mapped forms of the IPv4 ones.
pub(crate) fn martian_next_hop(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            let first = v.octets()[0];
            first == 0 || first == 127 || first >= 224
        }
        IpAddr::V6(v) => match v.to_ipv4_mapped() {
            Some(v4) => martian_next_hop(IpAddr::V4(v4)),
            None => v.is_unspecified() || v.is_loopback() || v.is_multicast(),
        },
    }
}

fn usable_next_hop(nh: &RouteNextHop) -> bool {
    match *nh {
        RouteNextHop::Local => false,
        RouteNextHop::V4(a) => !martian_next_hop(IpAddr::V4(a)),
        // The global address may be :: when only the link-local one is
        // meant (RFC 2545 leaves it to the link): then the link-local one
        // must be a link-local unicast address.
        RouteNextHop::V6 {
            global,
            link_local: Some(ll),
        } if global.is_unspecified() => ll.is_unicast_link_local(),
        RouteNextHop::V6 { global, link_local } => {
            !martian_next_hop(IpAddr::V6(global))
                && link_local.is_none_or(|ll| !martian_next_hop(IpAddr::V6(ll)))
        }
    }
}

impl Rib {
    /// Applies a decoded UPDATE from `peer` to its Adj-RIB-In and the
    /// Loc-RIB. The RFC 7606 outcome is honoured (treat-as-withdraw turns
    /// the announcements into withdrawals); a session reset is the caller's
    /// to handle. Routes of families not active on the session are ignored.
    pub fn update_from_peer(&mut self, peer: PeerId, update: &UpdateMessage) -> Changes {
        self.next_op();
        let changes = self.apply_update(peer, update);
        self.finish(changes)
    }

    fn apply_update(&mut self, peer: PeerId, update: &UpdateMessage) -> Changes {
        let mut changes = Changes::default();
        let Some(state) = self.peers.get(&peer) else {
            tracing::warn!(peer = peer.0, "UPDATE from a peer the RIB does not know");
            return changes;
        };
        let info = state.info.clone();
        self.note_ignored_families(peer, update);
        let source = Source::Peer(peer);
        for (afi_safi, nlri) in update.withdrawals() {
            let Some(family) = family_of(afi_safi).filter(|f| info.has(*f)) else {
                continue;
            };
            if let Some(prefix) = prefix_of(family, nlri) {
                let id = nlri.path_id.unwrap_or(0);
                self.remove_path(family, prefix, source, id, &mut changes);
                self.keep_received(peer, family, prefix, id, None);
            }
        }
        if !matches!(
            update.outcome,
            UpdateOutcome::Accept | UpdateOutcome::AttributeDiscard(_)
        ) {
            return changes;
        }
        if update.nlri.is_empty() && update.mp_reach().is_none() {
            return changes;
        }
        let filter = info.route_maps.path_attrs.as_deref();
        // `neighbor X path-attribute treat-as-withdraw TYPE`: the routes of
        // an UPDATE that carries one of the types are withdrawn.
        if let Some(f) = filter
            && let Some(a) = update
                .attributes
                .iter()
                .find(|a| f.withdraws(a.type_code()))
        {
            tracing::debug!(
                peer = %info.addr,
                attribute = a.type_code(),
                "UPDATE treated as withdraw by path-attribute treat-as-withdraw"
            );
            for (afi_safi, nlri) in update.announced() {
                let Some(family) = family_of(afi_safi).filter(|f| info.has(*f)) else {
                    continue;
                };
                if let Some(prefix) = prefix_of(family, nlri) {
                    let id = nlri.path_id.unwrap_or(0);
                    self.remove_path(family, prefix, source, id, &mut changes);
                    self.keep_received(peer, family, prefix, id, None);
                }
            }
            return changes;
        }
        let discard = |code: u8| filter.is_some_and(|f| f.discards(code));
        let received =
            PathAttrs::from_update(update, info.ibgp, info.codec.four_octet_as, &discard);
        // The NLRI field: IPv4 unicast with NEXT_HOP.
        if !update.nlri.is_empty() && info.has(Family::Ipv4Unicast) {
            let nh = received.next_hop.map(RouteNextHop::V4);
            let (raw, attrs) = self.checked(&info, &received, Family::Ipv4Unicast, nh);
            self.announce(
                peer,
                Family::Ipv4Unicast,
                update.nlri.iter(),
                raw,
                attrs,
                &mut changes,
            );
        }
        // MP_REACH_NLRI: any family we route, the next hop inside.
        if let Some(mp) = update.mp_reach()
            && let Some(family) = family_of(mp.family).filter(|f| info.has(*f))
        {
            let nh = match mp.next_hop {
                tern_bgp_wire::NextHop::Ipv4(a) => Some(RouteNextHop::V4(a)),
                tern_bgp_wire::NextHop::Ipv6 { global, link_local } => {
                    Some(RouteNextHop::V6 { global, link_local })
                }
                _ => None,
            };
            let (raw, attrs) = self.checked(&info, &received, family, nh);
            self.announce(peer, family, mp.nlri.iter(), raw, attrs, &mut changes);
        }
        changes
    }

    /// The attributes of an UPDATE's routes of `family` with next hop
    /// `nh` as received (None when incomplete or without a usable next
    /// hop encoding), and the outcome of the import checks on them.
    fn checked(
        &mut self,
        info: &PeerInfo,
        received: &Received,
        family: Family,
        nh: Option<RouteNextHop>,
    ) -> (Option<Arc<PathAttrs>>, Result<Arc<PathAttrs>, Refusal>) {
        let raw = match nh {
            Some(nh) if received.complete => {
                let mut attrs = received.attrs.clone();
                attrs.next_hop = nh;
                Some(self.interner.intern(attrs))
            }
            _ => None,
        };
        let verdict = match &raw {
            Some(a) => self.path_check(info, a, family).map(|()| Arc::clone(a)),
            None if !received.complete => Err(Refusal::Incomplete),
            None => Err(Refusal::NextHop),
        };
        (raw, verdict)
    }

    /// Logs (once per peer and family, at debug) the MP_REACH_NLRI and
    /// MP_UNREACH_NLRI the codec left undecoded: a family the session did
    /// not negotiate (RFC 4760 §7) or one Tern does not route. They are
    /// ignored; the rest of the UPDATE is processed.
    fn note_ignored_families(&mut self, peer: PeerId, update: &UpdateMessage) {
        for a in &update.attributes {
            let tern_bgp_wire::Attribute::Raw { type_code, value } = &a.value else {
                continue;
            };
            if !matches!(*type_code, 14 | 15) {
                continue;
            }
            let (Some(afi), Some(safi)) = (value.get(..2), value.get(2)) else {
                continue;
            };
            let family = tern_bgp_wire::AfiSafi::new(
                tern_bgp_wire::Afi(u16::from_be_bytes([afi[0], afi[1]])),
                tern_bgp_wire::Safi(*safi),
            );
            let Some(state) = self.peers.get_mut(&peer) else {
                return;
            };
            if state.ignored_families.contains(&family) {
                continue;
            }
            state.ignored_families.push(family);
            tracing::debug!(
                peer = %state.info.addr,
                afi = family.afi.0,
                safi = family.safi.0,
                attribute = type_code,
                "MP_REACH_NLRI/MP_UNREACH_NLRI of a family not negotiated on the session: ignored"
            );
        }
    }

    /// The checks of a complete path with its next hop: AS_PATH loop
    /// (with allowas-in), first AS, route reflection loops, next hop.
    /// Also what a kept Adj-RIB-In route goes through again.
    pub(super) fn path_check(
        &self,
        info: &PeerInfo,
        a: &PathAttrs,
        family: Family,
    ) -> Result<(), Refusal> {
        let ours = |asn: u32| asn == info.local_as || asn == self.config.local_as;
        let occurrences = a
            .as_path
            .segments
            .iter()
            .flat_map(|s| s.asns.iter())
            .filter(|asn| ours(**asn))
            .count();
        if occurrences > 0 {
            // `neighbor X allowas-in [N|origin]` (FRR: a count of our AS
            // up to N, or any path whose origin AS is ours).
            let allowed = info.route_maps.af(family).allowas_in.is_some_and(|allow| {
                allow.allows(occurrences, a.as_path.origin_as().is_some_and(ours))
            });
            if !allowed {
                return Err(Refusal::AsPathLoop);
            }
        }
        if !info.ibgp
            && self.config.enforce_first_as
            && a.as_path.first_as() != Some(info.remote_as)
        {
            return Err(Refusal::FirstAs);
        }
        if info.ibgp {
            if a.originator_id == Some(self.config.router_id) {
                return Err(Refusal::OriginatorLoop);
            }
            if a.cluster_list.contains(&self.config.cluster_id()) {
                return Err(Refusal::ClusterLoop);
            }
        }
        let nh = a.next_hop;
        if !usable_next_hop(&nh) || nh.addresses().any(|x| self.is_own_address(x)) {
            return Err(Refusal::NextHop);
        }
        Ok(())
    }

    fn is_own_address(&self, addr: IpAddr) -> bool {
        self.own_addresses.contains(&addr)
            || self.peers.values().any(|s| {
                let i = &s.info;
                i.local_addr == addr || i.local_addr_v6.map(IpAddr::V6) == Some(addr)
            })
    }

    /// Installs (or, when refused, withdraws) the routes of one NLRI list.
    fn announce<'a>(
        &mut self,
        peer: PeerId,
        family: Family,
        nlri: impl Iterator<Item = &'a Nlri>,
        raw: Option<Arc<PathAttrs>>,
        attrs: Result<Arc<PathAttrs>, Refusal>,
        changes: &mut Changes,
    ) {
        let source = Source::Peer(peer);
        let Some(info) = self.peers.get(&peer).map(|s| &s.info) else {
            return;
        };
        let import_map = info.route_maps.import(family).map(Arc::<str>::from);
        // `bgp ebgp-requires-policy` without an import route-map: refused
        // as a route-map would refuse them.
        let missing_policy = info.route_maps.missing_policy(family, true, info.ibgp);
        let soft_in = info.route_maps.af(family).soft_in;
        match attrs {
            Ok(attrs) => {
                for n in nlri {
                    let Some(prefix) = prefix_of(family, n) else {
                        continue;
                    };
                    let id = n.path_id.unwrap_or(0);
                    if soft_in {
                        self.keep_received(peer, family, prefix, id, Some(&attrs));
                    }
                    let policed = match &import_map {
                        _ if missing_policy => None,
                        None => Some(Arc::clone(&attrs)),
                        Some(map) => self.import_policy(map, &prefix, &attrs),
                    };
                    let Some(policed) = policed else {
                        self.remove_path(family, prefix, source, id, changes);
                        if let Some(s) = self.peers.get_mut(&peer) {
                            s.denied.insert(family, prefix, id);
                        }
                        continue;
                    };
                    if let Some(s) = self.peers.get_mut(&peer) {
                        s.denied.remove(family, prefix, id);
                    }
                    self.upsert(family, prefix, source, id, &policed, changes);
                }
            }
            Err(why) => {
                tracing::debug!(
                    peer = peer.0,
                    ?why,
                    family = family.keyword(),
                    "routes refused, treated as withdrawn"
                );
                for n in nlri {
                    let Some(prefix) = prefix_of(family, n) else {
                        continue;
                    };
                    let id = n.path_id.unwrap_or(0);
                    self.remove_path(family, prefix, source, id, changes);
                    if soft_in {
                        // FRR keeps what the checks refuse too: a change
                        // of allowas-in can accept it later.
                        self.keep_received(peer, family, prefix, id, raw.as_ref());
                    }
                    if let Some(s) = self.peers.get_mut(&peer) {
                        s.denied.insert(family, prefix, id);
                    }
                }
            }
        }
    }

    /// Adds or replaces the path of (`source`, `path_id`) for `prefix`.
    pub(super) fn upsert(
        &mut self,
        family: Family,
        prefix: IpNet,
        source: Source,
        path_id: u32,
        attrs: &Arc<PathAttrs>,
        changes: &mut Changes,
    ) {
        let seq = self.next_seq();
        let Parts {
            table,
            version,
            peers,
            config,
            scratch,
        } = self.parts(family);
        let dest = table.get_or_insert(prefix);
        let mut added = false;
        let mut ctx = Ctx {
            peers,
            config,
            version,
        };
        decision::change(
            dest,
            family,
            prefix,
            &mut ctx,
            scratch,
            changes,
            |paths| match paths
                .iter_mut()
                .find(|p| p.source == source && p.path_id == path_id)
            {
                Some(p) if Arc::ptr_eq(&p.attrs, attrs) => {
                    p.stale = false;
                    Mutation::None
                }
                Some(p) => {
                    p.attrs = Arc::clone(attrs);
                    p.seq = seq;
                    p.stale = false;
                    Mutation::Changed
                }
                None => {
                    paths.push(Path {
                        source,
                        path_id,
                        rank: u16::MAX,
                        stale: false,
                        attrs: Arc::clone(attrs),
                        seq,
                    });
                    added = true;
                    Mutation::Appended
                }
            },
        );
        if added
            && let Source::Peer(id) = source
            && let Some(s) = peers.get_mut(&id)
        {
            *s.accepted.get_mut(family) += 1;
        }
    }

    /// Removes the path of (`source`, `path_id`) for `prefix`, if any.
    pub(super) fn remove_path(
        &mut self,
        family: Family,
        prefix: IpNet,
        source: Source,
        path_id: u32,
        changes: &mut Changes,
    ) {
        let Parts {
            table,
            version,
            peers,
            config,
            scratch,
        } = self.parts(family);
        if let Source::Peer(id) = source
            && let Some(s) = peers.get_mut(&id)
        {
            s.denied.remove(family, prefix, path_id);
        }
        let Some(dest) = table.get_mut(&prefix) else {
            return;
        };
        let mut removed = false;
        let mut ctx = Ctx {
            peers,
            config,
            version,
        };
        decision::change(dest, family, prefix, &mut ctx, scratch, changes, |paths| {
            let before = paths.len();
            paths.retain(|p| !(p.source == source && p.path_id == path_id));
            removed = paths.len() != before;
            if removed {
                Mutation::Changed
            } else {
                Mutation::None
            }
        });
        // An emptied entry is removed once the change is advertised.
        if removed
            && let Source::Peer(id) = source
            && let Some(s) = peers.get_mut(&id)
        {
            let n = s.accepted.get_mut(family);
            *n = n.saturating_sub(1);
        }
    }

    /// Removes every path of a session that went down; returns the FIB and
    /// best-path changes (advertise them to the remaining peers). The peer
    /// is forgotten, its Adj-RIB-Out with it.
    pub fn peer_down(&mut self, peer: PeerId) -> Changes {
        let Some(state) = self.peers.get_mut(&peer) else {
            return Changes::default();
        };
        // Kept while its paths go, so that what was exported from them can
        // be withdrawn from the others; sent nothing itself.
        state.down = true;
        let changes = self.remove_paths(peer, &Family::ALL, false);
        self.peers.remove(&peer);
        changes
    }

    /// Removes the paths of `peer` in `families` (only the stale ones when
    /// `stale_only`) in one operation, deciding and advertising anew.
    pub(super) fn remove_paths(
        &mut self,
        peer: PeerId,
        families: &[Family],
        stale_only: bool,
    ) -> Changes {
        let mut changes = Changes::default();
        let Some(accepted) = self.peers.get(&peer).map(|s| s.accepted) else {
            return changes;
        };
        self.next_op();
        let source = Source::Peer(peer);
        let gone = |p: &Path| p.source == source && (p.stale || !stale_only);
        let mut removed = PerFamily::default();
        let Self {
            v4,
            v6,
            v4_version,
            v6_version,
            peers,
            config,
            scratch,
            ..
        } = self;
        for (family, table, version) in [
            (Family::Ipv4Unicast, v4, v4_version),
            (Family::Ipv6Unicast, v6, v6_version),
        ] {
            if !families.contains(&family) || accepted.get(family) == 0 {
                continue;
            }
            let mut ctx = Ctx {
                peers,
                config,
                version,
            };
            let n = removed.get_mut(family);
            table.retain(|prefix, dest| {
                if dest.paths.iter().any(gone) {
                    decision::change(
                        dest,
                        family,
                        *prefix,
                        &mut ctx,
                        scratch,
                        &mut changes,
                        |paths| {
                            let before = paths.len();
                            paths.retain(|p| !gone(p));
                            *n += before - paths.len();
                            Mutation::Changed
                        },
                    );
                }
                !dest.paths.is_empty()
            });
        }
        if let Some(s) = self.peers.get_mut(&peer) {
            for family in Family::ALL {
                let n = s.accepted.get_mut(family);
                *n = n.saturating_sub(removed.get(family));
            }
        }
        let changes = self.finish(changes);
        self.interner.sweep();
        changes
    }

    /// Originates `prefix` (a `network` line, a service VIP): ORIGIN IGP,
    /// empty AS_PATH, next hop self.
    pub fn originate(&mut self, family: Family, prefix: IpNet) -> Changes {
        let attrs = Arc::clone(&self.local_attrs);
        self.originate_with(family, prefix, attrs)
    }

    /// Originates a redistributed kernel route: as [`Rib::originate`] but
    /// ORIGIN INCOMPLETE, as FRR marks what it redistributes.
    pub fn originate_redistributed(&mut self, family: Family, prefix: IpNet) -> Changes {
        let mut a = (*self.local_attrs).clone();
        a.origin = tern_bgp_wire::Origin::Incomplete;
        let attrs = self.interner.intern(a);
        self.originate_with(family, prefix, attrs)
    }

    fn originate_with(&mut self, family: Family, prefix: IpNet, attrs: Arc<PathAttrs>) -> Changes {
        self.next_op();
        let mut changes = Changes::default();
        self.upsert(
            family,
            prefix.trunc(),
            Source::Local,
            0,
            &attrs,
            &mut changes,
        );
        self.finish(changes)
    }

    /// Stops originating `prefix`.
    pub fn withdraw_local(&mut self, family: Family, prefix: IpNet) -> Changes {
        self.next_op();
        let mut changes = Changes::default();
        self.remove_path(family, prefix.trunc(), Source::Local, 0, &mut changes);
        self.finish(changes)
    }

    /// Reruns the decision process on every prefix of `family`.
    pub(super) fn reselect_all(&mut self, family: Family) -> Changes {
        let mut changes = Changes::default();
        let Parts {
            table,
            version,
            peers,
            config,
            scratch,
        } = self.parts(family);
        let mut ctx = Ctx {
            peers,
            config,
            version,
        };
        for (prefix, dest) in table.iter_mut() {
            decision::reselect(dest, family, prefix, &mut ctx, scratch, &mut changes);
        }
        changes
    }
}
