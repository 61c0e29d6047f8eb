//! Shared helpers of the datapath tests: packet builders, checksum checks,
//! counters and a private network namespace for the calling test thread.
#![allow(dead_code)]

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    process::Command,
};

use tern_ebpf::{
    Datapath,
    datapath::{DropReason, PathKind},
    services::{CT_STATE_CLOSING, monotonic_ns},
};

/// IP protocol numbers.
pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

/// MAC of the pod's interface in the packets built here.
pub const POD_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
/// MAC of the host-side veth (the pod's gateway) in the packets built here.
pub const HOST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];

/// TC_ACT_REDIRECT.
pub const REDIRECT: i32 = 7;
/// TC_ACT_SHOT.
pub const SHOT: i32 = 2;
/// TCX_NEXT / TC_ACT_UNSPEC: on to the stack.
pub const NEXT: i32 = -1;

/// One's complement checksum of `data` (0 when a header with its checksum
/// field is valid).
pub fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u32::from(w);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn eth(ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&POD_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// An IPv4 header (checksum filled in).
pub fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    total: usize,
    df: bool,
) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    if df {
        h[6] = 0x40;
    }
    h[8] = ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// Ethernet + IPv4 + UDP (ports 40000 -> 5001) with `payload` bytes of
/// pattern; UDP checksum 0.
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: usize, df: bool) -> Vec<u8> {
    let mut f = eth(0x0800);
    f.extend(ipv4_header(src, dst, 17, ttl, 28 + payload, df));
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&5001u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend((0..payload).map(|i| (i % 251) as u8));
    f
}

/// Ethernet + IPv6 + UDP (ports 40000 -> 5001) with `payload` bytes.
pub fn ipv6_udp(src: Ipv6Addr, dst: Ipv6Addr, hlim: u8, payload: usize) -> Vec<u8> {
    let mut f = eth(0x86dd);
    let plen = (8 + payload) as u16;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&plen.to_be_bytes());
    f.push(17);
    f.push(hlim);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&5001u16.to_be_bytes());
    f.extend_from_slice(&plen.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend((0..payload).map(|i| (i % 251) as u8));
    f
}

/// Runs `cmd` (through `sh -c`) in the calling thread's network namespace;
/// panics with its output when it fails.
pub fn sh(cmd: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Moves the calling test thread into a new, empty network namespace; it
/// goes away with the thread (and every device made in it).
pub fn private_netns() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET) needs root (CAP_SYS_ADMIN)");
    sh("ip link set lo up");
}

/// The ifindex of `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> u32 {
    nix::net::if_::if_nametoindex(name).unwrap_or_else(|e| panic!("ifindex of {name}: {e}"))
}

/// Ethernet + IPv4 + TCP (SYN unless `flags` says otherwise), checksums right.
pub fn ipv4_tcp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let payload = b"GET / HTTP/1.0\r\n\r\n";
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f.extend(ipv4_header(
        src,
        dst,
        TCP,
        64,
        20 + 20 + payload.len(),
        true,
    ));
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(payload);
    let c = l4_csum(&f[14..34], &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend(t);
    f
}

/// The L4 checksum over the pseudo header of `ip` (IPv4 or IPv6) and `l4`.
pub fn l4_csum(ip: &[u8], l4: &[u8]) -> u16 {
    let mut pseudo = Vec::new();
    if ip[0] >> 4 == 4 {
        pseudo.extend_from_slice(&ip[12..20]);
        pseudo.extend_from_slice(&[0, ip[9]]);
        pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    } else {
        pseudo.extend_from_slice(&ip[8..40]);
        pseudo.extend_from_slice(&(l4.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, ip[6]]);
    }
    pseudo.extend_from_slice(l4);
    csum(&pseudo)
}

/// (src, dst, sport, dport) of an IPv4 TCP/UDP frame, after checking that
/// the IPv4 header and the L4 checksums are valid.
pub fn tuple4(f: &[u8]) -> (Ipv4Addr, Ipv4Addr, u16, u16) {
    assert_eq!(csum(&f[14..34]), 0, "IPv4 header checksum");
    let l4 = &f[34..];
    if f[23] == TCP || l4[6..8] != [0, 0] {
        assert_eq!(l4_csum(&f[14..34], l4), 0, "L4 checksum");
    }
    (
        Ipv4Addr::new(f[26], f[27], f[28], f[29]),
        Ipv4Addr::new(f[30], f[31], f[32], f[33]),
        u16::from_be_bytes([l4[0], l4[1]]),
        u16::from_be_bytes([l4[2], l4[3]]),
    )
}

pub fn drops(dp: &Datapath, r: DropReason) -> u64 {
    dp.drop_counters()
        .unwrap()
        .into_iter()
        .find(|(x, _)| *x == r)
        .map(|(_, n)| n)
        .unwrap()
}

pub fn path(dp: &Datapath, p: PathKind) -> u64 {
    dp.path_counters()
        .unwrap()
        .into_iter()
        .find(|(x, _)| *x == p)
        .map(|(_, n)| n)
        .unwrap()
}

/// Ethernet + IPv4 ICMP error (type, code) from `src` to `dst` quoting the
/// first 28 bytes of `quoted` (an IPv4 frame built here), checksums right.
pub fn icmp4_error(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let q = &quoted[14..14 + 28];
    let mut icmp = vec![ty, code, 0, 0, 0, 0, 0x05, 0x78];
    icmp.extend_from_slice(q);
    let c = csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![0u8; 14];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f.extend(ipv4_header(src, dst, 1, 64, 20 + icmp.len(), false));
    f.extend(icmp);
    f
}

/// Asserts that the conntrack holds exactly `entries` entries, all closing
/// and due within the default closing timeout (10 s); returns the time the
/// check took as "now" (CLOCK_MONOTONIC nanoseconds).
pub fn assert_all_closing(dp: &Datapath, entries: usize) -> u64 {
    let now = monotonic_ns();
    let ct = dp.conntrack().unwrap();
    assert_eq!(ct.len(), entries, "{ct:?}");
    for (k, e) in &ct {
        assert_eq!(e.state, CT_STATE_CLOSING, "{k:?}");
        assert!(
            e.expires <= now + 10_000_000_000,
            "{k:?}: the closing timeout"
        );
    }
    now
}
