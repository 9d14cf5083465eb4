//! Behaviour of the table and the connection-less trackers, against Linux's
//! rules (the kernel function behind each rule is cited per test).

mod common;

use common::*;
use ctrack::*;

fn table() -> FixedConnTable<64> {
    ConnTable::new(HashKey([3; 16]), Config::default())
}

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

fn entry<S: Storage>(t: &ConnTable<S>, v: &Verdict, now: Instant) -> (Status, u32) {
    let e = t.get(v.entry().expect("entry"), now).expect("live entry");
    (e.status(), e.timeout())
}

#[test]
fn udp_dns_worked_example_2_9() {
    let mut t = table();
    let q = udp("192.0.2.10", 40000, "198.51.100.53", 53, b"query");
    let a = udp("198.51.100.53", 53, "192.0.2.10", 40000, b"answer");
    let v = t.track(secs(100), &q);
    assert_eq!((v.state(), v.dir()), (Some(CtState::New), Some(Direction::Original)));
    assert_eq!(entry(&t, &v, secs(100)).1, 30);
    // A second query before any reply is NEW again
    // (`nf_conntrack_core.c: resolve_normal_ct()`: original direction, no
    // SEEN_REPLY yet).
    assert_eq!(t.track(secs(100), &q).state(), Some(CtState::New));
    let v = t.track(secs(101), &a);
    assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    let (st, to) = entry(&t, &v, secs(101));
    assert!(st.contains(Status::SEEN_REPLY) && !st.contains(Status::ASSURED));
    assert_eq!(to, 30);
    // 5 s after creation: stream timeout and ASSURED
    // (`nf_conntrack_proto_udp.c: nf_conntrack_udp_packet()`).
    let v = t.track(secs(105), &q);
    assert_eq!(v.state(), Some(CtState::Established));
    let (st, to) = entry(&t, &v, secs(105));
    assert!(st.contains(Status::ASSURED));
    assert_eq!(to, 120);
    assert_eq!(t.len(), 1);
}

/// The stream rule's two seconds run to the millisecond, as Linux's run
/// to the jiffy: a packet 2.001 s after the first one streams, one 2.000 s
/// after it does not, though both lie in the same 1/16 s tick (the
/// resolution of deadlines). On the fast path and the general one (a
/// table with an event sink takes the latter), and across a snapshot.
#[test]
fn the_stream_rule_runs_to_the_millisecond() {
    let ms = Instant::from_millis;
    let q = udp("192.0.2.10", 40000, "198.51.100.53", 53, b"query");
    let a = udp("198.51.100.53", 53, "192.0.2.10", 40000, b"answer");
    // Whether the third packet, at `at`, made a stream of the flow.
    fn streams<S: Storage>(mut t: ConnTable<S>, q: &[u8], a: &[u8], at: u64) -> bool {
        let _ = t.track(Instant::from_millis(1010), q);
        let _ = t.track(Instant::from_millis(1500), a);
        let v = t.track(Instant::from_millis(at), q);
        let (st, to) = entry(&t, &v, Instant::from_millis(at));
        assert_eq!(to, if st.contains(Status::ASSURED) { 120 } else { 30 });
        st.contains(Status::ASSURED)
    }
    for (at, stream) in [(3010, false), (3011, true), (3062, true), (2990, false)] {
        assert_eq!(streams(table(), &q, &a, at), stream, "{at} ms");
        let evented =
            WithEvents::new(FixedStorage::<64, 16, 16>::new(), EventRing::<8>::with_mask(EventMask::ALL));
        let t = ConnTable::with_storage(evented, HashKey([3; 16]), Config::default());
        assert_eq!(streams(t, &q, &a, at), stream, "{at} ms, general path");
    }
    // A snapshot keeps where in its tick the grace ends.
    let mut t = table();
    let _ = t.track(ms(1010), &q);
    let _ = t.track(ms(1500), &a);
    let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 4096]);
    let n = t.snapshot(ms(1600), &mut cursor, &mut buf).unwrap();
    for (at, stream) in [(3010, false), (3011, true)] {
        let mut u = table();
        u.restore(ms(1600), &buf[..n]).unwrap();
        let v = u.track(ms(at), &q);
        assert_eq!(entry(&u, &v, ms(at)).0.contains(Status::ASSURED), stream, "{at} ms, restored");
    }
}

#[test]
fn expired_entries_never_match() {
    let mut t = table();
    let q = udp("10.0.0.1", 1000, "10.0.0.2", 53, b"q");
    let a = udp("10.0.0.2", 53, "10.0.0.1", 1000, b"a");
    let _ = t.track(secs(10), &q);
    assert_eq!(t.track(secs(39), &a).state(), Some(CtState::Established));
    // 30 s after the last packet the entry is gone: the same datagram is NEW.
    let v = t.track(secs(69), &a);
    assert_eq!((v.state(), v.dir()), (Some(CtState::New), Some(Direction::Original)));
    assert_eq!(t.entries(secs(69)).count(), 1);
    assert_eq!(t.gc(secs(1000), 64), 1);
    assert!(t.is_empty());
}

#[test]
fn two_step_confirmation() {
    let mut t = table();
    let q = udp("10.0.0.1", 1000, "10.0.0.2", 53, b"q");
    let a = udp("10.0.0.2", 53, "10.0.0.1", 1000, b"a");
    // Classified but dropped by the firewall: no trace (only
    // `nf_conntrack_core.c: __nf_conntrack_confirm()` inserts an entry).
    let v = t.classify(secs(1), &q, Meta::default());
    assert!(matches!(v, Verdict::Tracked(t) if t.is_unconfirmed()));
    assert_eq!(t.len(), 1);
    assert_eq!(t.entries(secs(1)).count(), 0, "unconfirmed entries are not listed");
    t.discard(&v);
    assert!(t.is_empty());
    // Classified, not yet confirmed: the reply cannot find it.
    let mut v = t.classify(secs(2), &q, Meta::default());
    let r = t.classify(secs(2), &a, Meta::default());
    assert_eq!((r.state(), r.dir()), (Some(CtState::New), Some(Direction::Original)));
    t.discard(&r);
    t.confirm(&mut v, &q).unwrap();
    let r = t.track(secs(2), &a);
    assert_eq!((r.state(), r.dir()), (Some(CtState::Established), Some(Direction::Reply)));
}

#[test]
fn insert_clash_udp_merges_tcp_drops() {
    let mut t = table();
    let q = udp("10.0.0.1", 1000, "10.0.0.2", 53, b"q");
    let mut v1 = t.classify(secs(1), &q, Meta::default());
    let mut v2 = t.classify(secs(1), &q, Meta::default());
    t.confirm(&mut v1, &q).unwrap();
    t.confirm(&mut v2, &q).unwrap();
    assert_eq!(v1.entry(), v2.entry(), "the loser is merged into the winner (nf_ct_resolve_clash())");
    assert_eq!(t.len(), 1);
    assert_eq!(t.stats().clash_resolve, 1);
    // Confirmed the other way round: the last entry created is confirmed
    // first (nothing became visible since its creation, no search needed),
    // then the first one meets it.
    let q = udp("10.0.0.1", 1001, "10.0.0.2", 53, b"q");
    let mut w1 = t.classify(secs(1), &q, Meta::default());
    let mut w2 = t.classify(secs(1), &q, Meta::default());
    t.confirm(&mut w2, &q).unwrap();
    t.confirm(&mut w1, &q).unwrap();
    assert_eq!(w1.entry(), w2.entry());
    assert_eq!((t.len(), t.stats().clash_resolve), (2, 2));

    let syn = tcp("10.0.0.1", 2000, "10.0.0.2", 80, SYN, 1, 0, 1000, b"");
    let mut s1 = t.classify(secs(1), &syn, Meta::default());
    let mut s2 = t.classify(secs(1), &syn, Meta::default());
    t.confirm(&mut s1, &syn).unwrap();
    assert_eq!(t.confirm(&mut s2, &syn), Err(DropReason::InsertClash));
    assert_eq!(t.len(), 3);
    assert_eq!((t.stats().insert_failed, t.stats().drop), (1, 1));
}

#[test]
fn icmp_echo_and_errors_5() {
    let mut t = table();
    let req = icmp("192.0.2.10", "198.51.100.7", 8, 0, 4711, b"ping");
    let rep = icmp("198.51.100.7", "192.0.2.10", 0, 0, 4711, b"ping");
    assert_eq!(t.track(secs(1), &req).state(), Some(CtState::New));
    let v = t.track(secs(1), &rep);
    assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    assert_eq!(entry(&t, &v, secs(1)).1, 30);
    // Unsolicited echo reply: INVALID, counted as invalid.
    let stray = icmp("198.51.100.7", "192.0.2.10", 0, 0, 99, b"x");
    assert_eq!(t.track(secs(1), &stray), Verdict::Invalid(Reason::UnsolicitedReply));
    assert_eq!(t.stats().invalid, 1);
    // Time exceeded from a router, quoting the echo request: RELATED reply.
    let quote = &req[..28];
    let te = icmp("203.0.113.1", "192.0.2.10", 11, 0, 0, quote);
    let v = t.track(secs(2), &te);
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Reply)));
    // The same error sent to someone else: outer daddr != inner.
    let forged = icmp("203.0.113.1", "192.0.2.99", 11, 0, 0, quote);
    assert_eq!(t.track(secs(2), &forged), Verdict::Invalid(Reason::IcmpErrorWrongDestination));
    // An error about a flow nobody tracks.
    let q = udp("192.0.2.10", 40000, "198.51.100.53", 53, b"q");
    let unreach = icmp("198.51.100.53", "192.0.2.10", 3, 3, 0, &q[..28]);
    assert_eq!(t.track(secs(2), &unreach), Verdict::Invalid(Reason::IcmpErrorNoEntry));
    assert_eq!(t.stats().error, 2);
    // Once the UDP flow exists, the port unreachable is RELATED to it.
    let _ = t.track(secs(3), &q);
    let v = t.track(secs(3), &unreach);
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Reply)));
    // Errors never refresh the entry they relate to.
    assert_eq!(entry(&t, &v, secs(3)).1, 30);
}

#[test]
fn icmp_types_without_inverse_are_invalid() {
    let mut t = table();
    let ra = icmp("10.0.0.1", "10.0.0.2", 9, 0, 0, b"");
    assert_eq!(t.track(secs(1), &ra), Verdict::Invalid(Reason::NotInvertible));
    let bad_type = icmp("10.0.0.1", "10.0.0.2", 42, 0, 0, b"");
    assert_eq!(t.track(secs(1), &bad_type), Verdict::Invalid(Reason::BadIcmpType));
    assert!(t.is_empty());
}

#[test]
#[cfg(not(feature = "ipv4-only"))] // IPv6 only
fn icmpv6_neighbour_discovery_is_untracked() {
    let mut t = table();
    for ty in [133u8, 134, 135, 136, 130, 143] {
        let p = icmp_ttl("fe80::1", "ff02::1", ty, 0, 0, &[0; 16], 255);
        assert_eq!(t.track(secs(1), &p), Verdict::Untracked, "type {ty}");
    }
    let echo = icmp("2001:db8::1", "2001:db8::2", 128, 0, 7, b"x");
    assert_eq!(t.track(secs(1), &echo).state(), Some(CtState::New));
    let line = t.entries(secs(1)).next().unwrap().to_string();
    assert_eq!(
        line,
        "icmpv6   58 30 src=2001:db8::1 dst=2001:db8::2 type=128 code=0 id=7 [UNREPLIED] \
         src=2001:db8::2 dst=2001:db8::1 type=129 code=0 id=7 mark=0 use=1"
    );
}

/// What IPv6 input drops before conntrack (`ip6_rcv_core()`,
/// `ip6_parse_tlv()`) is INVALID with its reason and makes no entry; a
/// payload length of 0 before a hop-by-hop header is read to the packet's
/// end; an IPv4-compatible address is listed as `conntrack -L` prints it.
#[test]
#[cfg(not(feature = "ipv4-only"))] // IPv6 only
fn ipv6_input_before_conntrack() {
    let mut t = table();
    let c = "2001:db8::1";
    for (src, dst) in [("ff02::1", c), (c, "ff01::1"), (c, "ff00::1")] {
        let v = t.track(secs(1), &udp(src, 1000, dst, 53, b"q"));
        assert_eq!(v, Verdict::Invalid(Reason::BadIpv6Address), "{src} > {dst}");
    }
    // A hop-by-hop header (next header 0) of 8 bytes before the datagram.
    let with_hop_by_hop = |options: [u8; 6], payload_len: Option<u16>| {
        let mut p = udp(c, 1000, "2001:db8::2", 53, b"q");
        let mut hbh = vec![17, 0];
        hbh.extend_from_slice(&options);
        p.splice(40..40, hbh);
        p[6] = 0;
        let n = payload_len.unwrap_or(p.len() as u16 - 40);
        p[4..6].copy_from_slice(&n.to_be_bytes());
        p
    };
    // An unknown option whose type says "discard" (RFC 8200 § 4.2).
    let refused = with_hop_by_hop([0x5e, 4, 0, 0, 0, 0], None);
    assert_eq!(t.track(secs(1), &refused), Verdict::Invalid(Reason::BadHopByHopOptions));
    assert!(t.is_empty());
    // Skipped options, and a payload length of 0: the packet is tracked.
    let zero = with_hop_by_hop([0x1e, 4, 0, 0, 0, 0], Some(0));
    assert_eq!(t.track(secs(1), &zero).state(), Some(CtState::New));
    let back = t.track(secs(1), &udp("2001:db8::2", 53, c, 1000, b"a"));
    assert_eq!((back.state(), back.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    let v = t.track(secs(1), &udp(c, 1001, "::10.2.0.2", 53, b"q"));
    assert_eq!(
        t.get(v.entry().unwrap(), secs(1)).unwrap().to_string(),
        "udp      17 30 src=2001:db8::1 dst=::10.2.0.2 sport=1001 dport=53 [UNREPLIED] \
         src=::10.2.0.2 dst=2001:db8::1 sport=53 dport=1001 mark=0 use=1"
    );
}

#[test]
fn generic_protocol_is_one_entry_both_ways() {
    let mut t = table();
    let esp = ip_packet(ip("10.0.0.1"), ip("10.0.0.2"), 50, &[0; 16], 64);
    let back = ip_packet(ip("10.0.0.2"), ip("10.0.0.1"), 50, &[0; 16], 64);
    assert_eq!(t.track(secs(1), &esp).state(), Some(CtState::New));
    let v = t.track(secs(1), &back);
    assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    assert_eq!(entry(&t, &v, secs(1)).1, 600);
    assert_eq!(
        t.get(v.entry().unwrap(), secs(1)).unwrap().to_string(),
        "unknown  50 600 src=10.0.0.1 dst=10.0.0.2 src=10.0.0.2 dst=10.0.0.1 mark=0 use=1"
    );
}

#[test]
fn notrack_and_zones() {
    let mut t = table();
    let q = udp("10.0.0.1", 1000, "10.0.0.2", 53, b"q");
    assert_eq!(t.track_with(secs(1), &q, Meta::default().with_notrack(true)), Verdict::Untracked);
    assert!(t.is_empty());
    let a = t.track_with(secs(1), &q, Meta::default().with_zone(1));
    let b = t.track_with(secs(1), &q, Meta::default().with_zone(2));
    assert_eq!((a.state(), b.state()), (Some(CtState::New), Some(CtState::New)));
    assert_ne!(a.entry(), b.entry(), "equal tuples in different zones are different connections");
    let line = t.get(b.entry().unwrap(), secs(1)).unwrap().to_string();
    assert!(line.ends_with("mark=0 zone=2 use=1"), "{line}");
}

#[test]
fn early_drop_evicts_only_unassured_entries() {
    let mut cfg = Config::default();
    cfg.max_entries = 4;
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([9; 16]), cfg);
    for p in 0..4u16 {
        let _ = t.track(secs(1), &udp("10.0.0.1", 1000 + p, "10.0.0.2", 53, b"q"));
    }
    assert_eq!(t.len(), 4);
    // Full: the new flow evicts a non-assured entry of its probe window.
    let v = t.track(secs(1), &udp("10.0.0.1", 2000, "10.0.0.2", 53, b"q"));
    assert_eq!(v.state(), Some(CtState::New));
    assert_eq!((t.len(), t.stats().early_drop), (4, 1));

    // Make every entry ASSURED: nothing can be evicted, the packet is dropped.
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([9; 16]), cfg);
    for p in 0..4u16 {
        let _ = t.track(secs(1), &udp("10.0.0.1", 1000 + p, "10.0.0.2", 53, b"q"));
        let _ = t.track(secs(1), &udp("10.0.0.2", 53, "10.0.0.1", 1000 + p, b"a"));
        let _ = t.track(secs(5), &udp("10.0.0.1", 1000 + p, "10.0.0.2", 53, b"q"));
    }
    assert!(t.entries(secs(5)).all(|e| e.status().contains(Status::ASSURED)));
    let v = t.track(secs(5), &udp("10.0.0.1", 2000, "10.0.0.2", 53, b"q"));
    assert_eq!(v, Verdict::Dropped(DropReason::TableFull));
    assert_eq!((t.len(), t.stats().drop), (4, 1));
}

#[test]
fn malformed_packets_are_invalid_with_reasons() {
    let mut t = table();
    let q = udp("10.0.0.1", 1000, "10.0.0.2", 53, b"query");
    let mut bad_sum = q.clone();
    *bad_sum.last_mut().unwrap() ^= 0xff;
    assert_eq!(t.track(secs(1), &bad_sum), Verdict::Invalid(Reason::BadChecksum));
    t.config_mut().checksum = false;
    assert_eq!(t.track(secs(1), &bad_sum).state(), Some(CtState::New));
    let mut bad_len = q.clone();
    bad_len[24..26].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(t.track(secs(1), &bad_len), Verdict::Invalid(Reason::BadUdpLength));
    assert_eq!(t.track(secs(1), &q[..24]), Verdict::Invalid(Reason::BadIpv4Header));
    // An IPv4-only table refuses any IPv6 packet for its family first, and
    // does not count it as INVALID.
    let (v6, counted) = if IPV6_TRACKED { (Reason::BadIpv6Header, 5) } else { (Reason::FamilyNotTracked, 4) };
    assert_eq!(t.track(secs(1), &[0x60; 10]), Verdict::Invalid(v6));
    assert_eq!(t.track(secs(1), b""), Verdict::Invalid(Reason::NotIp));
    assert_eq!(t.stats().invalid, counted);
}

/// Checksums are verified whatever the payload's length: around the
/// lengths where the fast paths sum differently (32 bits at a time below
/// 128-byte packets, 8 bytes an addition from 64 bytes of data in longer
/// ones) and up to a 1,500-byte packet, UDP and TCP, over IPv4 and IPv6,
/// one packet at a time and in a batch: the packet is tracked, and with
/// any one payload byte changed it is INVALID.
#[test]
fn checksums_of_any_length_are_verified() {
    let hosts: &[(&str, &str)] = if IPV6_TRACKED {
        &[("10.0.0.1", "10.0.0.2"), ("2001:db8::1", "2001:db8::2")]
    } else {
        &[("10.0.0.1", "10.0.0.2")]
    };
    for &(a, b) in hosts {
        for len in [
            1usize, 7, 31, 32, 33, 63, 64, 65, 71, 72, 95, 96, 100, 101, 127, 128, 200, 1000, 1432, 1452,
            1472,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8 | 0x80).collect();
            let sport = 1000 + len as u16;
            let packets = [udp(a, sport, b, 53, &data), tcp(a, sport, b, 80, SYN, 7, 0, 1000, &data)];
            for good in packets {
                let data_at = good.len() - len;
                for flip in [data_at, data_at + len / 2, good.len() - 1] {
                    let mut bad = good.clone();
                    bad[flip] ^= 0x5a;
                    let mut t = table();
                    let what = format!("{a} {len} bytes, byte {flip} of {}", good.len());
                    assert_eq!(t.track(secs(1), &bad), Verdict::Invalid(Reason::BadChecksum), "{what}");
                    let mut batch = Vec::new();
                    t.track_batch(secs(1), &[&bad, &good, &bad], |_, v| batch.push(v));
                    assert_eq!(batch[0], Verdict::Invalid(Reason::BadChecksum), "{what}");
                    assert_eq!(batch[1].state(), Some(CtState::New), "{what}");
                    assert_eq!(batch[2], Verdict::Invalid(Reason::BadChecksum), "{what}");
                    assert_eq!(t.track(secs(1), &good).state(), Some(CtState::New), "{what}");
                    assert_eq!((t.len(), t.stats().invalid), (1, 3), "{what}");
                }
            }
        }
    }
}

#[test]
fn conntrack_listing_and_stats_format() {
    let mut t = table();
    let _ = t.track(secs(1), &udp("192.0.2.10", 40000, "198.51.100.53", 53, b"q"));
    let lines: Vec<String> = t.entries(secs(2)).map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        ["udp      17 29 src=192.0.2.10 dst=198.51.100.53 sport=40000 dport=53 [UNREPLIED] \
          src=198.51.100.53 dst=192.0.2.10 sport=53 dport=40000 mark=0 use=1"]
    );
    assert!(t.stats().to_string().starts_with("cpu=0   \tfound=0 invalid=0 insert=0"));
}

/// Regression (found by the `track_sequence` fuzz target): with
/// `max_entries` below the capacity, early drop could evict an entry lying
/// past the new flow's first free slot and put the new entry there, where
/// no lookup reaches it.
#[test]
fn entries_created_at_the_limit_stay_reachable() {
    let mut cfg = Config::default();
    cfg.max_entries = 2;
    cfg.checksum = false;
    let mut t: FixedConnTable<8> = ConnTable::new(HashKey([0; 16]), cfg);
    for port in 1000..1100u16 {
        let q = udp("10.0.0.1", port, "10.0.0.2", 53, b"");
        let v = t.track(secs(1), &q);
        assert_eq!(v.state(), Some(CtState::New));
        let tuple = packet_tuple(&q).unwrap();
        let (found, dir) = t.lookup(&tuple, 0, secs(1)).expect("the new entry is reachable");
        assert_eq!((Some(found.handle()), dir), (v.entry(), Direction::Original));
        let a = t.track(secs(1), &udp("10.0.0.2", 53, "10.0.0.1", port, b""));
        assert_eq!((a.state(), a.dir()), (Some(CtState::Established), Some(Direction::Reply)), "port {port}");
        assert!(t.len() <= 2);
    }
}

/// Time never wraps: a Unix-epoch clock in milliseconds, a century of
/// uptime, timeouts up to `u32::MAX` seconds, and an expired entry that no
/// `gc` ever reaped, all behave as on the first day.
#[test]
fn a_century_of_uptime() {
    const YEAR_MS: u64 = 365 * 86_400_000;
    let epoch = 1_800_000_000_000u64; // a Unix-epoch clock, in 2027
    let at = |ms: u64| Instant::from_millis(epoch + ms);
    let q = udp("10.0.0.1", 1000, "10.0.0.2", 53, b"q");
    let a = udp("10.0.0.2", 53, "10.0.0.1", 1000, b"a");

    // An entry nobody reaps stays expired, however long after: the answer
    // 6.4 years later (past where 32-bit ticks of 1/16 s came back round)
    // and 100 years later is NEW again.
    let mut t = table();
    assert_eq!(t.track(at(0), &q).state(), Some(CtState::New));
    for later in [(3u64 << 30) * 1000 / 16, 100 * YEAR_MS] {
        let v = t.track(at(later), &a);
        assert_eq!((v.state(), v.dir()), (Some(CtState::New), Some(Direction::Original)), "{later} ms");
        t.discard(&v);
    }

    // The longest timeout is exact, and a replied flow stays a stream for
    // years: a packet 5 years on is still ESTABLISHED, ASSURED, with the
    // whole timeout left.
    let mut cfg = Config::default();
    cfg.timeouts.udp_stream = u32::MAX;
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), cfg);
    let _ = t.track(at(0), &q);
    let _ = t.track(at(1_000), &a);
    let v = t.track(at(5_000), &q);
    assert_eq!(
        entry(&t, &v, at(5_000)),
        (Status::SEEN_REPLY | Status::ASSURED | Status::CONFIRMED, u32::MAX)
    );
    let later = 5 * YEAR_MS;
    let v = t.track(at(later), &q);
    assert_eq!(v.state(), Some(CtState::Established));
    assert_eq!(entry(&t, &v, at(later)).1, u32::MAX);
    assert_eq!(t.gc(at(later), 64), 0, "nothing has expired");

    // A century on, a new flow works as on the first day.
    let now = at(100 * YEAR_MS);
    let _ = t.gc(now, 64);
    let q2 = udp("10.0.0.3", 1000, "10.0.0.2", 53, b"q");
    let a2 = udp("10.0.0.2", 53, "10.0.0.3", 1000, b"a");
    assert_eq!(t.track(now, &q2).state(), Some(CtState::New));
    let v = t.track(now, &a2);
    assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    assert_eq!(entry(&t, &v, now).1, 30);
}

/// Long packets that no fast path takes (IPv4 options, another protocol,
/// an IPv6 packet whose byte 9 says UDP, a version that is neither) are
/// classified by the general path, as short ones are.
#[test]
fn long_packets_off_the_fast_paths_are_classified() {
    let data = [0xabu8; 400];
    let mut with_options = udp("10.0.0.1", 1000, "10.0.0.2", 53, &data);
    // IHL 6: a 4-byte option (end of list) inserted after the header.
    with_options.splice(20..20, [0u8; 4]);
    with_options[0] = 0x46;
    let total = with_options.len() as u16;
    with_options[2..4].copy_from_slice(&total.to_be_bytes());
    with_options[10..12].copy_from_slice(&[0, 0]);
    let sum = with_options[..24].chunks(2).fold(0u32, |s, w| s + u32::from(u16::from_be_bytes([w[0], w[1]])));
    let sum = (sum & 0xffff) + (sum >> 16);
    with_options[10..12].copy_from_slice(&(!(((sum & 0xffff) + (sum >> 16)) as u16)).to_be_bytes());
    let mut t = table();
    assert_eq!(t.track(secs(1), &with_options).state(), Some(CtState::New));
    let mut unknown_version = with_options.clone();
    unknown_version[0] = 0x55;
    assert_eq!(t.track(secs(1), &unknown_version), Verdict::Invalid(Reason::NotIp));
    // 2a11::/16: byte 9 of the packet, its source address's second byte, is 17.
    if IPV6_TRACKED {
        let v6 = udp("2a11::1", 1000, "2001:db8::2", 53, &data);
        assert_eq!(v6[9], 17);
        assert_eq!(t.track(secs(1), &v6).state(), Some(CtState::New));
        let v6_tcp = tcp("2a11::1", 1000, "2001:db8::2", 80, SYN, 7, 0, 1000, &data);
        assert_eq!(t.track(secs(1), &v6_tcp).state(), Some(CtState::New));
    }
    let mut batch = Vec::new();
    t.track_batch(secs(1), &[&with_options, &unknown_version], |_, v| batch.push(v));
    assert_eq!(batch[0].state(), Some(CtState::New));
    assert_eq!(batch[1], Verdict::Invalid(Reason::NotIp));
}
