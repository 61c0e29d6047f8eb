//! Path attribute type codes (IANA "BGP Path Attributes") and the names the
//! RFCs give them, for logs.
//!
//! A module of its own at the bottom of the crate (it imports nothing from
//! it), so that the attribute codec ([`crate::PathAttribute`]) and the
//! RFC 7606 verdicts ([`crate::UpdateOutcome`]) share one list.

pub const ORIGIN: u8 = 1;
pub const AS_PATH: u8 = 2;
pub const NEXT_HOP: u8 = 3;
pub const MULTI_EXIT_DISC: u8 = 4;
pub const LOCAL_PREF: u8 = 5;
pub const ATOMIC_AGGREGATE: u8 = 6;
pub const AGGREGATOR: u8 = 7;
pub const COMMUNITIES: u8 = 8;
pub const ORIGINATOR_ID: u8 = 9;
pub const CLUSTER_LIST: u8 = 10;
pub const MP_REACH_NLRI: u8 = 14;
pub const MP_UNREACH_NLRI: u8 = 15;
pub const EXTENDED_COMMUNITIES: u8 = 16;
pub const AS4_PATH: u8 = 17;
pub const AS4_AGGREGATOR: u8 = 18;
pub const PMSI_TUNNEL: u8 = 22;
pub const TUNNEL_ENCAPSULATION: u8 = 23;
pub const IPV6_EXTENDED_COMMUNITIES: u8 = 25;
pub const LARGE_COMMUNITY: u8 = 32;
pub const OTC: u8 = 35;
pub const PREFIX_SID: u8 = 40;

/// The attribute's name as the RFCs write it, for logs.
pub fn name(code: u8) -> &'static str {
    match code {
        0 => "none",
        ORIGIN => "ORIGIN",
        AS_PATH => "AS_PATH",
        NEXT_HOP => "NEXT_HOP",
        MULTI_EXIT_DISC => "MULTI_EXIT_DISC",
        LOCAL_PREF => "LOCAL_PREF",
        ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        AGGREGATOR => "AGGREGATOR",
        COMMUNITIES => "COMMUNITIES",
        ORIGINATOR_ID => "ORIGINATOR_ID",
        CLUSTER_LIST => "CLUSTER_LIST",
        MP_REACH_NLRI => "MP_REACH_NLRI",
        MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
        EXTENDED_COMMUNITIES => "EXTENDED_COMMUNITIES",
        AS4_PATH => "AS4_PATH",
        AS4_AGGREGATOR => "AS4_AGGREGATOR",
        PMSI_TUNNEL => "PMSI_TUNNEL",
        TUNNEL_ENCAPSULATION => "Tunnel Encapsulation",
        IPV6_EXTENDED_COMMUNITIES => "IPv6 Address Specific Extended Community",
        LARGE_COMMUNITY => "LARGE_COMMUNITY",
        OTC => "OTC",
        PREFIX_SID => "BGP Prefix-SID",
        _ => "unknown",
    }
}
