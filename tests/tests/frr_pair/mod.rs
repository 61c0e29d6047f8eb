//! What the two-node labs of FRR tor1 and Tern node1 share (the aggregate,
//! GTSM and dynamic-neighbor tests): the harness's lab under the names of
//! its two nodes, FRR's vtysh and Tern's CLI (JSON), config lines for
//! either, node1's kernel FIB, and a check that something never happens.
#![allow(dead_code)]

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_tests::{bin, run_ok};

/// A running private lab of tor1 and node1; `tern-lab down` on drop.
pub struct Lab {
    _lab: tern_tests::Lab,
    pub tor1: String,
    pub node1: String,
}

impl Lab {
    /// Brings up a private copy of `file` named after `prefix` and the pid.
    pub fn up(file: &str, prefix: &str) -> Lab {
        let lab = tern_tests::Lab::up(file, &format!("{prefix}{}", std::process::id()));
        Lab {
            tor1: lab.ns("tor1"),
            node1: lab.ns("node1"),
            _lab: lab,
        }
    }

    /// `vtysh -c CMD` on tor1, parsed as JSON (null when it is not JSON).
    pub fn frr(&self, cmd: &str) -> Value {
        let out = run_ok(Command::new("vtysh").args(["-N", &self.tor1, "-c", cmd]));
        serde_json::from_str(&out).unwrap_or_default()
    }

    /// Config lines for tor1 (`configure terminal` first, in router bgp).
    pub fn frr_config(&self, lines: &[&str]) {
        let mut all = vec!["router bgp 65000"];
        all.extend_from_slice(lines);
        tern_tests::vtysh_config(&self.tor1, &all);
    }

    /// FRR's route for `prefix` (JSON; no "paths" when it has none).
    pub fn frr_route(&self, prefix: &str) -> Value {
        self.frr(&format!("show ip bgp {prefix} json"))
    }

    /// FRR's state of its session with node1.
    pub fn frr_state(&self) -> String {
        let v = self.frr("show bgp neighbors 192.0.2.1 json");
        v["192.0.2.1"]["bgpState"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    }

    /// `tern -c CMD` on node1 (stdout; panics when tern fails).
    pub fn tern(&self, cmd: &str) -> String {
        run_ok(Command::new(bin("tern")).args(["-N", &self.node1, "-c", cmd]))
    }

    /// `tern -c CMD` on node1, parsed as JSON.
    pub fn tern_json(&self, cmd: &str) -> Value {
        serde_json::from_str(&self.tern(cmd)).unwrap_or_default()
    }

    /// Feeds `script` to tern's shell on node1; panics unless every line
    /// is accepted.
    pub fn tern_script(&self, script: &str) -> String {
        tern_tests::tern_script(&self.node1, script)
    }

    /// The prefixes of Tern's routes (protocol 202) in node1's kernel.
    pub fn fib(&self) -> Vec<String> {
        let out = run_ok(Command::new("ip").args([
            "-n",
            &self.node1,
            "-4",
            "route",
            "show",
            "proto",
            "202",
        ]));
        out.lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }
}

/// Checks that `bad` never holds during `secs` seconds.
pub fn never(secs: u64, what: &str, mut bad: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        assert!(!bad(), "{what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
