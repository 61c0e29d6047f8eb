//! `show egress-gateway [json]` and `show egress-gateway nat [json]`. FRR
//! has no egress gateway: the text follows FRR's habits (a header line per
//! object with indented facts, column tables with a header row), the JSON
//! keys are camelCase and policies are keyed by name, as FRR keys peers.
use std::{fmt::Write as _, net::IpAddr};

use serde_json::{Map, Value, json};
use tern_control::{
    NamedCount,
    egress::{EgressNat, EgressPolicy, EgressStatus, PolicyState},
};

fn state(s: PolicyState) -> &'static str {
    s.as_str()
}

fn state_key(s: PolicyState) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

fn list<T: ToString>(v: &[T]) -> String {
    if v.is_empty() {
        "-".to_owned()
    } else {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn socket(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

fn counts_line(c: &[NamedCount]) -> String {
    if c.is_empty() {
        return "-".to_owned();
    }
    c.iter()
        .map(|n| format!("{} {}", n.name, n.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn policy_text(out: &mut String, p: &EgressPolicy) {
    let _ = writeln!(
        out,
        "Policy {}, id {}, {}",
        p.name,
        p.policy_id,
        state(p.state)
    );
    let _ = writeln!(out, "  Match sources: {}", list(&p.match_sources));
    let _ = writeln!(out, "  Match namespaces: {}", list(&p.match_namespaces));
    let _ = writeln!(out, "  Destinations: {}", list(&p.destinations));
    let _ = writeln!(out, "  Excludes: {}", list(&p.excludes));
    for r in &p.reasons {
        let _ = writeln!(out, "  Note: {r}");
    }
    let c = &p.counts;
    let _ = writeln!(
        out,
        "  Local pods steered: {} ({} entries), SNAT entries here: {}",
        c.local_pods, c.steer_entries, c.snat_entries
    );
    if p.gateways.is_empty() {
        let _ = writeln!(out, "  No gateway");
        return;
    }
    let _ = writeln!(
        out,
        "  Gateways: {} ({} healthy)",
        p.gateways.len(),
        c.healthy_gateways
    );
    let _ = writeln!(
        out,
        "    {:<40} {:<40} {:<7} Local",
        "Node", "Egress IP", "Health"
    );
    for g in &p.gateways {
        let _ = writeln!(
            out,
            "    {:<40} {:<40} {:<7} {}",
            g.node.to_string(),
            g.egress_ip.to_string(),
            if g.healthy { "up" } else { "down" },
            if g.local { "yes" } else { "no" }
        );
    }
}

/// The text of `show egress-gateway`.
pub fn status_text(s: &EgressStatus) -> String {
    let mut out = String::new();
    let dp = match (s.datapath, s.programmed) {
        (false, _) => "datapath not running",
        (true, true) => "datapath programmed",
        (true, false) => "datapath not programmed",
    };
    let _ = writeln!(out, "Egress gateway policies: {} ({dp})", s.policies.len());
    if let Some(e) = &s.last_error {
        let _ = writeln!(out, "Last error: {e}");
    }
    out.push('\n');
    for p in &s.policies {
        policy_text(&mut out, p);
        out.push('\n');
    }
    if !s.steering.is_empty() {
        let _ = writeln!(out, "Steering of local pods:");
        let _ = writeln!(
            out,
            "  {:<40} {:<16} {:<20} {:<44} Egress IPs",
            "Pod", "Namespace", "Policy", "Destination"
        );
        for e in &s.steering {
            let via = if e.excluded {
                "excluded".to_owned()
            } else if e.egress_ips.is_empty() {
                "none healthy (dropped)".to_owned()
            } else {
                list(&e.egress_ips)
            };
            let _ = writeln!(
                out,
                "  {:<40} {:<16} {:<20} {:<44} {}",
                e.pod.to_string(),
                e.namespace.as_deref().unwrap_or("-"),
                e.policy,
                e.destination.to_string(),
                via
            );
        }
        out.push('\n');
    }
    if !s.snat.is_empty() {
        let _ = writeln!(out, "SNAT on this node:");
        let _ = writeln!(
            out,
            "  {:<20} {:<40} {:<30} Destinations",
            "Policy", "Egress IP", "Sources"
        );
        for e in &s.snat {
            let _ = writeln!(
                out,
                "  {:<20} {:<40} {:<30} {}",
                e.policy,
                e.egress_ip.to_string(),
                list(&e.sources),
                list(&e.destinations)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Egress IPs announced: {}", list(&s.announced));
    let t = &s.nat.timeouts;
    let _ = writeln!(
        out,
        "NAT port range {}-{}, timeouts: tcp-syn {} s, tcp-established {} s, tcp-closing {} s, other {} s",
        s.nat.ports.min, s.nat.ports.max, t.tcp_syn, t.tcp_established, t.tcp_closing, t.other
    );
    if s.datapath {
        let _ = writeln!(out, "Drops: {}", counts_line(&s.drops));
        let _ = writeln!(out, "Packets: {}", counts_line(&s.paths));
    }
    out
}

fn named_counts(c: &[NamedCount]) -> Value {
    let m: Map<String, Value> = c.iter().map(|n| (n.name.clone(), json!(n.count))).collect();
    Value::Object(m)
}

/// The JSON of `show egress-gateway`: policies by name.
pub fn status_json(s: &EgressStatus) -> Value {
    let mut policies = Map::new();
    for p in &s.policies {
        policies.insert(
            p.name.clone(),
            json!({
                "policyId": p.policy_id,
                "state": state_key(p.state),
                "reasons": p.reasons,
                "matchSources": p.match_sources.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "matchNamespaces": p.match_namespaces,
                "destinations": p.destinations.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "excludes": p.excludes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "gateways": p.gateways.iter().map(|g| json!({
                    "node": g.node.to_string(),
                    "egressIp": g.egress_ip.to_string(),
                    "healthy": g.healthy,
                    "local": g.local,
                })).collect::<Vec<_>>(),
                "counts": serde_json::to_value(p.counts).unwrap_or(Value::Null),
            }),
        );
    }
    let t = &s.nat.timeouts;
    json!({
        "policies": policies,
        "steering": s.steering.iter().map(|e| json!({
            "pod": e.pod.to_string(),
            "namespace": e.namespace,
            "policy": e.policy,
            "destination": e.destination.to_string(),
            "excluded": e.excluded,
            "egressIps": e.egress_ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "snat": s.snat.iter().map(|e| json!({
            "policy": e.policy,
            "egressIp": e.egress_ip.to_string(),
            "sources": e.sources.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "destinations": e.destinations.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "announced": s.announced.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "nat": {
            "portMin": s.nat.ports.min,
            "portMax": s.nat.ports.max,
            "timeouts": {
                "tcpSyn": t.tcp_syn,
                "tcpEstablished": t.tcp_established,
                "tcpClosing": t.tcp_closing,
                "other": t.other,
            },
        },
        "datapath": s.datapath,
        "programmed": s.programmed,
        "lastError": s.last_error,
        "drops": named_counts(&s.drops),
        "paths": named_counts(&s.paths),
    })
}

/// The text of `show egress-gateway nat`.
pub fn nat_text(n: &EgressNat) -> String {
    let mut out = format!("NAT entries: {}\n", n.count);
    if n.entries.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:<20} {:<5} {:<46} {:<46} {:<46} {:<12} {:>8}",
        "Policy", "Proto", "Source", "Egress", "Destination", "State", "Expires"
    );
    for e in &n.entries {
        let _ = writeln!(
            out,
            "{:<20} {:<5} {:<46} {:<46} {:<46} {:<12} {:>8}",
            e.policy,
            e.protocol,
            socket(e.source, e.source_port),
            socket(e.egress_ip, e.egress_port),
            socket(e.destination, e.destination_port),
            e.state,
            e.expires_in
        );
    }
    out
}

/// The JSON of `show egress-gateway nat`: `{"entries": [...], "count": N}`.
pub fn nat_json(n: &EgressNat) -> Value {
    serde_json::to_value(n).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_control::egress::{
        GatewayStatus, NatConfig, NatEntry, PolicyCounts, SnatView, SteeredPod,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sample() -> EgressStatus {
        EgressStatus {
            policies: vec![EgressPolicy {
                name: "legacy-db".into(),
                policy_id: 4242,
                state: PolicyState::Active,
                reasons: vec![],
                match_sources: vec![],
                match_namespaces: vec!["finance".into()],
                destinations: vec!["192.0.2.128/25".parse().unwrap()],
                excludes: vec!["192.0.2.200/32".parse().unwrap()],
                gateways: vec![
                    GatewayStatus {
                        node: ip("198.51.100.12"),
                        egress_ip: ip("203.0.113.10"),
                        healthy: true,
                        local: false,
                    },
                    GatewayStatus {
                        node: ip("198.51.100.13"),
                        egress_ip: ip("203.0.113.11"),
                        healthy: false,
                        local: true,
                    },
                ],
                counts: PolicyCounts {
                    match_namespaces: 1,
                    destinations: 1,
                    excludes: 1,
                    gateways: 2,
                    healthy_gateways: 1,
                    local_pods: 1,
                    steer_entries: 2,
                    snat_entries: 1,
                    ..PolicyCounts::default()
                },
            }],
            steering: vec![SteeredPod {
                pod: ip("10.244.1.5"),
                namespace: Some("finance".into()),
                policy: "legacy-db".into(),
                destination: "192.0.2.128/25".parse().unwrap(),
                excluded: false,
                egress_ips: vec![ip("203.0.113.10")],
            }],
            snat: vec![SnatView {
                policy: "legacy-db".into(),
                egress_ip: ip("203.0.113.11"),
                sources: vec!["0.0.0.0/0".parse().unwrap()],
                destinations: vec!["192.0.2.128/25".parse().unwrap()],
            }],
            announced: vec![],
            nat: NatConfig::default(),
            datapath: true,
            programmed: true,
            last_error: None,
            drops: vec![NamedCount {
                name: "egress-no-gateway".into(),
                count: 3,
            }],
            paths: vec![NamedCount {
                name: "egress-steer".into(),
                count: 7,
            }],
        }
    }

    #[test]
    fn status_text_and_json() {
        let s = sample();
        let t = status_text(&s);
        assert!(
            t.starts_with("Egress gateway policies: 1 (datapath programmed)\n"),
            "{t}"
        );
        assert!(t.contains("Policy legacy-db, id 4242, active\n"), "{t}");
        assert!(t.contains("  Match namespaces: finance\n"), "{t}");
        assert!(t.contains("  Gateways: 2 (1 healthy)\n"), "{t}");
        let row = format!(
            "    {:<40} {:<40} {:<7} yes\n",
            "198.51.100.13", "203.0.113.11", "down"
        );
        assert!(t.contains(&row), "{t}");
        assert!(t.contains("Egress IPs announced: -\n"), "{t}");
        assert!(t.contains("Drops: egress-no-gateway 3\n"), "{t}");
        let j = status_json(&s);
        let p = &j["policies"]["legacy-db"];
        assert_eq!(p["policyId"], 4242);
        assert_eq!(p["state"], "active");
        assert_eq!(p["matchNamespaces"][0], "finance");
        assert_eq!(p["gateways"][1]["egressIp"], "203.0.113.11");
        assert_eq!(p["gateways"][1]["healthy"], false);
        assert_eq!(p["counts"]["healthyGateways"], 1);
        assert_eq!(j["steering"][0]["egressIps"][0], "203.0.113.10");
        assert_eq!(j["snat"][0]["sources"][0], "0.0.0.0/0");
        assert_eq!(j["nat"]["portMin"], 1024);
        assert_eq!(j["nat"]["timeouts"]["tcpEstablished"], 21600);
        assert_eq!(j["drops"]["egress-no-gateway"], 3);
        assert_eq!(j["paths"]["egress-steer"], 7);
    }

    #[test]
    fn nat_text_and_json() {
        let n = EgressNat {
            entries: vec![NatEntry {
                policy: "legacy-db".into(),
                protocol: "tcp".into(),
                source: ip("10.244.1.5"),
                source_port: 40000,
                egress_ip: ip("203.0.113.10"),
                egress_port: 1234,
                destination: ip("192.0.2.130"),
                destination_port: 5432,
                state: "established".into(),
                expires_in: 21599,
            }],
            count: 1,
        };
        let j = nat_json(&n);
        assert_eq!(
            j,
            json!({"entries":[{"policy":"legacy-db","protocol":"tcp",
                "source":"10.244.1.5","sourcePort":40000,"egressIp":"203.0.113.10",
                "egressPort":1234,"destination":"192.0.2.130","destinationPort":5432,
                "state":"established","expiresIn":21599}],"count":1})
        );
        let t = nat_text(&n);
        assert!(t.starts_with("NAT entries: 1\nPolicy "), "{t}");
        assert!(t.contains("10.244.1.5:40000"), "{t}");
        assert!(t.contains("203.0.113.10:1234"), "{t}");
        assert_eq!(nat_text(&EgressNat::default()), "NAT entries: 0\n");
    }
}
