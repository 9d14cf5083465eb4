//! The SCTP header checks and chunk walk (`ctrack::wire::sctp`, the checks
//! of `nf_conntrack_proto_sctp.c: sctp_error()` and `do_basic_checks()`),
//! then the SCTP tracker on a short exchange.
//!
//! Input: `[selector] [l4...]`. Bit 0 of the selector: write the correct
//! CRC32c into the packet first (so the walk is reached with checksum
//! verification on). The same layer-4 bytes are then sent, as IPv4 SCTP,
//! in alternating directions through a small table (checksum verification
//! off when bit 1 is set), with the verification tag rewritten by bits 2-3
//! so that tag checks pass as well as fail.
#![no_main]

use core::fmt::Write;

use ctrack::fuzzing::{SctpChunk, sctp_crc32c, sctp_parse};
use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant};
use libfuzzer_sys::fuzz_target;

struct Sink;

impl Write for Sink {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}

fn ipv4(src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, 132, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let mut sum = 0u32;
    for w in p.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, l4)) = data.split_first() else { return };
    if l4.len() > 1400 {
        return;
    }
    let mut l4 = l4.to_vec();
    if sel & 1 != 0 && l4.len() >= 12 {
        let crc = sctp_crc32c(&l4);
        l4[8..12].copy_from_slice(&crc.to_le_bytes());
    }

    // The walk: every chunk starts on a 4-byte boundary inside the packet,
    // so there are at most (len - 12) / 4 of them.
    let mut chunks: Vec<SctpChunk> = Vec::new();
    let res = sctp_parse(&l4, true, |c| chunks.push(c));
    match res {
        Ok(vtag) => {
            assert!(!chunks.is_empty());
            assert!(chunks.len() <= (l4.len() - 12) / 4);
            assert_eq!(vtag, u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]));
            assert!(chunks.iter().all(|c| c.len != 0));
            // INIT, INIT ACK, SHUTDOWN COMPLETE only alone.
            if chunks.iter().any(|c| matches!(c.ty, 1 | 2 | 14)) {
                assert_eq!(chunks.len(), 1);
            }
            // Accepted with the checksum on: the CRC32c is right.
            let field = u32::from_le_bytes([l4[8], l4[9], l4[10], l4[11]]);
            assert_eq!(field, sctp_crc32c(&l4));
        }
        Err(_) => assert!(chunks.is_empty()),
    }
    let _ = sctp_parse(&l4, false, |_| {});

    // The tracker: the packet in both directions, tags rewritten.
    let mut config = Config::default();
    config.checksum = sel & 2 == 0;
    let mut table: FixedConnTable<16> = ConnTable::new(HashKey([0x13; 16]), config);
    let (a, b) = ([10, 1, 0, 1], [10, 2, 0, 2]);
    for step in 0..6u8 {
        let mut p = l4.clone();
        if p.len() >= 12 {
            // Swap ports for the reply direction.
            if step % 2 == 1 {
                let (s, d) = ([p[0], p[1]], [p[2], p[3]]);
                p[..2].copy_from_slice(&d);
                p[2..4].copy_from_slice(&s);
            }
            match (sel >> 2) & 3 {
                1 => p[4..8].fill(0),
                2 if step > 0 => p[4..8].copy_from_slice(&l4[16.min(l4.len() - 4)..][..4]),
                _ => {}
            }
            if sel & 1 != 0 {
                let crc = sctp_crc32c(&p);
                p[8..12].copy_from_slice(&crc.to_le_bytes());
            }
        }
        let pkt = if step % 2 == 0 { ipv4(a, b, &p) } else { ipv4(b, a, &p) };
        let now = Instant::from_millis(1_000_000 + u64::from(step) * 700);
        let v = table.track(now, &pkt);
        let _ = (v.state(), v.dir(), v.reason());
        for e in table.entries(now) {
            let _ = write!(Sink, "{e} {:?}", e.sctp_state());
        }
        assert!(table.len() <= 1);
    }
});
