//! Capabilities advertised in OPEN (RFC 5492): the ones a Tern speaker
//! negotiates are typed, anything else is kept as raw bytes so it can be
//! logged, compared and sent back unchanged.

use crate::error::{EncodeError, OpenError};
use crate::family::{Afi, AfiSafi, Safi};
use crate::reader::Reader;

/// Capability codes (IANA "Capability Codes").
pub mod capability_code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    pub const FQDN: u8 = 73;
}

/// The AS number a speaker with a 4-octet AS puts in OPEN's 2-octet field (RFC 6793).
pub const AS_TRANS: u16 = 23456;

/// One capability.
///
/// Each is carried as a TLV inside a Capabilities optional parameter:
///
/// ```text
/// +------------------------------+
/// | capability code (1 octet)    |
/// +------------------------------+
/// | capability length (1 octet)  |
/// +------------------------------+
/// | capability value (variable)  |
/// +------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Code 1, RFC 4760. Value: AFI (2 octets), reserved (1), SAFI (1).
    Multiprotocol(AfiSafi),
    /// Code 2, RFC 2918. No value.
    RouteRefresh,
    /// Code 5, RFC 8950: NLRI families this speaker accepts with a next hop of
    /// another address family.
    ExtendedNextHop(Vec<ExtendedNextHopEntry>),
    /// Code 6, RFC 8654. No value.
    ExtendedMessage,
    /// Code 64, RFC 4724 (+ RFC 8538 N bit).
    GracefulRestart(GracefulRestart),
    /// Code 65, RFC 6793: the speaker's real AS number.
    FourOctetAs(u32),
    /// Code 69, RFC 7911.
    AddPath(Vec<AddPathEntry>),
    /// Code 70, RFC 7313. No value.
    EnhancedRouteRefresh,
    /// Code 73, draft-walton-bgp-hostname-capability: host and domain name.
    Fqdn(Fqdn),
    /// Any other code, or a code this crate knows whose value it does not
    /// model; the value is kept as sent.
    Unknown { code: u8, value: Vec<u8> },
}

/// An entry of the Extended Next Hop Encoding capability.
///
/// ```text
/// +-----------------------------------------------------+
/// | NLRI AFI (2 octets)                                  |
/// | NLRI SAFI (2 octets: a SAFI widened to 16 bits)      |
/// | Nexthop AFI (2 octets)                               |
/// +-----------------------------------------------------+  (repeated)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedNextHopEntry {
    pub nlri: AfiSafi,
    pub next_hop_afi: Afi,
}

/// The Graceful Restart capability.
///
/// ```text
/// +--------+--------------------------------+
/// | R N . .|  restart time (12 bits, secs)  |   R: restarting, N: RFC 8538
/// +--------+--------+-----------+-----------+
/// |       AFI       |   SAFI    | F . . . . |   F: forwarding state kept
/// +-----------------+-----------+-----------+   (repeated per family)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GracefulRestart {
    /// R bit: the sender has restarted (its routes are being re-learnt).
    pub restart_state: bool,
    /// N bit (RFC 8538): graceful restart also covers NOTIFICATION messages.
    pub notification: bool,
    /// Restart time in seconds; 12 bits, so at most 4095.
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

/// One address family of the Graceful Restart capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestartFamily {
    pub family: AfiSafi,
    /// F bit: forwarding state for this family was preserved across the restart.
    pub forwarding_state: bool,
}

/// One entry of the ADD-PATH capability.
///
/// ```text
/// +--------------------------------+
/// | AFI (2 octets)                 |
/// | SAFI (1 octet)                 |
/// | Send/Receive (1 octet)         |   1 receive, 2 send, 3 both
/// +--------------------------------+   (repeated)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddPathEntry {
    pub family: AfiSafi,
    pub mode: AddPathMode,
}

/// The Send/Receive field of an ADD-PATH entry, kept as sent: RFC 7911 says
/// an entry with another value is to be ignored, so it must not be rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddPathMode(pub u8);

impl AddPathMode {
    pub const RECEIVE: AddPathMode = AddPathMode(1);
    pub const SEND: AddPathMode = AddPathMode(2);
    pub const BOTH: AddPathMode = AddPathMode(3);

    /// The sender is able to receive multiple paths.
    pub fn can_receive(self) -> bool {
        matches!(self.0, 1 | 3)
    }

    /// The sender is able to send multiple paths.
    pub fn can_send(self) -> bool {
        matches!(self.0, 2 | 3)
    }
}

/// The FQDN capability: host and domain name, each with a one-octet length.
///
/// ```text
/// +----------+-------------------+----------+------------------+
/// | host len | host name (bytes) | dom. len | domain name      |
/// +----------+-------------------+----------+------------------+
/// ```
///
/// Names are octets on the wire; they are kept as octets so that a name that
/// is not UTF-8 still round-trips. Use [`Fqdn::hostname_lossy`] to print.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Fqdn {
    pub hostname: Vec<u8>,
    pub domain: Vec<u8>,
}

impl Fqdn {
    pub fn new(hostname: &str, domain: &str) -> Self {
        Self {
            hostname: hostname.as_bytes().to_vec(),
            domain: domain.as_bytes().to_vec(),
        }
    }

    pub fn hostname_lossy(&self) -> String {
        String::from_utf8_lossy(&self.hostname).into_owned()
    }

    pub fn domain_lossy(&self) -> String {
        String::from_utf8_lossy(&self.domain).into_owned()
    }
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        use capability_code as c;
        match self {
            Self::Multiprotocol(_) => c::MULTIPROTOCOL,
            Self::RouteRefresh => c::ROUTE_REFRESH,
            Self::ExtendedNextHop(_) => c::EXTENDED_NEXT_HOP,
            Self::ExtendedMessage => c::EXTENDED_MESSAGE,
            Self::GracefulRestart(_) => c::GRACEFUL_RESTART,
            Self::FourOctetAs(_) => c::FOUR_OCTET_AS,
            Self::AddPath(_) => c::ADD_PATH,
            Self::EnhancedRouteRefresh => c::ENHANCED_ROUTE_REFRESH,
            Self::Fqdn(_) => c::FQDN,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value. `value` is exactly the value octets.
    fn decode_value(code: u8, value: &[u8]) -> Result<Capability, OpenError> {
        use capability_code as c;
        let malformed = || OpenError::MalformedCapability { code };
        let mut r = Reader::new(value);
        let cap = match code {
            c::MULTIPROTOCOL => {
                let afi = r.u16().ok_or_else(malformed)?;
                let _reserved = r.u8().ok_or_else(malformed)?;
                let safi = r.u8().ok_or_else(malformed)?;
                if !r.is_empty() {
                    return Err(malformed());
                }
                Capability::Multiprotocol(AfiSafi::new(Afi(afi), Safi(safi)))
            }
            c::ROUTE_REFRESH | c::EXTENDED_MESSAGE | c::ENHANCED_ROUTE_REFRESH => {
                if !value.is_empty() {
                    return Err(malformed());
                }
                match code {
                    c::ROUTE_REFRESH => Capability::RouteRefresh,
                    c::EXTENDED_MESSAGE => Capability::ExtendedMessage,
                    _ => Capability::EnhancedRouteRefresh,
                }
            }
            c::EXTENDED_NEXT_HOP => {
                if !value.len().is_multiple_of(6) {
                    return Err(malformed());
                }
                let mut entries = Vec::with_capacity(value.len() / 6);
                while !r.is_empty() {
                    let afi = r.u16().ok_or_else(malformed)?;
                    let safi = r.u16().ok_or_else(malformed)?;
                    let nh_afi = r.u16().ok_or_else(malformed)?;
                    let safi = u8::try_from(safi).map_err(|_| malformed())?;
                    entries.push(ExtendedNextHopEntry {
                        nlri: AfiSafi::new(Afi(afi), Safi(safi)),
                        next_hop_afi: Afi(nh_afi),
                    });
                }
                Capability::ExtendedNextHop(entries)
            }
            c::GRACEFUL_RESTART => {
                let head = r.u16().ok_or_else(malformed)?;
                if !r.remaining().is_multiple_of(4) {
                    return Err(malformed());
                }
                let mut families = Vec::with_capacity(r.remaining() / 4);
                while !r.is_empty() {
                    let afi = r.u16().ok_or_else(malformed)?;
                    let safi = r.u8().ok_or_else(malformed)?;
                    let flags = r.u8().ok_or_else(malformed)?;
                    families.push(GracefulRestartFamily {
                        family: AfiSafi::new(Afi(afi), Safi(safi)),
                        forwarding_state: flags & 0x80 != 0,
                    });
                }
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                })
            }
            c::FOUR_OCTET_AS => {
                let asn = r.u32().ok_or_else(malformed)?;
                if !r.is_empty() {
                    return Err(malformed());
                }
                Capability::FourOctetAs(asn)
            }
            c::ADD_PATH => {
                if !value.len().is_multiple_of(4) {
                    return Err(malformed());
                }
                let mut entries = Vec::with_capacity(value.len() / 4);
                while !r.is_empty() {
                    let afi = r.u16().ok_or_else(malformed)?;
                    let safi = r.u8().ok_or_else(malformed)?;
                    let mode = r.u8().ok_or_else(malformed)?;
                    entries.push(AddPathEntry {
                        family: AfiSafi::new(Afi(afi), Safi(safi)),
                        mode: AddPathMode(mode),
                    });
                }
                Capability::AddPath(entries)
            }
            c::FQDN => {
                let host_len = r.u8().ok_or_else(malformed)?;
                let hostname = r.take(usize::from(host_len)).ok_or_else(malformed)?;
                // Some senders stop after the host name; read that as no domain.
                let domain = match r.u8() {
                    None => &[][..],
                    Some(len) => r.take(usize::from(len)).ok_or_else(malformed)?,
                };
                if !r.is_empty() {
                    return Err(malformed());
                }
                Capability::Fqdn(Fqdn {
                    hostname: hostname.to_vec(),
                    domain: domain.to_vec(),
                })
            }
            _ => Capability::Unknown {
                code,
                value: value.to_vec(),
            },
        };
        Ok(cap)
    }

    /// Decodes the capabilities filling one Capabilities optional parameter.
    pub(crate) fn decode_list(buf: &[u8]) -> Result<Vec<Capability>, OpenError> {
        let mut r = Reader::new(buf);
        let mut caps = Vec::new();
        while !r.is_empty() {
            let code = r.u8().ok_or(OpenError::MalformedOptionalParameters)?;
            let len = r.u8().ok_or(OpenError::MalformedCapability { code })?;
            let value = r
                .take(usize::from(len))
                .ok_or(OpenError::MalformedCapability { code })?;
            caps.push(Self::decode_value(code, value)?);
        }
        Ok(caps)
    }

    /// Appends code, length and value.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut value = Vec::new();
        match self {
            Self::Multiprotocol(f) => {
                value.extend_from_slice(&f.afi.0.to_be_bytes());
                value.push(0);
                value.push(f.safi.0);
            }
            Self::RouteRefresh | Self::ExtendedMessage | Self::EnhancedRouteRefresh => {}
            Self::ExtendedNextHop(entries) => {
                for e in entries {
                    value.extend_from_slice(&e.nlri.afi.0.to_be_bytes());
                    value.extend_from_slice(&u16::from(e.nlri.safi.0).to_be_bytes());
                    value.extend_from_slice(&e.next_hop_afi.0.to_be_bytes());
                }
            }
            Self::GracefulRestart(gr) => {
                if gr.restart_time > 0x0fff {
                    return Err(EncodeError::ValueOutOfRange {
                        field: "graceful restart time",
                        value: u64::from(gr.restart_time),
                    });
                }
                let mut head = gr.restart_time;
                if gr.restart_state {
                    head |= 0x8000;
                }
                if gr.notification {
                    head |= 0x4000;
                }
                value.extend_from_slice(&head.to_be_bytes());
                for f in &gr.families {
                    value.extend_from_slice(&f.family.afi.0.to_be_bytes());
                    value.push(f.family.safi.0);
                    value.push(if f.forwarding_state { 0x80 } else { 0 });
                }
            }
            Self::FourOctetAs(asn) => value.extend_from_slice(&asn.to_be_bytes()),
            Self::AddPath(entries) => {
                for e in entries {
                    value.extend_from_slice(&e.family.afi.0.to_be_bytes());
                    value.push(e.family.safi.0);
                    value.push(e.mode.0);
                }
            }
            Self::Fqdn(fqdn) => {
                for name in [&fqdn.hostname, &fqdn.domain] {
                    let len = u8::try_from(name.len()).map_err(|_| EncodeError::TooLong {
                        field: "FQDN capability name",
                        length: name.len(),
                        max: 255,
                    })?;
                    value.push(len);
                    value.extend_from_slice(name);
                }
            }
            Self::Unknown { value: v, .. } => value.extend_from_slice(v),
        }
        let len = u8::try_from(value.len()).map_err(|_| EncodeError::TooLong {
            field: "capability value",
            length: value.len(),
            max: 255,
        })?;
        out.push(self.code());
        out.push(len);
        out.extend_from_slice(&value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(cap: Capability) -> Vec<u8> {
        let mut buf = Vec::new();
        cap.encode(&mut buf).expect("encodes");
        let back = Capability::decode_list(&buf).expect("decodes");
        assert_eq!(back, vec![cap]);
        buf
    }

    #[test]
    fn every_capability_round_trips() {
        assert_eq!(
            round_trip(Capability::Multiprotocol(AfiSafi::IPV6_UNICAST)),
            [1, 4, 0, 2, 0, 1]
        );
        assert_eq!(round_trip(Capability::RouteRefresh), [2, 0]);
        assert_eq!(round_trip(Capability::EnhancedRouteRefresh), [70, 0]);
        assert_eq!(round_trip(Capability::ExtendedMessage), [6, 0]);
        assert_eq!(
            round_trip(Capability::FourOctetAs(4_200_000_000)),
            [65, 4, 0xfa, 0x56, 0xea, 0x00]
        );
        assert_eq!(
            round_trip(Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
                nlri: AfiSafi::IPV4_UNICAST,
                next_hop_afi: Afi::IPV6,
            }])),
            [5, 6, 0, 1, 0, 1, 0, 2]
        );
        assert_eq!(
            round_trip(Capability::GracefulRestart(GracefulRestart {
                restart_state: true,
                notification: true,
                restart_time: 120,
                families: vec![GracefulRestartFamily {
                    family: AfiSafi::IPV4_UNICAST,
                    forwarding_state: true,
                }],
            })),
            [64, 6, 0xc0, 120, 0, 1, 1, 0x80]
        );
        assert_eq!(
            round_trip(Capability::AddPath(vec![AddPathEntry {
                family: AfiSafi::IPV6_UNICAST,
                mode: AddPathMode::BOTH,
            }])),
            [69, 4, 0, 2, 1, 3]
        );
        assert_eq!(
            round_trip(Capability::Fqdn(Fqdn::new("r1", "lab"))),
            [73, 7, 2, b'r', b'1', 3, b'l', b'a', b'b']
        );
        assert_eq!(
            round_trip(Capability::Unknown {
                code: 128,
                value: vec![],
            }),
            [128, 0]
        );
    }

    #[test]
    fn malformed_known_capabilities_are_errors() {
        for bytes in [
            &[1u8, 3, 0, 1, 0][..],
            &[2, 1, 0],
            &[65, 2, 0, 1],
            &[64, 3, 0, 0, 0],
            &[69, 3, 0, 1, 1],
            &[73, 3, 5, b'a', b'b'],
            &[5, 6, 0, 1, 1, 0, 0, 2],
        ] {
            assert_eq!(
                Capability::decode_list(bytes),
                Err(OpenError::MalformedCapability { code: bytes[0] }),
                "{bytes:?}"
            );
        }
        // Length running past the parameter.
        assert!(Capability::decode_list(&[65, 9, 0]).is_err());
    }

    #[test]
    fn add_path_modes() {
        assert!(AddPathMode::BOTH.can_send() && AddPathMode::BOTH.can_receive());
        assert!(!AddPathMode::RECEIVE.can_send());
        assert!(!AddPathMode(7).can_receive());
    }
}
