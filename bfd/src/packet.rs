//! The BFD Control packet (RFC 5880 section 4.1): encoding, and decoding
//! with the reception checks of section 6.8.6 that need no session.
//!
//! Tern does not implement BFD authentication: a packet with the A bit set
//! is refused ([`DecodeError::Authentication`]), as section 6.8.6 asks of a
//! session without authentication configured.

/// The only BFD version (RFC 5880).
pub const VERSION: u8 = 1;
/// Length of a Control packet without authentication.
pub const LEN: usize = 24;
/// Shortest packet with the A bit set: header and a minimal auth section.
const LEN_WITH_AUTH: usize = 26;

/// Diagnostic codes (RFC 5880 section 4.1): why the sender's session last
/// left Up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diag {
    /// 0: No Diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31: reserved; kept as received.
    Reserved(u8),
}

impl Diag {
    /// The 5-bit code.
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(c) => c & 0x1f,
        }
    }

    /// The diagnostic of a 5-bit code.
    pub fn from_code(c: u8) -> Diag {
        match c & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Reserved(c),
        }
    }

    /// FRR bfdd's word for the diagnostic (`show bfd peers`).
    pub fn frr_name(self) -> &'static str {
        match self {
            Diag::None => "ok",
            Diag::ControlDetectionTimeExpired => "control detection time expired",
            Diag::EchoFunctionFailed => "echo function failed",
            Diag::NeighborSignaledDown => "neighbor signaled session down",
            Diag::ForwardingPlaneReset => "forwarding plane reset",
            Diag::PathDown => "path down",
            Diag::ConcatenatedPathDown => "concatenated path down",
            Diag::AdministrativelyDown => "administratively down",
            Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diag::Reserved(_) => "unknown",
        }
    }
}

/// Session states (RFC 5880 section 4.1, the Sta field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// 0
    AdminDown,
    /// 1
    Down,
    /// 2
    Init,
    /// 3
    Up,
}

impl State {
    /// The 2-bit code.
    pub fn code(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The state of a 2-bit code.
    pub fn from_code(c: u8) -> State {
        match c & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// FRR bfdd's word for the state (`Status:` of `show bfd peers`).
    pub fn frr_name(self) -> &'static str {
        match self {
            State::AdminDown => "shutdown",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

/// One BFD Control packet without authentication.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       My Discriminator                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Your Discriminator                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Desired Min TX Interval                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   Required Min RX Interval                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Required Min Echo RX Interval                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// Intervals are in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    /// P: the sender asks for verification of a parameter change.
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD is independent of its control plane.
    pub cpi: bool,
    /// D: the sender wants Demand mode.
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx_us: u32,
    pub required_min_rx_us: u32,
    pub required_min_echo_rx_us: u32,
}

/// Why a received packet is discarded (RFC 5880 section 6.8.6).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("packet of {0} bytes is shorter than a BFD Control packet (24)")]
    Short(usize),
    #[error("BFD version {0}, expected 1")]
    Version(u8),
    #[error("Length field {length} is below the minimum {min}")]
    LengthTooSmall { length: u8, min: usize },
    #[error("Length field {length} is more than the {payload} bytes received")]
    LengthBeyondPayload { length: u8, payload: usize },
    #[error("Detect Mult is zero")]
    DetectMultZero,
    #[error("Multipoint (M) bit is set")]
    Multipoint,
    #[error("My Discriminator is zero")]
    MyDiscriminatorZero,
    #[error("Your Discriminator is zero in state {0:?}")]
    YourDiscriminatorZero(State),
    #[error("authentication (A bit) is not supported")]
    Authentication,
    #[error("Poll and Final bits are both set")]
    PollAndFinal,
}

impl ControlPacket {
    /// The 24 bytes of the packet.
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = (VERSION << 5) | self.diag.code();
        let mut flags = self.state.code() << 6;
        if self.poll {
            flags |= 0x20;
        }
        if self.final_ {
            flags |= 0x10;
        }
        if self.cpi {
            flags |= 0x08;
        }
        if self.demand {
            flags |= 0x02;
        }
        b[1] = flags;
        b[2] = self.detect_mult;
        b[3] = LEN as u8;
        b[4..8].copy_from_slice(&self.my_discriminator.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_discriminator.to_be_bytes());
        b[12..16].copy_from_slice(&self.desired_min_tx_us.to_be_bytes());
        b[16..20].copy_from_slice(&self.required_min_rx_us.to_be_bytes());
        b[20..24].copy_from_slice(&self.required_min_echo_rx_us.to_be_bytes());
        b
    }

    /// Decodes a received UDP payload, with the checks of section 6.8.6
    /// that need no session. Never panics.
    pub fn decode(buf: &[u8]) -> Result<ControlPacket, DecodeError> {
        // The fixed part first; the Length field is checked against it.
        let Some(head) = buf.get(..LEN) else {
            return Err(DecodeError::Short(buf.len()));
        };
        let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let version = head[0] >> 5;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let flags = head[1];
        let auth = flags & 0x04 != 0;
        let length = head[3];
        let min = if auth { LEN_WITH_AUTH } else { LEN };
        if usize::from(length) < min {
            return Err(DecodeError::LengthTooSmall { length, min });
        }
        if usize::from(length) > buf.len() {
            return Err(DecodeError::LengthBeyondPayload {
                length,
                payload: buf.len(),
            });
        }
        let detect_mult = head[2];
        if detect_mult == 0 {
            return Err(DecodeError::DetectMultZero);
        }
        if flags & 0x01 != 0 {
            return Err(DecodeError::Multipoint);
        }
        let state = State::from_code(flags >> 6);
        let my_discriminator = word(4);
        let your_discriminator = word(8);
        if my_discriminator == 0 {
            return Err(DecodeError::MyDiscriminatorZero);
        }
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(DecodeError::YourDiscriminatorZero(state));
        }
        if auth {
            return Err(DecodeError::Authentication);
        }
        let poll = flags & 0x20 != 0;
        let final_ = flags & 0x10 != 0;
        // Section 6.5: a packet MUST NOT have both; such a sender is broken.
        if poll && final_ {
            return Err(DecodeError::PollAndFinal);
        }
        Ok(ControlPacket {
            diag: Diag::from_code(head[0]),
            state,
            poll,
            final_,
            cpi: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx_us: word(12),
            required_min_rx_us: word(16),
            required_min_echo_rx_us: word(20),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Up packet of FRR 8.4's bfdd (captured with tcpdump in a lab of
    /// two FRR nodes, lab/topologies/bfd with bfdd on both): diag 0, Up,
    /// detect mult 3, both discriminators 0x487ef7d9, 300 ms both ways,
    /// echo 50 ms.
    const FRR_UP: [u8; 24] = [
        0x20, 0xc0, 0x03, 0x18, 0x48, 0x7e, 0xf7, 0xd9, 0x48, 0x7e, 0xf7, 0xd9, 0x00, 0x04, 0x93,
        0xe0, 0x00, 0x04, 0x93, 0xe0, 0x00, 0x00, 0xc3, 0x50,
    ];
    /// The same bfdd's packet once its detection time expired: Down, diag
    /// 1, your discriminator 0.
    const FRR_DOWN: [u8; 24] = [
        0x21, 0x40, 0x03, 0x18, 0x48, 0x7e, 0xf7, 0xd9, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x93,
        0xe0, 0x00, 0x04, 0x93, 0xe0, 0x00, 0x00, 0xc3, 0x50,
    ];

    fn up() -> ControlPacket {
        ControlPacket {
            diag: Diag::None,
            state: State::Up,
            poll: false,
            final_: false,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x487e_f7d9,
            your_discriminator: 0x487e_f7d9,
            desired_min_tx_us: 300_000,
            required_min_rx_us: 300_000,
            required_min_echo_rx_us: 50_000,
        }
    }

    #[test]
    fn decodes_and_encodes_the_fixtures() {
        assert_eq!(ControlPacket::decode(&FRR_UP), Ok(up()));
        assert_eq!(up().encode(), FRR_UP);
        let down = ControlPacket::decode(&FRR_DOWN).expect("down packet");
        assert_eq!(down.state, State::Down);
        assert_eq!(down.diag, Diag::ControlDetectionTimeExpired);
        assert_eq!(down.your_discriminator, 0);
        assert_eq!(down.encode(), FRR_DOWN);
    }

    #[test]
    fn flags_round_trip() {
        for (poll, final_, cpi, demand) in [
            (true, false, false, false),
            (false, true, true, false),
            (false, false, false, true),
        ] {
            let p = ControlPacket {
                poll,
                final_,
                cpi,
                demand,
                diag: Diag::NeighborSignaledDown,
                ..up()
            };
            assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
        }
        for c in 0..32 {
            assert_eq!(Diag::from_code(c).code(), c);
        }
    }

    #[test]
    fn refuses_what_section_6_8_6_discards() {
        let with = |f: &dyn Fn(&mut [u8; 24])| {
            let mut b = FRR_UP;
            f(&mut b);
            ControlPacket::decode(&b)
        };
        assert_eq!(
            with(&|b| b[0] = 0x40),
            Err(DecodeError::Version(2)),
            "version 2"
        );
        assert_eq!(
            with(&|b| b[3] = 23),
            Err(DecodeError::LengthTooSmall {
                length: 23,
                min: 24
            })
        );
        assert_eq!(
            with(&|b| b[3] = 30),
            Err(DecodeError::LengthBeyondPayload {
                length: 30,
                payload: 24
            })
        );
        assert_eq!(with(&|b| b[2] = 0), Err(DecodeError::DetectMultZero));
        assert_eq!(with(&|b| b[1] |= 0x01), Err(DecodeError::Multipoint));
        assert_eq!(
            with(&|b| b[4..8].fill(0)),
            Err(DecodeError::MyDiscriminatorZero)
        );
        assert_eq!(
            with(&|b| b[8..12].fill(0)),
            Err(DecodeError::YourDiscriminatorZero(State::Up))
        );
        assert_eq!(
            with(&|b| {
                b[1] |= 0x04;
                b[3] = 24;
            }),
            Err(DecodeError::LengthTooSmall {
                length: 24,
                min: 26
            })
        );
        let mut long = FRR_UP.to_vec();
        long.extend_from_slice(&[1, 2, 0, 0]);
        long[1] |= 0x04;
        long[3] = 28;
        assert_eq!(
            ControlPacket::decode(&long),
            Err(DecodeError::Authentication)
        );
        assert_eq!(with(&|b| b[1] |= 0x30), Err(DecodeError::PollAndFinal));
        // Init with your discriminator zero is refused, Down and AdminDown
        // are not.
        assert_eq!(
            with(&|b| {
                b[1] = 0x80;
                b[8..12].fill(0);
            }),
            Err(DecodeError::YourDiscriminatorZero(State::Init))
        );
        assert!(
            with(&|b| {
                b[1] = 0x00;
                b[8..12].fill(0);
            })
            .is_ok()
        );
    }

    #[test]
    fn never_panics_on_short_or_odd_input() {
        for n in 0..LEN {
            assert_eq!(
                ControlPacket::decode(&FRR_UP[..n]),
                Err(DecodeError::Short(n))
            );
        }
        // Every value of the first four bytes over a fixed body: no panic.
        let mut b = FRR_UP.to_vec();
        b.extend_from_slice(&[0; 8]);
        for v in 0..=255u8 {
            for i in 0..4 {
                let mut c = b.clone();
                c[i] = v;
                let _ = ControlPacket::decode(&c);
            }
        }
        // Trailing bytes beyond Length are ignored.
        assert_eq!(ControlPacket::decode(&b), Ok(up()));
    }
}
