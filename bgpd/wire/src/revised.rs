//! RFC 7606 "Revised Error Handling for BGP UPDATE Messages": what can be
//! wrong in an UPDATE ([`Fault`]), what each fault costs ([`Action`]), and the
//! verdict for a whole message ([`UpdateOutcome`]). The per-attribute choice
//! of action follows RFC 7606 §7 and the later attribute RFCs; it is made in
//! [`crate::update`], next to the parser.

use std::fmt;
use std::net::Ipv4Addr;

use thiserror::Error;

use crate::attr_type;
use crate::family::AfiSafi;
use crate::notification::{NotificationMessage, code, update_subcode};

/// The RFC 7606 approaches, weakest first (so `max` picks the one to apply
/// when several errors are found, RFC 7606 §3 (j)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// The attribute is dropped; the UPDATE is processed without it.
    AttributeDiscard,
    /// Every route the UPDATE announces is handled as withdrawn.
    TreatAsWithdraw,
    /// A NOTIFICATION is sent and the session closed.
    SessionReset,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AttributeDiscard => "attribute-discard",
            Self::TreatAsWithdraw => "treat-as-withdraw",
            Self::SessionReset => "session-reset",
        })
    }
}

/// Something wrong in a received UPDATE.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Fault {
    /// Withdrawn Routes Length runs past the end of the message.
    #[error("withdrawn routes length runs past the message")]
    WithdrawnRoutesLength,
    /// Total Path Attribute Length runs past the end of the message.
    #[error("total path attribute length runs past the message")]
    TotalAttributeLength,
    /// An attribute's length runs past the path attribute section (RFC 7606 §4).
    #[error("attribute length runs past the path attribute section")]
    AttributeOverrun,
    /// Octets are left after the last attribute but too few for a header (RFC 7606 §4).
    #[error("{0} octets after the last attribute are too few for an attribute header")]
    AttributeUnderrun(usize),
    /// The Withdrawn Routes or NLRI field is syntactically incorrect (RFC 7606 §5.3).
    #[error("invalid network field")]
    InvalidNetworkField,
    /// The attribute appears more than once.
    #[error("attribute appears more than once")]
    Duplicate,
    /// A well-known mandatory attribute is missing.
    #[error("well-known mandatory attribute missing")]
    Missing,
    /// An attribute with the Optional bit clear whose type is unknown.
    #[error("unrecognized well-known attribute")]
    UnrecognizedWellKnown,
    /// The Optional or Transitive bit disagrees with the attribute type.
    #[error("attribute flags {flags:#04x} conflict with the attribute type")]
    Flags { flags: u8 },
    /// The length is not one the attribute allows.
    #[error("attribute length {length} is invalid")]
    Length { length: usize },
    /// ORIGIN with a value other than 0, 1, 2.
    #[error("invalid ORIGIN value {0}")]
    InvalidOrigin(u8),
    /// NEXT_HOP that cannot be a next hop (0.0.0.0, multicast, class E).
    #[error("invalid NEXT_HOP {0}")]
    InvalidNextHop(Ipv4Addr),
    /// An AS_PATH / AS4_PATH segment of unknown type.
    #[error("AS path segment type {0} is unknown")]
    AsPathSegmentType(u8),
    /// An AS path segment runs past the attribute.
    #[error("AS path segment runs past the attribute")]
    AsPathOverrun,
    /// A single octet is left after the last AS path segment.
    #[error("AS path ends with a lone octet")]
    AsPathUnderrun,
    /// An AS path segment of length zero.
    #[error("AS path segment of length zero")]
    AsPathEmptySegment,
    /// AS number 0 in a path or aggregator (RFC 7607).
    #[error("AS number 0")]
    AsZero,
    /// AS_CONFED_SEQUENCE / AS_CONFED_SET in AS4_PATH (RFC 6793 §6): those
    /// segments are removed, the rest of the AS4_PATH is kept.
    #[error("confederation segment in AS4_PATH")]
    ConfedSegmentInAs4Path,
    /// AS4_PATH / AS4_AGGREGATOR from a speaker that negotiated 4-octet AS
    /// numbers: RFC 6793 §6 says to discard them.
    #[error("AS4 attribute from a 4-octet AS speaker")]
    As4FromNewSpeaker,
    /// MP_REACH_NLRI / MP_UNREACH_NLRI shorter than its fixed fields.
    #[error("multiprotocol attribute truncated")]
    MpTruncated,
    /// MP_REACH_NLRI next hop length not valid for the family (RFC 7606 §7.11).
    #[error("next hop length {length} invalid for {family}")]
    MpNextHopLength { family: AfiSafi, length: u8 },
    /// The NLRI inside MP_REACH_NLRI / MP_UNREACH_NLRI do not parse (RFC 7606 §5.3).
    #[error("invalid NLRI for {family}")]
    MpNlri { family: AfiSafi },
    /// Prefix-SID TLVs do not fill the attribute, or a Label-Index /
    /// Originator SRGB TLV has the wrong size (RFC 8669 §6).
    #[error("Prefix-SID TLVs do not add up to the attribute length")]
    PrefixSidTlv,
    /// An SRv6 L3/L2 Service TLV of the Prefix-SID is malformed: the
    /// UPDATE is treated as withdraw (RFC 9252 §7), where other Prefix-SID
    /// faults discard the attribute (RFC 8669 §6).
    #[error("Prefix-SID SRv6 Service TLV malformed: {0}")]
    PrefixSidSrv6(Srv6Malformation),
    /// A PMSI Tunnel of a type RFC 6514 does not define.
    #[error("PMSI tunnel type {0} is unknown")]
    PmsiTunnelType(u8),
    /// Tunnel Encapsulation TLVs or sub-TLVs do not fill the attribute
    /// (RFC 9012 §2).
    #[error("Tunnel Encapsulation TLVs do not add up to the attribute length")]
    TunnelEncapTlv,
}

impl Fault {
    /// The UPDATE Message Error subcode RFC 4271 / RFC 4760 name for this
    /// fault in the attribute `type_code` (0 for faults outside attributes).
    pub fn subcode(&self, type_code: u8) -> u8 {
        use update_subcode as s;
        match self {
            Self::WithdrawnRoutesLength
            | Self::TotalAttributeLength
            | Self::AttributeOverrun
            | Self::AttributeUnderrun(_)
            | Self::Duplicate => s::MALFORMED_ATTRIBUTE_LIST,
            Self::InvalidNetworkField => s::INVALID_NETWORK_FIELD,
            Self::Missing => s::MISSING_WELL_KNOWN_ATTRIBUTE,
            Self::UnrecognizedWellKnown => s::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
            Self::Flags { .. } => s::ATTRIBUTE_FLAGS_ERROR,
            Self::Length { .. } => s::ATTRIBUTE_LENGTH_ERROR,
            Self::InvalidOrigin(_) => s::INVALID_ORIGIN_ATTRIBUTE,
            Self::InvalidNextHop(_) => s::INVALID_NEXT_HOP_ATTRIBUTE,
            Self::AsPathSegmentType(_)
            | Self::AsPathOverrun
            | Self::AsPathUnderrun
            | Self::AsPathEmptySegment
            | Self::AsZero
                if type_code == attr_type::AS_PATH =>
            {
                s::MALFORMED_AS_PATH
            }
            _ => s::OPTIONAL_ATTRIBUTE_ERROR,
        }
    }
}

/// One problem found in an UPDATE, with the action taken for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeIssue {
    /// The attribute type code, or 0 for faults outside any attribute
    /// (lengths of the message's own fields).
    pub type_code: u8,
    pub fault: Fault,
    pub action: Action,
}

impl AttributeIssue {
    /// The subcode the NOTIFICATION would carry under RFC 4271 rules; useful
    /// in logs even when RFC 7606 avoids sending it.
    pub fn subcode(&self) -> u8 {
        self.fault.subcode(self.type_code)
    }
}

impl fmt::Display for AttributeIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (attribute {}): {}",
            self.action,
            attr_type::name(self.type_code),
            self.fault
        )
    }
}

/// An UPDATE error that resets the session: the NOTIFICATION to send.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("UPDATE error in attribute {}: {fault}", attr_type::name(*type_code))]
pub struct UpdateError {
    /// The attribute type code, or 0 for faults outside any attribute.
    pub type_code: u8,
    pub fault: Fault,
    /// The NOTIFICATION data: the offending attribute (flags, type, length,
    /// value) where RFC 4271 §6.3 asks for it, else empty.
    pub data: Vec<u8>,
}

impl UpdateError {
    pub fn notification(&self) -> NotificationMessage {
        NotificationMessage::new(
            code::UPDATE_MESSAGE_ERROR,
            self.fault.subcode(self.type_code),
            self.data.clone(),
        )
    }
}

/// The RFC 7606 verdict on a received UPDATE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum UpdateOutcome {
    /// Nothing wrong: process the UPDATE.
    #[default]
    Accept,
    /// Some attributes were malformed and have been left out of
    /// `attributes`; process the UPDATE without them (and log the issues).
    AttributeDiscard(Vec<AttributeIssue>),
    /// Every route the UPDATE announces (NLRI and MP_REACH_NLRI, which did
    /// parse) must be handled as withdrawn; the issues list every problem
    /// found, attribute discards included.
    TreatAsWithdraw(Vec<AttributeIssue>),
    /// Send this NOTIFICATION and close the session; the UPDATE's content
    /// is what parsed before the error and must not be used.
    SessionReset(UpdateError),
}

impl UpdateOutcome {
    /// The action this outcome stands for (`None` for Accept).
    pub fn action(&self) -> Option<Action> {
        match self {
            Self::Accept => None,
            Self::AttributeDiscard(_) => Some(Action::AttributeDiscard),
            Self::TreatAsWithdraw(_) => Some(Action::TreatAsWithdraw),
            Self::SessionReset(_) => Some(Action::SessionReset),
        }
    }

    /// The issues found (empty for Accept and SessionReset).
    pub fn issues(&self) -> &[AttributeIssue] {
        match self {
            Self::AttributeDiscard(v) | Self::TreatAsWithdraw(v) => v,
            Self::Accept | Self::SessionReset(_) => &[],
        }
    }
}

/// Why the SRv6 part of a Prefix-SID attribute is malformed, or its SID
/// structure unusable. A malformed SRv6 Service TLV (its framing: the
/// variants up to [`Srv6Malformation::StructureLength`]) makes the UPDATE
/// treat-as-withdraw (RFC 9252 §7); a structure that is well framed but
/// does not fit ([`Srv6Malformation::StructureTooLong`],
/// [`Srv6Malformation::Transposition`]) makes the SID invalid, and the
/// VPN layer keeps the path as ineligible.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Srv6Malformation {
    /// An SRv6 Service TLV without even its reserved octet.
    #[error("SRv6 Service TLV without its reserved octet")]
    ServiceTooShort,
    /// An SRv6 Service TLV whose length runs past the Prefix-SID attribute.
    #[error("an SRv6 Service TLV runs past the Prefix-SID attribute")]
    ServiceOverrun,
    /// A sub-TLV header or value runs past its SRv6 Service TLV.
    #[error("an SRv6 Service sub-TLV runs past its TLV")]
    SubTlvOverrun,
    /// A SID Information sub-TLV shorter than its 21 fixed octets.
    #[error("SRv6 SID Information sub-TLV of {length} octets, fewer than 21")]
    SidInformationTooShort { length: usize },
    /// A sub-sub-TLV header or value runs past its SID Information sub-TLV.
    #[error("an SRv6 Service Data sub-sub-TLV runs past its sub-TLV")]
    SubSubTlvOverrun,
    /// A SID Structure sub-sub-TLV whose length is not 6.
    #[error("SRv6 SID Structure sub-sub-TLV of {length} octets, not 6")]
    StructureLength { length: usize },
    /// Locator block, node, function and argument add up to more than 128 bits.
    #[error("SRv6 SID structure of {bits} bits, more than 128")]
    StructureTooLong { bits: u16 },
    /// The transposed bits do not fit the SID (offset + length > 128) or
    /// any label field (more than 24 bits).
    #[error("SRv6 transposition of {length} bits at offset {offset} does not fit")]
    Transposition { offset: u8, length: u8 },
}
