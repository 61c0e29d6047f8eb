//! The grammar the shell completes from ([`tern_control::grammar`]) and
//! ternd's parser must not drift apart: every pattern of every config mode,
//! written out with sample values, is a command ternd knows in that mode.
//! It may refuse the value; it may not answer that it does not know the
//! command. The patterns ternd does not take are named in
//! [`NOT_IN_TERND`] with the reason, and that list may not go stale.
use tern_control::grammar::{
    self, ArgKind, Token,
    config::{MODES, patterns},
};

use super::{Config, ConfigSession};

/// Patterns of the shared grammar that ternd does not take as config
/// lines: (mode, or `*` for every mode; the pattern as vtysh writes it;
/// why).
const NOT_IN_TERND: &[(&str, &str, &str)] = &[
    (
        "*",
        "do",
        "the shell runs `do CMD` as an exec command itself; it never sends it to ternd",
    ),
    // `no` forms that the table derives from the positive line's first
    // word (`neighbor_forms`) where FRR wants the whole line.
    (
        "config-router",
        "no neighbor A.B.C.D remote-as",
        "FRR's `no neighbor PEER remote-as` needs the AS too",
    ),
    (
        "config-router",
        "no neighbor X:X::X:X remote-as",
        "FRR's `no neighbor PEER remote-as` needs the AS too",
    ),
    (
        "config-router-af",
        "no neighbor A.B.C.D route-map",
        "FRR and ternd need `no neighbor PEER route-map NAME in|out`",
    ),
    (
        "config-router-af",
        "no neighbor X:X::X:X route-map",
        "FRR and ternd need `no neighbor PEER route-map NAME in|out`",
    ),
    (
        "config-router-af",
        "no neighbor WORD route-map",
        "FRR and ternd need `no neighbor PEER route-map NAME in|out`",
    ),
    // Peer kinds the table offers every tail for.
    (
        "config-router",
        "neighbor A.B.C.D peer-group",
        "`neighbor NAME peer-group` creates a group, named by a word, not an address (FRR likewise)",
    ),
    (
        "config-router",
        "neighbor X:X::X:X peer-group",
        "`neighbor NAME peer-group` creates a group, named by a word, not an address (FRR likewise)",
    ),
    (
        "config-router",
        "no neighbor WORD peer-group PGNAME",
        "a WORD neighbor is a peer-group in ternd (it has no interface neighbors), and a group joins no group",
    ),
];

/// Lines that bring a session into `mode`, on a config holding what the
/// sample values refer to (the peer-group `TORS`, the neighbors), so that
/// ternd reads a line as far as its command words.
fn enter(mode: &str) -> &'static [&'static str] {
    const ROUTER: [&str; 4] = [
        "router bgp 65001",
        "neighbor TORS peer-group",
        "neighbor 192.0.2.2 remote-as 65002",
        "neighbor 2001:db8::2 remote-as 65002",
    ];
    match mode {
        "config-if" => &["interface eth1"],
        "config-router" => &ROUTER,
        "config-router-af" => &[
            ROUTER[0],
            ROUTER[1],
            ROUTER[2],
            ROUTER[3],
            "address-family ipv4 unicast",
        ],
        "config-route-map" => &["route-map RM permit 10"],
        "config-service" => &["service web"],
        "config-egress-gw" => &["egress-gateway policy legacy-db"],
        "config-bfd" => &["bfd"],
        "config-bfd-peer" => &["bfd", "peer 192.0.2.2"],
        "config-sr" => &["segment-routing"],
        "config-srv6" => &["segment-routing", "srv6"],
        "config-srv6-locators" => &["segment-routing", "srv6", "locators"],
        "config-srv6-locator" => &["segment-routing", "srv6", "locators", "locator TORS"],
        "config-vrf" => &["vrf TORS"],
        "config-router-srv6" => &[ROUTER[0], "segment-routing srv6"],
        "config-router-vrf" => &["router bgp 65001 vrf TORS"],
        "config-router-vrf-af" => &["router bgp 65001 vrf TORS", "address-family ipv4 unicast"],
        _ => &[],
    }
}

/// A value an argument of this kind takes.
fn sample(tok: Token) -> String {
    match tok {
        Token::Kw(k, _) => k.to_owned(),
        Token::IfName | Token::Arg(_, _, ArgKind::IfName) => "eth1".into(),
        Token::Prefix => "10.0.0.0/24".into(),
        Token::Arg(_, _, kind) => match kind {
            ArgKind::Word => "TORS".into(),
            ArgKind::Line => "65001".into(),
            ArgKind::IfName => "eth1".into(),
            ArgKind::Range(lo, hi) => lo.max(hi.min(10)).to_string(),
            ArgKind::Asn => "65002".into(),
            ArgKind::Ipv4 | ArgKind::IpAddr => "192.0.2.2".into(),
            ArgKind::Ipv6 => "2001:db8::2".into(),
            ArgKind::Ipv4Prefix => "10.0.0.0/24".into(),
            ArgKind::Ipv6Prefix => "2001:db8::/64".into(),
        },
    }
}

/// The pattern as vtysh writes it: keywords, and arguments by name.
fn written(p: &[Token]) -> String {
    p.iter()
        .map(|t| match t {
            Token::Kw(k, _) => *k,
            Token::IfName => "IFNAME",
            Token::Prefix => "A.B.C.D/M|X:X::X:X/M",
            Token::Arg(name, _, _) => name,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether ternd's answer says it does not know the command (rather than
/// refusing a value or a state).
fn is_unknown(reason: &str) -> bool {
    reason.starts_with("unknown command")
        || reason.starts_with("unknown or unsupported")
        || reason.starts_with("unknown neighbor option")
        || reason.starts_with("unknown datapath setting")
        || reason.contains("unknown word")
}

#[test]
fn ternd_knows_every_pattern_of_the_shared_grammar() {
    let mut unknown = Vec::new();
    let mut exempt_known = Vec::new();
    let mut checked = 0;
    for mode in MODES {
        for p in patterns(mode) {
            let line = p.iter().map(|t| sample(*t)).collect::<Vec<_>>().join(" ");
            // A whole line of the grammar is its own spelling out.
            assert_eq!(
                grammar::expand(mode, &line).as_deref(),
                Ok(line.as_str()),
                "{mode}: {}",
                written(p)
            );
            let mut config = Config::default();
            let mut session = ConfigSession::default();
            for l in enter(mode) {
                session.apply(&mut config, l).expect(l);
            }
            assert_eq!(session.mode().prompt_name(), mode);
            let answer = session.apply(&mut config, &line);
            let exempt = NOT_IN_TERND
                .iter()
                .any(|(m, w, _)| (*m == mode || *m == "*") && *w == written(p));
            match (answer, exempt) {
                (Err(reason), false) if is_unknown(&reason) => {
                    unknown.push(format!("{mode}: {line}: {reason}"));
                }
                (Err(reason), true) if is_unknown(&reason) => {}
                (_, true) => exempt_known.push(format!("{mode}: {}", written(p))),
                (_, false) => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 500, "only {checked} patterns");
    assert!(
        unknown.is_empty(),
        "ternd does not know these lines of the shared grammar (implement them, \
         drop them from tern_control::grammar::config, or name them in NOT_IN_TERND):\n{}",
        unknown.join("\n")
    );
    assert!(
        exempt_known.is_empty(),
        "ternd now knows these; take them out of NOT_IN_TERND:\n{}",
        exempt_known.join("\n")
    );
}
