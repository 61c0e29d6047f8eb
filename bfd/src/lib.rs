//! Bidirectional Forwarding Detection for Tern (RFC 5880; single hop RFC
//! 5881, multihop RFC 5883): the control packet codec ([`packet`]) and one
//! session's state machine ([`session`]). Sans-IO: ternd's BFD task owns
//! the sockets and the clock and feeds both.
pub mod packet;
pub mod session;

pub use packet::{ControlPacket, DecodeError, Diag, State};
pub use session::{Output, RxError, Session, SessionStats, Timers};

/// UDP port of single-hop BFD Control packets (RFC 5881 section 4).
pub const PORT_SINGLE_HOP: u16 = 3784;
/// UDP port of multihop BFD Control packets (RFC 5883 section 5).
pub const PORT_MULTIHOP: u16 = 4784;
/// Source ports a sender picks from (RFC 5881 section 4).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// TTL (hop limit) of single-hop packets, sent and required (RFC 5881
/// section 5, GTSM).
pub const SINGLE_HOP_TTL: u8 = 255;
