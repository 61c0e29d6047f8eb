//! The fixed layout of a BGP message (RFC 4271 §4.1): the marker, the
//! header length, the size limits (RFC 8654 for extended messages) and the
//! message types the header's type octet names.
//!
//! Bottom of the crate: it imports nothing from it, so the codec context,
//! the header checks and NOTIFICATION decoding can all share these facts.

use std::fmt;

/// The marker: sixteen octets of all ones.
pub const MARKER: [u8; 16] = [0xff; 16];
/// Length of the header, and so of the smallest message (a KEEPALIVE).
pub const HEADER_LEN: usize = 19;
/// Largest message without RFC 8654 extended messages.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message once extended messages are negotiated (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// Message type (the header's last octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Open = 1,
    Update = 2,
    Notification = 3,
    Keepalive = 4,
    /// RFC 2918.
    RouteRefresh = 5,
}

impl MessageType {
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Open),
            2 => Some(Self::Update),
            3 => Some(Self::Notification),
            4 => Some(Self::Keepalive),
            5 => Some(Self::RouteRefresh),
            _ => None,
        }
    }

    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "OPEN",
            Self::Update => "UPDATE",
            Self::Notification => "NOTIFICATION",
            Self::Keepalive => "KEEPALIVE",
            Self::RouteRefresh => "ROUTE-REFRESH",
        })
    }
}
