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
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tern_tests::{
    Capture, Encap, Lab, Tunnel, bin, check_tunnel_capture, endpoint_counters, eventually,
    netns_command, netns_with_prefix, ns_ping, pod_addr, require_tool, run, run_ok, tcp_transfer,
    tern_cmds, tor_next_hop_unchanged,
};

const VNI: u32 = 4242;

fn tern_json(instance: &str, cmd: &str) -> Value {
    let out = tern_cmds(instance, &[cmd]);
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

fn ternd_pid(instance: &str) -> String {
    let out = tern_cmds(instance, &["show version"]);
    out.split("ternd pid ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("no pid in show version: {out}"))
        .to_owned()
}

#[test]
fn pods_talk_in_native_vxlan_and_geneve_mode_switched_live() {
    for t in ["ping", "tcpdump", "tshark", "vtysh"] {
        require_tool(t);
    }
    let lab = Lab::up("datapath.clab.yml", &format!("dp{}", std::process::id()));
    let prefix = format!("clab-{}-", lab.name);
    let topo = lab.topology().to_owned();
    // The captures go to the lab's private copy, removed with it.
    let dir = topo.parent().expect("the copy's folder").to_owned();
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
            // The live switch: a config line, no restart, one node after
            // the other as an operator goes through a cluster, under a
            // ping stream across the nodes that loses nothing: each node
            // takes VXLAN and Geneve in every mode.
            let to = pod_addr(&n2p1, false);
            let stream = netns_command(&n1p1, "ping")
                .args(["-i", "0.02", "-c", "200", "-W", "1", &to])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("ping");
            std::thread::sleep(Duration::from_secs(1));
            for n in [&node1, &node2] {
                tern_cmds(n, &["configure terminal", &format!("datapath mode {mode}")]);
                std::thread::sleep(Duration::from_secs(1));
            }
            let out = stream.wait_with_output().expect("ping");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("200 packets transmitted, 200 received"),
                "switching to {mode} node by node lost packets: {text}"
            );
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
                info["vxlanDevice"], "tern_vxlan",
                "the VXLAN device exists in every mode: {info}"
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
        let capture = (mode != "native")
            .then(|| Capture::start(&node1, "eth1", &dir.join(format!("{mode}.pcap"))));
        let (p1, p2) = (paths(&node1), paths(&node2));
        let (d1, d2) = (drops_total(&node1).0, drops_total(&node2).0);
        let ep_before = endpoint_counters(&node1, &n1p1);
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
        let ep_after = endpoint_counters(&node1, &n1p1);
        assert!(
            ep_after.0 > ep_before.0 && ep_after.1 > ep_before.1,
            "{mode}: {n1p1}'s endpoint counters moved: {ep_before:?} -> {ep_after:?}"
        );
        let (e1, v1) = drops_total(&node1);
        let (e2, v2) = drops_total(&node2);
        assert!(e1 == d1 && e2 == d2, "{mode}: packets dropped: {v1} {v2}");
        // Also none during the live switch: each node trusted the other
        // (its tunnel map's node) before the first tunnelled packet.
        for v in [&v1, &v2] {
            assert_eq!(v["drops"]["unknown-tunnel-source"], 0, "{mode}: {v}");
        }
        if let Some(capture) = capture {
            let encap = if mode == "vxlan" {
                Encap::Vxlan
            } else {
                Encap::Geneve
            };
            let tunnel = Tunnel {
                encap,
                vni: VNI,
                min_packets: 20,
                pods_v4: "10.244.",
                pods_v6: "2001:db8:244:",
            };
            check_tunnel_capture(&capture.stop(), &tunnel);
        }
    }
    assert_eq!(
        (ternd_pid(&node1), ternd_pid(&node2)),
        pids,
        "ternd was not restarted"
    );
    // `show datapath endpoints` gives the MTU a pod has now: one raised
    // past what the tunnel allows (1430 in Geneve mode) is flagged.
    let mtu_of = |mtu: u32| {
        run_ok(Command::new("ip").args([
            "-n",
            &n1p1,
            "link",
            "set",
            "eth0",
            "mtu",
            &mtu.to_string(),
        ]));
        let eps = tern_json(&node1, "show datapath endpoints json");
        eps["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["containerId"] == n1p1.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no endpoint {n1p1} in {eps}"))
    };
    let e = mtu_of(1500);
    assert_eq!(
        (e["mtu"].as_u64(), e["mtuTooBig"].as_bool()),
        (Some(1500), Some(true)),
        "{e}"
    );
    let e = mtu_of(1430);
    assert_eq!(
        (e["mtu"].as_u64(), e["mtuTooBig"].as_bool()),
        (Some(1430), Some(false)),
        "{e}"
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
    tern_cmds(&node1, &["configure terminal", "datapath mode vxlan"]);
    eventually(30, "VXLAN device", || {
        let v = tern_json(&node1, "show datapath json");
        if v["vxlanDevice"] == "tern_vxlan" {
            Ok(())
        } else {
            Err(v.to_string())
        }
    });
    let rules = run_ok(Command::new("ip").args(["-n", &node1, "-4", "rule", "show"]));
    assert!(rules.contains("fwmark 0x7e4f lookup 32335"), "{rules}");
    let route =
        run_ok(Command::new("ip").args(["-n", &node1, "-4", "route", "show", "table", "32335"]));
    assert!(
        route.contains("default dev tern_vxlan") && route.contains("mtu lock"),
        "{route}"
    );
    tern_cmds(&node1, &["configure terminal", "no datapath mode"]);
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
    // The tunnels' fragmentation rule went with the device (its route did).
    let rules = run_ok(Command::new("ip").args(["-n", &node1, "-4", "rule", "show"]));
    assert!(!rules.contains("0x7e4f"), "{rules}");
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
    drop(lab);
}
