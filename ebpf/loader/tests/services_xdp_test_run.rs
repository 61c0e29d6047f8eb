//! BPF_PROG_TEST_RUN tests of the uplink's XDP service fast path
//! (`tern_uplink_xdp`): a packet to a frontend with a backend on this node
//! is translated (addresses, ports, checksums, TTL, MACs) and redirected;
//! the backend is the one the TC path picks for the same tuple; conntrack
//! is shared with the TC path both ways; every case XDP leaves to TC comes
//! back as XDP_PASS with the frame and conntrack untouched; malformed and
//! truncated frames never crash nor get translated. Each test runs in a
//! private network namespace of its own thread. Needs root.
#![allow(clippy::unwrap_used)]
mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use tern_ebpf::{
    Datapath, DatapathConfig, Hook,
    datapath::{EP_FLAG_VETH_PEER, EndpointInfo, PathKind, ip_key},
    services::{
        BACKEND_F_PRESENT, Backend, CT_DIR_FORWARD, CT_DIR_REPLY, SVC_F_ADDRESS, SVC_F_AFFINITY,
        SVC_F_LOCAL, SVC_F_RANDOM, SVC_F_SOURCE_RANGES, ServiceEntry, service_key,
    },
};

const XDP_PASS: i32 = 2;
const XDP_REDIRECT: i32 = 4;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const POD1: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);
const POD2: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 6);
const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 244, 2, 7);
const NODE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 10);
const POD6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x244, 1, 0, 0, 0, 0, 5);
const POD6B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x244, 1, 0, 0, 0, 0, 6);

/// The pods of this node: (address, ifindex of its host veth).
const PODS: [(IpAddr, u32); 4] = [
    (IpAddr::V4(POD1), 40),
    (IpAddr::V4(POD2), 41),
    (IpAddr::V6(POD6), 42),
    (IpAddr::V6(POD6B), 43),
];

/// A datapath in the calling thread's namespace (made private by the
/// first call), services on, the pods above as endpoints.
fn load_in_ns(first: bool) -> Datapath {
    if first {
        private_netns();
    }
    let mut dp = Datapath::load(None).expect("load the datapath (root needed)");
    dp.set_config(&DatapathConfig::default().with_local_v4(Some(NODE)))
        .unwrap();
    dp.set_services_enabled(true).unwrap();
    for (i, (ip, ifindex)) in PODS.into_iter().enumerate() {
        dp.upsert_endpoint(
            ip,
            EndpointInfo {
                ifindex,
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

fn load() -> Datapath {
    load_in_ns(true)
}

/// One service: `backends` (ids off+1..) in a table of 31 at `off`, filled
/// round robin; an address marker for its frontend address.
fn service(
    dp: &mut Datapath,
    front: (IpAddr, u16, u8),
    backends: &[IpAddr],
    port: u16,
    off: u32,
    flags: u32,
) {
    let size = 31u32;
    for (i, a) in backends.iter().enumerate() {
        dp.set_backend(
            off + i as u32 + 1,
            Backend {
                addr: ip_key(*a).addr,
                port,
                pad: 0,
                flags: BACKEND_F_PRESENT,
            },
        )
        .unwrap();
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

fn two_pods() -> [IpAddr; 2] {
    [IpAddr::V4(POD1), IpAddr::V4(POD2)]
}

/// Ethernet + IPv4 + UDP from `sport` to `dport`, checksum computed (or 0).
fn ipv4_udp_to(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, with_csum: bool) -> Vec<u8> {
    let payload = b"hello, service";
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f.extend(ipv4_header(src, dst, UDP, 64, 28 + payload.len(), false));
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    if with_csum {
        let c = l4_csum(&f[14..34], &u);
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    f.extend(u);
    f
}

/// Ethernet + IPv6 + TCP or UDP, checksum computed.
fn ipv6_l4(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let payload = b"GET / HTTP/1.0\r\n\r\n";
    let mut l4 = if proto == TCP {
        let mut t = vec![0u8; 20];
        t[4..8].copy_from_slice(&1000u32.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&65535u16.to_be_bytes());
        t
    } else {
        let mut u = vec![0u8; 8];
        u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u
    };
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4.extend_from_slice(payload);
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    h.push(proto);
    h.push(64);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = l4_csum(&h, &l4);
    let at = if proto == TCP { 16 } else { 6 };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    f.extend(h);
    f.extend(l4);
    f
}

/// (src, dst, sport, dport) of an IPv6 TCP/UDP frame, after checking its
/// L4 checksum.
fn tuple6(f: &[u8]) -> (Ipv6Addr, Ipv6Addr, u16, u16) {
    assert_eq!(l4_csum(&f[14..54], &f[54..]), 0, "L4 checksum");
    let a = |o: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&f[o..o + 16]).unwrap());
    (
        a(22),
        a(38),
        u16::from_be_bytes([f[54], f[55]]),
        u16::from_be_bytes([f[56], f[57]]),
    )
}

/// The delivery to a pod as the XDP program leaves it: the pod's MACs,
/// TTL one less, checksums right (checked by `tuple4`).
fn assert_delivered_v4(input: &[u8], out: &[u8]) {
    assert_eq!(out[..6], POD_MAC, "destination MAC: the pod's");
    assert_eq!(out[6..12], HOST_MAC, "source MAC: the host veth's");
    assert_eq!(out[22], input[22] - 1, "TTL decremented");
    assert_eq!(out.len(), input.len());
}

#[test]
fn tcp_to_a_vip_with_a_local_backend_is_translated_and_redirected_in_xdp() {
    let mut dp = load();
    service(&mut dp, (IpAddr::V4(VIP), 80, TCP), &two_pods(), 8080, 0, 0);
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    let out = dp.test_run_xdp(&syn).unwrap();
    assert_eq!(out.verdict, XDP_REDIRECT);
    let (src, dst, sport, dport) = tuple4(&out.packet);
    assert_eq!((src, sport, dport), (CLIENT, 40000, 8080));
    assert!(dst == POD1 || dst == POD2, "{dst}");
    assert_delivered_v4(&syn, &out.packet);
    assert_eq!(out.packet[54..], syn[54..], "payload untouched");
    let ct = dp.conntrack().unwrap();
    assert_eq!(ct.len(), 2, "{ct:?}");
    assert!(ct.iter().any(|(k, _)| k.dir == CT_DIR_FORWARD));
    assert!(ct.iter().any(|(k, _)| k.dir == CT_DIR_REPLY));
    assert_eq!(path(&dp, PathKind::ServiceXdp), 1);
    assert_eq!(path(&dp, PathKind::ServiceForward), 0, "TC never saw it");
    // The pod's answer leaves through its veth: TC translates it back from
    // the reply entry XDP wrote.
    let synack = ipv4_tcp(dst, CLIENT, 8080, 40000, 0x12);
    let out = dp.test_run(Hook::Pod, &synack, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (VIP, CLIENT, 80, 40000));
    assert_eq!(path(&dp, PathKind::ServiceReply), 1);
    // The next packet of the connection: the same backend, in XDP again.
    let ack = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x10);
    let out = dp.test_run_xdp(&ack).unwrap();
    assert_eq!(out.verdict, XDP_REDIRECT);
    assert_eq!(tuple4(&out.packet).1, dst);
    assert_eq!(path(&dp, PathKind::ServiceXdp), 2);
}

#[test]
fn xdp_picks_the_backend_the_tc_path_picks_for_the_same_tuple() {
    let mut xdp = load_in_ns(true);
    let mut tc = load_in_ns(false);
    for dp in [&mut xdp, &mut tc] {
        service(dp, (IpAddr::V4(VIP), 80, TCP), &two_pods(), 8080, 0, 0);
        service(dp, (IpAddr::V4(VIP), 53, UDP), &two_pods(), 5353, 40, 0);
    }
    let mut seen = std::collections::BTreeMap::new();
    for sport in 40000..40100u16 {
        for (proto, port) in [(TCP, 80), (UDP, 53)] {
            let f = if proto == TCP {
                ipv4_tcp(CLIENT, VIP, sport, port, 0x02)
            } else {
                ipv4_udp_to(CLIENT, VIP, sport, port, true)
            };
            let x = dp_run_xdp(&xdp, &f);
            let t = tc.test_run(Hook::Uplink, &f, 0).unwrap();
            assert_eq!(t.verdict, REDIRECT);
            assert_eq!(tuple4(&x), tuple4(&t.packet), "sport {sport} proto {proto}");
            *seen.entry(tuple4(&x).1).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 2, "both backends used: {seen:?}");
    // The same conntrack in both.
    let mut a: Vec<_> = xdp
        .conntrack()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut b: Vec<_> = tc
        .conntrack()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    a.sort_by_key(|k| (k.src, k.dst, k.sport, k.dport, k.proto, k.dir));
    b.sort_by_key(|k| (k.src, k.dst, k.sport, k.dport, k.proto, k.dir));
    assert_eq!(a, b);
    assert_eq!(path(&xdp, PathKind::ServiceXdp), 200);
}

fn dp_run_xdp(dp: &Datapath, f: &[u8]) -> Vec<u8> {
    let out = dp.test_run_xdp(f).unwrap();
    assert_eq!(out.verdict, XDP_REDIRECT);
    assert_delivered_v4(f, &out.packet);
    out.packet
}

#[test]
fn udp_keeps_a_zero_ipv4_checksum_and_fixes_a_present_one() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 53, UDP),
        &[IpAddr::V4(POD1)],
        5353,
        0,
        0,
    );
    let f = ipv4_udp_to(CLIENT, VIP, 41000, 53, true);
    let out = dp_run_xdp(&dp, &f);
    assert_eq!(tuple4(&out), (CLIENT, POD1, 41000, 5353));
    assert_ne!(out[40..42], [0, 0]);
    let f = ipv4_udp_to(CLIENT, VIP, 41001, 53, false);
    let out = dp_run_xdp(&dp, &f);
    assert_eq!(tuple4(&out), (CLIENT, POD1, 41001, 5353));
    assert_eq!(out[40..42], [0, 0], "no checksum stays no checksum");
}

#[test]
fn ipv6_tcp_and_udp_are_translated_with_checksums() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V6(VIP6), 80, TCP),
        &[IpAddr::V6(POD6), IpAddr::V6(POD6B)],
        8080,
        0,
        0,
    );
    service(
        &mut dp,
        (IpAddr::V6(VIP6), 53, UDP),
        &[IpAddr::V6(POD6)],
        5353,
        40,
        0,
    );
    let mut tc = load_in_ns(false);
    service(
        &mut tc,
        (IpAddr::V6(VIP6), 80, TCP),
        &[IpAddr::V6(POD6), IpAddr::V6(POD6B)],
        8080,
        0,
        0,
    );
    for sport in 40000..40020u16 {
        let f = ipv6_l4(CLIENT6, VIP6, TCP, sport, 80, 0x02);
        let out = dp.test_run_xdp(&f).unwrap();
        assert_eq!(out.verdict, XDP_REDIRECT);
        let (src, dst, sp, dp_) = tuple6(&out.packet);
        assert_eq!((src, sp, dp_), (CLIENT6, sport, 8080));
        let t = tc.test_run(Hook::Uplink, &f, 0).unwrap();
        assert_eq!(tuple6(&t.packet).1, dst, "the TC path's pick");
        assert_eq!(out.packet[21], 63, "hop limit decremented");
        assert_eq!(out.packet[..6], POD_MAC);
    }
    let f = ipv6_l4(CLIENT6, VIP6, UDP, 42000, 53, 0);
    let out = dp.test_run_xdp(&f).unwrap();
    assert_eq!(out.verdict, XDP_REDIRECT);
    assert_eq!(tuple6(&out.packet), (CLIENT6, POD6, 42000, 5353));
    // The reply through the pod's veth comes back from the VIP.
    let reply = ipv6_l4(POD6, CLIENT6, UDP, 5353, 42000, 0);
    let out = dp.test_run(Hook::Pod, &reply, 0).unwrap();
    assert_eq!(tuple6(&out.packet), (VIP6, CLIENT6, 53, 42000));
}

#[test]
fn an_existing_connection_keeps_its_backend_across_the_two_paths() {
    let mut dp = load();
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[IpAddr::V4(POD1)],
        8080,
        0,
        0,
    );
    // Begun on the TC path (XDP not attached yet, say).
    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    let out = dp.test_run(Hook::Uplink, &syn, 0).unwrap();
    assert_eq!(tuple4(&out.packet).1, POD1);
    // Begun in XDP.
    let syn2 = ipv4_tcp(CLIENT, VIP, 40001, 80, 0x02);
    assert_eq!(tuple4(&dp_run_xdp(&dp, &syn2)).1, POD1);
    // The service's table now holds POD2 only (POD1 still exists).
    service(
        &mut dp,
        (IpAddr::V4(VIP), 80, TCP),
        &[IpAddr::V4(POD2)],
        8080,
        40,
        0,
    );
    dp.set_backend(
        1,
        Backend {
            addr: ip_key(IpAddr::V4(POD1)).addr,
            port: 8080,
            pad: 0,
            flags: BACKEND_F_PRESENT,
        },
    )
    .unwrap();
    let ack = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x10);
    assert_eq!(
        tuple4(&dp_run_xdp(&dp, &ack)).1,
        POD1,
        "TC's entry honoured in XDP"
    );
    let ack2 = ipv4_tcp(CLIENT, VIP, 40001, 80, 0x10);
    let out = dp.test_run(Hook::Uplink, &ack2, 0).unwrap();
    assert_eq!(tuple4(&out.packet).1, POD1, "XDP's entry honoured in TC");
    // A new connection takes the new table.
    let syn3 = ipv4_tcp(CLIENT, VIP, 40002, 80, 0x02);
    assert_eq!(tuple4(&dp_run_xdp(&dp, &syn3)).1, POD2);
}

/// Runs `f` through XDP and asserts it passes unchanged and conntrack did
/// not change.
fn assert_passes(dp: &Datapath, f: &[u8], what: &str) {
    let before = dp.conntrack().unwrap().len();
    let out = dp.test_run_xdp(f).unwrap();
    assert_eq!(out.verdict, XDP_PASS, "{what}");
    assert_eq!(out.packet, f, "{what}: frame untouched");
    assert_eq!(
        dp.conntrack().unwrap().len(),
        before,
        "{what}: conntrack untouched"
    );
}

#[test]
fn everything_but_a_local_backend_passes_to_tc_untouched() {
    let mut dp = load();
    service(&mut dp, (IpAddr::V4(VIP), 80, TCP), &two_pods(), 8080, 0, 0);
    let remote_vip = Ipv4Addr::new(198, 51, 100, 20);
    service(
        &mut dp,
        (IpAddr::V4(remote_vip), 80, TCP),
        &[IpAddr::V4(REMOTE)],
        8080,
        40,
        0,
    );
    let local_policy_vip = Ipv4Addr::new(198, 51, 100, 21);
    service(
        &mut dp,
        (IpAddr::V4(local_policy_vip), 80, TCP),
        &[IpAddr::V4(REMOTE)],
        8080,
        80,
        SVC_F_LOCAL,
    );
    let ranged = Ipv4Addr::new(198, 51, 100, 30);
    service(
        &mut dp,
        (IpAddr::V4(ranged), 80, TCP),
        &two_pods(),
        8080,
        120,
        SVC_F_SOURCE_RANGES,
    );
    let affinity = Ipv4Addr::new(198, 51, 100, 31);
    service(
        &mut dp,
        (IpAddr::V4(affinity), 80, TCP),
        &two_pods(),
        8080,
        160,
        SVC_F_AFFINITY,
    );
    let random = Ipv4Addr::new(198, 51, 100, 32);
    service(
        &mut dp,
        (IpAddr::V4(random), 80, TCP),
        &two_pods(),
        8080,
        200,
        SVC_F_RANDOM,
    );
    let empty = Ipv4Addr::new(198, 51, 100, 33);
    service(&mut dp, (IpAddr::V4(empty), 80, TCP), &[], 8080, 240, 0);

    assert_passes(&dp, &ipv4_tcp(CLIENT, POD1, 40000, 80, 0x02), "not a VIP");
    assert_passes(
        &dp,
        &ipv4_tcp(CLIENT, VIP, 40000, 81, 0x02),
        "a VIP's unknown port",
    );
    assert_passes(
        &dp,
        &ipv4_udp_to(CLIENT, VIP, 40000, 80, true),
        "a VIP's port, other protocol",
    );
    assert_passes(
        &dp,
        &ipv4_tcp(CLIENT, remote_vip, 40000, 80, 0x02),
        "remote backend (SNAT)",
    );
    assert_passes(
        &dp,
        &ipv4_tcp(CLIENT, local_policy_vip, 40000, 80, 0x02),
        "remote backend, policy local",
    );
    assert_passes(
        &dp,
        &ipv4_tcp(CLIENT, ranged, 40000, 80, 0x02),
        "source ranges: TC checks them",
    );
    assert_passes(
        &dp,
        &ipv4_tcp(CLIENT, affinity, 40000, 80, 0x02),
        "client affinity",
    );
    assert_passes(
        &dp,
        &ipv4_tcp(CLIENT, random, 40000, 80, 0x02),
        "random algorithm",
    );
    assert_passes(
        &dp,
        &ipv4_tcp(CLIENT, empty, 40000, 80, 0x02),
        "no backend: TC drops it",
    );
    let hairpin = Ipv4Addr::new(198, 51, 100, 34);
    service(
        &mut dp,
        (IpAddr::V4(hairpin), 80, TCP),
        &[IpAddr::V4(POD1)],
        8080,
        360,
        0,
    );
    assert_passes(
        &dp,
        &ipv4_tcp(POD1, hairpin, 40000, 80, 0x02),
        "hairpin: the client is the backend",
    );

    let syn = ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02);
    // A fragment (first, with MF; and a later one).
    for frag in [[0x20u8, 0x00], [0x00, 0x10]] {
        let mut f = syn.clone();
        f[20..22].copy_from_slice(&frag);
        fix_ip_csum(&mut f);
        assert_passes(&dp, &f, "fragment");
    }
    // TTL 1: the stack answers time exceeded.
    let mut f = syn.clone();
    f[22] = 1;
    fix_ip_csum(&mut f);
    assert_passes(&dp, &f, "TTL 1");
    // IPv4 options (IHL 6, a NOP option word).
    let mut f = syn[..34].to_vec();
    f.extend_from_slice(&[1, 1, 1, 1]);
    f.extend_from_slice(&syn[34..]);
    f[14] = 0x46;
    let tot = u16::from_be_bytes([f[16], f[17]]) + 4;
    f[16..18].copy_from_slice(&tot.to_be_bytes());
    fix_ip_csum(&mut f);
    assert_passes(&dp, &f, "IPv4 options");
    // ICMP to the VIP (echo request).
    let mut f = syn.clone();
    f[23] = 1;
    fix_ip_csum(&mut f);
    assert_passes(&dp, &f, "ICMP");
    // An ICMP error quoting a connection.
    let e = icmp4_error(NODE, CLIENT, 3, 4, &syn);
    assert_passes(&dp, &e, "ICMP error");
    // A VLAN tag.
    let mut f = syn[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00, 0, 10]);
    f.extend_from_slice(&syn[12..]);
    assert_passes(&dp, &f, "802.1Q");
    // Not IP.
    let mut f = syn.clone();
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_passes(&dp, &f, "ARP");
    // IPv6 with an extension header (hop-by-hop) before TCP.
    service(
        &mut dp,
        (IpAddr::V6(VIP6), 80, TCP),
        &[IpAddr::V6(POD6)],
        8080,
        280,
        0,
    );
    let s6 = ipv6_l4(CLIENT6, VIP6, TCP, 40000, 80, 0x02);
    let mut f = s6[..54].to_vec();
    f[20] = 0; // next header: hop-by-hop
    f.extend_from_slice(&[TCP, 0, 1, 4, 0, 0, 0, 0]);
    f.extend_from_slice(&s6[54..]);
    let plen = u16::from_be_bytes([f[18], f[19]]) + 8;
    f[18..20].copy_from_slice(&plen.to_be_bytes());
    assert_passes(&dp, &f, "IPv6 extension header");
    // IPv6 UDP without a checksum (invalid).
    service(
        &mut dp,
        (IpAddr::V6(VIP6), 53, UDP),
        &[IpAddr::V6(POD6)],
        5353,
        320,
        0,
    );
    let mut f = ipv6_l4(CLIENT6, VIP6, UDP, 40000, 53, 0);
    f[60..62].copy_from_slice(&[0, 0]);
    assert_passes(&dp, &f, "IPv6 UDP checksum 0");
    // Services off.
    dp.set_services_enabled(false).unwrap();
    assert_passes(&dp, &syn, "services off");
    assert_eq!(path(&dp, PathKind::ServiceXdp), 0);
    // None of these reached TC here, and XDP drops nothing.
}

fn fix_ip_csum(f: &mut [u8]) {
    let ihl = usize::from(f[14] & 0x0f) * 4;
    f[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&f[14..14 + ihl]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn truncated_and_corrupted_frames_pass_or_are_translated_whole() {
    let mut dp = load();
    service(&mut dp, (IpAddr::V4(VIP), 80, TCP), &two_pods(), 8080, 0, 0);
    service(
        &mut dp,
        (IpAddr::V6(VIP6), 80, TCP),
        &[IpAddr::V6(POD6)],
        8080,
        40,
        0,
    );
    let frames = [
        ipv4_tcp(CLIENT, VIP, 40000, 80, 0x02),
        ipv6_l4(CLIENT6, VIP6, TCP, 40000, 80, 0x02),
    ];
    for full in &frames {
        // Every truncation shorter than the headers passes untouched (the
        // kernel refuses test frames under 14 bytes).
        let headers = if full[12] == 0x08 {
            14 + 20 + 20
        } else {
            14 + 40 + 20
        };
        for len in 14..full.len() {
            let f = &full[..len];
            let out = dp.test_run_xdp(f).unwrap();
            if len < headers {
                assert_eq!(out.verdict, XDP_PASS, "cut at {len}");
                assert_eq!(out.packet, f);
            } else {
                // The headers are there but the IP length says more: pass.
                assert_eq!(
                    out.verdict, XDP_PASS,
                    "cut at {len}: shorter than its IP length"
                );
            }
        }
    }
    // Every single-byte corruption of the headers: never anything but
    // PASS (untouched) or REDIRECT of a frame of the same length.
    let mut redirected = 0;
    for full in &frames {
        for i in 12..full.len().min(80) {
            for v in [0x00u8, 0xff, full[i] ^ 0x01, full[i] ^ 0x80] {
                let mut f = full.clone();
                f[i] = v;
                let out = dp.test_run_xdp(&f).unwrap();
                match out.verdict {
                    XDP_PASS => assert_eq!(out.packet, f, "byte {i} = {v:#x}"),
                    XDP_REDIRECT => {
                        assert_eq!(out.packet.len(), f.len());
                        assert_eq!(out.packet[..6], POD_MAC);
                        redirected += 1;
                    }
                    other => panic!("byte {i} = {v:#x}: verdict {other}"),
                }
            }
        }
    }
    assert!(redirected > 0, "payload and port changes still translate");
}
