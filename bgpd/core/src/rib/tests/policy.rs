//! Route-maps in the RIB: import (deny, set local-preference) per prefix,
//! export (prepend after our AS, MED kept, deny by prefix-list), and a
//! policy change on live sessions sent as the difference.

use tern_bgp_wire::attr_type;

use super::*;

/// The policy and route-maps of a config text.
fn policy_of(text: &str) -> (Arc<Policy>, TestConfig) {
    let c = config_of(text);
    (Arc::new(c.policy.clone()), c)
}

const POLICY: &str = "\
ip prefix-list PODS seq 5 permit 10.244.0.0/16 le 24
bgp community-list standard GOLD seq 5 permit 65001:100
route-map IN permit 10
 match community GOLD
 set local-preference 300
exit
route-map IN deny 20
 match ip address prefix-list PODS
exit
route-map IN permit 30
exit
route-map OUT permit 10
 match ip address prefix-list PODS
 set as-path prepend 65000 65000
 set metric 7
exit
route-map TRANSIT permit 10
exit
";

/// `info` with IPv4 route-maps `import` and `export` (without one, the
/// peer keeps [`peer`]'s TRANSIT export).
fn with_maps(info: &PeerInfo, import: Option<&str>, export: Option<&str>) -> PeerInfo {
    let mut i = info.clone();
    i.route_maps = RouteMaps {
        v4_in: import.map(Arc::from),
        v4_out: export
            .map(Arc::from)
            .or_else(|| info.route_maps.v4_out.clone()),
        v6_in: None,
        v6_out: info.route_maps.v6_out.clone(),
        ..RouteMaps::default()
    };
    i
}

#[test]
fn import_route_map_denies_and_sets_per_prefix() {
    let mut r = rib();
    let (policy, _) = policy_of(POLICY);
    r.set_policy(policy, &BTreeMap::new());
    let a = with_maps(&peer(1, 65001), Some("IN"), None);
    up(&mut r, &a);
    let mut gold = attrs(&[65001], "192.0.2.1");
    gold.push(Attribute::Communities(vec![tern_bgp_wire::Community::new(
        65001, 100,
    )]));
    r.update_from_peer(a.id, &announce(&["10.244.1.0/24", "192.0.2.128/25"], gold));
    r.update_from_peer(
        a.id,
        &announce(
            &["10.244.2.0/24", "203.0.113.0/24"],
            attrs(&[65001], "192.0.2.1"),
        ),
    );
    // Seq 10 (community GOLD) wins over seq 20's deny for 10.244.1.0/24.
    let lp = |p: &str| {
        r.route(V4, net(p))
            .map(|v| v.paths[0].attrs.effective_local_pref())
    };
    assert_eq!(lp("10.244.1.0/24"), Some(300));
    assert_eq!(lp("192.0.2.128/25"), Some(300));
    assert_eq!(lp("10.244.2.0/24"), None, "denied by seq 20");
    assert_eq!(
        lp("203.0.113.0/24"),
        Some(100),
        "permitted unchanged by seq 30"
    );
    let counts = r.peer_counts(a.id, V4).unwrap();
    assert_eq!((counts.received, counts.accepted), (4, 3));
}

#[test]
fn undefined_route_map_refuses_everything() {
    let mut r = rib();
    let a = with_maps(&peer(1, 65001), Some("MISSING"), None);
    up(&mut r, &a);
    r.update_from_peer(
        a.id,
        &announce(&["203.0.113.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    assert!(r.route(V4, net("203.0.113.0/24")).is_none());
}

#[test]
fn export_route_map_prepends_after_our_as_and_keeps_its_med() {
    let mut r = rib();
    let (policy, _) = policy_of(POLICY);
    r.set_policy(policy, &BTreeMap::new());
    let a = peer(1, 65001);
    let b = with_maps(&peer(2, 65002), None, Some("OUT"));
    up(&mut r, &a);
    up(&mut r, &b);
    let c = r.update_from_peer(
        a.id,
        &announce(
            &["10.244.1.0/24", "203.0.113.0/24"],
            attrs(&[65001], "192.0.2.1"),
        ),
    );
    let msgs = on_the_wire(&updates_for(&c, 2), &b.codec);
    assert_eq!(
        announced(&msgs),
        vec![net("10.244.1.0/24")],
        "OUT denies the rest"
    );
    let m = &msgs[0];
    assert_eq!(
        m.attribute(attr_type::AS_PATH).map(|a| a.value.clone()),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![
            LOCAL_AS, 65000, 65000, 65001
        ])))
    );
    assert_eq!(
        m.attribute(attr_type::MULTI_EXIT_DISC)
            .map(|a| a.value.clone()),
        Some(Attribute::MultiExitDisc(7)),
        "a MED set by the export route-map is sent to eBGP"
    );
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 1);
    // The initial advertisement of a new session follows the map too.
    let b2 = with_maps(&peer(3, 65003), None, Some("OUT"));
    let first = on_the_wire(&r.peer_up(&b2), &b2.codec);
    assert_eq!(announced(&first), vec![net("10.244.1.0/24")]);
}

#[test]
fn policy_change_on_live_sessions_sends_the_difference() {
    let mut r = rib();
    let a = peer(1, 65001);
    let b = peer(2, 65002);
    up(&mut r, &a);
    up(&mut r, &b);
    r.update_from_peer(
        a.id,
        &announce(
            &["10.244.1.0/24", "203.0.113.0/24"],
            attrs(&[65001], "192.0.2.1"),
        ),
    );
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 2);
    // Attach OUT to b and IN to a: b loses 203.0.113.0/24 and gets
    // 10.244.1.0/24 again with the prepend; a must be refreshed.
    let (policy, _) = policy_of(POLICY);
    let mut maps = BTreeMap::new();
    maps.insert(b.id, with_maps(&b, None, Some("OUT")).route_maps);
    maps.insert(a.id, with_maps(&a, Some("IN"), None).route_maps);
    let change = r.set_policy(Arc::clone(&policy), &maps);
    assert_eq!(change.refresh_in, vec![(a.id, V4)]);
    let msgs: Vec<UpdateMessage> = change
        .updates
        .iter()
        .filter(|(p, _)| *p == b.id)
        .flat_map(|(_, m)| m.iter().cloned())
        .collect();
    let msgs = on_the_wire(&msgs, &b.codec);
    assert_eq!(withdrawn(&msgs), vec![net("203.0.113.0/24")]);
    assert_eq!(announced(&msgs), vec![net("10.244.1.0/24")]);
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 1);
    // The same policy again changes nothing.
    let again = r.set_policy(policy, &maps);
    assert!(again.updates.is_empty() && again.refresh_in.is_empty());
    // Back to TRANSIT restores the full export.
    let mut maps = BTreeMap::new();
    maps.insert(a.id, a.route_maps.clone());
    maps.insert(b.id, b.route_maps.clone());
    let change = r.set_policy(Arc::new(transit_policy()), &maps);
    let msgs: Vec<UpdateMessage> = change
        .updates
        .iter()
        .filter(|(p, _)| *p == b.id)
        .flat_map(|(_, m)| m.iter().cloned())
        .collect();
    let mut got = announced(&on_the_wire(&msgs, &b.codec));
    got.sort();
    assert_eq!(got, vec![net("10.244.1.0/24"), net("203.0.113.0/24")]);
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 2);
}
