// Fuzz target: OpenMessage::decode on an OPEN body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_bgp_wire::{Message, OpenMessage};

fuzz_target!(init: tern_fuzz::check_build(), |data: &[u8]| {
    if let Ok(open) = OpenMessage::decode(data) {
        tern_fuzz::wire::round_trip(&Message::Open(open), &tern_fuzz::wire::codec(0));
    }
});
