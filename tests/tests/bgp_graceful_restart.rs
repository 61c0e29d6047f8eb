//! Graceful restart (RFC 4724) against FRR 8.4, both ways, on a copy of the
//! default lab with `bgp graceful-restart` on node1 and on the ToR (FRR with
//! `preserve-fw-state`).
//! 1. Tern restarts: node1's ternd stops (SIGTERM); FRR keeps node1's routes
//!    (stale) and node1's kernel keeps the fabric's; a new ternd reconciles
//!    its FIB after End-of-RIB (a route the ToR withdrew meanwhile is gone,
//!    the others never left).
//! 2. FRR restarts: tor1's bgpd is killed; node1 keeps its routes (stale),
//!    and after the new bgpd's End-of-RIB drops the one it no longer sends.
//!
//! Needs root and FRR (lab/setup.sh).
use std::{collections::BTreeSet, path::PathBuf, process::Command, time::Duration};

use tern_tests::{
    Lab, eventually, gone, insert_after, json, netns_command, run_ok, vtysh, vtysh_config,
};

/// The prefixes of Tern's IPv4 routes (protocol 202) in `node`'s kernel.
fn fib(node: &str) -> Vec<String> {
    tern_tests::tern_routes(node)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !p.contains(':'))
        .collect()
}

fn has(list: &[String], p: &str) -> bool {
    list.iter().any(|x| x == p)
}

/// A bgpd this test started: SIGTERM by pid on drop.
struct Bgpd(Option<i32>);

impl Drop for Bgpd {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .output();
        }
    }
}

#[test]
fn graceful_restart_both_ways_with_frr() {
    let name = format!("gr{}", std::process::id());
    let lab = Lab::up_with("tern.clab.yml", &name, |dir| {
        insert_after(
            &dir.join("node1/ternd.conf"),
            "router bgp",
            " bgp graceful-restart",
        );
        insert_after(
            &dir.join("tor1/frr.conf"),
            "router bgp",
            " bgp graceful-restart",
        );
        insert_after(
            &dir.join("tor1/frr.conf"),
            " bgp graceful-restart",
            " bgp graceful-restart preserve-fw-state",
        );
    });
    let mut bgpd_guard = Bgpd(None);
    let tor1 = lab.ns("tor1");
    let node1 = lab.ns("node1");
    let frr_path = |p: &str| vtysh(&tor1, &format!("show ip bgp {p} json"))["paths"][0].clone();
    eventually(30, "routes both ways", || {
        let f = fib(&node1);
        frr_path("10.244.1.0/24").is_object() && has(&f, "10.244.2.0/24") && has(&f, "198.51.100.1")
    });
    let caps = vtysh(&tor1, "show bgp neighbors 192.0.2.1 json");
    assert_eq!(
        caps["192.0.2.1"]["neighborCapabilities"]["gracefulRestart"], "advertisedAndReceived",
        "{caps}"
    );
    // Both sides report the modes as FRR words them: node1 restarts
    // (`bgp graceful-restart`), FRR sees node1 able to restart.
    assert_eq!(
        caps["192.0.2.1"]["gracefulRestartInfo"]["remoteGrMode"], "Restart",
        "{caps}"
    );
    let ours = tern_tests::tern_text(&node1, "show bgp neighbors 192.0.2.0");
    assert!(
        ours.contains("    Local GR Mode: Restart*\n") && ours.contains("    Remote GR Mode: "),
        "{ours}"
    );

    // 1. Tern restarts.
    let ternd = lab.pid("node1", "ternd");
    run_ok(Command::new("kill").args(["-TERM", &ternd.to_string()]));
    eventually(10, "node1's ternd stopped", || gone(ternd));
    eventually(10, "FRR holds node1's route as stale", || {
        frr_path("10.244.1.0/24")["stale"] == true
    });
    let f = fib(&node1);
    assert!(
        has(&f, "10.244.2.0/24") && has(&f, "198.51.100.1"),
        "node1's kernel keeps the routes while ternd is down: {f:?}"
    );
    // Meanwhile the ToR stops announcing its loopback.
    vtysh_config(
        &tor1,
        &[
            "router bgp 65000",
            "address-family ipv4 unicast",
            "no network 198.51.100.1/32",
        ],
    );
    let _ternd = lab.start_ternd("node1", None);
    eventually(30, "FRR has node1's route fresh again", || {
        let p = frr_path("10.244.1.0/24");
        p.is_object() && p["stale"] != true
    });
    eventually(30, "node1's FIB reconciled after End-of-RIB", || {
        let f = fib(&node1);
        has(&f, "10.244.2.0/24") && !has(&f, "198.51.100.1")
    });
    // The routes refer to the new ternd's nexthop objects, and the old
    // ternd's objects are gone once its routes are (no ECMP in this lab:
    // every object is some route's own).
    eventually(10, "only the new ternd's nexthop objects left", || {
        let proto = tern_netlink::TERN_PROTO.to_string();
        let ids = |v: serde_json::Value, key: &str| -> BTreeSet<u64> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x[key].as_u64())
                .collect()
        };
        let objects = ids(
            json(
                Command::new("ip")
                    .args(["-n", &node1, "-j", "nexthop", "show", "protocol", &proto]),
            ),
            "id",
        );
        let used = ids(
            json(Command::new("ip").args(["-n", &node1, "-j", "route", "show", "proto", &proto])),
            "nhid",
        );
        !objects.is_empty() && objects == used
    });

    // 2. FRR restarts: its bgpd is killed (no NOTIFICATION), node1 keeps
    // what it learnt; the new bgpd announces the loopback no more.
    let tor_dir: PathBuf = lab.state_dir().join("tor1");
    vtysh_config(
        &tor1,
        &[
            "router bgp 65000",
            "address-family ipv4 unicast",
            "network 198.51.100.1/32",
        ],
    );
    eventually(10, "the loopback back in node1's FIB", || {
        has(&fib(&node1), "198.51.100.1")
    });
    let conf = tor_dir.join("frr.conf");
    let text = std::fs::read_to_string(&conf).expect("tor1's frr.conf copy");
    std::fs::write(&conf, text.replace("  network 198.51.100.1/32\n", "")).expect("write frr.conf");
    let bgpd = lab.pid("tor1", "bgpd");
    run_ok(Command::new("kill").args(["-KILL", &bgpd.to_string()]));
    eventually(10, "tor1's bgpd gone", || gone(bgpd));
    std::thread::sleep(Duration::from_secs(1));
    let f = fib(&node1);
    assert!(
        has(&f, "10.244.2.0/24") && has(&f, "198.51.100.1"),
        "node1 keeps FRR's routes while its bgpd restarts: {f:?}"
    );
    let pid_file = tor_dir.join("bgpd.pid");
    run_ok(
        netns_command(&tor1, "/usr/lib/frr/bgpd")
            .args(["-d", "-N", &tor1, "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(&pid_file)
            .args(["-P", "0"])
            .arg(format!("--log=file:{}", tor_dir.join("bgpd.log").display())),
    );
    eventually(10, "the new bgpd's pid file", || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .is_some_and(|p| p != bgpd && !gone(p))
    });
    if let Some(p) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    {
        bgpd_guard.0 = Some(p);
    }
    eventually(
        60,
        "node1 drops the stale loopback after FRR's End-of-RIB",
        || {
            let f = fib(&node1);
            has(&f, "10.244.2.0/24") && !has(&f, "198.51.100.1")
        },
    );
    eventually(10, "FRR has node1's route again", || {
        frr_path("10.244.1.0/24").is_object()
    });
}
