//! Flows from an endpoint to itself: same address and port both ways, so
//! the tuple equals its own inversion. Linux 6.18 (crafted capture
//! `tests/data/crafted/udp/udp-flow-to-itself.pcap` and its verdicts):
//! the packet that creates the entry is NEW in the original direction;
//! every later packet of the flow is matched to the reply tuple, which
//! `nf_conntrack_core.c: __nf_conntrack_hash_insert()` links in after the
//! original one at the head of the same hash chain. So from the second
//! packet on it is ESTABLISHED, in the reply direction, and sets
//! SEEN_REPLY (`resolve_normal_ct()`, `nf_conntrack_in()`).

mod common;

use common::*;
use ctrack::*;

fn table() -> FixedConnTable<64> {
    ConnTable::new(HashKey([5; 16]), Config::default())
}

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

fn entry<S: Storage>(t: &ConnTable<S>, v: &Verdict, now: Instant) -> (Status, u32, Option<TcpState>) {
    let e = t.get(v.entry().expect("entry"), now).expect("live entry");
    (e.status(), e.timeout(), e.tcp_state())
}

fn sd(v: &Verdict) -> (Option<CtState>, Option<Direction>) {
    (v.state(), v.dir())
}

const NEW: (Option<CtState>, Option<Direction>) = (Some(CtState::New), Some(Direction::Original));
const EST_ORIG: (Option<CtState>, Option<Direction>) =
    (Some(CtState::Established), Some(Direction::Original));
const EST_REPLY: (Option<CtState>, Option<Direction>) = (Some(CtState::Established), Some(Direction::Reply));

#[test]
fn udp_to_itself_is_a_reply_from_the_second_packet() {
    for a in ["10.2.0.2", "2001:db8::2"].into_iter().take(if IPV6_TRACKED { 2 } else { 1 }) {
        let mut t = table();
        let p = udp(a, 5000, a, 5000, b"x");
        let v = t.track(secs(100), &p);
        assert_eq!(sd(&v), NEW, "{a}");
        let (st, to, _) = entry(&t, &v, secs(100));
        assert!(!st.contains(Status::SEEN_REPLY) && to == 30, "{a}");
        // The same datagram again: found as the reply tuple.
        let v = t.track(secs(100), &p);
        assert_eq!(sd(&v), EST_REPLY, "{a}");
        let (st, to, _) = entry(&t, &v, secs(100));
        assert!(st.contains(Status::SEEN_REPLY) && !st.contains(Status::ASSURED) && to == 30, "{a}");
        // More than 2 s after creation, with a reply seen: ASSURED, 120 s.
        let v = t.track(secs(103), &p);
        assert_eq!(sd(&v), EST_REPLY, "{a}");
        let (st, to, _) = entry(&t, &v, secs(103));
        assert!(st.contains(Status::ASSURED) && to == 120, "{a}");
        assert_eq!(t.len(), 1);
        // A lookup of the flow meets the reply tuple too.
        let tuple = packet_tuple(&p).unwrap();
        let (e, dir) = t.lookup(&tuple, 0, secs(103)).expect("entry");
        assert_eq!((dir, e.orig(), e.reply()), (Direction::Reply, tuple, tuple));
    }
}

#[test]
fn same_address_other_ports_is_an_ordinary_flow() {
    let mut t = table();
    let q = udp("10.2.0.2", 5002, "10.2.0.2", 6002, b"q");
    let a = udp("10.2.0.2", 6002, "10.2.0.2", 5002, b"a");
    assert_eq!(sd(&t.track(secs(1), &q)), NEW);
    assert_eq!(sd(&t.track(secs(1), &q)), NEW, "no reply yet");
    assert_eq!(sd(&t.track(secs(1), &a)), EST_REPLY);
    assert_eq!(sd(&t.track(secs(1), &q)), EST_ORIG);
}

#[test]
fn icmp_error_about_a_flow_to_itself_is_related_reply() {
    let mut t = table();
    let p = udp("10.2.0.2", 5000, "10.2.0.2", 5000, b"x");
    let _ = t.track(secs(1), &p);
    for from in ["10.2.0.2", "10.9.9.9"] {
        let v = t.track(secs(1), &icmp(from, "10.2.0.2", 3, 3, 0, &p[..28]));
        assert_eq!(sd(&v), (Some(CtState::Related), Some(Direction::Reply)), "{from}");
    }
}

#[test]
fn portless_protocol_to_itself() {
    let mut t = table();
    let a = ip("10.2.0.2");
    let p = ip_packet(a, a, 253, b"gggggggg", 64);
    let v = t.track(secs(1), &p);
    assert_eq!(sd(&v), NEW);
    let v = t.track(secs(1), &p);
    assert_eq!(sd(&v), EST_REPLY);
    let (st, to, _) = entry(&t, &v, secs(1));
    assert!(st.contains(Status::SEEN_REPLY) && to == 600);
}

#[test]
fn icmp_echo_to_itself_is_an_ordinary_flow() {
    // Request and reply tuples differ in the ICMP type.
    let mut t = table();
    let req = icmp("10.2.0.2", "10.2.0.2", 8, 0, 9, b"p");
    let rep = icmp("10.2.0.2", "10.2.0.2", 0, 0, 9, b"p");
    assert_eq!(sd(&t.track(secs(1), &req)), NEW);
    assert_eq!(sd(&t.track(secs(1), &rep)), EST_REPLY);
    assert_eq!(sd(&t.track(secs(1), &req)), EST_ORIG);
}

#[test]
fn tcp_connect_to_itself() {
    let mut t = table();
    let b = "10.2.0.2";
    // What a Linux socket connected to its own address and port sends: a
    // SYN, then (simultaneous open with itself) a SYN-ACK with the same
    // sequence number, then data. Every packet after the SYN is a reply,
    // so the entry never leaves SYN_RECV.
    let v = t.track(secs(1), &tcp(b, 7001, b, 7001, SYN, 3000, 0, 1000, b""));
    assert_eq!(sd(&v), NEW);
    assert_eq!(entry(&t, &v, secs(1)).2, Some(TcpState::SynSent));
    let v = t.track(secs(1), &tcp(b, 7001, b, 7001, SYN | ACK, 3000, 3001, 1000, b""));
    assert_eq!(sd(&v), EST_REPLY);
    let (st, to, ts) = entry(&t, &v, secs(1));
    assert!(st.contains(Status::SEEN_REPLY) && to == 60 && ts == Some(TcpState::SynRecv));
    let v = t.track(secs(1), &tcp(b, 7001, b, 7001, PSH | ACK, 3001, 3001, 1000, b"0123456789"));
    assert_eq!(sd(&v), EST_REPLY);
    assert_eq!(entry(&t, &v, secs(1)).2, Some(TcpState::SynRecv));
    // The reply side's window still ends at 3002: seq 3011 is beyond it.
    let v = t.track(secs(1), &tcp(b, 7001, b, 7001, ACK, 3011, 3011, 1000, b""));
    assert_eq!(v.state(), Some(CtState::Invalid));

    // A handshake with two different initial sequence numbers: the ACK
    // acknowledges 5001, but the "receiver" (the original side) has only
    // sent up to 1001.
    let v = t.track(secs(2), &tcp(b, 7000, b, 7000, SYN, 1000, 0, 1000, b""));
    assert_eq!(sd(&v), NEW);
    let v = t.track(secs(2), &tcp(b, 7000, b, 7000, SYN | ACK, 5000, 1001, 1000, b""));
    assert_eq!(sd(&v), EST_REPLY);
    let ack = tcp(b, 7000, b, 7000, ACK, 1001, 5001, 1000, b"");
    assert_eq!(t.track(secs(2), &ack).state(), Some(CtState::Invalid));
    let (e, _) = t.lookup(&packet_tuple(&ack).unwrap(), 0, secs(2)).expect("entry");
    assert_eq!(e.tcp_state(), Some(TcpState::SynRecv));
}
