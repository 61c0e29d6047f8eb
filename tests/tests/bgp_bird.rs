//! BGP between ternd and BIRD 2.0.12, on lab/topologies/bird.clab.yml: a
//! BIRD router (bird1, AS 65200) with two Tern nodes under it. Sessions come
//! up as BIRD sees them (`birdc show protocols all`), BIRD holds both nodes'
//! prefixes (`birdc show route all`) and re-advertises them, each node's
//! kernel FIB gets the other's prefixes with Tern's route protocol id,
//! packets cross bird1 on those routes, stopping node1 withdraws its routes
//! everywhere, and stopping bird takes every route learned through it out of
//! both nodes. Needs root, BIRD 2 (bird, birdc) and bpffs (lab/setup.sh).
mod peer_lab;

use std::process::Command;

use peer_lab::{Lab, Peer, PeerSession, RibRoute};
use tern_tests::run;

struct Bird;

impl Bird {
    /// `birdc -s /run/tern-lab/LAB/bird1/bird.ctl ARGS...`, its output.
    fn birdc(lab: &Lab, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("birdc");
        cmd.arg("-s")
            .arg(lab.dir("bird1").join("bird.ctl"))
            .args(args);
        let out = run(&mut cmd);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "{cmd:?} failed ({}): {text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// The value after `key` on the first line of `block` that holds it.
fn field<'a>(block: &'a str, key: &str) -> Option<&'a str> {
    block
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(key))
        .map(str::trim)
}

/// Splits birdc output into blocks, each starting at an unindented line
/// (a protocol of `show protocols all`, a prefix of `show route all`).
fn blocks(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let indented = line.starts_with([' ', '\t']);
        match out.last_mut() {
            Some(block) if indented => {
                block.push('\n');
                block.push_str(line);
            }
            _ => out.push(line.to_owned()),
        }
    }
    out
}

impl Peer for Bird {
    fn node(&self) -> &'static str {
        "bird1"
    }
    fn daemon(&self) -> &'static str {
        "bird"
    }
    fn asn(&self) -> u32 {
        65200
    }
    fn loopback(&self) -> &'static str {
        "198.51.100.3/32"
    }
    fn forwards(&self) -> bool {
        true
    }

    fn session(&self, lab: &Lab, neighbor: &str) -> Result<PeerSession, String> {
        let text = Self::birdc(lab, &["show", "protocols", "all"])?;
        let block = blocks(&text)
            .into_iter()
            .find(|b| field(b, "Neighbor address:") == Some(neighbor))
            .ok_or_else(|| format!("no BGP protocol with neighbor {neighbor} in:\n{text}"))?;
        let state = field(&block, "BGP state:").unwrap_or("?").to_owned();
        // `Routes:         2 imported, 3 exported, 2 preferred`
        let accepted = field(&block, "Routes:")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .or(Some(0).filter(|_| state == "Established"));
        Ok(PeerSession {
            established: state == "Established",
            state: format!("BGP state {state}"),
            accepted,
        })
    }

    fn rib(&self, lab: &Lab) -> Result<Vec<RibRoute>, String> {
        let text = Self::birdc(lab, &["show", "route", "all"])?;
        let mut routes = Vec::new();
        for block in blocks(&text) {
            // `10.244.1.0/24  unicast [node1 12:18:22.772] * (100) [AS65001i]`
            let Some(prefix) = block.split_whitespace().next().filter(|p| p.contains('/')) else {
                continue;
            };
            let next_hop = field(&block, "BGP.next_hop:")
                .or_else(|| field(&block, "via ").and_then(|v| v.split_whitespace().next()))
                .unwrap_or("")
                .to_owned();
            let as_path = field(&block, "BGP.as_path:")
                .map(|p| {
                    p.split_whitespace()
                        .filter_map(|a| a.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            routes.push(RibRoute {
                prefix: prefix.to_owned(),
                next_hop,
                as_path,
            });
        }
        Ok(routes)
    }
}

#[test]
fn ternd_peers_with_bird_exchanges_installs_and_withdraws() {
    let lab = format!("d{}", std::process::id());
    peer_lab::exchange_install_withdraw(&Bird, "bird.clab.yml", &lab);
}
