//! Tests of the SNAT settings and of the port allocator: they define what
//! the datapath's allocation must do.
use super::*;
use crate::testgen::Rng;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(proto: NatProto, dst: &str, dst_port: u16) -> NatKey {
    NatKey {
        egress_ip: ip("203.0.113.10"),
        proto,
        dst: ip(dst),
        dst_port,
    }
}

fn db() -> NatKey {
    key(NatProto::Tcp, "192.0.2.130", 5432)
}

fn allocator() -> PortAllocator {
    PortAllocator::new(PortRange::default(), &DEFAULT_RESERVED, 0x5eed).unwrap()
}

#[test]
fn default_range_stays_clear_of_other_ports() {
    let r = PortRange::default();
    assert_eq!((r.min, r.max), (1024, 29_999));
    assert_eq!(r.len(), 28_976);
    // Well-known ports, NodePorts (30000-32767) and Linux's ephemeral
    // ports (32768-60999) are outside.
    for port in [0, 1023, 30_000, 32_767, 32_768, 60_999, 65_535] {
        assert!(!r.contains(port), "{port}");
    }
    let a = allocator();
    assert_eq!(a.capacity(NatProto::Tcp), 28_976);
    assert_eq!(a.capacity(NatProto::Udp), 28_974);
    assert_eq!(a.capacity(NatProto::Icmp), 28_976);
    assert!(a.capacity(NatProto::Udp) >= 28_000);
}

#[test]
fn ranges_and_timeouts() {
    assert_eq!(PortRange::new(1, 65_535).unwrap().len(), 65_535);
    assert_eq!(PortRange::new(5000, 5000).unwrap().len(), 1);
    for (min, max) in [(0, 10), (10, 9), (1, 65_536), (70_000, 70_001)] {
        assert_eq!(
            PortRange::new(min, max).unwrap_err().to_string(),
            format!("port-range {min} {max}: expected 1 <= MIN <= MAX <= 65535")
        );
    }
    let mut t = NatTimeouts::default();
    assert_eq!(t.get("tcp-established"), Some(21_600));
    assert_eq!(t.get("udp"), None);
    assert!(t.set("other", 30));
    assert!(!t.set("sctp", 30));
    assert_eq!(t.other, 30);
    assert_eq!(t.validate(), Ok(()));
    t.tcp_syn = 0;
    assert_eq!(
        t.validate().unwrap_err().to_string(),
        "timeout 0: expected 1 to 604800 seconds"
    );
    assert!(NatTimeouts::check(MAX_TIMEOUT).is_ok());
    assert!(NatTimeouts::check(MAX_TIMEOUT + 1).is_err());
    assert_eq!(NatProto::from_number(58), Some(NatProto::Icmp));
    assert_eq!(NatProto::from_number(132), None);
    assert_eq!(
        serde_json::to_value(NatConfig::default()).unwrap()["ports"]["max"],
        29_999
    );
    // A range from JSON is checked before use.
    let bad = PortRange { min: 9, max: 8 };
    assert!(bad.is_empty());
    assert!(bad.validate().is_err());
    assert!(PortAllocator::new(bad, &[], 0).is_err());
    let cfg = NatConfig {
        ports: bad,
        ..NatConfig::default()
    };
    assert_eq!(
        cfg.validate().unwrap_err().to_string(),
        "port-range 9 8: expected 1 <= MIN <= MAX <= 65535"
    );
    assert!(!PortRange::default().is_empty());
    assert_eq!(NatConfig::default().validate(), Ok(()));
}

#[test]
fn no_collision_for_28000_concurrent_flows_to_one_destination() {
    for proto in [NatProto::Tcp, NatProto::Udp] {
        let mut a = allocator();
        let k = key(proto, "192.0.2.130", 53);
        let mut seen = HashSet::new();
        for _ in 0..28_000 {
            let port = a.allocate(k).unwrap();
            assert!(PortRange::default().contains(port));
            assert!(proto != NatProto::Udp || (port != 4789 && port != 6081));
            assert!(seen.insert(port), "port {port} given twice");
        }
        assert_eq!(a.in_use(&k), 28_000);
        // A fresh key fills without collision: one probe per port, plus
        // the reserved ones stepped over.
        let s = a.stats();
        assert_eq!(s.busy, 0);
        assert!(s.probes <= 28_000 + 2, "{s:?}");
        // The rest of the range, then exhaustion, reported and counted.
        let capacity = a.capacity(proto);
        for _ in 28_000..capacity {
            assert!(seen.insert(a.allocate(k).unwrap()));
        }
        let e = a.allocate(k).unwrap_err();
        assert_eq!(e, NatError::Exhausted { key: k, capacity });
        assert_eq!(
            e.to_string(),
            format!(
                "no free port for egress-ip 203.0.113.10 to 192.0.2.130 port 53 {proto}: \
                 all {capacity} ports are in use"
            )
        );
        assert_eq!(a.stats().exhausted, 1);
        assert_eq!(a.in_use(&k), capacity);
    }
}

#[test]
fn ports_are_per_destination() {
    let mut a = allocator();
    let one = key(NatProto::Tcp, "192.0.2.130", 5432);
    for _ in 0..a.capacity(NatProto::Tcp) {
        a.allocate(one).unwrap();
    }
    assert!(a.allocate(one).is_err());
    // Another destination port, address, protocol or egress IP: free.
    for other in [
        key(NatProto::Tcp, "192.0.2.130", 5433),
        key(NatProto::Tcp, "192.0.2.131", 5432),
        key(NatProto::Udp, "192.0.2.130", 5432),
        NatKey {
            egress_ip: ip("2001:db8::10"),
            ..key(NatProto::Tcp, "2001:db8:2::1", 5432)
        },
    ] {
        assert!(a.allocate(other).is_ok(), "{other}");
    }
    assert_eq!(a.keys(), 5);
}

#[test]
fn reuse_after_release() {
    let mut a = allocator();
    let k = db();
    let capacity = a.capacity(NatProto::Tcp);
    let mut ports: Vec<u16> = (0..capacity).map(|_| a.allocate(k).unwrap()).collect();
    let mut rng = Rng(0xfee1_900d);
    rng.shuffle(&mut ports);
    let freed: HashSet<u16> = ports[..1000].iter().copied().collect();
    for p in &freed {
        a.release(&k, *p).unwrap();
    }
    assert_eq!(a.in_use(&k), capacity - 1000);
    // Every freed port comes back, and only those; a full range makes the
    // cursor sweep, so some attempts are Busy, each after MAX_PROBES probes.
    let mut again = HashSet::new();
    let mut busy = 0;
    while again.len() < 1000 {
        match a.allocate(k) {
            Ok(p) => assert!(freed.contains(&p) && again.insert(p), "{p}"),
            Err(NatError::Busy {
                probed,
                capacity: c,
                ..
            }) => {
                assert_eq!((probed, c), (MAX_PROBES, capacity));
                busy += 1;
                assert!(
                    busy < 10 * capacity / MAX_PROBES,
                    "the cursor does not sweep"
                );
            }
            Err(e) => panic!("{e}"),
        }
    }
    // The first RECENT_PORTS releases came back first, without probing.
    assert_eq!(a.stats().from_recent, RECENT_PORTS as u64);
    assert!(matches!(a.allocate(k), Err(NatError::Exhausted { .. })));
}

#[test]
fn release_rules() {
    let mut a = allocator();
    let k = db();
    let p = a.allocate(k).unwrap();
    let q = a.allocate(k).unwrap();
    assert_ne!(p, q);
    assert!(a.is_allocated(&k, p));
    a.release(&k, p).unwrap();
    assert!(!a.is_allocated(&k, p));
    assert_eq!(
        a.release(&k, p).unwrap_err().to_string(),
        format!(
            "port {p} is not allocated for egress-ip 203.0.113.10 to 192.0.2.130 port 5432 tcp"
        )
    );
    assert!(
        a.release(&key(NatProto::Udp, "192.0.2.1", 53), 1024)
            .is_err()
    );
    // A recently released port is reused first.
    assert_eq!(a.allocate(k).unwrap(), p);
    // The last port of a key takes its state with it.
    a.release(&k, p).unwrap();
    a.release(&k, q).unwrap();
    assert_eq!(a.keys(), 0);
    assert_eq!(a.in_use(&k), 0);
}

#[test]
fn successive_short_flows_take_successive_ports() {
    // One connection at a time to one server: the key's state goes away
    // after each, yet the allocation counter moves the start on, so the
    // server never sees a 4-tuple again straight away.
    let mut a = allocator();
    let k = db();
    let mut last = HashSet::new();
    for _ in 0..100 {
        let p = a.allocate(k).unwrap();
        assert!(last.insert(p), "port {p} reused");
        a.release(&k, p).unwrap();
    }
    // Other secrets start elsewhere.
    let b = PortAllocator::new(PortRange::default(), &DEFAULT_RESERVED, 0x5eee).unwrap();
    assert_ne!(allocator().start_offset(&k), b.start_offset(&k));
}

#[test]
fn churn_costs_a_constant_per_flow() {
    // 90% of the range in use; flows end at random and are collected in
    // batches (as the NAT garbage collection does), new ones start: the
    // recent ports and the cursor keep every allocation cheap.
    let mut a = allocator();
    let k = db();
    let target = a.capacity(NatProto::Tcp) * 9 / 10;
    let mut live: Vec<u16> = (0..target).map(|_| a.allocate(k).unwrap()).collect();
    let before = a.stats();
    let mut rng = Rng(0xc0ff_ee00);
    let (rounds, batch) = (2_000u64, 64);
    for _ in 0..rounds {
        for _ in 0..batch {
            let i = rng.below(live.len() as u64) as usize;
            a.release(&k, live.swap_remove(i)).unwrap();
        }
        for _ in 0..batch {
            loop {
                match a.allocate(k) {
                    Ok(p) => {
                        live.push(p);
                        break;
                    }
                    Err(NatError::Busy { .. }) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
    let after = a.stats();
    let flows = rounds * batch;
    let probes = (after.probes - before.probes) as f64 / flows as f64;
    assert!(probes < 16.0, "{probes} probes per flow");
    assert!(after.busy * 100 < flows, "{after:?}");
    let unique: HashSet<u16> = live.iter().copied().collect();
    assert_eq!(unique.len(), live.len());
    assert_eq!(a.in_use(&k) as usize, live.len());
}

#[test]
fn small_ranges_and_reserved_ports() {
    // A range of three ports, one reserved for UDP.
    let range = PortRange::new(6080, 6082).unwrap();
    let mut a = PortAllocator::new(range, &DEFAULT_RESERVED, 1).unwrap();
    let k = key(NatProto::Udp, "192.0.2.1", 53);
    assert_eq!(a.capacity(NatProto::Udp), 2);
    let mut got = vec![a.allocate(k).unwrap(), a.allocate(k).unwrap()];
    got.sort_unstable();
    assert_eq!(got, [6080, 6082]);
    assert!(matches!(
        a.allocate(k),
        Err(NatError::Exhausted { capacity: 2, .. })
    ));
    // A range of only reserved ports holds nothing, and leaves no state.
    let mut b =
        PortAllocator::new(PortRange::new(4789, 4789).unwrap(), &DEFAULT_RESERVED, 1).unwrap();
    assert!(matches!(
        b.allocate(k),
        Err(NatError::Exhausted { capacity: 0, .. })
    ));
    assert_eq!(b.keys(), 0);
    assert_eq!(
        b.allocate(key(NatProto::Tcp, "192.0.2.1", 53)).unwrap(),
        4789
    );
}
