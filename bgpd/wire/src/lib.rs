//! BGP-4 wire codec: messages, capabilities, path attributes, RFC 7606 errors.
//!
//! Sans-IO: the session feeds received bytes to [`Codec::frame`] to find a
//! whole message, decodes it with [`Message::decode`], and encodes what it
//! sends with [`Message::encode`]. The [`Codec`] carries what the OPEN
//! exchange negotiated (4-octet AS, ADD-PATH, extended messages, RFC 8950
//! next hops); build it with [`Codec::negotiate`].
//!
//! Errors map one-to-one onto NOTIFICATIONs: every decoding error has a
//! `notification()` giving the code, subcode and data to send. UPDATEs never
//! fail to decode: [`UpdateMessage::outcome`] carries the RFC 7606 verdict
//! (accept, attribute-discard, treat-as-withdraw or session-reset).
//!
//! The BGP Prefix-SID attribute is kept as its octets ([`PrefixSid`]) and
//! has a typed view of its SRv6 services (RFC 9252): [`PrefixSid::decode_tlvs`],
//! [`PrefixSid::srv6_l3_service`], and [`Srv6SidStructure`] for the
//! transposition of SID bits into the label of a VPN route.
//!
//! The decoders never panic, whatever the input: all reads are bounds-checked
//! (`Reader`), and the property and fuzz tests check it.

pub mod attr_type;
mod attributes;
mod capabilities;
mod codec;
mod error;
mod family;
mod header;
mod layout;
mod message;
mod nlri;
mod notification;
mod open;
mod reader;
mod revised;
mod route_refresh;
mod update;

pub use attributes::{
    Aggregator, AsPath, AsSegment, AsSegmentType, AttrFlags, Attribute, Community,
    ExtendedCommunity, LargeCommunity, MpReachNlri, MpUnreachNlri, NextHop, Origin, PathAttribute,
    PrefixSid, PrefixSidTlv, SRV6_SID_INFORMATION, SRV6_SID_STRUCTURE, Srv6Malformation,
    Srv6Service, Srv6ServiceSubTlv, Srv6SidInformation, Srv6SidStructure, Srv6SubSubTlv,
    VPN_LABEL_BITS, prefix_sid_tlv, srv6_behavior,
};
pub use capabilities::{
    AS_TRANS, AddPathEntry, AddPathMode, Capability, ExtendedNextHopEntry, Fqdn, GracefulRestart,
    GracefulRestartFamily, capability_code,
};
pub use codec::Codec;
pub use error::{EncodeError, HeaderError, MessageError, OpenError, RouteRefreshError};
pub use family::{Afi, AfiSafi, Family, Safi, afi_safi, family_of};
pub use header::Header;
pub use layout::{HEADER_LEN, MARKER, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, MessageType};
pub use message::Message;
pub use nlri::{Label, Nlri, NlriPrefix, RouteDistinguisher};
pub use notification::{
    MAX_SHUTDOWN_COMMUNICATION, NotificationMessage, cease_subcode, code, code_name, fsm_subcode,
    header_subcode, open_subcode, route_refresh_subcode, subcode_name, update_subcode,
};
pub use open::{BGP_VERSION, OpenMessage, OptionalParameter};
pub use revised::{Action, AttributeIssue, Fault, UpdateError, UpdateOutcome};
pub use route_refresh::{RouteRefreshMessage, RouteRefreshSubtype};
pub use update::UpdateMessage;
