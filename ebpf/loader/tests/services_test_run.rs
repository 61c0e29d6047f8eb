//! BPF_PROG_TEST_RUN tests of service load balancing: a packet to a
//! frontend in; the translated packet (addresses, ports, checksums), the
//! conntrack entries and the drop counters out; then the reply translated
//! back. Each test runs in a private network namespace of its own thread.
//! Needs root; without it the tests fail.
#![allow(clippy::unwrap_used)]
mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use tern_ebpf::{
    Datapath, DatapathConfig, Hook,
    datapath::{DropReason, EP_FLAG_VETH_PEER, EndpointInfo, PathKind},
    services::{
        BACKEND_F_PRESENT, Backend, CT_DIR_FORWARD, CT_DIR_REPLY, CT_F_SNAT, CT_STATE_CLOSING,
        SNAT_PORT_MIN, SVC_F_ADDRESS, SVC_F_LOCAL, SVC_F_SOURCE_RANGES, ServiceEntry, flow_hash,
        monotonic_ns, service_key,
    },
};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const POD1: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);
const POD2: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 6);
const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 244, 2, 7);
const NODE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 10);
const POD6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x244, 1, 0, 0, 0, 0, 5);

fn load() -> Datapath {
    private_netns();
    let mut dp = Datapath::load(None).expect("load the datapath (root needed)");
    dp.set_config(&DatapathConfig::default().with_local_v4(Some(NODE)))
        .unwrap();
    dp.set_services_enabled(true).unwrap();
    for (i, ip) in [IpAddr::V4(POD1), IpAddr::V4(POD2), IpAddr::V6(POD6)]
        .into_iter()
        .enumerate()
    {
        dp.upsert_endpoint(
            ip,
            EndpointInfo {
                ifindex: 40 + i as u32,
                id: 1 + i as u32,
                pod_mac: POD_MAC,
                host_mac: HOST_MAC,
                flags: EP_FLAG_VETH_PEER,
            },
        )
        .unwrap();
    }
    dp
}

fn backend(addr: IpAddr, port: u16) -> Backend {
    Backend {
        addr: tern_ebpf::datapath::ip_key(addr).addr,
        port,
        pad: 0,
        flags: BACKEND_F_PRESENT,
    }
}

/// One service: `backends` (ids 1..) in a table of `size` at `off`,
/// filled round robin; an address marker for its frontend address.
fn service(
    dp: &mut Datapath,
    front: (IpAddr, u16, u8),
    backends: &[(IpAddr, u16)],
    off: u32,
    flags: u32,
) {
    let size = 31u32;
    for (i, (a, p)) in backends.iter().enumerate() {
        dp.set_backend(off + i as u32 + 1, backend(*a, *p)).unwrap();
    }
    let ids: Vec<u32> = (0..size)
        .map(|i| off + 1 + i % backends.len().max(1) as u32)
        .collect();
    if !backends.is_empty() {
        dp.write_table(off, &ids).unwrap();
    }
    dp.upsert_frontend(
        service_key(front.0, front.1, front.2),
        ServiceEntry {
            id: off + 7,
            table_off: off,
            table_size: if backends.is_empty() { 0 } else { size },
            flags,
            affinity_timeout: 0,
            pad: 0,
        },
    )
    .unwrap();
    dp.upsert_frontend(
        service_key(front.0, 0, 0),
        ServiceEntry {
            flags: SVC_F_ADDRESS,
            ..ServiceEntry::default()
        },
    )
    .unwrap();
}

#[test]
fn a_connection_to_a_vip_goes_to_a_local_backend_and_its_replies_come_back_from_the_vip() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080)],
        0,
        0,
    );
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT, "delivered into the backend pod");
    assert_eq!(tuple4(&out.packet), (CLIENT, POD1, 40000, 8080));
    assert_eq!(out.packet[34 + 20..], syn[34 + 20..], "payload untouched");
    let ct = dp.conntrack().unwrap();
    assert_eq!(ct.len(), 2, "{ct:?}");
    assert!(ct.iter().any(|(k, _)| k.dir == CT_DIR_FORWARD));
    assert!(ct.iter().any(|(k, _)| k.dir == CT_DIR_REPLY));
    // The pod answers: the source is the VIP again (then routed: the
    // namespace has no route, so the stack gets it).
    let synack = ipv4_tcp(POD1, CLIENT, 8080, 40000, 0x12);
    let out = dp.test_run(Hook::Pod, &synack, 0).unwrap();
    assert_eq!(out.verdict, NEXT);
    assert_eq!(tuple4(&out.packet), (VIP, CLIENT, 80, 40000));
    // Later packets of the connection use the entry.
    let ack = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x10);
    let out = dp.test_run(Hook::Uplink, &ack, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (CLIENT, POD1, 40000, 8080));
    assert_eq!(path(&dp, PathKind::ServiceForward), 2);
    assert_eq!(path(&dp, PathKind::ServiceReply), 1);
    // Packets that are not the service's are left alone.
    let other = ipv4_tcp(CLIENT, POD2, 40000, 80, 0x02);
    let out = dp.test_run(Hook::Uplink, &other, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (CLIENT, POD2, 40000, 80));
}

#[test]
fn the_same_flow_always_picks_the_same_backend_and_flows_spread() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080), (IpAddr::V4(POD2), 8080)],
        0,
        0,
    );
    let mut seen = std::collections::BTreeMap::new();
    for sport in 40000..40200u16 {
        let syn = ipv4_tcp(CLIENT, VIP, sport, 80, 0x02);
        let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
        let (_, dst, _, _) = tuple4(&out.packet);
        // The table slot is the flow hash modulo the size: the same on
        // every node.
        let h = flow_hash(
            &tern_ebpf::datapath::ip_key(IpAddr::V4(CLIENT)).addr,
            &tern_ebpf::datapath::ip_key(IpAddr::V4(VIP)).addr,
            sport,
            80,
            TCP,
        );
        let want = if (h % 31).is_multiple_of(2) {
            POD1
        } else {
            POD2
        };
        assert_eq!(dst, want, "sport {sport}");
        *seen.entry(dst).or_insert(0) += 1;
        // Again: conntrack gives the same backend.
        let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
        assert_eq!(tuple4(&out.packet).1, dst);
    }
    assert!(seen.values().all(|n| *n > 60), "{seen:?}");
}

#[test]
fn a_remote_backend_is_reached_with_snat_and_the_reply_is_translated_back_to_the_client() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(REMOTE), 8080)],
        0,
        0,
    );
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    let (src, dst, sport, dport) = tuple4(&out.packet);
    assert_eq!((src, dst, dport), (NODE, REMOTE, 8080));
    assert!(sport >= SNAT_PORT_MIN, "SNAT port {sport}");
    let ct = dp.conntrack().unwrap();
    assert!(ct.iter().all(|(_, e)| e.flags & CT_F_SNAT != 0), "{ct:?}");
    let reply = ipv4_tcp(REMOTE, NODE, 8080, sport, 0x12);
    let out = dp.test_run(Hook::Uplink, &reply, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (VIP, CLIENT, 80, 40000));
    // Policy local: no SNAT, the client's address is kept (here the only
    // backend is remote: it is in the table only if the node put it there).
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(REMOTE), 8080)],
        0,
        SVC_F_LOCAL,
    );
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (CLIENT, REMOTE, 40000, 8080));
    // A node without an address of the backend's family cannot SNAT.
    let mut dp = load();
    dp.set_config(&DatapathConfig::default()).unwrap();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(REMOTE), 8080)],
        0,
        0,
    );
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    assert_eq!(out.verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::NatFailed), 1);
}

#[test]
fn source_ranges_no_backend_unknown_ports_and_fragments_are_dropped_and_counted() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080)],
        0,
        SVC_F_SOURCE_RANGES,
    );
    dp.set_source_range(7, &"192.0.2.0/28".parse().unwrap(), true)
        .unwrap();
    let ok = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    assert_eq!(dp.test_run(Hook::Uplink, &ok, 0).unwrap().verdict, REDIRECT);
    let outside = ipv4_tcp(Ipv4Addr::new(192, 0, 2, 100), VIP, 40000, 80, 0x02);
    assert_eq!(
        dp.test_run(Hook::Uplink, &outside, 0).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::SourceRange), 1);
    // Another port of the VIP, and UDP to it: no such frontend.
    let port = ipv4_tcp(CLIENT, VIP, 40000, 443, 0x02);
    assert_eq!(dp.test_run(Hook::Uplink, &port, 0).unwrap().verdict, SHOT);
    let udp = ipv4_udp(CLIENT, VIP, 64, 10, false);
    assert_eq!(dp.test_run(Hook::Pod, &udp, 0).unwrap().verdict, SHOT);
    // A fragment carries no ports it could be balanced by.
    let mut frag = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    frag[20] |= 0x20; // more fragments
    frag[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&frag[14..34]);
    frag[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(dp.test_run(Hook::Uplink, &frag, 0).unwrap().verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::NoService), 3);
    // A TCP header cut short.
    let cut = &ok[..34 + 2];
    let mut cut = cut.to_vec();
    cut[16..18].copy_from_slice(&22u16.to_be_bytes());
    cut[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&cut[14..34]);
    cut[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(dp.test_run(Hook::Uplink, &cut, 0).unwrap().verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::Truncated), 1);
    // A service without backends.
    service(&mut dp, (IpAddr::V4(VIP), 81, TCP), &[], 100, 0);
    let none = ipv4_tcp(CLIENT, VIP, 40000, 81, 0x02);
    assert_eq!(dp.test_run(Hook::Uplink, &none, 0).unwrap().verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::NoBackend), 1);
}

#[test]
fn udp_keeps_a_zero_checksum_and_ipv6_is_translated_with_a_valid_checksum() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 5001, UDP),
        &[(IpAddr::V4(POD1), 5353)],
        0,
        0,
    );
    let udp = ipv4_udp(CLIENT, VIP, 64, 10, false);
    let out = dp.test_run(Hook::Uplink, &udp, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    assert_eq!(tuple4(&out.packet), (CLIENT, POD1, 40000, 5353));
    assert_eq!(out.packet[40..42], [0, 0], "UDP checksum 0 stays 0");
    // IPv6: UDP with a real checksum.
    service(
        &mut dp,
        (IpAddr::V6(VIP6), 5001, UDP),
        &[(IpAddr::V6(POD6), 5353)],
        100,
        0,
    );
    let mut pkt = ipv6_udp(CLIENT6, VIP6, 64, 10);
    let c = l4_csum(&pkt[14..54], &pkt[54..]);
    pkt[60..62].copy_from_slice(&c.to_be_bytes());
    let out = dp.test_run(Hook::Uplink, &pkt, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let f = &out.packet;
    assert_eq!(
        Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap()),
        POD6
    );
    assert_eq!(u16::from_be_bytes([f[56], f[57]]), 5353);
    assert_eq!(l4_csum(&f[14..54], &f[54..]), 0, "UDP checksum over IPv6");
}

#[test]
fn a_flow_whose_backend_goes_picks_another_and_expired_entries_are_collected() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080)],
        0,
        0,
    );
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    assert_eq!(tuple4(&out.packet).1, POD1);
    // The backend is replaced by another in slot 1 and the table.
    dp.set_backend(1, backend(IpAddr::V4(POD2), 8080)).unwrap();
    let ack = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x10);
    let out = dp.test_run(Hook::Uplink, &ack, 0).unwrap();
    assert_eq!(tuple4(&out.packet).1, POD2, "the old backend is gone");
    // Nothing expired yet; at +7 h everything has.
    let now = monotonic_ns();
    assert_eq!(dp.conntrack_gc(now).unwrap(), 0);
    let n = dp.conntrack().unwrap().len();
    assert!(n >= 2);
    assert_eq!(dp.conntrack_gc(now + 7 * 3600 * 1_000_000_000).unwrap(), n);
    assert!(dp.conntrack().unwrap().is_empty());
}

#[test]
fn a_pod_that_reaches_itself_through_a_service_gets_the_frontend_as_source() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080)],
        0,
        0,
    );
    let syn = ipv4_tcp(POD1, VIP, 40000, 80, 0x02);
    let out = dp.test_run(Hook::Pod, &syn, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let (src, dst, sport, dport) = tuple4(&out.packet);
    assert_eq!((src, dst, dport), (VIP, POD1, 8080));
    assert!(sport >= SNAT_PORT_MIN);
    let synack = ipv4_tcp(POD1, VIP, 8080, sport, 0x12);
    let out = dp.test_run(Hook::Pod, &synack, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT, "back into the pod");
    assert_eq!(tuple4(&out.packet), (VIP, POD1, 80, 40000));
}

#[test]
fn icmp_errors_about_a_translated_flow_are_translated_back() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(REMOTE), 8080)],
        0,
        0,
    );
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    let (_, _, sport, _) = tuple4(&out.packet);
    // A router on the way to the backend: fragmentation needed, to the node.
    let router = Ipv4Addr::new(192, 168, 9, 1);
    let err = icmp4_error(router, NODE, 3, 4, &out.packet);
    let out = dp.test_run(Hook::Uplink, &err, 0).unwrap();
    let f = &out.packet;
    assert_eq!(csum(&f[14..34]), 0, "outer header checksum");
    assert_eq!(
        Ipv4Addr::new(f[30], f[31], f[32], f[33]),
        CLIENT,
        "to the client"
    );
    assert_eq!(Ipv4Addr::new(f[26], f[27], f[28], f[29]), router);
    assert_eq!(csum(&f[34..]), 0, "ICMP checksum");
    let q = &f[42..];
    assert_eq!(csum(&q[..20]), 0, "quoted header checksum");
    assert_eq!(Ipv4Addr::new(q[12], q[13], q[14], q[15]), CLIENT);
    assert_eq!(Ipv4Addr::new(q[16], q[17], q[18], q[19]), VIP);
    assert_eq!(u16::from_be_bytes([q[20], q[21]]), 40000);
    assert_eq!(u16::from_be_bytes([q[22], q[23]]), 80);
    assert!(sport >= SNAT_PORT_MIN);
    // A local backend's own port unreachable (UDP): from the VIP.
    service(
        &mut dp,
        (IpAddr::V4(VIP), 5001, UDP),
        &[(IpAddr::V4(POD1), 5353)],
        100,
        0,
    );
    let udp = ipv4_udp(CLIENT, VIP, 64, 10, false);
    let fwd = dp.test_run(Hook::Uplink, &udp, 0).unwrap();
    let err = icmp4_error(POD1, CLIENT, 3, 3, &fwd.packet);
    let out = dp.test_run(Hook::Pod, &err, 0).unwrap();
    let f = &out.packet;
    assert_eq!(csum(&f[14..34]), 0);
    assert_eq!(
        Ipv4Addr::new(f[26], f[27], f[28], f[29]),
        VIP,
        "from the VIP"
    );
    assert_eq!(Ipv4Addr::new(f[30], f[31], f[32], f[33]), CLIENT);
    assert_eq!(csum(&f[34..]), 0, "ICMP checksum");
    let q = &f[42..];
    assert_eq!(Ipv4Addr::new(q[16], q[17], q[18], q[19]), VIP);
    assert_eq!(u16::from_be_bytes([q[22], q[23]]), 5001);
    // An error about no translated flow is left alone.
    let other = ipv4_tcp(CLIENT, POD2, 1234, 80, 0x02);
    let err = icmp4_error(router, CLIENT, 3, 1, &other);
    let out = dp.test_run(Hook::Uplink, &err, 0).unwrap();
    assert_eq!(out.packet, err);
}

#[test]
fn icmpv6_packet_too_big_about_a_translated_flow_is_translated_back() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V6(VIP6), 5001, UDP),
        &[(IpAddr::V6(POD6), 5353)],
        0,
        0,
    );
    let mut pkt = ipv6_udp(CLIENT6, VIP6, 64, 10);
    let c = l4_csum(&pkt[14..54], &pkt[54..]);
    pkt[60..62].copy_from_slice(&c.to_be_bytes());
    let fwd = dp.test_run(Hook::Uplink, &pkt, 0).unwrap();
    // A router on the way to the backend quotes the translated packet back
    // to the client (this node's pod path sees it: the backend is local).
    let router = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 1);
    let quoted = &fwd.packet[14..14 + 48];
    let mut icmp = vec![2u8, 0, 0, 0, 0, 0, 0x05, 0x00];
    icmp.extend_from_slice(quoted);
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 64]);
    f.extend_from_slice(&router.octets());
    f.extend_from_slice(&CLIENT6.octets());
    let c = l4_csum(&f[14..54], &icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend(icmp);
    let out = dp.test_run(Hook::Pod, &f, 0).unwrap();
    let g = &out.packet;
    assert_eq!(l4_csum(&g[14..54], &g[54..]), 0, "ICMPv6 checksum");
    let q = &g[62..];
    assert_eq!(
        Ipv6Addr::from(<[u8; 16]>::try_from(&q[24..40]).unwrap()),
        VIP6
    );
    assert_eq!(u16::from_be_bytes([q[42], q[43]]), 5001);
    assert_eq!(
        Ipv6Addr::from(<[u8; 16]>::try_from(&q[8..24]).unwrap()),
        CLIENT6
    );
}

#[test]
fn session_affinity_keeps_a_client_on_one_backend() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080), (IpAddr::V4(POD2), 8080)],
        0,
        tern_ebpf::services::SVC_F_AFFINITY,
    );
    // `service` sets no timeout: give it one.
    let key = service_key(IpAddr::V4(VIP), 80, TCP);
    let (_, mut entry) = dp
        .frontends()
        .unwrap()
        .into_iter()
        .find(|(k, _)| *k == key)
        .unwrap();
    entry.affinity_timeout = 600;
    dp.upsert_frontend(key, entry).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for sport in 40000..40050u16 {
        let syn = ipv4_tcp(CLIENT, VIP, sport, 80, 0x02);
        seen.insert(tuple4(&dp.test_run(Hook::Uplink, &syn, 0).unwrap().packet).1);
    }
    assert_eq!(seen.len(), 1, "one backend for the client: {seen:?}");
    // Another client may land elsewhere; without affinity, flows spread.
    entry.flags = 0;
    dp.upsert_frontend(key, entry).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for sport in 41000..41050u16 {
        let syn = ipv4_tcp(CLIENT, VIP, sport, 80, 0x02);
        seen.insert(tuple4(&dp.test_run(Hook::Uplink, &syn, 0).unwrap().packet).1);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn a_lost_reply_entry_is_written_again_by_the_next_forward_packet() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080)],
        0,
        0,
    );
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    // The reply entry goes (evicted, or collected), the forward one stays.
    let (reply, _) = dp
        .conntrack()
        .unwrap()
        .into_iter()
        .find(|(k, _)| k.dir == CT_DIR_REPLY)
        .unwrap();
    assert!(dp.remove_conntrack_entry(&reply).unwrap());
    let ack = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x10);
    dp.test_run(Hook::Uplink, &ack, 0).unwrap();
    assert!(
        dp.conntrack().unwrap().iter().any(|(k, _)| *k == reply),
        "written again"
    );
    let synack = ipv4_tcp(POD1, CLIENT, 8080, 40000, 0x12);
    let out = dp.test_run(Hook::Pod, &synack, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (VIP, CLIENT, 80, 40000));
}

#[test]
fn a_new_syn_on_a_closed_connection_tuple_picks_again() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(REMOTE), 8080)],
        0,
        0,
    );
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    assert_eq!(tuple4(&out.packet).0, NODE, "SNAT under policy cluster");
    // The connection closes (FIN), the service turns policy local with a
    // local backend; the same tuple opens again: a new pick, no SNAT.
    let fin = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x11);
    dp.test_run(Hook::Uplink, &fin, 0).unwrap();
    // (The old backend stays present: only the new SYN makes it pick again.)
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080)],
        100,
        SVC_F_LOCAL,
    );
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (CLIENT, POD1, 40000, 8080));
    // A SYN sent again on an open connection keeps its backend.
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (CLIENT, POD1, 40000, 8080));
}

#[test]
fn a_client_reset_closes_both_entries_of_a_service_connection() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[(IpAddr::V4(POD1), 8080)],
        0,
        0,
    );
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    let synack = ipv4_tcp(POD1, CLIENT, 8080, 40000, 0x12);
    dp.test_run(Hook::Pod, &synack, 0).unwrap();
    let rst = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x04);
    dp.test_run(Hook::Uplink, &rst, 0).unwrap();
    let now = assert_all_closing(&dp, 2);
    assert_eq!(dp.conntrack_gc(now + 11_000_000_000).unwrap(), 2);
    // A backend's reset closes the client's side too.
    dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    let rst = ipv4_tcp(POD1, CLIENT, 8080, 40000, 0x14);
    dp.test_run(Hook::Pod, &rst, 0).unwrap();
    let ct = dp.conntrack().unwrap();
    assert_eq!(ct.len(), 2, "{ct:?}");
    assert!(
        ct.iter().all(|(_, e)| e.state == CT_STATE_CLOSING),
        "{ct:?}"
    );
}
