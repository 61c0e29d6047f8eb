//! Errors: decoding errors that map one-to-one onto the NOTIFICATION a
//! speaker must send (RFC 4271 §6), and encoding errors for values that do
//! not fit the wire format.
//!
//! Only the types are here, below every module that raises them; the
//! NOTIFICATION each decoding error maps onto (its `notification()`) is
//! written in [`crate::notification`], next to the codes it uses.
//!
//! UPDATE errors are not here: RFC 7606 gives them four outcomes instead of
//! one, see [`crate::UpdateOutcome`] and [`crate::UpdateError`].

use std::net::Ipv4Addr;

use thiserror::Error;

use crate::family::AfiSafi;

/// A Message Header Error (RFC 4271 §6.1); each maps onto one NOTIFICATION.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The marker is not all ones.
    #[error("connection not synchronized: the marker is not all ones")]
    ConnectionNotSynchronized,
    /// The length field is out of range, overall or for the message type.
    #[error("bad message length {length}")]
    BadMessageLength { length: u16 },
    /// The type octet names no message type.
    #[error("bad message type {msg_type}")]
    BadMessageType { msg_type: u8 },
}

/// An OPEN Message Error (RFC 4271 §6.2, RFC 5492, RFC 9072).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum OpenError {
    /// The version is not 4. The NOTIFICATION names version 4, the only one
    /// supported, as RFC 4271 asks.
    #[error("unsupported BGP version {version}")]
    UnsupportedVersion { version: u8 },
    /// The peer's AS is unacceptable: AS 0 (RFC 7607) here, or not the
    /// configured one (found by the session, which builds this variant).
    #[error("bad peer AS {asn}")]
    BadPeerAs { asn: u32 },
    /// The BGP Identifier is 0 (RFC 6286), or clashes with ours (found by the session).
    #[error("bad BGP identifier {id}")]
    BadBgpIdentifier { id: Ipv4Addr },
    /// An optional parameter other than Capabilities (type 2).
    #[error("unsupported optional parameter type {param_type}")]
    UnsupportedOptionalParameter { param_type: u8 },
    /// Hold time 1 or 2 (RFC 4271), or below what the session accepts.
    #[error("unacceptable hold time {hold_time}")]
    UnacceptableHoldTime { hold_time: u16 },
    /// Capabilities the session requires that the peer did not advertise
    /// (RFC 5492): the data lists them as capability TLVs.
    #[error("unsupported capability")]
    UnsupportedCapability { capabilities: Vec<u8> },
    /// The optional parameters do not add up to their length field.
    #[error("malformed optional parameters")]
    MalformedOptionalParameters,
    /// A known capability whose value has the wrong size or shape.
    #[error("malformed capability {code}")]
    MalformedCapability { code: u8 },
}

/// A ROUTE-REFRESH Message Error (RFC 7313 §5).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RouteRefreshError {
    /// The body is not 4 octets; the NOTIFICATION carries the whole message.
    #[error("ROUTE-REFRESH with invalid length {}", message.len())]
    InvalidLength { message: Vec<u8> },
}

/// Why a received message could not be decoded. Each one ends the session
/// with the NOTIFICATION from [`MessageError::notification`].
///
/// UPDATE problems are not errors here: an UPDATE always decodes, and its
/// RFC 7606 outcome (which may be a session reset) says what to do.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MessageError {
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    RouteRefresh(#[from] RouteRefreshError),
}

/// A value that cannot be put on the wire as asked.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The message is longer than the negotiated maximum (4096, or 65535 with
    /// RFC 8654 extended messages, never for OPEN and KEEPALIVE).
    #[error("message of {length} octets exceeds the maximum of {max}")]
    MessageTooLong { length: usize, max: usize },
    /// A length-prefixed field is too long for its length field.
    #[error("{field} of {length} octets exceeds the maximum of {max}")]
    TooLong {
        field: &'static str,
        length: usize,
        max: usize,
    },
    /// A number does not fit its field.
    #[error("{field} value {value} is out of range")]
    ValueOutOfRange { field: &'static str, value: u64 },
    /// An AS number above 65535 where the session uses 2-octet AS numbers
    /// (put AS_TRANS there and the real path in AS4_PATH, RFC 6793).
    #[error("AS {asn} does not fit a 2-octet AS field")]
    AsNumberTooLarge { asn: u32 },
    /// A route of another address family than its container.
    #[error("NLRI of the wrong address family for {family}")]
    NlriFamilyMismatch { family: AfiSafi },
    /// ADD-PATH is negotiated for sending this family but a route has no path identifier.
    #[error("ADD-PATH is negotiated for {family} but a route has no path identifier")]
    MissingPathId { family: AfiSafi },
    /// A route has a path identifier but ADD-PATH is not negotiated for sending it.
    #[error("a route of {family} has a path identifier but ADD-PATH is not negotiated")]
    UnexpectedPathId { family: AfiSafi },
    /// A next hop whose form the family does not allow, or an IPv6 next hop for
    /// IPv4 routes when the peer did not advertise RFC 8950 for the family.
    #[error("next hop not allowed for {family}")]
    NextHopMismatch { family: AfiSafi },
    /// MP_REACH_NLRI / MP_UNREACH_NLRI for a family this crate does not model
    /// must be sent as a raw attribute.
    #[error("address family {family} is not modelled")]
    UnsupportedFamily { family: AfiSafi },
}
