//! Tests of locators (defaults, rules, SIDs of a function) and of the SID
//! table (explicit and automatic functions, refusals, freeing, determinism).
use std::collections::BTreeMap;

use super::*;
use crate::testgen::Rng;

fn net(s: &str) -> ipnet::Ipv6Net {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn loc(prefix: &str, func: Option<u8>) -> Locator {
    Locator::new("MAIN", net(prefix), None, None, func).unwrap()
}

fn owner(vrf: &str, scope: SidScope) -> SidOwner {
    SidOwner::new(vrf, scope)
}

fn want(items: &[(&str, SidScope, SidRequest)]) -> BTreeMap<SidOwner, SidRequest> {
    items.iter().map(|(v, s, r)| (owner(v, *s), *r)).collect()
}

#[test]
fn locator_defaults_are_frr_s() {
    let l = loc("2001:db8:1:1::/64", None);
    assert_eq!((l.block_len(), l.node_len(), l.func_bits()), (40, 24, 16));
    let l = Locator::new("L", net("fc00:0:1::/48"), Some(32), None, Some(20)).unwrap();
    assert_eq!((l.block_len(), l.node_len(), l.func_bits()), (32, 16, 20));
    let l = Locator::new("L", net("fc00:0:1::/48"), None, Some(16), None).unwrap();
    assert_eq!((l.block_len(), l.node_len()), (32, 16));
    let l = Locator::new("L", net("fc00:0:1::/48"), Some(24), Some(24), None).unwrap();
    assert_eq!((l.block_len(), l.node_len()), (24, 24));
}

#[test]
fn locator_refusals() {
    for (prefix, b, n, f, reason) in [
        (
            "2001:db8:1:1::/64",
            Some(32),
            Some(24),
            None,
            "must be the prefix length 64",
        ),
        (
            "2001:db8::/32",
            None,
            None,
            None,
            "block-len 8 is outside 16 to 64",
        ),
        (
            "2001::/16",
            None,
            None,
            None,
            "shorter than the node length",
        ),
        (
            "2001:db8:1:1::/64",
            Some(60),
            None,
            None,
            "node-len 4 is outside",
        ),
        ("2001:db8:1:1::/64", None, None, Some(21), "func-bits 21"),
        ("2001:db8:1:1::/64", None, None, Some(0), "func-bits 0"),
        (
            "2001:db8:1:1:1:1:1::/112",
            Some(64),
            Some(48),
            Some(20),
            "more than 128",
        ),
    ] {
        let e = Locator::new("L", net(prefix), b, n, f)
            .expect_err(prefix)
            .to_string();
        assert!(e.contains(reason), "{prefix}: {e}");
        assert!(e.starts_with("locator L:"), "{e}");
    }
    let e = Locator::new("L", net("2001:db8:1:1::1/64"), None, None, None).unwrap_err();
    assert!(e.to_string().contains("host bits"), "{e}");
    assert!(Locator::new("", net("2001:db8:1:1::/64"), None, None, None).is_err());
    assert!(Locator::new("a b", net("2001:db8:1:1::/64"), None, None, None).is_err());
}

#[test]
fn sid_is_prefix_or_function_shifted() {
    let l = loc("2001:db8:1:1::/64", None);
    assert_eq!(l.sid(1), ip("2001:db8:1:1:1::"));
    assert_eq!(l.sid(0x100), ip("2001:db8:1:1:100::"));
    assert_eq!(l.sid(0xffff), ip("2001:db8:1:1:ffff::"));
    assert_eq!(l.function_of(ip("2001:db8:1:1:100::")), Some(0x100));
    assert_eq!(l.function_of(ip("2001:db8:1:2:100::")), None);
    assert_eq!(l.label(0x100), 0x1000);
    // A 20-bit function on a /48: bits 48..68.
    let l = Locator::new("L", net("fc00:0:1::/48"), None, Some(16), Some(20)).unwrap();
    assert_eq!(l.sid(0xabcde), ip("fc00:0:1:abcd:e000::"));
    assert_eq!(l.label(0xabcde), 0xabcde);
    // The SID agrees with the transposition of the structure it advertises.
    let mut rng = Rng(7);
    for _ in 0..500 {
        let f = 1 + rng.below(u64::from(l.max_function())) as u32;
        let t = crate::transpose::transpose(l.sid(f), &l.structure()).unwrap();
        assert_eq!(t.label, l.label(f));
        assert_eq!(t.sid, ip("fc00:0:1::"));
    }
}

#[test]
fn behaviors_and_codepoints() {
    for b in [Behavior::EndDt4, Behavior::EndDt6, Behavior::EndDt46] {
        assert_eq!(Behavior::from_codepoint(b.codepoint()), b);
    }
    assert_eq!(Behavior::EndDt6.codepoint(), 18);
    assert_eq!(Behavior::EndDt4.codepoint(), 19);
    assert_eq!(Behavior::EndDt46.codepoint(), 20);
    assert_eq!(Behavior::EndDt46.to_string(), "End.DT46");
    assert!(Behavior::EndDt4.carries(true) && !Behavior::EndDt4.carries(false));
    assert!(!Behavior::EndDt6.carries(true) && Behavior::EndDt6.carries(false));
    assert!(Behavior::EndDt46.carries(true) && Behavior::EndDt46.carries(false));
    assert!(Behavior::Other(0xffff).carries(true));
    assert!(!Behavior::Other(1).carries(true), "End is no VPN behavior");
    assert!(
        !Behavior::Other(21).carries(true),
        "End.DX2 is an L2 service"
    );
    assert!(Behavior::Other(17).carries(true) && !Behavior::Other(17).carries(false));
    assert!(!Behavior::Other(16).carries(true) && Behavior::Other(16).carries(false));
    // RFC 9252 §3.1: a behavior Tern does not know is not invalid.
    assert!(Behavior::Other(99).carries(true) && Behavior::Other(99).carries(false));
    assert_eq!(SidScope::PerVrf.behavior(), Behavior::EndDt46);
}

#[test]
fn auto_takes_the_smallest_free_and_keeps_it() {
    let mut t = SidTable::new(loc("2001:db8:1:1::/64", None));
    // 16 function bits: label = f << 4, so f = 1 gives 16, the first unreserved.
    assert_eq!(t.min_function(), 1);
    t.sync(&want(&[
        ("blue", SidScope::Ipv4, SidRequest::Auto),
        ("red", SidScope::Ipv4, SidRequest::Auto),
    ]))
    .unwrap();
    let blue = t.get(&owner("blue", SidScope::Ipv4)).unwrap();
    let red = t.get(&owner("red", SidScope::Ipv4)).unwrap();
    assert_eq!((blue.function, red.function), (1, 2));
    assert_eq!(blue.sid, ip("2001:db8:1:1:1::"));
    assert_eq!(blue.behavior, Behavior::EndDt4);
    // blue goes away: red keeps 2, a new owner takes the freed 1.
    t.sync(&want(&[
        ("red", SidScope::Ipv4, SidRequest::Auto),
        ("green", SidScope::Ipv6, SidRequest::Auto),
    ]))
    .unwrap();
    assert_eq!(t.get(&owner("red", SidScope::Ipv4)).unwrap().function, 2);
    let green = t.get(&owner("green", SidScope::Ipv6)).unwrap();
    assert_eq!(green.function, 1);
    assert_eq!(green.behavior, Behavior::EndDt6);
    assert!(t.get(&owner("blue", SidScope::Ipv4)).is_none());
    assert_eq!(t.len(), 2);
}

#[test]
fn explicit_functions_and_their_refusals() {
    let mut t = SidTable::new(loc("2001:db8:1:1::/64", None));
    t.sync(&want(&[
        ("blue", SidScope::Ipv4, SidRequest::Function(0x100)),
        ("red", SidScope::Ipv4, SidRequest::Auto),
    ]))
    .unwrap();
    assert_eq!(
        t.get(&owner("blue", SidScope::Ipv4)).unwrap().sid,
        ip("2001:db8:1:1:100::")
    );
    assert_eq!(t.get(&owner("red", SidScope::Ipv4)).unwrap().function, 1);
    let before = t.clone();
    // Held by red (auto): refused, nothing changes.
    let e = t
        .sync(&want(&[
            ("blue", SidScope::Ipv4, SidRequest::Function(0x100)),
            ("red", SidScope::Ipv4, SidRequest::Auto),
            ("green", SidScope::Ipv4, SidRequest::Function(1)),
        ]))
        .unwrap_err();
    assert_eq!(
        e,
        Srv6Error::FunctionTaken {
            function: 1,
            sid: ip("2001:db8:1:1:1::"),
            owner: "vrf red ipv4 unicast".into(),
        }
    );
    assert_eq!(t, before);
    // Outside the function bits.
    let e = t
        .sync(&want(&[(
            "x",
            SidScope::Ipv6,
            SidRequest::Function(0x10000),
        )]))
        .unwrap_err();
    assert!(
        e.to_string().contains("16 function bits (1 to 65535)"),
        "{e}"
    );
    assert_eq!(t, before);
    // Reserved labels: with 20 function bits, functions 1 to 15 label 1 to 15.
    let mut t20 =
        SidTable::new(Locator::new("L", net("fc00:0:1::/48"), None, None, Some(20)).unwrap());
    assert_eq!(t20.min_function(), 16);
    let e = t20
        .sync(&want(&[("x", SidScope::Ipv4, SidRequest::Function(15))]))
        .unwrap_err();
    assert!(e.to_string().contains("labels 0 to 15 are reserved"), "{e}");
    t20.sync(&want(&[("x", SidScope::Ipv4, SidRequest::Auto)]))
        .unwrap();
    assert_eq!(t20.get(&owner("x", SidScope::Ipv4)).unwrap().function, 16);
}

#[test]
fn explicit_owners_are_placed_before_automatic_ones() {
    // In one sync, an explicit 1 wins over an automatic owner that sorts first.
    let mut t = SidTable::new(loc("2001:db8:1:1::/64", None));
    t.sync(&want(&[
        ("a", SidScope::Ipv4, SidRequest::Auto),
        ("b", SidScope::Ipv4, SidRequest::Function(1)),
    ]))
    .unwrap();
    assert_eq!(t.get(&owner("a", SidScope::Ipv4)).unwrap().function, 2);
    assert_eq!(t.get(&owner("b", SidScope::Ipv4)).unwrap().function, 1);
    // Changing an explicit value frees the old one.
    t.sync(&want(&[
        ("a", SidScope::Ipv4, SidRequest::Auto),
        ("b", SidScope::Ipv4, SidRequest::Function(9)),
    ]))
    .unwrap();
    let functions: Vec<u32> = t.iter().map(|s| s.function).collect();
    assert_eq!(functions, [2, 9]);
}

#[test]
fn a_full_locator_is_refused() {
    // 1 function bit: only function 1, and its label 1 << 19 is fine.
    let l = Locator::new("T", net("2001:db8:1:1::/64"), None, None, Some(1)).unwrap();
    let mut t = SidTable::new(l);
    t.sync(&want(&[("a", SidScope::Ipv4, SidRequest::Auto)]))
        .unwrap();
    let e = t
        .sync(&want(&[
            ("a", SidScope::Ipv4, SidRequest::Auto),
            ("b", SidScope::Ipv4, SidRequest::Auto),
        ]))
        .unwrap_err();
    assert_eq!(
        e,
        Srv6Error::LocatorFull {
            owner: "vrf b ipv4 unicast".into(),
            locator: "T".into()
        }
    );
}

#[test]
fn random_churn_never_shares_a_function() {
    let mut rng = Rng(0xa11c);
    let l = Locator::new("S", net("2001:db8:1:1::/64"), None, None, Some(4)).unwrap();
    let mut t = SidTable::new(l);
    let vrfs = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let scopes = [SidScope::Ipv4, SidScope::Ipv6, SidScope::PerVrf];
    let mut kept: BTreeMap<SidOwner, u32> = BTreeMap::new();
    for _ in 0..2000 {
        let mut w = BTreeMap::new();
        for v in vrfs {
            for s in scopes {
                match rng.below(4) {
                    0 => {}
                    1 => {
                        w.insert(owner(v, s), SidRequest::Function(1 + rng.below(15) as u32));
                    }
                    _ => {
                        w.insert(owner(v, s), SidRequest::Auto);
                    }
                }
            }
        }
        let before = t.clone();
        match t.sync(&w) {
            Err(_) => assert_eq!(t, before, "a refused sync changed the table"),
            Ok(()) => {
                assert_eq!(t.len(), w.len());
                let mut seen = std::collections::BTreeSet::new();
                for s in t.iter() {
                    assert!(seen.insert(s.sid), "SID {} twice", s.sid);
                    assert_eq!(w.get(&s.owner), Some(&s.request));
                    if let SidRequest::Function(f) = s.request {
                        assert_eq!(s.function, f);
                    }
                    // An automatic owner that held a function keeps it.
                    if s.request == SidRequest::Auto
                        && let Some(&old) = kept.get(&s.owner)
                        && before.get(&s.owner).map(|b| b.request) == Some(SidRequest::Auto)
                    {
                        assert_eq!(s.function, old);
                    }
                }
                kept = t.iter().map(|s| (s.owner, s.function)).collect();
            }
        }
    }
}

#[test]
fn a_locator_read_from_json_is_checked() {
    let l = loc("2001:db8:1:1::/64", None);
    let j = serde_json::to_string(&l).unwrap();
    assert_eq!(serde_json::from_str::<Locator>(&j).unwrap(), l);
    let bad = j.replace("\"func_bits\":16", "\"func_bits\":40");
    assert_ne!(bad, j);
    let e = serde_json::from_str::<Locator>(&bad).unwrap_err();
    assert!(e.to_string().contains("func-bits 40"), "{e}");
}
