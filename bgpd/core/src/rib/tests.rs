//! Tests of the RIBs: helpers to build peers and UPDATEs, and the
//! Adj-RIB-In checks (loops, next hops, withdrawals, peer down). The
//! decision process, the export rules and the packing have their own files.

#![allow(clippy::unwrap_used)]

mod aggregate;
mod decision;
mod export;
mod frr_lines;
mod graceful;
mod nexthop;
mod packing;
mod path_attr;
mod policy;
mod version;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use tern_bgp_wire::{
    AsPath, Attribute, Codec, Message, MpReachNlri, MpUnreachNlri, NextHop, Nlri, Origin,
    PathAttribute, UpdateMessage, UpdateOutcome,
};

use super::*;

pub(super) const LOCAL_AS: u32 = 65000;
pub(super) const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Our address on every test session.
pub(super) const LOCAL_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
pub(super) const V4: Family = Family::Ipv4Unicast;
pub(super) const V6: Family = Family::Ipv6Unicast;

/// The export route-map that [`peer`] gives eBGP peers: it permits
/// everything, which makes the node pass learned routes on (a node is no
/// transit path without one).
pub(super) const TRANSIT: &str = "TRANSIT";

/// A RIB whose policy defines route-map [`TRANSIT`].
pub(super) fn rib() -> Rib {
    let mut r = Rib::new(LOCAL_AS, ROUTER_ID);
    r.set_policy(Arc::new(transit_policy()), &BTreeMap::new());
    r
}

/// A policy with route-map [`TRANSIT`] (permit everything) alone.
pub(super) fn transit_policy() -> Policy {
    let mut p = Policy::default();
    let mut map = crate::policy::RouteMap::default();
    map.entries.insert(
        10,
        crate::policy::RouteMapEntry::new(crate::policy::Action::Permit),
    );
    p.route_maps.insert(TRANSIT.to_owned(), map);
    p
}

/// The `router bgp` block and the policy of a config text, read with the
/// core's grammar. Only the modes these tests use are tracked: `router
/// bgp`, `address-family`, `route-map` and their exits.
pub(super) struct TestConfig {
    pub(super) bgp: Option<BgpConfig>,
    pub(super) policy: Policy,
}

pub(super) fn config_of(text: &str) -> TestConfig {
    use crate::config::{policy as lines, router};
    enum In {
        Top,
        Router,
        Af(Family),
        RouteMap(String, u32),
    }
    let mut c = TestConfig {
        bgp: None,
        policy: Policy::default(),
    };
    let mut mode = In::Top;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match (&mode, words.as_slice()) {
            (_, ["router", "bgp", asn]) => {
                let asn = ok(line, crate::config::check::parse_asn(asn));
                c.bgp = Some(BgpConfig::new(asn));
                mode = In::Router;
            }
            (_, ["route-map", name, action, seq]) => {
                let (name, seq) = ok(
                    line,
                    lines::enter_route_map(&mut c.policy, name, action, seq),
                );
                mode = In::RouteMap(name, seq);
            }
            (In::Router, ["address-family", rest @ ..]) => {
                mode = In::Af(ok(line, router::parse_family(rest)));
            }
            (In::Af(_), ["exit-address-family"]) => mode = In::Router,
            (_, ["exit"]) => mode = In::Top,
            (In::Router, _) => {
                let bgp = c.bgp.as_mut().expect("router bgp");
                ok(line, router::apply_router(bgp, &words, line));
            }
            (In::Af(f), _) => {
                let bgp = c.bgp.as_mut().expect("router bgp");
                ok(line, router::apply_af(bgp, *f, &words));
            }
            (In::RouteMap(name, seq), _) => {
                ok(
                    line,
                    lines::apply_route_map_line(&mut c.policy, name, *seq, &words),
                );
            }
            (In::Top, ["ip" | "ipv6", "prefix-list", ..]) => {
                ok(line, lines::apply_prefix_list(&mut c.policy, &words));
            }
            (In::Top, ["bgp", "community-list", ..]) => {
                ok(line, lines::apply_community_list(&mut c.policy, &words));
            }
            (In::Top, _) => panic!("{line}: not a line these tests read"),
        }
    }
    c
}

fn ok<T>(line: &str, r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{line}: {e}"))
}

pub(super) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn four_octet() -> Codec {
    Codec {
        four_octet_as: true,
        ..Codec::default()
    }
}

/// A peer at 192.0.2.`id` with router id 10.0.1.`id`; iBGP when its AS is ours.
pub(super) fn peer(id: u8, remote_as: u32) -> PeerInfo {
    PeerInfo {
        id: PeerId(u32::from(id)),
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, id)),
        local_as: LOCAL_AS,
        remote_as,
        remote_id: Ipv4Addr::new(10, 0, 1, id),
        local_id: ROUTER_ID,
        local_addr: IpAddr::V4(LOCAL_ADDR),
        local_addr_v6: Some("2001:db8::254".parse().unwrap()),
        link_local: None,
        ibgp: remote_as == LOCAL_AS,
        rr_client: false,
        families: vec![V4, V6],
        codec: four_octet(),
        route_maps: if remote_as == LOCAL_AS {
            RouteMaps::default()
        } else {
            RouteMaps {
                v4_out: Some(Arc::from(TRANSIT)),
                v6_out: Some(Arc::from(TRANSIT)),
                ..RouteMaps::default()
            }
        },
    }
}

/// Brings `info` up, discarding its initial advertisement.
pub(super) fn up(rib: &mut Rib, info: &PeerInfo) {
    rib.peer_up(info);
}

/// ORIGIN IGP, AS_PATH `path`, NEXT_HOP `nh`.
pub(super) fn attrs(path: &[u32], nh: &str) -> Vec<Attribute> {
    vec![
        Attribute::Origin(Origin::Igp),
        Attribute::AsPath(AsPath::from_sequence(path.to_vec())),
        Attribute::NextHop(nh.parse().unwrap()),
    ]
}

/// An UPDATE announcing IPv4 `prefixes` with `attrs`.
pub(super) fn announce(prefixes: &[&str], attrs: Vec<Attribute>) -> UpdateMessage {
    let nlri = prefixes
        .iter()
        .map(|p| match net(p) {
            IpNet::V4(n) => Nlri::ipv4(n),
            IpNet::V6(n) => Nlri::ipv6(n),
        })
        .collect();
    UpdateMessage::new(
        Vec::new(),
        attrs.into_iter().map(PathAttribute::new).collect(),
        nlri,
    )
}

/// An UPDATE announcing IPv6 `prefixes` in MP_REACH_NLRI via `nh`.
pub(super) fn announce_v6(prefixes: &[&str], path: &[u32], nh: &str) -> UpdateMessage {
    let mp = MpReachNlri {
        family: tern_bgp_wire::AfiSafi::IPV6_UNICAST,
        next_hop: NextHop::Ipv6 {
            global: nh.parse().unwrap(),
            link_local: None,
        },
        nlri: prefixes
            .iter()
            .map(|p| Nlri::ipv6(p.parse().unwrap()))
            .collect(),
    };
    UpdateMessage::new(
        Vec::new(),
        vec![
            PathAttribute::new(Attribute::Origin(Origin::Igp)),
            PathAttribute::new(Attribute::AsPath(AsPath::from_sequence(path.to_vec()))),
            PathAttribute::new(Attribute::MpReachNlri(mp)),
        ],
        Vec::new(),
    )
}

/// An UPDATE withdrawing IPv4 `prefixes`.
pub(super) fn withdraw(prefixes: &[&str]) -> UpdateMessage {
    let w = prefixes
        .iter()
        .map(|p| Nlri::ipv4(p.parse().unwrap()))
        .collect();
    UpdateMessage::new(w, Vec::new(), Vec::new())
}

/// An UPDATE withdrawing IPv6 `prefixes` in MP_UNREACH_NLRI.
pub(super) fn withdraw_v6(prefixes: &[&str]) -> UpdateMessage {
    let mp = MpUnreachNlri {
        family: tern_bgp_wire::AfiSafi::IPV6_UNICAST,
        withdrawn: prefixes
            .iter()
            .map(|p| Nlri::ipv6(p.parse().unwrap()))
            .collect(),
    };
    UpdateMessage::new(
        Vec::new(),
        vec![PathAttribute::new(Attribute::MpUnreachNlri(mp))],
        Vec::new(),
    )
}

/// The UPDATEs `changes` holds for `peer`.
pub(super) fn updates_for(changes: &Changes, peer: u8) -> Vec<UpdateMessage> {
    changes
        .updates
        .iter()
        .filter(|(p, _)| *p == PeerId(u32::from(peer)))
        .flat_map(|(_, m)| m.iter().cloned())
        .collect()
}

/// Encodes each UPDATE for `codec` (checking the size limit) and decodes it
/// back as the peer would.
pub(super) fn on_the_wire(msgs: &[UpdateMessage], codec: &Codec) -> Vec<UpdateMessage> {
    let max = codec.max_message_len(tern_bgp_wire::MessageType::Update);
    msgs.iter()
        .map(|m| {
            let bytes = Message::Update(m.clone()).to_bytes(codec).unwrap();
            assert!(bytes.len() <= max, "{} octets", bytes.len());
            match Message::decode(&bytes, &codec.mirrored()).unwrap() {
                Message::Update(u) => {
                    assert_eq!(u.outcome, UpdateOutcome::Accept);
                    u
                }
                other => panic!("not an UPDATE: {other:?}"),
            }
        })
        .collect()
}

/// The prefixes `msgs` announce, all families.
pub(super) fn announced(msgs: &[UpdateMessage]) -> Vec<IpNet> {
    msgs.iter()
        .flat_map(|m| m.announced().into_iter().map(|(_, n)| n.prefix))
        .map(|p| match p {
            tern_bgp_wire::NlriPrefix::Ipv4(n) => IpNet::V4(n),
            tern_bgp_wire::NlriPrefix::Ipv6(n) => IpNet::V6(n),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// The prefixes `msgs` withdraw, all families.
pub(super) fn withdrawn(msgs: &[UpdateMessage]) -> Vec<IpNet> {
    msgs.iter()
        .flat_map(|m| m.withdrawals().into_iter().map(|(_, n)| n.prefix))
        .map(|p| match p {
            tern_bgp_wire::NlriPrefix::Ipv4(n) => IpNet::V4(n),
            tern_bgp_wire::NlriPrefix::Ipv6(n) => IpNet::V6(n),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn fib(family: Family, prefix: &str, nhs: &[&str]) -> FibChange {
    FibChange {
        family,
        prefix: net(prefix),
        nexthops: nhs.iter().map(|a| ip(a)).collect(),
    }
}

#[test]
fn announce_installs_and_withdraw_removes() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let c = r.update_from_peer(
        a.id,
        &announce(&["198.51.100.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    assert_eq!(c.fib, vec![fib(V4, "198.51.100.0/24", &["192.0.2.1"])]);
    assert_eq!(c.best_changed, vec![(V4, net("198.51.100.0/24"))]);
    // The same announcement again changes nothing.
    let c = r.update_from_peer(
        a.id,
        &announce(&["198.51.100.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    assert!(c.is_empty(), "{c:?}");
    let c = r.update_from_peer(a.id, &withdraw(&["198.51.100.0/24"]));
    assert_eq!(c.fib, vec![fib(V4, "198.51.100.0/24", &[])]);
    assert_eq!(r.prefix_count(V4), 0);
    // Withdrawing what is not there changes nothing.
    assert!(
        r.update_from_peer(a.id, &withdraw(&["198.51.100.0/24"]))
            .is_empty()
    );
}

#[test]
fn ipv6_routes_through_mp_reach() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let c = r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1"),
    );
    assert_eq!(c.fib, vec![fib(V6, "2001:db8:1::/48", &["2001:db8::1"])]);
    let c = r.update_from_peer(a.id, &withdraw_v6(&["2001:db8:1::/48"]));
    assert_eq!(c.fib, vec![fib(V6, "2001:db8:1::/48", &[])]);
}

#[test]
fn withdraw_falls_back_to_the_next_best_and_peer_down_cleans_up() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    let p = "198.51.100.0/24";
    r.update_from_peer(a.id, &announce(&[p], attrs(&[65001], "192.0.2.1")));
    let c = r.update_from_peer(b.id, &announce(&[p], attrs(&[65002, 3], "192.0.2.2")));
    assert!(c.fib.is_empty(), "a longer path changes nothing: {c:?}");
    let c = r.update_from_peer(a.id, &withdraw(&[p]));
    assert_eq!(c.fib, vec![fib(V4, p, &["192.0.2.2"])]);
    r.update_from_peer(
        a.id,
        &announce(&[p, "203.0.113.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    let c = r.peer_down(a.id);
    let mut got = c.fib.clone();
    got.sort_by_key(|f| f.prefix);
    assert_eq!(
        got,
        vec![fib(V4, p, &["192.0.2.2"]), fib(V4, "203.0.113.0/24", &[]),]
    );
    assert_eq!(r.prefix_count(V4), 1);
    assert_eq!(r.peer_counts(a.id, V4), None);
    assert_eq!(r.peer_counts(b.id, V4).map(|c| c.accepted), Some(1));
}

#[test]
fn as_path_loop_is_treated_as_withdraw() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let p = "198.51.100.0/24";
    r.update_from_peer(a.id, &announce(&[p], attrs(&[65001], "192.0.2.1")));
    let c = r.update_from_peer(
        a.id,
        &announce(&[p], attrs(&[65001, LOCAL_AS, 65010], "192.0.2.1")),
    );
    assert_eq!(c.fib, vec![fib(V4, p, &[])]);
    let counts = r.peer_counts(a.id, V4).unwrap();
    assert_eq!((counts.received, counts.accepted), (1, 0));
    // A withdrawal clears the refused route from the counters too.
    r.update_from_peer(a.id, &withdraw(&[p]));
    assert_eq!(r.peer_counts(a.id, V4).unwrap().received, 0);
}

#[test]
fn first_as_must_be_the_peers() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let c = r.update_from_peer(
        a.id,
        &announce(&["198.51.100.0/24"], attrs(&[65099], "192.0.2.1")),
    );
    assert!(c.fib.is_empty());
    let mut cfg = RibConfig::new(LOCAL_AS, ROUTER_ID);
    cfg.enforce_first_as = false;
    let mut r = Rib::with_config(cfg);
    up(&mut r, &a);
    let c = r.update_from_peer(
        a.id,
        &announce(&["198.51.100.0/24"], attrs(&[65099], "192.0.2.1")),
    );
    assert_eq!(c.fib.len(), 1);
}

#[test]
fn route_reflection_loops_are_refused() {
    let mut r = rib();
    let i = peer(1, LOCAL_AS);
    up(&mut r, &i);
    let mut looped = attrs(&[], "192.0.2.1");
    looped.push(Attribute::OriginatorId(ROUTER_ID));
    let c = r.update_from_peer(i.id, &announce(&["198.51.100.0/24"], looped));
    assert!(c.fib.is_empty());
    let mut looped = attrs(&[], "192.0.2.1");
    looped.push(Attribute::ClusterList(vec![
        Ipv4Addr::new(10, 9, 9, 9),
        ROUTER_ID,
    ]));
    let c = r.update_from_peer(i.id, &announce(&["198.51.100.0/24"], looped));
    assert!(c.fib.is_empty());
    let mut fine = attrs(&[], "192.0.2.1");
    fine.push(Attribute::ClusterList(vec![Ipv4Addr::new(10, 9, 9, 9)]));
    let c = r.update_from_peer(i.id, &announce(&["198.51.100.0/24"], fine));
    assert_eq!(c.fib.len(), 1);
    assert_eq!(r.peer_counts(i.id, V4).unwrap().received, 1);
}

#[test]
fn own_next_hop_is_refused() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let c = r.update_from_peer(
        a.id,
        &announce(&["198.51.100.0/24"], attrs(&[65001], "192.0.2.254")),
    );
    assert!(c.fib.is_empty());
    r.set_own_addresses([ip("192.0.2.77")]);
    let c = r.update_from_peer(
        a.id,
        &announce(&["198.51.100.0/24"], attrs(&[65001], "192.0.2.77")),
    );
    assert!(c.fib.is_empty());
    let c = r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::254"),
    );
    assert!(c.fib.is_empty());
}

#[test]
fn treat_as_withdraw_outcome_removes_the_routes() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let p = "198.51.100.0/24";
    r.update_from_peer(a.id, &announce(&[p], attrs(&[65001], "192.0.2.1")));
    let mut bad = announce(&[p], attrs(&[65001], "192.0.2.1"));
    bad.outcome = UpdateOutcome::TreatAsWithdraw(Vec::new());
    let c = r.update_from_peer(a.id, &bad);
    assert_eq!(c.fib, vec![fib(V4, p, &[])]);
}

#[test]
fn inactive_families_and_unknown_peers_are_ignored() {
    let mut r = rib();
    let mut a = peer(1, 65001);
    a.families = vec![V4];
    up(&mut r, &a);
    let c = r.update_from_peer(
        a.id,
        &announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1"),
    );
    assert!(c.is_empty());
    let c = r.update_from_peer(
        PeerId(99),
        &announce(&["198.51.100.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    assert!(c.is_empty());
}

#[test]
fn ebgp_local_pref_is_ignored_ibgp_local_pref_is_kept() {
    let mut r = rib();
    let (e, i) = (peer(1, 65001), peer(2, LOCAL_AS));
    up(&mut r, &e);
    up(&mut r, &i);
    let mut a = attrs(&[65001], "192.0.2.1");
    a.push(Attribute::LocalPref(500));
    r.update_from_peer(e.id, &announce(&["198.51.100.0/24"], a));
    let mut a = attrs(&[], "192.0.2.2");
    a.push(Attribute::LocalPref(500));
    r.update_from_peer(i.id, &announce(&["203.0.113.0/24"], a));
    let lp = |p| r.route(V4, net(p)).unwrap().paths[0].attrs.local_pref;
    assert_eq!(lp("198.51.100.0/24"), None);
    assert_eq!(lp("203.0.113.0/24"), Some(500));
}

#[test]
fn local_origination_is_not_installed_but_wins() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let p = "198.51.100.0/24";
    r.update_from_peer(a.id, &announce(&[p], attrs(&[65001], "192.0.2.1")));
    let c = r.originate(V4, net(p));
    assert_eq!(c.fib, vec![fib(V4, p, &[])]);
    let view = r.route(V4, net(p)).unwrap();
    assert_eq!(view.paths[0].source, PathSource::Local);
    assert!(view.paths[0].best && !view.paths[1].best);
    let c = r.withdraw_local(V4, net(p));
    assert_eq!(c.fib, vec![fib(V4, p, &["192.0.2.1"])]);
    // A prefix only we originate never reaches the FIB.
    let c = r.originate(V6, net("2001:db8:5::/48"));
    assert!(c.fib.is_empty());
    assert_eq!(c.best_changed.len(), 1);
}

#[test]
fn martian_next_hops_are_refused() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    // Built as structs, past the codec's own NEXT_HOP check: the RIB
    // refuses them too (and MP_REACH_NLRI next hops only meet this check).
    for nh in [
        "127.0.0.1",
        "127.1.2.3",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.5",
        "239.1.1.1",
        "240.0.0.1",
        "255.255.255.255",
    ] {
        let c = r.update_from_peer(a.id, &announce(&["198.51.100.0/24"], attrs(&[65001], nh)));
        assert!(c.fib.is_empty(), "{nh} accepted");
        assert!(r.route(V4, net("198.51.100.0/24")).is_none(), "{nh}");
    }
    for nh in ["::1", "::", "ff02::1", "ff0e::5", "::ffff:127.0.0.1"] {
        let c = r.update_from_peer(a.id, &announce_v6(&["2001:db8:1::/48"], &[65001], nh));
        assert!(c.fib.is_empty(), "{nh} accepted");
        assert!(r.route(V6, net("2001:db8:1::/48")).is_none(), "{nh}");
    }
    // :: with a link-local address that is not one, or a martian
    // link-local: refused too.
    for ll in ["2001:db8::9", "::1", "ff02::2"] {
        let mut u = announce_v6(&["2001:db8:1::/48"], &[65001], "::");
        if let Some(Attribute::MpReachNlri(mp)) = u.attributes.last_mut().map(|a| &mut a.value) {
            mp.next_hop = NextHop::Ipv6 {
                global: Ipv6Addr::UNSPECIFIED,
                link_local: Some(ll.parse().unwrap()),
            };
        }
        r.update_from_peer(a.id, &u);
        assert!(r.route(V6, net("2001:db8:1::/48")).is_none(), ":: + {ll}");
    }
    // A usable next hop replaces a refused one, and a martian then
    // withdraws it (treat-as-withdraw).
    r.update_from_peer(
        a.id,
        &announce(&["198.51.100.0/24"], attrs(&[65001], "192.0.2.1")),
    );
    assert!(r.route(V4, net("198.51.100.0/24")).is_some());
    let c = r.update_from_peer(
        a.id,
        &announce(&["198.51.100.0/24"], attrs(&[65001], "127.0.0.1")),
    );
    assert_eq!(c.fib, vec![fib(V4, "198.51.100.0/24", &[])]);
    assert!(r.route(V4, net("198.51.100.0/24")).is_none());
}

#[test]
fn ipv6_next_hop_with_link_local() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let mut u = announce_v6(&["2001:db8:1::/48"], &[65001], "2001:db8::1");
    if let Some(Attribute::MpReachNlri(mp)) = u.attributes.last_mut().map(|a| &mut a.value) {
        mp.next_hop = NextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        };
    }
    r.update_from_peer(a.id, &u);
    assert_eq!(
        r.route(V6, net("2001:db8:1::/48")).unwrap().paths[0]
            .attrs
            .next_hop,
        RouteNextHop::V6 {
            global: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        }
    );
}
