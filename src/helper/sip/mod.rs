//! SIP (semantics §9.4): INVITE/UPDATE/ACK/PRACK requests and the answers
//! to INVITE/UPDATE/PRACK carry SDP session descriptions whose media
//! streams (audio, video, image) are expected as RTP/RTCP pairs; BYE and
//! failed INVITEs remove them; a REGISTER and its 200 OK expect incoming
//! calls from the registrar to the registered contact.
//!
//! Defaults of Linux 6.x: direct signalling and direct media (expected
//! connections come from the signalling peer, and media is only expected
//! when the SDP names the sender's own address), no external media, no NAT.
//!
//! The parser follows the kernel's byte-level rules, quirks included:
//! headers are found at line starts after the first line, by full or
//! compact name (the compact one must be followed by a non-letter),
//! case-insensitively, with continuation lines; `Contact` lists are walked
//! comma by comma; SDP lines are found from the first `v=` line on, and a
//! media section ends at the next `m=` line. Every scan moves forward
//! through the message, so parsing is bounded on any input, and nothing is
//! allocated.
//!
//! Per-connection state ([`SipState`]): the CSeq of the last INVITE with
//! valid SDP, of the last accepted REGISTER, and the "forced" destination
//! port a `Via` named (unused without NAT).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Helper, HelperContext, HelperState, StateReader, StateWriter};
use crate::expect::{ExpectError, ExpectFlags, ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Family, Tuple};
use crate::verdict::CtState;

/// The SIP helper (`sip`, UDP and TCP port 5060).
pub struct Sip;

/// The SIP helper instance.
pub static SIP: Sip = Sip;

/// Expectation class of registrations (incoming calls).
pub const CLASS_SIGNALLING: u8 = 0;
/// Expectation class of `m=audio` streams.
pub const CLASS_AUDIO: u8 = 1;
/// Expectation class of `m=video` streams.
pub const CLASS_VIDEO: u8 = 2;
/// Expectation class of `m=image` streams (T.38 fax).
pub const CLASS_IMAGE: u8 = 3;

/// Port of a URI or `Via` without one.
const SIP_PORT: u16 = 5060;
/// Lifetime the helper gives its connections (module parameter `sip_timeout`).
const SIP_TIMEOUT: u32 = 3600;
/// Shortest message looked at: `SIP/2.0 200`.
const MIN_MSG: usize = 11;
/// At most this many recognised media per SDP body.
const MAX_MEDIA: usize = 3;

/// The helper's per-connection state (the kernel's `nf_ct_sip_master`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SipState {
    /// CSeq of the last INVITE with valid SDP.
    invite_cseq: u32,
    /// CSeq of the last accepted REGISTER.
    register_cseq: u32,
    /// The "forced" destination port a `Via` named (unused without NAT).
    forced_dport: u16,
}

impl HelperState for SipState {
    fn load(r: &mut StateReader<'_>) -> Self {
        SipState { invite_cseq: r.u32(), register_cseq: r.u32(), forced_dport: r.u16() }
    }

    fn store(&self, w: &mut StateWriter<'_>) {
        w.u32(self.invite_cseq);
        w.u32(self.register_cseq);
        w.u16(self.forced_dport);
    }
}

// ---------------------------------------------------------------------------
// Bytes

/// The byte at `i`, or 0 past the end (where C would read a terminator).
fn at(m: &[u8], i: usize) -> u8 {
    m.get(i).copied().unwrap_or(0)
}

/// Case-insensitive comparison of `m[i..]` with `s`; false if too short.
fn eq_ci(m: &[u8], i: usize, s: &[u8]) -> bool {
    m.get(i..).and_then(|r| r.get(..s.len())).is_some_and(|r| r.eq_ignore_ascii_case(s))
}

/// Case-sensitive comparison of `m[i..]` with `s`; false if too short.
fn eq_cs(m: &[u8], i: usize, s: &[u8]) -> bool {
    m.get(i..).and_then(|r| r.get(..s.len())).is_some_and(|r| r == s)
}

/// The kernel's `isalpha`: ASCII letters and the Latin-1 letters.
fn is_alpha(b: u8) -> bool {
    b.is_ascii_alphabetic() || (b >= 0xc0 && b != 0xd7 && b != 0xf7)
}

fn is_nl(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// The offset just after the next line end (CR, LF or CRLF) at or after
/// `p`; `None` if the message ends before a line end or right after it.
fn after_line_end(m: &[u8], p: usize) -> Option<usize> {
    let nl = p + m.get(p..)?.iter().position(|&b| is_nl(b))?;
    let mut q = nl + 1;
    if m.get(nl) == Some(&b'\r') && m.get(q) == Some(&b'\n') {
        q += 1;
    }
    (q < m.len()).then_some(q)
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A decimal number at `i` (wrapping like `simple_strtoul`) and its end.
fn number(m: &[u8], i: usize) -> (u64, usize) {
    let mut v = 0u64;
    let mut j = i;
    while let Some(d) = m.get(j).filter(|b| b.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        j += 1;
    }
    (v, j)
}

/// A number at `i` in C notation (`0x` hexadecimal, leading `0` octal,
/// otherwise decimal), wrapping, and its end.
fn number_c(m: &[u8], i: usize) -> (u64, usize) {
    let (base, mut j) = if at(m, i) == b'0' {
        if at(m, i + 1).eq_ignore_ascii_case(&b'x') && at(m, i + 2).is_ascii_hexdigit() {
            (16u64, i + 2)
        } else {
            (8, i)
        }
    } else {
        (10, i)
    };
    let mut v = 0u64;
    while let Some(d) = m.get(j).and_then(|&b| char::from(b).to_digit(16)).filter(|&d| u64::from(d) < base) {
        v = v.wrapping_mul(base).wrapping_add(u64::from(d));
        j += 1;
    }
    (v, j)
}

fn count_while(m: &[u8], i: usize, limit: usize, f: impl Fn(u8) -> bool) -> usize {
    m.get(i..limit.min(m.len())).map_or(0, |r| r.iter().take_while(|&&b| f(b)).count())
}

// ---------------------------------------------------------------------------
// Addresses

/// A dotted quad at `i` ending at any byte that is not a digit, a hex
/// letter or a dot (a colon included); `limit` acts as a terminator.
fn parse_v4(m: &[u8], i: usize, limit: usize) -> Option<([u8; 4], usize)> {
    let mut out = [0u8; 4];
    let (mut n, mut w, mut digits, mut s) = (0usize, 0u32, false, i);
    loop {
        let c = if s < limit { at(m, s) } else { 0 };
        if c.is_ascii_digit() {
            w = w * 10 + u32::from(c - b'0');
            digits = true;
            if w > 255 {
                return None;
            }
        } else if c.is_ascii_hexdigit() {
            return None;
        } else {
            // A dot, or a delimiter (anything else).
            if !digits {
                return None;
            }
            out[n] = w as u8;
            n += 1;
            (w, digits) = (0, false);
            if c != b'.' {
                return (n == 4).then_some((out, s));
            }
            if n >= 4 {
                return None;
            }
        }
        s += 1;
    }
}

// Character classes and states of the IPv6 text parser.
const X_HEX: u32 = 1 << 0;
const X_COLON1: u32 = 1 << 1;
const X_COLON2: u32 = 1 << 2;
const X_COLON12: u32 = 1 << 3;
const X_COLONS: u32 = X_COLON1 | X_COLON2 | X_COLON12;
const X_DOT: u32 = 1 << 4;
const X_DELIM: u32 = 1 << 5;
const X_NULL: u32 = 1 << 6;

/// An IPv6 address at `i` in the kernel's reading: groups of up to four hex
/// digits, one `::`, an optional dotted quad at the end, ended by any byte
/// that is not a hex digit, colon or dot (`limit` acts as a terminator).
fn parse_v6(m: &[u8], i: usize, limit: usize) -> Option<([u8; 16], usize)> {
    let mut buf = [0u8; 16];
    let (mut d, mut dc, mut w, mut s) = (0usize, None::<usize>, 0u32, i);
    let mut tok = None::<usize>;
    let mut state = X_COLON12 | X_HEX | X_NULL;
    loop {
        let b = if s < limit { at(m, s) } else { 0 };
        let (class, val) = match b {
            b':' => (X_COLONS, 0),
            b'.' => (X_DOT, 0),
            _ => match char::from(b).to_digit(16) {
                Some(v) => (X_HEX, v),
                None => (X_DELIM, 0),
            },
        };
        if class & state == 0 {
            return None;
        }
        let mut group_end = false;
        if class & (X_DELIM | X_COLONS) != 0 {
            if state & X_NULL == 0 {
                *buf.get_mut(d)? = (w >> 8) as u8;
                *buf.get_mut(d + 1)? = w as u8;
                d += 2;
            }
            w = 0;
            if class & X_DELIM != 0 {
                break;
            }
            state = match state & X_COLONS {
                X_COLON2 => {
                    dc = Some(d);
                    if d >= 16 { X_HEX | X_DELIM | X_NULL } else { X_HEX | X_DELIM }
                }
                x if x == X_COLON1 | X_COLON12 => X_HEX | X_COLON2,
                X_COLON1 => X_HEX,
                X_COLON12 => X_COLON2,
                _ => 0,
            };
            tok = Some(s + 1);
            group_end = true;
        } else if class & X_DOT != 0 {
            let from = tok.unwrap_or(s);
            let (q, end) = parse_v4(m, from, limit)?;
            buf.get_mut(d..d + 4)?.copy_from_slice(&q);
            d += 4;
            s = end;
            break;
        }
        if !group_end {
            w = (w << 4) | val;
            state = X_COLON1 | X_DELIM;
            if w & 0xf000 == 0 {
                state |= X_HEX;
            }
            if dc.is_none() && d + 2 < 16 {
                state |= X_COLON12;
                state &= !X_DELIM;
            }
            if d + 2 >= 16 {
                state &= !(X_COLON1 | X_COLON12);
            }
        }
        if (dc.is_some() && d + 4 < 16) || d + 4 == 16 {
            state |= X_DOT;
        }
        if d >= 16 {
            state &= !(X_HEX | X_COLONS);
        }
        s += 1;
    }
    let mut out = [0u8; 16];
    match dc {
        Some(dc) => {
            // Groups after "::" go to the end, those before to the start.
            let tail = d.saturating_sub(dc);
            out[..dc.min(16)].copy_from_slice(&buf[..dc.min(16)]);
            if tail > 0 {
                out[16 - tail..].copy_from_slice(&buf[dc..d]);
            }
        }
        None => out = buf,
    }
    Some((out, s))
}

/// An address of the connection's family at `i`: a dotted quad, or IPv6,
/// in brackets if `brackets` (else brackets are optional).
fn parse_addr(m: &[u8], i: usize, limit: usize, family: Family, brackets: bool) -> Option<(IpAddr, usize)> {
    match family {
        Family::Ipv4 => parse_v4(m, i, limit).map(|(a, e)| (IpAddr::V4(Ipv4Addr::from(a)), e)),
        Family::Ipv6 => {
            let i = if i < limit && at(m, i) == b'[' {
                i + 1
            } else if brackets {
                return None;
            } else {
                i
            };
            let (a, mut e) = parse_v6(m, i, limit)?;
            if e < limit && at(m, e) == b']' {
                e += 1;
            } else if brackets {
                return None;
            }
            Some((IpAddr::V6(Ipv6Addr::from(a)), e))
        }
    }
}

// ---------------------------------------------------------------------------
// SIP headers

/// The SIP headers of the kernel's header table (`nf_conntrack_sip.c:
/// ct_sip_hdrs`). From, To, Via/TCP and Call-ID are read only by SIP NAT,
/// which ctrack does not do yet; the parser and its fuzz target keep them.
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
fn header_search(m: &[u8], mut p: usize, limit: usize, needle: &[u8]) -> Option<usize> {
    let limit = limit.checked_sub(needle.len())?;
    while p < limit {
        if is_nl(at(m, p)) {
            // The first byte after a continuation's blanks is not tried.
            p = follow_continuation(m, p, limit)? + 1;
            continue;
        }
        if eq_ci(m, p, needle) {
            return Some(p);
        }
        p += 1;
    }
    None
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || (c >= 0xc0 && c != 0xd7 && c != 0xf7)
        || b"!\"%()*+:<>?[\\]_`{}~-./'".contains(&c)
}

/// Length of the value at `p` and how far its interesting part is shifted
/// from `p` (0 if it does not parse).
fn value_len(m: &[u8], p: usize, limit: usize, v: Value, family: Family) -> (usize, usize) {
    match v {
        Value::Digits => (count_while(m, p, limit, |b| b.is_ascii_digit()), 0),
        Value::Addr => (addr_port_len(m, p, limit, family), 0),
        Value::UriAddr => {
            // Skip a user part, but only up to the end of the line.
            let user = count_while(m, p, limit, |b| b != b'@' && !is_nl(b));
            let shift = if p + user < limit && at(m, p + user) == b'@' { user + 1 } else { 0 };
            (addr_port_len(m, p + shift, limit, family), shift)
        }
        Value::CallId => {
            let w = count_while(m, p, limit, is_word);
            if w == 0 || p + w >= limit || at(m, p + w) != b'@' {
                return (w, 0);
            }
            match count_while(m, p + w + 1, limit, is_word) {
                0 => (0, 0),
                d => (w + 1 + d, 0),
            }
        }
    }
}

/// Length of `address[:digits]` at `p`, IPv6 in brackets; 0 if no address.
fn addr_port_len(m: &[u8], p: usize, limit: usize, family: Family) -> usize {
    let Some((_, mut e)) = parse_addr(m, p, limit, family, true) else { return 0 };
    if at(m, e) == b':' {
        e += 1;
        e += count_while(m, e, limit, |b| b.is_ascii_digit());
    }
    e - p
}

/// Find header `h` in `msg` at a line start after offset `from`.
pub fn find_header(msg: &[u8], from: usize, h: Header, family: Family) -> HeaderMatch {
    let Spec { name, compact: cname, search, value } = h.spec();
    let m = msg;
    let limit = m.len();
    let mut p = from;
    loop {
        let Some(q) = after_line_end(m, p) else { return HeaderMatch::None };
        p = q;
        if is_blank(m[p]) {
            p += 1;
            continue;
        }
        if eq_ci(m, p, name) {
            p += name.len();
        } else if let Some(c) = cname
            && limit - p > c.len()
            && eq_ci(m, p, c)
            && !is_alpha(m[p + c.len()])
        {
            p += c.len();
        } else {
            p += 1;
            continue;
        }
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
        return match value_len(m, v, limit, value, family) {
            (0, _) => HeaderMatch::Bad(start),
            (len, shift) => HeaderMatch::At(v + shift, len),
        };
    }
}

/// The next element of a comma-separated header value, after `from`.
fn next_in_header(m: &[u8], from: usize, h: Header, family: Family) -> HeaderMatch {
    let Spec { search, value, .. } = h.spec();
    let limit = m.len();
    let Some(c) = header_search(m, from, limit, b",") else { return HeaderMatch::None };
    let Some(needle) = search else { return HeaderMatch::None };
    let Some(s) = header_search(m, c, limit, needle) else { return HeaderMatch::None };
    let v = s + needle.len();
    match value_len(m, v, limit, value, family) {
        (0, _) => HeaderMatch::Bad(v),
        (len, shift) => HeaderMatch::At(v + shift, len),
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
    // Every `Bad` offset lies after the offset searched from: both loops advance.
    let mut off = from;
    if let Some(l) = in_list.as_deref_mut()
        && *l
    {
        loop {
            match next_in_header(m, off, h, family) {
                HeaderMatch::At(o, len) => return Some((o, len)),
                HeaderMatch::None => break,
                HeaderMatch::Bad(o) => off = o,
            }
        }
        *l = false;
    }
    loop {
        match find_header(m, off, h, family) {
            HeaderMatch::At(o, len) => {
                if let Some(l) = in_list {
                    *l = true;
                }
                return Some((o, len));
            }
            HeaderMatch::None => return None,
            HeaderMatch::Bad(o) => off = o,
        }
    }
}

/// A URI's address and port as a header names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri {
    /// The address.
    pub addr: IpAddr,
    /// The port (5060 if absent).
    pub port: u16,
    /// Offset just after `address[:port]`, where parameters start.
    pub end: usize,
}

/// The URI of header `h` (see [`walk_headers`]); `Err` if its port is not
/// 1024–65535.
fn header_uri(
    m: &[u8],
    from: usize,
    h: Header,
    family: Family,
    in_list: Option<&mut bool>,
) -> Result<Option<Uri>, ()> {
    let Some((off, len)) = walk_headers(m, from, h, family, in_list) else { return Ok(None) };
    let (addr, mut c) = parse_addr(m, off, m.len(), family, true).ok_or(())?;
    let port = if at(m, c) == b':' {
        let (p, e) = number(m, c + 1);
        c = e;
        let p = p as u32;
        if !(1024..=65535).contains(&p) {
            return Err(());
        }
        p as u16
    } else {
        SIP_PORT
    };
    Ok(Some(Uri { addr, port, end: (off + len).max(c) }))
}

/// The extent of the URI parameters after `from`: up to a comma or the end
/// of the header.
fn param_limit(m: &[u8], from: usize) -> usize {
    header_search(m, from, m.len(), b",").unwrap_or(m.len())
}

/// The value of parameter `name` (`"transport="`) after `from`.
fn param(m: &[u8], from: usize, name: &[u8]) -> Option<(usize, usize)> {
    let limit = param_limit(m, from);
    let s = header_search(m, from, limit, name)? + name.len();
    let e = header_search(m, s, limit, b";").unwrap_or(limit);
    Some((s, e.saturating_sub(s)))
}

/// The numeric parameter `name` after `from`: `Ok(None)` if absent, `Err`
/// if not a number.
fn numeric_param(m: &[u8], from: usize, name: &[u8]) -> Result<Option<u32>, ()> {
    let limit = param_limit(m, from);
    let Some(s) = header_search(m, from, limit, name) else { return Ok(None) };
    let s = s + name.len();
    let (v, e) = number_c(m, s);
    if e == s { Err(()) } else { Ok(Some(v as u32)) }
}

/// The transport a URI's `transport=` names, if it is the connection's
/// protocol (`proto`); the connection's protocol if none is named.
fn transport(m: &[u8], from: usize, proto: u8) -> Option<u8> {
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

/// A numeric header (`CSeq`, `Expires`) from the start.
fn header_number(m: &[u8], h: Header, family: Family) -> Option<(u64, usize)> {
    match find_header(m, 0, h, family) {
        HeaderMatch::At(o, l) => Some((number(m, o).0, o + l)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// SDP

#[derive(Clone, Copy, PartialEq, Eq)]
enum SdpLine {
    Version,
    Connection,
    Media,
}

impl SdpLine {
    fn name(self) -> &'static [u8] {
        match self {
            SdpLine::Version => b"v=",
            SdpLine::Connection => b"c=",
            SdpLine::Media => b"m=",
        }
    }
}

/// `needle` (case-sensitive) in the rest of the line at `p`.
fn sdp_search(m: &[u8], mut p: usize, limit: usize, needle: &[u8]) -> Option<usize> {
    let limit = limit.checked_sub(needle.len())?;
    while p < limit {
        if is_nl(at(m, p)) {
            return None;
        }
        if eq_cs(m, p, needle) {
            return Some(p);
        }
        p += 1;
    }
    None
}

/// Find SDP line `ty` at a line start after `from`, stopping at a line of
/// type `term`.
fn sdp_line(m: &[u8], from: usize, ty: SdpLine, term: Option<SdpLine>, family: Family) -> HeaderMatch {
    let limit = m.len();
    let name = ty.name();
    let mut p = from;
    loop {
        let Some(q) = after_line_end(m, p) else { return HeaderMatch::None };
        p = q;
        if term.is_some_and(|t| eq_ci(m, p, t.name())) {
            return HeaderMatch::None;
        }
        if !eq_ci(m, p, name) {
            p += 1;
            continue;
        }
        let mut v = p + name.len();
        let start = v;
        let len = match ty {
            SdpLine::Version => count_while(m, v, limit, |b| b.is_ascii_digit()),
            SdpLine::Connection => {
                let needle: &[u8] = match family {
                    Family::Ipv4 => b"IN IP4 ",
                    Family::Ipv6 => b"IN IP6 ",
                };
                let Some(s) = sdp_search(m, v, limit, needle) else { return HeaderMatch::Bad(start) };
                v = s + needle.len();
                parse_addr(m, v, limit, family, false).map_or(0, |(_, e)| e - v)
            }
            SdpLine::Media => {
                // Letters, one space, digits.
                let t = count_while(m, v, limit, is_alpha);
                if v + t >= limit || m[v + t] != b' ' {
                    0
                } else {
                    t + 1 + count_while(m, v + t + 1, limit, |b| b.is_ascii_digit())
                }
            }
        };
        return if len == 0 { HeaderMatch::Bad(start) } else { HeaderMatch::At(v, len) };
    }
}

/// The address of the `c=` line after `from`, before the next `m=` line.
fn sdp_connection(m: &[u8], from: usize, family: Family) -> Option<IpAddr> {
    match sdp_line(m, from, SdpLine::Connection, Some(SdpLine::Media), family) {
        HeaderMatch::At(o, l) => parse_addr(m, o, o + l, family, false).map(|(a, _)| a),
        _ => None,
    }
}

/// One media stream an SDP body announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media {
    /// [`CLASS_AUDIO`], [`CLASS_VIDEO`] or [`CLASS_IMAGE`].
    pub class: u8,
    /// Its connection address (the media's `c=`, else the session's).
    pub addr: IpAddr,
    /// Its port, 1024–65535.
    pub port: u16,
}

/// What an SDP body announces: up to three media in order, and the error
/// that stopped the reading, if any (the packet is then dropped, after the
/// media before it were expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sdp {
    /// The recognised media with a non-zero port.
    pub media: [Option<Media>; MAX_MEDIA],
    /// `"wrong port"` or `"cannot parse SDP message"`.
    pub error: Option<&'static str>,
}

/// Read the SDP body of SIP message `msg` on a connection of `family`.
pub fn parse_sdp(msg: &[u8], family: Family) -> Sdp {
    let m = msg;
    let mut sdp = Sdp::default();
    let HeaderMatch::At(sdpoff, _) = sdp_line(m, 0, SdpLine::Version, None, family) else { return sdp };
    let session = sdp_connection(m, sdpoff, family);
    let mut off = sdpoff;
    let mut n = 0;
    while n < MAX_MEDIA {
        let HeaderMatch::At(o, len) = sdp_line(m, off, SdpLine::Media, None, family) else { break };
        let kind = [(b"audio ", CLASS_AUDIO), (b"video ", CLASS_VIDEO), (b"image ", CLASS_IMAGE)]
            .into_iter()
            .find(|(name, _)| len >= name.len() && eq_cs(m, o, *name));
        let Some((name, class)) = kind else {
            off = o + len;
            continue;
        };
        off = o + name.len();
        let port = number(m, off).0 as u32;
        if port == 0 {
            // An inactive stream.
            continue;
        }
        if !(1024..=65535).contains(&port) {
            sdp.error = Some("wrong port");
            break;
        }
        let Some(addr) = sdp_connection(m, off, family).or(session) else {
            sdp.error = Some("cannot parse SDP message");
            break;
        };
        sdp.media[n] = Some(Media { class, addr, port: port as u16 });
        n += 1;
    }
    sdp
}

// ---------------------------------------------------------------------------
// Messages

/// Request methods with a handler, in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Invite,
    Update,
    Ack,
    Prack,
    Bye,
    Register,
}

const METHODS: [(Method, &[u8]); 6] = [
    (Method::Invite, b"INVITE"),
    (Method::Update, b"UPDATE"),
    (Method::Ack, b"ACK"),
    (Method::Prack, b"PRACK"),
    (Method::Bye, b"BYE"),
    (Method::Register, b"REGISTER"),
];

/// The sequence number of a message: required, and numeric.
fn cseq(m: &[u8], family: Family) -> Result<(u32, usize), HelperDrop> {
    let HeaderMatch::At(o, l) = find_header(m, 0, Header::CSeq, family) else {
        return Err(HelperDrop("cannot parse cseq"));
    };
    let v = number(m, o).0 as u32;
    if v == 0 && at(m, o) != b'0' {
        return Err(HelperDrop("cannot get cseq"));
    }
    Ok((v, o + l))
}

struct Msg<'m> {
    m: &'m [u8],
    family: Family,
    proto: u8,
    dir: Direction,
}

fn process_msg(cx: &mut HelperContext<'_>, m: &[u8]) -> Result<(), HelperDrop> {
    let orig = cx.tuple(Direction::Original);
    let msg = Msg { m, family: orig.family(), proto: orig.proto(), dir: cx.dir() };
    if eq_ci(m, 0, b"SIP/2.0 ") { response(cx, &msg) } else { request(cx, &msg) }
}

fn request(cx: &mut HelperContext<'_>, msg: &Msg<'_>) -> Result<(), HelperDrop> {
    let m = msg.m;
    let me = cx.tuple(msg.dir);
    // A phone announcing another port for responses in its Via (used by NAT).
    if let Ok(Some(via)) = header_uri(m, 0, Header::ViaUdp, msg.family, None)
        && via.addr == me.src()
        && Some(via.port) != me.sport()
    {
        let mut st: SipState = cx.load();
        st.forced_dport = via.port;
        cx.store(&st);
    }
    for (method, name) in METHODS {
        if m.len() < name.len() + 2 || !eq_ci(m, 0, name) {
            continue;
        }
        if m[name.len()] != b' ' || !is_alpha(m[name.len() + 1]) {
            continue;
        }
        let (cseq, _) = cseq(m, msg.family)?;
        return match method {
            Method::Invite => {
                flush_media(cx);
                process_sdp(cx, msg)?;
                let mut st: SipState = cx.load();
                st.invite_cseq = cseq;
                cx.store(&st);
                Ok(())
            }
            Method::Update | Method::Ack | Method::Prack => process_sdp(cx, msg),
            Method::Bye => {
                flush_media(cx);
                Ok(())
            }
            Method::Register => register_request(cx, msg, cseq),
        };
    }
    Ok(())
}

fn response(cx: &mut HelperContext<'_>, msg: &Msg<'_>) -> Result<(), HelperDrop> {
    let m = msg.m;
    if m.len() < MIN_MSG {
        return Ok(());
    }
    let code = number(m, 8).0 as u32;
    if code == 0 {
        return Err(HelperDrop("cannot get code"));
    }
    let (cseq, end) = cseq(m, msg.family)?;
    let method_at = end + 1;
    for (method, name) in METHODS {
        if matches!(method, Method::Ack | Method::Bye) {
            continue;
        }
        if m.len() < method_at + name.len() || !eq_ci(m, method_at, name) {
            continue;
        }
        if method == Method::Register {
            return register_response(cx, msg, cseq, code);
        }
        if (100..=299).contains(&code) {
            return process_sdp(cx, msg);
        }
        if cx.load::<SipState>().invite_cseq == cseq {
            flush_media(cx);
        }
        return Ok(());
    }
    Ok(())
}

/// Remove this connection's media expectations.
fn flush_media(cx: &mut HelperContext<'_>) {
    cx.unexpect(&mut |e| e.class() != CLASS_SIGNALLING);
}

/// Remove this connection's (one) registration expectation.
fn flush_signalling(cx: &mut HelperContext<'_>) {
    let mut done = false;
    cx.unexpect(&mut |e| {
        let hit = !done && e.class() == CLASS_SIGNALLING;
        done |= hit;
        hit
    });
}

fn process_sdp(cx: &mut HelperContext<'_>, msg: &Msg<'_>) -> Result<(), HelperDrop> {
    let sdp = parse_sdp(msg.m, msg.family);
    for media in sdp.media.iter().flatten() {
        expect_rtp_rtcp(cx, msg.dir, media)?;
    }
    match sdp.error {
        Some(e) => Err(HelperDrop(e)),
        None => Ok(()),
    }
}

/// Expect the RTP and RTCP flows of `media` from the signalling peer.
fn expect_rtp_rtcp(cx: &mut HelperContext<'_>, dir: Direction, media: &Media) -> Result<(), HelperDrop> {
    const FAIL: HelperDrop = HelperDrop("cannot add expectation for voice");
    // Direct media: only streams the sender itself will receive.
    if media.addr != cx.tuple(dir).src() {
        return Ok(());
    }
    let peer = cx.tuple(dir.opposite()).src();
    let rtp = media.port & !1;
    let make = |port| {
        Tuple::with_ports(peer, 0, media.addr, port, 17)
            .map(|t| Expectation::from_any_port(t).with_class(media.class))
    };
    let (Some(rtp_exp), Some(rtcp_exp)) = (make(rtp), make(rtp + 1)) else { return Err(FAIL) };
    // Another call leg (another master with this helper) already expects
    // this stream: Linux creates neither RTP nor RTCP then.
    if cx.expected_elsewhere(&rtp_exp.tuple(), media.class) {
        return Ok(());
    }
    // An identical expectation (another master's, or another class) counts
    // as set up.
    let created = match cx.expect(rtp_exp) {
        Ok(()) => true,
        Err(ExpectError::Exists) => false,
        Err(_) => return Err(FAIL),
    };
    match cx.expect(rtcp_exp) {
        Ok(()) | Err(ExpectError::Exists) => Ok(()),
        Err(_) => {
            if created {
                cx.unexpect(&mut |e| *e == rtp_exp);
            }
            Err(FAIL)
        }
    }
}

fn register_request(cx: &mut HelperContext<'_>, msg: &Msg<'_>, cseq: u32) -> Result<(), HelperDrop> {
    let m = msg.m;
    // Expected connections (incoming calls) do not register again.
    if cx.is_expected() {
        return Ok(());
    }
    let mut expires = header_number(m, Header::Expires, msg.family).map_or(0, |(v, _)| v as u32);
    let contact = match header_uri(m, 0, Header::Contact, msg.family, None) {
        Err(()) => return Err(HelperDrop("cannot parse contact")),
        Ok(None) => return Ok(()),
        Ok(Some(c)) => c,
    };
    // No third-party registrations.
    if contact.addr != cx.tuple(msg.dir).src() {
        return Ok(());
    }
    let Some(proto) = transport(m, contact.end, msg.proto) else { return Ok(()) };
    match numeric_param(m, contact.end, b"expires=") {
        Err(()) => return Err(HelperDrop("cannot parse expires")),
        Ok(Some(v)) => expires = v,
        Ok(None) => {}
    }
    if expires != 0 {
        let registrar = cx.tuple(msg.dir.opposite()).src();
        let t = Tuple::with_ports(registrar, 0, contact.addr, contact.port, proto)
            .ok_or(HelperDrop("cannot add expectation"))?;
        let exp = Expectation::from_any_port(t)
            .with_class(CLASS_SIGNALLING)
            .with_flags(ExpectFlags::PERMANENT | ExpectFlags::INACTIVE)
            .with_helper(cx.helper_id());
        cx.expect(exp).map_err(|_| HelperDrop("cannot add expectation"))?;
    }
    let mut st: SipState = cx.load();
    st.register_cseq = cseq;
    cx.store(&st);
    Ok(())
}

fn register_response(
    cx: &mut HelperContext<'_>,
    msg: &Msg<'_>,
    cseq: u32,
    code: u32,
) -> Result<(), HelperDrop> {
    let m = msg.m;
    // Only the answer to the last accepted REGISTER (late answers to
    // retransmissions are ignored).
    if cx.load::<SipState>().register_cseq != cseq || (100..=199).contains(&code) {
        return Ok(());
    }
    if (200..=299).contains(&code) {
        let expires = header_number(m, Header::Expires, msg.family).map_or(0, |(v, _)| v as u32);
        let ua = cx.tuple(msg.dir).dst();
        let (mut from, mut in_list) = (0usize, false);
        loop {
            let contact = match header_uri(m, from, Header::Contact, msg.family, Some(&mut in_list)) {
                Err(()) => return Err(HelperDrop("cannot parse contact")),
                Ok(None) => break,
                Ok(Some(c)) => c,
            };
            if contact.end <= from {
                break;
            }
            from = contact.end;
            if contact.addr != ua {
                continue;
            }
            let Some(proto) = transport(m, contact.end, msg.proto) else { continue };
            let c_expires = match numeric_param(m, contact.end, b"expires=") {
                Err(()) => return Err(HelperDrop("cannot parse expires")),
                Ok(v) => v.unwrap_or(expires),
            };
            if c_expires == 0 {
                break;
            }
            let found = cx.activate(
                &mut |e| {
                    e.class() == CLASS_SIGNALLING
                        && e.tuple().dst() == contact.addr
                        && e.tuple().proto() == proto
                        && e.tuple().dport() == Some(contact.port)
                },
                c_expires,
            );
            if found {
                return Ok(());
            }
        }
    }
    flush_signalling(cx);
    Ok(())
}

impl Helper for Sip {
    fn name(&self) -> &'static str {
        "sip"
    }

    fn policy(&self, class: u8) -> ExpectPolicy {
        let (max_expected, name) = match class {
            CLASS_SIGNALLING => (1, "signalling"),
            CLASS_AUDIO => (4, "audio"),
            CLASS_VIDEO => (4, "video"),
            _ => (2, "image"),
        };
        ExpectPolicy::new(max_expected, 180).named(name)
    }

    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        let payload = cx.payload();
        if payload.is_empty() {
            return Ok(());
        }
        if cx.tuple(Direction::Original).proto() != 6 {
            cx.set_timeout(SIP_TIMEOUT);
            return if payload.len() < MIN_MSG { Ok(()) } else { process_msg(cx, payload) };
        }
        if cx.state() != CtState::Established {
            return Ok(());
        }
        cx.set_timeout(SIP_TIMEOUT);
        if payload.len() < MIN_MSG {
            return Ok(());
        }
        // A segment may hold several messages, each delimited by its
        // Content-Length; one running past the segment ends the work.
        let mut rest = payload;
        loop {
            let family = cx.tuple(Direction::Original).family();
            let HeaderMatch::At(o, _) = find_header(rest, 0, Header::ContentLength, family) else { break };
            let (clen, end) = number(rest, o);
            let Some(head) = rest.get(end..).and_then(|r| r.windows(4).position(|w| w == b"\r\n\r\n")) else {
                break;
            };
            // The message length: headers, blank line, body. A length past
            // the segment (or past any address, for a hostile Content-Length)
            // ends the work, as in `nf_conntrack_sip.c: sip_help_tcp()`.
            let head_len = end + head + 4;
            let Some(len) = usize::try_from(clen).ok().and_then(|c| c.checked_add(head_len)) else {
                return Ok(());
            };
            let Some((msg, next)) = rest.split_at_checked(len) else {
                return Ok(());
            };
            process_msg(cx, msg)?;
            rest = next;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::{ExpectSlot, Expects};
    use crate::helper::HelperData;
    use crate::stats::Stats;
    use crate::time::Tick;
    use proptest::prelude::*;
    use std::vec::Vec;

    const V4: Family = Family::Ipv4;
    const V6: Family = Family::Ipv6;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn at_text(m: &[u8], r: HeaderMatch) -> &str {
        match r {
            HeaderMatch::At(o, l) => core::str::from_utf8(&m[o..o + l]).unwrap(),
            other => panic!("not found: {other:?}"),
        }
    }

    #[test]
    fn addresses() {
        let v4 = |s: &str| parse_v4(s.as_bytes(), 0, s.len()).map(|(a, e)| (Ipv4Addr::from(a), e));
        assert_eq!(v4("192.0.2.10"), Some((Ipv4Addr::new(192, 0, 2, 10), 10)));
        assert_eq!(v4("192.0.2.10:5060"), Some((Ipv4Addr::new(192, 0, 2, 10), 10)));
        assert_eq!(v4("010.0.0.1>"), Some((Ipv4Addr::new(10, 0, 0, 1), 9)));
        assert_eq!(v4("192.0.2.10a"), None);
        assert_eq!(v4("192.0.2"), None);
        assert_eq!(v4("192.0.2.10.1"), None);
        assert_eq!(v4("256.0.0.1"), None);
        assert_eq!(v4("1..2.3"), None);
        assert_eq!(v4(""), None);
        let v6 = |s: &str| parse_v6(s.as_bytes(), 0, s.len()).map(|(a, e)| (Ipv6Addr::from(a), e));
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(v6("2001:db8::1]"), Some((a("2001:db8::1"), 11)));
        assert_eq!(v6("::1"), Some((a("::1"), 3)));
        assert_eq!(v6("::"), Some((a("::"), 2)));
        assert_eq!(v6("1:2:3:4:5:6:7:8 x"), Some((a("1:2:3:4:5:6:7:8"), 15)));
        assert_eq!(v6("fe80::1:2:3"), Some((a("fe80::1:2:3"), 11)));
        assert_eq!(v6("::ffff:192.0.2.1"), Some((a("::ffff:192.0.2.1"), 16)));
        assert_eq!(v6("1:2:3:4:5:6:7"), None);
        assert_eq!(v6("1:2:3:4:5:6:7:8:9"), None);
        assert_eq!(v6("12345::1"), None);
        assert_eq!(v6("1:::2"), None);
        assert_eq!(v6("1::2::3"), None);
        // Brackets: required in SIP URIs, optional in SDP.
        let b = b"[2001:db8::5]:5070";
        assert_eq!(parse_addr(b, 0, b.len(), V6, true), Some((ip("2001:db8::5"), 13)));
        assert_eq!(parse_addr(b"2001:db8::5", 0, 11, V6, true), None);
        assert_eq!(parse_addr(b"2001:db8::5", 0, 11, V6, false), Some((ip("2001:db8::5"), 11)));
        assert_eq!(parse_addr(b"192.0.2.1", 0, 9, V6, false), None);
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
        assert_eq!(uri(b"X\r\nContact: <sip:192.0.2.1:1023>\r\n", V4), Err(()));
        assert_eq!(uri(b"X\r\nContact: <sip:192.0.2.1:65536>\r\n", V4), Err(()));
        assert_eq!(uri(b"X\r\nContact: <sip:192.0.2.1:x>\r\n", V4), Err(()));
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
        assert_eq!(numeric_param(m, u.end, b"expires="), Ok(Some(16)));
        let m = b"X\r\nContact: <sip:192.0.2.1>;expires=soon\r\n";
        let u = header_uri(m, 0, Header::Contact, V4, None).unwrap().unwrap();
        assert_eq!(numeric_param(m, u.end, b"expires="), Err(()));
        assert_eq!(transport(m, u.end, 17), Some(17));
        let m = b"X\r\nContact: <sip:192.0.2.1>, <sip:192.0.2.2>;expires=5\r\n";
        assert_eq!(numeric_param(m, 19, b"expires="), Ok(None));
    }

    fn media(class: u8, addr: &str, port: u16) -> Option<Media> {
        Some(Media { class, addr: ip(addr), port })
    }

    #[test]
    fn sdp_session_and_media_addresses() {
        let m = b"INVITE x SIP/2.0\r\nl: 1\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.99\r\n\
            c=IN IP4 192.0.2.10\r\nt=0 0\r\n\
            m=audio 49170 RTP/AVP 0\r\n\
            m=video 51372 RTP/AVP 31\r\nc=IN IP4 192.0.2.11/127\r\n\
            m=image 6001 udptl t38\r\n";
        let sdp = parse_sdp(m, V4);
        assert_eq!(sdp.error, None);
        assert_eq!(
            sdp.media,
            [
                media(CLASS_AUDIO, "192.0.2.10", 49170),
                media(CLASS_VIDEO, "192.0.2.11", 51372),
                media(CLASS_IMAGE, "192.0.2.10", 6001),
            ]
        );
        // A c= line after the first m= line is not the session's.
        let m = b"X\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n";
        assert_eq!(parse_sdp(m, V4).error, Some("cannot parse SDP message"));
        // IPv6.
        let m = b"X\r\n\r\nv=0\r\nc=IN IP6 2001:db8::10\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(parse_sdp(m, V6).media[0], media(CLASS_AUDIO, "2001:db8::10", 4000));
        assert_eq!(parse_sdp(m, V4).error, Some("cannot parse SDP message"));
        // No v= line: no SDP.
        assert_eq!(
            parse_sdp(b"X\r\n\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n", V4),
            Sdp::default()
        );
    }

    #[test]
    fn sdp_ports_types_and_limits() {
        let sdp = |body: &str| {
            let mut m = Vec::from(&b"X\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\n"[..]);
            m.extend_from_slice(body.as_bytes());
            parse_sdp(&m, V4)
        };
        // Port 0 is an inactive stream and does not count.
        let s = sdp("m=audio 0 RTP/AVP 0\r\nm=audio 4000 RTP/AVP 0\r\n");
        assert_eq!(s.media, [media(CLASS_AUDIO, "192.0.2.1", 4000), None, None]);
        // Out-of-range ports stop the reading with an error.
        let s = sdp("m=audio 4000 RTP/AVP 0\r\nm=audio 1023 RTP/AVP 0\r\nm=audio 5000 RTP/AVP 0\r\n");
        assert_eq!((s.media[0].is_some(), s.media[1], s.error), (true, None, Some("wrong port")));
        assert_eq!(sdp("m=video 65536 RTP/AVP 0\r\n").error, Some("wrong port"));
        // Unknown and case-mismatched media types are skipped.
        let s = sdp(
            "m=application 9 TCP/BFCP *\r\nm=Audio 4000 RTP/AVP 0\r\nm=text 4002 RTP/AVP 0\r\nm=video 4004 RTP/AVP 0\r\n",
        );
        assert_eq!(s.media, [media(CLASS_VIDEO, "192.0.2.1", 4004), None, None]);
        // At most three media.
        let s = sdp(
            "m=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\nm=audio 4004 RTP/AVP 0\r\nm=audio 80 RTP/AVP 0\r\n",
        );
        assert_eq!((s.media.iter().flatten().count(), s.error), (3, None));
        // A malformed m= line ends the media list.
        let s = sdp("m=audio\r\nm=audio 4000 RTP/AVP 0\r\n");
        assert_eq!(s, Sdp::default());
        // No address at all.
        let s = parse_sdp(b"X\r\n\r\nv=0\r\nc=IN IP4 host.example\r\nm=audio 4000 RTP/AVP 0\r\n", V4);
        assert_eq!(s.error, Some("cannot parse SDP message"));
    }

    /// A master connection with its own expectation table.
    struct Rig {
        orig: Tuple,
        slots: [ExpectSlot; 16],
        book: crate::expect::ExpectBook,
        stats: Stats,
        data: HelperData,
        now: Tick,
        expected: bool,
    }

    impl Rig {
        fn new(orig: Tuple) -> Rig {
            Rig {
                orig,
                slots: [ExpectSlot::EMPTY; 16],
                book: Default::default(),
                stats: Stats::default(),
                data: HelperData::default(),
                now: Tick(1000),
                expected: false,
            }
        }

        fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Rig {
            Rig::new(Tuple::with_ports(ip(src), sport, ip(dst), dport, 17).unwrap())
        }

        fn run(
            &mut self,
            dir: Direction,
            state: CtState,
            payload: &[u8],
        ) -> (Result<(), HelperDrop>, Option<u32>) {
            let mut cx = HelperContext {
                now: self.now,
                dir,
                state,
                orig: self.orig,
                expected: self.expected,
                payload,
                tcp_seq: (self.orig.proto() == 6).then_some(1),
                data: &mut self.data,
                helper: &SIP,
                helper_id: crate::expect::HelperId(0),
                master: 7,
                zone: 0,
                broadcast_prefix: None,
                expects: Expects { slots: &mut self.slots, book: &mut self.book, stats: &mut self.stats },
                new_timeout: None,
            };
            let r = SIP.help(&mut cx);
            (r, cx.new_timeout)
        }

        fn send(&mut self, dir: Direction, payload: &str) -> Result<(), HelperDrop> {
            let state = if dir == Direction::Reply { CtState::Established } else { CtState::New };
            self.run(dir, state, payload.as_bytes()).0
        }

        /// (class, flags, source, destination, destination port, seconds left)
        fn expectations(&self) -> Vec<(u8, ExpectFlags, IpAddr, IpAddr, u16, u32)> {
            let mut v: Vec<_> = self
                .slots
                .iter()
                .filter_map(|s| s.0)
                .map(|p| {
                    let t = p.exp.tuple;
                    (
                        p.exp.class,
                        p.exp.flags,
                        t.src(),
                        t.dst(),
                        t.dport().unwrap(),
                        p.deadline.secs_left(self.now),
                    )
                })
                .collect();
            v.sort_by_key(|e| (e.3, e.4));
            v
        }
    }

    fn invite(cseq: u32, addr: &str, port: u16) -> std::string::String {
        let sdp = std::format!(
            "v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
        );
        std::format!(
            "INVITE sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060\r\n\
             CSeq: {cseq} INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    fn answer(code: &str, cseq: u32, method: &str, addr: &str, port: u16) -> std::string::String {
        let sdp = std::format!("v=0\r\nc=IN IP4 {addr}\r\nm=audio {port} RTP/AVP 0\r\n");
        std::format!("SIP/2.0 {code}\r\nCSeq: {cseq} {method}\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len())
    }

    #[test]
    fn worked_example() {
        use Direction::{Original, Reply};
        let (ua, proxy) = (ip("192.0.2.10"), ip("198.51.100.20"));
        let mut rig = Rig::udp("192.0.2.10", 5060, "198.51.100.20", 5060);
        let (r, timeout) = rig.run(Original, CtState::New, invite(1, "192.0.2.10", 49170).as_bytes());
        assert_eq!((r, timeout), (Ok(()), Some(3600)));
        assert_eq!(
            rig.expectations(),
            [
                (CLASS_AUDIO, ExpectFlags::empty(), proxy, ua, 49170, 180),
                (CLASS_AUDIO, ExpectFlags::empty(), proxy, ua, 49171, 180)
            ]
        );
        assert_eq!(SipState::load(&mut StateReader::new(&rig.data)).invite_cseq, 1);
        // The 200 OK from the proxy adds the proxy's media.
        rig.send(Reply, &answer("200 OK", 1, "INVITE", "198.51.100.20", 3456)).unwrap();
        assert_eq!(rig.expectations().len(), 4);
        assert!(rig.expectations().contains(&(CLASS_AUDIO, ExpectFlags::empty(), ua, proxy, 3456, 180)));
        assert!(rig.expectations().contains(&(CLASS_AUDIO, ExpectFlags::empty(), ua, proxy, 3457, 180)));
        // A failure answer to another CSeq changes nothing; to the INVITE's removes the media.
        rig.send(Reply, &answer("486 Busy Here", 2, "INVITE", "198.51.100.20", 3456)).unwrap();
        assert_eq!(rig.expectations().len(), 4);
        rig.send(Reply, &answer("486 Busy Here", 1, "INVITE", "198.51.100.20", 3456)).unwrap();
        assert_eq!(rig.expectations(), []);
    }

    #[test]
    fn media_rules() {
        use Direction::{Original, Reply};
        let mut rig = Rig::udp("192.0.2.10", 5060, "198.51.100.20", 5060);
        // Direct media: an SDP naming a third party expects nothing.
        rig.send(Original, &invite(1, "203.0.113.5", 49170)).unwrap();
        assert_eq!(rig.expectations(), []);
        // Odd port: RTP is the even one below.
        rig.send(Original, &invite(2, "192.0.2.10", 49171)).unwrap();
        let ports: Vec<u16> = rig.expectations().iter().map(|e| e.4).collect();
        assert_eq!(ports, [49170, 49171]);
        // A new INVITE replaces the media; BYE removes them.
        rig.send(Original, &invite(3, "192.0.2.10", 50000)).unwrap();
        let ports: Vec<u16> = rig.expectations().iter().map(|e| e.4).collect();
        assert_eq!(ports, [50000, 50001]);
        rig.send(Original, "BYE sip:bob@198.51.100.20 SIP/2.0\r\nCSeq: 4 BYE\r\n\r\n").unwrap();
        assert_eq!(rig.expectations(), []);
        // Requests with a handler need a CSeq; others do not.
        assert_eq!(
            rig.send(Original, "BYE sip:bob SIP/2.0\r\nTo: x\r\n\r\n"),
            Err(HelperDrop("cannot parse cseq"))
        );
        assert_eq!(
            rig.send(Original, "BYE sip:bob SIP/2.0\r\nCSeq: x\r\n\r\n"),
            Err(HelperDrop("cannot parse cseq"))
        );
        assert_eq!(rig.send(Original, "OPTIONS sip:bob SIP/2.0\r\nTo: x\r\n\r\n"), Ok(()));
        // Responses need a status code and a CSeq.
        assert_eq!(
            rig.send(Reply, "SIP/2.0 xyz OK\r\nCSeq: 1 INVITE\r\n\r\n"),
            Err(HelperDrop("cannot get code"))
        );
        assert_eq!(rig.send(Reply, "SIP/2.0 200 OK\r\nTo: x\r\n\r\n"), Err(HelperDrop("cannot parse cseq")));
        // Bad SDP drops the packet.
        assert_eq!(rig.send(Original, &invite(5, "192.0.2.10", 80)), Err(HelperDrop("wrong port")));
        // Short UDP payloads only refresh the timeout.
        assert_eq!(rig.run(Original, CtState::Established, b"BYE x SIP"), (Ok(()), Some(3600)));
        assert_eq!(rig.run(Original, CtState::Established, b""), (Ok(()), None));
    }

    #[test]
    fn registration() {
        use Direction::{Original, Reply};
        let (ua, registrar) = (ip("192.0.2.10"), ip("198.51.100.20"));
        let register = |cseq: u32, contact: &str| {
            std::format!(
                "REGISTER sip:198.51.100.20 SIP/2.0\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\n\
                 Expires: 3600\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let ok = |cseq: u32, contact: &str| {
            std::format!(
                "SIP/2.0 200 OK\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let mut rig = Rig::udp("192.0.2.10", 5060, "198.51.100.20", 5060);
        rig.send(Original, &register(1, "<sip:alice@192.0.2.10:5070>")).unwrap();
        assert_eq!(
            rig.expectations(),
            [(CLASS_SIGNALLING, ExpectFlags::PERMANENT | ExpectFlags::INACTIVE, registrar, ua, 5070, 180)]
        );
        let e = rig.slots.iter().find_map(|s| s.0).unwrap().exp;
        assert_eq!(e.helper, Some(crate::expect::HelperId(0)));
        assert!(e.any_src_port && e.tuple.proto() == 17);
        // An answer to another REGISTER, or a provisional one, changes nothing.
        rig.send(Reply, &ok(2, "<sip:alice@192.0.2.10:5070>;expires=600")).unwrap();
        rig.send(Reply, "SIP/2.0 100 Trying\r\nCSeq: 1 REGISTER\r\n\r\n").unwrap();
        assert_eq!(rig.expectations()[0].1, ExpectFlags::PERMANENT | ExpectFlags::INACTIVE);
        // The 200 OK activates it for the contact's expires.
        rig.send(Reply, &ok(1, "<sip:x@192.0.2.99>, <sip:alice@192.0.2.10:5070>;expires=600")).unwrap();
        assert_eq!(
            rig.expectations(),
            [(CLASS_SIGNALLING, ExpectFlags::PERMANENT, registrar, ua, 5070, 600)]
        );
        // A failure answer removes it.
        rig.send(Reply, "SIP/2.0 403 Forbidden\r\nCSeq: 1 REGISTER\r\n\r\n").unwrap();
        assert_eq!(rig.expectations(), []);
        // Unregistering (expires 0) expects nothing; third parties are ignored.
        rig.send(Original, &register(3, "<sip:alice@192.0.2.10>;expires=0")).unwrap();
        assert_eq!(
            (rig.expectations().len(), SipState::load(&mut StateReader::new(&rig.data)).register_cseq),
            (0, 3)
        );
        rig.send(Original, &register(4, "<sip:alice@192.0.2.77>")).unwrap();
        rig.send(Original, &register(5, "<sip:alice@192.0.2.10;transport=tcp>")).unwrap();
        assert_eq!(
            (rig.expectations().len(), SipState::load(&mut StateReader::new(&rig.data)).register_cseq),
            (0, 3)
        );
        // Bad contacts drop.
        assert_eq!(
            rig.send(Original, &register(6, "<sip:alice@192.0.2.10:99>")),
            Err(HelperDrop("cannot parse contact"))
        );
        assert_eq!(
            rig.send(Original, &register(7, "<sip:alice@192.0.2.10>;expires=never")),
            Err(HelperDrop("cannot parse expires"))
        );
        // Expected connections do not register.
        rig.expected = true;
        rig.send(Original, &register(8, "<sip:alice@192.0.2.10>")).unwrap();
        assert_eq!(rig.expectations(), []);
    }

    #[test]
    fn tcp_segments() {
        use Direction::{Original, Reply};
        let t = Tuple::with_ports(ip("192.0.2.10"), 40000, ip("198.51.100.20"), 5060, 6).unwrap();
        let mut rig = Rig::new(t);
        let a = invite(1, "192.0.2.10", 49170);
        // Not established: nothing, not even the timeout.
        assert_eq!(rig.run(Original, CtState::New, a.as_bytes()), (Ok(()), None));
        assert_eq!(rig.expectations(), []);
        // Two messages in one segment.
        let two = std::format!("{a}{}", invite(2, "192.0.2.10", 50000));
        assert_eq!(rig.run(Original, CtState::Established, two.as_bytes()), (Ok(()), Some(3600)));
        let ports: Vec<u16> = rig.expectations().iter().map(|e| e.4).collect();
        assert_eq!(ports, [50000, 50001]);
        // A message cut short by the segment end is not processed.
        let cut = &a.as_bytes()[..a.len() - 3];
        assert_eq!(rig.run(Original, CtState::Established, cut), (Ok(()), Some(3600)));
        assert_eq!(rig.expectations().len(), 2);
        // Without Content-Length nothing is processed.
        let bye = b"BYE sip:bob SIP/2.0\r\nCSeq: 3 BYE\r\n\r\n";
        assert_eq!(rig.run(Reply, CtState::Established, bye), (Ok(()), Some(3600)));
        assert_eq!(rig.expectations().len(), 2);
        let bye = b"BYE sip:bob SIP/2.0\r\nCSeq: 3 BYE\r\nl: 0\r\n\r\n";
        assert_eq!(rig.run(Reply, CtState::Established, bye), (Ok(()), Some(3600)));
        assert_eq!(rig.expectations(), []);
    }

    #[test]
    fn policies() {
        let p: Vec<_> = (0..4).map(|c| SIP.policy(c)).collect();
        assert_eq!(p.iter().map(|p| p.max_expected).collect::<Vec<_>>(), [1, 4, 4, 2]);
        assert!(p.iter().all(|p| p.timeout == 180));
        assert_eq!(
            p.iter().map(|p| p.name.unwrap()).collect::<Vec<_>>(),
            ["signalling", "audio", "video", "image"]
        );
        assert_eq!(crate::helper::builtin("sip").map(|h| h.helper.name()), Some("sip"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), v6 in any::<bool>()) {
            let family = if v6 { V6 } else { V4 };
            let _ = parse_sdp(&bytes, family);
            for h in [Header::CSeq, Header::From, Header::To, Header::Contact, Header::ViaUdp,
                      Header::ViaTcp, Header::Expires, Header::ContentLength, Header::CallId] {
                let _ = find_header(&bytes, 0, h, family);
                let _ = header_uri(&bytes, 0, h, family, Some(&mut true));
            }
            let (a, b) = if v6 { ("2001:db8::1", "2001:db8::2") } else { ("192.0.2.1", "192.0.2.2") };
            for proto in [6, 17] {
                let mut rig = Rig::new(Tuple::with_ports(ip(a), 5060, ip(b), 5060, proto).unwrap());
                for dir in [Direction::Original, Direction::Reply] {
                    let _ = rig.run(dir, CtState::Established, &bytes);
                }
            }
        }

        #[test]
        fn mutated_messages_never_panic(
            cut in 0usize..400,
            edits in proptest::collection::vec((0usize..400, any::<u8>()), 0..8),
        ) {
            let mut m = Vec::from(invite(1, "192.0.2.10", 49170).as_bytes());
            m.extend_from_slice(b"Contact: <sip:a@192.0.2.10:5070>, <sip:[::1]>;expires=5\r\n");
            for (i, b) in edits {
                if let Some(x) = m.get_mut(i) {
                    *x = b;
                }
            }
            m.truncate(cut.max(1) + 100);
            let mut rig = Rig::udp("192.0.2.10", 5060, "198.51.100.20", 5060);
            let _ = rig.run(Direction::Original, CtState::New, &m);
            let mut rig = Rig::udp("192.0.2.10", 5060, "198.51.100.20", 5060);
            m[..8].copy_from_slice(b"SIP/2.0 ");
            let _ = rig.run(Direction::Reply, CtState::Established, &m);
        }
    }
}
