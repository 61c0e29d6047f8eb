// Fuzz target: UpdateMessage::decode on an UPDATE body, with the codec state
// picked by the first octet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_bgp_wire::{Attribute, Message, PrefixSid, UpdateMessage};

fuzz_target!(init: tern_fuzz::check_build(), |data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ctx = tern_fuzz::wire::codec(selector);
    let update = UpdateMessage::decode(body, &ctx);
    // The helpers the session uses must hold up too.
    let _ = (
        update.announced(),
        update.withdrawals(),
        update.end_of_rib(),
    );
    // An accepted Prefix-SID decodes typed and encodes back to its octets.
    for a in &update.attributes {
        if let Attribute::PrefixSid(p) = &a.value {
            let tlvs = p
                .decode_tlvs()
                .expect("an accepted Prefix-SID decodes typed");
            assert_eq!(PrefixSid::from_tlvs(&tlvs).as_ref(), Ok(p));
        }
    }
    tern_fuzz::wire::round_trip(&Message::Update(update), &ctx);
});
