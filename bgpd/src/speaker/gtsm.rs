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
//!
//! The socket options and the filter themselves are tern_netlink::sockopt's;
//! this module decides which TTLs and which rules a socket gets.

use std::{io, net::IpAddr, os::fd::AsFd};

use ipnet::IpNet;
use tern_netlink::sockopt::{self, IpVersion};

pub use tern_netlink::sockopt::TtlRule;

/// The TTL (hop limit) a GTSM session sends with.
pub const GTSM_TTL: u8 = 255;

/// The least TTL a packet from a peer `hops` hops away arrives with.
pub fn min_ttl(hops: u8) -> u8 {
    GTSM_TTL.saturating_sub(hops.saturating_sub(1))
}

/// Turns GTSM on for a connection with `peer`, `hops` hops away.
pub fn apply(sock: impl AsFd, peer: IpAddr, hops: u8) -> io::Result<()> {
    let v = IpVersion::of(peer);
    // Linux: the outgoing TTL is set too, or a lone minimum disturbs it.
    sockopt::set_ttl(&sock, v, GTSM_TTL)?;
    sockopt::set_min_ttl(&sock, v, min_ttl(hops))
}

/// The dual-stack listening socket answers with TTL and hop limit 255 (its
/// SYN-ACKs must pass a GTSM peer's minimum; accepted connections get their
/// own TTL from the speaker).
pub fn prepare_listener(sock: impl AsFd) -> io::Result<()> {
    sockopt::set_ttl(&sock, IpVersion::V4, GTSM_TTL)?;
    sockopt::set_ttl(&sock, IpVersion::V6, GTSM_TTL)
}

/// Puts the filter for `rules` on the listening socket (or takes it off
/// when there are none): a packet from a rule's range below its minimum
/// TTL is dropped before TCP sees it.
pub fn set_listener_rules(listener: impl AsFd, rules: &[TtlRule]) -> io::Result<()> {
    sockopt::set_min_ttl_filter(listener, rules)
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

/// Sets the TTL options of a connection `peer` opened to us: GTSM
/// (`gtsm_hops`), or the TTL of its kind (`ttl`: 1 on directly connected
/// eBGP, the multihop TTL; else 64). False when GTSM cannot be set: the
/// connection is then not used.
pub(super) fn prepare_accepted(
    stream: &tokio::net::TcpStream,
    peer: IpAddr,
    gtsm_hops: Option<u8>,
    ttl: Option<u32>,
) -> bool {
    let result = match (gtsm_hops, ttl) {
        (Some(hops), _) => apply(stream, peer, hops),
        (None, ttl) => {
            let ttl = ttl.map_or(64, |t| u8::try_from(t).unwrap_or(GTSM_TTL));
            sockopt::set_ttl(stream, IpVersion::of(peer), ttl)
        }
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(peer = %peer, error = %e, "cannot set the session's TTL options: connection dropped");
            gtsm_hops.is_none()
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
        assert_eq!(sockopt::ttl(&v4, IpVersion::V4).unwrap(), 255);
        assert_eq!(sockopt::min_ttl(&v4, IpVersion::V4).unwrap(), 254);
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        apply(&v6, "::1".parse().unwrap(), 1).unwrap();
        assert_eq!(sockopt::ttl(&v6, IpVersion::V6).unwrap(), 255);
        assert_eq!(sockopt::min_ttl(&v6, IpVersion::V6).unwrap(), 255);
        // An IPv4 peer on an IPv6 (dual-stack) socket takes the IPv4 options.
        apply(&v6, "192.0.2.1".parse().unwrap(), 3).unwrap();
        assert_eq!(sockopt::min_ttl(&v6, IpVersion::V4).unwrap(), 253);
        prepare_listener(&v6).unwrap();
        assert_eq!(sockopt::ttl(&v6, IpVersion::V4).unwrap(), 255);
    }
}
