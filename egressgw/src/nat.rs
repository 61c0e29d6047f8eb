//! SNAT on the gateway: the port range and timeouts (`egress-gateway nat`
//! lines), which ternd writes to the datapath.
//!
//! # The port range
//! [`PortRange::default`] is 1024..=65535: every port but the well-known
//! ones, which some servers treat as privileged sources. The egress IP is
//! no address of the gateway (it is only announced by BGP), so none of the
//! gateway's own sockets can hold a 4-tuple with it, and replies to it are
//! taken by the datapath before the stack sees them: no port needs to be
//! kept for anything else. Within the range, the tunnel ports (UDP 4789
//! VXLAN, UDP 6081 Geneve, [`DEFAULT_RESERVED`]) are never given to UDP
//! flows, so that a reply can never be mistaken for a tunnel packet.
//!
//! # How the datapath picks a port
//! A port is unique per (egress IP, protocol, destination address,
//! destination port), as in Linux's NAT: the reply's 5-tuple tells the
//! flows apart, so one port serves flows to other destinations at the same
//! time. The gateway's program keeps the pod's own source port when it is
//! in the range and free (as Linux's MASQUERADE does), else tries up to 32
//! ports from a point of the range the flow's hash chooses, in steps that
//! differ per try. A port is taken by inserting the flow's reply entry into
//! the conntrack map only if no entry holds that reply tuple (the map's own
//! atomic no-overwrite insert), so two CPUs never give one port twice. A
//! new connection on the tuple of a closing one (a pod that reuses its
//! source port) takes that connection's port again. When no try finds a
//! free port the packet is dropped and counted (`egress-ports-exhausted`).
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::EgressError;

/// First port of the default SNAT range.
pub const DEFAULT_PORT_MIN: u16 = tern_ebpf_common::egress::PORT_MIN;
/// Last port of the default SNAT range.
pub const DEFAULT_PORT_MAX: u16 = tern_ebpf_common::egress::PORT_MAX;
/// Longest NAT timeout, in seconds (one week).
pub const MAX_TIMEOUT: u32 = 7 * 86_400;
/// Ports never given to a flow of that protocol: the tunnels' UDP ports.
pub const DEFAULT_RESERVED: [(NatProto, u16); 2] = [
    (
        NatProto::Udp,
        tern_ebpf_common::egress::RESERVED_UDP_PORTS[0],
    ),
    (
        NatProto::Udp,
        tern_ebpf_common::egress::RESERVED_UDP_PORTS[1],
    ),
];
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

#[cfg(test)]
#[path = "nat_tests.rs"]
mod tests;
