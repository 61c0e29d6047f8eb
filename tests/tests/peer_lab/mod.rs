//! The scenario shared by the interop tests with GoBGP (bgp_gobgp.rs) and
//! BIRD (bgp_bird.rs): a lab of one third-party router and two Tern nodes
//! under it (lab/topologies/{gobgp,bird}.clab.yml, addressed like the default
//! lab). Each test gives a `Peer` that reads the router's own tool; the
//! scenario checks the sessions, the routes in the router and in the nodes'
//! kernel FIBs, the withdraw path when a node stops, and what is left when
//! the router itself stops.
use std::{
    fs::OpenOptions,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_tests::{bin, private_topology, run, run_ok};

/// node1's and node2's uplink addresses, as the router sees them.
pub const NODE1_ADDR: &str = "192.0.2.1";
pub const NODE2_ADDR: &str = "192.0.2.3";
/// The router's addresses on the links to node1 and node2.
const ROUTER_TO_NODE1: &str = "192.0.2.0";
const ROUTER_TO_NODE2: &str = "192.0.2.2";
/// What each node announces (`network` lines of its ternd.conf).
const NODE1_PREFIXES: [&str; 2] = ["10.244.1.0/24", "198.51.100.11/32"];
const NODE2_PREFIXES: [&str; 2] = ["10.244.2.0/24", "198.51.100.12/32"];

/// One route of the router's RIB (its best path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibRoute {
    pub prefix: String,
    pub next_hop: String,
    pub as_path: Vec<u32>,
}

/// A session as the router's own tool reports it.
#[derive(Debug, Clone)]
pub struct PeerSession {
    pub established: bool,
    /// The state in the tool's words, for messages.
    pub state: String,
    /// Prefixes accepted from the neighbor, when the tool says.
    pub accepted: Option<u64>,
}

/// The third-party router of the lab, read through its own tool.
pub trait Peer {
    /// The node name in the topology (`gobgp1`, `bird1`).
    fn node(&self) -> &'static str;
    /// The daemon's name in the lab state (`gobgpd`, `bird`).
    fn daemon(&self) -> &'static str;
    /// The router's AS.
    fn asn(&self) -> u32;
    /// The router's loopback, which it announces to both nodes.
    fn loopback(&self) -> &'static str;
    /// Whether the router installs its routes in its kernel and so forwards
    /// between the nodes.
    fn forwards(&self) -> bool;
    /// The session with `neighbor`; Err when the tool cannot say.
    fn session(&self, lab: &Lab, neighbor: &str) -> Result<PeerSession, String>;
    /// The router's best routes.
    fn rib(&self, lab: &Lab) -> Result<Vec<RibRoute>, String>;
}

/// A lab that is up, torn down (`tern-lab down`) on drop.
pub struct Lab {
    pub name: String,
    pub topo: PathBuf,
    _copy: tern_tests::TempLab,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(bin("tern-lab"))
            .args(["down", "-t"])
            .arg(&self.topo)
            .output();
    }
}

impl Lab {
    /// Copies `file` under lab name `name` and brings it up.
    pub fn up(file: &str, name: &str) -> Lab {
        let (copy, topo) = private_topology(file, name);
        let lab = Lab {
            name: name.to_owned(),
            topo,
            _copy: copy,
        };
        run_ok(
            Command::new(bin("tern-lab"))
                .args(["up", "-t"])
                .arg(&lab.topo),
        );
        lab
    }

    /// The namespace (and daemon instance) of `node`.
    pub fn ns(&self, node: &str) -> String {
        format!("clab-{}-{node}", self.name)
    }

    /// The node's directory under /run/tern-lab/LAB.
    pub fn dir(&self, node: &str) -> PathBuf {
        Path::new("/run/tern-lab").join(&self.name).join(node)
    }

    /// The pid of `node`'s recorded `process`, from the lab's state file.
    pub fn pid(&self, node: &str, process: &str) -> i32 {
        let path = format!("/run/tern-lab/{}/state.json", self.name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let state: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        state["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["name"] == node))
            .and_then(|n| n["processes"].as_array())
            .and_then(|procs| procs.iter().find(|p| p["name"] == process))
            .and_then(|p| p["pid"].as_i64())
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or_else(|| panic!("no pid of {node}/{process} in {state}"))
    }

    /// Runs `argv` inside `node`'s namespace (`tern-lab exec`).
    pub fn exec(&self, node: &str, argv: &[&str]) -> std::process::Output {
        run(Command::new(bin("tern-lab"))
            .args(["exec", "-t"])
            .arg(&self.topo)
            .arg(node)
            .arg("--")
            .args(argv))
    }
}

/// Polls `check` until it returns Ok or `secs` pass; the last error explains
/// the failure (topotest style: poll with a deadline, never sleep blindly).
pub fn eventually<T>(secs: u64, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => panic!("not reached in {secs} s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Runs a command and parses its stdout as JSON; Err with the output if
/// either fails (a daemon that is still starting or just stopped).
pub fn try_json(cmd: &mut Command) -> Result<Value, String> {
    let out = run(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_str(&stdout).map_err(|e| format!("{cmd:?}: {e}: {stdout}"))
}

/// Tern's routes in a namespace's main table: (prefix, gateway), prefixes as
/// `ip` prints them (a host route without `/32`).
pub fn tern_routes(ns: &str) -> Vec<(String, String)> {
    let proto = tern_netlink::TERN_PROTO.to_string();
    let mut cmd = Command::new("ip");
    cmd.args(["-n", ns, "-j", "route", "show", "proto", &proto]);
    let v = try_json(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["dst"].as_str().unwrap_or("").to_owned(),
                        r["gateway"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `ip route`'s spelling of a prefix: host routes lose their `/32`.
fn ip_dst(prefix: &str) -> &str {
    prefix.strip_suffix("/32").unwrap_or(prefix)
}

/// `tern -N NS -c 'show bgp summary json'`, the ipv4Unicast peer `addr`.
fn tern_peer(ns: &str, addr: &str) -> Result<Value, String> {
    let v = try_json(Command::new(bin("tern")).args(["-N", ns, "-c", "show bgp summary json"]))?;
    let p = &v["ipv4Unicast"]["peers"][addr];
    if p.is_object() {
        Ok(p.clone())
    } else {
        Err(format!("{ns}: no peer {addr} in {v}"))
    }
}

/// Waits until `ns`'s FIB has exactly the routes learned from the router:
/// `want` via `gateway`, nothing else of Tern's.
fn fib_is(ns: &str, want: &[&str], gateway: &str) -> Result<(), String> {
    let r = tern_routes(ns);
    let mut expected: Vec<(String, String)> = want
        .iter()
        .map(|p| (ip_dst(p).to_owned(), gateway.to_owned()))
        .collect();
    let mut got = r.clone();
    expected.sort();
    got.sort();
    if got == expected {
        Ok(())
    } else {
        Err(format!("{ns}: Tern's routes {r:?}, want {expected:?}"))
    }
}

/// A ternd the test starts again after stopping the lab's one: stopped by
/// its pid (SIGTERM, then SIGKILL) on drop.
pub struct Ternd {
    child: Child,
}

impl Ternd {
    /// Starts ternd in `node`'s namespace with the lab's config copy, its
    /// output appended to the node's log.
    pub fn start(lab: &Lab, node: &str) -> Ternd {
        let ns = lab.ns(node);
        let dir = lab.dir(node);
        let log = OpenOptions::new()
            .append(true)
            .open(dir.join("node.log"))
            .expect("node.log");
        let err = log.try_clone().expect("node.log");
        // nsenter execs ternd (no fork without a pid namespace): the child's
        // pid is ternd's.
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .arg("--")
            .arg(bin("ternd"))
            .args(["-N", &ns, "-f"])
            .arg(dir.join("ternd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start ternd");
        Ternd { child }
    }
}

impl Drop for Ternd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .output();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM to `pid`, then waits (up to 10 s) until it is gone.
fn stop_pid(pid: i32, what: &str) {
    run_ok(Command::new("kill").args(["-TERM", &pid.to_string()]));
    eventually(10, || {
        // A zombie (an exited child of tern-lab, reparented) counts as gone.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) if !stat.contains(") Z ") => Err(format!("{what} pid {pid} still runs")),
            _ => Ok(()),
        }
    });
}

fn check_established(peer: &dyn Peer, lab: &Lab, neighbor: &str) -> Result<(), String> {
    let s = peer.session(lab, neighbor)?;
    if !s.established {
        return Err(format!("{} with {neighbor}: {}", peer.node(), s.state));
    }
    if s.accepted.is_some_and(|n| n != 2) {
        return Err(format!(
            "{} accepted {:?} prefixes from {neighbor}, want 2",
            peer.node(),
            s.accepted
        ));
    }
    Ok(())
}

fn find<'a>(rib: &'a [RibRoute], prefix: &str) -> Option<&'a RibRoute> {
    rib.iter().find(|r| r.prefix == prefix)
}

fn wait_node_routes_in_peer(peer: &dyn Peer, lab: &Lab) {
    eventually(15, || {
        let rib = peer.rib(lab)?;
        for (prefixes, next_hop, asn) in [
            (NODE1_PREFIXES, NODE1_ADDR, 65001),
            (NODE2_PREFIXES, NODE2_ADDR, 65002),
        ] {
            for prefix in prefixes {
                let want = RibRoute {
                    prefix: prefix.to_owned(),
                    next_hop: next_hop.to_owned(),
                    as_path: vec![asn],
                };
                if find(&rib, prefix) != Some(&want) {
                    return Err(format!(
                        "{}'s RIB: want {want:?}, have {rib:?}",
                        peer.node()
                    ));
                }
            }
        }
        Ok(())
    });
}

/// Both nodes' FIBs hold the other node's prefixes and the router's loopback
/// via the router, and nothing else.
fn wait_fibs_full(peer: &dyn Peer, lab: &Lab) {
    let (node1, node2) = (lab.ns("node1"), lab.ns("node2"));
    let lo = peer.loopback();
    eventually(15, || {
        let mut want2: Vec<&str> = NODE1_PREFIXES.to_vec();
        want2.push(lo);
        fib_is(&node2, &want2, ROUTER_TO_NODE2)?;
        let mut want1: Vec<&str> = NODE2_PREFIXES.to_vec();
        want1.push(lo);
        fib_is(&node1, &want1, ROUTER_TO_NODE1)
    });
}

/// The whole scenario on lab `lab_name` built from topology file `file`.
pub fn exchange_install_withdraw(peer: &dyn Peer, file: &str, lab_name: &str) {
    let started = Instant::now();
    // Progress on stderr (shown with --nocapture), to see where time goes.
    let step = |what: &str| eprintln!("[{:5.1} s] {what}", started.elapsed().as_secs_f64());
    let lab = Lab::up(file, lab_name);
    let (node1, node2) = (lab.ns("node1"), lab.ns("node2"));
    step(&format!("lab {lab_name} is up"));

    // 1. The router's own view: both Tern nodes Established, 2 prefixes each.
    eventually(30, || {
        check_established(peer, &lab, NODE1_ADDR)?;
        check_established(peer, &lab, NODE2_ADDR)
    });
    step("sessions Established as the router sees them");

    // 2. The router holds both nodes' prefixes, next hop the node, AS path
    // the node's AS.
    wait_node_routes_in_peer(peer, &lab);

    // 3. Tern's view through its FRR-compatible JSON: the router's AS, two
    // prefixes sent, and node2's two plus the router's loopback received.
    for (ns, router) in [(&node1, ROUTER_TO_NODE1), (&node2, ROUTER_TO_NODE2)] {
        eventually(10, || {
            let p = tern_peer(ns, router)?;
            let ok = p["state"] == "Established"
                && p["remoteAs"] == peer.asn()
                && p["pfxSnt"] == 2
                && p["pfxRcd"] == 3;
            if ok {
                Ok(())
            } else {
                Err(format!("{ns} peer {router}: {p}"))
            }
        });
    }

    // 4. The kernel FIBs: the other node's prefixes and the router's loopback
    // via the router, with Tern's protocol id; never a node's own prefix.
    wait_fibs_full(peer, &lab);
    step("routes in the router and in both FIBs");

    // 5. Packets follow the BGP routes where the router forwards.
    if peer.forwards() {
        let out = lab.exec(
            "node2",
            &[
                "ping",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "2",
                "-I",
                "198.51.100.12",
                "198.51.100.11",
            ],
        );
        assert!(
            out.status.success(),
            "loopback to loopback through {}: {}",
            peer.node(),
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // 6. Withdraw path: node1's ternd stops (SIGTERM); its prefixes leave the
    // router and node2's FIB, and the router sees the session go down.
    stop_pid(lab.pid("node1", "ternd"), "node1's ternd");
    eventually(15, || {
        let rib = peer.rib(&lab)?;
        if let Some(r) = NODE1_PREFIXES.iter().find_map(|p| find(&rib, p)) {
            return Err(format!("{} still has {r:?}", peer.node()));
        }
        let s = peer.session(&lab, NODE1_ADDR)?;
        if s.established {
            return Err(format!("{} still Established with node1", peer.node()));
        }
        fib_is(&node2, &[peer.loopback()], ROUTER_TO_NODE2)
    });
    // node2's routes stay in the router; a clean stop took node1's own routes
    // out of its kernel.
    let rib = peer.rib(&lab).unwrap_or_else(|e| panic!("{e}"));
    for prefix in NODE2_PREFIXES {
        assert!(find(&rib, prefix).is_some(), "{prefix} left {rib:?}");
    }
    assert!(tern_routes(&node1).is_empty(), "{:?}", tern_routes(&node1));
    step("node1's routes withdrawn after its ternd stopped");

    // 7. A new ternd on node1 peers again and everything comes back.
    let _ternd = Ternd::start(&lab, "node1");
    eventually(30, || check_established(peer, &lab, NODE1_ADDR));
    wait_node_routes_in_peer(peer, &lab);
    wait_fibs_full(peer, &lab);
    step("a new ternd on node1 is back in the router and the FIBs");

    // 8. The router stops: both nodes lose every route learned through it,
    // and their sessions are no longer Established.
    stop_pid(lab.pid(peer.node(), peer.daemon()), peer.daemon());
    eventually(15, || {
        for (ns, router) in [(&node1, ROUTER_TO_NODE1), (&node2, ROUTER_TO_NODE2)] {
            let r = tern_routes(ns);
            if !r.is_empty() {
                return Err(format!("{ns} still has {r:?}"));
            }
            let p = tern_peer(ns, router)?;
            if p["state"] == "Established" {
                return Err(format!("{ns} still Established with {router}: {p}"));
            }
        }
        Ok(())
    });
    step("the router stopped: both FIBs empty, sessions down");
}
