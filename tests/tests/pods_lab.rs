//! The pods lab end to end (lab/topologies/pods.clab.yml): tern-lab brings
//! up FRR tor1 and two Tern nodes and runs tern-cni for two pods per node
//! exactly as a container runtime does; the nodes announce their pod CIDRs
//! over BGP; pods reach each other on the same node and across nodes over
//! plain kernel routing (ping and a 1 MiB TCP transfer, every byte checked,
//! IPv4 and IPv6); ternd lists each node's endpoints; `down` runs CNI DEL and leaves
//! no namespace, veth, endpoint or allocated address behind. Needs root, FRR,
//! ping and bpffs (lab/setup.sh), and the built binaries.
use std::{path::PathBuf, process::Command};

use serde_json::Value;
use tern_tests::{Lab, bin, eventually, netns_with_prefix, ns_ping, run_ok, tcp_transfer};

fn endpoints(instance: &str) -> Vec<Value> {
    let out = run_ok(Command::new(bin("tern")).args([
        "-N",
        instance,
        "-c",
        "show datapath endpoints json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["endpoints"].as_array().cloned().unwrap_or_default()
}

/// The pod's first address of a family, from ternd's endpoint list.
fn pod_addr(eps: &[Value], pod_ns: &str, v6: bool) -> String {
    eps.iter()
        .find(|e| e["containerId"] == pod_ns)
        .and_then(|e| e["addresses"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .find(|a| a.contains(':') == v6)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no address for {pod_ns} in {eps:?}"))
        .to_owned()
}

#[test]
fn pods_reach_each_other_on_one_node_and_across_nodes() {
    let lab = Lab::up("pods.clab.yml", &format!("p{}", std::process::id()));
    let prefix = format!("clab-{}-", lab.name);
    let topo = lab.topology().to_owned();

    let ns = |n: &str| format!("{prefix}{n}");
    let mut namespaces = netns_with_prefix(&prefix);
    namespaces.sort();
    let mut want: Vec<String> = [
        "node1",
        "node1-pod1",
        "node1-pod2",
        "node2",
        "node2-pod1",
        "node2-pod2",
        "tor1",
    ]
    .iter()
    .map(|n| ns(n))
    .collect();
    want.sort();
    assert_eq!(namespaces, want);

    // Each node's ternd knows its two pods, with a /32 and a /128 each from
    // its own pod CIDRs.
    let eps1 = endpoints(&ns("node1"));
    let eps2 = endpoints(&ns("node2"));
    assert_eq!(eps1.len(), 2, "{eps1:?}");
    assert_eq!(eps2.len(), 2, "{eps2:?}");
    for (eps, v4, v6) in [
        (&eps1, "10.244.1.", "2001:db8:244:1::"),
        (&eps2, "10.244.2.", "2001:db8:244:2::"),
    ] {
        for e in eps {
            let addrs: Vec<&str> = e["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str())
                .collect();
            assert_eq!(addrs.len(), 2, "{e}");
            assert!(addrs[0].starts_with(v4) && addrs[0].ends_with("/32"), "{e}");
            assert!(
                addrs[1].starts_with(v6) && addrs[1].ends_with("/128"),
                "{e}"
            );
        }
    }
    let a = |node_eps: &[Value], pod: &str, v6: bool| pod_addr(node_eps, &ns(pod), v6);
    let (n1p1, n1p2, n2p1, n2p2) = (
        ns("node1-pod1"),
        ns("node1-pod2"),
        ns("node2-pod1"),
        ns("node2-pod2"),
    );

    // Same node: no BGP involved.
    ns_ping(&n1p1, &a(&eps1, "node1-pod2", false), 1).unwrap_or_else(|e| panic!("{e}"));
    ns_ping(&n1p2, &a(&eps1, "node1-pod1", true), 1).unwrap_or_else(|e| panic!("{e}"));
    // Across nodes: once BGP has carried the pod CIDRs through tor1.
    for v6 in [false, true] {
        let to = a(&eps2, "node2-pod1", v6);
        eventually(60, "pod route across nodes", || ns_ping(&n1p1, &to, 1));
        let back = a(&eps1, "node1-pod2", v6);
        eventually(30, "pod route back", || ns_ping(&n2p2, &back, 1));
    }
    tcp_transfer(&n2p1, &a(&eps2, "node2-pod1", false), &n1p1, 5201);
    tcp_transfer(&n1p2, &a(&eps1, "node1-pod2", true), &n2p2, 5201);
    tcp_transfer(&n1p1, &a(&eps1, "node1-pod1", false), &n1p2, 5201);

    // The node routes its pods itself (proto 203), learns the other node's
    // pod CIDR from BGP (proto tern).
    let r4 = run_ok(Command::new("ip").args(["-n", &ns("node1"), "route", "show"]));
    // (Through a nexthop object: `nhid N` comes before `via`.)
    let pod_cidr = r4.lines().find(|l| l.starts_with("10.244.2.0/24 "));
    assert!(
        pod_cidr.is_some_and(|l| l.contains(" via 192.0.2.0 dev eth1 proto tern ")),
        "{r4}"
    );
    assert_eq!(r4.matches("proto 203 scope link").count(), 2, "{r4}");

    // status runs `show datapath endpoints` on the nodes with pods.
    let st = run_ok(
        Command::new(bin("tern-lab"))
            .args(["status", "-t"])
            .arg(&topo),
    );
    assert_eq!(st.matches("show datapath endpoints").count(), 2, "{st}");
    assert!(st.contains(&n2p2), "{st}");

    // down: CNI DEL for each pod, then nothing of the lab is left.
    let out = run_ok(
        Command::new(bin("tern-lab"))
            .args(["down", "-t"])
            .arg(&topo),
    );
    for pod in [&n1p1, &n1p2, &n2p1, &n2p2] {
        assert!(
            out.contains(&format!("stopped pod {pod} (CNI DEL)")),
            "{out}"
        );
        assert!(out.contains(&format!("deleted namespace {pod}")), "{out}");
    }
    assert!(
        netns_with_prefix(&prefix).is_empty(),
        "namespaces left: {:?}",
        netns_with_prefix(&prefix)
    );
    assert!(
        !lab.state_dir().exists(),
        "lab state (and the CNI data dir) left"
    );
    for n in ["node1", "node2"] {
        assert!(
            !PathBuf::from("/run/tern").join(ns(n)).exists(),
            "ternd run dir of {n} left"
        );
    }
    drop(lab);
}
