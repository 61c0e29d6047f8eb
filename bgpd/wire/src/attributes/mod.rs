//! Path attributes (RFC 4271 §4.3 and §5): the attribute header with its
//! flags and extended length, the typed value of each attribute Tern
//! understands, and raw bytes for the rest. Decoding one attribute value
//! returns a [`Fault`] on malformation; which RFC 7606 action that fault
//! costs is decided in [`crate::update`].

mod as_path;
mod checked;
mod communities;
mod mp;
mod srv6;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use as_path::{AsPath, AsSegment, AsSegmentType};
pub use communities::{Community, ExtendedCommunity, LargeCommunity};
pub use mp::{MpReachNlri, MpUnreachNlri, NextHop};
pub use srv6::{
    PrefixSidTlv, SRV6_SID_INFORMATION, SRV6_SID_STRUCTURE, Srv6Malformation, Srv6Service,
    Srv6ServiceSubTlv, Srv6SidInformation, Srv6SidStructure, Srv6SubSubTlv, VPN_LABEL_BITS,
    prefix_sid_tlv, srv6_behavior,
};

use crate::attr_type;
use crate::codec::Codec;
use crate::error::EncodeError;
use crate::reader::Reader;
use crate::revised::Fault;

/// The attribute flags octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttrFlags(pub u8);

impl AttrFlags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;

    pub fn optional(self) -> bool {
        self.0 & Self::OPTIONAL != 0
    }
    pub fn transitive(self) -> bool {
        self.0 & Self::TRANSITIVE != 0
    }
    pub fn partial(self) -> bool {
        self.0 & Self::PARTIAL != 0
    }
    pub fn extended_length(self) -> bool {
        self.0 & Self::EXTENDED_LENGTH != 0
    }
}

/// The Optional and Transitive bits each known attribute must carry.
pub(crate) fn canonical_flags(code: u8) -> Option<u8> {
    use attr_type as t;
    const WELL_KNOWN: u8 = AttrFlags::TRANSITIVE;
    const OPT_TRANS: u8 = AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE;
    const OPT_NON_TRANS: u8 = AttrFlags::OPTIONAL;
    match code {
        t::ORIGIN | t::AS_PATH | t::NEXT_HOP | t::LOCAL_PREF | t::ATOMIC_AGGREGATE => {
            Some(WELL_KNOWN)
        }
        t::MULTI_EXIT_DISC
        | t::ORIGINATOR_ID
        | t::CLUSTER_LIST
        | t::MP_REACH_NLRI
        | t::MP_UNREACH_NLRI => Some(OPT_NON_TRANS),
        t::AGGREGATOR
        | t::COMMUNITIES
        | t::EXTENDED_COMMUNITIES
        | t::AS4_PATH
        | t::AS4_AGGREGATOR
        | t::LARGE_COMMUNITY
        | t::PREFIX_SID
        | t::PMSI_TUNNEL
        | t::TUNNEL_ENCAPSULATION
        | t::IPV6_EXTENDED_COMMUNITIES
        | t::OTC => Some(OPT_TRANS),
        _ => None,
    }
}

/// ORIGIN values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// AGGREGATOR / AS4_AGGREGATOR: the AS and router that aggregated the route.
///
/// ```text
/// +-------------------------------+-------------------------------+
/// | AS (2 octets; 4 with 4-octet  | IPv4 address (4 octets)       |
/// | AS numbers, always 4 in AS4_) |                               |
/// +-------------------------------+-------------------------------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// The BGP Prefix-SID attribute (RFC 8669; SRv6 services, RFC 9252), kept as
/// its TLV bytes. The TLV framing, the size of the RFC 8669 TLVs and the
/// whole SRv6 Service TLVs are checked on receipt; [`PrefixSid::decode_tlvs`]
/// gives the typed view, [`PrefixSid::from_tlvs`] builds one from it.
///
/// ```text
/// +--------+----------------+------------------------+
/// | type   | length (2)     | value (length octets)  |  repeated
/// +--------+----------------+------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PrefixSid {
    pub tlvs: Vec<u8>,
}

impl PrefixSid {
    /// The TLVs as (type, value) pairs; stops at the first broken one.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let mut r = Reader::new(&self.tlvs);
        std::iter::from_fn(move || {
            let t = r.u8()?;
            let len = r.u16()?;
            let v = r.take(usize::from(len))?;
            Some((t, v))
        })
    }

    /// The TLVs, SRv6 L3/L2 Services typed, the others as received.
    /// Fails as a received attribute would: [`Fault::PrefixSidTlv`] for
    /// broken TLV framing, [`Fault::PrefixSidSrv6`] for a malformed SRv6
    /// Service TLV.
    pub fn decode_tlvs(&self) -> Result<Vec<PrefixSidTlv>, Fault> {
        match srv6::decode_tlvs(&self.tlvs) {
            Ok(Some(tlvs)) => Ok(tlvs),
            Ok(None) => Err(Fault::PrefixSidTlv),
            Err(m) => Err(Fault::PrefixSidSrv6(m)),
        }
    }

    /// The attribute made of these TLVs, in this order. Decoding then
    /// re-encoding a received attribute gives back its exact octets.
    pub fn from_tlvs(tlvs: &[PrefixSidTlv]) -> Result<PrefixSid, EncodeError> {
        let mut out = Vec::new();
        srv6::encode_tlvs(tlvs, &mut out)?;
        Ok(PrefixSid { tlvs: out })
    }

    /// The common case of an SRv6 L3VPN route: one SRv6 L3 Service TLV with
    /// one SID, its behavior ([`srv6_behavior`]) and, when given, its
    /// structure.
    pub fn srv6_l3_service(
        sid: Ipv6Addr,
        behavior: u16,
        structure: Option<Srv6SidStructure>,
    ) -> PrefixSid {
        let info = Srv6SidInformation::new(sid, behavior, structure);
        let tlv = PrefixSidTlv::Srv6L3Service(Srv6Service::with_sid(info));
        // 40 octets at most: far from any length limit.
        Self::from_tlvs(&[tlv]).unwrap_or_default()
    }

    /// The first SRv6 L3 Service TLV (any later one stays in the attribute,
    /// unused); `None` when there is none or the attribute does not decode.
    pub fn srv6_l3(&self) -> Option<Srv6Service> {
        self.first_service(prefix_sid_tlv::SRV6_L3_SERVICE)
    }

    /// The first SRv6 L2 Service TLV, as [`Self::srv6_l3`].
    pub fn srv6_l2(&self) -> Option<Srv6Service> {
        self.first_service(prefix_sid_tlv::SRV6_L2_SERVICE)
    }

    fn first_service(&self, code: u8) -> Option<Srv6Service> {
        self.decode_tlvs()
            .ok()?
            .into_iter()
            .find(|t| t.code() == code)
            .and_then(|t| match t {
                PrefixSidTlv::Srv6L3Service(s) | PrefixSidTlv::Srv6L2Service(s) => Some(s),
                PrefixSidTlv::Other { .. } => None,
            })
    }
}

/// The value of a path attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// 1, well-known mandatory.
    Origin(Origin),
    /// 2, well-known mandatory; 2- or 4-octet AS numbers per [`Codec::four_octet_as`].
    AsPath(AsPath),
    /// 3, well-known mandatory when the UPDATE has IPv4 NLRI.
    NextHop(Ipv4Addr),
    /// 4, optional non-transitive.
    MultiExitDisc(u32),
    /// 5, well-known (on iBGP sessions).
    LocalPref(u32),
    /// 6, well-known discretionary, no value.
    AtomicAggregate,
    /// 7, optional transitive.
    Aggregator(Aggregator),
    /// 8, optional transitive (RFC 1997).
    Communities(Vec<Community>),
    /// 9, optional non-transitive (RFC 4456).
    OriginatorId(Ipv4Addr),
    /// 10, optional non-transitive (RFC 4456).
    ClusterList(Vec<Ipv4Addr>),
    /// 14, optional non-transitive (RFC 4760).
    MpReachNlri(MpReachNlri),
    /// 15, optional non-transitive (RFC 4760).
    MpUnreachNlri(MpUnreachNlri),
    /// 16, optional transitive (RFC 4360).
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// 17, optional transitive (RFC 6793), always 4-octet AS numbers.
    As4Path(AsPath),
    /// 18, optional transitive (RFC 6793).
    As4Aggregator(Aggregator),
    /// 32, optional transitive (RFC 8092).
    LargeCommunities(Vec<LargeCommunity>),
    /// 40, optional transitive (RFC 8669).
    PrefixSid(PrefixSid),
    /// Any other type code, and MP_REACH_NLRI / MP_UNREACH_NLRI of families
    /// this crate does not model: the value as received. OTC, PMSI Tunnel,
    /// Tunnel Encapsulation and IPv6 Address Specific Extended Communities
    /// come here too, but only once their format has been checked.
    Raw { type_code: u8, value: Vec<u8> },
}

/// A path attribute: flags and value.
///
/// ```text
/// +---------------+---------------+-------------------------------+
/// | flags         | type code     | length: 1 octet, or 2 when    |
/// | O T P E 0 0 0 0               | the E flag is set             |
/// +---------------+---------------+-------------------------------+
/// | value (length octets) ...                                     |
/// +---------------------------------------------------------------+
///   O optional, T transitive, P partial, E extended length
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathAttribute {
    /// Flags as received. On encode, known attributes always get their
    /// standard Optional/Transitive bits; Partial and Extended Length are
    /// kept (Extended Length is added when the value needs it).
    pub flags: AttrFlags,
    pub value: Attribute,
}

impl PathAttribute {
    /// An attribute with the standard flags of its type (optional transitive
    /// for [`Attribute::Raw`]).
    pub fn new(value: Attribute) -> Self {
        let code = value.type_code();
        let flags = canonical_flags(code).unwrap_or(AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE);
        Self {
            flags: AttrFlags(flags),
            value,
        }
    }

    pub fn with_flags(flags: AttrFlags, value: Attribute) -> Self {
        Self { flags, value }
    }

    pub fn type_code(&self) -> u8 {
        self.value.type_code()
    }

    /// The attribute to pass on when re-advertising the route (RFC 4271
    /// §5 and §9.1.4): an unrecognized optional transitive attribute goes on
    /// with the Partial bit set, an unrecognized optional non-transitive one
    /// is dropped; recognized attributes are returned unchanged (the policy
    /// that rewrites them lives above the codec).
    pub fn propagate(&self) -> Option<PathAttribute> {
        match &self.value {
            Attribute::Raw { .. } if !self.flags.transitive() => None,
            Attribute::Raw { .. } => Some(PathAttribute {
                flags: AttrFlags(self.flags.0 | AttrFlags::PARTIAL),
                value: self.value.clone(),
            }),
            _ => Some(self.clone()),
        }
    }

    /// Appends flags, type, length and value.
    pub(crate) fn encode(&self, ctx: &Codec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let code = self.type_code();
        let mut value = Vec::new();
        self.value.encode_value(ctx, &mut value)?;
        let kept = self.flags.0 & (AttrFlags::PARTIAL | AttrFlags::EXTENDED_LENGTH);
        let mut flags = match canonical_flags(code) {
            Some(ot) => ot | kept,
            None => self.flags.0 & 0xf0,
        };
        if value.len() > usize::from(u8::MAX) {
            flags |= AttrFlags::EXTENDED_LENGTH;
        }
        out.push(flags);
        out.push(code);
        if flags & AttrFlags::EXTENDED_LENGTH != 0 {
            let len = u16::try_from(value.len()).map_err(|_| EncodeError::TooLong {
                field: attr_type::name(code),
                length: value.len(),
                max: usize::from(u16::MAX),
            })?;
            out.extend_from_slice(&len.to_be_bytes());
        } else {
            // At most 255 here.
            out.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
        }
        out.extend_from_slice(&value);
        Ok(())
    }
}

/// Fails unless `value` has exactly `n` octets.
fn exact(value: &[u8], n: usize) -> Result<Reader<'_>, Fault> {
    if value.len() == n {
        Ok(Reader::new(value))
    } else {
        Err(Fault::Length {
            length: value.len(),
        })
    }
}

/// Fails unless `value` is a non-zero multiple of `n` octets.
fn multiple(value: &[u8], n: usize) -> Result<Reader<'_>, Fault> {
    if !value.is_empty() && value.len().is_multiple_of(n) {
        Ok(Reader::new(value))
    } else {
        Err(Fault::Length {
            length: value.len(),
        })
    }
}

fn too_short() -> Fault {
    Fault::Length { length: 0 }
}

fn aggregator(value: &[u8], four_octet: bool) -> Result<Aggregator, Fault> {
    let mut r = exact(value, if four_octet { 8 } else { 6 })?;
    let asn = if four_octet {
        r.u32()
    } else {
        r.u16().map(u32::from)
    }
    .ok_or_else(too_short)?;
    let address = r.ipv4().ok_or_else(too_short)?;
    if asn == 0 {
        return Err(Fault::AsZero);
    }
    Ok(Aggregator { asn, address })
}

impl Attribute {
    pub fn type_code(&self) -> u8 {
        use attr_type as t;
        match self {
            Self::Origin(_) => t::ORIGIN,
            Self::AsPath(_) => t::AS_PATH,
            Self::NextHop(_) => t::NEXT_HOP,
            Self::MultiExitDisc(_) => t::MULTI_EXIT_DISC,
            Self::LocalPref(_) => t::LOCAL_PREF,
            Self::AtomicAggregate => t::ATOMIC_AGGREGATE,
            Self::Aggregator(_) => t::AGGREGATOR,
            Self::Communities(_) => t::COMMUNITIES,
            Self::OriginatorId(_) => t::ORIGINATOR_ID,
            Self::ClusterList(_) => t::CLUSTER_LIST,
            Self::MpReachNlri(_) => t::MP_REACH_NLRI,
            Self::MpUnreachNlri(_) => t::MP_UNREACH_NLRI,
            Self::ExtendedCommunities(_) => t::EXTENDED_COMMUNITIES,
            Self::As4Path(_) => t::AS4_PATH,
            Self::As4Aggregator(_) => t::AS4_AGGREGATOR,
            Self::LargeCommunities(_) => t::LARGE_COMMUNITY,
            Self::PrefixSid(_) => t::PREFIX_SID,
            Self::Raw { type_code, .. } => *type_code,
        }
    }

    /// Decodes the value of attribute `code`, checking the flags first.
    /// Unknown codes with the Optional bit set come back as [`Attribute::Raw`].
    pub(crate) fn decode(
        flags: AttrFlags,
        code: u8,
        value: &[u8],
        ctx: &Codec,
    ) -> Result<Attribute, Fault> {
        use attr_type as t;
        let Some(expected) = canonical_flags(code) else {
            if !flags.optional() {
                return Err(Fault::UnrecognizedWellKnown);
            }
            return Ok(Attribute::Raw {
                type_code: code,
                value: value.to_vec(),
            });
        };
        let ot = AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE;
        if flags.0 & ot != expected {
            return Err(Fault::Flags { flags: flags.0 });
        }
        let attr = match code {
            t::ORIGIN => {
                let v = exact(value, 1)?.u8().ok_or_else(too_short)?;
                Attribute::Origin(match v {
                    0 => Origin::Igp,
                    1 => Origin::Egp,
                    2 => Origin::Incomplete,
                    other => return Err(Fault::InvalidOrigin(other)),
                })
            }
            t::AS_PATH => Attribute::AsPath(AsPath::decode(value, ctx.four_octet_as)?),
            t::NEXT_HOP => Attribute::NextHop(exact(value, 4)?.ipv4().ok_or_else(too_short)?),
            t::MULTI_EXIT_DISC => {
                Attribute::MultiExitDisc(exact(value, 4)?.u32().ok_or_else(too_short)?)
            }
            t::LOCAL_PREF => Attribute::LocalPref(exact(value, 4)?.u32().ok_or_else(too_short)?),
            t::ATOMIC_AGGREGATE => {
                exact(value, 0)?;
                Attribute::AtomicAggregate
            }
            t::AGGREGATOR => Attribute::Aggregator(aggregator(value, ctx.four_octet_as)?),
            t::COMMUNITIES => {
                let mut r = multiple(value, 4)?;
                let mut v = Vec::with_capacity(value.len() / 4);
                while let Some(c) = r.u32() {
                    v.push(Community(c));
                }
                Attribute::Communities(v)
            }
            t::ORIGINATOR_ID => {
                Attribute::OriginatorId(exact(value, 4)?.ipv4().ok_or_else(too_short)?)
            }
            t::CLUSTER_LIST => {
                let mut r = multiple(value, 4)?;
                let mut v = Vec::with_capacity(value.len() / 4);
                while let Some(id) = r.ipv4() {
                    v.push(id);
                }
                Attribute::ClusterList(v)
            }
            t::MP_REACH_NLRI => match MpReachNlri::decode(value, ctx)? {
                Some(mp) => Attribute::MpReachNlri(mp),
                None => Attribute::Raw {
                    type_code: code,
                    value: value.to_vec(),
                },
            },
            t::MP_UNREACH_NLRI => match MpUnreachNlri::decode(value, ctx)? {
                Some(mp) => Attribute::MpUnreachNlri(mp),
                None => Attribute::Raw {
                    type_code: code,
                    value: value.to_vec(),
                },
            },
            t::EXTENDED_COMMUNITIES => {
                let mut r = multiple(value, 8)?;
                let mut v = Vec::with_capacity(value.len() / 8);
                while let Some(c) = r.array::<8>() {
                    v.push(ExtendedCommunity(c));
                }
                Attribute::ExtendedCommunities(v)
            }
            t::AS4_PATH => {
                // RFC 6793 §6: shorter than one segment with one AS is malformed.
                // Confederation segments are removed by the UPDATE decoder.
                if value.len() < 6 {
                    return Err(Fault::Length {
                        length: value.len(),
                    });
                }
                Attribute::As4Path(AsPath::decode(value, true)?)
            }
            t::AS4_AGGREGATOR => Attribute::As4Aggregator(aggregator(value, true)?),
            t::LARGE_COMMUNITY => {
                let mut r = multiple(value, 12)?;
                let mut v = Vec::with_capacity(value.len() / 12);
                while let (Some(a), Some(b), Some(c)) = (r.u32(), r.u32(), r.u32()) {
                    v.push(LargeCommunity::new(a, b, c));
                }
                Attribute::LargeCommunities(v)
            }
            t::PREFIX_SID => {
                checked::prefix_sid(value)?;
                Attribute::PrefixSid(PrefixSid {
                    tlvs: value.to_vec(),
                })
            }
            t::PMSI_TUNNEL | t::TUNNEL_ENCAPSULATION | t::IPV6_EXTENDED_COMMUNITIES | t::OTC => {
                match code {
                    t::PMSI_TUNNEL => checked::pmsi_tunnel(value)?,
                    t::TUNNEL_ENCAPSULATION => checked::tunnel_encap(value)?,
                    t::IPV6_EXTENDED_COMMUNITIES => checked::ipv6_ext_communities(value)?,
                    _ => checked::otc(value)?,
                }
                Attribute::Raw {
                    type_code: code,
                    value: value.to_vec(),
                }
            }
            // canonical_flags() knows no other code.
            _ => Attribute::Raw {
                type_code: code,
                value: value.to_vec(),
            },
        };
        Ok(attr)
    }

    fn encode_value(&self, ctx: &Codec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Origin(o) => out.push(*o as u8),
            Self::AsPath(p) => p.encode(ctx.four_octet_as, out)?,
            Self::NextHop(a) | Self::OriginatorId(a) => out.extend_from_slice(&a.octets()),
            Self::MultiExitDisc(v) | Self::LocalPref(v) => out.extend_from_slice(&v.to_be_bytes()),
            Self::AtomicAggregate => {}
            Self::Aggregator(a) => {
                if ctx.four_octet_as {
                    out.extend_from_slice(&a.asn.to_be_bytes());
                } else {
                    let asn = u16::try_from(a.asn)
                        .map_err(|_| EncodeError::AsNumberTooLarge { asn: a.asn })?;
                    out.extend_from_slice(&asn.to_be_bytes());
                }
                out.extend_from_slice(&a.address.octets());
            }
            Self::As4Aggregator(a) => {
                out.extend_from_slice(&a.asn.to_be_bytes());
                out.extend_from_slice(&a.address.octets());
            }
            Self::Communities(v) => {
                for c in v {
                    out.extend_from_slice(&c.0.to_be_bytes());
                }
            }
            Self::ClusterList(v) => {
                for id in v {
                    out.extend_from_slice(&id.octets());
                }
            }
            Self::MpReachNlri(mp) => mp.encode(ctx, out)?,
            Self::MpUnreachNlri(mp) => mp.encode(ctx, out)?,
            Self::ExtendedCommunities(v) => {
                for c in v {
                    out.extend_from_slice(&c.0);
                }
            }
            Self::As4Path(p) => p.encode(true, out)?,
            Self::LargeCommunities(v) => {
                for c in v {
                    out.extend_from_slice(&c.global_admin.to_be_bytes());
                    out.extend_from_slice(&c.local_data_1.to_be_bytes());
                    out.extend_from_slice(&c.local_data_2.to_be_bytes());
                }
            }
            Self::PrefixSid(p) => out.extend_from_slice(&p.tlvs),
            Self::Raw { value, .. } => out.extend_from_slice(value),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::AfiSafi;
    use crate::nlri::Nlri;

    fn ctx4() -> Codec {
        Codec {
            four_octet_as: true,
            ..Codec::default()
        }
    }

    /// Encodes, checks the header, decodes the value back.
    fn round_trip(attr: PathAttribute, ctx: &Codec) -> Vec<u8> {
        let mut buf = Vec::new();
        attr.encode(ctx, &mut buf).expect("encodes");
        let mut r = Reader::new(&buf);
        let flags = AttrFlags(r.u8().expect("flags"));
        let code = r.u8().expect("code");
        let len = if flags.extended_length() {
            usize::from(r.u16().expect("len"))
        } else {
            usize::from(r.u8().expect("len"))
        };
        assert_eq!(len, r.remaining());
        let value = Attribute::decode(flags, code, r.rest(), ctx).expect("decodes");
        assert_eq!(PathAttribute { flags, value }, attr);
        buf
    }

    #[test]
    fn every_attribute_round_trips() {
        let ctx = ctx4();
        let addr = Ipv4Addr::new(192, 0, 2, 1);
        let cases = vec![
            (Attribute::Origin(Origin::Incomplete), vec![0x40, 1, 1, 2]),
            (
                Attribute::AsPath(AsPath::from_sequence(vec![65001])),
                vec![0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9],
            ),
            (Attribute::NextHop(addr), vec![0x40, 3, 4, 192, 0, 2, 1]),
            (
                Attribute::MultiExitDisc(100),
                vec![0x80, 4, 4, 0, 0, 0, 100],
            ),
            (Attribute::LocalPref(200), vec![0x40, 5, 4, 0, 0, 0, 200]),
            (Attribute::AtomicAggregate, vec![0x40, 6, 0]),
            (
                Attribute::Aggregator(Aggregator {
                    asn: 65001,
                    address: addr,
                }),
                vec![0xc0, 7, 8, 0, 0, 0xfd, 0xe9, 192, 0, 2, 1],
            ),
            (
                Attribute::Communities(vec![Community::new(65001, 1), Community::NO_EXPORT]),
                vec![0xc0, 8, 8, 0xfd, 0xe9, 0, 1, 0xff, 0xff, 0xff, 0x01],
            ),
            (
                Attribute::OriginatorId(addr),
                vec![0x80, 9, 4, 192, 0, 2, 1],
            ),
            (
                Attribute::ClusterList(vec![addr, Ipv4Addr::new(192, 0, 2, 2)]),
                vec![0x80, 10, 8, 192, 0, 2, 1, 192, 0, 2, 2],
            ),
            (
                Attribute::MpUnreachNlri(MpUnreachNlri::end_of_rib(AfiSafi::IPV6_UNICAST)),
                vec![0x80, 15, 3, 0, 2, 1],
            ),
            (
                Attribute::ExtendedCommunities(vec![ExtendedCommunity::route_target_as2(65000, 1)]),
                vec![0xc0, 16, 8, 0, 2, 0xfd, 0xe8, 0, 0, 0, 1],
            ),
            (
                Attribute::As4Path(AsPath::from_sequence(vec![4_200_000_000])),
                vec![0xc0, 17, 6, 2, 1, 0xfa, 0x56, 0xea, 0],
            ),
            (
                Attribute::As4Aggregator(Aggregator {
                    asn: 4_200_000_000,
                    address: addr,
                }),
                vec![0xc0, 18, 8, 0xfa, 0x56, 0xea, 0, 192, 0, 2, 1],
            ),
            (
                Attribute::LargeCommunities(vec![LargeCommunity::new(65001, 2, 3)]),
                vec![0xc0, 32, 12, 0, 0, 0xfd, 0xe9, 0, 0, 0, 2, 0, 0, 0, 3],
            ),
            (
                Attribute::PrefixSid(PrefixSid {
                    tlvs: vec![1, 0, 7, 0, 0, 0, 0, 0, 0, 100],
                }),
                vec![0xc0, 40, 10, 1, 0, 7, 0, 0, 0, 0, 0, 0, 100],
            ),
        ];
        for (value, bytes) in cases {
            assert_eq!(round_trip(PathAttribute::new(value), &ctx), bytes);
        }
        // MP_REACH with an IPv6 route.
        let mp = Attribute::MpReachNlri(MpReachNlri {
            family: AfiSafi::IPV6_UNICAST,
            next_hop: NextHop::Ipv6 {
                global: "2001:db8::1".parse().expect("addr"),
                link_local: None,
            },
            nlri: vec![Nlri::ipv6("2001:db8:1::/48".parse().expect("prefix"))],
        });
        round_trip(PathAttribute::new(mp), &ctx);
    }

    #[test]
    fn two_octet_as_context() {
        let ctx = Codec::default();
        let agg = PathAttribute::new(Attribute::Aggregator(Aggregator {
            asn: 65001,
            address: Ipv4Addr::new(192, 0, 2, 1),
        }));
        assert_eq!(
            round_trip(agg, &ctx),
            [0xc0, 7, 6, 0xfd, 0xe9, 192, 0, 2, 1]
        );
        let path = PathAttribute::new(Attribute::AsPath(AsPath::from_sequence(vec![65001, 3])));
        assert_eq!(round_trip(path, &ctx), [0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0, 3]);
        let big = PathAttribute::new(Attribute::Aggregator(Aggregator {
            asn: 70000,
            address: Ipv4Addr::new(192, 0, 2, 1),
        }));
        assert_eq!(
            big.encode(&ctx, &mut Vec::new()),
            Err(EncodeError::AsNumberTooLarge { asn: 70000 })
        );
    }

    #[test]
    fn extended_length_both_ways() {
        let ctx = ctx4();
        // Long value: the E flag is added.
        let many: Vec<_> = (0..100).map(|i| Community::new(65001, i)).collect();
        let mut buf = Vec::new();
        PathAttribute::new(Attribute::Communities(many.clone()))
            .encode(&ctx, &mut buf)
            .expect("encodes");
        assert_eq!(&buf[..4], &[0xd0, 8, 1, 144]);
        let decoded = PathAttribute::with_flags(AttrFlags(0xd0), Attribute::Communities(many));
        assert_eq!(round_trip(decoded, &ctx), buf);
        // Short value sent with E set (FRR does this for MP_REACH): kept.
        let attr = PathAttribute::with_flags(
            AttrFlags(0x90),
            Attribute::MpUnreachNlri(MpUnreachNlri::end_of_rib(AfiSafi::IPV4_VPN)),
        );
        assert_eq!(round_trip(attr, &ctx), [0x90, 15, 0, 3, 0, 1, 128]);
    }

    #[test]
    fn unknown_attributes_and_propagation() {
        let ctx = ctx4();
        let t = PathAttribute::with_flags(
            AttrFlags(0xc0),
            Attribute::Raw {
                type_code: 99,
                value: vec![1, 2, 3],
            },
        );
        assert_eq!(round_trip(t.clone(), &ctx), [0xc0, 99, 3, 1, 2, 3]);
        assert_eq!(t.propagate().map(|a| a.flags), Some(AttrFlags(0xe0)));
        let nt = PathAttribute::with_flags(
            AttrFlags(0x80),
            Attribute::Raw {
                type_code: 99,
                value: vec![],
            },
        );
        assert_eq!(nt.propagate(), None);
        assert_eq!(
            Attribute::decode(AttrFlags(0x40), 99, &[], &ctx),
            Err(Fault::UnrecognizedWellKnown)
        );
    }

    #[test]
    fn value_faults() {
        let ctx = ctx4();
        let d = |flags: u8, code: u8, v: &[u8]| Attribute::decode(AttrFlags(flags), code, v, &ctx);
        assert_eq!(d(0x40, 1, &[3]), Err(Fault::InvalidOrigin(3)));
        assert_eq!(d(0x40, 1, &[0, 0]), Err(Fault::Length { length: 2 }));
        assert_eq!(d(0xc0, 1, &[0]), Err(Fault::Flags { flags: 0xc0 }));
        assert_eq!(d(0x40, 3, &[1, 2, 3]), Err(Fault::Length { length: 3 }));
        assert_eq!(d(0x80, 4, &[1, 2, 3]), Err(Fault::Length { length: 3 }));
        assert_eq!(d(0x40, 6, &[1]), Err(Fault::Length { length: 1 }));
        assert_eq!(d(0xc0, 7, &[0; 6]), Err(Fault::Length { length: 6 }));
        assert_eq!(d(0xc0, 7, &[0; 8]), Err(Fault::AsZero));
        assert_eq!(d(0xc0, 8, &[]), Err(Fault::Length { length: 0 }));
        assert_eq!(d(0xc0, 8, &[1, 2, 3]), Err(Fault::Length { length: 3 }));
        assert_eq!(
            d(0x80, 10, &[1, 2, 3, 4, 5]),
            Err(Fault::Length { length: 5 })
        );
        assert_eq!(d(0xc0, 16, &[0; 9]), Err(Fault::Length { length: 9 }));
        assert_eq!(d(0xc0, 32, &[0; 13]), Err(Fault::Length { length: 13 }));
        assert_eq!(d(0xc0, 17, &[]), Err(Fault::Length { length: 0 }));
        assert_eq!(
            d(0xc0, 17, &[2, 1, 0, 0, 0]),
            Err(Fault::Length { length: 5 })
        );
        assert_eq!(d(0xc0, 40, &[1, 0, 5, 0]), Err(Fault::PrefixSidTlv));
        // The Partial bit is no flags error.
        assert!(d(0x60, 1, &[0]).is_ok());
    }
}
