//! Packet builders for the behaviour tests: correct headers and checksums,
//! written with smoltcp's wire emitters.
#![allow(dead_code)]

use std::net::IpAddr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpPacket, UdpPacket, checksum,
};

/// Whether the table under test tracks IPv6 (not with feature
/// `ipv4-only`, which makes every IPv6 packet INVALID,
/// `Reason::FamilyNotTracked`).
pub const IPV6_TRACKED: bool = cfg!(not(feature = "ipv4-only"));

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An IP packet from `src` to `dst` carrying `payload` (whose checksum, if
/// any, the caller has filled).
pub fn ip_packet(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8], ttl: u8) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let repr = Ipv4Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::from(proto),
                payload_len: payload.len(),
                hop_limit: ttl,
            };
            let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
            let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
            repr.emit(&mut p, &ChecksumCapabilities::default());
            p.payload_mut().copy_from_slice(payload);
            buf
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let repr = Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::from(proto),
                payload_len: payload.len(),
                hop_limit: ttl,
            };
            let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
            let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
            repr.emit(&mut p);
            p.payload_mut().copy_from_slice(payload);
            buf
        }
        _ => panic!("mixed families"),
    }
}

fn addr(a: IpAddr) -> IpAddress {
    IpAddress::from(a)
}

pub fn udp(src: &str, sport: u16, dst: &str, dport: u16, data: &[u8]) -> Vec<u8> {
    let (s, d) = (ip(src), ip(dst));
    let mut l4 = vec![0u8; 8 + data.len()];
    {
        let mut u = UdpPacket::new_unchecked(&mut l4[..]);
        u.set_src_port(sport);
        u.set_dst_port(dport);
        u.set_len((8 + data.len()) as u16);
        u.payload_mut()[..data.len()].copy_from_slice(data);
        u.fill_checksum(&addr(s), &addr(d));
    }
    ip_packet(s, d, 17, &l4, 64)
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    win: u16,
    data: &[u8],
) -> Vec<u8> {
    let (s, d) = (ip(src), ip(dst));
    let mut l4 = vec![0u8; 20 + data.len()];
    l4[12] = 5 << 4;
    l4[13] = flags;
    {
        let mut t = TcpPacket::new_unchecked(&mut l4[..]);
        t.set_src_port(sport);
        t.set_dst_port(dport);
        t.set_seq_number(smoltcp::wire::TcpSeqNumber(seq as i32));
        t.set_ack_number(smoltcp::wire::TcpSeqNumber(ack as i32));
        t.set_window_len(win);
    }
    l4[20..].copy_from_slice(data);
    TcpPacket::new_unchecked(&mut l4[..]).fill_checksum(&addr(s), &addr(d));
    ip_packet(s, d, 6, &l4, 64)
}

/// ICMP (IPv4) or ICMPv6 message with the given header fields and body.
pub fn icmp(src: &str, dst: &str, ty: u8, code: u8, id: u16, body: &[u8]) -> Vec<u8> {
    icmp_ttl(src, dst, ty, code, id, body, 64)
}

pub fn icmp_ttl(src: &str, dst: &str, ty: u8, code: u8, id: u16, body: &[u8], ttl: u8) -> Vec<u8> {
    let (s, d) = (ip(src), ip(dst));
    let mut l4 = vec![ty, code, 0, 0];
    l4.extend_from_slice(&id.to_be_bytes());
    l4.extend_from_slice(&[0, 1]);
    l4.extend_from_slice(body);
    let (proto, sum) = match (s, d) {
        (IpAddr::V4(_), _) => (1, !checksum::data(&l4)),
        _ => (
            58,
            !checksum::combine(&[
                checksum::pseudo_header(&addr(s), &addr(d), IpProtocol::Icmpv6, l4.len() as u32),
                checksum::data(&l4),
            ]),
        ),
    };
    l4[2..4].copy_from_slice(&sum.to_be_bytes());
    ip_packet(s, d, proto, &l4, ttl)
}

/// The kernel's answers to a differential round's scenarios, as the NAT
/// comparisons read them.
pub struct Scenarios {
    /// Each `.json` file (sorted) of the directory the environment
    /// variable named (another round's), else of `tests/data/{default}`:
    /// its name and what it holds, an IPv6 one (`"family": 6`) left out
    /// where the table tracks IPv4 alone (feature `ipv4-only`).
    pub docs: Vec<(String, serde_json::Value)>,
    /// The deliberate differences the directory's `known-differences.txt`
    /// lists ("FILE N reason" lines: N counts the file's messages or
    /// flows from 0).
    pub known: Vec<(String, usize)>,
    /// The names of the IPv6 files left out.
    pub skipped: Vec<String>,
}

/// Read a round's scenarios ([`Scenarios`]).
pub fn scenarios(var: &str, default: &str) -> Scenarios {
    let dir =
        std::env::var(var).unwrap_or_else(|_| format!("{}/tests/data/{default}", env!("CARGO_MANIFEST_DIR")));
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    assert!(!files.is_empty(), "no scenario in {dir}");
    let known = std::fs::read_to_string(format!("{dir}/known-differences.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_string(), w.next().unwrap().parse().unwrap())
        })
        .collect();
    let (mut docs, mut skipped) = (Vec::new(), Vec::new());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        if is_ipv6(&doc) && cfg!(feature = "ipv4-only") {
            skipped.push(name);
        } else {
            docs.push((name, doc));
        }
    }
    Scenarios { docs, known, skipped }
}

/// Whether a scenario ([`scenarios`]) is over IPv6.
pub fn is_ipv6(doc: &serde_json::Value) -> bool {
    doc["family"].as_u64() == Some(6)
}

/// What a comparison with the kernel's answers to a round's scenarios
/// ([`scenarios`]) found, in units (`unit`: "messages", "flows") of its
/// files: it prints the summary line (`what`), and fails on any
/// difference not listed, and on any listed one (of a file compared,
/// not `skipped`) that agrees now.
pub fn settle(
    what: &str,
    unit: &str,
    compared: usize,
    bad: &[String],
    listed: &[(String, usize)],
    known: &[(String, usize)],
    skipped: &[String],
) {
    let skipped_note = match skipped.len() {
        0 => String::new(),
        n => format!(" ({n} IPv6 files skipped: ipv4-only)"),
    };
    println!(
        "{what}: {} of {compared} {unit} as Linux, {} listed differences{skipped_note}",
        compared - bad.len() - listed.len(),
        listed.len()
    );
    assert!(bad.is_empty(), "{} differ:\n{}", bad.len(), bad.join("\n"));
    for k in known.iter().filter(|k| !skipped.contains(&k.0)) {
        assert!(listed.contains(k), "{} {} {} is listed as differing but agrees", k.0, unit, k.1);
    }
}
