//! IPv4 and IPv6: parsing down to the layer-4 bytes, once per packet
//! (`nf_conntrack_core.c: get_l4proto()`), and the one layer-4 checksum
//! routine.
//!
//! IPv6 headers are read with `smoltcp::wire`, IPv4's fixed header as an
//! array. The checks mirror what a Linux
//! router does before conntrack sees a packet (IP input) plus conntrack's own
//! (`get_l4proto()`): a packet that fails them is INVALID with a typed
//! [`Reason`].
//!
//! **Fragments.** Linux reassembles before conntrack, and so does
//! [`crate::defrag::Reassembler`] before the table: any IPv4 packet with
//! MF set or a non-zero offset, and any IPv6 packet with a Fragment header
//! whose offset is non-zero, is INVALID with [`Reason::Fragment`]. An IPv6
//! first fragment (offset 0, M set) is tracked from the headers it
//! holds, as Linux's conntrack tracks the few that its defragmentation
//! lets through as they are (the `Reassembler` passes the same ones);
//! an IPv6 *atomic* fragment (offset 0, M clear, RFC 6946) is a whole
//! datagram and is tracked normally.

use smoltcp::wire::Ipv6Packet;

use super::checksum;

use crate::reason::Reason;

/// IPv6 next-header values of the extension headers walked (RFC 8200, and
/// AH, RFC 4302, which Linux also skips).
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTH: u8 = 51;
const DEST_OPTS: u8 = 60;
const NO_NEXT_HEADER: u8 = 59;

/// Address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Family {
    /// IPv4 (`l3num` 2).
    Ipv4 = 2,
    /// IPv6 (`l3num` 10).
    Ipv6 = 10,
}

impl Family {
    /// Bytes of an address.
    pub(crate) fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }
}

/// An IP packet, parsed as far as the start of its layer-4 header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpView<'a> {
    pub family: Family,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// Upper-layer protocol (after IPv6 extension headers).
    pub proto: u8,
    /// From the layer-4 header to the end of the IP payload.
    pub l4: &'a [u8],
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
}

impl IpView<'_> {
    /// Verify the layer-4 checksum over `self.l4` (TCP, UDP, UDP-Lite with
    /// `coverage`, ICMP, ICMPv6): the one checksum routine of the crate.
    // Inlined on 64-bit hosts, where it saves instructions per packet
    // (ci/instructions.sh); left to the compiler on 32-bit
    // microcontrollers, where copies cost flash (ci/footprint.sh).
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    pub(crate) fn l4_checksum_ok(&self, coverage: usize) -> bool {
        let covered = self.l4.get(..coverage).unwrap_or(self.l4);
        let data = checksum::sum(covered);
        let len = u32::try_from(self.l4.len()).unwrap_or(u32::MAX);
        // UDP-Lite's pseudo-header carries UDP's protocol number, not its
        // own (136, RFC 3828 § 3.1): Linux checks it so
        // (`nf_conntrack_proto_udp.c: udplite_error()` gives
        // `nf_checksum_partial()` IPPROTO_UDP), and so refuses a datagram
        // summed as the RFC says (the oracle confirms both, IPv4 and IPv6:
        // `tests/data/crafted/udplite/`).
        let proto =
            if self.proto == crate::tuple::proto::UDPLITE { crate::tuple::proto::UDP } else { self.proto };
        // The address lengths as constants: the sums unroll.
        let pseudo = match self.family {
            Family::Ipv4 if self.proto == 1 => 0,
            Family::Ipv4 => checksum::pseudo_header(&self.src[..4], &self.dst[..4], proto, len),
            Family::Ipv6 => checksum::pseudo_header(&self.src, &self.dst, proto, len),
        };
        checksum::is_valid(data + pseudo)
    }
}

/// How strictly to read: a packet on the wire, or one quoted in an ICMP
/// error of the given family (which may be cut short after the first
/// bytes of its payload).
///
/// A quote is read as conntrack reads it (`nf_conntrack_core.c:
/// nf_ct_get_tuplepr()`, with `ipv4_get_l4proto()` and
/// `ipv6_get_l4proto()`): as a packet of its error's family whatever its
/// version field says, its layer-4 part from where its header length puts
/// it to the end of the quote whatever its total or payload length says,
/// an IPv4 header length under 20 bytes taken as it is, the header
/// checksum and the more-fragments flag not looked at. It is refused only
/// when its fixed header is not there, its header length runs past the
/// quote, or it is a later fragment. The oracle confirms each of these
/// (`tests/data/crafted/icmp-quote/`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Outer,
    Quoted(Family),
}

/// `packet` as an IPv4 packet without options (header byte 0x45) of
/// protocol `proto`, read straight from its bytes with exactly the checks
/// [`parse_ipv4`] makes of an outer packet: its header and its layer-4
/// part (up to the total length), or `None` where `parse_ipv4` would
/// refuse it. The packet path's commonest shapes (UDP, TCP) read this way
/// build no [`IpView`]; a test holds it to `parse_ipv4`
/// (`plain_ipv4_is_parse_ipv4`).
#[inline(always)]
pub(crate) fn plain_ipv4(packet: &[u8], proto: u8) -> Option<(&[u8; 20], &[u8])> {
    let h = packet.first_chunk::<20>()?;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let frag = u16::from_be_bytes([h[6], h[7]]);
    // Version 4 and a 20-byte header; the total length covers the header
    // (and, below, no more than what is there: the range's test alone
    // would do, but with this one first the UDP path measured 3.5
    // instructions fewer); neither a fragment nor a first fragment
    // (offset 0, more fragments).
    if h[0] != 0x45 || h[9] != proto || total < 20 || frag & 0x3fff != 0 {
        return None;
    }
    let l4 = packet.get(20..total)?;
    // As 64-bit words on 64-bit hosts (see `plain_l4_checksum_ok`); on a
    // Cortex-M3 it saved 1 instruction for 76 bytes of flash.
    #[cfg(target_pointer_width = "64")]
    let sum = checksum::sum_ipv4_header(h);
    #[cfg(not(target_pointer_width = "64"))]
    let sum = checksum::sum(h);
    checksum::is_valid(sum).then_some((h, l4))
}

/// `packet` as an IPv6 packet whose fixed header is followed directly by
/// protocol `proto` (UDP or TCP: no extension header), read straight
/// from its bytes with exactly the checks [`parse_ipv6`] makes of an outer
/// packet (version 6, which sends a packet there, and [`ipv6_input`]'s):
/// its fixed header and its layer-4 part (up to the payload length), or
/// `None` where `parse_ipv6` would refuse it or the packet has another
/// shape. A test holds it to `parse_ipv6` (`plain_ipv6_is_parse_ipv6`).
#[cfg_attr(any(feature = "ipv4-only", not(target_pointer_width = "64")), allow(dead_code))]
#[inline(always)]
pub(crate) fn plain_ipv6(packet: &[u8], proto: u8) -> Option<(&[u8; 40], &[u8])> {
    debug_assert!(proto == crate::tuple::proto::UDP || proto == crate::tuple::proto::TCP);
    let h = packet.first_chunk::<40>()?;
    // Input's address rules (`ipv6_input`): no multicast source, no
    // multicast destination of scope 0 or 1.
    if h[0] >> 4 != 6 || h[6] != proto || h[8] == 0xff || (h[24] == 0xff && h[25] & 0x0f <= 1) {
        return None;
    }
    // (The protocol is not a hop-by-hop header: the payload length is
    // the packet's, and runs no further than its bytes.)
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let l4 = packet.get(40..40 + payload_len)?;
    Some((h, l4))
}

/// Whether `l4`, the layer-4 part of protocol `proto` of the IPv4 or IPv6
/// packet whose (fixed) header is `h` (20 or 40 bytes, as [`plain_ipv4`]
/// and [`plain_ipv6`] give them), sums right with its pseudo-header: the
/// byte readers' checksum test, as [`IpView::l4_checksum_ok`] is the
/// general path's. `H` is how many bytes of the layer-4 header its caller
/// knows are there (UDP's 8, TCP's 20). (The addresses' and header's
/// lengths known: the sums unroll.) `LONG`: the rest summed as
/// [`checksum::sum`] sums long data, else 32 bits at a time
/// ([`checksum::sum_short`]), for the copies of the fast paths that take
/// long and short packets (see `pipeline.rs: LONG_PACKET`).
#[inline(always)]
pub(crate) fn plain_l4_checksum_ok<const N: usize, const H: usize, const LONG: bool>(
    h: &[u8; N],
    l4: &[u8],
    proto: u8,
) -> bool {
    // On 64-bit hosts the addresses (the header's last 8 or 32 bytes) and
    // the layer-4 header's first 8 or 16 bytes as 64-bit words added with
    // their carries ([`checksum::add64`]), the rest as [`checksum::sum`]
    // does (TCP's 16 bytes, not 8, and its last 4 out of the loop: a TCP
    // ACK 18 x86 instructions fewer, over IPv6 21, measured): with the
    // IPv4 header's sum likewise (`plain_ipv4`), an established UDP
    // datagram 17 x86 instructions fewer, over IPv6 4, a TCP ACK 5, than
    // with 32-bit words (the first 8 bytes as two, out of the loop, which
    // had saved 15 and 13). On a Cortex-M3 those two words cost 9 and 13
    // more, and 52 bytes of flash: all of it summed 32 bits at a time.
    #[cfg(target_pointer_width = "64")]
    if let Some((head, tail)) = l4.split_first_chunk::<H>() {
        let at = if N == 40 { 8 } else { 12 };
        let (addrs, _) = h[at..].as_chunks::<8>();
        let (head, head_rest) = head.as_chunks::<8>();
        let words = checksum::add64_words(checksum::add64_words(0, head), addrs);
        let rest = checksum::pseudo_header_rest(proto, l4.len() as u32)
            + checksum::sum_short(head_rest)
            + if LONG { checksum::sum(tail) } else { checksum::sum_short(tail) };
        return checksum::is_valid(checksum::add64(words, rest));
    }
    let (src, dst) = if N == 40 { (&h[8..24], &h[24..40]) } else { (&h[12..16], &h[16..20]) };
    checksum::is_valid(checksum::sum(l4) + checksum::pseudo_header(src, dst, proto, l4.len() as u32))
}

/// Parse an IPv4 or IPv6 packet.
pub(crate) fn parse_ip(bytes: &[u8], mode: Mode) -> Result<IpView<'_>, Reason> {
    match mode {
        Mode::Outer => match bytes.first().map(|b| b >> 4) {
            Some(4) => parse_ipv4(bytes, mode),
            Some(6) => parse_ipv6(bytes, mode),
            _ => Err(Reason::NotIp),
        },
        // A quote has its error's family, whatever its version field says.
        Mode::Quoted(Family::Ipv4) => parse_ipv4(bytes, mode),
        Mode::Quoted(Family::Ipv6) => parse_ipv6(bytes, mode),
    }
}

// Inlined into the packet path everywhere (fewer instructions per
// packet on x86 and Cortex-M3, measured; a few dozen bytes of flash).
#[inline(always)]
pub(crate) fn parse_ipv4(bytes: &[u8], mode: Mode) -> Result<IpView<'_>, Reason> {
    // The fixed part of the header (RFC 791 § 3.1), read as an array: one
    // bounds check for all its fields.
    let Some(h) = bytes.first_chunk::<20>() else {
        return Err(Reason::BadIpv4Header);
    };
    let hlen = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // A quote's header length is taken as it is (see `Mode`): below 20,
    // its layer-4 part starts inside its header.
    if (hlen < 20 && mode == Mode::Outer) || hlen > bytes.len() {
        return Err(Reason::BadIpv4Header);
    }
    let end = match mode {
        // IP input: total length covers the header and fits the buffer;
        // trailing link-layer padding is cut off.
        Mode::Outer => {
            if total < hlen || total > bytes.len() {
                return Err(Reason::BadIpv4Header);
            }
            // A header without options (nearly all) is summed as an array
            // of known length, without a loop.
            // (The ranges below are within `bytes` by the checks above;
            // read with `get`, they leave no panic path.)
            let sum = if hlen == 20 {
                checksum::sum(h)
            } else {
                checksum::sum(bytes.get(..hlen).ok_or(Reason::BadIpv4Header)?)
            };
            if !checksum::is_valid(sum) {
                return Err(Reason::BadIpv4Checksum);
            }
            total
        }
        // A quote's total length is not read (see `Mode`).
        Mode::Quoted(_) => bytes.len(),
    };
    // Flags and fragment offset: MF is 0x2000, the offset the low 13 bits.
    let frag = u16::from_be_bytes([h[6], h[7]]);
    if frag & 0x1fff != 0 || (mode == Mode::Outer && frag & 0x2000 != 0) {
        return Err(Reason::Fragment);
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[..4].copy_from_slice(&h[12..16]);
    dst[..4].copy_from_slice(&h[16..20]);
    let l4 = bytes.get(hlen..end).ok_or(Reason::BadIpv4Header)?;
    Ok(IpView { family: Family::Ipv4, src, dst, proto: h[9], l4, hop_limit: h[8] })
}

fn parse_ipv6(bytes: &[u8], mode: Mode) -> Result<IpView<'_>, Reason> {
    if bytes.len() < 40 {
        return Err(Reason::BadIpv6Header);
    }
    let p = Ipv6Packet::new_unchecked(bytes);
    let end = match mode {
        Mode::Outer => ipv6_input(bytes)?,
        // A quote's payload length is not read (see `Mode`).
        Mode::Quoted(_) => bytes.len(),
    };
    // (Both ranges are within `bytes` by the checks before them; read
    // with `get`, they leave no panic path.)
    let within = bytes.get(..end).ok_or(Reason::BadIpv6Header)?;
    let (proto, l4_start) = skip_extension_headers(within, 40, u8::from(p.next_header()))?;
    Ok(IpView {
        family: Family::Ipv6,
        src: p.src_addr().octets(),
        dst: p.dst_addr().octets(),
        proto,
        // (Empty, at the end, where the extension headers' lengths run
        // past it.)
        l4: within.get(l4_start.min(within.len())..).unwrap_or_default(),
        hop_limit: p.hop_limit(),
    })
}

/// What IPv6 input does with a received packet before any netfilter hook
/// sees it (`ip6_input.c: ip6_rcv_core()`, then `exthdrs.c:
/// ipv6_parse_hopopts()` for a hop-by-hop header right after the fixed
/// one): where the packet ends, or why input drops it. It drops a packet
/// from a multicast address, or to a multicast address of scope 0
/// (reserved) or 1 (interface-local), RFC 4291 § 2.7; one whose payload
/// length runs past the bytes; and one whose hop-by-hop
/// header is cut short or has options it refuses ([`hop_by_hop_refused`]).
/// (Not a loopback address: input drops it only on a device other than
/// the loopback one, RFC 4291 § 2.5.3, and the table does not know the
/// device. The oracle injects such packets on its router's loopback
/// device, and conntrack sees them: `tests/data/crafted/ipv6-input/`.)
/// The packet ends where its payload length says, but for a payload length
/// of 0 before a hop-by-hop header, which is a jumbogram's: it then ends
/// where the Jumbo Payload option says, or, without one, at the end of
/// the bytes. `bytes` has the 40 bytes of the fixed header.
pub(crate) fn ipv6_input(bytes: &[u8]) -> Result<usize, Reason> {
    let Some(h) = bytes.first_chunk::<40>() else { return Err(Reason::BadIpv6Header) };
    let src = &h[8..24];
    let dst = &h[24..40];
    // A multicast address's scope is the low 4 bits of its second byte.
    if src[0] == 0xff || (dst[0] == 0xff && dst[1] & 0x0f <= 1) {
        return Err(Reason::BadIpv6Address);
    }
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let next = h[6];
    let mut end = if payload_len != 0 || next != HOP_BY_HOP {
        if 40 + payload_len > bytes.len() {
            return Err(Reason::BadIpv6Header);
        }
        40 + payload_len
    } else {
        bytes.len()
    };
    if next == HOP_BY_HOP {
        // The whole header must be there (`ipv6_parse_hopopts()` pulls it).
        let Some(&units) = bytes.get(41) else { return Err(Reason::BadExtensionHeader) };
        let hdr_len = (usize::from(units) + 1) * 8;
        let Some(hdr) = bytes.get(40..40 + hdr_len).filter(|_| 40 + hdr_len <= end) else {
            return Err(Reason::BadExtensionHeader);
        };
        match hop_by_hop_refused(hdr, payload_len, end) {
            Ok(Some(jumbo)) => end = 40 + jumbo,
            Ok(None) => {}
            Err(()) => return Err(Reason::BadHopByHopOptions),
        }
    }
    Ok(end)
}

/// The options of the hop-by-hop header `hdr` (whole, right after the
/// fixed header of a packet whose payload length is `payload_len` and
/// which ends at `end`) as IPv6 input reads them (`exthdrs.c:
/// ip6_parse_tlv()` with its default limit of 8 options that are not
/// padding, `net.ipv6.max_hbh_opts_number`): `Err` where it drops the
/// packet, else the length a valid Jumbo Payload option gives the payload
/// (`Some`, RFC 2675). It drops the packet for padding of more than 7
/// bytes in a row or with a byte not zero (RFC 4942 § 2.1.9.5), an option
/// that runs past the header, a Router Alert whose length is not 2,
/// an IOAM option off a 4-byte boundary, any CALIPSO option (no domain is
/// configured: `calipso_validate()` fails), a Jumbo Payload option that is
/// malformed, misaligned, says 65,535 bytes or fewer or more than there
/// are, or comes with a payload length (`ipv6_hop_jumbo()`), and an
/// unknown option whose two high bits ask for it (RFC 8200 § 4.2).
fn hop_by_hop_refused(hdr: &[u8], payload_len: usize, end: usize) -> Result<Option<usize>, ()> {
    const PAD1: u8 = 0;
    const PADN: u8 = 1;
    const ROUTER_ALERT: u8 = 5;
    const CALIPSO: u8 = 7;
    const IOAM: u8 = 49;
    const JUMBO: u8 = 194;
    const MAX_OPTIONS: usize = 8;
    let (mut at, mut pad, mut options, mut jumbo) = (2, 0, 0, None);
    while at < hdr.len() {
        let kind = hdr[at];
        if kind == PAD1 {
            pad += 1;
            if pad > 7 {
                return Err(());
            }
            at += 1;
            continue;
        }
        let len = match hdr.get(at + 1) {
            Some(&l) if at + 2 + usize::from(l) <= hdr.len() => usize::from(l),
            _ => return Err(()),
        };
        let data = &hdr[at + 2..at + 2 + len];
        // The option's offset from the start of the packet.
        let offset = 40 + at;
        if kind == PADN {
            pad += len + 2;
            if pad > 7 || data.iter().any(|&b| b != 0) {
                return Err(());
            }
        } else {
            options += 1;
            let ok = match kind {
                _ if options > MAX_OPTIONS => false,
                ROUTER_ALERT => len == 2,
                IOAM => offset % 4 == 0,
                CALIPSO => false,
                JUMBO => match *data {
                    [a, b, c, d] if offset % 4 == 2 && payload_len == 0 => {
                        let n = u32::from_be_bytes([a, b, c, d]) as usize;
                        jumbo = Some(n);
                        n > 0xffff && n <= end.saturating_sub(40)
                    }
                    _ => false,
                },
                // The action of an unknown option: 0 skips it.
                _ => kind >> 6 == 0,
            };
            if !ok {
                return Err(());
            }
            pad = 0;
        }
        at += 2 + len;
    }
    Ok(jumbo)
}

/// Walk the extension headers of the IPv6 packet `bytes` from offset
/// `start`, where a header of type `next` begins (40: the first after the
/// fixed header); returns the upper-layer
/// protocol and its offset, as `ipv6_skip_exthdr()` finds them for
/// conntrack: of each extension header only its first 2 bytes (next
/// header, length; a fragment header's first 4) need be there, and its
/// length may run past the packet's end, which leaves the upper layer
/// nothing (the oracle confirms it: `tests/data/crafted/ipv6/`; a
/// packet's first hop-by-hop header, which IPv6 input needs whole, was
/// checked before, [`ipv6_input`]). Next header 59 (No Next Header) ends the walk without one. Every header is
/// at least 8 bytes long, so the walk ends within `bytes.len() / 8 + 1`
/// steps.
pub(crate) fn skip_extension_headers(
    bytes: &[u8],
    start: usize,
    mut next: u8,
) -> Result<(u8, usize), Reason> {
    let mut off = start;
    loop {
        match next {
            NO_NEXT_HEADER => return Err(Reason::NoNextHeader),
            HOP_BY_HOP | ROUTING | FRAGMENT | AUTH | DEST_OPTS => {}
            _ => return Ok((next, off)),
        }
        let hdr = bytes.get(off..).unwrap_or_default();
        let &[following, hdr_len, ..] = hdr else { return Err(Reason::BadExtensionHeader) };
        let len = match next {
            FRAGMENT => {
                let &[_, _, f0, f1, ..] = hdr else { return Err(Reason::BadExtensionHeader) };
                // A later fragment (its offset not zero) has no upper-layer
                // header. A first one (M set) is walked on: Linux's
                // defragmentation lets some through as they are (a
                // length not a multiple of 8, a first fragment without the
                // whole upper-layer header: `nf_ct_frag6_gather()`), and
                // conntrack tracks them (`get_l4proto()` refuses only an
                // offset).
                if u16::from_be_bytes([f0, f1]) >> 3 != 0 {
                    return Err(Reason::Fragment);
                }
                8
            }
            AUTH => (usize::from(hdr_len) + 2) * 4,
            _ => (usize::from(hdr_len) + 1) * 8,
        };
        next = following;
        off += len;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use smoltcp::wire::Ipv4Packet;

    /// An IPv4 packet from `src`:`sport` to `dst`:`dport` carrying a UDP
    /// datagram or (`tcp`: flags, sequence and acknowledgement numbers) a
    /// TCP segment, both checksums right (RFC 1071, computed here).
    pub(crate) fn port_packet4(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        tcp: Option<(u8, u32, u32)>,
    ) -> std::vec::Vec<u8> {
        let (proto, l4) = port_segment(&src, sport, &dst, dport, tcp);
        ipv4(src, dst, proto, &l4)
    }

    /// [`port_packet4`] over IPv6: a fixed header (hop limit 64) and the
    /// datagram or segment right after it.
    pub(crate) fn port_packet6(
        src: [u8; 16],
        sport: u16,
        dst: [u8; 16],
        dport: u16,
        tcp: Option<(u8, u32, u32)>,
    ) -> std::vec::Vec<u8> {
        let (proto, l4) = port_segment(&src, sport, &dst, dport, tcp);
        let mut p = std::vec![0x60, 0, 0, 0, 0, 0, proto, 64];
        p[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&l4);
        p
    }

    /// The UDP datagram or TCP segment of [`port_packet4`] between the
    /// addresses `src` and `dst` (4 or 16 bytes), and its protocol.
    fn port_segment(
        src: &[u8],
        sport: u16,
        dst: &[u8],
        dport: u16,
        tcp: Option<(u8, u32, u32)>,
    ) -> (u8, std::vec::Vec<u8>) {
        let mut l4 = std::vec::Vec::new();
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        let (proto, at) = match tcp {
            Some((flags, seq, ack)) => {
                l4.extend_from_slice(&seq.to_be_bytes());
                l4.extend_from_slice(&ack.to_be_bytes());
                l4.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
                (crate::tuple::proto::TCP, 16)
            }
            None => {
                l4.extend_from_slice(&[0, 8, 0, 0]);
                (crate::tuple::proto::UDP, 6)
            }
        };
        let mut sum = 0u32;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                sum += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
            }
        };
        add(src);
        add(dst);
        add(&[0, proto]);
        add(&(l4.len() as u16).to_be_bytes());
        add(&l4);
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        l4[at..at + 2].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        (proto, l4)
    }

    /// A minimal IPv4 header (checksum filled in) followed by `payload`.
    /// An IPv4 UDP datagram with an empty payload and no UDP checksum.
    pub(crate) fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> std::vec::Vec<u8> {
        let [s0, s1] = sport.to_be_bytes();
        let [d0, d1] = dport.to_be_bytes();
        ipv4(src, dst, 17, &[s0, s1, d0, d1, 0, 8, 0, 0])
    }

    pub(crate) fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> std::vec::Vec<u8> {
        let mut v = std::vec![0u8; 20];
        v.extend_from_slice(payload);
        let total = v.len() as u16;
        let mut p = Ipv4Packet::new_unchecked(&mut v[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_total_len(total);
        p.set_hop_limit(64);
        p.set_next_header(smoltcp::wire::IpProtocol::from(proto));
        p.set_src_addr(src.into());
        p.set_dst_addr(dst.into());
        p.fill_checksum();
        v
    }

    #[test]
    fn ipv4_checks() {
        let good = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 50, &[1, 2, 3, 4]);
        let v = parse_ip(&good, Mode::Outer).unwrap();
        assert_eq!(v.proto, 50);
        assert_eq!(v.l4, &[1, 2, 3, 4]);
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(parse_ip(&padded, Mode::Outer).unwrap().l4.len(), 4);
        let mut bad = good.clone();
        bad[10] ^= 1;
        assert_eq!(parse_ip(&bad, Mode::Outer).unwrap_err(), Reason::BadIpv4Checksum);
        assert_eq!(parse_ip(&good[..22], Mode::Outer).unwrap_err(), Reason::BadIpv4Header);
        assert_eq!(parse_ip(&good[..22], Mode::Quoted(Family::Ipv4)).unwrap().l4.len(), 2);
        assert_eq!(parse_ip(&[], Mode::Outer).unwrap_err(), Reason::NotIp);
        let mut frag = good.clone();
        Ipv4Packet::new_unchecked(&mut frag[..]).set_more_frags(true);
        Ipv4Packet::new_unchecked(&mut frag[..]).fill_checksum();
        assert_eq!(parse_ip(&frag, Mode::Outer).unwrap_err(), Reason::Fragment);
        assert!(parse_ip(&frag, Mode::Quoted(Family::Ipv4)).is_ok());
        // A quote: its total length, header checksum and version field
        // not read; a header length under 20 taken as it is.
        let mut quote = good.clone();
        quote.extend_from_slice(&[5, 6]);
        quote[3] = 21;
        quote[0] = 0x65;
        assert_eq!(parse_ip(&quote, Mode::Quoted(Family::Ipv4)).unwrap().l4, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(parse_ip(&quote, Mode::Quoted(Family::Ipv6)).unwrap_err(), Reason::BadIpv6Header);
        quote[0] = 0x43;
        let v = parse_ip(&quote, Mode::Quoted(Family::Ipv4)).unwrap();
        assert_eq!((v.l4.len(), &v.l4[..4]), (quote.len() - 12, &[10, 0, 0, 1][..]));
        assert_eq!(v.src[..4], [10, 0, 0, 1]);
        quote[0] = 0x40;
        assert_eq!(parse_ip(&quote, Mode::Quoted(Family::Ipv4)).unwrap().l4, &quote[..]);
        // Its header length past its end, or a later fragment: refused.
        quote[0] = 0x4f;
        assert_eq!(parse_ip(&quote, Mode::Quoted(Family::Ipv4)).unwrap_err(), Reason::BadIpv4Header);
        quote[0] = 0x45;
        quote[7] = 1;
        assert_eq!(parse_ip(&quote, Mode::Quoted(Family::Ipv4)).unwrap_err(), Reason::Fragment);
        assert_eq!(parse_ip(&quote[..19], Mode::Quoted(Family::Ipv4)).unwrap_err(), Reason::BadIpv4Header);
    }

    fn ipv6(next: u8, payload: &[u8]) -> std::vec::Vec<u8> {
        let mut v = std::vec![0u8; 40];
        v[0] = 0x60;
        v[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        v[6] = next;
        v[7] = 64;
        // 2001:db8::1 to 2001:db8::2.
        v[8..12].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v[24..28].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v[23] = 1;
        v[39] = 2;
        v.extend_from_slice(payload);
        v
    }

    /// The IPv4 reading as it was written with `smoltcp::wire` accessors:
    /// the reference the array reading is held to.
    fn reference_ipv4(bytes: &[u8], mode: Mode) -> Result<IpView<'_>, Reason> {
        let p = Ipv4Packet::new_unchecked(bytes);
        if bytes.len() < 20 {
            return Err(Reason::BadIpv4Header);
        }
        let hlen = usize::from(p.header_len());
        let total = usize::from(p.total_len());
        if (hlen < 20 && mode == Mode::Outer) || hlen > bytes.len() {
            return Err(Reason::BadIpv4Header);
        }
        let end = match mode {
            Mode::Outer => {
                if total < hlen || total > bytes.len() {
                    return Err(Reason::BadIpv4Header);
                }
                if !p.verify_checksum() {
                    return Err(Reason::BadIpv4Checksum);
                }
                total
            }
            Mode::Quoted(_) => bytes.len(),
        };
        if p.frag_offset() != 0 || (mode == Mode::Outer && p.more_frags()) {
            return Err(Reason::Fragment);
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[..4].copy_from_slice(&p.src_addr().octets());
        dst[..4].copy_from_slice(&p.dst_addr().octets());
        Ok(IpView {
            family: Family::Ipv4,
            src,
            dst,
            proto: u8::from(p.next_header()),
            l4: &bytes[hlen..end],
            hop_limit: p.hop_limit(),
        })
    }

    proptest::proptest! {
        #[test]
        fn ipv4_reading_equals_smoltcp(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            ihl in 0u8..16, flags in proptest::prelude::any::<u16>(), total_delta in -8i32..8,
            cut in 0usize..64, fix_checksum in proptest::prelude::any::<bool>(),
        ) {
            let mut p = ipv4([192, 0, 2, 1], [198, 51, 100, 2], 17, &payload);
            p[0] = 0x40 | ihl;
            p[6..8].copy_from_slice(&flags.to_be_bytes());
            let total = (p.len() as i32 + total_delta).clamp(0, 0xffff) as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            if fix_checksum && usize::from(ihl) * 4 <= p.len() {
                Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
            }
            p.truncate(p.len().saturating_sub(cut % 8));
            for mode in [Mode::Outer, Mode::Quoted(Family::Ipv4)] {
                let (a, b) = (parse_ipv4(&p, mode), reference_ipv4(&p, mode));
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        proptest::prop_assert_eq!((a.src, a.dst, a.proto, a.hop_limit), (b.src, b.dst, b.proto, b.hop_limit));
                        proptest::prop_assert_eq!(a.l4, b.l4);
                    }
                    (a, b) => proptest::prop_assert_eq!(a.err(), b.err()),
                }
            }
        }
    }

    mod plain {
        use super::super::{Mode, checksum, parse_ipv4, plain_ipv4};
        use super::ipv4;
        use proptest::prelude::*;

        proptest! {
            /// [`plain_ipv4`] is `parse_ipv4` of an outer packet without
            /// options carrying the protocol asked for: headers whose first
            /// byte, protocol, total length and fragment field are bent
            /// (the checksum mostly right, so that each check is reached),
            /// cut short, and noise.
            #[test]
            fn plain_ipv4_is_parse_ipv4(
                payload in proptest::collection::vec(any::<u8>(), 0..40),
                first in prop_oneof![6 => Just(0x45u8), 1 => Just(0x46u8), 1 => any::<u8>()],
                proto in prop_oneof![Just(6u8), Just(17u8), any::<u8>()],
                asked in prop_oneof![Just(6u8), Just(17u8)],
                total_delta in prop_oneof![2 => Just(0i32), 1 => -30i32..6],
                frag in prop_oneof![2 => Just(0u16), 1 => (0u32..16).prop_map(|b| 1u16 << b)],
                checksum_wrong in proptest::bool::weighted(0.1),
                cut in proptest::option::weighted(0.2, 0usize..70),
                noise in proptest::collection::vec(any::<u8>(), 0..48),
                use_noise in proptest::bool::weighted(0.05),
            ) {
                let mut p = ipv4([192, 0, 2, 1], [198, 51, 100, 2], proto, &payload);
                let total = (p.len() as i32 + total_delta).clamp(0, 0xffff) as u16;
                p[2..4].copy_from_slice(&total.to_be_bytes());
                p[6..8].copy_from_slice(&frag.to_be_bytes());
                p[0] = first;
                p[10..12].copy_from_slice(&[0, 0]);
                let check = !checksum::fold(checksum::sum(&p[..20])) ^ u16::from(checksum_wrong);
                p[10..12].copy_from_slice(&check.to_ne_bytes());
                if let Some(cut) = cut {
                    p.truncate(cut);
                }
                if use_noise {
                    p = noise;
                }
                let expected: Option<&[u8]> = if p.first() == Some(&0x45) {
                    parse_ipv4(&p, Mode::Outer).ok().filter(|ip| ip.proto == asked).map(|ip| ip.l4)
                } else {
                    None
                };
                let plain = plain_ipv4(&p, asked);
                prop_assert_eq!(plain.map(|(_, l4)| l4), expected);
                if let Some((h, _)) = plain {
                    prop_assert_eq!(h.as_slice(), &p[..20]);
                }
            }

            /// [`plain_ipv6`] is `parse_ip` of an outer packet whose fixed
            /// header is followed by the protocol asked for: first bytes,
            /// next headers (extension headers among them), payload
            /// lengths and addresses (multicast ones, which input
            /// refuses) bent, cut short, and noise.
            #[test]
            fn plain_ipv6_is_parse_ipv6(
                payload in proptest::collection::vec(any::<u8>(), 0..40),
                first in prop_oneof![6 => Just(0x60u8), 1 => Just(0x4fu8), 1 => any::<u8>()],
                next in prop_oneof![Just(6u8), Just(17u8), Just(0u8), Just(44u8), Just(59u8), any::<u8>()],
                asked in prop_oneof![Just(6u8), Just(17u8)],
                length_delta in prop_oneof![2 => Just(0i32), 1 => -30i32..6],
                src_first in prop_oneof![4 => Just(0x20u8), 1 => Just(0xffu8)],
                dst_first in prop_oneof![4 => Just([0x20u8, 0x01]), 1 => (0u8..3).prop_map(|s| [0xff, s])],
                cut in proptest::option::weighted(0.2, 0usize..90),
                noise in proptest::collection::vec(any::<u8>(), 0..96),
                use_noise in proptest::bool::weighted(0.05),
            ) {
                let mut p = super::ipv6(next, &payload);
                let len = (payload.len() as i32 + length_delta).clamp(0, 0xffff) as u16;
                p[4..6].copy_from_slice(&len.to_be_bytes());
                p[0] = first;
                p[8] = src_first;
                p[24..26].copy_from_slice(&dst_first);
                if let Some(cut) = cut {
                    p.truncate(cut);
                }
                if use_noise {
                    p = noise;
                }
                // The general path reads a packet of version 6 so.
                let expected: Option<&[u8]> = if p.first().is_some_and(|b| b >> 4 == 6) && p.get(6) == Some(&asked) {
                    super::super::parse_ip(&p, Mode::Outer).ok().filter(|ip| ip.proto == asked).map(|ip| ip.l4)
                } else {
                    None
                };
                let plain = super::super::plain_ipv6(&p, asked);
                prop_assert_eq!(plain.map(|(_, l4)| l4), expected);
                if let Some((h, _)) = plain {
                    prop_assert_eq!(h.as_slice(), &p[..40]);
                }
            }
        }
    }

    #[test]
    fn ipv6_extension_headers() {
        // hop-by-hop (8 bytes) then dest opts (16 bytes) then UDP.
        let mut ext = std::vec![60u8, 0, 0, 0, 0, 0, 0, 0, 17, 1];
        ext.extend_from_slice(&[0; 14]);
        ext.extend_from_slice(&[0, 53, 0, 53, 0, 8, 0, 0]);
        let p = ipv6(0, &ext);
        let v = parse_ip(&p, Mode::Outer).unwrap();
        assert_eq!((v.proto, v.l4.len()), (17, 8));
        // Atomic fragment: tracked; a real fragment: not.
        let atomic = ipv6(44, &[17, 0, 0, 0, 0, 0, 0, 1, 0, 53, 0, 53, 0, 8, 0, 0]);
        assert_eq!(parse_ip(&atomic, Mode::Outer).unwrap().proto, 17);
        // A first fragment: walked on, as conntrack does with one that
        // defragmentation let through.
        let first = ipv6(44, &[17, 0, 0, 1, 0, 0, 0, 1, 0, 53, 0, 53, 0, 8, 0, 0]);
        assert_eq!(parse_ip(&first, Mode::Outer).unwrap().proto, 17);
        let later = ipv6(44, &[17, 0, 0, 8, 0, 0, 0, 1]);
        assert_eq!(parse_ip(&later, Mode::Outer).unwrap_err(), Reason::Fragment);
        // An extension header whose length runs past the end (16 bytes,
        // 8 there): the upper layer after it, with nothing left of it, as
        // `ipv6_skip_exthdr()` finds it.
        let trunc = ipv6(60, &[17, 1, 0, 0, 0, 0, 0, 0]);
        let v = parse_ip(&trunc, Mode::Outer).unwrap();
        assert_eq!((v.proto, v.l4.len()), (17, 0));
        // Fewer than its first 2 bytes (a fragment header: 4) there; a
        // first hop-by-hop header not there whole (IPv6 input drops it).
        let hop_by_hop = &[17, 1, 0, 0, 0, 0, 0, 0];
        for (next, bytes) in [(60, &[17u8][..]), (0, &[]), (44, &[17, 0, 0]), (0, hop_by_hop)] {
            assert_eq!(parse_ip(&ipv6(next, bytes), Mode::Outer).unwrap_err(), Reason::BadExtensionHeader);
        }
        // No next header (59), first or after an extension header: nothing
        // to track.
        let none = ipv6(59, &[]);
        assert_eq!(parse_ip(&none, Mode::Outer).unwrap_err(), Reason::NoNextHeader);
        let after = ipv6(60, &[59, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse_ip(&after, Mode::Outer).unwrap_err(), Reason::NoNextHeader);
        // Payload length beyond the buffer.
        let mut long = ipv6(59, &[]);
        long[5] = 9;
        assert_eq!(parse_ip(&long, Mode::Outer).unwrap_err(), Reason::BadIpv6Header);
    }

    /// IPv6 input's address rules (`ip6_rcv_core()`): a multicast source,
    /// a multicast destination of scope 0 or 1; not a loopback or
    /// unspecified address (the oracle's router lets those reach conntrack).
    #[test]
    fn ipv6_input_addresses() {
        let with = |src: &str, dst: &str| {
            let mut p = ipv6(17, &[0x13, 0x88, 0, 9, 0, 8, 0, 0]);
            p[8..24].copy_from_slice(&src.parse::<core::net::Ipv6Addr>().unwrap().octets());
            p[24..40].copy_from_slice(&dst.parse::<core::net::Ipv6Addr>().unwrap().octets());
            ipv6_input(&p)
        };
        let c = "2001:db8::1";
        for (src, dst) in [("ff02::1", c), ("ff0e::1", c), (c, "ff00::1"), (c, "ff01::1"), (c, "ff11::1")] {
            assert_eq!(with(src, dst), Err(Reason::BadIpv6Address), "{src} > {dst}");
        }
        for (src, dst) in [(c, "ff02::1"), (c, "ff0f::1"), ("::1", c), (c, "::1"), ("::", c), ("fe80::1", c)]
        {
            assert_eq!(with(src, dst), Ok(48), "{src} > {dst}");
        }
    }

    proptest::proptest! {
        /// IPv6 input's reading is total: on any hop-by-hop bytes, header
        /// length and payload length it refuses the packet or gives an end
        /// within the bytes, past the fixed header.
        #[test]
        fn ipv6_input_is_total(
            hbh in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
            first in proptest::prelude::any::<bool>(),
            plen in proptest::prelude::any::<u16>(),
        ) {
            let mut p = ipv6(if first { 0 } else { 17 }, &hbh);
            if plen % 3 != 0 {
                p[4..6].copy_from_slice(&plen.to_be_bytes());
            }
            if let Ok(end) = ipv6_input(&p) {
                proptest::prop_assert!((40..=p.len()).contains(&end));
            }
            let _ = parse_ip(&p, Mode::Outer);
        }
    }

    /// The hop-by-hop options IPv6 input refuses (`ip6_parse_tlv()`), and
    /// the payload length it gives a packet whose length field is 0.
    #[test]
    fn ipv6_input_hop_by_hop() {
        let udp = [0x13, 0x88, 0, 9, 0, 8, 0, 0];
        // A hop-by-hop header with `options` (6 bytes, or 14, ...), UDP after.
        let hbh = |options: &[u8]| {
            let mut h = std::vec![17, ((options.len() + 2) / 8 - 1) as u8];
            h.extend_from_slice(options);
            h.extend_from_slice(&udp);
            ipv6(0, &h)
        };
        let ok = |options: &[u8]| ipv6_input(&hbh(options));
        let refused = Err(Reason::BadHopByHopOptions);
        // Padding: up to 7 bytes in a row, all zero.
        assert_eq!(ok(&[1, 4, 0, 0, 0, 0]), Ok(56));
        assert_eq!(ok(&[0; 6]), Ok(56));
        assert_eq!(ok(&[1, 4, 0, 0, 1, 0]), refused);
        assert_eq!(ok(&[1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), refused);
        assert_eq!(ok(&[1, 2, 0, 0, 0, 0, 0x1e, 0, 1, 4, 0, 0, 0, 0]), Ok(64));
        // Unknown options by their two high bits; Router Alert of 2 bytes.
        assert_eq!(ok(&[0x1e, 4, 0, 0, 0, 0]), Ok(56));
        for kind in [0x5e, 0x9e, 0xde] {
            assert_eq!(ok(&[kind, 4, 0, 0, 0, 0]), refused, "{kind:#x}");
        }
        assert_eq!(ok(&[5, 2, 0, 0, 1, 0]), Ok(56));
        assert_eq!(ok(&[5, 3, 0, 0, 0, 0]), refused);
        // IOAM on a 4-byte boundary of the packet (offset 44), not off it.
        assert_eq!(ok(&[1, 0, 0x31, 2, 0, 0]), Ok(56));
        assert_eq!(ok(&[0x31, 4, 0, 0, 0, 0]), refused);
        // CALIPSO; an option past the header; more than 8 options.
        assert_eq!(ok(&[7, 4, 0, 0, 0, 0]), refused);
        assert_eq!(ok(&[0x1e, 10, 0, 0, 0, 0]), refused);
        assert_eq!(ok(&[0x1e, 0].repeat(7)), Ok(64));
        let nine = [[0x1e, 0].repeat(9), std::vec![1, 2, 0, 0]].concat();
        assert_eq!(ok(&nine), refused);
        // A Jumbo Payload option with a payload length.
        assert_eq!(ok(&[0xc2, 4, 0, 1, 0, 0]), refused);
        // A payload length of 0 before a hop-by-hop header: as long as the
        // bytes, unless a Jumbo Payload option says otherwise (here it says
        // 65,535 bytes or fewer, or more than there are: refused).
        let mut zero = hbh(&[1, 4, 0, 0, 0, 0]);
        zero[4..6].copy_from_slice(&[0, 0]);
        zero.extend_from_slice(&[0; 8]);
        assert_eq!(ipv6_input(&zero), Ok(64));
        for value in [0xffffu32, 0x10000] {
            let mut jumbo = hbh(&[&[0xc2, 4][..], &value.to_be_bytes()].concat());
            jumbo[4..6].copy_from_slice(&[0, 0]);
            assert_eq!(ipv6_input(&jumbo), refused, "{value}");
        }
        // Without a hop-by-hop header a payload length of 0 is 0.
        let mut empty = ipv6(17, &udp);
        empty[4..6].copy_from_slice(&[0, 0]);
        assert_eq!(ipv6_input(&empty), Ok(40));
        // The header must be there whole, within the payload length.
        let mut short = hbh(&[1, 4, 0, 0, 0, 0]);
        short[4..6].copy_from_slice(&[0, 4]);
        assert_eq!(ipv6_input(&short), Err(Reason::BadExtensionHeader));
        let mut none = ipv6(0, &[]);
        assert_eq!(ipv6_input(&none), Err(Reason::BadExtensionHeader));
        none.push(17);
        none[5] = 1;
        assert_eq!(ipv6_input(&none), Err(Reason::BadExtensionHeader));
    }
}
