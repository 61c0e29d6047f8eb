//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760) for the families Tern
//! routes: IPv4/IPv6 unicast and multicast, VPN-IPv4/VPN-IPv6 (RFC 4364,
//! RFC 4659), IPv4 routes with an IPv6 next hop (RFC 8950), and ADD-PATH
//! path identifiers (RFC 7911). Other families are kept as raw attributes.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::codec::Codec;
use crate::error::EncodeError;
use crate::family::{Afi, AfiSafi, NlriKind, Safi};
use crate::nlri::{Nlri, RouteDistinguisher, decode_nlri, encode_nlri};
use crate::reader::Reader;
use crate::revised::Fault;

/// The next hop of MP_REACH_NLRI, in the forms the modelled families use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// 4 octets: IPv4 unicast/multicast.
    Ipv4(Ipv4Addr),
    /// 16 octets, or 32 with a link-local address (RFC 2545): IPv6 routes,
    /// and IPv4 routes under RFC 8950.
    Ipv6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
    /// 12 octets: a route distinguisher (zero, RFC 4364) and an IPv4 address.
    VpnIpv4 {
        rd: RouteDistinguisher,
        addr: Ipv4Addr,
    },
    /// 24 octets, or 48 with a link-local address: RD + IPv6 (RFC 4659);
    /// VPN-IPv4 routes under RFC 8950. Both RDs are zero on the wire; the
    /// second is written equal to the first.
    VpnIpv6 {
        rd: RouteDistinguisher,
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
}

/// MP_REACH_NLRI: routes of one family announced with a next hop.
///
/// ```text
/// +---------------------------------------------------------+
/// | AFI (2 octets)                                          |
/// +---------------------------------------------------------+
/// | SAFI (1 octet)                                          |
/// +---------------------------------------------------------+
/// | length of next hop (1 octet)                            |
/// +---------------------------------------------------------+
/// | next hop (variable)                                     |
/// +---------------------------------------------------------+
/// | reserved (1 octet, zero; ignored on receipt)            |
/// +---------------------------------------------------------+
/// | NLRI (variable, to the end of the attribute)            |
/// +---------------------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpReachNlri {
    pub family: AfiSafi,
    pub next_hop: NextHop,
    pub nlri: Vec<Nlri>,
}

/// MP_UNREACH_NLRI: routes of one family withdrawn. With no routes it is
/// the End-of-RIB marker of the family (RFC 4724).
///
/// ```text
/// +---------------------------------------------------------+
/// | AFI (2 octets)                                          |
/// +---------------------------------------------------------+
/// | SAFI (1 octet)                                          |
/// +---------------------------------------------------------+
/// | withdrawn routes (variable, to the end of the attribute)|
/// +---------------------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpUnreachNlri {
    pub family: AfiSafi,
    pub withdrawn: Vec<Nlri>,
}

fn family(r: &mut Reader<'_>) -> Result<AfiSafi, Fault> {
    let afi = r.u16().ok_or(Fault::MpTruncated)?;
    let safi = r.u8().ok_or(Fault::MpTruncated)?;
    Ok(AfiSafi::new(Afi(afi), Safi(safi)))
}

fn decode_next_hop(kind: NlriKind, family: AfiSafi, nh: &[u8]) -> Result<NextHop, Fault> {
    let bad = || Fault::MpNextHopLength {
        family,
        length: u8::try_from(nh.len()).unwrap_or(u8::MAX),
    };
    let mut r = Reader::new(nh);
    let ipv6 = |r: &mut Reader<'_>| -> Result<NextHop, Fault> {
        let global = r.ipv6().ok_or_else(bad)?;
        let link_local = if r.is_empty() {
            None
        } else {
            Some(r.ipv6().ok_or_else(bad)?)
        };
        Ok(NextHop::Ipv6 { global, link_local })
    };
    let vpn_ipv6 = |r: &mut Reader<'_>| -> Result<NextHop, Fault> {
        let rd = RouteDistinguisher(r.array::<8>().ok_or_else(bad)?);
        let global = r.ipv6().ok_or_else(bad)?;
        let link_local = if r.is_empty() {
            None
        } else {
            let _second_rd = r.array::<8>().ok_or_else(bad)?;
            Some(r.ipv6().ok_or_else(bad)?)
        };
        Ok(NextHop::VpnIpv6 {
            rd,
            global,
            link_local,
        })
    };
    let next_hop = match (kind, nh.len()) {
        (NlriKind::Ipv4, 4) => NextHop::Ipv4(r.ipv4().ok_or_else(bad)?),
        (NlriKind::Ipv4 | NlriKind::Ipv6, 16 | 32) => ipv6(&mut r)?,
        (NlriKind::Vpnv4, 12) => {
            let rd = RouteDistinguisher(r.array::<8>().ok_or_else(bad)?);
            NextHop::VpnIpv4 {
                rd,
                addr: r.ipv4().ok_or_else(bad)?,
            }
        }
        (NlriKind::Vpnv4 | NlriKind::Vpnv6, 24 | 48) => vpn_ipv6(&mut r)?,
        _ => return Err(bad()),
    };
    Ok(next_hop)
}

impl MpReachNlri {
    /// Decodes the attribute value. `Ok(None)`: a family this crate does not
    /// model, or one the session did not negotiate (RFC 4760 §7: ignored),
    /// to be kept raw. Every error is a malformed attribute, which RFC 7606
    /// §7.11 answers with a session reset.
    pub(crate) fn decode(value: &[u8], ctx: &Codec) -> Result<Option<MpReachNlri>, Fault> {
        let mut r = Reader::new(value);
        let family = family(&mut r)?;
        let nh_len = r.u8().ok_or(Fault::MpTruncated)?;
        let Some(kind) = family.nlri_kind().filter(|_| ctx.negotiated(family)) else {
            return Ok(None);
        };
        let nh = r.take(usize::from(nh_len)).ok_or(Fault::MpTruncated)?;
        let next_hop = decode_next_hop(kind, family, nh)?;
        let _reserved = r.u8().ok_or(Fault::MpTruncated)?;
        let nlri = decode_nlri(r.rest(), kind, ctx.receives_path_id(family))
            .map_err(|_| Fault::MpNlri { family })?;
        Ok(Some(MpReachNlri {
            family,
            next_hop,
            nlri,
        }))
    }

    pub(crate) fn encode(&self, ctx: &Codec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let family = self.family;
        let kind = family
            .nlri_kind()
            .ok_or(EncodeError::UnsupportedFamily { family })?;
        let rfc8950 = ctx.may_send_ipv6_next_hop(family);
        let mut nh = Vec::with_capacity(48);
        match (kind, &self.next_hop) {
            (NlriKind::Ipv4, NextHop::Ipv4(a)) => nh.extend_from_slice(&a.octets()),
            (NlriKind::Ipv6, NextHop::Ipv6 { global, link_local })
            | (NlriKind::Ipv4, NextHop::Ipv6 { global, link_local })
                if kind == NlriKind::Ipv6 || rfc8950 =>
            {
                nh.extend_from_slice(&global.octets());
                if let Some(ll) = link_local {
                    nh.extend_from_slice(&ll.octets());
                }
            }
            (NlriKind::Vpnv4, NextHop::VpnIpv4 { rd, addr }) => {
                nh.extend_from_slice(&rd.0);
                nh.extend_from_slice(&addr.octets());
            }
            (
                NlriKind::Vpnv6 | NlriKind::Vpnv4,
                NextHop::VpnIpv6 {
                    rd,
                    global,
                    link_local,
                },
            ) if kind == NlriKind::Vpnv6 || rfc8950 => {
                nh.extend_from_slice(&rd.0);
                nh.extend_from_slice(&global.octets());
                if let Some(ll) = link_local {
                    nh.extend_from_slice(&rd.0);
                    nh.extend_from_slice(&ll.octets());
                }
            }
            _ => return Err(EncodeError::NextHopMismatch { family }),
        }
        out.extend_from_slice(&family.afi.0.to_be_bytes());
        out.push(family.safi.0);
        // At most 48 octets.
        out.push(u8::try_from(nh.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&nh);
        out.push(0);
        encode_nlri(&self.nlri, family, ctx.sends_path_id(family), out)
    }
}

impl MpUnreachNlri {
    /// The End-of-RIB marker attribute for `family`.
    pub fn end_of_rib(family: AfiSafi) -> Self {
        Self {
            family,
            withdrawn: Vec::new(),
        }
    }

    /// Decodes the attribute value; `Ok(None)` for a family this crate does
    /// not model or the session did not negotiate that carries routes (kept
    /// raw, ignored). An empty one of any family decodes, since it is that
    /// family's End-of-RIB.
    pub(crate) fn decode(value: &[u8], ctx: &Codec) -> Result<Option<MpUnreachNlri>, Fault> {
        let mut r = Reader::new(value);
        let family = family(&mut r)?;
        let withdrawn = match family.nlri_kind().filter(|_| ctx.negotiated(family)) {
            _ if r.is_empty() => Vec::new(),
            None => return Ok(None),
            Some(kind) => decode_nlri(r.rest(), kind, ctx.receives_path_id(family))
                .map_err(|_| Fault::MpNlri { family })?,
        };
        Ok(Some(MpUnreachNlri { family, withdrawn }))
    }

    pub(crate) fn encode(&self, ctx: &Codec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.family.afi.0.to_be_bytes());
        out.push(self.family.safi.0);
        if self.withdrawn.is_empty() {
            return Ok(());
        }
        encode_nlri(
            &self.withdrawn,
            self.family,
            ctx.sends_path_id(self.family),
            out,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlri::{Label, NlriPrefix};

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().expect("address")
    }

    fn round_trip(m: &MpReachNlri, ctx: &Codec) -> Vec<u8> {
        let mut buf = Vec::new();
        m.encode(ctx, &mut buf).expect("encodes");
        assert_eq!(MpReachNlri::decode(&buf, ctx), Ok(Some(m.clone())));
        buf
    }

    #[test]
    fn ipv6_with_link_local() {
        let m = MpReachNlri {
            family: AfiSafi::IPV6_UNICAST,
            next_hop: NextHop::Ipv6 {
                global: v6("2001:db8::1"),
                link_local: Some(v6("fe80::1")),
            },
            nlri: vec![Nlri::ipv6("2001:db8:1::/48".parse().expect("prefix"))],
        };
        let buf = round_trip(&m, &Codec::default());
        assert_eq!(&buf[..4], &[0, 2, 1, 32]);
        assert_eq!(buf[36], 0);
    }

    #[test]
    fn rfc8950_ipv4_over_ipv6_needs_negotiation_to_send() {
        let m = MpReachNlri {
            family: AfiSafi::IPV4_UNICAST,
            next_hop: NextHop::Ipv6 {
                global: v6("2001:db8::1"),
                link_local: None,
            },
            nlri: vec![Nlri::ipv4("192.0.2.0/24".parse().expect("prefix"))],
        };
        let mut buf = Vec::new();
        assert_eq!(
            m.encode(&Codec::default(), &mut buf),
            Err(EncodeError::NextHopMismatch {
                family: AfiSafi::IPV4_UNICAST
            })
        );
        let ctx = Codec {
            extended_next_hop: vec![AfiSafi::IPV4_UNICAST],
            ..Codec::default()
        };
        let buf = round_trip(&m, &ctx);
        // Receiving needs no negotiation: the length says what it is.
        assert_eq!(MpReachNlri::decode(&buf, &Codec::default()), Ok(Some(m)));
    }

    #[test]
    fn vpnv4_and_vpnv6() {
        let ctx = Codec {
            extended_next_hop: vec![AfiSafi::IPV4_VPN],
            ..Codec::default()
        };
        let rd = RouteDistinguisher::as2(65000, 1);
        let v4 = MpReachNlri {
            family: AfiSafi::IPV4_VPN,
            next_hop: NextHop::VpnIpv4 {
                rd: RouteDistinguisher::default(),
                addr: Ipv4Addr::new(192, 0, 2, 1),
            },
            nlri: vec![Nlri {
                path_id: None,
                prefix: NlriPrefix::Vpnv4 {
                    label: Label::new(100).expect("label"),
                    rd,
                    prefix: "198.51.100.0/24".parse().expect("prefix"),
                },
            }],
        };
        assert_eq!(round_trip(&v4, &ctx)[3], 12);
        let v4_over_v6 = MpReachNlri {
            next_hop: NextHop::VpnIpv6 {
                rd: RouteDistinguisher::default(),
                global: v6("2001:db8::1"),
                link_local: None,
            },
            ..v4.clone()
        };
        assert_eq!(round_trip(&v4_over_v6, &ctx)[3], 24);
        let vpn6 = MpReachNlri {
            family: AfiSafi::IPV6_VPN,
            next_hop: NextHop::VpnIpv6 {
                rd: RouteDistinguisher::default(),
                global: v6("2001:db8::1"),
                link_local: Some(v6("fe80::1")),
            },
            nlri: vec![Nlri {
                path_id: None,
                prefix: NlriPrefix::Vpnv6 {
                    label: Label::new(16).expect("label"),
                    rd,
                    prefix: "2001:db8:5::/48".parse().expect("prefix"),
                },
            }],
        };
        assert_eq!(round_trip(&vpn6, &Codec::default())[3], 48);
    }

    #[test]
    fn malformed() {
        let ctx = Codec::default();
        assert_eq!(MpReachNlri::decode(&[0, 1], &ctx), Err(Fault::MpTruncated));
        assert_eq!(
            MpReachNlri::decode(&[0, 2, 1, 4, 1, 2, 3, 4, 0], &ctx),
            Err(Fault::MpNextHopLength {
                family: AfiSafi::IPV6_UNICAST,
                length: 4
            })
        );
        assert_eq!(
            MpReachNlri::decode(&[0, 1, 1, 4, 1, 2, 3, 4, 0, 33, 1, 2, 3, 4, 5], &ctx),
            Err(Fault::MpNlri {
                family: AfiSafi::IPV4_UNICAST
            })
        );
        // Missing reserved octet.
        assert_eq!(
            MpReachNlri::decode(&[0, 1, 1, 4, 1, 2, 3, 4], &ctx),
            Err(Fault::MpTruncated)
        );
        // Unmodelled family: kept raw, not an error.
        assert_eq!(MpReachNlri::decode(&[0, 25, 70, 0, 0], &ctx), Ok(None));
        assert_eq!(
            MpUnreachNlri::decode(&[0, 25, 70], &ctx),
            Ok(Some(MpUnreachNlri::end_of_rib(AfiSafi::new(
                Afi::L2VPN,
                Safi::EVPN
            ))))
        );
        assert_eq!(MpUnreachNlri::decode(&[0, 25, 70, 1], &ctx), Ok(None));
        assert_eq!(
            MpUnreachNlri::decode(&[0, 2], &ctx),
            Err(Fault::MpTruncated)
        );
    }
}
