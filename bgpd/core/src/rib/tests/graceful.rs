//! Graceful restart, receiving side: a peer's paths kept stale across its
//! restart, refreshed by the new session, swept at End-of-RIB.

use super::*;

#[test]
fn stale_paths_stay_until_swept_and_fresh_ones_survive() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    r.update_from_peer(
        a.id,
        &announce(
            &["203.0.113.0/24", "198.51.100.0/24"],
            attrs(&[65001], "192.0.2.1"),
        ),
    );
    // The session goes down gracefully: nothing changes for the FIB or b.
    let c = r.peer_down_graceful(a.id, &[V4]);
    assert!(c.fib.is_empty() && c.updates.is_empty(), "{c:?}");
    assert_eq!(r.stale_count(a.id), 2);
    assert!(r.route(V4, net("203.0.113.0/24")).is_some());
    // Back: one route is received again (identical), the other is not.
    up(&mut r, &a);
    let c = r.update_from_peer(
        a.id,
        &announce(&["203.0.113.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    assert!(
        c.fib.is_empty(),
        "an identical route changes nothing: {c:?}"
    );
    assert_eq!(r.stale_count(a.id), 1);
    // End-of-RIB: the one not received again goes, from the FIB and from b.
    let c = r.sweep_stale(a.id, V4);
    assert_eq!(c.fib, vec![fib(V4, "198.51.100.0/24", &[])]);
    assert_eq!(withdrawn(&updates_for(&c, 2)), vec![net("198.51.100.0/24")]);
    assert_eq!(r.stale_count(a.id), 0);
    assert_eq!(r.peer_counts(a.id, V4).unwrap().accepted, 1);
    assert!(r.route(V4, net("203.0.113.0/24")).is_some());
}

#[test]
fn families_not_preserved_go_at_once_and_peer_down_clears_stale() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    r.update_from_peer(
        a.id,
        &announce(&["203.0.113.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1"),
    );
    let c = r.peer_down_graceful(a.id, &[V4]);
    assert_eq!(c.fib, vec![fib(V6, "2001:db8:1::/48", &[])]);
    assert!(r.route(V4, net("203.0.113.0/24")).is_some());
    // The restart time ran out with the peer still down.
    let c = r.peer_down(a.id);
    assert_eq!(c.fib, vec![fib(V4, "203.0.113.0/24", &[])]);
    assert_eq!(r.stale_count(a.id), 0);
}
