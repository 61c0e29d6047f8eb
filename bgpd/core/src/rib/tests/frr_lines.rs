//! FRR's per-neighbor lines in the RIB: allowas-in (count and origin),
//! next-hop-self (and force, for reflected routes), soft-reconfiguration
//! inbound (the kept Adj-RIB-In, policy applied again without the peer)
//! and `bgp ebgp-requires-policy` (nothing in or out of an eBGP session
//! without a route-map in that direction).

use super::*;
use crate::config::AllowAsIn;

/// eBGP peer 1 (AS 65001) with these IPv4 settings and no route-maps.
fn ebgp(af: AfPolicy, requires_policy: bool) -> PeerInfo {
    let mut p = peer(1, 65001);
    p.route_maps = RouteMaps {
        v4: af,
        requires_policy,
        ..RouteMaps::default()
    };
    p
}

fn has(r: &Rib, prefix: &str) -> bool {
    r.route(V4, net(prefix)).is_some()
}

/// Three routes with our AS (65000) in the path: twice (origin ours),
/// once (origin ours), once (origin 65099).
fn send_loops(r: &mut Rib) {
    r.update_from_peer(
        PeerId(1),
        &announce(&["10.1.0.0/16"], attrs(&[65001, 65000, 65000], "192.0.2.1")),
    );
    r.update_from_peer(
        PeerId(1),
        &announce(&["10.2.0.0/16"], attrs(&[65001, 65000], "192.0.2.1")),
    );
    r.update_from_peer(
        PeerId(1),
        &announce(&["10.3.0.0/16"], attrs(&[65001, 65000, 65099], "192.0.2.1")),
    );
}

#[test]
fn allowas_in_counts_our_as_or_takes_our_origin() {
    let cases: [(Option<AllowAsIn>, [bool; 3]); 5] = [
        (None, [false, false, false]),
        (Some(AllowAsIn::Count(1)), [false, true, true]),
        (Some(AllowAsIn::Count(2)), [true, true, true]),
        (Some(AllowAsIn::Count(3)), [true, true, true]),
        (Some(AllowAsIn::Origin), [true, true, false]),
    ];
    for (allow, want) in cases {
        let mut r = rib();
        let af = AfPolicy {
            allowas_in: allow,
            ..AfPolicy::default()
        };
        up(&mut r, &ebgp(af, false));
        send_loops(&mut r);
        let got = [
            has(&r, "10.1.0.0/16"),
            has(&r, "10.2.0.0/16"),
            has(&r, "10.3.0.0/16"),
        ];
        assert_eq!(got, want, "{allow:?}");
    }
}

/// The next hop peer 2 (iBGP) is sent for `prefix`: None when it is our
/// own address (FRR's 0.0.0.0).
fn next_hop_to_2(r: &mut Rib, prefix: &str) -> Option<RouteNextHop> {
    let routes = r.advertised_routes(PeerId(2), V4);
    let route = routes
        .iter()
        .find(|a| a.prefix == net(prefix))
        .unwrap_or_else(|| panic!("{prefix} not advertised: {routes:?}"));
    match route.attrs.next_hop {
        RouteNextHop::Local => None,
        nh => Some(nh),
    }
}

#[test]
fn next_hop_self_for_ebgp_routes_and_force_for_reflected_ones() {
    let from = RouteNextHop::V4;
    for (nhs, want_ebgp, want_reflected) in [
        (
            NextHopSelf::Off,
            Some(from(Ipv4Addr::new(192, 0, 2, 1))),
            Some(from(Ipv4Addr::new(192, 0, 2, 3))),
        ),
        (
            NextHopSelf::Ebgp,
            None,
            Some(from(Ipv4Addr::new(192, 0, 2, 3))),
        ),
        (NextHopSelf::Force, None, None),
    ] {
        let mut r = rib();
        up(&mut r, &ebgp(AfPolicy::default(), false));
        let mut to = peer(2, LOCAL_AS);
        to.route_maps.v4.next_hop_self = nhs;
        up(&mut r, &to);
        let mut client = peer(3, LOCAL_AS);
        client.rr_client = true;
        up(&mut r, &client);
        r.update_from_peer(
            PeerId(1),
            &announce(&["10.1.0.0/16"], attrs(&[65001], "192.0.2.1")),
        );
        r.update_from_peer(
            PeerId(3),
            &announce(&["10.3.0.0/16"], attrs(&[], "192.0.2.3")),
        );
        assert_eq!(next_hop_to_2(&mut r, "10.1.0.0/16"), want_ebgp, "{nhs:?}");
        assert_eq!(
            next_hop_to_2(&mut r, "10.3.0.0/16"),
            want_reflected,
            "{nhs:?}"
        );
    }
}

const DENY_10_1: &str = "\
ip prefix-list TEN-ONE seq 5 permit 10.1.0.0/16
route-map IN deny 10
 match ip address prefix-list TEN-ONE
exit
route-map IN permit 20
exit
route-map TRANSIT permit 10
exit
";

#[test]
fn soft_reconfiguration_keeps_the_adj_rib_in_and_applies_policy_again() {
    let mut r = rib();
    let c = config_of(DENY_10_1);
    r.set_policy(Arc::new(c.policy.clone()), &BTreeMap::new());
    let soft = AfPolicy {
        soft_in: true,
        ..AfPolicy::default()
    };
    let mut info = ebgp(soft, false);
    info.route_maps.v4_in = Some(Arc::from("IN"));
    up(&mut r, &info);
    r.update_from_peer(
        PeerId(1),
        &announce(
            &["10.1.0.0/16", "10.2.0.0/16"],
            attrs(&[65001], "192.0.2.1"),
        ),
    );
    // A route refused by the loop check is kept too (as FRR keeps it).
    r.update_from_peer(
        PeerId(1),
        &announce(&["10.3.0.0/16"], attrs(&[65001, 65000], "192.0.2.1")),
    );
    assert!(!has(&r, "10.1.0.0/16") && has(&r, "10.2.0.0/16") && !has(&r, "10.3.0.0/16"));
    let (kept, filtered) = r.received_routes(PeerId(1), V4).expect("kept");
    let prefixes: Vec<IpNet> = kept.iter().map(|k| k.prefix).collect();
    assert_eq!(
        prefixes,
        vec![net("10.1.0.0/16"), net("10.2.0.0/16"), net("10.3.0.0/16")]
    );
    assert_eq!(filtered, 1, "10.1.0.0/16 by the route-map");
    // The import map goes, and allowas-in comes: applied to what is kept,
    // nothing asked of the peer.
    let mut maps = BTreeMap::new();
    let mut after = info.route_maps.clone();
    after.v4_in = None;
    after.v4.allowas_in = Some(AllowAsIn::Count(1));
    maps.insert(PeerId(1), after);
    let change = r.set_policy(Arc::new(c.policy.clone()), &maps);
    assert!(change.refresh_in.is_empty(), "{:?}", change.refresh_in);
    assert_eq!(change.reapply_in, vec![(PeerId(1), V4)]);
    let changes = r.reapply_import(PeerId(1), V4);
    assert_eq!(changes.fib.len(), 2, "{:?}", changes.fib);
    assert!(has(&r, "10.1.0.0/16") && has(&r, "10.3.0.0/16"));
    // A withdrawal leaves the kept Adj-RIB-In too.
    r.update_from_peer(PeerId(1), &withdraw(&["10.2.0.0/16"]));
    assert_eq!(r.received_routes(PeerId(1), V4).unwrap().0.len(), 2);
    // Without soft-reconfiguration: nothing kept, a change asks the peer.
    let mut maps = BTreeMap::new();
    let mut off = info.route_maps.clone();
    off.v4.soft_in = false;
    maps.insert(PeerId(1), off);
    let change = r.set_policy(Arc::new(c.policy.clone()), &maps);
    assert_eq!(change.refresh_in, vec![(PeerId(1), V4)]);
    assert!(r.received_routes(PeerId(1), V4).is_none());
}

#[test]
fn ebgp_requires_policy_stops_routes_both_ways_without_route_maps() {
    let mut r = rib();
    up(&mut r, &ebgp(AfPolicy::default(), true));
    let mut internal = peer(2, LOCAL_AS);
    internal.route_maps.requires_policy = true;
    up(&mut r, &internal);
    r.originate(V4, net("10.9.0.0/16"));
    r.update_from_peer(
        PeerId(1),
        &announce(&["10.1.0.0/16"], attrs(&[65001], "192.0.2.1")),
    );
    r.update_from_peer(
        PeerId(2),
        &announce(&["10.2.0.0/16"], attrs(&[], "192.0.2.2")),
    );
    assert!(!has(&r, "10.1.0.0/16"), "eBGP without an import route-map");
    assert!(has(&r, "10.2.0.0/16"), "iBGP needs none");
    assert!(r.advertised_routes(PeerId(1), V4).is_empty());
    let to_ibgp: Vec<IpNet> = r
        .advertised_routes(PeerId(2), V4)
        .iter()
        .map(|a| a.prefix)
        .collect();
    assert!(to_ibgp.contains(&net("10.9.0.0/16")), "{to_ibgp:?}");
    // With route-maps both ways, routes flow (TRANSIT permits all).
    let mut maps = BTreeMap::new();
    let mut with = ebgp(AfPolicy::default(), true).route_maps;
    with.v4_in = Some(Arc::from(TRANSIT));
    with.v4_out = Some(Arc::from(TRANSIT));
    maps.insert(PeerId(1), with);
    maps.insert(PeerId(2), internal.route_maps.clone());
    let change = r.set_policy(Arc::new(transit_policy()), &maps);
    assert_eq!(change.refresh_in, vec![(PeerId(1), V4)]);
    let sent = announced(&updates_for(
        &Changes {
            updates: change.updates,
            ..Changes::default()
        },
        1,
    ));
    assert!(sent.contains(&net("10.9.0.0/16")), "{sent:?}");
    r.update_from_peer(
        PeerId(1),
        &announce(&["10.1.0.0/16"], attrs(&[65001], "192.0.2.1")),
    );
    assert!(has(&r, "10.1.0.0/16"));
}
