//! The services of Tern's L4 load balancer (issue 12): what a service is,
//! how ternd's config writes it, the Maglev tables that spread new flows over
//! its backends, and what one node programs and announces for it.
//!
//! This crate is pure: no kernel access, no async runtime. ternd keeps a
//! [`ServiceTable`], turns each service into [`FrontendPlan`]s with [`plan`]
//! and builds their Maglev tables with [`maglev::Builder`]; the eBPF datapath
//! programs them; the BGP speaker announces [`announced_prefixes`].
//!
//! # A service
//! A [`Service`] has frontends (address, port, TCP or UDP: what clients
//! reach) and backends (pod address and port, a weight 1..=100 and a state).
//! Frontends and backends may mix IPv4 and IPv6: an IPv4 frontend uses only
//! the IPv4 backends, an IPv6 one only the IPv6 ones, and each frontend has
//! its own Maglev table. A frontend belongs to one service of the table.
//!
//! # Which backends take new flows on a node ([`plan`])
//! As Kubernetes (kube-proxy), Cilium and MetalLB do:
//! - A backend takes new flows for a frontend when it is of the frontend's
//!   family and `Active`; under `external-traffic-policy local` it must also
//!   be a pod of this node ([`NodeView::is_local`]), so that external traffic
//!   keeps its client address and never takes a second hop.
//! - When no backend qualifies, the `Terminating` ones that would qualify
//!   otherwise take new flows (Kubernetes' ProxyTerminatingEndpoints): a
//!   rolling update whose pods are all terminating does not drop traffic.
//! - `Maintenance` backends never take new flows. Neither state touches
//!   flows already established: the datapath keeps those on their backend.
//! - The candidates keep the service's order; the Maglev table does not
//!   depend on that order.
//!
//! # When a node announces a frontend ([`plan`], [`announced_prefixes`])
//! - ClusterIP services are never announced.
//! - A load-balancer service with `announce always` is announced whatever
//!   its backends (a static VIP).
//! - With `announce auto` (the default), the node announces a frontend while
//!   the frontend has an `Active` candidate on it (under policy local: a
//!   local active pod). Terminating backends take flows as a fallback but
//!   do not keep the address announced, so the fabric moves traffic to the
//!   nodes that still have ready pods.
//! - The node announces one host prefix (/32, /128) per address, whatever the
//!   number of ports or services on it.
//!
//! # Settings
//! `external-traffic-policy local` and `announce always` are for load-balancer
//! services only (as Kubernetes refuses externalTrafficPolicy on ClusterIP).
//! Session affinity by client IP keeps a client on one backend for its
//! timeout; source ranges limit the clients (empty: every client).
pub mod config;
pub mod error;
pub mod maglev;
pub mod model;
mod siphash;
pub mod table;
#[cfg(test)]
mod testgen;

pub use config::{parse_block, parse_header, parse_sub_line, render};
pub use error::ServiceError;
pub use model::{
    Algorithm, Announce, Backend, BackendState, DEFAULT_AFFINITY_TIMEOUT, DEFAULT_TABLE_SIZE,
    Frontend, MAX_BACKENDS, MAX_TABLE_SIZE, MIN_TABLE_SIZE, Protocol, Service, ServiceKind,
    TrafficPolicy,
};
pub use table::{Change, FrontendPlan, NodeView, ServiceTable, announced_prefixes, plan};
