//! Tests of the `policy` lines through the whole configuration.
use super::{Config, ConfigSession, Mode};

const TEXT: &str = "\
ip prefix-list PODS permit 10.244.0.0/16 le 24
ip prefix-list PODS deny any
ip prefix-list LOOPS seq 10 permit 198.51.100.0/24 ge 32
ipv6 prefix-list PODS6 seq 5 permit 2001:db8:244::/48 ge 64 le 64
bgp community-list standard GOLD permit 65001:100 no-export
bgp community-list 7 seq 10 deny 65001:666
route-map TOR-IN permit 10
 match community GOLD exact-match
 set local-preference 300
 set community 65000:1 65000:2 additive
exit
route-map TOR-IN deny 20
 match ip address prefix-list PODS
!
route-map TOR-OUT permit 10
 match ipv6 address prefix-list PODS6
 set as-path prepend 65001 65001
 set metric 20
 set community none
exit
router bgp 65001
 neighbor 192.0.2.0 remote-as 65000
 address-family ipv4 unicast
  neighbor 192.0.2.0 route-map TOR-IN in
  neighbor 192.0.2.0 route-map TOR-OUT out
 exit-address-family
exit
";

#[test]
fn policy_lines_parse_and_round_trip() {
    let c = Config::parse("t", TEXT).unwrap_or_else(|e| panic!("{e:?}"));
    let p = &c.policy;
    let pods = &p.prefix_lists_v4["PODS"];
    assert_eq!(
        pods.entries.keys().copied().collect::<Vec<_>>(),
        vec![5, 10]
    );
    assert!(pods.entries[&10].any);
    assert_eq!(p.prefix_lists_v4["LOOPS"].entries[&10].ge, Some(32));
    assert_eq!(p.prefix_lists_v6["PODS6"].entries[&5].le, Some(64));
    assert_eq!(p.community_lists["GOLD"].entries[&5].communities.len(), 2);
    assert!(p.community_lists.contains_key("7"));
    let m = &p.route_maps["TOR-IN"];
    assert_eq!(m.entries[&10].set_local_pref, Some(300));
    assert_eq!(m.entries[&10].match_community, Some(("GOLD".into(), true)));
    assert_eq!(
        p.route_maps["TOR-OUT"].entries[&10].set_prepend,
        Some(vec![65001, 65001])
    );
    let bgp = c.bgp.as_ref().unwrap();
    let tor = "192.0.2.0".parse().unwrap();
    assert_eq!(
        bgp.route_maps(tor, tern_bgp::Family::Ipv4Unicast),
        (Some("TOR-IN"), Some("TOR-OUT"))
    );
    let text = c.render();
    let again = Config::parse("running", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(again, c, "{text}");
    assert_eq!(again.render(), text);
    assert!(text.contains("ip prefix-list PODS seq 5 permit 10.244.0.0/16 le 24\n"));
    assert!(text.contains("ip prefix-list PODS seq 10 deny any\n"));
    assert!(text.contains("bgp community-list standard GOLD seq 5 permit 65001:100 no-export\n"));
    assert!(text.contains("route-map TOR-IN permit 10\n match community GOLD exact-match\n"));
    assert!(text.contains("  neighbor 192.0.2.0 route-map TOR-IN in\n"));
}

#[test]
fn route_map_mode_and_removal() {
    let mut c = Config::default();
    let mut s = ConfigSession::default();
    s.apply(&mut c, "route-map X permit 10").unwrap();
    assert_eq!(s.mode(), &Mode::RouteMap("X".into(), 10));
    assert_eq!(s.mode().prompt_name(), "config-route-map");
    s.apply(&mut c, "set metric 5").unwrap();
    s.apply(&mut c, "no set metric").unwrap();
    assert_eq!(c.policy.route_maps["X"].entries[&10].set_metric, None);
    // A top-level line leaves the mode, as in vtysh.
    s.apply(&mut c, "hostname n1").unwrap();
    assert_eq!(s.mode(), &Mode::Config);
    s.apply(&mut c, "route-map X deny 20").unwrap();
    s.apply(&mut c, "exit").unwrap();
    s.apply(&mut c, "no route-map X permit 10").unwrap();
    assert_eq!(c.policy.route_maps["X"].entries.len(), 1);
    s.apply(&mut c, "no route-map X").unwrap();
    assert!(c.policy.route_maps.is_empty());
    s.apply(&mut c, "ip prefix-list L permit 10.0.0.0/8")
        .unwrap();
    s.apply(&mut c, "ip prefix-list L permit 10.0.0.0/8")
        .unwrap();
    assert_eq!(
        c.policy.prefix_lists_v4["L"].entries.len(),
        1,
        "same entry twice"
    );
    s.apply(&mut c, "no ip prefix-list L permit 10.0.0.0/8")
        .unwrap();
    assert!(c.policy.prefix_lists_v4.is_empty());
}

#[test]
fn bad_policy_lines_are_refused_with_a_reason() {
    let cases = [
        (
            "ip prefix-list L permit 10.0.0.0/8 ge 8",
            "make sure: len < ge-value <= le-value",
        ),
        (
            "ip prefix-list L permit 10.0.0.0/8 ge 24 le 16",
            "make sure",
        ),
        (
            "ip prefix-list L permit 10.0.0.0/8 le 33",
            "le needs a length (0..32)",
        ),
        ("ip prefix-list L permit 10.0.0.1/8", "host bits"),
        (
            "ip prefix-list L permit 2001:db8::/32",
            "not an IPv4 prefix",
        ),
        (
            "ip prefix-list L allow 10.0.0.0/8",
            "expected permit or deny",
        ),
        (
            "ip prefix-list L seq 0 permit 10.0.0.0/8",
            "invalid sequence number",
        ),
        (
            "ip prefix-list L/1 permit 10.0.0.0/8",
            "invalid prefix-list name",
        ),
        ("no ip prefix-list NOPE", "not configured"),
        (
            "bgp community-list standard C permit 70000:1",
            "invalid community",
        ),
        (
            "bgp community-list expanded C permit .*",
            "not supported yet",
        ),
        ("route-map X allow 10", "expected permit or deny"),
        ("route-map X permit 70000", "1..65535"),
        ("route-map X permit", "usage: route-map"),
        (
            "route-map X permit 10\n set local-preference high",
            "invalid local-preference",
        ),
        (
            "route-map X permit 10\n set ip next-hop 192.0.2.1",
            "unsupported set",
        ),
        (
            "route-map X permit 10\n match as-path A",
            "unsupported match",
        ),
        (
            "route-map X permit 10\n set as-path prepend 0",
            "AS 0 is reserved",
        ),
        (
            "router bgp 65001\n neighbor 192.0.2.0 remote-as 65000\n address-family ipv4 unicast\n  neighbor 192.0.2.0 route-map X sideways",
            "in or out",
        ),
        (
            "router bgp 65001\n address-family ipv4 unicast\n  neighbor 192.0.2.9 route-map X in",
            "is not configured",
        ),
    ];
    for (text, want) in cases {
        let errs = Config::parse("t", text).expect_err(text);
        assert!(
            errs.iter().any(|e| e.reason.contains(want)),
            "{text}: {errs:?}"
        );
    }
}
