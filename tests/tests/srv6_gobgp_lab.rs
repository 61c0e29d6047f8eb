//! SRv6 L3VPN control plane against GoBGP 3.10 (issue 14), on
//! lab/topologies/srv6gobgp.clab.yml: the srv6 lab's two Tern nodes, with
//! their configurations, under GoBGP in tor1's place. Each node has a pod in
//! VRF red. Checked with the real programs:
//! - GoBGP holds each node's VPN-IPv4 and VPN-IPv6 route of its red pod as
//!   ternd sent it: the node's RD and route target, the label, and an SRv6
//!   L3 Service with the node's locator as SID (the function transposed
//!   into the label), End.DT46 and the SID structure
//!   (`gobgp global rib -a vpnv4|vpnv6 -j`);
//! - each node has the other's routes from GoBGP with the same label and
//!   SID (`show bgp ipv4|ipv6 vpn rd RD PREFIX json`), valid and best;
//! - the red pods reach each other across the nodes, IPv4 and IPv6 (ping
//!   and a TCP transfer with every byte checked), through the eBPF SRv6
//!   encapsulation and decapsulation.
//!
//! Needs root, GoBGP (gobgpd, gobgp), ping and python3 (lab/setup.sh);
//! fails, never skips, without them.
use std::net::Ipv6Addr;

use serde_json::Value;
use tern_tests::{
    CniPods, Lab, eventually, netns_command, ns_ping, require_tool, run, tcp_transfer, tern,
};

const LAB: &str = "srv6gobgp";

/// Each node: its RD of VRF red, its locator's SID as advertised (the
/// function bits travel in the label).
const NODES: [(&str, &str, Ipv6Addr); 2] = [
    (
        "node1",
        "65001:100",
        Ipv6Addr::new(0xfc00, 0, 1, 0, 0, 0, 0, 0),
    ),
    (
        "node2",
        "65002:100",
        Ipv6Addr::new(0xfc00, 0, 2, 0, 0, 0, 0, 0),
    ),
];

/// RFC 8986's End.DT46.
const END_DT46: u64 = 20;

/// Standard base64 of `bytes` (GoBGP's JSON gives the SID so).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `gobgp global rib -a FAMILY -j` in gobgp1's namespace.
fn gobgp_rib(lab: &Lab, family: &str) -> Result<Value, String> {
    let out =
        run(netns_command(&lab.ns("gobgp1"), "gobgp").args(["global", "rib", "-a", family, "-j"]));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// Of GoBGP's path for `key` ("RD:PREFIX"): its label and its SRv6 L3
/// Service's (SID in base64, behavior, structure).
fn gobgp_service(rib: &Value, key: &str) -> Option<(u64, String, u64, Value)> {
    let path = &rib[key][0];
    let label = path["nlri"]["labels"][0].as_u64()?;
    let attrs = path["attrs"].as_array()?;
    let sid_attr = attrs.iter().find(|a| a["type"] == 40)?;
    let tlv = sid_attr["TLVs"]
        .as_array()?
        .iter()
        .find(|t| t["type"] == 5)?;
    let info = &tlv["SubTLVs"][0];
    Some((
        label,
        info["sid"].as_str()?.to_owned(),
        info["endpoint_behavior"].as_u64()?,
        info["sub_sub_tlvs"][0].clone(),
    ))
}

#[test]
fn srv6_vpn_routes_through_gobgp_and_vrf_pods_reach_each_other() {
    for t in ["gobgp", "gobgpd", "ping", "python3"] {
        require_tool(t);
    }
    let lab = Lab::up("srv6gobgp.clab.yml", LAB);
    let dir = lab
        .topology()
        .parent()
        .expect("the copy's folder")
        .to_owned();
    let mut pods = CniPods::new(LAB);
    for (node, _, _) in NODES {
        pods.add(
            node,
            "red1",
            "red",
            &dir.join(format!("srv6/{node}/red.conf")),
        );
    }

    for (gobgp_family, family, v6) in [("vpnv4", "ipv4", false), ("vpnv6", "ipv6", true)] {
        let len = if v6 { 128 } else { 32 };
        for (i, (node, rd, sid)) in NODES.into_iter().enumerate() {
            let prefix = format!("{}/{len}", pods.addr(node, "red1", v6));
            let key = format!("{rd}:{prefix}");
            // GoBGP has the route as the node sent it.
            let (label, gobgp_sid, behavior, structure) =
                eventually(90, &format!("gobgp1: {key} from {node}"), || {
                    let rib = gobgp_rib(&lab, gobgp_family)?;
                    gobgp_service(&rib, &key).ok_or_else(|| rib.to_string())
                });
            assert_eq!(gobgp_sid, base64(&sid.octets()), "{key}: SID {sid}");
            assert_eq!(behavior, END_DT46, "{key}");
            assert_eq!(structure["locator_block_length"], 24, "{key}");
            assert_eq!(structure["locator_node_length"], 24, "{key}");
            assert_eq!(structure["transposition_length"], 16, "{key}");
            let ours = tern(
                &lab.ns(node),
                &format!("show bgp {family} vpn rd {rd} {prefix} json"),
            );
            assert_eq!(ours[rd]["paths"][0]["remoteLabel"], label, "{key}: {ours}");
            // The other node has it from GoBGP, with the same label and SID.
            let (other, _, _) = NODES[1 - i];
            let cmd = format!("show bgp {family} vpn rd {rd} {prefix} json");
            let theirs = eventually(60, &format!("{other}: {key} from gobgp1"), || {
                let v = tern(&lab.ns(other), &cmd);
                if v[rd]["paths"][0]["valid"] == true {
                    Ok(v)
                } else {
                    Err(v.to_string())
                }
            });
            let p = &theirs[rd]["paths"][0];
            assert_eq!(p["remoteSid"], sid.to_string(), "{other}: {theirs}");
            assert_eq!(p["remoteLabel"], label, "{other}: {theirs}");
            assert_eq!(p["bestpath"]["overall"], true, "{other}: {theirs}");
            // The other node's session to gobgp1 of the route's family.
            let gobgp1 = match (1 - i, v6) {
                (0, false) => "192.0.2.0",
                (0, true) => "2001:db8:0:1::1",
                (_, false) => "192.0.2.2",
                (_, true) => "2001:db8:0:2::1",
            };
            assert_eq!(p["peer"]["peerId"], gobgp1, "{other}: {theirs}");
        }
    }

    // The data plane: red1 to red1 across the nodes, both ways, both
    // families, encapsulated and decapsulated by the nodes' programs.
    let path = |node: &str, name: &str| {
        tern(&lab.ns(node), "show datapath json")["paths"][name]
            .as_u64()
            .unwrap_or(0)
    };
    let encap_before: Vec<u64> = NODES
        .iter()
        .map(|(n, _, _)| path(n, "srv6-encap"))
        .collect();
    let mut port = 7300;
    for (from, to) in [("node1", "node2"), ("node2", "node1")] {
        for v6 in [false, true] {
            let addr = pods.addr(to, "red1", v6);
            let (from_ns, to_ns) = (pods.ns(from, "red1"), pods.ns(to, "red1"));
            eventually(60, &format!("{from_ns} -> {addr}"), || {
                ns_ping(&from_ns, &addr, 2)
            });
            port += 1;
            tcp_transfer(&to_ns, &addr, &from_ns, port);
        }
    }
    for (i, (node, _, _)) in NODES.iter().enumerate() {
        assert!(
            path(node, "srv6-encap") > encap_before[i],
            "{node}: srv6-encap"
        );
    }
}

#[test]
fn base64_is_standard() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(
        base64(&Ipv6Addr::new(0xfc00, 0, 1, 0, 0, 0, 0, 0).octets()),
        "/AAAAAABAAAAAAAAAAAAAA=="
    );
}
