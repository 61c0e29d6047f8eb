//! `show bgp ... summary` as FRR 8.4's bgpd prints it, text and JSON.
use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use tern_control::{BgpPeerSummary, BgpSummary};

use crate::render::uptime;

/// The families a summary can show, with FRR's titles and JSON keys.
pub const FAMILIES: [(&str, &str); 4] = [
    ("ipv4Unicast", "IPv4 Unicast"),
    ("ipv4Vpn", "IPv4 VPN"),
    ("ipv6Unicast", "IPv6 Unicast"),
    ("ipv6Vpn", "IPv6 VPN"),
];

fn peers_of<'a>(s: &'a BgpSummary, family: &'a str) -> impl Iterator<Item = &'a BgpPeerSummary> {
    s.peers
        .iter()
        .filter(move |p| p.families.iter().any(|f| f == family))
}

/// FRR's datacenter profile (`bgp default show-hostname`) names a peer
/// that sent its hostname as hostname(address).
/// FRR marks a dynamic neighbor (from a listen range) with a star.
fn peer_name(p: &BgpPeerSummary, hide_hostname: bool) -> String {
    let star = if p.dynamic { "*" } else { "" };
    match p.hostname.as_deref() {
        Some(h) if !hide_hostname => {
            format!("{star}{}({})", crate::render::printable(h), p.address)
        }
        _ => format!("{star}{}", p.address),
    }
}

fn up_down(p: &BgpPeerSummary) -> String {
    match p.uptime_secs {
        None => "never".to_owned(),
        Some(s) => uptime(s),
    }
}

/// One family's table. `titled` adds the "IPv4 Unicast Summary" line that
/// `show bgp summary` (all families) prints.
fn family_text(s: &BgpSummary, family: &str, title: &str, titled: bool, out: &mut String) -> usize {
    let peers: Vec<&BgpPeerSummary> = peers_of(s, family).collect();
    if peers.is_empty() {
        return 0;
    }
    if titled {
        let _ = writeln!(out, "\n{title} Summary (VRF default):");
    }
    let _ = writeln!(
        out,
        "BGP router identifier {}, local AS number {} vrf-id 0",
        s.router_id, s.local_as
    );
    let version = s.table_version.get(family).copied().unwrap_or(0);
    let _ = writeln!(out, "BGP table version {version}");
    let count = s.rib_count.get(family).copied().unwrap_or(0);
    match s.rib_memory.get(family) {
        Some(mem) => {
            let _ = writeln!(out, "RIB entries {count}, using {mem} bytes of memory");
        }
        None => {
            let _ = writeln!(out, "RIB entries {count}");
        }
    }
    let _ = writeln!(out, "Peers {}\n", peers.len());
    // The Neighbor column is as wide as the longest name plus a blank,
    // 16 at least, as FRR 8.4 sizes it.
    let names: Vec<String> = peers
        .iter()
        .map(|p| peer_name(p, s.hide_hostnames))
        .collect();
    let width = names.iter().map(|n| n.len() + 1).max().unwrap_or(0).max(16);
    let _ = writeln!(
        out,
        "{:width$}V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd   PfxSnt Desc",
        "Neighbor"
    );
    for (p, name) in peers.iter().zip(names) {
        let _ = write!(out, "{name:width$}");
        let _ = write!(
            out,
            "4 {:>10} {:>9} {:>9} {:>8} {:>4} {:>4} {:>8}",
            p.remote_as,
            p.msg_rcvd,
            p.msg_sent,
            0,
            0,
            0,
            up_down(p)
        );
        let rcvd = p.pfx_rcvd.get(family).copied().unwrap_or(0);
        let sent = p.pfx_sent.get(family).copied().unwrap_or(0);
        if p.state == "Established" {
            // `bgp ebgp-requires-policy` without a route-map: FRR's mark.
            let policy = |missing: &[String], n: u64| {
                if missing.iter().any(|f| f == family) {
                    "(Policy)".to_owned()
                } else {
                    n.to_string()
                }
            };
            let _ = write!(
                out,
                " {:>12} {:>8}",
                policy(&p.policy_missing_in, rcvd),
                policy(&p.policy_missing_out, sent)
            );
        } else {
            let _ = write!(out, " {:>12} {sent:>8}", p.state);
        }
        let _ = writeln!(out, " {}", p.description.as_deref().unwrap_or("N/A"));
    }
    let _ = writeln!(out, "\nTotal number of neighbors {}", peers.len());
    peers.len()
}

/// `show bgp summary` (family None: every family with peers) and
/// `show bgp ipv4|ipv6 unicast summary`.
pub fn summary_text(s: &BgpSummary, family: Option<&str>) -> String {
    let mut out = String::new();
    if !s.configured {
        return "% BGP instance not found\n".to_owned();
    }
    match family {
        Some(f) => {
            let title = FAMILIES.iter().find(|(k, _)| *k == f).map_or(f, |(_, t)| t);
            if family_text(s, f, title, false, &mut out) == 0 {
                let _ = writeln!(out, "% No BGP neighbors found in VRF default");
            }
        }
        None => {
            let mut shown = 0;
            for (key, title) in FAMILIES {
                shown += family_text(s, key, title, true, &mut out);
            }
            if shown == 0 {
                let _ = writeln!(out, "% No BGP neighbors found in VRF default");
            }
        }
    }
    out
}

fn family_json(s: &BgpSummary, family: &str) -> Option<Value> {
    let peers: Vec<&BgpPeerSummary> = peers_of(s, family).collect();
    if peers.is_empty() {
        return None;
    }
    let mut pm = Map::new();
    let mut failed = 0;
    for p in &peers {
        let established = p.state == "Established";
        if !established {
            failed += 1;
        }
        let mut o = Map::new();
        if p.dynamic {
            o.insert("dynamicPeer".into(), json!(true));
        }
        if let Some(h) = &p.hostname {
            o.insert("hostname".into(), json!(h));
        }
        o.insert("remoteAs".into(), json!(p.remote_as));
        o.insert("localAs".into(), json!(p.local_as));
        o.insert("version".into(), json!(4));
        o.insert("msgRcvd".into(), json!(p.msg_rcvd));
        o.insert("msgSent".into(), json!(p.msg_sent));
        // FRR 8.4 prints the peer's `version`, which it never sets: 0.
        o.insert("tableVersion".into(), json!(0));
        o.insert("outq".into(), json!(0));
        o.insert("inq".into(), json!(0));
        o.insert("peerUptime".into(), json!(up_down(p)));
        o.insert(
            "peerUptimeMsec".into(),
            json!(p.uptime_secs.unwrap_or(0).saturating_mul(1000)),
        );
        if let (Some(up), true) = (p.uptime_secs, established) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            o.insert(
                "peerUptimeEstablishedEpoch".into(),
                json!(now.saturating_sub(up)),
            );
        }
        o.insert(
            "pfxRcd".into(),
            json!(p.pfx_rcvd.get(family).copied().unwrap_or(0)),
        );
        o.insert(
            "pfxSnt".into(),
            json!(p.pfx_sent.get(family).copied().unwrap_or(0)),
        );
        o.insert("state".into(), json!(p.state));
        o.insert(
            "peerState".into(),
            json!(if p.state.contains("Admin") {
                "Admin"
            } else {
                "OK"
            }),
        );
        o.insert("connectionsEstablished".into(), json!(p.established));
        o.insert("connectionsDropped".into(), json!(p.dropped));
        if let Some(d) = &p.description {
            o.insert("desc".into(), json!(d));
        }
        let id_type = if p.address.contains(':') {
            "ipv6"
        } else {
            "ipv4"
        };
        o.insert("idType".into(), json!(id_type));
        pm.insert(p.address.clone(), Value::Object(o));
    }
    Some(json!({
        "routerId": s.router_id,
        "as": s.local_as,
        "vrfId": 0,
        "vrfName": "default",
        "tableVersion": s.table_version.get(family).copied().unwrap_or(0),
        "ribCount": s.rib_count.get(family).copied().unwrap_or(0),
        "ribMemory": s.rib_memory.get(family).copied().unwrap_or(0),
        "peerCount": peers.len(),
        "peers": Value::Object(pm),
        "failedPeers": failed,
        "displayedPeers": peers.len(),
        "totalPeers": peers.len(),
        "dynamicPeers": 0,
        "bestPath": {"multiPathRelax": "false"},
    }))
}

/// `show bgp [FAMILY] summary json`: FRR nests the families under their
/// keys for `show bgp summary json` and prints one family's object bare
/// for `show bgp ipv4 unicast summary json`.
pub fn summary_json(s: &BgpSummary, family: Option<&str>) -> Value {
    if !s.configured {
        return json!({});
    }
    match family {
        Some(f) => family_json(s, f).unwrap_or_else(|| json!({})),
        None => {
            let mut top = Map::new();
            for (key, _) in FAMILIES {
                if let Some(v) = family_json(s, key) {
                    top.insert(key.into(), v);
                }
            }
            Value::Object(top)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn summary() -> BgpSummary {
        let peer = |addr: &str, asn: u32, state: &str| BgpPeerSummary {
            address: addr.into(),
            remote_as: asn,
            local_as: 65000,
            state: state.into(),
            families: vec!["ipv4Unicast".into()],
            ..Default::default()
        };
        BgpSummary {
            configured: true,
            router_id: "198.51.100.1".into(),
            local_as: 65000,
            rib_count: BTreeMap::new(),
            rib_memory: BTreeMap::new(),
            table_version: BTreeMap::from([("ipv4Unicast".into(), 6)]),
            hide_hostnames: false,
            peers: vec![
                peer("192.0.2.1", 65001, "Idle"),
                peer("192.0.2.3", 65002, "Active"),
            ],
        }
    }

    #[test]
    fn columns_line_up_with_frr() {
        // The two peer lines FRR 8.4.4 printed for the same neighbors.
        let text = summary_text(&summary(), Some("ipv4Unicast"));
        assert!(text.contains("\n192.0.2.1       4      65001         0         0        0    0    0    never         Idle        0 N/A\n"), "{text}");
        assert!(text.contains("\n192.0.2.3       4      65002         0         0        0    0    0    never       Active        0 N/A\n"), "{text}");
        assert!(
            text.starts_with(
                "BGP router identifier 198.51.100.1, local AS number 65000 vrf-id 0\n"
            )
        );
        assert!(text.ends_with("\nTotal number of neighbors 2\n"));
        // FRR 8.4.4: the table's version; the peers' TblVer is always 0.
        assert!(text.contains("\nBGP table version 6\n"), "{text}");
    }

    #[test]
    fn a_peer_hostname_cannot_forge_summary_lines() {
        let mut s = summary();
        s.peers[0].hostname = Some("tor1\n10.6.6.6  4 65000 \x1b[31m".into());
        let text = summary_text(&s, Some("ipv4Unicast"));
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(
            text.contains("tor1\\x0a10.6.6.6  4 65000 \\x1b[31m("),
            "{text}"
        );
    }

    /// `bgp ebgp-requires-policy` without route-maps, and FRR's
    /// traditional profile (no hostnames), as FRR 8.4.4 prints them.
    #[test]
    fn policy_marks_and_hidden_hostnames() {
        let mut s = summary();
        s.peers[0].state = "Established".into();
        s.peers[0].uptime_secs = Some(19);
        s.peers[0].hostname = Some("tor1".into());
        s.peers[0].description = Some("tor1".into());
        s.peers[0].policy_missing_in = vec!["ipv4Unicast".into()];
        s.peers[0].policy_missing_out = vec!["ipv4Unicast".into()];
        let text = summary_text(&s, Some("ipv4Unicast"));
        assert!(text.contains("\ntor1(192.0.2.1) 4      65001"), "{text}");
        assert!(
            text.contains(" 00:00:19     (Policy) (Policy) tor1\n"),
            "{text}"
        );
        s.hide_hostnames = true;
        let text = summary_text(&s, Some("ipv4Unicast"));
        assert!(text.contains("\n192.0.2.1       4      65001"), "{text}");
    }

    #[test]
    fn established_shows_prefix_count_and_uptime() {
        let mut s = summary();
        s.peers[0].state = "Established".into();
        s.peers[0].uptime_secs = Some(62);
        s.peers[0].pfx_rcvd.insert("ipv4Unicast".into(), 3);
        s.peers[0].pfx_sent.insert("ipv4Unicast".into(), 1);
        let text = summary_text(&s, None);
        assert!(text.contains("\nIPv4 Unicast Summary (VRF default):\n"));
        assert!(
            text.contains(" 00:01:02            3        1 N/A\n"),
            "{text}"
        );
    }

    #[test]
    fn neighbor_column_grows_with_long_names() {
        // FRR 8.4.4 with `bgp default show-hostname` and an IPv6 peer.
        let mut s = summary();
        s.peers.truncate(1);
        s.peers[0].address = "2001:db8:0:1::1".into();
        s.peers[0].hostname = Some("tor1".into());
        let text = summary_text(&s, Some("ipv4Unicast"));
        assert!(
            text.contains("\nNeighbor              V         AS   MsgRcvd"),
            "{text}"
        );
        assert!(
            text.contains("\ntor1(2001:db8:0:1::1) 4      65001         0"),
            "{text}"
        );
    }

    #[test]
    fn json_has_frrs_keys() {
        let v = summary_json(&summary(), None);
        let f = &v["ipv4Unicast"];
        for k in [
            "routerId",
            "as",
            "vrfId",
            "vrfName",
            "tableVersion",
            "ribCount",
            "ribMemory",
            "peerCount",
            "peers",
            "failedPeers",
            "displayedPeers",
            "totalPeers",
            "dynamicPeers",
            "bestPath",
        ] {
            assert!(f.get(k).is_some(), "missing {k}");
        }
        let p = &f["peers"]["192.0.2.1"];
        for k in [
            "remoteAs",
            "localAs",
            "version",
            "msgRcvd",
            "msgSent",
            "tableVersion",
            "outq",
            "inq",
            "peerUptime",
            "peerUptimeMsec",
            "pfxRcd",
            "pfxSnt",
            "state",
            "peerState",
            "connectionsEstablished",
            "connectionsDropped",
            "idType",
        ] {
            assert!(p.get(k).is_some(), "missing peer key {k}");
        }
        assert_eq!(f["failedPeers"], 2);
        assert_eq!(f["tableVersion"], 6);
        assert_eq!(f["peers"]["192.0.2.1"]["tableVersion"], 0);
    }
}
