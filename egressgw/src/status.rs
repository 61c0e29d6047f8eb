//! What `show egress-gateway [json]` reports per policy: whether it is in
//! force and why not, its gateways with their health, and how much this
//! node programs for it. The JSON keys are camelCase, like the other
//! `show ... json` answers of ternd.
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::{Family, Policy};
use crate::plan::{NodePlan, NodeView, active_families};
use crate::table::PolicyTable;

/// Whether a policy is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyState {
    /// Matching traffic leaves through a gateway.
    Active,
    /// In force, but no gateway is healthy: matching traffic is dropped.
    NoHealthyGateway,
    /// Valid config that programs nothing (see the reasons).
    Inactive,
}

impl PolicyState {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyState::Active => "active",
            PolicyState::NoHealthyGateway => "no healthy gateway",
            PolicyState::Inactive => "inactive",
        }
    }
}

/// One gateway of a policy as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    pub node: IpAddr,
    pub egress_ip: IpAddr,
    /// Takes new flows (its routes are in the Loc-RIB, or it is this node).
    pub healthy: bool,
    /// This node is that gateway.
    pub local: bool,
}

/// How much of a policy there is, and how much this node programs for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCounts {
    pub match_sources: usize,
    pub match_namespaces: usize,
    pub destinations: usize,
    pub excludes: usize,
    pub gateways: usize,
    pub healthy_gateways: usize,
    /// Pods of this node the policy steers.
    pub local_pods: usize,
    pub steer_entries: usize,
    /// SNAT entries of this node as the policy's gateway.
    pub snat_entries: usize,
}

/// One policy in `show egress-gateway`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    pub name: String,
    pub policy_id: u32,
    pub state: PolicyState,
    /// Why the policy is not active, or what part of it is not: one sentence
    /// each; empty when all of it is in force.
    pub reasons: Vec<String>,
    pub gateways: Vec<GatewayStatus>,
    pub counts: PolicyCounts,
}

/// The status of every policy of `table` on `node`, whose plan is `plan`,
/// in name order.
pub fn status(table: &PolicyTable, node: &NodeView, plan: &NodePlan) -> Vec<PolicyStatus> {
    table
        .iter_with_ids()
        .map(|(id, p)| policy_status(id, p, node, plan))
        .collect()
}

fn policy_status(policy_id: u32, p: &Policy, node: &NodeView, plan: &NodePlan) -> PolicyStatus {
    let gateways: Vec<GatewayStatus> = p
        .gateways
        .iter()
        .map(|g| GatewayStatus {
            node: g.node,
            egress_ip: g.egress_ip,
            healthy: node.is_healthy(g.node),
            local: node.is_local(g.node),
        })
        .collect();
    let healthy_of = |f: Family| p.gateways_of(f).filter(|g| node.is_healthy(g.node)).count();
    let mut reasons: Vec<String> = p.incomplete().iter().map(|i| i.to_string()).collect();
    let active = active_families(p);
    if reasons.is_empty() {
        for f in [Family::Ipv4, Family::Ipv6] {
            if !p.has_destination_of(f) {
                continue;
            }
            if p.gateways_of(f).next().is_none() {
                reasons.push(format!(
                    "no gateway with an {f} egress-ip: {f} destinations are not steered"
                ));
            } else if !p.may_select_family(f) {
                reasons.push(format!(
                    "no {f} match source: {f} destinations are not steered"
                ));
            } else if healthy_of(f) == 0 {
                reasons.push(format!(
                    "no healthy gateway with an {f} egress-ip: {f} traffic is dropped"
                ));
            }
        }
    }
    let state = if active.is_empty() {
        PolicyState::Inactive
    } else if active.iter().all(|&f| healthy_of(f) == 0) {
        PolicyState::NoHealthyGateway
    } else {
        PolicyState::Active
    };
    let steered = plan.steer_of(policy_id);
    let (mut pods, mut steer_entries) = (std::collections::BTreeSet::new(), 0);
    for e in steered {
        pods.insert(e.source);
        steer_entries += 1;
    }
    PolicyStatus {
        name: p.name.clone(),
        policy_id,
        state,
        reasons,
        counts: PolicyCounts {
            match_sources: p.match_sources.len(),
            match_namespaces: p.match_namespaces.len(),
            destinations: p.destinations.len(),
            excludes: p.excludes.len(),
            gateways: p.gateways.len(),
            healthy_gateways: gateways.iter().filter(|g| g.healthy).count(),
            local_pods: pods.len(),
            steer_entries,
            snat_entries: plan
                .gateway
                .iter()
                .filter(|s| s.policy_id == policy_id)
                .count(),
        },
        gateways,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::model::{Gateway, PodInfo};
    use crate::plan::plan;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy(name: &str, lines: &[&str]) -> Policy {
        let mut p = Policy::new(name);
        for l in lines {
            crate::config::parse_sub_line(&mut p, l).unwrap();
        }
        p
    }

    fn show(table: &PolicyTable, health: &[(&str, bool)]) -> Vec<PolicyStatus> {
        let health: HashMap<IpAddr, bool> = health.iter().map(|(a, h)| (ip(a), *h)).collect();
        let pods = [
            PodInfo::new(ip("10.244.1.5"), Some("finance")),
            PodInfo::new(ip("fd00::5"), Some("finance")),
        ];
        let addrs = [ip("198.51.100.11")];
        let node = NodeView {
            addrs: &addrs,
            health: &health,
            pods: &pods,
        };
        let plan = plan(table, &node);
        status(table, &node, &plan)
    }

    #[test]
    fn states_and_reasons() {
        let mut t = PolicyTable::new();
        t.upsert(policy(
            "legacy-db",
            &[
                "match namespace finance",
                "destination 192.0.2.128/25",
                "exclude 192.0.2.200/32",
                "destination 2001:db8:2::/48",
                "gateway 198.51.100.12 egress-ip 203.0.113.10",
                "gateway 198.51.100.13 egress-ip 203.0.113.11",
            ],
        ))
        .unwrap();
        t.upsert(policy("draft", &["destination 192.0.2.0/26"]))
            .unwrap();
        let s = show(&t, &[("198.51.100.12", true), ("198.51.100.13", false)]);
        assert_eq!(s[0].name, "draft");
        assert_eq!(s[0].state, PolicyState::Inactive);
        assert_eq!(
            s[0].reasons,
            [
                "no match source or match namespace line: it selects no pod",
                "no gateway"
            ]
        );
        let db = &s[1];
        assert_eq!(db.state, PolicyState::Active);
        assert_eq!(db.policy_id, t.id("legacy-db").unwrap());
        assert_eq!(
            db.reasons,
            ["no gateway with an IPv6 egress-ip: IPv6 destinations are not steered"]
        );
        assert_eq!(
            db.gateways,
            [
                GatewayStatus {
                    node: ip("198.51.100.12"),
                    egress_ip: ip("203.0.113.10"),
                    healthy: true,
                    local: false
                },
                GatewayStatus {
                    node: ip("198.51.100.13"),
                    egress_ip: ip("203.0.113.11"),
                    healthy: false,
                    local: false
                }
            ]
        );
        assert_eq!(
            db.counts,
            PolicyCounts {
                match_sources: 0,
                match_namespaces: 1,
                destinations: 2,
                excludes: 1,
                gateways: 2,
                healthy_gateways: 1,
                local_pods: 1,
                steer_entries: 2,
                snat_entries: 0,
            }
        );
        // Every gateway down: in force, traffic dropped.
        let s = show(&t, &[("198.51.100.12", false)]);
        assert_eq!(s[1].state, PolicyState::NoHealthyGateway);
        assert_eq!(
            s[1].reasons,
            [
                "no healthy gateway with an IPv4 egress-ip: IPv4 traffic is dropped",
                "no gateway with an IPv6 egress-ip: IPv6 destinations are not steered"
            ]
        );
        // A match source of the wrong family only.
        let mut p = t.get("legacy-db").unwrap().clone();
        p.match_namespaces.clear();
        p.match_sources.push("fd00::/64".parse().unwrap());
        p.destinations.pop();
        p.gateways.truncate(1);
        t.upsert(p).unwrap();
        let s = show(&t, &[("198.51.100.12", true)]);
        assert_eq!(s[1].state, PolicyState::Inactive);
        assert_eq!(
            s[1].reasons,
            ["no IPv4 match source: IPv4 destinations are not steered"]
        );
    }

    #[test]
    fn gateway_side_and_json() {
        let mut t = PolicyTable::new();
        let mut p = policy(
            "legacy-db",
            &["match source 10.244.0.0/16", "destination 192.0.2.128/25"],
        );
        p.gateways
            .push(Gateway::new(ip("198.51.100.11"), ip("203.0.113.10")));
        t.upsert(p).unwrap();
        // This node is the gateway: healthy without a health entry.
        let s = show(&t, &[]);
        assert_eq!(s[0].state, PolicyState::Active);
        assert!(s[0].gateways[0].local && s[0].gateways[0].healthy);
        assert_eq!(s[0].counts.snat_entries, 1);
        assert_eq!(s[0].counts.local_pods, 1);
        let j = serde_json::to_value(&s[0]).unwrap();
        assert_eq!(j["policyId"], t.id("legacy-db").unwrap());
        assert_eq!(j["state"], "active");
        assert_eq!(j["gateways"][0]["egressIp"], "203.0.113.10");
        assert_eq!(j["counts"]["steerEntries"], 1);
        assert_eq!(
            serde_json::to_value(PolicyState::NoHealthyGateway).unwrap(),
            "no-healthy-gateway"
        );
        assert_eq!(PolicyState::NoHealthyGateway.as_str(), "no healthy gateway");
    }
}
