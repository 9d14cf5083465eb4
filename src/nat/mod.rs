//! Network address translation on top of the tracker: the binding a
//! connection gets at its first packet, and the rewriting of every packet
//! of it afterwards (Linux's `nf_nat`).
//!
//! * [`rule`]: [`NatRule`], what a `SNAT`, `DNAT` or `MASQUERADE` target
//!   says;
//! * `setup`: [`ConnTable::nat`](crate::ConnTable::nat), the binding:
//!   the new reply tuple, unique in the table (`nf_nat_core.c:
//!   nf_nat_setup_info()`, `get_unique_tuple()`);
//! * `mangle`: rewriting one IP header and its layer-4 header in place,
//!   with incremental checksum updates (`nf_nat_proto.c:
//!   nf_nat_ipv4_manip_pkt()`, RFC 1624, RFC 3022 § 4.2);
//! * `translate`: [`ConnTable::translate`](crate::ConnTable::translate),
//!   the implicit (reverse) translation of every packet of a NATed
//!   connection, ICMP errors about it included (`nf_nat_core.c:
//!   nf_nat_packet()`, `nf_nat_proto.c: nf_nat_icmp_reply_translation()`).
//!
//! The order is Linux's: [`ConnTable::classify`](crate::ConnTable::classify),
//! then (for a NEW packet, as the nat table's rules do) one
//! [`ConnTable::nat`](crate::ConnTable::nat) per NAT type, then
//! [`ConnTable::confirm`](crate::ConnTable::confirm); and for every packet
//! that passes, [`ConnTable::translate`](crate::ConnTable::translate)
//! before it is sent.
//!
//! * `payload`: what helpers rewrite in a translated connection's
//!   packets (FTP, IRC, Amanda, SIP, SNMP, PPTP; feature `nat-helpers`)
//!   and the TCP sequence adjustment a change of length needs
//!   (`nf_nat_helper.c`, `nf_conntrack_seqadj.c`); the connections they
//!   expect are translated on arrival (`nf_nat_follow_master()`,
//!   `nf_nat_sip_expected()`, and a PPTP call's GRE connection, keys
//!   included, `nf_nat_pptp.c: pptp_nat_expected()`).

mod mangle;
pub(crate) mod payload;
pub mod rule;
mod setup;
mod translate;

use core::fmt;

pub use rule::{NatRule, NatType};
pub use setup::NAT_MAX_ATTEMPTS;
pub(crate) use setup::with_dst_port;

/// Why a NAT binding or translation failed. The packet must be dropped
/// (as Linux drops it: `NF_DROP` from the nat hook, or an insert failure at
/// confirmation), and a NEW packet's entry discarded
/// ([`ConnTable::discard`](crate::ConnTable::discard)).
///
/// ```
/// use ctrack::nat::NatError;
/// assert_eq!(NatError::NoFreeTuple.to_string(), "no free tuple in the NAT range");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NatError {
    /// The verdict is not that of a packet with a new, unconfirmed entry
    /// (NAT bindings are made before confirmation only).
    NotNew,
    /// The entry has a binding of this type already
    /// (`nf_nat_initialized()`).
    AlreadyBound,
    /// The rule's addresses are not of the connection's family (or of two
    /// families).
    FamilyMismatch,
    /// Every candidate tuple of a source NAT range is taken by another
    /// connection (Linux gives up after `NF_NAT_MAX_ATTEMPTS` tries and
    /// fails at confirmation). Destination NAT keeps a taken tuple, as
    /// Linux does: confirmation's null source binding then moves the
    /// source port.
    NoFreeTuple,
    /// No extension slot or index position for the reply tuple.
    NoRoom,
    /// The verdict's entry is gone.
    StaleEntry,
    /// The packet is not a well-formed IP packet of the kind its verdict
    /// says.
    Malformed,
    /// An ICMP redirect about a NATed connection: dropped
    /// (`nf_nat_icmp_reply_translation()`).
    Redirect,
    /// An ICMP or ICMPv6 error whose checksum is wrong, which Linux's NAT
    /// drops whether or not its connection is translated
    /// (`nf_nat_icmp_reply_translation()` checks it first); refused only
    /// where classification did not check it already
    /// ([`Config::checksum`](crate::Config) off).
    BadChecksum,
    /// The payload edits the helper decided for this packet were replaced
    /// by another packet's before it was translated (see
    /// [`ConnTable::translate_in`](crate::ConnTable::translate_in)).
    RewriteLost,
}

impl fmt::Display for NatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NatError::NotNew => "not a new, unconfirmed connection",
            NatError::AlreadyBound => "NAT of this type is set up already",
            NatError::FamilyMismatch => "NAT rule of another address family",
            NatError::NoFreeTuple => "no free tuple in the NAT range",
            NatError::NoRoom => "no room for the NAT reply tuple",
            NatError::StaleEntry => "the connection is gone",
            NatError::Malformed => "malformed packet",
            NatError::Redirect => "ICMP redirect of a NATed connection",
            NatError::BadChecksum => "ICMP error with a wrong checksum",
            NatError::RewriteLost => "the helper's payload edits for this packet are gone",
        })
    }
}

impl core::error::Error for NatError {}
