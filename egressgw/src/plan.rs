//! What one node programs for the egress gateway: the steering entries of
//! its own pods (which destinations leave through which gateways), the SNAT
//! entries when it is a gateway itself, the egress IPs it announces, and
//! [`pick`], the choice of a gateway for one flow.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::hash::{gateway_key, rendezvous_score};
use crate::model::{Family, Gateway, PodInfo, Policy};
use crate::table::PolicyTable;

/// What the plan needs to know of the node it is made for.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    /// The node's own addresses (a gateway line naming one is this node).
    pub addrs: &'a [IpAddr],
    /// Health of gateway nodes by address: true while the node's routes are
    /// in the Loc-RIB. A node missing from the map is down, except this node
    /// itself, which is up unless the map says otherwise.
    pub health: &'a HashMap<IpAddr, bool>,
    /// The pods of this node.
    pub pods: &'a [PodInfo],
}

impl NodeView<'_> {
    /// Whether `addr` is this node.
    pub fn is_local(&self, addr: IpAddr) -> bool {
        self.addrs.contains(&addr)
    }

    /// Whether the gateway node `node` takes new flows.
    pub fn is_healthy(&self, node: IpAddr) -> bool {
        match self.health.get(&node) {
            Some(&up) => up,
            None => self.is_local(node),
        }
    }
}

/// A gateway new flows may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GatewayChoice {
    /// Where the tunnel goes.
    pub node: IpAddr,
    /// The address the flow leaves with.
    pub egress_ip: IpAddr,
}

impl GatewayChoice {
    /// Its rendezvous key ([`gateway_key`]), which the datapath keeps next to it.
    pub fn key(&self) -> u64 {
        gateway_key(self.node, self.egress_ip)
    }
}

impl From<&Gateway> for GatewayChoice {
    fn from(g: &Gateway) -> GatewayChoice {
        GatewayChoice {
            node: g.node,
            egress_ip: g.egress_ip,
        }
    }
}

/// One steering entry: traffic from a local pod to a destination prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SteerEntry {
    /// The pod's address as a host prefix (/32, /128).
    pub source: IpNet,
    pub destination: IpNet,
    /// An exclude: the traffic is not steered (it leaves as without a policy).
    pub excluded: bool,
    pub policy_id: u32,
    /// The healthy gateways of the destination's family, in address order;
    /// empty for an exclude. Empty for a destination when none is healthy:
    /// the datapath drops the traffic (fail closed, as Cilium does when a
    /// policy has no gateway) and counts the drop.
    pub gateways: Vec<GatewayChoice>,
}

/// What this node does as one of a policy's gateways.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnatEntry {
    pub policy_id: u32,
    /// The translated source address (announced by the node).
    pub egress_ip: IpAddr,
    /// The inner source addresses accepted: the policy's match sources of
    /// the egress IP's family, or the whole family (`0.0.0.0/0`, `::/0`)
    /// when the policy selects by namespace only (the pod's node decided; the
    /// datapath still takes such packets only from the tunnel of a node).
    pub sources: Vec<IpNet>,
    /// The policy's destinations of the egress IP's family.
    pub destinations: Vec<IpNet>,
}

/// What one node programs for the egress gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// Steering of local pods, ordered by (source, destination); no two
    /// entries share both.
    pub steer: Vec<SteerEntry>,
    /// SNAT on this node as a gateway, in policy-name order.
    pub gateway: Vec<SnatEntry>,
    /// The egress IPs this node serves, as host prefixes to announce by BGP.
    pub announce: Vec<IpNet>,
}

impl NodePlan {
    /// The entry the datapath's longest-prefix match finds for a packet from
    /// `src` to `dst`: among the entries of `src`, the longest destination
    /// prefix holding `dst`. None: the packet is not the egress gateway's.
    pub fn lookup(&self, src: IpAddr, dst: IpAddr) -> Option<&SteerEntry> {
        let source = IpNet::from(src);
        self.steer
            .iter()
            .filter(|e| e.source == source && e.destination.contains(&dst))
            .max_by_key(|e| e.destination.prefix_len())
    }

    /// The steering entries of one policy.
    pub fn steer_of(&self, policy_id: u32) -> impl Iterator<Item = &SteerEntry> {
        self.steer.iter().filter(move |e| e.policy_id == policy_id)
    }
}

/// The families in which `policy` is in force: it has a destination and a
/// gateway of the family and may select a pod of it. Empty for an
/// incomplete policy.
pub fn active_families(policy: &Policy) -> Vec<Family> {
    if !policy.is_complete() {
        return Vec::new();
    }
    [Family::Ipv4, Family::Ipv6]
        .into_iter()
        .filter(|&f| {
            policy.has_destination_of(f)
                && policy.gateways_of(f).next().is_some()
                && policy.may_select_family(f)
        })
        .collect()
}

/// What `node` programs for the policies of `table` (see [`crate`] for the
/// rules).
pub fn plan(table: &PolicyTable, node: &NodeView) -> NodePlan {
    let mut steer: BTreeMap<(IpNet, IpNet), SteerEntry> = BTreeMap::new();
    let mut gateway = Vec::new();
    let mut announce = BTreeSet::new();
    for (policy_id, policy) in table.iter_with_ids() {
        for family in active_families(policy) {
            let mut healthy: Vec<GatewayChoice> = policy
                .gateways_of(family)
                .filter(|g| node.is_healthy(g.node))
                .map(GatewayChoice::from)
                .collect();
            healthy.sort_unstable();
            let of_family = |nets: &[IpNet]| -> Vec<IpNet> {
                nets.iter()
                    .filter(|n| Family::of_net(n) == family)
                    .copied()
                    .collect()
            };
            let destinations = of_family(&policy.destinations);
            let excludes = of_family(&policy.excludes);
            for pod in node.pods {
                if Family::of(pod.addr) != family || !policy.selects(pod) {
                    continue;
                }
                let source = IpNet::from(pod.addr);
                let entries = destinations
                    .iter()
                    .map(|d| (d, false))
                    .chain(excludes.iter().map(|e| (e, true)));
                for (destination, excluded) in entries {
                    // The table lets no two policies that may select one pod
                    // share a prefix, so the first entry is the only one.
                    steer
                        .entry((source, *destination))
                        .or_insert_with(|| SteerEntry {
                            source,
                            destination: *destination,
                            excluded,
                            policy_id,
                            gateways: if excluded {
                                Vec::new()
                            } else {
                                healthy.clone()
                            },
                        });
                }
            }
            for g in policy.gateways_of(family).filter(|g| node.is_local(g.node)) {
                let sources = if policy.match_sources.is_empty() {
                    vec![family.any()]
                } else {
                    of_family(&policy.match_sources)
                };
                gateway.push(SnatEntry {
                    policy_id,
                    egress_ip: g.egress_ip,
                    sources,
                    destinations: destinations.clone(),
                });
                announce.insert(IpNet::from(g.egress_ip));
            }
        }
    }
    NodePlan {
        steer: steer.into_values().collect(),
        gateway,
        announce: announce.into_iter().collect(),
    }
}

/// The gateway of a flow whose hash is `hash`, among `gateways` (the healthy
/// ones of its steering entry): rendezvous hashing, the gateway with the
/// highest [`rendezvous_score`] of (hash, [`GatewayChoice::key`]); on a tie,
/// the first in the list. None when the list is empty (the flow is dropped).
///
/// A flow keeps its gateway while that gateway stays in the list, whatever
/// the order of the list and whatever else joins or leaves it: removing one
/// of N gateways moves only the flows that used it (about 1/N of them), and
/// adding one moves only the flows it wins (about 1/(N+1)).
pub fn pick(hash: u32, gateways: &[GatewayChoice]) -> Option<&GatewayChoice> {
    let mut best: Option<(&GatewayChoice, u64)> = None;
    for g in gateways {
        let score = rendezvous_score(hash, g.key());
        if best.is_none_or(|(_, top)| score > top) {
            best = Some((g, score));
        }
    }
    best.map(|(g, _)| g)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
