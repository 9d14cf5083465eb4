//! FTP (`nf_conntrack_ftp.c: help()`): PORT and EPRT from the client, 227
//! (PASV) and 229 (EPSV) replies from the server, each expecting the data
//! connection.
//!
//! Only a segment that starts right after a line end already seen in its
//! direction is parsed: the helper remembers, per direction, the sequence
//! numbers following the last two segments that ended with `\n`. A command
//! split across segments matches partially and its segment is dropped, so
//! that the sender retransmits it whole.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Helper, HelperContext, HelperState, StateReader, StateWriter};
use crate::expect::{ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Family, Tuple};
use crate::verdict::CtState;
use crate::wire::tcp::SeqNumber;

/// The FTP helper (`ftp`, TCP port 21).
pub struct Ftp;

/// The FTP helper instance.
pub static FTP: Ftp = Ftp;

/// What a command or reply line announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// Not a data-connection command (or not at a line start).
    None,
    /// Starts like one but is cut short or malformed: drop the segment.
    Partial,
    /// An address (absent for EPSV: the sender's) and a port.
    Endpoint(Option<IpAddr>, u16),
}

/// Parse the start of an FTP payload sent in direction `dir` on a
/// connection of `family` (the `search[][]` pattern table and `find_pattern()`
/// of `nf_conntrack_ftp.c`).
pub fn parse(payload: &[u8], dir: Direction, family: Family) -> Parsed {
    type Pattern = (&'static [u8], Option<u8>, fn(&[u8], Family) -> Option<(Option<IpAddr>, u16)>);
    let patterns: [Pattern; 2] = match dir {
        Direction::Original => [(b"PORT", Some(b' '), parse_port), (b"EPRT", Some(b' '), parse_eprt)],
        Direction::Reply => [(b"227 ", None, parse_227), (b"229 ", Some(b'('), parse_epsv)],
    };
    for (keyword, skip, number_parser) in patterns {
        match match_keyword(payload, keyword) {
            Some(false) => return Parsed::Partial,
            None => continue,
            Some(true) => {}
        }
        let rest = &payload[keyword.len()..];
        let numbers = match skip {
            // Skip to the first occurrence of the skip character.
            Some(c) => match rest.iter().position(|&b| b == c) {
                Some(at) => &rest[at + 1..],
                None => return Parsed::Partial,
            },
            // 227: the numbers start at the first digit.
            None => match rest.iter().position(u8::is_ascii_digit) {
                Some(at) => &rest[at..],
                None => return Parsed::Partial,
            },
        };
        return match number_parser(numbers, family) {
            Some((addr, port)) => Parsed::Endpoint(addr, port),
            None => Parsed::Partial,
        };
    }
    Parsed::None
}

/// Case-insensitive keyword at the start: `Some(true)` matched,
/// `Some(false)` the payload is a strict prefix of it (partial), `None` no.
fn match_keyword(payload: &[u8], keyword: &[u8]) -> Option<bool> {
    let n = payload.len().min(keyword.len());
    if !payload[..n].eq_ignore_ascii_case(&keyword[..n]) {
        return None;
    }
    Some(payload.len() > keyword.len())
}

/// A decimal number (saturating; the kernel does not range-check) and the
/// bytes after it; at least one digit.
fn number(s: &[u8]) -> Option<(u32, &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let v = s[..digits].iter().fold(0u32, |v, &d| v.saturating_mul(10).saturating_add(u32::from(d - b'0')));
    Some((v, &s[digits..]))
}

/// Six comma-separated numbers h1..h4,p1,p2; returns them and the rest.
fn six_numbers(mut s: &[u8]) -> Option<([u32; 6], &[u8])> {
    let mut v = [0u32; 6];
    for (i, slot) in v.iter_mut().enumerate() {
        let (n, rest) = number(s)?;
        *slot = n;
        s = rest;
        if i < 5 {
            s = s.strip_prefix(b",")?;
        }
    }
    Some((v, s))
}

fn endpoint(v: [u32; 6]) -> (Option<IpAddr>, u16) {
    // Numbers are not range-checked (`nf_conntrack_ftp.c: try_number()`): keep
    // the low byte of each.
    let b = v.map(|x| x as u8);
    (Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))), u16::from_be_bytes([b[4], b[5]]))
}

/// `PORT h1,h2,h3,h4,p1,p2\r`: the sixth number must end at `\r`.
fn parse_port(s: &[u8], family: Family) -> Option<(Option<IpAddr>, u16)> {
    if family != Family::Ipv4 {
        return None;
    }
    let (v, rest) = six_numbers(s)?;
    (rest.first() == Some(&b'\r')).then(|| endpoint(v))
}

/// `227 ... h1,h2,h3,h4,p1,p2` ended by any non-digit, non-comma byte.
fn parse_227(s: &[u8], family: Family) -> Option<(Option<IpAddr>, u16)> {
    if family != Family::Ipv4 {
        return None;
    }
    let (v, rest) = six_numbers(s)?;
    matches!(rest.first(), Some(c) if !c.is_ascii_digit() && *c != b',').then(|| endpoint(v))
}

/// A valid EPRT/EPSV delimiter: printable ASCII 33–126, not a digit.
fn delimiter(d: u8) -> bool {
    (33..=126).contains(&d) && !d.is_ascii_digit()
}

/// A non-zero decimal port ending at `d`.
fn port_until(s: &[u8], d: u8) -> Option<u16> {
    let (p, rest) = number(s)?;
    (rest.first() == Some(&d) && p != 0 && p <= 65535).then_some(p as u16)
}

/// `EPRT <d><proto><d><addr><d><port><d>`.
fn parse_eprt(s: &[u8], family: Family) -> Option<(Option<IpAddr>, u16)> {
    let d = *s.first()?;
    if !delimiter(d) || s.get(2) != Some(&d) {
        return None;
    }
    let want = match family {
        Family::Ipv4 => b'1',
        Family::Ipv6 => b'2',
    };
    if s.get(1) != Some(&want) {
        return None;
    }
    let rest = &s[3..];
    let end = rest.iter().position(|&b| b == d)?;
    let text = core::str::from_utf8(&rest[..end]).ok()?;
    let addr = match family {
        Family::Ipv4 => IpAddr::V4(text.parse::<Ipv4Addr>().ok()?),
        Family::Ipv6 => IpAddr::V6(text.parse::<Ipv6Addr>().ok()?),
    };
    Some((Some(addr), port_until(&rest[end + 1..], d)?))
}

/// `229 ... (<d><d><d><port><d>)`: port only.
fn parse_epsv(s: &[u8], _family: Family) -> Option<(Option<IpAddr>, u16)> {
    let d = *s.first()?;
    if !delimiter(d) || s.get(1) != Some(&d) || s.get(2) != Some(&d) {
        return None;
    }
    Some((None, port_until(&s[3..], d)?))
}

/// Per-direction memory of "the sequence number right after a line end"
/// (`nf_conntrack_ftp.c: update_nl_seq()`): up to two per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LineStarts {
    seqs: [[u32; 2]; 2],
    counts: [u8; 2],
}

impl HelperState for LineStarts {
    fn load(r: &mut StateReader<'_>) -> Self {
        let seqs = [[r.u32(), r.u32()], [r.u32(), r.u32()]];
        LineStarts { seqs, counts: [r.u8(), r.u8()] }
    }

    fn store(&self, w: &mut StateWriter<'_>) {
        self.seqs.iter().flatten().for_each(|&s| w.u32(s));
        self.counts.iter().for_each(|&c| w.u8(c));
    }
}

impl LineStarts {
    fn count(&self, dir: Direction) -> usize {
        usize::from(self.counts[dir.index()].min(2))
    }

    fn contains(&self, dir: Direction, seq: u32) -> bool {
        self.seqs[dir.index()][..self.count(dir)].contains(&seq)
    }

    /// Remember `next`: no duplicates; with two stored, replace the older
    /// one if `next` is after it.
    fn remember(&mut self, dir: Direction, next: u32) {
        if self.contains(dir, next) {
            return;
        }
        let (d, n) = (dir.index(), self.count(dir));
        if n < 2 {
            self.seqs[d][n] = next;
            self.counts[d] = n as u8 + 1;
            return;
        }
        let [a, b] = self.seqs[d];
        let older = if SeqNumber(a).before(SeqNumber(b)) { 0 } else { 1 };
        if SeqNumber(next).after(SeqNumber(self.seqs[d][older])) {
            self.seqs[d][older] = next;
        }
    }
}

impl Helper for Ftp {
    fn name(&self) -> &'static str {
        "ftp"
    }

    fn policy(&self, _class: u8) -> ExpectPolicy {
        ExpectPolicy::new(1, 300)
    }

    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        let payload = cx.payload();
        if cx.state() != CtState::Established || payload.is_empty() {
            return Ok(());
        }
        let Some(seq) = cx.tcp_seq() else { return Ok(()) };
        let dir = cx.dir();
        let mut lines: LineStarts = cx.load();
        let ends_nl = payload.last() == Some(&b'\n');
        let next = seq.wrapping_add(payload.len() as u32);
        if lines.contains(dir, seq) {
            let me = cx.tuple(dir);
            match parse(payload, dir, me.family()) {
                Parsed::Partial => return Err(HelperDrop("partial matching of FTP command")),
                Parsed::None => {}
                Parsed::Endpoint(addr, port) => {
                    // The announced address must be the sender's own (the
                    // address check in `nf_conntrack_ftp.c: help()`): no
                    // holes towards third parties, and the line start is
                    // not remembered.
                    if addr.is_some_and(|a| a != me.src()) {
                        return Ok(());
                    }
                    let peer = cx.tuple(dir.opposite());
                    let t = Tuple::with_ports(peer.src(), 0, peer.dst(), port, 6)
                        .ok_or(HelperDrop("cannot add expectation"))?;
                    cx.expect(Expectation::from_any_port(t))
                        .map_err(|_| HelperDrop("cannot add expectation"))?;
                }
            }
        }
        if ends_nl {
            lines.remember(dir, next);
            cx.store(&lines);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(a: &str, p: u16) -> Parsed {
        Parsed::Endpoint(Some(a.parse().unwrap()), p)
    }

    #[test]
    fn patterns() {
        use Direction::{Original as O, Reply as R};
        use Family::{Ipv4, Ipv6};
        assert_eq!(parse(b"PORT 192,168,1,10,4,1\r\n", O, Ipv4), ep("192.168.1.10", 1025));
        assert_eq!(parse(b"port 192,168,1,10,4,1\r\n", O, Ipv4), ep("192.168.1.10", 1025));
        assert_eq!(parse(b"PORT 192,168,1,10,4,1\n", O, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"PORT 192,168,1,10,4\r\n", O, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"PO", O, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"PORT", O, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"USER anonymous\r\n", O, Ipv4), Parsed::None);
        assert_eq!(
            parse(b"227 Entering Passive Mode (198,51,100,5,195,149).\r\n", R, Ipv4),
            ep("198.51.100.5", 50069)
        );
        assert_eq!(parse(b"227 =198,51,100,5,195,149\r\n", R, Ipv4), ep("198.51.100.5", 50069));
        assert_eq!(parse(b"227 Entering Passive Mode (198,51,100,5,195,149", R, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"22", R, Ipv4), Parsed::Partial);
        assert_eq!(
            parse(b"229 Entering Extended Passive Mode (|||6446|)\r\n", R, Ipv4),
            Parsed::Endpoint(None, 6446)
        );
        assert_eq!(parse(b"229 Entering Extended Passive Mode (|||0|)\r\n", R, Ipv6), Parsed::Partial);
        assert_eq!(parse(b"229 Entering Extended Passive Mode (|1|6446|)\r\n", R, Ipv6), Parsed::Partial);
        assert_eq!(parse(b"EPRT |1|132.235.1.2|6275|\r\n", O, Ipv4), ep("132.235.1.2", 6275));
        assert_eq!(
            parse(b"EPRT |2|1080::8:800:200C:417A|5282|\r\n", O, Ipv6),
            ep("1080::8:800:200c:417a", 5282)
        );
        assert_eq!(parse(b"EPRT |2|132.235.1.2|6275|\r\n", O, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"EPRT 1|1|132.235.1.2|6275|\r\n", O, Ipv4), Parsed::Partial);
        // Replies are not commands and vice versa.
        assert_eq!(parse(b"227 Entering Passive Mode (1,2,3,4,5,6)\r\n", O, Ipv4), Parsed::None);
        assert_eq!(parse(b"PORT 1,2,3,4,5,6\r\n", R, Ipv4), Parsed::None);
    }

    #[test]
    fn line_starts() {
        let mut l = LineStarts::default();
        l.remember(Direction::Original, 100);
        l.remember(Direction::Original, 100);
        l.remember(Direction::Original, 200);
        assert_eq!(l.count(Direction::Original), 2);
        l.remember(Direction::Original, 300);
        assert!(!l.contains(Direction::Original, 100));
        assert!(l.contains(Direction::Original, 200) && l.contains(Direction::Original, 300));
        assert!(!l.contains(Direction::Reply, 300));
        // An older sequence number does not replace a newer one.
        l.remember(Direction::Original, 50);
        assert!(!l.contains(Direction::Original, 50));
        // The state survives a store and a load.
        let mut d = crate::helper::HelperData::default();
        l.store(&mut StateWriter::new(&mut d));
        assert_eq!(LineStarts::load(&mut StateReader::new(&d)), l);
    }
}
