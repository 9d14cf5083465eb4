//! Tuples: the identity of one direction of a flow
//! (`nf_conntrack_tuple.h: struct nf_conntrack_tuple`).
//!
//! A [`Tuple`] holds addresses, protocol and the layer-4 identifiers. An
//! entry's reply tuple is the inversion of its original tuple
//! (`nf_conntrack_core.c: nf_ct_invert_tuple()`): ctrack does no NAT, so the
//! reply tuple never has to be stored.
//!
//! The table finds both directions with one probe by hashing a *canonical*
//! form (`Tuple::canonical`) that is the same for a tuple and its inversion.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::reason::Reason;
pub use crate::wire::ip::Family;
use crate::wire::ip::{IpView, Mode, parse_ip};

/// IP protocol numbers ctrack knows by name.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// DCCP. Linux 6.18 has no DCCP tracker (`nf_conntrack_proto_dccp.c`
    /// went with the DCCP protocol in 6.16), so DCCP is tracked like any
    /// other protocol without ports: addresses only, generic timeout. Two
    /// DCCP flows between the same hosts share one entry. `conntrack -L`
    /// still names it `dccp` and prints `sport=0 dport=0`.
    pub const DCCP: u8 = 33;
    /// GRE.
    pub const GRE: u8 = 47;
}

/// Direction of a packet relative to its connection (`nf_conntrack_core.c: resolve_normal_ct()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// Same direction as the packet that created the entry.
    Original = 0,
    /// The other way.
    Reply = 1,
}

impl Direction {
    /// 0 for original, 1 for reply (the kernel's numbering).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The other direction.
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Original => Direction::Reply,
            Direction::Reply => Direction::Original,
        }
    }

    /// `original` or `reply`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Original => "original",
            Direction::Reply => "reply",
        }
    }
}

/// The layer-4 part of a tuple, decoded per protocol (`nf_conntrack_core.c: nf_ct_get_tuple()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum L4 {
    /// TCP, UDP, UDP-Lite, SCTP. Not DCCP: Linux 6.18 has no DCCP tracker
    /// and keeps DCCP ports out of the tuple (see [`proto::DCCP`]).
    Ports {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// ICMP and ICMPv6.
    Icmp {
        /// Message type.
        ty: u8,
        /// Message code.
        code: u8,
        /// Identifier (echo id).
        id: u16,
    },
    /// GRE: keys (0 for version 0; version 1 carries the call id:
    /// `nf_conntrack_proto_gre.c: gre_pkt_to_tuple()`).
    Gre {
        /// Source key.
        srckey: u16,
        /// Destination key (PPTP call id).
        dstkey: u16,
    },
    /// Any other protocol: addresses only.
    None,
}

/// One direction of a flow.
///
/// ```
/// use ctrack::{Tuple, L4};
/// let t = Tuple::with_ports("192.0.2.10".parse().unwrap(), 40000,
///                           "198.51.100.53".parse().unwrap(), 53, 17).unwrap();
/// let r = t.invert().unwrap();
/// assert_eq!(r.l4(), L4::Ports { sport: 53, dport: 40000 });
/// assert_eq!(r.invert(), Some(t));
/// ```
// In C order: an entry stores its key's ports, family and protocol just
// before its zone, the 8 bytes a lookup compares at once ([`head_word`]).
#[derive(Debug, Clone, Copy, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
pub struct Tuple {
    src: [u8; 16],
    dst: [u8; 16],
    /// Source port, or ICMP identifier.
    src_l4: u16,
    /// Destination port, or ICMP type (high byte) and code (low byte).
    dst_l4: u16,
    /// The family's `l3num` (2 or 10; 0 only in the all-zero tuple of an
    /// unused slot, which reads as IPv4): a byte rather than [`Family`],
    /// so that all-zero memory is a valid tuple (tables in `.bss`).
    family: u8,
    proto: u8,
}

/// Whether the IPv4 tuple from `src`:`sport` to `dst`:`dport` (addresses
/// as numbers, network order) is its own canonical form
/// ([`Tuple::canonical`]: the lower (address, port) end is the source).
#[inline(always)]
pub(crate) fn ipv4_is_key(src: u32, dst: u32, sport: u16, dport: u16) -> bool {
    (src, sport) <= (dst, dport)
}

/// The source and destination of an IPv4 TCP or UDP tuple, each an
/// address and a port ([`Tuple::ipv4_port_ends`]).
pub(crate) type Ipv4PortEnds = (([u8; 4], u16), ([u8; 4], u16));

/// The first hash word of a key ([`Tuple::hash_words`]): its layer-4
/// fields, family and protocol and the zone, in the order an entry stores
/// them (the key's last 6 bytes, then the entry's zone), so that on a
/// little-endian host a lookup compares those 8 bytes with it at once
/// ([`Tuple::has_ipv4_words`]).
#[inline(always)]
pub(crate) fn head_word(family: u8, proto: u8, zone: u16, sport: u16, dport: u16) -> u64 {
    u64::from(sport)
        | u64::from(dport) << 16
        | u64::from(family) << 32
        | u64::from(proto) << 40
        | u64::from(zone) << 48
}

/// The hash words ([`Tuple::hash_words`]) of the IPv4 tuple of `proto`
/// from `src`:`sport` to `dst`:`dport` (addresses as numbers, network
/// order) in `zone`: ports, family, protocol and zone in one word
/// ([`head_word`]), both addresses (their bytes as a little-endian number)
/// in the other.
#[inline(always)]
pub(crate) fn ipv4_hash_words(proto: u8, zone: u16, src: u32, dst: u32, sport: u16, dport: u16) -> [u64; 2] {
    let head = head_word(Family::Ipv4 as u8, proto, zone, sport, dport);
    [head, u64::from(src.swap_bytes()) | u64::from(dst.swap_bytes()) << 32]
}

/// The hash words ([`Tuple::hash_words`]) of the IPv6 tuple of `proto`
/// from `src`:`sport` to `dst`:`dport` in `zone`, each address as its
/// high and low 64 bits (numbers, network order): ports, family, protocol
/// and zone in one word ([`head_word`]), then each address's two halves
/// (their bytes as little-endian numbers).
#[cfg(not(feature = "ipv4-only"))]
#[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
#[inline(always)]
pub(crate) fn ipv6_hash_words(
    proto: u8,
    zone: u16,
    src: [u64; 2],
    dst: [u64; 2],
    sport: u16,
    dport: u16,
) -> [u64; 5] {
    let head = head_word(Family::Ipv6 as u8, proto, zone, sport, dport);
    [head, src[0].swap_bytes(), src[1].swap_bytes(), dst[0].swap_bytes(), dst[1].swap_bytes()]
}

// Field by field, the addresses as whole words: a byte-array comparison
// is a call to `memcmp` on microcontrollers (250 of a Cortex-M3's 1,171
// instructions per UDP packet went there), and a lookup compares keys.
//
// An IPv4 tuple's addresses are 4 bytes followed by 12 zero bytes (every
// constructor sees to it, [`Tuple::from_raw`]): its comparison stops there.
impl PartialEq for Tuple {
    fn eq(&self, other: &Tuple) -> bool {
        let head = |a: &[u8; 16]| u32::from_ne_bytes([a[0], a[1], a[2], a[3]]);
        let tail = |a: &[u8; 16]| {
            let [_, _, _, _, rest @ ..] = *a;
            rest
        };
        self.family == other.family
            && self.proto == other.proto
            && self.src_l4 == other.src_l4
            && self.dst_l4 == other.dst_l4
            && head(&self.src) == head(&other.src)
            && head(&self.dst) == head(&other.dst)
            && (self.family != Family::Ipv6 as u8
                || (tail(&self.src) == tail(&other.src) && tail(&self.dst) == tail(&other.dst)))
    }
}

// What the equality compares, in the order of the fields.
impl core::hash::Hash for Tuple {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        (self.family, self.proto, self.src, self.dst, self.src_l4, self.dst_l4).hash(state);
    }
}

fn addr_bytes(a: IpAddr) -> (Family, [u8; 16]) {
    match a {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (Family::Ipv4, b)
        }
        IpAddr::V6(v6) => (Family::Ipv6, v6.octets()),
    }
}

/// True for protocols whose tuple carries ports (the ones
/// `nf_conntrack_core.c: nf_ct_get_tuple()` reads with `nf_ct_get_tuple_ports()`).
/// DCCP is not one of them since Linux 6.16 (no DCCP tracker: see [`proto::DCCP`]).
pub(crate) fn has_ports(proto: u8) -> bool {
    matches!(proto, proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP)
}

/// True for the ICMP protocol of `family` (ICMP under IPv4, ICMPv6 under IPv6).
pub(crate) fn is_icmp_of(family: Family, proto: u8) -> bool {
    matches!((family, proto), (Family::Ipv4, proto::ICMP) | (Family::Ipv6, proto::ICMPV6))
}

/// The inverse of an ICMP/ICMPv6 query or reply type
/// (`nf_conntrack_proto_icmp.c: nf_conntrack_invert_icmp_tuple()`,
/// `nf_conntrack_proto_icmpv6.c: nf_conntrack_invert_icmpv6_tuple()`), `None`
/// for any type that cannot be inverted.
pub(crate) fn invert_icmp_type(family: Family, ty: u8) -> Option<u8> {
    match family {
        Family::Ipv4 => match ty {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        },
        Family::Ipv6 => match ty {
            128 => Some(129),
            129 => Some(128),
            139 => Some(140),
            140 => Some(139),
            _ => None,
        },
    }
}

/// True for the ICMP types that may start an entry (the `valid_new[]` check of
/// `nf_conntrack_proto_icmp.c: nf_conntrack_icmp_packet()` and
/// `nf_conntrack_proto_icmpv6.c: nf_conntrack_icmpv6_packet()`).
pub(crate) fn is_icmp_request(family: Family, ty: u8) -> bool {
    match family {
        Family::Ipv4 => matches!(ty, 8 | 13 | 15 | 17),
        Family::Ipv6 => matches!(ty, 128 | 139),
    }
}

impl Tuple {
    /// The all-zero tuple of an unused slot.
    pub(crate) const ZERO: Tuple =
        Tuple { family: 0, proto: 0, src: [0; 16], dst: [0; 16], src_l4: 0, dst_l4: 0 };

    /// The IPv4 tuple of `proto` from `src`:`sport` to `dst`:`dport`
    /// (addresses as numbers, network order).
    // Inline on 64-bit hosts (a new UDP flow 14 x86 instructions fewer,
    // measured); left to the compiler on microcontrollers, for flash.
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub(crate) fn ipv4(proto: u8, src: u32, dst: u32, sport: u16, dport: u16) -> Tuple {
        let addr = |x: u32| {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&x.to_be_bytes());
            b
        };
        Tuple::from_raw(Family::Ipv4, proto, addr(src), addr(dst), sport, dport)
    }

    /// A tuple of these fields; an IPv4 tuple's addresses are their first
    /// 4 bytes (the rest is cleared: the equality relies on it).
    pub(crate) fn from_raw(
        family: Family,
        proto: u8,
        mut src: [u8; 16],
        mut dst: [u8; 16],
        src_l4: u16,
        dst_l4: u16,
    ) -> Tuple {
        if family == Family::Ipv4 {
            src[4..].fill(0);
            dst[4..].fill(0);
        }
        Tuple { family: family as u8, proto, src, dst, src_l4, dst_l4 }
    }

    fn checked_addrs(src: IpAddr, dst: IpAddr) -> Option<(Family, [u8; 16], [u8; 16])> {
        let (fs, s) = addr_bytes(src);
        let (fd, d) = addr_bytes(dst);
        (fs == fd).then_some((fs, s, d))
    }

    /// A tuple of a port protocol (TCP, UDP, UDP-Lite, SCTP).
    /// `None` if the address families differ or `proto` has no ports
    /// (DCCP has none in Linux 6.18: use [`Tuple::generic`]).
    pub fn with_ports(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> Option<Tuple> {
        let (family, s, d) = Self::checked_addrs(src, dst)?;
        has_ports(proto).then_some(Tuple::from_raw(family, proto, s, d, sport, dport))
    }

    /// A GRE tuple with its keys (`nf_conntrack_proto_gre.c: gre_pkt_to_tuple()`).
    pub fn gre(src: IpAddr, srckey: u16, dst: IpAddr, dstkey: u16) -> Option<Tuple> {
        let (family, s, d) = Self::checked_addrs(src, dst)?;
        Some(Tuple::from_raw(family, proto::GRE, s, d, srckey, dstkey))
    }

    /// An ICMP (IPv4 addresses) or ICMPv6 (IPv6 addresses) tuple.
    pub fn icmp(src: IpAddr, dst: IpAddr, ty: u8, code: u8, id: u16) -> Option<Tuple> {
        let (family, s, d) = Self::checked_addrs(src, dst)?;
        let proto = match family {
            Family::Ipv4 => proto::ICMP,
            Family::Ipv6 => proto::ICMPV6,
        };
        Some(Tuple::from_raw(family, proto, s, d, id, u16::from_be_bytes([ty, code])))
    }

    /// A tuple of any other protocol: addresses and protocol only.
    pub fn generic(src: IpAddr, dst: IpAddr, proto: u8) -> Option<Tuple> {
        let (family, s, d) = Self::checked_addrs(src, dst)?;
        (!has_ports(proto) && !is_icmp_of(family, proto) && proto != proto::GRE)
            .then_some(Tuple::from_raw(family, proto, s, d, 0, 0))
    }

    /// Address family.
    pub fn family(&self) -> Family {
        if self.family == Family::Ipv6 as u8 { Family::Ipv6 } else { Family::Ipv4 }
    }

    /// IP protocol number.
    pub fn proto(&self) -> u8 {
        self.proto
    }

    /// The address of this tuple's family stored in `b` (IPv4 in its
    /// first four bytes).
    pub(crate) fn ip(&self, b: &[u8; 16]) -> IpAddr {
        match self.family() {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(*b)),
        }
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        self.ip(&self.src)
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        self.ip(&self.dst)
    }

    pub(crate) fn dst_bytes(&self) -> &[u8; 16] {
        &self.dst
    }

    pub(crate) fn src_bytes(&self) -> &[u8; 16] {
        &self.src
    }

    /// The ends of an IPv4 TCP or UDP tuple, `(source address, source
    /// port, destination address, destination port)`, read without
    /// building anything (NAT's translation of its commonest packets);
    /// `None` for any other tuple.
    #[inline(always)]
    pub(crate) fn ipv4_port_ends(&self) -> Option<Ipv4PortEnds> {
        let four = |a: &[u8; 16]| [a[0], a[1], a[2], a[3]];
        (self.family == Family::Ipv4 as u8 && (self.proto == proto::UDP || self.proto == proto::TCP))
            .then(|| ((four(&self.src), self.src_l4), (four(&self.dst), self.dst_l4)))
    }

    /// Source port or ICMP id, raw.
    pub(crate) fn src_l4(&self) -> u16 {
        self.src_l4
    }

    /// Destination port or ICMP type/code, raw.
    pub(crate) fn dst_l4(&self) -> u16 {
        self.dst_l4
    }

    /// The source port, for protocols with ports (TCP, UDP, UDP-Lite,
    /// SCTP).
    pub fn sport(&self) -> Option<u16> {
        has_ports(self.proto).then_some(self.src_l4)
    }

    /// The destination port, for protocols with ports.
    pub fn dport(&self) -> Option<u16> {
        has_ports(self.proto).then_some(self.dst_l4)
    }

    /// The layer-4 part.
    pub fn l4(&self) -> L4 {
        if has_ports(self.proto) {
            L4::Ports { sport: self.src_l4, dport: self.dst_l4 }
        } else if is_icmp_of(self.family(), self.proto) {
            let [ty, code] = self.dst_l4.to_be_bytes();
            L4::Icmp { ty, code, id: self.src_l4 }
        } else if self.proto == proto::GRE {
            L4::Gre { srckey: self.src_l4, dstkey: self.dst_l4 }
        } else {
            L4::None
        }
    }

    /// ICMP type for ICMP tuples.
    pub(crate) fn icmp_type(&self) -> u8 {
        self.dst_l4.to_be_bytes()[0]
    }

    /// The tuple of a packet travelling the other way
    /// (`nf_conntrack_core.c: nf_ct_invert_tuple()`); `None` for ICMP types
    /// that have no inverse.
    pub fn invert(&self) -> Option<Tuple> {
        let (src_l4, dst_l4) = if is_icmp_of(self.family(), self.proto) {
            let [ty, code] = self.dst_l4.to_be_bytes();
            let inv = invert_icmp_type(self.family(), ty)?;
            (self.src_l4, u16::from_be_bytes([inv, code]))
        } else {
            (self.dst_l4, self.src_l4)
        };
        Some(Tuple { src: self.dst, dst: self.src, src_l4, dst_l4, ..*self })
    }

    /// The direction-independent form of an invertible tuple: `(canonical,
    /// is_self)`, where `canonical` is either `self` or `self.invert()` and
    /// `is_self` says which. A tuple and its inversion have the same
    /// canonical form and opposite `is_self` (except for a flow from an
    /// endpoint to itself, whose two directions are equal).
    ///
    /// ICMP: the query type is canonical. Others: the lower
    /// (address, port) endpoint is the source.
    pub(crate) fn canonical(&self) -> Option<(Tuple, bool)> {
        if is_icmp_of(self.family(), self.proto) {
            let inv = self.invert()?;
            return Some(if is_icmp_request(self.family(), self.icmp_type()) {
                (*self, true)
            } else {
                (inv, false)
            });
        }
        // (address, port) of each end, compared as numbers: the bytes of an
        // address in network order are its big-endian digits.
        let src = u128::from_be_bytes(self.src);
        let dst = u128::from_be_bytes(self.dst);
        if (src, self.src_l4) <= (dst, self.dst_l4) {
            Some((*self, true))
        } else {
            Some((
                Tuple { src: self.dst, dst: self.src, src_l4: self.dst_l4, dst_l4: self.src_l4, ..*self },
                false,
            ))
        }
    }

    /// The canonical form ([`Tuple::canonical`]) of the tuple of an IPv4
    /// packet of a protocol with ports, built directly from its fields
    /// (the tests' way to the keys the fast paths keep as numbers).
    #[cfg(test)]
    pub(crate) fn canonical_ipv4(
        proto: u8,
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
    ) -> (Tuple, bool) {
        let is_key = ipv4_is_key(u32::from_be_bytes(src), u32::from_be_bytes(dst), sport, dport);
        let ((a, ap), (b, bp)) =
            if is_key { ((src, sport), (dst, dport)) } else { ((dst, dport), (src, sport)) };
        let mut s16 = [0u8; 16];
        let mut d16 = [0u8; 16];
        s16[..4].copy_from_slice(&a);
        d16[..4].copy_from_slice(&b);
        (Tuple::from_raw(Family::Ipv4, proto, s16, d16, ap, bp), is_key)
    }

    /// Whether the tuple equals its own inversion: a flow from an endpoint
    /// to itself, same address and port both ways. Never ICMP: no query
    /// type is its own reply type.
    // The entry's key's method in the dual-stack build (`StoredKey`).
    #[cfg_attr(feature = "ipv4-only", allow(dead_code))]
    #[inline(always)]
    pub(crate) fn is_own_inverse(&self) -> bool {
        // The ports first, where they are read (nearly every flow's
        // differ); the rest out of line: on a Cortex-M3 the call on every
        // packet cost an established UDP packet 10 instructions and a TCP
        // ACK 8, for 88 bytes of flash (measured).
        self.src_l4 == self.dst_l4 && self.same_ends()
    }

    /// Whether the addresses are one and the tuple is not ICMP
    /// ([`Tuple::is_own_inverse`]'s rest).
    #[cfg_attr(feature = "ipv4-only", allow(dead_code))]
    #[cold]
    fn same_ends(&self) -> bool {
        self.src == self.dst && !is_icmp_of(self.family(), self.proto)
    }

    /// [`Tuple::hash_words`] of an IPv4 tuple, as an array.
    #[inline]
    pub(crate) fn hash_words_ipv4(&self, zone: u16) -> [u64; 2] {
        let addr = |b: &[u8; 16]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        ipv4_hash_words(self.proto, zone, addr(&self.src), addr(&self.dst), self.src_l4, self.dst_l4)
    }

    /// Whether this key, stored by an entry of `zone`, is the IPv4 key
    /// whose hash words are `words` ([`ipv4_hash_words`]): the fast paths'
    /// comparison, two words (the first read, on a little-endian host, as
    /// one load of the key's last 6 bytes and the zone after them).
    // The entry's key's method in the dual-stack build (`StoredKey`).
    #[cfg_attr(feature = "ipv4-only", allow(dead_code))]
    #[inline(always)]
    pub(crate) fn has_ipv4_words(&self, zone: u16, words: [u64; 2]) -> bool {
        let le = |a: &[u8; 16]| u64::from(u32::from_le_bytes([a[0], a[1], a[2], a[3]]));
        head_word(self.family, self.proto, zone, self.src_l4, self.dst_l4) == words[0]
            && (le(&self.src) | le(&self.dst) << 32) == words[1]
    }

    /// Whether this key, stored by an entry of `zone` (or an extension's
    /// reply tuple), is the IPv6 key whose hash words are `words`
    /// ([`ipv6_hash_words`]): the IPv6 fast path's comparison.
    #[cfg(not(feature = "ipv4-only"))]
    #[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn has_ipv6_words(&self, zone: u16, words: &[u64; 5]) -> bool {
        let half = |a: &[u8; 16], at: usize| {
            u64::from_le_bytes([
                a[at],
                a[at + 1],
                a[at + 2],
                a[at + 3],
                a[at + 4],
                a[at + 5],
                a[at + 6],
                a[at + 7],
            ])
        };
        head_word(self.family, self.proto, zone, self.src_l4, self.dst_l4) == words[0]
            && half(&self.src, 0) == words[1]
            && half(&self.src, 8) == words[2]
            && half(&self.dst, 0) == words[3]
            && half(&self.dst, 8) == words[4]
    }

    /// The IPv6 tuple whose hash words are `words` ([`ipv6_hash_words`]).
    #[cfg(not(feature = "ipv4-only"))]
    #[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
    pub(crate) fn of_ipv6_words(words: &[u64; 5]) -> Tuple {
        let addr = |high: u64, low: u64| {
            let mut a = [0u8; 16];
            a[..8].copy_from_slice(&high.to_le_bytes());
            a[8..].copy_from_slice(&low.to_le_bytes());
            a
        };
        let head = words[0];
        Tuple::from_raw(
            Family::Ipv6,
            (head >> 40) as u8,
            addr(words[1], words[2]),
            addr(words[3], words[4]),
            head as u16,
            (head >> 16) as u16,
        )
    }

    /// The words fed to the table's hash (as in
    /// `nf_conntrack_core.c: hash_conntrack_raw()`: everything but the
    /// direction), and how many of them are used: family, protocol, zone
    /// and the layer-4 fields in one word, then the addresses (IPv4: both
    /// in one word, so an IPv4 key is two SipHash blocks).
    #[inline]
    pub(crate) fn hash_words(&self, zone: u16) -> ([u64; 5], usize) {
        let word = |b: &[u8]| b.iter().rev().fold(0u64, |w, &x| (w << 8) | u64::from(x));
        let head = head_word(self.family, self.proto, zone, self.src_l4, self.dst_l4);
        match self.family() {
            Family::Ipv4 => {
                let [a, b] = self.hash_words_ipv4(zone);
                ([a, b, 0, 0, 0], 2)
            }
            Family::Ipv6 => (
                [
                    head,
                    word(&self.src[..8]),
                    word(&self.src[8..]),
                    word(&self.dst[..8]),
                    word(&self.dst[8..]),
                ],
                5,
            ),
        }
    }
}

/// Whether the first 8 bytes of a GRE packet are an enhanced GRE
/// (version 1, PPTP) header: what keys its tuple by call id
/// ([`Tuple::of_packet`]) and makes it look up its source key in the PPTP
/// key map.
pub(crate) fn is_gre_v1(h: &[u8; 8]) -> bool {
    h[1] & 7 == 1
}

impl Tuple {
    /// The packet's tuple (`nf_conntrack_core.c: nf_ct_get_tuple()`): ports
    /// need 4 bytes of layer 4, ICMP 8; GRE version 1 (PPTP) with 8 bytes
    /// needs the PPP protocol.
    pub(crate) fn of_packet(ip: &IpView<'_>) -> Result<Tuple, Reason> {
        let b = ip.l4;
        let be16 = |o: usize| b.get(o..o + 2).map(|x| u16::from_be_bytes([x[0], x[1]]));
        let short = Reason::ShortPacket;
        let (src_l4, dst_l4) = if has_ports(ip.proto) {
            (be16(0).ok_or(short)?, be16(2).ok_or(short)?)
        } else if is_icmp_of(ip.family, ip.proto) {
            b.get(..8).ok_or(short)?;
            (be16(4).ok_or(short)?, be16(0).ok_or(short)?)
        } else if ip.proto == proto::GRE {
            // `gre_pkt_to_tuple()`: version 1 (PPTP) with the 8 bytes up to
            // its call id is keyed by the call id, and only for PPP;
            // anything else (another version, a header shorter than GRE's
            // 4 bytes, or a version-1 header shorter than 8, whatever its
            // protocol) has keys 0, as the generic tracker's tuple.
            match b.first_chunk::<8>() {
                Some(h) if is_gre_v1(h) && u16::from_be_bytes([h[2], h[3]]) != 0x880b => {
                    return Err(Reason::NotInvertible);
                }
                Some(h) if is_gre_v1(h) => (0, u16::from_be_bytes([h[6], h[7]])),
                _ => (0, 0),
            }
        } else {
            (0, 0)
        };
        Ok(Tuple::from_raw(ip.family, ip.proto, ip.src, ip.dst, src_l4, dst_l4))
    }

    /// [`Tuple::of_packet`] for a packet whose tracker already checked
    /// that the header is long enough.
    pub(crate) fn of_checked_packet(ip: &IpView<'_>) -> Tuple {
        Tuple::of_packet(ip).unwrap_or_else(|_| Tuple::from_raw(ip.family, ip.proto, ip.src, ip.dst, 0, 0))
    }
}

/// The tuple of a raw IPv4/IPv6 packet, without checksum or protocol
/// checks: what a firewall rule needs to match addresses, protocol and
/// ports before (or instead of) tracking.
///
/// ```
/// let dns = [
///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
/// ];
/// let t = ctrack::packet_tuple(&dns).unwrap();
/// assert_eq!(t.l4(), ctrack::L4::Ports { sport: 5353, dport: 53 });
/// ```
pub fn packet_tuple(packet: &[u8]) -> Result<Tuple, Reason> {
    Tuple::of_packet(&parse_ip(packet, Mode::Outer)?)
}

/// An address as `conntrack -L` prints it, with the C library's
/// `inet_ntop()`: as Rust prints it, but for an IPv6 address whose first
/// 96 bits are zero and whose next 16 are not (a deprecated
/// "IPv4-compatible" address, RFC 4291 § 2.5.5.1), which glibc prints with
/// its last 32 bits in dotted decimal (`::10.2.0.2`, where Rust prints
/// `::a02:2`).
pub(crate) struct CliAddr(pub IpAddr);

impl fmt::Display for CliAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V6(a) => {
                let b = a.octets();
                if b[..12].iter().all(|&x| x == 0) && (b[12] | b[13]) != 0 {
                    write!(f, "::{}", Ipv4Addr::new(b[12], b[13], b[14], b[15]))
                } else {
                    write!(f, "{a}")
                }
            }
            IpAddr::V4(a) => write!(f, "{a}"),
        }
    }
}

/// `src=… dst=…` plus the layer-4 fields, as `conntrack -L` prints one tuple
/// (libnetfilter_conntrack `src/conntrack/snprintf_default.c`:
/// `__snprintf_address()`, `__snprintf_proto()`).
impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src={} dst={}", CliAddr(self.src()), CliAddr(self.dst()))?;
        match self.l4() {
            L4::Ports { sport, dport } => write!(f, " sport={sport} dport={dport}"),
            L4::Icmp { ty, code, id } => write!(f, " type={ty} code={code} id={id}"),
            L4::Gre { srckey, dstkey } => write!(f, " srckey=0x{srckey:x} dstkey=0x{dstkey:x}"),
            // The CLI prints ports for DCCP by protocol number; the kernel
            // sends none (generic tuple), so they show as 0.
            L4::None if self.proto == proto::DCCP => f.write_str(" sport=0 dport=0"),
            L4::None => Ok(()),
        }
    }
}

/// What a table entry stores of its canonical key: the tuple itself, or,
/// with feature `ipv4-only`, its IPv4 fields in 14 bytes instead of 38
/// (the table then tracks no IPv6 packet: see `Reason::FamilyNotTracked`).
#[cfg(not(feature = "ipv4-only"))]
pub(crate) type StoredKey = Tuple;

/// A stored key or a tuple, seen as a tuple: borrowed where the entry
/// stores the tuple itself, else rebuilt.
#[cfg(not(feature = "ipv4-only"))]
pub(crate) type TupleView<'a> = &'a Tuple;
#[cfg(feature = "ipv4-only")]
pub(crate) type TupleView<'a> = Tuple;

#[cfg(not(feature = "ipv4-only"))]
impl Tuple {
    /// The key as an entry stores it (always possible).
    #[inline(always)]
    pub(crate) fn store(t: &Tuple) -> Option<StoredKey> {
        Some(*t)
    }

    /// The key an entry stores, as a tuple.
    #[inline(always)]
    pub(crate) fn tuple(&self) -> Tuple {
        *self
    }

    /// This tuple (a stored key or not) as a [`TupleView`].
    #[inline(always)]
    pub(crate) fn view(&self) -> TupleView<'_> {
        self
    }
}

/// An IPv4 tuple as an entry stores it with feature `ipv4-only`.
// In C order, as [`Tuple`], for [`head_word`].
#[cfg(feature = "ipv4-only")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
pub(crate) struct StoredKey {
    src: [u8; 4],
    dst: [u8; 4],
    src_l4: u16,
    dst_l4: u16,
    /// As [`Tuple`]'s: 2, or 0 in the all-zero key of an unused slot.
    family: u8,
    proto: u8,
}

#[cfg(feature = "ipv4-only")]
impl Tuple {
    /// This tuple as a [`TupleView`] (a copy).
    #[inline(always)]
    pub(crate) fn view(&self) -> TupleView<'_> {
        *self
    }
}

#[cfg(feature = "ipv4-only")]
impl StoredKey {
    /// The all-zero key of an unused slot.
    pub(crate) const ZERO: StoredKey =
        StoredKey { family: 0, proto: 0, src: [0; 4], dst: [0; 4], src_l4: 0, dst_l4: 0 };

    /// The key as an entry stores it; `None` for an IPv6 tuple.
    #[inline(always)]
    pub(crate) fn store(t: &Tuple) -> Option<StoredKey> {
        if t.family == Family::Ipv6 as u8 {
            return None;
        }
        let four = |a: &[u8; 16]| [a[0], a[1], a[2], a[3]];
        Some(StoredKey {
            family: t.family,
            proto: t.proto,
            src: four(&t.src),
            dst: four(&t.dst),
            src_l4: t.src_l4,
            dst_l4: t.dst_l4,
        })
    }

    /// The key, as a tuple.
    #[inline(always)]
    pub(crate) fn tuple(&self) -> Tuple {
        let sixteen = |a: [u8; 4]| {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a);
            b
        };
        Tuple {
            family: self.family,
            proto: self.proto,
            src: sixteen(self.src),
            dst: sixteen(self.dst),
            src_l4: self.src_l4,
            dst_l4: self.dst_l4,
        }
    }

    /// The key as a [`TupleView`].
    #[inline(always)]
    pub(crate) fn view(&self) -> TupleView<'_> {
        self.tuple()
    }

    /// [`Tuple::family`]: always IPv4.
    pub(crate) fn family(&self) -> Family {
        Family::Ipv4
    }

    /// [`Tuple::proto`].
    pub(crate) fn proto(&self) -> u8 {
        self.proto
    }

    /// [`Tuple::is_own_inverse`].
    #[inline(always)]
    pub(crate) fn is_own_inverse(&self) -> bool {
        self.src_l4 == self.dst_l4 && self.src == self.dst && !is_icmp_of(Family::Ipv4, self.proto)
    }

    /// [`Tuple::ipv4_port_ends`].
    #[inline(always)]
    pub(crate) fn ipv4_port_ends(&self) -> Option<Ipv4PortEnds> {
        (self.family == Family::Ipv4 as u8 && (self.proto == proto::UDP || self.proto == proto::TCP))
            .then_some(((self.src, self.src_l4), (self.dst, self.dst_l4)))
    }

    /// [`Tuple::has_ipv4_words`].
    #[inline(always)]
    pub(crate) fn has_ipv4_words(&self, zone: u16, words: [u64; 2]) -> bool {
        head_word(self.family, self.proto, zone, self.src_l4, self.dst_l4) == words[0]
            && (u64::from(u32::from_le_bytes(self.src)) | u64::from(u32::from_le_bytes(self.dst)) << 32)
                == words[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Addresses as glibc's `inet_ntop()` prints them for `conntrack -L`:
    /// an IPv4-compatible address in dotted decimal, the rest as Rust
    /// prints them (the oracle's listing: `tests/data/crafted/ipv6-input/`).
    #[test]
    fn addresses_as_conntrack_lists_them() {
        for (a, shown) in [
            ("::a02:2", "::10.2.0.2"),
            ("::1:0:0", "::1:0:0"),
            ("::2", "::2"),
            ("::ffff:10.2.0.2", "::ffff:10.2.0.2"),
            ("::1", "::1"),
            ("::", "::"),
            ("::2:3", "::0.2.0.3"),
            ("1::a02:2", "1::a02:2"),
            ("2001:db8::1", "2001:db8::1"),
            ("10.0.0.1", "10.0.0.1"),
        ] {
            assert_eq!(CliAddr(ip(a)).to_string(), shown, "{a}");
        }
    }

    #[test]
    fn worked_example_1_7() {
        let t = Tuple::with_ports(ip("192.0.2.10"), 40000, ip("198.51.100.53"), 53, 17).unwrap();
        let r = t.invert().unwrap();
        assert_eq!(r.src(), ip("198.51.100.53"));
        assert_eq!(r.l4(), L4::Ports { sport: 53, dport: 40000 });
        let e = Tuple::icmp(ip("192.0.2.10"), ip("198.51.100.7"), 8, 0, 4711).unwrap();
        let er = e.invert().unwrap();
        assert_eq!(er.l4(), L4::Icmp { ty: 0, code: 0, id: 4711 });
        assert_eq!(er.dst(), ip("192.0.2.10"));
        assert_eq!(e.to_string(), "src=192.0.2.10 dst=198.51.100.7 type=8 code=0 id=4711");
    }

    #[test]
    fn icmp_errors_and_unknown_types_do_not_invert() {
        for ty in [3u8, 5, 9, 10, 11, 12, 19, 255] {
            let t = Tuple::icmp(ip("10.0.0.1"), ip("10.0.0.2"), ty, 0, 1).unwrap();
            assert!(t.invert().is_none(), "type {ty}");
        }
        let t6 = Tuple::icmp(ip("2001:db8::1"), ip("2001:db8::2"), 139, 0, 1).unwrap();
        assert_eq!(t6.invert().unwrap().icmp_type(), 140);
        assert_eq!(t6.proto(), proto::ICMPV6);
    }

    #[test]
    fn constructors_reject_mixed_families_and_wrong_protocols() {
        assert!(Tuple::with_ports(ip("10.0.0.1"), 1, ip("::1"), 2, 6).is_none());
        assert!(Tuple::with_ports(ip("10.0.0.1"), 1, ip("10.0.0.2"), 2, 50).is_none());
        assert!(Tuple::generic(ip("10.0.0.1"), ip("10.0.0.2"), 6).is_none());
        let g = Tuple::generic(ip("10.0.0.1"), ip("10.0.0.2"), 50).unwrap();
        assert_eq!(g.to_string(), "src=10.0.0.1 dst=10.0.0.2");
    }

    fn any_tuple() -> impl Strategy<Value = Tuple> {
        (
            any::<bool>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            prop::sample::select(vec![1u8, 6, 17, 58, 47, 136]),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(|(v6, mut s, mut d, p, a, b)| {
                let family = if v6 { Family::Ipv6 } else { Family::Ipv4 };
                if !v6 {
                    s[4..].fill(0);
                    d[4..].fill(0);
                }
                let p = match (family, p) {
                    (Family::Ipv6, 1) => 58,
                    (Family::Ipv4, 58) => 1,
                    _ => p,
                };
                let (sl, dl) =
                    if has_ports(p) || is_icmp_of(family, p) || p == proto::GRE { (a, b) } else { (0, 0) };
                Tuple::from_raw(family, p, s, d, sl, dl)
            })
    }

    proptest! {
        /// Equality is the equality of every field, an IPv4 tuple's
        /// addresses being their first 4 bytes (whatever bytes follow them
        /// in what the tuple was made from).
        #[test]
        fn equality_is_field_equality(v6 in any::<bool>(), p in 0u8..3, a in any::<[[u8; 16]; 4]>(),
                                      ports in any::<[u16; 4]>(), same in any::<[bool; 4]>()) {
            let family = if v6 { Family::Ipv6 } else { Family::Ipv4 };
            let [s1, d1, mut s2, mut d2] = a;
            // Equal halves now and then, and addresses that differ only
            // past their first 4 bytes (equal for IPv4, not for IPv6).
            if same[0] { s2 = s1; }
            if same[1] { d2 = d1; }
            if same[2] { s2[..4].copy_from_slice(&s1[..4]); d2[..4].copy_from_slice(&d1[..4]); }
            let sp2 = if same[3] { ports[0] } else { ports[2] };
            let dp2 = if same[3] { ports[1] } else { ports[3] };
            let x = Tuple::from_raw(family, p, s1, d1, ports[0], ports[1]);
            let y = Tuple::from_raw(family, p, s2, d2, sp2, dp2);
            let n = if v6 { 16 } else { 4 };
            let want = s1[..n] == s2[..n] && d1[..n] == d2[..n] && (ports[0], ports[1]) == (sp2, dp2);
            prop_assert_eq!(x == y, want);
            prop_assert!(x.src_bytes()[n..].iter().all(|&b| b == 0));
            let other = Tuple::from_raw(if v6 { Family::Ipv4 } else { Family::Ipv6 }, p, s1, d1, ports[0], ports[1]);
            prop_assert!(x != other);
        }

        #[test]
        fn canonical_ipv4_is_canonical(tcp in any::<bool>(), src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
                                        sport in any::<u16>(), dport in any::<u16>(), same in 0u8..4) {
            // Equal addresses and ports now and then.
            let dst = if same & 1 == 1 { src } else { dst };
            let dport = if same & 2 == 2 { sport } else { dport };
            let p = if tcp { proto::TCP } else { proto::UDP };
            let pad = |a: [u8; 4]| {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&a);
                b
            };
            let t = Tuple::from_raw(Family::Ipv4, p, pad(src), pad(dst), sport, dport);
            prop_assert_eq!(Some(Tuple::canonical_ipv4(p, src, dst, sport, dport)), t.canonical());
            // Its hash words: the header word, then both addresses (as
            // little-endian halves), as the index has always hashed them.
            let (words, n) = t.hash_words(7);
            let head = u64::from(sport) | u64::from(dport) << 16 | 2 << 32 | u64::from(p) << 40 | 7 << 48;
            let addrs = u64::from(u32::from_le_bytes(src)) | u64::from(u32::from_le_bytes(dst)) << 32;
            prop_assert_eq!(&words[..n], &[head, addrs][..]);
        }

        /// A key has the IPv4 hash words of itself in its zone, and of no
        /// other key or zone (`has_ipv4_words`, the fast paths' test), as
        /// a tuple and as an entry stores it in either build.
        #[test]
        fn a_key_has_its_own_hash_words(
            a in any_tuple(),
            b in any_tuple(),
            za in 0u16..3,
            zb in 0u16..3,
            same in any::<bool>(),
        ) {
            let b = if same { a } else { b };
            if b.family() == Family::Ipv4 {
                let words = b.hash_words_ipv4(zb);
                let expected = a == b && za == zb;
                prop_assert_eq!(a.has_ipv4_words(za, words), expected);
                #[cfg(feature = "ipv4-only")]
                if let Some(k) = StoredKey::store(&a) {
                    prop_assert_eq!(k.has_ipv4_words(za, words), expected);
                }
            }
        }

        #[test]
        fn inversion_is_an_involution(t in any_tuple()) {
            if let Some(r) = t.invert() {
                prop_assert_eq!(r.invert(), Some(t));
            }
        }

        #[test]
        fn canonical_form_is_direction_independent(t in any_tuple()) {
            if let (Some((c, s)), Some(r)) = (t.canonical(), t.invert()) {
                let (cr, sr) = r.canonical().unwrap();
                prop_assert_eq!(c, cr);
                if t != r {
                    prop_assert_ne!(s, sr);
                }
                prop_assert_eq!(if s { t } else { r }, c);
            }
        }

        #[test]
        fn own_inverse_is_equality_with_the_inversion(t in any_tuple()) {
            let to_itself = Tuple::from_raw(t.family(), t.proto, t.src, t.src, t.src_l4, t.src_l4);
            for u in [t, to_itself] {
                prop_assert_eq!(u.is_own_inverse(), u.invert() == Some(u));
            }
        }
    }
}
