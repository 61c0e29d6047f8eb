//! Dual-stack BGP with FRR 8.4: an IPv4 session, and an IPv6 session that
//! carries IPv6 unicast and IPv4 unicast with IPv6 next hops (RFC 8950,
//! extended next hop). Checks FRR's own view and ternd's kernel FIB.
//! Needs root and FRR (lab/setup.sh).
use std::process::Command;

use tern_tests::{Lab, eventually, json, vtysh};

#[test]
fn ipv6_session_carries_ipv6_and_ipv4_with_extended_next_hop() {
    let lab = format!("x{}", std::process::id());
    let _lab = Lab::up("dualstack.clab.yml", &lab);
    let tor1 = format!("clab-{lab}-tor1");
    let node1 = format!("clab-{lab}-node1");

    // FRR: both sessions up; the IPv6 one carries both families.
    eventually(40, "both sessions up at FRR", || {
        let v4 = vtysh(&tor1, "show bgp ipv4 unicast summary json");
        let v6 = vtysh(&tor1, "show bgp ipv6 unicast summary json");
        let checks = [
            (&v4["peers"]["192.0.2.1"], 1),
            (&v4["peers"]["2001:db8:0:1::2"], 1),
            (&v6["peers"]["2001:db8:0:1::2"], 1),
        ];
        for (p, pfx) in checks {
            if p["state"] != "Established" || p["pfxRcd"] != pfx {
                return Err(format!("{p}"));
            }
        }
        Ok(())
    });
    // FRR holds node1's IPv4 prefix from both sessions, one of them with an
    // IPv6 next hop, and installs both as ECMP.
    let r = vtysh(&tor1, "show ip bgp 10.244.1.0/24 json");
    let hops: Vec<String> = r["paths"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["nexthops"][0]["ip"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(hops.contains(&"2001:db8:0:1::2".to_owned()), "{r}");
    assert!(hops.contains(&"192.0.2.1".to_owned()), "{r}");
    let v6 = vtysh(&tor1, "show bgp ipv6 unicast 2001:db8:244:1::/64 json");
    assert!(v6["paths"][0]["valid"] == true, "{v6}");

    // ternd's FIB: IPv6 route via tor1's IPv6 address; IPv4 route with an
    // IPv4 and an IPv6 (RTA_VIA) next hop.
    let proto = tern_netlink::TERN_PROTO.to_string();
    eventually(10, "node1's IPv6 and RFC 8950 routes in the kernel", || {
        let v6 = json(
            Command::new("ip").args(["-n", &node1, "-6", "-j", "route", "show", "proto", &proto]),
        );
        let ok6 = v6.as_array().is_some_and(|a| {
            a.iter()
                .any(|r| r["dst"] == "2001:db8:100::1" && r["gateway"] == "2001:db8:0:1::1")
        });
        let v4 =
            json(Command::new("ip").args(["-n", &node1, "-j", "route", "show", "proto", &proto]));
        let ok4 = v4.as_array().is_some_and(|a| {
            a.iter().any(|r| {
                r["dst"] == "198.51.100.1"
                    && r["nexthops"].as_array().is_some_and(|n| {
                        n.iter().any(|h| h["gateway"] == "192.0.2.0")
                            && n.iter().any(|h| h["via"]["host"] == "2001:db8:0:1::1")
                    })
            })
        });
        if ok6 && ok4 {
            Ok(())
        } else {
            Err(format!("v6 {v6}\nv4 {v4}"))
        }
    });

    // The ToR announces the subnet of node1's own uplink: Tern learns it
    // but never routes it in the kernel (the connected route must stay in
    // charge; an IPv6 BGP route at metric 20 would shadow it at 256).
    tern_tests::vtysh_config(
        &tor1,
        &[
            "router bgp 65000",
            "address-family ipv6 unicast",
            "network 2001:db8:0:1::/64",
        ],
    );
    eventually(10, "the IPv6 route in Tern's Loc-RIB", || {
        let r = tern_tests::tern(&node1, "show bgp ipv6 unicast 2001:db8:0:1::/64 json");
        if r["paths"].as_array().is_some_and(|p| !p.is_empty()) {
            Ok(())
        } else {
            Err(format!("not in Tern's Loc-RIB: {r}"))
        }
    });
    let v6 =
        json(Command::new("ip").args(["-n", &node1, "-6", "-j", "route", "show", "proto", &proto]));
    assert!(
        !v6.as_array()
            .is_some_and(|a| a.iter().any(|r| r["dst"] == "2001:db8:0:1::/64")),
        "a connected subnet is never a Tern route: {v6}"
    );
    let get = tern_tests::run_ok(Command::new("ip").args([
        "-n",
        &node1,
        "-6",
        "route",
        "get",
        "2001:db8:0:1::1",
    ]));
    assert!(!get.contains(" via ") && get.contains("dev eth1"), "{get}");
    // And the routes through that neighbour still resolve.
    let v6 =
        json(Command::new("ip").args(["-n", &node1, "-6", "-j", "route", "show", "proto", &proto]));
    assert!(
        v6.as_array()
            .is_some_and(|a| a.iter().any(|r| r["dst"] == "2001:db8:100::1")),
        "{v6}"
    );

    // RFC 2545 §3: the session runs over global addresses on a shared link,
    // so node1 sends its link-local address beside the global next hop, as
    // FRR does; and when the interface's link-local address changes, FRR
    // is sent the new one.
    let link_local_at_frr = |want: &str| {
        let v6 = vtysh(&tor1, "show bgp ipv6 unicast 2001:db8:244:1::/64 json");
        let hops = &v6["paths"][0]["nexthops"];
        if hops[0]["ip"] == "2001:db8:0:1::2"
            && hops[1]["ip"] == want
            && hops[1]["scope"] == "link-local"
        {
            Ok(())
        } else {
            Err(format!("{v6}"))
        }
    };
    eventually(10, "node1's link-local next hop at FRR", || {
        link_local_at_frr("fe80::ab:cd:ef:2")
    });
    tern_tests::run_ok(Command::new("ip").args([
        "-n",
        &node1,
        "addr",
        "add",
        "fe80::ab:cd:ef:9/64",
        "dev",
        "eth1",
        "nodad",
    ]));
    tern_tests::run_ok(Command::new("ip").args([
        "-n",
        &node1,
        "addr",
        "del",
        "fe80::ab:cd:ef:2/64",
        "dev",
        "eth1",
    ]));
    eventually(20, "node1's new link-local next hop at FRR", || {
        link_local_at_frr("fe80::ab:cd:ef:9")
    });
}
