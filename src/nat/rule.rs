//! What a NAT rule says: the `SNAT`, `DNAT` and `MASQUERADE` targets of
//! the nat table and their options (`nf_nat.h: struct nf_nat_range2`).

use core::net::IpAddr;

use crate::tuple::Family;

/// Which end of a connection a rule translates (`enum nf_nat_manip_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NatType {
    /// Source NAT (`SNAT`, `MASQUERADE`): the original direction's source
    /// is rewritten, so the reply tuple's destination changes. Linux
    /// applies it at POST_ROUTING (and LOCAL_IN).
    Source,
    /// Destination NAT (`DNAT`, `REDIRECT`): the original direction's
    /// destination is rewritten, so the reply tuple's source changes.
    /// Linux applies it at PRE_ROUTING (and LOCAL_OUT).
    Destination,
}

/// A NAT rule: the binding [`ConnTable::nat`](crate::ConnTable::nat)
/// gives the new connection of a packet, as the target of an iptables or
/// nftables nat rule does on a connection's first packet
/// (`nf_nat_core.c: nf_nat_setup_info()`).
///
/// Built from one of the constructors, then refined:
///
/// ```
/// use ctrack::nat::{NatRule, NatType};
///
/// // iptables -t nat -A POSTROUTING -j SNAT --to-source 203.0.113.1-203.0.113.4:1024-2047 --persistent
/// let rule = NatRule::snat_range("203.0.113.1".parse().unwrap(), "203.0.113.4".parse().unwrap())
///     .ports(1024, 2047)
///     .persistent();
/// assert_eq!(rule.nat_type(), NatType::Source);
/// assert_eq!(rule.port_range(), Some((1024, 2047)));
/// // iptables -t nat -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.8:8080
/// let web = NatRule::dnat("10.0.0.8".parse().unwrap()).ports(8080, 8080);
/// assert_eq!(web.nat_type(), NatType::Destination);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct NatRule {
    pub(crate) nat_type: NatType,
    /// The address range (`NF_NAT_RANGE_MAP_IPS`); `None`: addresses stay.
    pub(crate) addrs: Option<(Family, [u8; 16], [u8; 16])>,
    /// The port (ICMP identifier) range (`NF_NAT_RANGE_PROTO_SPECIFIED`).
    pub(crate) ports: Option<(u16, u16)>,
    /// Built from addresses of two families: fits no connection.
    pub(crate) mixed_families: bool,
    pub(crate) persistent: bool,
    pub(crate) random: bool,
    pub(crate) random_fully: bool,
}

fn bytes(a: IpAddr) -> (Family, [u8; 16]) {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v4) => {
            b[..4].copy_from_slice(&v4.octets());
            (Family::Ipv4, b)
        }
        IpAddr::V6(v6) => (Family::Ipv6, v6.octets()),
    }
}

impl NatRule {
    fn new(nat_type: NatType, min: IpAddr, max: IpAddr) -> NatRule {
        let ((fa, a), (fb, b)) = (bytes(min), bytes(max));
        // Two families make a range of nothing: the rule then fits no
        // connection (`NatError::FamilyMismatch`). A reversed range is
        // taken in order.
        let addrs = if fa != fb {
            None
        } else if u128::from_be_bytes(a) <= u128::from_be_bytes(b) {
            Some((fa, a, b))
        } else {
            Some((fa, b, a))
        };
        NatRule {
            nat_type,
            addrs,
            mixed_families: fa != fb,
            ports: None,
            persistent: false,
            random: false,
            random_fully: false,
        }
    }

    /// Source NAT to `addr` (`SNAT --to-source addr`).
    pub fn snat(addr: IpAddr) -> NatRule {
        NatRule::new(NatType::Source, addr, addr)
    }

    /// Source NAT to an address of `min..=max` (`SNAT --to-source
    /// min-max`), chosen by a hash of the connection's source and
    /// destination addresses (of the source only with
    /// [`NatRule::persistent`]), as `nf_nat_core.c: find_best_ips_proto()`
    /// does.
    pub fn snat_range(min: IpAddr, max: IpAddr) -> NatRule {
        NatRule::new(NatType::Source, min, max)
    }

    /// Masquerade: source NAT to `addr`, the address of the outgoing
    /// interface (`MASQUERADE`; `nf_nat_masquerade.c:
    /// nf_nat_masquerade_ipv4()` picks the address and then sets up source
    /// NAT like `SNAT`). The caller names the address: ctrack knows no
    /// interfaces, and does not forget masqueraded connections when an
    /// interface goes down.
    pub fn masquerade(addr: IpAddr) -> NatRule {
        NatRule::snat(addr)
    }

    /// Destination NAT to `addr` (`DNAT --to-destination addr`).
    pub fn dnat(addr: IpAddr) -> NatRule {
        NatRule::new(NatType::Destination, addr, addr)
    }

    /// Destination NAT to an address of `min..=max`, chosen like
    /// [`NatRule::snat_range`]'s.
    pub fn dnat_range(min: IpAddr, max: IpAddr) -> NatRule {
        NatRule::new(NatType::Destination, min, max)
    }

    /// Translate the port (TCP, UDP, UDP-Lite, SCTP) or ICMP echo
    /// identifier into `min..=max` too (`--to-source addr:min-max`,
    /// `NF_NAT_RANGE_PROTO_SPECIFIED`; a reversed range is taken in
    /// order). Without it, source NAT keeps the port if it can and else
    /// picks one of the same class (1-511, 600-1023 or 1024-65535, as
    /// `nf_nat_core.c: nf_nat_l4proto_unique_tuple()` does), and
    /// destination NAT never changes the port.
    pub fn ports(self, min: u16, max: u16) -> NatRule {
        NatRule { ports: Some((min.min(max), min.max(max))), ..self }
    }

    /// `--persistent` (`NF_NAT_RANGE_PERSISTENT`): the address picked from
    /// a range depends on the connection's source address only, not on its
    /// destination, so that a client gets the same translated address for
    /// every destination.
    pub fn persistent(self) -> NatRule {
        NatRule { persistent: true, ..self }
    }

    /// `--random` (`NF_NAT_RANGE_PROTO_RANDOM`): the port is always picked
    /// from the range at an unpredictable offset, even when the original
    /// port would be free (no port preservation). The offset is a keyed
    /// hash of the tuple and of the entry's generation under the table's
    /// secret [`HashKey`](crate::HashKey) (Linux: `get_random_u16()`).
    pub fn random(self) -> NatRule {
        NatRule { random: true, ..self }
    }

    /// `--random-fully` (`NF_NAT_RANGE_PROTO_RANDOM_FULLY`): in Linux 6.18
    /// the same as [`NatRule::random`] (both are
    /// `NF_NAT_RANGE_PROTO_RANDOM_ALL`; older kernels used a keyed hash for
    /// `--random` and a PRNG for this one).
    pub fn random_fully(self) -> NatRule {
        NatRule { random_fully: true, ..self }
    }

    /// Source or destination NAT.
    pub fn nat_type(&self) -> NatType {
        self.nat_type
    }

    /// The port (ICMP identifier) range, if given.
    pub fn port_range(&self) -> Option<(u16, u16)> {
        self.ports
    }

    /// `random` or `random_fully`.
    pub(crate) fn random_all(&self) -> bool {
        self.random || self.random_fully
    }
}
