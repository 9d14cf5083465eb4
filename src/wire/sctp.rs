//! SCTP packets (RFC 9260 section 3): the common header, the chunk walk and
//! the CRC32c checksum (RFC 9260 appendix A), with the checks Linux makes
//! before its SCTP tracker changes any state
//! (`nf_conntrack_proto_sctp.c: sctp_error()`, `do_basic_checks()`).
//!
//! The chunk walk is the kernel's: a chunk starts where the previous one's
//! length field, rounded up to 4, says; the walk stops at the end of the
//! packet or where fewer than 4 bytes (a chunk header) remain, without
//! complaint. A chunk whose length runs past the end of the packet is still
//! read (its type and flags); its body is whatever follows it.

use crate::reason::{Reason, SctpReason};

/// Length of the common header: ports, verification tag, checksum.
pub(crate) const HEADER_LEN: usize = 12;

/// Chunk types (RFC 9260 section 3.2) that the tracker looks at.
#[allow(dead_code)]
pub(crate) mod chunk {
    pub(crate) const DATA: u8 = 0;
    pub(crate) const INIT: u8 = 1;
    pub(crate) const INIT_ACK: u8 = 2;
    pub(crate) const SACK: u8 = 3;
    pub(crate) const HEARTBEAT: u8 = 4;
    pub(crate) const HEARTBEAT_ACK: u8 = 5;
    pub(crate) const ABORT: u8 = 6;
    pub(crate) const SHUTDOWN: u8 = 7;
    pub(crate) const SHUTDOWN_ACK: u8 = 8;
    pub(crate) const ERROR: u8 = 9;
    pub(crate) const COOKIE_ECHO: u8 = 10;
    pub(crate) const COOKIE_ACK: u8 = 11;
    pub(crate) const SHUTDOWN_COMPLETE: u8 = 14;
}

/// The T bit of ABORT and SHUTDOWN COMPLETE (RFC 9260 sections 3.3.7,
/// 3.3.13): the sender used the peer's tag, not its own.
pub(crate) const FLAG_T: u8 = 0x01;

/// One chunk of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    pub ty: u8,
    pub flags: u8,
    /// The length field (header included, padding excluded).
    pub len: u16,
    /// Everything after the 4-byte chunk header, to the end of the packet
    /// (not cut at `len`: the kernel reads the INIT header from the packet,
    /// wherever the chunk's length field ends).
    pub rest: &'a [u8],
}

impl Chunk<'_> {
    /// The Initiate Tag of an INIT or INIT ACK (RFC 9260 section 3.3.2):
    /// `None` unless the whole 16-byte fixed part of the INIT header is in
    /// the packet, as `nf_conntrack_proto_sctp.c: nf_conntrack_sctp_packet()`
    /// and `sctp_new()` require.
    pub(crate) fn init_tag(&self) -> Option<u32> {
        let h = self.rest.get(..16)?;
        Some(u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
    }
}

/// The chunks of an SCTP packet, in order (the kernel's
/// `for_each_sctp_chunk`).
#[derive(Debug, Clone)]
pub(crate) struct Chunks<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        let (h, rest) = self.bytes.get(self.offset..)?.split_first_chunk::<4>()?;
        let len = u16::from_be_bytes([h[2], h[3]]);
        let chunk = Chunk { ty: h[0], flags: h[1], len, rest };
        // Rounded up to 4; a length below 4 still moves on by 4 bytes, so
        // the walk always advances.
        let step = (usize::from(len) + 3) & !3;
        self.offset = self.offset.saturating_add(step.max(4));
        Some(chunk)
    }
}

/// Which chunk types a packet holds: one bit per type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ChunkSet([u64; 4]);

impl ChunkSet {
    fn insert(&mut self, ty: u8) {
        self.0[usize::from(ty >> 6)] |= 1 << (ty & 63);
    }

    /// The packet holds a chunk of type `ty`.
    pub(crate) fn contains(&self, ty: u8) -> bool {
        self.0[usize::from(ty >> 6)] & (1 << (ty & 63)) != 0
    }
}

/// An SCTP packet whose common header is present and whose chunk layout
/// passed [`Packet::parse`]'s checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Packet<'a> {
    bytes: &'a [u8],
    set: ChunkSet,
}

impl<'a> Packet<'a> {
    /// The checks of `nf_conntrack_proto_sctp.c`, in the kernel's order:
    /// `sctp_error()` (a whole common header, then the CRC32c when
    /// `verify_checksum`), then `do_basic_checks()`: at least one chunk, no
    /// chunk with a zero length field, COOKIE ECHO and COOKIE ACK only as the
    /// first chunk, INIT, INIT ACK and SHUTDOWN COMPLETE only as the only
    /// chunk (RFC 9260 section 6.10).
    pub(crate) fn parse(l4: &'a [u8], verify_checksum: bool) -> Result<Packet<'a>, Reason> {
        if l4.len() < HEADER_LEN {
            return Err(Reason::ShortPacket);
        }
        if verify_checksum && !checksum_ok(l4) {
            return Err(Reason::BadChecksum);
        }
        let mut set = ChunkSet::default();
        let mut alone = false;
        let mut count = 0usize;
        for c in (Chunks { bytes: l4, offset: HEADER_LEN }) {
            alone |= matches!(c.ty, chunk::INIT | chunk::INIT_ACK | chunk::SHUTDOWN_COMPLETE);
            let first_only = alone || matches!(c.ty, chunk::COOKIE_ECHO | chunk::COOKIE_ACK);
            if (first_only && count != 0) || c.len == 0 {
                return Err(Reason::Sctp(SctpReason::BadChunks));
            }
            set.insert(c.ty);
            count += 1;
        }
        if count == 0 {
            return Err(Reason::Sctp(SctpReason::BadChunks));
        }
        Ok(Packet { bytes: l4, set })
    }

    /// The verification tag of the common header.
    pub(crate) fn vtag(&self) -> u32 {
        // (A packet holds its common header: `parse` checked it.)
        self.bytes.get(4..8).and_then(|b| b.try_into().ok()).map_or(0, u32::from_be_bytes)
    }

    /// Which chunk types the packet holds.
    pub(crate) fn chunk_set(&self) -> ChunkSet {
        self.set
    }

    /// The chunks, in order.
    pub(crate) fn chunks(&self) -> Chunks<'a> {
        Chunks { bytes: self.bytes, offset: HEADER_LEN }
    }
}

/// CRC32c (Castagnoli, reflected polynomial 0x82F63B78) lookup table.
const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC32C_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    crc
}

/// The CRC32c of `data` (RFC 9260 appendix A; RFC 3720's CRC32c).
#[cfg(test)]
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

/// The CRC32c of `a` followed by `b`.
#[cfg(fuzzing)]
pub(crate) fn crc32c_parts(a: &[u8], b: &[u8]) -> u32 {
    !crc32c_update(crc32c_update(!0, a), b)
}

/// Whether the checksum field of the SCTP packet `l4` (at least
/// [`HEADER_LEN`] bytes) holds the CRC32c of the packet taken with that
/// field zero. The CRC is carried least significant byte first
/// (RFC 9260 appendix A).
pub(crate) fn checksum_ok(l4: &[u8]) -> bool {
    let (Some(head), Some(field), Some(body)) = (l4.get(..8), l4.get(8..12), l4.get(12..)) else {
        return false;
    };
    let crc = !crc32c_update(crc32c_update(!0, head), &[0; 4]);
    let crc = !crc32c_update(!crc, body);
    u32::from_le_bytes([field[0], field[1], field[2], field[3]]) == crc
}

/// Write the CRC32c of the SCTP packet `l4` (at least [`HEADER_LEN`]
/// bytes; shorter: nothing) into its checksum field, as NAT does after
/// changing the ports (`nf_nat_proto.c: sctp_manip_pkt()`): the CRC is not
/// a sum and has no incremental update.
pub(crate) fn fill_checksum(l4: &mut [u8]) {
    if l4.len() < 12 {
        return;
    }
    l4[8..12].fill(0);
    let crc = !crc32c_update(!0, l4);
    l4[8..12].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// An SCTP packet with a correct CRC32c.
    pub(crate) fn packet(vtag: u32, chunks: &[&[u8]]) -> Vec<u8> {
        let mut p = Vec::from([0x13, 0x88, 0x17, 0x70]);
        p.extend_from_slice(&vtag.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        for c in chunks {
            p.extend_from_slice(c);
        }
        let crc = crc32c(&p);
        p[8..12].copy_from_slice(&crc.to_le_bytes());
        p
    }

    fn chunk(ty: u8, len: u16, body: &[u8]) -> Vec<u8> {
        let mut c = Vec::from([ty, 0]);
        c.extend_from_slice(&len.to_be_bytes());
        c.extend_from_slice(body);
        while c.len() % 4 != 0 {
            c.push(0);
        }
        c
    }

    #[test]
    fn crc32c_known_answers() {
        // RFC 3720 appendix B.4 check value, and 32 zero bytes.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0; 32]), 0x8A91_36AA);
        let p = packet(7, &[&chunk(chunk::DATA, 8, b"abcd")]);
        assert!(checksum_ok(&p));
        let mut bad = p.clone();
        bad[12 + 5] ^= 1;
        assert!(!checksum_ok(&bad));
        assert_eq!(Packet::parse(&bad, true), Err(Reason::BadChecksum));
        assert!(Packet::parse(&bad, false).is_ok());
        assert!(!checksum_ok(&p[..11]));
    }

    #[test]
    fn header_and_chunk_set() {
        assert_eq!(Packet::parse(&[0; 11], false), Err(Reason::ShortPacket));
        // A header and nothing else: no chunk.
        assert_eq!(Packet::parse(&packet(1, &[]), true), Err(Reason::Sctp(SctpReason::BadChunks)));
        let p = packet(0xAABB_CCDD, &[&chunk(chunk::DATA, 9, b"hello"), &chunk(chunk::SACK, 4, b"")]);
        let p = Packet::parse(&p, true).unwrap();
        assert_eq!(p.vtag(), 0xAABB_CCDD);
        assert!(p.chunk_set().contains(chunk::DATA) && p.chunk_set().contains(chunk::SACK));
        assert!(!p.chunk_set().contains(chunk::INIT));
        let types: Vec<u8> = p.chunks().map(|c| c.ty).collect();
        assert_eq!(types, [chunk::DATA, chunk::SACK]);
    }

    #[test]
    fn chunk_order_rules() {
        let init = chunk(chunk::INIT, 20, &[0; 16]);
        let data = chunk(chunk::DATA, 8, b"abcd");
        let echo = chunk(chunk::COOKIE_ECHO, 8, b"cook");
        let bad = |chunks: &[&[u8]]| {
            Packet::parse(&packet(0, chunks), true) == Err(Reason::Sctp(SctpReason::BadChunks))
        };
        assert!(!bad(&[&init]));
        assert!(bad(&[&init, &data]));
        assert!(bad(&[&data, &init]));
        assert!(!bad(&[&echo, &data]));
        assert!(bad(&[&data, &echo]));
        assert!(bad(&[&chunk(chunk::SHUTDOWN_COMPLETE, 4, b""), &data]));
        assert!(bad(&[&data, &chunk(chunk::COOKIE_ACK, 4, b"")]));
        // A zero length field, anywhere.
        assert!(bad(&[&chunk(chunk::DATA, 0, b"abcd")]));
        assert!(bad(&[&data, &chunk(chunk::SACK, 0, b"")]));
    }

    #[test]
    fn walk_edge_cases() {
        // Length 1..3 moves on by 4.
        let p = packet(0, &[&chunk(0xC1, 2, b""), &chunk(chunk::SACK, 4, b"")]);
        let types: Vec<u8> = Packet::parse(&p, true).unwrap().chunks().map(|c| c.ty).collect();
        assert_eq!(types, [0xC1, chunk::SACK]);
        // A length beyond the packet ends the walk after that chunk.
        let p = packet(0, &[&chunk(chunk::DATA, 0xFFFF, b"abcd"), &chunk(chunk::INIT, 20, &[0; 16])]);
        assert_eq!(Packet::parse(&p, true).unwrap().chunks().count(), 1);
        // Two trailing bytes are no chunk.
        let p = packet(0, &[&chunk(chunk::DATA, 8, b"abcd"), &[0, 0]]);
        assert_eq!(Packet::parse(&p, true).unwrap().chunks().count(), 1);
        // The INIT tag needs the whole 16-byte INIT header in the packet,
        // whatever the chunk's length says.
        let short = packet(0, &[&chunk(chunk::INIT, 20, &[0, 0, 0, 9, 0, 0, 0, 1])]);
        let c = Packet::parse(&short, true).unwrap().chunks().next().unwrap();
        assert_eq!(c.init_tag(), None);
        let mut body = [0u8; 16];
        body[..4].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        let full = packet(0, &[&chunk(chunk::INIT, 20, &body)]);
        let c = Packet::parse(&full, true).unwrap().chunks().next().unwrap();
        assert_eq!(c.init_tag(), Some(0x0102_0304));
    }
}
