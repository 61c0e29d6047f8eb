// Fuzz target: UpdateMessage::decode on an UPDATE body, with the codec state
// picked by the first octet.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tern_bgp_wire::{Message, UpdateMessage};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ctx = common::codec(selector);
    let update = UpdateMessage::decode(body, &ctx);
    // The helpers the session uses must hold up too.
    let _ = (
        update.announced(),
        update.withdrawals(),
        update.end_of_rib(),
    );
    common::round_trip(&Message::Update(update), &ctx);
});
