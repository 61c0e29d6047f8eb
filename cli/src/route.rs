//! `show ip route [json]` and `show ipv6 route [json]` as FRR 8.4's zebra
//! prints them, for the kernel's main table as ternd reads it: the codes
//! legend, `B>*` for Tern's BGP routes (protocol 202), `C>*` connected,
//! `K>*` kernel, `S>*` static, ECMP next hops on continuation lines, and
//! zebra's JSON keys. Every route listed is in the kernel, so each is
//! selected and installed. The kernel keeps no route age: zebra's trailing
//! uptime is shown for Tern's BGP routes (the age of their best path, as
//! ternd knows it) and not for the others; zebra's internal flags and
//! nexthop-group ids are not shown.
use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use tern_control::FibRoute;

const CODES_V4: &str = "Codes: K - kernel route, C - connected, S - static, R - RIP,
       O - OSPF, I - IS-IS, B - BGP, E - EIGRP, N - NHRP,
       T - Table, v - VNC, V - VNC-Direct, A - Babel, F - PBR,
       f - OpenFabric,
       > - selected route, * - FIB route, q - queued, r - rejected, b - backup
       t - trapped, o - offload failure

";

const CODES_V6: &str = "Codes: K - kernel route, C - connected, S - static, R - RIPng,
       O - OSPFv3, I - IS-IS, B - BGP, N - NHRP, T - Table,
       v - VNC, V - VNC-Direct, A - Babel, F - PBR,
       f - OpenFabric,
       > - selected route, * - FIB route, q - queued, r - rejected, b - backup
       t - trapped, o - offload failure

";

fn code(protocol: &str) -> char {
    match protocol {
        "bgp" => 'B',
        "connected" => 'C',
        "static" => 'S',
        _ => 'K',
    }
}

/// The text of `show ip route` (`ipv6` false) or `show ipv6 route`.
pub fn routes_text(routes: &[FibRoute], ipv6: bool) -> String {
    let mut out = String::from(if ipv6 { CODES_V6 } else { CODES_V4 });
    rows_text(routes, &mut out);
    out
}

/// The rows of `routes`, appended to `out`.
fn rows_text(routes: &[FibRoute], out: &mut String) {
    for r in routes {
        let connected = r.protocol == "connected";
        let mut first = format!("{}>* {}", code(&r.protocol), r.prefix);
        if !connected {
            let _ = write!(first, " [{}/{}]", r.distance, r.metric);
        }
        let indent = first.len();
        if r.blackhole {
            // zebra's words for a route that drops (static Null0).
            out.push_str(&first);
            out.push_str(" unreachable (blackhole)");
            if r.protocol == "static" {
                out.push_str(", weight 1");
            }
            if let Some(up) = r.uptime_secs {
                let _ = write!(out, ", {}", uptime(up));
            }
            out.push('\n');
            continue;
        }
        for (i, h) in r.nexthops.iter().enumerate() {
            if i == 0 {
                out.push_str(&first);
            } else {
                // zebra lines the next hops up under the first one.
                let _ = write!(out, "  *{:width$}", "", width = indent - 3);
            }
            match &h.gateway {
                Some(g) => {
                    let _ = write!(out, " via {g}");
                    if let Some(n) = &h.ifname {
                        let _ = write!(out, ", {n}");
                    }
                }
                None => {
                    let _ = write!(
                        out,
                        " is directly connected, {}",
                        h.ifname.as_deref().unwrap_or("unknown")
                    );
                }
            }
            if !h.seg6.is_empty() {
                let segs: Vec<String> = h.seg6.iter().map(ToString::to_string).collect();
                let _ = write!(out, ", seg6 {}", segs.join(","));
            }
            if r.protocol == "bgp" || r.protocol == "static" {
                let _ = write!(out, ", weight {}", h.weight);
            }
            if let Some(up) = r.uptime_secs {
                let _ = write!(out, ", {}", uptime(up));
            }
            out.push('\n');
        }
    }
}

/// zebra's route age: "hh:mm:ss" under a day, "XdYYhZZm" under a week,
/// then "XXwYdZZh".
pub fn uptime(secs: u64) -> String {
    const DAY: u64 = 86_400;
    const WEEK: u64 = 7 * DAY;
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if secs < DAY {
        format!("{h:02}:{m:02}:{s:02}")
    } else if secs < WEEK {
        format!("{}d{h:02}h{m:02}m", secs / DAY)
    } else {
        format!("{:02}w{}d{h:02}h", secs / WEEK, secs % WEEK / DAY)
    }
}

/// The JSON of `show ip route json`: prefix -> list of routes.
pub fn routes_json(routes: &[FibRoute]) -> Value {
    let mut top = Map::new();
    for r in routes {
        let entry = route_json(r);
        match top.get_mut(&r.prefix.to_string()) {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                top.insert(r.prefix.to_string(), Value::Array(vec![entry]));
            }
        }
    }
    Value::Object(top)
}

/// `show ip route vrf NAME`: the codes, the VRF's line, its routes.
pub fn vrf_routes_text(routes: &[FibRoute], ipv6: bool, vrf: &str) -> String {
    let mut out = String::from(if ipv6 { CODES_V6 } else { CODES_V4 });
    let _ = writeln!(out, "VRF {vrf}:");
    rows_text(routes, &mut out);
    out
}

/// `show ip route vrf NAME json`: as the main table's, each route with the
/// VRF's name.
pub fn vrf_routes_json(routes: &[FibRoute], vrf: &str) -> Value {
    let mut v = routes_json(routes);
    if let Some(top) = v.as_object_mut() {
        for entry in top.values_mut().filter_map(Value::as_array_mut).flatten() {
            if let Some(o) = entry.as_object_mut() {
                o.insert("vrfName".into(), json!(vrf));
            }
        }
    }
    v
}

/// `show ip route [json]` of routes that ternd streams in prefix order,
/// the routes of one prefix never split between replies: written as they
/// come, exactly as [`routes_text`] and [`routes_json`] (pretty-printed)
/// would write the whole.
#[derive(Debug)]
pub struct RoutesStream {
    ipv6: bool,
    json: bool,
    /// Prefixes written so far (JSON).
    written: u64,
    started: bool,
    ended: bool,
}

impl RoutesStream {
    pub fn new(ipv6: bool, json: bool) -> Self {
        Self {
            ipv6,
            json,
            written: 0,
            started: false,
            ended: false,
        }
    }

    pub fn start(&mut self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.started = true;
        if !self.json {
            out.write_all(if self.ipv6 { CODES_V6 } else { CODES_V4 }.as_bytes())?;
        }
        out.flush()
    }

    pub fn routes(
        &mut self,
        routes: &[FibRoute],
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        if !self.started {
            // The whole table in one reply (a ternd that does not stream).
            self.start(out)?;
        }
        let mut s = String::new();
        if !self.json {
            rows_text(routes, &mut s);
        } else {
            // One prefix's entry as serde pretty-prints it one level in.
            let mut i = 0;
            while i < routes.len() {
                let prefix = routes[i].prefix;
                let mut list = Vec::new();
                while i < routes.len() && routes[i].prefix == prefix {
                    list.push(route_json(&routes[i]));
                    i += 1;
                }
                let mut one = Map::new();
                one.insert(prefix.to_string(), Value::Array(list));
                let text = serde_json::to_string_pretty(&Value::Object(one)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let inner = lines
                    .get(1..lines.len().saturating_sub(1))
                    .unwrap_or_default();
                s.push_str(if self.written == 0 { "{\n" } else { ",\n" });
                s.push_str(&inner.join("\n"));
                self.written += 1;
            }
        }
        out.write_all(s.as_bytes())?;
        out.flush()
    }

    pub fn end(&mut self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.ended = true;
        if self.json {
            out.write_all(if self.written == 0 { b"{}\n" } else { b"\n}\n" })?;
        }
        out.flush()
    }

    /// Closes what a stream that came as one reply left open.
    pub fn finish(&mut self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        if self.started && !self.ended {
            self.end(out)?;
        }
        Ok(())
    }
}

/// One route's object in `show ip route json`.
fn route_json(r: &FibRoute) -> Value {
    {
        let nexthops: Vec<Value> = r
            .nexthops
            .iter()
            .map(|h| {
                let mut o = Map::new();
                o.insert("flags".into(), json!(3));
                o.insert("fib".into(), json!(true));
                match &h.gateway {
                    Some(g) => {
                        o.insert("ip".into(), json!(g));
                        let afi = if g.contains(':') { "ipv6" } else { "ipv4" };
                        o.insert("afi".into(), json!(afi));
                    }
                    None => {
                        o.insert("directlyConnected".into(), json!(true));
                    }
                }
                if let Some(i) = h.ifindex {
                    o.insert("interfaceIndex".into(), json!(i));
                }
                if let Some(n) = &h.ifname {
                    o.insert("interfaceName".into(), json!(n));
                }
                o.insert("active".into(), json!(true));
                if r.protocol == "bgp" || r.protocol == "static" {
                    o.insert("weight".into(), json!(h.weight));
                }
                if !h.seg6.is_empty() {
                    let segs: Vec<String> = h.seg6.iter().map(ToString::to_string).collect();
                    o.insert("seg6".into(), json!({ "segs": segs.join(",") }));
                }
                Value::Object(o)
            })
            .collect();
        let nexthops: Vec<Value> = if r.blackhole {
            vec![json!({
                "flags": 3, "fib": true, "unreachable": true, "blackhole": true,
                "active": true, "weight": 1
            })]
        } else {
            nexthops
        };
        let mut entry = json!({
            "prefix": r.prefix.to_string(),
            "prefixLen": r.prefix.prefix_len(),
            "protocol": r.protocol,
            "vrfId": 0,
            "vrfName": "default",
            "selected": true,
            "destSelected": true,
            "distance": r.distance,
            "metric": r.metric,
            "installed": true,
            "table": r.table,
            "internalNextHopNum": r.nexthops.len(),
            "internalNextHopActiveNum": r.nexthops.len(),
            "nexthops": nexthops,
        });
        if let (Some(up), Some(o)) = (r.uptime_secs, entry.as_object_mut()) {
            o.insert("uptime".into(), json!(uptime(up)));
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_control::FibNextHop;

    fn hop(gw: Option<&str>, ifname: &str) -> FibNextHop {
        FibNextHop {
            gateway: gw.map(str::to_owned),
            ifindex: Some(2),
            ifname: Some(ifname.into()),
            weight: 1,
            seg6: Vec::new(),
        }
    }

    #[test]
    fn zebra_uptime_format() {
        assert_eq!(uptime(0), "00:00:00");
        assert_eq!(uptime(3 * 3600 + 4 * 60 + 5), "03:04:05");
        assert_eq!(uptime(86_400 + 2 * 3600 + 3 * 60), "1d02h03m");
        assert_eq!(uptime(15 * 86_400 + 5 * 3600), "02w1d05h");
    }

    #[test]
    fn zebra_rows() {
        let routes = vec![
            FibRoute {
                prefix: "10.244.1.0/24".parse().unwrap(),
                protocol: "bgp".into(),
                distance: 20,
                metric: 0,
                table: 254,
                nexthops: vec![
                    hop(Some("192.0.2.0"), "eth1"),
                    hop(Some("192.0.2.2"), "eth2"),
                ],
                uptime_secs: Some(75),
                blackhole: false,
            },
            FibRoute {
                prefix: "192.0.2.0/31".parse().unwrap(),
                protocol: "connected".into(),
                distance: 0,
                metric: 0,
                table: 254,
                nexthops: vec![hop(None, "eth1")],
                uptime_secs: None,
                blackhole: false,
            },
        ];
        let t = routes_text(&routes, false);
        assert!(t.starts_with("Codes: K - kernel route"));
        // The second next hop's "via" sits under the first one's.
        let second = format!(
            "  *{} via 192.0.2.2, eth2, weight 1, 00:01:15\n",
            " ".repeat(21)
        );
        let first = "\nB>* 10.244.1.0/24 [20/0] via 192.0.2.0, eth1, weight 1, 00:01:15\n";
        assert!(t.contains(&format!("{first}{second}")), "{t}");
        assert!(
            t.contains("\nC>* 192.0.2.0/31 is directly connected, eth1\n"),
            "{t}"
        );
        let v = routes_json(&routes);
        assert_eq!(v["10.244.1.0/24"][0]["protocol"], "bgp");
        assert_eq!(v["10.244.1.0/24"][0]["uptime"], "00:01:15");
        assert!(v["192.0.2.0/31"][0].get("uptime").is_none());
        assert_eq!(v["10.244.1.0/24"][0]["nexthops"][1]["ip"], "192.0.2.2");
        assert_eq!(
            v["192.0.2.0/31"][0]["nexthops"][0]["directlyConnected"],
            true
        );
    }

    /// Static routes as FRR 8.4.4's zebra printed the same lines.
    #[test]
    fn static_routes_and_blackholes() {
        let routes = vec![
            FibRoute {
                prefix: "192.0.2.64/26".parse().unwrap(),
                protocol: "static".into(),
                distance: 30,
                metric: 0,
                table: 254,
                nexthops: Vec::new(),
                uptime_secs: None,
                blackhole: true,
            },
            FibRoute {
                prefix: "192.0.2.96/27".parse().unwrap(),
                protocol: "static".into(),
                distance: 15,
                metric: 0,
                table: 254,
                nexthops: vec![hop(Some("192.0.2.0"), "eth1")],
                uptime_secs: None,
                blackhole: false,
            },
        ];
        let t = routes_text(&routes, false);
        assert!(
            t.contains("\nS>* 192.0.2.64/26 [30/0] unreachable (blackhole), weight 1\n"),
            "{t}"
        );
        assert!(
            t.contains("\nS>* 192.0.2.96/27 [15/0] via 192.0.2.0, eth1, weight 1\n"),
            "{t}"
        );
        let v = routes_json(&routes);
        let hole = &v["192.0.2.64/26"][0]["nexthops"][0];
        assert_eq!(hole["blackhole"], true);
        assert_eq!(hole["unreachable"], true);
        assert_eq!(v["192.0.2.96/27"][0]["nexthops"][0]["weight"], 1);
        assert_eq!(v["192.0.2.96/27"][0]["distance"], 15);
    }

    #[test]
    fn a_streamed_table_reads_as_the_whole_one() {
        let route = |prefix: &str, protocol: &str, gw: Option<&str>| FibRoute {
            prefix: prefix.parse().unwrap(),
            protocol: protocol.into(),
            distance: 0,
            metric: 0,
            table: 254,
            nexthops: vec![hop(gw, "eth1")],
            uptime_secs: None,
            blackhole: false,
        };
        // Two routes of one prefix (connected and kernel) stay together.
        let routes = vec![
            route("10.0.0.0/24", "kernel", Some("192.0.2.9")),
            route("192.0.2.0/31", "connected", None),
            route("192.0.2.0/31", "kernel", Some("192.0.2.1")),
            route("203.0.113.0/24", "bgp", Some("192.0.2.0")),
        ];
        let stream = |json: bool, chunks: &[&[FibRoute]]| {
            let mut out = Vec::new();
            let mut s = RoutesStream::new(false, json);
            s.start(&mut out).unwrap();
            for c in chunks {
                s.routes(c, &mut out).unwrap();
            }
            s.end(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        for chunks in [
            vec![&routes[..]],
            vec![&routes[..1], &routes[1..3], &routes[3..]],
        ] {
            assert_eq!(stream(false, &chunks), routes_text(&routes, false));
            assert_eq!(
                stream(true, &chunks),
                crate::render::pretty(&routes_json(&routes))
            );
        }
        assert_eq!(stream(true, &[]), crate::render::pretty(&routes_json(&[])));
        assert_eq!(stream(false, &[]), routes_text(&[], false));
    }

    #[test]
    fn a_vrfs_table_with_an_srv6_route() {
        let pod = FibRoute {
            prefix: "10.240.1.2/32".parse().unwrap(),
            protocol: "kernel".into(),
            distance: 0,
            metric: 0,
            table: 100,
            nexthops: vec![hop(None, "tern0123456789a")],
            uptime_secs: None,
            blackhole: false,
        };
        let remote = FibRoute {
            prefix: "10.240.2.2/32".parse().unwrap(),
            protocol: "bgp".into(),
            distance: 20,
            metric: 0,
            table: 100,
            nexthops: vec![FibNextHop {
                gateway: Some("2001:db8:0:1::1".into()),
                ifindex: None,
                ifname: None,
                weight: 1,
                seg6: vec!["fc00:0:2:1::".parse().unwrap()],
            }],
            uptime_secs: None,
            blackhole: false,
        };
        let routes = [pod, remote];
        let t = vrf_routes_text(&routes, false, "red");
        assert!(t.starts_with(CODES_V4), "{t}");
        let rows: Vec<&str> = t[CODES_V4.len()..].lines().collect();
        assert_eq!(
            rows,
            [
                "VRF red:",
                "K>* 10.240.1.2/32 [0/0] is directly connected, tern0123456789a",
                "B>* 10.240.2.2/32 [20/0] via 2001:db8:0:1::1, seg6 fc00:0:2:1::, weight 1",
            ]
        );
        let j = vrf_routes_json(&routes, "red");
        let r = &j["10.240.2.2/32"][0];
        assert_eq!(r["vrfName"], "red");
        assert_eq!(r["table"], 100);
        assert_eq!(r["nexthops"][0]["seg6"]["segs"], "fc00:0:2:1::");
        assert!(j["10.240.1.2/32"][0]["nexthops"][0].get("seg6").is_none());
    }
}
