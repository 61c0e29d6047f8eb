//! Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and Reliable
//! Software Network Load Balancer", NSDI 2016, section 3.4), with weights.
//!
//! A table has `M` entries (`M` prime), each the index of a backend; the
//! datapath picks a new flow's backend as `table[flow_hash % M]`. Every node
//! builds the same table from the same backends, so a flow that ECMP moves to
//! another node keeps its backend, and adding or removing one backend moves
//! few flows.
//!
//! # How a table is built
//! - Backends are sorted by identity (the caller's bytes, e.g. address and
//!   big-endian port), so the input order does not matter; the table holds
//!   indexes into the caller's slice.
//! - Backend `i` prefers entries in the order of its permutation
//!   `(offset + j * skip) % M`, with `offset = h1 % M` and
//!   `skip = h2 % (M - 1) + 1`, where `h1` and `h2` are SipHash-2-4 of the
//!   identity under two fixed keys written in this file (changing them changes
//!   every table of every node: they are part of Tern's behaviour).
//! - In turns, each backend takes its next preferred entry that is still
//!   empty, until the table is full (the paper's population loop).
//! - Weights: every round each backend earns credit equal to its weight, and
//!   takes a turn when its credit reaches the largest weight `W`, paying `W`.
//!   A backend of weight `W` takes a turn every round; one of weight `w`,
//!   `w / W` of the rounds. Its share of the table is then `w / sum(w)` within
//!   an entry or two; with equal weights this is exactly the paper's loop, and
//!   the counts of any two backends differ by at most one.
//!   A backend of weight 0 gets no entry.
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::model::Backend;
use crate::siphash::siphash24;

/// Key of `h1`, which gives a backend's offset: the 16 bytes "tern-maglev-offs".
const OFFSET_KEY: (u64, u64) = (
    u64::from_le_bytes(*b"tern-mag"),
    u64::from_le_bytes(*b"lev-offs"),
);
/// Key of `h2`, which gives a backend's skip: the 16 bytes "tern-maglev-skip".
const SKIP_KEY: (u64, u64) = (
    u64::from_le_bytes(*b"tern-mag"),
    u64::from_le_bytes(*b"lev-skip"),
);

/// Marks an entry not taken yet.
const EMPTY: u32 = u32::MAX;

/// The largest prime below 2^32.
pub const LARGEST_U32_PRIME: u32 = 4_294_967_291;

/// Whether `n` is a prime (trial division; fast for table sizes).
pub fn is_prime(n: u32) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) || n.is_multiple_of(3) {
        return false;
    }
    let n = u64::from(n);
    let mut d: u64 = 5;
    while d * d <= n {
        if n.is_multiple_of(d) || n.is_multiple_of(d + 2) {
            return false;
        }
        d += 6;
    }
    true
}

/// The smallest prime `>= n` (2 for `n <= 2`); [`LARGEST_U32_PRIME`] when
/// `n` is above it, as no larger prime fits.
pub fn next_prime(n: u32) -> u32 {
    if n > LARGEST_U32_PRIME {
        return LARGEST_U32_PRIME;
    }
    let mut c = n.max(2);
    while !is_prime(c) {
        c += 1;
    }
    c
}

/// A backend's identity bytes as ternd hashes them: the address (4 or 16
/// octets) then the port, big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    bytes: [u8; 18],
    len: u8,
}

impl Identity {
    pub fn new(addr: IpAddr, port: u16) -> Identity {
        let mut bytes = [0u8; 18];
        let len = match addr {
            IpAddr::V4(a) => {
                bytes[..4].copy_from_slice(&a.octets());
                bytes[4..6].copy_from_slice(&port.to_be_bytes());
                6
            }
            IpAddr::V6(a) => {
                bytes[..16].copy_from_slice(&a.octets());
                bytes[16..].copy_from_slice(&port.to_be_bytes());
                18
            }
        };
        Identity { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl AsRef<[u8]> for Identity {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// One backend while a table is populated.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Index in the caller's slice.
    index: u32,
    /// Next entry of its permutation to try.
    next: u32,
    skip: u32,
    weight: u64,
    credit: u64,
}

/// Builds Maglev tables, keeping its buffers from one build to the next.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    slots: Vec<Slot>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Fills `out` with the table of `table_size` entries for `backends`
    /// (identity bytes, weight); each entry is an index into `backends`.
    /// `out` is left empty when no backend has a nonzero weight.
    pub fn build_into(&mut self, backends: &[(&[u8], u32)], table_size: u32, out: &mut Vec<u32>) {
        self.populate(
            backends.len(),
            |i| backends[i].0,
            |i| backends[i].1,
            table_size,
            out,
        );
    }

    /// [`Builder::build_into`] for service backends: identity [`Identity`],
    /// weight the backend's. The caller picks which backends go in (see
    /// [`crate::plan`]); their state is not looked at here.
    pub fn build_backends_into(
        &mut self,
        backends: &[Backend],
        table_size: u32,
        out: &mut Vec<u32>,
    ) {
        self.populate(
            backends.len(),
            |i| Identity::new(backends[i].addr, backends[i].port),
            |i| u32::from(backends[i].weight),
            table_size,
            out,
        );
    }

    fn populate<K: AsRef<[u8]>>(
        &mut self,
        n: usize,
        key: impl Fn(usize) -> K,
        weight: impl Fn(usize) -> u32,
        m: u32,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        debug_assert!(m == 0 || is_prime(m), "maglev table size {m} is not prime");
        // Indexes are u32 and u32::MAX marks an empty entry.
        debug_assert!(n < EMPTY as usize);
        if m == 0 {
            return;
        }
        self.slots.clear();
        for i in 0..n {
            let w = weight(i);
            if w == 0 {
                continue;
            }
            let k = key(i);
            let k = k.as_ref();
            let offset = siphash24(OFFSET_KEY.0, OFFSET_KEY.1, k) % u64::from(m);
            let skip = if m > 1 {
                siphash24(SKIP_KEY.0, SKIP_KEY.1, k) % u64::from(m - 1) + 1
            } else {
                1
            };
            self.slots.push(Slot {
                index: i as u32,
                // Both below m, which is a u32.
                next: offset as u32,
                skip: skip as u32,
                weight: u64::from(w),
                credit: 0,
            });
        }
        let Some(w_max) = self.slots.iter().map(|s| s.weight).max() else {
            return;
        };
        // The identity order, whatever the caller's: ties (duplicate
        // identities) by weight, then by the caller's order.
        self.slots.sort_unstable_by(|a, b| {
            let (ka, kb) = (key(a.index as usize), key(b.index as usize));
            ka.as_ref()
                .cmp(kb.as_ref())
                .then(a.weight.cmp(&b.weight))
                .then(a.index.cmp(&b.index))
        });

        out.resize(m as usize, EMPTY);
        let mut filled: u32 = 0;
        loop {
            for s in self.slots.iter_mut() {
                s.credit += s.weight;
                if s.credit < w_max {
                    continue;
                }
                s.credit -= w_max;
                let mut c = s.next;
                while out[c as usize] != EMPTY {
                    c = step(c, s.skip, m);
                }
                out[c as usize] = s.index;
                s.next = step(c, s.skip, m);
                filled += 1;
                if filled == m {
                    return;
                }
            }
        }
    }
}

/// `(c + skip) % m` for `c < m` and `skip < m`, without overflow.
#[inline]
fn step(c: u32, skip: u32, m: u32) -> u32 {
    let room = m - skip;
    if c >= room { c - room } else { c + skip }
}

/// The table of `table_size` entries for `backends` (identity bytes,
/// weight); see [`Builder::build_into`] to reuse buffers.
pub fn build(backends: &[(&[u8], u32)], table_size: u32) -> Vec<u32> {
    let mut out = Vec::new();
    Builder::new().build_into(backends, table_size, &mut out);
    out
}

/// Builds one table for each of `services` synthetic services of `backends`
/// IPv4 backends (distinct across services, weight 1) over `table_size`
/// entries, with one [`Builder`] and one output buffer as ternd would, and
/// returns the time the builds took (the backends are made beforehand).
pub fn bench_build(services: usize, backends: usize, table_size: u32) -> Duration {
    let all: Vec<Vec<Backend>> = (0..services)
        .map(|s| {
            (0..backends)
                .map(|b| {
                    let addr = 0x0a00_0000u32.wrapping_add((s * backends + b) as u32);
                    Backend::new(IpAddr::from(addr.to_be_bytes()), 8080)
                })
                .collect()
        })
        .collect();
    let mut builder = Builder::new();
    let mut out = Vec::with_capacity(table_size as usize);
    let start = Instant::now();
    for svc in &all {
        builder.build_backends_into(svc, table_size, &mut out);
    }
    start.elapsed()
}

#[cfg(test)]
#[path = "maglev_tests.rs"]
mod tests;
