//! The IRC, Amanda and SANE helpers through the table
//! (`nf_conntrack_irc.c`, `nf_conntrack_amanda.c`, `nf_conntrack_sane.c`).
//! The expectation lines are those `conntrack -L expect` printed on Linux
//! 6.18 for the same exchanges; the crafted captures
//! `tests/data/crafted/helpers/{irc,amanda,sane}-*` check the rest frame by
//! frame (`tests/parity.rs`).

mod common;

use common::*;
use ctrack::helper::builtin;
use ctrack::*;

fn table() -> FixedConnTable<256, 32, 32> {
    let mut t = ConnTable::new(HashKey([13; 16]), Config::default());
    for name in ["irc", "amanda", "sane"] {
        t.add_builtin_helper(builtin(name).unwrap()).unwrap();
    }
    t
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(1_000_000 + ms)
}

const C: &str = "192.168.1.10";
const S: &str = "198.51.100.5";
/// 192.168.1.10 as IRC writes it.
const C_U32: &str = "3232235786";

fn lines<St: Storage>(t: &ConnTable<St>, now: Instant) -> Vec<String> {
    let mut v: Vec<String> = t.expectations(now).map(|e| e.to_string()).collect();
    v.sort();
    v
}

/// A TCP connection from `c:cport` to `s:sport` after its handshake;
/// returns the next client and server sequence numbers.
fn open<St: Storage>(t: &mut ConnTable<St>, c: &str, cport: u16, s: &str, sport: u16) -> (u32, u32) {
    let (c_seq, s_seq) = (1000u32, 5000u32);
    let _ = t.track(at(0), &tcp(c, cport, s, sport, SYN, c_seq - 1, 0, 64240, b""));
    let _ = t.track(at(1), &tcp(s, sport, c, cport, SYN | ACK, s_seq - 1, c_seq, 64240, b""));
    let _ = t.track(at(2), &tcp(c, cport, s, sport, ACK, c_seq, s_seq, 64240, b""));
    (c_seq, s_seq)
}

fn syn<St: Storage>(t: &mut ConnTable<St>, ms: u64, src: &str, sport: u16, dst: &str, dport: u16) -> Verdict {
    t.track(at(ms), &tcp(src, sport, dst, dport, SYN, 1, 0, 64240, b""))
}

#[test]
fn irc_dcc_send_expects_a_connection_from_anywhere() {
    let mut t = table();
    let (mut c, s) = open(&mut t, C, 50000, S, 6667);
    let msg = format!("PRIVMSG bob :\x01DCC SEND report.pdf {C_U32} 5000 12345\x01\r\n");
    let v = t.track(at(3), &tcp(C, 50000, S, 6667, PSH | ACK, c, s, 64240, msg.as_bytes()));
    assert_eq!(t.get(v.entry().unwrap(), at(3)).unwrap().helper().unwrap().name(), "irc");
    c += msg.len() as u32;
    assert_eq!(
        lines(&t, at(3)),
        ["300 proto=6 src=0.0.0.0 dst=192.168.1.10 sport=0 dport=5000 mask-src=0.0.0.0 \
          mask-dst=255.255.255.255 sport=0 dport=65535 master-src=192.168.1.10 master-dst=198.51.100.5 \
          sport=50000 dport=6667 class=0 helper=irc"]
    );
    // Any peer, from any port.
    let v = syn(&mut t, 4, "203.0.113.7", 40000, C, 5000);
    assert_eq!(v.state(), Some(CtState::Related));
    let e = t.get(v.entry().unwrap(), at(4)).unwrap();
    assert_eq!(e.master().unwrap().to_string(), "src=192.168.1.10 dst=198.51.100.5 sport=50000 dport=6667");
    assert!(t.expectations(at(4)).next().is_none());
    // The server's messages (reply direction) are not read.
    let from_server = format!(":bob!b@h PRIVMSG alice :\x01DCC SEND x {C_U32} 5002 1\x01\r\n");
    let _ = t.track(at(5), &tcp(S, 6667, C, 50000, PSH | ACK, s, c, 64240, from_server.as_bytes()));
    assert!(t.expectations(at(5)).next().is_none());
}

#[test]
fn irc_forged_offers_and_the_dcc_channel_limit() {
    let mut t = table();
    let (mut c, s) = open(&mut t, C, 50000, S, 6667);
    let mut send = |t: &mut FixedConnTable<256, 32, 32>, ip: &str, port: u32| {
        let msg = format!("PRIVMSG bob :\x01DCC SEND f {ip} {port} 1\x01\r\n");
        let v = t.track(at(3), &tcp(C, 50000, S, 6667, PSH | ACK, c, s, 64240, msg.as_bytes()));
        c += msg.len() as u32;
        v
    };
    // Another host, the server, port 0: ignored, the segment passes.
    for (ip, port) in [("168364297", 6000), ("3325256709", 6001), (C_U32, 0)] {
        let v = send(&mut t, ip, port);
        assert_eq!(v.state(), Some(CtState::Established));
        assert!(!v.must_drop());
    }
    assert!(t.expectations(at(3)).next().is_none());
    // Nine offers: the newest eight are kept (max_dcc_channels = 8).
    for port in 6100..6109 {
        let _ = send(&mut t, C_U32, port);
    }
    assert_eq!(t.expectations(at(3)).count(), 8);
    assert_eq!(syn(&mut t, 4, "203.0.113.7", 46100, C, 6100).state(), Some(CtState::New));
    assert_eq!(syn(&mut t, 4, "203.0.113.7", 46108, C, 6108).state(), Some(CtState::Related));
}

#[test]
#[cfg(not(feature = "ipv4-only"))] // IPv6 only
fn irc_is_ipv4_only() {
    let b = builtin("irc").unwrap();
    assert_eq!((b.ports, b.family), (&[(6, 6667)][..], Some(Family::Ipv4)));
    let mut t = table();
    let v = t.track(at(0), &tcp("2001:db8::10", 50000, "2001:db8::5", 6667, SYN, 1, 0, 64240, b""));
    assert!(t.get(v.entry().unwrap(), at(0)).unwrap().helper().is_none());
}

#[test]
fn amanda_connect_line_expects_three_ports_and_keeps_the_master() {
    let mut t = table();
    let req = b"Amanda 2.6 REQ HANDLE 000-00000000 SEQ 1\nSERVICE sendbackup\n";
    let v = t.track(at(0), &udp(S, 850, C, 10080, req));
    assert_eq!(t.get(v.entry().unwrap(), at(0)).unwrap().timeout(), 30);
    // A CONNECT line from the server is not read.
    let _ = t.track(at(1), &udp(S, 850, C, 10080, b"CONNECT DATA 1 MESG 2\n"));
    assert!(t.expectations(at(1)).next().is_none());
    let rep = b"Amanda 2.6 REP HANDLE 000-00000000 SEQ 1\nCONNECT DATA 50000 MESG 50001 INDEX 50002\n";
    let v = t.track(at(2), &udp(C, 10080, S, 850, rep));
    assert_eq!(t.get(v.entry().unwrap(), at(2)).unwrap().timeout(), 300, "master_timeout");
    let expected = |port: u16| {
        format!(
            "180 proto=6 src=198.51.100.5 dst=192.168.1.10 sport=0 dport={port} mask-src=255.255.255.255 \
             mask-dst=255.255.255.255 sport=0 dport=65535 master-src=198.51.100.5 master-dst=192.168.1.10 \
             sport=850 dport=10080 class=0 helper=amanda"
        )
    };
    assert_eq!(lines(&t, at(2)), [expected(50000), expected(50001), expected(50002)]);
    // The server connects to each, from any port; another host may not.
    assert_eq!(syn(&mut t, 3, "203.0.113.7", 40000, C, 50000).state(), Some(CtState::New));
    for port in [50000, 50001, 50002] {
        assert_eq!(syn(&mut t, 3, S, port - 10_000, C, port).state(), Some(CtState::Related), "{port}");
    }
    // An empty reply still extends the master.
    let v = t.track(at(60_000), &udp(C, 10080, S, 850, b""));
    assert_eq!(t.get(v.entry().unwrap(), at(60_000)).unwrap().timeout(), 300);
}

#[test]
fn amanda_odd_ports() {
    let mut t = table();
    for (sport, reply, related, new) in [
        (860u16, &b"CONNECT DATA 99999 MESG 123456\n"[..], &[34463u16, 12345][..], &[12346u16][..]),
        (861, b"CONNECT DATA 0 MESG 50101\n", &[], &[50101]),
        (863, b"CONNECT DATA 50120 MES\nG 50121\n", &[50120], &[50121]),
        (864, b"CONNECT DATA 50130", &[], &[50130]),
    ] {
        let _ = t.track(at(0), &udp(S, sport, C, 10080, b"REQ"));
        let v = t.track(at(1), &udp(C, 10080, S, sport, reply));
        assert!(!v.must_drop());
        for &p in related {
            assert_eq!(syn(&mut t, 2, S, 1000 + sport, C, p).state(), Some(CtState::Related), "{p}");
        }
        for &p in new {
            assert_eq!(syn(&mut t, 2, S, 1000 + sport, C, p).state(), Some(CtState::New), "{p}");
        }
    }
}

/// SANE_NET_START from the client, its reply from the server.
fn sane_start<St: Storage>(t: &mut ConnTable<St>, c: &mut u32, s: &mut u32, reply: &[u8]) -> Verdict {
    let req = [0, 0, 0, 7, 0, 0, 0, 0];
    let _ = t.track(at(3), &tcp(C, 50000, S, 6566, PSH | ACK, *c, *s, 64240, &req));
    *c += 8;
    let v = t.track(at(4), &tcp(S, 6566, C, 50000, PSH | ACK, *s, *c, 64240, reply));
    *s += reply.len() as u32;
    v
}

fn start_reply(status: u32, zero: u16, port: u16) -> Vec<u8> {
    let mut r = status.to_be_bytes().to_vec();
    r.extend_from_slice(&zero.to_be_bytes());
    r.extend_from_slice(&port.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0x12, 0x34, 0, 0, 0, 0]);
    r
}

#[test]
fn sane_start_reply_expects_the_data_connection() {
    let mut t = table();
    let (mut c, mut s) = open(&mut t, C, 50000, S, 6566);
    let v = sane_start(&mut t, &mut c, &mut s, &start_reply(0, 0, 6600));
    assert!(!v.must_drop());
    assert_eq!(
        lines(&t, at(4)),
        ["300 proto=6 src=192.168.1.10 dst=198.51.100.5 sport=0 dport=6600 mask-src=255.255.255.255 \
          mask-dst=255.255.255.255 sport=0 dport=65535 master-src=192.168.1.10 master-dst=198.51.100.5 \
          sport=50000 dport=6566 class=0 helper=sane"]
    );
    assert_eq!(syn(&mut t, 5, "192.168.1.11", 40000, S, 6600).state(), Some(CtState::New));
    assert_eq!(syn(&mut t, 5, C, 40000, S, 6600).state(), Some(CtState::Related));
    // Refused, malformed, short: nothing.
    for reply in [start_reply(1, 0, 6601), start_reply(0, 1, 6602), start_reply(0, 0, 6605)[..6].to_vec()] {
        let _ = sane_start(&mut t, &mut c, &mut s, &reply);
    }
    assert!(t.expectations(at(5)).next().is_none());
    // A reply without a START before it: nothing.
    let r = start_reply(0, 0, 6606);
    let _ = t.track(at(6), &tcp(S, 6566, C, 50000, PSH | ACK, s, c, 64240, &r));
    s += r.len() as u32;
    assert!(t.expectations(at(6)).next().is_none());
    // Another 8-byte request between START and its reply cancels it.
    let _ = t.track(at(7), &tcp(C, 50000, S, 6566, PSH | ACK, c, s, 64240, &[0, 0, 0, 7, 0, 0, 0, 0]));
    c += 8;
    let _ = t.track(at(7), &tcp(C, 50000, S, 6566, PSH | ACK, c, s, 64240, &[0, 0, 0, 5, 0, 0, 0, 0]));
    c += 8;
    let _ = t.track(at(8), &tcp(S, 6566, C, 50000, PSH | ACK, s, c, 64240, &start_reply(0, 0, 6603)));
    assert!(t.expectations(at(8)).next().is_none());
}

#[test]
#[cfg(not(feature = "ipv4-only"))] // IPv6 only
fn sane_over_ipv6() {
    let mut t = table();
    let (c6, s6) = ("2001:db8::10", "2001:db8::5");
    let (c, s) = open(&mut t, c6, 50001, s6, 6566);
    let _ = t.track(at(3), &tcp(c6, 50001, s6, 6566, PSH | ACK, c, s, 64240, &[0, 0, 0, 7, 0, 0, 0, 0]));
    let _ = t.track(at(4), &tcp(s6, 6566, c6, 50001, PSH | ACK, s, c + 8, 64240, &start_reply(0, 0, 6610)));
    assert_eq!(syn(&mut t, 5, c6, 40010, s6, 6610).state(), Some(CtState::Related));
}

/// Hostile payloads on every helper's control connection: no panic, and
/// the table stays consistent.
#[test]
fn hostile_payloads_are_harmless() {
    let mut t = table();
    let (mut c, s) = open(&mut t, C, 50000, S, 6667);
    let (mut sc, ss) = open(&mut t, C, 50001, S, 6566);
    let _ = t.track(at(0), &udp(S, 850, C, 10080, b"REQ"));
    let seeds: [&[u8]; 6] = [
        b"PRIVMSG bob :\x01DCC SEND CHAT MOVE TSEND SCHAT f 3232235786   5000 1\x01\r\n",
        b"PRIVMSG x :\x01DCC SEND 99999999999999999999999999 99999999999999999999\n",
        b"CONNECT DATA 65536 MESG 99999 INDEX 00000000001\n",
        b"CONNECT INDEX \n",
        &[0, 0, 0, 7, 0, 0, 0, 0],
        &[0xff; 64],
    ];
    for (k, seed) in seeds.iter().enumerate() {
        for n in 0..=seed.len() {
            for p in [&seed[..n], &seed[n..]] {
                if p.is_empty() {
                    continue;
                }
                let ms = 10 + k as u64;
                let _ = t.track(at(ms), &tcp(C, 50000, S, 6667, PSH | ACK, c, s, 64240, p));
                c = c.wrapping_add(p.len() as u32);
                let _ = t.track(at(ms), &tcp(C, 50001, S, 6566, PSH | ACK, sc, ss, 64240, p));
                sc = sc.wrapping_add(p.len() as u32);
                let _ = t.track(at(ms), &tcp(S, 6566, C, 50001, PSH | ACK, ss, sc, 64240, p));
                let _ = t.track(at(ms), &udp(C, 10080, S, 850, p));
            }
        }
    }
    assert!(t.expectations(at(100)).count() <= 32);
    assert!(t.len() <= t.capacity());
}

/// An expectation that cannot be added (another master expects the same
/// connection) drops the packet, yet Amanda goes on with the other ports,
/// as Linux 6.18 does (`tests/data/crafted/helpers/helpers-expect-clash`).
#[test]
fn amanda_clash_drops_the_reply_but_expects_the_rest() {
    let mut t = table();
    let _ = t.track(at(0), &udp(S, 870, C, 10080, b"REQ"));
    let v = t.track(at(1), &udp(C, 10080, S, 870, b"CONNECT DATA 50200\n"));
    assert!(!v.must_drop());
    let _ = t.track(at(2), &udp(S, 871, C, 10080, b"REQ"));
    let v = t.track(at(3), &udp(C, 10080, S, 871, b"CONNECT DATA 50200 MESG 50201\n"));
    assert!(v.must_drop(), "{v:?}");
    assert_eq!(t.expectations(at(3)).count(), 2);
    for (port, master_sport) in [(50201u16, 871u16), (50200, 870)] {
        let v = syn(&mut t, 4, S, 40000 + port % 1000, C, port);
        assert_eq!(v.state(), Some(CtState::Related), "{port}");
        let e = t.get(v.entry().unwrap(), at(4)).unwrap();
        assert_eq!(e.master().unwrap().sport(), Some(master_sport));
    }
}
