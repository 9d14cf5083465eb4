//! The memory of a table: entry slots, extension slots and expectation
//! slots, in a fixed array, a borrowed slice or (feature `alloc`) a heap
//! vector; and what one entry holds.

use super::events::{EventMask, EventSink};
use super::extra::Extra;
#[cfg(feature = "alloc")]
use super::index::BUCKET_WORDS;
use super::index::{IndexMut, IndexRef, MAX_SLOTS};
use crate::expect::ExpectSlot;
use crate::helper::ExtSlot;
use crate::proto::ProtoState;
use crate::status::Status;
use crate::time::Tick;
use crate::tuple::{Direction, StoredKey, Tuple};
use crate::verdict::Handle;

/// One connection entry.
///
/// In C order, so that what a lookup reads (key, zone, status, generation,
/// deadline, link) comes first, next to the start of the protocol state:
/// one cache line for most entries rather than both ends of the slot.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
pub(crate) struct Entry {
    /// Canonical tuple of the connection (with feature `ipv4-only`, its
    /// IPv4 fields only).
    pub key: StoredKey,
    pub zone: u16,
    pub status: Status,
    /// Which of the entries that held this slot it is (see [`Handle`]).
    pub generation: u16,
    /// The deadline, and which tuple is the original one and the
    /// extension slot ([`Entry::deadline`], [`Entry::link`]).
    timing: Timing,
    pub proto: ProtoState,
    /// Mark, labels, counters, start time: empty without features
    /// `ct-mark` and `ct-acct` (see [`Extra`]).
    pub extra: Extra,
}

/// An entry's 40-bit deadline ([`Tick`]) and 24-bit [`Link`] in 8 bytes,
/// each part at its natural alignment: a microcontroller without
/// unaligned loads (Cortex-M0, RISC-V) reads them in whole halfwords and
/// words.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
struct Timing {
    deadline_low: u32,
    deadline_high: u8,
    link_high: u8,
    link_low: u16,
}

/// Three facts in 24 bits, to keep the entry small: whether the original
/// tuple is the canonical key (the top bit), whether the entry's
/// extension names a helper (the next: a packet's confirmation then runs
/// it, and only then need it read the extension), and the index + 1 of
/// the entry's extension slot (0 = none) in the other 22.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link(u32);

impl Link {
    const ORIG_IS_KEY: u32 = 1 << 23;
    const HELPED: u32 = 1 << 22;
    /// Most extension slots a table can use.
    pub const MAX_EXT: usize = (1 << 22) - 1;

    /// The link of an entry whose original tuple is (`orig_is_key`) or is
    /// not its key, with extension slot `ext`, which names a helper or not
    /// (`helped`; a helper is given with the extension, and kept).
    #[inline]
    pub fn new(orig_is_key: bool, ext: Option<usize>, helped: bool) -> Link {
        let e = ext.map_or(0, |i| (i + 1).min(Self::MAX_EXT) as u32);
        let helped = if ext.is_some() && helped { Self::HELPED } else { 0 };
        Link(e | helped | if orig_is_key { Self::ORIG_IS_KEY } else { 0 })
    }

    #[inline]
    pub fn orig_is_key(self) -> bool {
        self.0 & Self::ORIG_IS_KEY != 0
    }

    /// Whether the entry's extension names a helper.
    #[inline]
    pub fn helped(self) -> bool {
        self.0 & Self::HELPED != 0
    }

    #[inline]
    pub fn ext(self) -> Option<usize> {
        match self.0 & (Self::HELPED - 1) {
            0 => None,
            i => Some(i as usize - 1),
        }
    }
}

impl Entry {
    /// A new entry of `key` in `zone`, the slot's `generation`th, with
    /// protocol state `proto`, expiring at `deadline`, linked by `link`
    /// (no status bits, marks or counters yet).
    pub fn new(
        key: StoredKey,
        zone: u16,
        generation: u16,
        proto: ProtoState,
        deadline: Tick,
        link: Link,
    ) -> Entry {
        let mut e = Entry { key, zone, generation, proto, ..Entry::ZERO };
        e.set_deadline(deadline);
        e.set_link(link);
        e
    }

    /// Where the deadline and the link are in an entry (the list of
    /// unused slots asks for their line early).
    pub const TIMING_AT: usize = core::mem::offset_of!(Entry, timing);

    /// When the entry expires.
    #[inline(always)]
    pub fn deadline(&self) -> Tick {
        Tick::from_parts(self.timing.deadline_low, self.timing.deadline_high)
    }

    #[inline(always)]
    pub fn set_deadline(&mut self, t: Tick) {
        (self.timing.deadline_low, self.timing.deadline_high) = t.parts();
    }

    /// Which tuple is the original one, and the extension slot.
    #[inline(always)]
    pub fn link(&self) -> Link {
        Link(u32::from(self.timing.link_high) << 16 | u32::from(self.timing.link_low))
    }

    #[inline(always)]
    pub fn set_link(&mut self, l: Link) {
        self.timing.link_high = (l.0 >> 16) as u8;
        self.timing.link_low = l.0 as u16;
    }

    /// The link's low 16 bits, where an unused slot keeps half a link of
    /// the list of unused slots (`free.rs`).
    #[inline(always)]
    pub fn link_low_bits(&self) -> u16 {
        self.timing.link_low
    }

    #[inline(always)]
    pub fn set_link_low_bits(&mut self, bits: u16) {
        self.timing.link_low = bits;
    }
}

impl Entry {
    pub fn orig(&self) -> Tuple {
        let key = self.key.tuple();
        if self.link().orig_is_key() { key } else { key.invert().unwrap_or(key) }
    }

    pub fn reply(&self) -> Tuple {
        let key = self.key.tuple();
        if self.link().orig_is_key() { key.invert().unwrap_or(key) } else { key }
    }

    /// The direction of a packet whose tuple is (`is_key`) or is not the
    /// entry's canonical key.
    ///
    /// A flow from an endpoint to itself has two equal tuples, and a packet
    /// of it found in the table is in the reply direction: Linux links the
    /// reply tuple into the hash chain after the original one, both at the
    /// head of the same bucket (`nf_conntrack_core.c:
    /// __nf_conntrack_hash_insert()`), and a lookup walks the chain from
    /// its head. (The packet that creates the entry is original.)
    #[inline(always)]
    pub fn direction(&self, is_key: bool) -> Direction {
        if self.key.is_own_inverse() {
            return Direction::Reply;
        }
        if self.link().orig_is_key() == is_key { Direction::Original } else { Direction::Reply }
    }

    /// Ask for the cache lines a packet's lookup and tracker read: those
    /// of the first and the last byte a UDP packet reads (the key's
    /// first, the end of the protocol state's discriminant and stream
    /// deadline, 8 bytes), one or two lines; for a TCP segment (`tcp`),
    /// whose state runs to the entry's end, the last line too. A batch
    /// asks so a few packets ahead (`ConnTable::track_batch`). (Asking
    /// for the last line of every entry measured slower for UDP.)
    #[inline(always)]
    pub fn prefetch(&self, tcp: bool) {
        crate::prefetch::line(self, 0);
        crate::prefetch::line(self, core::mem::offset_of!(Entry, proto) + 7);
        if tcp {
            crate::prefetch::line(self, core::mem::size_of::<Entry>() - 1);
        }
    }

    /// The handle of this entry, in slot `i`.
    pub fn handle(&self, i: usize) -> Handle {
        Handle { index: i as u32, generation: self.generation }
    }

    pub fn expired(&self, now: Tick) -> bool {
        !self.deadline().is_after(now)
    }

    /// Whether [`ConnTable::gc`](super::ConnTable::gc) under pressure may
    /// evict it (`nf_conntrack_core.c: gc_worker()`: not skipped by
    /// `gc_worker_skip_ct()`, so confirmed, and `gc_worker_can_early_drop()`:
    /// not ASSURED, or in a closing state).
    pub fn evictable_under_pressure(&self) -> bool {
        self.status.contains(Status::CONFIRMED)
            && (!self.status.contains(Status::ASSURED) || self.proto.can_early_drop())
    }

    pub fn refresh(&mut self, now: Tick, secs: u32) {
        if !self.status.contains(Status::FIXED_TIMEOUT) {
            self.set_deadline(now.after_secs(secs));
        }
    }

    /// A tracker accepted a packet of `len` bytes in direction `dir`, with
    /// a new timeout of `timeout` seconds (`None`: keep the deadline) and
    /// `assure`.
    ///
    /// `nf_conntrack_core.c: __nf_ct_refresh_acct()` counts the packet
    /// (fixed timeout or not). An accept without a timeout is a tracker's
    /// early `return NF_ACCEPT` that skips it (a TCP SYN retransmitted in
    /// SYN_SENT, an SCTP INIT in CLOSED): not counted.
    #[inline(always)]
    pub fn accept(
        &mut self,
        now: Tick,
        dir: Direction,
        timeout: Option<u32>,
        assure: bool,
        cfg: &crate::Config,
        len: u32,
    ) {
        if let Some(secs) = timeout {
            self.refresh(now, secs);
            #[cfg(feature = "ct-acct")]
            if cfg.acct {
                self.extra.count(dir, len);
            }
        }
        #[cfg(not(feature = "ct-acct"))]
        let _ = (dir, cfg, len);
        if assure {
            self.status.insert(Status::ASSURED);
        }
    }
}

impl Entry {
    /// An unused slot's content: all zero (generation 0 marks it unused).
    pub(crate) const ZERO: Entry = Entry {
        key: StoredKey::ZERO,
        zone: 0,
        status: Status::empty(),
        generation: 0,
        timing: Timing { deadline_low: 0, deadline_high: 0, link_high: 0, link_low: 0 },
        proto: ProtoState::ZERO,
        extra: Extra::ZERO,
    };
}

/// Bytes of an entry, besides what features `ct-mark` and `ct-acct` add:
/// 52 for the key, zone, links, status, deadline and generation (28 with
/// feature `ipv4-only`, whose key is 14 bytes instead of 38), and the
/// protocol state, whose largest member is TCP's (56 bytes; with feature
/// `compact-tcp` 32, 28 with `ipv4-only` too). Checked in every build.
pub(crate) const ENTRY_BYTES: usize = if cfg!(feature = "ipv4-only") { 28 } else { 52 }
    + match (cfg!(feature = "compact-tcp"), cfg!(feature = "ipv4-only")) {
        (false, _) => 56,
        (true, false) => 32,
        (true, true) => 28,
    };
const _: () = assert!(core::mem::size_of::<Entry>() - core::mem::size_of::<Extra>() == ENTRY_BYTES);

/// Storage for one entry. Build arrays of them with [`Slot::EMPTY`], which
/// is all zero: a `static` array of slots goes to `.bss` and costs no
/// flash.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Slot(pub(crate) Entry);

impl Slot {
    /// An unused slot (all zero).
    pub const EMPTY: Slot = Slot(Entry::ZERO);

    /// The entry the slot holds, if any.
    pub(crate) fn entry(&self) -> Option<&Entry> {
        (self.0.generation != 0).then_some(&self.0)
    }

    pub(crate) fn entry_mut(&mut self) -> Option<&mut Entry> {
        (self.0.generation != 0).then_some(&mut self.0)
    }
}

pub(super) mod sealed {
    pub trait Sealed {}
}

/// The memory of a table: entry slots, the index that finds them (two
/// 32-bit words per slot: see [`BUCKET_WORDS`](super::BUCKET_WORDS)),
/// extension slots (one per connection that has a helper, a master or a
/// rewritten reply tuple) and expectation slots. Implemented by
/// [`FixedStorage`], [`SliceStorage`], [`HeapStorage`] and
/// [`GrowableStorage`] only (the trait is sealed: the table relies on what
/// they guarantee).
pub trait Storage: sealed::Sealed {
    /// The arrays.
    #[doc(hidden)]
    fn parts(&self) -> Parts<'_>;
    /// The arrays, mutable.
    #[doc(hidden)]
    fn parts_mut(&mut self) -> PartsMut<'_>;
    /// The entry slots alone: [`Storage::parts`]'s, without taking the
    /// index (whose bounds a heap storage tests each time).
    #[doc(hidden)]
    #[inline(always)]
    fn slots(&self) -> &[Slot] {
        self.parts().slots
    }
    /// The extension slots alone (see [`Storage::slots`]).
    #[doc(hidden)]
    #[inline(always)]
    fn exts(&self) -> &[ExtSlot] {
        self.parts().exts
    }
    /// Where the bucket index's words start and how many there are (those
    /// of [`Storage::parts`]; `None` for a map), without taking the
    /// index: for a prefetch, which needs an address and no bounds test.
    #[doc(hidden)]
    #[inline(always)]
    fn index_words_at(&self) -> Option<(*const u32, usize)> {
        match self.parts().index {
            IndexRef::Buckets(w) => Some((w.as_ptr(), w.len())),
            #[cfg(feature = "alloc")]
            IndexRef::Map(_) => None,
        }
    }
    /// Add unused slots at the end, if this storage grows; returns whether
    /// it did.
    #[doc(hidden)]
    fn grow(&mut self) -> bool {
        false
    }
    /// The events the storage's sink wants (none: the table builds no
    /// event). See [`WithEvents`](super::WithEvents).
    #[doc(hidden)]
    fn event_mask(&self) -> EventMask {
        EventMask::NONE
    }
    /// The sink of the table's events, if it has one.
    #[doc(hidden)]
    fn event_sink(&mut self) -> Option<&mut dyn EventSink> {
        None
    }
}

/// The arrays of a [`Storage`].
#[doc(hidden)]
pub struct Parts<'a> {
    pub(crate) slots: &'a [Slot],
    pub(crate) index: IndexRef<'a>,
    pub(crate) exts: &'a [ExtSlot],
    pub(crate) expects: &'a [ExpectSlot],
}

/// The arrays of a [`Storage`], mutable.
#[doc(hidden)]
pub struct PartsMut<'a> {
    pub(crate) slots: &'a mut [Slot],
    pub(crate) index: IndexMut<'a>,
    pub(crate) exts: &'a mut [ExtSlot],
    pub(crate) expects: &'a mut [ExpectSlot],
}

/// The slots a bucket index of `words` words can serve: two words per slot,
/// at most [`MAX_SLOTS`].
fn slots_for(slots: usize, words: usize) -> usize {
    slots.min(words / 2).min(MAX_SLOTS)
}

/// Index words for `N` slots, aligned to a cache line so that a bucket is
/// one line.
#[repr(C, align(64))]
struct IndexWords<const N: usize>([[u32; 2]; N]);

/// Storage of `N` entries, `X` extensions and `E` expectations, fixed at
/// compile time; needs no allocator. Its empty state is all zero, so a
/// `static` of it is placed in `.bss`.
pub struct FixedStorage<const N: usize, const X: usize, const E: usize> {
    slots: [Slot; N],
    index: IndexWords<N>,
    exts: [ExtSlot; X],
    expects: [ExpectSlot; E],
}

impl<const N: usize, const X: usize, const E: usize> FixedStorage<N, X, E> {
    /// Empty storage (a `const fn`, so it can initialise a `static`).
    pub const fn new() -> Self {
        FixedStorage {
            slots: [Slot::EMPTY; N],
            index: IndexWords([[0; 2]; N]),
            exts: [ExtSlot::EMPTY; X],
            expects: [ExpectSlot::EMPTY; E],
        }
    }
}

impl<const N: usize, const X: usize, const E: usize> Default for FixedStorage<N, X, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const X: usize, const E: usize> sealed::Sealed for FixedStorage<N, X, E> {}

impl<const N: usize, const X: usize, const E: usize> Storage for FixedStorage<N, X, E> {
    #[inline(always)]
    fn parts(&self) -> Parts<'_> {
        let n = slots_for(N, 2 * N);
        Parts {
            slots: &self.slots[..n],
            index: IndexRef::Buckets(self.index.0.as_flattened()),
            exts: &self.exts,
            expects: &self.expects,
        }
    }
    #[inline(always)]
    fn parts_mut(&mut self) -> PartsMut<'_> {
        let n = slots_for(N, 2 * N);
        PartsMut {
            slots: &mut self.slots[..n],
            index: IndexMut::Buckets(self.index.0.as_flattened_mut()),
            exts: &mut self.exts,
            expects: &mut self.expects,
        }
    }
}

/// Storage borrowed from elsewhere, e.g. `static` buffers in firmware.
///
/// ```
/// use ctrack::{Config, ConnTable, ExpectSlot, ExtSlot, HashKey, Slot, SliceStorage};
///
/// let mut slots = [Slot::EMPTY; 128];
/// let mut index = [0u32; 256];
/// let mut exts = [ExtSlot::EMPTY; 8];
/// let mut expects = [ExpectSlot::EMPTY; 8];
/// let storage = SliceStorage::new(&mut slots, &mut index, &mut exts, &mut expects);
/// let table = ConnTable::with_storage(storage, HashKey([9; 16]), Config::default());
/// assert_eq!(table.capacity(), 128);
/// ```
pub struct SliceStorage<'a> {
    slots: &'a mut [Slot],
    index: &'a mut [u32],
    exts: &'a mut [ExtSlot],
    expects: &'a mut [ExpectSlot],
}

impl<'a> SliceStorage<'a> {
    /// Storage over entry slots, index words (two per slot), extension
    /// slots and expectation slots. The table has as many entries as
    /// `slots` has elements, or as `index` has pairs of words if fewer
    /// (and at most [`MAX_SLOTS`]); index words beyond the first 2^30
    /// are left unused.
    pub fn new(
        slots: &'a mut [Slot],
        index: &'a mut [u32],
        exts: &'a mut [ExtSlot],
        expects: &'a mut [ExpectSlot],
    ) -> Self {
        let (index, _) = index.split_at_mut(index.len().min(super::index::MAX_WORDS));
        let n = slots_for(slots.len(), index.len());
        let (slots, _) = slots.split_at_mut(n);
        SliceStorage { slots, index, exts, expects }
    }
}

impl sealed::Sealed for SliceStorage<'_> {}

impl Storage for SliceStorage<'_> {
    #[inline(always)]
    fn parts(&self) -> Parts<'_> {
        Parts {
            slots: self.slots,
            index: IndexRef::Buckets(self.index),
            exts: self.exts,
            expects: self.expects,
        }
    }
    #[inline(always)]
    fn parts_mut(&mut self) -> PartsMut<'_> {
        PartsMut {
            slots: self.slots,
            index: IndexMut::Buckets(self.index),
            exts: self.exts,
            expects: self.expects,
        }
    }
}

/// Heap storage sized at run time (feature `alloc`), with the bucket index
/// of the fixed storage: allocated once, never grows.
#[cfg(feature = "alloc")]
pub struct HeapStorage {
    slots: alloc::vec::Vec<Slot>,
    /// The index words, from `index_at` to the end: the vector was
    /// allocated a bucket longer than needed, so that the words can start
    /// on a cache line, and cut to end with them (one bounds test to take
    /// them, not two).
    index: alloc::vec::Vec<u32>,
    index_at: usize,
    exts: alloc::vec::Vec<ExtSlot>,
    expects: alloc::vec::Vec<ExpectSlot>,
}

#[cfg(feature = "alloc")]
impl HeapStorage {
    /// Storage of `entries` entry slots (at most [`MAX_SLOTS`]), `exts`
    /// extension slots and `expects` expectation slots.
    pub fn new(entries: usize, exts: usize, expects: usize) -> Self {
        let entries = entries.min(MAX_SLOTS);
        let mut index = alloc::vec![0u32; 2 * entries + BUCKET_WORDS];
        // The first word on a 64-byte boundary (reading an address is
        // safe; it only chooses an offset).
        let index_at = (64 - index.as_ptr() as usize % 64) % 64 / 4;
        // (Shortening never moves a vector.)
        index.truncate(index_at + 2 * entries);
        HeapStorage {
            slots: alloc::vec![Slot::EMPTY; entries],
            index,
            index_at,
            exts: alloc::vec![ExtSlot::EMPTY; exts],
            expects: alloc::vec![ExpectSlot::EMPTY; expects],
        }
    }
}

#[cfg(feature = "alloc")]
impl sealed::Sealed for HeapStorage {}

#[cfg(feature = "alloc")]
impl Storage for HeapStorage {
    #[inline(always)]
    fn parts(&self) -> Parts<'_> {
        // The words' end said as twice the slots (the vector's end, where
        // it is): a lookup, which compares with the slots' count too, then
        // keeps fewer values (an established UDP packet 11 instructions
        // fewer than with the words to the vector's end, measured).
        Parts {
            slots: &self.slots,
            index: IndexRef::Buckets(&self.index[self.index_at..self.index_at + 2 * self.slots.len()]),
            exts: &self.exts,
            expects: &self.expects,
        }
    }
    // (Without the index's bounds tests, which `parts` makes and the
    // compiler keeps: a NATed flow's packet, whose confirmation reads its
    // entry and extension again, 8 x86 instructions fewer, its
    // translation 7 more, a new flow 10, measured.)
    #[inline(always)]
    fn slots(&self) -> &[Slot] {
        &self.slots
    }
    #[inline(always)]
    fn exts(&self) -> &[ExtSlot] {
        &self.exts
    }
    #[inline(always)]
    fn index_words_at(&self) -> Option<(*const u32, usize)> {
        // `parts`'s words, without its bounds test (the pointer is only
        // computed, never read through).
        Some((self.index.as_ptr().wrapping_add(self.index_at), 2 * self.slots.len()))
    }
    #[inline(always)]
    fn parts_mut(&mut self) -> PartsMut<'_> {
        // The words to the vector's end: one bounds test (a new flow takes
        // the parts several times: 26 instructions fewer, measured).
        PartsMut {
            slots: &mut self.slots,
            index: IndexMut::Buckets(self.index.get_mut(self.index_at..).unwrap_or_default()),
            exts: &mut self.exts,
            expects: &mut self.expects,
        }
    }
}

/// Storage that grows (feature `alloc`): slots are added as connections
/// come, up to [`Config::max_entries`](crate::Config) (0: no limit but
/// memory), and the index is a `hashbrown::HashTable`. Same verdicts as the
/// fixed storage; where it differs (which entry an early drop evicts) is
/// documented at [`ConnTable::growable`](super::ConnTable::growable).
#[cfg(feature = "alloc")]
pub struct GrowableStorage {
    slots: alloc::vec::Vec<Slot>,
    index: hashbrown::HashTable<u64>,
    exts: alloc::vec::Vec<ExtSlot>,
    expects: alloc::vec::Vec<ExpectSlot>,
}

#[cfg(feature = "alloc")]
impl GrowableStorage {
    /// Empty storage with room for `entries` entries before it first grows,
    /// and fixed pools of `exts` extension and `expects` expectation slots.
    pub fn new(entries: usize, exts: usize, expects: usize) -> Self {
        GrowableStorage {
            slots: alloc::vec![Slot::EMPTY; entries.min(MAX_GROWABLE)],
            index: hashbrown::HashTable::with_capacity(entries.min(MAX_GROWABLE)),
            exts: alloc::vec![ExtSlot::EMPTY; exts],
            expects: alloc::vec![ExpectSlot::EMPTY; expects],
        }
    }
}

/// Most slots a growable table has (its positions name a slot in 31 bits).
#[cfg(feature = "alloc")]
pub const MAX_GROWABLE: usize = (1 << 31) - 1;

#[cfg(feature = "alloc")]
impl sealed::Sealed for GrowableStorage {}

#[cfg(feature = "alloc")]
impl Storage for GrowableStorage {
    #[inline(always)]
    fn parts(&self) -> Parts<'_> {
        Parts {
            slots: &self.slots,
            index: IndexRef::Map(&self.index),
            exts: &self.exts,
            expects: &self.expects,
        }
    }
    #[inline(always)]
    fn parts_mut(&mut self) -> PartsMut<'_> {
        PartsMut {
            slots: &mut self.slots,
            index: IndexMut::Map(&mut self.index),
            exts: &mut self.exts,
            expects: &mut self.expects,
        }
    }
    fn grow(&mut self) -> bool {
        let n = self.slots.len();
        if n >= MAX_GROWABLE {
            return false;
        }
        let more = n.clamp(64, MAX_GROWABLE - n);
        self.slots.resize(n + more, Slot::EMPTY);
        true
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize, const X: usize, const E: usize> defmt::Format for FixedStorage<N, X, E> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "FixedStorage({=usize}, {=usize}, {=usize})", N, X, E);
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for SliceStorage<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        let (n, x, e) = (self.slots.len(), self.exts.len(), self.expects.len());
        defmt::write!(f, "SliceStorage({=usize}, {=usize}, {=usize})", n, x, e);
    }
}

#[cfg(all(feature = "defmt", feature = "alloc"))]
impl defmt::Format for HeapStorage {
    fn format(&self, f: defmt::Formatter<'_>) {
        let (n, x, e) = (self.slots.len(), self.exts.len(), self.expects.len());
        defmt::write!(f, "HeapStorage({=usize}, {=usize}, {=usize})", n, x, e);
    }
}

#[cfg(all(feature = "defmt", feature = "alloc"))]
impl defmt::Format for GrowableStorage {
    fn format(&self, f: defmt::Formatter<'_>) {
        let (n, x, e) = (self.slots.len(), self.exts.len(), self.expects.len());
        defmt::write!(f, "GrowableStorage({=usize}, {=usize}, {=usize})", n, x, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap storage's index is two words a slot, read and written alike,
    /// starting on a cache line.
    #[cfg(feature = "alloc")]
    #[test]
    fn heap_index_words() {
        for entries in [0, 1, 7, 8, 100, 4096] {
            let mut s = HeapStorage::new(entries, 1, 1);
            let IndexRef::Buckets(w) = s.parts().index else { panic!("buckets") };
            assert_eq!((w.len(), w.as_ptr() as usize % 64), (2 * entries, 0));
            let at = w.as_ptr() as usize;
            let IndexMut::Buckets(w) = s.parts_mut().index else { panic!("buckets") };
            assert_eq!((w.len(), w.as_ptr() as usize), (2 * entries, at));
        }
    }

    /// `index_words_at` names the words `parts` gives, for every storage
    /// (the prefetch of a key's home bucket and the search that reads it
    /// count the buckets alike); a map has none.
    #[test]
    fn index_words_at_names_the_parts_words() {
        fn check<S: Storage>(s: &S) {
            let want = match s.parts().index {
                IndexRef::Buckets(w) => Some((w.as_ptr(), w.len())),
                #[cfg(feature = "alloc")]
                IndexRef::Map(_) => None,
            };
            assert_eq!(s.index_words_at(), want);
        }
        check(&FixedStorage::<64, 4, 4>::new());
        check(&FixedStorage::<1, 1, 1>::new());
        let (mut slots, mut index, mut exts, mut expects) =
            ([Slot::EMPTY; 8], [0u32; 12], [ExtSlot::EMPTY; 2], [ExpectSlot::EMPTY; 2]);
        check(&SliceStorage::new(&mut slots, &mut index, &mut exts, &mut expects));
        #[cfg(feature = "alloc")]
        for entries in [0, 1, 7, 100] {
            check(&HeapStorage::new(entries, 1, 1));
            check(&GrowableStorage::new(entries, 1, 1));
        }
        check(&super::super::WithEvents::new(
            FixedStorage::<16, 2, 2>::new(),
            super::super::EventRing::<4>::new(),
        ));
    }

    /// The memory per connection slot: 108 bytes (dual-stack), 84 with
    /// feature `compact-tcp`, 84 with `ipv4-only`, 56 with both; and 8 of
    /// index (two index words a slot).
    #[test]
    fn slot_size() {
        // The TCP state's spare values tag the protocol state: no extra tag.
        assert_eq!(core::mem::size_of::<ProtoState>(), core::mem::size_of::<crate::proto::tcp::TcpConn>());
        // Features `ct-mark` and `ct-acct` add their fields (see `Extra`);
        // without them the entry keeps its size.
        let extra = core::mem::size_of::<Extra>();
        assert_eq!(core::mem::size_of::<Slot>(), ENTRY_BYTES + extra);
        // The 5-byte deadline and 3-byte link fill 8 bytes.
        assert_eq!(core::mem::size_of::<Timing>(), 8);
    }

    #[test]
    fn link_packs_its_facts() {
        for orig_is_key in [true, false] {
            for helped in [true, false] {
                for ext in [
                    None,
                    Some(0),
                    Some(5),
                    Some(0xfffe),
                    Some(0xffff),
                    Some(0x1_0000),
                    Some(Link::MAX_EXT - 1),
                ] {
                    let l = Link::new(orig_is_key, ext, helped);
                    let mut e = Entry::ZERO;
                    e.set_link(l);
                    assert_eq!(e.link(), l);
                    // (No helper without an extension.)
                    let want = (orig_is_key, ext, helped && ext.is_some());
                    assert_eq!((l.orig_is_key(), l.ext(), l.helped()), want, "{want:?}");
                }
            }
        }
    }
}
