//! The policy model: which pods (source prefixes, namespaces) to which
//! destinations leave through which gateways with which egress IPs, with the
//! limits and the checks every policy passes before ternd programs it.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::EgressError;

/// Most gateways (lines `gateway ... egress-ip ...`) one policy may have.
pub const MAX_GATEWAYS: usize = 64;
/// Most prefixes one policy may have: match sources, destinations and
/// excludes together.
pub const MAX_PREFIXES: usize = 1024;
/// Most namespaces one policy may match.
pub const MAX_NAMESPACES: usize = 256;
/// Longest policy name.
pub const MAX_NAME_LEN: usize = 63;
/// Longest namespace name (an RFC 1123 label, as Kubernetes requires).
pub const MAX_NAMESPACE_LEN: usize = 63;

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    pub fn of_net(net: &IpNet) -> Family {
        Family::of(net.addr())
    }

    /// `IPv4` or `IPv6`, as messages write it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }

    /// The prefix holding every address of the family (`0.0.0.0/0`, `::/0`).
    pub fn any(self) -> IpNet {
        match self {
            Family::Ipv4 => IpNet::V4(ipnet::Ipv4Net::default()),
            Family::Ipv6 => IpNet::V6(ipnet::Ipv6Net::default()),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One gateway of a policy: the node that forwards the traffic, and the
/// address its packets leave with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Gateway {
    /// The gateway node's address (the tunnel endpoint; the key of its health).
    pub node: IpAddr,
    /// The source address traffic is translated to on the gateway; the
    /// gateway announces it by BGP while it serves it.
    pub egress_ip: IpAddr,
}

impl Gateway {
    pub fn new(node: IpAddr, egress_ip: IpAddr) -> Gateway {
        Gateway { node, egress_ip }
    }

    /// The family of the traffic this gateway takes (its egress IP's).
    pub fn family(&self) -> Family {
        Family::of(self.egress_ip)
    }
}

impl fmt::Display for Gateway {
    /// As in the config: `gateway 198.51.100.12 egress-ip 203.0.113.10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gateway {} egress-ip {}", self.node, self.egress_ip)
    }
}

/// A pod of this node, as the plan needs it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodInfo {
    pub addr: IpAddr,
    /// Its Kubernetes namespace (CNI_ARGS' K8S_POD_NAMESPACE), if known.
    #[serde(default)]
    pub namespace: Option<String>,
}

impl PodInfo {
    pub fn new(addr: IpAddr, namespace: Option<&str>) -> PodInfo {
        PodInfo {
            addr,
            namespace: namespace.map(str::to_owned),
        }
    }
}

/// What a policy lacks to be in force. An incomplete policy is valid
/// config (it is being written) and programs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Incomplete {
    /// Neither `match source` nor `match namespace`: it selects no pod.
    NoMatch,
    /// No `destination`.
    NoDestination,
    /// No `gateway`.
    NoGateway,
}

impl Incomplete {
    pub fn as_str(self) -> &'static str {
        match self {
            Incomplete::NoMatch => "no match source or match namespace line: it selects no pod",
            Incomplete::NoDestination => "no destination",
            Incomplete::NoGateway => "no gateway",
        }
    }
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An egress gateway policy: the traffic of the pods it selects to its
/// destinations (less its excludes) leaves through one of its gateways.
///
/// A pod is selected when its address lies in a `match source` prefix (any
/// address if there is none) and its namespace is a `match namespace` (any
/// namespace if there is none); a policy with neither selects no pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    #[serde(default)]
    pub match_sources: Vec<IpNet>,
    #[serde(default)]
    pub match_namespaces: Vec<String>,
    #[serde(default)]
    pub destinations: Vec<IpNet>,
    #[serde(default)]
    pub excludes: Vec<IpNet>,
    #[serde(default)]
    pub gateways: Vec<Gateway>,
}

impl Policy {
    /// A policy with nothing but its name (valid, incomplete).
    pub fn new(name: impl Into<String>) -> Policy {
        Policy {
            name: name.into(),
            match_sources: Vec::new(),
            match_namespaces: Vec::new(),
            destinations: Vec::new(),
            excludes: Vec::new(),
            gateways: Vec::new(),
        }
    }

    /// Checks every rule of a policy; the first broken one is the error.
    pub fn validate(&self) -> Result<(), EgressError> {
        check_name(&self.name)?;
        let prefixes = self.match_sources.len() + self.destinations.len() + self.excludes.len();
        if prefixes > MAX_PREFIXES {
            return Err(EgressError::TooManyPrefixes { count: prefixes });
        }
        if self.gateways.len() > MAX_GATEWAYS {
            return Err(EgressError::TooManyGateways {
                count: self.gateways.len(),
            });
        }
        if self.match_namespaces.len() > MAX_NAMESPACES {
            return Err(EgressError::TooManyNamespaces {
                count: self.match_namespaces.len(),
            });
        }
        check_prefixes("match source", &self.match_sources)?;
        let mut namespaces = BTreeSet::new();
        for ns in &self.match_namespaces {
            check_namespace(ns)?;
            if !namespaces.insert(ns.as_str()) {
                return Err(EgressError::Duplicate(format!("match namespace {ns}")));
            }
        }
        let destinations = check_prefixes("destination", &self.destinations)?;
        check_prefixes("exclude", &self.excludes)?;
        for e in &self.excludes {
            if destinations.contains(e) {
                return Err(EgressError::ExcludeIsDestination(*e));
            }
            if !has_supernet_in(e, &destinations) {
                return Err(EgressError::ExcludeOutside(*e));
            }
        }
        let mut gateways = BTreeSet::new();
        let mut egress_nodes = BTreeMap::new();
        for g in &self.gateways {
            check_address("gateway", g.node)?;
            check_address("egress-ip", g.egress_ip)?;
            if !gateways.insert(*g) {
                return Err(EgressError::Duplicate(g.to_string()));
            }
            if let Some(&first) = egress_nodes.get(&g.egress_ip) {
                return Err(EgressError::EgressIpTwoNodes {
                    egress_ip: g.egress_ip,
                    first,
                    second: g.node,
                });
            }
            egress_nodes.insert(g.egress_ip, g.node);
            if !self.destinations.is_empty() && !self.has_destination_of(g.family()) {
                return Err(EgressError::GatewayFamily {
                    gateway: *g,
                    family: g.family().name(),
                });
            }
        }
        Ok(())
    }

    /// What the policy lacks to be in force; empty when it is complete.
    pub fn incomplete(&self) -> Vec<Incomplete> {
        let mut missing = Vec::new();
        if self.selects_nothing() {
            missing.push(Incomplete::NoMatch);
        }
        if self.destinations.is_empty() {
            missing.push(Incomplete::NoDestination);
        }
        if self.gateways.is_empty() {
            missing.push(Incomplete::NoGateway);
        }
        missing
    }

    /// Whether the policy has a match, a destination and a gateway.
    pub fn is_complete(&self) -> bool {
        self.incomplete().is_empty()
    }

    /// No `match` line at all: the policy selects no pod.
    pub fn selects_nothing(&self) -> bool {
        self.match_sources.is_empty() && self.match_namespaces.is_empty()
    }

    /// Whether the policy selects `pod` (see [`Policy`]).
    pub fn selects(&self, pod: &PodInfo) -> bool {
        if self.selects_nothing() {
            return false;
        }
        let source = self.match_sources.is_empty()
            || self.match_sources.iter().any(|s| s.contains(&pod.addr));
        let namespace = self.match_namespaces.is_empty()
            || pod
                .namespace
                .as_ref()
                .is_some_and(|ns| self.match_namespaces.contains(ns));
        source && namespace
    }

    /// Whether some destination is of `family`.
    pub fn has_destination_of(&self, family: Family) -> bool {
        self.destinations
            .iter()
            .any(|d| Family::of_net(d) == family)
    }

    /// The gateways whose egress IP is of `family`, in the policy's order.
    pub fn gateways_of(&self, family: Family) -> impl Iterator<Item = &Gateway> {
        self.gateways.iter().filter(move |g| g.family() == family)
    }

    /// Whether the policy may select a pod of `family`: it has a match line
    /// and, if it matches by source, a source prefix of that family.
    pub fn may_select_family(&self, family: Family) -> bool {
        !self.selects_nothing()
            && (self.match_sources.is_empty()
                || self
                    .match_sources
                    .iter()
                    .any(|s| Family::of_net(s) == family))
    }
}

/// Whether some prefix strictly containing `net` is in `set`.
fn has_supernet_in(net: &IpNet, set: &BTreeSet<IpNet>) -> bool {
    let mut up = net.supernet();
    while let Some(s) = up {
        if set.contains(&s) {
            return true;
        }
        up = s.supernet();
    }
    false
}

/// Each prefix checked, none twice; the set of them.
fn check_prefixes(what: &'static str, nets: &[IpNet]) -> Result<BTreeSet<IpNet>, EgressError> {
    let mut seen = BTreeSet::new();
    for n in nets {
        check_prefix(what, n)?;
        if !seen.insert(*n) {
            return Err(EgressError::Duplicate(format!("{what} {n}")));
        }
    }
    Ok(seen)
}

/// Name rule: 1..=63 characters of `A-Z a-z 0-9 . _ -`, the first a letter or digit.
pub fn check_name(name: &str) -> Result<(), EgressError> {
    let bad = |reason| {
        Err(EgressError::BadName {
            name: name.to_owned(),
            reason,
        })
    };
    let Some(first) = name.chars().next() else {
        return bad("a name has 1 to 63 characters");
    };
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 63 characters");
    }
    if !first.is_ascii_alphanumeric() {
        return bad("must start with a letter or a digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("may hold only letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// Namespace rule (Kubernetes', an RFC 1123 label): 1..=63 characters of
/// `a-z 0-9 -`, starting and ending with a letter or digit.
pub fn check_namespace(name: &str) -> Result<(), EgressError> {
    let bad = |reason| {
        Err(EgressError::BadNamespace {
            name: name.to_owned(),
            reason,
        })
    };
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().last()) else {
        return bad("a namespace has 1 to 63 characters");
    };
    if name.len() > MAX_NAMESPACE_LEN {
        return bad("longer than 63 characters");
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !name.chars().all(|c| alnum(c) || c == '-') {
        return bad("may hold only lower-case letters, digits and '-'");
    }
    if !alnum(first) || !alnum(last) {
        return bad("must start and end with a letter or a digit");
    }
    Ok(())
}

/// A prefix is normalised (host bits zero) and not IPv4-mapped IPv6.
pub fn check_prefix(what: &'static str, net: &IpNet) -> Result<(), EgressError> {
    let normalised = net.trunc();
    if normalised != *net {
        return Err(EgressError::HostBits {
            what,
            given: *net,
            normalised,
        });
    }
    if let IpNet::V6(n) = net
        && n.prefix_len() >= 96
        && n.network().to_ipv4_mapped().is_some()
    {
        return Err(EgressError::MappedPrefix { what, prefix: *net });
    }
    Ok(())
}

/// Why `addr` cannot be a gateway node or an egress IP, if it cannot.
fn address_fault(addr: IpAddr) -> Option<&'static str> {
    if addr.is_unspecified() {
        return Some("unspecified");
    }
    if addr.is_multicast() {
        return Some("multicast");
    }
    if addr.is_loopback() {
        return Some("loopback");
    }
    match addr {
        IpAddr::V4(a) if a.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(a) if a.is_link_local() => Some("link-local"),
        IpAddr::V6(a) if a.is_unicast_link_local() => Some("link-local"),
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => {
            Some("IPv4-mapped IPv6 (write the IPv4 address)")
        }
        _ => None,
    }
}

/// A gateway node or egress address: unicast, routable, not IPv4-mapped.
pub fn check_address(what: &'static str, addr: IpAddr) -> Result<(), EgressError> {
    match address_fault(addr) {
        Some(reason) => Err(EgressError::BadAddress { what, addr, reason }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// The example policy of the issue.
    fn legacy_db() -> Policy {
        let mut p = Policy::new("legacy-db");
        p.match_sources.push(net("10.244.0.0/16"));
        p.match_namespaces.push("finance".into());
        p.destinations.push(net("192.0.2.128/25"));
        p.excludes.push(net("192.0.2.200/32"));
        p.gateways
            .push(Gateway::new(ip("198.51.100.12"), ip("203.0.113.10")));
        p
    }

    fn refused(p: &Policy) -> String {
        p.validate().unwrap_err().to_string()
    }

    #[test]
    fn example_is_valid_and_complete() {
        let p = legacy_db();
        assert_eq!(p.validate(), Ok(()));
        assert!(p.is_complete());
        let empty = Policy::new("x");
        assert_eq!(empty.validate(), Ok(()));
        assert_eq!(
            empty.incomplete(),
            [
                Incomplete::NoMatch,
                Incomplete::NoDestination,
                Incomplete::NoGateway
            ]
        );
    }

    #[test]
    fn names_and_namespaces() {
        for good in ["a", "legacy-db", "db.1_x", "0", &"a".repeat(63)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        assert_eq!(
            check_name("").unwrap_err().to_string(),
            "policy name \"\": a name has 1 to 63 characters"
        );
        assert_eq!(
            check_name("_x").unwrap_err().to_string(),
            "policy name \"_x\": must start with a letter or a digit"
        );
        assert_eq!(
            check_name("a b").unwrap_err().to_string(),
            "policy name \"a b\": may hold only letters, digits, '.', '_' and '-'"
        );
        assert!(check_name(&"a".repeat(64)).is_err());
        for good in ["finance", "kube-system", "a", "0x", &"n".repeat(63)] {
            assert!(check_namespace(good).is_ok(), "{good}");
        }
        for (bad, reason) in [
            ("", "a namespace has 1 to 63 characters"),
            (
                "Finance",
                "may hold only lower-case letters, digits and '-'",
            ),
            (
                "fin_ance",
                "may hold only lower-case letters, digits and '-'",
            ),
            ("-fin", "must start and end with a letter or a digit"),
            ("fin-", "must start and end with a letter or a digit"),
        ] {
            assert_eq!(
                check_namespace(bad).unwrap_err().to_string(),
                format!("namespace \"{bad}\": {reason}")
            );
        }
        assert!(check_namespace(&"n".repeat(64)).is_err());
    }

    #[test]
    fn prefixes() {
        let mut p = legacy_db();
        p.destinations[0] = net("192.0.2.129/25");
        assert_eq!(
            refused(&p),
            "destination 192.0.2.129/25 has host bits set (the prefix is 192.0.2.128/25)"
        );
        let mut p = legacy_db();
        p.match_sources.push(net("10.244.0.0/16"));
        assert_eq!(refused(&p), "match source 10.244.0.0/16 is given twice");
        let mut p = legacy_db();
        p.match_sources.push(net("::ffff:10.0.0.0/104"));
        assert_eq!(
            refused(&p),
            "match source ::ffff:10.0.0.0/104 is an IPv4-mapped IPv6 prefix (inside ::ffff:0:0/96): write the IPv4 prefix"
        );
        // ::/0 holds the mapped range but is not inside it.
        let mut p = legacy_db();
        p.match_sources.push(net("::/0"));
        assert_eq!(p.validate(), Ok(()));
        let mut p = legacy_db();
        p.match_namespaces.push("finance".into());
        assert_eq!(refused(&p), "match namespace finance is given twice");
    }

    #[test]
    fn excludes() {
        let mut p = legacy_db();
        p.excludes.push(net("192.0.2.0/32"));
        assert_eq!(
            refused(&p),
            "exclude 192.0.2.0/32 lies in no destination of the policy"
        );
        let mut p = legacy_db();
        p.excludes.push(net("192.0.2.128/25"));
        assert_eq!(
            refused(&p),
            "exclude 192.0.2.128/25 is also a destination (remove the destination instead)"
        );
        let mut p = legacy_db();
        p.excludes.push(net("192.0.2.200/32"));
        assert_eq!(refused(&p), "exclude 192.0.2.200/32 is given twice");
        // Inside any destination, at any depth; IPv6 too.
        let mut p = legacy_db();
        p.destinations.push(net("2001:db8::/32"));
        p.excludes.push(net("2001:db8:1::/48"));
        p.gateways
            .push(Gateway::new(ip("198.51.100.12"), ip("2001:db8:ff::10")));
        assert_eq!(p.validate(), Ok(()));
        p.excludes.push(net("2001:db9::/48"));
        assert!(refused(&p).contains("lies in no destination"));
    }

    #[test]
    fn gateways() {
        let mut p = legacy_db();
        p.gateways.push(p.gateways[0]);
        assert_eq!(
            refused(&p),
            "gateway 198.51.100.12 egress-ip 203.0.113.10 is given twice"
        );
        let mut p = legacy_db();
        p.gateways
            .push(Gateway::new(ip("198.51.100.13"), ip("203.0.113.10")));
        assert_eq!(
            refused(&p),
            "egress-ip 203.0.113.10 is given to two gateway nodes (198.51.100.12 and 198.51.100.13)"
        );
        // A node may have two egress IPs.
        let mut p = legacy_db();
        p.gateways
            .push(Gateway::new(ip("198.51.100.12"), ip("203.0.113.11")));
        assert_eq!(p.validate(), Ok(()));
        // The egress IP's family must be one of the destinations'.
        p.gateways
            .push(Gateway::new(ip("198.51.100.12"), ip("2001:db8::10")));
        assert_eq!(
            refused(&p),
            "gateway 198.51.100.12 egress-ip 2001:db8::10: the egress-ip is IPv6 but the policy has no IPv6 destination"
        );
        // Without destinations (being written) the rule waits.
        p.destinations.clear();
        p.excludes.clear();
        assert_eq!(p.validate(), Ok(()));
        // An IPv6 node may carry IPv4 traffic.
        let mut p = legacy_db();
        p.gateways[0].node = ip("2001:db8:1::12");
        assert_eq!(p.validate(), Ok(()));
        for (addr, reason) in [
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("255.255.255.255", "the broadcast address"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            (
                "::ffff:203.0.113.10",
                "IPv4-mapped IPv6 (write the IPv4 address)",
            ),
        ] {
            let mut p = legacy_db();
            p.gateways[0].egress_ip = ip(addr);
            p.destinations.push(net("2001:db8::/32"));
            assert_eq!(
                refused(&p),
                format!("egress-ip {addr}: the address is {reason}")
            );
            let mut p = legacy_db();
            p.gateways[0].node = ip(addr);
            assert_eq!(
                refused(&p),
                format!("gateway {addr}: the address is {reason}")
            );
        }
    }

    #[test]
    fn limits() {
        let mut p = legacy_db();
        p.destinations = (0..MAX_PREFIXES as u32)
            .map(|i| IpNet::new(IpAddr::from((0x0a00_0000 + (i << 8)).to_be_bytes()), 24).unwrap())
            .collect();
        p.excludes.clear();
        assert_eq!(
            refused(&p),
            "1025 prefixes: a policy has at most 1024 match source, destination and exclude prefixes"
        );
        p.destinations.truncate(MAX_PREFIXES - 1);
        assert_eq!(p.validate(), Ok(()));
        let mut p = legacy_db();
        p.gateways = (0..=MAX_GATEWAYS as u32)
            .map(|i| {
                Gateway::new(
                    IpAddr::from((0xc633_6400 + i).to_be_bytes()),
                    IpAddr::from((0xcb00_7100 + i).to_be_bytes()),
                )
            })
            .collect();
        assert_eq!(refused(&p), "65 gateways: a policy has at most 64");
        p.gateways.pop();
        assert_eq!(p.validate(), Ok(()));
        let mut p = legacy_db();
        p.match_namespaces = (0..=MAX_NAMESPACES).map(|i| format!("ns{i}")).collect();
        assert_eq!(refused(&p), "257 namespaces: a policy matches at most 256");
    }

    #[test]
    fn selection() {
        let p = legacy_db();
        let pod = |a: &str, ns: Option<&str>| PodInfo::new(ip(a), ns);
        assert!(p.selects(&pod("10.244.1.5", Some("finance"))));
        assert!(!p.selects(&pod("10.244.1.5", Some("hr"))));
        assert!(!p.selects(&pod("10.244.1.5", None)));
        assert!(!p.selects(&pod("10.245.1.5", Some("finance"))));
        let mut by_ns = p.clone();
        by_ns.match_sources.clear();
        assert!(by_ns.selects(&pod("fd00::5", Some("finance"))));
        assert!(by_ns.may_select_family(Family::Ipv6));
        assert!(!p.may_select_family(Family::Ipv6));
        let mut by_source = p.clone();
        by_source.match_namespaces.clear();
        assert!(by_source.selects(&pod("10.244.1.5", None)));
        let mut nothing = p.clone();
        nothing.match_namespaces.clear();
        nothing.match_sources.clear();
        assert!(!nothing.selects(&pod("10.244.1.5", Some("finance"))));
        assert_eq!(nothing.incomplete(), [Incomplete::NoMatch]);
    }

    #[test]
    fn json_shape() {
        let p = legacy_db();
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["match_sources"][0], "10.244.0.0/16");
        assert_eq!(j["gateways"][0]["egress_ip"], "203.0.113.10");
        assert_eq!(serde_json::from_value::<Policy>(j).unwrap(), p);
        let min: Policy = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(min, Policy::new("x"));
        assert_eq!(
            serde_json::to_value(Incomplete::NoDestination).unwrap(),
            "no-destination"
        );
        assert_eq!(serde_json::to_value(Family::Ipv6).unwrap(), "ipv6");
    }
}
