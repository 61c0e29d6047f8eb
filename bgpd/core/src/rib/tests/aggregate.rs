//! aggregate-address: origination while a more-specific is in the Loc-RIB,
//! the attributes FRR gives an aggregate, summary-only suppression (also
//! when changed live) and the AS_SET of `as-set`.

use std::collections::BTreeMap;

use tern_bgp_wire::{Aggregator, AsSegment, AsSegmentType, Community, attr_type};

use super::*;
use crate::config::AggregateConfig;

const AGG: &str = "10.0.0.0/8";

fn aggs(list: &[(&str, bool, bool)]) -> BTreeMap<IpNet, AggregateConfig> {
    list.iter()
        .map(|(p, summary_only, as_set)| {
            (
                net(p),
                AggregateConfig {
                    summary_only: *summary_only,
                    as_set: *as_set,
                },
            )
        })
        .collect()
}

fn attr(m: &UpdateMessage, code: u8) -> Option<Attribute> {
    m.attribute(code).map(|a| a.value.clone())
}

/// The UPDATEs for peer `to` in `c`, as it decodes them.
fn wire(c: &Changes, to: &PeerInfo) -> Vec<UpdateMessage> {
    on_the_wire(&updates_for(c, u8::try_from(to.id.0).unwrap()), &to.codec)
}

/// The UPDATE announcing `prefix` among `msgs`.
fn announcing(msgs: &[UpdateMessage], prefix: &str) -> UpdateMessage {
    msgs.iter()
        .find(|m| announced(std::slice::from_ref(m)).contains(&net(prefix)))
        .cloned()
        .unwrap_or_else(|| panic!("{prefix} not announced in {msgs:?}"))
}

#[test]
fn aggregate_follows_its_contributors() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    assert!(
        r.set_aggregates(V4, &aggs(&[(AGG, false, false)]))
            .is_empty()
    );
    assert!(r.route(V4, net(AGG)).is_none(), "nothing to aggregate yet");
    // A route outside the aggregate, and the aggregate's own prefix, do not
    // contribute.
    let c = r.update_from_peer(
        a.id,
        &announce(&["11.0.0.0/16", AGG], attrs(&[65001], "192.0.2.1")),
    );
    assert!(r.route(V4, net(AGG)).unwrap().paths.len() == 1);
    assert_eq!(announced(&wire(&c, &b)).len(), 2);
    let c = r.update_from_peer(
        a.id,
        &announce(&["10.1.0.0/16"], attrs(&[65001, 7], "192.0.2.1")),
    );
    // The more-specific and the aggregate go to b (no summary-only); the
    // aggregate beats the learned 10.0.0.0/8 (a local path) and leaves the
    // FIB: Tern does not install it.
    let msgs = wire(&c, &b);
    let got = announced(&msgs);
    assert!(
        got.contains(&net("10.1.0.0/16")) && got.contains(&net(AGG)),
        "{got:?}"
    );
    assert!(
        c.fib
            .iter()
            .any(|f| f.prefix == net(AGG) && f.nexthops.is_empty())
    );
    let m = announcing(&msgs, AGG);
    assert_eq!(
        attr(&m, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![LOCAL_AS])))
    );
    assert_eq!(
        attr(&m, attr_type::ATOMIC_AGGREGATE),
        Some(Attribute::AtomicAggregate)
    );
    assert_eq!(
        attr(&m, attr_type::AGGREGATOR),
        Some(Attribute::Aggregator(Aggregator {
            asn: LOCAL_AS,
            address: ROUTER_ID
        }))
    );
    assert_eq!(
        attr(&m, attr_type::ORIGIN),
        Some(Attribute::Origin(Origin::Igp))
    );
    // Sent back to a as well: it came from no peer.
    assert!(announced(&wire(&c, &a)).contains(&net(AGG)));
    // The last contributor goes: the aggregate goes, the learned /8 is
    // best again and installed.
    let c = r.update_from_peer(a.id, &withdraw(&["10.1.0.0/16"]));
    assert!(
        c.fib
            .iter()
            .any(|f| f.prefix == net(AGG) && *f.nexthops == [ip("192.0.2.1")])
    );
    let view = r.route(V4, net(AGG)).unwrap();
    assert_eq!(view.paths.len(), 1);
    assert!(matches!(view.paths[0].source, PathSource::Peer { id, .. } if id == a.id));
    // With the learned /8 gone too, nothing is left.
    r.update_from_peer(a.id, &withdraw(&[AGG]));
    assert!(r.route(V4, net(AGG)).is_none());
}

#[test]
fn local_routes_contribute_and_peer_down_withdraws() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    r.set_aggregates(V4, &aggs(&[(AGG, false, false)]));
    let c = r.originate(V4, net("10.9.0.0/24"));
    assert!(announced(&wire(&c, &b)).contains(&net(AGG)));
    assert!(
        c.fib.is_empty(),
        "neither the local route nor the aggregate is installed"
    );
    let c = r.update_from_peer(
        a.id,
        &announce(&["10.2.0.0/16"], attrs(&[65001], "192.0.2.1")),
    );
    assert!(
        !announced(&wire(&c, &b)).contains(&net(AGG)),
        "already sent"
    );
    let c = r.withdraw_local(V4, net("10.9.0.0/24"));
    assert!(
        !withdrawn(&wire(&c, &b)).contains(&net(AGG)),
        "10.2/16 still contributes"
    );
    let c = r.peer_down(a.id);
    let w = withdrawn(&wire(&c, &b));
    assert!(
        w.contains(&net(AGG)) && w.contains(&net("10.2.0.0/16")),
        "{w:?}"
    );
    assert!(r.route(V4, net(AGG)).is_none());
}

#[test]
fn summary_only_hides_the_more_specifics() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    r.set_aggregates(V4, &aggs(&[(AGG, true, false)]));
    let c = r.update_from_peer(
        a.id,
        &announce(
            &["10.1.0.0/16", "10.2.0.0/16", "11.0.0.0/8"],
            attrs(&[65001], "192.0.2.1"),
        ),
    );
    let mut got = announced(&wire(&c, &b));
    got.sort();
    assert_eq!(got, vec![net(AGG), net("11.0.0.0/8")]);
    // Still in the Loc-RIB and the FIB.
    assert!(r.route(V4, net("10.1.0.0/16")).is_some());
    assert!(
        c.fib
            .iter()
            .any(|f| f.prefix == net("10.1.0.0/16") && !f.nexthops.is_empty())
    );
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 2);
    // A session that comes up later gets the aggregate only.
    let d = peer(3, 65003);
    let mut got = announced(&on_the_wire(&r.peer_up(&d), &d.codec));
    got.sort();
    assert_eq!(got, vec![net(AGG), net("11.0.0.0/8")]);
    // A withdrawn more-specific is not withdrawn from b (never sent).
    let c = r.update_from_peer(a.id, &withdraw(&["10.2.0.0/16"]));
    assert!(wire(&c, &b).is_empty(), "{:?}", c.updates);
    // summary-only off, live: the more-specific is announced.
    let c = r.set_aggregates(V4, &aggs(&[(AGG, false, false)]));
    assert_eq!(announced(&wire(&c, &b)), vec![net("10.1.0.0/16")]);
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 3);
    // And on again: withdrawn.
    let c = r.set_aggregates(V4, &aggs(&[(AGG, true, false)]));
    assert_eq!(withdrawn(&wire(&c, &b)), vec![net("10.1.0.0/16")]);
    // The aggregate removed from the config: withdrawn, the more-specific
    // announced again.
    let c = r.set_aggregates(V4, &BTreeMap::new());
    let msgs = wire(&c, &b);
    assert_eq!(withdrawn(&msgs), vec![net(AGG)]);
    assert_eq!(announced(&msgs), vec![net("10.1.0.0/16")]);
    assert!(r.route(V4, net(AGG)).is_none());
    assert_eq!(r.peer_counts(b.id, V4).unwrap().advertised, 2);
}

#[test]
fn as_set_collects_the_contributors_ases() {
    let mut r = rib();
    let (a, b, c3) = (peer(1, 65001), peer(2, 65002), peer(3, 65003));
    up(&mut r, &a);
    up(&mut r, &b);
    up(&mut r, &c3);
    r.set_aggregates(V4, &aggs(&[(AGG, false, true)]));
    let mut x = attrs(&[65001, 7, 9], "192.0.2.1");
    x.push(Attribute::Communities(vec![Community::new(65001, 1)]));
    r.update_from_peer(a.id, &announce(&["10.1.0.0/16"], x));
    let mut y = attrs(&[65003, 8], "192.0.2.3");
    y[0] = Attribute::Origin(Origin::Incomplete);
    y.push(Attribute::Communities(vec![Community::new(65003, 3)]));
    let c = r.update_from_peer(c3.id, &announce(&["10.2.0.0/16"], y));
    let m = announcing(&wire(&c, &b), AGG);
    // No common leading AS: all in one AS_SET, after our own AS.
    assert_eq!(
        attr(&m, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath {
            segments: vec![
                AsSegment {
                    kind: AsSegmentType::Sequence,
                    asns: vec![LOCAL_AS]
                },
                AsSegment {
                    kind: AsSegmentType::Set,
                    asns: vec![7, 8, 9, 65001, 65003]
                },
            ]
        }))
    );
    assert_eq!(attr(&m, attr_type::ATOMIC_AGGREGATE), None);
    assert_eq!(
        attr(&m, attr_type::ORIGIN),
        Some(Attribute::Origin(Origin::Incomplete)),
        "the worst origin of the contributors"
    );
    assert_eq!(
        attr(&m, attr_type::COMMUNITIES),
        Some(Attribute::Communities(vec![
            Community::new(65001, 1),
            Community::new(65003, 3)
        ]))
    );
    // a's AS is in the set: a's own loop detection would drop it; c3 too.
    // One contributor left: its path as it is.
    let c = r.update_from_peer(c3.id, &withdraw(&["10.2.0.0/16"]));
    let m = announcing(&wire(&c, &b), AGG);
    assert_eq!(
        attr(&m, attr_type::AS_PATH),
        Some(Attribute::AsPath(AsPath::from_sequence(vec![
            LOCAL_AS, 65001, 7, 9
        ])))
    );
}

#[test]
fn as_set_path_keeps_the_common_sequence() {
    let p = |v: &[u32]| AsPath::from_sequence(v.to_vec());
    let a = p(&[65000, 65100, 1]);
    let b = p(&[65000, 65100, 2, 1]);
    let got = super::super::aggregate::aggregate_as_path([&a, &b]);
    assert_eq!(
        got.segments,
        vec![
            AsSegment {
                kind: AsSegmentType::Sequence,
                asns: vec![65000, 65100]
            },
            AsSegment {
                kind: AsSegmentType::Set,
                asns: vec![1, 2]
            }
        ]
    );
    let empty = AsPath::default();
    assert_eq!(
        super::super::aggregate::aggregate_as_path([&empty, &a]),
        AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentType::Set,
                asns: vec![1, 65000, 65100]
            }]
        },
        "a local contributor has no AS: nothing in common"
    );
    assert_eq!(super::super::aggregate::aggregate_as_path([&empty]), empty);
}

#[test]
fn ipv6_aggregates_are_separate() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    r.set_aggregates(V6, &aggs(&[("2001:db8::/32", true, false)]));
    let c = r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1"),
    );
    assert_eq!(announced(&wire(&c, &b)), vec![net("2001:db8::/32")]);
    // An IPv4 route never contributes to an IPv6 aggregate.
    assert!(r.is_suppressed(V6, &net("2001:db8:1::/48")));
    assert!(!r.is_suppressed(V4, &net("10.0.0.0/24")));
}

#[test]
fn an_aggregate_never_keeps_a_larger_one_alive() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    r.set_aggregates(
        V4,
        &aggs(&[(AGG, false, false), ("10.1.0.0/16", false, false)]),
    );
    let c = r.update_from_peer(
        a.id,
        &announce(&["10.1.1.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    let mut got = announced(&wire(&c, &b));
    got.sort();
    assert_eq!(got, vec![net(AGG), net("10.1.0.0/16"), net("10.1.1.0/24")]);
    let c = r.update_from_peer(a.id, &withdraw(&["10.1.1.0/24"]));
    let mut gone = withdrawn(&wire(&c, &b));
    gone.sort();
    assert_eq!(
        gone,
        vec![net(AGG), net("10.1.0.0/16"), net("10.1.1.0/24")],
        "the /16 aggregate does not contribute to the /8"
    );
    assert_eq!(r.prefix_count(V4), 0);
}

#[test]
fn a_network_line_for_the_aggregate_prefix_coexists() {
    let mut r = rib();
    let b = peer(2, 65002);
    up(&mut r, &b);
    r.set_aggregates(V4, &aggs(&[(AGG, false, false)]));
    r.originate(V4, net(AGG));
    let c = r.originate(V4, net("10.3.0.0/16"));
    assert_eq!(r.route(V4, net(AGG)).unwrap().paths.len(), 2);
    // The network path stays best: nothing new for b about 10.0.0.0/8.
    assert!(!announced(&wire(&c, &b)).contains(&net(AGG)));
    let c = r.withdraw_local(V4, net("10.3.0.0/16"));
    assert!(!withdrawn(&wire(&c, &b)).contains(&net(AGG)));
    assert_eq!(r.route(V4, net(AGG)).unwrap().paths.len(), 1);
}
