//! A whole BGP message, header included: the entry points a session uses,
//! [`Message::decode`] on what [`Codec::frame`] found and
//! [`Message::encode`] for what it sends.

use crate::codec::Codec;
use crate::error::{EncodeError, HeaderError, MessageError};
use crate::header::Header;
use crate::layout::{HEADER_LEN, MessageType};
use crate::notification::NotificationMessage;
use crate::open::OpenMessage;
use crate::route_refresh::RouteRefreshMessage;
use crate::update::UpdateMessage;

/// One BGP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Open(OpenMessage),
    /// Check [`UpdateMessage::outcome`] before using a received one.
    Update(UpdateMessage),
    Notification(NotificationMessage),
    /// A KEEPALIVE is the header alone.
    Keepalive,
    RouteRefresh(RouteRefreshMessage),
}

impl Message {
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Open(_) => MessageType::Open,
            Self::Update(_) => MessageType::Update,
            Self::Notification(_) => MessageType::Notification,
            Self::Keepalive => MessageType::Keepalive,
            Self::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Decodes one whole message, header included (`bytes` as delimited by
    /// [`Codec::frame`]). An `Err` means: send its NOTIFICATION and close.
    /// An UPDATE always decodes; its RFC 7606 outcome says what to do.
    pub fn decode(bytes: &[u8], ctx: &Codec) -> Result<Message, MessageError> {
        let header = Header::decode(bytes, ctx)?;
        if bytes.len() != usize::from(header.length) {
            return Err(HeaderError::BadMessageLength {
                length: header.length,
            }
            .into());
        }
        let body = bytes.get(HEADER_LEN..).unwrap_or_default();
        Ok(match header.msg_type {
            MessageType::Open => Message::Open(OpenMessage::decode(body)?),
            MessageType::Update => Message::Update(UpdateMessage::decode(body, ctx)),
            MessageType::Notification => Message::Notification(NotificationMessage::decode(body)?),
            MessageType::Keepalive => Message::Keepalive,
            MessageType::RouteRefresh => {
                Message::RouteRefresh(RouteRefreshMessage::decode(body, bytes)?)
            }
        })
    }

    /// Appends the whole message, header included, to `out`. On error `out`
    /// is left as it was.
    pub fn encode(&self, ctx: &Codec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let result = self.encode_inner(ctx, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_inner(&self, ctx: &Codec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        Header::encode(self.message_type(), 0, out);
        match self {
            Self::Open(m) => m.encode(out)?,
            Self::Update(m) => m.encode(ctx, out)?,
            Self::Notification(m) => m.encode_body(out),
            Self::Keepalive => {}
            Self::RouteRefresh(m) => m.encode(out),
        }
        let length = out.len() - start;
        let max = ctx.max_message_len(self.message_type());
        if length > max {
            return Err(EncodeError::MessageTooLong { length, max });
        }
        let len16 =
            u16::try_from(length).map_err(|_| EncodeError::MessageTooLong { length, max })?;
        if let Some(field) = out.get_mut(start + 16..start + 18) {
            field.copy_from_slice(&len16.to_be_bytes());
        }
        Ok(())
    }

    /// Encodes into a new buffer.
    pub fn to_bytes(&self, ctx: &Codec) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(ctx, &mut out)?;
        Ok(out)
    }
}

impl From<UpdateMessage> for Message {
    fn from(m: UpdateMessage) -> Self {
        Self::Update(m)
    }
}

impl From<OpenMessage> for Message {
    fn from(m: OpenMessage) -> Self {
        Self::Open(m)
    }
}

impl From<NotificationMessage> for Message {
    fn from(m: NotificationMessage) -> Self {
        Self::Notification(m)
    }
}

impl From<RouteRefreshMessage> for Message {
    fn from(m: RouteRefreshMessage) -> Self {
        Self::RouteRefresh(m)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::attributes::{
        Aggregator, AsPath, Attribute, Community, ExtendedCommunity, LargeCommunity, MpReachNlri,
        MpUnreachNlri, NextHop, Origin, PathAttribute, PrefixSid,
    };
    use crate::capabilities::{AddPathEntry, AddPathMode, Capability, GracefulRestart};
    use crate::family::AfiSafi;
    use crate::nlri::{Label, Nlri, NlriPrefix, RouteDistinguisher};
    use crate::route_refresh::RouteRefreshSubtype;

    fn ctx() -> Codec {
        Codec {
            four_octet_as: true,
            add_path_receive: vec![AfiSafi::IPV6_UNICAST],
            add_path_send: vec![AfiSafi::IPV6_UNICAST],
            extended_next_hop: vec![AfiSafi::IPV4_VPN],
            ..Codec::default()
        }
    }

    fn round_trip(m: Message) -> Vec<u8> {
        let ctx = ctx();
        let bytes = m.to_bytes(&ctx).expect("encodes");
        assert_eq!(ctx.frame(&bytes), Ok(Some(bytes.len())));
        assert_eq!(Message::decode(&bytes, &ctx), Ok(m));
        bytes
    }

    #[test]
    fn keepalive() {
        assert_eq!(
            round_trip(Message::Keepalive),
            [[0xff; 16].as_slice(), &[0, 19, 4]].concat()
        );
    }

    #[test]
    fn open() {
        let open = OpenMessage::new(
            65001,
            180,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![
                Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
                Capability::GracefulRestart(GracefulRestart {
                    restart_time: 90,
                    ..GracefulRestart::default()
                }),
                Capability::AddPath(vec![AddPathEntry {
                    family: AfiSafi::IPV6_UNICAST,
                    mode: AddPathMode::BOTH,
                }]),
            ],
        );
        let bytes = round_trip(Message::Open(open));
        assert_eq!(bytes[18], 1);
    }

    #[test]
    fn notification_and_route_refresh() {
        round_trip(Message::Notification(NotificationMessage::new(
            3,
            1,
            vec![7; 300],
        )));
        for subtype in [
            RouteRefreshSubtype::Request,
            RouteRefreshSubtype::BeginningOfRouteRefresh,
            RouteRefreshSubtype::EndOfRouteRefresh,
        ] {
            let bytes = round_trip(Message::RouteRefresh(RouteRefreshMessage {
                family: AfiSafi::IPV4_VPN,
                subtype,
            }));
            assert_eq!(bytes.len(), 23);
        }
    }

    #[test]
    fn update_with_everything() {
        let addr = Ipv4Addr::new(192, 0, 2, 1);
        let u = UpdateMessage::new(
            vec![Nlri::ipv4("203.0.113.0/24".parse().expect("prefix"))],
            vec![
                PathAttribute::new(Attribute::MpUnreachNlri(MpUnreachNlri {
                    family: AfiSafi::IPV6_UNICAST,
                    withdrawn: vec![
                        Nlri::ipv6("2001:db8:9::/48".parse().expect("prefix")).with_path_id(9),
                    ],
                })),
                PathAttribute::new(Attribute::Origin(Origin::Egp)),
                PathAttribute::new(Attribute::AsPath(AsPath::from_sequence(vec![
                    65001,
                    4_200_000_000,
                ]))),
                PathAttribute::new(Attribute::NextHop(addr)),
                PathAttribute::new(Attribute::MultiExitDisc(1)),
                PathAttribute::new(Attribute::LocalPref(100)),
                PathAttribute::new(Attribute::AtomicAggregate),
                PathAttribute::new(Attribute::Aggregator(Aggregator {
                    asn: 65001,
                    address: addr,
                })),
                PathAttribute::new(Attribute::Communities(vec![Community::NO_ADVERTISE])),
                PathAttribute::new(Attribute::OriginatorId(addr)),
                PathAttribute::new(Attribute::ClusterList(vec![addr])),
                PathAttribute::new(Attribute::ExtendedCommunities(vec![
                    ExtendedCommunity::route_target_as4(4_200_000_000, 1),
                ])),
                PathAttribute::new(Attribute::LargeCommunities(vec![LargeCommunity::new(
                    1, 2, 3,
                )])),
                // An SRv6 L3 Service TLV with only its reserved octet.
                PathAttribute::new(Attribute::PrefixSid(PrefixSid {
                    tlvs: vec![5, 0, 1, 0],
                })),
                PathAttribute::new(Attribute::Raw {
                    type_code: 250,
                    value: vec![1],
                }),
            ],
            vec![Nlri::ipv4("198.51.100.0/24".parse().expect("prefix"))],
        );
        round_trip(Message::Update(u.clone()));
        assert_eq!(u.announced().len(), 1);
        assert_eq!(u.withdrawals().len(), 2);
        assert_eq!(u.end_of_rib(), None);

        // VPN-IPv4 with an IPv6 next hop (RFC 8950), as SRv6 L3VPN sends it.
        let vpn = UpdateMessage::new(
            vec![],
            vec![
                PathAttribute::new(Attribute::MpReachNlri(MpReachNlri {
                    family: AfiSafi::IPV4_VPN,
                    next_hop: NextHop::VpnIpv6 {
                        rd: RouteDistinguisher::default(),
                        global: "2001:db8::1".parse().expect("address"),
                        link_local: None,
                    },
                    nlri: vec![Nlri {
                        path_id: None,
                        prefix: NlriPrefix::Vpnv4 {
                            label: Label::new(3).expect("label"),
                            rd: RouteDistinguisher::as2(65000, 1),
                            prefix: "10.0.0.0/8".parse().expect("prefix"),
                        },
                    }],
                })),
                PathAttribute::new(Attribute::Origin(Origin::Igp)),
                PathAttribute::new(Attribute::AsPath(AsPath::default())),
            ],
            vec![],
        );
        round_trip(Message::Update(vpn));
    }

    #[test]
    fn end_of_rib_markers_round_trip() {
        for family in [
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi::IPV4_VPN,
            AfiSafi::IPV6_VPN,
        ] {
            let m = UpdateMessage::end_of_rib_marker(family);
            assert_eq!(m.end_of_rib(), Some(family));
            round_trip(Message::Update(m));
        }
        assert_eq!(
            round_trip(Message::Update(UpdateMessage::end_of_rib_marker(
                AfiSafi::IPV4_UNICAST
            )))
            .len(),
            23
        );
    }

    #[test]
    fn encode_failure_leaves_output_alone() {
        let m = Message::Update(UpdateMessage::new(
            vec![],
            vec![PathAttribute::new(Attribute::AsPath(
                AsPath::from_sequence(vec![70000]),
            ))],
            vec![],
        ));
        let mut out = vec![9];
        assert_eq!(
            m.encode(&Codec::default(), &mut out),
            Err(EncodeError::AsNumberTooLarge { asn: 70000 })
        );
        assert_eq!(out, [9]);
    }
}
