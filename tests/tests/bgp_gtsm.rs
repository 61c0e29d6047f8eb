//! GTSM (RFC 5082) against FRR 8.4 (lab/topologies/gtsm.clab.yml), on an
//! IPv4 and an IPv6 session: with `ttl-security hops 1` on both sides the
//! sessions come up and node1's packets leave with TTL / hop limit 255
//! (seen on the wire by tcpdump); with FRR's ttl-security removed, FRR sends
//! with TTL 1, node1 drops it and the sessions must not come up; configured
//! again, they do. Needs root, FRR and tcpdump (lab/setup.sh).
mod frr_pair;

use frr_pair::{Lab, never};
use tern_tests::{eventually, netns_command, run};

const V4: &str = "192.0.2.1";
const V6: &str = "2001:db8:0:1::2";

/// The TTL (IPv4) or hop limit (IPv6) of one BGP message node1 sends from
/// `src`, as tcpdump on tor1's eth1 prints it. Only segments with PSH (a
/// BGP message; KEEPALIVEs come every 3 s with FRR's datacenter timers):
/// what the kernel answers for a connection that is gone (a RST, a
/// TIME-WAIT ACK after a collision closed one of two connections) carries
/// the default hop limit, not the session's.
fn ttl_on_the_wire(lab: &Lab, src: &str) -> Option<u32> {
    let push = if src.contains(':') {
        // The TCP header right after the fixed IPv6 header; flags at 13.
        "ip6[6] == 6 and ip6[53] & 8 != 0"
    } else {
        "tcp[tcpflags] & tcp-push != 0"
    };
    let filter = format!("src host {src} and tcp port 179 and {push}");
    let out = run(netns_command(&lab.tor1, "timeout")
        .args(["20", "tcpdump", "-c", "1", "-nv", "-i", "eth1", &filter]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tcpdump on tor1 failed (is tcpdump installed? lab/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = if src.contains(':') { "hlim " } else { "ttl " };
    let at = text.find(key)?;
    let ttl = text[at + key.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok();
    if ttl != Some(255) {
        eprintln!("tcpdump saw:\n{text}");
    }
    ttl
}

/// FRR's state of its session with `peer`.
fn frr_state(lab: &Lab, peer: &str) -> String {
    let v = lab.frr(&format!("show bgp neighbors {peer} json"));
    v[peer]["bgpState"].as_str().unwrap_or("?").to_owned()
}

/// Whether node1 sees its session with `peer` (tor1's address) Established.
fn tern_established(lab: &Lab, family: &str, peer: &str) -> bool {
    lab.tern_json("show bgp summary json")[family]["peers"][peer]["state"] == "Established"
}

#[test]
fn ttl_security_sessions_come_up_only_with_gtsm_on_both_sides() {
    let lab = Lab::up("gtsm.clab.yml", "gtsm");
    eventually(40, "both GTSM sessions Established with FRR", || {
        let v = lab.frr("show bgp summary json");
        v["ipv4Unicast"]["peers"][V4]["pfxRcd"] == 1
            && v["ipv6Unicast"]["peers"][V6]["pfxRcd"] == 1
            && frr_state(&lab, V4) == "Established"
            && frr_state(&lab, V6) == "Established"
    });
    assert_eq!(ttl_on_the_wire(&lab, V4), Some(255), "IPv4 TTL");
    assert_eq!(ttl_on_the_wire(&lab, V6), Some(255), "IPv6 hop limit");
    assert!(tern_established(&lab, "ipv4Unicast", "192.0.2.0"));
    assert!(tern_established(&lab, "ipv6Unicast", "2001:db8:0:1::1"));

    // FRR without ttl-security sends with TTL 1 (directly connected eBGP):
    // below node1's minimum of 255, so node1 drops it.
    lab.frr_config(&[
        &format!("no neighbor {V4} ttl-security hops 1"),
        &format!("no neighbor {V6} ttl-security hops 1"),
        "do clear bgp *",
    ]);
    eventually(30, "the sessions go down", || {
        frr_state(&lab, V4) != "Established" && frr_state(&lab, V6) != "Established"
    });
    never(25, "a session must not come up without GTSM on FRR", || {
        frr_state(&lab, V4) == "Established"
            || frr_state(&lab, V6) == "Established"
            || tern_established(&lab, "ipv4Unicast", "192.0.2.0")
            || tern_established(&lab, "ipv6Unicast", "2001:db8:0:1::1")
    });

    // GTSM on FRR again: the sessions come back.
    lab.frr_config(&[
        &format!("neighbor {V4} ttl-security hops 1"),
        &format!("neighbor {V6} ttl-security hops 1"),
        "do clear bgp *",
    ]);
    eventually(40, "both GTSM sessions Established again", || {
        frr_state(&lab, V4) == "Established" && frr_state(&lab, V6) == "Established"
    });
}
