//! The egress gateway of Tern (issue 13): the traffic of selected pods to
//! chosen destinations leaves the cluster through gateway nodes, translated
//! to fixed egress IPs that a legacy firewall can allow. This crate holds
//! what a policy is, how ternd's config writes it, the table of policies,
//! what one node programs for them, how a flow picks its gateway, and the
//! gateway's SNAT settings.
//!
//! It is pure: no kernel access, no async runtime. ternd keeps a
//! [`PolicyTable`], turns it into a [`NodePlan`] with [`plan()`] whenever a
//! policy, a pod or a gateway's health changes, and programs the plan into
//! the datapath, whose programs choose gateways with [`pick`]'s rule (the
//! same hash functions, from tern-ebpf-common) and allocate ports as
//! [`nat`] describes.
//!
//! # A policy
//! A [`Policy`] selects pods (`match source` prefixes and `match namespace`
//! names: a pod must pass both kinds that are given; a policy with neither
//! selects nothing), lists destination prefixes with excludes inside them,
//! and gateways: a gateway node's address and the egress IP the traffic
//! leaves with. A policy needs a match, a destination and a gateway to be in
//! force; without one of them it is valid config (being written) that
//! programs nothing, and `show egress-gateway` says what it lacks. A gateway
//! carries the traffic of its egress IP's family only.
//!
//! # Which policy takes a packet: the precedence rule
//! Like Cilium's egress gateway: Cilium programs one longest-prefix-match
//! map keyed by (pod address, destination prefix), with every destination
//! and every excluded prefix of every policy that selects the pod as its
//! entries (an excluded prefix is an entry that says "no gateway"). So, for
//! a packet from a pod to an address:
//! 1. among the destinations and excludes of all policies that select the
//!    pod, the longest prefix holding the address decides;
//! 2. if it is an exclude, the packet is not steered (it leaves the node as
//!    it would without a policy); if it is a destination, the packet goes to
//!    one healthy gateway of that destination's policy;
//! 3. no prefix holds the address: the egress gateway is not involved.
//!
//! An exclude lies strictly inside a destination of its policy, so it wins
//! over the destinations that hold it; beyond that, within a policy as
//! across policies, the longer prefix wins whichever kind it is. Cilium leaves one case undecided: two
//! policies that give the same prefix for the same pod write the same map
//! key, and the last write wins. Tern refuses that instead: the table
//! refuses a policy that has a prefix (as destination or exclude) that
//! another policy also has, when both may select one pod (their match
//! sources overlap or one matches any source, and their namespaces overlap
//! or one matches any namespace).
//!
//! # Gateways, health and the choice of one
//! A gateway takes new flows while it is healthy ([`NodeView::health`]: its
//! routes are in the Loc-RIB; this node counts as healthy unless told
//! otherwise). A steering entry lists the healthy gateways of the
//! destination's family; when none is, the datapath drops the traffic and
//! counts it (fail closed, as Cilium drops the traffic of a policy whose
//! gateway is missing). Each flow picks one gateway by rendezvous hashing
//! ([`pick`]): the gateway with the highest score of (flow hash, gateway
//! key), so a flow keeps its gateway while that gateway stays healthy, and a
//! gateway that fails takes only its own flows with it. The hashes are fixed
//! ([`hash`]): FNV-1a 64 and MurmurHash3's finaliser, computable in BPF.
//!
//! # On the gateway
//! The node of a gateway gets a [`SnatEntry`] per (policy, egress IP) it
//! serves, and announces the egress IP (/32, /128) while the policy is in
//! force. SNAT ports come from [`PortRange::default`] (1024..=65535), the
//! pod's own port when it is free, unique per (egress IP, protocol,
//! destination, destination port); see [`nat`].
//!
//! # Policy ids
//! Each policy has an id in `1..=0xffffff` derived from its name
//! ([`PolicyTable::id`]): nodes with the same policies agree on the ids.
//! A policy's traffic crosses the tunnel to its gateway with the id as the
//! VXLAN or Geneve VNI, which tells the gateway which policy (and so which
//! egress IP) the packet is for; the table keeps the datapath's own VNI
//! from the policies ([`PolicyTable::set_reserved_id`]).
pub mod config;
pub mod error;
pub mod hash;
pub mod model;
pub mod nat;
pub mod plan;
pub mod status;
pub mod table;
#[cfg(test)]
mod testgen;

pub use config::{parse_block, parse_header, parse_nat_line, parse_sub_line, render, render_nat};
pub use error::EgressError;
pub use hash::{FlowKey, flow_hash};
pub use model::{
    Family, Gateway, Incomplete, MAX_GATEWAYS, MAX_NAMESPACES, MAX_PREFIXES, PodInfo, Policy,
};
pub use nat::{DEFAULT_RESERVED, NatConfig, NatProto, NatTimeouts, PortRange};
pub use plan::{GatewayChoice, NodePlan, NodeView, SnatEntry, SteerEntry, pick, plan};
pub use status::{GatewayStatus, PolicyCounts, PolicyState, PolicyStatus, status};
pub use table::{Change, MAX_POLICIES, MAX_POLICY_ID, PolicyTable};
