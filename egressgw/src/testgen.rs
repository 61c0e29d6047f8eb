//! Test helpers: a small deterministic generator and random valid policies,
//! for the property-like loops of the tests.
use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{Gateway, Policy};

/// xorshift64*: the same sequence on every machine.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }

    /// A random normalised prefix inside `base` with length in
    /// `base.prefix_len()..=max_len`.
    pub(crate) fn prefix_in(&mut self, base: IpNet, max_len: u8) -> IpNet {
        let len = base.prefix_len() + self.below(u64::from(max_len - base.prefix_len()) + 1) as u8;
        let random = IpNet::new(self.addr_in(base), len).unwrap_or(base);
        random.trunc()
    }

    /// A random address inside `base`.
    pub(crate) fn addr_in(&mut self, base: IpNet) -> IpAddr {
        match base {
            IpNet::V4(n) => {
                let host = (self.next() as u32) & !u32::from(n.netmask());
                IpAddr::from((u32::from(n.network()) | host).to_be_bytes())
            }
            IpNet::V6(n) => {
                let r = (u128::from(self.next()) << 64) | u128::from(self.next());
                let host = r & !u128::from(n.netmask());
                IpAddr::from((u128::from(n.network()) | host).to_be_bytes())
            }
        }
    }
}

pub(crate) fn net(s: &str) -> IpNet {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A random valid policy named `name`: sources in 10.244.0.0/16 or
/// fd00::/48, namespaces of a small set, destinations in 192.0.2.0/24 /
/// 198.18.0.0/15 / 2001:db8::/32 with excludes inside them, gateways in
/// 198.51.100.0/24 with egress IPs in 203.0.113.0/24 or 2001:db8:ffff::/48
/// (each egress IP on one node: its last byte is the node's).
pub(crate) fn policy(rng: &mut Rng, name: &str) -> Policy {
    let mut p = Policy::new(name);
    for _ in 0..rng.below(4) {
        let base = if rng.chance(3) {
            net("fd00::/48")
        } else {
            net("10.244.0.0/16")
        };
        let s = rng.prefix_in(base, base.prefix_len() + 12);
        if !p.match_sources.contains(&s) {
            p.match_sources.push(s);
        }
    }
    for _ in 0..rng.below(3) {
        let ns = ["finance", "hr", "kube-system", "db-1"][rng.below(4) as usize].to_owned();
        if !p.match_namespaces.contains(&ns) {
            p.match_namespaces.push(ns);
        }
    }
    for _ in 0..rng.below(5) {
        let base = [
            net("192.0.2.0/24"),
            net("198.18.0.0/15"),
            net("2001:db8::/32"),
        ][rng.below(3) as usize];
        let d = rng.prefix_in(base, base.prefix_len() + 6);
        if !p.destinations.contains(&d) {
            p.destinations.push(d);
        }
    }
    for _ in 0..rng.below(4) {
        let Some(&d) = p.destinations.get(rng.below(5) as usize) else {
            continue;
        };
        if d.prefix_len() == d.max_prefix_len() {
            continue;
        }
        let mut inner = d;
        while inner == d {
            inner = rng.prefix_in(d, d.max_prefix_len());
        }
        if !p.excludes.contains(&inner) && !p.destinations.contains(&inner) {
            p.excludes.push(inner);
        }
    }
    let has = |v6: bool| p.destinations.iter().any(|d| d.addr().is_ipv6() == v6);
    let (v4, v6) = (has(false), has(true));
    for _ in 0..rng.below(4) {
        let node = rng.below(250) as u8 + 1;
        let six = match (v4, v6) {
            (true, true) => rng.chance(2),
            (false, true) => true,
            (true, false) => false,
            (false, false) => rng.chance(2),
        };
        let egress = if six {
            IpAddr::from([0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, u16::from(node)])
        } else {
            IpAddr::from([203, 0, 113, node])
        };
        // The node's address depends on its byte only, so that an egress
        // IP has one node in every generated policy.
        let node_addr = if node.is_multiple_of(5) {
            IpAddr::from([0x2001, 0xdb8, 0xeeee, 0, 0, 0, 0, u16::from(node)])
        } else {
            IpAddr::from([198, 51, 100, node])
        };
        let g = Gateway::new(node_addr, egress);
        if !p.gateways.iter().any(|x| x.egress_ip == egress) {
            p.gateways.push(g);
        }
    }
    p
}
