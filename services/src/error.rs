//! Why a service, a config line or a change to the service table is refused.
//!
//! Every message names the value at fault and, where there is one, what would
//! be accepted, so that ternd can print `file:line: MESSAGE` and the operator
//! knows what to write instead.
use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{
    Frontend, MAX_AFFINITY_TIMEOUT, MAX_BACKENDS, MAX_TABLE_SIZE, MAX_WEIGHT, MIN_TABLE_SIZE,
    MIN_WEIGHT,
};

/// A refused service, config line or service-table change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The service name breaks the naming rule.
    #[error("service name \"{name}\": {reason}")]
    BadName { name: String, reason: &'static str },

    /// The Maglev table size is outside the allowed range.
    #[error(
        "maglev table-size {size} is out of range: it must be a prime from {} to {}",
        MIN_TABLE_SIZE,
        MAX_TABLE_SIZE
    )]
    TableSizeRange { size: u32 },

    /// The Maglev table size is in range but not a prime.
    #[error("maglev table-size {size} is not a prime (next prime: {next})")]
    TableSizeNotPrime { size: u32, next: u32 },

    /// The Maglev table is too small for the backends of one family.
    #[error(
        "maglev table-size {size} is too small for {backends} {family} backends: \
         it must be at least 4 x backends ({needed}; next prime: {suggest})"
    )]
    TableTooSmall {
        size: u32,
        backends: usize,
        family: &'static str,
        needed: u64,
        suggest: u32,
    },

    /// More backends than a service may have.
    #[error("{count} backends: a service has at most {} backends", MAX_BACKENDS)]
    TooManyBackends { count: usize },

    /// A frontend address that cannot be a service address.
    #[error("frontend {frontend}: the address is {reason}")]
    BadFrontendAddr {
        frontend: Frontend,
        reason: &'static str,
    },

    /// A frontend with port 0.
    #[error("frontend {0}: port 0 is not a service port")]
    FrontendPortZero(Frontend),

    /// The same (address, port, protocol) twice in one service.
    #[error("frontend {0} is given twice")]
    DuplicateFrontend(Frontend),

    /// A backend address that cannot be a pod address.
    #[error("backend {addr} port {port}: the address is {reason}")]
    BadBackendAddr {
        addr: IpAddr,
        port: u16,
        reason: &'static str,
    },

    /// A backend with port 0.
    #[error("backend {addr} port 0: port 0 is not a backend port")]
    BackendPortZero { addr: IpAddr },

    /// The same (address, port) twice in one service.
    #[error("backend {addr} port {port} is given twice")]
    DuplicateBackend { addr: IpAddr, port: u16 },

    /// A weight outside 1..=100.
    #[error(
        "backend {addr} port {port}: weight {weight} is out of range {}..={}",
        MIN_WEIGHT,
        MAX_WEIGHT
    )]
    BadWeight {
        addr: IpAddr,
        port: u16,
        weight: u32,
    },

    /// A source range with host bits set.
    #[error("source-range {given} has host bits set (the prefix is {normalised})")]
    SourceRangeHostBits { given: IpNet, normalised: IpNet },

    /// The same source range twice.
    #[error("source-range {0} is given twice")]
    DuplicateSourceRange(IpNet),

    /// A session-affinity timeout outside 1..=86400 seconds.
    #[error(
        "session-affinity timeout {0} is out of range 1..={max} seconds",
        max = MAX_AFFINITY_TIMEOUT
    )]
    BadAffinityTimeout(u32),

    /// A setting that only load-balancer services take.
    #[error("{what} is only for load-balancer services (this one is type cluster-ip)")]
    LoadBalancerOnly { what: &'static str },

    /// A frontend that another service of the table already has.
    #[error("frontend {frontend} is already used by service {owner}")]
    FrontendInUse { frontend: Frontend, owner: String },

    /// A service of the table refused, with its name.
    #[error("service {name}: {error}")]
    InService {
        name: String,
        error: Box<ServiceError>,
    },

    /// A name the table does not hold.
    #[error("no service named {0}")]
    UnknownService(String),

    /// A name given twice in one `apply`.
    #[error("service {0} is given twice")]
    ServiceGivenTwice(String),

    /// A name both upserted and deleted in one `apply`.
    #[error("service {0} is both upserted and deleted")]
    UpsertAndDelete(String),

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

    /// An option given twice on one config line.
    #[error("\"{0}\" is given twice on the line")]
    RepeatedWord(String),

    /// A `no ...` line for something the service does not have.
    #[error("{0} is not configured")]
    NotConfigured(String),

    /// A line after the block's `exit`.
    #[error("line after exit")]
    AfterExit,
}

impl ServiceError {
    /// Wraps `self` with the name of the service it is about.
    pub fn in_service(self, name: &str) -> ServiceError {
        ServiceError::InService {
            name: name.to_owned(),
            error: Box::new(self),
        }
    }
}
