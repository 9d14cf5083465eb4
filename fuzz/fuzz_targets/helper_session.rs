//! Helpers in context: a table with every built-in helper assigned sees a
//! sequence of control-connection payloads (FTP over TCP with consistent
//! sequence numbers, so that line starts are met; TFTP, SIP over UDP and
//! TCP; SNMP broadcasts; PPTP control messages, their header built by the
//! target, and enhanced GRE both ways) and of follow-up connections, all
//! built from the input. Checks that nothing panics, that the tables stay within their
//! bounds, and that every expectation listed belongs to a live master.
//!
//! Input: records `[kind] [len] [payload; len]`.
#![no_main]

use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, Meta};
use libfuzzer_sys::fuzz_target;

const C: [u8; 4] = [192, 168, 1, 10];
const S: [u8; 4] = [198, 51, 100, 5];

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, proto, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let mut sum: u32 = p.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn tcp(sport: u16, dport: u16, flags: u8, seq: u32, ack: u32, data: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + data.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(data);
    t
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = (8 + data.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    u
}

fuzz_target!(|data: &[u8]| {
    let mut config = Config::default();
    config.checksum = false;
    let mut table: FixedConnTable<64, 8, 8> = ConnTable::new(HashKey([7; 16]), config);
    for b in ctrack::helper::BUILTINS {
        table.add_builtin_helper(b).expect("room for every built-in helper");
    }
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let mut ms = 1_000_000u64;
    let (mut pcseq, mut psseq) = (cseq, sseq);
    // Open the FTP, SIP/TCP and PPTP control connections.
    for (sport, dport) in [(50000u16, 21u16), (50600, 5060), (50723, 1723)] {
        let now = Instant::from_millis(ms);
        let _ = table.track(now, &ipv4(C, S, 6, &tcp(sport, dport, 0x02, cseq - 1, 0, &[])));
        let _ = table.track(now, &ipv4(S, C, 6, &tcp(dport, sport, 0x12, sseq - 1, cseq, &[])));
        let _ = table.track(now, &ipv4(C, S, 6, &tcp(sport, dport, 0x10, cseq, sseq, &[])));
    }
    let mut rest = data;
    while let [kind, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        ms += u64::from(kind >> 4) * 100;
        let now = Instant::from_millis(ms);
        let (pkt, meta) = match kind & 0x0f {
            0 | 1 => {
                let client = kind & 1 == 0;
                let p = if client {
                    ipv4(C, S, 6, &tcp(50000, 21, 0x18, cseq, sseq, payload))
                } else {
                    ipv4(S, C, 6, &tcp(21, 50000, 0x18, sseq, cseq, payload))
                };
                if client {
                    cseq = cseq.wrapping_add(n as u32)
                } else {
                    sseq = sseq.wrapping_add(n as u32)
                }
                (p, Meta::default())
            }
            2 => (ipv4(C, S, 17, &udp(40000, 69, payload)), Meta::default()),
            3 => (ipv4(C, S, 17, &udp(5060, 5060, payload)), Meta::default()),
            4 => (ipv4(S, C, 17, &udp(5060, 5060, payload)), Meta::default()),
            5 => (ipv4(C, S, 6, &tcp(50600, 5060, 0x18, cseq, sseq, payload)), Meta::default()),
            6 => {
                let bcast = [192, 168, 1, 255];
                (ipv4(C, bcast, 17, &udp(40001, 161, payload)), Meta::default().with_broadcast_prefix(24))
            }
            // PPTP: a control message of type `payload[0]` with the rest as
            // its body, from the client (7) or the server (8).
            7 | 8 => {
                let client = kind & 0x0f == 7;
                let (ty, body) = payload.split_first().map_or((0, &[][..]), |(t, b)| (*t, b));
                let mut m = Vec::with_capacity(12 + body.len());
                m.extend_from_slice(&((12 + body.len()) as u16).to_be_bytes());
                m.extend_from_slice(&[0, 1, 0x1a, 0x2b, 0x3c, 0x4d, 0, ty & 0x0f, 0, 0]);
                m.extend_from_slice(body);
                let p = if client {
                    let p = ipv4(C, S, 6, &tcp(50723, 1723, 0x18, pcseq, psseq, &m));
                    pcseq = pcseq.wrapping_add(m.len() as u32);
                    p
                } else {
                    let p = ipv4(S, C, 6, &tcp(1723, 50723, 0x18, psseq, pcseq, &m));
                    psseq = psseq.wrapping_add(m.len() as u32);
                    p
                };
                (p, Meta::default())
            }
            // Enhanced GRE, the call id from the payload's first bytes.
            9 | 10 => {
                let id = payload.get(..2).map_or([0, 0], |b| [b[0], b[1]]);
                let gre = [0x30, 0x01, 0x88, 0x0b, 0, 0, id[0], id[1], 0, 0, 0, 1];
                let p = if kind & 0x0f == 9 { ipv4(C, S, 47, &gre) } else { ipv4(S, C, 47, &gre) };
                (p, Meta::default())
            }
            // Follow-up connections to ports named by the payload's first bytes.
            k => {
                let port = payload.get(..2).map_or(20, |b| u16::from_be_bytes([b[0], b[1]]));
                let p = if k & 1 == 0 {
                    ipv4(S, C, 6, &tcp(20, port, 0x02, 1, 0, &[]))
                } else {
                    ipv4(S, C, 17, &udp(3456, port, payload))
                };
                (p, Meta::default())
            }
        };
        let mut v = table.classify(now, &pkt, meta);
        if table.confirm(&mut v, &pkt).is_err() {
            // A helper drop or an insert clash has already freed a new
            // entry; discarding afterwards must be harmless.
            assert!(v.must_drop() || matches!(v, ctrack::Verdict::Tracked(_)));
            table.discard(&v);
        }
        assert!(table.len() <= table.capacity());
        assert!(table.expectations(now).count() <= 8);
        for line in table.expectations(now) {
            let _ = line.to_string();
        }
        for e in table.entries(now) {
            let _ = (e.helper(), e.master(), e.to_string());
        }
        ctrack::fuzzing::check_slots(&table).unwrap();
    }
});
