//! Putting a changed policy in force on running sessions: the RIB sends
//! each peer the difference its export route-maps make, and peers whose
//! import route-map changed are asked for their routes again with a
//! ROUTE-REFRESH (RFC 2918), as FRR does when soft-reconfiguration inbound
//! is off. A peer that cannot refresh has its session reset, the only way
//! the new import policy can reach its routes.
use std::collections::BTreeMap;
use std::net::IpAddr;

use tern_bgp_wire::{Message, RouteRefreshMessage, RouteRefreshSubtype};

use super::Speaker;
use tern_bgp::Family;
use tern_bgp::family::afi_safi;
use tern_bgp::rib::RouteMaps;

/// Capability codes of route refresh: RFC 2918's, and the pre-standard
/// one some routers still send.
const ROUTE_REFRESH_CAPABILITIES: [u8; 2] = [2, 128];

/// Whether an OPEN announces route refresh.
pub(super) fn can_refresh(open: &tern_bgp_wire::OpenMessage) -> bool {
    ROUTE_REFRESH_CAPABILITIES
        .iter()
        .any(|c| open.has_capability(*c))
}

impl Speaker {
    /// Asks `addr` to send its routes of `family` again (ROUTE-REFRESH).
    pub(super) fn request_refresh(&mut self, addr: IpAddr, conn: super::ConnId, family: Family) {
        let msg = Message::RouteRefresh(RouteRefreshMessage {
            family: afi_safi(family),
            subtype: RouteRefreshSubtype::Request,
        });
        self.send(addr, conn, &msg);
    }

    /// Brings the RIB and every established session in line with
    /// `self.policy` and the route-maps `self.config` attaches.
    pub(super) fn apply_policy(&mut self) {
        let mut maps = BTreeMap::new();
        for (addr, p) in &mut self.peers {
            let want = RouteMaps::of(&self.config, *addr);
            if let Some(info) = &mut p.info {
                info.route_maps = want.clone();
                maps.insert(p.id, want);
            }
        }
        let change = self
            .rib
            .set_policy(std::sync::Arc::clone(&self.policy), &maps);
        self.send_updates(change.updates);
        for (id, family) in change.reapply_in {
            if let Some(addr) = self.peers.iter().find(|(_, p)| p.id == id).map(|(a, _)| *a) {
                tracing::info!(peer = %addr, family = family.keyword(), "import policy changed: applied to the kept Adj-RIB-In (soft-reconfiguration inbound)");
            }
            let changes = self.rib.reapply_import(id, family);
            self.apply_changes(changes);
        }
        let mut reset: Vec<IpAddr> = Vec::new();
        for (id, family) in change.refresh_in {
            let Some((addr, p)) = self.peers.iter().find(|(_, p)| p.id == id) else {
                continue;
            };
            let (addr, refresh) = (*addr, p.route_refresh);
            let Some(conn) = p.established_conn() else {
                continue;
            };
            if refresh {
                tracing::info!(peer = %addr, family = family.keyword(), "import policy changed: sending ROUTE-REFRESH");
                self.request_refresh(addr, conn, family);
            } else if !reset.contains(&addr) {
                reset.push(addr);
            }
        }
        for addr in reset {
            tracing::warn!(peer = %addr, "import policy changed and the peer cannot refresh: resetting its session");
            if let Some(n) = self.peers.get(&addr).map(|p| p.cfg.clone()) {
                self.remove_peer(addr);
                self.add_peer(addr, n, tern_bgp::fsm::Event::DelayedStart);
            }
        }
    }
}
