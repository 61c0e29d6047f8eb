//! Two nodes with VRFs red and blue whose pods use the same addresses: the
//! prefixes each VRF publishes, and each node's datapath state from the
//! other's exports.
use std::net::IpAddr;

use tern_srv6::{VpnExport, VpnRoute, plan, rebuild};

use super::*;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// Node `n`'s config: locator fc00:0:N::/48, red in table 100 and blue in
/// table 200, each exporting its pods (redistribute kernel) with its own
/// RD and route target, End.DT46 per VRF.
fn node(n: u32) -> Srv6Config {
    let mut text = format!(
        "segment-routing\n srv6\n  locators\n   locator MAIN\n    prefix fc00:0:{n}::/48\n   exit\n  exit\n exit\nexit\n\
         vrf red\n table 100\nexit-vrf\nvrf blue\n table 200\nexit-vrf\n\
         router bgp 6500{n}\n segment-routing srv6\n  locator MAIN\n exit\nexit\n"
    );
    for (vrf, id) in [("red", 100), ("blue", 200)] {
        text.push_str(&format!(
            "router bgp 6500{n} vrf {vrf}\n sid vpn per-vrf export auto\n"
        ));
        for af in ["ipv4", "ipv6"] {
            text.push_str(&format!(
                " address-family {af} unicast\n  redistribute kernel\n  rd vpn export 6500{n}:{id}\n  rt vpn both 65000:{id}\n  export vpn\n  import vpn\n exit-address-family\n"
            ));
        }
        text.push_str("exit\n");
    }
    tern_srv6::parse_text(&text).unwrap_or_else(|(i, e)| panic!("line {}: {e}\n{text}", i + 1))
}

fn pod(cid: &str, vrf: Option<&str>, addrs: &[&str]) -> Endpoint {
    Endpoint {
        container_id: cid.into(),
        ifname: "eth0".into(),
        netns: format!("/run/netns/{cid}"),
        host_ifname: format!("tern{cid}"),
        host_ifindex: 10,
        pod_mac: "02:00:00:00:00:01".into(),
        host_mac: "02:00:00:00:00:02".into(),
        addresses: addrs.iter().map(|a| net(a)).collect(),
        mtu: 1500,
        namespace: None,
        network: None,
        vrf: vrf.map(str::to_owned),
    }
}

/// Node `n`'s pods: red .2 and .3, blue .2 (the same address as red's
/// first), a main-table pod .2 too and one in a VRF this node lacks.
fn pods(n: u32) -> Vec<Endpoint> {
    let a = |h: u32| {
        [
            format!("10.240.{n}.{h}/32"),
            format!("fd00:240:{n}::{h}/128"),
        ]
    };
    let owned: Vec<(String, Option<&str>, [String; 2])> = vec![
        ("r1".into(), Some("red"), a(2)),
        ("r2".into(), Some("red"), a(3)),
        ("b1".into(), Some("blue"), a(2)),
        ("m1".into(), None, a(2)),
        ("g1".into(), Some("green"), a(9)),
    ];
    owned
        .iter()
        .map(|(c, v, ad)| pod(c, *v, &[&ad[0], &ad[1]]))
        .collect()
}

/// What a peer receives of `exports` (as the BGP part rebuilds the SID).
fn received(exports: &[VpnExport], next_hop: &str) -> Vec<VpnRoute> {
    exports
        .iter()
        .map(|e| VpnRoute {
            rd: e.rd,
            prefix: e.prefix,
            sid: rebuild(e.label, e.advertised_sid, &e.structure).unwrap(),
            behavior: e.behavior,
            rts: e.rts.clone(),
            next_hop: next_hop.parse::<IpAddr>().unwrap(),
        })
        .collect()
}

#[test]
fn each_vrf_publishes_its_pods_host_routes() {
    let cfg = node(1);
    let p = vrf_prefixes(&cfg, &pods(1));
    let strs = |v: &str| -> Vec<String> { p[v].iter().map(|n| n.to_string()).collect() };
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        ["blue", "red"],
        "green is no VRF here"
    );
    assert_eq!(
        strs("red"),
        [
            "10.240.1.2/32",
            "10.240.1.3/32",
            "fd00:240:1::2/128",
            "fd00:240:1::3/128"
        ]
    );
    assert_eq!(strs("blue"), ["10.240.1.2/32", "fd00:240:1::2/128"]);
    // No pods: the VRF is still there, empty (its exports are withdrawn).
    let empty = vrf_prefixes(&cfg, &[]);
    assert!(empty["red"].is_empty() && empty["blue"].is_empty());
    assert_eq!(vrf_table(&cfg, "red"), Ok(100));
    assert!(
        vrf_table(&cfg, "green")
            .unwrap_err()
            .contains("not configured")
    );
}

#[test]
fn the_other_nodes_exports_become_sr_policies_per_vrf_table() {
    let (c1, c2) = (node(1), node(2));
    let p2 = plan(&c2, &[], &vrf_prefixes(&c2, &pods(2)));
    let routes = received(&p2.export, "fd00:250::2");
    let p1 = plan(&c1, &routes, &vrf_prefixes(&c1, &pods(1)));
    let w = wanted(&c1, &p1);

    // Node 2's SIDs, per VRF.
    let sid2 = |vrf: &str| {
        let sids: BTreeSet<Ipv6Addr> = p2
            .export
            .iter()
            .filter(|e| e.vrf == vrf)
            .map(|e| e.sid)
            .collect();
        assert_eq!(sids.len(), 1, "{vrf}: one SID per VRF: {sids:?}");
        sids.into_iter().next().unwrap()
    };
    let (red2, blue2) = (sid2("red"), sid2("blue"));
    assert_ne!(red2, blue2);
    assert!(
        Ipv6Net::new("fc00:0:2::".parse().unwrap(), 48)
            .unwrap()
            .contains(&red2)
    );

    let policy = |table: u32, prefix: &str| {
        w.encaps
            .iter()
            .find(|(t, p, _)| *t == table && *p == net(prefix))
            .map(|(_, _, e)| e.clone())
    };
    // The same address in both VRFs goes to each VRF's own SID.
    assert_eq!(
        policy(100, "10.240.2.2/32"),
        Some(Srv6Encap::new(vec![red2]))
    );
    assert_eq!(
        policy(200, "10.240.2.2/32"),
        Some(Srv6Encap::new(vec![blue2]))
    );
    assert_eq!(
        policy(100, "fd00:240:2::3/128"),
        Some(Srv6Encap::new(vec![red2]))
    );
    // Blue has no .3 on node 2; the main table's pods are never exported.
    assert_eq!(policy(200, "10.240.2.3/32"), None);
    assert_eq!(
        w.encaps.len(),
        4 + 2,
        "red: 2 pods x 2 families, blue: 1 x 2"
    );
    // The source is left to the datapath: the node's (uplink's) IPv6.
    assert!(w.encaps.iter().all(|(_, _, e)| e.source.is_none()));

    // Node 1's own SIDs decapsulate into their VRF's table.
    let mut tables: Vec<u32> = w.sids.iter().map(|(_, _, t)| *t).collect();
    tables.sort();
    assert_eq!(tables, [100, 200]);
    assert!(w.sids.iter().all(|(_, b, _)| *b == DpBehavior::EndDt46));
    for (sid, _, table) in &w.sids {
        let d = p1.decap_of(*sid).expect("a planned SID");
        assert_eq!(d.table, *table);
    }
    assert_eq!(w.locators, [net_v6("fc00:0:1::/48")]);
    assert_eq!(w.unsupported, 0);

    // Node 1's own exports never come back as policies.
    let own = received(&p1.export, "fd00:250::1");
    let again = wanted(
        &c1,
        &plan(&c1, &[routes, own].concat(), &vrf_prefixes(&c1, &pods(1))),
    );
    assert_eq!(again, w);
}

#[test]
fn no_srv6_config_wants_nothing() {
    let cfg = Srv6Config::new();
    let w = wanted(&cfg, &plan(&cfg, &[], &BTreeMap::new()));
    assert_eq!(w, Srv6Wanted::default());
    assert!(vrf_prefixes(&cfg, &pods(1)).is_empty());
}

fn net_v6(s: &str) -> Ipv6Net {
    s.parse().unwrap()
}

/// The lines of a ternd.conf that the SRv6 model reads: the
/// segment-routing and vrf blocks, the VRF instances, and the default
/// instance's `segment-routing srv6` block.
fn srv6_lines(conf: &str) -> String {
    let mut out = String::new();
    let mut block: Vec<&str> = Vec::new();
    let mut flush = |block: &mut Vec<&str>| {
        let Some(head) = block.first().copied() else {
            return;
        };
        if head.starts_with("segment-routing") || head.starts_with("vrf ") || head.contains(" vrf ")
        {
            for l in block.iter() {
                out.push_str(l);
                out.push('\n');
            }
        } else if head.starts_with("router bgp ") {
            out.push_str(head);
            out.push('\n');
            let sr = block
                .iter()
                .skip_while(|l| **l != " segment-routing srv6")
                .take_while(|l| **l != " exit");
            for l in sr.chain([" exit", "exit"].iter()) {
                out.push_str(l);
                out.push('\n');
            }
        }
        block.clear();
    };
    for line in conf.lines() {
        if line.starts_with('!') {
            continue;
        }
        if !line.starts_with(' ') && !line.starts_with("exit") {
            flush(&mut block);
        }
        block.push(line);
    }
    flush(&mut block);
    out
}

#[test]
fn the_srv6_labs_nodes_reach_each_others_vrfs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/topologies/srv6");
    let cfg = |n: u32| {
        let conf = std::fs::read_to_string(dir.join(format!("node{n}/ternd.conf"))).unwrap();
        let text = srv6_lines(&conf);
        tern_srv6::parse_text(&text).unwrap_or_else(|(i, e)| panic!("line {}: {e}\n{text}", i + 1))
    };
    let (c1, c2) = (cfg(1), cfg(2));
    assert_eq!(vrf_tables(&c1), vrf_tables(&node(1)));
    let p2 = plan(&c2, &[], &vrf_prefixes(&c2, &pods(2)));
    assert!(p2.unexported.is_empty(), "{:?}", p2.unexported);
    let p1 = plan(
        &c1,
        &received(&p2.export, "2001:db8:0:1::1"),
        &vrf_prefixes(&c1, &pods(1)),
    );
    let w = wanted(&c1, &p1);
    assert_eq!(w.encaps.len(), 6, "{w:?}");
    assert_eq!(w.sids.len(), 2, "{w:?}");
    assert_eq!(w.locators, [net_v6("fc00:0:1::/48")]);
}
