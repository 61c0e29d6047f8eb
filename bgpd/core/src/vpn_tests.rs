use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tern_bgp_wire::{AsPath, ExtendedCommunity, Label, RouteDistinguisher};

use super::*;
use crate::rib::PathAttrs;

fn key(rd: u32, prefix: &str) -> VpnKey {
    VpnKey {
        rd: RouteDistinguisher::as2(65001, rd),
        prefix: prefix.parse().unwrap(),
    }
}

fn peer(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

/// A path from peer `last` (eBGP, its own AS 6500x) with `as_path`, route
/// targets `rts` (65001:N) and, with `sid`, End.DT4 SID 2001:db8:LAST::N.
fn path(last: u8, as_path: &[u32], rts: &[u32], sid: Option<u16>) -> VpnPath {
    let mut attrs = PathAttrs::local();
    attrs.as_path = AsPath::from_sequence(as_path.to_vec());
    attrs.ext_communities = rts
        .iter()
        .map(|n| ExtendedCommunity::route_target_as2(65001, *n))
        .collect();
    VpnPath {
        source: VpnSource::Peer(peer(last)),
        sender: PathSender {
            local: false,
            ebgp: true,
            peer_as: as_path.first().copied().unwrap_or(65000),
            router_id: Ipv4Addr::new(10, 0, 0, last),
            addr: peer(last),
            seq: u64::from(last),
        },
        attrs: Arc::new(attrs),
        label: Label::new(16).unwrap(),
        sid: sid.map(|f| ServiceSid {
            sid: Ipv6Addr::new(0x2001, 0xdb8, u16::from(last), f, 0, 0, 0, 0),
            behavior: 19,
            structure: None,
        }),
    }
}

#[test]
fn the_decision_process_picks_the_best_path_per_rd_and_prefix() {
    let mut rib = VpnRib::new();
    assert!(rib.update(
        key(10, "10.1.0.0/24"),
        path(2, &[65002, 65010], &[10], Some(1))
    ));
    // A shorter AS_PATH wins.
    assert!(rib.update(key(10, "10.1.0.0/24"), path(3, &[65003], &[10], Some(2))));
    // A worse path changes nothing.
    assert!(!rib.update(
        key(10, "10.1.0.0/24"),
        path(4, &[65004, 1, 2], &[10], Some(3))
    ));
    // The same prefix under another RD is another destination.
    assert!(rib.update(
        key(20, "10.1.0.0/24"),
        path(2, &[65002, 65010], &[20], Some(4))
    ));
    assert_eq!(rib.len(), 2);
    let best = rib.best(&key(10, "10.1.0.0/24")).unwrap();
    assert_eq!(best.source, VpnSource::Peer(peer(3)));
    assert_eq!(rib.paths(&key(10, "10.1.0.0/24")).len(), 3);
    assert_eq!(
        rib.best(&key(20, "10.1.0.0/24")).unwrap().source,
        VpnSource::Peer(peer(2))
    );
    // Withdrawing the best promotes the next one.
    assert!(rib.withdraw(&key(10, "10.1.0.0/24"), VpnSource::Peer(peer(3))));
    assert_eq!(
        rib.best(&key(10, "10.1.0.0/24")).unwrap().source,
        VpnSource::Peer(peer(2))
    );
    // Withdrawing a path that is not there changes nothing.
    assert!(!rib.withdraw(&key(10, "10.1.0.0/24"), VpnSource::Peer(peer(9))));
}

#[test]
fn a_path_without_a_usable_sid_is_never_selected() {
    let mut rib = VpnRib::new();
    let k = key(10, "10.1.0.0/24");
    // Better attributes, but no SID: kept, not selected.
    assert!(!rib.update(k, path(2, &[65002], &[10], None)));
    assert_eq!(rib.best(&k), None);
    assert_eq!(rib.paths(&k).len(), 1);
    assert!(rib.update(k, path(3, &[65003, 1, 2, 3], &[10], Some(7))));
    assert_eq!(rib.best(&k).unwrap().source, VpnSource::Peer(peer(3)));
    assert_eq!(rib.bests().count(), 1);
    // The eligible path goes: nothing is selected any more.
    assert!(rib.withdraw(&k, VpnSource::Peer(peer(3))));
    assert_eq!(rib.best(&k), None);
    assert_eq!(rib.bests().count(), 0);
    // A replacement of the same source that loses its SID is withdrawn
    // from selection.
    assert!(rib.update(k, path(3, &[65003], &[10], Some(7))));
    assert!(rib.update(k, path(3, &[65003], &[10], None)));
    assert_eq!(rib.best(&k), None);
}

#[test]
fn a_new_sid_or_label_is_a_change_of_the_best_path() {
    let mut rib = VpnRib::new();
    let k = key(10, "2001:db8:10::/64");
    assert!(rib.update(k, path(2, &[65002], &[10], Some(1))));
    assert!(!rib.update(k, path(2, &[65002], &[10], Some(1))));
    assert!(rib.update(k, path(2, &[65002], &[10], Some(2))));
    let mut relabelled = path(2, &[65002], &[10], Some(2));
    relabelled.label = Label::new(32).unwrap();
    assert!(rib.update(k, relabelled));
}

#[test]
fn a_source_going_away_takes_its_paths() {
    let mut rib = VpnRib::new();
    rib.update(key(10, "10.1.0.0/24"), path(2, &[65002], &[10], Some(1)));
    rib.update(key(10, "10.2.0.0/24"), path(2, &[65002], &[10], Some(2)));
    rib.update(key(10, "10.2.0.0/24"), path(3, &[65003, 1], &[10], Some(3)));
    rib.update(key(10, "10.3.0.0/24"), path(3, &[65003], &[10], Some(4)));
    let changed = rib.remove_source(VpnSource::Peer(peer(2)));
    assert_eq!(
        changed,
        vec![key(10, "10.1.0.0/24"), key(10, "10.2.0.0/24")]
    );
    assert_eq!(rib.len(), 2);
    assert_eq!(
        rib.best(&key(10, "10.2.0.0/24")).unwrap().source,
        VpnSource::Peer(peer(3))
    );
}

#[test]
fn import_takes_received_best_paths_with_a_matching_route_target() {
    let mut rib = VpnRib::new();
    rib.update(key(10, "10.1.0.0/24"), path(2, &[65002], &[10], Some(1)));
    rib.update(
        key(20, "10.1.0.0/24"),
        path(2, &[65002], &[20, 30], Some(2)),
    );
    rib.update(key(40, "10.4.0.0/24"), path(2, &[65002], &[40], None));
    let mut local = path(1, &[], &[10], Some(9));
    local.source = VpnSource::Local;
    local.sender.local = true;
    rib.update(key(11, "10.9.0.0/24"), local);
    let import = |rts: &[u32]| -> Vec<VpnKey> {
        let rts: Vec<ExtendedCommunity> = rts
            .iter()
            .map(|n| ExtendedCommunity::route_target_as2(65001, *n))
            .collect();
        rib.imported(&rts).map(|(k, _)| *k).collect()
    };
    assert_eq!(import(&[10]), vec![key(10, "10.1.0.0/24")]);
    assert_eq!(import(&[30]), vec![key(20, "10.1.0.0/24")]);
    assert_eq!(
        import(&[10, 20]),
        vec![key(10, "10.1.0.0/24"), key(20, "10.1.0.0/24")]
    );
    // No SID: not imported; another RT: not imported.
    assert!(import(&[40]).is_empty());
    assert!(import(&[99]).is_empty());
}
