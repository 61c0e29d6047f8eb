//! `show bfd peers`: what ternd's BFD task reports of its sessions, in the
//! terms of FRR bfdd's output (the CLI renders bfdd's text and JSON).
use serde::{Deserialize, Serialize};

/// One BFD session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdPeer {
    pub peer: std::net::IpAddr,
    /// The configured local address, else the one the kernel picks.
    pub local: Option<std::net::IpAddr>,
    pub interface: Option<String>,
    pub multihop: bool,
    pub id: u32,
    pub remote_id: u32,
    /// bfdd's words: "up", "down", "init", "shutdown".
    pub status: String,
    /// Seconds in Up (status "up") or in Down (status "down").
    pub since_secs: u64,
    /// bfdd's words for the diagnostics ("ok", "control detection time
    /// expired", ...).
    pub diagnostic: String,
    pub remote_diagnostic: String,
    /// A `peer` block exists for it ("configured"); else BGP asked for it
    /// ("dynamic").
    pub configured: bool,
    /// The configured timers, milliseconds.
    pub receive_interval_ms: u32,
    pub transmit_interval_ms: u32,
    pub detect_multiplier: u8,
    /// The peer's, from its last packet (milliseconds; echo 0: disabled).
    pub remote_receive_interval_ms: u32,
    pub remote_transmit_interval_ms: u32,
    pub remote_echo_receive_interval_ms: u32,
    pub remote_detect_multiplier: u8,
    /// Minimum TTL accepted (multihop).
    pub minimum_ttl: Option<u8>,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub up_events: u64,
    pub down_events: u64,
}
