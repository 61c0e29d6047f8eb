//! Route-maps in the RIB: the import side (a peer's `route-map in` applied
//! to each announced route before it enters the Loc-RIB) and a change of
//! policy while sessions are up: what each peer was sent under the old
//! policy against what the new one exports, sent as the difference, plus
//! the peers whose import policy changed (the speaker asks them to send
//! their routes again with a ROUTE-REFRESH, as FRR does without
//! soft-reconfiguration inbound).
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ipnet::IpNet;
use tern_bgp_wire::UpdateMessage;

use super::adj_out::FamilyBatch;
use super::intern::FastState;
use super::{PathAttrs, PeerId, PeerUpdates, Rib, RouteMaps};
use crate::family::Family;
use crate::policy::{Outcome, Policy};

/// What one peer is sent of one family, by prefix.
type Exported = HashMap<IpNet, Arc<PathAttrs>, FastState>;

/// What a change of policy asks of the speaker.
#[derive(Debug, Default)]
pub struct PolicyChange {
    /// UPDATEs that bring each peer's Adj-RIB-Out in line with the new
    /// export policy.
    pub updates: PeerUpdates,
    /// Peers and families whose import policy changed: their routes must
    /// be received again (ROUTE-REFRESH) for it to apply.
    pub refresh_in: Vec<(PeerId, Family)>,
    /// The same for peers that keep their Adj-RIB-In
    /// (soft-reconfiguration inbound): the policy is applied to it again
    /// ([`Rib::reapply_import`]) once the new policy is in force.
    pub reapply_in: Vec<(PeerId, Family)>,
}

impl Rib {
    /// Runs import route-map `map` on a route; None when it is refused.
    pub(super) fn import_policy(
        &mut self,
        map: &str,
        prefix: &IpNet,
        attrs: &Arc<PathAttrs>,
    ) -> Option<Arc<PathAttrs>> {
        match self.policy.apply(map, prefix, attrs) {
            Outcome::Deny => None,
            Outcome::Unchanged => Some(Arc::clone(attrs)),
            Outcome::Changed(a) => Some(self.interner.intern(*a)),
        }
    }

    /// The policy objects in force.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Puts a new policy and new per-peer route-maps (`maps`; a peer not
    /// in it has none) in force.
    pub fn set_policy(
        &mut self,
        policy: Arc<Policy>,
        maps: &BTreeMap<PeerId, RouteMaps>,
    ) -> PolicyChange {
        let defined_changed = policy != self.policy;
        let none = RouteMaps::default();
        let mut change = PolicyChange::default();
        // Which (peer, family) exports may change, and what they are now.
        let mut before: Vec<(PeerId, Family, Exported)> = Vec::new();
        let ids: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| !s.down)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            let Some(state) = self.peers.get(id) else {
                continue;
            };
            let old = state.info.route_maps.clone();
            let new = maps.get(id).unwrap_or(&none);
            let families: Vec<Family> = state.info.families.clone();
            let ibgp = state.info.ibgp;
            for family in families {
                let (oi, ni) = (old.import(family), new.import(family));
                let (oa, na) = (old.af(family), new.af(family));
                // `bgp ebgp-requires-policy` changes nothing on iBGP.
                let requires = old.requires_policy != new.requires_policy && !ibgp;
                if oi != ni
                    || (defined_changed && (oi.is_some() || ni.is_some()))
                    || oa.allowas_in != na.allowas_in
                    || oa.soft_in != na.soft_in
                    || requires
                {
                    // The kept Adj-RIB-In (refused routes included) is
                    // enough, unless it was not kept until now.
                    if oa.soft_in && na.soft_in {
                        change.reapply_in.push((*id, family));
                    } else {
                        change.refresh_in.push((*id, family));
                    }
                }
                let (oe, ne) = (old.export(family), new.export(family));
                if oe != ne
                    || (defined_changed && (oe.is_some() || ne.is_some()))
                    || oa.next_hop_self != na.next_hop_self
                    || requires
                {
                    let mut now = HashMap::default();
                    self.for_each_export(*id, family, |p, a| {
                        now.insert(p, a);
                    });
                    before.push((*id, family, now));
                }
            }
        }
        self.policy = policy;
        for id in &ids {
            if let Some(s) = self.peers.get_mut(id) {
                s.info.route_maps = maps.get(id).cloned().unwrap_or_default();
                // No longer kept: soft-reconfiguration inbound went off.
                let maps = &s.info.route_maps;
                if !s.received.is_empty() {
                    let keep = [maps.v4.soft_in, maps.v6.soft_in];
                    s.received.retain(|(f, _, _), _| match f {
                        Family::Ipv4Unicast => keep[0],
                        Family::Ipv6Unicast => keep[1],
                    });
                }
            }
        }
        for (id, family, mut old) in before {
            let mut batch = FamilyBatch::default();
            let mut count = 0usize;
            let Some(codec) = self.for_each_export(id, family, |p, a| {
                count += 1;
                match old.remove(&p) {
                    Some(was) if Arc::ptr_eq(&was, &a) => {}
                    _ => batch.announce(&a, p),
                }
            }) else {
                continue;
            };
            batch.withdrawn.extend(old.into_keys());
            if let Some(s) = self.peers.get_mut(&id) {
                *s.advertised.get_mut(family) = count;
            }
            if batch.is_empty() {
                continue;
            }
            let mut msgs: Vec<UpdateMessage> = Vec::new();
            let unsent = batch.pack(family, &codec, &mut msgs);
            if let Some(s) = self.peers.get_mut(&id) {
                s.no_room(unsent);
            }
            match change.updates.iter_mut().find(|(p, _)| *p == id) {
                Some((_, mine)) => mine.extend(msgs),
                None => change.updates.push((id, msgs)),
            }
        }
        change
    }
}
