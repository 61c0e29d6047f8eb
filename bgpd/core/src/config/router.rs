//! The lines of `(config-router)#` and `(config-router-af)#`, and the
//! `router bgp` block of show running-config. Neighbor options are in
//! [`super::neighbor`], path-attribute lists in [`super::path_attr`].
use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr},
};

use ipnet::IpNet;

use super::check::{Handled, PASSWORD_MASK, parse_u16};
use super::model::*;
use super::{neighbor, path_attr, policy};
use crate::family::Family;

/// Lines of `(config-router)#`. `Handled::No` lets the caller try the parent
/// mode (a top-level line leaves router mode, as in vtysh).
pub fn apply_router(bgp: &mut BgpConfig, words: &[&str], line: &str) -> Result<Handled, String> {
    if let Some(refusal) = neighbor::unsupported(words) {
        return Err(refusal);
    }
    match words {
        ["timers", "bgp", ka, hold] => {
            bgp.timers = Some(neighbor::parse_timers(ka, hold)?);
        }
        ["timers", "bgp", ..] => return Err("usage: timers bgp KEEPALIVE HOLDTIME".into()),
        ["no", "timers", "bgp", ..] => bgp.timers = None,
        // Stored only when they depart from the profile's default, which
        // FRR's running-config does not show either.
        ["bgp", "log-neighbor-changes"] | ["no", "bgp", "log-neighbor-changes"] => {
            let on = words[0] != "no";
            bgp.log_neighbor_changes = (on != bgp.profile.log_neighbor_changes()).then_some(on);
        }
        ["bgp", "ebgp-requires-policy"] | ["no", "bgp", "ebgp-requires-policy"] => {
            let on = words[0] != "no";
            bgp.ebgp_requires_policy = (on != bgp.profile.ebgp_requires_policy()).then_some(on);
        }
        ["bgp", "log-neighbor-changes" | "ebgp-requires-policy", ..]
        | [
            "no",
            "bgp",
            "log-neighbor-changes" | "ebgp-requires-policy",
            ..,
        ] => {
            return Err(format!(
                "usage: [no] bgp {}",
                words.iter().find(|w| w.contains('-')).unwrap_or(&"")
            ));
        }
        ["bgp", "router-id", id] => {
            let id: Ipv4Addr = id
                .parse()
                .map_err(|_| format!("invalid router-id \"{id}\" (an IPv4 address)"))?;
            if id.is_unspecified() || id.is_broadcast() || id.is_multicast() {
                return Err(format!("router-id {id} is not usable"));
            }
            bgp.router_id = Some(id);
        }
        ["no", "bgp", "router-id", ..] => bgp.router_id = None,
        ["bgp", "graceful-restart"] => bgp.graceful_restart.enabled = true,
        ["no", "bgp", "graceful-restart"] => bgp.graceful_restart.enabled = false,
        ["bgp", "graceful-restart", "restart-time", t] => {
            bgp.graceful_restart.restart_time = Some(parse_u16(t, "restart-time", 0, 4095)?);
        }
        ["bgp", "graceful-restart", "stalepath-time", t] => {
            bgp.graceful_restart.stalepath_time = Some(parse_u16(t, "stalepath-time", 1, 4095)?);
        }
        ["no", "bgp", "graceful-restart", "restart-time", ..] => {
            bgp.graceful_restart.restart_time = None;
        }
        ["no", "bgp", "graceful-restart", "stalepath-time", ..] => {
            bgp.graceful_restart.stalepath_time = None;
        }
        ["bgp", "graceful-restart", ..] => {
            return Err(format!(
                "unsupported graceful-restart option \"{}\" (restart-time, stalepath-time)",
                words[2..].join(" ")
            ));
        }
        ["bgp", "bestpath", rest @ ..] | ["no", "bgp", "bestpath", rest @ ..] => {
            bgp.multipath_relax = apply_bestpath(words[0] != "no", rest)?;
        }
        ["bgp", "listen", ..] | ["no", "bgp", "listen", ..] => {
            neighbor::apply_listen(bgp, words)?;
        }
        // FRR takes these address-family lines in router mode too, for
        // IPv4 unicast, and shows them under that address family.
        [
            "neighbor",
            _,
            "allowas-in" | "next-hop-self" | "soft-reconfiguration",
            ..,
        ]
        | [
            "no",
            "neighbor",
            _,
            "allowas-in" | "next-hop-self" | "soft-reconfiguration",
            ..,
        ] => {
            return apply_af(bgp, Family::Ipv4Unicast, words);
        }
        ["neighbor", peer, "path-attribute", rest @ ..] => {
            path_attr::apply(bgp, peer, rest, false)?;
        }
        ["no", "neighbor", peer, "path-attribute", rest @ ..] => {
            path_attr::apply(bgp, peer, rest, true)?;
        }
        ["neighbor", peer, rest @ ..] => match peer.parse::<IpAddr>() {
            Ok(addr) => apply_neighbor(bgp, addr, rest, line)?,
            Err(_) => neighbor::apply_group(bgp, peer, rest, line)?,
        },
        ["no", "neighbor", peer] => match peer.parse::<IpAddr>() {
            Ok(addr) => remove_neighbor(bgp, addr)?,
            Err(_) => neighbor::delete_group(bgp, peer)?,
        },
        ["no", "neighbor", peer, rest @ ..] => match peer.parse::<IpAddr>() {
            Ok(addr) => unapply_neighbor(bgp, addr, rest)?,
            Err(_) => neighbor::unapply_group(bgp, peer, rest)?,
        },
        _ => return Ok(Handled::No),
    }
    Ok(Handled::Yes)
}

/// `[no] bgp bestpath ...` (words after `bestpath`): the multipath-relax
/// setting after the line. Only `as-path multipath-relax` is implemented;
/// the other bestpath options are refused by name.
fn apply_bestpath(on: bool, rest: &[&str]) -> Result<bool, String> {
    let no = if on { "" } else { "no " };
    match rest {
        // FRR's optional last word; `no-as-set` is its default and Tern's
        // behaviour (the ECMP set's AS_PATH is the best path's).
        ["as-path", "multipath-relax"] | ["as-path", "multipath-relax", "no-as-set"] => Ok(on),
        ["as-path", "multipath-relax", "as-set"] => Err(format!(
            "\"{no}bgp bestpath as-path multipath-relax as-set\" is not supported by Tern yet \
             (an ECMP set never makes an AS_SET)"
        )),
        ["compare-routerid"] => Err(format!(
            "\"{no}bgp bestpath compare-routerid\" is not supported by Tern yet: between eBGP \
             paths the older one wins before the router-id is compared"
        )),
        [] => Err("usage: bgp bestpath as-path multipath-relax".into()),
        other => Err(format!(
            "\"{no}bgp bestpath {}\" is not supported by Tern yet \
             (only \"bgp bestpath as-path multipath-relax\")",
            other.join(" ")
        )),
    }
}

fn apply_neighbor(
    bgp: &mut BgpConfig,
    addr: IpAddr,
    rest: &[&str],
    line: &str,
) -> Result<(), String> {
    if let IpAddr::V6(v6) = addr
        && v6.is_unicast_link_local()
    {
        // A link-local address means nothing without its link, and
        // interface neighbors (`neighbor IFNAME interface`) are not
        // supported.
        return Err(format!(
            "neighbor {addr}: a link-local address needs its interface, and interface \
             neighbors are not supported; use the peer's global address"
        ));
    }
    match rest {
        ["remote-as", asn] => {
            let r = parse_remote_as(asn)?;
            let group = bgp.neighbors.get(&addr).and_then(|n| n.peer_group.clone());
            if let Some(g) = group
                && let Some(gas) = bgp.peer_groups.get(&g).and_then(|g| g.remote_as)
                && gas != r
            {
                return Err(format!(
                    "peer-group {g} has remote-as {}: cannot configure remote-as for member {addr}",
                    remote_as_word(gas)
                ));
            }
            bgp.neighbors.entry(addr).or_default().remote_as = Some(r);
            return Ok(());
        }
        ["peer-group", name] => return neighbor::bind(bgp, addr, name),
        _ => {}
    }
    let group = bgp.neighbors.get(&addr).and_then(|n| n.peer_group.clone());
    let group_cfg = group.and_then(|g| bgp.peer_groups.get(&g)).cloned();
    let n = bgp.neighbors.get_mut(&addr).ok_or_else(|| {
        format!("neighbor {addr} needs \"neighbor {addr} peer-group NAME\" or \"neighbor {addr} remote-as ...\" first")
    })?;
    neighbor::set_option(n, group_cfg.as_ref(), rest, line)
}

fn unapply_neighbor(bgp: &mut BgpConfig, addr: IpAddr, rest: &[&str]) -> Result<(), String> {
    let n = bgp
        .neighbors
        .get_mut(&addr)
        .ok_or_else(|| format!("neighbor {addr} is not configured"))?;
    match rest {
        ["peer-group", ..] => {
            let Some(g) = n.peer_group.clone() else {
                return Err(format!("neighbor {addr} is not a member of a peer-group"));
            };
            if let [_, name] = rest
                && *name != g
            {
                return Err("Peer is not a member of this peer-group".into());
            }
            // As FRR: a member that took its remote-as from the group goes
            // with it; one with its own stays as a plain neighbor.
            if n.remote_as.is_none() {
                bgp.neighbors.remove(&addr);
                bgp.path_attributes.remove(&addr);
                for af in bgp.families.values_mut() {
                    af.neighbors.remove(&addr);
                }
            } else {
                n.peer_group = None;
            }
            Ok(())
        }
        ["remote-as", ..] if n.peer_group.is_some() => {
            n.remote_as = None;
            Ok(())
        }
        // FRR's `no neighbor ADDRESS remote-as ...` is `no neighbor
        // ADDRESS`: the AS after it is not compared.
        ["remote-as", _] => remove_neighbor(bgp, addr),
        _ => neighbor::unset_option(n, rest),
    }
}

/// `no neighbor ADDRESS`: the neighbor and its per-family settings go.
fn remove_neighbor(bgp: &mut BgpConfig, addr: IpAddr) -> Result<(), String> {
    if bgp.neighbors.remove(&addr).is_none() {
        return Err(format!("neighbor {addr} is not configured"));
    }
    bgp.path_attributes.remove(&addr);
    for af in bgp.families.values_mut() {
        af.neighbors.remove(&addr);
    }
    for active in bgp.vpn.values_mut() {
        active.remove(&addr);
    }
    bgp.vpn.retain(|_, active| !active.is_empty());
    Ok(())
}

/// Parses `ipv4 vpn` / `ipv6 vpn` after `address-family`: None for the
/// other families.
pub fn parse_vpn_family(words: &[&str]) -> Option<VpnFamily> {
    match words {
        ["ipv4", "vpn"] => Some(VpnFamily::Ipv4),
        ["ipv6", "vpn"] => Some(VpnFamily::Ipv6),
        _ => None,
    }
}

/// Lines of `address-family ipv4 vpn` / `ipv6 vpn`: `[no] neighbor
/// ADDRESS activate`, the one setting Tern has there.
pub fn apply_vpn_af(
    bgp: &mut BgpConfig,
    family: VpnFamily,
    words: &[&str],
) -> Result<Handled, String> {
    match words {
        ["neighbor", peer, "activate"] | ["no", "neighbor", peer, "activate"] => {
            let on = words[0] != "no";
            let addr: IpAddr = match peer.parse() {
                Ok(a) => a,
                Err(_) if bgp.peer_groups.contains_key(*peer) => {
                    return Err(format!(
                        "peer-group {peer}: Tern activates VPN families per neighbor address"
                    ));
                }
                Err(_) => return Err(format!("\"{peer}\" is not a neighbor address")),
            };
            if on && !bgp.neighbors.contains_key(&addr) {
                return Err(format!("neighbor {addr} is not configured"));
            }
            let active = bgp.vpn.entry(family).or_default();
            if on {
                active.insert(addr);
            } else {
                active.remove(&addr);
            }
            bgp.vpn.retain(|_, active| !active.is_empty());
            Ok(Handled::Yes)
        }
        ["neighbor", ..] | ["no", "neighbor", ..] => Err(format!(
            "in address-family {}, Tern takes only neighbor ADDRESS activate",
            family.keyword()
        )),
        _ => Ok(Handled::No),
    }
}

/// The ` address-family ipv4 vpn` / `ipv6 vpn` block, when a neighbor is
/// active there.
fn render_vpn(bgp: &BgpConfig, family: VpnFamily, out: &mut String) {
    let Some(active) = bgp.vpn.get(&family).filter(|a| !a.is_empty()) else {
        return;
    };
    let _ = writeln!(out, " !\n address-family {}", family.keyword());
    for addr in active {
        let _ = writeln!(out, "  neighbor {addr} activate");
    }
    out.push_str(" exit-address-family\n");
}

/// Parses `ipv4 unicast` / `ipv6 unicast` after `address-family`.
pub fn parse_family(words: &[&str]) -> Result<Family, String> {
    match words {
        ["ipv4"] | ["ipv4", "unicast"] => Ok(Family::Ipv4Unicast),
        ["ipv6"] | ["ipv6", "unicast"] => Ok(Family::Ipv6Unicast),
        _ => Err(format!(
            "address family \"{}\" is not supported (ipv4 unicast, ipv6 unicast)",
            words.join(" ")
        )),
    }
}

/// Lines of `(config-router-af)#`.
pub fn apply_af(bgp: &mut BgpConfig, family: Family, words: &[&str]) -> Result<Handled, String> {
    let known: Vec<IpAddr> = bgp.neighbors.keys().copied().collect();
    let groups: Vec<String> = bgp.peer_groups.keys().cloned().collect();
    let af = bgp.families.entry(family).or_default();
    let handled = apply_af_line(af, family, &known, &groups, words);
    // Keep the model canonical: what renders to nothing is not stored, so
    // that reading running-config back gives an equal state.
    for af in bgp.families.values_mut() {
        af.neighbors.retain(|_, n| *n != AfNeighbor::default());
        af.groups.retain(|_, n| *n != AfNeighbor::default());
    }
    bgp.families.retain(|_, af| *af != AfConfig::default());
    handled
}

/// A neighbor named in an address-family line: an address or a peer-group.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AfPeer {
    Addr(IpAddr),
    Group(String),
}

impl AfPeer {
    /// The neighbor `s` names; it must be configured.
    fn known(s: &str, known: &[IpAddr], groups: &[String]) -> Result<AfPeer, String> {
        match s.parse::<IpAddr>() {
            Ok(a) if known.contains(&a) => Ok(AfPeer::Addr(a)),
            Ok(a) => Err(format!("neighbor {a} is not configured")),
            Err(_) if groups.iter().any(|g| g == s) => Ok(AfPeer::Group(s.to_owned())),
            Err(_) => Err(format!(
                "\"{s}\" is neither a neighbor address nor a configured peer-group"
            )),
        }
    }

    /// For `no` lines: any address or name (nothing to undo is no error).
    fn any(s: &str) -> AfPeer {
        s.parse::<IpAddr>()
            .map_or_else(|_| AfPeer::Group(s.to_owned()), AfPeer::Addr)
    }

    fn entry<'a>(&self, af: &'a mut AfConfig) -> &'a mut AfNeighbor {
        match self {
            AfPeer::Addr(a) => af.neighbors.entry(*a).or_default(),
            AfPeer::Group(g) => af.groups.entry(g.clone()).or_default(),
        }
    }
}

fn parse_af_prefix(p: &str, family: Family) -> Result<IpNet, String> {
    let net: IpNet = p.parse().map_err(|_| format!("invalid prefix \"{p}\""))?;
    if !family.holds(&net) {
        return Err(format!("{net} is not an {} prefix", family.keyword()));
    }
    if net.trunc() != net {
        return Err(format!(
            "{net} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

fn apply_af_line(
    af: &mut AfConfig,
    family: Family,
    known: &[IpAddr],
    groups: &[String],
    words: &[&str],
) -> Result<Handled, String> {
    match words {
        ["network", p] | ["no", "network", p] => {
            let net = parse_af_prefix(p, family)?;
            if words[0] == "no" {
                if !af.networks.remove(&net) {
                    return Err(format!("network {net} is not configured"));
                }
            } else {
                af.networks.insert(net);
            }
        }
        ["aggregate-address", p, opts @ ..] => {
            let net = parse_af_prefix(p, family)?;
            let mut agg = AggregateConfig::default();
            for o in opts {
                match *o {
                    "summary-only" => agg.summary_only = true,
                    "as-set" => agg.as_set = true,
                    other => {
                        return Err(format!(
                            "aggregate-address option \"{other}\" is not supported (as-set, summary-only)"
                        ));
                    }
                }
            }
            af.aggregates.insert(net, agg);
        }
        ["no", "aggregate-address", p, ..] => {
            let net = parse_af_prefix(p, family)?;
            if af.aggregates.remove(&net).is_none() {
                return Err(format!("aggregate-address {net} is not configured"));
            }
        }
        ["maximum-paths", n] => af.maximum_paths = Some(parse_u16(n, "maximum-paths", 1, 256)?),
        ["redistribute", what] | ["no", "redistribute", what] => {
            let r = Redistribute::parse(what).ok_or_else(|| {
                format!("cannot redistribute \"{what}\" (connected, kernel, static)")
            })?;
            if words[0] == "no" {
                af.redistribute.remove(&r);
            } else {
                af.redistribute.insert(r);
            }
        }
        ["redistribute", ..] => {
            return Err("route-map and metric on redistribute are not supported yet".into());
        }
        ["no", "maximum-paths", ..] => af.maximum_paths = None,
        ["neighbor", peer, "maximum-prefix", n] => {
            let who = AfPeer::known(peer, known, groups)?;
            let n: u32 = n
                .parse()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| format!("invalid maximum-prefix \"{n}\" (1..4294967295)"))?;
            who.entry(af).maximum_prefix = Some(n);
        }
        ["no", "neighbor", peer, "maximum-prefix", ..] => {
            AfPeer::any(peer).entry(af).maximum_prefix = None;
        }
        ["neighbor", peer, "send-community", kind @ ..] => {
            AfPeer::known(peer, known, groups)?;
            neighbor::check_send_community(kind)?;
        }
        ["neighbor", peer, "route-reflector-client"] => {
            AfPeer::known(peer, known, groups)?.entry(af).rr_client = true;
        }
        ["no", "neighbor", peer, "route-reflector-client"] => {
            AfPeer::any(peer).entry(af).rr_client = false;
        }
        ["neighbor", peer, "route-map", name, dir] => {
            let who = AfPeer::known(peer, known, groups)?;
            policy::check_name("route-map", name)?;
            if !matches!(*dir, "in" | "out") {
                return Err(format!("route-map direction \"{dir}\": in or out"));
            }
            let n = who.entry(af);
            if *dir == "in" {
                n.route_map_in = Some((*name).to_owned());
            } else {
                n.route_map_out = Some((*name).to_owned());
            }
        }
        ["no", "neighbor", peer, "route-map", .., dir] => {
            if !matches!(*dir, "in" | "out") {
                return Err(format!("route-map direction \"{dir}\": in or out"));
            }
            let n = AfPeer::any(peer).entry(af);
            if *dir == "in" {
                n.route_map_in = None;
            } else {
                n.route_map_out = None;
            }
        }
        ["neighbor", _, "route-map", ..] => {
            return Err("usage: neighbor ADDRESS route-map NAME in|out".into());
        }
        ["neighbor", peer, "allowas-in", arg @ ..] => {
            let who = AfPeer::known(peer, known, groups)?;
            who.entry(af).allowas_in = Some(parse_allowas_in(arg)?);
        }
        ["no", "neighbor", peer, "allowas-in", arg @ ..] => {
            if arg.len() > 1 {
                return Err(ALLOWAS_IN_USAGE.into());
            }
            AfPeer::any(peer).entry(af).allowas_in = None;
        }
        ["neighbor", peer, "next-hop-self"] => {
            AfPeer::known(peer, known, groups)?.entry(af).next_hop_self = true;
        }
        ["neighbor", peer, "next-hop-self", "force"] => {
            AfPeer::known(peer, known, groups)?
                .entry(af)
                .next_hop_self_force = true;
        }
        ["no", "neighbor", peer, "next-hop-self"] => {
            AfPeer::any(peer).entry(af).next_hop_self = false;
        }
        ["no", "neighbor", peer, "next-hop-self", "force"] => {
            AfPeer::any(peer).entry(af).next_hop_self_force = false;
        }
        ["neighbor", _, "next-hop-self", ..] | ["no", "neighbor", _, "next-hop-self", ..] => {
            return Err("usage: [no] neighbor ADDRESS next-hop-self [force]".into());
        }
        ["neighbor", peer, "soft-reconfiguration", "inbound"] => {
            AfPeer::known(peer, known, groups)?
                .entry(af)
                .soft_reconfig_in = true;
        }
        ["no", "neighbor", peer, "soft-reconfiguration", "inbound"] => {
            AfPeer::any(peer).entry(af).soft_reconfig_in = false;
        }
        ["neighbor", _, "soft-reconfiguration", ..]
        | ["no", "neighbor", _, "soft-reconfiguration", ..] => {
            return Err("usage: [no] neighbor ADDRESS soft-reconfiguration inbound".into());
        }
        ["neighbor", peer, "activate"] | ["no", "neighbor", peer, "activate"] => {
            let who = AfPeer::known(peer, known, groups)?;
            let on = words[0] != "no";
            // Only a departure from the default is stored: an address is
            // active in its own family; a group has no default of its own.
            let stored = match &who {
                AfPeer::Addr(a) => (on != (Family::of(*a) == family)).then_some(on),
                AfPeer::Group(_) => Some(on),
            };
            who.entry(af).activate = stored;
        }
        _ => return Ok(Handled::No),
    }
    Ok(Handled::Yes)
}

/// The options of one neighbor or peer-group (`who`), after its remote-as
/// and peer-group lines.
fn render_options(who: &str, n: &NeighborConfig, secrets: bool, out: &mut String) {
    if let Some(d) = &n.description {
        let _ = writeln!(out, " neighbor {who} description {d}");
    }
    if n.passive {
        let _ = writeln!(out, " neighbor {who} passive");
    }
    if let Some(pw) = &n.password {
        let pw = if secrets { pw } else { PASSWORD_MASK };
        let _ = writeln!(out, " neighbor {who} password {pw}");
    }
    match n.ebgp_multihop {
        Some(255) => {
            let _ = writeln!(out, " neighbor {who} ebgp-multihop");
        }
        Some(t) => {
            let _ = writeln!(out, " neighbor {who} ebgp-multihop {t}");
        }
        None => {}
    }
    if let Some(src) = &n.update_source {
        let _ = writeln!(out, " neighbor {who} update-source {src}");
    }
    if n.shutdown {
        let _ = writeln!(out, " neighbor {who} shutdown");
    }
    if let Some((ka, hold)) = n.timers {
        let _ = writeln!(out, " neighbor {who} timers {ka} {hold}");
    }
    if let Some(c) = n.connect_retry {
        let _ = writeln!(out, " neighbor {who} timers connect {c}");
    }
    if let Some(h) = n.ttl_security {
        let _ = writeln!(out, " neighbor {who} ttl-security hops {h}");
    }
    if n.bfd {
        let _ = writeln!(out, " neighbor {who} bfd");
    }
}

/// The address-family lines of one neighbor or peer-group.
fn render_af_neighbor(who: &str, n: &AfNeighbor, body: &mut String) {
    match n.activate {
        Some(true) => {
            let _ = writeln!(body, "  neighbor {who} activate");
        }
        Some(false) => {
            let _ = writeln!(body, "  no neighbor {who} activate");
        }
        None => {}
    }
    if let Some(m) = n.maximum_prefix {
        let _ = writeln!(body, "  neighbor {who} maximum-prefix {m}");
    }
    if n.rr_client {
        let _ = writeln!(body, "  neighbor {who} route-reflector-client");
    }
    if let Some(m) = &n.route_map_in {
        let _ = writeln!(body, "  neighbor {who} route-map {m} in");
    }
    if let Some(m) = &n.route_map_out {
        let _ = writeln!(body, "  neighbor {who} route-map {m} out");
    }
    match n.allowas_in {
        Some(AllowAsIn::Count(AllowAsIn::DEFAULT_COUNT)) => {
            let _ = writeln!(body, "  neighbor {who} allowas-in");
        }
        Some(AllowAsIn::Count(c)) => {
            let _ = writeln!(body, "  neighbor {who} allowas-in {c}");
        }
        Some(AllowAsIn::Origin) => {
            let _ = writeln!(body, "  neighbor {who} allowas-in origin");
        }
        None => {}
    }
    if n.next_hop_self {
        let _ = writeln!(body, "  neighbor {who} next-hop-self");
    }
    if n.next_hop_self_force {
        let _ = writeln!(body, "  neighbor {who} next-hop-self force");
    }
    if n.soft_reconfig_in {
        let _ = writeln!(body, "  neighbor {who} soft-reconfiguration inbound");
    }
}

const ALLOWAS_IN_USAGE: &str = "usage: neighbor ADDRESS allowas-in [(1-10)|origin]";

/// The argument of `neighbor X allowas-in [N|origin]`.
fn parse_allowas_in(arg: &[&str]) -> Result<AllowAsIn, String> {
    match arg {
        [] => Ok(AllowAsIn::Count(AllowAsIn::DEFAULT_COUNT)),
        ["origin"] => Ok(AllowAsIn::Origin),
        [n] => match n.parse::<u8>() {
            Ok(v @ 1..=10) => Ok(AllowAsIn::Count(v)),
            _ => Err(format!(
                "invalid allowas-in count \"{n}\" (1..10, or origin)"
            )),
        },
        _ => Err(ALLOWAS_IN_USAGE.into()),
    }
}

/// The `router bgp` block in running-config syntax. Peer-groups come
/// before the listen ranges and neighbors that name them. Without
/// `secrets`, passwords are shown as [`PASSWORD_MASK`].
pub fn render(bgp: &BgpConfig, secrets: bool, out: &mut String) {
    render_with_srv6(bgp, secrets, None, out);
}

/// [`render`], with the default instance's ` segment-routing srv6` /
/// `  locator NAME` lines where FRR 8.4 prints them (after the neighbors,
/// before the address families) when `srv6_locator` is given.
pub fn render_with_srv6(
    bgp: &BgpConfig,
    secrets: bool,
    srv6_locator: Option<&str>,
    out: &mut String,
) {
    let _ = writeln!(out, "router bgp {}", bgp.asn);
    if let Some(id) = bgp.router_id {
        let _ = writeln!(out, " bgp router-id {id}");
    }
    let gr = &bgp.graceful_restart;
    if gr.enabled {
        out.push_str(" bgp graceful-restart\n");
    }
    if let Some(t) = gr.restart_time {
        let _ = writeln!(out, " bgp graceful-restart restart-time {t}");
    }
    if let Some(t) = gr.stalepath_time {
        let _ = writeln!(out, " bgp graceful-restart stalepath-time {t}");
    }
    match bgp.log_neighbor_changes {
        Some(true) => out.push_str(" bgp log-neighbor-changes\n"),
        Some(false) => out.push_str(" no bgp log-neighbor-changes\n"),
        None => {}
    }
    match bgp.ebgp_requires_policy {
        Some(true) => out.push_str(" bgp ebgp-requires-policy\n"),
        Some(false) => out.push_str(" no bgp ebgp-requires-policy\n"),
        None => {}
    }
    if let Some((ka, hold)) = bgp.timers {
        let _ = writeln!(out, " timers bgp {ka} {hold}");
    }
    if bgp.multipath_relax {
        out.push_str(" bgp bestpath as-path multipath-relax\n");
    }
    if let Some(l) = bgp.listen_limit {
        let _ = writeln!(out, " bgp listen limit {l}");
    }
    for (name, g) in &bgp.peer_groups {
        let _ = writeln!(out, " neighbor {name} peer-group");
        if let Some(r) = g.remote_as {
            let _ = writeln!(out, " neighbor {name} remote-as {}", remote_as_word(r));
        }
        render_options(name, g, secrets, out);
        path_attr::render(name, bgp.group_path_attributes.get(name), out);
    }
    for (range, group) in &bgp.listen_ranges {
        let _ = writeln!(out, " bgp listen range {range} peer-group {group}");
    }
    for (addr, n) in &bgp.neighbors {
        let who = addr.to_string();
        if let Some(r) = n.remote_as {
            let _ = writeln!(out, " neighbor {who} remote-as {}", remote_as_word(r));
        }
        if let Some(g) = &n.peer_group {
            let _ = writeln!(out, " neighbor {who} peer-group {g}");
        }
        render_options(&who, n, secrets, out);
        path_attr::render(&who, bgp.path_attributes.get(addr), out);
    }
    if let Some(loc) = srv6_locator {
        let _ = writeln!(out, " !\n segment-routing srv6\n  locator {loc}\n exit");
    }
    // FRR's order: ipv4 unicast, ipv4 vpn, ipv6 unicast, ipv6 vpn.
    let mut ipv4_vpn_done = false;
    for (family, af) in &bgp.families {
        if *family == Family::Ipv6Unicast && !ipv4_vpn_done {
            render_vpn(bgp, VpnFamily::Ipv4, out);
            ipv4_vpn_done = true;
        }
        let mut body = String::new();
        for net in &af.networks {
            let _ = writeln!(body, "  network {net}");
        }
        for (net, a) in &af.aggregates {
            let _ = writeln!(
                body,
                "  aggregate-address {net}{}{}",
                if a.as_set { " as-set" } else { "" },
                if a.summary_only { " summary-only" } else { "" }
            );
        }
        for r in &af.redistribute {
            let _ = writeln!(body, "  redistribute {}", r.keyword());
        }
        for (name, n) in &af.groups {
            render_af_neighbor(name, n, &mut body);
        }
        for (addr, n) in &af.neighbors {
            render_af_neighbor(&addr.to_string(), n, &mut body);
        }
        if let Some(m) = af.maximum_paths {
            let _ = writeln!(body, "  maximum-paths {m}");
        }
        if !body.is_empty() {
            let _ = writeln!(out, " !\n address-family {}", family.keyword());
            out.push_str(&body);
            out.push_str(" exit-address-family\n");
        }
    }
    if !ipv4_vpn_done {
        render_vpn(bgp, VpnFamily::Ipv4, out);
    }
    render_vpn(bgp, VpnFamily::Ipv6, out);
    out.push_str("exit\n!\n");
}
