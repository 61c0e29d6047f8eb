//! BPF_PROG_TEST_RUN tests of the pod datapath: a packet in; the verdict,
//! the packet, the redirect target and the counters out. Each test runs in
//! a private network namespace of its own thread (FIB lookups see only what
//! the test set up there). Needs root; without it the tests fail.
// Test helpers unwrap too (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]
mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use common::*;
use tern_ebpf::{
    Datapath, DatapathConfig, Hook,
    datapath::{
        CFG_FLAG_TRACE, DropReason, EP_FLAG_VETH_PEER, EndpointInfo, IpKey, Mode, PathKind,
        REDIRECT_EGRESS, REDIRECT_NEIGH, REDIRECT_PEER,
    },
};

const A4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const B4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 3);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 2);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 3);
const B_POD_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xb0, 0x01];
const B_HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xb0, 0x02];
const B_IFINDEX: u32 = 42;

fn load() -> Datapath {
    private_netns();
    Datapath::load(None).expect("load the datapath (root needed)")
}

/// Pod A sends from loopback (where BPF_PROG_TEST_RUN puts packets), pod B
/// sits behind ifindex 42.
fn add_pods(dp: &mut Datapath) {
    for (ip, id, ifindex, pod_mac, host_mac) in [
        (IpAddr::V4(A4), 1, 1, POD_MAC, HOST_MAC),
        (IpAddr::V6(A6), 1, 1, POD_MAC, HOST_MAC),
        (IpAddr::V4(B4), 2, B_IFINDEX, B_POD_MAC, B_HOST_MAC),
        (IpAddr::V6(B6), 2, B_IFINDEX, B_POD_MAC, B_HOST_MAC),
    ] {
        dp.upsert_endpoint(
            ip,
            EndpointInfo {
                ifindex,
                id,
                pod_mac,
                host_mac,
                flags: EP_FLAG_VETH_PEER,
            },
        )
        .unwrap();
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn total_drops(dp: &Datapath) -> u64 {
    dp.drop_counters().unwrap().iter().map(|(_, n)| n).sum()
}

#[test]
fn same_node_ipv4_and_ipv6_are_redirected_to_the_peer_with_ttl_and_macs_rewritten() {
    let mut dp = load();
    dp.set_trace(true).unwrap(); // the redirect targets are checked
    add_pods(&mut dp);
    // IPv4
    let pkt = ipv4_udp(A4, B4, 64, 100, false);
    dp.clear_trace().unwrap();
    let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let t = dp
        .last_redirect()
        .unwrap()
        .expect("a redirect was recorded");
    assert_eq!((t.kind, t.ifindex), (REDIRECT_PEER, B_IFINDEX));
    let mut want = pkt.clone();
    want[0..6].copy_from_slice(&B_POD_MAC);
    want[6..12].copy_from_slice(&B_HOST_MAC);
    want[22] = 63;
    want[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&want[14..34]);
    want[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(out.packet, want, "MACs, TTL and header checksum");
    assert_eq!(csum(&out.packet[14..34]), 0, "valid IPv4 header checksum");
    // IPv6
    let pkt = ipv6_udp(A6, B6, 64, 100);
    dp.clear_trace().unwrap();
    let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let t = dp.last_redirect().unwrap().unwrap();
    assert_eq!((t.kind, t.ifindex), (REDIRECT_PEER, B_IFINDEX));
    let mut want = pkt.clone();
    want[0..6].copy_from_slice(&B_POD_MAC);
    want[6..12].copy_from_slice(&B_HOST_MAC);
    want[21] = 63;
    assert_eq!(out.packet, want);
    // An endpoint that is not a veth peer gets the packet on its device's egress.
    let c4 = Ipv4Addr::new(10, 1, 0, 4);
    dp.upsert_endpoint(
        IpAddr::V4(c4),
        EndpointInfo {
            ifindex: 44,
            id: 4,
            pod_mac: B_POD_MAC,
            host_mac: B_HOST_MAC,
            flags: 0,
        },
    )
    .unwrap();
    dp.clear_trace().unwrap();
    let out = dp
        .test_run(Hook::Pod, &ipv4_udp(A4, c4, 64, 10, false), 0)
        .unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let t = dp.last_redirect().unwrap().unwrap();
    assert_eq!((t.kind, t.ifindex), (REDIRECT_EGRESS, 44));
    dp.remove_endpoint(IpAddr::V4(c4)).unwrap();
    // Counters: A sent three, B got two; three local deliveries, nothing dropped.
    let a = dp.endpoint_counters(1).unwrap();
    let b = dp.endpoint_counters(2).unwrap();
    assert_eq!(a.from_pod_packets, 3);
    assert_eq!(a.from_pod_bytes, (14 + 128 + 14 + 148 + 14 + 38) as u64);
    assert_eq!(b.to_pod_packets, 2);
    assert_eq!(path(&dp, PathKind::Local), 3);
    assert_eq!(total_drops(&dp), 0);
}

#[test]
fn the_redirect_trace_is_written_only_while_enabled() {
    let mut dp = load();
    add_pods(&mut dp);
    let pkt = ipv4_udp(A4, B4, 64, 100, false);
    // Production default: redirects are not recorded.
    dp.clear_trace().unwrap();
    assert_eq!(dp.test_run(Hook::Pod, &pkt, 0).unwrap().verdict, REDIRECT);
    assert_eq!(dp.last_redirect().unwrap(), None, "trace off after load");
    // Enabled, it survives a settings change; disabled again, nothing more.
    dp.set_trace(true).unwrap();
    dp.set_config(&DatapathConfig {
        vni: 7,
        ..DatapathConfig::default()
    })
    .unwrap();
    assert_eq!(dp.test_run(Hook::Pod, &pkt, 0).unwrap().verdict, REDIRECT);
    let t = dp.last_redirect().unwrap().expect("trace on");
    assert_eq!((t.kind, t.ifindex), (REDIRECT_PEER, B_IFINDEX));
    assert_eq!(dp.config().unwrap().vni, 7);
    dp.set_trace(false).unwrap();
    dp.clear_trace().unwrap();
    assert_eq!(dp.test_run(Hook::Pod, &pkt, 0).unwrap().verdict, REDIRECT);
    assert_eq!(dp.last_redirect().unwrap(), None, "trace off again");
    // The flags are the datapath's: a config carrying one does not set it.
    dp.set_config(&DatapathConfig {
        flags: CFG_FLAG_TRACE,
        ..DatapathConfig::default()
    })
    .unwrap();
    assert_eq!(dp.config().unwrap().flags, 0);
    assert_eq!(dp.test_run(Hook::Pod, &pkt, 0).unwrap().verdict, REDIRECT);
    assert_eq!(
        dp.last_redirect().unwrap(),
        None,
        "flags of a config ignored"
    );
    assert_eq!(path(&dp, PathKind::Local), 4);
}

#[test]
fn expiring_ttl_link_local_multicast_and_non_ip_go_to_the_stack_unchanged() {
    let mut dp = load();
    add_pods(&mut dp);
    let cases = [
        ipv4_udp(A4, B4, 1, 20, false),
        ipv6_udp(A6, B6, 1, 20),
        ipv4_udp(A4, Ipv4Addr::new(224, 0, 0, 5), 64, 20, false),
        ipv6_udp(A6, "fe80::1".parse().unwrap(), 64, 20),
        ipv6_udp(A6, "ff02::1".parse().unwrap(), 64, 20),
        {
            let mut arp = vec![0u8; 42];
            arp[12..14].copy_from_slice(&[0x08, 0x06]);
            arp
        },
    ];
    for pkt in &cases {
        let out = dp.test_run(Hook::Pod, pkt, 0).unwrap();
        assert_eq!(out.verdict, NEXT);
        assert_eq!(&out.packet, pkt, "the stack must get the packet untouched");
    }
    assert_eq!(path(&dp, PathKind::Stack), cases.len() as u64);
    assert_eq!(dp.endpoint_counters(2).unwrap().to_pod_packets, 0);
    assert_eq!(total_drops(&dp), 0);
}

#[test]
fn native_mode_forwards_with_fib_lookup_and_redirect_neigh_or_falls_back_to_the_stack() {
    let mut dp = load();
    dp.set_trace(true).unwrap(); // the redirect targets are checked
    add_pods(&mut dp);
    // No route, forwarding off: the FIB cannot forward -> the stack.
    let pkt = ipv4_udp(A4, Ipv4Addr::new(198, 51, 100, 7), 64, 50, true);
    let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
    assert_eq!(out.verdict, NEXT);
    assert_eq!(out.packet, pkt);
    assert_eq!(path(&dp, PathKind::Stack), 1);

    // An "uplink" with a gateway: the FIB forwards, the program redirects.
    sh(
        "ip link add tdpup type veth peer name tdpgw && ip link add tdplxc type veth peer name tdppod \
        && ip link set tdpup up && ip link set tdpgw up && ip link set tdplxc up && ip link set tdppod up \
        && ip addr add 10.9.0.1/24 dev tdpup && ip -6 addr add fd00:9::1/64 dev tdpup nodad \
        && ip route add 198.51.100.0/24 via 10.9.0.2 && ip -6 route add fd00:5::/64 via fd00:9::2 \
        && sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1",
    );
    let up = ifindex("tdpup");
    let lxc = ifindex("tdplxc");
    dp.clear_trace().unwrap();
    let out = dp.test_run(Hook::Pod, &pkt, lxc).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let t = dp.last_redirect().unwrap().unwrap();
    assert_eq!(
        (t.kind, t.ifindex, t.nexthop_family),
        (REDIRECT_NEIGH, up, 4)
    );
    assert_eq!(
        t.nexthop,
        IpKey::v4([10, 9, 0, 2]).addr,
        "next hop is the gateway"
    );
    assert_eq!(out.packet[22], 63, "TTL decremented");
    assert_eq!(csum(&out.packet[14..34]), 0);
    assert_eq!(path(&dp, PathKind::Native), 1);

    let pkt6 = ipv6_udp(A6, "fd00:5::7".parse().unwrap(), 64, 50);
    dp.clear_trace().unwrap();
    let out = dp.test_run(Hook::Pod, &pkt6, lxc).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let t = dp.last_redirect().unwrap().unwrap();
    assert_eq!(
        (t.kind, t.ifindex, t.nexthop_family),
        (REDIRECT_NEIGH, up, 6)
    );
    assert_eq!(t.nexthop, "fd00:9::2".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(out.packet[21], 63);

    // Too big for the uplink with DF: answered with ICMP fragmentation
    // needed, sent back out of the pod's veth.
    sh("ip link set tdpup mtu 1280");
    let big = ipv4_udp(A4, Ipv4Addr::new(198, 51, 100, 7), 64, 1400, true);
    dp.clear_trace().unwrap();
    let out = dp.test_run(Hook::Pod, &big, lxc).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let t = dp.last_redirect().unwrap().unwrap();
    assert_eq!((t.kind, t.ifindex), (REDIRECT_EGRESS, lxc));
    let p = &out.packet;
    assert_eq!(p.len(), 14 + 20 + 8 + 28);
    assert_eq!(&p[0..6], &POD_MAC, "back to the pod");
    assert_eq!(&p[6..12], &HOST_MAC);
    assert_eq!(csum(&p[14..34]), 0, "IPv4 header checksum");
    assert_eq!(
        (p[23], &p[30..34]),
        (1, &A4.octets()[..]),
        "ICMP to the sender"
    );
    assert_eq!((p[34], p[35]), (3, 4), "type 3 code 4");
    assert_eq!(u16::from_be_bytes([p[40], p[41]]), 1280, "next-hop MTU");
    assert_eq!(csum(&p[34..]), 0, "ICMP checksum");
    assert_eq!(&p[42..70], &big[14..42], "quotes the IP header and 8 bytes");
    // Without DF the stack fragments.
    let big_nodf = ipv4_udp(A4, Ipv4Addr::new(198, 51, 100, 7), 64, 1400, false);
    assert_eq!(
        dp.test_run(Hook::Pod, &big_nodf, lxc).unwrap().verdict,
        NEXT
    );
    // IPv6: packet too big.
    let big6 = ipv6_udp(A6, "fd00:5::7".parse().unwrap(), 64, 1400);
    let out = dp.test_run(Hook::Pod, &big6, lxc).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let p = &out.packet;
    assert_eq!(p.len(), 14 + 40 + 8 + 48);
    assert_eq!(p[20], 58);
    assert_eq!(&p[38..54], &A6.octets());
    assert_eq!((p[54], p[55]), (2, 0), "packet too big");
    assert_eq!(u32::from_be_bytes([p[58], p[59], p[60], p[61]]), 1280);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&p[22..54]);
    pseudo.extend_from_slice(&56u32.to_be_bytes());
    pseudo.extend_from_slice(&58u32.to_be_bytes());
    pseudo.extend_from_slice(&p[54..]);
    assert_eq!(csum(&pseudo), 0, "ICMPv6 checksum");
    assert_eq!(path(&dp, PathKind::IcmpTooBig), 2);
    assert_eq!(total_drops(&dp), 0);
}

fn tunnel_settings(mode: Mode, up: u32) -> DatapathConfig {
    DatapathConfig {
        vni: 0x123456,
        vxlan_ifindex: 77,
        uplink_ifindex: up,
        uplink_mtu: 1500,
        ..DatapathConfig::new(mode)
    }
    .with_local_v4(Some(Ipv4Addr::new(10, 0, 0, 1)))
    .with_local_v6(Some("fd00::1".parse().unwrap()))
}

#[test]
fn vxlan_mode_sets_the_tunnel_key_and_redirects_to_the_vxlan_device() {
    let mut dp = load();
    dp.set_trace(true).unwrap(); // the redirect targets are checked
    add_pods(&mut dp);
    dp.set_config(&tunnel_settings(Mode::Vxlan, 0)).unwrap();
    let diff = dp
        .replace_tunnel_routes(&[
            ("10.2.0.0/16".parse().unwrap(), "10.0.0.2".parse().unwrap()),
            ("fd00:2::/64".parse().unwrap(), "10.0.0.2".parse().unwrap()),
            ("10.3.0.0/16".parse().unwrap(), "fd00::3".parse().unwrap()),
        ])
        .unwrap();
    assert_eq!(diff.added, 3);
    for (pkt, remote, family) in [
        (
            ipv4_udp(A4, Ipv4Addr::new(10, 2, 3, 4), 64, 80, true),
            IpKey::v4([10, 0, 0, 2]),
            4,
        ),
        (
            ipv6_udp(A6, "fd00:2::9".parse().unwrap(), 64, 80),
            IpKey::v4([10, 0, 0, 2]),
            4,
        ),
        (
            ipv4_udp(A4, Ipv4Addr::new(10, 3, 0, 1), 64, 80, true),
            IpKey::v6("fd00::3".parse::<Ipv6Addr>().unwrap().octets()),
            6,
        ),
    ] {
        dp.clear_trace().unwrap();
        let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
        assert_eq!(out.verdict, REDIRECT);
        let t = dp.last_redirect().unwrap().unwrap();
        assert_eq!(
            (t.kind, t.ifindex),
            (REDIRECT_EGRESS, 77),
            "into the VXLAN device"
        );
        assert_eq!((t.tunnel_id, t.tunnel_family), (0x123456, family));
        assert_eq!(t.tunnel_remote, remote.addr);
        assert_eq!(
            out.packet.len(),
            pkt.len(),
            "the device encapsulates, not the program"
        );
    }
    assert_eq!(path(&dp, PathKind::VxlanEncap), 3);
    // Too big with DF: ICMP (1450 = 1500 - 50); without DF: dropped, counted.
    let big = ipv4_udp(A4, Ipv4Addr::new(10, 2, 3, 4), 64, 1460, true);
    let out = dp.test_run(Hook::Pod, &big, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    assert_eq!(u16::from_be_bytes([out.packet[40], out.packet[41]]), 1450);
    let big = ipv4_udp(A4, Ipv4Addr::new(10, 2, 3, 4), 64, 1460, false);
    assert_eq!(dp.test_run(Hook::Pod, &big, 0).unwrap().verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::MtuExceeded), 1);
    // A route change and a removal are minimal diffs.
    let diff = dp
        .replace_tunnel_routes(&[("10.2.0.0/16".parse().unwrap(), "10.0.0.9".parse().unwrap())])
        .unwrap();
    assert_eq!((diff.added, diff.changed, diff.removed), (0, 1, 2));
    assert_eq!(
        dp.tunnel_routes().unwrap(),
        vec![("10.2.0.0/16".parse().unwrap(), "10.0.0.9".parse().unwrap())]
    );
    // The VXLAN device's program refuses packets without tunnel metadata.
    let out = dp
        .test_run(Hook::Vxlan, &ipv4_udp(A4, B4, 64, 10, false), 0)
        .unwrap();
    assert_eq!(out.verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::BadHeader), 1);
}

/// The uplink of the Geneve tests: a veth in the private namespace, with
/// the remote nodes on its subnets. A node forwards (bpf_fib_lookup
/// answers "forwarding disabled" otherwise, even for output lookups).
fn geneve_uplink() -> u32 {
    sh(
        "ip link add tdpup type veth peer name tdpgw && ip link set tdpup up && ip link set tdpgw up \
        && ip addr add 10.0.0.1/24 dev tdpup && ip -6 addr add fd00::1/64 dev tdpup nodad \
        && sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1",
    );
    ifindex("tdpup")
}

/// What the program must have written in front of the inner frame.
fn expected_geneve_v4(inner: &[u8], sport: u16) -> Vec<u8> {
    let total = 20 + 8 + 8 + inner.len();
    let mut f = Vec::new();
    f.extend_from_slice(&inner[0..12]); // MACs stay; redirect_neigh sets them
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = ipv4_header(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        17,
        64,
        total,
        true,
    );
    ip[4..6].copy_from_slice(&[0, 0]);
    ip[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&6081u16.to_be_bytes());
    f.extend_from_slice(&((total - 20) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x00, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00]);
    f.extend_from_slice(inner);
    f
}

#[test]
fn geneve_encap_writes_exact_headers_and_decap_restores_the_inner_packet() {
    let mut dp = load();
    dp.set_trace(true).unwrap(); // the redirect targets are checked
    add_pods(&mut dp);
    let up = geneve_uplink();
    dp.set_config(&tunnel_settings(Mode::Geneve, up)).unwrap();
    dp.replace_tunnel_routes(&[
        ("10.2.0.0/16".parse().unwrap(), "10.0.0.2".parse().unwrap()),
        ("fd00:2::/64".parse().unwrap(), "10.0.0.2".parse().unwrap()),
        ("10.3.0.0/16".parse().unwrap(), "fd00::2".parse().unwrap()),
        ("fd00:3::/64".parse().unwrap(), "fd00::2".parse().unwrap()),
    ])
    .unwrap();
    // The node that sends back (what ternd trusts: the tunnel map's nodes).
    dp.set_trusted_sources(&[net("10.0.0.2/32")].into())
        .unwrap();

    for pkt in [
        ipv4_udp(A4, Ipv4Addr::new(10, 2, 3, 4), 64, 200, true),
        ipv6_udp(A6, "fd00:2::9".parse().unwrap(), 64, 200),
    ] {
        dp.clear_trace().unwrap();
        let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
        assert_eq!(
            out.verdict,
            REDIRECT,
            "drops: {:?}",
            dp.drop_counters().unwrap()
        );
        let t = dp.last_redirect().unwrap().unwrap();
        assert_eq!(
            (t.kind, t.ifindex, t.nexthop),
            (REDIRECT_NEIGH, up, IpKey::v4([10, 0, 0, 2]).addr)
        );
        let p = &out.packet;
        let sport = u16::from_be_bytes([p[34], p[35]]);
        assert!(sport >= 49152, "source port {sport} in the dynamic range");
        // The inner packet is the pod's, TTL decremented.
        let mut inner = pkt.clone();
        if pkt[12] == 0x08 {
            inner[22] = 63;
            inner[24..26].copy_from_slice(&[0, 0]);
            let c = csum(&inner[14..34]);
            inner[24..26].copy_from_slice(&c.to_be_bytes());
        } else {
            inner[21] = 63;
        }
        assert_eq!(
            p,
            &expected_geneve_v4(&inner, sport),
            "encapsulated frame, byte for byte"
        );
        // The same flow always gets the same source port.
        let again = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
        assert_eq!(
            u16::from_be_bytes([again.packet[34], again.packet[35]]),
            sport
        );

        // Decapsulation on the receiving node: the inner packet goes to pod B.
        let mut wire = p.clone();
        let inner_dst_is_b = |ip: IpAddr| match ip {
            IpAddr::V4(_) => (IpAddr::V4(Ipv4Addr::new(10, 2, 3, 4)), 4),
            IpAddr::V6(_) => (IpAddr::V6("fd00:2::9".parse().unwrap()), 6),
        };
        let (dst, _) = inner_dst_is_b(if pkt[12] == 0x08 {
            IpAddr::V4(A4)
        } else {
            IpAddr::V6(A6)
        });
        dp.upsert_endpoint(
            dst,
            EndpointInfo {
                ifindex: 55,
                id: 5,
                pod_mac: B_POD_MAC,
                host_mac: B_HOST_MAC,
                flags: EP_FLAG_VETH_PEER,
            },
        )
        .unwrap();
        wire[26..30].copy_from_slice(&[10, 0, 0, 2]); // from the other node
        wire[30..34].copy_from_slice(&[10, 0, 0, 1]); // addressed to this node
        wire[24..26].copy_from_slice(&[0, 0]);
        let c = csum(&wire[14..34]);
        wire[24..26].copy_from_slice(&c.to_be_bytes());
        dp.clear_trace().unwrap();
        let out = dp.test_run(Hook::Uplink, &wire, 0).unwrap();
        assert_eq!(out.verdict, REDIRECT);
        let t = dp.last_redirect().unwrap().unwrap();
        assert_eq!((t.kind, t.ifindex), (REDIRECT_PEER, 55));
        let mut want = inner.clone();
        want[0..6].copy_from_slice(&B_POD_MAC);
        want[6..12].copy_from_slice(&B_HOST_MAC);
        assert_eq!(out.packet, want, "decapsulated frame, byte for byte");
        dp.remove_endpoint(dst).unwrap();
    }
    assert_eq!(path(&dp, PathKind::GeneveEncap), 4);
    assert_eq!(path(&dp, PathKind::GeneveDecap), 2);
    // Endpoint 5 was removed and added again: its counters restarted.
    assert_eq!(dp.endpoint_counters(5).unwrap().to_pod_packets, 1);

    // IPv6 underlay: outer IPv6, UDP checksum computed, flow label from the hash.
    let pkt = ipv4_udp(A4, Ipv4Addr::new(10, 3, 0, 1), 64, 100, true);
    let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
    assert_eq!(
        out.verdict,
        REDIRECT,
        "drops: {:?}",
        dp.drop_counters().unwrap()
    );
    let p = &out.packet;
    assert_eq!(p.len(), pkt.len() + 70);
    assert_eq!(&p[12..14], &[0x86, 0xdd]);
    assert_eq!(p[14] >> 4, 6);
    assert_eq!(
        u16::from_be_bytes([p[18], p[19]]) as usize,
        8 + 8 + pkt.len(),
        "payload length: UDP, Geneve, inner frame"
    );
    assert_eq!((p[20], p[21]), (17, 64));
    assert_eq!(&p[22..38], &"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(&p[38..54], &"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(u16::from_be_bytes([p[56], p[57]]), 6081);
    assert_eq!(
        l4_csum(&p[14..54], &p[54..]),
        0,
        "outer UDP checksum {:02x?} (RFC 8200 8.1)",
        &p[60..62]
    );
    assert_eq!(
        &p[62..70],
        &[0x00, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00]
    );
    assert_eq!(&p[70..82], &pkt[0..12], "inner Ethernet");
    assert_eq!(
        &p[84..],
        &{
            let mut i = pkt[14..].to_vec();
            i[8] = 63;
            i[10..12].copy_from_slice(&[0, 0]);
            let c = csum(&i[0..20]);
            i[10..12].copy_from_slice(&c.to_be_bytes());
            i
        }[..]
    );
    assert_eq!(total_drops(&dp), 0);
    outer_udp6_checksums_cover_every_kind_of_inner_packet(&mut dp);
}

/// Over an IPv6 underlay, the outer UDP checksum must be right for what
/// goes on the wire, whatever the inner packet: one whose own checksum
/// covers it (TCP, UDP, ICMP, ICMPv6: taken from that checksum, also when
/// the stack fills it only on transmit), or one that is summed (UDP with
/// checksum 0, fragments, other protocols), of every length the summing
/// handles in its own way (512-byte chunks, halving pieces, an odd byte).
fn outer_udp6_checksums_cover_every_kind_of_inner_packet(dp: &mut Datapath) {
    let to4 = Ipv4Addr::new(10, 3, 0, 1);
    let to6: Ipv6Addr = "fd00:3::1".parse().unwrap();
    let with_l4_csum = |mut f: Vec<u8>, at: usize| {
        let ip_end = if f[12] == 0x08 { 34 } else { 54 };
        f[ip_end + at..ip_end + at + 2].copy_from_slice(&[0, 0]);
        let c = l4_csum(&f[14..ip_end], &f[ip_end..]);
        f[ip_end + at..ip_end + at + 2].copy_from_slice(&c.to_be_bytes());
        f
    };
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for n in [0, 1, 3, 4, 61, 100, 511, 512, 513, 1023, 1400] {
        cases.push((
            format!("IPv4 UDP, checksum 0, {n} bytes"),
            ipv4_udp(A4, to4, 64, n, true),
        ));
        cases.push((
            format!("IPv4 UDP, checksum set, {n} bytes"),
            with_l4_csum(ipv4_udp(A4, to4, 64, n, true), 6),
        ));
        cases.push((
            format!("IPv6 UDP, {n} bytes"),
            with_l4_csum(ipv6_udp(A6, to6, 64, n), 6),
        ));
    }
    cases.push(("IPv4 TCP".into(), ipv4_tcp(A4, to4, 40000, 80, 0x18)));
    let mut frag = ipv4_udp(A4, to4, 64, 301, false);
    frag[20] |= 0x20; // more fragments
    frag[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&frag[14..34]);
    frag[24..26].copy_from_slice(&c.to_be_bytes());
    cases.push(("IPv4 first fragment".into(), frag));
    let mut gre = ipv4_udp(A4, to4, 64, 77, true);
    gre[23] = 47;
    gre[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&gre[14..34]);
    gre[24..26].copy_from_slice(&c.to_be_bytes());
    cases.push(("IPv4 GRE".into(), gre));
    let mut icmp = vec![0u8; 14];
    icmp[12..14].copy_from_slice(&[0x08, 0x00]);
    icmp.extend(ipv4_header(A4, to4, 1, 64, 20 + 8 + 56, true));
    let mut echo = vec![8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
    echo.extend((0..56).map(|i| i as u8));
    let c = csum(&echo);
    echo[2..4].copy_from_slice(&c.to_be_bytes());
    icmp.extend(echo);
    cases.push(("IPv4 ICMP echo".into(), icmp));
    let mut icmp6 = with_l4_csum(ipv6_udp(A6, to6, 64, 40), 6);
    icmp6[20] = 58;
    icmp6[54..56].copy_from_slice(&[128, 0]); // echo request, code 0
    let icmp6 = with_l4_csum(icmp6, 2);
    cases.push(("IPv6 ICMPv6 echo".into(), icmp6));
    for (what, pkt) in &cases {
        let out = dp.test_run(Hook::Pod, pkt, 0).unwrap();
        assert_eq!(out.verdict, REDIRECT, "{what}: {:?}", dp.drop_counters());
        let p = &out.packet;
        assert_eq!(&p[12..14], &[0x86, 0xdd], "{what}: IPv6 underlay");
        assert_ne!(&p[60..62], &[0, 0], "{what}: a checksum is sent");
        assert_eq!(
            l4_csum(&p[14..54], &p[54..]),
            0,
            "{what}: outer UDP checksum {:02x?}",
            &p[60..62]
        );
    }
    // A TCP segment whose checksum the stack fills only on transmit
    // (CHECKSUM_PARTIAL: the field holds the pseudo-header's sum): the outer
    // checksum is right for the segment as it leaves, checksum filled.
    let whole = ipv4_tcp(A4, to4, 40000, 80, 0x18);
    let mut partial = whole.clone();
    let mut pseudo = whole[26..34].to_vec();
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&((whole.len() - 34) as u16).to_be_bytes());
    let folded = !csum(&pseudo);
    partial[50..52].copy_from_slice(&folded.to_be_bytes());
    let out = dp.test_run(Hook::Pod, &partial, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let mut p = out.packet;
    let inner_l4 = 84 + 20;
    p[inner_l4 + 16..inner_l4 + 18].copy_from_slice(&whole[50..52]);
    assert_eq!(
        l4_csum(&p[14..54], &p[54..]),
        0,
        "outer checksum of a partial-checksum TCP segment, once filled"
    );
}

/// A Geneve frame to this node (10.0.0.1) carrying `inner`, with the
/// Geneve header bytes `g`.
fn geneve_frame(g: [u8; 8], inner: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + 8 + inner.len();
    let mut f = Vec::new();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&POD_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend(ipv4_header(
        Ipv4Addr::new(10, 0, 0, 2),
        Ipv4Addr::new(10, 0, 0, 1),
        17,
        64,
        total,
        true,
    ));
    f.extend_from_slice(&50000u16.to_be_bytes());
    f.extend_from_slice(&6081u16.to_be_bytes());
    f.extend_from_slice(&((total - 20) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&g);
    f.extend_from_slice(inner);
    f
}

#[test]
fn malformed_and_truncated_packets_are_dropped_and_counted_by_reason() {
    let mut dp = load();
    add_pods(&mut dp);
    let up = geneve_uplink();
    dp.set_config(&tunnel_settings(Mode::Geneve, up)).unwrap();
    dp.set_trusted_sources(&[net("10.0.0.2/32")].into())
        .unwrap();
    let good_g = [0x00, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00];
    let inner = ipv4_udp(A4, B4, 64, 30, false);

    // Sanity: the well-formed frame is delivered.
    assert_eq!(
        dp.test_run(Hook::Uplink, &geneve_frame(good_g, &inner), 0)
            .unwrap()
            .verdict,
        REDIRECT
    );

    let mut cases: Vec<(&str, Hook, Vec<u8>, DropReason)> = Vec::new();
    // IPv4 header with version 5, and with IHL 4.
    let mut bad = ipv4_udp(A4, B4, 64, 10, false);
    bad[14] = 0x55;
    cases.push(("IP version 5", Hook::Pod, bad, DropReason::BadHeader));
    let mut bad = ipv4_udp(A4, B4, 64, 10, false);
    bad[14] = 0x44;
    cases.push(("IHL 4", Hook::Pod, bad, DropReason::BadHeader));
    // IPv4 total length beyond the frame.
    let mut bad = ipv4_udp(A4, B4, 64, 10, false);
    bad[16..18].copy_from_slice(&500u16.to_be_bytes());
    cases.push((
        "IPv4 total length past the end",
        Hook::Pod,
        bad,
        DropReason::Truncated,
    ));
    // IPv6 payload length beyond the frame.
    let mut bad = ipv6_udp(A6, B6, 64, 10);
    bad[18..20].copy_from_slice(&900u16.to_be_bytes());
    cases.push((
        "IPv6 payload past the end",
        Hook::Pod,
        bad,
        DropReason::Truncated,
    ));
    // IPv6 ethertype with a version-4 header.
    let mut bad = ipv6_udp(A6, B6, 64, 10);
    bad[14] = 0x40;
    cases.push(("IPv6 version 4", Hook::Uplink, bad, DropReason::BadHeader));
    // Geneve: version 1, a critical option, another protocol, another VNI.
    let mut g = good_g;
    g[0] = 0x40;
    cases.push((
        "Geneve version 1",
        Hook::Uplink,
        geneve_frame(g, &inner),
        DropReason::BadHeader,
    ));
    let mut g = good_g;
    g[1] = 0x40;
    cases.push((
        "Geneve critical option",
        Hook::Uplink,
        geneve_frame(g, &inner),
        DropReason::BadHeader,
    ));
    let mut g = good_g;
    g[2..4].copy_from_slice(&[0x08, 0x00]);
    cases.push((
        "Geneve protocol 0x0800",
        Hook::Uplink,
        geneve_frame(g, &inner),
        DropReason::BadHeader,
    ));
    let mut g = good_g;
    g[6] = 0x57;
    cases.push((
        "Geneve other VNI",
        Hook::Uplink,
        geneve_frame(g, &inner),
        DropReason::WrongVni,
    ));
    // Truncated at the tunnel layer: UDP with 4 bytes of Geneve.
    let mut t = geneve_frame(good_g, &[]);
    t.truncate(t.len() - 4);
    let l3_len = (t.len() - 14) as u16;
    let udp_len = (t.len() - 34) as u16;
    t[16..18].copy_from_slice(&l3_len.to_be_bytes());
    t[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&t[14..34]);
    t[24..26].copy_from_slice(&c.to_be_bytes());
    t[38..40].copy_from_slice(&udp_len.to_be_bytes());
    cases.push(("Geneve header cut", Hook::Uplink, t, DropReason::Truncated));
    // Options announced but missing (opt len 63 words).
    let mut g = good_g;
    g[0] = 0x3f;
    cases.push((
        "Geneve options past the end",
        Hook::Uplink,
        geneve_frame(g, &inner),
        DropReason::Truncated,
    ));
    // Inner IPv4 header cut short.
    cases.push((
        "inner IPv4 cut",
        Hook::Uplink,
        geneve_frame(good_g, &inner[..14 + 12]),
        DropReason::Truncated,
    ));
    // Inner packet longer than the UDP datagram says.
    let mut short_udp = geneve_frame(good_g, &inner);
    short_udp[38..40].copy_from_slice(&30u16.to_be_bytes());
    cases.push((
        "UDP length too short",
        Hook::Uplink,
        short_udp,
        DropReason::Truncated,
    ));
    // Inner packet for no local pod.
    let stray = ipv4_udp(A4, Ipv4Addr::new(10, 77, 0, 1), 64, 30, false);
    cases.push((
        "inner for no pod",
        Hook::Uplink,
        geneve_frame(good_g, &stray),
        DropReason::NoEndpoint,
    ));

    for (name, hook, pkt, reason) in &cases {
        let before = drops(&dp, *reason);
        let out = dp
            .test_run(*hook, pkt, 0)
            .unwrap_or_else(|e| panic!("{name}: the kernel refused the frame: {e}"));
        assert_eq!(out.verdict, SHOT, "{name}: dropped");
        assert_eq!(
            drops(&dp, *reason),
            before + 1,
            "{name}: counted as {reason:?}"
        );
    }
    assert_eq!(total_drops(&dp), cases.len() as u64);
    // A fragment of a Geneve packet is left to the stack, unparsed.
    let mut frag = geneve_frame(good_g, &inner);
    frag[20] = 0x20; // more fragments
    frag[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&frag[14..34]);
    frag[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(dp.test_run(Hook::Uplink, &frag, 0).unwrap().verdict, NEXT);
    // Geneve to another port or address is not ours: on to the stack.
    let mut other = geneve_frame(good_g, &inner);
    other[36..38].copy_from_slice(&6082u16.to_be_bytes());
    assert_eq!(dp.test_run(Hook::Uplink, &other, 0).unwrap().verdict, NEXT);
}

/// A Geneve frame (VNI 0x123456) from `src` to `dst` carrying `inner`: an
/// IPv4 or an IPv6 outer header, by the addresses' family.
fn geneve_from(src: IpAddr, dst: IpAddr, inner: &[u8]) -> Vec<u8> {
    let udp_len = 8 + 8 + inner.len();
    let mut f = Vec::new();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&POD_MAC);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            f.extend(ipv4_header(s, d, 17, 64, 20 + udp_len, true));
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd]);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(udp_len as u16).to_be_bytes());
            f.extend_from_slice(&[17, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => panic!("one family"),
    }
    f.extend_from_slice(&50000u16.to_be_bytes());
    f.extend_from_slice(&6081u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x00, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00]);
    f.extend_from_slice(inner);
    f
}

#[test]
fn geneve_is_decapsulated_only_from_trusted_outer_sources() {
    let mut dp = load();
    dp.set_trace(true).unwrap(); // the delivery target is checked
    add_pods(&mut dp);
    let up = geneve_uplink();
    dp.set_config(&tunnel_settings(Mode::Geneve, up)).unwrap();
    let inner = ipv4_udp(A4, B4, 64, 30, false);
    let this4: IpAddr = "10.0.0.1".parse().unwrap();
    let this6: IpAddr = "fd00::1".parse().unwrap();
    let unknown = |dp: &Datapath| drops(dp, DropReason::UnknownTunnelSource);
    // (outer source, outer destination, underlay)
    let senders: [(IpAddr, IpAddr, &str); 2] = [
        ("10.0.0.2".parse().unwrap(), this4, "IPv4"),
        ("fd00::2".parse().unwrap(), this6, "IPv6"),
    ];
    let delivered = |dp: &mut Datapath, frame: &[u8], what: &str| {
        dp.clear_trace().unwrap();
        let out = dp.test_run(Hook::Uplink, frame, 0).unwrap();
        assert_eq!(
            out.verdict,
            REDIRECT,
            "{what}: drops {:?}",
            dp.drop_counters().unwrap()
        );
        let t = dp.last_redirect().unwrap().unwrap();
        assert_eq!((t.kind, t.ifindex), (REDIRECT_PEER, B_IFINDEX), "{what}");
        assert_eq!(&out.packet[14..], &inner[14..], "{what}: the inner packet");
    };
    let refused = |dp: &Datapath, frame: &[u8], what: &str| {
        let before = unknown(dp);
        let out = dp.test_run(Hook::Uplink, frame, 0).unwrap();
        assert_eq!(out.verdict, SHOT, "{what}");
        assert_eq!(unknown(dp), before + 1, "{what}: counted");
    };

    // Nothing trusted yet: every source is refused, both underlays.
    for (src, dst, underlay) in senders {
        refused(
            &dp,
            &geneve_from(src, dst, &inner),
            &format!("{underlay}: untrusted {src}"),
        );
    }
    assert_eq!(unknown(&dp), 2);
    assert_eq!(path(&dp, PathKind::GeneveDecap), 0);

    // The nodes' own addresses.
    let hosts = [net("10.0.0.2/32"), net("fd00::2/128")].into();
    dp.set_trusted_sources(&hosts).unwrap();
    assert_eq!(
        dp.trusted_sources().unwrap(),
        hosts.iter().copied().collect::<Vec<_>>()
    );
    for (src, dst, underlay) in senders {
        delivered(
            &mut dp,
            &geneve_from(src, dst, &inner),
            &format!("{underlay}: trusted host {src}"),
        );
    }
    // A neighbour of a trusted node is still a stranger.
    refused(
        &dp,
        &geneve_from("10.0.0.3".parse().unwrap(), this4, &inner),
        "IPv4: 10.0.0.3 beside a trusted 10.0.0.2",
    );
    refused(
        &dp,
        &geneve_from("fd00::3".parse().unwrap(), this6, &inner),
        "IPv6: fd00::3 beside a trusted fd00::2",
    );

    // The nodes' underlay ranges instead (the hosts' entries go).
    let ranges = [net("10.0.0.0/24"), net("fd00::/64")].into();
    dp.set_trusted_sources(&ranges).unwrap();
    assert_eq!(
        dp.trusted_sources().unwrap(),
        ranges.iter().copied().collect::<Vec<_>>()
    );
    for (src, dst, underlay) in [
        ("10.0.0.3".parse().unwrap(), this4, "IPv4"),
        ("fd00::3".parse().unwrap(), this6, "IPv6"),
    ] {
        delivered(
            &mut dp,
            &geneve_from(src, dst, &inner),
            &format!("{underlay}: {src} inside a trusted prefix"),
        );
    }
    for (src, dst, underlay) in [
        ("10.0.1.2".parse().unwrap(), this4, "IPv4"),
        ("fd00:0:0:1::2".parse().unwrap(), this6, "IPv6"),
    ] {
        refused(
            &dp,
            &geneve_from(src, dst, &inner),
            &format!("{underlay}: {src} outside the trusted prefixes"),
        );
    }
    // An IPv4 prefix trusts no IPv6 address that shares its bits.
    dp.set_trusted_sources(&[net("10.0.0.0/24")].into())
        .unwrap();
    refused(
        &dp,
        &geneve_from("fd00::2".parse().unwrap(), this6, &inner),
        "IPv6 with only an IPv4 prefix trusted",
    );
    // Trust withdrawn: refused again.
    dp.set_trusted_sources(&Default::default()).unwrap();
    assert!(dp.trusted_sources().unwrap().is_empty());
    refused(
        &dp,
        &geneve_from("10.0.0.2".parse().unwrap(), this4, &inner),
        "IPv4 after the trust is withdrawn",
    );
    assert_eq!(path(&dp, PathKind::GeneveDecap), 4);
    assert_eq!(unknown(&dp), 8);
    assert_eq!(total_drops(&dp), 8, "{:?}", dp.drop_counters().unwrap());
}

/// The trusted sources are written as a difference, and a whole new set
/// larger than what is left free of the map replaces the old one.
#[test]
fn trusted_sources_take_a_whole_new_set_at_capacity() {
    let mut dp = load();
    let set = |base: u8| -> std::collections::BTreeSet<IpNet> {
        (0..tern_ebpf::datapath::MAX_TRUSTED_SOURCES)
            .map(|i| {
                IpNet::new(
                    IpAddr::V4(Ipv4Addr::new(base, (i >> 8) as u8, i as u8, 0)),
                    24,
                )
                .unwrap()
            })
            .collect()
    };
    let (a, b) = (set(10), set(11));
    dp.set_trusted_sources(&a).unwrap();
    assert_eq!(dp.trusted_sources().unwrap().len(), a.len());
    dp.set_trusted_sources(&b).unwrap();
    assert_eq!(
        dp.trusted_sources().unwrap(),
        b.iter().copied().collect::<Vec<_>>()
    );
    let mut too_many = b.clone();
    too_many.insert(net("192.0.2.0/24"));
    assert!(dp.set_trusted_sources(&too_many).is_err());
    assert_eq!(dp.trusted_sources().unwrap().len(), b.len(), "unchanged");
}

#[test]
fn settings_round_trip_and_bad_values_are_refused() {
    let mut dp = load();
    let s = tunnel_settings(Mode::Geneve, 3);
    dp.set_config(&s).unwrap();
    assert_eq!(dp.config().unwrap(), s);
    assert_eq!(s.pod_mtu(false), 1450);
    assert_eq!(s.pod_mtu(true), 1430);
    let bad = DatapathConfig { vni: 1 << 24, ..s };
    assert!(dp.set_config(&bad).is_err());
    assert_eq!(
        dp.config().unwrap(),
        s,
        "a refused change leaves the settings"
    );
    assert_eq!(Mode::parse("geneve"), Some(Mode::Geneve));
    assert_eq!(Mode::parse(Mode::Vxlan.name()), Some(Mode::Vxlan));
    assert_eq!(Mode::parse("gre"), None);
    // Endpoint resync: one kept, one changed, one new, one stale removed.
    let ep = |id| EndpointInfo {
        ifindex: 9,
        id,
        ..EndpointInfo::default()
    };
    dp.upsert_endpoint(IpAddr::V4(A4), ep(1)).unwrap();
    dp.upsert_endpoint(IpAddr::V4(B4), ep(2)).unwrap();
    dp.upsert_endpoint(IpAddr::V6(A6), ep(3)).unwrap();
    let (written, removed) = dp
        .replace_endpoints(&[
            (IpAddr::V4(A4), ep(1)),
            (IpAddr::V4(B4), ep(7)),
            (IpAddr::V6(B6), ep(8)),
        ])
        .unwrap();
    assert_eq!((written, removed), (2, 1));
    let now: Vec<(IpAddr, u32)> = dp
        .endpoints()
        .unwrap()
        .iter()
        .map(|(a, e)| (*a, e.id))
        .collect();
    assert_eq!(
        now,
        vec![
            (IpAddr::V4(A4), 1),
            (IpAddr::V4(B4), 7),
            (IpAddr::V6(B6), 8)
        ]
    );
    dp.replace_endpoints(&[]).unwrap();
    let bad = EndpointInfo {
        id: 5000,
        ..EndpointInfo::default()
    };
    assert!(dp.upsert_endpoint(IpAddr::V4(A4), bad).is_err());
    assert!(!dp.remove_endpoint(IpAddr::V4(A4)).unwrap());
}

#[test]
fn datapath_can_move_to_a_daemon_task() {
    fn send<T: Send>() {}
    send::<Datapath>();
}

#[test]
fn a_pod_forwards_only_from_its_own_addresses() {
    let mut dp = load();
    add_pods(&mut dp);
    let mut ifaces = dp.pod_ifaces().unwrap();
    ifaces.sort_unstable();
    assert_eq!(ifaces, [(1, 1), (B_IFINDEX, 2)]);
    // Pod A (on loopback, where the test runs put packets) from its own
    // addresses: delivered to B.
    for pkt in [ipv4_udp(A4, B4, 64, 10, false), ipv6_udp(A6, B6, 64, 10)] {
        assert_eq!(dp.test_run(Hook::Pod, &pkt, 0).unwrap().verdict, REDIRECT);
    }
    // From an address no pod has, and from pod B's: dropped and counted.
    let cases = [
        (
            "an address of nobody",
            ipv4_udp(Ipv4Addr::new(10, 1, 0, 99), B4, 64, 10, false),
        ),
        (
            "pod B's address",
            ipv4_udp(B4, Ipv4Addr::new(192, 0, 2, 1), 64, 10, false),
        ),
        (
            "an IPv6 address of nobody",
            ipv6_udp("fd00:1::99".parse().unwrap(), B6, 64, 10),
        ),
    ];
    for (i, (what, pkt)) in cases.iter().enumerate() {
        let out = dp.test_run(Hook::Pod, pkt, 0).unwrap();
        assert_eq!(out.verdict, SHOT, "{what}");
        assert_eq!(
            drops(&dp, DropReason::SourceSpoofed),
            i as u64 + 1,
            "{what}"
        );
    }
    // Link-local destinations (neighbour discovery, the pod's gateway) go to
    // the stack whatever the source.
    let nd = ipv6_udp(
        "fe80::5".parse().unwrap(),
        "fe80::1".parse().unwrap(),
        255,
        10,
    );
    assert_eq!(dp.test_run(Hook::Pod, &nd, 0).unwrap().verdict, NEXT);
    // A's interface is checked while A has an address on it.
    assert!(dp.remove_endpoint(IpAddr::V4(A4)).unwrap());
    assert_eq!(dp.pod_ifaces().unwrap().len(), 2, "A6 is still on it");
    assert!(dp.remove_endpoint(IpAddr::V6(A6)).unwrap());
    assert_eq!(dp.pod_ifaces().unwrap(), [(B_IFINDEX, 2)]);
    let out = dp.test_run(Hook::Pod, &cases[0].1, 0).unwrap();
    assert_ne!(out.verdict, SHOT, "loopback is no pod's interface any more");
    assert_eq!(drops(&dp, DropReason::SourceSpoofed), 3);
    // An address that moves to another interface releases the old one.
    dp.upsert_endpoint(
        IpAddr::V4(B4),
        EndpointInfo {
            ifindex: 43,
            id: 2,
            pod_mac: B_POD_MAC,
            host_mac: B_HOST_MAC,
            flags: EP_FLAG_VETH_PEER,
        },
    )
    .unwrap();
    assert_eq!(dp.pod_ifaces().unwrap().len(), 2, "B6 keeps 42");
    assert!(dp.remove_endpoint(IpAddr::V6(B6)).unwrap());
    assert_eq!(dp.pod_ifaces().unwrap(), [(43, 2)]);
}

/// ICMP "fragmentation needed" (next-hop MTU `mtu`) from a router to this
/// node (10.0.0.1) about its tunnel packet to 10.0.0.2, UDP port `dport`.
fn frag_needed_about_tunnel(src: Ipv4Addr, dport: u16, mtu: u16) -> Vec<u8> {
    let mut quoted = ipv4_header(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        17,
        63,
        1478,
        true,
    );
    quoted.extend_from_slice(&50000u16.to_be_bytes());
    quoted.extend_from_slice(&dport.to_be_bytes());
    quoted.extend_from_slice(&1458u16.to_be_bytes());
    quoted.extend_from_slice(&[0, 0]);
    let mut icmp = vec![3, 4, 0, 0, 0, 0];
    icmp.extend_from_slice(&mtu.to_be_bytes());
    icmp.extend_from_slice(&quoted);
    let c = csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&POD_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend(ipv4_header(
        src,
        Ipv4Addr::new(10, 0, 0, 1),
        1,
        64,
        20 + icmp.len(),
        false,
    ));
    f.extend(icmp);
    f
}

#[test]
fn a_router_s_frag_needed_about_a_tunnel_packet_shrinks_the_path_and_the_pod_is_told() {
    let router = Ipv4Addr::new(10, 0, 0, 254);
    let remote_pod = Ipv4Addr::new(10, 2, 0, 5);
    for (mode, port) in [(Mode::Geneve, 6081u16), (Mode::Vxlan, 4789)] {
        let mut dp = load();
        add_pods(&mut dp);
        let up = geneve_uplink();
        dp.set_config(&tunnel_settings(mode, up)).unwrap();
        dp.replace_tunnel_routes(&[("10.2.0.0/16".parse().unwrap(), "10.0.0.2".parse().unwrap())])
            .unwrap();
        // 1400 bytes (DF) fit the uplink's 1500 with the tunnel's 50.
        let big = ipv4_udp(A4, remote_pod, 64, 1400 - 28, true);
        let out = dp.test_run(Hook::Pod, &big, 0).unwrap();
        assert_eq!(out.verdict, REDIRECT, "{mode:?}");
        assert_eq!(path(&dp, PathKind::IcmpTooBig), 0, "{mode:?}");
        // What is not about our tunnel is not learnt: another UDP port, an
        // MTU of 0 (pre-RFC 1191 routers), one not below the uplink's.
        for (dport, mtu) in [(53u16, 1400u16), (port, 0), (port, 1500)] {
            let icmp = frag_needed_about_tunnel(router, dport, mtu);
            assert_eq!(dp.test_run(Hook::Uplink, &icmp, 0).unwrap().verdict, NEXT);
        }
        assert!(dp.path_mtus(0).unwrap().is_empty(), "{mode:?}");
        // The router on the way to 10.0.0.2 takes 1400: learnt, and the
        // message goes on to the stack.
        let icmp = frag_needed_about_tunnel(router, port, 1400);
        assert_eq!(dp.test_run(Hook::Uplink, &icmp, 0).unwrap().verdict, NEXT);
        let learnt = dp.path_mtus(0).unwrap();
        assert_eq!(learnt.len(), 1, "{mode:?}");
        assert_eq!(learnt[0].0, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(learnt[0].1.mtu, 1400);
        assert_eq!(path(&dp, PathKind::PathMtuLearnt), 1);
        // The pod's 1400 bytes no longer fit: it gets "fragmentation
        // needed" with the room the tunnel leaves (1400 - 50).
        let out = dp.test_run(Hook::Pod, &big, 0).unwrap();
        assert_eq!(out.verdict, REDIRECT, "back to the pod");
        let f = &out.packet;
        assert_eq!(f[23], 1, "ICMP");
        assert_eq!(f[30..34], A4.octets(), "to the pod");
        assert_eq!((f[34], f[35]), (3, 4), "fragmentation needed");
        assert_eq!(u16::from_be_bytes([f[40], f[41]]), 1350);
        assert_eq!(path(&dp, PathKind::IcmpTooBig), 1);
        // 1350 bytes fit; 1351 without DF cannot be fragmented here.
        let fits = ipv4_udp(A4, remote_pod, 64, 1350 - 28, true);
        let out = dp.test_run(Hook::Pod, &fits, 0).unwrap();
        assert_eq!(out.verdict, REDIRECT);
        assert_eq!(path(&dp, PathKind::IcmpTooBig), 1, "{mode:?}: 1350 fits");
        let no_df = ipv4_udp(A4, remote_pod, 64, 1351 - 28, false);
        assert_eq!(dp.test_run(Hook::Pod, &no_df, 0).unwrap().verdict, SHOT);
        assert_eq!(drops(&dp, DropReason::MtuExceeded), 1);
        // A forged message cannot shrink the path below IPv4's 552.
        let icmp = frag_needed_about_tunnel(router, port, 68);
        assert_eq!(dp.test_run(Hook::Uplink, &icmp, 0).unwrap().verdict, NEXT);
        assert_eq!(dp.path_mtus(0).unwrap()[0].1.mtu, 552);
        // Other nodes keep the uplink's MTU.
        dp.replace_tunnel_routes(&[
            ("10.2.0.0/16".parse().unwrap(), "10.0.0.2".parse().unwrap()),
            ("10.4.0.0/16".parse().unwrap(), "10.0.0.4".parse().unwrap()),
        ])
        .unwrap();
        let other = ipv4_udp(A4, Ipv4Addr::new(10, 4, 0, 5), 64, 1400 - 28, true);
        assert_eq!(dp.test_run(Hook::Pod, &other, 0).unwrap().verdict, REDIRECT);
        assert_eq!(
            path(&dp, PathKind::IcmpTooBig),
            1,
            "{mode:?}: 10.0.0.4's path is whole"
        );
    }
}

/// A full tunnel map takes a whole new set of routes (stale entries leave
/// before new ones need their slots), refuses and counts what is past its
/// capacity, and keeps what it holds true to what it was told.
#[test]
fn a_full_tunnel_map_does_not_wedge() {
    let mut dp = load();
    let routes = |base: u8, n: usize| -> Vec<(IpNet, IpAddr)> {
        (0..n)
            .map(|i| {
                let i = u32::try_from(i).unwrap();
                let a = Ipv4Addr::from((u32::from(base) << 24) | (i << 8));
                (
                    IpNet::new(IpAddr::V4(a), 24).unwrap(),
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 200) as u8 + 1)),
                )
            })
            .collect()
    };
    let full = usize::try_from(tern_ebpf::datapath::MAX_TUNNEL_ROUTES).unwrap();
    let first = routes(10, full);
    let d = dp.replace_tunnel_routes(&first).unwrap();
    assert_eq!((d.added, d.refused), (full, 0));
    // Another whole set, none shared: old code inserted first and failed
    // on the full map for good.
    let second = routes(11, full);
    let d = dp.replace_tunnel_routes(&second).unwrap();
    assert_eq!((d.added, d.removed, d.refused), (full, full, 0));
    assert_eq!(dp.tunnel_routes().unwrap().len(), full);
    assert!(
        dp.tunnel_routes()
            .unwrap()
            .iter()
            .all(|(p, _)| { matches!(p.addr(), IpAddr::V4(a) if a.octets()[0] == 11) })
    );
    // More than fits: the rest refused and counted, the map still full.
    let mut more = routes(12, full);
    more.extend(routes(13, 100));
    let d = dp.replace_tunnel_routes(&more).unwrap();
    assert_eq!(d.refused, 100);
    assert_eq!(dp.tunnel_routes().unwrap().len(), full);
    // And back to a few: what the map holds is exactly what was asked.
    let few = routes(14, 3);
    let d = dp.replace_tunnel_routes(&few).unwrap();
    assert_eq!((d.added, d.removed, d.refused), (3, full, 0));
    let mut want = few.clone();
    want.sort();
    assert_eq!(dp.tunnel_routes().unwrap(), want);
}
