//! The table's keyed hash: SipHash-1-3 with a 128-bit key from the caller.
//!
//! A `no_std` library has no source of randomness, so the caller supplies
//! the key ([`HashKey`]); with a secret key an attacker who chooses packet
//! tuples cannot aim them at one bucket (the kernel's
//! `nf_conntrack_core.c: hash_conntrack_raw()` uses keyed SipHash for the
//! same reason). Written from the SipHash paper (Aumasson & Bernstein,
//! 2012); the test vector is the paper's.

/// The secret key of a table's hash.
///
/// **Use random bytes**: from [`HashKey::random`] under `std`, or from a
/// hardware RNG at boot on a microcontroller. A fixed key (like the
/// examples' `HashKey([0x5a; 16])`) makes the table's buckets
/// predictable: whoever knows it can compute flows that all land in one
/// pair of buckets, fill it, and then evict or block the new flows of
/// everybody whose flows hash there.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey(pub [u8; 16]);

#[cfg(feature = "std")]
impl HashKey {
    /// A key from the operating system's random number generator (through
    /// `std`'s `RandomState`, whose keys the OS RNG seeds once per thread;
    /// each call hashes a counter with a new `RandomState`, so two calls
    /// give unrelated-looking keys that only the seed determines).
    ///
    /// ```
    /// let a = ctrack::HashKey::random();
    /// let b = ctrack::HashKey::random();
    /// assert_ne!(a, b);
    /// ```
    pub fn random() -> HashKey {
        use std::hash::{BuildHasher, Hasher};
        let mut key = [0u8; 16];
        for (i, half) in key.chunks_exact_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(i);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
        HashKey(key)
    }
}

impl core::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

struct State {
    v: [u64; 4],
}

impl State {
    #[inline(always)]
    fn round(&mut self) {
        let v = &mut self.v;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    #[inline(always)]
    fn compress(&mut self, m: u64, c_rounds: usize) {
        self.v[3] ^= m;
        for _ in 0..c_rounds {
            self.round();
        }
        self.v[0] ^= m;
    }
}

impl State {
    #[inline(always)]
    fn new(key: &HashKey) -> State {
        let mut k = [0u8; 8];
        k.copy_from_slice(&key.0[..8]);
        let k0 = u64::from_le_bytes(k);
        k.copy_from_slice(&key.0[8..]);
        let k1 = u64::from_le_bytes(k);
        State {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
        }
    }
}

/// SipHash-1-3 of the little-endian bytes of `words`: what [`hash`] gives
/// for those bytes, without assembling them (the table hashes its keys as
/// words).
#[inline]
pub(crate) fn hash_words(key: &HashKey, words: &[u64]) -> u64 {
    let mut s = State::new(key);
    for &w in words {
        s.compress(w, 1);
    }
    s.compress(((words.len() * 8) as u64 & 0xff) << 56, 1);
    s.v[2] ^= 0xff;
    for _ in 0..3 {
        s.round();
    }
    s.v[0] ^ s.v[1] ^ s.v[2] ^ s.v[3]
}

/// SipHash-c-d over `data`.
fn siphash(key: &HashKey, data: &[u8], c_rounds: usize, d_rounds: usize) -> u64 {
    let mut s = State::new(key);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        s.compress(u64::from_le_bytes(w), c_rounds);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    s.compress(u64::from_le_bytes(last), c_rounds);
    s.v[2] ^= 0xff;
    for _ in 0..d_rounds {
        s.round();
    }
    s.v[0] ^ s.v[1] ^ s.v[2] ^ s.v[3]
}

/// The slot of `data` in an array of `len` slots: the high 32 bits of its
/// hash scaled to `len`.
pub(crate) fn slot(key: &HashKey, data: &[u8], len: usize) -> usize {
    scale((hash(key, data) >> 32) as u32, len)
}

/// 32 hash bits scaled to `0..len` by multiply-shift (any `len`, power of
/// two or not, and no division).
pub(crate) fn scale(bits: u32, len: usize) -> usize {
    ((u64::from(bits) * len as u64) >> 32) as usize
}

/// The table's hash: SipHash-1-3, the variant Rust's std and Linux's
/// conntrack use for hash tables.
pub(crate) fn hash(key: &HashKey, data: &[u8]) -> u64 {
    siphash(key, data, 1, 3)
}

#[cfg(feature = "defmt")]
impl defmt::Format for HashKey {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "HashKey(..)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash24_paper_vector() {
        // Appendix A of the SipHash paper: key 00..0f, message 00..0e.
        let key = HashKey(core::array::from_fn(|i| i as u8));
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash(&key, &msg, 2, 4), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn words_hash_like_their_bytes() {
        let key = HashKey(core::array::from_fn(|i| 3 * i as u8));
        let words = [0x0102_0304_0506_0708u64, u64::MAX, 7, 0, 1 << 63];
        for n in 0..=words.len() {
            let bytes: std::vec::Vec<u8> = words[..n].iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(hash_words(&key, &words[..n]), hash(&key, &bytes), "{n} words");
        }
    }

    #[test]
    fn key_changes_hash() {
        let a = hash(&HashKey([1; 16]), b"tuple");
        let b = hash(&HashKey([2; 16]), b"tuple");
        assert_ne!(a, b);
    }
}
