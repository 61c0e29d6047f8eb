//! ROUTE-REFRESH message (RFC 2918) with the Enhanced Route Refresh subtypes
//! BoRR and EoRR (RFC 7313).

use crate::error::RouteRefreshError;
use crate::family::{Afi, AfiSafi, Safi};
use crate::reader::Reader;

/// ROUTE-REFRESH message body.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-------------------------------+---------------+---------------+
/// |              AFI              |   subtype     |     SAFI      |
/// +-------------------------------+---------------+---------------+
///   subtype (RFC 7313; "reserved" in RFC 2918): 0 refresh request,
///   1 beginning of route refresh, 2 end of route refresh
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteRefreshMessage {
    pub family: AfiSafi,
    pub subtype: RouteRefreshSubtype,
}

/// The subtype octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteRefreshSubtype {
    /// 0: please re-advertise the Adj-RIB-Out of this family.
    Request,
    /// 1: BoRR, the re-advertisement starts (RFC 7313).
    BeginningOfRouteRefresh,
    /// 2: EoRR, the re-advertisement is complete (RFC 7313).
    EndOfRouteRefresh,
    /// 3..=255: RFC 7313 says to ignore the message; kept to round-trip.
    Reserved(u8),
}

impl RouteRefreshSubtype {
    pub fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Request,
            1 => Self::BeginningOfRouteRefresh,
            2 => Self::EndOfRouteRefresh,
            other => Self::Reserved(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Self::Request => 0,
            Self::BeginningOfRouteRefresh => 1,
            Self::EndOfRouteRefresh => 2,
            Self::Reserved(v) => v,
        }
    }
}

impl RouteRefreshMessage {
    /// A plain refresh request for `family`.
    pub fn request(family: AfiSafi) -> Self {
        Self {
            family,
            subtype: RouteRefreshSubtype::Request,
        }
    }

    /// Decodes a body. `message` is the whole message, header included,
    /// which RFC 7313 puts in the NOTIFICATION when the length is wrong.
    pub(crate) fn decode(body: &[u8], message: &[u8]) -> Result<Self, RouteRefreshError> {
        let invalid = || RouteRefreshError::InvalidLength {
            message: message.to_vec(),
        };
        if body.len() != 4 {
            return Err(invalid());
        }
        let mut r = Reader::new(body);
        let afi = r.u16().ok_or_else(invalid)?;
        let subtype = r.u8().ok_or_else(invalid)?;
        let safi = r.u8().ok_or_else(invalid)?;
        Ok(Self {
            family: AfiSafi::new(Afi(afi), Safi(safi)),
            subtype: RouteRefreshSubtype::from_u8(subtype),
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.family.afi.0.to_be_bytes());
        out.push(self.subtype.as_u8());
        out.push(self.family.safi.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_subtypes() {
        for sub in [0u8, 1, 2, 7] {
            let m = RouteRefreshMessage {
                family: AfiSafi::IPV6_UNICAST,
                subtype: RouteRefreshSubtype::from_u8(sub),
            };
            let mut body = Vec::new();
            m.encode(&mut body);
            assert_eq!(body, [0, 2, sub, 1]);
            assert_eq!(RouteRefreshMessage::decode(&body, &body), Ok(m));
        }
    }

    #[test]
    fn wrong_length_is_an_error_with_the_message() {
        let err = RouteRefreshMessage::decode(&[0, 1, 0], b"whole").unwrap_err();
        assert_eq!(
            err,
            RouteRefreshError::InvalidLength {
                message: b"whole".to_vec()
            }
        );
    }
}
