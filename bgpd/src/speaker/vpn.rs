//! The speaker's VPN-IPv4/VPN-IPv6 routes (SAFI 128, RFC 4364 / RFC 4659
//! with SRv6 services, RFC 9252): the VPN RIB of what the peers send, kept
//! apart from the unicast RIB, and its best paths published through the
//! [`crate::vpn::VpnFeed`] for the SRv6 datapath each time they change.
use std::collections::BTreeMap;
use std::net::IpAddr;

use tern_bgp::config::VpnFamily;
use tern_bgp::rib::PathSender;
use tern_bgp::vpn::{VpnPath, VpnRib, VpnSource, changes_of_update};
use tern_bgp_wire::{Capability, UpdateMessage};

use super::Speaker;

/// What the speaker holds of the VPN families.
#[derive(Debug, Default)]
pub(super) struct VpnState {
    pub(super) rib: VpnRib,
    /// Per established peer: the VPN families negotiated (both OPENs offer
    /// them), what the decision process reads of it, 4-octet AS.
    sessions: BTreeMap<IpAddr, VpnSession>,
    /// Arrival order of paths (the older eBGP path wins a tie).
    seq: u64,
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
        let mut changed = false;
        for (key, path) in changes {
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

    /// `peer`'s session went down (or the neighbor went away): its VPN
    /// routes go.
    pub(super) fn vpn_down(&mut self, peer: IpAddr) {
        self.vpn.sessions.remove(&peer);
        if !self.vpn.rib.remove_source(VpnSource::Peer(peer)).is_empty() {
            self.vpn_publish();
        }
    }

    /// Publishes every best VPN path received from a peer, SID rebuilt.
    fn vpn_publish(&self) {
        let routes = self
            .vpn
            .rib
            .bests()
            .filter(|(_, p)| matches!(p.source, VpnSource::Peer(_)))
            .filter_map(|(k, p)| to_route(k, p))
            .collect();
        self.opts.vpn.publish_routes(routes);
    }
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
