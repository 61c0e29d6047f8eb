//! Packing of UPDATEs up to the size limit, checked by decoding them with
//! the codec, and a scale test that checks only the final state (it prints
//! the time taken, for information).

use std::time::Instant;

use ipnet::{Ipv4Net, Ipv6Net};

use super::*;

/// `n` distinct /24s from 10.0.0.0/8 (then 11.0.0.0/8 ...).
fn v4_prefixes(n: usize) -> Vec<Ipv4Net> {
    (0..n)
        .map(|i| {
            let i = u32::try_from(i).unwrap();
            Ipv4Net::new(Ipv4Addr::from((10 << 24) + (i << 8)), 24).unwrap()
        })
        .collect()
}

fn v6_prefixes(n: usize) -> Vec<Ipv6Net> {
    (0..n)
        .map(|i| {
            let i = u128::try_from(i).unwrap();
            let base: u128 = 0x2001_0db8 << 96;
            Ipv6Net::new(Ipv6Addr::from(base + (i << 64)), 64).unwrap()
        })
        .collect()
}

fn announce_many(prefixes: &[Ipv4Net], path: &[u32], nh: &str) -> UpdateMessage {
    UpdateMessage::new(
        Vec::new(),
        attrs(path, nh)
            .into_iter()
            .map(PathAttribute::new)
            .collect(),
        prefixes.iter().map(|p| Nlri::ipv4(*p)).collect(),
    )
}

fn sorted(mut v: Vec<IpNet>) -> Vec<IpNet> {
    v.sort();
    v
}

#[test]
fn ten_thousand_prefixes_pack_into_a_handful_of_updates() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    let prefixes = v4_prefixes(10_000);
    let expected: Vec<IpNet> = sorted(prefixes.iter().map(|p| IpNet::V4(*p)).collect());
    let c = r.update_from_peer(a.id, &announce_many(&prefixes, &[65001], "192.0.2.1"));
    assert_eq!(c.fib.len(), 10_000);
    let msgs = updates_for(&c, 2);
    // 10,000 x 4 octets of NLRI in 4096-octet messages: 10 or 11.
    assert!(msgs.len() <= 11, "{} UPDATEs", msgs.len());
    let decoded = on_the_wire(&msgs, &b.codec);
    assert_eq!(sorted(announced(&decoded)), expected);
    // The same through the initial advertisement of a new peer.
    let d = peer(3, 65003);
    let msgs = r.peer_up(&d);
    assert!(msgs.len() <= 12, "{} UPDATEs", msgs.len());
    assert_eq!(sorted(announced(&on_the_wire(&msgs, &d.codec))), expected);
    // And the withdrawals.
    let w = UpdateMessage::new(
        prefixes.iter().map(|p| Nlri::ipv4(*p)).collect(),
        Vec::new(),
        Vec::new(),
    );
    let c = r.update_from_peer(a.id, &w);
    let msgs = updates_for(&c, 2);
    assert!(msgs.len() <= 11, "{} UPDATEs", msgs.len());
    assert_eq!(sorted(withdrawn(&on_the_wire(&msgs, &b.codec))), expected);
}

#[test]
fn ipv6_and_add_path_and_extended_messages() {
    let mut r = rib();
    let a = peer(1, 65001);
    let mut b = peer(2, 65002);
    b.codec.add_path_send = vec![tern_bgp_wire::AfiSafi::IPV6_UNICAST];
    let mut big = peer(3, 65003);
    big.codec.extended_message = true;
    for p in [&a, &b, &big] {
        up(&mut r, p);
    }
    let prefixes = v6_prefixes(10_000);
    let mp = MpReachNlri {
        family: tern_bgp_wire::AfiSafi::IPV6_UNICAST,
        next_hop: NextHop::Ipv6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        },
        nlri: prefixes.iter().map(|p| Nlri::ipv6(*p)).collect(),
    };
    let u = UpdateMessage::new(
        Vec::new(),
        vec![
            PathAttribute::new(Attribute::Origin(Origin::Igp)),
            PathAttribute::new(Attribute::AsPath(AsPath::from_sequence(vec![65001]))),
            PathAttribute::new(Attribute::MpReachNlri(mp)),
        ],
        Vec::new(),
    );
    let c = r.update_from_peer(a.id, &u);
    let expected: Vec<IpNet> = sorted(prefixes.iter().map(|p| IpNet::V6(*p)).collect());
    // 10,000 x (9 + 4 path id) octets: about 32 messages of 4096.
    let msgs = updates_for(&c, 2);
    assert!(msgs.len() <= 34, "{} UPDATEs", msgs.len());
    let decoded = on_the_wire(&msgs, &b.codec);
    assert!(
        decoded
            .iter()
            .flat_map(|m| m.announced())
            .all(|(_, n)| n.path_id == Some(1))
    );
    assert_eq!(sorted(announced(&decoded)), expected);
    // 65535-octet messages: 10,000 x 9 octets fit in 2.
    let msgs = updates_for(&c, 3);
    assert!(msgs.len() <= 2, "{} UPDATEs", msgs.len());
    assert_eq!(sorted(announced(&on_the_wire(&msgs, &big.codec))), expected);
}

#[test]
fn distinct_attribute_sets_go_in_distinct_updates() {
    let mut r = rib();
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    up(&mut r, &a);
    up(&mut r, &b);
    let prefixes = v4_prefixes(300);
    let mut all = Changes::default();
    for (i, chunk) in prefixes.chunks(100).enumerate() {
        let path = [65001, 100 + u32::try_from(i).unwrap()];
        all.merge(r.update_from_peer(a.id, &announce_many(chunk, &path, "192.0.2.1")));
    }
    let msgs = on_the_wire(&updates_for(&all, 2), &b.codec);
    assert_eq!(msgs.len(), 3);
    assert!(msgs.iter().all(|m| m.nlri.len() == 100));
}

#[test]
fn scale_100k_prefixes_from_3_peers() {
    let start = Instant::now();
    let mut r = rib();
    // Two peers in one AS (an ECMP pair), a third with a longer path, and
    // an eBGP listener that receives the best paths.
    let peers = [peer(1, 65001), peer(2, 65001), peer(3, 65003)];
    let listener = peer(4, 65004);
    for p in &peers {
        up(&mut r, p);
    }
    up(&mut r, &listener);
    let prefixes = v4_prefixes(100_000);
    let mut sent = 0usize;
    for (p, path) in peers
        .iter()
        .zip([&[65001, 7][..], &[65001, 7], &[65003, 8, 7]])
    {
        let nh = p.addr.to_string();
        // As a real peer sends them: about 1,000 prefixes per UPDATE.
        for chunk in prefixes.chunks(1_000) {
            let c = r.update_from_peer(p.id, &announce_many(chunk, path, &nh));
            sent += updates_for(&c, 4).len();
        }
    }
    assert_eq!(r.prefix_count(V4), 100_000);
    for p in &peers {
        assert_eq!(r.peer_counts(p.id, V4).unwrap().accepted, 100_000);
    }
    assert_eq!(r.peer_counts(listener.id, V4).unwrap().advertised, 100_000);
    let probe = IpNet::V4(prefixes[54_321]);
    assert_eq!(
        r.fib_nexthops(V4, probe),
        vec![ip("192.0.2.1"), ip("192.0.2.2")]
    );
    let view = r.route(V4, probe).unwrap();
    assert_eq!(view.paths.len(), 3);
    // The best path did not change after the first peer: one wave of
    // UPDATEs to the listener.
    assert!(sent <= 110, "{sent} UPDATEs to the listener");
    let c = r.peer_down(peers[0].id);
    assert_eq!(c.fib.len(), 100_000);
    assert_eq!(r.fib_nexthops(V4, probe), vec![ip("192.0.2.2")]);
    eprintln!(
        "rib scale: 100,000 prefixes x 3 peers in, 1 peer down: {:?}",
        start.elapsed()
    );
}

#[test]
fn attributes_that_leave_no_room_are_counted_not_sent() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let mut big = attrs(&[65001], "192.0.2.1");
    big.push(tern_bgp_wire::Attribute::Raw {
        type_code: 0xf0,
        value: vec![0; 4050],
    });
    r.update_from_peer(a.id, &announce(&["198.51.100.0/24"], big));
    let b = peer(2, 65002);
    let sent: Vec<_> = r
        .peer_up(&b)
        .into_iter()
        .filter(|u| !u.nlri.is_empty())
        .collect();
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(
        r.unsent_no_room(b.id),
        1,
        "counted for the peer it was not sent to"
    );
    assert_eq!(r.unsent_no_room(a.id), 0);
}
