//! What the tracker remembers of past packets beyond the window edges:
//! each side's highest ACK (`td_maxack`) and the `last_*` fields of
//! `nf_conntrack_tcp.h: struct ip_ct_tcp` (the last ACK-class segment, for
//! the retransmission counter; the last ignored packet, for the
//! resynchronisation after an ignored SYN and the RST rules).
//!
//! Two builds of it, with the same methods:
//!
//! * by default, all of it, as Linux keeps it: the TCP state is 56 bytes;
//! * with feature `compact-tcp`, only the last window's being zero (one
//!   bit, for the zero-window timeout) and, for the retransmission
//!   counter, a 23-bit fingerprint of the last ACK-class segment's
//!   direction, numbers and window ([`segment_print`]) with the count:
//!   with the scale and flags packed (`TcpSide`, `TcpConn`), the TCP state
//!   is 32 bytes and an entry 84. With `ipv4-only` too the state has no
//!   room for the fingerprint: 28 bytes, an entry of 56. What the tracker
//!   then does differently from Linux, each a consequence of a value it no
//!   longer has:
//!   - the retransmission counter compares fingerprints: a different
//!     segment with the same fingerprint (a chance of about 2^-23) counts
//!     as a retransmission, and after a packet the tracker ignores
//!     (whose numbers Linux partly writes over the last ones) the count
//!     starts afresh at the next ACK-class segment; with `ipv4-only`,
//!     no retransmission counter at all: the timeout is never shortened
//!     to `max_retrans` after `tcp_max_retrans` identical segments (it
//!     still is for a zero window, and to `unacknowledged` for
//!     unacknowledged data, which a retransmitting sender has);
//!   - no resynchronisation: a SYN-ACK answering a SYN the tracker
//!     ignored stays ignored (Linux takes it as the start of a new
//!     connection when it acknowledges that SYN exactly);
//!   - no `td_maxack`: a RST is not checked against the highest ACK its
//!     receiver sent (RFC 5961 section 3.2's exact-match rule on an
//!     established connection; "invalid rst" below it), only by the
//!     window check, and a RST's state change is never held back for a
//!     challenge ACK;
//!   - a RST answering a packet the tracker ignored or let through is not
//!     recognised by its numbers: it takes the window check.
//!
//! `tests/parity.rs` replays the corpus in both builds; the frames where
//! the compact build differs from Linux are listed in
//! `tests/data/known-disagreements-compact-tcp.txt` (with `ipv4-only`,
//! `known-disagreements-compact-tcp-ipv4-only.txt`), each for one of
//! these reasons.

use super::states::PacketClass;
use super::{TcpConn, TcpSide};
use crate::status::TcpState;
use crate::tuple::Direction;
use crate::wire::tcp::{Segment, SeqNumber};

#[cfg(feature = "compact-tcp")]
use super::{FLAG_EXP_CHALLENGE_ACK, FLAG_LAST_WIN_OPEN};
#[cfg(not(feature = "compact-tcp"))]
use super::{
    FLAG_EXP_CHALLENGE_ACK, FLAG_MAXACK_SET, FLAG_SACK_PERM, FLAG_WINDOW_SCALE, window::parse_syn_options,
};

#[cfg(not(feature = "compact-tcp"))]
impl TcpSide {
    /// The highest ACK this side sent, once it sent one
    /// (`FLAG_MAXACK_SET`).
    pub(crate) fn maxack(&self) -> Option<SeqNumber> {
        (self.flags & FLAG_MAXACK_SET != 0).then_some(self.td_maxack)
    }

    /// This side sent an in-window segment acknowledging `ack`
    /// (`tcp_in_window()`'s `td_maxack` update).
    pub(super) fn note_ack(&mut self, ack: SeqNumber) {
        if self.flags & FLAG_MAXACK_SET == 0 {
            self.td_maxack = ack;
            self.flags |= FLAG_MAXACK_SET;
        } else if ack.after(self.td_maxack) {
            self.td_maxack = ack;
        }
    }
}

#[cfg(feature = "compact-tcp")]
impl TcpSide {
    /// Never known: the compact state keeps no `td_maxack`.
    pub(crate) fn maxack(&self) -> Option<SeqNumber> {
        None
    }

    /// Nothing to note: the compact state keeps no `td_maxack`.
    pub(super) fn note_ack(&mut self, _ack: SeqNumber) {}
}

#[cfg(not(feature = "compact-tcp"))]
impl TcpConn {
    /// An in-window ACK-class segment of `dir` (`seq`, `ack`, `end` as the
    /// window check adjusted them; `win` raw): the retransmission
    /// bookkeeping at the end of `tcp_in_window()`. The same segment again
    /// counts one retransmission more; another one becomes the last.
    pub(super) fn remember_ack_class(
        &mut self,
        dir: Direction,
        seq: SeqNumber,
        ack: SeqNumber,
        end: SeqNumber,
        win: u16,
    ) {
        if self.last_dir() == dir
            && self.last_seq == seq
            && self.last_ack == ack
            && self.last_end == end
            && self.last_win == win
        {
            self.retrans = self.retrans.wrapping_add(1);
        } else {
            self.set_last_dir(dir);
            self.last_seq = seq;
            self.last_ack = ack;
            self.last_end = end;
            self.last_win = win;
            self.retrans = 0;
        }
    }

    /// The numbers of a packet of class `class` the tracker ignores in
    /// state `old` (the `TCP_CONNTRACK_IGNORE` case of
    /// `nf_conntrack_tcp_packet()`; its class and direction are recorded
    /// by the caller).
    pub(super) fn remember_ignored(
        &mut self,
        seg: &Segment<'_>,
        class: PacketClass,
        dir: Direction,
        old: TcpState,
    ) {
        self.last_seq = seg.seq;
        self.last_end = seg.end();
        self.last_win = seg.window;
        if class == PacketClass::Syn && dir == Direction::Original {
            // Keep this SYN's options so that a SYN-ACK answering it can
            // resynchronise the entry.
            let mut opts = TcpSide::default();
            parse_syn_options(seg.options, &mut opts);
            self.set_last_flags(opts.flags & (FLAG_WINDOW_SCALE | FLAG_SACK_PERM));
            self.last_wscale = if opts.flags & FLAG_WINDOW_SCALE != 0 { opts.td_scale } else { 0 };
            // The peer may answer with an RFC 5961 challenge ACK, which must
            // not be taken for the ACK of the last FIN.
            if old == TcpState::LastAck {
                self.set_last_flags(self.last_flags() | FLAG_EXP_CHALLENGE_ACK);
            }
        }
        if old == TcpState::SynSent && class == PacketClass::Ack && dir == Direction::Reply {
            // A possible RFC 5961 challenge ACK to our SYN, which the SYN's
            // sender answers with a RST at this ack number.
            self.last_ack = seg.ack;
        }
    }

    /// `last_end`: the end of the last ACK-class segment or ignored packet.
    pub(super) fn remembered_end(&self) -> Option<SeqNumber> {
        Some(self.last_end)
    }

    /// `last_ack`: the ACK of the last ACK-class segment, or of a possible
    /// challenge ACK ignored in SYN_SENT.
    pub(super) fn remembered_ack(&self) -> Option<SeqNumber> {
        Some(self.last_ack)
    }

    /// The window (raw) and scale of the last ignored packet, a SYN's
    /// for the resynchronisation.
    pub(super) fn ignored_window(&self) -> (u16, u8) {
        (self.last_win, self.last_wscale)
    }

    /// Retransmissions counted of the last ACK-class segment (`retrans`).
    pub(crate) fn retrans(&self) -> u8 {
        self.retrans
    }

    /// Whether the window of the packet remembered last was zero.
    pub(super) fn last_win_zero(&self) -> bool {
        self.last_win == 0
    }

    /// A fingerprint of the last segment (`compact-tcp`): none, the numbers
    /// themselves are kept.
    pub(crate) fn recent(&self) -> Option<[u8; 4]> {
        None
    }

    /// Nothing to set: the numbers themselves are kept.
    pub(crate) fn set_recent(&mut self, _recent: [u8; 4]) {}
}

#[cfg(feature = "compact-tcp")]
impl TcpConn {
    /// An in-window ACK-class segment of `dir`: its direction and whether
    /// its window is zero are kept, and (but in the IPv4-only build) its
    /// fingerprint ([`segment_print`]), which the retransmission counter
    /// compares where Linux compares the numbers themselves.
    #[cfg_attr(feature = "ipv4-only", allow(unused_variables))]
    pub(super) fn remember_ack_class(
        &mut self,
        dir: Direction,
        seq: SeqNumber,
        ack: SeqNumber,
        end: SeqNumber,
        win: u16,
    ) {
        #[cfg(not(feature = "ipv4-only"))]
        {
            // The fingerprint in the low 24 bits (bit 23 set: unknown,
            // which no fingerprint equals), the count in the top 8.
            let print = segment_print(dir, seq, ack, end, win);
            let recent = u32::from_le_bytes(self.recent);
            let recent = if recent & 0x00ff_ffff == print { recent.wrapping_add(1 << 24) } else { print };
            self.recent = recent.to_le_bytes();
        }
        self.set_last_dir(dir);
        self.set_last_win_zero(win == 0);
    }

    /// A packet the tracker ignores: whether its window is zero, and the
    /// challenge ACK to expect after a SYN ignored in LAST_ACK. (The
    /// options of an ignored SYN are not kept: nothing resynchronises.)
    pub(super) fn remember_ignored(
        &mut self,
        seg: &Segment<'_>,
        class: PacketClass,
        dir: Direction,
        old: TcpState,
    ) {
        if class == PacketClass::Syn && dir == Direction::Original {
            self.set_last_flags(if old == TcpState::LastAck { FLAG_EXP_CHALLENGE_ACK } else { 0 });
        }
        self.set_last_win_zero(seg.window == 0);
        // Linux overwrites some of the numbers the next ACK-class segment
        // is compared with (not its ACK): the fingerprint no longer
        // stands for them, and the next one starts the count afresh.
        self.forget_print();
    }

    /// Mark the fingerprint as not known: no segment matches it.
    fn forget_print(&mut self) {
        #[cfg(not(feature = "ipv4-only"))]
        {
            self.recent[2] |= PRINT_UNKNOWN;
        }
    }

    /// A restored state's numbers of the last ACK-class segment (from a
    /// snapshot of a build that keeps them) and the count: their
    /// fingerprint. A snapshot of this build has zero there, and its
    /// fingerprint in a field of its own ([`TcpConn::set_recent`]).
    #[cfg_attr(feature = "ipv4-only", allow(unused_variables))]
    pub(super) fn restore_recent(
        &mut self,
        dir: Direction,
        seq: SeqNumber,
        ack: SeqNumber,
        end: SeqNumber,
        win: u16,
        retrans: u8,
    ) {
        #[cfg(not(feature = "ipv4-only"))]
        {
            let [a, b, c, _] = segment_print(dir, seq, ack, end, win).to_le_bytes();
            self.recent = [a, b, c, retrans];
        }
    }

    /// The fingerprint and count, as a snapshot writes them (bytes 0–2
    /// the fingerprint, little-endian, bit 7 of byte 2 set when not known;
    /// byte 3 the count); `None` in the IPv4-only build, which keeps none.
    pub(crate) fn recent(&self) -> Option<[u8; 4]> {
        #[cfg(not(feature = "ipv4-only"))]
        return Some(self.recent);
        #[cfg(feature = "ipv4-only")]
        None
    }

    /// Set the fingerprint and count ([`TcpConn::recent`]; nothing in the
    /// IPv4-only build).
    #[cfg_attr(feature = "ipv4-only", allow(unused_variables))]
    pub(crate) fn set_recent(&mut self, recent: [u8; 4]) {
        #[cfg(not(feature = "ipv4-only"))]
        {
            self.recent = recent;
        }
    }

    fn set_last_win_zero(&mut self, zero: bool) {
        self.set_last_flags(
            self.last_flags() & !FLAG_LAST_WIN_OPEN | if zero { 0 } else { FLAG_LAST_WIN_OPEN },
        );
    }

    /// Not kept.
    pub(super) fn remembered_end(&self) -> Option<SeqNumber> {
        None
    }

    /// Not kept.
    pub(super) fn remembered_ack(&self) -> Option<SeqNumber> {
        None
    }

    /// Not kept (never asked: without `remembered_end` nothing
    /// resynchronises).
    pub(super) fn ignored_window(&self) -> (u16, u8) {
        (0, 0)
    }

    /// Retransmissions counted of the last ACK-class segment (by its
    /// fingerprint); never counted in the IPv4-only build.
    pub(crate) fn retrans(&self) -> u8 {
        #[cfg(not(feature = "ipv4-only"))]
        return self.recent[3];
        #[cfg(feature = "ipv4-only")]
        0
    }

    /// Whether the window of the packet remembered last was zero.
    pub(super) fn last_win_zero(&self) -> bool {
        self.last_flags() & FLAG_LAST_WIN_OPEN == 0
    }
}

/// Bit 7 of a fingerprint's third byte: the fingerprint is not known.
#[cfg(all(feature = "compact-tcp", not(feature = "ipv4-only")))]
const PRINT_UNKNOWN: u8 = 0x80;

/// A 23-bit fingerprint of what `tcp_in_window()` compares to count
/// retransmissions: the direction, `seq`, `ack`, `end` and the raw window.
/// Two multiplications by odd constants with a xor between them mix every
/// input bit into the top bits, which are kept; all zero gives 0, so a
/// new entry's zeroed state stands for Linux's zeroed `last_*` fields.
/// Two different segments share a fingerprint with a chance of about
/// 2^-23; the counter then counts one retransmission Linux does not. (An
/// attacker who could aim at that needs segments inside the window, and
/// could then do worse: close the connection with a RST.)
#[cfg(all(feature = "compact-tcp", not(feature = "ipv4-only")))]
pub(super) fn segment_print(dir: Direction, seq: SeqNumber, ack: SeqNumber, end: SeqNumber, win: u16) -> u32 {
    let numbers = u64::from(seq.0) << 32 | u64::from(ack.0);
    let rest = u64::from(end.0) << 32 | u64::from(win) << 1 | dir.index() as u64;
    let mixed = (numbers.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ rest).wrapping_mul(0xd6e8_feb8_6659_fd93);
    (mixed >> 41) as u32
}
