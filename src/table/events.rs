//! Connection and expectation events, as `conntrack -E` shows them (in
//! Linux the event cache, `nf_conntrack_ecache.c`, and its netlink
//! listener, `nf_conntrack_netlink.c: ctnetlink_conntrack_event()` and
//! `ctnetlink_expect_event()`).
//!
//! A table sends events only if its storage is wrapped in [`WithEvents`]:
//! a plain storage's event mask is the constant [`EventMask::NONE`], so
//! the code that builds events is compiled out of tables that do not
//! subscribe.
//!
//! Which change raises which bit follows `nf_conntrack_ecache.h: enum
//! ip_conntrack_events`:
//!
//! | bit | raised when | Linux |
//! |---|---|---|
//! | [`NEW`](EventMask::NEW) | an entry without a master is confirmed | `__nf_conntrack_confirm()` |
//! | [`RELATED`](EventMask::RELATED) | an expected entry is confirmed | same |
//! | [`HELPER`](EventMask::HELPER) | a confirmed entry has a helper | same |
//! | [`REPLY`](EventMask::REPLY) | SEEN_REPLY is set | `nf_conntrack_in()` |
//! | [`ASSURED`](EventMask::ASSURED) | ASSURED is set | the trackers |
//! | [`PROTOINFO`](EventMask::PROTOINFO) | the TCP or SCTP state changes | `nf_conntrack_tcp_packet()`, `nf_conntrack_sctp_packet()` |
//! | [`MARK`](EventMask::MARK) | the mark changes | `nft_ct.c: nft_ct_set_eval()` |
//! | [`LABEL`](EventMask::LABEL) | the labels change | `nf_conntrack_labels.c: nf_connlabels_replace()` |
//! | [`DESTROY`](EventMask::DESTROY) | a confirmed entry is deleted: expiry (`gc`, a lookup that finds it expired), `delete*`, `flush`, early drop, a packet that ends it (TCP reset, reopen; for a NATed connection at once, though its entry stays DYING until reaped) | `nf_ct_delete()` |
//!
//! The changes a packet makes to an entry not yet confirmed are part of its
//! NEW event (Linux caches them and delivers the cache after confirmation,
//! `nf_conntrack_core.h: nf_conntrack_confirm()`); an entry that is never
//! confirmed sends no event at all. A packet's changes to a confirmed entry
//! make one UPDATE event, sent when the packet is classified.
//!
//! The event's type follows `ctnetlink_conntrack_event()`: DESTROY if the
//! DESTROY bit is set, else NEW if NEW or RELATED is, else UPDATE.

use super::ConnTable;
use super::display::{Line, secs_between};
use super::storage::{FixedStorage, Parts, PartsMut, Storage, sealed};
use crate::config::Config;
use crate::expect::{ExpectLine, Pending};
use crate::hash::HashKey;
use crate::status::Status;
use crate::time::{Instant, TICKS_PER_SEC, Tick};
use crate::tuple::{Direction, Tuple};
use crate::verdict::Handle;

/// A set of event bits (`nf_conntrack_ecache.h: enum ip_conntrack_events`
/// for connections, `enum ip_conntrack_expect_events` for expectations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EventMask(u16);

impl EventMask {
    /// No event.
    pub const NONE: EventMask = EventMask(0);
    /// `IPCT_NEW`: a new connection was confirmed.
    pub const NEW: EventMask = EventMask(1 << 0);
    /// `IPCT_RELATED`: a new expected connection was confirmed.
    pub const RELATED: EventMask = EventMask(1 << 1);
    /// `IPCT_DESTROY`: the entry was deleted.
    pub const DESTROY: EventMask = EventMask(1 << 2);
    /// `IPCT_REPLY`: the first reply was seen.
    pub const REPLY: EventMask = EventMask(1 << 3);
    /// `IPCT_ASSURED`: the entry became ASSURED.
    pub const ASSURED: EventMask = EventMask(1 << 4);
    /// `IPCT_PROTOINFO`: the TCP or SCTP state changed.
    pub const PROTOINFO: EventMask = EventMask(1 << 5);
    /// `IPCT_HELPER`: the entry has a helper.
    pub const HELPER: EventMask = EventMask(1 << 6);
    /// `IPCT_MARK`: the mark changed.
    pub const MARK: EventMask = EventMask(1 << 7);
    /// `IPCT_LABEL`: the labels changed.
    pub const LABEL: EventMask = EventMask(1 << 10);
    /// `IPEXP_NEW`: an expectation was registered.
    pub const EXPECT_NEW: EventMask = EventMask(1 << 14);
    /// `IPEXP_DESTROY`: an expectation was used, deleted, or went with
    /// its master.
    pub const EXPECT_DESTROY: EventMask = EventMask(1 << 15);
    /// Every connection event (`conntrack -E`).
    pub const CONN: EventMask = EventMask(0x04ff);
    /// Every expectation event (`conntrack -E expect`).
    pub const EXPECT: EventMask = EventMask(0xc000);
    /// Every event.
    pub const ALL: EventMask = EventMask(0xc4ff);

    /// The bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: EventMask) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether a bit of `other` is set.
    pub const fn intersects(self, other: EventMask) -> bool {
        self.0 & other.0 != 0
    }

    /// Both sets.
    pub const fn union(self, other: EventMask) -> EventMask {
        EventMask(self.0 | other.0)
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for EventMask {
    type Output = EventMask;
    fn bitor(self, o: EventMask) -> EventMask {
        self.union(o)
    }
}

impl core::ops::BitOrAssign for EventMask {
    fn bitor_assign(&mut self, o: EventMask) {
        *self = self.union(o);
    }
}

/// The type of an event, as `conntrack -E` tags it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EventKind {
    /// `[NEW]`.
    New,
    /// `[UPDATE]`.
    Update,
    /// `[DESTROY]`.
    Destroy,
}

impl EventKind {
    /// The type of an event with the bits `mask`
    /// (`ctnetlink_conntrack_event()`, `ctnetlink_expect_event()`).
    pub fn of(mask: EventMask) -> EventKind {
        if mask.intersects(EventMask::DESTROY | EventMask::EXPECT_DESTROY) {
            EventKind::Destroy
        } else if mask.intersects(EventMask::NEW | EventMask::RELATED | EventMask::EXPECT_NEW) {
            EventKind::New
        } else {
            EventKind::Update
        }
    }

    /// `[NEW]`, `[UPDATE]` or `[DESTROY]`.
    pub fn tag(self) -> &'static str {
        match self {
            EventKind::New => "[NEW]",
            EventKind::Update => "[UPDATE]",
            EventKind::Destroy => "[DESTROY]",
        }
    }
}

/// An event of a connection: its bits and what the entry held when it
/// was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnEvent {
    mask: EventMask,
    handle: Handle,
    orig: Tuple,
    reply: Tuple,
    status: Status,
    zone: u16,
    timeout: u32,
    state: Option<&'static str>,
    mark: u32,
    labels: u128,
    helper: Option<&'static str>,
    counters: Option<[(u64, u64); 2]>,
    age: Option<u32>,
    start: Option<Tick>,
    stop: Option<Tick>,
}

impl ConnEvent {
    /// The event's bits.
    pub fn mask(&self) -> EventMask {
        self.mask
    }

    /// NEW, UPDATE or DESTROY.
    pub fn kind(&self) -> EventKind {
        EventKind::of(self.mask)
    }

    /// The entry's handle (stale once a DESTROY event is sent).
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// The original tuple.
    pub fn orig(&self) -> Tuple {
        self.orig
    }

    /// The reply tuple.
    pub fn reply(&self) -> Tuple {
        self.reply
    }

    /// Status bits.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Zone.
    pub fn zone(&self) -> u16 {
        self.zone
    }

    /// The mark.
    pub fn mark(&self) -> u32 {
        self.mark
    }

    /// The labels.
    pub fn labels(&self) -> u128 {
        self.labels
    }

    /// Packets and bytes in direction `dir`: in DESTROY events, when
    /// accounting is on (the kernel sends the counters only then).
    pub fn counters(&self, dir: Direction) -> Option<(u64, u64)> {
        self.counters.map(|c| c[dir as usize])
    }

    /// Whole seconds the connection lived (DESTROY events, timestamps on):
    /// the `delta-time` of its line, the stop time less the start time.
    pub fn age(&self) -> Option<u32> {
        self.age.filter(|_| self.kind() == EventKind::Destroy)
    }

    /// When the connection was confirmed (timestamps on:
    /// `nf_conntrack_timestamp`), on the caller's clock, to 1/16 s.
    pub fn started(&self) -> Option<Instant> {
        self.start.map(instant_of)
    }

    /// When the connection was deleted (DESTROY events, timestamps on):
    /// the time of the call that deleted it.
    pub fn stopped(&self) -> Option<Instant> {
        self.stop.filter(|_| self.kind() == EventKind::Destroy).map(instant_of)
    }

    fn line(&self) -> Line<'_> {
        let kind = self.kind();
        let destroy = kind == EventKind::Destroy;
        Line {
            tag: Some(kind.tag()),
            // `ctnetlink_dump_timeout()`: skipped when 0 in DESTROY events.
            timeout: (!destroy || self.timeout != 0).then_some(self.timeout),
            // `ctnetlink_dump_protoinfo()`: in DESTROY events, and in the
            // others when the state changed.
            state: self.state.filter(|_| destroy || self.mask.contains(EventMask::PROTOINFO)),
            orig: self.orig,
            reply: self.reply,
            counters: self.counters.filter(|_| destroy),
            status: self.status,
            // `ctnetlink_dump_mark()`: a zero mark only if it changed.
            mark: (self.mark != 0 || self.mask.contains(EventMask::MARK)).then_some(self.mark),
            zone: self.zone,
            delta_time: self.age.filter(|_| destroy),
            // No helper in DESTROY events.
            helper: self.helper.filter(|_| !destroy),
            labels: self.labels,
            with_use: None,
        }
    }
}

/// An event of an expectation: its `conntrack -L expect` line then.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExpectEvent {
    kind: EventKind,
    pending: Pending,
    master: Tuple,
    helper_name: Option<&'static str>,
    timeout: u32,
}

impl ExpectEvent {
    /// NEW or DESTROY.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The expectation as `conntrack -L expect` shows it.
    pub fn line(&self) -> ExpectLine<'_> {
        ExpectLine {
            pending: &self.pending,
            master: self.master,
            helper_name: self.helper_name,
            timeout: self.timeout,
        }
    }
}

/// An event, as one `conntrack -E` line:
///
/// ```text
///     [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353
///  [UPDATE] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353
/// [DESTROY] udp      17 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353
/// ```
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event {
    /// Of a connection.
    Conn(ConnEvent),
    /// Of an expectation.
    Expect(ExpectEvent),
}

impl Event {
    /// NEW, UPDATE or DESTROY.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Conn(c) => c.kind(),
            Event::Expect(x) => x.kind,
        }
    }

    /// The event's bits.
    pub fn mask(&self) -> EventMask {
        match self {
            Event::Conn(c) => c.mask,
            Event::Expect(x) if x.kind == EventKind::New => EventMask::EXPECT_NEW,
            Event::Expect(_) => EventMask::EXPECT_DESTROY,
        }
    }
}

impl core::fmt::Display for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Event::Conn(c) => c.line().fmt(f),
            Event::Expect(x) => write!(f, "{:>9} {}", x.kind.tag(), x.line()),
        }
    }
}

/// Where a table sends its events: a bounded [`EventRing`], or the
/// caller's own type (e.g. one that writes them to a log at once).
pub trait EventSink {
    /// The events wanted: an event is sent if one of its bits is here
    /// (the kernel's per-connection event mask, `xt_CT.c --ctevents`,
    /// `nf_conntrack_ecache.c: nf_conntrack_eventmask_report()`).
    fn mask(&self) -> EventMask {
        EventMask::ALL
    }

    /// Take one event.
    fn push(&mut self, event: Event);

    /// `n` events happened that the table could not describe (see
    /// [`ConnTable::events`]); by default they are not counted.
    fn missed(&mut self, n: u32) {
        let _ = n;
    }
}

/// A bounded queue of `K` events, with a counter of the events it had no
/// room for (the oldest stay: a netlink listener whose socket buffer is
/// full loses the new messages too, and `conntrack -E` then reports
/// `ENOBUFS`).
///
/// ```
/// use ctrack::{Config, ConnTable, EventKind, EventRing, FixedStorage, HashKey, Instant, WithEvents};
///
/// let storage = WithEvents::new(FixedStorage::<64, 16, 16>::new(), EventRing::<8>::new());
/// let mut table = ConnTable::with_storage(storage, HashKey([7; 16]), Config::default());
/// // An IPv4 UDP datagram 10.0.0.1:5353 -> 10.0.0.2:53 (checksum 0 = none).
/// let query = [
///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
/// ];
/// let h = table.track(Instant::from_secs(1), &query).entry().unwrap();
/// table.delete(h);
/// let events: Vec<String> = table.events().drain().map(|e| e.to_string()).collect();
/// assert_eq!(events, [
///     "    [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 [UNREPLIED] \
///      src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353",
///     "[DESTROY] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5353 dport=53 [UNREPLIED] \
///      src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5353",
/// ]);
/// assert_eq!(table.events().lost(), 0);
/// ```
pub struct EventRing<const K: usize> {
    queue: heapless::Deque<Event, K>,
    mask: EventMask,
    lost: u32,
}

impl<const K: usize> EventRing<K> {
    /// An empty ring that takes every event.
    pub const fn new() -> Self {
        Self::with_mask(EventMask::ALL)
    }

    /// An empty ring that takes the events with a bit of `mask`
    /// (`conntrack -E -e NEW,DESTROY` is
    /// `EventMask::NEW | EventMask::RELATED | EventMask::DESTROY`).
    pub const fn with_mask(mask: EventMask) -> Self {
        EventRing { queue: heapless::Deque::new(), mask, lost: 0 }
    }

    /// The oldest event, taken out.
    pub fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    /// Take out every event, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = Event> + '_ {
        core::iter::from_fn(|| self.queue.pop_front())
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Events that found the ring full and were lost (saturating).
    pub fn lost(&self) -> u32 {
        self.lost
    }
}

impl<const K: usize> Default for EventRing<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize> EventSink for EventRing<K> {
    fn mask(&self) -> EventMask {
        self.mask
    }

    fn push(&mut self, event: Event) {
        if self.queue.push_back(event).is_err() {
            self.missed(1);
        }
    }

    fn missed(&mut self, n: u32) {
        self.lost = self.lost.saturating_add(n);
    }
}

/// A table storage `S` whose table sends its events to `sink` (a
/// [`EventRing`] or the caller's [`EventSink`]). Build the table with
/// [`ConnTable::with_storage`] and read the sink with
/// [`ConnTable::events`].
pub struct WithEvents<S, Q> {
    storage: S,
    sink: Q,
}

impl<S: Storage, Q: EventSink> WithEvents<S, Q> {
    /// `storage`, sending events to `sink`.
    pub const fn new(storage: S, sink: Q) -> Self {
        WithEvents { storage, sink }
    }
}

impl<S: Storage, Q: EventSink> sealed::Sealed for WithEvents<S, Q> {}

impl<S: Storage, Q: EventSink> Storage for WithEvents<S, Q> {
    fn parts(&self) -> Parts<'_> {
        self.storage.parts()
    }
    fn slots(&self) -> &[super::storage::Slot] {
        self.storage.slots()
    }
    fn exts(&self) -> &[crate::helper::ExtSlot] {
        self.storage.exts()
    }
    fn index_words_at(&self) -> Option<(*const u32, usize)> {
        self.storage.index_words_at()
    }
    fn parts_mut(&mut self) -> PartsMut<'_> {
        self.storage.parts_mut()
    }
    fn grow(&mut self) -> bool {
        self.storage.grow()
    }
    fn event_mask(&self) -> EventMask {
        self.sink.mask()
    }
    fn event_sink(&mut self) -> Option<&mut dyn EventSink> {
        Some(&mut self.sink)
    }
}

impl<const N: usize, const X: usize, const E: usize, Q: EventSink>
    ConnTable<WithEvents<FixedStorage<N, X, E>, Q>>
{
    /// An empty fixed table (see [`ConnTable::new`]) that sends its events
    /// to `sink`; a `const fn`, so it can be a `static`.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, EventRing, FixedStorage, HashKey, WithEvents};
    ///
    /// type Table = ConnTable<WithEvents<FixedStorage<256, 16, 16>, EventRing<32>>>;
    /// static TABLE: std::sync::Mutex<Table> =
    ///     std::sync::Mutex::new(ConnTable::with_events(EventRing::new(), HashKey([0; 16]), Config::DEFAULT));
    /// assert!(TABLE.lock().unwrap().events().is_empty());
    /// ```
    pub const fn with_events(sink: Q, hash_key: HashKey, config: Config) -> Self {
        ConnTable::from_parts(WithEvents::new(FixedStorage::new(), sink), hash_key, config)
    }
}

impl<S: Storage, Q: EventSink> ConnTable<WithEvents<S, Q>> {
    /// The sink of the table's events.
    ///
    /// Expectation events have one gap: the expectations a helper's new
    /// one evicts (the master's `max_expected`, a retransmitted command's
    /// older copy) and those found expired while a new one or a new
    /// connection looks for its place are deleted inside the expectation
    /// table, where no event can be built; their DESTROY events are
    /// counted as missed ([`EventSink::missed`]) when a helper's run
    /// leaves fewer expectations than it should.
    pub fn events(&mut self) -> &mut Q {
        &mut self.store.sink
    }
}

/// What an entry looked like before a packet changed it: the bits of an
/// UPDATE event come from the difference.
#[derive(Clone, Copy)]
pub(super) struct Before {
    status: Status,
    state: Option<&'static str>,
}

impl<S: Storage> ConnTable<S> {
    /// Whether the sink wants an event with a bit of `mask`.
    #[inline(always)]
    pub(super) fn wants(&self, mask: EventMask) -> bool {
        self.store.event_mask().intersects(mask)
    }

    /// The entry in slot `i` before a packet changes it, if the sink
    /// wants updates.
    #[inline(always)]
    pub(super) fn before(&self, i: usize) -> Option<Before> {
        if !self.wants(EventMask::CONN) {
            return None;
        }
        let e = self.entry_ref(self.entry_at(i)?, self.clock, i);
        Some(Before { status: e.status(), state: e.state_name() })
    }

    /// The UPDATE event of a packet that changed the confirmed entry in
    /// slot `i` from `before`.
    #[inline(always)]
    pub(super) fn after(&mut self, i: usize, before: Option<Before>) {
        if let Some(before) = before {
            self.update_event(i, before);
        }
    }

    fn update_event(&mut self, i: usize, before: Before) {
        let Some(e) = self.entry_at(i) else { return };
        if !e.status.contains(Status::CONFIRMED) {
            return;
        }
        let e = self.entry_ref(e, self.clock, i);
        let mut mask = EventMask::NONE;
        let gained = |bit| e.status().contains(bit) && !before.status.contains(bit);
        if gained(Status::SEEN_REPLY) {
            mask |= EventMask::REPLY;
        }
        if gained(Status::ASSURED) {
            mask |= EventMask::ASSURED;
        }
        if e.state_name() != before.state {
            mask |= EventMask::PROTOINFO;
        }
        self.conn_event(i, mask);
    }

    /// Send the event `mask` of the entry in slot `i`, if the sink wants
    /// one of its bits.
    pub(super) fn conn_event(&mut self, i: usize, mask: EventMask) {
        if !self.wants(mask) {
            return;
        }
        let Some(e) = self.entry_at(i) else { return };
        let now = self.clock;
        let e = self.entry_ref(e, now, i);
        let acct = self.config().acct;
        let event = ConnEvent {
            mask,
            handle: e.handle(),
            orig: e.orig(),
            reply: e.reply(),
            status: e.status(),
            zone: e.zone(),
            timeout: e.timeout(),
            state: e.state_name(),
            mark: e.mark(),
            labels: e.labels(),
            helper: e.helper().map(|h| h.name()),
            counters: acct.then(|| {
                [e.entry.extra.counted(Direction::Original), e.entry.extra.counted(Direction::Reply)]
            }),
            age: e.entry.extra.start().map(|s| secs_between(s, now)),
            start: e.entry.extra.start(),
            stop: e.entry.extra.start().map(|_| now),
        };
        if let Some(sink) = self.store.event_sink() {
            sink.push(Event::Conn(event));
        }
    }

    /// The NEW event of the entry in slot `i`, just confirmed: NEW or
    /// RELATED, HELPER if it has a helper, and what its first packet
    /// changed (`__nf_conntrack_confirm()` and the cache of
    /// `nf_conntrack_in()`).
    #[inline(always)]
    pub(super) fn confirmed_event(&mut self, i: usize) {
        if self.wants(EventMask::CONN) {
            self.new_event(i);
        }
    }

    fn new_event(&mut self, i: usize) {
        let Some(e) = self.entry_at(i) else { return };
        let e = self.entry_ref(e, self.clock, i);
        let mut mask =
            if e.status().contains(Status::EXPECTED) { EventMask::RELATED } else { EventMask::NEW };
        if e.helper().is_some() {
            mask |= EventMask::HELPER;
        }
        if e.status().contains(Status::SEEN_REPLY) {
            mask |= EventMask::REPLY;
        }
        if e.status().contains(Status::ASSURED) {
            mask |= EventMask::ASSURED;
        }
        if e.state_name().is_some() {
            mask |= EventMask::PROTOINFO;
        }
        if e.mark() != 0 {
            mask |= EventMask::MARK;
        }
        if e.labels() != 0 {
            mask |= EventMask::LABEL;
        }
        self.conn_event(i, mask);
    }

    /// The DESTROY event of the entry in slot `i`, about to be deleted, if
    /// it was confirmed (an unconfirmed entry dies without an event).
    #[inline(always)]
    pub(super) fn destroy_event(&mut self, i: usize) {
        if self.wants(EventMask::DESTROY)
            && self.entry_at(i).is_some_and(|e| e.status.contains(Status::CONFIRMED))
        {
            self.conn_event(i, EventMask::DESTROY);
        }
    }

    /// The DESTROY events of deleting the entry in slot `i`: its own, if
    /// it was confirmed, then those of the expectations it made
    /// (`nf_ct_delete()` reports, then `nf_ct_remove_expectations()`
    /// unlinks). Only an entry with a helper has expectations, so only
    /// its deletion looks at the expectation slots.
    #[inline(always)]
    pub(super) fn destroy_events(&mut self, i: usize) {
        if !self.wants(EventMask::DESTROY | EventMask::EXPECT_DESTROY)
            || self.entry_at(i).is_some_and(|e| e.status.contains(Status::DYING))
        {
            return;
        }
        self.destroy_event(i);
        let p = self.store.parts();
        let helped = self
            .entry_at(i)
            .and_then(|e| p.exts.get(e.link().ext()?)?.0.get())
            .is_some_and(|x| x.helper.is_some());
        if helped && self.wants(EventMask::EXPECT_DESTROY) && self.expect_book.live > 0 {
            for x in 0..self.store.parts().expects.len() {
                if self.store.parts().expects[x].0.get().is_some_and(|p| p.master == i as u32) {
                    self.expect_event(x, EventKind::Destroy);
                }
            }
        }
    }

    /// The event `kind` of the expectation in slot `x`.
    pub(super) fn expect_event(&mut self, x: usize, kind: EventKind) {
        let bit = if kind == EventKind::New { EventMask::EXPECT_NEW } else { EventMask::EXPECT_DESTROY };
        if !self.wants(bit) {
            return;
        }
        let p = self.store.parts();
        let Some(pending) = p.expects.get(x).and_then(|s| s.0.get()) else { return };
        self.pending_event(&pending, kind);
    }

    /// The event `kind` of the expectation `pending`.
    pub(super) fn pending_event(&mut self, pending: &Pending, kind: EventKind) {
        let bit = if kind == EventKind::New { EventMask::EXPECT_NEW } else { EventMask::EXPECT_DESTROY };
        if !self.wants(bit) {
            return;
        }
        let p = self.store.parts();
        let master = p.slots.get(pending.master as usize).and_then(|s| s.entry()).map(|e| e.orig());
        let event = ExpectEvent {
            kind,
            pending: *pending,
            master: master.unwrap_or(Tuple::ZERO),
            helper_name: self.helper(pending.owner).map(|h| h.name()),
            timeout: pending.deadline.secs_left(self.clock),
        };
        if let Some(sink) = self.store.event_sink() {
            sink.push(Event::Expect(event));
        }
    }

    /// The expectations' serial before a helper runs, if the sink wants
    /// expectation events.
    #[inline(always)]
    pub(super) fn expect_mark(&self) -> Option<(u32, usize)> {
        self.wants(EventMask::EXPECT).then_some((self.expect_book.serial, self.expect_book.live))
    }

    /// After a helper ran: NEW events of the expectations it registered
    /// (serial after `mark`). Expectations it evicted to make room
    /// (`max_expected`, a clash) or removed (`unexpect`) are gone before
    /// they can be reported: they count as lost events of a ring sink.
    #[inline(always)]
    pub(super) fn expect_news(&mut self, mark: Option<(u32, usize)>) {
        if let Some((serial, live)) = mark {
            self.expect_new_events(serial, live);
        }
    }

    fn expect_new_events(&mut self, serial: u32, live: usize) {
        let created = self.expect_book.serial.wrapping_sub(serial);
        // A run that only removed expectations (`unexpect`: a SIP BYE, a
        // failed INVITE) has no NEW to report, but its removals count.
        for x in (0..self.store.parts().expects.len()).take_while(|_| created > 0) {
            let new = self.store.parts().expects[x]
                .0
                .get()
                .is_some_and(|p| p.serial.wrapping_sub(serial).wrapping_sub(1) < created);
            if new {
                self.expect_event(x, EventKind::New);
            }
        }
        let evicted = (live + created as usize).saturating_sub(self.expect_book.live);
        if evicted > 0 && self.wants(EventMask::EXPECT_DESTROY) {
            self.lost_events(u32::try_from(evicted).unwrap_or(u32::MAX));
        }
    }

    /// Report `n` events that could not be built.
    fn lost_events(&mut self, n: u32) {
        if let Some(sink) = self.store.event_sink() {
            sink.missed(n);
        }
    }

    /// The time events are stamped with: the latest time the caller gave.
    #[inline(always)]
    pub(super) fn tick_clock(&mut self, now: Tick) {
        // Only events read it: a table without a sink keeps none.
        if self.wants(EventMask::ALL) && now > self.clock {
            self.clock = now;
        }
    }
}

/// A stored time on the caller's clock (to 1/16 s).
pub(super) fn instant_of(t: Tick) -> Instant {
    Instant::from_millis(t.ticks().saturating_mul(1000) / u64::from(TICKS_PER_SEC))
}
