//! The 19-octet message header (RFC 4271 §4.1), its checks (RFC 4271 §6.1,
//! RFC 8654 for extended messages), and framing: finding one whole message at
//! the front of a TCP byte stream.
//!
//! The header's fixed facts (marker, lengths, message types) are in
//! [`crate::layout`], its error type in [`crate::error`]; checking a header
//! needs the negotiated [`Codec`], so this sits above the codec context.

use crate::codec::Codec;
use crate::error::HeaderError;
use crate::layout::{HEADER_LEN, MARKER, MessageType};
use crate::reader::Reader;

/// Smallest OPEN: header + version, AS, hold time, identifier, parameters length.
pub(crate) const MIN_OPEN_LEN: usize = 29;
/// Smallest UPDATE: header + the two 2-octet length fields.
pub(crate) const MIN_UPDATE_LEN: usize = 23;
/// Smallest NOTIFICATION: header + code + subcode.
pub(crate) const MIN_NOTIFICATION_LEN: usize = 21;

/// A checked message header.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------------------------------------------------------+
/// |                                                               |
/// |            marker: 16 octets, every bit set to one            |
/// |                                                               |
/// |                                                               |
/// +-------------------------------+---------------+---------------+
/// | length (whole message, incl.  |     type      |
/// |  this header), 19..4096*      |               |
/// +-------------------------------+---------------+
///   * up to 65535 for all but OPEN and KEEPALIVE once RFC 8654 is negotiated
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Length of the whole message, header included.
    pub length: u16,
    pub msg_type: MessageType,
}

impl Header {
    /// Reads and checks the header at the front of `buf`, which must hold at
    /// least [`HEADER_LEN`] octets (shorter input reads as a bad length).
    pub fn decode(buf: &[u8], ctx: &Codec) -> Result<Header, HeaderError> {
        if buf.iter().take(MARKER.len()).any(|&b| b != 0xff) {
            return Err(HeaderError::ConnectionNotSynchronized);
        }
        let mut r = Reader::new(buf);
        let short = HeaderError::BadMessageLength {
            length: u16::try_from(buf.len()).unwrap_or(u16::MAX),
        };
        r.array::<16>().ok_or(short.clone())?;
        let length = r.u16().ok_or(short)?;
        let type_octet = r.u8().ok_or(HeaderError::BadMessageLength { length })?;
        let msg_type = MessageType::from_u8(type_octet).ok_or(HeaderError::BadMessageType {
            msg_type: type_octet,
        })?;
        let len = usize::from(length);
        let min = match msg_type {
            MessageType::Open => MIN_OPEN_LEN,
            MessageType::Update => MIN_UPDATE_LEN,
            MessageType::Notification => MIN_NOTIFICATION_LEN,
            MessageType::Keepalive | MessageType::RouteRefresh => HEADER_LEN,
        };
        let max = match msg_type {
            MessageType::Keepalive => HEADER_LEN,
            other => ctx.max_message_len(other),
        };
        if len < min || len > max {
            return Err(HeaderError::BadMessageLength { length });
        }
        Ok(Header { length, msg_type })
    }

    /// Writes a header for a message of `length` octets in total.
    pub(crate) fn encode(msg_type: MessageType, length: u16, out: &mut Vec<u8>) {
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&length.to_be_bytes());
        out.push(msg_type.as_u8());
    }
}

impl Codec {
    /// Finds the first whole message in a received byte stream.
    ///
    /// Returns `Ok(Some(n))` when the first `n` octets of `buf` are one whole
    /// message with a valid header (hand them to [`crate::Message::decode`]),
    /// `Ok(None)` when more bytes are needed, and an error as soon as the bytes
    /// seen so far cannot start a valid message (a wrong marker octet is
    /// reported before the rest of the header has arrived).
    pub fn frame(&self, buf: &[u8]) -> Result<Option<usize>, HeaderError> {
        let seen = buf.len().min(MARKER.len());
        if buf.iter().take(seen).any(|&b| b != 0xff) {
            return Err(HeaderError::ConnectionNotSynchronized);
        }
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = Header::decode(buf, self)?;
        let len = usize::from(header.length);
        Ok((buf.len() >= len).then_some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(length: u16, msg_type: u8) -> Vec<u8> {
        let mut v = MARKER.to_vec();
        v.extend_from_slice(&length.to_be_bytes());
        v.push(msg_type);
        v
    }

    #[test]
    fn frames_a_keepalive_and_waits_for_more() {
        let ctx = Codec::default();
        let mut stream = header(19, 4);
        stream.extend_from_slice(&header(23, 2)[..10]);
        assert_eq!(ctx.frame(&stream), Ok(Some(19)));
        assert_eq!(ctx.frame(&stream[19..]), Ok(None));
        assert_eq!(ctx.frame(&[]), Ok(None));
    }

    #[test]
    fn rejects_bad_marker_early() {
        let ctx = Codec::default();
        assert_eq!(
            ctx.frame(&[0xff, 0xff, 0xfe]),
            Err(HeaderError::ConnectionNotSynchronized)
        );
        let n = HeaderError::ConnectionNotSynchronized.notification();
        assert_eq!((n.code, n.subcode, n.data.len()), (1, 1, 0));
    }

    #[test]
    fn length_rules_per_type() {
        let ctx = Codec::default();
        for (len, ty) in [
            (18, 4),
            (20, 4),
            (28, 1),
            (22, 2),
            (20, 3),
            (4097, 2),
            (0, 2),
        ] {
            let err = ctx.frame(&header(len, ty)).unwrap_err();
            assert_eq!(err, HeaderError::BadMessageLength { length: len });
            let n = err.notification();
            assert_eq!((n.code, n.subcode), (1, 2));
            assert_eq!(n.data, len.to_be_bytes());
        }
        assert_eq!(ctx.frame(&header(4096, 2)), Ok(None));
        assert_eq!(
            ctx.frame(&header(19, 9)),
            Err(HeaderError::BadMessageType { msg_type: 9 })
        );
        assert_eq!(
            HeaderError::BadMessageType { msg_type: 9 }
                .notification()
                .data,
            [9]
        );
    }

    #[test]
    fn short_input_is_a_length_error() {
        let ctx = Codec::default();
        assert_eq!(
            Header::decode(&[0xff; 10], &ctx),
            Err(HeaderError::BadMessageLength { length: 10 })
        );
        assert_eq!(
            Header::decode(&header(19, 4)[..18], &ctx),
            Err(HeaderError::BadMessageLength { length: 19 })
        );
        assert_eq!(
            Header::decode(&[0xff, 0], &ctx),
            Err(HeaderError::ConnectionNotSynchronized)
        );
        assert_eq!(
            Header::decode(&header(19, 4), &ctx),
            Ok(Header {
                length: 19,
                msg_type: MessageType::Keepalive
            })
        );
    }

    #[test]
    fn extended_messages_apply_to_update_not_open() {
        let ctx = Codec {
            extended_message: true,
            ..Codec::default()
        };
        assert_eq!(ctx.frame(&header(65535, 2)), Ok(None));
        assert_eq!(ctx.frame(&header(5000, 3)), Ok(None));
        assert!(ctx.frame(&header(5000, 1)).is_err());
        assert!(ctx.frame(&header(20, 4)).is_err());
    }
}
