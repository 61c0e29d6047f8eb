//! Tests of the service table (ownership, all-or-nothing apply) and of the
//! per-node plan (locality, terminating fallback, families, announcing).
use super::*;
use crate::model::{Algorithm, Protocol};
use crate::testgen::{self, Rng};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fe(addr: &str, port: u16) -> Frontend {
    Frontend::new(ip(addr), port, Protocol::Tcp)
}

fn svc(name: &str, frontends: &[Frontend]) -> Service {
    let mut s = Service::new(name);
    s.frontends = frontends.to_vec();
    s.backends.push(Backend::new(ip("10.244.1.5"), 8080));
    s
}

/// The owner index matches the services exactly.
fn check_index(t: &ServiceTable) {
    let mut expected = HashMap::new();
    for s in t.iter() {
        for f in &s.frontends {
            assert!(expected.insert(*f, s.name.clone()).is_none(), "{f} twice");
        }
    }
    assert_eq!(t.owners, expected);
}

#[test]
fn upsert_and_delete() {
    let mut t = ServiceTable::new();
    assert!(t.is_empty());
    let web = svc("web", &[fe("198.51.100.10", 80)]);
    assert_eq!(t.upsert(web.clone()).unwrap(), Change::Added("web".into()));
    assert_eq!(
        t.upsert(web.clone()).unwrap(),
        Change::Unchanged("web".into())
    );
    let mut web2 = web.clone();
    web2.frontends = vec![fe("198.51.100.11", 80)];
    assert_eq!(
        t.upsert(web2.clone()).unwrap(),
        Change::Updated("web".into())
    );
    assert_eq!(t.frontend_owner(&fe("198.51.100.10", 80)), None);
    assert_eq!(t.frontend_owner(&fe("198.51.100.11", 80)), Some("web"));
    assert_eq!(t.get("web"), Some(&web2));
    assert_eq!(t.len(), 1);
    check_index(&t);

    // A frontend another service has: refused, naming both.
    let api = svc("api", &[fe("198.51.100.20", 443), fe("198.51.100.11", 80)]);
    assert_eq!(
        t.upsert(api).unwrap_err().to_string(),
        "service api: frontend 198.51.100.11 port 80 tcp is already used by service web"
    );
    // The same address and port over UDP is free.
    let mut dns = svc("dns", &[fe("198.51.100.11", 80)]);
    dns.frontends[0].proto = Protocol::Udp;
    assert_eq!(t.upsert(dns).unwrap(), Change::Added("dns".into()));

    // An invalid service: refused with its name.
    let mut bad = svc("bad", &[]);
    bad.algorithm = Algorithm::Maglev { table_size: 1000 };
    assert_eq!(
        t.upsert(bad).unwrap_err().to_string(),
        "service bad: maglev table-size 1000 is not a prime (next prime: 1009)"
    );
    assert_eq!(t.len(), 2);

    assert_eq!(t.delete("web").unwrap(), Change::Removed("web".into()));
    assert_eq!(
        t.delete("web").unwrap_err().to_string(),
        "no service named web"
    );
    assert_eq!(t.frontend_owner(&fe("198.51.100.11", 80)), None);
    assert_eq!(
        t.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["dns"]
    );
    check_index(&t);
}

#[test]
fn apply_is_all_or_nothing() {
    let mut t = ServiceTable::new();
    t.apply(
        vec![
            svc("web", &[fe("198.51.100.10", 80)]),
            svc("api", &[fe("198.51.100.20", 443)]),
        ],
        vec![],
        false,
    )
    .unwrap();
    let before = t.clone();
    let mut bad_weight = svc("new", &[fe("198.51.100.30", 80)]);
    bad_weight.backends[0].weight = 0;
    for (upsert, delete, replace_all, message) in [
        (
            vec![svc("new", &[fe("198.51.100.30", 80)]), bad_weight],
            vec![],
            false,
            "service new is given twice",
        ),
        (
            vec![svc("ok", &[fe("198.51.100.31", 80)]), {
                let mut s = svc("new", &[fe("198.51.100.30", 80)]);
                s.backends[0].weight = 0;
                s
            }],
            vec!["web".to_owned()],
            false,
            "service new: backend 10.244.1.5 port 8080: weight 0 is out of range 1..=100",
        ),
        (
            vec![svc("ok", &[fe("198.51.100.31", 80)])],
            vec!["web".to_owned(), "nope".to_owned()],
            false,
            "no service named nope",
        ),
        (
            vec![svc("web", &[fe("198.51.100.10", 80)])],
            vec!["web".to_owned()],
            false,
            "service web is both upserted and deleted",
        ),
        (
            vec![svc("ok", &[fe("198.51.100.31", 80)])],
            vec!["web".to_owned(), "web".to_owned()],
            false,
            "service web is given twice",
        ),
        (
            // Takes api's frontend while api stays.
            vec![
                svc("ok", &[fe("198.51.100.31", 80)]),
                svc("thief", &[fe("198.51.100.20", 443)]),
            ],
            vec!["web".to_owned()],
            false,
            "service thief: frontend 198.51.100.20 port 443 tcp is already used by service api",
        ),
        (
            // Two new services with one frontend.
            vec![
                svc("one", &[fe("198.51.100.40", 80)]),
                svc("two", &[fe("198.51.100.40", 80)]),
            ],
            vec![],
            true,
            "service two: frontend 198.51.100.40 port 80 tcp is already used by service one",
        ),
    ] {
        let e = t.apply(upsert, delete, replace_all).unwrap_err();
        assert_eq!(e.to_string(), message);
        assert_eq!(t, before, "{message}: the table changed");
    }
}

#[test]
fn apply_moves_frontends_and_resyncs() {
    let mut t = ServiceTable::new();
    t.apply(
        vec![
            svc("web", &[fe("198.51.100.10", 80)]),
            svc("api", &[fe("198.51.100.20", 443)]),
            svc("old", &[fe("198.51.100.30", 80)]),
        ],
        vec![],
        false,
    )
    .unwrap();
    // A frontend moves from web to api, whichever comes first.
    let changes = t
        .apply(
            vec![
                svc("api", &[fe("198.51.100.20", 443), fe("198.51.100.10", 80)]),
                svc("web", &[fe("198.51.100.11", 80)]),
            ],
            vec![],
            false,
        )
        .unwrap();
    assert_eq!(
        changes,
        [Change::Updated("api".into()), Change::Updated("web".into())]
    );
    assert_eq!(t.frontend_owner(&fe("198.51.100.10", 80)), Some("api"));
    check_index(&t);
    // A frontend freed by a delete can be taken in the same call.
    let changes = t
        .apply(
            vec![svc("new", &[fe("198.51.100.30", 80)])],
            vec!["old".to_owned()],
            false,
        )
        .unwrap();
    assert_eq!(
        changes,
        [Change::Removed("old".into()), Change::Added("new".into())]
    );
    check_index(&t);
    // A full resync: what is not given goes; what is given as it was is
    // unchanged; a swept-away service's frontend may be taken.
    let api = t.get("api").unwrap().clone();
    let changes = t
        .apply(
            vec![api, svc("web2", &[fe("198.51.100.11", 80)])],
            vec![],
            true,
        )
        .unwrap();
    assert_eq!(
        changes,
        [
            Change::Removed("new".into()),
            Change::Removed("web".into()),
            Change::Unchanged("api".into()),
            Change::Added("web2".into()),
        ]
    );
    assert_eq!(t.len(), 2);
    check_index(&t);
    assert_eq!(t.apply(vec![], vec![], true).unwrap().len(), 2);
    assert!(t.is_empty());
    check_index(&t);
}

/// Random batches against a model: the table is either the model's next
/// state or unchanged, and the owner index always matches.
#[test]
fn apply_random_batches() {
    let mut rng = Rng(0xdead_beef_0bad_f00d);
    let mut t = ServiceTable::new();
    let (mut ok, mut refused) = (0, 0);
    for round in 0..400 {
        let before = t.clone();
        let mut upsert = Vec::new();
        for _ in 0..rng.below(4) {
            let name = format!("s{}", rng.below(12));
            // Few tags: frontends collide now and then.
            let tag = rng.below(3) as u8;
            upsert.push(testgen::service(&mut rng, &name, tag));
        }
        let mut delete = Vec::new();
        for s in t.iter() {
            if rng.chance(8) {
                delete.push(s.name.clone());
            }
        }
        let replace_all = rng.chance(10);
        let expected_names: BTreeSet<String> = if replace_all {
            upsert.iter().map(|s| s.name.clone()).collect()
        } else {
            t.iter()
                .map(|s| s.name.clone())
                .filter(|n| !delete.contains(n))
                .chain(upsert.iter().map(|s| s.name.clone()))
                .collect()
        };
        match t.apply(upsert.clone(), delete, replace_all) {
            Ok(changes) => {
                ok += 1;
                let names: BTreeSet<String> = t.iter().map(|s| s.name.clone()).collect();
                assert_eq!(names, expected_names, "round {round}");
                for s in &upsert {
                    assert_eq!(t.get(&s.name), Some(s));
                }
                assert!(changes.iter().all(|c| match c {
                    Change::Removed(n) => t.get(n).is_none(),
                    other => t.get(other.name()).is_some(),
                }));
            }
            Err(_) => {
                refused += 1;
                assert_eq!(t, before, "round {round}");
            }
        }
        check_index(&t);
    }
    assert!(ok > 50 && refused > 20, "ok {ok} refused {refused}");
}

/// A node whose pods are 10.244.1.0/24 and fd00:1::/64.
fn this_node(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.octets()[..3] == [10, 244, 1],
        IpAddr::V6(a) => a.segments()[..4] == [0xfd00, 1, 0, 0],
    }
}

fn backend(addr: &str, state: BackendState) -> Backend {
    Backend {
        state,
        ..Backend::new(ip(addr), 8080)
    }
}

fn addrs(p: &FrontendPlan) -> Vec<String> {
    p.backends.iter().map(|b| b.addr.to_string()).collect()
}

#[test]
fn plan_cluster_and_local() {
    use BackendState::*;
    let node = NodeView {
        is_local: &this_node,
    };
    let mut s = Service::new("web");
    s.frontends = vec![fe("198.51.100.10", 80), fe("2001:db8:100::10", 80)];
    s.backends = vec![
        backend("10.244.1.5", Active),
        backend("10.244.2.7", Active),
        backend("fd00:1::5", Active),
        backend("fd00:2::7", Active),
        backend("10.244.1.9", Maintenance),
    ];
    let p = plan(&s, &node);
    assert_eq!(p.len(), 2);
    // Each family its own backends; maintenance never.
    assert_eq!(addrs(&p[0]), ["10.244.1.5", "10.244.2.7"]);
    assert_eq!(addrs(&p[1]), ["fd00:1::5", "fd00:2::7"]);
    assert!(p[0].announce && p[1].announce);

    s.traffic_policy = TrafficPolicy::Local;
    let p = plan(&s, &node);
    assert_eq!(addrs(&p[0]), ["10.244.1.5"]);
    assert_eq!(addrs(&p[1]), ["fd00:1::5"]);
    assert!(p[0].announce);

    // Another node with no pod of the service: nothing, not announced.
    let elsewhere = NodeView {
        is_local: &|_| false,
    };
    let p = plan(&s, &elsewhere);
    assert!(p.iter().all(|f| f.backends.is_empty() && !f.announce));
    // Announce always keeps the VIP, with no backend.
    s.announce = Announce::Always;
    assert!(plan(&s, &elsewhere).iter().all(|f| f.announce));
    assert_eq!(
        announced_prefixes(&table_of(&[s.clone()]), &elsewhere),
        ["198.51.100.10/32", "2001:db8:100::10/128"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect()
    );
}

fn table_of(services: &[Service]) -> ServiceTable {
    let mut t = ServiceTable::new();
    t.apply(services.to_vec(), vec![], true).unwrap();
    t
}

#[test]
fn plan_terminating_fallback() {
    use BackendState::*;
    let node = NodeView {
        is_local: &this_node,
    };
    let mut s = Service::new("web");
    s.frontends = vec![fe("198.51.100.10", 80)];
    s.backends = vec![
        backend("10.244.1.5", Terminating),
        backend("10.244.2.7", Terminating),
        backend("10.244.1.6", Maintenance),
    ];
    // No active backend: the terminating ones take new flows, but the VIP
    // is not kept announced by them.
    let p = plan(&s, &node);
    assert_eq!(addrs(&p[0]), ["10.244.1.5", "10.244.2.7"]);
    assert!(!p[0].announce);
    // Local: only this node's terminating backends.
    s.traffic_policy = TrafficPolicy::Local;
    assert_eq!(addrs(&plan(&s, &node)[0]), ["10.244.1.5"]);
    // One active backend elsewhere does not count under Local.
    s.backends.push(backend("10.244.2.8", Active));
    let p = plan(&s, &node);
    assert_eq!(addrs(&p[0]), ["10.244.1.5"]);
    assert!(!p[0].announce);
    // A local active one wins over every terminating one.
    s.backends.push(backend("10.244.1.7", Active));
    let p = plan(&s, &node);
    assert_eq!(addrs(&p[0]), ["10.244.1.7"]);
    assert!(p[0].announce);
    // Only maintenance: nothing.
    s.backends = vec![backend("10.244.1.6", Maintenance)];
    let p = plan(&s, &node);
    assert!(p[0].backends.is_empty() && !p[0].announce);
}

#[test]
fn plan_families_and_cluster_ip() {
    use BackendState::*;
    let node = NodeView {
        is_local: &this_node,
    };
    let mut s = Service::new("v6only");
    s.frontends = vec![fe("198.51.100.10", 80), fe("2001:db8:100::10", 80)];
    s.backends = vec![backend("fd00:2::7", Active)];
    let p = plan(&s, &node);
    // The IPv4 frontend has no IPv4 backend: empty and not announced.
    assert!(p[0].backends.is_empty() && !p[0].announce);
    assert!(p[1].announce);

    s.kind = ServiceKind::ClusterIp;
    let p = plan(&s, &node);
    assert_eq!(addrs(&p[1]), ["fd00:2::7"]);
    assert!(p.iter().all(|f| !f.announce));
}

#[test]
fn announced_prefixes_one_per_address() {
    use BackendState::*;
    let node = NodeView {
        is_local: &this_node,
    };
    let mut web = Service::new("web");
    web.frontends = vec![fe("198.51.100.10", 80), fe("198.51.100.10", 443)];
    web.backends = vec![backend("10.244.2.7", Active)];
    let mut dns = Service::new("dns");
    dns.frontends = vec![Frontend::new(ip("198.51.100.10"), 53, Protocol::Udp)];
    dns.backends = vec![backend("10.244.1.5", Active)];
    let mut internal = Service::new("internal");
    internal.kind = ServiceKind::ClusterIp;
    internal.frontends = vec![fe("10.96.0.1", 443)];
    internal.backends = vec![backend("10.244.1.5", Active)];
    let mut draining = Service::new("draining");
    draining.frontends = vec![fe("198.51.100.20", 80)];
    draining.backends = vec![backend("10.244.1.5", Terminating)];
    let t = table_of(&[web, dns, internal, draining]);
    let got: Vec<String> = announced_prefixes(&t, &node)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(got, ["198.51.100.10/32"]);
}
