//! `show bgp ipv4|ipv6 vpn [rd RD] [PREFIX] [json]` as FRR 8.4's bgpd
//! (Debian's build, with VNC) prints them: the table by route
//! distinguisher, each path followed by its `UN=` line (next hop, route
//! targets, label, SID and SID structure, route type), "Displayed  N
//! routes"; one prefix in detail with its RD, "not allocated" (the local
//! label), and each path's remote label and SID. The JSON nests the routes
//! under `routeDistinguishers`, and the detail under the RD.
use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use tern_control::{BgpFamily, BgpPath, BgpTable, VpnTable};

use crate::bgp_table::{header, path_json, route_detail_json, route_detail_text, row_shown};

/// FRR 8.4's answer when there is no `router bgp`.
const NO_INSTANCE: &str = "Default BGP instance not found";

/// The unicast family whose next hops a VPN family's prefixes have.
fn family(ipv6: bool) -> BgpFamily {
    if ipv6 {
        BgpFamily::Ipv6Unicast
    } else {
        BgpFamily::Ipv4Unicast
    }
}

/// The header line's fields, as the unicast table prints them.
fn header_of(t: &VpnTable) -> BgpTable {
    BgpTable {
        configured: t.configured,
        router_id: t.router_id.clone(),
        local_as: t.local_as,
        local_hostname: t.local_hostname.clone(),
        table_version: t.table_version,
        routes: Vec::new(),
        hide_hostnames: t.hide_hostnames,
    }
}

/// A route target as FRR's VNC line prints it: without the `RT:` tag.
fn ec_text(ec: &str) -> &str {
    ec.strip_prefix("RT:").unwrap_or(ec)
}

/// The second line of a VPN path: `UN=` the next hop (the unspecified
/// address for a local one), the extended communities, label, SID and SID
/// structure, and FRR's route type and subtype (5: a route exported from
/// a VRF; 0: received).
fn un_line(p: &BgpPath, out: &mut String) {
    let Some(v) = &p.vpn else {
        return;
    };
    let ecs: Vec<&str> = p.extended_communities.iter().map(|e| ec_text(e)).collect();
    let _ = write!(
        out,
        "    UN={} EC{{{}}} label={}",
        p.next_hop,
        ecs.join(" "),
        v.label
    );
    if let Some(sid) = &v.sid {
        let _ = write!(out, " sid={sid}");
        if let Some([b, n, f, a]) = v.sid_structure {
            let _ = write!(out, " sid_structure=[{b},{n},{f},{a}]");
        }
    }
    let subtype = if v.vrf.is_some() { 5 } else { 0 };
    let _ = writeln!(out, " type=bgp, subtype={subtype}");
}

/// `show bgp ipv4|ipv6 vpn [rd RD]`.
pub fn vpn_text(t: &VpnTable) -> String {
    if !t.configured {
        return format!("{NO_INSTANCE}\n");
    }
    let routes: usize = t.rds.iter().map(|d| d.routes.len()).sum();
    if routes == 0 {
        return "No BGP prefixes displayed, 0 exist\n".to_owned();
    }
    let paths: usize = t
        .rds
        .iter()
        .flat_map(|d| &d.routes)
        .map(|r| r.paths.len())
        .sum();
    let host = t.local_hostname.as_deref();
    let mut out = String::new();
    header(&header_of(t), &mut out);
    for d in &t.rds {
        let _ = writeln!(out, "Route Distinguisher: {}", d.rd);
        for r in &d.routes {
            for (i, p) in r.paths.iter().enumerate() {
                row_shown(r, p, i == 0, host, t.hide_hostnames, &mut out);
                un_line(p, &mut out);
            }
        }
    }
    let _ = writeln!(out, "\nDisplayed  {routes} routes and {paths} total paths");
    out
}

/// `show bgp ipv4|ipv6 vpn [rd RD] json`.
pub fn vpn_json(t: &VpnTable, ipv6: bool) -> Value {
    if !t.configured {
        return json!({ "warning": NO_INSTANCE });
    }
    let host = t.local_hostname.as_deref();
    let mut rds = Map::new();
    for d in &t.rds {
        let mut routes = Map::new();
        for r in &d.routes {
            let paths: Vec<Value> = r
                .paths
                .iter()
                .map(|p| vpn_path_json(r, p, ipv6, host))
                .collect();
            routes.insert(r.prefix.to_string(), Value::Array(paths));
        }
        rds.insert(d.rd.clone(), Value::Object(routes));
    }
    json!({
        "vrfId": 0,
        "vrfName": "default",
        "tableVersion": t.table_version,
        "routerId": t.router_id,
        "defaultLocPrf": 100,
        "localAS": t.local_as,
        "routes": { "routeDistinguishers": Value::Object(rds) },
    })
}

/// A path of the table's JSON: the unicast keys, and for a local path
/// FRR's `announceNexthopSelf`, `nhVrfName` and `nhVrfId` before the next
/// hops.
fn vpn_path_json(r: &tern_control::BgpRoute, p: &BgpPath, ipv6: bool, host: Option<&str>) -> Value {
    let Value::Object(mut o) = path_json(r, p, family(ipv6), host) else {
        return Value::Null;
    };
    if let Some(v) = &p.vpn
        && let Some(name) = &v.vrf
    {
        let nexthops = o.remove("nexthops");
        o.insert("announceNexthopSelf".into(), json!(true));
        o.insert("nhVrfName".into(), json!(name));
        o.insert("nhVrfId".into(), json!(v.vrf_id.map_or(-1, i64::from)));
        if let Some(n) = nexthops {
            o.insert("nexthops".into(), n);
        }
    }
    Value::Object(o)
}

/// `show bgp ipv4|ipv6 vpn [rd RD] PREFIX`: the prefix of each RD that has
/// it, in detail; FRR's "% Network not in table" when none has.
pub fn vpn_detail_text(t: &VpnTable) -> String {
    if !t.configured {
        return format!("{NO_INSTANCE}\n");
    }
    let host = t.local_hostname.as_deref();
    let mut out = String::new();
    for d in &t.rds {
        for r in &d.routes {
            route_detail_text(r, host, Some(&d.rd), &mut out);
        }
    }
    if out.is_empty() {
        return "% Network not in table\n".to_owned();
    }
    out
}

/// `show bgp ipv4|ipv6 vpn [rd RD] PREFIX json`: the detail of each RD
/// under its RD; `{}` when none has the prefix.
pub fn vpn_detail_json(t: &VpnTable, ipv6: bool) -> Value {
    if !t.configured {
        return json!({ "warning": NO_INSTANCE });
    }
    let host = t.local_hostname.as_deref();
    let mut o = Map::new();
    for d in &t.rds {
        if let Some(r) = d.routes.first() {
            o.insert(d.rd.clone(), route_detail_json(r, family(ipv6), host));
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_control::{BgpRoute, VpnPathInfo, VpnRdRoutes};

    /// node1 exports 10.1.0.0/24 from VRF red (table 10) and has node2's
    /// 10.2.0.0/24, as the SRv6 lab has them.
    fn table() -> VpnTable {
        let local = BgpPath {
            best: true,
            valid: true,
            local: true,
            peer_router_id: "10.255.0.1".into(),
            next_hop: "0.0.0.0".into(),
            weight: 32768,
            origin: "IGP".into(),
            extended_communities: vec!["RT:65000:1".into()],
            vpn: Some(VpnPathInfo {
                label: 4096,
                sid: Some("fc00:0:1::".into()),
                sid_structure: Some([40, 24, 16, 0]),
                vrf: Some("red".into()),
                vrf_id: Some(10),
            }),
            ..BgpPath::default()
        };
        let received = BgpPath {
            best: true,
            valid: true,
            peer: Some("192.0.2.1".into()),
            peer_router_id: "10.255.0.2".into(),
            next_hop: "192.0.2.1".into(),
            med: Some(0),
            origin: "incomplete".into(),
            as_path: "65002".into(),
            as_path_length: 1,
            from_as: 65002,
            extended_communities: vec!["RT:65000:1".into()],
            vpn: Some(VpnPathInfo {
                label: 4096,
                sid: Some("fc00:0:2::".into()),
                sid_structure: Some([40, 24, 16, 0]),
                vrf: None,
                vrf_id: None,
            }),
            ..BgpPath::default()
        };
        let route = |prefix: &str, p: BgpPath| BgpRoute {
            prefix: prefix.parse().unwrap(),
            version: 1,
            paths: vec![p],
            advertised_to: vec![("192.0.2.1".into(), None)],
        };
        VpnTable {
            configured: true,
            router_id: "10.255.0.1".into(),
            local_as: 65001,
            local_hostname: None,
            table_version: 2,
            rds: vec![
                VpnRdRoutes {
                    rd: "65001:1".into(),
                    routes: vec![route("10.1.0.0/24", local)],
                },
                VpnRdRoutes {
                    rd: "65002:1".into(),
                    routes: vec![route("10.2.0.0/24", received)],
                },
            ],
            hide_hostnames: true,
        }
    }

    #[test]
    fn table_text_is_frrs() {
        // FRR 8.4's rows for the same routes (its local path also has
        // metric 0 and origin incomplete, from `redistribute static`).
        let want = "\
BGP table version is 2, local router ID is 10.255.0.1, vrf id 0
Default local pref 100, local AS 65001
Status codes:  s suppressed, d damped, h history, * valid, > best, = multipath,
               i internal, r RIB-failure, S Stale, R Removed
Nexthop codes: @NNN nexthop's vrf id, < announce-nh-self
Origin codes:  i - IGP, e - EGP, ? - incomplete
RPKI validation codes: V valid, I invalid, N Not found

   Network          Next Hop            Metric LocPrf Weight Path
Route Distinguisher: 65001:1
*> 10.1.0.0/24      0.0.0.0@10<                        32768 i
    UN=0.0.0.0 EC{65000:1} label=4096 sid=fc00:0:1:: sid_structure=[40,24,16,0] type=bgp, subtype=5
Route Distinguisher: 65002:1
*> 10.2.0.0/24      192.0.2.1                0             0 65002 ?
    UN=192.0.2.1 EC{65000:1} label=4096 sid=fc00:0:2:: sid_structure=[40,24,16,0] type=bgp, subtype=0

Displayed  2 routes and 2 total paths
";
        assert_eq!(vpn_text(&table()), want);
    }

    #[test]
    fn table_json_nests_routes_under_route_distinguishers() {
        let v = vpn_json(&table(), false);
        let rds = &v["routes"]["routeDistinguishers"];
        let local = &rds["65001:1"]["10.1.0.0/24"][0];
        assert_eq!(local["nhVrfName"], "red");
        assert_eq!(local["nhVrfId"], 10);
        assert_eq!(local["announceNexthopSelf"], true);
        assert_eq!(local["peerId"], "(unspec)");
        let keys: Vec<&String> = local.as_object().unwrap().keys().collect();
        let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        assert!(at("origin") < at("announceNexthopSelf") && at("nhVrfId") < at("nexthops"));
        let got = &rds["65002:1"]["10.2.0.0/24"][0];
        assert_eq!(got["peerId"], "192.0.2.1");
        assert_eq!(got["path"], "65002");
        assert_eq!(got["metric"], 0);
        assert_eq!(v["tableVersion"], 2);
    }

    #[test]
    fn detail_text_is_frrs() {
        let mut t = table();
        t.rds.remove(0);
        let text = vpn_detail_text(&t);
        let want = "\
BGP routing table entry for 65002:1:10.2.0.0/24, version 1
not allocated
Paths: (1 available, best #1)
  Advertised to non peer-group peers:
  192.0.2.1
  65002
    192.0.2.1 from 192.0.2.1 (10.255.0.2)
      Origin incomplete, metric 0, valid, external, best (First path received)
      Extended Community: RT:65000:1
      Remote label: 4096
      Remote SID: fc00:0:2::
";
        assert_eq!(text, want);
        let mut t = table();
        t.rds.truncate(1);
        let text = vpn_detail_text(&t);
        assert!(
            text.contains(
                "    0.0.0.0 from 0.0.0.0 (10.255.0.1) vrf red(10) announce-nh-self\n\
                 \x20     Origin IGP, weight 32768, valid, sourced, local, best (First path received)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn detail_json_is_keyed_by_rd() {
        let v = vpn_detail_json(&table(), false);
        let p = &v["65002:1"]["paths"][0];
        assert_eq!(v["65002:1"]["prefix"], "10.2.0.0/24");
        assert_eq!(p["remoteLabel"], 4096);
        assert_eq!(p["remoteSid"], "fc00:0:2::");
        assert!(p["bestpath"].get("bestpathFromAs").is_none(), "{p}");
        assert_eq!(v["65001:1"]["paths"][0]["nhVrfName"], "red");
        let empty = VpnTable {
            configured: true,
            ..VpnTable::default()
        };
        assert_eq!(vpn_detail_json(&empty, false), json!({}));
        assert_eq!(vpn_detail_text(&empty), "% Network not in table\n");
        assert_eq!(vpn_text(&empty), "No BGP prefixes displayed, 0 exist\n");
    }
}
