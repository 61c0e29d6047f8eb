//! Property-style robustness test: random bytes and mutated fixtures go
//! through framing and every decoder for a few seconds each; nothing may
//! panic, and whatever decodes must re-encode and decode to the same content.
//!
//! `TERN_WIRE_ROBUSTNESS_SECS` sets the time per test (default 2 s); the seed
//! is printed so a failure can be replayed with `TERN_WIRE_SEED`.

mod common;

use std::time::{Duration, Instant};

use common::{all_fixtures, srv6_fixtures};
use tern_bgp_wire::{
    AfiSafi, Attribute, Codec, HEADER_LEN, Message, NotificationMessage, OpenMessage, PrefixSid,
    Srv6SidStructure, UpdateMessage, UpdateOutcome, srv6_behavior,
};

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

fn budget() -> Duration {
    let secs = std::env::var("TERN_WIRE_ROBUSTNESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    let seed = std::env::var("TERN_WIRE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("TERN_WIRE_SEED={seed}");
    seed
}

/// Codecs to decode with. Each sends what it receives, so re-encoding works.
fn contexts() -> Vec<Codec> {
    let all = vec![
        AfiSafi::IPV4_UNICAST,
        AfiSafi::IPV6_UNICAST,
        AfiSafi::IPV4_VPN,
        AfiSafi::IPV6_VPN,
        AfiSafi::IPV4_MULTICAST,
    ];
    let ext_nh = vec![
        AfiSafi::IPV4_UNICAST,
        AfiSafi::IPV4_VPN,
        AfiSafi::IPV4_MULTICAST,
    ];
    vec![
        Codec {
            extended_next_hop: ext_nh.clone(),
            ..Codec::default()
        },
        Codec {
            four_octet_as: true,
            extended_next_hop: ext_nh.clone(),
            ..Codec::default()
        },
        Codec {
            four_octet_as: true,
            extended_message: true,
            add_path_receive: all.clone(),
            add_path_send: all,
            extended_next_hop: ext_nh,
            families: None,
        },
    ]
}

/// Decodes `bytes` every way there is; checks the round-trip property.
fn exercise(bytes: &[u8], ctx: &Codec) {
    let _ = ctx.frame(bytes);
    if let Ok(msg) = Message::decode(bytes, ctx) {
        check_round_trip(&msg, ctx);
    }
    let body = bytes.get(HEADER_LEN..).unwrap_or(bytes);
    for b in [bytes, body] {
        let u = UpdateMessage::decode(b, ctx);
        check_round_trip(&Message::Update(u), ctx);
        if let Ok(o) = OpenMessage::decode(b) {
            check_round_trip(&Message::Open(o), ctx);
        }
        let _ = NotificationMessage::decode(b);
    }
}

fn check_round_trip(msg: &Message, ctx: &Codec) {
    if let Message::Update(u) = msg {
        for a in &u.attributes {
            if let Attribute::PrefixSid(p) = &a.value {
                check_prefix_sid(p);
            }
        }
    }
    if let Message::Update(u) = msg
        && matches!(u.outcome, UpdateOutcome::SessionReset(_))
    {
        return;
    }
    let bytes = msg
        .to_bytes(ctx)
        .unwrap_or_else(|e| panic!("decoded message does not re-encode: {e}\n{msg:?}"));
    let again = Message::decode(&bytes, ctx)
        .unwrap_or_else(|e| panic!("re-encoded message does not decode: {e}\n{msg:?}"));
    match (msg, &again) {
        (Message::Update(a), Message::Update(b)) => {
            // Discarded attributes are gone, so the outcome may improve.
            assert_eq!(
                (&a.withdrawn, &a.attributes, &a.nlri),
                (&b.withdrawn, &b.attributes, &b.nlri),
                "UPDATE changed through a round trip"
            );
            assert!(!matches!(b.outcome, UpdateOutcome::SessionReset(_)));
        }
        (a, b) => assert_eq!(a, b, "message changed through a round trip"),
    }
}

/// `mutate_bytes`, then usually a consistent BGP header.
fn mutate(r: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = mutate_bytes(r, input);
    // Usually keep the header consistent, so the body parsers are reached.
    if r.below(4) != 0 && v.len() >= HEADER_LEN {
        let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
        v[..16].fill(0xff);
        v[16..18].copy_from_slice(&len.to_be_bytes());
    }
    v
}

/// One to four random edits: bit flips, bytes replaced, inserted, removed.
fn mutate_bytes(r: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + r.below(4) {
        match r.below(8) {
            0 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] ^= 1 << r.below(8);
            }
            1 if !v.is_empty() => {
                let i = r.below(v.len());
                v[i] = r.byte();
            }
            2 => {
                let n = r.below(v.len() + 1);
                v.truncate(n);
            }
            3 => {
                let i = r.below(v.len() + 1);
                let n = 1 + r.below(8);
                for _ in 0..n {
                    v.insert(i, r.byte());
                }
            }
            4 if v.len() > 1 => {
                let i = r.below(v.len());
                let n = r.below(v.len() - i);
                v.drain(i..i + n);
            }
            5 if !v.is_empty() => {
                // Interesting values.
                let i = r.below(v.len());
                v[i] = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x40, 0xc0][r.below(8)];
            }
            _ => {}
        }
    }
    v
}

#[test]
fn random_bytes_never_panic() {
    let mut r = Rng(seed());
    let ctxs = contexts();
    let deadline = Instant::now() + budget();
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let len = r.below(300);
        let mut v: Vec<u8> = (0..len).map(|_| r.byte()).collect();
        // Half the time, a valid header of a random type in front.
        if r.below(2) == 0 {
            let mut m = vec![0xff; 16];
            let total = u16::try_from(HEADER_LEN + v.len()).unwrap_or(u16::MAX);
            m.extend_from_slice(&total.to_be_bytes());
            m.push(1 + r.byte() % 5);
            m.append(&mut v);
            v = m;
        }
        exercise(&v, &ctxs[r.below(ctxs.len())]);
        runs += 1;
    }
    println!("{runs} random inputs");
    assert!(runs > 100);
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut r = Rng(seed());
    let ctxs = contexts();
    let fixtures: Vec<Vec<u8>> = all_fixtures()
        .into_iter()
        .chain(srv6_fixtures())
        .map(|(_, _, b)| b)
        .collect();
    assert!(!fixtures.is_empty());
    let deadline = Instant::now() + budget();
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let base = &fixtures[r.below(fixtures.len())];
        let v = mutate(&mut r, base);
        exercise(&v, &ctxs[r.below(ctxs.len())]);
        runs += 1;
    }
    println!("{runs} mutated inputs");
    assert!(runs > 100);
}

#[test]
fn every_prefix_of_every_fixture_is_handled() {
    // Truncation at each length, in every context.
    for (_, _, bytes) in all_fixtures().into_iter().chain(srv6_fixtures()) {
        for ctx in contexts() {
            for n in 0..=bytes.len() {
                exercise(&bytes[..n], &ctx);
            }
        }
    }
}

/// A Prefix-SID that was accepted must decode typed and encode back to
/// the same octets.
fn check_prefix_sid(p: &PrefixSid) {
    let tlvs = p
        .decode_tlvs()
        .unwrap_or_else(|e| panic!("accepted Prefix-SID does not decode: {e}: {p:?}"));
    let again = PrefixSid::from_tlvs(&tlvs).expect("re-encodes");
    assert_eq!(&again, p, "Prefix-SID changed through a round trip");
}

#[test]
fn mutated_srv6_prefix_sids_never_panic() {
    let mut r = Rng(seed());
    let structure = Srv6SidStructure::with_transposed_function(40, 24, 16, 0);
    let base = PrefixSid::srv6_l3_service(
        "2001:db8:1:1::".parse().expect("addr"),
        srv6_behavior::END_DT46,
        Some(structure),
    );
    let deadline = Instant::now() + budget();
    let (mut runs, mut good) = (0u64, 0u64);
    while Instant::now() < deadline {
        let p = PrefixSid {
            tlvs: mutate_bytes(&mut r, &base.tlvs),
        };
        // The typed decoder alone, then through a whole UPDATE.
        if p.decode_tlvs().is_ok() {
            check_prefix_sid(&p);
            good += 1;
        }
        let _ = (p.srv6_l3(), p.srv6_l2());
        let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 0, 0xc0, 40];
        attrs.push(u8::try_from(p.tlvs.len()).unwrap_or(u8::MAX));
        attrs.extend_from_slice(&p.tlvs);
        let mut body = vec![0, 0];
        body.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
        body.extend_from_slice(&attrs);
        let u = UpdateMessage::decode(&body, &Codec::default());
        check_round_trip(&Message::Update(u), &Codec::default());
        runs += 1;
    }
    println!("{runs} mutated SRv6 Prefix-SIDs, {good} well formed");
    assert!(runs > 100 && good > 0);
}
