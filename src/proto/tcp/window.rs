//! TCP window tracking: whether a segment's sequence and acknowledgement
//! numbers fit what each side has seen, and what the tracker learns from it.
//! Also here: the SYN and SACK options it reads, the sequence checks of a
//! RST, and the handling of segments the window check rejects.

use super::{FLAG_BE_LIBERAL, FLAG_DATA_UNACKNOWLEDGED, FLAG_SACK_PERM, FLAG_WINDOW_SCALE};
use super::{PacketClass, TcpConn, TcpSide};
use crate::config::TcpConfig;
use crate::nat::payload::SeqAdj;
use crate::proto::PacketCtx;
use crate::reason::TcpReason;
use crate::status::TcpState;
use crate::tuple::Direction;
use crate::wire::tcp::{
    ACK as TH_ACK, OPT_NOP, OPT_SACK, OPT_SACK_PERM, OPT_TIMESTAMP, OPT_WINDOW, RST as TH_RST, SYN as TH_SYN,
    Segment, SeqNumber, walk_options,
};

/// Largest window-scale shift honoured (RFC 7323 section 2.3; the kernel
/// clamps to `TCP_MAX_WSCALE` in `nf_conntrack_proto_tcp.c: tcp_options()`).
const MAX_WSCALE: u8 = 14;
/// Lower bound of the "ACK not absurdly old" window (check IV of
/// `tcp_in_window()`: `MAXACKWINDOW()`/`MAXACKWINCONST`).
const MAXACKWIN_MIN: u32 = 66_000;

/// (sender, receiver) for a packet travelling in `dir`.
fn sender_receiver(seen: &mut [TcpSide; 2], dir: Direction) -> (&mut TcpSide, &mut TcpSide) {
    let [o, r] = seen;
    match dir {
        Direction::Original => (o, r),
        Direction::Reply => (r, o),
    }
}

// ---------------------------------------------------------------------------
// Option parsing (`nf_conntrack_proto_tcp.c: tcp_options()`, `tcp_sack()`).
// ---------------------------------------------------------------------------

/// Parse SYN options into `side` (`nf_conntrack_proto_tcp.c: tcp_options()`):
/// with any option bytes present, clear the scale and every flag but
/// BE_LIBERAL, then record SACK_PERM and the window scale (capped at 14). No
/// option bytes: leave `side` untouched.
pub(crate) fn parse_syn_options(opts: &[u8], side: &mut TcpSide) {
    if opts.is_empty() {
        return;
    }
    side.clear_scale();
    side.set_flags(side.flags() & FLAG_BE_LIBERAL);
    walk_options(opts, |kind, body| {
        match (kind, body) {
            (OPT_SACK_PERM, []) => side.set_flags(side.flags() | FLAG_SACK_PERM),
            (OPT_WINDOW, [shift]) => side.set_window_scale((*shift).min(MAX_WSCALE)),
            _ => {}
        }
        true
    });
}

/// The SACK-adjusted acknowledgement (`nf_conntrack_proto_tcp.c:
/// tcp_sack()`; RFC 2018): the highest right edge of the first well-formed
/// SACK option, if after `ack`.
pub(crate) fn sack_edge(opts: &[u8], ack: SeqNumber) -> SeqNumber {
    // Fast path: NOP, NOP, TIMESTAMP(10) and nothing else carries no SACK.
    if opts.len() == 12 && opts.starts_with(&[OPT_NOP, OPT_NOP, OPT_TIMESTAMP, 10]) {
        return ack;
    }
    let mut sack = ack;
    walk_options(opts, |kind, body| {
        if kind != OPT_SACK || body.is_empty() || body.len() % 8 != 0 {
            return true;
        }
        for block in body.chunks_exact(8) {
            if let Some(&[a, b, c, d]) = block.get(4..8) {
                let right = SeqNumber(u32::from_be_bytes([a, b, c, d]));
                if right.after(sack) {
                    sack = right;
                }
            }
        }
        false // only the first well-formed SACK option counts
    });
    sack
}

/// Result of the window check (the `enum nf_ct_tcp_action` of
/// `nf_conntrack_proto_tcp.c: tcp_in_window()`).
pub(crate) enum Window {
    Accept,
    Ignore(TcpReason),
    Invalid(TcpReason),
}

impl TcpConn {
    /// RST acceptance (`nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()`,
    /// case `TCP_CONNTRACK_CLOSE`). `Ok((new_state, skip_window_check))` or
    /// INVALID.
    ///
    /// The cases, in the kernel's order:
    ///
    /// 1. a closing state takes any RST, without the window check;
    /// 2. with the receiver's `td_maxack` known, the RST's sequence number is
    ///    checked against it (RFC 5961 section 3.2): below it is INVALID
    ///    ("invalid rst"); the other outcomes go straight to the window
    ///    check, except that an in-window but inexact RST on an established
    ///    connection keeps the state and falls through to cases 3 and 4;
    /// 3. a RST answering a SYN or ACK that was let through earlier skips the
    ///    window check (a SYN's answer: from the other side than the SYN);
    /// 4. so does a RST answering an RFC 5961 challenge ACK let through in
    ///    SYN_SENT.
    pub(crate) fn rst_rules(
        &self,
        seg: &Segment<'_>,
        dir: Direction,
        old: TcpState,
        ctx: &PacketCtx,
        cfg: &TcpConfig,
    ) -> Result<(TcpState, bool), TcpReason> {
        // Case 1: closing states take any RST (the tuple may be reused already).
        if old.is_closing() {
            return Ok((TcpState::Close, true));
        }
        let mut new = TcpState::Close;
        let receiver = self.side(dir.opposite());
        // Case 2 (td_maxack is stale if a SYN was let through last).
        if let Some(maxack) = receiver.maxack()
            && self.last_index() != PacketClass::Syn
        {
            let established = old == TcpState::Established && ctx.assured;
            if seg.seq == SeqNumber(0) && !established {
                return Ok((new, false)); // answer to a SYN we let through
            }
            if seg.seq.before(maxack) && !cfg.ignore_invalid_rst {
                return Err(TcpReason::InvalidRst);
            }
            if !established || seg.seq == maxack {
                return Ok((new, false));
            }
            if self.last_index() == PacketClass::Ack
                && self.last_dir() == dir
                && self.remembered_end() == Some(seg.seq)
            {
                return Ok((new, false)); // RST right after our last segment
            }
            // In window but not exact: keep the state so that a challenge
            // ACK from the other side can still pass.
            new = old;
        }
        // Case 3: RST answering a SYN or ACK ignored earlier; a SYN's
        // answer comes from the other side (Linux 6.18 window-checks a RST
        // from the SYN's own side: tests/data/crafted/tcp/
        // rst_after_syn_direction.pcap, checked against the kernel).
        let answers_ignored =
            (ctx.seen_reply && self.last_index() == PacketClass::Syn && self.last_dir() != dir)
                || (!ctx.assured && self.last_index() == PacketClass::Ack);
        if answers_ignored && self.remembered_end() == Some(seg.ack) {
            return Ok((new, true));
        }
        // Case 4: RST answering a challenge ACK we let through in SYN_SENT.
        if old == TcpState::SynSent
            && self.last_index() == PacketClass::Ack
            && self.last_dir() == Direction::Reply
            && self.remembered_ack() == Some(seg.seq)
        {
            return Ok((new, true));
        }
        Ok((new, false))
    }

    /// The window check of `nf_conntrack_proto_tcp.c: tcp_in_window()`,
    /// including its retransmission bookkeeping.
    pub(crate) fn in_window(
        &mut self,
        seg: &Segment<'_>,
        class: PacketClass,
        dir: Direction,
        peer_seqadj: &SeqAdj,
        cfg: &TcpConfig,
    ) -> Window {
        let state = self.state; // the stored state, not the resync's "old"
        let (syn, has_ack, rst) = (seg.has(TH_SYN), seg.has(TH_ACK), seg.has(TH_RST));
        let (s, r) = sender_receiver(&mut self.seen, dir);
        let mut seq = seg.seq;
        let mut ack = seg.ack;
        let mut end = seg.end();
        let mut sack = if r.flags() & FLAG_SACK_PERM != 0 { sack_edge(seg.options, ack) } else { ack };
        // NAT resized the receiver's payloads: its acknowledgements count
        // in the adjusted sequence space (`nf_ct_seq_offset(ct, !dir,
        // ack - 1)`).
        let receiver_offset = peer_seqadj.offset(ack.0.wrapping_sub(1)) as u32;
        ack = ack.sub(receiver_offset);
        sack = sack.sub(receiver_offset);

        if s.td_maxwin == 0 {
            if syn {
                // SYN-ACK from the responder, or a reply-side SYN.
                init_sender(s, r, seg, end, dir);
                if !has_ack {
                    return Window::Accept; // simultaneous-open SYN
                }
            } else {
                // Mid-stream: the history is lost, learn from this packet.
                s.td_end = end;
                s.td_maxwin = (u32::from(seg.window) << s.scale().min(MAX_WSCALE)).max(1);
                s.td_maxend = end.add(s.td_maxwin);
                if r.td_maxwin == 0 {
                    // Nothing seen the other way: make checks III/IV pass.
                    r.td_end = sack;
                    r.td_maxend = sack;
                } else if sack == r.td_end.add(1) {
                    r.td_end = r.td_end.add(1); // keep-alive answer
                }
            }
        } else if syn && end.after(s.td_end) && matches!(state, TcpState::SynSent | TcpState::SynRecv) {
            // SYN / SYN-ACK re-sent with a new sequence number or options.
            init_sender(s, r, seg, end, dir);
            if dir == Direction::Reply && !has_ack {
                return Window::Accept;
            }
        }

        if !has_ack || (rst && ack == SeqNumber(0)) {
            // No ACK (or a broken stack's RST+ACK with ack 0): pretend it fits.
            ack = r.td_end;
            sack = r.td_end;
        }
        if rst && seq == SeqNumber(0) && state == TcpState::SynSent {
            seq = s.td_end; // RST answering a SYN
            end = s.td_end;
        }

        let liberal = cfg.be_liberal || s.flags() & FLAG_BE_LIBERAL != 0;
        // A failing check is ACCEPT (without learning) for liberal entries.
        let fail = |w: Window| if liberal { Window::Accept } else { w };
        let maxackwin = s.td_maxwin.max(MAXACKWIN_MIN);
        let ack_lower = r.td_end.sub(maxackwin).sub(1);
        let data_lower = s.td_end.sub(r.td_maxwin).sub(1);

        // Check I: data starts within what the receiver allowed.
        if !seq.at_or_before(s.td_maxend) {
            let overshot = end.offset_from(s.td_maxend).wrapping_add(1);
            if r.td_maxwin != 0
                && end.after(data_lower)
                && sack.after(ack_lower)
                && overshot <= r.td_maxwin
                && sack.at_or_before(r.td_end)
            {
                // Only slightly beyond the window: remember the data, but do
                // not learn from the packet (IGNORE).
                s.td_end = end;
                s.set_flags(s.flags() | FLAG_DATA_UNACKNOWLEDGED);
                return fail(Window::Ignore(TcpReason::Overshoot(overshot)));
            }
            return fail(Window::Invalid(TcpReason::SeqOverUpperBound(s.td_maxend.add(1).0)));
        }
        // Check III: does not ACK data the receiver never sent.
        if !sack.at_or_before(r.td_end) {
            return fail(Window::Invalid(TcpReason::AckOverUpperBound(r.td_end.add(1).0)));
        }
        // Check II: not entirely older than a full window.
        if r.td_maxwin != 0 && !end.after(data_lower) {
            return fail(Window::Ignore(TcpReason::SeqUnderLowerBound(data_lower.0)));
        }
        // Check IV: ACK not absurdly old.
        if !sack.after(ack_lower) {
            return fail(Window::Ignore(TcpReason::AckUnderLowerBound(ack_lower.0)));
        }

        // All four hold: learn from the packet.
        let mut win = u32::from(seg.window);
        if !syn {
            win <<= s.scale().min(MAX_WSCALE);
        }
        let swin = win.wrapping_add(sack.offset_from(ack));
        s.td_maxwin = s.td_maxwin.max(swin);
        if end.after(s.td_end) {
            s.td_end = end;
            s.set_flags(s.flags() | FLAG_DATA_UNACKNOWLEDGED);
        }
        if has_ack {
            s.note_ack(ack);
        }
        if r.td_maxwin != 0 && end.after(s.td_maxend) {
            r.td_maxwin = r.td_maxwin.wrapping_add(end.offset_from(s.td_maxend));
        }
        if sack.add(win).after(r.td_maxend.sub(1)) {
            r.td_maxend = sack.add(win);
            if win == 0 {
                r.td_maxend = r.td_maxend.add(1);
            }
        }
        if ack == { r.td_end } {
            r.set_flags(r.flags() & !FLAG_DATA_UNACKNOWLEDGED);
        }

        // Retransmission bookkeeping (the `retrans` counter), ACK-class
        // packets only.
        if class == PacketClass::Ack {
            self.remember_ack_class(dir, seq, ack, end, seg.window);
        }
        Window::Accept
    }

    /// `nf_conntrack_proto_tcp.c: nf_tcp_handle_invalid()`: a FIN/RST
    /// rejected by the window check on an ASSURED entry, answering a FIN/RST
    /// from the other side, shortens the entry's life to the unacknowledged
    /// timeout; otherwise it is remembered as the last packet.
    pub(crate) fn handle_invalid(
        &mut self,
        class: PacketClass,
        dir: Direction,
        ctx: &PacketCtx,
        cfg: &TcpConfig,
    ) -> Option<u32> {
        if !ctx.assured || !matches!(class, PacketClass::Fin | PacketClass::Rst) {
            return None;
        }
        if self.last_dir() != dir && matches!(self.last_index(), PacketClass::Fin | PacketClass::Rst) {
            let unack = cfg.timeouts.unacknowledged;
            if ctx.remaining() >= 120 && ctx.remaining() > unack {
                return Some(unack);
            }
            None
        } else {
            self.set_last_index(class);
            self.set_last_dir(dir);
            None
        }
    }
}

/// `nf_conntrack_proto_tcp.c: tcp_init_sender()`: (re)initialise the sender
/// from a SYN or SYN-ACK.
fn init_sender(s: &mut TcpSide, r: &mut TcpSide, seg: &Segment<'_>, end: SeqNumber, dir: Direction) {
    s.td_end = end;
    s.td_maxend = end;
    s.td_maxwin = u32::from(seg.window).max(1);
    parse_syn_options(seg.options, s);
    // RFC 7323: scaling is on only if both sides sent the option.
    if dir == Direction::Reply && !(s.flags() & FLAG_WINDOW_SCALE != 0 && r.flags() & FLAG_WINDOW_SCALE != 0)
    {
        s.clear_scale();
        r.clear_scale();
    }
}
