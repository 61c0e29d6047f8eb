// Fuzz target: OpenMessage::decode on an OPEN body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tern_bgp_wire::{Message, OpenMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(open) = OpenMessage::decode(data) {
        common::round_trip(&Message::Open(open), &common::codec(0));
    }
});
