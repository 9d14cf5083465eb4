//! The connection table: fixed-capacity storage, keyed hashing with bounded
//! probing, classification (semantics §2.2), confirmation (§2.4), early drop
//! (§7.2) and expiry (§7.5).
//!
//! # Layout
//!
//! Entries live in an array of [`Slot`]s addressed by open addressing with
//! linear probing. An entry is stored once, under the *canonical* form of
//! its tuples ([`Tuple::canonical`]): a tuple and its inversion hash alike,
//! so one probe sequence finds a connection from either direction, and the
//! reply tuple need not be stored (ctrack does no NAT, so the reply tuple is
//! always the inverted original, §1.4).
//!
//! A probe sequence is at most [`PROBE_WINDOW`] slots long, so every lookup,
//! insert and early drop does bounded work whatever the load or the input.
//! Deleted slots become tombstones, turned back into empty slots when
//! nothing can probe past them.

use crate::config::Config;
use crate::expect::{ExpectBook, ExpectLine, ExpectSlot, Expects};
use crate::hash::{HashKey, hash};
use crate::helper::{Ext, ExtSlot, HelperAssignment, HelperContext, HelperData, HelperDrop, HelperRef};
use crate::packet::{IpView, Mode, parse_ip};
use crate::proto::tcp::{self, TcpConn, TcpState, TcpVerdict};
use crate::proto::{ProtoState, icmp, udp};
use crate::stats::{Stats, bump};
use crate::status::Status;
use crate::time::{Instant, Tick};
use crate::tuple::{Direction, Family, Tuple, proto};
use crate::verdict::{DropReason, Handle, Reason, Tracked, TrackedState, Verdict};

/// The longest probe sequence: lookups, inserts and the early-drop scan
/// look at no more slots than this (the kernel's early drop looks at 8
/// buckets of about 1–2 entries each, §7.2). With linear probing, windows
/// fill up before the table does when the load is high: measured with
/// 100 000 flows, no window was full at a load of 0.5, and 0.36 % of the
/// inserts met a full window at 0.76 (see the README). Size tables for a
/// load of at most about 2/3.
pub const PROBE_WINDOW: usize = 32;

/// One connection entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    /// Canonical tuple of the connection.
    key: Tuple,
    zone: u16,
    /// Which tuple is the original one, and the extension slot.
    link: Link,
    status: Status,
    deadline: Tick,
    proto: ProtoState,
}

/// Two facts in 16 bits, to keep the entry small: whether the original
/// tuple is the canonical key (bit 15), and the index + 1 of the entry's
/// extension slot (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link(u16);

impl Link {
    const ORIG_IS_KEY: u16 = 0x8000;
    /// Most extension slots a table can use.
    const MAX_EXT: usize = 0x7fff;

    fn new(orig_is_key: bool, ext: Option<usize>) -> Link {
        let e = ext.map_or(0, |i| (i + 1).min(Self::MAX_EXT) as u16);
        Link(if orig_is_key { Self::ORIG_IS_KEY } else { 0 } | e)
    }

    fn orig_is_key(self) -> bool {
        self.0 & Self::ORIG_IS_KEY != 0
    }

    fn ext(self) -> Option<usize> {
        match self.0 & !Self::ORIG_IS_KEY {
            0 => None,
            i => Some(usize::from(i) - 1),
        }
    }
}

impl Entry {
    fn orig(&self) -> Tuple {
        if self.link.orig_is_key() { self.key } else { self.key.invert().unwrap_or(self.key) }
    }

    fn reply(&self) -> Tuple {
        if self.link.orig_is_key() { self.key.invert().unwrap_or(self.key) } else { self.key }
    }

    fn expired(&self, now: Tick) -> bool {
        !self.deadline.is_after(now)
    }

    fn refresh(&mut self, now: Tick, secs: u32) {
        if !self.status.contains(Status::FIXED_TIMEOUT) {
            self.deadline = now.after_secs(secs);
        }
    }
}

/// Storage for one entry. Build arrays of them with [`Slot::EMPTY`].
#[derive(Debug, Clone, Copy)]
pub struct Slot(SlotState);

#[derive(Debug, Clone, Copy)]
enum SlotState {
    Empty,
    Tombstone,
    Used(Entry),
}

impl Slot {
    /// An unused slot.
    pub const EMPTY: Slot = Slot(SlotState::Empty);
}

/// Per-packet options: what a raw-table rule would have decided before
/// conntrack (semantics §1.6, §6.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Meta {
    /// Conntrack zone (0 = default). Entries in different zones are
    /// different connections even when their tuples are equal.
    pub zone: u16,
    /// Do not track this packet (`notrack`): its verdict is UNTRACKED and
    /// the table is not touched.
    pub notrack: bool,
    /// For a packet this host sends to a subnet broadcast address: the
    /// subnet's prefix length. Only then do the broadcast helpers (SNMP,
    /// NetBIOS-NS, semantics §9.5) expect the unicast answers.
    pub broadcast_prefix: Option<u8>,
}

/// The layer-4 facts of a packet that its tracker needs.
enum L4Packet<'a> {
    Tcp(tcp::Segment<'a>, &'a [u8]),
    Udp(&'a [u8]),
    UdpLite(&'a [u8]),
    Icmp,
    Gre,
    Generic,
}

impl<'a> L4Packet<'a> {
    /// Application payload, for helpers.
    fn payload(&self) -> &'a [u8] {
        match self {
            L4Packet::Tcp(_, p) | L4Packet::Udp(p) | L4Packet::UdpLite(p) => p,
            _ => &[],
        }
    }
}

/// A connection tracking table over the slot storage `S`: an array
/// `[Slot; N]` (see [`FixedConnTable`]), a borrowed `&mut [Slot]` (e.g. a
/// `static` buffer in firmware) or, with the `alloc` feature, a
/// `Vec<Slot>`.
///
/// ```
/// use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant};
///
/// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
/// // An IPv4 UDP datagram 10.0.0.1:5353 -> 10.0.0.2:53 (checksum 0 = none).
/// let query = [
///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
/// ];
/// let v = table.track(Instant::from_secs(1), &query);
/// assert_eq!(v.state(), Some(CtState::New));
/// assert_eq!(table.len(), 1);
/// let line = table.get(v.entry().unwrap(), Instant::from_secs(1)).unwrap().to_string();
/// assert_eq!(line, "udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 [UNREPLIED] \
///                   src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353 mark=0 use=1");
/// ```
pub struct ConnTable<S> {
    store: S,
    hash_key: HashKey,
    config: Config,
    stats: Stats,
    /// Used slots, unconfirmed ones included (the kernel's count, §7.1).
    count: usize,
    /// Where [`ConnTable::gc`] resumes.
    gc_cursor: usize,
    /// Which new connections get which helper.
    helpers: heapless::Vec<HelperAssignment, MAX_HELPER_ASSIGNMENTS>,
    /// Expectation creation counter and count.
    expect_book: ExpectBook,
}

/// Most [`HelperAssignment`]s a table holds.
pub const MAX_HELPER_ASSIGNMENTS: usize = 16;

/// The memory of a table: entry slots, extension slots (one per connection
/// that has a helper or a master) and expectation slots.
pub trait Storage {
    /// The three arrays.
    fn parts(&self) -> (&[Slot], &[ExtSlot], &[ExpectSlot]);
    /// The three arrays, mutable.
    fn parts_mut(&mut self) -> (&mut [Slot], &mut [ExtSlot], &mut [ExpectSlot]);
}

/// Storage of `N` entries, `X` extensions and `E` expectations, fixed at
/// compile time; needs no allocator.
pub struct FixedStorage<const N: usize, const X: usize, const E: usize> {
    slots: [Slot; N],
    exts: [ExtSlot; X],
    expects: [ExpectSlot; E],
}

impl<const N: usize, const X: usize, const E: usize> FixedStorage<N, X, E> {
    /// Empty storage (a `const fn`, so it can initialise a `static`).
    pub const fn new() -> Self {
        FixedStorage { slots: [Slot::EMPTY; N], exts: [ExtSlot::EMPTY; X], expects: [ExpectSlot::EMPTY; E] }
    }
}

impl<const N: usize, const X: usize, const E: usize> Default for FixedStorage<N, X, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const X: usize, const E: usize> Storage for FixedStorage<N, X, E> {
    fn parts(&self) -> (&[Slot], &[ExtSlot], &[ExpectSlot]) {
        (&self.slots, &self.exts, &self.expects)
    }
    fn parts_mut(&mut self) -> (&mut [Slot], &mut [ExtSlot], &mut [ExpectSlot]) {
        (&mut self.slots, &mut self.exts, &mut self.expects)
    }
}

/// Storage borrowed from elsewhere, e.g. `static` buffers in firmware.
pub struct SliceStorage<'a> {
    /// Entry slots.
    pub slots: &'a mut [Slot],
    /// Extension slots.
    pub exts: &'a mut [ExtSlot],
    /// Expectation slots.
    pub expects: &'a mut [ExpectSlot],
}

impl Storage for SliceStorage<'_> {
    fn parts(&self) -> (&[Slot], &[ExtSlot], &[ExpectSlot]) {
        (self.slots, self.exts, self.expects)
    }
    fn parts_mut(&mut self) -> (&mut [Slot], &mut [ExtSlot], &mut [ExpectSlot]) {
        (self.slots, self.exts, self.expects)
    }
}

/// Heap storage sized at run time (feature `alloc`).
#[cfg(feature = "alloc")]
pub struct HeapStorage {
    slots: alloc::vec::Vec<Slot>,
    exts: alloc::vec::Vec<ExtSlot>,
    expects: alloc::vec::Vec<ExpectSlot>,
}

#[cfg(feature = "alloc")]
impl Storage for HeapStorage {
    fn parts(&self) -> (&[Slot], &[ExtSlot], &[ExpectSlot]) {
        (&self.slots, &self.exts, &self.expects)
    }
    fn parts_mut(&mut self) -> (&mut [Slot], &mut [ExtSlot], &mut [ExpectSlot]) {
        (&mut self.slots, &mut self.exts, &mut self.expects)
    }
}

/// A table whose capacity is fixed at compile time: `N` connections, of
/// which `X` may have a helper or a master, and `E` expectations. Needs
/// no allocator.
pub type FixedConnTable<const N: usize, const X: usize = 16, const E: usize = 16> =
    ConnTable<FixedStorage<N, X, E>>;

impl<const N: usize, const X: usize, const E: usize> ConnTable<FixedStorage<N, X, E>> {
    /// An empty table.
    pub fn new(hash_key: HashKey, config: Config) -> Self {
        ConnTable::with_storage(FixedStorage::new(), hash_key, config)
    }
}

#[cfg(feature = "alloc")]
impl ConnTable<HeapStorage> {
    /// An empty table of `capacity` entries on the heap, with room for
    /// `capacity / 16` (64 to 32767) connections with a helper or master
    /// and `capacity / 64` (16 to 4096, Linux's `expect_max` ratio)
    /// expectations.
    pub fn with_capacity(capacity: usize, hash_key: HashKey, config: Config) -> Self {
        let exts = (capacity / 16).clamp(64, Link::MAX_EXT);
        let expects = (capacity / 64).clamp(16, 4096);
        Self::with_capacities(capacity, exts, expects, hash_key, config)
    }

    /// An empty heap table with explicit sizes.
    pub fn with_capacities(
        entries: usize,
        exts: usize,
        expects: usize,
        hash_key: HashKey,
        config: Config,
    ) -> Self {
        let store = HeapStorage {
            slots: alloc::vec![Slot::EMPTY; entries],
            exts: alloc::vec![ExtSlot::EMPTY; exts],
            expects: alloc::vec![ExpectSlot::EMPTY; expects],
        };
        ConnTable::with_storage(store, hash_key, config)
    }
}

impl<S: Storage> ConnTable<S> {
    /// A table over `storage`; every slot is reset to empty.
    pub fn with_storage(mut store: S, hash_key: HashKey, config: Config) -> Self {
        let (slots, exts, expects) = store.parts_mut();
        slots.fill(Slot::EMPTY);
        exts.fill(ExtSlot::EMPTY);
        expects.fill(ExpectSlot::EMPTY);
        ConnTable {
            store,
            hash_key,
            config,
            stats: Stats::default(),
            count: 0,
            gc_cursor: 0,
            helpers: heapless::Vec::new(),
            expect_book: ExpectBook::default(),
        }
    }

    fn slots(&self) -> &[Slot] {
        self.store.parts().0
    }

    fn slots_mut(&mut self) -> &mut [Slot] {
        self.store.parts_mut().0
    }

    /// Give new connections matching `assignment` its helper (semantics
    /// §9.1). Fails when [`MAX_HELPER_ASSIGNMENTS`] are already made.
    pub fn assign_helper(&mut self, assignment: HelperAssignment) -> Result<(), HelperAssignment> {
        self.helpers.push(assignment)
    }

    /// Pending expectations, as `conntrack -L expect` lists them.
    pub fn expectations(&self, now: Instant) -> impl Iterator<Item = ExpectLine<'_>> {
        let now = now.tick();
        let (slots, _, expects) = self.store.parts();
        expects.iter().filter_map(move |x| {
            let p = x.0.as_ref()?;
            if !p.deadline.is_after(now) {
                return None;
            }
            let master = match &slots.get(p.master as usize)?.0 {
                SlotState::Used(m) => m.orig(),
                _ => return None,
            };
            let helper_name = slots
                .get(p.master as usize)
                .and_then(|_| self.helper_of(p.master as usize))
                .map(|h| h.name());
            Some(ExpectLine { pending: p, master, helper_name, timeout: p.deadline.secs_left(now) })
        })
    }

    fn entry_ref<'a>(&'a self, entry: &'a Entry, now: Tick, i: usize) -> EntryRef<'a> {
        let ext = entry.link.ext().and_then(|x| self.store.parts().1.get(x)?.0.as_ref());
        EntryRef { entry, ext, now, handle: Handle(i as u32) }
    }

    fn ext_of(&self, i: usize) -> Option<&Ext> {
        let (slots, exts, _) = self.store.parts();
        match &slots.get(i)?.0 {
            SlotState::Used(e) => exts.get(e.link.ext()?)?.0.as_ref(),
            _ => None,
        }
    }

    fn helper_of(&self, i: usize) -> Option<HelperRef> {
        self.ext_of(i)?.helper
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots().len()
    }

    /// Entries allocated (confirmed, unconfirmed, and expired ones not yet
    /// reaped).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if no entry is allocated.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Change settings; existing entries keep their deadlines.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats { entries: self.count as u32, ..self.stats }
    }

    /// Classify and, if the packet created an entry, confirm it at once:
    /// the one-step form for callers that never drop a packet between
    /// tracking and sending it. See [`ConnTable::classify`].
    pub fn track(&mut self, now: Instant, packet: &[u8]) -> Verdict {
        self.track_with(now, packet, Meta::default())
    }

    /// [`ConnTable::track`] with per-packet options.
    pub fn track_with(&mut self, now: Instant, packet: &[u8], meta: Meta) -> Verdict {
        let mut v = self.classify(now, packet, meta);
        if let Err(d) = self.confirm(&mut v) {
            return Verdict::Dropped(d);
        }
        v
    }

    /// Classify a raw IPv4 or IPv6 packet (semantics §2.2).
    ///
    /// A packet that opens a connection leaves an *unconfirmed* entry: it
    /// takes a slot but no other packet can find it until
    /// [`ConnTable::confirm`] is called, as Linux confirms at the last hook.
    /// If the packet is dropped instead, call [`ConnTable::discard`]. An
    /// unconfirmed entry that is neither confirmed nor discarded expires
    /// like any other.
    pub fn classify(&mut self, now: Instant, packet: &[u8], meta: Meta) -> Verdict {
        if meta.notrack {
            return Verdict::Untracked;
        }
        let now = now.tick();
        let ip = match parse_ip(packet, Mode::Outer) {
            Ok(ip) => ip,
            Err(r) => return self.invalid(r),
        };
        let checksum = self.config.checksum;
        let (tuple, l4) = match ip.proto {
            proto::TCP => match tcp_segment(&ip, checksum) {
                Ok(seg) => {
                    let payload =
                        ip.l4.get(ip.l4.len().saturating_sub(seg.payload_len as usize)..).unwrap_or(&[]);
                    (ip.tuple_unchecked(), L4Packet::Tcp(seg, payload))
                }
                Err(r) => return self.invalid(r),
            },
            proto::UDP => match udp::check_udp(&ip, checksum) {
                Ok(()) => (ip.tuple_unchecked(), L4Packet::Udp(udp::payload(&ip))),
                Err(r) => return self.invalid(r),
            },
            proto::UDPLITE => match udp::check_udplite(&ip, checksum) {
                Ok(()) => (ip.tuple_unchecked(), L4Packet::UdpLite(ip.l4.get(8..).unwrap_or(&[]))),
                Err(r) => return self.invalid(r),
            },
            proto::ICMP | proto::ICMPV6 => {
                let wrong_family = (ip.proto == proto::ICMP) != (ip.family == Family::Ipv4);
                if wrong_family {
                    return self.invalid(Reason::WrongIcmpFamily);
                }
                match icmp::inspect(&ip, checksum) {
                    Ok(icmp::Message::Query(t)) => (t, L4Packet::Icmp),
                    Ok(icmp::Message::Untracked) => return Verdict::Untracked,
                    Ok(icmp::Message::Error { quote }) => {
                        return self.icmp_error(now, &ip, quote, meta.zone);
                    }
                    Err(r) => return self.icmp_reject(r),
                }
            }
            proto::GRE => match ip.tuple() {
                Ok(t) => (t, L4Packet::Gre),
                Err(r) => return self.invalid(r),
            },
            _ => (ip.tuple_unchecked(), L4Packet::Generic),
        };
        self.track_tuple(now, tuple, l4, meta)
    }

    /// Confirm the entry a NEW packet created (semantics §2.4): from now on
    /// other packets find it. Does nothing for other verdicts. On an
    /// unresolvable clash with an entry confirmed meanwhile, the new entry
    /// is discarded and the packet must be dropped.
    pub fn confirm(&mut self, verdict: &mut Verdict) -> Result<(), DropReason> {
        let Verdict::Tracked(t) = verdict else {
            return Ok(());
        };
        let Some(h) = t.entry.filter(|_| t.unconfirmed) else {
            return Ok(());
        };
        let Some(e) = self.entry_at(h.index()).copied() else {
            return Ok(());
        };
        t.unconfirmed = false;
        let clash = {
            let home = self.home(&e.key, e.zone);
            self.probe_indices(home).find(|&i| {
                i != h.index()
                    && matches!(&self.slots()[i].0, SlotState::Used(o)
                        if o.status.contains(Status::CONFIRMED) && o.key == e.key && o.zone == e.zone)
            })
        };
        match clash {
            None => {
                if let SlotState::Used(e) = &mut self.slots_mut()[h.index()].0 {
                    e.status.insert(Status::CONFIRMED);
                }
                Ok(())
            }
            // Both entries describe the same flow (§7.3): UDP, UDP-Lite and
            // GRE merge into the winner; other protocols drop the packet.
            Some(winner) if matches!(e.proto, ProtoState::Stream { .. }) => {
                self.remove(h.index());
                t.entry = Some(Handle(winner as u32));
                bump(&mut self.stats.clash_resolve);
                Ok(())
            }
            Some(_) => {
                self.remove(h.index());
                t.entry = None;
                bump(&mut self.stats.insert_failed);
                bump(&mut self.stats.drop);
                Err(DropReason::InsertClash)
            }
        }
    }

    /// Free the unconfirmed entry of a NEW packet that is being dropped, so
    /// that it leaves no trace (semantics §2.4). Does nothing otherwise.
    pub fn discard(&mut self, verdict: &Verdict) {
        if let Verdict::Tracked(Tracked { entry: Some(h), unconfirmed: true, .. }) = verdict
            && self.entry_at(h.index()).is_some_and(|e| !e.status.contains(Status::CONFIRMED))
        {
            self.remove(h.index());
        }
    }

    /// The entry behind `handle`, if it is still alive at `now`.
    pub fn get(&self, handle: Handle, now: Instant) -> Option<EntryRef<'_>> {
        let now = now.tick();
        self.entry_at(handle.index())
            .filter(|e| !e.expired(now))
            .map(|entry| self.entry_ref(entry, now, handle.index()))
    }

    /// Find the live, confirmed entry that `tuple` belongs to (in either
    /// direction) in `zone`.
    pub fn lookup(&self, tuple: &Tuple, zone: u16, now: Instant) -> Option<(EntryRef<'_>, Direction)> {
        let (key, is_key) = tuple.canonical()?;
        let now = now.tick();
        let home = self.home(&key, zone);
        for i in self.probe_indices(home) {
            match &self.slots()[i].0 {
                SlotState::Empty => return None,
                SlotState::Used(e) if Self::matches(e, &key, zone, now) => {
                    let dir =
                        if e.link.orig_is_key() == is_key { Direction::Original } else { Direction::Reply };
                    return Some((self.entry_ref(e, now, i), dir));
                }
                _ => {}
            }
        }
        None
    }

    /// Live, confirmed entries, in slot order, as `conntrack -L` lists them.
    pub fn entries(&self, now: Instant) -> impl Iterator<Item = EntryRef<'_>> {
        let now = now.tick();
        self.slots().iter().enumerate().filter_map(move |(i, s)| match &s.0 {
            SlotState::Used(e) if e.status.contains(Status::CONFIRMED) && !e.expired(now) => {
                Some(self.entry_ref(e, now, i))
            }
            _ => None,
        })
    }

    /// Reap expired entries, visiting at most `budget` slots from where the
    /// previous call stopped (semantics §7.5: a `no_std` library has no GC
    /// thread; call this periodically, e.g. every second with a budget of
    /// `capacity / 60`). Returns the number of entries reaped.
    pub fn gc(&mut self, now: Instant, budget: usize) -> usize {
        let now = now.tick();
        let len = self.capacity();
        let mut reaped = 0;
        for _ in 0..budget.min(len) {
            let i = self.gc_cursor % len;
            self.gc_cursor = (i + 1) % len;
            if matches!(&self.slots()[i].0, SlotState::Used(e) if e.expired(now)) {
                self.remove(i);
                reaped += 1;
            }
        }
        reaped
    }

    // ----- internals -----

    fn invalid(&mut self, r: Reason) -> Verdict {
        bump(&mut self.stats.invalid);
        Verdict::Invalid(r)
    }

    /// The ICMP handler rejected the packet: counted as `error` (§5.2).
    fn icmp_reject(&mut self, r: Reason) -> Verdict {
        bump(&mut self.stats.error);
        Verdict::Invalid(r)
    }

    fn entry_at(&self, i: usize) -> Option<&Entry> {
        match &self.slots().get(i)?.0 {
            SlotState::Used(e) => Some(e),
            _ => None,
        }
    }

    fn home(&self, key: &Tuple, zone: u16) -> usize {
        let (bytes, len) = key.hash_bytes(zone);
        let h = hash(&self.hash_key, &bytes[..len]);
        // Multiply-shift maps the hash onto any table size, power of two or not.
        (((h >> 32) * self.capacity() as u64) >> 32) as usize
    }

    fn probe_indices(&self, home: usize) -> impl Iterator<Item = usize> + use<S> {
        let len = self.capacity();
        // `home < len` and the window is at most `len` long, so one
        // conditional subtraction wraps (no division on the hot path).
        (home..home + PROBE_WINDOW.min(len)).map(move |i| if i >= len { i - len } else { i })
    }

    fn matches(e: &Entry, key: &Tuple, zone: u16, now: Tick) -> bool {
        e.key == *key && e.zone == zone && e.status.contains(Status::CONFIRMED) && !e.expired(now)
    }

    /// Find a live, confirmed entry; expired entries met on the way are
    /// reaped (§7.5).
    fn find(&mut self, now: Tick, key: &Tuple, zone: u16) -> Option<usize> {
        let home = self.home(key, zone);
        for i in self.probe_indices(home) {
            match &self.slots()[i].0 {
                SlotState::Empty => return None,
                SlotState::Tombstone => {}
                SlotState::Used(e) if e.expired(now) => self.remove(i),
                SlotState::Used(e) if Self::matches(e, key, zone, now) => return Some(i),
                SlotState::Used(_) => {}
            }
        }
        None
    }

    /// Take a slot for a new entry keyed `key`: a free slot in the probe
    /// window, else early drop (§7.2).
    fn alloc(&mut self, now: Tick, key: &Tuple, zone: u16) -> Result<usize, DropReason> {
        let cap = self.capacity();
        let limit = match self.config.max_entries as usize {
            0 => cap,
            m => m.min(cap),
        };
        let home = self.home(key, zone);
        // Reap expired entries of the window; note whether a slot is free.
        let mut free = false;
        for i in self.probe_indices(home) {
            match &self.slots()[i].0 {
                SlotState::Empty | SlotState::Tombstone => {
                    free = true;
                    break;
                }
                SlotState::Used(e) if e.expired(now) => {
                    self.remove(i);
                    free = true;
                    break;
                }
                SlotState::Used(_) => {}
            }
        }
        if !free {
            // The probe window is full of live entries: the kernel's "chain
            // too long" situation, met here before the table is full.
            bump(&mut self.stats.chaintoolong);
        }
        if (!free || self.count >= limit) && !self.early_drop(home, now) {
            bump(&mut self.stats.drop);
            return Err(DropReason::TableFull);
        }
        // The first free slot of the window: a lookup stops at the first
        // empty slot, so the entry must not go past one (the evicted entry
        // may lie beyond it).
        let slot = self
            .probe_indices(home)
            .find(|&i| matches!(self.slots()[i].0, SlotState::Empty | SlotState::Tombstone))
            .ok_or(DropReason::TableFull)?;
        self.count += 1;
        Ok(slot)
    }

    /// Evict the first confirmed, non-ASSURED entry of the probe window
    /// (§7.2: ASSURED entries are never early-dropped); an expired entry
    /// met first is reaped instead. Returns whether a slot was freed.
    fn early_drop(&mut self, home: usize, now: Tick) -> bool {
        let victim = self.probe_indices(home).find(|&i| match &self.slots()[i].0 {
            SlotState::Used(e) => {
                e.expired(now)
                    || (e.status.contains(Status::CONFIRMED) && !e.status.contains(Status::ASSURED))
            }
            _ => false,
        });
        let Some(victim) = victim else { return false };
        let expired = self.entry_at(victim).is_some_and(|e| e.expired(now));
        self.remove(victim);
        if !expired {
            bump(&mut self.stats.early_drop);
        }
        true
    }

    /// Delete the entry in slot `i`.
    fn remove(&mut self, i: usize) {
        let len = self.capacity();
        let (slots, exts, expects) = self.store.parts_mut();
        let SlotState::Used(e) = slots[i].0 else { return };
        self.count -= 1;
        slots[i].0 = SlotState::Tombstone;
        // Its extension goes with it, and so do the expectations it made
        // (§2.6); connections it expected keep their copy of its tuple.
        if let Some(x) = e.link.ext().and_then(|x| exts.get_mut(x)) {
            let had_helper = x.0.is_some_and(|x| x.helper.is_some());
            x.0 = None;
            if had_helper {
                let mut view =
                    Expects { slots: expects, book: &mut self.expect_book, stats: &mut self.stats };
                view.remove(i as u32, &mut |_| true);
            }
        }
        // A tombstone followed by an empty slot is on no probe path: any
        // sequence crossing it would stop at the empty slot next to it.
        let mut j = i;
        for _ in 0..PROBE_WINDOW {
            if !matches!(slots[(j + 1) % len].0, SlotState::Empty)
                || !matches!(slots[j].0, SlotState::Tombstone)
            {
                break;
            }
            slots[j].0 = SlotState::Empty;
            j = (j + len - 1) % len;
        }
    }

    /// The normal path of §2.2 for a packet with a tuple.
    fn track_tuple(&mut self, now: Tick, tuple: Tuple, l4: L4Packet<'_>, meta: Meta) -> Verdict {
        let zone = meta.zone;
        let Some((key, is_key)) = tuple.canonical() else {
            return self.invalid(Reason::NotInvertible);
        };
        // A TCP reopen deletes the old entry and tracks the packet again
        // (§3.6); a fresh entry cannot ask for another reopen.
        for _ in 0..2 {
            let (i, dir, is_new) = match self.find(now, &key, zone) {
                Some(i) => {
                    let same = self.entry_at(i).is_some_and(|e| e.link.orig_is_key() == is_key);
                    (i, if same { Direction::Original } else { Direction::Reply }, false)
                }
                None => {
                    // Only ICMP queries open ICMP entries (§5.1): the reply
                    // path of the kernel's tracker, without the allocation.
                    if matches!(l4, L4Packet::Icmp) && !icmp::may_create(&tuple) {
                        return self.invalid(Reason::UnsolicitedReply);
                    }
                    let i = match self.alloc(now, &key, zone) {
                        Ok(i) => i,
                        Err(d) => return Verdict::Dropped(d),
                    };
                    let proto = match l4 {
                        L4Packet::Tcp(..) => ProtoState::Tcp(TcpConn::default()),
                        L4Packet::Udp(_) | L4Packet::UdpLite(_) | L4Packet::Gre => {
                            ProtoState::Stream { stream_after: now.after_secs(udp::STREAM_GRACE_SECS) }
                        }
                        L4Packet::Icmp | L4Packet::Generic => ProtoState::Stateless,
                    };
                    let (status, ext) = match self.new_entry_links(now, &tuple, zone) {
                        Ok(x) => x,
                        Err(d) => {
                            // Give the slot back: nothing was stored in it yet.
                            self.slots_mut()[i].0 = SlotState::Used(Entry {
                                key,
                                zone,
                                link: Link::new(is_key, None),
                                status: Status::empty(),
                                deadline: now,
                                proto,
                            });
                            self.remove(i);
                            bump(&mut self.stats.drop);
                            return Verdict::Dropped(d);
                        }
                    };
                    let entry =
                        Entry { key, zone, link: Link::new(is_key, ext), status, deadline: now, proto };
                    self.slots_mut()[i].0 = SlotState::Used(entry);
                    (i, Direction::Original, true)
                }
            };
            match self.run_tracker(now, i, dir, is_new, &l4, meta) {
                Step::Done(v) => return v,
                Step::Reopen => self.remove(i),
            }
        }
        self.invalid(Reason::NotInvertible)
    }

    /// Run the protocol tracker on the entry in slot `i` and apply its
    /// verdict (§2.2 from "ctinfo = derive_ctinfo" on).
    fn run_tracker(
        &mut self,
        now: Tick,
        i: usize,
        dir: Direction,
        is_new: bool,
        l4: &L4Packet<'_>,
        meta: Meta,
    ) -> Step {
        // Borrow the configuration and the slot as separate fields: no
        // per-packet copy of the configuration.
        let cfg = &self.config;
        let SlotState::Used(e) = &mut self.store.parts_mut().0[i].0 else {
            return Step::Done(Verdict::Invalid(Reason::NotInvertible));
        };
        let seen_reply = e.status.contains(Status::SEEN_REPLY);
        let assured = e.status.contains(Status::ASSURED);
        // §2.8: the reply direction is always ESTABLISHED.
        let state = if dir == Direction::Reply || seen_reply {
            TrackedState::Established
        } else if e.status.contains(Status::EXPECTED) {
            TrackedState::Related
        } else {
            TrackedState::New
        };
        let t = &cfg.timeouts;
        let stream = |kind, e: &Entry, unreplied, streamed| {
            let ProtoState::Stream { stream_after } = e.proto else {
                return (unreplied, false);
            };
            udp::on_packet(kind, now, stream_after, seen_reply, assured, unreplied, streamed)
        };
        let outcome = match l4 {
            L4Packet::Tcp(seg, _) => {
                let ProtoState::Tcp(conn) = &mut e.proto else {
                    return Step::Done(Verdict::Invalid(Reason::NotInvertible));
                };
                let ctx =
                    tcp::EntryCtx { dir, is_new, seen_reply, assured, remaining: e.deadline.secs_left(now) };
                tcp::track(conn, seg, &ctx, &cfg.tcp)
            }
            L4Packet::Udp(_) => {
                let (secs, assure) = stream(udp::StreamKind::Udp, e, t.udp, t.udp_stream);
                TcpVerdict::Accept { timeout: Some(secs), set_assured: assure, kill: false }
            }
            L4Packet::UdpLite(_) => {
                let (secs, assure) = stream(udp::StreamKind::Immediate, e, t.udp, t.udp_stream);
                TcpVerdict::Accept { timeout: Some(secs), set_assured: assure, kill: false }
            }
            L4Packet::Gre => {
                let (secs, assure) = stream(udp::StreamKind::Immediate, e, t.gre, t.gre_stream);
                TcpVerdict::Accept { timeout: Some(secs), set_assured: assure, kill: false }
            }
            L4Packet::Icmp => {
                let secs = if e.key.family() == Family::Ipv4 { t.icmp } else { t.icmpv6 };
                TcpVerdict::Accept { timeout: Some(secs), set_assured: false, kill: false }
            }
            L4Packet::Generic => {
                TcpVerdict::Accept { timeout: Some(t.generic), set_assured: false, kill: false }
            }
        };
        let mut kill_now = false;
        let ignored = match outcome {
            TcpVerdict::Accept { timeout, set_assured, kill } => {
                if let Some(secs) = timeout {
                    e.refresh(now, secs);
                }
                if set_assured {
                    e.status.insert(Status::ASSURED);
                }
                kill_now = kill;
                None
            }
            TcpVerdict::Ignored(r) => Some(Reason::Tcp(r)),
            TcpVerdict::Invalid { reason, timeout } => {
                if let Some(secs) = timeout {
                    e.refresh(now, secs);
                }
                if is_new {
                    self.remove(i);
                }
                return Step::Done(self.invalid(Reason::Tcp(reason)));
            }
            TcpVerdict::Reopen => return Step::Reopen,
        };
        // §2.2: SEEN_REPLY is set after the tracker accepted a reply packet.
        if dir == Direction::Reply {
            e.status.insert(Status::SEEN_REPLY);
        }
        // The helper runs on the classified packet (§9.1); if it rejects the
        // packet, the packet keeps its classification but must be dropped,
        // and an entry it created is never confirmed.
        let helper_drop = match e.link.ext() {
            Some(x) => self.run_helper(now, i, x, dir, state, l4, meta).err(),
            None => None,
        };
        if helper_drop.is_some() {
            bump(&mut self.stats.drop);
        }
        let gone = kill_now || (helper_drop.is_some() && is_new);
        if gone {
            self.remove(i);
        }
        Step::Done(Verdict::Tracked(Tracked {
            state,
            dir,
            entry: (!gone).then_some(Handle(i as u32)),
            ignored,
            unconfirmed: is_new && !gone,
            helper_drop,
        }))
    }

    /// Status bits and extension slot of a new entry whose original tuple
    /// is `t` (§2.3): created from an expectation (EXPECTED, with a master
    /// and the expectation's helper), or given an assigned helper.
    fn new_entry_links(
        &mut self,
        now: Tick,
        t: &Tuple,
        zone: u16,
    ) -> Result<(Status, Option<usize>), DropReason> {
        let (slots, exts, expects) = self.store.parts_mut();
        let mut view = Expects { slots: expects, book: &mut self.expect_book, stats: &mut self.stats };
        let found = if view.is_empty() { None } else { view.take_match(now, t, zone) };
        let (status, ext) = match found {
            Some(p) => {
                let master = match &slots.get(p.master as usize).map(|s| s.0) {
                    Some(SlotState::Used(m)) => m.orig(),
                    _ => return Ok((Status::empty(), None)),
                };
                bump(&mut self.stats.expect_new);
                (
                    Status::EXPECTED,
                    Ext { helper: p.exp.helper, master: Some(master), data: HelperData::default() },
                )
            }
            None => match self.helpers.iter().find(|a| a.applies(t, zone)) {
                Some(a) => (
                    Status::HELPER,
                    Ext { helper: Some(a.helper), master: None, data: HelperData::default() },
                ),
                None => return Ok((Status::empty(), None)),
            },
        };
        let free =
            exts.iter().take(Link::MAX_EXT).position(|x| x.0.is_none()).ok_or(DropReason::TableFull)?;
        exts[free].0 = Some(ext);
        Ok((status, Some(free)))
    }

    /// Run the helper of the entry in slot `i` (extension `x`) on the packet
    /// (§9.1: every accepted packet in both directions).
    #[allow(clippy::too_many_arguments)]
    fn run_helper(
        &mut self,
        now: Tick,
        i: usize,
        x: usize,
        dir: Direction,
        state: TrackedState,
        l4: &L4Packet<'_>,
        meta: Meta,
    ) -> Result<(), HelperDrop> {
        let (slots, exts, expects) = self.store.parts_mut();
        let SlotState::Used(e) = &mut slots[i].0 else { return Ok(()) };
        let Some(ext) = exts.get_mut(x).and_then(|s| s.0.as_mut()) else { return Ok(()) };
        let Some(helper) = ext.helper else { return Ok(()) };
        let mut cx = HelperContext {
            now,
            dir,
            state,
            orig: e.orig(),
            expected: e.status.contains(Status::EXPECTED),
            payload: l4.payload(),
            tcp_seq: match l4 {
                L4Packet::Tcp(seg, _) => Some(seg.seq),
                _ => None,
            },
            data: &mut ext.data,
            helper,
            master: i as u32,
            zone: e.zone,
            broadcast_prefix: meta.broadcast_prefix,
            expects: Expects { slots: expects, book: &mut self.expect_book, stats: &mut self.stats },
            new_timeout: None,
        };
        let r = helper.0.help(&mut cx);
        if let Some(secs) = cx.new_timeout {
            e.refresh(now, secs);
        }
        r
    }

    /// ICMP errors (§5.4): RELATED to the connection of the quoted packet.
    fn icmp_error(&mut self, now: Tick, outer: &IpView<'_>, quote: &[u8], zone: u16) -> Verdict {
        let t = match icmp::quoted_tuple(quote, outer.family) {
            Ok(t) => t,
            Err(r) => return self.icmp_reject(r),
        };
        let Some((key, is_key)) = t.canonical() else {
            return self.icmp_reject(Reason::BadIcmpErrorQuote);
        };
        let Some(i) = self.find(now, &key, zone) else {
            return self.icmp_reject(Reason::IcmpErrorNoEntry);
        };
        let dir = match self.entry_at(i) {
            Some(e) if e.link.orig_is_key() == is_key => Direction::Original,
            _ => Direction::Reply,
        };
        // `t` is the entry's tuple in direction `dir`: the error must be
        // travelling to that tuple's destination.
        if t.dst_bytes() != &outer.dst {
            return self.icmp_reject(Reason::IcmpErrorWrongDestination);
        }
        Verdict::Tracked(Tracked {
            state: TrackedState::Related,
            dir,
            entry: Some(Handle(i as u32)),
            ignored: None,
            unconfirmed: false,
            helper_drop: None,
        })
    }
}

enum Step {
    Done(Verdict),
    Reopen,
}

/// §3.2 steps 1–3: header present, data offset sane, checksum.
fn tcp_segment<'a>(ip: &IpView<'a>, verify_checksum: bool) -> Result<tcp::Segment<'a>, Reason> {
    let h = ip.l4.get(..20).ok_or(Reason::ShortPacket)?;
    let doff = usize::from(h[12] >> 4) * 4;
    if doff < 20 || doff > ip.l4.len() {
        return Err(Reason::BadTcpHeader);
    }
    if verify_checksum && !ip.l4_checksum_ok(ip.l4.len()) {
        return Err(Reason::BadChecksum);
    }
    let be32 = |o: usize| u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    Ok(tcp::Segment {
        seq: be32(4),
        ack: be32(8),
        window: u16::from_be_bytes([h[14], h[15]]),
        flags: h[13],
        options: &ip.l4[20..doff],
        payload_len: u32::try_from(ip.l4.len() - doff).unwrap_or(u32::MAX),
    })
}

/// A live entry, for inspection and display.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    entry: &'a Entry,
    ext: Option<&'a Ext>,
    now: Tick,
    handle: Handle,
}

impl EntryRef<'_> {
    /// The entry's handle.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// The original tuple (from the first packet).
    pub fn orig(&self) -> Tuple {
        self.entry.orig()
    }

    /// The reply tuple.
    pub fn reply(&self) -> Tuple {
        self.entry.reply()
    }

    /// Status bits.
    pub fn status(&self) -> Status {
        self.entry.status
    }

    /// Zone.
    pub fn zone(&self) -> u16 {
        self.entry.zone
    }

    /// Whole seconds until the entry expires.
    pub fn timeout(&self) -> u32 {
        self.entry.deadline.secs_left(self.now)
    }

    /// TCP state, for TCP entries.
    pub fn tcp_state(&self) -> Option<TcpState> {
        match &self.entry.proto {
            ProtoState::Tcp(c) => Some(c.state()),
            _ => None,
        }
    }

    /// The helper attached to the connection.
    pub fn helper(&self) -> Option<HelperRef> {
        self.ext.and_then(|x| x.helper)
    }

    /// For an expected connection, its master's original tuple.
    pub fn master(&self) -> Option<Tuple> {
        self.ext.and_then(|x| x.master)
    }

    /// The per-connection TCP tracking data, for TCP entries.
    pub fn tcp(&self) -> Option<&TcpConn> {
        match &self.entry.proto {
            ProtoState::Tcp(c) => Some(c),
            _ => None,
        }
    }
}

impl core::fmt::Debug for EntryRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EntryRef({self})")
    }
}

/// The entry as one `conntrack -L` line (semantics §11.1).
impl core::fmt::Display for EntryRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let orig = self.orig();
        let p = orig.proto();
        let name = match p {
            proto::TCP => "tcp",
            proto::UDP => "udp",
            proto::UDPLITE => "udplite",
            proto::ICMP if orig.family() == Family::Ipv4 => "icmp",
            proto::ICMPV6 if orig.family() == Family::Ipv6 => "icmpv6",
            proto::SCTP => "sctp",
            proto::GRE => "gre",
            proto::DCCP => "dccp",
            _ => "unknown",
        };
        write!(f, "{name:<8} {p} {}", self.timeout())?;
        if let Some(s) = self.tcp_state() {
            write!(f, " {}", s.name())?;
        }
        write!(f, " {orig}")?;
        let status = self.status();
        if !status.contains(Status::SEEN_REPLY) {
            f.write_str(" [UNREPLIED]")?;
        }
        write!(f, " {}", self.reply())?;
        if status.contains(Status::ASSURED) {
            f.write_str(" [ASSURED]")?;
        }
        f.write_str(" mark=0")?;
        if self.zone() != 0 {
            write!(f, " zone={}", self.zone())?;
        }
        if let Some(h) = self.helper() {
            write!(f, " helper={}", h.name())?;
        }
        f.write_str(" use=1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory budget per connection slot (dual-stack). The goal is 96
    /// bytes; this guards against growth while the TCP state is slimmed.
    #[test]
    fn slot_size() {
        assert!(core::mem::size_of::<Slot>() <= 108, "{}", core::mem::size_of::<Slot>());
        assert!(core::mem::size_of::<Link>() == 2);
    }
}
