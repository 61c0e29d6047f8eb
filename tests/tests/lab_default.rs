//! The default lab topology end to end: tern-lab brings up an FRR ToR and
//! two Tern nodes in namespaces, the nodes ping the ToR, FRR answers vtysh,
//! ternd's eBPF counters moved by the pings' packets, the pods (tern-cni)
//! of one node ping those of the other through the eBPF datapath in native
//! mode, and `down` leaves no namespace and no process behind. Needs root, FRR and bpffs (lab/setup.sh).
use std::process::Command;

use serde_json::Value;
use tern_tests::{Lab, bin, eventually, netns_command, netns_with_prefix, run, run_ok};

fn eth1_counters(instance: &str) -> (u64, u64, u64, u64) {
    let out =
        run_ok(Command::new(bin("tern")).args(["-N", instance, "-c", "show interface eth1 json"]));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let c = &v["eth1"]["ternCounters"];
    assert!(
        c.is_object(),
        "ternd on {instance} has no counters on eth1: {out}"
    );
    let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
    (
        get("inputPackets"),
        get("inputBytes"),
        get("outputPackets"),
        get("outputBytes"),
    )
}

/// A counter of `show datapath json` (`paths.NAME`).
fn dp_path(instance: &str, name: &str) -> u64 {
    let out = run_ok(Command::new(bin("tern")).args(["-N", instance, "-c", "show datapath json"]));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["paths"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no paths.{name} in {out}"))
}

fn pids_in(ns: &str) -> Vec<u32> {
    let out = run(Command::new("ip").args(["netns", "pids", ns]));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether `pid` still runs. An exited process whose parent has not reaped
/// it yet (a zombie: state Z or X) has released everything and counts as gone.
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X" | "x") | None)
}

#[test]
fn default_lab_comes_up_pings_counts_and_goes_down_clean() {
    let lab = Lab::up("tern.clab.yml", &format!("t{}", std::process::id()));
    let prefix = format!("clab-{}-", lab.name);
    let topo = lab.topology().to_owned();
    let (tor1, node1, node2) = (
        format!("{prefix}tor1"),
        format!("{prefix}node1"),
        format!("{prefix}node2"),
    );
    let mut namespaces = netns_with_prefix(&prefix);
    namespaces.sort();
    // The three nodes and the two pods of each Tern node.
    let pods: Vec<String> = ["node1-pod1", "node1-pod2", "node2-pod1", "node2-pod2"]
        .iter()
        .map(|p| format!("{prefix}{p}"))
        .collect();
    let mut want = vec![node1.clone(), node2.clone(), tor1.clone()];
    want.extend(pods.iter().cloned());
    want.sort();
    assert_eq!(namespaces, want);
    let pids: Vec<u32> = [&node1, &node2, &tor1]
        .iter()
        .flat_map(|ns| pids_in(ns))
        .collect();
    assert!(
        pids.len() >= 4,
        "zebra, bgpd and two ternd expected, found pids {pids:?}"
    );

    // FRR answers on its own instance.
    let v = run_ok(Command::new("vtysh").args(["-N", &tor1, "-c", "show version"]));
    assert!(v.contains("FRRouting"), "{v}");
    // Each ternd answers and counts on eth1.
    for n in [&node1, &node2] {
        let v = run_ok(Command::new(bin("tern")).args(["-N", n, "-c", "show version"]));
        assert!(v.contains("eBPF interface counters (TCX) on: eth1"), "{v}");
    }

    let before = eth1_counters(&node1);
    let tern_lab = bin("tern-lab");
    for (node, dst) in [
        ("node1", "192.0.2.0"),
        ("node1", "2001:db8:0:1::1"),
        ("node2", "192.0.2.2"),
    ] {
        let out = run_ok(
            Command::new(&tern_lab)
                .args(["exec", "-t"])
                .arg(&topo)
                .args([node, "--", "ping", "-c", "5", "-i", "0.2", "-W", "2", dst]),
        );
        assert!(out.contains("5 received"), "{node} -> {dst}: {out}");
    }
    let after = eth1_counters(&node1);
    // node1 sent 10 echo requests and got 10 replies (plus ARP/ND).
    let (rx_p, rx_b, tx_p, tx_b) = (
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
        after.3 - before.3,
    );
    assert!(rx_p >= 10 && tx_p >= 10, "packets in {rx_p}, out {tx_p}");
    // An IPv4 echo of ping's default size is 98 bytes on the wire, IPv6 118.
    assert!(rx_b >= 5 * 98 + 5 * 118, "bytes in {rx_b}");
    assert!(tx_b >= 5 * 98 + 5 * 118, "bytes out {tx_b}");

    // Pods across nodes, through the datapath's native path (BGP brings
    // the other node's pod CIDR shortly after up).
    let native1 = dp_path(&node1, "native");
    let deliver2 = dp_path(&node2, "uplink-deliver");
    let pod_v4 = |p: &str| {
        let out = run_ok(Command::new("ip").args([
            "-n",
            &format!("{prefix}{p}"),
            "-4",
            "-o",
            "addr",
            "show",
            "dev",
            "eth0",
        ]));
        out.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("no IPv4 address in {p}: {out}"))
            .to_owned()
    };
    let to = pod_v4("node2-pod1");
    let from = format!("{prefix}node1-pod1");
    eventually(60, &format!("{from} -> {to}"), || {
        let out = run(netns_command(&from, "ping").args(["-c", "3", "-i", "0.2", "-W", "2", &to]));
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stdout).into_owned())
        }
    });
    assert!(
        dp_path(&node1, "native") >= native1 + 3,
        "node1 forwarded natively"
    );
    assert!(
        dp_path(&node2, "uplink-deliver") >= deliver2 + 3,
        "node2 delivered from its uplink"
    );

    run_ok(Command::new(&tern_lab).args(["down", "-t"]).arg(&topo));
    assert!(
        netns_with_prefix(&prefix).is_empty(),
        "namespaces left behind"
    );
    for pid in &pids {
        assert!(!running(*pid), "process {pid} left behind");
    }
    assert!(!std::path::Path::new(&format!("/run/tern/{node1}")).exists());
    drop(lab);
}
