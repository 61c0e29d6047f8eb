//! OPEN message (RFC 4271 §4.2) with optional parameters in the classic
//! encoding or the RFC 9072 extended encoding, and the checks RFC 4271 §6.2,
//! RFC 6286 and RFC 7607 ask of every OPEN (the checks that need
//! configuration, such as the expected peer AS, belong to the session).

use std::net::Ipv4Addr;

use crate::capabilities::{AS_TRANS, Capability};
use crate::error::{EncodeError, OpenError};
use crate::reader::Reader;

/// The only BGP version.
pub const BGP_VERSION: u8 = 4;

/// Optional parameter type carrying capabilities (RFC 5492).
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072: this value in the first parameter-type position marks the extended encoding.
const PARAM_EXTENDED_LENGTH: u8 = 255;

/// OPEN message body.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------+
/// |  version = 4  |
/// +---------------+---------------+
/// |  my AS (2 octets; AS_TRANS    |
/// |  when the AS needs 4 octets)  |
/// +-------------------------------+
/// |  hold time (0, or >= 3 s)     |
/// +-------------------------------+-------------------------------+
/// |                  BGP identifier (non-zero)                    |
/// +---------------+-----------------------------------------------+
/// | opt. par. len | optional parameters: type (1), length (1),    |
/// +---------------+ value ...                                     |
///
///   RFC 9072 extended encoding, used when the parameters exceed 255 octets:
/// +---------------+---------------+-------------------------------+
/// | len (nonzero, | type = 255    | extended length (2 octets)    |
/// |  ignored)     |               |                               |
/// +---------------+---------------+-------------------------------+
/// | optional parameters: type (1), length (2), value ...          |
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenMessage {
    /// The 2-octet "My Autonomous System" field; see [`OpenMessage::asn`].
    pub my_as: u16,
    /// Proposed hold time in seconds.
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    /// The optional parameters, in order. Only Capabilities parameters exist
    /// (any other type is refused with Unsupported Optional Parameter).
    pub parameters: Vec<OptionalParameter>,
    /// Encode with the RFC 9072 extended lengths even when the parameters
    /// would fit the classic encoding. Set on decode when the peer used it.
    pub extended_parameters: bool,
}

/// One Capabilities optional parameter (type 2). FRR and GoBGP put one
/// capability in each; RFC 5492 allows several.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OptionalParameter {
    pub capabilities: Vec<Capability>,
}

impl OpenMessage {
    /// An OPEN for `asn`, with each capability in its own parameter (as FRR
    /// and GoBGP send them). An AS above 65535 goes in the header field as
    /// AS_TRANS; the caller includes [`Capability::FourOctetAs`] itself.
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Self {
        Self {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            parameters: capabilities
                .into_iter()
                .map(|c| OptionalParameter {
                    capabilities: vec![c],
                })
                .collect(),
            extended_parameters: false,
        }
    }

    /// All capabilities, across parameters, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.parameters.iter().flat_map(|p| p.capabilities.iter())
    }

    /// The 4-octet AS capability's value, if advertised.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// The sender's AS: the 4-octet AS capability if present (RFC 6793),
    /// else the 2-octet field.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// Whether a capability with this code was advertised.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities().any(|c| c.code() == code)
    }

    /// Decodes and checks an OPEN body (the bytes after the header).
    pub fn decode(body: &[u8]) -> Result<OpenMessage, OpenError> {
        let mut r = Reader::new(body);
        let short = OpenError::MalformedOptionalParameters;
        let version = r.u8().ok_or(short.clone())?;
        if version != BGP_VERSION {
            return Err(OpenError::UnsupportedVersion { version });
        }
        let my_as = r.u16().ok_or(short.clone())?;
        let hold_time = r.u16().ok_or(short.clone())?;
        let bgp_id = r.ipv4().ok_or(short.clone())?;
        let opt_len = r.u8().ok_or(short.clone())?;

        let extended = opt_len != 0 && r.rest().first() == Some(&PARAM_EXTENDED_LENGTH);
        let mut parameters = Vec::new();
        if extended {
            let _marker = r.u8();
            let ext_len = r.u16().ok_or(short.clone())?;
            if r.remaining() != usize::from(ext_len) {
                return Err(short);
            }
            while !r.is_empty() {
                let param_type = r.u8().ok_or(short.clone())?;
                let len = r.u16().ok_or(short.clone())?;
                let value = r.take(usize::from(len)).ok_or(short.clone())?;
                parameters.push(Self::decode_parameter(param_type, value)?);
            }
        } else {
            if r.remaining() != usize::from(opt_len) {
                return Err(short);
            }
            while !r.is_empty() {
                let param_type = r.u8().ok_or(short.clone())?;
                let len = r.u8().ok_or(short.clone())?;
                let value = r.take(usize::from(len)).ok_or(short.clone())?;
                parameters.push(Self::decode_parameter(param_type, value)?);
            }
        }

        let open = OpenMessage {
            my_as,
            hold_time,
            bgp_id,
            parameters,
            extended_parameters: extended,
        };
        // RFC 7607: AS 0 in either AS field is a Bad Peer AS.
        if my_as == 0 || open.four_octet_as() == Some(0) {
            return Err(OpenError::BadPeerAs { asn: 0 });
        }
        // RFC 4271 §6.2: a hold time of one or two seconds MUST be rejected.
        if matches!(hold_time, 1 | 2) {
            return Err(OpenError::UnacceptableHoldTime { hold_time });
        }
        // RFC 6286 §2.2: the identifier is any non-zero 32-bit value.
        if bgp_id.is_unspecified() {
            return Err(OpenError::BadBgpIdentifier { id: bgp_id });
        }
        Ok(open)
    }

    fn decode_parameter(param_type: u8, value: &[u8]) -> Result<OptionalParameter, OpenError> {
        if param_type != PARAM_CAPABILITIES {
            return Err(OpenError::UnsupportedOptionalParameter { param_type });
        }
        Ok(OptionalParameter {
            capabilities: Capability::decode_list(value)?,
        })
    }

    /// Appends the OPEN body.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // Parameters as (type, value) first; then choose the encoding.
        let mut params: Vec<Vec<u8>> = Vec::with_capacity(self.parameters.len());
        for p in &self.parameters {
            let mut value = Vec::new();
            for c in &p.capabilities {
                c.encode(&mut value)?;
            }
            params.push(value);
        }
        let classic_len: usize = params.iter().map(|v| 2 + v.len()).sum();
        let classic_fits =
            classic_len <= usize::from(u8::MAX) && params.iter().all(|v| v.len() <= 255);
        let extended = self.extended_parameters || !classic_fits;

        out.push(BGP_VERSION);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        if extended {
            let ext_len: usize = params.iter().map(|v| 3 + v.len()).sum();
            let ext_len16 = u16::try_from(ext_len).map_err(|_| EncodeError::TooLong {
                field: "optional parameters",
                length: ext_len,
                max: usize::from(u16::MAX),
            })?;
            out.push(PARAM_EXTENDED_LENGTH);
            out.push(PARAM_EXTENDED_LENGTH);
            out.extend_from_slice(&ext_len16.to_be_bytes());
            for v in &params {
                out.push(PARAM_CAPABILITIES);
                // Each value is part of ext_len, which fits 16 bits.
                out.extend_from_slice(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes());
                out.extend_from_slice(v);
            }
        } else {
            // classic_fits: every length below fits one octet.
            out.push(u8::try_from(classic_len).unwrap_or(u8::MAX));
            for v in &params {
                out.push(PARAM_CAPABILITIES);
                out.push(u8::try_from(v.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::Fqdn;
    use crate::family::AfiSafi;

    fn sample() -> OpenMessage {
        OpenMessage::new(
            4_200_000_001,
            90,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![
                Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                Capability::RouteRefresh,
                Capability::FourOctetAs(4_200_000_001),
            ],
        )
    }

    #[test]
    fn round_trip_classic() {
        let open = sample();
        assert_eq!(open.my_as, AS_TRANS);
        assert_eq!(open.asn(), 4_200_000_001);
        let mut body = Vec::new();
        open.encode(&mut body).expect("encodes");
        assert_eq!(
            body,
            [
                4, 0x5b, 0xa0, 0, 90, 192, 0, 2, 1, 20, //
                2, 6, 1, 4, 0, 1, 0, 1, //
                2, 2, 2, 0, //
                2, 6, 65, 4, 0xfa, 0x56, 0xea, 0x01,
            ]
        );
        assert_eq!(OpenMessage::decode(&body), Ok(open));
    }

    #[test]
    fn round_trip_extended_rfc9072() {
        let mut open = sample();
        open.extended_parameters = true;
        let mut body = Vec::new();
        open.encode(&mut body).expect("encodes");
        assert_eq!(&body[9..13], &[255, 255, 0, 23]);
        assert_eq!(&body[13..16], &[2, 0, 6]);
        assert_eq!(OpenMessage::decode(&body), Ok(open));

        // Parameters over 255 octets switch to the extended encoding on their own.
        let big = OpenMessage::new(
            65001,
            180,
            Ipv4Addr::new(192, 0, 2, 2),
            (0..40)
                .map(|i| Capability::Unknown {
                    code: 200,
                    value: vec![i; 6],
                })
                .chain([Capability::Fqdn(Fqdn::new(
                    &"h".repeat(200),
                    &"d".repeat(50),
                ))])
                .collect(),
        );
        let mut body = Vec::new();
        big.encode(&mut body).expect("encodes");
        let back = OpenMessage::decode(&body).expect("decodes");
        assert!(back.extended_parameters);
        assert_eq!(back.parameters, big.parameters);
    }

    #[test]
    fn open_errors() {
        let mut body = Vec::new();
        sample().encode(&mut body).expect("encodes");

        let mut v = body.clone();
        v[0] = 3;
        assert_eq!(
            OpenMessage::decode(&v),
            Err(OpenError::UnsupportedVersion { version: 3 })
        );
        let mut v = body.clone();
        v[1] = 0;
        v[2] = 0;
        assert_eq!(
            OpenMessage::decode(&v),
            Err(OpenError::BadPeerAs { asn: 0 })
        );
        let mut v = body.clone();
        v[3] = 0;
        v[4] = 2;
        assert_eq!(
            OpenMessage::decode(&v),
            Err(OpenError::UnacceptableHoldTime { hold_time: 2 })
        );
        let mut v = body.clone();
        v[5..9].fill(0);
        assert!(matches!(
            OpenMessage::decode(&v),
            Err(OpenError::BadBgpIdentifier { .. })
        ));
        let mut v = body.clone();
        v[10] = 1; // parameter type 1 (deprecated authentication)
        assert_eq!(
            OpenMessage::decode(&v),
            Err(OpenError::UnsupportedOptionalParameter { param_type: 1 })
        );
        let mut v = body.clone();
        v[9] += 1;
        assert_eq!(
            OpenMessage::decode(&v),
            Err(OpenError::MalformedOptionalParameters)
        );
        // Four-octet AS capability of 0 (RFC 7607).
        let mut v = body.clone();
        let n = v.len();
        v[n - 4..].fill(0);
        assert_eq!(
            OpenMessage::decode(&v),
            Err(OpenError::BadPeerAs { asn: 0 })
        );
        // Hold time 0 is fine.
        let mut v = body;
        v[3] = 0;
        v[4] = 0;
        assert!(OpenMessage::decode(&v).is_ok());
    }

    #[test]
    fn truncated_open_is_an_error() {
        for n in 0..10 {
            assert!(OpenMessage::decode(&[4, 0, 1, 0, 90, 1, 1, 1, 1, 0][..n]).is_err());
        }
    }
}
