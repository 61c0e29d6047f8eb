//! Tests of the `service` block: every line, every refusal, round trips.
use super::*;
use crate::testgen::{self, Rng};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The example block of the config documentation.
const WEB: &[&str] = &[
    "service web",
    " frontend 198.51.100.10 port 80 tcp",
    " frontend 2001:db8:100::10 port 80 tcp",
    " backend 10.244.1.5 port 8080",
    " backend 10.244.2.7 port 8080 weight 2 state terminating",
    " external-traffic-policy local",
    " session-affinity client-ip timeout 600",
    " source-range 192.0.2.0/24",
    " algorithm maglev table-size 16381",
    " announce always",
    "exit",
];

/// Applies `line` to a copy of `svc` and returns the error text; checks that
/// the failed line changed nothing.
fn refused(svc: &Service, line: &str) -> String {
    let mut copy = svc.clone();
    let e = parse_sub_line(&mut copy, line).expect_err(line);
    assert_eq!(&copy, svc, "a failed line changed the service: {line}");
    e.to_string()
}

#[test]
fn example_block() {
    let s = parse_block(WEB).unwrap();
    assert_eq!(s.name, "web");
    assert_eq!(s.kind, ServiceKind::LoadBalancer);
    assert_eq!(
        s.frontends,
        [
            Frontend::new(ip("198.51.100.10"), 80, Protocol::Tcp),
            Frontend::new(ip("2001:db8:100::10"), 80, Protocol::Tcp),
        ]
    );
    assert_eq!(s.backends[0], Backend::new(ip("10.244.1.5"), 8080));
    assert_eq!(
        s.backends[1],
        Backend {
            addr: ip("10.244.2.7"),
            port: 8080,
            weight: 2,
            state: BackendState::Terminating
        }
    );
    assert_eq!(s.traffic_policy, TrafficPolicy::Local);
    assert_eq!(s.affinity_timeout, Some(600));
    assert_eq!(s.source_ranges, ["192.0.2.0/24".parse::<IpNet>().unwrap()]);
    assert_eq!(s.algorithm, Algorithm::default());
    assert_eq!(s.announce, Announce::Always);
    // Rendered back: the default algorithm line is left out.
    let expected: Vec<&str> = WEB
        .iter()
        .copied()
        .filter(|l| !l.contains("algorithm"))
        .collect();
    assert_eq!(render(&s), expected);
}

#[test]
fn defaults_and_short_forms() {
    let s = parse_block(&[
        "service dns",
        " type cluster-ip",
        " frontend 10.96.0.10 port 53 udp",
        " frontend 10.96.0.10 port 53",
        " backend fd00::5 port 53 state active weight 1",
        " session-affinity client-ip",
        " algorithm maglev",
    ])
    .unwrap();
    assert_eq!(s.kind, ServiceKind::ClusterIp);
    assert_eq!(s.frontends[1].proto, Protocol::Tcp);
    assert_eq!(s.backends[0], Backend::new(ip("fd00::5"), 53));
    assert_eq!(s.affinity_timeout, Some(DEFAULT_AFFINITY_TIMEOUT));
    assert_eq!(
        render(&s),
        [
            "service dns",
            " type cluster-ip",
            " frontend 10.96.0.10 port 53 udp",
            " frontend 10.96.0.10 port 53 tcp",
            " backend fd00::5 port 53",
            " session-affinity client-ip",
            "exit"
        ]
    );
    // Only the header: a service with every default, rendered as two lines.
    let empty = parse_block(&["service empty"]).unwrap();
    assert_eq!(empty, Service::new("empty"));
    assert_eq!(render(&empty), ["service empty", "exit"]);
}

#[test]
fn settings_and_their_negations() {
    let mut s = Service::new("web");
    for (line, check) in [
        (
            "type cluster-ip",
            &(|s: &Service| s.kind == ServiceKind::ClusterIp) as &dyn Fn(&Service) -> bool,
        ),
        ("no type", &|s| s.kind == ServiceKind::LoadBalancer),
        ("type cluster-ip", &|s| s.kind == ServiceKind::ClusterIp),
        ("no type cluster-ip", &|s| {
            s.kind == ServiceKind::LoadBalancer
        }),
        ("external-traffic-policy local", &|s| {
            s.traffic_policy == TrafficPolicy::Local
        }),
        ("no external-traffic-policy", &|s| {
            s.traffic_policy == TrafficPolicy::Cluster
        }),
        ("session-affinity client-ip timeout 5", &|s| {
            s.affinity_timeout == Some(5)
        }),
        ("session-affinity none", &|s| s.affinity_timeout.is_none()),
        ("session-affinity client-ip", &|s| {
            s.affinity_timeout == Some(10_800)
        }),
        ("no session-affinity client-ip timeout 7", &|s| {
            s.affinity_timeout.is_none()
        }),
        ("algorithm random", &|s| s.algorithm == Algorithm::Random),
        ("algorithm maglev table-size 251", &|s| {
            s.algorithm == Algorithm::Maglev { table_size: 251 }
        }),
        ("no algorithm", &|s| s.algorithm == Algorithm::default()),
        ("announce always", &|s| s.announce == Announce::Always),
        ("announce auto", &|s| s.announce == Announce::Auto),
        ("announce always", &|s| s.announce == Announce::Always),
        ("no announce", &|s| s.announce == Announce::Auto),
        ("source-range 192.0.2.0/24", &|s| s.source_ranges.len() == 1),
        ("source-range 192.0.2.0/24", &|s| s.source_ranges.len() == 1),
        ("source-range 2001:db8::/48", &|s| {
            s.source_ranges.len() == 2
        }),
        ("no source-range 192.0.2.0/24", &|s| {
            s.source_ranges.len() == 1
        }),
        ("   frontend 198.51.100.10 port 80 tcp", &|s| {
            s.frontends.len() == 1
        }),
        ("frontend 198.51.100.10 port 80", &|s| {
            s.frontends.len() == 1
        }),
        ("frontend 198.51.100.10 port 80 udp", &|s| {
            s.frontends.len() == 2
        }),
        ("no frontend 198.51.100.10 port 80", &|s| {
            s.frontends[0].proto == Protocol::Udp
        }),
    ] {
        parse_sub_line(&mut s, line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(check(&s), "{line}: {s:?}");
    }
}

#[test]
fn backend_lines_update_in_place() {
    let mut s = Service::new("web");
    parse_sub_line(&mut s, "backend 10.244.1.5 port 8080").unwrap();
    parse_sub_line(&mut s, "backend 10.244.1.6 port 8080 weight 3").unwrap();
    // Draining: the same backend, now terminating; it keeps its place.
    parse_sub_line(&mut s, "backend 10.244.1.5 port 8080 state terminating").unwrap();
    assert_eq!(s.backends.len(), 2);
    assert_eq!(s.backends[0].state, BackendState::Terminating);
    // A full line: the weight left out is back to 1.
    parse_sub_line(&mut s, "backend 10.244.1.6 port 8080 state maintenance").unwrap();
    assert_eq!(s.backends[1].weight, 1);
    assert_eq!(s.backends[1].state, BackendState::Maintenance);
    // Another port of the same address is another backend.
    parse_sub_line(&mut s, "backend 10.244.1.5 port 9090").unwrap();
    assert_eq!(s.backends.len(), 3);
    // `no backend` matches on address and port, whatever the options.
    parse_sub_line(
        &mut s,
        "no backend 10.244.1.5 port 8080 weight 9 state active",
    )
    .unwrap();
    parse_sub_line(&mut s, "no backend 10.244.1.6 port 8080").unwrap();
    assert_eq!(s.backends, [Backend::new(ip("10.244.1.5"), 9090)]);
}

#[test]
fn refusals_name_the_fault() {
    let s = parse_block(WEB).unwrap();
    for (line, message) in [
        (
            "",
            "incomplete line: expected type, frontend, backend, external-traffic-policy, session-affinity, source-range, algorithm, announce or no",
        ),
        (
            "frontned 198.51.100.10 port 80",
            "unknown word \"frontned\": expected type, frontend, backend, external-traffic-policy, session-affinity, source-range, algorithm, announce or no",
        ),
        (
            "no",
            "incomplete line: expected type, frontend, backend, external-traffic-policy, session-affinity, source-range, algorithm, announce or no",
        ),
        (
            "type nodeport",
            "unknown word \"nodeport\": expected load-balancer or cluster-ip",
        ),
        (
            "type cluster-ip now",
            "unknown word \"now\": expected end of line",
        ),
        ("frontend 198.51.100.10", "incomplete line: expected port"),
        (
            "frontend 198.51.100.10 80",
            "unknown word \"80\": expected port",
        ),
        (
            "frontend 198.51.100.300 port 80",
            "frontend address \"198.51.100.300\": expected an IPv4 or IPv6 address",
        ),
        (
            "frontend 198.51.100.10 port 65536",
            "port \"65536\": expected a port from 1 to 65535",
        ),
        (
            "frontend 198.51.100.10 port 0",
            "frontend 198.51.100.10 port 0 tcp: port 0 is not a service port",
        ),
        (
            "frontend 198.51.100.10 port 80 sctp",
            "unknown word \"sctp\": expected tcp, udp or end of line",
        ),
        (
            "frontend 224.0.0.5 port 80",
            "frontend 224.0.0.5 port 80 tcp: the address is multicast",
        ),
        (
            "frontend :: port 80",
            "frontend :: port 80 tcp: the address is unspecified",
        ),
        (
            "backend 10.244.1.5 port 8080 weight 0",
            "backend 10.244.1.5 port 8080: weight 0 is out of range 1..=100",
        ),
        (
            "backend 10.244.1.5 port 8080 weight 101",
            "backend 10.244.1.5 port 8080: weight 101 is out of range 1..=100",
        ),
        (
            "backend 10.244.1.5 port 8080 weight 99999999",
            "backend 10.244.1.5 port 8080: weight 99999999 is out of range 1..=100",
        ),
        (
            "backend 10.244.1.5 port 8080 weight heavy",
            "weight \"heavy\": expected a whole number",
        ),
        (
            "backend 10.244.1.5 port 8080 weight",
            "incomplete line: expected a number",
        ),
        (
            "backend 10.244.1.5 port 8080 weight 2 weight 3",
            "\"weight\" is given twice on the line",
        ),
        (
            "backend 10.244.1.5 port 8080 state draining",
            "unknown word \"draining\": expected active, terminating or maintenance",
        ),
        (
            "backend 10.244.1.5 port 8080 priority 1",
            "unknown word \"priority\": expected weight, state or end of line",
        ),
        (
            "backend 10.244.1.5 port 0",
            "backend 10.244.1.5 port 0: port 0 is not a backend port",
        ),
        (
            "external-traffic-policy node",
            "unknown word \"node\": expected cluster or local",
        ),
        (
            "session-affinity cookie",
            "unknown word \"cookie\": expected client-ip or none",
        ),
        (
            "session-affinity client-ip timeout 0",
            "session-affinity timeout 0 is out of range 1..=86400 seconds",
        ),
        (
            "session-affinity client-ip timeout 86401",
            "session-affinity timeout 86401 is out of range 1..=86400 seconds",
        ),
        (
            "session-affinity client-ip for 5",
            "unknown word \"for\": expected timeout or end of line",
        ),
        (
            "source-range 192.0.2.1/24",
            "source-range 192.0.2.1/24 has host bits set (the prefix is 192.0.2.0/24)",
        ),
        (
            "source-range 2001:db8::1/32",
            "source-range 2001:db8::1/32 has host bits set (the prefix is 2001:db8::/32)",
        ),
        (
            "source-range 192.0.2.1",
            "source-range \"192.0.2.1\": expected a prefix like 192.0.2.0/24",
        ),
        (
            "algorithm maglev table-size 1000",
            "maglev table-size 1000 is not a prime (next prime: 1009)",
        ),
        (
            "algorithm maglev table-size 250",
            "maglev table-size 250 is out of range: it must be a prime from 251 to 131071",
        ),
        (
            "algorithm maglev table-size big",
            "maglev table-size \"big\": expected a whole number",
        ),
        (
            "algorithm maglev 16381",
            "unknown word \"16381\": expected table-size or end of line",
        ),
        (
            "algorithm round-robin",
            "unknown word \"round-robin\": expected maglev or random",
        ),
        (
            "announce never",
            "unknown word \"never\": expected auto or always",
        ),
        (
            "no frontend 198.51.100.99 port 80 tcp",
            "frontend 198.51.100.99 port 80 tcp is not configured",
        ),
        (
            "no backend 10.244.9.9 port 8080",
            "backend 10.244.9.9 port 8080 is not configured",
        ),
        (
            "no source-range 203.0.113.0/24",
            "source-range 203.0.113.0/24 is not configured",
        ),
        (
            "no announce sometimes",
            "unknown word \"sometimes\": expected auto or always",
        ),
        (
            "no session-affinity client-ip timeout 0",
            "session-affinity timeout 0 is out of range 1..=86400 seconds",
        ),
        (
            "exit",
            "unknown word \"exit\": expected type, frontend, backend, external-traffic-policy, session-affinity, source-range, algorithm, announce or no",
        ),
    ] {
        assert_eq!(refused(&s, line), message, "{line}");
    }
}

#[test]
fn block_errors_carry_the_line() {
    let err = |lines: &[&str]| {
        let (i, e) = parse_block(lines).unwrap_err();
        (i, e.to_string())
    };
    assert_eq!(
        err(&[]),
        (0, "incomplete line: expected service NAME".to_owned())
    );
    assert_eq!(
        err(&["route-map x"]),
        (0, "unknown word \"route-map\": expected service".to_owned())
    );
    assert_eq!(
        err(&["service"]),
        (0, "incomplete line: expected a service name".to_owned())
    );
    assert_eq!(
        err(&["service -x"]),
        (
            0,
            "service name \"-x\": must start with a letter or a digit".to_owned()
        )
    );
    assert_eq!(
        err(&["service a b"]),
        (0, "unknown word \"b\": expected end of line".to_owned())
    );
    assert_eq!(
        err(&[
            "service a",
            " frontend 192.0.2.1 port 80",
            "",
            " backend 10.0.0.1 port x"
        ]),
        (3, "port \"x\": expected a port from 1 to 65535".to_owned())
    );
    assert_eq!(
        err(&["service a", "exit", " frontend 192.0.2.1 port 80"]),
        (2, "line after exit".to_owned())
    );
    // Rules that span lines point at the header.
    assert_eq!(
        err(&["service a", " type cluster-ip", " announce always"]),
        (
            0,
            "announce always is only for load-balancer services (this one is type cluster-ip)"
                .to_owned()
        )
    );
    let mut lines = vec![
        "service big".to_owned(),
        " algorithm maglev table-size 251".to_owned(),
    ];
    for i in 0..63 {
        lines.push(format!(" backend 10.244.0.{i} port 80"));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (i, e) = parse_block(&lines).unwrap_err();
    assert_eq!(i, 0);
    assert!(
        e.to_string()
            .contains("must be at least 4 x backends (252; next prime: 257)"),
        "{e}"
    );
    // Comments and blank lines are skipped, after exit too.
    assert!(
        parse_block(&[
            "service a",
            "!",
            "  ",
            " frontend 192.0.2.1 port 80",
            "exit",
            "!"
        ])
        .is_ok()
    );
    assert_eq!(parse_header("service web").unwrap(), "web");
}

#[test]
fn round_trips() {
    let mut rng = Rng(0x7e57_5e41_1ce5_0001);
    let mut seen_every_line = [false; 8];
    for n in 0..2000 {
        let svc = testgen::service(&mut rng, &format!("svc-{n}"), (n % 250) as u8);
        svc.validate()
            .unwrap_or_else(|e| panic!("generated {svc:?}: {e}"));
        let lines = render(&svc);
        for (k, word) in [
            "type",
            "frontend",
            "backend",
            "external",
            "session",
            "source",
            "algorithm",
            "announce",
        ]
        .iter()
        .enumerate()
        {
            seen_every_line[k] |= lines.iter().any(|l| l.starts_with(&format!(" {word}")));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let back = parse_block(&refs).unwrap_or_else(|(i, e)| panic!("{lines:?} line {i}: {e}"));
        assert_eq!(back, svc, "{lines:#?}");
        // Every sub-line negated in turn: back to a service with every default.
        let mut undone = back.clone();
        for line in &lines[1..lines.len() - 1] {
            parse_sub_line(&mut undone, &format!("no {}", line.trim()))
                .unwrap_or_else(|e| panic!("no {line}: {e}"));
        }
        assert_eq!(undone, Service::new(svc.name.clone()));
        // JSON too.
        let json = serde_json::to_string(&svc).unwrap();
        assert_eq!(serde_json::from_str::<Service>(&json).unwrap(), svc);
    }
    assert!(seen_every_line.iter().all(|&s| s), "{seen_every_line:?}");
}
