//! ICMP and ICMPv6 (`nf_conntrack_proto_icmp.c`, `nf_conntrack_proto_icmpv6.c`):
//! which messages are queries, which are errors about another connection,
//! which are never tracked, and the timeout of a query.

use super::{Inspected, L4Packet, Outcome, PacketCtx};
use crate::config::Timeouts;
use crate::reason::Reason;
use crate::tuple::{self, Family, Tuple};
use crate::wire::icmp;
use crate::wire::ip::{IpView, Mode, parse_ip};

/// Read an ICMP or ICMPv6 message the way
/// `nf_conntrack_proto_icmp.c: nf_conntrack_icmpv4_error()` and
/// `nf_conntrack_proto_icmpv6.c: nf_conntrack_icmpv6_error()` do: a query or
/// reply is tracked by its own tuple, an error is RELATED through the packet
/// it quotes (`nf_conntrack_inet_error()`), neighbour discovery and MLD are
/// never tracked. What fails here counts as `error` in the statistics
/// (`nf_conntrack_core.c: nf_conntrack_handle_icmp()`).
pub(crate) fn inspect<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Inspected<'a> {
    match message(ip, verify_checksum) {
        Ok(m) => m,
        Err(reason) => Inspected::Invalid { reason, counted_as_error: true },
    }
}

fn message<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<Inspected<'a>, Reason> {
    if !tuple::is_icmp_of(ip.family, ip.proto) {
        // ICMP in an IPv6 packet or ICMPv6 in an IPv4 one: the kernel has
        // no tracker for that pair and rejects it as its generic error.
        return Ok(Inspected::Invalid { reason: Reason::WrongIcmpFamily, counted_as_error: false });
    }
    let (ty, code, rest) = icmp::header(ip, verify_checksum)?;
    let query = || Inspected::Track(Tuple::of_checked_packet(ip), L4Packet::Icmp);
    match ip.family {
        Family::Ipv4 => match ty {
            19.. => Err(Reason::BadIcmpType),
            3 | 4 | 5 | 11 | 12 => Ok(Inspected::IcmpError(rest)),
            _ => Ok(query()),
        },
        Family::Ipv6 => match ty {
            0..=127 => Ok(Inspected::IcmpError(rest)),
            130..=136 | 143 | 151 | 152 => Ok(Inspected::Untracked),
            137 if code == 0 => icmp::redirect_quote(ip).map(|q| match q {
                Some(quote) => Inspected::IcmpError(quote),
                None => query(),
            }),
            _ => Ok(query()),
        },
    }
}

/// An accepted ICMP or ICMPv6 query or reply: one timeout, never assured.
pub(crate) fn track(ctx: &PacketCtx, t: &Timeouts) -> Outcome {
    let secs = match ctx.family {
        Family::Ipv4 => t.icmp,
        Family::Ipv6 => t.icmpv6,
    };
    Outcome::Accept { timeout: Some(secs), assure: false }
}

/// The tuple of the packet quoted in an ICMP error, inverted: the tuple a
/// packet of that connection would have travelling the way the error
/// travels (`nf_conntrack_proto_icmp.c: nf_conntrack_inet_error()`).
pub(crate) fn quoted_tuple(quote: &[u8], outer: Family) -> Result<Tuple, Reason> {
    // Read as a packet of the error's family (see `Mode`).
    let inner = parse_ip(quote, Mode::Quoted(outer)).map_err(|_| Reason::BadIcmpErrorQuote)?;
    let t = Tuple::of_packet(&inner).map_err(|_| Reason::BadIcmpErrorQuote)?;
    // An error about an error (or any non-invertible ICMP) relates to nothing.
    t.invert().ok_or(Reason::BadIcmpErrorQuote)
}

/// True if an ICMP tuple may create an entry (the `valid_new[]` check of
/// `nf_conntrack_proto_icmp.c: nf_conntrack_icmp_packet()` and
/// `nf_conntrack_proto_icmpv6.c: nf_conntrack_icmpv6_packet()`).
pub(crate) fn may_create(t: &Tuple) -> bool {
    tuple::is_icmp_request(t.family(), t.icmp_type())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip::tests::ipv4;
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
        match inspect(&v, true) {
            Inspected::Track(t, L4Packet::Icmp) => {
                assert_eq!(t.l4(), tuple::L4::Icmp { ty: 8, code: 0, id: 4711 })
            }
            m => panic!("{m:?}"),
        }
        let p = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &icmp(40, 0, &[]));
        let error = |reason| Inspected::Invalid { reason, counted_as_error: true };
        assert_eq!(inspect(&parse_ip(&p, Mode::Outer).unwrap(), true), error(Reason::BadIcmpType));
        let mut bad = icmp(8, 0, &[]);
        bad[7] ^= 1;
        let p = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 1, &bad);
        let v = parse_ip(&p, Mode::Outer).unwrap();
        assert_eq!(inspect(&v, true), error(Reason::BadChecksum));
        assert!(matches!(inspect(&v, false), Inspected::Track(..)));
        // ICMP inside IPv6 has no tracker: INVALID, counted as invalid.
        let p = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 58, &icmp(128, 0, &[]));
        let v = parse_ip(&p, Mode::Outer).unwrap();
        let wrong = Inspected::Invalid { reason: Reason::WrongIcmpFamily, counted_as_error: false };
        assert_eq!(inspect(&v, true), wrong);
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
