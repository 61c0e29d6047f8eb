//! What a BFD session means to BGP: a session that leaves Up takes down
//! the BGP session of a neighbor with `neighbor X bfd` at once, with
//! NOTIFICATION Cease / BFD Down (RFC 9384, as FRR 8.4 sends it); BGP comes
//! back by its usual rules (idle hold time, connect retry).
use tern_bgp_wire::{NotificationMessage, cease_subcode, code};

use super::{ConnId, Speaker};
use tern_bgp::fsm::{Event, State};

use crate::bfd::BfdStatus;

impl Speaker {
    pub(super) fn on_bfd(&mut self, status: BfdStatus) {
        let Some(p) = self.peers.get(&status.peer) else {
            return;
        };
        if !p.cfg.bfd {
            return;
        }
        if status.up {
            tracing::info!(peer = %status.peer, "BFD session up");
            return;
        }
        let hit: Vec<ConnId> = p
            .conns
            .iter()
            .filter(|c| {
                matches!(
                    c.fsm.state(),
                    State::OpenSent | State::OpenConfirm | State::Established
                )
            })
            .map(|c| c.id)
            .collect();
        for conn in hit {
            tracing::warn!(peer = %status.peer, "BFD session down: stopping the BGP session");
            let n = NotificationMessage::new(code::CEASE, cease_subcode::BFD_DOWN, Vec::new());
            self.fsm_event(status.peer, conn, Event::AutomaticStop(n));
        }
    }
}
