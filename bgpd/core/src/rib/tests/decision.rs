//! The decision process step by step (each tie-breaker alone), the ECMP set
//! and its limit, and the flags `show ip bgp` reads.

use tern_bgp_wire::{AsSegment, AsSegmentType};

use super::*;

const P: &str = "198.51.100.0/24";

/// The address of the best path's peer and the FIB next hops of P.
fn best(r: &Rib) -> (PathSource, Vec<IpAddr>) {
    let v = r.route(V4, net(P)).unwrap();
    (v.paths[0].source.clone(), r.fib_nexthops(V4, net(P)))
}

fn best_addr(r: &Rib) -> IpAddr {
    match best(r).0 {
        PathSource::Peer { addr, .. } => addr,
        PathSource::Local => panic!("local"),
    }
}

/// A RIB with `peers` up and maximum-paths 1 (so that tie-breakers decide).
fn single_path(peers: &[&PeerInfo]) -> Rib {
    let mut cfg = RibConfig::new(LOCAL_AS, ROUTER_ID);
    cfg.maximum_paths_v4 = 1;
    let mut r = Rib::with_config(cfg);
    for p in peers {
        up(&mut r, p);
    }
    r
}

fn with(mut a: Vec<Attribute>, extra: Attribute) -> Vec<Attribute> {
    a.retain(|x| x.type_code() != extra.type_code());
    a.push(extra);
    a
}

#[test]
fn highest_local_pref() {
    let (i1, i2) = (peer(1, LOCAL_AS), peer(2, LOCAL_AS));
    let mut r = single_path(&[&i1, &i2]);
    // The longer AS path wins on LOCAL_PREF.
    let a = with(
        attrs(&[65010, 65011], "192.0.2.1"),
        Attribute::LocalPref(200),
    );
    r.update_from_peer(i1.id, &announce(&[P], a));
    r.update_from_peer(i2.id, &announce(&[P], attrs(&[65010], "192.0.2.2")));
    assert_eq!(best_addr(&r), ip("192.0.2.1"));
}

#[test]
fn locally_originated_first() {
    let a = peer(1, 65001);
    let mut r = single_path(&[&a]);
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.1")));
    r.originate(V4, net(P));
    assert_eq!(best(&r), (PathSource::Local, vec![]));
}

#[test]
fn shortest_as_path_with_sets_and_confederations() {
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    let mut r = single_path(&[&a, &b]);
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001, 7, 8], "192.0.2.1")));
    r.update_from_peer(b.id, &announce(&[P], attrs(&[65002, 7], "192.0.2.2")));
    assert_eq!(best_addr(&r), ip("192.0.2.2"));
    // 65001 {7,8,9}: an AS_SET counts one, so length 2 = b's; the older
    // path (b's) stays best, then a's path of length 1 + set wins over b's
    // length 2 once b's grows.
    let set = AsPath {
        segments: vec![
            AsSegment {
                kind: AsSegmentType::Sequence,
                asns: vec![65001],
            },
            AsSegment {
                kind: AsSegmentType::Set,
                asns: vec![7, 8, 9],
            },
        ],
    };
    let mut x = attrs(&[], "192.0.2.1");
    x[1] = Attribute::AsPath(set);
    r.update_from_peer(a.id, &announce(&[P], x));
    r.update_from_peer(b.id, &announce(&[P], attrs(&[65002, 7, 8], "192.0.2.2")));
    assert_eq!(best_addr(&r), ip("192.0.2.1"));
    // Confederation segments do not count (iBGP paths inside a confederation).
    let (i1, i2) = (peer(3, LOCAL_AS), peer(4, LOCAL_AS));
    let mut r = single_path(&[&i1, &i2]);
    let confed = AsPath {
        segments: vec![
            AsSegment {
                kind: AsSegmentType::ConfedSequence,
                asns: vec![64512, 64513, 64514],
            },
            AsSegment {
                kind: AsSegmentType::Sequence,
                asns: vec![7],
            },
        ],
    };
    let mut x = attrs(&[], "192.0.2.3");
    x[1] = Attribute::AsPath(confed);
    r.update_from_peer(i2.id, &announce(&[P], attrs(&[7, 8], "192.0.2.4")));
    r.update_from_peer(i1.id, &announce(&[P], x));
    assert_eq!(best_addr(&r), ip("192.0.2.3"));
}

#[test]
fn lowest_origin() {
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    let mut r = single_path(&[&a, &b]);
    let a1 = with(
        attrs(&[65001], "192.0.2.1"),
        Attribute::Origin(Origin::Incomplete),
    );
    let b1 = with(attrs(&[65002], "192.0.2.2"), Attribute::Origin(Origin::Egp));
    r.update_from_peer(a.id, &announce(&[P], a1));
    r.update_from_peer(b.id, &announce(&[P], b1));
    assert_eq!(best_addr(&r), ip("192.0.2.2"));
}

#[test]
fn lowest_med_only_from_the_same_neighbour_as() {
    // Same neighbour AS: lower MED wins although it arrived later.
    let (a, b) = (peer(1, 65001), peer(2, 65001));
    let mut r = single_path(&[&a, &b]);
    let a1 = with(attrs(&[65001], "192.0.2.1"), Attribute::MultiExitDisc(50));
    let b1 = with(attrs(&[65001], "192.0.2.2"), Attribute::MultiExitDisc(10));
    r.update_from_peer(a.id, &announce(&[P], a1));
    r.update_from_peer(b.id, &announce(&[P], b1));
    assert_eq!(best_addr(&r), ip("192.0.2.2"));
    // Different neighbour ASes: MED is not compared; the oldest eBGP path wins.
    let (c, d) = (peer(3, 65003), peer(4, 65004));
    let mut r = single_path(&[&c, &d]);
    let c1 = with(attrs(&[65003], "192.0.2.3"), Attribute::MultiExitDisc(50));
    let d1 = with(attrs(&[65004], "192.0.2.4"), Attribute::MultiExitDisc(10));
    r.update_from_peer(c.id, &announce(&[P], c1.clone()));
    r.update_from_peer(d.id, &announce(&[P], d1.clone()));
    assert_eq!(best_addr(&r), ip("192.0.2.3"));
    // ... unless always-compare-med.
    let mut cfg = RibConfig::new(LOCAL_AS, ROUTER_ID);
    cfg.always_compare_med = true;
    let mut r = Rib::with_config(cfg);
    up(&mut r, &c);
    up(&mut r, &d);
    r.update_from_peer(c.id, &announce(&[P], c1));
    r.update_from_peer(d.id, &announce(&[P], d1));
    assert_eq!(best_addr(&r), ip("192.0.2.4"));
}

#[test]
fn deterministic_med_groups_by_neighbour_as() {
    // a (AS 1, MED 20), b (AS 2), c (AS 1, MED 10); arrival a, b, c. Group
    // AS 1's winner is c (MED), then c vs b: oldest eBGP, b. Without
    // grouping, pairwise in arrival order would give a different answer.
    let (a, b, c) = (peer(1, 65001), peer(2, 65002), peer(3, 65001));
    let mut r = single_path(&[&a, &b, &c]);
    let ma = with(attrs(&[65001], "192.0.2.1"), Attribute::MultiExitDisc(20));
    let mc = with(attrs(&[65001], "192.0.2.3"), Attribute::MultiExitDisc(10));
    r.update_from_peer(a.id, &announce(&[P], ma));
    r.update_from_peer(b.id, &announce(&[P], attrs(&[65002], "192.0.2.2")));
    r.update_from_peer(c.id, &announce(&[P], mc));
    assert_eq!(best_addr(&r), ip("192.0.2.2"));
}

#[test]
fn ebgp_over_ibgp() {
    let (i, e) = (peer(1, LOCAL_AS), peer(2, 65002));
    let mut r = single_path(&[&i, &e]);
    r.update_from_peer(i.id, &announce(&[P], attrs(&[65002], "192.0.2.1")));
    r.update_from_peer(e.id, &announce(&[P], attrs(&[65002], "192.0.2.2")));
    assert_eq!(best_addr(&r), ip("192.0.2.2"));
}

#[test]
fn oldest_ebgp_path() {
    // b has the lower router id but a arrived first.
    let (a, b) = (peer(5, 65001), peer(2, 65001));
    let mut r = single_path(&[&a, &b]);
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.5")));
    r.update_from_peer(b.id, &announce(&[P], attrs(&[65001], "192.0.2.2")));
    assert_eq!(best_addr(&r), ip("192.0.2.5"));
    // A replaced path is new again.
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.55")));
    assert_eq!(best_addr(&r), ip("192.0.2.2"));
}

#[test]
fn lowest_router_id_or_originator_id() {
    let (i5, i2) = (peer(5, LOCAL_AS), peer(2, LOCAL_AS));
    let mut r = single_path(&[&i5, &i2]);
    r.update_from_peer(i2.id, &announce(&[P], attrs(&[], "192.0.2.2")));
    r.update_from_peer(i5.id, &announce(&[P], attrs(&[], "192.0.2.5")));
    assert_eq!(best_addr(&r), ip("192.0.2.2"));
    // ORIGINATOR_ID stands for the router id when present.
    let a = with(
        attrs(&[], "192.0.2.5"),
        Attribute::OriginatorId(Ipv4Addr::new(10, 0, 0, 9)),
    );
    r.update_from_peer(i5.id, &announce(&[P], a));
    assert_eq!(best_addr(&r), ip("192.0.2.5"));
}

#[test]
fn shortest_cluster_list_then_lowest_peer_address() {
    let (mut i1, mut i2) = (peer(1, LOCAL_AS), peer(2, LOCAL_AS));
    i1.remote_id = Ipv4Addr::new(10, 0, 1, 50);
    i2.remote_id = Ipv4Addr::new(10, 0, 1, 50);
    let mut r = single_path(&[&i1, &i2]);
    let long = with(
        attrs(&[], "192.0.2.1"),
        Attribute::ClusterList(vec![Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2)]),
    );
    let short = with(
        attrs(&[], "192.0.2.2"),
        Attribute::ClusterList(vec![Ipv4Addr::new(10, 9, 0, 3)]),
    );
    r.update_from_peer(i1.id, &announce(&[P], long));
    r.update_from_peer(i2.id, &announce(&[P], short.clone()));
    assert_eq!(best_addr(&r), ip("192.0.2.2"));
    // Same router id, same cluster list length: the lower peer address.
    let equal = with(
        attrs(&[], "192.0.2.1"),
        Attribute::ClusterList(vec![Ipv4Addr::new(10, 9, 0, 1)]),
    );
    r.update_from_peer(i1.id, &announce(&[P], equal));
    assert_eq!(best_addr(&r), ip("192.0.2.1"));
}

#[test]
fn ecmp_set_same_neighbour_as_up_to_maximum_paths() {
    let peers: Vec<PeerInfo> = (1..=4).map(|i| peer(i, 65001)).collect();
    let mut r = rib();
    for p in &peers {
        up(&mut r, p);
    }
    let mut last = Changes::default();
    for p in &peers {
        let nh = match p.addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => a.to_string(),
        };
        last = r.update_from_peer(p.id, &announce(&[P], attrs(&[65001, 7], &nh)));
    }
    assert_eq!(
        last.fib,
        vec![fib(
            V4,
            P,
            &["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
        )]
    );
    // The best path did not change when paths joined the ECMP set.
    assert!(last.best_changed.is_empty());
    let view = r.route(V4, net(P)).unwrap();
    let flags: Vec<(bool, bool)> = view.paths.iter().map(|p| (p.best, p.multipath)).collect();
    assert_eq!(
        flags,
        vec![(true, true), (false, true), (false, true), (false, true)]
    );
    // maximum-paths 2: the best and the next by tie-breakers.
    let c = r.set_maximum_paths(V4, 2);
    assert_eq!(c.fib, vec![fib(V4, P, &["192.0.2.1", "192.0.2.2"])]);
    let view = r.route(V4, net(P)).unwrap();
    let flags: Vec<(bool, bool)> = view.paths.iter().map(|p| (p.best, p.multipath)).collect();
    assert_eq!(
        flags,
        vec![(true, true), (false, true), (false, false), (false, false)]
    );
    // Withdrawing a member brings the next one in.
    let c = r.update_from_peer(peers[1].id, &withdraw(&[P]));
    assert_eq!(c.fib, vec![fib(V4, P, &["192.0.2.1", "192.0.2.3"])]);
}

#[test]
fn ecmp_needs_the_same_neighbour_as_unless_relaxed() {
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    let mut r = rib();
    up(&mut r, &a);
    up(&mut r, &b);
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001, 7], "192.0.2.1")));
    r.update_from_peer(b.id, &announce(&[P], attrs(&[65002, 7], "192.0.2.2")));
    assert_eq!(r.fib_nexthops(V4, net(P)), vec![ip("192.0.2.1")]);
    let mut cfg = RibConfig::new(LOCAL_AS, ROUTER_ID);
    cfg.multipath_relax = true;
    let mut r = Rib::with_config(cfg);
    up(&mut r, &a);
    up(&mut r, &b);
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001, 7], "192.0.2.1")));
    r.update_from_peer(b.id, &announce(&[P], attrs(&[65002, 7], "192.0.2.2")));
    assert_eq!(
        r.fib_nexthops(V4, net(P)),
        vec![ip("192.0.2.1"), ip("192.0.2.2")]
    );
}

#[test]
fn multipath_relax_from_the_config_and_changed_live() {
    let c = config_of("router bgp 65000\n bgp bestpath as-path multipath-relax\n");
    let bgp = c.bgp.as_ref().expect("bgp");
    assert!(RibConfig::from_bgp(bgp, ROUTER_ID).multipath_relax);
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    let mut r = rib();
    up(&mut r, &a);
    up(&mut r, &b);
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001, 7], "192.0.2.1")));
    r.update_from_peer(b.id, &announce(&[P], attrs(&[65002, 7], "192.0.2.2")));
    assert_eq!(r.fib_nexthops(V4, net(P)), vec![ip("192.0.2.1")]);
    let c = r.set_multipath_relax(true);
    assert_eq!(c.fib, vec![fib(V4, P, &["192.0.2.1", "192.0.2.2"])]);
    let c = r.set_multipath_relax(false);
    assert_eq!(c.fib, vec![fib(V4, P, &["192.0.2.1"])]);
}

#[test]
fn ibgp_ecmp_needs_the_same_as_path() {
    let (i1, i2, i3) = (peer(1, LOCAL_AS), peer(2, LOCAL_AS), peer(3, LOCAL_AS));
    let mut r = rib();
    for p in [&i1, &i2, &i3] {
        up(&mut r, p);
    }
    r.update_from_peer(i1.id, &announce(&[P], attrs(&[65010, 7], "192.0.2.1")));
    r.update_from_peer(i2.id, &announce(&[P], attrs(&[65010, 7], "192.0.2.2")));
    r.update_from_peer(i3.id, &announce(&[P], attrs(&[65011, 7], "192.0.2.3")));
    assert_eq!(
        r.fib_nexthops(V4, net(P)),
        vec![ip("192.0.2.1"), ip("192.0.2.2")]
    );
}

#[test]
fn routes_are_listed_in_prefix_order() {
    let a = peer(1, 65001);
    let mut r = rib();
    up(&mut r, &a);
    r.update_from_peer(
        a.id,
        &announce(
            &["203.0.113.0/24", "10.0.0.0/8", "198.51.100.0/24"],
            attrs(&[65001], "192.0.2.1"),
        ),
    );
    let order: Vec<IpNet> = r.routes(V4).into_iter().map(|v| v.prefix).collect();
    assert_eq!(
        order,
        vec![
            net("10.0.0.0/8"),
            net("198.51.100.0/24"),
            net("203.0.113.0/24")
        ]
    );
}
