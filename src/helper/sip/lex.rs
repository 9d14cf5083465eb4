//! Byte-level scanning, the one job of this file: bounded reads,
//! case-insensitive and exact comparison, line ends, blanks, the kernel's
//! `isalpha` and numbers as `simple_strtoul()` reads them.

/// The byte at `i`, or 0 past the end (where C would read a terminator).
pub(super) fn at(m: &[u8], i: usize) -> u8 {
    m.get(i).copied().unwrap_or(0)
}

/// Case-insensitive comparison of `m[i..]` with `s`; false if too short.
pub(super) fn eq_ci(m: &[u8], i: usize, s: &[u8]) -> bool {
    m.get(i..).and_then(|r| r.get(..s.len())).is_some_and(|r| r.eq_ignore_ascii_case(s))
}

/// Case-sensitive comparison of `m[i..]` with `s`; false if too short.
pub(super) fn eq_cs(m: &[u8], i: usize, s: &[u8]) -> bool {
    m.get(i..).and_then(|r| r.get(..s.len())).is_some_and(|r| r == s)
}

/// The kernel's `isalpha`: ASCII letters and the Latin-1 letters.
pub(super) fn is_alpha(b: u8) -> bool {
    b.is_ascii_alphabetic() || (b >= 0xc0 && b != 0xd7 && b != 0xf7)
}

pub(super) fn is_nl(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// The offset just after the next line end (CR, LF or CRLF) at or after
/// `p`; `None` if the message ends before a line end or right after it.
pub(super) fn after_line_end(m: &[u8], p: usize) -> Option<usize> {
    let nl = p + m.get(p..)?.iter().position(|&b| is_nl(b))?;
    let mut q = nl + 1;
    if m.get(nl) == Some(&b'\r') && m.get(q) == Some(&b'\n') {
        q += 1;
    }
    (q < m.len()).then_some(q)
}

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A decimal number at `i` (wrapping like `simple_strtoul`) and its end.
pub(super) fn number(m: &[u8], i: usize) -> (u64, usize) {
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
pub(super) fn number_c(m: &[u8], i: usize) -> (u64, usize) {
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

pub(super) fn count_while(m: &[u8], i: usize, limit: usize, f: impl Fn(u8) -> bool) -> usize {
    m.get(i..limit.min(m.len())).map_or(0, |r| r.iter().take_while(|&&b| f(b)).count())
}
