//! TCP MD5 (RFC 2385) between ternd and FRR 8.4: with the same password the
//! session comes up and routes flow; with a different one there is no
//! session, and ternd's log says a password mismatch is the likely cause.
//! Needs root and FRR (lab/setup.sh).
use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_tests::{Lab, bin, run_ok};

fn frr_state(tor1: &str) -> (String, u64) {
    let out = run_ok(Command::new("vtysh").args([
        "-N",
        tor1,
        "-c",
        "show bgp ipv4 unicast summary json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap_or_default();
    let p = &v["peers"]["192.0.2.1"];
    (
        p["state"].as_str().unwrap_or("?").to_owned(),
        p["pfxRcd"].as_u64().unwrap_or(0),
    )
}

fn up(lab: &str, password: Option<&str>) -> (Lab, String) {
    let guard = Lab::up_with("md5.clab.yml", lab, |dir| {
        if let Some(pw) = password {
            let conf = dir.join("md5/ternd.conf");
            let text = std::fs::read_to_string(&conf).expect("read ternd.conf");
            std::fs::write(
                &conf,
                text.replace("password s3cret-Tern", &format!("password {pw}")),
            )
            .expect("write ternd.conf");
        }
    });
    let tor1 = guard.ns("tor1");
    (guard, tor1)
}

#[test]
fn same_password_brings_the_session_up() {
    let lab = format!("m{}", std::process::id());
    let (_guard, tor1) = up(&lab, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (state, pfx) = frr_state(&tor1);
        if state == "Established" && pfx == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "FRR sees {state} with {pfx} prefixes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn wrong_password_keeps_it_down_and_says_why() {
    let lab = format!("w{}", std::process::id());
    let (_guard, tor1) = up(&lab, Some("not-the-password"));
    let log = PathBuf::from(format!("/run/tern-lab/{lab}/node1/node.log"));
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let (state, _) = frr_state(&tor1);
        assert_ne!(
            state, "Established",
            "a session despite different MD5 passwords"
        );
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("TCP MD5 password is configured") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ternd's log never explained the missing session:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = run_ok(Command::new(bin("tern")).args([
        "-N",
        &format!("clab-{lab}-node1"),
        "-c",
        "show bgp summary json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap_or_default();
    assert_ne!(
        v["ipv4Unicast"]["peers"]["192.0.2.0"]["state"], "Established",
        "{v}"
    );
}
