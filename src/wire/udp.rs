//! UDP (RFC 768) and UDP-Lite (RFC 3828) headers: the checks of
//! `nf_conntrack_proto_udp.c: udp_error()` and `udplite_error()`.

use crate::reason::Reason;
use crate::wire::ip::{IpView, plain_ipv4, plain_ipv6, plain_l4_checksum_ok};

/// UDP checks (`nf_conntrack_proto_udp.c: udp_error()`): header present,
/// length field sane, checksum (if any). Returns the payload, up to the
/// length field (trailing padding excluded).
// Inlined into the packet path everywhere (fewer instructions per
// packet on x86 and Cortex-M3, measured; a few dozen bytes of flash).
#[inline(always)]
pub(crate) fn check_udp<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<&'a [u8], Reason> {
    let hdr = ip.l4.get(..8).ok_or(Reason::ShortPacket)?;
    let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    // A length below what is present is trailing padding and accepted.
    if len < 8 || len > ip.l4.len() {
        return Err(Reason::BadUdpLength);
    }
    let csum = u16::from_be_bytes([hdr[6], hdr[7]]);
    // Zero = no checksum; accepted on IPv6 too (conntrack does not enforce RFC 8200).
    if verify_checksum && csum != 0 && !ip.l4_checksum_ok(ip.l4.len()) {
        return Err(Reason::BadChecksum);
    }
    Ok(&ip.l4[8..len])
}

/// UDP-Lite checks (`nf_conntrack_proto_udp.c: udplite_error()`): coverage,
/// mandatory checksum. Returns the payload.
pub(crate) fn check_udplite<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<&'a [u8], Reason> {
    let hdr = ip.l4.get(..8).ok_or(Reason::ShortPacket)?;
    let coverage = match usize::from(u16::from_be_bytes([hdr[4], hdr[5]])) {
        0 => ip.l4.len(),
        c if c < 8 || c > ip.l4.len() => return Err(Reason::BadUdpliteCoverage),
        c => c,
    };
    if u16::from_be_bytes([hdr[6], hdr[7]]) == 0 {
        return Err(Reason::UdpliteNoChecksum);
    }
    if verify_checksum && !ip.l4_checksum_ok(coverage) {
        return Err(Reason::BadChecksum);
    }
    Ok(&ip.l4[8..])
}

/// [`check_udp`]'s tests of the UDP datagram `$l4`, the layer-4 part of
/// the IPv4 or IPv6 packet whose (fixed) header is `$h` (20 or 40 bytes),
/// written where they are used: its header and its length field, or a
/// return of `None` where `check_udp` would refuse it. (A macro: the same
/// tests in a function that both readers call cost an established IPv4
/// datagram 4 x86 instructions, its checksum off 6, a new flow 15,
/// measured.)
macro_rules! plain_udp {
    ($h:expr, $l4:expr, $verify_checksum:expr, $long:expr) => {{
        let u = $l4.first_chunk::<8>()?;
        let udp_len = usize::from(u16::from_be_bytes([u[4], u[5]]));
        // A length below what is present is trailing padding and accepted.
        if udp_len < 8 || udp_len > $l4.len() {
            return None;
        }
        // Zero: no checksum.
        if $verify_checksum && (u[6] | u[7]) != 0 && !plain_l4_checksum_ok::<_, 8, $long>($h, $l4, 17) {
            return None;
        }
        (u, udp_len)
    }};
}

/// A UDP datagram in an IPv4 packet without options, as
/// [`plain_udp4`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlainUdp4 {
    /// The addresses as numbers (network order).
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    /// Where the payload ends in the packet: the UDP length field's end.
    udp_end: usize,
    /// The IP packet's length (its total length field).
    pub len: u32,
}

impl PlainUdp4 {
    /// The payload in `packet` (the packet read), up to the UDP length
    /// field (as [`check_udp`] gives it).
    #[inline(always)]
    pub(crate) fn payload(self, packet: &[u8]) -> &[u8] {
        packet.get(28..self.udp_end).unwrap_or_default()
    }
}

/// `packet` as a UDP datagram in an IPv4 packet without options (header
/// byte 0x45), read straight from its bytes ([`plain_ipv4`]) with exactly
/// the checks that `parse_ipv4` (outer packet) and [`check_udp`] make:
/// `None` where either would refuse it, and for any other shape (options,
/// another protocol). The packet path's commonest case, without building
/// an [`IpView`]; a test holds it to the two
/// (`plain_udp4_is_parse_and_check`). `LONG`: the payload's checksum as
/// long data is best summed ([`plain_l4_checksum_ok`]).
#[inline(always)]
pub(crate) fn plain_udp4<const LONG: bool>(packet: &[u8], verify_checksum: bool) -> Option<PlainUdp4> {
    let (h, l4) = plain_ipv4(packet, 17)?;
    let (u, udp_len) = plain_udp!(h, l4, verify_checksum, LONG);
    Some(PlainUdp4 {
        src: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        dst: u32::from_be_bytes([h[16], h[17], h[18], h[19]]),
        sport: u16::from_be_bytes([u[0], u[1]]),
        dport: u16::from_be_bytes([u[2], u[3]]),
        udp_end: 20 + udp_len,
        len: 20 + l4.len() as u32,
    })
}

/// A UDP datagram right after an IPv6 packet's fixed header, as
/// [`plain_udp6`] reads it (the addresses are the header's bytes).
#[cfg_attr(any(feature = "ipv4-only", not(target_pointer_width = "64")), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlainUdp6 {
    pub sport: u16,
    pub dport: u16,
    /// Where the payload ends in the packet: the UDP length field's end.
    udp_end: usize,
    /// The IP packet's length (its fixed header and payload).
    pub len: u32,
}

#[cfg_attr(any(feature = "ipv4-only", not(target_pointer_width = "64")), allow(dead_code))]
impl PlainUdp6 {
    /// The payload in `packet` (the packet read), up to the UDP length
    /// field (as [`check_udp`] gives it).
    #[inline(always)]
    pub(crate) fn payload(self, packet: &[u8]) -> &[u8] {
        packet.get(48..self.udp_end).unwrap_or_default()
    }
}

/// `packet` as a UDP datagram right after an IPv6 packet's fixed header
/// (no extension header), read straight from its bytes ([`plain_ipv6`])
/// with exactly the checks that `parse_ipv6` (outer packet) and
/// [`check_udp`] make: `None` where either would refuse it, and for any
/// other shape. A test holds it to the two (`plain_udp6_is_parse_and_check`).
#[cfg_attr(any(feature = "ipv4-only", not(target_pointer_width = "64")), allow(dead_code))]
#[inline(always)]
pub(crate) fn plain_udp6<const LONG: bool>(packet: &[u8], verify_checksum: bool) -> Option<PlainUdp6> {
    let (h, l4) = plain_ipv6(packet, 17)?;
    let (u, udp_len) = plain_udp!(h, l4, verify_checksum, LONG);
    Some(PlainUdp6 {
        sport: u16::from_be_bytes([u[0], u[1]]),
        dport: u16::from_be_bytes([u[2], u[3]]),
        udp_end: 40 + udp_len,
        len: 40 + l4.len() as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip::{Mode, parse_ipv4};
    use proptest::prelude::*;

    /// What [`plain_udp4`] must give: the packet read by `parse_ipv4` as
    /// an outer packet without options carrying UDP, then `check_udp`.
    fn reference(packet: &[u8], verify: bool) -> Option<(PlainUdp4, &[u8])> {
        if packet.first() != Some(&0x45) {
            return None;
        }
        let ip = parse_ipv4(packet, Mode::Outer).ok().filter(|ip| ip.proto == 17)?;
        let payload = check_udp(&ip, verify).ok()?;
        let port = |at: usize| u16::from_be_bytes([ip.l4[at], ip.l4[at + 1]]);
        let addr = |a: [u8; 16]| u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
        let d = PlainUdp4 {
            src: addr(ip.src),
            dst: addr(ip.dst),
            sport: port(0),
            dport: port(2),
            udp_end: 28 + payload.len(),
            len: 20 + ip.l4.len() as u32,
        };
        Some((d, payload))
    }

    /// An IPv4 UDP datagram with `payload` and `padding` bytes after it,
    /// whose fields are then bent: the IP total length by `total_delta`,
    /// the fragment field set to `frag`, the UDP length by `udp_delta` (or
    /// set to `udp_len`); the UDP checksum right (`csum` 0), absent (1) or
    /// wrong (2 to 4: both bytes, only the first, only the second
    /// nonzero); the IP header checksum (over 20 bytes) right unless
    /// `ip_csum_wrong`, after byte 0 (version and header length) was set
    /// to `first`.
    #[allow(clippy::too_many_arguments)]
    fn crafted(
        payload: &[u8],
        padding: usize,
        total_delta: i32,
        frag: u16,
        (udp_delta, udp_len): (i32, Option<u16>),
        csum: u8,
        (first, ip_csum_wrong): (u8, bool),
    ) -> std::vec::Vec<u8> {
        use crate::wire::checksum::{fold, pseudo_header, sum};
        let udp_len = udp_len.unwrap_or((8 + payload.len() as i32 + udp_delta).clamp(0, 0xffff) as u16);
        let mut l4 = std::vec![0x30, 0x39, 0, 53];
        l4.extend_from_slice(&udp_len.to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(payload);
        l4.resize(l4.len() + padding, 0);
        let mut p = crate::wire::ip::tests::ipv4([10, 0, 0, 1], [192, 0, 2, 7], 17, &l4);
        let total = (p.len() as i32 + total_delta).clamp(0, 0xffff) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[6..8].copy_from_slice(&frag.to_be_bytes());
        // The UDP checksum over what the IP length covers (at least the
        // header).
        let end = usize::from(total).clamp(28, p.len());
        let right = !fold(sum(&p[20..end]) + pseudo_header(&p[12..16], &p[16..20], 17, (end - 20) as u32));
        let check = match csum {
            0 => right.to_ne_bytes(),
            1 => [0, 0],
            2 => [0x12, 0x34],
            3 => [0x12, 0],
            _ => [0, 0x12],
        };
        // (A wrong one that happens to be right is left right.)
        if csum < 2 || check != right.to_ne_bytes() {
            p[26..28].copy_from_slice(&check);
        } else {
            p[26..28].copy_from_slice(&right.to_ne_bytes());
        }
        p[0] = first;
        p[10..12].copy_from_slice(&[0, 0]);
        let ip_check = !fold(sum(&p[..20])) ^ u16::from(ip_csum_wrong);
        p[10..12].copy_from_slice(&ip_check.to_ne_bytes());
        p
    }

    /// A valid datagram with `payload` and both checksums right.
    fn datagram(payload: &[u8], padding: usize) -> std::vec::Vec<u8> {
        crafted(payload, padding, 0, 0, (0, None), 0, (0x45, false))
    }

    #[test]
    fn a_plain_datagram_is_read() {
        let p = datagram(b"hello", 0);
        let d = plain_udp4::<false>(&p, true).expect("a valid datagram");
        assert_eq!(plain_udp4::<true>(&p, true), Some(d));
        assert_eq!((d.src, d.dst, d.sport, d.dport), (0x0a00_0001, 0xc000_0207, 12345, 53));
        assert_eq!((d.payload(&p), d.len), (&b"hello"[..], 33));
        assert_eq!(Some((d, &b"hello"[..])), reference(&p, true));
        // The "don't fragment" bit is no fragment.
        let df = crafted(b"hello", 0, 0, 0x4000, (0, None), 0, (0x45, false));
        assert_eq!(plain_udp4::<false>(&df, true).map(|d| d.payload(&df)), Some(&b"hello"[..]));
    }

    /// The UDP length field's limits: at least the header, at most what
    /// the IP length covers (less is padding), both checksums right.
    #[test]
    fn the_udp_length_limits() {
        let with_length = |udp_len| crafted(b"hello", 2, 0, 0, (0, Some(udp_len)), 0, (0x45, false));
        for (udp_len, payload) in [
            (7, None),
            (8, Some(&b""[..])),
            (13, Some(&b"hello"[..])),
            (15, Some(&b"hello\0\0"[..])),
            (16, None),
        ] {
            let p = with_length(udp_len);
            assert_eq!(plain_udp4::<false>(&p, true).map(|d| d.payload(&p)), payload, "UDP length {udp_len}");
            assert_eq!(plain_udp4::<true>(&p, true).map(|d| d.payload(&p)), payload, "UDP length {udp_len}");
            assert_eq!(reference(&p, true).map(|(_, payload)| payload), payload, "UDP length {udp_len}");
        }
    }

    proptest! {
        /// [`plain_udp4`] is `parse_ipv4` and `check_udp`, for any bytes:
        /// datagrams whose length fields, fragment field and checksums
        /// are bent around their limits (the header checksum kept right,
        /// so that each check is reached), cut short, with one byte
        /// changed now and then, and noise.
        #[test]
        fn plain_udp4_is_parse_and_check(
            payload in proptest::collection::vec(any::<u8>(), 0..160),
            padding in 0usize..4,
            total_delta in prop_oneof![2 => Just(0i32), 1 => -10i32..4],
            // No fragment, or one bit of the field (flags and offset).
            frag in prop_oneof![2 => Just(0u16), 1 => (0u32..16).prop_map(|b| 1u16 << b)],
            udp_len in (
                prop_oneof![3 => Just(0i32), 2 => -10i32..6],
                proptest::option::weighted(0.3, 0u16..12),
            ),
            csum in 0u8..5,
            ip_header in (
                prop_oneof![8 => Just(0x45u8), 1 => Just(0x46u8), 1 => any::<u8>()],
                proptest::bool::weighted(0.1),
            ),
            flip in proptest::option::weighted(0.1, (0usize..60, any::<u8>())),
            cut in proptest::option::weighted(0.2, 0usize..60),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
            use_noise in proptest::bool::weighted(0.05),
            verify in any::<bool>(),
        ) {
            let mut p = if use_noise {
                noise
            } else {
                crafted(&payload, padding, total_delta, frag, udp_len, csum, ip_header)
            };
            if let Some((at, x)) = flip && at < p.len() {
                p[at] ^= x;
            }
            if let Some(cut) = cut {
                p.truncate(cut);
            }
            // Both copies: the short one's sum and the long one's.
            prop_assert_eq!(plain_udp4::<false>(&p, verify).map(|d| (d, d.payload(&p))), reference(&p, verify));
            prop_assert_eq!(plain_udp4::<true>(&p, verify).map(|d| (d, d.payload(&p))), reference(&p, verify));
        }

        /// [`plain_udp6`] is `parse_ip` and `check_udp` of a packet of
        /// version 6 whose next header is UDP, for any bytes: datagrams
        /// whose payload length, UDP length and checksum are bent around
        /// their limits, whose next header is now and then another,
        /// cut short, with one byte changed now and then, and noise.
        #[test]
        fn plain_udp6_is_parse_and_check(
            payload in proptest::collection::vec(any::<u8>(), 0..160),
            padding in 0usize..4,
            length_delta in prop_oneof![2 => Just(0i32), 1 => -10i32..4],
            next in prop_oneof![4 => Just(17u8), 1 => Just(0u8), 1 => Just(6u8)],
            udp_len in (
                prop_oneof![3 => Just(0i32), 2 => -10i32..6],
                proptest::option::weighted(0.3, 0u16..12),
            ),
            csum in 0u8..5,
            flip in proptest::option::weighted(0.1, (0usize..80, any::<u8>())),
            cut in proptest::option::weighted(0.2, 0usize..80),
            noise in proptest::collection::vec(any::<u8>(), 0..96),
            use_noise in proptest::bool::weighted(0.05),
            verify in any::<bool>(),
        ) {
            use crate::wire::checksum::{fold, pseudo_header, sum};
            let udp_len = udp_len.1.unwrap_or((8 + payload.len() as i32 + udp_len.0).clamp(0, 0xffff) as u16);
            let mut p = std::vec![0u8; 40];
            p[0] = 0x60;
            p[6] = next;
            p[7] = 64;
            p[8..12].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            p[24..28].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            p[23] = 1;
            p[39] = 2;
            p.extend_from_slice(&[0x30, 0x39, 0, 53]);
            p.extend_from_slice(&udp_len.to_be_bytes());
            p.extend_from_slice(&[0, 0]);
            p.extend_from_slice(&payload);
            p.resize(p.len() + padding, 0);
            let plen = ((p.len() - 40) as i32 + length_delta).clamp(0, 0xffff) as u16;
            p[4..6].copy_from_slice(&plen.to_be_bytes());
            let end = (40 + usize::from(plen)).clamp(48, p.len());
            let right = !fold(sum(&p[40..end]) + pseudo_header(&p[8..24], &p[24..40], 17, (end - 40) as u32));
            let check = match csum {
                0 => right.to_ne_bytes(),
                1 => [0, 0],
                2 => [0x12, 0x34],
                3 => [0x12, 0],
                _ => [0, 0x12],
            };
            // (A wrong one that happens to be right is left right.)
            let check = if csum < 2 || check != right.to_ne_bytes() { check } else { right.to_ne_bytes() };
            p[46..48].copy_from_slice(&check);
            if let Some((at, x)) = flip && at < p.len() {
                p[at] ^= x;
            }
            if let Some(cut) = cut {
                p.truncate(cut);
            }
            if use_noise {
                p = noise;
            }
            let reference = if p.first().is_some_and(|b| b >> 4 == 6) && p.get(6) == Some(&17) {
                crate::wire::ip::parse_ip(&p, crate::wire::ip::Mode::Outer)
                    .ok()
                    .filter(|ip| ip.proto == 17)
                    .and_then(|ip| Some((ip.l4.len(), check_udp(&ip, verify).ok()?)))
            } else {
                None
            };
            let plain = plain_udp6::<false>(&p, verify);
            prop_assert_eq!(plain_udp6::<true>(&p, verify), plain);
            prop_assert_eq!(plain.map(|d| (d.len as usize - 40, d.payload(&p))), reference);
            if let Some(d) = plain {
                prop_assert_eq!((d.sport, d.dport), (u16::from_be_bytes([p[40], p[41]]), u16::from_be_bytes([p[42], p[43]])));
            }
        }
    }
}
