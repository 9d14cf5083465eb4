//! Broadcast helpers (`nf_conntrack_broadcast.c: nf_conntrack_broadcast_help()`):
//! SNMP (`snmp`, UDP 161, `nf_conntrack_snmp.c`) and NetBIOS-NS (`netbios-ns`,
//! UDP 137, `nf_conntrack_netbios_ns.c`).
//!
//! A query this host sends to a subnet broadcast address is answered by
//! unicast from each host of the subnet; no answer matches the query's
//! reply tuple, whose source is the broadcast address. The helper expects
//! them: from any address of the subnet, from the service's port, to the
//! querier's address and port.
//!
//! Linux applies this only to broadcasts sent by a local socket; a library
//! cannot know, so the caller says so with
//! [`Meta::broadcast_prefix`](crate::Meta::broadcast_prefix) (the prefix
//! length of the subnet whose broadcast address the packet is sent to).
//! Without it the helpers do nothing, which is what Linux does for
//! forwarded traffic.

use super::{Helper, HelperContext};
use crate::expect::{ExpectFlags, ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Family, Tuple};

/// A helper's part beyond the broadcast one (SNMP's NAT).
type Then = fn(&mut HelperContext<'_>) -> Result<(), HelperDrop>;

/// A broadcast helper: name, service port, expectation lifetime, and what
/// it does after the broadcast part.
pub struct Broadcast {
    name: &'static str,
    port: u16,
    timeout: u32,
    then: Option<Then>,
}

/// SNMP: expectations and the master live 30 s; with feature
/// `nat-helpers`, the addresses of a translated connection's messages are
/// translated (`nf_conntrack_snmp.c: snmp_conntrack_help()` calls
/// `nf_nat_snmp_basic`'s hook after the broadcast part).
#[cfg(feature = "helper-snmp")]
pub static SNMP: Broadcast = Broadcast {
    name: "snmp",
    port: 161,
    timeout: 30,
    #[cfg(feature = "nat-helpers")]
    then: Some(super::snmp::nat::help),
    #[cfg(not(feature = "nat-helpers"))]
    then: None,
};

/// NetBIOS name service: 3 s.
#[cfg(feature = "helper-netbios-ns")]
pub static NETBIOS_NS: Broadcast = Broadcast { name: "netbios-ns", port: 137, timeout: 3, then: None };

/// The broadcast address of `addr`'s subnet of `prefix` bits.
fn broadcast_of(addr: [u8; 4], prefix: u8) -> [u8; 4] {
    let host = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
    (u32::from_be_bytes(addr) | host).to_be_bytes()
}

impl Helper for Broadcast {
    fn name(&self) -> &'static str {
        self.name
    }

    fn policy(&self, _class: u8) -> ExpectPolicy {
        ExpectPolicy::new(1, self.timeout)
    }

    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        self.expect_answers(cx);
        self.then.map_or(Ok(()), |then| then(cx))
    }
}

impl Broadcast {
    /// `nf_conntrack_broadcast.c: nf_conntrack_broadcast_help()`: a query
    /// to a subnet's broadcast address expects the answers.
    fn expect_answers(&self, cx: &mut HelperContext<'_>) {
        let Some(prefix) = cx.broadcast_prefix() else { return };
        if cx.dir() != Direction::Original {
            return;
        }
        let orig = cx.tuple(Direction::Original);
        let (core::net::IpAddr::V4(src), core::net::IpAddr::V4(dst)) = (orig.src(), orig.dst()) else {
            return;
        };
        // The destination must be the broadcast address of the sender's subnet.
        if orig.family() != Family::Ipv4 || prefix > 32 || broadcast_of(src.octets(), prefix) != dst.octets()
        {
            return;
        }
        let Some(sport) = orig.sport() else { return };
        let Some(t) = Tuple::with_ports(dst.into(), self.port, src.into(), sport, orig.proto()) else {
            return;
        };
        let exp = Expectation::from_any_port(t)
            .with_src_prefix(prefix)
            .with_exact_src_port()
            .with_flags(ExpectFlags::PERMANENT);
        // Errors are ignored: the broadcast helpers never drop
        // (`nf_conntrack_broadcast.c: nf_conntrack_broadcast_help()` always
        // accepts the packet).
        let _ = cx.expect(exp);
        cx.set_timeout(self.timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_addresses() {
        assert_eq!(broadcast_of([192, 168, 1, 10], 24), [192, 168, 1, 255]);
        assert_eq!(broadcast_of([10, 1, 2, 3], 8), [10, 255, 255, 255]);
        assert_eq!(broadcast_of([10, 1, 2, 3], 32), [10, 1, 2, 3]);
        assert_eq!(broadcast_of([10, 1, 2, 3], 0), [255, 255, 255, 255]);
    }
}
