//! TCP tracker: the state machine, window tracking and timeouts of Linux's
//! `nf_conntrack_proto_tcp` (semantics §3).
//!
//! INTERFACE CONTRACT (the table calls exactly these):
//!
//! * [`TcpConn`]: per-entry state, `Copy`, `Default` = all zero ("NONE").
//! * [`Segment`]: the header fields of one packet, already length-checked
//!   (20-byte header present, data offset valid) and checksum-verified by the
//!   packet layer.
//! * [`track`]: run one packet through the tracker.
//! * [`TcpConn::state`]: the [`TcpState`] to display.
//!
//! Structure of this file, in packet order:
//!
//! 1. flag-combination check (§3.2 step 4) and packet class (§3.3);
//! 2. `tcp_new` for the first packet of an entry (§3.5);
//! 3. the transition tables (§3.4) and their special cases (§3.6), including
//!    the RST acceptance rules (§3.8);
//! 4. window tracking (§3.7) with retransmission bookkeeping (§3.9);
//! 5. timeout choice, ASSURED, and `handle_invalid` (§3.10).
//!
//! Not modelled (no such input here): NAT sequence offsets (§3.7 "NAT
//! offset", always 0), SYNPROXY, FIXED_TIMEOUT (the core must ignore a
//! returned timeout for FIXED_TIMEOUT entries).

use super::{Outcome, PacketCtx};
use crate::config::{TcpConfig, TcpTimeouts};
use crate::reason::{Reason, TcpReason};
use crate::status::TcpState;
use crate::tuple::Direction;
use crate::wire::ip::IpView;
use crate::wire::tcp::{
    ACK as TH_ACK, CWR as TH_CWR, ECE as TH_ECE, FIN as TH_FIN, OPT_NOP, OPT_SACK, OPT_SACK_PERM,
    OPT_TIMESTAMP, OPT_WINDOW, PSH as TH_PSH, RST as TH_RST, SYN as TH_SYN, Segment, URG as TH_URG, after,
    before, seq_le, walk_options,
};

// ---------------------------------------------------------------------------
// Header flag bits (byte 13) and per-direction tracker flags (§3.1).
// ---------------------------------------------------------------------------

/// The side sent the window-scale option on its SYN / SYN-ACK.
pub const FLAG_WINDOW_SCALE: u8 = 0x01;
/// The side sent SACK-permitted.
pub const FLAG_SACK_PERM: u8 = 0x02;
/// The side sent the first FIN.
pub const FLAG_CLOSE_INIT: u8 = 0x04;
/// Window checks are not enforced for packets from this side.
pub const FLAG_BE_LIBERAL: u8 = 0x08;
/// The side has sent data the other side has not acknowledged yet.
pub const FLAG_DATA_UNACKNOWLEDGED: u8 = 0x10;
/// `td_maxack` is valid.
pub const FLAG_MAXACK_SET: u8 = 0x20;
/// (`last_flags` only) a SYN was ignored in LAST_ACK: expect a challenge ACK.
pub const FLAG_EXP_CHALLENGE_ACK: u8 = 0x40;
/// (`last_flags` only) simultaneous open in progress.
pub const FLAG_SIMULTANEOUS_OPEN: u8 = 0x80;

/// Largest window-scale shift honoured (RFC 7323), §3.7.
const MAX_WSCALE: u8 = 14;
/// Lower bound of the "ACK not absurdly old" window (check IV), §3.7.
const MAXACKWIN_MIN: u32 = 66_000;

// ---------------------------------------------------------------------------
// States and packet classes.
// ---------------------------------------------------------------------------

/// Packet class ("index", §3.3); the number is what the kernel logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PacketClass {
    /// SYN without ACK.
    Syn = 0,
    /// SYN and ACK.
    SynAck = 1,
    /// FIN (with ACK).
    Fin = 2,
    /// ACK.
    Ack = 3,
    /// RST.
    Rst = 4,
    /// None of the above.
    None = 5,
}

impl PacketClass {
    /// Classify by flags in the priority order of §3.3.
    pub fn of_flags(flags: u8) -> PacketClass {
        if flags & TH_RST != 0 {
            PacketClass::Rst
        } else if flags & TH_SYN != 0 {
            if flags & TH_ACK != 0 { PacketClass::SynAck } else { PacketClass::Syn }
        } else if flags & TH_FIN != 0 {
            PacketClass::Fin
        } else if flags & TH_ACK != 0 {
            PacketClass::Ack
        } else {
            PacketClass::None
        }
    }

    fn from_bits(v: u8) -> PacketClass {
        match v {
            0 => PacketClass::Syn,
            1 => PacketClass::SynAck,
            2 => PacketClass::Fin,
            3 => PacketClass::Ack,
            4 => PacketClass::Rst,
            _ => PacketClass::None,
        }
    }
}

/// §3.2 step 4: after masking PSH/ECE/CWR, only these combinations are valid.
pub fn valid_flag_combination(flags: u8) -> bool {
    const VALID: [u8; 9] = [
        TH_SYN,
        TH_SYN | TH_URG,
        TH_SYN | TH_ACK,
        TH_RST,
        TH_RST | TH_ACK,
        TH_FIN | TH_ACK,
        TH_FIN | TH_ACK | TH_URG,
        TH_ACK,
        TH_ACK | TH_URG,
    ];
    let f = flags & !(TH_PSH | TH_ECE | TH_CWR);
    VALID.contains(&f)
}

// ---------------------------------------------------------------------------
// Reasons and verdicts.
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Per-entry state.
// ---------------------------------------------------------------------------

/// One direction's window data, unpacked (debug view and working copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpSide {
    /// Highest `seq + len` sent by this side.
    pub td_end: u32,
    /// Right edge this side may send up to (`ack + window` from the peer).
    pub td_maxend: u32,
    /// Largest scaled window this side's data must fit in (0 = unknown).
    pub td_maxwin: u32,
    /// Highest ACK this side sent (valid with [`FLAG_MAXACK_SET`]).
    pub td_maxack: u32,
    /// Window-scale shift this side announced (0–14).
    pub td_scale: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
}

/// Per-entry TCP tracking state (§3.1), packed to 56 bytes.
///
/// Byte `meta`: bits 0–3 state, bit 4 last_dir, bits 5–7 last_index.
/// Byte `scales`: low nibble orig `td_scale`, high nibble reply `td_scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpConn {
    end: [u32; 2],
    maxend: [u32; 2],
    maxwin: [u32; 2],
    maxack: [u32; 2],
    last_seq: u32,
    last_ack: u32,
    last_end: u32,
    last_win: u16,
    flags: [u8; 2],
    scales: u8,
    meta: u8,
    last_flags: u8,
    last_wscale: u8,
    retrans: u8,
}

impl TcpConn {
    /// The conntrack state (shown by `conntrack -L`).
    pub fn state(&self) -> TcpState {
        TcpState::from_bits(self.meta & 0x0f)
    }

    /// Window data of the sender in direction `dir` (debugging / display).
    pub fn side(&self, dir: Direction) -> TcpSide {
        let i = dir.index();
        let pick = |a: [u32; 2]| if i == 0 { a[0] } else { a[1] };
        let [f0, f1] = self.flags;
        TcpSide {
            td_end: pick(self.end),
            td_maxend: pick(self.maxend),
            td_maxwin: pick(self.maxwin),
            td_maxack: pick(self.maxack),
            td_scale: (self.scales >> (4 * i)) & 0x0f,
            flags: if i == 0 { f0 } else { f1 },
        }
    }

    /// Class of the last packet that updated the entry.
    pub fn last_index(&self) -> PacketClass {
        PacketClass::from_bits(self.meta >> 5)
    }

    /// Direction of the last packet that updated the entry.
    pub fn last_dir(&self) -> Direction {
        bit_dir(self.meta & 0x10 != 0)
    }

    /// `last_flags` (`FLAG_*`, incl. EXP_CHALLENGE_ACK / SIMULTANEOUS_OPEN).
    #[cfg(test)]
    pub fn last_flags(&self) -> u8 {
        self.last_flags
    }

    /// Number of consecutive identical ACK-class segments (§3.9).
    #[cfg(test)]
    pub fn retrans(&self) -> u8 {
        self.retrans
    }
}

fn bit_dir(reply: bool) -> Direction {
    if reply { Direction::Reply } else { Direction::Original }
}

/// Unpacked working copy of a [`TcpConn`]; `track` loads, mutates, stores.
#[derive(Clone, Copy)]
struct Work {
    /// `seen[0]` = original direction, `seen[1]` = reply.
    seen: [TcpSide; 2],
    state: TcpState,
    last_dir: Direction,
    last_index: PacketClass,
    last_seq: u32,
    last_ack: u32,
    last_end: u32,
    last_win: u16,
    last_wscale: u8,
    last_flags: u8,
    retrans: u8,
}

impl Work {
    /// All zero, like the kernel's memset in `tcp_new` (§3.5): note that a
    /// zeroed `last_index` reads as class 0 (syn).
    fn zeroed() -> Work {
        Work::load(&TcpConn::default())
    }

    fn load(c: &TcpConn) -> Work {
        Work {
            seen: [c.side(Direction::Original), c.side(Direction::Reply)],
            state: c.state(),
            last_dir: c.last_dir(),
            last_index: c.last_index(),
            last_seq: c.last_seq,
            last_ack: c.last_ack,
            last_end: c.last_end,
            last_win: c.last_win,
            last_wscale: c.last_wscale,
            last_flags: c.last_flags,
            retrans: c.retrans,
        }
    }

    fn store(&self, c: &mut TcpConn) {
        let [o, r] = self.seen;
        c.end = [o.td_end, r.td_end];
        c.maxend = [o.td_maxend, r.td_maxend];
        c.maxwin = [o.td_maxwin, r.td_maxwin];
        c.maxack = [o.td_maxack, r.td_maxack];
        c.flags = [o.flags, r.flags];
        c.scales = (o.td_scale & 0x0f) | ((r.td_scale & 0x0f) << 4);
        c.meta = (self.state as u8 & 0x0f)
            | ((self.last_dir.index() as u8) << 4)
            | ((self.last_index as u8 & 0x07) << 5);
        c.last_seq = self.last_seq;
        c.last_ack = self.last_ack;
        c.last_end = self.last_end;
        c.last_win = self.last_win;
        c.last_wscale = self.last_wscale;
        c.last_flags = self.last_flags;
        c.retrans = self.retrans;
    }

    fn side_mut(&mut self, d: Direction) -> &mut TcpSide {
        let [o, r] = &mut self.seen;
        match d {
            Direction::Original => o,
            Direction::Reply => r,
        }
    }

    fn side(&self, d: Direction) -> &TcpSide {
        let [o, r] = &self.seen;
        match d {
            Direction::Original => o,
            Direction::Reply => r,
        }
    }
}

/// (sender, receiver) for a packet travelling in `dir`.
fn sender_receiver(seen: &mut [TcpSide; 2], dir: Direction) -> (&mut TcpSide, &mut TcpSide) {
    let [o, r] = seen;
    match dir {
        Direction::Original => (o, r),
        Direction::Reply => (r, o),
    }
}

// ---------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Transition tables (§3.4), verbatim.
// ---------------------------------------------------------------------------

/// A table cell: a state, sIV (invalid) or sIG (ignore).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    To(TcpState),
    Invalid,
    Ignore,
}

const NO: Next = Next::To(TcpState::None);
const SS: Next = Next::To(TcpState::SynSent);
const SR: Next = Next::To(TcpState::SynRecv);
const ES: Next = Next::To(TcpState::Established);
const FW: Next = Next::To(TcpState::FinWait);
const CW: Next = Next::To(TcpState::CloseWait);
const LA: Next = Next::To(TcpState::LastAck);
const TW: Next = Next::To(TcpState::TimeWait);
const CL: Next = Next::To(TcpState::Close);
const S2: Next = Next::To(TcpState::SynSent2);
const IV: Next = Next::Invalid;
const IG: Next = Next::Ignore;

/// Rows: syn, synack, fin, ack, rst, none. Columns: NONE, SYN_SENT, SYN_RECV,
/// ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2.
#[rustfmt::skip]
const ORIGINAL: [[Next; 10]; 6] = [
    /* syn    */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
    /* synack */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
    /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
    /* ack    */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
    /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
];

#[rustfmt::skip]
const REPLY: [[Next; 10]; 6] = [
    /* syn    */ [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
    /* synack */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
    /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
    /* ack    */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
    /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
];

// `NO` only exists so that the table legend is complete.
const _: Next = NO;

fn transition(dir: Direction, class: PacketClass, state: TcpState) -> Next {
    let table = match dir {
        Direction::Original => &ORIGINAL,
        Direction::Reply => &REPLY,
    };
    table.get(class as usize).and_then(|row| row.get(state as usize)).copied().unwrap_or(IV)
}

// ---------------------------------------------------------------------------
// Option parsing (§3.7).
// ---------------------------------------------------------------------------

/// Parse SYN options into `side` (§3.7): with any option bytes present, clear
/// the scale and every flag but BE_LIBERAL, then record SACK_PERM and the
/// window scale (capped at 14). No option bytes: leave `side` untouched.
fn parse_syn_options(opts: &[u8], side: &mut TcpSide) {
    if opts.is_empty() {
        return;
    }
    side.td_scale = 0;
    side.flags &= FLAG_BE_LIBERAL;
    walk_options(opts, |kind, body| {
        match (kind, body) {
            (OPT_SACK_PERM, []) => side.flags |= FLAG_SACK_PERM,
            (OPT_WINDOW, [shift]) => {
                side.td_scale = (*shift).min(MAX_WSCALE);
                side.flags |= FLAG_WINDOW_SCALE;
            }
            _ => {}
        }
        true
    });
}

/// The SACK-adjusted acknowledgement (§3.7 "SACK"): the highest right edge of
/// the first well-formed SACK option, if after `ack`.
fn sack_edge(opts: &[u8], ack: u32) -> u32 {
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
                let right = u32::from_be_bytes([a, b, c, d]);
                if after(right, sack) {
                    sack = right;
                }
            }
        }
        false // only the first well-formed SACK option counts
    });
    sack
}

// ---------------------------------------------------------------------------
// The tracker.
// ---------------------------------------------------------------------------

/// The header checks of `nf_conntrack_proto_tcp.c: tcp_error()` (§3.2
/// steps 1–3): header present, data offset sane, checksum.
pub(crate) fn inspect<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<Segment<'a>, Reason> {
    crate::wire::tcp::parse(ip, verify_checksum)
}

/// Result of the window check (§3.7).
enum Window {
    Accept,
    Ignore(TcpReason),
    Invalid(TcpReason),
}

/// Run one TCP packet through the tracker (§3.2–§3.10).
pub(crate) fn track(conn: &mut TcpConn, seg: &Segment<'_>, ctx: &PacketCtx, cfg: &TcpConfig) -> Outcome {
    // §3.2 step 4 runs before anything else, even before tcp_new.
    if !valid_flag_combination(seg.flags) {
        return Outcome::Invalid { reason: Reason::Tcp(TcpReason::InvalidFlags), timeout: None };
    }
    let mut w = Work::load(conn);
    let verdict = w.packet(seg, ctx, cfg);
    w.store(conn);
    verdict
}

impl Work {
    /// §3.6 `tcp_packet` after the flag check.
    fn packet(&mut self, seg: &Segment<'_>, ctx: &PacketCtx, cfg: &TcpConfig) -> Outcome {
        let class = PacketClass::of_flags(seg.flags);
        if ctx.is_new
            && let Err(reason) = self.tcp_new(seg, class, cfg)
        {
            return Outcome::Invalid { reason: Reason::Tcp(reason), timeout: None };
        }
        let dir = ctx.dir;
        let mut old = self.state;
        let mut new;
        // Whether §3.8 rules 1, 3 or 4 let a RST skip the window check.
        let mut skip_window = false;

        match transition(dir, class, old) {
            Next::Invalid => {
                return Outcome::Invalid {
                    reason: Reason::Tcp(TcpReason::InvalidTransition {
                        index: class as u8,
                        dir: dir.index() as u8,
                        state: old,
                    }),
                    timeout: None,
                };
            }
            Next::To(TcpState::SynSent) if matches!(old, TcpState::TimeWait | TcpState::Close) => {
                // Reopen (§3.6): only if this side closed first (CLOSE_INIT on
                // either side) or our own RST aborted the old connection.
                if self.reopen_allowed(dir) {
                    return Outcome::Reopen;
                }
                return self.ignore(seg, class, dir, old);
            }
            Next::Ignore => {
                if self.synack_answers_ignored_syn(seg, class, dir) {
                    self.resync_from_ignored_syn(dir);
                    old = TcpState::SynSent;
                    new = TcpState::SynRecv;
                } else {
                    return self.ignore(seg, class, dir, old);
                }
            }
            Next::To(s) => {
                new = s;
                match new {
                    TcpState::TimeWait if self.is_challenge_ack(class, dir, old) => {
                        self.last_flags &= !FLAG_EXP_CHALLENGE_ACK;
                        return Outcome::Ignore(Reason::Tcp(TcpReason::ChallengeAck));
                    }
                    TcpState::SynSent2 => self.last_flags |= FLAG_SIMULTANEOUS_OPEN,
                    // Simultaneous open: the reply side's ACK finishes it.
                    TcpState::SynRecv
                        if dir == Direction::Reply
                            && class == PacketClass::Ack
                            && self.last_flags & FLAG_SIMULTANEOUS_OPEN != 0 =>
                    {
                        new = TcpState::Established;
                    }
                    TcpState::Close if class == PacketClass::Rst => {
                        match self.rst_rules(seg, dir, old, ctx, cfg) {
                            Err(reason) => {
                                return Outcome::Invalid { reason: Reason::Tcp(reason), timeout: None };
                            }
                            Ok((state, skip)) => {
                                new = state;
                                skip_window = skip;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }

        if !skip_window {
            match self.in_window(seg, class, dir, cfg) {
                Window::Accept => {}
                Window::Ignore(reason) => return Outcome::Ignore(Reason::Tcp(reason)),
                Window::Invalid(reason) => {
                    let timeout = self.handle_invalid(class, dir, ctx, cfg);
                    return Outcome::Invalid { reason: Reason::Tcp(reason), timeout };
                }
            }
        }
        self.commit(seg, class, dir, old, new, ctx, cfg)
    }

    /// §3.5 `tcp_new`: initialise a fresh entry from its first packet.
    fn tcp_new(&mut self, seg: &Segment<'_>, class: PacketClass, cfg: &TcpConfig) -> Result<(), TcpReason> {
        let end = seg.end();
        let win = u32::from(seg.window).max(1); // raw: never scaled here
        match class {
            PacketClass::Syn => {
                *self = Work::zeroed();
                let o = self.side_mut(Direction::Original);
                o.td_end = end;
                o.td_maxwin = win;
                o.td_maxend = end;
                parse_syn_options(seg.options, o);
            }
            PacketClass::Ack if cfg.loose => {
                // Mid-stream pickup: scale unknown, so window checking is
                // switched off for both sides for the life of the entry.
                *self = Work::zeroed();
                let o = self.side_mut(Direction::Original);
                o.td_end = end;
                o.td_maxwin = win;
                o.td_maxend = end.wrapping_add(win);
                for side in &mut self.seen {
                    side.flags = FLAG_SACK_PERM | FLAG_BE_LIBERAL;
                }
            }
            PacketClass::Ack => return Err(TcpReason::PickupDisabled),
            // synack/fin/rst cannot open an entry.
            _ => return Err(TcpReason::InvalidNew),
        }
        self.last_index = PacketClass::None;
        Ok(())
    }

    /// §3.6 reopen condition for SYN in TIME_WAIT/CLOSE.
    fn reopen_allowed(&self, dir: Direction) -> bool {
        let [o, r] = self.seen;
        (o.flags | r.flags) & FLAG_CLOSE_INIT != 0
            || (self.last_dir == dir && self.last_index == PacketClass::Rst)
    }

    /// §3.6: a SYN-ACK acknowledging the SYN we ignored earlier.
    fn synack_answers_ignored_syn(&self, seg: &Segment<'_>, class: PacketClass, dir: Direction) -> bool {
        class == PacketClass::SynAck
            && self.last_index == PacketClass::Syn
            && self.last_dir != dir
            && seg.ack == self.last_end
    }

    /// §3.6: the ignored SYN was genuine; rebuild its sender from the values
    /// saved when it was ignored and forget the answering side's window data.
    fn resync_from_ignored_syn(&mut self, dir: Direction) {
        let last_dir = self.last_dir;
        self.last_flags &= !FLAG_EXP_CHALLENGE_ACK;
        let (end, win, scale, flags) = (self.last_end, self.last_win, self.last_wscale, self.last_flags);
        let s = self.side_mut(last_dir);
        s.td_end = end;
        s.td_maxend = end;
        s.td_maxwin = u32::from(win).max(1);
        s.td_scale = scale;
        s.flags = flags;
        let d = self.side_mut(dir);
        *d = TcpSide { flags: d.flags & FLAG_BE_LIBERAL, ..TcpSide::default() };
    }

    /// §3.6 "treat as IGNORE": remember the packet, accept without learning.
    fn ignore(&mut self, seg: &Segment<'_>, class: PacketClass, dir: Direction, old: TcpState) -> Outcome {
        self.last_index = class;
        self.last_dir = dir;
        self.last_seq = seg.seq;
        self.last_end = seg.end();
        self.last_win = seg.window;
        if class == PacketClass::Syn && dir == Direction::Original {
            // Keep this SYN's options so that a SYN-ACK answering it can
            // resynchronise the entry.
            let mut opts = TcpSide::default();
            parse_syn_options(seg.options, &mut opts);
            self.last_flags = opts.flags & (FLAG_WINDOW_SCALE | FLAG_SACK_PERM);
            self.last_wscale = if opts.flags & FLAG_WINDOW_SCALE != 0 { opts.td_scale } else { 0 };
            // The peer may answer with an RFC 5961 challenge ACK, which must
            // not be taken for the ACK of the last FIN.
            if old == TcpState::LastAck {
                self.last_flags |= FLAG_EXP_CHALLENGE_ACK;
            }
        }
        if old == TcpState::SynSent && class == PacketClass::Ack && dir == Direction::Reply {
            self.last_ack = seg.ack; // possible challenge ACK to our SYN (§3.8 rule 4)
        }
        Outcome::Ignore(Reason::Tcp(TcpReason::IgnoredTransition {
            index: class as u8,
            dir: dir.index() as u8,
            state: old,
        }))
    }

    /// §3.6 TIME_WAIT case: an ACK answering a SYN ignored in LAST_ACK.
    fn is_challenge_ack(&self, class: PacketClass, dir: Direction, old: TcpState) -> bool {
        old == TcpState::LastAck
            && class == PacketClass::Ack
            && self.last_dir != dir
            && self.last_index == PacketClass::Syn
            && self.last_flags & FLAG_EXP_CHALLENGE_ACK != 0
    }

    /// §3.8 RST acceptance. `Ok((new_state, skip_window_check))` or INVALID.
    ///
    /// Rule 2's "continue to the window check" outcomes go straight to the
    /// window check; only the "in window but inexact" outcome (state kept)
    /// falls through to rules 3 and 4.
    fn rst_rules(
        &self,
        seg: &Segment<'_>,
        dir: Direction,
        old: TcpState,
        ctx: &PacketCtx,
        cfg: &TcpConfig,
    ) -> Result<(TcpState, bool), TcpReason> {
        // Rule 1: closing states take any RST (the tuple may be reused already).
        if old.is_closing() {
            return Ok((TcpState::Close, true));
        }
        let mut new = TcpState::Close;
        let receiver = self.side(dir.opposite());
        // Rule 2 (td_maxack is stale if a SYN was let through last).
        if receiver.flags & FLAG_MAXACK_SET != 0 && self.last_index != PacketClass::Syn {
            let established = old == TcpState::Established && ctx.assured;
            if seg.seq == 0 && !established {
                return Ok((new, false)); // answer to a SYN we let through
            }
            if before(seg.seq, receiver.td_maxack) && !cfg.ignore_invalid_rst {
                return Err(TcpReason::InvalidRst);
            }
            if !established || seg.seq == receiver.td_maxack {
                return Ok((new, false));
            }
            if self.last_index == PacketClass::Ack && self.last_dir == dir && seg.seq == self.last_end {
                return Ok((new, false)); // RST right after our last segment
            }
            // In window but not exact: keep the state so that a challenge
            // ACK from the other side can still pass.
            new = old;
        }
        // Rule 3: RST answering a SYN or ACK ignored earlier.
        let answers_ignored = (ctx.seen_reply && self.last_index == PacketClass::Syn)
            || (!ctx.assured && self.last_index == PacketClass::Ack);
        if answers_ignored && seg.ack == self.last_end {
            return Ok((new, true));
        }
        // Rule 4: RST answering a challenge ACK we let through in SYN_SENT.
        if old == TcpState::SynSent
            && self.last_index == PacketClass::Ack
            && self.last_dir == Direction::Reply
            && seg.seq == self.last_ack
        {
            return Ok((new, true));
        }
        Ok((new, false))
    }

    /// §3.7 `tcp_in_window`, including §3.9.
    fn in_window(
        &mut self,
        seg: &Segment<'_>,
        class: PacketClass,
        dir: Direction,
        cfg: &TcpConfig,
    ) -> Window {
        let state = self.state; // the stored state, not the resync's "old"
        let (syn, has_ack, rst) = (seg.has(TH_SYN), seg.has(TH_ACK), seg.has(TH_RST));
        let (s, r) = sender_receiver(&mut self.seen, dir);
        let mut seq = seg.seq;
        let mut ack = seg.ack;
        let mut end = seg.end();
        let mut sack = if r.flags & FLAG_SACK_PERM != 0 { sack_edge(seg.options, ack) } else { ack };

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
                s.td_maxwin = (u32::from(seg.window) << s.td_scale.min(MAX_WSCALE)).max(1);
                s.td_maxend = end.wrapping_add(s.td_maxwin);
                if r.td_maxwin == 0 {
                    // Nothing seen the other way: make checks III/IV pass.
                    r.td_end = sack;
                    r.td_maxend = sack;
                } else if sack == r.td_end.wrapping_add(1) {
                    r.td_end = r.td_end.wrapping_add(1); // keep-alive answer
                }
            }
        } else if syn && after(end, s.td_end) && matches!(state, TcpState::SynSent | TcpState::SynRecv) {
            // SYN / SYN-ACK re-sent with a new sequence number or options.
            init_sender(s, r, seg, end, dir);
            if dir == Direction::Reply && !has_ack {
                return Window::Accept;
            }
        }

        if !has_ack || (rst && ack == 0) {
            // No ACK (or a broken stack's RST+ACK with ack 0): pretend it fits.
            ack = r.td_end;
            sack = r.td_end;
        }
        if rst && seq == 0 && state == TcpState::SynSent {
            seq = s.td_end; // RST answering a SYN
            end = s.td_end;
        }

        let liberal = cfg.be_liberal || s.flags & FLAG_BE_LIBERAL != 0;
        // A failing check is ACCEPT (without learning) for liberal entries.
        let fail = |w: Window| if liberal { Window::Accept } else { w };
        let maxackwin = s.td_maxwin.max(MAXACKWIN_MIN);
        let ack_lower = r.td_end.wrapping_sub(maxackwin).wrapping_sub(1);
        let data_lower = s.td_end.wrapping_sub(r.td_maxwin).wrapping_sub(1);

        // Check I: data starts within what the receiver allowed.
        if !seq_le(seq, s.td_maxend) {
            let overshot = end.wrapping_sub(s.td_maxend).wrapping_add(1);
            if r.td_maxwin != 0
                && after(end, data_lower)
                && after(sack, ack_lower)
                && overshot <= r.td_maxwin
                && seq_le(sack, r.td_end)
            {
                // Only slightly beyond the window: remember the data, but do
                // not learn from the packet (IGNORE).
                s.td_end = end;
                s.flags |= FLAG_DATA_UNACKNOWLEDGED;
                return fail(Window::Ignore(TcpReason::Overshoot(overshot)));
            }
            return fail(Window::Invalid(TcpReason::SeqOverUpperBound(s.td_maxend.wrapping_add(1))));
        }
        // Check III: does not ACK data the receiver never sent.
        if !seq_le(sack, r.td_end) {
            return fail(Window::Invalid(TcpReason::AckOverUpperBound(r.td_end.wrapping_add(1))));
        }
        // Check II: not entirely older than a full window.
        if r.td_maxwin != 0 && !after(end, data_lower) {
            return fail(Window::Ignore(TcpReason::SeqUnderLowerBound(data_lower)));
        }
        // Check IV: ACK not absurdly old.
        if !after(sack, ack_lower) {
            return fail(Window::Ignore(TcpReason::AckUnderLowerBound(ack_lower)));
        }

        // All four hold: learn from the packet.
        let mut win = u32::from(seg.window);
        if !syn {
            win <<= s.td_scale.min(MAX_WSCALE);
        }
        let swin = win.wrapping_add(sack.wrapping_sub(ack));
        s.td_maxwin = s.td_maxwin.max(swin);
        if after(end, s.td_end) {
            s.td_end = end;
            s.flags |= FLAG_DATA_UNACKNOWLEDGED;
        }
        if has_ack {
            if s.flags & FLAG_MAXACK_SET == 0 {
                s.td_maxack = ack;
                s.flags |= FLAG_MAXACK_SET;
            } else if after(ack, s.td_maxack) {
                s.td_maxack = ack;
            }
        }
        if r.td_maxwin != 0 && after(end, s.td_maxend) {
            r.td_maxwin = r.td_maxwin.wrapping_add(end.wrapping_sub(s.td_maxend));
        }
        if after(sack.wrapping_add(win), r.td_maxend.wrapping_sub(1)) {
            r.td_maxend = sack.wrapping_add(win);
            if win == 0 {
                r.td_maxend = r.td_maxend.wrapping_add(1);
            }
        }
        if ack == r.td_end {
            r.flags &= !FLAG_DATA_UNACKNOWLEDGED;
        }

        // §3.9 retransmission bookkeeping, ACK-class packets only.
        if class == PacketClass::Ack {
            if self.last_dir == dir
                && self.last_seq == seq
                && self.last_ack == ack
                && self.last_end == end
                && self.last_win == seg.window
            {
                self.retrans = self.retrans.wrapping_add(1);
            } else {
                self.last_dir = dir;
                self.last_seq = seq;
                self.last_ack = ack;
                self.last_end = end;
                self.last_win = seg.window;
                self.retrans = 0;
            }
        }
        Window::Accept
    }

    /// §3.10 `handle_invalid`: a FIN/RST rejected by the window check on an
    /// ASSURED entry, answering a FIN/RST from the other side, shortens the
    /// entry's life to T[UNACK]; otherwise it is remembered as the last packet.
    fn handle_invalid(
        &mut self,
        class: PacketClass,
        dir: Direction,
        ctx: &PacketCtx,
        cfg: &TcpConfig,
    ) -> Option<u32> {
        if !ctx.assured || !matches!(class, PacketClass::Fin | PacketClass::Rst) {
            return None;
        }
        if self.last_dir != dir && matches!(self.last_index, PacketClass::Fin | PacketClass::Rst) {
            let unack = cfg.timeouts.unacknowledged;
            if ctx.remaining >= 120 && ctx.remaining > unack {
                return Some(unack);
            }
            None
        } else {
            self.last_index = class;
            self.last_dir = dir;
            None
        }
    }

    /// The "in_window" tail of §3.6: record the transition and pick the
    /// timeout / ASSURED / kill outcome (§3.10).
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        seg: &Segment<'_>,
        class: PacketClass,
        dir: Direction,
        old: TcpState,
        new: TcpState,
        ctx: &PacketCtx,
        cfg: &TcpConfig,
    ) -> Outcome {
        self.last_index = class;
        self.last_dir = dir;
        self.state = new;
        if old != new && new == TcpState::FinWait {
            self.side_mut(dir).flags |= FLAG_CLOSE_INIT;
        }
        let t = &cfg.timeouts;
        let mut timeout = self.choose_timeout(new, class, cfg);
        if !ctx.seen_reply {
            if seg.has(TH_RST) {
                // The only answer so far is a RST: drop the entry now.
                return Outcome::Close;
            }
            if class == PacketClass::Syn && old == TcpState::SynSent {
                // SYN retransmit without reply: do not extend the deadline.
                return Outcome::Accept { timeout: None, assure: false };
            }
            if new == TcpState::Established {
                timeout = timeout.min(t.unacknowledged); // picked-up connection
            }
            return Outcome::Accept { timeout: Some(timeout), assure: false };
        }
        let set_assured = !ctx.assured
            && matches!(old, TcpState::SynRecv | TcpState::Established)
            && new == TcpState::Established;
        Outcome::Accept { timeout: Some(timeout), assure: set_assured }
    }

    /// §3.10 timeout rules 1–5 (first match wins).
    fn choose_timeout(&self, new: TcpState, class: PacketClass, cfg: &TcpConfig) -> u32 {
        let t = &cfg.timeouts;
        let base = state_timeout(t, new);
        let [o, r] = self.seen;
        if self.retrans >= cfg.max_retrans && base > t.max_retrans {
            t.max_retrans
        } else if class == PacketClass::Rst {
            t.close // even when §3.8 kept the old state
        } else if (o.flags | r.flags) & FLAG_DATA_UNACKNOWLEDGED != 0 && base > t.unacknowledged {
            t.unacknowledged
        } else if self.last_win == 0 && base > t.max_retrans {
            t.max_retrans
        } else {
            base
        }
    }
}

/// §3.7 `init_sender`: (re)initialise the sender from a SYN or SYN-ACK.
fn init_sender(s: &mut TcpSide, r: &mut TcpSide, seg: &Segment<'_>, end: u32, dir: Direction) {
    s.td_end = end;
    s.td_maxend = end;
    s.td_maxwin = u32::from(seg.window).max(1);
    parse_syn_options(seg.options, s);
    // RFC 7323: scaling is on only if both sides sent the option.
    if dir == Direction::Reply && !(s.flags & FLAG_WINDOW_SCALE != 0 && r.flags & FLAG_WINDOW_SCALE != 0) {
        s.td_scale = 0;
        r.td_scale = 0;
    }
}

/// T[state] (§3.10); NONE never results from a transition, it uses the
/// "new" slot (= SYN_SENT).
fn state_timeout(t: &TcpTimeouts, s: TcpState) -> u32 {
    match s {
        TcpState::None | TcpState::SynSent => t.syn_sent,
        TcpState::SynRecv => t.syn_recv,
        TcpState::Established => t.established,
        TcpState::FinWait => t.fin_wait,
        TcpState::CloseWait => t.close_wait,
        TcpState::LastAck => t.last_ack,
        TcpState::TimeWait => t.time_wait,
        TcpState::Close => t.close,
        TcpState::SynSent2 => t.syn_sent2,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::time::Tick;
    use crate::tuple::Family;
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
        Segment { seq, ack, window, flags, options, payload }
    }

    fn ctx(dir: Direction, is_new: bool, seen_reply: bool, assured: bool, remaining: u32) -> PacketCtx {
        PacketCtx { now: Tick(0), dir, is_new, seen_reply, assured, remaining, family: Family::Ipv4 }
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
    /// and the remaining lifetime the way the core would (§2.2, §2.10).
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
            Conn {
                tcp: TcpConn::default(),
                created: false,
                seen_reply: false,
                assured: false,
                remaining: 0,
                cfg,
            }
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

        /// The handshake of §3.11 (rows 1–3): C ISN 1000, S ISN 5000, both
        /// with window scale 7 and SACK.
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

    #[test]
    fn conn_is_small() {
        assert!(core::mem::size_of::<TcpConn>() <= 56, "{}", core::mem::size_of::<TcpConn>());
        assert_eq!(core::mem::size_of::<TcpConn>(), 56);
    }

    #[test]
    fn default_is_none_and_pack_roundtrips() {
        let c = TcpConn::default();
        assert_eq!(c.state(), TcpState::None);
        let mut w = Work::load(&c);
        w.state = TcpState::SynSent2;
        w.last_dir = R;
        w.last_index = PacketClass::None;
        w.seen[1].td_scale = 14;
        w.seen[0].td_scale = 3;
        w.last_wscale = 9;
        let mut c2 = TcpConn::default();
        w.store(&mut c2);
        assert_eq!(c2.state(), TcpState::SynSent2);
        assert_eq!(c2.last_dir(), R);
        assert_eq!(c2.last_index(), PacketClass::None);
        assert_eq!(c2.side(R).td_scale, 14);
        assert_eq!(c2.side(O).td_scale, 3);
        assert_eq!(Work::load(&c2).last_wscale, 9);
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
        for (i, n) in names.iter().enumerate() {
            assert_eq!(TcpState::from_bits(i as u8).name(), *n);
            assert_eq!(TcpState::from_bits(i as u8) as usize, i);
        }
    }

    #[test]
    fn flag_validity_table() {
        let valid: [u8; 9] = [SYN, SYN | TH_URG, SA, RST, RA, FA, FA | TH_URG, A, A | TH_URG];
        for f in 0..=255u8 {
            let masked = f & !(TH_PSH | TH_ECE | TH_CWR);
            assert_eq!(valid_flag_combination(f), valid.contains(&masked), "flags {f:#04x}");
        }
        // The named invalid examples of §3.2.
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

    /// §3.11, step by step.
    #[test]
    fn worked_example_normal_connection() {
        let mut c = Conn::new();
        // 1: C→S SYN.
        assert_eq!(c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0), accept(120));
        assert_eq!(c.state(), TcpState::SynSent);
        let (cs, ss) = (c.side(O), c.side(R));
        assert_eq!((cs.td_end, cs.td_maxend, cs.td_maxwin, cs.td_scale), (1001, 1001, 64240, 7));
        assert_eq!(cs.flags & (FLAG_SACK_PERM | FLAG_WINDOW_SCALE), FLAG_SACK_PERM | FLAG_WINDOW_SCALE);
        assert_eq!(ss, TcpSide { td_maxend: 64240, ..TcpSide::default() });

        // 2: S→C SYN-ACK.
        assert_eq!(c.seg(R, SA, 5000, 1001, 65160, &syn_opts(7), 0), accept(60));
        assert_eq!(c.state(), TcpState::SynRecv);
        let (cs, ss) = (c.side(O), c.side(R));
        assert_eq!(
            (ss.td_end, ss.td_maxend, ss.td_maxwin, ss.td_scale, ss.td_maxack),
            (5001, 5001, 65160, 7, 1001)
        );
        assert_eq!(cs.td_maxend, 66161);
        assert!(c.seen_reply);

        // 3: C→S ACK completes the handshake: ASSURED.
        assert_eq!(c.seg(O, A, 1001, 5001, 502, &[], 0), accept_assured(432_000));
        assert_eq!(c.state(), TcpState::Established);
        let (cs, ss) = (c.side(O), c.side(R));
        assert_eq!((cs.td_maxwin, cs.td_maxack), (64256, 5001));
        assert_eq!(ss.td_maxend, 69257);

        // 4: C→S 100 bytes: data outstanding caps the timeout.
        assert_eq!(c.seg(O, PA, 1001, 5001, 502, &[], 100), accept(300));
        assert_eq!(c.side(O).td_end, 1101);
        assert_ne!(c.side(O).flags & FLAG_DATA_UNACKNOWLEDGED, 0);

        // 5: S→C ACK of the data.
        assert_eq!(c.seg(R, A, 5001, 1101, 509, &[], 0), accept(432_000));
        assert_eq!(c.side(O).td_maxend, 66253);
        assert_eq!(c.side(O).flags & FLAG_DATA_UNACKNOWLEDGED, 0);
        assert_eq!(c.side(R).td_maxwin, 65160);

        // 6: C→S FIN.
        assert_eq!(c.seg(O, FA, 1101, 5001, 502, &[], 0), accept(120));
        assert_eq!(c.state(), TcpState::FinWait);
        assert_eq!(c.side(O).td_end, 1102);
        assert_ne!(c.side(O).flags & FLAG_CLOSE_INIT, 0);
        assert_ne!(c.side(O).flags & FLAG_DATA_UNACKNOWLEDGED, 0);

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
        assert_eq!(c.side(O).td_end, 90001);
    }

    /// Rows 1–5 of §3.11 (the state the out-of-window illustrations start from).
    fn after_step5() -> Conn {
        let mut c = Conn::established();
        c.seg(O, PA, 1001, 5001, 502, &[], 100);
        c.seg(R, A, 5001, 1101, 509, &[], 0);
        assert_eq!((c.side(R).td_maxwin, c.side(O).td_maxend), (65160, 66253));
        c
    }

    #[test]
    fn overshoot_is_ignored() {
        let mut c = after_step5();
        let v = c.seg(O, PA, 70000, 5001, 502, &[], 100);
        assert_eq!(v, Outcome::Ignore(Reason::Tcp(TcpReason::Overshoot(3848))));
        assert_eq!(c.side(O).td_end, 70100);
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
        assert_eq!(c.side(O).td_end, before.td_end);
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
        // Picked up mid-stream: ESTABLISHED, capped at T[UNACK], liberal both ways.
        assert_eq!(c.seg(O, PA, 1000, 9000, 1000, &[], 100), accept(300));
        assert_eq!(c.state(), TcpState::Established);
        for d in [O, R] {
            assert_eq!(
                c.side(d).flags & (FLAG_SACK_PERM | FLAG_BE_LIBERAL),
                FLAG_SACK_PERM | FLAG_BE_LIBERAL
            );
        }
        assert_eq!(c.side(O).td_end, 1100);
        assert_eq!(c.side(O).td_maxend, 2100);
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
        assert_eq!(c.side(R).td_end, 701);
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
        // §3.8 rule 4: the SYN's sender answers the challenge ACK with a RST
        // at the challenge ACK's ack number; accepted without window check
        // (which would fail: 4242 is far beyond C.td_maxend = 1001). The
        // ignored reply already set SEEN_REPLY, so the entry is not killed.
        assert!(c.seen_reply);
        assert_eq!(c.seg(O, RST, 4242, 0, 0, &[], 0), accept(10));
        assert_eq!(c.state(), TcpState::Close);
        assert_eq!(c.side(O).td_end, 1001);
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

    /// §3.12 first case: the only answer to a SYN is a RST.
    #[test]
    fn rst_only_answer_to_syn_kills() {
        let mut c = Conn::new();
        c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0);
        assert_eq!(c.seg(R, RA, 0, 1001, 0, &[], 0), Outcome::Close);
    }

    #[test]
    fn exact_rst_closes() {
        let mut c = after_step5();
        // S's td_maxack is 1101; C's is 5001. A RST from S at seq 5001.
        assert_eq!(c.side(O).td_maxack, 5001);
        assert_eq!(c.seg(R, RA, 5001, 1101, 0, &[], 0), accept(10));
        assert_eq!(c.state(), TcpState::Close);
    }

    #[test]
    fn inexact_rst_keeps_state_with_close_timeout() {
        let mut c = after_step5();
        assert_eq!(c.seg(R, RST, 5500, 0, 0, &[], 0), accept(10));
        assert_eq!(c.state(), TcpState::Established);
        // The RST moved S.td_end to 5500 (it is learnt from like any
        // in-window segment), so C's next ACK of 5001 leaves S's "data"
        // unacknowledged: traffic continues with the 5-minute timeout.
        assert_eq!(c.side(R).td_end, 5500);
        assert_eq!(c.seg(O, A, 1101, 5001, 502, &[], 0), accept(300));
        assert_eq!(c.seg(O, A, 1101, 5500, 502, &[], 0), accept(432_000));
        // Challenge ACK flow: inexact RST, then the exact one closes.
        assert_eq!(c.side(O).td_maxack, 5500);
        assert_eq!(c.seg(R, RST, 6000, 0, 0, &[], 0), accept(10));
        assert_eq!(c.state(), TcpState::Established);
        assert_eq!(c.seg(R, RST, 5500, 0, 0, &[], 0), accept(10));
        assert_eq!(c.state(), TcpState::Close);
    }

    #[test]
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
        assert_eq!((cs.td_end, cs.td_maxwin, cs.td_scale), (424243, 29200, 5));
        assert_eq!(cs.td_maxend, 424243 + 28960);
        assert_eq!((ss.td_end, ss.td_maxend, ss.td_maxwin, ss.td_scale), (778, 778, 28960, 6));
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
        assert_eq!(
            c.seg(R, A, 5002, 1102, 509, &[], 0),
            Outcome::Ignore(Reason::Tcp(TcpReason::ChallengeAck))
        );
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

    #[test]
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

    #[test]
    fn zero_window_caps_timeout() {
        let mut c = after_step5();
        assert_eq!(c.seg(R, A, 5001, 1101, 0, &[], 0), accept(300));
        // The receiver's right edge is ack + 1 for a zero window.
        assert_eq!(c.side(O).td_maxend, 66253, "maxend never moves back");
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
        // S's equally broken FIN: the lifetime drops to T[UNACK].
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
        assert_eq!(sack_edge(&opts, 1101), 2000);
        // Timestamp-only fast path, malformed lengths.
        assert_eq!(sack_edge(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], 5), 5);
        assert_eq!(sack_edge(&[5, 9, 0, 0, 0, 0, 0, 0, 0], 5), 5);
        assert_eq!(sack_edge(&[5, 200], 5), 5);
    }

    #[test]
    fn option_parsing() {
        let mut s = TcpSide { flags: FLAG_BE_LIBERAL | FLAG_CLOSE_INIT, td_scale: 3, ..TcpSide::default() };
        parse_syn_options(&[], &mut s);
        assert_eq!((s.flags, s.td_scale), (FLAG_BE_LIBERAL | FLAG_CLOSE_INIT, 3));
        parse_syn_options(&[1, 3, 3, 20, 4, 2], &mut s);
        assert_eq!((s.flags, s.td_scale), (FLAG_BE_LIBERAL | FLAG_WINDOW_SCALE | FLAG_SACK_PERM, 14));
        // EOL stops; silly length stops; truncated option stops.
        parse_syn_options(&[0, 3, 3, 7], &mut s);
        assert_eq!((s.flags, s.td_scale), (FLAG_BE_LIBERAL, 0));
        parse_syn_options(&[4, 1, 3, 3, 7], &mut s);
        assert_eq!(s.flags, FLAG_BE_LIBERAL);
        parse_syn_options(&[4, 2, 3, 3], &mut s);
        assert_eq!(s.flags, FLAG_BE_LIBERAL | FLAG_SACK_PERM);
    }

    #[test]
    fn window_scale_needs_both_sides() {
        let mut c = Conn::new();
        c.seg(O, SYN, 1000, 0, 64240, &syn_opts(7), 0);
        // The SYN-ACK has SACK but no window scale: both scales drop to 0.
        c.seg(R, SA, 5000, 1001, 65160, &[4, 2, 1, 1], 0);
        assert_eq!((c.side(O).td_scale, c.side(R).td_scale), (0, 0));
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
            let b = a.wrapping_add(d);
            prop_assert!(after(b, a));
            prop_assert!(before(a, b));
            prop_assert!(!before(b, a));
            prop_assert!(!after(a, b));
            prop_assert!(!before(a, a) && !after(a, a));
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
}
