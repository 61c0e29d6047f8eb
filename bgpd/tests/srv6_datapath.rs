//! ternd's datapath runtime with VRF pods and an SRv6 plan, without a lab
//! (the SRv6 config lines are another branch's: the config is built with
//! tern-srv6's own parser here): in a throwaway namespace with an IPv6
//! uplink, a pod in VRF red and a main-table pod holding the SAME address,
//! one reconcile pass must put the red pod's host routes in table 100 (not
//! the main table), its interface in the VRF map and not in the endpoint
//! map, the main pod in the endpoint map, and the plan's policies, SIDs and
//! locator in the SRv6 maps; a table change moves the routes, removing the
//! pod takes them away, and an empty plan empties the SRv6 maps.
//!
//! Needs root and bpffs; fails (never skips) without them.
use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, process::Command};

use ipnet::IpNet;
use tern_bgpd::{
    config::{Config, DatapathConfig},
    datapath::DatapathRuntime,
    srv6,
};
use tern_control::Endpoint;
use tern_srv6::{Srv6Config, VpnRoute};
use tern_tests::{Netns, run_ok, with_netns};

/// Node `n`'s SRv6 config: locator fc00:0:N::/48, VRF red in `table`,
/// exporting its pods and importing route target 65000:100.
fn srv6_config(n: u32, table: u32) -> Srv6Config {
    let text = format!(
        "segment-routing\n srv6\n  locators\n   locator MAIN\n    prefix fc00:0:{n}::/48\n   exit\n  exit\n exit\nexit\n\
         vrf red\n table {table}\nexit-vrf\n\
         router bgp 6500{n}\n segment-routing srv6\n  locator MAIN\n exit\nexit\n\
         router bgp 6500{n} vrf red\n sid vpn per-vrf export auto\n address-family ipv4 unicast\n  redistribute kernel\n  rd vpn export 6500{n}:100\n  rt vpn both 65000:100\n  export vpn\n  import vpn\n exit-address-family\nexit\n"
    );
    tern_srv6::parse_text(&text).unwrap_or_else(|(i, e)| panic!("line {}: {e}", i + 1))
}

/// Node 2's red exports, as node 1 receives them.
fn routes_from_node2() -> Vec<VpnRoute> {
    let cfg = srv6_config(2, 100);
    let mut prefixes = BTreeMap::new();
    prefixes.insert(
        "red".to_owned(),
        vec!["10.240.2.2/32".parse::<IpNet>().expect("prefix")],
    );
    tern_srv6::plan(&cfg, &[], &prefixes)
        .export
        .iter()
        .map(|e| VpnRoute {
            rd: e.rd,
            prefix: e.prefix,
            sid: tern_srv6::rebuild(e.label, e.advertised_sid, &e.structure).expect("a SID"),
            behavior: e.behavior,
            rts: e.rts.clone(),
            next_hop: "2001:db8:0:2::2".parse::<IpAddr>().expect("address"),
        })
        .collect()
}

fn ip(ns: &str, args: &[&str]) -> String {
    run_ok(Command::new("ip").args(["-n", ns]).args(args))
}

/// A veth pair host end `host` (in `ns`) / `eth0` in `pod_ns`; its ifindex
/// and both MACs.
fn veth(ns: &str, host: &str, pod_ns: &str) -> (u32, String, String) {
    ip(
        ns,
        &[
            "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", pod_ns,
        ],
    );
    ip(ns, &["link", "set", host, "up"]);
    ip(pod_ns, &["link", "set", "eth0", "up"]);
    let mac = |n: &str, dev: &str| {
        let out = ip(n, &["-o", "link", "show", dev]);
        out.split("link/ether ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no MAC in {out}"))
            .to_owned()
    };
    let out = ip(ns, &["-o", "link", "show", host]);
    let index = out
        .split(':')
        .next()
        .and_then(|i| i.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ifindex in {out}"));
    (index, mac(pod_ns, "eth0"), mac(ns, host))
}

fn endpoint(cid: &str, host: &str, wired: &(u32, String, String), vrf: Option<&str>) -> Endpoint {
    Endpoint {
        container_id: cid.into(),
        ifname: "eth0".into(),
        netns: format!("/run/netns/{cid}"),
        host_ifname: host.into(),
        host_ifindex: wired.0,
        pod_mac: wired.1.clone(),
        host_mac: wired.2.clone(),
        addresses: vec!["10.240.1.2/32".parse().expect("address")],
        mtu: 1500,
        namespace: None,
        network: None,
        vrf: vrf.map(str::to_owned),
    }
}

/// One reconcile pass of `rt` with `eps` and the plan of `cfg` and
/// `routes`; the SRv6 state it wanted.
async fn pass(
    rt: &mut DatapathRuntime,
    netlink: &tern_netlink::Netlink,
    dp_cfg: &DatapathConfig,
    cfg: &Srv6Config,
    routes: &[VpnRoute],
    eps: &[Endpoint],
) -> srv6::Srv6Wanted {
    let links = netlink.links().await.expect("links");
    let prefixes = srv6::vrf_prefixes(cfg, eps);
    let plan = tern_srv6::plan(cfg, routes, &prefixes);
    let wanted = srv6::wanted(cfg, &plan);
    let tables = srv6::vrf_tables(cfg);
    rt.reconcile(
        dp_cfg,
        &links,
        eps,
        (&[], 0),
        &Default::default(),
        (&tables, &wanted),
    )
    .await;
    wanted
}

#[test]
fn vrf_pods_and_the_srv6_plan_reach_the_kernel_and_the_maps() {
    let tag = std::process::id();
    let node = Netns::new(&format!("srv6dp{tag}"));
    let red_pod = Netns::new(&format!("srv6dp{tag}r"));
    let main_pod = Netns::new(&format!("srv6dp{tag}m"));
    let n = node.0.clone();
    ip(
        &n,
        &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
    );
    ip(
        &n,
        &["addr", "add", "2001:db8:0:1::2/64", "dev", "up0", "nodad"],
    );
    ip(&n, &["link", "set", "up0", "up"]);
    ip(&n, &["link", "set", "up0p", "up"]);
    let red = veth(&n, "ternred0", &red_pod.0);
    let main = veth(&n, "ternmain0", &main_pod.0);
    let pins = PathBuf::from(format!("/sys/fs/bpf/tern-srv6dp-test-{tag}"));

    let dp_cfg = Config::parse("t", "datapath uplink up0\ndatapath mode native\n")
        .expect("valid")
        .datapath;
    let eps = vec![
        endpoint("red0", "ternred0", &red, Some("red")),
        endpoint("main0", "ternmain0", &main, None),
    ];
    let routes = routes_from_node2();
    assert_eq!(routes.len(), 1);
    let remote_sid = routes[0].sid;

    let table_routes = |table: &str| ip(&n, &["route", "show", "table", table]);
    with_netns(&n, || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        tokio.block_on(async {
            let netlink = tern_netlink::Netlink::open().expect("netlink");
            let mut rt = DatapathRuntime::load(&pins, netlink.clone()).expect("load (root, bpffs)");

            // One pass: the red pod in table 100, the main pod in the
            // endpoint map, the plan in the SRv6 maps.
            let cfg = srv6_config(1, 100);
            let wanted = pass(&mut rt, &netlink, &dp_cfg, &cfg, &routes, &eps).await;
            let info = rt.info(&dp_cfg);
            assert_eq!(info.last_error, None, "{info:?}");
            let dp = rt.datapath();
            assert_eq!(dp.vrf_ifaces().expect("map read"), [(red.0, 100)]);
            let in_ep_map: Vec<u32> = dp
                .endpoints()
                .expect("map read")
                .iter()
                .map(|(_, i)| i.ifindex)
                .collect();
            assert_eq!(in_ep_map, [main.0], "only the main pod has an endpoint");
            let encaps = dp.srv6_encaps().expect("map read");
            assert_eq!(encaps.len(), 1, "{encaps:?}");
            assert_eq!(
                (encaps[0].0, encaps[0].1.to_string()),
                (100, "10.240.2.2/32".to_owned())
            );
            assert_eq!(encaps[0].2.segments, [remote_sid]);
            let mut sids = dp.srv6_sids().expect("map read");
            sids.sort();
            assert_eq!(sids, wanted.sids);
            assert_eq!(sids.len(), 1);
            assert_eq!(sids[0].2, 100);
            assert_eq!(
                dp.srv6_locators().expect("map read"),
                ["fc00:0:1::/48".parse::<ipnet::Ipv6Net>().expect("locator")]
            );
            assert!(dp.srv6_enabled());
            for ep in &eps {
                let (id, attached, _) = rt.endpoint_state(ep);
                assert!(id.is_some() && attached, "{} programmed", ep.host_ifname);
            }
            assert_eq!(rt.srv6_state().map(|s| s.vrf_ifaces.len()), Some(1));
            // `show datapath` reads the maps back.
            let shown = rt.info(&dp_cfg).srv6;
            assert_eq!(shown.vrf_ifaces, [("ternred0".to_owned(), 100)]);
            assert_eq!(shown.policies.len(), 1);
            assert_eq!(shown.sids[0].1, "End.DT46");
            let t100 = table_routes("100");
            assert!(t100.contains("10.240.1.2 dev ternred0"), "{t100}");
            let tmain = table_routes("main");
            assert!(
                !tmain.contains("ternred0"),
                "a VRF pod has no route in the main table: {tmain}"
            );

            // A second pass changes nothing.
            pass(&mut rt, &netlink, &dp_cfg, &cfg, &routes, &eps).await;
            assert_eq!(rt.info(&dp_cfg).last_error, None);

            // Red moves to table 101: its routes, VRF and policies follow.
            let cfg101 = srv6_config(1, 101);
            pass(&mut rt, &netlink, &dp_cfg, &cfg101, &routes, &eps).await;
            assert_eq!(rt.info(&dp_cfg).last_error, None);
            assert_eq!(
                rt.datapath().vrf_ifaces().expect("map read"),
                [(red.0, 101)]
            );
            let encaps = rt.datapath().srv6_encaps().expect("map read");
            assert!(encaps.iter().all(|(t, _, _)| *t == 101), "{encaps:?}");
            let t101 = table_routes("101");
            assert!(t101.contains("10.240.1.2 dev ternred0"), "{t101}");
            let t100 = table_routes("100");
            assert!(!t100.contains("10.240.1.2"), "{t100}");

            // The red pod goes (its endpoint removed): its route and VRF go,
            // the policies stay.
            let main_only = vec![eps[1].clone()];
            pass(&mut rt, &netlink, &dp_cfg, &cfg101, &routes, &main_only).await;
            assert!(rt.datapath().vrf_ifaces().expect("map read").is_empty());
            assert_eq!(rt.datapath().srv6_encaps().expect("map read").len(), 1);
            let t101 = table_routes("101");
            assert!(!t101.contains("10.240.1.2"), "{t101}");

            // No SRv6 config at all: the SRv6 maps empty, lookups off; the
            // main pod stays.
            let none = Srv6Config::new();
            pass(&mut rt, &netlink, &dp_cfg, &none, &[], &main_only).await;
            assert_eq!(rt.info(&dp_cfg).last_error, None);
            assert!(rt.datapath().srv6_encaps().expect("map read").is_empty());
            assert!(rt.datapath().srv6_sids().expect("map read").is_empty());
            assert!(rt.datapath().srv6_locators().expect("map read").is_empty());
            assert!(!rt.datapath().srv6_enabled());
            assert_eq!(rt.datapath().endpoints().expect("map read").len(), 1);
            rt.shutdown().await;
        });
    });
    // The runtime unpins its maps; the folder is the daemon's to remove.
    let left: Vec<_> = std::fs::read_dir(&pins)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let _ = std::fs::remove_dir(&pins);
    assert!(left.is_empty(), "pins left: {left:?}");
}
