//! The Internet checksum (RFC 1071): the one's-complement sum of 16-bit
//! words, computed 32 bits at a time, and on 64-bit hosts 64 bits at a
//! time for long data.
//!
//! Two facts of RFC 1071 make it cheap: the sum does not depend on byte
//! order (words read in the machine's order give the byte-swapped sum, and
//! a correct packet sums to all ones in either order), and 2¹⁶ ≡ 1 modulo
//! 2¹⁶ − 1, so a 32-bit word counts as its two halves (and a 64-bit word
//! as its four, a carry out of 64 bits as 1). A packet of n bytes costs
//! about n/4 additions, long data on 64-bit hosts n/8 (add-with-carry).

/// The sum of `data` as native-order 16-bit words (an odd last byte
/// padded with zero), not yet folded: add sums with `+`, then [`fold`].
/// Any slice's is below 2^62, equal to the words' sum modulo 2^16 − 1,
/// and zero only where every word is.
// Inline at every caller: called, it cost an established UDP packet 16
// instructions more (measured).
#[inline(always)]
pub(crate) fn sum(data: &[u8]) -> u64 {
    // On 64-bit hosts the whole 32-byte blocks of data of 64 bytes or
    // more 8 bytes an addition ([`sum_blocks`]), the rest 32 bits at a
    // time: a 1,500-byte datagram's checksum 448 x86 instructions fewer
    // (measured).
    #[cfg(target_pointer_width = "64")]
    if data.len() >= 64 {
        let (blocks, rest) = data.as_chunks::<32>();
        return sum_blocks(blocks) + sum_short(rest);
    }
    sum_short(data)
}

/// [`sum`] 32 bits at a time (a 32-bit word counts as its two halves):
/// 2 x86 instructions per 4 bytes, [`sum`]'s long loop none. For the
/// fast paths' short packets, whose registers the long loop's would
/// take: with [`sum`] instead, an established 28-byte UDP datagram cost
/// 7 x86 instructions more, a TCP ACK over IPv6 20 (measured).
#[inline(always)]
pub(crate) fn sum_short(data: &[u8]) -> u64 {
    let (words, rest) = data.as_chunks::<4>();
    let mut acc = 0u64;
    for &w in words {
        acc += u64::from(u32::from_ne_bytes(w));
    }
    match *rest {
        [a, b, c] => acc + u64::from(u16::from_ne_bytes([a, b])) + u64::from(u16::from_ne_bytes([c, 0])),
        [a, b] => acc + u64::from(u16::from_ne_bytes([a, b])),
        [a] => acc + u64::from(u16::from_ne_bytes([a, 0])),
        _ => acc,
    }
}

/// [`sum`] of whole 32-byte blocks, 8 bytes an addition: each carry goes
/// into the next addition (`adc` on x86-64: four words in 5
/// instructions, where 32-bit words take 8), the block's last carry is
/// counted apart (2^64 ≡ 1 modulo 2^16 − 1), and the 64-bit sum folded
/// to 33 bits, so that sums still add with `+`.
#[cfg(target_pointer_width = "64")]
#[inline(always)]
fn sum_blocks(blocks: &[[u8; 32]]) -> u64 {
    let (mut acc, mut carries) = (0u64, 0u64);
    for block in blocks {
        let (w, _) = block.as_chunks::<8>();
        let (s, c) = acc.overflowing_add(u64::from_ne_bytes(w[0]));
        let (s, c) = add_carrying(s, u64::from_ne_bytes(w[1]), c);
        let (s, c) = add_carrying(s, u64::from_ne_bytes(w[2]), c);
        let (s, c) = add_carrying(s, u64::from_ne_bytes(w[3]), c);
        acc = s;
        carries += u64::from(c);
    }
    (acc >> 32) + (acc & 0xffff_ffff) + carries
}

/// `a + b + carry` and its carry out (`u64::carrying_add`, which the
/// crate's minimum Rust version does not have; the compiler makes an
/// `adc` of it).
#[cfg(target_pointer_width = "64")]
#[inline(always)]
fn add_carrying(a: u64, b: u64, carry: bool) -> (u64, bool) {
    let (s, c1) = a.overflowing_add(b);
    let (s, c2) = s.overflowing_add(u64::from(carry));
    (s, c1 | c2)
}

/// `a + b` in one's complement over 64 bits: the carry out added back
/// (2^64 ≡ 1 modulo 2^16 − 1; after a carry the sum is at most 2^64 − 2,
/// so adding it back never carries again). A sum of such words folds as
/// [`sum`]'s does, and is zero only where every word is.
#[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
#[inline(always)]
pub(crate) fn add64(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

/// The sum of an IPv4 header without options as two 64-bit words and a
/// 32-bit one ([`add64`]): [`sum`]'s value modulo 2^16 − 1, in fewer
/// additions. Not for [`update_sums`], whose `new` must be a [`sum`].
#[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
#[inline(always)]
pub(crate) fn sum_ipv4_header(h: &[u8; 20]) -> u64 {
    let (words, [a, b, c, d]) = h.as_chunks::<8>() else { return sum(h) };
    add64_words(u64::from(u32::from_ne_bytes([*a, *b, *c, *d])), words)
}

/// `acc` and each of `words` (native order) added with [`add64`].
#[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
#[inline(always)]
pub(crate) fn add64_words(acc: u64, words: &[[u8; 8]]) -> u64 {
    words.iter().fold(acc, |acc, w| add64(acc, u64::from_ne_bytes(*w)))
}

/// The pseudo-header sum of an IPv4 (RFC 768, RFC 9293) or IPv6 (RFC 8200
/// § 8.1) layer-4 checksum: addresses, protocol and layer-4 length.
#[inline]
pub(crate) fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, len: u32) -> u64 {
    sum(src) + sum(dst) + pseudo_header_rest(proto, len)
}

/// The pseudo-header's protocol and layer-4 length, summed: its sum but
/// for the addresses.
#[inline(always)]
pub(crate) fn pseudo_header_rest(proto: u8, len: u32) -> u64 {
    u64::from(u32::from_ne_bytes([0, 0, 0, proto])) + u64::from(u32::from_ne_bytes(len.to_be_bytes()))
}

/// Fold a sum to 16 bits (in native order).
#[inline]
pub(crate) fn fold(acc: u64) -> u16 {
    // Two halvings, each with its end-around carry: the high half of
    // `x + (x rotated by half its width)` is the one's-complement sum of
    // the halves of `x`, the carry out of the low halves added in by the
    // addition itself (and never carried out again: the halves sum to at
    // most 2·(2^h − 1)). Zero stays zero and no other sum becomes zero, as
    // with folding step by step (in fewer instructions: a UDP packet's two
    // checksums 10 fewer, measured).
    let x = (acc.wrapping_add(acc.rotate_right(32)) >> 32) as u32;
    (x.wrapping_add(x.rotate_right(16)) >> 16) as u16
}

/// Whether a sum over data that includes its checksum field is correct.
#[inline]
pub(crate) fn is_valid(acc: u64) -> bool {
    fold(acc) == 0xffff
}

/// The checksum field `check` (as stored, native order) after the data
/// it covers changed from bytes summing to `old` to bytes summing to
/// `new` (sums from [`sum`]): RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'),
/// which never yields the negative zero of RFC 1071's eqn. 2. Network
/// address translation updates checksums this way (RFC 3022 § 4.2), as
/// Linux's `inet_proto_csum_replace4()` does. `new` is a sum of at most
/// 2^32 words (any packet's).
///
/// ~m without folding m first: 2^64 − 1 is a multiple of 2^16 − 1, so the
/// 64-bit complement of a sum is its negation modulo 2^16 − 1, as
/// `csum_sub()` complements the 32-bit word it takes away; the carry out
/// of the addition is added back (2^64 ≡ 1). The sum is then never zero,
/// so the result is never 0xffff: the same value as Linux's replacement
/// word by word (`update_sums_is_linux_word_by_word`), one fold fewer
/// than folding m (a translated UDP packet's two checksums 9 x86
/// instructions fewer, measured).
#[inline]
pub(crate) fn update_sums(check: u16, old: u64, new: u64) -> u16 {
    let (s, carry) = (!old).overflowing_add(u64::from(!check) + new);
    !fold(s + u64::from(carry))
}

/// [`update_sums`] for a checksum field at `at` (two bytes, network
/// order as stored) in `buf`, when `old` (an even number of bytes at an
/// even offset of the covered data) is replaced by `new`; out of range:
/// nothing.
#[inline]
pub(crate) fn replace(buf: &mut [u8], at: usize, old: &[u8], new: &[u8]) {
    if let Some(f) = buf.get_mut(at..at + 2) {
        let check = u16::from_ne_bytes([f[0], f[1]]);
        f.copy_from_slice(&update_sums(check, sum(old), sum(new)).to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fixed-step fold equals folding carries until none is left.
        #[test]
        fn fold_equals_the_carry_loop(x in proptest::prelude::any::<u64>(), small in 0u64..0x3_0000) {
            for acc in [x, small, x >> 20, u64::MAX, 0xffff, 0x1_0000, 0] {
                let mut carried = acc;
                while carried >> 16 != 0 {
                    carried = (carried & 0xffff) + (carried >> 16);
                }
                proptest::prop_assert_eq!(fold(acc), carried as u16);
            }
        }
    }

    /// The straightforward definition: big-endian 16-bit words, carries
    /// folded back after each addition.
    fn reference(data: &[u8]) -> u16 {
        let mut acc = 0u32;
        for c in data.chunks(2) {
            acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    proptest::proptest! {
        /// Any bytes, mostly all ones (the accumulator's words carry), and
        /// any split at an even offset into two sums added with `+`.
        #[test]
        fn any_bytes_sum_as_the_definition(
            data in proptest::collection::vec(
                proptest::prop_oneof![3 => proptest::prelude::Just(0xffu8), 1 => proptest::prelude::any::<u8>()],
                0..3000,
            ),
            cut in 0usize..3000,
        ) {
            let cut = cut.min(data.len()) & !1;
            let ours = fold(sum(&data[..cut]) + sum(&data[cut..]));
            let ours = if cfg!(target_endian = "little") { ours.swap_bytes() } else { ours };
            let reference = reference(&data);
            proptest::prop_assert!(ours == reference || (ours | reference) == 0xffff && (ours & reference) == 0);
        }
    }

    proptest::proptest! {
        /// [`sum`] (8 bytes an addition from 64 bytes of data on 64-bit
        /// hosts) and [`sum_short`] fold alike, for any bytes, mostly all
        /// ones (every addition carries), and any split at an even offset
        /// into two sums added with `+`; a sum is below 2^62 and zero only
        /// where every byte is.
        #[test]
        fn long_and_short_sums_fold_alike(
            data in proptest::collection::vec(
                proptest::prop_oneof![3 => proptest::prelude::Just(0xffu8), 1 => proptest::prelude::any::<u8>(), 1 => proptest::prelude::Just(0u8)],
                0..3000,
            ),
            cut in 0usize..3000,
        ) {
            let cut = cut.min(data.len()) & !1;
            let (s, short) = (sum(&data), sum_short(&data));
            proptest::prop_assert_eq!(fold(s), fold(short));
            proptest::prop_assert_eq!(fold(sum(&data[..cut]) + sum(&data[cut..])), fold(s));
            proptest::prop_assert!(s < 1 << 62);
            proptest::prop_assert_eq!(s == 0, data.iter().all(|&b| b == 0));
        }
    }

    /// All ones and all zeros, long: the 8-byte words' carries counted.
    #[test]
    fn long_sums_of_all_ones_and_zeros() {
        for len in [64, 65, 96, 1500, 65535] {
            let ones = std::vec![0xff; len];
            assert_eq!(fold(sum(&ones)), fold(sum_short(&ones)), "{len}");
            // (An odd last byte is padded with zero.)
            if len % 2 == 0 {
                assert_eq!(fold(sum(&ones)), 0xffff, "{len}");
            }
            assert_eq!(sum(&std::vec![0; len]), 0, "{len}");
            let mut one = std::vec![0; len];
            one[len - 1] = 1;
            assert_ne!(sum(&one), 0, "{len}");
        }
    }

    proptest::proptest! {
        /// An IPv4 header summed as 64-bit words ([`sum_ipv4_header`])
        /// folds to [`sum`]'s value, for any bytes, mostly all ones (every
        /// addition carries), and so do two 8-byte words ([`add64_words`])
        /// with any small sum added.
        #[test]
        fn sums_of_64_bit_words_fold_as_sum(
            h in proptest::array::uniform20(
                proptest::prop_oneof![3 => proptest::prelude::Just(0xffu8), 1 => proptest::prelude::any::<u8>()],
            ),
            small in 0u64..0x3_0000,
        ) {
            proptest::prop_assert_eq!(fold(sum_ipv4_header(&h)), fold(sum(&h)));
            let words = add64(add64_words(0, h[..16].as_chunks::<8>().0), small);
            proptest::prop_assert_eq!(fold(words), fold(sum(&h[..16]) + small));
        }
    }

    /// `net/core/utils.c: inet_proto_csum_replace4()` on a checksum not
    /// offloaded: `csum_replace4()`, 32-bit one's-complement additions
    /// and a fold to 16 bits, complemented.
    fn linux_replace4(check: u16, from: u32, to: u32) -> u16 {
        let add = |a: u32, b: u32| {
            let (s, c) = a.overflowing_add(b);
            s + u32::from(c)
        };
        let x = add(add(!u32::from(check), !from), to);
        let x = (x & 0xffff) + (x >> 16);
        !((x & 0xffff) + (x >> 16)) as u16
    }

    proptest::proptest! {
        /// Replacing words at once gives the value Linux gives replacing
        /// them one after the other (zero's two forms included: neither
        /// yields 0xffff), for words and checksums drawn mostly from the
        /// values where the forms meet.
        #[test]
        fn update_sums_is_linux_word_by_word(
            check in proptest::prop_oneof![proptest::prelude::Just(0xffffu16), proptest::prelude::Just(0u16), proptest::prelude::any::<u16>()],
            words in proptest::collection::vec(
                (
                    proptest::prop_oneof![proptest::prelude::Just(u32::MAX), proptest::prelude::Just(0u32), proptest::prelude::Just(0xffffu32), proptest::prelude::any::<u32>()],
                    proptest::prop_oneof![proptest::prelude::Just(u32::MAX), proptest::prelude::Just(0u32), proptest::prelude::Just(0xffff_0000u32), proptest::prelude::any::<u32>()],
                ),
                1..4,
            ),
        ) {
            // 0xffff replaced by 0 under checksum 0xffff: Linux gives 0.
            proptest::prop_assert_eq!(update_sums(0xffff, 0xffff, 0), linux_replace4(0xffff, 0xffff, 0));
            let linux = words.iter().fold(check, |c, &(from, to)| linux_replace4(c, from, to));
            let old = words.iter().map(|&(from, _)| u64::from(from)).sum();
            let new = words.iter().map(|&(_, to)| u64::from(to)).sum();
            proptest::prop_assert_eq!(update_sums(check, old, new), linux);
        }
    }

    proptest::proptest! {
        /// A fold is the sum modulo 2^16 − 1, in 1..=0xffff for any sum
        /// but zero (one's complement: 0xffff is zero's other form).
        #[test]
        fn a_fold_is_the_sum_modulo_ffff(acc in proptest::prelude::any::<u64>(), shift in 0u32..64) {
            for acc in [acc, acc >> shift, u64::MAX >> shift] {
                let expected = match acc % 0xffff {
                    0 if acc != 0 => 0xffff,
                    m => m as u16,
                };
                proptest::prop_assert_eq!(fold(acc), expected);
            }
        }
    }

    #[test]
    fn equals_the_definition() {
        let mut x = 0x1234_5678u32;
        for len in 0..200 {
            let data: std::vec::Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let ours = fold(sum(&data));
            // Native order: swap on little-endian machines.
            let ours = if cfg!(target_endian = "little") { ours.swap_bytes() } else { ours };
            // 0 and 0xffff are the same number in one's complement.
            let reference = reference(&data);
            assert!(ours == reference || (ours | reference) == 0xffff && (ours & reference) == 0, "{len}");
        }
        assert_eq!(fold(sum(&[0xff; 64])), 0xffff);
    }

    /// RFC 1071 § 3's worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    #[test]
    fn rfc1071_example() {
        let s = fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]));
        assert_eq!(u16::from_be_bytes(s.to_ne_bytes()), 0xddf2);
    }

    /// A UDP datagram with its checksum filled in by smoltcp verifies.
    #[test]
    fn udp_over_ipv4_and_ipv6_verifies() {
        use smoltcp::wire::{IpAddress, IpProtocol, checksum as sc};
        let payload = [0x14u8, 0xe9, 0, 53, 0, 11, 0, 0, b'a', b'b', b'c'];
        for (src, dst) in [
            (IpAddress::v4(10, 0, 0, 1), IpAddress::v4(10, 0, 0, 2)),
            (
                IpAddress::Ipv6("2001:db8::1".parse().unwrap()),
                IpAddress::Ipv6("2001:db8::2".parse().unwrap()),
            ),
        ] {
            let mut p = payload;
            let c = !sc::combine(&[sc::pseudo_header(&src, &dst, IpProtocol::Udp, 11), sc::data(&p)]);
            p[6..8].copy_from_slice(&c.to_be_bytes());
            let (s, d) = match (src, dst) {
                (IpAddress::Ipv4(s), IpAddress::Ipv4(d)) => (s.octets().to_vec(), d.octets().to_vec()),
                (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) => (s.octets().to_vec(), d.octets().to_vec()),
                _ => unreachable!(),
            };
            assert!(is_valid(pseudo_header(&s, &d, 17, 11) + sum(&p)));
            p[9] ^= 1;
            assert!(!is_valid(pseudo_header(&s, &d, 17, 11) + sum(&p)));
        }
    }

    /// RFC 1624 § 4's example is about the failure of eqn. 2; here: an
    /// incremental update equals a recomputation, for random edits.
    #[test]
    fn incremental_update_equals_recomputation() {
        let mut x = 0x9e37_79b9u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for len in (4..64).step_by(2) {
            let mut data: std::vec::Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // The checksum over the data with its field (bytes 0..2) zero.
            data[0] = 0;
            data[1] = 0;
            let c = !fold(sum(&data));
            data[..2].copy_from_slice(&c.to_ne_bytes());
            assert!(is_valid(sum(&data)));
            let at = 2 + (next() as usize % (len - 2)) / 2 * 2;
            let n = (len - at).min(4) / 2 * 2;
            let old: std::vec::Vec<u8> = data[at..at + n].to_vec();
            let new: std::vec::Vec<u8> = (0..n).map(|_| next() as u8).collect();
            data[at..at + n].copy_from_slice(&new);
            replace(&mut data, 0, &old, &new);
            assert!(is_valid(sum(&data)), "{len} {at}");
        }
    }
}
