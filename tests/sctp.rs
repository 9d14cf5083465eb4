//! SCTP through the table (`nf_conntrack_proto_sctp.c`, Linux 6.18): the
//! association's states and timeouts, ASSURED, the verification-tag checks,
//! the CRC32c check and its sysctl, and the `conntrack -L` line. The same
//! scenarios were run through the kernel with the oracle
//! (`tests/data/crafted/sctp/`).

mod common;

use common::*;
use ctrack::tuple::proto::SCTP;
use ctrack::*;

fn table(cfg: Config) -> FixedConnTable<64> {
    ConnTable::new(HashKey([3; 16]), cfg)
}

const INIT: u8 = 1;
const INIT_ACK: u8 = 2;
const SACK: u8 = 3;
const HEARTBEAT: u8 = 4;
const HEARTBEAT_ACK: u8 = 5;
const ABORT: u8 = 6;
const SHUTDOWN: u8 = 7;
const SHUTDOWN_ACK: u8 = 8;
const COOKIE_ECHO: u8 = 10;
const COOKIE_ACK: u8 = 11;
const SHUTDOWN_COMPLETE: u8 = 14;
const DATA: u8 = 0;

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(ty: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut c = vec![ty, flags];
    c.extend_from_slice(&(4 + body.len() as u16).to_be_bytes());
    c.extend_from_slice(body);
    c.resize(c.len().next_multiple_of(4), 0);
    c
}

fn init(ty: u8, tag: u32) -> Vec<u8> {
    let mut body = tag.to_be_bytes().to_vec();
    body.extend_from_slice(&[0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);
    chunk(ty, 0, &body)
}

/// An SCTP packet with a correct CRC32c (or a wrong one, `bad_crc`).
fn sctp_raw(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    vtag: u32,
    chunks: &[Vec<u8>],
    bad_crc: bool,
) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    l4.extend_from_slice(&vtag.to_be_bytes());
    l4.extend_from_slice(&[0; 4]);
    for c in chunks {
        l4.extend_from_slice(c);
    }
    let crc = crc32c(&l4) ^ u32::from(bad_crc);
    l4[8..12].copy_from_slice(&crc.to_le_bytes());
    ip_packet(ip(src), ip(dst), SCTP, &l4, 64)
}

fn sctp(src: &str, sport: u16, dst: &str, dport: u16, vtag: u32, chunks: &[Vec<u8>]) -> Vec<u8> {
    sctp_raw(src, sport, dst, dport, vtag, chunks, false)
}

const C: u32 = 0x1111_1111;
const S: u32 = 0x2222_2222;

struct Assoc<'a> {
    a: &'a str,
    b: &'a str,
}

impl Assoc<'_> {
    fn by_a(&self, vtag: u32, chunks: &[Vec<u8>]) -> Vec<u8> {
        sctp(self.a, 5000, self.b, 6000, vtag, chunks)
    }
    fn by_b(&self, vtag: u32, chunks: &[Vec<u8>]) -> Vec<u8> {
        sctp(self.b, 6000, self.a, 5000, vtag, chunks)
    }
}

fn state(t: &FixedConnTable<64>, v: &Verdict, now: Instant) -> (Option<SctpState>, u32, bool) {
    let e = t.get(v.entry().expect("entry"), now).expect("live entry");
    (e.sctp_state(), e.timeout(), e.status().contains(Status::ASSURED))
}

#[test]
fn a_whole_association_over_ipv4_and_ipv6() {
    let families = [("10.1.0.1", "10.2.0.2"), ("2001:db8:1::1", "2001:db8:2::2")];
    for (a, b) in families.into_iter().take(if IPV6_TRACKED { 2 } else { 1 }) {
        let mut t = table(Config::default());
        let now = Instant::from_secs(100);
        let x = Assoc { a, b };
        let v = t.track(now, &x.by_a(0, &[init(INIT, C)]));
        assert_eq!((v.state(), v.dir()), (Some(CtState::New), Some(Direction::Original)));
        assert_eq!(state(&t, &v, now), (Some(SctpState::Closed), 10, false));
        let v = t.track(now, &x.by_b(C, &[init(INIT_ACK, S)]));
        assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
        assert_eq!(state(&t, &v, now), (Some(SctpState::CookieWait), 3, false));
        let v = t.track(now, &x.by_a(S, &[chunk(COOKIE_ECHO, 0, b"cookie!!"), chunk(DATA, 3, b"hi")]));
        assert_eq!(state(&t, &v, now), (Some(SctpState::CookieEchoed), 3, false));
        let v = t.track(now, &x.by_b(C, &[chunk(COOKIE_ACK, 0, b""), chunk(SACK, 0, &[0; 12])]));
        assert_eq!(state(&t, &v, now), (Some(SctpState::Established), 210, true));

        let e = t.get(v.entry().unwrap(), now).unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "sctp     132 210 ESTABLISHED src={a} dst={b} sport=5000 dport=6000 \
                 src={b} dst={a} sport=6000 dport=5000 [ASSURED] mark=0 use=1"
            )
        );
        assert_eq!(e.tcp_state(), None);

        let v = t.track(now, &x.by_a(S, &[chunk(HEARTBEAT, 0, b"")]));
        assert_eq!(state(&t, &v, now), (Some(SctpState::Established), 210, true));
        let v = t.track(now, &x.by_b(C, &[chunk(SHUTDOWN, 0, &[0; 4])]));
        assert_eq!(state(&t, &v, now), (Some(SctpState::ShutdownRecd), 3, true));
        let v = t.track(now, &x.by_a(S, &[chunk(SHUTDOWN_ACK, 0, b"")]));
        assert_eq!(state(&t, &v, now), (Some(SctpState::ShutdownAckSent), 3, true));
        let v = t.track(now, &x.by_b(C, &[chunk(SHUTDOWN_COMPLETE, 0, b"")]));
        assert_eq!(state(&t, &v, now), (Some(SctpState::Closed), 10, true));
        // A new INIT two seconds later does not renew the CLOSED timeout.
        let later = Instant::from_secs(102);
        let v = t.track(later, &x.by_a(0, &[init(INIT, 0x3333)]));
        assert_eq!(v.state(), Some(CtState::Established));
        assert_eq!(state(&t, &v, later), (Some(SctpState::Closed), 8, true));
        let v = t.track(later, &x.by_b(0x3333, &[init(INIT_ACK, 0x4444)]));
        assert_eq!(state(&t, &v, later), (Some(SctpState::CookieWait), 3, true));
        // ... and the entry expires with it.
        assert_eq!(t.entries(Instant::from_secs(106)).count(), 0);
    }
}

#[test]
fn verification_tags_and_abort() {
    let mut t = table(Config::default());
    let now = Instant::from_secs(1);
    let x = Assoc { a: "10.1.0.1", b: "10.2.0.2" };
    let _ = t.track(now, &x.by_a(0, &[init(INIT, C)]));
    let _ = t.track(now, &x.by_b(C, &[init(INIT_ACK, S)]));
    // Data before the handshake completes, with the right tag: accepted.
    let v = t.track(now, &x.by_a(S, &[chunk(DATA, 3, b"early")]));
    assert_eq!(state(&t, &v, now), (Some(SctpState::CookieWait), 3, false));
    // The wrong tag: INVALID, nothing changes.
    let v = t.track(now, &x.by_a(0xdead_beef, &[chunk(DATA, 3, b"x")]));
    assert_eq!(v.reason(), Some(Reason::Sctp(SctpReason::VerificationTag)));
    let v = t.track(now, &x.by_a(0xdead_beef, &[chunk(COOKIE_ECHO, 0, b"c")]));
    assert_eq!(v.reason(), Some(Reason::Sctp(SctpReason::ChunkTag)));
    let _ = t.track(now, &x.by_a(S, &[chunk(COOKIE_ECHO, 0, b"c")]));
    let v = t.track(now, &x.by_b(C, &[chunk(COOKIE_ACK, 0, b"")]));
    assert_eq!(state(&t, &v, now), (Some(SctpState::Established), 210, true));
    // ABORT with a wrong tag: INVALID; with the T bit and the peer's tag: CLOSED.
    let v = t.track(now, &x.by_b(0x5, &[chunk(ABORT, 0, b"")]));
    assert_eq!(v.reason(), Some(Reason::Sctp(SctpReason::ChunkTag)));
    let v = t.track(now, &x.by_a(C, &[chunk(ABORT, 1, b"")]));
    assert_eq!(state(&t, &v, now), (Some(SctpState::Closed), 10, true));
    assert_eq!(t.stats().invalid, 3);
}

#[test]
fn first_packets_that_create_nothing() {
    let mut t = table(Config::default());
    let now = Instant::from_secs(1);
    let (a, b) = ("10.1.0.1", "10.2.0.2");
    for (vtag, c) in [
        (0, chunk(ABORT, 0, b"")),
        (0, chunk(SHUTDOWN_COMPLETE, 0, b"")),
        (0, chunk(COOKIE_ACK, 0, b"")),
        (5, chunk(DATA, 3, b"data")),
        (5, init(INIT, C)),
    ] {
        let v = t.track(now, &sctp(a, 5000, b, 6000, vtag, &[c]));
        assert_eq!(v.state(), Some(CtState::Invalid));
        assert!(v.reason().is_some());
    }
    // Malformed layouts: no chunk, a zero-length chunk, INIT not alone, a
    // short header.
    for p in [
        sctp(a, 5000, b, 6000, 0, &[]),
        sctp(a, 5000, b, 6000, 0, &[vec![0, 0, 0, 0, 1, 2, 3, 4]]),
        sctp(a, 5000, b, 6000, 0, &[init(INIT, C), chunk(DATA, 3, b"x")]),
        ip_packet(ip(a), ip(b), SCTP, &[0x13, 0x88, 0x17, 0x70, 0, 0, 0, 0], 64),
    ] {
        assert!(t.track(now, &p).reason().is_some());
    }
    assert_eq!(t.len(), 0);
    // A heartbeat on an unknown path creates an entry, ESTABLISHED once answered.
    let v = t.track(now, &sctp(a, 5000, b, 6000, 0xA, &[chunk(HEARTBEAT, 0, b"")]));
    assert_eq!(state(&t, &v, now), (Some(SctpState::HeartbeatSent), 30, false));
    let v = t.track(now, &sctp(b, 6000, a, 5000, 0xB, &[chunk(HEARTBEAT_ACK, 0, b"")]));
    assert_eq!(state(&t, &v, now), (Some(SctpState::Established), 210, true));
}

#[test]
fn crc32c_is_checked_unless_the_sysctl_is_off() {
    // Over IPv6 (over IPv4 in an IPv4-only build).
    let (a, b) = if IPV6_TRACKED { ("2001:db8::1", "2001:db8::2") } else { ("10.0.0.1", "10.0.0.2") };
    let bad = sctp_raw(a, 5000, b, 6000, 0, &[init(INIT, C)], true);
    let mut t = table(Config::default());
    let now = Instant::from_secs(1);
    assert_eq!(t.track(now, &bad).reason(), Some(Reason::BadChecksum));
    let mut cfg = Config::default();
    cfg.set_sysctl("net.netfilter.nf_conntrack_checksum", "0").unwrap();
    let mut t = table(cfg);
    assert_eq!(t.track(now, &bad).state(), Some(CtState::New));
}

#[test]
fn timeouts_from_the_sysctls() {
    let mut cfg = Config::default();
    cfg.set_sysctl("nf_conntrack_sctp_timeout_established", "100").unwrap();
    cfg.set_sysctl("nf_conntrack_sctp_timeout_closed", "20").unwrap();
    cfg.set_sysctl("nf_conntrack_sctp_timeout_cookie_wait", "4").unwrap();
    cfg.set_sysctl("nf_conntrack_sctp_timeout_cookie_echoed", "5").unwrap();
    let mut t = table(cfg);
    let now = Instant::from_secs(1);
    let x = Assoc { a: "10.1.0.1", b: "10.2.0.2" };
    let v = t.track(now, &x.by_a(0, &[init(INIT, C)]));
    assert_eq!(state(&t, &v, now).1, 20);
    let v = t.track(now, &x.by_b(C, &[init(INIT_ACK, S)]));
    assert_eq!(state(&t, &v, now).1, 4);
    let v = t.track(now, &x.by_a(S, &[chunk(COOKIE_ECHO, 0, b"c")]));
    assert_eq!(state(&t, &v, now).1, 5);
    let v = t.track(now, &x.by_b(C, &[chunk(COOKIE_ACK, 0, b"")]));
    assert_eq!(state(&t, &v, now).1, 100);
    assert_eq!(cfg.sctp.established, 100);
}

/// Under pressure (a new association refused for want of room), `gc`
/// evicts ASSURED associations that are shutting down
/// (`nf_conntrack_proto_sctp.c: sctp_can_early_drop()`: SHUTDOWN_SENT,
/// SHUTDOWN_RECD, SHUTDOWN_ACK_SENT) while the table holds 95 % of its
/// limit, and no open one.
#[test]
fn gc_under_pressure_evicts_associations_shutting_down() {
    let mut config = Config::default();
    config.max_entries = 100;
    let mut t: FixedConnTable<128> = ConnTable::new(HashKey([3; 16]), config);
    let now = Instant::from_secs(100);
    let (a, b) = ("10.1.0.1", "10.2.0.2");
    for port in 5000..5100u16 {
        let _ = t.track(now, &sctp(a, port, b, 6000, 0, &[init(INIT, C)]));
        let _ = t.track(now, &sctp(b, 6000, a, port, C, &[init(INIT_ACK, S)]));
        let _ = t.track(now, &sctp(a, port, b, 6000, S, &[chunk(COOKIE_ECHO, 0, b"cookie!!")]));
        let _ = t.track(now, &sctp(b, 6000, a, port, C, &[chunk(COOKIE_ACK, 0, b"")]));
        // The last ten: the server shuts down (SHUTDOWN_RECD).
        if port >= 5090 {
            let _ = t.track(now, &sctp(b, 6000, a, port, C, &[chunk(SHUTDOWN, 0, &[0; 4])]));
        }
    }
    let count = |t: &FixedConnTable<128>, s: SctpState| {
        t.entries(now).filter(|e| e.sctp_state() == Some(s) && e.status().contains(Status::ASSURED)).count()
    };
    assert_eq!((count(&t, SctpState::Established), count(&t, SctpState::ShutdownRecd)), (90, 10));
    assert_eq!(t.gc(now, 128), 0);
    let v = t.track(now, &sctp(a, 7000, b, 6000, 0, &[init(INIT, C)]));
    assert_eq!(v, Verdict::Dropped(DropReason::TableFull));
    assert_eq!(t.gc(now, 128), 6);
    assert_eq!((count(&t, SctpState::Established), count(&t, SctpState::ShutdownRecd)), (90, 4));
}
