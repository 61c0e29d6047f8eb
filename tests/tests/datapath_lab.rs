//! The eBPF pod datapath end to end (lab/topologies/datapath.clab.yml): FRR
//! tor1, two Tern nodes, two pods each (tern-cni). ternd starts in native
//! mode; the test then switches both nodes LIVE to VXLAN and to Geneve
//! through `tern`'s config mode (ternd keeps its pid). In each mode: IPv4
//! and IPv6 ping and a 1 MiB TCP transfer (every byte checked) pod to pod
//! on one node and across nodes; the datapath's path counters and the
//! per-endpoint counters prove the programs carried the packets, no packet
//! was dropped (`show datapath drops json`), the tunnel map holds the other
//! node's pod CIDRs learnt over BGP, the pod MTU accounts for the tunnel,
//! and tshark decodes the VXLAN / Geneve packets captured on node1's link
//! to tor1. At the end `no datapath mode` detaches and unpins everything.
//! Needs root, FRR, ping, tcpdump, tshark and bpffs (lab/setup.sh); fails
//! (never skips) without them.
use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_tests::{
    bin, netns_with_prefix, ns_ping, pod_addr, private_topology, run, run_ok, tcp_transfer,
};

const VNI: u64 = 4242;

/// Runs `tern-lab down` on drop and stops captures, so a failing test
/// still cleans up.
struct LabGuard {
    topo: PathBuf,
    captures: Vec<Child>,
    dir: PathBuf,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        for c in &mut self.captures {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new(bin("tern-lab"))
            .args(["down", "-t"])
            .arg(&self.topo)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tool(name: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{name} is needed by this test and is not installed (lab/setup.sh installs it)"
    );
}

/// Retries `f` until it returns Ok or `secs` pass.
fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => panic!("{what}: not within {secs} s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn tern(instance: &str, cmds: &[&str]) -> String {
    let mut c = Command::new(bin("tern"));
    c.args(["-N", instance]);
    for cmd in cmds {
        c.args(["-c", cmd]);
    }
    run_ok(&mut c)
}

fn tern_json(instance: &str, cmd: &str) -> Value {
    let out = tern(instance, &[cmd]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{cmd}: {e}: {out}"))
}

fn paths(instance: &str) -> Value {
    tern_json(instance, "show datapath json")["paths"].clone()
}

fn path(p: &Value, name: &str) -> u64 {
    p[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no path counter {name} in {p}"))
}

fn drops_total(instance: &str) -> (u64, Value) {
    let v = tern_json(instance, "show datapath drops json");
    let total = v["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("no total in {v}"));
    (total, v)
}

/// (from-pod packets, to-pod packets) of the endpoint of `pod_ns`.
fn ep_counters(instance: &str, pod_ns: &str) -> (u64, u64) {
    let v = tern_json(instance, "show datapath endpoints json");
    let e = v["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["containerId"] == pod_ns)
        .unwrap_or_else(|| panic!("no endpoint {pod_ns} in {v}"));
    assert_eq!(e["attached"], true, "pod program attached to {pod_ns}: {e}");
    let c = &e["counters"];
    (
        c["fromPodPackets"].as_u64().unwrap_or_default(),
        c["toPodPackets"].as_u64().unwrap_or_default(),
    )
}

fn ternd_pid(instance: &str) -> String {
    let out = tern(instance, &["show version"]);
    out.split("ternd pid ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("no pid in show version: {out}"))
        .to_owned()
}

/// Starts tcpdump on node1's uplink (UDP only) and waits until it listens.
fn capture(guard: &mut LabGuard, node_ns: &str, file: &Path) {
    let err = file.with_extension("err");
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            node_ns,
            "tcpdump",
            "--immediate-mode",
            "-i",
            "eth1",
            "-U",
            "-n",
            "-s",
            "512",
            "-w",
        ])
        .arg(file)
        .arg("udp")
        .stdout(Stdio::null())
        .stderr(File::create(&err).expect("stderr file"))
        .spawn()
        .expect("start tcpdump");
    guard.captures.push(child);
    eventually(10, "tcpdump listening", || {
        let e = std::fs::read_to_string(&err).unwrap_or_default();
        if e.contains("listening on") {
            Ok(())
        } else {
            Err(e)
        }
    });
}

fn stop_capture(guard: &mut LabGuard) {
    if let Some(mut c) = guard.captures.pop() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = c.wait();
    }
}

/// tshark must decode the tunnel packets with our VNI, carrying pod
/// packets of both families, and find nothing malformed.
fn check_with_tshark(file: &Path, mode: &str) {
    let decode = match mode {
        "vxlan" => "udp.port==4789,vxlan",
        _ => "udp.port==6081,geneve",
    };
    let f = file.display().to_string();
    let out = run_ok(Command::new("tshark").args([
        "-r",
        &f,
        "-d",
        decode,
        "-Y",
        mode,
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-E",
        "occurrence=l",
        "-e",
        &format!("{mode}.vni"),
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
    ]));
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        lines.len() >= 20,
        "tshark decoded only {} {mode} packets:\n{out}",
        lines.len()
    );
    let (mut inner4, mut inner6) = (0, 0);
    for l in &lines {
        let cols: Vec<&str> = l.split(';').collect();
        // tshark prints the VXLAN VNI in decimal and the Geneve VNI in hex.
        let vni = match cols[0].strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => cols[0].parse().ok(),
        };
        assert_eq!(vni, Some(VNI), "{mode} VNI in `{l}`");
        // The last (inner) source address is a pod's.
        if cols.get(1).is_some_and(|c| c.starts_with("10.244.")) {
            inner4 += 1;
        } else if cols.get(2).is_some_and(|c| c.starts_with("2001:db8:244:")) {
            inner6 += 1;
        }
    }
    assert!(
        inner4 > 0 && inner6 > 0,
        "inner IPv4 ({inner4}) and IPv6 ({inner6}) pod packets in {mode}:\n{out}"
    );
    // Every error tshark's experts raise fails the test, but one: the
    // Geneve encapsulation sends UDP checksum 0 over IPv6, which RFC 8926
    // section 3.3 allows for tunnels (RFC 6935/6936 conditions) and tshark
    // flags as "Illegal checksum value (0)" all the same.
    let bad = run_ok(Command::new("tshark").args([
        "-r",
        &f,
        "-d",
        decode,
        "-Y",
        "_ws.malformed || _ws.expert.severity == error",
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-E",
        "aggregator=|",
        "-e",
        "frame.number",
        "-e",
        "ipv6.src",
        "-e",
        "_ws.malformed",
        "-e",
        "_ws.expert.message",
        "-e",
        "_ws.expert.severity",
    ]));
    const PI_ERROR: &str = "8388608";
    for l in bad.lines().filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = l.split(';').collect();
        assert!(
            cols.get(2).is_some_and(|m| m.is_empty()),
            "malformed {mode} packet: {l}"
        );
        let outer_v6 = cols.get(1).is_some_and(|c| c.starts_with("2001:db8:0:"));
        let msgs = cols.get(3).copied().unwrap_or_default().split('|');
        let sevs = cols.get(4).copied().unwrap_or_default().split('|');
        for (msg, sev) in msgs.zip(sevs) {
            let allowed = mode == "geneve" && outer_v6 && msg == "Illegal checksum value (0)";
            assert!(
                sev != PI_ERROR || allowed,
                "tshark reports an error in a {mode} packet: {l}"
            );
        }
    }
}

/// The ToR passes the announcing node's address on as the next hop (the
/// tunnel modes need it; see the topology's comments).
fn tor_next_hop_unchanged(tor: &str) {
    tern_tests::vtysh_config(
        tor,
        &[
            "router bgp 65000",
            "address-family ipv4 unicast",
            "neighbor 192.0.2.1 attribute-unchanged next-hop",
            "neighbor 192.0.2.3 attribute-unchanged next-hop",
            "exit-address-family",
            "address-family ipv6 unicast",
            "neighbor 2001:db8:0:1::2 attribute-unchanged next-hop",
            "neighbor 2001:db8:0:2::2 attribute-unchanged next-hop",
            "end",
            "clear bgp * soft out",
        ],
    );
}

#[test]
fn pods_talk_in_native_vxlan_and_geneve_mode_switched_live() {
    for t in ["ping", "tcpdump", "tshark", "vtysh"] {
        tool(t);
    }
    let lab = format!("dp{}", std::process::id());
    let prefix = format!("clab-{lab}-");
    let (_copy, topo) = private_topology("datapath.clab.yml", &lab);
    let dir = std::env::temp_dir().join(format!("tern-test-{lab}-pcap"));
    std::fs::create_dir_all(&dir).expect("capture dir");
    let mut guard = LabGuard {
        topo: topo.clone(),
        captures: Vec::new(),
        dir: dir.clone(),
    };
    run_ok(Command::new(bin("tern-lab")).args(["up", "-t"]).arg(&topo));
    let ns = |n: &str| format!("{prefix}{n}");
    let (node1, node2, tor1) = (ns("node1"), ns("node2"), ns("tor1"));
    let (n1p1, n1p2, n2p1, n2p2) = (
        ns("node1-pod1"),
        ns("node1-pod2"),
        ns("node2-pod1"),
        ns("node2-pod2"),
    );
    let pids = (ternd_pid(&node1), ternd_pid(&node2));
    // Same node, and across nodes both ways.
    let pairs = [(&n1p1, &n1p2), (&n1p1, &n2p1), (&n2p2, &n1p2)];
    let mut port = 7000;
    for mode in ["native", "vxlan", "geneve"] {
        if mode != "native" {
            if mode == "vxlan" {
                tor_next_hop_unchanged(&tor1);
            }
            // The live switch: a config line, no restart.
            for n in [&node1, &node2] {
                tern(n, &["configure terminal", &format!("datapath mode {mode}")]);
            }
        }
        for (n, other_v4, other_v6) in [
            (&node1, "192.0.2.3", "2001:db8:0:2::2"),
            (&node2, "192.0.2.1", "2001:db8:0:1::2"),
        ] {
            let info = eventually(60, "the datapath's settings and tunnel map", || {
                let v = tern_json(n, "show datapath json");
                let tunnels: Vec<String> = v["tunnels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| t["node"].as_str().unwrap_or_default().to_owned())
                    .collect();
                let ok = v["mode"] == mode
                    && (mode == "native"
                        || (tunnels.iter().any(|t| t == other_v4)
                            && tunnels.iter().any(|t| t == other_v6)));
                if ok { Ok(v) } else { Err(v.to_string()) }
            });
            assert_eq!(info["loaded"], true, "{info}");
            assert_eq!(info["uplink"], "eth1", "{info}");
            assert_eq!(info["vni"], VNI, "{info}");
            assert_eq!(info["lastError"], Value::Null, "{info}");
            assert_eq!(
                info["vxlanDevice"] == "tern_vxlan",
                mode == "vxlan",
                "the VXLAN device exists in VXLAN mode only: {info}"
            );
            // 1500 minus 70 (tunnel over IPv6) in the tunnel modes; the
            // pods' MTU (lab netconf) fits.
            let want_mtu = if mode == "native" { 1500 } else { 1430 };
            assert_eq!(info["podMtu"], want_mtu, "{info}");
            let eps = tern_json(n, "show datapath endpoints json");
            for e in eps["endpoints"].as_array().into_iter().flatten() {
                assert!(e["mtu"].as_u64().unwrap_or(u64::MAX) <= want_mtu, "{e}");
                assert_eq!(e["mtuTooBig"], false, "{e}");
            }
        }
        let pcap = dir.join(format!("{mode}.pcap"));
        if mode != "native" {
            capture(&mut guard, &node1, &pcap);
        }
        let (p1, p2) = (paths(&node1), paths(&node2));
        let (d1, d2) = (drops_total(&node1).0, drops_total(&node2).0);
        let ep_before = ep_counters(&node1, &n1p1);
        for (from, to) in pairs {
            for v6 in [false, true] {
                let addr = pod_addr(to, v6);
                eventually(60, &format!("{mode}: {from} -> {addr}"), || {
                    ns_ping(from, &addr, 2)
                });
                port += 1;
                tcp_transfer(to, &addr, from, port);
            }
        }
        let (q1, q2) = (paths(&node1), paths(&node2));
        let grew = |a: &Value, b: &Value, k: &str| path(b, k) > path(a, k);
        assert!(grew(&p1, &q1, "local"), "{mode}: same-node path {q1}");
        let (out, inn) = match mode {
            "native" => ("native", "uplink-deliver"),
            "vxlan" => ("vxlan-encap", "vxlan-deliver"),
            _ => ("geneve-encap", "geneve-decap"),
        };
        for (name, a, b) in [("node1", &p1, &q1), ("node2", &p2, &q2)] {
            assert!(grew(a, b, out), "{mode}: {name} sent by {out}: {b}");
            assert!(grew(a, b, inn), "{mode}: {name} received by {inn}: {b}");
        }
        let ep_after = ep_counters(&node1, &n1p1);
        assert!(
            ep_after.0 > ep_before.0 && ep_after.1 > ep_before.1,
            "{mode}: {n1p1}'s endpoint counters moved: {ep_before:?} -> {ep_after:?}"
        );
        let (e1, v1) = drops_total(&node1);
        let (e2, v2) = drops_total(&node2);
        assert!(e1 == d1 && e2 == d2, "{mode}: packets dropped: {v1} {v2}");
        if mode != "native" {
            stop_capture(&mut guard);
            check_with_tshark(&pcap, mode);
        }
    }
    assert_eq!(
        (ternd_pid(&node1), ternd_pid(&node2)),
        pids,
        "ternd was not restarted"
    );
    // A pod whose host veth goes (its namespace deleted without CNI DEL):
    // its program and endpoint entries go too.
    let eps = tern_json(&node1, "show datapath endpoints json");
    let host = eps["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["containerId"] == n1p2.as_str())
        .and_then(|e| e["hostIfname"].as_str())
        .unwrap_or_else(|| panic!("no endpoint {n1p2} in {eps}"))
        .to_owned();
    run_ok(Command::new("ip").args(["-n", &node1, "link", "del", &host]));
    eventually(30, "the gone pod's program detached", || {
        let v = tern_json(&node1, "show datapath json");
        let attached = v["attached"].to_string();
        let eps = tern_json(&node1, "show datapath endpoints json");
        let n = eps["endpoints"].as_array().map_or(0, Vec::len);
        if !attached.contains(&host) && attached.contains("pod") && n == 1 {
            Ok(())
        } else {
            Err(format!("{v} {eps}"))
        }
    });
    // Live removal: every program detached, the pins gone, the VXLAN device
    // too (after a trip through VXLAN mode).
    tern(&node1, &["configure terminal", "datapath mode vxlan"]);
    eventually(30, "VXLAN device", || {
        let v = tern_json(&node1, "show datapath json");
        if v["vxlanDevice"] == "tern_vxlan" {
            Ok(())
        } else {
            Err(v.to_string())
        }
    });
    tern(&node1, &["configure terminal", "no datapath mode"]);
    let v = tern_json(&node1, "show datapath json");
    assert_eq!(v["mode"], Value::Null, "{v}");
    assert_eq!(v["loaded"], false, "{v}");
    let pins = PathBuf::from("/sys/fs/bpf/tern").join(&node1);
    assert!(
        !pins.join("dp_endpoints").exists(),
        "datapath pins left in {}",
        pins.display()
    );
    let links = run_ok(Command::new("ip").args(["-n", &node1, "link", "show"]));
    assert!(!links.contains("tern_vxlan"), "{links}");
    let drops = run(Command::new(bin("tern")).args(["-N", &node1, "-c", "show datapath drops"]));
    assert!(
        !drops.status.success() && String::from_utf8_lossy(&drops.stderr).contains("not running"),
        "show datapath drops without a datapath says why: {drops:?}"
    );
    run_ok(
        Command::new(bin("tern-lab"))
            .args(["down", "-t"])
            .arg(&topo),
    );
    assert!(
        netns_with_prefix(&prefix).is_empty(),
        "namespaces left: {:?}",
        netns_with_prefix(&prefix)
    );
    assert!(
        !PathBuf::from("/sys/fs/bpf/tern").join(&node2).exists(),
        "node2's bpffs dir left"
    );
    drop(guard);
}
