//! Shared by the BGP fuzz targets: the codec state picked by the first
//! input octet, and the round-trip property every decoded message must
//! satisfy.

use tern_bgp_wire::{AfiSafi, Codec, Message, UpdateOutcome};

/// A codec chosen by `selector`: bit 0 four-octet AS, bit 1 extended
/// messages, bit 2 ADD-PATH in both directions for every modelled family.
/// RFC 8950 next hops are always allowed, so what decodes can be re-sent.
pub fn codec(selector: u8) -> Codec {
    let families = vec![
        AfiSafi::IPV4_UNICAST,
        AfiSafi::IPV6_UNICAST,
        AfiSafi::IPV4_MULTICAST,
        AfiSafi::IPV6_MULTICAST,
        AfiSafi::IPV4_VPN,
        AfiSafi::IPV6_VPN,
    ];
    let add_path = if selector & 4 != 0 {
        families
    } else {
        Vec::new()
    };
    Codec {
        four_octet_as: selector & 1 != 0,
        extended_message: selector & 2 != 0,
        add_path_receive: add_path.clone(),
        add_path_send: add_path,
        extended_next_hop: vec![
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV4_MULTICAST,
            AfiSafi::IPV4_VPN,
        ],
        families: None,
    }
}

/// A decoded message must re-encode, and decode again to the same content.
pub fn round_trip(msg: &Message, ctx: &Codec) {
    if let Message::Update(u) = msg
        && matches!(u.outcome, UpdateOutcome::SessionReset(_))
    {
        return;
    }
    let bytes = match msg.to_bytes(ctx) {
        Ok(b) => b,
        Err(e) => panic!("decoded message does not re-encode: {e}: {msg:?}"),
    };
    let again = match Message::decode(&bytes, ctx) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded message does not decode: {e}: {msg:?}"),
    };
    match (msg, &again) {
        (Message::Update(a), Message::Update(b)) => {
            assert_eq!(
                (&a.withdrawn, &a.attributes, &a.nlri),
                (&b.withdrawn, &b.attributes, &b.nlri)
            );
            assert!(!matches!(b.outcome, UpdateOutcome::SessionReset(_)));
        }
        (a, b) => assert_eq!(a, b),
    }
}
