//! FTP (`nf_conntrack_ftp.c: help()`): PORT and EPRT from the client, 227
//! (PASV) and 229 (EPSV) replies from the server, each expecting the data
//! connection.
//!
//! Only a segment that starts right after a line end already seen in its
//! direction is parsed: the helper remembers, per direction, the sequence
//! numbers following the last two segments that ended with `\n`, whether or
//! not they expected anything. A command split across segments matches
//! partially and its segment is dropped (its line end not remembered), so
//! that the sender retransmits it whole.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Helper, HelperContext, HelperState, StateReader, StateWriter};
use crate::expect::{ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
#[cfg(any(test, fuzzing))]
use crate::tuple::Family;
use crate::tuple::{Direction, Tuple};
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
/// of `nf_conntrack_ftp.c`), as if the sender's address were the
/// unspecified one (see [`parse_from`]). For the fuzz target and tests.
#[cfg(any(test, fuzzing))]
pub fn parse(payload: &[u8], dir: Direction, family: Family) -> Parsed {
    let sender = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    parse_from(payload, dir, sender)
}

/// [`parse`] for a payload sent by `sender`. The announced address starts
/// as the sender's (`help()` initialises it so, for EPSV), and PORT and 227
/// overwrite only its IPv4 part: on an IPv6 connection, the first four
/// bytes.
#[cfg(any(test, fuzzing))]
fn parse_from(payload: &[u8], dir: Direction, sender: IpAddr) -> Parsed {
    locate(payload, dir, sender).0
}

/// Which announcement a line is (`enum nf_ct_ftp_type`): how NAT writes
/// it anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Port,
    Pasv,
    Eprt,
    Epsv,
}

/// Where the announced address and port are in a payload: `len` bytes
/// at `off` (the `matchoff` and `matchlen` that `nf_conntrack_ftp.c`
/// hands to its NAT part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    kind: Kind,
    off: usize,
    len: usize,
}

/// [`parse_from`], and where the numbers it read are.
fn locate(payload: &[u8], dir: Direction, sender: IpAddr) -> (Parsed, Option<Span>) {
    type Numbers = fn(&[u8], IpAddr) -> Option<(Option<IpAddr>, u16, usize)>;
    type Pattern = (&'static [u8], Option<u8>, Numbers, Kind);
    let patterns: [Pattern; 2] = match dir {
        Direction::Original => {
            [(b"PORT", Some(b' '), parse_port, Kind::Port), (b"EPRT", Some(b' '), parse_eprt, Kind::Eprt)]
        }
        Direction::Reply => {
            [(b"227 ", None, parse_227, Kind::Pasv), (b"229 ", Some(b'('), parse_epsv, Kind::Epsv)]
        }
    };
    for (keyword, skip, number_parser, kind) in patterns {
        match match_keyword(payload, keyword) {
            Some(false) => return (Parsed::Partial, None),
            None => continue,
            Some(true) => {}
        }
        let rest = &payload[keyword.len()..];
        let numbers = match skip {
            // Skip to the first occurrence of the skip character.
            Some(c) => match rest.iter().position(|&b| b == c) {
                Some(at) => &rest[at + 1..],
                None => return (Parsed::Partial, None),
            },
            // 227: the numbers start at the first digit.
            None => match rest.iter().position(u8::is_ascii_digit) {
                Some(at) => &rest[at..],
                None => return (Parsed::Partial, None),
            },
        };
        let off = payload.len() - numbers.len();
        return match number_parser(numbers, sender) {
            Some((addr, port, len)) => (Parsed::Endpoint(addr, port), Some(Span { kind, off, len })),
            None => (Parsed::Partial, None),
        };
    }
    (Parsed::None, None)
}

/// The announcement NAT writes in place of the span's text
/// (`nf_nat_ftp.c: nf_nat_ftp_fmt_cmd()`): `PORT` and `227` with the
/// four bytes of an IPv4 address, `EPRT` with an IPv4 address in dotted
/// form or an IPv6 one in full (`%pI6`: eight groups of four hex
/// digits), `229` with the port only.
#[cfg(feature = "nat-helpers")]
fn announcement(kind: Kind, addr: IpAddr, port: u16, out: &mut heapless::String<64>) -> core::fmt::Result {
    use core::fmt::Write;
    let v4 = match addr {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(a) => {
            let b = a.octets();
            [b[0], b[1], b[2], b[3]]
        }
    };
    match (kind, addr) {
        (Kind::Port | Kind::Pasv, _) => {
            write!(out, "{},{},{},{},{},{}", v4[0], v4[1], v4[2], v4[3], port >> 8, port & 0xff)
        }
        (Kind::Eprt, IpAddr::V4(a)) => write!(out, "|1|{a}|{port}|"),
        (Kind::Eprt, IpAddr::V6(a)) => {
            out.push_str("|2|").map_err(|_| core::fmt::Error)?;
            for (i, g) in a.segments().iter().enumerate() {
                write!(out, "{}{g:04x}", if i == 0 { "" } else { ":" })?;
            }
            write!(out, "|{port}|")
        }
        (Kind::Epsv, _) => write!(out, "|||{port}|"),
    }
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

/// `N` decimal numbers separated by `sep` (`nf_conntrack_ftp.c:
/// try_number()`), ended by the first other byte once the last one has
/// begun; returns them and the rest, starting at that byte. Nothing is
/// range-checked: a number wraps in 32 bits and an empty one is 0.
fn numbers<const N: usize>(s: &[u8], sep: u8) -> Option<([u32; N], &[u8])> {
    let mut v = [0u32; N];
    let mut i = 0;
    for (at, &b) in s.iter().enumerate() {
        if b.is_ascii_digit() {
            v[i] = v[i].wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
        } else if b == sep {
            i += 1;
            if i == N {
                return None;
            }
        } else {
            return (i == N - 1).then_some((v, &s[at..]));
        }
    }
    None
}

/// An IPv4 address from four unmasked numbers, combined as
/// `(a<<24)|(b<<16)|(c<<8)|d` (`nf_conntrack_ftp.c: try_rfc959()`,
/// `try_eprt()`): a number above 255 spills into the bytes to its left.
fn spill_v4([a, b, c, d]: [u32; 4]) -> Ipv4Addr {
    Ipv4Addr::from((a << 24) | (b << 16) | (c << 8) | d)
}

/// PORT's and 227's address and port (`nf_conntrack_ftp.c: try_rfc959()`).
fn endpoint(v: [u32; 6], sender: IpAddr) -> (Option<IpAddr>, u16) {
    let v4 = spill_v4([v[0], v[1], v[2], v[3]]);
    let addr = match sender {
        IpAddr::V4(_) => IpAddr::V4(v4),
        IpAddr::V6(a) => {
            let mut b = a.octets();
            b[..4].copy_from_slice(&v4.octets());
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    // The port is `(p1<<8)|p2` cut to 16 bits, so p2 above 255 spills into
    // the high byte too.
    (Some(addr), ((v[4] << 8) | v[5]) as u16)
}

/// `PORT h1,h2,h3,h4,p1,p2\r`: the sixth number must end at `\r`.
/// With the address and port, how many bytes the numbers take.
fn parse_port(s: &[u8], sender: IpAddr) -> Option<(Option<IpAddr>, u16, usize)> {
    let (v, rest) = numbers::<6>(s, b',')?;
    let (addr, port) = endpoint(v, sender);
    (rest.first() == Some(&b'\r')).then_some((addr, port, s.len() - rest.len()))
}

/// `227 ... h1,h2,h3,h4,p1,p2` ended by any non-digit, non-comma byte.
fn parse_227(s: &[u8], sender: IpAddr) -> Option<(Option<IpAddr>, u16, usize)> {
    let (v, rest) = numbers::<6>(s, b',')?;
    let (addr, port) = endpoint(v, sender);
    Some((addr, port, s.len() - rest.len()))
}

/// A valid EPRT/EPSV delimiter: printable ASCII 33–126, not a digit.
fn delimiter(d: u8) -> bool {
    (33..=126).contains(&d) && !d.is_ascii_digit()
}

/// A decimal port ending at `d` (`nf_conntrack_ftp.c: get_port()`): it
/// wraps in 16 bits, and must not come out 0. With the port, how many
/// bytes it takes with its delimiter.
fn port_until(s: &[u8], d: u8) -> Option<(u16, usize)> {
    let mut port = 0u16;
    for (at, &b) in s.iter().enumerate() {
        if b == d {
            return (port != 0).then_some((port, at + 1));
        }
        if !b.is_ascii_digit() {
            return None;
        }
        port = port.wrapping_mul(10).wrapping_add(u16::from(b - b'0'));
    }
    None
}

/// `EPRT <d><proto><d><addr><d><port><d>`.
fn parse_eprt(s: &[u8], sender: IpAddr) -> Option<(Option<IpAddr>, u16, usize)> {
    let d = *s.first()?;
    if !delimiter(d) || s.get(2) != Some(&d) {
        return None;
    }
    let want = match sender {
        IpAddr::V4(_) => b'1',
        IpAddr::V6(_) => b'2',
    };
    if s.get(1) != Some(&want) {
        return None;
    }
    let rest = &s[3..];
    let (addr, rest) = match sender {
        // Four dot-separated numbers, as unchecked as PORT's.
        IpAddr::V4(_) => {
            let (v, rest) = numbers::<4>(rest, b'.')?;
            (IpAddr::V4(spill_v4(v)), rest.strip_prefix(&[d])?)
        }
        IpAddr::V6(_) => {
            let end = rest.iter().position(|&b| b == d)?;
            let text = core::str::from_utf8(&rest[..end]).ok()?;
            (IpAddr::V6(text.parse::<Ipv6Addr>().ok()?), &rest[end + 1..])
        }
    };
    let (port, n) = port_until(rest, d)?;
    Some((Some(addr), port, s.len() - rest.len() + n))
}

/// `229 ... (<d><d><d><port><d>)`: port only.
fn parse_epsv(s: &[u8], _sender: IpAddr) -> Option<(Option<IpAddr>, u16, usize)> {
    let d = *s.first()?;
    if !delimiter(d) || s.get(1) != Some(&d) || s.get(2) != Some(&d) {
        return None;
    }
    let (port, n) = port_until(&s[3..], d)?;
    Some((None, port, 3 + n))
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
        let mut verdict = Ok(());
        if lines.contains(dir, seq) {
            let me = cx.tuple(dir);
            let (parsed, span) = locate(payload, dir, me.src());
            match parsed {
                // Dropped, and the only case whose line end is not
                // remembered (`help()` leaves through `out`).
                Parsed::Partial => return Err(HelperDrop("partial matching of FTP command")),
                Parsed::None => {}
                // The announced address must be the sender's own (the
                // address check in `nf_conntrack_ftp.c: help()`): no holes
                // towards third parties, but the segment is accepted and
                // its line end remembered (`out_put_expect`, then
                // `out_update_nl`).
                Parsed::Endpoint(Some(addr), _) if addr != me.src() => {}
                // An expectation that cannot be added drops the segment,
                // yet its line end is remembered all the same.
                Parsed::Endpoint(_, port) => {
                    let peer = cx.tuple(dir.opposite());
                    let exp =
                        Tuple::with_ports(peer.src(), 0, peer.dst(), port, 6).map(Expectation::from_any_port);
                    verdict = match (exp, span) {
                        #[cfg(feature = "nat-helpers")]
                        (Some(exp), Some(span)) if cx.is_translated() => {
                            translate(cx, exp, span, (me.src(), port), peer.dst())
                        }
                        (Some(exp), _) => cx.expect(exp).map_err(|_| HelperDrop("cannot add expectation")),
                        (None, _) => Err(HelperDrop("cannot add expectation")),
                    };
                }
            }
        }
        if ends_nl {
            lines.remember(dir, next);
            cx.store(&lines);
        }
        verdict
    }
}

#[cfg(feature = "nat-helpers")]
/// The NAT part (`nf_nat_ftp.c: nf_nat_ftp()`): expect the data
/// connection at the translated address `public`, on the announced port
/// or the first free one after it, translated on arrival to `saved`; and
/// announce that instead of what the packet said.
fn translate(
    cx: &mut HelperContext<'_>,
    exp: Expectation,
    span: Span,
    saved: (IpAddr, u16),
    public: IpAddr,
) -> Result<(), HelperDrop> {
    let from = cx.dir().opposite();
    let port = cx.expect_translated(exp, from, saved, false).map_err(|_| HelperDrop("all ports in use"))?;
    let mut text = heapless::String::<64>::new();
    announcement(span.kind, public, port, &mut text).map_err(|_| HelperDrop("cannot mangle packet"))?;
    if !cx.mangle(span.off, span.len, text.as_bytes()) {
        cx.unexpect(&mut |e| e.tuple().dport() == Some(port) && e.tuple().dst() == public);
        return Err(HelperDrop("cannot mangle packet"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helper::HelperData;

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

    /// Numbers are not range-checked (`nf_conntrack_ftp.c: try_number()`):
    /// above 255 they spill into the byte to their left, they wrap in 32
    /// bits (EPRT/EPSV ports in 16), and an empty one is 0. Checked against
    /// Linux 6.18 by `tests/data/crafted/helpers/ftp-numbers-above-255`.
    #[test]
    fn numbers_are_not_range_checked() {
        use Direction::{Original as O, Reply as R};
        use Family::Ipv4;
        // (4<<8)|300 = 1324, not 4*256+44.
        assert_eq!(
            parse(b"227 Entering Passive Mode (198,51,100,5,4,300).\r\n", R, Ipv4),
            ep("198.51.100.5", 1324)
        );
        assert_eq!(parse(b"PORT 192,168,1,10,4,300\r\n", O, Ipv4), ep("192.168.1.10", 1324));
        // (0<<8)|25605 = 0x6405 = 100.5; (100<<8)|261 = 101.5.
        assert_eq!(
            parse(b"227 Entering Passive Mode (198,51,0,25605,4,10).\r\n", R, Ipv4),
            ep("198.51.100.5", 1034)
        );
        assert_eq!(
            parse(b"227 Entering Passive Mode (198,51,100,261,4,11).\r\n", R, Ipv4),
            ep("198.51.101.5", 1035)
        );
        // (260<<8)|70000 = 0x11570, cut to 16 bits: 0x1570.
        assert_eq!(
            parse(b"227 Entering Passive Mode (198,51,100,5,260,70000).\r\n", R, Ipv4),
            ep("198.51.100.5", 5488)
        );
        // 2^32+5 wraps to 5.
        assert_eq!(
            parse(b"227 Entering Passive Mode (198,51,100,4294967301,4,12).\r\n", R, Ipv4),
            ep("198.51.100.5", 1036)
        );
        // An empty number is 0; a seventh number is not accepted.
        assert_eq!(
            parse(b"227 Entering Passive Mode (198,51,100,5,,150).\r\n", R, Ipv4),
            ep("198.51.100.5", 150)
        );
        assert_eq!(parse(b"PORT 192,168,1,10,4,\r\n", O, Ipv4), ep("192.168.1.10", 1024));
        assert_eq!(parse(b"PORT 192,168,1,10,4,1,7\r\n", O, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"PORT 192,168,1,10,4,1x\r\n", O, Ipv4), Parsed::Partial);
        // EPRT: four dot-separated numbers, spilling like PORT's.
        assert_eq!(parse(b"EPRT |1|192.168.0.266|5001|\r\n", O, Ipv4), ep("192.168.1.10", 5001));
        assert_eq!(parse(b"EPRT |1|1.2.3.4.5|5001|\r\n", O, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"EPRT .1.1.2.3.4.5001.\r\n", O, Ipv4), Parsed::Partial);
        // EPRT/EPSV ports wrap in 16 bits but must not come out 0.
        assert_eq!(
            parse(b"229 Entering Extended Passive Mode (|||67657|)\r\n", R, Ipv4),
            Parsed::Endpoint(None, 2121)
        );
        assert_eq!(parse(b"229 Entering Extended Passive Mode (|||65536|)\r\n", R, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"229 Entering Extended Passive Mode (||||)\r\n", R, Ipv4), Parsed::Partial);
        assert_eq!(parse(b"EPRT |1|192.168.1.10|70001|\r\n", O, Ipv4), ep("192.168.1.10", 4465));
    }

    /// On IPv6, PORT and 227 overwrite the first four bytes of the sender's
    /// address: only a sender whose address begins with those four bytes
    /// is expected. Checked against Linux 6.18 by
    /// `tests/data/crafted/helpers/ftp-ipv6-port-227`.
    #[test]
    fn port_and_227_over_ipv6() {
        use Direction::{Original as O, Reply as R};
        let c: IpAddr = "2001:db8::10".parse().unwrap();
        let s: IpAddr = "2001:db8::5".parse().unwrap();
        assert_eq!(parse_from(b"PORT 32,1,13,184,4,2\r\n", O, c), ep("2001:db8::10", 1026));
        assert_eq!(parse_from(b"PORT 1,2,3,4,4,1\r\n", O, c), ep("102:304::10", 1025));
        assert_eq!(
            parse_from(b"227 Entering Passive Mode (32,1,13,184,4,3).\r\n", R, s),
            ep("2001:db8::5", 1027)
        );
        assert_eq!(parse_from(b"PORT 32,1,13,184,4,2\n", O, c), Parsed::Partial);
        // The fuzz target's entry point starts from the unspecified address.
        assert_eq!(parse(b"PORT 1,2,3,4,4,1\r\n", O, Family::Ipv6), ep("102:304::", 1025));
    }

    /// `help()` on the segments of one or more control connections that
    /// share an expectation table.
    struct Rig {
        slots: [crate::expect::ExpectSlot; 8],
        book: crate::expect::ExpectBook,
        stats: crate::stats::Stats,
    }

    impl Rig {
        /// Control connection `master` from client port `cport`, its helper
        /// data `data`: a server reply `payload` at sequence number `seq`.
        fn reply(
            &mut self,
            master: u32,
            cport: u16,
            data: &mut HelperData,
            seq: u32,
            payload: &[u8],
        ) -> Result<(), HelperDrop> {
            let ip = |s: &str| s.parse::<IpAddr>().unwrap();
            let orig = Tuple::with_ports(ip("192.168.1.10"), cport, ip("198.51.100.5"), 21, 6).unwrap();
            let mut rewrite = crate::nat::payload::Rewrite::EMPTY;
            let mut cx = HelperContext {
                now: crate::time::Tick::from_ticks(1000),
                dir: Direction::Reply,
                state: CtState::Established,
                orig,
                reply: orig.invert().unwrap(),
                natted: false,
                rewrite: &mut rewrite,
                expected: false,
                payload,
                l4_len: payload.len() + 20,
                tcp_seq: Some(seq),
                data,
                helper: &FTP,
                helper_id: crate::expect::HelperId(0),
                master,
                zone: 0,
                broadcast_prefix: None,
                expects: crate::expect::Expects {
                    slots: &mut self.slots,
                    book: &mut self.book,
                    stats: &mut self.stats,
                    key: &crate::HashKey([9; 16]),
                },
                new_timeout: None,
                #[cfg(feature = "helper-pptp")]
                pptp: Default::default(),
            };
            FTP.help(&mut cx)
        }

        /// The expected data ports, by master.
        fn expected(&self) -> std::vec::Vec<(u32, u16)> {
            let mut v: std::vec::Vec<_> = self
                .slots
                .iter()
                .filter_map(|s| s.0.get())
                .map(|p| (p.master, p.exp.tuple.dport().unwrap()))
                .collect();
            v.sort();
            v
        }
    }

    /// A 227 naming another host and a 227 that cannot be expected (a clash
    /// with another session's expectation) expect nothing, but their line
    /// ends are remembered: the 227 in the next segment is parsed
    /// (`nf_conntrack_ftp.c: help()` reaches `out_update_nl` from both).
    /// Checked against Linux 6.18 by `tests/data/crafted/helpers/`
    /// `ftp-third-party-then-valid` and `ftp-expect-clash-then-valid`.
    #[test]
    fn line_end_remembered_without_expectation() {
        let mut rig = Rig {
            slots: [crate::expect::ExpectSlot::EMPTY; 8],
            book: Default::default(),
            stats: Default::default(),
        };
        let (mut a, mut b) = (HelperData::default(), HelperData::default());
        let banner = b"220 ready\r\n";
        let other = b"227 Entering Passive Mode (203,0,113,9,195,149).\r\n";
        let p150 = b"227 Entering Passive Mode (198,51,100,5,195,150).\r\n";
        let p151 = b"227 Entering Passive Mode (198,51,100,5,195,151).\r\n";
        let mut seq = 5000u32;
        for (payload, result) in [(&banner[..], Ok(())), (&other[..], Ok(())), (&p150[..], Ok(()))] {
            assert_eq!(rig.reply(7, 50000, &mut a, seq, payload), result);
            seq += payload.len() as u32;
        }
        assert_eq!(rig.expected(), [(7, 50070)]);
        // A second session announcing the same port clashes: dropped.
        let mut seq = 5000u32;
        let clash = Err(HelperDrop("cannot add expectation"));
        for (payload, result) in [(&banner[..], Ok(())), (&p150[..], clash), (&p151[..], Ok(()))] {
            assert_eq!(rig.reply(8, 50001, &mut b, seq, payload), result);
            seq += payload.len() as u32;
        }
        assert_eq!(rig.expected(), [(7, 50070), (8, 50071)]);
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
