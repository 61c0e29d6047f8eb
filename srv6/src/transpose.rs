//! The SRv6 SID structure and the transposition scheme of RFC 9252
//! (sections 3.2.1 and 4): part of a SID travels in the MPLS label field
//! of the VPN NLRI instead of in the Prefix-SID attribute, so that routes of
//! one egress PE that differ only in that part can share one attribute.
//!
//! The structure names the SID's parts from its most significant bit:
//! locator block (LBL bits), locator node (LNL), function (FL) and argument
//! (AL); the transposition length (TL) and offset (TO) say which bits move.
//! The bits `TO .. TO+TL` of the SID (counted from bit 0, the most
//! significant) go into the high-order bits of the 20-bit label value
//! (RFC 9252 section 4, errata 7652; sections 5.1 and 5.2 for VPN-IPv4 and
//! VPN-IPv6), and are zero in the SID the attribute carries. FRR transposes
//! the whole function: TO = LBL + LNL, TL = FL.
//!
//! Rules checked ([`SidStructure::validate`]):
//! - LBL + LNL + FL + AL <= 128;
//! - TO + TL <= LBL + LNL + FL + AL (section 3.2.1, errata 7817);
//! - TL <= 20 (the label value) and TL <= FL (sections 5.1, 5.2);
//! - TL = 0 means no transposition, and then TO = 0.
use std::fmt;
use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use crate::error::Srv6Error;

/// Bits of an MPLS label value: the most a VPN NLRI's label field takes.
pub const LABEL_BITS: u8 = 20;

/// The label value of a VPN NLRI that carries no transposed bits: Implicit
/// NULL (RFC 3032), which FRR also sends for a route without a label.
pub const IMPLICIT_NULL: u32 = 3;

/// The SRv6 SID Structure Sub-Sub-TLV's fields (RFC 9252 section 3.2.1),
/// all in bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SidStructure {
    /// Locator block length (LBL).
    pub block_len: u8,
    /// Locator node length (LNL).
    pub node_len: u8,
    /// Function length (FL).
    pub func_len: u8,
    /// Argument length (AL).
    pub arg_len: u8,
    /// Transposition length (TL): 0 for none.
    pub transposition_len: u8,
    /// Transposition offset (TO): the first transposed bit, from the SID's
    /// most significant bit.
    pub transposition_offset: u8,
}

impl fmt::Display for SidStructure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "LBL {} LNL {} FL {} AL {} TL {} TO {}",
            self.block_len,
            self.node_len,
            self.func_len,
            self.arg_len,
            self.transposition_len,
            self.transposition_offset
        )
    }
}

/// A SID ready for a VPN route: the label value of the NLRI and the SID
/// of the Prefix-SID attribute, with the transposed bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transposed {
    /// The 20-bit label value (not shifted into the 3-octet field).
    pub label: u32,
    /// The SID with the transposed bits set to 0.
    pub sid: Ipv6Addr,
}

impl SidStructure {
    /// The structure FRR advertises for a SID of a locator: the whole
    /// function transposed into the label.
    pub fn function_in_label(block_len: u8, node_len: u8, func_len: u8) -> SidStructure {
        SidStructure {
            block_len,
            node_len,
            func_len,
            arg_len: 0,
            transposition_len: func_len,
            transposition_offset: block_len.saturating_add(node_len),
        }
    }

    /// LBL + LNL + FL + AL.
    pub fn total_len(&self) -> u16 {
        u16::from(self.block_len)
            + u16::from(self.node_len)
            + u16::from(self.func_len)
            + u16::from(self.arg_len)
    }

    fn refuse(&self, reason: &'static str) -> Srv6Error {
        Srv6Error::BadStructure {
            structure: self.to_string(),
            reason,
        }
    }

    /// Checks the rules of RFC 9252 for a VPN route (the module's list).
    pub fn validate(&self) -> Result<(), Srv6Error> {
        let total = self.total_len();
        if total > 128 {
            return Err(self.refuse("LBL + LNL + FL + AL is more than 128 bits"));
        }
        let tl = self.transposition_len;
        let to = self.transposition_offset;
        if tl == 0 {
            if to != 0 {
                return Err(self.refuse("the transposition offset must be 0 when its length is 0"));
            }
            return Ok(());
        }
        if tl > LABEL_BITS {
            return Err(self.refuse("the transposition length is more than the 20 bits of a label"));
        }
        if tl > self.func_len {
            return Err(self.refuse("the transposition length is more than the function length"));
        }
        if u16::from(to) + u16::from(tl) > 128 {
            return Err(self.refuse("the transposed bits end past bit 128 of the SID"));
        }
        if u16::from(to) + u16::from(tl) > total {
            return Err(self.refuse("the transposed bits end past LBL + LNL + FL + AL"));
        }
        Ok(())
    }

    /// The mask of the transposed bits in the SID (checked structure, TL > 0).
    fn sid_mask(&self) -> u128 {
        let tl = u32::from(self.transposition_len);
        let shift = 128 - u32::from(self.transposition_offset) - tl;
        ((1u128 << tl) - 1) << shift
    }

    /// How far the transposed bits sit from the SID's least significant bit.
    fn sid_shift(&self) -> u32 {
        128 - u32::from(self.transposition_offset) - u32::from(self.transposition_len)
    }

    /// How far the transposed bits sit from the label value's least
    /// significant bit: they fill its high-order bits.
    fn label_shift(&self) -> u32 {
        u32::from(LABEL_BITS - self.transposition_len)
    }
}

/// Moves the transposed bits of `sid` into a label value: the sender's side.
/// Without transposition (TL = 0) the label is [`IMPLICIT_NULL`] and the SID
/// is unchanged.
pub fn transpose(sid: Ipv6Addr, structure: &SidStructure) -> Result<Transposed, Srv6Error> {
    structure.validate()?;
    if structure.transposition_len == 0 {
        return Ok(Transposed {
            label: IMPLICIT_NULL,
            sid,
        });
    }
    let bits = u128::from(sid);
    let mask = structure.sid_mask();
    let moved = (bits & mask) >> structure.sid_shift();
    // TL <= 20: `moved` fits a u32.
    let label = u32::try_from(moved).unwrap_or(0) << structure.label_shift();
    Ok(Transposed {
        label,
        sid: Ipv6Addr::from(bits & !mask),
    })
}

/// Rebuilds the full SID from the label value of a received NLRI and the
/// SID of its Prefix-SID attribute: the receiver's side. The label's bits
/// below the transposed ones are not part of the SID and are ignored; the
/// SID's own bits at the transposed place are replaced (a sender sets them
/// to 0). Without transposition the SID is the attribute's.
pub fn rebuild(label: u32, sid: Ipv6Addr, structure: &SidStructure) -> Result<Ipv6Addr, Srv6Error> {
    structure.validate()?;
    if label >> LABEL_BITS != 0 {
        return Err(Srv6Error::BadLabel(label));
    }
    if structure.transposition_len == 0 {
        return Ok(sid);
    }
    let moved = u128::from(label >> structure.label_shift());
    let mask = structure.sid_mask();
    let bits = (u128::from(sid) & !mask) | ((moved << structure.sid_shift()) & mask);
    Ok(Ipv6Addr::from(bits))
}

#[cfg(test)]
#[path = "transpose_tests.rs"]
mod tests;
