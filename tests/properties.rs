//! Property tests: invariants of the table under arbitrary traffic, and
//! totality of the packet path on arbitrary and mutated bytes.

mod common;

use common::*;
use ctrack::*;
use proptest::prelude::*;

/// A packet from a small universe of flows, so that flows repeat, reply,
/// collide in the table and expire.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    let hosts = host_pair(&["10.0.0.1", "10.0.0.2", "10.0.0.3"], &["2001:db8::1", "2001:db8::2"]);
    let port = prop::sample::select(vec![53u16, 80, 1000, 1001]);
    (hosts, port.clone(), port, 0u8..6, any::<u8>(), any::<u32>()).prop_map(
        |((s, d), sp, dp, kind, flags, seq)| match kind {
            0 => udp(s, sp, d, dp, b"x"),
            1 => tcp(s, sp, d, dp, flags, seq % 4, seq % 3, 1000, b""),
            2 => tcp(
                s,
                sp,
                d,
                dp,
                [SYN, SYN | ACK, ACK, FIN | ACK, RST][flags as usize % 5],
                seq % 4,
                seq % 3,
                1000,
                b"d",
            ),
            3 => icmp(s, d, [8u8, 0, 128, 129][flags as usize % 4], 0, sp, b""),
            4 => icmp(s, d, [3u8, 11, 1, 2][flags as usize % 4], 0, 0, &udp(d, dp, s, sp, b"x")),
            _ => ip_packet(ip(s), ip(d), 50, &[0; 8], 64),
        },
    )
}

fn check_invariants<S: Storage>(t: &ConnTable<S>, now: Instant) -> Result<(), TestCaseError> {
    prop_assert!(t.len() <= t.capacity());
    let live: Vec<EntryRef<'_>> = t.entries(now).collect();
    prop_assert!(live.len() <= t.len());
    for e in live {
        prop_assert!(e.timeout() <= 432_000);
        // Both directions of a live entry find that entry, with the right direction.
        let (o, od) = t.lookup(&e.orig(), e.zone(), now).expect("original lookup");
        prop_assert_eq!(o.handle(), e.handle());
        let (r, rd) = t.lookup(&e.reply(), e.zone(), now).expect("reply lookup");
        prop_assert_eq!(r.handle(), e.handle());
        if e.orig() != e.reply() {
            prop_assert_eq!((od, rd), (Direction::Original, Direction::Reply));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn table_invariants_under_random_traffic(
        steps in prop::collection::vec((packet(), 0u64..40_000, 0u8..4), 1..120)
    ) {
        let mut t: FixedConnTable<8> = ConnTable::new(HashKey([5; 16]), Config::default());
        let mut now = 1_000_000u64;
        for (p, dt, action) in steps {
            now += dt;
            let at = Instant::from_millis(now);
            let mut v = t.classify(at, &p, Meta::default());
            match action {
                0 => t.discard(&v),
                _ => { let _ = t.confirm(&mut v, &p); }
            }
            if action == 3 {
                t.gc(at, 3);
            }
            check_invariants(&t, at)?;
        }
        // Far in the future nothing matches any more and gc reclaims all.
        let later = Instant::from_millis(now + 433_000_000);
        prop_assert_eq!(t.entries(later).count(), 0);
        t.gc(later, t.capacity());
        prop_assert!(t.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
        let mut t: FixedConnTable<8> = ConnTable::new(HashKey([6; 16]), Config::default());
        let mut b = bytes;
        // Give most inputs a plausible version nibble to get past the first check.
        if let Some(first) = b.first_mut() {
            *first = (*first & 0x0f) | if v6 { 0x60 } else { 0x40 };
        }
        for checksum in [true, false] {
            t.config_mut().checksum = checksum;
            let _ = t.track(Instant::from_secs(1), &b);
            check_invariants(&t, Instant::from_secs(1))?;
        }
    }
}

/// Every frame of every vendored capture, with bytes flipped, truncated and
/// overwritten, never makes the table panic or break its invariants.
#[test]
fn mutated_corpus_frames_never_panic() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut packets = Vec::new();
    for cat in std::fs::read_dir(&data).unwrap().flatten().filter(|e| e.path().is_dir()) {
        for f in std::fs::read_dir(cat.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|e| e == "pcap") {
                for fr in ctrack_capture::read_capture(&f.path()).unwrap() {
                    if let ctrack_capture::FrameContent::Ip(p) = fr.content {
                        packets.push(p);
                    }
                }
            }
        }
    }
    assert!(packets.len() > 5000);
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([8; 16]), Config::default());
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for (k, p) in packets.iter().enumerate() {
        let now = Instant::from_millis(1_000_000 + k as u64 * 50);
        for _ in 0..4 {
            let mut m = p.clone();
            match next() % 4 {
                0 => {
                    let i = next() as usize % m.len().max(1);
                    if let Some(b) = m.get_mut(i) {
                        *b ^= 1 << (next() % 8);
                    }
                }
                1 => m.truncate(next() as usize % (m.len() + 1)),
                2 => {
                    let i = next() as usize % m.len().max(1);
                    if let Some(b) = m.get_mut(i) {
                        *b = next() as u8;
                    }
                }
                _ => m.extend((0..next() % 16).map(|_| next() as u8)),
            }
            t.config_mut().checksum = next() % 2 == 0;
            let _ = t.track(now, &m);
        }
        if k % 97 == 0 {
            assert!(t.len() <= t.capacity());
            for e in t.entries(now) {
                assert_eq!(t.lookup(&e.orig(), e.zone(), now).unwrap().0.handle(), e.handle());
            }
        }
    }
}

proptest! {
    /// A batch gives the verdicts one packet after the other would, and
    /// leaves the same table, whatever the mix of flows, repeats and
    /// replies in it (and in a table small enough to evict), with the
    /// same options for every packet (`track_batch_with`; plain
    /// `track_batch` for the default ones).
    #[test]
    fn a_batch_is_the_packets_one_by_one(
        bursts in prop::collection::vec(prop::collection::vec(packet(), 0..40), 1..6),
        zone in prop_oneof![4 => Just(0u16), 1 => 1u16..3],
        notrack in prop::bool::weighted(0.1),
    ) {
        let meta = Meta::default().with_zone(zone).with_notrack(notrack);
        let key = HashKey([6; 16]);
        let mut one: FixedConnTable<64> = ConnTable::new(key, Config::default());
        let mut batch: FixedConnTable<64> = ConnTable::new(key, Config::default());
        for (b, burst) in bursts.iter().enumerate() {
            let now = Instant::from_millis(1_000_000 + b as u64 * 7_000);
            let expected: Vec<Verdict> = burst.iter().map(|p| one.track_with(now, p, meta)).collect();
            let packets: Vec<&[u8]> = burst.iter().map(Vec::as_slice).collect();
            let mut got = Vec::new();
            if meta == Meta::default() {
                batch.track_batch(now, &packets, |i, v| got.push((i, v)));
            } else {
                batch.track_batch_with(now, &packets, meta, |i, v| got.push((i, v)));
            }
            prop_assert_eq!(got.len(), expected.len());
            for ((i, v), e) in got.iter().zip(&expected) {
                prop_assert_eq!((v.state(), v.dir(), v.reason()), (e.state(), e.dir(), e.reason()), "packet {}", i);
            }
            let lines = |t: &FixedConnTable<64>| t.entries(now).map(|e| e.to_string()).collect::<Vec<_>>();
            prop_assert_eq!(lines(&one), lines(&batch));
            prop_assert_eq!(one.stats(), batch.stats());
        }
    }
}

/// A UDP datagram from a small universe of flows (both families, both
/// directions), and how long after the previous one it comes.
fn udp_step() -> impl Strategy<Value = (Vec<u8>, u64)> {
    let hosts = host_pair(&["10.0.0.1", "10.0.0.2"], &["2001:db8::1", "2001:db8::2"]);
    let port = prop::sample::select(vec![53u16, 1000, 1001]);
    let gap = prop_oneof![0u64..3_000, 0u64..200_000];
    (hosts, port.clone(), port, gap).prop_map(|((s, d), sp, dp, gap)| (udp(s, sp, d, dp, b"x"), gap))
}

/// A source and a destination of the same family, from `v4` or `v6`,
/// chosen as often as their hosts are many (built, not filtered: a filter
/// rejects near half the pairs, too many for a long run).
fn host_pair(
    v4: &'static [&'static str],
    v6: &'static [&'static str],
) -> impl Strategy<Value = (&'static str, &'static str)> {
    let pick = |h: &'static [&'static str]| (prop::sample::select(h), prop::sample::select(h));
    prop_oneof![v4.len() as u32 => pick(v4), v6.len() as u32 => pick(v6)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A table without an event sink takes UDP datagrams through its UDP
    /// lane; a table with one, through the general tracker path. Both give
    /// the same verdicts and leave the same entries (timeouts, status,
    /// counters) at every step, and later.
    #[test]
    fn the_udp_lane_is_the_general_path(steps in prop::collection::vec(udp_step(), 1..80)) {
        #[allow(unused_mut)]
        let mut config = Config::default();
        #[cfg(feature = "ct-acct")]
        {
            config.acct = true;
        }
        let mut lane: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), config);
        let mut general: ConnTable<WithEvents<FixedStorage<64, 16, 16>, EventRing<64>>> =
            ConnTable::with_storage(WithEvents::new(FixedStorage::new(), EventRing::new()), HashKey([3; 16]), config);
        let mut ms = 1_000u64;
        let listing = |l: Vec<String>| { let mut l = l; l.sort(); l };
        for (packet, gap) in &steps {
            ms += gap;
            let now = Instant::from_millis(ms);
            prop_assert_eq!(lane.track(now, packet), general.track(now, packet));
            for later in [0, 1_000, 29_500, 31_000, 119_500, 121_000] {
                let at = Instant::from_millis(ms + later);
                prop_assert_eq!(
                    listing(lane.entries(at).map(|e| e.to_string()).collect()),
                    listing(general.entries(at).map(|e| e.to_string()).collect())
                );
            }
        }
        // The general table did take its path: it reported events (if it
        // tracked anything: an IPv4-only table tracks no IPv6 datagram).
        if steps.iter().any(|(p, _)| IPV6_TRACKED || p[0] >> 4 == 4) {
            prop_assert!(!general.events().is_empty() || general.events().lost() > 0);
        }
    }
}

/// A connection that neither a new flow's early drop nor the garbage
/// collector under pressure may evict: ASSURED and open (not a TCP
/// connection that is closing).
fn protected(e: &EntryRef<'_>) -> bool {
    e.status().contains(Status::ASSURED)
        && !matches!(
            e.tcp_state(),
            Some(
                TcpState::FinWait
                    | TcpState::CloseWait
                    | TcpState::LastAck
                    | TcpState::TimeWait
                    | TcpState::Close
            )
        )
}

/// A packet of flow `f` of a crowd of 300 (each a client port to one
/// server, over UDP or TCP): `kind` 0 a datagram from the client, 1 its
/// answer, 2 to 5 the TCP segments of a handshake (SYN, SYN-ACK, ACK) and a
/// data segment, 6 and 7 its ends (FIN from the client, RST from the
/// server).
fn crowd_packet(f: u16, kind: u8) -> Vec<u8> {
    let client = format!("10.0.{}.{}", f / 250, f % 250 + 1);
    let (c, s, port) = (client.as_str(), "198.51.100.5", 1000 + f);
    match kind {
        0 => udp(c, port, s, 53, b"q"),
        1 => udp(s, 53, c, port, b"a"),
        2 => tcp(c, port, s, 80, SYN, 100, 0, 64240, b""),
        3 => tcp(s, 80, c, port, SYN | ACK, 500, 101, 64240, b""),
        4 => tcp(c, port, s, 80, ACK, 101, 501, 64240, b""),
        5 => tcp(c, port, s, 80, PSH | ACK, 101, 501, 64240, b"d"),
        6 => tcp(c, port, s, 80, FIN | ACK, 102, 501, 64240, b""),
        _ => tcp(s, 80, c, port, RST | ACK, 501, 102, 0, b""),
    }
}

/// Conversations among the crowd's flows: the first `TALKERS`.
const TALKERS: u16 = 160;

/// A step of [`open_assured_connections_are_never_evicted`]: a packet of
/// one of the conversations, which go their course (`end`: a TCP one ends
/// now, if it is open), or of the rest of the crowd, unanswered flows; and
/// a `gc` budget (0: none).
fn crowd_step() -> impl Strategy<Value = (u16, bool, u8)> {
    let conversation = (0u16..TALKERS, prop::bool::weighted(0.03));
    let crowd = (TALKERS..300, Just(false));
    (prop_oneof![3 => conversation, 1 => crowd], 0u8..4).prop_map(|((f, end), gc)| (f, end, gc))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// In a table limited to 100 entries, crowded by 160 conversations (a
    /// quarter UDP, the rest TCP) that go their course and by unanswered
    /// flows, and collected now and then, an open ASSURED connection is
    /// never evicted: not by a new flow (the early drop spares it) and not
    /// by `gc` under pressure (which evicts only entries not ASSURED, and
    /// closing ones). Only its own packets may end it. (Nothing expires: a
    /// run lasts under 30 s.)
    #[test]
    fn open_assured_connections_are_never_evicted(steps in prop::collection::vec(crowd_step(), 1..1200)) {
        let mut config = Config::default();
        config.max_entries = 100;
        let mut t: FixedConnTable<128> = ConnTable::new(HashKey([8; 16]), config);
        let mut ms = 1_000_000u64;
        // How far each conversation went.
        let mut stage = [0usize; TALKERS as usize];
        for (f, end, gc) in steps {
            ms += 20;
            let now = Instant::from_millis(ms);
            let kinds: &[u8] = match usize::from(f) {
                // A TCP conversation: its handshake at once, then data, and
                // its end.
                c if c < stage.len() && c % 4 != 3 => {
                    stage[c] += 1;
                    match stage[c] {
                        1 => &[2, 3, 4],
                        _ if end => if (ms / 20).is_multiple_of(2) { &[6] } else { &[7] },
                        _ => &[5],
                    }
                }
                // A UDP conversation: a question and its answer, then more
                // questions (ASSURED after the first past the 2 s grace).
                c if c < stage.len() => {
                    stage[c] += 1;
                    if stage[c] == 1 { &[0, 1] } else { &[0] }
                }
                // The crowd: unanswered datagrams and SYNs.
                c if c % 2 == 0 => &[0],
                _ => &[2],
            };
            let before: Vec<Handle> = t.entries(now).filter(protected).map(|e| e.handle()).collect();
            let verdicts: Vec<Verdict> = kinds.iter().map(|&k| t.track(now, &crowd_packet(f, k))).collect();
            if gc > 0 {
                t.gc(now, usize::from(gc) * 40);
            }
            for h in before {
                prop_assert!(
                    verdicts.iter().any(|v| v.entry() == Some(h)) || t.get(h, now).is_some(),
                    "an open ASSURED connection was evicted: {:?} (the packets: flow {}, kinds {:?}, {:?})",
                    h, f, kinds, verdicts
                );
            }
            prop_assert!(t.len() <= 100);
        }
    }
}
