//! The speaker's VPN-IPv4/VPN-IPv6 routes (SAFI 128, RFC 4364 / RFC 4659
//! with SRv6 services, RFC 9252): the VPN RIB of what the peers send, kept
//! apart from the unicast RIB, and its best paths published through the
//! [`crate::vpn::VpnFeed`] for the SRv6 datapath each time they change;
//! and the VRFs' exports (`tern_srv6::plan`'s list: RD, route targets,
//! SID with its structure, the function transposed into the label) sent to
//! the peers that negotiated the family, with the Adj-RIB-Out of each.
use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use tern_bgp::config::VpnFamily;
use tern_bgp::rib::PathSender;
use tern_bgp::vpn::{VpnKey, VpnPath, VpnRib, VpnSource, changes_of_update};
use tern_bgp_wire::{
    AsPath, Attribute, Capability, ExtendedCommunity, Label, Message, MpReachNlri, MpUnreachNlri,
    NextHop, Nlri, NlriPrefix, Origin, PathAttribute, PrefixSid, RouteDistinguisher,
    Srv6SidStructure, UpdateMessage,
};
use tern_srv6::VpnExport;

use super::Speaker;
use crate::vpn::VrfPrefixes;
use tern_bgp::Family;
use tern_bgp::rib::{PathAttrs, PathSource, PathView};
use tern_control::{BgpPath, BgpRoute, VpnPathInfo, VpnRdRoutes, VpnTable};

/// What the speaker holds of the VPN families.
#[derive(Debug, Default)]
pub(super) struct VpnState {
    pub(super) rib: VpnRib,
    /// Per established peer: the VPN families negotiated (both OPENs offer
    /// them), what the decision process reads of it, 4-octet AS.
    sessions: BTreeMap<IpAddr, VpnSession>,
    /// Arrival order of paths (the older eBGP path wins a tie).
    seq: u64,
    /// The SRv6 config (locators, VRFs, their BGP instances, the SIDs).
    srv6: tern_srv6::Srv6Config,
    /// Each VRF's prefixes on this node (what its `redistribute` takes).
    vrf_prefixes: VrfPrefixes,
    /// What this node exports, by destination.
    exports: BTreeMap<VpnKey, VpnExport>,
    /// Per peer: the exports it was sent (the VPN Adj-RIB-Out).
    adj_out: BTreeMap<IpAddr, BTreeMap<VpnKey, VpnExport>>,
}

#[derive(Debug)]
struct VpnSession {
    families: Vec<VpnFamily>,
    sender: PathSender,
    four_octet_as: bool,
}

impl Speaker {
    /// A session came up: the VPN families both sides offered.
    pub(super) fn vpn_established(&mut self, peer: IpAddr, session: &tern_bgp::fsm::Session) {
        let offered: Vec<_> = session
            .remote_open
            .capabilities()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => VpnFamily::of(*f),
                _ => None,
            })
            .collect();
        let families: Vec<VpnFamily> = VpnFamily::ALL
            .into_iter()
            .filter(|f| self.config.vpn_active(*f, peer) && offered.contains(f))
            .collect();
        if families.is_empty() {
            self.vpn.sessions.remove(&peer);
            return;
        }
        tracing::info!(%peer, ?families, "VPN families negotiated");
        self.vpn.sessions.insert(
            peer,
            VpnSession {
                families,
                sender: PathSender {
                    local: false,
                    ebgp: !session.ibgp,
                    peer_as: session.remote_open.asn(),
                    router_id: session.remote_open.bgp_id,
                    addr: peer,
                    seq: 0,
                },
                four_octet_as: session.codec.four_octet_as,
            },
        );
    }

    /// The VPN routes of an UPDATE from `peer` into the VPN RIB.
    pub(super) fn vpn_update(&mut self, peer: IpAddr, update: &UpdateMessage) {
        let Some(s) = self.vpn.sessions.get(&peer) else {
            return;
        };
        self.vpn.seq += 1;
        let mut sender = s.sender;
        sender.seq = self.vpn.seq;
        let changes = changes_of_update(update, sender, &s.families, s.four_octet_as);
        if changes.is_empty() {
            return;
        }
        let source = VpnSource::Peer(peer);
        let asn = self.config.asn;
        let mut changed = false;
        for (key, path) in changes {
            // RFC 4271 §9.1.2: a route whose AS_PATH holds our AS (our own
            // exports passed back) is a loop, taken as withdrawn.
            let path = path.filter(|p| !p.attrs.as_path.contains(asn));
            changed |= match path {
                Some(p) => {
                    if !p.eligible() {
                        tracing::debug!(%peer, prefix = %key.prefix, "VPN route without a usable SRv6 SID: ineligible");
                    }
                    self.vpn.rib.update(key, p)
                }
                None => self.vpn.rib.withdraw(&key, source),
            };
        }
        if changed {
            self.vpn_publish();
        }
    }

    /// A new SRv6 config: the exports again.
    pub(super) fn vpn_set_srv6(&mut self, srv6: tern_srv6::Srv6Config) {
        self.vpn.srv6 = srv6;
        self.vpn_refresh_exports();
    }

    /// New VRF prefixes on this node: the exports again.
    pub(super) fn vpn_set_vrf_prefixes(&mut self, prefixes: VrfPrefixes) {
        self.vpn.vrf_prefixes = prefixes;
        self.vpn_refresh_exports();
    }

    fn vpn_refresh_exports(&mut self) {
        let plan = tern_srv6::plan(&self.vpn.srv6, &[], &self.vpn.vrf_prefixes);
        for u in &plan.unexported {
            tracing::debug!(vrf = %u.vrf, ipv4 = u.ipv4, lacks = %u.lacks, "VRF exports nothing");
        }
        let exports: BTreeMap<VpnKey, VpnExport> = plan
            .export
            .into_iter()
            .map(|e| {
                let key = VpnKey {
                    rd: RouteDistinguisher(e.rd.to_bytes()),
                    prefix: e.prefix,
                };
                (key, e)
            })
            .collect();
        if exports == self.vpn.exports {
            return;
        }
        self.vpn.exports = exports;
        let peers: Vec<IpAddr> = self.vpn.sessions.keys().copied().collect();
        for peer in peers {
            self.vpn_sync_peer(peer);
        }
    }

    /// Brings `peer`'s VPN Adj-RIB-Out in line with the exports: an UPDATE
    /// per new or changed route, a withdrawal per route gone.
    pub(super) fn vpn_sync_peer(&mut self, peer: IpAddr) {
        let Some(s) = self.vpn.sessions.get(&peer) else {
            return;
        };
        let families = s.families.clone();
        let ebgp = s.sender.ebgp;
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let (Some(conn), Some(local)) = (p.established_conn(), p.stats.local_sock) else {
            return;
        };
        // A connection accepted on the dual-stack listener shows an IPv4
        // peer's session with an IPv4-mapped local address.
        let local = match local.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let asn = self.config.asn;
        let family_of = |prefix: &IpNet| match prefix {
            IpNet::V4(_) => VpnFamily::Ipv4,
            IpNet::V6(_) => VpnFamily::Ipv6,
        };
        let wanted: BTreeMap<VpnKey, VpnExport> = self
            .vpn
            .exports
            .iter()
            .filter(|(k, _)| families.contains(&family_of(&k.prefix)))
            .map(|(k, e)| (*k, e.clone()))
            .collect();
        let sent = self.vpn.adj_out.remove(&peer).unwrap_or_default();
        let mut messages = Vec::new();
        for key in sent.keys().filter(|k| !wanted.contains_key(k)) {
            messages.push(withdrawal(key));
        }
        for (key, e) in &wanted {
            if sent.get(key) == Some(e) {
                continue;
            }
            match announcement(e, asn, ebgp, local) {
                Some(u) => messages.push(u),
                None => tracing::warn!(%peer, prefix = %key.prefix, "VPN export cannot be encoded"),
            }
        }
        self.vpn.adj_out.insert(peer, wanted);
        for u in messages {
            self.send(peer, conn, &Message::Update(u));
        }
    }

    /// `peer`'s session went down (or the neighbor went away): its VPN
    /// routes go.
    pub(super) fn vpn_down(&mut self, peer: IpAddr) {
        self.vpn.sessions.remove(&peer);
        self.vpn.adj_out.remove(&peer);
        if !self.vpn.rib.remove_source(VpnSource::Peer(peer)).is_empty() {
            self.vpn_publish();
        }
    }

    /// Publishes every best VPN path received from a peer, SID rebuilt.
    fn vpn_publish(&self) {
        let routes: Vec<tern_srv6::VpnRoute> = self
            .vpn
            .rib
            .bests()
            .filter(|(_, p)| matches!(p.source, VpnSource::Peer(_)))
            .filter_map(|(k, p)| to_route(k, p))
            .collect();
        for r in &routes {
            tracing::debug!(rd = %r.rd, prefix = %r.prefix, sid = %r.sid, next_hop = %r.next_hop, "VPN best path");
        }
        tracing::info!(routes = routes.len(), "VPN routes published");
        self.opts.vpn.publish_routes(routes);
    }
}

impl Speaker {
    /// `show bgp ipv4|ipv6 vpn [rd RD] [PREFIX]`: this node's exports (a
    /// local path, weight 32768, best) and the paths the peers sent, by
    /// route distinguisher then prefix. A received path is best when it is
    /// the VPN RIB's best and nothing is exported for the destination.
    pub(super) fn vpn_table(
        &self,
        ipv6: bool,
        rd: Option<RouteDistinguisher>,
        prefix: Option<IpNet>,
    ) -> VpnTable {
        let wanted = |k: &VpnKey| {
            k.prefix.addr().is_ipv6() == ipv6
                && rd.is_none_or(|r| r == k.rd)
                && prefix.is_none_or(|p| p == k.prefix)
        };
        let detail = prefix.is_some();
        let family = if ipv6 {
            Family::Ipv6Unicast
        } else {
            Family::Ipv4Unicast
        };
        let mut dests: BTreeMap<VpnKey, Vec<BgpPath>> = BTreeMap::new();
        for (k, e) in self.vpn.exports.iter().filter(|(k, _)| wanted(k)) {
            dests
                .entry(*k)
                .or_default()
                .push(self.vpn_local_path(family, e, detail));
        }
        for (k, paths) in self.vpn.rib.iter().filter(|(k, _)| wanted(k)) {
            let chosen = self.vpn.rib.best(k).filter(|_| !dests.contains_key(k));
            let list = dests.entry(*k).or_default();
            for p in paths {
                let best = chosen.is_some_and(|b| std::ptr::eq(b, p));
                list.push(self.vpn_peer_path(family, p, best, detail));
            }
        }
        let mut rds: Vec<VpnRdRoutes> = Vec::new();
        for (k, paths) in dests {
            let rd = k.rd.to_string();
            if rds.last().is_none_or(|r| r.rd != rd) {
                rds.push(VpnRdRoutes {
                    rd,
                    routes: Vec::new(),
                });
            }
            if let Some(last) = rds.last_mut() {
                last.routes.push(BgpRoute {
                    prefix: k.prefix,
                    version: 0,
                    paths,
                    advertised_to: if detail {
                        self.vpn_advertised_to(&k)
                    } else {
                        Vec::new()
                    },
                });
            }
        }
        VpnTable {
            configured: true,
            router_id: self.router_id.to_string(),
            local_as: self.config.asn,
            local_hostname: self.local_hostname(),
            table_version: self.vpn.rib.table_version(ipv6),
            rds,
            hide_hostnames: self.hide_hostnames(),
        }
    }

    /// For `show bgp summary`, of `peer` in each VPN family it is
    /// activated for: the family, the paths it sent that the VPN RIB holds
    /// and the routes it was sent.
    pub(super) fn vpn_peer_counts(&self, peer: IpAddr) -> Vec<(VpnFamily, u64, u64)> {
        VpnFamily::ALL
            .into_iter()
            .filter(|f| self.config.vpn_active(*f, peer))
            .map(|f| {
                let of = |k: &VpnKey| k.prefix.addr().is_ipv6() != f.is_ipv4();
                let rcvd = self
                    .vpn
                    .rib
                    .iter()
                    .filter(|(k, paths)| {
                        of(k) && paths.iter().any(|p| p.source == VpnSource::Peer(peer))
                    })
                    .count();
                let sent = self
                    .vpn
                    .adj_out
                    .get(&peer)
                    .map_or(0, |s| s.keys().filter(|k| of(k)).count());
                (f, rcvd as u64, sent as u64)
            })
            .collect()
    }

    /// For `show bgp summary`: the VPN table of `family`, destinations
    /// (received or exported), an estimate of the bytes they take, and
    /// the table version.
    pub(super) fn vpn_table_counts(&self, family: VpnFamily) -> (u64, u64, u64) {
        let ipv6 = !family.is_ipv4();
        let of = |k: &VpnKey| k.prefix.addr().is_ipv6() == ipv6;
        let received: Vec<usize> = self
            .vpn
            .rib
            .iter()
            .filter(|(k, _)| of(k))
            .map(|(_, p)| p.len())
            .collect();
        let exported_only = self
            .vpn
            .exports
            .keys()
            .filter(|k| of(k) && self.vpn.rib.paths(k).is_empty())
            .count();
        let dests = received.len() + exported_only;
        let paths: usize = received.iter().sum::<usize>() + exported_only;
        let bytes = dests * std::mem::size_of::<VpnKey>() + paths * std::mem::size_of::<VpnPath>();
        (dests as u64, bytes as u64, self.vpn.rib.table_version(ipv6))
    }

    /// The established peers `key` was sent to: (address, hostname).
    fn vpn_advertised_to(&self, key: &VpnKey) -> Vec<(String, Option<String>)> {
        self.vpn
            .adj_out
            .iter()
            .filter(|(_, sent)| sent.contains_key(key))
            .filter_map(|(addr, _)| self.peers.get(addr))
            .map(|p| (p.addr.to_string(), p.stats.hostname.clone()))
            .collect()
    }

    /// An export as a local path: ORIGIN IGP, its route targets.
    fn vpn_local_path(&self, family: Family, e: &VpnExport, detail: bool) -> BgpPath {
        let attrs = PathAttrs {
            ext_communities: e
                .rts
                .iter()
                .map(|rt| ExtendedCommunity(rt.to_bytes()))
                .collect(),
            // What the announcement carries: no MED.
            med: None,
            ..PathAttrs::local()
        };
        let view = PathView {
            source: PathSource::Local,
            path_id: 0,
            attrs: std::sync::Arc::new(attrs),
            best: true,
            multipath: false,
            valid: true,
            last_update: None,
        };
        let mut path = self.bgp_path(family, &view, detail);
        path.vpn = Some(VpnPathInfo {
            label: e.label,
            sid: Some(e.advertised_sid.to_string()),
            sid_structure: Some([
                e.structure.block_len,
                e.structure.node_len,
                e.structure.func_len,
                e.structure.arg_len,
            ]),
            vrf: Some(e.vrf.clone()),
            vrf_id: self.vpn.srv6.vrfs.get(&e.vrf).and_then(|v| v.table),
        });
        path
    }

    /// A received path. One without a usable SID is shown, not valid.
    fn vpn_peer_path(&self, family: Family, p: &VpnPath, best: bool, detail: bool) -> BgpPath {
        let source = match (p.source, self.peers.get(&p.sender.addr)) {
            (VpnSource::Peer(addr), Some(peer)) => PathSource::Peer {
                id: peer.id,
                addr,
                router_id: p.sender.router_id,
                ibgp: !p.sender.ebgp,
            },
            _ => PathSource::Local,
        };
        let view = PathView {
            source,
            path_id: 0,
            attrs: std::sync::Arc::clone(&p.attrs),
            best,
            multipath: false,
            valid: p.eligible(),
            last_update: None,
        };
        let mut path = self.bgp_path(family, &view, detail);
        path.vpn = Some(VpnPathInfo {
            label: p.label.value(),
            sid: p.sid.map(|s| s.advertised.to_string()),
            sid_structure: p.sid.and_then(|s| s.structure).map(|s| {
                [
                    s.locator_block_len,
                    s.locator_node_len,
                    s.function_len,
                    s.argument_len,
                ]
            }),
            vrf: None,
            vrf_id: None,
        });
        path
    }
}

/// The UPDATE that announces export `e`: ORIGIN IGP, AS_PATH (our AS to
/// an external peer), LOCAL_PREF 100 to an internal one, MP_REACH_NLRI
/// with the label and RD and a next hop of our address on the session
/// (12 octets RD 0 + IPv4 for VPN-IPv4 over IPv4, as FRR 8.4 takes it; 24
/// octets RD 0 + IPv6 otherwise, an IPv4 address IPv4-mapped, RFC 4659
/// §3.2.1.2), the route targets, the Prefix-SID with the SRv6 L3 Service.
fn announcement(e: &VpnExport, asn: u32, ebgp: bool, local: IpAddr) -> Option<UpdateMessage> {
    let label = Label::new(e.label)?;
    let rd = RouteDistinguisher(e.rd.to_bytes());
    let (family, prefix) = match e.prefix {
        IpNet::V4(prefix) => (VpnFamily::Ipv4, NlriPrefix::Vpnv4 { label, rd, prefix }),
        IpNet::V6(prefix) => (VpnFamily::Ipv6, NlriPrefix::Vpnv6 { label, rd, prefix }),
    };
    let next_hop = match (family, local) {
        (VpnFamily::Ipv4, IpAddr::V4(addr)) => NextHop::VpnIpv4 {
            rd: RouteDistinguisher::default(),
            addr,
        },
        (_, IpAddr::V4(v4)) => NextHop::VpnIpv6 {
            rd: RouteDistinguisher::default(),
            global: v4.to_ipv6_mapped(),
            link_local: None,
        },
        (_, IpAddr::V6(global)) => NextHop::VpnIpv6 {
            rd: RouteDistinguisher::default(),
            global,
            link_local: None,
        },
    };
    let s = &e.structure;
    let structure = Srv6SidStructure {
        locator_block_len: s.block_len,
        locator_node_len: s.node_len,
        function_len: s.func_len,
        argument_len: s.arg_len,
        transposition_len: s.transposition_len,
        transposition_offset: s.transposition_offset,
    };
    let mut attrs = vec![
        Attribute::Origin(Origin::Igp),
        Attribute::AsPath(AsPath::from_sequence(if ebgp { vec![asn] } else { vec![] })),
    ];
    if !ebgp {
        attrs.push(Attribute::LocalPref(tern_bgp::rib::DEFAULT_LOCAL_PREF));
    }
    attrs.push(Attribute::MpReachNlri(MpReachNlri {
        family: family.afi_safi(),
        next_hop,
        nlri: vec![Nlri {
            path_id: None,
            prefix,
        }],
    }));
    if !e.rts.is_empty() {
        attrs.push(Attribute::ExtendedCommunities(
            e.rts
                .iter()
                .map(|rt| ExtendedCommunity(rt.to_bytes()))
                .collect(),
        ));
    }
    attrs.push(Attribute::PrefixSid(PrefixSid::srv6_l3_service(
        e.advertised_sid,
        e.behavior.codepoint(),
        Some(structure),
    )));
    Some(UpdateMessage::new(
        Vec::new(),
        attrs.into_iter().map(PathAttribute::new).collect(),
        Vec::new(),
    ))
}

/// The UPDATE that withdraws `key` (MP_UNREACH_NLRI, RFC 8277's withdrawal
/// label).
fn withdrawal(key: &VpnKey) -> UpdateMessage {
    let (family, prefix) = match key.prefix {
        IpNet::V4(prefix) => (
            VpnFamily::Ipv4,
            NlriPrefix::Vpnv4 {
                label: Label::WITHDRAWN,
                rd: key.rd,
                prefix,
            },
        ),
        IpNet::V6(prefix) => (
            VpnFamily::Ipv6,
            NlriPrefix::Vpnv6 {
                label: Label::WITHDRAWN,
                rd: key.rd,
                prefix,
            },
        ),
    };
    UpdateMessage::new(
        Vec::new(),
        vec![PathAttribute::new(Attribute::MpUnreachNlri(
            MpUnreachNlri {
                family: family.afi_safi(),
                withdrawn: vec![Nlri {
                    path_id: None,
                    prefix,
                }],
            },
        ))],
        Vec::new(),
    )
}

/// The datapath's view of a best path: None when a field has no model
/// there (an RD type tern-srv6 refuses, no next hop address).
fn to_route(key: &tern_bgp::vpn::VpnKey, p: &VpnPath) -> Option<tern_srv6::VpnRoute> {
    let sid = p.sid?;
    Some(tern_srv6::VpnRoute {
        rd: tern_srv6::RouteDistinguisher::from_bytes(key.rd.0).ok()?,
        prefix: key.prefix,
        sid: sid.sid,
        behavior: tern_srv6::Behavior::from_codepoint(sid.behavior),
        rts: p
            .route_targets()
            .filter_map(|rt| tern_srv6::RouteTarget::from_bytes(rt.0).ok())
            .collect(),
        next_hop: p.attrs.next_hop.fib_address()?,
    })
}
