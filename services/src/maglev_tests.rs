//! Tests of the Maglev tables: balance, weights, disruption, determinism.
use std::net::IpAddr;

use super::*;
use crate::testgen::Rng;

/// Identities of `n` IPv4 backends 10.244.x.y port 8080.
fn identities(n: u32) -> Vec<Identity> {
    (0..n)
        .map(|i| Identity::new(IpAddr::from((0x0af4_0000 + i).to_be_bytes()), 8080))
        .collect()
}

fn input(ids: &[Identity], weights: impl Fn(usize) -> u32) -> Vec<(&[u8], u32)> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (id.as_bytes(), weights(i)))
        .collect()
}

/// Entries per backend index.
fn counts(table: &[u32], n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for &e in table {
        c[e as usize] += 1;
    }
    c
}

#[test]
fn primes() {
    let small: Vec<u32> = (0..50).filter(|&n| is_prime(n)).collect();
    assert_eq!(
        small,
        [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]
    );
    for p in [251, 16_381, 65_521, 131_071, LARGEST_U32_PRIME] {
        assert!(is_prime(p), "{p}");
    }
    for c in [1000, 16_383, 131_073, 65_521 * 65_519, u32::MAX] {
        assert!(!is_prime(c), "{c}");
    }
    assert_eq!(next_prime(0), 2);
    assert_eq!(next_prime(1000), 1009);
    assert_eq!(next_prime(251), 251);
    assert_eq!(next_prime(16_384), 16_411);
    assert_eq!(next_prime(u32::MAX), LARGEST_U32_PRIME);
}

#[test]
fn identity_bytes() {
    let v4 = Identity::new("10.244.1.5".parse().unwrap(), 8080);
    assert_eq!(v4.as_bytes(), [10, 244, 1, 5, 0x1f, 0x90]);
    let v6 = Identity::new("2001:db8::1".parse().unwrap(), 443);
    assert_eq!(v6.as_bytes().len(), 18);
    assert_eq!(&v6.as_bytes()[..2], [0x20, 0x01]);
    assert_eq!(&v6.as_bytes()[16..], [0x01, 0xbb]);
}

#[test]
fn empty_and_degenerate() {
    assert!(build(&[], 16_381).is_empty());
    let ids = identities(3);
    assert!(build(&input(&ids, |_| 0), 251).is_empty());
    // One backend takes everything.
    let t = build(&input(&ids[..1], |_| 1), 251);
    assert_eq!(t.len(), 251);
    assert!(t.iter().all(|&e| e == 0));
    // Weight 0 backends get nothing; the others share the table.
    let t = build(&input(&ids, |i| if i == 1 { 0 } else { 1 }), 251);
    let c = counts(&t, 3);
    assert_eq!(c[1], 0);
    assert!(c[0].abs_diff(c[2]) <= 1, "{c:?}");
}

#[test]
fn equal_weights_balance() {
    let (n, m) = (100u32, 16_381u32);
    let ids = identities(n);
    let t = build(&input(&ids, |_| 1), m);
    assert_eq!(t.len(), m as usize);
    let c = counts(&t, n as usize);
    let ideal = f64::from(m) / f64::from(n);
    let (min, max) = (c.iter().min().unwrap(), c.iter().max().unwrap());
    // Each backend takes one entry per round: counts differ by at most one.
    assert!(max - min <= 1, "min {min} max {max}");
    for (i, &k) in c.iter().enumerate() {
        let r = k as f64 / ideal;
        assert!((0.9..=1.1).contains(&r), "backend {i}: {k} entries");
    }
}

#[test]
fn weights_share_the_table() {
    let m = 16_381u32;
    let ids = identities(10);
    // Weights 1..=10: backend i gets (i + 1) / 55 of the table.
    let t = build(&input(&ids, |i| i as u32 + 1), m);
    let c = counts(&t, 10);
    for (i, &k) in c.iter().enumerate() {
        let expected = f64::from(m) * (i as f64 + 1.0) / 55.0;
        assert!(
            (k as f64 - expected).abs() <= 2.0 + 0.01 * expected,
            "backend {i}: {k} entries, expected {expected:.1} ({c:?})"
        );
    }
    // A weight-100 backend against weight-1 ones.
    let t = build(&input(&ids, |i| if i == 0 { 100 } else { 1 }), m);
    let c = counts(&t, 10);
    let expected = f64::from(m) * 100.0 / 109.0;
    assert!(
        (c[0] as f64 - expected).abs() <= 2.0 + 0.01 * expected,
        "{c:?}"
    );
    assert!(c[1..].iter().all(|&k| (148..=152).contains(&k)), "{c:?}");
    // Only ratios matter.
    assert_eq!(
        build(&input(&ids, |i| i as u32 + 1), m),
        build(&input(&ids, |i| 3 * (i as u32 + 1)), m)
    );
}

#[test]
fn order_independent() {
    let ids = identities(50);
    let weights = |i: usize| (i % 7) as u32 + 1;
    let reference = build(&input(&ids, weights), 16_381);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..5 {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        rng.shuffle(&mut order);
        let shuffled: Vec<(&[u8], u32)> = order
            .iter()
            .map(|&i| (ids[i].as_bytes(), weights(i)))
            .collect();
        let t = build(&shuffled, 16_381);
        // Same backend in every entry, named by the shuffled indexes.
        let same = t
            .iter()
            .zip(&reference)
            .all(|(&e, &r)| order[e as usize] == r as usize);
        assert!(same);
    }
}

/// Entries whose backend differs between two tables, backends compared by
/// identity.
fn changed(a: &[u32], a_ids: &[&[u8]], b: &[u32], b_ids: &[&[u8]]) -> usize {
    a.iter()
        .zip(b)
        .filter(|&(&x, &y)| a_ids[x as usize] != b_ids[y as usize])
        .count()
}

/// Removing one of 10 backends must move the removed backend's entries (M/N)
/// and few others. Measured with these keys: 1.047 x M/N on average over the
/// ten choices, 1.057 x at worst. The bound leaves room for another backend
/// set without hiding a regression.
#[test]
fn removal_disrupts_little() {
    let (n, m) = (10u32, 16_381u32);
    let ids = identities(n);
    let all: Vec<&[u8]> = ids.iter().map(Identity::as_bytes).collect();
    let before = build(&input(&ids, |_| 1), m);
    let per_backend = f64::from(m) / f64::from(n);
    let mut worst: f64 = 0.0;
    let mut total = 0.0;
    for gone in 0..n as usize {
        let rest: Vec<&[u8]> = all
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != gone)
            .map(|(_, k)| *k)
            .collect();
        let after = build(&rest.iter().map(|k| (*k, 1)).collect::<Vec<_>>(), m);
        let moved = changed(&before, &all, &after, &rest) as f64 / per_backend;
        worst = worst.max(moved);
        total += moved;
    }
    println!(
        "remove 1 of {n}, M={m}: changed entries {:.3} x M/N on average, {worst:.3} x at worst",
        total / f64::from(n)
    );
    assert!(worst <= 1.15, "worst {worst:.3} x M/N");
}

/// Adding one backend to N moves M/(N+1) entries to it, and more as N nears
/// M: measured with these keys, 1.06 x M/(N+1) for N=10 and 2.31 x for N=100
/// (M=16381), 1.57 x for N=100 and 6.4 x for N=1000 (M=65537). Maglev's
/// extra disruption shrinks as M/N grows (the paper advises M > 100 x N).
#[test]
fn addition_disrupts_little() {
    let m = 16_381u32;
    let ids = identities(101);
    let all: Vec<&[u8]> = ids.iter().map(Identity::as_bytes).collect();
    let before = build(&input(&ids[..100], |_| 1), m);
    let after = build(&input(&ids, |_| 1), m);
    let moved = changed(&before, &all[..100], &after, &all) as f64 / (f64::from(m) / 101.0);
    println!("add 1 to 100, M={m}: changed entries {moved:.3} x M/(N+1)");
    assert!(moved <= 2.6, "{moved:.3}");
}

#[test]
fn draining_by_weight_disrupts_little() {
    // Halving one backend's weight moves only about what it gives up.
    let m = 16_381u32;
    let ids = identities(10);
    let all: Vec<&[u8]> = ids.iter().map(Identity::as_bytes).collect();
    let before = build(&input(&ids, |_| 2), m);
    let after = build(&input(&ids, |i| if i == 3 { 1 } else { 2 }), m);
    let given_up = counts(&before, 10)[3] - counts(&after, 10)[3];
    let moved = changed(&before, &all, &after, &all);
    println!("halve one weight of 10: {given_up} entries given up, {moved} changed");
    assert!(
        moved as f64 <= 2.0 * given_up as f64,
        "{moved} / {given_up}"
    );
}

#[test]
fn builder_reuse_and_families() {
    let mut b = Builder::new();
    let mut out = Vec::new();
    let v4: Vec<Backend> = (1..=20u8)
        .map(|i| Backend::new(IpAddr::from([10, 244, 0, i]), 80))
        .collect();
    let v6: Vec<Backend> = (1..=20u16)
        .map(|i| Backend::new(IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, i]), 80))
        .collect();
    b.build_backends_into(&v4, 251, &mut out);
    let first = out.clone();
    b.build_backends_into(&v6, 16_381, &mut out);
    assert_eq!(out.len(), 16_381);
    b.build_backends_into(&v4, 251, &mut out);
    assert_eq!(out, first);
    // The same as the slice form with Identity bytes.
    let ids: Vec<Identity> = v4.iter().map(|b| Identity::new(b.addr, b.port)).collect();
    assert_eq!(build(&input(&ids, |_| 1), 251), first);
}

/// Pins the tables: every node and every release of Tern must build the same
/// table from the same backends. A change here changes where flows go during
/// a rolling upgrade; change this test only with that in mind.
#[test]
fn tables_are_pinned() {
    let ids = identities(5);
    let t = build(&input(&ids, |i| i as u32 + 1), 251);
    let digest = t.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &e| {
        (h ^ u64::from(e)).wrapping_mul(0x0100_0000_01b3)
    });
    println!("first entries {:?}, digest {digest:#x}", &t[..16]);
    assert_eq!(&t[..16], PINNED_FIRST);
    assert_eq!(digest, PINNED_DIGEST);
}

const PINNED_FIRST: &[u32] = &[0, 3, 1, 3, 3, 4, 4, 4, 4, 3, 4, 3, 3, 1, 0, 1];
const PINNED_DIGEST: u64 = 0x5e02_6815_42e9_7bad;

/// One build of 100 backends x 16381 entries; the time is printed, not
/// asserted (`cargo test --release -p tern-services -- --nocapture build_time`).
#[test]
fn build_time() {
    let builds: u32 = 200;
    let total = bench_build(builds as usize, 100, 16_381);
    println!(
        "maglev: 100 backends x 16381 entries: {:.1} us per build ({} builds, {} profile)",
        total.as_secs_f64() * 1e6 / f64::from(builds),
        builds,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
}

/// The paper's population loop (its pseudo-code, with the modulo each step).
fn naive(ids: &[&[u8]], m: u32) -> Vec<u32> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| ids[a].cmp(ids[b]));
    let perm: Vec<(u64, u64)> = order
        .iter()
        .map(|&i| {
            (
                siphash24(OFFSET_KEY.0, OFFSET_KEY.1, ids[i]) % u64::from(m),
                siphash24(SKIP_KEY.0, SKIP_KEY.1, ids[i]) % u64::from(m - 1) + 1,
            )
        })
        .collect();
    let mut next = vec![0u64; ids.len()];
    let mut entry = vec![u32::MAX; m as usize];
    let mut n = 0;
    loop {
        for (k, &i) in order.iter().enumerate() {
            let mut c = (perm[k].0 + next[k] * perm[k].1) % u64::from(m);
            while entry[c as usize] != u32::MAX {
                next[k] += 1;
                c = (perm[k].0 + next[k] * perm[k].1) % u64::from(m);
            }
            entry[c as usize] = i as u32;
            next[k] += 1;
            n += 1;
            if n == m {
                return entry;
            }
        }
    }
}

/// With equal weights the table is exactly the paper's.
#[test]
fn equal_weights_are_the_papers_loop() {
    for (n, m) in [
        (1u32, 251u32),
        (7, 251),
        (10, 16_381),
        (100, 16_381),
        (300, 65_537),
    ] {
        let ids = identities(n);
        let all: Vec<&[u8]> = ids.iter().map(Identity::as_bytes).collect();
        assert_eq!(build(&input(&ids, |_| 1), m), naive(&all, m), "N={n} M={m}");
    }
}
