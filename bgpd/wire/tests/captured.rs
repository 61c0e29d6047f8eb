//! Byte fixtures captured from FRR 8.4 and GoBGP 3.10 peering with each other
//! (tests/fixtures/README.md): each message is decoded with the state the
//! receiver negotiated, checked against what the peer was configured to
//! send, re-encoded with the sender's state, and compared octet for octet.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::{all_fixtures, fixture};
use tern_bgp_wire::{
    AddPathMode, AfiSafi, AsPath, AsSegmentType, Attribute, Capability, Codec, Community,
    ExtendedCommunity, Label, LargeCommunity, Message, MpReachNlri, MpUnreachNlri, NextHop, Nlri,
    NlriPrefix, NotificationMessage, OpenMessage, Origin, RouteDistinguisher, RouteRefreshMessage,
    UpdateMessage, UpdateOutcome,
};

fn open(speaker: &str, name: &str) -> OpenMessage {
    match Message::decode(&fixture(speaker, name), &Codec::default()) {
        Ok(Message::Open(o)) => o,
        other => panic!("{speaker}/{name}: not an OPEN: {other:?}"),
    }
}

/// The two views of one session: how the receiver decodes, how the sender encodes.
struct Session {
    rx: Codec,
    tx: Codec,
}

/// The session whose messages `sender` sends, from both OPENs it exchanged.
fn session(sender: &str, open_name: &str) -> Session {
    let receiver = if sender == "frr" { "gobgp" } else { "frr" };
    let sent = open(sender, open_name);
    let received = open(receiver, open_name);
    Session {
        rx: Codec::negotiate(&received, &sent),
        tx: Codec::negotiate(&sent, &received),
    }
}

fn ebgp(sender: &str) -> Session {
    session(sender, "open-ebgp")
}

fn ibgp(sender: &str) -> Session {
    session(sender, "open-ibgp")
}

/// Decodes, re-encodes, compares; returns the message.
fn check(speaker: &str, name: &str, s: &Session) -> Message {
    let bytes = fixture(speaker, name);
    assert_eq!(
        s.rx.frame(&bytes),
        Ok(Some(bytes.len())),
        "{speaker}/{name}"
    );
    let msg = Message::decode(&bytes, &s.rx).unwrap_or_else(|e| panic!("{speaker}/{name}: {e}"));
    if let Message::Update(u) = &msg {
        assert_eq!(u.outcome, UpdateOutcome::Accept, "{speaker}/{name}");
    }
    let again = msg
        .to_bytes(&s.tx)
        .unwrap_or_else(|e| panic!("{speaker}/{name}: re-encode: {e}"));
    assert_eq!(again, bytes, "{speaker}/{name}: re-encoded bytes differ");
    msg
}

fn update(speaker: &str, name: &str, s: &Session) -> UpdateMessage {
    match check(speaker, name, s) {
        Message::Update(u) => u,
        other => panic!("{speaker}/{name}: not an UPDATE: {other:?}"),
    }
}

/// The attribute values, without flags.
fn values(u: &UpdateMessage) -> Vec<Attribute> {
    u.attributes.iter().map(|a| a.value.clone()).collect()
}

fn v4(s: &str) -> Nlri {
    Nlri::ipv4(s.parse().expect("prefix"))
}

fn v6(s: &str) -> Nlri {
    Nlri::ipv6(s.parse().expect("prefix"))
}

fn addr6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

fn seq(asns: &[u32]) -> Attribute {
    Attribute::AsPath(AsPath::from_sequence(asns.to_vec()))
}

fn frr_link_local(u: &UpdateMessage) -> Option<Ipv6Addr> {
    match u.mp_reach().map(|m| m.next_hop) {
        Some(NextHop::Ipv6 { link_local, .. } | NextHop::VpnIpv6 { link_local, .. }) => link_local,
        _ => None,
    }
}

#[test]
fn every_fixture_round_trips_byte_for_byte() {
    // Each fixture with the session it was captured on.
    let mut seen = 0;
    for (speaker, name, bytes) in all_fixtures() {
        let s = if name.contains("ibgp") || name.contains("nh6") {
            ibgp(&speaker)
        } else {
            ebgp(&speaker)
        };
        let msg =
            Message::decode(&bytes, &s.rx).unwrap_or_else(|e| panic!("{speaker}/{name}: {e}"));
        if let Message::Update(u) = &msg {
            assert_eq!(u.outcome, UpdateOutcome::Accept, "{speaker}/{name}");
        }
        assert_eq!(
            msg.to_bytes(&s.tx).as_deref(),
            Ok(&bytes[..]),
            "{speaker}/{name}"
        );
        seen += 1;
    }
    assert!(seen >= 30, "only {seen} fixtures");
}

#[test]
fn frr_open_ebgp() {
    let o = open("frr", "open-ebgp");
    assert_eq!(
        (o.asn(), o.hold_time, o.bgp_id),
        (65001, 9, Ipv4Addr::new(192, 0, 2, 1))
    );
    let caps: Vec<_> = o.capabilities().cloned().collect();
    for fam in [
        AfiSafi::IPV4_UNICAST,
        AfiSafi::IPV6_UNICAST,
        AfiSafi::IPV4_VPN,
        AfiSafi::IPV6_VPN,
    ] {
        assert!(caps.contains(&Capability::Multiprotocol(fam)), "{fam}");
    }
    assert!(caps.contains(&Capability::RouteRefresh));
    assert!(caps.contains(&Capability::EnhancedRouteRefresh));
    assert!(caps.contains(&Capability::ExtendedMessage));
    assert!(caps.contains(&Capability::FourOctetAs(65001)));
    // The old Cisco route refresh (128) and long-lived GR (71) are kept raw.
    assert!(
        caps.iter()
            .any(|c| matches!(c, Capability::Unknown { code: 128, .. }))
    );
    assert!(
        caps.iter()
            .any(|c| matches!(c, Capability::Unknown { code: 71, .. }))
    );
    let fqdn = caps.iter().find_map(|c| match c {
        Capability::Fqdn(f) => Some(f.hostname_lossy()),
        _ => None,
    });
    assert_eq!(fqdn.as_deref(), Some("twire-frr"));
    let gr = caps
        .iter()
        .find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr.clone()),
            _ => None,
        })
        .expect("graceful restart");
    assert_eq!(gr.restart_time, 120);
    assert!(gr.notification);
    assert_eq!(gr.families.len(), 4);
    // FRR puts each capability in its own optional parameter.
    assert_eq!(o.parameters.len(), caps.len());
    check("frr", "open-ebgp", &ebgp("frr"));
}

#[test]
fn gobgp_open_ebgp() {
    let o = open("gobgp", "open-ebgp");
    assert_eq!(
        (o.asn(), o.hold_time, o.bgp_id),
        (65002, 90, Ipv4Addr::new(192, 0, 2, 2))
    );
    // GoBGP puts all capabilities in one optional parameter.
    assert_eq!(o.parameters.len(), 1);
    assert!(o.has_capability(64));
    let ext_nh: Vec<_> = o
        .capabilities()
        .filter_map(|c| match c {
            Capability::ExtendedNextHop(e) => Some(e.iter().map(|x| x.nlri).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        ext_nh,
        [AfiSafi::IPV4_UNICAST, AfiSafi::IPV4_VPN, AfiSafi::IPV6_VPN]
    );
    check("gobgp", "open-ebgp", &ebgp("gobgp"));
}

#[test]
fn negotiation_from_captured_opens() {
    let frr = ebgp("frr");
    assert!(frr.tx.four_octet_as && frr.rx.four_octet_as);
    // FRR advertises extended messages, GoBGP does not.
    assert!(!frr.tx.extended_message);
    assert!(frr.tx.add_path_send.is_empty() && frr.rx.add_path_receive.is_empty());
    // On the iBGP session FRR sends path ids for IPv4 unicast (it advertised
    // send/receive, GoBGP receive), and may use IPv6 next hops for IPv4.
    let frr = ibgp("frr");
    assert_eq!(frr.tx.add_path_send, [AfiSafi::IPV4_UNICAST]);
    assert_eq!(frr.rx.add_path_receive, [AfiSafi::IPV4_UNICAST]);
    assert_eq!(frr.tx.extended_next_hop, [AfiSafi::IPV4_UNICAST]);
    let gob = ibgp("gobgp");
    assert!(gob.tx.add_path_send.is_empty());
    assert_eq!(gob.tx.extended_next_hop, [AfiSafi::IPV4_UNICAST]);
    let gobgp_ibgp = open("gobgp", "open-ibgp");
    assert_eq!(gobgp_ibgp.asn(), 65001);
    assert!(gobgp_ibgp.capabilities().any(|c| matches!(
        c,
        Capability::AddPath(e) if e.iter().any(|x| x.mode == AddPathMode::RECEIVE)
    )));
}

#[test]
fn keepalives() {
    assert_eq!(check("frr", "keepalive", &ebgp("frr")), Message::Keepalive);
    assert_eq!(
        check("gobgp", "keepalive", &ebgp("gobgp")),
        Message::Keepalive
    );
}

#[test]
fn frr_update_ipv4_with_communities() {
    let u = update("frr", "update-ipv4", &ebgp("frr"));
    assert_eq!(
        values(&u),
        [
            Attribute::Origin(Origin::Igp),
            seq(&[65001]),
            Attribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
            Attribute::MultiExitDisc(50),
            Attribute::Communities(vec![
                Community::new(65001, 100),
                Community::new(65001, 200),
                Community::NO_EXPORT,
            ]),
            Attribute::LargeCommunities(vec![
                LargeCommunity::new(65001, 1, 2),
                LargeCommunity::new(65001, 3, 4),
            ]),
            Attribute::ExtendedCommunities(vec![ExtendedCommunity::route_target_as2(65001, 10)]),
        ]
    );
    assert_eq!(u.nlri, [v4("198.51.100.0/24"), v4("203.0.113.0/25")]);
    assert!(u.withdrawn.is_empty());
    // FRR sends AS_PATH with the extended-length flag: kept on re-encode.
    assert!(u.attributes[1].flags.extended_length());
    assert_eq!(u.announced().len(), 2);
}

#[test]
fn frr_update_ipv6() {
    let u = update("frr", "update-ipv6", &ebgp("frr"));
    let mp = u.mp_reach().expect("MP_REACH");
    assert_eq!(mp.family, AfiSafi::IPV6_UNICAST);
    assert_eq!(mp.nlri, [v6("2001:db8:100::/48")]);
    assert!(matches!(mp.next_hop, NextHop::Ipv6 { global, .. } if global == addr6("2001:db8::1")));
    // eBGP on a shared link: FRR adds its link-local address.
    assert!(frr_link_local(&u).is_some_and(|ll| ll.segments()[0] == 0xfe80));
    assert!(values(&u).contains(&Attribute::MultiExitDisc(50)));
    assert!(values(&u).contains(&Attribute::LargeCommunities(vec![
        LargeCommunity::new(65001, 1, 2),
        LargeCommunity::new(65001, 3, 4),
    ])));
}

#[test]
fn frr_update_vpn() {
    let u = update("frr", "update-vpnv4", &ebgp("frr"));
    let mp = u.mp_reach().expect("MP_REACH");
    assert_eq!(mp.family, AfiSafi::IPV4_VPN);
    assert_eq!(
        mp.next_hop,
        NextHop::VpnIpv4 {
            rd: RouteDistinguisher::default(),
            addr: Ipv4Addr::new(192, 0, 2, 1)
        }
    );
    let [
        Nlri {
            path_id: None,
            prefix: NlriPrefix::Vpnv4 { label, rd, prefix },
        },
    ] = mp.nlri[..]
    else {
        panic!("one VPNv4 route expected: {:?}", mp.nlri);
    };
    assert_eq!(rd, RouteDistinguisher::as2(65002, 100));
    assert_eq!(rd.to_string(), "65002:100");
    assert_eq!(prefix.to_string(), "10.10.0.0/24");
    // FRR re-labels what it re-advertises; the label has the bottom-of-stack bit.
    assert!(label.bottom_of_stack());
    assert!(values(&u).contains(&Attribute::ExtendedCommunities(vec![
        ExtendedCommunity::route_target_as2(65002, 100)
    ])));
    assert!(values(&u).contains(&seq(&[65001, 65002])));

    let u = update("frr", "update-vpnv6", &ebgp("frr"));
    let mp = u.mp_reach().expect("MP_REACH");
    assert_eq!(mp.family, AfiSafi::IPV6_VPN);
    assert!(matches!(
        mp.next_hop,
        NextHop::VpnIpv6 { global, link_local: Some(_), .. } if global == addr6("2001:db8::1")
    ));
    assert!(matches!(
        mp.nlri[..],
        [Nlri { prefix: NlriPrefix::Vpnv6 { rd, prefix, .. }, .. }]
            if rd == RouteDistinguisher::as2(65002, 200) && prefix.to_string() == "2001:db8:300::/48"
    ));
}

#[test]
fn frr_update_ipv4_over_ipv6_with_add_path() {
    let s = ibgp("frr");
    let u = update("frr", "update-ipv4-nh6-addpath", &s);
    let mp = u.mp_reach().expect("MP_REACH");
    assert_eq!(mp.family, AfiSafi::IPV4_UNICAST);
    assert!(matches!(mp.next_hop, NextHop::Ipv6 { global, .. } if global == addr6("2001:db8::1")));
    assert_eq!(
        mp.nlri,
        [
            v4("198.51.100.0/24").with_path_id(2),
            v4("203.0.113.0/25").with_path_id(3)
        ]
    );
    let vals = values(&u);
    assert!(vals.contains(&Attribute::LocalPref(250)));
    assert!(vals.contains(&Attribute::Communities(vec![Community::new(65001, 600)])));
    assert!(vals.contains(&Attribute::AsPath(AsPath::default())));
    // Without ADD-PATH the same bytes do not parse (path ids read as prefixes).
    let without = Message::decode(&fixture("frr", "update-ipv4-nh6-addpath"), &ebgp("frr").rx);
    assert!(matches!(
        without,
        Ok(Message::Update(UpdateMessage {
            outcome: UpdateOutcome::SessionReset(_),
            ..
        }))
    ));
    // And it cannot be sent to a peer that did not advertise RFC 8950.
    let msg = Message::Update(u);
    assert!(
        msg.to_bytes(&Codec {
            extended_next_hop: vec![],
            ..s.tx.clone()
        })
        .is_err()
    );
}

#[test]
fn frr_update_ipv6_ibgp() {
    let u = update("frr", "update-ipv6-ibgp", &ibgp("frr"));
    assert_eq!(
        values(&u)[1..],
        [
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::default()),
            Attribute::MultiExitDisc(0),
            Attribute::LocalPref(250),
            Attribute::Communities(vec![Community::new(65001, 600)]),
        ]
    );
    assert_eq!(
        u.mp_reach().map(|m| m.nlri.clone()),
        Some(vec![v6("2001:db8:100::/48")])
    );
}

#[test]
fn end_of_rib_markers() {
    for speaker in ["frr", "gobgp"] {
        let s = ebgp(speaker);
        for (name, family) in [
            ("eor-ipv4", AfiSafi::IPV4_UNICAST),
            ("eor-ipv6", AfiSafi::IPV6_UNICAST),
            ("eor-vpnv4", AfiSafi::IPV4_VPN),
            ("eor-vpnv6", AfiSafi::IPV6_VPN),
        ] {
            let u = update(speaker, name, &s);
            assert_eq!(u.end_of_rib(), Some(family), "{speaker}/{name}");
            assert!(u.announced().is_empty() && u.withdrawals().is_empty());
        }
    }
    // Our own markers: the same bytes as GoBGP's (FRR sets the extended
    // length flag on MP_UNREACH_NLRI, GoBGP does not).
    let s = ebgp("gobgp");
    for (name, family) in [
        ("eor-ipv4", AfiSafi::IPV4_UNICAST),
        ("eor-ipv6", AfiSafi::IPV6_UNICAST),
        ("eor-vpnv4", AfiSafi::IPV4_VPN),
        ("eor-vpnv6", AfiSafi::IPV6_VPN),
    ] {
        let ours = Message::Update(UpdateMessage::end_of_rib_marker(family));
        assert_eq!(ours.to_bytes(&s.tx), Ok(fixture("gobgp", name)), "{name}");
    }
}

#[test]
fn withdrawals() {
    let u = update("frr", "withdraw-ipv4", &ebgp("frr"));
    assert_eq!(
        u.withdrawals(),
        [(AfiSafi::IPV4_UNICAST, &v4("203.0.113.0/25"))]
    );
    let u = update("frr", "withdraw-ipv6", &ebgp("frr"));
    assert_eq!(
        u.mp_unreach(),
        Some(&MpUnreachNlri {
            family: AfiSafi::IPV6_UNICAST,
            withdrawn: vec![v6("2001:db8:100::/48")]
        })
    );
    let u = update("frr", "withdraw-ipv4-ibgp-addpath", &ibgp("frr"));
    assert_eq!(
        u.withdrawals(),
        [(AfiSafi::IPV4_UNICAST, &v4("203.0.113.0/25").with_path_id(3))]
    );
    let u = update("gobgp", "withdraw-ipv4", &ebgp("gobgp"));
    assert_eq!(u.withdrawn, [v4("192.0.2.128/25")]);
    let u = update("gobgp", "withdraw-ipv6", &ebgp("gobgp"));
    assert_eq!(
        u.withdrawals(),
        [(AfiSafi::IPV6_UNICAST, &v6("2001:db8:200::/48"))]
    );
}

#[test]
fn route_refresh_from_frr() {
    let s = ebgp("frr");
    assert_eq!(
        check("frr", "route-refresh-ipv4", &s),
        Message::RouteRefresh(RouteRefreshMessage::request(AfiSafi::IPV4_UNICAST))
    );
    assert_eq!(
        check("frr", "route-refresh-vpnv6", &s),
        Message::RouteRefresh(RouteRefreshMessage::request(AfiSafi::IPV6_VPN))
    );
}

#[test]
fn notifications() {
    let n = match check("frr", "notification-bad-peer-as", &ebgp("frr")) {
        Message::Notification(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(n.to_string(), "OPEN Message Error/Bad Peer AS");
    // FRR puts the AS it received (65002) in the data.
    assert_eq!(n.data, 65002u16.to_be_bytes());
    let n = match check("gobgp", "notification-bad-peer-as", &ebgp("gobgp")) {
        Message::Notification(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(n, NotificationMessage::new(2, 2, vec![]));
    let n = match check("frr", "notification-shutdown", &ebgp("frr")) {
        Message::Notification(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(n.to_string(), "Cease/Administrative Shutdown");
    // vtysh passed the quotes through.
    assert_eq!(n.shutdown_communication(), Some("\"maintenance window\""));
}

#[test]
fn gobgp_update_ipv4() {
    let u = update("gobgp", "update-ipv4", &ebgp("gobgp"));
    assert_eq!(
        values(&u),
        [
            Attribute::Origin(Origin::Igp),
            seq(&[65002, 65020, 65021]),
            Attribute::MultiExitDisc(20),
            Attribute::Communities(vec![Community::new(65002, 1)]),
            Attribute::LargeCommunities(vec![LargeCommunity::new(65002, 5, 6)]),
            Attribute::NextHop(Ipv4Addr::new(192, 0, 2, 2)),
        ]
    );
    assert_eq!(u.nlri, [v4("192.0.2.128/25")]);
}

#[test]
fn gobgp_update_ipv6_and_vpn() {
    let s = ebgp("gobgp");
    let u = update("gobgp", "update-ipv6", &s);
    assert_eq!(
        u.mp_reach(),
        Some(&MpReachNlri {
            family: AfiSafi::IPV6_UNICAST,
            next_hop: NextHop::Ipv6 {
                global: addr6("::ffff:192.0.2.2"),
                link_local: None
            },
            nlri: vec![v6("2001:db8:200::/48")],
        })
    );
    assert!(values(&u).contains(&Attribute::Communities(vec![Community::new(65002, 2)])));

    let u = update("gobgp", "update-vpnv4", &s);
    assert_eq!(
        u.mp_reach(),
        Some(&MpReachNlri {
            family: AfiSafi::IPV4_VPN,
            next_hop: NextHop::VpnIpv4 {
                rd: RouteDistinguisher::default(),
                addr: Ipv4Addr::new(192, 0, 2, 2)
            },
            nlri: vec![Nlri {
                path_id: None,
                prefix: NlriPrefix::Vpnv4 {
                    label: Label::new(100).expect("label"),
                    rd: RouteDistinguisher::as2(65002, 100),
                    prefix: "10.10.0.0/24".parse().expect("prefix"),
                },
            }],
        })
    );
    let u = update("gobgp", "update-vpnv6", &s);
    assert_eq!(
        u.mp_reach(),
        Some(&MpReachNlri {
            family: AfiSafi::IPV6_VPN,
            next_hop: NextHop::VpnIpv6 {
                rd: RouteDistinguisher::default(),
                global: addr6("::ffff:192.0.2.2"),
                link_local: None,
            },
            nlri: vec![Nlri {
                path_id: None,
                prefix: NlriPrefix::Vpnv6 {
                    label: Label::new(200).expect("label"),
                    rd: RouteDistinguisher::as2(65002, 200),
                    prefix: "2001:db8:300::/48".parse().expect("prefix"),
                },
            }],
        })
    );
    assert!(values(&u).contains(&Attribute::ExtendedCommunities(vec![
        ExtendedCommunity::route_target_as2(65002, 200)
    ])));
}

#[test]
fn gobgp_update_ipv4_over_ipv6_ibgp() {
    let s = ibgp("gobgp");
    let u = update("gobgp", "update-ipv4-nh6", &s);
    let mp = u.mp_reach().expect("MP_REACH");
    assert_eq!(mp.family, AfiSafi::IPV4_UNICAST);
    assert_eq!(
        mp.next_hop,
        NextHop::Ipv6 {
            global: addr6("2001:db8::2"),
            link_local: None
        }
    );
    assert_eq!(mp.nlri, [v4("192.0.2.128/25")]);
    let vals = values(&u);
    assert!(vals.contains(&Attribute::LocalPref(100)));
    assert!(vals.contains(&seq(&[65020, 65021])));
    assert!(vals.contains(&Attribute::MultiExitDisc(20)));

    let u = update("gobgp", "update-ipv6-ibgp", &s);
    let path = u
        .attributes
        .iter()
        .find_map(|a| match &a.value {
            Attribute::AsPath(p) => Some(p),
            _ => None,
        })
        .expect("AS_PATH");
    assert!(path.segments.is_empty());
    assert!(values(&u).contains(&Attribute::LocalPref(100)));
    assert!(!path.segments.iter().any(|s| s.kind == AsSegmentType::Set));
}
