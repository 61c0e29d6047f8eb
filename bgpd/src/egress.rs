//! The egress gateway inside ternd (issue 13): from the `egress-gateway`
//! config (tern-egressgw's policy table), the local pods (the endpoint
//! registry) and the gateways' health (the Loc-RIB), this node's share of
//! the egress gateway:
//! - the datapath's egress maps ([`Datapath::sync_egress`]): for every
//!   policy in force and family, its healthy gateways; the steering entries
//!   of the local pods; the match entries of the policies this node is a
//!   gateway of; the SNAT port range and timeouts;
//! - the egress IPs BGP announces: those this node serves (the plan's
//!   `announce`), while the datapath holds the plan;
//! - what `show egress-gateway` and `show egress-gateway nat` answer.
//!
//! Health: a gateway takes new flows while the host route of its egress IP
//! (/32, /128) is in the Loc-RIB (its node announces it while it serves it),
//! or while it is this node and this node's datapath holds the plan. The
//! plan is made again only when one of its inputs changes (the policies,
//! the pods, the node's addresses, the healthy gateways, the datapath), so
//! a best path that comes or goes costs a comparison, not a plan.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
};

use ipnet::IpNet;
use tern_control::{
    NamedCount,
    egress::{EgressNat, EgressPolicy, EgressStatus, NatEntry, SnatView, SteeredPod},
};
// The egress config map's value is tern-ebpf's `EgressConfig`; here that
// name is ternd's `egress-gateway` config, so the map's goes by `MapConfig`
// (and its timeouts, the services' conntrack ones, by `DpTimeouts`).
use tern_ebpf::{
    Datapath,
    egress::{
        EgressConfig as MapConfig, EgressGateway, EgressMatchEntry, EgressPolicyEntry, EgressState,
        EgressSteerEntry,
    },
    services::{
        CT_DIR_FORWARD, CT_STATE_CLOSING, CT_STATE_ESTABLISHED, CT_STATE_SYN,
        ServicesConfig as DpTimeouts, monotonic_ns,
    },
};
use tern_egressgw::{
    Family, NatConfig, NodePlan, NodeView, PodInfo, PolicyTable, plan::active_families,
};

use crate::{config::EgressConfig, locrib::LocRibView};

/// The gateways' health as this node sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// By gateway node: whether some egress IP of it takes new flows (the
    /// plan's and the status' view, which key health by node).
    pub nodes: HashMap<IpAddr, bool>,
    /// The egress IPs that take new flows: their host route is in the
    /// Loc-RIB, or this node serves them.
    pub egress_ips: BTreeSet<IpAddr>,
}

impl Health {
    /// The health of every gateway of `table`: a gateway of this node
    /// (its node is one of `local`) is healthy while `serving`; another
    /// while the Loc-RIB holds its egress IP's host route.
    pub fn of(table: &PolicyTable, rib: &LocRibView, local: &[IpAddr], serving: bool) -> Health {
        let mut h = Health::default();
        for g in table.iter().flat_map(|p| p.gateways.iter()) {
            let up = if local.contains(&g.node) {
                serving
            } else {
                rib.contains_key(&IpNet::from(g.egress_ip))
            };
            if up {
                h.egress_ips.insert(g.egress_ip);
            }
            *h.nodes.entry(g.node).or_insert(false) |= up;
        }
        h
    }

    /// Whether the gateway (`node`, `egress_ip`) takes new flows.
    pub fn gateway_up(&self, node: IpAddr, egress_ip: IpAddr) -> bool {
        self.nodes.get(&node).copied().unwrap_or(false) && self.egress_ips.contains(&egress_ip)
    }

    /// The healthy gateway nodes, in address order (for the log).
    fn healthy_nodes(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .nodes
            .iter()
            .filter(|(_, up)| **up)
            .map(|(n, _)| *n)
            .collect();
        v.sort_unstable();
        v
    }
}

/// What a plan is made from, besides the config.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Inputs {
    pods: Vec<PodInfo>,
    /// The datapath's cluster CIDRs: the inner sources a gateway takes for
    /// a policy that selects pods by namespace only.
    cluster: Vec<IpNet>,
    addrs: Vec<IpAddr>,
    health: Health,
    datapath: bool,
}

/// The egress gateway of one ternd.
#[derive(Debug, Default)]
pub struct EgressRuntime {
    /// The node's own addresses (from the last link dump), sorted.
    addrs: Vec<IpAddr>,
    /// What the current plan was made from (None: no plan yet).
    inputs: Option<Inputs>,
    /// Make the plan again and write it even if the inputs look the same
    /// (the config changed, a new datapath was loaded, the last write
    /// failed).
    dirty: bool,
    plan: NodePlan,
    /// The datapath holds `plan`.
    programmed: bool,
    /// Something was written to the datapath's egress maps (they must be
    /// emptied when the last policy goes).
    written: bool,
    last_error: Option<String>,
    /// The egress IPs to announce: the plan's while the datapath holds it.
    announce: BTreeSet<IpNet>,
}

/// The state the datapath is made to hold for `plan` (see DESIGN: policies
/// with their healthy gateways, steering, match entries, NAT settings).
///
/// A policy that selects pods by namespace only matches any source in the
/// plan (the pod's node decided); the gateway takes such traffic only from
/// the `cluster` CIDRs (any source when none is configured), so that a
/// tunnelled packet from outside the cluster's pods is refused.
pub fn datapath_state(
    table: &PolicyTable,
    nat: &NatConfig,
    plan: &NodePlan,
    health: &Health,
    local: &[IpAddr],
    cluster: &[IpNet],
) -> EgressState {
    let mut policies = Vec::new();
    for (policy_id, p) in table.iter_with_ids() {
        for family in active_families(p) {
            let mut gateways: Vec<EgressGateway> = p
                .gateways_of(family)
                .filter(|g| health.gateway_up(g.node, g.egress_ip))
                .map(|g| EgressGateway {
                    node: g.node,
                    egress_ip: g.egress_ip,
                    local: local.contains(&g.node),
                })
                .collect();
            gateways.sort_unstable_by_key(|g| (g.node, g.egress_ip));
            policies.push(EgressPolicyEntry {
                policy_id,
                v6: family == Family::Ipv6,
                gateways,
            });
        }
    }
    let steer = plan
        .steer
        .iter()
        .map(|e| EgressSteerEntry {
            source: e.source.addr(),
            destination: e.destination,
            policy_id: e.policy_id,
            excluded: e.excluded,
        })
        .collect();
    // (policy id, destination?, prefix, allow), once each: two egress IPs
    // of one policy on this node share their match entries.
    let mut matches: BTreeSet<(u32, bool, IpNet, bool)> = BTreeSet::new();
    let by_id: HashMap<u32, &tern_egressgw::Policy> = table.iter_with_ids().collect();
    for s in &plan.gateway {
        let family = Family::of(s.egress_ip);
        let pods: Vec<IpNet> = cluster
            .iter()
            .filter(|c| Family::of_net(c) == family)
            .copied()
            .collect();
        for src in &s.sources {
            if *src == family.any() && !pods.is_empty() {
                for c in &pods {
                    matches.insert((s.policy_id, false, *c, true));
                }
            } else {
                matches.insert((s.policy_id, false, *src, true));
            }
        }
        for dst in &s.destinations {
            matches.insert((s.policy_id, true, *dst, true));
        }
        if let Some(p) = by_id.get(&s.policy_id) {
            for e in p.excludes.iter().filter(|e| Family::of_net(e) == family) {
                matches.insert((s.policy_id, true, *e, false));
            }
        }
    }
    let t = nat.timeouts;
    EgressState {
        policies,
        steer,
        matches: matches
            .into_iter()
            .map(|(policy_id, destination, prefix, allow)| EgressMatchEntry {
                policy_id,
                destination,
                prefix,
                allow,
            })
            .collect(),
        config: MapConfig::new(
            DpTimeouts {
                tcp_syn: t.tcp_syn,
                tcp_established: t.tcp_established,
                tcp_closing: t.tcp_closing,
                other: t.other,
            },
            nat.ports.min..=nat.ports.max,
        ),
    }
}

impl EgressRuntime {
    /// Takes the node's addresses from a link dump; a change makes the
    /// next [`EgressRuntime::sync`] plan again.
    pub fn set_node_addrs(&mut self, links: &[tern_netlink::Link]) {
        let mut addrs: Vec<IpAddr> = links
            .iter()
            .flat_map(|l| l.addresses.iter().map(|a| a.addr()))
            .filter(|a| !a.is_loopback() && !a.is_unspecified())
            .collect();
        addrs.sort_unstable();
        addrs.dedup();
        self.addrs = addrs;
    }

    /// The config changed: plan and write again on the next sync.
    pub fn config_changed(&mut self) {
        self.dirty = true;
    }

    /// A new datapath was loaded (empty maps): write everything again.
    pub fn datapath_reset(&mut self) {
        self.dirty = true;
        self.programmed = false;
        self.written = false;
    }

    /// The egress IPs to announce now.
    pub fn announced(&self) -> &BTreeSet<IpNet> {
        &self.announce
    }

    /// Brings the plan, the datapath's egress maps and the announcements
    /// in line with `cfg`, the local `pods`, the Loc-RIB `rib` and the
    /// datapath (None: not loaded). Returns whether the announcements
    /// changed. Does nothing when no input changed since the last pass.
    pub fn sync(
        &mut self,
        dp: Option<&mut Datapath>,
        cfg: &EgressConfig,
        cluster: &BTreeSet<IpNet>,
        mut pods: Vec<PodInfo>,
        rib: &LocRibView,
    ) -> bool {
        let serving = dp.is_some();
        let health = Health::of(&cfg.table, rib, &self.addrs, serving);
        pods.sort_unstable();
        pods.dedup();
        let inputs = Inputs {
            pods,
            cluster: cluster.iter().copied().collect(),
            addrs: self.addrs.clone(),
            health,
            datapath: serving,
        };
        if !self.dirty && self.inputs.as_ref() == Some(&inputs) {
            return false;
        }
        if self.inputs.as_ref().map(|i| &i.health) != Some(&inputs.health) && !cfg.table.is_empty()
        {
            let healthy = inputs.health.healthy_nodes();
            tracing::info!(healthy = ?healthy, "egress gateways' health changed");
        }
        self.dirty = false;
        let node = NodeView {
            addrs: &inputs.addrs,
            health: &inputs.health.nodes,
            pods: &inputs.pods,
        };
        self.plan = tern_egressgw::plan(&cfg.table, &node);
        match dp {
            None => {
                self.programmed = false;
                self.written = false;
                self.last_error = None;
            }
            // Nothing wanted and nothing written: the maps stay untouched.
            Some(_) if cfg.is_empty() && !self.written => {
                self.programmed = true;
                self.last_error = None;
            }
            Some(dp) => {
                // A gateway forwards the other nodes' pods' traffic: the
                // FIB lookup of the translated packets needs forwarding
                // on, as on every Kubernetes node (tern-cni turns it on
                // with the first pod; a gateway may have none).
                let v4 = self.plan.gateway.iter().any(|g| g.egress_ip.is_ipv4());
                let v6 = self.plan.gateway.iter().any(|g| g.egress_ip.is_ipv6());
                if (v4 || v6)
                    && let Err(e) = tern_netlink::pod::enable_forwarding(v4, v6)
                {
                    tracing::warn!(error = %e, "egress gateway: cannot turn IP forwarding on");
                }
                let state = datapath_state(
                    &cfg.table,
                    &cfg.nat,
                    &self.plan,
                    &inputs.health,
                    &inputs.addrs,
                    &inputs.cluster,
                );
                match dp.sync_egress(&state) {
                    Ok(stats) => {
                        tracing::debug!(?stats, "egress maps written");
                        self.programmed = true;
                        self.written = !cfg.is_empty();
                        self.last_error = None;
                    }
                    Err(e) => {
                        let msg = format!("cannot program the egress gateway: {e}");
                        if self.last_error.as_ref() != Some(&msg) {
                            tracing::warn!(error = %msg, "egress gateway");
                        }
                        self.last_error = Some(msg);
                        self.programmed = false;
                        // Retried on the next pass.
                        self.dirty = true;
                    }
                }
            }
        }
        self.inputs = Some(inputs);
        let announce: BTreeSet<IpNet> = if self.programmed {
            self.plan.announce.iter().copied().collect()
        } else {
            BTreeSet::new()
        };
        let changed = announce != self.announce;
        self.announce = announce;
        changed
    }

    /// `show egress-gateway`, from the last plan (the caller syncs first).
    pub fn status(&self, cfg: &EgressConfig, dp: Option<&Datapath>) -> EgressStatus {
        let empty = Inputs {
            pods: Vec::new(),
            cluster: Vec::new(),
            addrs: self.addrs.clone(),
            health: Health::default(),
            datapath: dp.is_some(),
        };
        let inputs = self.inputs.as_ref().unwrap_or(&empty);
        let node = NodeView {
            addrs: &inputs.addrs,
            health: &inputs.health.nodes,
            pods: &inputs.pods,
        };
        let names: HashMap<u32, &str> = cfg
            .table
            .iter_with_ids()
            .map(|(id, p)| (id, p.name.as_str()))
            .collect();
        let name_of = |id: u32| names.get(&id).copied().unwrap_or("?").to_owned();
        let policies = tern_egressgw::status(&cfg.table, &node, &self.plan)
            .into_iter()
            .map(|mut s| {
                let p = cfg.table.get(&s.name);
                // Health per gateway: a node may serve one egress IP and not
                // (yet) another.
                for g in &mut s.gateways {
                    g.healthy = inputs.health.gateway_up(g.node, g.egress_ip);
                }
                s.counts.healthy_gateways = s.gateways.iter().filter(|g| g.healthy).count();
                EgressPolicy {
                    name: s.name,
                    policy_id: s.policy_id,
                    state: s.state,
                    reasons: s.reasons,
                    match_sources: p.map(|p| p.match_sources.clone()).unwrap_or_default(),
                    match_namespaces: p.map(|p| p.match_namespaces.clone()).unwrap_or_default(),
                    destinations: p.map(|p| p.destinations.clone()).unwrap_or_default(),
                    excludes: p.map(|p| p.excludes.clone()).unwrap_or_default(),
                    gateways: s.gateways,
                    counts: s.counts,
                }
            })
            .collect();
        let namespaces: BTreeMap<IpAddr, Option<String>> = inputs
            .pods
            .iter()
            .map(|p| (p.addr, p.namespace.clone()))
            .collect();
        let steering = self
            .plan
            .steer
            .iter()
            .map(|e| SteeredPod {
                pod: e.source.addr(),
                namespace: namespaces.get(&e.source.addr()).cloned().flatten(),
                policy: name_of(e.policy_id),
                destination: e.destination,
                excluded: e.excluded,
                egress_ips: e
                    .gateways
                    .iter()
                    .filter(|g| inputs.health.gateway_up(g.node, g.egress_ip))
                    .map(|g| g.egress_ip)
                    .collect(),
            })
            .collect();
        let snat = self
            .plan
            .gateway
            .iter()
            .map(|s| SnatView {
                policy: name_of(s.policy_id),
                egress_ip: s.egress_ip,
                sources: s.sources.clone(),
                destinations: s.destinations.clone(),
            })
            .collect();
        let egress_only = |v: Vec<(&'static str, u64)>| -> Vec<NamedCount> {
            v.into_iter()
                .filter(|(n, _)| n.starts_with("egress-"))
                .map(|(name, count)| NamedCount {
                    name: name.to_owned(),
                    count,
                })
                .collect()
        };
        let (drops, paths) = match dp {
            Some(dp) => (
                egress_only(
                    dp.drop_counters()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(r, n)| (r.name(), n))
                        .collect(),
                ),
                egress_only(
                    dp.path_counters()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(p, n)| (p.name(), n))
                        .collect(),
                ),
            ),
            None => (Vec::new(), Vec::new()),
        };
        EgressStatus {
            policies,
            steering,
            snat,
            announced: self.announce.iter().copied().collect(),
            nat: cfg.nat,
            datapath: dp.is_some(),
            programmed: dp.is_some() && self.programmed,
            last_error: self.last_error.clone(),
            drops,
            paths,
        }
    }
}

/// `show egress-gateway nat`: the forward entries of the egress gateway's
/// conntrack (the pod's tuple, the egress IP and port it was given).
pub fn nat_entries(dp: &Datapath, table: &PolicyTable) -> Result<EgressNat, String> {
    let names: HashMap<u32, &str> = table
        .iter_with_ids()
        .map(|(id, p)| (id, p.name.as_str()))
        .collect();
    let entries = dp
        .egress_conntrack()
        .map_err(|e| format!("cannot read the conntrack map: {e}"))?;
    let now = monotonic_ns();
    let mut out: Vec<NatEntry> = entries
        .iter()
        // (the loader gives the egress gateway's entries only)
        .filter(|(k, _)| k.dir == CT_DIR_FORWARD)
        .map(|(k, e)| NatEntry {
            policy: names.get(&e.service_id).copied().unwrap_or("?").to_owned(),
            protocol: match k.proto {
                6 => "tcp".into(),
                17 => "udp".into(),
                1 | 58 => "icmp".into(),
                p => p.to_string(),
            },
            source: key_ip(&k.src),
            source_port: k.sport,
            egress_ip: key_ip(&e.addr_b),
            egress_port: e.port_b,
            destination: key_ip(&k.dst),
            destination_port: k.dport,
            state: match e.state {
                CT_STATE_SYN => "syn",
                CT_STATE_ESTABLISHED => "established",
                CT_STATE_CLOSING => "closing",
                _ => "other",
            }
            .into(),
            expires_in: e.expires.saturating_sub(now) / 1_000_000_000,
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.policy, a.source, a.source_port, a.destination).cmp(&(
            &b.policy,
            b.source,
            b.source_port,
            b.destination,
        ))
    });
    Ok(EgressNat {
        count: out.len() as u64,
        entries: out,
    })
}

fn key_ip(a: &[u8; 16]) -> IpAddr {
    tern_ebpf::datapath::key_ip(&tern_ebpf::datapath::IpKey { addr: *a })
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

    fn config(text: &str) -> EgressConfig {
        crate::config::Config::parse("t", text)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .egress
    }

    const TWO_GATEWAYS: &str = "\
egress-gateway policy legacy-db
 match namespace finance
 destination 192.0.2.128/25
 exclude 192.0.2.200/32
 gateway 198.51.100.12 egress-ip 203.0.113.10
 gateway 198.51.100.13 egress-ip 203.0.113.11
exit
";

    #[test]
    fn health_follows_the_egress_ips_in_the_loc_rib() {
        let cfg = config(TWO_GATEWAYS);
        let mut rib = LocRibView::new();
        rib.insert(net("203.0.113.10/32"), vec![ip("192.0.2.1")]);
        // A covering route is not the egress IP's host route.
        rib.insert(net("203.0.113.0/24"), vec![ip("192.0.2.1")]);
        let h = Health::of(&cfg.table, &rib, &[ip("198.51.100.11")], true);
        assert!(h.nodes[&ip("198.51.100.12")]);
        assert!(!h.nodes[&ip("198.51.100.13")]);
        assert!(h.gateway_up(ip("198.51.100.12"), ip("203.0.113.10")));
        assert!(!h.gateway_up(ip("198.51.100.13"), ip("203.0.113.11")));
        // This node is a gateway: healthy while it serves, whatever the RIB.
        let h = Health::of(&cfg.table, &rib, &[ip("198.51.100.13")], true);
        assert!(h.gateway_up(ip("198.51.100.13"), ip("203.0.113.11")));
        let h = Health::of(&cfg.table, &rib, &[ip("198.51.100.13")], false);
        assert!(!h.gateway_up(ip("198.51.100.13"), ip("203.0.113.11")));
    }

    #[test]
    fn datapath_state_of_a_pod_node_and_of_a_gateway() {
        let cfg = config(TWO_GATEWAYS);
        let mut rib = LocRibView::new();
        rib.insert(net("203.0.113.10/32"), vec![ip("192.0.2.1")]);
        let local = [ip("198.51.100.11")];
        let health = Health::of(&cfg.table, &rib, &local, true);
        let pods = [
            PodInfo::new(ip("10.244.1.5"), Some("finance")),
            PodInfo::new(ip("10.244.1.6"), Some("web")),
        ];
        let node = NodeView {
            addrs: &local,
            health: &health.nodes,
            pods: &pods,
        };
        let plan = tern_egressgw::plan(&cfg.table, &node);
        let s = datapath_state(&cfg.table, &cfg.nat, &plan, &health, &local, &[]);
        let id = cfg.table.id("legacy-db").unwrap();
        assert_eq!(s.policies.len(), 1);
        assert_eq!((s.policies[0].policy_id, s.policies[0].v6), (id, false));
        let gws: Vec<(IpAddr, bool)> = s.policies[0]
            .gateways
            .iter()
            .map(|g| (g.egress_ip, g.local))
            .collect();
        assert_eq!(gws, [(ip("203.0.113.10"), false)], "only the healthy one");
        let steer: Vec<(IpAddr, IpNet, bool)> = s
            .steer
            .iter()
            .map(|e| (e.source, e.destination, e.excluded))
            .collect();
        assert_eq!(
            steer,
            [
                (ip("10.244.1.5"), net("192.0.2.128/25"), false),
                (ip("10.244.1.5"), net("192.0.2.200/32"), true),
            ]
        );
        assert!(s.matches.is_empty(), "not a gateway");
        assert_eq!(s.config.ports(), 1024..=65535);

        // On the gateway 198.51.100.13 (its own egress IP is not in its RIB).
        let local = [ip("198.51.100.13")];
        let health = Health::of(&cfg.table, &rib, &local, true);
        let node = NodeView {
            addrs: &local,
            health: &health.nodes,
            pods: &[],
        };
        let plan = tern_egressgw::plan(&cfg.table, &node);
        assert_eq!(plan.announce, [net("203.0.113.11/32")]);
        let s = datapath_state(&cfg.table, &cfg.nat, &plan, &health, &local, &[]);
        let gws: Vec<(IpAddr, bool)> = s.policies[0]
            .gateways
            .iter()
            .map(|g| (g.egress_ip, g.local))
            .collect();
        assert_eq!(
            gws,
            [(ip("203.0.113.10"), false), (ip("203.0.113.11"), true)]
        );
        let m: Vec<(bool, IpNet, bool)> = s
            .matches
            .iter()
            .map(|m| (m.destination, m.prefix, m.allow))
            .collect();
        assert_eq!(
            m,
            [
                (false, net("0.0.0.0/0"), true),
                (true, net("192.0.2.128/25"), true),
                (true, net("192.0.2.200/32"), false),
            ]
        );
        // With cluster CIDRs, a namespace-only policy takes its pods'
        // sources only.
        let cluster = [net("10.244.0.0/16"), net("fd00:244::/48")];
        let s = datapath_state(&cfg.table, &cfg.nat, &plan, &health, &local, &cluster);
        let sources: Vec<IpNet> = s
            .matches
            .iter()
            .filter(|m| !m.destination)
            .map(|m| m.prefix)
            .collect();
        assert_eq!(sources, [net("10.244.0.0/16")]);
    }

    #[test]
    fn sync_without_a_datapath_plans_but_announces_nothing() {
        let cfg = config(TWO_GATEWAYS);
        let mut rt = EgressRuntime {
            addrs: vec![ip("198.51.100.12")],
            ..EgressRuntime::default()
        };
        let rib = LocRibView::new();
        rt.config_changed();
        assert!(!rt.sync(None, &cfg, &BTreeSet::new(), Vec::new(), &rib));
        assert!(rt.announced().is_empty());
        let st = rt.status(&cfg, None);
        assert_eq!(st.policies.len(), 1);
        let p = &st.policies[0];
        assert_eq!(p.state, tern_egressgw::PolicyState::NoHealthyGateway);
        assert!(p.gateways[0].local && !p.gateways[0].healthy);
        assert_eq!(st.snat.len(), 1, "a gateway of the policy");
        assert!(!st.datapath && !st.programmed);
        // Nothing changed: no new plan.
        let before = rt.inputs.clone();
        assert!(!rt.sync(None, &cfg, &BTreeSet::new(), Vec::new(), &rib));
        assert_eq!(rt.inputs, before);
    }
}
