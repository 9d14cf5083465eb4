//! TCP headers (RFC 9293): the fields conntrack reads, the checks Linux
//! makes before tracking (`nf_conntrack_proto_tcp.c: tcp_error()`), the
//! sequence-number type [`SeqNumber`] (serial arithmetic modulo 2³²) and the
//! option walk.

use crate::reason::Reason;
use crate::wire::ip::{IpView, plain_ipv4, plain_ipv6, plain_l4_checksum_ok};

// Flag bits of header byte 13.
pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const RST: u8 = 0x04;
pub(crate) const PSH: u8 = 0x08;
pub(crate) const ACK: u8 = 0x10;
pub(crate) const URG: u8 = 0x20;
pub(crate) const ECE: u8 = 0x40;
pub(crate) const CWR: u8 = 0x80;

// Option kinds (RFC 9293 section 3.1, RFC 7323, RFC 2018).
pub(crate) const OPT_EOL: u8 = 0;
pub(crate) const OPT_NOP: u8 = 1;
pub(crate) const OPT_WINDOW: u8 = 3;
pub(crate) const OPT_SACK_PERM: u8 = 4;
pub(crate) const OPT_SACK: u8 = 5;
pub(crate) const OPT_TIMESTAMP: u8 = 8;

/// A TCP sequence (or acknowledgement) number.
///
/// Sequence numbers live in a space of 2³² values that wraps around
/// (RFC 9293 section 3.4), so they are compared with serial-number
/// arithmetic (RFC 1982): `a` is before `b` when the 32-bit difference
/// `a − b`, read as a signed number, is negative, that is when `b` lies
/// less than 2³¹ ahead of `a`. Two numbers exactly 2³¹ apart are each before
/// the other (RFC 1982 leaves that case undefined; Linux's `before()` gives
/// this answer, and so does this type). Arithmetic wraps modulo 2³².
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub(crate) struct SeqNumber(pub(crate) u32);

impl SeqNumber {
    /// Strictly before `other` modulo 2³²: the signed 32-bit
    /// `self − other` is negative.
    #[inline]
    pub(crate) fn before(self, other: SeqNumber) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }

    /// Strictly after `other` modulo 2³² (`other` is before `self`).
    #[inline]
    pub(crate) fn after(self, other: SeqNumber) -> bool {
        other.before(self)
    }

    /// Before or equal to `other` modulo 2³²: before `other + 1`.
    #[inline]
    pub(crate) fn at_or_before(self, other: SeqNumber) -> bool {
        self.before(other.add(1))
    }

    /// The number `n` octets later, wrapping.
    #[inline]
    pub(crate) fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// The number `n` octets earlier, wrapping.
    #[inline]
    pub(crate) fn sub(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n))
    }

    /// Octets from `earlier` up to `self`, modulo 2³² (`self − earlier`).
    #[inline]
    pub(crate) fn offset_from(self, earlier: SeqNumber) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
}

/// The fields of one TCP segment that conntrack reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment<'a> {
    /// Sequence number.
    pub(crate) seq: SeqNumber,
    /// Acknowledgement number.
    pub(crate) ack: SeqNumber,
    /// Raw (unscaled) window field.
    pub(crate) window: u16,
    /// Byte 13 of the TCP header: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08,
    /// ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
    pub(crate) flags: u8,
    /// The option bytes (header length − 20 bytes).
    pub(crate) options: &'a [u8],
    /// The payload: from the data offset to the end of the IP payload.
    pub(crate) payload: &'a [u8],
}

impl Segment<'_> {
    /// Payload length derived from the IP length
    /// (`nf_conntrack_proto_tcp.c: segment_seq_plus_len()`).
    pub(crate) fn payload_len(&self) -> u32 {
        u32::try_from(self.payload.len()).unwrap_or(u32::MAX)
    }

    pub(crate) fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// `seq + len`, SYN and FIN counting one each
    /// (`nf_conntrack_proto_tcp.c: segment_seq_plus_len()`).
    pub(crate) fn end(&self) -> SeqNumber {
        self.seq.add(self.payload_len()).add(u32::from(self.has(SYN))).add(u32::from(self.has(FIN)))
    }
}

/// The header checks of `tcp_error()`: a 20-byte header, a data offset
/// that fits the packet, and (when `verify_checksum`) the checksum.
pub(crate) fn parse<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<Segment<'a>, Reason> {
    let seg = segment(ip.l4)?;
    if verify_checksum && !ip.l4_checksum_ok(ip.l4.len()) {
        return Err(Reason::BadChecksum);
    }
    Ok(seg)
}

/// `packet` as a TCP segment in an IPv4 packet without options (header
/// byte 0x45), read straight from its bytes ([`plain_ipv4`]) with exactly
/// the checks of `parse_ipv4` (outer packet) and [`parse`]: the segment
/// and the IP packet's length, or `None` where either would refuse it. A
/// test holds it to the two (`plain_tcp4_is_parse_ipv4_and_parse`).
#[inline(always)]
pub(crate) fn plain_tcp4<const LONG: bool>(
    packet: &[u8],
    verify_checksum: bool,
) -> Option<(Segment<'_>, u32)> {
    let (h, l4) = plain_ipv4(packet, 6)?;
    let seg = segment(l4).ok()?;
    if verify_checksum && !plain_l4_checksum_ok::<_, 20, LONG>(h, l4, 6) {
        return None;
    }
    Some((seg, 20 + l4.len() as u32))
}

/// [`plain_tcp4`] over IPv6: `packet` as a TCP segment right after an
/// IPv6 packet's fixed header (no extension header), read straight from
/// its bytes ([`plain_ipv6`]) with exactly the checks of `parse_ipv6`
/// (outer packet) and [`parse`]. A test holds it to the two
/// (`plain_tcp6_is_parse_ipv6_and_parse`).
#[cfg_attr(any(feature = "ipv4-only", not(target_pointer_width = "64")), allow(dead_code))]
#[inline(always)]
pub(crate) fn plain_tcp6<const LONG: bool>(
    packet: &[u8],
    verify_checksum: bool,
) -> Option<(Segment<'_>, u32)> {
    let (h, l4) = plain_ipv6(packet, 6)?;
    let seg = segment(l4).ok()?;
    if verify_checksum && !plain_l4_checksum_ok::<_, 20, LONG>(h, l4, 6) {
        return None;
    }
    Some((seg, 40 + l4.len() as u32))
}

/// The segment `l4` (a TCP header and what follows it, to the end of the
/// IP payload) with the first of `tcp_error()`'s checks in its order: the
/// header present, the data offset. (The checksum, its last, is the
/// caller's: a closure passed here was once left out of line by the
/// compiler, a TCP ACK 37 instructions more, measured.)
#[inline(always)]
fn segment(l4: &[u8]) -> Result<Segment<'_>, Reason> {
    let h: &[u8; 20] = l4.first_chunk().ok_or(Reason::ShortPacket)?;
    let doff = usize::from(h[12] >> 4) * 4;
    if doff < 20 || doff > l4.len() {
        return Err(Reason::BadTcpHeader);
    }
    let be32 = |o: usize| u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    Ok(Segment {
        seq: SeqNumber(be32(4)),
        ack: SeqNumber(be32(8)),
        window: u16::from_be_bytes([h[14], h[15]]),
        flags: h[13],
        options: l4.get(20..doff).unwrap_or_default(),
        payload: l4.get(doff..).unwrap_or_default(),
    })
}

/// Walk TCP options: EOL stops, NOP advances one byte, anything else needs a
/// length byte ≥ 2 that fits in what remains (else stop). `f(kind, body)`
/// returns false to stop early.
pub(crate) fn walk_options(opts: &[u8], mut f: impl FnMut(u8, &[u8]) -> bool) {
    let mut rest = opts;
    while let Some((&kind, tail)) = rest.split_first() {
        match kind {
            OPT_EOL => return,
            OPT_NOP => rest = tail,
            _ => {
                let Some(&len) = tail.first() else { return };
                let Some((opt, next)) = rest.split_at_checked(usize::from(len)) else {
                    return; // longer than what remains
                };
                if len < 2 {
                    return; // "silly option"
                }
                if !f(kind, opt.get(2..).unwrap_or(&[])) {
                    return;
                }
                rest = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod plain {
        use super::super::{parse, plain_tcp4};
        use crate::wire::checksum::{fold, pseudo_header, sum};
        use crate::wire::ip::tests::ipv4;
        use crate::wire::ip::{Mode, parse_ipv4};
        use proptest::prelude::*;

        /// An IPv4 packet carrying a TCP segment with `options` and
        /// `payload`, its data offset field set to `doff` (in words), the
        /// IP total length bent by `total_delta`; the TCP checksum right
        /// unless `wrong` (over what the total length covers), the IP
        /// header checksum right.
        fn segment(
            options: &[u8],
            payload: &[u8],
            doff: u8,
            total_delta: i32,
            wrong: bool,
        ) -> std::vec::Vec<u8> {
            let mut l4 =
                std::vec![0x30, 0x39, 0, 80, 0, 0, 0, 100, 0, 0, 0, 200, doff << 4, 0x10, 0xff, 0xff];
            l4.extend_from_slice(&[0, 0, 0, 0]);
            l4.extend_from_slice(options);
            l4.extend_from_slice(payload);
            let mut p = ipv4([10, 0, 0, 1], [192, 0, 2, 7], 6, &l4);
            let total = (p.len() as i32 + total_delta).clamp(0, 0xffff) as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            p[10..12].copy_from_slice(&[0, 0]);
            let ip_check = !fold(sum(&p[..20]));
            p[10..12].copy_from_slice(&ip_check.to_ne_bytes());
            let end = usize::from(total).clamp(40, p.len());
            let check = !fold(sum(&p[20..end]) + pseudo_header(&p[12..16], &p[16..20], 6, (end - 20) as u32));
            p[36..38].copy_from_slice(&(check ^ u16::from(wrong)).to_ne_bytes());
            p
        }

        proptest! {
            /// [`plain_tcp4`] is `parse_ipv4` (outer packet) and [`parse`]:
            /// segments whose data offset, IP length and checksum are
            /// bent, cut short, with a byte changed now and then.
            #[test]
            fn plain_tcp4_is_parse_ipv4_and_parse(
                options in proptest::collection::vec(any::<u8>(), 0..3).prop_map(|w| w.repeat(4)),
                payload in proptest::collection::vec(any::<u8>(), 0..160),
                doff in prop_oneof![3 => Just(None), 1 => (0u8..16).prop_map(Some)],
                total_delta in prop_oneof![2 => Just(0i32), 1 => -30i32..4],
                wrong in proptest::bool::weighted(0.2),
                flip in proptest::option::weighted(0.1, (0usize..70, any::<u8>())),
                cut in proptest::option::weighted(0.1, 0usize..70),
                verify in any::<bool>(),
            ) {
                let doff = doff.unwrap_or(5 + options.len() as u8 / 4);
                let mut p = segment(&options, &payload, doff, total_delta, wrong);
                if let Some((at, x)) = flip && at < p.len() {
                    p[at] ^= x;
                }
                if let Some(cut) = cut {
                    p.truncate(cut);
                }
                let expected = if p.first() == Some(&0x45) {
                    parse_ipv4(&p, Mode::Outer)
                        .ok()
                        .filter(|ip| ip.proto == 6)
                        .and_then(|ip| Some((parse(&ip, verify).ok()?, 20 + ip.l4.len() as u32)))
                } else {
                    None
                };
                prop_assert_eq!(plain_tcp4::<false>(&p, verify), expected);
                prop_assert_eq!(plain_tcp4::<true>(&p, verify), expected);
            }

            /// [`plain_tcp6`](super::super::plain_tcp6) is `parse_ip` of a
            /// packet of version 6 whose next header is TCP, and [`parse`]:
            /// the IPv4 test's segments over IPv6, the payload length bent
            /// instead of the total length, now and then another next
            /// header.
            #[test]
            fn plain_tcp6_is_parse_ipv6_and_parse(
                options in proptest::collection::vec(any::<u8>(), 0..3).prop_map(|w| w.repeat(4)),
                payload in proptest::collection::vec(any::<u8>(), 0..160),
                doff in prop_oneof![3 => Just(None), 1 => (0u8..16).prop_map(Some)],
                length_delta in prop_oneof![2 => Just(0i32), 1 => -30i32..4],
                next in prop_oneof![4 => Just(6u8), 1 => Just(0u8), 1 => Just(17u8)],
                wrong in proptest::bool::weighted(0.2),
                flip in proptest::option::weighted(0.1, (0usize..90, any::<u8>())),
                cut in proptest::option::weighted(0.1, 0usize..90),
                verify in any::<bool>(),
            ) {
                let doff = doff.unwrap_or(5 + options.len() as u8 / 4);
                let v4 = segment(&options, &payload, doff, 0, false);
                let mut p = std::vec![0x60, 0, 0, 0, 0, 0, next, 64];
                p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
                p.extend_from_slice(&v4[20..]);
                let plen = ((p.len() - 40) as i32 + length_delta).clamp(0, 0xffff) as u16;
                p[4..6].copy_from_slice(&plen.to_be_bytes());
                p[56..58].copy_from_slice(&[0, 0]);
                let end = (40 + usize::from(plen)).clamp(60, p.len());
                let check = !fold(sum(&p[40..end]) + pseudo_header(&p[8..24], &p[24..40], 6, (end - 40) as u32));
                p[56..58].copy_from_slice(&(check ^ u16::from(wrong)).to_ne_bytes());
                if let Some((at, x)) = flip && at < p.len() {
                    p[at] ^= x;
                }
                if let Some(cut) = cut {
                    p.truncate(cut);
                }
                let expected = if p.first().is_some_and(|b| b >> 4 == 6) && p.get(6) == Some(&6) {
                    crate::wire::ip::parse_ip(&p, Mode::Outer)
                        .ok()
                        .filter(|ip| ip.proto == 6)
                        .and_then(|ip| Some((parse(&ip, verify).ok()?, 40 + ip.l4.len() as u32)))
                } else {
                    None
                };
                prop_assert_eq!(super::super::plain_tcp6::<false>(&p, verify), expected);
                prop_assert_eq!(super::super::plain_tcp6::<true>(&p, verify), expected);
            }
        }
    }

    #[test]
    fn sequence_numbers_wrap() {
        let s = SeqNumber;
        assert!(s(u32::MAX).before(s(0)) && s(0).after(s(u32::MAX)));
        assert!(!s(5).before(s(5)) && s(5).at_or_before(s(5)) && s(u32::MAX).at_or_before(s(0)));
        assert!(s(0).before(s(0x7fff_ffff)) && !s(0).before(s(0x8000_0001)));
        // Exactly 2³¹ apart: each is before the other, as with Linux's before().
        assert!(s(0).before(s(0x8000_0000)) && s(0x8000_0000).before(s(0)));
    }

    #[test]
    fn sequence_arithmetic_wraps() {
        let s = SeqNumber;
        assert_eq!(s(u32::MAX).add(2), s(1));
        assert_eq!(s(1).sub(2), s(u32::MAX));
        assert_eq!(s(1).offset_from(s(u32::MAX)), 2);
        assert_eq!(s(u32::MAX).offset_from(s(1)), u32::MAX - 1);
    }

    #[test]
    fn option_walk_stops_at_malformed_options() {
        let mut seen = std::vec::Vec::new();
        // NOP, window scale 7, a "silly" option of length 1.
        walk_options(&[OPT_NOP, OPT_WINDOW, 3, 7, 9, 1, OPT_SACK_PERM, 2], |k, body| {
            seen.push((k, body.to_vec()));
            true
        });
        assert_eq!(seen, [(OPT_WINDOW, std::vec![7])]);
        seen.clear();
        // An option longer than what remains ends the walk.
        walk_options(&[OPT_SACK_PERM, 2, OPT_WINDOW, 4, 7], |k, body| {
            seen.push((k, body.to_vec()));
            true
        });
        assert_eq!(seen, [(OPT_SACK_PERM, std::vec![])]);
    }
}
