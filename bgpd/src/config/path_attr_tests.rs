//! Tests of the `path_attr` lines through the whole configuration.
use std::collections::BTreeSet;
use std::net::IpAddr;

use tern_bgp::config::BgpConfig;

use super::Config;

const CONF: &str = "\
router bgp 65001
 neighbor FABRIC peer-group
 neighbor FABRIC remote-as external
 neighbor FABRIC path-attribute discard 35 240
 neighbor IBGP peer-group
 neighbor IBGP remote-as internal
 neighbor 192.0.2.1 remote-as 65002
 neighbor 192.0.2.1 path-attribute treat-as-withdraw 240 22
 neighbor 192.0.2.1 path-attribute discard 5 23
 neighbor 192.0.2.2 peer-group FABRIC
 neighbor 192.0.2.3 peer-group FABRIC
 neighbor 192.0.2.3 path-attribute discard 25
exit
";

fn addr(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn parse(text: &str) -> Result<BgpConfig, String> {
    Config::parse("t", text)
        .map(|c| c.bgp.expect("bgp"))
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn lines_parse_render_and_inherit() {
    let c = Config::parse("t", CONF).unwrap_or_else(|e| panic!("{e:?}"));
    let text = c.render();
    assert!(
        text.contains(" neighbor 192.0.2.1 path-attribute discard 5 23\n")
            && text.contains(" neighbor 192.0.2.1 path-attribute treat-as-withdraw 22 240\n")
            && text.contains(" neighbor FABRIC path-attribute discard 35 240\n"),
        "{text}"
    );
    let again = Config::parse("running", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(again, c);
    let r = c.bgp.expect("bgp").resolved();
    let two = r.path_attr_policy(addr("192.0.2.2")).expect("inherited");
    assert!(two.discards(240) && two.discards(35) && !two.withdraws(240));
    let three = r.path_attr_policy(addr("192.0.2.3")).expect("own");
    assert_eq!(three.discard, BTreeSet::from([25]));
    let one = r.path_attr_policy(addr("192.0.2.1")).expect("own");
    assert!(one.withdraws(240) && one.withdraws(22) && one.discards(23));
}

#[test]
fn refusals_and_no_forms() {
    let base = "router bgp 65001\n neighbor 192.0.2.1 remote-as 65002\n neighbor 192.0.2.9 remote-as internal\n";
    for (line, want) in [
        (
            "neighbor 192.0.2.1 path-attribute discard 2",
            "Can't discard path-attribute 2",
        ),
        (
            "neighbor 192.0.2.1 path-attribute treat-as-withdraw 14",
            "Can't treat-as-withdraw path-attribute 14",
        ),
        (
            "neighbor 192.0.2.1 path-attribute discard 16",
            "Can't discard path-attribute 16",
        ),
        (
            "neighbor 192.0.2.9 path-attribute discard 5",
            "only for eBGP",
        ),
        (
            "neighbor 192.0.2.1 path-attribute discard 0",
            "invalid path attribute type",
        ),
        (
            "neighbor 192.0.2.1 path-attribute discard 256",
            "invalid path attribute type",
        ),
        (
            "neighbor 192.0.2.1 path-attribute drop 30",
            "discard or treat-as-withdraw",
        ),
        (
            "neighbor 192.0.2.7 path-attribute discard 30",
            "neither a configured neighbor",
        ),
    ] {
        let e = parse(&format!("{base} {line}\n")).expect_err(line);
        assert!(e.contains(want), "{line}: {e}");
    }
    let b = parse(&format!(
        "{base} neighbor 192.0.2.1 path-attribute discard 30 31 32\n no neighbor 192.0.2.1 path-attribute discard 31\n"
    ))
    .expect("parses");
    assert_eq!(
        b.path_attributes[&addr("192.0.2.1")].discard,
        BTreeSet::from([30, 32])
    );
    let b = parse(&format!(
        "{base} neighbor 192.0.2.1 path-attribute discard 30\n no neighbor 192.0.2.1 path-attribute discard\n"
    ))
    .expect("parses");
    assert!(b.path_attributes.is_empty());
    // A second line replaces the first, as FRR.
    let b = parse(&format!(
        "{base} neighbor 192.0.2.1 path-attribute discard 30\n neighbor 192.0.2.1 path-attribute discard 31\n"
    ))
    .expect("parses");
    assert_eq!(
        b.path_attributes[&addr("192.0.2.1")].discard,
        BTreeSet::from([31])
    );
}
