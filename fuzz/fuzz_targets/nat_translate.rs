//! NAT translation of arbitrary packets.
//!
//! Input: `[flags] [n] [first packet: n bytes] [second packet...]`. The
//! first packet is classified; if it opens a connection, it gets the NAT
//! bindings `flags` pick (bit 0: source NAT, bit 1: destination NAT, bit
//! 2: a 7-port range, bit 3: `random`, bit 4: checksum verification on,
//! bit 5: the FTP, TFTP, SIP and SNMP helpers, whose NAT rewrites payloads),
//! is confirmed and translated. Then its answer (addresses and ports
//! swapped) and an ICMP error about it are tracked and translated; the
//! second packet too, given the same bindings if it opens a connection
//! (one of the same source takes the first's translation); then the first
//! packet again, and once more after its connection is deleted.
//!
//! Asserted: no panic; a packet whose translation fails is unchanged; and
//! every checksum (IPv4 header; TCP, UDP, ICMP, ICMPv6 checksum; SCTP
//! CRC32c) that was right before translation is right after, as computed
//! here from scratch.
#![no_main]

use ctrack::nat::NatRule;
use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant, Meta, Verdict};
use libfuzzer_sys::fuzz_target;

/// RFC 1071 by the definition.
fn ones(parts: &[&[u8]]) -> u32 {
    let mut acc = 0u32;
    for p in parts {
        for c in p.chunks(2) {
            acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    acc
}

/// CRC32c, bit by bit (RFC 9260 appendix A).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The checksums this target can verify, each `Some(valid)` when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checks {
    ip: Option<bool>,
    l4: Option<bool>,
}

fn checks(p: &[u8]) -> Checks {
    let none = Checks { ip: None, l4: None };
    let Some(&v) = p.first() else { return none };
    let (src, dst, proto, l4, ip) = match v >> 4 {
        4 if p.len() >= 20 => {
            let hl = usize::from(v & 15) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if hl < 20 || total < hl || total > p.len() {
                return none;
            }
            (&p[12..16], &p[16..20], p[9], &p[hl..total], Some(ones(&[&p[..hl]]) == 0xffff))
        }
        6 if p.len() >= 40 => {
            let total = 40 + usize::from(u16::from_be_bytes([p[4], p[5]]));
            if total > p.len() {
                return none;
            }
            (&p[8..24], &p[24..40], p[6], &p[40..total], None)
        }
        _ => return none,
    };
    let v4 = v >> 4 == 4;
    let len = (l4.len() as u32).to_be_bytes();
    let pseudo = [src, dst, &[0, 0, 0, proto][..], &len].concat();
    let l4_ok = match proto {
        6 if l4.len() >= 20 => Some(ones(&[&pseudo, l4]) == 0xffff),
        // UDP checksum 0 is "none" (RFC 768; over IPv6 too, RFC 6936), and
        // NAT keeps it so (`nf_nat_proto.c: udp_manip_pkt()`), even when the
        // rest of the datagram happens to sum to all ones.
        17 if l4.len() >= 8 && l4[6..8] != [0, 0] => Some(ones(&[&pseudo, l4]) == 0xffff),
        1 if v4 && l4.len() >= 8 => Some(ones(&[l4]) == 0xffff),
        58 if !v4 && l4.len() >= 8 => Some(ones(&[&pseudo, l4]) == 0xffff),
        132 if l4.len() >= 12 => {
            let mut z = l4.to_vec();
            z[8..12].fill(0);
            Some(crc32c(&z).to_le_bytes() == l4[8..12])
        }
        _ => None,
    };
    Checks { ip, l4: l4_ok }
}

/// Translate `packet` (with room to grow, for a helper's rewrite); check
/// the property. The packet as it leaves.
fn translate_checked<S: ctrack::Storage>(t: &mut ConnTable<S>, v: &Verdict, packet: &mut Vec<u8>) {
    let before = checks(packet);
    let copy = packet.clone();
    let len = packet.len();
    packet.resize(len + 256, 0);
    match t.translate_in(v, packet, len) {
        Ok(n) => {
            packet.truncate(n);
            let after = checks(packet);
            for (b, a) in [(before.ip, after.ip), (before.l4, after.l4)] {
                if b == Some(true) {
                    assert_eq!(a, Some(true), "a checksum broke: {copy:02x?} -> {packet:02x?}");
                }
            }
        }
        Err(_) => {
            packet.truncate(len);
            assert_eq!(packet, &copy, "a refused packet is unchanged");
        }
    }
}

/// The answer to `p`: addresses and ports swapped (checksums stay right).
fn answer(p: &[u8]) -> Option<Vec<u8>> {
    let mut a = p.to_vec();
    let (s, d, proto, l4) = match p.first()? >> 4 {
        4 if p.len() >= 20 => (12, 16, p[9], usize::from(p[0] & 15) * 4),
        6 if p.len() >= 40 => (8, 24, p[6], 40),
        _ => return None,
    };
    let n = d - s;
    a[s..s + n].copy_from_slice(&p[d..d + n]);
    a[d..d + n].copy_from_slice(&p[s..s + n]);
    if matches!(proto, 6 | 17 | 132 | 136) && p.len() >= l4 + 4 {
        a[l4..l4 + 2].copy_from_slice(&p[l4 + 2..l4 + 4]);
        a[l4 + 2..l4 + 4].copy_from_slice(&p[l4..l4 + 2]);
    }
    Some(a)
}

/// An ICMP (destination unreachable) or ICMPv6 error from the
/// destination of `p` to its source, quoting `p`.
fn icmp_error(p: &[u8]) -> Option<Vec<u8>> {
    let v = p.first()? >> 4;
    let quote = &p[..p.len().min(200)];
    let mut icmp = vec![if v == 4 { 3 } else { 1 }, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quote);
    let mut out = Vec::new();
    match v {
        4 if p.len() >= 20 => {
            let total = (20 + icmp.len()) as u16;
            out.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0]);
            out[2..4].copy_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&p[16..20]);
            out.extend_from_slice(&p[12..16]);
            let c = !(ones(&[&out]) as u16);
            out[10..12].copy_from_slice(&c.to_be_bytes());
            let c = !(ones(&[&icmp]) as u16);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
        }
        6 if p.len() >= 40 => {
            out.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 58, 64]);
            out[4..6].copy_from_slice(&(icmp.len() as u16).to_be_bytes());
            out.extend_from_slice(&p[24..40]);
            out.extend_from_slice(&p[8..24]);
            let len = (icmp.len() as u32).to_be_bytes();
            let c = !(ones(&[&out[8..40], &[0, 0, 0, 58], &len, &icmp]) as u16);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => return None,
    }
    out.extend_from_slice(&icmp);
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let &[flags, n, ref rest @ ..] = data else { return };
    let (first, second) = rest.split_at(usize::from(n).min(rest.len()));
    let mut config = Config::default();
    config.checksum = flags & 16 != 0;
    let mut table: FixedConnTable<64> = ConnTable::new(HashKey([0x42; 16]), config);
    // Bit 5: the helpers whose NAT rewrites payloads (FTP, TFTP, SIP,
    // SNMP, PPTP).
    if flags & 32 != 0 {
        for name in ["ftp", "tftp", "sip", "snmp", "snmp_trap", "pptp"] {
            if let Some(b) = ctrack::helper::builtin(name) {
                let _ = table.add_builtin_helper(b);
            }
        }
    }
    let now = Instant::from_secs(1000);

    let mut p1 = first.to_vec();
    let Some(v) = open(&mut table, now, flags, &p1) else { return };
    translate_checked(&mut table, &v, &mut p1);

    // Its answer and an ICMP error about it, as they come back.
    for mut p in [answer(&p1), icmp_error(&p1)].into_iter().flatten() {
        let v = table.track(now, &p);
        translate_checked(&mut table, &v, &mut p);
    }
    // The second packet, given the rules too if it is new (a second
    // connection of the same source takes the first's translation).
    let mut p2 = second.to_vec();
    if let Some(v) = open(&mut table, now, flags, &p2) {
        translate_checked(&mut table, &v, &mut p2);
    }
    // Once more, the first packet (an entry may have appeared meanwhile).
    let mut p1 = first.to_vec();
    let v = table.track(now, &p1);
    translate_checked(&mut table, &v, &mut p1);
    // Gone, and the first packet again: a connection of its own.
    if let Some(h) = v.entry() {
        table.delete(h);
    }
    let _ = open(&mut table, now, flags, &p1);
    ctrack::fuzzing::check_slots(&table).unwrap();
});

/// Classify `p`, give a new connection the rules `flags` choose, confirm:
/// the verdict (`None`: a binding failed, or confirmation did).
fn open(table: &mut FixedConnTable<64>, now: Instant, flags: u8, p: &[u8]) -> Option<Verdict> {
    let mut v = table.classify(now, p, Meta::default());
    if v.state() == Some(CtState::New) {
        let six = p.first().is_some_and(|b| b >> 4 == 6);
        let (s, d) = if six {
            ("2001:db8::1".parse().unwrap(), "fd00::8".parse().unwrap())
        } else {
            ("203.0.113.1".parse().unwrap(), "10.0.0.8".parse().unwrap())
        };
        let mut rules = Vec::new();
        if flags & 2 != 0 {
            rules.push(NatRule::dnat(d));
        }
        if flags & 1 != 0 {
            rules.push(NatRule::snat(s));
        }
        for r in &mut rules {
            if flags & 4 != 0 {
                *r = r.ports(1024, 1030);
            }
            if flags & 8 != 0 {
                *r = r.random();
            }
        }
        let mut ok = true;
        for r in &rules {
            ok &= table.nat(&v, r).is_ok();
        }
        if !ok {
            table.discard(&v);
            return None;
        }
    }
    table.confirm(&mut v, p).ok()?;
    Some(v)
}
