//! UDP and UDP-Lite (`nf_conntrack_proto_udp.c`): the
//! unreplied / replied / stream timeouts. GRE shares the stream logic
//! ([`super::gre`]).

use super::{Outcome, PacketCtx};
use crate::reason::Reason;
use crate::time::{FineTick, Tick};
use crate::wire::ip::IpView;
use crate::wire::udp;

/// The stream grace period: replied flows younger than this keep the short
/// timeout and are not assured
/// (`nf_conntrack_proto_udp.c: nf_conntrack_udp_packet()`, kernels ≥ 5.16).
pub(crate) const STREAM_GRACE_SECS: u32 = 2;

/// The header checks of a UDP datagram; its payload.
#[inline]
pub(crate) fn inspect_udp<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<&'a [u8], Reason> {
    udp::check_udp(ip, verify_checksum)
}

/// The header checks of a UDP-Lite datagram; its payload.
pub(crate) fn inspect_udplite<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<&'a [u8], Reason> {
    udp::check_udplite(ip, verify_checksum)
}

/// Which variant of the stream logic applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// UDP, kernels ≥ 5.16 (`nf_conntrack_udp_packet()`): stream timeout and
    /// ASSURED only after the grace.
    Udp,
    /// UDP-Lite and GRE: the first packet after a reply streams
    /// (`nf_conntrack_proto_udp.c: nf_conntrack_udplite_packet()`,
    /// `nf_conntrack_proto_gre.c: nf_conntrack_gre_packet()`).
    Immediate,
}

/// An accepted packet of a stream protocol: the timeout it sets and
/// whether it assures the entry
/// (`nf_conntrack_proto_udp.c: nf_conntrack_udp_packet()`). `stream_after`
/// is when the grace ends.
pub(crate) fn track(
    kind: StreamKind,
    stream_after: FineTick,
    ctx: &PacketCtx,
    unreplied_secs: u32,
    stream_secs: u32,
) -> Outcome {
    let (secs, assure) = stream_step(
        kind,
        &stream_after,
        ctx.now,
        || ctx.now_frac,
        ctx.seen_reply,
        ctx.assured,
        unreplied_secs,
        stream_secs,
    );
    Outcome::Accept { timeout: Some(secs), assure }
}

/// A UDP datagram's step (`nf_conntrack_udp_packet()`): [`stream_step`]
/// with UDP's kind and timeouts. The general tracker step and the table's
/// UDP lane both call it.
#[inline(always)]
pub(crate) fn udp_step(
    stream_after: &FineTick,
    now: Tick,
    now_frac: impl FnOnce() -> u16,
    seen_reply: bool,
    assured: bool,
    t: &crate::config::Timeouts,
) -> (u32, bool) {
    stream_step(StreamKind::Udp, stream_after, now, now_frac, seen_reply, assured, t.udp, t.udp_stream)
}

/// [`track`]'s rule, from the entry's status bits: the timeout in seconds
/// and whether the packet assures the entry. (The table's UDP lane calls
/// it without building a [`PacketCtx`].) Where in its tick `now` lies is
/// asked only when it is the tick the grace ends in.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_step(
    kind: StreamKind,
    stream_after: &FineTick,
    now: Tick,
    now_frac: impl FnOnce() -> u16,
    seen_reply: bool,
    assured: bool,
    unreplied_secs: u32,
    stream_secs: u32,
) -> (u32, bool) {
    if !seen_reply {
        return (unreplied_secs, false);
    }
    match kind {
        StreamKind::Udp if stream_after.is_before(now, now_frac) => (stream_secs, !assured),
        StreamKind::Udp => (unreplied_secs, false),
        StreamKind::Immediate => (stream_secs, !assured),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;
    use crate::tuple::{Direction, Family};

    fn at(now: FineTick, seen_reply: bool) -> PacketCtx {
        PacketCtx {
            now: now.tick,
            now_frac: now.frac,
            dir: Direction::Original,
            is_new: false,
            seen_reply,
            assured: false,
            deadline: now.tick,
            family: Family::Ipv4,
            peer_seqadj: crate::nat::payload::SeqAdj::ZERO,
        }
    }

    fn accept(secs: u32, assure: bool) -> Outcome {
        Outcome::Accept { timeout: Some(secs), assure }
    }

    fn ms(millis: u64) -> FineTick {
        Instant::from_millis(millis).fine_tick()
    }

    #[test]
    fn dns_example_2_9() {
        let created = ms(0);
        let grace = created.after_secs(STREAM_GRACE_SECS);
        let udp = |now, seen_reply| track(StreamKind::Udp, grace, &at(now, seen_reply), 30, 120);
        // Query, second query before the reply: unreplied.
        assert_eq!(udp(created, false), accept(30, false));
        // Answer within 2 s: still 30 s, not assured.
        assert_eq!(udp(ms(1000), true), accept(30, false));
        // A packet 5 s after creation: stream, assured.
        assert_eq!(udp(created.after_secs(5), true), accept(120, true));
        // Exactly at the grace end: not after it yet.
        assert_eq!(udp(grace, true), accept(30, false));
        // GRE / UDP-Lite stream at once.
        assert_eq!(track(StreamKind::Immediate, grace, &at(ms(62), true), 30, 180), accept(180, true));
    }

    /// The grace ends two seconds after the first packet to the
    /// millisecond, not at a tick's edge (Linux compares jiffies): a packet
    /// 2.001 s after a first one at 1.010 s streams, though its tick
    /// (3.011 s is in the tick of 3.0 s to 3.0625 s) is the grace's own.
    #[test]
    fn the_grace_ends_to_the_millisecond() {
        let grace = ms(1010).after_secs(STREAM_GRACE_SECS);
        let udp = |now| track(StreamKind::Udp, grace, &at(now, true), 30, 120);
        assert_eq!(ms(3011).tick, grace.tick);
        assert_eq!(udp(ms(3010)), accept(30, false));
        assert_eq!(udp(ms(3011)), accept(120, true));
        assert_eq!(udp(ms(3009)), accept(30, false));
        // A tick later, whatever the fraction.
        assert_eq!(udp(ms(3063)), accept(120, true));
        // A grace ending on a tick's first millisecond.
        let grace = ms(1000).after_secs(STREAM_GRACE_SECS);
        let udp = |now| track(StreamKind::Udp, grace, &at(now, true), 30, 120);
        assert_eq!((grace.frac, ms(3001).tick), (0, grace.tick));
        assert_eq!(udp(ms(3000)), accept(30, false));
        assert_eq!(udp(ms(3001)), accept(120, true));
    }
}
