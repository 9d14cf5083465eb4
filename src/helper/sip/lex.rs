//! Byte-level scanning, the one job of this file: bounded reads,
//! case-insensitive and exact comparison, line ends and line starts,
//! blanks, the kernel's character classes and numbers. These are the
//! small scanners at the top of `nf_conntrack_sip.c` (`string_len()`,
//! `digits_len()`, `iswordc()`, the line-start loop of
//! `ct_sip_get_header()`) and the readers of numbers and ports its callers
//! use (`sip_strtouint()`, `sip_parse_port()`).
//!
//! Offsets index the whole message. A read at or past the end (or past a
//! `limit`) gives 0, the byte where the C code would meet its terminator
//! or its bound, so that no scan here can fail on short input.

/// The byte at `i`, or 0 past the end (where C would read a terminator).
pub(super) fn at(m: &[u8], i: usize) -> u8 {
    m.get(i).copied().unwrap_or(0)
}

/// The byte at `i` if `i` is before `limit`, else 0: `limit` acts as a
/// terminator.
pub(super) fn at_before(m: &[u8], i: usize, limit: usize) -> u8 {
    if i < limit { at(m, i) } else { 0 }
}

/// The `n` bytes at `i`, if the message has them.
fn window(m: &[u8], i: usize, n: usize) -> Option<&[u8]> {
    m.get(i..)?.get(..n)
}

/// Case-insensitive comparison of `m[i..]` with `s` (`strncasecmp()`);
/// false if too short.
pub(super) fn eq_ci(m: &[u8], i: usize, s: &[u8]) -> bool {
    window(m, i, s.len()).is_some_and(|w| w.eq_ignore_ascii_case(s))
}

/// Case-sensitive comparison of `m[i..]` with `s` (`strncmp()`); false if
/// too short.
pub(super) fn eq_cs(m: &[u8], i: usize, s: &[u8]) -> bool {
    window(m, i, s.len()) == Some(s)
}

/// The kernel's `isalpha`: ASCII letters and the Latin-1 letters.
pub(super) fn is_alpha(b: u8) -> bool {
    b.is_ascii_alphabetic() || (b >= 0xc0 && b != 0xd7 && b != 0xf7)
}

/// The kernel's `iswordc()`: a byte of a `Call-ID` word.
pub(super) fn is_word(b: u8) -> bool {
    is_alpha(b) || b.is_ascii_digit() || b"!\"%()*+:<>?[\\]_`{}~-./'".contains(&b)
}

/// A line-end byte (CR or LF).
pub(super) fn is_nl(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// A blank (space or tab).
pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
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

/// The line starts a header or SDP line search visits after `from`, as
/// the loops of `nf_conntrack_sip.c: ct_sip_get_header()` and
/// `ct_sip_get_sdp_header()` walk them: the offset after each line end,
/// the search for the next one resuming one byte after a line start that
/// was passed over. Always forward, so every walk ends.
pub(super) fn line_starts(m: &[u8], from: usize) -> impl Iterator<Item = usize> + '_ {
    core::iter::successors(after_line_end(m, from), move |&q| after_line_end(m, q + 1))
}

/// `needle` at or after `p`, ending before `limit`, compared with `eq`.
/// At a line end `at_nl(offset, limit)` says where the search goes on
/// (`None`: not found); `limit` there is already short of the needle.
/// The one linear search of the SIP and SDP parsers
/// (`nf_conntrack_sip.c: ct_sip_header_search()`, `ct_sdp_header_search()`).
pub(super) fn search(
    m: &[u8],
    mut p: usize,
    limit: usize,
    needle: &[u8],
    eq: fn(&[u8], usize, &[u8]) -> bool,
    at_nl: impl Fn(usize, usize) -> Option<usize>,
) -> Option<usize> {
    let limit = limit.checked_sub(needle.len())?;
    while p < limit {
        if is_nl(at(m, p)) {
            p = at_nl(p, limit)?;
            continue;
        }
        if eq(m, p, needle) {
            return Some(p);
        }
        p += 1;
    }
    None
}

/// How many bytes from `i` (up to `limit`) satisfy `f`.
pub(super) fn count_while(m: &[u8], i: usize, limit: usize, f: impl Fn(u8) -> bool) -> usize {
    m.get(i..limit.min(m.len())).map_or(0, |r| r.iter().take_while(|&&b| f(b)).count())
}

/// The kernel's `digits_len()`: how many decimal digits start at `i`
/// (up to `limit`).
pub(super) fn digits(m: &[u8], i: usize, limit: usize) -> usize {
    count_while(m, i, limit, |b| b.is_ascii_digit())
}

/// An `unsigned int` in decimal at `i` and its end, read as
/// `nf_conntrack_sip.c: sip_strtouint()` reads one (Linux 6.18.33 on,
/// commit "netfilter: nf_conntrack_sip: don't use simple_strtoul"): at
/// most 11 digits (`sizeof("4294967295")`) and at most `u32::MAX`; more
/// digits, or a larger value, read as no number (0, ending at `i`), as
/// no digit does. Callers that need a number test `end == i`.
pub(super) fn uint(m: &[u8], i: usize) -> (u32, usize) {
    const MAX_DIGITS: usize = 11;
    let n = digits(m, i, m.len());
    if n > MAX_DIGITS {
        return (0, i);
    }
    // At most 11 digits: no overflow in 64 bits, and the value only
    // grows digit by digit, so testing it once at the end is testing it
    // after each digit.
    let v = m.get(i..i + n).unwrap_or_default().iter().fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
    match u32::try_from(v) {
        Ok(v) => (v, i + n),
        Err(_) => (0, i),
    }
}

/// The optional `:port` at `p` after a URI's address, read as
/// `nf_conntrack_sip.c: sip_parse_port()` reads it: the port (5060 if
/// there is no colon) and where it ends; `None` if the message ends at
/// `p`, if the colon is followed by no digit or by more than five, if the
/// digits run to the end of the message, or if the port is not
/// 1024–65535.
pub(super) fn uri_port(m: &[u8], p: usize) -> Option<(u16, usize)> {
    // The port of a URI or `Via` without one.
    const SIP_PORT: u16 = 5060;
    const MAX_DIGITS: usize = 5;
    let limit = m.len();
    if p >= limit {
        return None;
    }
    if m[p] != b':' {
        return Some((SIP_PORT, p));
    }
    let n = digits(m, p + 1, limit);
    let end = p + 1 + n;
    if n == 0 || n > MAX_DIGITS || end >= limit {
        return None;
    }
    // (At most five digits: `uint` reads them all.)
    Some((checked_port(uint(m, p + 1).0)?, end))
}

/// A port number as the helper accepts one, from the `unsigned int` the
/// kernel read it into: 1024–65535 (the checks of
/// `nf_conntrack_sip.c: sip_parse_port()` and `process_sdp()`).
pub(super) fn checked_port(v: u32) -> Option<u16> {
    u16::try_from(v).ok().filter(|&p| p >= 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn numbers() {
        assert_eq!(uint(b"5060;x", 0), (5060, 4));
        assert_eq!(uint(b"x", 0), (0, 0));
        assert_eq!(uint(b"ab12", 2), (12, 4));
        assert_eq!(uint(b"0", 0), (0, 1));
        // At or past the end: no number.
        assert_eq!((uint(b"12", 2), uint(b"12", 7)), ((0, 2), (0, 7)));
        // Base 10 only: "0x10" is 0 followed by "x10".
        assert_eq!(uint(b"0x10", 0), (0, 1));
        assert_eq!(uint(b"017", 0), (17, 3));
        // The largest value, and 11 digits with a leading zero.
        assert_eq!(uint(b"4294967295\r\n", 0), (4294967295, 10));
        assert_eq!(uint(b"04294967295", 0), (4294967295, 11));
        // Too large, or too many digits: no number.
        assert_eq!(uint(b"4294967296", 0), (0, 0));
        assert_eq!(uint(b"18446744073709551617", 0), (0, 0));
        assert_eq!(uint(b"000000000001", 0), (0, 0));
        assert_eq!(
            [0, 1023, 1024, 65535, 65536].map(checked_port),
            [None, None, Some(1024), Some(65535), None]
        );
    }

    #[test]
    fn uri_ports() {
        assert_eq!(uri_port(b":5070>", 0), Some((5070, 5)));
        assert_eq!(uri_port(b";x", 0), Some((5060, 0)));
        assert_eq!(uri_port(b":01024;", 0), Some((1024, 6)));
        // Out of range, no digit, more than five, or at the message's end.
        for m in [&b":1023>"[..], b":65536>", b":70000>", b":x>", b":>", b":005060>", b":5060", b""] {
            assert_eq!(uri_port(m, 0), None, "{:?}", core::str::from_utf8(m));
        }
    }

    #[test]
    fn lines() {
        let starts = |m: &[u8], from| line_starts(m, from).collect::<Vec<_>>();
        assert_eq!(starts(b"a\r\nb\nc\rd", 0), [3, 5, 7]);
        assert_eq!(starts(b"a\r\n\r\nb", 0), [3, 5]);
        // A line end at the very end starts nothing.
        assert!(starts(b"a\r\n", 0).is_empty());
        assert_eq!(starts(b"a\nb\nc", 2), [4]);
    }
}
