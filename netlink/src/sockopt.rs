//! Socket options that nix has no safe wrapper for, on Tern's own sockets:
//! TCP MD5 signatures (TCP_MD5SIG, RFC 2385), the TTL / hop limit packets
//! leave with (IP_TTL, IPV6_UNICAST_HOPS), the least TTL they must arrive
//! with (IP_MINTTL, IPV6_MINHOPCOUNT), and classic BPF socket filters
//! (SO_ATTACH_FILTER), among them a minimum TTL per source range.
//!
//! Small typed functions on a socket's fd; which key, TTL or filter a
//! socket gets is the caller's policy (ternd's GTSM and `neighbor
//! password`). The raw setsockopt/getsockopt calls are here and nowhere
//! else.
use std::{
    io,
    net::IpAddr,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
};

use ipnet::IpNet;
use nix::libc;

/// Which IP header an option is about. An IPv4 peer on an IPv6
/// (dual-stack) socket takes the IPv4 options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    /// The version of packets to or from `addr`.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }
}

/// IP_MINTTL of <linux/in.h>.
const IP_MINTTL: libc::c_int = 21;
/// IPV6_MINHOPCOUNT of <linux/in6.h>.
const IPV6_MINHOPCOUNT: libc::c_int = 73;

/// setsockopt(2) with `value` as the option's bytes.
#[allow(unsafe_code)]
fn set<T>(
    sock: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `value` is a live, initialised T of `len` bytes for the
    // call; the kernel copies what it reads and keeps no pointer.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// getsockopt(2) of an int option.
#[allow(unsafe_code)]
fn get_int(sock: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: `v` and `len` outlive the call and `len` is `v`'s size.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_mut(&mut v).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(v)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The level and name of the TTL and minimum-TTL options of `v`.
fn ttl_option(v: IpVersion) -> (libc::c_int, libc::c_int) {
    match v {
        IpVersion::V4 => (libc::IPPROTO_IP, libc::IP_TTL),
        IpVersion::V6 => (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
    }
}

fn min_ttl_option(v: IpVersion) -> (libc::c_int, libc::c_int) {
    match v {
        IpVersion::V4 => (libc::IPPROTO_IP, IP_MINTTL),
        IpVersion::V6 => (libc::IPPROTO_IPV6, IPV6_MINHOPCOUNT),
    }
}

/// Sets the TTL (IPv4) or hop limit (IPv6) the socket's packets leave with.
pub fn set_ttl(sock: impl AsFd, v: IpVersion, ttl: u8) -> io::Result<()> {
    let (level, name) = ttl_option(v);
    set(sock.as_fd(), level, name, &libc::c_int::from(ttl))
}

/// The TTL or hop limit the socket's packets leave with.
pub fn ttl(sock: impl AsFd, v: IpVersion) -> io::Result<u8> {
    let (level, name) = ttl_option(v);
    int_to_u8(get_int(sock.as_fd(), level, name)?)
}

/// Makes the kernel drop the connection's packets that arrive with a TTL
/// (hop limit) below `min` (IP_MINTTL, IPV6_MINHOPCOUNT).
pub fn set_min_ttl(sock: impl AsFd, v: IpVersion, min: u8) -> io::Result<()> {
    let (level, name) = min_ttl_option(v);
    set(sock.as_fd(), level, name, &libc::c_int::from(min))
}

/// The least TTL (hop limit) the socket accepts (0: any).
pub fn min_ttl(sock: impl AsFd, v: IpVersion) -> io::Result<u8> {
    let (level, name) = min_ttl_option(v);
    int_to_u8(get_int(sock.as_fd(), level, name)?)
}

fn int_to_u8(v: libc::c_int) -> io::Result<u8> {
    u8::try_from(v).map_err(|_| io::Error::other(format!("TTL option out of range: {v}")))
}

/// Longest TCP MD5 key the kernel accepts (TCP_MD5SIG_MAXKEYLEN).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// TCP_MD5SIG_EXT of <linux/tcp.h>: TCP_MD5SIG with the flags honoured.
const TCP_MD5SIG_EXT: libc::c_int = 32;
/// TCP_MD5SIG_FLAG_PREFIX: the key covers `prefixlen` bits of the address.
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

/// struct tcp_md5sig of <linux/tcp.h>.
#[repr(C)]
struct TcpMd5Sig {
    /// struct __kernel_sockaddr_storage (128 bytes, 8-aligned).
    addr: SockaddrStorage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: i32,
    key: [u8; MD5_MAX_KEY_LEN],
}

#[repr(C, align(8))]
struct SockaddrStorage([u8; 128]);

/// Installs (or, with an empty key, removes) the TCP MD5 key for `peer` on
/// a socket. `v6_socket`: the socket is AF_INET6 (a dual-stack listener),
/// so an IPv4 peer is given as its IPv4-mapped IPv6 address.
pub fn set_md5_key(sock: impl AsFd, peer: IpAddr, key: &[u8], v6_socket: bool) -> io::Result<()> {
    set_md5(sock.as_fd(), peer, None, key, v6_socket)
}

/// Installs (or, with an empty key, removes) the TCP MD5 key for every
/// address of `prefix` (TCP_MD5SIG_EXT with TCP_MD5SIG_FLAG_PREFIX). On an
/// AF_INET6 socket an IPv4 prefix goes in IPv4-mapped form, its length in
/// IPv4 bits.
pub fn set_md5_prefix_key(
    sock: impl AsFd,
    prefix: IpNet,
    key: &[u8],
    v6_socket: bool,
) -> io::Result<()> {
    set_md5(
        sock.as_fd(),
        prefix.network(),
        Some(prefix.prefix_len()),
        key,
        v6_socket,
    )
}

fn set_md5(
    sock: BorrowedFd<'_>,
    peer: IpAddr,
    prefix: Option<u8>,
    key: &[u8],
    v6_socket: bool,
) -> io::Result<()> {
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP MD5 password longer than {MD5_MAX_KEY_LEN} bytes"),
        ));
    }
    let mut addr = [0u8; 128];
    let family_v4 = u16::try_from(libc::AF_INET).unwrap_or(2);
    let family_v6 = u16::try_from(libc::AF_INET6).unwrap_or(10);
    match (peer, v6_socket) {
        (IpAddr::V4(v4), false) => {
            // sockaddr_in: family, port (0), address.
            addr[0..2].copy_from_slice(&family_v4.to_ne_bytes());
            addr[4..8].copy_from_slice(&v4.octets());
        }
        (IpAddr::V4(v4), true) => {
            addr[0..2].copy_from_slice(&family_v6.to_ne_bytes());
            addr[8..24].copy_from_slice(&v4.to_ipv6_mapped().octets());
        }
        (IpAddr::V6(v6), _) => {
            // sockaddr_in6: family, port, flowinfo, address, scope id.
            addr[0..2].copy_from_slice(&family_v6.to_ne_bytes());
            addr[8..24].copy_from_slice(&v6.octets());
        }
    }
    let mut sig = TcpMd5Sig {
        addr: SockaddrStorage(addr),
        flags: if prefix.is_some() {
            TCP_MD5SIG_FLAG_PREFIX
        } else {
            0
        },
        prefixlen: prefix.unwrap_or(0),
        keylen: u16::try_from(key.len()).unwrap_or(0),
        ifindex: 0,
        key: [0; MD5_MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    let name = if prefix.is_some() {
        TCP_MD5SIG_EXT
    } else {
        libc::TCP_MD5SIG
    };
    set(sock, libc::IPPROTO_TCP, name, &sig)
}

/// Classic BPF opcodes (<linux/filter.h>).
pub(crate) const BPF_LD_W_ABS: u16 = 0x20;
pub(crate) const BPF_LD_H_ABS: u16 = 0x28;
pub(crate) const BPF_LD_B_ABS: u16 = 0x30;
pub(crate) const BPF_ALU_AND_K: u16 = 0x54;
pub(crate) const BPF_ALU_RSH_K: u16 = 0x74;
pub(crate) const BPF_JMP_JA: u16 = 0x05;
pub(crate) const BPF_JMP_JEQ_K: u16 = 0x15;
pub(crate) const BPF_JMP_JGE_K: u16 = 0x35;
pub(crate) const BPF_RET_K: u16 = 0x06;
/// `BPF_RET_K` operands: keep the whole packet / drop it.
pub(crate) const ACCEPT: u32 = u32::MAX;
pub(crate) const DROP: u32 = 0;

/// One classic BPF instruction.
pub(crate) fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Puts a classic BPF program on a socket (SO_ATTACH_FILTER), replacing
/// any it had. The kernel copies the program.
pub fn attach_filter(sock: impl AsFd, prog: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        filter: prog.as_ptr().cast_mut(),
    };
    // `fprog` points at `prog`, which outlives the call.
    set(
        sock.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &fprog,
    )
}

/// Takes the socket's filter off (SO_DETACH_FILTER); no filter is no error.
pub fn detach_filter(sock: impl AsFd) -> io::Result<()> {
    match set(
        sock.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_DETACH_FILTER,
        &libc::c_int::from(0u8),
    ) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}

/// SKF_NET_OFF: offsets from the network header (a TCP socket's filter
/// otherwise starts at the TCP header).
const SKF_NET_OFF: i32 = -0x0010_0000;

fn net_off(off: i32) -> u32 {
    (SKF_NET_OFF + off).cast_unsigned()
}

/// One source range and the least TTL (hop limit) its packets must arrive
/// with (0: none, to exempt an address inside a wider range).
pub type TtlRule = (IpNet, u8);

/// A filter for `rules`, for a TCP socket: the most specific rule matching
/// a packet's source decides; a packet no rule matches passes.
pub fn min_ttl_filter(rules: &[TtlRule]) -> Vec<libc::sock_filter> {
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

/// Puts the [`min_ttl_filter`] for `rules` on a TCP socket (or takes the
/// socket's filter off when there are none). On a listening socket it acts
/// from the SYN on, and accepted sockets inherit it.
pub fn set_min_ttl_filter(sock: impl AsFd, rules: &[TtlRule]) -> io::Result<()> {
    if rules.is_empty() {
        return detach_filter(sock);
    }
    attach_filter(sock, &min_ttl_filter(rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sig_layout_matches_the_kernel() {
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn md5_keys_are_accepted_and_bounded() {
        let l = std::net::TcpListener::bind("[::1]:0").expect("bind");
        let v4: IpAddr = "192.0.2.1".parse().expect("v4");
        let v6: IpAddr = "2001:db8::1".parse().expect("v6");
        set_md5_key(&l, v4, b"s3cret", true).expect("v4 peer on v6 socket");
        set_md5_key(&l, v6, b"s3cret", true).expect("v6 peer");
        assert!(set_md5_key(&l, v6, &[b'x'; 81], true).is_err());
        let s = std::net::TcpListener::bind("127.0.0.1:0").expect("bind v4");
        set_md5_key(&s, v4, b"s3cret", false).expect("v4 socket");
        let net = |s: &str| s.parse::<IpNet>().expect("prefix");
        set_md5_prefix_key(&l, net("192.0.2.0/24"), b"s3cret", true).expect("v4 prefix");
        set_md5_prefix_key(&l, net("2001:db8::/64"), b"s3cret", true).expect("v6 prefix");
        set_md5_prefix_key(&l, net("192.0.2.0/24"), b"", true).expect("v4 prefix removed");
    }

    #[test]
    fn ttl_options_reach_the_kernel() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind v4");
        set_ttl(&v4, IpVersion::V4, 255).expect("IP_TTL");
        set_min_ttl(&v4, IpVersion::V4, 254).expect("IP_MINTTL");
        assert_eq!(ttl(&v4, IpVersion::V4).ok(), Some(255));
        assert_eq!(min_ttl(&v4, IpVersion::V4).ok(), Some(254));
        let v6 = std::net::TcpListener::bind("[::1]:0").expect("bind v6");
        set_ttl(&v6, IpVersion::V6, 1).expect("IPV6_UNICAST_HOPS");
        set_min_ttl(&v6, IpVersion::V6, 255).expect("IPV6_MINHOPCOUNT");
        assert_eq!(ttl(&v6, IpVersion::V6).ok(), Some(1));
        assert_eq!(min_ttl(&v6, IpVersion::V6).ok(), Some(255));
        // IPv4 options on an IPv6 (dual-stack) socket, for IPv4 peers.
        set_min_ttl(&v6, IpVersion::V4, 253).expect("IP_MINTTL on v6");
        assert_eq!(min_ttl(&v6, IpVersion::V4).ok(), Some(253));
    }

    /// Connects to `to` sending with `ttl`; whether the handshake completes
    /// (a filtered SYN is dropped: no answer within the wait).
    fn handshake(to: std::net::SocketAddr, ttl: u8) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let s = match to {
                std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            }
            .expect("socket");
            set_ttl(&s, IpVersion::of(to.ip()), ttl).expect("ttl");
            matches!(
                tokio::time::timeout(std::time::Duration::from_secs(2), s.connect(to)).await,
                Ok(Ok(_))
            )
        })
    }

    #[test]
    fn min_ttl_filter_drops_low_ttl_from_its_sources_only() {
        for (bind, me) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")] {
            let l = std::net::TcpListener::bind(bind).expect("bind");
            let to = l.local_addr().expect("local address");
            let me: IpAddr = me.parse().expect("address");
            // Another source has a minimum: ours passes whatever its TTL.
            let other: IpNet = if me.is_ipv4() {
                "192.0.2.0/24"
            } else {
                "2001:db8::/32"
            }
            .parse()
            .expect("prefix");
            set_min_ttl_filter(&l, &[(other, 255)]).expect("filter");
            assert!(handshake(to, 64), "{me}: not a filtered source");
            // Our own address, minimum 255: TTL 64 is dropped, 255 passes.
            set_min_ttl_filter(&l, &[(other, 255), (IpNet::from(me), 255)]).expect("filter");
            assert!(
                !handshake(to, 64),
                "{me}: below the minimum must be dropped"
            );
            assert!(handshake(to, 255), "{me}: TTL 255 passes");
            // A more specific rule without minimum inside a filtered range wins.
            let range = IpNet::new(me, if me.is_ipv4() { 8 } else { 64 })
                .expect("range")
                .trunc();
            set_min_ttl_filter(&l, &[(range, 255), (IpNet::from(me), 0)]).expect("filter");
            assert!(handshake(to, 64), "{me}: exempt inside a filtered range");
            set_min_ttl_filter(&l, &[]).expect("filter removed");
            assert!(handshake(to, 1), "{me}: filter removed");
            set_min_ttl_filter(&l, &[]).expect("no filter to remove");
        }
    }
}
