//! Config mode applied live: lines sent over ternd's control socket (as
//! `tern`'s `configure terminal` sends them) change the running BGP state at
//! once, FRR sees the result, an invalid line changes nothing, and
//! `write memory` saves a file that reads back to the same running config,
//! also after a restart of ternd from it.
//! Needs root and FRR (lab/setup.sh).
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::PathBuf,
    process::Command,
    time::Duration,
};

use serde_json::{Value, json};
use tern_tests::{Lab, bin, eventually, run_ok};

/// One control connection: config mode lives as long as it does.
struct Control {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Control {
    fn open(instance: &str) -> Control {
        let s = UnixStream::connect(format!("/run/tern/{instance}/ternd.sock")).expect("socket");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Control {
            writer: s.try_clone().expect("clone"),
            reader: BufReader::new(s),
        }
    }

    fn ask(&mut self, req: &Value) -> Value {
        let mut line = serde_json::to_vec(req).expect("json");
        line.push(b'\n');
        self.writer.write_all(&line).expect("write");
        let mut reply = String::new();
        self.reader.read_line(&mut reply).expect("read");
        serde_json::from_str(&reply).expect("reply json")
    }

    /// Sends a config line; returns the new mode or the error message.
    fn line(&mut self, text: &str) -> Result<String, String> {
        let r = self.ask(&json!({"request": "config-line", "line": text}));
        match r["reply"].as_str() {
            Some("config-applied") => Ok(r["mode"].as_str().unwrap_or("").to_owned()),
            _ => Err(r["message"].as_str().unwrap_or("?").to_owned()),
        }
    }
}

fn frr_has(tor1: &str, prefix: &str) -> bool {
    let out = run_ok(Command::new("vtysh").args(["-N", tor1, "-c", "show ip bgp json"]));
    let v: Value = serde_json::from_str(&out).unwrap_or_default();
    v["routes"].get(prefix).is_some()
}

fn frr_state(tor1: &str, peer: &str) -> String {
    let out = run_ok(Command::new("vtysh").args([
        "-N",
        tor1,
        "-c",
        "show bgp ipv4 unicast summary json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap_or_default();
    v["peers"][peer]["state"].as_str().unwrap_or("?").to_owned()
}

#[test]
fn config_lines_apply_live_and_write_memory_round_trips() {
    let lab = format!("c{}", std::process::id());
    let running_lab = Lab::up("tern.clab.yml", &lab);
    let tor1 = format!("clab-{lab}-tor1");
    let node1 = format!("clab-{lab}-node1");
    eventually(30, "node1 Established with FRR", || {
        frr_state(&tor1, "192.0.2.1") == "Established"
    });

    let mut c = Control::open(&node1);
    assert_eq!(c.line("router bgp 65001").as_deref(), Ok("config-router"));
    assert_eq!(
        c.line("address-family ipv4 unicast").as_deref(),
        Ok("config-router-af")
    );
    assert_eq!(
        c.line("network 10.244.11.0/24").as_deref(),
        Ok("config-router-af")
    );
    eventually(10, "FRR learns the new network", || {
        frr_has(&tor1, "10.244.11.0/24")
    });

    // A bad line is refused and changes neither the state nor the mode.
    let e = c.line("network 10.244.12.1/24").expect_err("host bits");
    assert!(e.contains("host bits"), "{e}");
    let e = c.line("router bgp 65099").expect_err("second AS");
    assert!(e.contains("already running"), "{e}");
    assert_eq!(
        c.line("no network 10.244.11.0/24").as_deref(),
        Ok("config-router-af")
    );
    eventually(10, "FRR loses the removed network", || {
        !frr_has(&tor1, "10.244.11.0/24")
    });

    // Neighbor shutdown and back, live.
    assert_eq!(
        c.line("exit-address-family").as_deref(),
        Ok("config-router")
    );
    c.line("neighbor 192.0.2.0 shutdown").expect("shutdown");
    eventually(10, "session down on shutdown", || {
        frr_state(&tor1, "192.0.2.1") != "Established"
    });
    c.line("no neighbor 192.0.2.0 shutdown")
        .expect("no shutdown");
    eventually(30, "session back", || {
        frr_state(&tor1, "192.0.2.1") == "Established"
    });

    // redistribute: connected subnets (the uplink /31, the loopback /32),
    // static and kernel routes, added and removed live.
    c.line("address-family ipv4 unicast").expect("af");
    c.line("redistribute connected")
        .expect("redistribute connected");
    eventually(10, "connected subnets in FRR", || {
        frr_has(&tor1, "198.51.100.11/32") && frr_has(&tor1, "192.0.2.0/31")
    });
    c.line("redistribute static").expect("redistribute static");
    c.line("redistribute kernel").expect("redistribute kernel");
    run_ok(Command::new("ip").args([
        "-n",
        &node1,
        "route",
        "add",
        "10.99.0.0/24",
        "via",
        "192.0.2.0",
        "proto",
        "static",
    ]));
    run_ok(Command::new("ip").args([
        "-n",
        &node1,
        "route",
        "add",
        "10.98.0.0/24",
        "via",
        "192.0.2.0",
    ]));
    eventually(10, "static and kernel routes in FRR", || {
        frr_has(&tor1, "10.99.0.0/24") && frr_has(&tor1, "10.98.0.0/24")
    });
    // Redistributed routes carry ORIGIN INCOMPLETE, as FRR's own; a
    // `network` that is also a connected subnet keeps ORIGIN IGP.
    let origin = |p: &str| {
        let out = run_ok(Command::new("vtysh").args([
            "-N",
            &tor1,
            "-c",
            &format!("show ip bgp {p} json"),
        ]));
        let v: Value = serde_json::from_str(&out).unwrap_or_default();
        v["paths"][0]["origin"].as_str().unwrap_or("?").to_owned()
    };
    assert_eq!(origin("10.99.0.0/24"), "incomplete");
    assert_eq!(origin("192.0.2.0/31"), "incomplete");
    assert_eq!(origin("198.51.100.11/32"), "IGP");
    run_ok(Command::new("ip").args(["-n", &node1, "route", "del", "10.99.0.0/24"]));
    eventually(10, "a removed static route is withdrawn", || {
        !frr_has(&tor1, "10.99.0.0/24")
    });
    c.line("no redistribute connected")
        .expect("no redistribute");
    eventually(10, "connected subnets withdrawn", || {
        !frr_has(&tor1, "192.0.2.0/31")
    });
    c.line("no redistribute kernel")
        .expect("no redistribute kernel");
    c.line("no redistribute static")
        .expect("no redistribute static");
    eventually(
        10,
        "kernel routes withdrawn with redistribute kernel",
        || !frr_has(&tor1, "10.98.0.0/24"),
    );
    // A kernel route added while nothing follows the kernel's routes (ternd
    // watches them only for `redistribute kernel|static`) is found when
    // redistribute comes back, and withdrawn when it goes again.
    run_ok(Command::new("ip").args([
        "-n",
        &node1,
        "route",
        "add",
        "10.97.0.0/24",
        "via",
        "192.0.2.0",
    ]));
    c.line("redistribute kernel").expect("redistribute kernel");
    eventually(10, "a kernel route from before redistribute in FRR", || {
        frr_has(&tor1, "10.97.0.0/24") && frr_has(&tor1, "10.98.0.0/24")
    });
    c.line("no redistribute kernel")
        .expect("no redistribute kernel");
    eventually(10, "kernel routes withdrawn again", || {
        !frr_has(&tor1, "10.97.0.0/24") && !frr_has(&tor1, "10.98.0.0/24")
    });
    assert_eq!(
        c.line("exit-address-family").as_deref(),
        Ok("config-router")
    );

    // write memory: the file equals the running config and reads back.
    c.line("address-family ipv4 unicast").expect("af");
    c.line("network 10.244.12.0/24").expect("network");
    assert_eq!(c.line("end").as_deref(), Ok("config"));
    let w = c.ask(&json!({"request": "write-memory"}));
    assert_eq!(w["reply"], "written", "{w}");
    let path = PathBuf::from(w["path"].as_str().expect("path"));
    let saved = std::fs::read_to_string(&path).expect("saved file");
    assert!(saved.contains("  network 10.244.12.0/24\n"), "{saved}");
    let mut bak = path.clone().into_os_string();
    bak.push(".bak");
    assert!(PathBuf::from(bak).exists(), "the previous file is kept");
    let running = c.ask(&json!({"request": "show-running-config"}));
    assert_eq!(running["text"].as_str(), Some(saved.as_str()));
    let check = run_ok(Command::new(bin("ternd")).arg("-C").arg("-f").arg(&path));
    assert!(check.contains("is valid"), "{check}");

    // Round trip: a ternd restarted from the saved file runs the same
    // configuration, and FRR gets the saved network again.
    drop(c);
    running_lab.stop_ternd("node1");
    eventually(10, "FRR loses node1's networks", || {
        !frr_has(&tor1, "10.244.12.0/24")
    });
    let _ternd = running_lab.start_ternd("node1", Some(&path));
    eventually(10, "the restarted ternd answers", || {
        UnixStream::connect(format!("/run/tern/{node1}/ternd.sock")).is_ok()
    });
    let mut c = Control::open(&node1);
    let again = c.ask(&json!({"request": "show-running-config"}));
    assert_eq!(again["text"].as_str(), Some(saved.as_str()));
    eventually(
        30,
        "FRR learns the saved network from the restarted ternd",
        || frr_has(&tor1, "10.244.12.0/24"),
    );
}
