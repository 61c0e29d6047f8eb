//! Differential test against zettabgp 0.6.0, an independent decoder, on
//! IPv4/IPv6 unicast UPDATEs: the captured fixtures, and generated UPDATEs
//! that this crate encodes and zettabgp decodes. Both decodings are reduced to
//! a common summary and compared.
//!
//! Only where zettabgp is right (shared/TOOLCHAIN.md): no AS_PATH encoded by
//! zettabgp (it swaps AS_SET and AS_SEQUENCE), no Prefix-SID, no RFC 8950
//! next hops, no VPN, no ADD-PATH guessing (its `fuzzy_pathid` is turned off),
//! no malformed input (it panics on some).

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::fixture;
use tern_bgp_wire::{
    AfiSafi, Aggregator, AsPath, AsSegment, AsSegmentType, Attribute, Codec, Community,
    ExtendedCommunity, LargeCommunity, Message, MpReachNlri, MpUnreachNlri, NextHop, Nlri,
    NlriPrefix, Origin, PathAttribute, UpdateMessage, UpdateOutcome,
};
use zettabgp::BgpMessage;
use zettabgp::prelude::{
    BgpASitem, BgpAddr, BgpAddrs, BgpAttrItem, BgpAttrOrigin, BgpSessionParams, BgpTransportMode,
    BgpUpdateMessage,
};

/// What both decoders must agree on.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    origin: Option<u8>,
    /// Segments as (is_set, ASNs); set members sorted.
    as_path: Option<Vec<(bool, Vec<u32>)>>,
    next_hop: Option<Ipv4Addr>,
    med: Option<u32>,
    local_pref: Option<u32>,
    atomic_aggregate: bool,
    aggregator: Option<(u32, Ipv4Addr)>,
    communities: BTreeSet<u32>,
    large: BTreeSet<(u32, u32, u32)>,
    extended: BTreeSet<[u8; 8]>,
    nlri: BTreeSet<String>,
    withdrawn: BTreeSet<String>,
    mp_next_hop: Option<IpAddr>,
    mp_nlri: BTreeSet<String>,
    mp_withdrawn: BTreeSet<String>,
}

fn ours(u: &UpdateMessage) -> Summary {
    let mut s = Summary::default();
    let show = |n: &Nlri| match n.prefix {
        NlriPrefix::Ipv4(p) => p.to_string(),
        NlriPrefix::Ipv6(p) => p.to_string(),
        _ => panic!("only unicast here"),
    };
    s.nlri = u.nlri.iter().map(show).collect();
    s.withdrawn = u.withdrawn.iter().map(show).collect();
    for a in &u.attributes {
        match &a.value {
            Attribute::Origin(o) => s.origin = Some(*o as u8),
            Attribute::AsPath(p) => {
                s.as_path = Some(
                    p.segments
                        .iter()
                        .map(|seg| {
                            let set = seg.kind == AsSegmentType::Set;
                            let mut asns = seg.asns.clone();
                            if set {
                                asns.sort_unstable();
                            }
                            (set, asns)
                        })
                        .collect(),
                )
            }
            Attribute::NextHop(n) => s.next_hop = Some(*n),
            Attribute::MultiExitDisc(v) => s.med = Some(*v),
            Attribute::LocalPref(v) => s.local_pref = Some(*v),
            Attribute::AtomicAggregate => s.atomic_aggregate = true,
            Attribute::Aggregator(a) => s.aggregator = Some((a.asn, a.address)),
            Attribute::Communities(v) => s.communities = v.iter().map(|c| c.0).collect(),
            Attribute::LargeCommunities(v) => {
                s.large = v
                    .iter()
                    .map(|c| (c.global_admin, c.local_data_1, c.local_data_2))
                    .collect()
            }
            Attribute::ExtendedCommunities(v) => s.extended = v.iter().map(|c| c.0).collect(),
            Attribute::MpReachNlri(mp) => {
                s.mp_next_hop = Some(match mp.next_hop {
                    NextHop::Ipv4(a) => IpAddr::V4(a),
                    NextHop::Ipv6 { global, .. } => IpAddr::V6(global),
                    other => panic!("unicast next hop expected: {other:?}"),
                });
                s.mp_nlri = mp.nlri.iter().map(show).collect();
            }
            Attribute::MpUnreachNlri(mp) => {
                s.mp_withdrawn = mp.withdrawn.iter().map(show).collect()
            }
            other => panic!("not compared: {other:?}"),
        }
    }
    s
}

fn zetta_prefixes(addrs: &BgpAddrs) -> BTreeSet<String> {
    match addrs {
        BgpAddrs::None => BTreeSet::new(),
        BgpAddrs::IPV4U(v) => v
            .iter()
            .map(|a| {
                ipnet::Ipv4Net::new(a.addr, a.prefixlen)
                    .expect("prefix")
                    .trunc()
                    .to_string()
            })
            .collect(),
        BgpAddrs::IPV6U(v) => v
            .iter()
            .map(|a| {
                ipnet::Ipv6Net::new(a.addr, a.prefixlen)
                    .expect("prefix")
                    .trunc()
                    .to_string()
            })
            .collect(),
        other => panic!("unexpected zettabgp NLRI {other:?}"),
    }
}

fn theirs(u: &BgpUpdateMessage) -> Summary {
    let mut s = Summary {
        nlri: zetta_prefixes(&u.updates),
        withdrawn: zetta_prefixes(&u.withdraws),
        ..Summary::default()
    };
    for a in &u.attrs {
        match a {
            BgpAttrItem::Origin(o) => {
                s.origin = Some(match o.value {
                    BgpAttrOrigin::Igp => 0,
                    BgpAttrOrigin::Egp => 1,
                    BgpAttrOrigin::Incomplete => 2,
                })
            }
            BgpAttrItem::ASPath(p) => {
                s.as_path = Some(
                    p.value
                        .iter()
                        .map(|item| match item {
                            BgpASitem::Seq(q) => (false, q.value.iter().map(|a| a.value).collect()),
                            BgpASitem::Set(q) => (true, q.value.iter().map(|a| a.value).collect()),
                        })
                        .collect(),
                )
            }
            BgpAttrItem::NextHop(n) => match n.value {
                IpAddr::V4(a) => s.next_hop = Some(a),
                IpAddr::V6(a) => panic!("IPv6 NEXT_HOP {a}"),
            },
            BgpAttrItem::MED(m) => s.med = Some(m.value),
            BgpAttrItem::LocalPref(l) => s.local_pref = Some(l.value),
            BgpAttrItem::AtomicAggregate(_) => s.atomic_aggregate = true,
            BgpAttrItem::AggregatorAS(a) => s.aggregator = Some((a.asn, a.addr)),
            BgpAttrItem::CommunityList(c) => {
                s.communities = c.value.iter().map(|c| c.value).collect()
            }
            BgpAttrItem::LargeCommunityList(c) => {
                s.large = c.value.iter().map(|c| (c.ga, c.ldp1, c.ldp2)).collect()
            }
            BgpAttrItem::ExtCommunityList(c) => {
                s.extended = c
                    .value
                    .iter()
                    .map(|e| {
                        let mut b = [0u8; 8];
                        b[0] = e.ctype;
                        b[1] = e.subtype;
                        b[2..4].copy_from_slice(&e.a.to_be_bytes());
                        b[4..8].copy_from_slice(&e.b.to_be_bytes());
                        b
                    })
                    .collect()
            }
            BgpAttrItem::MPUpdates(mp) => {
                s.mp_next_hop = Some(match &mp.nexthop {
                    BgpAddr::V4(a) => IpAddr::V4(*a),
                    BgpAddr::V6(a) => IpAddr::V6(*a),
                    other => panic!("unexpected zettabgp next hop {other:?}"),
                });
                s.mp_nlri = zetta_prefixes(&mp.addrs);
            }
            BgpAttrItem::MPWithdraws(mp) => s.mp_withdrawn = zetta_prefixes(&mp.addrs),
            other => panic!("not compared: {other:?}"),
        }
    }
    s
}

fn zetta_params(four_octet_as: bool) -> BgpSessionParams {
    let mut p = BgpSessionParams::new(
        65001,
        90,
        BgpTransportMode::IPv4,
        Ipv4Addr::new(192, 0, 2, 1),
        Vec::new(),
    );
    p.has_as32bit = four_octet_as;
    p.fuzzy_pathid = false;
    p
}

/// Decodes a whole UPDATE message with both decoders and compares.
fn compare(bytes: &[u8], ctx: &Codec) {
    let u = match Message::decode(bytes, ctx) {
        Ok(Message::Update(u)) => u,
        other => panic!("not an UPDATE: {other:?}"),
    };
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    let mut z = BgpUpdateMessage::new();
    z.decode_from(&zetta_params(ctx.four_octet_as), &bytes[19..])
        .unwrap_or_else(|e| panic!("zettabgp: {e:?}"));
    assert_eq!(ours(&u), theirs(&z), "{u:?}");
}

#[test]
fn captured_unicast_updates_agree() {
    let ctx = Codec {
        four_octet_as: true,
        ..Codec::default()
    };
    for (speaker, names) in [
        (
            "frr",
            &[
                "update-ipv4",
                "update-ipv6",
                "withdraw-ipv4",
                "withdraw-ipv6",
                "eor-ipv4",
                "eor-ipv6",
            ][..],
        ),
        (
            "gobgp",
            &[
                "update-ipv4",
                "update-ipv6",
                "update-ipv6-ibgp",
                "withdraw-ipv4",
                "withdraw-ipv6",
                "eor-ipv4",
                "eor-ipv6",
            ][..],
        ),
    ] {
        for name in names {
            compare(&fixture(speaker, name), &ctx);
        }
    }
}

/// xorshift64*: a small deterministic generator, no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_v4(r: &mut Rng) -> Nlri {
    let len = r.below(33) as u8;
    Nlri::ipv4(
        ipnet::Ipv4Net::new(Ipv4Addr::from(r.u32()), len)
            .expect("len")
            .trunc(),
    )
}

fn random_v6(r: &mut Rng) -> Nlri {
    let len = r.below(129) as u8;
    let addr = Ipv6Addr::from(u128::from(r.next()) << 64 | u128::from(r.next()));
    Nlri::ipv6(ipnet::Ipv6Net::new(addr, len).expect("len").trunc())
}

fn random_asn(r: &mut Rng, four_octet: bool) -> u32 {
    if four_octet {
        1 + r.u32() % u32::MAX
    } else {
        1 + r.u32() % 65535
    }
}

fn random_update(r: &mut Rng, four_octet: bool) -> UpdateMessage {
    let mut attrs = vec![PathAttribute::new(Attribute::Origin(
        [Origin::Igp, Origin::Egp, Origin::Incomplete][r.below(3) as usize],
    ))];
    let mut segments = Vec::new();
    for _ in 0..r.below(4) {
        let n = 1 + r.below(6) as usize;
        let kind = if r.chance(20) {
            AsSegmentType::Set
        } else {
            AsSegmentType::Sequence
        };
        let mut asns: Vec<u32> = (0..n).map(|_| random_asn(r, four_octet)).collect();
        if kind == AsSegmentType::Set {
            // zettabgp keeps sets as sets: no duplicates.
            asns.sort_unstable();
            asns.dedup();
        }
        segments.push(AsSegment { kind, asns });
    }
    attrs.push(PathAttribute::new(Attribute::AsPath(AsPath { segments })));
    let ipv4 = r.chance(60);
    if ipv4 {
        attrs.push(PathAttribute::new(Attribute::NextHop(Ipv4Addr::new(
            192,
            0,
            2,
            1 + r.below(250) as u8,
        ))));
    }
    if r.chance(50) {
        attrs.push(PathAttribute::new(Attribute::MultiExitDisc(r.u32())));
    }
    if r.chance(50) {
        attrs.push(PathAttribute::new(Attribute::LocalPref(r.u32())));
    }
    if r.chance(20) {
        attrs.push(PathAttribute::new(Attribute::AtomicAggregate));
    }
    if r.chance(20) {
        attrs.push(PathAttribute::new(Attribute::Aggregator(Aggregator {
            asn: random_asn(r, four_octet),
            address: Ipv4Addr::from(r.u32()),
        })));
    }
    if r.chance(60) {
        let mut v: Vec<_> = (0..1 + r.below(80)).map(|_| Community(r.u32())).collect();
        v.sort_unstable();
        v.dedup();
        attrs.push(PathAttribute::new(Attribute::Communities(v)));
    }
    if r.chance(40) {
        let mut v: Vec<_> = (0..1 + r.below(20))
            .map(|_| LargeCommunity::new(r.u32(), r.u32(), r.u32()))
            .collect();
        v.sort_unstable();
        v.dedup();
        attrs.push(PathAttribute::new(Attribute::LargeCommunities(v)));
    }
    if r.chance(40) {
        let mut v: Vec<_> = (0..1 + r.below(10))
            .map(|_| ExtendedCommunity::route_target_as2(r.below(65536) as u16, r.u32()))
            .collect();
        v.sort_unstable();
        v.dedup();
        attrs.push(PathAttribute::new(Attribute::ExtendedCommunities(v)));
    }
    let mut withdrawn = Vec::new();
    let mut nlri = Vec::new();
    if ipv4 {
        withdrawn = (0..r.below(20)).map(|_| random_v4(r)).collect();
        nlri = (0..1 + r.below(60)).map(|_| random_v4(r)).collect();
    } else {
        attrs.insert(
            0,
            PathAttribute::new(Attribute::MpReachNlri(MpReachNlri {
                family: AfiSafi::IPV6_UNICAST,
                next_hop: NextHop::Ipv6 {
                    global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1 + r.below(100) as u16),
                    link_local: None,
                },
                nlri: (0..1 + r.below(40)).map(|_| random_v6(r)).collect(),
            })),
        );
        if r.chance(50) {
            attrs.insert(
                0,
                PathAttribute::new(Attribute::MpUnreachNlri(MpUnreachNlri {
                    family: AfiSafi::IPV6_UNICAST,
                    withdrawn: (0..1 + r.below(20)).map(|_| random_v6(r)).collect(),
                })),
            );
        }
    }
    // Duplicates would be collapsed by zettabgp's sets.
    nlri.sort_unstable();
    nlri.dedup();
    withdrawn.sort_unstable();
    withdrawn.dedup();
    UpdateMessage::new(withdrawn, attrs, nlri)
}

#[test]
fn generated_updates_agree() {
    let mut r = Rng(0x7e57_b9b0_0000_0001);
    for i in 0..2000 {
        let four_octet = i % 2 == 0;
        let ctx = Codec {
            four_octet_as: four_octet,
            ..Codec::default()
        };
        let u = random_update(&mut r, four_octet);
        let bytes = Message::Update(u.clone())
            .to_bytes(&ctx)
            .expect("fits 4096 octets");
        compare(&bytes, &ctx);
        // And our own decoding gives back what was encoded (flags aside:
        // long attributes gained the extended-length flag), and re-encodes
        // to the same octets.
        let back = match Message::decode(&bytes, &ctx) {
            Ok(Message::Update(b)) => b,
            other => panic!("{other:?}"),
        };
        let values = |m: &UpdateMessage| -> Vec<Attribute> {
            m.attributes.iter().map(|a| a.value.clone()).collect()
        };
        assert_eq!(values(&back), values(&u));
        assert_eq!((&back.withdrawn, &back.nlri), (&u.withdrawn, &u.nlri));
        assert_eq!(Message::Update(back).to_bytes(&ctx), Ok(bytes));
    }
}

#[test]
fn zettabgp_encoded_updates_decode_the_same() {
    // zettabgp encodes prefixes and communities right: build with it (no
    // AS_PATH, which it encodes wrongly), decode with both.
    use zettabgp::prelude::{
        BgpAddrV4, BgpCommunity, BgpCommunityList, BgpMED, BgpNextHop, BgpOrigin,
    };
    let mut r = Rng(0x5eed);
    let params = zetta_params(true);
    for _ in 0..300 {
        let mut z = BgpUpdateMessage::new();
        let prefixes: BTreeSet<(u32, u8)> = (0..1 + r.below(50))
            .map(|_| {
                let len = r.below(33) as u8;
                let net = ipnet::Ipv4Net::new(Ipv4Addr::from(r.u32()), len)
                    .expect("len")
                    .trunc();
                (u32::from(net.network()), len)
            })
            .collect();
        z.updates = BgpAddrs::IPV4U(
            prefixes
                .iter()
                .map(|&(a, l)| BgpAddrV4::new(Ipv4Addr::from(a), l))
                .collect(),
        );
        z.attrs.push(BgpAttrItem::Origin(BgpOrigin {
            value: BgpAttrOrigin::Incomplete,
        }));
        z.attrs.push(BgpAttrItem::NextHop(BgpNextHop {
            value: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)),
        }));
        z.attrs.push(BgpAttrItem::MED(BgpMED { value: r.u32() }));
        z.attrs.push(BgpAttrItem::CommunityList(BgpCommunityList {
            value: (0..1 + r.below(10))
                .map(|_| BgpCommunity { value: r.u32() })
                .collect(),
        }));
        let mut buf = vec![0u8; 4096];
        let n = z.encode_to(&params, &mut buf).expect("zettabgp encodes");
        let mut msg = tern_bgp_wire::MARKER.to_vec();
        msg.extend_from_slice(&u16::try_from(19 + n).expect("fits").to_be_bytes());
        msg.push(2);
        msg.extend_from_slice(&buf[..n]);
        let ctx = Codec {
            four_octet_as: true,
            ..Codec::default()
        };
        let u = match Message::decode(&msg, &ctx) {
            Ok(Message::Update(u)) => u,
            other => panic!("{other:?}"),
        };
        // No AS_PATH: our decoder flags it (treat-as-withdraw) but still parses.
        assert!(matches!(u.outcome, UpdateOutcome::TreatAsWithdraw(_)));
        assert_eq!(ours(&u), theirs(&z));
    }
}
