//! iBGP through an FRR 8.4 route reflector: two Tern nodes in the
//! reflector's AS, as its clients. Each node's prefix reaches the other
//! node's kernel FIB, with the reflection attributes (ORIGINATOR_ID,
//! CLUSTER_LIST) accepted, and a node never takes its own prefix back.
//! Needs root and FRR (lab/setup.sh).
use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_tests::{bin, private_topology, run_ok};

struct LabGuard {
    topo: PathBuf,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = Command::new(bin("tern-lab"))
            .args(["down", "-t"])
            .arg(&self.topo)
            .output();
    }
}

fn eventually(secs: u64, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check() {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("not reached in {secs} s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn json(cmd: &mut Command) -> Value {
    let out = run_ok(cmd);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn fib(ns: &str) -> Vec<(String, String)> {
    let proto = tern_netlink::TERN_PROTO.to_string();
    let v = json(Command::new("ip").args(["-n", ns, "-j", "route", "show", "proto", &proto]));
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["dst"].as_str().unwrap_or("").to_owned(),
                        r["gateway"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn route_reflector_clients_learn_each_other() {
    let lab = format!("r{}", std::process::id());
    let (_copy, topo) = private_topology("rr.clab.yml", &lab);
    let _guard = LabGuard { topo: topo.clone() };
    run_ok(Command::new(bin("tern-lab")).args(["up", "-t"]).arg(&topo));
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
            let f = fib(ns);
            if f.iter().any(|(d, g)| d == other && g == gw) {
                Ok(())
            } else {
                Err(format!("{ns}: {f:?}"))
            }
        });
    }
    // A client never installs its own prefix reflected back to it.
    assert!(!fib(&node1).iter().any(|(d, _)| d == "10.244.1.0/24"));
    let v = json(Command::new(bin("tern")).args(["-N", &node2, "-c", "show bgp summary json"]));
    let p = &v["ipv4Unicast"]["peers"]["192.0.2.2"];
    assert_eq!(p["remoteAs"], 65000, "{v}");
    assert_eq!(p["localAs"], 65000, "{v}");
    assert_eq!(p["pfxRcd"], 1, "{v}");
}
