//! Network Layer Reachability Information: IPv4/IPv6 prefixes (RFC 4271,
//! RFC 4760), VPN-IPv4/VPN-IPv6 labeled prefixes with a route distinguisher
//! (RFC 4364, RFC 4659, RFC 8277), and the ADD-PATH path identifier in front
//! of each (RFC 7911).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::error::EncodeError;
use crate::family::{AfiSafi, NlriKind};
use crate::reader::Reader;

/// An MPLS label as carried in labeled NLRI: the 3 octets as sent.
///
/// ```text
/// +---------------------------------------+-----+---+
/// |           label value (20 bits)       | TC  | S |   S: bottom of stack
/// +---------------------------------------+-----+---+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(u32);

impl Label {
    /// RFC 8277 §2.4: the label field of a withdrawal ("compatibility" value).
    pub const WITHDRAWN: Label = Label(0x80_0000);

    /// A label with value `value` (20 bits) and the bottom-of-stack bit set.
    pub fn new(value: u32) -> Option<Label> {
        (value < 1 << 20).then_some(Label(value << 4 | 1))
    }

    /// From the 24-bit field as sent (higher bits are dropped).
    pub fn from_raw(raw: u32) -> Label {
        Label(raw & 0x00ff_ffff)
    }

    /// The 24-bit field as sent.
    pub fn raw(self) -> u32 {
        self.0
    }

    /// The 20-bit label value.
    pub fn value(self) -> u32 {
        self.0 >> 4
    }

    pub fn bottom_of_stack(self) -> bool {
        self.0 & 1 == 1
    }
}

/// A route distinguisher (RFC 4364 §4.2): 8 octets, a 2-octet type then a
/// value whose layout the type names.
///
/// ```text
/// type 0: | 0 0 | AS (2 octets)   | assigned number (4 octets) |
/// type 1: | 0 1 | IPv4 (4 octets) | assigned number (2 octets) |
/// type 2: | 0 2 | AS (4 octets)   | assigned number (2 octets) |
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RouteDistinguisher(pub [u8; 8]);

impl RouteDistinguisher {
    /// Type 0: 2-octet AS and a 4-octet number.
    pub fn as2(asn: u16, number: u32) -> Self {
        let mut b = [0u8; 8];
        b[2..4].copy_from_slice(&asn.to_be_bytes());
        b[4..8].copy_from_slice(&number.to_be_bytes());
        Self(b)
    }

    /// Type 1: IPv4 address and a 2-octet number.
    pub fn ipv4(addr: Ipv4Addr, number: u16) -> Self {
        let mut b = [0u8; 8];
        b[1] = 1;
        b[2..6].copy_from_slice(&addr.octets());
        b[6..8].copy_from_slice(&number.to_be_bytes());
        Self(b)
    }

    /// Type 2: 4-octet AS and a 2-octet number.
    pub fn as4(asn: u32, number: u16) -> Self {
        let mut b = [0u8; 8];
        b[1] = 2;
        b[2..6].copy_from_slice(&asn.to_be_bytes());
        b[6..8].copy_from_slice(&number.to_be_bytes());
        Self(b)
    }

    pub fn rd_type(&self) -> u16 {
        u16::from_be_bytes([self.0[0], self.0[1]])
    }
}

impl fmt::Display for RouteDistinguisher {
    /// FRR's notation: "65000:100", "192.0.2.1:5", "4200000000:7".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match self.rd_type() {
            0 => write!(f, "{}:{}", u16_at(2), u32_at(4)),
            1 => write!(f, "{}:{}", Ipv4Addr::new(b[2], b[3], b[4], b[5]), u16_at(6)),
            2 => write!(f, "{}:{}", u32_at(2), u16_at(6)),
            t => write!(
                f,
                "type {t}:{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                b[2], b[3], b[4], b[5], b[6], b[7]
            ),
        }
    }
}

/// The prefix part of one NLRI entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NlriPrefix {
    Ipv4(Ipv4Net),
    Ipv6(Ipv6Net),
    /// VPN-IPv4: label, route distinguisher, IPv4 prefix.
    Vpnv4 {
        label: Label,
        rd: RouteDistinguisher,
        prefix: Ipv4Net,
    },
    /// VPN-IPv6: label, route distinguisher, IPv6 prefix.
    Vpnv6 {
        label: Label,
        rd: RouteDistinguisher,
        prefix: Ipv6Net,
    },
}

/// One NLRI entry: a prefix, with its ADD-PATH path identifier when that is
/// negotiated for the family and direction.
///
/// ```text
/// +--------------------------------+
/// | path identifier (4 octets)     |   only with ADD-PATH (RFC 7911)
/// +--------------------------------+
/// | length in bits (1 octet)       |   of label + RD + prefix for VPN
/// +--------------------------------+
/// | label (3 octets)               |   VPN only
/// | route distinguisher (8 octets) |   VPN only
/// +--------------------------------+
/// | prefix: as few octets as the   |
/// | length needs; the bits after   |
/// | it are ignored                 |
/// +--------------------------------+
/// ```
///
/// Decoded prefixes have their host bits cleared (RFC 4271: "the value of
/// trailing bits is irrelevant").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    pub path_id: Option<u32>,
    pub prefix: NlriPrefix,
}

impl Nlri {
    /// An IPv4 entry without path identifier.
    pub fn ipv4(prefix: Ipv4Net) -> Self {
        Self {
            path_id: None,
            prefix: NlriPrefix::Ipv4(prefix),
        }
    }

    /// An IPv6 entry without path identifier.
    pub fn ipv6(prefix: Ipv6Net) -> Self {
        Self {
            path_id: None,
            prefix: NlriPrefix::Ipv6(prefix),
        }
    }

    pub fn with_path_id(self, path_id: u32) -> Self {
        Self {
            path_id: Some(path_id),
            ..self
        }
    }

    fn kind(&self) -> NlriKind {
        match self.prefix {
            NlriPrefix::Ipv4(_) => NlriKind::Ipv4,
            NlriPrefix::Ipv6(_) => NlriKind::Ipv6,
            NlriPrefix::Vpnv4 { .. } => NlriKind::Vpnv4,
            NlriPrefix::Vpnv6 { .. } => NlriKind::Vpnv6,
        }
    }
}

impl fmt::Display for Nlri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.prefix {
            NlriPrefix::Ipv4(p) => write!(f, "{p}")?,
            NlriPrefix::Ipv6(p) => write!(f, "{p}")?,
            NlriPrefix::Vpnv4 { label, rd, prefix } => {
                write!(f, "RD {rd} {prefix} label {}", label.value())?
            }
            NlriPrefix::Vpnv6 { label, rd, prefix } => {
                write!(f, "RD {rd} {prefix} label {}", label.value())?
            }
        }
        if let Some(id) = self.path_id {
            write!(f, " path-id {id}")?;
        }
        Ok(())
    }
}

/// Why an NLRI field did not parse (RFC 7606 §5.3 "syntactically incorrect").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NlriError {
    /// A length longer than the family allows.
    PrefixLength(u8),
    /// The last entry runs past the end of the field.
    Truncated,
}

/// Bits of label + route distinguisher in a VPN NLRI length.
const VPN_OVERHEAD_BITS: u8 = 24 + 64;

fn read_addr<const N: usize>(r: &mut Reader<'_>, bits: u8) -> Result<[u8; N], NlriError> {
    let octets = usize::from(bits).div_ceil(8);
    let bytes = r.take(octets).ok_or(NlriError::Truncated)?;
    let mut addr = [0u8; N];
    addr.get_mut(..octets)
        .ok_or(NlriError::PrefixLength(bits))?
        .copy_from_slice(bytes);
    Ok(addr)
}

fn v4(r: &mut Reader<'_>, bits: u8) -> Result<Ipv4Net, NlriError> {
    if bits > 32 {
        return Err(NlriError::PrefixLength(bits));
    }
    let addr = Ipv4Addr::from(read_addr::<4>(r, bits)?);
    Ipv4Net::new(addr, bits)
        .map(|n| n.trunc())
        .map_err(|_| NlriError::PrefixLength(bits))
}

fn v6(r: &mut Reader<'_>, bits: u8) -> Result<Ipv6Net, NlriError> {
    if bits > 128 {
        return Err(NlriError::PrefixLength(bits));
    }
    let addr = Ipv6Addr::from(read_addr::<16>(r, bits)?);
    Ipv6Net::new(addr, bits)
        .map(|n| n.trunc())
        .map_err(|_| NlriError::PrefixLength(bits))
}

fn vpn_head(r: &mut Reader<'_>, bits: u8) -> Result<(Label, RouteDistinguisher, u8), NlriError> {
    let prefix_bits = bits
        .checked_sub(VPN_OVERHEAD_BITS)
        .ok_or(NlriError::PrefixLength(bits))?;
    let label = r.array::<3>().ok_or(NlriError::Truncated)?;
    let rd = r.array::<8>().ok_or(NlriError::Truncated)?;
    let label = Label::from_raw(u32::from_be_bytes([0, label[0], label[1], label[2]]));
    Ok((label, RouteDistinguisher(rd), prefix_bits))
}

/// Decodes a whole NLRI field (or Withdrawn Routes field) of one encoding.
pub(crate) fn decode_nlri(
    buf: &[u8],
    kind: NlriKind,
    add_path: bool,
) -> Result<Vec<Nlri>, NlriError> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.is_empty() {
        let path_id = if add_path {
            Some(r.u32().ok_or(NlriError::Truncated)?)
        } else {
            None
        };
        let bits = r.u8().ok_or(NlriError::Truncated)?;
        let prefix = match kind {
            NlriKind::Ipv4 => NlriPrefix::Ipv4(v4(&mut r, bits)?),
            NlriKind::Ipv6 => NlriPrefix::Ipv6(v6(&mut r, bits)?),
            NlriKind::Vpnv4 => {
                let (label, rd, pbits) = vpn_head(&mut r, bits)?;
                let prefix = v4(&mut r, pbits).map_err(|e| widen(e, bits))?;
                NlriPrefix::Vpnv4 { label, rd, prefix }
            }
            NlriKind::Vpnv6 => {
                let (label, rd, pbits) = vpn_head(&mut r, bits)?;
                let prefix = v6(&mut r, pbits).map_err(|e| widen(e, bits))?;
                NlriPrefix::Vpnv6 { label, rd, prefix }
            }
        };
        out.push(Nlri { path_id, prefix });
    }
    Ok(out)
}

/// Reports a VPN prefix-length error with the length field as sent.
fn widen(e: NlriError, bits: u8) -> NlriError {
    match e {
        NlriError::PrefixLength(_) => NlriError::PrefixLength(bits),
        other => other,
    }
}

fn put_prefix(octets: &[u8], bits: u8, out: &mut Vec<u8>) {
    let n = usize::from(bits).div_ceil(8);
    out.extend(octets.iter().take(n));
}

/// Appends the entries of an NLRI field of `family`, checking that each
/// entry is of the family's encoding and that path identifiers are present
/// exactly when ADD-PATH is negotiated for sending.
pub(crate) fn encode_nlri(
    entries: &[Nlri],
    family: AfiSafi,
    add_path: bool,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let kind = family
        .nlri_kind()
        .ok_or(EncodeError::UnsupportedFamily { family })?;
    for n in entries {
        if n.kind() != kind {
            return Err(EncodeError::NlriFamilyMismatch { family });
        }
        match (add_path, n.path_id) {
            (true, Some(id)) => out.extend_from_slice(&id.to_be_bytes()),
            (false, None) => {}
            (true, None) => return Err(EncodeError::MissingPathId { family }),
            (false, Some(_)) => return Err(EncodeError::UnexpectedPathId { family }),
        }
        match &n.prefix {
            NlriPrefix::Ipv4(p) => {
                out.push(p.prefix_len());
                put_prefix(&p.network().octets(), p.prefix_len(), out);
            }
            NlriPrefix::Ipv6(p) => {
                out.push(p.prefix_len());
                put_prefix(&p.network().octets(), p.prefix_len(), out);
            }
            NlriPrefix::Vpnv4 { label, rd, prefix } => {
                // At most 88 + 32 = 120 bits: fits the octet.
                out.push(VPN_OVERHEAD_BITS + prefix.prefix_len());
                out.extend_from_slice(&label.raw().to_be_bytes()[1..]);
                out.extend_from_slice(&rd.0);
                put_prefix(&prefix.network().octets(), prefix.prefix_len(), out);
            }
            NlriPrefix::Vpnv6 { label, rd, prefix } => {
                // 88 + 128 = 216 bits: fits the octet.
                out.push(VPN_OVERHEAD_BITS + prefix.prefix_len());
                out.extend_from_slice(&label.raw().to_be_bytes()[1..]);
                out.extend_from_slice(&rd.0);
                put_prefix(&prefix.network().octets(), prefix.prefix_len(), out);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net4(s: &str) -> Ipv4Net {
        s.parse().expect("prefix")
    }

    #[test]
    fn ipv4_round_trip_and_trailing_bits() {
        let entries = vec![
            Nlri::ipv4(net4("0.0.0.0/0")),
            Nlri::ipv4(net4("192.0.2.0/24")),
            Nlri::ipv4(net4("198.51.100.128/25")),
            Nlri::ipv4(net4("203.0.113.7/32")),
        ];
        let mut buf = Vec::new();
        encode_nlri(&entries, AfiSafi::IPV4_UNICAST, false, &mut buf).expect("encodes");
        assert_eq!(
            buf,
            [0, 24, 192, 0, 2, 25, 198, 51, 100, 128, 32, 203, 0, 113, 7]
        );
        assert_eq!(decode_nlri(&buf, NlriKind::Ipv4, false), Ok(entries));
        // Bits beyond the length are ignored (and cleared).
        assert_eq!(
            decode_nlri(&[12, 10, 0xff], NlriKind::Ipv4, false),
            Ok(vec![Nlri::ipv4(net4("10.240.0.0/12"))])
        );
        assert_eq!(
            decode_nlri(&[7, 0xff], NlriKind::Ipv4, false),
            Ok(vec![Nlri::ipv4(net4("254.0.0.0/7"))])
        );
    }

    #[test]
    fn add_path_and_ipv6() {
        let entries = vec![
            Nlri::ipv6("2001:db8::/32".parse().expect("prefix")).with_path_id(1),
            Nlri::ipv6("2001:db8:1::1/128".parse().expect("prefix")).with_path_id(7),
        ];
        let mut buf = Vec::new();
        encode_nlri(&entries, AfiSafi::IPV6_UNICAST, true, &mut buf).expect("encodes");
        assert_eq!(&buf[..9], &[0, 0, 0, 1, 32, 0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(decode_nlri(&buf, NlriKind::Ipv6, true), Ok(entries.clone()));
        let mut other = Vec::new();
        assert_eq!(
            encode_nlri(&entries, AfiSafi::IPV6_UNICAST, false, &mut other),
            Err(EncodeError::UnexpectedPathId {
                family: AfiSafi::IPV6_UNICAST
            })
        );
        assert_eq!(
            encode_nlri(&entries, AfiSafi::IPV4_UNICAST, true, &mut other),
            Err(EncodeError::NlriFamilyMismatch {
                family: AfiSafi::IPV4_UNICAST
            })
        );
    }

    #[test]
    fn vpn_round_trip() {
        let entries = vec![
            Nlri {
                path_id: None,
                prefix: NlriPrefix::Vpnv4 {
                    label: Label::new(16).expect("label"),
                    rd: RouteDistinguisher::as2(65000, 100),
                    prefix: net4("192.0.2.0/24"),
                },
            },
            Nlri {
                path_id: None,
                prefix: NlriPrefix::Vpnv4 {
                    label: Label::WITHDRAWN,
                    rd: RouteDistinguisher::ipv4(Ipv4Addr::new(192, 0, 2, 1), 5),
                    prefix: net4("10.0.0.0/8"),
                },
            },
        ];
        let mut buf = Vec::new();
        encode_nlri(&entries, AfiSafi::IPV4_VPN, false, &mut buf).expect("encodes");
        assert_eq!(&buf[..4], &[112, 0, 1, 1]);
        assert_eq!(decode_nlri(&buf, NlriKind::Vpnv4, false), Ok(entries));
        assert_eq!(RouteDistinguisher::as2(65000, 100).to_string(), "65000:100");
        assert_eq!(
            RouteDistinguisher::ipv4(Ipv4Addr::new(192, 0, 2, 1), 5).to_string(),
            "192.0.2.1:5"
        );
        assert_eq!(
            RouteDistinguisher::as4(4_200_000_000, 7).to_string(),
            "4200000000:7"
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            decode_nlri(&[33, 1, 2, 3, 4, 5], NlriKind::Ipv4, false),
            Err(NlriError::PrefixLength(33))
        );
        assert_eq!(
            decode_nlri(&[129], NlriKind::Ipv6, false),
            Err(NlriError::PrefixLength(129))
        );
        assert_eq!(
            decode_nlri(&[24, 192, 0], NlriKind::Ipv4, false),
            Err(NlriError::Truncated)
        );
        assert_eq!(
            decode_nlri(&[0, 0, 1], NlriKind::Ipv4, true),
            Err(NlriError::Truncated)
        );
        // VPN length shorter than label + RD, or longer than label + RD + 32.
        assert_eq!(
            decode_nlri(&[80, 0, 0, 0], NlriKind::Vpnv4, false),
            Err(NlriError::PrefixLength(80))
        );
        let mut long = vec![121u8];
        long.extend_from_slice(&[0; 16]);
        assert_eq!(
            decode_nlri(&long, NlriKind::Vpnv4, false),
            Err(NlriError::PrefixLength(121))
        );
    }

    #[test]
    fn labels() {
        let l = Label::new(100).expect("label");
        assert_eq!(
            (l.value(), l.bottom_of_stack(), l.raw()),
            (100, true, 0x641)
        );
        assert_eq!(Label::new(1 << 20), None);
    }
}
