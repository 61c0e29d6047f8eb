//! FRR's table version: each family's Loc-RIB counts the best-path
//! changes of its prefixes, and each prefix keeps the count at its own
//! last change. bgpd does it in `bgp_process_main_one`: when a prefix's
//! best path is selected for the first time, is replaced, has its
//! attributes changed or goes away, `bgp_bump_version` sets the prefix's
//! `version` to `++table->version`; a change that leaves the best path as
//! it was (another path added, the ECMP set changed) bumps nothing.
//! `show ip bgp` prints the table's count ("BGP table version is N",
//! `"tableVersion"`) and each prefix's (`"version"`, "BGP routing table
//! entry for P, version N").
//!
//! The Loc-RIB bumps once per prefix per operation (one UPDATE, one
//! session going down), as bgpd bumps once per run of its work queue.
//!
//! FRR keeps both counts in 8 octets. Here a prefix keeps its version in
//! the 4 octets its entry already had for the operation mark it replaces:
//! the offset from a base that moves up every 2^31 changes. The moving up
//! keeps every prefix's version exact unless a prefix has not changed
//! while its table made 2^30 other changes; such a prefix then shows the
//! base, a version newer than its own. The table's count is exact.

use super::table::PrefixTable;

/// Offsets from the base are moved down once they reach this.
pub(super) const REBASE_AT: u64 = 1 << 31;
/// After moving down, at most this many changes lie between the base and
/// the table's count.
pub(super) const KEEP: u64 = 1 << 30;

/// The version counter of one family's Loc-RIB.
#[derive(Debug, Default)]
pub(super) struct TableVersion {
    /// Best-path changes so far: FRR's `table->version`.
    now: u64,
    /// A prefix's stored version is its version less this.
    base: u64,
    /// The stored version of the last change before the operation under
    /// way: a prefix whose stored version is above it has already changed
    /// in this operation.
    op_start: u32,
}

impl TableVersion {
    /// The table's version (FRR's `tableVersion`).
    pub(super) fn now(&self) -> u64 {
        self.now
    }

    /// The version a prefix's stored version stands for.
    pub(super) fn of(&self, stored: u32) -> u64 {
        self.base + u64::from(stored)
    }

    /// Starts an operation on `table`: moves the base up first when the
    /// offsets have grown large.
    pub(super) fn begin(&mut self, table: &mut PrefixTable) {
        let span = self.now - self.base;
        if span >= REBASE_AT {
            let oldest = table.values().map(|d| d.version).filter(|v| *v > 0).min();
            // Every prefix stays exact when the oldest allows it.
            let exact = oldest.map_or(span, |o| u64::from(o) - 1);
            let shift = exact.max(span - KEEP);
            for d in table.values_mut() {
                let moved = u64::from(d.version).saturating_sub(shift);
                d.version = u32::try_from(moved).unwrap_or(u32::MAX);
            }
            self.base += shift;
        }
        self.op_start = self.stored(self.now);
    }

    /// Counts a best-path change; returns the changed prefix's stored
    /// version.
    pub(super) fn bump(&mut self) -> u32 {
        self.now += 1;
        self.stored(self.now)
    }

    /// Whether a prefix with this stored version has already changed in
    /// the operation under way.
    pub(super) fn changed_in_op(&self, stored: u32) -> bool {
        stored > self.op_start
    }

    fn stored(&self, version: u64) -> u32 {
        u32::try_from(version - self.base).unwrap_or(u32::MAX)
    }

    /// Sets the count and the base (tests of the moving base).
    #[cfg(test)]
    pub(super) fn set(&mut self, now: u64, base: u64) {
        self.now = now;
        self.base = base;
    }
}
