//! Expectations and helpers through the table (`nf_conntrack_expect.c` and
//! the helpers `nf_conntrack_ftp.c`, `nf_conntrack_tftp.c`,
//! `nf_conntrack_snmp.c`, `nf_conntrack_sip.c`).

mod common;

use common::*;
use ctrack::helper::builtin;
use ctrack::*;

fn table() -> FixedConnTable<256, 32, 32> {
    let mut t = ConnTable::new(HashKey([4; 16]), Config::default());
    for name in ["ftp", "tftp", "snmp"] {
        t.add_builtin_helper(builtin(name).unwrap()).unwrap();
    }
    t
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(1_000_000 + ms)
}

const C: &str = "192.168.1.10";
const S: &str = "198.51.100.5";

/// Handshake and banner of an FTP control connection; returns the next
/// client and server sequence numbers.
fn ftp_login<St: Storage>(t: &mut ConnTable<St>) -> (u32, u32) {
    let (mut c, mut s) = (1000u32, 5000u32);
    let _ = t.track(at(0), &tcp(C, 50000, S, 21, SYN, c, 0, 64240, b""));
    let _ = t.track(at(1), &tcp(S, 21, C, 50000, SYN | ACK, s, c + 1, 64240, b""));
    c += 1;
    s += 1;
    let _ = t.track(at(2), &tcp(C, 50000, S, 21, ACK, c, s, 64240, b""));
    let banner = b"220 ready\r\n";
    let _ = t.track(at(3), &tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, banner));
    s += banner.len() as u32;
    let user = b"USER anonymous\r\n";
    let _ = t.track(at(4), &tcp(C, 50000, S, 21, PSH | ACK, c, s, 64240, user));
    c += user.len() as u32;
    (c, s)
}

#[test]
fn ftp_pasv_worked_example_9_2() {
    let mut t = table();
    let (c, s) = ftp_login(&mut t);
    let pasv = b"227 Entering Passive Mode (198,51,100,5,195,149).\r\n";
    let _ = t.track(at(5), &tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, pasv));
    let lines: Vec<String> = t.expectations(at(5)).map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        ["300 proto=6 src=192.168.1.10 dst=198.51.100.5 sport=0 dport=50069 mask-src=255.255.255.255 \
          mask-dst=255.255.255.255 sport=0 dport=65535 master-src=192.168.1.10 master-dst=198.51.100.5 \
          sport=50000 dport=21 class=0 helper=ftp"]
    );
    // The data connection is RELATED until its reply, with the control
    // connection as master; the expectation is used up.
    let syn = tcp(C, 50123, S, 50069, SYN, 1, 0, 64240, b"");
    let v = t.track(at(6), &syn);
    assert_eq!(v.state(), Some(CtState::Related));
    let e = t.get(v.entry().unwrap(), at(6)).unwrap();
    assert!(e.status().contains(Status::EXPECTED));
    assert_eq!(e.master().unwrap().to_string(), "src=192.168.1.10 dst=198.51.100.5 sport=50000 dport=21");
    assert_eq!(t.expectations(at(6)).count(), 0);
    assert_eq!(t.track(at(6), &syn).state(), Some(CtState::Related), "retransmitted SYN: still RELATED");
    let v = t.track(at(7), &tcp(S, 50069, C, 50123, SYN | ACK, 9, 2, 64240, b""));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    // A second connection to the same port is NEW.
    assert_eq!(t.track(at(8), &tcp(C, 50124, S, 50069, SYN, 1, 0, 64240, b"")).state(), Some(CtState::New));
    let s = t.stats();
    assert_eq!((s.expect_create, s.expect_new, s.expect_delete), (1, 1, 1));
}

#[test]
fn ftp_port_third_party_and_split_commands() {
    let mut t = table();
    let (mut c, s) = ftp_login(&mut t);
    // PORT naming another host: no expectation (the address check in
    // `nf_conntrack_ftp.c: help()`).
    let evil = b"PORT 10,9,9,9,4,1\r\n";
    assert_eq!(
        t.track(at(5), &tcp(C, 50000, S, 21, PSH | ACK, c, s, 64240, evil)).state(),
        Some(CtState::Established)
    );
    assert_eq!(t.expectations(at(5)).count(), 0);
    c += evil.len() as u32;
    // Its line end is remembered all the same (`help()` goes on to
    // `out_update_nl`), so the next command is parsed.
    let port = b"PORT 192,168,1,10,4,1\r\n";
    let _ = t.track(at(6), &tcp(C, 50000, S, 21, PSH | ACK, c, s, 64240, port));
    assert_eq!(t.expectations(at(6)).count(), 1);
    c += port.len() as u32;
    // After it, a command split across segments is dropped.
    let v = t.track(at(7), &tcp(C, 50000, S, 21, PSH | ACK, c, s, 64240, b"PO"));
    assert_eq!(v.state(), Some(CtState::Established));
    assert!(v.must_drop(), "{v:?}");
    // Sent whole, it works: the server connects from port 20 to 1025.
    let _ = t.track(at(8), &tcp(C, 50000, S, 21, PSH | ACK, c, s, 64240, port));
    let v = t.track(at(9), &tcp(S, 20, C, 1025, SYN, 7, 0, 64240, b""));
    assert_eq!(v.state(), Some(CtState::Related));
}

#[test]
fn ftp_max_expected_replaces_and_master_death_removes() {
    let mut t = table();
    let (c, mut s) = ftp_login(&mut t);
    for (k, p) in [(195u8, 149u8), (195, 150)].into_iter().enumerate() {
        let pasv =
            format!("227 Entering Passive Mode (198,51,100,5,{p_hi},{p_lo}).\r\n", p_hi = p.0, p_lo = p.1);
        let _ = t.track(at(5 + k as u64), &tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, pasv.as_bytes()));
        s += pasv.len() as u32;
    }
    let lines: Vec<String> = t.expectations(at(7)).map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 1, "max_expected 1: the second PASV replaced the first");
    assert!(lines[0].contains("dport=50070"));
    // The control connection is reset before any reply? No: it is
    // established; a RST from the client closes it, and its deletion (at
    // expiry) takes the expectation with it.
    let _ = t.track(at(8), &tcp(C, 50000, S, 21, RST | ACK, c, s, 0, b""));
    assert_eq!(t.expectations(at(8)).count(), 1);
    t.gc(at(20_000), 256);
    assert_eq!(t.expectations(at(20_000)).count(), 0);
    assert_eq!(
        t.track(at(20_001), &tcp(C, 50123, S, 50070, SYN, 1, 0, 64240, b"")).state(),
        Some(CtState::New)
    );
}

#[test]
fn tftp_read_and_write_requests() {
    let mut t = table();
    for (op, port) in [(1u8, 40000u16), (2, 40001)] {
        let mut rq = vec![0, op];
        rq.extend_from_slice(b"file\0octet\0");
        let v = t.track(at(0), &udp(C, port, S, 69, &rq));
        assert_eq!(v.state(), Some(CtState::New));
        assert_eq!(t.get(v.entry().unwrap(), at(0)).unwrap().helper().unwrap().name(), "tftp");
        // The server answers from a new port: RELATED.
        let data = udp(S, 3000 + port, C, port, &[0, 3, 0, 1]);
        let v = t.track(at(1), &data);
        assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Original)));
        let v = t.track(at(2), &udp(C, port, S, 3000 + port, &[0, 4, 0, 1]));
        assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    }
    // Anything but RRQ/WRQ expects nothing.
    let _ = t.track(at(3), &udp(C, 40002, S, 69, &[0, 5, 0, 0]));
    assert_eq!(t.expectations(at(3)).count(), 0);
}

/// Confirmation works at the time of the last packet classified: a TFTP
/// request classified, then another packet 10 s later, then the request
/// confirmed: its expectation (300 s, `nf_conntrack_tftp.c:
/// tftp_exp_policy`) counts from the later time, as Linux's from its
/// confirmation.
#[test]
fn confirmation_works_at_the_last_classification_time() {
    let mut t = table();
    let request = |port| {
        let mut rq = vec![0, 1];
        rq.extend_from_slice(b"file\0octet\0");
        udp(C, port, S, 69, &rq)
    };
    let rq = request(40000);
    let mut v = t.classify(at(0), &rq, Meta::default());
    assert_eq!(v.state(), Some(CtState::New));
    let other = t.track(at(10_000), &udp(C, 40001, S, 53, b"q"));
    assert_eq!(other.state(), Some(CtState::New));
    assert_eq!(t.confirm(&mut v, &rq), Ok(()));
    let timeouts = |t: &FixedConnTable<256, 32, 32>, now| {
        let mut v = t.expectations(now).map(|x| x.timeout()).collect::<Vec<_>>();
        v.sort();
        v
    };
    assert_eq!(timeouts(&t, at(10_000)), [300], "300 s from the later time");
    // Confirmed at once: from its own time.
    let _ = t.track(at(20_000), &request(40002));
    assert_eq!(timeouts(&t, at(20_000)), [290, 300]);
}

#[test]
fn snmp_broadcast_expects_the_subnet() {
    let mut t = table();
    let q = udp(C, 40000, "192.168.1.255", 161, b"get");
    // Forwarded traffic (no broadcast fact): nothing expected, as in Linux.
    let _ = t.track(at(0), &q);
    assert_eq!(t.expectations(at(0)).count(), 0);
    // Sent by this host to its /24 broadcast address.
    let meta = Meta::default().with_broadcast_prefix(24);
    let v = t.track_with(at(1), &udp(C, 40001, "192.168.1.255", 161, b"get"), meta);
    assert_eq!(t.get(v.entry().unwrap(), at(1)).unwrap().timeout(), 30);
    let lines: Vec<String> = t.expectations(at(1)).map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        ["30 proto=17 src=192.168.1.255 dst=192.168.1.10 sport=161 dport=40001 mask-src=255.255.255.0 \
          mask-dst=255.255.255.255 sport=65535 dport=65535 master-src=192.168.1.10 master-dst=192.168.1.255 \
          sport=40001 dport=161 PERMANENT class=0 helper=snmp"]
    );
    // Every agent of the subnet answers: each answer is RELATED (permanent).
    for agent in ["192.168.1.77", "192.168.1.78"] {
        let v = t.track(at(2), &udp(agent, 161, C, 40001, b"resp"));
        assert_eq!(v.state(), Some(CtState::Related), "{agent}");
    }
    // Outside the subnet, or from another port: NEW.
    assert_eq!(t.track(at(3), &udp("192.168.2.77", 161, C, 40001, b"r")).state(), Some(CtState::New));
    assert_eq!(t.track(at(3), &udp("192.168.1.79", 162, C, 40001, b"r")).state(), Some(CtState::New));
    // The expectation lives 30 s.
    assert_eq!(t.track(at(31_000), &udp("192.168.1.80", 161, C, 40001, b"r")).state(), Some(CtState::New));
}

#[test]
fn helped_connections_need_room_in_the_extension_pool() {
    // A table with one extension slot. A second helped connection evicts
    // the first while that one is not ASSURED, as early drop would ...
    let mut t: FixedConnTable<64, 1, 4> = ConnTable::new(HashKey([1; 16]), Config::default());
    t.add_builtin_helper(builtin("tftp").unwrap()).unwrap();
    assert_eq!(t.track(at(0), &udp(C, 1, S, 69, &[0, 1])).state(), Some(CtState::New));
    assert_eq!(t.track(at(0), &udp(C, 2, S, 69, &[0, 1])).state(), Some(CtState::New));
    assert_eq!((t.len(), t.stats().early_drop), (1, 1));
    // ... but an ASSURED one stays, and the new connection is dropped.
    let _ = t.track(at(1_000), &udp(S, 69, C, 2, &[0, 3]));
    let v = t.track(at(3_000), &udp(C, 2, S, 69, &[0, 4]));
    assert!(t.get(v.entry().unwrap(), at(3_000)).unwrap().status().contains(Status::ASSURED));
    assert_eq!(t.track(at(3_000), &udp(C, 3, S, 69, &[0, 1])), Verdict::Dropped(DropReason::TableFull));
    assert_eq!(t.len(), 1);
}

fn invite(cseq: u32, media_port: u16) -> Vec<u8> {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio {media_port} RTP/AVP 0\r\n"
    );
    format!(
        "INVITE sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060\r\n\
         From: <sip:alice@192.168.1.10>\r\nTo: <sip:bob@198.51.100.20>\r\nCall-ID: {cseq}@x\r\n\
         CSeq: {cseq} INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

#[test]
fn sip_media_is_expected_once_across_call_legs() {
    let mut t = table();
    t.add_builtin_helper(builtin("sip").unwrap()).unwrap();
    const PX: &str = "198.51.100.20";
    // First leg: INVITE announcing audio on 49170 expects RTP and RTCP from the proxy.
    let v = t.track(at(0), &udp(C, 5060, PX, 5060, &invite(1, 49170)));
    assert_eq!(t.get(v.entry().unwrap(), at(0)).unwrap().timeout(), 3600, "SIP signalling lives 3600 s");
    assert_eq!(t.expectations(at(0)).count(), 2);
    // The proxy's RTCP arrives: RELATED, its expectation used up.
    assert_eq!(t.track(at(1), &udp(PX, 3457, C, 49171, b"rtcp")).state(), Some(CtState::Related));
    assert_eq!(t.expectations(at(1)).count(), 1);
    // A second leg announces the same stream: the first leg's RTP
    // expectation covers it, so nothing is added (not even RTCP), as in Linux.
    let _ = t.track(at(2), &udp(C, 5062, PX, 5060, &invite(1, 49170)));
    let lines: Vec<String> = t.expectations(at(2)).map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("dport=49170")
            && lines[0].contains("master-src=192.168.1.10 master-dst=198.51.100.20 sport=5060")
    );
    // Another stream on the second leg is expected normally.
    let _ = t.track(at(3), &udp(C, 5062, PX, 5060, &invite(2, 49180)));
    assert_eq!(t.expectations(at(3)).count(), 3);
}

/// A SIP/TCP segment whose Content-Length is 2^64 - 1: the message length
/// overflows. Linux stops at a message longer than the segment; ctrack must
/// neither panic (this test runs with overflow checks in CI's debug pass)
/// nor read a truncated message.
#[test]
fn sip_tcp_content_length_overflow_is_harmless() {
    let mut t = table();
    t.add_builtin_helper(builtin("sip").unwrap()).unwrap();
    const PX: &str = "198.51.100.20";
    let (c, s) = (7000u32, 9000u32);
    let _ = t.track(at(0), &tcp(C, 5060, PX, 5060, SYN, c, 0, 64240, b""));
    let _ = t.track(at(1), &tcp(PX, 5060, C, 5060, SYN | ACK, s, c + 1, 64240, b""));
    let _ = t.track(at(2), &tcp(C, 5060, PX, 5060, ACK, c + 1, s + 1, 64240, b""));
    let good = String::from_utf8(invite(1, 49170)).unwrap();
    for clen in ["18446744073709551615", "18446744073709551610", "99999999999999999999999"] {
        let hostile = good.replacen(
            &format!("Content-Length: {}", good.len() - good.find("v=0").unwrap()),
            &format!("Content-Length: {clen}"),
            1,
        );
        assert!(hostile.contains(clen));
        let v = t.track(at(3), &tcp(C, 5060, PX, 5060, PSH | ACK, c + 1, s + 1, 64240, hostile.as_bytes()));
        assert_eq!(v.state(), Some(CtState::Established), "{clen}");
        assert!(!v.must_drop());
        assert_eq!(
            t.expectations(at(3)).count(),
            0,
            "{clen}: no media from a message longer than the segment"
        );
    }
    // The same message with its true length is read: RTP and RTCP expected.
    let _ = t.track(at(4), &tcp(C, 5060, PX, 5060, PSH | ACK, c + 1, s + 1, 64240, good.as_bytes()));
    assert_eq!(t.expectations(at(4)).count(), 2);
}
