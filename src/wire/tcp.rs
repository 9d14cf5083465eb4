//! TCP headers (RFC 9293): the fields conntrack reads, the checks Linux
//! makes before tracking (`nf_conntrack_proto_tcp.c: tcp_error()`),
//! sequence-number comparison modulo 2³² and the option walk.

use crate::reason::Reason;
use crate::wire::ip::IpView;

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

/// `a` is strictly before `b` modulo 2³²: the signed 32-bit `a − b` is negative.
#[inline]
pub(crate) fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a` is strictly after `b` modulo 2³² (`before(b, a)`).
#[inline]
pub(crate) fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// `a ≤ b` on sequence numbers, i.e. `before(a, b + 1)`.
#[inline]
pub(crate) fn seq_le(a: u32, b: u32) -> bool {
    before(a, b.wrapping_add(1))
}

/// The fields of one TCP segment that conntrack reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment<'a> {
    /// Sequence number.
    pub(crate) seq: u32,
    /// Acknowledgement number.
    pub(crate) ack: u32,
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
    /// Payload length derived from the IP length (semantics §3.7).
    pub(crate) fn payload_len(&self) -> u32 {
        u32::try_from(self.payload.len()).unwrap_or(u32::MAX)
    }

    pub(crate) fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// `seq + len`, SYN and FIN counting one each (§3.1, §3.7).
    pub(crate) fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.payload_len())
            .wrapping_add(u32::from(self.has(SYN)))
            .wrapping_add(u32::from(self.has(FIN)))
    }
}

/// The header checks of `tcp_error()`: a 20-byte header, a data offset
/// that fits the packet, and (when `verify_checksum`) the checksum.
pub(crate) fn parse<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<Segment<'a>, Reason> {
    let h = ip.l4.get(..20).ok_or(Reason::ShortPacket)?;
    let doff = usize::from(h[12] >> 4) * 4;
    if doff < 20 || doff > ip.l4.len() {
        return Err(Reason::BadTcpHeader);
    }
    if verify_checksum && !ip.l4_checksum_ok(ip.l4.len()) {
        return Err(Reason::BadChecksum);
    }
    let be32 = |o: usize| u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    Ok(Segment {
        seq: be32(4),
        ack: be32(8),
        window: u16::from_be_bytes([h[14], h[15]]),
        flags: h[13],
        options: &ip.l4[20..doff],
        payload: &ip.l4[doff..],
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

    #[test]
    fn sequence_numbers_wrap() {
        assert!(before(u32::MAX, 0) && after(0, u32::MAX));
        assert!(!before(5, 5) && seq_le(5, 5) && seq_le(u32::MAX, 0));
        assert!(before(0, 0x7fff_ffff) && !before(0, 0x8000_0001));
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
