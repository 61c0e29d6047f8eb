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

use super::bgp::{
    AfNeighbor, BgpConfig, FrrProfile, NeighborConfig, parse_remote_as, parse_u16, remote_as_word,
};

/// FRR's default `bgp listen limit`.
pub const DEFAULT_LISTEN_LIMIT: u32 = 100;

/// FRR's refusal when GTSM and multihop meet.
const GTSM_WITH_MULTIHOP: &str = "ebgp-multihop and ttl-security cannot be configured together";

/// Sets one option (`neighbor X OPTION ...` without the remote-as and
/// peer-group forms) on `n`; `group` is the settings `n` inherits, if any.
pub(super) fn set_option(
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
            super::check_text("description", text)?;
            n.description = Some(text.to_owned());
        }
        ["timers", "connect", s] => {
            n.connect_retry = Some(parse_u16(s, "connect timer", 1, 65535)?);
        }
        ["timers", ka, hold] => n.timers = Some(parse_timers(ka, hold)?),
        ["send-community", kind @ ..] => check_send_community(kind)?,
        ["passive"] => n.passive = true,
        ["password", pw] => {
            if *pw == super::PASSWORD_MASK {
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
                super::check_ifname(src)?;
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
pub(super) fn parse_timers(ka: &str, hold: &str) -> Result<(u16, u16), String> {
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
pub(super) fn check_send_community(kind: &[&str]) -> Result<(), String> {
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
pub(super) fn unsupported(words: &[&str]) -> Option<String> {
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
pub(super) fn unset_option(n: &mut NeighborConfig, rest: &[&str]) -> Result<(), String> {
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
pub(super) fn apply_group(
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
pub(super) fn unapply_group(bgp: &mut BgpConfig, name: &str, rest: &[&str]) -> Result<(), String> {
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
pub(super) fn delete_group(bgp: &mut BgpConfig, name: &str) -> Result<(), String> {
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
    bgp.families
        .retain(|_, af| *af != super::bgp::AfConfig::default());
    bgp.listen_ranges.retain(|_, g| g != name);
    Ok(())
}

/// `neighbor ADDRESS peer-group NAME`: makes ADDRESS (new, or configured
/// without a group) a member of NAME.
pub(super) fn bind(bgp: &mut BgpConfig, addr: IpAddr, name: &str) -> Result<(), String> {
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
pub(super) fn apply_listen(bgp: &mut BgpConfig, words: &[&str]) -> Result<(), String> {
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
            let pa = super::PathAttrPolicy::inherit(
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

#[cfg(test)]
mod tests {
    use super::super::{Config, Family};
    use super::*;

    const GROUPS: &str = "\
router bgp 65001
 bgp listen limit 10
 neighbor FABRIC peer-group
 neighbor FABRIC remote-as external
 neighbor FABRIC timers 1 3
 neighbor FABRIC ttl-security hops 1
 neighbor RACK peer-group
 neighbor RACK remote-as 65100
 neighbor OWNAS peer-group
 neighbor OWNAS timers 2 6
 bgp listen range 192.0.2.0/24 peer-group FABRIC
 bgp listen range 2001:db8::/64 peer-group FABRIC
 bgp listen range 192.0.2.128/25 peer-group RACK
 neighbor 198.51.100.1 peer-group FABRIC
 neighbor 198.51.100.1 description spine one
 neighbor 198.51.100.2 remote-as 65200
 neighbor 198.51.100.2 peer-group OWNAS
 neighbor 198.51.100.3 remote-as 65300
 neighbor 198.51.100.3 ebgp-multihop 3
 !
 address-family ipv4 unicast
  aggregate-address 10.0.0.0/8 as-set summary-only
  aggregate-address 10.1.0.0/16
  neighbor FABRIC route-map FROM-FABRIC in
  neighbor OWNAS route-map FROM-OWN in
  neighbor OWNAS maximum-prefix 500
  neighbor 198.51.100.2 route-map MINE in
 exit-address-family
 !
 address-family ipv6 unicast
  aggregate-address 2001:db8:100::/48 summary-only
  neighbor FABRIC activate
  neighbor OWNAS activate
 exit-address-family
exit
";

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn peer_groups_and_ranges_parse_and_round_trip() {
        let c = Config::parse("t", GROUPS).unwrap_or_else(|e| panic!("{e:?}"));
        let text = c.render();
        let again = Config::parse("running", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(again, c, "{text}");
        assert_eq!(again.render(), text);
        let b = c.bgp.expect("bgp");
        assert_eq!(b.peer_groups.len(), 3);
        assert_eq!(b.listen_limit(), 10);
        assert_eq!(b.listen_group(addr("192.0.2.7")), Some("FABRIC"));
        assert_eq!(
            b.listen_group(addr("192.0.2.200")),
            Some("RACK"),
            "longest match"
        );
        assert_eq!(b.listen_group(addr("2001:db8::9")), Some("FABRIC"));
        assert_eq!(b.listen_group(addr("203.0.113.1")), None);
        let aggs: Vec<_> = b.aggregates(Family::Ipv4Unicast).collect();
        assert_eq!(aggs.len(), 2);
        assert!(aggs[0].1.as_set && aggs[0].1.summary_only);
        assert!(!aggs[1].1.as_set && !aggs[1].1.summary_only);
    }

    #[test]
    fn members_inherit_what_they_do_not_set() {
        let b = Config::parse("t", GROUPS).unwrap().bgp.unwrap();
        let r = b.resolved();
        let one = &r.neighbors[&addr("198.51.100.1")];
        assert_eq!(
            one.remote_as,
            Some(super::super::bgp::RemoteAsConfig::External)
        );
        assert_eq!(one.timers(), (1, 3));
        assert_eq!(one.ttl_security, Some(1));
        assert_eq!(one.description.as_deref(), Some("spine one"));
        let two = addr("198.51.100.2");
        assert_eq!(
            r.neighbors[&two].remote_as,
            Some(super::super::bgp::RemoteAsConfig::Asn(65200)),
            "own remote-as wins"
        );
        assert_eq!(
            r.route_maps(two, Family::Ipv4Unicast),
            (Some("MINE"), None),
            "own route-map wins"
        );
        assert_eq!(r.maximum_prefix(two, Family::Ipv4Unicast), Some(500));
        assert_eq!(r.neighbors[&two].timers(), (2, 6));
        assert!(
            r.is_active(two, Family::Ipv6Unicast),
            "group activated ipv6"
        );
        let three = &r.neighbors[&addr("198.51.100.3")];
        assert_eq!(three.ebgp_multihop, Some(3));
        // A dynamic neighbor is a passive member with the group's settings.
        let mut r = r;
        let d = r.add_dynamic(addr("192.0.2.9"), "FABRIC").expect("dynamic");
        assert!(d.passive);
        assert_eq!(d.ttl_security, Some(1));
        assert_eq!(
            r.route_maps(addr("192.0.2.9"), Family::Ipv4Unicast),
            (Some("FROM-FABRIC"), None)
        );
        assert!(r.is_active(addr("192.0.2.9"), Family::Ipv6Unicast));
    }

    #[test]
    fn group_lines_undo() {
        let mut c = Config::parse("t", GROUPS).unwrap();
        let mut s = super::super::ConfigSession::default();
        for line in [
            "router bgp 65001",
            "no neighbor 198.51.100.2 peer-group OWNAS",
            "no bgp listen range 192.0.2.128/25 peer-group RACK",
            "no bgp listen limit",
            "no neighbor FABRIC ttl-security hops 1",
            "no neighbor FABRIC peer-group",
        ] {
            s.apply(&mut c, line)
                .unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let b = c.bgp.as_ref().unwrap();
        assert!(!b.peer_groups.contains_key("FABRIC"));
        assert!(
            !b.neighbors.contains_key(&addr("198.51.100.1")),
            "member without its own remote-as goes with the group"
        );
        assert_eq!(b.neighbors[&addr("198.51.100.2")].peer_group, None);
        assert!(b.listen_ranges.is_empty());
        assert_eq!(b.listen_limit, None);
        assert!(
            b.families
                .values()
                .all(|af| !af.groups.contains_key("FABRIC"))
        );
        let text = c.render();
        assert_eq!(Config::parse("r", &text).unwrap(), c, "{text}");
    }

    #[test]
    fn bad_group_lines_are_refused() {
        let cases = [
            (
                "neighbor NOPE remote-as 65000",
                "not a configured peer-group",
            ),
            ("neighbor 192.0.2.1 peer-group NOPE", "not configured"),
            (
                "neighbor G peer-group\n neighbor 192.0.2.1 peer-group G",
                "Specify remote-as",
            ),
            (
                "bgp listen range 192.0.2.0/24 peer-group NOPE",
                "Configure the peer-group first",
            ),
            (
                "neighbor G peer-group\n neighbor H peer-group\n bgp listen range 192.0.2.0/24 peer-group G\n bgp listen range 192.0.2.0/24 peer-group H",
                "already exists",
            ),
            ("bgp listen limit 0", "Invalid limit"),
            (
                "neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 ebgp-multihop\n neighbor 192.0.2.1 ttl-security hops 2",
                GTSM_WITH_MULTIHOP,
            ),
            (
                "neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 ttl-security hops 2\n neighbor 192.0.2.1 ebgp-multihop 2",
                GTSM_WITH_MULTIHOP,
            ),
            (
                "neighbor G peer-group\n neighbor G ebgp-multihop\n neighbor G remote-as 1\n neighbor 192.0.2.1 peer-group G\n neighbor 192.0.2.1 ttl-security hops 1",
                GTSM_WITH_MULTIHOP,
            ),
            (
                "neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 ttl-security hops 255",
                "invalid hop count",
            ),
            (
                "neighbor G peer-group\n neighbor G remote-as 1\n neighbor 192.0.2.1 peer-group G\n neighbor 192.0.2.1 remote-as 2",
                "cannot configure remote-as for member",
            ),
            ("neighbor bad/name peer-group", "invalid peer-group name"),
            (
                "address-family ipv4 unicast\n  neighbor NOPE activate",
                "neither a neighbor address nor a configured peer-group",
            ),
            (
                "address-family ipv4 unicast\n  aggregate-address 10.0.0.1/8",
                "host bits",
            ),
            (
                "address-family ipv4 unicast\n  aggregate-address 10.0.0.0/8 route-map X",
                "not supported",
            ),
            (
                "address-family ipv6 unicast\n  aggregate-address 10.0.0.0/8",
                "not an ipv6 unicast prefix",
            ),
        ];
        for (body, want) in cases {
            let text = format!("router bgp 65001\n {body}\n");
            let errs = Config::parse("t", &text).expect_err(&text);
            assert!(
                errs.iter().any(|e| e.reason.contains(want)),
                "{text}: {errs:?}"
            );
        }
    }

    #[test]
    fn a_refused_line_changes_nothing() {
        let mut c = Config::parse("t", GROUPS).unwrap();
        let before = c.clone();
        let mut s = super::super::ConfigSession::default();
        s.apply(&mut c, "router bgp 65001").unwrap();
        for bad in [
            "neighbor 198.51.100.1 ebgp-multihop",
            "neighbor 198.51.100.9 peer-group NOPE",
            "bgp listen range 192.0.2.0/24 peer-group RACK",
            "neighbor OWNAS remote-as 65999",
        ] {
            assert!(s.apply(&mut c, bad).is_err(), "{bad}");
            assert_eq!(c, before, "{bad}");
        }
    }
}
