//! The control plane: `conntrack -D` by tuple and by filter, `conntrack -F
//! expect` and `conntrack -D expect`, on fixed and growable tables.

mod common;

use common::*;
use ctrack::helper::builtin;
use ctrack::*;

fn at(ms: u64) -> Instant {
    Instant::from_millis(7_000_000 + ms)
}

const C: &str = "192.168.1.10";
const S: &str = "198.51.100.5";

/// An FTP control connection whose server announced a passive data port
/// (one expectation pending).
fn ftp_with_expectation<St: Storage>(t: &mut ConnTable<St>, cport: u16) {
    let (c, s) = (1000u32, 5000u32);
    for p in [
        tcp(C, cport, S, 21, SYN, c - 1, 0, 64240, b""),
        tcp(S, 21, C, cport, SYN | ACK, s - 1, c, 64240, b""),
        tcp(C, cport, S, 21, ACK, c, s, 64240, b""),
    ] {
        assert!(!t.track(at(0), &p).must_drop());
    }
    let banner = b"220 ready\r\n";
    let _ = t.track(at(1), &tcp(S, 21, C, cport, PSH | ACK, s, c, 64240, banner));
    let s = s + banner.len() as u32;
    let port = cport + 10_000;
    let pasv = format!("227 Entering Passive Mode (198,51,100,5,{},{}).\r\n", port >> 8, port & 0xff);
    let v = t.track(at(1), &tcp(S, 21, C, cport, PSH | ACK, s, c, 64240, pasv.as_bytes()));
    assert!(!v.must_drop());
}

fn delete_by_tuple<St: Storage>(t: &mut ConnTable<St>) {
    let q = udp(C, 1000, S, 53, b"q");
    let _ = t.track_with(at(0), &q, Meta::default().with_zone(4));
    let orig = packet_tuple(&q).unwrap();
    assert!(!t.delete_tuple(&orig, 0, at(0)), "zone 0 has no such connection");
    assert!(t.delete_tuple(&orig.invert().unwrap(), 4, at(0)), "by the reply tuple");
    assert!(!t.delete_tuple(&orig, 4, at(0)), "gone");
    assert!(t.is_empty());
    // Expired connections are not there to delete.
    let _ = t.track(at(0), &q);
    assert!(!t.delete_tuple(&orig, 0, at(31_000)));
    // Gone with its expectations: a master deleted by tuple takes them.
    t.add_builtin_helper(builtin("ftp").unwrap()).unwrap();
    ftp_with_expectation(t, 40001);
    assert_eq!(t.expectations(at(2)).count(), 1);
    let ctl = packet_tuple(&tcp(C, 40001, S, 21, ACK, 0, 0, 0, b"")).unwrap();
    assert!(t.delete_tuple(&ctl, 0, at(2)));
    assert_eq!(t.expectations(at(2)).count(), 0);
    // Its packets are NEW again (or, without loose pickup of a SYN, a new
    // entry from an ACK: here loose pickup is on).
    let v = t.track(at(3), &tcp(C, 40001, S, 21, ACK, 1000, 5000, 64240, b""));
    assert_eq!(v.state(), Some(CtState::New));
}

#[test]
fn delete_by_tuple_fixed() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([5; 16]), Config::default());
    delete_by_tuple(&mut t);
}

#[test]
fn delete_by_tuple_growable() {
    delete_by_tuple(&mut ConnTable::growable(8, HashKey([5; 16]), Config::default()));
}

#[test]
fn delete_by_filter() {
    let mut t: FixedConnTable<256> = ConnTable::new(HashKey([5; 16]), Config::default());
    for k in 0..20u16 {
        let zone = k % 2;
        let _ = t.track_with(at(0), &udp(C, 1000 + k, S, 53, b"q"), Meta::default().with_zone(zone));
        if k % 4 == 0 {
            let v = t.track_with(at(1), &udp(S, 53, C, 1000 + k, b"a"), Meta::default().with_zone(zone));
            assert_eq!(v.state(), Some(CtState::Established));
        }
    }
    let _ = t.track(at(0), &udp("2001:db8::1", 5000, "2001:db8::2", 53, b"q"));
    let _ = t.track(at(0), &tcp(C, 41000, S, 80, SYN, 1, 0, 64240, b""));
    // (An IPv4-only table keeps no IPv6 entry.)
    let v6 = usize::from(IPV6_TRACKED);
    assert_eq!(t.len(), 21 + v6);
    // conntrack -D -p tcp
    assert_eq!(t.delete_where(at(2), |e| e.orig().proto() == 6), 1);
    // conntrack -D -f ipv6
    assert_eq!(t.delete_where(at(2), |e| e.orig().family() == Family::Ipv6), v6);
    // conntrack -D -w 1 --status SEEN_REPLY... in zone 1: k = 1, 3, ... none
    // replied (k % 4 == 0 are even, zone 0).
    assert_eq!(t.delete_where(at(2), |e| e.zone() == 1 && e.status().contains(Status::SEEN_REPLY)), 0);
    // conntrack -D -w 0 -u UNREPLIED: the 5 even k that are not multiples of 4.
    assert_eq!(t.delete_where(at(2), |e| e.zone() == 0 && !e.status().contains(Status::SEEN_REPLY)), 5);
    // conntrack -D --orig-port-src 1004
    assert_eq!(t.delete_where(at(2), |e| e.orig().sport() == Some(1004)), 1);
    assert_eq!(t.len(), 14);
    // Every remaining one is still found; the deleted are not.
    for e in t.entries(at(2)) {
        assert!(t.lookup(&e.orig(), e.zone(), at(2)).is_some());
    }
    let gone = packet_tuple(&udp(C, 1004, S, 53, b"")).unwrap();
    assert!(t.lookup(&gone, 0, at(2)).is_none());
    // conntrack -F: a filter that takes all.
    assert_eq!(t.delete_where(at(2), |_| true), 14);
    assert!(t.is_empty());
    // Expired entries are not offered to the filter.
    let _ = t.track(at(0), &udp(C, 1, S, 53, b"q"));
    let mut seen = 0;
    assert_eq!(
        t.delete_where(at(60_000), |_| {
            seen += 1;
            true
        }),
        0
    );
    assert_eq!(seen, 0);
}

#[test]
fn flush_and_delete_expectations() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([5; 16]), Config::default());
    t.add_builtin_helper(builtin("ftp").unwrap()).unwrap();
    for cport in [40001, 40002, 40003] {
        ftp_with_expectation(&mut t, cport);
    }
    assert_eq!(t.expectations(at(2)).count(), 3);
    // conntrack -D expect for one master's (and one filter that takes none).
    let master = packet_tuple(&tcp(C, 40002, S, 21, ACK, 0, 0, 0, b"")).unwrap();
    assert_eq!(t.delete_expectations_where(at(2), |x| x.helper_name() == Some("sip")), 0);
    let n = t.delete_expectations_where(at(2), |x| {
        assert_eq!(x.zone(), 0);
        assert!(x.timeout() > 0);
        x.master() == master
    });
    assert_eq!(n, 1);
    let left: Vec<u16> = t.expectations(at(2)).map(|x| x.expectation().tuple().dport().unwrap()).collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&50002));
    // The deleted one no longer makes its connection RELATED.
    let v = t.track(at(3), &tcp(C, 45000, S, 50002, SYN, 1, 0, 64240, b""));
    assert_eq!(v.state(), Some(CtState::New));
    let v = t.track(at(3), &tcp(C, 45001, S, 50001, SYN, 1, 0, 64240, b""));
    assert_eq!(v.state(), Some(CtState::Related));
    // conntrack -F expect: the masters stay.
    let entries = t.entries(at(3)).count();
    assert_eq!(t.flush_expectations(), 1);
    assert_eq!(t.expectations(at(3)).count(), 0);
    assert_eq!(t.entries(at(3)).count(), entries);
    let v = t.track(at(4), &tcp(C, 45002, S, 50003, SYN, 1, 0, 64240, b""));
    assert_eq!(v.state(), Some(CtState::New));
    // New expectations can be made afterwards.
    ftp_with_expectation(&mut t, 40004);
    assert_eq!(t.expectations(at(4)).count(), 1);
}
