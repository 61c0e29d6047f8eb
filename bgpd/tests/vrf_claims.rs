//! tern-cni's claims for pods in a VRF against a ternd process: a claim
//! for a VRF that ternd's config lacks is refused with the reason (CNI
//! error 7) and holds nothing, while the same claim without a VRF is
//! served; `show ip route vrf` of that VRF says it is not found. Needs
//! root (bpf) and `cargo build --bins` (for `tern`).
mod common;

use common::Ternd;

fn claim(cid: &str, vrf: Option<&str>) -> String {
    let vrf = vrf.map(|v| format!(r#","vrf":"{v}""#)).unwrap_or_default();
    format!(
        r#"{{"request":"endpoint-allocate","container_id":"{cid}","ifname":"eth0","netns":"/var/run/netns/x","host_ifname":"tern{cid}","pools":["10.244.9.0/24"]{vrf}}}"#
    )
}

#[test]
fn a_claim_for_a_vrf_ternd_lacks_is_refused_with_the_reason() {
    let d = Ternd::start(
        &format!("t-vrf-{}", std::process::id()),
        "hostname vrf\n",
        None,
    );
    let r = d.ask(&claim("red1", Some("red")));
    assert_eq!(r["reply"], "endpoint-refused", "{r}");
    assert_eq!(r["reason"], "invalid", "{r}");
    assert_eq!(
        r["message"], "VRF red is not configured (no `vrf red` block)",
        "{r}"
    );
    let shown = d.ask(r#"{"request":"show-endpoints"}"#);
    assert!(
        shown["reserved"].as_array().is_none_or(Vec::is_empty),
        "a refused claim holds nothing: {shown}"
    );
    let r = d.ask(&claim("main1", None));
    assert_eq!(r["reply"], "endpoint-reserved", "{r}");
    assert_eq!(r["addresses"][0], "10.244.9.2/32", "{r}");
    assert!(r.get("vrf").is_none(), "{r}");
    // `show ip route vrf NAME` of a VRF ternd lacks: zebra's words.
    let r = d.ask(r#"{"request":"show-vrf-routes","ipv6":false,"vrf":"red"}"#);
    assert_eq!(r["message"], "VRF red not found", "{r}");
    let (ok, out, err) = d.tern("show ip route vrf red");
    assert!(!ok, "{out}");
    assert_eq!(err.trim(), "% VRF red not found", "{err}");
}
