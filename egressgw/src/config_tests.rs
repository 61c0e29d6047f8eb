//! Tests of the `egress-gateway` lines: every line, every refusal, round trips.
use super::*;
use crate::nat::{DEFAULT_PORT_MAX, DEFAULT_PORT_MIN};
use crate::testgen::{self, Rng, net};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The example block of the issue.
const LEGACY_DB: &[&str] = &[
    "egress-gateway policy legacy-db",
    " match source 10.244.0.0/16",
    " match namespace finance",
    " destination 192.0.2.128/25",
    " exclude 192.0.2.200/32",
    " gateway 198.51.100.12 egress-ip 203.0.113.10",
    "exit",
];

/// Applies `line` to a copy of `p` and returns the error text; checks that
/// the failed line changed nothing.
fn refused(p: &Policy, line: &str) -> String {
    let mut copy = p.clone();
    let e = parse_sub_line(&mut copy, line).expect_err(line);
    assert_eq!(&copy, p, "a failed line changed the policy: {line}");
    e.to_string()
}

#[test]
fn example_block() {
    let p = parse_block(LEGACY_DB).unwrap();
    assert_eq!(p.name, "legacy-db");
    assert_eq!(p.match_sources, [net("10.244.0.0/16")]);
    assert_eq!(p.match_namespaces, ["finance"]);
    assert_eq!(p.destinations, [net("192.0.2.128/25")]);
    assert_eq!(p.excludes, [net("192.0.2.200/32")]);
    assert_eq!(
        p.gateways,
        [Gateway::new(ip("198.51.100.12"), ip("203.0.113.10"))]
    );
    assert_eq!(render(&p), LEGACY_DB);
    // Only the header: an empty (incomplete) policy.
    let empty = parse_block(&["egress-gateway policy draft"]).unwrap();
    assert_eq!(empty, Policy::new("draft"));
    assert_eq!(render(&empty), ["egress-gateway policy draft", "exit"]);
}

#[test]
fn lines_and_their_negations() {
    let mut p = Policy::new("p");
    for (line, check) in [
        (
            "match source 10.244.0.0/16",
            &(|p: &Policy| p.match_sources.len() == 1) as &dyn Fn(&Policy) -> bool,
        ),
        ("   match source 10.244.0.0/16", &|p| {
            p.match_sources.len() == 1
        }),
        ("match source fd00::/64", &|p| p.match_sources.len() == 2),
        ("no match source 10.244.0.0/16", &|p| {
            p.match_sources == [net("fd00::/64")]
        }),
        ("match namespace finance", &|p| {
            p.match_namespaces.len() == 1
        }),
        ("match namespace hr", &|p| p.match_namespaces.len() == 2),
        ("no match namespace finance", &|p| {
            p.match_namespaces == ["hr"]
        }),
        ("destination 192.0.2.0/24", &|p| p.destinations.len() == 1),
        ("destination 2001:db8::/32", &|p| p.destinations.len() == 2),
        ("destination 192.0.2.0/24", &|p| p.destinations.len() == 2),
        ("exclude 192.0.2.7/32", &|p| p.excludes.len() == 1),
        ("exclude 2001:db8:1::/48", &|p| p.excludes.len() == 2),
        ("no exclude 192.0.2.7/32", &|p| {
            p.excludes == [net("2001:db8:1::/48")]
        }),
        ("no destination 192.0.2.0/24", &|p| {
            p.destinations == [net("2001:db8::/32")]
        }),
        ("gateway 198.51.100.12 egress-ip 2001:db8:ff::10", &|p| {
            p.gateways.len() == 1
        }),
        ("gateway 198.51.100.12 egress-ip 203.0.113.10", &|p| {
            p.gateways.len() == 2
        }),
        ("gateway 198.51.100.13 egress-ip 203.0.113.11", &|p| {
            p.gateways.len() == 3
        }),
        ("gateway 198.51.100.13 egress-ip 203.0.113.11", &|p| {
            p.gateways.len() == 3
        }),
        ("no gateway 198.51.100.13 egress-ip 203.0.113.11", &|p| {
            p.gateways.len() == 2
        }),
        // Every line of one node.
        ("no gateway 198.51.100.12", &|p| p.gateways.is_empty()),
    ] {
        parse_sub_line(&mut p, line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(check(&p), "{line}: {p:?}");
    }
}

#[test]
fn refusals_name_the_fault() {
    let p = parse_block(LEGACY_DB).unwrap();
    for (line, message) in [
        (
            "",
            "incomplete line: expected match, destination, exclude, gateway or no",
        ),
        (
            "no",
            "incomplete line: expected match, destination, exclude, gateway or no",
        ),
        (
            "destinaton 192.0.2.0/24",
            "unknown word \"destinaton\": expected match, destination, exclude, gateway or no",
        ),
        (
            "exit",
            "unknown word \"exit\": expected match, destination, exclude, gateway or no",
        ),
        ("match", "incomplete line: expected source or namespace"),
        (
            "match label app=db",
            "unknown word \"label\": expected source or namespace",
        ),
        ("match source", "incomplete line: expected a prefix"),
        (
            "match source 10.244.0.0",
            "match source \"10.244.0.0\": expected a prefix like 192.0.2.0/24 or 2001:db8::/32",
        ),
        (
            "match source 10.244.1.0/16",
            "match source 10.244.1.0/16 has host bits set (the prefix is 10.244.0.0/16)",
        ),
        (
            "match source 10.244.0.0/16 10.245.0.0/16",
            "unknown word \"10.245.0.0/16\": expected end of line",
        ),
        (
            "match source ::ffff:10.244.0.0/112",
            "match source ::ffff:10.244.0.0/112 is an IPv4-mapped IPv6 prefix (inside ::ffff:0:0/96): write the IPv4 prefix",
        ),
        (
            "match namespace",
            "incomplete line: expected a namespace name",
        ),
        (
            "match namespace Finance",
            "namespace \"Finance\": may hold only lower-case letters, digits and '-'",
        ),
        (
            "match namespace finance hr",
            "unknown word \"hr\": expected end of line",
        ),
        (
            "destination 192.0.2.129/25",
            "destination 192.0.2.129/25 has host bits set (the prefix is 192.0.2.128/25)",
        ),
        (
            "destination 2001:db8::1/32",
            "destination 2001:db8::1/32 has host bits set (the prefix is 2001:db8::/32)",
        ),
        (
            "destination 192.0.2.0/33",
            "destination \"192.0.2.0/33\": expected a prefix like 192.0.2.0/24 or 2001:db8::/32",
        ),
        (
            "exclude 192.0.2.201/24",
            "exclude 192.0.2.201/24 has host bits set (the prefix is 192.0.2.0/24)",
        ),
        (
            "gateway",
            "incomplete line: expected an IPv4 or IPv6 address",
        ),
        (
            "gateway node2 egress-ip 203.0.113.10",
            "gateway \"node2\": expected an IPv4 or IPv6 address",
        ),
        (
            "gateway 198.51.100.12",
            "incomplete line: expected egress-ip",
        ),
        (
            "gateway 198.51.100.12 203.0.113.10",
            "unknown word \"203.0.113.10\": expected egress-ip",
        ),
        (
            "gateway 198.51.100.12 egress-ip",
            "incomplete line: expected an IPv4 or IPv6 address",
        ),
        (
            "gateway 198.51.100.12 egress-ip 203.0.113.300",
            "egress-ip \"203.0.113.300\": expected an IPv4 or IPv6 address",
        ),
        (
            "gateway 198.51.100.12 egress-ip 203.0.113.10 weight 2",
            "unknown word \"weight\": expected end of line",
        ),
        (
            "gateway 127.0.0.1 egress-ip 203.0.113.10",
            "gateway 127.0.0.1: the address is loopback",
        ),
        (
            "gateway 198.51.100.12 egress-ip 224.0.0.5",
            "egress-ip 224.0.0.5: the address is multicast",
        ),
        (
            "gateway 198.51.100.12 egress-ip 0.0.0.0",
            "egress-ip 0.0.0.0: the address is unspecified",
        ),
        (
            "no match source 10.245.0.0/16",
            "match source 10.245.0.0/16 is not configured",
        ),
        (
            "no match namespace hr",
            "match namespace hr is not configured",
        ),
        (
            "no destination 192.0.2.0/25",
            "destination 192.0.2.0/25 is not configured",
        ),
        (
            "no exclude 192.0.2.201/32",
            "exclude 192.0.2.201/32 is not configured",
        ),
        (
            "no gateway 198.51.100.12 egress-ip 203.0.113.11",
            "gateway 198.51.100.12 egress-ip 203.0.113.11 is not configured",
        ),
        (
            "no gateway 198.51.100.13",
            "gateway 198.51.100.13 is not configured",
        ),
        (
            "no gateway 198.51.100.12 egress-ip",
            "incomplete line: expected an IPv4 or IPv6 address",
        ),
        (
            "no gateway 198.51.100.12 via 203.0.113.10",
            "unknown word \"via\": expected egress-ip",
        ),
    ] {
        assert_eq!(refused(&p, line), message, "{line}");
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
        (
            0,
            "incomplete line: expected egress-gateway policy NAME".to_owned()
        )
    );
    assert_eq!(
        err(&["egress-gateway"]),
        (0, "incomplete line: expected policy".to_owned())
    );
    assert_eq!(
        err(&["egress-gateway nat"]),
        (0, "unknown word \"nat\": expected policy".to_owned())
    );
    assert_eq!(
        err(&["service web"]),
        (
            0,
            "unknown word \"service\": expected egress-gateway".to_owned()
        )
    );
    assert_eq!(
        err(&["egress-gateway policy"]),
        (0, "incomplete line: expected a policy name".to_owned())
    );
    assert_eq!(
        err(&["egress-gateway policy -db"]),
        (
            0,
            "policy name \"-db\": must start with a letter or a digit".to_owned()
        )
    );
    assert_eq!(
        err(&["egress-gateway policy db x"]),
        (0, "unknown word \"x\": expected end of line".to_owned())
    );
    assert_eq!(
        err(&[
            "egress-gateway policy db",
            " destination 192.0.2.0/24",
            "",
            " exclude 192.0.2.0/33"
        ]),
        (
            3,
            "exclude \"192.0.2.0/33\": expected a prefix like 192.0.2.0/24 or 2001:db8::/32"
                .to_owned()
        )
    );
    assert_eq!(
        err(&[
            "egress-gateway policy db",
            "exit",
            " destination 192.0.2.0/24"
        ]),
        (2, "line after exit".to_owned())
    );
    // Rules that span lines point at the header.
    assert_eq!(
        err(&[
            "egress-gateway policy db",
            " destination 192.0.2.0/24",
            " exclude 198.18.0.0/16"
        ]),
        (
            0,
            "exclude 198.18.0.0/16 lies in no destination of the policy".to_owned()
        )
    );
    assert_eq!(
        err(&[
            "egress-gateway policy db",
            " destination 192.0.2.0/24",
            " gateway 198.51.100.12 egress-ip 2001:db8::10"
        ]),
        (
            0,
            "gateway 198.51.100.12 egress-ip 2001:db8::10: the egress-ip is IPv6 but the policy has no IPv6 destination"
                .to_owned()
        )
    );
    assert_eq!(
        err(&[
            "egress-gateway policy db",
            " gateway 198.51.100.12 egress-ip 203.0.113.10",
            " gateway 198.51.100.13 egress-ip 203.0.113.10"
        ]),
        (
            0,
            "egress-ip 203.0.113.10 is given to two gateway nodes (198.51.100.12 and 198.51.100.13)"
                .to_owned()
        )
    );
    // Comments and blank lines are skipped, after exit too.
    assert!(
        parse_block(&[
            "egress-gateway policy db",
            "!",
            "  ",
            " destination 192.0.2.0/24",
            "exit",
            "!"
        ])
        .is_ok()
    );
    assert_eq!(
        parse_header("egress-gateway   policy  legacy-db").unwrap(),
        "legacy-db"
    );
}

#[test]
fn round_trips() {
    let mut rng = Rng(0x7e57_e9e5_5000_0001);
    let mut seen = [false; 5];
    for n in 0..3000 {
        let p = testgen::policy(&mut rng, &format!("policy-{n}"));
        p.validate()
            .unwrap_or_else(|e| panic!("generated {p:?}: {e}"));
        let lines = render(&p);
        for (k, word) in [
            " match source",
            " match namespace",
            " destination",
            " exclude",
            " gateway",
        ]
        .iter()
        .enumerate()
        {
            seen[k] |= lines.iter().any(|l| l.starts_with(word));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let back = parse_block(&refs).unwrap_or_else(|(i, e)| panic!("{lines:?} line {i}: {e}"));
        assert_eq!(back, p, "{lines:#?}");
        // Every sub-line negated, in reverse (excludes before their
        // destinations): back to the bare policy, and valid at every step.
        let mut undone = back.clone();
        for line in lines[1..lines.len() - 1].iter().rev() {
            parse_sub_line(&mut undone, &format!("no {}", line.trim()))
                .unwrap_or_else(|e| panic!("no {line}: {e}"));
            undone
                .validate()
                .unwrap_or_else(|e| panic!("after no {line}: {e}"));
        }
        assert_eq!(undone, Policy::new(p.name.clone()));
        // JSON too.
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
    }
    assert!(seen.iter().all(|&s| s), "{seen:?}");
}

#[test]
fn nat_lines() {
    let mut nat = NatConfig::default();
    assert!(render_nat(&nat).is_empty());
    for line in [
        "egress-gateway nat port-range 20000 29999",
        "egress-gateway nat timeout tcp-established 3600",
        "egress-gateway nat timeout other 30",
    ] {
        parse_nat_line(&mut nat, line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    assert_eq!((nat.ports.min, nat.ports.max), (20_000, 29_999));
    assert_eq!(nat.timeouts.tcp_established, 3600);
    assert_eq!(
        render_nat(&nat),
        [
            "egress-gateway nat port-range 20000 29999",
            "egress-gateway nat timeout tcp-established 3600",
            "egress-gateway nat timeout other 30",
        ]
    );
    // Rendered lines parse back to the same settings.
    let mut again = NatConfig::default();
    for line in render_nat(&nat) {
        parse_nat_line(&mut again, &line).unwrap();
    }
    assert_eq!(again, nat);
    // `no` forms restore the defaults, with or without the values.
    for line in [
        "no egress-gateway nat port-range",
        "no egress-gateway nat timeout tcp-established 3600",
        "no egress-gateway nat timeout other",
    ] {
        parse_nat_line(&mut nat, line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    assert_eq!(nat, NatConfig::default());
    assert_eq!(
        (nat.ports.min, nat.ports.max),
        (DEFAULT_PORT_MIN, DEFAULT_PORT_MAX)
    );
    let before = nat;
    for (line, message) in [
        ("egress-gateway", "incomplete line: expected nat"),
        (
            "egress-gateway nat",
            "incomplete line: expected port-range or timeout",
        ),
        (
            "egress-gateway nat ports 1 2",
            "unknown word \"ports\": expected port-range or timeout",
        ),
        (
            "egress-gateway nat port-range 2000",
            "incomplete line: expected a number",
        ),
        (
            "egress-gateway nat port-range 0 2000",
            "port-range 0 2000: expected 1 <= MIN <= MAX <= 65535",
        ),
        (
            "egress-gateway nat port-range 3000 2000",
            "port-range 3000 2000: expected 1 <= MIN <= MAX <= 65535",
        ),
        (
            "egress-gateway nat port-range 1 70000",
            "port-range 1 70000: expected 1 <= MIN <= MAX <= 65535",
        ),
        (
            "egress-gateway nat port-range low high",
            "port-range MIN \"low\": expected a whole number",
        ),
        (
            "egress-gateway nat port-range 1 2 3",
            "unknown word \"3\": expected end of line",
        ),
        (
            "egress-gateway nat timeout udp 30",
            "unknown word \"udp\": expected tcp-syn, tcp-established, tcp-closing or other",
        ),
        (
            "egress-gateway nat timeout other 0",
            "timeout 0: expected 1 to 604800 seconds",
        ),
        (
            "egress-gateway nat timeout other",
            "incomplete line: expected a number",
        ),
        (
            "no egress-gateway nat timeout other soon",
            "timeout \"soon\": expected a whole number",
        ),
        (
            "no egress-gateway nat port-range 5 1",
            "port-range 5 1: expected 1 <= MIN <= MAX <= 65535",
        ),
        (
            "egress-gateway policy x",
            "unknown word \"policy\": expected nat",
        ),
        (
            "no service x",
            "unknown word \"service\": expected egress-gateway",
        ),
    ] {
        let e = parse_nat_line(&mut nat, line).expect_err(line);
        assert_eq!(e.to_string(), message, "{line}");
        assert_eq!(nat, before, "a failed line changed the settings: {line}");
    }
}
