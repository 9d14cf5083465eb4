//! TFTP (`nf_conntrack_tftp.c: tftp_help()`): a read or write request
//! expects the server's transfer from a new port back to the client.

use super::{Helper, HelperContext};
use crate::expect::{ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Tuple, proto};

/// The TFTP helper (`tftp`, UDP port 69).
pub struct Tftp;

/// The TFTP helper instance.
pub static TFTP: Tftp = Tftp;

const RRQ: u16 = 1;
const WRQ: u16 = 2;

impl Helper for Tftp {
    fn name(&self) -> &'static str {
        "tftp"
    }

    fn policy(&self, _class: u8) -> ExpectPolicy {
        ExpectPolicy::new(1, 300)
    }

    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        let p = cx.payload();
        let Some(op) = p.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else { return Ok(()) };
        if op != RRQ && op != WRQ {
            return Ok(());
        }
        // The server answers from any port to the client's address and port
        // as the server sees them: the reply tuple's destination.
        let reply = cx.tuple(Direction::Reply);
        let t = Tuple::with_ports(reply.src(), 0, reply.dst(), reply.dport().unwrap_or(0), proto::UDP)
            .ok_or(HelperDrop("cannot add expectation"))?;
        let exp = Expectation::from_any_port(t);
        // A translated connection: the transfer follows it
        // (`nf_nat_tftp.c: help()`), to the client's own port.
        #[cfg(feature = "nat-helpers")]
        let exp = if cx.is_translated() {
            let orig = cx.tuple(Direction::Original);
            exp.translated(Direction::Reply, (orig.src(), orig.sport().unwrap_or(0)), false)
        } else {
            exp
        };
        cx.expect(exp).map_err(|_| HelperDrop("cannot add expectation"))
    }
}
