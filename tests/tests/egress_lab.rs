//! The egress gateway end to end (lab/topologies/egress.clab.yml, issue 13):
//! FRR tor1; node1 with pod finance-1 (Kubernetes namespace finance,
//! selected by policy legacy-db) and pod web-1 (namespace web, not
//! selected); node2 and node3 as the policy's gateways; a legacy firewall
//! `fw` (nftables) that lets only the egress IPs reach the database `db`,
//! except its open address, which the policy excludes. Checked with real
//! packets, in native mode:
//! - the finance pod reaches the database over TCP (IPv4 and IPv6) and the
//!   database sees only egress IPs, both gateways taking flows; a flow is
//!   listed by `show egress-gateway nat json` on the gateway that carries it,
//!   with the egress IP and port the database saw;
//! - the web pod is dropped by the firewall (its denied counter grows);
//! - the excluded address is reached with the pod's own address;
//! - UDP is translated too; a datagram to a closed port brings the ICMP
//!   port unreachable back to the pod (ECONNREFUSED); fragments of a
//!   selected flow are dropped and counted (egress-unsupported);
//! - malformed packets from the pod are dropped and counted, and every
//!   ternd keeps running;
//! - node2's ternd stopped, and separately node2's link cut: new
//!   connections all leave through node3 within the hold time (measured and
//!   printed), and node2's egress IPs leave tor1's table;
//! - 10,000 short connections all answered through egress IPs; after the
//!   NAT timeouts and the collector, no NAT entry is left on the gateways;
//! - then the nodes switch live to Geneve mode, then VXLAN mode, and the
//!   basic reach, the firewall's drop, the exclude and the ICMP error hold
//!   there too.
//!
//! Needs root, FRR, python3 and nftables (lab/setup.sh); fails (never
//! skips) without them.
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_tests::{
    CniPods, Lab, Ternd, bin, eventually, gone, in_netns, netns_command, repo_root, run_ok, tern,
    tern_script, vtysh, vtysh_config,
};

/// The lab's name in this test (namespaces `clab-egw-*`).
const LAB: &str = "egw";
/// The database's allow-listed addresses and its open (excluded) ones.
const DB: &str = "192.0.2.130";
const DB6: &str = "2001:db8:db::130";
const OPEN: &str = "192.0.2.200";
const OPEN6: &str = "2001:db8:db::200";
/// The database's port (TCP and UDP), and a port nothing listens on.
const PORT: u16 = 5432;
const CLOSED: u16 = 9;
/// Egress IPs of node2 and node3, in that order.
const EGRESS: [&str; 2] = ["203.0.113.10", "203.0.113.11"];
const EGRESS6: [&str; 2] = ["2001:db8:113::10", "2001:db8:113::11"];
/// The BGP hold time of every session of the lab (timers 3 9).
const HOLD: Duration = Duration::from_secs(9);

/// Path of a lab tool (lab/tools/NAME).
fn tool(name: &str) -> String {
    repo_root()
        .join("lab/tools")
        .join(name)
        .display()
        .to_string()
}

/// Fails with what is missing unless `program arg` runs.
fn need(program: &str, arg: &str) {
    let ok = Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{program} is missing: run lab/setup.sh");
}

/// One line of the database's log: protocol, source address, local address.
#[derive(Clone, Debug)]
struct Seen {
    proto: String,
    source: String,
    local: String,
}

/// The database's server (lab/tools/legacy_db.py) in the db namespace, its
/// log collected by a thread; stopped on drop.
struct Db {
    child: Child,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Db {
    fn start(lab: &Lab) -> Db {
        let mut child = netns_command(&lab.ns("db"), "python3")
            .arg(tool("legacy_db.py"))
            .arg(PORT.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the database's server (python3 needed)");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first)
            .expect("read the server's first line");
        assert_eq!(first.trim(), "listening", "the database's server");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                let w: Vec<&str> = line.split_whitespace().collect();
                if let [proto, source, _, local, _] = w[..] {
                    let seen = Seen {
                        proto: proto.to_owned(),
                        source: source.to_owned(),
                        local: local.to_owned(),
                    };
                    sink.lock().expect("log").push(seen);
                }
            }
        });
        Db { child, log }
    }

    /// How many lines the log has: a mark for [`Db::since`].
    fn mark(&self) -> usize {
        self.log.lock().expect("log").len()
    }

    /// The lines logged since `mark`.
    fn since(&self, mark: usize) -> Vec<Seen> {
        self.log.lock().expect("log")[mark..].to_vec()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs lab/tools/db_client.py in `ns` and returns its summary.
fn client(ns: &str, args: &[&str]) -> Value {
    let out = run_ok(
        netns_command(ns, "python3")
            .arg(tool("db_client.py"))
            .args(args),
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `count` TCP connections from `ns` to `addr`, at most `parallel` at once.
fn tcp(ns: &str, addr: &str, count: u32, parallel: u32, timeout: f64) -> Value {
    let port = PORT.to_string();
    client(
        ns,
        &[
            "tcp",
            addr,
            &port,
            "--count",
            &count.to_string(),
            "--parallel",
            &parallel.to_string(),
            "--timeout",
            &timeout.to_string(),
        ],
    )
}

/// `count` UDP datagrams of `size` bytes from `ns` to `addr:port`.
fn udp(ns: &str, addr: &str, port: u16, count: u32, size: u32, timeout: f64) -> Value {
    client(
        ns,
        &[
            "udp",
            addr,
            &port.to_string(),
            "--count",
            &count.to_string(),
            "--size",
            &size.to_string(),
            "--timeout",
            &timeout.to_string(),
        ],
    )
}

/// The source addresses the server saw, by count.
fn sources(r: &Value) -> BTreeMap<String, u64> {
    r["sources"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect()
}

/// Every one of `count` answered, every source one of `allowed`; returns
/// the sources.
fn all_from(r: &Value, count: u64, allowed: &[&str], what: &str) -> BTreeMap<String, u64> {
    assert_eq!(r["ok"], count, "{what}: every one answered: {r}");
    let s = sources(r);
    assert!(
        s.keys().all(|a| allowed.contains(&a.as_str())),
        "{what}: the server saw only {allowed:?}: {r}"
    );
    s
}

/// None answered.
fn none_answered(r: &Value, count: u64, what: &str) {
    assert_eq!(r["ok"], 0, "{what}: none answered: {r}");
    assert_eq!(r["failed"], count, "{what}: {r}");
}

/// The firewall's `denied` counter (packets).
fn fw_denied(lab: &Lab) -> u64 {
    let out = run_ok(
        netns_command(&lab.ns("fw"), "nft")
            .args(["-j", "list", "counter", "inet", "legacy", "denied"]),
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|o| o["counter"]["packets"].as_u64())
        .unwrap_or_else(|| panic!("no counter in {out}"))
}

/// tor1's BGP prefixes of both families.
fn tor_prefixes(tor: &str) -> Vec<String> {
    ["show ip bgp json", "show bgp ipv6 unicast json"]
        .iter()
        .flat_map(|cmd| {
            vtysh(tor, cmd)["routes"]
                .as_object()
                .map(|r| r.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect()
}

/// Node `i`'s egress IPs as host prefixes (0: node2, 1: node3).
fn egress_prefixes(i: usize) -> [String; 2] {
    [format!("{}/32", EGRESS[i]), format!("{}/128", EGRESS6[i])]
}

/// Waits until tor1 has (or has not) node `i`'s egress IPs (0: node2,
/// 1: node3); returns how long that took from `since`.
fn wait_tor(tor: &str, i: usize, present: bool, secs: u64, since: Instant) -> Duration {
    eventually(secs, "tor1's egress prefixes", || {
        let have = tor_prefixes(tor);
        let want = egress_prefixes(i);
        if want.iter().all(|p| have.contains(p) == present) {
            Ok(since.elapsed())
        } else {
            Err(format!(
                "tor1 should {}have {want:?}: {have:?}",
                if present { "" } else { "not " }
            ))
        }
    })
}

/// Drop counters of a node by reason.
fn drops(ns: &str) -> BTreeMap<String, u64> {
    tern(ns, "show datapath drops json")["drops"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect()
}

/// One drop counter of a node (0 when the node has no such reason).
fn drop_count(ns: &str, reason: &str) -> u64 {
    drops(ns).get(reason).copied().unwrap_or(0)
}

/// Every packet a node's datapath dropped, whatever the reason.
fn drops_total(ns: &str) -> u64 {
    drops(ns).values().sum()
}

/// Waits until new connections from `pod` to the database leave through
/// both gateways again (both egress IPs seen) in both families.
fn wait_both_gateways(pod: &str, what: &str) {
    eventually(60, what, || {
        for (addr, egress) in [(DB, &EGRESS), (DB6, &EGRESS6)] {
            let r = tcp(pod, addr, 20, 10, 1.0);
            let s = sources(&r);
            if r["ok"] != 20 || s.len() != 2 || !s.keys().all(|a| egress.contains(&a.as_str())) {
                return Err(format!("{what}: to {addr}: {r}"));
            }
        }
        Ok(())
    });
}

/// After node2 failed at `t0`: the time until new connections all leave
/// through node3 (a round of 10 parallel connections, each given 1 s, all
/// answered through node3's egress IP), then 40 more through node3 only.
fn time_to_node3(pod: &str, t0: Instant, what: &str) -> Duration {
    let deadline = t0 + HOLD + Duration::from_secs(10);
    let moved = loop {
        let r = tcp(pod, DB, 10, 10, 1.0);
        if r["ok"] == 10 && sources(&r).keys().all(|a| a == EGRESS[1]) {
            break t0.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: new connections never all went through node3: {r}"
        );
    };
    let r = tcp(pod, DB, 40, 10, 2.0);
    all_from(&r, 40, &[EGRESS[1]], &format!("{what}, node3 only"));
    let r = tcp(pod, DB6, 20, 10, 2.0);
    all_from(
        &r,
        20,
        &[EGRESS6[1]],
        &format!("{what}, IPv6 through node3 only"),
    );
    moved
}

/// What the steps share: the lab's namespaces, the database, the pods.
struct Ctx<'a> {
    lab: &'a Lab,
    db: &'a Db,
    n1: String,
    n2: String,
    n3: String,
    tor: String,
    /// The pods' namespaces.
    fin: String,
    web: String,
    /// The pods' IPv4 and IPv6 addresses.
    fin_addrs: (String, String),
    web_addrs: (String, String),
}

impl Ctx<'_> {
    fn nodes(&self) -> [&String; 3] {
        [&self.n1, &self.n2, &self.n3]
    }

    /// The sum of drop counter `reason` over the three nodes.
    fn drops_of(&self, reason: &str) -> u64 {
        self.nodes().iter().map(|n| drop_count(n, reason)).sum()
    }

    fn drops_all(&self) -> u64 {
        self.nodes().iter().map(|n| drops_total(n)).sum()
    }
}

/// The pods carry their namespace, and the policy is in force: tor1 has
/// every egress IP, node1 sees every gateway healthy and steers the
/// finance pod only.
fn wait_in_force(c: &Ctx) {
    let eps = tern(&c.n1, "show datapath endpoints json");
    for (pod, k8s) in [(&c.fin, "finance"), (&c.web, "web")] {
        let ep = eps["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["containerId"] == pod.as_str())
            .unwrap_or_else(|| panic!("no endpoint {pod}: {eps}"));
        assert_eq!(
            ep["namespace"], k8s,
            "{pod}'s namespace reached ternd: {ep}"
        );
    }
    for i in 0..2 {
        wait_tor(&c.tor, i, true, 60, Instant::now());
    }
    eventually(30, "node1 sees both gateways", || {
        let s = tern(&c.n1, "show egress-gateway json");
        let gws = s["policies"]["legacy-db"]["gateways"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // Addresses as JSON strings, quotes included.
        let steering = s["steering"].to_string();
        let steers = |a: &str| steering.contains(&format!("\"{a}\""));
        let ok = gws.len() == 4
            && gws.iter().all(|g| g["healthy"] == true)
            && steers(&c.fin_addrs.0)
            && steers(&c.fin_addrs.1)
            && !steers(&c.web_addrs.0)
            && !steers(&c.web_addrs.1);
        if ok { Ok(()) } else { Err(s.to_string()) }
    });
}

/// The basic reach, checked in each datapath mode: the finance pod reaches
/// the database through both gateways and the database sees only egress
/// IPs; the web pod is dropped by the firewall; the excluded address is
/// reached with the pods' own addresses.
fn basic_reach(c: &Ctx, mode: &str) {
    for (v6, addr, open, egress) in [(false, DB, OPEN, &EGRESS), (true, DB6, OPEN6, &EGRESS6)] {
        let fam = if v6 { "IPv6" } else { "IPv4" };
        let (fin_own, web_own) = if v6 {
            (&c.fin_addrs.1, &c.web_addrs.1)
        } else {
            (&c.fin_addrs.0, &c.web_addrs.0)
        };
        let mark = c.db.mark();
        let r = tcp(&c.fin, addr, 40, 8, 2.0);
        let s = all_from(&r, 40, egress, &format!("{mode} {fam}: finance -> {addr}"));
        assert_eq!(
            s.len(),
            2,
            "{mode} {fam}: flows spread over both gateways: {r}"
        );
        // The server's own log agrees: only egress IPs at the address.
        let seen = eventually(5, "the database's log of the connections", || {
            let seen: Vec<Seen> =
                c.db.since(mark)
                    .into_iter()
                    .filter(|l| l.proto == "tcp" && l.local == addr)
                    .collect();
            if seen.len() >= 40 {
                Ok(seen)
            } else {
                Err(format!("the database logged {} of 40", seen.len()))
            }
        });
        assert!(
            seen.iter().all(|l| egress.contains(&l.source.as_str())),
            "{mode} {fam}: the database saw another source: {seen:?}"
        );

        // The web pod: dropped by the firewall.
        let denied = fw_denied(c.lab);
        let mark = c.db.mark();
        let r = tcp(&c.web, addr, 3, 3, 2.0);
        none_answered(&r, 3, &format!("{mode} {fam}: web -> {addr}"));
        let now = fw_denied(c.lab);
        assert!(
            now >= denied + 3,
            "{mode} {fam}: the firewall dropped the web pod's SYNs ({denied} -> {now})"
        );
        assert!(
            c.db.since(mark).iter().all(|l| l.source != *web_own),
            "{mode} {fam}: the web pod reached the database"
        );

        // The excluded address: the pods' own addresses.
        for (ns, own, who) in [(&c.fin, fin_own, "finance"), (&c.web, web_own, "web")] {
            let r = tcp(ns, open, 5, 5, 2.0);
            all_from(
                &r,
                5,
                &[own.as_str()],
                &format!("{mode} {fam}: {who} -> excluded {open}"),
            );
        }
    }
    println!(
        "{mode}: finance through both gateways, web dropped by the firewall, \
         exclude reached with the pod's address (IPv4, IPv6)"
    );
}

/// One connection held open is listed by `show egress-gateway nat json` on
/// the gateway that carries it, with the egress IP and port the database
/// then reports.
fn nat_listing(c: &Ctx) {
    let db_addr = SocketAddr::new(DB.parse::<IpAddr>().expect("address"), PORT);
    let mut held = in_netns(&c.fin, move || {
        TcpStream::connect_timeout(&db_addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {db_addr} from the finance pod: {e}"))
    })
    .join()
    .expect("connect thread");
    let local = held.local_addr().expect("local address");
    let (gw_node, entry) = eventually(10, "the connection's NAT entry on a gateway", || {
        let mut found = Vec::new();
        for (node, ns) in [("node2", &c.n2), ("node3", &c.n3)] {
            let v = tern(ns, "show egress-gateway nat json");
            for e in v["entries"].as_array().into_iter().flatten() {
                if e["source"] == local.ip().to_string() && e["sourcePort"] == local.port() {
                    found.push((node, e.clone()));
                }
            }
        }
        match &found[..] {
            [(_, e)] if e["state"] == "established" => Ok(found[0].clone()),
            _ => Err(format!("the held flow {local} on the gateways: {found:?}")),
        }
    });
    let want_ip = if gw_node == "node2" {
        EGRESS[0]
    } else {
        EGRESS[1]
    };
    assert_eq!(entry["egressIp"], want_ip, "{gw_node}: {entry}");
    assert_eq!(entry["policy"], "legacy-db", "{entry}");
    assert_eq!(entry["protocol"], "tcp", "{entry}");
    assert_eq!(entry["destination"], DB, "{entry}");
    assert_eq!(entry["destinationPort"], PORT, "{entry}");
    held.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    held.write_all(b"source?\n").expect("request");
    let mut answer = String::new();
    held.read_to_string(&mut answer).expect("answer");
    drop(held);
    assert_eq!(
        answer.split_whitespace().collect::<Vec<_>>(),
        [
            entry["egressIp"].as_str().unwrap_or_default(),
            &entry["egressPort"].to_string()
        ],
        "the database saw the listed translation: {entry}"
    );
    println!("held flow {local} listed on {gw_node}: {entry}");
}

/// UDP is translated too; a datagram to a closed port brings the ICMP
/// error back into the pod; fragments of a selected flow are dropped and
/// counted (egress-unsupported) and never reach the database.
fn udp_icmp_fragments(c: &Ctx) {
    for (addr, egress) in [(DB, &EGRESS), (DB6, &EGRESS6)] {
        let r = udp(&c.fin, addr, PORT, 5, 8, 2.0);
        all_from(&r, 5, egress, &format!("UDP finance -> {addr}"));
        let r = udp(&c.fin, addr, CLOSED, 3, 8, 2.0);
        assert_eq!(
            r["errors"],
            serde_json::json!({"ECONNREFUSED": 3}),
            "ICMP port unreachable from {addr} reaches the pod: {r}"
        );
    }
    println!("UDP translated; ICMP port unreachable translated back (IPv4, IPv6)");

    let before = c.drops_of("egress-unsupported");
    let mark = c.db.mark();
    for addr in [DB, DB6] {
        // 3000 bytes: three fragments at the pods' MTU of 1430.
        let r = udp(&c.fin, addr, PORT, 2, 3000, 1.0);
        none_answered(&r, 2, &format!("fragmented UDP finance -> {addr}"));
    }
    let after = c.drops_of("egress-unsupported");
    assert!(
        after >= before + 4,
        "fragments counted as egress-unsupported: {before} -> {after}"
    );
    assert!(
        c.db.since(mark).is_empty(),
        "a fragmented datagram reached the database: {:?}",
        c.db.since(mark)
    );
    println!(
        "fragments dropped and counted ({} egress-unsupported)",
        after - before
    );
}

/// Malformed packets from the finance pod to the database: dropped and
/// counted (those malformed in their IP header on node1, where the pod's
/// packets are parsed first); every ternd keeps running and the pod's
/// traffic still flows.
fn malformed(c: &Ctx) {
    let pids: Vec<i32> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| c.lab.pid(n, "ternd"))
        .collect();
    let (bad0, cut0) = (
        drop_count(&c.n1, "bad-header"),
        drop_count(&c.n1, "truncated"),
    );
    let total0 = c.drops_all();
    let out = run_ok(netns_command(&c.fin, "python3").args([
        tool("malformed_frames.py").as_str(),
        &c.fin_addrs.0,
        DB,
        &c.fin_addrs.1,
        DB6,
    ]));
    let sent: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let n_sent = sent["sent"].as_array().map_or(0, Vec::len) as u64;
    assert_eq!(n_sent, 8, "{sent}");
    eventually(5, "malformed frames counted as drops", || {
        let (bad, cut) = (
            drop_count(&c.n1, "bad-header"),
            drop_count(&c.n1, "truncated"),
        );
        let total = c.drops_all();
        if bad > bad0 && cut >= cut0 + 4 && total >= total0 + n_sent {
            Ok(())
        } else {
            Err(format!(
                "malformed frames counted: bad-header {bad0} -> {bad}, truncated {cut0} -> {cut}, \
                 all drops {total0} -> {total} (want +1, +4, +{n_sent}): {:?}",
                c.nodes().iter().map(|n| drops(n)).collect::<Vec<_>>()
            ))
        }
    });
    for (node, pid) in ["node1", "node2", "node3"].iter().zip(&pids) {
        assert!(
            !gone(*pid),
            "{node}'s ternd ended after the malformed packets"
        );
        run_ok(Command::new(bin("tern")).args(["-N", &c.lab.ns(node), "-c", "show version"]));
    }
    let r = tcp(&c.fin, DB, 10, 5, 2.0);
    all_from(&r, 10, &EGRESS, "after the malformed packets");
    println!("malformed packets dropped and counted, ternd running");

    // A pod that forges its source (here to the open address, which the
    // firewall would let through) is stopped on its own node.
    let spoofed0 = drop_count(&c.n1, "source-spoofed");
    let mark = c.db.mark();
    run_ok(netns_command(&c.fin, "python3").args([
        tool("spoofed_udp.py").as_str(),
        "10.244.1.77",
        OPEN,
        &PORT.to_string(),
        "3",
    ]));
    eventually(5, "spoofed sources counted as drops", || {
        let n = drop_count(&c.n1, "source-spoofed");
        if n >= spoofed0 + 3 {
            Ok(())
        } else {
            Err(format!("source-spoofed {spoofed0} -> {n} (want +3)"))
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        c.db.since(mark).iter().all(|s| s.source != "10.244.1.77"),
        "a forged source reached the database: {:?}",
        c.db.since(mark)
    );
    println!("forged sources dropped on the pod's node and counted");
}

/// After node2 failed at `t0`: the measured failover (new connections
/// through node3 only, node2's egress IPs gone from tor1), printed and
/// held to the hold time.
fn check_failover(c: &Ctx, t0: Instant, what: &str) {
    let moved = time_to_node3(&c.fin, t0, what);
    let left = wait_tor(&c.tor, 0, false, HOLD.as_secs() + 5, t0);
    println!(
        "{what}: new connections all through node3 after {:.2} s, node2's egress IPs \
         gone from tor1 after {:.2} s (hold time {} s)",
        moved.as_secs_f64(),
        left.as_secs_f64(),
        HOLD.as_secs()
    );
    assert!(
        moved <= HOLD,
        "{what}: failover took {moved:?}, over the hold time"
    );
    assert!(
        left <= HOLD,
        "{what}: tor1 kept node2's egress IPs for {left:?}"
    );
}

/// node2's ternd stopped, then (with a new ternd) node2's link cut: each
/// time new connections move to node3 within the hold time, and node2
/// comes back. Returns node2's new ternd.
fn failover(c: &Ctx) -> Ternd {
    let t0 = Instant::now();
    c.lab.stop_ternd("node2");
    check_failover(c, t0, "node2's ternd stopped");
    let ternd = c.lab.start_ternd("node2", None);
    wait_tor(&c.tor, 0, true, 60, Instant::now());
    wait_both_gateways(&c.fin, "node2's ternd back");

    let t0 = Instant::now();
    run_ok(Command::new("ip").args(["-n", &c.n2, "link", "set", "eth1", "down"]));
    check_failover(c, t0, "node2's link cut");
    // Up again, with the fixed link-local address (the kernel makes a new
    // one at link up; the global one is kept, keep_addr_on_down).
    for cmd in [
        "link set eth1 up",
        "addr replace 2001:db8:0:2::2/64 dev eth1 nodad",
        "-6 addr flush dev eth1 scope link",
        "addr add fe80::ab:cd:ef:2/64 dev eth1 nodad",
    ] {
        run_ok(
            Command::new("ip")
                .args(["-n", &c.n2])
                .args(cmd.split_whitespace()),
        );
    }
    wait_tor(&c.tor, 0, true, 60, Instant::now());
    wait_both_gateways(&c.fin, "node2's link back");
    ternd
}

/// 10,000 short connections, all answered through egress IPs; then no NAT
/// entry is left on the gateways once the closing timeout (2 s) has passed
/// and the collector (every 10 s) has run.
fn many_connections(c: &Ctx) {
    let mark = c.db.mark();
    let r = tcp(&c.fin, DB, 10_000, 200, 10.0);
    all_from(&r, 10_000, &EGRESS, "10,000 connections");
    println!(
        "10,000 connections in {} s through {:?}",
        r["seconds"],
        sources(&r)
    );
    eventually(10, "the database's log of 10,000 connections", || {
        let n =
            c.db.since(mark)
                .iter()
                .filter(|l| l.proto == "tcp" && l.local == DB)
                .count();
        if n == 10_000 {
            Ok(())
        } else {
            Err(format!("the database logged {n} of 10,000"))
        }
    });
    assert!(
        c.db.since(mark)
            .iter()
            .all(|l| EGRESS.contains(&l.source.as_str())),
        "the database saw another source than the egress IPs"
    );
    let t = Instant::now();
    eventually(45, "the gateways' NAT entries gone", || {
        let left: Vec<String> = [&c.n2, &c.n3]
            .iter()
            .map(|n| (n, tern(n, "show egress-gateway nat json")))
            .filter(|(_, v)| {
                v["count"] != 0 || v["entries"].as_array().is_none_or(|e| !e.is_empty())
            })
            .map(|(n, v)| format!("{n}: {}", v["count"]))
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("NAT entries left: {left:?}"))
        }
    });
    println!(
        "no NAT entry left on the gateways {:.1} s after the last connection",
        t.elapsed().as_secs_f64()
    );
}

/// The tunnel modes, switched live on every node (Geneve, then VXLAN): the
/// same basic reach, and the ICMP error. The gateways tunnel replies to the
/// pod's node, the BGP next hop of its pod CIDR, which tor1 then passes on
/// unchanged.
fn tunnel_modes(c: &Ctx) {
    vtysh_config(
        &c.tor,
        &[
            "router bgp 65000",
            "address-family ipv4 unicast",
            "neighbor 192.0.2.1 attribute-unchanged next-hop",
            "neighbor 192.0.2.3 attribute-unchanged next-hop",
            "neighbor 192.0.2.5 attribute-unchanged next-hop",
            "exit-address-family",
            "address-family ipv6 unicast",
            "neighbor 2001:db8:0:1::2 attribute-unchanged next-hop",
            "neighbor 2001:db8:0:2::2 attribute-unchanged next-hop",
            "neighbor 2001:db8:0:3::2 attribute-unchanged next-hop",
            "end",
            "clear bgp * soft out",
        ],
    );
    for mode in ["geneve", "vxlan"] {
        for n in c.nodes() {
            tern_script(
                n,
                &format!("configure terminal\ndatapath mode {mode}\nend\n"),
            );
        }
        for n in c.nodes() {
            eventually(60, "the datapath mode with tunnels to node1", || {
                let v = tern(n, "show datapath json");
                let tunnels = v["tunnels"].to_string();
                // The gateways tunnel to node1, both families.
                let ok = v["mode"] == mode
                    && v["lastError"].is_null()
                    && (*n == c.n1
                        || (tunnels.contains("\"192.0.2.1\"")
                            && tunnels.contains("\"2001:db8:0:1::2\"")));
                if ok { Ok(()) } else { Err(v.to_string()) }
            });
        }
        wait_both_gateways(&c.fin, &format!("{mode} mode"));
        basic_reach(c, mode);
        let r = udp(&c.fin, DB, CLOSED, 3, 8, 2.0);
        assert_eq!(
            r["errors"],
            serde_json::json!({"ECONNREFUSED": 3}),
            "{mode}: ICMP port unreachable reaches the pod: {r}"
        );
    }
}

#[test]
fn egress_gateway_end_to_end() {
    for (t, arg) in [
        ("python3", "--version"),
        ("nft", "--version"),
        ("vtysh", "--help"),
    ] {
        need(t, arg);
    }
    let started = Instant::now();
    let lab = Lab::up("egress.clab.yml", LAB);
    let tor = lab.ns("tor1");
    eventually(60, "every session Established at tor1", || {
        let v = vtysh(&tor, "show bgp summary json");
        let up = ["ipv4Unicast", "ipv6Unicast"]
            .iter()
            .flat_map(|f| v[f]["peers"].as_object().into_iter().flatten())
            .filter(|(_, p)| p["state"] == "Established")
            .count();
        if up == 6 {
            Ok(())
        } else {
            Err(format!("{up} of 6 sessions up: {v}"))
        }
    });
    // Declared after the lab: CNI DEL runs while the lab's ternd still does.
    let netconf = lab
        .topology()
        .parent()
        .expect("topology folder")
        .join("egress/node1/10-tern.conf");
    let mut pods = CniPods::new(LAB);
    let mut add = |pod: &str, k8s_ns: &str| {
        pods.add("node1", pod, k8s_ns, &netconf);
        (
            pods.addr("node1", pod, false),
            pods.addr("node1", pod, true),
        )
    };
    let fin_addrs = add("finance-1", "finance");
    let web_addrs = add("web-1", "web");
    let db = Db::start(&lab);
    let n1 = lab.ns("node1");
    let c = Ctx {
        lab: &lab,
        db: &db,
        fin: format!("{n1}-finance-1"),
        web: format!("{n1}-web-1"),
        n1,
        n2: lab.ns("node2"),
        n3: lab.ns("node3"),
        tor,
        fin_addrs,
        web_addrs,
    };
    wait_in_force(&c);
    println!(
        "lab up, pods added, policy in force after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    basic_reach(&c, "native");
    nat_listing(&c);
    udp_icmp_fragments(&c);
    malformed(&c);
    let _node2 = failover(&c);
    many_connections(&c);
    tunnel_modes(&c);
    trusted_sources(&c);
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
}

/// Every node trusts its `datapath node-prefix` ranges (in native mode the
/// gateways learn their client nodes from nothing else), and nothing the
/// lab sent was refused as coming from an unknown tunnel source.
fn trusted_sources(c: &Ctx) {
    for n in c.nodes() {
        let v = tern(n, "show datapath json");
        let trusted = v["trustedSources"].to_string();
        for p in ["192.0.2.0/31", "192.0.2.4/31", "2001:db8:0:1::/64"] {
            assert!(trusted.contains(&format!("\"{p}\"")), "{n}: {p} in {v}");
        }
    }
    assert_eq!(
        c.drops_of("unknown-tunnel-source"),
        0,
        "tunnelled packets refused: {:?}",
        c.nodes().iter().map(|n| drops(n)).collect::<Vec<_>>()
    );
    println!("every node trusts the nodes' ranges; no tunnel source refused");
}
