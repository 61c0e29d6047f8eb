//! `neighbor X path-attribute discard|treat-as-withdraw TYPE...` on import,
//! put in force live through `set_policy`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tern_bgp_wire::{Attribute, Message, UpdateMessage};

use super::*;
use crate::config::PathAttrPolicy;

const P: &str = "198.51.100.0/24";

/// An UPDATE for `P` carrying an unknown optional transitive attribute 0xf0.
fn with_unknown() -> UpdateMessage {
    let mut a = attrs(&[65001], "192.0.2.1");
    a.push(Attribute::Raw {
        type_code: 0xf0,
        value: vec![1, 2, 3],
    });
    announce(&[P], a)
}

fn set(r: &mut Rib, peer: &PeerInfo, discard: &[u8], withdraw: &[u8]) {
    let p = PathAttrPolicy {
        discard: discard.iter().copied().collect::<BTreeSet<u8>>(),
        withdraw: withdraw.iter().copied().collect(),
    };
    let maps = BTreeMap::from([(
        peer.id,
        RouteMaps {
            path_attrs: (!p.is_empty()).then(|| Arc::new(p)),
            ..peer.route_maps.clone()
        },
    )]);
    r.set_policy(Arc::new(transit_policy()), &maps);
}

/// The attribute types `to` is sent for `P`.
fn sent_types(r: &mut Rib, to: &PeerInfo) -> Vec<u8> {
    r.peer_up(to)
        .into_iter()
        .filter(|u| !u.nlri.is_empty())
        .flat_map(|u| {
            u.attributes
                .iter()
                .map(|a| a.type_code())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn unknown_attribute_is_passed_on_without_config() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    r.update_from_peer(a.id, &with_unknown());
    let b = peer(2, 65002);
    assert!(sent_types(&mut r, &b).contains(&0xf0));
    // The message still encodes.
    let _ = Message::Update(UpdateMessage::default());
}

#[test]
fn discard_drops_the_attribute_and_keeps_the_route() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    set(&mut r, &a, &[0xf0], &[]);
    let c = r.update_from_peer(a.id, &with_unknown());
    assert_eq!(c.fib.len(), 1, "{c:?}");
    let b = peer(2, 65002);
    let types = sent_types(&mut r, &b);
    assert!(!types.is_empty() && !types.contains(&0xf0), "{types:?}");
}

#[test]
fn treat_as_withdraw_removes_the_route_and_applies_live() {
    let mut r = rib();
    let a = peer(1, 65001);
    up(&mut r, &a);
    let c = r.update_from_peer(a.id, &with_unknown());
    assert_eq!(c.fib.len(), 1);
    // Configured while the session runs: the next UPDATE withdraws.
    set(&mut r, &a, &[0xf0], &[0xf0]);
    let c = r.update_from_peer(a.id, &with_unknown());
    assert_eq!(c.fib, vec![fib(V4, P, &[])]);
    // Without the attribute the route is accepted again.
    let c = r.update_from_peer(a.id, &announce(&[P], attrs(&[65001], "192.0.2.1")));
    assert_eq!(c.fib.len(), 1);
    // And removing the line lets the attribute through again.
    set(&mut r, &a, &[], &[]);
    r.update_from_peer(a.id, &with_unknown());
    let b = peer(2, 65002);
    assert!(sent_types(&mut r, &b).contains(&0xf0));
}
