//! TCP MD5 signatures (RFC 2385) for BGP sessions: `neighbor X password`.
//!
//! The key is set per peer address with the TCP_MD5SIG socket option, on the
//! listening socket (for connections the peer opens) and on each outgoing
//! socket before it connects. A segment without the right signature is
//! dropped by the kernel, silently: a password mismatch therefore looks like
//! an unanswered connection, and the speaker's log says so.
#![allow(unsafe_code)]

use std::{io, net::IpAddr, os::fd::AsRawFd};

/// Longest key the kernel accepts (TCP_MD5SIG_MAXKEYLEN).
pub const MAX_KEY_LEN: usize = 80;

/// struct tcp_md5sig of <linux/tcp.h>.
#[repr(C)]
struct TcpMd5Sig {
    /// struct __kernel_sockaddr_storage (128 bytes, 8-aligned).
    addr: SockaddrStorage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: i32,
    key: [u8; MAX_KEY_LEN],
}

#[repr(C, align(8))]
struct SockaddrStorage([u8; 128]);

/// Installs (or, with an empty key, removes) the MD5 key for `peer` on a
/// socket. `v6_socket`: the socket is AF_INET6 (the dual-stack listener), so
/// an IPv4 peer is given as its IPv4-mapped IPv6 address.
pub fn set_key(sock: &impl AsRawFd, peer: IpAddr, key: &[u8], v6_socket: bool) -> io::Result<()> {
    set(sock, peer, None, key, v6_socket)
}

/// TCP_MD5SIG_EXT of <linux/tcp.h>: TCP_MD5SIG with the flags honoured.
const TCP_MD5SIG_EXT: libc::c_int = 32;
/// TCP_MD5SIG_FLAG_PREFIX: the key covers `prefixlen` bits of the address.
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

/// Installs (or, with an empty key, removes) the key for every address of
/// `range` on the dual-stack listening socket: the key of a `bgp listen
/// range` whose peer-group has a password, needed before the first SYN.
pub fn set_range_key(sock: &impl AsRawFd, range: ipnet::IpNet, key: &[u8]) -> io::Result<()> {
    // An IPv4 range goes in IPv4-mapped form, its length in IPv4 bits.
    set(sock, range.network(), Some(range.prefix_len()), key, true)
}

fn set(
    sock: &impl AsRawFd,
    peer: IpAddr,
    prefix: Option<u8>,
    key: &[u8],
    v6_socket: bool,
) -> io::Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP MD5 password longer than {MAX_KEY_LEN} bytes"),
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
        key: [0; MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    let len = libc::socklen_t::try_from(std::mem::size_of::<TcpMd5Sig>())
        .map_err(|_| io::Error::other("tcp_md5sig size"))?;
    // SAFETY: `sig` is a properly laid out struct tcp_md5sig that lives for
    // the call; the kernel only reads `len` bytes of it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            if prefix.is_some() {
                TCP_MD5SIG_EXT
            } else {
                libc::TCP_MD5SIG
            },
            (&raw const sig).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_kernel() {
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn keys_are_accepted_and_bounded() {
        let l = std::net::TcpListener::bind("[::1]:0").expect("bind");
        set_key(&l, "192.0.2.1".parse().unwrap(), b"s3cret", true).expect("v4 peer on v6 socket");
        set_key(&l, "2001:db8::1".parse().unwrap(), b"s3cret", true).expect("v6 peer");
        assert!(set_key(&l, "2001:db8::1".parse().unwrap(), &[b'x'; 81], true).is_err());
        let s = std::net::TcpListener::bind("127.0.0.1:0").expect("bind v4");
        set_key(&s, "192.0.2.1".parse().unwrap(), b"s3cret", false).expect("v4 socket");
        set_range_key(&l, "192.0.2.0/24".parse().unwrap(), b"s3cret").expect("v4 range");
        set_range_key(&l, "2001:db8::/64".parse().unwrap(), b"s3cret").expect("v6 range");
        set_range_key(&l, "192.0.2.0/24".parse().unwrap(), b"").expect("v4 range removed");
    }
}
