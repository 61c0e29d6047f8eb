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
            advertised: Ipv6Addr::new(0x2001, 0xdb8, u16::from(last), f, 0, 0, 0, 0),
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

mod updates {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use tern_bgp_wire::{
        AfiSafi, AsPath, Attribute, ExtendedCommunity, Label, MpReachNlri, MpUnreachNlri, NextHop,
        Nlri, NlriPrefix, Origin, PathAttribute, PrefixSid, RouteDistinguisher, Srv6SidStructure,
        UpdateMessage, UpdateOutcome,
    };

    use crate::config::VpnFamily;
    use crate::rib::{PathSender, RouteNextHop};
    use crate::vpn::{VpnKey, VpnRib, VpnSource, changes_of_update};

    const FULL_SID: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x2, 0x2, 0x0042, 0, 0, 0);

    fn sender() -> PathSender {
        PathSender {
            local: false,
            ebgp: true,
            peer_as: 65002,
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            seq: 1,
        }
    }

    fn rd() -> RouteDistinguisher {
        RouteDistinguisher::as2(65002, 10)
    }

    /// FRR's way: block 40, node 24, function 16 transposed into the label.
    fn structure() -> Srv6SidStructure {
        Srv6SidStructure::with_transposed_function(40, 24, 16, 0)
    }

    /// An UPDATE announcing 10.2.0.0/24 under RD 65002:10 with the SID
    /// FULL_SID (function in the label) when `with_sid`, RT 65001:10.
    fn announce(with_sid: bool) -> UpdateMessage {
        let (label, advertised) = structure()
            .transpose_for_vpn(FULL_SID, Label::new(3).unwrap())
            .unwrap();
        assert_ne!(advertised, FULL_SID, "the function travels in the label");
        let mut attrs = vec![
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::from_sequence(vec![65002])),
            Attribute::ExtendedCommunities(vec![ExtendedCommunity::route_target_as2(65001, 10)]),
            Attribute::MpReachNlri(MpReachNlri {
                family: AfiSafi::IPV4_VPN,
                next_hop: NextHop::VpnIpv4 {
                    rd: RouteDistinguisher::default(),
                    addr: Ipv4Addr::new(192, 0, 2, 2),
                },
                nlri: vec![Nlri {
                    path_id: None,
                    prefix: NlriPrefix::Vpnv4 {
                        label,
                        rd: rd(),
                        prefix: "10.2.0.0/24".parse().unwrap(),
                    },
                }],
            }),
        ];
        if with_sid {
            attrs.push(Attribute::PrefixSid(PrefixSid::srv6_l3_service(
                advertised,
                19,
                Some(structure()),
            )));
        }
        UpdateMessage::new(
            Vec::new(),
            attrs.into_iter().map(PathAttribute::new).collect(),
            Vec::new(),
        )
    }

    fn key() -> VpnKey {
        VpnKey {
            rd: rd(),
            prefix: "10.2.0.0/24".parse().unwrap(),
        }
    }

    #[test]
    fn a_vpn_route_with_its_sid_rebuilt_from_label_and_prefix_sid() {
        let update = announce(true);
        let changes = changes_of_update(&update, sender(), &[VpnFamily::Ipv4], true);
        assert_eq!(changes.len(), 1);
        let (k, path) = &changes[0];
        assert_eq!(*k, key());
        let path = path.as_ref().expect("announced");
        let sid = path.sid.expect("a usable SID");
        assert_eq!(sid.sid, FULL_SID);
        assert_eq!(sid.behavior, 19);
        assert_eq!(sid.structure, Some(structure()));
        assert_eq!(
            path.attrs.next_hop,
            RouteNextHop::V4(Ipv4Addr::new(192, 0, 2, 2))
        );
        assert_eq!(
            path.route_targets().collect::<Vec<_>>(),
            vec![ExtendedCommunity::route_target_as2(65001, 10)]
        );
        let mut rib = VpnRib::new();
        for (k, p) in changes {
            rib.update(k, p.unwrap());
        }
        assert_eq!(rib.best(&key()).unwrap().sid.unwrap().sid, FULL_SID);
    }

    #[test]
    fn vpn_routes_of_a_family_not_negotiated_are_ignored() {
        let update = announce(true);
        assert!(changes_of_update(&update, sender(), &[VpnFamily::Ipv6], true).is_empty());
        assert!(changes_of_update(&update, sender(), &[], true).is_empty());
    }

    #[test]
    fn a_sid_structure_that_does_not_fit_makes_the_route_ineligible() {
        // RFC 9252 §7: a well framed structure whose transposition runs
        // past the SID makes the SID invalid; the path is kept, never best.
        let mut update = announce(true);
        for a in &mut update.attributes {
            if let Attribute::PrefixSid(p) = &mut a.value {
                let bad = Srv6SidStructure {
                    transposition_offset: 120,
                    ..structure()
                };
                *p = PrefixSid::srv6_l3_service(
                    p.srv6_l3().unwrap().first_sid().unwrap().sid,
                    19,
                    Some(bad),
                );
            }
        }
        let changes = changes_of_update(&update, sender(), &[VpnFamily::Ipv4], true);
        let path = changes[0].1.clone().expect("announced");
        assert_eq!(path.sid, None);
        let mut rib = VpnRib::new();
        rib.update(key(), path);
        assert_eq!(rib.best(&key()), None);
    }

    #[test]
    fn without_a_prefix_sid_the_route_is_kept_ineligible() {
        let update = announce(false);
        let changes = changes_of_update(&update, sender(), &[VpnFamily::Ipv4], true);
        let path = changes[0].1.clone().expect("announced");
        assert_eq!(path.sid, None);
        let mut rib = VpnRib::new();
        rib.update(key(), path);
        assert_eq!(rib.best(&key()), None);
        assert_eq!(rib.paths(&key()).len(), 1);
    }

    #[test]
    fn treat_as_withdraw_and_mp_unreach_withdraw() {
        let mut update = announce(true);
        update.outcome = UpdateOutcome::TreatAsWithdraw(Vec::new());
        let changes = changes_of_update(&update, sender(), &[VpnFamily::Ipv4], true);
        assert_eq!(changes, vec![(key(), None)]);
        let unreach = UpdateMessage::new(
            Vec::new(),
            vec![PathAttribute::new(Attribute::MpUnreachNlri(
                MpUnreachNlri {
                    family: AfiSafi::IPV4_VPN,
                    withdrawn: vec![Nlri {
                        path_id: None,
                        prefix: NlriPrefix::Vpnv4 {
                            label: Label::WITHDRAWN,
                            rd: rd(),
                            prefix: "10.2.0.0/24".parse().unwrap(),
                        },
                    }],
                },
            ))],
            Vec::new(),
        );
        let changes = changes_of_update(&unreach, sender(), &[VpnFamily::Ipv4], true);
        assert_eq!(changes, vec![(key(), None)]);
        let mut rib = VpnRib::new();
        let announced = announce(true);
        for (k, p) in changes_of_update(&announced, sender(), &[VpnFamily::Ipv4], true) {
            rib.update(k, p.unwrap());
        }
        assert!(rib.withdraw(&key(), VpnSource::Peer(sender().addr)));
        assert!(rib.is_empty());
    }

    #[test]
    fn a_route_without_as_path_is_withdrawn() {
        let mut update = announce(true);
        update
            .attributes
            .retain(|a| !matches!(a.value, Attribute::AsPath(_)));
        let changes = changes_of_update(&update, sender(), &[VpnFamily::Ipv4], true);
        assert_eq!(changes, vec![(key(), None)]);
    }
}
