//! Amanda (`nf_conntrack_amanda.c: amanda_help()`): the backup server asks
//! a client on UDP port 10080; the client's reply names, on its `CONNECT`
//! line, the TCP ports (`DATA n`, `MESG n`, `INDEX n`) the server then
//! connects to.
//!
//! Only replies (packets from the client, the reply direction) are read.
//! Each one first extends the master's lifetime to 300 s (the module
//! parameter `master_timeout`), as answers can be slow. The search: the
//! first `CONNECT ` anywhere in the payload, the first `\n` after it, and
//! between the two the first `DATA `, `MESG ` and `INDEX `, in that order
//! of keywords whatever their order in the line. A port is read from at
//! most five characters and cut to 16 bits; a keyword followed by port 0
//! (or no digit) ends the reading. Each port expects a TCP connection from
//! the server's address (any port) to the client's.

use super::{Helper, HelperContext};
use crate::expect::{ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Tuple, proto};

/// The Amanda helper (`amanda`, UDP port 10080).
pub struct Amanda;

/// The Amanda helper instance.
pub static AMANDA: Amanda = Amanda;

/// The master's lifetime after each reply, in seconds: the default of the
/// module parameter `master_timeout` (`nf_conntrack_amanda.c`).
pub const MASTER_TIMEOUT: u32 = 300;

/// The keywords of the `CONNECT` line, in the order they are looked for.
const KEYWORDS: [&[u8]; 3] = [b"DATA ", b"MESG ", b"INDEX "];

/// The first occurrence of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The ports a client's reply announces: `[DATA, MESG, INDEX]`, `None` for
/// a keyword absent or not read (`amanda_help()`'s search).
#[cfg(any(test, fuzzing))]
pub fn parse(payload: &[u8]) -> [Option<u16>; 3] {
    ports(payload).map(|p| p.map(|(port, _, _)| port))
}

/// [`parse`], with where each port's digits are in the payload (offset,
/// length).
fn ports(payload: &[u8]) -> [Option<(u16, usize, usize)>; 3] {
    let mut ports = [None; 3];
    let Some(at) = find(payload, b"CONNECT ") else { return ports };
    let line_at = at + 8;
    let rest = &payload[line_at..];
    let Some(end) = find(rest, b"\n") else { return ports };
    let line = &rest[..end];
    for (k, keyword) in KEYWORDS.iter().enumerate() {
        let Some(at) = find(line, keyword) else { continue };
        let after = &line[at + keyword.len()..];
        // `simple_strtoul()` over at most five characters; the 16-bit cut
        // of `htons()`.
        let n = after.iter().take(5).take_while(|b| b.is_ascii_digit()).count();
        let value = after[..n].iter().fold(0u32, |v, &b| v * 10 + u32::from(b - b'0'));
        let port = value as u16;
        if port == 0 {
            break;
        }
        ports[k] = Some((port, line_at + at + keyword.len(), n));
    }
    ports
}

impl Helper for Amanda {
    fn name(&self) -> &'static str {
        "amanda"
    }

    fn policy(&self, _class: u8) -> ExpectPolicy {
        ExpectPolicy::new(3, 180)
    }

    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        if cx.dir() != Direction::Reply {
            return Ok(());
        }
        cx.set_timeout(MASTER_TIMEOUT);
        let orig = cx.tuple(Direction::Original);
        let mut verdict = Ok(());
        // An expectation that cannot be added drops the packet, but the
        // other ports are still expected (`amanda_help()` goes on).
        for (port, at, len) in ports(cx.payload()).into_iter().flatten() {
            let Some(exp) = Tuple::with_ports(orig.src(), 0, orig.dst(), port, proto::TCP)
                .map(Expectation::from_any_port)
            else {
                verdict = Err(HelperDrop("cannot add expectation"));
                continue;
            };
            #[cfg(feature = "nat-helpers")]
            if cx.is_translated() {
                if let Err(d) = translate(cx, exp, port, at, len) {
                    verdict = Err(d);
                }
                continue;
            }
            let _ = (at, len);
            if cx.expect(exp).is_err() {
                verdict = Err(HelperDrop("cannot add expectation"));
            }
        }
        verdict
    }
}

/// The NAT part (`nf_nat_amanda.c: help()`): the connection comes the
/// master's original way, on the announced port or the first free one
/// after it, and is translated on arrival as the master is, to the
/// announced port; the reply names the port chosen.
#[cfg(feature = "nat-helpers")]
fn translate(
    cx: &mut HelperContext<'_>,
    exp: Expectation,
    port: u16,
    at: usize,
    len: usize,
) -> Result<(), HelperDrop> {
    use core::fmt::Write;
    let client = cx.tuple(Direction::Reply).src();
    let chosen = cx
        .expect_translated(exp, Direction::Original, (client, port), false)
        .map_err(|_| HelperDrop("all ports in use"))?;
    let mut text = heapless::String::<8>::new();
    write!(text, "{chosen}").map_err(|_| HelperDrop("cannot mangle packet"))?;
    if !cx.mangle(at, len, text.as_bytes()) {
        cx.unexpect(&mut |e| e.tuple().dport() == Some(chosen));
        return Err(HelperDrop("cannot mangle packet"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_lines() {
        let p = |s: &[u8]| parse(s);
        let rep = b"Amanda 2.6 REP HANDLE 000 SEQ 1\nCONNECT DATA 50000 MESG 50001 INDEX 50002\nOPTIONS x;\n";
        assert_eq!(p(rep), [Some(50000), Some(50001), Some(50002)]);
        // Any order on the line; text before CONNECT.
        assert_eq!(p(b"xxCONNECT INDEX 3 junk DATA 1 MESG 2\n"), [Some(1), Some(2), Some(3)]);
        // Five characters at most, cut to 16 bits.
        assert_eq!(p(b"CONNECT DATA 99999 MESG 123456\n"), [Some(34463), Some(12345), None]);
        // Port 0 or no digit ends the reading.
        assert_eq!(p(b"CONNECT DATA 0 MESG 50101\n"), [None; 3]);
        assert_eq!(p(b"CONNECT DATA x50010 MESG 50011 INDEX 50012\n"), [None; 3]);
        assert_eq!(p(b"CONNECT MESG 0 INDEX 7 DATA 5\n"), [Some(5), None, None]);
        // The keywords must lie before the line end; the line must end.
        assert_eq!(p(b"CONNECT DATA 50120 MES\nG 50121\n"), [Some(50120), None, None]);
        assert_eq!(p(b"CONNECT DATA 50020 MESG 50021"), [None; 3]);
        assert_eq!(p(b"CONNECT\nDATA 1\n"), [None; 3]);
        assert_eq!(p(b""), [None; 3]);
        // The port's digits end at the line end.
        assert_eq!(p(b"CONNECT DATA 12\n345"), [Some(12), None, None]);
    }

    #[test]
    fn total_on_prefixes() {
        let m = b"CONNECT DATA 50000 MESG 50001 INDEX 50002\n";
        for n in 0..=m.len() {
            let _ = parse(&m[..n]);
            let _ = parse(&m[n..]);
        }
    }
}
