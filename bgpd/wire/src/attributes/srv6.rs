//! The SRv6 services of the BGP Prefix-SID attribute (RFC 9252 §2-§3): the
//! SRv6 L3 and L2 Service TLVs, their SID Information sub-TLVs and SID
//! Structure sub-sub-TLVs, typed; every other TLV, sub-TLV and sub-sub-TLV
//! is kept as received so that it is passed on unchanged (RFC 9252 §3). Also
//! the transposition of SID bits into the label field of a VPN route
//! (RFC 9252 §4), the way FRR does it.
//!
//! Decoding is strict about framing (a length that does not add up is a
//! [`Srv6Malformation`], which costs the whole Prefix-SID attribute, see
//! [`crate::update`]); encoding writes back exactly what was decoded, the
//! reserved octets included.

use std::net::Ipv6Addr;

use crate::error::EncodeError;
use crate::nlri::Label;
use crate::reader::Reader;
pub use crate::revised::Srv6Malformation;

/// Prefix-SID TLV types (IANA "BGP Prefix-SID TLV Types").
pub mod prefix_sid_tlv {
    /// Label-Index (RFC 8669 §3.1).
    pub const LABEL_INDEX: u8 = 1;
    /// Originator SRGB (RFC 8669 §3.2).
    pub const ORIGINATOR_SRGB: u8 = 3;
    /// SRv6 L3 Service (RFC 9252 §2).
    pub const SRV6_L3_SERVICE: u8 = 5;
    /// SRv6 L2 Service (RFC 9252 §2).
    pub const SRV6_L2_SERVICE: u8 = 6;
}

/// SRv6 Service sub-TLV type of the SID Information (RFC 9252 §3.1).
pub const SRV6_SID_INFORMATION: u8 = 1;
/// SRv6 Service Data sub-sub-TLV type of the SID Structure (RFC 9252 §3.2.1).
pub const SRV6_SID_STRUCTURE: u8 = 1;

/// SRv6 Endpoint Behavior code points (RFC 8986 §10.2, IANA "SRv6 Endpoint
/// Behaviors").
pub mod srv6_behavior {
    pub const END: u16 = 1;
    pub const END_X: u16 = 5;
    pub const END_T: u16 = 9;
    /// Decapsulation and IPv6 cross-connect.
    pub const END_DX6: u16 = 16;
    /// Decapsulation and IPv4 cross-connect.
    pub const END_DX4: u16 = 17;
    /// Decapsulation and IPv6 table lookup.
    pub const END_DT6: u16 = 18;
    /// Decapsulation and IPv4 table lookup.
    pub const END_DT4: u16 = 19;
    /// Decapsulation and IPv4 or IPv6 table lookup.
    pub const END_DT46: u16 = 20;
    /// Decapsulation and L2 cross-connect.
    pub const END_DX2: u16 = 21;
    pub const END_DX2V: u16 = 22;
    pub const END_DT2U: u16 = 23;
    pub const END_DT2M: u16 = 24;
    /// The opaque behavior a router may advertise to hide the real one (RFC 9252 §3.1).
    pub const OPAQUE: u16 = 0xffff;

    /// The RFC 8986 name of a code point ("End.DT4"), if it is one of the above.
    pub fn name(code: u16) -> Option<&'static str> {
        Some(match code {
            END => "End",
            END_X => "End.X",
            END_T => "End.T",
            END_DX6 => "End.DX6",
            END_DX4 => "End.DX4",
            END_DT6 => "End.DT6",
            END_DT4 => "End.DT4",
            END_DT46 => "End.DT46",
            END_DX2 => "End.DX2",
            END_DX2V => "End.DX2V",
            END_DT2U => "End.DT2U",
            END_DT2M => "End.DT2M",
            OPAQUE => "Opaque",
            _ => return None,
        })
    }
}

/// SRv6 SID Structure sub-sub-TLV (RFC 9252 §3.2.1): how the SID splits
/// into locator block, locator node, function and argument, and which of
/// its bits travel in the label field of the NLRI instead (transposition).
///
/// ```text
/// +--------+----------------+---------------+
/// | type 1 | length 6 (2)   | block length  |
/// +--------+-------+--------+-------+-------+
/// | node length    | function len  | argument len  | transposition len |
/// +----------------+---------------+---------------+-------------------+
/// | transposition offset |
/// +----------------------+
/// ```
/// All lengths and the offset are in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Srv6SidStructure {
    pub locator_block_len: u8,
    pub locator_node_len: u8,
    pub function_len: u8,
    pub argument_len: u8,
    pub transposition_len: u8,
    pub transposition_offset: u8,
}

/// Bits of the 20-bit label value of a VPN route (RFC 4364), the most an
/// SRv6 L3VPN route can transpose.
pub const VPN_LABEL_BITS: u8 = 20;
/// Bits of the widest label field a transposition may use (the 24-bit
/// field of EVPN, RFC 7432; RFC 9252 §4).
const MAX_TRANSPOSITION_BITS: u8 = 24;

impl Srv6SidStructure {
    /// A structure whose function bits (right after the locator) are
    /// transposed into the label, as FRR advertises its SIDs.
    pub fn with_transposed_function(block: u8, node: u8, function: u8, argument: u8) -> Self {
        Self {
            locator_block_len: block,
            locator_node_len: node,
            function_len: function,
            argument_len: argument,
            transposition_len: function,
            transposition_offset: block.saturating_add(node),
        }
    }

    /// Checks the RFC 9252 §3.2.1 constraints that make the structure
    /// usable: at most 128 bits, the transposed bits within the SID and no
    /// wider than a label field. A received structure that fails makes its
    /// SID invalid (RFC 9252 §7), not the attribute malformed.
    pub fn validate(&self) -> Result<(), Srv6Malformation> {
        let bits = u16::from(self.locator_block_len)
            + u16::from(self.locator_node_len)
            + u16::from(self.function_len)
            + u16::from(self.argument_len);
        if bits > 128 {
            return Err(Srv6Malformation::StructureTooLong { bits });
        }
        let end = u16::from(self.transposition_offset) + u16::from(self.transposition_len);
        if self.transposition_len > MAX_TRANSPOSITION_BITS || end > 128 {
            return Err(Srv6Malformation::Transposition {
                offset: self.transposition_offset,
                length: self.transposition_len,
            });
        }
        Ok(())
    }

    /// Whether some SID bits travel in the label field.
    pub fn transposes(&self) -> bool {
        self.transposition_len > 0
    }

    /// Transposition for a VPN route (RFC 9252 §4 and §5): the label
    /// to put in the NLRI, whose 20-bit value carries the transposed bits
    /// of `sid` in its most significant bits, and the SID to advertise in
    /// the Prefix-SID with those bits cleared. Without transposition the
    /// label is the caller's `fallback` and the SID is unchanged.
    pub fn transpose_for_vpn(
        &self,
        sid: Ipv6Addr,
        fallback: Label,
    ) -> Result<(Label, Ipv6Addr), Srv6Malformation> {
        let (offset, len) = self.vpn_window()?;
        if len == 0 {
            return Ok((fallback, sid));
        }
        let bits = u128::from(sid);
        let shift = 128 - u32::from(offset) - u32::from(len);
        let mask = (1u128 << len) - 1;
        // At most 20 bits: fits a label value.
        let value = u32::try_from((bits >> shift) & mask).unwrap_or(0) << (VPN_LABEL_BITS - len);
        let cleared = bits & !(mask << shift);
        let label = Label::new(value).ok_or(Srv6Malformation::Transposition {
            offset: self.transposition_offset,
            length: self.transposition_len,
        })?;
        Ok((label, Ipv6Addr::from(cleared)))
    }

    /// The reverse of [`Self::transpose_for_vpn`]: the full SID from the
    /// SID in a received Prefix-SID and the label of the VPN route.
    /// Without transposition the SID is the one advertised.
    pub fn sid_from_vpn_label(
        &self,
        advertised: Ipv6Addr,
        label: Label,
    ) -> Result<Ipv6Addr, Srv6Malformation> {
        let (offset, len) = self.vpn_window()?;
        if len == 0 {
            return Ok(advertised);
        }
        let shift = 128 - u32::from(offset) - u32::from(len);
        let mask = (1u128 << len) - 1;
        let transposed = u128::from(label.value() >> (VPN_LABEL_BITS - len)) & mask;
        let bits = (u128::from(advertised) & !(mask << shift)) | (transposed << shift);
        Ok(Ipv6Addr::from(bits))
    }

    /// The transposed bits, checked against the SID and the 20-bit label value.
    fn vpn_window(&self) -> Result<(u8, u8), Srv6Malformation> {
        self.validate()?;
        if self.transposition_len > VPN_LABEL_BITS {
            return Err(Srv6Malformation::Transposition {
                offset: self.transposition_offset,
                length: self.transposition_len,
            });
        }
        Ok((self.transposition_offset, self.transposition_len))
    }

    fn decode(value: &[u8]) -> Result<Self, Srv6Malformation> {
        let [b, n, f, a, tl, to] =
            <[u8; 6]>::try_from(value).map_err(|_| Srv6Malformation::StructureLength {
                length: value.len(),
            })?;
        let s = Self {
            locator_block_len: b,
            locator_node_len: n,
            function_len: f,
            argument_len: a,
            transposition_len: tl,
            transposition_offset: to,
        };
        // Well framed is all the wire asks; whether the structure is
        // usable is [`Self::validate`]'s answer where the SID is used.
        Ok(s)
    }

    fn encode_value(&self) -> [u8; 6] {
        [
            self.locator_block_len,
            self.locator_node_len,
            self.function_len,
            self.argument_len,
            self.transposition_len,
            self.transposition_offset,
        ]
    }
}

/// An SRv6 Service Data sub-sub-TLV (RFC 9252 §3.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Srv6SubSubTlv {
    /// Type 1.
    Structure(Srv6SidStructure),
    /// Any other type, as received.
    Unknown { code: u8, value: Vec<u8> },
}

/// SRv6 SID Information sub-TLV (RFC 9252 §3.1).
///
/// ```text
/// +--------+--------------+-------------+
/// | type 1 | length (2)   | reserved1   |
/// +--------+--------------+-------------+
/// | SRv6 SID (16 octets)                |
/// +-----------+-----------------------+-----------+
/// | flags (1) | endpoint behavior (2) | reserved2 |
/// +-----------+-----------------------+-----------+
/// | SRv6 Service Data sub-sub-TLVs ...            |
/// +-----------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Srv6SidInformation {
    /// Zero when sent, ignored (and kept) when received.
    pub reserved1: u8,
    pub sid: Ipv6Addr,
    /// None defined; kept as received.
    pub flags: u8,
    /// An RFC 8986 code point ([`srv6_behavior`]).
    pub behavior: u16,
    pub reserved2: u8,
    pub sub_sub_tlvs: Vec<Srv6SubSubTlv>,
}

/// The fixed octets of a SID Information sub-TLV value.
const SID_INFORMATION_FIXED: usize = 1 + 16 + 1 + 2 + 1;

impl Srv6SidInformation {
    /// A SID with its behavior and, when given, its structure.
    pub fn new(sid: Ipv6Addr, behavior: u16, structure: Option<Srv6SidStructure>) -> Self {
        Self {
            reserved1: 0,
            sid,
            flags: 0,
            behavior,
            reserved2: 0,
            sub_sub_tlvs: structure
                .map(Srv6SubSubTlv::Structure)
                .into_iter()
                .collect(),
        }
    }

    /// The first SID Structure sub-sub-TLV.
    pub fn structure(&self) -> Option<&Srv6SidStructure> {
        self.sub_sub_tlvs.iter().find_map(|t| match t {
            Srv6SubSubTlv::Structure(s) => Some(s),
            Srv6SubSubTlv::Unknown { .. } => None,
        })
    }

    fn decode(value: &[u8]) -> Result<Self, Srv6Malformation> {
        let short = || Srv6Malformation::SidInformationTooShort {
            length: value.len(),
        };
        let mut r = Reader::new(value);
        let reserved1 = r.u8().ok_or_else(short)?;
        let sid = r.ipv6().ok_or_else(short)?;
        let flags = r.u8().ok_or_else(short)?;
        let behavior = r.u16().ok_or_else(short)?;
        let reserved2 = r.u8().ok_or_else(short)?;
        let mut sub_sub_tlvs = Vec::new();
        while !r.is_empty() {
            let (code, v) = tlv(&mut r).ok_or(Srv6Malformation::SubSubTlvOverrun)?;
            sub_sub_tlvs.push(match code {
                SRV6_SID_STRUCTURE => Srv6SubSubTlv::Structure(Srv6SidStructure::decode(v)?),
                _ => Srv6SubSubTlv::Unknown {
                    code,
                    value: v.to_vec(),
                },
            });
        }
        Ok(Self {
            reserved1,
            sid,
            flags,
            behavior,
            reserved2,
            sub_sub_tlvs,
        })
    }

    fn encode_value(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.reserved1);
        out.extend_from_slice(&self.sid.octets());
        out.push(self.flags);
        out.extend_from_slice(&self.behavior.to_be_bytes());
        out.push(self.reserved2);
        for t in &self.sub_sub_tlvs {
            match t {
                Srv6SubSubTlv::Structure(s) => put_tlv(SRV6_SID_STRUCTURE, &s.encode_value(), out)?,
                Srv6SubSubTlv::Unknown { code, value } => put_tlv(*code, value, out)?,
            }
        }
        Ok(())
    }
}

/// An SRv6 Service sub-TLV (RFC 9252 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Srv6ServiceSubTlv {
    /// Type 1.
    SidInformation(Srv6SidInformation),
    /// Any other type, as received.
    Unknown { code: u8, value: Vec<u8> },
}

/// The value of an SRv6 L3 or L2 Service TLV (RFC 9252 §2).
///
/// ```text
/// +-----------+-------------+--------------+
/// | type 5/6  | length (2)  | reserved (1) |
/// +-----------+-------------+--------------+
/// | SRv6 Service sub-TLVs ...              |
/// +----------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Srv6Service {
    pub reserved: u8,
    pub sub_tlvs: Vec<Srv6ServiceSubTlv>,
}

impl Srv6Service {
    /// A service with one SID.
    pub fn with_sid(info: Srv6SidInformation) -> Self {
        Self {
            reserved: 0,
            sub_tlvs: vec![Srv6ServiceSubTlv::SidInformation(info)],
        }
    }

    /// The first SID Information sub-TLV, the one an ingress PE uses
    /// (RFC 9252); later ones are kept and passed on.
    pub fn first_sid(&self) -> Option<&Srv6SidInformation> {
        self.sub_tlvs.iter().find_map(|t| match t {
            Srv6ServiceSubTlv::SidInformation(i) => Some(i),
            Srv6ServiceSubTlv::Unknown { .. } => None,
        })
    }

    pub(crate) fn decode(value: &[u8]) -> Result<Self, Srv6Malformation> {
        let mut r = Reader::new(value);
        let reserved = r.u8().ok_or(Srv6Malformation::ServiceTooShort)?;
        let mut sub_tlvs = Vec::new();
        while !r.is_empty() {
            let (code, v) = tlv(&mut r).ok_or(Srv6Malformation::SubTlvOverrun)?;
            sub_tlvs.push(match code {
                SRV6_SID_INFORMATION => {
                    Srv6ServiceSubTlv::SidInformation(Srv6SidInformation::decode(v)?)
                }
                _ => Srv6ServiceSubTlv::Unknown {
                    code,
                    value: v.to_vec(),
                },
            });
        }
        Ok(Self { reserved, sub_tlvs })
    }

    fn encode_value(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.reserved);
        for t in &self.sub_tlvs {
            match t {
                Srv6ServiceSubTlv::SidInformation(i) => {
                    let mut v = Vec::with_capacity(SID_INFORMATION_FIXED + 9);
                    i.encode_value(&mut v)?;
                    put_tlv(SRV6_SID_INFORMATION, &v, out)?;
                }
                Srv6ServiceSubTlv::Unknown { code, value } => put_tlv(*code, value, out)?,
            }
        }
        Ok(())
    }
}

/// One TLV of the Prefix-SID attribute, typed where Tern uses it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PrefixSidTlv {
    /// Type 5.
    Srv6L3Service(Srv6Service),
    /// Type 6.
    Srv6L2Service(Srv6Service),
    /// Any other type (Label-Index and Originator SRGB included), as received.
    Other { code: u8, value: Vec<u8> },
}

impl PrefixSidTlv {
    pub fn code(&self) -> u8 {
        match self {
            Self::Srv6L3Service(_) => prefix_sid_tlv::SRV6_L3_SERVICE,
            Self::Srv6L2Service(_) => prefix_sid_tlv::SRV6_L2_SERVICE,
            Self::Other { code, .. } => *code,
        }
    }
}

/// Decodes the TLVs of a Prefix-SID value; `None` when the TLV framing is
/// broken (checked on receipt by [`super::checked::prefix_sid`]).
pub(crate) fn decode_tlvs(value: &[u8]) -> Result<Option<Vec<PrefixSidTlv>>, Srv6Malformation> {
    let mut r = Reader::new(value);
    let mut out = Vec::new();
    while !r.is_empty() {
        let Some((code, v)) = tlv(&mut r) else {
            return Ok(None);
        };
        out.push(match code {
            prefix_sid_tlv::SRV6_L3_SERVICE => PrefixSidTlv::Srv6L3Service(Srv6Service::decode(v)?),
            prefix_sid_tlv::SRV6_L2_SERVICE => PrefixSidTlv::Srv6L2Service(Srv6Service::decode(v)?),
            _ => PrefixSidTlv::Other {
                code,
                value: v.to_vec(),
            },
        });
    }
    Ok(Some(out))
}

/// Appends the TLVs as a Prefix-SID value.
pub(crate) fn encode_tlvs(tlvs: &[PrefixSidTlv], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    for t in tlvs {
        match t {
            PrefixSidTlv::Srv6L3Service(s) | PrefixSidTlv::Srv6L2Service(s) => {
                let mut v = Vec::new();
                s.encode_value(&mut v)?;
                put_tlv(t.code(), &v, out)?;
            }
            PrefixSidTlv::Other { code, value } => put_tlv(*code, value, out)?,
        }
    }
    Ok(())
}

/// Reads one type (1 octet), length (2 octets), value.
fn tlv<'a>(r: &mut Reader<'a>) -> Option<(u8, &'a [u8])> {
    let code = r.u8()?;
    let len = r.u16()?;
    Some((code, r.take(usize::from(len))?))
}

fn put_tlv(code: u8, value: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = u16::try_from(value.len()).map_err(|_| EncodeError::TooLong {
        field: "Prefix-SID TLV",
        length: value.len(),
        max: usize::from(u16::MAX),
    })?;
    out.push(code);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().expect("address")
    }

    /// RFC 9252 L3 Service TLV with one End.DT4 SID and structure 40/24/16/0,
    /// function transposed (16 bits at offset 64), built octet by octet.
    fn l3_dt4_bytes() -> Vec<u8> {
        let mut v = vec![5, 0, 34, 0]; // TLV 5, length 34, reserved
        v.extend_from_slice(&[1, 0, 30, 0]); // sub-TLV 1, length 30, reserved1
        v.extend_from_slice(&addr("2001:db8:1:1::").octets());
        v.extend_from_slice(&[0, 0, 19, 0]); // flags, End.DT4, reserved2
        v.extend_from_slice(&[1, 0, 6, 40, 24, 16, 0, 16, 64]);
        v
    }

    #[test]
    fn l3_service_decodes_and_encodes_back() {
        let bytes = l3_dt4_bytes();
        let tlvs = decode_tlvs(&bytes).expect("well formed").expect("framed");
        let structure = Srv6SidStructure::with_transposed_function(40, 24, 16, 0);
        let expected = vec![PrefixSidTlv::Srv6L3Service(Srv6Service::with_sid(
            Srv6SidInformation::new(
                addr("2001:db8:1:1::"),
                srv6_behavior::END_DT4,
                Some(structure),
            ),
        ))];
        assert_eq!(tlvs, expected);
        let mut out = Vec::new();
        encode_tlvs(&tlvs, &mut out).expect("encodes");
        assert_eq!(out, bytes);
    }

    #[test]
    fn unknown_parts_and_reserved_octets_are_kept() {
        let mut v = vec![6, 0, 0, 0x77]; // L2 service, reserved 0x77; length patched below
        v.extend_from_slice(&[9, 0, 2, 0xaa, 0xbb]); // unknown sub-TLV 9
        let mut info = vec![1, 0, 0, 0x11];
        info.extend_from_slice(&addr("fc00::1").octets());
        info.extend_from_slice(&[0x80, 0xff, 0xff, 0x22]); // flags, opaque, reserved2
        info.extend_from_slice(&[7, 0, 1, 0xcc]); // unknown sub-sub-TLV 7
        info.extend_from_slice(&[1, 0, 6, 32, 16, 16, 16, 0, 0]);
        let info_len = u16::try_from(info.len() - 3).expect("fits").to_be_bytes();
        info[1..3].copy_from_slice(&info_len);
        v.extend_from_slice(&info);
        let tlv_len = u16::try_from(v.len() - 3).expect("fits").to_be_bytes();
        v[1..3].copy_from_slice(&tlv_len);
        // A Label-Index TLV after it.
        v.extend_from_slice(&[1, 0, 7, 0, 0, 0, 0, 0, 0, 100]);
        let tlvs = decode_tlvs(&v).expect("well formed").expect("framed");
        let PrefixSidTlv::Srv6L2Service(s) = &tlvs[0] else {
            panic!("not an L2 service: {tlvs:?}");
        };
        assert_eq!(s.reserved, 0x77);
        assert_eq!(
            s.sub_tlvs[0],
            Srv6ServiceSubTlv::Unknown {
                code: 9,
                value: vec![0xaa, 0xbb]
            }
        );
        let info = s.first_sid().expect("SID");
        assert_eq!(
            (info.reserved1, info.flags, info.behavior, info.reserved2),
            (0x11, 0x80, srv6_behavior::OPAQUE, 0x22)
        );
        assert_eq!(info.structure().map(|s| s.argument_len), Some(16));
        assert_eq!(tlvs[1].code(), prefix_sid_tlv::LABEL_INDEX);
        let mut out = Vec::new();
        encode_tlvs(&tlvs, &mut out).expect("encodes");
        assert_eq!(out, v);
    }

    #[test]
    fn malformations() {
        use Srv6Malformation as M;
        let base = l3_dt4_bytes();
        // Service TLV with no reserved octet.
        assert_eq!(decode_tlvs(&[5, 0, 0]), Err(M::ServiceTooShort));
        // Sub-TLV length 31 overruns the TLV (34 = 1 + 3 + 30).
        let mut b = base.clone();
        b[6] = 31;
        assert_eq!(decode_tlvs(&b), Err(M::SubTlvOverrun));
        // SID Information of 20 octets.
        let mut short = vec![5, 0, 24, 0, 1, 0, 20];
        short.extend_from_slice(&[0; 20]);
        assert_eq!(
            decode_tlvs(&short),
            Err(M::SidInformationTooShort { length: 20 })
        );
        // Sub-sub-TLV length 7 overruns the sub-TLV.
        let mut b = base.clone();
        b[30] = 7;
        assert_eq!(decode_tlvs(&b), Err(M::SubSubTlvOverrun));
        // Structure of 5 octets (all lengths shrunk consistently).
        let mut b = base.clone();
        b.pop();
        b[2] = 33;
        b[6] = 29;
        b[30] = 5;
        assert_eq!(decode_tlvs(&b), Err(M::StructureLength { length: 5 }));
        // Well framed structures that do not fit decode (the SID is then
        // invalid, RFC 9252 §7) and fail `validate`: lengths over 128 bits,
        // transposition past the SID, and wider than any label.
        let structure_of = |b: &[u8]| -> Option<Srv6SidStructure> {
            let tlvs = decode_tlvs(b).ok()??;
            tlvs.iter().find_map(|t| match t {
                PrefixSidTlv::Srv6L3Service(s) => s.first_sid()?.structure().copied(),
                _ => None,
            })
        };
        for (at, value, fault) in [
            (31, 100, M::StructureTooLong { bits: 140 }),
            (
                36,
                120,
                M::Transposition {
                    offset: 120,
                    length: 16,
                },
            ),
            (
                35,
                25,
                M::Transposition {
                    offset: 64,
                    length: 25,
                },
            ),
        ] {
            let mut b = base.clone();
            b[at] = value;
            let s = structure_of(&b).expect("decodes");
            assert_eq!(s.validate(), Err(fault));
        }
        // Broken outer framing is the caller's fault, not an SRv6 one.
        assert_eq!(decode_tlvs(&[5, 0, 9, 0]), Ok(None));
    }

    #[test]
    fn transposition_round_trip_matches_frr_layout() {
        // FRR: function 16 bits at offset 64, carried in the top 16 bits of
        // the 20-bit label value.
        let s = Srv6SidStructure::with_transposed_function(40, 24, 16, 0);
        let sid = addr("2001:db8:1:1:1234::");
        let (label, cleared) = s
            .transpose_for_vpn(sid, Label::new(3).expect("label"))
            .expect("fits");
        assert_eq!(label.value(), 0x1234 << 4);
        assert!(label.bottom_of_stack());
        assert_eq!(cleared, addr("2001:db8:1:1::"));
        assert_eq!(s.sid_from_vpn_label(cleared, label), Ok(sid));
        // Odd offsets and lengths, across an octet boundary.
        let odd = Srv6SidStructure {
            locator_block_len: 44,
            locator_node_len: 9,
            function_len: 13,
            argument_len: 0,
            transposition_len: 13,
            transposition_offset: 53,
        };
        let sid = Ipv6Addr::from(u128::MAX);
        let (label, cleared) = odd.transpose_for_vpn(sid, Label::WITHDRAWN).expect("fits");
        assert_eq!(label.value(), 0x1fff << 7);
        assert_eq!(u128::from(cleared).count_zeros(), 13);
        assert_eq!(u128::from(cleared) >> 62 & 0x1fff, 0);
        assert_eq!(odd.sid_from_vpn_label(cleared, label), Ok(sid));
        // No transposition: label and SID pass through.
        let none = Srv6SidStructure {
            transposition_len: 0,
            transposition_offset: 0,
            ..s
        };
        let l3 = Label::new(3).expect("label");
        assert_eq!(none.transpose_for_vpn(sid, l3), Ok((l3, sid)));
        assert_eq!(none.sid_from_vpn_label(cleared, l3), Ok(cleared));
        // 21 to 24 bits fit EVPN's label field but not a VPN label value.
        let wide = Srv6SidStructure {
            transposition_len: 24,
            ..s
        };
        assert_eq!(wide.validate(), Ok(()));
        assert_eq!(
            wide.transpose_for_vpn(sid, l3),
            Err(Srv6Malformation::Transposition {
                offset: 64,
                length: 24
            })
        );
    }
}
