//! Route distinguishers (RFC 4364 section 4.2) and route targets (RFC 4360
//! extended communities, RFC 4364 section 4.3.1): parsed from and printed in
//! FRR's text form, and turned to and from their 8 octets on the wire.
//!
//! The text forms, as FRR 8.4 reads and prints them:
//!
//! | text | when | RD type / RT type |
//! |---|---|---|
//! | `ASN:NN` | ASN fits 2 octets (0..=65535), NN 4 octets | 0 / 0x00 |
//! | `A.B.C.D:NN` | an IPv4 address, NN 2 octets | 1 / 0x01 |
//! | `ASN4:NN` | ASN above 65535 (4 octets), NN 2 octets | 2 / 0x02 |
//!
//! FRR truncates a number too large for its field without a word; Tern
//! refuses it and says which field is too small.
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Srv6Error;

/// The RFC 4360 sub-type of a route target.
pub const RT_SUBTYPE: u8 = 0x02;

/// The administrator and assigned-number parts shared by the RD and RT
/// forms, before they are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admin {
    /// Type 0: 2-octet AS, 4-octet number.
    As2(u16, u32),
    /// Type 1: IPv4 address, 2-octet number.
    Ipv4(Ipv4Addr, u16),
    /// Type 2: 4-octet AS, 2-octet number.
    As4(u32, u16),
}

impl Admin {
    /// Parses `ASN:NN`, `A.B.C.D:NN` or `ASN4:NN`; `Err` holds the reason.
    fn parse(s: &str) -> Result<Admin, &'static str> {
        let (left, right) = s
            .split_once(':')
            .ok_or("expected ASN:NN, A.B.C.D:NN or ASN4:NN")?;
        if right.is_empty() || !right.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the assigned number after ':' must be decimal digits");
        }
        // More digits than any u64 holds are out of range, whatever they say.
        let number: u64 = right
            .parse()
            .map_err(|_| "the assigned number is out of range")?;
        if left.contains('.') {
            let addr: Ipv4Addr = left
                .parse()
                .map_err(|_| "the part before ':' is no IPv4 address (A.B.C.D)")?;
            let n = u16::try_from(number).map_err(
                |_| "after an IPv4 address the assigned number has 2 octets (0 to 65535)",
            )?;
            return Ok(Admin::Ipv4(addr, n));
        }
        if left.is_empty() || !left.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the part before ':' must be an AS number or an IPv4 address");
        }
        let asn: u64 = left
            .parse()
            .map_err(|_| "the AS number is out of range (0 to 4294967295)")?;
        if let Ok(asn) = u16::try_from(asn) {
            let n = u32::try_from(number).map_err(
                |_| "after a 2-octet AS number the assigned number has 4 octets (0 to 4294967295)",
            )?;
            return Ok(Admin::As2(asn, n));
        }
        let asn =
            u32::try_from(asn).map_err(|_| "the AS number is out of range (0 to 4294967295)")?;
        let n = u16::try_from(number).map_err(
            |_| "after a 4-octet AS number the assigned number has 2 octets (0 to 65535)",
        )?;
        Ok(Admin::As4(asn, n))
    }

    /// The type octet (RD: low octet of the type field) and the six value octets.
    fn layout(self) -> (u8, [u8; 6]) {
        let mut v = [0u8; 6];
        match self {
            Admin::As2(asn, n) => {
                v[..2].copy_from_slice(&asn.to_be_bytes());
                v[2..].copy_from_slice(&n.to_be_bytes());
                (0, v)
            }
            Admin::Ipv4(addr, n) => {
                v[..4].copy_from_slice(&addr.octets());
                v[4..].copy_from_slice(&n.to_be_bytes());
                (1, v)
            }
            Admin::As4(asn, n) => {
                v[..4].copy_from_slice(&asn.to_be_bytes());
                v[4..].copy_from_slice(&n.to_be_bytes());
                (2, v)
            }
        }
    }

    /// The value octets of a known type.
    fn from_layout(kind: u8, v: &[u8]) -> Option<Admin> {
        let u16_at = |i: usize| u16::from_be_bytes([v[i], v[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
        match kind {
            0 => Some(Admin::As2(u16_at(0), u32_at(2))),
            1 => Some(Admin::Ipv4(
                Ipv4Addr::new(v[0], v[1], v[2], v[3]),
                u16_at(4),
            )),
            2 => Some(Admin::As4(u32_at(0), u16_at(4))),
            _ => None,
        }
    }
}

impl fmt::Display for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admin::As2(asn, n) => write!(f, "{asn}:{n}"),
            Admin::Ipv4(addr, n) => write!(f, "{addr}:{n}"),
            Admin::As4(asn, n) => write!(f, "{asn}:{n}"),
        }
    }
}

/// A route distinguisher of type 0, 1 or 2, kept as its 8 wire octets
/// (RFC 4364 section 4.2): a 2-octet type, then the administrator and the
/// assigned number.
///
/// ```text
/// type 0: | 0 0 | AS (2 octets)   | assigned number (4 octets) |
/// type 1: | 0 1 | IPv4 (4 octets) | assigned number (2 octets) |
/// type 2: | 0 2 | AS (4 octets)   | assigned number (2 octets) |
/// ```
/// Ordered by the octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteDistinguisher([u8; 8]);

impl RouteDistinguisher {
    /// Type 0: a 2-octet AS and a 4-octet number.
    pub fn as2(asn: u16, number: u32) -> RouteDistinguisher {
        RouteDistinguisher::from_admin(Admin::As2(asn, number))
    }

    /// Type 1: an IPv4 address and a 2-octet number.
    pub fn ipv4(addr: Ipv4Addr, number: u16) -> RouteDistinguisher {
        RouteDistinguisher::from_admin(Admin::Ipv4(addr, number))
    }

    /// Type 2: a 4-octet AS and a 2-octet number.
    pub fn as4(asn: u32, number: u16) -> RouteDistinguisher {
        RouteDistinguisher::from_admin(Admin::As4(asn, number))
    }

    fn from_admin(a: Admin) -> RouteDistinguisher {
        let (kind, v) = a.layout();
        let mut b = [0u8; 8];
        b[1] = kind;
        b[2..].copy_from_slice(&v);
        RouteDistinguisher(b)
    }

    /// The 2-octet type: 0, 1 or 2.
    pub fn rd_type(&self) -> u16 {
        u16::from_be_bytes([self.0[0], self.0[1]])
    }

    /// The 8 octets on the wire.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// Reads 8 wire octets; refuses the types Tern cannot print in FRR's form.
    pub fn from_bytes(bytes: [u8; 8]) -> Result<RouteDistinguisher, Srv6Error> {
        if bytes[0] != 0 || bytes[1] > 2 {
            return Err(Srv6Error::BadWire {
                what: "route distinguisher",
                bytes,
                reason: "the type is not 0, 1 or 2",
            });
        }
        Ok(RouteDistinguisher(bytes))
    }

    fn admin(&self) -> Admin {
        // The constructors and from_bytes admit types 0 to 2 only.
        Admin::from_layout(self.0[1], &self.0[2..]).unwrap_or(Admin::As2(0, 0))
    }
}

impl FromStr for RouteDistinguisher {
    type Err = Srv6Error;

    fn from_str(s: &str) -> Result<RouteDistinguisher, Srv6Error> {
        Admin::parse(s)
            .map(RouteDistinguisher::from_admin)
            .map_err(|reason| Srv6Error::BadRd {
                value: s.to_owned(),
                reason,
            })
    }
}

impl fmt::Display for RouteDistinguisher {
    /// FRR's form: `65000:100`, `192.0.2.1:5`, `4200000000:7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.admin().fmt(f)
    }
}

/// A route target extended community (RFC 4360 section 4, sub-type 0x02) of
/// type 0x00 (2-octet AS), 0x01 (IPv4) or 0x02 (4-octet AS), kept as its 8
/// wire octets and ordered by them, as FRR keeps its lists.
///
/// ```text
/// | type (0x00/0x01/0x02) | 0x02 | administrator | assigned number |
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteTarget([u8; 8]);

impl RouteTarget {
    /// Type 0x00: a 2-octet AS and a 4-octet number.
    pub fn as2(asn: u16, number: u32) -> RouteTarget {
        RouteTarget::from_admin(Admin::As2(asn, number))
    }

    /// Type 0x01: an IPv4 address and a 2-octet number.
    pub fn ipv4(addr: Ipv4Addr, number: u16) -> RouteTarget {
        RouteTarget::from_admin(Admin::Ipv4(addr, number))
    }

    /// Type 0x02: a 4-octet AS and a 2-octet number.
    pub fn as4(asn: u32, number: u16) -> RouteTarget {
        RouteTarget::from_admin(Admin::As4(asn, number))
    }

    fn from_admin(a: Admin) -> RouteTarget {
        let (kind, v) = a.layout();
        let mut b = [0u8; 8];
        b[0] = kind;
        b[1] = RT_SUBTYPE;
        b[2..].copy_from_slice(&v);
        RouteTarget(b)
    }

    /// The 8 octets of the extended community.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// Reads an extended community: `Err` unless it is a route target of
    /// type 0x00, 0x01 or 0x02 (the transitive ones; the BGP part passes the
    /// other extended communities on untouched).
    pub fn from_bytes(bytes: [u8; 8]) -> Result<RouteTarget, Srv6Error> {
        if bytes[1] != RT_SUBTYPE {
            return Err(Srv6Error::BadWire {
                what: "route target",
                bytes,
                reason: "the sub-type is not 0x02 (route target)",
            });
        }
        if bytes[0] > 2 {
            return Err(Srv6Error::BadWire {
                what: "route target",
                bytes,
                reason: "the type is not 0x00, 0x01 or 0x02",
            });
        }
        Ok(RouteTarget(bytes))
    }

    fn admin(&self) -> Admin {
        // The constructors and from_bytes admit types 0 to 2 only.
        Admin::from_layout(self.0[0], &self.0[2..]).unwrap_or(Admin::As2(0, 0))
    }
}

impl FromStr for RouteTarget {
    type Err = Srv6Error;

    fn from_str(s: &str) -> Result<RouteTarget, Srv6Error> {
        Admin::parse(s)
            .map(RouteTarget::from_admin)
            .map_err(|reason| Srv6Error::BadRt {
                value: s.to_owned(),
                reason,
            })
    }
}

impl fmt::Display for RouteTarget {
    /// FRR's form in config lines: `65000:100`, `192.0.2.1:5`, `4200000000:7`
    /// (`show` output adds `RT:` in front; see [`RouteTarget::display_tagged`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.admin().fmt(f)
    }
}

impl RouteTarget {
    /// The form of FRR's `show bgp` output: `RT:65000:100`.
    pub fn display_tagged(&self) -> String {
        format!("RT:{self}")
    }
}

macro_rules! serde_as_text {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_text!(RouteDistinguisher);
serde_as_text!(RouteTarget);

#[cfg(test)]
#[path = "rd_tests.rs"]
mod tests;
