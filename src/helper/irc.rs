//! IRC (`nf_conntrack_irc.c: help()`): a client's CTCP `DCC` offer
//! (`PRIVMSG nick :\1DCC SEND name ip port ...\1`) expects the peer's TCP
//! connection to the announced port. IPv4 only, as in Linux.
//!
//! Only the client's messages (the original direction) of an ESTABLISHED
//! connection are read, and only a segment that starts (after blank lines)
//! with `PRIVMSG `: the DCC command must begin the message text, right after
//! the first ` :`. The announced address is a decimal 32-bit number; it
//! must be the client's own address and the port must not be 0, or the
//! offer is forged: Linux 6.18 then expects nothing from the segment (the
//! search ends there, as the oracle shows). The expected connection comes
//! from any address and port to the client's address and the announced
//! port. At most one offer per segment is expected, and only the first
//! 4095 bytes of a segment are searched (`MAX_SEARCH_SIZE`).

use core::net::{IpAddr, Ipv4Addr};

use super::{Helper, HelperContext};
use crate::expect::{ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Tuple, proto};
use crate::verdict::CtState;

/// The IRC helper (`irc`, TCP port 6667, IPv4).
pub struct Irc;

/// The IRC helper instance.
pub static IRC: Irc = Irc;

/// Expectations per IRC connection: the default of the module parameter
/// `max_dcc_channels` (`nf_conntrack_irc.c`).
pub const MAX_DCC_CHANNELS: u8 = 8;

/// Lifetime of a DCC expectation in seconds: the default of the module
/// parameter `dcc_timeout` (`nf_conntrack_irc.c`).
pub const DCC_TIMEOUT: u32 = 300;

/// The DCC kinds `help()` recognises (`dccprotos[]`), each with its blank.
const KINDS: [&[u8]; 5] = [b"SEND ", b"CHAT ", b"MOVE ", b"TSEND ", b"SCHAT "];

/// The shortest DCC kind (`MINMATCHLEN`).
const MIN_MATCH: usize = 5;

/// How much of a segment is searched (`MAX_SEARCH_SIZE`).
const MAX_SEARCH: usize = 4095;

/// True if `p` holds `pat` at `at` (false past the end).
fn has_at(p: &[u8], at: usize, pat: &[u8]) -> bool {
    p.get(at..).is_some_and(|rest| rest.starts_with(pat))
}

/// A decimal number at `at` (`simple_strtoul()` in base 10: digits only,
/// no sign, none read is 0, wrapping); returns it and the offset after it.
fn decimal(p: &[u8], mut at: usize) -> (u32, usize) {
    let mut v = 0u32;
    while let Some(&b) = p.get(at).filter(|b| b.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
        at += 1;
    }
    (v, at)
}

/// The address and port of a DCC command's arguments starting at `at`
/// (`nf_conntrack_irc.c: parse_dcc()`): skip the first argument up to its
/// blank (which must come while 12 bytes are left), require a `\n` further
/// on, then read the address, blanks and the port. The address wraps in 32
/// bits and the port is cut to 16. `p` is the searched part of the segment:
/// nothing past it is read (Linux 6.18 does not find a line end at the very
/// next byte either, as the oracle shows).
/// With them, where their text is: from the address's first digit to
/// after the port's last.
fn parse_args(p: &[u8], mut at: usize) -> Option<(Ipv4Addr, u16, (usize, usize))> {
    loop {
        let b = *p.get(at)?;
        at += 1;
        if b == b' ' {
            break;
        }
        if at + 12 > p.len() {
            return None;
        }
    }
    if !p.get(at..)?.contains(&b'\n') {
        return None;
    }
    let start = at;
    let (ip, mut at) = decimal(p, at);
    while p.get(at) == Some(&b' ') {
        at += 1;
    }
    let (port, end) = decimal(p, at);
    Some((Ipv4Addr::from(ip), port as u16, (start, end)))
}

/// The first well-formed DCC offer of a client's segment
/// (`nf_conntrack_irc.c: help()`'s search).
/// With it, where its address and port are in the segment.
pub(crate) fn find_dcc(segment: &[u8]) -> Option<(Ipv4Addr, u16, (usize, usize))> {
    let p = &segment[..segment.len().min(MAX_SEARCH)];
    let mut at = 0;
    // Blanks and line ends first, then "PRIVMSG " (in any case) when more
    // than 10 bytes are left.
    while at + 10 < p.len() && matches!(p[at], b' ' | b'\r' | b'\n') {
        at += 1;
    }
    if at + 10 < p.len() {
        if !p[at..at + 8].eq_ignore_ascii_case(b"PRIVMSG ") {
            return None;
        }
        at += 8;
    }
    // The message text starts after the first " :"; "\1DCC " must start it.
    while at + 21 + MIN_MATCH < p.len() {
        if !has_at(p, at, b" :") {
            at += 1;
            continue;
        }
        at += 2;
        if !has_at(p, at, b"\x01DCC ") {
            return None;
        }
        at += 5;
        // Each kind is compared where the previous match left off, as in
        // `help()`, which advances past a kind whose arguments fail.
        for kind in KINDS {
            if !has_at(p, at, kind) {
                continue;
            }
            at += kind.len();
            if let Some(offer) = parse_args(p, at) {
                return Some(offer);
            }
        }
    }
    None
}

/// The DCC offer a client at `sender` makes in `payload`, if any: the
/// first well-formed one, if it names `sender` and a port other than 0.
/// For the fuzz target and tests.
#[cfg(any(test, fuzzing))]
pub fn parse(payload: &[u8], sender: Ipv4Addr) -> Option<(Ipv4Addr, u16)> {
    find_dcc(payload).map(|(ip, port, _)| (ip, port)).filter(|&(ip, port)| ip == sender && port != 0)
}

impl Helper for Irc {
    fn name(&self) -> &'static str {
        "irc"
    }

    fn policy(&self, _class: u8) -> ExpectPolicy {
        ExpectPolicy::new(MAX_DCC_CHANNELS, DCC_TIMEOUT)
    }

    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        // Only the client's messages, once the connection is established.
        if cx.dir() != Direction::Original || cx.state() != CtState::Established {
            return Ok(());
        }
        let me = cx.tuple(Direction::Original);
        let reply = cx.tuple(Direction::Reply);
        let (IpAddr::V4(src), IpAddr::V4(reply_dst)) = (me.src(), reply.dst()) else { return Ok(()) };
        // The first well-formed offer decides. Its address may be the
        // client's before or after NAT (the reply tuple's destination;
        // without NAT they are the same); another address or port 0 is a
        // forged offer, and Linux 6.18 expects nothing then, not even from
        // a later offer of the segment (checked by the oracle:
        // `tests/data/crafted/helpers/irc-dcc-search`).
        let Some((ip, port, span)) = find_dcc(cx.payload()) else { return Ok(()) };
        if (ip != src && ip != reply_dst) || port == 0 {
            return Ok(());
        }
        // From any address and port to the client.
        let t = Tuple::with_ports(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, reply.dst(), port, proto::TCP)
            .ok_or(HelperDrop("cannot add expectation"))?;
        let exp = Expectation::from_any_port(t).with_src_prefix(0);
        #[cfg(feature = "nat-helpers")]
        if cx.is_translated() {
            return translate(cx, exp, span, me.src(), reply_dst);
        }
        let _ = span;
        cx.expect(exp).map_err(|_| HelperDrop("cannot add expectation"))
    }
}

/// The NAT part (`nf_nat_irc.c: help()`): the DCC connection is expected
/// at the client's translated address `public`, on the offered port or
/// the first free one after it, translated on arrival to the client's own
/// address `client` and the offered port; the offer names them instead.
#[cfg(feature = "nat-helpers")]
fn translate(
    cx: &mut HelperContext<'_>,
    exp: Expectation,
    (start, end): (usize, usize),
    client: IpAddr,
    public: Ipv4Addr,
) -> Result<(), HelperDrop> {
    use core::fmt::Write;
    let offered = exp.tuple().dport().unwrap_or(0);
    let port = cx
        .expect_translated(exp, Direction::Reply, (client, offered), false)
        .map_err(|_| HelperDrop("all ports in use"))?;
    let mut text = heapless::String::<24>::new();
    write!(text, "{} {port}", u32::from(public)).map_err(|_| HelperDrop("cannot mangle packet"))?;
    if !cx.mangle(start, end - start, text.as_bytes()) {
        cx.unexpect(&mut |e| e.tuple().dport() == Some(port));
        return Err(HelperDrop("cannot mangle packet"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

    fn offer(p: &[u8]) -> Option<(Ipv4Addr, u16)> {
        parse(p, ME)
    }

    #[test]
    fn offers() {
        let ok = Some((ME, 5000));
        assert_eq!(offer(b"PRIVMSG bob :\x01DCC SEND f.txt 3232235786 5000 12\x01\r\n"), ok);
        assert_eq!(offer(b"\r\n  privmsg bob :\x01DCC CHAT chat 3232235786 5000\x01\r\n"), ok);
        for kind in ["TSEND", "SCHAT", "MOVE"] {
            let m = std::format!("PRIVMSG bob :\x01DCC {kind} f 3232235786 5000 1\x01\r\n");
            assert_eq!(offer(m.as_bytes()), ok, "{kind}");
        }
        // Blanks between address and port; address wrapping in 32 bits;
        // port cut to 16 bits.
        assert_eq!(offer(b"PRIVMSG bob :\x01DCC SEND f 3232235786     5000\x01\n"), ok);
        assert_eq!(offer(b"PRIVMSG bob :\x01DCC SEND f 7527203082 5000 1\x01\r\n"), ok);
        assert_eq!(offer(b"PRIVMSG bob :\x01DCC SEND f 3232235786 70536 1\x01\r\n"), ok);
        // Two offers: the first.
        assert_eq!(
            offer(
                b"PRIVMSG bob :\x01DCC SEND a 3232235786 5000 1\x01\r\nPRIVMSG bob :\x01DCC SEND b 3232235786 5001 1\x01\r\n"
            ),
            ok
        );
    }

    #[test]
    fn not_offers() {
        for p in [
            &b"NOTICE bob :\x01DCC SEND f 3232235786 5000 1\x01\r\n"[..],
            b"PRIVMSG bob :look \x01DCC SEND f 3232235786 5000 1\x01\r\n",
            b"PRIVMSG bob :\x01DCC SEND f 3232235786 5000 1\x01",
            b"PRIVMSG bob :\x01DCC SEND f 3232",
            b"PRIVMSG bob :\x01DCC SEND 3232235786\x01\r\n",
            b"PRIVMSG bob :\x01DCC SEND f x3232235786 5000 1\x01\r\n",
            b"PRIVMSG bob :\x01DCC SENDX f 3232235786 5000 1\x01\r\n",
            // Another address, port 0: forged.
            b"PRIVMSG bob :\x01DCC SEND f 168364297 5000 1\x01\r\n",
            b"PRIVMSG bob :\x01DCC SEND f 3232235786 0 1\x01\r\n",
            b"",
            b"PRIVMSG",
            b" :\x01DCC SEND f 3232235786 5000\n",
        ] {
            assert_eq!(offer(p), None, "{:?}", core::str::from_utf8(p));
        }
    }

    /// The first well-formed offer decides: a forged one hides a valid
    /// one after it, in another message or as another kind. Checked against
    /// Linux 6.18 by `tests/data/crafted/helpers/irc-dcc-search`.
    #[test]
    fn a_forged_offer_ends_the_search() {
        let p = b"PRIVMSG bob :\x01DCC SEND f 1 2 x :\x01DCC CHAT f 3232235786 5000\x01\r\n";
        assert_eq!(find_dcc(p).map(|(ip, port, _)| (ip, port)), Some((Ipv4Addr::new(0, 0, 0, 1), 2)));
        assert_eq!(offer(p), None);
        let p = b"PRIVMSG bob :\x01DCC SEND CHAT f 3232235786 5011\x01\r\n";
        assert_eq!(find_dcc(p).map(|(ip, port, _)| (ip, port)), Some((Ipv4Addr::UNSPECIFIED, 0)));
        assert_eq!(offer(p), None);
    }

    /// Only the first 4095 bytes are searched. Checked against Linux 6.18 by
    /// `tests/data/crafted/helpers/irc-dcc-search`.
    #[test]
    fn long_segments() {
        let padded = |port: u32, nl_at: usize| {
            let mut m = std::format!("PRIVMSG bob :\x01DCC SEND f 3232235786 {port} 1\x01").into_bytes();
            m.resize(nl_at, b' ');
            m.extend_from_slice(b"\n  ");
            m
        };
        assert_eq!(offer(&padded(5030, 4100)), None);
        assert_eq!(offer(&padded(5031, 4094)), Some((ME, 5031)));
        assert_eq!(offer(&padded(5032, 4095)), None);
        assert_eq!(offer(&padded(5033, 4096)), None);
    }

    /// No input panics or reads out of bounds.
    #[test]
    fn total_on_prefixes() {
        let m = b"  \r\nPRIVMSG bob :\x01DCC SEND CHAT MOVE TSEND SCHAT f 3232235786   5000 1\x01\r\n";
        for n in 0..=m.len() {
            let _ = offer(&m[..n]);
            let _ = offer(&m[n..]);
        }
    }
}
