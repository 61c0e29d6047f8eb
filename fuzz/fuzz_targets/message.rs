// Fuzz target: a TCP byte stream through framing and Message::decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_bgp_wire::Message;

fuzz_target!(init: tern_fuzz::check_build(), |data: &[u8]| {
    let Some((&selector, mut stream)) = data.split_first() else {
        return;
    };
    let ctx = tern_fuzz::wire::codec(selector);
    // Frame messages off the stream as a session would, until it stops.
    while let Ok(Some(n)) = ctx.frame(stream) {
        let Some((msg, rest)) = stream.split_at_checked(n) else {
            panic!("frame returned {n} for {} octets", stream.len());
        };
        if let Ok(m) = Message::decode(msg, &ctx) {
            tern_fuzz::wire::round_trip(&m, &ctx);
        }
        stream = rest;
    }
    // And the whole input as one message, whatever its header says.
    if let Ok(m) = Message::decode(data, &ctx) {
        tern_fuzz::wire::round_trip(&m, &ctx);
    }
});
