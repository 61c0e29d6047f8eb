//! Renderers for `show datapath endpoints [json]`: the pod endpoints that
//! tern-cni registered with ternd.
use std::fmt::Write as _;

use serde_json::{Value, json};
use tern_control::Endpoint;

/// The table: one line per pod interface.
pub fn endpoints_text(list: &[Endpoint]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Endpoints: {}", list.len());
    if list.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:<24} {:<8} {:<16} {:<8} {:<18} {:<6} Addresses",
        "Container", "IfName", "Host veth", "Ifindex", "Pod MAC", "MTU"
    );
    for e in list {
        // Docker-style ids are 64 hex digits: the first 24 tell them apart.
        let short: String = e.container_id.chars().take(24).collect();
        let addrs: Vec<String> = e.addresses.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "{:<24} {:<8} {:<16} {:<8} {:<18} {:<6} {}",
            short,
            e.ifname,
            e.host_ifname,
            e.host_ifindex,
            e.pod_mac,
            e.mtu,
            addrs.join(" ")
        );
    }
    out
}

/// JSON with camelCase keys, as FRR names its JSON fields.
pub fn endpoints_json(list: &[Endpoint]) -> Value {
    let eps: Vec<Value> = list
        .iter()
        .map(|e| {
            let addrs: Vec<String> = e.addresses.iter().map(ToString::to_string).collect();
            json!({
                "containerId": e.container_id,
                "ifname": e.ifname,
                "netns": e.netns,
                "hostIfname": e.host_ifname,
                "hostIfindex": e.host_ifindex,
                "podMac": e.pod_mac,
                "hostMac": e.host_mac,
                "addresses": addrs,
                "mtu": e.mtu,
                "namespace": e.namespace,
            })
        })
        .collect();
    json!({ "endpoints": eps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json() {
        let e = Endpoint {
            container_id: "0123456789abcdef".into(),
            ifname: "eth0".into(),
            netns: "/var/run/netns/p".into(),
            host_ifname: "tern0123456789a".into(),
            host_ifindex: 9,
            pod_mac: "02:00:00:00:00:01".into(),
            host_mac: "02:00:00:00:00:02".into(),
            addresses: vec![
                "10.244.1.2/32".parse().unwrap(),
                "fd00::2/128".parse().unwrap(),
            ],
            mtu: 1450,
            namespace: Some("finance".into()),
            network: None,
            vrf: None,
        };
        let t = endpoints_text(std::slice::from_ref(&e));
        assert!(t.starts_with("Endpoints: 1\n"), "{t}");
        assert!(
            t.contains("0123456789abcdef         eth0     tern0123456789a  9"),
            "{t}"
        );
        assert!(t.contains("10.244.1.2/32 fd00::2/128"), "{t}");
        let j = endpoints_json(&[e]);
        assert_eq!(j["endpoints"][0]["hostIfindex"], 9);
        assert_eq!(j["endpoints"][0]["addresses"][1], "fd00::2/128");
        assert_eq!(j["endpoints"][0]["namespace"], "finance");
        assert_eq!(endpoints_text(&[]), "Endpoints: 0\n");
    }
}
