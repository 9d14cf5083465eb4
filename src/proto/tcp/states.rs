//! TCP states: the class of a segment, the flag combinations that are
//! valid at all, where the transition tables lead from each state, and how
//! long each state keeps an entry.

use super::{FLAG_DATA_UNACKNOWLEDGED, TcpConn};
use crate::config::{TcpConfig, TcpTimeouts};
use crate::status::TcpState;
use crate::tuple::Direction;
use crate::wire::tcp::{
    ACK as TH_ACK, CWR as TH_CWR, ECE as TH_ECE, FIN as TH_FIN, PSH as TH_PSH, RST as TH_RST, SYN as TH_SYN,
    URG as TH_URG,
};

// ---------------------------------------------------------------------------
// States and packet classes.
// ---------------------------------------------------------------------------

/// Packet class (the "index" of `nf_conntrack_proto_tcp.c:
/// get_conntrack_index()`); the number is what the kernel logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum PacketClass {
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

/// The flags that decide a segment's validity and class, packed into 5
/// bits: FIN, SYN and RST (bits 0 to 2 of the header's byte) as they are,
/// ACK and URG (bits 4 and 5) as bits 3 and 4; PSH, ECE and CWR, which
/// decide neither, dropped: validity a shift of a 32-bit mask, the class
/// one look-up in a 32-entry table. (A 64-bit mask and a chain of tests
/// cost a TCP ACK 5 Cortex-M3 instructions more and 80 bytes of flash, 2
/// x86 instructions, measured.)
#[inline(always)]
const fn packed(flags: u8) -> usize {
    (flags & 0x07 | (flags >> 1) & 0x18) as usize
}

// PSH, ECE and CWR dropped; FIN, SYN, RST, ACK and URG each a bit.
const _: () = assert!(packed(TH_PSH | TH_ECE | TH_CWR) == 0);
const _: () = assert!(packed(TH_FIN | TH_SYN | TH_RST | TH_ACK | TH_URG) == 0x1f);

impl PacketClass {
    /// Classify by flags in the priority order of `get_conntrack_index()`.
    #[inline(always)]
    pub(crate) fn of_flags(flags: u8) -> PacketClass {
        const CLASSES: [PacketClass; 32] = {
            let mut t = [PacketClass::None; 32];
            let mut f = 0u8;
            while f < 64 {
                t[packed(f)] = PacketClass::by_priority(f);
                f += 1;
            }
            t
        };
        CLASSES[packed(flags)]
    }

    /// [`PacketClass::of_flags`] as `get_conntrack_index()` tests the
    /// flags, one after the other.
    const fn by_priority(flags: u8) -> PacketClass {
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

    pub(crate) fn from_bits(v: u8) -> PacketClass {
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

/// The flag check of `nf_conntrack_proto_tcp.c: tcp_error()`: after masking
/// PSH/ECE/CWR, only these combinations (`tcp_valid_flags[]`) are valid.
#[inline(always)]
pub(crate) fn valid_flag_combination(flags: u8) -> bool {
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
    // The combinations as bits of one word, each at its packed flags
    // ([`packed`], which drops PSH, ECE and CWR): one shift per packet
    // instead of a search.
    const MASK: u32 = {
        let mut m = 0u32;
        let mut k = 0;
        while k < VALID.len() {
            m |= 1 << packed(VALID[k]);
            k += 1;
        }
        m
    };
    MASK >> packed(flags) & 1 == 1
}

// ---------------------------------------------------------------------------
// Transition tables (`nf_conntrack_proto_tcp.c: tcp_conntracks[]`), cell
// for cell.
// ---------------------------------------------------------------------------

/// A table cell: a state, sIV (invalid) or sIG (ignore).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
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

pub(crate) fn transition(dir: Direction, class: PacketClass, state: TcpState) -> Next {
    let table = match dir {
        Direction::Original => &ORIGINAL,
        Direction::Reply => &REPLY,
    };
    table.get(class as usize).and_then(|row| row.get(state as usize)).copied().unwrap_or(IV)
}

/// The timeout of a state (`nf_conntrack_proto_tcp.c: tcp_timeouts[]`, as
/// configured); NONE never results from a transition, it uses the "new" slot
/// (= SYN_SENT).
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

impl TcpConn {
    /// The timeout choice at the end of `nf_conntrack_tcp_packet()` (first
    /// match wins: retransmissions, RST, unacknowledged data, zero window,
    /// state timeout).
    pub(crate) fn choose_timeout(&self, new: TcpState, class: PacketClass, cfg: &TcpConfig) -> u32 {
        let t = &cfg.timeouts;
        let base = state_timeout(t, new);
        let [o, r] = self.seen;
        if self.retrans() >= cfg.max_retrans && base > t.max_retrans {
            t.max_retrans
        } else if class == PacketClass::Rst {
            t.close // even when an inexact in-window RST kept the old state
        } else if (o.flags() | r.flags()) & FLAG_DATA_UNACKNOWLEDGED != 0 && base > t.unacknowledged {
            t.unacknowledged
        } else if self.last_win_zero() && base > t.max_retrans {
            t.max_retrans
        } else {
            base
        }
    }
}
