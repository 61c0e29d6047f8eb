//! Why a locator, a SID request, a route distinguisher or target, a SID
//! structure or a config line is refused.
//!
//! Every message names the value at fault and what would be accepted, so
//! that ternd can print `file:line: MESSAGE` and the operator knows what to
//! write instead.
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

/// A refused value, line or change of the SRv6 model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Srv6Error {
    /// A name (locator, VRF) that breaks the naming rule.
    #[error("{what} name \"{name}\": {reason}")]
    BadName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },

    /// A locator prefix with bits set past its length.
    #[error("locator prefix {given} has host bits set (the prefix is {normalised})")]
    HostBits { given: Ipv6Net, normalised: Ipv6Net },

    /// Locator lengths that do not add up.
    #[error("locator {name}: {reason}")]
    BadLocator { name: String, reason: String },

    /// A SID structure (RFC 9252 section 3.2.1) that breaks a rule.
    #[error("SID structure {structure}: {reason}")]
    BadStructure {
        structure: String,
        reason: &'static str,
    },

    /// A label value that does not fit the 20 bits of an MPLS label.
    #[error("label {0}: an MPLS label value has 20 bits (0 to 1048575)")]
    BadLabel(u32),

    /// A route distinguisher that does not parse or does not fit its type.
    #[error("route distinguisher \"{value}\": {reason}")]
    BadRd { value: String, reason: &'static str },

    /// A route target that does not parse or does not fit its type.
    #[error("route target \"{value}\": {reason}")]
    BadRt { value: String, reason: &'static str },

    /// Eight octets that are no route distinguisher or route target Tern knows.
    #[error("{what} {bytes:02x?}: {reason}")]
    BadWire {
        what: &'static str,
        bytes: [u8; 8],
        reason: &'static str,
    },

    /// An explicit SID function outside the locator's function bits.
    #[error("sid vpn export {function}: locator {locator} has {bits} function bits (1 to {max})")]
    FunctionOutOfRange {
        function: u32,
        locator: String,
        bits: u8,
        max: u32,
    },

    /// An explicit SID function whose label falls in the reserved MPLS range.
    #[error(
        "sid vpn export {function}: its label would be {label}, and labels 0 to 15 are reserved \
         (use {min} or more with {bits} function bits)"
    )]
    FunctionReserved {
        function: u32,
        label: u32,
        bits: u8,
        min: u32,
    },

    /// An explicit SID function another owner holds.
    #[error("sid vpn export {function}: SID {sid} is held by {owner}")]
    FunctionTaken {
        function: u32,
        sid: Ipv6Addr,
        owner: String,
    },

    /// A per-VRF SID asked with a per-family one, or the other way round
    /// (FRR 9 refuses both at once too).
    #[error("a per-vrf SID and per-family SIDs are mutually exclusive: remove {present} first")]
    SidExclusive { present: &'static str },

    /// No free function left in the locator for an automatic SID.
    #[error("sid vpn export auto for {owner}: locator {locator} has no free SID left")]
    LocatorFull { owner: String, locator: String },

    /// A VRF table id that cannot be one.
    #[error("table {table}: {reason}")]
    BadTable { table: u32, reason: &'static str },

    /// A table id two VRFs would share.
    #[error("table {table} is already the table of vrf {other}")]
    TableInUse { table: u32, other: String },

    /// A prefix of a `network` line with host bits set.
    #[error("network {given} has host bits set (the prefix is {normalised})")]
    NetworkHostBits {
        given: ipnet::IpNet,
        normalised: ipnet::IpNet,
    },

    /// A `network` line of the other family than its address-family.
    #[error("network {network} is not an {family} prefix")]
    NetworkFamily {
        network: ipnet::IpNet,
        family: &'static str,
    },

    /// A config word that is not one of those expected.
    #[error("unknown word \"{word}\": expected {expected}")]
    UnknownWord {
        word: String,
        expected: &'static str,
    },

    /// A config line that stops too early.
    #[error("incomplete line: expected {expected}")]
    MissingWord { expected: &'static str },

    /// A config value that does not parse.
    #[error("{what} \"{value}\": expected {expected}")]
    BadValue {
        what: &'static str,
        value: String,
        expected: &'static str,
    },

    /// A `no ...` line for something that is not configured.
    #[error("{0} is not configured")]
    NotConfigured(String),

    /// A line that belongs to another config block.
    #[error("\"{line}\" is not valid {context}")]
    WrongContext { line: String, context: &'static str },

    /// A second `router bgp` ASN for one VRF, or a VRF instance with another
    /// ASN than the default instance's.
    #[error("router bgp {asn} vrf {vrf}: the VRF's instance is router bgp {existing}")]
    OtherAsn {
        asn: u32,
        vrf: String,
        existing: u32,
    },
}
