//! The NAT part of the SIP helper (`nf_nat_sip.c`): for a translated
//! connection, the addresses and ports a message announces (request URI,
//! `Via`, `Contact`, `From`, `To`; the SDP body's `o=`, `c=` and `m=`
//! lines and the `Content-Length` that follows them) are rewritten, and
//! the media are expected at the translated address, translated back on
//! arrival to the address the SDP announced.
//!
//! The topmost `Via` is rewritten only where it names this end of the
//! connection, and with it its `maddr=`, `received=` and `rport=`
//! parameters.
//!
//! A phone that sends from one port and names another in its `Via` (the
//! "forced" port, `SipState::forced_dport`) gets what comes back on the
//! port it named: the UDP header's destination port is rewritten, and a
//! header naming a packet's destination gets that port, in both
//! directions, as the kernel does (`map_addr()`).

use core::fmt::Write;
use core::net::IpAddr;

use super::SipState;
use super::header::{Header, Uri, addr_port, address_param, header_uri, header_value, numeric_param_at};
use super::lex::{at, count_while, eq_ci, is_alpha, is_nl, uint};
use super::msg::Msg;
use super::sdp::{Media, Sdp, Span};
use crate::expect::{ExpectError, Expectation};
use crate::helper::HelperContext;
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Family, Tuple, proto as ip_proto};

const FAIL: HelperDrop = HelperDrop("cannot mangle SIP message");

/// Text for an address followed by `:port` if `port` is given, as
/// `sip_sprintf_addr_port()` writes it (IPv6 then in brackets), or alone,
/// as `sip_sprintf_addr()` writes it (IPv6 in brackets if `brackets`).
pub(super) fn addr_text(
    out: &mut heapless::String<64>,
    addr: IpAddr,
    port: Option<u16>,
    brackets: bool,
) -> Result<(), HelperDrop> {
    let r = match (addr, port) {
        (IpAddr::V4(a), None) => write!(out, "{a}"),
        (IpAddr::V4(a), Some(p)) => write!(out, "{a}:{p}"),
        (IpAddr::V6(a), None) if brackets => write!(out, "[{a}]"),
        (IpAddr::V6(a), None) => write!(out, "{a}"),
        (IpAddr::V6(a), Some(p)) => write!(out, "[{a}]:{p}"),
    };
    r.map_err(|_| FAIL)
}

/// Replace `len` bytes at `off` of the message that starts `base` bytes
/// into the payload.
pub(super) fn replace(
    cx: &mut HelperContext<'_>,
    base: usize,
    off: usize,
    len: usize,
    text: &[u8],
) -> Result<(), HelperDrop> {
    if cx.mangle(base + off, len, text) { Ok(()) } else { Err(FAIL) }
}

/// Where an address and port a packet of direction `dir` names must go
/// instead (`nf_nat_sip.c: map_addr()`): the sender's own endpoint becomes
/// how the peer sees it, the peer's endpoint (as the sender addressed it)
/// what it really is. `None`: neither, or no change.
fn map(cx: &HelperContext<'_>, dir: Direction, addr: IpAddr, port: u16) -> Option<(IpAddr, u16)> {
    let (this, other) = (cx.tuple(dir), cx.tuple(dir.opposite()));
    let new = if addr == this.src() && Some(port) == this.sport() {
        (other.dst(), other.dport()?)
    } else if addr == this.dst() && Some(port) == this.dport() {
        // The port a phone listens on, if its Via named one
        // (`SipState::forced_dport`), in either direction, as the kernel
        // does.
        let forced = cx.load::<SipState>().forced_dport;
        (other.src(), if forced != 0 { forced } else { other.sport()? })
    } else {
        return None;
    };
    (new != (addr, port)).then_some(new)
}

/// Rewrite one `address[:port]` at `start..end` of message `m` if
/// [`map`] says so. The port is written out even where it was implied.
fn map_span(
    cx: &mut HelperContext<'_>,
    base: usize,
    dir: Direction,
    (start, end): (usize, usize),
    addr: IpAddr,
    port: u16,
) -> Result<(), HelperDrop> {
    let Some((a, p)) = map(cx, dir, addr, port) else { return Ok(()) };
    // A span this message's processing rewrote already (a registration's
    // contact, `expect_registration`) reads as its new text, which the
    // kernel, having mangled it at once, parses again: an address of the
    // other side, left alone.
    if cx.is_mangled(base + start, end - start) {
        return Ok(());
    }
    let mut text = heapless::String::<64>::new();
    addr_text(&mut text, a, Some(p), true)?;
    replace(cx, base, start, end - start, text.as_bytes())
}

/// The address and port of the request URI of message `m` (its offset,
/// the address, the port, where they end), as
/// `nf_conntrack_sip.c: ct_sip_parse_request()` reads them: after the
/// method's letters and one more byte, the first `sip:` of the line, a
/// user part up to an `@` on the line skipped, then `address[:port]`,
/// which must parse ([`addr_port`]).
fn request_uri(m: &[u8], family: Family) -> Option<(usize, IpAddr, u16, usize)> {
    let method = count_while(m, 0, m.len(), is_alpha);
    if method == 0 || method + 1 >= m.len() {
        return None;
    }
    let from = method + 1;
    let line = from + m[from..].iter().position(|&b| is_nl(b)).unwrap_or(m.len() - from);
    let sip = m.get(from..line)?.windows(4).position(|w| w.eq_ignore_ascii_case(b"sip:"))?;
    let uri = from + sip + 4;
    let user = count_while(m, uri, m.len(), |b| b != b'@' && !is_nl(b));
    let host = if at(m, uri + user) == b'@' { uri + user + 1 } else { uri };
    let (addr, port, end) = addr_port(m, host, family)?;
    Some((host, addr, port, end))
}

/// The signalling part (`nf_nat_sip.c: nf_nat_sip()`): the request URI,
/// the first `Via`, every `Contact`, `From` and `To` of message `msg`.
pub(super) fn rewrite_headers(cx: &mut HelperContext<'_>, msg: &Msg<'_>) -> Result<(), HelperDrop> {
    let Msg { m, base, family, proto, dir } = *msg;
    // The request line: `METHOD sip:[user@]address[:port] SIP/2.0`. (A
    // message is a response here if it starts with `SIP/2.0`, in any case,
    // with or without the space the tracking part asks for.)
    let request = !eq_ci(m, 0, b"SIP/2.0");
    if request && let Some((start, addr, port, end)) = request_uri(m, family) {
        map_span(cx, base, dir, (start, end), addr, port)?;
    }
    rewrite_via(cx, msg, request)?;
    // Every Contact, in lists too.
    let mut in_list = false;
    let mut from = 0;
    for _ in 0..m.len() {
        let Ok(Some(u)) = header_uri(m, from, Header::Contact, family, Some(&mut in_list)) else { break };
        map_span(cx, base, dir, (u.start, u.end), u.addr, u.port)?;
        if u.end <= from {
            break;
        }
        from = u.end;
    }
    for h in [Header::From, Header::To] {
        if let Ok(Some(u)) = header_uri(m, 0, h, family, None) {
            map_span(cx, base, dir, (u.start, u.end), u.addr, u.port)?;
        }
    }
    // A phone that sends from one port and listens on another
    // (`SipState::forced_dport`) gets what comes back on the latter. (Only
    // UDP: on TCP the kernel writes the port into the TCP header with its
    // UDP routine; ctrack leaves a TCP segment's ports to the translation.)
    let forced = cx.load::<SipState>().forced_dport;
    if dir == Direction::Reply && forced != 0 && proto == ip_proto::UDP {
        cx.force_dport(forced);
    }
    Ok(())
}

/// The topmost `Via` of message `msg` (`nf_nat_sip()`), if it names this
/// end of the connection: in a request its sender, in a response (which
/// carries the `Via` of the request it answers) its receiver, either as
/// this packet addresses it (a `Via` of another hop is left alone, and so
/// is one naming the other end). Its address and port
/// are mapped ([`map`]), then its parameters (RFC 3261 18.2.1, RFC 3581):
/// `maddr=`, where the answer goes, if it names the sender and not the
/// sender as the peer sees it, becomes the latter; `received=`, the
/// address a server saw the request come from, if it names the receiver
/// as the peer sees it and not what it really is, becomes the latter;
/// `rport=`, the port it came from, likewise (a number above 65535 names
/// no port: left alone, as the kernel leaves it).
fn rewrite_via(cx: &mut HelperContext<'_>, msg: &Msg<'_>, request: bool) -> Result<(), HelperDrop> {
    let Msg { m, base, family, proto, dir } = *msg;
    let via = if proto == ip_proto::TCP { Header::ViaTcp } else { Header::ViaUdp };
    let Ok(Some(u)) = header_uri(m, 0, via, family, None) else { return Ok(()) };
    let (this, other) = (cx.tuple(dir), cx.tuple(dir.opposite()));
    let own_end = if request { (this.src(), this.sport()) } else { (this.dst(), this.dport()) };
    if (u.addr, Some(u.port)) != own_end {
        return Ok(());
    }
    map_span(cx, base, dir, (u.start, u.end), u.addr, u.port)?;
    let set_addr = |cx: &mut HelperContext<'_>, (s, e): (usize, usize), addr, brackets| {
        let mut text = heapless::String::<64>::new();
        addr_text(&mut text, addr, None, brackets)?;
        replace(cx, base, s, e - s, text.as_bytes())
    };
    if let Some((s, addr, e)) = address_param(m, u.end, b"maddr=", family, true)
        && addr == this.src()
        && addr != other.dst()
    {
        set_addr(cx, (s, e), other.dst(), true)?;
    }
    if let Some((s, addr, e)) = address_param(m, u.end, b"received=", family, false)
        && addr == this.dst()
        && addr != other.src()
    {
        set_addr(cx, (s, e), other.src(), false)?;
    }
    if let Ok(Some((n, s, e))) = numeric_param_at(m, u.end, b"rport=")
        && let (Some(to), Some(from)) = (this.dport(), other.sport())
        && n == u32::from(to)
        && n != u32::from(from)
    {
        let mut text = heapless::String::<64>::new();
        write!(text, "{from}").map_err(|_| FAIL)?;
        replace(cx, base, s, e - s, text.as_bytes())?;
    }
    Ok(())
}

/// A REGISTER's expectation of calls to its contact `contact` on a
/// translated connection (`nf_nat_sip.c: nf_nat_sip_expect()`): the calls
/// will come from the other side, to where it sees this one (the
/// contact's address if the connection's source is not translated); to
/// the port the other side sees this end's source on if the contact names
/// the source port (or the port its Via named, `SipState::forced_dport`),
/// else to the contact's own port, or the next free one; translated back
/// to the contact on arrival. The contact then says where.
pub(super) fn expect_registration(
    cx: &mut HelperContext<'_>,
    msg: &Msg<'_>,
    contact: &Uri,
    exp: Expectation,
) -> Result<(), HelperDrop> {
    let (this, other) = (cx.tuple(msg.dir), cx.tuple(msg.dir.opposite()));
    let addr = if this.src() == other.dst() { contact.addr } else { other.dst() };
    let forced = cx.load::<SipState>().forced_dport;
    let source_port = if forced != 0 { Some(forced) } else { this.sport() };
    let port = match other.dport() {
        Some(p) if Some(contact.port) == source_port => p,
        _ => contact.port,
    };
    let t = exp.tuple();
    let tuple = Tuple::with_ports(t.src(), 0, addr, port, t.proto()).ok_or(FAIL)?;
    let exp = Expectation { tuple, ..exp };
    let port = cx
        .expect_translated(exp, msg.dir.opposite(), (contact.addr, contact.port), true)
        .map_err(|_| HelperDrop("all ports in use for SIP"))?;
    if (addr, port) != (contact.addr, contact.port) {
        let mut text = heapless::String::<64>::new();
        let written = addr_text(&mut text, addr, Some(port), true).and_then(|()| {
            replace(cx, msg.base, contact.start, contact.end - contact.start, text.as_bytes())
        });
        if written.is_err() {
            // Not announced: not expected either.
            let registered = crate::nat::with_dst_port(&tuple, port);
            cx.unexpect(&mut |e| e.tuple() == registered);
            return Err(HelperDrop("cannot mangle packet"));
        }
    }
    Ok(())
}

/// The `Content-Length` of message `m` after its body changed by `delta`
/// bytes (`nf_nat_sip.c: mangle_content_len()`).
pub(super) fn content_length(
    cx: &mut HelperContext<'_>,
    m: &[u8],
    base: usize,
    family: Family,
    delta: i64,
) -> Result<(), HelperDrop> {
    if delta == 0 {
        return Ok(());
    }
    let Some((o, _)) = header_value(m, Header::ContentLength, family) else { return Err(FAIL) };
    let (old, end) = uint(m, o);
    if end == o {
        return Err(FAIL);
    }
    let new = i64::from(old).checked_add(delta).filter(|&v| v >= 0).ok_or(FAIL)?;
    let mut text = heapless::String::<64>::new();
    write!(text, "{new}").map_err(|_| FAIL)?;
    replace(cx, base, o, end - o, text.as_bytes())
}

/// `msg.rs: process_sdp()` on a translated connection (`nf_nat_sip.c:
/// nf_nat_sdp_media()`, `nf_nat_sdp_addr()`, `nf_nat_sdp_session()`):
/// each medium is expected at the translated address, on its port or the
/// next free pair, and the body says so; then `Content-Length`.
pub(super) fn process_sdp(cx: &mut HelperContext<'_>, msg: &Msg<'_>, sdp: &Sdp) -> Result<(), HelperDrop> {
    let mut rtp_addr = None;
    let mut delta = 0i64;
    let mut edit = |cx: &mut HelperContext<'_>, span: Option<Span>, text: &[u8]| -> Result<(), HelperDrop> {
        let Some((off, len)) = span else { return Ok(()) };
        delta += text.len() as i64 - len as i64;
        replace(cx, msg.base, off, len, text)
    };
    for (k, media) in sdp.media.iter().enumerate() {
        let Some(media) = media else { continue };
        let Some((addr, port)) = expect_rtp_rtcp_translated(cx, msg.dir, media)? else { continue };
        rtp_addr = Some(addr);
        let mut text = heapless::String::<64>::new();
        if port != media.port & !1 {
            write!(text, "{port}").map_err(|_| HelperDrop("cannot mangle SDP port"))?;
            edit(cx, sdp.spans.port[k], text.as_bytes())?;
        }
        text.clear();
        addr_text(&mut text, addr, None, false)?;
        edit(cx, sdp.spans.connection[k], text.as_bytes())?;
    }
    if let Some(addr) = rtp_addr {
        let mut text = heapless::String::<64>::new();
        addr_text(&mut text, addr, None, false)?;
        edit(cx, sdp.spans.owner, text.as_bytes())?;
        edit(cx, sdp.spans.session, text.as_bytes())?;
    }
    content_length(cx, msg.m, msg.base, msg.family, delta)?;
    match sdp.error {
        Some(e) => Err(HelperDrop(e)),
        None => Ok(()),
    }
}

/// `msg.rs: expect_rtp_rtcp()` on a translated connection: the RTP/RTCP pair is
/// expected at the address the peer sees, translated back on arrival
/// (`nf_nat_sip.c: nf_nat_sdp_media()`, `nf_nat_sip_expected()`). Returns
/// that address and the RTP port, `None` if nothing is expected.
fn expect_rtp_rtcp_translated(
    cx: &mut HelperContext<'_>,
    dir: Direction,
    media: &Media,
) -> Result<Option<(IpAddr, u16)>, HelperDrop> {
    const FAIL: HelperDrop = HelperDrop("cannot add expectation for voice");
    if media.addr != cx.tuple(dir).src() {
        return Ok(None);
    }
    let (this, other) = (cx.tuple(dir), cx.tuple(dir.opposite()));
    // The connection will come from the other side, to where it sees us.
    let addr = if this.src() == other.dst() { media.addr } else { other.dst() };
    let peer = other.src();
    let rtp = media.port & !1;
    // Every even port from the pair's own up, as Linux tries them: a try
    // fails over only where an expectation holds that port already, so
    // the pairs tried are at most one more than the table's expectations.
    for port in (rtp..u16::MAX).step_by(2) {
        let make = |port: u16, saved: u16| {
            Tuple::with_ports(peer, 0, addr, port, 17).map(|t| {
                Expectation::from_any_port(t).with_class(media.class).translated(
                    dir.opposite(),
                    (media.addr, saved),
                    true,
                )
            })
        };
        let (Some(rtp_exp), Some(rtcp_exp)) = (make(port, rtp), make(port + 1, rtp + 1)) else {
            return Err(FAIL);
        };
        match cx.expect(rtp_exp) {
            Ok(()) => {}
            Err(ExpectError::Clash | ExpectError::Exists) => continue,
            Err(_) => return Err(FAIL),
        }
        match cx.expect(rtcp_exp) {
            Ok(()) => return Ok(Some((addr, port))),
            Err(ExpectError::Clash | ExpectError::Exists) => {
                cx.unexpect(&mut |e| *e == rtp_exp);
            }
            Err(_) => {
                cx.unexpect(&mut |e| *e == rtp_exp);
                return Err(FAIL);
            }
        }
    }
    Err(FAIL)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{V4, V6, ip};
    use super::request_uri;

    #[test]
    fn request_uris() {
        let uri = request_uri;
        let m = b"INVITE sip:bob@192.0.2.20 SIP/2.0\r\n";
        assert_eq!(uri(m, V4), Some((15, ip("192.0.2.20"), 5060, 25)));
        let m = b"INVITE sip:192.0.2.20:5070;transport=udp SIP/2.0\r\n";
        assert_eq!(uri(m, V4), Some((11, ip("192.0.2.20"), 5070, 26)));
        let m = b"BYE SIP:u@[2001:db8::20]:5080 SIP/2.0\r\n";
        assert_eq!(uri(m, V6), Some((10, ip("2001:db8::20"), 5080, 29)));
        // A port outside 1024–65535, or not 1–5 digits: not rewritten.
        for m in [&b"INVITE sip:192.0.2.20:80 SIP/2.0\r\n"[..], b"INVITE sip:192.0.2.20:005060 SIP/2.0\r\n"] {
            assert_eq!(uri(m, V4), None);
        }
        // No `sip:` on the first line, no method, a host name.
        for m in [&b"INVITE tel:123 SIP/2.0\r\nTo: sip:192.0.2.1\r\n"[..], b" sip:192.0.2.20 SIP/2.0\r\n"] {
            assert_eq!(uri(m, V4), None);
        }
        assert_eq!(uri(b"INVITE sip:bob@example.com SIP/2.0\r\n", V4), None);
        // The user part is looked for up to the end of the line.
        let m = b"INVITE sip:192.0.2.20 SIP/2.0 x@192.0.2.30 \r\n";
        assert_eq!(uri(m, V4).map(|u| u.1), Some(ip("192.0.2.30")));
    }
}
