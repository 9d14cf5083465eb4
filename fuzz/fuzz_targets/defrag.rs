//! Arbitrary fragment sequences through a small `Reassembler` and on into
//! a table: no panic, no overflow, memory bounded by the pool, and every
//! datagram handed back fits one queue's buffer and is a whole IP packet.
//!
//! Input layout: records `[ctl] [dt] [len] [len bytes of packet]`.
//!
//! * `ctl` bits 0-1: how the packet is formed: 0 as given; 1 an IPv4
//!   fragment header (addresses, id and protocol from `ctl` bits 2-3, offset
//!   from the packet's first two bytes) around the bytes; 2 the same as an
//!   IPv6 Fragment header; 3 as given, then `expire`.
//! * `dt`: the clock step before the packet, `dt * 250` ms (up to 64 s, so
//!   that queues expire).
//! * a truncated last record takes whatever bytes remain.
#![no_main]

use ctrack::{Config, ConnTable, FixedConnTable, FixedReassembler, HashKey, Instant, Reassembly};
use libfuzzer_sys::fuzz_target;

const QUEUES: usize = 3;
const BUFFER: usize = 600;

fn ipv4_fragment(ctl: u8, body: &[u8]) -> Vec<u8> {
    let (fo, data) = match body {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => (0x2000, body),
    };
    let total = (20 + data.len()).min(65535) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0, (ctl >> 2) & 3, 0, 0, 64, if ctl & 16 != 0 { 1 } else { 17 }, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[6..8].copy_from_slice(&fo.to_be_bytes());
    p.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, (ctl >> 5) & 1]);
    p.extend_from_slice(data);
    let mut s: u32 = 0;
    for w in p[..20].chunks(2) {
        s += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    p[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    p.truncate(usize::from(total));
    p
}

fn ipv6_fragment(ctl: u8, body: &[u8]) -> Vec<u8> {
    let (fo, data) = match body {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => (1, body),
    };
    let plen = (8 + data.len()).min(65535) as u16;
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&plen.to_be_bytes());
    p.extend_from_slice(&[44, 64]);
    p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 + ((ctl >> 5) & 1)]);
    p.extend_from_slice(&[if ctl & 16 != 0 { 58 } else { 17 }, 0]);
    p.extend_from_slice(&fo.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, (ctl >> 2) & 3]);
    p.extend_from_slice(data);
    p.truncate(40 + usize::from(plen));
    p
}

fuzz_target!(|data: &[u8]| {
    let mut defrag: FixedReassembler<QUEUES, BUFFER> = FixedReassembler::new();
    let mut table: FixedConnTable<16> = ConnTable::new(HashKey([0x29; 16]), Config::default());
    let mut now = Instant::from_secs(10);
    let mut rest = data;
    while rest.len() >= 3 {
        let (ctl, dt, len) = (rest[0], rest[1], usize::from(rest[2]) * 4);
        rest = &rest[3..];
        let (body, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        now = Instant::from_millis(now.millis() + u64::from(dt) * 250);
        let packet = match ctl & 3 {
            1 => ipv4_fragment(ctl, body),
            2 => ipv6_fragment(ctl, body),
            _ => body.to_vec(),
        };
        let r = defrag.push(now, &packet);
        if let Reassembly::Complete(d) = r {
            let b = d.bytes();
            assert!(b.len() <= BUFFER, "datagram of {} bytes from {BUFFER}-byte buffers", b.len());
            assert!(matches!(b.first().map(|v| v >> 4), Some(4 | 6)));
            if b[0] >> 4 == 4 {
                assert_eq!(usize::from(u16::from_be_bytes([b[2], b[3]])), b.len());
                assert_eq!(b[6] & 0x3f, 0, "no MF, no offset");
            } else {
                assert_eq!(40 + usize::from(u16::from_be_bytes([b[4], b[5]])), b.len());
            }
        }
        if let Some(p) = r.packet() {
            let _ = table.track(now, p);
        }
        assert!(defrag.in_use(now) <= QUEUES);
        if ctl & 3 == 3 {
            defrag.expire(now);
        }
    }
    // Every queue expires within 60 s.
    let end = Instant::from_millis(now.millis() + 60_000);
    defrag.expire(end);
    assert_eq!(defrag.in_use(end), 0);
});
