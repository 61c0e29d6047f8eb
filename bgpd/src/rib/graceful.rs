//! Graceful restart in the RIB (RFC 4724 §4.2, the receiving speaker): when
//! the session of a peer that can restart goes down, its paths of the
//! families it preserves stay in the Loc-RIB (and so in the FIB and in what
//! the other peers were sent), marked stale. A path received again on the
//! new session is no longer stale; what is still stale when the peer has
//! sent End-of-RIB, or when its restart time runs out, is removed.
use super::decision::{self, Ctx, Mutation};
use super::{Changes, PeerId, Rib, Source};
use crate::config::Family;

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
        let mut changes = Changes::default();
        for family in Family::ALL {
            if !keep.contains(&family) {
                changes.merge(self.remove_where(peer, family, false));
            }
        }
        changes
    }

    /// Removes the paths of `peer` in `family` that are still stale (the
    /// peer sent End-of-RIB, or its time ran out).
    pub fn sweep_stale(&mut self, peer: PeerId, family: Family) -> Changes {
        self.remove_where(peer, family, true)
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

    /// Removes the paths of `peer` in `family` (only the stale ones when
    /// `stale_only`), deciding and advertising anew.
    fn remove_where(&mut self, peer: PeerId, family: Family, stale_only: bool) -> Changes {
        let mut changes = Changes::default();
        self.op += 1;
        let source = Source::Peer(peer);
        let gone = |p: &super::Path| p.source == source && (p.stale || !stale_only);
        let Self {
            v4,
            v6,
            peers,
            config,
            scratch,
            op,
            ..
        } = self;
        let op = *op;
        let table = match family {
            Family::Ipv4Unicast => v4,
            Family::Ipv6Unicast => v6,
        };
        let mut removed = 0usize;
        {
            let ctx = Ctx { peers, config, op };
            table.retain(|prefix, dest| {
                if dest.paths.iter().any(gone) {
                    decision::change(
                        dest,
                        family,
                        *prefix,
                        &ctx,
                        scratch,
                        &mut changes,
                        |paths| {
                            let before = paths.len();
                            paths.retain(|p| !gone(p));
                            removed += before - paths.len();
                            Mutation::Changed
                        },
                    );
                }
                !dest.paths.is_empty()
            });
        }
        if let Some(s) = self.peers.get_mut(&peer) {
            let n = s.accepted.get_mut(family);
            *n = n.saturating_sub(removed);
        }
        let changes = self.finish(changes);
        self.interner.sweep();
        changes
    }
}
