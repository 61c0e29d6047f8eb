//! GTSM (RFC 5082) against FRR 8.4 (lab/topologies/gtsm.clab.yml): with
//! `ttl-security hops 1` on both sides the session comes up and node1's
//! packets leave with TTL 255 (seen on the wire by tcpdump); with FRR's
//! ttl-security removed, FRR sends with TTL 1, node1's kernel drops it
//! and the session must not come up; configured again, it does.
//! Needs root, FRR and tcpdump (lab/setup.sh).
mod frr_pair;

use std::process::Command;

use frr_pair::{Lab, eventually, never};
use tern_tests::run;

/// The TTL of one BGP packet node1 sends to tor1, seen on tor1's eth1.
fn ttl_on_the_wire(lab: &Lab) -> Option<u32> {
    let out = run(Command::new("ip").args([
        "netns",
        "exec",
        &lab.tor1,
        "timeout",
        "20",
        "tcpdump",
        "-c",
        "1",
        "-nv",
        "-i",
        "eth1",
        "src host 192.0.2.1 and tcp port 179",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tcpdump on tor1 failed (is tcpdump installed? lab/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at = text.find("ttl ")?;
    text[at + 4..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn ttl_security_session_comes_up_only_with_gtsm_on_both_sides() {
    let lab = Lab::up("gtsm.clab.yml", "gtsm");
    eventually(40, "GTSM session Established with FRR", || {
        let v = lab.frr("show bgp ipv4 unicast summary json");
        let p = &v["peers"]["192.0.2.1"];
        p["state"] == "Established" && p["pfxRcd"] == 1
    });
    assert_eq!(ttl_on_the_wire(&lab), Some(255), "node1 sends with TTL 255");
    let summary = lab.tern_json("show bgp summary json");
    assert_eq!(
        summary["ipv4Unicast"]["peers"]["192.0.2.0"]["state"], "Established",
        "{summary}"
    );

    // FRR without ttl-security sends with TTL 1 (directly connected eBGP):
    // below node1's minimum of 255, so the kernel drops it.
    lab.frr_config(&[
        "no neighbor 192.0.2.1 ttl-security hops 1",
        "do clear bgp 192.0.2.1",
    ]);
    eventually(30, "the session goes down", || {
        lab.frr_state() != "Established"
    });
    never(
        25,
        "the session must not come up without GTSM on FRR",
        || {
            lab.frr_state() == "Established"
                || lab.tern_json("show bgp summary json")["ipv4Unicast"]["peers"]["192.0.2.0"]["state"]
                    == "Established"
        },
    );

    // GTSM on FRR again: the session comes back.
    lab.frr_config(&[
        "neighbor 192.0.2.1 ttl-security hops 1",
        "do clear bgp 192.0.2.1",
    ]);
    eventually(40, "GTSM session Established again", || {
        lab.frr_state() == "Established"
    });
}
