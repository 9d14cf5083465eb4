//! ICMP (RFC 792) and ICMPv6 (RFC 4443) headers: the checks of
//! `nf_conntrack_proto_icmp.c: nf_conntrack_icmpv4_error()` and
//! `nf_conntrack_proto_icmpv6.c: nf_conntrack_icmpv6_error()`, and the option of an
//! ICMPv6 redirect (RFC 4861 section 4.5) that quotes a packet.

use crate::reason::Reason;
use crate::wire::ip::IpView;

/// The type and code of an ICMP or ICMPv6 message, and the bytes after its
/// 8-byte header, once the header is present and (when `verify_checksum`)
/// the checksum is right.
pub(crate) fn header<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<(u8, u8, &'a [u8]), Reason> {
    let hdr = ip.l4.get(..8).ok_or(Reason::ShortPacket)?;
    if verify_checksum && !ip.l4_checksum_ok(ip.l4.len()) {
        return Err(Reason::BadChecksum);
    }
    Ok((hdr[0], hdr[1], &ip.l4[8..]))
}

/// ICMPv6 redirect (`nf_conntrack_proto_icmpv6.c: nf_conntrack_icmpv6_redirect()`;
/// RFC 4861 section 8.1): hop limit 255, link-local source, and an options
/// area whose first option is non-empty. Returns the quoted packet of a
/// Redirected Header option, or `None` when the first option is another
/// kind (then the message is looked up as itself and found invalid).
pub(crate) fn redirect_quote<'a>(ip: &IpView<'a>) -> Result<Option<&'a [u8]>, Reason> {
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
