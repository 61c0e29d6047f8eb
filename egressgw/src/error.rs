//! Why a policy, a config line, a change to the policy table or a SNAT port
//! request is refused.
//!
//! Every message names the value at fault and, where there is one, what would
//! be accepted, so that ternd can print `file:line: MESSAGE` and the operator
//! knows what to write instead.
use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{Gateway, MAX_GATEWAYS, MAX_NAMESPACES, MAX_PREFIXES};
use crate::table::MAX_POLICIES;

/// A refused policy, config line or policy-table change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The policy name breaks the naming rule.
    #[error("policy name \"{name}\": {reason}")]
    BadName { name: String, reason: &'static str },

    /// A namespace name that Kubernetes would not accept.
    #[error("namespace \"{name}\": {reason}")]
    BadNamespace { name: String, reason: &'static str },

    /// A prefix with host bits set.
    #[error("{what} {given} has host bits set (the prefix is {normalised})")]
    HostBits {
        what: &'static str,
        given: IpNet,
        normalised: IpNet,
    },

    /// A prefix inside `::ffff:0:0/96`, where the datapath keeps IPv4.
    #[error(
        "{what} {prefix} is an IPv4-mapped IPv6 prefix (inside ::ffff:0:0/96): write the IPv4 prefix"
    )]
    MappedPrefix { what: &'static str, prefix: IpNet },

    /// The same item twice in one policy (`what` is the whole config item).
    #[error("{0} is given twice")]
    Duplicate(String),

    /// An exclude outside every destination of the policy.
    #[error("exclude {0} lies in no destination of the policy")]
    ExcludeOutside(IpNet),

    /// An exclude equal to a destination.
    #[error("exclude {0} is also a destination (remove the destination instead)")]
    ExcludeIsDestination(IpNet),

    /// A gateway or egress address that cannot be one.
    #[error("{what} {addr}: the address is {reason}")]
    BadAddress {
        what: &'static str,
        addr: IpAddr,
        reason: &'static str,
    },

    /// A gateway whose egress IP serves no destination of the policy.
    #[error("{gateway}: the egress-ip is {family} but the policy has no {family} destination")]
    GatewayFamily {
        gateway: Gateway,
        family: &'static str,
    },

    /// One egress IP on two gateway nodes of one policy.
    #[error("egress-ip {egress_ip} is given to two gateway nodes ({first} and {second})")]
    EgressIpTwoNodes {
        egress_ip: IpAddr,
        first: IpAddr,
        second: IpAddr,
    },

    /// More prefixes (match source, destination, exclude) than a policy may have.
    #[error(
        "{count} prefixes: a policy has at most {} match source, destination and exclude prefixes",
        MAX_PREFIXES
    )]
    TooManyPrefixes { count: usize },

    /// More gateways than a policy may have.
    #[error("{count} gateways: a policy has at most {}", MAX_GATEWAYS)]
    TooManyGateways { count: usize },

    /// More namespaces than a policy may match.
    #[error("{count} namespaces: a policy matches at most {}", MAX_NAMESPACES)]
    TooManyNamespaces { count: usize },

    /// An egress IP another policy serves from another node.
    #[error("egress-ip {egress_ip} is served by gateway {node} in policy {owner}")]
    EgressIpInUse {
        egress_ip: IpAddr,
        node: IpAddr,
        owner: String,
    },

    /// The same prefix in two policies that may select the same pod: which
    /// policy takes the traffic would be undecided.
    #[error(
        "{what} {prefix} is also {other_what} of policy {other}, and both may select the same pods \
         ({why}): which one takes that traffic would be undecided"
    )]
    Ambiguous {
        what: &'static str,
        prefix: IpNet,
        other_what: &'static str,
        other: String,
        why: String,
    },

    /// A policy of the table refused, with its name.
    #[error("policy {name}: {error}")]
    InPolicy {
        name: String,
        error: Box<EgressError>,
    },

    /// A name the table does not hold.
    #[error("no egress-gateway policy named {0}")]
    UnknownPolicy(String),

    /// A name given twice in one `apply`.
    #[error("policy {0} is given twice")]
    PolicyGivenTwice(String),

    /// A name both upserted and deleted in one `apply`.
    #[error("policy {0} is both upserted and deleted")]
    UpsertAndDelete(String),

    /// More policies than the table holds.
    #[error("{count} policies: the table holds at most {}", MAX_POLICIES)]
    TooManyPolicies { count: usize },

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

    /// A `no ...` line for something the policy does not have.
    #[error("{0} is not configured")]
    NotConfigured(String),

    /// A line after the block's `exit`.
    #[error("line after exit")]
    AfterExit,

    /// A SNAT port range that is empty or holds port 0.
    #[error("port-range {min} {max}: expected 1 <= MIN <= MAX <= 65535")]
    BadPortRange { min: u32, max: u32 },

    /// A NAT timeout out of range.
    #[error("timeout {seconds}: expected 1 to {max} seconds")]
    BadTimeout { seconds: u32, max: u32 },
}

impl EgressError {
    /// Wraps `self` with the name of the policy it is about.
    pub fn in_policy(self, name: &str) -> EgressError {
        EgressError::InPolicy {
            name: name.to_owned(),
            error: Box::new(self),
        }
    }
}
