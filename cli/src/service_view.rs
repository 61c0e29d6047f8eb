//! `show service [NAME] [json]` and `show service conntrack [NAME] [json]`.
//! FRR has no such commands: the text is laid out like FRR's detail views
//! (a header line per object, indented facts), the JSON keys are camelCase.
use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use tern_control::services::{Conntrack, ServiceStatus};
use tern_services::{Algorithm, BackendState, ServiceKind, TrafficPolicy};

fn kind(k: ServiceKind) -> &'static str {
    match k {
        ServiceKind::LoadBalancer => "load-balancer",
        ServiceKind::ClusterIp => "cluster-ip",
    }
}

fn policy(p: TrafficPolicy) -> &'static str {
    match p {
        TrafficPolicy::Cluster => "cluster",
        TrafficPolicy::Local => "local",
    }
}

fn algorithm(a: Algorithm) -> String {
    match a {
        Algorithm::Maglev { table_size } => format!("maglev (table size {table_size})"),
        Algorithm::Random => "random".into(),
    }
}

fn state(s: BackendState) -> &'static str {
    match s {
        BackendState::Active => "active",
        BackendState::Terminating => "terminating",
        BackendState::Maintenance => "maintenance",
    }
}

/// The text of `show service`.
pub fn services_text(services: &[ServiceStatus]) -> String {
    let mut out = String::new();
    for st in services {
        let s = &st.service;
        let _ = writeln!(out, "Service {}, {}, id {}", s.name, kind(s.kind), st.id);
        let _ = writeln!(
            out,
            "  External traffic policy {}, algorithm {}, session affinity {}",
            policy(s.traffic_policy),
            algorithm(s.algorithm),
            s.affinity_timeout
                .map_or("none".to_owned(), |t| format!("client-ip ({t} s)"))
        );
        if !s.source_ranges.is_empty() {
            let r: Vec<String> = s.source_ranges.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  Source ranges: {}", r.join(", "));
        }
        for f in &st.frontends {
            let _ = writeln!(
                out,
                "  Frontend {}: {}, {}",
                f.frontend,
                if f.announced {
                    "announced"
                } else {
                    "not announced"
                },
                if f.programmed {
                    "programmed"
                } else {
                    "not programmed"
                }
            );
            if f.backends.is_empty() {
                let _ = writeln!(out, "    No backend takes new connections");
            } else {
                let _ = writeln!(out, "    New connections to: {}", f.backends.join(", "));
            }
        }
        let _ = writeln!(out, "  Backends:");
        for b in &s.backends {
            let _ = writeln!(
                out,
                "    {} port {} weight {} {}",
                b.addr,
                b.port,
                b.weight,
                state(b.state)
            );
        }
        out.push('\n');
    }
    out
}

/// The JSON of `show service`: services by name.
pub fn services_json(services: &[ServiceStatus]) -> Value {
    let mut m = Map::new();
    for st in services {
        let s = &st.service;
        m.insert(
            s.name.clone(),
            json!({
                "id": st.id,
                "type": kind(s.kind),
                "externalTrafficPolicy": policy(s.traffic_policy),
                "algorithm": match s.algorithm {
                    Algorithm::Maglev { .. } => "maglev",
                    Algorithm::Random => "random",
                },
                "tableSize": match s.algorithm {
                    Algorithm::Maglev { table_size } => Value::from(table_size),
                    Algorithm::Random => Value::Null,
                },
                "sessionAffinityTimeout": s.affinity_timeout,
                "sourceRanges": s.source_ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "frontends": st.frontends.iter().map(|f| json!({
                    "frontend": f.frontend,
                    "announced": f.announced,
                    "programmed": f.programmed,
                    "backends": f.backends,
                })).collect::<Vec<_>>(),
                "backends": s.backends.iter().map(|b| json!({
                    "address": b.addr.to_string(),
                    "port": b.port,
                    "weight": b.weight,
                    "state": state(b.state),
                })).collect::<Vec<_>>(),
            }),
        );
    }
    json!({ "services": m })
}

/// The text of `show service conntrack`.
pub fn conntrack_text(c: &Conntrack) -> String {
    let mut out = format!("Connections: {} ({} entries)\n", c.count, c.entries_total);
    if c.connections.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:<16} {:<5} {:<24} {:<24} {:<24} {:<24} {:<12} {:>8}",
        "Service", "Proto", "Client", "Frontend", "Backend", "SNAT", "State", "Expires"
    );
    for x in &c.connections {
        let _ = writeln!(
            out,
            "{:<16} {:<5} {:<24} {:<24} {:<24} {:<24} {:<12} {:>8}",
            x.service,
            x.protocol,
            x.client,
            x.frontend,
            x.backend,
            x.snat.as_deref().unwrap_or("-"),
            x.state,
            x.expires_in
        );
    }
    out
}

/// The JSON of `show service conntrack`.
pub fn conntrack_json(c: &Conntrack) -> Value {
    json!({
        "count": c.count,
        "entries": c.entries_total,
        "connections": c.connections.iter().map(|x| json!({
            "service": x.service,
            "protocol": x.protocol,
            "client": x.client,
            "frontend": x.frontend,
            "backend": x.backend,
            "snat": x.snat,
            "state": x.state,
            "expiresIn": x.expires_in,
        })).collect::<Vec<_>>(),
    })
}
