//! Policy lines of the configuration: `ip prefix-list`, `ipv6 prefix-list`,
//! `bgp community-list standard`, and `route-map NAME permit|deny SEQ` with
//! the lines of its `(config-route-map)#` mode; and their rendering for
//! show running-config. The model and its evaluation are in `crate::policy`.
use std::{collections::BTreeMap, fmt::Write as _};

use ipnet::IpNet;
use tern_bgp_wire::Community;

use super::check::{Handled, parse_asn};
use crate::policy::{
    Action, CommunityListEntry, Policy, PrefixListEntry, RouteMapEntry, SeqList, SetCommunity,
};

/// Longest name of a prefix-list, community-list or route-map.
const MAX_NAME: usize = 63;

pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {kind} name \"{name}\": 1 to {MAX_NAME} letters, digits, '-', '_' or '.'"
        ))
    }
}

fn parse_action(s: &str) -> Result<Action, String> {
    match s {
        "permit" => Ok(Action::Permit),
        "deny" => Ok(Action::Deny),
        _ => Err(format!("expected permit or deny, not \"{s}\"")),
    }
}

fn parse_seq(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| format!("invalid sequence number \"{s}\" (1..4294967295)"))
}

/// Parses a community as FRR writes it: `AA:NN` or a well-known name.
pub fn parse_community(s: &str) -> Result<Community, String> {
    let named = match s {
        "no-export" => Some(Community::NO_EXPORT),
        "no-advertise" => Some(Community::NO_ADVERTISE),
        "local-AS" | "local-as" => Some(Community::NO_EXPORT_SUBCONFED),
        "no-peer" => Some(Community::NO_PEER),
        "blackhole" => Some(Community::BLACKHOLE),
        "graceful-shutdown" => Some(Community::GRACEFUL_SHUTDOWN),
        "accept-own" => Some(Community::ACCEPT_OWN),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    let bad =
        || format!("invalid community \"{s}\" (AA:NN or a well-known name such as no-export)");
    let (asn, val) = s.split_once(':').ok_or_else(bad)?;
    let asn: u16 = asn.parse().map_err(|_| bad())?;
    let val: u16 = val.parse().map_err(|_| bad())?;
    Ok(Community::new(asn, val))
}

/// `[no] ip|ipv6 prefix-list NAME [seq N] permit|deny PREFIX|any [ge N] [le N]`
/// and `no ip|ipv6 prefix-list NAME [seq N]`.
pub fn apply_prefix_list(policy: &mut Policy, words: &[&str]) -> Result<Handled, String> {
    let (no, words) = match words {
        ["no", rest @ ..] => (true, rest),
        _ => (false, words),
    };
    let (v6, rest) = match words {
        ["ip", "prefix-list", rest @ ..] => (false, rest),
        ["ipv6", "prefix-list", rest @ ..] => (true, rest),
        _ => return Ok(Handled::No),
    };
    let lists = if v6 {
        &mut policy.prefix_lists_v6
    } else {
        &mut policy.prefix_lists_v4
    };
    let [name, rest @ ..] = rest else {
        return Err("prefix-list needs a name".into());
    };
    edit_seq_list("prefix-list", lists, no, name, rest, |w| {
        parse_prefix_entry(v6, w)
    })
}

/// The part of a list line after the list's name, `[seq N] ENTRY...`:
/// the entry added (at N, or at the next multiple of 5; written again
/// without seq it is no duplicate), or with `no` removed (by seq, by its
/// words, or the whole list when nothing follows the name). A list left
/// empty is removed.
fn edit_seq_list<E: PartialEq>(
    kind: &str,
    lists: &mut BTreeMap<String, SeqList<E>>,
    no: bool,
    name: &str,
    rest: &[&str],
    parse: impl Fn(&[&str]) -> Result<E, String>,
) -> Result<Handled, String> {
    check_name(kind, name)?;
    let (seq, rest) = match rest {
        ["seq", s, rest @ ..] => (Some(parse_seq(s)?), rest),
        ["seq"] => return Err("seq needs a number".into()),
        _ => (None, rest),
    };
    if !no {
        let entry = parse(rest)?;
        let list = lists.entry(name.to_owned()).or_default();
        if seq.is_none() && list.entries.values().any(|e| *e == entry) {
            return Ok(Handled::Yes);
        }
        let seq = seq.unwrap_or_else(|| list.next_seq());
        list.entries.insert(seq, entry);
        return Ok(Handled::Yes);
    }
    let list = lists
        .get_mut(name)
        .ok_or_else(|| format!("{kind} {name} is not configured"))?;
    match (seq, rest) {
        (None, []) => list.entries.clear(),
        (Some(s), _) => {
            if list.entries.remove(&s).is_none() {
                return Err(format!("{kind} {name} has no seq {s}"));
            }
        }
        (None, _) => {
            let entry = parse(rest)?;
            let seq = list
                .entries
                .iter()
                .find(|(_, e)| **e == entry)
                .map(|(s, _)| *s)
                .ok_or_else(|| format!("{kind} {name} has no such entry"))?;
            list.entries.remove(&seq);
        }
    }
    if list.entries.is_empty() {
        lists.remove(name);
    }
    Ok(Handled::Yes)
}

fn parse_prefix_entry(v6: bool, words: &[&str]) -> Result<PrefixListEntry, String> {
    let [action, prefix, rest @ ..] = words else {
        return Err("prefix-list entry needs permit|deny and a prefix (or any)".into());
    };
    let action = parse_action(action)?;
    let max: u8 = if v6 { 128 } else { 32 };
    if *prefix == "any" {
        if !rest.is_empty() {
            return Err("\"any\" takes no ge/le".into());
        }
        let prefix: IpNet = if v6 { "::/0" } else { "0.0.0.0/0" }
            .parse()
            .map_err(|_| "internal: default route".to_owned())?;
        return Ok(PrefixListEntry {
            action,
            prefix,
            any: true,
            ge: None,
            le: Some(max),
        });
    }
    let net: IpNet = prefix
        .parse()
        .map_err(|_| format!("invalid prefix \"{prefix}\""))?;
    if matches!(net, IpNet::V6(_)) != v6 {
        return Err(format!(
            "{net} is not an {} prefix",
            if v6 { "IPv6" } else { "IPv4" }
        ));
    }
    if net.trunc() != net {
        return Err(format!(
            "{net} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    let mut ge = None;
    let mut le = None;
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        let slot = match *w {
            "ge" if ge.is_none() && le.is_none() => &mut ge,
            "le" if le.is_none() => &mut le,
            _ => return Err(format!("unexpected \"{w}\" (ge N, then le N)")),
        };
        let v = it
            .next()
            .and_then(|v| v.parse::<u8>().ok())
            .filter(|v| *v <= max)
            .ok_or_else(|| format!("{w} needs a length (0..{max})"))?;
        *slot = Some(v);
    }
    let len = net.prefix_len();
    let range_ok = ge.is_none_or(|g| g > len)
        && le.is_none_or(|l| l > len || (l == len && ge.is_none()))
        && match (ge, le) {
            (Some(g), Some(l)) => g <= l,
            _ => true,
        };
    if !range_ok {
        return Err(format!(
            "invalid prefix range for {net}, make sure: len < ge-value <= le-value"
        ));
    }
    Ok(PrefixListEntry {
        action,
        prefix: net,
        any: false,
        ge,
        le,
    })
}

/// `[no] bgp community-list [standard] NAME [seq N] permit|deny COMMUNITY...`
/// and `no bgp community-list [standard] NAME`.
pub fn apply_community_list(policy: &mut Policy, words: &[&str]) -> Result<Handled, String> {
    let (no, words) = match words {
        ["no", rest @ ..] => (true, rest),
        _ => (false, words),
    };
    let rest = match words {
        ["bgp", "community-list", "standard", rest @ ..] => rest,
        ["bgp", "community-list", "expanded", ..] => {
            return Err(
                "expanded (regular expression) community-lists are not supported yet; use standard"
                    .into(),
            );
        }
        [
            "bgp",
            "community-list",
            "large-community-list" | "extcommunity-list",
            ..,
        ] => {
            return Err("only standard community-lists are supported".into());
        }
        ["bgp", "community-list", n, ..]
            if n.parse::<u8>().is_ok_and(|v| (1..=99).contains(&v)) =>
        {
            &words[2..]
        }
        ["bgp", "community-list", ..] => {
            return Err("community-list needs \"standard NAME\" or a number 1..99".into());
        }
        _ => return Ok(Handled::No),
    };
    let [name, rest @ ..] = rest else {
        return Err("community-list needs a name".into());
    };
    edit_seq_list(
        "community-list",
        &mut policy.community_lists,
        no,
        name,
        rest,
        parse_community_entry,
    )
}

fn parse_community_entry(words: &[&str]) -> Result<CommunityListEntry, String> {
    let [action, comms @ ..] = words else {
        return Err("community-list entry needs permit|deny and communities".into());
    };
    let action = parse_action(action)?;
    if comms.is_empty() {
        return Err("community-list entry needs at least one community".into());
    }
    let mut communities = comms
        .iter()
        .map(|c| parse_community(c))
        .collect::<Result<Vec<_>, _>>()?;
    communities.sort_unstable();
    communities.dedup();
    Ok(CommunityListEntry {
        action,
        communities,
    })
}

/// `route-map NAME permit|deny SEQ`: creates the entry (or changes its
/// action) and returns what the `(config-route-map)#` mode edits.
pub fn enter_route_map(
    policy: &mut Policy,
    name: &str,
    action: &str,
    seq: &str,
) -> Result<(String, u32), String> {
    check_name("route-map", name)?;
    let action = parse_action(action)?;
    let seq =
        parse_seq(seq).map_err(|_| format!("invalid sequence number \"{seq}\" (1..65535)"))?;
    if seq > 65535 {
        return Err(format!("invalid sequence number \"{seq}\" (1..65535)"));
    }
    let entry = policy
        .route_maps
        .entry(name.to_owned())
        .or_default()
        .entries
        .entry(seq)
        .or_insert_with(|| RouteMapEntry::new(action));
    entry.action = action;
    Ok((name.to_owned(), seq))
}

/// `no route-map NAME [permit|deny SEQ]`.
pub fn remove_route_map(policy: &mut Policy, words: &[&str]) -> Result<(), String> {
    match words {
        [name] => policy
            .route_maps
            .remove(*name)
            .map(|_| ())
            .ok_or_else(|| format!("route-map {name} is not configured")),
        [name, _action, seq] => {
            let seq = parse_seq(seq)?;
            let map = policy
                .route_maps
                .get_mut(*name)
                .ok_or_else(|| format!("route-map {name} is not configured"))?;
            map.entries
                .remove(&seq)
                .ok_or_else(|| format!("route-map {name} has no entry {seq}"))?;
            if map.entries.is_empty() {
                policy.route_maps.remove(*name);
            }
            Ok(())
        }
        _ => Err("usage: no route-map NAME [permit|deny SEQ]".into()),
    }
}

/// Lines of `(config-route-map)#` for entry `seq` of route-map `name`.
pub fn apply_route_map_line(
    policy: &mut Policy,
    name: &str,
    seq: u32,
    words: &[&str],
) -> Result<Handled, String> {
    let Some(e) = policy
        .route_maps
        .get_mut(name)
        .and_then(|m| m.entries.get_mut(&seq))
    else {
        // Removed underneath us (another session): the line goes up a mode.
        return Ok(Handled::No);
    };
    match words {
        ["match", "ip", "address", "prefix-list", list] => {
            check_name("prefix-list", list)?;
            e.match_prefix_v4 = Some((*list).to_owned());
        }
        ["match", "ipv6", "address", "prefix-list", list] => {
            check_name("prefix-list", list)?;
            e.match_prefix_v6 = Some((*list).to_owned());
        }
        ["match", "community", list] => {
            check_name("community-list", list)?;
            e.match_community = Some(((*list).to_owned(), false));
        }
        ["match", "community", list, "exact-match"] => {
            check_name("community-list", list)?;
            e.match_community = Some(((*list).to_owned(), true));
        }
        ["match", ..] => {
            return Err(format!(
                "unsupported match \"{}\" (ip address prefix-list, ipv6 address prefix-list, community)",
                words[1..].join(" ")
            ));
        }
        ["no", "match", "ip", "address", ..] => e.match_prefix_v4 = None,
        ["no", "match", "ipv6", "address", ..] => e.match_prefix_v6 = None,
        ["no", "match", "community", ..] => e.match_community = None,
        ["set", "local-preference", v] => {
            e.set_local_pref = Some(
                v.parse()
                    .map_err(|_| format!("invalid local-preference \"{v}\" (0..4294967295)"))?,
            );
        }
        ["set", "metric", v] => {
            e.set_metric = Some(
                v.parse()
                    .map_err(|_| format!("invalid metric \"{v}\" (0..4294967295)"))?,
            );
        }
        ["set", "community", "none"] => e.set_community = Some(SetCommunity::None),
        ["set", "community", rest @ ..] if !rest.is_empty() => {
            let (comms, additive) = match rest {
                [c @ .., "additive"] => (c, true),
                c => (c, false),
            };
            if comms.is_empty() {
                return Err("set community needs at least one community".into());
            }
            let mut communities = comms
                .iter()
                .map(|c| parse_community(c))
                .collect::<Result<Vec<_>, _>>()?;
            communities.sort_unstable();
            communities.dedup();
            e.set_community = Some(SetCommunity::Values {
                communities,
                additive,
            });
        }
        ["set", "as-path", "prepend", asns @ ..] if !asns.is_empty() => {
            let asns = asns
                .iter()
                .map(|a| parse_asn(a))
                .collect::<Result<Vec<_>, _>>()?;
            if asns.len() > 10 {
                return Err("set as-path prepend takes at most 10 AS numbers".into());
            }
            e.set_prepend = Some(asns);
        }
        ["set", ..] => {
            return Err(format!(
                "unsupported set \"{}\" (local-preference, metric, community, as-path prepend)",
                words[1..].join(" ")
            ));
        }
        ["no", "set", "local-preference", ..] => e.set_local_pref = None,
        ["no", "set", "metric", ..] => e.set_metric = None,
        ["no", "set", "community", ..] => e.set_community = None,
        ["no", "set", "as-path", "prepend", ..] => e.set_prepend = None,
        _ => return Ok(Handled::No),
    }
    Ok(Handled::Yes)
}

/// The policy objects in running-config syntax.
pub fn render(policy: &Policy, out: &mut String) {
    for (kw, lists) in [
        ("ip", &policy.prefix_lists_v4),
        ("ipv6", &policy.prefix_lists_v6),
    ] {
        for (name, list) in lists {
            for (seq, e) in &list.entries {
                let _ = write!(
                    out,
                    "{kw} prefix-list {name} seq {seq} {} ",
                    e.action.keyword()
                );
                if e.any {
                    out.push_str("any");
                } else {
                    let _ = write!(out, "{}", e.prefix);
                    if let Some(g) = e.ge {
                        let _ = write!(out, " ge {g}");
                    }
                    if let Some(l) = e.le {
                        let _ = write!(out, " le {l}");
                    }
                }
                out.push('\n');
            }
        }
        if !lists.is_empty() {
            out.push_str("!\n");
        }
    }
    for (name, list) in &policy.community_lists {
        for (seq, e) in &list.entries {
            let comms: Vec<String> = e.communities.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "bgp community-list standard {name} seq {seq} {} {}",
                e.action.keyword(),
                comms.join(" ")
            );
        }
    }
    if !policy.community_lists.is_empty() {
        out.push_str("!\n");
    }
    for (name, map) in &policy.route_maps {
        for (seq, e) in &map.entries {
            let _ = writeln!(out, "route-map {name} {} {seq}", e.action.keyword());
            if let Some(l) = &e.match_prefix_v4 {
                let _ = writeln!(out, " match ip address prefix-list {l}");
            }
            if let Some(l) = &e.match_prefix_v6 {
                let _ = writeln!(out, " match ipv6 address prefix-list {l}");
            }
            match &e.match_community {
                Some((l, true)) => {
                    let _ = writeln!(out, " match community {l} exact-match");
                }
                Some((l, false)) => {
                    let _ = writeln!(out, " match community {l}");
                }
                None => {}
            }
            if let Some(asns) = &e.set_prepend {
                let a: Vec<String> = asns.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, " set as-path prepend {}", a.join(" "));
            }
            match &e.set_community {
                Some(SetCommunity::None) => out.push_str(" set community none\n"),
                Some(SetCommunity::Values {
                    communities,
                    additive,
                }) => {
                    let c: Vec<String> = communities.iter().map(ToString::to_string).collect();
                    let _ = writeln!(
                        out,
                        " set community {}{}",
                        c.join(" "),
                        if *additive { " additive" } else { "" }
                    );
                }
                None => {}
            }
            if let Some(lp) = e.set_local_pref {
                let _ = writeln!(out, " set local-preference {lp}");
            }
            if let Some(m) = e.set_metric {
                let _ = writeln!(out, " set metric {m}");
            }
            out.push_str("exit\n!\n");
        }
    }
}
