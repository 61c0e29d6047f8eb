//! Service load balancing end to end (lab/topologies/services.clab.yml):
//! FRR tor1, two Tern nodes with two pods each, a client behind tor1. Each
//! pod runs a server that answers with its name and the client address it
//! saw. Both nodes get the same services (config lines, or the bulk request
//! an orchestrator sends on the control socket). Checked with real packets:
//! - tor1 installs the VIP with two ECMP paths; every client connection is
//!   answered; the connections spread over the four backends; those to a
//!   node's own pods are translated by the uplink's XDP program (attached
//!   in native mode by default);
//! - the same 5-tuple reaches the same backend through either node (tor1's
//!   policy routing picks the node);
//! - removing one of four backends moves about a quarter of the flows;
//! - policy local: a node without local backends withdraws the VIP, and
//!   the backends see the client's own address;
//! - source ranges drop other clients; UDP; an IPv6 VIP;
//! - a pod reaches the service through the socket programs (connect,
//!   sendmsg, recvmsg, getpeername), itself included;
//! - UDP conntrack entries expire and are collected;
//! - 10,000 services loaded in bulk, answered;
//! - a bad service line is refused with its reason and changes nothing;
//! - a service survives a restart of ternd (`write memory`);
//! - with graceful restart, node1's ternd is killed and started again
//!   under a stream of connections to the VIP: every one is answered;
//! - policy local: a node whose pods go withdraws the VIP.
//!
//! Needs root, FRR and python3 (lab/setup.sh); fails (never skips) without
//! them.
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    process::{Child, Command, Stdio},
};

use serde_json::{Value, json};
use tern_tests::{
    Lab, bin, eventually, netns_command, repo_root, run, run_ok, tern, tern_script, vtysh,
};

const VIP: &str = "198.51.100.100";
const VIP6: &str = "2001:db8:100::100";
/// A service node1 has only until its ternd is killed.
const TEMP_VIP: &str = "198.51.100.201";
const PODS: [(&str, &str); 4] = [
    ("node1", "pod1"),
    ("node1", "pod2"),
    ("node2", "pod1"),
    ("node2", "pod2"),
];

/// The pods' servers, stopped on drop.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn script(name: &str) -> String {
    repo_root()
        .join("tests/tests/services_lab")
        .join(name)
        .display()
        .to_string()
}

fn start_servers(lab: &Lab) -> Servers {
    let mut servers = Servers(Vec::new());
    for (node, pod) in PODS {
        let ns = format!("{}-{pod}", lab.ns(node));
        let mut child = netns_command(&ns, "python3")
            .arg(repo_root().join("lab/tools/name_server.py"))
            .arg(format!("{node}-{pod}"))
            .arg("8080")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a pod's server (python3 needed)");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        BufReader::new(out).read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "listening", "{ns}'s server");
        servers.0.push(child);
    }
    servers
}

/// A pod's global address of one family.
fn pod_addr(lab: &Lab, node: &str, pod: &str, v6: bool) -> String {
    tern_tests::pod_addr(&format!("{}-{pod}", lab.ns(node)), v6)
}

/// Runs the client in `ns`: one (source port, answer) per connection.
fn client(
    ns: &str,
    proto: &str,
    addr: &str,
    port: u16,
    count: u32,
    first_sport: u16,
    src: &str,
) -> Vec<(u16, String)> {
    let out = run(netns_command(ns, "python3").args([
        &script("client.py"),
        proto,
        addr,
        &port.to_string(),
        &count.to_string(),
        &first_sport.to_string(),
        src,
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let (sport, rest) = l.split_once(' ')?;
            Some((sport.parse().ok()?, rest.to_owned()))
        })
        .collect()
}

/// The backend names of answered connections; panics on any error.
fn all_answered(answers: &[(u16, String)], want: usize) -> Vec<String> {
    assert_eq!(answers.len(), want, "{answers:?}");
    answers
        .iter()
        .map(|(sport, a)| {
            assert!(!a.starts_with("ERR"), "source port {sport}: {a}");
            a.split_whitespace().next().unwrap_or_default().to_owned()
        })
        .collect()
}

fn spread(names: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in names {
        *m.entry(n.clone()).or_insert(0) += 1;
    }
    m
}

/// The destinations of the routes ternd installed in `ns`, both families.
fn kernel_routes(ns: &str) -> Vec<String> {
    let proto = tern_netlink::TERN_PROTO.to_string();
    ["-4", "-6"]
        .iter()
        .flat_map(|fam| {
            let v = tern_tests::json(
                Command::new("ip").args(["-n", ns, fam, "-j", "route", "show", "proto", &proto]),
            );
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["dst"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The paths tor1 has for `prefix` (0 when it has no route).
fn tor_paths(tor: &str, prefix: &str, v6: bool) -> usize {
    let cmd = format!(
        "show {} route {prefix} json",
        if v6 { "ipv6" } else { "ip" }
    );
    let v = vtysh(tor, &cmd);
    v[prefix][0]["nexthops"]
        .as_array()
        .map_or(0, |n| n.iter().filter(|h| h["active"] == true).count())
}

fn wait_paths(tor: &str, prefix: &str, v6: bool, want: usize) {
    eventually(20, "tor1's paths to the service", || {
        let n = tor_paths(tor, prefix, v6);
        if n == want {
            Ok(())
        } else {
            Err(format!("tor1 has {n} paths to {prefix}, want {want}"))
        }
    });
}

/// How many frontends of IPv4 address `vip` the pinned service map of
/// `ns`'s ternd holds (read with bpftool, as the programs see it).
fn frontends_of(ns: &str, vip: &str) -> usize {
    let ip: std::net::Ipv4Addr = vip.parse().expect("IPv4 VIP");
    let want = ip.octets();
    let v: Value = serde_json::from_str(&run_ok(Command::new("bpftool").args([
        "-j",
        "map",
        "dump",
        "pinned",
        &format!("/sys/fs/bpf/tern/{ns}/dp_services"),
    ])))
    .expect("bpftool json");
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            let key: Vec<u8> = e["key"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| u8::from_str_radix(b.as_str()?.trim_start_matches("0x"), 16).ok())
                .collect();
            key.windows(4).any(|w| w == want)
        })
        .count()
}

/// Configures both nodes with the same lines (config mode, then `end`).
fn both(lab: &Lab, lines: &str) {
    for node in ["node1", "node2"] {
        tern_script(
            &lab.ns(node),
            &format!("configure terminal\n{lines}\nend\n"),
        );
    }
}

/// tor1 sends the client's UDP from source ports `sports` to `node` only
/// (policy routing), so a tuple can be sent to a chosen node.
fn steer(tor: &str, sports: &str, node_addr: Option<&str>) {
    let _ = run(Command::new("ip").args(["-n", tor, "rule", "del", "pref", "100"]));
    let _ = run(Command::new("ip").args(["-n", tor, "route", "flush", "table", "101"]));
    if let Some(gw) = node_addr {
        run_ok(Command::new("ip").args([
            "-n",
            tor,
            "route",
            "add",
            &format!("{VIP}/32"),
            "via",
            gw,
            "table",
            "101",
        ]));
        run_ok(Command::new("ip").args([
            "-n", tor, "rule", "add", "pref", "100", "iif", "eth3", "ipproto", "udp", "sport",
            sports, "lookup", "101",
        ]));
    }
}

/// Sends a bulk request on `ns`'s control socket, as an orchestrator does.
fn control(ns: &str, req: &Value) -> Value {
    let path = format!("/run/tern/{ns}/ternd.sock");
    let mut s = UnixStream::connect(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut line = serde_json::to_vec(req).expect("json");
    line.push(b'\n');
    s.write_all(&line).expect("send");
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).expect("answer");
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[test]
fn services_balance_vips_from_the_tor_to_pods_on_both_nodes() {
    let lab = Lab::up("services.clab.yml", "svc");
    let (n1, n2, tor, cl) = (
        lab.ns("node1"),
        lab.ns("node2"),
        lab.ns("tor1"),
        lab.ns("client"),
    );
    eventually(60, "every session Established at tor1", || {
        let v = vtysh(&tor, "show bgp summary json");
        let up = ["ipv4Unicast", "ipv6Unicast"]
            .iter()
            .flat_map(|f| v[f]["peers"].as_object().into_iter().flatten())
            .filter(|(_, p)| p["state"] == "Established")
            .count();
        if up == 4 {
            Ok(())
        } else {
            Err(format!("{up} of 4 sessions up: {v}"))
        }
    });
    let _servers = start_servers(&lab);
    let v4: Vec<String> = PODS
        .iter()
        .map(|(n, p)| pod_addr(&lab, n, p, false))
        .collect();
    let v6: Vec<String> = PODS
        .iter()
        .map(|(n, p)| pod_addr(&lab, n, p, true))
        .collect();
    let backends: String = v4
        .iter()
        .chain(&v6)
        .map(|a| format!(" backend {a} port 8080\n"))
        .collect();
    both(
        &lab,
        &format!(
            "service web\n frontend {VIP} port 80 tcp\n frontend {VIP} port 53 udp\n \
             frontend {VIP6} port 80 tcp\n{backends}exit"
        ),
    );

    // Traffic starts only once each node has the routes (BGP, through
    // tor1) back to the client and to the other node's pods and uplink
    // (policy cluster forwards there, SNATed to the node). Without them a
    // node's first SYN-ACK is lost, and the client's retransmitted SYN may
    // take the other ECMP path: over veth, tor1 hashes with the hash the
    // client's socket put on the packet, and TCP changes that hash on a
    // retransmission. Two nodes then translate one flow differently, and
    // the backend resets it.
    for (node, other) in [(&n1, 2), (&n2, 1)] {
        let want = [
            "203.0.113.0/24".to_owned(),
            "2001:db8:ff::/64".to_owned(),
            format!("10.244.{other}.0/24"),
            format!("2001:db8:244:{other}::/64"),
            format!("192.0.2.{}/31", 2 * (other - 1)),
            format!("2001:db8:0:{other}::/64"),
        ];
        eventually(
            60,
            &format!("{node}: routes to the client and the other node"),
            || {
                let have = kernel_routes(node);
                let missing: Vec<&String> = want.iter().filter(|w| !have.contains(*w)).collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("missing {missing:?} in {have:?}"))
                }
            },
        );
    }
    // Announced by both nodes, ECMP on tor1; every connection answered,
    // spread over the four pods.
    wait_paths(&tor, &format!("{VIP}/32"), false, 2);
    wait_paths(&tor, &format!("{VIP6}/128"), true, 2);
    let s = tern(&n1, "show service web json");
    let fronts = s["services"]["web"]["frontends"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(fronts.len(), 3, "{s}");
    for f in &fronts {
        assert_eq!(f["announced"], true, "{s}");
        assert_eq!(f["programmed"], true, "{s}");
    }
    let names = all_answered(&client(&cl, "tcp", VIP, 80, 200, 0, ""), 200);
    let by = spread(&names);
    assert_eq!(by.len(), 4, "every pod answers: {by:?}");
    assert!(by.values().all(|n| *n >= 20), "roughly even: {by:?}");
    for node in [&n1, &n2] {
        let c = tern(node, "show service conntrack json");
        assert!(
            c["count"].as_u64().unwrap_or(0) > 0,
            "{node} carried connections: {c}"
        );
        // `datapath xdp auto` (the lab's nodes have it): the uplink (a veth) takes the
        // XDP program in native mode, and north-south connections to the
        // local pods were translated there (all answered above).
        let d = tern(node, "show datapath json");
        assert_eq!(d["xdp"]["config"], "auto", "{node}: {d}");
        assert_eq!(d["xdp"]["attached"], true, "{node}: {d}");
        assert_eq!(d["xdp"]["mode"], "native", "{node}: {d}");
        let xdp = d["paths"]["service-xdp"].as_u64().unwrap_or(0);
        assert!(
            xdp >= 20,
            "{node}: connections to its own pods went through XDP: {d}"
        );
    }
    // UDP and IPv6.
    let by = spread(&all_answered(&client(&cl, "udp", VIP, 53, 40, 0, ""), 40));
    assert!(by.len() >= 3, "UDP spreads: {by:?}");
    let by = spread(&all_answered(&client(&cl, "tcp", VIP6, 80, 60, 0, ""), 60));
    assert!(by.len() >= 3, "IPv6 spreads: {by:?}");

    // The same 5-tuple reaches the same backend through either node.
    steer(&tor, "50000-50099", Some("192.0.2.1"));
    let via1 = all_answered(&client(&cl, "udp", VIP, 53, 100, 50000, ""), 100);
    steer(&tor, "50000-50099", Some("192.0.2.3"));
    let via2 = all_answered(&client(&cl, "udp", VIP, 53, 100, 50000, ""), 100);
    assert_eq!(via1, via2, "the same backend whichever node gets the flow");

    // Removing one of four backends moves about a quarter of the flows:
    // flows seen by node2 before, sent to node1 (which never saw them) after.
    steer(&tor, "51000-51199", Some("192.0.2.3"));
    let before = all_answered(&client(&cl, "udp", VIP, 53, 200, 51000, ""), 200);
    let gone = "node2-pod2";
    both(
        &lab,
        &format!("service web\n no backend {} port 8080\nexit", v4[3]),
    );
    steer(&tor, "51000-51199", Some("192.0.2.1"));
    let after = all_answered(&client(&cl, "udp", VIP, 53, 200, 51000, ""), 200);
    assert!(
        !after.iter().any(|n| n == gone),
        "the removed backend takes no flow"
    );
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    let had = before.iter().filter(|n| *n == gone).count();
    assert!(
        moved >= had && moved <= had + 200 / 10,
        "{moved} of 200 flows moved, {had} had the removed backend"
    );
    steer(&tor, "", None);
    both(
        &lab,
        &format!("service web\n backend {} port 8080\nexit", v4[3]),
    );

    // Policy local: only local backends, the client's address kept; a node
    // without local backends withdraws the VIP within a second or so.
    both(&lab, "service web\n external-traffic-policy local\nexit");
    let answers = client(&cl, "tcp", VIP, 80, 40, 0, "203.0.113.2");
    for (_, a) in &answers {
        assert_eq!(
            a.split_whitespace().nth(1),
            Some("203.0.113.2"),
            "the client's address kept: {a}"
        );
    }
    all_answered(&answers, 40);
    let node2_backends: String = [&v4[2], &v4[3], &v6[2], &v6[3]]
        .iter()
        .map(|a| format!(" no backend {a} port 8080\n"))
        .collect();
    both(&lab, &format!("service web\n{node2_backends}exit"));
    wait_paths(&tor, &format!("{VIP}/32"), false, 1);
    let by = spread(&all_answered(&client(&cl, "tcp", VIP, 80, 40, 0, ""), 40));
    assert!(by.keys().all(|n| n.starts_with("node1-")), "{by:?}");
    let restore: String = [&v4[2], &v4[3], &v6[2], &v6[3]]
        .iter()
        .map(|a| format!(" backend {a} port 8080\n"))
        .collect();
    both(
        &lab,
        &format!("service web\n no external-traffic-policy\n{restore}exit"),
    );
    wait_paths(&tor, &format!("{VIP}/32"), false, 2);

    // Source ranges: 203.0.113.2 is in, 203.0.113.9 is not.
    both(&lab, "service web\n source-range 203.0.113.0/29\nexit");
    all_answered(&client(&cl, "tcp", VIP, 80, 10, 0, "203.0.113.2"), 10);
    let refused = client(&cl, "tcp", VIP, 80, 4, 0, "203.0.113.9");
    assert!(
        refused.iter().all(|(_, a)| a.starts_with("ERR")),
        "{refused:?}"
    );
    let drops: u64 = [&n1, &n2]
        .iter()
        .map(|n| {
            tern(n, "show datapath drops json")["drops"]["source-range"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    assert!(drops >= 4, "source-range drops counted: {drops}");
    both(&lab, "service web\n no source-range 203.0.113.0/29\nexit");

    // A pod reaches the service through the socket programs: connect()
    // gets a backend (itself included), the TC programs translate nothing,
    // getpeername() and recvfrom() still show the VIP.
    let forwarded = |n: &str| {
        tern(n, "show datapath json")["paths"]["service-forward"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = forwarded(&n1);
    let pod_ns = format!("{n1}-pod1");
    let answers = client(&pod_ns, "tcp", VIP, 80, 40, 0, "");
    let by = spread(&all_answered(&answers, 40));
    assert!(
        by.contains_key("node1-pod1") && by.len() >= 3,
        "from a pod: {by:?}"
    );
    for (_, a) in &answers {
        assert_eq!(a.split_whitespace().nth(2), Some(VIP), "getpeername: {a}");
    }
    let answers = client(&pod_ns, "udp", VIP, 53, 20, 0, "");
    all_answered(&answers, 20);
    for (_, a) in &answers {
        assert_eq!(a.split_whitespace().nth(2), Some(VIP), "recvfrom: {a}");
    }
    assert_eq!(
        forwarded(&n1),
        before,
        "balanced at the socket, not per packet"
    );

    // UDP entries expire (timeout 2 s for new ones) and are collected.
    both(&lab, "service conntrack timeout other 2");
    // Fixed source ports below the ephemeral range: no earlier flow (of
    // any protocol) of this client has them.
    let sent = client(&cl, "udp", VIP, 53, 10, 20000, "");
    all_answered(&sent, 10);
    let ports: Vec<String> = sent
        .iter()
        .map(|(p, _)| format!("203.0.113.2:{p}"))
        .collect();
    let mine = |c: &Value| {
        c["connections"].as_array().map_or(0, |a| {
            a.iter()
                .filter(|x| {
                    x["protocol"] == "udp" && ports.iter().any(|p| x["client"] == p.as_str())
                })
                .count()
        })
    };
    let seen: usize = [&n1, &n2]
        .iter()
        .map(|n| mine(&tern(n, "show service conntrack json")))
        .sum();
    assert_eq!(seen, 10, "each datagram's connection is tracked");
    eventually(30, "the conntrack entries gone", || {
        let left: usize = [&n1, &n2]
            .iter()
            .map(|n| mine(&tern(n, "show service conntrack json")))
            .sum();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} of the UDP connections left"))
        }
    });

    // A bad line is refused with its reason and changes nothing.
    let before = run_ok(Command::new(bin("tern")).args(["-N", &n1, "-c", "show running-config"]));
    let out = run(Command::new(bin("tern")).args([
        "-N",
        &n1,
        "-c",
        "configure terminal",
        "-c",
        "service web",
        "-c",
        "algorithm maglev table-size 1000",
    ]));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("not a prime"), "{text}");
    let after = run_ok(Command::new(bin("tern")).args(["-N", &n1, "-c", "show running-config"]));
    assert_eq!(before, after);

    // 10,000 services in bulk (as an orchestrator sends them), answered.
    let svc = |i: u32| {
        json!({
            "name": format!("bulk{i}"),
            "frontends": [{"addr": "198.51.100.200", "port": 20000 + i, "proto": "tcp"}],
            "backends": v4.iter().map(|a| json!({"addr": a, "port": 8080})).collect::<Vec<_>>(),
            "algorithm": {"maglev": {"table_size": 251}},
        })
    };
    for node in [&n1, &n2] {
        for chunk in 0..5u32 {
            let upsert: Vec<Value> = (chunk * 2000..(chunk + 1) * 2000).map(svc).collect();
            let r = control(
                node,
                &json!({"request": "services-apply", "upsert": upsert}),
            );
            assert_eq!(r["reply"], "services-applied", "{r}");
        }
    }
    wait_paths(&tor, "198.51.100.200/32", false, 2);
    for port in [20000u16, 25000, 29999] {
        all_answered(&client(&cl, "tcp", "198.51.100.200", port, 8, 0, ""), 8);
    }
    // One request moves a frontend from one service to another (bulk0's
    // port 20000 to a new service with node1-pod1 alone; bulk0 takes port
    // 30000): only the services it names are programmed again, and the
    // frontend stays with its new service though that one (a-moved) is
    // programmed before its old one lets go of it.
    let moved = json!({
        "name": "a-moved",
        "frontends": [{"addr": "198.51.100.200", "port": 20000, "proto": "tcp"}],
        "backends": [{"addr": v4[0], "port": 8080}],
    });
    let mut bulk0 = svc(0);
    bulk0["frontends"][0]["port"] = json!(30000);
    for node in [&n1, &n2] {
        let r = control(
            node,
            &json!({"request": "services-apply", "upsert": [moved, bulk0]}),
        );
        assert_eq!(r["reply"], "services-applied", "{r}");
    }
    let names = all_answered(&client(&cl, "tcp", "198.51.100.200", 20000, 8, 0, ""), 8);
    assert!(
        names.iter().all(|n| n == "node1-pod1"),
        "port 20000 answered by {names:?}, want node1-pod1 alone"
    );
    all_answered(&client(&cl, "tcp", "198.51.100.200", 30000, 8, 0, ""), 8);
    // Deleting a service leaves the backends and the address it shares
    // with others in place: the rest still answer.
    for node in [&n1, &n2] {
        let r = control(
            node,
            &json!({"request": "services-apply", "delete": ["a-moved", "bulk1"]}),
        );
        assert_eq!(r["reply"], "services-applied", "{r}");
    }
    all_answered(&client(&cl, "tcp", "198.51.100.200", 30000, 8, 0, ""), 8);
    all_answered(&client(&cl, "tcp", "198.51.100.200", 20002, 8, 0, ""), 8);
    let delete: Vec<String> = (0..10_000)
        .filter(|i| *i != 1)
        .map(|i| format!("bulk{i}"))
        .collect();
    for node in [&n1, &n2] {
        let r = control(
            node,
            &json!({"request": "services-apply", "delete": delete}),
        );
        assert_eq!(r["reply"], "services-applied", "{r}");
    }
    wait_paths(&tor, "198.51.100.200/32", false, 0);

    // A service survives a restart of ternd (saved by `write memory`).
    tern_script(&n1, "write memory\n");
    lab.stop_ternd("node1");
    wait_paths(&tor, &format!("{VIP}/32"), false, 1);
    let _ternd = lab.start_ternd("node1", None);
    wait_paths(&tor, &format!("{VIP}/32"), false, 2);
    // Announced again once programmed. A connection that ECMP moves to the
    // other node while it opens (tor1's paths just changed) may be reset:
    // its SNAT differs there (README, Services); then every one is answered.
    eventually(30, "every connection answered after the restart", || {
        let answers = client(&cl, "tcp", VIP, 80, 40, 0, "");
        if answers.iter().any(|(_, a)| a.starts_with("ERR")) {
            return Err(format!("after the restart: {answers:?}"));
        }
        let by = spread(&all_answered(&answers, 40));
        if by.len() == 4 {
            Ok(())
        } else {
            Err(format!("after the restart: {by:?}"))
        }
    });

    // Hitless restart through the VIP: with graceful restart, node1's
    // ternd is killed (SIGKILL) and started again while a client keeps
    // opening connections to the VIP; tor1 keeps both paths (node1's
    // routes stale), node1's pinned datapath keeps translating, and every
    // connection is answered. The first restart (SIGTERM) only brings up
    // sessions that negotiated graceful restart.
    tern_script(
        &n1,
        "configure terminal\nrouter bgp 65001\n bgp graceful-restart\nend\nwrite memory\n",
    );
    drop(_ternd);
    let ternd = lab.start_ternd("node1", None);
    wait_paths(&tor, &format!("{VIP}/32"), false, 2);
    eventually(
        30,
        "every connection answered after the graceful restart",
        || {
            let answers = client(&cl, "tcp", VIP, 80, 40, 0, "");
            if answers.iter().any(|(_, a)| a.starts_with("ERR")) {
                return Err(format!("{answers:?}"));
            }
            Ok(())
        },
    );
    // A service configured live and never saved: the killed ternd has
    // its frontend in the pinned maps, the next one does not know it and
    // sweeps it once it has programmed its own.
    tern_script(
        &n1,
        &format!(
            "configure terminal\nservice temp\n frontend {TEMP_VIP} port 80 tcp\n \
             backend {} port 8080\nexit\nend\n",
            v4[0]
        ),
    );
    eventually(30, "temp's frontend in node1's map", || {
        frontends_of(&n1, TEMP_VIP) >= 1
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (cl, stop) = (cl.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                answers.extend(client(&cl, "tcp", VIP, 80, 20, 0, ""));
            }
            answers
        })
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pid = ternd.pid().to_string();
    run_ok(Command::new("kill").args(["-KILL", &pid]));
    drop(ternd);
    let _ternd = lab.start_ternd("node1", None);
    eventually(30, "the new ternd answers", || {
        Command::new(bin("tern"))
            .args(["-N", &n1, "-c", "show version"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    std::thread::sleep(std::time::Duration::from_secs(4));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = load.join().expect("client thread");
    let failed: Vec<_> = answers
        .iter()
        .filter(|(_, a)| a.starts_with("ERR"))
        .collect();
    assert!(
        answers.len() >= 40 && failed.is_empty(),
        "connections to the VIP while node1's ternd was killed and restarted: \
         {} of {} failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    assert_eq!(
        tor_paths(&tor, &format!("{VIP}/32"), false),
        2,
        "tor1 kept both paths"
    );
    eventually(30, "temp's frontend swept by the new ternd", || {
        frontends_of(&n1, TEMP_VIP) == 0
    });

    // Policy local: when node2's pods go (their veths vanish, as at CNI
    // DEL), their backends leave node2's tables and node2 withdraws the VIP.
    both(&lab, "service web\n external-traffic-policy local\nexit");
    for pod in ["pod1", "pod2"] {
        run_ok(Command::new("ip").args(["-n", &format!("{n2}-{pod}"), "link", "del", "eth0"]));
    }
    wait_paths(&tor, &format!("{VIP}/32"), false, 1);
    let s = tern(&n2, "show service web json");
    let f = &s["services"]["web"]["frontends"][0];
    assert_eq!(f["announced"], false, "{s}");
    assert_eq!(f["backends"].as_array().map(Vec::len), Some(0), "{s}");
    let by = spread(&all_answered(&client(&cl, "tcp", VIP, 80, 20, 0, ""), 20));
    assert!(by.keys().all(|n| n.starts_with("node1-")), "{by:?}");
}
