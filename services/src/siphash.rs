//! SipHash-2-4 (Aumasson and Bernstein, 2012), written out so that the Maglev
//! permutations never depend on a library's hasher: every node, every build
//! and every release must hash a backend to the same numbers.

/// SipHash-2-4 of `data` under the 128-bit key (`k0`, `k1`), as in the
/// paper's reference implementation (key bytes 0..8 little-endian are `k0`).
pub(crate) fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        compress(&mut v, u64::from_le_bytes(word));
    }
    // The last word: the remaining bytes, and the length's low byte on top.
    let mut last = (data.len() as u64 & 0xff) << 56;
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        last |= u64::from(byte) << (8 * i);
    }
    compress(&mut v, last);
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Two compression rounds over one message word.
fn compress(v: &mut [u64; 4], m: u64) {
    v[3] ^= m;
    round(v);
    round(v);
    v[0] ^= m;
}

/// One SipRound.
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    const K0: u64 = 0x0706_0504_0302_0100;
    const K1: u64 = 0x0f0e_0d0c_0b0a_0908;

    #[test]
    fn paper_vector() {
        // Appendix A of the SipHash paper: key 00..0f, message 00..0e.
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(K0, K1, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    #[allow(deprecated)]
    fn matches_std_siphasher_at_every_length() {
        use std::hash::Hasher;
        // std's (deprecated) SipHasher is SipHash-2-4 over the bytes written.
        let msg: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..=msg.len() {
            let mut h = std::hash::SipHasher::new_with_keys(K0 ^ 0x55, K1);
            h.write(&msg[..len]);
            assert_eq!(siphash24(K0 ^ 0x55, K1, &msg[..len]), h.finish(), "{len}");
        }
    }
}
