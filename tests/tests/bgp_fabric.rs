//! Tern in a fabric as operators build it (lab/topologies/fabric.clab.yml):
//! node1 dual-homed to two FRR 8.4 ToRs with FRR's traditional defaults,
//! tor1 taking nodes through a `bgp listen range` peer-group.
//!
//! - A node is no transit path: without an export route-map, neither ToR
//!   is sent the other's routes; a route-map that permits them is the
//!   explicit way to pass them on.
//! - `clear bgp *` repeated many times never leaves the node out of the
//!   fabric: after each reset, tor1 has the node as a neighbor again with
//!   its route, and the node has tor1's. (ternd used to connect again
//!   0.24 ms after its NOTIFICATION; FRR accepted that connection before it
//!   deleted the old dynamic neighbor and kept a session with nobody behind
//!   it, while ternd showed Established with no prefixes.)
//!
//! Needs root and FRR (lab/setup.sh).
use std::time::Duration;

use tern_tests::{Lab, eventually, tern, tern_script, tern_text, vtysh};

const NODE_NET: &str = "10.244.1.0/24";
const TOR1_NET: &str = "10.250.1.0/24";
const TOR2_NET: &str = "10.250.2.0/24";

/// The prefixes in FRR's BGP table in instance `ns`.
fn frr_prefixes(ns: &str) -> Vec<String> {
    let v = vtysh(ns, "show ip bgp json");
    v["routes"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

/// FRR's summary entry for neighbor `addr`.
fn frr_peer(ns: &str, addr: &str) -> serde_json::Value {
    vtysh(ns, "show bgp ipv4 unicast summary json")["peers"][addr].clone()
}

/// node1's summary entry for neighbor `addr`.
fn tern_peer(ns: &str, addr: &str) -> serde_json::Value {
    tern(ns, "show bgp summary json")["ipv4Unicast"]["peers"][addr].clone()
}

/// Waits until both ToRs have the node's route and the node has both
/// ToRs' routes.
fn converged(lab: &Lab) {
    let (tor1, tor2, node) = (lab.ns("tor1"), lab.ns("tor2"), lab.ns("node1"));
    eventually(60, "the fabric converged", || {
        for (ns, want) in [(&tor1, NODE_NET), (&tor2, NODE_NET)] {
            if !frr_prefixes(ns).iter().any(|p| p == want) {
                return Err(format!("{ns} lacks {want}"));
            }
        }
        let t1 = tern_peer(&node, "192.0.2.0");
        let t2 = tern_peer(&node, "192.0.2.2");
        if t1["pfxRcd"] != 1 || t2["pfxRcd"] != 1 {
            return Err(format!("node1: tor1 {t1}, tor2 {t2}"));
        }
        Ok(())
    });
}

#[test]
fn a_dual_homed_node_is_no_transit_path_between_its_tors() {
    let lab = Lab::up("fabric.clab.yml", "fabric-transit");
    let (tor1, tor2, node) = (lab.ns("tor1"), lab.ns("tor2"), lab.ns("node1"));
    converged(&lab);
    // Give anything else node1 would send the time to arrive.
    std::thread::sleep(Duration::from_secs(3));
    let at1 = frr_prefixes(&tor1);
    let at2 = frr_prefixes(&tor2);
    assert!(
        !at1.iter().any(|p| p == TOR2_NET),
        "tor1 got tor2's route through node1: {at1:?}"
    );
    assert!(
        !at2.iter().any(|p| p == TOR1_NET),
        "tor2 got tor1's route through node1: {at2:?}"
    );
    for addr in ["192.0.2.0", "192.0.2.2"] {
        let p = tern_peer(&node, addr);
        assert_eq!(p["pfxSnt"], 1, "node1 sends {addr} its own route only: {p}");
    }
    // node1 still uses both ToRs' routes.
    let fib: Vec<String> = tern_tests::tern_routes(&node)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    for want in [TOR1_NET, TOR2_NET] {
        assert!(
            fib.iter().any(|p| p == want),
            "{want} in node1's FIB: {fib:?}"
        );
    }

    // Passing learned routes on is an explicit choice: a route-map.
    tern_script(
        &node,
        "configure terminal\n\
         route-map TRANSIT permit 10\n\
         exit\n\
         router bgp 65001\n\
         address-family ipv4 unicast\n\
         neighbor 192.0.2.2 route-map TRANSIT out\n\
         end\n",
    );
    eventually(20, "tor1's route at tor2 after the route-map", || {
        let at2 = frr_prefixes(&tor2);
        if at2.iter().any(|p| p == TOR1_NET) {
            Ok(())
        } else {
            Err(format!(
                "tor2 lacks {TOR1_NET} after the route-map: {at2:?}"
            ))
        }
    });
    // tor1 still gets nothing learned: it has no such map.
    assert!(!frr_prefixes(&tor1).iter().any(|p| p == TOR2_NET));
}

/// How many times `clear bgp *` is repeated: FRR lost the node in about
/// one reset in ten before the fix.
const CLEARS: u32 = 30;

#[test]
fn clear_bgp_never_leaves_the_node_out_of_the_fabric() {
    let lab = Lab::up("fabric.clab.yml", "fabric-clear");
    let (tor1, node) = (lab.ns("tor1"), lab.ns("node1"));
    converged(&lab);
    for round in 1..=CLEARS {
        let before = tern_peer(&node, "192.0.2.0")["connectionsEstablished"]
            .as_u64()
            .unwrap_or(0);
        tern_text(&node, "clear bgp *");
        eventually(30, "node1's new sessions after clear bgp *", || {
            // node1 holds a new session with tor1 and tor1's route...
            let t = tern_peer(&node, "192.0.2.0");
            let count = t["connectionsEstablished"].as_u64().unwrap_or(0);
            if count <= before || t["state"] != "Established" || t["pfxRcd"] != 1 {
                return Err(format!("round {round}: node1's view of tor1: {t}"));
            }
            // ...and tor1 has node1 as a neighbor, with its route.
            let f = frr_peer(&tor1, "192.0.2.1");
            if f["state"] != "Established" || f["pfxRcd"] != 1 {
                return Err(format!(
                    "round {round}: node1 Established with {} prefixes, but tor1's view \
                     of node1: {f}",
                    t["pfxRcd"]
                ));
            }
            Ok(())
        });
    }
}
