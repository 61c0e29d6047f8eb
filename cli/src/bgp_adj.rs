//! `show ip bgp neighbors ADDR received-routes|advertised-routes [json]`
//! (and `show bgp ipv4|ipv6 unicast neighbors ...`) as FRR 8.4's bgpd
//! prints them: the legend and columns of `show ip bgp`, one `*>` row per
//! route without hostnames, "Total number of prefixes N"; in JSON the
//! header keys, `receivedRoutes` / `advertisedRoutes` by prefix,
//! `totalPrefixCounter` and `filteredPrefixCounter`; and FRR's refusals.
use serde_json::{Map, Value, json};
use tern_control::{AdjRibError, BgpFamily, BgpTable};

/// FRR's text for a list that does not exist: (text, JSON warning).
fn refusal(e: AdjRibError) -> (&'static str, &'static str) {
    match e {
        AdjRibError::NoSuchNeighbor => (
            "No such neighbor in this view/vrf",
            "No such neighbor in this view/vrf",
        ),
        AdjRibError::NotActive => (
            "% No such neighbor or address family",
            "No such neighbor or address family",
        ),
        AdjRibError::SoftReconfigurationOff => (
            "% Inbound soft reconfiguration not enabled",
            "Inbound soft reconfiguration not enabled",
        ),
    }
}

/// The text of the list (`advertised`: advertised-routes).
pub fn adj_text(t: &BgpTable, filtered: u64, error: Option<AdjRibError>) -> String {
    if let Some(e) = error {
        return format!("{}\n", refusal(e).0);
    }
    if t.routes.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    crate::bgp_table::header(t, &mut out);
    for r in &t.routes {
        if let Some(p) = r.paths.first() {
            crate::bgp_table::row(r, p, true, None, &mut out);
        }
    }
    if filtered > 0 {
        out.push_str(&format!(
            "\nTotal number of prefixes {} ({filtered} filtered)\n",
            t.routes.len()
        ));
    } else {
        out.push_str(&format!("\nTotal number of prefixes {}\n", t.routes.len()));
    }
    out
}

/// The JSON of the list.
pub fn adj_json(
    t: &BgpTable,
    family: BgpFamily,
    advertised: bool,
    filtered: u64,
    error: Option<AdjRibError>,
) -> Value {
    if let Some(e) = error {
        return json!({ "warning": refusal(e).1 });
    }
    let mut routes = Map::new();
    for r in &t.routes {
        let Some(p) = r.paths.first() else {
            continue;
        };
        let mut net = Map::new();
        net.insert("addrPrefix".into(), json!(r.prefix.addr().to_string()));
        net.insert("prefixLen".into(), json!(r.prefix.prefix_len()));
        net.insert("network".into(), json!(r.prefix.to_string()));
        let nh_key = match family {
            BgpFamily::Ipv4Unicast if !p.next_hop.contains(':') => "nextHop",
            _ => "nextHopGlobal",
        };
        net.insert(nh_key.into(), json!(p.next_hop));
        if let Some(m) = p.med {
            net.insert("metric".into(), json!(m));
        }
        if let Some(l) = p.local_pref {
            net.insert("locPrf".into(), json!(l));
        }
        net.insert("weight".into(), json!(p.weight));
        net.insert("path".into(), json!(p.as_path));
        let origin = match p.origin.as_str() {
            "IGP" => "i",
            "EGP" => "e",
            _ => "?",
        };
        net.insert("bgpOriginCode".into(), json!(origin));
        net.insert("appliedStatusSymbols".into(), json!({"*": true, ">": true}));
        routes.insert(r.prefix.to_string(), Value::Object(net));
    }
    let mut out = Map::new();
    if !t.routes.is_empty() {
        out.insert("bgpTableVersion".into(), json!(t.table_version));
        out.insert("bgpLocalRouterId".into(), json!(t.router_id));
        out.insert("defaultLocPrf".into(), json!(100));
        out.insert("localAS".into(), json!(t.local_as));
        out.insert(
            "bgpStatusCodes".into(),
            json!({
                "suppressed": "s", "damped": "d", "history": "h", "valid": "*",
                "best": ">", "multipath": "=", "internal": "i", "ribFailure": "r",
                "stale": "S", "removed": "R"
            }),
        );
        out.insert(
            "bgpOriginCodes".into(),
            json!({"igp": "i", "egp": "e", "incomplete": "?"}),
        );
    }
    let key = if advertised {
        "advertisedRoutes"
    } else {
        "receivedRoutes"
    };
    out.insert(key.into(), Value::Object(routes));
    out.insert("totalPrefixCounter".into(), json!(t.routes.len()));
    out.insert("filteredPrefixCounter".into(), json!(filtered));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_control::{BgpPath, BgpRoute};

    fn table() -> BgpTable {
        let route = |prefix: &str, nh: &str, med: Option<u32>, weight: u32, path: &str| BgpRoute {
            prefix: prefix.parse().unwrap(),
            version: 0,
            paths: vec![BgpPath {
                best: true,
                valid: true,
                next_hop: nh.into(),
                med,
                weight,
                as_path: path.into(),
                origin: "IGP".into(),
                peer_router_id: "198.51.100.1".into(),
                ..Default::default()
            }],
            advertised_to: Vec::new(),
        };
        BgpTable {
            configured: true,
            router_id: "198.51.100.12".into(),
            local_as: 65002,
            local_hostname: Some("node2".into()),
            table_version: 6,
            hide_hostnames: false,
            routes: vec![
                route("10.244.2.0/24", "0.0.0.0", Some(0), 32768, ""),
                route(
                    "172.16.9.0/24",
                    "192.0.2.2",
                    Some(0),
                    0,
                    "65000 65002 65099",
                ),
            ],
        }
    }

    #[test]
    fn text_is_frr_layout() {
        let text = adj_text(&table(), 0, None);
        // FRR 8.4.4's rows for the same routes.
        assert!(
            text.contains("\n*> 10.244.2.0/24    0.0.0.0                  0         32768 i\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n*> 172.16.9.0/24    192.0.2.2                0             0 65000 65002 65099 i\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("\n\nTotal number of prefixes 2\n"), "{text}");
        assert!(adj_text(&table(), 1, None).ends_with("prefixes 2 (1 filtered)\n"));
        assert_eq!(adj_text(&BgpTable::default(), 0, None), "");
        assert_eq!(
            adj_text(&table(), 0, Some(AdjRibError::SoftReconfigurationOff)),
            "% Inbound soft reconfiguration not enabled\n"
        );
    }

    #[test]
    fn json_keys_are_frrs() {
        let v = adj_json(&table(), BgpFamily::Ipv4Unicast, false, 0, None);
        let r = &v["receivedRoutes"]["172.16.9.0/24"];
        assert_eq!(r["nextHop"], "192.0.2.2");
        assert_eq!(r["path"], "65000 65002 65099");
        assert_eq!(r["bgpOriginCode"], "i");
        assert_eq!(r["appliedStatusSymbols"][">"], true);
        assert_eq!(v["totalPrefixCounter"], 2);
        assert_eq!(v["localAS"], 65002);
        let empty = adj_json(&BgpTable::default(), BgpFamily::Ipv4Unicast, true, 0, None);
        assert_eq!(
            empty,
            json!({"advertisedRoutes": {}, "totalPrefixCounter": 0, "filteredPrefixCounter": 0})
        );
        assert_eq!(
            adj_json(
                &table(),
                BgpFamily::Ipv4Unicast,
                false,
                0,
                Some(AdjRibError::NoSuchNeighbor)
            ),
            json!({"warning": "No such neighbor in this view/vrf"})
        );
    }
}
