//! The egress gateway in a running ternd, without a lab: policies written
//! over the control socket in `(config-egress-gw)#`, refused lines that
//! change nothing, `show egress-gateway [json]` (control reply and the
//! shell's JSON), a remote gateway's health following its egress IP's host
//! route from a scripted BGP peer, `write memory`, a restart and a SIGHUP
//! reload; and, with the eBPF datapath loaded, a local gateway whose egress
//! IP is announced next to a service VIP (neither replaces the other).
//!
//! Two throwaway namespaces joined by a veth: ternd in one, the peer in the
//! other. Needs root; the shell test needs `cargo build --bins` (for
//! `tern`).
mod common;

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    time::{Duration, Instant},
};

use common::{Peer, Ternd, linked_pair, message, roundtrip};
use nix::sys::signal::Signal;
use serde_json::Value;
use tern_tests::{Netns, eventually};

const BASE: &str = "hostname egw\nrouter bgp 65001\n bgp router-id 198.51.100.11\n \
                    neighbor 192.0.2.2 remote-as 65099\n neighbor 192.0.2.2 timers 30 90\n \
                    neighbor 192.0.2.2 passive\nexit\n";

/// The policy as typed in the shell, one line per request.
const POLICY: [&str; 5] = [
    "egress-gateway policy legacy-db",
    "match namespace finance",
    "destination 192.0.2.128/25",
    "exclude 192.0.2.200/32",
    "gateway 198.51.100.12 egress-ip 203.0.113.10",
];

/// Sends config lines on one connection; each reply.
fn config(d: &Ternd, lines: &[&str]) -> Vec<Value> {
    let mut s: UnixStream = d.connect();
    lines
        .iter()
        .map(|l| {
            let req = serde_json::json!({"request": "config-line", "line": l});
            roundtrip(&mut s, &req.to_string())
        })
        .collect()
}

fn show(d: &Ternd) -> Value {
    let r = d.ask(r#"{"request":"show-egress-gateway"}"#);
    assert_eq!(r["reply"], "egress-gateway", "{r}");
    r
}

/// The policy named `name` in a `show-egress-gateway` reply.
fn policy<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no policy {name}: {r}"))
}

/// An UPDATE of the peer (AS 65099, next hop 192.0.2.2): `withdrawn` and
/// `nlri` are IPv4 prefixes in wire form.
fn update(withdrawn: &[u8], nlri: &[u8]) -> Vec<u8> {
    let attrs: &[u8] = if nlri.is_empty() {
        &[]
    } else {
        &[
            0x40, 1, 1, 0, // ORIGIN IGP
            0x40, 2, 6, 2, 1, 0, 0, 0xfe, 0x4b, // AS_PATH [65099]
            0x40, 3, 4, 192, 0, 2, 2, // NEXT_HOP
        ]
    };
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    message(2, &b)
}

/// 203.0.113.10/32, the remote gateway's egress IP.
const EGRESS_IP: [u8; 5] = [32, 203, 0, 113, 10];

/// Waits until ternd answers: it loads the datapath's programs before it
/// serves, and the verifier may take a while. A ternd that exits instead
/// fails the test with the reason it gave.
fn wait_serving(d: &mut Ternd, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if !d.running() {
            let log = d.log();
            let why: Vec<&str> = log.lines().filter(|l| l.starts_with("ternd:")).collect();
            panic!("ternd exited: {}", why.join(" / "));
        }
        assert!(
            Instant::now() < deadline,
            "ternd not serving after {secs} s"
        );
        let Ok(mut s) = UnixStream::connect(&d.socket) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(1))).ok();
        if s.write_all(b"{\"request\":\"show-version\"}\n").is_ok() {
            let mut line = String::new();
            if BufReader::new(&s).read_line(&mut line).is_ok_and(|n| n > 0) {
                return;
            }
        }
    }
}

fn establish(peer_ns: &Netns) -> Peer {
    std::thread::scope(|sc| sc.spawn(|| Peer::establish(peer_ns, 90)).join()).expect("peer")
}

#[test]
fn policies_apply_live_follow_gateway_health_and_survive_restart_and_reload() {
    let pid = std::process::id();
    let (dut, peer_ns) = linked_pair("egw");
    let instance = format!("t-egw-{pid}");
    let mut d = Ternd::start(&instance, BASE, Some(&dut));

    // The block is a mode; each line is applied at once.
    let replies = config(&d, &POLICY);
    assert_eq!(replies[0]["mode"], "config-egress-gw", "{}", replies[0]);
    for r in &replies {
        assert_eq!(r["reply"], "config-applied", "{r}");
    }
    // A refused line says why and changes nothing; the mode stays.
    let before = show(&d);
    let r = config(
        &d,
        &[
            "egress-gateway policy legacy-db",
            "exclude 10.0.0.0/8",
            "gateway 198.51.100.12 egress-ip 127.0.0.1",
            "no destination 192.0.2.0/24",
        ],
    );
    for bad in &r[1..] {
        assert_eq!(bad["reply"], "error", "{bad}");
    }
    let msg = |i: usize| r[i]["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        msg(1).contains("exclude 10.0.0.0/8 lies in no destination"),
        "{}",
        msg(1)
    );
    assert!(msg(2).contains("loopback"), "{}", msg(2));
    assert!(msg(3).contains("is not configured"), "{}", msg(3));
    assert_eq!(show(&d)["policies"], before["policies"]);
    let r = config(
        &d,
        &["egress-gateway nat timeout tcp-established 3600", "end"],
    );
    assert!(r.iter().all(|r| r["reply"] == "config-applied"), "{r:?}");

    // No route to the gateway's egress IP: in force, no healthy gateway.
    let r = show(&d);
    let p = policy(&r, "legacy-db");
    let id = p["policyId"].as_u64().expect("policy id");
    assert!(id > 0 && id <= 0xff_ffff, "{p}");
    assert_eq!(p["state"], "no-healthy-gateway", "{p}");
    assert_eq!(p["matchNamespaces"][0], "finance", "{p}");
    assert_eq!(p["excludes"][0], "192.0.2.200/32", "{p}");
    assert_eq!(p["gateways"][0]["egressIp"], "203.0.113.10", "{p}");
    assert_eq!(p["gateways"][0]["healthy"], false, "{p}");
    assert_eq!(r["nat"]["timeouts"]["tcp_established"], 3600, "{r}");
    assert_eq!(r["datapath"], false, "{r}");
    assert_eq!(r["announced"], serde_json::json!([]), "{r}");

    // The gateway's egress IP appears in the Loc-RIB: healthy; gone: not.
    let mut peer = establish(&peer_ns);
    eventually(15, "Established", || {
        d.ask(r#"{"request":"show-bgp-summary"}"#)["peers"][0]["state"] == "Established"
    });
    peer.send(&update(&[], &EGRESS_IP));
    eventually(10, "the gateway healthy", || {
        let r = show(&d);
        let p = policy(&r, "legacy-db");
        p["state"] == "active" && p["gateways"][0]["healthy"] == true
    });
    // A covering route is not the egress IP's host route.
    peer.send(&update(&EGRESS_IP, &[24, 203, 0, 113]));
    eventually(10, "the gateway down", || {
        policy(&show(&d), "legacy-db")["state"] == "no-healthy-gateway"
    });
    peer.keepalive();

    // The shell's JSON: policies by name, camelCase keys.
    let (ok, out, err) = d.tern("show egress-gateway json");
    assert!(ok, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let p = &j["policies"]["legacy-db"];
    assert_eq!(p["policyId"], id, "{j}");
    assert_eq!(p["state"], "no-healthy-gateway", "{j}");
    assert_eq!(p["gateways"][0]["node"], "198.51.100.12", "{j}");
    assert_eq!(j["nat"]["timeouts"]["tcpEstablished"], 3600, "{j}");
    let (ok, out, err) = d.tern("show egress-gateway");
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("Policy legacy-db, id {id}, no healthy gateway\n")),
        "{out}"
    );
    // No datapath: no NAT entries to show, said plainly.
    let (ok, _, err) = d.tern("show egress-gateway nat");
    assert!(!ok && err.contains("datapath is not running"), "{err}");

    // Saved, and read back by a new ternd.
    let r = d.ask(r#"{"request":"write-memory"}"#);
    assert_eq!(r["reply"], "written", "{r}");
    let saved = std::fs::read_to_string(&d.config).expect("saved config");
    assert!(
        saved.contains(
            "egress-gateway nat timeout tcp-established 3600\n!\n\
             egress-gateway policy legacy-db\n match namespace finance\n \
             destination 192.0.2.128/25\n exclude 192.0.2.200/32\n \
             gateway 198.51.100.12 egress-ip 203.0.113.10\nexit\n"
        ),
        "{saved}"
    );
    drop(peer);
    let status = d.stop();
    assert!(status.success(), "ternd exit {status}: {}", d.log());
    drop(d);
    let mut d = Ternd::start(&instance, &saved, Some(&dut));
    let r = show(&d);
    let p = policy(&r, "legacy-db");
    assert_eq!(p["policyId"], id, "the same id after a restart: {r}");
    assert_eq!(p["destinations"][0], "192.0.2.128/25", "{r}");
    assert_eq!(r["nat"]["timeouts"]["tcp_established"], 3600, "{r}");

    // SIGHUP: the file's policies become the running ones.
    let edited = saved
        .replace(
            "egress-gateway policy legacy-db",
            "egress-gateway policy web-out",
        )
        .replace(
            " match namespace finance\n",
            " match source 10.244.0.0/16\n",
        );
    std::fs::write(&d.config, &edited).expect("edit config");
    d.signal(Signal::SIGHUP);
    eventually(10, "the reloaded policy", || {
        let r = show(&d);
        let names: Vec<&str> = r["policies"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        names == ["web-out"]
    });
    // A broken file is refused whole, with file:line and the reason.
    std::fs::write(
        &d.config,
        format!("{edited}egress-gateway policy bad\n exclude 192.0.2.0/24\nexit\n"),
    )
    .expect("break config");
    d.signal(Signal::SIGHUP);
    eventually(10, "the refusal in the log", || {
        d.log().contains("reload refused")
    });
    assert!(d.log().contains("lies in no destination"), "{}", d.log());
    assert_eq!(show(&d)["policies"].as_array().map(Vec::len), Some(1));

    // The bulk request: all or nothing.
    let bulk = serde_json::json!({
        "name": "bulk",
        "match_sources": ["10.245.0.0/16"],
        "destinations": ["198.18.0.0/15"],
        "gateways": [{"node": "198.51.100.14", "egress_ip": "203.0.113.30"}],
    });
    let r = d.ask(
        &serde_json::json!({"request": "egress-apply", "upsert": [bulk], "delete": ["web-out"]})
            .to_string(),
    );
    assert_eq!(r["reply"], "egress-applied", "{r}");
    assert_eq!(
        r["changes"],
        serde_json::json!(["removed web-out", "added bulk"]),
        "{r}"
    );
    let bad = serde_json::json!({"name": "bad", "destinations": ["192.0.2.1/24"]});
    let r = d.ask(
        &serde_json::json!({"request": "egress-apply", "upsert": [bad], "delete": ["bulk"]})
            .to_string(),
    );
    assert_eq!(r["reply"], "error", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap_or_default()
            .contains("host bits"),
        "{r}"
    );
    let names: Vec<String> = show(&d)["policies"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["bulk"]);
    let text = d.ask(r#"{"request":"show-running-config"}"#)["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        text.contains("egress-gateway policy bulk\n match source 10.245.0.0/16\n"),
        "{text}"
    );
    assert!(d.stop().success(), "{}", d.log());
}

#[test]
fn a_local_gateway_announces_its_egress_ip_next_to_the_service_vips() {
    let pid = std::process::id();
    let (dut, _peer_ns) = linked_pair("egwdp");
    // This node (192.0.2.1) is the policy's only gateway.
    let text = format!(
        "{BASE}datapath mode native\nservice vip 198.51.100.100/32\n!\n\
         egress-gateway policy legacy-db\n match source 10.244.0.0/16\n \
         destination 192.0.2.128/25\n gateway 192.0.2.1 egress-ip 203.0.113.11\nexit\n"
    );
    let mut d = Ternd::start(&format!("t-egwdp-{pid}"), &text, Some(&dut));
    wait_serving(&mut d, 120);
    let vips = || -> Vec<String> {
        let r = d.ask(r#"{"request":"show-vips"}"#);
        r["vips"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    eventually(10, "both announced", || {
        vips() == ["198.51.100.100/32", "203.0.113.11/32"]
    });
    let r = show(&d);
    assert_eq!(r["datapath"], true, "{r}");
    assert_eq!(r["programmed"], true, "{r}");
    assert_eq!(
        r["announced"],
        serde_json::json!(["203.0.113.11/32"]),
        "{r}"
    );
    let p = policy(&r, "legacy-db");
    assert_eq!(p["state"], "active", "{p}");
    assert_eq!(p["gateways"][0]["local"], true, "{p}");
    assert_eq!(p["gateways"][0]["healthy"], true, "{p}");
    assert_eq!(r["snat"][0]["egressIp"], "203.0.113.11", "{r}");
    let drops: Vec<&str> = r["drops"]
        .as_array()
        .map(|v| v.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(drops.contains(&"egress-no-gateway"), "{r}");
    let nat = d.ask(r#"{"request":"show-egress-nat"}"#);
    assert_eq!(nat["reply"], "egress-nat", "{nat}");
    assert_eq!(nat["count"], 0, "{nat}");

    // A service VIP change keeps the egress IP, and the policy's removal
    // keeps the VIP.
    let r = config(&d, &["service vip 198.51.100.101/32"]);
    assert_eq!(r[0]["reply"], "config-applied", "{r:?}");
    eventually(10, "the second VIP", || {
        vips() == ["198.51.100.100/32", "198.51.100.101/32", "203.0.113.11/32"]
    });
    let r = config(&d, &["no egress-gateway policy legacy-db"]);
    assert_eq!(r[0]["reply"], "config-applied", "{r:?}");
    eventually(10, "the egress IP withdrawn", || {
        vips() == ["198.51.100.100/32", "198.51.100.101/32"]
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(show(&d)["announced"].as_array().is_some_and(Vec::is_empty));
}
