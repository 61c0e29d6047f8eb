//! The VPN RIB: VPN-IPv4 and VPN-IPv6 routes (RFC 4364, RFC 4659; AFI 1
//! and 2, SAFI 128) keyed by route distinguisher and prefix, with the
//! SRv6 service SID each path carries (RFC 9252).
//!
//! It is kept apart from the unicast Loc-RIB ([`crate::rib::Rib`]): the
//! unicast tables and their hot path do not know VPN routes exist. The best
//! path of a destination is chosen by the same decision process
//! ([`crate::rib::compare_paths`]); a path without a usable SRv6 SID cannot
//! carry traffic over SRv6 and is ineligible: it is kept (and shown) but
//! never selected.
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;
use tern_bgp_wire::{
    Attribute, ExtendedCommunity, Label, NextHop, NlriPrefix, RouteDistinguisher, Srv6SidStructure,
    UpdateMessage,
};

use crate::config::VpnFamily;
use crate::rib::{PathAttrs, PathSender, RouteNextHop, compare_paths};

/// One VPN destination: route distinguisher and prefix (the family is the
/// prefix's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VpnKey {
    pub rd: RouteDistinguisher,
    pub prefix: IpNet,
}

/// The SRv6 service of a path: the full SID (the transposed bits put back
/// from the label), its endpoint behavior and the structure advertised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceSid {
    pub sid: Ipv6Addr,
    /// The SID as the Prefix-SID attribute carried it (the transposed
    /// bits zero), which FRR shows as the remote SID.
    pub advertised: Ipv6Addr,
    /// RFC 8986 code point (End.DT4 19, End.DT6 18, End.DT46 20).
    pub behavior: u16,
    pub structure: Option<Srv6SidStructure>,
}

/// Where a path comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VpnSource {
    /// Exported here from a VRF.
    Local,
    /// Received from the neighbor at this address.
    Peer(IpAddr),
}

/// One path of a VPN destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpnPath {
    pub source: VpnSource,
    /// What the decision process reads of the sender.
    pub sender: PathSender,
    pub attrs: Arc<PathAttrs>,
    /// The label of the NLRI as received (with the transposed SID bits).
    pub label: Label,
    /// The SRv6 service; None when the path has no usable SID.
    pub sid: Option<ServiceSid>,
}

impl VpnPath {
    /// Whether the path may be selected: it needs a SID to be reached.
    pub fn eligible(&self) -> bool {
        self.sid.is_some()
    }

    /// The route targets among the path's extended communities.
    pub fn route_targets(&self) -> impl Iterator<Item = ExtendedCommunity> + '_ {
        self.attrs.ext_communities.iter().copied().filter(|c| {
            c.subtype() == ExtendedCommunity::SUBTYPE_ROUTE_TARGET && c.type_high() <= 2
        })
    }
}

/// The VPN RIB of one speaker.
#[derive(Clone, Debug, Default)]
pub struct VpnRib {
    /// Each destination's paths, best first when it is eligible.
    dests: BTreeMap<VpnKey, Vec<VpnPath>>,
    /// `bgp always-compare-med` (off in Tern).
    always_compare_med: bool,
    /// Best-path changes so far, VPN-IPv4 then VPN-IPv6 (FRR's table
    /// version).
    versions: [u64; 2],
}

impl VpnRib {
    pub fn new() -> VpnRib {
        VpnRib::default()
    }

    /// Adds the path of `path.source` for `key`, replacing the one it had.
    /// Returns whether the best path of `key` changed.
    pub fn update(&mut self, key: VpnKey, path: VpnPath) -> bool {
        let always = self.always_compare_med;
        let paths = self.dests.entry(key).or_default();
        let before = best_of(paths).cloned();
        match paths.iter_mut().find(|p| p.source == path.source) {
            Some(p) => *p = path,
            None => paths.push(path),
        }
        order(paths, always);
        let changed = best_of(paths) != before.as_ref();
        self.count_change(&key, changed);
        changed
    }

    fn count_change(&mut self, key: &VpnKey, changed: bool) {
        if changed {
            self.versions[usize::from(key.prefix.addr().is_ipv6())] += 1;
        }
    }

    /// Best-path changes so far in the VPN-IPv4 (`ipv6` false) or
    /// VPN-IPv6 table.
    pub fn table_version(&self, ipv6: bool) -> u64 {
        self.versions[usize::from(ipv6)]
    }

    /// Removes the path of `source` for `key`. Returns whether the best
    /// path changed.
    pub fn withdraw(&mut self, key: &VpnKey, source: VpnSource) -> bool {
        let always = self.always_compare_med;
        let Some(paths) = self.dests.get_mut(key) else {
            return false;
        };
        let before = best_of(paths).cloned();
        paths.retain(|p| p.source != source);
        order(paths, always);
        let changed = best_of(paths) != before.as_ref();
        if paths.is_empty() {
            self.dests.remove(key);
        }
        self.count_change(key, changed);
        changed
    }

    /// Removes every path of `source` (a session that went down, a VRF
    /// that stops exporting). Returns the destinations whose best path
    /// changed.
    pub fn remove_source(&mut self, source: VpnSource) -> Vec<VpnKey> {
        let keys: Vec<VpnKey> = self
            .dests
            .iter()
            .filter(|(_, paths)| paths.iter().any(|p| p.source == source))
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter(|k| self.withdraw(k, source))
            .collect()
    }

    /// The best path of `key`, when one is eligible.
    pub fn best(&self, key: &VpnKey) -> Option<&VpnPath> {
        self.dests.get(key).and_then(|p| best_of(p))
    }

    /// Every path of `key`, the best first.
    pub fn paths(&self, key: &VpnKey) -> &[VpnPath] {
        self.dests.get(key).map_or(&[], Vec::as_slice)
    }

    /// The destinations in (RD, prefix) order with all their paths.
    pub fn iter(&self) -> impl Iterator<Item = (&VpnKey, &[VpnPath])> {
        self.dests.iter().map(|(k, p)| (k, p.as_slice()))
    }

    /// The best paths, in (RD, prefix) order.
    pub fn bests(&self) -> impl Iterator<Item = (&VpnKey, &VpnPath)> {
        self.dests
            .iter()
            .filter_map(|(k, p)| best_of(p).map(|b| (k, b)))
    }

    /// The best paths received from peers that carry one of the route
    /// targets of `import` (a VRF's `rt vpn import` list).
    pub fn imported<'a>(
        &'a self,
        import: &'a [ExtendedCommunity],
    ) -> impl Iterator<Item = (&'a VpnKey, &'a VpnPath)> + 'a {
        self.bests().filter(move |(_, p)| {
            matches!(p.source, VpnSource::Peer(_))
                && p.route_targets().any(|rt| import.contains(&rt))
        })
    }

    /// Number of destinations.
    pub fn len(&self) -> usize {
        self.dests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dests.is_empty()
    }
}

/// One change an UPDATE makes to the VPN RIB: a path of the sender for a
/// destination, or its withdrawal (None).
pub type VpnChange = (VpnKey, Option<VpnPath>);

/// The VPN routes of a received UPDATE, for a session where `families`
/// were negotiated: withdrawals (MP_UNREACH_NLRI, and every announced route
/// when RFC 7606 asks to treat the UPDATE as withdraw) and announcements
/// (MP_REACH_NLRI) with the attributes, the next hop and the SRv6 service
/// SID rebuilt from the Prefix-SID and the label (RFC 9252 §4). A route
/// without ORIGIN or AS_PATH is withdrawn (RFC 7606 §3 d); a route without
/// a usable SRv6 SID is kept with `sid` None (ineligible).
pub fn changes_of_update(
    update: &UpdateMessage,
    sender: PathSender,
    families: &[VpnFamily],
    four_octet_as: bool,
) -> Vec<VpnChange> {
    let source = if sender.local {
        VpnSource::Local
    } else {
        VpnSource::Peer(sender.addr)
    };
    let wanted = |f| VpnFamily::of(f).is_some_and(|f| families.contains(&f));
    let mut out: Vec<VpnChange> = update
        .withdrawals()
        .into_iter()
        .filter(|(f, _)| wanted(*f))
        .filter_map(|(_, n)| vpn_of(&n.prefix))
        .map(|(key, _)| (key, None))
        .collect();
    let Some(mp) = update.mp_reach().filter(|mp| wanted(mp.family)) else {
        return out;
    };
    let announced = update.announced();
    if announced.is_empty() {
        return out;
    }
    let received = PathAttrs::from_update(update, !sender.ebgp, four_octet_as, &|_| false);
    let next_hop = match mp.next_hop {
        NextHop::VpnIpv4 { addr, .. } | NextHop::Ipv4(addr) => RouteNextHop::V4(addr),
        NextHop::VpnIpv6 {
            global, link_local, ..
        }
        | NextHop::Ipv6 { global, link_local } => RouteNextHop::V6 { global, link_local },
    };
    let service = update.attributes.iter().find_map(|a| match &a.value {
        Attribute::PrefixSid(p) => p.srv6_l3(),
        _ => None,
    });
    let info = service.as_ref().and_then(|s| s.first_sid());
    let mut attrs = received.attrs;
    attrs.next_hop = next_hop;
    let attrs = Arc::new(attrs);
    for (_, nlri) in announced.into_iter().filter(|(f, _)| wanted(*f)) {
        let Some((key, label)) = vpn_of(&nlri.prefix) else {
            continue;
        };
        if !received.complete {
            out.push((key, None));
            continue;
        }
        let sid = info.and_then(|i| {
            let structure = i.structure().copied();
            let full = match &structure {
                Some(s) => s.sid_from_vpn_label(i.sid, label).ok()?,
                None => i.sid,
            };
            Some(ServiceSid {
                sid: full,
                advertised: i.sid,
                behavior: i.behavior,
                structure,
            })
        });
        out.push((
            key,
            Some(VpnPath {
                source,
                sender,
                attrs: Arc::clone(&attrs),
                label,
                sid,
            }),
        ));
    }
    out
}

/// The destination and label of a VPN NLRI.
fn vpn_of(prefix: &NlriPrefix) -> Option<(VpnKey, Label)> {
    match *prefix {
        NlriPrefix::Vpnv4 { label, rd, prefix } => Some((
            VpnKey {
                rd,
                prefix: IpNet::V4(prefix),
            },
            label,
        )),
        NlriPrefix::Vpnv6 { label, rd, prefix } => Some((
            VpnKey {
                rd,
                prefix: IpNet::V6(prefix),
            },
            label,
        )),
        NlriPrefix::Ipv4(_) | NlriPrefix::Ipv6(_) => None,
    }
}

/// The selected path: the first, when it is eligible.
fn best_of(paths: &[VpnPath]) -> Option<&VpnPath> {
    paths.first().filter(|p| p.eligible())
}

/// Orders `paths`: eligible ones first, each group by the decision process.
fn order(paths: &mut [VpnPath], always_compare_med: bool) {
    paths.sort_by(|a, b| {
        b.eligible().cmp(&a.eligible()).then_with(|| {
            compare_paths(
                (&a.attrs, &a.sender),
                (&b.attrs, &b.sender),
                always_compare_med,
            )
        })
    });
}

#[cfg(test)]
#[path = "vpn_tests.rs"]
mod tests;
