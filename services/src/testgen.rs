//! Test helpers: a small deterministic generator and random valid services,
//! for the property-like loops of the tests.
use std::net::IpAddr;

use ipnet::IpNet;

use crate::maglev::next_prime;
use crate::model::{
    Algorithm, Announce, Backend, BackendState, Frontend, MIN_TABLE_SIZE, Protocol, Service,
    ServiceKind, TrafficPolicy,
};

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

    /// The address `prefix | low`, `low` random in 1..=250; `prefix` is the
    /// address bits of an IPv4 /24 (`v6` false) or an IPv6 /120.
    pub(crate) fn addr(&mut self, v6: bool, prefix: u128) -> IpAddr {
        let low = self.below(250) as u8 + 1;
        if v6 {
            IpAddr::from((prefix | u128::from(low)).to_be_bytes())
        } else {
            let p = (prefix as u32).to_be_bytes();
            IpAddr::from([p[0], p[1], p[2], low])
        }
    }
}

/// A random valid service named `name`: frontends in 198.51.TAG.0/24 or
/// 2001:db8:100:TAG::/64, backends in 10.244.0.0/22 or fd00::/118.
pub(crate) fn service(rng: &mut Rng, name: &str, tag: u8) -> Service {
    let mut s = Service::new(name);
    if rng.chance(4) {
        s.kind = ServiceKind::ClusterIp;
    }
    for _ in 0..rng.below(4) {
        let v6 = rng.chance(2);
        let base = if v6 {
            (0x2001_0db8_0100_0000_u128 | u128::from(tag)) << 64
        } else {
            0xc633_0000 | (u128::from(tag) << 8)
        };
        let f = Frontend::new(
            rng.addr(v6, base),
            [80, 443, 53, 8443][rng.below(4) as usize],
            if rng.chance(3) {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
        );
        if !s.frontends.contains(&f) {
            s.frontends.push(f);
        }
    }
    for _ in 0..rng.below(12) {
        let v6 = rng.chance(3);
        let subnet = u128::from(rng.below(4)) << 8;
        let base = if v6 {
            (0xfd00_u128 << 112) | subnet
        } else {
            0x0af4_0000 | subnet
        };
        let mut b = Backend::new(rng.addr(v6, base), 8080 + rng.below(3) as u16);
        if rng.chance(3) {
            b.weight = rng.below(100) as u16 + 1;
        }
        b.state = match rng.below(6) {
            0 => BackendState::Terminating,
            1 => BackendState::Maintenance,
            _ => BackendState::Active,
        };
        if !s
            .backends
            .iter()
            .any(|x| (x.addr, x.port) == (b.addr, b.port))
        {
            s.backends.push(b);
        }
    }
    if s.kind == ServiceKind::LoadBalancer {
        if rng.chance(3) {
            s.traffic_policy = TrafficPolicy::Local;
        }
        if rng.chance(4) {
            s.announce = Announce::Always;
        }
    }
    s.affinity_timeout = match rng.below(4) {
        0 => Some(10_800),
        1 => Some(rng.below(86_400) as u32 + 1),
        _ => None,
    };
    for _ in 0..rng.below(3) {
        let net = if rng.chance(2) {
            IpNet::new(IpAddr::from([192, 0, 2, 0]), 24 + rng.below(9) as u8)
        } else {
            IpNet::new(
                IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]),
                32 + rng.below(97) as u8,
            )
        };
        if let Ok(net) = net
            && !s.source_ranges.contains(&net.trunc())
        {
            s.source_ranges.push(net.trunc());
        }
    }
    s.algorithm = match rng.below(4) {
        0 => Algorithm::Random,
        1 => Algorithm::Maglev {
            table_size: next_prime(MIN_TABLE_SIZE + rng.below(100_000) as u32),
        },
        _ => Algorithm::default(),
    };
    s
}
