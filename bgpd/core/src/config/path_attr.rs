//! `neighbor ADDRESS|PEERGROUP path-attribute discard|treat-as-withdraw
//! TYPE...` (FRR 9's words): per-neighbor handling of path attribute types
//! in received UPDATEs. `discard` drops the attributes and keeps the
//! routes; `treat-as-withdraw` handles every route of an UPDATE that
//! carries one of the types as withdrawn. A line replaces the types given
//! before for that kind, as in FRR; `no ... TYPE...` removes some, a bare
//! `no ...` all. A member takes the group's list when it has none of its
//! own. A change applies to UPDATEs received after it.
use std::{collections::BTreeSet, fmt::Write as _, net::IpAddr};

use super::model::{BgpConfig, PathAttrPolicy, RemoteAsConfig};

/// The types FRR refuses for both kinds: the well-known mandatory ones,
/// MED, the multiprotocol attributes and extended communities.
const NEVER: [u8; 7] = [1, 2, 3, 4, 14, 15, 16];
/// LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST: eBGP neighbors only.
const EBGP_ONLY: [u8; 3] = [5, 9, 10];

/// Which list a line names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Discard,
    Withdraw,
}

impl Kind {
    fn parse(s: &str) -> Result<Kind, String> {
        match s {
            "discard" => Ok(Kind::Discard),
            "treat-as-withdraw" => Ok(Kind::Withdraw),
            _ => Err(format!(
                "path-attribute \"{s}\": discard or treat-as-withdraw"
            )),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Discard => "discard",
            Kind::Withdraw => "treat-as-withdraw",
        }
    }

    fn list(self, p: &mut PathAttrPolicy) -> &mut BTreeSet<u8> {
        match self {
            Kind::Discard => &mut p.discard,
            Kind::Withdraw => &mut p.withdraw,
        }
    }
}

fn parse_types(words: &[&str]) -> Result<BTreeSet<u8>, String> {
    words
        .iter()
        .map(|w| {
            w.parse::<u8>()
                .ok()
                .filter(|t| *t >= 1)
                .ok_or_else(|| format!("invalid path attribute type \"{w}\" (1-255)"))
        })
        .collect()
}

/// Whether `peer` (an address or a group name) is known to be internal.
fn is_internal(bgp: &BgpConfig, peer: &str) -> bool {
    let own = |r: Option<RemoteAsConfig>| match r {
        Some(RemoteAsConfig::Internal) => Some(true),
        Some(RemoteAsConfig::Asn(a)) => Some(a == bgp.asn),
        Some(RemoteAsConfig::External) => Some(false),
        None => None,
    };
    match peer.parse::<IpAddr>() {
        Ok(addr) => bgp.neighbors.get(&addr).is_some_and(|n| {
            own(n.remote_as)
                .or_else(|| {
                    let g = n.peer_group.as_ref()?;
                    own(bgp.peer_groups.get(g)?.remote_as)
                })
                .unwrap_or(false)
        }),
        Err(_) => bgp
            .peer_groups
            .get(peer)
            .and_then(|g| own(g.remote_as))
            .unwrap_or(false),
    }
}

/// The stored lines of `peer`, created empty.
fn entry<'a>(bgp: &'a mut BgpConfig, peer: &str) -> &'a mut PathAttrPolicy {
    match peer.parse::<IpAddr>() {
        Ok(addr) => bgp.path_attributes.entry(addr).or_default(),
        Err(_) => bgp
            .group_path_attributes
            .entry(peer.to_owned())
            .or_default(),
    }
}

/// Drops what renders to nothing, so that running-config reads back equal.
fn tidy(bgp: &mut BgpConfig) {
    bgp.path_attributes.retain(|_, p| !p.is_empty());
    bgp.group_path_attributes.retain(|_, p| !p.is_empty());
}

/// `[no] neighbor PEER path-attribute KIND TYPE...`; `rest` follows
/// `path-attribute`.
pub fn apply(bgp: &mut BgpConfig, peer: &str, rest: &[&str], no: bool) -> Result<(), String> {
    let (kind, types) = match rest {
        [kind, types @ ..] => (Kind::parse(kind)?, parse_types(types)?),
        [] => {
            return Err(
                "usage: neighbor PEER path-attribute discard|treat-as-withdraw (1-255)...".into(),
            );
        }
    };
    let known = match peer.parse::<IpAddr>() {
        Ok(addr) => bgp.neighbors.contains_key(&addr),
        Err(_) => bgp.peer_groups.contains_key(peer),
    };
    if no {
        if known {
            let list = kind.list(entry(bgp, peer));
            if types.is_empty() {
                list.clear();
            } else {
                list.retain(|t| !types.contains(t));
            }
        }
        tidy(bgp);
        return Ok(());
    }
    if !known {
        return Err(format!(
            "\"{peer}\" is neither a configured neighbor nor a configured peer-group"
        ));
    }
    if types.is_empty() {
        return Err(format!(
            "usage: neighbor {peer} path-attribute {} (1-255)...",
            kind.word()
        ));
    }
    let word = kind.word();
    if let Some(t) = types.iter().find(|t| NEVER.contains(t)) {
        return Err(format!(
            "Can't {word} path-attribute {t} ({}): ORIGIN, AS_PATH, NEXT_HOP, MED, \
             MP_REACH_NLRI, MP_UNREACH_NLRI and EXTENDED_COMMUNITIES cannot be",
            tern_bgp_wire::attr_type::name(*t)
        ));
    }
    if is_internal(bgp, peer)
        && let Some(t) = types.iter().find(|t| EBGP_ONLY.contains(t))
    {
        return Err(format!(
            "Can {word} path-attribute {t} ({}) only for eBGP",
            tern_bgp_wire::attr_type::name(*t)
        ));
    }
    *kind.list(entry(bgp, peer)) = types;
    Ok(())
}

fn join(types: &BTreeSet<u8>) -> String {
    types
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lines of one neighbor or peer-group, as FRR writes them (after the
/// neighbor's other session options).
pub fn render(who: &str, p: Option<&PathAttrPolicy>, out: &mut String) {
    let Some(p) = p else { return };
    if !p.discard.is_empty() {
        let _ = writeln!(
            out,
            " neighbor {who} path-attribute discard {}",
            join(&p.discard)
        );
    }
    if !p.withdraw.is_empty() {
        let _ = writeln!(
            out,
            " neighbor {who} path-attribute treat-as-withdraw {}",
            join(&p.withdraw)
        );
    }
}
