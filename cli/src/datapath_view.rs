//! Renderers for `show datapath [json]`, `show datapath endpoints [json]`
//! (tern-cni's endpoints with the eBPF datapath's per-endpoint counters)
//! and `show datapath drops [json]`.
use std::fmt::Write as _;

use serde_json::{Value, json};
use tern_control::{DatapathEndpoint, DatapathInfo, NamedCount};

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// `show datapath`.
pub fn datapath_text(i: &DatapathInfo) -> String {
    let mut out = String::new();
    let Some(mode) = &i.mode else {
        out.push_str("Datapath: none (plain kernel routing; configure `datapath mode native|vxlan|geneve`)\n");
        return out;
    };
    let _ = writeln!(out, "Datapath mode: {mode}");
    let _ = writeln!(
        out,
        "  Uplink: {} (ifindex {}, MTU {})",
        opt(&i.uplink),
        opt(&i.uplink_ifindex),
        i.uplink_mtu
    );
    let _ = writeln!(
        out,
        "  VNI: {}, VXLAN port: {}, Geneve port: {}",
        i.vni, i.vxlan_port, i.geneve_port
    );
    let _ = writeln!(out, "  VXLAN device: {}", opt(&i.vxlan_device));
    let _ = writeln!(
        out,
        "  Local addresses: {} {}",
        opt(&i.local_v4),
        opt(&i.local_v6)
    );
    let _ = writeln!(out, "  Pod MTU: {}", i.pod_mtu);
    let cidrs: Vec<String> = i.cluster_cidrs.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "  Cluster CIDRs: {}",
        if cidrs.is_empty() {
            "-".to_owned()
        } else {
            cidrs.join(" ")
        }
    );
    let xdp = match (&i.xdp_mode, &i.xdp_note) {
        (Some(m), _) => format!("attached ({m}) on {}", opt(&i.uplink)),
        (None, Some(why)) => format!("not attached ({why})"),
        (None, None) => "not attached".to_owned(),
    };
    let _ = writeln!(
        out,
        "  XDP: {}, {xdp}",
        if i.xdp.is_empty() { "-" } else { &i.xdp }
    );
    let _ = writeln!(out, "  Programs attached: {}", i.attached.len());
    for (ifname, hook) in &i.attached {
        let _ = writeln!(out, "    {ifname:<16} {hook}");
    }
    let _ = writeln!(out, "  Tunnel routes: {}", i.tunnels.len());
    for (p, node) in &i.tunnels {
        let _ = writeln!(out, "    {:<24} -> {node}", p.to_string());
    }
    let _ = writeln!(out, "  Trusted tunnel sources: {}", i.trusted_sources.len());
    for p in &i.trusted_sources {
        let _ = writeln!(out, "    {p}");
    }
    if !i.path_mtus.is_empty() {
        let _ = writeln!(out, "  Path MTUs learnt: {}", i.path_mtus.len());
        for (node, mtu, left) in &i.path_mtus {
            let _ = writeln!(out, "    {:<24} {mtu} ({left} s left)", node.to_string());
        }
    }
    out.push_str("  Packets by path:\n");
    for c in &i.paths {
        let _ = writeln!(out, "    {:<16} {}", c.name, c.count);
    }
    srv6_text(&mut out, &i.srv6);
    if let Some(e) = &i.last_error {
        let _ = writeln!(out, "  Last error: {e}");
    }
    out
}

/// The SRv6 part of `show datapath`, when there is one.
fn srv6_text(out: &mut String, s: &tern_control::DatapathSrv6) {
    if s == &tern_control::DatapathSrv6::default() {
        return;
    }
    let locs: Vec<String> = s.locators.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "  SRv6 locators: {}", locs.join(" "));
    let _ = writeln!(out, "  SRv6 local SIDs: {}", s.sids.len());
    for (sid, behavior, table) in &s.sids {
        let _ = writeln!(
            out,
            "    {:<40} {behavior:<9} table {table}",
            sid.to_string()
        );
    }
    let _ = writeln!(out, "  SRv6 policies: {}", s.policies.len());
    for (table, prefix, segs) in &s.policies {
        let segs: Vec<String> = segs.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "    table {table:<6} {:<24} -> {}",
            prefix.to_string(),
            segs.join(",")
        );
    }
    let _ = writeln!(out, "  VRF interfaces: {}", s.vrf_ifaces.len());
    for (ifname, table) in &s.vrf_ifaces {
        let _ = writeln!(out, "    {ifname:<16} table {table}");
    }
}

/// `show datapath json`, camelCase keys.
pub fn datapath_json(i: &DatapathInfo) -> Value {
    let tunnels: Vec<Value> = i
        .tunnels
        .iter()
        .map(|(p, n)| json!({ "prefix": p.to_string(), "node": n.to_string() }))
        .collect();
    let attached: Vec<Value> = i
        .attached
        .iter()
        .map(|(n, h)| json!({ "ifname": n, "program": h }))
        .collect();
    let paths: serde_json::Map<String, Value> = i
        .paths
        .iter()
        .map(|c| (c.name.clone(), json!(c.count)))
        .collect();
    json!({
        "mode": i.mode,
        "loaded": i.loaded,
        "uplink": i.uplink,
        "uplinkIfindex": i.uplink_ifindex,
        "uplinkMtu": i.uplink_mtu,
        "vni": i.vni,
        "vxlanPort": i.vxlan_port,
        "genevePort": i.geneve_port,
        "vxlanDevice": i.vxlan_device,
        "localV4": i.local_v4.map(|a| a.to_string()),
        "localV6": i.local_v6.map(|a| a.to_string()),
        "podMtu": i.pod_mtu,
        "clusterCidrs": i.cluster_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "attached": attached,
        "xdp": { "config": i.xdp, "attached": i.xdp_mode.is_some(), "mode": i.xdp_mode, "note": i.xdp_note },
        "tunnels": tunnels,
        "trustedSources": i.trusted_sources.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "pathMtus": i.path_mtus.iter().map(|(n, m, left)| json!({
            "node": n.to_string(), "mtu": m, "expiresIn": left
        })).collect::<Vec<_>>(),
        "paths": paths,
        "lastError": i.last_error,
        "srv6": {
            "locators": i.srv6.locators.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "sids": i.srv6.sids.iter().map(|(sid, b, t)| json!({
                "sid": sid.to_string(), "behavior": b, "table": t
            })).collect::<Vec<_>>(),
            "policies": i.srv6.policies.iter().map(|(t, p, segs)| json!({
                "table": t, "prefix": p.to_string(),
                "segments": segs.iter().map(ToString::to_string).collect::<Vec<_>>()
            })).collect::<Vec<_>>(),
            "vrfInterfaces": i.srv6.vrf_ifaces.iter().map(|(n, t)| json!({
                "ifname": n, "table": t
            })).collect::<Vec<_>>(),
        },
    })
}

/// `show datapath endpoints`: one line per pod interface with its traffic.
pub fn endpoints_text(list: &[DatapathEndpoint]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Endpoints: {}", list.len());
    if list.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:<24} {:<16} {:<5} {:<6} {:>10} {:>10} {:>10} {:>10}  Addresses",
        "Container", "Host veth", "Id", "MTU", "FromPkts", "FromBytes", "ToPkts", "ToBytes"
    );
    for d in list {
        let e = &d.endpoint;
        // Docker-style ids are 64 hex digits: the first 24 tell them apart.
        let short: String = e.container_id.chars().take(24).collect();
        let addrs: Vec<String> = e.addresses.iter().map(ToString::to_string).collect();
        let id = match (d.id, d.attached) {
            (Some(i), true) => i.to_string(),
            _ => "-".to_owned(),
        };
        let c = d.counters;
        let mtu = if d.mtu_too_big {
            format!("{}!", e.mtu)
        } else {
            e.mtu.to_string()
        };
        let _ = writeln!(
            out,
            "{:<24} {:<16} {:<5} {:<6} {:>10} {:>10} {:>10} {:>10}  {}",
            short,
            e.host_ifname,
            id,
            mtu,
            c.from_pod_packets,
            c.from_pod_bytes,
            c.to_pod_packets,
            c.to_pod_bytes,
            addrs.join(" ")
        );
    }
    if list.iter().any(|d| d.mtu_too_big) {
        out.push_str("! MTU above the pod MTU of the datapath's mode (see show datapath)\n");
    }
    out
}

/// `show datapath endpoints json`: tern-cni's fields plus the datapath's.
pub fn endpoints_json(list: &[DatapathEndpoint]) -> Value {
    let eps: Vec<Value> = list
        .iter()
        .map(|d| {
            let mut v = crate::endpoint_view::endpoints_json(std::slice::from_ref(&d.endpoint))
                ["endpoints"][0]
                .clone();
            if let Some(o) = v.as_object_mut() {
                o.insert("endpointId".into(), json!(d.id));
                o.insert("attached".into(), json!(d.attached));
                o.insert("mtuTooBig".into(), json!(d.mtu_too_big));
                o.insert(
                    "counters".into(),
                    json!({
                        "fromPodPackets": d.counters.from_pod_packets,
                        "fromPodBytes": d.counters.from_pod_bytes,
                        "toPodPackets": d.counters.to_pod_packets,
                        "toPodBytes": d.counters.to_pod_bytes,
                    }),
                );
            }
            v
        })
        .collect();
    json!({ "endpoints": eps })
}

/// `show datapath drops`.
pub fn drops_text(drops: &[NamedCount]) -> String {
    let mut out = String::new();
    let total: u64 = drops.iter().map(|d| d.count).sum();
    let _ = writeln!(out, "Dropped packets: {total}");
    let _ = writeln!(out, "{:<18} {:>12}", "Reason", "Packets");
    for d in drops {
        let _ = writeln!(out, "{:<18} {:>12}", d.name, d.count);
    }
    out
}

/// `show datapath drops json`: `{"drops": {"reason": count, ...}, "total": N}`.
pub fn drops_json(drops: &[NamedCount]) -> Value {
    let map: serde_json::Map<String, Value> = drops
        .iter()
        .map(|d| (d.name.clone(), json!(d.count)))
        .collect();
    let total: u64 = drops.iter().map(|d| d.count).sum();
    json!({ "drops": map, "total": total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_control::{Endpoint, EndpointTraffic};

    #[test]
    fn endpoints_with_counters() {
        let d = DatapathEndpoint {
            endpoint: Endpoint {
                container_id: "c1".into(),
                ifname: "eth0".into(),
                netns: "/var/run/netns/p".into(),
                host_ifname: "tern0123456789a".into(),
                host_ifindex: 9,
                pod_mac: "02:00:00:00:00:01".into(),
                host_mac: "02:00:00:00:00:02".into(),
                addresses: vec!["10.244.1.2/32".parse().unwrap()],
                mtu: 1450,
                namespace: None,
                network: None,
                vrf: None,
            },
            id: Some(3),
            attached: true,
            counters: EndpointTraffic {
                from_pod_packets: 5,
                from_pod_bytes: 500,
                to_pod_packets: 4,
                to_pod_bytes: 400,
            },
            mtu_too_big: false,
        };
        let d2 = d.clone();
        let t = endpoints_text(std::slice::from_ref(&d));
        assert!(t.contains("tern0123456789a  3"), "{t}");
        assert!(t.contains("10.244.1.2/32"), "{t}");
        let j = endpoints_json(&[d]);
        assert_eq!(j["endpoints"][0]["containerId"], "c1");
        assert_eq!(j["endpoints"][0]["counters"]["toPodBytes"], 400);
        assert_eq!(j["endpoints"][0]["endpointId"], 3);
        let mut big = d2;
        big.mtu_too_big = true;
        let t = endpoints_text(&[big]);
        assert!(t.contains(" 1450! ") && t.contains("! MTU above"), "{t}");
    }

    #[test]
    fn drops_and_datapath() {
        let drops = vec![
            NamedCount {
                name: "no-route".into(),
                count: 2,
            },
            NamedCount {
                name: "wrong-vni".into(),
                count: 0,
            },
        ];
        assert!(drops_text(&drops).starts_with("Dropped packets: 2\n"));
        assert_eq!(drops_json(&drops)["drops"]["no-route"], 2);
        assert!(datapath_text(&DatapathInfo::default()).starts_with("Datapath: none"));
        let i = DatapathInfo {
            mode: Some("vxlan".into()),
            pod_mtu: 1430,
            ..Default::default()
        };
        assert!(datapath_text(&i).contains("Pod MTU: 1430"));
        assert_eq!(datapath_json(&i)["podMtu"], 1430);
        let i = DatapathInfo {
            mode: Some("geneve".into()),
            trusted_sources: vec![
                "192.0.2.3/32".parse().unwrap(),
                "198.51.100.0/24".parse().unwrap(),
            ],
            ..Default::default()
        };
        let t = datapath_text(&i);
        assert!(
            t.contains("  Trusted tunnel sources: 2\n    192.0.2.3/32\n    198.51.100.0/24\n"),
            "{t}"
        );
        assert_eq!(datapath_json(&i)["trustedSources"][1], "198.51.100.0/24");
        let i = DatapathInfo {
            mode: Some("native".into()),
            uplink: Some("eth1".into()),
            xdp: "auto".into(),
            xdp_mode: Some("native".into()),
            ..Default::default()
        };
        assert!(datapath_text(&i).contains("XDP: auto, attached (native) on eth1"));
        assert_eq!(datapath_json(&i)["xdp"]["attached"], true);
        assert_eq!(datapath_json(&i)["xdp"]["mode"], "native");
        assert!(
            !datapath_text(&i).contains("SRv6"),
            "no SRv6 part without SRv6"
        );
        let sid: std::net::Ipv6Addr = "fc00:0:1:1::".parse().unwrap();
        let i = DatapathInfo {
            mode: Some("native".into()),
            srv6: tern_control::DatapathSrv6 {
                locators: vec!["fc00:0:1::/48".parse().unwrap()],
                sids: vec![(sid, "End.DT46".into(), 100)],
                policies: vec![(
                    100,
                    "10.240.2.2/32".parse().unwrap(),
                    vec!["fc00:0:2:1::".parse().unwrap()],
                )],
                vrf_ifaces: vec![("ternred0".into(), 100)],
            },
            ..Default::default()
        };
        let t = datapath_text(&i);
        assert!(t.contains("SRv6 locators: fc00:0:1::/48"), "{t}");
        assert!(t.contains("End.DT46  table 100"), "{t}");
        assert!(t.contains("10.240.2.2/32"), "{t}");
        assert!(t.contains("ternred0         table 100"), "{t}");
        let j = datapath_json(&i);
        assert_eq!(j["srv6"]["sids"][0]["behavior"], "End.DT46");
        assert_eq!(j["srv6"]["policies"][0]["segments"][0], "fc00:0:2:1::");
        assert_eq!(j["srv6"]["vrfInterfaces"][0]["table"], 100);
    }
}
