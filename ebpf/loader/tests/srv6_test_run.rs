//! BPF_PROG_TEST_RUN tests of the SRv6 L3VPN datapath: H.Encaps.Red from
//! pods in a VRF (one segment without an SRH, two and three with a reduced
//! SRH), End.DT4 / End.DT6 / End.DT46 decapsulation into the SID's VRF
//! table, every drop reason, malformed and truncated frames, and two VRFs
//! with the same addresses kept apart. tshark decodes the encapsulated
//! frames as an independent check. Each test runs in a private network
//! namespace of its own thread; needs root.
// Test helpers unwrap too (clippy.toml allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]
mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use tern_ebpf::{
    Datapath, DatapathConfig, Hook,
    datapath::{DropReason, IpKey, Mode, PathKind, REDIRECT_EGRESS, REDIRECT_NEIGH},
    srv6::{Behavior, Srv6Encap, Srv6State, Srv6SyncStats},
};

/// VRF "A" and "B": table ids.
const VRF_A: u32 = 100;
const VRF_B: u32 = 200;
/// The pods' addresses: the same in both VRFs.
const POD4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const POD6: Ipv6Addr = Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 2);
/// Another pod of VRF A on this node.
const POD4_C: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 3);
/// A remote pod (behind the remote PE).
const REMOTE4: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 5);
const REMOTE6: Ipv6Addr = Ipv6Addr::new(0xfd02, 0, 0, 0, 0, 0, 0, 5);
/// This node's address on the fabric, its next hops.
const NODE: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const PE2: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const P3: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3);

fn sid(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The remote PE's End.DT46 SIDs of VRF A and B (its locator fc00:0:2::/48).
fn remote_sid_a() -> Ipv6Addr {
    sid("fc00:0:2:e046::")
}
fn remote_sid_b() -> Ipv6Addr {
    sid("fc00:0:2:e146::")
}
/// Transit End SIDs of two routers on the way.
fn transit3() -> Ipv6Addr {
    sid("fc00:0:3::1")
}
fn transit4() -> Ipv6Addr {
    sid("fc00:0:4::1")
}
/// This node's locator and SIDs.
fn locator() -> ipnet::Ipv6Net {
    "fc00:0:1::/48".parse().unwrap()
}
fn dt4_a() -> Ipv6Addr {
    sid("fc00:0:1:e004::")
}
fn dt6_a() -> Ipv6Addr {
    sid("fc00:0:1:e006::")
}
fn dt46_b() -> Ipv6Addr {
    sid("fc00:0:1:e046::")
}
/// A SID whose VRF table does not exist.
fn dt46_nowhere() -> Ipv6Addr {
    sid("fc00:0:1:e300::")
}

/// The namespace's interfaces.
struct Lab {
    uplink: u32,
    pod_a: u32,
    pod_b: u32,
    pod_c: u32,
}

/// A private namespace with an uplink towards the fabric (routes to the
/// remote locators), three pod veths (A and C in VRF A, B in VRF B, pods
/// with the same addresses in A and B), their VRF tables, and a datapath
/// with the node's IPv6 address.
fn lab() -> (Datapath, Lab) {
    private_netns();
    sh(
        "ip link add tsup type veth peer name tsgw && ip link set tsup up && ip link set tsgw up \
        && ip -6 addr add fd00::1/64 dev tsup nodad \
        && ip -6 route add fc00:0:2::/48 via fd00::2 && ip -6 route add fc00:0:3::/48 via fd00::3 \
        && ip -6 route add fc00:0:4::/48 via fd00::3 \
        && for p in tsa tsb tsc; do ip link add $p type veth peer name ${p}p && ip link set $p up \
           && ip link set ${p}p up; done \
        && ip route add 10.1.0.2/32 dev tsa table 100 && ip -6 route add fd01::2/128 dev tsa table 100 \
        && ip route add 10.1.0.3/32 dev tsc table 100 \
        && ip route add 10.1.0.2/32 dev tsb table 200 && ip -6 route add fd01::2/128 dev tsb table 200 \
        && sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1",
    );
    let l = Lab {
        uplink: ifindex("tsup"),
        pod_a: ifindex("tsa"),
        pod_b: ifindex("tsb"),
        pod_c: ifindex("tsc"),
    };
    let mut dp = Datapath::load(None).expect("load the datapath (root needed)");
    dp.set_config(
        &DatapathConfig {
            uplink_ifindex: l.uplink,
            ..DatapathConfig::new(Mode::Native)
        }
        .with_local_v6(Some(NODE)),
    )
    .unwrap();
    dp.set_trace(true).unwrap();
    dp.set_vrf_iface(l.pod_a, VRF_A).unwrap();
    dp.set_vrf_iface(l.pod_c, VRF_A).unwrap();
    dp.set_vrf_iface(l.pod_b, VRF_B).unwrap();
    dp.upsert_srv6_locator(locator()).unwrap();
    dp.upsert_srv6_sid(dt4_a(), Behavior::EndDt4, VRF_A)
        .unwrap();
    dp.upsert_srv6_sid(dt6_a(), Behavior::EndDt6, VRF_A)
        .unwrap();
    dp.upsert_srv6_sid(dt46_b(), Behavior::EndDt46, VRF_B)
        .unwrap();
    dp.upsert_srv6_sid(dt46_nowhere(), Behavior::EndDt46, 300)
        .unwrap();
    (dp, l)
}

fn total_drops(dp: &Datapath) -> u64 {
    dp.drop_counters().unwrap().iter().map(|(_, n)| n).sum()
}

/// `f` (an IPv4 frame) with TOS `tos`, header checksum fixed.
fn with_tos(mut f: Vec<u8>, tos: u8) -> Vec<u8> {
    f[15] = tos;
    f[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

/// The L3 packet `l3` as forwarded once: TTL / hop limit minus one, the
/// IPv4 header checksum fixed.
fn forwarded(l3: &[u8]) -> Vec<u8> {
    let mut p = l3.to_vec();
    if p[0] >> 4 == 4 {
        p[8] -= 1;
        p[10..12].copy_from_slice(&[0, 0]);
        let c = csum(&p[0..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        p[7] -= 1;
    }
    p
}

/// An SRH (RFC 8754): `list` as written (last segment first).
fn srh(next: u8, segments_left: u8, last_entry: u8, list: &[Ipv6Addr]) -> Vec<u8> {
    let mut h = vec![
        next,
        (2 * list.len()) as u8,
        4,
        segments_left,
        last_entry,
        0,
        0,
        0,
    ];
    for s in list {
        h.extend_from_slice(&s.octets());
    }
    h
}

/// A frame from the fabric to `dst`: outer IPv6 (next header `nh`, hop
/// limit 63) carrying `ext` (extension headers) and `inner` (an L3 packet).
fn outer(dst: Ipv6Addr, nh: u8, ext: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&POD_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((ext.len() + inner.len()) as u16).to_be_bytes());
    f.push(nh);
    f.push(63);
    f.extend_from_slice(&PE2.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(ext);
    f.extend_from_slice(inner);
    f
}

/// An IPv4 packet from the remote pod to the local one (no Ethernet).
fn inner4(ttl: u8, payload: usize) -> Vec<u8> {
    ipv4_udp(REMOTE4, POD4, ttl, payload, true)[14..].to_vec()
}

/// An IPv6 packet from the remote pod to the local one (no Ethernet).
fn inner6(hlim: u8, payload: usize) -> Vec<u8> {
    ipv6_udp(REMOTE6, POD6, hlim, payload)[14..].to_vec()
}

/// Runs `pkt` through the program of `hook` arriving on `ifindex`, expects
/// a redirect and returns the output frame with the redirect's target.
fn redirected(dp: &mut Datapath, hook: Hook, pkt: &[u8], ifindex: u32) -> (Vec<u8>, u32, u32) {
    dp.clear_trace().unwrap();
    let out = dp.test_run(hook, pkt, ifindex).unwrap();
    assert_eq!(
        out.verdict,
        REDIRECT,
        "drops: {:?}",
        dp.drop_counters()
            .unwrap()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect::<Vec<_>>()
    );
    let t = dp
        .last_redirect()
        .unwrap()
        .expect("a redirect was recorded");
    (out.packet, t.kind, t.ifindex)
}

/// Checks the outer IPv6 header of an encapsulated frame `f` carrying an
/// inner packet of `inner_len` bytes; returns its next header.
fn check_outer(f: &[u8], dst: Ipv6Addr, srh_len: usize, inner_len: usize, tc: u8) -> u8 {
    assert_eq!(&f[12..14], &[0x86, 0xdd], "outer IPv6");
    assert_eq!(f[14] >> 4, 6);
    assert_eq!((f[14] << 4) | (f[15] >> 4), tc, "traffic class");
    assert_eq!(
        usize::from(u16::from_be_bytes([f[18], f[19]])),
        srh_len + inner_len,
        "payload length"
    );
    assert_eq!(f[21], 64, "hop limit");
    assert_eq!(&f[22..38], &NODE.octets(), "source: the node");
    assert_eq!(&f[38..54], &dst.octets(), "destination: the first SID");
    f[20]
}

#[test]
fn one_segment_encapsulates_ipv4_and_ipv6_without_an_srh() {
    let (mut dp, l) = lab();
    let policy = Srv6Encap::new(vec![remote_sid_a()]);
    dp.upsert_srv6_encap(VRF_A, "10.2.0.0/16".parse().unwrap(), &policy)
        .unwrap();
    dp.upsert_srv6_encap(VRF_A, "fd02::/64".parse().unwrap(), &policy)
        .unwrap();
    // IPv4, DSCP EF with ECT(1): the outer keeps the DSCP, not the ECN bits.
    let pkt = with_tos(ipv4_udp(POD4, REMOTE4, 64, 100, true), 0xb9);
    let (f, kind, target) = redirected(&mut dp, Hook::Pod, &pkt, l.pod_a);
    assert_eq!((kind, target), (REDIRECT_NEIGH, l.uplink));
    let t = dp.last_redirect().unwrap().unwrap();
    assert_eq!(t.nexthop, PE2.octets(), "routed on the outer header");
    assert_eq!(f.len(), pkt.len() + 40);
    assert_eq!(check_outer(&f, remote_sid_a(), 0, pkt.len() - 14, 0xb8), 4);
    assert_eq!(&f[0..12], &pkt[0..12], "MACs are redirect_neigh's to set");
    assert_eq!(f[54..], forwarded(&pkt[14..])[..], "inner: TTL 63");
    assert_eq!(csum(&f[54..74]), 0, "inner IPv4 header checksum");
    let flow_label = u32::from_be_bytes([0, f[15] & 0x0f, f[16], f[17]]);
    // The same flow, the same label.
    let (again, _, _) = redirected(&mut dp, Hook::Pod, &pkt, l.pod_a);
    assert_eq!(
        u32::from_be_bytes([0, again[15] & 0x0f, again[16], again[17]]),
        flow_label
    );
    // IPv6 in IPv6: next header 41.
    let pkt = ipv6_udp(POD6, REMOTE6, 64, 100);
    let (f, kind, target) = redirected(&mut dp, Hook::Pod, &pkt, l.pod_a);
    assert_eq!((kind, target), (REDIRECT_NEIGH, l.uplink));
    assert_eq!(check_outer(&f, remote_sid_a(), 0, pkt.len() - 14, 0), 41);
    assert_eq!(f[54..], forwarded(&pkt[14..])[..], "inner: hop limit 63");
    assert_eq!(path(&dp, PathKind::Srv6Encap), 3);
    assert_eq!(total_drops(&dp), 0);
}

/// The frames of a two- and a three-segment policy, with their inner packets.
fn multi_segment_frames(dp: &mut Datapath, l: &Lab) -> Vec<(Vec<u8>, Vec<u8>)> {
    dp.upsert_srv6_encap(
        VRF_A,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![transit3(), remote_sid_a()]),
    )
    .unwrap();
    dp.upsert_srv6_encap(
        VRF_A,
        "fd02::/64".parse().unwrap(),
        &Srv6Encap::new(vec![transit3(), transit4(), remote_sid_a()]),
    )
    .unwrap();
    let mut frames = Vec::new();
    for pkt in [
        ipv4_udp(POD4, REMOTE4, 64, 100, true),
        ipv6_udp(POD6, REMOTE6, 64, 100),
    ] {
        let (f, kind, target) = redirected(dp, Hook::Pod, &pkt, l.pod_a);
        assert_eq!((kind, target), (REDIRECT_NEIGH, l.uplink));
        let t = dp.last_redirect().unwrap().unwrap();
        assert_eq!(t.nexthop, P3.octets(), "towards the first segment");
        frames.push((f, pkt));
    }
    frames
}

#[test]
fn two_and_three_segments_get_a_reduced_srh_last_segment_first() {
    let (mut dp, l) = lab();
    let frames = multi_segment_frames(&mut dp, &l);
    // Two segments: the SRH lists only the second (the first is the DA).
    let (f, pkt) = &frames[0];
    let inner_len = pkt.len() - 14;
    assert_eq!(f.len(), pkt.len() + 40 + 8 + 16);
    assert_eq!(
        check_outer(f, transit3(), 24, inner_len, 0),
        43,
        "routing header"
    );
    let want = srh(4, 1, 0, &[remote_sid_a()]);
    assert_eq!(
        &f[54..78],
        &want[..],
        "next header 4, len 2, type 4, SL 1, LE 0"
    );
    assert_eq!(f[78..], forwarded(&pkt[14..])[..]);
    assert_eq!(csum(&f[78..98]), 0);
    // Three: SL 2, Last Entry 1, the list in reverse order.
    let (f, pkt) = &frames[1];
    let inner_len = pkt.len() - 14;
    assert_eq!(f.len(), pkt.len() + 40 + 8 + 32);
    assert_eq!(check_outer(f, transit3(), 40, inner_len, 0), 43);
    let want = srh(41, 2, 1, &[remote_sid_a(), transit4()]);
    assert_eq!(&f[54..94], &want[..]);
    assert_eq!(f[94..], forwarded(&pkt[14..])[..]);
    // Four segments fit (the most a policy holds); a fifth is refused.
    let four = Srv6Encap::new(vec![transit3(), transit4(), transit4(), remote_sid_a()]);
    dp.upsert_srv6_encap(VRF_A, "10.2.0.0/16".parse().unwrap(), &four)
        .unwrap();
    let pkt = ipv4_udp(POD4, REMOTE4, 64, 10, true);
    let (f, _, _) = redirected(&mut dp, Hook::Pod, &pkt, l.pod_a);
    assert_eq!(f.len(), pkt.len() + 96);
    assert_eq!(
        &f[54..110],
        &srh(4, 3, 2, &[remote_sid_a(), transit4(), transit4()])[..]
    );
    let mut five = four.clone();
    five.segments.push(remote_sid_b());
    assert!(
        dp.upsert_srv6_encap(VRF_A, "10.2.0.0/16".parse().unwrap(), &five)
            .is_err()
    );
    assert_eq!(total_drops(&dp), 0);
}

/// Writes `frames` as a pcap (Ethernet) and returns tshark's fields, one
/// line per frame, `|`-separated, repeated fields `,`-separated.
fn tshark(frames: &[Vec<u8>], fields: &[&str]) -> Vec<Vec<String>> {
    let mut pcap = Vec::new();
    pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, f) in frames.iter().enumerate() {
        pcap.extend_from_slice(&(i as u32).to_le_bytes());
        pcap.extend_from_slice(&0u32.to_le_bytes());
        pcap.extend_from_slice(&(f.len() as u32).to_le_bytes());
        pcap.extend_from_slice(&(f.len() as u32).to_le_bytes());
        pcap.extend_from_slice(f);
    }
    let path = std::env::temp_dir().join(format!("tern-srv6-{}.pcap", std::process::id()));
    std::fs::write(&path, &pcap).unwrap();
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-o", "ip.check_checksum:TRUE", "-r"])
        .arg(&path)
        .args(["-T", "fields", "-E", "separator=|", "-E", "aggregator=,"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs (Debian's tshark package)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn tshark_decodes_the_encapsulated_frames_as_srv6() {
    let (mut dp, l) = lab();
    let mut frames: Vec<Vec<u8>> = multi_segment_frames(&mut dp, &l)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    // And one segment, no SRH.
    dp.upsert_srv6_encap(
        VRF_A,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_a()]),
    )
    .unwrap();
    let pkt = ipv4_udp(POD4, REMOTE4, 64, 100, true);
    frames.push(redirected(&mut dp, Hook::Pod, &pkt, l.pod_a).0);
    let rows = tshark(
        &frames,
        &[
            "ipv6.dst",
            "ipv6.routing.type",
            "ipv6.routing.segleft",
            "ipv6.routing.srh.last_entry",
            "ipv6.routing.srh.addr",
            "ip.src",
            "ip.dst",
            "ip.ttl",
            "ip.checksum.status",
            "ipv6.hlim",
        ],
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    let want = [
        // IPv4 in IPv6 with two segments.
        vec![
            "fc00:0:3::1",
            "4",
            "1",
            "0",
            "fc00:0:2:e046::",
            "10.1.0.2",
            "10.2.0.5",
            "63",
            "1",
            "64",
        ],
        // IPv6 in IPv6 with three: the inner addresses follow the outer DA.
        vec![
            "fc00:0:3::1,fd02::5",
            "4",
            "2",
            "1",
            "fc00:0:2:e046::,fc00:0:4::1",
            "",
            "",
            "",
            "",
            "64,63",
        ],
        // One segment: no routing header.
        vec![
            "fc00:0:2:e046::",
            "",
            "",
            "",
            "",
            "10.1.0.2",
            "10.2.0.5",
            "63",
            "1",
            "64",
        ],
    ];
    for (row, want) in rows.iter().zip(want) {
        assert_eq!(row, &want, "tshark's reading");
    }
}

#[test]
fn end_dt4_dt6_and_dt46_decapsulate_into_the_sid_s_vrf_table() {
    let (mut dp, l) = lab();
    let sl0 = |nh, s| srh(nh, 0, 0, &[s]);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>, u32)> = vec![
        (
            "End.DT4, no SRH",
            outer(dt4_a(), 4, &[], &inner4(64, 50)),
            inner4(64, 50),
            l.pod_a,
        ),
        (
            "End.DT4, SRH with no segment left",
            outer(dt4_a(), 43, &sl0(4, dt4_a()), &inner4(64, 50)),
            inner4(64, 50),
            l.pod_a,
        ),
        (
            "End.DT6, SRH",
            outer(dt6_a(), 43, &sl0(41, dt6_a()), &inner6(64, 50)),
            inner6(64, 50),
            l.pod_a,
        ),
        (
            "End.DT46, IPv4",
            outer(dt46_b(), 4, &[], &inner4(64, 50)),
            inner4(64, 50),
            l.pod_b,
        ),
        (
            "End.DT46, IPv6 after a destination options header and an SRH",
            outer(
                dt46_b(),
                60,
                &[&[43u8, 0, 1, 4, 0, 0, 0, 0][..], &sl0(41, dt46_b())].concat(),
                &inner6(64, 50),
            ),
            inner6(64, 50),
            l.pod_b,
        ),
        (
            "End.DT4, the smallest IPv4 packet",
            outer(dt4_a(), 4, &[], &inner4(64, 0)),
            inner4(64, 0),
            l.pod_a,
        ),
    ];
    for (name, frame, inner, pod) in &cases {
        let (f, kind, target) = redirected(&mut dp, Hook::Uplink, frame, l.uplink);
        assert_eq!((kind, target), (REDIRECT_NEIGH, *pod), "{name}");
        let t = dp.last_redirect().unwrap().unwrap();
        let v6 = inner[0] >> 4 == 6;
        let want_nh = if v6 {
            IpKey::v6(POD6.octets())
        } else {
            IpKey::v4(POD4.octets())
        };
        assert_eq!(t.nexthop, want_nh.addr, "{name}: to the pod itself");
        assert_eq!(&f[0..12], &frame[0..12], "{name}");
        let et: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
        assert_eq!(f[12..14], et, "{name}");
        assert_eq!(f[14..], forwarded(inner)[..], "{name}: the inner packet");
        if !v6 {
            assert_eq!(csum(&f[14..34]), 0, "{name}: IPv4 header checksum");
        }
    }
    assert_eq!(path(&dp, PathKind::Srv6Decap), cases.len() as u64);
    assert_eq!(total_drops(&dp), 0);
}

#[test]
fn two_vrfs_with_the_same_addresses_stay_apart() {
    let (mut dp, l) = lab();
    // The same prefix in both VRFs, each towards its own remote SID; a
    // prefix VRF A has and B does not.
    dp.upsert_srv6_encap(
        VRF_A,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_a()]),
    )
    .unwrap();
    dp.upsert_srv6_encap(
        VRF_B,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_b()]),
    )
    .unwrap();
    dp.upsert_srv6_encap(
        VRF_A,
        "10.9.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_a()]),
    )
    .unwrap();
    let pkt = ipv4_udp(POD4, REMOTE4, 64, 40, true);
    let (fa, _, _) = redirected(&mut dp, Hook::Pod, &pkt, l.pod_a);
    let (fb, _, _) = redirected(&mut dp, Hook::Pod, &pkt, l.pod_b);
    assert_eq!(&fa[38..54], &remote_sid_a().octets(), "VRF A's SID");
    assert_eq!(&fb[38..54], &remote_sid_b().octets(), "VRF B's SID");
    let only_a = ipv4_udp(POD4, Ipv4Addr::new(10, 9, 0, 1), 64, 40, true);
    assert_eq!(
        dp.test_run(Hook::Pod, &only_a, l.pod_b).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::VrfNoRoute), 1, "B has no such route");
    // Decapsulated: VRF A's SID reaches A's pod, B's SID B's pod, the same
    // inner packet.
    for (s, pod) in [(dt4_a(), l.pod_a), (dt46_b(), l.pod_b)] {
        let frame = outer(s, 4, &[], &inner4(64, 40));
        let (_, kind, target) = redirected(&mut dp, Hook::Uplink, &frame, l.uplink);
        assert_eq!((kind, target), (REDIRECT_NEIGH, pod), "{s}");
    }
    // A pod of VRF A reaches another pod of A on this node through A's
    // table; B's pod does not (B's table has no such route).
    let to_c = ipv4_udp(POD4, POD4_C, 64, 40, true);
    let (f, kind, target) = redirected(&mut dp, Hook::Pod, &to_c, l.pod_a);
    assert_eq!((kind, target), (REDIRECT_NEIGH, l.pod_c));
    assert_eq!(f, [&to_c[..14], &forwarded(&to_c[14..])[..]].concat());
    assert_eq!(path(&dp, PathKind::VrfLocal), 1);
    assert_eq!(
        dp.test_run(Hook::Pod, &to_c, l.pod_b).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::VrfNoRoute), 2);
    // A VRF pod's packet to the main table's routes (the fabric) is not
    // routed there either.
    let to_fabric = ipv6_udp(POD6, PE2, 64, 10);
    assert_eq!(
        dp.test_run(Hook::Pod, &to_fabric, l.pod_a).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::VrfNoRoute), 3);
}

#[test]
fn a_vrf_pod_sends_only_from_its_own_addresses_in_its_vrf() {
    let (mut dp, l) = lab();
    dp.upsert_srv6_encap(
        VRF_A,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_a()]),
    )
    .unwrap();
    dp.upsert_srv6_encap(
        VRF_B,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_b()]),
    )
    .unwrap();
    // Pod A from its own addresses, pod B from the same ones in its VRF.
    redirected(
        &mut dp,
        Hook::Pod,
        &ipv4_udp(POD4, REMOTE4, 64, 10, true),
        l.pod_a,
    );
    redirected(
        &mut dp,
        Hook::Pod,
        &ipv4_udp(POD4, REMOTE4, 64, 10, true),
        l.pod_b,
    );
    let cases = [
        ("pod A from pod C's address", POD4_C, l.pod_a),
        ("pod C from pod A's address", POD4, l.pod_c),
        (
            "pod B from an address VRF B does not route",
            POD4_C,
            l.pod_b,
        ),
        (
            "pod A from nobody's address",
            Ipv4Addr::new(10, 1, 0, 99),
            l.pod_a,
        ),
    ];
    for (i, (what, src, ifindex)) in cases.iter().enumerate() {
        let pkt = ipv4_udp(*src, REMOTE4, 64, 10, true);
        assert_eq!(
            dp.test_run(Hook::Pod, &pkt, *ifindex).unwrap().verdict,
            SHOT,
            "{what}"
        );
        assert_eq!(
            drops(&dp, DropReason::SourceSpoofed),
            i as u64 + 1,
            "{what}"
        );
    }
    let spoofed6 = ipv6_udp(sid("fd01::99"), REMOTE6, 64, 10);
    assert_eq!(
        dp.test_run(Hook::Pod, &spoofed6, l.pod_a).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::SourceSpoofed), 5);
    // Neighbour discovery and the like still reach the stack.
    let nd = ipv6_udp(sid("fe80::5"), sid("fe80::1"), 255, 10);
    assert_eq!(dp.test_run(Hook::Pod, &nd, l.pod_a).unwrap().verdict, NEXT);
    assert_eq!(total_drops(&dp), 5);
}

#[test]
fn the_headend_answers_packets_too_big_for_the_fabric_and_counts_its_drops() {
    let (mut dp, l) = lab();
    sh("ip link set tsup mtu 1400");
    dp.upsert_srv6_encap(
        VRF_A,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_a()]),
    )
    .unwrap();
    dp.upsert_srv6_encap(
        VRF_A,
        "fd02::/64".parse().unwrap(),
        &Srv6Encap::new(vec![transit3(), transit4(), remote_sid_a()]),
    )
    .unwrap();
    // 1360 bytes + 40 fit 1400; 1361 do not: "fragmentation needed" with
    // 1360 back to the pod's veth.
    let fits = ipv4_udp(POD4, REMOTE4, 64, 1360 - 28, true);
    redirected(&mut dp, Hook::Pod, &fits, l.pod_a);
    let big = ipv4_udp(POD4, REMOTE4, 64, 1361 - 28, true);
    let (f, kind, target) = redirected(&mut dp, Hook::Pod, &big, l.pod_a);
    assert_eq!(
        (kind, target),
        (REDIRECT_EGRESS, l.pod_a),
        "back to the pod"
    );
    assert_eq!(f.len(), 14 + 20 + 8 + 28);
    assert_eq!((f[23], f[34], f[35]), (1, 3, 4), "ICMP type 3 code 4");
    assert_eq!(u16::from_be_bytes([f[40], f[41]]), 1360, "next-hop MTU");
    assert_eq!(csum(&f[34..]), 0);
    // IPv6 over three segments: 80 bytes of overhead, "packet too big" 1320.
    let big6 = ipv6_udp(POD6, REMOTE6, 64, 1400 - 48);
    let (f, kind, target) = redirected(&mut dp, Hook::Pod, &big6, l.pod_a);
    assert_eq!((kind, target), (REDIRECT_EGRESS, l.pod_a));
    assert_eq!((f[20], f[54]), (58, 2), "ICMPv6 packet too big");
    assert_eq!(u32::from_be_bytes([f[58], f[59], f[60], f[61]]), 1320);
    assert_eq!(path(&dp, PathKind::IcmpTooBig), 2);
    // Without DF it cannot be fragmented here: dropped.
    let big_nodf = ipv4_udp(POD4, REMOTE4, 64, 1361 - 28, false);
    assert_eq!(
        dp.test_run(Hook::Pod, &big_nodf, l.pod_a).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::MtuExceeded), 1);
    // TTL 1 leaves neither way.
    let expiring = ipv4_udp(POD4, REMOTE4, 1, 10, true);
    assert_eq!(
        dp.test_run(Hook::Pod, &expiring, l.pod_a).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::HopLimitExceeded), 1);
    // A first SID the fabric has no route to.
    dp.upsert_srv6_encap(
        VRF_A,
        "10.7.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![sid("fc00:0:99::1")]),
    )
    .unwrap();
    let lost = ipv4_udp(POD4, Ipv4Addr::new(10, 7, 0, 1), 64, 10, true);
    assert_eq!(
        dp.test_run(Hook::Pod, &lost, l.pod_a).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::NoRoute), 1);
    // No source address: neither the policy's nor the node's.
    dp.set_config(&DatapathConfig {
        uplink_ifindex: l.uplink,
        ..DatapathConfig::new(Mode::Native)
    })
    .unwrap();
    assert_eq!(
        dp.test_run(Hook::Pod, &fits, l.pod_a).unwrap().verdict,
        SHOT
    );
    assert_eq!(drops(&dp, DropReason::NoTunnel), 1);
    // The policy's own source serves, with its hop limit.
    let own = Srv6Encap {
        source: Some(sid("fc00:0:1::1")),
        hop_limit: Some(9),
        ..Srv6Encap::new(vec![remote_sid_a()])
    };
    dp.upsert_srv6_encap(VRF_A, "10.2.0.0/16".parse().unwrap(), &own)
        .unwrap();
    let (f, _, _) = redirected(&mut dp, Hook::Pod, &fits, l.pod_a);
    assert_eq!((f[21], &f[22..38]), (9, &sid("fc00:0:1::1").octets()[..]));
    assert_eq!(total_drops(&dp), 4);
}

/// An ICMPv6 "packet too big" (MTU `mtu`) from a router on the fabric to
/// this node about its SRv6 packet to `dst` (next header `nh`).
fn too_big_about(dst: Ipv6Addr, nh: u8, mtu: u32) -> Vec<u8> {
    let mut quoted = vec![0x60, 0, 0, 0, 0x05, 0x00, nh, 63];
    quoted.extend_from_slice(&NODE.octets());
    quoted.extend_from_slice(&dst.octets());
    quoted.extend_from_slice(&inner4(64, 20)[..20]);
    let mut icmp = vec![2, 0, 0, 0];
    icmp.extend_from_slice(&mtu.to_be_bytes());
    icmp.extend_from_slice(&quoted);
    let mut f = Vec::new();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&POD_MAC);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 64]);
    f.extend_from_slice(&sid("fd00::fe").octets());
    f.extend_from_slice(&NODE.octets());
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[22..54]);
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&icmp);
    let c = csum(&pseudo);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&icmp);
    f
}

#[test]
fn a_router_s_packet_too_big_about_an_srv6_packet_shrinks_the_path() {
    let (mut dp, l) = lab();
    dp.upsert_srv6_encap(
        VRF_A,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_a()]),
    )
    .unwrap();
    let big = ipv4_udp(POD4, REMOTE4, 64, 1300 - 28, true);
    redirected(&mut dp, Hook::Pod, &big, l.pod_a);
    // Not about ours: UDP to a port of no tunnel. Learnt: an IPv4-in-IPv6
    // packet from this node to the SID; the message goes on to the stack.
    assert_eq!(
        dp.test_run(
            Hook::Uplink,
            &too_big_about(remote_sid_a(), 17, 1300),
            l.uplink
        )
        .unwrap()
        .verdict,
        NEXT
    );
    assert!(dp.path_mtus(0).unwrap().is_empty());
    let msg = too_big_about(remote_sid_a(), 4, 1300);
    let out = dp.test_run(Hook::Uplink, &msg, l.uplink).unwrap();
    assert_eq!((out.verdict, out.packet), (NEXT, msg));
    let learnt = dp.path_mtus(0).unwrap();
    assert_eq!(learnt.len(), 1);
    assert_eq!(
        (learnt[0].0, learnt[0].1.mtu),
        (std::net::IpAddr::V6(remote_sid_a()), 1300)
    );
    assert_eq!(path(&dp, PathKind::PathMtuLearnt), 1);
    // 1300 bytes no longer fit with the 40 of the outer header: the pod is
    // told 1260; 1260 fit.
    let (f, kind, target) = redirected(&mut dp, Hook::Pod, &big, l.pod_a);
    assert_eq!((kind, target), (REDIRECT_EGRESS, l.pod_a));
    assert_eq!(u16::from_be_bytes([f[40], f[41]]), 1260);
    let fits = ipv4_udp(POD4, REMOTE4, 64, 1260 - 28, true);
    let (_, kind, _) = redirected(&mut dp, Hook::Pod, &fits, l.pod_a);
    assert_eq!(kind, REDIRECT_NEIGH);
    // An SRH-carrying packet is ours too; a forged 600 is taken as 1280.
    let msg = too_big_about(remote_sid_b(), 43, 600);
    assert_eq!(
        dp.test_run(Hook::Uplink, &msg, l.uplink).unwrap().verdict,
        NEXT
    );
    let learnt = dp.path_mtus(0).unwrap();
    assert!(
        learnt
            .iter()
            .any(|(a, m)| *a == std::net::IpAddr::V6(remote_sid_b()) && m.mtu == 1280)
    );
    assert_eq!(total_drops(&dp), 0);
}

#[test]
fn malformed_and_unwanted_packets_at_a_sid_are_dropped_by_reason() {
    let (dp, l) = lab();
    let i4 = inner4(64, 30);
    let i6 = inner6(64, 30);
    let mut cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        (
            "segments left 1 at an End.DT4 SID",
            outer(dt4_a(), 43, &srh(4, 1, 1, &[dt4_a(), dt4_a()]), &i4),
            DropReason::Srv6SegmentsLeft,
        ),
        (
            "segments left past last entry + 1",
            outer(dt4_a(), 43, &srh(4, 3, 0, &[dt4_a()]), &i4),
            DropReason::Srv6SegmentsLeft,
        ),
        (
            "segments left 1 in a routing header of another type",
            outer(dt4_a(), 43, &[4, 0, 3, 1, 0, 0, 0, 0], &i4),
            DropReason::Srv6SegmentsLeft,
        ),
        (
            "last entry 1 in an SRH with room for one SID",
            outer(dt4_a(), 43, &srh(4, 0, 1, &[dt4_a()]), &i4),
            DropReason::Srv6BadHeader,
        ),
        (
            "an extension header with no room for its first 8 bytes",
            outer(dt4_a(), 43, &[4, 0, 4, 0], &[]),
            DropReason::Srv6BadHeader,
        ),
        (
            "an address of the locator that is no SID",
            outer(sid("fc00:0:1:bad::"), 4, &[], &i4),
            DropReason::Srv6UnknownSid,
        ),
        (
            "IPv6 inside at an End.DT4 SID",
            outer(dt4_a(), 41, &[], &i6),
            DropReason::Srv6WrongInner,
        ),
        (
            "IPv4 inside at an End.DT6 SID",
            outer(dt6_a(), 43, &srh(4, 0, 0, &[dt6_a()]), &i4),
            DropReason::Srv6WrongInner,
        ),
        (
            "UDP straight after the header at an End.DT46 SID",
            outer(dt46_b(), 17, &[], &i4[20..]),
            DropReason::Srv6WrongInner,
        ),
        (
            "no next header after the SRH",
            outer(dt46_b(), 43, &srh(59, 0, 0, &[dt46_b()]), &[]),
            DropReason::Srv6WrongInner,
        ),
        (
            "inner TTL 1",
            outer(dt4_a(), 4, &[], &inner4(1, 30)),
            DropReason::HopLimitExceeded,
        ),
        (
            "inner hop limit 0",
            outer(dt46_b(), 41, &[], &inner6(0, 30)),
            DropReason::HopLimitExceeded,
        ),
        (
            "no route in the VRF table",
            outer(
                dt4_a(),
                4,
                &[],
                &ipv4_udp(REMOTE4, Ipv4Addr::new(10, 1, 0, 99), 64, 30, true)[14..],
            ),
            DropReason::VrfNoRoute,
        ),
        (
            "a SID whose VRF table does not exist",
            outer(dt46_nowhere(), 4, &[], &i4),
            DropReason::VrfNoRoute,
        ),
        (
            "inner IPv4 header with version 6",
            outer(dt4_a(), 4, &[], &{
                let mut p = i4.clone();
                p[0] = 0x65;
                p
            }),
            DropReason::BadHeader,
        ),
        (
            "outer cut short of its payload length",
            {
                let mut f = outer(dt4_a(), 4, &[], &i4);
                f.truncate(f.len() - 10);
                f
            },
            DropReason::Truncated,
        ),
    ];
    // The SRH's Hdr Ext Len past the payload.
    let mut f = outer(dt4_a(), 43, &srh(4, 0, 0, &[dt4_a()]), &i4);
    f[55] = 200;
    cases.push(("SRH longer than the payload", f, DropReason::Srv6BadHeader));
    // The outer payload length ends inside the inner packet (the frame
    // carries the rest as trailing bytes).
    let mut f = outer(dt4_a(), 4, &[], &i4);
    let short = (i4.len() - 8) as u16;
    f[18..20].copy_from_slice(&short.to_be_bytes());
    cases.push((
        "inner packet past the outer payload",
        f,
        DropReason::Srv6BadHeader,
    ));
    // The payload length ends inside the SRH.
    let mut f = outer(dt4_a(), 43, &srh(4, 0, 0, &[dt4_a()]), &i4);
    f[18..20].copy_from_slice(&16u16.to_be_bytes());
    cases.push(("SRH past the outer payload", f, DropReason::Srv6BadHeader));
    for (name, frame, reason) in &cases {
        let before = drops(&dp, *reason);
        let out = dp
            .test_run(Hook::Uplink, frame, l.uplink)
            .unwrap_or_else(|e| panic!("{name}: the kernel refused the frame: {e}"));
        assert_eq!(out.verdict, SHOT, "{name}: dropped");
        assert_eq!(
            drops(&dp, *reason),
            before + 1,
            "{name}: counted as {reason:?}"
        );
    }
    assert_eq!(total_drops(&dp), cases.len() as u64);
    // Not ours: the node's own address, another locator, IPv4. On to the
    // stack, untouched.
    for frame in [
        outer(NODE, 4, &[], &i4),
        outer(remote_sid_a(), 4, &[], &i4),
        ipv4_udp(REMOTE4, Ipv4Addr::new(10, 0, 0, 1), 64, 30, true),
    ] {
        let out = dp.test_run(Hook::Uplink, &frame, l.uplink).unwrap();
        assert_eq!(out.verdict, NEXT);
        assert_eq!(out.packet, frame);
    }
}

/// A deterministic byte source for the corruption test.
fn lcg(state: &mut u64) -> u8 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*state >> 56) as u8
}

#[test]
fn truncated_and_corrupted_frames_never_fail_a_run() {
    let (mut dp, l) = lab();
    dp.upsert_srv6_encap(
        VRF_A,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![transit3(), transit4(), remote_sid_a()]),
    )
    .unwrap();
    let at_sid = outer(
        dt46_b(),
        60,
        &[
            &[43u8, 0, 1, 4, 0, 0, 0, 0][..],
            &srh(4, 0, 1, &[dt46_b(), dt4_a()]),
        ]
        .concat(),
        &inner4(64, 30),
    );
    let from_pod = ipv4_udp(POD4, REMOTE4, 64, 30, true);
    let mut seed = 7u64;
    let mut runs = 0;
    // Cut anywhere past the outer IP header (the kernel refuses a test
    // frame without a whole one), or one byte changed anywhere.
    for (hook, ifindex, good, ip_len) in [
        (Hook::Uplink, l.uplink, &at_sid, 40),
        (Hook::Pod, l.pod_a, &from_pod, 20),
    ] {
        let mut frames: Vec<Vec<u8>> = (14 + ip_len..good.len())
            .map(|n| good[..n].to_vec())
            .collect();
        for i in 14..good.len() {
            for v in [0u8, 0xff, lcg(&mut seed)] {
                let mut f = good.clone();
                f[i] = v;
                frames.push(f);
            }
        }
        for f in &frames {
            let out = dp
                .test_run(hook, f, ifindex)
                .unwrap_or_else(|e| panic!("{hook:?} {f:02x?}: {e}"));
            assert!(
                [SHOT, NEXT, REDIRECT].contains(&out.verdict),
                "{hook:?} {f:02x?}: verdict {}",
                out.verdict
            );
            runs += 1;
        }
    }
    assert!(runs > 500);
}

#[test]
fn srv6_state_round_trips_and_the_lookups_run_only_while_it_exists() {
    private_netns();
    let mut dp = Datapath::load(None).unwrap();
    assert!(!dp.srv6_enabled());
    // Without SRv6 state, a packet to what would be a SID is not looked at.
    let frame = outer(dt4_a(), 4, &[], &inner4(64, 20));
    assert_eq!(dp.test_run(Hook::Uplink, &frame, 0).unwrap().verdict, NEXT);
    let in_locator = outer(sid("fc00:0:1:bad::"), 4, &[], &inner4(64, 20));
    dp.upsert_srv6_locator(locator()).unwrap();
    assert!(dp.srv6_enabled());
    assert_eq!(
        dp.test_run(Hook::Uplink, &in_locator, 0).unwrap().verdict,
        SHOT
    );
    dp.upsert_srv6_sid(dt4_a(), Behavior::EndDt4, VRF_A)
        .unwrap();
    dp.upsert_srv6_sid(dt46_b(), Behavior::EndDt46, VRF_B)
        .unwrap();
    dp.set_vrf_iface(7, VRF_A).unwrap();
    let p = Srv6Encap {
        source: Some(NODE),
        hop_limit: Some(12),
        ..Srv6Encap::new(vec![transit3(), remote_sid_a()])
    };
    dp.upsert_srv6_encap(VRF_A, "10.2.0.0/16".parse().unwrap(), &p)
        .unwrap();
    dp.upsert_srv6_encap(
        VRF_B,
        "10.2.0.0/16".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_b()]),
    )
    .unwrap();
    dp.upsert_srv6_encap(
        VRF_B,
        "fd02::/64".parse().unwrap(),
        &Srv6Encap::new(vec![remote_sid_b()]),
    )
    .unwrap();
    assert_eq!(dp.srv6_locators().unwrap(), vec![locator()]);
    assert_eq!(
        dp.srv6_sids().unwrap(),
        vec![
            (dt4_a(), Behavior::EndDt4, VRF_A),
            (dt46_b(), Behavior::EndDt46, VRF_B)
        ]
    );
    assert_eq!(dp.vrf_ifaces().unwrap(), vec![(7, VRF_A)]);
    let encaps = dp.srv6_encaps().unwrap();
    assert_eq!(encaps.len(), 3);
    assert_eq!(encaps[0], (VRF_A, "10.2.0.0/16".parse().unwrap(), p));
    assert_eq!(encaps[1].0, VRF_B);
    assert_eq!(encaps[2].1, "fd02::/64".parse::<ipnet::IpNet>().unwrap());
    // Refused: no segment, a multicast SID, the main table, a hop limit of 0.
    assert!(
        dp.upsert_srv6_encap(
            VRF_A,
            "10.3.0.0/16".parse().unwrap(),
            &Srv6Encap::new(vec![])
        )
        .is_err()
    );
    assert!(
        dp.upsert_srv6_sid(sid("ff02::1"), Behavior::EndDt6, VRF_A)
            .is_err()
    );
    assert!(dp.set_vrf_iface(8, 254).is_err());
    // A VRF interface is no endpoint's, and an endpoint's joins no VRF.
    let ep = tern_ebpf::datapath::EndpointInfo {
        ifindex: 7,
        id: 1,
        ..Default::default()
    };
    assert!(dp.upsert_endpoint(std::net::IpAddr::V4(POD4), ep).is_err());
    dp.upsert_endpoint(
        std::net::IpAddr::V4(POD4),
        tern_ebpf::datapath::EndpointInfo { ifindex: 9, ..ep },
    )
    .unwrap();
    assert!(dp.set_vrf_iface(9, VRF_A).is_err());
    assert_eq!(dp.vrf_of_iface(9).unwrap(), None);
    assert_eq!(dp.vrf_of_iface(7).unwrap(), Some(VRF_A));
    dp.remove_endpoint(std::net::IpAddr::V4(POD4)).unwrap();
    dp.set_vrf_iface(9, VRF_A).unwrap();
    assert!(dp.remove_vrf_iface(9).unwrap());
    let zero_hl = Srv6Encap {
        hop_limit: Some(0),
        ..Srv6Encap::new(vec![remote_sid_a()])
    };
    assert!(
        dp.upsert_srv6_encap(VRF_A, "10.3.0.0/16".parse().unwrap(), &zero_hl)
            .is_err()
    );
    // Removals, then the rest cleared: the lookups stop.
    assert!(
        dp.remove_srv6_encap(VRF_B, "fd02::/64".parse().unwrap())
            .unwrap()
    );
    assert!(
        !dp.remove_srv6_encap(VRF_B, "fd02::/64".parse().unwrap())
            .unwrap()
    );
    assert!(dp.remove_srv6_sid(dt4_a()).unwrap());
    assert!(!dp.remove_srv6_sid(dt4_a()).unwrap());
    assert!(dp.remove_vrf_iface(7).unwrap());
    assert!(dp.srv6_enabled());
    dp.clear_srv6().unwrap();
    assert!(!dp.srv6_enabled());
    assert!(dp.srv6_encaps().unwrap().is_empty());
    assert!(dp.srv6_sids().unwrap().is_empty());
    assert!(dp.srv6_locators().unwrap().is_empty());
    assert_eq!(
        dp.test_run(Hook::Uplink, &in_locator, 0).unwrap().verdict,
        NEXT
    );
    // The last removal turns them off too.
    dp.upsert_srv6_locator(locator()).unwrap();
    assert!(dp.srv6_enabled());
    assert!(dp.remove_srv6_locator(locator()).unwrap());
    assert!(!dp.srv6_enabled());
}

#[test]
fn a_sync_writes_only_the_difference_and_refuses_a_bad_state_whole() {
    private_netns();
    let mut dp = Datapath::load(None).unwrap();
    let p10: ipnet::IpNet = "10.2.0.0/16".parse().unwrap();
    let first = Srv6State {
        vrf_ifaces: vec![(7, VRF_A), (8, VRF_B)],
        encaps: vec![
            (VRF_A, p10, Srv6Encap::new(vec![remote_sid_a()])),
            (VRF_B, p10, Srv6Encap::new(vec![remote_sid_b()])),
        ],
        sids: vec![(dt4_a(), Behavior::EndDt4, VRF_A)],
        locators: vec![locator()],
    };
    assert_eq!(
        dp.sync_srv6(&first).unwrap(),
        Srv6SyncStats {
            written: 6,
            removed: 0
        }
    );
    assert!(dp.srv6_enabled());
    assert_eq!(dp.sync_srv6(&first).unwrap(), Srv6SyncStats::default());
    // One policy changed, a SID added; an interface and the locator gone.
    let second = Srv6State {
        vrf_ifaces: vec![(7, VRF_A)],
        encaps: vec![
            (VRF_A, p10, Srv6Encap::new(vec![remote_sid_a()])),
            (VRF_B, p10, Srv6Encap::new(vec![transit3(), remote_sid_b()])),
        ],
        sids: vec![
            (dt4_a(), Behavior::EndDt4, VRF_A),
            (dt46_b(), Behavior::EndDt46, VRF_B),
        ],
        locators: vec![],
    };
    assert_eq!(
        dp.sync_srv6(&second).unwrap(),
        Srv6SyncStats {
            written: 2,
            removed: 2
        }
    );
    assert_eq!(dp.vrf_ifaces().unwrap(), second.vrf_ifaces);
    assert_eq!(dp.srv6_encaps().unwrap(), second.encaps);
    assert_eq!(dp.srv6_sids().unwrap(), second.sids);
    assert!(dp.srv6_locators().unwrap().is_empty());
    // A state with one bad entry changes nothing.
    let mut bad = first.clone();
    bad.vrf_ifaces.push((9, 254));
    assert!(dp.sync_srv6(&bad).is_err());
    assert_eq!(dp.srv6_encaps().unwrap(), second.encaps);
    // Empty: everything removed, the lookups off.
    let st = dp.sync_srv6(&Srv6State::default()).unwrap();
    assert_eq!(st.removed, 5);
    assert!(!dp.srv6_enabled());
}

/// The kernel's figures for each program (`--nocapture` prints them).
#[test]
fn verifier_and_jit_figures_are_reported() {
    private_netns();
    let dp = Datapath::load(None).unwrap();
    for s in dp.program_stats().unwrap() {
        eprintln!(
            "{:22} verified insns {:>7} xlated {:>6} B jited {:>6} B",
            s.name,
            s.verified_insns.map_or("-".into(), |n| n.to_string()),
            s.translated_bytes.map_or("-".into(), |n| n.to_string()),
            s.jitted_bytes.map_or("-".into(), |n| n.to_string()),
        );
        assert!(s.translated_bytes.is_some(), "{}", s.name);
    }
}
