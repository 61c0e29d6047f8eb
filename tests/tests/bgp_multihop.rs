//! eBGP between loopbacks with FRR 8.4: `ebgp-multihop` (TTL above 1) and
//! `update-source lo` (the session runs from the loopback address, which is
//! what FRR expects to see as the peer). Needs root and FRR (lab/setup.sh).
use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_tests::{Lab, run_ok};

#[test]
fn loopback_to_loopback_ebgp_session() {
    let lab = format!("h{}", std::process::id());
    let _lab = Lab::up("multihop.clab.yml", &lab);
    let tor1 = format!("clab-{lab}-tor1");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let out = run_ok(Command::new("vtysh").args([
            "-N",
            &tor1,
            "-c",
            "show bgp ipv4 unicast summary json",
        ]));
        let v: Value = serde_json::from_str(&out).unwrap_or_default();
        let p = &v["peers"]["198.51.100.11"];
        if p["state"] == "Established" && p["pfxRcd"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "FRR's view of node1's loopback: {p}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let out =
        run_ok(Command::new("vtysh").args(["-N", &tor1, "-c", "show ip bgp 10.244.1.0/24 json"]));
    let v: Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(v["paths"][0]["nexthops"][0]["ip"], "198.51.100.11", "{v}");
}
