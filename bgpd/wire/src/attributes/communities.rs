//! Community values: COMMUNITIES (RFC 1997), EXTENDED_COMMUNITIES (RFC 4360)
//! and LARGE_COMMUNITY (RFC 8092), each printed in FRR's notation.

use std::fmt;
use std::net::Ipv4Addr;

/// A standard community (RFC 1997): 4 octets, conventionally "AS:value".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// 0:0, which FRR calls "internet".
    pub const INTERNET: Community = Community(0);
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xffff_0000);
    pub const ACCEPT_OWN: Community = Community(0xffff_0001);
    pub const ROUTE_FILTER_TRANSLATED_V4: Community = Community(0xffff_0002);
    pub const ROUTE_FILTER_V4: Community = Community(0xffff_0003);
    pub const ROUTE_FILTER_TRANSLATED_V6: Community = Community(0xffff_0004);
    pub const ROUTE_FILTER_V6: Community = Community(0xffff_0005);
    pub const LLGR_STALE: Community = Community(0xffff_0006);
    pub const NO_LLGR: Community = Community(0xffff_0007);
    pub const ACCEPT_OWN_NEXTHOP: Community = Community(0xffff_0008);
    pub const BLACKHOLE: Community = Community(0xffff_029a);
    pub const NO_EXPORT: Community = Community(0xffff_ff01);
    pub const NO_ADVERTISE: Community = Community(0xffff_ff02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xffff_ff03);
    pub const NO_PEER: Community = Community(0xffff_ff04);

    /// "asn:value".
    pub fn new(asn: u16, value: u16) -> Self {
        Self(u32::from(asn) << 16 | u32::from(value))
    }

    /// The names FRR gives a well-known community: in text (and the
    /// "string" of JSON), and in the "list" of JSON.
    fn names(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Self::INTERNET => ("internet", "internet"),
            Self::GRACEFUL_SHUTDOWN => ("graceful-shutdown", "gracefulShutdown"),
            Self::ACCEPT_OWN => ("accept-own", "acceptown"),
            Self::ROUTE_FILTER_TRANSLATED_V4 => {
                ("route-filter-translated-v4", "routeFilterTranslatedV4")
            }
            Self::ROUTE_FILTER_V4 => ("route-filter-v4", "routeFilterV4"),
            Self::ROUTE_FILTER_TRANSLATED_V6 => {
                ("route-filter-translated-v6", "routeFilterTranslatedV6")
            }
            Self::ROUTE_FILTER_V6 => ("route-filter-v6", "routeFilterV6"),
            Self::LLGR_STALE => ("llgr-stale", "llgrStale"),
            Self::NO_LLGR => ("no-llgr", "noLlgr"),
            Self::ACCEPT_OWN_NEXTHOP => ("accept-own-nexthop", "acceptownnexthop"),
            Self::BLACKHOLE => ("blackhole", "blackhole"),
            Self::NO_EXPORT => ("no-export", "noExport"),
            Self::NO_ADVERTISE => ("no-advertise", "noAdvertise"),
            Self::NO_EXPORT_SUBCONFED => ("local-AS", "localAs"),
            Self::NO_PEER => ("no-peer", "noPeer"),
            _ => return None,
        })
    }

    /// The community as an item of FRR's JSON "list": a well-known one by
    /// its JSON name ("noExport"), any other as "asn:value".
    pub fn json_name(self) -> String {
        match self.names() {
            Some((_, json)) => json.to_owned(),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for Community {
    /// FRR's text: a well-known community by name ("no-export", "internet"
    /// for 0:0), any other as "asn:value".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.names() {
            Some((text, _)) => f.write_str(text),
            None => write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff),
        }
    }
}

/// An extended community (RFC 4360): 8 octets, a type (high bit: IANA
/// authority, next bit: non-transitive), a subtype for most types, a value.
///
/// ```text
/// +---------------+---------------+-------------------------------+
/// |  type high    |  type low     |                               |
/// |  (I T . . )   |  (subtype)    |     value (6 octets)          |
/// +---------------+---------------+                               |
/// |                                                               |
/// +---------------------------------------------------------------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// Subtype of a route target.
    pub const SUBTYPE_ROUTE_TARGET: u8 = 0x02;
    /// Subtype of a route origin ("site of origin").
    pub const SUBTYPE_ROUTE_ORIGIN: u8 = 0x03;

    /// Route target with a 2-octet AS (type 0x00).
    pub fn route_target_as2(asn: u16, number: u32) -> Self {
        let mut b = [0u8; 8];
        b[1] = Self::SUBTYPE_ROUTE_TARGET;
        b[2..4].copy_from_slice(&asn.to_be_bytes());
        b[4..8].copy_from_slice(&number.to_be_bytes());
        Self(b)
    }

    /// Route target with an IPv4 address (type 0x01).
    pub fn route_target_ipv4(addr: Ipv4Addr, number: u16) -> Self {
        let mut b = [0u8; 8];
        b[0] = 0x01;
        b[1] = Self::SUBTYPE_ROUTE_TARGET;
        b[2..6].copy_from_slice(&addr.octets());
        b[6..8].copy_from_slice(&number.to_be_bytes());
        Self(b)
    }

    /// Route target with a 4-octet AS (type 0x02, RFC 5668).
    pub fn route_target_as4(asn: u32, number: u16) -> Self {
        let mut b = [0u8; 8];
        b[0] = 0x02;
        b[1] = Self::SUBTYPE_ROUTE_TARGET;
        b[2..6].copy_from_slice(&asn.to_be_bytes());
        b[6..8].copy_from_slice(&number.to_be_bytes());
        Self(b)
    }

    pub fn type_high(&self) -> u8 {
        self.0[0]
    }

    pub fn subtype(&self) -> u8 {
        self.0[1]
    }

    /// The T bit clear: the community may cross AS boundaries.
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }
}

impl fmt::Display for ExtendedCommunity {
    /// "RT:65000:100", "SoO:192.0.2.1:7"; other types as hex octets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        let tag = match b[1] {
            Self::SUBTYPE_ROUTE_TARGET => Some("RT"),
            Self::SUBTYPE_ROUTE_ORIGIN => Some("SoO"),
            _ => None,
        };
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match (b[0], tag) {
            (0x00, Some(t)) => write!(f, "{t}:{}:{}", u16_at(2), u32_at(4)),
            (0x01, Some(t)) => {
                write!(
                    f,
                    "{t}:{}:{}",
                    Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                    u16_at(6)
                )
            }
            (0x02, Some(t)) => write!(f, "{t}:{}:{}", u32_at(2), u16_at(6)),
            _ => {
                for (i, octet) in b.iter().enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{octet:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// A large community (RFC 8092): three 4-octet numbers, "global:local1:local2".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data_1: u32,
    pub local_data_2: u32,
}

impl LargeCommunity {
    pub fn new(global_admin: u32, local_data_1: u32, local_data_2: u32) -> Self {
        Self {
            global_admin,
            local_data_1,
            local_data_2,
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data_1, self.local_data_2
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing() {
        assert_eq!(Community::new(65000, 100).to_string(), "65000:100");
        assert_eq!(Community::NO_EXPORT.to_string(), "no-export");
        assert_eq!(Community::NO_EXPORT.json_name(), "noExport");
        assert_eq!(Community::INTERNET.to_string(), "internet");
        assert_eq!(Community::new(0, 0).json_name(), "internet");
        assert_eq!(Community::new(0, 1).to_string(), "0:1");
        assert_eq!(Community::NO_EXPORT_SUBCONFED.to_string(), "local-AS");
        assert_eq!(Community::NO_EXPORT_SUBCONFED.json_name(), "localAs");
        assert_eq!(Community::BLACKHOLE.json_name(), "blackhole");
        assert_eq!(Community::GRACEFUL_SHUTDOWN.json_name(), "gracefulShutdown");
        assert_eq!(Community::new(65535, 5).to_string(), "route-filter-v6");
        assert_eq!(Community::new(65000, 100).json_name(), "65000:100");
        assert_eq!(
            ExtendedCommunity::route_target_as2(65000, 100).to_string(),
            "RT:65000:100"
        );
        assert_eq!(
            ExtendedCommunity::route_target_ipv4(Ipv4Addr::new(192, 0, 2, 1), 7).to_string(),
            "RT:192.0.2.1:7"
        );
        assert_eq!(
            ExtendedCommunity::route_target_as4(4_200_000_000, 9).to_string(),
            "RT:4200000000:9"
        );
        assert_eq!(
            ExtendedCommunity([0x43, 0x0c, 0, 0, 0, 0, 0, 8]).to_string(),
            "43:0c:00:00:00:00:00:08"
        );
        assert!(!ExtendedCommunity([0x43, 0x0c, 0, 0, 0, 0, 0, 8]).is_transitive());
        assert_eq!(LargeCommunity::new(65000, 1, 2).to_string(), "65000:1:2");
    }
}
