//! The scenario shared by the interop tests with GoBGP (bgp_gobgp.rs) and
//! BIRD (bgp_bird.rs): a lab of one third-party router and two Tern nodes
//! under it (lab/topologies/{gobgp,bird}.clab.yml, addressed like the default
//! lab). Each test gives a `Peer` that reads the router's own tool; the
//! scenario checks the sessions, the routes in the router and in the nodes'
//! kernel FIBs, the withdraw path when a node stops, and what is left when
//! the router itself stops.
use std::{process::Command, time::Instant};

use serde_json::Value;
pub use tern_tests::Lab;
use tern_tests::{bin, eventually, run, stop_pid, tern_routes};

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
    eventually(15, "the nodes' routes in the router", || {
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
    eventually(15, "the routes in the nodes' FIBs", || {
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
    eventually(30, "both nodes Established at the router", || {
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
        eventually(10, "the nodes' sessions with the router", || {
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
    lab.stop_ternd("node1");
    eventually(15, "node1's routes and session gone", || {
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
    let _ternd = lab.start_ternd("node1", None);
    eventually(30, "node1 Established again at the router", || {
        check_established(peer, &lab, NODE1_ADDR)
    });
    wait_node_routes_in_peer(peer, &lab);
    wait_fibs_full(peer, &lab);
    step("a new ternd on node1 is back in the router and the FIBs");

    // 8. The router stops: both nodes lose every route learned through it,
    // and their sessions are no longer Established.
    stop_pid(lab.pid(peer.node(), peer.daemon()));
    eventually(15, "the nodes' routes and sessions gone", || {
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
