//! What one node's datapath holds for the SRv6 L3VPN, and what its BGP
//! speaker exports: a pure function of the config (locators, VRFs, their
//! SIDs) and the VPN routes received.
//!
//! - Encapsulation (H.Encaps.Red): for each VRF that has `import vpn` in a
//!   family, the received routes of that family that carry one of the VRF's
//!   import route targets, keyed by (VRF table, prefix), each with the
//!   remote SID. The datapath looks a packet's destination up by longest
//!   prefix in its VRF's table ([`Srv6Plan::lookup`]). Two VRFs with the
//!   same prefixes get entries under their own tables and never meet.
//! - Decapsulation: each local SID to its behavior (End.DT4, End.DT6,
//!   End.DT46) and its VRF's table.
//! - Export: for each VRF family with `export vpn`, an RD, a SID and a
//!   table, its `network` prefixes (and what `redistribute` brought in, as
//!   the caller gives it) with the RD, the export route targets, the SID,
//!   its structure and the label of the RFC 9252 transposition.
//!
//! Routes left out of the encapsulation, and why ([`Skipped`]): a SID whose
//! behavior cannot carry the route's family (End.DT6 for an IPv4 prefix),
//! a SID of this node (its own route coming back), or a prefix the VRF
//! exports itself (the local one wins). When routes of several RDs give one
//! VRF the same prefix, the smallest (RD, next hop, SID) is taken: the BGP
//! speaker hands over best paths, so this only settles a tie between RDs.
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::{Srv6Config, VpnAf};
use crate::rd::{RouteDistinguisher, RouteTarget};
use crate::sid::{Behavior, LocalSid, SidOwner, SidScope};
use crate::transpose::{SidStructure, transpose};

/// A VPN route received from a peer, its SID already rebuilt
/// ([`crate::transpose::rebuild`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VpnRoute {
    pub rd: RouteDistinguisher,
    pub prefix: IpNet,
    /// The full SRv6 service SID.
    pub sid: Ipv6Addr,
    pub behavior: Behavior,
    pub rts: Vec<RouteTarget>,
    pub next_hop: IpAddr,
}

/// One encapsulation entry: traffic of a VRF to a remote VPN prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EncapEntry {
    pub table: u32,
    pub vrf: String,
    pub prefix: IpNet,
    /// The destination of the outer IPv6 header.
    pub sid: Ipv6Addr,
    /// The egress PE (for show commands and next-hop tracking).
    pub next_hop: IpAddr,
    pub rd: RouteDistinguisher,
}

/// One decapsulation entry: a local SID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DecapEntry {
    pub sid: Ipv6Addr,
    pub behavior: Behavior,
    pub table: u32,
    pub vrf: String,
}

/// A VPN route this node exports.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VpnExport {
    pub vrf: String,
    pub rd: RouteDistinguisher,
    pub prefix: IpNet,
    pub rts: Vec<RouteTarget>,
    /// The full SID.
    pub sid: Ipv6Addr,
    pub behavior: Behavior,
    /// The SID Structure Sub-Sub-TLV to send.
    pub structure: SidStructure,
    /// The 20-bit label value of the NLRI.
    pub label: u32,
    /// The SID of the Prefix-SID attribute: the transposed bits zero.
    pub advertised_sid: Ipv6Addr,
}

/// Why a received route programs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SkipReason {
    /// The SID's behavior cannot carry the prefix's family.
    WrongBehavior,
    /// The SID is one of this node's.
    OwnSid,
    /// The VRF exports this prefix itself.
    LocalPrefix,
}

/// A received route left out of a VRF.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Skipped {
    /// The VRF it was for.
    pub vrf: String,
    pub rd: RouteDistinguisher,
    pub prefix: IpNet,
    pub reason: SkipReason,
}

/// A VRF family with `export vpn` that exports nothing, and what it lacks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unexported {
    pub vrf: String,
    pub ipv4: bool,
    pub lacks: String,
}

/// What one node programs and exports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Srv6Plan {
    /// Ordered by (table, prefix); one entry per key.
    pub encap: Vec<EncapEntry>,
    /// Ordered by SID.
    pub decap: Vec<DecapEntry>,
    /// Ordered by (VRF, family IPv4 first, prefix).
    pub export: Vec<VpnExport>,
    pub skipped: Vec<Skipped>,
    pub unexported: Vec<Unexported>,
}

impl Srv6Plan {
    /// The entry the datapath finds for a packet to `dst` in `table`: the
    /// longest prefix holding it.
    pub fn lookup(&self, table: u32, dst: IpAddr) -> Option<&EncapEntry> {
        self.encap
            .iter()
            .filter(|e| e.table == table && e.prefix.contains(&dst))
            .max_by_key(|e| e.prefix.prefix_len())
    }

    /// The decapsulation entry of `sid`.
    pub fn decap_of(&self, sid: Ipv6Addr) -> Option<&DecapEntry> {
        self.decap.iter().find(|d| d.sid == sid)
    }
}

/// The SID a VRF family exports with: its own, else the per-VRF one.
fn export_sid(cfg: &Srv6Config, vrf: &str, ipv4: bool) -> Option<LocalSid> {
    let scope = if ipv4 { SidScope::Ipv4 } else { SidScope::Ipv6 };
    cfg.sid(&SidOwner::new(vrf, scope))
        .or_else(|| cfg.sid(&SidOwner::new(vrf, SidScope::PerVrf)))
}

/// The prefixes a VRF family exports: its networks, then what redistribute
/// brought in (of the family, when the family redistributes anything).
fn export_prefixes(af: &VpnAf, ipv4: bool, redistributed: Option<&Vec<IpNet>>) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = af.networks.clone();
    if !af.redistribute.is_empty() {
        for p in redistributed.into_iter().flatten() {
            if matches!(p, IpNet::V4(_)) == ipv4 && !v.contains(p) {
                v.push(*p);
            }
        }
    }
    v.sort();
    v
}

/// The plan of a node with config `cfg` that received `routes`;
/// `redistributed` holds, per VRF name, the prefixes its `redistribute`
/// lines bring in (the routes of its table that the daemon sees).
pub fn plan(
    cfg: &Srv6Config,
    routes: &[VpnRoute],
    redistributed: &BTreeMap<String, Vec<IpNet>>,
) -> Srv6Plan {
    let mut p = Srv6Plan::default();
    let local_sids: BTreeSet<Ipv6Addr> = cfg
        .sids()
        .map(|t| t.iter().map(|s| s.sid).collect())
        .unwrap_or_default();

    // Decapsulation: every local SID (allocated only for a VRF with a table).
    if let Some(t) = cfg.sids() {
        for s in t.iter() {
            if let Some(table) = cfg.vrfs.get(&s.owner.vrf).and_then(|v| v.table) {
                p.decap.push(DecapEntry {
                    sid: s.sid,
                    behavior: s.behavior,
                    table,
                    vrf: s.owner.vrf.clone(),
                });
            }
        }
    }
    p.decap.sort_by_key(|d| d.sid);

    let mut encap: BTreeMap<(u32, IpNet), EncapEntry> = BTreeMap::new();
    let mut skipped: BTreeSet<Skipped> = BTreeSet::new();
    for b in cfg.bgp_vrfs.values() {
        let Some(table) = cfg.vrfs.get(&b.vrf).and_then(|v| v.table) else {
            for ipv4 in [true, false] {
                if b.af(ipv4).export_vpn {
                    p.unexported.push(Unexported {
                        vrf: b.vrf.clone(),
                        ipv4,
                        lacks: "a vrf block with a table".into(),
                    });
                }
            }
            continue;
        };
        for ipv4 in [true, false] {
            let af = b.af(ipv4);
            let exported = export_prefixes(af, ipv4, redistributed.get(&b.vrf));

            // Export.
            if af.export_vpn {
                match (af.rd, export_sid(cfg, &b.vrf, ipv4), cfg.active_locator()) {
                    (Some(rd), Some(sid), Some(loc)) => {
                        let structure = loc.structure();
                        // A locator's structure always transposes.
                        if let Ok(t) = transpose(sid.sid, &structure) {
                            for prefix in &exported {
                                p.export.push(VpnExport {
                                    vrf: b.vrf.clone(),
                                    rd,
                                    prefix: *prefix,
                                    rts: af.rt_export.clone(),
                                    sid: sid.sid,
                                    behavior: sid.behavior,
                                    structure,
                                    label: t.label,
                                    advertised_sid: t.sid,
                                });
                            }
                        }
                    }
                    (rd, _, loc) => p.unexported.push(Unexported {
                        vrf: b.vrf.clone(),
                        ipv4,
                        lacks: if rd.is_none() {
                            "rd vpn export"
                        } else if loc.is_none() {
                            "an SRv6 locator (router bgp, segment-routing srv6, locator NAME)"
                        } else {
                            "sid vpn export"
                        }
                        .into(),
                    }),
                }
            }

            // Import.
            if !af.import_vpn || af.rt_import.is_empty() {
                continue;
            }
            for r in routes {
                if matches!(r.prefix, IpNet::V4(_)) != ipv4
                    || !r.rts.iter().any(|rt| af.rt_import.contains(rt))
                {
                    continue;
                }
                let skip = |reason| Skipped {
                    vrf: b.vrf.clone(),
                    rd: r.rd,
                    prefix: r.prefix,
                    reason,
                };
                if !r.behavior.carries(ipv4) {
                    skipped.insert(skip(SkipReason::WrongBehavior));
                    continue;
                }
                if local_sids.contains(&r.sid) {
                    skipped.insert(skip(SkipReason::OwnSid));
                    continue;
                }
                if exported.contains(&r.prefix) {
                    skipped.insert(skip(SkipReason::LocalPrefix));
                    continue;
                }
                let entry = EncapEntry {
                    table,
                    vrf: b.vrf.clone(),
                    prefix: r.prefix,
                    sid: r.sid,
                    next_hop: r.next_hop,
                    rd: r.rd,
                };
                encap
                    .entry((table, r.prefix))
                    .and_modify(|e| {
                        if (entry.rd, entry.next_hop, entry.sid) < (e.rd, e.next_hop, e.sid) {
                            *e = entry.clone();
                        }
                    })
                    .or_insert(entry);
            }
        }
    }
    p.encap = encap.into_values().collect();
    p.skipped = skipped.into_iter().collect();
    p
}

impl PartialOrd for Skipped {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Skipped {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.vrf, self.rd, self.prefix, self.reason as u8).cmp(&(
            &other.vrf,
            other.rd,
            other.prefix,
            other.reason as u8,
        ))
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
