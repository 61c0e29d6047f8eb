//! tern-cni run exactly as a container runtime runs it (environment + stdin
//! network configuration), against a real ternd, in throwaway namespaces:
//! ADD/CHECK/DEL cycles with packets between pods, the error documents for
//! bad environments and configurations, the pod's Kubernetes namespace from
//! CNI_ARGS, ternd unreachable, a plugin that
//! dies in the middle of ADD, 200 pods without a leaked address, veth
//! or registry entry, an older plugin's IPAM file taken over by ternd, and
//! ADD returning only once ternd's eBPF datapath has the pod's endpoint.
//! ternd holds the addresses: what a test calls allocations is ternd's
//! endpoints and reservations. Needs root, bpffs and a built ternd (`cargo
//! build -p tern-bgpd`).
mod common;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use common::{Node, addr_of, bin_dir, err_code, ok, ping};
use serde_json::{Value, json};

#[test]
fn add_check_del_cycles_with_packets() {
    let mut node = Node::new("cyc");
    let a = node.pod("a");
    let b = node.pod("b");
    for round in 0..3 {
        let ra = node.add("pod-a", &a);
        let rb = node.add("pod-b", &b);
        assert_eq!(ra["cniVersion"], "1.0.0");
        assert_eq!(ra["interfaces"][1]["name"], "eth0");
        assert_eq!(ra["interfaces"][1]["sandbox"], a.as_str());
        assert_eq!(ra["ips"][0]["gateway"], "169.254.1.1");
        assert_eq!(ra["ips"][1]["gateway"], "fe80::1");
        assert_eq!(ra["routes"][0]["dst"], "0.0.0.0/0");
        assert_ne!(addr_of(&ra, false), addr_of(&rb, false), "round {round}");
        // Same node, both families, through the host's routes.
        ping(&a, &addr_of(&rb, false));
        ping(&b, &addr_of(&ra, true));
        // MTU as configured, inside the pod.
        let link = ok(Command::new("ip").args([
            "-n",
            a.rsplit('/').next().unwrap_or_default(),
            "link",
            "show",
            "eth0",
        ]));
        assert!(link.contains("mtu 1450"), "{link}");
        // A repeated ADD of the same key keeps the addresses.
        let again = node.add("pod-a", &a);
        assert_eq!(again["ips"], ra["ips"]);
        let (good, v, err) = node.check("pod-a", &a, &again);
        assert!(good, "CHECK failed: {v} {err}");
        let (good, v, err) = node.check("pod-b", &b, &rb);
        assert!(good, "CHECK failed: {v} {err}");
        let eps = node.endpoints();
        assert_eq!(eps.len(), 2, "{eps:?}");
        // CHECK notices a broken pod and a prevResult that does not match.
        ok(Command::new("ip").args([
            "-n",
            b.rsplit('/').next().unwrap_or_default(),
            "route",
            "del",
            "default",
        ]));
        let (good, v, _) = node.check("pod-b", &b, &rb);
        assert!(
            !good && v["code"] == 102,
            "CHECK of a pod without its default route: {v}"
        );
        let (good, v, _) = node.check("pod-a", &a, &rb);
        assert!(
            !good && v["code"] == 102,
            "CHECK with another pod's prevResult: {v}"
        );
        let (good, v, _) = node.run_cmd("CHECK", "pod-a", Some(&a), &node.netconf());
        assert!(!good && v["code"] == 7, "CHECK without prevResult: {v}");
        node.del("pod-a", Some(&a));
        node.del("pod-b", Some(&b));
        // DEL again, without netns, and of a container never seen: success.
        node.del("pod-a", Some(&a));
        node.del("pod-b", None);
        node.del("never-added", Some(&a));
        node.assert_clean();
    }
    // DEL after the pod's namespace is gone.
    node.add("pod-a", &a);
    node.del_pod_ns(&a);
    node.del("pod-a", Some(&a));
    node.assert_clean();
}

#[test]
fn error_documents_for_bad_environment_and_config() {
    let mut node = Node::new("err");
    let p = node.pod("p");
    let conf = node.netconf().to_string();
    let code = |env: &[(&str, &str)], stdin: &str| err_code(&node, env, stdin);
    let base = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", p.as_str()),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin"),
    ];
    let without = |k: &str| {
        base.iter()
            .copied()
            .filter(|(kk, _)| *kk != k)
            .collect::<Vec<_>>()
    };
    for k in [
        "CNI_COMMAND",
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_IFNAME",
        "CNI_PATH",
    ] {
        assert_eq!(code(&without(k), &conf), 4, "without {k}");
    }
    let mut bad_cmd = without("CNI_COMMAND");
    bad_cmd.push(("CNI_COMMAND", "FROB"));
    assert_eq!(code(&bad_cmd, &conf), 4);
    assert_eq!(code(&base, "{not json"), 6);
    for version in ["0.2.0", "1.2.0", "garbage"] {
        let mut v = node.netconf();
        v["cniVersion"] = version.into();
        assert_eq!(code(&base, &v.to_string()), 1, "{version}");
    }
    for (k, bad) in [
        // Values of the wrong kind: invalid configuration, not decoding.
        ("podCIDRs", json!(["banana"])),
        ("podCIDRs", json!("10.244.7.0/24")),
        ("mtu", json!("1500")),
        ("ternd", json!({"instanse": "x"})),
        ("type", json!("ptp")),
        ("podCIDRs", json!([])),
        ("podCIDRs", json!(["10.0.0.1/24"])),
        ("mtu", json!(100)),
        ("name", json!("bad name")),
    ] {
        let mut v = node.netconf();
        v[k] = bad;
        assert_eq!(code(&base, &v.to_string()), 7, "{k}");
    }
    let mut gone = without("CNI_NETNS");
    gone.push(("CNI_NETNS", "/var/run/netns/tern-no-such-namespace"));
    assert_eq!(code(&gone, &conf), 3);
    // A file that is not a network namespace, and the namespace tern-cni
    // runs in (the node's own): refused, and the node is left alone.
    let all_routes = || {
        ok(Command::new("ip").args(["-n", &node.host_ns, "route", "show", "table", "all"]))
            + &ok(Command::new("ip").args(["-n", &node.host_ns, "addr", "show"]))
    };
    let routes_before = all_routes();
    let mut not_ns = without("CNI_NETNS");
    let file = node.dir.path().join("ternd.conf");
    let file = file.display().to_string();
    not_ns.push(("CNI_NETNS", file.as_str()));
    assert_eq!(code(&not_ns, &conf), 4);
    let mut host = without("CNI_NETNS");
    let host_path = format!("/var/run/netns/{}", node.host_ns);
    host.push(("CNI_NETNS", host_path.as_str()));
    assert_eq!(code(&host, &conf), 4);
    assert_eq!(
        all_routes(),
        routes_before,
        "the node's routes and addresses"
    );
    assert_eq!(node.host_veths(), Vec::<String>::new());
    // VERSION answers whatever the rest says.
    let (good, v, err) = node.cni(&[("CNI_COMMAND", "VERSION")], r#"{"cniVersion":"1.0.0"}"#);
    assert!(good, "{err}");
    assert_eq!(
        v,
        json!({"cniVersion": "1.0.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})
    );
    // ternd down: try again later, and nothing left behind (ternd holds
    // the addresses: its saved registry, read again at its start, has none).
    node.stop_ternd();
    assert_eq!(err_code(&node, &base, &conf), 11);
    assert_eq!(node.host_veths(), Vec::<String>::new());
    node.start_ternd();
    assert_eq!(node.allocations(), Vec::<Value>::new());
    node.assert_clean();
}

#[test]
fn crash_in_the_middle_of_add_is_repaired() {
    let mut node = Node::new("crash");
    let a = node.pod("a");
    let b = node.pod("b");
    let crash = |cid: &str, netns: &str, at: &str| {
        let env = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", cid),
            ("CNI_NETNS", netns),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/opt/cni/bin"),
            (tern_cni::CRASH_ENV, at),
        ];
        let (good, _, err) = node.cni(&env, &node.netconf().to_string());
        assert!(
            !good && err.starts_with(&format!("exit {}", tern_cni::CRASH_STATUS)),
            "{err}"
        );
    };
    // Killed after the address was committed, before the veth.
    crash("pod-a", &a, "after-ipam");
    let held = node.allocations();
    assert_eq!(held.len(), 1);
    assert!(node.host_veths().is_empty());
    // Another pod does not get that address.
    let rb = node.add("pod-b", &b);
    let held_v4 = held[0]["addresses"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(format!("{}/32", addr_of(&rb, false)), held_v4);
    // The runtime retries the ADD: same address, finished properly.
    let ra = node.add("pod-a", &a);
    assert_eq!(format!("{}/32", addr_of(&ra, false)), held_v4);
    ping(&a, &addr_of(&rb, false));
    assert_eq!(node.endpoints().len(), 2);
    node.del("pod-a", Some(&a));
    node.del("pod-b", Some(&b));
    node.assert_clean();

    // Killed after the veth, before ternd heard of it: DEL cleans up.
    crash("pod-a", &a, "after-veth");
    assert_eq!(node.host_veths().len(), 1);
    assert!(node.endpoints().is_empty());
    node.del("pod-a", Some(&a));
    node.assert_clean();

    // Killed after IPAM, and the runtime never calls DEL: the pod's
    // namespace goes away, and the next ADD reclaims the address.
    crash("pod-gone", &a, "after-ipam");
    node.del_pod_ns(&a);
    assert_eq!(node.allocations().len(), 1);
    node.add("pod-b", &b);
    let allocs = node.allocations();
    assert_eq!(allocs.len(), 1, "{allocs:?}");
    assert_eq!(allocs[0]["containerId"], "pod-b");
    node.del("pod-b", Some(&b));
    node.assert_clean();
}

#[test]
fn two_hundred_pods_leave_nothing_behind() {
    let mut node = Node::new("200");
    let mut pods = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..200 {
        let ns = node.pod(&format!("p{i}"));
        let r = node.add(&format!("pod-{i}"), &ns);
        assert!(
            seen.insert(addr_of(&r, false)),
            "IPv4 address handed out twice: {r}"
        );
        assert!(
            seen.insert(addr_of(&r, true)),
            "IPv6 address handed out twice: {r}"
        );
        pods.push(ns);
    }
    assert_eq!(node.endpoints().len(), 200);
    assert_eq!(node.host_veths().len(), 200);
    assert_eq!(node.allocations().len(), 200);
    // First and last pod talk to each other.
    let last = node
        .allocations()
        .into_iter()
        .find(|a| a["containerId"] == "pod-199")
        .unwrap_or_else(|| panic!("pod-199 holds no addresses"))["addresses"][0]
        .as_str()
        .and_then(|a| a.split('/').next())
        .unwrap_or_default()
        .to_owned();
    ping(&pods[0], &last);
    for (i, ns) in pods.iter().enumerate() {
        node.del(&format!("pod-{i}"), Some(ns));
    }
    node.assert_clean();
    for ns in pods {
        node.del_pod_ns(&ns);
    }
}

#[test]
fn ternd_keeps_endpoints_across_a_restart_and_drops_dead_ones() {
    let mut node = Node::new("restart");
    let a = node.pod("a");
    let b = node.pod("b");
    let ra = node.add("pod-a", &a);
    node.add("pod-b", &b);
    node.stop_ternd();
    node.start_ternd();
    let eps = node.endpoints();
    assert_eq!(eps.len(), 2, "endpoints after a restart: {eps:?}");
    let (good, v, err) = node.check("pod-a", &a, &ra);
    assert!(good, "CHECK after a restart: {v} {err}");
    // The pod's namespace goes away without a DEL: its veth goes with it,
    // and ternd drops the endpoint by itself.
    node.del_pod_ns(&b);
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.endpoints().len() != 1 {
        assert!(
            Instant::now() < deadline,
            "ternd kept the endpoint of a deleted pod: {:?}",
            node.endpoints()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    node.del("pod-b", None);
    node.del("pod-a", Some(&a));
    node.assert_clean();
}

#[test]
fn single_family_networks() {
    let mut node = Node::new("fam");
    for (i, cidr) in ["10.244.9.0/28", "fd00:10:244:9::/120"]
        .into_iter()
        .enumerate()
    {
        let mut conf = node.netconf();
        conf["podCIDRs"] = json!([cidr]);
        conf["name"] = json!(format!("single{i}"));
        conf["dataDir"] = json!(node.dir.path().join(format!("single{i}")));
        let a = node.pod(&format!("a{i}"));
        let b = node.pod(&format!("b{i}"));
        let (good, ra, err) = node.run_cmd("ADD", "pod-a", Some(&a), &conf);
        assert!(good, "ADD {cidr}: {ra} {err}");
        let (good, rb, err) = node.run_cmd("ADD", "pod-b", Some(&b), &conf);
        assert!(good, "ADD {cidr}: {rb} {err}");
        let v6 = cidr.contains(':');
        assert_eq!(ra["ips"].as_array().map(Vec::len), Some(1), "{ra}");
        assert_eq!(ra["routes"].as_array().map(Vec::len), Some(1), "{ra}");
        ping(&a, &addr_of(&rb, v6));
        let mut check = conf.clone();
        check["prevResult"] = ra.clone();
        let (good, v, err) = node.run_cmd("CHECK", "pod-a", Some(&a), &check);
        assert!(good, "CHECK {cidr}: {v} {err}");
        for (cid, ns) in [("pod-a", &a), ("pod-b", &b)] {
            let (good, v, err) = node.run_cmd("DEL", cid, Some(ns), &conf);
            assert!(good, "DEL {cidr}: {v} {err}");
        }
        assert!(node.host_veths().is_empty());
        assert!(node.endpoints().is_empty());
    }
}

#[test]
fn pod_namespace_from_cni_args() {
    let mut node = Node::new("k8sns");
    let p = node.pod("p");
    let conf = node.netconf().to_string();
    let env = |command, args| {
        [
            ("CNI_COMMAND", command),
            ("CNI_CONTAINERID", "pod-ns"),
            ("CNI_NETNS", p.as_str()),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/opt/cni/bin"),
            ("CNI_ARGS", args),
        ]
    };
    // A name Kubernetes refuses, or an element that is not KEY=VALUE: an
    // invalid environment, and nothing is wired.
    for bad in ["K8S_POD_NAMESPACE=Finance", "IgnoreUnknown=1;junk"] {
        assert_eq!(err_code(&node, &env("ADD", bad), &conf), 4, "{bad}");
    }
    node.assert_clean();
    // As the kubelet's runtimes set it; the namespace survives a restart
    // of ternd (its saved registry).
    let args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=finance;K8S_POD_NAME=db-0;K8S_POD_INFRA_CONTAINER_ID=pod-ns";
    let (good, v, err) = node.cni(&env("ADD", args), &conf);
    assert!(good, "ADD: {v} {err}");
    node.stop_ternd();
    node.start_ternd();
    let eps = node.endpoints();
    assert_eq!(eps.len(), 1, "{eps:?}");
    assert_eq!(eps[0]["namespace"], "finance", "{eps:?}");
    // DEL reads no CNI_ARGS: it cleans up whatever they say.
    let (good, v, err) = node.cni(&env("DEL", "junk"), &conf);
    assert!(good, "DEL: {v} {err}");
    node.assert_clean();
}

/// Writes an IPAM file as tern-cni wrote it before ternd held the addresses.
fn old_ipam_file(dir: &Path, allocations: Value) {
    std::fs::create_dir_all(dir).expect("data dir");
    let file = json!({"allocations": allocations, "last": {"10.244.7.0/24": "10.244.7.2"}});
    std::fs::write(dir.join("ipam.json"), file.to_string()).expect("write ipam.json");
}

fn old_allocation(cid: &str, netns: &str, v4: &str, v6: &str) -> Value {
    json!({
        "containerId": cid,
        "ifname": "eth0",
        "netns": netns,
        "hostIfname": tern_cni::host_ifname(cid, "eth0"),
        "addresses": [v4, v6],
    })
}

#[test]
fn an_older_plugins_ipam_file_is_taken_over_once() {
    let mut node = Node::new("mig");
    let old = node.pod("old");
    let b = node.pod("b");
    let c = node.pod("c");
    let dir = node.data_dir();
    // Wired by the older plugin: 10.244.7.2 and fd00:10:244:7::2.
    old_ipam_file(
        &dir,
        json!([old_allocation(
            "pod-old",
            &old,
            "10.244.7.2/32",
            "fd00:10:244:7::2/128"
        )]),
    );
    let rb = node.add("pod-b", &b);
    assert_ne!(
        addr_of(&rb, false),
        "10.244.7.2",
        "an old address handed out again"
    );
    assert_ne!(
        addr_of(&rb, true),
        "fd00:10:244:7::2",
        "an old address handed out again"
    );
    assert!(
        !dir.join("ipam.json").exists(),
        "the IPAM file is still there"
    );
    assert!(
        dir.join("ipam.json.imported").exists(),
        "the IPAM file was not kept aside"
    );
    let held = node.allocations();
    assert!(
        held.iter().any(|a| a["containerId"] == "pod-old"
            && a["addresses"] == json!(["10.244.7.2/32", "fd00:10:244:7::2/128"])),
        "{held:?}"
    );
    // The runtime's retried ADD of the old pod gets its addresses back.
    let ro = node.add("pod-old", &old);
    assert_eq!(addr_of(&ro, false), "10.244.7.2");
    ping(&old, &addr_of(&rb, false));
    // A file that clashes with what ternd holds (pod-b's address for
    // another pod): ADD is refused and the file stays until someone looks.
    old_ipam_file(
        &dir,
        json!([old_allocation(
            "pod-x",
            &c,
            &format!("{}/32", addr_of(&rb, false)),
            "fd00:10:244:7::99/128"
        )]),
    );
    let (good, v, err) = node.run_cmd("ADD", "pod-c", Some(&c), &node.netconf());
    assert!(
        !good && v["code"] == 100,
        "ADD with a clashing IPAM file: {v} {err}"
    );
    assert!(
        v["msg"].as_str().is_some_and(|m| m.contains("ipam.json")),
        "{v}"
    );
    assert!(dir.join("ipam.json").exists());
    assert_eq!(node.host_veths().len(), 2);
    std::fs::remove_file(dir.join("ipam.json")).expect("remove ipam.json");
    node.add("pod-c", &c);
    for (cid, ns) in [("pod-old", &old), ("pod-b", &b), ("pod-c", &c)] {
        node.del(cid, Some(ns));
    }
    node.assert_clean();
}

#[test]
fn add_returns_once_the_datapath_has_the_endpoint() {
    let mut node = Node::with_config("dp", "hostname cni-test\ndatapath mode native\n");
    let mut pods = Vec::new();
    for i in 0..4 {
        let ns = node.pod(&format!("p{i}"));
        let cid = format!("pod-{i}");
        let r = node.add(&cid, &ns);
        // At once, no waiting: the endpoint is in the datapath's maps with
        // an id and its program attached.
        let eps = node.endpoints();
        let ep = eps
            .iter()
            .find(|e| e["containerId"] == cid.as_str())
            .unwrap_or_else(|| panic!("{cid} is not registered: {eps:?}"));
        assert!(
            ep["endpointId"].as_u64().is_some_and(|id| id >= 1),
            "{cid} has no datapath id: {ep}"
        );
        assert_eq!(
            ep["attached"], true,
            "{cid}'s program is not attached: {ep}"
        );
        pods.push((cid, ns, r));
    }
    let datapath = {
        let tern = bin_dir().join("tern");
        let out = ok(node
            .nsenter(&tern)
            .args(["-N", &node.instance, "-c", "show datapath json"]));
        serde_json::from_str::<Value>(&out).expect("show datapath json")
    };
    assert_eq!(datapath["lastError"], Value::Null, "{datapath}");
    // Pods on the node reach each other through the datapath.
    ping(&pods[0].1, &addr_of(&pods[1].2, false));
    ping(&pods[2].1, &addr_of(&pods[3].2, true));
    for (cid, ns, _) in &pods {
        node.del(cid, Some(ns));
    }
    node.assert_clean();
}

/// ternd answers EndpointAdd only with the datapath's verdict: an endpoint
/// the datapath cannot program (here a MAC address it cannot read, sent
/// straight on the control socket) is refused with CNI code 103, left as a
/// reservation, and freed by DEL. Were the answer sent before the datapath
/// ran, the registration would succeed.
#[test]
fn ternd_refuses_an_endpoint_its_datapath_cannot_program() {
    let mut node = Node::with_config("dpbad", "hostname cni-test\ndatapath mode native\n");
    let p = node.pod("p");
    let host = tern_cni::host_ifname("pod-bad", "eth0");
    let claim = tern_control::EndpointClaim {
        container_id: "pod-bad".into(),
        ifname: "eth0".into(),
        netns: p.clone(),
        host_ifname: host.clone(),
        pools: vec!["10.244.7.0/24".parse().expect("pool")],
        network: Some("tern-test".into()),
        vrf: None,
    };
    let r = tern_cni::ternd::allocate(&node.socket(), claim).expect("allocate");
    // A veth for it, as the plugin would make.
    ok(Command::new("ip").args([
        "-n",
        &node.host_ns,
        "link",
        "add",
        &host,
        "type",
        "veth",
        "peer",
        "name",
        "tbadpeer",
    ]));
    ok(Command::new("ip").args(["-n", &node.host_ns, "link", "set", &host, "up"]));
    let shown = ok(Command::new("ip").args(["-n", &node.host_ns, "-o", "link", "show", &host]));
    let ifindex: u32 = shown
        .split(':')
        .next()
        .and_then(|i| i.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ifindex in {shown}"));
    let ep = tern_control::Endpoint {
        container_id: "pod-bad".into(),
        ifname: "eth0".into(),
        netns: p.clone(),
        host_ifname: host.clone(),
        host_ifindex: ifindex,
        pod_mac: "not-a-mac".into(),
        host_mac: "02:00:00:00:00:02".into(),
        addresses: r.addresses.clone(),
        mtu: 1500,
        namespace: None,
        network: Some("tern-test".into()),
        vrf: None,
    };
    let e = tern_cni::ternd::register(&node.socket(), ep).expect_err("registered");
    assert_eq!(e.code, tern_cni::spec::Code::Datapath, "{e}");
    assert!(e.msg.contains("unreadable MAC address"), "{e}");
    assert!(node.endpoints().is_empty(), "{:?}", node.endpoints());
    assert_eq!(
        node.allocations(),
        [json!({"containerId": "pod-bad", "addresses": r.addresses})]
    );
    ok(Command::new("ip").args(["-n", &node.host_ns, "link", "del", &host]));
    node.del("pod-bad", Some(&p));
    node.assert_clean();
}
