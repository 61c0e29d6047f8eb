//! Neighbor options shared by addresses and peer-groups, the peer-group
//! lines (`neighbor NAME peer-group`, `neighbor ADDRESS peer-group NAME`),
//! the dynamic-neighbor lines (`bgp listen range|limit`), and the
//! resolution of a member's settings from its group.
//!
//! As in FRR, a member takes every setting it does not give itself from its
//! group, in the session and in each address family; a dynamic neighbor (a
//! connection from an address in a listen range) is a member of the range's
//! group that exists while its session does.
use std::net::IpAddr;

use ipnet::IpNet;

use super::check::{PASSWORD_MASK, check_ifname, check_text, parse_u16};
use super::model::{
    AfConfig, AfNeighbor, BgpConfig, FrrProfile, NeighborConfig, PathAttrPolicy, parse_remote_as,
    remote_as_word,
};

/// FRR's default `bgp listen limit`.
pub const DEFAULT_LISTEN_LIMIT: u32 = 100;

/// FRR's refusal when GTSM and multihop meet.
pub const GTSM_WITH_MULTIHOP: &str = "ebgp-multihop and ttl-security cannot be configured together";

/// Sets one option (`neighbor X OPTION ...` without the remote-as and
/// peer-group forms) on `n`; `group` is the settings `n` inherits, if any.
pub fn set_option(
    n: &mut NeighborConfig,
    group: Option<&NeighborConfig>,
    rest: &[&str],
    line: &str,
) -> Result<(), String> {
    let inherited = |f: fn(&NeighborConfig) -> bool| group.is_some_and(f);
    match rest {
        ["description", _, ..] => {
            let at = line
                .find("description")
                .map_or(line.len(), |i| i + "description".len());
            let text = line[at..].trim();
            check_text("description", text)?;
            n.description = Some(text.to_owned());
        }
        ["timers", "connect", s] => {
            n.connect_retry = Some(parse_u16(s, "connect timer", 1, 65535)?);
        }
        ["timers", ka, hold] => n.timers = Some(parse_timers(ka, hold)?),
        ["send-community", kind @ ..] => check_send_community(kind)?,
        ["passive"] => n.passive = true,
        ["password", pw] => {
            if *pw == PASSWORD_MASK {
                return Err(format!(
                    "\"{pw}\" is how show running-config hides a password from users other \
                     than root: give the password itself"
                ));
            }
            if pw.len() > 80 {
                return Err("password longer than 80 characters (TCP MD5 key limit)".into());
            }
            n.password = Some((*pw).to_owned());
        }
        ["password", ..] => return Err("password takes one word".into()),
        ["ebgp-multihop", ttl @ ..] if ttl.len() <= 1 => {
            if n.ttl_security.is_some() || inherited(|g| g.ttl_security.is_some()) {
                return Err(GTSM_WITH_MULTIHOP.into());
            }
            let t = match ttl.first() {
                Some(t) => u8::try_from(parse_u16(t, "TTL", 1, 255)?).unwrap_or(255),
                None => 255,
            };
            n.ebgp_multihop = Some(t);
        }
        ["ttl-security", "hops", h] => {
            if n.ebgp_multihop.is_some() || inherited(|g| g.ebgp_multihop.is_some()) {
                return Err(GTSM_WITH_MULTIHOP.into());
            }
            let h = u8::try_from(parse_u16(h, "hop count", 1, 254)?).unwrap_or(254);
            n.ttl_security = Some(h);
        }
        ["ttl-security", ..] => return Err("usage: neighbor X ttl-security hops (1-254)".into()),
        ["update-source", src] => {
            if src.parse::<IpAddr>().is_err() {
                check_ifname(src)?;
            }
            n.update_source = Some((*src).to_owned());
        }
        ["shutdown"] => n.shutdown = true,
        ["bfd"] => n.bfd = true,
        ["bfd", rest @ ..] => {
            return Err(format!(
                "\"neighbor ... bfd {}\" is not supported by Tern yet (neighbor X bfd, with \
                 the timers under bfd / peer X)",
                rest.join(" ")
            ));
        }
        [] => return Err("incomplete neighbor command".into()),
        other => {
            return Err(format!(
                "unknown or unsupported neighbor option \"{}\"",
                other.join(" ")
            ));
        }
    }
    Ok(())
}

/// `KEEPALIVE HOLD` of `timers` (a neighbor's, or `timers bgp`).
pub fn parse_timers(ka: &str, hold: &str) -> Result<(u16, u16), String> {
    let ka = parse_u16(ka, "keepalive", 0, 65535)?;
    let hold = parse_u16(hold, "hold time", 0, 65535)?;
    if hold != 0 && hold < 3 {
        return Err(format!(
            "hold time {hold} must be 0 or at least 3 (RFC 4271)"
        ));
    }
    Ok((ka, hold))
}

/// `neighbor X send-community [standard|extended|large|all|both]`:
/// accepted as it is what Tern does (every community is sent, FRR's
/// default too), nothing to store.
pub fn check_send_community(kind: &[&str]) -> Result<(), String> {
    match kind {
        [] | ["standard" | "extended" | "large" | "all" | "both"] => Ok(()),
        _ => Err(format!(
            "send-community \"{}\": standard, extended, large, all or both",
            kind.join(" ")
        )),
    }
}

/// The neighbor options of FRR that Tern does not implement, refused by
/// name wherever they are typed (router or address-family mode, for an
/// address, a peer-group or an interface name).
const UNSUPPORTED_NEIGHBOR: &[(&str, &str)] = &[
    ("interface", "BGP unnumbered: configure the peer's address"),
    ("as-override", ""),
    ("remove-private-AS", ""),
    ("default-originate", ""),
    ("local-as", ""),
    ("weight", ""),
    ("prefix-list", "use a route-map that matches a prefix-list"),
    ("filter-list", ""),
    ("distribute-list", ""),
    ("unsuppress-map", ""),
    ("attribute-unchanged", ""),
    ("capability", ""),
    ("addpath-tx-all-paths", ""),
    ("addpath-tx-bestpath-per-AS", ""),
    ("advertisement-interval", ""),
    ("disable-connected-check", ""),
    ("enforce-first-as", "it is always on"),
    ("port", ""),
    ("solo", ""),
    ("strict-capability-match", ""),
    ("dont-capability-negotiate", ""),
    ("override-capability", ""),
    ("local-role", ""),
    ("sender-as-path-loop-detection", ""),
];

/// The refusal of `[no] neighbor X OPTION ...` when OPTION is one of
/// [`UNSUPPORTED_NEIGHBOR`], or of `no neighbor X send-community`.
pub fn unsupported(words: &[&str]) -> Option<String> {
    let (no, rest) = match words {
        ["no", "neighbor", _, rest @ ..] => ("no ", rest),
        ["neighbor", _, rest @ ..] => ("", rest),
        _ => return None,
    };
    let opt = rest.first()?;
    if *opt == "send-community" && !no.is_empty() {
        return Some(
            "\"no neighbor ... send-community\" is not supported by Tern yet: \
             Tern sends every community (standard, extended, large) to every neighbor"
                .into(),
        );
    }
    let (name, why) = UNSUPPORTED_NEIGHBOR.iter().find(|(n, _)| n == opt)?;
    let mut msg = format!("\"{no}neighbor ... {name}\" is not supported by Tern yet");
    if !why.is_empty() {
        msg.push_str(" (");
        msg.push_str(why);
        msg.push(')');
    }
    Some(msg)
}

/// Undoes one option (`no neighbor X OPTION ...`).
pub fn unset_option(n: &mut NeighborConfig, rest: &[&str]) -> Result<(), String> {
    match rest {
        ["description", ..] => n.description = None,
        ["timers", "connect", ..] => n.connect_retry = None,
        ["timers", ..] => n.timers = None,
        ["passive"] => n.passive = false,
        ["password", ..] => n.password = None,
        ["ebgp-multihop", ..] => n.ebgp_multihop = None,
        ["ttl-security", ..] => n.ttl_security = None,
        ["update-source", ..] => n.update_source = None,
        ["shutdown", ..] => n.shutdown = false,
        ["bfd", ..] => n.bfd = false,
        _ => return Err(format!("unknown neighbor option \"{}\"", rest.join(" "))),
    }
    Ok(())
}

fn check_group_name(name: &str) -> Result<(), String> {
    super::policy::check_name("peer-group", name)
}

/// `neighbor NAME ...` where NAME is not an address: a peer-group.
pub fn apply_group(
    bgp: &mut BgpConfig,
    name: &str,
    rest: &[&str],
    line: &str,
) -> Result<(), String> {
    if let ["peer-group"] = rest {
        check_group_name(name)?;
        bgp.peer_groups.entry(name.to_owned()).or_default();
        return Ok(());
    }
    let Some(g) = bgp.peer_groups.get_mut(name) else {
        return Err(format!(
            "\"{name}\" is not a configured peer-group (neighbor {name} peer-group, first) \
             and not an IP address"
        ));
    };
    match rest {
        ["remote-as", asn] => {
            let r = parse_remote_as(asn)?;
            // FRR refuses a group AS when a member has its own, different one.
            if let Some((addr, n)) = bgp.neighbors.iter().find(|(_, n)| {
                n.peer_group.as_deref() == Some(name) && n.remote_as.is_some_and(|m| m != r)
            }) {
                let own = n.remote_as.map(remote_as_word).unwrap_or_default();
                return Err(format!(
                    "member {addr} of peer-group {name} has its own remote-as {own}; \
                     remove it first"
                ));
            }
            g.remote_as = Some(r);
            Ok(())
        }
        ["peer-group", ..] => Err(format!(
            "\"{name}\" is a peer-group, not a neighbor address"
        )),
        _ => set_option(g, None, rest, line),
    }
}

/// `no neighbor NAME ...` for a peer-group.
pub fn unapply_group(bgp: &mut BgpConfig, name: &str, rest: &[&str]) -> Result<(), String> {
    if let ["peer-group"] = rest {
        return delete_group(bgp, name);
    }
    let g = bgp
        .peer_groups
        .get_mut(name)
        .ok_or_else(|| format!("peer-group {name} is not configured"))?;
    match rest {
        ["remote-as", ..] => {
            g.remote_as = None;
            Ok(())
        }
        _ => unset_option(g, rest),
    }
}

/// `no neighbor NAME peer-group`: as FRR, the group goes with its members
/// that have no remote-as of their own, and with its listen ranges.
pub fn delete_group(bgp: &mut BgpConfig, name: &str) -> Result<(), String> {
    if bgp.peer_groups.remove(name).is_none() {
        return Err(format!("peer-group {name} is not configured"));
    }
    bgp.group_path_attributes.remove(name);
    let gone: Vec<IpAddr> = bgp
        .neighbors
        .iter()
        .filter(|(_, n)| n.peer_group.as_deref() == Some(name) && n.remote_as.is_none())
        .map(|(a, _)| *a)
        .collect();
    for a in &gone {
        bgp.neighbors.remove(a);
        bgp.path_attributes.remove(a);
    }
    for n in bgp.neighbors.values_mut() {
        if n.peer_group.as_deref() == Some(name) {
            n.peer_group = None;
        }
    }
    for af in bgp.families.values_mut() {
        af.groups.remove(name);
        af.neighbors.retain(|a, _| !gone.contains(a));
    }
    bgp.families.retain(|_, af| *af != AfConfig::default());
    bgp.listen_ranges.retain(|_, g| g != name);
    Ok(())
}

/// `neighbor ADDRESS peer-group NAME`: makes ADDRESS (new, or configured
/// without a group) a member of NAME.
pub fn bind(bgp: &mut BgpConfig, addr: IpAddr, name: &str) -> Result<(), String> {
    let Some(g) = bgp.peer_groups.get(name) else {
        return Err(format!(
            "peer-group {name} is not configured (neighbor {name} peer-group, first)"
        ));
    };
    match bgp.neighbors.get(&addr) {
        Some(n) if n.peer_group.as_deref() == Some(name) => Ok(()),
        Some(n) if n.peer_group.is_some() => {
            Err("Cannot change the peer-group. Deconfigure first".into())
        }
        Some(n) => {
            if let (Some(own), Some(theirs)) = (n.remote_as, g.remote_as)
                && own != theirs
            {
                return Err(format!(
                    "neighbor {addr} has remote-as {} and peer-group {name} remote-as {}",
                    remote_as_word(own),
                    remote_as_word(theirs)
                ));
            }
            if (n.ttl_security.is_some() && g.ebgp_multihop.is_some())
                || (n.ebgp_multihop.is_some() && g.ttl_security.is_some())
            {
                return Err(GTSM_WITH_MULTIHOP.into());
            }
            if let Some(n) = bgp.neighbors.get_mut(&addr) {
                n.peer_group = Some(name.to_owned());
            }
            Ok(())
        }
        None => {
            if g.remote_as.is_none() {
                return Err(format!(
                    "Specify remote-as or peer-group remote AS first \
                     (neighbor {addr} remote-as ..., or neighbor {name} remote-as ...)"
                ));
            }
            bgp.neighbors.insert(
                addr,
                NeighborConfig {
                    peer_group: Some(name.to_owned()),
                    ..NeighborConfig::default()
                },
            );
            Ok(())
        }
    }
}

/// `[no] bgp listen range PREFIX peer-group NAME`, `[no] bgp listen limit N`.
pub fn apply_listen(bgp: &mut BgpConfig, words: &[&str]) -> Result<(), String> {
    let (no, words) = match words {
        ["no", rest @ ..] => (true, rest),
        _ => (false, words),
    };
    match words {
        ["bgp", "listen", "range", p, "peer-group", name] => {
            let net: IpNet = p
                .parse()
                .map_err(|_| format!("invalid listen range \"{p}\" (a prefix)"))?;
            let net = net.trunc();
            if no {
                return match bgp.listen_ranges.get(&net) {
                    Some(g) if g == name => {
                        bgp.listen_ranges.remove(&net);
                        Ok(())
                    }
                    _ => Err(format!(
                        "listen range {net} peer-group {name} is not configured"
                    )),
                };
            }
            if !bgp.peer_groups.contains_key(*name) {
                return Err(format!(
                    "Configure the peer-group first (neighbor {name} peer-group)"
                ));
            }
            match bgp.listen_ranges.get(&net) {
                Some(g) if g == name => Ok(()),
                Some(g) => Err(format!(
                    "Dynamic neighbor listen range already exists (peer-group {g})"
                )),
                None => {
                    bgp.listen_ranges.insert(net, (*name).to_owned());
                    Ok(())
                }
            }
        }
        ["bgp", "listen", "range", ..] => {
            Err("usage: bgp listen range PREFIX peer-group NAME".into())
        }
        ["bgp", "listen", "limit", ..] if no => {
            bgp.listen_limit = None;
            Ok(())
        }
        ["bgp", "listen", "limit", n] => {
            let v = parse_u16(n, "listen limit", 1, 65535).map_err(|_| {
                format!("Invalid limit for number of dynamic neighbors: \"{n}\" (1..65535)")
            })?;
            bgp.listen_limit = Some(u32::from(v));
            Ok(())
        }
        _ => Err(format!(
            "unknown command \"{}\" (bgp listen range|limit)",
            words.join(" ")
        )),
    }
}

/// `n`'s settings completed from `g` (a member's from its group).
fn inherit(n: &NeighborConfig, g: &NeighborConfig) -> NeighborConfig {
    NeighborConfig {
        remote_as: n.remote_as.or(g.remote_as),
        description: n.description.clone().or_else(|| g.description.clone()),
        timers: n.timers.or(g.timers),
        connect_retry: n.connect_retry.or(g.connect_retry),
        passive: n.passive || g.passive,
        shutdown: n.shutdown || g.shutdown,
        password: n.password.clone().or_else(|| g.password.clone()),
        ebgp_multihop: n.ebgp_multihop.or(g.ebgp_multihop),
        update_source: n.update_source.clone().or_else(|| g.update_source.clone()),
        ttl_security: n.ttl_security.or(g.ttl_security),
        bfd: n.bfd || g.bfd,
        peer_group: n.peer_group.clone(),
    }
}

/// The same for one address family.
fn inherit_af(n: &AfNeighbor, g: &AfNeighbor) -> AfNeighbor {
    AfNeighbor {
        activate: n.activate.or(g.activate),
        maximum_prefix: n.maximum_prefix.or(g.maximum_prefix),
        rr_client: n.rr_client || g.rr_client,
        route_map_in: n.route_map_in.clone().or_else(|| g.route_map_in.clone()),
        route_map_out: n.route_map_out.clone().or_else(|| g.route_map_out.clone()),
        allowas_in: n.allowas_in.or(g.allowas_in),
        next_hop_self: n.next_hop_self || g.next_hop_self,
        next_hop_self_force: n.next_hop_self_force || g.next_hop_self_force,
        soft_reconfig_in: n.soft_reconfig_in || g.soft_reconfig_in,
    }
}

impl BgpConfig {
    /// The configuration the speaker runs: every peer-group member's
    /// settings completed from its group, in the session and in each
    /// address family. Groups and ranges are kept (for dynamic neighbors).
    pub fn resolved(&self) -> BgpConfig {
        let mut out = self.clone();
        for (addr, n) in out.neighbors.iter_mut() {
            // `timers bgp`: the default of neighbors (and their groups)
            // that give none.
            let group_timers = n
                .peer_group
                .as_ref()
                .and_then(|g| self.peer_groups.get(g))
                .and_then(|g| g.timers);
            n.timers = n
                .timers
                .or(group_timers)
                .or(self.timers)
                .or_else(|| self.profile_timers());
            let Some(g) = n.peer_group.as_ref().and_then(|g| self.peer_groups.get(g)) else {
                continue;
            };
            let name = n.peer_group.clone().unwrap_or_default();
            *n = inherit(n, g);
            let pa = PathAttrPolicy::inherit(
                self.path_attributes.get(addr),
                self.group_path_attributes.get(&name),
            );
            match pa {
                Some(p) => out.path_attributes.insert(*addr, p),
                None => out.path_attributes.remove(addr),
            };
            for af in out.families.values_mut() {
                if let Some(gaf) = af.groups.get(&name).cloned() {
                    let mine = af.neighbors.entry(*addr).or_default();
                    *mine = inherit_af(mine, &gaf);
                }
            }
        }
        if self.profile != FrrProfile::Datacenter {
            for n in out.neighbors.values_mut() {
                n.connect_retry.get_or_insert(self.profile.connect_retry());
            }
        }
        out
    }

    /// The timers `frr defaults` gives neighbors that set none, when they
    /// are not Tern's own defaults.
    fn profile_timers(&self) -> Option<(u16, u16)> {
        (self.profile != FrrProfile::Datacenter).then(|| self.profile.timers())
    }

    /// The peer-group of the listen range that holds `addr` (the longest
    /// match), if any.
    pub fn listen_group(&self, addr: IpAddr) -> Option<&str> {
        self.listen_ranges
            .iter()
            .filter(|(r, _)| r.contains(&addr))
            .max_by_key(|(r, _)| r.prefix_len())
            .map(|(_, g)| g.as_str())
    }

    /// Most dynamic neighbors at once.
    pub fn listen_limit(&self) -> u32 {
        self.listen_limit.unwrap_or(DEFAULT_LISTEN_LIMIT)
    }

    /// Adds `addr` as a dynamic member of `group` to this (resolved)
    /// configuration, with the group's settings; it never connects out.
    /// None when the group does not exist or gives no remote-as.
    pub fn add_dynamic(&mut self, addr: IpAddr, group: &str) -> Option<NeighborConfig> {
        let g = self.peer_groups.get(group)?;
        g.remote_as?;
        let mut n = inherit(&NeighborConfig::default(), g);
        n.timers = n.timers.or(self.timers).or_else(|| self.profile_timers());
        if self.profile != FrrProfile::Datacenter {
            n.connect_retry.get_or_insert(self.profile.connect_retry());
        }
        n.peer_group = Some(group.to_owned());
        n.passive = true;
        for af in self.families.values_mut() {
            if let Some(gaf) = af.groups.get(group).cloned() {
                af.neighbors.insert(addr, gaf);
            }
        }
        match self.group_path_attributes.get(group) {
            Some(p) if !p.is_empty() => self.path_attributes.insert(addr, p.clone()),
            _ => self.path_attributes.remove(&addr),
        };
        self.neighbors.insert(addr, n.clone());
        Some(n)
    }
}
