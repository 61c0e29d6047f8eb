//! An SRv6 locator (RFC 8986 section 3.1): the prefix this node's SIDs are
//! taken from, and how its bits split into block, node and function.
//!
//! Config words, as in FRR (`prefix X:X::X:X/M [block-len N] [node-len N]
//! [func-bits N]`, the words of FRR 8.5 and later; FRR 8.4 has only
//! `func-bits`). Defaults, as FRR resolves them: node-len 24 and block-len
//! the prefix length minus 24 when neither is given, the one from the other
//! when one is given, func-bits 16 (FRR 8.4 stores 0 and its bgpd takes
//! 16). Rules: the prefix is IPv6 with no host bits; block-len + node-len is
//! the prefix length; block-len and node-len are 16 to 64 (FRR's ranges);
//! func-bits is 1 to 20, because Tern transposes the whole function into
//! the 20-bit label (FRR 8.5 and later refuse more than 20 for the same
//! reason); prefix length + func-bits <= 128. No argument bits: End.DT4,
//! End.DT6 and End.DT46 take no argument.
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

use crate::error::Srv6Error;
use crate::transpose::{LABEL_BITS, SidStructure};

/// The node length FRR takes when the config gives none.
pub const DEFAULT_NODE_LEN: u8 = 24;
/// The function length FRR's bgpd takes when the config gives none.
pub const DEFAULT_FUNC_BITS: u8 = 16;
/// Block and node lengths FRR accepts.
pub const LEN_RANGE: std::ops::RangeInclusive<u8> = 16..=64;
/// Longest name of a locator or VRF.
pub const MAX_NAME_LEN: usize = 63;

/// An SRv6 locator with its lengths resolved. Its fields are private: every
/// locator is made by [`Locator::new`] (deserialising one goes through it
/// too), so the lengths always add up.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "LocatorFields")]
pub struct Locator {
    name: String,
    prefix: Ipv6Net,
    block_len: u8,
    node_len: u8,
    func_bits: u8,
}

/// A locator as serialised, checked by [`Locator::new`] when read.
#[derive(Deserialize)]
struct LocatorFields {
    name: String,
    prefix: Ipv6Net,
    block_len: u8,
    node_len: u8,
    func_bits: u8,
}

impl TryFrom<LocatorFields> for Locator {
    type Error = Srv6Error;

    fn try_from(f: LocatorFields) -> Result<Locator, Srv6Error> {
        Locator::new(
            &f.name,
            f.prefix,
            Some(f.block_len),
            Some(f.node_len),
            Some(f.func_bits),
        )
    }
}

/// Checks a locator or VRF name: 1 to 63 printable ASCII characters
/// without spaces (a config word).
pub fn check_name(what: &'static str, name: &str) -> Result<(), Srv6Error> {
    let bad = |reason| Srv6Error::BadName {
        what,
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad("longer than 63 characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("only printable ASCII characters without spaces"));
    }
    if name == "default" && what == "vrf" {
        return Err(bad("the default VRF is the main table, not an SRv6 VRF"));
    }
    Ok(())
}

impl Locator {
    /// A locator from the `prefix` line's values (None: not given), with
    /// FRR's defaults resolved and every rule checked.
    pub fn new(
        name: &str,
        prefix: Ipv6Net,
        block_len: Option<u8>,
        node_len: Option<u8>,
        func_bits: Option<u8>,
    ) -> Result<Locator, Srv6Error> {
        check_name("locator", name)?;
        if prefix.trunc() != prefix {
            return Err(Srv6Error::HostBits {
                given: prefix,
                normalised: prefix.trunc(),
            });
        }
        let len = prefix.prefix_len();
        let bad = |reason: String| Srv6Error::BadLocator {
            name: name.to_owned(),
            reason,
        };
        let (block_len, node_len) = match (block_len, node_len) {
            (None, None) => (len.checked_sub(DEFAULT_NODE_LEN), Some(DEFAULT_NODE_LEN)),
            (Some(b), None) => (Some(b), len.checked_sub(b)),
            (None, Some(n)) => (len.checked_sub(n), Some(n)),
            (Some(b), Some(n)) => {
                if u16::from(b) + u16::from(n) != u16::from(len) {
                    return Err(bad(format!(
                        "block-len {b} + node-len {n} must be the prefix length {len}"
                    )));
                }
                (Some(b), Some(n))
            }
        };
        let (Some(block_len), Some(node_len)) = (block_len, node_len) else {
            return Err(bad(format!(
                "prefix length {len} is shorter than the node length (block-len + node-len \
                 must be the prefix length)"
            )));
        };
        for (what, v) in [("block-len", block_len), ("node-len", node_len)] {
            if !LEN_RANGE.contains(&v) {
                return Err(bad(format!(
                    "{what} {v} is outside 16 to 64 (block-len + node-len is the prefix length {len})"
                )));
            }
        }
        let func_bits = func_bits.unwrap_or(DEFAULT_FUNC_BITS);
        if func_bits == 0 || func_bits > LABEL_BITS {
            return Err(bad(format!(
                "func-bits {func_bits}: expected 1 to 20 (the function travels in the 20-bit label)"
            )));
        }
        if u16::from(len) + u16::from(func_bits) > 128 {
            return Err(bad(format!(
                "prefix length {len} + func-bits {func_bits} is more than 128"
            )));
        }
        Ok(Locator {
            name: name.to_owned(),
            prefix,
            block_len,
            node_len,
            func_bits,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn prefix(&self) -> Ipv6Net {
        self.prefix
    }

    /// Locator block length (LBL).
    pub fn block_len(&self) -> u8 {
        self.block_len
    }

    /// Locator node length (LNL).
    pub fn node_len(&self) -> u8 {
        self.node_len
    }

    /// Function length (FL).
    pub fn func_bits(&self) -> u8 {
        self.func_bits
    }

    /// The largest function value.
    pub fn max_function(&self) -> u32 {
        (1u32 << self.func_bits) - 1
    }

    /// The SID of function `function` (checked against the function bits by
    /// the caller): the prefix with the function right after it.
    pub fn sid(&self, function: u32) -> Ipv6Addr {
        let shift = 128 - u32::from(self.prefix.prefix_len()) - u32::from(self.func_bits);
        let f = u128::from(function & self.max_function());
        Ipv6Addr::from(u128::from(self.prefix.network()) | (f << shift))
    }

    /// The function of `sid`, when the SID lies in this locator.
    pub fn function_of(&self, sid: Ipv6Addr) -> Option<u32> {
        if !self.prefix.contains(&sid) {
            return None;
        }
        let shift = 128 - u32::from(self.prefix.prefix_len()) - u32::from(self.func_bits);
        u32::try_from((u128::from(sid) >> shift) & u128::from(self.max_function())).ok()
    }

    /// The label value that carries `function` (its high-order bits).
    pub fn label(&self, function: u32) -> u32 {
        (function & self.max_function()) << (LABEL_BITS - self.func_bits)
    }

    /// The structure advertised with this locator's SIDs: the function
    /// transposed into the label, as FRR does.
    pub fn structure(&self) -> SidStructure {
        SidStructure::function_in_label(self.block_len, self.node_len, self.func_bits)
    }

    /// The words after `prefix`: lengths that differ from the defaults only
    /// (FRR 8.4 prints `func-bits` only when it was given).
    pub fn prefix_words(&self) -> String {
        let mut s = format!("{}", self.prefix);
        let len = self.prefix.prefix_len();
        let default_node = self.node_len == DEFAULT_NODE_LEN
            && len.checked_sub(DEFAULT_NODE_LEN) == Some(self.block_len);
        if !default_node {
            s.push_str(&format!(
                " block-len {} node-len {}",
                self.block_len, self.node_len
            ));
        }
        if self.func_bits != DEFAULT_FUNC_BITS {
            s.push_str(&format!(" func-bits {}", self.func_bits));
        }
        s
    }
}
