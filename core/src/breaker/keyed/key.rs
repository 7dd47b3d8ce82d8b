//! The hash and the comparison of a keyed family's keys: a look-up hashes and
//! compares a short byte string (a host and port, a tenant) on every call,
//! so both are written for that case, inline, with no call out.
//!
//! The hash is wyhash's construction (folded 64 x 64 -> 128-bit products
//! of the key's words with a per-family random seed), for keys of any
//! length read in one piece: a 24-byte key costs three multiplications.
//! It is not a cryptographic hash, but an attacker who cannot see the seed
//! cannot aim keys at one bucket (the same trade as foldhash's `fast`
//! hasher, which it replaced: that one pays for the `Hasher` trait's
//! length prefix and its generic paths).

/// Byte equality, inline: words compared from both ends (overlapping), so
/// keys up to 16 bytes take two comparisons and longer ones one per 8
/// bytes.
#[inline(always)]
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// The 8 bytes of `b` from `i`, little-endian. Callers keep
/// `i + 8 <= b.len()` (checked in debug builds).
#[inline(always)]
fn word(b: &[u8], i: usize) -> u64 {
    debug_assert!(i + 8 <= b.len());
    // SAFETY: the 8 bytes from `i` are inside `b` (the callers' bound);
    // an unaligned read of plain bytes.
    u64::from_le(unsafe { b.as_ptr().add(i).cast::<u64>().read_unaligned() })
}

/// The 4 bytes of `b` from `i`, little-endian. Callers keep
/// `i + 4 <= b.len()` (checked in debug builds).
#[inline(always)]
fn half(b: &[u8], i: usize) -> u64 {
    debug_assert!(i + 4 <= b.len());
    // SAFETY: as in `word`.
    u64::from(u32::from_le(unsafe {
        b.as_ptr().add(i).cast::<u32>().read_unaligned()
    }))
}

/// wyhash's constants.
const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// The high and low halves of the 128-bit product, folded.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The hash of `b` under `seed` (see [`seed`]).
#[inline(always)]
pub(super) fn hash(seed: u64, b: &[u8]) -> u64 {
    let n = b.len();
    let mut seed = seed;
    let (x, y) = if n <= 16 {
        if n >= 8 {
            (word(b, 0), word(b, n - 8))
        } else if n >= 4 {
            (half(b, 0), half(b, n - 4))
        } else if n > 0 {
            (
                u64::from(b[0]) << 16 | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]),
                0,
            )
        } else {
            (0, 0)
        }
    } else if n <= 32 {
        // One round, then the last 16 bytes (overlapping the first 16 for
        // keys shorter than 32).
        seed = fold(word(b, 0) ^ P1, word(b, 8) ^ seed);
        (word(b, n - 16), word(b, n - 8))
    } else {
        let mut i = 0;
        while n - i > 16 {
            seed = fold(word(b, i) ^ P1, word(b, i + 8) ^ seed);
            i += 16;
        }
        (word(b, n - 16), word(b, n - 8))
    };
    fold(P1 ^ n as u64, fold(x ^ P1, y ^ seed) ^ P2)
}

/// A random seed, drawn once per table.
pub(super) fn seed() -> u64 {
    fastrand::u64(..) ^ P0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_bytes_compare_and_hash_apart() {
        let seed = seed();
        let keys: Vec<Vec<u8>> = (0..40usize)
            .map(|n| (0..n).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
            // One byte changed anywhere: a different key, a different hash.
            for i in 0..a.len() {
                let mut b = a.clone();
                b[i] ^= 1;
                assert!(!same(a, &b));
                assert_ne!(hash(seed, a), hash(seed, &b), "{a:?} at {i}");
            }
        }
    }

    #[test]
    fn hashes_of_similar_keys_spread_over_the_high_and_low_bits() {
        let seed = seed();
        let mut low = [0u32; 64];
        let mut high = [0u32; 128];
        for i in 0..64_000 {
            let x = hash(seed, format!("host-{i}.example.com:443").as_bytes());
            low[(x & 63) as usize] += 1;
            high[(x >> 57) as usize] += 1;
        }
        // 1,000 and 500 expected per bucket.
        assert!(low.iter().all(|&c| (800..1200).contains(&c)), "{low:?}");
        assert!(high.iter().all(|&c| (380..620).contains(&c)), "{high:?}");
    }
}
