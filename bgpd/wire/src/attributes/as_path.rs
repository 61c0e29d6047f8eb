//! AS_PATH and AS4_PATH (RFC 4271 §4.3, RFC 5065 confederation segments,
//! RFC 6793 for 2-/4-octet AS numbers) with the malformation rules of
//! RFC 7606 §7.2 and RFC 7607 (AS 0).

use std::fmt;

use crate::error::EncodeError;
use crate::reader::Reader;
use crate::revised::Fault;

/// Segment types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsSegmentType {
    /// 1: unordered set of ASes (from aggregation).
    Set,
    /// 2: ordered sequence, nearest AS first.
    Sequence,
    /// 3: confederation member ASes, ordered (RFC 5065).
    ConfedSequence,
    /// 4: confederation member ASes, unordered (RFC 5065).
    ConfedSet,
}

impl AsSegmentType {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Set),
            2 => Some(Self::Sequence),
            3 => Some(Self::ConfedSequence),
            4 => Some(Self::ConfedSet),
            _ => None,
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Self::Set => 1,
            Self::Sequence => 2,
            Self::ConfedSequence => 3,
            Self::ConfedSet => 4,
        }
    }

    pub fn is_confed(self) -> bool {
        matches!(self, Self::ConfedSequence | Self::ConfedSet)
    }
}

/// One path segment.
///
/// ```text
/// +---------------+---------------+-------------------------------+
/// | segment type  | number of ASes|  AS numbers, 2 or 4 octets    |
/// |  (1 octet)    |  (1 octet, >0)|  each (per RFC 6793 state)    |
/// +---------------+---------------+-------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsSegment {
    pub kind: AsSegmentType,
    pub asns: Vec<u32>,
}

/// An AS path: the segments of AS_PATH or AS4_PATH in order. An empty path
/// (no segments) is valid: routes originated inside the AS carry one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path made of one AS_SEQUENCE (or empty when `asns` is).
    pub fn from_sequence(asns: Vec<u32>) -> Self {
        if asns.is_empty() {
            return Self::default();
        }
        Self {
            segments: vec![AsSegment {
                kind: AsSegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2): each
    /// sequence AS counts one, a set counts one in all, confederation
    /// segments do not count (RFC 5065 §5.3).
    pub fn path_length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                AsSegmentType::Sequence => s.asns.len(),
                AsSegmentType::Set => 1,
                AsSegmentType::ConfedSequence | AsSegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// The AS the route was learnt from: the first AS of a leading AS_SEQUENCE.
    pub fn first_as(&self) -> Option<u32> {
        let first = self.segments.first()?;
        match first.kind {
            AsSegmentType::Sequence => first.asns.first().copied(),
            _ => None,
        }
    }

    /// The AS that originated the route: the last AS of a trailing AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        let last = self.segments.last()?;
        match last.kind {
            AsSegmentType::Sequence => last.asns.last().copied(),
            _ => None,
        }
    }

    /// Whether `asn` appears anywhere in the path (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// Decodes an AS path. Errors are RFC 7606 §7.2 malformations and AS 0.
    pub(crate) fn decode(buf: &[u8], four_octet: bool) -> Result<AsPath, Fault> {
        let width = if four_octet { 4 } else { 2 };
        let mut r = Reader::new(buf);
        let mut segments = Vec::new();
        while !r.is_empty() {
            if r.remaining() < 2 {
                return Err(Fault::AsPathUnderrun);
            }
            let kind_octet = r.u8().ok_or(Fault::AsPathUnderrun)?;
            let count = r.u8().ok_or(Fault::AsPathUnderrun)?;
            let kind =
                AsSegmentType::from_u8(kind_octet).ok_or(Fault::AsPathSegmentType(kind_octet))?;
            if count == 0 {
                return Err(Fault::AsPathEmptySegment);
            }
            let body = r
                .take(usize::from(count) * width)
                .ok_or(Fault::AsPathOverrun)?;
            let mut br = Reader::new(body);
            let mut asns = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                let asn = if four_octet {
                    br.u32()
                } else {
                    br.u16().map(u32::from)
                }
                .ok_or(Fault::AsPathOverrun)?;
                if asn == 0 {
                    return Err(Fault::AsZero);
                }
                asns.push(asn);
            }
            segments.push(AsSegment { kind, asns });
        }
        Ok(AsPath { segments })
    }

    /// Appends the encoded path. An AS above 65535 with `four_octet` false,
    /// or a segment of more than 255 ASes, is an error (split long sequences
    /// before encoding).
    pub(crate) fn encode(&self, four_octet: bool, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for seg in &self.segments {
            let count = u8::try_from(seg.asns.len()).map_err(|_| EncodeError::TooLong {
                field: "AS path segment",
                length: seg.asns.len(),
                max: 255,
            })?;
            out.push(seg.kind.as_u8());
            out.push(count);
            for &asn in &seg.asns {
                if four_octet {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let asn16 =
                        u16::try_from(asn).map_err(|_| EncodeError::AsNumberTooLarge { asn })?;
                    out.extend_from_slice(&asn16.to_be_bytes());
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for AsPath {
    /// FRR's notation: `65001 65002 {65003,65004} (65010 65011) [65012]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let (open, sep, close) = match seg.kind {
                AsSegmentType::Sequence => ("", " ", ""),
                AsSegmentType::Set => ("{", ",", "}"),
                AsSegmentType::ConfedSequence => ("(", " ", ")"),
                AsSegmentType::ConfedSet => ("[", ",", "]"),
            };
            f.write_str(open)?;
            for (j, asn) in seg.asns.iter().enumerate() {
                if j > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{asn}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AsPath {
        AsPath {
            segments: vec![
                AsSegment {
                    kind: AsSegmentType::ConfedSequence,
                    asns: vec![65010, 65011],
                },
                AsSegment {
                    kind: AsSegmentType::Sequence,
                    asns: vec![65001, 65002],
                },
                AsSegment {
                    kind: AsSegmentType::Set,
                    asns: vec![65003, 65004],
                },
                AsSegment {
                    kind: AsSegmentType::ConfedSet,
                    asns: vec![65012],
                },
            ],
        }
    }

    #[test]
    fn round_trip_both_widths() {
        let p = sample();
        let mut two = Vec::new();
        p.encode(false, &mut two).expect("encodes");
        assert_eq!(&two[..6], &[3, 2, 0xfd, 0xf2, 0xfd, 0xf3]);
        assert_eq!(AsPath::decode(&two, false), Ok(p.clone()));
        let mut four = Vec::new();
        p.encode(true, &mut four).expect("encodes");
        assert_eq!(four.len(), 4 * 2 + 7 * 4);
        assert_eq!(AsPath::decode(&four, true), Ok(p.clone()));
        assert_eq!(
            p.to_string(),
            "(65010 65011) 65001 65002 {65003,65004} [65012]"
        );
        assert_eq!(p.path_length(), 3);
        assert_eq!(AsPath::decode(&[], true), Ok(AsPath::default()));
    }

    #[test]
    fn sequence_is_type_2_and_set_is_type_1() {
        // The bug zettabgp 0.6.0 has: check the octets themselves.
        let mut buf = Vec::new();
        AsPath::from_sequence(vec![65001])
            .encode(true, &mut buf)
            .expect("encodes");
        assert_eq!(buf, [2, 1, 0, 0, 0xfd, 0xe9]);
    }

    #[test]
    fn malformations() {
        assert_eq!(AsPath::decode(&[2], false), Err(Fault::AsPathUnderrun));
        assert_eq!(
            AsPath::decode(&[2, 1, 0, 1, 2], false),
            Err(Fault::AsPathUnderrun)
        );
        assert_eq!(
            AsPath::decode(&[2, 2, 0, 1], false),
            Err(Fault::AsPathOverrun)
        );
        assert_eq!(
            AsPath::decode(&[2, 0], false),
            Err(Fault::AsPathEmptySegment)
        );
        assert_eq!(
            AsPath::decode(&[5, 1, 0, 1], false),
            Err(Fault::AsPathSegmentType(5))
        );
        assert_eq!(AsPath::decode(&[2, 1, 0, 0], false), Err(Fault::AsZero));
    }

    #[test]
    fn encode_limits() {
        let mut buf = Vec::new();
        assert_eq!(
            AsPath::from_sequence(vec![70000]).encode(false, &mut buf),
            Err(EncodeError::AsNumberTooLarge { asn: 70000 })
        );
        assert!(
            AsPath::from_sequence(vec![1; 256])
                .encode(true, &mut buf)
                .is_err()
        );
    }
}
