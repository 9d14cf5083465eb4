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
pub(crate) const MAX_DROPS_PER_POLL: usize = 32;

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
