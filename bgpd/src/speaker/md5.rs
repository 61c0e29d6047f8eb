//! TCP MD5 signatures (RFC 2385) for BGP sessions: `neighbor X password`.
//!
//! The key is set per peer address with the TCP_MD5SIG socket option
//! (tern_netlink::sockopt), on the listening socket (for connections the
//! peer opens) and on each outgoing socket before it connects. A segment
//! without the right signature is dropped by the kernel, silently: a
//! password mismatch therefore looks like an unanswered connection, and the
//! speaker's log says so.

use std::{io, os::fd::AsFd};

/// Installs (or, with an empty key, removes) the MD5 key for a peer on a
/// socket; `v6_socket` on the dual-stack listener, false on an outgoing
/// socket of the peer's own family.
pub use tern_netlink::sockopt::set_md5_key as set_key;

/// Installs (or, with an empty key, removes) the key for every address of
/// `range` on the dual-stack listening socket: the key of a `bgp listen
/// range` whose peer-group has a password, needed before the first SYN.
pub fn set_range_key(listener: impl AsFd, range: ipnet::IpNet, key: &[u8]) -> io::Result<()> {
    tern_netlink::sockopt::set_md5_prefix_key(listener, range, key, true)
}
