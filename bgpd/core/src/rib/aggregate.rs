//! Route aggregation (`aggregate-address`, RFC 4271 §9.2.2.2) as FRR does
//! it: an aggregate is originated while at least one more-specific route
//! is in the Loc-RIB and withdrawn when the last one goes. Its attributes:
//! ORIGIN the worst of the contributors', MED 0, AGGREGATOR our AS and
//! router-id, ATOMIC_AGGREGATE unless `as-set` (or when a contributor
//! carries it), and with `as-set` an AS_PATH of the contributors' common
//! leading AS_SEQUENCE followed by an AS_SET of every other AS, plus the
//! union of their communities. With `summary-only` the more-specifics stay
//! in the Loc-RIB and the FIB but are exported to no peer.
//!
//! The contributors of a prefix are its best path (the Loc-RIB proper of
//! RFC 4271, where FRR takes every path); an aggregate's own path never
//! contributes, to its own or to a larger aggregate. The aggregate is a
//! local path (next hop self), so it is never installed in the kernel.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ipnet::IpNet;
use tern_bgp_wire::{Aggregator, AsPath, AsSegment, AsSegmentType, Origin};

use super::adj_out::FamilyBatch;
use super::intern::FastState;
use super::{Aggregates, Changes, PathAttrs, PeerId, Rib, RouteNextHop, Source};
use crate::config::AggregateConfig;
use crate::family::Family;

/// The path id of an aggregate's local path (a `network` of the same
/// prefix uses 0; the two coexist as FRR's aggregate and static routes do).
pub(super) const AGGREGATE_PATH_ID: u32 = u32::MAX;

impl Aggregates {
    /// Whether `prefix` is a more-specific of a `summary-only` aggregate:
    /// it is then exported to no peer.
    pub(super) fn suppressed(&self, family: Family, prefix: &IpNet) -> bool {
        !self.config.is_empty()
            && self
                .config
                .iter()
                .any(|((f, agg), c)| *f == family && c.summary_only && covers(agg, prefix))
    }

    fn is_empty(&self) -> bool {
        self.config.is_empty()
    }
}

/// `agg` strictly contains `prefix`.
fn covers(agg: &IpNet, prefix: &IpNet) -> bool {
    agg.prefix_len() < prefix.prefix_len() && agg.contains(prefix)
}

fn origin_rank(o: Origin) -> u8 {
    match o {
        Origin::Igp => 0,
        Origin::Egp => 1,
        Origin::Incomplete => 2,
    }
}

/// The AS_PATH of an `as-set` aggregate of `paths`: the AS_SEQUENCE all of
/// them start with, then an AS_SET (sorted, without repeats) of every AS
/// that follows it in any of them.
pub(crate) fn aggregate_as_path<'a>(paths: impl IntoIterator<Item = &'a AsPath>) -> AsPath {
    let leading = |p: &AsPath| -> Vec<u32> {
        match p.segments.first() {
            Some(s) if s.kind == AsSegmentType::Sequence => s.asns.clone(),
            _ => Vec::new(),
        }
    };
    let paths: Vec<&AsPath> = paths.into_iter().collect();
    let mut common: Option<Vec<u32>> = None;
    for p in &paths {
        let l = leading(p);
        common = Some(match common {
            None => l,
            Some(c) => c
                .iter()
                .zip(&l)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    let common = common.unwrap_or_default();
    let mut set: Vec<u32> = Vec::new();
    for p in &paths {
        let mut skip = common.len();
        for seg in &p.segments {
            for asn in &seg.asns {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                set.push(*asn);
            }
        }
    }
    set.sort_unstable();
    set.dedup();
    let mut segments = Vec::new();
    if !common.is_empty() {
        segments.push(AsSegment {
            kind: AsSegmentType::Sequence,
            asns: common,
        });
    }
    if !set.is_empty() {
        segments.push(AsSegment {
            kind: AsSegmentType::Set,
            asns: set,
        });
    }
    AsPath { segments }
}

/// Appends the values of `more` not yet in `to`.
fn union<T: PartialEq + Clone>(to: &mut Vec<T>, more: &[T]) {
    for v in more {
        if !to.contains(v) {
            to.push(v.clone());
        }
    }
}

impl Rib {
    /// Puts the `aggregate-address` lines of `family` in force: aggregates
    /// are originated or withdrawn, and each peer is sent what a change of
    /// `summary-only` hides or shows again.
    pub fn set_aggregates(
        &mut self,
        family: Family,
        config: &BTreeMap<IpNet, AggregateConfig>,
    ) -> Changes {
        let old: BTreeMap<IpNet, AggregateConfig> = self
            .aggregates
            .config
            .iter()
            .filter(|((f, _), _)| *f == family)
            .map(|((_, p), c)| (*p, *c))
            .collect();
        if old == *config {
            return Changes::default();
        }
        self.next_op();
        // What every peer is sent of this family now.
        let ids: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| !s.down && s.info.has(family))
            .map(|(id, _)| *id)
            .collect();
        let mut before = Vec::new();
        for id in &ids {
            let mut now: HashMap<IpNet, Arc<PathAttrs>, FastState> = HashMap::default();
            self.for_each_export(*id, family, |p, a| {
                now.insert(p, a);
            });
            before.push((*id, now));
        }
        self.aggregates.config.retain(|(f, _), _| *f != family);
        for (p, c) in config {
            self.aggregates.config.insert((family, *p), *c);
        }
        let mut changes = Changes::default();
        for p in old.keys().filter(|p| !config.contains_key(p)) {
            if self.aggregates.active.remove(&(family, *p)).is_some() {
                self.remove_path(family, *p, Source::Local, AGGREGATE_PATH_ID, &mut changes);
            }
        }
        for p in config.keys() {
            self.refresh_aggregate(family, *p, &mut changes);
        }
        // The FIB side of the change stands; the UPDATEs are the difference
        // of each peer's exports, which also covers what summary-only hides.
        let mut changes = self.finish(changes);
        changes.updates.clear();
        for (id, mut old) in before {
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
            if !batch.is_empty() {
                let mut msgs = Vec::new();
                let unsent = batch.pack(family, &codec, &mut msgs);
                if let Some(s) = self.peers.get_mut(&id) {
                    s.no_room(unsent);
                }
                changes.updates.push((id, msgs));
            }
        }
        changes
    }

    /// Brings the aggregates covering the prefixes whose best path changed
    /// in line with their contributors (called before the changes are
    /// advertised; an aggregate's own change is appended to `changes`).
    pub(super) fn update_aggregates(&mut self, changes: &mut Changes) {
        if self.aggregates.is_empty() {
            return;
        }
        let mut seen = 0;
        // An aggregate's change may reach a larger aggregate's prefix
        // range, which changes nothing (aggregates do not contribute), so
        // this ends after at most one more round.
        while seen < changes.best_changed.len() {
            let hit: Vec<(Family, IpNet)> = changes.best_changed[seen..]
                .iter()
                .flat_map(|(f, p)| {
                    self.aggregates
                        .config
                        .keys()
                        .filter(move |(af, agg)| af == f && covers(agg, p))
                        .copied()
                })
                .collect();
            seen = changes.best_changed.len();
            let mut done: Vec<(Family, IpNet)> = Vec::new();
            for (f, agg) in hit {
                if !done.contains(&(f, agg)) {
                    done.push((f, agg));
                    self.refresh_aggregate(f, agg, changes);
                }
            }
        }
    }

    /// Originates, updates or withdraws one aggregate per its contributors.
    fn refresh_aggregate(&mut self, family: Family, agg: IpNet, changes: &mut Changes) {
        let Some(cfg) = self.aggregates.config.get(&(family, agg)).copied() else {
            return;
        };
        let want = self.aggregate_attrs(family, &agg, cfg);
        let key = (family, agg);
        match want {
            Some(attrs) => {
                let attrs = self.interner.intern(attrs);
                let same = self
                    .aggregates
                    .active
                    .get(&key)
                    .is_some_and(|a| Arc::ptr_eq(a, &attrs));
                if !same {
                    self.aggregates.active.insert(key, Arc::clone(&attrs));
                    self.upsert(
                        family,
                        agg,
                        Source::Local,
                        AGGREGATE_PATH_ID,
                        &attrs,
                        changes,
                    );
                }
            }
            None => {
                if self.aggregates.active.remove(&key).is_some() {
                    self.remove_path(family, agg, Source::Local, AGGREGATE_PATH_ID, changes);
                }
            }
        }
    }

    /// The attributes of aggregate `agg`, or None when nothing contributes.
    fn aggregate_attrs(
        &self,
        family: Family,
        agg: &IpNet,
        cfg: AggregateConfig,
    ) -> Option<PathAttrs> {
        let mut contributors: Vec<&PathAttrs> = Vec::new();
        for (prefix, dest) in self.table(family).iter() {
            if !covers(agg, &prefix) {
                continue;
            }
            let best = dest
                .paths
                .iter()
                .find(|p| !(p.source == Source::Local && p.path_id == AGGREGATE_PATH_ID));
            if let Some(p) = best {
                contributors.push(&p.attrs);
            }
        }
        if contributors.is_empty() {
            return None;
        }
        let mut a = PathAttrs::local();
        a.next_hop = RouteNextHop::Local;
        a.med = Some(0);
        a.origin = contributors
            .iter()
            .map(|c| c.origin)
            .max_by_key(|o| origin_rank(*o))
            .unwrap_or(Origin::Igp);
        a.aggregator = Some(Aggregator {
            asn: self.config.local_as,
            address: self.config.router_id,
        });
        let any_atomic = contributors.iter().any(|c| c.atomic_aggregate);
        a.atomic_aggregate = !cfg.as_set || any_atomic;
        if cfg.as_set {
            a.as_path = aggregate_as_path(contributors.iter().map(|c| &c.as_path));
            for c in &contributors {
                union(&mut a.communities, &c.communities);
                union(&mut a.ext_communities, &c.ext_communities);
                union(&mut a.large_communities, &c.large_communities);
            }
            a.communities.sort_unstable();
            a.large_communities.sort_unstable();
        }
        Some(a)
    }

    /// Whether `prefix` is hidden from every peer by a summary-only
    /// aggregate.
    pub fn is_suppressed(&self, family: Family, prefix: &IpNet) -> bool {
        self.aggregates.suppressed(family, prefix)
    }
}
