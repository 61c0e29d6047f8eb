//! Graceful restart (RFC 4724) in the speaker.
//!
//! Helper (receiving speaker, §4.2): when the session of a peer that
//! advertised the capability for some families ends without a NOTIFICATION
//! from either side (the TCP connection closed or failed) or with our Hold
//! Timer Expired, its routes of those families are kept, stale, for its
//! restart time. When it is back, families it no longer preserves (no
//! F bit) are swept at once, the rest at its End-of-RIB, or when the
//! stale-path time runs out; if it is not back in time, all of it goes.
//!
//! Restarting speaker (§4.1): with `bgp graceful-restart`, a ternd that
//! stops closes its sessions without a NOTIFICATION and leaves its routes in
//! the kernel; the next ternd finds them (the FIB task tells), sets the R
//! and F bits in its OPENs, and reconciles the FIB (the old routes not learnt
//! again are deleted) once every configured peer has sent End-of-RIB for
//! each of its families, or when the stale-path time runs out.
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tern_bgp_wire::{Capability, GracefulRestart, OpenMessage};

use super::{Command, Peer, Speaker};
use tern_bgp::Family;
use tern_bgp::family::family_of;
use tern_bgp::fsm::DownReason;
use tern_bgp::rib::{Changes, PeerId};

/// The peer's Graceful Restart capability in its OPEN.
pub(super) fn capability(open: &OpenMessage) -> Option<GracefulRestart> {
    open.capabilities().find_map(|c| match c {
        Capability::GracefulRestart(g) => Some(g.clone()),
        _ => None,
    })
}

/// The families whose routes `p` keeps after its session ended for
/// `reason`: none unless the end is one graceful restart covers.
pub(super) fn families_kept(p: &Peer, reason: &DownReason) -> Vec<Family> {
    let covered = match reason {
        DownReason::ConnectionClosed => true,
        DownReason::Sent(n) => n.code == tern_bgp_wire::code::HOLD_TIMER_EXPIRED,
        DownReason::Received(_) | DownReason::Stopped => false,
    };
    let (Some(gr), Some(info)) = (&p.remote_gr, &p.info) else {
        return Vec::new();
    };
    if !covered {
        return Vec::new();
    }
    gr.families
        .iter()
        .filter_map(|f| family_of(f.family))
        .filter(|f| info.families.contains(f))
        .collect()
}

impl Speaker {
    /// Starts (or restarts) the graceful-restart timer of `peer`.
    fn gr_timer(&mut self, peer: IpAddr, secs: u16) {
        let tx = self.self_tx.clone();
        let h = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(secs))).await;
            let _ = tx.send(Command::GracefulTimer(peer));
        });
        if let Some(old) = self.gr_timers.insert(peer, h) {
            old.abort();
        }
    }

    /// The session of `peer` ended gracefully: keep its routes of `keep`.
    pub(super) fn graceful_down(&mut self, peer: IpAddr, id: PeerId, keep: &[Family]) -> Changes {
        let secs = self
            .peers
            .get(&peer)
            .and_then(|p| p.remote_gr.as_ref())
            .map_or(0, |g| g.restart_time);
        tracing::info!(
            %peer,
            restart_time = secs,
            families = ?keep.iter().map(|f| f.keyword()).collect::<Vec<_>>(),
            "graceful restart: keeping the peer's routes as stale"
        );
        self.gr_timer(peer, secs);
        self.rib.peer_down_graceful(id, keep)
    }

    /// The session of `peer` is up again: stale routes of families it does
    /// not preserve go now, the others wait for its End-of-RIB.
    pub(super) fn graceful_established(&mut self, peer: IpAddr) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let id = p.id;
        if self.rib.stale_count(id) == 0 {
            return;
        }
        let preserved: Vec<Family> = p
            .remote_gr
            .iter()
            .flat_map(|g| g.families.iter())
            .filter(|f| f.forwarding_state)
            .filter_map(|f| family_of(f.family))
            .collect();
        let mut changes = Changes::default();
        for family in Family::ALL {
            if !preserved.contains(&family) {
                changes.merge(self.rib.sweep_stale(id, family));
            }
        }
        self.apply_changes(changes);
        let secs = self.config.graceful_restart.stalepath_time();
        self.gr_timer(peer, secs);
    }

    /// End-of-RIB from `peer` for `family` (RFC 4724 §2).
    pub(super) fn end_of_rib(&mut self, peer: IpAddr, id: PeerId, family: Family) {
        tracing::debug!(%peer, family = family.keyword(), "End-of-RIB received");
        if self.rib.stale_count(id) > 0 {
            let changes = self.rib.sweep_stale(id, family);
            self.apply_changes(changes);
            if self.rib.stale_count(id) == 0
                && let Some(t) = self.gr_timers.remove(&peer)
            {
                t.abort();
            }
        }
        if let Some(pending) = &mut self.eor_pending {
            pending.remove(&(peer, family));
            if pending.is_empty() {
                self.restart_over();
            }
        }
    }

    /// The restart or stale-path time of `peer` ran out.
    pub(super) fn graceful_timer(&mut self, peer: IpAddr) {
        self.gr_timers.remove(&peer);
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let id = p.id;
        let changes = if p.established_conn().is_some() {
            tracing::info!(%peer, "stale-path time over: removing the routes the peer did not send again");
            let mut c = Changes::default();
            for family in Family::ALL {
                c.merge(self.rib.sweep_stale(id, family));
            }
            c
        } else {
            tracing::warn!(%peer, "restart time over and the peer is not back: removing its routes");
            self.rib.peer_down(id)
        };
        self.apply_changes(changes);
    }

    /// We restarted with our routes kept in the kernel: wait for the
    /// End-of-RIB of every configured peer and family.
    pub(super) fn restart_begin(&mut self) {
        let pending: std::collections::BTreeSet<(IpAddr, Family)> = self
            .config
            .neighbors
            .iter()
            .filter(|(_, n)| !n.shutdown && n.remote_as.is_some())
            .flat_map(|(a, _)| {
                Family::ALL
                    .into_iter()
                    .filter(|f| self.config.is_active(*a, *f))
                    .map(|f| (*a, f))
            })
            .collect();
        let secs = self.config.graceful_restart.stalepath_time();
        tracing::info!(
            waiting = pending.len(),
            limit = secs,
            "graceful restart: waiting for the peers' End-of-RIB before reconciling the FIB"
        );
        self.eor_pending = Some(pending);
        let tx = self.self_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(secs))).await;
            let _ = tx.send(Command::RestartOver);
        });
        if self.eor_pending.as_ref().is_some_and(|p| p.is_empty()) {
            self.restart_over();
        }
    }

    /// Every awaited End-of-RIB arrived (or the time is up): the FIB drops
    /// the old routes not learnt again; new sessions no longer claim a
    /// restart.
    pub(super) fn restart_over(&mut self) {
        let Some(pending) = self.eor_pending.take() else {
            return;
        };
        if !pending.is_empty() {
            tracing::warn!(
                missing = pending.len(),
                "graceful restart: not every peer sent End-of-RIB in time; reconciling anyway"
            );
        }
        let _ = self.fib.send(crate::fib::FibMsg::Reconcile);
    }
}

impl Speaker {
    /// A peer that advertised Graceful Restart sends End-of-RIB once its
    /// initial update is done (RFC 4724 §2): from the moment `conn` is
    /// Established, it gets the stale-path time to send one for every
    /// family. A session on which it sends neither End-of-RIB nor UPDATEs
    /// for that long is not one the peer keeps (a peer may answer
    /// KEEPALIVEs on a connection it has otherwise dropped), and is reset.
    /// The watch belongs to this session: the connection slot `conn` is
    /// used again by the peer's next session, which gets a watch of its own.
    pub(super) fn watch_end_of_rib(&mut self, peer: IpAddr, conn: super::io::ConnId) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if let Some(old) = p.eor_watch.take() {
            old.abort();
        }
        let (Some(_), Some(since)) = (&p.remote_gr, p.stats.since) else {
            return;
        };
        let wait = Duration::from_secs(u64::from(
            self.config.graceful_restart.stalepath_time().max(1),
        ));
        let h = self.end_of_rib_timer(peer, conn, since, wait, since + wait);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.eor_watch = Some(h);
        }
    }

    /// Sends [`Command::EndOfRibDue`] for the session of `conn` that came
    /// up at `since` when `due` comes.
    fn end_of_rib_timer(
        &self,
        peer: IpAddr,
        conn: super::io::ConnId,
        since: Instant,
        wait: Duration,
        due: Instant,
    ) -> tokio::task::JoinHandle<()> {
        let tx = self.self_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
            let _ = tx.send(Command::EndOfRibDue {
                peer,
                conn,
                since,
                wait,
            });
        })
    }

    /// The End-of-RIB wait of the session of `conn` that came up at `since`
    /// ran out: reset it if the peer sent neither every End-of-RIB nor any
    /// UPDATE on it in the last `wait`.
    pub(super) fn end_of_rib_due(
        &mut self,
        peer: IpAddr,
        conn: super::io::ConnId,
        since: Instant,
        wait: Duration,
    ) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        if p.established_conn() != Some(conn) || p.stats.since != Some(since) {
            return; // that session is gone
        }
        let Some(info) = &p.info else {
            return;
        };
        let missing: Vec<&'static str> = info
            .families
            .iter()
            .filter(|f| !p.stats.eor_received.contains(f))
            .map(|f| f.keyword())
            .collect();
        if missing.is_empty() {
            return;
        }
        // An UPDATE of this session within the wait: it is still sending
        // its table; look again once the wait has passed since that one.
        if let Some(at) = p.stats.last_update.filter(|at| *at >= since)
            && at.elapsed() < wait
        {
            let h = self.end_of_rib_timer(peer, conn, since, wait, at + wait);
            if let Some(p) = self.peers.get_mut(&peer) {
                p.eor_watch = Some(h);
            }
            return;
        }
        tracing::warn!(
            %peer,
            families = ?missing,
            wait_secs = wait.as_secs(),
            "no End-of-RIB from a peer that advertised graceful restart, and no UPDATE for the \
             stale-path time: the peer does not keep this session; resetting it"
        );
        let n = tern_bgp_wire::NotificationMessage::cease(0);
        self.fsm_event(peer, conn, tern_bgp::fsm::Event::AutomaticStop(n));
        if let Some(p) = self.peers.get_mut(&peer) {
            p.stats.last_reset = Some("No End-of-RIB from the peer".to_owned());
        }
    }
}
