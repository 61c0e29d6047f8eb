//! Address families: AFI (RFC 4760, IANA "Address Family Numbers") and SAFI
//! (IANA "Subsequent Address Family Identifiers"), and the pair of both.
//!
//! Both are open newtypes rather than enums: a peer may name any value, and a
//! value this crate does not model must still round-trip. [`Family`] is the
//! closed set of families Tern routes, with their AFI/SAFI.

use std::{fmt, net::IpAddr};

use ipnet::IpNet;

/// Address Family Identifier (16 bits on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Afi(pub u16);

impl Afi {
    pub const IPV4: Afi = Afi(1);
    pub const IPV6: Afi = Afi(2);
    pub const L2VPN: Afi = Afi(25);
}

impl fmt::Display for Afi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Afi::IPV4 => f.write_str("IPv4"),
            Afi::IPV6 => f.write_str("IPv6"),
            Afi::L2VPN => f.write_str("L2VPN"),
            Afi(other) => write!(f, "AFI {other}"),
        }
    }
}

/// Subsequent Address Family Identifier (8 bits on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Safi(pub u8);

impl Safi {
    pub const UNICAST: Safi = Safi(1);
    pub const MULTICAST: Safi = Safi(2);
    /// RFC 8277 labeled unicast.
    pub const LABELED_UNICAST: Safi = Safi(4);
    pub const EVPN: Safi = Safi(70);
    /// RFC 4364 / RFC 4659 MPLS-labeled VPN address ("VPNv4", "VPNv6").
    pub const MPLS_VPN: Safi = Safi(128);
    pub const FLOWSPEC: Safi = Safi(133);
}

impl fmt::Display for Safi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The words FRR uses in "IPv4 Unicast", "IPv6 VPN", "L2VPN EVPN".
        match *self {
            Safi::UNICAST => f.write_str("Unicast"),
            Safi::MULTICAST => f.write_str("Multicast"),
            Safi::LABELED_UNICAST => f.write_str("Labeled Unicast"),
            Safi::EVPN => f.write_str("EVPN"),
            Safi::MPLS_VPN => f.write_str("VPN"),
            Safi::FLOWSPEC => f.write_str("Flowspec"),
            Safi(other) => write!(f, "SAFI {other}"),
        }
    }
}

/// An AFI/SAFI pair, the unit that capabilities, MP_REACH_NLRI and End-of-RIB name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AfiSafi {
    pub afi: Afi,
    pub safi: Safi,
}

impl AfiSafi {
    pub const IPV4_UNICAST: AfiSafi = AfiSafi::new(Afi::IPV4, Safi::UNICAST);
    pub const IPV6_UNICAST: AfiSafi = AfiSafi::new(Afi::IPV6, Safi::UNICAST);
    pub const IPV4_MULTICAST: AfiSafi = AfiSafi::new(Afi::IPV4, Safi::MULTICAST);
    pub const IPV6_MULTICAST: AfiSafi = AfiSafi::new(Afi::IPV6, Safi::MULTICAST);
    pub const IPV4_VPN: AfiSafi = AfiSafi::new(Afi::IPV4, Safi::MPLS_VPN);
    pub const IPV6_VPN: AfiSafi = AfiSafi::new(Afi::IPV6, Safi::MPLS_VPN);

    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Self { afi, safi }
    }

    /// The NLRI encoding this crate decodes for this family, if it models it.
    pub(crate) fn nlri_kind(self) -> Option<NlriKind> {
        match (self.afi, self.safi) {
            (Afi::IPV4, Safi::UNICAST | Safi::MULTICAST) => Some(NlriKind::Ipv4),
            (Afi::IPV6, Safi::UNICAST | Safi::MULTICAST) => Some(NlriKind::Ipv6),
            (Afi::IPV4, Safi::MPLS_VPN) => Some(NlriKind::Vpnv4),
            (Afi::IPV6, Safi::MPLS_VPN) => Some(NlriKind::Vpnv6),
            _ => None,
        }
    }

    /// Whether MP_REACH_NLRI/MP_UNREACH_NLRI of this family decode into typed
    /// routes (otherwise they are kept as raw attributes).
    pub fn is_modelled(self) -> bool {
        self.nlri_kind().is_some()
    }
}

impl fmt::Display for AfiSafi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.afi, self.safi)
    }
}

/// The four NLRI encodings this crate models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NlriKind {
    /// RFC 4271 prefix: length in bits, then the significant octets.
    Ipv4,
    Ipv6,
    /// RFC 4364: label (3 octets) + route distinguisher (8) + IPv4 prefix.
    Vpnv4,
    /// RFC 4659: label + route distinguisher + IPv6 prefix.
    Vpnv6,
}

/// The address families Tern routes, by the names FRR gives them in its
/// configuration (`ipv4 unicast`), its JSON (`ipv4Unicast`) and its titles
/// (`IPv4 Unicast`). The control protocol carries them as FRR's JSON keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "camelCase")
)]
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

    /// FRR's JSON key (`ipv4Unicast`).
    pub fn key(self) -> &'static str {
        match self {
            Family::Ipv4Unicast => "ipv4Unicast",
            Family::Ipv6Unicast => "ipv6Unicast",
        }
    }

    /// FRR's title (`IPv4 Unicast`).
    pub fn title(self) -> &'static str {
        match self {
            Family::Ipv4Unicast => "IPv4 Unicast",
            Family::Ipv6Unicast => "IPv6 Unicast",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_frr_wording() {
        assert_eq!(AfiSafi::IPV4_UNICAST.to_string(), "IPv4 Unicast");
        assert_eq!(AfiSafi::IPV6_VPN.to_string(), "IPv6 VPN");
        assert_eq!(
            AfiSafi::new(Afi::L2VPN, Safi::EVPN).to_string(),
            "L2VPN EVPN"
        );
        assert_eq!(AfiSafi::new(Afi(9), Safi(9)).to_string(), "AFI 9 SAFI 9");
    }

    #[test]
    fn modelled_families() {
        assert!(AfiSafi::IPV4_VPN.is_modelled());
        assert!(AfiSafi::IPV6_MULTICAST.is_modelled());
        assert!(!AfiSafi::new(Afi::L2VPN, Safi::EVPN).is_modelled());
        assert!(!AfiSafi::new(Afi::IPV4, Safi::LABELED_UNICAST).is_modelled());
    }
}
