//! Protocol trackers: what each layer-4 protocol checks and how it moves an
//! entry's state and timeout (the trackers in
//! `net/netfilter/nf_conntrack_proto_*.c`).
//!
//! Every tracker speaks the same contract, as Linux's do through
//! `nf_conntrack_core.c: nf_conntrack_handle_packet()`:
//!
//! * [`inspect`] reads the layer-4 header of a packet (the trackers'
//!   `error()` checks: length, checksum) and says what the packet is to
//!   conntrack ([`Inspected`]);
//! * [`ProtoState::new`] gives a new entry its per-protocol state;
//! * [`handle_packet`] runs the packet through its entry's tracker and
//!   returns one [`Outcome`], which the table applies.
//!
//! One file per tracker: [`tcp`], [`udp`] (UDP and UDP-Lite), [`sctp`],
//! [`gre`], [`icmp`] (ICMP and ICMPv6), [`generic`] (any other protocol).

pub(crate) mod generic;
pub(crate) mod gre;
pub(crate) mod icmp;
pub(crate) mod sctp;
pub(crate) mod tcp;
pub(crate) mod udp;

use crate::config::Config;
use crate::reason::Reason;
use crate::time::{FineTick, Tick};
use crate::tuple::{Direction, Family, Tuple, proto};
use crate::wire::ip::IpView;
use crate::wire::sctp::Packet as SctpPacket;
use crate::wire::tcp::Segment;

/// Per-entry protocol state; the entry's protocol number says which
/// variant it holds.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum ProtoState {
    /// ICMP, ICMPv6, generic protocols: nothing beyond the timeout.
    Stateless,
    /// UDP, UDP-Lite and GRE: when the "stream" timeout may start
    /// (`nf_conntrack_proto_udp.c: nf_conntrack_udp_packet()`), to the
    /// millisecond.
    Stream { stream_after: FineTick },
    /// TCP.
    Tcp(tcp::TcpConn),
    /// SCTP.
    Sctp(sctp::SctpConn),
}

impl ProtoState {
    /// What an unused, all-zero slot holds (the TCP state's zero, which is
    /// why TCP is the variant whose spare values tag the others).
    pub(crate) const ZERO: ProtoState = ProtoState::Tcp(tcp::TcpConn::ZERO);

    /// The state of a new entry whose first packet is `l4`.
    // Inline on 64-bit hosts (a new UDP flow 7 x86 instructions fewer,
    // measured); left to the compiler on microcontrollers, for flash.
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub(crate) fn new(l4: &L4Packet<'_>, now: FineTick) -> ProtoState {
        match l4 {
            L4Packet::Tcp(_) => ProtoState::Tcp(tcp::TcpConn::default()),
            L4Packet::Sctp(_) => ProtoState::Sctp(sctp::SctpConn::default()),
            L4Packet::Udp(_) | L4Packet::UdpLite(_) | L4Packet::Gre => {
                ProtoState::Stream { stream_after: now.after_secs(udp::STREAM_GRACE_SECS) }
            }
            L4Packet::Icmp | L4Packet::Generic => ProtoState::Stateless,
        }
    }

    /// Whether an insert clash of two entries of this state is resolved by
    /// merging them (`nf_conntrack_core.c: __nf_ct_resolve_clash()`: only
    /// protocols that allow it, UDP, UDP-Lite and GRE).
    pub(crate) fn merges_on_clash(&self) -> bool {
        matches!(self, ProtoState::Stream { .. })
    }

    /// Whether the garbage collector's eviction under table pressure may
    /// evict the entry even when it is ASSURED (`nf_conntrack_core.c:
    /// gc_worker_can_early_drop()` with the trackers' `can_early_drop()`:
    /// `nf_conntrack_proto_tcp.c: tcp_can_early_drop()`'s closing states,
    /// `nf_conntrack_proto_sctp.c: sctp_can_early_drop()`'s).
    pub(crate) fn can_early_drop(&self) -> bool {
        match self {
            ProtoState::Tcp(c) => c.state().is_closing(),
            ProtoState::Sctp(c) => c.state().is_closing(),
            _ => false,
        }
    }
}

/// The layer-4 facts of a packet that its tracker and its helper need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L4Packet<'a> {
    Tcp(Segment<'a>),
    Sctp(SctpPacket<'a>),
    Udp(&'a [u8]),
    UdpLite(&'a [u8]),
    Icmp,
    Gre,
    Generic,
}

impl<'a> L4Packet<'a> {
    /// Application payload, for helpers.
    pub(crate) fn payload(&self) -> &'a [u8] {
        match self {
            L4Packet::Tcp(seg) => seg.payload,
            L4Packet::Udp(p) | L4Packet::UdpLite(p) => p,
            _ => &[],
        }
    }

    /// The TCP sequence number, for TCP segments.
    pub(crate) fn tcp_seq(&self) -> Option<u32> {
        match self {
            L4Packet::Tcp(seg) => Some(seg.seq.0),
            _ => None,
        }
    }
}

/// What a packet is to conntrack, once its layer-4 header is read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inspected<'a> {
    /// Look its tuple up and run its tracker.
    Track(Tuple, L4Packet<'a>),
    /// An ICMP error quoting the packet in the slice
    /// (`nf_conntrack_proto_icmp.c: nf_conntrack_inet_error()`).
    IcmpError(&'a [u8]),
    /// Never tracked (ICMPv6 neighbour discovery, MLD, router messages).
    Untracked,
    /// INVALID; `counted_as_error` for what the ICMP handler rejects
    /// (the `error` counter rather than `invalid`, as
    /// `nf_conntrack_core.c: nf_conntrack_handle_icmp()` counts it).
    Invalid { reason: Reason, counted_as_error: bool },
}

/// Read the layer-4 header of `ip`: the per-protocol `error()` checks of
/// `nf_conntrack_core.c: nf_conntrack_in()`, then the tuple.
#[inline]
pub(crate) fn inspect<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Inspected<'a> {
    let invalid = |reason| Inspected::Invalid { reason, counted_as_error: false };
    match ip.proto {
        proto::TCP => match tcp::inspect(ip, verify_checksum) {
            Ok(seg) => Inspected::Track(Tuple::of_checked_packet(ip), L4Packet::Tcp(seg)),
            Err(r) => invalid(r),
        },
        proto::UDP => match udp::inspect_udp(ip, verify_checksum) {
            Ok(payload) => Inspected::Track(Tuple::of_checked_packet(ip), L4Packet::Udp(payload)),
            Err(r) => invalid(r),
        },
        proto::UDPLITE => match udp::inspect_udplite(ip, verify_checksum) {
            Ok(payload) => Inspected::Track(Tuple::of_checked_packet(ip), L4Packet::UdpLite(payload)),
            Err(r) => invalid(r),
        },
        proto::SCTP => match sctp::inspect(ip, verify_checksum) {
            Ok(pkt) => Inspected::Track(Tuple::of_checked_packet(ip), L4Packet::Sctp(pkt)),
            Err(r) => invalid(r),
        },
        proto::ICMP | proto::ICMPV6 => icmp::inspect(ip, verify_checksum),
        proto::GRE => match Tuple::of_packet(ip) {
            Ok(t) => Inspected::Track(t, L4Packet::Gre),
            Err(r) => invalid(r),
        },
        _ => Inspected::Track(Tuple::of_checked_packet(ip), L4Packet::Generic),
    }
}

/// What the table knows about an entry when one of its packets arrives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketCtx {
    pub now: Tick,
    /// Where in the tick `now` lies ([`FineTick`]): for UDP's stream rule.
    pub now_frac: u16,
    /// Direction of this packet relative to the entry.
    pub dir: Direction,
    /// The entry was created for this very packet (not yet confirmed).
    pub is_new: bool,
    /// SEEN_REPLY before this packet.
    pub seen_reply: bool,
    /// ASSURED before this packet.
    pub assured: bool,
    /// The entry's deadline before this packet.
    pub deadline: Tick,
    pub family: Family,
    /// The sequence adjustment of the other direction, whose sequence
    /// space this packet's acknowledgement refers to (all zero unless NAT
    /// resized payloads: status SEQ_ADJUST).
    pub peer_seqadj: crate::nat::payload::SeqAdj,
}

impl PacketCtx {
    /// `now` to the millisecond.
    pub fn fine_now(&self) -> FineTick {
        FineTick { tick: self.now, frac: self.now_frac }
    }

    /// Whole seconds of lifetime the entry has left (computed when a
    /// tracker asks: only TCP's retransmission rule does).
    pub fn remaining(&self) -> u32 {
        self.deadline.secs_left(self.now)
    }
}

/// What a tracker decided about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Accepted. `timeout`: the entry's new lifetime in seconds from now
    /// (`None` keeps the deadline); `assure`: set ASSURED now.
    Accept { timeout: Option<u32>, assure: bool },
    /// Accepted, and the entry ends after this packet (a TCP RST that is
    /// the only answer to a SYN:
    /// `nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()` kills the entry).
    Close,
    /// Accepted without learning from it: no state or timeout change
    /// (TCP's "ignored" packets: the `TCP_CONNTRACK_IGNORE` case of
    /// `nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()` and the
    /// `NFCT_TCP_IGNORE` result of `tcp_in_window()`).
    Ignore(Reason),
    /// INVALID. `timeout`: a cut of the entry's lifetime, if any (TCP's
    /// `nf_conntrack_proto_tcp.c: nf_tcp_handle_invalid()`). A new entry is
    /// discarded.
    Invalid { reason: Reason, timeout: Option<u32> },
    /// The packet reopens a closed connection (the `TCP_CONNTRACK_SYN_SENT`
    /// case of `nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()`): the
    /// table deletes the entry and tracks the packet again as a new
    /// connection.
    Reopen,
}

/// Run `l4` through the tracker of the entry whose state is `state`: the
/// one dispatch of every tracked packet.
// Inline at its caller: called, its frame cost a TCP ACK 31 x86
// instructions (a new UDP flow gained 3).
#[inline(always)]
pub(crate) fn handle_packet(
    state: &mut ProtoState,
    l4: &L4Packet<'_>,
    ctx: &PacketCtx,
    cfg: &Config,
) -> Outcome {
    let t = &cfg.timeouts;
    match (l4, state) {
        (L4Packet::Tcp(seg), ProtoState::Tcp(conn)) => tcp::track(conn, seg, ctx, &cfg.tcp),
        (L4Packet::Sctp(pkt), ProtoState::Sctp(conn)) => sctp::track(conn, pkt, ctx, &cfg.sctp),
        (L4Packet::Udp(_), ProtoState::Stream { stream_after }) => {
            let (secs, assure) =
                udp::udp_step(stream_after, ctx.now, || ctx.now_frac, ctx.seen_reply, ctx.assured, t);
            Outcome::Accept { timeout: Some(secs), assure }
        }
        (L4Packet::UdpLite(_), ProtoState::Stream { stream_after }) => {
            udp::track(udp::StreamKind::Immediate, *stream_after, ctx, t.udp, t.udp_stream)
        }
        (L4Packet::Gre, ProtoState::Stream { stream_after }) => gre::track(*stream_after, ctx, t),
        (L4Packet::Icmp, ProtoState::Stateless) => icmp::track(ctx, t),
        (L4Packet::Generic, ProtoState::Stateless) => generic::track(t),
        // An entry's state was made from a packet of its own protocol (the
        // protocol is part of its tuple), so the kinds always agree; should
        // they not, the entry starts over from this packet.
        (_, state) => {
            *state = ProtoState::new(l4, ctx.fine_now());
            handle_packet(state, l4, ctx, cfg)
        }
    }
}
