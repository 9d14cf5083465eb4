//! The fast paths of the commonest packets, UDP datagrams and TCP
//! segments over IPv4 without options: the headers read with the general
//! path's checks (a UDP datagram straight from its bytes,
//! [`plain_udp4`]), the key kept as four numbers in registers, hashed and
//! searched for in its home bucket, all from the packet's fields, without
//! the tuple and flow the general path builds. A UDP entry found there
//! takes the UDP lane; a TCP entry goes straight to its tracker. Whatever
//! a fast path does not finish (a new flow, an entry further on, one with
//! its own reply tuple, a table with an event sink) goes on, with what it
//! learnt, to the general path's second half.
//!
//! Its verdicts are the general path's: a test holds it to it
//! (`the_fast_path_is_the_general_path`).

use super::index::Place;
use super::pipeline::{Flow, Step};
use super::probe::{KeyTest, Sought};
use super::storage::{Slot, Storage};
use super::{ConnTable, Meta};
use crate::proto::L4Packet;
use crate::status::Status;
use crate::time::Tick;
#[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
use crate::tuple::ipv6_hash_words;
use crate::tuple::{Direction, StoredKey, Tuple, ipv4_hash_words, ipv4_is_key, proto};
use crate::verdict::Verdict;
#[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
use crate::wire::tcp::plain_tcp6;
use crate::wire::tcp::{Segment, plain_tcp4};
use crate::wire::udp::plain_udp4;
#[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
use crate::wire::udp::plain_udp6;

/// The canonical key of a packet's tuple: of an IPv4 packet
/// ([`ConnTable::ipv4_key`]), two hash words; of an IPv6 packet
/// ([`ConnTable::header_key6`]), five.
#[derive(Debug, Clone, Copy)]
pub(super) struct FastKey<const W: usize = 2> {
    /// The key's place.
    pub(super) place: Place,
    /// Whether the packet's tuple is the key.
    pub(super) is_key: bool,
    /// The key's hash words ([`ipv4_hash_words`], [`ipv6_hash_words`]),
    /// which its entry's key is compared with and its tuple read from
    /// ([`KeyWords`]).
    words: [u64; W],
    /// Where the key's home bucket starts, once known (the prefetch finds
    /// it): the search then reads it there. A batch finds it for a whole
    /// burst before tracking any of it, and the packets tracked meanwhile
    /// cannot move it: a bucket index never changes length (only the
    /// growable table's map does, and it has no home bucket: `None`).
    /// (In 32 bits, which fit any bucket index's length (`MAX_WORDS`): a
    /// smaller key, fewer moves, a batch 7 instructions fewer per packet,
    /// measured.)
    home: Option<u32>,
    /// The slot to try before any search, once chosen: the key's
    /// preferred slot ([`ConnTable::slot_index_to_ask`]), which every search
    /// that reaps tries first ([`ConnTable::find_preferred`]), or in a
    /// batch the first slot of the key's tag its home bucket names, whose
    /// entry the batch asked for. (In 32 bits, as `home`: a slot's index
    /// is below `MAX_SLOTS`.)
    candidate: Option<u32>,
}

const _: () = assert!(super::index::MAX_WORDS <= u32::MAX as usize);
const _: () = assert!(super::index::MAX_SLOTS <= u32::MAX as usize);

impl<const W: usize> FastKey<W> {
    /// Where the key's home bucket starts, once known ([`FastKey::home`]).
    #[inline(always)]
    pub(super) fn home(&self) -> Option<usize> {
        self.home.map(|h| h as usize)
    }

    /// Note where the key's home bucket starts (`None`: not known).
    #[inline(always)]
    pub(super) fn set_home(&mut self, start: Option<usize>) {
        // (A bucket index has at most `MAX_WORDS` words, below 2^32.)
        self.home = start.map(|h| h as u32);
    }

    /// The slot to try before any search, once chosen
    /// ([`FastKey::set_candidate`]).
    #[inline(always)]
    pub(super) fn candidate(&self) -> Option<usize> {
        self.candidate.map(|i| i as usize)
    }

    /// Choose the slot to try before any search (`None`: none).
    #[inline(always)]
    pub(super) fn set_candidate(&mut self, slot: Option<usize>) {
        self.candidate = slot.map(|i| i as u32);
    }

    /// The layer-4 protocol: UDP or TCP.
    #[inline(always)]
    pub(super) fn proto(&self) -> u8 {
        (self.words[0] >> 40) as u8
    }
}

/// The source and destination address (numbers, network order) and port
/// of the UDP or TCP packet in an IPv4 packet without options whose first
/// 24 bytes are `h`.
#[inline(always)]
fn header_ends(h: &[u8; 24]) -> (u32, u32, u16, u16) {
    let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
    let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
    (src, dst, u16::from_be_bytes([h[20], h[21]]), u16::from_be_bytes([h[22], h[23]]))
}

/// A fast key's hash words, compared with a stored key: two for an IPv4
/// key ([`Tuple::has_ipv4_words`]), five for an IPv6 one
/// ([`Tuple::has_ipv6_words`]).
pub(super) trait KeyWords: Copy {
    /// Whether `key`, stored by an entry of `zone`, is the key of these
    /// words.
    fn name_key(&self, key: &StoredKey, zone: u16) -> bool;
    /// Whether `t` (an extension's reply tuple, of an entry of `zone`)
    /// is.
    fn name_tuple(&self, t: &Tuple, zone: u16) -> bool;
    /// The key of these words, a tuple.
    fn tuple(&self) -> Tuple;
}

impl KeyWords for [u64; 2] {
    #[inline(always)]
    fn name_key(&self, key: &StoredKey, zone: u16) -> bool {
        key.has_ipv4_words(zone, *self)
    }

    #[inline(always)]
    fn name_tuple(&self, t: &Tuple, zone: u16) -> bool {
        t.has_ipv4_words(zone, *self)
    }

    #[inline(always)]
    fn tuple(&self) -> Tuple {
        let [head, addrs] = *self;
        let (a, b) = ((addrs as u32).swap_bytes(), ((addrs >> 32) as u32).swap_bytes());
        Tuple::ipv4((head >> 40) as u8, a, b, head as u16, (head >> 16) as u16)
    }
}

#[cfg(not(feature = "ipv4-only"))]
impl KeyWords for [u64; 5] {
    #[inline(always)]
    fn name_key(&self, key: &StoredKey, zone: u16) -> bool {
        key.has_ipv6_words(zone, self)
    }

    #[inline(always)]
    fn name_tuple(&self, t: &Tuple, zone: u16) -> bool {
        t.has_ipv6_words(zone, self)
    }

    #[inline(always)]
    fn tuple(&self) -> Tuple {
        Tuple::of_ipv6_words(self)
    }
}

impl<S: Storage> ConnTable<S> {
    /// The verdict of `packet`, whose byte 9 says UDP: if its header bytes
    /// say UDP over IPv4 without options, its key is read from them
    /// ([`ConnTable::header_key_udp`]) and, where there is a prefetch, its
    /// memory asked for while the checks run; the datagram is read
    /// straight from its bytes with the
    /// general path's checks ([`plain_udp4`]), its key searched for in its
    /// home bucket, an entry found there given the UDP lane. A datagram
    /// that fails the checks goes to the general stage, which gives the
    /// reason; a new flow and an entry further on, to the rest of the UDP
    /// path ([`ConnTable::track_udp`]).
    // Out of line on 64-bit hosts: inline, it left the caller's frame
    // larger for every other packet (a TCP ACK 24 instructions more, for
    // 6 fewer per UDP datagram, measured). Inline on 32-bit
    // microcontrollers, where the call cost a UDP datagram 63 instructions
    // on a Cortex-M3 (measured).
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(always))]
    pub(super) fn classify_udp4<const LONG: bool>(
        &mut self,
        now: Tick,
        packet: &[u8],
        meta: Meta,
    ) -> Verdict {
        let Some(mut key) = self.header_key_udp(packet, meta.zone) else {
            // Byte 9 of an IPv6 packet is its source address's second
            // byte (17 in 2a11::/16, say): such a packet goes on to the
            // IPv6 paths, not straight to the general stage. (Not a long
            // one: `classify_long` sent it here, after its IPv6 test, and
            // `classify_other` would send it back.)
            #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
            if !LONG {
                return self.classify_other(now, packet, meta);
            }
            return self.classify_general(now, packet, meta);
        };
        self.ask_place(&mut key, false);
        self.classify_udp4_keyed::<LONG>(now, packet, meta, key)
    }

    /// [`ConnTable::classify_udp4`] of a packet whose header bytes gave
    /// `key` ([`ConnTable::header_key`]).
    #[inline(always)]
    pub(super) fn classify_udp4_keyed<const LONG: bool>(
        &mut self,
        now: Tick,
        packet: &[u8],
        meta: Meta,
        key: FastKey,
    ) -> Verdict {
        let Some(d) = plain_udp4::<LONG>(packet, self.packet_config().checksum) else {
            return self.classify_general(now, packet, meta);
        };
        let len = if cfg!(feature = "ct-acct") { d.len } else { 0 };
        self.track_udp_keyed(now, meta, key, len, d.payload(packet))
    }

    /// The verdict of `packet`, whose bytes 0 and 6 say UDP over IPv6
    /// ([`ConnTable::classify_udp4`]'s path for IPv6): if its fixed header
    /// is followed by UDP, its key is read from its header bytes
    /// ([`ConnTable::header_key6`]) and its memory asked for while the
    /// checks run; the datagram is read straight from its bytes with the
    /// general path's checks ([`plain_udp6`]), its key searched for in its
    /// home bucket, an entry found there given the UDP lane. Any other
    /// packet, or one that fails the checks, goes to the general stage; a
    /// new flow and an entry further on, to the rest of the UDP path.
    /// (On 64-bit hosts: an established datagram 523 x86 instructions
    /// here, 997 through the general path, measured. Not on
    /// microcontrollers, where it would cost flash.)
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(never)]
    pub(super) fn classify_udp6<const LONG: bool>(
        &mut self,
        now: Tick,
        packet: &[u8],
        meta: Meta,
    ) -> Verdict {
        let Some(mut key) = self.header_key6(packet, meta.zone) else {
            return self.classify_general(now, packet, meta);
        };
        self.ask_place(&mut key, false);
        self.classify_udp6_keyed::<LONG>(now, packet, meta, key)
    }

    /// [`ConnTable::classify_udp6`] of a packet whose header bytes gave
    /// `key` ([`ConnTable::header_key6`]).
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(always)]
    pub(super) fn classify_udp6_keyed<const LONG: bool>(
        &mut self,
        now: Tick,
        packet: &[u8],
        meta: Meta,
        key: FastKey<5>,
    ) -> Verdict {
        let Some(d) = plain_udp6::<LONG>(packet, self.packet_config().checksum) else {
            return self.classify_general(now, packet, meta);
        };
        let len = if cfg!(feature = "ct-acct") { d.len } else { 0 };
        self.track_udp_keyed(now, meta, key, len, d.payload(packet))
    }

    /// The UDP fast paths' search and lane: the datagram with `payload` of
    /// an IP packet of `len` bytes (0 without `ct-acct`) whose key is
    /// `key`; a new flow and an entry further on go to the rest of the UDP
    /// path ([`ConnTable::track_udp`]).
    #[inline(always)]
    fn track_udp_keyed<const W: usize>(
        &mut self,
        now: Tick,
        meta: Meta,
        key: FastKey<W>,
        len: u32,
        payload: &[u8],
    ) -> Verdict
    where
        [u64; W]: KeyWords,
    {
        let found = self.find_home(now, key, proto::UDP);
        if let Some(Some((i, dir))) = found
            && let Some(t) = self.udp_lane(now, i, dir, false, len, meta.broadcast_prefix)
        {
            return Verdict::Tracked(t);
        }
        self.track_udp(now, (key.words, key.is_key), meta, key.place, len, payload, found)
    }

    /// The [`FastKey`] of `packet` in `zone` if it is a UDP datagram or a
    /// TCP segment right after an IPv6 packet's fixed header, read from its
    /// header bytes
    /// (addresses at 8 and 24, ports at 40 and 42) before any check, as
    /// [`ConnTable::header_key`] reads an IPv4 packet's. The canonical
    /// order is [`Tuple::canonical`]'s: the lower (address, port) end
    /// first, each address compared as a number, its high half first.
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(always)]
    pub(super) fn header_key6(&self, packet: &[u8], zone: u16) -> Option<FastKey<5>> {
        let h = packet.first_chunk::<44>()?;
        if h[0] >> 4 != 6 || (h[6] != proto::UDP && h[6] != proto::TCP) {
            return None;
        }
        let half = |at: usize| {
            u64::from_be_bytes([
                h[at],
                h[at + 1],
                h[at + 2],
                h[at + 3],
                h[at + 4],
                h[at + 5],
                h[at + 6],
                h[at + 7],
            ])
        };
        let (src, dst) = ([half(8), half(16)], [half(24), half(32)]);
        let sport = u16::from_be_bytes([h[40], h[41]]);
        let dport = u16::from_be_bytes([h[42], h[43]]);
        let is_key = (src, sport) <= (dst, dport);
        let (a, ap, b, bp) = if is_key { (src, sport, dst, dport) } else { (dst, dport, src, sport) };
        let words = ipv6_hash_words(h[6], zone, a, b, ap, bp);
        let place = Place::new(crate::hash::hash_array(&self.hash_key, &words));
        Some(FastKey { place, is_key, words, home: None, candidate: None })
    }

    /// The verdict of `packet`, whose header bytes say TCP over IPv4
    /// without options, and its key if its header bytes gave it already
    /// ([`ConnTable::header_key`]): the segment read straight from its
    /// bytes with the general path's checks ([`plain_tcp4`]), its key
    /// searched for in its home bucket as UDP's is, the entry found given
    /// straight to the tracker. A segment that fails the checks goes to the
    /// general stage, which gives the reason.
    #[inline(always)]
    pub(super) fn classify_tcp4<const LONG: bool>(
        &mut self,
        now: Tick,
        packet: &[u8],
        meta: Meta,
        key: Option<FastKey>,
    ) -> Verdict {
        // (Read here where there is no prefetch: its candidate too. A
        // `match`, not `Option::or_else`, which the compiler once left out
        // of line: a TCP ACK 35 instructions more, measured.)
        let key = match key {
            Some(k) => Some(k),
            None => match self.header_key(packet, meta.zone) {
                Some(mut k) => {
                    k.set_candidate(self.slot_index_to_ask(k.place));
                    Some(k)
                }
                None => None,
            },
        };
        let (Some((seg, ip_len)), Some(fast_key)) =
            (plain_tcp4::<LONG>(packet, self.packet_config().checksum), key)
        else {
            return self.classify_general(now, packet, meta);
        };
        self.track_tcp_keyed(now, meta, seg, ip_len, fast_key)
    }

    /// [`ConnTable::classify_tcp4`] over IPv6: the segment right after the
    /// fixed header of `packet`, whose header bytes gave `key`
    /// ([`ConnTable::header_key6`]), read straight from its bytes with the
    /// general path's checks ([`plain_tcp6`]).
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(always)]
    pub(super) fn classify_tcp6<const LONG: bool>(
        &mut self,
        now: Tick,
        packet: &[u8],
        meta: Meta,
        key: FastKey<5>,
    ) -> Verdict {
        let Some((seg, ip_len)) = plain_tcp6::<LONG>(packet, self.packet_config().checksum) else {
            return self.classify_general(now, packet, meta);
        };
        self.track_tcp_keyed(now, meta, seg, ip_len, key)
    }

    /// The TCP fast paths' search and tracker: the segment `seg` of an IP
    /// packet of `ip_len` bytes whose key is `fast_key`.
    #[inline(always)]
    fn track_tcp_keyed<const W: usize>(
        &mut self,
        now: Tick,
        meta: Meta,
        seg: Segment<'_>,
        ip_len: u32,
        fast_key: FastKey<W>,
    ) -> Verdict
    where
        [u64; W]: KeyWords,
    {
        let FastKey { place, is_key, .. } = fast_key;
        let zone = meta.zone;
        let len = if cfg!(feature = "ct-acct") { ip_len } else { 0 };
        let l4 = L4Packet::Tcp(seg);
        let key = || fast_key.words.tuple();
        let found = match self.find_home(now, fast_key, proto::TCP) {
            Some(found) => found,
            None => self.find_fast(now, Sought { place, key: &key(), is_key, zone }),
        };
        if let Some((i, dir)) = found
            && let Step::Done(v) = self.run_tracker(now, i, dir, false, &l4, len, meta.broadcast_prefix)
        {
            return v;
        }
        // A new connection, or a reopened one (its old entry removed).
        let flow = Flow { key: key(), is_key, zone, place, len, broadcast_prefix: meta.broadcast_prefix };
        self.open_tcp4(now, &flow, &l4, found.is_some())
    }

    /// A TCP segment that opens a connection (`reopened`: in place of
    /// the entry its tracker just removed), out of the packet path's line.
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    fn open_tcp4(&mut self, now: Tick, flow: &Flow, l4: &L4Packet<'_>, reopened: bool) -> Verdict {
        if reopened {
            return self.track_reopened(now, flow, l4);
        }
        match self.attach_found(now, flow, l4, None) {
            Step::Done(v) => v,
            Step::Reopen => self.track_reopened(now, flow, l4),
        }
    }

    /// The canonical key (`Tuple::canonical_ipv4`) of the IPv4 tuple of
    /// `proto` from `src`:`sport` to `dst`:`dport` (addresses as numbers,
    /// network order), as fields `(a, b, ap, bp)`, whether the tuple is the
    /// key, and the key's place in `zone` ([`ConnTable::place`]).
    #[inline(always)]
    fn ipv4_key(&self, proto: u8, zone: u16, (src, dst, sport, dport): (u32, u32, u16, u16)) -> FastKey {
        let is_key = ipv4_is_key(src, dst, sport, dport);
        let (a, ap, b, bp) = if is_key { (src, sport, dst, dport) } else { (dst, dport, src, sport) };
        let words = ipv4_hash_words(proto, zone, a, b, ap, bp);
        let place = Place::new(crate::hash::hash_array(&self.hash_key, &words));
        FastKey { place, is_key, words, home: None, candidate: None }
    }

    /// The [`FastKey`] of `packet` in `zone` if it is a UDP
    /// datagram or TCP segment in an IPv4 packet without options, read
    /// from its header bytes (addresses at 12 and 16, ports at 20 and 22)
    /// before any check. Once [`plain_udp4`] or [`plain_tcp4`] passes,
    /// it is the packet's key; until then it is a guess, good for asking
    /// early for the memory the search will read.
    #[inline(always)]
    pub(super) fn header_key(&self, packet: &[u8], zone: u16) -> Option<FastKey> {
        let h = packet.first_chunk::<24>()?;
        if h[0] != 0x45 || (h[9] != proto::UDP && h[9] != proto::TCP) {
            return None;
        }
        Some(self.ipv4_key(h[9], zone, header_ends(h)))
    }

    /// [`ConnTable::header_key`] of a packet whose byte 9 says UDP (the
    /// UDP path's, whose caller tested it and whose [`plain_udp4`] tests
    /// it again before the key is used): the protocol not tested, the
    /// key's a constant (2 x86 instructions fewer, measured).
    #[inline(always)]
    fn header_key_udp(&self, packet: &[u8], zone: u16) -> Option<FastKey> {
        let h = packet.first_chunk::<24>()?;
        if h[0] != 0x45 {
            return None;
        }
        Some(self.ipv4_key(proto::UDP, zone, header_ends(h)))
    }

    /// [`ConnTable::search_home`] for the key `key` of `l4_proto`,
    /// compared with each entry's key and zone as its hash words (an
    /// entry with its own reply tuple, NAT, by its position's own tuple in
    /// its own orientation: the original tuple from the entry, the reply
    /// tuple from the extension).
    ///
    /// The key's candidate slot ([`FastKey::candidate`]), its preferred
    /// slot, is tried first, without the index, as every search that
    /// reaps does ([`ConnTable::find_preferred`]; here the key compared
    /// as its hash words): most entries sit there (hashed placement;
    /// three in four at half load). In a batch, the first slot of the
    /// key's tag in its home bucket, which the batch asked for. (A
    /// source-NATed flow's original packets: 792 instructions to 575 at
    /// 30,000 flows, measured.)
    ///
    /// The orientation rule of an entry with its own reply tuple is the
    /// general path's (`probe.rs: hit`), written here twice more on the
    /// hash words, for the candidate and for the bucket: one helper shared
    /// by the three cost a TCP ACK 27 instructions and a UDP datagram 6
    /// (measured). `the_fast_path_is_the_general_path` holds the copies to
    /// `hit`.
    #[inline(always)]
    fn find_home<const W: usize>(
        &self,
        now: Tick,
        key: FastKey<W>,
        l4_proto: u8,
    ) -> Option<Option<(usize, Direction)>>
    where
        [u64; W]: KeyWords,
    {
        let FastKey { place, is_key, words, .. } = key;
        if let Some(i) = key.candidate()
            && let Some(e) = self.slots().get(i).and_then(Slot::entry)
            && words.name_key(&e.key, e.zone)
            && e.status.contains(Status::CONFIRMED)
            && !e.expired(now)
        {
            // With NAT, the key stands for the original tuple in its own
            // orientation only (the reply tuple has a position of its own),
            // and for nothing in the loser of an insert race kept under its
            // reply tuple only (NAT_CLASH, `ConnTable::keep_reply_only`).
            if !e.has_own_reply() {
                return Some(Some((i, e.direction(is_key))));
            }
            if e.link().orig_is_key() == is_key && !e.status.contains(Status::NAT_CLASH) {
                return Some(Some((i, Direction::Original)));
            }
        }
        self.search_home(now, place, key.home(), None, l4_proto == proto::TCP, |p, e, r| {
            // A secondary position names its entry (NAT) by its reply
            // tuple, kept in the extension, in its own orientation only.
            if r.secondary {
                match e.link().ext().and_then(|x| p.exts.get(x)?.0.as_ref()) {
                    Some(x) if x.reply_is_key == is_key && words.name_tuple(&x.reply, e.zone) => {
                        KeyTest::Hit(Direction::Reply)
                    }
                    Some(_) => KeyTest::Miss,
                    None => KeyTest::Undecided,
                }
            } else if !words.name_key(&e.key, e.zone) {
                KeyTest::Miss
            } else if !e.has_own_reply() {
                KeyTest::Hit(e.direction(is_key))
            } else if e.link().orig_is_key() == is_key {
                // With NAT, the key stands for the original tuple in its
                // own orientation only.
                KeyTest::Hit(Direction::Original)
            } else {
                KeyTest::Miss
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::KeyWords;
    use crate::tuple::{Direction, Tuple, proto};
    use crate::verdict::CtState;
    use crate::wire::ip::tests::{port_packet4, port_packet6};
    use crate::{Config, ConnTable, FixedConnTable, HashKey, Instant, Meta, Status, Storage};
    use proptest::prelude::*;

    const SERVER: [u8; 4] = [198, 51, 100, 53];
    const PUBLIC: [u8; 4] = [203, 0, 113, 1];

    /// A packet of [`the_fast_path_is_the_general_path`]: `(client, port,
    /// zone, seconds later, reversed, nat, broadcast, mangled, end, kind,
    /// v6)`,
    /// `end` saying whether its verdict is confirmed (mostly), discarded or
    /// left as it is (its entry unconfirmed), `kind` a UDP datagram (0 to
    /// 3; 3 in reverse: to the public address of source NAT) or a TCP
    /// segment of a handshake and its end (4: SYN or SYN-ACK, 5 and 6:
    /// ACK, 7: FIN-ACK, 8: RST-ACK, after which a SYN reopens), which
    /// takes TCP's fast path; `v6`: over IPv6 (the addresses the IPv4
    /// ones in 2001:db8::/96 or 2a11:db8::/96), which UDP's IPv6 path takes.
    type Op = (u8, u16, u16, u8, bool, bool, bool, u8, u8, u8, bool);

    /// `a` as an IPv4 address, or (`v6`) in 2001:db8::/96 or 2a11:db8::/96.
    fn addr(a: [u8; 4], v6: bool) -> core::net::IpAddr {
        if v6 {
            let [w, x, y, z] = a;
            // Odd ones in 2a11:db8::/96, whose second byte is UDP's
            // protocol number: byte 9 of their packets says UDP.
            core::net::IpAddr::V6(core::net::Ipv6Addr::new(
                if z & 1 == 1 { 0x2a11 } else { 0x2001 },
                0xdb8,
                0,
                0,
                0,
                0,
                u16::from_be_bytes([w, x]),
                u16::from_be_bytes([y, z]),
            ))
        } else {
            a.into()
        }
    }

    /// [`port_packet4`] from `src` to `dst`, or (`v6`) [`port_packet6`]
    /// between their addresses in 2001:db8::/96 or 2a11:db8::/96 ([`addr`]).
    fn packet(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        tcp: Option<(u8, u32, u32)>,
        v6: bool,
    ) -> std::vec::Vec<u8> {
        let octets = |a| match addr(a, true) {
            core::net::IpAddr::V6(a) => a.octets(),
            core::net::IpAddr::V4(_) => unreachable!(),
        };
        if v6 {
            port_packet6(octets(src), sport, octets(dst), dport, tcp)
        } else {
            port_packet4(src, sport, dst, dport, tcp)
        }
    }

    /// Give both tables the packet of `op` at `now`: `fast` through
    /// `classify`, `general` through the general path alone; the verdicts,
    /// before and after confirmation, must be equal.
    fn both<S: Storage>(
        fast: &mut ConnTable<S>,
        general: &mut ConnTable<S>,
        now: Instant,
        op: Op,
    ) -> Result<(), TestCaseError> {
        let (c, port, zone, _, reversed, nat, broadcast, mangled, end, kind, v6) = op;
        let client = [10, 0, 0, c % 4 + 1];
        // The client's sequence numbers from 100, the server's from 500.
        let flags = match kind {
            7 => 0x11,
            8 => 0x14,
            _ => 0x10,
        };
        let tcp = match (kind, reversed) {
            (0..4, _) => None,
            (4, false) => Some((0x02, 100, 0)),
            (4, true) => Some((0x12, 500, 101)),
            (_, false) => Some((flags, 101, 501)),
            (_, true) => Some((flags, 501, 101)),
        };
        let l4_proto = if tcp.is_some() { proto::TCP } else { proto::UDP };
        let mut p = match (reversed, kind) {
            // An answer to the public address of a flow given source NAT
            // (its entry's second position).
            (true, 3) => packet(SERVER, 53, PUBLIC, 2000 + port, tcp, v6),
            (true, _) => packet(SERVER, 53, client, 1000 + port, tcp, v6),
            (false, _) => packet(client, 1000 + port, SERVER, 53, tcp, v6),
        };
        // Now and then a byte changed: a header the checks refuse, or
        // another flow.
        if usize::from(mangled) < p.len() {
            p[usize::from(mangled)] ^= 0x41;
        }
        let meta = Meta { zone, notrack: false, broadcast_prefix: broadcast.then_some(24) };
        let mut v = fast.classify(now, &p, meta);
        // What `classify` does first, before its path.
        let tick = general.tick_memo.tick(now);
        general.tick_clock(tick);
        // The general stage: the general path.
        let mut w = general.classify_general(tick, &p, meta);
        prop_assert_eq!(v, w, "classified");
        // (A packet that ends its connection names no entry.)
        if nat
            && v.state() == Some(CtState::New)
            && v.dir() == Some(Direction::Original)
            && let (Some(e), Some(f)) = (v.entry(), w.entry())
        {
            let reply =
                Tuple::with_ports(addr(SERVER, v6), 53, addr(PUBLIC, v6), 2000 + port, l4_proto).unwrap();
            let _ = fast.set_reply(tick, e, reply, Status::SRC_NAT);
            let _ = general.set_reply(tick, f, reply, Status::SRC_NAT);
        }
        match end {
            0 => {
                fast.discard(&v);
                general.discard(&w);
            }
            1 => {}
            _ => {
                prop_assert_eq!(fast.confirm(&mut v, &p), general.confirm(&mut w, &p));
                prop_assert_eq!(v, w, "confirmed");
            }
        }
        Ok(())
    }

    fn listing<S: Storage>(t: &ConnTable<S>, now: Instant) -> std::vec::Vec<std::string::String> {
        t.entries(now).map(|e| std::format!("{e}")).collect()
    }

    fn ops() -> impl Strategy<Value = std::vec::Vec<Op>> {
        proptest::collection::vec(
            (
                0u8..4,
                0u16..12,
                0u16..2,
                // Mostly a few seconds apart (UDP's 2 s grace, its 30 s
                // timeout), now and then long enough to expire.
                prop_oneof![6 => 0u8..3, 1 => 0u8..60],
                any::<bool>(),
                proptest::bool::weighted(0.3),
                any::<bool>(),
                any::<u8>(),
                0u8..10,
                0u8..9,
                proptest::bool::weighted(0.3),
            ),
            1..150,
        )
    }

    proptest! {
        /// The fast paths of UDP and TCP are the general path:
        /// two tables given the same UDP datagrams and TCP segments (a small table, so that buckets
        /// overflow; zones; entries that expire; entries with their own
        /// reply tuple, which the fast path leaves to the general one;
        /// mangled headers), one through `classify`, the other through the
        /// general path alone, give equal verdicts and equal listings.
        #[test]
        fn the_fast_path_is_the_general_path(ops in ops(), key in any::<[u8; 16]>(), checksum in any::<bool>()) {
            let config = Config { checksum, ..Config::DEFAULT };
            let fast: FixedConnTable<16> = ConnTable::new(HashKey(key), config);
            let general: FixedConnTable<16> = ConnTable::new(HashKey(key), config);
            replay(fast, general, ops)?;
        }

        /// The same for the growable table (whose map has no home bucket:
        /// the fast path asks `find`).
        #[test]
        #[cfg(feature = "alloc")]
        fn the_fast_path_is_the_general_path_growable(ops in ops(), key in any::<[u8; 16]>()) {
            let fast = ConnTable::growable(4, HashKey(key), Config::DEFAULT);
            let general = ConnTable::growable(4, HashKey(key), Config::DEFAULT);
            replay(fast, general, ops)?;
        }
    }

    /// Give both tables the packets of `ops` ([`both`]); their listings
    /// must be equal after each.
    fn replay<S: Storage>(
        mut fast: ConnTable<S>,
        mut general: ConnTable<S>,
        ops: std::vec::Vec<Op>,
    ) -> Result<(), TestCaseError> {
        let mut now = 1000;
        for op in ops {
            // Whole seconds, and now and then a few milliseconds more (so
            // that the stream rule's grace ends anywhere in a tick); the
            // milliseconds taken from the mangled byte's value, which is
            // mostly past the packet's end.
            now += u64::from(op.3) * 1000 + u64::from(op.7 % 64);
            let at = Instant::from_millis(now);
            both(&mut fast, &mut general, at, op)?;
            prop_assert_eq!(listing(&fast, at), listing(&general, at));
            prop_assert_eq!(fast.check_slots(), Ok(()));
        }
        Ok(())
    }

    /// A TCP connection reset and opened again by the client's next SYN
    /// (the tracker's reopen, which the fast path hands to the general
    /// path's second turn) goes the same way on both paths.
    #[test]
    fn a_reopened_connection_is_the_same_on_both_paths() {
        // Client 10.0.0.1, nothing mangled, each verdict confirmed.
        let op = |reversed, kind| (0, 0, 0, 1, reversed, false, false, 255, 2, kind, false);
        let mut fast: FixedConnTable<16> = ConnTable::new(HashKey([5; 16]), Config::DEFAULT);
        let mut general: FixedConnTable<16> = ConnTable::new(HashKey([5; 16]), Config::DEFAULT);
        let now = Instant::from_secs(1);
        // SYN, SYN-ACK, the client's RST-ACK (CLOSE), the client's SYN.
        for (reversed, kind) in [(false, 4), (true, 4), (false, 8), (false, 4)] {
            both(&mut fast, &mut general, now, op(reversed, kind)).unwrap();
        }
        let listed = listing(&fast, now);
        assert_eq!(listed, listing(&general, now));
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].contains("SYN_SENT"), "{listed:?}");
    }

    proptest! {
        /// The fast path's key is the general path's: the canonical form
        /// of the packet's tuple (`Tuple::canonical`), whether the tuple is
        /// it, and its place (`ConnTable::place`), so that either path
        /// finds the entries the other made.
        #[test]
        fn the_fast_key_is_the_canonical_key(
            tcp in any::<bool>(),
            src in any::<[u8; 4]>(),
            dst in any::<[u8; 4]>(),
            sport in any::<u16>(),
            dport in any::<u16>(),
            same in 0u8..4,
            zone in 0u16..4,
            key in any::<[u8; 16]>(),
        ) {
            // Equal addresses and ports now and then.
            let dst = if same & 1 == 1 { src } else { dst };
            let dport = if same & 2 == 2 { sport } else { dport };
            let p = if tcp { proto::TCP } else { proto::UDP };
            let t: FixedConnTable<16> = ConnTable::new(HashKey(key), Config::DEFAULT);
            let (canonical, is_key) =
                Tuple::with_ports(src.into(), sport, dst.into(), dport, p).unwrap().canonical().unwrap();
            let fields = (u32::from_be_bytes(src), u32::from_be_bytes(dst), sport, dport);
            let fast_key = t.ipv4_key(p, zone, fields);
            let super::FastKey { place, is_key: fast_is_key, .. } = fast_key;

            prop_assert_eq!(place, t.place(&canonical, zone));
            prop_assert_eq!(fast_is_key, is_key);
            prop_assert_eq!(fast_key.words.tuple(), canonical);
            prop_assert_eq!(fast_key.proto(), p);
            prop_assert!(canonical.has_ipv4_words(zone, fast_key.words));
        }
    }

    proptest! {
        /// The IPv6 fast path's key is the general path's, as
        /// `the_fast_key_is_the_canonical_key` for IPv4: the canonical
        /// form of the packet's tuple (addresses equal in their high or
        /// low halves now and then), whether the tuple is it, its place;
        /// and the tuple read back from its words is the key.
        #[test]
        #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
        fn the_ipv6_fast_key_is_the_canonical_key(
            src in any::<[u8; 16]>(),
            dst in any::<[u8; 16]>(),
            sport in any::<u16>(),
            dport in any::<u16>(),
            same in 0u8..8,
            zone in 0u16..4,
            key in any::<[u8; 16]>(),
        ) {
            let mut dst = dst;
            if same & 1 == 1 {
                dst[..8].copy_from_slice(&src[..8]);
            }
            if same & 2 == 2 {
                dst[8..].copy_from_slice(&src[8..]);
            }
            let dport = if same & 4 == 4 { sport } else { dport };
            let t: FixedConnTable<16> = ConnTable::new(HashKey(key), Config::DEFAULT);
            let p = port_packet6(src, sport, dst, dport, None);
            let (canonical, is_key) = Tuple::with_ports(
                core::net::Ipv6Addr::from(src).into(),
                sport,
                core::net::Ipv6Addr::from(dst).into(),
                dport,
                proto::UDP,
            )
            .unwrap()
            .canonical()
            .unwrap();
            let fast_key = t.header_key6(&p, zone).unwrap();
            prop_assert_eq!(fast_key.place, t.place(&canonical, zone));
            prop_assert_eq!(fast_key.is_key, is_key);
            prop_assert_eq!(Tuple::of_ipv6_words(&fast_key.words), canonical);
            prop_assert!(canonical.has_ipv6_words(zone, &fast_key.words));
            prop_assert_eq!(fast_key.proto(), proto::UDP);
        }
    }

    /// An entry of the same tuple in another zone is another connection,
    /// even when both keys share a bucket and a tag (a table of one bucket,
    /// a hash key chosen so that the tags are equal).
    #[test]
    fn another_zone_is_another_connection() {
        let p = port_packet4([10, 0, 0, 1], 1000, SERVER, 53, None);
        let (key, _) = Tuple::canonical_ipv4(proto::UDP, [10, 0, 0, 1], SERVER, 1000, 53);
        let hash_key = (0u8..=255)
            .flat_map(|a| (0u8..=255).map(move |b| HashKey([a, b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])))
            .find(|&k| {
                let t: FixedConnTable<8> = ConnTable::new(k, Config::DEFAULT);
                t.place(&key, 0).tag() == t.place(&key, 1).tag()
            })
            .expect("a key whose zones 0 and 1 share a tag");
        let mut t: FixedConnTable<8> = ConnTable::new(hash_key, Config::DEFAULT);
        let now = Instant::from_secs(1);
        let first = t.track_with(now, &p, Meta::default().with_zone(1));
        assert_eq!(first.state(), Some(CtState::New));
        let other = t.track_with(now, &p, Meta::default());
        assert_eq!(other.state(), Some(CtState::New), "zone 0 does not see zone 1's entry");
        assert_ne!(other.entry(), first.entry());
        assert_eq!(t.track_with(now, &p, Meta::default().with_zone(1)).entry(), first.entry());
    }
}
