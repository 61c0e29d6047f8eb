//! Tests of the `neighbor` lines through the whole configuration.
use std::net::IpAddr;

use tern_bgp::config::neighbor::GTSM_WITH_MULTIHOP;

use super::{Config, Family};

const GROUPS: &str = "\
router bgp 65001
 bgp listen limit 10
 neighbor FABRIC peer-group
 neighbor FABRIC remote-as external
 neighbor FABRIC timers 1 3
 neighbor FABRIC ttl-security hops 1
 neighbor RACK peer-group
 neighbor RACK remote-as 65100
 neighbor OWNAS peer-group
 neighbor OWNAS timers 2 6
 bgp listen range 192.0.2.0/24 peer-group FABRIC
 bgp listen range 2001:db8::/64 peer-group FABRIC
 bgp listen range 192.0.2.128/25 peer-group RACK
 neighbor 198.51.100.1 peer-group FABRIC
 neighbor 198.51.100.1 description spine one
 neighbor 198.51.100.2 remote-as 65200
 neighbor 198.51.100.2 peer-group OWNAS
 neighbor 198.51.100.3 remote-as 65300
 neighbor 198.51.100.3 ebgp-multihop 3
 !
 address-family ipv4 unicast
  aggregate-address 10.0.0.0/8 as-set summary-only
  aggregate-address 10.1.0.0/16
  neighbor FABRIC route-map FROM-FABRIC in
  neighbor OWNAS route-map FROM-OWN in
  neighbor OWNAS maximum-prefix 500
  neighbor 198.51.100.2 route-map MINE in
 exit-address-family
 !
 address-family ipv6 unicast
  aggregate-address 2001:db8:100::/48 summary-only
  neighbor FABRIC activate
  neighbor OWNAS activate
 exit-address-family
exit
";

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn peer_groups_and_ranges_parse_and_round_trip() {
    let c = Config::parse("t", GROUPS).unwrap_or_else(|e| panic!("{e:?}"));
    let text = c.render();
    let again = Config::parse("running", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(again, c, "{text}");
    assert_eq!(again.render(), text);
    let b = c.bgp.expect("bgp");
    assert_eq!(b.peer_groups.len(), 3);
    assert_eq!(b.listen_limit(), 10);
    assert_eq!(b.listen_group(addr("192.0.2.7")), Some("FABRIC"));
    assert_eq!(
        b.listen_group(addr("192.0.2.200")),
        Some("RACK"),
        "longest match"
    );
    assert_eq!(b.listen_group(addr("2001:db8::9")), Some("FABRIC"));
    assert_eq!(b.listen_group(addr("203.0.113.1")), None);
    let aggs: Vec<_> = b.aggregates(Family::Ipv4Unicast).collect();
    assert_eq!(aggs.len(), 2);
    assert!(aggs[0].1.as_set && aggs[0].1.summary_only);
    assert!(!aggs[1].1.as_set && !aggs[1].1.summary_only);
}

#[test]
fn members_inherit_what_they_do_not_set() {
    let b = Config::parse("t", GROUPS).unwrap().bgp.unwrap();
    let r = b.resolved();
    let one = &r.neighbors[&addr("198.51.100.1")];
    assert_eq!(
        one.remote_as,
        Some(tern_bgp::config::model::RemoteAsConfig::External)
    );
    assert_eq!(one.timers(), (1, 3));
    assert_eq!(one.ttl_security, Some(1));
    assert_eq!(one.description.as_deref(), Some("spine one"));
    let two = addr("198.51.100.2");
    assert_eq!(
        r.neighbors[&two].remote_as,
        Some(tern_bgp::config::model::RemoteAsConfig::Asn(65200)),
        "own remote-as wins"
    );
    assert_eq!(
        r.route_maps(two, Family::Ipv4Unicast),
        (Some("MINE"), None),
        "own route-map wins"
    );
    assert_eq!(r.maximum_prefix(two, Family::Ipv4Unicast), Some(500));
    assert_eq!(r.neighbors[&two].timers(), (2, 6));
    assert!(
        r.is_active(two, Family::Ipv6Unicast),
        "group activated ipv6"
    );
    let three = &r.neighbors[&addr("198.51.100.3")];
    assert_eq!(three.ebgp_multihop, Some(3));
    // A dynamic neighbor is a passive member with the group's settings.
    let mut r = r;
    let d = r.add_dynamic(addr("192.0.2.9"), "FABRIC").expect("dynamic");
    assert!(d.passive);
    assert_eq!(d.ttl_security, Some(1));
    assert_eq!(
        r.route_maps(addr("192.0.2.9"), Family::Ipv4Unicast),
        (Some("FROM-FABRIC"), None)
    );
    assert!(r.is_active(addr("192.0.2.9"), Family::Ipv6Unicast));
}

#[test]
fn group_lines_undo() {
    let mut c = Config::parse("t", GROUPS).unwrap();
    let mut s = super::ConfigSession::default();
    for line in [
        "router bgp 65001",
        "no neighbor 198.51.100.2 peer-group OWNAS",
        "no bgp listen range 192.0.2.128/25 peer-group RACK",
        "no bgp listen limit",
        "no neighbor FABRIC ttl-security hops 1",
        "no neighbor FABRIC peer-group",
    ] {
        s.apply(&mut c, line)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    let b = c.bgp.as_ref().unwrap();
    assert!(!b.peer_groups.contains_key("FABRIC"));
    assert!(
        !b.neighbors.contains_key(&addr("198.51.100.1")),
        "member without its own remote-as goes with the group"
    );
    assert_eq!(b.neighbors[&addr("198.51.100.2")].peer_group, None);
    assert!(b.listen_ranges.is_empty());
    assert_eq!(b.listen_limit, None);
    assert!(
        b.families
            .values()
            .all(|af| !af.groups.contains_key("FABRIC"))
    );
    let text = c.render();
    assert_eq!(Config::parse("r", &text).unwrap(), c, "{text}");
}

#[test]
fn no_neighbor_with_its_remote_as_removes_it_as_frr_does() {
    let text = "router bgp 65001\n neighbor 192.0.2.2 remote-as 65002\n neighbor 2001:db8::2 remote-as internal\n address-family ipv4 unicast\n  neighbor 192.0.2.2 route-map IN in\n exit-address-family\n";
    let mut c = Config::parse("t", text).unwrap();
    let mut s = super::ConfigSession::default();
    for line in [
        "router bgp 65001",
        // The AS is not compared, as in FRR.
        "no neighbor 192.0.2.2 remote-as 65099",
        "no neighbor 2001:db8::2 remote-as internal",
    ] {
        s.apply(&mut c, line)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    let b = c.bgp.as_ref().unwrap();
    assert!(b.neighbors.is_empty());
    assert!(b.families.values().all(|af| af.neighbors.is_empty()));
    let again = s.apply(&mut c, "no neighbor 192.0.2.2 remote-as 65002");
    assert_eq!(
        again,
        Err("neighbor 192.0.2.2 is not configured".to_owned())
    );
}

#[test]
fn a_link_local_neighbor_without_its_interface_is_refused() {
    for line in [
        "neighbor fe80::2 remote-as 65002",
        "neighbor fe80::2 peer-group TORS",
    ] {
        let text = format!("router bgp 65001\n neighbor TORS peer-group\n {line}\n");
        let errs = Config::parse("t", &text).expect_err(line);
        assert!(
            format!("{errs:?}").contains("link-local address needs its interface"),
            "{line}: {errs:?}"
        );
    }
}

#[test]
fn bad_group_lines_are_refused() {
    let cases = [
        (
            "neighbor NOPE remote-as 65000",
            "not a configured peer-group",
        ),
        ("neighbor 192.0.2.1 peer-group NOPE", "not configured"),
        (
            "neighbor G peer-group\n neighbor 192.0.2.1 peer-group G",
            "Specify remote-as",
        ),
        (
            "bgp listen range 192.0.2.0/24 peer-group NOPE",
            "Configure the peer-group first",
        ),
        (
            "neighbor G peer-group\n neighbor H peer-group\n bgp listen range 192.0.2.0/24 peer-group G\n bgp listen range 192.0.2.0/24 peer-group H",
            "already exists",
        ),
        ("bgp listen limit 0", "Invalid limit"),
        (
            "neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 ebgp-multihop\n neighbor 192.0.2.1 ttl-security hops 2",
            GTSM_WITH_MULTIHOP,
        ),
        (
            "neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 ttl-security hops 2\n neighbor 192.0.2.1 ebgp-multihop 2",
            GTSM_WITH_MULTIHOP,
        ),
        (
            "neighbor G peer-group\n neighbor G ebgp-multihop\n neighbor G remote-as 1\n neighbor 192.0.2.1 peer-group G\n neighbor 192.0.2.1 ttl-security hops 1",
            GTSM_WITH_MULTIHOP,
        ),
        (
            "neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 ttl-security hops 255",
            "invalid hop count",
        ),
        (
            "neighbor G peer-group\n neighbor G remote-as 1\n neighbor 192.0.2.1 peer-group G\n neighbor 192.0.2.1 remote-as 2",
            "cannot configure remote-as for member",
        ),
        ("neighbor bad/name peer-group", "invalid peer-group name"),
        (
            "address-family ipv4 unicast\n  neighbor NOPE activate",
            "neither a neighbor address nor a configured peer-group",
        ),
        (
            "address-family ipv4 unicast\n  aggregate-address 10.0.0.1/8",
            "host bits",
        ),
        (
            "address-family ipv4 unicast\n  aggregate-address 10.0.0.0/8 route-map X",
            "not supported",
        ),
        (
            "address-family ipv6 unicast\n  aggregate-address 10.0.0.0/8",
            "not an ipv6 unicast prefix",
        ),
    ];
    for (body, want) in cases {
        let text = format!("router bgp 65001\n {body}\n");
        let errs = Config::parse("t", &text).expect_err(&text);
        assert!(
            errs.iter().any(|e| e.reason.contains(want)),
            "{text}: {errs:?}"
        );
    }
}

#[test]
fn a_refused_line_changes_nothing() {
    let mut c = Config::parse("t", GROUPS).unwrap();
    let before = c.clone();
    let mut s = super::ConfigSession::default();
    s.apply(&mut c, "router bgp 65001").unwrap();
    for bad in [
        "neighbor 198.51.100.1 ebgp-multihop",
        "neighbor 198.51.100.9 peer-group NOPE",
        "bgp listen range 192.0.2.0/24 peer-group RACK",
        "neighbor OWNAS remote-as 65999",
    ] {
        assert!(s.apply(&mut c, bad).is_err(), "{bad}");
        assert_eq!(c, before, "{bad}");
    }
}
