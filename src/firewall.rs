//! What the device wrappers ([`device`](crate::device) for smoltcp,
//! [`embassy`](crate::embassy) for embassy-net) share: which way a frame
//! goes, the caller's [`Policy`], and tracking one frame through the table.

use crate::table::{ConnTable, Meta, Storage};
use crate::time::Instant;
use crate::verdict::Verdict;
use crate::wire::ethernet;

/// Which way a packet crosses the wrapped device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Path {
    /// Received from the network, going to the host's stack.
    Inbound,
    /// Sent by the host's stack to the network.
    Outbound,
}

/// Decides, from the classification, whether a packet passes.
pub trait Policy {
    /// `true` lets the packet through.
    fn allow(&mut self, path: Path, verdict: &Verdict) -> bool;
}

impl<F: FnMut(Path, &Verdict) -> bool> Policy for F {
    fn allow(&mut self, path: Path, verdict: &Verdict) -> bool {
        self(path, verdict)
    }
}

/// Frames examined per receive call before giving up for this poll.
const MAX_DROPS_PER_POLL: usize = 32;

/// The IP packet of a frame (the whole frame on an IP-medium device, what
/// follows the Ethernet header and any VLAN tags otherwise), or `None` for
/// a frame that carries no IP packet.
pub(crate) fn ip_packet(ip_medium: bool, frame: &[u8]) -> Option<&[u8]> {
    if ip_medium {
        return Some(frame);
    }
    match ethernet::payload(frame)? {
        (ethernet::ETHERTYPE_IPV4 | ethernet::ETHERTYPE_IPV6, packet) => Some(packet),
        _ => None,
    }
}

/// Track one frame and apply the policy; true if it passes. A frame with
/// no IP packet (ARP) passes untracked; a NEW packet the policy drops
/// leaves no entry.
pub(crate) fn filter<S: Storage, P: Policy>(
    table: &mut ConnTable<S>,
    policy: &mut P,
    ip_medium: bool,
    path: Path,
    now: Instant,
    frame: &[u8],
) -> bool {
    let Some(packet) = ip_packet(ip_medium, frame) else { return true };
    let mut v = table.classify(now, packet, Meta::default());
    if policy.allow(path, &v) && table.confirm(&mut v, packet).is_ok() {
        true
    } else {
        table.discard(&v);
        false
    }
}

/// Copy `frame` into `buf`; its length, or `None` if it does not fit.
pub(crate) fn stage(buf: &mut [u8], frame: &[u8]) -> Option<usize> {
    let dst = buf.get_mut(..frame.len())?;
    dst.copy_from_slice(frame);
    Some(frame.len())
}

/// The receive side of a wrapper: take frames with `next` (which copies
/// the next received frame into `buf` with [`stage`]: `None` when there is
/// none, `Some(None)` when it did not fit) until one passes the policy, at
/// most [`MAX_DROPS_PER_POLL`]; returns its length. Dropped frames count in
/// `dropped`.
pub(crate) fn receive<S: Storage, P: Policy>(
    table: &mut ConnTable<S>,
    policy: &mut P,
    ip_medium: bool,
    buf: &mut [u8],
    dropped: &mut u64,
    mut now: impl FnMut() -> Instant,
    mut next: impl FnMut(&mut [u8]) -> Option<Option<usize>>,
) -> Option<usize> {
    for _ in 0..MAX_DROPS_PER_POLL {
        match next(buf)? {
            Some(len) if filter(table, policy, ip_medium, Path::Inbound, now(), &buf[..len]) => {
                return Some(len);
            }
            _ => *dropped = dropped.wrapping_add(1),
        }
    }
    None
}

/// The transmit side of a wrapper: the stack writes a frame of `len`
/// bytes into `buf` with `write`; if it fits and the policy passes it,
/// `send` hands it to the wrapped device (which drops its token
/// otherwise), else it counts in `dropped`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn transmit<S: Storage, P: Policy, R>(
    table: &mut ConnTable<S>,
    policy: &mut P,
    ip_medium: bool,
    now: Instant,
    buf: &mut [u8],
    dropped: &mut u64,
    len: usize,
    write: impl FnOnce(&mut [u8]) -> R,
    send: impl FnOnce(&[u8]),
) -> R {
    let mut scratch = [0u8; 0];
    let (frame, fits) = match buf.get_mut(..len) {
        Some(b) => (b, true),
        None => (&mut scratch[..], false),
    };
    let r = write(frame);
    let frame = &*frame;
    if fits && filter(table, policy, ip_medium, Path::Outbound, now, frame) {
        send(frame);
    } else {
        *dropped = dropped.wrapping_add(1);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::ip_packet;

    #[test]
    fn ip_packet_of_frames() {
        let mut eth = [0u8; 40];
        eth[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(ip_packet(false, &eth).map(<[u8]>::len), Some(26));
        eth[12..14].copy_from_slice(&[0x81, 0x00]);
        eth[16..18].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(ip_packet(false, &eth).map(<[u8]>::len), Some(22));
        eth[16..18].copy_from_slice(&[0x08, 0x06]); // ARP behind a VLAN tag
        assert_eq!(ip_packet(false, &eth), None);
        assert_eq!(ip_packet(false, &eth[..13]), None);
        assert_eq!(ip_packet(true, &eth).map(<[u8]>::len), Some(40));
    }
}
