//! Tests of the SID structure rules and of the transposition both ways,
//! against a bit-by-bit reference written from RFC 9252's words.
use super::*;
use crate::testgen::Rng;

fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn st(lbl: u8, lnl: u8, fl: u8, al: u8, tl: u8, to: u8) -> SidStructure {
    SidStructure {
        block_len: lbl,
        node_len: lnl,
        func_len: fl,
        arg_len: al,
        transposition_len: tl,
        transposition_offset: to,
    }
}

/// Bit `i` of a SID, bit 0 being the most significant.
fn sid_bit(sid: Ipv6Addr, i: u32) -> bool {
    let o = sid.octets();
    o[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
}

/// The reference: bit `k` of the transposed run is label bit `19 - k`
/// (the label's high-order bits), and SID bit `TO + k`.
fn reference_label(sid: Ipv6Addr, s: &SidStructure) -> u32 {
    let mut label = 0u32;
    for k in 0..u32::from(s.transposition_len) {
        if sid_bit(sid, u32::from(s.transposition_offset) + k) {
            label |= 1 << (19 - k);
        }
    }
    label
}

fn reference_zeroed(sid: Ipv6Addr, s: &SidStructure) -> Ipv6Addr {
    let mut o = sid.octets();
    for k in 0..u32::from(s.transposition_len) {
        let i = u32::from(s.transposition_offset) + k;
        o[(i / 8) as usize] &= !(0x80 >> (i % 8));
    }
    Ipv6Addr::from(o)
}

#[test]
fn frr_layout_function_of_16_bits() {
    // FRR 8.4's constant structure: LBL 40, LNL 24, FL 16, TL 16, TO 64.
    let s = SidStructure::function_in_label(40, 24, 16);
    assert_eq!(s, st(40, 24, 16, 0, 16, 64));
    let t = transpose(ip("2001:db8:1:1:100::"), &s).unwrap();
    // Function 0x0100 fills the high 16 of the 20 label bits: 0x01000.
    assert_eq!(t.label, 0x0_1000);
    assert_eq!(t.sid, ip("2001:db8:1:1::"));
    assert_eq!(
        rebuild(t.label, t.sid, &s).unwrap(),
        ip("2001:db8:1:1:100::")
    );
}

#[test]
fn a_function_of_20_bits_fills_the_label() {
    let s = SidStructure::function_in_label(32, 16, 20);
    let sid = ip("fc00:0:1:abcd:e000::");
    let t = transpose(sid, &s).unwrap();
    assert_eq!(t.label, 0xabcde);
    assert_eq!(t.sid, ip("fc00:0:1::"));
    assert_eq!(rebuild(t.label, t.sid, &s).unwrap(), sid);
}

#[test]
fn unaligned_offsets_and_short_lengths() {
    // 12 bits starting at bit 52: across octet boundaries.
    let s = st(36, 16, 12, 0, 12, 52);
    let sid = ip("2001:db8:0:5:abc0::");
    // Bits 52..64 are the last 12 bits of the fourth group, 0x005.
    let t = transpose(sid, &s).unwrap();
    assert_eq!(t.label, 0x005 << 8);
    assert_eq!(t.sid, ip("2001:db8::abc0:0:0:0"));
    assert_eq!(rebuild(t.label, t.sid, &s).unwrap(), sid);
    // One bit.
    let s = st(64, 0, 1, 0, 1, 64);
    let t = transpose(ip("2001:db8::8000:0:0:0"), &s).unwrap();
    assert_eq!(t.label, 1 << 19);
    assert_eq!(t.sid, ip("2001:db8::"));
}

#[test]
fn transposition_ends_at_the_last_bit() {
    // TO + TL = 128: the last bits of the SID.
    let s = st(64, 44, 20, 0, 20, 108);
    let sid = ip("2001:db8::f:ffff");
    let t = transpose(sid, &s).unwrap();
    assert_eq!(t.label, 0xfffff);
    assert_eq!(t.sid, ip("2001:db8::"));
    assert_eq!(rebuild(0xfffff, t.sid, &s).unwrap(), sid);
}

#[test]
fn length_zero_is_no_transposition() {
    let s = st(40, 24, 16, 0, 0, 0);
    let sid = ip("2001:db8:1:1:100::");
    let t = transpose(sid, &s).unwrap();
    assert_eq!(t.label, IMPLICIT_NULL);
    assert_eq!(t.sid, sid, "the whole SID stays in the attribute");
    // The receiver ignores the label.
    assert_eq!(rebuild(0xfffff, sid, &s).unwrap(), sid);
    assert_eq!(rebuild(IMPLICIT_NULL, sid, &s).unwrap(), sid);
}

#[test]
fn refused_structures() {
    let sid = ip("2001:db8::");
    for (s, reason) in [
        (st(40, 24, 21, 0, 21, 64), "20 bits"),
        (st(40, 24, 32, 0, 24, 64), "20 bits"),
        (st(40, 24, 16, 0, 0, 64), "offset must be 0"),
        (st(64, 48, 16, 8, 8, 112), "more than 128"),
        (st(40, 24, 8, 0, 16, 64), "function length"),
        (st(40, 24, 16, 0, 16, 120), "past bit 128"),
        (st(40, 24, 16, 0, 16, 70), "past LBL + LNL + FL + AL"),
        (st(255, 255, 20, 0, 20, 255), "more than 128"),
    ] {
        let e = transpose(sid, &s).expect_err(&s.to_string()).to_string();
        assert!(e.contains(reason), "{s}: {e}");
        let e = rebuild(0, sid, &s).expect_err(&s.to_string()).to_string();
        assert!(e.contains(reason), "{s}: {e}");
    }
}

#[test]
fn labels_past_20_bits_are_refused() {
    let s = SidStructure::function_in_label(40, 24, 16);
    assert_eq!(
        rebuild(1 << 20, ip("2001:db8::"), &s),
        Err(Srv6Error::BadLabel(1 << 20))
    );
}

#[test]
fn the_label_low_bits_are_not_part_of_the_sid() {
    let s = SidStructure::function_in_label(40, 24, 16);
    // 0x01000 and 0x0100f differ only below the 16 transposed bits.
    let a = rebuild(0x01000, ip("2001:db8:1:1::"), &s).unwrap();
    let b = rebuild(0x0100f, ip("2001:db8:1:1::"), &s).unwrap();
    assert_eq!(a, b);
    // Bits the sender should have zeroed are replaced, not merged.
    let c = rebuild(0x01000, ip("2001:db8:1:1:ffff::"), &s).unwrap();
    assert_eq!(c, a);
}

#[test]
fn random_structures_against_the_reference() {
    let mut rng = Rng(0x5eed_0006);
    let mut checked = 0;
    for _ in 0..20_000 {
        let s = st(
            rng.below(80) as u8,
            rng.below(64) as u8,
            rng.below(28) as u8,
            rng.below(16) as u8,
            rng.below(24) as u8,
            rng.below(130) as u8,
        );
        let sid = Ipv6Addr::from((u128::from(rng.next()) << 64) | u128::from(rng.next()));
        let valid = s.validate().is_ok();
        match transpose(sid, &s) {
            Err(_) => assert!(!valid),
            Ok(t) => {
                assert!(valid);
                if s.transposition_len == 0 {
                    assert_eq!(t.label, IMPLICIT_NULL);
                    assert_eq!(t.sid, sid);
                    continue;
                }
                checked += 1;
                assert_eq!(t.label, reference_label(sid, &s), "{s} {sid}");
                assert_eq!(t.sid, reference_zeroed(sid, &s), "{s} {sid}");
                assert!(t.label < 1 << 20);
                assert_eq!(rebuild(t.label, t.sid, &s).unwrap(), sid, "{s} {sid}");
            }
        }
    }
    assert!(checked > 1000, "too few valid structures drawn: {checked}");
}
