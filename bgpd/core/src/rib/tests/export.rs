//! Adj-RIB-Out: export rules (split horizon, route reflection, well-known
//! communities), the attributes rewritten per peer, AS4 encoding, next hops
//! of IPv6 and RFC 8950 routes, and the initial advertisement.

use tern_bgp_wire::{AS_TRANS, AfiSafi, Community, attr_type};

use super::*;

const P: &str = "198.51.100.0/24";

fn attr(m: &UpdateMessage, code: u8) -> Option<Attribute> {
    m.attribute(code).map(|a| a.value.clone())
}

/// The single UPDATE `changes` holds for `peer`, as the peer decodes it.
fn one_update(changes: &Changes, to: &PeerInfo) -> UpdateMessage {
    let id = u8::try_from(to.id.0).unwrap();
    let msgs = on_the_wire(&updates_for(changes, id), &to.codec);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    msgs.into_iter().next().unwrap()
}

#[test]
fn a_node_is_no_transit_path_without_an_export_route_map() {
    let mut r = rib();
    // Two eBGP peers (two ToRs) and an iBGP one, none with a route-map.
    let plain = |id, asn| PeerInfo {
        route_maps: RouteMaps::default(),
        ..peer(id, asn)
    };
    let (a, b, i) = (plain(1, 65001), plain(2, 65002), plain(3, LOCAL_AS));
    for p in [&a, &b, &i] {
        up(&mut r, p);
    }
    let c = r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.1")));
    assert!(r.route(V4, net(P)).is_some(), "learned and used");
    assert!(
        updates_for(&c, 2).is_empty(),
        "not passed on to the other ToR"
    );
    assert_eq!(
        announced(&on_the_wire(&updates_for(&c, 3), &i.codec)),
        vec![net(P)],
        "an iBGP peer still gets it"
    );
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 0);
    // What the node originates goes to every peer.
    let c = r.originate(V4, net("10.244.1.0/24"));
    for (id, to) in [(1, &a), (2, &b)] {
        assert_eq!(
            announced(&on_the_wire(&updates_for(&c, id), &to.codec)),
            vec![net("10.244.1.0/24")]
        );
    }
    // A new session is sent the node's own routes only.
    let b2 = plain(4, 65004);
    let first = on_the_wire(&r.peer_up(&b2), &b2.codec);
    assert_eq!(announced(&first), vec![net("10.244.1.0/24")]);
}

#[test]
fn ebgp_export_prepends_and_sets_next_hop_self() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    let mut x = attrs(&[65001, 7], "192.0.2.1");
    x.push(Attribute::MultiExitDisc(42));
    x.push(Attribute::Communities(vec![Community::new(65001, 1)]));
    let c = r.update_from_peer(a.id, &announce(&[P], x));
    let m = one_update(&c, &b);
    assert_eq!(m.nlri, vec![Nlri::ipv4(P.parse().unwrap())]);
    assert_eq!(
        attr(&m, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![
            LOCAL_AS, 65001, 7
        ])))
    );
    assert_eq!(
        attr(&m, attr_type::NEXT_HOP),
        Some(Attribute::NextHop(LOCAL_ADDR))
    );
    assert_eq!(attr(&m, attr_type::LOCAL_PREF), None);
    assert_eq!(attr(&m, attr_type::MULTI_EXIT_DISC), None);
    assert_eq!(
        attr(&m, attr_type::COMMUNITIES),
        Some(Attribute::Communities(vec![Community::new(65001, 1)]))
    );
    // Never back to the peer it came from.
    assert!(updates_for(&c, 1).is_empty());
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 1);
    assert_eq!(r.peer_counts(a.id, V4).unwrap().advertised, 0);
    // Withdrawn: withdrawn from b.
    let c = r.update_from_peer(a.id, &withdraw(&[P]));
    let m = one_update(&c, &b);
    assert_eq!(m.withdrawn, vec![Nlri::ipv4(P.parse().unwrap())]);
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 0);
}

#[test]
fn ibgp_export_keeps_next_hop_and_sends_local_pref() {
    let mut r = rib();
    let (e, i) = (peer(1, 65001), peer(2, LOCAL_AS));
    up(&mut r, &e);
    up(&mut r, &i);
    let mut x = attrs(&[65001], "192.0.2.1");
    x.push(Attribute::MultiExitDisc(42));
    let c = r.update_from_peer(e.id, &announce(&[P], x));
    let m = one_update(&c, &i);
    assert_eq!(
        attr(&m, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![65001])))
    );
    assert_eq!(
        attr(&m, attr_type::NEXT_HOP),
        Some(Attribute::NextHop("192.0.2.1".parse().unwrap()))
    );
    assert_eq!(
        attr(&m, attr_type::LOCAL_PREF),
        Some(Attribute::LocalPref(100))
    );
    assert_eq!(
        attr(&m, attr_type::MULTI_EXIT_DISC),
        Some(Attribute::MultiExitDisc(42))
    );
}

#[test]
fn ibgp_split_horizon_without_route_reflection() {
    let mut r = rib();
    let (i1, i2, e) = (peer(1, LOCAL_AS), peer(2, LOCAL_AS), peer(3, 65003));
    for p in [&i1, &i2, &e] {
        up(&mut r, p);
    }
    let c = r.update_from_peer(i1.id, &announce(&[P], attrs(&[65010], "192.0.2.1")));
    assert!(updates_for(&c, 2).is_empty());
    let m = one_update(&c, &e);
    assert_eq!(
        attr(&m, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![
            LOCAL_AS, 65010
        ])))
    );
    // An eBGP path that was sent to i2 is withdrawn from it when an iBGP
    // path becomes best.
    let mut r = rib();
    for p in [&i1, &i2, &e] {
        up(&mut r, p);
    }
    let c = r.update_from_peer(e.id, &announce(&[P], attrs(&[65003, 9, 9], "192.0.2.3")));
    assert_eq!(announced(&updates_for(&c, 2)), vec![net(P)]);
    let c = r.update_from_peer(i1.id, &announce(&[P], attrs(&[65010], "192.0.2.1")));
    assert_eq!(withdrawn(&updates_for(&c, 2)), vec![net(P)]);
    assert_eq!(announced(&updates_for(&c, 3)), vec![net(P)]);
}

#[test]
fn route_reflection_between_clients_and_non_clients() {
    let mut r = rib();
    let mut c1 = peer(1, LOCAL_AS);
    c1.rr_client = true;
    let mut c2 = peer(2, LOCAL_AS);
    c2.rr_client = true;
    let n1 = peer(3, LOCAL_AS);
    let n2 = peer(4, LOCAL_AS);
    for p in [&c1, &c2, &n1, &n2] {
        up(&mut r, p);
    }
    // From a client: to every other iBGP peer, with ORIGINATOR_ID and
    // CLUSTER_LIST added, next hop unchanged.
    let c = r.update_from_peer(c1.id, &announce(&[P], attrs(&[], "192.0.2.1")));
    assert!(updates_for(&c, 1).is_empty());
    for to in [&c2, &n1, &n2] {
        let m = one_update(&c, to);
        assert_eq!(
            attr(&m, attr_type::ORIGINATOR_ID),
            Some(Attribute::OriginatorId(c1.remote_id))
        );
        assert_eq!(
            attr(&m, attr_type::CLUSTER_LIST),
            Some(Attribute::ClusterList(vec![ROUTER_ID]))
        );
        assert_eq!(
            attr(&m, attr_type::NEXT_HOP),
            Some(Attribute::NextHop("192.0.2.1".parse().unwrap()))
        );
    }
    // From a non-client: to clients only; an existing ORIGINATOR_ID stays.
    let q = "203.0.113.0/24";
    let mut x = attrs(&[], "192.0.2.3");
    x.push(Attribute::OriginatorId(Ipv4Addr::new(10, 7, 7, 7)));
    x.push(Attribute::ClusterList(vec![Ipv4Addr::new(10, 8, 8, 8)]));
    let c = r.update_from_peer(n1.id, &announce(&[q], x));
    assert!(updates_for(&c, 4).is_empty());
    assert!(updates_for(&c, 3).is_empty());
    for to in [&c1, &c2] {
        let m = one_update(&c, to);
        assert_eq!(
            attr(&m, attr_type::ORIGINATOR_ID),
            Some(Attribute::OriginatorId(Ipv4Addr::new(10, 7, 7, 7)))
        );
        assert_eq!(
            attr(&m, attr_type::CLUSTER_LIST),
            Some(Attribute::ClusterList(vec![
                ROUTER_ID,
                Ipv4Addr::new(10, 8, 8, 8)
            ]))
        );
    }
}

#[test]
fn reflection_attributes_are_not_sent_to_ebgp() {
    let mut r = rib();
    let mut c1 = peer(1, LOCAL_AS);
    c1.rr_client = true;
    let e = peer(2, 65002);
    up(&mut r, &c1);
    up(&mut r, &e);
    let mut x = attrs(&[], "192.0.2.1");
    x.push(Attribute::OriginatorId(Ipv4Addr::new(10, 7, 7, 7)));
    x.push(Attribute::ClusterList(vec![Ipv4Addr::new(10, 8, 8, 8)]));
    let c = r.update_from_peer(c1.id, &announce(&[P], x));
    let m = one_update(&c, &e);
    assert_eq!(attr(&m, attr_type::ORIGINATOR_ID), None);
    assert_eq!(attr(&m, attr_type::CLUSTER_LIST), None);
}

#[test]
fn well_known_communities_limit_export() {
    let mut r = rib();
    let (a, b, i) = (peer(1, 65001), peer(2, 65002), peer(3, LOCAL_AS));
    for p in [&a, &b, &i] {
        up(&mut r, p);
    }
    let mut x = attrs(&[65001], "192.0.2.1");
    x.push(Attribute::Communities(vec![Community::NO_EXPORT]));
    let c = r.update_from_peer(a.id, &announce(&[P], x));
    assert!(updates_for(&c, 2).is_empty());
    assert_eq!(announced(&updates_for(&c, 3)), vec![net(P)]);
    let mut x = attrs(&[65001], "192.0.2.1");
    x.push(Attribute::Communities(vec![Community::NO_ADVERTISE]));
    let c = r.update_from_peer(a.id, &announce(&[P], x));
    assert!(updates_for(&c, 2).is_empty());
    assert_eq!(withdrawn(&updates_for(&c, 3)), vec![net(P)]);
}

#[test]
fn two_octet_peers_get_as_trans_and_as4_path() {
    let mut cfg = RibConfig::new(4_200_000_000, ROUTER_ID);
    cfg.enforce_first_as = true;
    let mut r = Rib::with_config(cfg);
    r.set_policy(Arc::new(transit_policy()), &BTreeMap::new());
    let mut a = peer(1, 65001);
    a.local_as = 4_200_000_000;
    let mut old = peer(2, 65002);
    old.local_as = 4_200_000_000;
    old.codec = Codec::default();
    up(&mut r, &a);
    up(&mut r, &old);
    let c = r.update_from_peer(a.id, &announce(&[P], attrs(&[65001, 7], "192.0.2.1")));
    let m = one_update(&c, &old);
    let trans = u32::from(AS_TRANS);
    assert_eq!(
        attr(&m, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![
            trans, 65001, 7
        ])))
    );
    assert_eq!(
        attr(&m, attr_type::AS4_PATH),
        Some(Attribute::As4Path(AsPath::from_sequence(vec![
            4_200_000_000,
            65001,
            7
        ])))
    );
}

#[test]
fn ipv6_export_uses_mp_reach_with_our_addresses() {
    let mut r = rib();
    let a = peer(1, 65001);
    let mut b = peer(2, 65002);
    // A session over link-local: the link-local address goes along.
    b.addr = ip("fe80::2");
    b.local_addr = ip("fe80::fe");
    up(&mut r, &a);
    up(&mut r, &b);
    let c = r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1"),
    );
    let m = one_update(&c, &b);
    let mp = m.mp_reach().unwrap();
    assert_eq!(mp.family, AfiSafi::IPV6_UNICAST);
    assert_eq!(
        mp.next_hop,
        NextHop::Ipv6 {
            global: "2001:db8::254".parse().unwrap(),
            link_local: Some("fe80::fe".parse().unwrap()),
        }
    );
    assert_eq!(
        mp.nlri,
        vec![Nlri::ipv6("2001:db8:1::/48".parse().unwrap())]
    );
    let c = r.update_from_peer(a.id, &withdraw_v6(&["2001:db8:1::/48"]));
    let m = one_update(&c, &b);
    assert_eq!(
        m.mp_unreach().map(|u| u.withdrawn.clone()),
        Some(vec![Nlri::ipv6("2001:db8:1::/48".parse().unwrap())])
    );
}

#[test]
fn a_shared_links_link_local_goes_to_external_peers_and_follows_the_interface() {
    let mut r = rib();
    let a = peer(1, 65001);
    // Sessions over global addresses on a shared link (RFC 2545 §3).
    let mut b = peer(2, 65002);
    b.addr = ip("2001:db8::2");
    b.local_addr = ip("2001:db8::fe");
    b.local_addr_v6 = None;
    b.link_local = Some("fe80::fe".parse().unwrap());
    let mut i = peer(3, LOCAL_AS);
    i.addr = ip("2001:db8::3");
    i.local_addr = ip("2001:db8::fe");
    i.local_addr_v6 = None;
    i.link_local = Some("fe80::fe".parse().unwrap());
    for p in [&a, &b, &i] {
        up(&mut r, p);
    }
    let c = r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1"),
    );
    let next_hop = |m: &UpdateMessage| m.mp_reach().map(|mp| mp.next_hop);
    let ours = |ll: Option<&str>| {
        Some(NextHop::Ipv6 {
            global: "2001:db8::fe".parse().unwrap(),
            link_local: ll.map(|l| l.parse().unwrap()),
        })
    };
    assert_eq!(next_hop(&one_update(&c, &b)), ours(Some("fe80::fe")));
    // An internal peer keeps the originator's next hop, with no link-local.
    assert_eq!(
        next_hop(&one_update(&c, &i)),
        Some(NextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        })
    );
    // The interface's link-local address changes: the route again, with it.
    let sent = r.set_link_local(b.id, Some("fe80::ab".parse().unwrap()));
    assert_eq!(announced(&sent), vec![net("2001:db8:1::/48")]);
    assert_eq!(sent.iter().find_map(next_hop), ours(Some("fe80::ab")));
    assert!(
        r.set_link_local(b.id, Some("fe80::ab".parse().unwrap()))
            .is_empty()
    );
    // Gone: the global next hop alone.
    let sent = r.set_link_local(b.id, None);
    assert_eq!(sent.iter().find_map(next_hop), ours(None));
    assert!(
        r.set_link_local(i.id, None).is_empty(),
        "internal: nothing to send"
    );
}

#[test]
fn ipv4_over_ipv6_next_hop_needs_rfc8950() {
    let mut r = rib();
    let a = peer(1, 65001);
    let mut b = peer(2, 65002);
    b.addr = ip("2001:db8::2");
    b.local_addr = ip("2001:db8::fe");
    b.local_addr_v6 = None;
    let mut c6 = peer(3, 65003);
    c6.addr = ip("2001:db8::3");
    c6.local_addr = ip("2001:db8::fe");
    c6.codec.extended_next_hop = vec![AfiSafi::IPV4_UNICAST];
    for p in [&a, &b, &c6] {
        up(&mut r, p);
    }
    let c = r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.1")));
    assert!(updates_for(&c, 2).is_empty());
    let m = one_update(&c, &c6);
    let mp = m.mp_reach().unwrap();
    assert_eq!(mp.family, AfiSafi::IPV4_UNICAST);
    assert_eq!(
        mp.next_hop,
        NextHop::Ipv6 {
            global: "2001:db8::254".parse().unwrap(),
            link_local: None,
        }
    );
    assert!(m.nlri.is_empty());
    assert_eq!(announced(&[m]), vec![net(P)]);
}

#[test]
fn initial_advertisement_then_end_of_rib() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    r.update_from_peer(
        a.id,
        &announce(&[P, "203.0.113.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1"),
    );
    r.originate(V4, net("192.0.2.128/25"));
    let b = peer(2, 65002);
    let msgs = on_the_wire(&r.peer_up(&b), &b.codec);
    let eor: Vec<_> = msgs.iter().filter_map(UpdateMessage::end_of_rib).collect();
    assert_eq!(eor, vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]);
    // The markers come last.
    assert!(msgs[msgs.len() - 2].end_of_rib().is_some());
    let mut got = announced(&msgs);
    got.sort();
    assert_eq!(
        got,
        vec![
            net("192.0.2.128/25"),
            net(P),
            net("203.0.113.0/24"),
            net("2001:db8:1::/48"),
        ]
    );
    // Our own route: empty path + our AS, MED 0 (as FRR's `network`).
    let own = msgs
        .iter()
        .find(|m| {
            m.nlri
                .contains(&Nlri::ipv4("192.0.2.128/25".parse().unwrap()))
        })
        .unwrap();
    assert_eq!(
        attr(own, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![LOCAL_AS])))
    );
    assert_eq!(
        attr(own, attr_type::MULTI_EXIT_DISC),
        Some(Attribute::MultiExitDisc(0))
    );
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 3);
    // A peer that only speaks IPv6 gets IPv6 routes and its marker only.
    let mut v6only = peer(3, 65003);
    v6only.families = vec![V6];
    let msgs = on_the_wire(&r.peer_up(&v6only), &v6only.codec);
    assert_eq!(announced(&msgs), vec![net("2001:db8:1::/48")]);
    assert_eq!(
        msgs.last().and_then(UpdateMessage::end_of_rib),
        Some(AfiSafi::IPV6_UNICAST)
    );
}

#[test]
fn local_routes_to_ibgp_carry_next_hop_self() {
    let mut r = rib();
    let i = peer(1, LOCAL_AS);
    up(&mut r, &i);
    let c = r.originate(V4, net(P));
    let m = one_update(&c, &i);
    assert_eq!(
        attr(&m, attr_type::NEXT_HOP),
        Some(Attribute::NextHop(LOCAL_ADDR))
    );
    assert_eq!(
        attr(&m, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::default()))
    );
    assert_eq!(
        attr(&m, attr_type::LOCAL_PREF),
        Some(Attribute::LocalPref(100))
    );
    let c = r.withdraw_local(V4, net(P));
    assert_eq!(withdrawn(&updates_for(&c, 1)), vec![net(P)]);
}

#[test]
fn merged_changes_keep_the_order_per_peer() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    let mut all = r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.1")));
    all.merge(r.update_from_peer(a.id, &withdraw(&[P])));
    let (fib, updates) = all.into_parts();
    assert_eq!(fib.len(), 2);
    assert_eq!(updates.len(), 1);
    let msgs = &updates[0].1;
    assert_eq!(announced(msgs), vec![net(P)]);
    assert_eq!(withdrawn(&msgs[1..]), vec![net(P)]);
}

#[test]
fn withdraw_and_announce_in_one_update_is_advertised_once() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.1")));
    let mut u = announce(&[P], attrs(&[65001, 9], "192.0.2.1"));
    u.withdrawn = vec![Nlri::ipv4(P.parse().unwrap())];
    let c = r.update_from_peer(a.id, &u);
    let msgs = on_the_wire(&updates_for(&c, 2), &b.codec);
    assert_eq!(withdrawn(&msgs), Vec::<IpNet>::new());
    assert_eq!(announced(&msgs), vec![net(P)]);
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 1);
    // Withdrawn and announced back unchanged: nothing to tell b.
    let mut u = announce(&[P], attrs(&[65001, 9], "192.0.2.1"));
    u.withdrawn = vec![Nlri::ipv4(P.parse().unwrap())];
    let c = r.update_from_peer(a.id, &u);
    assert!(updates_for(&c, 2).is_empty());
    assert_eq!(r.prefix_count(V4), 1);
}

#[test]
fn peer_down_is_told_to_the_others() {
    let mut r = rib();
    let (a, b, l) = (peer(1, 65001), peer(2, 65002), peer(3, 65003));
    for p in [&a, &b, &l] {
        up(&mut r, p);
    }
    r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.1")));
    r.update_from_peer(b.id, &announce(&[P], attrs(&[65002, 5], "192.0.2.2")));
    // a's path goes: l is sent b's path instead, b is sent nothing (its
    // own path is now best), and b's copy of a's path is withdrawn.
    let c = r.peer_down(a.id);
    let to_l = on_the_wire(&updates_for(&c, 3), &l.codec);
    assert_eq!(announced(&to_l), vec![net(P)]);
    assert_eq!(
        attr(&to_l[0], attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![
            LOCAL_AS, 65002, 5
        ])))
    );
    assert_eq!(withdrawn(&updates_for(&c, 2)), vec![net(P)]);
    assert!(updates_for(&c, 1).is_empty());
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 0);
    assert_eq!(r.peer_counts(l.id, V4).unwrap().advertised, 1);
    let c = r.peer_down(b.id);
    assert_eq!(withdrawn(&updates_for(&c, 3)), vec![net(P)]);
    assert_eq!(r.peer_counts(l.id, V4).unwrap().advertised, 0);
    assert_eq!(r.prefix_count(V4), 0);
}

#[test]
fn add_path_receive_keeps_each_path() {
    let mut r = rib();
    let mut a = peer(1, 65001);
    a.codec.add_path_receive = vec![AfiSafi::IPV4_UNICAST];
    let b = peer(2, 65002);
    up(&mut r, &a);
    up(&mut r, &b);
    let mut u1 = announce(&[P], attrs(&[65001], "192.0.2.1"));
    u1.nlri = vec![Nlri::ipv4(P.parse().unwrap()).with_path_id(1)];
    let mut u2 = announce(&[P], attrs(&[65001], "192.0.2.9"));
    u2.nlri = vec![Nlri::ipv4(P.parse().unwrap()).with_path_id(2)];
    r.update_from_peer(a.id, &u1);
    let c = r.update_from_peer(a.id, &u2);
    assert_eq!(
        c.fib,
        vec![FibChange {
            family: V4,
            prefix: net(P),
            nexthops: [ip("192.0.2.1"), ip("192.0.2.9")].into(),
        }]
    );
    assert_eq!(r.route(V4, net(P)).unwrap().paths.len(), 2);
    let mut w = withdraw(&[]);
    w.withdrawn = vec![Nlri::ipv4(P.parse().unwrap()).with_path_id(1)];
    let c = r.update_from_peer(a.id, &w);
    assert_eq!(*c.fib[0].nexthops, [ip("192.0.2.9")]);
    // b is told about the new best path (a different next hop: same
    // export, so nothing to send).
    assert!(updates_for(&c, 2).is_empty());
    assert_eq!(r.peer_counts(a.id, V4).unwrap().accepted, 1);
}

#[test]
fn resend_repeats_the_adj_rib_out() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    r.update_from_peer(
        a.id,
        &announce(&[P, "203.0.113.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    let msgs = on_the_wire(&r.resend(b.id, V4), &b.codec);
    assert_eq!(msgs.len(), 1);
    let mut got = announced(&msgs);
    got.sort();
    assert_eq!(got, vec![net(P), net("203.0.113.0/24")]);
    assert!(r.resend(a.id, V4).is_empty());
}
