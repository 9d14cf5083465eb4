//! UDP, UDP-Lite (semantics §4) and GRE version 0 (§6.2): validity checks and
//! the unreplied / replied / stream timeouts.

use crate::packet::IpView;
use crate::time::Tick;
use crate::verdict::Reason;

/// The stream grace period: replied flows younger than this keep the short
/// timeout and are not assured (§4.2, kernels ≥ 5.16).
pub(crate) const STREAM_GRACE_SECS: u32 = 2;

/// §4.1 UDP checks: header present, length field sane, checksum (if any).
pub(crate) fn check_udp(ip: &IpView<'_>, verify_checksum: bool) -> Result<(), Reason> {
    let hdr = ip.l4.get(..8).ok_or(Reason::ShortPacket)?;
    let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    // A length below what is present is trailing padding and accepted.
    if len < 8 || len > ip.l4.len() {
        return Err(Reason::BadUdpLength);
    }
    let csum = u16::from_be_bytes([hdr[6], hdr[7]]);
    // Zero = no checksum; accepted on IPv6 too (conntrack does not enforce RFC 8200).
    if verify_checksum && csum != 0 && !ip.l4_checksum_ok(ip.l4.len()) {
        return Err(Reason::BadChecksum);
    }
    Ok(())
}

/// The payload of a UDP datagram that passed [`check_udp`]: up to the
/// length field (trailing padding excluded).
pub(crate) fn payload<'a>(ip: &IpView<'a>) -> &'a [u8] {
    let len = ip.l4.get(4..6).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    ip.l4.get(8..len).unwrap_or(&[])
}

/// §4.1 UDP-Lite checks: coverage, mandatory checksum.
pub(crate) fn check_udplite(ip: &IpView<'_>, verify_checksum: bool) -> Result<(), Reason> {
    let hdr = ip.l4.get(..8).ok_or(Reason::ShortPacket)?;
    let coverage = match usize::from(u16::from_be_bytes([hdr[4], hdr[5]])) {
        0 => ip.l4.len(),
        c if c < 8 || c > ip.l4.len() => return Err(Reason::BadUdpliteCoverage),
        c => c,
    };
    if u16::from_be_bytes([hdr[6], hdr[7]]) == 0 {
        return Err(Reason::UdpliteNoChecksum);
    }
    if verify_checksum && !ip.l4_checksum_ok(coverage) {
        return Err(Reason::BadChecksum);
    }
    Ok(())
}

/// Which variant of the stream logic applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// UDP, kernels ≥ 5.16: stream timeout and ASSURED only after the grace.
    Udp,
    /// UDP-Lite and GRE: the first packet after a reply streams (§4.2, §6.2).
    Immediate,
}

/// The timeout (seconds) an accepted packet sets, and whether it assures
/// the entry (§4.2). `stream_after` is when the grace ends.
pub(crate) fn on_packet(
    kind: StreamKind,
    now: Tick,
    stream_after: Tick,
    seen_reply: bool,
    assured: bool,
    unreplied_secs: u32,
    stream_secs: u32,
) -> (u32, bool) {
    if !seen_reply {
        return (unreplied_secs, false);
    }
    match kind {
        StreamKind::Udp if now.is_after(stream_after) => (stream_secs, !assured),
        StreamKind::Udp => (unreplied_secs, false),
        StreamKind::Immediate => (stream_secs, !assured),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_example_2_9() {
        let created = Tick(0);
        let grace = created.after_secs(STREAM_GRACE_SECS);
        // Query, second query before the reply: unreplied.
        assert_eq!(on_packet(StreamKind::Udp, created, grace, false, false, 30, 120), (30, false));
        // Answer within 2 s: still 30 s, not assured.
        assert_eq!(on_packet(StreamKind::Udp, Tick(16), grace, true, false, 30, 120), (30, false));
        // A packet 5 s after creation: stream, assured.
        assert_eq!(
            on_packet(StreamKind::Udp, created.after_secs(5), grace, true, false, 30, 120),
            (120, true)
        );
        // Exactly at the grace end: not after it yet.
        assert_eq!(on_packet(StreamKind::Udp, grace, grace, true, false, 30, 120), (30, false));
        // GRE / UDP-Lite stream at once.
        assert_eq!(on_packet(StreamKind::Immediate, Tick(1), grace, true, false, 30, 180), (180, true));
    }
}
