//! iBGP through an FRR 8.4 route reflector: two Tern nodes in the
//! reflector's AS, as its clients. Each node's prefix reaches the other
//! node's kernel FIB, with the reflection attributes (ORIGINATOR_ID,
//! CLUSTER_LIST) accepted, and a node never takes its own prefix back.
//! Needs root and FRR (lab/setup.sh).
use std::process::Command;

use tern_tests::{Lab, bin, eventually, json, tern_routes};

#[test]
fn route_reflector_clients_learn_each_other() {
    let lab = format!("r{}", std::process::id());
    let _lab = Lab::up("rr.clab.yml", &lab);
    let tor1 = format!("clab-{lab}-tor1");
    let node1 = format!("clab-{lab}-node1");
    let node2 = format!("clab-{lab}-node2");

    eventually(30, "tor1's sessions with both nodes", || {
        let v = json(Command::new("vtysh").args([
            "-N",
            &tor1,
            "-c",
            "show bgp ipv4 unicast summary json",
        ]));
        for peer in ["192.0.2.1", "192.0.2.3"] {
            let p = &v["peers"][peer];
            if p["state"] != "Established" || p["pfxRcd"] != 1 {
                return Err(format!("{peer}: {p}"));
            }
        }
        Ok(())
    });
    // FRR took the iBGP routes with LOCAL_PREF 100 (ternd sends it on iBGP).
    let r = json(Command::new("vtysh").args(["-N", &tor1, "-c", "show ip bgp 10.244.1.0/24 json"]));
    assert_eq!(r["paths"][0]["locPrf"], 100, "{r}");

    for (ns, other, gw) in [
        (&node1, "10.244.2.0/24", "192.0.2.0"),
        (&node2, "10.244.1.0/24", "192.0.2.2"),
    ] {
        eventually(15, "the other node's route via the reflector", || {
            let f = tern_routes(ns);
            if f.iter().any(|(d, g)| d == other && g == gw) {
                Ok(())
            } else {
                Err(format!("{ns}: {f:?}"))
            }
        });
    }
    // A client never installs its own prefix reflected back to it.
    assert!(
        !tern_routes(&node1)
            .iter()
            .any(|(d, _)| d == "10.244.1.0/24")
    );
    let v = json(Command::new(bin("tern")).args(["-N", &node2, "-c", "show bgp summary json"]));
    let p = &v["ipv4Unicast"]["peers"]["192.0.2.2"];
    assert_eq!(p["remoteAs"], 65000, "{v}");
    assert_eq!(p["localAs"], 65000, "{v}");
    assert_eq!(p["pfxRcd"], 1, "{v}");
    // The Loc-RIB's memory, as FRR's summary reports its own.
    assert!(
        v["ipv4Unicast"]["ribMemory"]
            .as_u64()
            .is_some_and(|m| m > 0),
        "{v}"
    );
    let text = tern_tests::tern_text(&node2, "show bgp summary");
    assert!(
        text.lines()
            .any(|l| l.starts_with("RIB entries ") && l.ends_with(" bytes of memory")),
        "{text}"
    );
}

/// The reflector leaves the next hops alone (no next-hop-self): node1 gets
/// node2's prefix with next hop 192.0.2.3, which is not on node1's link,
/// and resolves it through the route the reflector originates for node2's
/// uplink subnet, as zebra does; without that covering route the prefix
/// leaves the kernel, and comes back with it.
#[test]
fn reflected_next_hops_resolve_recursively() {
    let name = format!("rn{}", std::process::id());
    let lab = Lab::up_with("rr.clab.yml", &name, |dir| {
        let conf = dir.join("rr/frr.conf");
        let text = std::fs::read_to_string(&conf).expect("frr.conf");
        let text: String = text
            .lines()
            .filter(|l| !l.contains("next-hop-self"))
            .flat_map(|l| {
                let extra = (l.trim() == "address-family ipv4 unicast")
                    .then_some("  redistribute connected\n");
                std::iter::once(format!("{l}\n")).chain(extra.map(str::to_owned))
            })
            .collect();
        std::fs::write(&conf, text).expect("write frr.conf");
    });
    let (tor1, node1) = (lab.ns("tor1"), lab.ns("node1"));
    let bgp_next_hop = || {
        let v = json(Command::new(bin("tern")).args([
            "-N",
            &node1,
            "-c",
            "show ip bgp 10.244.2.0/24 json",
        ]));
        v["paths"][0]["nexthops"][0]["ip"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let installed = |want: Option<&str>| {
        let f = tern_routes(&node1);
        let got = f
            .iter()
            .find(|(d, _)| d == "10.244.2.0/24")
            .map(|(_, g)| g.as_str());
        if got == want {
            Ok(())
        } else {
            Err(format!(
                "10.244.2.0/24 in node1's FIB: {got:?}, want {want:?} ({f:?})"
            ))
        }
    };
    eventually(30, "the reflected uplink route", || {
        installed(Some("192.0.2.0"))
    });
    assert_eq!(
        bgp_next_hop(),
        "192.0.2.3",
        "the reflected next hop is kept"
    );
    // node1's own uplink subnet, reflected back as a BGP route, stays out
    // of the kernel: the connected route serves it.
    assert!(
        !tern_routes(&node1).iter().any(|(d, _)| d == "192.0.2.0/31"),
        "{:?}",
        tern_routes(&node1)
    );
    let reflector = |cmd: &str| {
        tern_tests::vtysh_config(
            &tor1,
            &["router bgp 65000", "address-family ipv4 unicast", cmd],
        );
    };
    reflector("no redistribute connected");
    eventually(15, "the reflected uplink route gone", || installed(None));
    reflector("redistribute connected");
    eventually(15, "the reflected uplink route back", || {
        installed(Some("192.0.2.0"))
    });
}
