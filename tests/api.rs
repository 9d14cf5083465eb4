//! The public API's contracts: helpers run at confirmation, helper identity
//! is the registration, the registry's errors, per-packet options, tuple
//! ports and expectation flags.

mod common;

use common::*;
use ctrack::helper::{Helper, HelperContext, builtin};
use ctrack::*;

fn at(ms: u64) -> Instant {
    Instant::from_millis(5_000_000 + ms)
}

const C: &str = "192.168.1.10";
const S: &str = "198.51.100.5";

/// An FTP control connection to port 21, handshake and banner done: the
/// next client and server sequence numbers.
fn ftp_control<St: Storage>(t: &mut ConnTable<St>) -> (u32, u32) {
    let (c, s) = (1000u32, 5000u32);
    for p in [
        tcp(C, 50000, S, 21, SYN, c - 1, 0, 64240, b""),
        tcp(S, 21, C, 50000, SYN | ACK, s - 1, c, 64240, b""),
        tcp(C, 50000, S, 21, ACK, c, s, 64240, b""),
    ] {
        assert!(!t.track(at(0), &p).must_drop());
    }
    let banner = b"220 ready\r\n";
    let _ = t.track(at(1), &tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, banner));
    (c, s + banner.len() as u32)
}

/// Linux runs helpers at the confirmation hook: a packet the firewall
/// drops after classification has not fed its helper.
#[test]
fn helpers_see_only_confirmed_packets() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([2; 16]), Config::default());
    t.add_builtin_helper(builtin("ftp").unwrap()).unwrap();
    let (c, s) = ftp_control(&mut t);
    let pasv = b"227 Entering Passive Mode (198,51,100,5,195,149).\r\n";
    let p = tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, pasv);
    // Classified, then dropped by the firewall: no expectation.
    let v = t.classify(at(2), &p, Meta::default());
    assert_eq!(v.state(), Some(CtState::Established));
    t.discard(&v);
    assert_eq!(t.expectations(at(2)).count(), 0);
    // The retransmission passes: the helper sees it at confirmation.
    let mut v = t.classify(at(3), &p, Meta::default());
    assert_eq!(t.expectations(at(3)).count(), 0, "not before confirmation");
    t.confirm(&mut v, &p).unwrap();
    assert_eq!(t.expectations(at(3)).count(), 1);
}

/// A helper rejection at confirmation: the packet keeps its
/// classification, must be dropped, and a connection it opened is gone.
#[test]
fn helper_drop_at_confirmation() {
    struct Refuse;
    impl Helper for Refuse {
        fn name(&self) -> &'static str {
            "refuse"
        }
        fn policy(&self, _class: u8) -> ExpectPolicy {
            ExpectPolicy::new(1, 60)
        }
        fn help(&self, _cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
            Err(HelperDrop("refused"))
        }
    }
    static REFUSE: Refuse = Refuse;
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([2; 16]), Config::default());
    let id = t.register_helper(&REFUSE).unwrap();
    t.assign_helper(HelperAssignment::new(id, 17, 7777)).unwrap();
    let q = udp(C, 1000, S, 7777, b"hello");
    let mut v = t.classify(at(0), &q, Meta::default());
    assert_eq!(t.len(), 1, "the unconfirmed entry");
    assert_eq!(t.confirm(&mut v, &q), Err(DropReason::Helper(HelperDrop("refused"))));
    assert!(v.must_drop());
    assert_eq!(v.state(), Some(CtState::New));
    let Verdict::Tracked(tr) = v else { panic!("{v:?}") };
    assert_eq!(tr.helper_drop(), Some(HelperDrop("refused")));
    assert!(tr.entry().is_none() && !tr.is_unconfirmed());
    assert!(t.is_empty(), "a connection the helper refused is not kept");
    // The one-step form keeps the classification too.
    let v = t.track(at(1), &q);
    assert!(v.must_drop() && v.state() == Some(CtState::New));
    assert!(t.is_empty());
    // Without the helper the same packet passes.
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([2; 16]), Config::default());
    let mut v = t.classify(at(0), &q, Meta::default());
    t.confirm(&mut v, &q).unwrap();
    assert_eq!(t.entries(at(0)).count(), 1);
}

/// A helper's identity is its registration, not its name: a user helper
/// that calls itself "sip" is not the SIP helper, and does not share its
/// expectations.
#[test]
fn helper_identity_is_the_registration() {
    struct FakeSip;
    impl Helper for FakeSip {
        fn name(&self) -> &'static str {
            "sip"
        }
        fn policy(&self, _class: u8) -> ExpectPolicy {
            ExpectPolicy::new(4, 180)
        }
        fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
            // Claims the media stream the real SIP helper expects.
            let t = Tuple::with_ports(ip("198.51.100.20"), 0, ip(C), 49170, 17).unwrap();
            assert!(!cx.expected_elsewhere(&t, 1), "only the same helper's expectations count");
            Ok(())
        }
    }
    static FAKE: FakeSip = FakeSip;
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([2; 16]), Config::default());
    let sip = t.add_builtin_helper(builtin("sip").unwrap()).unwrap();
    let fake = t.register_helper(&FAKE).unwrap();
    assert_ne!(sip, fake);
    assert_eq!(t.helper(fake).map(|h| h.name()), Some("sip"));
    t.assign_helper(HelperAssignment::new(fake, 17, 5070)).unwrap();
    // The real SIP helper expects RTP and RTCP of an INVITE's media.
    let sdp = "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060\r\nCall-ID: 1@x\r\n\
         CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let _ = t.track(at(0), &udp(C, 5060, "198.51.100.20", 5060, invite.as_bytes()));
    assert_eq!(t.expectations(at(0)).count(), 2);
    // The impostor runs and sees none of them as its own.
    let v = t.track(at(1), &udp(C, 5070, "198.51.100.20", 5070, b"x"));
    assert!(!v.must_drop());
    let e = t.get(v.entry().unwrap(), at(1)).unwrap();
    assert!(e.to_string().contains("helper=sip"));
}

#[test]
fn registry_errors() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([2; 16]), Config::default());
    let mut t2: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::default());
    let ftp = builtin("ftp").unwrap();
    let id = t.register_helper(ftp.helper).unwrap();
    // An id of another table's registry is unknown here.
    assert_eq!(t2.assign_helper(HelperAssignment::new(id, 6, 21)), Err(HelperError::UnknownHelper));
    for _ in 1..MAX_HELPERS {
        t.register_helper(ftp.helper).unwrap();
    }
    assert_eq!(t.register_helper(ftp.helper), Err(HelperError::TooManyHelpers));
    for port in 0..MAX_HELPER_ASSIGNMENTS as u16 {
        t.assign_helper(HelperAssignment::new(id, 6, port)).unwrap();
    }
    assert_eq!(t.assign_helper(HelperAssignment::new(id, 6, 9999)), Err(HelperError::TooManyAssignments));
    assert!(!HelperError::TooManyHelpers.to_string().is_empty());
}

#[test]
fn meta_options() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([2; 16]), Config::default());
    let q = udp(C, 1000, S, 53, b"q");
    assert_eq!(t.track_with(at(0), &q, Meta::default().with_notrack(true)), Verdict::Untracked);
    assert!(t.is_empty());
    let a = t.track_with(at(0), &q, Meta::default().with_zone(7));
    assert_eq!(t.get(a.entry().unwrap(), at(0)).unwrap().zone(), 7);
    assert_eq!(Meta::default().with_broadcast_prefix(24).broadcast_prefix, Some(24));
}

#[test]
fn tuple_ports_and_expectation_flags() {
    let t = Tuple::with_ports(ip("10.0.0.1"), 1234, ip("10.0.0.2"), 80, 6).unwrap();
    assert_eq!((t.sport(), t.dport()), (Some(1234), Some(80)));
    let e = Tuple::icmp(ip("10.0.0.1"), ip("10.0.0.2"), 8, 0, 7).unwrap();
    assert_eq!((e.sport(), e.dport()), (None, None));
    let g = Tuple::gre(ip("10.0.0.1"), 1, ip("10.0.0.2"), 2).unwrap();
    assert_eq!(g.dport(), None);
    let x = Expectation::from_any_port(t).with_flags(ExpectFlags::PERMANENT | ExpectFlags::INACTIVE);
    assert!(x.flags().contains(ExpectFlags::PERMANENT) && x.flags().contains(ExpectFlags::INACTIVE));
    assert_eq!(x.flags().to_string(), "PERMANENT,INACTIVE");
    assert!(ExpectFlags::empty().is_empty());
    // Prefixes are capped at the address length.
    assert_eq!(Expectation::from_any_port(t).with_src_prefix(200).src_prefix(), 32);
}

/// Handles are generational: once its entry is gone, a handle names nothing,
/// even when the slot holds another entry; a stale verdict cannot discard
/// or confirm the entry that reused its slot.
#[test]
fn stale_handles_and_verdicts_name_nothing() {
    // One slot: every entry lands in it.
    let mut t: FixedConnTable<1> = ConnTable::new(HashKey([2; 16]), Config::default());
    let a = udp(C, 1000, S, 53, b"a");
    let b = udp(C, 2000, S, 53, b"b");
    let va = t.track(at(0), &a);
    let ha = va.entry().unwrap();
    assert!(t.get(ha, at(0)).is_some());
    // A expires and is reaped; B takes the slot.
    assert_eq!(t.gc(at(31_000), 1), 1);
    let vb = t.track(at(31_000), &b);
    let hb = vb.entry().unwrap();
    assert_eq!(ha.index(), hb.index(), "the same slot");
    assert!(t.get(ha, at(31_000)).is_none(), "a stale handle names nothing");
    assert_eq!(t.get(hb, at(31_000)).unwrap().orig().sport(), Some(2000));

    // A NEW verdict discarded, its slot reused by another unconfirmed
    // entry: discarding the old verdict again leaves the new entry alone.
    let mut t: FixedConnTable<1> = ConnTable::new(HashKey([2; 16]), Config::default());
    let old = t.classify(at(0), &a, Meta::default());
    t.discard(&old);
    let mut new = t.classify(at(0), &b, Meta::default());
    assert_eq!(old.entry().unwrap().index(), new.entry().unwrap().index());
    t.discard(&old);
    assert_eq!(t.len(), 1, "the new entry survives a stale discard");
    t.confirm(&mut new, &b).unwrap();
    assert_eq!(t.entries(at(0)).count(), 1);
}

/// A verdict acts once: confirming it twice feeds its helper once.
#[test]
fn a_verdict_confirms_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    struct Count;
    impl Helper for Count {
        fn name(&self) -> &'static str {
            "count"
        }
        fn policy(&self, _class: u8) -> ExpectPolicy {
            ExpectPolicy::new(1, 60)
        }
        fn help(&self, _cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
            SEEN.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }
    static COUNT: Count = Count;
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([2; 16]), Config::default());
    let id = t.register_helper(&COUNT).unwrap();
    t.assign_helper(HelperAssignment::new(id, 17, 9999)).unwrap();
    let p = udp(C, 1000, S, 9999, b"x");
    let mut v = t.classify(at(0), &p, Meta::default());
    t.confirm(&mut v, &p).unwrap();
    t.confirm(&mut v, &p).unwrap();
    assert_eq!(SEEN.load(Ordering::Relaxed), 1);
    // The one-step form confirms, so its verdict is spent too.
    let mut v = t.track(at(1), &p);
    t.confirm(&mut v, &p).unwrap();
    assert_eq!(SEEN.load(Ordering::Relaxed), 2);
}

/// Helper state lives in a pool of extension slots (a sixteenth of the
/// table by default). Unanswered connections to a helper's port must not
/// exhaust it while the table has room: 4,096 spoofed SYNs to port 21 fill
/// the pool, and a later FTP login and its data connection still pass, the
/// pool evicting unanswered (not ASSURED) entries as the table's early
/// drop would.
#[test]
fn spoofed_syns_to_a_helper_port_do_not_lock_out_ftp() {
    let mut t = ConnTable::with_capacity(65_536, HashKey::random(), Config::default());
    t.add_builtin_helper(builtin("ftp").unwrap()).unwrap();
    for i in 0..4096u32 {
        let src = format!("10.{}.{}.1", i / 256, i % 256);
        let v = t.track(at(0), &tcp(&src, 40000, S, 21, SYN, i, 0, 64240, b""));
        assert_eq!(v.state(), Some(CtState::New), "spoofed SYN {i}");
    }
    assert_eq!(t.len(), 4096);
    let (c, s) = ftp_control(&mut t);
    let pasv = b"227 Entering Passive Mode (198,51,100,5,195,149).\r\n";
    let v = t.track(at(2), &tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, pasv));
    assert_eq!(v.state(), Some(CtState::Established));
    assert!(!v.must_drop());
    assert_eq!(t.expectations(at(2)).count(), 1);
    let v = t.track(at(3), &tcp(C, 50123, S, 50069, SYN, 1, 0, 64240, b""));
    assert_eq!(v.state(), Some(CtState::Related));
    assert!(t.stats().early_drop >= 2, "spoofed entries made room: {:?}", t.stats());
}

/// The attack of the table core's issue: 4,096 spoofed 1-byte UDP
/// datagrams to the SIP port over most of an hour, each an unanswered
/// entry that the
/// SIP helper holds for 3,600 s (`nf_conntrack_sip.c: sip_help_udp()`
/// refreshes the entry to `sip_timeout` before it parses anything) and
/// that needs helper state. Afterwards an FTP session opened before the
/// flood still gets its data connection, and a new FTP login, a SIP
/// INVITE and a TFTP request each get their expectations and their
/// follow-up connections.
#[test]
fn spoofed_sip_datagrams_do_not_lock_out_helpers() {
    let mut t = ConnTable::with_capacity(65_536, HashKey::random(), Config::default());
    for name in ["ftp", "sip", "tftp"] {
        t.add_builtin_helper(builtin(name).unwrap()).unwrap();
    }
    let (c, s) = ftp_control(&mut t);
    // The client acknowledges the banner: no data left unacknowledged, so
    // the idle session keeps ESTABLISHED's timeout of five days.
    assert!(!t.track(at(2), &tcp(C, 50000, S, 21, ACK, c, s, 64240, b"")).must_drop());
    for i in 0..4096u32 {
        let src = format!("10.{}.{}.1", i / 256, i % 256);
        let v = t.track(at(u64::from(i) * 800), &udp(&src, 5060, "198.51.100.20", 5060, b"x"));
        assert_eq!(v.state(), Some(CtState::New), "spoofed datagram {i}");
        assert!(!v.must_drop(), "spoofed datagram {i}");
    }
    // None has expired yet: the extension pool (4,096 slots, a sixteenth
    // of the table) is full of live, unanswered entries; the last datagram
    // found it full and evicted one of them, never the FTP session.
    let now = 3_300_000;
    assert_eq!(t.entries(at(now)).count(), 4096);
    assert_eq!(t.stats().early_drop, 1);
    // The session opened before the flood: PASV, then its data connection.
    let pasv = b"227 Entering Passive Mode (198,51,100,5,195,149).\r\n";
    let v = t.track(at(now), &tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, pasv));
    assert_eq!(v.state(), Some(CtState::Established));
    assert!(!v.must_drop(), "{v:?}");
    let v = t.track(at(now + 1), &tcp(C, 50123, S, 50069, SYN, 1, 0, 64240, b""));
    assert_eq!(v.state(), Some(CtState::Related), "{v:?}");
    // A new login from another client, and its data connection.
    let c2 = "192.168.1.11";
    let (cs, ss) = (7000u32, 9000u32);
    for p in [
        tcp(c2, 50001, S, 21, SYN, cs - 1, 0, 64240, b""),
        tcp(S, 21, c2, 50001, SYN | ACK, ss - 1, cs, 64240, b""),
        tcp(c2, 50001, S, 21, ACK, cs, ss, 64240, b""),
    ] {
        let v = t.track(at(now + 2), &p);
        assert!(!v.must_drop() && v.state().is_some_and(|s| s != CtState::Invalid), "{v:?}");
    }
    // (The helper parses a line only after one it has seen end: the
    // banner first, as `nf_conntrack_ftp.c: help()` wants.)
    let banner = b"220 ready\r\n";
    let v = t.track(at(now + 2), &tcp(S, 21, c2, 50001, PSH | ACK, ss, cs, 64240, banner));
    assert!(!v.must_drop(), "{v:?}");
    let ss = ss + banner.len() as u32;
    let pasv2 = b"227 Entering Passive Mode (198,51,100,5,195,150).\r\n";
    let v = t.track(at(now + 3), &tcp(S, 21, c2, 50001, PSH | ACK, ss, cs, 64240, pasv2));
    assert!(!v.must_drop(), "{v:?}");
    let v = t.track(at(now + 4), &tcp(c2, 50124, S, 50070, SYN, 1, 0, 64240, b""));
    assert_eq!(v.state(), Some(CtState::Related), "{v:?}");
    // A SIP INVITE: expectations for its media's RTP and RTCP.
    let sdp = "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060\r\nCall-ID: 1@x\r\n\
         CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let before = t.expectations(at(now + 5)).count();
    let v = t.track(at(now + 5), &udp(C, 5060, "198.51.100.20", 5060, invite.as_bytes()));
    assert!(!v.must_drop(), "{v:?}");
    assert_eq!(t.expectations(at(now + 5)).count(), before + 2);
    // A TFTP read request, and the server's answer from its own port.
    let v = t.track(at(now + 6), &udp(C, 40000, S, 69, b"\x00\x01file\x00octet\x00"));
    assert!(!v.must_drop(), "{v:?}");
    let v = t.track(at(now + 7), &udp(S, 41000, C, 40000, b"\x00\x03\x00\x01data"));
    assert_eq!(v.state(), Some(CtState::Related), "{v:?}");
    // Each of the six helped connections since (the two data connections,
    // the new login, the INVITE's, the TFTP request and its answer) made
    // room by evicting an unanswered spoofed entry.
    assert_eq!(t.stats().early_drop, 7, "{:?}", t.stats());
    assert_eq!(t.len(), 4096);
}

/// Construction never puts a table on the stack: a heap table of a million
/// entries is built on a 2 MiB thread stack, and a fixed table can be a
/// `static` built at compile time, keyed at start-up.
#[test]
fn tables_are_built_in_place() {
    let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(|| {
        let mut t = ConnTable::with_capacity(1 << 20, HashKey::random(), Config::default());
        assert_eq!(t.capacity(), 1 << 20);
        t.track(at(0), &udp(C, 1000, S, 53, b"q")).state()
    });
    assert_eq!(worker.unwrap().join().unwrap(), Some(CtState::New));

    use std::sync::Mutex;
    static TABLE: Mutex<FixedConnTable<4096, 64, 64>> =
        Mutex::new(ConnTable::new(HashKey([0; 16]), Config::DEFAULT));
    let mut t = TABLE.lock().unwrap();
    let _ = t.track(at(0), &udp(C, 1000, S, 53, b"q"));
    assert_eq!(t.len(), 1);
    // A new key empties the table (entries are placed by their hash).
    t.set_hash_key(HashKey::random());
    assert!(t.is_empty());
    assert_eq!(t.track(at(1), &udp(C, 1000, S, 53, b"q")).state(), Some(CtState::New));
}

/// Admission like Linux: new flows are admitted until the table is full.
/// Filled to 95 % with flows of random addresses, no flow is refused and
/// nothing is early-dropped; past full, a new flow evicts an unanswered
/// one, never an ASSURED one.
#[test]
fn admission_until_the_table_is_full() {
    let cap = 1 << 16;
    let mut t = ConnTable::with_capacity(cap, HashKey::random(), Config::default());
    let n = cap * 95 / 100;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for k in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let src = format!("10.{}.{}.{}", (x >> 8) as u8, (x >> 16) as u8, (x >> 24) as u8);
        let v = t.track(at(0), &udp(&src, (x >> 32) as u16 | 1024, S, 53, b"q"));
        assert!(matches!(v.state(), Some(CtState::New | CtState::Established)), "flow {k}: {v:?}");
    }
    let s = t.stats();
    assert_eq!((s.drop, s.early_drop, s.chaintoolong), (0, 0, 0), "{s:?}");
    assert!(t.len() >= n - 2, "{} of {n}", t.len());

    // A full table of ASSURED flows refuses a new one; unanswered ones make room.
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([5; 16]), Config::default());
    for p in 0..64u16 {
        let _ = t.track(at(0), &udp(C, 2000 + p, S, 53, b"q"));
        let _ = t.track(at(1_000), &udp(S, 53, C, 2000 + p, b"a"));
        let _ = t.track(at(3_000), &udp(C, 2000 + p, S, 53, b"q"));
    }
    assert_eq!(t.len(), 64);
    assert_eq!(t.track(at(3_000), &udp(C, 9999, S, 53, b"q")), Verdict::Dropped(DropReason::TableFull));
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([5; 16]), Config::default());
    for p in 0..64u16 {
        let _ = t.track(at(0), &udp(C, 2000 + p, S, 53, b"q"));
    }
    assert_eq!(t.track(at(1), &udp(C, 9999, S, 53, b"q")).state(), Some(CtState::New));
    assert_eq!((t.len(), t.stats().early_drop), (64, 1));
}

/// Linux's GC pressure mode (`nf_conntrack_core.c: gc_worker()`): once a
/// new connection was refused for want of room, the next pass evicts
/// closing TCP connections (ASSURED, but early-droppable) while the table
/// holds 95 % of its limit; open ASSURED connections stay, and the
/// pressure ends with the pass.
#[test]
fn gc_under_pressure_evicts_closing_connections() {
    let mut config = Config::default();
    config.max_entries = 100;
    let fixed: FixedConnTable<128> = ConnTable::new(HashKey([4; 16]), config);
    gc_under_pressure(fixed);
    gc_under_pressure(ConnTable::growable(16, HashKey([4; 16]), config));
}

/// [`gc_under_pressure_evicts_closing_connections`] in `t`, limited to 100
/// entries: each `gc` call one whole pass over the table's slots.
fn gc_under_pressure<St: Storage>(mut t: ConnTable<St>) {
    let (c, s) = (1000u32, 5000u32);
    // 90 open connections and 10 whose client sent its FIN (FIN_WAIT):
    // all ASSURED by their handshakes.
    for port in 40000..40100u16 {
        for p in [
            tcp(C, port, S, 80, SYN, c - 1, 0, 64240, b""),
            tcp(S, 80, C, port, SYN | ACK, s - 1, c, 64240, b""),
            tcp(C, port, S, 80, ACK, c, s, 64240, b""),
        ] {
            assert!(!t.track(at(0), &p).must_drop());
        }
        if port >= 40090 {
            assert!(!t.track(at(1), &tcp(C, port, S, 80, FIN | ACK, c, s, 64240, b"")).must_drop());
        }
    }
    let count = |t: &ConnTable<St>, state: &str| {
        t.entries(at(10))
            .filter(|e| e.to_string().contains(state) && e.to_string().contains("[ASSURED]"))
            .count()
    };
    assert_eq!((count(&t, " ESTABLISHED "), count(&t, " FIN_WAIT ")), (90, 10));
    // Without pressure a pass evicts nothing that has not expired.
    assert_eq!(t.gc(at(2), t.capacity()), 0);
    // A new connection is refused: the early drop evicts no ASSURED entry.
    let syn = |port| tcp(C, port, S, 80, SYN, 1, 0, 64240, b"");
    assert_eq!(t.track(at(3), &syn(50000)), Verdict::Dropped(DropReason::TableFull));
    assert_eq!(t.stats().early_drop, 0);
    // The next pass evicts closing connections until the table holds 94.
    assert_eq!(t.gc(at(4), t.capacity()), 6);
    assert_eq!((t.len(), count(&t, " ESTABLISHED "), count(&t, " FIN_WAIT ")), (94, 90, 4));
    assert_eq!(t.stats().early_drop, 0);
    // Room again; and the pass ended the pressure: with the table full of
    // new, unanswered connections, a pass evicts none of them.
    for port in 50000..50006 {
        assert_eq!(t.track(at(5), &syn(port)).state(), Some(CtState::New));
    }
    assert_eq!((t.len(), t.gc(at(6), t.capacity())), (100, 0));
}

/// `conntrack -D` and `-F`: deleting an entry takes its expectations with
/// it; a flush empties the table and keeps the helpers.
#[test]
fn delete_and_flush() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([2; 16]), Config::default());
    t.add_builtin_helper(builtin("ftp").unwrap()).unwrap();
    let (c, s) = ftp_control(&mut t);
    let pasv = b"227 Entering Passive Mode (198,51,100,5,195,149).\r\n";
    let v = t.track(at(2), &tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, pasv));
    assert_eq!(t.expectations(at(2)).count(), 1);
    let control = v.entry().unwrap();
    assert!(t.delete(control));
    assert!(!t.delete(control));
    assert_eq!(t.expectations(at(2)).count(), 0, "its expectation goes with it");
    assert!(t.get(control, at(2)).is_none());
    // The data connection it announced is NEW now.
    let v = t.track(at(3), &tcp(C, 50123, S, 50069, SYN, 1, 0, 64240, b""));
    assert_eq!(v.state(), Some(CtState::New));
    // A flush: empty, and the helper still assigned.
    assert!(!t.is_empty());
    let n = t.len();
    assert_eq!(t.flush(), n);
    assert!(t.is_empty() && t.entries(at(3)).count() == 0);
    let (c, s) = ftp_control(&mut t);
    let _ = t.track(at(4), &tcp(S, 21, C, 50000, PSH | ACK, s, c, 64240, pasv));
    assert_eq!(t.expectations(at(4)).count(), 1, "the helper survives a flush");
}
