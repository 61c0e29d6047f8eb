//! GTSM, the Generalized TTL Security Mechanism (RFC 5082):
//! `neighbor X ttl-security hops N`. The session's packets leave with TTL
//! (hop limit) 255 and the kernel drops every packet of the connection that
//! arrives with less than 256 - N (IP_MINTTL, IPV6_MINHOPCOUNT), so a
//! spoofer more than N hops away cannot reach the session.
//!
//! The options are set per connection: on each outgoing socket before it
//! connects, and on each accepted socket as soon as the speaker knows its
//! neighbor (as FRR does: one listening socket serves every neighbor, so a
//! minimum TTL there would apply to all of them). The listening socket
//! sends with TTL 255 so that its SYN-ACK passes a GTSM peer's check.
#![allow(unsafe_code)]

use std::{io, net::IpAddr, os::fd::AsRawFd};

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
