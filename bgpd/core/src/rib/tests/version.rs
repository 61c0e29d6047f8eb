//! The table version and each prefix's version (FRR's `tableVersion` and
//! `version`): one bump per best-path change, none for a change that
//! leaves the best path as it was, one for a withdrawal; exact across the
//! moving base of the stored versions.

use tern_bgp_wire::Community;

use super::super::version::{KEEP, REBASE_AT};
use super::*;

/// The version `show ip bgp` gives `prefix`; None when it is not in the table.
fn version(r: &Rib, prefix: &str) -> Option<u64> {
    r.route(V4, net(prefix)).map(|v| v.version)
}

fn with_community(mut a: Vec<Attribute>, c: Community) -> Vec<Attribute> {
    a.push(Attribute::Communities(vec![c]));
    a
}

#[test]
fn versions_count_best_path_changes_as_frr_does() {
    // The sequence that FRR 8.4.4's bgpd, fed by two GoBGP peers in
    // network namespaces, answered with table versions 3, 3, 3, 4, 5, 6, 6
    // and route versions 1, 2, 3 / 4 / 5.
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    assert_eq!(r.table_version(V4), 0);
    let (p0, p1, p2) = ("10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24");
    let a_attrs = || attrs(&[65001], "192.0.2.1");
    r.update_from_peer(a.id, &announce(&[p0, p1, p2], a_attrs()));
    assert_eq!(r.table_version(V4), 3);
    assert_eq!(
        [version(&r, p0), version(&r, p1), version(&r, p2)],
        [Some(1), Some(2), Some(3)]
    );
    // A worse path, and an equal one from another AS (the older one stays
    // best, and no ECMP without multipath-relax): the best paths stand.
    r.update_from_peer(b.id, &announce(&[p0], attrs(&[65002, 65002], "192.0.2.2")));
    let c = r.update_from_peer(b.id, &announce(&[p1], attrs(&[65002], "192.0.2.2")));
    assert!(c.best_changed.is_empty(), "{c:?}");
    assert_eq!(r.table_version(V4), 3);
    assert_eq!(version(&r, p1), Some(2));
    // The same UPDATE again: nothing changes.
    r.update_from_peer(a.id, &announce(&[p0, p1, p2], a_attrs()));
    assert_eq!(r.table_version(V4), 3);
    // The best path's attributes change: a bump.
    let tagged = with_community(a_attrs(), Community::new(65001, 7));
    r.update_from_peer(a.id, &announce(&[p2], tagged));
    assert_eq!(r.table_version(V4), 4);
    assert_eq!(version(&r, p2), Some(4));
    // The best path withdrawn, the other peer's takes over: a bump.
    r.update_from_peer(a.id, &withdraw(&[p1]));
    assert_eq!(r.table_version(V4), 5);
    assert_eq!(version(&r, p1), Some(5));
    // The last path withdrawn: a bump, and the prefix is gone.
    r.update_from_peer(a.id, &withdraw(&[p2]));
    assert_eq!(r.table_version(V4), 6);
    assert_eq!(version(&r, p2), None);
    // A path that is not the best changes: nothing.
    let worse = with_community(attrs(&[65002, 65002], "192.0.2.2"), Community::new(1, 1));
    r.update_from_peer(b.id, &announce(&[p0], worse));
    assert_eq!(r.table_version(V4), 6);
    assert_eq!(version(&r, p0), Some(1));
    // The other family has a counter of its own.
    assert_eq!(r.table_version(V6), 0);
    r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1"),
    );
    assert_eq!((r.table_version(V4), r.table_version(V6)), (6, 1));
    // A session down: one bump for the prefix it was best for (p1, now
    // gone), none for the one where it was not (p0).
    r.peer_down(b.id);
    assert_eq!(r.table_version(V4), 7);
    assert_eq!(version(&r, p0), Some(1));
    assert_eq!(version(&r, p1), None);
}

#[test]
fn one_bump_per_prefix_per_operation() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let p = "198.51.100.0/24";
    r.update_from_peer(a.id, &announce(&[p], attrs(&[65001], "192.0.2.1")));
    assert_eq!(r.table_version(V4), 1);
    // Withdrawn and announced anew in one UPDATE: the best path goes and
    // comes back changed, one change, as FRR processes the prefix once.
    let mut u = announce(&[p], attrs(&[65001, 65001], "192.0.2.1"));
    u.withdrawn = withdraw(&[p]).withdrawn;
    let c = r.update_from_peer(a.id, &u);
    assert_eq!(c.best_changed, vec![(V4, net(p))]);
    assert_eq!(r.table_version(V4), 2);
    assert_eq!(version(&r, p), Some(2));
}

#[test]
fn ecmp_changes_leave_the_version_alone() {
    // FRR re-installs a prefix whose ECMP set changed but keeps its
    // version while the best path stays.
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    let p = "198.51.100.0/24";
    r.update_from_peer(a.id, &announce(&[p], attrs(&[65001], "192.0.2.1")));
    r.update_from_peer(b.id, &announce(&[p], attrs(&[65002], "192.0.2.2")));
    assert_eq!(r.table_version(V4), 1);
    let c = r.set_multipath_relax(true);
    assert_eq!(c.fib.len(), 1, "the second path joins the ECMP set");
    assert!(c.best_changed.is_empty());
    assert_eq!(r.table_version(V4), 1);
    r.set_maximum_paths(V4, 1);
    assert_eq!(r.table_version(V4), 1);
    // A local `network` for the same prefix wins: a bump.
    r.originate(V4, net(p));
    assert_eq!((r.table_version(V4), version(&r, p)), (2, Some(2)));
}

#[test]
fn versions_stay_exact_and_changes_advertised_when_the_base_moves() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    let (x, y) = ("198.51.100.0/24", "203.0.113.0/24");
    // Close to the point where the stored offsets are moved down.
    r.v4_version.set(REBASE_AT - 2, 0);
    r.update_from_peer(a.id, &announce(&[x], attrs(&[65001], "192.0.2.1")));
    r.update_from_peer(a.id, &announce(&[y], attrs(&[65001], "192.0.2.1")));
    assert_eq!(r.table_version(V4), REBASE_AT);
    // This operation moves the base: versions and best-path changes as
    // before, the change advertised once.
    let c = r.update_from_peer(a.id, &withdraw(&[x]));
    assert_eq!(c.best_changed, vec![(V4, net(x))]);
    assert_eq!(withdrawn(&updates_for(&c, 2)), vec![net(x)]);
    assert_eq!(r.table_version(V4), REBASE_AT + 1);
    assert_eq!(version(&r, y), Some(REBASE_AT));
    let c = r.update_from_peer(a.id, &announce(&[x], attrs(&[65001], "192.0.2.1")));
    assert_eq!(c.best_changed, vec![(V4, net(x))]);
    assert_eq!(version(&r, x), Some(REBASE_AT + 2));
    let c = r.update_from_peer(b.id, &announce(&[x], attrs(&[65002], "192.0.2.2")));
    assert!(c.best_changed.is_empty(), "{c:?}");
    // A prefix unchanged while 2^30 and more others changed shows the
    // base (newer than its own version); the table's count stays exact and
    // the prefix's next change is counted and advertised.
    let far = REBASE_AT + KEEP;
    r.v4_version.set(far, 0);
    let c = r.update_from_peer(
        b.id,
        &announce(&["192.0.2.128/25"], attrs(&[65002], "192.0.2.2")),
    );
    assert_eq!(c.best_changed.len(), 1);
    assert_eq!(r.table_version(V4), far + 1);
    assert_eq!(version(&r, y), Some(far - KEEP));
    let c = r.update_from_peer(a.id, &withdraw(&[y]));
    assert_eq!(c.best_changed, vec![(V4, net(y))]);
    assert_eq!(r.table_version(V4), far + 2);
}
