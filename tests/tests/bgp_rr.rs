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

    eventually(30, || {
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
        eventually(15, || {
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
}
