//! Unit tests of the TCP tracker: packing, flag and class rules, whole
//! connections through the state machine and the window checks, RST rules,
//! timeouts, and a property test that arbitrary segments never panic.

extern crate std;

use super::window::sack_edge;
use super::*;
use crate::time::Tick;
use crate::tuple::Family;
use crate::wire::tcp::{
    ACK as TH_ACK, CWR as TH_CWR, ECE as TH_ECE, FIN as TH_FIN, PSH as TH_PSH, RST as TH_RST, SYN as TH_SYN,
    SeqNumber, URG as TH_URG,
};
use proptest::prelude::*;
use std::format;
use std::string::ToString;
use std::vec::Vec;

const O: Direction = Direction::Original;
const R: Direction = Direction::Reply;

/// A segment of `len` payload bytes (the tracker reads only the length).
fn segment<'a>(seq: u32, ack: u32, window: u16, flags: u8, options: &'a [u8], len: u32) -> Segment<'a> {
    static ZEROS: [u8; 1 << 16] = [0; 1 << 16];
    let payload = &ZEROS[..(len as usize).min(ZEROS.len())];
    Segment { seq: SeqNumber(seq), ack: SeqNumber(ack), window, flags, options, payload }
}

fn ctx(dir: Direction, is_new: bool, seen_reply: bool, assured: bool, remaining: u32) -> PacketCtx {
    PacketCtx {
        now: Tick::from_ticks(0),
        now_frac: 0,
        dir,
        is_new,
        seen_reply,
        assured,
        deadline: Tick::from_ticks(0).after_secs(remaining),
        family: Family::Ipv4,
        peer_seqadj: crate::nat::payload::SeqAdj::ZERO,
    }
}
const SYN: u8 = TH_SYN;
const SA: u8 = TH_SYN | TH_ACK;
const A: u8 = TH_ACK;
const PA: u8 = TH_PSH | TH_ACK;
const FA: u8 = TH_FIN | TH_ACK;
const RST: u8 = TH_RST;
const RA: u8 = TH_RST | TH_ACK;

/// MSS 1460, SACK_PERM, NOP, WS `shift`, NOP, NOP (12 bytes).
fn syn_opts(shift: u8) -> [u8; 12] {
    [2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, shift, 1, 1]
}

fn accept(timeout: u32) -> Outcome {
    Outcome::Accept { timeout: Some(timeout), assure: false }
}

fn accept_assured(timeout: u32) -> Outcome {
    Outcome::Accept { timeout: Some(timeout), assure: true }
}

/// A minimal stand-in for the connection table: keeps the status bits
/// and the remaining lifetime the way the core would (`nf_conntrack_core.c:
/// nf_conntrack_in()`, `__nf_ct_refresh_acct()`).
struct Conn {
    tcp: TcpConn,
    created: bool,
    seen_reply: bool,
    assured: bool,
    remaining: u32,
    cfg: TcpConfig,
}

impl Conn {
    fn new() -> Conn {
        Conn::with(TcpConfig::default())
    }

    fn with(cfg: TcpConfig) -> Conn {
        Conn { tcp: TcpConn::default(), created: false, seen_reply: false, assured: false, remaining: 0, cfg }
    }

    fn reset(&mut self) {
        *self = Conn::with(self.cfg);
    }

    fn state(&self) -> TcpState {
        self.tcp.state()
    }

    fn side(&self, d: Direction) -> TcpSide {
        self.tcp.side(d)
    }

    /// Send one segment; returns the tracker's verdict (for Reopen, the
    /// verdict of the packet tracked again on a fresh entry is checked
    /// separately by the caller through `state()`).
    #[allow(clippy::too_many_arguments)]
    fn seg(
        &mut self,
        dir: Direction,
        flags: u8,
        seq: u32,
        ack: u32,
        win: u16,
        opts: &[u8],
        len: u32,
    ) -> Outcome {
        let seg = segment(seq, ack, win, flags, opts, len);
        let ctx = ctx(dir, !self.created, self.seen_reply, self.assured, self.remaining);
        let v = track(&mut self.tcp, &seg, &ctx, &self.cfg);
        match v {
            Outcome::Accept { timeout, assure } => {
                self.created = true;
                if let Some(t) = timeout {
                    self.remaining = t;
                }
                self.assured |= assure;
                self.seen_reply |= dir == R;
            }
            Outcome::Close => {
                self.created = true;
                self.reset();
            }
            Outcome::Ignore(_) => {
                self.created = true;
                self.seen_reply |= dir == R;
            }
            Outcome::Invalid { timeout, .. } => {
                if let Some(t) = timeout {
                    self.remaining = t;
                }
            }
            Outcome::Reopen => {
                // The core deletes the entry and tracks the packet again
                // as a new connection (original direction).
                self.reset();
                let again = self.seg(O, flags, seq, ack, win, opts, len);
                assert!(matches!(again, Outcome::Accept { .. }), "{again:?}");
            }
        }
        v
    }

    /// A normal three-way handshake: C ISN 1000, S ISN 5000, both with
    /// window scale 7 and SACK.
    fn established() -> Conn {
        let mut c = Conn::new();
        c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0);
        c.seg(R, SA, 5000, 1001, 65160, &syn_opts(7), 0);
        c.seg(O, A, 1001, 5001, 502, &[], 0);
        assert_eq!(c.state(), TcpState::Established);
        assert!(c.assured);
        c
    }
}

/// Whether the tracker keeps all of Linux's memory of past packets (not
/// feature `compact-tcp`; see `memo.rs`).
const FULL_MEMO: bool = cfg!(not(feature = "compact-tcp"));

#[test]
fn conn_is_small() {
    let compact = if cfg!(feature = "ipv4-only") { 28 } else { 32 };
    assert_eq!(core::mem::size_of::<TcpConn>(), if FULL_MEMO { 56 } else { compact });
}

#[test]
fn default_is_none_and_all_zero() {
    let c = TcpConn::default();
    assert_eq!(c.state(), TcpState::None);
    assert_eq!(c, TcpConn::ZERO);
    assert_eq!((c.last_dir(), c.last_index()), (O, PacketClass::Syn));
    assert_eq!((c.side(O), c.side(R)), (TcpSide::default(), TcpSide::default()));
    // The snapshot encoding of the zero state is all zero bytes: every
    // field of it is zero.
    assert!(c.encode().iter().all(|&b| b == 0));
}

#[test]
fn state_names() {
    let names = [
        "NONE",
        "SYN_SENT",
        "SYN_RECV",
        "ESTABLISHED",
        "FIN_WAIT",
        "CLOSE_WAIT",
        "LAST_ACK",
        "TIME_WAIT",
        "CLOSE",
        "SYN_SENT2",
    ];
    use TcpState::*;
    let states =
        [None, SynSent, SynRecv, Established, FinWait, CloseWait, LastAck, TimeWait, Close, SynSent2];
    for (i, (s, n)) in states.iter().zip(names).enumerate() {
        assert_eq!(s.name(), n);
        assert_eq!(*s as usize, i, "the kernel's numbering");
    }
}

#[test]
fn flag_validity_table() {
    let valid: [u8; 9] = [SYN, SYN | TH_URG, SA, RST, RA, FA, FA | TH_URG, A, A | TH_URG];
    for f in 0..=255u8 {
        let masked = f & !(TH_PSH | TH_ECE | TH_CWR);
        assert_eq!(valid_flag_combination(f), valid.contains(&masked), "flags {f:#04x}");
    }
    // Flag combinations absent from tcp_valid_flags[] (NULL, FIN alone,
    // Xmas, SYN+FIN, …).
    for f in [
        0,
        TH_FIN,
        TH_URG,
        TH_FIN | TH_URG | TH_PSH,
        SYN | TH_FIN,
        SYN | RST,
        TH_FIN | RST,
        RST | TH_URG,
        RA | TH_URG,
        SA | TH_URG,
        SA | TH_FIN,
        0xff,
    ] {
        assert!(!valid_flag_combination(f), "{f:#04x}");
        let mut c = Conn::new();
        assert_eq!(
            c.seg(O, f, 1, 0, 100, &[], 0),
            Outcome::Invalid { reason: Reason::Tcp(TcpReason::InvalidFlags), timeout: None }
        );
    }
    // PSH/ECE/CWR are ignored.
    assert!(valid_flag_combination(SYN | TH_ECE | TH_CWR));
    assert!(valid_flag_combination(PA | TH_ECE));
}

#[test]
fn packet_classes() {
    assert_eq!(PacketClass::of_flags(RA), PacketClass::Rst);
    assert_eq!(PacketClass::of_flags(SA), PacketClass::SynAck);
    assert_eq!(PacketClass::of_flags(SYN), PacketClass::Syn);
    assert_eq!(PacketClass::of_flags(FA), PacketClass::Fin);
    assert_eq!(PacketClass::of_flags(PA), PacketClass::Ack);
    assert_eq!(PacketClass::of_flags(0), PacketClass::None);
    // Every byte, against `get_conntrack_index()`'s order of tests.
    for f in 0..=255u8 {
        let reference = if f & RST != 0 {
            PacketClass::Rst
        } else if f & SYN != 0 && f & A != 0 {
            PacketClass::SynAck
        } else if f & SYN != 0 {
            PacketClass::Syn
        } else if f & TH_FIN != 0 {
            PacketClass::Fin
        } else if f & A != 0 {
            PacketClass::Ack
        } else {
            PacketClass::None
        };
        assert_eq!(PacketClass::of_flags(f), reference, "flags {f:#04x}");
    }
}

#[test]
fn reason_texts() {
    let cases: [(TcpReason, &str); 12] = [
        (TcpReason::PickupDisabled, "pickup disabled (nf_conntrack_tcp_loose=0)"),
        (TcpReason::InvalidFlags, "invalid tcp flag combination"),
        (TcpReason::InvalidNew, "invalid new"),
        (
            TcpReason::InvalidTransition { index: 3, dir: 0, state: TcpState::SynSent },
            "packet (index 3) in dir 0 invalid, state SYN_SENT",
        ),
        (
            TcpReason::IgnoredTransition { index: 1, dir: 1, state: TcpState::SynRecv },
            "packet (index 1) in dir 1 ignored, state SYN_RECV",
        ),
        (
            TcpReason::SeqOverUpperBound(12345),
            "SEQ is over upper bound 12345 (over the window of the receiver)",
        ),
        (TcpReason::AckOverUpperBound(12345), "ACK is over upper bound 12345 (ACKed data not seen yet)"),
        (
            TcpReason::SeqUnderLowerBound(12345),
            "SEQ is under lower bound 12345 (already ACKed data retransmitted)",
        ),
        (
            TcpReason::AckUnderLowerBound(12345),
            "ignored ACK under lower bound 12345 (possible overly delayed)",
        ),
        (TcpReason::Overshoot(7), "7 bytes more than expected"),
        (TcpReason::InvalidRst, "invalid rst"),
        (TcpReason::ChallengeAck, "challenge-ack ignored"),
    ];
    for (r, text) in cases {
        assert_eq!(r.to_string(), text);
    }
}

/// A whole connection (handshake, data, ACK, FIN/FIN/ACK, port reuse after
/// TIME_WAIT), step by step, checking state, window data and timeout after
/// each packet.
#[test]
fn worked_example_normal_connection() {
    let mut c = Conn::new();
    // 1: C→S SYN.
    assert_eq!(c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0), accept(120));
    assert_eq!(c.state(), TcpState::SynSent);
    let (cs, ss) = (c.side(O), c.side(R));
    assert_eq!((cs.td_end.0, cs.td_maxend.0, cs.td_maxwin, cs.scale()), (1001, 1001, 64240, 7));
    assert_eq!(cs.flags() & (FLAG_SACK_PERM | FLAG_WINDOW_SCALE), FLAG_SACK_PERM | FLAG_WINDOW_SCALE);
    assert_eq!(ss, TcpSide { td_maxend: SeqNumber(64240), ..TcpSide::default() });

    // 2: S→C SYN-ACK.
    assert_eq!(c.seg(R, SA, 5000, 1001, 65160, &syn_opts(7), 0), accept(60));
    assert_eq!(c.state(), TcpState::SynRecv);
    let (cs, ss) = (c.side(O), c.side(R));
    assert_eq!((ss.td_end.0, ss.td_maxend.0, ss.td_maxwin, ss.scale()), (5001, 5001, 65160, 7));
    assert_eq!(ss.maxack(), FULL_MEMO.then_some(SeqNumber(1001)));
    assert_eq!({ cs.td_maxend.0 }, 66161);
    assert!(c.seen_reply);

    // 3: C→S ACK completes the handshake: ASSURED.
    assert_eq!(c.seg(O, A, 1001, 5001, 502, &[], 0), accept_assured(432_000));
    assert_eq!(c.state(), TcpState::Established);
    let (cs, ss) = (c.side(O), c.side(R));
    assert_eq!({ cs.td_maxwin }, 64256);
    assert_eq!(cs.maxack(), FULL_MEMO.then_some(SeqNumber(5001)));
    assert_eq!({ ss.td_maxend.0 }, 69257);

    // 4: C→S 100 bytes: data outstanding caps the timeout.
    assert_eq!(c.seg(O, PA, 1001, 5001, 502, &[], 100), accept(300));
    assert_eq!({ c.side(O).td_end.0 }, 1101);
    assert_ne!(c.side(O).flags() & FLAG_DATA_UNACKNOWLEDGED, 0);

    // 5: S→C ACK of the data.
    assert_eq!(c.seg(R, A, 5001, 1101, 509, &[], 0), accept(432_000));
    assert_eq!({ c.side(O).td_maxend.0 }, 66253);
    assert_eq!(c.side(O).flags() & FLAG_DATA_UNACKNOWLEDGED, 0);
    assert_eq!({ c.side(R).td_maxwin }, 65160);

    // 6: C→S FIN.
    assert_eq!(c.seg(O, FA, 1101, 5001, 502, &[], 0), accept(120));
    assert_eq!(c.state(), TcpState::FinWait);
    assert_eq!({ c.side(O).td_end.0 }, 1102);
    assert_ne!(c.side(O).flags() & FLAG_CLOSE_INIT, 0);
    assert_ne!(c.side(O).flags() & FLAG_DATA_UNACKNOWLEDGED, 0);

    // 7: S→C FIN.
    assert_eq!(c.seg(R, FA, 5001, 1102, 509, &[], 0), accept(30));
    assert_eq!(c.state(), TcpState::LastAck);

    // 8: C→S last ACK.
    assert_eq!(c.seg(O, A, 1102, 5002, 502, &[], 0), accept(120));
    assert_eq!(c.state(), TcpState::TimeWait);

    // 9: port reused: CLOSE_INIT set → Reopen, tracked anew as SYN_SENT.
    assert_eq!(c.seg(O, SYN, 90000, 0, 64240, &syn_opts(7), 0), Outcome::Reopen);
    assert_eq!(c.state(), TcpState::SynSent);
    assert_eq!(c.remaining, 120);
    assert!(!c.seen_reply);
    assert_eq!({ c.side(O).td_end.0 }, 90001);
}

/// Handshake, one 100-byte segment and its ACK: the state the out-of-window
/// tests start from.
fn after_step5() -> Conn {
    let mut c = Conn::established();
    c.seg(O, PA, 1001, 5001, 502, &[], 100);
    c.seg(R, A, 5001, 1101, 509, &[], 0);
    assert_eq!((c.side(R).td_maxwin, c.side(O).td_maxend.0), (65160, 66253));
    c
}

#[test]
fn overshoot_is_ignored() {
    let mut c = after_step5();
    let v = c.seg(O, PA, 70000, 5001, 502, &[], 100);
    assert_eq!(v, Outcome::Ignore(Reason::Tcp(TcpReason::Overshoot(3848))));
    assert_eq!({ c.side(O).td_end.0 }, 70100);
    assert_eq!(c.state(), TcpState::Established);
    assert_eq!(c.remaining, 432_000, "no timeout change");
}

#[test]
fn far_overshoot_is_invalid() {
    let mut c = after_step5();
    let before = c.tcp;
    let v = c.seg(O, PA, 200_000, 5001, 502, &[], 100);
    assert_eq!(
        v,
        Outcome::Invalid { reason: Reason::Tcp(TcpReason::SeqOverUpperBound(66254)), timeout: None }
    );
    assert_eq!(c.tcp, before, "an INVALID data segment teaches nothing");
}

#[test]
fn ack_of_unseen_data_is_invalid() {
    let mut c = after_step5();
    let v = c.seg(R, A, 5001, 99999, 509, &[], 0);
    assert_eq!(
        v,
        Outcome::Invalid { reason: Reason::Tcp(TcpReason::AckOverUpperBound(1102)), timeout: None }
    );
}

#[test]
fn old_retransmission_is_ignored() {
    let mut c = after_step5();
    // Move C.td_end far ahead: 60000 + 10000 bytes, each acknowledged.
    assert_eq!(c.seg(O, PA, 1101, 5001, 502, &[], 60000), accept(300));
    assert_eq!(c.seg(R, A, 5001, 61101, 509, &[], 0), accept(432_000));
    assert_eq!(c.seg(O, PA, 61101, 5001, 502, &[], 10000), accept(300));
    assert_eq!(c.seg(R, A, 5001, 71101, 509, &[], 0), accept(432_000));
    // Bytes 1001–1101 again: end 1101 is not after 71101 − 65160 − 1.
    let v = c.seg(O, PA, 1001, 5001, 502, &[], 100);
    assert_eq!(v, Outcome::Ignore(Reason::Tcp(TcpReason::SeqUnderLowerBound(71101 - 65160 - 1))));
}

#[test]
fn overly_delayed_ack_is_ignored() {
    let mut c = after_step5();
    // S acknowledges something far older than C.td_end − 66000.
    let v = c.seg(R, A, 5001, 1101u32.wrapping_sub(100_000), 509, &[], 0);
    let bound = 1101u32.wrapping_sub(66000).wrapping_sub(1);
    assert_eq!(v, Outcome::Ignore(Reason::Tcp(TcpReason::AckUnderLowerBound(bound))));
}

#[test]
fn be_liberal_accepts_without_learning() {
    let cfg = TcpConfig { be_liberal: true, ..TcpConfig::default() };
    let mut c = Conn::with(cfg);
    c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0);
    c.seg(R, SA, 5000, 1001, 65160, &syn_opts(7), 0);
    c.seg(O, A, 1001, 5001, 502, &[], 0);
    let before = c.side(O);
    // Far beyond the window: accepted, state machine runs (FIN → FIN_WAIT),
    // window data untouched.
    assert_eq!(c.seg(O, FA, 900_000, 5001, 502, &[], 10), accept(120));
    assert_eq!(c.state(), TcpState::FinWait);
    assert_eq!({ c.side(O).td_end }, { before.td_end });
    // An ACK of unseen data also passes.
    assert!(matches!(c.seg(R, A, 5001, 999_999, 509, &[], 0), Outcome::Accept { .. }));
}

#[test]
fn loose_pickup_rejected_when_off() {
    let cfg = TcpConfig { loose: false, ..TcpConfig::default() };
    let mut c = Conn::with(cfg);
    let v = c.seg(O, PA, 1234, 5678, 1000, &[], 10);
    assert_eq!(v, Outcome::Invalid { reason: Reason::Tcp(TcpReason::PickupDisabled), timeout: None });
    assert!(!TcpReason::PickupDisabled.kernel_logs());
    assert!(!c.created);
    // A SYN still opens a connection.
    assert_eq!(c.seg(O, SYN, 1, 0, 100, &[], 0), accept(120));
}

#[test]
fn only_syn_or_ack_open_an_entry() {
    for f in [SA, FA, RST, RA] {
        let mut c = Conn::new();
        let v = c.seg(O, f, 1, 1, 100, &[], 0);
        assert_eq!(v, Outcome::Invalid { reason: Reason::Tcp(TcpReason::InvalidNew), timeout: None });
    }
}

#[test]
fn loose_pickup() {
    let mut c = Conn::new();
    // Picked up mid-stream: ESTABLISHED, capped at the unacknowledged timeout, liberal both ways.
    assert_eq!(c.seg(O, PA, 1000, 9000, 1000, &[], 100), accept(300));
    assert_eq!(c.state(), TcpState::Established);
    for d in [O, R] {
        assert_eq!(c.side(d).flags() & (FLAG_SACK_PERM | FLAG_BE_LIBERAL), FLAG_SACK_PERM | FLAG_BE_LIBERAL);
    }
    assert_eq!({ c.side(O).td_end.0 }, 1100);
    assert_eq!({ c.side(O).td_maxend.0 }, 2100);
    // The first reply is not ASSURED yet (SEEN_REPLY set only after it).
    let v = c.seg(R, A, 9000, 1100, 1000, &[], 0);
    assert!(matches!(v, Outcome::Accept { assure: false, .. }), "{v:?}");
    // The next original packet is.
    let v = c.seg(O, A, 1100, 9000, 1000, &[], 0);
    assert!(matches!(v, Outcome::Accept { assure: true, .. }), "{v:?}");
    // Wildly out-of-window data is still accepted (BE_LIBERAL).
    assert!(matches!(c.seg(O, PA, 77_777_777, 9000, 1000, &[], 10), Outcome::Accept { .. }));
}

#[test]
fn simultaneous_open() {
    let mut c = Conn::new();
    assert_eq!(c.seg(O, SYN, 100, 0, 1000, &syn_opts(2), 0), accept(120));
    // Reply SYN: SYN_SENT2; the deadline is kept (index syn in SYN_SENT
    // without SEEN_REPLY).
    assert_eq!(
        c.seg(R, SYN, 700, 0, 2000, &syn_opts(2), 0),
        Outcome::Accept { timeout: None, assure: false }
    );
    assert_eq!(c.state(), TcpState::SynSent2);
    assert_ne!(c.tcp.last_flags() & FLAG_SIMULTANEOUS_OPEN, 0);
    assert_eq!({ c.side(R).td_end.0 }, 701);
    // SYN-ACK (from the original side here) → SYN_RECV.
    assert_eq!(c.seg(O, SA, 100, 701, 1000, &syn_opts(2), 0), accept(60));
    assert_eq!(c.state(), TcpState::SynRecv);
    // The reply side's ACK completes it.
    assert_eq!(c.seg(R, A, 701, 101, 2000, &[], 0), accept_assured(432_000));
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn syn_retransmit_keeps_deadline() {
    let mut c = Conn::new();
    c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0);
    assert_eq!(
        c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0),
        Outcome::Accept { timeout: None, assure: false }
    );
    assert_eq!(c.state(), TcpState::SynSent);
}

#[test]
fn orig_ack_in_syn_sent_is_invalid_and_reply_ack_ignored() {
    let mut c = Conn::new();
    c.seg(O, SYN, 1000, 0, 64240, &[], 0);
    assert_eq!(
        c.seg(O, A, 1001, 5, 100, &[], 0).to_reason(),
        Some("packet (index 3) in dir 0 invalid, state SYN_SENT".into())
    );
    assert_eq!(
        c.seg(R, A, 77, 4242, 100, &[], 0).to_reason(),
        Some("packet (index 3) in dir 1 ignored, state SYN_SENT".into())
    );
    assert_eq!(c.tcp.last_index(), PacketClass::Ack);
    // RFC 5961 section 4.2: the SYN's sender answers the challenge ACK with
    // a RST at the challenge ACK's ack number (nf_conntrack_tcp_packet():
    // the RST case, answer to a challenge ACK let through); accepted without
    // window check (which would fail: 4242 is far beyond C.td_maxend =
    // 1001). The ignored reply already set SEEN_REPLY, so the entry is not
    // killed. (With `compact-tcp`, which does not remember the challenge
    // ACK's number, the RST takes the window check and fails it.)
    assert!(c.seen_reply);
    if !FULL_MEMO {
        let v = c.seg(O, RST, 4242, 0, 0, &[], 0);
        assert_eq!(
            v,
            Outcome::Invalid { reason: Reason::Tcp(TcpReason::SeqOverUpperBound(1002)), timeout: None }
        );
        assert_eq!(c.state(), TcpState::SynSent);
        return;
    }
    assert_eq!(c.seg(O, RST, 4242, 0, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Close);
    assert_eq!({ c.side(O).td_end.0 }, 1001);
}

trait ToReason {
    fn to_reason(self) -> Option<std::string::String>;
}

impl ToReason for Outcome {
    fn to_reason(self) -> Option<std::string::String> {
        match self {
            Outcome::Ignore(Reason::Tcp(r)) | Outcome::Invalid { reason: Reason::Tcp(r), .. } => {
                Some(r.to_string())
            }
            _ => None,
        }
    }
}

/// The only answer to a SYN is a RST: the entry is deleted at once
/// (`nf_conntrack_tcp_packet()`: a RST before SEEN_REPLY kills the entry).
#[test]
fn rst_only_answer_to_syn_kills() {
    let mut c = Conn::new();
    c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0);
    assert_eq!(c.seg(R, RA, 0, 1001, 0, &[], 0), Outcome::Close);
}

#[test]
fn exact_rst_closes() {
    let mut c = after_step5();
    // S's td_maxack is 1101; C's is 5001. A RST from S at seq 5001 (with
    // `compact-tcp`, which keeps no td_maxack: in the window).
    assert_eq!(c.side(O).maxack(), FULL_MEMO.then_some(SeqNumber(5001)));
    assert_eq!(c.seg(R, RA, 5001, 1101, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Close);
}

#[test]
#[cfg(not(feature = "compact-tcp"))]
fn inexact_rst_keeps_state_with_close_timeout() {
    let mut c = after_step5();
    assert_eq!(c.seg(R, RST, 5500, 0, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Established);
    // The RST moved S.td_end to 5500 (it is learnt from like any
    // in-window segment), so C's next ACK of 5001 leaves S's "data"
    // unacknowledged: traffic continues with the 5-minute timeout.
    assert_eq!({ c.side(R).td_end.0 }, 5500);
    assert_eq!(c.seg(O, A, 1101, 5001, 502, &[], 0), accept(300));
    assert_eq!(c.seg(O, A, 1101, 5500, 502, &[], 0), accept(432_000));
    // Challenge ACK flow: inexact RST, then the exact one closes.
    assert_eq!(c.side(O).maxack(), Some(SeqNumber(5500)));
    assert_eq!(c.seg(R, RST, 6000, 0, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Established);
    assert_eq!(c.seg(R, RST, 5500, 0, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Close);
}

#[test]
#[cfg(not(feature = "compact-tcp"))]
fn rst_below_maxack_is_invalid() {
    let mut c = after_step5();
    assert_eq!(
        c.seg(R, RST, 4000, 0, 0, &[], 0),
        Outcome::Invalid { reason: Reason::Tcp(TcpReason::InvalidRst), timeout: None }
    );
    c.cfg = TcpConfig { ignore_invalid_rst: true, ..TcpConfig::default() };
    // Now it is checked like an inexact RST (and 4000 is in the window).
    assert_eq!(c.seg(R, RST, 4000, 0, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn rst_train_after_last_segment_closes() {
    let mut c = after_step5();
    c.seg(R, PA, 5001, 1101, 509, &[], 19);
    // RST right after S's last data segment (seq == last_end).
    assert_eq!(c.seg(R, RA, 5020, 1101, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Close);
}

#[test]
fn syn_after_own_rst_reopens() {
    let mut c = after_step5();
    c.seg(O, RA, 1101, 5001, 0, &[], 0);
    assert_eq!(c.state(), TcpState::Close);
    assert_eq!(c.seg(O, SYN, 424242, 0, 64240, &syn_opts(7), 0), Outcome::Reopen);
    assert_eq!(c.state(), TcpState::SynSent);
    assert!(!c.seen_reply && !c.assured);
}

#[test]
#[cfg(not(feature = "compact-tcp"))]
fn syn_after_peer_rst_is_ignored_then_synack_resyncs() {
    let mut c = after_step5();
    c.seg(R, RA, 5001, 1101, 0, &[], 0);
    assert_eq!(c.state(), TcpState::Close);
    // New SYN from the client: ignored (the peer reset, not us).
    let v = c.seg(O, SYN, 424242, 0, 29200, &syn_opts(5), 0);
    assert_eq!(v.to_reason(), Some("packet (index 0) in dir 0 ignored, state CLOSE".into()));
    assert_eq!(c.state(), TcpState::Close);
    assert_eq!(c.tcp.last_flags(), FLAG_SACK_PERM | FLAG_WINDOW_SCALE);
    // The SYN-ACK answering it resynchronises to SYN_RECV.
    assert_eq!(c.seg(R, SA, 777, 424243, 28960, &syn_opts(6), 0), accept(60));
    assert_eq!(c.state(), TcpState::SynRecv);
    let (cs, ss) = (c.side(O), c.side(R));
    assert_eq!((cs.td_end.0, cs.td_maxwin, cs.scale()), (424243, 29200, 5));
    assert_eq!({ cs.td_maxend.0 }, 424243 + 28960);
    assert_eq!((ss.td_end.0, ss.td_maxend.0, ss.td_maxwin, ss.scale()), (778, 778, 28960, 6));
    // And the client's ACK completes the new handshake.
    assert!(matches!(c.seg(O, A, 424243, 778, 1000, &[], 0), Outcome::Accept { .. }));
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn synack_not_answering_ignored_syn_is_ignored() {
    let mut c = Conn::established();
    let v = c.seg(R, SA, 5000, 1001, 65160, &syn_opts(7), 0);
    assert_eq!(v.to_reason(), Some("packet (index 1) in dir 1 ignored, state ESTABLISHED".into()));
}

#[test]
fn challenge_ack_in_last_ack() {
    let mut c = after_step5();
    c.seg(O, FA, 1101, 5001, 502, &[], 0);
    c.seg(R, FA, 5001, 1102, 509, &[], 0);
    assert_eq!(c.state(), TcpState::LastAck);
    // A new SYN from the client is ignored and marks EXP_CHALLENGE_ACK.
    let v = c.seg(O, SYN, 999_999, 0, 64240, &syn_opts(7), 0);
    assert_eq!(v.to_reason(), Some("packet (index 0) in dir 0 ignored, state LAST_ACK".into()));
    assert_ne!(c.tcp.last_flags() & FLAG_EXP_CHALLENGE_ACK, 0);
    // The server's challenge ACK is not the last ACK.
    assert_eq!(c.seg(R, A, 5002, 1102, 509, &[], 0), Outcome::Ignore(Reason::Tcp(TcpReason::ChallengeAck)));
    assert_eq!(c.state(), TcpState::LastAck);
    assert_eq!(c.tcp.last_flags() & FLAG_EXP_CHALLENGE_ACK, 0);
    // The real last ACK still works.
    assert_eq!(c.seg(O, A, 1102, 5002, 502, &[], 0), accept(120));
    assert_eq!(c.state(), TcpState::TimeWait);
}

#[test]
fn reply_syn_in_time_wait_after_close_reopens() {
    let mut c = after_step5();
    c.seg(O, FA, 1101, 5001, 502, &[], 0);
    c.seg(R, FA, 5001, 1102, 509, &[], 0);
    c.seg(O, A, 1102, 5002, 502, &[], 0);
    assert_eq!(c.state(), TcpState::TimeWait);
    // Roles switched: the former server opens with the same tuple.
    assert_eq!(c.seg(R, SYN, 31337, 0, 1000, &[], 0), Outcome::Reopen);
}

/// (With `compact-tcp` too, which counts by the segment's fingerprint,
/// but not in the IPv4-only build, which has no room for it.)
#[test]
#[cfg(not(all(feature = "compact-tcp", feature = "ipv4-only")))]
fn retransmissions_cap_timeout() {
    let mut c = after_step5();
    // Step 5's ACK repeated: retrans reaches 3 on the 3rd extra copy.
    assert_eq!(c.seg(R, A, 5001, 1101, 509, &[], 0), accept(432_000));
    assert_eq!(c.seg(R, A, 5001, 1101, 509, &[], 0), accept(432_000));
    assert_eq!(c.tcp.retrans(), 2);
    assert_eq!(c.seg(R, A, 5001, 1101, 509, &[], 0), accept(300));
    assert_eq!(c.tcp.retrans(), 3);
    // A different segment resets the counter.
    assert_eq!(c.seg(O, A, 1101, 5001, 502, &[], 0), accept(432_000));
    assert_eq!(c.tcp.retrans(), 0);
}

/// `compact-tcp`'s divergences (`memo.rs`), each where Linux's own
/// behaviour is tested above: without `td_maxack`, an inexact RST in the
/// window closes and one below the highest ACK is taken like any RST in
/// the window.
#[test]
#[cfg(feature = "compact-tcp")]
fn compact_rst_is_checked_by_the_window_only() {
    let mut c = after_step5();
    assert_eq!(c.seg(R, RST, 5500, 0, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Close);
    let mut c = after_step5();
    assert_eq!(c.seg(R, RST, 4000, 0, 0, &[], 0), accept(10));
    assert_eq!(c.state(), TcpState::Close);
}

/// `compact-tcp`: a SYN-ACK answering an ignored SYN stays ignored (the
/// SYN's end is not remembered), and the client's ACK of it is then out
/// of the old connection's window.
#[test]
#[cfg(feature = "compact-tcp")]
fn compact_synack_after_ignored_syn_stays_ignored() {
    let mut c = after_step5();
    c.seg(R, RA, 5001, 1101, 0, &[], 0);
    assert_eq!(c.state(), TcpState::Close);
    let v = c.seg(O, SYN, 424242, 0, 29200, &syn_opts(5), 0);
    assert_eq!(v.to_reason(), Some("packet (index 0) in dir 0 ignored, state CLOSE".into()));
    let v = c.seg(R, SA, 777, 424243, 28960, &syn_opts(6), 0);
    assert_eq!(v.to_reason(), Some("packet (index 1) in dir 1 ignored, state CLOSE".into()));
    assert_eq!(c.state(), TcpState::Close);
}

/// `compact-tcp` with `ipv4-only`: no retransmission counter, so repeated
/// segments keep the state's timeout.
#[test]
#[cfg(all(feature = "compact-tcp", feature = "ipv4-only"))]
fn compact_retransmissions_keep_the_timeout() {
    let mut c = after_step5();
    for _ in 0..4 {
        assert_eq!(c.seg(R, A, 5001, 1101, 509, &[], 0), accept(432_000));
    }
    assert_eq!(c.tcp.retrans(), 0);
}

/// `compact-tcp`: the fingerprint stands for the numbers only while
/// they are the last ones Linux compares: a packet the tracker ignores
/// overwrites some of them in Linux, and the count starts afresh at the
/// next ACK-class segment, even the same one again.
#[test]
#[cfg(all(feature = "compact-tcp", not(feature = "ipv4-only")))]
fn compact_count_restarts_after_an_ignored_packet() {
    let mut c = after_step5();
    c.seg(R, A, 5001, 1101, 509, &[], 0);
    c.seg(R, A, 5001, 1101, 509, &[], 0);
    assert_eq!(c.tcp.retrans(), 2);
    // A SYN in ESTABLISHED is ignored.
    let v = c.seg(O, SYN, 424242, 0, 29200, &syn_opts(5), 0);
    assert!(v.to_reason().is_some_and(|r| r.contains("ignored")), "{v:?}");
    assert_eq!(c.seg(R, A, 5001, 1101, 509, &[], 0), accept(432_000));
    assert_eq!(c.tcp.retrans(), 0);
    assert_eq!(c.seg(R, A, 5001, 1101, 509, &[], 0), accept(432_000));
    assert_eq!(c.tcp.retrans(), 1);
}

/// `compact-tcp`: the fingerprints of segments that follow one another
/// in a connection (the next byte, the next ACK, another window, the
/// other direction) differ, and a new entry's zeroed state is Linux's
/// zeroed numbers.
#[test]
#[cfg(all(feature = "compact-tcp", not(feature = "ipv4-only")))]
fn compact_fingerprints_of_neighbouring_segments_differ() {
    use super::memo::segment_print;
    use crate::wire::tcp::SeqNumber as S;
    assert_eq!(segment_print(O, S(0), S(0), S(0), 0), 0);
    let mut seen = std::collections::HashSet::new();
    for base in [0u32, 0x7fff_fff0, 0xffff_fff0, 3_478_611_104] {
        for i in 0..64u32 {
            for (dir, win) in [(O, 509u16), (R, 509), (O, 510)] {
                let (seq, ack) = (S(base.wrapping_add(i)), S(base.wrapping_add(7 * i)));
                seen.insert(segment_print(dir, seq, ack, S(seq.0.wrapping_add(1)), win));
                seen.insert(segment_print(dir, seq, ack, seq, win));
            }
        }
    }
    assert_eq!(seen.len(), 4 * 64 * 3 * 2);
    assert!(seen.iter().all(|&p| p < 1 << 23));
}

#[test]
fn zero_window_caps_timeout() {
    let mut c = after_step5();
    assert_eq!(c.seg(R, A, 5001, 1101, 0, &[], 0), accept(300));
    // The receiver's right edge is ack + 1 for a zero window.
    assert_eq!({ c.side(O).td_maxend.0 }, 66253, "maxend never moves back");
}

#[test]
fn handle_invalid_shortens_after_fin_exchange() {
    let mut c = after_step5();
    c.remaining = 432_000;
    // C's FIN acknowledging data S never sent: INVALID, remembered.
    let v = c.seg(O, FA, 1101, 99_999, 502, &[], 0);
    assert_eq!(
        v,
        Outcome::Invalid { reason: Reason::Tcp(TcpReason::AckOverUpperBound(5002)), timeout: None }
    );
    assert_eq!((c.tcp.last_index(), c.tcp.last_dir()), (PacketClass::Fin, O));
    // S's equally broken FIN: the lifetime drops to the unacknowledged timeout.
    let v = c.seg(R, FA, 5001, 77_777, 509, &[], 0);
    assert_eq!(
        v,
        Outcome::Invalid { reason: Reason::Tcp(TcpReason::AckOverUpperBound(1102)), timeout: Some(300) }
    );
    assert_eq!(c.state(), TcpState::Established);
}

#[test]
fn handle_invalid_ignores_non_fin_rst_and_unassured() {
    let mut c = after_step5();
    c.remaining = 432_000;
    c.seg(O, FA, 1101, 99_999, 502, &[], 0);
    // An invalid ACK does not trigger the shortening and is not remembered.
    let v = c.seg(R, A, 5001, 77_777, 509, &[], 0);
    assert!(matches!(v, Outcome::Invalid { timeout: None, .. }));
    assert_eq!(c.tcp.last_index(), PacketClass::Fin);
    c.assured = false;
    let v = c.seg(R, FA, 5001, 77_777, 509, &[], 0);
    assert!(matches!(v, Outcome::Invalid { timeout: None, .. }));
}

#[test]
fn sack_blocks_raise_the_ack() {
    // A SACK edge beyond anything the receiver sent fails check III.
    let mut c = after_step5();
    let mut opts = Vec::new();
    opts.extend_from_slice(&[1, 1, 5, 10]);
    opts.extend_from_slice(&1001u32.to_be_bytes());
    opts.extend_from_slice(&2000u32.to_be_bytes());
    let v = c.seg(R, A, 5001, 1101, 509, &opts, 0);
    assert_eq!(
        v,
        Outcome::Invalid { reason: Reason::Tcp(TcpReason::AckOverUpperBound(1102)), timeout: None }
    );
    assert_eq!(sack_edge(&opts, SeqNumber(1101)), SeqNumber(2000));
    // Timestamp-only fast path, malformed lengths.
    assert_eq!(sack_edge(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], SeqNumber(5)), SeqNumber(5));
    assert_eq!(sack_edge(&[5, 9, 0, 0, 0, 0, 0, 0, 0], SeqNumber(5)), SeqNumber(5));
    assert_eq!(sack_edge(&[5, 200], SeqNumber(5)), SeqNumber(5));
}

#[test]
fn option_parsing() {
    let mut s = TcpSide::default();
    s.set_flags(FLAG_BE_LIBERAL | FLAG_CLOSE_INIT);
    s.set_window_scale(3);
    parse_syn_options(&[], &mut s);
    assert_eq!((s.flags(), s.scale()), (FLAG_BE_LIBERAL | FLAG_CLOSE_INIT | FLAG_WINDOW_SCALE, 3));
    parse_syn_options(&[1, 3, 3, 20, 4, 2], &mut s);
    assert_eq!((s.flags(), s.scale()), (FLAG_BE_LIBERAL | FLAG_WINDOW_SCALE | FLAG_SACK_PERM, 14));
    // EOL stops; silly length stops; truncated option stops.
    parse_syn_options(&[0, 3, 3, 7], &mut s);
    assert_eq!((s.flags(), s.scale()), (FLAG_BE_LIBERAL, 0));
    parse_syn_options(&[4, 1, 3, 3, 7], &mut s);
    assert_eq!(s.flags(), FLAG_BE_LIBERAL);
    parse_syn_options(&[4, 2, 3, 3], &mut s);
    assert_eq!(s.flags(), FLAG_BE_LIBERAL | FLAG_SACK_PERM);
}

#[test]
fn window_scale_needs_both_sides() {
    let mut c = Conn::new();
    c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0);
    // The SYN-ACK has SACK but no window scale: both scales drop to 0.
    c.seg(R, SA, 5000, 1001, 65160, &[4, 2, 1, 1], 0);
    assert_eq!((c.side(O).scale(), c.side(R).scale()), (0, 0));
}

#[test]
fn fin_before_synack_is_invalid() {
    let mut c = Conn::new();
    c.seg(O, SYN, 1000, 0, 64240, &[], 0);
    assert_eq!(
        c.seg(O, FA, 1001, 0, 100, &[], 0).to_reason(),
        Some("packet (index 2) in dir 0 invalid, state SYN_SENT".into())
    );
}

proptest! {
    #[test]
    fn before_after_across_wrap(a in any::<u32>(), d in 1u32..(1u32 << 31)) {
        let (a, b) = (SeqNumber(a), SeqNumber(a).add(d));
        prop_assert!(b.after(a));
        prop_assert!(a.before(b));
        prop_assert!(!b.before(a));
        prop_assert!(!a.after(b));
        prop_assert!(!a.before(a) && !a.after(a));
    }

    #[test]
    fn track_never_panics(
        steps in proptest::collection::vec(
            (
                any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>(), any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..48), 0u32..70000,
                any::<[bool; 3]>(), any::<u32>(), any::<bool>(),
            ),
            1..40,
        ),
        cfg_bits in any::<[bool; 3]>(),
        max_retrans in any::<u8>(),
    ) {
        let cfg = TcpConfig {
            loose: cfg_bits[0],
            be_liberal: cfg_bits[1],
            ignore_invalid_rst: cfg_bits[2],
            max_retrans,
            ..TcpConfig::default()
        };
        let mut conn = TcpConn::default();
        let mut prev_seq = 0u32;
        for (reply, flags, seq, ack, win, opts, len, bits, remaining, near) in steps {
            // Half the time stay near the previous sequence numbers so the
            // interesting in-window paths are reached too.
            let seq = if near { prev_seq.wrapping_add(len) } else { seq };
            prev_seq = seq;
            let seg = segment(seq, ack, win, flags, &opts, len);
            let ctx = ctx(if reply { R } else { O }, bits[0], bits[1], bits[2], remaining);
            let v = track(&mut conn, &seg, &ctx, &cfg);
            let _ = format!("{v:?}");
            if let Outcome::Ignore(Reason::Tcp(r)) | Outcome::Invalid { reason: Reason::Tcp(r), .. } = v {
                let _ = r.to_string();
            }
            prop_assert!(conn.state() as u8 <= 9);
        }
    }
}

/// The scale, the side flags and the last packet's direction, class and
/// flags read back as written, in either layout (the `compact-tcp` one
/// packs them into a byte each).
#[test]
fn packed_fields_keep_what_they_are_given() {
    for flags in 0..=0x1fu8 {
        for scale in 0..=14u8 {
            let mut s = TcpSide::default();
            s.set_flags(flags);
            if flags & FLAG_WINDOW_SCALE != 0 {
                s.set_window_scale(scale);
            }
            let want = if flags & FLAG_WINDOW_SCALE != 0 { scale } else { 0 };
            assert_eq!((s.flags(), s.scale()), (flags, want), "{flags:#x} {scale}");
            s.clear_scale();
            assert_eq!((s.flags(), s.scale()), (flags, 0));
        }
    }
    let mut c = TcpConn::ZERO;
    for dir in [O, R] {
        for k in 0..6u8 {
            for f in [0, FLAG_EXP_CHALLENGE_ACK, FLAG_SIMULTANEOUS_OPEN, 0x20, 0xe0] {
                c.set_last_dir(dir);
                c.set_last_index(PacketClass::from_bits(k));
                c.set_last_flags(f);
                assert_eq!((c.last_dir(), c.last_index() as u8, c.last_flags()), (dir, k, f));
            }
        }
    }
}
