//! SIP headers, the one job of this file: finding a header and reading the
//! part of its value the helper needs, the way `nf_conntrack_sip.c` does.
//!
//! * The header table ([`Header`], `ct_sip_hdrs[]`) with each header's
//!   full and compact name, the text its value of interest follows, and
//!   how that value is read (`digits_len()`, `epaddr_len()`,
//!   `skp_epaddr_len()`, `callid_len()`).
//! * [`find_header`] (`ct_sip_get_header()`): headers are found at line
//!   starts after the first line, by full or compact name (the compact one
//!   must be followed by a non-letter), case-insensitively, with blanks
//!   and continuation lines around the colon (`sip_skip_whitespace()`,
//!   `sip_follow_continuation()`).
//! * Comma-separated lists and repeated headers (`ct_sip_next_header()`,
//!   `ct_sip_walk_headers()`), URIs (`ct_sip_parse_header_uri()`), and the
//!   URI parameters the helper reads (`ct_sip_parse_param()`,
//!   `ct_sip_parse_numerical_param()`, `ct_sip_parse_transport()`).
//!
//! Every search moves forward through the message, so parsing is bounded
//! on any input, and nothing is allocated.

use core::net::IpAddr;

use super::addr::parse_addr;
use super::lex::{
    at, at_before, count_while, digits, eq_ci, is_alpha, is_blank, is_nl, is_word, line_starts, search, uint,
    uri_port,
};
use crate::tuple::Family;

/// The SIP headers of the kernel's header table (`nf_conntrack_sip.c:
/// ct_sip_hdrs[]`). From, To and Via/TCP are read only by SIP NAT (feature
/// `nat-helpers`), Call-ID by nothing yet; the parser and its fuzz target
/// keep them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
pub enum Header {
    /// `CSeq`: a number.
    CSeq,
    /// `From` / `f`: the address of the `sip:` URI.
    From,
    /// `To` / `t`: the address of the `sip:` URI.
    To,
    /// `Contact` / `m`: the address and port of a `sip:` URI.
    Contact,
    /// `Via` / `v` with UDP transport: address and port after `UDP `.
    ViaUdp,
    /// `Via` / `v` with TCP transport: address and port after `TCP `.
    ViaTcp,
    /// `Expires`: a number.
    Expires,
    /// `Content-Length` / `l`: a number.
    ContentLength,
    /// `Call-Id` / `i`: `word[@word]`.
    CallId,
}

#[derive(Clone, Copy)]
enum Value {
    Digits,
    /// Address[:port], after an optional `user@`.
    UriAddr,
    /// Address[:port].
    Addr,
    CallId,
}

/// How a header is recognised and its value read.
struct Spec {
    name: &'static [u8],
    compact: Option<&'static [u8]>,
    /// Text the interesting part of the value follows.
    search: Option<&'static [u8]>,
    value: Value,
}

impl Header {
    fn spec(self) -> Spec {
        let (name, compact, search, value): (&[u8], Option<&[u8]>, Option<&[u8]>, _) = match self {
            Header::CSeq => (b"CSeq", None, None, Value::Digits),
            Header::From => (b"From", Some(b"f"), Some(b"sip:"), Value::UriAddr),
            Header::To => (b"To", Some(b"t"), Some(b"sip:"), Value::UriAddr),
            Header::Contact => (b"Contact", Some(b"m"), Some(b"sip:"), Value::UriAddr),
            Header::ViaUdp => (b"Via", Some(b"v"), Some(b"UDP "), Value::Addr),
            Header::ViaTcp => (b"Via", Some(b"v"), Some(b"TCP "), Value::Addr),
            Header::Expires => (b"Expires", None, None, Value::Digits),
            Header::ContentLength => (b"Content-Length", Some(b"l"), None, Value::Digits),
            Header::CallId => (b"Call-Id", Some(b"i"), None, Value::CallId),
        };
        Spec { name, compact, search, value }
    }
}

/// The outcome of a header search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMatch {
    /// No such header (or the first one found is malformed before its colon).
    None,
    /// The header is there but its value does not parse; the offset of the
    /// value, from where a search for the next one may resume.
    Bad(usize),
    /// The value of interest: offset and length.
    At(usize, usize),
}

impl HeaderMatch {
    /// A value whose reading started at `start` and whose part of interest
    /// is `len` bytes at `at`: `Bad(start)` if empty.
    pub(super) fn found(start: usize, at: usize, len: usize) -> HeaderMatch {
        if len == 0 { HeaderMatch::Bad(start) } else { HeaderMatch::At(at, len) }
    }
}

/// After a line end at `i`: the start of the continuation line's text, or
/// `None` if the next line is not a continuation.
fn follow_continuation(m: &[u8], i: usize, limit: usize) -> Option<usize> {
    let mut p = i + 1;
    if p >= limit {
        return None;
    }
    if at(m, p - 1) == b'\r' && at(m, p) == b'\n' {
        p += 1;
        if p >= limit {
            return None;
        }
    }
    if !is_blank(at(m, p)) {
        return None;
    }
    Some(p + count_while(m, p, limit, is_blank))
}

/// Skip blanks and at most one line continuation.
fn skip_blanks(m: &[u8], mut p: usize, limit: usize) -> Option<usize> {
    while p < limit {
        let b = at(m, p);
        if is_blank(b) {
            p += 1;
            continue;
        }
        if is_nl(b) {
            return follow_continuation(m, p, limit);
        }
        break;
    }
    Some(p)
}

/// `needle` (case-insensitive) inside the header value starting at `p`,
/// continuation lines included; it must end before `limit`.
fn header_search(m: &[u8], p: usize, limit: usize, needle: &[u8]) -> Option<usize> {
    // The first byte after a continuation's blanks is not tried.
    search(m, p, limit, needle, eq_ci, |nl, limit| Some(follow_continuation(m, nl, limit)? + 1))
}

/// Length of the value at `p` and how far its interesting part is shifted
/// from `p` (0 if it does not parse).
fn value_len(m: &[u8], p: usize, v: Value, family: Family) -> (usize, usize) {
    let limit = m.len();
    let addr_port_len = |p| addr_port(m, p, family).map_or(0, |(.., end)| end - p);
    match v {
        Value::Digits => (digits(m, p, limit), 0),
        Value::Addr => (addr_port_len(p), 0),
        Value::UriAddr => {
            // Skip a user part, but only up to the end of the line.
            let user = count_while(m, p, limit, |b| b != b'@' && !is_nl(b));
            let shift = if at_before(m, p + user, limit) == b'@' { user + 1 } else { 0 };
            (addr_port_len(p + shift), shift)
        }
        Value::CallId => {
            let w = count_while(m, p, limit, is_word);
            if w == 0 || at_before(m, p + w, limit) != b'@' {
                return (w, 0);
            }
            match count_while(m, p + w + 1, limit, is_word) {
                0 => (0, 0),
                d => (w + 1 + d, 0),
            }
        }
    }
}

/// `address[:port]` at `p`, IPv6 in brackets: the address, the port
/// (5060 without one) and the end; `None` if either does not parse
/// ([`uri_port`]: since Linux 6.18.33 `epaddr_len()` refuses a bad port
/// as it refuses a bad address, so that a header naming one is passed
/// over for the next).
pub(super) fn addr_port(m: &[u8], p: usize, family: Family) -> Option<(IpAddr, u16, usize)> {
    let (addr, end) = parse_addr(m, p, m.len(), family, true)?;
    let (port, end) = uri_port(m, end)?;
    Some((addr, port, end))
}

/// Find header `h` in `msg` at a line start after offset `from`.
pub fn find_header(msg: &[u8], from: usize, h: Header, family: Family) -> HeaderMatch {
    let Spec { name, compact: cname, search, value } = h.spec();
    let m = msg;
    let limit = m.len();
    for p in line_starts(m, from) {
        // A continuation line is not a header start.
        if is_blank(m[p]) {
            continue;
        }
        let p = if eq_ci(m, p, name) {
            p + name.len()
        } else if let Some(c) = cname
            && limit - p > c.len()
            && eq_ci(m, p, c)
            && !is_alpha(m[p + c.len()])
        {
            p + c.len()
        } else {
            continue;
        };
        // The colon, with blanks (and a continuation) around it.
        let Some(q) = skip_blanks(m, p, limit) else { return HeaderMatch::None };
        if at(m, q) != b':' || q + 1 >= limit {
            return HeaderMatch::None;
        }
        let Some(mut v) = skip_blanks(m, q + 1, limit) else { return HeaderMatch::None };
        let start = v;
        if let Some(needle) = search {
            let Some(s) = header_search(m, v, limit, needle) else { return HeaderMatch::Bad(start) };
            v = s + needle.len();
        }
        let (len, shift) = value_len(m, v, value, family);
        return HeaderMatch::found(start, v + shift, len);
    }
    HeaderMatch::None
}

/// The next element of a comma-separated header value, after `from`.
fn next_in_header(m: &[u8], from: usize, h: Header, family: Family) -> HeaderMatch {
    let Spec { search, value, .. } = h.spec();
    let limit = m.len();
    let Some(c) = header_search(m, from, limit, b",") else { return HeaderMatch::None };
    let Some(needle) = search else { return HeaderMatch::None };
    let Some(s) = header_search(m, c, limit, needle) else { return HeaderMatch::None };
    let v = s + needle.len();
    let (len, shift) = value_len(m, v, value, family);
    HeaderMatch::found(v, v + shift, len)
}

/// Run `search` from `off`, and again from each `Bad` offset, until it
/// finds a value that parses; `Err` with the offset searched last if there
/// is none. Every `Bad` offset lies after the offset searched from, so the
/// retries advance.
fn first_parsable(mut off: usize, search: impl Fn(usize) -> HeaderMatch) -> Result<(usize, usize), usize> {
    loop {
        match search(off) {
            HeaderMatch::At(o, len) => return Ok((o, len)),
            HeaderMatch::None => return Err(off),
            HeaderMatch::Bad(o) => off = o,
        }
    }
}

/// The first parsable header `h` after `from`; with `in_list`, first the
/// rest of the current comma-separated list. Sets `in_list` when found.
fn walk_headers(
    m: &[u8],
    from: usize,
    h: Header,
    family: Family,
    mut in_list: Option<&mut bool>,
) -> Option<(usize, usize)> {
    let mut off = from;
    if let Some(l) = in_list.as_deref_mut()
        && *l
    {
        match first_parsable(off, |o| next_in_header(m, o, h, family)) {
            Ok(found) => return Some(found),
            // The next header starts after the last element tried.
            Err(last) => off = last,
        }
        *l = false;
    }
    let found = first_parsable(off, |o| find_header(m, o, h, family)).ok()?;
    if let Some(l) = in_list {
        *l = true;
    }
    Some(found)
}

/// A URI's address and port as a header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uri {
    /// The address.
    pub(crate) addr: IpAddr,
    /// The port (5060 if absent).
    pub(crate) port: u16,
    /// Offset just after `address[:port]`, where parameters start.
    pub(crate) end: usize,
    /// Offset of the address.
    pub(crate) start: usize,
}

/// The URI of header `h` (see [`walk_headers`]); `Err` if its address or
/// port does not parse (`ct_sip_parse_header_uri()`; the walk passed over
/// such headers already, so that this does not happen).
pub(super) fn header_uri(
    m: &[u8],
    from: usize,
    h: Header,
    family: Family,
    in_list: Option<&mut bool>,
) -> Result<Option<Uri>, ()> {
    let Some((off, len)) = walk_headers(m, from, h, family, in_list) else { return Ok(None) };
    let (addr, port, end) = addr_port(m, off, family).ok_or(())?;
    Ok(Some(Uri { addr, port, end: (off + len).max(end), start: off }))
}

/// The start of the value of URI parameter `name` (`"transport="`) after
/// `from`, looked for up to a comma or the end of the header, and that
/// limit.
fn param(m: &[u8], from: usize, name: &[u8]) -> Option<(usize, usize)> {
    let limit = header_search(m, from, m.len(), b",").unwrap_or(m.len());
    Some((header_search(m, from, limit, name)? + name.len(), limit))
}

/// The numeric parameter `name` after `from`, in decimal
/// (`ct_sip_parse_numerical_param()`, base 10 since Linux 6.18.33): its
/// value, where its digits start and where they end; `Ok(None)` if
/// absent, `Err` if not a number ([`uint`]).
pub(super) fn numeric_param_at(
    m: &[u8],
    from: usize,
    name: &[u8],
) -> Result<Option<(u32, usize, usize)>, ()> {
    let Some((s, _)) = param(m, from, name) else { return Ok(None) };
    let (v, e) = uint(m, s);
    if e == s { Err(()) } else { Ok(Some((v, s, e))) }
}

/// [`numeric_param_at`]'s value alone.
pub(super) fn numeric_param(m: &[u8], from: usize, name: &[u8]) -> Result<Option<u32>, ()> {
    numeric_param_at(m, from, name).map(|p| p.map(|(v, ..)| v))
}

/// The address parameter `name` after `from` (`maddr=`, `received=`;
/// `ct_sip_parse_address_param()`): where the address starts, the address
/// and where it ends, read up to the comma that ends the URI (IPv6 in
/// brackets if `brackets`, else either way); `None` if absent or not an
/// address of the connection's family.
#[cfg(feature = "nat-helpers")]
pub(super) fn address_param(
    m: &[u8],
    from: usize,
    name: &[u8],
    family: Family,
    brackets: bool,
) -> Option<(usize, IpAddr, usize)> {
    let (s, limit) = param(m, from, name)?;
    let (addr, end) = if family == Family::Ipv6 && !brackets {
        // Each bracket optional on its own (`sip_parse_addr()` with `delim`
        // false), and part of what is replaced.
        let a = s + usize::from(at_before(m, s, limit) == b'[');
        let (addr, e) = parse_addr(m, a, limit, family, false)?;
        (addr, e + usize::from(at_before(m, e, limit) == b']'))
    } else {
        parse_addr(m, s, limit, family, brackets)?
    };
    Some((s, addr, end))
}

/// The transport a URI's `transport=` names, if it is the connection's
/// protocol (`proto`); the connection's protocol if none is named.
pub(super) fn transport(m: &[u8], from: usize, proto: u8) -> Option<u8> {
    let Some((s, _)) = param(m, from, b"transport=") else { return Some(proto) };
    let named = if eq_ci(m, s, b"TCP") {
        6
    } else if eq_ci(m, s, b"UDP") {
        17
    } else {
        return None;
    };
    (named == proto).then_some(named)
}

/// The value of the first header `h` of the message (offset and length),
/// if it parses: how `CSeq`, `Expires` and `Content-Length` are read.
pub(super) fn header_value(m: &[u8], h: Header, family: Family) -> Option<(usize, usize)> {
    match find_header(m, 0, h, family) {
        HeaderMatch::At(o, l) => Some((o, l)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{V4, V6, ip};
    use super::*;
    use std::vec::Vec;

    fn at_text(m: &[u8], r: HeaderMatch) -> &str {
        match r {
            HeaderMatch::At(o, l) => core::str::from_utf8(&m[o..o + l]).unwrap(),
            other => panic!("not found: {other:?}"),
        }
    }

    #[test]
    fn headers_full_and_compact() {
        let m = b"INVITE sip:bob@192.0.2.20 SIP/2.0\r\n\
            v: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK\r\n\
            f: <sip:alice@192.0.2.10>;tag=1\r\n\
            To: Bob <sip:bob@192.0.2.20:5070>\r\n\
            i: a84b4c76e66710@pc33\r\n\
            CSeq: 314159 INVITE\r\n\
            m: <sip:alice@192.0.2.10>\r\n\
            Max-Forwards: 70\r\n\
            Expires: 7200\r\n\
            l: 0\r\n\r\n";
        assert_eq!(at_text(m, find_header(m, 0, Header::ViaUdp, V4)), "192.0.2.10:5062");
        assert_eq!(find_header(m, 0, Header::ViaTcp, V4), HeaderMatch::Bad(38));
        assert_eq!(at_text(m, find_header(m, 0, Header::From, V4)), "192.0.2.10");
        assert_eq!(at_text(m, find_header(m, 0, Header::To, V4)), "192.0.2.20:5070");
        assert_eq!(at_text(m, find_header(m, 0, Header::CallId, V4)), "a84b4c76e66710@pc33");
        assert_eq!(at_text(m, find_header(m, 0, Header::CSeq, V4)), "314159");
        assert_eq!(at_text(m, find_header(m, 0, Header::Contact, V4)), "192.0.2.10");
        assert_eq!(at_text(m, find_header(m, 0, Header::Expires, V4)), "7200");
        assert_eq!(at_text(m, find_header(m, 0, Header::ContentLength, V4)), "0");
        // Headers are never found on the first line.
        assert_eq!(find_header(b"CSeq: 1 INVITE\r\n", 0, Header::CSeq, V4), HeaderMatch::None);
    }

    #[test]
    fn headers_case_blanks_and_continuations() {
        let m = b"X\r\ncseq  :\t 7 BYE\r\n";
        assert_eq!(at_text(m, find_header(m, 0, Header::CSeq, V4)), "7");
        let m = b"X\nCONTENT-LENGTH: 42\n";
        assert_eq!(at_text(m, find_header(m, 0, Header::ContentLength, V4)), "42");
        // A continuation line after the colon, and inside the value.
        let m = b"X\r\nContact:\r\n  <sip:u@192.0.2.7:5080>\r\n";
        assert_eq!(at_text(m, find_header(m, 0, Header::Contact, V4)), "192.0.2.7:5080");
        let m = b"X\r\nContact: \"A\"\r\n\t<sip:192.0.2.7>\r\n";
        assert_eq!(at_text(m, find_header(m, 0, Header::Contact, V4)), "192.0.2.7");
        // Continuation lines are not header starts.
        let m = b"X\r\nSubject: a\r\n CSeq: 1\r\n";
        assert_eq!(find_header(m, 0, Header::CSeq, V4), HeaderMatch::None);
        // A compact name must be followed by a non-letter.
        let m = b"X\r\nMax-Forwards: 70\r\nm : <sip:192.0.2.8>\r\n";
        assert_eq!(at_text(m, find_header(m, 0, Header::Contact, V4)), "192.0.2.8");
        // The first header with the name but without a colon ends the search.
        let m = b"X\r\nCSeqX: 1\r\nCSeq: 2\r\n";
        assert_eq!(find_header(m, 0, Header::CSeq, V4), HeaderMatch::None);
        // A value that does not parse is Bad, and the walk goes on to the next.
        let m = b"X\r\nContact: <sip:bob@example.com>\r\nContact: <sip:192.0.2.9:6000>\r\n";
        assert!(matches!(find_header(m, 0, Header::Contact, V4), HeaderMatch::Bad(_)));
        let uri = header_uri(m, 0, Header::Contact, V4, None).unwrap().unwrap();
        assert_eq!((uri.addr, uri.port), (ip("192.0.2.9"), 6000));
    }

    #[test]
    fn uris_ports_and_lists() {
        let uri = |m: &[u8], f| header_uri(m, 0, Header::Contact, f, None);
        assert_eq!(uri(b"X\r\nContact: <sip:192.0.2.1>\r\n", V4).unwrap().unwrap().port, 5060);
        assert_eq!(uri(b"X\r\nContact: <sip:192.0.2.1:1024>\r\n", V4).unwrap().unwrap().port, 1024);
        // A port that does not parse makes the header one that does not
        // parse (Linux 6.18.33 on): passed over for the next.
        for port in ["1023", "65536", "x", "005060", ""] {
            let m = std::format!("X\r\nContact: <sip:192.0.2.1:{port}>\r\n");
            assert_eq!(uri(m.as_bytes(), V4), Ok(None), "{port}");
            let m = std::format!("X\r\nContact: <sip:192.0.2.1:{port}>\r\nContact: <sip:192.0.2.2:5070>\r\n");
            assert_eq!(
                uri(m.as_bytes(), V4).unwrap().map(|u| (u.addr, u.port)),
                Some((ip("192.0.2.2"), 5070))
            );
        }
        // Nor does an address at the very end of the message.
        assert_eq!(uri(b"X\r\nContact: sip:192.0.2.1", V4), Ok(None));
        assert_eq!(uri(b"X\r\nContact: sip:192.0.2.1:5070", V4), Ok(None));
        assert_eq!(uri(b"X\r\nContact: *\r\n", V4), Ok(None));
        let v6 = uri(b"X\r\nm: <sip:u@[2001:db8::1]:5070;transport=udp>\r\n", V6).unwrap().unwrap();
        assert_eq!((v6.addr, v6.port), (ip("2001:db8::1"), 5070));
        // An IPv4 address on an IPv6 connection does not parse.
        assert_eq!(uri(b"X\r\nContact: <sip:192.0.2.1>\r\n", V6), Ok(None));
        // Comma-separated lists (an element that does not parse is skipped),
        // then the next header of the same name.
        let walk = |m: &[u8]| {
            let (mut from, mut in_list, mut seen) = (0, false, Vec::new());
            while let Ok(Some(u)) = header_uri(m, from, Header::Contact, V4, Some(&mut in_list)) {
                seen.push((u.addr, u.port));
                from = u.end;
            }
            seen
        };
        let m = b"X\r\nContact: <sip:192.0.2.1>;expires=60, <sip:host>, <sip:192.0.2.2:5070>\r\n\
            Contact: <sip:192.0.2.3>\r\n";
        let want = [("192.0.2.1", 5060), ("192.0.2.2", 5070), ("192.0.2.3", 5060)];
        assert_eq!(walk(m), want.map(|(a, p)| (ip(a), p)));
        // The user part is looked for up to the end of the line, across
        // commas (as Linux does): here the first element reads as "host".
        let m = b"X\r\nContact: <sip:192.0.2.1>, <sip:a@host>\r\nContact: <sip:192.0.2.3>\r\n";
        assert_eq!(walk(m), [(ip("192.0.2.3"), 5060)]);
        // Parameters.
        let m = b"X\r\nContact: <sip:192.0.2.1;transport=TCP>;expires=0x10, <sip:192.0.2.2>;expires=5\r\n";
        let u = header_uri(m, 0, Header::Contact, V4, None).unwrap().unwrap();
        assert_eq!(transport(m, u.end, 6), Some(6));
        assert_eq!(transport(m, u.end, 17), None);
        // Decimal only: "0x10" reads as 0.
        assert_eq!(numeric_param(m, u.end, b"expires="), Ok(Some(0)));
        let m = b"X\r\nContact: <sip:192.0.2.1>;expires=soon\r\n";
        let u = header_uri(m, 0, Header::Contact, V4, None).unwrap().unwrap();
        assert_eq!(numeric_param(m, u.end, b"expires="), Err(()));
        assert_eq!(transport(m, u.end, 17), Some(17));
        let m = b"X\r\nContact: <sip:192.0.2.1>, <sip:192.0.2.2>;expires=5\r\n";
        assert_eq!(numeric_param(m, 19, b"expires="), Ok(None));
    }

    #[cfg(feature = "nat-helpers")]
    #[test]
    fn address_and_port_parameters() {
        // `maddr=` and `received=` up to the URI's comma, any case, across
        // a continuation line; `rport=`'s digits and where they are.
        let m = b"Via: SIP/2.0/UDP 192.0.2.1;RECEIVED=198.51.100.7;rport=5060\r\n ;maddr=192.0.2.9, x\r\n";
        assert_eq!(address_param(m, 26, b"received=", V4, false), Some((36, ip("198.51.100.7"), 48)));
        assert_eq!(address_param(m, 26, b"maddr=", V4, true), Some((69, ip("192.0.2.9"), 78)));
        assert_eq!(numeric_param_at(m, 26, b"rport="), Ok(Some((5060, 55, 59))));
        // Past the comma: another URI's.
        let m = b"Via: SIP/2.0/UDP 192.0.2.1, SIP/2.0/UDP 192.0.2.2;received=192.0.2.3\r\n";
        assert_eq!(address_param(m, 26, b"received=", V4, false), None);
        // Not an address of the family, or none.
        let m = b";received=host.example;maddr=2001:db8::1\r\n";
        assert_eq!(address_param(m, 0, b"received=", V4, false), None);
        assert_eq!(address_param(m, 0, b"maddr=", V4, true), None);
        // IPv6: `maddr=` in brackets only; `received=` with or without,
        // each bracket on its own, the brackets part of the span.
        let m = b";maddr=2001:db8::1;received=[2001:db8::2;x\r\n";
        assert_eq!(address_param(m, 0, b"maddr=", V6, true), None);
        assert_eq!(address_param(m, 0, b"received=", V6, false), Some((28, ip("2001:db8::2"), 40)));
        let m = b";maddr=[2001:db8::1];received=2001:db8::2]\r\n";
        assert_eq!(address_param(m, 0, b"maddr=", V6, true), Some((7, ip("2001:db8::1"), 20)));
        assert_eq!(address_param(m, 0, b"received=", V6, false), Some((30, ip("2001:db8::2"), 42)));
    }
}
