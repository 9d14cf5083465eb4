//! The TCP state in the snapshot format (see the table's `snapshot`
//! module): every field of `nf_conntrack_tcp.h: struct ip_ct_tcp` that the
//! tracker keeps, so that a restored connection's window checks continue
//! exactly (conntrackd's full sync of the window data, `NTA_TCP_*`).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 18 | original side: `td_end`, `td_maxend`, `td_maxwin`, `td_maxack` (u32 each), `td_scale`, flags (u8 each) |
//! | 18 | 18 | reply side, the same |
//! | 36 | 1 | state (`enum tcp_conntrack`) |
//! | 37 | 1 | last direction (0 original, 1 reply) |
//! | 38 | 1 | last packet class (`last_index`, 0–5) |
//! | 39 | 4 | `last_seq` |
//! | 43 | 4 | `last_ack` |
//! | 47 | 4 | `last_end` |
//! | 51 | 2 | `last_win` |
//! | 53 | 1 | `last_wscale` |
//! | 54 | 1 | `last_flags` |
//! | 55 | 1 | `retrans` |
//!
//! With feature `compact-tcp`, whose state keeps no `td_maxack` and of the
//! `last_*` fields only the last direction, class and flags
//! (`tcp/memo.rs`), the format is the same: what it does not keep is
//! written as zero, `last_win` as 0 or 1 (whether the last window was
//! zero), and read back as that; the options of an ignored SYN in
//! `last_flags` are dropped. `retrans` is written and read as the count
//! (zero in the IPv4-only build, which keeps none). The fingerprint of the
//! segment it counts goes in a field of the entry record of its own (flag
//! bit 6, see the snapshot module), which other builds read and drop; read
//! from a snapshot of a build that keeps the numbers, it is computed from
//! them.

use super::TcpConn;
use super::states::PacketClass;
use crate::status::TcpState;
use crate::tuple::Direction;
use crate::wire::tcp::SeqNumber;

/// Bytes of an encoded TCP state.
pub(crate) const LEN: usize = 56;

/// The largest window scale (RFC 7323; `nf_conntrack_proto_tcp.c:
/// tcp_options()` caps it at 14).
const MAX_SCALE: u8 = 14;

fn u32_at(b: &[u8; LEN], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn tcp_state(v: u8) -> Option<TcpState> {
    Some(match v {
        0 => TcpState::None,
        1 => TcpState::SynSent,
        2 => TcpState::SynRecv,
        3 => TcpState::Established,
        4 => TcpState::FinWait,
        5 => TcpState::CloseWait,
        6 => TcpState::LastAck,
        7 => TcpState::TimeWait,
        8 => TcpState::Close,
        9 => TcpState::SynSent2,
        _ => return None,
    })
}

impl TcpConn {
    /// The state in the snapshot format.
    pub(crate) fn encode(&self) -> [u8; LEN] {
        let w = self;
        let mut b = [0u8; LEN];
        for (k, s) in w.seen.iter().enumerate() {
            let at = 18 * k;
            b[at..at + 4].copy_from_slice(&{ s.td_end }.0.to_be_bytes());
            b[at + 4..at + 8].copy_from_slice(&{ s.td_maxend }.0.to_be_bytes());
            b[at + 8..at + 12].copy_from_slice(&{ s.td_maxwin }.to_be_bytes());
            #[cfg(not(feature = "compact-tcp"))]
            b[at + 12..at + 16].copy_from_slice(&s.td_maxack.0.to_be_bytes());
            b[at + 16] = s.scale();
            b[at + 17] = s.flags();
        }
        b[36] = w.state as u8;
        b[37] = w.last_dir().index() as u8;
        b[38] = w.last_index() as u8;
        #[cfg(not(feature = "compact-tcp"))]
        {
            b[39..43].copy_from_slice(&w.last_seq.0.to_be_bytes());
            b[43..47].copy_from_slice(&w.last_ack.0.to_be_bytes());
            b[47..51].copy_from_slice(&w.last_end.0.to_be_bytes());
            b[51..53].copy_from_slice(&w.last_win.to_be_bytes());
            b[53] = w.last_wscale;
            b[54] = w.last_flags;
            b[55] = w.retrans;
        }
        #[cfg(feature = "compact-tcp")]
        {
            b[52] = u8::from(!w.last_win_zero());
            b[54] = w.last_flags() & !super::FLAG_LAST_WIN_OPEN;
            b[55] = w.retrans();
        }
        b
    }

    /// A state from the snapshot format; `None` if a field is out of range.
    pub(crate) fn decode(b: &[u8; LEN]) -> Option<TcpConn> {
        let mut c = TcpConn::ZERO;
        for k in 0..2 {
            let at = 18 * k;
            let (scale, flags) = (b[at + 16], b[at + 17]);
            if scale > MAX_SCALE {
                return None;
            }
            let s = &mut c.seen[k];
            s.td_end = SeqNumber(u32_at(b, at));
            s.td_maxend = SeqNumber(u32_at(b, at + 4));
            s.td_maxwin = u32_at(b, at + 8);
            #[cfg(not(feature = "compact-tcp"))]
            {
                s.td_maxack = SeqNumber(u32_at(b, at + 12));
                s.td_scale = scale;
                s.flags = flags;
            }
            // (The compact state keeps a scale only with the option.)
            #[cfg(feature = "compact-tcp")]
            {
                s.set_flags(flags);
                if flags & super::FLAG_WINDOW_SCALE != 0 {
                    s.set_window_scale(scale);
                }
            }
        }
        let last_dir = match b[37] {
            0 => Direction::Original,
            1 => Direction::Reply,
            _ => return None,
        };
        if b[38] > PacketClass::None as u8 || b[53] > MAX_SCALE {
            return None;
        }
        c.state = tcp_state(b[36])?;
        c.set_last_dir(last_dir);
        c.set_last_index(PacketClass::from_bits(b[38]));
        let last_win = u16::from_be_bytes([b[51], b[52]]);
        #[cfg(feature = "compact-tcp")]
        c.set_last_flags(
            b[54] & (super::FLAG_EXP_CHALLENGE_ACK | super::FLAG_SIMULTANEOUS_OPEN)
                | if last_win == 0 { 0 } else { super::FLAG_LAST_WIN_OPEN },
        );
        #[cfg(feature = "compact-tcp")]
        c.restore_recent(
            last_dir,
            SeqNumber(u32_at(b, 39)),
            SeqNumber(u32_at(b, 43)),
            SeqNumber(u32_at(b, 47)),
            last_win,
            b[55],
        );
        #[cfg(not(feature = "compact-tcp"))]
        {
            c.last_flags = b[54];
            c.last_seq = SeqNumber(u32_at(b, 39));
            c.last_ack = SeqNumber(u32_at(b, 43));
            c.last_end = SeqNumber(u32_at(b, 47));
            c.last_win = last_win;
            c.last_wscale = b[53];
            c.retrans = b[55];
        }
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An encoded state with every byte set, its fields in range: both
    /// sides with the window-scale flag, TIME_WAIT, the last packet a RST
    /// in the reply direction.
    fn sample() -> [u8; LEN] {
        let mut b = [0u8; LEN];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8 ^ 0x5a;
        }
        b[16] = 7;
        b[34] = 14;
        b[36] = TcpState::TimeWait as u8;
        b[37] = 1;
        b[38] = 4;
        b[53] = 3;
        b
    }

    #[test]
    #[cfg(not(feature = "compact-tcp"))]
    fn every_field_round_trips() {
        let mut b = sample();
        let c = TcpConn::decode(&b).unwrap();
        assert_eq!(c.encode(), b);
        assert_eq!(c.state(), TcpState::TimeWait);
        b[36] = 10;
        assert!(TcpConn::decode(&b).is_none());
        b[36] = 3;
        b[16] = 15;
        assert!(TcpConn::decode(&b).is_none());
    }

    /// The compact state writes what it keeps and zero for the rest, and
    /// reads back what it wrote.
    #[test]
    #[cfg(feature = "compact-tcp")]
    fn what_the_compact_state_keeps_round_trips() {
        let mut b = sample();
        let c = TcpConn::decode(&b).unwrap();
        let kept = c.encode();
        let mut want = [0u8; LEN];
        for at in [0, 18] {
            want[at..at + 12].copy_from_slice(&b[at..at + 12]);
            // Both sides have the window-scale flag: the scale is kept;
            // of the flags, the five a side can have without td_maxack.
            want[at + 16] = b[at + 16];
            want[at + 17] = b[at + 17] & 0x1f;
        }
        want[36..39].copy_from_slice(&b[36..39]);
        want[52] = 1; // last_win was not zero
        want[54] = b[54] & 0xc0; // the challenge-ACK and simultaneous-open bits
        // The retransmission count, but in the IPv4-only build.
        if cfg!(not(feature = "ipv4-only")) {
            want[55] = b[55];
        }
        assert_eq!(kept, want);
        // The fingerprint, computed from the numbers of the sample, is not
        // in what this build writes (the entry record carries it).
        let mut back = TcpConn::decode(&kept).unwrap();
        if let Some(recent) = c.recent() {
            assert_ne!(back.recent(), Some(recent));
            back.set_recent(recent);
        }
        assert_eq!(back, c);
        b[51] = 0;
        b[52] = 0;
        assert!(TcpConn::decode(&b).unwrap().last_win_zero());
        assert!(!c.last_win_zero());
        // Without the window-scale flag, no scale.
        b[17] &= !super::super::FLAG_WINDOW_SCALE;
        let side = TcpConn::decode(&b).unwrap().side(Direction::Original);
        assert_eq!((side.scale(), side.flags()), (0, b[17] & 0x1e));
    }
}
