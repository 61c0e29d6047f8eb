//! Local SIDs: their endpoint behaviors (RFC 8986) and their allocation
//! from the locator, per VRF and address family.
//!
//! A VRF gets one SID per address family it exports (`sid vpn export
//! auto|N` under `address-family ipv4|ipv6 unicast`: End.DT4, End.DT6), or
//! one SID for both (`sid vpn per-vrf export auto|N` at the VRF's router
//! level, FRR 9's words: End.DT46), never both (FRR 9 refuses that too). `N` is the function value itself, as in
//! FRR 9 and later (FRR 8.4 takes an index 1 to 255 and makes function
//! `N << 8` of it with 16 function bits).
//!
//! Allocation rules ([`SidTable::sync`]):
//! - a function is held by one owner at a time and never handed to a second
//!   one while the first holds it;
//! - an explicit function must fit the function bits and must not be
//!   held: otherwise it is refused, and the table does not change;
//! - function 0 is never used (the SID would be the locator itself), nor a
//!   function whose label value is below 16 (the reserved MPLS labels);
//! - an automatic owner keeps its function while it stays automatic; a new
//!   one takes the smallest free function, explicit owners placed first,
//!   then automatic ones in owner order, so the same config gives the same
//!   SIDs on every start;
//! - an owner that goes away frees its function.
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use crate::error::Srv6Error;
use crate::locator::Locator;

/// Labels 0 to 15 are reserved (RFC 3032): no SID's label may be one.
pub const FIRST_UNRESERVED_LABEL: u32 = 16;

/// An SRv6 endpoint behavior with its IANA codepoint (RFC 8986 section 10.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Behavior {
    /// Decapsulation and IPv6 table lookup, codepoint 18.
    EndDt6,
    /// Decapsulation and IPv4 table lookup, codepoint 19.
    EndDt4,
    /// Decapsulation and IPv4 or IPv6 table lookup, codepoint 20.
    EndDt46,
    /// The opaque behavior 0xFFFF a sender may advertise (RFC 9252 section
    /// 3.2), or any other codepoint.
    Other(u16),
}

impl Behavior {
    pub const END_DX6: u16 = 16;
    pub const END_DX4: u16 = 17;
    pub const END_DT6: u16 = 18;
    pub const END_DT4: u16 = 19;
    pub const END_DT46: u16 = 20;
    pub const OPAQUE: u16 = 0xffff;

    pub fn codepoint(self) -> u16 {
        match self {
            Behavior::EndDt6 => Behavior::END_DT6,
            Behavior::EndDt4 => Behavior::END_DT4,
            Behavior::EndDt46 => Behavior::END_DT46,
            Behavior::Other(c) => c,
        }
    }

    pub fn from_codepoint(c: u16) -> Behavior {
        match c {
            Behavior::END_DT6 => Behavior::EndDt6,
            Behavior::END_DT4 => Behavior::EndDt4,
            Behavior::END_DT46 => Behavior::EndDt46,
            c => Behavior::Other(c),
        }
    }

    /// Whether a packet to a SID of this behavior may carry an IPv4
    /// (`ipv4`) or IPv6 payload: a VPN route's family must fit its SID.
    /// RFC 8986's behaviors that are no L3 service (End, End.X, End.T and
    /// the binding SIDs, 1-15; the L2 services, 21-27) fit neither, End.DX4
    /// and End.DX6 one family; a behavior Tern does not know (the opaque
    /// one, uSID flavours, anything newer) fits both: RFC 9252 §3.1 says an
    /// unrecognized behavior is not invalid, and an ingress node only
    /// encapsulates to the SID.
    pub fn carries(self, ipv4: bool) -> bool {
        match self {
            Behavior::EndDt4 => ipv4,
            Behavior::EndDt6 => !ipv4,
            Behavior::EndDt46 => true,
            Behavior::Other(Behavior::END_DX4) => ipv4,
            Behavior::Other(Behavior::END_DX6) => !ipv4,
            Behavior::Other(1..=15 | 21..=27) => false,
            Behavior::Other(_) => true,
        }
    }
}

impl fmt::Display for Behavior {
    /// RFC 8986's names: `End.DT4`, `End.DT6`, `End.DT46`; others by number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behavior::EndDt6 => f.write_str("End.DT6"),
            Behavior::EndDt4 => f.write_str("End.DT4"),
            Behavior::EndDt46 => f.write_str("End.DT46"),
            Behavior::Other(c) => write!(f, "behavior {c}"),
        }
    }
}

/// Which traffic of a VRF a SID is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SidScope {
    /// `address-family ipv4 unicast`: End.DT4.
    Ipv4,
    /// `address-family ipv6 unicast`: End.DT6.
    Ipv6,
    /// The whole VRF (`sid vpn per-vrf export`): End.DT46.
    PerVrf,
}

impl SidScope {
    pub fn behavior(self) -> Behavior {
        match self {
            SidScope::Ipv4 => Behavior::EndDt4,
            SidScope::Ipv6 => Behavior::EndDt6,
            SidScope::PerVrf => Behavior::EndDt46,
        }
    }
}

/// The owner of a local SID: a VRF and a scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SidOwner {
    pub vrf: String,
    pub scope: SidScope,
}

impl SidOwner {
    pub fn new(vrf: &str, scope: SidScope) -> SidOwner {
        SidOwner {
            vrf: vrf.to_owned(),
            scope,
        }
    }
}

impl fmt::Display for SidOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            SidScope::Ipv4 => write!(f, "vrf {} ipv4 unicast", self.vrf),
            SidScope::Ipv6 => write!(f, "vrf {} ipv6 unicast", self.vrf),
            SidScope::PerVrf => write!(f, "vrf {} (per-vrf)", self.vrf),
        }
    }
}

/// How a SID is asked for: `auto` or an explicit function value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SidRequest {
    Auto,
    Function(u32),
}

impl fmt::Display for SidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SidRequest::Auto => f.write_str("auto"),
            SidRequest::Function(n) => write!(f, "{n}"),
        }
    }
}

/// A SID this node holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LocalSid {
    pub owner: SidOwner,
    pub request: SidRequest,
    pub function: u32,
    pub sid: Ipv6Addr,
    pub behavior: Behavior,
}

/// The SIDs allocated from one locator, by function value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidTable {
    locator: Locator,
    held: BTreeMap<u32, (SidOwner, SidRequest)>,
}

impl SidTable {
    pub fn new(locator: Locator) -> SidTable {
        SidTable {
            locator,
            held: BTreeMap::new(),
        }
    }

    pub fn locator(&self) -> &Locator {
        &self.locator
    }

    /// The smallest function usable at all: its label must not be reserved.
    pub fn min_function(&self) -> u32 {
        let step = 1u32 << (crate::transpose::LABEL_BITS - self.locator.func_bits());
        FIRST_UNRESERVED_LABEL.div_ceil(step).max(1)
    }

    fn local(&self, function: u32, owner: &SidOwner, request: SidRequest) -> LocalSid {
        LocalSid {
            owner: owner.clone(),
            request,
            function,
            sid: self.locator.sid(function),
            behavior: owner.scope.behavior(),
        }
    }

    /// The SID of `owner`, if it holds one.
    pub fn get(&self, owner: &SidOwner) -> Option<LocalSid> {
        self.held
            .iter()
            .find(|(_, (o, _))| o == owner)
            .map(|(&f, (o, r))| self.local(f, o, *r))
    }

    /// Every SID held, in function order.
    pub fn iter(&self) -> impl Iterator<Item = LocalSid> + '_ {
        self.held.iter().map(|(&f, (o, r))| self.local(f, o, *r))
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Checks that `function` may be given to `owner`.
    fn check_explicit(&self, owner: &SidOwner, function: u32) -> Result<(), Srv6Error> {
        let loc = &self.locator;
        if function == 0 || function > loc.max_function() {
            return Err(Srv6Error::FunctionOutOfRange {
                function,
                locator: loc.name().to_owned(),
                bits: loc.func_bits(),
                max: loc.max_function(),
            });
        }
        if function < self.min_function() {
            return Err(Srv6Error::FunctionReserved {
                function,
                label: loc.label(function),
                bits: loc.func_bits(),
                min: self.min_function(),
            });
        }
        if let Some((other, _)) = self.held.get(&function)
            && other != owner
        {
            return Err(Srv6Error::FunctionTaken {
                function,
                sid: loc.sid(function),
                owner: other.to_string(),
            });
        }
        Ok(())
    }

    /// The smallest free function.
    fn free_function(&self) -> Option<u32> {
        (self.min_function()..=self.locator.max_function()).find(|f| !self.held.contains_key(f))
    }

    /// Brings the table to `wanted` (every owner and its request), by the
    /// module's rules. On `Err` the table is as it was.
    pub fn sync(&mut self, wanted: &BTreeMap<SidOwner, SidRequest>) -> Result<(), Srv6Error> {
        let mut next = self.clone();
        // Owners gone, or whose request changed, free their function.
        next.held
            .retain(|_, (owner, request)| wanted.get(owner) == Some(request));
        for (owner, request) in wanted {
            if let SidRequest::Function(f) = *request {
                if next.held.get(&f).is_some_and(|(o, _)| o == owner) {
                    continue;
                }
                next.check_explicit(owner, f)?;
                next.held.insert(f, (owner.clone(), *request));
            }
        }
        for (owner, request) in wanted {
            if *request != SidRequest::Auto || next.get(owner).is_some() {
                continue;
            }
            let f = next.free_function().ok_or_else(|| Srv6Error::LocatorFull {
                owner: owner.to_string(),
                locator: next.locator.name().to_owned(),
            })?;
            next.held.insert(f, (owner.clone(), SidRequest::Auto));
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
#[path = "sid_tests.rs"]
mod tests;
