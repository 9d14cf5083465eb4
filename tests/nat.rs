//! NAT: bindings made between classification and confirmation, and the
//! in-place translation of every packet of a NATed connection, ICMP
//! errors included. Every translated packet's checksums are verified
//! from scratch with the reference algorithm below (not the crate's).

mod common;

use std::net::IpAddr;

use common::*;
use ctrack::nat::{NatError, NatRule};
use ctrack::*;

const CLIENT: &str = "10.0.0.5";
const CLIENT2: &str = "10.0.0.6";
const SERVER: &str = "198.51.100.7";
#[cfg(feature = "nat-helpers")]
const SERVER2: &str = "198.51.100.9";
const PUBLIC: &str = "203.0.113.1";
const INSIDE: &str = "10.0.0.1";
const WEB: &str = "10.0.0.8";
const ROUTER: &str = "192.0.2.254";

const CLIENT6: &str = "fd00::5";
const SERVER6: &str = "2001:db8:1::7";
const PUBLIC6: &str = "2001:db8:ffff::1";

fn now() -> Instant {
    Instant::from_secs(100)
}

/// 256 connections, of which 128 may have NAT (a binding lives in an
/// extension slot).
fn table() -> FixedConnTable<256, 128> {
    ConnTable::new(HashKey([0x17; 16]), Config::default())
}

// ---------------------------------------------------------------------
// The independent checksum check: RFC 1071 by the definition, big-endian
// 16-bit words with the carry folded after each addition.

fn ones_sum(data: &[u8]) -> u32 {
    let mut acc = 0u32;
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

fn add(a: u32, b: u32) -> u32 {
    let s = a + b;
    (s & 0xffff) + (s >> 16)
}

fn sums_to_ones(parts: &[&[u8]]) -> bool {
    parts.iter().fold(0, |acc, p| add(acc, ones_sum(p))) == 0xffff
}

/// The addresses, protocol and layer-4 bytes of an IP packet without
/// IPv6 extension headers; IPv4: also whether its header checksum is right.
fn split(p: &[u8]) -> (Vec<u8>, Vec<u8>, u8, &[u8], bool) {
    match p[0] >> 4 {
        4 => {
            let hl = usize::from(p[0] & 15) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
            (p[12..16].to_vec(), p[16..20].to_vec(), p[9], &p[hl..total], sums_to_ones(&[&p[..hl]]))
        }
        6 => {
            let total = (40 + usize::from(u16::from_be_bytes([p[4], p[5]]))).min(p.len());
            (p[8..24].to_vec(), p[24..40].to_vec(), p[6], &p[40..total], true)
        }
        v => panic!("IP version {v}"),
    }
}

/// Every checksum of the packet is right: IPv4 header, and TCP, UDP (0 =
/// none), ICMP or ICMPv6.
fn checksums_ok(p: &[u8]) -> bool {
    let (src, dst, proto, l4, ip_ok) = split(p);
    let len = (l4.len() as u32).to_be_bytes();
    let pseudo = [&src[..], &dst[..], &[0, 0, 0, proto], &len].concat();
    let l4_ok = match proto {
        1 => sums_to_ones(&[l4]),
        // 0: no checksum (RFC 768; IPv6: RFC 6936).
        17 if l4[6..8] == [0, 0] => true,
        6 | 17 | 58 => sums_to_ones(&[&pseudo, l4]),
        _ => true,
    };
    ip_ok && l4_ok
}

/// The packet an ICMP error quotes (from byte 8 of its ICMP message).
fn quote(p: &[u8]) -> &[u8] {
    &split(p).3[8..]
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Source and destination address of an IP packet.
fn addrs(p: &[u8]) -> (IpAddr, IpAddr) {
    let (s, d, ..) = split(p);
    let ip = |b: Vec<u8>| match b.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(b).unwrap()),
        _ => IpAddr::from(<[u8; 16]>::try_from(b).unwrap()),
    };
    (ip(s), ip(d))
}

/// Source and destination port (ICMP: the identifier twice).
fn ports(p: &[u8]) -> (u16, u16) {
    let (_, _, proto, l4, _) = split(p);
    match proto {
        1 | 58 => {
            let id = u16::from_be_bytes([l4[4], l4[5]]);
            (id, id)
        }
        _ => (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]])),
    }
}

// ---------------------------------------------------------------------

/// Classify a NEW packet, apply `rules`, confirm, translate: the verdict.
fn open<S: Storage>(t: &mut ConnTable<S>, packet: &mut [u8], rules: &[NatRule]) -> Result<Verdict, NatError> {
    let mut v = t.classify(now(), packet, Meta::default());
    assert_eq!(v.state(), Some(CtState::New));
    for r in rules {
        if let Err(e) = t.nat(&v, r) {
            t.discard(&v);
            return Err(e);
        }
    }
    t.confirm(&mut v, packet).unwrap();
    t.translate(&v, packet)?;
    assert!(checksums_ok(packet));
    Ok(v)
}

/// Track a later packet and translate it.
fn pass<S: Storage>(t: &mut ConnTable<S>, packet: &mut [u8]) -> Verdict {
    let v = t.track(now(), packet);
    assert!(checksums_ok(packet), "valid before");
    t.translate(&v, packet).unwrap();
    assert!(checksums_ok(packet), "valid after");
    v
}

fn snat() -> NatRule {
    NatRule::snat(addr(PUBLIC))
}

#[test]
fn snat_udp_both_ways() {
    let mut t = table();
    let mut out = udp(CLIENT, 40000, SERVER, 53, b"query");
    let v = open(&mut t, &mut out, &[snat()]).unwrap();
    assert_eq!(addrs(&out), (addr(PUBLIC), addr(SERVER)));
    assert_eq!(ports(&out), (40000, 53), "the port is kept when unique");
    let e = t.get(v.entry().unwrap(), now()).unwrap();
    assert!(e.status().contains(Status::SRC_NAT | Status::SRC_NAT_DONE));
    assert!(!e.status().intersects(Status::DST_NAT | Status::DST_NAT_DONE));

    // The answer comes to the public address: the reply direction,
    // found by the translated tuple, translated back.
    let mut back = udp(SERVER, 53, PUBLIC, 40000, b"answer");
    let r = pass(&mut t, &mut back);
    assert_eq!(
        (r.state(), r.dir(), r.entry()),
        (Some(CtState::Established), Some(Direction::Reply), v.entry())
    );
    assert_eq!(addrs(&back), (addr(SERVER), addr(CLIENT)));
    assert_eq!(ports(&back), (53, 40000));
    assert_eq!(&back[28..], b"answer");

    // More of the original direction.
    let mut again = udp(CLIENT, 40000, SERVER, 53, b"more");
    let r = pass(&mut t, &mut again);
    assert_eq!((r.dir(), r.entry()), (Some(Direction::Original), v.entry()));
    assert_eq!(addrs(&again), (addr(PUBLIC), addr(SERVER)));
}

#[test]
fn snat_tcp_both_ways() {
    let mut t = table();
    let mut syn = tcp(CLIENT, 40001, SERVER, 80, SYN, 1000, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &[snat()]).unwrap();
    assert_eq!(addrs(&syn).0, addr(PUBLIC));
    let mut synack = tcp(SERVER, 80, PUBLIC, 40001, SYN | ACK, 5000, 1001, 65535, &[]);
    let r = pass(&mut t, &mut synack);
    assert_eq!((r.dir(), r.entry()), (Some(Direction::Reply), v.entry()));
    assert_eq!(addrs(&synack), (addr(SERVER), addr(CLIENT)));
    assert_eq!(ports(&synack), (80, 40001));
    let mut ack = tcp(CLIENT, 40001, SERVER, 80, ACK, 1001, 5001, 65535, b"GET / HTTP/1.0\r\n\r\n");
    let r = pass(&mut t, &mut ack);
    assert_eq!(r.state(), Some(CtState::Established));
    assert_eq!(addrs(&ack), (addr(PUBLIC), addr(SERVER)));
    // Odd payload length: the checksum still holds.
    let mut data = tcp(SERVER, 80, PUBLIC, 40001, ACK | PSH, 5001, 1019, 65535, b"HTTP/1.0 200");
    let _ = pass(&mut t, &mut data);
    assert_eq!(addrs(&data).1, addr(CLIENT));
}

#[test]
fn nat_is_found_by_the_translated_tuple_only() {
    let mut t = table();
    let mut out = udp(CLIENT, 40000, SERVER, 53, b"q");
    let v = open(&mut t, &mut out, &[snat()]).unwrap();
    let reply = Tuple::with_ports(addr(SERVER), 53, addr(PUBLIC), 40000, 17).unwrap();
    let (e, dir) = t.lookup(&reply, 0, now()).unwrap();
    assert_eq!((e.handle(), dir), (v.entry().unwrap(), Direction::Reply));
    let plain = Tuple::with_ports(addr(SERVER), 53, addr(CLIENT), 40000, 17).unwrap();
    assert!(t.lookup(&plain, 0, now()).is_none());
}

#[test]
fn port_search_on_clash() {
    let mut t = table();
    let mut a = udp(CLIENT, 40000, SERVER, 53, b"a");
    let va = open(&mut t, &mut a, &[snat()]).unwrap();
    assert_eq!(ports(&a).0, 40000);
    // Another client, same port, same server: 203.0.113.1:40000 is taken.
    let mut b = udp(CLIENT2, 40000, SERVER, 53, b"b");
    let vb = open(&mut t, &mut b, &[snat()]).unwrap();
    let port = ports(&b).0;
    assert_ne!(port, 40000);
    assert!((1024..=65535).contains(&port), "same class as the original port: {port}");
    let mut back = udp(SERVER, 53, PUBLIC, port, b"to b");
    let r = pass(&mut t, &mut back);
    assert_eq!(r.entry(), vb.entry());
    assert_eq!(addrs(&back).1, addr(CLIENT2));
    assert_eq!(ports(&back).1, 40000);
    let mut back = udp(SERVER, 53, PUBLIC, 40000, b"to a");
    assert_eq!(pass(&mut t, &mut back).entry(), va.entry());
    assert_eq!(addrs(&back).1, addr(CLIENT));

    // A low port stays low (Linux's classes: 1-511, 600-1023).
    let mut c = udp(CLIENT, 500, SERVER, 53, b"c");
    let _ = open(&mut t, &mut c, &[snat()]).unwrap();
    let mut d = udp(CLIENT2, 500, SERVER, 53, b"d");
    let _ = open(&mut t, &mut d, &[snat()]).unwrap();
    assert!((1..=511).contains(&ports(&d).0) && ports(&d).0 != 500);
}

#[test]
fn port_range_and_random() {
    let mut t = table();
    let rule = snat().ports(2000, 2099);
    let mut seen = Vec::new();
    for i in 0..10 {
        let mut p = udp(CLIENT, 3000 + i, SERVER, 53, b"x");
        let _ = open(&mut t, &mut p, &[rule]).unwrap();
        let port = ports(&p).0;
        assert!((2000..=2099).contains(&port));
        assert!(!seen.contains(&port));
        seen.push(port);
    }
    // In the range already and free: kept; `random`: not necessarily.
    let mut p = udp(CLIENT, 2050, SERVER, 54, b"x");
    let _ = open(&mut t, &mut p, &[rule]).unwrap();
    assert_eq!(ports(&p).0, 2050);
    let random = NatRule::snat(addr(PUBLIC)).random();
    let moved = (0..8).any(|i| {
        let mut p = udp(CLIENT, 20000 + i, SERVER, 55, b"x");
        let _ = open(&mut t, &mut p, &[random]).unwrap();
        ports(&p).0 != 20000 + i
    });
    assert!(moved, "random does not preserve ports");
}

/// A source keeps its translation towards every destination while one of
/// its connections has it (`nf_nat_core.c: find_appropriate_src()`:
/// endpoint-independent mapping, RFC 4787 REQ-1), if the tuple it makes
/// is free; checked against the kernel by `tests/nat_mapping.rs`.
#[test]
fn a_source_keeps_its_translation() {
    let mut t = table();
    let rule = snat().ports(6000, 6099);
    let mut first = udp(CLIENT, 5060, SERVER, 5060, b"x");
    let v = open(&mut t, &mut first, &[rule]).unwrap();
    let mapped = ports(&first).0;
    assert!((6000..=6099).contains(&mapped));
    let mut later = Vec::new();
    for (server, port) in [(SERVER, 5061), (SERVER, 7000), ("198.51.100.9", 5060)] {
        let mut p = udp(CLIENT, 5060, server, port, b"x");
        later.push(open(&mut t, &mut p, &[rule]).unwrap());
        assert_eq!((addrs(&p).0, ports(&p).0), (addr(PUBLIC), mapped), "to {server}:{port}");
    }
    // Another port of the client, another protocol: their own.
    let mut p = udp(CLIENT, 5070, SERVER, 5060, b"x");
    let _ = open(&mut t, &mut p, &[rule]).unwrap();
    assert_ne!(ports(&p).0, mapped);
    let mut p = tcp(CLIENT, 5060, SERVER, 80, SYN, 1, 0, 65535, b"");
    let _ = open(&mut t, &mut p, &[rule]).unwrap();
    let tcp_port = ports(&p).0;
    let mut q = tcp(CLIENT, 5060, SERVER, 81, SYN, 1, 0, 65535, b"");
    let _ = open(&mut t, &mut q, &[rule]).unwrap();
    assert_eq!(ports(&q).0, tcp_port);

    // While any connection of the source is left, its translation is.
    assert!(t.delete(v.entry().unwrap()));
    let mut p = udp(CLIENT, 5060, SERVER, 8000, b"x");
    let _ = open(&mut t, &mut p, &[rule]).unwrap();
    assert_eq!(ports(&p).0, mapped);

    // Where the tuple it makes is taken (another source has that port
    // towards that destination), another port.
    let mut other = udp(CLIENT2, mapped, SERVER, 9000, b"x");
    let _ = open(&mut t, &mut other, &[NatRule::snat(addr(PUBLIC))]).unwrap();
    assert_eq!(ports(&other).0, mapped, "kept: in the class and free");
    let mut p = udp(CLIENT, 5060, SERVER, 9000, b"x");
    let _ = open(&mut t, &mut p, &[rule]).unwrap();
    assert_ne!(ports(&p).0, mapped);
    assert!((6000..=6099).contains(&ports(&p).0));

    // A translation out of the rule's range is not taken: another range,
    // another port.
    let mut p = udp(CLIENT, 5060, SERVER, 9001, b"x");
    let _ = open(&mut t, &mut p, &[snat().ports(7000, 7099)]).unwrap();
    assert!((7000..=7099).contains(&ports(&p).0));
}

/// The chains of translated sources lose no binding as connections come
/// and go: in a table whose extension slots are few (the chains' buckets
/// too), connections of a few source ports to a few destinations made,
/// ended and flushed in any order; each new one takes the translation of
/// the newest live connection of its source, unless the tuple that makes
/// is another source's.
#[test]
fn translated_sources_are_found_as_connections_come_and_go() {
    let mut t: FixedConnTable<64, 16> = ConnTable::new(HashKey([0x29; 16]), Config::default());
    let rule = snat().ports(6000, 6999);
    // (client port, destination port, translated port, handle), oldest
    // first.
    let mut live: Vec<(u16, u16, u16, Handle)> = Vec::new();
    let (mut reused, mut taken) = (0, 0);
    let mut x = 0x2545_f491u32;
    for step in 0..3000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let client_port = 1000 + (x % 6) as u16;
        let dest = 100 + (x >> 8) as u16 % 8;
        if x >> 20 & 3 == 0 && !live.is_empty() {
            let (.., h) = live.remove((x >> 4) as usize % live.len());
            assert!(t.delete(h));
            continue;
        }
        if step % 700 == 699 {
            t.flush();
            live.clear();
            continue;
        }
        if live.iter().any(|&(c, d, ..)| c == client_port && d == dest) || t.len() >= 16 {
            continue;
        }
        let mut p = udp(CLIENT, client_port, SERVER, dest, b"x");
        let v = open(&mut t, &mut p, &[rule]).unwrap();
        let port = ports(&p).0;
        if let Some(&(.., newest, _)) = live.iter().rev().find(|&&(c, ..)| c == client_port) {
            if port == newest {
                reused += 1;
            } else {
                assert!(
                    live.iter().any(|&(c, d, m, _)| c != client_port && d == dest && m == newest),
                    "step {step}: port {client_port} to {dest} got {port}, not {newest}, which is free"
                );
                taken += 1;
            }
        }
        live.push((client_port, dest, port, v.entry().unwrap()));
    }
    assert!(reused > 100 && taken > 0, "{reused} reused, {taken} taken");
}

/// A TCP connection from `client`:40000 to the server's port 80 through
/// source NAT `rule`, its handshake done (client's numbers from `seq`), then
/// ended by the client's RST if `reset` (CLOSE): the port it got.
fn connection(t: &mut FixedConnTable<256, 128>, client: &str, rule: NatRule, seq: u32, reset: bool) -> u16 {
    let mut syn = tcp(client, 40000, SERVER, 80, SYN, seq, 0, 65535, b"");
    let _ = open(t, &mut syn, &[rule]).unwrap();
    let port = ports(&syn).0;
    let v = pass(t, &mut tcp(SERVER, 80, PUBLIC, port, SYN | ACK, 7000, seq + 1, 65535, b""));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    let v = pass(t, &mut tcp(client, 40000, SERVER, 80, ACK, seq + 1, 7001, 65535, b""));
    assert_eq!(v.state(), Some(CtState::Established));
    if reset {
        let v = pass(t, &mut tcp(client, 40000, SERVER, 80, RST | ACK, seq + 1, 7001, 0, b""));
        assert_eq!(v.state(), Some(CtState::Established));
    }
    port
}

/// With the ports of a small range all taken, a new TCP connection takes
/// the tuple of one ending (CLOSE or TIME_WAIT) with source NAT, whose
/// sequence numbers its own have passed, evicting it (`nf_nat_core.c:
/// nf_nat_used_tuple_harder()`, in the last 32 tries of a search: every
/// try of a range of 32 ports or fewer); never a live one, nor one whose
/// numbers are ahead, nor for UDP.
#[test]
fn a_new_tcp_connection_evicts_an_ending_one_in_a_small_range() {
    let rule = snat().ports(3000, 3003);
    let clients = ["10.0.3.1", "10.0.3.2", "10.0.3.3", "10.0.3.4"];

    // All four live: refused.
    let mut t = table();
    for c in clients {
        connection(&mut t, c, rule, 1000, false);
    }
    let mut syn = tcp("10.0.3.9", 40000, SERVER, 80, SYN, 5000, 0, 65535, b"");
    assert_eq!(open(&mut t, &mut syn, &[rule]).unwrap_err(), NatError::NoFreeTuple);

    // All four ended: a SYN whose numbers are past theirs takes one's port.
    let mut t = table();
    let mut ended = std::collections::BTreeMap::new();
    for c in clients {
        ended.insert(connection(&mut t, c, rule, 1000, true), c);
    }
    assert_eq!(ended.len(), 4);
    let mut syn = tcp("10.0.3.9", 40000, SERVER, 80, SYN, 5000, 0, 65535, b"");
    let v = open(&mut t, &mut syn, &[rule]).unwrap();
    let port = ports(&syn).0;
    let evicted = ended[&port];
    assert_eq!(t.len(), 4, "one evicted, one new");
    // The server's answer to that port is the new connection's.
    let mut answer = tcp(SERVER, 80, PUBLIC, port, SYN | ACK, 9000, 5001, 65535, b"");
    assert_eq!(pass(&mut t, &mut answer).entry(), v.entry());
    assert_eq!(addrs(&answer).1, addr("10.0.3.9"));
    // The evicted connection's client is a new connection again.
    let late = tcp(evicted, 40000, SERVER, 80, ACK, 1001, 7001, 65535, b"");
    assert_eq!(t.classify(now(), &late, Meta::default()).state(), Some(CtState::New));

    // Ended, but the new SYN's numbers are behind theirs: refused.
    let mut t = table();
    for c in clients {
        connection(&mut t, c, rule, 1000, true);
    }
    let mut syn = tcp("10.0.3.9", 40000, SERVER, 80, SYN, 500, 0, 65535, b"");
    assert_eq!(open(&mut t, &mut syn, &[rule]).unwrap_err(), NatError::NoFreeTuple);
    assert_eq!(t.len(), 4);

    // UDP never evicts.
    let mut t = table();
    for c in clients {
        let mut p = udp(c, 40000, SERVER, 80, b"x");
        let _ = open(&mut t, &mut p, &[rule]).unwrap();
    }
    let mut p = udp("10.0.3.9", 40000, SERVER, 80, b"x");
    assert_eq!(open(&mut t, &mut p, &[rule]).unwrap_err(), NatError::NoFreeTuple);
}

#[test]
fn exhausted_one_port_range() {
    let mut t = table();
    let rule = snat().ports(2000, 2000);
    let mut a = udp(CLIENT, 40000, SERVER, 53, b"a");
    let _ = open(&mut t, &mut a, &[rule]).unwrap();
    assert_eq!(ports(&a).0, 2000);
    let mut b = udp(CLIENT2, 40000, SERVER, 53, b"b");
    assert_eq!(open(&mut t, &mut b, &[rule]).unwrap_err(), NatError::NoFreeTuple);
    assert_eq!(t.len(), 1, "the refused connection left no entry");
    // Another destination makes another tuple: free.
    let mut c = udp(CLIENT2, 40000, SERVER, 54, b"c");
    let _ = open(&mut t, &mut c, &[rule]).unwrap();
    assert_eq!(ports(&c).0, 2000);
    assert_eq!(t.len(), 2);
}

#[test]
fn binding_errors() {
    let mut t = table();
    let p = udp(CLIENT, 40000, SERVER, 53, b"a");
    let mut v = t.classify(now(), &p, Meta::default());
    assert_eq!(t.nat(&v, &NatRule::snat(addr(PUBLIC6))), Err(NatError::FamilyMismatch));
    assert_eq!(t.nat(&v, &NatRule::snat_range(addr(PUBLIC), addr(PUBLIC6))), Err(NatError::FamilyMismatch));
    t.nat(&v, &snat()).unwrap();
    assert_eq!(t.nat(&v, &snat()), Err(NatError::AlreadyBound));
    t.confirm(&mut v, &p).unwrap();
    assert_eq!(t.nat(&v, &NatRule::dnat(addr(WEB))), Err(NatError::NotNew));
    let later = t.track(now(), &p);
    assert_eq!(t.nat(&later, &NatRule::dnat(addr(WEB))), Err(NatError::NotNew));
    assert_eq!(t.nat(&Verdict::Untracked, &snat()), Err(NatError::NotNew));
}

#[test]
fn null_binding_sets_done_only() {
    let mut t = table();
    let mut p = udp(CLIENT, 40000, SERVER, 53, b"a");
    // Source NAT to the source address itself changes nothing.
    let v = open(&mut t, &mut p, &[NatRule::snat(addr(CLIENT))]).unwrap();
    let e = t.get(v.entry().unwrap(), now()).unwrap();
    assert!(e.status().contains(Status::SRC_NAT_DONE));
    assert!(!e.status().intersects(Status::SRC_NAT | Status::DST_NAT));
    let before = p.clone();
    assert_eq!(t.translate(&v, &mut p), Ok(false));
    assert_eq!(p, before);
}

#[test]
fn no_nat_is_not_touched() {
    let mut t = table();
    let mut p = tcp(CLIENT, 1, SERVER, 2, SYN, 1, 0, 100, &[]);
    let v = t.track(now(), &p);
    let before = p.clone();
    assert_eq!(t.translate(&v, &mut p), Ok(false));
    assert_eq!(t.translate(&Verdict::Untracked, &mut p), Ok(false));
    assert_eq!(p, before);
}

#[test]
fn dnat() {
    let mut t = table();
    let rule = NatRule::dnat(addr(WEB)).ports(8080, 8080);
    let mut syn = tcp(SERVER, 50000, PUBLIC, 80, SYN, 1, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &[rule]).unwrap();
    assert_eq!(addrs(&syn), (addr(SERVER), addr(WEB)));
    assert_eq!(ports(&syn), (50000, 8080));
    let e = t.get(v.entry().unwrap(), now()).unwrap();
    assert!(e.status().contains(Status::DST_NAT | Status::DST_NAT_DONE));
    let mut synack = tcp(WEB, 8080, SERVER, 50000, SYN | ACK, 9, 2, 65535, &[]);
    let r = pass(&mut t, &mut synack);
    assert_eq!((r.dir(), r.entry()), (Some(Direction::Reply), v.entry()));
    assert_eq!(addrs(&synack), (addr(PUBLIC), addr(SERVER)));
    assert_eq!(ports(&synack), (80, 50000));
    // Without ports, destination NAT keeps the port.
    let mut u = udp(SERVER, 50000, PUBLIC, 53, b"q");
    let _ = open(&mut t, &mut u, &[NatRule::dnat(addr(WEB))]).unwrap();
    assert_eq!(ports(&u), (50000, 53));
    assert_eq!(addrs(&u).1, addr(WEB));
}

#[test]
fn dnat_and_snat_on_one_connection() {
    let mut t = table();
    let rules = [NatRule::dnat(addr(WEB)).ports(8080, 8080), NatRule::snat(addr(INSIDE))];
    let mut syn = tcp(SERVER, 50000, PUBLIC, 80, SYN, 1, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &rules).unwrap();
    assert_eq!(addrs(&syn), (addr(INSIDE), addr(WEB)));
    assert_eq!(ports(&syn), (50000, 8080));
    let e = t.get(v.entry().unwrap(), now()).unwrap();
    assert!(
        e.status().contains(Status::SRC_NAT | Status::DST_NAT | Status::SRC_NAT_DONE | Status::DST_NAT_DONE)
    );
    assert_eq!(e.reply(), Tuple::with_ports(addr(WEB), 8080, addr(INSIDE), 50000, 6).unwrap());
    let mut synack = tcp(WEB, 8080, INSIDE, 50000, SYN | ACK, 9, 2, 65535, &[]);
    let r = pass(&mut t, &mut synack);
    assert_eq!((r.dir(), r.entry()), (Some(Direction::Reply), v.entry()));
    assert_eq!(addrs(&synack), (addr(PUBLIC), addr(SERVER)));
    assert_eq!(ports(&synack), (80, 50000));
    // The reply tuple the destination NAT alone gave is no longer the
    // connection's.
    let old = Tuple::with_ports(addr(WEB), 8080, addr(SERVER), 50000, 6).unwrap();
    assert!(t.lookup(&old, 0, now()).is_none());
}

#[test]
fn hairpin() {
    // A client reaches the public address of its own network's server:
    // destination NAT to the server, source NAT to the router's inside
    // address so that the answer comes back through the router.
    let mut t = table();
    let rules = [NatRule::dnat(addr(WEB)), NatRule::masquerade(addr(INSIDE))];
    let mut syn = tcp(CLIENT, 40000, PUBLIC, 80, SYN, 1, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &rules).unwrap();
    assert_eq!(addrs(&syn), (addr(INSIDE), addr(WEB)));
    let mut synack = tcp(WEB, 80, INSIDE, 40000, SYN | ACK, 9, 2, 65535, &[]);
    let r = pass(&mut t, &mut synack);
    assert_eq!(r.entry(), v.entry());
    assert_eq!(addrs(&synack), (addr(PUBLIC), addr(CLIENT)));
    assert_eq!(ports(&synack), (80, 40000));
}

#[test]
fn icmp_echo_identifier() {
    let mut t = table();
    let mut a = icmp(CLIENT, SERVER, 8, 0, 0x1234, b"ping");
    let va = open(&mut t, &mut a, &[snat()]).unwrap();
    assert_eq!(ports(&a).0, 0x1234);
    let mut b = icmp(CLIENT2, SERVER, 8, 0, 0x1234, b"ping");
    let vb = open(&mut t, &mut b, &[snat()]).unwrap();
    let id = ports(&b).0;
    assert_ne!(id, 0x1234, "the identifier is searched like a port");
    let mut reply = icmp(SERVER, PUBLIC, 0, 0, id, b"ping");
    let r = pass(&mut t, &mut reply);
    assert_eq!((r.dir(), r.entry()), (Some(Direction::Reply), vb.entry()));
    assert_eq!(addrs(&reply).1, addr(CLIENT2));
    assert_eq!(ports(&reply).0, 0x1234);
    let mut reply = icmp(SERVER, PUBLIC, 0, 0, 0x1234, b"ping");
    assert_eq!(pass(&mut t, &mut reply).entry(), va.entry());
    assert_eq!(addrs(&reply).1, addr(CLIENT));
    if !IPV6_TRACKED {
        return;
    }
    // ICMPv6 (NAT66).
    let mut p6 = icmp(CLIENT6, SERVER6, 128, 0, 7, b"ping6");
    let _ = open(&mut t, &mut p6, &[NatRule::snat(addr(PUBLIC6))]).unwrap();
    assert_eq!(addrs(&p6).0, addr(PUBLIC6));
    let mut r6 = icmp(SERVER6, PUBLIC6, 129, 0, 7, b"ping6");
    let _ = pass(&mut t, &mut r6);
    assert_eq!(addrs(&r6).1, addr(CLIENT6));
}

/// An ICMP error from `from` to `to` quoting `packet`.
fn error(from: &str, to: &str, six: bool, packet: &[u8]) -> Vec<u8> {
    if six { icmp(from, to, 1, 4, 0, packet) } else { icmp(from, to, 3, 3, 0, packet) }
}

/// With checksum verification off, an ICMP error with a wrong checksum is
/// classified RELATED but refused by the translation, of a translated
/// connection or not, as Linux's NAT refuses it
/// (`nf_nat_icmp_reply_translation()` checks the checksum first); a
/// length past the buffer is refused, never read.
#[test]
fn icmp_errors_with_a_wrong_checksum_are_refused_without_verification() {
    let mut config = Config::default();
    config.checksum = false;
    let mut t: FixedConnTable<256, 128> = ConnTable::new(HashKey([0x17; 16]), config);
    let mut out = udp(CLIENT, 40000, SERVER, 53, b"q");
    let _ = open(&mut t, &mut out, &[snat()]).unwrap();
    let mut plain = udp(CLIENT2, 40001, SERVER, 53, b"q");
    let v = t.track(now(), &plain);
    assert_eq!(t.translate(&v, &mut plain), Ok(false), "no NAT");
    for (sent, ours) in [(&out, true), (&plain, false)] {
        let to = if ours { PUBLIC } else { CLIENT2 };
        let good = error(SERVER, to, false, sent);
        let mut bad = good.clone();
        bad[22] ^= 0x55;
        let v = t.track(now(), &bad);
        assert_eq!(v.state(), Some(CtState::Related));
        let before = bad.clone();
        assert_eq!(t.translate(&v, &mut bad), Err(NatError::BadChecksum));
        assert_eq!(bad, before, "untouched");
        let mut buf = good.clone();
        let v = t.track(now(), &buf);
        assert_eq!(t.translate(&v, &mut buf), Ok(ours));
        let n = good.len();
        assert!(t.translate_in(&v, &mut buf[..n - 1], n).is_err() || !ours);
    }
}

/// An ICMP error about the translated `sent`, coming back to `to`: RELATED,
/// translated inside and out; the quote becomes `expected`.
fn error_comes_back<S: Storage>(
    t: &mut ConnTable<S>,
    from: &str,
    to: &str,
    sent: &[u8],
    expected: &[u8],
    dest: &str,
) {
    let six = sent[0] >> 4 == 6;
    let mut e = error(from, to, six, sent);
    let v = pass(t, &mut e);
    assert_eq!(v.state(), Some(CtState::Related));
    assert_eq!(addrs(&e).1, addr(dest));
    assert_eq!(quote(&e), expected, "the quote is the packet as the client sent it");
    assert!(checksums_ok(quote(&e)), "inner checksums");
}

#[test]
fn icmp_errors_quoting_translated_packets() {
    let mut t = table();
    // UDP over IPv4: the server's port unreachable.
    let sent = udp(CLIENT, 40000, SERVER, 53, b"query");
    let mut out = sent.clone();
    let _ = open(&mut t, &mut out, &[snat()]).unwrap();
    error_comes_back(&mut t, SERVER, PUBLIC, &out, &sent, CLIENT);
    // TCP over IPv4, from a router on the way (time exceeded).
    let sent = tcp(CLIENT, 40001, SERVER, 80, SYN, 1, 0, 65535, &[]);
    let mut out = sent.clone();
    let _ = open(&mut t, &mut out, &[snat()]).unwrap();
    let mut e = icmp(ROUTER, PUBLIC, 11, 0, 0, &out);
    let v = pass(&mut t, &mut e);
    assert_eq!(v.state(), Some(CtState::Related));
    assert_eq!(addrs(&e), (addr(ROUTER), addr(CLIENT)), "a router's error keeps its source");
    assert_eq!(quote(&e), &sent[..]);
    // An ICMP echo.
    let sent = icmp(CLIENT2, SERVER, 8, 0, 0x4321, b"ping");
    let mut out = sent.clone();
    let _ = open(&mut t, &mut out, &[snat()]).unwrap();
    error_comes_back(&mut t, ROUTER, PUBLIC, &out, &sent, CLIENT2);
    // Truncated quote (IP header and 8 bytes, RFC 792): translated too.
    let sent = udp(CLIENT2, 40002, SERVER, 53, b"a longer query");
    let mut out = sent.clone();
    let _ = open(&mut t, &mut out, &[snat()]).unwrap();
    let mut e = icmp(SERVER, PUBLIC, 3, 3, 0, &out[..28]);
    let v = pass(&mut t, &mut e);
    assert_eq!(v.state(), Some(CtState::Related));
    assert_eq!(quote(&e)[..20], sent[..20]);
    assert_eq!(ports(quote(&e)), (40002, 53));
    if !IPV6_TRACKED {
        return;
    }
    // UDP and TCP over IPv6 (NAT66).
    let sent = udp(CLIENT6, 40000, SERVER6, 53, b"query6");
    let mut out = sent.clone();
    let _ = open(&mut t, &mut out, &[NatRule::snat(addr(PUBLIC6))]).unwrap();
    error_comes_back(&mut t, SERVER6, PUBLIC6, &out, &sent, CLIENT6);
    let sent = tcp(CLIENT6, 40001, SERVER6, 443, SYN, 1, 0, 65535, &[]);
    let mut out = sent.clone();
    let _ = open(&mut t, &mut out, &[NatRule::snat(addr(PUBLIC6))]).unwrap();
    error_comes_back(&mut t, SERVER6, PUBLIC6, &out, &sent, CLIENT6);
    let sent = icmp(CLIENT6, SERVER6, 128, 0, 99, b"ping6");
    let mut out = sent.clone();
    let _ = open(&mut t, &mut out, &[NatRule::snat(addr(PUBLIC6))]).unwrap();
    error_comes_back(&mut t, SERVER6, PUBLIC6, &out, &sent, CLIENT6);
}

#[test]
fn icmp_error_about_dnat_from_the_inside() {
    // The server behind destination NAT refuses: the error's source is
    // translated to the public address the client knows, and the quote to
    // the packet the client sent.
    let mut t = table();
    let sent = udp(SERVER, 50000, PUBLIC, 53, b"q");
    let mut out = sent.clone();
    let _ = open(&mut t, &mut out, &[NatRule::dnat(addr(WEB))]).unwrap();
    let mut e = icmp(WEB, SERVER, 3, 3, 0, &out);
    let v = pass(&mut t, &mut e);
    assert_eq!(v.state(), Some(CtState::Related));
    assert_eq!(addrs(&e), (addr(PUBLIC), addr(SERVER)));
    assert_eq!(quote(&e), &sent[..]);
    // A redirect about a NATed connection is refused.
    let mut r = icmp(WEB, SERVER, 5, 1, 0, &out);
    let v = t.track(now(), &r);
    assert_eq!(v.state(), Some(CtState::Related));
    assert_eq!(t.translate(&v, &mut r), Err(NatError::Redirect));
}

#[test]
fn conntrack_list_shows_the_translated_reply() {
    let mut t = table();
    let mut syn = tcp(CLIENT, 40000, SERVER, 80, SYN, 1, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &[snat()]).unwrap();
    let line = t.get(v.entry().unwrap(), now()).unwrap().to_string();
    assert_eq!(
        line,
        "tcp      6 120 SYN_SENT src=10.0.0.5 dst=198.51.100.7 sport=40000 dport=80 [UNREPLIED] \
         src=198.51.100.7 dst=203.0.113.1 sport=80 dport=40000 mark=0 use=1"
    );
    let mut u = udp(SERVER, 50000, PUBLIC, 53, b"q");
    let rules = [NatRule::dnat(addr(WEB)).ports(5353, 5353), NatRule::snat(addr(INSIDE))];
    let v = open(&mut t, &mut u, &rules).unwrap();
    let line = t.get(v.entry().unwrap(), now()).unwrap().to_string();
    assert_eq!(
        line,
        "udp      17 30 src=198.51.100.7 dst=203.0.113.1 sport=50000 dport=53 [UNREPLIED] \
         src=10.0.0.8 dst=10.0.0.1 sport=5353 dport=50000 mark=0 use=1"
    );
}

#[test]
fn address_ranges() {
    let mut t = table();
    let lo = addr("203.0.113.10");
    let hi = addr("203.0.113.13");
    let rule = NatRule::snat_range(lo, hi);
    let mut used = std::collections::BTreeSet::new();
    for i in 0..32u8 {
        let client = format!("10.0.1.{i}");
        let mut p = udp(&client, 40000, SERVER, 53, b"x");
        let _ = open(&mut t, &mut p, &[rule]).unwrap();
        let a = addrs(&p).0;
        assert!(a >= lo && a <= hi, "{a}");
        used.insert(a);
        // The same client gets the same address again.
        let mut q = udp(&client, 40001, SERVER, 53, b"x");
        let _ = open(&mut t, &mut q, &[rule]).unwrap();
        assert_eq!(addrs(&q).0, a);
    }
    assert!(used.len() > 1, "a hash spreads clients over the range");
    // Persistent: the destination does not matter.
    let rule = rule.persistent();
    let mut p = udp(CLIENT, 1, "198.51.100.1", 53, b"x");
    let _ = open(&mut t, &mut p, &[rule]).unwrap();
    for i in 2..10 {
        let mut q = udp(CLIENT, 1, &format!("198.51.100.{i}"), 53, b"x");
        let _ = open(&mut t, &mut q, &[rule]).unwrap();
        assert_eq!(addrs(&q).0, addrs(&p).0);
    }
}

#[test]
fn the_reference_checker_sees_errors() {
    for mut p in [
        udp(CLIENT, 1, SERVER, 2, b"abc"),
        tcp(CLIENT6, 1, SERVER6, 2, SYN, 1, 0, 9, b"x"),
        icmp(CLIENT, SERVER, 8, 0, 1, b"ab"),
        icmp(CLIENT6, SERVER6, 128, 0, 1, b"ab"),
    ] {
        assert!(checksums_ok(&p));
        let last = p.len() - 1;
        p[last] ^= 0x40;
        assert!(!checksums_ok(&p));
    }
    let mut p = udp(CLIENT, 1, SERVER, 2, b"abc");
    p[13] ^= 1;
    assert!(!checksums_ok(&p), "IPv4 header");
}

#[test]
fn the_rst_that_ends_a_connection_is_translated() {
    let mut t = table();
    let mut syn = tcp(CLIENT, 40003, SERVER, 81, SYN, 1000, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &[snat()]).unwrap();
    // Connection refused: the RST ends the entry at once, and still goes
    // to the client.
    let mut rst = tcp(SERVER, 81, PUBLIC, 40003, RST | ACK, 0, 1001, 0, &[]);
    let r = pass(&mut t, &mut rst);
    assert_eq!((r.state(), r.dir(), r.entry()), (Some(CtState::Established), Some(Direction::Reply), None));
    assert_eq!(addrs(&rst), (addr(SERVER), addr(CLIENT)));
    assert_eq!(ports(&rst), (81, 40003));
    assert!(t.get(v.entry().unwrap(), now()).is_none(), "the entry is gone");
    let tuple = Tuple::with_ports(addr(SERVER), 81, addr(PUBLIC), 40003, 6).unwrap();
    assert!(t.lookup(&tuple, 0, now()).is_none());
    // A new connection of the same tuples is NEW.
    let syn2 = tcp(CLIENT, 40003, SERVER, 81, SYN, 5000, 0, 65535, &[]);
    let v2 = t.classify(now(), &syn2, Meta::default());
    assert_eq!(v2.state(), Some(CtState::New));
    t.discard(&v2);
}

#[test]
fn bindings_take_extension_slots() {
    // Two extension slots: two NATed connections; a third evicts one that
    // is not ASSURED (early drop's rule), or fails when all are.
    let mut t: FixedConnTable<64, 2> = ConnTable::new(HashKey([5; 16]), Config::default());
    for port in [40010, 40011] {
        let mut syn = tcp(CLIENT, port, SERVER, 80, SYN, 1, 0, 65535, &[]);
        let _ = open(&mut t, &mut syn, &[snat()]).unwrap();
        let mut synack = tcp(SERVER, 80, PUBLIC, port, SYN | ACK, 100, 2, 65535, &[]);
        let _ = pass(&mut t, &mut synack);
        let mut ack = tcp(CLIENT, port, SERVER, 80, ACK, 2, 101, 65535, &[]);
        let v = pass(&mut t, &mut ack);
        assert!(t.get(v.entry().unwrap(), now()).unwrap().status().contains(Status::ASSURED));
    }
    let mut u = udp(CLIENT, 40012, SERVER, 53, b"q");
    assert_eq!(open(&mut t, &mut u, &[snat()]).unwrap_err(), NatError::NoRoom);
    assert_eq!(t.len(), 2);
    // Without NAT, connections need no extension slot.
    let _ = t.track(now(), &u);
    assert_eq!(t.len(), 3);
}

#[test]
fn icmp_error_in_the_original_direction() {
    // The client refuses an answer: its error leaves through the source
    // NAT, from the public address, quoting the answer as the server sent
    // it.
    let mut t = table();
    let mut out = udp(CLIENT, 40000, SERVER, 53, b"q");
    let _ = open(&mut t, &mut out, &[snat()]).unwrap();
    let sent = udp(SERVER, 53, PUBLIC, 40000, b"answer");
    let mut back = sent.clone();
    let _ = pass(&mut t, &mut back);
    let mut e = icmp(CLIENT, SERVER, 3, 3, 0, &back);
    let v = pass(&mut t, &mut e);
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Original)));
    assert_eq!(addrs(&e), (addr(PUBLIC), addr(SERVER)));
    assert_eq!(quote(&e), &sent[..]);
}

/// The address of a range is Linux's pick (`find_best_ips_proto()`:
/// `jhash2()` of the addresses, no secret), whatever the table's key:
/// these are the kernel's answers in the NAT oracle
/// (`tests/data/nat-map/`).
#[test]
fn addresses_are_picked_as_linux_picks_them() {
    let picks = [
        ("10.0.0.5", "198.51.100.7", "203.0.113.1", "203.0.113.2", "203.0.113.2"),
        ("10.0.0.5", "198.51.100.8", "203.0.113.1", "203.0.113.2", "203.0.113.1"),
        ("fd00::5", "2001:db8:1::7", "2001:db8:ffff::1", "2001:db8:ffff::3", "2001:db8:ffff::2"),
    ];
    for key in [0x17, 0x99] {
        for (client, server, lo, hi, linux) in
            picks.into_iter().filter(|p| IPV6_TRACKED || !p.0.contains(':'))
        {
            let mut t: FixedConnTable<256, 128> = ConnTable::new(HashKey([key; 16]), Config::default());
            let mut p = udp(client, 40000, server, 53, b"x");
            let _ = open(&mut t, &mut p, &[NatRule::snat_range(addr(lo), addr(hi))]).unwrap();
            assert_eq!(addrs(&p).0, addr(linux), "{client} -> {server}");
        }
    }
}

#[test]
fn a_full_range_is_exhausted() {
    // 20 ports: all tried (fewer than the 128 attempts), all found, then
    // none.
    let mut t = table();
    let rule = snat().ports(3000, 3019);
    let mut ports_seen = std::collections::BTreeSet::new();
    for i in 0..20u8 {
        let mut p = udp(&format!("10.0.2.{i}"), 5000, SERVER, 53, b"x");
        let _ = open(&mut t, &mut p, &[rule]).unwrap();
        ports_seen.insert(ports(&p).0);
    }
    assert_eq!(ports_seen, (3000..=3019).collect());
    let mut p = udp("10.0.2.200", 5000, SERVER, 53, b"x");
    assert_eq!(open(&mut t, &mut p, &[rule]).unwrap_err(), NatError::NoFreeTuple);
    assert_eq!(t.len(), 20);
}

#[test]
#[cfg(not(feature = "ipv4-only"))] // IPv6 only
fn dnat66() {
    let mut t = table();
    let inner = "fd00::8";
    let mut syn = tcp(SERVER6, 50000, PUBLIC6, 443, SYN, 1, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &[NatRule::dnat(addr(inner)).ports(8443, 8443)]).unwrap();
    assert_eq!(addrs(&syn), (addr(SERVER6), addr(inner)));
    assert_eq!(ports(&syn), (50000, 8443));
    let mut synack = tcp(inner, 8443, SERVER6, 50000, SYN | ACK, 9, 2, 65535, &[]);
    let r = pass(&mut t, &mut synack);
    assert_eq!(r.entry(), v.entry());
    assert_eq!(addrs(&synack), (addr(PUBLIC6), addr(SERVER6)));
    assert_eq!(ports(&synack), (443, 50000));
}

#[test]
fn bindings_survive_snapshot_and_restore() {
    // Failover: the standby's table translates the connection the same way.
    let mut t = table();
    let rules = [NatRule::dnat(addr(WEB)).ports(8080, 8080), NatRule::snat(addr(INSIDE))];
    let mut syn = tcp(SERVER, 50000, PUBLIC, 80, SYN, 1, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &rules).unwrap();
    let line = t.get(v.entry().unwrap(), now()).unwrap().to_string();
    let mut bytes = Vec::new();
    let mut cursor = SnapshotCursor::new();
    loop {
        let mut buf = [0u8; 4096];
        let n = t.snapshot(now(), &mut cursor, &mut buf).unwrap();
        bytes.extend_from_slice(&buf[..n]);
        if cursor.is_done() {
            break;
        }
    }
    let mut standby = table();
    standby.restore(now(), &bytes).unwrap();
    let e = standby.entries(now()).next().unwrap();
    assert_eq!(e.to_string(), line);
    let mut synack = tcp(WEB, 8080, INSIDE, 50000, SYN | ACK, 9, 2, 65535, &[]);
    let r = pass(&mut standby, &mut synack);
    assert_eq!(r.dir(), Some(Direction::Reply));
    assert_eq!(addrs(&synack), (addr(PUBLIC), addr(SERVER)));
    assert_eq!(ports(&synack), (80, 50000));
}

#[test]
fn translated_sources_survive_snapshot_and_restore() {
    // The standby knows the translated source: a new connection of that
    // source gets the same translation there.
    let mut t = table();
    let rule = snat().ports(6000, 6099);
    let mut p = udp(CLIENT, 5060, SERVER, 5060, b"x");
    let _ = open(&mut t, &mut p, &[rule]).unwrap();
    let mapped = ports(&p).0;
    let mut buf = [0u8; 4096];
    let mut cursor = SnapshotCursor::new();
    let n = t.snapshot(now(), &mut cursor, &mut buf).unwrap();
    assert!(cursor.is_done());
    let mut standby: FixedConnTable<256, 128> = ConnTable::new(HashKey([0x18; 16]), Config::default());
    standby.restore(now(), &buf[..n]).unwrap();
    for port in [7000, 7001] {
        let mut p = udp(CLIENT, 5060, SERVER, port, b"x");
        let _ = open(&mut standby, &mut p, &[rule]).unwrap();
        assert_eq!(ports(&p).0, mapped);
    }
}

// ---------------------------------------------------------------------
// Helper NAT: what FTP, TFTP and SIP announce is rewritten, and the
// connections they expect follow the master's translation.

#[cfg(feature = "nat-helpers")]
/// A table with the helpers of the TUN firewall.
fn helped() -> FixedConnTable<256, 128> {
    let mut t = table();
    for name in ["ftp", "tftp", "sip"] {
        t.add_builtin_helper(helper::builtin(name).unwrap()).unwrap();
    }
    t
}

#[cfg(feature = "nat-helpers")]
/// Track a later packet and translate it with room to grow: the packet
/// as it leaves.
fn pass_in<S: Storage>(t: &mut ConnTable<S>, packet: &[u8]) -> (Verdict, Vec<u8>) {
    let mut v = t.classify(now(), packet, Meta::default());
    t.confirm(&mut v, packet).unwrap();
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + 128, 0);
    let n = t.translate_in(&v, &mut buf, packet.len()).unwrap();
    buf.truncate(n);
    assert!(checksums_ok(&buf), "valid after");
    (v, buf)
}

#[cfg(feature = "nat-helpers")]
/// The TCP sequence and acknowledgement numbers and the payload.
/// The peer's acknowledgement `segment` of a payload the translation
/// resized: tracked as ESTABLISHED, its acknowledgement number becomes
/// `taken_back` (the untranslated sender's sequence space).
#[cfg(feature = "nat-helpers")]
fn ack_taken_back<S: Storage>(t: &mut ConnTable<S>, segment: &[u8], taken_back: u32) {
    let (r, back) = pass_in(t, segment);
    assert_eq!((r.state(), r.reason()), (Some(CtState::Established), None));
    assert_eq!(tcp_parts(&back).1, taken_back);
}

/// The expected connection's first packet `syn`: RELATED, and translated
/// to the destination `to` (address, port).
#[cfg(feature = "nat-helpers")]
fn related_reaches<S: Storage>(t: &mut ConnTable<S>, syn: &[u8], to: (IpAddr, u16)) {
    let (r, out) = pass_in(t, syn);
    assert_eq!(r.state(), Some(CtState::Related));
    assert_eq!((addrs(&out).1, ports(&out).1), to);
}

#[cfg(feature = "nat-helpers")]
fn tcp_parts(p: &[u8]) -> (u32, u32, &[u8]) {
    let l4 = if p[0] >> 4 == 4 { usize::from(p[0] & 0x0f) * 4 } else { 40 };
    let w = |at: usize| u32::from_be_bytes([p[l4 + at], p[l4 + at + 1], p[l4 + at + 2], p[l4 + at + 3]]);
    let data = l4 + usize::from(p[l4 + 12] >> 4) * 4;
    (w(4), w(8), &p[data..])
}

#[cfg(feature = "nat-helpers")]
/// Active FTP through source NAT: the PORT command grows by three bytes
/// (`10,0,0,5` becomes `203,0,113,1`), every later segment's sequence
/// number moves by three and every acknowledgement back, a retransmitted
/// PORT is rewritten without moving them twice, and the server's data
/// connection to the public address reaches the client.
#[test]
fn ftp_port_rewritten_with_sequence_adjustment() {
    let mut t = helped();
    let mut syn = tcp(CLIENT, 40100, SERVER, 21, SYN, 990, 0, 65535, &[]);
    let v = open(&mut t, &mut syn, &[snat()]).unwrap();
    let (_, synack) = pass_in(&mut t, &tcp(SERVER, 21, PUBLIC, 40100, SYN | ACK, 5000, 991, 65535, &[]));
    assert_eq!(addrs(&synack).1, addr(CLIENT));
    let (_, banner) =
        pass_in(&mut t, &tcp(SERVER, 21, PUBLIC, 40100, ACK | PSH, 5001, 991, 65535, b"220 hi\r\n"));
    assert_eq!(tcp_parts(&banner).2, b"220 hi\r\n");

    // Linux reads a direction's commands once it has seen a line end there.
    let (_, user) =
        pass_in(&mut t, &tcp(CLIENT, 40100, SERVER, 21, ACK | PSH, 991, 5009, 65535, b"USER ftp\r\n"));
    assert_eq!(tcp_parts(&user).0, 991);
    let port = b"PORT 10,0,0,5,156,64\r\n";
    let cmd = tcp(CLIENT, 40100, SERVER, 21, ACK | PSH, 1001, 5009, 65535, port);
    let (r, out) = pass_in(&mut t, &cmd);
    assert_eq!(r.state(), Some(CtState::Established));
    assert_eq!(tcp_parts(&out), (1001, 5009, &b"PORT 203,0,113,1,156,64\r\n"[..]));
    assert_eq!(out.len(), cmd.len() + 3);
    let e = t.get(v.entry().unwrap(), now()).unwrap();
    assert!(e.status().contains(Status::SEQ_ADJUST));

    // The server acknowledges the longer command: accepted (the tracker
    // takes the offset off) and translated back into the client's space.
    let ok = tcp(SERVER, 21, PUBLIC, 40100, ACK | PSH, 5009, 1001 + 25, 65535, b"200 ok\r\n");
    let (r, back) = pass_in(&mut t, &ok);
    assert_eq!(r.state(), Some(CtState::Established));
    assert_eq!(r.reason(), None);
    assert_eq!(tcp_parts(&back).1, 1001 + 22);

    // A retransmitted PORT (its line start is still remembered):
    // rewritten again, without a second offset.
    let (_, again) = pass_in(&mut t, &cmd);
    assert_eq!(tcp_parts(&again), (1001, 5017 - 8, &b"PORT 203,0,113,1,156,64\r\n"[..]));

    // The next command moves by three.
    let list = tcp(CLIENT, 40100, SERVER, 21, ACK | PSH, 1023, 5017, 65535, b"LIST\r\n");
    let (_, out) = pass_in(&mut t, &list);
    assert_eq!(tcp_parts(&out).0, 1026);

    // The data connection: to the public address and the announced port,
    // RELATED, translated to the client.
    let (r, data) = pass_in(&mut t, &tcp(SERVER, 20, PUBLIC, 40000, SYN, 9000, 0, 65535, &[]));
    assert_eq!(r.state(), Some(CtState::Related));
    assert_eq!(addrs(&data), (addr(SERVER), addr(CLIENT)));
    assert_eq!(ports(&data), (20, 40000));
    // Its answer leaves with the public address.
    let (r, answer) = pass_in(&mut t, &tcp(CLIENT, 40000, SERVER, 20, SYN | ACK, 7000, 9001, 65535, &[]));
    assert_eq!(r.state(), Some(CtState::Established));
    assert_eq!((addrs(&answer), ports(&answer)), ((addr(PUBLIC), addr(SERVER)), (40000, 20)));
}

#[cfg(feature = "nat-helpers")]
/// A rewrite that shrinks (DNAT to a shorter address in a 227 reply) and
/// SACK blocks acknowledging the adjusted space.
#[test]
fn ftp_227_shrinks_and_sack_is_adjusted() {
    let mut t = helped();
    // The client talks to the public address; DNAT to the inside server.
    let mut syn = tcp(SERVER, 40200, PUBLIC, 21, SYN, 100, 0, 65535, &[]);
    let _ = open(&mut t, &mut syn, &[NatRule::dnat(addr(WEB))]).unwrap();
    let _ = pass_in(&mut t, &tcp(WEB, 21, SERVER, 40200, SYN | ACK, 7992, 101, 65535, &[]));
    let _ = pass_in(&mut t, &tcp(SERVER, 40200, PUBLIC, 21, ACK, 101, 7993, 65535, &[]));
    let _ = pass_in(&mut t, &tcp(WEB, 21, SERVER, 40200, ACK | PSH, 7993, 101, 65535, b"220 hi\r\n"));
    let reply = b"227 Entering Passive Mode (10,0,0,8,39,16).\r\n";
    let (_, out) = pass_in(&mut t, &tcp(WEB, 21, SERVER, 40200, ACK | PSH, 8001, 101, 65535, reply));
    assert_eq!(tcp_parts(&out).2, b"227 Entering Passive Mode (203,0,113,1,39,16).\r\n");
    // Longer by three: the client's ACK covers the longer reply.
    let ack = 8001 + reply.len() as u32 + 3;
    ack_taken_back(&mut t, &tcp(SERVER, 40200, PUBLIC, 21, ACK, 101, ack, 65535, &[]), ack - 3);
    // The data connection to the public address reaches the server.
    related_reaches(&mut t, &tcp(SERVER, 40201, PUBLIC, 10000, SYN, 300, 0, 65535, &[]), (addr(WEB), 10000));
}

#[cfg(feature = "nat-helpers")]
/// TFTP: the server answers from a new port to the public address; the
/// transfer follows the master to the client's own port.
#[test]
fn tftp_transfer_follows_the_master() {
    let mut t = helped();
    let mut rrq = udp(CLIENT, 3000, SERVER, 69, b"\x00\x01file\x00octet\x00");
    let _ = open(&mut t, &mut rrq, &[NatRule::snat(addr(PUBLIC)).ports(5000, 5000)]).unwrap();
    assert_eq!(ports(&rrq).0, 5000);
    let (r, data) = pass_in(&mut t, &udp(SERVER, 4000, PUBLIC, 5000, b"\x00\x03\x00\x01data"));
    assert_eq!(r.state(), Some(CtState::Related));
    assert_eq!((addrs(&data), ports(&data)), ((addr(SERVER), addr(CLIENT)), (4000, 3000)));
    let (r, ack) = pass_in(&mut t, &udp(CLIENT, 3000, SERVER, 4000, b"\x00\x04\x00\x01"));
    assert_eq!(r.state(), Some(CtState::Established));
    assert_eq!((addrs(&ack).0, ports(&ack).0), (addr(PUBLIC), 5000));
}

#[cfg(feature = "nat-helpers")]
fn invite(from: &str, to: &str, v6: bool) -> Vec<u8> {
    let ip = if v6 { "IP6" } else { "IP4" };
    let host = |a: &str| if v6 { format!("[{a}]") } else { a.to_string() };
    let sdp =
        format!("v=0\r\no=- 1 1 IN {ip} {from}\r\nc=IN {ip} {from}\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n");
    let msg = format!(
        "INVITE sip:bob@{to_h}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {from_h}:5060;branch=z9hG4bK1\r\n\
         From: <sip:alice@{from_h}:5060>;tag=1\r\nTo: <sip:bob@{to_h}:5060>\r\nCall-ID: 1@x\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{from_h}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
        to_h = host(to),
        from_h = host(from),
        len = sdp.len()
    );
    udp(from, 5060, to, 5060, msg.as_bytes())
}

#[cfg(feature = "nat-helpers")]
/// SIP over IPv4 and IPv6 through source NAT: Via, Contact, From and the
/// SDP's addresses name the public address, Content-Length follows, and
/// the media the server sends to the public address reach the client.
#[test]
fn sip_invite_and_media_translated_v4_and_v6() {
    let families = [(CLIENT, SERVER, PUBLIC, false), (CLIENT6, SERVER6, PUBLIC6, true)];
    for (client, server, public, v6) in families.into_iter().filter(|f| IPV6_TRACKED || !f.3) {
        let mut t = helped();
        let mut first = udp(client, 5060, server, 5060, b"OPTIONS");
        let _ = open(&mut t, &mut first, &[NatRule::snat(addr(public))]).unwrap();
        let (r, out) = pass_in(&mut t, &invite(client, server, v6));
        // Unanswered yet: still NEW, as Linux classifies it.
        assert_eq!(r.state(), Some(CtState::New));
        let l4 = if v6 { 48 } else { 28 };
        let text = String::from_utf8(out[l4..].to_vec()).unwrap();
        let host = if v6 { format!("[{public}]") } else { public.to_string() };
        assert!(text.contains(&format!("Via: SIP/2.0/UDP {host}:5060;")), "{text}");
        assert!(text.contains(&format!("Contact: <sip:alice@{host}:5060>")), "{text}");
        assert!(text.contains(&format!("From: <sip:alice@{host}:5060>")), "{text}");
        let ip = if v6 { "IP6" } else { "IP4" };
        assert!(text.contains(&format!("c=IN {ip} {public}\r\n")), "{text}");
        assert!(text.contains(&format!("o=- 1 1 IN {ip} {public}\r\n")), "{text}");
        assert!(!text.contains(client), "{text}");
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())), "{text}");

        // RTP from the server to the public address and the SDP's port.
        let (r, rtp) = pass_in(&mut t, &udp(server, 7000, public, 6000, b"rtp"));
        assert_eq!(r.state(), Some(CtState::Related));
        assert_eq!((addrs(&rtp), ports(&rtp)), ((addr(server), addr(client)), (7000, 6000)));
    }
}

#[cfg(feature = "nat-helpers")]
/// Many calls through source NAT offer media on the same port to the same
/// server: each gets the next free even port at the public address, past
/// any number of taken pairs (Linux tries every even port up:
/// `nf_nat_sip.c: nf_nat_sdp_media()`).
#[test]
fn sip_media_pairs_are_found_past_many_taken_ones() {
    let mut t: FixedConnTable<512, 256, 256> = ConnTable::new(HashKey([0x17; 16]), Config::default());
    t.add_builtin_helper(helper::builtin("sip").unwrap()).unwrap();
    for i in 0..70u16 {
        let client = format!("10.0.1.{}", i + 1);
        let mut first = udp(&client, 5060, SERVER, 5060, b"OPTIONS");
        let _ = open(&mut t, &mut first, &[NatRule::snat(addr(PUBLIC))]).unwrap();
        let (r, out) = pass_in(&mut t, &invite(&client, SERVER, false));
        assert!(!r.must_drop(), "call {i}");
        let port = 6000 + 2 * i;
        assert!(udp_text(&out).contains(&format!("m=audio {port} RTP/AVP 0\r\n")), "call {i}");
        // The server's media to that port reach this call's client.
        let (r, rtp) = pass_in(&mut t, &udp(SERVER, 7000, PUBLIC, port, b"rtp"));
        assert_eq!(r.state(), Some(CtState::Related));
        assert_eq!((addrs(&rtp).1, ports(&rtp).1), (addr(&client), 6000));
    }
}

#[cfg(feature = "nat-helpers")]
/// The payload of a translated UDP packet, as text.
fn udp_text(p: &[u8]) -> String {
    let l4 = if p[0] >> 4 == 6 { 48 } else { 28 };
    String::from_utf8(p[l4..].to_vec()).unwrap()
}

#[cfg(feature = "nat-helpers")]
/// The topmost Via through source NAT with a port of its own: on the
/// request, its address and port and its `maddr=` become the public ones;
/// on the answer, its address and port and the server's `received=` and
/// `rport=` (RFC 3581) become the client's own again. A Via of another
/// hop, and on the request a Via that names the server, are left alone.
#[test]
fn sip_via_and_its_parameters_translated_v4_and_v6() {
    let families = [(CLIENT, SERVER, PUBLIC, false), (CLIENT6, SERVER6, PUBLIC6, true)];
    for (client, server, public, v6) in families.into_iter().filter(|f| IPV6_TRACKED || !f.3) {
        let h = |a: &str| if v6 { format!("[{a}]") } else { a.to_string() };
        let mut t = helped();
        let mut first = udp(client, 5060, server, 5060, b"OPTIONS");
        let _ = open(&mut t, &mut first, &[NatRule::snat(addr(public)).ports(6000, 6000)]).unwrap();
        let request = format!(
            "OPTIONS sip:{s}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {c}:5060;rport;maddr={c};branch=z9hG4bK1\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            s = h(server),
            c = h(client)
        );
        let (_, out) = pass_in(&mut t, &udp(client, 5060, server, 5060, request.as_bytes()));
        let text = udp_text(&out);
        assert!(
            text.contains(&format!("Via: SIP/2.0/UDP {p}:6000;rport;maddr={p};branch", p = h(public))),
            "{text}"
        );

        // The answer names the public end, as the server saw it; an IPv6
        // `received=` in brackets (the kernel reads it with or without) is
        // written back without.
        let answer = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {p}:6000;received={r};rport=6000;branch=z9hG4bK1\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            p = h(public),
            r = h(public)
        );
        let (r, back) = pass_in(&mut t, &udp(server, 5060, public, 6000, answer.as_bytes()));
        assert_eq!(r.state(), Some(CtState::Established));
        let text = udp_text(&back);
        let want = format!("Via: SIP/2.0/UDP {c}:5060;received={client};rport=5060;branch", c = h(client));
        assert!(text.contains(&want), "{text}");

        // A Via of another hop on top: nothing in it changes.
        let other = if v6 { "2001:db8:9::9" } else { "192.0.2.99" };
        let relayed = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {o}:5060;received={public};rport=6000\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            o = h(other)
        );
        let (_, back) = pass_in(&mut t, &udp(server, 5060, public, 6000, relayed.as_bytes()));
        assert_eq!(udp_text(&back), relayed);

        // On a request, a Via naming the server is not this end's.
        let odd = format!(
            "OPTIONS sip:{s}:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {s}:5060;maddr={c}\r\n\
             CSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            s = h(server),
            c = h(client)
        );
        let (_, out) = pass_in(&mut t, &udp(client, 5060, server, 5060, odd.as_bytes()));
        assert!(udp_text(&out).contains(&format!(
            "Via: SIP/2.0/UDP {}:5060;maddr={}\r\n",
            h(server),
            h(client)
        )));
    }
}

#[cfg(feature = "nat-helpers")]
/// A phone that sends from a high port but names 5060 in its Via (the
/// "forced" port of `nf_nat_sip()`): the server's answers, and later
/// requests, to the public end reach the phone on 5060, and a header
/// naming the public end names the phone's 5060 too.
#[test]
fn sip_answers_reach_the_port_the_via_named() {
    let mut t = helped();
    let mut first = udp(CLIENT, 40000, SERVER, 5060, b"OPTIONS");
    let _ = open(&mut t, &mut first, &[NatRule::snat(addr(PUBLIC)).ports(6000, 6000)]).unwrap();
    let request = format!(
        "REGISTER sip:{SERVER} SIP/2.0\r\nVia: SIP/2.0/UDP {CLIENT}:5060;branch=z9hG4bK1\r\n\
         CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    );
    let (_, out) = pass_in(&mut t, &udp(CLIENT, 40000, SERVER, 5060, request.as_bytes()));
    // The Via names another port than the packet's source: not this end's,
    // left alone.
    assert!(udp_text(&out).contains(&format!("Via: SIP/2.0/UDP {CLIENT}:5060;")));
    let answer = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {CLIENT}:5060;branch=z9hG4bK1\r\n\
         Contact: <sip:{PUBLIC}:6000>\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    );
    let (r, back) = pass_in(&mut t, &udp(SERVER, 5060, PUBLIC, 6000, answer.as_bytes()));
    assert_eq!(r.state(), Some(CtState::Established));
    assert_eq!((addrs(&back), ports(&back)), ((addr(SERVER), addr(CLIENT)), (5060, 5060)));
    assert!(udp_text(&back).contains(&format!("Contact: <sip:{CLIENT}:5060>")), "{}", udp_text(&back));
    // A packet without SIP in it is translated as the connection says.
    let (_, plain) = pass_in(&mut t, &udp(SERVER, 5060, PUBLIC, 6000, b"\r\n"));
    assert_eq!(ports(&plain), (5060, 40000));
}

#[cfg(feature = "nat-helpers")]
/// A rewrite that shrinks, twice, across several segments, with a
/// retransmission, and a failover in the middle: the standby goes on with
/// the same sequence adjustment (the snapshot carries it).
#[test]
fn ftp_port_shrinks_across_segments_and_failover() {
    const LONG: &str = "10.100.200.250";
    const SHORT: &str = "1.2.3.4";
    let mut t = helped();
    let mut syn = tcp(LONG, 40300, SERVER, 21, SYN, 990, 0, 65535, &[]);
    let _ = open(&mut t, &mut syn, &[NatRule::snat(addr(SHORT))]).unwrap();
    let c = |seq: u32, ack: u32, data: &[u8]| tcp(LONG, 40300, SERVER, 21, ACK | PSH, seq, ack, 65535, data);
    let s = |seq: u32, ack: u32, data: &[u8]| tcp(SERVER, 21, SHORT, 40300, ACK | PSH, seq, ack, 65535, data);
    let _ = pass_in(&mut t, &tcp(SERVER, 21, SHORT, 40300, SYN | ACK, 5000, 991, 65535, &[]));
    let _ = pass_in(&mut t, &s(5001, 991, b"220 hi\r\n"));
    let _ = pass_in(&mut t, &c(991, 5009, b"USER ftp\r\n"));

    // 28 bytes become 21.
    let (_, out) = pass_in(&mut t, &c(1001, 5009, b"PORT 10,100,200,250,156,65\r\n"));
    assert_eq!(tcp_parts(&out), (1001, 5009, &b"PORT 1,2,3,4,156,65\r\n"[..]));
    let (r, back) = pass_in(&mut t, &s(5009, 1022, b"200 ok\r\n"));
    assert_eq!((r.state(), r.reason()), (Some(CtState::Established), None));
    assert_eq!(tcp_parts(&back).1, 1029);

    // The second PORT leaves 7 bytes earlier and shrinks by 7 more.
    let second = c(1029, 5017, b"PORT 10,100,200,250,156,66\r\n");
    let (_, out) = pass_in(&mut t, &second);
    assert_eq!(tcp_parts(&out), (1022, 5017, &b"PORT 1,2,3,4,156,66\r\n"[..]));
    // Retransmitted: the same rewrite, no third offset.
    let (_, out) = pass_in(&mut t, &second);
    assert_eq!(tcp_parts(&out), (1022, 5017, &b"PORT 1,2,3,4,156,66\r\n"[..]));

    // Failover.
    let mut bytes = Vec::new();
    let mut cursor = SnapshotCursor::new();
    while !cursor.is_done() {
        let mut buf = [0u8; 4096];
        let n = t.snapshot(now(), &mut cursor, &mut buf).unwrap();
        bytes.extend_from_slice(&buf[..n]);
    }
    let mut standby = helped();
    standby.restore(now(), &bytes).unwrap();
    let (r, back) = pass_in(&mut standby, &s(5017, 1043, b"200 ok\r\n"));
    assert_eq!((r.state(), r.reason()), (Some(CtState::Established), None));
    assert_eq!(tcp_parts(&back).1, 1057);
    let (_, out) = pass_in(&mut standby, &c(1057, 5025, b"LIST\r\n"));
    assert_eq!(tcp_parts(&out).0, 1043);

    // The data connection of the second PORT reaches the client (FTP
    // expects one connection per master: the second replaced the first).
    let (r, data) = pass_in(&mut standby, &tcp(SERVER, 20, SHORT, 40002, SYN, 9000, 0, 65535, &[]));
    assert_eq!(r.state(), Some(CtState::Related));
    assert_eq!((addrs(&data).1, ports(&data).1), (addr(LONG), 40002));
    let v =
        standby.classify(now(), &tcp(SERVER, 20, SHORT, 40001, SYN, 9000, 0, 65535, &[]), Meta::default());
    assert_eq!(v.state(), Some(CtState::New));
    standby.discard(&v);
}

/// IRC: a DCC offer names the client's public address (as a decimal
/// number, one digit longer here) and the offered port; the peer's
/// connection to them reaches the client.
#[cfg(feature = "nat-helpers")]
#[test]
fn irc_dcc_offer_translated() {
    let mut t = table();
    t.add_builtin_helper(helper::builtin("irc").unwrap()).unwrap();
    let mut syn = tcp(CLIENT, 40400, SERVER, 6667, SYN, 100, 0, 65535, &[]);
    let _ = open(&mut t, &mut syn, &[snat()]).unwrap();
    let _ = pass_in(&mut t, &tcp(SERVER, 6667, PUBLIC, 40400, SYN | ACK, 700, 101, 65535, &[]));
    let _ = pass_in(&mut t, &tcp(CLIENT, 40400, SERVER, 6667, ACK, 101, 701, 65535, &[]));
    // 10.0.0.5 is 167772165; 203.0.113.1 is 3405803777.
    let offer = b"PRIVMSG bob :\x01DCC SEND file 167772165 5000\x01\r\n";
    let (r, out) = pass_in(&mut t, &tcp(CLIENT, 40400, SERVER, 6667, ACK | PSH, 101, 701, 65535, offer));
    assert_eq!(r.reason(), None);
    assert_eq!(tcp_parts(&out).2, b"PRIVMSG bob :\x01DCC SEND file 3405803777 5000\x01\r\n");
    // One byte longer: the server's acknowledgement is taken back.
    let ack = 101 + offer.len() as u32 + 1;
    ack_taken_back(&mut t, &tcp(SERVER, 6667, PUBLIC, 40400, ACK, 701, ack, 65535, &[]), ack - 1);
    related_reaches(&mut t, &tcp(SERVER2, 41000, PUBLIC, 5000, SYN, 1, 0, 65535, &[]), (addr(CLIENT), 5000));
}

/// Amanda behind destination NAT: the client's reply announces its ports
/// (kept: free), and the backup server's connections to the public
/// address reach the client.
#[cfg(feature = "nat-helpers")]
#[test]
fn amanda_connections_follow_the_master() {
    let mut t = table();
    t.add_builtin_helper(helper::builtin("amanda").unwrap()).unwrap();
    let mut req = udp(SERVER, 850, PUBLIC, 10080, b"Amanda 2.4 REQ HANDLE 000-1 SEQ 1\n");
    let _ = open(&mut t, &mut req, &[NatRule::dnat(addr(WEB))]).unwrap();
    assert_eq!(addrs(&req).1, addr(WEB));
    let reply = b"Amanda 2.4 REP HANDLE 000-1 SEQ 1\nCONNECT DATA 50000 MESG 50001 INDEX 50002\n";
    let (r, out) = pass_in(&mut t, &udp(WEB, 10080, SERVER, 850, reply));
    assert_eq!((r.state(), r.reason()), (Some(CtState::Established), None));
    assert_eq!(&out[28..], reply, "free ports are kept");
    assert_eq!(addrs(&out).0, addr(PUBLIC));
    for port in [50000, 50001, 50002] {
        let (r, data) = pass_in(&mut t, &tcp(SERVER, 900, PUBLIC, port, SYN, 1, 0, 65535, &[]));
        assert_eq!(r.state(), Some(CtState::Related));
        assert_eq!((addrs(&data).1, ports(&data).1), (addr(WEB), port));
    }
}

/// A heap table holds as many NAT bindings as it has extension slots, past
/// the 32,767 a 15-bit link once named: 40,000 connections from one client
/// get source NAT (each keeps its port), and the answer to each, to the
/// public address, is found and translated back. Their bindings are then
/// freed and taken again by as many new connections.
#[cfg(feature = "alloc")]
#[test]
fn forty_thousand_nat_bindings() {
    const N: u16 = 40_000;
    let mut t =
        ConnTable::with_capacities(65_536, usize::from(N), 16, HashKey([0x29; 16]), Config::default());
    let rules = [snat()];
    let mut entries = Vec::new();
    for k in 0..N {
        let mut out = udp(CLIENT, 1024 + k, SERVER, 53, b"q");
        let v = open(&mut t, &mut out, &rules).unwrap_or_else(|e| panic!("connection {k}: {e:?}"));
        assert_eq!((addrs(&out).0, ports(&out).0), (addr(PUBLIC), 1024 + k), "connection {k}");
        entries.push(v.entry());
    }
    assert_eq!(t.len(), usize::from(N));
    for k in (0..N).rev() {
        let mut back = udp(SERVER, 53, PUBLIC, 1024 + k, b"a");
        let r = pass(&mut t, &mut back);
        assert_eq!((r.dir(), r.entry()), (Some(Direction::Reply), entries[usize::from(k)]), "answer {k}");
        assert_eq!((addrs(&back).1, ports(&back).1), (addr(CLIENT), 1024 + k), "answer {k}");
    }
    // Deleted one by one, their slots taken again by as many other
    // connections.
    assert_eq!(t.delete_where(now(), |_| true), usize::from(N));
    for k in 0..N {
        let mut out = udp(CLIENT2, 1024 + k, SERVER, 53, b"q");
        let _ = open(&mut t, &mut out, &rules).unwrap_or_else(|e| panic!("connection {k} again: {e:?}"));
        assert_eq!(addrs(&out).0, addr(PUBLIC));
    }
}

// ---------------------------------------------------------------------
// SNMP (`nf_nat_snmp_basic`): addresses in the messages' values.

/// An SNMP v2c message (community "public") with PDU tag `pdu` and one
/// VarBind per value (each value's bytes as given).
#[cfg(all(feature = "nat-helpers", feature = "helper-snmp"))]
fn snmp(pdu: u8, values: &[&[u8]]) -> Vec<u8> {
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, body.len() as u8];
        v.extend_from_slice(body);
        v
    }
    let mut vbs = Vec::new();
    for v in values {
        let mut vb = tlv(6, &[0x2b, 6, 1, 2, 1, 4, 20, 1, 1]);
        vb.extend_from_slice(v);
        vbs.extend(tlv(0x30, &vb));
    }
    let mut p = vec![2, 1, 7, 2, 1, 0, 2, 1, 0];
    p.extend(tlv(0x30, &vbs));
    let mut m = vec![2, 1, 1];
    m.extend(tlv(4, b"public"));
    m.extend(tlv(pdu, &p));
    tlv(0x30, &m)
}

#[cfg(all(feature = "nat-helpers", feature = "helper-snmp"))]
#[test]
fn snmp_addresses_follow_the_translation() {
    let mut t = table();
    t.add_builtin_helper(helper::builtin("snmp").unwrap()).unwrap();
    let inside: &[u8] = &[0x40, 4, 10, 0, 0, 5];
    // The manager behind source NAT sets an address: its own becomes the
    // public one; another address and the same bytes in a string stay.
    let msg = snmp(0xa3, &[inside, &[0x40, 4, 198, 51, 100, 7], &[4, 4, 10, 0, 0, 5]]);
    let mut out = udp(CLIENT, 40000, SERVER, 161, &msg);
    let v = open(&mut t, &mut out, &[snat()]).unwrap();
    let mut want = msg.clone();
    let at = msg.windows(6).position(|w| w == inside).unwrap();
    want[at + 2..at + 6].copy_from_slice(&[203, 0, 113, 1]);
    assert_eq!(&out[28..], &want[..]);
    // The agent's answer: in the reply direction too, the inside address
    // becomes the public one (`snmp_translate()` maps the original
    // source to the reply destination either way).
    let answer = snmp(0xa2, &[inside, &[0x40, 4, 203, 0, 113, 1]]);
    let mut back = udp(SERVER, 161, PUBLIC, 40000, &answer);
    assert_eq!(pass(&mut t, &mut back).entry(), v.entry());
    assert_eq!(addrs(&back), (addr(SERVER), addr(CLIENT)));
    let mut want = answer.clone();
    let at = answer.windows(6).position(|w| w == inside).unwrap();
    want[at + 2..at + 6].copy_from_slice(&[203, 0, 113, 1]);
    assert_eq!(&back[28..], &want[..]);
}

#[cfg(all(feature = "nat-helpers", feature = "helper-snmp"))]
#[test]
fn snmp_messages_the_decoder_refuses_are_dropped() {
    let mut t = table();
    t.add_builtin_helper(helper::builtin("snmp").unwrap()).unwrap();
    t.add_builtin_helper(helper::builtin("snmp_trap").unwrap()).unwrap();
    // A v1 trap ([4]) through a translated connection of the trap helper:
    // not in the kernel's grammar, dropped.
    let mut trap = snmp(0xa4, &[&[0x40, 4, 10, 0, 0, 5]]);
    trap[4] = 0;
    let packet = udp(CLIENT, 40001, SERVER, 162, &trap);
    let mut v = t.classify(now(), &packet, Meta::default());
    t.nat(&v, &snat()).unwrap();
    assert!(matches!(t.confirm(&mut v, &packet), Err(DropReason::Helper(_))));
    // Without NAT the helper has nothing to do: it passes.
    let packet = udp(CLIENT, 40002, SERVER, 162, &trap);
    let mut v = t.classify(now(), &packet, Meta::default());
    assert!(t.confirm(&mut v, &packet).is_ok());
    // A datagram shorter than its IP payload (a byte after the UDP
    // length): "dropping malformed packet". (With checksums verified it
    // is INVALID before: Linux sums the whole IP payload,
    // `nf_ip_checksum()`.)
    let mut config = Config::default();
    config.checksum = false;
    let mut t: FixedConnTable<256, 128> = ConnTable::new(HashKey([0x17; 16]), config);
    t.add_builtin_helper(helper::builtin("snmp").unwrap()).unwrap();
    let mut out = udp(CLIENT, 40000, SERVER, 161, &snmp(0xa0, &[&[5, 0]]));
    let n = out.len() as u16 + 1;
    out.push(0);
    out[2..4].copy_from_slice(&n.to_be_bytes());
    out[10..12].copy_from_slice(&[0, 0]);
    let sum = !(ones_sum(&out[..20]) as u16);
    out[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut v = t.classify(now(), &out, Meta::default());
    assert_eq!(v.state(), Some(CtState::New));
    t.nat(&v, &snat()).unwrap();
    assert!(
        matches!(t.confirm(&mut v, &out), Err(DropReason::Helper(d)) if d.to_string() == "dropping malformed packet")
    );
}

/// A PPTP control message (RFC 2637 section 2): type `kind`, a body of
/// `len` bytes with `fields` (offset, bytes) set.
#[cfg(all(feature = "nat-helpers", feature = "helper-pptp"))]
fn pptp(kind: u16, len: usize, fields: &[(usize, &[u8])]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((12 + len) as u16).to_be_bytes());
    m.extend_from_slice(&[0, 1, 0x1a, 0x2b, 0x3c, 0x4d]);
    m.extend_from_slice(&kind.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    let mut body = vec![0u8; len];
    for (at, b) in fields {
        body[*at..*at + b.len()].copy_from_slice(b);
    }
    m.extend(body);
    m
}

/// An enhanced GRE (version 1) packet with call id `call_id`.
#[cfg(all(feature = "nat-helpers", feature = "helper-pptp"))]
fn gre1(src: &str, dst: &str, call_id: u16) -> Vec<u8> {
    let mut g = vec![0x20, 0x01, 0x88, 0x0b, 0, 3];
    g.extend_from_slice(&call_id.to_be_bytes());
    g.extend_from_slice(b"ppp");
    ip_packet(addr(src), addr(dst), 47, &g, 64)
}

#[cfg(all(feature = "nat-helpers", feature = "helper-pptp"))]
#[test]
fn pptp_call_ids_and_gre_keys_follow_the_translation() {
    let mut t = table();
    t.add_builtin_helper(helper::builtin("pptp").unwrap()).unwrap();
    let call_id = |p: &[u8]| u16::from_be_bytes([p[52], p[53]]);
    let mut syn = tcp(CLIENT, 40100, SERVER, 1723, SYN, 1000, 0, 65535, &[]);
    let ctrl = open(&mut t, &mut syn, &[snat().ports(6000, 6000)]).unwrap();
    let _ = pass(&mut t, &mut tcp(SERVER, 1723, PUBLIC, 6000, SYN | ACK, 5000, 1001, 65535, &[]));
    let (mut c, mut s) = (1001u32, 5001u32);
    let from_client = |t: &mut FixedConnTable<256, 128>, m: &[u8], c: &mut u32, s: u32| {
        let mut p = tcp(CLIENT, 40100, SERVER, 1723, ACK | PSH, *c, s, 65535, m);
        let _ = pass(t, &mut p);
        *c += m.len() as u32;
        p
    };
    from_client(&mut t, &pptp(1, 144, &[]), &mut c, s);
    let mut start = tcp(SERVER, 1723, PUBLIC, 6000, ACK | PSH, s, c, 65535, &pptp(2, 144, &[(2, &[1])]));
    let _ = pass(&mut t, &mut start);
    s += 156;
    // The PNS's call id 0x1234 becomes the public port, 6000 (Linux has
    // no call id allocator); the checksums hold (`pass` checks them).
    let out = from_client(&mut t, &pptp(7, 156, &[(0, &[0x12, 0x34])]), &mut c, s);
    assert_eq!(call_id(&out), 6000);
    // The PAC's reply names 6000; the PNS sees its own id.
    let reply = pptp(8, 20, &[(0, &[0x07, 0x77]), (2, &6000u16.to_be_bytes()), (4, &[1])]);
    let mut back = tcp(SERVER, 1723, PUBLIC, 6000, ACK | PSH, s, c, 65535, &reply);
    let _ = pass(&mut t, &mut back);
    assert_eq!(u16::from_be_bytes([back[54], back[55]]), 0x1234);
    assert_eq!(call_id(&back), 0x0777, "the PAC's own call id is kept");

    // A standby that restores the table's snapshot now has the call's
    // expectations, their translation and the key map: the PAC's first
    // GRE packet reaches the client there with the PNS's own call id.
    let mut buf = [0u8; 4096];
    let mut cursor = SnapshotCursor::new();
    let n = t.snapshot(now(), &mut cursor, &mut buf).unwrap();
    assert!(cursor.is_done());
    let mut standby: FixedConnTable<256, 128> = ConnTable::new(HashKey([0x18; 16]), Config::default());
    standby.add_builtin_helper(helper::builtin("pptp").unwrap()).unwrap();
    standby.restore(now(), &buf[..n]).unwrap();
    let mut g = gre1(SERVER, PUBLIC, 6000);
    assert_eq!(pass(&mut standby, &mut g).state(), Some(CtState::Related));
    assert_eq!((addrs(&g).1, u16::from_be_bytes([g[26], g[27]])), (addr(CLIENT), 0x1234));

    // The call's GRE: the client's packets leave from the public address
    // with the PAC's call id; the PAC's, to the public address with call
    // id 6000, reach the client with 0x1234.
    let mut g = gre1(CLIENT, SERVER, 0x0777);
    let v = pass(&mut t, &mut g);
    assert_eq!(v.state(), Some(CtState::Related));
    assert_eq!(addrs(&g), (addr(PUBLIC), addr(SERVER)));
    assert_eq!(u16::from_be_bytes([g[26], g[27]]), 0x0777);
    let mut g = gre1(SERVER, PUBLIC, 6000);
    let r = pass(&mut t, &mut g);
    assert_eq!(
        (r.state(), r.dir(), r.entry()),
        (Some(CtState::Established), Some(Direction::Reply), v.entry())
    );
    assert_eq!(addrs(&g), (addr(SERVER), addr(CLIENT)));
    assert_eq!(u16::from_be_bytes([g[26], g[27]]), 0x1234);
    let gre_conn = t.get(v.entry().unwrap(), now()).unwrap();
    assert_eq!(gre_conn.orig().l4(), L4::Gre { srckey: 0x1234, dstkey: 0x0777 });
    assert_eq!(gre_conn.reply().l4(), L4::Gre { srckey: 0x0777, dstkey: 6000 });
    assert_eq!(gre_conn.reply().dst(), addr(PUBLIC));

    // The PAC ends the call: its Call-Disconnect-Notify names its own id,
    // where Linux writes the PNS's; the call's GRE connection goes.
    let end = pptp(13, 136, &[(0, &[0x07, 0x77])]);
    let mut back = tcp(SERVER, 1723, PUBLIC, 6000, ACK | PSH, s + 32, c, 65535, &end);
    let _ = pass(&mut t, &mut back);
    assert_eq!(call_id(&back), 0x1234);
    assert!(t.get(v.entry().unwrap(), now()).is_none(), "the GRE connection is gone");
    assert!(t.get(ctrl.entry().unwrap(), now()).is_some());
    let late = gre1(SERVER, PUBLIC, 6000);
    assert_eq!(t.track(now(), &late).state(), Some(CtState::New));
}

// ---------------------------------------------------------------------
// Insert races under NAT (`nf_conntrack_core.c: nf_ct_resolve_clash()`,
// `nf_ct_resolve_clash_harder()`): two packets of one new UDP flow
// classified before either is confirmed (as two CPUs take them in Linux),
// each sent by destination NAT to another backend.

const BACKEND2: &str = "10.0.0.9";

/// Two queries from one socket to the service address, classified
/// before either is confirmed, each given its own backend: the verdicts,
/// not yet confirmed.
fn race<S: Storage>(t: &mut ConnTable<S>, first: &[u8], second: &[u8]) -> (Verdict, Verdict) {
    let (a, b) = both_new(t, first, second);
    t.nat(&a, &NatRule::dnat(addr(WEB))).unwrap();
    t.nat(&b, &NatRule::dnat(addr(BACKEND2))).unwrap();
    (a, b)
}

/// Two packets of one flow classified before either is confirmed: both
/// NEW, each with an entry of its own (an unconfirmed entry is found by no
/// lookup).
fn both_new<S: Storage>(t: &mut ConnTable<S>, first: &[u8], second: &[u8]) -> (Verdict, Verdict) {
    let a = t.classify(now(), first, Meta::default());
    let b = t.classify(now(), second, Meta::default());
    assert_eq!((a.state(), b.state()), (Some(CtState::New), Some(CtState::New)));
    assert_ne!(a.entry(), b.entry());
    (a, b)
}

#[test]
fn the_loser_of_a_race_that_nat_sent_elsewhere_lives_a_second_under_its_reply_tuple() {
    let mut t = table();
    let mut q1 = udp(CLIENT, 40000, PUBLIC, 53, b"A?");
    let mut q2 = udp(CLIENT, 40000, PUBLIC, 53, b"AAAA?");
    let (mut a, mut b) = race(&mut t, &q1, &q2);
    t.confirm(&mut a, &q1).unwrap();
    t.translate(&a, &mut q1).unwrap();
    assert_eq!(addrs(&q1), (addr(CLIENT), addr(WEB)));
    // The second one's original tuple is the first one's: it stays, its
    // packet passes to its own backend.
    t.confirm(&mut b, &q2).unwrap();
    let loser = b.entry().expect("kept");
    assert_ne!(Some(loser), a.entry());
    t.translate(&b, &mut q2).unwrap();
    assert_eq!(addrs(&q2), (addr(CLIENT), addr(BACKEND2)));
    assert!(checksums_ok(&q2));
    let s = t.stats();
    assert_eq!((s.clash_resolve, s.insert_failed, s.drop), (1, 0, 0));
    let e = t.get(loser, now()).unwrap();
    assert!(e.status().contains(Status::NAT_CLASH | Status::FIXED_TIMEOUT | Status::CONFIRMED));
    assert_eq!(e.timeout(), 1);
    // Not listed (`conntrack -L`), not deleted by a filter, not in a
    // snapshot; found by its reply tuple.
    assert_eq!(t.entries(now()).map(|e| e.handle()).collect::<Vec<_>>(), vec![a.entry().unwrap()]);
    assert_eq!(t.delete_where(now(), |e| e.handle() == loser), 0);
    let mut cursor = SnapshotCursor::new();
    let mut buf = vec![0u8; 4096];
    let n = t.snapshot(now(), &mut cursor, &mut buf).unwrap();
    let mut copy = table();
    assert_eq!(copy.restore(now(), &buf[..n]), Ok(1));

    // Each backend's answer goes back through its own entry, from the
    // service address.
    let mut r2 = udp(BACKEND2, 53, CLIENT, 40000, b"AAAA");
    let v = pass(&mut t, &mut r2);
    assert_eq!(
        (v.state(), v.dir(), v.entry()),
        (Some(CtState::Established), Some(Direction::Reply), Some(loser))
    );
    assert_eq!(addrs(&r2), (addr(PUBLIC), addr(CLIENT)));
    the_winner_keeps_the_flow(&mut t, a.entry());
    // Packets do not keep the loser: a second after its creation it is
    // gone, and a late answer from its backend is a new flow.
    let later = Instant::from_millis(now().millis() + 999);
    assert_eq!(t.track(later, &udp(BACKEND2, 53, CLIENT, 40000, b"x")).entry(), Some(loser));
    the_loser_is_gone_a_second_after(&mut t, loser, BACKEND2);
    let gone = Instant::from_millis(now().millis() + 1000);
    assert_eq!(t.track(gone, &udp(CLIENT, 40000, PUBLIC, 53, b"x")).entry(), a.entry());
}

/// After a race between two queries to `PUBLIC`, the first sent to `WEB`
/// (its entry `winner`): the backend's answer and a later query are the
/// winner's.
fn the_winner_keeps_the_flow<S: Storage>(t: &mut ConnTable<S>, winner: Option<Handle>) {
    let mut r1 = udp(WEB, 53, CLIENT, 40000, b"A");
    let v = pass(t, &mut r1);
    assert_eq!((v.dir(), v.entry()), (Some(Direction::Reply), winner));
    assert_eq!(addrs(&r1), (addr(PUBLIC), addr(CLIENT)));
    let mut q3 = udp(CLIENT, 40000, PUBLIC, 53, b"MX?");
    let v = pass(t, &mut q3);
    assert_eq!((v.dir(), v.entry()), (Some(Direction::Original), winner));
    assert_eq!(addrs(&q3), (addr(CLIENT), addr(WEB)));
}

/// A second after the race, its `loser` is gone, and an answer from the
/// peer it was kept for (`from`) is a new flow.
fn the_loser_is_gone_a_second_after<S: Storage>(t: &mut ConnTable<S>, loser: Handle, from: &str) {
    let gone = Instant::from_millis(now().millis() + 1000);
    assert!(t.get(loser, gone).is_none());
    let v = t.classify(gone, &udp(from, 53, CLIENT, 40000, b"x"), Meta::default());
    assert_eq!(v.state(), Some(CtState::New));
    t.discard(&v);
}

#[test]
fn a_race_whose_loser_has_the_same_tuples_merges_and_one_whose_reply_is_taken_is_dropped() {
    // Both sent to the same backend: one connection.
    let mut t = table();
    let q1 = udp(CLIENT, 40000, PUBLIC, 53, b"A?");
    let q2 = udp(CLIENT, 40000, PUBLIC, 53, b"AAAA?");
    let (mut a, mut b) = both_new(&mut t, &q1, &q2);
    t.nat(&a, &NatRule::dnat(addr(WEB))).unwrap();
    t.nat(&b, &NatRule::dnat(addr(WEB))).unwrap();
    t.confirm(&mut a, &q1).unwrap();
    t.confirm(&mut b, &q2).unwrap();
    assert_eq!(b.entry(), a.entry());
    assert_eq!((t.len(), t.stats().clash_resolve), (1, 1));

    // The loser's reply tuple (its backend's answer to the one source
    // port its source NAT may take) became another live connection's
    // after its binding: "reply direction must never result in a clash".
    // (Without that source NAT, the null binding of confirmation would
    // move its port, as Linux's nat hook at POSTROUTING does.)
    let mut t = table();
    let (mut a, mut b) = both_new(&mut t, &q1, &q2);
    t.nat(&a, &NatRule::dnat(addr(WEB))).unwrap();
    t.nat(&b, &NatRule::dnat(addr(BACKEND2))).unwrap();
    t.nat(&b, &NatRule::snat(addr(ROUTER)).ports(40000, 40000)).unwrap();
    let other = t.track(now(), &udp(BACKEND2, 53, ROUTER, 40000, b"hello"));
    assert_eq!(other.state(), Some(CtState::New));
    t.confirm(&mut a, &q1).unwrap();
    assert_eq!(t.confirm(&mut b, &q2), Err(DropReason::InsertClash));
    assert_eq!(b.entry(), None);
    let s = t.stats();
    assert_eq!((s.clash_resolve, s.insert_failed, s.drop), (0, 1, 1));
    assert_eq!(t.len(), 2);
    // Both lookups as before.
    assert_eq!(t.track(now(), &udp(CLIENT, 40000, PUBLIC, 53, b"x")).entry(), a.entry());
    assert_eq!(t.track(now(), &udp(BACKEND2, 53, ROUTER, 40000, b"x")).entry(), other.entry());
    // Without the clash that source NAT makes, the same race keeps the
    // loser under its reply tuple.
    let mut t = table();
    let (mut a, mut b) = race(&mut t, &q1, &q2);
    t.nat(&b, &NatRule::snat(addr(ROUTER)).ports(40000, 40000)).unwrap();
    t.confirm(&mut a, &q1).unwrap();
    assert_eq!(t.confirm(&mut b, &q2), Ok(()));
    assert_eq!(t.stats().clash_resolve, 1);
}

/// A race whose loser has no NAT (no rule matched its packet) and whose
/// winner does: Linux keeps the loser under its reply tuple all the same
/// (`nf_ct_resolve_clash_harder()`), its packet passes untranslated, and
/// the original destination's answer finds it.
#[test]
fn the_loser_of_a_race_without_nat_lives_a_second_under_its_reply_tuple() {
    let mut t = table();
    let mut q1 = udp(CLIENT, 40000, PUBLIC, 53, b"A?");
    let q2 = udp(CLIENT, 40000, PUBLIC, 53, b"AAAA?");
    let (mut a, mut b) = both_new(&mut t, &q1, &q2);
    t.nat(&a, &NatRule::dnat(addr(WEB))).unwrap();
    t.confirm(&mut a, &q1).unwrap();
    t.translate(&a, &mut q1).unwrap();
    assert_eq!(addrs(&q1), (addr(CLIENT), addr(WEB)));
    t.confirm(&mut b, &q2).unwrap();
    let loser = b.entry().expect("kept");
    assert_ne!(Some(loser), a.entry());
    let mut copy = q2.clone();
    assert_eq!(t.translate(&b, &mut copy), Ok(false));
    assert_eq!(copy, q2);
    let s = t.stats();
    assert_eq!((s.clash_resolve, s.insert_failed, s.drop), (1, 0, 0));
    let e = t.get(loser, now()).unwrap();
    assert!(e.status().contains(Status::NAT_CLASH | Status::FIXED_TIMEOUT | Status::CONFIRMED));
    assert!(!e.status().intersects(Status::SRC_NAT | Status::DST_NAT));
    assert_eq!((e.orig(), e.reply()), (e.reply().invert().unwrap(), e.orig().invert().unwrap()));
    assert_eq!(t.entries(now()).map(|e| e.handle()).collect::<Vec<_>>(), vec![a.entry().unwrap()]);

    // The original destination's answer: the loser's, untranslated.
    let mut r2 = udp(PUBLIC, 53, CLIENT, 40000, b"AAAA");
    let before = r2.clone();
    let v = pass(&mut t, &mut r2);
    assert_eq!(
        (v.state(), v.dir(), v.entry()),
        (Some(CtState::Established), Some(Direction::Reply), Some(loser))
    );
    assert_eq!(r2, before);
    the_winner_keeps_the_flow(&mut t, a.entry());
    the_loser_is_gone_a_second_after(&mut t, loser, PUBLIC);
    let gone = Instant::from_millis(now().millis() + 1000);
    let cap = t.capacity();
    t.gc(gone, cap);
    assert_eq!(t.len(), 1);
}

/// The first packets of one flow from both ends, each classified before
/// either is confirmed (`nf_nat_core.c: nf_nat_used_tuple_new()`, which
/// Linux meets when two CPUs take them at once): the entry of the one
/// confirmed second has a tuple the other's answers, but neither has NAT,
/// so its source binding (the null one of confirmation, or a source NAT
/// rule whose range holds its source) keeps its port rather than moving
/// the answer's, and its insert clashes: the packet is dropped, and the
/// flow goes on in the first entry, untranslated.
#[test]
fn a_flow_opened_from_both_ends_at_once_keeps_its_ports() {
    for explicit_rule in [false, true] {
        let mut t = table();
        // Another connection's binding: the table translates, and its
        // confirmations make the null source binding.
        let other = open(&mut t, &mut udp(CLIENT2, 7, WEB, 7, b"x"), &[snat()]);
        assert_eq!(other.map(|v| v.state()), Ok(Some(CtState::New)));
        let mut q = udp(CLIENT, 40000, SERVER, 53, b"query");
        let mut r = udp(SERVER, 53, CLIENT, 40000, b"answer");
        let (mut a, mut b) = both_new(&mut t, &q, &r);
        t.confirm(&mut b, &r).unwrap();
        if explicit_rule {
            // A range holding the source: its own tuple is tried first,
            // and kept.
            assert_eq!(t.nat(&a, &NatRule::snat(addr(CLIENT))), Ok(()));
            let mut copy = q.clone();
            assert_eq!(t.translate(&a, &mut copy), Ok(false));
            assert_eq!(copy, q);
        }
        assert_eq!(t.confirm(&mut a, &q), Err(DropReason::InsertClash));
        assert_eq!(t.stats().insert_failed, 1);
        assert_eq!(t.len(), 2);
        // Both ways found in the first entry, no port moved.
        let v = pass(&mut t, &mut q);
        assert_eq!((v.dir(), v.entry()), (Some(Direction::Reply), b.entry()));
        assert_eq!(ports(&q), (40000, 53));
        let v = pass(&mut t, &mut r);
        assert_eq!((v.dir(), v.entry()), (Some(Direction::Original), b.entry()));
        assert_eq!(ports(&r), (53, 40000));
    }
}

/// The same race where Linux's rule does not apply: a TCP connection
/// (whose tracker does not resolve insert clashes: the tuple is taken, the
/// port moves, and the insert clashes all the same), or a first entry
/// with NAT (the tuple is taken, the port moves, and the second entry is
/// a connection of its own).
#[test]
fn a_flow_opened_from_both_ends_at_once_moves_a_port_where_a_clash_would_not_merge() {
    // TCP: simultaneous SYNs, the second given source NAT to its own
    // address (the range holds its tuple).
    let mut t = table();
    let mut q = tcp(CLIENT, 40000, SERVER, 80, SYN, 1, 0, 1000, &[]);
    let r = tcp(SERVER, 80, CLIENT, 40000, SYN, 9, 0, 1000, &[]);
    let (mut a, mut b) = both_new(&mut t, &q, &r);
    t.confirm(&mut b, &r).unwrap();
    t.nat(&a, &NatRule::snat(addr(CLIENT))).unwrap();
    assert_eq!(t.translate(&a, &mut q), Ok(true));
    assert_ne!(ports(&q).0, 40000);
    assert_eq!(t.confirm(&mut a, &q), Err(DropReason::InsertClash));

    // UDP, the first entry given source NAT: it has NAT, the port moves,
    // and the second entry's tuples are its own.
    let mut t = table();
    let mut q = udp(CLIENT, 40000, SERVER, 53, b"query");
    let r = udp(SERVER, 53, CLIENT, 40000, b"answer");
    let (mut a, mut b) = both_new(&mut t, &q, &r);
    t.nat(&b, &NatRule::snat(addr(ROUTER))).unwrap();
    t.confirm(&mut b, &r).unwrap();
    t.nat(&a, &NatRule::snat(addr(CLIENT))).unwrap();
    t.confirm(&mut a, &q).unwrap();
    assert_ne!(a.entry(), b.entry());
    let e = t.get(a.entry().unwrap(), now()).unwrap();
    assert!(e.status().contains(Status::SRC_NAT));
    t.translate(&a, &mut q).unwrap();
    assert_ne!(ports(&q).0, 40000);

    // UDP, the second entry given destination NAT first (to the first
    // one's source): it has NAT, its port moves, and its entry is its own.
    let mut t = table();
    let mut q = udp(CLIENT, 40000, PUBLIC, 53, b"query");
    let r = udp(SERVER, 53, CLIENT, 40000, b"answer");
    let (mut a, mut b) = both_new(&mut t, &q, &r);
    t.confirm(&mut b, &r).unwrap();
    t.nat(&a, &NatRule::dnat(addr(SERVER))).unwrap();
    t.confirm(&mut a, &q).unwrap();
    assert_ne!(a.entry(), b.entry());
    let e = t.get(a.entry().unwrap(), now()).unwrap();
    assert!(e.status().contains(Status::SRC_NAT | Status::DST_NAT));
    t.translate(&a, &mut q).unwrap();
    assert_eq!(addrs(&q), (addr(CLIENT), addr(SERVER)));
    assert_ne!(ports(&q).0, 40000);
}

/// A UDP-Lite datagram (RFC 3828) covering all of itself, its checksum
/// filled as Linux checks it: with UDP's protocol number in the
/// pseudo-header (see `src/wire/ip.rs: l4_checksum_ok`).
fn udplite(src: &str, sport: u16, dst: &str, dport: u16, data: &[u8]) -> Vec<u8> {
    let (s, d) = (addr(src), addr(dst));
    let mut l4 = [&sport.to_be_bytes()[..], &dport.to_be_bytes(), &[0, 0, 0, 0], data].concat();
    let (IpAddr::V4(sa), IpAddr::V4(da)) = (s, d) else { unreachable!() };
    let pseudo = [&sa.octets()[..], &da.octets(), &[0, 17], &(l4.len() as u16).to_be_bytes()].concat();
    let sum = add(ones_sum(&pseudo), ones_sum(&l4));
    l4[6..8].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    common::ip_packet(s, d, 136, &l4, 64)
}

#[test]
fn the_loser_of_a_race_never_becomes_assured() {
    // UDP-Lite, whose second answer assures a connection at once.
    let mut t = table();
    let q1 = udplite(CLIENT, 40000, PUBLIC, 53, b"A?");
    let q2 = udplite(CLIENT, 40000, PUBLIC, 53, b"AAAA?");
    let (mut a, mut b) = race(&mut t, &q1, &q2);
    t.confirm(&mut a, &q1).unwrap();
    t.confirm(&mut b, &q2).unwrap();
    let loser = b.entry().unwrap();
    for _ in 0..3 {
        let v = t.track(now(), &udplite(BACKEND2, 53, CLIENT, 40000, b"AAAA"));
        assert_eq!((v.dir(), v.entry()), (Some(Direction::Reply), Some(loser)));
        let v = t.track(now(), &udplite(WEB, 53, CLIENT, 40000, b"A"));
        assert_eq!((v.dir(), v.entry()), (Some(Direction::Reply), a.entry()));
    }
    assert!(!t.get(loser, now()).unwrap().status().contains(Status::ASSURED));
    assert!(t.get(a.entry().unwrap(), now()).unwrap().status().contains(Status::ASSURED));
}

#[test]
fn a_loser_in_the_slot_its_hash_names_is_not_found_by_its_original_tuple() {
    // The first query's entry takes the slot the flow's hash names, which
    // lookups read before the index; the second one is confirmed first
    // and wins.
    let mut t = table();
    let q1 = udp(CLIENT, 40000, PUBLIC, 53, b"A?");
    let q2 = udp(CLIENT, 40000, PUBLIC, 53, b"AAAA?");
    let (mut a, mut b) = race(&mut t, &q1, &q2);
    t.confirm(&mut b, &q2).unwrap();
    t.confirm(&mut a, &q1).unwrap();
    let (winner, loser) = (b.entry().unwrap(), a.entry().unwrap());
    assert!(t.get(loser, now()).unwrap().status().contains(Status::NAT_CLASH));
    let q = udp(CLIENT, 40000, PUBLIC, 53, b"MX?");
    assert_eq!(t.track(now(), &q).entry(), Some(winner));
    let mut entries = Vec::new();
    t.track_batch(now(), &[&q, &q], |_, v| entries.push(v.entry()));
    assert_eq!(entries, [Some(winner); 2]);
    let tuple = Tuple::with_ports(addr(CLIENT), 40000, addr(PUBLIC), 53, 17).unwrap();
    assert_eq!(t.lookup(&tuple, 0, now()).map(|(e, _)| e.handle()), Some(winner));
    // The general path too (IP options: not the fast path's packet).
    assert_eq!(t.track(now(), &with_ip_options(&q)).entry(), Some(winner));
    // Its backend's answers still find it.
    assert_eq!(t.track(now(), &udp(WEB, 53, CLIENT, 40000, b"A")).entry(), Some(loser));
}

/// `p`, an IPv4 packet without options, with four NOP options.
fn with_ip_options(p: &[u8]) -> Vec<u8> {
    let mut q = [&p[..20], &[1, 1, 1, 1], &p[20..]].concat();
    q[0] = 0x46;
    let len = q.len() as u16;
    q[2..4].copy_from_slice(&len.to_be_bytes());
    q[10..12].copy_from_slice(&[0, 0]);
    let sum = ones_sum(&q[..24]);
    q[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    q
}
