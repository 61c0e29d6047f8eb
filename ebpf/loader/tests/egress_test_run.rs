//! BPF_PROG_TEST_RUN tests of the egress gateway: a pod's packet on its
//! node (steered into the tunnel with the policy's VNI, or left alone), the
//! tunnelled packet on the gateway (translated to the egress IP, or
//! refused), the replies and ICMP errors translated back, the ports, the
//! drop reasons and the collection of the conntrack entries. Each test runs
//! in a private network namespace of its own thread. Needs root; without it
//! the tests fail.
#![allow(clippy::unwrap_used)]
mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;
use ipnet::IpNet;
use tern_ebpf::{
    Datapath, DatapathConfig, Hook,
    datapath::{DropReason, EP_FLAG_VETH_PEER, EndpointInfo, Mode, PathKind, ip_key},
    egress::{
        EgressConfig, EgressGateway, EgressMatchEntry, EgressPolicyEntry, EgressState,
        EgressSteerEntry, flow_hash, gateway_key, pick_score,
    },
    services::{CT_F_EGRESS, CT_STATE_CLOSING, monotonic_ns},
};

const NODE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PEER_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);
const OTHER_POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 6);
const REMOTE_POD: Ipv4Addr = Ipv4Addr::new(10, 244, 2, 7);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 130);
const EXCLUDED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 200);
const EGRESS_A: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const EGRESS_B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 11);
const POLICY: u32 = 0x4242;
const VNI: u32 = 0x12_3456;

/// A datapath in a private namespace with an uplink (10.0.0.1/24 on a veth
/// whose peer is 10.0.0.2) and a route to the servers' network through
/// that peer, two local pods, and the given mode.
fn load(mode: Mode) -> Datapath {
    private_netns();
    let mut dp = Datapath::load(None).expect("load the datapath (root needed)");
    sh(
        "ip link add tegup type veth peer name teggw && ip link set tegup up && ip link set teggw up \
        && ip addr add 10.0.0.1/24 dev tegup && ip route add 192.0.2.0/24 via 10.0.0.2 \
        && ip neigh replace 10.0.0.2 lladdr 02:00:00:00:00:02 dev tegup \
        && ip neigh replace 10.0.0.3 lladdr 02:00:00:00:00:03 dev tegup \
        && sysctl -qw net.ipv4.conf.all.forwarding=1",
    );
    dp.set_config(
        &DatapathConfig {
            vni: VNI,
            uplink_ifindex: ifindex("tegup"),
            uplink_mtu: 1500,
            ..DatapathConfig::new(mode)
        }
        .with_local_v4(Some(NODE)),
    )
    .unwrap();
    for (i, ip) in [POD, OTHER_POD].into_iter().enumerate() {
        dp.upsert_endpoint(
            IpAddr::V4(ip),
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
    // The other nodes, whose tunnelled packets this node takes.
    dp.set_trusted_sources(&[net("10.0.0.2/32"), net("10.0.0.3/32")].into())
        .unwrap();
    dp
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn gw(node: Ipv4Addr, egress: Ipv4Addr, local: bool) -> EgressGateway {
    EgressGateway {
        node: IpAddr::V4(node),
        egress_ip: IpAddr::V4(egress),
        local,
    }
}

/// The policy as the pod's node and the gateway program it: `POD` to
/// 192.0.2.128/25 except 192.0.2.200, through `gateways`; the gateway
/// accepts sources in 10.244.0.0/16.
fn state(gateways: Vec<EgressGateway>, config: EgressConfig) -> EgressState {
    EgressState {
        policies: vec![EgressPolicyEntry {
            policy_id: POLICY,
            v6: false,
            gateways,
        }],
        steer: vec![
            EgressSteerEntry {
                source: IpAddr::V4(POD),
                destination: net("192.0.2.128/25"),
                policy_id: POLICY,
                excluded: false,
            },
            EgressSteerEntry {
                source: IpAddr::V4(POD),
                destination: net("192.0.2.200/32"),
                policy_id: POLICY,
                excluded: true,
            },
        ],
        matches: vec![
            EgressMatchEntry {
                policy_id: POLICY,
                destination: false,
                prefix: net("10.244.0.0/16"),
                allow: true,
            },
            EgressMatchEntry {
                policy_id: POLICY,
                destination: true,
                prefix: net("192.0.2.128/25"),
                allow: true,
            },
            EgressMatchEntry {
                policy_id: POLICY,
                destination: true,
                prefix: net("192.0.2.200/32"),
                allow: false,
            },
        ],
        config,
    }
}

/// The gateway (of `gateways`, nodes and egress IPs) a flow's hash picks.
fn reference_pick(gateways: &[(Ipv4Addr, Ipv4Addr)], sport: u16, dport: u16) -> Ipv4Addr {
    let h = flow_hash(
        &ip_key(IpAddr::V4(POD)).addr,
        &ip_key(IpAddr::V4(SERVER)).addr,
        sport,
        dport,
        TCP,
    );
    gateways
        .iter()
        .max_by_key(|(n, e)| {
            pick_score(
                h,
                gateway_key(&ip_key(IpAddr::V4(*n)).addr, &ip_key(IpAddr::V4(*e)).addr),
            )
        })
        .unwrap()
        .0
}

/// A Geneve frame from `from` to this node with `vni`, carrying `inner`.
fn geneve(from: Ipv4Addr, vni: u32, inner: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + 8 + inner.len();
    let mut f = Vec::new();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&POD_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend(ipv4_header(from, NODE, UDP, 64, total, true));
    f.extend_from_slice(&50000u16.to_be_bytes());
    f.extend_from_slice(&6081u16.to_be_bytes());
    f.extend_from_slice(&((total - 20) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    let v = vni.to_be_bytes();
    f.extend_from_slice(&[0x00, 0x00, 0x65, 0x58, v[1], v[2], v[3], 0x00]);
    f.extend_from_slice(inner);
    f
}

/// The outer destination and VNI of a Geneve frame the program sent, and
/// the inner frame.
fn decap(f: &[u8]) -> (Ipv4Addr, u32, Vec<u8>) {
    assert_eq!(f[12..14], [0x08, 0x00], "outer IPv4");
    assert_eq!(f[23], UDP, "outer UDP");
    assert_eq!(u16::from_be_bytes([f[36], f[37]]), 6081, "Geneve port");
    let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    let vni = u32::from_be_bytes([0, f[46], f[47], f[48]]);
    (dst, vni, f[50..].to_vec())
}

#[test]
fn a_pod_flow_to_a_policy_destination_is_tunnelled_to_the_gateway_its_hash_picks() {
    for mode in [Mode::Geneve, Mode::Native] {
        let mut dp = load(mode);
        let gateways = [(PEER_A, EGRESS_A), (PEER_B, EGRESS_B)];
        dp.sync_egress(&state(
            gateways.iter().map(|(n, e)| gw(*n, *e, false)).collect(),
            EgressConfig::default(),
        ))
        .unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for sport in 40000..40100u16 {
            let syn = ipv4_tcp(POD, SERVER, sport, 5432, 0x02);
            let out = dp.test_run(Hook::Pod, &syn, 0).unwrap();
            assert_eq!(out.verdict, REDIRECT, "{mode:?} sport {sport}");
            let (to, vni, inner) = decap(&out.packet);
            assert_eq!(vni, POLICY, "the policy's id is the VNI");
            assert_eq!(to, reference_pick(&gateways, sport, 5432), "sport {sport}");
            // The inner packet is the pod's, its TTL taken down by one hop.
            let (s, d, sp, dp_) = tuple4(&inner);
            assert_eq!((s, d, sp, dp_), (POD, SERVER, sport, 5432));
            assert_eq!(inner[22], 63);
            *seen.entry(to).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 2, "flows spread over both gateways: {seen:?}");
        assert_eq!(path(&dp, PathKind::EgressSteer), 100);
        // The excluded host, another pod, a destination outside the
        // policy: not the egress gateway's (routed natively here).
        for pkt in [
            ipv4_tcp(POD, EXCLUDED, 40000, 5432, 0x02),
            ipv4_tcp(OTHER_POD, SERVER, 40000, 5432, 0x02),
            ipv4_tcp(POD, Ipv4Addr::new(192, 0, 2, 10), 40000, 5432, 0x02),
        ] {
            let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
            assert_eq!(out.verdict, REDIRECT);
            assert_eq!(out.packet[12..14], [0x08, 0x00]);
            assert_eq!(out.packet[23], TCP, "not encapsulated");
        }
        assert_eq!(path(&dp, PathKind::EgressSteer), 100);
        assert!(dp.egress_conntrack().unwrap().is_empty());
    }
}

#[test]
fn the_gateway_translates_tunnelled_flows_and_their_replies_and_icmp_errors_come_back() {
    let mut dp = load(Mode::Geneve);
    dp.replace_tunnel_routes(&[(net("10.244.2.0/24"), IpAddr::V4(PEER_A))])
        .unwrap();
    dp.sync_egress(&state(
        vec![gw(NODE, EGRESS_A, true), gw(PEER_B, EGRESS_B, false)],
        EgressConfig::default(),
    ))
    .unwrap();
    // Find a flow that picks this node (the other gateway is not ours to
    // translate for: its flows never come here).
    let gateways = [(NODE, EGRESS_A), (PEER_B, EGRESS_B)];
    let syn = ipv4_tcp(REMOTE_POD, SERVER, 40000, 5432, 0x02);
    let out = dp
        .test_run(Hook::Uplink, &geneve(PEER_A, POLICY, &syn), 0)
        .unwrap();
    assert_eq!(out.verdict, REDIRECT, "translated and routed out");
    let (src, dst, port, dport) = tuple4(&out.packet);
    assert_eq!((src, dst, dport), (EGRESS_A, SERVER, 5432));
    assert_eq!(port, 40000, "the pod's own port, free");
    assert_eq!(out.packet[34 + 20..], syn[34 + 20..], "payload untouched");
    let _ = gateways;
    let ct = dp.egress_conntrack().unwrap();
    assert_eq!(ct.len(), 1, "{ct:?}");
    assert_eq!(ct[0].1.service_id, POLICY);
    assert_eq!(ct[0].1.port_b, port);
    assert!(ct[0].1.flags & CT_F_EGRESS != 0);
    // Later packets of the flow keep the port.
    let ack = ipv4_tcp(REMOTE_POD, SERVER, 40000, 5432, 0x10);
    let out = dp
        .test_run(Hook::Uplink, &geneve(PEER_A, POLICY, &ack), 0)
        .unwrap();
    assert_eq!(tuple4(&out.packet), (EGRESS_A, SERVER, port, 5432));
    assert_eq!(path(&dp, PathKind::EgressSnat), 2);

    // The reply to the egress IP goes back through the tunnel to the pod's
    // node, with the pod as its destination.
    let synack = ipv4_tcp(SERVER, EGRESS_A, 5432, port, 0x12);
    let out = dp.test_run(Hook::Uplink, &synack, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let (to, vni, inner) = decap(&out.packet);
    assert_eq!((to, vni), (PEER_A, VNI), "the datapath's own VNI");
    assert_eq!(tuple4(&inner), (SERVER, REMOTE_POD, 5432, 40000));
    assert_eq!(path(&dp, PathKind::EgressReply), 1);

    // An ICMP error about the flow (from a router on the way) reaches the
    // pod, quoting the packet as the pod sent it.
    let sent = ipv4_tcp(EGRESS_A, SERVER, port, 5432, 0x02);
    let router = Ipv4Addr::new(198, 51, 100, 1);
    let err = icmp4_error(router, EGRESS_A, 3, 1, &sent);
    let out = dp.test_run(Hook::Uplink, &err, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    let (_, _, inner) = decap(&out.packet);
    assert_eq!(csum(&inner[14..34]), 0, "IPv4 header checksum");
    assert_eq!(inner[23], 1, "ICMP");
    assert_eq!(inner[30..34], REMOTE_POD.octets(), "to the pod");
    let icmp = &inner[34..];
    assert_eq!(csum(icmp), 0, "ICMP checksum");
    let quoted = &icmp[8..];
    assert_eq!(
        quoted[12..16],
        REMOTE_POD.octets(),
        "quoted source: the pod"
    );
    assert_eq!(u16::from_be_bytes([quoted[20], quoted[21]]), 40000);
    assert_eq!(path(&dp, PathKind::EgressReply), 2);
}

#[test]
fn the_gateway_refuses_what_the_policy_does_not_allow_and_counts_it() {
    let mut dp = load(Mode::Geneve);
    dp.sync_egress(&state(
        vec![gw(NODE, EGRESS_A, true)],
        EgressConfig::default(),
    ))
    .unwrap();
    let cases: [(&str, Vec<u8>, DropReason); 6] = [
        (
            "a policy's VNI from a host that is no known node",
            geneve(
                Ipv4Addr::new(10, 0, 0, 9),
                POLICY,
                &ipv4_tcp(REMOTE_POD, SERVER, 1, 2, 0x02),
            ),
            DropReason::UnknownTunnelSource,
        ),
        (
            "an excluded destination",
            geneve(PEER_A, POLICY, &ipv4_tcp(REMOTE_POD, EXCLUDED, 1, 2, 0x02)),
            DropReason::EgressDenied,
        ),
        (
            "a destination outside the policy",
            geneve(
                PEER_A,
                POLICY,
                &ipv4_tcp(REMOTE_POD, Ipv4Addr::new(192, 0, 2, 10), 1, 2, 0x02),
            ),
            DropReason::EgressDenied,
        ),
        (
            "a source outside the policy",
            geneve(
                PEER_A,
                POLICY,
                &ipv4_tcp(Ipv4Addr::new(10, 99, 0, 1), SERVER, 1, 2, 0x02),
            ),
            DropReason::EgressDenied,
        ),
        (
            "a VNI that is neither ours nor a policy's",
            geneve(PEER_A, 0x777, &ipv4_tcp(REMOTE_POD, SERVER, 1, 2, 0x02)),
            DropReason::WrongVni,
        ),
        (
            "ICMP echo (no ports to translate)",
            geneve(PEER_A, POLICY, &icmp_echo(REMOTE_POD, SERVER)),
            DropReason::EgressUnsupported,
        ),
    ];
    for (what, frame, reason) in cases {
        let before = drops(&dp, reason);
        let out = dp.test_run(Hook::Uplink, &frame, 0).unwrap();
        assert_eq!(out.verdict, SHOT, "{what}");
        assert_eq!(
            drops(&dp, reason),
            before + 1,
            "{what}: counted as {reason:?}"
        );
    }
    assert!(dp.egress_conntrack().unwrap().is_empty());
    // A fragment of a steered flow, on the pod's side.
    let mut frag = ipv4_tcp(POD, SERVER, 40000, 5432, 0x02);
    frag[20] |= 0x20;
    frag[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&frag[14..34]);
    frag[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(dp.test_run(Hook::Pod, &frag, 0).unwrap().verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::EgressUnsupported), 2);
    // A policy without a healthy gateway drops its traffic (fail closed).
    dp.sync_egress(&state(Vec::new(), EgressConfig::default()))
        .unwrap();
    let syn = ipv4_tcp(POD, SERVER, 40000, 5432, 0x02);
    assert_eq!(dp.test_run(Hook::Pod, &syn, 0).unwrap().verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::EgressNoGateway), 1);
}

/// Ethernet + IPv4 ICMP echo request.
fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    let c = csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f.extend(ipv4_header(src, dst, 1, 64, 20 + icmp.len(), true));
    f.extend(icmp);
    f
}

#[test]
fn a_local_gateway_translates_in_place_ports_run_out_as_a_counted_drop_and_entries_are_collected() {
    let mut dp = load(Mode::Native);
    let tiny = EgressConfig::default().with_ports(2000..=2001);
    dp.sync_egress(&state(vec![gw(NODE, EGRESS_A, true)], tiny))
        .unwrap();
    let mut ports = Vec::new();
    for sport in [40000u16, 40001] {
        let syn = ipv4_tcp(POD, SERVER, sport, 5432, 0x02);
        let out = dp.test_run(Hook::Pod, &syn, 0).unwrap();
        assert_eq!(out.verdict, REDIRECT, "translated here and routed out");
        let (src, dst, port, dport) = tuple4(&out.packet);
        assert_eq!((src, dst, dport), (EGRESS_A, SERVER, 5432));
        ports.push(port);
    }
    ports.sort_unstable();
    assert_eq!(ports, [2000, 2001], "no two flows share a port");
    let syn = ipv4_tcp(POD, SERVER, 40002, 5432, 0x02);
    assert_eq!(dp.test_run(Hook::Pod, &syn, 0).unwrap().verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::EgressPortsExhausted), 1);
    // Another destination port is another port space.
    let syn = ipv4_tcp(POD, SERVER, 40002, 5433, 0x02);
    assert_eq!(dp.test_run(Hook::Pod, &syn, 0).unwrap().verdict, REDIRECT);
    // UDP never gets a tunnel port: with 4789-4790, one flow fits.
    let udp_range = EgressConfig::default().with_ports(4789..=4790);
    dp.sync_egress(&state(vec![gw(NODE, EGRESS_A, true)], udp_range))
        .unwrap();
    let mut udp = ipv4_udp(POD, SERVER, 64, 10, false);
    let out = dp.test_run(Hook::Pod, &udp, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    assert_eq!(tuple4(&out.packet).2, 4790);
    udp[34..36].copy_from_slice(&40001u16.to_be_bytes());
    assert_eq!(dp.test_run(Hook::Pod, &udp, 0).unwrap().verdict, SHOT);
    assert_eq!(drops(&dp, DropReason::EgressPortsExhausted), 2);
    // Collection: nothing is due now; at +7 h every entry is.
    let live = dp.conntrack().unwrap().len();
    assert_eq!(live, 2 * 4, "two entries per flow");
    assert_eq!(dp.conntrack_gc(monotonic_ns()).unwrap(), 0);
    assert_eq!(
        dp.conntrack_gc(monotonic_ns() + 7 * 3600 * 1_000_000_000)
            .unwrap(),
        live
    );
    assert!(dp.egress_conntrack().unwrap().is_empty());
}

#[test]
fn sync_writes_only_the_difference_and_no_policy_turns_the_lookups_off() {
    let mut dp = load(Mode::Geneve);
    let s = state(vec![gw(PEER_A, EGRESS_A, false)], EgressConfig::default());
    let first = dp.sync_egress(&s).unwrap();
    assert_eq!((first.written, first.removed), (1 + 3 + 2, 0));
    assert!(dp.egress_enabled());
    let again = dp.sync_egress(&s).unwrap();
    assert_eq!((again.written, again.removed), (0, 0));
    let mut fewer = s.clone();
    fewer.steer.pop();
    let d = dp.sync_egress(&fewer).unwrap();
    assert_eq!((d.written, d.removed), (0, 1));
    // The exclude is gone: the excluded host is steered now.
    let pkt = ipv4_tcp(POD, EXCLUDED, 40000, 5432, 0x02);
    let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
    assert_eq!(decap(&out.packet).1, POLICY);
    // No policy: the flag is off and pods' packets are left alone.
    let d = dp.sync_egress(&EgressState::default()).unwrap();
    assert_eq!(d.removed, 1 + 3 + 1);
    assert!(!dp.egress_enabled());
    let out = dp.test_run(Hook::Pod, &pkt, 0).unwrap();
    assert_eq!(out.packet[23], TCP, "not encapsulated");
    // A state that does not fit is refused whole.
    let mut bad = s.clone();
    bad.policies[0].gateways = vec![gw(PEER_A, EGRESS_A, false); 65];
    assert!(dp.sync_egress(&bad).is_err());
    assert!(dp.egress_conntrack().unwrap().is_empty());
}

#[test]
fn a_reset_closes_both_directions_and_the_flow_s_port_is_freed_after_the_closing_timeout() {
    let mut dp = load(Mode::Native);
    let one_port = EgressConfig::default().with_ports(2000..=2000);
    dp.sync_egress(&state(vec![gw(NODE, EGRESS_A, true)], one_port))
        .unwrap();
    // A connection: SYN, SYN-ACK, ACK, then the pod resets it.
    let syn = ipv4_tcp(POD, SERVER, 40000, 5432, 0x02);
    assert_eq!(dp.test_run(Hook::Pod, &syn, 0).unwrap().verdict, REDIRECT);
    let synack = ipv4_tcp(SERVER, EGRESS_A, 5432, 2000, 0x12);
    assert_eq!(
        dp.test_run(Hook::Uplink, &synack, 0).unwrap().verdict,
        REDIRECT
    );
    let ack = ipv4_tcp(POD, SERVER, 40000, 5432, 0x10);
    dp.test_run(Hook::Pod, &ack, 0).unwrap();
    let rst = ipv4_tcp(POD, SERVER, 40000, 5432, 0x04);
    dp.test_run(Hook::Pod, &rst, 0).unwrap();
    // Both entries are closing (the server never answers a reset) and
    // expire within the closing timeout (10 s).
    let now = assert_all_closing(&dp, 2);
    // The only port is busy until then; collected, it serves a new flow.
    let other = ipv4_tcp(POD, SERVER, 40001, 5432, 0x02);
    assert_eq!(dp.test_run(Hook::Pod, &other, 0).unwrap().verdict, SHOT);
    assert_eq!(dp.conntrack_gc(now + 11_000_000_000).unwrap(), 2);
    let out = dp.test_run(Hook::Pod, &other, 0).unwrap();
    assert_eq!(out.verdict, REDIRECT);
    assert_eq!(tuple4(&out.packet).2, 2000);
    // A reset from the server closes the pod's side too.
    let rst = ipv4_tcp(SERVER, EGRESS_A, 5432, 2000, 0x14);
    dp.test_run(Hook::Uplink, &rst, 0).unwrap();
    let ct = dp.conntrack().unwrap();
    assert!(
        ct.iter().all(|(_, e)| e.state == CT_STATE_CLOSING),
        "{ct:?}"
    );
}

#[test]
fn the_pod_s_own_port_is_kept_when_free_and_a_reused_tuple_keeps_its_port() {
    let mut dp = load(Mode::Native);
    dp.sync_egress(&state(
        vec![gw(NODE, EGRESS_A, true)],
        EgressConfig::default(),
    ))
    .unwrap();
    let syn = ipv4_tcp(POD, SERVER, 40000, 5432, 0x02);
    let out = dp.test_run(Hook::Pod, &syn, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (EGRESS_A, SERVER, 40000, 5432));
    // Another pod with the same port towards the same server: the port is
    // taken, another one is given.
    dp.upsert_endpoint(
        IpAddr::V4(OTHER_POD),
        EndpointInfo {
            ifindex: 41,
            id: 2,
            pod_mac: POD_MAC,
            host_mac: HOST_MAC,
            flags: EP_FLAG_VETH_PEER,
        },
    )
    .unwrap();
    let mut s = state(vec![gw(NODE, EGRESS_A, true)], EgressConfig::default());
    s.steer.push(EgressSteerEntry {
        source: IpAddr::V4(OTHER_POD),
        destination: net("192.0.2.128/25"),
        policy_id: POLICY,
        excluded: false,
    });
    dp.sync_egress(&s).unwrap();
    let other = ipv4_tcp(OTHER_POD, SERVER, 40000, 5432, 0x02);
    let out = dp.test_run(Hook::Pod, &other, 0).unwrap();
    let (src, _, port, _) = tuple4(&out.packet);
    assert_eq!(src, EGRESS_A);
    assert_ne!(port, 40000, "taken by the first pod's flow");
    // The first pod resets its connection and reconnects from the same
    // port at once: the new connection takes the same port again.
    let rst = ipv4_tcp(POD, SERVER, 40000, 5432, 0x04);
    dp.test_run(Hook::Pod, &rst, 0).unwrap();
    let out = dp.test_run(Hook::Pod, &syn, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (EGRESS_A, SERVER, 40000, 5432));
    let flows = dp.egress_conntrack().unwrap();
    assert_eq!(flows.len(), 2, "one per pod tuple: {flows:?}");
    assert_eq!(dp.conntrack().unwrap().len(), 4, "and one reply entry each");
    // The reply reaches the reopened connection.
    let synack = ipv4_tcp(SERVER, EGRESS_A, 5432, 40000, 0x12);
    let out = dp.test_run(Hook::Uplink, &synack, 0).unwrap();
    assert_eq!(tuple4(&out.packet), (SERVER, POD, 5432, 40000));
}
