//! Fast hashing for the RIB's big tables and the interner that lets every
//! prefix with the same path attributes share one `Arc<PathAttrs>`.
//!
//! The tables are keyed by prefixes, which hash in a few words; SipHash
//! (std's default) costs more than the rest of a lookup. [`FastState`] is a
//! multiply-rotate hasher seeded per table from std's random source, so that
//! a peer cannot precompute colliding prefixes against a fixed function.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// Odd 64-bit constant for the multiply step (from the golden ratio).
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// A word-at-a-time hasher: cheap for small keys, not cryptographic.
#[derive(Clone, Copy)]
pub(crate) struct FastHasher {
    state: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(MUL);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(rest) {
                *d = *s;
            }
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown takes the bucket from the low
        // bits and the tag from the top seven.
        let h = self.state;
        (h ^ (h >> 29)).wrapping_mul(MUL) ^ (h >> 32)
    }
}

/// Builds [`FastHasher`]s with a per-instance random seed.
#[derive(Clone, Copy)]
pub(crate) struct FastState {
    seed: u64,
}

impl Default for FastState {
    fn default() -> Self {
        Self {
            seed: RandomState::new().build_hasher().finish() | 1,
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher { state: self.seed }
    }
}

/// Shares equal values behind one `Arc`: interning a value equal to one
/// already held returns the held `Arc`. Values nobody else holds any more
/// are dropped in batches, when the set has doubled since the last sweep.
pub(crate) struct Interner<T: ?Sized> {
    set: HashSet<Arc<T>, FastState>,
    sweep_at: usize,
}

impl<T: ?Sized> Default for Interner<T> {
    fn default() -> Self {
        Self {
            set: HashSet::default(),
            sweep_at: 1024,
        }
    }
}

impl<T: Hash + Eq> Interner<T> {
    /// The shared `Arc` of a value equal to `value`.
    pub(crate) fn intern(&mut self, value: T) -> Arc<T> {
        if let Some(held) = self.set.get(&value) {
            return Arc::clone(held);
        }
        if self.set.len() >= self.sweep_at {
            self.sweep();
        }
        let arc = Arc::new(value);
        self.set.insert(Arc::clone(&arc));
        arc
    }
}

impl<T: Hash + Eq + Clone> Interner<[T]> {
    /// The shared `Arc` of a slice equal to `value`.
    pub(crate) fn intern_slice(&mut self, value: &[T]) -> Arc<[T]> {
        if let Some(held) = self.set.get(value) {
            return Arc::clone(held);
        }
        if self.set.len() >= self.sweep_at {
            self.sweep();
        }
        let arc: Arc<[T]> = Arc::from(value);
        self.set.insert(Arc::clone(&arc));
        arc
    }
}

impl<T: ?Sized + Hash + Eq> Interner<T> {
    /// Drops the values only the interner holds.
    pub(crate) fn sweep(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
        self.sweep_at = (self.set.len() * 2).max(1024);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_shares_and_sweeps() {
        let mut i = Interner::default();
        let a = i.intern(vec![1u32, 2]);
        let b = i.intern(vec![1u32, 2]);
        assert!(Arc::ptr_eq(&a, &b));
        let c = i.intern(vec![3u32]);
        assert!(!Arc::ptr_eq(&a, &c));
        drop(c);
        i.sweep();
        assert_eq!(i.len(), 1);
    }

    #[test]
    fn interned_slices_are_shared() {
        let mut i: Interner<[u32]> = Interner::default();
        let a = i.intern_slice(&[1, 2]);
        let b = i.intern_slice(Vec::from([1, 2]).as_slice());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &i.intern_slice(&[1])));
        let e = i.intern_slice(&[]);
        assert!(Arc::ptr_eq(&e, &i.intern_slice(&[])));
    }

    #[test]
    fn hasher_spreads_small_keys() {
        let s = FastState::default();
        let mut seen = HashSet::new();
        for k in 0u32..10_000 {
            seen.insert(s.hash_one(k) & 0xffff);
        }
        // 10,000 keys into 65,536 buckets: few collisions if well spread.
        assert!(seen.len() > 8_500, "{}", seen.len());
    }
}
