//! TCP tracker: the state machine, window tracking and timeouts of Linux's
//! `nf_conntrack_proto_tcp.c`. This file holds the per-entry state and the
//! per-packet driver.
//!
//! What the rest of the crate uses (through [`super::inspect`] and
//! [`super::handle_packet`]):
//!
//! * [`TcpConn`]: per-entry state, `Copy`, `Default` = all zero ("NONE").
//! * [`Segment`]: the header fields of one packet, already length-checked
//!   (20-byte header present, data offset valid) and checksum-verified by the
//!   packet layer.
//! * [`inspect`]: the header checks of `tcp_error()`;
//! * [`track`]: run one packet through the tracker, for an [`Outcome`].
//! * [`TcpConn::state`]: the [`TcpState`] to display.
//!
//! The files of the tracker, in packet order:
//!
//! * this file: [`TcpConn`], which the tracker works on in place, and the
//!   driver `TcpConn::packet` (`nf_conntrack_tcp_packet()`):
//!   `tcp_new()` for the first packet of an entry, the special cases around
//!   the transition tables (reopen, ignore, challenge ACK), and the commit of
//!   the new state with its timeout and ASSURED;
//! * [`states`]: flag-combination check, packet class, the transition tables
//!   and the per-state timeouts;
//! * [`window`]: window tracking with retransmission bookkeeping, SYN and
//!   SACK option parsing, the RST acceptance rules, and
//!   `nf_tcp_handle_invalid()`.
//!
//! Not modelled: SYNPROXY, FIXED_TIMEOUT (the core must ignore a returned
//! timeout for FIXED_TIMEOUT entries). NAT's sequence offsets (the
//! `nf_ct_seq_offset()` correction in `tcp_in_window()`) come in
//! [`PacketCtx::peer_seqadj`].

use super::{Outcome, PacketCtx};
use crate::config::TcpConfig;
use crate::reason::{Reason, TcpReason};
use crate::status::TcpState;
use crate::tuple::Direction;
use crate::wire::ip::IpView;
use crate::wire::tcp::{RST as TH_RST, Segment, SeqNumber};
use states::{Next, PacketClass, transition, valid_flag_combination};
use window::{Window, parse_syn_options};

mod memo;
pub(crate) mod snap;
mod states;
#[cfg(test)]
mod tests;
mod window;

// ---------------------------------------------------------------------------
// Per-direction tracker flags and the two `last_flags` bits
// (`uapi/linux/netfilter/nf_conntrack_tcp.h`: `IP_CT_TCP_FLAG_*`,
// `IP_CT_EXP_CHALLENGE_ACK`, `IP_CT_TCP_SIMULTANEOUS_OPEN`).
// ---------------------------------------------------------------------------

/// The side sent the window-scale option on its SYN / SYN-ACK.
pub(crate) const FLAG_WINDOW_SCALE: u8 = 0x01;
/// The side sent SACK-permitted.
pub(crate) const FLAG_SACK_PERM: u8 = 0x02;
/// The side sent the first FIN.
pub(crate) const FLAG_CLOSE_INIT: u8 = 0x04;
/// Window checks are not enforced for packets from this side.
pub(crate) const FLAG_BE_LIBERAL: u8 = 0x08;
/// The side has sent data the other side has not acknowledged yet.
pub(crate) const FLAG_DATA_UNACKNOWLEDGED: u8 = 0x10;
/// `td_maxack` is valid.
#[cfg(not(feature = "compact-tcp"))]
pub(crate) const FLAG_MAXACK_SET: u8 = 0x20;
/// (`last_flags` only) a SYN was ignored in LAST_ACK: expect a challenge ACK.
pub(crate) const FLAG_EXP_CHALLENGE_ACK: u8 = 0x40;
/// (`last_flags` only) simultaneous open in progress.
pub(crate) const FLAG_SIMULTANEOUS_OPEN: u8 = 0x80;
/// (`last_flags` only, feature `compact-tcp` only, which keeps no
/// `last_win`) the window of the packet remembered last was not zero
/// (clear in a new entry, whose `last_win` is 0). The bit is
/// `FLAG_MAXACK_SET`'s, which `last_flags` never holds.
#[cfg(feature = "compact-tcp")]
pub(crate) const FLAG_LAST_WIN_OPEN: u8 = 0x20;

// ---------------------------------------------------------------------------
// Per-entry state.
// ---------------------------------------------------------------------------

/// One direction's window data.
///
/// Packed to 2-byte alignment (18 bytes, not 20), so that both sides and
/// the rest of [`TcpConn`] fit its 56 bytes: the fields are read and
/// written by value, never borrowed. The scale and flags are read and
/// written through methods, which the `compact-tcp` layout packs.
#[cfg(not(feature = "compact-tcp"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, packed(2))]
pub(crate) struct TcpSide {
    /// Highest `seq + len` sent by this side.
    pub(crate) td_end: SeqNumber,
    /// Right edge this side may send up to (`ack + window` from the peer).
    pub(crate) td_maxend: SeqNumber,
    /// Largest scaled window this side's data must fit in (0 = unknown).
    pub(crate) td_maxwin: u32,
    /// Highest ACK this side sent (valid with [`FLAG_MAXACK_SET`]; see
    /// [`TcpSide::maxack`]).
    pub(crate) td_maxack: SeqNumber,
    /// Window-scale shift this side announced (0–14).
    td_scale: u8,
    /// `FLAG_*` bits.
    flags: u8,
}

/// One direction's window data, feature `compact-tcp`: no `td_maxack`,
/// and the scale and flags in one byte, 13 bytes unaligned (see
/// [`TcpSide::flags`]).
#[cfg(feature = "compact-tcp")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, packed)]
pub(crate) struct TcpSide {
    /// Highest `seq + len` sent by this side.
    pub(crate) td_end: SeqNumber,
    /// Right edge this side may send up to (`ack + window` from the peer).
    pub(crate) td_maxend: SeqNumber,
    /// Largest scaled window this side's data must fit in (0 = unknown).
    pub(crate) td_maxwin: u32,
    /// Low 4 bits: 0 without the window-scale option, else its shift + 1
    /// (`FLAG_WINDOW_SCALE` and the scale, which is 0 without the option);
    /// high 4 bits: `FLAG_SACK_PERM`, `FLAG_CLOSE_INIT`, `FLAG_BE_LIBERAL`
    /// and `FLAG_DATA_UNACKNOWLEDGED`, shifted left by 3.
    scale_flags: u8,
}

#[cfg(not(feature = "compact-tcp"))]
impl TcpSide {
    const ZERO: TcpSide = TcpSide {
        td_end: SeqNumber(0),
        td_maxend: SeqNumber(0),
        td_maxwin: 0,
        td_maxack: SeqNumber(0),
        td_scale: 0,
        flags: 0,
    };

    /// `FLAG_*` bits.
    pub(crate) fn flags(&self) -> u8 {
        self.flags
    }

    pub(crate) fn set_flags(&mut self, flags: u8) {
        self.flags = flags;
    }

    /// Window-scale shift this side announced (0–14; 0 without the
    /// option).
    pub(crate) fn scale(&self) -> u8 {
        self.td_scale
    }

    /// The side sent the window-scale option with `shift` (0–14).
    pub(crate) fn set_window_scale(&mut self, shift: u8) {
        self.td_scale = shift;
        self.flags |= FLAG_WINDOW_SCALE;
    }

    /// Scale 0, whether or not the side sent the option (RFC 7323: both
    /// sides must send it).
    pub(crate) fn clear_scale(&mut self) {
        self.td_scale = 0;
    }
}

#[cfg(feature = "compact-tcp")]
impl TcpSide {
    const ZERO: TcpSide =
        TcpSide { td_end: SeqNumber(0), td_maxend: SeqNumber(0), td_maxwin: 0, scale_flags: 0 };
    /// The flags kept in the high 4 bits.
    const HIGH_FLAGS: u8 = FLAG_SACK_PERM | FLAG_CLOSE_INIT | FLAG_BE_LIBERAL | FLAG_DATA_UNACKNOWLEDGED;

    /// `FLAG_*` bits (`FLAG_WINDOW_SCALE` and the four of the high bits;
    /// no other flag is kept).
    pub(crate) fn flags(&self) -> u8 {
        let ws = if self.scale_flags & 0x0f != 0 { FLAG_WINDOW_SCALE } else { 0 };
        (self.scale_flags >> 3) & Self::HIGH_FLAGS | ws
    }

    /// Set the flags: clearing `FLAG_WINDOW_SCALE` clears the scale;
    /// setting it keeps the scale (0 if it was clear).
    pub(crate) fn set_flags(&mut self, flags: u8) {
        let low = match (flags & FLAG_WINDOW_SCALE != 0, self.scale_flags & 0x0f) {
            (false, _) => 0,
            (true, 0) => 1,
            (true, low) => low,
        };
        self.scale_flags = (flags & Self::HIGH_FLAGS) << 3 | low;
    }

    /// Window-scale shift this side announced (0–14; 0 without the
    /// option).
    pub(crate) fn scale(&self) -> u8 {
        (self.scale_flags & 0x0f).saturating_sub(1)
    }

    /// The side sent the window-scale option with `shift` (0–14).
    pub(crate) fn set_window_scale(&mut self, shift: u8) {
        self.scale_flags = self.scale_flags & 0xf0 | (shift.min(14) + 1);
    }

    /// Scale 0, whether or not the side sent the option.
    pub(crate) fn clear_scale(&mut self) {
        if self.scale_flags & 0x0f != 0 {
            self.scale_flags = self.scale_flags & 0xf0 | 1;
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for TcpSide {
    fn format(&self, f: defmt::Formatter<'_>) {
        let (end, maxend, maxwin) = (self.td_end.0, self.td_maxend.0, self.td_maxwin);
        let maxack = self.maxack().map_or(0, |a| a.0);
        let (scale, flags) = (self.scale(), self.flags());
        defmt::write!(
            f,
            "TcpSide {{ end: {=u32}, maxend: {=u32}, maxwin: {=u32}, maxack: {=u32}, scale: {=u8}, flags: {=u8} }}",
            end,
            maxend,
            maxwin,
            maxack,
            scale,
            flags
        );
    }
}

/// Per-entry TCP tracking state (`linux/netfilter/nf_conntrack_tcp.h:
/// struct ip_ct_tcp`), 56 bytes; 32 with feature `compact-tcp` (28 with
/// `ipv4-only` too), which keeps no `td_maxack` and of the `last_*` memory
/// of the retransmission and resynchronisation rules only a fingerprint
/// for the retransmission counter (see [`memo`]). The tracker
/// works on it in place; the last packet's direction, class and flags are
/// read and written through methods, which the compact layout packs.
///
/// In C order, the enum bytes first: the entry's protocol-state enum takes
/// its discriminant from one of them (their spare values), so the TCP state
/// costs no tag (`ProtoState` is no larger than `TcpConn`), and the
/// discriminant sits at the start of the state, in the cache line a lookup
/// already read. All zero is the state of a new entry, "NONE".
#[cfg(not(feature = "compact-tcp"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
pub(crate) struct TcpConn {
    state: TcpState,
    last_dir: Direction,
    last_index: PacketClass,
    /// `FLAG_EXP_CHALLENGE_ACK`, `FLAG_SIMULTANEOUS_OPEN`; the options of
    /// an ignored SYN (`FLAG_WINDOW_SCALE`, `FLAG_SACK_PERM`).
    last_flags: u8,
    last_wscale: u8,
    retrans: u8,
    last_win: u16,
    /// `seen[0]` = original direction, `seen[1]` = reply.
    seen: [TcpSide; 2],
    last_seq: SeqNumber,
    last_ack: SeqNumber,
    last_end: SeqNumber,
}

/// Per-entry TCP tracking state, feature `compact-tcp` (see the default
/// layout above): 28 bytes, unaligned.
#[cfg(feature = "compact-tcp")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
pub(crate) struct TcpConn {
    state: TcpState,
    /// Bit 0: the last direction (1 = reply); bits 1–3: the last class;
    /// bits 4–6: `FLAG_LAST_WIN_OPEN`, `FLAG_EXP_CHALLENGE_ACK` and
    /// `FLAG_SIMULTANEOUS_OPEN` (the last flags, shifted right by 1).
    last: u8,
    /// `seen[0]` = original direction, `seen[1]` = reply.
    seen: [TcpSide; 2],
    /// What stands for the last ACK-class segment's numbers (see [`memo`]):
    /// bytes 0–2 its fingerprint, bit 7 of byte 2 set when it is not
    /// known; byte 3 the retransmissions counted (`retrans`). Not in the
    /// IPv4-only build, whose entry has no room for it.
    #[cfg(not(feature = "ipv4-only"))]
    recent: [u8; 4],
}

#[cfg(not(feature = "compact-tcp"))]
const _: () = assert!(core::mem::size_of::<TcpConn>() == 56);
#[cfg(all(feature = "compact-tcp", not(feature = "ipv4-only")))]
const _: () = assert!(core::mem::size_of::<TcpConn>() == 32);
#[cfg(all(feature = "compact-tcp", feature = "ipv4-only"))]
const _: () = assert!(core::mem::size_of::<TcpConn>() == 28);

impl Default for TcpConn {
    fn default() -> TcpConn {
        TcpConn::ZERO
    }
}

#[cfg(not(feature = "compact-tcp"))]
impl TcpConn {
    /// The state of a new entry, all zero ("NONE"), like the memset of the
    /// TCP state in `nf_conntrack_proto_tcp.c: tcp_new()`: also what an
    /// unused, zeroed table slot holds. A zeroed `last_index` reads as
    /// class 0 (syn).
    pub(crate) const ZERO: TcpConn = TcpConn {
        state: TcpState::None,
        last_dir: Direction::Original,
        last_index: PacketClass::Syn,
        last_flags: 0,
        last_wscale: 0,
        retrans: 0,
        last_win: 0,
        seen: [TcpSide::ZERO; 2],
        last_seq: SeqNumber(0),
        last_ack: SeqNumber(0),
        last_end: SeqNumber(0),
    };

    /// Class of the last packet that updated the entry.
    pub(crate) fn last_index(&self) -> PacketClass {
        self.last_index
    }

    pub(crate) fn set_last_index(&mut self, class: PacketClass) {
        self.last_index = class;
    }

    /// Direction of the last packet that updated the entry.
    pub(crate) fn last_dir(&self) -> Direction {
        self.last_dir
    }

    pub(crate) fn set_last_dir(&mut self, dir: Direction) {
        self.last_dir = dir;
    }

    /// `last_flags` (`FLAG_*`, incl. EXP_CHALLENGE_ACK / SIMULTANEOUS_OPEN).
    pub(crate) fn last_flags(&self) -> u8 {
        self.last_flags
    }

    pub(crate) fn set_last_flags(&mut self, flags: u8) {
        self.last_flags = flags;
    }
}

#[cfg(feature = "compact-tcp")]
impl TcpConn {
    /// The state of a new entry, all zero ("NONE"), as in the default
    /// layout.
    pub(crate) const ZERO: TcpConn = TcpConn {
        state: TcpState::None,
        last: 0,
        seen: [TcpSide::ZERO; 2],
        #[cfg(not(feature = "ipv4-only"))]
        recent: [0; 4],
    };
    /// The last flags kept (bits 5–7 of `last_flags`).
    const LAST_FLAGS: u8 = FLAG_LAST_WIN_OPEN | FLAG_EXP_CHALLENGE_ACK | FLAG_SIMULTANEOUS_OPEN;

    /// Class of the last packet that updated the entry.
    pub(crate) fn last_index(&self) -> PacketClass {
        PacketClass::from_bits(self.last >> 1 & 0x07)
    }

    pub(crate) fn set_last_index(&mut self, class: PacketClass) {
        self.last = self.last & !0x0e | (class as u8) << 1;
    }

    /// Direction of the last packet that updated the entry.
    pub(crate) fn last_dir(&self) -> Direction {
        if self.last & 1 == 0 { Direction::Original } else { Direction::Reply }
    }

    pub(crate) fn set_last_dir(&mut self, dir: Direction) {
        self.last = self.last & !1 | dir.index() as u8;
    }

    /// `last_flags`: `FLAG_LAST_WIN_OPEN`, `FLAG_EXP_CHALLENGE_ACK`,
    /// `FLAG_SIMULTANEOUS_OPEN` (no other flag is kept).
    pub(crate) fn last_flags(&self) -> u8 {
        (self.last & 0x70) << 1
    }

    pub(crate) fn set_last_flags(&mut self, flags: u8) {
        self.last = self.last & 0x0f | (flags & Self::LAST_FLAGS) >> 1;
    }
}

impl TcpConn {
    /// The conntrack state (shown by `conntrack -L`).
    pub(crate) fn state(&self) -> TcpState {
        self.state
    }

    /// Window data of the sender in direction `dir` (debugging / display).
    pub(crate) fn side(&self, dir: Direction) -> TcpSide {
        self.seen[dir.index()]
    }

    fn side_mut(&mut self, d: Direction) -> &mut TcpSide {
        let [o, r] = &mut self.seen;
        match d {
            Direction::Original => o,
            Direction::Reply => r,
        }
    }
}

// ---------------------------------------------------------------------------
// The tracker.
// ---------------------------------------------------------------------------

/// The header checks of `nf_conntrack_proto_tcp.c`
/// (`nf_conntrack_tcp_packet()` and `tcp_error()`): header present, data
/// offset sane, checksum.
pub(crate) fn inspect<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<Segment<'a>, Reason> {
    crate::wire::tcp::parse(ip, verify_checksum)
}

/// Run one TCP packet through the tracker
/// (`nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()`).
pub(crate) fn track(conn: &mut TcpConn, seg: &Segment<'_>, ctx: &PacketCtx, cfg: &TcpConfig) -> Outcome {
    // The flag check of tcp_error() runs before anything else, even before
    // tcp_new().
    if !valid_flag_combination(seg.flags) {
        return Outcome::Invalid { reason: Reason::Tcp(TcpReason::InvalidFlags), timeout: None };
    }
    conn.packet(seg, ctx, cfg)
}

impl TcpConn {
    /// `nf_conntrack_tcp_packet()` after the flag check.
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
        // Whether the RST may skip tcp_in_window() (the `goto in_window`
        // cases of nf_conntrack_tcp_packet(): closing state, answer to an
        // ignored SYN/ACK, answer to a challenge ACK; see `rst_rules`).
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
                // Reopen (the TCP_CONNTRACK_SYN_SENT case of
                // nf_conntrack_tcp_packet()): only if this side closed first
                // (CLOSE_INIT on either side) or our own RST aborted the old
                // connection.
                if self.reopen_allowed(dir) {
                    return Outcome::Reopen;
                }
                return self.ignore(seg, class, dir, old);
            }
            Next::Ignore => {
                if self.synack_answers_ignored_syn(seg, class, dir) {
                    self.resync_from_ignored_syn(seg, dir);
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
                        self.set_last_flags(self.last_flags() & !FLAG_EXP_CHALLENGE_ACK);
                        return Outcome::Ignore(Reason::Tcp(TcpReason::ChallengeAck));
                    }
                    TcpState::SynSent2 => self.set_last_flags(self.last_flags() | FLAG_SIMULTANEOUS_OPEN),
                    // Simultaneous open: the reply side's ACK finishes it.
                    TcpState::SynRecv
                        if dir == Direction::Reply
                            && class == PacketClass::Ack
                            && self.last_flags() & FLAG_SIMULTANEOUS_OPEN != 0 =>
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
            match self.in_window(seg, class, dir, &ctx.peer_seqadj, cfg) {
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

    /// `nf_conntrack_proto_tcp.c: tcp_new()`: initialise a fresh entry from
    /// its first packet.
    fn tcp_new(&mut self, seg: &Segment<'_>, class: PacketClass, cfg: &TcpConfig) -> Result<(), TcpReason> {
        let end = seg.end();
        let win = u32::from(seg.window).max(1); // raw: never scaled here
        match class {
            PacketClass::Syn => {
                *self = TcpConn::ZERO;
                let o = self.side_mut(Direction::Original);
                o.td_end = end;
                o.td_maxwin = win;
                o.td_maxend = end;
                parse_syn_options(seg.options, o);
            }
            PacketClass::Ack if cfg.loose => {
                // Mid-stream pickup: scale unknown, so window checking is
                // switched off for both sides for the life of the entry.
                *self = TcpConn::ZERO;
                let o = self.side_mut(Direction::Original);
                o.td_end = end;
                o.td_maxwin = win;
                o.td_maxend = end.add(win);
                for side in &mut self.seen {
                    side.set_flags(FLAG_SACK_PERM | FLAG_BE_LIBERAL);
                }
            }
            PacketClass::Ack => return Err(TcpReason::PickupDisabled),
            // synack/fin/rst cannot open an entry.
            _ => return Err(TcpReason::InvalidNew),
        }
        self.set_last_index(PacketClass::None);
        Ok(())
    }

    /// The reopen condition for a SYN in TIME_WAIT/CLOSE (the
    /// `TCP_CONNTRACK_SYN_SENT` case of `nf_conntrack_tcp_packet()`).
    fn reopen_allowed(&self, dir: Direction) -> bool {
        let [o, r] = self.seen;
        (o.flags() | r.flags()) & FLAG_CLOSE_INIT != 0
            || (self.last_dir() == dir && self.last_index() == PacketClass::Rst)
    }

    /// A SYN-ACK acknowledging the SYN we ignored earlier (the
    /// `TCP_CONNTRACK_IGNORE` case of `nf_conntrack_tcp_packet()`; never
    /// with `compact-tcp`, which does not remember the SYN's end).
    fn synack_answers_ignored_syn(&self, seg: &Segment<'_>, class: PacketClass, dir: Direction) -> bool {
        class == PacketClass::SynAck
            && self.last_index() == PacketClass::Syn
            && self.last_dir() != dir
            && self.remembered_end() == Some(seg.ack)
    }

    /// The ignored SYN was genuine (same case): rebuild its sender from
    /// what was remembered when it was ignored (its end is what the SYN-ACK
    /// `seg` acknowledges) and forget the answering side's window data.
    fn resync_from_ignored_syn(&mut self, seg: &Segment<'_>, dir: Direction) {
        let last_dir = self.last_dir();
        self.set_last_flags(self.last_flags() & !FLAG_EXP_CHALLENGE_ACK);
        let (end, (win, scale), flags) = (seg.ack, self.ignored_window(), self.last_flags());
        let s = self.side_mut(last_dir);
        s.td_end = end;
        s.td_maxend = end;
        s.td_maxwin = u32::from(win).max(1);
        s.set_flags(flags);
        if flags & FLAG_WINDOW_SCALE != 0 {
            s.set_window_scale(scale);
        } else {
            s.clear_scale();
        }
        let d = self.side_mut(dir);
        let liberal = d.flags() & FLAG_BE_LIBERAL;
        *d = TcpSide::default();
        d.set_flags(liberal);
    }

    /// The `TCP_CONNTRACK_IGNORE` case of `nf_conntrack_tcp_packet()`:
    /// remember the packet, accept without learning.
    fn ignore(&mut self, seg: &Segment<'_>, class: PacketClass, dir: Direction, old: TcpState) -> Outcome {
        self.set_last_index(class);
        self.set_last_dir(dir);
        self.remember_ignored(seg, class, dir, old);
        Outcome::Ignore(Reason::Tcp(TcpReason::IgnoredTransition {
            index: class as u8,
            dir: dir.index() as u8,
            state: old,
        }))
    }

    /// The `TCP_CONNTRACK_TIME_WAIT` case of `nf_conntrack_tcp_packet()`: an
    /// RFC 5961 challenge ACK answering a SYN ignored in LAST_ACK.
    fn is_challenge_ack(&self, class: PacketClass, dir: Direction, old: TcpState) -> bool {
        old == TcpState::LastAck
            && class == PacketClass::Ack
            && self.last_dir() != dir
            && self.last_index() == PacketClass::Syn
            && self.last_flags() & FLAG_EXP_CHALLENGE_ACK != 0
    }

    /// The `in_window:` tail of `nf_conntrack_tcp_packet()`: record the
    /// transition and pick the timeout / ASSURED / kill outcome.
    // Inline in its one caller: called, it cost a TCP ACK 26 x86
    // instructions (measured).
    #[allow(clippy::too_many_arguments)]
    #[inline]
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
        self.set_last_index(class);
        self.set_last_dir(dir);
        self.state = new;
        if old != new && new == TcpState::FinWait {
            let s = self.side_mut(dir);
            s.set_flags(s.flags() | FLAG_CLOSE_INIT);
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
}
