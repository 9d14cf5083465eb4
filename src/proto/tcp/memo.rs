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
//!   bit, for the zero-window timeout): with the scale and flags packed
//!   (`TcpSide`, `TcpConn`), the TCP state is 28 bytes and an entry 80 (56
//!   with `ipv4-only`). What the tracker then does differently from Linux,
//!   each a consequence of a value it no longer has:
//!   - no retransmission counter: the timeout is never shortened to
//!     `max_retrans` after `tcp_max_retrans` identical segments (it still
//!     is for a zero window, and to `unacknowledged` for unacknowledged
//!     data, which a retransmitting sender has);
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
//! `tests/data/known-disagreements-compact-tcp.txt`, each for one of these
//! reasons.

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
}

#[cfg(feature = "compact-tcp")]
impl TcpConn {
    /// An in-window ACK-class segment of `dir`: only its direction and
    /// whether its window is zero are kept (no retransmission counter).
    pub(super) fn remember_ack_class(
        &mut self,
        dir: Direction,
        _seq: SeqNumber,
        _ack: SeqNumber,
        _end: SeqNumber,
        win: u16,
    ) {
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

    /// Not counted.
    pub(crate) fn retrans(&self) -> u8 {
        0
    }

    /// Whether the window of the packet remembered last was zero.
    pub(super) fn last_win_zero(&self) -> bool {
        self.last_flags() & FLAG_LAST_WIN_OPEN == 0
    }
}
