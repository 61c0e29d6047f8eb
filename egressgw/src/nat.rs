//! SNAT on the gateway: the port range and timeouts (`egress-gateway nat`
//! lines), and [`PortAllocator`], the reference model of how the datapath
//! picks a source port for a new flow. The eBPF programs allocate in the
//! kernel; they follow the rules here, and the tests of this file define the
//! behaviour both must have.
//!
//! # The port range
//! [`PortRange::default`] is 1024..=29999 (28,976 ports):
//! - below 1024 are the well-known ports, which some servers treat as
//!   privileged sources;
//! - 30000..=32767 is Kubernetes' default NodePort range: a gateway that is
//!   also a node may listen there;
//! - 32768..=60999 is Linux's default `net.ipv4.ip_local_port_range`, the
//!   ports the gateway's own sockets take, also from the egress IP when a
//!   route or a bind picks it: a translated flow must never hold the 4-tuple
//!   of one of them.
//!
//! Within the range, the tunnel ports (UDP 4789 VXLAN, UDP 6081 Geneve,
//! [`DEFAULT_RESERVED`]) are never given to UDP flows, so that a reply can
//! never be mistaken for a tunnel packet. The range holds more than 28,000
//! concurrent flows to one destination for every protocol.
//!
//! # One key, one port space
//! A port is unique per [`NatKey`] (egress IP, protocol, destination address,
//! destination port), as in Linux's NAT: the reply's 5-tuple (destination,
//! egress IP, port) tells the flows apart, so the same port serves flows to
//! other destinations at the same time.
//!
//! # How a port is picked ([`PortAllocator::allocate`])
//! Per key the allocator keeps the ports in use (in the datapath: the reverse
//! NAT entries themselves), their count, a cursor, and up to [`RECENT_PORTS`]
//! ports released lately. For a new flow:
//! 1. every port of the key is in use: [`NatError::Exhausted`] (a counted
//!    drop, never a crash);
//! 2. else a recently released port that is still free, oldest first;
//! 3. else the first free port from the cursor on, trying at most
//!    [`MAX_PROBES`] ports (reserved ones count); the cursor moves past the
//!    port taken. When none of them is free: [`NatError::Busy`], and the
//!    cursor moves past the ports tried, so the flow's retransmission looks
//!    further on.
//!
//! A key's cursor starts at a hash of the key under a per-gateway secret plus
//! a counter of allocations (RFC 6056's hash-based selection, algorithm 3):
//! ports are not guessable from outside, and successive flows to one server
//! take successive ports even when the key's state was dropped in between.
//! Every step costs at most a constant (one recent port per release, at most
//! [`MAX_PROBES`] probes), so allocation is O(1); a key's state goes away with
//! its last port.
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{EgressError, NatError};
use crate::hash::{addr_bytes, fmix64, fnv1a64};

/// First port of the default SNAT range.
pub const DEFAULT_PORT_MIN: u16 = 1024;
/// Last port of the default SNAT range.
pub const DEFAULT_PORT_MAX: u16 = 29_999;
/// Ports tried from the cursor for one new flow.
pub const MAX_PROBES: u32 = 64;
/// Released ports a key remembers for reuse.
pub const RECENT_PORTS: usize = 16;
/// Longest NAT timeout, in seconds (one week).
pub const MAX_TIMEOUT: u32 = 7 * 86_400;
/// Ports never given to a flow of that protocol: the tunnels' UDP ports.
pub const DEFAULT_RESERVED: [(NatProto, u16); 2] = [(NatProto::Udp, 4789), (NatProto::Udp, 6081)];
/// The timeout names of `egress-gateway nat timeout KIND SECONDS`.
pub const TIMEOUT_KINDS: &str = "tcp-syn, tcp-established, tcp-closing or other";

/// The protocols the gateway translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatProto {
    Tcp,
    Udp,
    /// ICMP and ICMPv6 echo: the echo identifier takes the port's place.
    Icmp,
}

impl NatProto {
    pub fn as_str(self) -> &'static str {
        match self {
            NatProto::Tcp => "tcp",
            NatProto::Udp => "udp",
            NatProto::Icmp => "icmp",
        }
    }

    /// The protocol of an IP header's protocol / next header number.
    pub fn from_number(n: u8) -> Option<NatProto> {
        match n {
            6 => Some(NatProto::Tcp),
            17 => Some(NatProto::Udp),
            1 | 58 => Some(NatProto::Icmp),
            _ => None,
        }
    }

    /// A small number for map keys: 0 TCP, 1 UDP, 2 ICMP.
    pub fn index(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for NatProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The source ports SNAT may give, `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub min: u16,
    pub max: u16,
}

impl Default for PortRange {
    fn default() -> PortRange {
        PortRange {
            min: DEFAULT_PORT_MIN,
            max: DEFAULT_PORT_MAX,
        }
    }
}

impl PortRange {
    /// `min..=max`, with 1 <= min <= max <= 65535.
    pub fn new(min: u32, max: u32) -> Result<PortRange, EgressError> {
        match (u16::try_from(min), u16::try_from(max)) {
            (Ok(lo), Ok(hi)) if lo >= 1 && lo <= hi => Ok(PortRange { min: lo, max: hi }),
            _ => Err(EgressError::BadPortRange { min, max }),
        }
    }

    /// How many ports the range holds.
    pub fn len(&self) -> u32 {
        u32::from(self.max).saturating_sub(u32::from(self.min)) + 1
    }

    /// Never for a range made by [`PortRange::new`] or checked by
    /// [`PortRange::validate`]: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        self.min == 0 || self.min > self.max
    }

    /// The rule of [`PortRange::new`], for a range built otherwise (JSON).
    pub fn validate(&self) -> Result<(), EgressError> {
        PortRange::new(u32::from(self.min), u32::from(self.max)).map(|_| ())
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.min..=self.max).contains(&port)
    }

    /// The port at `offset` (taken modulo the length).
    fn port_at(&self, offset: u32) -> u16 {
        // min + (offset mod len) <= max, which fits in u16.
        u16::try_from(u32::from(self.min) + offset % self.len()).unwrap_or(self.max)
    }
}

/// How long an idle translation lives, in seconds, by the flow's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NatTimeouts {
    /// TCP before the handshake completes.
    pub tcp_syn: u32,
    pub tcp_established: u32,
    /// TCP after a FIN or a RST.
    pub tcp_closing: u32,
    /// UDP and ICMP.
    pub other: u32,
}

impl Default for NatTimeouts {
    /// Those of Tern's service conntrack (Cilium's defaults).
    fn default() -> NatTimeouts {
        NatTimeouts {
            tcp_syn: 60,
            tcp_established: 21_600,
            tcp_closing: 10,
            other: 60,
        }
    }
}

impl NatTimeouts {
    /// The timeout named `kind` (a word of [`TIMEOUT_KINDS`]).
    pub fn get(&self, kind: &str) -> Option<u32> {
        self.entries()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v)
    }

    /// Sets the timeout named `kind`; false if there is no such timeout.
    pub fn set(&mut self, kind: &str, seconds: u32) -> bool {
        let slot = match kind {
            "tcp-syn" => &mut self.tcp_syn,
            "tcp-established" => &mut self.tcp_established,
            "tcp-closing" => &mut self.tcp_closing,
            "other" => &mut self.other,
            _ => return false,
        };
        *slot = seconds;
        true
    }

    /// Every timeout with its config name.
    pub fn entries(&self) -> [(&'static str, u32); 4] {
        [
            ("tcp-syn", self.tcp_syn),
            ("tcp-established", self.tcp_established),
            ("tcp-closing", self.tcp_closing),
            ("other", self.other),
        ]
    }

    /// A timeout is 1 second to one week.
    pub fn check(seconds: u32) -> Result<(), EgressError> {
        if (1..=MAX_TIMEOUT).contains(&seconds) {
            Ok(())
        } else {
            Err(EgressError::BadTimeout {
                seconds,
                max: MAX_TIMEOUT,
            })
        }
    }

    /// Every timeout in range.
    pub fn validate(&self) -> Result<(), EgressError> {
        self.entries().iter().try_for_each(|(_, v)| Self::check(*v))
    }
}

/// The gateway's SNAT settings (`egress-gateway nat ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NatConfig {
    #[serde(default)]
    pub ports: PortRange,
    #[serde(default)]
    pub timeouts: NatTimeouts,
}

impl NatConfig {
    /// The port range and every timeout in range.
    pub fn validate(&self) -> Result<(), EgressError> {
        self.ports.validate()?;
        self.timeouts.validate()
    }
}

/// What a translated source port must be unique for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NatKey {
    pub egress_ip: IpAddr,
    pub proto: NatProto,
    pub dst: IpAddr,
    /// 0 for ICMP echo.
    pub dst_port: u16,
}

impl fmt::Display for NatKey {
    /// `egress-ip 203.0.113.10 to 192.0.2.130 port 5432 tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "egress-ip {} to {} port {} {}",
            self.egress_ip, self.dst, self.dst_port, self.proto
        )
    }
}

impl NatKey {
    /// FNV-1a 64 over `egress_ip[16] dst[16] dst_port (2, big-endian) proto
    /// index (1)`: what the cursor's start is derived from.
    pub fn hash(&self) -> u64 {
        let mut bytes = [0u8; 35];
        bytes[..16].copy_from_slice(&addr_bytes(self.egress_ip));
        bytes[16..32].copy_from_slice(&addr_bytes(self.dst));
        bytes[32..34].copy_from_slice(&self.dst_port.to_be_bytes());
        bytes[34] = self.proto.index();
        fnv1a64(&bytes)
    }
}

/// What the allocator did, for tests and `show egress-gateway nat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocatorStats {
    pub allocated: u64,
    pub released: u64,
    /// Allocations served from a key's recently released ports.
    pub from_recent: u64,
    /// Ports looked at from cursors (reserved ones included).
    pub probes: u64,
    pub busy: u64,
    pub exhausted: u64,
}

/// One key's state.
#[derive(Clone, Debug, Default)]
struct KeyState {
    /// Offset in the range of the next port to probe.
    cursor: u32,
    used: HashSet<u16>,
    recent: VecDeque<u16>,
}

/// The reference SNAT port allocator of one gateway (see the module's
/// documentation for the rules).
#[derive(Clone, Debug)]
pub struct PortAllocator {
    range: PortRange,
    reserved: HashSet<(NatProto, u16)>,
    secret: u64,
    /// Successful allocations, wrapping: added to a new key's start.
    counter: u32,
    keys: HashMap<NatKey, KeyState>,
    stats: AllocatorStats,
}

impl PortAllocator {
    /// An allocator over `range` (which must be valid) that never gives the
    /// `reserved` ports to their protocol; `secret` keys the cursors' starts
    /// (ternd draws it at random when it starts; tests fix it).
    pub fn new(
        range: PortRange,
        reserved: &[(NatProto, u16)],
        secret: u64,
    ) -> Result<PortAllocator, EgressError> {
        range.validate()?;
        Ok(PortAllocator {
            range,
            reserved: reserved.iter().copied().collect(),
            secret,
            counter: 0,
            keys: HashMap::new(),
            stats: AllocatorStats::default(),
        })
    }

    pub fn range(&self) -> PortRange {
        self.range
    }

    /// How many ports a key of `proto` can hold at once.
    pub fn capacity(&self, proto: NatProto) -> u32 {
        let reserved = self
            .reserved
            .iter()
            .filter(|(p, port)| *p == proto && self.range.contains(*port))
            .count();
        self.range
            .len()
            .saturating_sub(u32::try_from(reserved).unwrap_or(u32::MAX))
    }

    /// Where a new key's cursor starts: `fmix64(hash(key) ^ secret) +
    /// counter`, modulo the range's length.
    pub fn start_offset(&self, key: &NatKey) -> u32 {
        let h = fmix64(key.hash() ^ self.secret);
        let start = (h % u64::from(self.range.len())) as u32;
        (start + self.counter % self.range.len()) % self.range.len()
    }

    /// A free source port for a new flow of `key`.
    pub fn allocate(&mut self, key: NatKey) -> Result<u16, NatError> {
        let capacity = self.capacity(key.proto);
        let start = self.start_offset(&key);
        let len = self.range.len();
        let range = self.range;
        let reserved = &self.reserved;
        let stats = &mut self.stats;
        let state = self.keys.entry(key).or_insert_with(|| KeyState {
            cursor: start,
            ..KeyState::default()
        });
        let in_use = u32::try_from(state.used.len()).unwrap_or(u32::MAX);
        if in_use >= capacity {
            stats.exhausted += 1;
            if state.used.is_empty() {
                self.keys.remove(&key);
            }
            return Err(NatError::Exhausted { key, capacity });
        }
        while let Some(port) = state.recent.pop_front() {
            if state.used.insert(port) {
                stats.from_recent += 1;
                stats.allocated += 1;
                self.counter = self.counter.wrapping_add(1);
                return Ok(port);
            }
        }
        let from = range.port_at(state.cursor);
        let probes = MAX_PROBES.min(len);
        for i in 0..probes {
            let offset = (state.cursor + i) % len;
            let port = range.port_at(offset);
            stats.probes += 1;
            if reserved.contains(&(key.proto, port)) {
                continue;
            }
            if state.used.insert(port) {
                state.cursor = (offset + 1) % len;
                stats.allocated += 1;
                self.counter = self.counter.wrapping_add(1);
                return Ok(port);
            }
        }
        state.cursor = (state.cursor + probes) % len;
        stats.busy += 1;
        Err(NatError::Busy {
            key,
            from,
            probed: probes,
            in_use,
            capacity,
        })
    }

    /// Gives back `port` of `key` (the flow's translation expired or was
    /// collected).
    pub fn release(&mut self, key: &NatKey, port: u16) -> Result<(), NatError> {
        let not_allocated = || NatError::NotAllocated { key: *key, port };
        let state = self.keys.get_mut(key).ok_or_else(not_allocated)?;
        if !state.used.remove(&port) {
            return Err(not_allocated());
        }
        self.stats.released += 1;
        if state.used.is_empty() {
            self.keys.remove(key);
        } else if state.recent.len() < RECENT_PORTS {
            state.recent.push_back(port);
        }
        Ok(())
    }

    /// Whether `port` is allocated for `key`.
    pub fn is_allocated(&self, key: &NatKey, port: u16) -> bool {
        self.keys.get(key).is_some_and(|s| s.used.contains(&port))
    }

    /// Ports of `key` in use.
    pub fn in_use(&self, key: &NatKey) -> u32 {
        self.keys
            .get(key)
            .map_or(0, |s| u32::try_from(s.used.len()).unwrap_or(u32::MAX))
    }

    /// Keys the allocator keeps state for: those with a port in use (and,
    /// rarely, one whose first attempt was Busy, to keep its cursor).
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    pub fn stats(&self) -> AllocatorStats {
        self.stats
    }
}

#[cfg(test)]
#[path = "nat_tests.rs"]
mod tests;
