//! GTSM, the Generalized TTL Security Mechanism (RFC 5082):
//! `neighbor X ttl-security hops N`. The session's packets leave with TTL
//! (hop limit) 255 and the kernel drops every packet of the connection that
//! arrives with less than 256 - N (IP_MINTTL, IPV6_MINHOPCOUNT), so a
//! spoofer more than N hops away cannot reach the session.
//!
//! The options are set per connection: on each outgoing socket before it
//! connects, and on each accepted socket. One listening socket serves every
//! neighbor, so a minimum TTL there would apply to all of them, and setting
//! it on an accepted socket comes too late for what arrived with the
//! handshake (a non-GTSM peer's OPEN). The listener therefore carries a
//! socket filter (classic BPF, SO_ATTACH_FILTER) built from the GTSM
//! neighbors and listen ranges: a packet from one of them below its minimum
//! TTL is dropped before TCP sees it, from the SYN on; accepted sockets
//! inherit the filter. The listener sends with TTL 255 so that its SYN-ACK
//! passes a GTSM peer's check.
#![allow(unsafe_code)]

use std::{io, net::IpAddr, os::fd::AsRawFd};

use ipnet::IpNet;

/// The TTL (hop limit) a GTSM session sends with.
pub const GTSM_TTL: u8 = 255;

/// IP_MINTTL of <linux/in.h>.
const IP_MINTTL: libc::c_int = 21;
/// IPV6_MINHOPCOUNT of <linux/in6.h>.
const IPV6_MINHOPCOUNT: libc::c_int = 73;

/// The least TTL a packet from a peer `hops` hops away arrives with.
pub fn min_ttl(hops: u8) -> u8 {
    GTSM_TTL.saturating_sub(hops.saturating_sub(1))
}

fn set_int(sock: &impl AsRawFd, level: libc::c_int, name: libc::c_int, v: i32) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: the value is a c_int that lives across the call, and `len`
    // is its size; the kernel copies it and keeps no pointer.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&v).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the TTL (IPv4, also for IPv4 peers on an IPv6 socket) or hop limit
/// (IPv6) the socket's packets to `peer` leave with.
pub fn set_ttl(sock: &impl AsRawFd, peer: IpAddr, ttl: u8) -> io::Result<()> {
    match peer {
        IpAddr::V4(_) => set_int(sock, libc::IPPROTO_IP, libc::IP_TTL, i32::from(ttl)),
        IpAddr::V6(_) => set_int(
            sock,
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            i32::from(ttl),
        ),
    }
}

/// Turns GTSM on for a connection with `peer`, `hops` hops away.
pub fn apply(sock: &impl AsRawFd, peer: IpAddr, hops: u8) -> io::Result<()> {
    // Linux: the outgoing TTL is set too, or a lone minimum disturbs it.
    set_ttl(sock, peer, GTSM_TTL)?;
    let min = i32::from(min_ttl(hops));
    match peer {
        IpAddr::V4(_) => set_int(sock, libc::IPPROTO_IP, IP_MINTTL, min),
        IpAddr::V6(_) => set_int(sock, libc::IPPROTO_IPV6, IPV6_MINHOPCOUNT, min),
    }
}

/// The dual-stack listening socket answers with TTL and hop limit 255 (its
/// SYN-ACKs must pass a GTSM peer's minimum; accepted connections get their
/// own TTL from the speaker).
pub fn prepare_listener(sock: &impl AsRawFd) -> io::Result<()> {
    set_int(sock, libc::IPPROTO_IP, libc::IP_TTL, i32::from(GTSM_TTL))?;
    set_int(
        sock,
        libc::IPPROTO_IPV6,
        libc::IPV6_UNICAST_HOPS,
        i32::from(GTSM_TTL),
    )
}

/// Classic BPF opcodes (<linux/filter.h>).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_LD_B_ABS: u16 = 0x30;
const BPF_ALU_AND_K: u16 = 0x54;
const BPF_ALU_RSH_K: u16 = 0x74;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
/// SKF_NET_OFF: offsets from the network header (a TCP socket's filter
/// otherwise starts at the TCP header).
const SKF_NET_OFF: i32 = -0x0010_0000;
/// Keep the whole packet / drop it.
const ACCEPT: u32 = u32::MAX;
const DROP: u32 = 0;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn net_off(off: i32) -> u32 {
    (SKF_NET_OFF + off).cast_unsigned()
}

/// One source range and the least TTL its packets must arrive with (0:
/// none, for a neighbor without GTSM inside a GTSM range).
pub type TtlRule = (IpNet, u8);

/// The listener's filter for `rules`: the most specific rule matching a
/// packet's source decides; a packet no rule matches passes.
pub fn listener_filter(rules: &[TtlRule]) -> Vec<libc::sock_filter> {
    let mut rules = rules.to_vec();
    rules.sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (net, min) in &rules {
        match net {
            IpNet::V4(n) => {
                // 7 instructions: source & mask == net, then the TTL.
                v4.push(insn(BPF_LD_W_ABS, 0, 0, net_off(12)));
                v4.push(insn(BPF_ALU_AND_K, 0, 0, u32::from(n.netmask())));
                v4.push(insn(BPF_JMP_JEQ_K, 0, 4, u32::from(n.network())));
                v4.push(insn(BPF_LD_B_ABS, 0, 0, net_off(8)));
                v4.push(insn(BPF_JMP_JGE_K, 0, 1, u32::from(*min)));
                v4.push(insn(BPF_RET_K, 0, 0, ACCEPT));
                v4.push(insn(BPF_RET_K, 0, 0, DROP));
            }
            IpNet::V6(n) => {
                // 16 instructions: four masked words, then the hop limit.
                let mask = n.netmask().octets();
                let addr = n.network().octets();
                for w in 0..4usize {
                    let word = |b: &[u8; 16]| {
                        u32::from_be_bytes([b[4 * w], b[4 * w + 1], b[4 * w + 2], b[4 * w + 3]])
                    };
                    let off = 8 + 4 * i32::try_from(w).unwrap_or(0);
                    // From this jeq (index 2 + 3w) to the next rule (16).
                    let to_next = u8::try_from(16 - (2 + 3 * w) - 1).unwrap_or(0);
                    v6.push(insn(BPF_LD_W_ABS, 0, 0, net_off(off)));
                    v6.push(insn(BPF_ALU_AND_K, 0, 0, word(&mask)));
                    v6.push(insn(BPF_JMP_JEQ_K, 0, to_next, word(&addr)));
                }
                v6.push(insn(BPF_LD_B_ABS, 0, 0, net_off(7)));
                v6.push(insn(BPF_JMP_JGE_K, 0, 1, u32::from(*min)));
                v6.push(insn(BPF_RET_K, 0, 0, ACCEPT));
                v6.push(insn(BPF_RET_K, 0, 0, DROP));
            }
        }
    }
    v4.push(insn(BPF_RET_K, 0, 0, ACCEPT));
    v6.push(insn(BPF_RET_K, 0, 0, ACCEPT));
    // Dispatch on the IP version; the sections are reached with `ja`,
    // whose offset is 32 bits wide.
    let v4_at = 7u32;
    let v6_at = v4_at + u32::try_from(v4.len()).unwrap_or(u32::MAX);
    let mut prog = vec![
        insn(BPF_LD_B_ABS, 0, 0, net_off(0)),
        insn(BPF_ALU_RSH_K, 0, 0, 4),
        insn(BPF_JMP_JEQ_K, 0, 1, 4),
        insn(BPF_JMP_JA, 0, 0, v4_at - 4),
        insn(BPF_JMP_JEQ_K, 0, 1, 6),
        insn(BPF_JMP_JA, 0, 0, v6_at - 6),
        insn(BPF_RET_K, 0, 0, ACCEPT),
    ];
    prog.extend(v4);
    prog.extend(v6);
    prog
}

/// Puts the filter for `rules` on the listening socket (or takes it off
/// when there are none).
pub fn set_listener_rules(sock: &impl AsRawFd, rules: &[TtlRule]) -> io::Result<()> {
    if rules.is_empty() {
        let v: libc::c_int = 0;
        let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
        // SAFETY: a c_int argument that lives across the call.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_DETACH_FILTER,
                std::ptr::from_ref(&v).cast::<libc::c_void>(),
                len,
            )
        };
        let e = io::Error::last_os_error();
        // ENOENT: there was no filter.
        return if rc == 0 || e.raw_os_error() == Some(libc::ENOENT) {
            Ok(())
        } else {
            Err(e)
        };
    }
    let prog = listener_filter(rules);
    if u16::try_from(prog.len()).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many GTSM neighbors",
        ));
    }
    tern_netlink::attach_socket_filter(sock, &prog)
}

/// The listener rules of a (resolved) configuration: each GTSM neighbor,
/// each listen range whose group has GTSM, and the other neighbors inside
/// such a range (without a minimum).
pub fn rules_of(config: &tern_bgp::config::BgpConfig) -> Vec<TtlRule> {
    let host = |a: IpAddr| IpNet::from(a);
    let mut rules: Vec<TtlRule> = Vec::new();
    for (range, group) in &config.listen_ranges {
        if let Some(h) = config.peer_groups.get(group).and_then(|g| g.ttl_security) {
            rules.push((*range, min_ttl(h)));
        }
    }
    for (addr, n) in &config.neighbors {
        match n.ttl_security {
            Some(h) => rules.push((host(*addr), min_ttl(h))),
            None if rules.iter().any(|(r, m)| *m > 0 && r.contains(addr)) => {
                rules.push((host(*addr), 0));
            }
            None => {}
        }
    }
    rules
}

impl super::Speaker {
    /// Rebuilds the listener's GTSM filter from the configuration in force.
    pub(super) fn apply_gtsm_filter(&self) {
        if let Err(e) = set_listener_rules(&self.listener_fd, &rules_of(&self.config)) {
            tracing::error!(error = %e, "cannot set the GTSM filter on the listening socket");
        }
    }
}

/// Sets the TTL options of a connection `peer` opened to us: GTSM, or
/// the TTL of its kind (1 on directly connected eBGP, the multihop TTL).
/// False when GTSM cannot be set: the connection is then not used.
pub(super) fn prepare_accepted(peer: &super::peer::Peer, stream: &tokio::net::TcpStream) -> bool {
    let result = match (peer.cfg.ttl_security, peer.ttl()) {
        (Some(hops), _) => apply(stream, peer.addr, hops),
        (None, Some(ttl)) => set_ttl(stream, peer.addr, u8::try_from(ttl).unwrap_or(GTSM_TTL)),
        (None, None) => set_ttl(stream, peer.addr, 64),
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(peer = %peer.addr, error = %e, "cannot set the session's TTL options: connection dropped");
            peer.cfg.ttl_security.is_none()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_ttl_per_rfc_5082() {
        assert_eq!(min_ttl(1), 255);
        assert_eq!(min_ttl(2), 254);
        assert_eq!(min_ttl(254), 2);
    }

    fn get_int(sock: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> i32 {
        let mut v: libc::c_int = 0;
        let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap();
        // SAFETY: v and len outlive the call and len is v's size.
        let rc = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                level,
                name,
                std::ptr::from_mut(&mut v).cast::<libc::c_void>(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        v
    }

    /// Connects to `to` sending with `ttl`; whether the handshake completes
    /// (a filtered SYN is dropped: no answer within the wait).
    fn handshake(to: std::net::SocketAddr, ttl: u8) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = match to {
                std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            }
            .unwrap();
            set_ttl(&s, to.ip(), ttl).unwrap();
            matches!(
                tokio::time::timeout(std::time::Duration::from_secs(2), s.connect(to)).await,
                Ok(Ok(_))
            )
        })
    }

    #[test]
    fn listener_filter_drops_low_ttl_from_gtsm_sources_only() {
        for (bind, me) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")] {
            let l = std::net::TcpListener::bind(bind).unwrap();
            let to = l.local_addr().unwrap();
            let me: IpAddr = me.parse().unwrap();
            // Another source is GTSM: ours passes whatever its TTL.
            let other: IpNet = if me.is_ipv4() {
                "192.0.2.0/24".parse().unwrap()
            } else {
                "2001:db8::/32".parse().unwrap()
            };
            set_listener_rules(&l, &[(other, 255)]).unwrap();
            assert!(handshake(to, 64), "{me}: not a GTSM source");
            // Our own address, GTSM one hop: TTL 64 is dropped, 255 passes.
            set_listener_rules(&l, &[(other, 255), (IpNet::from(me), min_ttl(1))]).unwrap();
            assert!(
                !handshake(to, 64),
                "{me}: below the minimum must be dropped"
            );
            assert!(handshake(to, 255), "{me}: TTL 255 passes");
            // A more specific rule without minimum inside a GTSM range wins.
            let range = IpNet::new(me, if me.is_ipv4() { 8 } else { 64 })
                .unwrap()
                .trunc();
            set_listener_rules(&l, &[(range, 255), (IpNet::from(me), 0)]).unwrap();
            assert!(handshake(to, 64), "{me}: exempt inside a GTSM range");
            set_listener_rules(&l, &[]).unwrap();
            assert!(handshake(to, 1), "{me}: filter removed");
        }
    }

    #[test]
    fn rules_follow_the_configuration() {
        let c = crate::config::Config::parse(
            "t",
            "router bgp 65001
 neighbor G peer-group
 neighbor G remote-as external
 neighbor G ttl-security hops 2
 bgp listen range 192.0.2.0/24 peer-group G
 neighbor 192.0.2.9 remote-as 65009
 neighbor 198.51.100.1 remote-as 65010
 neighbor 198.51.100.1 ttl-security hops 1
 neighbor 203.0.113.1 remote-as 65011
",
        )
        .unwrap();
        let mut rules = rules_of(&c.bgp.unwrap().resolved());
        rules.sort();
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(
            rules,
            vec![
                (n("192.0.2.0/24"), 254),
                (n("192.0.2.9/32"), 0),
                (n("198.51.100.1/32"), 255)
            ]
        );
    }

    #[test]
    fn options_reach_the_kernel() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        apply(&v4, "127.0.0.1".parse().unwrap(), 2).unwrap();
        assert_eq!(get_int(&v4, libc::IPPROTO_IP, libc::IP_TTL), 255);
        assert_eq!(get_int(&v4, libc::IPPROTO_IP, IP_MINTTL), 254);
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        apply(&v6, "::1".parse().unwrap(), 1).unwrap();
        assert_eq!(
            get_int(&v6, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
            255
        );
        assert_eq!(get_int(&v6, libc::IPPROTO_IPV6, IPV6_MINHOPCOUNT), 255);
        // An IPv4 peer on an IPv6 (dual-stack) socket takes the IPv4 options.
        apply(&v6, "192.0.2.1".parse().unwrap(), 3).unwrap();
        assert_eq!(get_int(&v6, libc::IPPROTO_IP, IP_MINTTL), 253);
    }
}
