//! Attributes Tern passes on without interpreting, but whose format is
//! defined: OTC (RFC 9234), PMSI Tunnel (RFC 6514), Tunnel Encapsulation
//! (RFC 9012), IPv6 Address Specific Extended Community (RFC 5701), and
//! the TLVs of the BGP Prefix-SID (RFC 8669). Each value is checked before
//! it is kept, so that a malformed one is never re-advertised (the next
//! router may reset its session over it); which RFC 7606 action a fault
//! costs is decided in [`crate::update`].

use crate::reader::Reader;
use crate::revised::Fault;

fn length(value: &[u8]) -> Fault {
    Fault::Length {
        length: value.len(),
    }
}

/// OTC (Only to Customer, RFC 9234 §5): one 4-octet AS number. A length
/// other than 4 is malformed; AS 0 is refused too (RFC 7607; FRR does the
/// same).
///
/// ```text
/// +-------------------------------+
/// | AS number (4 octets)          |
/// +-------------------------------+
/// ```
pub(crate) fn otc(value: &[u8]) -> Result<(), Fault> {
    let asn = Reader::new(value)
        .u32()
        .filter(|_| value.len() == 4)
        .ok_or_else(|| length(value))?;
    if asn == 0 {
        return Err(Fault::AsZero);
    }
    Ok(())
}

/// Highest PMSI tunnel type defined by RFC 6514 §5 (7, mLDP MP2MP LSP);
/// FRR refuses higher ones.
const PMSI_MAX_TUNNEL_TYPE: u8 = 7;
/// Ingress Replication (RFC 6514 §5).
const PMSI_INGRESS_REPLICATION: u8 = 6;

/// PMSI Tunnel (RFC 6514 §5): flags, tunnel type, MPLS label, then the
/// tunnel identifier. At least 5 octets; a known tunnel type; Ingress
/// Replication carries one IPv4 endpoint (9 octets in all), the only form
/// FRR 8.4 accepts.
///
/// ```text
/// +---------+-------------+-------------------+--------------------+
/// | flags   | tunnel type | MPLS label (3)    | tunnel identifier  |
/// +---------+-------------+-------------------+--------------------+
/// ```
pub(crate) fn pmsi_tunnel(value: &[u8]) -> Result<(), Fault> {
    let mut r = Reader::new(value);
    let (Some(_flags), Some(kind), Some(_label)) = (r.u8(), r.u8(), r.array::<3>()) else {
        return Err(length(value));
    };
    if kind > PMSI_MAX_TUNNEL_TYPE {
        return Err(Fault::PmsiTunnelType(kind));
    }
    if kind == PMSI_INGRESS_REPLICATION && value.len() != 9 {
        return Err(length(value));
    }
    Ok(())
}

/// Tunnel Encapsulation (RFC 9012 §2): one or more Tunnel TLVs (type and
/// length 2 octets each) that exactly fill the attribute, each value made
/// of sub-TLVs (type 1 octet; length 1 octet for types 0-127, 2 octets for
/// 128-255) that exactly fill the TLV.
///
/// ```text
/// +----------------+----------------+------------------------------+
/// | tunnel type (2)| length (2)     | sub-TLVs (length octets)     |  repeated
/// +----------------+----------------+------------------------------+
/// ```
pub(crate) fn tunnel_encap(value: &[u8]) -> Result<(), Fault> {
    if value.is_empty() {
        return Err(length(value));
    }
    let mut r = Reader::new(value);
    while !r.is_empty() {
        let tlv = r
            .u16()
            .and_then(|_| r.u16())
            .and_then(|len| r.take(usize::from(len)))
            .ok_or(Fault::TunnelEncapTlv)?;
        let mut s = Reader::new(tlv);
        while !s.is_empty() {
            let ok = s.u8().and_then(|t| {
                let len = if t < 128 {
                    s.u8().map(usize::from)
                } else {
                    s.u16().map(usize::from)
                }?;
                s.take(len)
            });
            if ok.is_none() {
                return Err(Fault::TunnelEncapTlv);
            }
        }
    }
    Ok(())
}

/// IPv6 Address Specific Extended Communities (RFC 5701): a non-zero
/// multiple of 20 octets.
pub(crate) fn ipv6_ext_communities(value: &[u8]) -> Result<(), Fault> {
    if value.is_empty() || !value.len().is_multiple_of(20) {
        return Err(length(value));
    }
    Ok(())
}

/// The TLVs of a BGP Prefix-SID (RFC 8669 §3, RFC 9252 §2): they must
/// exactly fill the attribute, the Label-Index TLV (reserved 1, flags 2,
/// label index 4) and the Originator SRGB TLV (flags 2, then 6-octet ranges)
/// must have their defined sizes, and each SRv6 L3/L2 Service TLV must be
/// well formed down to its sub-sub-TLVs (RFC 9252 §7). RFC 8669 §6 makes
/// a fault of the attribute an attribute discard; RFC 9252 §7 makes a
/// malformed SRv6 Service TLV (one that runs past the attribute included)
/// a treat-as-withdraw ([`Fault::PrefixSidSrv6`]).
pub(crate) fn prefix_sid(value: &[u8]) -> Result<(), Fault> {
    use super::srv6::{Srv6Service, prefix_sid_tlv as tlv};
    let mut r = Reader::new(value);
    while !r.is_empty() {
        let t = r.u8();
        let Some(v) = r.u16().and_then(|n| r.take(usize::from(n))) else {
            return Err(match t {
                Some(tlv::SRV6_L3_SERVICE | tlv::SRV6_L2_SERVICE) => {
                    Fault::PrefixSidSrv6(super::Srv6Malformation::ServiceOverrun)
                }
                _ => Fault::PrefixSidTlv,
            });
        };
        let t = t.unwrap_or_default();
        let ok = match t {
            tlv::LABEL_INDEX => v.len() == 7,
            tlv::ORIGINATOR_SRGB => v.len() >= 8 && (v.len() - 2).is_multiple_of(6),
            tlv::SRV6_L3_SERVICE | tlv::SRV6_L2_SERVICE => {
                Srv6Service::decode(v).map_err(Fault::PrefixSidSrv6)?;
                true
            }
            _ => true,
        };
        if !ok {
            return Err(Fault::PrefixSidTlv);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otc() {
        assert_eq!(super::otc(&[0, 0, 0xfd, 0xe9]), Ok(()));
        assert_eq!(super::otc(&[0, 0, 1]), Err(Fault::Length { length: 3 }));
        assert_eq!(
            super::otc(&[0, 0, 0, 1, 0]),
            Err(Fault::Length { length: 5 })
        );
        assert_eq!(super::otc(&[0; 4]), Err(Fault::AsZero));
    }

    #[test]
    fn pmsi() {
        assert_eq!(pmsi_tunnel(&[0, 6, 0, 0, 0x31, 192, 0, 2, 1]), Ok(()));
        assert_eq!(pmsi_tunnel(&[0, 0, 0, 0, 0]), Ok(()));
        assert_eq!(pmsi_tunnel(&[0, 6]), Err(Fault::Length { length: 2 }));
        assert_eq!(
            pmsi_tunnel(&[0, 6, 0, 0, 0, 1]),
            Err(Fault::Length { length: 6 })
        );
        assert_eq!(pmsi_tunnel(&[0, 9, 0, 0, 0]), Err(Fault::PmsiTunnelType(9)));
    }

    #[test]
    fn tunnel_encap_tlvs() {
        // VXLAN (8) with an empty value, then one with a color sub-TLV (4, 8 octets).
        let good = [0, 8, 0, 0, 0, 8, 0, 10, 4, 8, 0, 0, 0, 0, 0, 0, 0, 7];
        assert_eq!(tunnel_encap(&good), Ok(()));
        // A long sub-TLV type (128+) with a 2-octet length.
        assert_eq!(tunnel_encap(&[0, 8, 0, 5, 200, 0, 2, 1, 2]), Ok(()));
        assert_eq!(tunnel_encap(&[]), Err(Fault::Length { length: 0 }));
        assert_eq!(tunnel_encap(&[0]), Err(Fault::TunnelEncapTlv));
        // TLV length overruns the attribute.
        assert_eq!(
            tunnel_encap(&[0, 8, 0, 9, 4, 1, 0]),
            Err(Fault::TunnelEncapTlv)
        );
        // Sub-TLV overruns its TLV.
        assert_eq!(
            tunnel_encap(&[0, 8, 0, 3, 4, 8, 0]),
            Err(Fault::TunnelEncapTlv)
        );
    }

    #[test]
    fn ipv6_ext() {
        assert_eq!(ipv6_ext_communities(&[0; 20]), Ok(()));
        assert_eq!(ipv6_ext_communities(&[0; 40]), Ok(()));
        assert_eq!(
            ipv6_ext_communities(&[0; 5]),
            Err(Fault::Length { length: 5 })
        );
        assert_eq!(ipv6_ext_communities(&[]), Err(Fault::Length { length: 0 }));
    }

    #[test]
    fn prefix_sid_tlvs() {
        assert_eq!(prefix_sid(&[1, 0, 7, 0, 0, 0, 0, 0, 0, 100]), Ok(()));
        assert_eq!(
            prefix_sid(&[1, 0, 5, 0, 0, 0, 0, 0]),
            Err(Fault::PrefixSidTlv)
        );
        assert_eq!(prefix_sid(&[1, 0, 9, 0]), Err(Fault::PrefixSidTlv));
        assert_eq!(prefix_sid(&[3, 0, 8, 0, 0, 0, 0, 1, 0, 0, 8]), Ok(()));
        assert_eq!(prefix_sid(&[3, 0, 4, 0, 0, 0, 0]), Err(Fault::PrefixSidTlv));
        // Unknown TLV types are skipped by their length.
        assert_eq!(prefix_sid(&[9, 0, 1, 0]), Ok(()));
        // SRv6 Service TLVs are checked inside: an empty one, and one whose
        // sub-TLV overruns it.
        assert_eq!(prefix_sid(&[5, 0, 1, 0]), Ok(()));
        assert_eq!(
            prefix_sid(&[5, 0, 0]),
            Err(Fault::PrefixSidSrv6(
                crate::attributes::Srv6Malformation::ServiceTooShort
            ))
        );
        assert_eq!(
            prefix_sid(&[6, 0, 4, 0, 1, 0, 21]),
            Err(Fault::PrefixSidSrv6(
                crate::attributes::Srv6Malformation::SubTlvOverrun
            ))
        );
        // An SRv6 Service TLV longer than the attribute is a malformed SRv6
        // Service TLV (RFC 9252 §7), another type's overrun a Prefix-SID fault.
        assert_eq!(
            prefix_sid(&[5, 0, 9, 0]),
            Err(Fault::PrefixSidSrv6(
                crate::attributes::Srv6Malformation::ServiceOverrun
            ))
        );
        assert_eq!(prefix_sid(&[9, 0, 9, 0]), Err(Fault::PrefixSidTlv));
    }
}
