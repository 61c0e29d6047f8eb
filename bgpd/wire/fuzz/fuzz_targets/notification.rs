// Fuzz target: NotificationMessage::decode on a NOTIFICATION body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tern_bgp_wire::{Message, NotificationMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = NotificationMessage::decode(data) {
        let _ = (n.to_string(), n.shutdown_communication());
        common::round_trip(&Message::Notification(n), &common::codec(0));
    }
});
