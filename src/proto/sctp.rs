//! SCTP tracker (`nf_conntrack_proto_sctp.c`, Linux 6.18): a state machine
//! driven by the chunk types of each packet, the verification-tag rules of
//! RFC 9260 section 8.5, and per-state timeouts.
//!
//! Per packet, as `nf_conntrack_sctp_packet()` does it:
//!
//! 1. the header checks ([`inspect`], through [`crate::wire::sctp`]): a whole
//!    common header, the CRC32c (with `nf_conntrack_checksum`), the chunk
//!    layout of `do_basic_checks()`;
//! 2. for the packet that creates the entry, `sctp_new()`: no out-of-the-blue
//!    ABORT, SHUTDOWN COMPLETE or COOKIE ACK (RFC 9260 section 8.4); every
//!    chunk must be one that may start an entry; the tags an INIT, HEARTBEAT
//!    or SHUTDOWN ACK announce are learnt;
//! 3. unless a chunk with its own tag rule is present, the packet's tag must
//!    be the one learnt for its direction;
//! 4. each chunk in turn: its tag rule (RFC 9260 section 8.5.1), its
//!    transition ([`next_state`]), the tags an INIT / INIT ACK announce, and
//!    ASSURED when the entry becomes ESTABLISHED;
//! 5. the timeout of the state reached, except for a retransmitted INIT in
//!    CLOSED and a heartbeat with an unknown tag, which are accepted without
//!    renewing the timeout.
//!
//! Like the kernel, a packet rejected half-way through its chunks keeps the
//! state changes of the chunks before it (a COOKIE ACK bundled with an
//! ABORT of the wrong tag leaves the entry ESTABLISHED). The kernel also
//! sets ASSURED then; the table applies nothing of an INVALID packet's
//! outcome, so the tracker notes it and ASSURED comes with the entry's next
//! accepted packet.

use super::{Outcome, PacketCtx};
use crate::config::SctpTimeouts;
use crate::reason::{Reason, SctpReason};
use crate::status::SctpState;
use crate::tuple::Direction;
use crate::wire::ip::IpView;
use crate::wire::sctp::{FLAG_T, Packet, chunk};

/// `flags`: the original direction sent an INIT not yet answered by a
/// COOKIE ACK (the kernel's `init[IP_CT_DIR_ORIGINAL]`).
const INIT_ORIG: u8 = 0x01;
/// `flags`: the same for the reply direction.
const INIT_REPLY: u8 = 0x02;
/// `flags`: a HEARTBEAT with an unknown tag was let through, its answer may
/// set new tags (`SCTP_FLAG_HEARTBEAT_VTAG_FAILED`).
const HB_VTAG_FAILED: u8 = 0x04;
/// `flags`: that HEARTBEAT came in the reply direction (`last_dir`).
const HB_LAST_REPLY: u8 = 0x08;
/// `flags`: a rejected packet made the entry ESTABLISHED; the next accepted
/// one sets ASSURED (the table applies no ASSURED from an INVALID packet).
const ASSURE_PENDING: u8 = 0x10;

/// Per-entry SCTP state (`linux/netfilter/nf_conntrack_sctp.h: struct
/// ip_ct_sctp`): the conntrack state, the verification tag each direction
/// must carry, and the INIT / heartbeat bookkeeping bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct SctpConn {
    /// Tag expected on packets of the original (0) and reply (1) direction.
    vtag: [u32; 2],
    state: SctpState,
    flags: u8,
}

impl SctpConn {
    /// The conntrack state (shown by `conntrack -L`).
    pub(crate) fn state(&self) -> SctpState {
        self.state
    }

    /// The verification tag expected in direction `dir`.
    #[cfg(test)]
    pub(crate) fn vtag(&self, dir: Direction) -> u32 {
        self.vtag[dir.index()]
    }

    /// Bytes of the state in the snapshot format (see the table's
    /// `snapshot` module): the original and reply verification tags (u32
    /// each), the state (`enum sctp_conntrack`) and the flag bits.
    pub(crate) const SNAPSHOT_LEN: usize = 10;

    /// The state in the snapshot format.
    pub(crate) fn encode(&self) -> [u8; Self::SNAPSHOT_LEN] {
        let mut b = [0u8; Self::SNAPSHOT_LEN];
        b[..4].copy_from_slice(&self.vtag[0].to_be_bytes());
        b[4..8].copy_from_slice(&self.vtag[1].to_be_bytes());
        b[8] = self.state as u8;
        b[9] = self.flags;
        b
    }

    /// A state from the snapshot format; `None` if a field is out of range.
    pub(crate) fn decode(b: &[u8; Self::SNAPSHOT_LEN]) -> Option<SctpConn> {
        let state = match b[8] {
            0 => S::None,
            1 => S::Closed,
            2 => S::CookieWait,
            3 => S::CookieEchoed,
            4 => S::Established,
            5 => S::ShutdownSent,
            6 => S::ShutdownRecd,
            7 => S::ShutdownAckSent,
            8 => S::HeartbeatSent,
            _ => return None,
        };
        let all = INIT_ORIG | INIT_REPLY | HB_VTAG_FAILED | HB_LAST_REPLY | ASSURE_PENDING;
        (b[9] & !all == 0).then_some(SctpConn {
            vtag: [
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ],
            state,
            flags: b[9],
        })
    }

    fn init_bit(dir: Direction) -> u8 {
        match dir {
            Direction::Original => INIT_ORIG,
            Direction::Reply => INIT_REPLY,
        }
    }

    fn init_sent(&self, dir: Direction) -> bool {
        self.flags & Self::init_bit(dir) != 0
    }

    fn set_init(&mut self, dir: Direction, on: bool) {
        if on {
            self.flags |= Self::init_bit(dir);
        } else {
            self.flags &= !Self::init_bit(dir);
        }
    }
}

/// The header checks of an SCTP packet (`nf_conntrack_proto_sctp.c:
/// sctp_error()` and `do_basic_checks()`).
pub(crate) fn inspect<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<Packet<'a>, Reason> {
    Packet::parse(ip.l4, verify_checksum)
}

/// The row of a chunk type in the transition table; `None` for the chunk
/// types that never change the state (DATA, SACK, and any other).
fn chunk_index(ty: u8) -> Option<usize> {
    Some(match ty {
        chunk::INIT => 0,
        chunk::INIT_ACK => 1,
        chunk::ABORT => 2,
        chunk::SHUTDOWN => 3,
        chunk::SHUTDOWN_ACK => 4,
        chunk::ERROR => 5,
        chunk::COOKIE_ECHO => 6,
        chunk::COOKIE_ACK => 7,
        chunk::SHUTDOWN_COMPLETE => 8,
        chunk::HEARTBEAT => 9,
        chunk::HEARTBEAT_ACK => 10,
        _ => return None,
    })
}

use SctpState as S;
/// No transition: the packet is INVALID.
const XX: Option<SctpState> = None;
const CL: Option<SctpState> = Some(S::Closed);
const CW: Option<SctpState> = Some(S::CookieWait);
const CE: Option<SctpState> = Some(S::CookieEchoed);
const ES: Option<SctpState> = Some(S::Established);
const SS: Option<SctpState> = Some(S::ShutdownSent);
const SR: Option<SctpState> = Some(S::ShutdownRecd);
const SA: Option<SctpState> = Some(S::ShutdownAckSent);
const HS: Option<SctpState> = Some(S::HeartbeatSent);

/// The transitions of `nf_conntrack_proto_sctp.c: sctp_conntracks[]`, one row
/// per current state (in `SctpState` order), one column per chunk type:
/// INIT, INIT ACK, ABORT, SHUTDOWN, SHUTDOWN ACK, ERROR, COOKIE ECHO,
/// COOKIE ACK, SHUTDOWN COMPLETE, HEARTBEAT, HEARTBEAT ACK.
#[rustfmt::skip]
const FROM_ORIGINAL: [[Option<SctpState>; 11]; 9] = [
    /* NONE              */ [CL, CL, CL, CL, SA, CL, CL, CL, CL, HS, CL],
    /* CLOSED            */ [CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    /* COOKIE_WAIT       */ [CW, CW, CL, CW, CW, CW, CE, CW, CW, CW, CW],
    /* COOKIE_ECHOED     */ [CE, CE, CL, CE, CE, CE, CE, ES, CE, CE, CE],
    /* ESTABLISHED       */ [ES, ES, CL, SS, ES, ES, ES, ES, ES, ES, ES],
    /* SHUTDOWN_SENT     */ [CL, SS, CL, SS, SA, SS, SS, SS, SS, SS, SS],
    /* SHUTDOWN_RECD     */ [CL, SR, CL, SR, SA, SR, SR, SR, SR, SR, SR],
    /* SHUTDOWN_ACK_SENT */ [SA, SA, CL, SA, SA, SA, SA, SA, CL, SA, SA],
    /* HEARTBEAT_SENT    */ [CW, CL, CL, CL, SA, CL, CL, CL, CL, HS, HS],
];

/// The same for packets in the reply direction.
#[rustfmt::skip]
const FROM_REPLY: [[Option<SctpState>; 11]; 9] = [
    /* NONE              */ [XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX],
    /* CLOSED            */ [CL, CW, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    /* COOKIE_WAIT       */ [CW, CW, CL, CW, CW, CW, CE, CW, CW, CW, CW],
    /* COOKIE_ECHOED     */ [CE, CE, CL, CE, CE, CL, CE, ES, CE, CE, CE],
    /* ESTABLISHED       */ [ES, ES, CL, SR, ES, ES, ES, ES, ES, ES, ES],
    /* SHUTDOWN_SENT     */ [SS, SS, CL, SS, SA, SS, SS, SS, SS, SS, SS],
    /* SHUTDOWN_RECD     */ [SR, SR, CL, SR, SA, SR, SR, SR, SR, SR, SR],
    /* SHUTDOWN_ACK_SENT */ [SA, SA, CL, SA, SA, SA, SA, SA, CL, SA, SA],
    /* HEARTBEAT_SENT    */ [XX, XX, XX, XX, XX, XX, XX, XX, XX, HS, ES],
];

/// The state after a chunk of type `ty` in direction `dir`
/// (`nf_conntrack_proto_sctp.c: sctp_new_state()`); `None`: no transition,
/// INVALID. Chunk types outside the table leave the state as it is.
pub(crate) fn next_state(dir: Direction, state: SctpState, ty: u8) -> Option<SctpState> {
    let Some(col) = chunk_index(ty) else { return Some(state) };
    let table = match dir {
        Direction::Original => &FROM_ORIGINAL,
        Direction::Reply => &FROM_REPLY,
    };
    table[usize::from(state as u8)][col]
}

/// The timeout of a state (`nf_conntrack_proto_sctp.c: sctp_timeouts[]`;
/// NONE takes CLOSED's, as `nf_conntrack_sctp_init_net()` sets it).
pub(crate) fn timeout(t: &SctpTimeouts, state: SctpState) -> u32 {
    match state {
        SctpState::None | SctpState::Closed => t.closed,
        SctpState::CookieWait => t.cookie_wait,
        SctpState::CookieEchoed => t.cookie_echoed,
        SctpState::Established => t.established,
        SctpState::ShutdownSent => t.shutdown_sent,
        SctpState::ShutdownRecd => t.shutdown_recd,
        SctpState::ShutdownAckSent => t.shutdown_ack_sent,
        SctpState::HeartbeatSent => t.heartbeat_sent,
    }
}

fn invalid(r: SctpReason) -> Outcome {
    Outcome::Invalid { reason: Reason::Sctp(r), timeout: None }
}

/// `nf_conntrack_proto_sctp.c: sctp_new()`: whether the first packet of an
/// entry may create it, and the tags it announces.
fn new_entry(pkt: &Packet<'_>) -> Result<SctpConn, SctpReason> {
    let set = pkt.chunk_set();
    // Out of the blue (RFC 9260 section 8.4 (2), (3), (7)): never an entry.
    if set.contains(chunk::ABORT) || set.contains(chunk::SHUTDOWN_COMPLETE) || set.contains(chunk::COOKIE_ACK)
    {
        return Err(SctpReason::InvalidNew);
    }
    let mut conn = SctpConn::default();
    for c in pkt.chunks() {
        match next_state(Direction::Original, SctpState::None, c.ty) {
            None | Some(SctpState::None) => return Err(SctpReason::InvalidNew),
            Some(_) => {}
        }
        match c.ty {
            // RFC 9260 section 8.5.1 (A): an INIT carries tag 0; the peer
            // will use the INIT's Initiate Tag.
            chunk::INIT => {
                if pkt.vtag() != 0 {
                    return Err(SctpReason::InvalidNew);
                }
                conn.vtag[Direction::Reply.index()] = c.init_tag().ok_or(SctpReason::TruncatedInit)?;
            }
            // A heartbeat on a path not seen before: its tag is the
            // original direction's.
            chunk::HEARTBEAT => conn.vtag[Direction::Original.index()] = pkt.vtag(),
            // An out-of-the-blue SHUTDOWN ACK is answered by a SHUTDOWN
            // COMPLETE with the same tag (RFC 9260 section 8.4 (5)).
            chunk::SHUTDOWN_ACK => conn.vtag[Direction::Reply.index()] = pkt.vtag(),
            _ => {}
        }
    }
    Ok(conn)
}

/// A packet of an SCTP entry (`nf_conntrack_proto_sctp.c:
/// nf_conntrack_sctp_packet()`), its header already checked by [`inspect`].
pub(crate) fn track(conn: &mut SctpConn, pkt: &Packet<'_>, ctx: &PacketCtx, t: &SctpTimeouts) -> Outcome {
    if ctx.is_new {
        match new_entry(pkt) {
            Ok(c) => *conn = c,
            Err(r) => return invalid(r),
        }
    }
    let mut assure = false;
    match walk(conn, pkt, ctx, &mut assure) {
        Ok(ignore) => {
            // A rejected packet that made the entry ESTABLISHED left
            // ASSURED to set; the kernel sets it at once.
            let assure = (assure || conn.flags & ASSURE_PENDING != 0) && !ctx.assured;
            conn.flags &= !ASSURE_PENDING;
            Outcome::Accept { timeout: (!ignore).then(|| timeout(t, conn.state)), assure }
        }
        Err(r) => {
            if assure {
                conn.flags |= ASSURE_PENDING;
            }
            invalid(r)
        }
    }
}

/// The tag check and the chunk loop of `nf_conntrack_sctp_packet()`:
/// whether the packet is accepted without renewing the timeout, or why it
/// is INVALID. The state changes of the chunks before a rejected one stay,
/// as in the kernel; `assure` says whether one of them made the entry
/// ESTABLISHED.
fn walk(
    conn: &mut SctpConn,
    pkt: &Packet<'_>,
    ctx: &PacketCtx,
    assure: &mut bool,
) -> Result<bool, SctpReason> {
    let dir = ctx.dir;
    let (d, o) = (dir.index(), dir.opposite().index());
    let set = pkt.chunk_set();
    let vtag = pkt.vtag();
    // RFC 9260 section 8.5: the tag must be the receiver's, except for the
    // chunks with rules of their own (section 8.5.1) and heartbeats.
    let own_rules = [
        chunk::INIT,
        chunk::SHUTDOWN_COMPLETE,
        chunk::COOKIE_ECHO,
        chunk::ABORT,
        chunk::SHUTDOWN_ACK,
        chunk::HEARTBEAT,
        chunk::HEARTBEAT_ACK,
    ];
    if !own_rules.iter().any(|&ty| set.contains(ty)) && vtag != conn.vtag[d] {
        return Err(SctpReason::VerificationTag);
    }

    let mut ignore = false;
    for c in pkt.chunks() {
        match c.ty {
            // (A) an INIT carries tag 0.
            chunk::INIT if vtag != 0 => return Err(SctpReason::ChunkTag),
            // (B), (C): without the T bit, the tag this direction must
            // carry; with it, the other direction's (the sender reflects
            // the tag it would expect itself).
            chunk::ABORT | chunk::SHUTDOWN_COMPLETE => {
                let expected = if c.flags & FLAG_T != 0 { conn.vtag[o] } else { conn.vtag[d] };
                if vtag != expected {
                    return Err(SctpReason::ChunkTag);
                }
            }
            // (D) the tag of the INIT ACK.
            chunk::COOKIE_ECHO if vtag != conn.vtag[d] => return Err(SctpReason::ChunkTag),
            chunk::COOKIE_ACK => conn.flags &= !(INIT_ORIG | INIT_REPLY),
            chunk::HEARTBEAT | chunk::HEARTBEAT_ACK => {
                if conn.vtag[d] == 0 {
                    // First packet of this direction on this path: learn it.
                    conn.vtag[d] = vtag;
                } else if vtag != conn.vtag[d] {
                    // Another tag: the association may have restarted. A
                    // HEARTBEAT is let through (its timeout not renewed);
                    // the HEARTBEAT ACK answering it sets the new tags.
                    if set.contains(chunk::DATA) || ignore {
                        return Err(SctpReason::ChunkTag);
                    }
                    if c.ty == chunk::HEARTBEAT {
                        conn.flags |= HB_VTAG_FAILED;
                        conn.flags = match dir {
                            Direction::Reply => conn.flags | HB_LAST_REPLY,
                            Direction::Original => conn.flags & !HB_LAST_REPLY,
                        };
                        ignore = true;
                        continue;
                    }
                    let last_reply = conn.flags & HB_LAST_REPLY != 0;
                    if conn.flags & HB_VTAG_FAILED == 0 || last_reply == (dir == Direction::Reply) {
                        return Err(SctpReason::ChunkTag);
                    }
                    conn.flags &= !HB_VTAG_FAILED;
                    conn.vtag[d] = vtag;
                    conn.vtag[o] = 0;
                } else {
                    conn.flags &= !HB_VTAG_FAILED;
                }
            }
            _ => {}
        }

        let old = conn.state;
        let Some(new) = next_state(dir, old, c.ty) else {
            return Err(SctpReason::InvalidTransition { chunk: c.ty, dir: d as u8, state: old });
        };

        match c.ty {
            chunk::INIT => {
                let Some(tag) = c.init_tag() else { return Err(SctpReason::TruncatedInit) };
                // A retransmitted or stale INIT (the tag already known for
                // the peer) does not count as a new INIT of this side.
                if old == SctpState::None || conn.vtag[o] != tag {
                    if conn.init_sent(dir) && conn.init_sent(dir.opposite()) {
                        conn.set_init(dir.opposite(), false);
                    }
                    conn.set_init(dir, true);
                }
                conn.vtag[o] = tag;
                // An INIT in CLOSED does not keep a closed entry alive.
                if old == SctpState::Closed && new == SctpState::Closed && !ctx.is_new {
                    ignore = true;
                }
            }
            chunk::INIT_ACK => {
                let Some(tag) = c.init_tag() else { return Err(SctpReason::TruncatedInit) };
                let known = conn.vtag[o];
                // The answer to an INIT must announce the tag that INIT
                // announced; in an INIT collision, too.
                let collision = conn.init_sent(dir) && conn.init_sent(dir.opposite());
                if (!conn.init_sent(dir.opposite()) && known != 0 && known != tag)
                    || (collision && known != tag)
                {
                    return Err(SctpReason::ChunkTag);
                }
                conn.vtag[o] = tag;
            }
            _ => {}
        }

        conn.state = new;
        if old != new && new == SctpState::Established && !ctx.assured {
            *assure = true;
        }
    }

    Ok(ignore)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Tick;
    use crate::tuple::Family;
    use std::vec::Vec;

    const C: u32 = 0x1111_1111;
    const S: u32 = 0x2222_2222;

    fn chunk(ty: u8, flags: u8, body: &[u8]) -> Vec<u8> {
        let mut c = Vec::from([ty, flags]);
        c.extend_from_slice(&u16::try_from(4 + body.len()).unwrap().to_be_bytes());
        c.extend_from_slice(body);
        while c.len() % 4 != 0 {
            c.push(0);
        }
        c
    }

    fn init_chunk(ty: u8, tag: u32) -> Vec<u8> {
        let mut body = Vec::from(tag.to_be_bytes());
        body.extend_from_slice(&[0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);
        chunk(ty, 0, &body)
    }

    fn bytes(vtag: u32, chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut p = Vec::from([0x13, 0x88, 0x17, 0x70]);
        p.extend_from_slice(&vtag.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        for c in chunks {
            p.extend_from_slice(c);
        }
        let crc = crate::wire::sctp::crc32c(&p);
        p[8..12].copy_from_slice(&crc.to_le_bytes());
        p
    }

    struct Flow {
        conn: SctpConn,
        assured: bool,
        is_new: bool,
    }

    impl Flow {
        fn new() -> Flow {
            Flow { conn: SctpConn::default(), assured: false, is_new: true }
        }

        fn send(&mut self, dir: Direction, vtag: u32, chunks: &[Vec<u8>]) -> Outcome {
            let b = bytes(vtag, chunks);
            let pkt = match Packet::parse(&b, true) {
                Ok(p) => p,
                Err(reason) => return Outcome::Invalid { reason, timeout: None },
            };
            let ctx = PacketCtx {
                now: Tick::from_ticks(0),
                now_frac: 0,
                dir,
                is_new: self.is_new,
                seen_reply: false,
                assured: self.assured,
                deadline: Tick::from_ticks(0),
                family: Family::Ipv4,
                peer_seqadj: crate::nat::payload::SeqAdj::ZERO,
            };
            let out = track(&mut self.conn, &pkt, &ctx, &SctpTimeouts::DEFAULT);
            if let Outcome::Accept { assure, .. } = out {
                self.assured |= assure;
                self.is_new = false;
            }
            out
        }
    }

    use Direction::{Original as O, Reply as R};

    fn accept(secs: u32, assure: bool) -> Outcome {
        Outcome::Accept { timeout: Some(secs), assure }
    }

    fn handshake() -> Flow {
        let mut f = Flow::new();
        assert_eq!(f.send(O, 0, &[init_chunk(chunk::INIT, C)]), accept(10, false));
        assert_eq!(f.conn.state(), SctpState::Closed);
        assert_eq!(f.send(R, C, &[init_chunk(chunk::INIT_ACK, S)]), accept(3, false));
        assert_eq!(f.conn.state(), SctpState::CookieWait);
        assert_eq!(f.send(O, S, &[chunk(chunk::COOKIE_ECHO, 0, b"cookie")]), accept(3, false));
        assert_eq!(f.conn.state(), SctpState::CookieEchoed);
        assert_eq!(f.send(R, C, &[chunk(chunk::COOKIE_ACK, 0, b"")]), accept(210, true));
        assert_eq!(f.conn.state(), SctpState::Established);
        assert_eq!((f.conn.vtag(O), f.conn.vtag(R)), (S, C));
        f
    }

    fn rejected(o: Outcome) -> Option<SctpReason> {
        match o {
            Outcome::Invalid { reason: Reason::Sctp(r), timeout: None } => Some(r),
            _ => None,
        }
    }

    #[test]
    fn association_and_shutdown() {
        let mut f = handshake();
        assert_eq!(f.send(O, S, &[chunk(chunk::DATA, 3, b"data")]), accept(210, false));
        assert_eq!(f.send(O, S, &[chunk(chunk::SHUTDOWN, 0, &[0; 4])]), accept(3, false));
        assert_eq!(f.conn.state(), SctpState::ShutdownSent);
        assert_eq!(f.send(R, C, &[chunk(chunk::SHUTDOWN_ACK, 0, b"")]), accept(3, false));
        assert_eq!(f.conn.state(), SctpState::ShutdownAckSent);
        assert_eq!(f.send(O, S, &[chunk(chunk::SHUTDOWN_COMPLETE, 0, b"")]), accept(10, false));
        assert_eq!(f.conn.state(), SctpState::Closed);
        // A new INIT in CLOSED: accepted, the timeout not renewed.
        assert_eq!(
            f.send(O, 0, &[init_chunk(chunk::INIT, 0x3333)]),
            Outcome::Accept { timeout: None, assure: false }
        );
        assert_eq!(f.send(R, 0x3333, &[init_chunk(chunk::INIT_ACK, 0x4444)]), accept(3, false));
    }

    #[test]
    fn verification_tags() {
        let mut f = handshake();
        // Wrong tag, wrong direction's tag.
        assert_eq!(
            rejected(f.send(O, 0xdead, &[chunk(chunk::DATA, 3, b"x")])),
            Some(SctpReason::VerificationTag)
        );
        assert_eq!(
            rejected(f.send(R, S, &[chunk(chunk::SACK, 0, &[0; 12])])),
            Some(SctpReason::VerificationTag)
        );
        // ABORT: own tag without T, the peer's with T.
        assert_eq!(rejected(f.send(R, 0xdead, &[chunk(chunk::ABORT, 0, b"")])), Some(SctpReason::ChunkTag));
        assert_eq!(rejected(f.send(R, C, &[chunk(chunk::ABORT, FLAG_T, b"")])), Some(SctpReason::ChunkTag));
        assert_eq!(
            rejected(f.send(O, S, &[chunk(chunk::SHUTDOWN_COMPLETE, FLAG_T, b"")])),
            Some(SctpReason::ChunkTag)
        );
        // Another INIT ACK tag after the handshake.
        assert_eq!(
            rejected(f.send(R, C, &[init_chunk(chunk::INIT_ACK, 0x9999)])),
            Some(SctpReason::ChunkTag)
        );
        // INIT with a tag.
        assert_eq!(rejected(f.send(O, 5, &[init_chunk(chunk::INIT, C)])), Some(SctpReason::ChunkTag));
        assert_eq!(f.conn.state(), SctpState::Established);
        assert_eq!(f.send(R, S, &[chunk(chunk::ABORT, FLAG_T, b"")]), accept(10, false));
        assert_eq!(f.conn.state(), SctpState::Closed);
    }

    #[test]
    fn first_packets() {
        let first = |vtag, c: Vec<u8>| {
            let mut f = Flow::new();
            let out = f.send(O, vtag, &[c]);
            (out, f.conn.state())
        };
        for ty in [chunk::ABORT, chunk::SHUTDOWN_COMPLETE, chunk::COOKIE_ACK, chunk::DATA, chunk::SACK, 0xC1]
        {
            assert_eq!(rejected(first(0, chunk(ty, 0, b"")).0), Some(SctpReason::InvalidNew), "type {ty}");
        }
        assert_eq!(rejected(first(7, init_chunk(chunk::INIT, C)).0), Some(SctpReason::InvalidNew));
        assert_eq!(rejected(first(0, chunk(chunk::INIT, 0, &[0; 8])).0), Some(SctpReason::TruncatedInit));
        assert_eq!(first(0, chunk(chunk::SHUTDOWN, 0, &[0; 4])), (accept(10, false), SctpState::Closed));
        assert_eq!(
            rejected(first(7, chunk(chunk::SHUTDOWN, 0, &[0; 4])).0),
            Some(SctpReason::VerificationTag)
        );
        assert_eq!(
            first(0x77, chunk(chunk::SHUTDOWN_ACK, 0, b"")),
            (accept(3, false), SctpState::ShutdownAckSent)
        );
        assert_eq!(
            first(0xAA, chunk(chunk::HEARTBEAT, 0, b"")),
            (accept(30, false), SctpState::HeartbeatSent)
        );
        // A bundle whose second chunk cannot start an entry.
        let mut f = Flow::new();
        let out = f.send(O, 0, &[chunk(chunk::SHUTDOWN, 0, &[0; 4]), chunk(chunk::SACK, 0, &[0; 12])]);
        assert_eq!(rejected(out), Some(SctpReason::InvalidNew));
    }

    #[test]
    fn data_before_the_handshake_completes() {
        let mut f = Flow::new();
        f.send(O, 0, &[init_chunk(chunk::INIT, C)]);
        f.send(R, C, &[init_chunk(chunk::INIT_ACK, S)]);
        assert_eq!(f.send(O, S, &[chunk(chunk::DATA, 3, b"x")]), accept(3, false));
        assert_eq!(f.conn.state(), SctpState::CookieWait);
        assert_eq!(rejected(f.send(O, 9, &[chunk(chunk::COOKIE_ECHO, 0, b"c")])), Some(SctpReason::ChunkTag));
        // ERROR answering the COOKIE ECHO closes.
        f.send(O, S, &[chunk(chunk::COOKIE_ECHO, 0, b"c")]);
        assert_eq!(f.send(R, C, &[chunk(chunk::ERROR, 0, b"")]), accept(10, false));
    }

    #[test]
    fn heartbeat_on_a_new_path_and_tag_change() {
        let mut f = Flow::new();
        assert_eq!(f.send(O, 0xA, &[chunk(chunk::HEARTBEAT, 0, b"")]), accept(30, false));
        assert_eq!(f.send(R, 0xB, &[chunk(chunk::HEARTBEAT_ACK, 0, b"")]), accept(210, true));
        assert_eq!(f.conn.state(), SctpState::Established);
        // A heartbeat with another tag: through, not renewing.
        let hb = chunk(chunk::HEARTBEAT, 0, b"");
        assert_eq!(
            f.send(O, 0xC, core::slice::from_ref(&hb)),
            Outcome::Accept { timeout: None, assure: false }
        );
        assert_eq!(
            rejected(f.send(O, 0xC, &[hb.clone(), chunk(chunk::DATA, 3, b"x")])),
            Some(SctpReason::ChunkTag)
        );
        // Its answer takes the new tag and forgets the other direction's.
        assert_eq!(f.send(R, 0xD, &[chunk(chunk::HEARTBEAT_ACK, 0, b"")]), accept(210, false));
        assert_eq!((f.conn.vtag(O), f.conn.vtag(R)), (0, 0xD));
        assert_eq!(
            rejected(f.send(O, 0xC, &[chunk(chunk::DATA, 3, b"x")])),
            Some(SctpReason::VerificationTag)
        );
        assert_eq!(f.send(O, 0xC, &[hb]), accept(210, false));
        // An answer with another tag, no heartbeat having failed: INVALID.
        assert_eq!(
            rejected(f.send(R, 0xE, &[chunk(chunk::HEARTBEAT_ACK, 0, b"")])),
            Some(SctpReason::ChunkTag)
        );
        // Reply-direction heartbeats on a HEARTBEAT_SENT entry.
        let mut g = Flow::new();
        g.send(O, 0xA, &[chunk(chunk::HEARTBEAT, 0, b"")]);
        assert_eq!(g.send(R, 0xB, &[chunk(chunk::HEARTBEAT, 0, b"")]), accept(30, false));
        assert_eq!(g.send(O, 0xA, &[chunk(chunk::HEARTBEAT_ACK, 0, b"")]), accept(30, false));
        assert_eq!(g.send(R, 0xB, &[chunk(chunk::DATA, 0, b"x")]), accept(30, false));
        assert_eq!(
            rejected(g.send(R, 0xB, &[chunk(chunk::SHUTDOWN, 0, &[0; 4])])),
            Some(SctpReason::InvalidTransition {
                chunk: chunk::SHUTDOWN,
                dir: 1,
                state: SctpState::HeartbeatSent
            })
        );
    }

    #[test]
    fn init_collision() {
        let mut f = Flow::new();
        f.send(O, 0, &[init_chunk(chunk::INIT, C)]);
        // The peer's own INIT in CLOSED: accepted without renewing.
        assert_eq!(
            f.send(R, 0, &[init_chunk(chunk::INIT, S)]),
            Outcome::Accept { timeout: None, assure: false }
        );
        assert_eq!(f.send(O, S, &[init_chunk(chunk::INIT_ACK, C)]), accept(10, false));
        // An INIT ACK with another tag than both INITs announced.
        assert_eq!(rejected(f.send(R, C, &[init_chunk(chunk::INIT_ACK, 0x5)])), Some(SctpReason::ChunkTag));
        assert_eq!(f.send(R, C, &[init_chunk(chunk::INIT_ACK, S)]), accept(3, false));
        assert_eq!(f.conn.state(), SctpState::CookieWait);
    }

    #[test]
    fn a_rejected_bundle_keeps_its_earlier_chunks() {
        let mut f = Flow::new();
        f.send(O, 0, &[init_chunk(chunk::INIT, C)]);
        f.send(R, C, &[init_chunk(chunk::INIT_ACK, S)]);
        f.send(O, S, &[chunk(chunk::COOKIE_ECHO, 0, b"c")]);
        // COOKIE ACK, then an ABORT with a wrong tag: INVALID, yet ESTABLISHED.
        let out = f.send(R, 0xBAD, &[chunk(chunk::COOKIE_ACK, 0, b""), chunk(chunk::ABORT, 0, b"")]);
        assert_eq!(rejected(out), Some(SctpReason::ChunkTag));
        assert_eq!(f.conn.state(), SctpState::Established);
        // The next accepted packet brings the ASSURED the kernel set at once.
        assert_eq!(f.send(R, C, &[chunk(chunk::SACK, 0, &[0; 12])]), accept(210, true));
        assert_eq!(f.send(R, C, &[chunk(chunk::SACK, 0, &[0; 12])]), accept(210, false));
    }

    #[test]
    fn transition_table_spot_checks() {
        use SctpState::*;
        assert_eq!(next_state(O, None, chunk::INIT), Some(Closed));
        assert_eq!(next_state(R, Closed, chunk::INIT_ACK), Some(CookieWait));
        assert_eq!(next_state(O, Closed, chunk::INIT_ACK), Some(Closed));
        assert_eq!(next_state(O, HeartbeatSent, chunk::INIT), Some(CookieWait));
        assert_eq!(next_state(R, HeartbeatSent, chunk::HEARTBEAT_ACK), Some(Established));
        assert_eq!(next_state(O, HeartbeatSent, chunk::HEARTBEAT_ACK), Some(HeartbeatSent));
        assert_eq!(next_state(R, None, chunk::HEARTBEAT), Option::None);
        assert_eq!(next_state(R, CookieEchoed, chunk::ERROR), Some(Closed));
        assert_eq!(next_state(O, CookieEchoed, chunk::ERROR), Some(CookieEchoed));
        assert_eq!(next_state(O, ShutdownSent, chunk::INIT), Some(Closed));
        assert_eq!(next_state(R, ShutdownSent, chunk::INIT), Some(ShutdownSent));
        // DATA and unknown chunks keep the state, in every state.
        for s in [None, Closed, CookieWait, Established, HeartbeatSent] {
            assert_eq!(next_state(R, s, chunk::DATA), Some(s));
            assert_eq!(next_state(O, s, 0xFF), Some(s));
        }
        // ABORT closes from every state but NONE/HEARTBEAT_SENT in reply.
        for s in [Closed, CookieWait, CookieEchoed, Established, ShutdownSent, ShutdownRecd, ShutdownAckSent]
        {
            assert_eq!(next_state(R, s, chunk::ABORT), Some(Closed));
            assert_eq!(next_state(O, s, chunk::ABORT), Some(Closed));
        }
    }

    #[test]
    fn timeouts_follow_the_state() {
        let t = SctpTimeouts::DEFAULT;
        assert_eq!(timeout(&t, SctpState::None), 10);
        assert_eq!(timeout(&t, SctpState::Established), 210);
        assert_eq!(timeout(&t, SctpState::HeartbeatSent), 30);
        assert_eq!(timeout(&t, SctpState::ShutdownAckSent), 3);
    }

    #[test]
    fn conn_is_small() {
        assert!(core::mem::size_of::<SctpConn>() <= 12);
    }
}
