//! Packing routes into UPDATE messages (RFC 4271 §4.3, RFC 4760): as many
//! prefixes per message as the session's size limit allows (4096 octets, or
//! 65535 with RFC 8654 extended messages). IPv4 routes with an IPv4 next hop
//! go in the NLRI field with NEXT_HOP; IPv6 routes, and IPv4 routes with an
//! IPv6 next hop (RFC 8950), in MP_REACH_NLRI. Withdrawals of IPv4 go in the
//! Withdrawn Routes field, of IPv6 in MP_UNREACH_NLRI.

use ipnet::IpNet;
use tern_bgp_wire::{
    Attribute, Codec, HEADER_LEN, Message, MessageType, MpReachNlri, MpUnreachNlri, NextHop, Nlri,
    PathAttribute, UpdateMessage,
};

use crate::attrs::{PathAttrs, RouteNextHop};
use crate::family::Family;
use crate::family::afi_safi;

/// Header plus the two 2-octet length fields of an UPDATE.
const UPDATE_OVERHEAD: usize = HEADER_LEN + 4;
/// An MP_UNREACH_NLRI header with extended length, AFI and SAFI.
const MP_UNREACH_OVERHEAD: usize = 4 + 3;
/// Room for at least one route of any family (with a path identifier).
const MIN_ROOM: usize = 4 + 1 + 16;

/// Octets one prefix takes in an NLRI field.
fn nlri_size(prefix: &IpNet, add_path: bool) -> usize {
    1 + usize::from(prefix.prefix_len()).div_ceil(8) + if add_path { 4 } else { 0 }
}

fn nlri(prefix: &IpNet, add_path: bool) -> Nlri {
    let n = match prefix {
        IpNet::V4(p) => Nlri::ipv4(*p),
        IpNet::V6(p) => Nlri::ipv6(*p),
    };
    // One path per prefix is advertised: its identifier is always 1.
    if add_path { n.with_path_id(1) } else { n }
}

/// Splits `prefixes` into NLRI lists of at most `budget` octets each.
fn chunks(prefixes: &[IpNet], add_path: bool, budget: usize) -> Vec<Vec<Nlri>> {
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut used = 0;
    for p in prefixes {
        let size = nlri_size(p, add_path);
        if used + size > budget && !chunk.is_empty() {
            out.push(std::mem::take(&mut chunk));
            used = 0;
        }
        chunk.push(nlri(p, add_path));
        used += size;
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

/// Largest UPDATE the session allows.
fn max_len(codec: &Codec) -> usize {
    codec.max_message_len(MessageType::Update)
}

/// UPDATEs withdrawing `prefixes` of `family`.
pub(super) fn withdrawals(
    family: Family,
    prefixes: &[IpNet],
    codec: &Codec,
    out: &mut Vec<UpdateMessage>,
) {
    if prefixes.is_empty() {
        return;
    }
    let wire_family = afi_safi(family);
    let add_path = codec.sends_path_id(wire_family);
    match family {
        Family::Ipv4Unicast => {
            let budget = max_len(codec).saturating_sub(UPDATE_OVERHEAD);
            for chunk in chunks(prefixes, add_path, budget) {
                out.push(UpdateMessage::new(chunk, Vec::new(), Vec::new()));
            }
        }
        Family::Ipv6Unicast => {
            let budget = max_len(codec).saturating_sub(UPDATE_OVERHEAD + MP_UNREACH_OVERHEAD);
            for chunk in chunks(prefixes, add_path, budget) {
                let mp = MpUnreachNlri {
                    family: wire_family,
                    withdrawn: chunk,
                };
                let attrs = vec![PathAttribute::new(Attribute::MpUnreachNlri(mp))];
                out.push(UpdateMessage::new(Vec::new(), attrs, Vec::new()));
            }
        }
    }
}

/// The MP_REACH_NLRI next hop of `nh` for routes of `family`.
fn mp_next_hop(family: Family, nh: RouteNextHop) -> Option<NextHop> {
    match (family, nh) {
        (_, RouteNextHop::Local) => None,
        (Family::Ipv4Unicast, RouteNextHop::V4(a)) => Some(NextHop::Ipv4(a)),
        (Family::Ipv6Unicast, RouteNextHop::V4(a)) => Some(NextHop::Ipv6 {
            global: a.to_ipv6_mapped(),
            link_local: None,
        }),
        (_, RouteNextHop::V6 { global, link_local }) => Some(NextHop::Ipv6 { global, link_local }),
    }
}

/// Length of `update` once encoded for `codec`, measured without the
/// session's size limit (a base message that alone exceeds it is the
/// no-room case, counted by the caller).
fn encoded_len(update: UpdateMessage, codec: &Codec) -> Option<usize> {
    let unlimited = Codec {
        extended_message: true,
        ..codec.clone()
    };
    match Message::Update(update).to_bytes(&unlimited) {
        Ok(b) => Some(b.len()),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an UPDATE to send; routes not advertised");
            None
        }
    }
}

/// UPDATEs announcing `prefixes` of `family` with `attrs` (as exported).
/// Returns how many of them are not sent because the attributes leave no
/// room for even one prefix in an UPDATE of the session's size (RFC 4271
/// §4.3 caps it at 4,096 octets without RFC 8654).
pub(super) fn announcements(
    family: Family,
    attrs: &PathAttrs,
    prefixes: &[IpNet],
    codec: &Codec,
    out: &mut Vec<UpdateMessage>,
) -> usize {
    if prefixes.is_empty() {
        return 0;
    }
    let wire_family = afi_safi(family);
    let add_path = codec.sends_path_id(wire_family);
    let mut wire = attrs.to_wire(codec);
    if let (Family::Ipv4Unicast, RouteNextHop::V4(nh)) = (family, attrs.next_hop) {
        wire.push(PathAttribute::new(Attribute::NextHop(nh)));
        wire.sort_by_key(PathAttribute::type_code);
        let base = UpdateMessage::new(Vec::new(), wire, Vec::new());
        let Some(len) = encoded_len(base.clone(), codec) else {
            return 0;
        };
        let budget = max_len(codec).saturating_sub(len);
        if budget < MIN_ROOM {
            return prefixes.len();
        }
        for chunk in chunks(prefixes, add_path, budget) {
            let mut msg = base.clone();
            msg.nlri = chunk;
            out.push(msg);
        }
        return 0;
    }
    let Some(next_hop) = mp_next_hop(family, attrs.next_hop) else {
        tracing::error!("a route without next hop reached the Adj-RIB-Out; not advertised");
        return 0;
    };
    let mp = |nlri| {
        PathAttribute::new(Attribute::MpReachNlri(MpReachNlri {
            family: wire_family,
            next_hop,
            nlri,
        }))
    };
    let at = wire.partition_point(|a| a.type_code() < tern_bgp_wire::attr_type::MP_REACH_NLRI);
    wire.insert(at, mp(Vec::new()));
    let base = UpdateMessage::new(Vec::new(), wire, Vec::new());
    let Some(len) = encoded_len(base.clone(), codec) else {
        return 0;
    };
    // One more octet: MP_REACH_NLRI takes an extended length once it grows.
    let budget = max_len(codec).saturating_sub(len + 1);
    if budget < MIN_ROOM {
        return prefixes.len();
    }
    for chunk in chunks(prefixes, add_path, budget) {
        let mut msg = base.clone();
        if let Some(slot) = msg.attributes.get_mut(at) {
            *slot = mp(chunk);
        }
        out.push(msg);
    }
    0
}
