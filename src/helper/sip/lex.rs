//! Byte-level scanning, the one job of this file: bounded reads,
//! case-insensitive and exact comparison, line ends and line starts,
//! blanks, the kernel's character classes and numbers. These are the
//! small scanners at the top of `nf_conntrack_sip.c` (`string_len()`,
//! `digits_len()`, `iswordc()`, the line-start loop of
//! `ct_sip_get_header()`) and the `simple_strtoul()` its callers read
//! numbers with.
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

/// A decimal number at `i` (wrapping like `simple_strtoul(…, 10)`) and its
/// end.
pub(super) fn number(m: &[u8], i: usize) -> (u64, usize) {
    number_in_base(m, i, 10)
}

/// A number at `i` in C notation (`0x` hexadecimal, leading `0` octal,
/// otherwise decimal, as `simple_strtoul(…, 0)`), wrapping, and its end.
pub(super) fn number_c(m: &[u8], i: usize) -> (u64, usize) {
    let (base, from) = if at(m, i) == b'0' {
        if at(m, i + 1).eq_ignore_ascii_case(&b'x') && at(m, i + 2).is_ascii_hexdigit() {
            (16, i + 2)
        } else {
            (8, i)
        }
    } else {
        (10, i)
    };
    number_in_base(m, from, base)
}

/// The digits of `base` at `i` as a number, wrapping, and their end.
fn number_in_base(m: &[u8], i: usize, base: u32) -> (u64, usize) {
    let mut v = 0u64;
    let mut j = i;
    while let Some(d) = m.get(j).and_then(|&b| char::from(b).to_digit(base)) {
        v = v.wrapping_mul(u64::from(base)).wrapping_add(u64::from(d));
        j += 1;
    }
    (v, j)
}

/// A port number as the helper accepts one, from the `unsigned int` the
/// kernel read it into: 1024–65535 (the checks of
/// `nf_conntrack_sip.c: ct_sip_parse_header_uri()` and `process_sdp()`).
pub(super) fn checked_port(v: u32) -> Option<u16> {
    u16::try_from(v).ok().filter(|&p| p >= 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn numbers() {
        assert_eq!(number(b"5060;x", 0), (5060, 4));
        assert_eq!(number(b"x", 0), (0, 0));
        // Wrapping, as the kernel's unsigned arithmetic.
        assert_eq!(number(b"18446744073709551617", 0), (1, 20));
        assert_eq!(number_c(b"0x1F;", 0), (31, 4));
        assert_eq!(number_c(b"0x;", 0), (0, 1));
        assert_eq!(number_c(b"017 ", 0), (15, 3));
        assert_eq!(number_c(b"019", 0), (1, 2));
        assert_eq!(number_c(b"600", 0), (600, 3));
        assert_eq!(
            [0, 1023, 1024, 65535, 65536].map(checked_port),
            [None, None, Some(1024), Some(65535), None]
        );
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
