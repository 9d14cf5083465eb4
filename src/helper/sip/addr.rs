//! IPv4 and IPv6 addresses in message text, read the kernel's way, the one
//! job of this file. The readers follow `in4_pton()` and `in6_pton()`
//! (`net/core/utils.c`) called with no end delimiter, so that any byte that
//! cannot continue an address ends it; [`parse_addr`] picks the reader of
//! the connection's family and handles the brackets around an IPv6
//! address, required in SIP headers as in
//! `nf_conntrack_sip.c: sip_parse_addr()` (called with `delim` true).
//! In SDP they are not accepted: the kernel reads SDP addresses with
//! `sdp_parse_addr()`, which knows no brackets, so `[` is no address and a
//! `]` after one merely ends it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::lex::at_before;
use crate::tuple::Family;

/// A dotted quad at `i` ending at any byte that is not a digit, a hex
/// letter or a dot (a colon included); `limit` acts as a terminator.
fn parse_v4(m: &[u8], i: usize, limit: usize) -> Option<([u8; 4], usize)> {
    let mut out = [0u8; 4];
    let (mut n, mut w, mut digits, mut s) = (0usize, 0u32, false, i);
    loop {
        let c = at_before(m, s, limit);
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
        let b = at_before(m, s, limit);
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
/// in brackets if `brackets` (SIP headers), else bare (SDP).
pub(super) fn parse_addr(
    m: &[u8],
    i: usize,
    limit: usize,
    family: Family,
    brackets: bool,
) -> Option<(IpAddr, usize)> {
    match family {
        Family::Ipv4 => parse_v4(m, i, limit).map(|(a, e)| (IpAddr::V4(Ipv4Addr::from(a)), e)),
        Family::Ipv6 => {
            if !brackets {
                return parse_v6(m, i, limit).map(|(a, e)| (IpAddr::V6(Ipv6Addr::from(a)), e));
            }
            if at_before(m, i, limit) != b'[' {
                return None;
            }
            let (a, e) = parse_v6(m, i + 1, limit)?;
            (at_before(m, e, limit) == b']').then_some((IpAddr::V6(Ipv6Addr::from(a)), e + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{V6, ip};
    use super::*;

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
        // Brackets: required in SIP URIs, refused in SDP (a `]` only ends
        // a bare address there).
        let b = b"[2001:db8::5]:5070";
        assert_eq!(parse_addr(b, 0, b.len(), V6, true), Some((ip("2001:db8::5"), 13)));
        assert_eq!(parse_addr(b"2001:db8::5", 0, 11, V6, true), None);
        assert_eq!(parse_addr(b"[2001:db8::5", 0, 12, V6, true), None);
        assert_eq!(parse_addr(b"2001:db8::5", 0, 11, V6, false), Some((ip("2001:db8::5"), 11)));
        assert_eq!(parse_addr(b, 0, b.len(), V6, false), None);
        assert_eq!(parse_addr(b"2001:db8::5]", 0, 12, V6, false), Some((ip("2001:db8::5"), 11)));
        assert_eq!(parse_addr(b"192.0.2.1", 0, 9, V6, false), None);
    }
}
