//! tern-cni as runtimes call it (issue 16), against a real ternd in
//! throwaway namespaces: an ADD repeated for a live pod, an address that
//! must never be handed out twice, a pod's second interface, CNI_NETNS
//! values that are no pod's namespace, every supported CNI version's
//! result and verbs, and CNI 1.1's GC and STATUS. Needs root, bpffs and a
//! built ternd (`cargo build -p tern-bgpd`).
mod common;

use std::process::Command;

use common::{Node, addr_of, ok, ping};
use serde_json::{Value, json};

/// What a live pod is made of, as the kernel and ternd hold it: its host
/// veth (with its ifindex), its interfaces, addresses and routes, the
/// node's routes to pods, and ternd's allocations.
fn snapshot(node: &Node, pod_netns: &str, host: &str) -> String {
    let ns = pod_netns.rsplit('/').next().unwrap_or_default();
    let ip = |args: &[&str]| ok(Command::new("ip").args(["-n", ns]).args(args));
    // Not the kernel's link-local routes and addresses: they come and go
    // with DAD on the veth.
    let routes =
        ip(&["route", "show", "table", "all"]) + &ip(&["-6", "route", "show", "table", "all"]);
    let routes: String = routes
        .lines()
        .filter(|l| !l.contains("proto kernel"))
        .map(|l| format!("{l}\n"))
        .collect();
    [
        ok(Command::new("ip").args(["-n", &node.host_ns, "-o", "link", "show", host])),
        ip(&["-o", "link", "show"]),
        ip(&["-o", "-4", "addr", "show"]),
        ip(&["-o", "-6", "addr", "show", "scope", "global"]),
        routes,
        ok(Command::new("ip").args(["-n", ns, "neigh", "show", "nud", "permanent"])),
        node.host_routes(),
    ]
    .join("\n")
}

/// Issue 16, item 1: an ADD repeated for a live pod never rewires it. The
/// same ADD again answers with the same result and leaves the veth (its
/// ifindex) as it is; one that names another namespace or other pod
/// CIDRs, or that cannot reach ternd, fails and leaves the pod, its
/// addresses and its endpoint untouched.
#[test]
fn a_failed_repeated_add_leaves_the_live_pod_alone() {
    let mut node = Node::new("readd");
    let a = node.pod("a");
    let b = node.pod("b");
    let other = node.pod("other");
    let ra = node.add("pod-a", &a);
    let rb = node.add("pod-b", &b);
    let host = tern_cni::host_ifname("pod-a", "eth0");
    let before = snapshot(&node, &a, &host);
    let held = node.allocations();
    let eps = node.endpoints();
    let untouched = |node: &Node, what: &str| {
        assert_eq!(snapshot(node, &a, &host), before, "{what}: the pod changed");
        ping(&b, &addr_of(&ra, false));
        ping(&a, &addr_of(&rb, true));
    };

    // The same ADD again (a runtime retrying after a timeout).
    let again = node.add("pod-a", &a);
    assert_eq!(again, ra);
    untouched(&node, "repeated ADD");
    assert_eq!(node.allocations(), held);

    // Another namespace for the same key.
    let (good, v, err) = node.run_cmd("ADD", "pod-a", Some(&other), &node.netconf());
    assert!(
        !good && v["code"] == 104,
        "ADD into another netns: {v} {err}"
    );
    untouched(&node, "ADD into another netns");
    let other_links = ok(Command::new("ip").args([
        "-n",
        other.rsplit('/').next().unwrap_or_default(),
        "-o",
        "link",
        "show",
    ]));
    assert!(!other_links.contains("eth0"), "{other_links}");

    // Other pod CIDRs for the same key.
    let mut conf = node.netconf();
    conf["podCIDRs"] = json!(["10.244.8.0/24"]);
    let (good, v, err) = node.run_cmd("ADD", "pod-a", Some(&a), &conf);
    assert!(
        !good && v["code"] == 104,
        "ADD with other pod CIDRs: {v} {err}"
    );
    untouched(&node, "ADD with other pod CIDRs");

    // ternd is down.
    node.stop_ternd();
    let (good, v, err) = node.run_cmd("ADD", "pod-a", Some(&a), &node.netconf());
    assert!(!good && v["code"] == 11, "ADD without ternd: {v} {err}");
    untouched(&node, "ADD without ternd");
    node.start_ternd();
    assert_eq!(node.allocations(), held);
    assert_eq!(node.endpoints(), eps);

    node.del("pod-a", Some(&a));
    node.del("pod-b", Some(&b));
    node.assert_clean();
}

/// Issue 16, item 2: an address a live pod holds is never handed out
/// again, not after ternd lost its registry (the file removed, as its
/// error message allows) and not to a second network whose pod CIDRs
/// overlap the first's.
#[test]
fn an_address_a_live_pod_holds_is_never_handed_out_again() {
    let mut node = Node::new("twice");
    let a = node.pod("a");
    let b = node.pod("b");
    let c = node.pod("c");
    let ra = node.add("pod-a", &a);
    node.stop_ternd();
    let file = tern_control::run_dir(Some(&node.instance))
        .expect("run dir")
        .join("endpoints.json");
    std::fs::remove_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    node.start_ternd();
    let rb = node.add("pod-b", &b);
    for v6 in [false, true] {
        assert_ne!(
            addr_of(&rb, v6),
            addr_of(&ra, v6),
            "a live pod's address handed out again"
        );
    }
    ping(&a, &addr_of(&rb, false));
    ping(&b, &addr_of(&ra, true));
    // A second network over the same addresses.
    let mut conf = node.netconf();
    conf["name"] = json!("tern-overlap");
    conf["podCIDRs"] = json!(["10.244.7.0/25", "fd00:10:244:7::/80"]);
    let (good, rc, err) = node.run_cmd("ADD", "pod-c", Some(&c), &conf);
    assert!(good, "ADD on the second network: {rc} {err}");
    for v6 in [false, true] {
        let got = addr_of(&rc, v6);
        assert!(
            got != addr_of(&ra, v6) && got != addr_of(&rb, v6),
            "{got} handed out twice"
        );
    }
    ping(&c, &addr_of(&ra, false));
    ping(&a, &addr_of(&rb, false));
    let (good, v, err) = node.run_cmd("DEL", "pod-c", Some(&c), &conf);
    assert!(good, "DEL: {v} {err}");
    node.del("pod-b", Some(&b));
    // pod-a is unknown to this ternd; its DEL still removes its veth.
    node.del("pod-a", Some(&a));
    node.assert_clean();
}

fn routes_of(netns: &str) -> String {
    let ns = netns.rsplit('/').next().unwrap_or_default();
    ok(Command::new("ip").args(["-n", ns, "route", "show"]))
        + &ok(Command::new("ip").args(["-n", ns, "-6", "route", "show"]))
}

/// Issue 16, item 3: a second interface (`net1`, as Multus adds it)
/// leaves the pod's default routes on eth0 and routes only the network's
/// pod CIDRs; DEL of net1 takes away only what its ADD made.
#[test]
fn a_second_interface_leaves_the_default_route_alone() {
    let mut node = Node::new("net1");
    let p = node.pod("p");
    let q = node.pod("q");
    let r0 = node.add("pod-m", &p);
    let rq = node.add("pod-q", &q);
    let defaults = |netns: &str| -> Vec<String> {
        routes_of(netns)
            .lines()
            .filter(|l| l.starts_with("default"))
            .map(str::to_owned)
            .collect()
    };
    let before = defaults(&p);
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(before.iter().all(|l| l.contains("dev eth0")), "{before:?}");
    let (good, r1, err) = node.run_cmd_if("ADD", "pod-m", "net1", Some(&p), &node.netconf());
    assert!(good, "ADD net1: {r1} {err}");
    assert_eq!(defaults(&p), before, "net1 took the default route");
    assert_eq!(
        r1["routes"],
        json!([
            {"dst": "10.244.7.0/24", "gw": "169.254.1.1"},
            {"dst": "fd00:10:244:7::/64", "gw": "fe80::1"},
        ]),
        "{r1}"
    );
    assert_ne!(addr_of(&r1, false), addr_of(&r0, false));
    // Both interfaces carry traffic: the node's pods over net1, the rest
    // (the node's own address here) over eth0.
    ping(&p, &addr_of(&rq, false));
    ping(&q, &addr_of(&r1, true));
    ping(&q, &addr_of(&r0, false));
    let mut check = node.netconf();
    check["prevResult"] = r1.clone();
    let (good, v, err) = node.run_cmd_if("CHECK", "pod-m", "net1", Some(&p), &check);
    assert!(good, "CHECK net1: {v} {err}");
    let (good, v, err) = node.check("pod-m", &p, &r0);
    assert!(good, "CHECK eth0: {v} {err}");
    let (good, v, err) = node.run_cmd_if("DEL", "pod-m", "net1", Some(&p), &node.netconf());
    assert!(good, "DEL net1: {v} {err}");
    assert_eq!(defaults(&p), before, "DEL of net1 took the default route");
    let (good, v, err) = node.check("pod-m", &p, &r0);
    assert!(good, "CHECK eth0 after DEL net1: {v} {err}");
    ping(&p, &addr_of(&rq, true));
    node.del("pod-m", Some(&p));
    node.del("pod-q", Some(&q));
    node.assert_clean();
}

/// Issue 16, item 4: a CNI_NETNS that is a regular file, a directory or
/// the node's own namespace is refused with code 4 by ADD and CHECK,
/// before tern-cni asks ternd or touches the kernel (ternd is even down
/// for the second round).
#[test]
fn a_cni_netns_that_is_no_pods_namespace_is_refused_up_front() {
    let mut node = Node::new("nsck");
    let p = node.pod("p");
    let rp = node.add("pod-p", &p);
    let file = node.dir.path().join("ternd.conf").display().to_string();
    let dir = node.dir.path().display().to_string();
    let own = format!("/var/run/netns/{}", node.host_ns);
    let host_ns = node.host_ns.clone();
    // Routes, addresses and links; not the kernel's own link-local
    // routes, which come and go with DAD on the veth.
    let everything = || {
        let routes = ok(Command::new("ip").args(["-n", &host_ns, "route", "show", "table", "all"]))
            + &ok(Command::new("ip").args(["-n", &host_ns, "-6", "route", "show", "table", "all"]));
        routes
            .lines()
            .filter(|l| !l.contains("proto kernel"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            + &ok(Command::new("ip").args(["-n", &host_ns, "-o", "-4", "addr", "show"]))
            + &ok(Command::new("ip").args([
                "-n", &host_ns, "-o", "-6", "addr", "show", "scope", "global",
            ]))
            + &ok(Command::new("ip").args(["-n", &host_ns, "-o", "link", "show"]))
    };
    let before = everything();
    let held = node.allocations();
    for ternd_up in [true, false] {
        if !ternd_up {
            node.stop_ternd();
        }
        for path in [&file, &dir, &own] {
            let mut conf = node.netconf();
            conf["prevResult"] = rp.clone();
            for cmd in ["ADD", "CHECK"] {
                for cid in ["pod-p", "pod-new"] {
                    let (good, v, err) = node.run_cmd(cmd, cid, Some(path), &conf);
                    assert!(
                        !good && v["code"] == 4,
                        "{cmd} {cid} with CNI_NETNS {path} (ternd up: {ternd_up}): {v} {err}"
                    );
                }
            }
        }
    }
    node.start_ternd();
    assert_eq!(everything(), before, "the node changed");
    assert_eq!(node.allocations(), held);
    let (good, v, err) = node.check("pod-p", &p, &rp);
    assert!(good, "CHECK: {v} {err}");
    node.del("pod-p", Some(&p));
    node.assert_clean();
}

/// Issue 16, item 5: every supported version gets its own result format
/// (each IP names its version before 1.0.0), its verbs (no CHECK before
/// 0.4.0), and VERSION lists them all without echoing a version it does
/// not support.
#[test]
fn each_cni_version_gets_its_result_format() {
    let mut node = Node::new("vers");
    let p = node.pod("p");
    let all = json!(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
    for version in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        let mut conf = node.netconf();
        conf["cniVersion"] = json!(version);
        let (good, r, err) = node.run_cmd("ADD", "pod-v", Some(&p), &conf);
        assert!(good, "ADD {version}: {r} {err}");
        assert_eq!(r["cniVersion"], version, "{r}");
        let old = version.starts_with("0.");
        let ips = r["ips"].as_array().cloned().unwrap_or_default();
        assert_eq!(ips.len(), 2, "{r}");
        for ip in &ips {
            let family = if ip["address"].as_str().is_some_and(|a| a.contains(':')) {
                "6"
            } else {
                "4"
            };
            if old {
                assert_eq!(ip["version"], family, "{version}: {ip}");
            } else {
                assert!(ip.get("version").is_none(), "{version}: {ip}");
            }
            assert_eq!(ip["interface"], 1, "{version}: {ip}");
        }
        assert_eq!(r["interfaces"][1]["sandbox"], p.as_str(), "{r}");
        assert_eq!(r["routes"][0]["dst"], "0.0.0.0/0", "{r}");
        let mut check = conf.clone();
        check["prevResult"] = r.clone();
        let (good, v, err) = node.run_cmd("CHECK", "pod-v", Some(&p), &check);
        if version.starts_with("0.3.") {
            assert!(!good && v["code"] == 1, "CHECK {version}: {v} {err}");
            assert_eq!(v["cniVersion"], version, "{v}");
        } else {
            assert!(good, "CHECK {version}: {v} {err}");
        }
        let (good, v, err) = node.run_cmd("DEL", "pod-v", Some(&p), &conf);
        assert!(good, "DEL {version}: {v} {err}");
        node.assert_clean();
        // VERSION in that version.
        let (good, v, err) = node.cni(
            &[("CNI_COMMAND", "VERSION")],
            &json!({"cniVersion": version}).to_string(),
        );
        assert!(good, "{err}");
        assert_eq!(v, json!({"cniVersion": version, "supportedVersions": all}));
    }
    for asked in [r#"{"cniVersion":"garbage"}"#, "{}", "", "not json"] {
        let (good, v, err) = node.cni(&[("CNI_COMMAND", "VERSION")], asked);
        assert!(good, "{asked}: {err}");
        assert_eq!(
            v,
            json!({"cniVersion": "1.1.0", "supportedVersions": all}),
            "{asked}"
        );
    }
}

/// Issue 16, item 5: CNI 1.1's GC releases every attachment of this
/// network that the runtime does not list (endpoint or reservation of an
/// unfinished ADD), with its veth and routes, and nothing else: not the
/// listed ones, not another network's.
#[test]
fn gc_releases_what_the_runtime_no_longer_lists() {
    let mut node = Node::new("gc");
    let a = node.pod("a");
    let b = node.pod("b");
    let c = node.pod("c");
    let d = node.pod("d");
    let mut conf = node.netconf();
    conf["cniVersion"] = json!("1.1.0");
    let add = |cid: &str, netns: &str, conf: &Value| {
        let (good, r, err) = node.run_cmd("ADD", cid, Some(netns), conf);
        assert!(good, "ADD {cid}: {r} {err}");
        r
    };
    let ra = add("pod-a", &a, &conf);
    add("pod-b", &b, &conf);
    let mut other = conf.clone();
    other["name"] = json!("tern-other");
    other["podCIDRs"] = json!(["10.244.9.0/24"]);
    let rc = add("pod-c", &c, &other);
    // An ADD killed after ternd allocated: a reservation.
    let env = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "pod-d"),
        ("CNI_NETNS", d.as_str()),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin"),
        (tern_cni::CRASH_ENV, "after-veth"),
    ];
    let (good, _, err) = node.cni(&env, &conf.to_string());
    assert!(!good, "{err}");
    assert_eq!(node.allocations().len(), 4);
    let gc = |conf: &Value| {
        node.cni(
            &[("CNI_COMMAND", "GC"), ("CNI_PATH", "/opt/cni/bin")],
            &conf.to_string(),
        )
    };
    // Without the list, or before 1.1.0: refused, nothing released.
    let (good, v, _) = gc(&conf);
    assert!(!good && v["code"] == 7, "GC without valid-attachments: {v}");
    let mut old = conf.clone();
    old["cniVersion"] = json!("1.0.0");
    old["cni.dev/valid-attachments"] = json!([]);
    let (good, v, _) = gc(&old);
    assert!(!good && v["code"] == 1, "GC at 1.0.0: {v}");
    assert_eq!(node.allocations().len(), 4);
    let mut valid = conf.clone();
    valid["cni.dev/valid-attachments"] = json!([{"containerID": "pod-a", "ifname": "eth0"}]);
    let (good, v, err) = gc(&valid);
    assert!(good && v == Value::Null, "GC: {v} {err}");
    let mut left: Vec<String> = node
        .allocations()
        .iter()
        .filter_map(|a| a["containerId"].as_str().map(str::to_owned))
        .collect();
    left.sort();
    assert_eq!(left, ["pod-a", "pod-c"]);
    let mut veths = node.host_veths();
    veths.sort();
    let mut want = vec![
        tern_cni::host_ifname("pod-a", "eth0"),
        tern_cni::host_ifname("pod-c", "eth0"),
    ];
    want.sort();
    assert_eq!(veths, want);
    let routes = node.host_routes();
    assert_eq!(routes.lines().count(), 3, "{routes}");
    ping(&c, &addr_of(&ra, false));
    ping(&a, &addr_of(&rc, false));
    // Again: nothing more to do.
    let (good, v, err) = gc(&valid);
    assert!(good, "GC again: {v} {err}");
    assert_eq!(node.allocations().len(), 2);
    node.run_cmd("DEL", "pod-a", Some(&a), &conf);
    node.run_cmd("DEL", "pod-c", Some(&c), &other);
    node.assert_clean();
}

/// Issue 16, item 5: CNI 1.1's STATUS succeeds while ternd answers with
/// its datapath loaded, and is code 50 (plugin not available) otherwise.
#[test]
fn status_is_ready_only_with_ternd_and_its_datapath() {
    let mut node = Node::with_config("status", "hostname cni-test\ndatapath mode native\n");
    let mut conf = node.netconf();
    conf["cniVersion"] = json!("1.1.0");
    let status = |node: &Node, conf: &Value| {
        node.cni(
            &[("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/opt/cni/bin")],
            &conf.to_string(),
        )
    };
    let (good, v, err) = status(&node, &conf);
    assert!(good && v == Value::Null, "STATUS: {v} {err}");
    node.stop_ternd();
    let (good, v, err) = status(&node, &conf);
    assert!(!good && v["code"] == 50, "STATUS without ternd: {v} {err}");
    assert_eq!(v["cniVersion"], "1.1.0", "{v}");
    node.start_ternd();
    let (good, v, err) = status(&node, &conf);
    assert!(good, "STATUS after ternd's start: {v} {err}");
    conf["cniVersion"] = json!("1.0.0");
    let (good, v, _) = status(&node, &conf);
    assert!(!good && v["code"] == 1, "STATUS at 1.0.0: {v}");
}
