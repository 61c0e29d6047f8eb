//! Tests of the config lines: FRR's exact text, every line and its `no`,
//! refusals that change nothing, SIDs allocated through the lines, round
//! trips of random configs.
use std::net::Ipv6Addr;

use super::*;
use crate::sid::{Behavior, SidOwner, SidScope};
use crate::testgen::Rng;

/// A whole config as `render` prints it (and FRR, for its lines).
const EXAMPLE: &str = "\
segment-routing
 srv6
  locators
   locator MAIN
    prefix 2001:db8:1:1::/64
   exit
   !
   locator WIDE
    prefix fc00:0:2::/48 block-len 32 node-len 16 func-bits 20
   exit
   !
  exit
  !
 exit
 !
exit
!
vrf blue
 table 10
exit-vrf
!
vrf red
 table 20
exit-vrf
!
router bgp 65001
 !
 segment-routing srv6
  locator MAIN
 exit
exit
!
router bgp 65001 vrf blue
 !
 address-family ipv4 unicast
  network 10.0.0.0/24
  network 10.0.1.0/24
  redistribute connected
  sid vpn export auto
  rd vpn export 65001:10
  rt vpn both 65001:10
  export vpn
  import vpn
 exit-address-family
 !
 address-family ipv6 unicast
  sid vpn export 256
  rd vpn export 192.0.2.1:10
  rt vpn import 65001:10 4200000000:10
  rt vpn export 65001:11
  export vpn
  import vpn
 exit-address-family
exit
!
router bgp 65001 vrf red
 sid vpn per-vrf export auto
 !
 address-family ipv4 unicast
  network 10.0.0.0/24
  rd vpn export 65001:20
  rt vpn both 65001:20
  export vpn
  import vpn
 exit-address-family
exit
!";

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn lines(cfg: &Srv6Config) -> String {
    render(cfg).join("\n")
}

/// Applies `line` in `node` to copies and returns the error text; checks
/// that neither the config nor the node changed.
fn refused(cfg: &Srv6Config, node: &Node, line: &str) -> String {
    let mut c = cfg.clone();
    let mut n = node.clone();
    let e = parse_line(&mut c, &mut n, line).expect_err(line);
    assert_eq!(&c, cfg, "a refused line changed the config: {line}");
    assert_eq!(&n, node, "a refused line changed the block: {line}");
    e.to_string()
}

fn example() -> Srv6Config {
    parse_text(EXAMPLE).unwrap_or_else(|(i, e)| panic!("line {}: {e}", i + 1))
}

#[test]
fn the_example_parses_and_renders_back_exactly() {
    let cfg = example();
    assert_eq!(lines(&cfg), EXAMPLE);
    let main = &cfg.locators["MAIN"];
    assert_eq!(
        (main.block_len(), main.node_len(), main.func_bits()),
        (40, 24, 16)
    );
    let wide = &cfg.locators["WIDE"];
    assert_eq!(
        (wide.block_len(), wide.node_len(), wide.func_bits()),
        (32, 16, 20)
    );
    assert_eq!(cfg.bgp_locator.as_deref(), Some("MAIN"));
    assert_eq!(cfg.vrfs["red"].table, Some(20));
    let blue = &cfg.bgp_vrfs["blue"];
    assert_eq!(blue.ipv4.rt_import, blue.ipv4.rt_export);
    assert_eq!(blue.ipv6.rt_import.len(), 2);
    assert!(blue.ipv4.import_vpn && blue.ipv4.export_vpn);
    assert_eq!(cfg.bgp_vrfs["red"].sid_per_vrf, Some(SidRequest::Auto));
}

#[test]
fn the_example_s_sids() {
    let cfg = example();
    let sid = |vrf: &str, scope| cfg.sid(&SidOwner::new(vrf, scope)).unwrap();
    // Explicit 256 first, then the automatic owners in (vrf, scope) order.
    assert_eq!(sid("blue", SidScope::Ipv6).sid, ip6("2001:db8:1:1:100::"));
    assert_eq!(sid("blue", SidScope::Ipv6).behavior, Behavior::EndDt6);
    assert_eq!(sid("blue", SidScope::Ipv4).sid, ip6("2001:db8:1:1:1::"));
    assert_eq!(sid("red", SidScope::PerVrf).sid, ip6("2001:db8:1:1:2::"));
    assert_eq!(sid("red", SidScope::PerVrf).behavior, Behavior::EndDt46);
    assert_eq!(cfg.sids().unwrap().len(), 3);
}

#[test]
fn frr_8_4_running_config_reads() {
    // FRR 8.4's zebra prints func-bits when it was given, and no other length.
    let text = "\
!
segment-routing
 srv6
  locators
   locator loc1
    prefix 2001:db8:1:1::/64 func-bits 16
   exit
   !
  exit
  !
 exit
 !
exit
!";
    let cfg = parse_text(text).unwrap();
    let l = &cfg.locators["loc1"];
    assert_eq!((l.block_len(), l.node_len(), l.func_bits()), (40, 24, 16));
    // Defaults are not rendered.
    assert_eq!(render(&cfg)[4], "    prefix 2001:db8:1:1::/64");
    // FRR 8.5's form, every length given, reads to the same locator.
    let text = text.replace("func-bits 16", "block-len 40 node-len 24 func-bits 16");
    assert_eq!(parse_text(&text).unwrap(), cfg);
}

#[test]
fn negations_undo_each_line() {
    let mut cfg = example();
    let mut node = Node::Top;
    for line in [
        "router bgp 65001 vrf blue",
        " address-family ipv4 unicast",
        "  no network 10.0.1.0/24",
        "  no redistribute connected",
        "  no sid vpn export",
        "  no rd vpn export",
        "  no rt vpn both",
        "  no export vpn",
        "  no import vpn",
        "  network 10.0.1.0/24",
        " exit-address-family",
        " no sid vpn per-vrf export",
    ] {
        if line.contains("per-vrf") {
            // blue has no per-vrf SID.
            assert!(refused(&cfg, &node, line).contains("not configured"));
            continue;
        }
        parse_line(&mut cfg, &mut node, line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    let af = &cfg.bgp_vrfs["blue"].ipv4;
    let nets: Vec<String> = af.networks.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["10.0.0.0/24", "10.0.1.0/24"]);
    assert!(af.sid.is_none() && af.rd.is_none() && af.rt_import.is_empty());
    assert!(!af.import_vpn && !af.export_vpn && af.redistribute.is_empty());
    assert!(cfg.sid(&SidOwner::new("blue", SidScope::Ipv4)).is_none());
    // The freed function goes to the next automatic owner: blue's IPv6
    // family, from explicit 256 to auto.
    parse_line(
        &mut cfg,
        &mut Node::BgpVrfAf {
            vrf: "blue".into(),
            ipv4: false,
        },
        "sid vpn export auto",
    )
    .unwrap();
    assert_eq!(
        cfg.sid(&SidOwner::new("blue", SidScope::Ipv6)).unwrap().sid,
        ip6("2001:db8:1:1:1::")
    );
    // Whole blocks.
    let mut node = Node::Top;
    parse_line(&mut cfg, &mut node, "no router bgp 65001 vrf blue").unwrap();
    assert!(!cfg.bgp_vrfs.contains_key("blue"));
    assert!(cfg.sid(&SidOwner::new("blue", SidScope::Ipv6)).is_none());
    parse_line(&mut cfg, &mut node, "no vrf red").unwrap();
    // Without its table, red's SIDs are freed.
    assert!(cfg.sids().unwrap().is_empty());
    let mut node = Node::SegmentRouting;
    parse_line(&mut cfg, &mut node, "no srv6").unwrap();
    assert!(cfg.locators.is_empty() && cfg.sids().is_none());
    assert!(!render(&cfg).iter().any(|l| l == "segment-routing"));
}

#[test]
fn bad_lines_are_refused_with_the_reason() {
    let cfg = example();
    let af4 = Node::BgpVrfAf {
        vrf: "blue".into(),
        ipv4: true,
    };
    let af6 = Node::BgpVrfAf {
        vrf: "blue".into(),
        ipv4: false,
    };
    let loc = Node::Locator("MAIN".into());
    let red4 = Node::BgpVrfAf {
        vrf: "red".into(),
        ipv4: true,
    };
    for (node, line, reason) in [
        (
            &Node::Top,
            "segment-routin",
            "is not valid at the top level",
        ),
        (&Node::Top, "vrf", "expected a name"),
        (&Node::Top, "vrf default", "the default VRF"),
        (
            &Node::Top,
            "router bgp 0 vrf x",
            "an AS number 1 to 4294967295",
        ),
        (&Node::Top, "router bgp 65002", "already configured"),
        (
            &Node::Top,
            "router bgp 65002 vrf blue",
            "the VRF's instance is router bgp 65001",
        ),
        (&Node::Top, "router bgp 65001 view x", "expected vrf"),
        (&Node::Top, "no vrf green", "vrf green is not configured"),
        (
            &Node::Top,
            "no router bgp 65002",
            "router bgp 65002 is not configured",
        ),
        (
            &Node::Top,
            "no router bgp 65001 vrf green",
            "router bgp 65001 vrf green is not configured",
        ),
        (&loc, "prefix 2001:db8:1:1::1/64", "host bits"),
        (&loc, "prefix 10.0.0.0/8", "an IPv6 prefix"),
        (
            &loc,
            "prefix 2001:db8:1:1::/64 func-bits 24",
            "func-bits 24",
        ),
        (
            &loc,
            "prefix 2001:db8:1:1::/64 block-len 40 block-len 40",
            "once",
        ),
        (&loc, "prefix 2001:db8:1:1::/64 usid", "expected block-len"),
        (&Node::Vrf("blue".into()), "table 254", "254 (main)"),
        (
            &Node::Vrf("blue".into()),
            "table 20",
            "already the table of vrf red",
        ),
        (&Node::Vrf("blue".into()), "table ten", "a table id"),
        (
            &Node::Vrf("blue".into()),
            "table 10 20",
            "expected end of line",
        ),
        (&af4, "network 2001:db8::/32", "not an IPv4 prefix"),
        (
            &af4,
            "network 10.0.0.1/24",
            "host bits set (the prefix is 10.0.0.0/24)",
        ),
        (&af4, "sid vpn export 0", "auto or a function value"),
        (&af4, "sid vpn export 1048576", "auto or a function value"),
        // Held by blue's IPv6 family.
        (&af4, "sid vpn export 256", "held by vrf blue ipv6 unicast"),
        (&af4, "sid vpn export 65536", "16 function bits"),
        (&af4, "rd vpn export 65001", "route distinguisher \"65001\""),
        (&af4, "rd vpn export", "a route distinguisher"),
        (&af4, "rd vpn export 4200000000:70000", "2 octets"),
        (&af4, "rt vpn both", "one or more route targets"),
        (&af4, "rt vpn both 65001:10 x:1", "route target \"x:1\""),
        (&af4, "rt vpn sideways 65001:1", "import, export or both"),
        (&af4, "redistribute ospf", "connected, static or kernel"),
        (
            &af4,
            "no network 10.9.0.0/24",
            "network 10.9.0.0/24 is not configured",
        ),
        (&af4, "import vpn now", "expected end of line"),
        (
            &af4,
            "neighbor 192.0.2.1 remote-as 1",
            "unknown word \"neighbor\"",
        ),
        (
            &af6,
            "no sid vpn export auto",
            "sid vpn export is not configured",
        ),
        (
            &Node::BgpVrf("blue".into()),
            "sid vpn per-vrf export auto",
            "mutually exclusive: remove sid vpn export in the address-families",
        ),
        (
            &red4,
            "sid vpn export auto",
            "mutually exclusive: remove sid vpn per-vrf export",
        ),
        (&Node::BgpSrv6, "locator WIDE", "already configured"),
        (
            &Node::BgpSrv6,
            "no locator WIDE",
            "locator WIDE is not configured",
        ),
        (
            &Node::BgpDefault,
            "neighbor 192.0.2.1 remote-as 1",
            "not valid in router bgp",
        ),
        (
            &Node::Srv6,
            "prefix 2001:db8::/48",
            "not valid in segment-routing srv6",
        ),
        (
            &Node::Locators,
            "no locator NONE",
            "locator NONE is not configured",
        ),
    ] {
        let e = refused(&cfg, node, line);
        assert!(e.contains(reason), "{line}: {e}");
    }
}

#[test]
fn a_refused_sid_line_leaves_the_others() {
    // 20 function bits: functions below 16 have reserved labels.
    let mut cfg = example();
    let mut node = Node::BgpSrv6;
    parse_line(&mut cfg, &mut node, "no locator MAIN").unwrap();
    assert!(cfg.sids().is_none(), "no locator, no SIDs");
    parse_line(&mut cfg, &mut node, "locator WIDE").unwrap();
    let t = cfg.sids().unwrap();
    assert_eq!(t.locator().name(), "WIDE");
    // Every SID allocated again from WIDE: 256 explicit, the others from 16.
    let got: Vec<(String, u32)> = t
        .iter()
        .map(|s| (s.owner.to_string(), s.function))
        .collect();
    assert_eq!(
        got,
        [
            ("vrf blue ipv4 unicast".to_string(), 16),
            ("vrf red (per-vrf)".to_string(), 17),
            ("vrf blue ipv6 unicast".to_string(), 256),
        ]
    );
    let af = Node::BgpVrfAf {
        vrf: "blue".into(),
        ipv4: true,
    };
    let e = refused(&cfg, &af, "sid vpn export 15");
    assert!(
        e.contains("labels 0 to 15 are reserved (use 16 or more"),
        "{e}"
    );
}

#[test]
fn route_targets_replace_their_list_sorted() {
    let mut cfg = example();
    let mut node = Node::BgpVrfAf {
        vrf: "red".into(),
        ipv4: true,
    };
    parse_line(
        &mut cfg,
        &mut node,
        "rt vpn import 4200000000:1 192.0.2.1:1 65001:1 65001:1",
    )
    .unwrap();
    let af = &cfg.bgp_vrfs["red"].ipv4;
    let texts: Vec<String> = af.rt_import.iter().map(|r| r.to_string()).collect();
    assert_eq!(texts, ["65001:1", "192.0.2.1:1", "4200000000:1"]);
    assert_eq!(af.rt_export.len(), 1, "export untouched");
    let r = render_bgp_vrf(&cfg.bgp_vrfs["red"]);
    assert!(r.contains(&"  rt vpn import 65001:1 192.0.2.1:1 4200000000:1".to_string()));
    assert!(r.contains(&"  rt vpn export 65001:20".to_string()));
    // Equal lists print as `both`.
    parse_line(
        &mut cfg,
        &mut node,
        "rt vpn export 192.0.2.1:1 65001:1 4200000000:1",
    )
    .unwrap();
    let r = render_bgp_vrf(&cfg.bgp_vrfs["red"]);
    assert!(r.contains(&"  rt vpn both 65001:1 192.0.2.1:1 4200000000:1".to_string()));
    assert!(!r.iter().any(|l| l.contains("rt vpn import")));
    // `no rt vpn both` empties both; a second time there is nothing to empty.
    parse_line(&mut cfg, &mut node, "no rt vpn export").unwrap();
    parse_line(&mut cfg, &mut node, "no rt vpn both 65001:1").unwrap();
    let af = &cfg.bgp_vrfs["red"].ipv4;
    assert!(af.rt_import.is_empty() && af.rt_export.is_empty());
    assert!(refused(&cfg, &node, "no rt vpn both").contains("rt vpn is not configured"));
}

#[test]
fn an_empty_af_prints_no_block_and_blocks_change_context() {
    let mut cfg = Srv6Config::new();
    let mut node = Node::Top;
    for line in [
        "router bgp 65001 vrf blue",
        " address-family ipv6 unicast",
        " exit-address-family",
        "exit",
        "vrf blue",
        "exit-vrf",
    ] {
        parse_line(&mut cfg, &mut node, line).unwrap();
    }
    assert_eq!(node, Node::Top);
    assert_eq!(
        render(&cfg),
        [
            "vrf blue",
            "exit-vrf",
            "!",
            "router bgp 65001 vrf blue",
            "exit",
            "!"
        ]
    );
    // A locator without its prefix line is not kept.
    let cfg = parse_text("segment-routing\n srv6\n  locators\n   locator X\n   exit").unwrap();
    assert!(cfg.locators.is_empty());
}

/// A random valid config, built through the lines.
fn random_config(rng: &mut Rng) -> Srv6Config {
    let mut cfg = Srv6Config::new();
    let mut text = vec![
        "segment-routing".to_string(),
        " srv6".into(),
        " locators".into(),
        "  locator L1".into(),
        format!("   prefix 2001:db8:{}:1::/64", 1 + rng.below(9)),
        "  exit".into(),
        " exit".into(),
        " exit".into(),
        "exit".into(),
    ];
    if rng.below(2) == 0 {
        text.extend([
            "router bgp 65001".into(),
            " segment-routing srv6".into(),
            "  locator L1".into(),
            " exit".into(),
            "exit".into(),
        ]);
    }
    let vrfs = 1 + rng.below(4);
    for v in 0..vrfs {
        text.push(format!("vrf v{v}"));
        if rng.below(4) != 0 {
            text.push(format!(" table {}", 100 + v));
        }
        text.push("exit-vrf".into());
        text.push(format!("router bgp 65001 vrf v{v}"));
        let per_vrf = rng.below(4) == 0;
        if per_vrf {
            text.push(" sid vpn per-vrf export auto".into());
        }
        for (fam, ipv4) in [("ipv4", true), ("ipv6", false)] {
            if rng.below(3) == 0 {
                continue;
            }
            text.push(format!(" address-family {fam} unicast"));
            for _ in 0..rng.below(3) {
                let n = rng.below(50);
                text.push(if ipv4 {
                    format!("  network 10.{v}.{n}.0/24")
                } else {
                    format!("  network 2001:db8:{v}:{n}::/64")
                });
            }
            match rng.below(3) {
                _ if per_vrf => {}
                0 => text.push("  sid vpn export auto".into()),
                1 => text.push(format!(
                    "  sid vpn export {}",
                    1000 + v * 2 + u64::from(ipv4)
                )),
                _ => {}
            }
            if rng.below(3) != 0 {
                text.push(format!("  rd vpn export 65001:{}", rng.below(100)));
            }
            let a = rng.below(5);
            let b = rng.below(5);
            text.push(format!("  rt vpn import 65001:{a} 192.0.2.{b}:7"));
            text.push(format!("  rt vpn export 65001:{b}"));
            if rng.below(2) == 0 {
                text.push("  redistribute static".into());
            }
            if rng.below(3) != 0 {
                text.push("  import vpn".into());
            }
            if rng.below(3) != 0 {
                text.push("  export vpn".into());
            }
            text.push(" exit-address-family".into());
        }
        text.push("exit".into());
    }
    let mut node = Node::Top;
    for l in &text {
        parse_line(&mut cfg, &mut node, l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    // Read whole, the SIDs are allocated in owner order, not line order.
    let whole = parse_text(&text.join("\n")).unwrap();
    assert_eq!(whole.sid_requests(), cfg.sid_requests());
    whole
}

#[test]
fn random_configs_round_trip() {
    let mut rng = Rng(0x0c0f_f1e5);
    for _ in 0..300 {
        let cfg = random_config(&mut rng);
        let text = lines(&cfg);
        let back = parse_text(&text).unwrap_or_else(|(i, e)| panic!("line {i}: {e}\n{text}"));
        assert_eq!(back, cfg, "{text}");
        assert_eq!(lines(&back), text);
    }
}

/// Two VRFs, one asking `auto`, the other an explicit function 1.
const ORDER_A: &str = "\
segment-routing
 srv6
  locators
   locator MAIN
    prefix 2001:db8:1:1::/64
   exit
  exit
 exit
exit
vrf a
 table 10
exit-vrf
vrf b
 table 20
exit-vrf
router bgp 65001
 segment-routing srv6
  locator MAIN
 exit
exit
router bgp 65001 vrf a
 address-family ipv4 unicast
  sid vpn export auto
 exit-address-family
exit
router bgp 65001 vrf b
 address-family ipv4 unicast
  sid vpn export 1
 exit-address-family
exit";

#[test]
fn a_whole_text_allocates_the_same_sids_in_any_order() {
    let first = parse_text(ORDER_A).unwrap();
    let a = first.sid(&SidOwner::new("a", SidScope::Ipv4)).unwrap();
    let b = first.sid(&SidOwner::new("b", SidScope::Ipv4)).unwrap();
    assert_eq!((a.function, b.function), (2, 1), "explicit first");
    // The same config, its blocks in the reverse order.
    let head_end = ORDER_A.find("vrf a").unwrap();
    let bgp_start = ORDER_A.find("router bgp 65001 vrf a").unwrap();
    let bgp_b = ORDER_A.find("router bgp 65001 vrf b").unwrap();
    let text = format!(
        "{}\n{}{}{}",
        &ORDER_A[bgp_b..],
        &ORDER_A[bgp_start..bgp_b],
        &ORDER_A[head_end..bgp_start],
        &ORDER_A[..head_end],
    );
    let second = parse_text(&text).unwrap_or_else(|(i, e)| panic!("{i}: {e}\n{text}"));
    assert_eq!(second, first);
    // Lines given one by one keep the earlier auto SID: b's 1 is refused.
    let mut cfg = Srv6Config::new();
    let mut node = Node::Top;
    let mut refusal = None;
    for line in ORDER_A.lines() {
        if let Err(e) = parse_line(&mut cfg, &mut node, line) {
            refusal = Some((line.trim().to_string(), e.to_string()));
            break;
        }
    }
    let (line, e) = refusal.expect("b's explicit 1 is held by a");
    assert_eq!(line, "sid vpn export 1");
    assert!(e.contains("held by vrf a ipv4 unicast"), "{e}");
}

#[test]
fn a_sid_refused_at_the_end_names_its_line() {
    let text = ORDER_A.replace("sid vpn export auto", "sid vpn export 1");
    let (i, e) = parse_text(&text).unwrap_err();
    assert_eq!(text.lines().nth(i), Some("  sid vpn export 1"));
    // The second owner in order (vrf b) is refused; its line is the later one.
    assert!(
        i > text
            .find("vrf b")
            .map(|p| text[..p].lines().count())
            .unwrap_or(0)
    );
    assert!(e.to_string().contains("held by vrf a"), "{e}");
}

#[test]
fn a_reload_keeps_the_running_sids() {
    let running = parse_text(ORDER_A).unwrap();
    // The new file drops vrf b's SID and adds vrf c with an automatic one.
    let text = ORDER_A.replace("  sid vpn export 1\n", "")
        + "\nvrf c\n table 30\nexit-vrf\nrouter bgp 65001 vrf c\n address-family ipv4 unicast\n  sid vpn export auto\n exit-address-family\nexit";
    let mut fresh = parse_text(&text).unwrap();
    let a = SidOwner::new("a", SidScope::Ipv4);
    let c = SidOwner::new("c", SidScope::Ipv4);
    assert_eq!(
        fresh.sid(&a).unwrap().function,
        1,
        "a fresh start packs from 1"
    );
    fresh.keep_sids_of(&running).unwrap();
    assert_eq!(
        fresh.sid(&a).unwrap().function,
        2,
        "a keeps its running SID"
    );
    assert_eq!(fresh.sid(&c).unwrap().function, 1, "c takes the freed one");
}
