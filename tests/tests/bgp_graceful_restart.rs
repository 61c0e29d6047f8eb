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
use std::{
    fs::OpenOptions,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_tests::{bin, private_topology, run_ok};

struct LabGuard {
    topo: PathBuf,
    /// Processes the test started itself, stopped by pid.
    extra: Vec<i32>,
    child: Option<Child>,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .output();
            let _ = c.wait();
        }
        for pid in &self.extra {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .output();
        }
        let _ = Command::new(bin("tern-lab"))
            .args(["down", "-t"])
            .arg(&self.topo)
            .output();
    }
}

fn eventually(secs: u64, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "not reached in {secs} s: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn vtysh(node: &str, cmd: &str) -> Value {
    let out = run_ok(Command::new("vtysh").args(["-N", node, "-c", cmd]));
    serde_json::from_str(&out).unwrap_or_default()
}

fn fib(node: &str) -> Vec<String> {
    let out = run_ok(Command::new("ip").args(["-n", node, "-4", "route", "show", "proto", "202"]));
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn has(list: &[String], p: &str) -> bool {
    list.iter().any(|x| x == p)
}

/// The recorded pid of `node`'s `process` in the lab's state file.
fn pid(lab: &str, node: &str, process: &str) -> i32 {
    let path = format!("/run/tern-lab/{lab}/state.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let state: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    state["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == node))
        .and_then(|n| n["processes"].as_array())
        .and_then(|p| p.iter().find(|p| p["name"] == process))
        .and_then(|p| p["pid"].as_i64())
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no pid of {node}/{process} in {state}"))
}

fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.contains(") Z "),
        Err(_) => true,
    }
}

/// Adds `line` after the line starting with `after` in `file`.
fn insert_after(file: &Path, after: &str, line: &str) {
    let text = std::fs::read_to_string(file).expect("config");
    let mut out = String::new();
    for l in text.lines() {
        out.push_str(l);
        out.push('\n');
        if l.starts_with(after) {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(out.len() > text.len(), "no {after:?} in {}", file.display());
    std::fs::write(file, out).expect("write config");
}

#[test]
fn graceful_restart_both_ways_with_frr() {
    let lab = format!("gr{}", std::process::id());
    let (_copy, topo) = private_topology("tern.clab.yml", &lab);
    let dir = topo.parent().expect("topology dir").to_owned();
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
    let mut guard = LabGuard {
        topo: topo.clone(),
        extra: Vec::new(),
        child: None,
    };
    run_ok(Command::new(bin("tern-lab")).args(["up", "-t"]).arg(&topo));
    let tor1 = format!("clab-{lab}-tor1");
    let node1 = format!("clab-{lab}-node1");
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

    // 1. Tern restarts.
    let ternd = pid(&lab, "node1", "ternd");
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
    run_ok(Command::new("vtysh").args([
        "-N",
        &tor1,
        "-c",
        "configure terminal",
        "-c",
        "router bgp 65000",
        "-c",
        "address-family ipv4 unicast",
        "-c",
        "no network 198.51.100.1/32",
    ]));
    let node_dir = PathBuf::from(format!("/run/tern-lab/{lab}/node1"));
    let log = OpenOptions::new()
        .append(true)
        .open(node_dir.join("node.log"))
        .expect("node.log");
    let err = log.try_clone().expect("node.log");
    guard.child = Some(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{node1}"))
            .arg("--")
            .arg(bin("ternd"))
            .args(["-N", &node1, "-f"])
            .arg(node_dir.join("ternd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start ternd"),
    );
    eventually(30, "FRR has node1's route fresh again", || {
        let p = frr_path("10.244.1.0/24");
        p.is_object() && p["stale"] != true
    });
    eventually(30, "node1's FIB reconciled after End-of-RIB", || {
        let f = fib(&node1);
        has(&f, "10.244.2.0/24") && !has(&f, "198.51.100.1")
    });

    // 2. FRR restarts: its bgpd is killed (no NOTIFICATION), node1 keeps
    // what it learnt; the new bgpd announces the loopback no more.
    let tor_dir = PathBuf::from(format!("/run/tern-lab/{lab}/tor1"));
    run_ok(Command::new("vtysh").args([
        "-N",
        &tor1,
        "-c",
        "configure terminal",
        "-c",
        "router bgp 65000",
        "-c",
        "address-family ipv4 unicast",
        "-c",
        "network 198.51.100.1/32",
    ]));
    eventually(10, "the loopback back in node1's FIB", || {
        has(&fib(&node1), "198.51.100.1")
    });
    let conf = tor_dir.join("frr.conf");
    let text = std::fs::read_to_string(&conf).expect("tor1's frr.conf copy");
    std::fs::write(&conf, text.replace("  network 198.51.100.1/32\n", "")).expect("write frr.conf");
    let bgpd = pid(&lab, "tor1", "bgpd");
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
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{tor1}"))
            .arg("--")
            .arg("/usr/lib/frr/bgpd")
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
        guard.extra.push(p);
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
