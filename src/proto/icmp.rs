//! ICMP and ICMPv6 (semantics §5): which messages are queries, which are
//! errors about another connection, which are never tracked.

use crate::packet::{IpView, Mode, parse_ip};
use crate::tuple::{self, Family, Tuple};
use crate::verdict::Reason;

/// What an ICMP/ICMPv6 message is to conntrack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// Query or reply (or an unknown informational type): look up its own
    /// tuple like any packet (§5.2, §5.3).
    Query(Tuple),
    /// An error quoting the packet in `quote` (§5.4).
    Error { quote: &'a [u8] },
    /// ICMPv6 neighbour discovery, MLD, router messages: UNTRACKED.
    Untracked,
}

/// Classify an ICMP or ICMPv6 packet. Errors returned here count as
/// `error` in the statistics (§7.4).
pub(crate) fn inspect<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<Message<'a>, Reason> {
    let hdr = ip.l4.get(..8).ok_or(Reason::ShortPacket)?;
    if verify_checksum && !ip.l4_checksum_ok(ip.l4.len()) {
        return Err(Reason::BadChecksum);
    }
    let (ty, code) = (hdr[0], hdr[1]);
    let query = || ip.tuple_unchecked();
    let rest = &ip.l4[8..];
    match ip.family {
        Family::Ipv4 => match ty {
            19.. => Err(Reason::BadIcmpType),
            3 | 4 | 5 | 11 | 12 => Ok(Message::Error { quote: rest }),
            _ => Ok(Message::Query(query())),
        },
        Family::Ipv6 => match ty {
            0..=127 => Ok(Message::Error { quote: rest }),
            130..=136 | 143 | 151 | 152 => Ok(Message::Untracked),
            137 if code == 0 => redirect_quote(ip).map(|q| match q {
                Some(quote) => Message::Error { quote },
                None => Message::Query(query()),
            }),
            _ => Ok(Message::Query(query())),
        },
    }
}

/// ICMPv6 redirect (§5.3): hop limit 255, link-local source, and an options
/// area whose first option is non-empty. Returns the quoted packet of a
/// Redirected Header option, or `None` when the first option is another
/// kind (then the message is looked up as itself and found invalid).
fn redirect_quote<'a>(ip: &IpView<'a>) -> Result<Option<&'a [u8]>, Reason> {
    let link_local = ip.src[0] == 0xfe && ip.src[1] & 0xc0 == 0x80;
    if ip.hop_limit != 255 || !link_local {
        return Err(Reason::BadRedirect);
    }
    // type, code, checksum, reserved (8) + target (16) + destination (16).
    let opts = ip.l4.get(40..).ok_or(Reason::BadRedirect)?;
    let (&kind, &len) = match opts {
        [k, l, ..] => (k, l),
        _ => return Err(Reason::BadRedirect),
    };
    if len == 0 {
        return Err(Reason::BadRedirect);
    }
    // Redirected Header: type 4, then 6 reserved bytes, then the packet.
    Ok((kind == 4).then(|| opts.get(8..).unwrap_or(&[])))
}

/// The tuple of the packet quoted in an ICMP error, inverted: the tuple a
/// packet of that connection would have travelling the way the error
/// travels (§5.4).
pub(crate) fn quoted_tuple(quote: &[u8], outer: Family) -> Result<Tuple, Reason> {
    let inner = parse_ip(quote, Mode::Quoted).map_err(|_| Reason::BadIcmpErrorQuote)?;
    if inner.family != outer {
        return Err(Reason::BadIcmpErrorQuote);
    }
    let t = inner.tuple().map_err(|_| Reason::BadIcmpErrorQuote)?;
    // An error about an error (or any non-invertible ICMP) relates to nothing.
    t.invert().ok_or(Reason::BadIcmpErrorQuote)
}

/// True if an ICMP tuple may create an entry (§5.1).
pub(crate) fn may_create(t: &Tuple) -> bool {
    tuple::is_icmp_request(t.family(), t.icmp_type())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::ipv4;
    use std::string::ToString;

    fn icmp(ty: u8, code: u8, rest: &[u8]) -> std::vec::Vec<u8> {
        let mut v = std::vec![ty, code, 0, 0, 0x12, 0x67, 0, 1];
        v.extend_from_slice(rest);
        let sum = !smoltcp::wire::checksum::data(&v);
        v[2..4].copy_from_slice(&sum.to_be_bytes());
        v
    }

    #[test]
    fn ipv4_types() {
        let p = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &icmp(8, 0, &[]));
        let v = parse_ip(&p, Mode::Outer).unwrap();
        match inspect(&v, true).unwrap() {
            Message::Query(t) => assert_eq!(t.l4(), tuple::L4::Icmp { ty: 8, code: 0, id: 4711 }),
            m => panic!("{m:?}"),
        }
        let p = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &icmp(40, 0, &[]));
        assert_eq!(inspect(&parse_ip(&p, Mode::Outer).unwrap(), true), Err(Reason::BadIcmpType));
        let mut bad = icmp(8, 0, &[]);
        bad[7] ^= 1;
        let p = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &bad);
        let v = parse_ip(&p, Mode::Outer).unwrap();
        assert_eq!(inspect(&v, true), Err(Reason::BadChecksum));
        assert!(inspect(&v, false).is_ok());
    }

    #[test]
    fn quoted_udp_inverts() {
        let udp = [0x9c, 0x40, 0, 53, 0, 8, 0, 0];
        let inner = ipv4([192, 0, 2, 10], [198, 51, 100, 53], 17, &udp);
        let t = quoted_tuple(&inner[..28], Family::Ipv4).unwrap();
        assert_eq!(t.l4(), tuple::L4::Ports { sport: 53, dport: 40000 });
        assert_eq!(t.dst().to_string(), "192.0.2.10");
        // Too short to hold the ports.
        assert_eq!(quoted_tuple(&inner[..22], Family::Ipv4), Err(Reason::BadIcmpErrorQuote));
        // An error quoting an error.
        let inner_err = ipv4([1, 1, 1, 1], [2, 2, 2, 2], 1, &icmp(3, 3, &[]));
        assert_eq!(quoted_tuple(&inner_err, Family::Ipv4), Err(Reason::BadIcmpErrorQuote));
    }
}
