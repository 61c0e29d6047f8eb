//! Graceful restart in the RIB (RFC 4724 §4.2, the receiving speaker): when
//! the session of a peer that can restart goes down, its paths of the
//! families it preserves stay in the Loc-RIB (and so in the FIB and in what
//! the other peers were sent), marked stale. A path received again on the
//! new session is no longer stale; what is still stale when the peer has
//! sent End-of-RIB, or when its restart time runs out, is removed.
use super::{Changes, PeerId, Rib, Source};
use crate::family::Family;

impl Rib {
    /// The session of `peer` went down in graceful restart: its paths of
    /// `keep` are marked stale and kept, the others removed. The peer stays
    /// known (sent nothing) until [`Rib::peer_up`] or [`Rib::peer_down`].
    pub fn peer_down_graceful(&mut self, peer: PeerId, keep: &[Family]) -> Changes {
        let Some(state) = self.peers.get_mut(&peer) else {
            return Changes::default();
        };
        state.down = true;
        let source = Source::Peer(peer);
        for family in keep {
            for dest in self.table_mut(*family).values_mut() {
                for p in dest.paths.iter_mut().filter(|p| p.source == source) {
                    p.stale = true;
                }
            }
        }
        let drop: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|f| !keep.contains(f))
            .collect();
        self.remove_paths(peer, &drop, false)
    }

    /// Removes the paths of `peer` in `family` that are still stale (the
    /// peer sent End-of-RIB, or its time ran out).
    pub fn sweep_stale(&mut self, peer: PeerId, family: Family) -> Changes {
        self.remove_paths(peer, &[family], true)
    }

    /// How many paths of `peer` are stale.
    pub fn stale_count(&self, peer: PeerId) -> usize {
        let source = Source::Peer(peer);
        Family::ALL
            .iter()
            .map(|f| {
                self.table(*f)
                    .values()
                    .flat_map(|d| d.paths.iter())
                    .filter(|p| p.source == source && p.stale)
                    .count()
            })
            .sum()
    }
}
