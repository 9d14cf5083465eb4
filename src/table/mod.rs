//! The connection table: the public face of ctrack.
//!
//! * [`storage`]: the slot arrays and what an entry holds;
//! * [`index`]: from a key's hash to the entries stored under it;
//! * [`probe`]: finding, allocating, early drop and deletion of entries,
//!   and [`free`]: the list of unused slots;
//! * [`pipeline`]: the path of a packet (classification, the protocol
//!   trackers, confirmation and the helper hook), and [`fast`]: the fast
//!   path of a UDP datagram over IPv4;
//! * [`display`]: [`EntryRef`], an entry as `conntrack -L` shows it;
//! * [`snapshot`]: the table as bytes and back (state synchronisation);
//! * [`control`]: deletion by tuple and by filter, of entries and
//!   expectations;
//! * [`nat_hooks`]: what [`crate::nat`] reads and sets of an entry;
//! * [`events`]: `conntrack -E` (the event bits, [`EventRing`],
//!   [`WithEvents`]);
//! * [`extra`]: mark, labels, counters and start time of an entry (features
//!   `ct-mark`, `ct-acct`), and [`marks`]: setting them;
//! * [`timeouts`]: timeout policies per zone ([`TimeoutPolicy`]);
//! * [`lists`]: `conntrack -L unconfirmed` and `-L dying`.

mod by_source;
mod control;
mod display;
mod events;
mod ext_free;
mod extra;
mod fast;
mod free;
mod index;
#[cfg(feature = "helper-pptp")]
pub(crate) mod keymap;
mod lists;
mod marks;
mod nat_hooks;
mod pipeline;
mod probe;
mod snapshot;
mod storage;
mod timeouts;

pub use display::EntryRef;
pub use events::{ConnEvent, Event, EventKind, EventMask, EventRing, EventSink, ExpectEvent, WithEvents};
pub use index::{BUCKET_WORDS, MAX_SLOTS, PROBE_BUCKETS};
pub use snapshot::{
    RestoreError, SNAPSHOT_MAX_RECORD, SNAPSHOT_SLOTS_PER_CALL, SNAPSHOT_VERSION, SnapshotCursor,
    SnapshotError,
};
pub use storage::{FixedStorage, SliceStorage, Slot, Storage};
#[cfg(feature = "alloc")]
pub use storage::{GrowableStorage, HeapStorage, MAX_GROWABLE};
pub use timeouts::{MAX_TIMEOUT_POLICIES, TimeoutPolicy, TimeoutPolicyError};

pub(crate) use by_source::SourceLinks;
pub(crate) use nat_hooks::NatView;
use probe::Sought;
use storage::Entry;

use crate::config::Config;
use crate::expect::{ExpectBook, ExpectLine, ExpectSlot, Expects};
use crate::hash::HashKey;
use crate::helper::{Builtin, ExtSlot, Helper, HelperAssignment, HelperError, HelperId};
use crate::reason::DropReason;
use crate::stats::{Stats, bump};
use crate::status::Status;
use crate::time::{Instant, Tick, TickMemo};
use crate::tuple::{Direction, Tuple};
use crate::verdict::{Handle, Verdict};

/// Per-packet options: what a raw-table rule would have decided before
/// conntrack: a zone set by the `CT` target (`xt_CT.c: xt_ct_target()`; the
/// core reads it with `nf_conntrack_zones.h: nf_ct_zone_tmpl()`), or
/// `NOTRACK` (`xt_CT.c: notrack_tg()`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Meta {
    /// Conntrack zone (0 = default). Entries in different zones are
    /// different connections even when their tuples are equal.
    pub zone: u16,
    /// Do not track this packet (`notrack`): its verdict is UNTRACKED and
    /// the table is not touched.
    pub notrack: bool,
    /// For a packet this host sends to a subnet broadcast address: the
    /// subnet's prefix length. Only then do the broadcast helpers (SNMP,
    /// NetBIOS-NS; `nf_conntrack_broadcast.c: nf_conntrack_broadcast_help()`)
    /// expect the unicast answers.
    pub broadcast_prefix: Option<u8>,
}

impl Meta {
    /// These options with `zone`.
    pub fn with_zone(self, zone: u16) -> Meta {
        Meta { zone, ..self }
    }

    /// These options with notrack set to `notrack`.
    pub fn with_notrack(self, notrack: bool) -> Meta {
        Meta { notrack, ..self }
    }

    /// These options for a packet sent to the broadcast address of a
    /// subnet of `prefix` bits.
    pub fn with_broadcast_prefix(self, prefix: u8) -> Meta {
        Meta { broadcast_prefix: Some(prefix), ..self }
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
    /// The settings, if `config_set`; else [`Config::DEFAULT`] is in force
    /// and this is all zero (so that [`ConnTable::zeroed`] is all zero).
    config: Config,
    config_set: bool,
    stats: Stats,
    /// Used slots, unconfirmed ones included (the kernel's count, which
    /// `nf_conntrack_core.c: __nf_conntrack_alloc()` increments).
    count: usize,
    /// Where [`ConnTable::gc`] resumes.
    gc_cursor: usize,
    /// A new connection was refused for want of room since the current
    /// pass of [`ConnTable::gc`] began: until the pass ends, `gc` also
    /// evicts what an early drop may (Linux's `conntrack_gc_work.early_drop`).
    gc_pressure: bool,
    /// The registered helpers; a [`HelperId`] is an index here.
    helpers: heapless::Vec<&'static dyn Helper, MAX_HELPERS>,
    /// Which new connections get which helper.
    assignments: heapless::Vec<HelperAssignment, MAX_HELPER_ASSIGNMENTS>,
    /// Expectation creation counter and count.
    expect_book: ExpectBook,
    /// The generation of the last entry created (see [`Handle`]).
    generation: u16,
    /// Where the search for an extension slot to free resumes.
    ext_cursor: usize,
    /// Extension slots in use, and the unused ones.
    exts_used: usize,
    ext_free: ext_free::ExtFree,
    /// The unused slots.
    free: free::FreeList,
    /// Where the early drop of a growable table looks next.
    drop_cursor: usize,
    /// Counts what can make an entry visible to a lookup: index
    /// insertions and confirmations (wrapping).
    visible_epoch: u32,
    /// The slot + 1 of the last entry created (0: none) and the
    /// `visible_epoch` after its creation: if it is still the epoch when
    /// the entry is confirmed, and no connection has an own reply tuple,
    /// nothing can clash with it (see [`ConnTable::confirm`]).
    created: (u32, u32),
    /// The PPTP helper's GRE key map.
    #[cfg(feature = "helper-pptp")]
    keymap: keymap::Keymap,
    /// The latest time a call gave (classification, `gc`, deletions):
    /// what events and the stop of a deleted entry's life are stamped with
    /// when the call that deletes gives no time ([`ConnTable::delete`],
    /// [`ConnTable::flush`]). Kept only by a table with an event sink.
    clock: Tick,
    /// The last packet time converted (see [`TickMemo`]).
    tick_memo: TickMemo,
    /// Timeout policies by zone and protocol (nftables `ct timeout`).
    timeout_policies: heapless::Vec<TimeoutPolicy, MAX_TIMEOUT_POLICIES>,
    /// The payload edits a helper decided for the last packet of a
    /// translated connection, until [`ConnTable::translate_in`] applies
    /// them.
    rewrite: crate::nat::payload::Rewrite,
    /// What NAT does on the table's own paths, set once the table has a
    /// binding ([`ConnTable::nat`], a restored one): called through
    /// pointers, so that a table that never translates does not link
    /// NAT's code.
    nat_hooks: Option<NatHooks<S>>,
}

/// The steps of NAT on the table's own paths ([`ConnTable::nat_hooks`]).
pub(crate) struct NatHooks<S> {
    /// The NAT of a connection expected by a translated master, at its
    /// creation (`nf_nat_helper.c: nf_nat_follow_master()`).
    pub follow_master: fn(&mut ConnTable<S>, Tick, Handle, u32, &crate::expect::ExpectNat),
    /// Linux's null source binding at confirmation.
    pub null_binding: fn(&mut ConnTable<S>, Handle, Tick),
    /// The loser of an insert race in slot `i`, kept under its reply
    /// tuple only ([`ConnTable::keep_loser_under_reply`]): in a table
    /// that never translates every such loser merges.
    pub keep_loser_under_reply: fn(&mut ConnTable<S>, usize, Tick) -> LoserKept,
}

/// Whether the loser of an insert race was kept under its reply tuple:
/// `Err(Some)` names the confirmed entry that has that tuple, `Err(None)`
/// says there was no room for it.
pub(crate) type LoserKept = Result<(), Option<usize>>;

impl<S> Clone for NatHooks<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for NatHooks<S> {}

/// Most [`HelperAssignment`]s a table holds.
pub const MAX_HELPER_ASSIGNMENTS: usize = 32;

/// Packets [`ConnTable::track_batch`] reads ahead: the keys of a burst of
/// up to `BATCH` packets are hashed and their index buckets asked for
/// before the first of them is tracked.
pub const BATCH: usize = 32;

/// How many packets ahead of the one it tracks [`ConnTable::track_batch`]
/// asks for an entry: about the time of one miss (measured at 1,000,000
/// flows against 4; 16 and more leave too few packets of a burst of 32 to
/// overlap).
const AHEAD: usize = 8;

/// Most helpers a table registers.
pub const MAX_HELPERS: usize = 16;

/// A table whose capacity is fixed at compile time: `N` connections, of
/// which `X` may have a helper or a master, and `E` expectations. Needs
/// no allocator.
pub type FixedConnTable<const N: usize, const X: usize = 16, const E: usize = 16> =
    ConnTable<FixedStorage<N, X, E>>;

impl<const N: usize, const X: usize, const E: usize> ConnTable<FixedStorage<N, X, E>> {
    /// An empty table. A `const fn`, so a table can be a `static`, built at
    /// compile time and never moved (firmware: give it a random key at boot
    /// with [`ConnTable::set_hash_key`]):
    ///
    /// ```
    /// use core::cell::RefCell;
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey};
    ///
    /// // In firmware, a `critical_section::Mutex<RefCell<..>>` or similar.
    /// struct Shared(RefCell<FixedConnTable<256>>);
    /// unsafe impl Sync for Shared {} // single-threaded example only
    /// static TABLE: Shared = Shared(RefCell::new(ConnTable::new(HashKey([0; 16]), Config::DEFAULT)));
    ///
    /// let mut table = TABLE.0.borrow_mut();
    /// table.set_hash_key(HashKey([0x3c; 16])); // from a hardware RNG
    /// assert_eq!(table.capacity(), 256);
    /// ```
    pub const fn new(hash_key: HashKey, config: Config) -> Self {
        ConnTable::from_parts(FixedStorage::new(), hash_key, config)
    }

    /// An empty table whose every byte is zero, so that a `static` of it
    /// is placed in `.bss`: it costs no flash and no copy at boot (a table
    /// from [`ConnTable::new`] carries its configuration, which is not zero,
    /// so the whole `static` goes to `.data`). Its hash key is all zero and
    /// its settings are [`Config::DEFAULT`]: set a random key at boot with
    /// [`ConnTable::set_hash_key`], and change settings with
    /// [`ConnTable::config_mut`].
    ///
    /// ```
    /// use core::cell::RefCell;
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey};
    ///
    /// // In firmware, a `critical_section::Mutex<RefCell<..>>` or similar.
    /// struct Shared(RefCell<FixedConnTable<256>>);
    /// unsafe impl Sync for Shared {} // single-threaded example only
    /// static TABLE: Shared = Shared(RefCell::new(ConnTable::zeroed()));
    ///
    /// let mut table = TABLE.0.borrow_mut();
    /// table.set_hash_key(HashKey([0x3c; 16])); // from a hardware RNG
    /// assert_eq!(table.config(), &Config::DEFAULT);
    /// table.config_mut().max_entries = 200;
    /// assert_eq!(table.config().max_entries, 200);
    /// ```
    pub const fn zeroed() -> Self {
        let mut t = ConnTable::from_parts(FixedStorage::new(), HashKey([0; 16]), Config::ZERO);
        t.config_set = false;
        t
    }
}

#[cfg(feature = "alloc")]
impl ConnTable<HeapStorage> {
    /// An empty table of `capacity` entries on the heap, with room for
    /// `capacity / 16` (at least 64) connections with a helper, a master or
    /// a NAT binding and `capacity / 64` (16 to 4096, Linux's `expect_max`
    /// ratio) expectations. (A NAT router, whose every connection may have
    /// a binding, sizes the extension slots with
    /// [`ConnTable::with_capacities`].)
    pub fn with_capacity(capacity: usize, hash_key: HashKey, config: Config) -> Self {
        let exts = (capacity / 16).clamp(64, storage::Link::MAX_EXT);
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
        ConnTable::with_storage(HeapStorage::new(entries, exts, expects), hash_key, config)
    }
}

#[cfg(feature = "alloc")]
impl ConnTable<GrowableStorage> {
    /// An empty table that grows (feature `alloc`): it starts with room for
    /// `initial` entries and adds slots as connections come, up to
    /// [`Config::max_entries`] (0: as many as memory allows); its index is a
    /// `hashbrown::HashTable`. Extension and expectation pools are sized as
    /// by [`ConnTable::with_capacity`] for `max_entries` (or `initial` if
    /// that is 0).
    ///
    /// Verdicts are those of a fixed table. One difference: when the table
    /// holds `max_entries`, early drop looks at 64 slots of the arena from
    /// where it last stopped, not at the new key's neighbours (the map has
    /// no buckets), and evicts the first expired or non-ASSURED entry there.
    ///
    /// ```
    /// # #[cfg(feature = "std")] {
    /// use ctrack::{Config, ConnTable, HashKey};
    ///
    /// let mut config = Config::default();
    /// config.max_entries = 1_000_000;
    /// let table = ConnTable::growable(1024, HashKey::random(), config);
    /// assert_eq!(table.capacity(), 1024);
    /// # }
    /// ```
    pub fn growable(initial: usize, hash_key: HashKey, config: Config) -> Self {
        let sized = match config.max_entries as usize {
            0 => initial,
            m => m,
        };
        let exts = (sized / 16).clamp(64, storage::Link::MAX_EXT);
        let expects = (sized / 64).clamp(16, 4096);
        ConnTable::with_storage(GrowableStorage::new(initial, exts, expects), hash_key, config)
    }
}

impl<S: Storage> ConnTable<S> {
    /// A table over `storage`; every slot is reset to empty.
    pub fn with_storage(mut store: S, hash_key: HashKey, config: Config) -> Self {
        Self::clear(&mut store);
        ConnTable::from_parts(store, hash_key, config)
    }

    /// Reset every slot of `store` to unused.
    fn clear(store: &mut S) {
        let mut p = store.parts_mut();
        p.slots.fill(Slot::EMPTY);
        p.index.clear();
        p.exts.fill(ExtSlot::EMPTY);
        p.expects.fill(ExpectSlot::EMPTY);
    }

    /// A table over storage that is empty already.
    const fn from_parts(store: S, hash_key: HashKey, config: Config) -> Self {
        ConnTable {
            store,
            hash_key,
            config,
            config_set: true,
            stats: Stats::ZERO,
            count: 0,
            gc_cursor: 0,
            gc_pressure: false,
            helpers: heapless::Vec::new(),
            assignments: heapless::Vec::new(),
            expect_book: ExpectBook::ZERO,
            generation: 0,
            ext_cursor: 0,
            exts_used: 0,
            ext_free: ext_free::ExtFree::ALL,
            free: free::FreeList::ALL,
            drop_cursor: 0,
            visible_epoch: 0,
            created: (0, 0),
            #[cfg(feature = "helper-pptp")]
            keymap: keymap::Keymap::ZERO,
            clock: Tick::from_ticks(0),
            tick_memo: TickMemo::ZERO,
            timeout_policies: heapless::Vec::new(),
            rewrite: crate::nat::payload::Rewrite::EMPTY,
            nat_hooks: None,
        }
    }

    /// The expectation table, with the counters and key it updates.
    pub(super) fn expects(&mut self) -> Expects<'_> {
        Expects {
            slots: self.store.parts_mut().expects,
            book: &mut self.expect_book,
            stats: &mut self.stats,
            key: &self.hash_key,
        }
    }

    /// Replace the hash key. Entries are placed by their hash, so the table
    /// is emptied (entries and expectations; registered helpers, their
    /// assignments and the counters stay): set the key before the first
    /// packet, e.g. at boot from a hardware RNG.
    pub fn set_hash_key(&mut self, hash_key: HashKey) {
        self.flush();
        self.hash_key = hash_key;
    }

    /// Delete the entry `handle` names (`conntrack -D`; in Linux
    /// `nf_conntrack_core.c: nf_ct_delete()`), with its extension and the
    /// expectations it made. Returns whether it was there (a stale handle
    /// deletes nothing).
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let h = table.track(now, &query).entry().unwrap();
    /// assert!(table.delete(h));
    /// assert!(!table.delete(h), "gone already");
    /// assert_eq!(table.track(now, &query).state(), Some(CtState::New));
    /// ```
    pub fn delete(&mut self, handle: Handle) -> bool {
        let alive = self.entry_of(handle).is_some();
        if alive {
            self.remove(handle.index());
        }
        alive
    }

    /// Delete every entry and expectation (`conntrack -F`); registered
    /// helpers, their assignments and the counters stay. Returns how many
    /// entries there were (unconfirmed and expired ones included).
    pub fn flush(&mut self) -> usize {
        let n = self.count;
        // Each confirmed entry and each expectation goes as `conntrack -F`
        // deletes them, one by one (`nf_ct_iterate_cleanup_net()` then
        // `nf_ct_delete()`, which report DESTROY).
        if self.wants(events::EventMask::DESTROY | events::EventMask::EXPECT_DESTROY) {
            for i in 0..self.capacity() {
                self.destroy_events(i);
            }
        }
        Self::clear(&mut self.store);
        self.count = 0;
        self.free = free::FreeList::ALL;
        self.drop_cursor = 0;
        self.gc_cursor = 0;
        self.gc_pressure = false;
        self.ext_cursor = 0;
        self.exts_used = 0;
        self.ext_free = ext_free::ExtFree::ALL;
        self.expect_book = ExpectBook::ZERO;
        #[cfg(feature = "helper-pptp")]
        self.keymap.clear();
        n
    }

    /// Register `helper` with the table: the [`HelperId`] it returns is
    /// the helper's identity in this table (registering the same helper
    /// twice gives two identities). Fails when [`MAX_HELPERS`] are
    /// registered.
    pub fn register_helper(&mut self, helper: &'static dyn Helper) -> Result<HelperId, HelperError> {
        let id = HelperId(u8::try_from(self.helpers.len()).map_err(|_| HelperError::TooManyHelpers)?);
        self.helpers.push(helper).map_err(|_| HelperError::TooManyHelpers)?;
        Ok(id)
    }

    /// The helper registered as `id`.
    pub fn helper(&self, id: HelperId) -> Option<&'static dyn Helper> {
        self.helpers.get(usize::from(id.0)).copied()
    }

    /// Give new connections matching `assignment` its helper
    /// (`nf_conntrack_helper.c: __nf_ct_try_assign_helper()`). Fails when
    /// [`MAX_HELPER_ASSIGNMENTS`] are already made, or for a helper this table
    /// did not register.
    pub fn assign_helper(&mut self, assignment: HelperAssignment) -> Result<(), HelperError> {
        if self.helper(assignment.helper()).is_none() {
            return Err(HelperError::UnknownHelper);
        }
        self.assignments.push(assignment).map_err(|_| HelperError::TooManyAssignments)
    }

    /// Register a built-in helper and assign it to its standard ports, as
    /// Linux's helper modules do (see [`helper::builtin`](crate::helper::builtin)).
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, helper};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([1; 16]), Config::default());
    /// for b in helper::BUILTINS {
    ///     table.add_builtin_helper(b).unwrap();
    /// }
    /// ```
    pub fn add_builtin_helper(&mut self, builtin: &Builtin) -> Result<HelperId, HelperError> {
        if self.assignments.len() + builtin.ports.len() > MAX_HELPER_ASSIGNMENTS {
            return Err(HelperError::TooManyAssignments);
        }
        let id = self.register_helper(builtin.helper)?;
        for &(proto, port) in builtin.ports {
            let mut a = HelperAssignment::new(id, proto, port);
            if let Some(f) = builtin.family {
                a = a.family(f);
            }
            self.assign_helper(a)?;
        }
        Ok(id)
    }

    /// Pending expectations, as `conntrack -L expect` lists them.
    pub fn expectations(&self, now: Instant) -> impl Iterator<Item = ExpectLine<'_>> {
        let now = now.tick();
        let parts = self.store.parts();
        let slots = parts.slots;
        parts.expects.iter().filter_map(move |x| {
            let p = x.0.as_ref()?;
            if !p.deadline.is_after(now) {
                return None;
            }
            let master = slots.get(p.master as usize)?.entry()?.orig();
            let helper_name = self.helper(p.owner).map(|h| h.name());
            Some(ExpectLine { pending: p, master, helper_name, timeout: p.deadline.secs_left(now) })
        })
    }

    fn entry_ref<'a>(&'a self, entry: &'a Entry, now: Tick, i: usize) -> EntryRef<'a> {
        let parts = self.store.parts();
        let ext = entry.link().ext().and_then(|x| parts.exts.get(x)?.0.as_ref());
        let helper = ext.and_then(|x| self.helper(x.helper?));
        let cfg = self.config();
        EntryRef {
            entry,
            ext,
            helper,
            now,
            handle: entry.handle(i),
            acct: cfg.acct,
            timestamp: cfg.timestamp,
            slots: parts.slots,
            exts: parts.exts,
        }
    }

    /// Number of slots (of a growable table: the slots it has now).
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
        if self.config_set { &self.config } else { &Config::DEFAULT }
    }

    /// Change settings; existing entries keep their deadlines.
    pub fn config_mut(&mut self) -> &mut Config {
        self.own_config();
        &mut self.config
    }

    /// Make the settings in force the table's own (a [`ConnTable::zeroed`]
    /// table's are [`Config::DEFAULT`] until then). The packet path's
    /// entries (`classify`, `track_batch`) do so first, so that its steps
    /// read the settings without choosing between two
    /// ([`ConnTable::packet_config`]).
    #[inline(always)]
    fn own_config(&mut self) {
        if !self.config_set {
            self.adopt_default_config();
        }
    }

    /// [`ConnTable::own_config`] of a table still on the defaults: once in
    /// its life.
    #[cold]
    #[inline(never)]
    fn adopt_default_config(&mut self) {
        self.config = Config::DEFAULT;
        self.config_set = true;
    }

    /// The settings in force, read by the steps of a packet's
    /// classification: its entry made them the table's own
    /// ([`ConnTable::own_config`]). (Choosing between two at each read
    /// cost an established UDP packet 3.6 instructions and a TCP ACK 2.5,
    /// measured.)
    #[inline(always)]
    pub(super) fn packet_config(&self) -> &Config {
        debug_assert!(self.config_set, "the packet path's entry owns the settings first");
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats { entries: self.count as u32, ..self.stats }
    }

    /// Classify and confirm at once (the connection's helper sees the
    /// packet, and an entry the packet created is confirmed): the one-step
    /// form for callers that never drop a packet between tracking and
    /// sending it. A packet its helper rejects keeps its classification
    /// and [`Verdict::must_drop`] says so. See [`ConnTable::classify`] and
    /// [`ConnTable::confirm`].
    pub fn track(&mut self, now: Instant, packet: &[u8]) -> Verdict {
        self.track_with(now, packet, Meta::default())
    }

    /// [`ConnTable::track`] with per-packet options.
    pub fn track_with(&mut self, now: Instant, packet: &[u8], meta: Meta) -> Verdict {
        let mut v = self.classify(now, packet, meta);
        self.confirm_in_place::<true>(&mut v, packet);
        v
    }

    /// Confirm `v`, the verdict of `packet`, in place: a dropped packet's
    /// becomes [`Verdict::Dropped`]. (In place rather than returned: the
    /// verdict is not copied: 12 x86 instructions a packet, measured.)
    #[inline(always)]
    fn confirm_in_place<const INLINE: bool>(&mut self, v: &mut Verdict, packet: &[u8]) {
        match self.confirm_as::<INLINE>(v, packet) {
            // The packet keeps its classification; the verdict says it
            // must be dropped.
            Ok(()) | Err(DropReason::Helper(_)) => {}
            Err(d) => *v = Verdict::Dropped(d),
        }
    }

    /// [`ConnTable::track`] (default [`Meta`]: zone 0) for a burst of
    /// packets, in order: `out` gets
    /// each packet's index and verdict. The verdicts are those `track`
    /// would give one packet after the other (each is tracked as `track`
    /// tracks it, its key read and hashed once); the work is arranged so
    /// that the table's cache misses overlap with each other and with the
    /// work (as DPDK's conntrack batches do): the keys of up to [`BATCH`]
    /// packets are read and hashed and their index buckets asked for
    /// before any of them is looked up, and each packet's entry (for a
    /// new flow, the slot its entry will most likely take) is asked for a
    /// few packets before its turn, while those before it are tracked. On
    /// x86-64 the memory is asked for with a prefetch instruction, which
    /// lets the misses be in flight at once; elsewhere those steps do
    /// nothing.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let answer = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 2, 10, 0, 0, 1,
    ///     0, 53, 0x14, 0xe9, 0, 8, 0, 0,
    /// ];
    /// let mut states = [None; 3];
    /// table.track_batch(Instant::from_secs(1), &[&query, &answer, &query], |i, v| states[i] = v.state());
    /// assert_eq!(states, [Some(CtState::New), Some(CtState::Established), Some(CtState::Established)]);
    /// ```
    pub fn track_batch(&mut self, now: Instant, packets: &[&[u8]], out: impl FnMut(usize, Verdict)) {
        self.track_batch_with(now, packets, Meta::default(), out);
    }

    /// [`ConnTable::track_batch`] with per-packet options, the same for
    /// every packet of the batch ([`ConnTable::track_with`] one packet
    /// after the other): a burst of one zone, say, or of a link whose
    /// packets are not tracked ([`Meta::notrack`]: every verdict
    /// UNTRACKED, the table untouched).
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant, Meta};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let mut states = [None; 2];
    /// table.track_batch_with(now, &[&query, &query], Meta::default().with_zone(7), |i, v| states[i] = v.state());
    /// assert_eq!(states, [Some(CtState::New), Some(CtState::New)]);
    /// // Zone 0 is another connection.
    /// assert_eq!(table.track(now, &query).state(), Some(CtState::New));
    /// ```
    #[inline(always)]
    pub fn track_batch_with(
        &mut self,
        now: Instant,
        packets: &[&[u8]],
        meta: Meta,
        mut out: impl FnMut(usize, Verdict),
    ) {
        if meta.notrack {
            for i in 0..packets.len() {
                out(i, Verdict::Untracked);
            }
            return;
        }
        self.own_config();
        // One time for the whole batch, as `track` finds it per packet.
        let now = self.tick_memo.tick(now);
        self.tick_clock(now);
        for (c, chunk) in packets.chunks(BATCH).enumerate() {
            // Where each packet's entry would be (its key hashed from the
            // header bytes, unchecked), and a prefetch of that home bucket:
            // the burst's bucket misses in flight together.
            let mut keys = [None; BATCH];
            let mut ipv6 = false;
            for (key, packet) in keys.iter_mut().zip(chunk) {
                // (None for a long packet: `classify_keyed` then takes it
                // as `track` does, to the fast paths' copies for long
                // packets, `pipeline.rs: is_long`.)
                *key = if pipeline::is_long(packet) { None } else { self.header_key(packet, meta.zone) };
                match key {
                    Some(key) => key.set_home(self.prefetch_home(key.place)),
                    None => ipv6 |= packet.first().is_some_and(|b| b >> 4 == 6),
                }
            }
            // A burst with IPv6 packets reads their keys too (on 64-bit
            // hosts, whose fast paths take IPv6: see `classify_udp6`), in
            // an array of their own, out of line: an IPv4 burst's keys
            // stay two words.
            #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
            if ipv6 {
                self.track_burst6(now, chunk, &keys, c * BATCH, meta, &mut out);
                continue;
            }
            let _ = ipv6;
            self.track_burst(now, chunk, keys, None, c * BATCH, meta, &mut out);
        }
    }

    /// [`ConnTable::track_burst`] of a burst with IPv6 packets: the keys
    /// of its UDP and TCP packets right after an IPv6 fixed header read
    /// (`header_key6`) and their home buckets asked for, as the IPv4
    /// packets' were (`keys`).
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(never)]
    fn track_burst6(
        &mut self,
        now: Tick,
        chunk: &[&[u8]],
        keys: &[Option<fast::FastKey>; BATCH],
        first: usize,
        meta: Meta,
        out: &mut impl FnMut(usize, Verdict),
    ) {
        let mut keys6 = [None; BATCH];
        for ((key6, key), packet) in keys6.iter_mut().zip(keys).zip(chunk) {
            if key.is_none()
                && !pipeline::is_long(packet)
                && let Some(mut k) = self.header_key6(packet, meta.zone)
            {
                k.set_home(self.prefetch_home(k.place));
                *key6 = Some(k);
            }
        }
        self.track_burst(now, chunk, *keys, Some(&mut keys6), first, meta, out);
    }

    /// Track the packets of `chunk`, a burst of [`ConnTable::track_batch`]
    /// whose first is the batch's packet `first`, their keys read and
    /// their home buckets asked for already (`keys`, and `keys6` for IPv6
    /// packets if the burst has any). (`keys` by value: taken by
    /// reference, an IPv4 burst's packets cost 29 instructions more each,
    /// measured; a burst with IPv6 packets copies them, 768 bytes.)
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn track_burst(
        &mut self,
        now: Tick,
        chunk: &[&[u8]],
        mut keys: [Option<fast::FastKey>; BATCH],
        mut keys6: Option<&mut [Option<fast::FastKey<5>>; BATCH]>,
        first: usize,
        meta: Meta,
        out: &mut impl FnMut(usize, Verdict),
    ) {
        // Each packet as `track` takes it, its key already read, while the
        // entry of the packet `AHEAD` further on is asked for (its bucket
        // has arrived by then): that entry's miss is in flight while this
        // packet is tracked. (Reading the entries of the whole burst
        // first, instead, left the work waiting for them: 89 ns a packet
        // at 1,000,000 flows against 79.)
        for k in 0..AHEAD.min(chunk.len()) {
            self.prefetch_burst_entry(&mut keys, keys6.as_deref_mut(), k);
        }
        for (k, packet) in chunk.iter().enumerate() {
            // (Tested against the chunk, whose length the loop knows:
            // 6 instructions fewer a packet than the keys' `get`
            // alone, measured.)
            if k + AHEAD < chunk.len() {
                self.prefetch_burst_entry(&mut keys, keys6.as_deref_mut(), k + AHEAD);
            }
            #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
            if let Some(Some(key6)) = keys6.as_deref().and_then(|k6| k6.get(k)) {
                out(first + k, self.track_keyed6(now, packet, meta, *key6));
                continue;
            }
            let key = keys.get(k).copied().flatten();
            out(first + k, self.track_keyed(now, packet, meta, key));
        }
    }

    /// [`ConnTable::prefetch_entry`] of the packet `k` of a burst, whose
    /// key is in `keys` or `keys6`.
    #[inline(always)]
    fn prefetch_burst_entry(
        &self,
        keys: &mut [Option<fast::FastKey>; BATCH],
        keys6: Option<&mut [Option<fast::FastKey<5>>; BATCH]>,
        k: usize,
    ) {
        if let Some(key) = keys.get_mut(k) {
            self.prefetch_entry(key);
        }
        if let Some(key6) = keys6.and_then(|k6| k6.get_mut(k)) {
            self.prefetch_entry(key6);
        }
    }

    /// Ask for the entry the home bucket of `key` first names (a batch
    /// does, ahead of the packet's turn; a TCP entry whole), and make it
    /// the slot the key's search tries first ([`fast::FastKey::candidate`])
    /// if the bucket names it by its key (its primary position); if the
    /// bucket names none (most likely a new flow), ask for the slot a new
    /// entry of the key would take ([`ConnTable::slot_index_to_ask`]).
    ///
    /// (The entry whose primary position comes first of the key's tag in
    /// its home bucket, tried first, reaps as the search that tries the
    /// preferred slot first does: if it is the key's entry, no expired
    /// entry of the tag came before it; if not, the search follows, and
    /// the search that reaps tries the preferred slot before any other,
    /// [`ConnTable::find_preferred`].)
    #[inline(always)]
    fn prefetch_entry<const W: usize>(&self, key: &mut Option<fast::FastKey<W>>) {
        let Some(k) = key else { return };
        let first = k.home().and_then(|home| self.first_candidate(k.place, home));
        k.set_candidate(first.filter(|r| !r.secondary).map(|r| r.slot as usize));
        let slot = first.map(|r| r.slot as usize).or_else(|| self.slot_index_to_ask(k.place));
        if let Some(s) = slot.and_then(|i| self.slots().get(i)) {
            s.0.prefetch(k.proto() == crate::tuple::proto::TCP);
        }
    }

    /// [`ConnTable::track_with`] at `now` (the batch's time, on the
    /// table's clock already) of a packet whose header bytes gave `key`
    /// (`header_key`, in the zone of `meta`), in a batch.
    #[inline(always)]
    fn track_keyed(&mut self, now: Tick, packet: &[u8], meta: Meta, key: Option<fast::FastKey>) -> Verdict {
        let mut v = self.classify_keyed(now, packet, meta, key);
        self.confirm_in_place::<false>(&mut v, packet);
        v
    }

    /// [`ConnTable::track_keyed`] of an IPv6 packet whose header bytes
    /// gave `key` (`header_key6`): UDP or TCP right after its fixed
    /// header. (Inline: only the burst step of bursts with IPv6 packets
    /// calls it, `track_burst6`'s; out of line, it cost each of their
    /// packets 41 instructions more, measured.)
    #[cfg(all(target_pointer_width = "64", not(feature = "ipv4-only")))]
    #[inline(always)]
    fn track_keyed6(&mut self, now: Tick, packet: &[u8], meta: Meta, key: fast::FastKey<5>) -> Verdict {
        let mut v = self.classify_keyed6(now, packet, meta, key);
        self.confirm_in_place::<false>(&mut v, packet);
        v
    }

    /// Classify a raw IPv4 or IPv6 packet (`nf_conntrack_core.c: nf_conntrack_in()`).
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
        let now = self.tick_memo.tick(now);
        self.tick_clock(now);
        self.own_config();
        self.classify_packet(now, packet, meta)
    }

    /// The last step of a packet that passes (Linux's confirmation hook,
    /// `nf_conntrack_proto.c: nf_confirm()`, which runs the helper and then
    /// `nf_conntrack_core.c: __nf_conntrack_confirm()`): call it for every
    /// packet the caller lets through, with the bytes given to
    /// [`ConnTable::classify`].
    ///
    /// The connection's helper, if any, sees the packet now, as Linux runs
    /// helpers at confirmation: a packet the caller drops instead never
    /// feeds a helper. If the helper rejects the packet, the verdict
    /// records it ([`Tracked::helper_drop`](crate::Tracked::helper_drop)),
    /// the packet must be dropped and a connection it opened is not kept.
    ///
    /// Then the entry a NEW packet created is confirmed: from now on other
    /// packets find it. If an entry with one of its tuples was confirmed
    /// meanwhile (two packets of one new flow classified before either
    /// was confirmed), a UDP, UDP-Lite or GRE packet goes to that entry
    /// when both are one connection, or, when NAT sent them to different
    /// places, keeps its own entry for a second under its reply tuple
    /// alone ([`Status::NAT_CLASH`]); on any other clash the new entry is
    /// discarded and the packet must be dropped.
    ///
    /// A verdict acts once: confirming it again does nothing, and a verdict
    /// whose entry is gone (expired, or its slot reused) acts on nothing.
    ///
    /// Confirmation works at the time of the last packet the table
    /// classified (this one's or a later one's), as Linux confirms at the
    /// end of the packet's traversal: the helper's expectations, for one,
    /// count from then.
    #[inline]
    pub fn confirm(&mut self, verdict: &mut Verdict, packet: &[u8]) -> Result<(), DropReason> {
        self.confirm_as::<true>(verdict, packet)
    }

    /// [`ConnTable::confirm`], the commonest confirmation
    /// ([`ConnTable::confirm_unchanged`]) inline or (`INLINE` false: in a
    /// batch, whose loop then keeps its registers for the established
    /// packets; 5 instructions a packet, measured) out of line.
    #[inline(always)]
    fn confirm_as<const INLINE: bool>(
        &mut self,
        verdict: &mut Verdict,
        packet: &[u8],
    ) -> Result<(), DropReason> {
        let Verdict::Tracked(t) = verdict else {
            return Ok(());
        };
        if t.is_settled() {
            return Ok(());
        }
        t.settle();
        // Most packets: a confirmed connection without a helper, so
        // nothing to run and nothing to confirm (the entry's link says
        // whether its extension names a helper: a NAT binding or a master
        // without one is not read here, which cost a NATed flow a cache
        // miss a packet in large tables).
        if !t.is_unconfirmed() && !t.is_helped() {
            return Ok(());
        }
        if cfg!(target_pointer_width = "64")
            && !t.is_helped()
            && if INLINE { self.confirm_unchanged(t) } else { self.confirm_unchanged_out_of_line(t) }
        {
            return Ok(());
        }
        self.confirm_tracked(t, packet)
    }

    /// [`ConnTable::confirm_unchanged`], out of line.
    #[inline(never)]
    fn confirm_unchanged_out_of_line(&mut self, t: &mut crate::verdict::Tracked) -> bool {
        self.confirm_unchanged(t)
    }

    /// The commonest confirmation, inline: a new entry without a helper,
    /// in a table that does not translate, when nothing has become visible
    /// since its creation (so no clash: see `confirm_tracked`). False, and
    /// nothing done, otherwise. (A new UDP flow 43 x86 instructions fewer
    /// than through `confirm_tracked`'s frame, measured. On 64-bit hosts:
    /// on a Cortex-M3 the copy cost 132 bytes of flash.)
    #[inline(always)]
    fn confirm_unchanged(&mut self, t: &mut crate::verdict::Tracked) -> bool {
        let Some(h) = t.entry().filter(|_| t.is_unconfirmed()) else { return false };
        let unchanged = self.created == (h.index() as u32 + 1, self.visible_epoch) && self.exts_used == 0;
        if !unchanged || self.nat_hooks.is_some() || self.entry_of(h).is_none() {
            return false;
        }
        debug_assert_eq!(
            self.entry_of(h).and_then(|e| self.clash(e, h.index(), self.classified_now())),
            None,
            "a clash since creation"
        );
        t.set_unconfirmed(false);
        self.mark_confirmed(h.index());
        true
    }

    /// The entry in slot `i`, just confirmed without a clash, becomes
    /// visible: CONFIRMED, its start stamped, its NEW event.
    #[inline(always)]
    fn mark_confirmed(&mut self, i: usize) {
        self.visible_epoch = self.visible_epoch.wrapping_add(1);
        let (timestamp, now) = (self.config().timestamp, self.classified_now());
        if let Some(e) = self.entry_at_mut(i) {
            e.status.insert(Status::CONFIRMED);
            // `nf_conntrack_core.c: __nf_conntrack_insert_prepare()`
            // stamps the start (`nf_conntrack_timestamp`).
            #[cfg(feature = "ct-acct")]
            if timestamp {
                e.extra.start = now.max(Tick::from_ticks(1));
            }
        }
        #[cfg(not(feature = "ct-acct"))]
        let _ = (timestamp, now);
        self.confirmed_event(i);
    }

    /// The time confirmation works at: that of the last packet
    /// classified (`classify`, `track`, `track_batch`), the packet
    /// confirmed's or a later one's. Linux confirms at the last hook of the
    /// packet's traversal, at most a little after its classification;
    /// a caller that classifies packets and confirms them later (a
    /// batch, a queue) has classified the later packets by then, so that
    /// their time is the closer one. (The verdict does not keep its own
    /// time: a smaller verdict, fewer instructions for every packet; see
    /// `Tracked`.)
    #[inline(always)]
    pub(crate) fn classified_now(&self) -> Tick {
        self.tick_memo.last()
    }

    /// [`ConnTable::confirm`] of a verdict that has a helper to run or an
    /// entry to confirm.
    fn confirm_tracked(&mut self, t: &mut crate::verdict::Tracked, packet: &[u8]) -> Result<(), DropReason> {
        // An entry without a helper at classification gains none since
        // (NAT gives at most an extension without one).
        let helped = if t.is_helped() {
            let expect_mark = self.expect_mark();
            let helped = self.run_helper(t, packet);
            self.expect_news(expect_mark);
            helped
        } else {
            debug_assert!(
                t.entry()
                    .and_then(|h| self.entry_of(h)?.link().ext())
                    .and_then(|x| self.store.exts().get(x)?.0.get()?.helper)
                    .is_none(),
                "a helper the verdict did not know of"
            );
            Ok(())
        };
        if let Err(d) = helped {
            bump(&mut self.stats.drop);
            t.set_helper_drop(d);
            if let Some(h) = t.entry().filter(|_| t.is_unconfirmed()) {
                if self.entry_of(h).is_some() {
                    self.remove(h.index());
                }
                t.set_entry(None);
                t.set_unconfirmed(false);
            }
            return Err(DropReason::Helper(d));
        }
        let Some(h) = t.entry().filter(|_| t.is_unconfirmed()) else {
            return Ok(());
        };
        t.set_unconfirmed(false);
        // In a table that translates, what Linux's nat hook at
        // POSTROUTING does for a connection no source NAT rule bound
        // (through a pointer: a table that never translates does not link
        // NAT's code).
        if let Some(hooks) = self.nat_hooks {
            (hooks.null_binding)(self, h, self.classified_now());
        }
        // The insert clash needs a search unless nothing has become
        // visible since the entry was created: its creation searched for
        // its key already and found nothing. (With own reply tuples in the
        // table, a clash may be an entry that search did not take: always
        // searched then.)
        let unchanged = self.created == (h.index() as u32 + 1, self.visible_epoch) && self.exts_used == 0;
        let clash = match self.entry_of(h) {
            None => return Ok(()),
            Some(e) if unchanged => {
                debug_assert_eq!(
                    self.clash(e, h.index(), self.classified_now()),
                    None,
                    "a clash since creation"
                );
                None
            }
            Some(e) => self.clash_by(e, h.index(), self.classified_now()),
        };
        let merges = self.entry_at(h.index()).is_some_and(|e| e.proto.merges_on_clash());
        match clash {
            None => {
                self.mark_confirmed(h.index());
                Ok(())
            }
            // Both entries describe the same flow
            // (`nf_conntrack_core.c: nf_ct_resolve_clash()`): UDP, UDP-Lite
            // and GRE merge into the winner, if both have the same tuples
            // or the winner has no NAT set up (`__nf_ct_resolve_clash()`,
            // `may_merge`); other protocols drop the packet.
            Some((winner, _)) if merges && self.may_merge(winner, h.index()) => {
                self.merge_into(t, winner);
                Ok(())
            }
            // Only the original tuple clashed, with an entry NAT gave
            // another reply tuple (two DNS queries from one socket sent
            // to two backends, say): the new entry stays, under its reply
            // tuple only, for a second (`nf_ct_resolve_clash_harder()`),
            // unless that tuple is taken too: by the same flow, which it
            // merges into, or by another, and the packet is dropped. (An
            // entry without NAT, whose one position stands for both of its
            // tuples, is given its reply tuple as one of its own first.)
            // Only in a table that translates: elsewhere no winner has NAT,
            // and every loser merges.
            Some((_, false)) if merges => {
                let kept = self.nat_hooks.map_or(Err(None), |hooks| {
                    (hooks.keep_loser_under_reply)(self, h.index(), self.classified_now())
                });
                match kept {
                    Ok(()) => {
                        bump(&mut self.stats.clash_resolve);
                        Ok(())
                    }
                    Err(Some(other)) if self.may_merge(other, h.index()) => {
                        self.merge_into(t, other);
                        Ok(())
                    }
                    Err(_) => Err(self.lose_clash(t, h)),
                }
            }
            Some(_) => Err(self.lose_clash(t, h)),
        }
    }

    /// The new entry of `t` clashed with the entry in slot `winner`, which
    /// describes the same flow: `t` goes to the winner, the new entry
    /// goes (`nf_conntrack_core.c: __nf_ct_resolve_clash()`).
    fn merge_into(&mut self, t: &mut crate::verdict::Tracked, winner: usize) {
        if let Some(h) = t.entry() {
            self.remove(h.index());
        }
        t.set_entry(self.entry_at(winner).map(|w| w.handle(winner)));
        bump(&mut self.stats.clash_resolve);
    }

    /// The new entry `h` of `t` lost an insert race that could not be
    /// resolved: it goes, and the packet must be dropped.
    fn lose_clash(&mut self, t: &mut crate::verdict::Tracked, h: Handle) -> DropReason {
        self.remove(h.index());
        t.set_entry(None);
        bump(&mut self.stats.insert_failed);
        bump(&mut self.stats.drop);
        DropReason::InsertClash
    }

    /// Whether the new entry in slot `loser` may merge into the entry in
    /// slot `winner` (`nf_conntrack_core.c: __nf_ct_resolve_clash()`):
    /// both have the same tuples, or the winner has no NAT set up. In a
    /// table that translates, Linux's nat hooks set up NAT for every
    /// connection (a null binding where no rule binds it,
    /// `IPS_SRC_NAT_DONE` and `IPS_DST_NAT_DONE` set): there, only the same
    /// tuples merge.
    fn may_merge(&self, winner: usize, loser: usize) -> bool {
        match (self.entry_at(winner), self.entry_at(loser)) {
            (Some(w), Some(l)) => {
                let now = Tick::from_ticks(0);
                let (w, l) = (self.entry_ref(w, now, winner), self.entry_ref(l, now, loser));
                (self.nat_hooks.is_none() && !w.entry.has_own_reply())
                    || (w.orig() == l.orig() && w.reply() == l.reply())
            }
            _ => false,
        }
    }

    /// Free the unconfirmed entry of a NEW packet that is being dropped, so
    /// that it leaves no trace (in Linux an unconfirmed entry dies with its
    /// packet: only `nf_conntrack_core.c: __nf_conntrack_confirm()` inserts it
    /// in the table). Does nothing otherwise.
    pub fn discard(&mut self, verdict: &Verdict) {
        if let Verdict::Tracked(t) = verdict
            && let Some(h) = t.entry().filter(|_| t.is_unconfirmed() && !t.is_settled())
            && self.entry_of(h).is_some_and(|e| !e.status.contains(Status::CONFIRMED))
        {
            self.remove(h.index());
        }
    }

    /// The entry behind `handle`, if it is still alive at `now` (a handle
    /// of an entry that is gone names nothing, even once its slot holds
    /// another entry).
    pub fn get(&self, handle: Handle, now: Instant) -> Option<EntryRef<'_>> {
        let now = now.tick();
        self.entry_of(handle)
            .filter(|e| !e.expired(now))
            .map(|entry| self.entry_ref(entry, now, handle.index()))
    }

    /// Find the live, confirmed entry that `tuple` belongs to (in either
    /// direction) in `zone`.
    pub fn lookup(&self, tuple: &Tuple, zone: u16, now: Instant) -> Option<(EntryRef<'_>, Direction)> {
        let (key, is_key) = tuple.canonical()?;
        let now = now.tick();
        let (i, dir) = self.locate(Sought { place: self.place(&key, zone), key: &key, is_key, zone }, now)?;
        Some((self.entry_ref(self.entry_at(i)?, now, i), dir))
    }

    /// Live, confirmed entries, in slot order, as `conntrack -L` lists them
    /// (which leaves out the losers of insert races kept for a second
    /// under their reply tuples, [`Status::NAT_CLASH`]:
    /// `nf_conntrack_core.c: nf_ct_resolve_clash_harder()` hides them from
    /// ctnetlink's walk).
    pub fn entries(&self, now: Instant) -> impl Iterator<Item = EntryRef<'_>> {
        let now = now.tick();
        self.slots().iter().enumerate().filter_map(move |(i, s)| match s.entry() {
            Some(e) if listed(e, now) => Some(self.entry_ref(e, now, i)),
            _ => None,
        })
    }

    /// Reap expired entries, visiting at most `budget` slots from where the
    /// previous call stopped (what Linux's `nf_conntrack_core.c: gc_worker()`
    /// does in the background: a `no_std` library has no GC thread, so call
    /// this periodically, e.g. every second with a budget of `capacity / 60`).
    /// Expired expectations go too, all of them (their timer,
    /// `nf_conntrack_expect.c: nf_ct_expectation_timed_out()`, with its
    /// DESTROY event). Returns the number of entries removed.
    ///
    /// Under pressure it also evicts live entries, as Linux's worker does:
    /// once a new connection has been refused for want of room
    /// ([`DropReason::TableFull`] when the table is at its limit and the
    /// early drop found nothing to evict), and until the pass over the
    /// table that was under way then ends, every confirmed entry `gc` visits
    /// while the table holds at least 95 % of its limit (`limit / 100 * 95`
    /// entries, so never in a table limited to fewer than 100) is evicted
    /// if it is not ASSURED, or is ASSURED but closing: TCP in FIN_WAIT,
    /// CLOSE_WAIT, LAST_ACK, TIME_WAIT or CLOSE, SCTP in SHUTDOWN_SENT,
    /// SHUTDOWN_RECD or SHUTDOWN_ACK_SENT (`gc_worker_can_early_drop()`
    /// with the trackers' `can_early_drop()`). Such evictions send DESTROY
    /// events and count in the value returned, not in
    /// [`Stats::early_drop`](crate::Stats). An open ASSURED connection is
    /// never evicted.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, DropReason, FixedConnTable, HashKey, Instant, Verdict};
    /// # fn udp(sport: u16, reply: bool) -> Vec<u8> {
    /// #     let (a, b, sp, dp) = if reply { ([10, 0, 0, 2], [10, 0, 0, 1], 53, sport) } else { ([10, 0, 0, 1], [10, 0, 0, 2], sport, 53) };
    /// #     let mut p = vec![0x45, 0, 0, 29, 0, 0, 0, 0, 64, 17, 0, 0];
    /// #     p.extend_from_slice(&a);
    /// #     p.extend_from_slice(&b);
    /// #     let sum: u32 = p.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    /// #     let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    /// #     p[10..12].copy_from_slice(&sum.to_be_bytes());
    /// #     p.extend_from_slice(&sp.to_be_bytes());
    /// #     p.extend_from_slice(&dp.to_be_bytes());
    /// #     p.extend_from_slice(&[0, 9, 0, 0, b'x']);
    /// #     p
    /// # }
    /// let mut config = Config::default();
    /// config.max_entries = 100;
    /// let mut table: FixedConnTable<4096> = ConnTable::new(HashKey([9; 16]), config);
    /// let ms = Instant::from_millis;
    /// // 100 flows: 95 answered, then ASSURED once the stream grace is
    /// // over, and 5 never answered.
    /// for port in 1000..1100 {
    ///     let _ = table.track(ms(0), &udp(port, false));
    ///     if port < 1095 {
    ///         let _ = table.track(ms(1), &udp(port, true));
    ///         let _ = table.track(ms(3_000), &udp(port, false));
    ///     }
    /// }
    /// // Nothing has expired: a pass reaps nothing.
    /// assert_eq!(table.gc(ms(4_000), 4096), 0);
    /// // The table is at its limit: a new flow evicts an unanswered flow
    /// // near it in the index (and takes its place, unanswered too); the
    /// // first new flow that has none near it is refused.
    /// let mut port = 2000;
    /// while table.track(ms(4_000), &udp(port, false)) != Verdict::Dropped(DropReason::TableFull) {
    ///     port += 1;
    ///     assert!(port < 2100);
    /// }
    /// // The next pass evicts the 5 unanswered flows, wherever they are,
    /// // while the table holds 95 entries or more; no ASSURED one.
    /// assert_eq!(table.gc(ms(4_001), 4096), 5);
    /// assert_eq!(table.len(), 95);
    /// assert!(table.track(ms(4_002), &udp(port, false)).entry().is_some());
    /// ```
    pub fn gc(&mut self, now: Instant, budget: usize) -> usize {
        let now = now.tick();
        self.tick_clock(now);
        let len = self.capacity();
        let mut max95 = if self.gc_pressure { self.limit() / 100 * 95 } else { 0 };
        let mut reaped = 0;
        for _ in 0..budget.min(len) {
            let i = self.gc_cursor % len;
            self.gc_cursor = (i + 1) % len;
            if self.slots()[i].entry().is_some_and(|e| {
                e.expired(now) || (max95 != 0 && self.count >= max95 && e.evictable_under_pressure())
            }) {
                self.remove(i);
                reaped += 1;
            }
            if self.gc_cursor == 0 {
                // The pass is over, and the pressure with it.
                self.gc_pressure = false;
                max95 = 0;
            }
        }
        self.reap_expectations(now);
        reaped
    }
}

/// A table as a log line: its fill and its counters.
#[cfg(feature = "defmt")]
impl<S: Storage> defmt::Format for ConnTable<S> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "ConnTable({=usize}/{=usize} {})", self.count, self.capacity(), self.stats());
    }
}

/// Whether `e` is one of the entries a walk of the table sees (as
/// `conntrack -L` and the deletions by filter walk it): live, confirmed,
/// not a NAT_CLASH loser, whose original tuple Linux leaves out of the
/// table (`hlist_nulls_add_fake()`), and so out of every walk.
pub(crate) fn listed(e: &storage::Entry, now: Tick) -> bool {
    e.status.contains(Status::CONFIRMED) && !e.status.contains(Status::NAT_CLASH) && !e.expired(now)
}
