//! NOTIFICATION message (RFC 4271 §4.5), the registry of error codes and
//! subcodes (RFC 4271 §6, RFC 4486, RFC 5492, RFC 6608, RFC 7313, RFC 8538,
//! RFC 9234, RFC 9384, RFC 9687), and the names FRR prints for them, so that a
//! log line reads the same as FRR's ("OPEN Message Error/Bad Peer AS").
//!
//! The data field is kept whole, however long it is.
//!
//! Also here: the NOTIFICATION each message decoding error of
//! [`crate::error`] maps onto (RFC 4271 §6.1, §6.2, RFC 7313 §5), written
//! next to the codes it uses. UPDATE errors map in [`crate::revised`].

use std::fmt;

use crate::error::{HeaderError, MessageError, OpenError, RouteRefreshError};
use crate::layout::HEADER_LEN;
use crate::reader::Reader;

/// Error codes (first octet of a NOTIFICATION).
pub mod code {
    pub const MESSAGE_HEADER_ERROR: u8 = 1;
    pub const OPEN_MESSAGE_ERROR: u8 = 2;
    pub const UPDATE_MESSAGE_ERROR: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// "Finite State Machine Error" in RFC 4271; FRR calls it "Neighbor Events Error".
    pub const FSM_ERROR: u8 = 5;
    pub const CEASE: u8 = 6;
    /// RFC 7313.
    pub const ROUTE_REFRESH_MESSAGE_ERROR: u8 = 7;
    /// RFC 9687.
    pub const SEND_HOLD_TIMER_EXPIRED: u8 = 8;
}

/// Subcodes of Message Header Error.
pub mod header_subcode {
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// Subcodes of OPEN Message Error.
pub mod open_subcode {
    pub const UNSPECIFIC: u8 = 0;
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    pub const BAD_PEER_AS: u8 = 2;
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// RFC 5492.
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    /// RFC 9234.
    pub const ROLE_MISMATCH: u8 = 11;
}

/// Subcodes of UPDATE Message Error.
pub mod update_subcode {
    pub const UNSPECIFIC: u8 = 0;
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Subcodes of Finite State Machine Error (RFC 6608).
pub mod fsm_subcode {
    pub const UNSPECIFIC: u8 = 0;
    pub const UNEXPECTED_MESSAGE_IN_OPENSENT: u8 = 1;
    pub const UNEXPECTED_MESSAGE_IN_OPENCONFIRM: u8 = 2;
    pub const UNEXPECTED_MESSAGE_IN_ESTABLISHED: u8 = 3;
}

/// Subcodes of Cease (RFC 4486, RFC 8538, RFC 9384).
pub mod cease_subcode {
    pub const UNSPECIFIC: u8 = 0;
    pub const MAXIMUM_PREFIXES_REACHED: u8 = 1;
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    pub const PEER_DECONFIGURED: u8 = 3;
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    pub const CONNECTION_REJECTED: u8 = 5;
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    pub const OUT_OF_RESOURCES: u8 = 8;
    pub const HARD_RESET: u8 = 9;
    pub const BFD_DOWN: u8 = 10;
}

/// Subcodes of ROUTE-REFRESH Message Error (RFC 7313).
pub mod route_refresh_subcode {
    pub const UNSPECIFIC: u8 = 0;
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// The name FRR prints for an error code.
pub fn code_name(code: u8) -> &'static str {
    match code {
        code::MESSAGE_HEADER_ERROR => "Message Header Error",
        code::OPEN_MESSAGE_ERROR => "OPEN Message Error",
        code::UPDATE_MESSAGE_ERROR => "UPDATE Message Error",
        code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
        code::FSM_ERROR => "Neighbor Events Error",
        code::CEASE => "Cease",
        code::ROUTE_REFRESH_MESSAGE_ERROR => "ROUTE-REFRESH Message Error",
        code::SEND_HOLD_TIMER_EXPIRED => "Send Hold Timer Expired",
        _ => "Unrecognized Error Code",
    }
}

/// The name FRR prints for a subcode; empty where the code has no subcodes.
pub fn subcode_name(code: u8, subcode: u8) -> &'static str {
    const UNRECOGNIZED: &str = "Unrecognized Error Subcode";
    match code {
        code::MESSAGE_HEADER_ERROR => match subcode {
            header_subcode::CONNECTION_NOT_SYNCHRONIZED => "Connection Not Synchronized",
            header_subcode::BAD_MESSAGE_LENGTH => "Bad Message Length",
            header_subcode::BAD_MESSAGE_TYPE => "Bad Message Type",
            _ => UNRECOGNIZED,
        },
        code::OPEN_MESSAGE_ERROR => match subcode {
            open_subcode::UNSPECIFIC => "Unspecific",
            open_subcode::UNSUPPORTED_VERSION_NUMBER => "Unsupported Version Number",
            open_subcode::BAD_PEER_AS => "Bad Peer AS",
            open_subcode::BAD_BGP_IDENTIFIER => "Bad BGP Identifier",
            open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER => "Unsupported Optional Parameter",
            open_subcode::UNACCEPTABLE_HOLD_TIME => "Unacceptable Hold Time",
            open_subcode::UNSUPPORTED_CAPABILITY => "Unsupported Capability",
            open_subcode::ROLE_MISMATCH => "Role Mismatch",
            _ => UNRECOGNIZED,
        },
        code::UPDATE_MESSAGE_ERROR => match subcode {
            update_subcode::UNSPECIFIC => "Unspecific",
            update_subcode::MALFORMED_ATTRIBUTE_LIST => "Malformed Attribute List",
            update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE => {
                "Unrecognized Well-known Attribute"
            }
            update_subcode::MISSING_WELL_KNOWN_ATTRIBUTE => "Missing Well-known Attribute",
            update_subcode::ATTRIBUTE_FLAGS_ERROR => "Attribute Flags Error",
            update_subcode::ATTRIBUTE_LENGTH_ERROR => "Attribute Length Error",
            update_subcode::INVALID_ORIGIN_ATTRIBUTE => "Invalid ORIGIN Attribute",
            update_subcode::INVALID_NEXT_HOP_ATTRIBUTE => "Invalid NEXT_HOP Attribute",
            update_subcode::OPTIONAL_ATTRIBUTE_ERROR => "Optional Attribute Error",
            update_subcode::INVALID_NETWORK_FIELD => "Invalid Network Field",
            update_subcode::MALFORMED_AS_PATH => "Malformed AS_PATH",
            _ => UNRECOGNIZED,
        },
        code::FSM_ERROR => match subcode {
            fsm_subcode::UNSPECIFIC => "Unspecific",
            fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENSENT => {
                "Receive Unexpected Message in OpenSent State"
            }
            fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENCONFIRM => {
                "Receive Unexpected Message in OpenConfirm State"
            }
            fsm_subcode::UNEXPECTED_MESSAGE_IN_ESTABLISHED => {
                "Receive Unexpected Message in Established State"
            }
            _ => UNRECOGNIZED,
        },
        code::CEASE => match subcode {
            cease_subcode::UNSPECIFIC => "Unspecific",
            cease_subcode::MAXIMUM_PREFIXES_REACHED => "Maximum Number of Prefixes Reached",
            cease_subcode::ADMINISTRATIVE_SHUTDOWN => "Administrative Shutdown",
            cease_subcode::PEER_DECONFIGURED => "Peer De-configured",
            cease_subcode::ADMINISTRATIVE_RESET => "Administrative Reset",
            cease_subcode::CONNECTION_REJECTED => "Connection Rejected",
            cease_subcode::OTHER_CONFIGURATION_CHANGE => "Other Configuration Change",
            cease_subcode::CONNECTION_COLLISION_RESOLUTION => "Connection Collision Resolution",
            cease_subcode::OUT_OF_RESOURCES => "Out of Resources",
            cease_subcode::HARD_RESET => "Hard Reset",
            cease_subcode::BFD_DOWN => "BFD Down",
            _ => UNRECOGNIZED,
        },
        code::ROUTE_REFRESH_MESSAGE_ERROR => match subcode {
            route_refresh_subcode::UNSPECIFIC => "Unspecific",
            route_refresh_subcode::INVALID_MESSAGE_LENGTH => "Invalid Message Length",
            _ => UNRECOGNIZED,
        },
        _ => "",
    }
}

/// NOTIFICATION message body.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------+---------------+-------------------------------+
/// |  error code   | error subcode |  data (all octets up to the   |
/// +---------------+---------------+   end of the message) ...     |
/// +---------------------------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationMessage {
    pub code: u8,
    pub subcode: u8,
    /// The diagnostic data, whole (it is not length-prefixed: it runs to the
    /// end of the message).
    pub data: Vec<u8>,
}

/// Longest RFC 9003 shutdown communication, in octets.
pub const MAX_SHUTDOWN_COMMUNICATION: usize = 255;

impl NotificationMessage {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        Self {
            code,
            subcode,
            data,
        }
    }

    /// Hold Timer Expired (sent when the hold timer runs out).
    pub fn hold_timer_expired() -> Self {
        Self::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new())
    }

    /// Cease with the given subcode and no data.
    pub fn cease(subcode: u8) -> Self {
        Self::new(code::CEASE, subcode, Vec::new())
    }

    /// Cease / Administrative Shutdown or Reset with an RFC 9003 shutdown
    /// communication. Text beyond 255 octets is cut at a character boundary.
    pub fn with_shutdown_communication(subcode: u8, text: &str) -> Self {
        let mut end = text.len().min(MAX_SHUTDOWN_COMMUNICATION);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let bytes = text.as_bytes().get(..end).unwrap_or_default();
        let mut data = Vec::with_capacity(bytes.len() + 1);
        // `end` is at most 255, so the length fits the one-octet field.
        data.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
        data.extend_from_slice(bytes);
        Self::new(code::CEASE, subcode, data)
    }

    /// The RFC 9003 shutdown communication carried by a Cease / Administrative
    /// Shutdown or Administrative Reset, if the data is one (UTF-8, length-prefixed).
    pub fn shutdown_communication(&self) -> Option<&str> {
        if self.code != code::CEASE
            || !matches!(
                self.subcode,
                cease_subcode::ADMINISTRATIVE_SHUTDOWN | cease_subcode::ADMINISTRATIVE_RESET
            )
        {
            return None;
        }
        let mut r = Reader::new(&self.data);
        let len = r.u8()?;
        if len == 0 {
            return None;
        }
        let text = r.take(usize::from(len))?;
        std::str::from_utf8(text).ok()
    }

    /// Name of the code, as FRR prints it.
    pub fn code_name(&self) -> &'static str {
        code_name(self.code)
    }

    /// Name of the subcode, as FRR prints it (empty for codes without subcodes).
    pub fn subcode_name(&self) -> &'static str {
        subcode_name(self.code, self.subcode)
    }

    /// Decodes a NOTIFICATION body (the bytes after the 19-octet header).
    /// A body shorter than code + subcode is a header Bad Message Length.
    pub fn decode(body: &[u8]) -> Result<Self, HeaderError> {
        let mut r = Reader::new(body);
        let (Some(code), Some(subcode)) = (r.u8(), r.u8()) else {
            let length = u16::try_from(body.len() + HEADER_LEN).unwrap_or(u16::MAX);
            return Err(HeaderError::BadMessageLength { length });
        };
        Ok(Self::new(code, subcode, r.rest().to_vec()))
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push(self.subcode);
        out.extend_from_slice(&self.data);
    }
}

impl fmt::Display for NotificationMessage {
    /// "OPEN Message Error/Bad Peer AS", as FRR logs it; codes without
    /// subcodes print alone ("Hold Timer Expired").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sub = self.subcode_name();
        if sub.is_empty() {
            f.write_str(self.code_name())
        } else {
            write!(f, "{}/{}", self.code_name(), sub)
        }
    }
}

// The NOTIFICATION each message decoding error of `crate::error` maps onto.

impl HeaderError {
    /// The NOTIFICATION to send: the data is the offending length field or
    /// type octet, as RFC 4271 §6.1 asks.
    pub fn notification(&self) -> NotificationMessage {
        let (subcode, data) = match *self {
            Self::ConnectionNotSynchronized => {
                (header_subcode::CONNECTION_NOT_SYNCHRONIZED, Vec::new())
            }
            Self::BadMessageLength { length } => (
                header_subcode::BAD_MESSAGE_LENGTH,
                length.to_be_bytes().to_vec(),
            ),
            Self::BadMessageType { msg_type } => (header_subcode::BAD_MESSAGE_TYPE, vec![msg_type]),
        };
        NotificationMessage::new(code::MESSAGE_HEADER_ERROR, subcode, data)
    }
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn display_matches_frr() {
        let n = NotificationMessage::new(2, 2, vec![]);
        assert_eq!(n.to_string(), "OPEN Message Error/Bad Peer AS");
        assert_eq!(
            NotificationMessage::hold_timer_expired().to_string(),
            "Hold Timer Expired"
        );
        assert_eq!(
            NotificationMessage::new(1, 9, vec![]).to_string(),
            "Message Header Error/Unrecognized Error Subcode"
        );
        assert_eq!(
            NotificationMessage::new(42, 1, vec![]).to_string(),
            "Unrecognized Error Code"
        );
        assert_eq!(
            NotificationMessage::new(5, 2, vec![]).to_string(),
            "Neighbor Events Error/Receive Unexpected Message in OpenConfirm State"
        );
        assert_eq!(
            NotificationMessage::cease(cease_subcode::HARD_RESET).to_string(),
            "Cease/Hard Reset"
        );
    }

    #[test]
    fn round_trip_keeps_all_data() {
        let data: Vec<u8> = (0..=255).cycle().take(700).collect();
        let n = NotificationMessage::new(3, 9, data);
        let mut body = Vec::new();
        n.encode_body(&mut body);
        assert_eq!(NotificationMessage::decode(&body), Ok(n));
        assert_eq!(
            NotificationMessage::decode(&[6]),
            Err(HeaderError::BadMessageLength { length: 20 })
        );
    }

    #[test]
    fn shutdown_communication() {
        let n = NotificationMessage::with_shutdown_communication(
            cease_subcode::ADMINISTRATIVE_SHUTDOWN,
            "maintenance until 18:00",
        );
        assert_eq!(n.shutdown_communication(), Some("maintenance until 18:00"));
        assert_eq!(n.data.first(), Some(&23));
        // Cut at a character boundary, never beyond 255 octets.
        let long = "é".repeat(200);
        let n = NotificationMessage::with_shutdown_communication(4, &long);
        assert_eq!(n.data.len(), 255);
        assert_eq!(n.shutdown_communication().map(str::len), Some(254));
        // Length beyond the data: not a communication.
        let bad = NotificationMessage::new(6, 2, vec![9, b'a']);
        assert_eq!(bad.shutdown_communication(), None);
    }

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
