//! BGP between ternd and a real FRR 8.4 top-of-rack router, on the default
//! lab: sessions come up, each node's `network` routes reach FRR and, through
//! it, the other node's kernel FIB (with Tern's route protocol id), packets
//! follow those routes, and stopping a node withdraws its routes everywhere.
//! Needs root, FRR and bpffs (lab/setup.sh).
use std::process::Command;

use serde_json::Value;
use tern_tests::{Lab, bin, eventually, json, run, run_ok, tern_routes, vtysh};

#[test]
fn ternd_peers_with_frr_exchanges_installs_and_withdraws() {
    let lab = format!("b{}", std::process::id());
    let lab_guard = Lab::up("tern.clab.yml", &lab);
    let topo = lab_guard.topology().to_path_buf();
    let tor1 = format!("clab-{lab}-tor1");
    let node1 = format!("clab-{lab}-node1");
    let node2 = format!("clab-{lab}-node2");

    // FRR's own view: both Tern nodes Established, two prefixes from each.
    eventually(30, "both Tern nodes Established at FRR", || {
        let v = vtysh(&tor1, "show bgp ipv4 unicast summary json");
        for (peer, host) in [("192.0.2.1", "node1"), ("192.0.2.3", "node2")] {
            let p = &v["peers"][peer];
            if p["state"] != "Established" || p["pfxRcd"] != 2 {
                return Err(format!("{peer}: {p}"));
            }
            if p["hostname"] != host {
                return Err(format!("{peer} hostname: {p}"));
            }
        }
        Ok(())
    });
    let rib = vtysh(&tor1, "show ip bgp json");
    let path = &rib["routes"]["10.244.1.0/24"][0];
    assert_eq!(path["nexthops"][0]["ip"], "192.0.2.1", "{path}");
    assert_eq!(path["path"], "65001", "{path}");
    assert_eq!(path["origin"], "IGP", "{path}");

    // Tern's view, through tern's FRR-compatible JSON.
    let v = json(Command::new(bin("tern")).args(["-N", &node1, "-c", "show bgp summary json"]));
    let p = &v["ipv4Unicast"]["peers"]["192.0.2.0"];
    assert_eq!(p["state"], "Established", "{v}");
    assert_eq!(p["remoteAs"], 65000);
    assert_eq!(p["hostname"], "tor1");
    assert_eq!(p["pfxSnt"], 2, "{p}");

    // node2's kernel FIB holds node1's routes via tor1, and not its own.
    let routes = eventually(10, "node1's routes in node2's kernel", || {
        let r = tern_routes(&node2);
        let want = [
            ("10.244.1.0/24", "192.0.2.2"),
            ("198.51.100.11", "192.0.2.2"),
            ("198.51.100.1", "192.0.2.2"),
        ];
        if want
            .iter()
            .all(|(d, g)| r.iter().any(|(rd, rg)| rd == d && rg == g))
        {
            Ok(r)
        } else {
            Err(format!("{r:?}"))
        }
    });
    assert!(
        !routes.iter().any(|(d, _)| d == "10.244.2.0/24"),
        "a node must not install its own prefix learned back: {routes:?}"
    );

    // Packets follow the BGP routes: node2's loopback reaches node1's.
    let out = run(Command::new(bin("tern-lab"))
        .args(["exec", "-t"])
        .arg(&topo)
        .args([
            "node2",
            "--",
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            "-I",
            "198.51.100.12",
            "198.51.100.11",
        ]));
    assert!(
        out.status.success(),
        "loopback to loopback over BGP routes: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Service VIPs added and removed at run time reach FRR and node2.
    let tern = |ns: &str, cmd: &str| run(Command::new(bin("tern")).args(["-N", ns, "-c", cmd]));
    let out = tern(&node1, "service vip add 198.51.100.100/32");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(10, "the VIP at FRR via node1", || {
        let v = vtysh(&tor1, "show ip bgp json");
        let p = &v["routes"]["198.51.100.100/32"][0];
        if p["nexthops"][0]["ip"] == "192.0.2.1" {
            Ok(())
        } else {
            Err(format!("FRR has no VIP via node1: {p}"))
        }
    });
    eventually(10, "the VIP in node2's kernel", || {
        let r = tern_routes(&node2);
        if r.iter().any(|(d, _)| d == "198.51.100.100") {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    let out = tern(&node1, "show service vip");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "198.51.100.100/32\n");
    let bad = tern(&node1, "service vip add 198.51.100.0/24");
    assert_eq!(bad.status.code(), Some(2), "a /24 is not a VIP");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("host route"));
    let out = tern(&node1, "service vip del 198.51.100.100/32");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(10, "the withdrawn VIP gone from FRR", || {
        let v = vtysh(&tor1, "show ip bgp json");
        if v["routes"].get("198.51.100.100/32").is_some() {
            Err("FRR still has the withdrawn VIP".into())
        } else {
            Ok(())
        }
    });

    // Withdraw path: node1's ternd stops; its routes leave FRR and node2.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("/run/tern-lab/{lab}/state.json")).expect("state file"),
    )
    .expect("state json");
    let pid = state["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["name"] == "node1"))
        .and_then(|n| n["processes"][0]["pid"].as_i64())
        .unwrap_or_else(|| panic!("node1's ternd pid in {state}"));
    run_ok(Command::new("kill").args(["-TERM", &pid.to_string()]));
    eventually(10, "node1's routes gone from node2's kernel", || {
        let r = tern_routes(&node2);
        if r.iter()
            .any(|(d, _)| d == "10.244.1.0/24" || d == "198.51.100.11")
        {
            Err(format!("node2 still has node1's routes: {r:?}"))
        } else {
            Ok(())
        }
    });
    eventually(10, "node1's routes and session gone at FRR", || {
        let v = vtysh(&tor1, "show ip bgp json");
        if v["routes"].get("10.244.1.0/24").is_some() {
            return Err("FRR still has 10.244.1.0/24".into());
        }
        let s = vtysh(&tor1, "show bgp ipv4 unicast summary json");
        if s["peers"]["192.0.2.1"]["state"] == "Established" {
            return Err("FRR still Established with node1".into());
        }
        Ok(())
    });
    // A clean stop takes node1's own routes out of its kernel.
    assert!(tern_routes(&node1).is_empty(), "{:?}", tern_routes(&node1));

    // node2's uplink goes down: the session resets at once (fast external
    // failover, well before the 9 s hold timer), and comes back with the
    // routes when the link does.
    let state = |ns: &str| {
        let v = json(Command::new(bin("tern")).args(["-N", ns, "-c", "show bgp summary json"]));
        v["ipv4Unicast"]["peers"]["192.0.2.2"]["state"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    };
    assert_eq!(state(&node2), "Established");
    run_ok(Command::new("ip").args(["-n", &node2, "link", "set", "eth1", "down"]));
    eventually(3, "node2's session down with its uplink", || {
        match state(&node2).as_str() {
            "Established" => Err("still Established".to_owned()),
            _ => Ok(()),
        }
    });
    run_ok(Command::new("ip").args(["-n", &node2, "link", "set", "eth1", "up"]));
    eventually(30, "node2's session back", || {
        match state(&node2).as_str() {
            "Established" => Ok(()),
            s => Err(s.to_owned()),
        }
    });
    eventually(10, "tor1's loopback back in node2's kernel", || {
        let r = tern_routes(&node2);
        if r.iter()
            .any(|(d, g)| d == "198.51.100.1" && g == "192.0.2.2")
        {
            Ok(())
        } else {
            Err(format!("tor1's loopback not back in node2's FIB: {r:?}"))
        }
    });
}
