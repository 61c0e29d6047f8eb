//! BGP between ternd and GoBGP 3.10, on lab/topologies/gobgp.clab.yml: a
//! GoBGP router (gobgp1, AS 65100) with two Tern nodes under it. Sessions
//! come up as GoBGP sees them (`gobgp neighbor -j`), GoBGP holds both nodes'
//! prefixes (`gobgp global rib -j`) and re-advertises them, each node's
//! kernel FIB gets the other's prefixes with Tern's route protocol id,
//! stopping node1 withdraws its routes everywhere, and stopping gobgpd
//! takes every route learned through it out of both nodes.
//! Needs root, GoBGP (gobgpd, gobgp) and bpffs (lab/setup.sh).
mod peer_lab;

use peer_lab::{Lab, Peer, PeerSession, RibRoute, try_json};
use serde_json::Value;
use tern_tests::netns_command;

struct Gobgp;

impl Gobgp {
    /// `gobgp ARGS -j` inside gobgp1's namespace (its API is 127.0.0.1:50051
    /// there).
    fn json(lab: &Lab, args: &[&str]) -> Result<Value, String> {
        try_json(
            netns_command(&lab.ns("gobgp1"), "gobgp")
                .args(args)
                .arg("-j"),
        )
    }
}

/// GoBGP's session state: the gRPC enum as a number (6 is ESTABLISHED) or,
/// in other versions, its name.
fn established(state: &Value) -> bool {
    state == 6
        || state
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("established"))
}

impl Peer for Gobgp {
    fn node(&self) -> &'static str {
        "gobgp1"
    }
    fn daemon(&self) -> &'static str {
        "gobgpd"
    }
    fn asn(&self) -> u32 {
        65100
    }
    fn loopback(&self) -> &'static str {
        "198.51.100.2/32"
    }
    fn forwards(&self) -> bool {
        // GoBGP keeps its routes in its RIB: nothing reaches gobgp1's kernel.
        false
    }

    fn session(&self, lab: &Lab, neighbor: &str) -> Result<PeerSession, String> {
        let v = Self::json(lab, &["neighbor"])?;
        let n = v
            .as_array()
            .and_then(|a| a.iter().find(|n| n["conf"]["neighbor_address"] == neighbor))
            .ok_or_else(|| format!("no neighbor {neighbor} in {v}"))?;
        let state = &n["state"]["session_state"];
        let accepted = n["afi_safis"].as_array().and_then(|a| {
            a.iter()
                .find(|f| f["config"]["family"]["afi"] == 1 && f["config"]["family"]["safi"] == 1)
                .map(|f| f["state"]["accepted"].as_u64().unwrap_or(0))
        });
        Ok(PeerSession {
            established: established(state),
            state: format!("session_state {state}"),
            accepted,
        })
    }

    fn rib(&self, lab: &Lab) -> Result<Vec<RibRoute>, String> {
        let v = Self::json(lab, &["global", "rib"])?;
        let Some(map) = v.as_object() else {
            // An empty RIB prints `null` or `{}`.
            return Ok(Vec::new());
        };
        let mut routes = Vec::new();
        for (prefix, paths) in map {
            let Some(best) = paths
                .as_array()
                .and_then(|p| p.iter().find(|p| p["best"] == true))
            else {
                continue;
            };
            let attrs = best["attrs"].as_array().cloned().unwrap_or_default();
            let next_hop = attrs
                .iter()
                .find(|a| a["type"] == 3)
                .and_then(|a| a["nexthop"].as_str())
                .unwrap_or("")
                .to_owned();
            let as_path = attrs
                .iter()
                .find(|a| a["type"] == 2)
                .and_then(|a| a["as_paths"].as_array())
                .map(|segs| {
                    segs.iter()
                        .flat_map(|s| s["asns"].as_array().cloned().unwrap_or_default())
                        .filter_map(|n| n.as_u64().and_then(|n| u32::try_from(n).ok()))
                        .collect()
                })
                .unwrap_or_default();
            routes.push(RibRoute {
                prefix: prefix.clone(),
                next_hop,
                as_path,
            });
        }
        Ok(routes)
    }
}

#[test]
fn ternd_peers_with_gobgp_exchanges_installs_and_withdraws() {
    let lab = format!("g{}", std::process::id());
    peer_lab::exchange_install_withdraw(&Gobgp, "gobgp.clab.yml", &lab);
}
