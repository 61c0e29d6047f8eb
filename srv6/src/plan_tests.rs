//! Tests of the per-node plan: two nodes with two VRFs that use the same
//! prefixes, exports turned into the other node's received routes (through
//! the transposition both ways), route-target import, longest prefix,
//! decapsulation, the routes left out and why.
use super::*;
use crate::config::parse_text;
use crate::sid::SidOwner;
use crate::transpose::rebuild;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn rt(s: &str) -> RouteTarget {
    s.parse().unwrap()
}

/// A node's config: locator `prefix`, VRFs blue (table 10, RT 65001:10)
/// and red (table 20, RT 65001:20), both with the same `network`s.
fn node(prefix: &str, rd_base: u32, networks: &[&str]) -> Srv6Config {
    let nets: String = networks
        .iter()
        .map(|n| format!("  network {n}\n"))
        .collect();
    let text = format!(
        "segment-routing\n srv6\n  locators\n   locator MAIN\n    prefix {prefix}\n   exit\n  exit\n exit\nexit\n\
         vrf blue\n table 10\nexit-vrf\nvrf red\n table 20\nexit-vrf\n\
         router bgp 65001\n segment-routing srv6\n  locator MAIN\n exit\nexit\n\
         router bgp 65001 vrf blue\n address-family ipv4 unicast\n{nets}  sid vpn export auto\n  rd vpn export 65001:{b}\n  rt vpn both 65001:10\n  export vpn\n  import vpn\n exit-address-family\nexit\n\
         router bgp 65001 vrf red\n sid vpn per-vrf export auto\n address-family ipv4 unicast\n{nets}  rd vpn export 65001:{r}\n  rt vpn both 65001:20\n  export vpn\n  import vpn\n exit-address-family\nexit\n",
        b = rd_base,
        r = rd_base + 1,
    );
    parse_text(&text).unwrap_or_else(|(i, e)| panic!("line {}: {e}\n{text}", i + 1))
}

/// What a peer receives of `exports`: the SID rebuilt from the label and
/// the attribute's SID, as the BGP part does.
fn received(exports: &[VpnExport], next_hop: &str) -> Vec<VpnRoute> {
    exports
        .iter()
        .map(|e| VpnRoute {
            rd: e.rd,
            prefix: e.prefix,
            sid: rebuild(e.label, e.advertised_sid, &e.structure).unwrap(),
            behavior: e.behavior,
            rts: e.rts.clone(),
            next_hop: ip(next_hop),
        })
        .collect()
}

fn none() -> BTreeMap<String, Vec<IpNet>> {
    BTreeMap::new()
}

#[test]
fn two_nodes_two_vrfs_same_prefixes_stay_isolated() {
    let a = node("2001:db8:a:1::/64", 10, &["10.1.0.0/24"]);
    let b = node("2001:db8:b:1::/64", 20, &["10.2.0.0/24"]);
    let pa = plan(&a, &[], &none());
    // A exports 10.1.0.0/24 twice: once per VRF, each with its own SID and RD.
    assert_eq!(pa.export.len(), 2);
    let blue = &pa.export[0];
    let red = &pa.export[1];
    assert_eq!((blue.vrf.as_str(), red.vrf.as_str()), ("blue", "red"));
    assert_eq!(blue.prefix, red.prefix);
    assert_ne!(blue.sid, red.sid);
    assert_ne!(blue.rd, red.rd);
    assert_eq!(blue.behavior, Behavior::EndDt4);
    assert_eq!(red.behavior, Behavior::EndDt46);
    assert_eq!(blue.rts, [rt("65001:10")]);

    let pb = plan(&b, &received(&pa.export, "2001:db8:a::1"), &none());
    assert_eq!(pb.encap.len(), 2);
    let to_blue = pb.lookup(10, ip("10.1.0.7")).unwrap();
    let to_red = pb.lookup(20, ip("10.1.0.7")).unwrap();
    assert_eq!(to_blue.sid, blue.sid);
    assert_eq!(to_red.sid, red.sid);
    assert_eq!((to_blue.vrf.as_str(), to_red.vrf.as_str()), ("blue", "red"));
    // No table holds the other VRF's SID.
    assert!(
        pb.encap
            .iter()
            .all(|e| (e.table == 10) == (e.sid == blue.sid))
    );
    // Nothing for a table that is no VRF's, nor outside the prefix.
    assert!(pb.lookup(30, ip("10.1.0.7")).is_none());
    assert!(pb.lookup(10, ip("10.2.0.7")).is_none(), "B's own prefix");

    // A decapsulates its SIDs into the right tables.
    let d = pa.decap_of(blue.sid).unwrap();
    assert_eq!(
        (d.behavior, d.table, d.vrf.as_str()),
        (Behavior::EndDt4, 10, "blue")
    );
    let d = pa.decap_of(red.sid).unwrap();
    assert_eq!((d.behavior, d.table), (Behavior::EndDt46, 20));
    assert_eq!(pa.decap.len(), 2);
    // And the SIDs are the locator's.
    let loc = a.active_locator().unwrap();
    assert!(pa.decap.iter().all(|d| loc.function_of(d.sid).is_some()));
}

#[test]
fn export_carries_the_transposed_function() {
    let a = node("2001:db8:a:1::/64", 10, &["10.1.0.0/24", "10.1.1.0/24"]);
    let pa = plan(&a, &[], &none());
    let loc = a.active_locator().unwrap();
    for e in &pa.export {
        let f = loc.function_of(e.sid).unwrap();
        assert_eq!(
            e.label,
            f << 4,
            "16 function bits fill the label's high bits"
        );
        assert_eq!(e.advertised_sid, ip6("2001:db8:a:1::"));
        assert_eq!(e.structure, SidStructure::function_in_label(40, 24, 16));
        assert_eq!(
            rebuild(e.label, e.advertised_sid, &e.structure).unwrap(),
            e.sid
        );
    }
    let prefixes: Vec<(String, String)> = pa
        .export
        .iter()
        .map(|e| (e.vrf.clone(), e.prefix.to_string()))
        .collect();
    assert_eq!(
        prefixes,
        [
            ("blue".to_string(), "10.1.0.0/24".to_string()),
            ("blue".into(), "10.1.1.0/24".into()),
            ("red".into(), "10.1.0.0/24".into()),
            ("red".into(), "10.1.1.0/24".into()),
        ]
    );
}

fn route(rd: &str, prefix: &str, sid: &str, behavior: Behavior, rts: &[&str]) -> VpnRoute {
    VpnRoute {
        rd: rd.parse().unwrap(),
        prefix: net(prefix),
        sid: ip6(sid),
        behavior,
        rts: rts.iter().map(|r| rt(r)).collect(),
        next_hop: ip("2001:db8:ffff::1"),
    }
}

#[test]
fn import_by_route_target_and_longest_prefix() {
    let b = node("2001:db8:b:1::/64", 20, &[]);
    let routes = [
        route(
            "65009:1",
            "10.0.0.0/16",
            "2001:db8:9:1:1::",
            Behavior::EndDt4,
            &["65001:10"],
        ),
        route(
            "65009:1",
            "10.0.5.0/24",
            "2001:db8:9:1:2::",
            Behavior::EndDt46,
            &["65009:99", "65001:10"],
        ),
        route(
            "65009:1",
            "10.0.0.0/8",
            "2001:db8:9:1:3::",
            Behavior::Other(0xffff),
            &["65001:10"],
        ),
        // No RT of B's: left alone, and not reported.
        route(
            "65009:1",
            "10.7.0.0/24",
            "2001:db8:9:1:4::",
            Behavior::EndDt4,
            &["65001:99"],
        ),
        // IPv6 prefix: B has no ipv6 import.
        route(
            "65009:1",
            "2001:db8:77::/48",
            "2001:db8:9:1:5::",
            Behavior::EndDt6,
            &["65001:10"],
        ),
    ];
    let p = plan(&b, &routes, &none());
    assert_eq!(
        p.lookup(10, ip("10.0.5.1")).unwrap().sid,
        ip6("2001:db8:9:1:2::")
    );
    assert_eq!(
        p.lookup(10, ip("10.0.6.1")).unwrap().sid,
        ip6("2001:db8:9:1:1::")
    );
    assert_eq!(
        p.lookup(10, ip("10.9.0.1")).unwrap().sid,
        ip6("2001:db8:9:1:3::")
    );
    assert!(p.lookup(10, ip("10.7.0.1")).unwrap().prefix == net("10.0.0.0/8"));
    assert!(
        p.lookup(20, ip("10.0.5.1")).is_none(),
        "red imports 65001:20 only"
    );
    assert_eq!(p.encap.len(), 3);
    assert!(p.skipped.is_empty());
    // Without `import vpn`, nothing.
    let mut b2 = b.clone();
    b2.bgp_vrfs.get_mut("blue").unwrap().ipv4.import_vpn = false;
    assert!(plan(&b2, &routes, &none()).encap.is_empty());
}

#[test]
fn routes_left_out_and_why() {
    let b = node("2001:db8:b:1::/64", 20, &["10.2.0.0/24"]);
    let own = b
        .sid(&SidOwner::new("blue", crate::sid::SidScope::Ipv4))
        .unwrap()
        .sid;
    let routes = [
        route(
            "65009:1",
            "10.3.0.0/24",
            "2001:db8:9:1:1::",
            Behavior::EndDt6,
            &["65001:10"],
        ),
        route(
            "65009:1",
            "10.4.0.0/24",
            "2001:db8:9:1:1::",
            Behavior::Other(1),
            &["65001:10"],
        ),
        VpnRoute {
            sid: own,
            ..route(
                "65001:20",
                "10.5.0.0/24",
                "::",
                Behavior::EndDt4,
                &["65001:10"],
            )
        },
        route(
            "65009:1",
            "10.2.0.0/24",
            "2001:db8:9:1:1::",
            Behavior::EndDt4,
            &["65001:10"],
        ),
    ];
    let p = plan(&b, &routes, &none());
    assert!(p.encap.is_empty(), "{:?}", p.encap);
    let why: Vec<(String, SkipReason)> = p
        .skipped
        .iter()
        .map(|s| (s.prefix.to_string(), s.reason))
        .collect();
    assert_eq!(
        why,
        [
            ("10.5.0.0/24".to_string(), SkipReason::OwnSid),
            ("10.2.0.0/24".into(), SkipReason::LocalPrefix),
            ("10.3.0.0/24".into(), SkipReason::WrongBehavior),
            ("10.4.0.0/24".into(), SkipReason::WrongBehavior),
        ]
    );
}

#[test]
fn a_tie_between_rds_does_not_depend_on_the_order() {
    let b = node("2001:db8:b:1::/64", 20, &[]);
    let mut routes = vec![
        route(
            "65009:3",
            "10.0.0.0/24",
            "2001:db8:9:1:3::",
            Behavior::EndDt4,
            &["65001:10"],
        ),
        route(
            "65009:1",
            "10.0.0.0/24",
            "2001:db8:9:1:1::",
            Behavior::EndDt4,
            &["65001:10"],
        ),
        route(
            "192.0.2.1:1",
            "10.0.0.0/24",
            "2001:db8:9:1:2::",
            Behavior::EndDt4,
            &["65001:10"],
        ),
    ];
    let first = plan(&b, &routes, &none());
    assert_eq!(first.encap.len(), 1);
    assert_eq!(first.encap[0].rd.to_string(), "65009:1");
    routes.reverse();
    assert_eq!(plan(&b, &routes, &none()), first);
    routes.swap(0, 1);
    assert_eq!(plan(&b, &routes, &none()), first);
}

#[test]
fn what_an_export_lacks() {
    let mut a = node("2001:db8:a:1::/64", 10, &["10.1.0.0/24"]);
    a.bgp_vrfs.get_mut("blue").unwrap().ipv4.rd = None;
    let p = plan(&a, &[], &none());
    assert_eq!(p.export.len(), 1, "red still exports");
    assert_eq!(p.unexported.len(), 1);
    assert_eq!(p.unexported[0].lacks, "rd vpn export");
    // No locator for BGP: no SIDs, nothing exported, nothing decapsulated.
    let mut no_loc = node("2001:db8:a:1::/64", 10, &["10.1.0.0/24"]);
    no_loc
        .change(|c| {
            c.bgp_locator = None;
            Ok(())
        })
        .unwrap();
    let p = plan(&no_loc, &[], &none());
    assert!(p.export.is_empty() && p.decap.is_empty());
    assert!(p.unexported.iter().all(|u| u.lacks.contains("locator")));
    // A VRF without a table.
    let mut no_table = node("2001:db8:a:1::/64", 10, &["10.1.0.0/24"]);
    no_table
        .change(|c| {
            c.vrfs.get_mut("red").unwrap().table = None;
            Ok(())
        })
        .unwrap();
    let p = plan(&no_table, &[], &none());
    assert_eq!(p.export.len(), 1);
    assert_eq!(p.decap.len(), 1, "red's SID is freed");
    assert!(
        p.unexported
            .iter()
            .any(|u| u.vrf == "red" && u.lacks.contains("table"))
    );
}

#[test]
fn redistributed_prefixes_export_only_with_redistribute() {
    let mut a = node("2001:db8:a:1::/64", 10, &["10.1.0.0/24"]);
    let mut extra = BTreeMap::new();
    extra.insert(
        "blue".to_string(),
        vec![
            net("10.9.0.0/24"),
            net("2001:db8:99::/48"),
            net("10.1.0.0/24"),
        ],
    );
    assert_eq!(
        plan(&a, &[], &extra).export.len(),
        2,
        "no redistribute line"
    );
    a.bgp_vrfs
        .get_mut("blue")
        .unwrap()
        .ipv4
        .redistribute
        .push(crate::model::Redistribute::Connected);
    let p = plan(&a, &[], &extra);
    let blue: Vec<String> = p
        .export
        .iter()
        .filter(|e| e.vrf == "blue")
        .map(|e| e.prefix.to_string())
        .collect();
    assert_eq!(blue, ["10.1.0.0/24", "10.9.0.0/24"], "IPv4 only, once each");
}

#[test]
fn the_plan_serialises() {
    let a = node("2001:db8:a:1::/64", 10, &["10.1.0.0/24"]);
    let p = plan(&a, &[], &none());
    let j = serde_json::to_string(&p).unwrap();
    assert!(j.contains("\"rd\":\"65001:10\""), "{j}");
    let back: Srv6Plan = serde_json::from_str(&j).unwrap();
    assert_eq!(back, p);
}
