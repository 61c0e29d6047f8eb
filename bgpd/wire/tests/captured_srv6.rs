//! SRv6 L3VPN UPDATEs as real peers encoded them (tests/fixtures/srv6,
//! captured by tests/tests/srv6_vpn_wire.rs): GoBGP 3.10 and FRR 8.4
//! re-advertising the routes a scripted speaker sent them, ExaBGP 4.2
//! originating a raw Prefix-SID. Each is decoded, its Prefix-SID decoded
//! typed, checked against what the peer was given, and re-encoded octet for
//! octet, the whole message and the Prefix-SID alone.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::{fixtures_dir, parse_hex};
use tern_bgp_wire::{
    AfiSafi, Attribute, Codec, Label, Message, NextHop, NlriPrefix, PrefixSid, RouteDistinguisher,
    Srv6SidInformation, Srv6SidStructure, UpdateMessage, UpdateOutcome, attr_type, srv6_behavior,
};

fn bytes(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join("srv6").join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_hex(&text)
}

/// The receiving speaker's state: 4-octet AS, the two VPN families.
fn rx() -> Codec {
    Codec {
        four_octet_as: true,
        families: Some(vec![AfiSafi::IPV4_VPN, AfiSafi::IPV6_VPN]),
        ..Codec::default()
    }
}

/// The sending peer's state: the speaker advertised RFC 8950 next hops
/// for VPN-IPv4.
fn tx() -> Codec {
    Codec {
        extended_next_hop: vec![AfiSafi::IPV4_VPN],
        ..rx()
    }
}

/// One decoded fixture: the UPDATE, the SID Information, and the route.
struct Route {
    update: UpdateMessage,
    info: Srv6SidInformation,
    label: Label,
    rd: RouteDistinguisher,
    prefix: String,
    next_hop: NextHop,
}

fn route(name: &str) -> Route {
    let b = bytes(name);
    assert_eq!(rx().frame(&b), Ok(Some(b.len())), "{name}");
    let Ok(Message::Update(update)) = Message::decode(&b, &rx()) else {
        panic!("{name}: not an UPDATE");
    };
    assert_eq!(update.outcome, UpdateOutcome::Accept, "{name}");
    // The whole message, octet for octet.
    let again = Message::Update(update.clone())
        .to_bytes(&tx())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(again, b, "{name}: re-encoded octets differ");
    let Some(Attribute::PrefixSid(p)) = update.attribute(attr_type::PREFIX_SID).map(|a| &a.value)
    else {
        panic!("{name}: no Prefix-SID");
    };
    // The Prefix-SID alone, typed and back.
    let tlvs = p.decode_tlvs().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(PrefixSid::from_tlvs(&tlvs).as_ref(), Ok(p), "{name}");
    let info = p
        .srv6_l3()
        .and_then(|s| s.first_sid().cloned())
        .unwrap_or_else(|| panic!("{name}: no SRv6 L3 Service SID"));
    let mp = update.mp_reach().expect("MP_REACH_NLRI").clone();
    assert_eq!(mp.nlri.len(), 1, "{name}");
    let (label, rd, prefix) = match mp.nlri[0].prefix {
        NlriPrefix::Vpnv4 { label, rd, prefix } => (label, rd, prefix.to_string()),
        NlriPrefix::Vpnv6 { label, rd, prefix } => (label, rd, prefix.to_string()),
        ref other => panic!("{name}: {other:?}"),
    };
    Route {
        update,
        info,
        label,
        rd,
        prefix,
        next_hop: mp.next_hop,
    }
}

fn addr6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// What the speaker sent GoBGP and FRR: (RD, prefix, full SID, behavior).
const SENT: [(&str, &str, &str, u16); 2] = [
    (
        "65001:100",
        "10.20.0.0/16",
        "2001:db8:aa:1:4d2::",
        srv6_behavior::END_DT4,
    ),
    (
        "65001:200",
        "2001:db8:20::/48",
        "2001:db8:aa:1:e000::",
        srv6_behavior::END_DT6,
    ),
];

fn frr_structure() -> Srv6SidStructure {
    Srv6SidStructure::with_transposed_function(40, 24, 16, 0)
}

/// The route as re-advertised: same RD, prefix, structure and full SID.
fn check_readvertised(r: &Route, sent: (&str, &str, &str, u16), behavior: u16) {
    let (rd, prefix, sid, _) = sent;
    assert_eq!((r.rd.to_string().as_str(), r.prefix.as_str()), (rd, prefix));
    let s = r.info.structure().expect("structure");
    assert_eq!(*s, frr_structure());
    assert_eq!(s.sid_from_vpn_label(r.info.sid, r.label), Ok(addr6(sid)));
    assert_eq!(r.info.behavior, behavior);
    assert!(r.label.bottom_of_stack());
}

#[test]
fn gobgp_passes_the_srv6_service_on_as_received() {
    let v4 = route("gobgp-update-vpnv4");
    check_readvertised(&v4, SENT[0], SENT[0].3);
    // GoBGP puts its own address as next hop: 12 octets for VPN-IPv4 ...
    assert_eq!(
        v4.next_hop,
        NextHop::VpnIpv4 {
            rd: RouteDistinguisher::default(),
            addr: Ipv4Addr::new(192, 0, 2, 2)
        }
    );
    let v6 = route("gobgp-update-vpnv6");
    check_readvertised(&v6, SENT[1], SENT[1].3);
    // ... and its IPv4 address mapped into IPv6 for VPN-IPv6.
    assert_eq!(
        v6.next_hop,
        NextHop::VpnIpv6 {
            rd: RouteDistinguisher::default(),
            global: addr6("::ffff:192.0.2.2"),
            link_local: None
        }
    );
}

#[test]
fn frr_passes_sid_and_structure_on_with_the_opaque_behavior() {
    for (name, sent) in [("frr-update-vpnv4", SENT[0]), ("frr-update-vpnv6", SENT[1])] {
        let r = route(name);
        check_readvertised(&r, sent, srv6_behavior::OPAQUE);
        // FRR sets Extended Length on MP_REACH_NLRI however short it is.
        let flags = r
            .update
            .attribute(attr_type::MP_REACH_NLRI)
            .map(|a| a.flags.0);
        assert_eq!(flags, Some(0x90), "{name}");
    }
}

#[test]
fn exabgp_originates_the_raw_attribute_unchanged() {
    let ours = PrefixSid::srv6_l3_service(
        addr6("2001:db8:ee:5::"),
        srv6_behavior::END_DT46,
        Some(Srv6SidStructure {
            transposition_len: 0,
            transposition_offset: 0,
            ..frr_structure()
        }),
    );
    for (name, rd, prefix, label) in [
        ("exabgp-update-vpnv4", "65005:50", "10.50.0.0/16", 1234),
        ("exabgp-update-vpnv6", "65005:60", "2001:db8:50::/48", 2345),
    ] {
        let r = route(name);
        let Some(Attribute::PrefixSid(p)) =
            r.update.attribute(attr_type::PREFIX_SID).map(|a| &a.value)
        else {
            panic!("{name}: no Prefix-SID");
        };
        assert_eq!(p, &ours, "{name}");
        assert_eq!(
            (
                r.rd.to_string().as_str(),
                r.prefix.as_str(),
                r.label.value()
            ),
            (rd, prefix, label),
            "{name}"
        );
        // No transposition: the SID is the one advertised, whatever the label.
        let s = r.info.structure().expect("structure");
        assert_eq!(s.sid_from_vpn_label(r.info.sid, r.label), Ok(r.info.sid));
    }
}
