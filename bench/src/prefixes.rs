//! The injected prefixes and the monitor's table of them. Prefix `k` is the
//! k-th /24 from 100.64.0.0 (injector `i` announces `i*M .. (i+1)*M`), so
//! the whole set is contiguous and the monitor keeps it as a bitmap: exact,
//! and cheap enough that counting never sets the pace.

use std::net::Ipv4Addr;

use anyhow::{Result, bail};
use ipnet::Ipv4Net;

/// The first injected prefix: 100.64.0.0/24.
const BASE: u32 = u32::from_be_bytes([100, 64, 0, 0]);
/// Injected prefixes stop before 127.0.0.0/8.
const LIMIT: u32 = u32::from_be_bytes([127, 0, 0, 0]);
/// Length of every injected prefix.
const LEN: u8 = 24;
/// How many /24s fit between BASE and LIMIT (1,753,088).
pub const MAX: usize = ((LIMIT - BASE) >> (32 - LEN)) as usize;

/// The k-th injected prefix.
pub fn nth(k: usize) -> Result<Ipv4Net> {
    if k >= MAX {
        bail!("prefix index {k} is beyond the {MAX} /24s from 100.64.0.0 to 126.255.255.0");
    }
    let addr = BASE + ((k as u32) << (32 - LEN));
    Ok(Ipv4Net::new(Ipv4Addr::from(addr), LEN)?)
}

/// Index of `p` if it is one of the first `count` injected prefixes.
pub fn index_of(p: Ipv4Net, count: usize) -> Option<usize> {
    if p.prefix_len() != LEN {
        return None;
    }
    let k = u32::from(p.network()).checked_sub(BASE)? >> (32 - LEN);
    let k = usize::try_from(k).ok()?;
    (k < count).then_some(k)
}

/// Which injected prefixes a speaker holds.
#[derive(Debug)]
pub struct Table {
    bits: Vec<u64>,
    count: usize,
    held: usize,
    unexpected: usize,
}

impl Table {
    /// An empty table for the first `count` injected prefixes.
    pub fn new(count: usize) -> Table {
        Table {
            bits: vec![0; count.div_ceil(64)],
            count,
            held: 0,
            unexpected: 0,
        }
    }

    pub fn announce(&mut self, p: Ipv4Net) {
        match index_of(p, self.count) {
            Some(k) => {
                if let Some(word) = self.bits.get_mut(k / 64) {
                    let bit = 1u64 << (k % 64);
                    if *word & bit == 0 {
                        *word |= bit;
                        self.held += 1;
                    }
                }
            }
            None => self.unexpected += 1,
        }
    }

    /// A route of another family or a prefix we did not inject.
    pub fn announce_other(&mut self) {
        self.unexpected += 1;
    }

    pub fn withdraw(&mut self, p: Ipv4Net) {
        if let Some(k) = index_of(p, self.count)
            && let Some(word) = self.bits.get_mut(k / 64)
        {
            let bit = 1u64 << (k % 64);
            if *word & bit != 0 {
                *word &= !bit;
                self.held -= 1;
            }
        }
    }

    /// Distinct injected prefixes held.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Announcements of anything else (counted, not deduplicated).
    pub fn unexpected(&self) -> usize {
        self.unexpected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_consecutive_24s() {
        assert_eq!(nth(0).ok(), "100.64.0.0/24".parse().ok());
        assert_eq!(nth(1).ok(), "100.64.1.0/24".parse().ok());
        assert_eq!(nth(1_000_000 - 1).ok(), "115.130.63.0/24".parse().ok());
        assert!(nth(MAX).is_err());
        assert!(nth(MAX - 1).is_ok());
    }

    #[test]
    fn table_counts_distinct_and_applies_withdrawals() {
        let mut t = Table::new(10);
        let p = |k| nth(k).expect("prefix");
        t.announce(p(3));
        t.announce(p(3));
        t.announce(p(9));
        t.announce(p(10));
        t.announce("192.0.2.0/24".parse().expect("prefix"));
        assert_eq!((t.held(), t.unexpected()), (2, 2));
        t.withdraw(p(3));
        t.withdraw(p(3));
        assert_eq!(t.held(), 1);
    }
}
