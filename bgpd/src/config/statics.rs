//! Static routes, FRR's (staticd's) lines: `ip route PREFIX NEXTHOP
//! [DISTANCE]` and `ipv6 route ...`, where NEXTHOP is a gateway address,
//! an interface, both (`A.B.C.D IFNAME`), `Null0` or `blackhole`; each
//! with its `no` form. [`plan`] turns them into one kernel route per
//! prefix: the next hops of the best (lowest) distance, ECMP when there
//! are several, a blackhole when one of them is `Null0` / `blackhole`.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use tern_bgp::config::check::check_ifname;
use tern_netlink::{NextHop, StaticHops};

/// FRR's distance of a static route when the line gives none.
pub const DEFAULT_DISTANCE: u8 = 1;

/// Where a static route leads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StaticTarget {
    /// A gateway address (on a connected subnet: the kernel resolves it).
    Gateway(IpAddr),
    /// A gateway through a given interface.
    GatewayIf(IpAddr, String),
    /// Out of an interface, no gateway.
    Interface(String),
    /// `Null0`: dropped.
    Null0,
    /// `blackhole`: dropped.
    Blackhole,
}

impl StaticTarget {
    /// The words after the prefix, as FRR writes them.
    fn words(&self) -> String {
        match self {
            StaticTarget::Gateway(a) => a.to_string(),
            StaticTarget::GatewayIf(a, i) => format!("{a} {i}"),
            StaticTarget::Interface(i) => i.clone(),
            StaticTarget::Null0 => "Null0".into(),
            StaticTarget::Blackhole => "blackhole".into(),
        }
    }
}

/// The `ip route` / `ipv6 route` lines: (prefix, target) -> distance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticRoutes {
    pub routes: BTreeMap<(IpNet, StaticTarget), u8>,
}

const USAGE: &str =
    "usage: ip route PREFIX A.B.C.D|IFNAME|A.B.C.D IFNAME|Null0|blackhole [DISTANCE]";

/// FRR options of `ip route` that Tern does not implement, refused by name.
const UNSUPPORTED: &[&str] = &[
    "reject",
    "tag",
    "label",
    "table",
    "vrf",
    "nexthop-vrf",
    "onlink",
    "color",
    "segments",
];

/// Applies `[no] ip route ...` / `[no] ipv6 route ...`.
pub(super) fn apply(s: &mut StaticRoutes, words: &[&str]) -> Result<(), String> {
    let (no, v6, rest) = match words {
        ["no", "ip", "route", rest @ ..] => (true, false, rest),
        ["no", "ipv6", "route", rest @ ..] => (true, true, rest),
        ["ip", "route", rest @ ..] => (false, false, rest),
        ["ipv6", "route", rest @ ..] => (false, true, rest),
        _ => return Err(USAGE.into()),
    };
    let v = if v6 { "ipv6" } else { "ip" };
    if let Some(w) = rest.iter().find(|w| UNSUPPORTED.contains(w)) {
        return Err(format!(
            "\"{v} route ... {w}\" is not supported by Tern yet (a gateway, an interface, \
             Null0 or blackhole, and a distance)"
        ));
    }
    let [prefix, target @ ..] = rest else {
        return Err(USAGE.replace("ip route", &format!("{v} route")));
    };
    let prefix = parse_prefix(prefix, v6)?;
    let (target, distance) = parse_target(target, v6)?;
    let key = (prefix, target);
    if no {
        if s.routes.remove(&key).is_none() {
            return Err(format!(
                "{v} route {} {} is not configured",
                key.0,
                key.1.words()
            ));
        }
    } else {
        s.routes.insert(key, distance.unwrap_or(DEFAULT_DISTANCE));
    }
    Ok(())
}

fn parse_prefix(p: &str, v6: bool) -> Result<IpNet, String> {
    let net: IpNet = p
        .parse()
        .map_err(|_| format!("invalid prefix \"{p}\" (A.B.C.D/M or X:X::X:X/M)"))?;
    if matches!(net, IpNet::V6(_)) != v6 {
        let want = if v6 { "an IPv6" } else { "an IPv4" };
        return Err(format!("{net} is not {want} prefix"));
    }
    if net.trunc() != net {
        return Err(format!(
            "{net} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A word of digits: a distance, never an interface name.
fn numeric(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
}

fn parse_distance(d: &str) -> Result<u8, String> {
    match d.parse::<u8>() {
        Ok(v @ 1..=255) => Ok(v),
        _ => Err(format!("invalid distance \"{d}\" (1..255)")),
    }
}

/// The target words and the optional distance after them.
fn parse_target(words: &[&str], v6: bool) -> Result<(StaticTarget, Option<u8>), String> {
    let (target, rest): (StaticTarget, &[&str]) = match words {
        [] => return Err(USAGE.into()),
        ["Null0" | "null0", rest @ ..] => (StaticTarget::Null0, rest),
        ["blackhole", rest @ ..] => (StaticTarget::Blackhole, rest),
        [first, rest @ ..] => match first.parse::<IpAddr>() {
            Ok(gw) => {
                if gw.is_ipv6() != v6 {
                    return Err(format!(
                        "gateway {gw} is not of the prefix's address family"
                    ));
                }
                if gw.is_unspecified() || gw.is_multicast() || gw.is_loopback() {
                    return Err(format!("gateway {gw} is not usable"));
                }
                match rest {
                    [ifname, more @ ..] if !numeric(ifname) => {
                        check_ifname(ifname)?;
                        (StaticTarget::GatewayIf(gw, (*ifname).to_owned()), more)
                    }
                    _ => (StaticTarget::Gateway(gw), rest),
                }
            }
            Err(_) if numeric(first) => return Err(USAGE.into()),
            Err(_) => {
                check_ifname(first)?;
                (StaticTarget::Interface((*first).to_owned()), rest)
            }
        },
    };
    let distance = match rest {
        [] => None,
        [d] => Some(parse_distance(d)?),
        _ => return Err(USAGE.into()),
    };
    Ok((target, distance))
}

/// The lines, in the order FRR's running-config lists them (by prefix).
pub(super) fn render(s: &StaticRoutes, out: &mut String) {
    for ((prefix, target), distance) in &s.routes {
        let v = if matches!(prefix, IpNet::V6(_)) {
            "ipv6"
        } else {
            "ip"
        };
        let _ = write!(out, "{v} route {prefix} {}", target.words());
        if *distance != DEFAULT_DISTANCE {
            let _ = write!(out, " {distance}");
        }
        out.push('\n');
    }
}

impl StaticRoutes {
    /// The distance of the route installed for `prefix` (the best of its
    /// lines), if it has any.
    pub fn distance(&self, prefix: &IpNet) -> Option<u8> {
        self.routes
            .iter()
            .filter(|((p, _), _)| p == prefix)
            .map(|(_, d)| *d)
            .min()
    }
}

/// The kernel routes the lines ask for, by prefix: of each prefix's
/// usable targets (an interface must exist: `ifindex` finds it), those of
/// the lowest distance; a blackhole when one of them drops.
pub fn plan(
    s: &StaticRoutes,
    ifindex: impl Fn(&str) -> Option<u32>,
) -> BTreeMap<IpNet, StaticHops> {
    let mut best: BTreeMap<IpNet, (u8, Vec<&StaticTarget>)> = BTreeMap::new();
    for ((prefix, target), distance) in &s.routes {
        let usable = match target {
            StaticTarget::Interface(i) | StaticTarget::GatewayIf(_, i) => ifindex(i).is_some(),
            _ => true,
        };
        if !usable {
            continue;
        }
        let entry = best.entry(*prefix).or_insert((*distance, Vec::new()));
        if *distance < entry.0 {
            *entry = (*distance, Vec::new());
        }
        if *distance == entry.0 {
            entry.1.push(target);
        }
    }
    best.into_iter()
        .map(|(prefix, (_, targets))| {
            let drops = targets
                .iter()
                .any(|t| matches!(t, StaticTarget::Null0 | StaticTarget::Blackhole));
            let hops = if drops {
                StaticHops::Blackhole
            } else {
                let mut nhs: Vec<NextHop> = targets
                    .iter()
                    .filter_map(|t| match t {
                        StaticTarget::Gateway(a) => Some(NextHop {
                            gateway: Some(*a),
                            ifindex: None,
                            weight: 1,
                        }),
                        StaticTarget::GatewayIf(a, i) => Some(NextHop::via(*a, ifindex(i)?)),
                        StaticTarget::Interface(i) => Some(NextHop::dev(ifindex(i)?)),
                        StaticTarget::Null0 | StaticTarget::Blackhole => None,
                    })
                    .collect();
                nhs.sort();
                nhs.dedup();
                StaticHops::Via(nhs)
            };
            (prefix, hops)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{Config, ConfigSession};

    const LINES: &str = "\
ip route 10.9.0.0/16 192.0.2.0
ip route 10.9.0.0/16 198.51.100.1
ip route 192.0.2.64/26 blackhole 30
ip route 192.0.2.96/27 192.0.2.0 15
ip route 192.0.2.128/25 192.0.2.0 eth1
ip route 192.0.2.200/32 eth1
ip route 203.0.113.128/25 Null0
ip route 203.0.113.128/25 192.0.2.0 5
ipv6 route 2001:db8:99::/48 2001:db8:0:1::1
ipv6 route 2001:db8:98::/48 blackhole
";

    #[test]
    fn lines_parse_render_and_read_back() {
        let c = Config::parse("t", LINES).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.static_routes.routes.len(), 10);
        let text = c.render();
        for line in LINES.lines() {
            assert!(text.contains(&format!("\n{line}\n")), "{line} in\n{text}");
        }
        assert_eq!(Config::parse("r", &text).unwrap(), c);
        assert_eq!(
            c.static_routes
                .distance(&"203.0.113.128/25".parse().unwrap()),
            Some(1)
        );
        let mut c = c;
        let mut s = ConfigSession::default();
        s.apply(&mut c, "no ip route 10.9.0.0/16 192.0.2.0")
            .unwrap();
        s.apply(&mut c, "no ipv6 route 2001:db8:98::/48 blackhole")
            .unwrap();
        assert_eq!(c.static_routes.routes.len(), 8);
        // A line again with another distance replaces the distance.
        s.apply(&mut c, "ip route 192.0.2.200/32 eth1 7").unwrap();
        assert_eq!(
            c.static_routes.distance(&"192.0.2.200/32".parse().unwrap()),
            Some(7)
        );
    }

    #[test]
    fn malformed_lines_are_refused_with_the_reason() {
        for (bad, want) in [
            (
                "ip route 10.0.0.1/8 192.0.2.1",
                "host bits set (did you mean 10.0.0.0/8?)",
            ),
            ("ip route 2001:db8::/32 192.0.2.1", "is not an IPv4 prefix"),
            (
                "ipv6 route 2001:db8::/32 192.0.2.1",
                "not of the prefix's address family",
            ),
            ("ip route 10.0.0.0/8", "usage: ip route PREFIX"),
            (
                "ip route 10.0.0.0/8 192.0.2.1 256",
                "invalid distance \"256\" (1..255)",
            ),
            (
                "ip route 10.0.0.0/8 192.0.2.1 0",
                "invalid distance \"0\" (1..255)",
            ),
            (
                "ip route 10.0.0.0/8 192.0.2.1 eth1 2 3",
                "usage: ip route PREFIX",
            ),
            (
                "ip route 10.0.0.0/8 reject",
                "\"ip route ... reject\" is not supported",
            ),
            (
                "ip route 10.0.0.0/8 192.0.2.1 tag 5",
                "\"ip route ... tag\" is not supported",
            ),
            ("ip route nonsense 192.0.2.1", "invalid prefix \"nonsense\""),
            (
                "ip route 10.0.0.0/8 0.0.0.0",
                "gateway 0.0.0.0 is not usable",
            ),
            (
                "ip route 10.0.0.0/8 an-interface-name-too-long",
                "invalid interface name",
            ),
            ("no ip route 10.0.0.0/8 192.0.2.1", "is not configured"),
        ] {
            let errs = Config::parse("t", bad).expect_err(bad);
            assert!(errs[0].reason.contains(want), "{bad}: {errs:?}");
        }
    }

    #[test]
    fn plan_takes_the_best_distance_and_drops_missing_interfaces() {
        let c = Config::parse("t", LINES).unwrap();
        let ifindex = |n: &str| (n == "eth1").then_some(2);
        let p = plan(&c.static_routes, ifindex);
        let gw = |a: &str| NextHop {
            gateway: Some(a.parse().unwrap()),
            ifindex: None,
            weight: 1,
        };
        let get = |s: &str| p.get(&s.parse::<IpNet>().unwrap()).cloned();
        assert_eq!(
            get("10.9.0.0/16"),
            Some(StaticHops::Via(vec![gw("192.0.2.0"), gw("198.51.100.1")]))
        );
        assert_eq!(get("192.0.2.64/26"), Some(StaticHops::Blackhole));
        assert_eq!(
            get("192.0.2.128/25"),
            Some(StaticHops::Via(vec![NextHop::via(
                "192.0.2.0".parse().unwrap(),
                2
            )]))
        );
        assert_eq!(
            get("192.0.2.200/32"),
            Some(StaticHops::Via(vec![NextHop::dev(2)]))
        );
        assert_eq!(
            get("203.0.113.128/25"),
            Some(StaticHops::Blackhole),
            "distance 1 wins"
        );
        // Without eth1, its routes wait for it.
        let p = plan(&c.static_routes, |_| None);
        assert!(!p.contains_key(&"192.0.2.200/32".parse::<IpNet>().unwrap()));
        assert_eq!(p.len(), 6);
    }
}
