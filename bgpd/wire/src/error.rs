//! Errors: decoding errors that map one-to-one onto the NOTIFICATION a
//! speaker must send (RFC 4271 §6), and encoding errors for values that do
//! not fit the wire format.
//!
//! UPDATE errors are not here: RFC 7606 gives them four outcomes instead of
//! one, see [`crate::UpdateOutcome`] and [`crate::UpdateError`].

use std::net::Ipv4Addr;

use thiserror::Error;

use crate::family::AfiSafi;
use crate::header::HeaderError;
use crate::notification::{NotificationMessage, code, open_subcode, route_refresh_subcode};

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

impl OpenError {
    /// The NOTIFICATION to send for this error.
    pub fn notification(&self) -> NotificationMessage {
        let (subcode, data) = match self {
            Self::UnsupportedVersion { .. } => (
                open_subcode::UNSUPPORTED_VERSION_NUMBER,
                4u16.to_be_bytes().to_vec(),
            ),
            Self::BadPeerAs { .. } => (open_subcode::BAD_PEER_AS, Vec::new()),
            Self::BadBgpIdentifier { .. } => (open_subcode::BAD_BGP_IDENTIFIER, Vec::new()),
            Self::UnsupportedOptionalParameter { .. } => {
                (open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER, Vec::new())
            }
            Self::UnacceptableHoldTime { .. } => (open_subcode::UNACCEPTABLE_HOLD_TIME, Vec::new()),
            Self::UnsupportedCapability { capabilities } => {
                (open_subcode::UNSUPPORTED_CAPABILITY, capabilities.clone())
            }
            Self::MalformedOptionalParameters | Self::MalformedCapability { .. } => {
                (open_subcode::UNSPECIFIC, Vec::new())
            }
        };
        NotificationMessage::new(code::OPEN_MESSAGE_ERROR, subcode, data)
    }
}

/// A ROUTE-REFRESH Message Error (RFC 7313 §5).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RouteRefreshError {
    /// The body is not 4 octets; the NOTIFICATION carries the whole message.
    #[error("ROUTE-REFRESH with invalid length {}", message.len())]
    InvalidLength { message: Vec<u8> },
}

impl RouteRefreshError {
    pub fn notification(&self) -> NotificationMessage {
        match self {
            Self::InvalidLength { message } => NotificationMessage::new(
                code::ROUTE_REFRESH_MESSAGE_ERROR,
                route_refresh_subcode::INVALID_MESSAGE_LENGTH,
                message.clone(),
            ),
        }
    }
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

impl MessageError {
    /// The NOTIFICATION to send before closing the connection.
    pub fn notification(&self) -> NotificationMessage {
        match self {
            Self::Header(e) => e.notification(),
            Self::Open(e) => e.notification(),
            Self::RouteRefresh(e) => e.notification(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_errors_map_onto_notifications() {
        let cases: Vec<(OpenError, u8, Vec<u8>)> = vec![
            (OpenError::UnsupportedVersion { version: 3 }, 1, vec![0, 4]),
            (OpenError::BadPeerAs { asn: 0 }, 2, vec![]),
            (
                OpenError::BadBgpIdentifier {
                    id: Ipv4Addr::UNSPECIFIED,
                },
                3,
                vec![],
            ),
            (
                OpenError::UnsupportedOptionalParameter { param_type: 1 },
                4,
                vec![],
            ),
            (OpenError::UnacceptableHoldTime { hold_time: 2 }, 6, vec![]),
            (
                OpenError::UnsupportedCapability {
                    capabilities: vec![65, 4, 0, 0, 0xfd, 0xe8],
                },
                7,
                vec![65, 4, 0, 0, 0xfd, 0xe8],
            ),
            (OpenError::MalformedOptionalParameters, 0, vec![]),
            (OpenError::MalformedCapability { code: 65 }, 0, vec![]),
        ];
        for (err, subcode, data) in cases {
            let n = MessageError::from(err).notification();
            assert_eq!((n.code, n.subcode, n.data), (2, subcode, data));
        }
    }

    #[test]
    fn route_refresh_error_carries_the_message() {
        let e = RouteRefreshError::InvalidLength {
            message: vec![0xff; 20],
        };
        let n = e.notification();
        assert_eq!((n.code, n.subcode, n.data.len()), (7, 1, 20));
        assert_eq!(
            n.to_string(),
            "ROUTE-REFRESH Message Error/Invalid Message Length"
        );
    }
}
