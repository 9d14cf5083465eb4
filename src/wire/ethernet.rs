//! Ethernet II frames and their VLAN tags (IEEE 802.1Q, 802.1ad and the
//! pre-standard 0x9100 QinQ tag): where the IP packet of a frame starts.

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Tag protocol identifiers of the VLAN tags walked.
const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Destination and source MAC addresses.
const MACS_LEN: usize = 12;

/// Skip the VLAN tags that start a frame's payload. `ethertype` is the
/// frame's EtherType field and `rest` what follows it; returns the inner
/// EtherType and the bytes after it, or `None` if a tag is cut short.
/// Each tag is 4 bytes, so the walk ends within `rest.len() / 4` steps.
///
/// ```
/// use ctrack::wire::ethernet::{ETHERTYPE_IPV4, skip_vlan_tags};
/// // An 802.1Q tag (VLAN 7) in front of IPv4.
/// let rest = [0x00, 0x07, 0x08, 0x00, 0x45];
/// assert_eq!(skip_vlan_tags(0x8100, &rest), Some((ETHERTYPE_IPV4, &[0x45][..])));
/// assert_eq!(skip_vlan_tags(0x8100, &rest[..3]), None);
/// ```
pub fn skip_vlan_tags(mut ethertype: u16, mut rest: &[u8]) -> Option<(u16, &[u8])> {
    while VLAN_TPIDS.contains(&ethertype) {
        let tag = rest.get(..4)?;
        ethertype = u16::from_be_bytes([tag[2], tag[3]]);
        rest = &rest[4..];
    }
    Some((ethertype, rest))
}

/// The EtherType and payload of an Ethernet II frame, VLAN tags skipped;
/// `None` if the frame is too short for its headers.
///
/// ```
/// use ctrack::wire::ethernet::{ETHERTYPE_IPV6, payload};
/// let mut frame = [0u8; 15];
/// frame[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
/// frame[14] = 0x60;
/// assert_eq!(payload(&frame), Some((ETHERTYPE_IPV6, &[0x60][..])));
/// assert_eq!(payload(&frame[..13]), None);
/// ```
pub fn payload(frame: &[u8]) -> Option<(u16, &[u8])> {
    let field = frame.get(MACS_LEN..MACS_LEN + 2)?;
    skip_vlan_tags(u16::from_be_bytes([field[0], field[1]]), &frame[MACS_LEN + 2..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_tags() {
        // 802.1ad outer tag, 802.1Q inner tag, then IPv6.
        let rest = [0, 1, 0x81, 0x00, 0, 2, 0x86, 0xdd, 0x60, 0];
        assert_eq!(skip_vlan_tags(0x88a8, &rest), Some((ETHERTYPE_IPV6, &[0x60, 0][..])));
        // Not a tag: returned as it is.
        assert_eq!(skip_vlan_tags(0x0806, &rest), Some((0x0806, &rest[..])));
        // A tag cut short.
        assert_eq!(skip_vlan_tags(0x9100, &rest[..2]), None);
    }
}
