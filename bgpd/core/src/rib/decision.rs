//! The Loc-RIB decision process for one prefix (RFC 4271 §9.1.2.2 with the
//! usual extensions, in FRR's order) and the ECMP set, plus the before /
//! after bookkeeping that turns a change of candidates into FIB changes and
//! best-path changes.
//!
//! Order: highest LOCAL_PREF, locally originated, shortest AS_PATH, lowest
//! ORIGIN, lowest MED (same neighbour AS only, unless always-compare-med),
//! eBGP over iBGP; paths equal so far form the ECMP set (eBGP: same peer
//! AS; iBGP: same AS_PATH; anything with multipath-relax); then the oldest
//! eBGP path, lowest router id (ORIGINATOR_ID when present), shortest
//! CLUSTER_LIST, lowest peer address. MED is compared deterministically
//! (FRR's `bgp deterministic-med`): the best of each neighbour-AS group
//! first, then the best of those.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::version::TableVersion;
use super::{
    Cand, Changes, Dest, FibChange, Path, PathAttrs, Paths, PeerId, PeerState, RibConfig, Scratch,
    Source,
};
use crate::family::Family;

/// The facts about peers and settings the decision reads, and the version
/// counter of the table it decides in.
pub(super) struct Ctx<'a> {
    pub(super) peers: &'a BTreeMap<PeerId, PeerState>,
    pub(super) config: &'a RibConfig,
    pub(super) version: &'a mut TableVersion,
}

/// What a change did to a prefix's candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mutation {
    None,
    /// One path pushed at the end, nothing else touched.
    Appended,
    Changed,
}

impl Ctx<'_> {
    fn cand(&self, p: &Path) -> Cand {
        let a = &p.attrs;
        let (ebgp, peer_as, router_id, addr) = match p.source {
            Source::Local => (
                false,
                self.config.local_as,
                self.config.router_id,
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ),
            Source::Peer(id) => match self.peers.get(&id) {
                Some(s) => (
                    !s.info.ibgp,
                    s.info.remote_as,
                    s.info.remote_id,
                    s.info.addr,
                ),
                None => (
                    false,
                    0,
                    Ipv4Addr::BROADCAST,
                    IpAddr::V4(Ipv4Addr::BROADCAST),
                ),
            },
        };
        Cand {
            local_pref: a.effective_local_pref(),
            local: p.source == Source::Local,
            as_path_len: a.as_path.path_length(),
            origin: a.origin as u8,
            // A missing MED is 0 (FRR without `bgp bestpath med missing-as-worst`).
            med: a.med.unwrap_or(0),
            neighbor_as: a.as_path.first_as(),
            ebgp,
            peer_as,
            seq: p.seq,
            router_id: a.originator_id.unwrap_or(router_id),
            cluster_len: a.cluster_list.len(),
            addr,
            path_id: p.path_id,
        }
    }
}

/// Steps up to the ECMP check; `Less` means `a` is preferred.
fn compare_attrs(a: &Cand, b: &Cand, always_compare_med: bool) -> Ordering {
    b.local_pref
        .cmp(&a.local_pref)
        .then(b.local.cmp(&a.local))
        .then(a.as_path_len.cmp(&b.as_path_len))
        .then(a.origin.cmp(&b.origin))
        .then_with(|| {
            if always_compare_med || a.neighbor_as == b.neighbor_as {
                a.med.cmp(&b.med)
            } else {
                Ordering::Equal
            }
        })
        .then(b.ebgp.cmp(&a.ebgp))
}

/// The tie-breakers after the ECMP check.
fn tie_break(a: &Cand, b: &Cand) -> Ordering {
    let age = if a.ebgp && b.ebgp {
        a.seq.cmp(&b.seq)
    } else {
        Ordering::Equal
    };
    age.then(a.router_id.cmp(&b.router_id))
        .then(a.cluster_len.cmp(&b.cluster_len))
        .then(a.addr.cmp(&b.addr))
        .then(a.path_id.cmp(&b.path_id))
}

fn compare(a: &Cand, b: &Cand, always_compare_med: bool) -> Ordering {
    compare_attrs(a, b, always_compare_med).then_with(|| tie_break(a, b))
}

/// Whether `p` may share the ECMP set of best path `best`, all earlier
/// steps being equal.
fn multipath_compatible(best: (&Cand, &Path), p: (&Cand, &Path), relax: bool) -> bool {
    if best.0.local || p.0.local {
        return false;
    }
    if relax {
        return true;
    }
    if best.0.ebgp {
        best.0.peer_as == p.0.peer_as
    } else {
        Arc::ptr_eq(&best.1.attrs, &p.1.attrs) || best.1.attrs.as_path == p.1.attrs.as_path
    }
}

/// Runs the decision process on `dest`: orders its paths best first, then
/// the rest of the ECMP set, and sets `dest.multipath`.
pub(super) fn select(dest: &mut Dest, family: Family, ctx: &Ctx<'_>, scratch: &mut Scratch) {
    match dest.paths.len() {
        0 => {
            dest.multipath = 0;
            return;
        }
        1 => {
            dest.multipath = 1;
            if let Some(p) = dest.paths.first_mut() {
                p.rank = 0;
            }
            return;
        }
        _ => {}
    }
    let always = ctx.config.always_compare_med;
    let cands = &mut scratch.cands;
    cands.clear();
    cands.extend(dest.paths.iter().map(|p| ctx.cand(p)));
    // Deterministic MED: the best of each neighbour-AS group, then the best
    // of the group winners.
    let winners = &mut scratch.order;
    winners.clear();
    for (i, c) in cands.iter().enumerate() {
        let group = winners.iter_mut().find(|w| {
            cands
                .get(**w)
                .is_some_and(|wc| always || wc.neighbor_as == c.neighbor_as)
        });
        match group {
            Some(w) => {
                if cands
                    .get(*w)
                    .is_some_and(|wc| compare(c, wc, always).is_lt())
                {
                    *w = i;
                }
            }
            None => winners.push(i),
        }
    }
    let mut best = winners.first().copied().unwrap_or(0);
    for &w in winners.iter().skip(1) {
        if let (Some(c), Some(b)) = (cands.get(w), cands.get(best))
            && compare(c, b, always).is_lt()
        {
            best = w;
        }
    }
    // The ECMP set: paths equal to the best up to the multipath step.
    let set = &mut scratch.order;
    set.clear();
    if let (Some(bc), Some(bp)) = (cands.get(best), dest.paths.get(best)) {
        for (i, (c, p)) in cands.iter().zip(&dest.paths).enumerate() {
            if i != best
                && compare_attrs(bc, c, always).is_eq()
                && multipath_compatible((bc, bp), (c, p), ctx.config.multipath_relax)
            {
                set.push(i);
            }
        }
    }
    set.sort_by(|&x, &y| match (cands.get(x), cands.get(y)) {
        (Some(a), Some(b)) => tie_break(a, b),
        _ => Ordering::Equal,
    });
    set.truncate(ctx.config.maximum_paths(family).saturating_sub(1));
    for p in &mut dest.paths {
        p.rank = u16::MAX;
    }
    if let Some(p) = dest.paths.get_mut(best) {
        p.rank = 0;
    }
    for (rank, &i) in (1u16..u16::MAX).zip(set.iter()) {
        if let Some(p) = dest.paths.get_mut(i) {
            p.rank = rank;
        }
    }
    dest.multipath = u16::try_from(1 + set.len()).unwrap_or(u16::MAX);
    dest.paths.sort_by_key(|p| p.rank);
}

/// The best path's identity, to tell whether it changed.
type BestId = Option<(Source, u32, Arc<PathAttrs>)>;

fn best_id(dest: &Dest) -> BestId {
    dest.paths
        .first()
        .map(|p| (p.source, p.path_id, Arc::clone(&p.attrs)))
}

fn same_best(a: &BestId, b: &BestId) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some((s1, i1, a1)), Some((s2, i2, a2))) => s1 == s2 && i1 == i2 && Arc::ptr_eq(a1, a2),
        _ => false,
    }
}

/// The FIB next hops of `dest`: those of the ECMP set, none when the best
/// path is locally originated.
pub(super) fn fib_nexthops(dest: &Dest, out: &mut Vec<IpAddr>) {
    out.clear();
    if dest.paths.first().is_none_or(|p| p.source == Source::Local) {
        return;
    }
    for p in dest.paths.iter().take(usize::from(dest.multipath)) {
        if let Some(a) = p.attrs.next_hop.fib_address()
            && !out.contains(&a)
        {
            out.push(a);
        }
    }
}

/// Whether a path just appended to a selected `dest` changes nothing: it
/// loses to the best path before the ECMP step, or is not fit for the ECMP
/// set and loses the tie-breakers. (With deterministic MED too: the best
/// path stays its group's winner and beats the new path's group winner.)
fn appended_loses(dest: &Dest, ctx: &Ctx<'_>) -> bool {
    let (Some(best), Some(new)) = (dest.paths.first(), dest.paths.last()) else {
        return false;
    };
    if dest.paths.len() < 2 || best.rank != 0 {
        return false;
    }
    let always = ctx.config.always_compare_med;
    let (b, n) = (ctx.cand(best), ctx.cand(new));
    match compare_attrs(&b, &n, always) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => {
            tie_break(&b, &n).is_lt()
                && !multipath_compatible((&b, best), (&n, new), ctx.config.multipath_relax)
        }
    }
}

/// Applies `mutate` to the candidates of `prefix`, reruns the decision if
/// needed and records what changed.
pub(super) fn change(
    dest: &mut Dest,
    family: Family,
    prefix: IpNet,
    ctx: &mut Ctx<'_>,
    scratch: &mut Scratch,
    changes: &mut Changes,
    mutate: impl FnOnce(&mut Paths) -> Mutation,
) {
    let before = best_id(dest);
    let mut fib_old = std::mem::take(&mut scratch.fib_old);
    fib_nexthops(dest, &mut fib_old);
    match mutate(&mut dest.paths) {
        Mutation::None => {}
        Mutation::Appended if appended_loses(dest, ctx) => {}
        Mutation::Appended | Mutation::Changed => {
            select(dest, family, ctx, scratch);
            record(
                dest,
                (family, prefix),
                before,
                &fib_old,
                ctx.version,
                scratch,
                changes,
            );
        }
    }
    scratch.fib_old = fib_old;
}

/// Reruns the decision on an unchanged set of candidates (after a setting
/// changed) and records what changed.
pub(super) fn reselect(
    dest: &mut Dest,
    family: Family,
    prefix: IpNet,
    ctx: &mut Ctx<'_>,
    scratch: &mut Scratch,
    changes: &mut Changes,
) {
    change(dest, family, prefix, ctx, scratch, changes, |_| {
        Mutation::Changed
    });
}

/// Records a change of `dest`: a best path selected, replaced, changed or
/// gone bumps the table version (once per operation) and is advertised
/// from its prior; changed next hops go to the FIB.
fn record(
    dest: &mut Dest,
    (family, prefix): (Family, IpNet),
    before: BestId,
    fib_old: &[IpAddr],
    version: &mut TableVersion,
    scratch: &mut Scratch,
    changes: &mut Changes,
) {
    if !version.changed_in_op(dest.version) && !same_best(&before, &best_id(dest)) {
        dest.version = version.bump();
        changes.best_changed.push((family, prefix));
        changes
            .prior
            .push(before.map(|(source, _, attrs)| (source, attrs)));
    }
    fib_nexthops(dest, &mut scratch.fib_new);
    if scratch.fib_new != fib_old {
        changes.fib.push(FibChange {
            family,
            prefix,
            nexthops: scratch.nexthop_sets.intern_slice(&scratch.fib_new),
        });
    }
}

/// What the decision process reads of a path's sender, for tables kept
/// apart from the Loc-RIB (the VPN RIB): the facts the Loc-RIB takes from
/// its peer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathSender {
    /// Originated here (a VRF's exported prefix).
    pub local: bool,
    pub ebgp: bool,
    pub peer_as: u32,
    pub router_id: Ipv4Addr,
    pub addr: IpAddr,
    /// Arrival order: the older eBGP path wins a tie.
    pub seq: u64,
}

/// The decision process of [`select`] for two paths, without the ECMP
/// step: `Less` when `a` is preferred. MED is compared between paths of
/// the same neighbouring AS only (or always, with `always_compare_med`).
pub fn compare_paths(
    a: (&PathAttrs, &PathSender),
    b: (&PathAttrs, &PathSender),
    always_compare_med: bool,
) -> Ordering {
    let cand = |(attrs, s): (&PathAttrs, &PathSender)| Cand {
        local_pref: attrs.effective_local_pref(),
        local: s.local,
        as_path_len: attrs.as_path.path_length(),
        origin: attrs.origin as u8,
        med: attrs.med.unwrap_or(0),
        neighbor_as: attrs.as_path.first_as(),
        ebgp: s.ebgp,
        peer_as: s.peer_as,
        seq: s.seq,
        router_id: attrs.originator_id.unwrap_or(s.router_id),
        cluster_len: attrs.cluster_list.len(),
        addr: s.addr,
        path_id: 0,
    };
    compare(&cand(a), &cand(b), always_compare_med)
}
