//! Dynamic neighbors (`bgp listen range PREFIX peer-group NAME`): a
//! connection from an address in a listen range, with no neighbor of its
//! own, creates a neighbor with the group's settings (passive: it never
//! connects out); it is deleted when its session goes down, as in FRR.
//! At most `bgp listen limit` of them exist at once.
//!
//! The speaker runs the configuration resolved for it: peer-group members
//! completed from their groups, plus the dynamic neighbors, which a
//! reconfiguration keeps while their range and group still hold them with
//! the same settings (otherwise they are dropped, and come back on their
//! next connection).
use std::{collections::BTreeMap, net::IpAddr};

use ipnet::IpNet;

use super::{Speaker, md5};
use tern_bgp::config::BgpConfig;

impl Speaker {
    /// The configuration to run for `new` (a `router bgp` block as written):
    /// members resolved, dynamic neighbors that still fit carried over.
    pub(super) fn effective(&mut self, new: &BgpConfig) -> BgpConfig {
        let mut out = new.resolved();
        let dynamic = std::mem::take(&mut self.dynamic);
        for (addr, group) in dynamic {
            let keep = !out.neighbors.contains_key(&addr)
                && out.listen_group(addr) == Some(group.as_str())
                && {
                    let mut probe = out.clone();
                    let now = probe.add_dynamic(addr, &group);
                    now.is_some() && now.as_ref() == self.config.neighbors.get(&addr)
                };
            if keep {
                out.add_dynamic(addr, &group);
                self.dynamic.insert(addr, group);
            } else {
                tracing::info!(peer = %addr, %group, "dynamic neighbor no longer fits the config: removed");
            }
        }
        out
    }

    /// A connection from `addr`, which has no neighbor: creates a dynamic
    /// neighbor when a listen range holds the address. Returns whether the
    /// neighbor now exists.
    pub(super) fn accept_dynamic(&mut self, addr: IpAddr) -> bool {
        let Some(group) = self.config.listen_group(addr).map(str::to_owned) else {
            return false;
        };
        let limit = self.config.listen_limit();
        if self.dynamic.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
            tracing::warn!(peer = %addr, %group, limit, "bgp listen limit reached: connection refused");
            return false;
        }
        let Some(n) = self.config.add_dynamic(addr, &group) else {
            tracing::warn!(peer = %addr, %group, "peer-group of the listen range has no remote-as: connection refused");
            return false;
        };
        tracing::info!(peer = %addr, %group, "dynamic neighbor created");
        self.dynamic.insert(addr, group);
        self.add_peer(addr, n, tern_bgp::fsm::Event::ManualStart);
        true
    }

    /// Puts the TCP MD5 keys of the listen ranges whose peer-group has a
    /// password on the listening socket (a connection from the range is
    /// signed from its SYN on), and takes off those no longer configured.
    pub(super) fn apply_range_keys(&mut self) {
        let want: BTreeMap<IpNet, String> = self
            .config
            .listen_ranges
            .iter()
            .filter_map(|(r, g)| {
                let pw = self.config.peer_groups.get(g)?.password.clone()?;
                Some((*r, pw))
            })
            .collect();
        for range in self.range_keys.keys() {
            if !want.contains_key(range)
                && let Err(e) = md5::set_range_key(&self.listener_fd, *range, b"")
            {
                tracing::warn!(%range, error = %e, "cannot remove the listen range's TCP MD5 key");
            }
        }
        for (range, pw) in &want {
            if self.range_keys.get(range) != Some(pw)
                && let Err(e) = md5::set_range_key(&self.listener_fd, *range, pw.as_bytes())
            {
                tracing::warn!(%range, error = %e, "cannot set the listen range's TCP MD5 key");
            }
        }
        self.range_keys = want;
    }

    /// Whether `addr` is a dynamic neighbor (shown with `*` by FRR).
    pub(super) fn is_dynamic(&self, addr: IpAddr) -> bool {
        self.dynamic.contains_key(&addr)
    }

    /// A session of `addr` went down: a dynamic neighbor left without a
    /// connection is deleted once the current event is handled.
    pub(super) fn dynamic_down(&mut self, addr: IpAddr) {
        if self.dynamic.contains_key(&addr) && !self.reap.contains(&addr) {
            self.reap.push(addr);
        }
    }

    /// Deletes the dynamic neighbors marked by [`Speaker::dynamic_down`]
    /// that have no open connection left.
    pub(super) fn reap_dynamic(&mut self) {
        if self.reap.is_empty() {
            return;
        }
        for addr in std::mem::take(&mut self.reap) {
            let connected = self
                .peers
                .get(&addr)
                .is_some_and(|p| p.conns.iter().any(|c| c.writer.is_some()));
            if connected || self.dynamic.remove(&addr).is_none() {
                continue;
            }
            tracing::info!(peer = %addr, "dynamic neighbor deleted (session down)");
            self.remove_peer(addr);
            self.config.neighbors.remove(&addr);
            for af in self.config.families.values_mut() {
                af.neighbors.remove(&addr);
            }
        }
    }
}
