//! Tests of the per-node plan (selection, families, health, the gateway
//! side, the precedence rule) and of the gateway choice per flow.
use super::*;
use crate::config::parse_sub_line;
use crate::hash::{FlowKey, flow_hash};
use crate::testgen::{self, Rng, net};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn policy(name: &str, lines: &[&str]) -> Policy {
    let mut p = Policy::new(name);
    for l in lines {
        parse_sub_line(&mut p, l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    p
}

fn table(policies: Vec<Policy>) -> PolicyTable {
    let mut t = PolicyTable::new();
    t.apply(policies, vec![], false).unwrap();
    t
}

fn legacy_db() -> Policy {
    policy(
        "legacy-db",
        &[
            "match source 10.244.0.0/16",
            "match namespace finance",
            "destination 192.0.2.128/25",
            "exclude 192.0.2.200/32",
            "gateway 198.51.100.12 egress-ip 203.0.113.10",
        ],
    )
}

fn pods() -> Vec<PodInfo> {
    vec![
        PodInfo::new(ip("10.244.1.5"), Some("finance")),
        PodInfo::new(ip("10.244.1.6"), Some("hr")),
        PodInfo::new(ip("10.244.1.7"), None),
        PodInfo::new(ip("10.245.0.9"), Some("finance")),
        PodInfo::new(ip("fd00::5"), Some("finance")),
    ]
}

/// The plan of node `addr` with `pods`, gateways up or down per `health`.
fn plan_at(t: &PolicyTable, addr: &str, health: &[(&str, bool)], pods: &[PodInfo]) -> NodePlan {
    let health: HashMap<IpAddr, bool> = health.iter().map(|(a, h)| (ip(a), *h)).collect();
    let addrs = [ip(addr)];
    plan(
        t,
        &NodeView {
            addrs: &addrs,
            health: &health,
            pods,
        },
    )
}

fn choice(node: &str, egress: &str) -> GatewayChoice {
    GatewayChoice {
        node: ip(node),
        egress_ip: ip(egress),
    }
}

#[test]
fn the_example_on_a_pod_node() {
    let t = table(vec![legacy_db()]);
    let id = t.id("legacy-db").unwrap();
    let p = plan_at(&t, "198.51.100.11", &[("198.51.100.12", true)], &pods());
    assert_eq!(
        p.steer,
        [
            SteerEntry {
                source: net("10.244.1.5/32"),
                destination: net("192.0.2.128/25"),
                excluded: false,
                policy_id: id,
                gateways: vec![choice("198.51.100.12", "203.0.113.10")],
            },
            SteerEntry {
                source: net("10.244.1.5/32"),
                destination: net("192.0.2.200/32"),
                excluded: true,
                policy_id: id,
                gateways: vec![],
            },
        ]
    );
    assert!(p.gateway.is_empty() && p.announce.is_empty());
    // What the datapath's longest-prefix match finds.
    let found = |src: &str, dst: &str| p.lookup(ip(src), ip(dst)).map(|e| e.excluded);
    assert_eq!(found("10.244.1.5", "192.0.2.130"), Some(false));
    assert_eq!(found("10.244.1.5", "192.0.2.200"), Some(true));
    assert_eq!(found("10.244.1.5", "192.0.2.5"), None);
    assert_eq!(found("10.244.1.6", "192.0.2.130"), None);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<NodePlan>(&json).unwrap(), p);
}

#[test]
fn the_example_on_its_gateway() {
    let mut by_namespace = legacy_db();
    by_namespace.name = "by-namespace".into();
    by_namespace.match_sources.clear();
    by_namespace.match_namespaces = vec!["hr".into()];
    by_namespace.destinations = vec![net("198.18.0.0/15"), net("2001:db8::/32")];
    by_namespace.excludes.clear();
    by_namespace
        .gateways
        .push(Gateway::new(ip("198.51.100.12"), ip("2001:db8:ff::10")));
    let t = table(vec![legacy_db(), by_namespace]);
    // No health entry for itself: a node counts itself up.
    let p = plan_at(&t, "198.51.100.12", &[], &[]);
    assert!(p.steer.is_empty());
    assert_eq!(
        p.gateway,
        [
            SnatEntry {
                policy_id: t.id("by-namespace").unwrap(),
                egress_ip: ip("203.0.113.10"),
                sources: vec![net("0.0.0.0/0")],
                destinations: vec![net("198.18.0.0/15")],
            },
            SnatEntry {
                policy_id: t.id("by-namespace").unwrap(),
                egress_ip: ip("2001:db8:ff::10"),
                sources: vec![net("::/0")],
                destinations: vec![net("2001:db8::/32")],
            },
            SnatEntry {
                policy_id: t.id("legacy-db").unwrap(),
                egress_ip: ip("203.0.113.10"),
                sources: vec![net("10.244.0.0/16")],
                destinations: vec![net("192.0.2.128/25")],
            },
        ]
    );
    // One announcement per egress IP, however many policies use it.
    assert_eq!(
        p.announce,
        [net("203.0.113.10/32"), net("2001:db8:ff::10/128")]
    );
    // Its own pods go out locally through the same entries.
    let p = plan_at(
        &t,
        "198.51.100.12",
        &[],
        &[PodInfo::new(ip("10.244.9.9"), Some("hr"))],
    );
    assert_eq!(p.steer.len(), 1);
    assert_eq!(
        p.steer[0].gateways,
        [choice("198.51.100.12", "203.0.113.10")]
    );
    // Marked down, it stops taking flows but still serves the flows sent to it.
    let p = plan_at(
        &t,
        "198.51.100.12",
        &[("198.51.100.12", false)],
        &[PodInfo::new(ip("10.244.9.9"), Some("hr"))],
    );
    assert!(p.steer[0].gateways.is_empty());
    assert_eq!(p.gateway.len(), 3);
}

#[test]
fn health_decides_the_gateways() {
    let mut db = legacy_db();
    db.gateways = vec![
        Gateway::new(ip("198.51.100.14"), ip("203.0.113.14")),
        Gateway::new(ip("198.51.100.12"), ip("203.0.113.12")),
        Gateway::new(ip("198.51.100.13"), ip("203.0.113.13")),
    ];
    let t = table(vec![db]);
    let gateways = |health: &[(&str, bool)]| {
        let p = plan_at(&t, "198.51.100.11", health, &pods());
        assert_eq!(p.steer.len(), 2, "the entries stay whatever the health");
        assert!(p.steer[1].excluded && p.steer[1].gateways.is_empty());
        p.steer[0].gateways.clone()
    };
    // In address order, whatever the config's order.
    assert_eq!(
        gateways(&[
            ("198.51.100.12", true),
            ("198.51.100.13", true),
            ("198.51.100.14", true)
        ]),
        [
            choice("198.51.100.12", "203.0.113.12"),
            choice("198.51.100.13", "203.0.113.13"),
            choice("198.51.100.14", "203.0.113.14")
        ]
    );
    // Down, or not known: left out.
    assert_eq!(
        gateways(&[("198.51.100.12", false), ("198.51.100.13", true)]),
        [choice("198.51.100.13", "203.0.113.13")]
    );
    // None healthy: the entry stays, with no gateway (the datapath drops).
    assert_eq!(gateways(&[]), []);
}

#[test]
fn families() {
    let both = policy(
        "both",
        &[
            "match namespace finance",
            "destination 192.0.2.0/24",
            "destination 2001:db8::/32",
            "exclude 2001:db8:1::/48",
            "gateway 198.51.100.12 egress-ip 203.0.113.10",
            "gateway 198.51.100.12 egress-ip 2001:db8:ff::10",
        ],
    );
    let t = table(vec![both.clone()]);
    let p = plan_at(&t, "198.51.100.11", &[("198.51.100.12", true)], &pods());
    let v6: Vec<&SteerEntry> = p
        .steer
        .iter()
        .filter(|e| e.source == net("fd00::5/128"))
        .collect();
    assert_eq!(v6.len(), 2);
    assert_eq!(v6[0].destination, net("2001:db8::/32"));
    assert_eq!(v6[0].gateways, [choice("198.51.100.12", "2001:db8:ff::10")]);
    assert!(v6[1].excluded);
    let v4: Vec<&SteerEntry> = p
        .steer
        .iter()
        .filter(|e| e.source == net("10.244.1.5/32"))
        .collect();
    assert_eq!(v4.len(), 1);
    assert_eq!(v4[0].gateways, [choice("198.51.100.12", "203.0.113.10")]);
    // IPv6 destinations without an IPv6 gateway: IPv6 is not steered.
    let mut v4_only = both;
    v4_only.gateways.pop();
    let t = table(vec![v4_only]);
    let p = plan_at(&t, "198.51.100.11", &[("198.51.100.12", true)], &pods());
    assert!(p.steer.iter().all(|e| e.source.addr().is_ipv4()));
    assert_eq!(
        p.steer.len(),
        2,
        "10.244.1.5 and 10.245.0.9 to 192.0.2.0/24"
    );
    assert_eq!(active_families(t.get("both").unwrap()), [Family::Ipv4]);
}

#[test]
fn incomplete_policies_program_nothing() {
    for lines in [
        // No match.
        &[
            "destination 192.0.2.0/24",
            "gateway 198.51.100.12 egress-ip 203.0.113.10",
        ] as &[&str],
        // No destination.
        &[
            "match namespace finance",
            "gateway 198.51.100.12 egress-ip 203.0.113.10",
        ],
        // No gateway.
        &["match namespace finance", "destination 192.0.2.0/24"],
        // A match source of the other family only.
        &[
            "match source fd00::/64",
            "destination 192.0.2.0/24",
            "gateway 198.51.100.12 egress-ip 203.0.113.10",
        ],
    ] {
        let t = table(vec![policy("draft", lines)]);
        for node in ["198.51.100.11", "198.51.100.12"] {
            let p = plan_at(&t, node, &[("198.51.100.12", true)], &pods());
            assert_eq!(p, NodePlan::default(), "{lines:?} at {node}");
        }
    }
}

#[test]
fn longest_prefix_decides_between_policies() {
    // A: finance pods to 192.0.2.0/24, except 192.0.2.128/25.
    // B: pods of 10.244.1.0/24 to 192.0.2.192/26 (inside A's exclude).
    // C: finance pods to 192.0.2.0/28 (inside A's destination), elsewhere.
    // D: incomplete (no gateway): takes nothing, hides nothing.
    let t = table(vec![
        policy(
            "a",
            &[
                "match namespace finance",
                "destination 192.0.2.0/24",
                "exclude 192.0.2.128/25",
                "gateway 198.51.100.12 egress-ip 203.0.113.10",
            ],
        ),
        policy(
            "b",
            &[
                "match source 10.244.1.0/24",
                "destination 192.0.2.192/26",
                "gateway 198.51.100.13 egress-ip 203.0.113.11",
            ],
        ),
        policy(
            "c",
            &[
                "match namespace finance",
                "match source 10.244.0.0/16",
                "destination 192.0.2.0/28",
                "gateway 198.51.100.14 egress-ip 203.0.113.12",
            ],
        ),
        policy(
            "d",
            &["match namespace finance", "destination 192.0.2.64/26"],
        ),
    ]);
    let p = plan_at(
        &t,
        "198.51.100.11",
        &[
            ("198.51.100.12", true),
            ("198.51.100.13", true),
            ("198.51.100.14", true),
        ],
        &pods(),
    );
    let egress = |src: &str, dst: &str| -> Option<String> {
        let e = p.lookup(ip(src), ip(dst))?;
        Some(if e.excluded {
            "excluded".to_owned()
        } else {
            e.gateways[0].egress_ip.to_string()
        })
    };
    let finance = "10.244.1.5";
    assert_eq!(
        egress(finance, "192.0.2.70").as_deref(),
        Some("203.0.113.10")
    );
    assert_eq!(
        egress(finance, "192.0.2.5").as_deref(),
        Some("203.0.113.12")
    );
    assert_eq!(egress(finance, "192.0.2.130").as_deref(), Some("excluded"));
    assert_eq!(
        egress(finance, "192.0.2.200").as_deref(),
        Some("203.0.113.11")
    );
    // A pod only B selects: only B's prefix.
    let hr = "10.244.1.6";
    assert_eq!(egress(hr, "192.0.2.200").as_deref(), Some("203.0.113.11"));
    assert_eq!(egress(hr, "192.0.2.70"), None);
    // A finance pod outside C's sources: A's /24.
    assert_eq!(
        egress("10.245.0.9", "192.0.2.5").as_deref(),
        Some("203.0.113.10")
    );
}

#[test]
fn random_plans_keep_their_invariants() {
    let mut rng = Rng(0x91a0_0000_0003);
    for round in 0..200 {
        let mut t = PolicyTable::new();
        for i in 0..rng.below(12) {
            let _ = t.upsert(testgen::policy(&mut rng, &format!("p{i}")));
        }
        let mut pods: Vec<PodInfo> = (0..rng.below(20))
            .map(|_| {
                let base = if rng.chance(3) {
                    net("fd00::/48")
                } else {
                    net("10.244.0.0/16")
                };
                let ns = ["finance", "hr", "kube-system", "db-1"][rng.below(4) as usize];
                PodInfo::new(rng.addr_in(base), (!rng.chance(5)).then_some(ns))
            })
            .collect();
        let mut health: Vec<(String, bool)> = Vec::new();
        for b in 1..=250u8 {
            if rng.chance(3) {
                health.push((format!("198.51.100.{b}"), rng.chance(3)));
            }
        }
        let health: Vec<(&str, bool)> = health.iter().map(|(a, h)| (a.as_str(), *h)).collect();
        let node = format!("198.51.100.{}", rng.below(250) + 1);
        let p = plan_at(&t, &node, &health, &pods);
        // The pods' order does not matter.
        rng.shuffle(&mut pods);
        assert_eq!(plan_at(&t, &node, &health, &pods), p, "round {round}");
        let mut keys = BTreeSet::new();
        for e in &p.steer {
            assert!(keys.insert((e.source, e.destination)), "{e:?} twice");
            let policy = t
                .iter_with_ids()
                .find(|(id, _)| *id == e.policy_id)
                .map(|(_, p)| p)
                .unwrap();
            let pod = pods
                .iter()
                .find(|q| IpNet::from(q.addr) == e.source)
                .unwrap();
            assert!(policy.selects(pod));
            assert_eq!(e.source.addr().is_ipv4(), e.destination.addr().is_ipv4());
            let family = Family::of_net(&e.destination);
            if e.excluded {
                assert!(policy.excludes.contains(&e.destination));
                assert!(e.gateways.is_empty());
            } else {
                assert!(policy.destinations.contains(&e.destination));
                assert!(e.gateways.windows(2).all(|w| w[0] < w[1]));
                for g in &e.gateways {
                    assert_eq!(Family::of(g.egress_ip), family);
                    assert!(policy.gateways.contains(&Gateway::new(g.node, g.egress_ip)));
                }
            }
        }
        for s in &p.gateway {
            assert!(p.announce.contains(&IpNet::from(s.egress_ip)));
            assert!(!s.sources.is_empty() && !s.destinations.is_empty());
        }
    }
}

/// `flows` flow hashes, from real 5-tuples.
fn flow_hashes(flows: u32) -> Vec<u32> {
    (0..flows)
        .map(|i| {
            flow_hash(&FlowKey {
                src: IpAddr::from((0x0af4_0000 + (i % 200)).to_be_bytes()),
                dst: ip("192.0.2.130"),
                proto: 6,
                src_port: 20_000 + (i / 200) as u16,
                dst_port: 5432,
            })
        })
        .collect()
}

fn gateways(n: u8) -> Vec<GatewayChoice> {
    (1..=n)
        .map(|i| GatewayChoice {
            node: IpAddr::from([198, 51, 100, i]),
            egress_ip: IpAddr::from([203, 0, 113, i]),
        })
        .collect()
}

#[test]
fn pick_spreads_flows_evenly() {
    assert_eq!(pick(42, &[]), None);
    let gws = gateways(5);
    let hashes = flow_hashes(100_000);
    let mut counts = HashMap::new();
    for &h in &hashes {
        *counts.entry(pick(h, &gws).unwrap().node).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 5);
    for (node, c) in counts {
        assert!((18_000..22_000).contains(&c), "{node}: {c}");
    }
    // The list's order does not matter.
    let mut reversed = gws.clone();
    reversed.reverse();
    for &h in &hashes[..1000] {
        assert_eq!(pick(h, &gws), pick(h, &reversed));
    }
}

#[test]
fn removing_a_gateway_moves_only_its_flows() {
    let hashes = flow_hashes(50_000);
    for n in [2u8, 3, 4, 8] {
        let all = gateways(n);
        for gone in 0..usize::from(n) {
            let mut rest = all.clone();
            let removed = rest.remove(gone);
            let mut moved = 0;
            for &h in &hashes {
                let before = *pick(h, &all).unwrap();
                let after = *pick(h, &rest).unwrap();
                if before == removed {
                    moved += 1;
                    assert_ne!(after, removed);
                } else {
                    assert_eq!(after, before, "a flow left a gateway that stayed");
                }
            }
            // About 1/n of the flows used it.
            let share = f64::from(moved) / hashes.len() as f64;
            let expected = 1.0 / f64::from(n);
            assert!((share - expected).abs() < 0.2 * expected, "{n}: {share}");
        }
    }
}

#[test]
fn adding_a_gateway_moves_only_the_flows_it_wins() {
    let hashes = flow_hashes(50_000);
    let four = gateways(4);
    let five = gateways(5);
    let mut moved = 0;
    for &h in &hashes {
        let before = pick(h, &four).unwrap();
        let after = pick(h, &five).unwrap();
        if before != after {
            assert_eq!(after, &five[4], "a flow moved between old gateways");
            moved += 1;
        }
    }
    let share = f64::from(moved) / hashes.len() as f64;
    assert!((share - 0.2).abs() < 0.04, "{share}");
}
