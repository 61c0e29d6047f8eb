//! Malformed input: every RFC 4271 §6 error and every RFC 7606 outcome the
//! decoder produces, from hand-built messages, with the NOTIFICATION (code,
//! subcode, data) that a session reset sends.

use std::net::Ipv4Addr;

use tern_bgp_wire::{
    Action, AfiSafi, Attribute, Codec, Community, Fault, HeaderError, MARKER, Message,
    MessageError, NotificationMessage, OpenError, UpdateMessage, UpdateOutcome, attr_type,
};

// ---------------------------------------------------------------- builders

fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = MARKER.to_vec();
    m.extend_from_slice(&u16::try_from(19 + body.len()).expect("fits").to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code];
    if flags & 0x10 != 0 {
        a.extend_from_slice(&u16::try_from(value.len()).expect("fits").to_be_bytes());
    } else {
        a.push(u8::try_from(value.len()).expect("fits"));
    }
    a.extend_from_slice(value);
    a
}

fn body(withdrawn: &[u8], attrs: &[Vec<u8>], nlri: &[u8]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.concat();
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(&attrs);
    b.extend_from_slice(nlri);
    b
}

fn origin() -> Vec<u8> {
    attr(0x40, 1, &[0])
}
fn as_path() -> Vec<u8> {
    attr(0x40, 2, &[2, 1, 0, 0, 0xfd, 0xea])
}
fn next_hop() -> Vec<u8> {
    attr(0x40, 3, &[192, 0, 2, 2])
}
/// 198.51.100.0/24
const NLRI: &[u8] = &[24, 198, 51, 100];

/// The three mandatory attributes plus `extra`.
fn with(extra: Vec<u8>) -> Vec<Vec<u8>> {
    vec![origin(), as_path(), next_hop(), extra]
}

fn ctx() -> Codec {
    Codec {
        four_octet_as: true,
        ..Codec::default()
    }
}

fn decode_update(body: &[u8], ctx: &Codec) -> UpdateMessage {
    match Message::decode(&message(2, body), ctx) {
        Ok(Message::Update(u)) => u,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

fn issues(u: &UpdateMessage) -> Vec<(u8, Fault, Action)> {
    u.outcome
        .issues()
        .iter()
        .map(|i| (i.type_code, i.fault.clone(), i.action))
        .collect()
}

/// Asserts treat-as-withdraw with exactly one issue for `code`.
fn assert_withdraw(u: &UpdateMessage, code: u8, fault: Fault) {
    assert!(
        matches!(u.outcome, UpdateOutcome::TreatAsWithdraw(_)),
        "{:?}",
        u.outcome
    );
    assert_eq!(issues(u), [(code, fault, Action::TreatAsWithdraw)]);
    assert!(u.announced().is_empty());
    assert!(
        u.withdrawals()
            .iter()
            .any(|(f, n)| *f == AfiSafi::IPV4_UNICAST && n.to_string() == "198.51.100.0/24")
    );
}

/// Asserts attribute-discard with one issue and the attribute gone.
fn assert_discard(u: &UpdateMessage, code: u8, fault: Fault) {
    assert!(
        matches!(u.outcome, UpdateOutcome::AttributeDiscard(_)),
        "{:?}",
        u.outcome
    );
    assert_eq!(issues(u), [(code, fault, Action::AttributeDiscard)]);
    assert!(u.attribute(code).is_none());
    assert_eq!(u.announced().len(), 1);
}

/// Asserts session reset; returns the NOTIFICATION.
fn assert_reset(u: &UpdateMessage) -> NotificationMessage {
    match &u.outcome {
        UpdateOutcome::SessionReset(e) => {
            assert!(u.announced().is_empty() && u.withdrawals().is_empty());
            e.notification()
        }
        other => panic!("expected session reset, got {other:?}"),
    }
}

// ------------------------------------------------------- RFC 7606 §7 per attribute

#[test]
fn well_formed_update_is_accepted() {
    let u = decode_update(
        &body(&[], &with(attr(0x80, 4, &[0, 0, 0, 5])), NLRI),
        &ctx(),
    );
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    assert_eq!(u.announced().len(), 1);
}

#[test]
fn origin_errors_treat_as_withdraw() {
    let b = body(&[], &[attr(0x40, 1, &[7]), as_path(), next_hop()], NLRI);
    let u = decode_update(&b, &ctx());
    assert_withdraw(&u, attr_type::ORIGIN, Fault::InvalidOrigin(7));
    assert_eq!(u.outcome.issues()[0].subcode(), 6);
    let b = body(&[], &[attr(0x40, 1, &[0, 0]), as_path(), next_hop()], NLRI);
    assert_withdraw(
        &decode_update(&b, &ctx()),
        attr_type::ORIGIN,
        Fault::Length { length: 2 },
    );
}

#[test]
fn as_path_errors_treat_as_withdraw() {
    for (value, fault) in [
        (&[7u8, 1, 0, 0, 0, 1][..], Fault::AsPathSegmentType(7)),
        (&[2, 0], Fault::AsPathEmptySegment),
        (&[2, 2, 0, 0, 0, 1], Fault::AsPathOverrun),
        (&[2, 1, 0, 0, 0, 1, 9], Fault::AsPathUnderrun),
        (&[2, 1, 0, 0, 0, 0], Fault::AsZero),
    ] {
        let b = body(&[], &[origin(), attr(0x40, 2, value), next_hop()], NLRI);
        let u = decode_update(&b, &ctx());
        assert_withdraw(&u, attr_type::AS_PATH, fault);
        assert_eq!(u.outcome.issues()[0].subcode(), 11, "Malformed AS_PATH");
    }
}

#[test]
fn next_hop_med_local_pref_errors_treat_as_withdraw() {
    let b = body(&[], &[origin(), as_path(), attr(0x40, 3, &[1, 2, 3])], NLRI);
    assert_withdraw(
        &decode_update(&b, &ctx()),
        attr_type::NEXT_HOP,
        Fault::Length { length: 3 },
    );
    let b = body(
        &[],
        &[origin(), as_path(), attr(0x40, 3, &[0, 0, 0, 0])],
        NLRI,
    );
    assert_withdraw(
        &decode_update(&b, &ctx()),
        attr_type::NEXT_HOP,
        Fault::InvalidNextHop(Ipv4Addr::UNSPECIFIED),
    );
    let b = body(
        &[],
        &[origin(), as_path(), attr(0x40, 3, &[224, 0, 0, 5])],
        NLRI,
    );
    assert!(matches!(
        decode_update(&b, &ctx()).outcome,
        UpdateOutcome::TreatAsWithdraw(_)
    ));
    // The rest of the martians: 0.0.0.0/8, loopback 127.0.0.0/8, class E.
    for nh in [[127, 0, 0, 1], [127, 9, 9, 9], [0, 1, 2, 3], [240, 0, 0, 1]] {
        let b = body(&[], &[origin(), as_path(), attr(0x40, 3, &nh)], NLRI);
        assert_withdraw(
            &decode_update(&b, &ctx()),
            attr_type::NEXT_HOP,
            Fault::InvalidNextHop(Ipv4Addr::from(nh)),
        );
    }
    let b = body(&[], &with(attr(0x80, 4, &[0, 0, 5])), NLRI);
    assert_withdraw(
        &decode_update(&b, &ctx()),
        attr_type::MULTI_EXIT_DISC,
        Fault::Length { length: 3 },
    );
    let b = body(&[], &with(attr(0x40, 5, &[0, 0, 0, 0, 5])), NLRI);
    assert_withdraw(
        &decode_update(&b, &ctx()),
        attr_type::LOCAL_PREF,
        Fault::Length { length: 5 },
    );
}

#[test]
fn atomic_aggregate_and_aggregator_errors_discard() {
    let b = body(&[], &with(attr(0x40, 6, &[1])), NLRI);
    assert_discard(
        &decode_update(&b, &ctx()),
        attr_type::ATOMIC_AGGREGATE,
        Fault::Length { length: 1 },
    );
    // 6 octets on a 4-octet session.
    let b = body(&[], &with(attr(0xc0, 7, &[0xfd, 0xea, 192, 0, 2, 2])), NLRI);
    assert_discard(
        &decode_update(&b, &ctx()),
        attr_type::AGGREGATOR,
        Fault::Length { length: 6 },
    );
    // ...which is right on a 2-octet session.
    let two = Codec::default();
    let b2 = body(
        &[],
        &[
            origin(),
            attr(0x40, 2, &[2, 1, 0xfd, 0xea]),
            next_hop(),
            attr(0xc0, 7, &[0xfd, 0xea, 192, 0, 2, 2]),
        ],
        NLRI,
    );
    assert_eq!(decode_update(&b2, &two).outcome, UpdateOutcome::Accept);
    // AS 0 (RFC 7607).
    let b = body(&[], &with(attr(0xc0, 7, &[0, 0, 0, 0, 192, 0, 2, 2])), NLRI);
    assert_discard(
        &decode_update(&b, &ctx()),
        attr_type::AGGREGATOR,
        Fault::AsZero,
    );
}

#[test]
fn community_and_reflection_errors_treat_as_withdraw() {
    for (code, flags, value) in [
        (attr_type::COMMUNITIES, 0xc0, &[1u8, 2, 3][..]),
        (attr_type::COMMUNITIES, 0xc0, &[]),
        (attr_type::ORIGINATOR_ID, 0x80, &[1, 2, 3]),
        (attr_type::CLUSTER_LIST, 0x80, &[1, 2, 3, 4, 5]),
        (attr_type::EXTENDED_COMMUNITIES, 0xc0, &[0; 7]),
        (attr_type::LARGE_COMMUNITY, 0xc0, &[0; 11]),
    ] {
        let b = body(&[], &with(attr(flags, code, value)), NLRI);
        assert_withdraw(
            &decode_update(&b, &ctx()),
            code,
            Fault::Length {
                length: value.len(),
            },
        );
    }
}

// ------------------------------------- attributes Tern passes on unparsed

/// A route with `bad` and then a well-formed COMMUNITIES after it (the
/// combination that made FRR downstream reset its session when a
/// malformed attribute was passed on).
fn bad_then_community(bad: Vec<u8>) -> Vec<u8> {
    let community = attr(0xc0, attr_type::COMMUNITIES, &[0xfd, 0xe9, 0, 1]);
    body(
        &[],
        &[origin(), as_path(), next_hop(), bad, community],
        NLRI,
    )
}

#[test]
fn malformed_transitive_attributes_treat_as_withdraw() {
    let cases: [(u8, u8, &[u8], Fault); 9] = [
        // OTC (RFC 9234 §5): exactly 4 octets.
        (
            0xc0,
            attr_type::OTC,
            &[0, 0, 1],
            Fault::Length { length: 3 },
        ),
        (
            0xe0,
            attr_type::OTC,
            &[0, 0, 0, 1, 2],
            Fault::Length { length: 5 },
        ),
        (0xc0, attr_type::OTC, &[0, 0, 0, 0], Fault::AsZero),
        // Tunnel Encapsulation (RFC 9012): length 1, and a TLV that overruns.
        (
            0xc0,
            attr_type::TUNNEL_ENCAPSULATION,
            &[8],
            Fault::TunnelEncapTlv,
        ),
        (
            0xc0,
            attr_type::TUNNEL_ENCAPSULATION,
            &[0, 8, 0, 12, 4, 8, 0, 0],
            Fault::TunnelEncapTlv,
        ),
        // A sub-TLV that overruns its TLV.
        (
            0xc0,
            attr_type::TUNNEL_ENCAPSULATION,
            &[0, 8, 0, 3, 4, 8, 0],
            Fault::TunnelEncapTlv,
        ),
        // PMSI Tunnel (RFC 6514): at least 5 octets.
        (
            0xc0,
            attr_type::PMSI_TUNNEL,
            &[0, 6],
            Fault::Length { length: 2 },
        ),
        // IPv6 Address Specific Extended Community (RFC 5701): 20 octets each.
        (
            0xc0,
            attr_type::IPV6_EXTENDED_COMMUNITIES,
            &[0, 2, 0, 0, 1],
            Fault::Length { length: 5 },
        ),
        // Flags that are not optional transitive.
        (
            0x80,
            attr_type::OTC,
            &[0, 0, 0, 1],
            Fault::Flags { flags: 0x80 },
        ),
    ];
    for (flags, code, value, fault) in cases {
        let u = decode_update(&bad_then_community(attr(flags, code, value)), &ctx());
        assert_withdraw(&u, code, fault);
    }
}

#[test]
fn well_formed_transitive_attributes_pass_on_as_received() {
    for (code, value) in [
        (attr_type::OTC, vec![0, 0, 0xfd, 0xe9]),
        (attr_type::PMSI_TUNNEL, vec![0, 6, 0, 0, 0x31, 192, 0, 2, 1]),
        (
            attr_type::TUNNEL_ENCAPSULATION,
            vec![0, 8, 0, 4, 4, 2, 0, 7],
        ),
        (attr_type::IPV6_EXTENDED_COMMUNITIES, vec![0; 20]),
    ] {
        let u = decode_update(&bad_then_community(attr(0xc0, code, &value)), &ctx());
        assert_eq!(u.outcome, UpdateOutcome::Accept, "type {code}");
        let a = u.attribute(code).expect("kept");
        assert_eq!(
            a.value,
            Attribute::Raw {
                type_code: code,
                value
            }
        );
        assert!(u.attribute(attr_type::COMMUNITIES).is_some());
    }
}

#[test]
fn prefix_sid_errors_discard_the_attribute() {
    // RFC 8669 §6: a TLV that overruns, or a Label-Index TLV of the wrong
    // size, costs the attribute, not the route.
    for value in [&[1u8, 0, 9, 0][..], &[1, 0, 5, 0, 0, 0, 0, 0]] {
        let u = decode_update(
            &bad_then_community(attr(0xc0, attr_type::PREFIX_SID, value)),
            &ctx(),
        );
        assert_discard(&u, attr_type::PREFIX_SID, Fault::PrefixSidTlv);
        assert!(u.attribute(attr_type::COMMUNITIES).is_some());
    }
}

#[test]
fn as4_attributes() {
    let two = Codec::default();
    let old = |extra: Vec<u8>| {
        body(
            &[],
            &[
                origin(),
                attr(0x40, 2, &[2, 1, 0x5b, 0xa0]),
                next_hop(),
                extra,
            ],
            NLRI,
        )
    };
    // A good AS4_PATH from a 2-octet speaker is kept.
    let good = attr(0xc0, 17, &[2, 1, 0xfa, 0x56, 0xea, 0]);
    let u = decode_update(&old(good.clone()), &two);
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    assert!(u.attribute(attr_type::AS4_PATH).is_some());
    // From a 4-octet speaker, AS4_PATH is discarded (RFC 6793 §6).
    let b = body(&[], &with(good), NLRI);
    assert_discard(
        &decode_update(&b, &ctx()),
        attr_type::AS4_PATH,
        Fault::As4FromNewSpeaker,
    );
    // Malformed AS4_PATH / AS4_AGGREGATOR: discarded.
    assert_discard(
        &decode_update(&old(attr(0xc0, 17, &[2, 2, 0, 0, 0, 1])), &two),
        attr_type::AS4_PATH,
        Fault::AsPathOverrun,
    );
    assert_discard(
        &decode_update(&old(attr(0xc0, 17, &[])), &two),
        attr_type::AS4_PATH,
        Fault::Length { length: 0 },
    );
    assert_discard(
        &decode_update(&old(attr(0xc0, 18, &[0; 6])), &two),
        attr_type::AS4_AGGREGATOR,
        Fault::Length { length: 6 },
    );
    // Confederation segments in AS4_PATH are removed, the rest kept.
    let confed = attr(
        0xc0,
        17,
        &[3, 1, 0, 0, 0xfd, 0xe8, 2, 1, 0xfa, 0x56, 0xea, 0],
    );
    let u = decode_update(&old(confed), &two);
    assert_eq!(
        issues(&u),
        [(
            attr_type::AS4_PATH,
            Fault::ConfedSegmentInAs4Path,
            Action::AttributeDiscard
        )]
    );
    match u.attribute(attr_type::AS4_PATH).map(|a| &a.value) {
        Some(Attribute::As4Path(p)) => assert_eq!(p.to_string(), "4200000000"),
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------ RFC 7606 §3

#[test]
fn flags_errors_follow_the_attribute() {
    // ORIGIN marked optional: treat-as-withdraw, subcode Attribute Flags Error.
    let b = body(&[], &[attr(0xc0, 1, &[0]), as_path(), next_hop()], NLRI);
    let u = decode_update(&b, &ctx());
    assert_withdraw(&u, attr_type::ORIGIN, Fault::Flags { flags: 0xc0 });
    assert_eq!(u.outcome.issues()[0].subcode(), 4);
    // COMMUNITIES marked non-transitive: treat-as-withdraw.
    let b = body(&[], &with(attr(0x80, 8, &[0, 0, 0, 1])), NLRI);
    assert_withdraw(
        &decode_update(&b, &ctx()),
        attr_type::COMMUNITIES,
        Fault::Flags { flags: 0x80 },
    );
    // ATOMIC_AGGREGATE marked optional: its own rule, attribute discard.
    let b = body(&[], &with(attr(0xc0, 6, &[])), NLRI);
    assert_discard(
        &decode_update(&b, &ctx()),
        attr_type::ATOMIC_AGGREGATE,
        Fault::Flags { flags: 0xc0 },
    );
    // MP_REACH_NLRI marked transitive: session reset with the attribute as data.
    let mp = attr(
        0xc0,
        14,
        &[
            0, 2, 1, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
        ],
    );
    let u = decode_update(&body(&[], &[origin(), as_path(), mp.clone()], &[]), &ctx());
    let n = assert_reset(&u);
    assert_eq!((n.code, n.subcode), (3, 4));
    assert_eq!(n.data, mp);
    // The Partial bit on a well-known attribute is not a flags error.
    let b = body(&[], &[attr(0x60, 1, &[0]), as_path(), next_hop()], NLRI);
    assert_eq!(decode_update(&b, &ctx()).outcome, UpdateOutcome::Accept);
}

#[test]
fn duplicates() {
    let b = body(
        &[],
        &[
            origin(),
            as_path(),
            next_hop(),
            attr(0xc0, 8, &[0xfd, 0xea, 0, 1]),
            attr(0xc0, 8, &[0xfd, 0xea, 0, 2]),
        ],
        NLRI,
    );
    let u = decode_update(&b, &ctx());
    assert_eq!(
        issues(&u),
        [(
            attr_type::COMMUNITIES,
            Fault::Duplicate,
            Action::AttributeDiscard
        )]
    );
    // The first one stays.
    assert_eq!(
        u.attribute(attr_type::COMMUNITIES).map(|a| &a.value),
        Some(&Attribute::Communities(vec![Community::new(65002, 1)]))
    );
    // Unknown attributes count too.
    let b = body(
        &[],
        &[
            origin(),
            as_path(),
            next_hop(),
            attr(0xc0, 99, &[1]),
            attr(0xc0, 99, &[2]),
        ],
        NLRI,
    );
    assert_eq!(decode_update(&b, &ctx()).outcome.issues().len(), 1);
    // MP_UNREACH_NLRI twice: session reset, Malformed Attribute List.
    let unreach = attr(0x80, 15, &[0, 2, 1]);
    let u = decode_update(&body(&[], &[unreach.clone(), unreach], &[]), &ctx());
    let n = assert_reset(&u);
    assert_eq!((n.code, n.subcode, n.data.len()), (3, 1, 0));
    assert_eq!(
        n.to_string(),
        "UPDATE Message Error/Malformed Attribute List"
    );
}

#[test]
fn missing_well_known_attributes() {
    let b = body(&[], &[as_path(), next_hop()], NLRI);
    let u = decode_update(&b, &ctx());
    assert_withdraw(&u, attr_type::ORIGIN, Fault::Missing);
    assert_eq!(u.outcome.issues()[0].subcode(), 3);
    let b = body(&[], &[origin(), as_path()], NLRI);
    assert_withdraw(
        &decode_update(&b, &ctx()),
        attr_type::NEXT_HOP,
        Fault::Missing,
    );
    // With only MP_REACH_NLRI, NEXT_HOP is not needed, ORIGIN and AS_PATH are.
    let mp = attr(0x80, 14, &[0, 1, 1, 4, 192, 0, 2, 2, 0, 24, 198, 51, 100]);
    let u = decode_update(&body(&[], &[mp.clone(), origin(), as_path()], &[]), &ctx());
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    let u = decode_update(&body(&[], &[mp, origin()], &[]), &ctx());
    assert!(matches!(u.outcome, UpdateOutcome::TreatAsWithdraw(_)));
    // Treat-as-withdraw covers MP_REACH_NLRI routes too.
    assert_eq!(u.withdrawals().len(), 1);
    assert_eq!(u.withdrawals()[0].0, AfiSafi::IPV4_UNICAST);
    // No routes: nothing is mandatory.
    let u = decode_update(&body(&[24, 198, 51, 100], &[], &[]), &ctx());
    assert_eq!(u.outcome, UpdateOutcome::Accept);
}

#[test]
fn unrecognized_attributes() {
    // Well-known (Optional bit clear) and unknown: session reset with the attribute.
    let bad = attr(0x40, 99, &[1, 2]);
    let u = decode_update(&body(&[], &with(bad.clone()), NLRI), &ctx());
    let n = assert_reset(&u);
    assert_eq!((n.code, n.subcode), (3, 2));
    assert_eq!(n.data, bad);
    // Optional and unknown: kept, passed on with Partial when transitive.
    let u = decode_update(&body(&[], &with(attr(0xc0, 99, &[1, 2])), NLRI), &ctx());
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    let raw = u.attribute(99).expect("kept");
    assert_eq!(
        raw.value,
        Attribute::Raw {
            type_code: 99,
            value: vec![1, 2]
        }
    );
    assert!(raw.propagate().is_some_and(|a| a.flags.partial()));
}

// ------------------------------------------------- RFC 7606 §4, §5.3: lengths

#[test]
fn attribute_overrun_and_underrun_treat_as_withdraw() {
    // The last attribute claims 9 octets, 4 remain; the NLRI is still found
    // through the Total Path Attribute Length.
    let mut attrs = [origin(), as_path(), next_hop()].concat();
    attrs.extend_from_slice(&[0xc0, 8, 9, 0, 0, 0, 1]);
    let mut b = Vec::new();
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(&attrs);
    b.extend_from_slice(NLRI);
    assert_withdraw(
        &decode_update(&b, &ctx()),
        attr_type::COMMUNITIES,
        Fault::AttributeOverrun,
    );
    // Two octets left: too few for an attribute header.
    let mut attrs = [origin(), as_path(), next_hop()].concat();
    attrs.extend_from_slice(&[0xc0, 8]);
    let mut b = vec![0, 0];
    b.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(&attrs);
    b.extend_from_slice(NLRI);
    assert_withdraw(&decode_update(&b, &ctx()), 0, Fault::AttributeUnderrun(2));
    // An overrunning MP_REACH_NLRI cannot be parsed: session reset.
    let mut attrs = [origin(), as_path()].concat();
    attrs.extend_from_slice(&[0x80, 14, 40, 0, 1, 1]);
    let mut b = vec![0, 0];
    b.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(&attrs);
    assert_eq!(assert_reset(&decode_update(&b, &ctx())).subcode, 1);
}

#[test]
fn section_lengths_overrunning_the_message_reset() {
    // Withdrawn Routes Length past the end.
    let n = assert_reset(&decode_update(&[0, 9, 24, 1, 2, 3, 0, 0], &ctx()));
    assert_eq!((n.code, n.subcode, n.data.len()), (3, 1, 0));
    // Total Path Attribute Length past the end.
    let n = assert_reset(&decode_update(&[0, 0, 0, 30, 0x40, 1, 1, 0], &ctx()));
    assert_eq!((n.code, n.subcode), (3, 1));
}

#[test]
fn unparseable_nlri_resets() {
    for (withdrawn, nlri) in [
        (&[][..], &[33u8, 1, 2, 3, 4, 5][..]),
        (&[], &[24, 198, 51]),
        (&[25, 1, 2, 3], &[]),
    ] {
        let u = decode_update(&body(withdrawn, &with(vec![]), nlri), &ctx());
        let n = assert_reset(&u);
        assert_eq!(n.to_string(), "UPDATE Message Error/Invalid Network Field");
    }
    // ADD-PATH negotiated but the peer sends plain prefixes: the path id
    // swallows the prefix, the rest does not parse.
    let ap = Codec {
        add_path_receive: vec![AfiSafi::IPV4_UNICAST],
        ..ctx()
    };
    assert_reset(&decode_update(&body(&[], &with(vec![]), NLRI), &ap));
}

#[test]
fn malformed_mp_attributes_reset() {
    let cases: Vec<Vec<u8>> = vec![
        // IPv6 route with a 4-octet next hop.
        vec![0, 2, 1, 4, 192, 0, 2, 2, 0, 32, 0x20, 1, 0xd, 0xb8],
        // IPv4 prefix longer than 32 bits.
        vec![0, 1, 1, 4, 192, 0, 2, 2, 0, 40, 1, 2, 3, 4, 5],
        // Next hop running past the attribute.
        vec![0, 1, 1, 16, 192, 0, 2, 2],
        // VPN route shorter than label + RD.
        vec![
            0, 1, 128, 12, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2, 0, 80, 0, 0, 0,
        ],
    ];
    for value in cases {
        let mp = attr(0x80, 14, &value);
        let u = decode_update(&body(&[], &[origin(), as_path(), mp.clone()], &[]), &ctx());
        let n = assert_reset(&u);
        assert_eq!((n.code, n.subcode), (3, 9), "{value:?}");
        assert_eq!(n.data, mp);
        assert_eq!(
            n.to_string(),
            "UPDATE Message Error/Optional Attribute Error"
        );
    }
    let unreach = attr(0x80, 15, &[0, 2]);
    assert_eq!(
        assert_reset(&decode_update(&body(&[], &[unreach], &[]), &ctx())).subcode,
        9
    );
}

#[test]
fn strongest_action_wins() {
    // Discard + treat-as-withdraw: treat-as-withdraw, both listed.
    let b = body(
        &[],
        &[
            origin(),
            as_path(),
            next_hop(),
            attr(0x40, 6, &[1]),
            attr(0x80, 4, &[1]),
        ],
        NLRI,
    );
    let u = decode_update(&b, &ctx());
    assert!(matches!(u.outcome, UpdateOutcome::TreatAsWithdraw(_)));
    assert_eq!(u.outcome.issues().len(), 2);
    // Treat-as-withdraw + reset: reset.
    let b = body(
        &[],
        &[
            attr(0x40, 1, &[9]),
            as_path(),
            next_hop(),
            attr(0x40, 99, &[]),
        ],
        NLRI,
    );
    assert_reset(&decode_update(&b, &ctx()));
}

#[test]
fn update_error_display_names_the_attribute() {
    let u = decode_update(&body(&[], &with(attr(0x40, 99, &[])), NLRI), &ctx());
    match u.outcome {
        UpdateOutcome::SessionReset(e) => assert_eq!(
            e.to_string(),
            "UPDATE error in attribute unknown: unrecognized well-known attribute"
        ),
        other => panic!("{other:?}"),
    }
    let b = body(&[], &[attr(0x40, 1, &[9]), as_path(), next_hop()], NLRI);
    let u = decode_update(&b, &ctx());
    assert_eq!(
        u.outcome.issues()[0].to_string(),
        "treat-as-withdraw (attribute ORIGIN): invalid ORIGIN value 9"
    );
}

// --------------------------------------------------------- other messages

#[test]
fn header_errors() {
    let ctx = ctx();
    let mut bad_marker = message(4, &[]);
    bad_marker[3] = 0;
    let e = Message::decode(&bad_marker, &ctx).unwrap_err();
    assert_eq!(
        e,
        MessageError::Header(HeaderError::ConnectionNotSynchronized)
    );
    assert_eq!(
        e.notification().to_string(),
        "Message Header Error/Connection Not Synchronized"
    );

    let e = Message::decode(&message(9, &[]), &ctx).unwrap_err();
    let n = e.notification();
    assert_eq!((n.code, n.subcode, n.data), (1, 3, vec![9]));

    // KEEPALIVE with a body.
    let e = Message::decode(&message(4, &[0]), &ctx).unwrap_err();
    let n = e.notification();
    assert_eq!((n.code, n.subcode, n.data), (1, 2, vec![0, 20]));

    // Length field disagreeing with the bytes given.
    let mut m = message(4, &[]);
    m.push(0);
    assert!(matches!(
        Message::decode(&m, &ctx),
        Err(MessageError::Header(HeaderError::BadMessageLength {
            length: 19
        }))
    ));
    // NOTIFICATION without subcode; UPDATE without lengths; short OPEN.
    for (t, b) in [(3u8, &[6u8][..]), (2, &[0, 0][..]), (1, &[4, 0, 1][..])] {
        let n = Message::decode(&message(t, b), &ctx)
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode), (1, 2), "type {t}");
    }
    // Over 4096 octets without extended messages.
    let big = message(2, &vec![0u8; 4096]);
    assert!(Message::decode(&big, &ctx).is_err());
    let ext = Codec {
        extended_message: true,
        ..ctx.clone()
    };
    let mut long = body(&[], &[], &[]);
    long.resize(4096, 0);
    // Zero bytes after the attributes would be /0 prefixes: a valid body.
    assert!(matches!(
        Message::decode(&message(2, &long), &ext),
        Ok(Message::Update(_))
    ));
}

#[test]
fn open_errors_through_message_decode() {
    let ctx = Codec::default();
    let open = |version: u8, asn: u16, hold: u16, id: [u8; 4], params: &[u8]| {
        let mut b = vec![version];
        b.extend_from_slice(&asn.to_be_bytes());
        b.extend_from_slice(&hold.to_be_bytes());
        b.extend_from_slice(&id);
        b.push(u8::try_from(params.len()).expect("fits"));
        b.extend_from_slice(params);
        message(1, &b)
    };
    let id = [192, 0, 2, 1];
    let cases: Vec<(Vec<u8>, OpenError, u8, Vec<u8>)> = vec![
        (
            open(3, 65001, 90, id, &[]),
            OpenError::UnsupportedVersion { version: 3 },
            1,
            vec![0, 4],
        ),
        (
            open(4, 0, 90, id, &[]),
            OpenError::BadPeerAs { asn: 0 },
            2,
            vec![],
        ),
        (
            open(4, 65001, 90, [0; 4], &[]),
            OpenError::BadBgpIdentifier {
                id: Ipv4Addr::UNSPECIFIED,
            },
            3,
            vec![],
        ),
        (
            open(4, 65001, 90, id, &[1, 1, 0]),
            OpenError::UnsupportedOptionalParameter { param_type: 1 },
            4,
            vec![],
        ),
        (
            open(4, 65001, 1, id, &[]),
            OpenError::UnacceptableHoldTime { hold_time: 1 },
            6,
            vec![],
        ),
        (
            open(4, 65001, 90, id, &[2, 6, 65, 4, 0, 0, 0, 0]),
            OpenError::BadPeerAs { asn: 0 },
            2,
            vec![],
        ),
        (
            open(4, 65001, 90, id, &[2, 4, 65, 2, 0, 1]),
            OpenError::MalformedCapability { code: 65 },
            0,
            vec![],
        ),
        (
            open(4, 65001, 90, id, &[2, 9, 1]),
            OpenError::MalformedOptionalParameters,
            0,
            vec![],
        ),
    ];
    for (bytes, err, subcode, data) in cases {
        let e = Message::decode(&bytes, &ctx).unwrap_err();
        assert_eq!(e, MessageError::Open(err.clone()));
        let n = e.notification();
        assert_eq!((n.code, n.subcode, n.data), (2, subcode, data), "{err}");
    }
}

#[test]
fn route_refresh_length_error_carries_the_message() {
    let m = message(5, &[0, 1, 0]);
    let n = Message::decode(&m, &Codec::default())
        .unwrap_err()
        .notification();
    assert_eq!((n.code, n.subcode), (7, 1));
    assert_eq!(n.data, m);
}

#[test]
fn encode_errors() {
    let ctx = Codec::default();
    // An UPDATE over 4096 octets.
    let nlri: Vec<_> = (0..1200u32)
        .map(|i| {
            tern_bgp_wire::Nlri::ipv4(
                format!("10.{}.{}.0/24", i / 256, i % 256)
                    .parse()
                    .expect("prefix"),
            )
        })
        .collect();
    let big = Message::Update(UpdateMessage::new(vec![], vec![], nlri));
    let mut out = vec![1, 2, 3];
    assert!(matches!(
        big.encode(&ctx, &mut out),
        Err(tern_bgp_wire::EncodeError::MessageTooLong { max: 4096, .. })
    ));
    assert_eq!(out, [1, 2, 3], "output untouched on error");
    let ext = Codec {
        extended_message: true,
        ..ctx
    };
    assert!(big.encode(&ext, &mut out).is_ok());
}

// ------------------------------------- RFC 4760 §7: families not negotiated

/// MP_REACH_NLRI for VPN-IPv4 whose NLRI carries an ADD-PATH path id that
/// was never negotiated: unparseable as VPN-IPv4 without path ids.
///
/// ```text
/// 00 01 80                     AFI 1 (IPv4), SAFI 128 (MPLS VPN)
/// 0c                           next hop length 12
/// 00 00 00 00 00 00 00 00      next hop RD 0
/// c0 00 02 02                  next hop 192.0.2.2
/// 00                           reserved
/// 00 00 00 01                  path id 1 (not negotiated)
/// 70                           112 bits: label 24 + RD 64 + prefix 24
/// 00 01 01                     label 16, bottom of stack
/// 00 00 fd e9 00 00 00 64      RD 65001:100
/// 0a 01 01                     10.1.1.0/24
/// ```
const MP_REACH_VPNV4_PATH_ID: &[u8] = &[
    0x00, 0x01, 0x80, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x70, 0x00, 0x01, 0x01, 0x00, 0x00, 0xfd, 0xe9, 0x00, 0x00, 0x00, 0x64, 0x0a, 0x01, 0x01,
];

/// MP_UNREACH_NLRI for VPN-IPv4 with the same unparseable NLRI.
///
/// ```text
/// 00 01 80                     AFI 1, SAFI 128
/// 00 00 00 01 70 00 01 01 ...  path id 1, then the route as above
/// ```
const MP_UNREACH_VPNV4_PATH_ID: &[u8] = &[
    0x00, 0x01, 0x80, 0x00, 0x00, 0x00, 0x01, 0x70, 0x00, 0x01, 0x01, 0x00, 0x00, 0xfd, 0xe9, 0x00,
    0x00, 0x00, 0x64, 0x0a, 0x01, 0x01,
];

/// The codec of a session that negotiated IPv4 unicast alone.
fn ipv4_only() -> Codec {
    let open = |asn: u32, id: [u8; 4]| {
        tern_bgp_wire::OpenMessage::new(
            asn,
            90,
            Ipv4Addr::from(id),
            vec![
                tern_bgp_wire::Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
                tern_bgp_wire::Capability::FourOctetAs(asn),
            ],
        )
    };
    Codec::negotiate(&open(65001, [192, 0, 2, 1]), &open(65002, [192, 0, 2, 2]))
}

#[test]
fn mp_attributes_of_a_family_not_negotiated_are_ignored() {
    // The UPDATE: ORIGIN, AS_PATH, NEXT_HOP, the VPN-IPv4 MP_REACH_NLRI and
    // MP_UNREACH_NLRI, and 198.51.100.0/24 in the NLRI field.
    let reach = attr(0x80, 14, MP_REACH_VPNV4_PATH_ID);
    let unreach = attr(0x80, 15, MP_UNREACH_VPNV4_PATH_ID);
    let b = body(
        &[],
        &[
            origin(),
            as_path(),
            next_hop(),
            reach.clone(),
            unreach.clone(),
        ],
        NLRI,
    );
    // Where VPN-IPv4 is not negotiated: ignored, the rest is processed.
    let u = decode_update(&b, &ipv4_only());
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    let announced: Vec<String> = u
        .announced()
        .iter()
        .map(|(f, n)| format!("{f:?} {n}"))
        .collect();
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert!(u.announced()[0].0 == AfiSafi::IPV4_UNICAST);
    assert_eq!(u.announced()[0].1.to_string(), "198.51.100.0/24");
    assert!(u.withdrawals().is_empty());
    assert!(u.mp_reach().is_none() && u.mp_unreach().is_none());
    // Where it is negotiated (or nothing is known), the same bytes are a
    // malformed MP_REACH_NLRI: session reset, 3/9 (Optional Attribute Error).
    let mut vpn = ipv4_only();
    vpn.families = Some(vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV4_VPN]);
    for c in [vpn, ctx()] {
        let n = assert_reset(&decode_update(&b, &c));
        assert_eq!((n.code, n.subcode), (3, 9), "{c:?}");
    }
    // An MP_UNREACH_NLRI alone of such a family: ignored too.
    let u = decode_update(&body(&[], &[unreach], &[]), &ipv4_only());
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    assert!(u.withdrawals().is_empty());
    // A family's End-of-RIB still decodes, negotiated or not.
    let u = decode_update(&body(&[], &[attr(0x80, 15, &[0, 2, 1])], &[]), &ipv4_only());
    assert_eq!(
        u.mp_unreach().map(|m| (m.family, m.withdrawn.len())),
        Some((AfiSafi::IPV6_UNICAST, 0))
    );
}

#[test]
fn negotiated_families_are_those_both_opens_name() {
    let open = |caps: Vec<tern_bgp_wire::Capability>| {
        tern_bgp_wire::OpenMessage::new(65001, 90, Ipv4Addr::new(192, 0, 2, 1), caps)
    };
    let mp = tern_bgp_wire::Capability::Multiprotocol;
    let both = Codec::negotiate(
        &open(vec![mp(AfiSafi::IPV4_UNICAST), mp(AfiSafi::IPV6_UNICAST)]),
        &open(vec![mp(AfiSafi::IPV6_UNICAST), mp(AfiSafi::IPV4_VPN)]),
    );
    assert_eq!(both.families, Some(vec![AfiSafi::IPV6_UNICAST]));
    assert!(both.negotiated(AfiSafi::IPV6_UNICAST));
    assert!(!both.negotiated(AfiSafi::IPV4_UNICAST));
    // No Multiprotocol capability: IPv4 unicast alone (RFC 4760 §8).
    let legacy = Codec::negotiate(&open(vec![]), &open(vec![mp(AfiSafi::IPV4_UNICAST)]));
    assert_eq!(legacy.families, Some(vec![AfiSafi::IPV4_UNICAST]));
    assert!(Codec::default().negotiated(AfiSafi::IPV4_VPN));
}

// ------------------------------------------------- SRv6 services (RFC 9252)

/// MP_REACH_NLRI of VPN-IPv4 with an RFC 8950 next hop (RD 0, 2001:db8::1)
/// and one route: label value 0x01000, RD 65000:1, 10.1.0.0/16.
fn mp_reach_vpnv4() -> Vec<u8> {
    let mut v = vec![0, 1, 128, 24];
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .expect("addr")
            .octets(),
    );
    v.push(0);
    v.extend_from_slice(&[
        88 + 16,
        0x01,
        0x00,
        0x01,
        0,
        0,
        0xfd,
        0xe8,
        0,
        0,
        0,
        1,
        10,
        1,
    ]);
    attr(0x90, attr_type::MP_REACH_NLRI, &v)
}

/// SID Information sub-TLV value: SID 2001:db8:5::, End.DT4, then `subsub`.
fn sid_information(subsub: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 5]);
    v.extend_from_slice(&[0; 10]);
    v.extend_from_slice(&[0, 0, 19, 0]);
    v.extend_from_slice(subsub);
    v
}

/// type, 2-octet length, value.
fn tlv(code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![code];
    v.extend_from_slice(&u16::try_from(value.len()).expect("fits").to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// A Prefix-SID with one SRv6 L3 Service TLV holding `sub_tlvs`.
fn prefix_sid_l3(sub_tlvs: &[u8]) -> Vec<u8> {
    let mut service = vec![0];
    service.extend_from_slice(sub_tlvs);
    attr(0xc0, attr_type::PREFIX_SID, &tlv(5, &service))
}

/// The VPN route with `prefix_sid`, then a COMMUNITIES.
fn vpn_update(prefix_sid: Vec<u8>) -> Vec<u8> {
    let community = attr(0xc0, attr_type::COMMUNITIES, &[0xfd, 0xe9, 0, 1]);
    body(
        &[],
        &[origin(), as_path(), mp_reach_vpnv4(), prefix_sid, community],
        &[],
    )
}

const STRUCTURE_40_24_16: [u8; 6] = [40, 24, 16, 0, 16, 64];

#[test]
fn well_formed_srv6_service_is_accepted_and_typed() {
    let good = tlv(1, &sid_information(&tlv(1, &STRUCTURE_40_24_16)));
    let u = decode_update(&vpn_update(prefix_sid_l3(&good)), &ctx());
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    let Some(Attribute::PrefixSid(p)) = u.attribute(attr_type::PREFIX_SID).map(|a| &a.value) else {
        panic!("no Prefix-SID");
    };
    let service = p.srv6_l3().expect("L3 service");
    let info = service.first_sid().expect("SID");
    assert_eq!(
        info.sid,
        "2001:db8:5::".parse::<std::net::Ipv6Addr>().expect("addr")
    );
    assert_eq!(info.behavior, tern_bgp_wire::srv6_behavior::END_DT4);
    let s = info.structure().expect("structure");
    let label = match u.announced()[0].1.prefix {
        tern_bgp_wire::NlriPrefix::Vpnv4 { label, .. } => label,
        ref other => panic!("{other:?}"),
    };
    // Label value 0x01000: its top 16 bits, function 0x0100, at offset 64.
    assert_eq!(
        s.sid_from_vpn_label(info.sid, label),
        Ok("2001:db8:5:0:100::".parse().expect("addr"))
    );
}

#[test]
fn malformed_srv6_service_is_treat_as_withdraw() {
    use tern_bgp_wire::Srv6Malformation as M;
    let sid_info = |subsub: &[u8]| tlv(1, &sid_information(subsub));
    let cases: Vec<(&str, Vec<u8>, M)> = vec![
        // The sub-TLV header stops after its type.
        ("truncated sub-TLV", prefix_sid_l3(&[1]), M::SubTlvOverrun),
        // The sub-TLV says 40 octets, 31 follow.
        (
            "sub-TLV length overrun",
            {
                let mut s = sid_info(&tlv(1, &STRUCTURE_40_24_16));
                s[2] = 40;
                prefix_sid_l3(&s)
            },
            M::SubTlvOverrun,
        ),
        (
            "SID Information of 20 octets",
            prefix_sid_l3(&tlv(1, &sid_information(&[])[..20])),
            M::SidInformationTooShort { length: 20 },
        ),
        (
            "sub-sub-TLV overrun",
            prefix_sid_l3(&sid_info(&[1, 0, 9, 40, 24, 16, 0, 16, 64])),
            M::SubSubTlvOverrun,
        ),
        (
            "structure of 5 octets",
            prefix_sid_l3(&sid_info(&tlv(1, &STRUCTURE_40_24_16[..5]))),
            M::StructureLength { length: 5 },
        ),
        (
            "structure of 7 octets",
            prefix_sid_l3(&sid_info(&tlv(1, &[40, 24, 16, 0, 16, 64, 0]))),
            M::StructureLength { length: 7 },
        ),
        (
            "L2 Service TLV without its reserved octet",
            attr(0xc0, attr_type::PREFIX_SID, &tlv(6, &[])),
            M::ServiceTooShort,
        ),
        (
            "L3 Service TLV past the attribute",
            attr(0xc0, attr_type::PREFIX_SID, &[5, 0, 30, 0]),
            M::ServiceOverrun,
        ),
    ];
    for (what, prefix_sid, fault) in cases {
        let u = decode_update(&vpn_update(prefix_sid), &ctx());
        assert!(
            matches!(u.outcome, UpdateOutcome::TreatAsWithdraw(_)),
            "{what}: {:?}",
            u.outcome
        );
        assert_eq!(
            issues(&u),
            [(
                attr_type::PREFIX_SID,
                Fault::PrefixSidSrv6(fault),
                Action::TreatAsWithdraw
            )],
            "{what}"
        );
        // RFC 9252 §7: the VPN route is withdrawn, not kept without its
        // service.
        assert!(u.announced().is_empty(), "{what}");
        assert_eq!(u.withdrawals().len(), 1, "{what}");
        assert_eq!(
            u.outcome.issues()[0].subcode(),
            tern_bgp_wire::update_subcode::OPTIONAL_ATTRIBUTE_ERROR
        );
    }
    // A well framed structure that does not fit makes the SID invalid
    // (the VPN layer keeps the path as ineligible), not the TLV malformed.
    let unusable: [(&str, [u8; 6], M); 3] = [
        (
            "structure over 128 bits",
            [64, 48, 16, 8, 16, 112],
            M::StructureTooLong { bits: 136 },
        ),
        (
            "transposition past the SID",
            [40, 24, 16, 0, 16, 120],
            M::Transposition {
                offset: 120,
                length: 16,
            },
        ),
        (
            "transposition wider than a label",
            [40, 24, 32, 0, 25, 64],
            M::Transposition {
                offset: 64,
                length: 25,
            },
        ),
    ];
    for (what, structure, fault) in unusable {
        let u = decode_update(
            &vpn_update(prefix_sid_l3(&sid_info(&tlv(1, &structure)))),
            &ctx(),
        );
        assert_eq!(u.outcome, UpdateOutcome::Accept, "{what}");
        assert_eq!(u.announced().len(), 1, "{what}");
        let Some(Attribute::PrefixSid(p)) = u.attribute(attr_type::PREFIX_SID).map(|a| &a.value)
        else {
            panic!("{what}: no Prefix-SID");
        };
        let service = p.srv6_l3().expect("L3 service");
        let info = service.first_sid().expect("SID");
        assert_eq!(
            info.structure().map(|s| s.validate()),
            Some(Err(fault)),
            "{what}"
        );
    }
    // Unknown sub-TLVs and sub-sub-TLVs are not errors.
    let unknown = [tlv(9, &[1, 2]), sid_info(&tlv(7, &[]))].concat();
    let u = decode_update(&vpn_update(prefix_sid_l3(&unknown)), &ctx());
    assert_eq!(u.outcome, UpdateOutcome::Accept);
}
