//! Next-hop tracking over the Loc-RIB (what the kernel is given): routes
//! for connected subnets stay out, off-link next hops resolve through the
//! covering route and follow it when it changes.
use std::collections::BTreeSet;

use super::*;
use crate::nexthop::Tracker;

fn connected(nets: &[&str]) -> BTreeSet<IpNet> {
    nets.iter().map(|n| net(n)).collect()
}

#[test]
fn next_hops_pass_as_they_are_until_the_connected_subnets_are_told() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let c = r.update_from_peer(
        a.id,
        &announce(&["203.0.113.0/24"], attrs(&[65001], "10.9.9.9")),
    );
    let mut t = Tracker::default();
    assert_eq!(t.kernel_view(&r, c.fib.clone()).changes, c.fib);
    assert!(t.set_connected(connected(&["192.0.2.0/24"])));
    assert!(!t.set_connected(connected(&["192.0.2.0/24"])), "unchanged");
}

#[test]
fn connected_subnets_are_not_installed_and_recursive_next_hops_follow_their_route() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, LOCAL_AS));
    up(&mut r, &a);
    up(&mut r, &b);
    let mut t = Tracker::default();
    t.set_connected(connected(&["192.0.2.0/24"]));

    // A route for the connected subnet itself: the kernel's stays in charge.
    let c = r.update_from_peer(
        a.id,
        &announce(&["192.0.2.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    assert_eq!(
        t.kernel_view(&r, c.fib).changes,
        vec![fib(V4, "192.0.2.0/24", &[])]
    );

    // The covering route of the iBGP next hop, on link.
    let c = r.update_from_peer(
        a.id,
        &announce(&["10.9.9.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    assert_eq!(
        t.kernel_view(&r, c.fib).changes,
        vec![fib(V4, "10.9.9.0/24", &["192.0.2.1"])]
    );
    // An iBGP route keeps the originator's next hop, resolved through it.
    let c = r.update_from_peer(b.id, &announce(&["203.0.113.0/24"], attrs(&[], "10.9.9.9")));
    assert_eq!(
        t.kernel_view(&r, c.fib).changes,
        vec![fib(V4, "203.0.113.0/24", &["192.0.2.1"])]
    );
    // The covering route moves: the route resolved through it moves along.
    let c = r.update_from_peer(
        a.id,
        &announce(&["10.9.9.0/24"], attrs(&[65001], "192.0.2.7")),
    );
    let mut k = t.kernel_view(&r, c.fib).changes;
    k.sort_by_key(|c| c.prefix);
    assert_eq!(
        k,
        vec![
            fib(V4, "10.9.9.0/24", &["192.0.2.7"]),
            fib(V4, "203.0.113.0/24", &["192.0.2.7"]),
        ]
    );
    // It goes: nothing resolves the iBGP route any more.
    let c = r.update_from_peer(a.id, &withdraw(&["10.9.9.0/24"]));
    let mut k = t.kernel_view(&r, c.fib).changes;
    k.sort_by_key(|c| c.prefix);
    assert_eq!(
        k,
        vec![fib(V4, "10.9.9.0/24", &[]), fib(V4, "203.0.113.0/24", &[])]
    );
}
