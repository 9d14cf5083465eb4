//! SANE (`nf_conntrack_sane.c: help()`): a scanner client's
//! `SANE_NET_START` request is answered with the port of a data connection
//! the client then opens to the server.
//!
//! Only data segments of an ESTABLISHED connection are read. From the
//! client (original direction), a segment of exactly 8 bytes whose first
//! 32-bit word is 7 (`SANE_NET_START`) marks the next server segment as its
//! reply; any other 8-byte segment clears that mark, segments of other
//! sizes leave it. The next server segment (reply direction) clears it and,
//! if at least 8 bytes long with status 0 and a zero 16-bit field, gives
//! the port (the 16-bit word after it): a TCP connection from the client's
//! address (any port) to the server's address and that port is expected.

use super::{Helper, HelperContext, HelperState, StateReader, StateWriter};
use crate::expect::{ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Tuple, proto};
use crate::verdict::CtState;

/// The SANE helper (`sane`, TCP port 6566).
pub struct Sane;

/// The SANE helper instance.
pub static SANE: Sane = Sane;

/// The RPC code of `SANE_NET_START`.
const SANE_NET_START: u32 = 7;

/// What a client's segment means to the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Not 8 bytes: the state is left as it is.
    Other,
    /// An 8-byte request other than `SANE_NET_START`.
    NotStart,
    /// `SANE_NET_START`: the next server segment is its reply.
    Start,
}

/// Classify a client's segment (`help()`, original direction).
pub fn parse_request(payload: &[u8]) -> Request {
    match <[u8; 8]>::try_from(payload) {
        Ok(b) if u32::from_be_bytes([b[0], b[1], b[2], b[3]]) == SANE_NET_START => Request::Start,
        Ok(_) => Request::NotStart,
        Err(_) => Request::Other,
    }
}

/// The data port of a reply to `SANE_NET_START`: status 0, a zero 16-bit
/// field, then the port (`struct sane_reply_net_start`).
pub fn parse_reply(payload: &[u8]) -> Option<u16> {
    let b = payload.get(..8)?;
    let status = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (status == 0 && b[4] == 0 && b[5] == 0).then(|| u16::from_be_bytes([b[6], b[7]]))
}

/// Per connection: a `SANE_NET_START` awaits its reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StartRequested(bool);

impl HelperState for StartRequested {
    fn load(r: &mut StateReader<'_>) -> Self {
        StartRequested(r.u8() != 0)
    }

    fn store(&self, w: &mut StateWriter<'_>) {
        w.u8(u8::from(self.0));
    }
}

impl Helper for Sane {
    fn name(&self) -> &'static str {
        "sane"
    }

    fn policy(&self, _class: u8) -> ExpectPolicy {
        ExpectPolicy::new(1, 5 * 60)
    }

    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        let payload = cx.payload();
        if cx.state() != CtState::Established || payload.is_empty() {
            return Ok(());
        }
        if cx.dir() == Direction::Original {
            match parse_request(payload) {
                Request::Other => {}
                Request::NotStart => cx.store(&StartRequested(false)),
                Request::Start => cx.store(&StartRequested(true)),
            }
            return Ok(());
        }
        let StartRequested(awaited) = cx.load();
        if !awaited {
            return Ok(());
        }
        // Whatever it says, this is the reply.
        cx.store(&StartRequested(false));
        let Some(port) = parse_reply(payload) else { return Ok(()) };
        let orig = cx.tuple(Direction::Original);
        Tuple::with_ports(orig.src(), 0, orig.dst(), port, proto::TCP)
            .and_then(|t| cx.expect(Expectation::from_any_port(t)).ok())
            .ok_or(HelperDrop("cannot add expectation"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(parse_request(&[0, 0, 0, 7, 0, 0, 0, 1]), Request::Start);
        assert_eq!(parse_request(&[0, 0, 0, 5, 0, 0, 0, 1]), Request::NotStart);
        assert_eq!(parse_request(&[0, 0, 0, 7, 0, 0, 0, 1, 0]), Request::Other);
        assert_eq!(parse_request(&[0, 0, 0, 7]), Request::Other);
        assert_eq!(parse_request(&[]), Request::Other);
    }

    #[test]
    fn replies() {
        assert_eq!(parse_reply(&[0, 0, 0, 0, 0, 0, 0x19, 0xc8, 0, 0, 0x12, 0x34]), Some(6600));
        assert_eq!(parse_reply(&[0, 0, 0, 0, 0, 0, 0x19, 0xc8]), Some(6600));
        assert_eq!(parse_reply(&[0, 0, 0, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(parse_reply(&[0, 0, 0, 1, 0, 0, 0x19, 0xc8]), None);
        assert_eq!(parse_reply(&[0, 0, 0, 0, 0, 1, 0x19, 0xc8]), None);
        assert_eq!(parse_reply(&[0, 0, 0, 0, 0, 0, 0x19]), None);
    }

    #[test]
    fn state_round_trip() {
        let mut d = crate::helper::HelperData::default();
        assert_eq!(StartRequested::load(&mut StateReader::new(&d)), StartRequested(false));
        StartRequested(true).store(&mut StateWriter::new(&mut d));
        assert_eq!(StartRequested::load(&mut StateReader::new(&d)), StartRequested(true));
    }
}
