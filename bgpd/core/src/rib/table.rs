//! The Loc-RIB's storage: a prefix table that costs little per prefix at a
//! full table, and the candidate-path list of one prefix.
//!
//! A `HashMap<IpNet, Dest>` holding a million prefixes has 2^21 slots of
//! key and value (its load factor is under one half right after it grows),
//! and every prefix's paths sat in a heap vector of their own. Here the
//! hash table holds only a 4-byte index per slot; the entries themselves
//! are packed in one vector, and a prefix with one path (nearly all of them
//! in a full table from the fabric) keeps it inline, without a heap block.

use std::hash::BuildHasher;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use hashbrown::HashTable;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::intern::FastState;
use crate::attrs::PathAttrs;
use crate::family::Family;

/// The daemon's handle for one BGP session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// Who a path came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Source {
    /// Originated here (`network`, service VIPs).
    Local,
    Peer(PeerId),
}

/// One candidate path of a prefix.
#[derive(Clone, Debug)]
pub(super) struct Path {
    pub(super) source: Source,
    /// ADD-PATH path identifier as received (0 without ADD-PATH).
    pub(super) path_id: u32,
    /// Position given by the last decision: 0 best, then the ECMP set.
    pub(super) rank: u16,
    /// Kept from a session that went down in graceful restart (RFC 4724
    /// §4.2) and not received again yet.
    pub(super) stale: bool,
    pub(super) attrs: Arc<PathAttrs>,
    /// Arrival order, for "prefer the oldest eBGP path".
    pub(super) seq: u64,
}

/// The Loc-RIB entry of one prefix: candidates, best first, then the rest
/// of the ECMP set (`multipath` paths in all), then the others.
#[derive(Clone, Debug, Default)]
pub(super) struct Dest {
    pub(super) paths: Paths,
    pub(super) multipath: u16,
    /// The table version of this prefix's last best-path change (FRR's
    /// `bgp_dest.version`), stored as [`TableVersion`] keeps it. Also tells
    /// whether the best path already changed in the operation under way
    /// (each prefix is advertised once per operation, from its first prior).
    pub(super) version: u32,
}

/// The candidate paths of one prefix: none, one inline, or several on the
/// heap. Reads as a slice of paths.
#[derive(Clone, Debug, Default)]
pub(super) enum Paths {
    #[default]
    Empty,
    One(Path),
    Many(Vec<Path>),
}

impl Paths {
    /// Appends `path`.
    pub(super) fn push(&mut self, path: Path) {
        match std::mem::take(self) {
            Paths::Empty => *self = Paths::One(path),
            Paths::One(first) => *self = Paths::Many(vec![first, path]),
            Paths::Many(mut v) => {
                v.push(path);
                *self = Paths::Many(v);
            }
        }
    }

    /// Keeps the paths for which `keep` holds, in order. A list that falls
    /// to one path or none leaves the heap.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Path) -> bool) {
        match self {
            Paths::Empty => {}
            Paths::One(p) => {
                if !keep(p) {
                    *self = Paths::Empty;
                }
            }
            Paths::Many(v) => {
                v.retain(|p| keep(p));
                if v.len() <= 1 {
                    *self = match v.pop() {
                        Some(p) => Paths::One(p),
                        None => Paths::Empty,
                    };
                }
            }
        }
    }

    /// Heap bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Paths::Many(v) => v.capacity() * std::mem::size_of::<Path>(),
            _ => 0,
        }
    }
}

impl Deref for Paths {
    type Target = [Path];

    fn deref(&self) -> &[Path] {
        match self {
            Paths::Empty => &[],
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }
}

impl DerefMut for Paths {
    fn deref_mut(&mut self) -> &mut [Path] {
        match self {
            Paths::Empty => &mut [],
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v,
        }
    }
}

impl<'a> IntoIterator for &'a Paths {
    type Item = &'a Path;
    type IntoIter = std::slice::Iter<'a, Path>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Paths {
    type Item = &'a mut Path;
    type IntoIter = std::slice::IterMut<'a, Path>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// The prefixes of a table, packed by family: an IPv4 prefix takes 5
/// bytes, not the 18 of an `IpNet`.
#[derive(Debug)]
enum Keys {
    V4(Vec<Ipv4Net>),
    V6(Vec<Ipv6Net>),
}

impl Keys {
    fn len(&self) -> usize {
        match self {
            Keys::V4(k) => k.len(),
            Keys::V6(k) => k.len(),
        }
    }

    fn get(&self, i: usize) -> Option<IpNet> {
        match self {
            Keys::V4(k) => k.get(i).map(|n| IpNet::V4(*n)),
            Keys::V6(k) => k.get(i).map(|n| IpNet::V6(*n)),
        }
    }

    fn is(&self, i: usize, prefix: &IpNet) -> bool {
        match (self, prefix) {
            (Keys::V4(k), IpNet::V4(p)) => k.get(i) == Some(p),
            (Keys::V6(k), IpNet::V6(p)) => k.get(i) == Some(p),
            _ => false,
        }
    }

    /// Appends `prefix`; false when it is of the other family.
    fn push(&mut self, prefix: IpNet) -> bool {
        match (self, prefix) {
            (Keys::V4(k), IpNet::V4(p)) => k.push(p),
            (Keys::V6(k), IpNet::V6(p)) => k.push(p),
            _ => return false,
        }
        true
    }

    fn swap_remove(&mut self, i: usize) {
        match self {
            Keys::V4(k) => {
                k.swap_remove(i);
            }
            Keys::V6(k) => {
                k.swap_remove(i);
            }
        }
    }

    fn shrink_to(&mut self, n: usize) {
        match self {
            Keys::V4(k) => k.shrink_to(n),
            Keys::V6(k) => k.shrink_to(n),
        }
    }

    fn capacity_bytes(&self) -> usize {
        match self {
            Keys::V4(k) => k.capacity() * std::mem::size_of::<Ipv4Net>(),
            Keys::V6(k) => k.capacity() * std::mem::size_of::<Ipv6Net>(),
        }
    }
}

/// The prefixes of one family and their entries: prefixes and entries
/// packed in two parallel vectors (unordered: removal moves the last one
/// into the hole), found through a hash table of indexes into them.
pub(super) struct PrefixTable {
    index: HashTable<u32>,
    keys: Keys,
    dests: Vec<Dest>,
    hasher: FastState,
}

impl PrefixTable {
    /// An empty table of `family`'s prefixes.
    pub(super) fn new(family: Family) -> Self {
        Self {
            index: HashTable::new(),
            keys: match family {
                Family::Ipv4Unicast => Keys::V4(Vec::new()),
                Family::Ipv6Unicast => Keys::V6(Vec::new()),
            },
            dests: Vec::new(),
            hasher: FastState::default(),
        }
    }

    fn hash(&self, prefix: &IpNet) -> u64 {
        self.hasher.hash_one(prefix)
    }

    /// Rehashes entry `i` when the index grows or shrinks.
    fn rehash(keys: &Keys, hasher: &FastState, i: u32) -> u64 {
        keys.get(i as usize).map_or(0, |p| hasher.hash_one(p))
    }

    fn slot(&self, prefix: &IpNet) -> Option<usize> {
        let keys = &self.keys;
        self.index
            .find(self.hash(prefix), |&i| keys.is(i as usize, prefix))
            .map(|&i| i as usize)
    }

    pub(super) fn len(&self) -> usize {
        self.dests.len()
    }

    pub(super) fn get(&self, prefix: &IpNet) -> Option<&Dest> {
        self.dests.get(self.slot(prefix)?)
    }

    /// The entry of `prefix`, looked for first at index `hint` (where it
    /// was when the caller last saw it), which spares the hash lookup.
    pub(super) fn get_hinted(&self, prefix: &IpNet, hint: u32) -> Option<&Dest> {
        if self.keys.is(hint as usize, prefix) {
            return self.dests.get(hint as usize);
        }
        self.get(prefix)
    }

    /// The prefixes with their index now, in no particular order.
    pub(super) fn prefixes_indexed(&self) -> impl Iterator<Item = (IpNet, u32)> {
        (0..self.keys.len()).filter_map(|i| Some((self.keys.get(i)?, u32::try_from(i).ok()?)))
    }

    pub(super) fn get_mut(&mut self, prefix: &IpNet) -> Option<&mut Dest> {
        let i = self.slot(prefix)?;
        self.dests.get_mut(i)
    }

    /// The entry of `prefix`, created empty if there is none. Panics on a
    /// prefix of the other family (the RIB routes by family first).
    pub(super) fn get_or_insert(&mut self, prefix: IpNet) -> &mut Dest {
        let i = match self.slot(&prefix) {
            Some(i) => i,
            None => {
                let i = self.dests.len();
                let index = u32::try_from(i).expect("more than 2^32 prefixes in one table");
                assert!(
                    self.keys.push(prefix),
                    "{prefix} in the wrong family's table"
                );
                let hash = self.hash(&prefix);
                let (keys, hasher) = (&self.keys, &self.hasher);
                self.index
                    .insert_unique(hash, index, |&j| Self::rehash(keys, hasher, j));
                self.dests.push(Dest::default());
                i
            }
        };
        &mut self.dests[i]
    }

    /// Removes the entry of `prefix`.
    pub(super) fn remove(&mut self, prefix: &IpNet) -> Option<Dest> {
        let i = self.slot(prefix)?;
        let dest = self.remove_at(i);
        self.shrink();
        Some(dest)
    }

    /// Removes entry `i`: its index goes, and the last entry moves into its
    /// place (its index follows it).
    fn remove_at(&mut self, i: usize) -> Dest {
        if let Some(p) = self.keys.get(i) {
            let hash = self.hash(&p);
            if let Ok(slot) = self.index.find_entry(hash, |&j| j as usize == i) {
                slot.remove();
            }
        }
        let last = self.dests.len() - 1;
        if i != last
            && let Some(p) = self.keys.get(last)
        {
            let moved = self.hash(&p);
            if let Some(j) = self.index.find_mut(moved, |&j| j as usize == last) {
                *j = i as u32;
            }
        }
        self.keys.swap_remove(i);
        self.dests.swap_remove(i)
    }

    /// Gives memory back once the table is down to a quarter of its room.
    fn shrink(&mut self) {
        let len = self.dests.len();
        if self.dests.capacity() > 1024 && len < self.dests.capacity() / 4 {
            self.dests.shrink_to(len * 2);
            self.keys.shrink_to(len * 2);
            let (keys, hasher) = (&self.keys, &self.hasher);
            self.index
                .shrink_to(len * 2, |&j| Self::rehash(keys, hasher, j));
        }
    }

    /// Keeps the entries for which `keep` holds.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&IpNet, &mut Dest) -> bool) {
        let mut i = 0;
        while i < self.dests.len() {
            let Some(prefix) = self.keys.get(i) else {
                break;
            };
            if keep(&prefix, &mut self.dests[i]) {
                i += 1;
            } else {
                // The last entry moves to `i`: look at `i` again.
                self.remove_at(i);
            }
        }
        self.shrink();
    }

    /// The prefixes and their entries, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (IpNet, &Dest)> {
        (0..self.keys.len()).filter_map(|i| Some((self.keys.get(i)?, self.dests.get(i)?)))
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut Dest)> {
        let keys = &self.keys;
        self.dests
            .iter_mut()
            .enumerate()
            .filter_map(|(i, d)| Some((keys.get(i)?, d)))
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Dest> {
        self.dests.iter()
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Dest> {
        self.dests.iter_mut()
    }

    /// Bytes held: the index's slots, the prefixes' and entries' room and
    /// the path lists on the heap.
    pub(super) fn memory(&self) -> usize {
        let index = self.index.capacity() * (std::mem::size_of::<u32>() + 1);
        let dests = self.dests.capacity() * std::mem::size_of::<Dest>();
        let paths: usize = self.values().map(|d| d.paths.heap_bytes()).sum();
        index + self.keys.capacity_bytes() + dests + paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn net(i: u32) -> IpNet {
        IpNet::V4(ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(i << 8), 24).expect("net"))
    }

    #[test]
    fn layout_stays_small() {
        // One path inline, no separate tag word: the list is a path's size.
        assert_eq!(
            std::mem::size_of::<Paths>(),
            std::mem::size_of::<Path>(),
            "Paths grew a tag"
        );
        assert!(std::mem::size_of::<Dest>() <= 40);
    }

    #[test]
    fn table_agrees_with_a_hash_map_through_inserts_and_removals() {
        let mut t = PrefixTable::new(Family::Ipv4Unicast);
        let mut model: HashMap<IpNet, usize> = HashMap::new();
        // A deterministic mix: insert 0..5000, remove every third, insert
        // again some removed ones, retain the even multipath counts.
        for i in 0..5000u32 {
            t.get_or_insert(net(i)).multipath = i as u16;
            model.insert(net(i), i as usize);
        }
        for i in (0..5000u32).step_by(3) {
            assert!(t.remove(&net(i)).is_some());
            model.remove(&net(i));
        }
        assert!(t.remove(&net(3)).is_none());
        for i in (0..5000u32).step_by(9) {
            t.get_or_insert(net(i)).multipath = 7;
            model.insert(net(i), 7);
        }
        t.retain(|_, d| d.multipath % 2 == 1);
        model.retain(|_, m| *m % 2 == 1);
        assert_eq!(t.len(), model.len());
        for (p, m) in &model {
            assert_eq!(t.get(p).map(|d| usize::from(d.multipath)), Some(*m), "{p}");
        }
        for (p, d) in t.iter() {
            assert_eq!(model.get(&p), Some(&usize::from(d.multipath)));
        }
        // Emptied: the room goes back.
        t.retain(|_, _| false);
        assert_eq!(t.len(), 0);
        assert!(t.dests.capacity() <= 1024 * 2);
        assert!(t.get(&net(1)).is_none());
    }

    #[test]
    fn ipv6_table_finds_its_own_family_only() {
        let mut t = PrefixTable::new(Family::Ipv6Unicast);
        let a: IpNet = "2001:db8::/64".parse().expect("net");
        let b: IpNet = "2001:db8::/48".parse().expect("net");
        t.get_or_insert(a).multipath = 1;
        t.get_or_insert(b).multipath = 2;
        assert_eq!(t.get(&a).map(|d| d.multipath), Some(1));
        assert_eq!(t.get(&b).map(|d| d.multipath), Some(2));
        assert!(t.get(&net(1)).is_none());
        assert!(t.remove(&a).is_some());
        assert_eq!(t.iter().map(|(p, _)| p).collect::<Vec<_>>(), [b]);
    }

    #[test]
    fn paths_move_between_inline_and_heap() {
        let path = |id: u32| Path {
            source: Source::Peer(PeerId(id)),
            path_id: 0,
            rank: 0,
            stale: false,
            attrs: std::sync::Arc::new(PathAttrs::local()),
            seq: u64::from(id),
        };
        let mut p = Paths::default();
        assert!(p.is_empty());
        p.push(path(1));
        assert!(matches!(p, Paths::One(_)));
        p.push(path(2));
        p.push(path(3));
        assert_eq!(p.iter().map(|x| x.seq).collect::<Vec<_>>(), [1, 2, 3]);
        p.retain(|x| x.seq != 2);
        assert_eq!(p.iter().map(|x| x.seq).collect::<Vec<_>>(), [1, 3]);
        p.retain(|x| x.seq == 3);
        assert!(matches!(&p, Paths::One(x) if x.seq == 3));
        assert_eq!(p.heap_bytes(), 0);
        p.retain(|_| false);
        assert!(matches!(p, Paths::Empty));
    }
}
