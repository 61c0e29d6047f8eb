//! The service model: frontends (the addresses clients reach), backends (the
//! pods that serve them) and the per-service settings, with the limits and the
//! checks every service passes before ternd programs it.
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;
use crate::maglev::{is_prime, next_prime};

/// Most backends one service may have.
pub const MAX_BACKENDS: usize = 4096;
/// Smallest Maglev table size (a prime).
pub const MIN_TABLE_SIZE: u32 = 251;
/// Largest Maglev table size (a prime).
pub const MAX_TABLE_SIZE: u32 = 131_071;
/// Maglev table size when none is configured (a prime).
pub const DEFAULT_TABLE_SIZE: u32 = 16_381;
/// Session-affinity timeout when `session-affinity client-ip` gives none,
/// in seconds (3 hours, as Kubernetes).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;
/// Longest session-affinity timeout, in seconds (one day, as Kubernetes).
pub const MAX_AFFINITY_TIMEOUT: u32 = 86_400;
/// Smallest backend weight.
pub const MIN_WEIGHT: u16 = 1;
/// Largest backend weight.
pub const MAX_WEIGHT: u16 = 100;
/// Default backend weight.
pub const DEFAULT_WEIGHT: u16 = 1;
/// Longest service name.
pub const MAX_NAME_LEN: usize = 63;
/// A Maglev table holds at least this many entries per backend of a family.
pub const TABLE_ENTRIES_PER_BACKEND: u32 = 4;

/// Transport protocol of a frontend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// IANA protocol number (IP header's protocol / next header field).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    /// The config word.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address, port and protocol that clients connect to (a VIP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Frontend {
    pub addr: IpAddr,
    pub port: u16,
    pub proto: Protocol,
}

impl Frontend {
    pub fn new(addr: IpAddr, port: u16, proto: Protocol) -> Frontend {
        Frontend { addr, port, proto }
    }
}

impl fmt::Display for Frontend {
    /// As in the config: `198.51.100.10 port 80 tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} port {} {}", self.addr, self.port, self.proto)
    }
}

/// Whether a backend takes new flows (Kubernetes' endpoint conditions).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum BackendState {
    /// Ready: takes new flows.
    #[default]
    Active,
    /// Going away: keeps its flows, takes new ones only when no backend is active.
    Terminating,
    /// Out of service: keeps its flows, never takes new ones.
    Maintenance,
}

impl BackendState {
    /// The config word.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Active => "active",
            BackendState::Terminating => "terminating",
            BackendState::Maintenance => "maintenance",
        }
    }
}

impl fmt::Display for BackendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_weight() -> u16 {
    DEFAULT_WEIGHT
}

/// A pod address and port serving a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Backend {
    pub addr: IpAddr,
    pub port: u16,
    /// Share of new flows relative to the other backends, 1..=100.
    #[serde(default = "default_weight")]
    pub weight: u16,
    #[serde(default)]
    pub state: BackendState,
}

impl Backend {
    /// An active backend of weight 1.
    pub fn new(addr: IpAddr, port: u16) -> Backend {
        Backend {
            addr,
            port,
            weight: DEFAULT_WEIGHT,
            state: BackendState::Active,
        }
    }
}

impl fmt::Display for Backend {
    /// The backend's identity: `10.244.1.5 port 8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} port {}", self.addr, self.port)
    }
}

/// Whether the service's load-balancer addresses are announced by BGP.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    /// Frontends are external VIPs, announced by BGP.
    #[default]
    LoadBalancer,
    /// Frontends are cluster-internal, never announced.
    ClusterIp,
}

/// Which backends external traffic may reach (external-traffic-policy).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TrafficPolicy {
    /// Any backend of the cluster.
    #[default]
    Cluster,
    /// Only the backends on the node the traffic arrived at.
    Local,
}

/// How a frontend picks a backend for a new flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Maglev consistent hashing over a table of `table_size` (prime) entries.
    Maglev { table_size: u32 },
    /// A random backend per new flow.
    Random,
}

impl Default for Algorithm {
    fn default() -> Algorithm {
        Algorithm::Maglev {
            table_size: DEFAULT_TABLE_SIZE,
        }
    }
}

/// When a load-balancer service's addresses are announced.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Announce {
    /// While the node has a backend that takes new flows (see [`crate::plan`]).
    #[default]
    Auto,
    /// Always, whatever the backends (a static VIP).
    Always,
}

/// One L4 load-balanced service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    #[serde(default)]
    pub kind: ServiceKind,
    #[serde(default)]
    pub frontends: Vec<Frontend>,
    #[serde(default)]
    pub backends: Vec<Backend>,
    #[serde(default)]
    pub traffic_policy: TrafficPolicy,
    /// Session affinity by client IP with this timeout in seconds; `None`: off.
    #[serde(default)]
    pub affinity_timeout: Option<u32>,
    /// Client prefixes allowed to reach the frontends; empty: every client.
    #[serde(default)]
    pub source_ranges: Vec<IpNet>,
    #[serde(default)]
    pub algorithm: Algorithm,
    #[serde(default)]
    pub announce: Announce,
}

impl Service {
    /// A load-balancer service with no frontend nor backend, policy cluster,
    /// no affinity, Maglev over [`DEFAULT_TABLE_SIZE`] entries, announce auto.
    pub fn new(name: impl Into<String>) -> Service {
        Service {
            name: name.into(),
            kind: ServiceKind::default(),
            frontends: Vec::new(),
            backends: Vec::new(),
            traffic_policy: TrafficPolicy::default(),
            affinity_timeout: None,
            source_ranges: Vec::new(),
            algorithm: Algorithm::default(),
            announce: Announce::default(),
        }
    }

    /// Checks every rule of a service; the first broken one is the error.
    pub fn validate(&self) -> Result<(), ServiceError> {
        check_name(&self.name)?;
        if self.backends.len() > MAX_BACKENDS {
            return Err(ServiceError::TooManyBackends {
                count: self.backends.len(),
            });
        }
        if let Algorithm::Maglev { table_size } = self.algorithm {
            check_table_size(table_size)?;
            check_table_capacity(table_size, &self.backends)?;
        }
        let mut frontends = BTreeSet::new();
        for f in &self.frontends {
            check_frontend(f)?;
            if !frontends.insert(*f) {
                return Err(ServiceError::DuplicateFrontend(*f));
            }
        }
        let mut backends = BTreeSet::new();
        for b in &self.backends {
            check_backend(b)?;
            if !backends.insert((b.addr, b.port)) {
                return Err(ServiceError::DuplicateBackend {
                    addr: b.addr,
                    port: b.port,
                });
            }
        }
        let mut ranges = BTreeSet::new();
        for r in &self.source_ranges {
            check_source_range(r)?;
            if !ranges.insert(*r) {
                return Err(ServiceError::DuplicateSourceRange(*r));
            }
        }
        if let Some(t) = self.affinity_timeout {
            check_affinity_timeout(t)?;
        }
        if self.kind == ServiceKind::ClusterIp {
            if self.traffic_policy == TrafficPolicy::Local {
                return Err(ServiceError::LoadBalancerOnly {
                    what: "external-traffic-policy local",
                });
            }
            if self.announce == Announce::Always {
                return Err(ServiceError::LoadBalancerOnly {
                    what: "announce always",
                });
            }
        }
        Ok(())
    }
}

/// Name rule: 1..=63 characters of `A-Z a-z 0-9 . _ -`, the first a letter or digit.
pub fn check_name(name: &str) -> Result<(), ServiceError> {
    let bad = |reason| {
        Err(ServiceError::BadName {
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

/// A Maglev table size: a prime in `MIN_TABLE_SIZE..=MAX_TABLE_SIZE`.
pub fn check_table_size(size: u32) -> Result<(), ServiceError> {
    if !(MIN_TABLE_SIZE..=MAX_TABLE_SIZE).contains(&size) {
        return Err(ServiceError::TableSizeRange { size });
    }
    if !is_prime(size) {
        return Err(ServiceError::TableSizeNotPrime {
            size,
            next: next_prime(size),
        });
    }
    Ok(())
}

/// A table holds at least 4 entries per backend of the larger family: one
/// frontend's table only holds backends of its own family.
fn check_table_capacity(size: u32, backends: &[Backend]) -> Result<(), ServiceError> {
    let v4 = backends.iter().filter(|b| b.addr.is_ipv4()).count();
    let v6 = backends.len() - v4;
    let (count, family) = if v4 >= v6 { (v4, "IPv4") } else { (v6, "IPv6") };
    let needed = count as u64 * u64::from(TABLE_ENTRIES_PER_BACKEND);
    if u64::from(size) < needed {
        let suggest = u32::try_from(needed).map_or(u32::MAX, next_prime);
        return Err(ServiceError::TableTooSmall {
            size,
            backends: count,
            family,
            needed,
            suggest,
        });
    }
    Ok(())
}

/// Why `addr` cannot be a frontend or backend address, if it cannot.
fn address_fault(addr: IpAddr) -> Option<&'static str> {
    if addr.is_unspecified() {
        return Some("unspecified");
    }
    if addr.is_multicast() {
        return Some("multicast");
    }
    if let IpAddr::V4(a) = addr
        && a.is_broadcast()
    {
        return Some("the broadcast address");
    }
    None
}

/// A frontend's own rules: a unicast address and a nonzero port.
pub fn check_frontend(f: &Frontend) -> Result<(), ServiceError> {
    if let Some(reason) = address_fault(f.addr) {
        return Err(ServiceError::BadFrontendAddr {
            frontend: *f,
            reason,
        });
    }
    if f.port == 0 {
        return Err(ServiceError::FrontendPortZero(*f));
    }
    Ok(())
}

/// A backend's own rules: a unicast address, a nonzero port, weight 1..=100.
pub fn check_backend(b: &Backend) -> Result<(), ServiceError> {
    if let Some(reason) = address_fault(b.addr) {
        return Err(ServiceError::BadBackendAddr {
            addr: b.addr,
            port: b.port,
            reason,
        });
    }
    if b.port == 0 {
        return Err(ServiceError::BackendPortZero { addr: b.addr });
    }
    if !(MIN_WEIGHT..=MAX_WEIGHT).contains(&b.weight) {
        return Err(ServiceError::BadWeight {
            addr: b.addr,
            port: b.port,
            weight: u32::from(b.weight),
        });
    }
    Ok(())
}

/// A source range is a normalised prefix (host bits zero).
pub fn check_source_range(r: &IpNet) -> Result<(), ServiceError> {
    let normalised = r.trunc();
    if normalised != *r {
        return Err(ServiceError::SourceRangeHostBits {
            given: *r,
            normalised,
        });
    }
    Ok(())
}

/// A session-affinity timeout: 1..=86400 seconds.
pub fn check_affinity_timeout(t: u32) -> Result<(), ServiceError> {
    if !(1..=MAX_AFFINITY_TIMEOUT).contains(&t) {
        return Err(ServiceError::BadAffinityTimeout(t));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn web() -> Service {
        let mut s = Service::new("web");
        s.frontends
            .push(Frontend::new(ip("198.51.100.10"), 80, Protocol::Tcp));
        s.backends.push(Backend::new(ip("10.244.1.5"), 8080));
        s
    }

    fn refused(s: &Service) -> String {
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let s = Service::new("web");
        assert_eq!(s.kind, ServiceKind::LoadBalancer);
        assert_eq!(s.traffic_policy, TrafficPolicy::Cluster);
        assert_eq!(s.affinity_timeout, None);
        assert_eq!(s.algorithm, Algorithm::Maglev { table_size: 16381 });
        assert_eq!(s.announce, Announce::Auto);
        assert!(s.validate().is_ok());
        assert!(web().validate().is_ok());
        assert_eq!(Protocol::Tcp.number(), 6);
        assert_eq!(Protocol::Udp.number(), 17);
        assert!(
            is_prime(DEFAULT_TABLE_SIZE) && is_prime(MIN_TABLE_SIZE) && is_prime(MAX_TABLE_SIZE)
        );
    }

    #[test]
    fn names() {
        for good in ["a", "web", "web-1.prod_x", "0abc", &"a".repeat(63)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        assert_eq!(
            check_name("").unwrap_err().to_string(),
            "service name \"\": a name has 1 to 63 characters"
        );
        assert_eq!(
            check_name(&"a".repeat(64)).unwrap_err().to_string(),
            format!(
                "service name \"{}\": longer than 63 characters",
                "a".repeat(64)
            )
        );
        assert_eq!(
            check_name("-web").unwrap_err().to_string(),
            "service name \"-web\": must start with a letter or a digit"
        );
        assert_eq!(
            check_name("web/1").unwrap_err().to_string(),
            "service name \"web/1\": may hold only letters, digits, '.', '_' and '-'"
        );
        assert!(check_name("wéb").is_err());
    }

    #[test]
    fn table_sizes() {
        let mut s = web();
        s.algorithm = Algorithm::Maglev { table_size: 1000 };
        assert_eq!(
            refused(&s),
            "maglev table-size 1000 is not a prime (next prime: 1009)"
        );
        s.algorithm = Algorithm::Maglev { table_size: 241 };
        assert_eq!(
            refused(&s),
            "maglev table-size 241 is out of range: it must be a prime from 251 to 131071"
        );
        s.algorithm = Algorithm::Maglev {
            table_size: 131_101,
        };
        assert!(refused(&s).contains("out of range"));
        for size in [251, 16381, 65521, 131_071] {
            s.algorithm = Algorithm::Maglev { table_size: size };
            assert!(s.validate().is_ok(), "{size}");
        }
        // Random has no table: no size rule.
        s.algorithm = Algorithm::Random;
        assert!(s.validate().is_ok());
    }

    #[test]
    fn table_capacity_per_family() {
        let mut s = web();
        s.backends.clear();
        s.algorithm = Algorithm::Maglev { table_size: 251 };
        for i in 0..62u16 {
            s.backends.push(Backend::new(ip("10.244.1.5"), 1000 + i));
            s.backends.push(Backend::new(ip("fd00::5"), 1000 + i));
        }
        // 62 of each family: 4 x 62 = 248 <= 251, one table per family.
        assert!(s.validate().is_ok());
        s.backends.push(Backend::new(ip("fd00::5"), 999));
        assert_eq!(
            refused(&s),
            "maglev table-size 251 is too small for 63 IPv6 backends: \
             it must be at least 4 x backends (252; next prime: 257)"
        );
    }

    #[test]
    fn too_many_backends() {
        let mut s = web();
        s.backends = (0..=MAX_BACKENDS as u32)
            .map(|i| Backend::new(IpAddr::from((0x0af4_0000 + i).to_be_bytes()), 80))
            .collect();
        assert_eq!(
            refused(&s),
            "4097 backends: a service has at most 4096 backends"
        );
    }

    #[test]
    fn frontend_rules() {
        let mut s = web();
        s.frontends[0].addr = ip("0.0.0.0");
        assert_eq!(
            refused(&s),
            "frontend 0.0.0.0 port 80 tcp: the address is unspecified"
        );
        s.frontends[0].addr = ip("ff02::1");
        assert_eq!(
            refused(&s),
            "frontend ff02::1 port 80 tcp: the address is multicast"
        );
        s.frontends[0].addr = ip("255.255.255.255");
        assert!(refused(&s).contains("broadcast"));
        s.frontends[0].addr = ip("198.51.100.10");
        s.frontends[0].port = 0;
        assert_eq!(
            refused(&s),
            "frontend 198.51.100.10 port 0 tcp: port 0 is not a service port"
        );
        s.frontends[0].port = 80;
        s.frontends.push(s.frontends[0]);
        assert_eq!(
            refused(&s),
            "frontend 198.51.100.10 port 80 tcp is given twice"
        );
        // The same address and port over UDP is another frontend.
        s.frontends[1].proto = Protocol::Udp;
        assert!(s.validate().is_ok());
    }

    #[test]
    fn backend_rules() {
        let mut s = web();
        s.backends[0].weight = 0;
        assert_eq!(
            refused(&s),
            "backend 10.244.1.5 port 8080: weight 0 is out of range 1..=100"
        );
        s.backends[0].weight = 101;
        assert!(refused(&s).contains("weight 101 is out of range"));
        s.backends[0].weight = 100;
        assert!(s.validate().is_ok());
        s.backends[0].port = 0;
        assert_eq!(
            refused(&s),
            "backend 10.244.1.5 port 0: port 0 is not a backend port"
        );
        s.backends[0].port = 8080;
        let mut again = Backend::new(ip("10.244.1.5"), 8080);
        again.weight = 3;
        s.backends.push(again);
        assert_eq!(refused(&s), "backend 10.244.1.5 port 8080 is given twice");
        s.backends[1].addr = ip("::");
        assert_eq!(
            refused(&s),
            "backend :: port 8080: the address is unspecified"
        );
    }

    #[test]
    fn source_ranges_and_affinity() {
        let mut s = web();
        s.source_ranges.push("192.0.2.1/24".parse().unwrap());
        assert_eq!(
            refused(&s),
            "source-range 192.0.2.1/24 has host bits set (the prefix is 192.0.2.0/24)"
        );
        s.source_ranges[0] = "192.0.2.0/24".parse().unwrap();
        s.source_ranges.push("2001:db8::/32".parse().unwrap());
        assert!(s.validate().is_ok());
        s.source_ranges.push("192.0.2.0/24".parse().unwrap());
        assert_eq!(refused(&s), "source-range 192.0.2.0/24 is given twice");
        s.source_ranges.pop();
        for (t, ok) in [(0, false), (1, true), (86_400, true), (86_401, false)] {
            s.affinity_timeout = Some(t);
            assert_eq!(s.validate().is_ok(), ok, "{t}");
        }
        s.affinity_timeout = Some(0);
        assert_eq!(
            refused(&s),
            "session-affinity timeout 0 is out of range 1..=86400 seconds"
        );
    }

    #[test]
    fn cluster_ip_has_no_lb_settings() {
        let mut s = web();
        s.kind = ServiceKind::ClusterIp;
        assert!(s.validate().is_ok());
        s.traffic_policy = TrafficPolicy::Local;
        assert_eq!(
            refused(&s),
            "external-traffic-policy local is only for load-balancer services (this one is type cluster-ip)"
        );
        s.traffic_policy = TrafficPolicy::Cluster;
        s.announce = Announce::Always;
        assert!(refused(&s).starts_with("announce always is only for"));
    }

    #[test]
    fn json_shape() {
        let mut s = web();
        s.backends[0].state = BackendState::Terminating;
        s.kind = ServiceKind::ClusterIp;
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["kind"], "cluster-ip");
        assert_eq!(j["frontends"][0]["proto"], "tcp");
        assert_eq!(j["backends"][0]["state"], "terminating");
        assert_eq!(j["algorithm"]["maglev"]["table_size"], 16381);
        let back: Service = serde_json::from_value(j).unwrap();
        assert_eq!(back, s);
        // Omitted fields take their defaults.
        let min: Service =
            serde_json::from_str(r#"{"name":"x","backends":[{"addr":"10.0.0.1","port":80}]}"#)
                .unwrap();
        assert_eq!(min.backends[0], Backend::new(ip("10.0.0.1"), 80));
        assert_eq!(min.algorithm, Algorithm::default());
    }
}
