//! The SRv6 L3VPN lines in ternd's config: parsed in their blocks, shown
//! in `show running-config` as FRR 8.4 prints them, refused atomically.
use tern_bgp::config::VpnFamily;
use tern_srv6::{Behavior, SidOwner, SidScope};

use super::{Config, ConfigSession, Mode};

const TEXT: &str = "\
router bgp 65001
 neighbor 10.0.0.2 remote-as 65002
 neighbor 2001:db8::2 remote-as 65002
 segment-routing srv6
  locator MAIN
 exit
 address-family ipv4 vpn
  neighbor 10.0.0.2 activate
 exit-address-family
 address-family ipv6 vpn
  neighbor 10.0.0.2 activate
  neighbor 2001:db8::2 activate
 exit-address-family
exit
segment-routing
 srv6
  locators
   locator MAIN
    prefix 2001:db8:1:1::/64
   exit
  exit
 exit
exit
vrf blue
 table 10
exit-vrf
router bgp 65001 vrf blue
 address-family ipv4 unicast
  network 10.1.0.0/24
  sid vpn export auto
  rd vpn export 65001:10
  rt vpn both 65001:10
  export vpn
  import vpn
 exit-address-family
exit
";

/// What FRR 8.4's vtysh prints for the default instance and the locators
/// of TEXT (checked against FRR 8.4.4's `show running-config`), plus the
/// VRF blocks in tern-srv6's layout.
const RUNNING: &str = "\
!
!
vrf blue
 table 10
exit-vrf
!
router bgp 65001
 neighbor 10.0.0.2 remote-as 65002
 neighbor 2001:db8::2 remote-as 65002
 !
 segment-routing srv6
  locator MAIN
 exit
 !
 address-family ipv4 vpn
  neighbor 10.0.0.2 activate
 exit-address-family
 !
 address-family ipv6 vpn
  neighbor 10.0.0.2 activate
  neighbor 2001:db8::2 activate
 exit-address-family
exit
!
router bgp 65001 vrf blue
 !
 address-family ipv4 unicast
  network 10.1.0.0/24
  sid vpn export auto
  rd vpn export 65001:10
  rt vpn both 65001:10
  export vpn
  import vpn
 exit-address-family
exit
!
segment-routing
 srv6
  locators
   locator MAIN
    prefix 2001:db8:1:1::/64
   exit
   !
  exit
  !
 exit
 !
exit
!
end
";

fn parse(text: &str) -> Config {
    Config::parse("t", text).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn srv6_blocks_parse_into_the_model_and_the_vpn_families() {
    let c = parse(TEXT);
    let bgp = c.bgp.as_ref().expect("router bgp");
    assert!(bgp.vpn_active(VpnFamily::Ipv4, "10.0.0.2".parse().unwrap()));
    assert!(!bgp.vpn_active(VpnFamily::Ipv4, "2001:db8::2".parse().unwrap()));
    assert!(bgp.vpn_active(VpnFamily::Ipv6, "2001:db8::2".parse().unwrap()));
    assert_eq!(c.srv6.bgp_locator.as_deref(), Some("MAIN"));
    assert_eq!(c.srv6.vrfs["blue"].table, Some(10));
    let sid = c
        .srv6
        .sid(&SidOwner::new("blue", SidScope::Ipv4))
        .expect("End.DT4 SID allocated");
    assert_eq!(sid.behavior, Behavior::EndDt4);
    assert!(
        "2001:db8:1:1::/64"
            .parse::<ipnet::Ipv6Net>()
            .unwrap()
            .contains(&sid.sid),
        "{sid:?}"
    );
}

#[test]
fn running_config_is_frrs_layout_and_reads_back() {
    let c = parse(TEXT);
    let text = c.render();
    assert_eq!(text, RUNNING);
    let again = parse(&text);
    assert_eq!(again, c);
}

#[test]
fn modes_and_prompts_of_the_blocks() {
    let mut c = Config::default();
    let mut s = ConfigSession::default();
    for (line, prompt) in [
        ("segment-routing", "config-sr"),
        ("srv6", "config-srv6"),
        ("locators", "config-srv6-locators"),
        ("locator MAIN", "config-srv6-locator"),
        ("prefix 2001:db8:1:1::/64", "config-srv6-locator"),
        ("vrf red", "config-vrf"),
        ("table 20", "config-vrf"),
        ("exit-vrf", "config"),
        ("router bgp 65001", "config-router"),
        ("segment-routing srv6", "config-router-srv6"),
        ("locator MAIN", "config-router-srv6"),
        ("exit", "config-router"),
        ("neighbor 10.0.0.2 remote-as 65002", "config-router"),
        ("address-family ipv4 vpn", "config-router-af"),
        ("neighbor 10.0.0.2 activate", "config-router-af"),
        ("exit-address-family", "config-router"),
        ("router bgp 65001 vrf red", "config-router-vrf"),
        ("address-family ipv6 unicast", "config-router-vrf-af"),
        ("sid vpn export 7", "config-router-vrf-af"),
        // A line of another block is found in the parent modes, as vtysh does.
        ("hostname n1", "config"),
    ] {
        s.apply(&mut c, line)
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(s.mode().prompt_name(), prompt, "after {line}");
    }
    assert_eq!(s.mode(), &Mode::Config);
    let sid = c.srv6.sid(&SidOwner::new("red", SidScope::Ipv6)).unwrap();
    assert_eq!(sid.behavior, Behavior::EndDt6);
    assert_eq!(
        sid.sid,
        "2001:db8:1:1:7::".parse::<std::net::Ipv6Addr>().unwrap()
    );
}

#[test]
fn bad_lines_are_refused_with_the_reason_and_change_nothing() {
    let mut c = parse(TEXT);
    for (enter, line, reason) in [
        (vec!["vrf blue"], "table 0", "table"),
        (vec!["vrf red"], "table 10", "already the table of vrf blue"),
        (
            vec!["router bgp 65001 vrf blue", "address-family ipv4 unicast"],
            "network 2001:db8::/64",
            "not an",
        ),
        (
            vec!["router bgp 65001 vrf blue", "address-family ipv4 unicast"],
            "rd vpn export nonsense",
            "route distinguisher",
        ),
        (
            vec!["router bgp 65001", "address-family ipv4 vpn"],
            "neighbor 10.9.9.9 activate",
            "not configured",
        ),
        (
            vec!["router bgp 65001", "segment-routing srv6"],
            "locator OTHER",
            "locator",
        ),
        (vec![], "router bgp 65002 vrf blue", "65001"),
    ] {
        let mut s = ConfigSession::default();
        for l in &enter {
            s.apply(&mut c, l).unwrap_or_else(|e| panic!("{l}: {e}"));
        }
        let before = c.clone();
        let mode = s.mode().clone();
        let err = s.apply(&mut c, line).expect_err(line);
        assert!(err.contains(reason), "{line}: {err}");
        // `vrf red` was created by its enter line; compare from there.
        assert_eq!(c, before, "{line} changed the config");
        assert_eq!(s.mode(), &mode, "{line} changed the mode");
    }
}

#[test]
fn no_lines_remove_what_they_name() {
    let mut c = parse(TEXT);
    let mut s = ConfigSession::default();
    for l in [
        "router bgp 65001",
        "address-family ipv6 vpn",
        "no neighbor 2001:db8::2 activate",
        "exit-address-family",
        "no segment-routing srv6",
        "exit",
        "no router bgp 65001 vrf blue",
    ] {
        s.apply(&mut c, l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    let bgp = c.bgp.as_ref().unwrap();
    assert!(!bgp.vpn_active(VpnFamily::Ipv6, "2001:db8::2".parse().unwrap()));
    assert_eq!(c.srv6.bgp_locator, None);
    assert!(c.srv6.bgp_vrfs.is_empty());
    assert!(c.srv6.sids().is_none());
    // Removing the neighbor deactivates it everywhere.
    s.apply(&mut c, "router bgp 65001").unwrap();
    s.apply(&mut c, "no neighbor 10.0.0.2").unwrap();
    assert!(c.bgp.as_ref().unwrap().vpn.is_empty());
    // `no router bgp` takes the default instance's SRv6 lines with it.
    let mut c = parse(TEXT);
    ConfigSession::default()
        .apply(&mut c, "no router bgp")
        .unwrap();
    assert_eq!(c.srv6.bgp_locator, None);
    assert!(!c.render().contains("segment-routing srv6"));
}

#[test]
fn a_reload_keeps_the_running_sids() {
    // Live: green's SID is allocated first and takes the first function.
    let mut running = parse(TEXT);
    let mut s = ConfigSession::default();
    for l in [
        "vrf green",
        "table 30",
        "exit-vrf",
        "router bgp 65001 vrf green",
        "address-family ipv4 unicast",
        "sid vpn export auto",
    ] {
        s.apply(&mut running, l)
            .unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    let green = SidOwner::new("green", SidScope::Ipv4);
    let blue = SidOwner::new("blue", SidScope::Ipv4);
    let live = (running.srv6.sid(&blue), running.srv6.sid(&green));
    // The same config read from a file allocates again in owner order ...
    let mut file = parse(&running.render());
    // ... and a reload keeps what runs.
    file.srv6.keep_sids_of(&running.srv6).unwrap();
    assert_eq!((file.srv6.sid(&blue), file.srv6.sid(&green)), live);
    assert_eq!(file, running);
}
