//! The path of a packet through the table, in the order of
//! `nf_conntrack_core.c: nf_conntrack_in()`: read the headers, find or
//! create the entry, run the protocol tracker and apply its outcome; and,
//! at confirmation (`nf_conntrack_core.c: __nf_conntrack_confirm()`,
//! after the helper hook of `nf_conntrack_proto.c: nf_confirm()`), run
//! the connection's helper and make a new entry visible.

use super::fast::{FastKey, KeyWords};
use super::index::{Place, Ref};
#[cfg(feature = "helper-pptp")]
use super::keymap;
use super::probe::Sought;
use super::storage::{Entry, Link, Slot, Storage};
use super::{ConnTable, Meta};
use crate::expect::{ExpectNat, Expects, Pending};
use crate::helper::{Ext, ExtSlot, HelperContext};
use crate::nat::payload::SeqAdj;
use crate::proto::udp;
use crate::proto::{self, Inspected, L4Packet, Outcome, PacketCtx, ProtoState, icmp};
use crate::reason::{DropReason, HelperDrop, Reason, TcpReason};
use crate::stats::bump;
use crate::status::Status;
use crate::time::Tick;
use crate::tuple::{Direction, StoredKey, Tuple};
use crate::verdict::{AttachedState, Handle, Tracked, Verdict};
use crate::wire::ip::{IpView, Mode, parse_ip};

/// A packet's flow: the canonical key of its connection, whether the
/// packet's tuple is that key (else its inversion), its zone, and where the
/// key lives (the one hash of the packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Flow {
    pub(super) key: Tuple,
    pub(super) is_key: bool,
    pub(super) zone: u16,
    pub(super) place: Place,
    /// The IP packet's length, headers included (what Linux's accounting
    /// counts: `skb->len`, the packet trimmed to its IP length).
    pub(super) len: u32,
    /// The packet's [`Meta::broadcast_prefix`], for its verdict.
    pub(super) broadcast_prefix: Option<u8>,
}

impl Flow {
    /// The packet's tuple.
    fn tuple(&self) -> Tuple {
        if self.is_key { self.key } else { self.key.invert().unwrap_or(self.key) }
    }

    /// What a search for the flow's entry looks for.
    fn sought(&self) -> Sought<'_> {
        Sought { place: self.place, key: &self.key, is_key: self.is_key, zone: self.zone }
    }
}

/// A packet once the general stage read its headers (the first half of
/// classification, which needs no entry).
pub(super) enum Stage<'p> {
    /// Decided already: INVALID or UNTRACKED.
    Done(Verdict),
    /// To be looked up and tracked.
    Track(Flow, L4Packet<'p>),
    /// An ICMP error and the packet it quotes.
    IcmpError(IpView<'p>, &'p [u8]),
}

/// The length from which a packet takes the fast paths' copies for long
/// packets (`LONG`), whose layer-4 checksum sums the payload 8 bytes an
/// addition ([`checksum::sum`](crate::wire::checksum::sum)): a
/// 1,500-byte datagram 448 x86 instructions fewer. Shorter packets take
/// the copies that sum 32 bits at a time, whose registers the long loop
/// would take (with it, an established 28-byte UDP datagram cost 7 x86
/// instructions more, a TCP ACK over IPv6 20; measured). One copy on
/// 32-bit microcontrollers, whose sum is 32 bits at a time anyway.
const LONG_PACKET: usize = 128;

/// Whether `packet` takes the fast paths' copies for long packets
/// ([`LONG_PACKET`]).
#[inline(always)]
pub(super) fn is_long(packet: &[u8]) -> bool {
    cfg!(target_pointer_width = "64") && packet.len() >= LONG_PACKET
}

/// How many extension slots the search for one to free looks at.
const EXT_EVICT_WINDOW: usize = 32;

/// What running the tracker on an entry led to.
pub(super) enum Step {
    Done(Verdict),
    /// The tracker asked for the entry to be replaced by a new one (a TCP
    /// reopen: `nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()`).
    Reopen,
}

impl<S: Storage> ConnTable<S> {
    /// [`ConnTable::classify`] after the notrack check.
    #[inline(always)]
    pub(super) fn classify_packet(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        // UDP over IPv4 without options, the commonest packet: its own
        // path, which reads its key. Byte 9 alone chooses it (the protocol
        // of an IPv4 header): the path tests the rest of the header once,
        // and sends any other packet to the general stage.
        // (Where there are copies for long packets, its length tested from
        // 10 bytes, for byte 9, to a long packet's in one comparison: a
        // long datagram goes to `classify_other`, which sends it to its
        // copy, at no cost to a short one.)
        let udp = if cfg!(target_pointer_width = "64") {
            packet.len().wrapping_sub(10) < LONG_PACKET - 10 && packet[9] == crate::tuple::proto::UDP
        } else {
            packet.get(9) == Some(&crate::tuple::proto::UDP)
        };
        if udp {
            return self.classify_udp4::<false>(now, packet, meta);
        }
        self.classify_other(now, packet, meta)
    }

    /// [`ConnTable::classify_packet`] of a packet whose byte 9 does not
    /// say UDP: one over IPv6 to its paths ([`ConnTable::classify_ip6`]),
    /// any other to [`ConnTable::classify_ip4_other`]. Out of line, and
    /// small: its calls are jumps, so that an IPv6 packet does not pay for
    /// the frame of the IPv4 paths (at 2,000 flows an established UDP
    /// datagram over IPv6 21 x86 instructions fewer, a TCP ACK over IPv6
    /// 26, for 6 more a TCP ACK over IPv4, measured). (Tested in
    /// `classify_packet` instead, the test left `classify` out of line:
    /// an established UDP datagram 22 instructions more.)
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(never)]
    pub(super) fn classify_other(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        if is_long(packet) {
            return self.classify_long(now, packet, meta);
        }
        if packet.first().is_some_and(|b| b >> 4 == 6) {
            return self.classify_ip6::<false>(now, packet, meta);
        }
        self.classify_ip4_other::<false>(now, packet, meta)
    }

    /// [`ConnTable::classify_packet`] of a long packet ([`is_long`]): the
    /// copies of the paths for long packets.
    #[inline(never)]
    fn classify_long(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
        if packet.first().is_some_and(|b| b >> 4 == 6) {
            return self.classify_ip6::<true>(now, packet, meta);
        }
        if packet.get(9) == Some(&crate::tuple::proto::UDP) {
            return self.classify_udp4::<true>(now, packet, meta);
        }
        self.classify_ip4_other::<true>(now, packet, meta)
    }

    /// [`ConnTable::classify_packet`] of a packet whose byte 9 does not
    /// say UDP, where IPv6 has no paths of its own (an IPv4-only table, a
    /// 32-bit target).
    #[cfg(not(all(target_pointer_width = "64", not(feature = "ipv4-only"))))]
    #[inline(always)]
    pub(super) fn classify_other(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        if is_long(packet) {
            return self.classify_long(now, packet, meta);
        }
        self.classify_ip4_other::<false>(now, packet, meta)
    }

    /// [`ConnTable::classify_other`] of a packet that is not IPv6 (any
    /// packet, where IPv6 has no paths of its own): TCP over IPv4 without
    /// options on its fast path, any other packet on the general stage.
    // Out of line on 64-bit hosts: the UDP path then keeps its values in
    // registers (an established datagram 578 instructions with every path
    // in one function, 527 apart, measured). Inline on 32-bit
    // microcontrollers: out of line, it cost a TCP ACK 39 instructions
    // more on a Cortex-M3 and 168 bytes of flash (measured).
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(always))]
    fn classify_ip4_other<const LONG: bool>(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        // Where there is a prefetch (`prefetch::ENABLED`), the key of a
        // plain TCP packet is read and hashed first and its home bucket
        // asked for, so that the bucket is on its way while the checks
        // run; elsewhere the fast path reads the key after its checks
        // (fewer values live across them).
        if crate::prefetch::ENABLED {
            return match self.header_key(packet, meta.zone) {
                Some(mut key) if key.proto() == crate::tuple::proto::TCP => {
                    self.ask_place(&mut key, true);
                    self.classify_tcp4::<LONG>(now, packet, meta, Some(key))
                }
                _ => self.classify_general(now, packet, meta),
            };
        }
        if packet.first() == Some(&0x45) && packet.get(9) == Some(&crate::tuple::proto::TCP) {
            return self.classify_tcp4::<LONG>(now, packet, meta, None);
        }
        self.classify_general(now, packet, meta)
    }

    /// [`ConnTable::classify_packet`] of a packet whose byte 0 says IPv6:
    /// UDP and TCP right after the fixed header on their fast paths
    /// (`fast.rs: classify_udp6`, [`ConnTable::classify_tcp6_packet`]),
    /// any other packet on the general stage.
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(always)]
    pub(super) fn classify_ip6<const LONG: bool>(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        match packet.get(6) {
            Some(&crate::tuple::proto::UDP) => self.classify_udp6::<LONG>(now, packet, meta),
            Some(&crate::tuple::proto::TCP) => self.classify_tcp6_packet::<LONG>(now, packet, meta),
            _ => self.classify_general(now, packet, meta),
        }
    }

    /// [`ConnTable::classify_ip6`] of a packet whose byte 6 says TCP: if
    /// its fixed header is followed by TCP, its key read from its header
    /// bytes ([`ConnTable::header_key6`]) and its memory asked for while
    /// the checks run, then the TCP fast path (`fast.rs: classify_tcp6`).
    /// (Out of line, as `classify_udp6`: inline, it would be in every
    /// caller of `track`.)
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(never)]
    fn classify_tcp6_packet<const LONG: bool>(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        match self.header_key6(packet, meta.zone) {
            Some(mut key) => {
                self.ask_place(&mut key, true);
                self.classify_tcp6::<LONG>(now, packet, meta, key)
            }
            None => self.classify_general(now, packet, meta),
        }
    }

    /// [`ConnTable::classify_packet`] of a packet whose header bytes were
    /// read already: `key` is what they gave ([`ConnTable::header_key`]),
    /// `None` if they say neither UDP nor TCP over IPv4 without options (a
    /// batch's packet; nor UDP or TCP right after an IPv6 fixed header,
    /// which `header_key6` reads: [`ConnTable::classify_keyed6`]).
    #[inline(always)]
    pub(super) fn classify_keyed(
        &mut self,
        now: Tick,
        packet: &[u8],
        meta: Meta,
        key: Option<FastKey>,
    ) -> Verdict {
        match key {
            Some(key) if key.proto() == crate::tuple::proto::UDP => {
                self.classify_udp4_keyed::<false>(now, packet, meta, key)
            }
            Some(key) => self.classify_tcp4::<false>(now, packet, meta, Some(key)),
            // No key: a long packet (the batch reads none of it: see
            // [`is_long`]) or one the fast paths do not take. (An IPv6
            // packet with a key takes `classify_keyed6`.)
            None => self.classify_unkeyed(now, packet, meta),
        }
    }

    /// [`ConnTable::classify_keyed`] of an IPv6 packet whose header bytes
    /// gave `key` ([`ConnTable::header_key6`]): UDP or TCP right after its
    /// fixed header, on their fast paths (a batch's packet).
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(always)]
    pub(super) fn classify_keyed6(
        &mut self,
        now: Tick,
        packet: &[u8],
        meta: Meta,
        key: FastKey<5>,
    ) -> Verdict {
        if key.proto() == crate::tuple::proto::UDP {
            self.classify_udp6_keyed::<false>(now, packet, meta, key)
        } else {
            self.classify_tcp6::<false>(now, packet, meta, key)
        }
    }

    /// [`ConnTable::classify_keyed`] of a packet without a key: a long
    /// packet ([`is_long`]), or one the fast paths do not take, as
    /// [`ConnTable::classify_packet`] classifies it.
    #[inline(never)]
    fn classify_unkeyed(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        self.classify_packet(now, packet, meta)
    }

    /// [`ConnTable::classify_packet`] for any packet: the general stage.
    #[inline(never)]
    pub(super) fn classify_general(&mut self, now: Tick, packet: &[u8], meta: Meta) -> Verdict {
        let stage = self.stage_general(packet, meta);
        self.finish(now, stage, meta)
    }

    /// The rest of the classification of a UDP datagram whose canonical
    /// key has the hash words `words` (IPv4's or IPv6's; `is_key`: the
    /// packet's tuple is the key), payload `payload`, IP length `len`,
    /// when its fast path ([`ConnTable::classify_udp4`],
    /// [`ConnTable::classify_udp6`]) did not finish it: `found` is what
    /// the key's home bucket decided (`None`: it did not, the search
    /// decides).
    // Out of line: the established packet's path stays small.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn track_udp(
        &mut self,
        now: Tick,
        (words, is_key): (impl KeyWords, bool),
        meta: Meta,
        place: Place,
        len: u32,
        payload: &[u8],
        found: Option<Option<(usize, Direction)>>,
    ) -> Verdict {
        let zone = meta.zone;
        // (Built where it stays: a copy fewer.)
        let flow =
            Flow { key: words.tuple(), is_key, zone, place, len, broadcast_prefix: meta.broadcast_prefix };
        // The home bucket again, for the positions the fast path leaves
        // (an entry with its own reply tuple: NAT), then the full search;
        // an entry found takes the UDP lane.
        let found = match found {
            Some(found) => found,
            None => {
                let found = self.find_fast(now, Sought { place, key: &flow.key, is_key, zone });
                if let Some((i, dir)) = found
                    && let Some(t) = self.udp_lane(now, i, dir, false, len, meta.broadcast_prefix)
                {
                    return Verdict::Tracked(t);
                }
                found
            }
        };
        let l4 = L4Packet::Udp(payload);
        // A new flow: its entry created, then the UDP lane, here rather
        // than through `attach_found` and `run_tracker` (which try the same
        // lane first): the verdict is not carried out through their
        // `Step` (a new flow 35 x86 instructions fewer, measured). The
        // tracker where the lane does not apply (an event sink, timeout
        // policies). On 64-bit hosts: on microcontrollers this second way
        // cost 600-700 bytes of flash.
        if cfg!(target_pointer_width = "64") && found.is_none() {
            let i = match self.create(now, &flow, place, &l4) {
                Ok(i) => i,
                Err(d) => return Verdict::Dropped(d),
            };
            if let Some(t) = self.udp_lane(now, i, Direction::Original, true, len, meta.broadcast_prefix) {
                return Verdict::Tracked(t);
            }
            return match self.run_tracker(now, i, Direction::Original, true, &l4, len, meta.broadcast_prefix)
            {
                Step::Done(v) => v,
                Step::Reopen => self.track_reopened(now, &flow, &l4),
            };
        }
        match self.attach_found(now, &flow, &l4, found) {
            Step::Done(v) => v,
            Step::Reopen => self.track_reopened(now, &flow, &l4),
        }
    }

    /// The first half of the classification of any packet: read the
    /// headers (IP input's and the tracker's `error()` checks), build the
    /// tuple, hash its key.
    fn stage_general<'p>(&mut self, packet: &'p [u8], meta: Meta) -> Stage<'p> {
        let zone = meta.zone;
        // An IPv4-only table tracks no IPv6 packet (its entries cannot hold
        // an IPv6 key), whatever its header says: version 6 is enough. Not
        // counted as INVALID, which is conntrack's count.
        #[cfg(feature = "ipv4-only")]
        if packet.first().is_some_and(|b| b >> 4 == 6) {
            return Stage::Done(Verdict::Invalid(Reason::FamilyNotTracked));
        }
        let ip = match parse_ip(packet, Mode::Outer) {
            Ok(ip) => ip,
            Err(r) => return Stage::Done(self.invalid(r)),
        };
        match proto::inspect(&ip, self.packet_config().checksum) {
            Inspected::Track(tuple, l4) => {
                // GRE version 1: the source key from the PPTP key map
                // (`nf_conntrack_proto_gre.c: gre_pkt_to_tuple()`).
                #[cfg(feature = "helper-pptp")]
                let tuple = if keymap::is_gre_v1(ip.proto, ip.l4) { self.gre_keyed(tuple) } else { tuple };
                match tuple.canonical() {
                    Some((key, is_key)) => {
                        let place = self.place(&key, zone);
                        // Only accounting reads it.
                        let len = if cfg!(feature = "ct-acct") { ip_length(packet, ip.l4) } else { 0 };
                        let broadcast_prefix = meta.broadcast_prefix;
                        Stage::Track(Flow { key, is_key, zone, place, len, broadcast_prefix }, l4)
                    }
                    None => Stage::Done(self.invalid(Reason::NotInvertible)),
                }
            }
            Inspected::IcmpError(quote) => Stage::IcmpError(ip, quote),
            Inspected::Untracked => Stage::Done(Verdict::Untracked),
            Inspected::Invalid { reason, counted_as_error: false } => Stage::Done(self.invalid(reason)),
            Inspected::Invalid { reason, counted_as_error: true } => Stage::Done(self.icmp_reject(reason)),
        }
    }

    /// The second half: find or create the entry and run its tracker.
    pub(super) fn finish(&mut self, now: Tick, stage: Stage<'_>, meta: Meta) -> Verdict {
        match stage {
            Stage::Done(v) => v,
            // The flow carries the packet's meta.
            Stage::Track(flow, l4) => self.track_flow(now, &flow, &l4),
            Stage::IcmpError(ip, quote) => {
                let mut verdict = self.icmp_error(now, &ip, quote, meta.zone);
                if let Verdict::Tracked(t) = &mut verdict {
                    t.set_broadcast_prefix(meta.broadcast_prefix);
                }
                verdict
            }
        }
    }

    pub(super) fn invalid(&mut self, r: Reason) -> Verdict {
        bump(&mut self.stats.invalid);
        Verdict::Invalid(r)
    }

    /// The ICMP handler rejected the packet: counted as `error`
    /// (`nf_conntrack_core.c: nf_conntrack_handle_icmp()`).
    fn icmp_reject(&mut self, r: Reason) -> Verdict {
        bump(&mut self.stats.error);
        Verdict::Invalid(r)
    }

    /// The normal path of `nf_conntrack_core.c: nf_conntrack_in()` for a
    /// packet with a tuple.
    // Inlined on 64-bit hosts, where it saves instructions per packet
    // (ci/instructions.sh); left to the compiler on 32-bit
    // microcontrollers, where copies cost flash (ci/footprint.sh).
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn track_flow(&mut self, now: Tick, flow: &Flow, l4: &L4Packet<'_>) -> Verdict {
        match self.attach(now, flow, l4) {
            Step::Done(v) => v,
            Step::Reopen => self.track_reopened(now, flow, l4),
        }
    }

    /// A TCP reopen deletes the old entry and tracks the packet again on a
    /// new one (`nf_conntrack_in()` repeats the lookup when
    /// `nf_conntrack_tcp_packet()` has killed the entry): the second turn.
    /// (A call of its own rather than a loop around the first turn: a loop
    /// made the compiler hoist dozens of addresses out of it, a hundred
    /// instructions per packet on a Cortex-M3.)
    #[inline(never)]
    pub(super) fn track_reopened(&mut self, now: Tick, flow: &Flow, l4: &L4Packet<'_>) -> Verdict {
        match self.attach(now, flow, l4) {
            Step::Done(v) => v,
            // Only an entry in TIME_WAIT or CLOSE asks to be reopened, and
            // a new entry starts in NONE: this cannot repeat (debug builds
            // and the fuzz targets check it). Were it to, the packet could
            // not start a connection.
            Step::Reopen => {
                debug_assert!(false, "a new entry asked to be reopened");
                self.invalid(Reason::Tcp(TcpReason::InvalidNew))
            }
        }
    }

    /// Find the entry of the flow or create one, and run the tracker.
    #[inline]
    fn attach(&mut self, now: Tick, flow: &Flow, l4: &L4Packet<'_>) -> Step {
        let found = self.find_fast(now, flow.sought());
        self.attach_found(now, flow, l4, found)
    }

    /// [`ConnTable::attach`] once the flow's entry was searched for:
    /// `found` it, or create one; then run the tracker.
    #[inline]
    pub(super) fn attach_found(
        &mut self,
        now: Tick,
        flow: &Flow,
        l4: &L4Packet<'_>,
        found: Option<(usize, Direction)>,
    ) -> Step {
        // One hash per packet: the place serves the lookup and the insert.
        let place = flow.place;
        let (i, dir, is_new) = match found {
            Some((i, dir)) => (i, dir, false),
            None => {
                // Only ICMP queries open ICMP entries (the `valid_new[]`
                // check of `nf_conntrack_icmp_packet()` and
                // `nf_conntrack_icmpv6_packet()`): the reply path of the
                // kernel's tracker, without the allocation.
                if matches!(l4, L4Packet::Icmp) && !icmp::may_create(&flow.tuple()) {
                    return Step::Done(self.invalid(Reason::UnsolicitedReply));
                }
                match self.create(now, flow, place, l4) {
                    Ok(i) => (i, Direction::Original, true),
                    Err(d) => return Step::Done(Verdict::Dropped(d)),
                }
            }
        };
        self.run_tracker(now, i, dir, is_new, l4, flow.len, flow.broadcast_prefix)
    }

    /// Create the (unconfirmed) entry of a new connection, in a slot of
    /// one of the two buckets of its key.
    fn create(
        &mut self,
        now: Tick,
        flow: &Flow,
        place: Place,
        l4: &L4Packet<'_>,
    ) -> Result<usize, DropReason> {
        // Only a table with helper assignments or live expectations links
        // a new entry to anything (most tables, most of the time, do not):
        // the rest out of line, so that an unlinked entry's creation keeps
        // a small frame (a new UDP flow 5.5 x86 instructions fewer, measured).
        if !self.assignments.is_empty() || !self.expect_book.is_empty() {
            return self.create_linked(now, flow, place, l4);
        }
        let stored = stored_key(flow)?;
        let i = self.alloc(now, place)?;
        let entry = self.new_entry(now, flow, stored, l4);
        self.place_entry(now, i, entry, place)
    }

    /// The entry of a new connection as [`ConnTable::create`] makes it,
    /// its key stored as `stored`, not linked to anything yet (no status
    /// bits, no extension).
    // (Inline on 64-bit hosts; on microcontrollers shared, for flash.)
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn new_entry(&mut self, now: Tick, flow: &Flow, stored: StoredKey, l4: &L4Packet<'_>) -> Entry {
        let proto = ProtoState::new(l4, self.tick_memo.fine(now));
        // Generation 0 marks an unused slot.
        self.generation = self.generation.checked_add(1).unwrap_or(1);
        Entry::new(stored, flow.zone, self.generation, proto, now, Link::new(flow.is_key, None, false))
    }

    /// Store `entry`, new, in slot `i` (taken by `alloc`) and give it its
    /// index position at `place`; if there is none, the slot is freed and
    /// the packet dropped.
    // (Inline on 64-bit hosts; on microcontrollers shared, for flash.)
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn place_entry(&mut self, now: Tick, i: usize, entry: Entry, place: Place) -> Result<usize, DropReason> {
        if let Some(slot) = self.store.parts_mut().slots.get_mut(i) {
            *slot = Slot(entry);
        }
        if self.index_entry(now, place, Ref::primary(i)) {
            self.created = (i as u32 + 1, self.visible_epoch);
            Ok(i)
        } else {
            self.remove(i);
            bump(&mut self.stats.drop);
            Err(DropReason::TableFull)
        }
    }

    /// [`ConnTable::create`] in a table with helper assignments or live
    /// expectations: the new entry linked to its helper, master or
    /// expectation.
    #[inline(never)]
    fn create_linked(
        &mut self,
        now: Tick,
        flow: &Flow,
        place: Place,
        l4: &L4Packet<'_>,
    ) -> Result<usize, DropReason> {
        let Flow { is_key, zone, .. } = *flow;
        let stored = stored_key(flow)?;
        let tuple = flow.tuple();
        if self.needs_ext(now, &tuple, zone) {
            self.make_room_for_ext(now);
        }
        let i = self.alloc(now, place)?;
        let mut entry = self.new_entry(now, flow, stored, l4);
        let generation = entry.generation;
        match self.new_entry_links(now, &tuple, zone, i) {
            Ok((status, ext, follow, expected)) => {
                entry.status = status;
                entry.set_link(Link::new(is_key, ext.map(|(x, _)| x), ext.is_some_and(|(_, helped)| helped)));
                if let Some(x) = expected {
                    // `nf_conntrack_core.c: init_conntrack()`: an expected
                    // connection starts with its master's mark.
                    #[cfg(feature = "ct-mark")]
                    if let Some(m) = self.entry_at(x.master as usize) {
                        entry.extra.mark = m.extra.mark;
                    }
                    // A one-shot expectation is used up
                    // (`nf_conntrack_expect.c: nf_ct_find_expectation()`
                    // unlinks it, which reports IPEXP_DESTROY).
                    if !x.exp.flags().contains(crate::expect::ExpectFlags::PERMANENT) {
                        self.pending_event(&x, super::EventKind::Destroy);
                    }
                }
                let i = self.place_entry(now, i, entry, place)?;
                // The expectation's NAT callback (`init_conntrack()` calls
                // `exp->expectfn`).
                if let (Some((master, nat)), Some(hooks)) = (follow, self.nat_hooks) {
                    (hooks.follow_master)(self, now, Handle { index: i as u32, generation }, master, &nat);
                }
                Ok(i)
            }
            Err(d) => {
                // Give the slot back: nothing was stored in it yet.
                if let Some(slot) = self.store.parts_mut().slots.get_mut(i) {
                    *slot = Slot(entry);
                }
                self.remove(i);
                bump(&mut self.stats.drop);
                Err(d)
            }
        }
    }

    /// The UDP lane: in a table without an event sink or timeout
    /// policies, a UDP datagram's tracker step is the UDP tracker's rule
    /// (`udp::udp_step`, which the general step calls too; an accept,
    /// always) and the SEEN_REPLY of a reply: all [`ConnTable::run_tracker`]
    /// does for it, without the tracker's context and outcome. `None` (and
    /// nothing changed) for any other table or entry. A test holds it to
    /// the general path (`the_udp_lane_is_the_general_path`).
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    pub(super) fn udp_lane(
        &mut self,
        now: Tick,
        i: usize,
        dir: Direction,
        is_new: bool,
        len: u32,
        broadcast_prefix: Option<u8>,
    ) -> Option<Tracked> {
        if self.wants(super::events::EventMask::CONN) || !self.timeout_policies.is_empty() {
            return None;
        }
        // `packet_config`, the field itself: borrowed apart from the slots.
        debug_assert!(self.config_set);
        let cfg = &self.config;
        let e = self.store.parts_mut().slots.get_mut(i).and_then(Slot::entry_mut)?;
        // (By reference: the fraction is read only in the grace's last
        // tick; a copy of the whole cost 6 instructions a packet.)
        let ProtoState::Stream { stream_after } = &e.proto else { return None };
        let seen_reply = e.status.contains(Status::SEEN_REPLY);
        let state = attached_state(e, dir);
        // (A NAT_CLASH entry is never ASSURED: as if it were already.)
        let assured = e.status.intersects(Status::ASSURED | Status::NAT_CLASH);
        let memo = &self.tick_memo;
        let (secs, assure) =
            udp::udp_step(stream_after, now, || memo.frac(), seen_reply, assured, &cfg.timeouts);
        e.accept(now, dir, Some(secs), assure, cfg, len);
        if dir == Direction::Reply {
            e.status.insert(Status::SEEN_REPLY);
        }
        let mut t = Tracked::new(state, dir, e.handle(i), e.link().helped());
        t.set_unconfirmed(is_new);
        t.set_broadcast_prefix(broadcast_prefix);
        Some(t)
    }

    /// Run the protocol tracker on the entry in slot `i` and apply its
    /// outcome: `nf_conntrack_core.c: nf_conntrack_in()` from the ctinfo
    /// that `resolve_normal_ct()` derives on (`nf_conntrack_handle_packet()`,
    /// then the SEEN_REPLY update).
    // Inline on 64-bit hosts (both callers, the TCP fast path and
    // `attach_found`, save the call); left to the compiler on 32-bit
    // microcontrollers, where copies cost flash.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    #[cfg_attr(not(target_pointer_width = "64"), inline)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_tracker(
        &mut self,
        now: Tick,
        i: usize,
        dir: Direction,
        is_new: bool,
        l4: &L4Packet<'_>,
        len: u32,
        broadcast_prefix: Option<u8>,
    ) -> Step {
        if let L4Packet::Udp(_) = l4
            && let Some(t) = self.udp_lane(now, i, dir, is_new, len, broadcast_prefix)
        {
            return Step::Done(Verdict::Tracked(t));
        }
        // What an UPDATE event compares with (nothing without a sink).
        let before = self.before(i);
        // The zone's timeout policy, if it has one for the protocol (a
        // copy of the settings then).
        let zoned = if self.timeout_policies.is_empty() {
            None
        } else {
            self.entry_at(i).and_then(|e| self.zone_config(e.zone, e.key.proto()))
        };
        // Borrow the configuration and the slot as separate fields: no
        // per-packet copy of the configuration (`packet_config`, the field
        // itself).
        debug_assert!(self.config_set);
        let cfg = &self.config;
        let cfg = zoned.as_ref().unwrap_or(cfg);
        let p = self.store.parts_mut();
        let (slots, exts) = (p.slots, p.exts);
        let Some(e) = slots.get_mut(i).and_then(Slot::entry_mut) else {
            // `i` was just found or filled (debug builds and the fuzz
            // targets check it); were it not, the packet would belong to
            // no entry.
            debug_assert!(false, "slot {i} holds no entry");
            return Step::Done(Verdict::Invalid(Reason::Tcp(TcpReason::InvalidNew)));
        };
        let seen_reply = e.status.contains(Status::SEEN_REPLY);
        let state = attached_state(e, dir);
        let ctx = PacketCtx {
            now,
            now_frac: self.tick_memo.fine(now).frac,
            dir,
            is_new,
            seen_reply,
            // A NAT_CLASH entry never becomes ASSURED (`nf_conntrack_proto_udp.c:
            // nf_conntrack_udp_packet()`, `nf_conntrack_proto_gre.c:
            // nf_conntrack_gre_packet()`; only their entries are kept so):
            // as if it were already.
            assured: e.status.intersects(Status::ASSURED | Status::NAT_CLASH),
            deadline: e.deadline(),
            family: e.key.family(),
            peer_seqadj: if e.status.contains(Status::SEQ_ADJUST) {
                peer_seqadj(e, exts, dir)
            } else {
                SeqAdj::ZERO
            },
        };
        let mut close = false;
        let ignored = match proto::handle_packet(&mut e.proto, l4, &ctx, cfg) {
            Outcome::Accept { timeout, assure } => {
                e.accept(now, dir, timeout, assure, cfg, len);
                None
            }
            Outcome::Close => {
                // `nf_conntrack_core.c: nf_ct_kill_acct()`: the packet that
                // ends the connection is counted before it dies.
                #[cfg(feature = "ct-acct")]
                if cfg.acct {
                    e.extra.count(dir, len);
                }
                close = true;
                None
            }
            Outcome::Ignore(r) => Some(r),
            Outcome::Invalid { reason, timeout } => {
                if let Some(secs) = timeout {
                    e.refresh(now, secs);
                }
                if is_new {
                    self.remove(i);
                }
                return Step::Done(self.invalid(reason));
            }
            Outcome::Reopen => {
                self.remove(i);
                return Step::Reopen;
            }
        };
        // `nf_conntrack_in()`: SEEN_REPLY is set after the tracker accepted a
        // reply packet. A packet that ended the connection was accepted by
        // a tracker that had already deleted the entry (`nf_ct_kill_acct()`),
        // its DESTROY event sent: the bit set afterwards is never seen.
        if dir == Direction::Reply && !close {
            e.status.insert(Status::SEEN_REPLY);
        }
        let handle = e.handle(i);
        let helped = e.link().helped();
        // The packet that ends a NATed connection is still translated
        // (in Linux it holds a reference to the killed entry): the entry
        // stays in its slot, expired, invisible to lookups, until a lookup
        // or `gc` reaps it.
        let ended_nat = close && e.has_own_reply();
        if ended_nat {
            e.set_deadline(now);
        } else if close {
            self.remove(i);
        }
        // `nf_ct_kill()` reports DESTROY at once; the entry that stays for
        // the packet's translation is DYING, and its reaping reports
        // nothing more.
        if ended_nat {
            self.destroy_events(i);
            if let Some(e) = self.entry_at_mut(i) {
                e.status.insert(Status::DYING);
            }
        }
        #[cfg(not(feature = "ct-acct"))]
        let _ = len;
        // The packet's changes to a confirmed entry: one UPDATE event.
        if !close {
            self.after(i, before);
        }
        let mut t = Tracked::new(state, dir, handle, helped);
        t.set_broadcast_prefix(broadcast_prefix);
        t.set_ignored(ignored);
        t.set_unconfirmed(is_new && !close);
        if close {
            t.set_entry(None);
            t.set_ended(ended_nat.then_some(handle));
        }
        Step::Done(Verdict::Tracked(t))
    }

    /// Status bits and extension slot of a new entry whose original tuple
    /// is `t` (`nf_conntrack_core.c: init_conntrack()`): created from an
    /// expectation (EXPECTED, with a master and the expectation's helper), or
    /// given an assigned helper.
    fn new_entry_links(
        &mut self,
        now: Tick,
        t: &Tuple,
        zone: u16,
        owner: usize,
    ) -> Result<NewLinks, DropReason> {
        let owner = owner as u32;
        let free = self.free_ext();
        if free.is_none() {
            // Fail before an expectation is used up.
            return if self.needs_ext(now, t, zone) {
                Err(DropReason::TableFull)
            } else {
                Ok((Status::empty(), None, None, None))
            };
        }
        let p = self.store.parts_mut();
        let slots = p.slots;
        let mut view = Expects {
            slots: p.expects,
            book: &mut self.expect_book,
            stats: &mut self.stats,
            key: &self.hash_key,
        };
        let found = if view.is_empty() { None } else { view.take_match(now, t, zone) };
        #[cfg(feature = "helper-pptp")]
        let mut expected_by = None;
        let mut follow = None;
        let (status, ext) = match found {
            Some(p) => {
                let Some(master) = slots.get(p.master as usize).and_then(Slot::entry).map(Entry::orig) else {
                    return Ok((Status::empty(), None, None, None));
                };
                if !p.exp.nat.is_none() {
                    follow = Some((p.master, p.exp.nat));
                }
                bump(&mut self.stats.expect_new);
                #[cfg(feature = "helper-pptp")]
                {
                    expected_by = Some((p.master, p.exp));
                }
                (Status::EXPECTED, Ext::new(owner, p.exp.helper, Some(master)))
            }
            None => match self.assignments.iter().find(|a| a.applies(t, zone)) {
                Some(a) => (Status::HELPER, Ext::new(owner, Some(a.helper()), None)),
                None => return Ok((Status::empty(), None, None, None)),
            },
        };
        let helped = ext.helper.is_some();
        let taken = self.take_ext(ext);
        debug_assert_eq!(taken, free, "the extension slot taken is the one found free");
        let free = taken.ok_or(DropReason::TableFull)?;
        // The expectation's callback (PPTP: `pptp_expectfn()`).
        #[cfg(feature = "helper-pptp")]
        if let Some((master, exp)) = expected_by {
            self.pptp_expected(master, &exp);
        }
        Ok((status, Some((free, helped)), follow, found))
    }

    /// Whether a new connection whose original tuple is `t` gets an
    /// extension slot: it is expected, or a helper is assigned to it.
    fn needs_ext(&mut self, now: Tick, t: &Tuple, zone: u16) -> bool {
        if self.assignments.iter().any(|a| a.applies(t, zone)) {
            return true;
        }
        self.expects().has_match(now, t, zone)
    }

    /// Early drop for the extension slots (`nf_conntrack_core.c:
    /// early_drop()`'s rule, applied to the pool Linux does not have: it
    /// allocates helper data with the entry): when none is free, the entry
    /// of one that is expired, or confirmed and not ASSURED, is evicted,
    /// among at most [`EXT_EVICT_WINDOW`] extension slots
    /// from where the last search stopped. Unanswered connections to a
    /// helper's port cannot then exhaust the pool while the table has room.
    pub(super) fn make_room_for_ext(&mut self, now: Tick) {
        let p = self.store.parts();
        let (slots, exts) = (p.slots, p.exts);
        let n = self.usable_exts();
        if n == 0 || self.exts_used < n {
            return;
        }
        let mut victim = None;
        for k in 0..EXT_EVICT_WINDOW.min(n) {
            let x = (self.ext_cursor + k) % n;
            let Some(owner) = exts.get(x).and_then(|s| s.0.get()).map(|e| e.owner as usize) else { continue };
            if let Some(e) = slots.get(owner).and_then(Slot::entry)
                && (e.expired(now)
                    || (e.status.contains(Status::CONFIRMED) && !e.status.contains(Status::ASSURED)))
            {
                victim = Some((x, owner, e.expired(now)));
                break;
            }
        }
        self.ext_cursor = (self.ext_cursor + EXT_EVICT_WINDOW) % n;
        if let Some((x, owner, expired)) = victim {
            self.ext_cursor = (x + 1) % n;
            self.remove(owner);
            if !expired {
                bump(&mut self.stats.early_drop);
            }
        }
    }

    /// The helper hook of confirmation (`nf_conntrack_proto.c:
    /// nf_confirm()`): the helper of the packet's connection, if any, sees
    /// the packet: every accepted packet in both directions, and the ICMP
    /// errors RELATED to it in the original direction (Linux spares only
    /// RELATED_REPLY).
    pub(super) fn run_helper(&mut self, t: &mut Tracked, packet: &[u8]) -> Result<(), HelperDrop> {
        let Some(h) = t.entry() else { return Ok(()) };
        let (i, now) = (h.index(), self.classified_now());
        let p = self.store.parts_mut();
        let (slots, exts, expects) = (p.slots, p.exts, p.expects);
        let Some(e) = slots.get_mut(i).and_then(Slot::entry_mut) else { return Ok(()) };
        if e.generation != h.generation {
            return Ok(());
        }
        let Some(ext) = e.link().ext().and_then(|x| exts.get_mut(x)?.0.as_mut()) else { return Ok(()) };
        let Some(helper_id) = ext.helper else { return Ok(()) };
        let Some(&helper) = self.helpers.get(usize::from(helper_id.0)) else { return Ok(()) };
        // The packet was read once by classify; read its headers again (only
        // for helped connections) rather than keep borrowed bytes in the
        // verdict.
        let Ok(ip) = parse_ip(packet, Mode::Outer) else { return Ok(()) };
        let (payload, tcp_seq) = match proto::inspect(&ip, false) {
            Inspected::Track(_, l4) => (l4.payload(), l4.tcp_seq()),
            // An ICMP error RELATED in the original direction reaches the
            // helper too: `nf_conntrack_proto.c: nf_confirm()` spares only
            // RELATED_REPLY. The helper reads the ICMP message as if it were
            // its own protocol's: past 8 bytes (a UDP header's size, the
            // ICMP header's too) lies the quoted packet, which SIP over UDP
            // parses as a message after refreshing the timeout; FTP and SIP
            // over TCP look at ESTABLISHED packets only.
            Inspected::IcmpError(_) if t.dir() == Direction::Original => {
                (ip.l4.get(8..).unwrap_or(&[]), None)
            }
            _ => return Ok(()),
        };
        let orig = e.orig();
        // A translated connection's reply tuple is its own (in the
        // extension slot, as its secondary key).
        let natted = e.has_own_reply();
        let reply = match natted {
            true if ext.reply_is_key => ext.reply,
            true => ext.reply.invert().unwrap_or(ext.reply),
            false => orig.invert().unwrap_or(orig),
        };
        if natted {
            self.rewrite.clear();
        }
        let mut cx = HelperContext {
            now,
            dir: t.dir(),
            state: t.state(),
            orig,
            reply,
            natted,
            rewrite: &mut self.rewrite,
            expected: e.status.contains(Status::EXPECTED),
            payload,
            l4_len: ip.l4.len(),
            tcp_seq,
            data: &mut ext.data,
            helper,
            helper_id,
            master: i as u32,
            zone: e.zone,
            broadcast_prefix: t.broadcast_prefix(),
            expects: Expects {
                slots: expects,
                book: &mut self.expect_book,
                stats: &mut self.stats,
                key: &self.hash_key,
            },
            new_timeout: None,
            #[cfg(feature = "helper-pptp")]
            pptp: keymap::PptpCx { keymap: Some(&mut self.keymap), destroy_siblings: false },
        };
        let r = helper.help(&mut cx);
        if let Some(secs) = cx.new_timeout {
            e.refresh(now, secs);
        }
        if natted {
            t.set_rewrite(cx.rewrite.issue());
        }
        // A PPTP call ended (`nf_conntrack_pptp.c: pptp_inbound_pkt()`).
        #[cfg(feature = "helper-pptp")]
        if cx.pptp.destroy_siblings {
            let (orig, reply, zone) = (e.orig(), cx.reply, e.zone);
            let state = ext.data;
            self.pptp_destroy_siblings(
                i,
                (&orig, &reply),
                zone,
                &crate::helper::HelperState::load(&mut crate::helper::StateReader::new(&state)),
            );
        }
        r
    }

    /// ICMP errors (`nf_conntrack_proto_icmp.c: nf_conntrack_inet_error()`):
    /// RELATED to the connection of the quoted packet.
    fn icmp_error(&mut self, now: Tick, outer: &IpView<'_>, quote: &[u8], zone: u16) -> Verdict {
        let t = match icmp::quoted_tuple(quote, outer.family) {
            Ok(t) => t,
            Err(r) => return self.icmp_reject(r),
        };
        #[cfg(feature = "helper-pptp")]
        let t = self.gre_keyed_quote(t, quote);
        let Some((key, is_key)) = t.canonical() else {
            return self.icmp_reject(Reason::BadIcmpErrorQuote);
        };
        let place = self.place(&key, zone);
        let Some((i, dir)) = self.find(now, Sought { place, key: &key, is_key, zone }) else {
            return self.icmp_reject(Reason::IcmpErrorNoEntry);
        };
        // `t` is the entry's tuple in direction `dir`: the error must be
        // travelling to that tuple's destination.
        if t.dst_bytes() != &outer.dst {
            return self.icmp_reject(Reason::IcmpErrorWrongDestination);
        }
        let Some((handle, helped)) = self.entry_at(i).map(|e| (e.handle(i), e.link().helped())) else {
            return self.icmp_reject(Reason::IcmpErrorNoEntry);
        };
        Verdict::Tracked(Tracked::new(AttachedState::Related, dir, handle, helped))
    }
}

/// The state of a packet of entry `e` in direction `dir`, before its
/// tracker runs (`nf_conntrack_core.c: resolve_normal_ct()`): the reply
/// direction is always ESTABLISHED.
#[inline(always)]
fn attached_state(e: &Entry, dir: Direction) -> AttachedState {
    if dir == Direction::Reply || e.status.contains(Status::SEEN_REPLY) {
        AttachedState::Established
    } else if e.status.contains(Status::EXPECTED) {
        AttachedState::Related
    } else {
        AttachedState::New
    }
}

/// The length of the IP packet `packet` whose layer-4 part is `l4` (a
/// sub-slice of it that ends where the IP payload ends): the header's
/// length and the layer-4 part's.
pub(super) fn ip_length(packet: &[u8], l4: &[u8]) -> u32 {
    let header = (l4.as_ptr() as usize).saturating_sub(packet.as_ptr() as usize);
    u32::try_from(header.saturating_add(l4.len())).unwrap_or(u32::MAX)
}

/// The NAT callback of the expectation a new entry was created from: the
/// master's slot and the translation to follow.
type Follow = (u32, ExpectNat);

/// What [`ConnTable::new_entry_links`] gives a new entry: its status bits,
/// its extension slot and whether that names a helper, the NAT it
/// follows, and the expectation it was created from.
type NewLinks = (Status, Option<(usize, bool)>, Option<Follow>, Option<Pending>);

/// The links of a new entry that is neither expected nor helped.
/// The key of `flow` as an entry stores it (an IPv4-only table refused
/// IPv6 packets before: never an error).
#[inline(always)]
fn stored_key(flow: &Flow) -> Result<StoredKey, DropReason> {
    #[cfg(feature = "ipv4-only")]
    return StoredKey::store(&flow.key).ok_or(DropReason::TableFull);
    #[cfg(not(feature = "ipv4-only"))]
    Ok(flow.key)
}

/// The sequence adjustment of the direction opposite to `dir` of the
/// entry `e` (`nf_conntrack_seqadj.c: nf_ct_seq_offset()`'s record).
#[cold]
fn peer_seqadj(e: &Entry, exts: &[ExtSlot], dir: Direction) -> SeqAdj {
    let x = e.link().ext().and_then(|x| exts.get(x)?.0.as_ref());
    x.map_or(SeqAdj::ZERO, |x| x.seqadj[usize::from(dir == Direction::Original)])
}
