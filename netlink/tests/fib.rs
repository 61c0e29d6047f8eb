//! FIB programming against the real kernel, each test in its own network
//! namespace: replace, atomic change, ECMP, delete, purge, batches with
//! failures, IPv6, IPv4 over an IPv6 next hop, nexthop objects. What Tern
//! installs is checked through its own dump and through `ip -j route`.
mod common;

use std::net::IpAddr;

use common::{expect_event, in_both_modes, in_netns, ip, ip_json, sysctl, topo};
use ipnet::IpNet;
use tern_netlink::{Error, LinkEvent, NextHop, OpError, Route, RouteOp, TERN_PROTO};

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn addr(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// `ip -j route show proto 202` (both families, main table unless `table`).
fn ip_tern_routes(family: &str, table: &str) -> Vec<serde_json::Value> {
    match ip_json(&format!(
        "{family} route show proto {TERN_PROTO} table {table}"
    )) {
        serde_json::Value::Array(v) => v,
        other => panic!("unexpected ip output {other}"),
    }
}

#[test]
fn replace_installs_a_route_with_tern_protocol() {
    in_both_modes(|t| async move {
        let mut r = Route::new(
            net("10.10.0.0/24"),
            vec![NextHop::via(addr("192.0.2.2"), t.veth0)],
        );
        r.metric = 20;
        t.nl.route_replace(&r).await.expect("replace");

        assert_eq!(
            t.nl.routes(Some(TERN_PROTO), None).await.expect("dump"),
            vec![r.clone()]
        );
        let mine =
            t.nl.kernel_routes(Some(TERN_PROTO), None)
                .await
                .expect("dump");
        assert_eq!(mine[0].nexthop_id.is_some(), t.nexthop_objects, "{mine:?}");
        let shown = ip_tern_routes("-4", "main");
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert_eq!(shown[0]["dst"], "10.10.0.0/24");
        assert_eq!(shown[0]["nhid"].is_u64(), t.nexthop_objects, "{shown:?}");
        assert_eq!(shown[0]["gateway"], "192.0.2.2");
        assert_eq!(shown[0]["dev"], "veth0");
        assert_eq!(shown[0]["metric"], 20);

        // The kernel's own connected route is there too, with proto kernel.
        let all = t.nl.kernel_routes(None, Some(254)).await.expect("dump");
        assert!(
            all.iter()
                .any(|k| k.protocol == 2 && k.route.prefix == net("192.0.2.0/24")),
            "{all:?}"
        );
        // Replacing with the same route again is a no-op, not an error.
        t.nl.route_replace(&r).await.expect("replace again");
        assert_eq!(
            t.nl.routes(Some(TERN_PROTO), None)
                .await
                .expect("dump")
                .len(),
            1
        );
    });
}

#[test]
fn replace_changes_the_next_hop_in_place() {
    in_both_modes(|t| async move {
        let before = Route::new(
            net("10.11.0.0/24"),
            vec![NextHop::via(addr("192.0.2.2"), t.veth0)],
        );
        t.nl.route_replace(&before).await.expect("install");
        let mut events = t.nl.watch().await.expect("watch");
        let after = Route::new(
            net("10.11.0.0/24"),
            vec![NextHop::via(addr("198.51.100.2"), t.veth2)],
        );
        t.nl.route_replace(&after).await.expect("replace");

        assert_eq!(
            t.nl.routes(Some(TERN_PROTO), None).await.expect("dump"),
            vec![after.clone()]
        );
        // One RTM_NEWROUTE (NLM_F_REPLACE) and no RTM_DELROUTE: the kernel
        // swapped the next hop without a moment with no route.
        let seen = expect_event(
            &mut events,
            "the replaced route",
            |e| matches!(e, LinkEvent::RouteAdded(k) if k.route == after),
        )
        .await;
        assert!(matches!(seen, LinkEvent::RouteAdded(k) if k.protocol == TERN_PROTO));
        while let Ok(e) = events.try_recv() {
            assert!(
                !matches!(e, LinkEvent::RouteRemoved(_)),
                "route removed during replace: {e:?}"
            );
        }
    });
}

#[test]
fn a_gateway_without_an_interface_is_resolved_by_the_kernel() {
    in_both_modes(|t| async move {
        let gw_only = |gw: &str| NextHop {
            gateway: Some(addr(gw)),
            ifindex: None,
            weight: 1,
        };
        let mut r = Route::new(
            net("10.22.0.0/24"),
            vec![gw_only("192.0.2.2"), gw_only("198.51.100.2")],
        );
        r.metric = 20;
        t.nl.route_replace(&r).await.expect("replace");
        let k =
            t.nl.kernel_routes(Some(TERN_PROTO), None)
                .await
                .expect("dump");
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].nexthop_id, None, "inline in both modes");
        let ifindexes: Vec<Option<u32>> = k[0].route.nexthops.iter().map(|n| n.ifindex).collect();
        assert_eq!(ifindexes, [Some(t.veth0), Some(t.veth2)]);
        t.nl.route_delete(&r).await.expect("delete");
    });
}

#[test]
fn multipath_route_has_both_next_hops() {
    in_both_modes(|t| async move {
        let mut second = NextHop::via(addr("198.51.100.2"), t.veth2);
        second.weight = 3;
        let mut r = Route::new(
            net("10.12.0.0/24"),
            vec![NextHop::via(addr("192.0.2.2"), t.veth0), second],
        );
        r.normalize();
        t.nl.route_replace(&r).await.expect("ECMP replace");
        assert_eq!(
            t.nl.routes(Some(TERN_PROTO), None).await.expect("dump"),
            vec![r.clone()]
        );
        let shown = ip_tern_routes("-4", "main");
        let hops = shown[0]["nexthops"]
            .as_array()
            .expect("nexthops in ip output");
        assert_eq!(hops.len(), 2, "{shown:?}");
        let mut gws: Vec<&str> = hops.iter().filter_map(|h| h["gateway"].as_str()).collect();
        gws.sort_unstable();
        assert_eq!(gws, ["192.0.2.2", "198.51.100.2"]);
        assert!(hops.iter().any(|h| h["weight"] == 3), "{hops:?}");

        // IPv6 ECMP too, deleted as a whole by one delete.
        let mut r6 = Route::new(
            net("2001:db8:12::/48"),
            vec![
                NextHop::via(addr("2001:db8:1::2"), t.veth0),
                NextHop::via(addr("fe80::2"), t.veth2),
            ],
        );
        r6.metric = 1024;
        r6.normalize();
        t.nl.route_replace(&r6).await.expect("IPv6 ECMP replace");
        let v6: Vec<Route> = t.nl.routes(Some(TERN_PROTO), None).await.expect("dump");
        assert!(v6.contains(&r6), "{v6:?}");
        t.nl.route_delete(&r6).await.expect("delete IPv6 ECMP");
        assert!(ip_tern_routes("-6", "main").is_empty());
    });
}

#[test]
fn delete_removes_and_a_second_delete_reports_not_found() {
    in_both_modes(|t| async move {
        let r = Route::new(
            net("10.13.0.0/24"),
            vec![NextHop::via(addr("192.0.2.2"), t.veth0)],
        );
        t.nl.route_replace(&r).await.expect("install");
        t.nl.route_delete(&r).await.expect("delete");
        assert!(
            t.nl.routes(Some(TERN_PROTO), None)
                .await
                .expect("dump")
                .is_empty()
        );
        assert!(ip_tern_routes("-4", "main").is_empty());
        match t.nl.route_delete(&r).await {
            Err(Error::Route { source, .. }) => assert!(source.is_not_found(), "{source}"),
            other => panic!("second delete: {other:?}"),
        }
    });
}

#[test]
fn purge_removes_only_tern_routes() {
    in_both_modes(|t| async move {
        ip("route add 10.14.0.0/24 via 192.0.2.2 proto static");
        ip("route add 10.15.0.0/24 via 192.0.2.2 proto static metric 7");
        let mut same_prefix = Route::new(
            net("10.15.0.0/24"),
            vec![NextHop::via(addr("192.0.2.2"), t.veth0)],
        );
        same_prefix.metric = 7;
        ip("route add 10.15.0.0/24 via 198.51.100.2 proto static metric 9");
        let mut in_table = Route::new(
            net("10.16.0.0/24"),
            vec![NextHop::via(addr("192.0.2.2"), t.veth0)],
        );
        in_table.table = 100;
        let v6 = Route::new(
            net("2001:db8:16::/48"),
            vec![NextHop::via(addr("2001:db8:1::2"), t.veth0)],
        );
        let ops = vec![
            RouteOp::Replace(Route::new(net("10.17.0.0/24"), vec![NextHop::dev(t.veth2)])),
            RouteOp::Replace(in_table),
            RouteOp::Replace(v6),
        ];
        let report = t.nl.apply_batch(&ops).await;
        assert!(report.failures.is_empty(), "{report:?}");
        // Tern replacing the metric-7 static route takes it over (same key).
        t.nl.route_replace(&same_prefix).await.expect("take over");

        assert_eq!(t.nl.purge(TERN_PROTO).await.expect("purge"), 4);
        assert!(
            t.nl.routes(Some(TERN_PROTO), None)
                .await
                .expect("dump")
                .is_empty()
        );
        let statics = t.nl.routes(Some(4), None).await.expect("dump");
        let prefixes: Vec<(String, u32)> = statics
            .iter()
            .map(|r| (r.prefix.to_string(), r.metric))
            .collect();
        assert_eq!(
            prefixes,
            [
                ("10.14.0.0/24".to_string(), 0),
                ("10.15.0.0/24".to_string(), 9)
            ]
        );
        assert_eq!(t.nl.purge(TERN_PROTO).await.expect("purge nothing"), 0);
    });
}

#[test]
fn batch_of_ten_thousand_routes_all_present() {
    in_both_modes(|t| async move {
        let nh = vec![NextHop::via(addr("192.0.2.2"), t.veth0)];
        let ops: Vec<RouteOp> = (0..10_000u32)
            .map(|i| {
                let a = std::net::Ipv4Addr::from(0x0a80_0000 + i);
                RouteOp::Replace(Route::new(
                    IpNet::new(IpAddr::V4(a), 32).expect("/32"),
                    nh.clone(),
                ))
            })
            .collect();
        let report = t.nl.apply_batch(&ops).await;
        assert_eq!(
            (report.applied, report.failures.len()),
            (10_000, 0),
            "{:?}",
            report.failures.first()
        );
        eprintln!("10k routes in {:?}", report.elapsed);
        let dumped =
            t.nl.routes(Some(TERN_PROTO), Some(254))
                .await
                .expect("dump");
        assert_eq!(dumped.len(), 10_000);
        assert_eq!(ip("route show proto 202").lines().count(), 10_000);

        let deletes: Vec<RouteOp> = ops
            .iter()
            .map(|o| RouteOp::Delete(o.route().clone()))
            .collect();
        let report = t.nl.apply_batch(&deletes).await;
        assert_eq!(report.applied, 10_000, "{:?}", report.failures.first());
        assert!(
            t.nl.routes(Some(TERN_PROTO), None)
                .await
                .expect("dump")
                .is_empty()
        );
    });
}

#[test]
fn a_bad_operation_fails_alone_and_the_rest_applies() {
    in_both_modes(|t| async move {
        let good = |i: u32| {
            RouteOp::Replace(Route::new(
                IpNet::new(IpAddr::V4(std::net::Ipv4Addr::new(10, 18, i as u8, 0)), 24)
                    .expect("/24"),
                vec![NextHop::via(addr("192.0.2.2"), t.veth0)],
            ))
        };
        let mut ops: Vec<RouteOp> = (0..200).map(good).collect();
        // 203.0.113.9 is on no connected network of veth0.
        ops[50] = RouteOp::Replace(Route::new(
            net("10.19.0.0/24"),
            vec![NextHop::via(addr("203.0.113.9"), t.veth0)],
        ));
        // Host bits set: refused before it reaches the kernel.
        ops[120] = serde_json::from_str(
            r#"{"op":"replace","prefix":"10.19.1.1/24","nexthops":[{"gateway":"192.0.2.2"}]}"#,
        )
        .expect("json op");
        // Deleting what is not there.
        ops[199] = RouteOp::Delete(Route::new(net("10.19.2.0/24"), vec![]));
        let report = t.nl.apply_batch(&ops).await;
        let failed: Vec<usize> = report.failures.iter().map(|f| f.index).collect();
        assert_eq!(failed, [50, 120, 199], "{report:?}");
        assert_eq!(report.applied, 197);
        match &report.failures[0].error {
            OpError::Kernel { errno, detail } => {
                assert_eq!(*errno, nix::libc::ENETUNREACH, "{detail:?}");
                assert!(
                    detail.as_deref().is_some_and(|d| d.contains("gateway")),
                    "{detail:?}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(report.failures[1].error, OpError::Invalid { .. }));
        assert!(report.failures[2].error.is_not_found());
        let installed = t.nl.routes(Some(TERN_PROTO), None).await.expect("dump");
        assert_eq!(installed.len(), 197);
        // The report serialises for scenario files.
        let json = serde_json::to_string(&report.failures[0]).expect("json");
        assert!(json.contains(r#""kind":"kernel""#), "{json}");
    });
}

#[test]
fn ipv6_route() {
    in_both_modes(|t| async move {
        let r = Route::new(
            net("2001:db8:100::/48"),
            vec![NextHop::via(addr("2001:db8:1::2"), t.veth0)],
        );
        t.nl.route_replace(&r).await.expect("IPv6 replace");
        let mut want = r.clone();
        want.metric = 1024; // the kernel's default IPv6 metric
        assert_eq!(
            t.nl.routes(Some(TERN_PROTO), None).await.expect("dump"),
            vec![want]
        );
        let shown = ip_tern_routes("-6", "main");
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert_eq!(shown[0]["dst"], "2001:db8:100::/48");
        assert_eq!(shown[0]["gateway"], "2001:db8:1::2");
        t.nl.route_delete(&r).await.expect("delete");
        assert!(ip_tern_routes("-6", "main").is_empty());
    });
}

#[test]
fn ipv4_route_over_an_ipv6_next_hop() {
    in_both_modes(|t| async move {
        let r = Route::new(
            net("10.20.0.0/24"),
            vec![NextHop::via(addr("fe80::2"), t.veth0)],
        );
        t.nl.route_replace(&r).await.expect("RFC 8950 route");
        assert_eq!(
            t.nl.routes(Some(TERN_PROTO), None).await.expect("dump"),
            vec![r.clone()]
        );
        let shown = ip_tern_routes("-4", "main");
        assert_eq!(shown[0]["dst"], "10.20.0.0/24");
        assert_eq!(shown[0]["via"]["family"], "inet6", "{shown:?}");
        assert_eq!(shown[0]["via"]["host"], "fe80::2");
        // And in an ECMP set beside an IPv4 gateway.
        let mut ecmp = Route::new(
            net("10.21.0.0/24"),
            vec![
                NextHop::via(addr("192.0.2.2"), t.veth0),
                NextHop::via(addr("fe80::3"), t.veth2),
            ],
        );
        ecmp.normalize();
        t.nl.route_replace(&ecmp).await.expect("mixed ECMP");
        assert!(
            t.nl.routes(Some(TERN_PROTO), None)
                .await
                .expect("dump")
                .contains(&ecmp)
        );
    });
}

#[test]
fn nexthop_objects_are_shared_and_collected() {
    in_netns(|| async {
        let t = topo().await;
        t.nl.set_nexthop_objects(true).await;
        let a = NextHop::via(addr("192.0.2.2"), t.veth0);
        let b = NextHop::via(addr("198.51.100.2"), t.veth2);
        let mut ops: Vec<RouteOp> = (0..100u8)
            .map(|i| RouteOp::Replace(Route::new(net(&format!("10.30.{i}.0/24")), vec![a.clone()])))
            .collect();
        let mut ecmp = Route::new(net("10.31.0.0/24"), vec![a.clone(), b.clone()]);
        ecmp.normalize();
        ops.push(RouteOp::Replace(ecmp.clone()));
        ops.push(RouteOp::Replace(Route::new(
            net("2001:db8:30::/48"),
            vec![NextHop::via(addr("fe80::2"), t.veth0)],
        )));
        let report = t.nl.apply_batch(&ops).await;
        assert!(report.failures.is_empty(), "{report:?}");
        // a, b, the a+b group, the IPv6 next hop.
        assert_eq!(t.nl.nexthop_object_count().await, 4);
        let objects = ip_json("nexthop show");
        assert_eq!(objects.as_array().map(Vec::len), Some(4), "{objects}");
        let routes = t.nl.routes(Some(TERN_PROTO), None).await.expect("dump");
        assert_eq!(routes.len(), 102);
        assert!(
            routes.contains(&ecmp),
            "compat dump shows the group's next hops"
        );
        let shown = ip_tern_routes("-4", "main");
        assert!(shown.iter().all(|r| r["nhid"].is_u64()), "{shown:?}");
        // Without the kernel's compatibility listing, routes carry only the
        // id: the next hops come from Tern's own table.
        sysctl("net.ipv4.nexthop_compat_mode=0");
        let bare = t.nl.routes(Some(TERN_PROTO), None).await.expect("dump");
        assert_eq!(bare, routes);
        sysctl("net.ipv4.nexthop_compat_mode=1");

        // The kernel drops nexthops of a device that goes down (and the
        // routes using them); the next batch re-creates what it needs.
        ip("link set veth2 down");
        ip("link set veth2 up");
        let again = Route::new(net("10.32.0.0/24"), vec![b.clone()]);
        t.nl.route_replace(&again)
            .await
            .expect("replace after the device flapped");
        assert!(
            t.nl.routes(Some(TERN_PROTO), None)
                .await
                .expect("dump")
                .contains(&again)
        );

        // Deleting every user deletes the objects.
        let deletes: Vec<RouteOp> = ops
            .iter()
            .map(|o| RouteOp::Delete(o.route().clone()))
            .chain([RouteOp::Delete(again)])
            .collect();
        let report = t.nl.apply_batch(&deletes).await;
        // The ECMP route went with veth2's nexthop: "not found" is expected.
        assert!(
            report.failures.iter().all(|f| f.error.is_not_found()),
            "{report:?}"
        );
        assert_eq!(t.nl.nexthop_object_count().await, 0);
        assert_eq!(ip_json("nexthop show").as_array().map(Vec::len), Some(0));

        // Purge also removes objects an earlier run left.
        t.nl.route_replace(&Route::new(net("10.33.0.0/24"), vec![a.clone()]))
            .await
            .expect("install");
        ip("nexthop add id 77 via 192.0.2.3 dev veth0 proto 202");
        assert_eq!(t.nl.purge(TERN_PROTO).await.expect("purge"), 1);
        assert_eq!(ip_json("nexthop show").as_array().map(Vec::len), Some(0));
    });
}

#[test]
fn route_ops_read_as_json_lines() {
    let lines = r#"{"op":"replace","prefix":"10.0.0.0/24","table":100,"metric":20,"nexthops":[{"gateway":"192.0.2.2","ifindex":3,"weight":2},{"gateway":"fe80::1","ifindex":4}]}
{"op":"delete","prefix":"2001:db8::/32","nexthops":[]}"#;
    let ops: Vec<RouteOp> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("op"))
        .collect();
    assert!(matches!(&ops[0], RouteOp::Replace(r) if r.table == 100 && r.nexthops.len() == 2));
    assert!(matches!(&ops[1], RouteOp::Delete(r) if r.table == 254));
}
