//! The helpers' part of NAT: the text a helper rewrites in a packet's
//! payload (the address and port an FTP `PORT` command or a SIP message
//! announces), and the TCP sequence adjustment that a change of length
//! makes necessary (`nf_nat_helper.c: nf_nat_mangle_tcp_packet()`,
//! `nf_nat_mangle_udp_packet()`; `nf_conntrack_seqadj.c`).
//!
//! A helper decides its edits at confirmation, where it reads the packet
//! ([`HelperContext::mangle`](crate::helper::HelperContext::mangle)); the
//! table keeps them in one [`Rewrite`] until
//! [`ConnTable::translate_in`](crate::ConnTable::translate_in) applies them
//! to the packet, whose buffer may have room for it to grow.

use super::NatError;
use super::mangle::layout;
use crate::tuple::{Family, proto};
use crate::wire::checksum::{fold, pseudo_header, sum};
use crate::wire::ip::Mode;
use crate::wire::tcp::{OPT_SACK, SeqNumber, walk_options};

/// At most this many edits per packet (a SIP message's request line, Via,
/// Contact, SDP lines and Content-Length fit).
pub(crate) const MAX_EDITS: usize = 16;
/// At most this many bytes of replacement text per packet.
pub(crate) const MAX_TEXT: usize = 512;

/// Replace `len` payload bytes at `off` by `n` bytes of text at `at`.
#[derive(Clone, Copy, Debug, Default)]
struct Edit {
    off: u16,
    len: u16,
    at: u16,
    n: u16,
}

/// The payload edits one helper decided for one packet, waiting for
/// [`ConnTable::translate_in`](crate::ConnTable::translate_in). The
/// table holds one: the packet's verdict carries the `ticket` that names
/// it, so that the edits of one packet are never applied to another.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rewrite {
    /// Names the packet these edits belong to; 0: none.
    pub ticket: u16,
    /// The last ticket given.
    serial: u16,
    count: u8,
    used: u16,
    /// The UDP destination port the packet must get instead of the one
    /// its translation gives (0: none; see [`Rewrite::force_dport`]).
    dport: u16,
    edits: [Edit; MAX_EDITS],
    text: [u8; MAX_TEXT],
}

impl Rewrite {
    pub(crate) const EMPTY: Rewrite = Rewrite {
        ticket: 0,
        serial: 0,
        count: 0,
        used: 0,
        dport: 0,
        edits: [Edit { off: 0, len: 0, at: 0, n: 0 }; MAX_EDITS],
        text: [0; MAX_TEXT],
    };

    /// Start the edits of a new packet.
    pub(crate) fn clear(&mut self) {
        self.ticket = 0;
        self.count = 0;
        self.used = 0;
        self.dport = 0;
    }

    /// Give the edits added since [`Rewrite::clear`] a new ticket, if
    /// there are any: the packet's verdict keeps it.
    pub(crate) fn issue(&mut self) -> u16 {
        if self.count == 0 && self.dport == 0 {
            return 0;
        }
        self.serial = self.serial.checked_add(1).unwrap_or(1);
        self.ticket = self.serial;
        self.ticket
    }

    /// Whether there are edits.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Send the packet, a UDP datagram, to port `port` of its destination
    /// (`nf_nat_sip()`'s "forced" port: a phone that listens on another
    /// port than the one it sends from). 0: no change.
    #[cfg(all(feature = "nat-helpers", feature = "helper-sip"))]
    pub(crate) fn force_dport(&mut self, port: u16) {
        self.dport = port;
    }

    /// The port [`Rewrite::force_dport`] asked for, if any.
    pub(crate) fn forced_dport(&self) -> Option<u16> {
        (self.dport != 0).then_some(self.dport)
    }

    /// Whether an edit overlaps the payload's bytes `off..off + len` (an
    /// insertion, `len` 0, at the place of another counts).
    pub(crate) fn touches(&self, off: usize, len: usize) -> bool {
        let end = off.saturating_add(len);
        self.edits[..usize::from(self.count)].iter().any(|e| {
            let (o, l) = (usize::from(e.off), usize::from(e.len));
            // Two insertions at one place are as ambiguous as an overlap.
            off < o + l.max(1) && o < end.max(off + 1)
        })
    }

    /// Add an edit: the payload's bytes `off..off + len` become `text`.
    /// False (nothing added) if it overlaps an edit already added, or there
    /// is no room.
    pub(crate) fn push(&mut self, off: usize, len: usize, text: &[u8]) -> bool {
        let count = usize::from(self.count);
        let used = usize::from(self.used);
        if off.checked_add(len).is_none_or(|end| end > usize::from(u16::MAX)) {
            return false;
        }
        if count == MAX_EDITS || used + text.len() > MAX_TEXT {
            return false;
        }
        if self.touches(off, len) {
            return false;
        }
        self.text[used..used + text.len()].copy_from_slice(text);
        // Kept in order of offset: insertion into a short sorted list.
        let pos = self.edits[..count].iter().position(|e| usize::from(e.off) > off).unwrap_or(count);
        self.edits.copy_within(pos..count, pos + 1);
        self.edits[pos] = Edit { off: off as u16, len: len as u16, at: used as u16, n: text.len() as u16 };
        self.count += 1;
        self.used += text.len() as u16;
        true
    }

    /// How much longer the payload gets (negative: shorter).
    pub(crate) fn delta(&self) -> i32 {
        self.edits[..usize::from(self.count)].iter().map(|e| i32::from(e.n) - i32::from(e.len)).sum()
    }

    /// Apply the edits to the IP packet in `buf[..len]`, whose payload
    /// (past the TCP or UDP header) they address: the bytes after each
    /// edit move, the IP length fields, the UDP length and the IPv4 header
    /// checksum follow, and the TCP or UDP checksum is computed anew (a
    /// UDP datagram without a checksum keeps none). Returns the new
    /// length. Nothing is written unless all of it fits in `buf`
    /// (`nf_nat_helper.c: mangle_contents()`, `enlarge_skb()`).
    pub(crate) fn apply(&self, buf: &mut [u8], len: usize) -> Result<usize, NatError> {
        let packet = buf.get(..len).ok_or(NatError::Malformed)?;
        let lay = layout(packet, Mode::Outer)?;
        let l4 = packet.get(lay.l4..lay.end).ok_or(NatError::Malformed)?;
        let header = match lay.proto {
            proto::TCP => usize::from(l4.get(12).ok_or(NatError::Malformed)? >> 4) * 4,
            proto::UDP => 8,
            _ => return Err(NatError::Malformed),
        };
        let payload = lay.l4 + header;
        let payload_len = lay.end.checked_sub(payload).ok_or(NatError::Malformed)?;
        let edits = &self.edits[..usize::from(self.count)];
        if edits.iter().any(|e| usize::from(e.off) + usize::from(e.len) > payload_len) {
            return Err(NatError::Malformed);
        }
        let delta = self.delta();
        let new_end = (lay.end as i64 + i64::from(delta)) as usize;
        let new_len = (len as i64 + i64::from(delta)) as usize;
        let ip_len = new_end;
        let max_ip = match lay.family {
            Family::Ipv4 => 65535,
            Family::Ipv6 => 65535 + 40,
        };
        // Applied from the last edit back, the packet is at its longest
        // after some suffix of the edits.
        let mut growth = 0i64;
        let mut longest = len as i64;
        for e in edits.iter().rev() {
            growth += i64::from(e.n) - i64::from(e.len);
            longest = longest.max(len as i64 + growth);
        }
        if longest > buf.len() as i64 || ip_len > max_ip || new_end < lay.l4 + header {
            return Err(NatError::NoRoom);
        }
        // From the last edit to the first, so that earlier offsets stay put.
        let mut end = len;
        for e in edits.iter().rev() {
            let (off, old, n) = (payload + usize::from(e.off), usize::from(e.len), usize::from(e.n));
            let tail = off + old..end;
            let moved = tail.len();
            buf.copy_within(tail, off + n);
            end = off + n + moved;
            let (at, n) = (usize::from(e.at), usize::from(e.n));
            buf[off..off + n].copy_from_slice(&self.text[at..at + n]);
        }
        // Length fields.
        match lay.family {
            Family::Ipv4 => {
                buf[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                buf[10..12].copy_from_slice(&[0, 0]);
                let check = !fold(sum(&buf[..ihl]));
                buf[10..12].copy_from_slice(&check.to_ne_bytes());
            }
            Family::Ipv6 => buf[4..6].copy_from_slice(&((ip_len - 40) as u16).to_be_bytes()),
        }
        let l4_len = new_end - lay.l4;
        let (addrs, n) = match lay.family {
            Family::Ipv4 => (12, 4),
            Family::Ipv6 => (8, 16),
        };
        let (check_at, udp) = match lay.proto {
            proto::TCP => (16, false),
            _ => {
                buf[lay.l4 + 4..lay.l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                (6, true)
            }
        };
        let field = lay.l4 + check_at;
        if udp && buf[field..field + 2] == [0, 0] {
            return Ok(new_len);
        }
        buf[field..field + 2].copy_from_slice(&[0, 0]);
        let acc =
            pseudo_header(&buf[addrs..addrs + n], &buf[addrs + n..addrs + 2 * n], lay.proto, l4_len as u32)
                + sum(&buf[lay.l4..new_end]);
        let mut check = !fold(acc);
        if udp && check == 0 {
            check = 0xffff;
        }
        buf[field..field + 2].copy_from_slice(&check.to_ne_bytes());
        Ok(new_len)
    }
}

/// The sequence adjustment of one direction of a TCP connection whose
/// payload NAT resized (`struct nf_ct_seqadj`): sequence numbers after
/// `correction_pos` move by `offset_after`, earlier ones by
/// `offset_before`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct SeqAdj {
    pub correction_pos: u32,
    pub offset_before: i32,
    pub offset_after: i32,
}

impl SeqAdj {
    pub(crate) const ZERO: SeqAdj = SeqAdj { correction_pos: 0, offset_before: 0, offset_after: 0 };

    /// A segment starting at `seq` grew by `delta` bytes
    /// (`nf_conntrack_seqadj.c: nf_ct_seqadj_set()`): a retransmission of
    /// a segment corrected already changes nothing.
    pub(crate) fn record(&mut self, seq: u32, delta: i32) {
        if delta == 0 {
            return;
        }
        if self.offset_before == self.offset_after || SeqNumber(self.correction_pos).before(SeqNumber(seq)) {
            self.correction_pos = seq;
            self.offset_before = self.offset_after;
            self.offset_after = self.offset_after.wrapping_add(delta);
        }
    }

    /// The offset for a sequence number `seq` of this direction
    /// (`nf_ct_seq_offset()`).
    pub(crate) fn offset(&self, seq: u32) -> i32 {
        if SeqNumber(seq).after(SeqNumber(self.correction_pos)) {
            self.offset_after
        } else {
            self.offset_before
        }
    }

    /// The offset to take off an acknowledgement (or SACK edge) `ack` of
    /// the other direction, which acknowledges this direction's adjusted
    /// sequence space (`nf_ct_seq_adjust()`, `nf_ct_sack_block_adjust()`).
    fn ack_offset(&self, ack: u32) -> i32 {
        let unadjusted = ack.wrapping_sub(self.offset_before as u32);
        if SeqNumber(unadjusted).after(SeqNumber(self.correction_pos)) {
            self.offset_after
        } else {
            self.offset_before
        }
    }
}

/// The sequence number of the TCP segment in `packet` (`None`: not TCP).
pub(crate) fn tcp_seq(packet: &[u8]) -> Option<u32> {
    let lay = layout(packet, Mode::Outer).ok()?;
    let b = packet.get(lay.l4 + 4..lay.l4 + 8).filter(|_| lay.proto == proto::TCP)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Adjust the TCP segment in `packet`, sent in the direction whose record
/// is `this_way` (the other direction's: `other_way`): its sequence
/// number, acknowledgement and SACK edges, with the checksum updated
/// (`nf_conntrack_seqadj.c: nf_ct_seq_adjust()`). Returns whether it
/// changed.
pub(crate) fn seq_adjust(packet: &mut [u8], this_way: &SeqAdj, other_way: &SeqAdj) -> Result<bool, NatError> {
    let lay = layout(packet, Mode::Outer)?;
    if lay.proto != proto::TCP {
        return Ok(false);
    }
    let l4 = packet.get_mut(lay.l4..lay.end).ok_or(NatError::Malformed)?;
    if l4.len() < 20 {
        return Err(NatError::Malformed);
    }
    let word = |l4: &[u8], at: usize| u32::from_be_bytes([l4[at], l4[at + 1], l4[at + 2], l4[at + 3]]);
    let mut changed = false;
    let mut put = |l4: &mut [u8], at: usize, new: u32| {
        let old: [u8; 4] = [l4[at], l4[at + 1], l4[at + 2], l4[at + 3]];
        let new = new.to_be_bytes();
        if old != new {
            l4[at..at + 4].copy_from_slice(&new);
            crate::wire::checksum::replace(l4, 16, &old, &new);
            changed = true;
        }
    };
    let seq = word(l4, 4);
    put(l4, 4, seq.wrapping_add(this_way.offset(seq) as u32));
    let ack_flag = l4[13] & 0x10 != 0;
    if ack_flag {
        let ack = word(l4, 8);
        put(l4, 8, ack.wrapping_sub(other_way.ack_offset(ack) as u32));
        // SACK blocks (RFC 2018): option 5, pairs of 32-bit edges, found
        // by the tracker's option walk.
        let header = (usize::from(l4[12] >> 4) * 4).clamp(20, l4.len());
        let mut edges = [0usize; 8];
        let mut count = 0;
        let opts = &l4[20..header];
        walk_options(opts, |kind, body| {
            if kind == OPT_SACK && body.len() % 8 == 0 {
                let start = body.as_ptr() as usize - opts.as_ptr() as usize + 20;
                for k in 0..body.len() / 4 {
                    if count < edges.len() {
                        edges[count] = start + 4 * k;
                        count += 1;
                    }
                }
            }
            true
        });
        for &edge in &edges[..count] {
            let v = word(l4, edge);
            changed |= put_edge(l4, edge, v.wrapping_sub(other_way.ack_offset(v) as u32));
        }
    }
    Ok(changed)
}

/// Write a SACK edge (possibly at an odd offset: the checksum is updated
/// from the sums of the two even-aligned 6-byte windows around it).
fn put_edge(l4: &mut [u8], at: usize, new: u32) -> bool {
    let start = at & !1;
    let stop = (at + 4 + 1) & !1;
    let stop = stop.min(l4.len());
    let before = sum(&l4[start..stop]);
    l4[at..at + 4].copy_from_slice(&new.to_be_bytes());
    let after = sum(&l4[start..stop]);
    let f = &mut l4[16..18];
    let check = u16::from_ne_bytes([f[0], f[1]]);
    f.copy_from_slice(&crate::wire::checksum::update_sums(check, before, after).to_ne_bytes());
    before != after
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::is_valid;

    fn tcp4(seq: u32, ack: u32, options: &[u8], payload: &[u8]) -> std::vec::Vec<u8> {
        let hl = 20 + options.len();
        let mut l4 = std::vec![0u8; hl];
        l4[0..2].copy_from_slice(&40000u16.to_be_bytes());
        l4[2..4].copy_from_slice(&21u16.to_be_bytes());
        l4[4..8].copy_from_slice(&seq.to_be_bytes());
        l4[8..12].copy_from_slice(&ack.to_be_bytes());
        l4[12] = ((hl / 4) as u8) << 4;
        l4[13] = 0x18;
        l4[14..16].copy_from_slice(&1000u16.to_be_bytes());
        l4[20..].copy_from_slice(options);
        l4.extend_from_slice(payload);
        let (s, d) = ([10u8, 0, 0, 1], [10u8, 0, 0, 2]);
        let c = !fold(pseudo_header(&s, &d, 6, l4.len() as u32) + sum(&l4));
        l4[16..18].copy_from_slice(&c.to_ne_bytes());
        crate::wire::ip::tests::ipv4(s, d, 6, &l4)
    }

    fn tcp_valid(p: &[u8]) -> bool {
        let l4 = &p[20..];
        is_valid(sum(&p[..20]))
            && is_valid(pseudo_header(&p[12..16], &p[16..20], 6, l4.len() as u32) + sum(l4))
    }

    #[test]
    fn edits_grow_and_shrink_with_valid_checksums() {
        let mut buf = [0u8; 200];
        let p = tcp4(1000, 5, &[], b"PORT 10,0,0,1,4,1\r\n");
        buf[..p.len()].copy_from_slice(&p);
        let mut r = Rewrite::EMPTY;
        assert!(r.push(5, 12, b"192,0,2,77,4,1"));
        assert_eq!(r.delta(), 2);
        let n = r.apply(&mut buf, p.len()).unwrap();
        assert_eq!(n, p.len() + 2);
        assert_eq!(&buf[40..n], b"PORT 192,0,2,77,4,1\r\n");
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]) as usize, n);
        assert!(tcp_valid(&buf[..n]));
        let mut r = Rewrite::EMPTY;
        assert!(r.push(5, 14, b"1,2,3,4,4,1"));
        let m = r.apply(&mut buf, n).unwrap();
        assert_eq!(&buf[40..m], b"PORT 1,2,3,4,4,1\r\n");
        assert!(tcp_valid(&buf[..m]));
    }

    #[test]
    fn edits_refuse_overlaps_and_buffers_too_small() {
        let mut r = Rewrite::EMPTY;
        assert!(r.push(10, 4, b"x"));
        assert!(!r.push(12, 4, b"y"));
        assert!(!r.push(10, 0, b"y"));
        assert!(r.push(2, 2, b"abc"));
        assert!(r.push(14, 0, b"z"));
        let p = tcp4(1, 1, &[], b"0123456789abcdefgh");
        let mut small = p.clone();
        assert_eq!(r.apply(&mut small, p.len()), Err(NatError::NoRoom));
        assert_eq!(small, p, "nothing written");
        let mut buf = [0u8; 100];
        buf[..p.len()].copy_from_slice(&p);
        let n = r.apply(&mut buf, p.len()).unwrap();
        assert_eq!(&buf[40..n], b"01abc456789xzefgh");
        assert!(tcp_valid(&buf[..n]));
        // An edit past the payload is refused.
        let mut r = Rewrite::EMPTY;
        assert!(r.push(17, 2, b""));
        assert_eq!(r.apply(&mut buf, n), Err(NatError::Malformed));
    }

    #[test]
    fn seqadj_follows_linux() {
        let mut a = SeqAdj::ZERO;
        a.record(1000, 3);
        assert_eq!((a.correction_pos, a.offset_before, a.offset_after), (1000, 0, 3));
        // The retransmitted segment: no second correction.
        a.record(1000, 3);
        assert_eq!((a.offset_before, a.offset_after), (0, 3));
        assert_eq!(a.offset(1000), 0);
        assert_eq!(a.offset(1001), 3);
        a.record(2000, -5);
        assert_eq!((a.correction_pos, a.offset_before, a.offset_after), (2000, 3, -2));
        assert_eq!(a.offset(1500), 3);
        assert_eq!(a.offset(2001), -2);
    }

    #[test]
    fn seq_ack_and_sack_edges_adjusted_with_valid_checksum() {
        let this = SeqAdj { correction_pos: 100, offset_before: 0, offset_after: 4 };
        let other = SeqAdj { correction_pos: 5000, offset_before: 0, offset_after: -3 };
        // NOP, NOP, SACK with one block: edges at offsets 24 and 28 of the
        // header; and a version with the block at an odd offset.
        let sack = [1, 1, 5, 10, 0, 0, 0x13, 0x8d, 0, 0, 0x13, 0x9d];
        for options in [&sack[..], &[1, 5, 10, 0, 0, 0x13, 0x8d, 0, 0, 0x13, 0x9d, 0][..]] {
            let mut p = tcp4(200, 5010, options, b"x");
            assert!(seq_adjust(&mut p, &this, &other).unwrap());
            let word = |at: usize| u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
            assert_eq!(word(24), 204);
            assert_eq!(word(28), 5013);
            let first = 40 + options.iter().position(|&b| b == 5).unwrap() + 2;
            assert_eq!((word(first), word(first + 4)), (5005 + 3, 5021 + 3));
            assert!(tcp_valid(&p));
        }
        // Before the correction: nothing changes.
        let mut p = tcp4(50, 10, &[], b"");
        assert!(!seq_adjust(&mut p, &this, &other).unwrap());
    }
}
