//! The table's keyed hash, with a 128-bit key from the caller: a
//! folded-multiply hash (see [`fold_hash`] for the choice and the
//! hash-flooding argument), or SipHash-1-3 with the feature `hash-siphash`
//! (what `nf_conntrack_core.c: hash_conntrack_raw()` uses).
//!
//! A `no_std` library has no source of randomness, so the caller supplies
//! the key ([`HashKey`]); with a secret key an attacker who chooses packet
//! tuples cannot aim them at one bucket. SipHash is written from its paper
//! (Aumasson & Bernstein, 2012); the test vector is the paper's.

/// The secret key of a table's hash.
///
/// **Use random bytes**: from [`HashKey::random`] under `std`, or from a
/// hardware RNG at boot on a microcontroller. A fixed key (like the
/// examples' `HashKey([0x5a; 16])`) makes the table's buckets
/// predictable: whoever knows it can compute flows that all land in one
/// probe path, fill it, and then evict or block the new flows of
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

impl HashKey {
    /// The key as two 64-bit halves.
    #[inline]
    fn halves(&self) -> (u64, u64) {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = self.0;
        (u64::from_le_bytes([a, b, c, d, e, f, g, h]), u64::from_le_bytes([i, j, k, l, m, n, o, p]))
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
        let (k0, k1) = key.halves();
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

/// The hash of a key given as 64-bit words (the table hashes its keys as
/// words): the folded-multiply hash, or SipHash-1-3 of the words'
/// little-endian bytes with the feature `hash-siphash`.
#[inline]
pub(crate) fn hash_words(key: &HashKey, words: &[u64]) -> u64 {
    #[cfg(feature = "hash-siphash")]
    {
        siphash_words(key, words)
    }
    #[cfg(not(feature = "hash-siphash"))]
    {
        fold_hash(key, words)
    }
}

/// Digits of π: constants with no structure, so that no input word is
/// special for every key.
const PI: [u64; 4] =
    [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344, 0xa409_3822_299f_31d0, 0x082e_fa98_ec4e_6c89];

/// The full 128-bit product of `a` and `b`, its halves XORed: every bit
/// of each factor reaches the middle of the result.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The folded-multiply hash: the words in pairs, each pair one 64×64→128
/// multiplication of the pair's words XORed with secret values, chained
/// through an accumulator that starts at the key; a last multiplication
/// mixes the result so that its high bits (the index's bucket) and bits
/// 24–31 (its tag) depend on every input bit. Two multiplications for an
/// IPv4 key, four for IPv6.
///
/// Why this and not SipHash (what Linux uses): hashing is a quarter of the
/// instructions of a packet with SipHash-1-3 (≈ 130 of them), ≈ 15 with
/// this. The attack a keyed hash must stop is hash flooding: an attacker
/// who cannot read the hash chooses tuples so that many land in one bucket.
/// With a secret 128-bit key, the value each multiplication sees is the
/// attacker's word XOR an unknown 64-bit secret, so colliding tuples cannot
/// be computed offline; they could only be found by observing the table
/// (timing), and the table bounds what a collision costs anyway: a search
/// reads at most [`PROBE_BUCKETS`](crate::PROBE_BUCKETS) cache lines, a full
/// probe path early-drops only unassured entries. The construction is not a
/// pseudo-random function, as SipHash is: a deployment that wants the
/// cryptographic argument (say, a table whose timing an attacker can measure
/// at leisure) turns on the feature `hash-siphash` and pays the
/// instructions.
#[cfg_attr(feature = "hash-siphash", allow(dead_code))]
// Inline on 64-bit hosts, where its multiplications are two instructions;
// on 32-bit microcontrollers each is a dozen, and a copy at every caller
// costs flash (ci/footprint.sh).
#[cfg_attr(target_pointer_width = "64", inline)]
fn fold_hash(key: &HashKey, words: &[u64]) -> u64 {
    fold_hash_inline(key, words)
}

/// [`hash_words`] of the words of a key (two for IPv4, five for IPv6: the
/// packet path's one hash), inline on every target: with the length
/// known, the hash unrolls (on a Cortex-M3, 60 fewer instructions than the
/// call).
#[inline(always)]
pub(crate) fn hash_array<const N: usize>(key: &HashKey, words: &[u64; N]) -> u64 {
    #[cfg(feature = "hash-siphash")]
    {
        siphash_words(key, words)
    }
    #[cfg(not(feature = "hash-siphash"))]
    {
        fold_hash_inline(key, words)
    }
}

/// [`fold_hash`]'s body.
#[cfg_attr(feature = "hash-siphash", allow(dead_code))]
#[inline(always)]
fn fold_hash_inline(key: &HashKey, words: &[u64]) -> u64 {
    let (k0, k1) = key.halves();
    let mut acc = k0 ^ PI[0].wrapping_mul(words.len() as u64 + 1);
    let mut pairs = words.chunks_exact(2);
    for p in &mut pairs {
        acc = fold_mul(p[0] ^ acc ^ PI[1], p[1] ^ k1 ^ PI[2]);
    }
    if let [w] = pairs.remainder() {
        acc = fold_mul(*w ^ acc ^ PI[1], k1 ^ PI[3]);
    }
    fold_mul(acc ^ k1, k0 ^ PI[3])
}

/// SipHash-1-3 of the little-endian bytes of `words`: what [`siphash`]
/// gives for those bytes, without assembling them.
#[cfg_attr(not(feature = "hash-siphash"), allow(dead_code))]
fn siphash_words(key: &HashKey, words: &[u64]) -> u64 {
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

/// SipHash-c-d over `data` (the paper's form, for the tests).
#[cfg(test)]
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

/// The hash of bytes: [`hash_words`] of their little-endian 64-bit words,
/// the last one padded with zeros and carrying the length in its top byte
/// (so `[0]` and `[0, 0]` differ).
pub(crate) fn hash(key: &HashKey, data: &[u8]) -> u64 {
    let mut words = [0u64; 8];
    let mut n = 0;
    for c in data.chunks(8) {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        if n == words.len() {
            // Longer data than the table ever hashes: fold it in.
            words[0] = hash_words(key, &words);
            n = 1;
        }
        words[n] = u64::from_le_bytes(w);
        n += 1;
    }
    let len = (data.len() as u64 & 0xff) << 56;
    if n < words.len() && !data.len().is_multiple_of(8) {
        words[n - 1] |= len;
    } else if n < words.len() {
        words[n] = len;
        n += 1;
    }
    hash_words(key, &words[..n])
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

    proptest::proptest! {
        /// The packet path's inline hash of two words is the table's hash
        /// of those words (an IPv4 key hashes the same on either path).
        #[test]
        fn the_pair_hash_is_the_words_hash(key in proptest::prelude::any::<[u8; 16]>(),
                                           a in proptest::prelude::any::<u64>(), b in proptest::prelude::any::<u64>()) {
            let key = HashKey(key);
            proptest::prop_assert_eq!(hash_array(&key, &[a, b]), hash_words(&key, &[a, b]));
        }
    }

    #[test]
    fn siphash24_paper_vector() {
        // Appendix A of the SipHash paper: key 00..0f, message 00..0e.
        let key = HashKey(core::array::from_fn(|i| i as u8));
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash(&key, &msg, 2, 4), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn sip_words_hash_like_their_bytes() {
        let key = HashKey(core::array::from_fn(|i| 3 * i as u8));
        let words = [0x0102_0304_0506_0708u64, u64::MAX, 7, 0, 1 << 63];
        for n in 0..=words.len() {
            let bytes: std::vec::Vec<u8> = words[..n].iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(siphash_words(&key, &words[..n]), siphash(&key, &bytes, 1, 3), "{n} words");
        }
    }

    #[test]
    fn key_changes_hash() {
        let a = hash(&HashKey([1; 16]), b"tuple");
        let b = hash(&HashKey([2; 16]), b"tuple");
        assert_ne!(a, b);
        for words in [&[][..], &[0], &[0, 0], &[1, 2, 3, 4, 5]] {
            assert_ne!(fold_hash(&HashKey([1; 16]), words), fold_hash(&HashKey([2; 16]), words));
        }
    }

    #[test]
    fn lengths_and_padding_differ() {
        let key = HashKey([9; 16]);
        let all: std::vec::Vec<u64> =
            [&b""[..], b"\0", b"\0\0", &[0; 8], &[0; 9], &[0; 16]].iter().map(|d| hash(&key, d)).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    /// Each input bit flips about half of the output bits, for every word
    /// count the table uses (2 for IPv4 keys, 5 for IPv6).
    #[test]
    fn fold_hash_avalanche() {
        let key = HashKey(*b"avalanche-key-16");
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [2usize, 5] {
            let (mut flips, mut trials, mut worst) = (0u64, 0u64, 64u32);
            for _ in 0..200 {
                let words: std::vec::Vec<u64> = (0..n).map(|_| next()).collect();
                let h = fold_hash(&key, &words);
                for bit in 0..64 * n {
                    let mut w = words.clone();
                    w[bit / 64] ^= 1 << (bit % 64);
                    let d = (h ^ fold_hash(&key, &w)).count_ones();
                    flips += u64::from(d);
                    trials += 1;
                    worst = worst.min(d);
                }
            }
            let mean = flips as f64 / trials as f64;
            assert!((30.0..34.0).contains(&mean), "{n} words: mean {mean}");
            assert!(worst >= 8, "{n} words: a flip changed only {worst} bits");
        }
    }

    /// Consecutive IPv4 keys (a scan: one port after the other) spread
    /// evenly over buckets: the largest of 1,024 buckets holds no more than
    /// twice the mean.
    #[test]
    fn sequential_keys_spread() {
        let key = HashKey([0x42; 16]);
        let mut counts = [0u32; 1024];
        for port in 0..65_536u64 {
            let words = [2 | 17 << 8 | port << 32 | 80 << 48, 0x0100_000a_0200_000a];
            counts[scale((hash_words(&key, &words) >> 32) as u32, counts.len())] += 1;
        }
        let max = *counts.iter().max().unwrap();
        assert!(max <= 2 * 64, "{max}");
    }
}
