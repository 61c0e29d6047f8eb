// Fuzz target: received UPDATEs through the codec into the RIBs, as the
// speaker imports them: decode with the session's codec, then the VPN RIB
// (tern_bgp::vpn) and Rib::update_from_peer (Adj-RIB-In checks, RFC 7606
// outcomes, path-attribute policy, import route-maps, decision, export to
// the other peers). A fixed config gives four established peers their
// policy (src/rib.rs).
//
// Input: records of [peer selector][length, 2 octets][UPDATE body]. When
// the records are done every peer goes down, and then the unicast RIB
// must be empty: nothing is originated, so every route came from a peer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_bgp::Family;
use tern_bgp_wire::UpdateMessage;

fuzz_target!(init: tern_fuzz::check_build(), |data: &[u8]| {
    let mut lab = tern_fuzz::rib::Lab::new();
    let mut rest = data;
    while let [selector, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let (body, next) = tail.split_at(len.min(tail.len()));
        rest = next;
        let peer = lab.peer(*selector);
        let update = UpdateMessage::decode(body, &peer.info.codec);
        lab.receive(peer, &update);
    }
    lab.all_down();
    for family in Family::ALL {
        assert_eq!(
            lab.rib.prefix_count(family),
            0,
            "{family:?}: routes left after every peer went down"
        );
    }
    assert!(lab.vpn.is_empty(), "VPN routes left after every peer went down");
});
