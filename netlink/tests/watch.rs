//! The link/address/route watch against the real kernel, in a throwaway
//! network namespace: links going down and up, appearing and going away,
//! addresses added and removed, routes added and removed.
mod common;

use common::{expect_event, in_netns, ip, topo};
use tern_netlink::{LinkEvent, NextHop, Route, TERN_PROTO};

#[test]
fn watch_reports_links_addresses_and_routes() {
    in_netns(|| async {
        let t = topo().await;
        let mut rx = t.nl.watch().await.expect("watch");

        ip("link set veth0 down");
        let e = expect_event(&mut rx, "veth0 down", |e| {
            matches!(e, LinkEvent::LinkDown { .. })
        })
        .await;
        assert_eq!(
            e,
            LinkEvent::LinkDown {
                index: t.veth0,
                name: "veth0".into()
            }
        );
        ip("link set veth0 up");
        expect_event(
            &mut rx,
            "veth0 up",
            |e| matches!(e, LinkEvent::LinkUp { index, .. } if *index == t.veth0),
        )
        .await;

        // Carrier loss (the peer goes down) is a LinkDown too.
        ip("link set veth3 down");
        expect_event(
            &mut rx,
            "veth2 without carrier",
            |e| matches!(e, LinkEvent::LinkDown { index, .. } if *index == t.veth2),
        )
        .await;

        ip("addr add 203.0.113.1/24 dev veth0");
        let e = expect_event(&mut rx, "address added", |e| {
            matches!(e, LinkEvent::AddressAdded { .. })
        })
        .await;
        assert_eq!(
            e,
            LinkEvent::AddressAdded {
                index: t.veth0,
                net: "203.0.113.1/24".parse().expect("net")
            }
        );
        ip("addr del 203.0.113.1/24 dev veth0");
        expect_event(&mut rx, "address removed", |e| {
            matches!(e, LinkEvent::AddressRemoved { net, .. } if net.to_string() == "203.0.113.1/24")
        })
        .await;

        ip("link add veth4 type veth peer name veth5");
        let added = expect_event(
            &mut rx,
            "veth4 added",
            |e| matches!(e, LinkEvent::LinkAdded { name, .. } if name == "veth4"),
        )
        .await;
        ip("link del veth4");
        let LinkEvent::LinkAdded { index, .. } = added else {
            unreachable!()
        };
        expect_event(&mut rx, "veth4 removed", |e| {
            *e == LinkEvent::LinkRemoved {
                index,
                name: "veth4".into(),
            }
        })
        .await;

        // Routes of every protocol, with the protocol: a static one by
        // hand, Tern's own through the library.
        ip("route add 10.40.0.0/24 via 192.0.2.2 proto static");
        expect_event(&mut rx, "static route", |e| {
            matches!(e, LinkEvent::RouteAdded(k) if k.protocol == 4 && k.route.prefix.to_string() == "10.40.0.0/24")
        })
        .await;
        let r = Route::new(
            "10.41.0.0/24".parse().expect("net"),
            vec![NextHop::via("192.0.2.2".parse().expect("ip"), t.veth0)],
        );
        t.nl.route_replace(&r).await.expect("replace");
        expect_event(
            &mut rx,
            "Tern's route",
            |e| matches!(e, LinkEvent::RouteAdded(k) if k.protocol == TERN_PROTO && k.route == r),
        )
        .await;
        t.nl.route_delete(&r).await.expect("delete");
        expect_event(
            &mut rx,
            "Tern's route removed",
            |e| matches!(e, LinkEvent::RouteRemoved(k) if k.route.prefix == r.prefix),
        )
        .await;
    });
}

#[test]
fn watch_except_drops_the_named_protocols_routes_in_the_kernel() {
    in_netns(|| async {
        let t = topo().await;
        let mut rx = t.nl.watch_except(&[TERN_PROTO, 203]).await.expect("watch");
        let gw = "192.0.2.2".parse().expect("ip");
        // Tern's route added and removed, a proto 203 one, then a static
        // route and an address: the first events seen must be the latter.
        let r = Route::new(
            "10.42.0.0/24".parse().expect("net"),
            vec![NextHop::via(gw, t.veth0)],
        );
        t.nl.route_replace(&r).await.expect("replace");
        t.nl.route_delete(&r).await.expect("delete");
        ip("route add 10.43.0.0/24 via 192.0.2.2 proto 203");
        ip("route del 10.43.0.0/24 via 192.0.2.2 proto 203");
        ip("route add 10.44.0.0/24 via 192.0.2.2 proto static");
        let e = expect_event(&mut rx, "a route event", |e| {
            matches!(e, LinkEvent::RouteAdded(_) | LinkEvent::RouteRemoved(_))
        })
        .await;
        assert!(
            matches!(&e, LinkEvent::RouteAdded(k) if k.protocol == 4 && k.route.prefix.to_string() == "10.44.0.0/24"),
            "{e:?}"
        );
        ip("route del 10.44.0.0/24 via 192.0.2.2 proto static");
        expect_event(
            &mut rx,
            "the static route removed",
            |e| matches!(e, LinkEvent::RouteRemoved(k) if k.protocol == 4),
        )
        .await;
        // Links and addresses still pass the filter.
        ip("link set veth0 down");
        expect_event(&mut rx, "veth0 down", |e| {
            matches!(e, LinkEvent::LinkDown { .. })
        })
        .await;
        ip("link set veth0 up");
        ip("addr add 192.0.2.77/32 dev veth0");
        expect_event(
            &mut rx,
            "address added",
            |e| matches!(e, LinkEvent::AddressAdded { net, .. } if net.to_string() == "192.0.2.77/32"),
        )
        .await;
        // A flood of Tern's routes is not read back at all.
        let nh = vec![NextHop::via(gw, t.veth0)];
        let ops: Vec<tern_netlink::RouteOp> = (0..20_000u32)
            .map(|i| {
                let a = std::net::Ipv4Addr::from(0x0a91_0000 + i);
                tern_netlink::RouteOp::Replace(Route::new(
                    ipnet::IpNet::new(a.into(), 32).expect("/32"),
                    nh.clone(),
                ))
            })
            .collect();
        assert_eq!(t.nl.apply_batch(&ops).await.applied, 20_000);
        ip("route add 10.45.0.0/24 via 192.0.2.2 proto static");
        let e = expect_event(&mut rx, "the next route event", |e| {
            matches!(
                e,
                LinkEvent::RouteAdded(_) | LinkEvent::RouteRemoved(_) | LinkEvent::Overrun
            )
        })
        .await;
        assert!(
            matches!(&e, LinkEvent::RouteAdded(k) if k.route.prefix.to_string() == "10.45.0.0/24"),
            "{e:?}"
        );
    });
}

#[test]
fn watch_without_routes_reports_links_and_addresses_only() {
    in_netns(|| async {
        let t = topo().await;
        let mut rx = t.nl.watch_with(false, &[]).await.expect("watch");
        // A static route, then an address: the address must come first,
        // and no route event at all.
        ip("route add 10.46.0.0/24 via 192.0.2.2 proto static");
        ip("route del 10.46.0.0/24 via 192.0.2.2 proto static");
        ip("addr add 192.0.2.78/32 dev veth0");
        let e = expect_event(&mut rx, "an address or route event", |e| {
            matches!(
                e,
                LinkEvent::RouteAdded(_)
                    | LinkEvent::RouteRemoved(_)
                    | LinkEvent::AddressAdded { .. }
            )
        })
        .await;
        assert!(
            matches!(&e, LinkEvent::AddressAdded { net, .. } if net.to_string() == "192.0.2.78/32"),
            "{e:?}"
        );
        ip("link set veth0 down");
        expect_event(&mut rx, "veth0 down", |e| {
            matches!(e, LinkEvent::LinkDown { .. })
        })
        .await;
    });
}

#[test]
fn watch_ends_quietly_when_the_receiver_is_dropped() {
    in_netns(|| async {
        let t = topo().await;
        let rx = t.nl.watch().await.expect("watch");
        drop(rx);
        ip("link set veth0 down");
        // Still usable afterwards, and a second watch works.
        let mut rx = t.nl.watch().await.expect("second watch");
        ip("link set veth0 up");
        expect_event(&mut rx, "veth0 up", |e| {
            matches!(e, LinkEvent::LinkUp { .. })
        })
        .await;
    });
}

#[test]
fn a_full_table_install_while_watching_is_reported_or_flagged_as_overrun() {
    in_netns(|| async {
        let t = topo().await;
        let mut rx = t.nl.watch().await.expect("watch");
        let nh = vec![NextHop::via("192.0.2.2".parse().expect("ip"), t.veth0)];
        let ops: Vec<tern_netlink::RouteOp> = (0..20_000u32)
            .map(|i| {
                let a = std::net::Ipv4Addr::from(0x0a90_0000 + i);
                tern_netlink::RouteOp::Replace(Route::new(
                    ipnet::IpNet::new(a.into(), 32).expect("/32"),
                    nh.clone(),
                ))
            })
            .collect();
        let report = t.nl.apply_batch(&ops).await;
        assert_eq!(report.applied, 20_000);
        let mut added = 0;
        let mut overrun = false;
        while added < 20_000 && !overrun {
            match tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await {
                Ok(Some(LinkEvent::RouteAdded(_))) => added += 1,
                Ok(Some(LinkEvent::Overrun)) => overrun = true,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("watch stalled after {added} routes"),
            }
        }
        eprintln!("watch saw {added} route notifications, overrun: {overrun}");
    });
}
