//! Soft reconfiguration inbound (`neighbor X soft-reconfiguration
//! inbound`): the Adj-RIB-In of a peer kept as received, before the import
//! policy, so that a changed import policy (or `clear bgp X soft in`)
//! applies to it without asking the peer again; and the per-peer route
//! lists of `show ip bgp neighbors X received-routes|advertised-routes`.
use std::sync::Arc;

use ipnet::IpNet;

use super::{Changes, PathAttrs, PeerId, Rib, Source};
use crate::family::Family;

/// One route of a peer's Adj-RIB-In or Adj-RIB-Out, as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdjRibRoute {
    pub prefix: IpNet,
    /// ADD-PATH identifier as received (0 without ADD-PATH).
    pub path_id: u32,
    pub attrs: Arc<PathAttrs>,
    /// FRR's weight: 32768 for our own routes, else 0.
    pub weight: u32,
}

impl Rib {
    /// Records (`Some`) or forgets (`None`) a route of `peer`'s Adj-RIB-In
    /// as received, when the peer keeps one for `family`.
    pub(super) fn keep_received(
        &mut self,
        peer: PeerId,
        family: Family,
        prefix: IpNet,
        path_id: u32,
        attrs: Option<&Arc<PathAttrs>>,
    ) {
        let Some(s) = self.peers.get_mut(&peer) else {
            return;
        };
        match attrs {
            Some(a) if s.info.route_maps.af(family).soft_in => {
                s.received.insert((family, prefix, path_id), Arc::clone(a));
            }
            _ => {
                if !s.received.is_empty() {
                    s.received.remove(&(family, prefix, path_id));
                }
            }
        }
    }

    /// Whether `peer` keeps its Adj-RIB-In of `family`
    /// (`soft-reconfiguration inbound`).
    pub fn keeps_received(&self, peer: PeerId, family: Family) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|s| s.info.route_maps.af(family).soft_in)
    }

    /// Applies the import policy in force again to `peer`'s kept
    /// Adj-RIB-In of `family` (`clear bgp X soft in`, or a changed import
    /// route-map, with soft-reconfiguration inbound).
    pub fn reapply_import(&mut self, peer: PeerId, family: Family) -> Changes {
        self.next_op();
        let mut changes = Changes::default();
        let Some(state) = self.peers.get(&peer) else {
            return changes;
        };
        let info = &state.info;
        let missing_policy = info.route_maps.missing_policy(family, true, info.ibgp);
        let map = info.route_maps.import(family).map(Arc::<str>::from);
        let mut routes: Vec<(IpNet, u32, Arc<PathAttrs>)> = state
            .received
            .iter()
            .filter(|((f, _, _), _)| *f == family)
            .map(|((_, p, id), a)| (*p, *id, Arc::clone(a)))
            .collect();
        routes.sort_by_key(|(p, id, _)| (*p, *id));
        let source = Source::Peer(peer);
        let info = info.clone();
        for (prefix, id, attrs) in routes {
            let policed = match &map {
                _ if self.path_check(&info, &attrs, family).is_err() => None,
                _ if missing_policy => None,
                None => Some(attrs),
                Some(m) => self.import_policy(m, &prefix, &attrs),
            };
            match policed {
                Some(a) => {
                    if let Some(s) = self.peers.get_mut(&peer) {
                        s.denied.remove(family, prefix, id);
                    }
                    self.upsert(family, prefix, source, id, &a, &mut changes);
                }
                None => {
                    self.remove_path(family, prefix, source, id, &mut changes);
                    if let Some(s) = self.peers.get_mut(&peer) {
                        s.denied.insert(family, prefix, id);
                    }
                }
            }
        }
        self.finish(changes)
    }

    /// `show ip bgp neighbors X received-routes`: the kept Adj-RIB-In of
    /// `family` in address order, and how many of its routes the import
    /// policy refuses (FRR's `filteredPrefixCounter`); None when the peer
    /// keeps none.
    pub fn received_routes(
        &mut self,
        peer: PeerId,
        family: Family,
    ) -> Option<(Vec<AdjRibRoute>, usize)> {
        let s = self.peers.get(&peer)?;
        if !s.info.route_maps.af(family).soft_in {
            return None;
        }
        let missing_policy = s.info.route_maps.missing_policy(family, true, s.info.ibgp);
        let map = s.info.route_maps.import(family).map(Arc::<str>::from);
        let mut out: Vec<AdjRibRoute> = s
            .received
            .iter()
            .filter(|((f, _, _), _)| *f == family)
            .map(|((_, prefix, path_id), a)| AdjRibRoute {
                prefix: *prefix,
                path_id: *path_id,
                attrs: Arc::clone(a),
                weight: 0,
            })
            .collect();
        out.sort_by_key(|r| (r.prefix, r.path_id));
        let filtered = match &map {
            _ if missing_policy => out.len(),
            None => 0,
            Some(m) => out
                .iter()
                .filter(|r| self.import_policy(m, &r.prefix, &r.attrs).is_none())
                .count(),
        };
        Some((out, filtered))
    }

    /// `show ip bgp neighbors X advertised-routes`: the Adj-RIB-Out of
    /// `family` in address order, as FRR shows it: our own address as
    /// next hop is 0.0.0.0 (::), and the AS_PATH is the one before our AS
    /// is prepended. Empty for an unknown peer.
    pub fn advertised_routes(&mut self, peer: PeerId, family: Family) -> Vec<AdjRibRoute> {
        let Some(to) = self.peers.get(&peer).map(|s| s.info.clone()) else {
            return Vec::new();
        };
        let mine = super::adj_out::self_next_hop(family, &to);
        let mut exported = Vec::new();
        self.for_each_export(peer, family, |prefix, attrs| exported.push((prefix, attrs)));
        exported.sort_by_key(|(p, _)| *p);
        let table = self.table(family);
        let local: Vec<bool> = exported
            .iter()
            .map(|(p, _)| {
                table
                    .get(p)
                    .and_then(|d| d.paths.first())
                    .is_some_and(|b| b.source == Source::Local)
            })
            .collect();
        exported
            .into_iter()
            .zip(local)
            .map(|((prefix, attrs), local)| {
                let mut shown = (*attrs).clone();
                if Some(shown.next_hop) == mine {
                    shown.next_hop = super::RouteNextHop::Local;
                }
                if !to.ibgp {
                    strip_first_as(&mut shown.as_path, to.local_as);
                }
                AdjRibRoute {
                    prefix,
                    path_id: 0,
                    attrs: Arc::new(shown),
                    weight: if local { 32768 } else { 0 },
                }
            })
            .collect()
    }
}

/// Removes the leading `asn` that export prepends towards eBGP.
fn strip_first_as(path: &mut tern_bgp_wire::AsPath, asn: u32) {
    let Some(first) = path.segments.first_mut() else {
        return;
    };
    if first.kind == tern_bgp_wire::AsSegmentType::Sequence && first.asns.first() == Some(&asn) {
        first.asns.remove(0);
        if first.asns.is_empty() {
            path.segments.remove(0);
        }
    }
}
