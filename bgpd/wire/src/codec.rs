//! The codec context: what the two speakers negotiated in their OPENs and
//! that changes how later messages are laid out (AS number width, ADD-PATH
//! path identifiers per family and direction, extended messages, RFC 8950
//! next hops). Decoders and encoders take it explicitly; there is no global.

use crate::capabilities::Capability;
use crate::family::{Afi, AfiSafi};
use crate::layout::{MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, MessageType};
use crate::open::OpenMessage;

/// Negotiated state of one session. `Codec::default()` is the state before
/// the OPEN exchange: 2-octet AS numbers, no ADD-PATH, 4096-octet messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Codec {
    /// RFC 6793: both sides advertised the 4-octet AS capability, so AS_PATH
    /// and AGGREGATOR carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// RFC 8654: both sides advertised extended messages; UPDATE, NOTIFICATION
    /// and ROUTE-REFRESH may be up to 65535 octets.
    pub extended_message: bool,
    /// RFC 7911: families whose received NLRI carry a path identifier (we
    /// advertised receive, the peer advertised send).
    pub add_path_receive: Vec<AfiSafi>,
    /// RFC 7911: families whose sent NLRI carry a path identifier (we
    /// advertised send, the peer advertised receive).
    pub add_path_send: Vec<AfiSafi>,
    /// RFC 8950: families of IPv4 routes we may send with an IPv6 next hop
    /// (the peer advertised Extended Next Hop Encoding for them). Received
    /// UPDATEs are decoded with an IPv6 next hop whenever its length says so.
    pub extended_next_hop: Vec<AfiSafi>,
    /// RFC 4760 §7: the families both sides advertised (IPv4 unicast alone
    /// for a side that sent no Multiprotocol capability). MP_REACH_NLRI and
    /// MP_UNREACH_NLRI of any other family are ignored, not decoded (RFC
    /// 7606 §7.11 would otherwise reset the session over routes we never
    /// asked for). `None` (the default): every family is decoded.
    pub families: Option<Vec<AfiSafi>>,
}

impl Codec {
    /// The state both OPENs negotiate: `local` is the OPEN we sent, `remote`
    /// the one we received.
    pub fn negotiate(local: &OpenMessage, remote: &OpenMessage) -> Codec {
        let both = |code: u8| local.has_capability(code) && remote.has_capability(code);
        let add_path = |open: &OpenMessage| -> Vec<_> {
            open.capabilities()
                .filter_map(|c| match c {
                    Capability::AddPath(entries) => Some(entries.iter().copied()),
                    _ => None,
                })
                .flatten()
                .collect()
        };
        let ours = add_path(local);
        let theirs = add_path(remote);
        let mut receive = Vec::new();
        let mut send = Vec::new();
        for o in &ours {
            for t in theirs.iter().filter(|t| t.family == o.family) {
                if o.mode.can_receive() && t.mode.can_send() && !receive.contains(&o.family) {
                    receive.push(o.family);
                }
                if o.mode.can_send() && t.mode.can_receive() && !send.contains(&o.family) {
                    send.push(o.family);
                }
            }
        }
        let mut extended_next_hop = Vec::new();
        for c in remote.capabilities() {
            if let Capability::ExtendedNextHop(entries) = c {
                for e in entries {
                    if e.nlri.afi == Afi::IPV4
                        && e.next_hop_afi == Afi::IPV6
                        && !extended_next_hop.contains(&e.nlri)
                    {
                        extended_next_hop.push(e.nlri);
                    }
                }
            }
        }
        let multiprotocol = |open: &OpenMessage| -> Vec<AfiSafi> {
            let v: Vec<AfiSafi> = open
                .capabilities()
                .filter_map(|c| match c {
                    Capability::Multiprotocol(f) => Some(*f),
                    _ => None,
                })
                .collect();
            if v.is_empty() {
                vec![AfiSafi::IPV4_UNICAST]
            } else {
                v
            }
        };
        let theirs = multiprotocol(remote);
        let mut families: Vec<AfiSafi> = multiprotocol(local)
            .into_iter()
            .filter(|f| theirs.contains(f))
            .collect();
        families.dedup();
        use crate::capabilities::capability_code as cc;
        Codec {
            four_octet_as: both(cc::FOUR_OCTET_AS),
            extended_message: both(cc::EXTENDED_MESSAGE),
            add_path_receive: receive,
            add_path_send: send,
            extended_next_hop,
            families: Some(families),
        }
    }

    /// Whether routes of `family` are decoded: it was negotiated, or no
    /// negotiation is known.
    pub fn negotiated(&self, family: AfiSafi) -> bool {
        self.families.as_ref().is_none_or(|f| f.contains(&family))
    }

    /// Largest length, header included, of a message of this type.
    pub fn max_message_len(&self, msg_type: MessageType) -> usize {
        match msg_type {
            // RFC 8654 §3: OPEN and KEEPALIVE never grow.
            MessageType::Open | MessageType::Keepalive => MAX_MESSAGE_LEN,
            _ if self.extended_message => MAX_EXTENDED_MESSAGE_LEN,
            _ => MAX_MESSAGE_LEN,
        }
    }

    /// Whether received NLRI of `family` carry path identifiers.
    pub fn receives_path_id(&self, family: AfiSafi) -> bool {
        self.add_path_receive.contains(&family)
    }

    /// Whether sent NLRI of `family` carry path identifiers.
    pub fn sends_path_id(&self, family: AfiSafi) -> bool {
        self.add_path_send.contains(&family)
    }

    /// Whether IPv4 routes of `family` may be sent with an IPv6 next hop.
    pub fn may_send_ipv6_next_hop(&self, family: AfiSafi) -> bool {
        self.extended_next_hop.contains(&family)
    }

    /// The same negotiated state seen from the other end of the session
    /// (what the peer's codec looks like); handy for tests.
    pub fn mirrored(&self) -> Codec {
        Codec {
            add_path_receive: self.add_path_send.clone(),
            add_path_send: self.add_path_receive.clone(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::capabilities::{AddPathEntry, AddPathMode, ExtendedNextHopEntry};

    #[test]
    fn negotiation_is_per_direction() {
        let local = OpenMessage::new(
            65001,
            90,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![
                Capability::FourOctetAs(65001),
                Capability::ExtendedMessage,
                Capability::AddPath(vec![
                    AddPathEntry {
                        family: AfiSafi::IPV4_UNICAST,
                        mode: AddPathMode::RECEIVE,
                    },
                    AddPathEntry {
                        family: AfiSafi::IPV6_UNICAST,
                        mode: AddPathMode::BOTH,
                    },
                ]),
                Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
                    nlri: AfiSafi::IPV4_UNICAST,
                    next_hop_afi: Afi::IPV6,
                }]),
            ],
        );
        let remote = OpenMessage::new(
            65002,
            90,
            Ipv4Addr::new(192, 0, 2, 2),
            vec![
                Capability::FourOctetAs(65002),
                Capability::AddPath(vec![
                    AddPathEntry {
                        family: AfiSafi::IPV4_UNICAST,
                        mode: AddPathMode::BOTH,
                    },
                    AddPathEntry {
                        family: AfiSafi::IPV6_UNICAST,
                        mode: AddPathMode::RECEIVE,
                    },
                ]),
                Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
                    nlri: AfiSafi::IPV4_VPN,
                    next_hop_afi: Afi::IPV6,
                }]),
            ],
        );
        let ctx = Codec::negotiate(&local, &remote);
        assert!(ctx.four_octet_as);
        assert!(!ctx.extended_message);
        assert_eq!(ctx.add_path_receive, vec![AfiSafi::IPV4_UNICAST]);
        assert_eq!(ctx.add_path_send, vec![AfiSafi::IPV6_UNICAST]);
        assert_eq!(ctx.extended_next_hop, vec![AfiSafi::IPV4_VPN]);
        let peer = Codec::negotiate(&remote, &local);
        assert_eq!(peer.add_path_receive, ctx.mirrored().add_path_receive);
        assert_eq!(peer.add_path_send, ctx.mirrored().add_path_send);
    }
}
