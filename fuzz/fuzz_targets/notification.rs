// Fuzz target: NotificationMessage::decode on a NOTIFICATION body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_bgp_wire::{Message, NotificationMessage};

fuzz_target!(init: tern_fuzz::check_build(), |data: &[u8]| {
    if let Ok(n) = NotificationMessage::decode(data) {
        let _ = (n.to_string(), n.shutdown_communication());
        tern_fuzz::wire::round_trip(&Message::Notification(n), &tern_fuzz::wire::codec(0));
    }
});
