//! The address families Tern routes, by their configuration names, and
//! their AFI/SAFI on the wire.
use std::net::IpAddr;

use ipnet::IpNet;
use tern_bgp_wire::AfiSafi;

/// The address families Tern speaks today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Ipv4Unicast,
    Ipv6Unicast,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    /// `ipv4 unicast` / `ipv6 unicast`.
    pub fn keyword(self) -> &'static str {
        match self {
            Family::Ipv4Unicast => "ipv4 unicast",
            Family::Ipv6Unicast => "ipv6 unicast",
        }
    }

    /// The family whose routes share the address's version.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4Unicast,
            IpAddr::V6(_) => Family::Ipv6Unicast,
        }
    }

    /// Whether `net` is of this family's address version.
    pub fn holds(self, net: &IpNet) -> bool {
        matches!(
            (self, net),
            (Family::Ipv4Unicast, IpNet::V4(_)) | (Family::Ipv6Unicast, IpNet::V6(_))
        )
    }
}

/// The wire family of a configured family.
pub fn afi_safi(family: Family) -> AfiSafi {
    match family {
        Family::Ipv4Unicast => AfiSafi::IPV4_UNICAST,
        Family::Ipv6Unicast => AfiSafi::IPV6_UNICAST,
    }
}

/// The configured family of a wire family, if Tern routes it.
pub fn family_of(afi_safi: AfiSafi) -> Option<Family> {
    match afi_safi {
        AfiSafi::IPV4_UNICAST => Some(Family::Ipv4Unicast),
        AfiSafi::IPV6_UNICAST => Some(Family::Ipv6Unicast),
        _ => None,
    }
}
