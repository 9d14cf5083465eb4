//! The memory of a table: entry slots, extension slots and expectation
//! slots, in a fixed array, a borrowed slice or (feature `alloc`) a heap
//! vector; and what one entry holds.

use crate::expect::ExpectSlot;
use crate::helper::ExtSlot;
use crate::proto::ProtoState;
use crate::status::Status;
use crate::time::Tick;
use crate::tuple::{Direction, Tuple};
use crate::verdict::Handle;

/// One connection entry.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Entry {
    /// Canonical tuple of the connection.
    pub key: Tuple,
    pub zone: u16,
    /// Which tuple is the original one, and the extension slot.
    pub link: Link,
    pub status: Status,
    pub deadline: Tick,
    /// Which of the entries that held this slot it is (see [`Handle`]).
    pub generation: u16,
    pub proto: ProtoState,
}

/// Two facts in 16 bits, to keep the entry small: whether the original
/// tuple is the canonical key (bit 15), and the index + 1 of the entry's
/// extension slot (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Link(u16);

impl Link {
    const ORIG_IS_KEY: u16 = 0x8000;
    /// Most extension slots a table can use.
    pub const MAX_EXT: usize = 0x7fff;

    pub fn new(orig_is_key: bool, ext: Option<usize>) -> Link {
        let e = ext.map_or(0, |i| (i + 1).min(Self::MAX_EXT) as u16);
        Link(if orig_is_key { Self::ORIG_IS_KEY } else { 0 } | e)
    }

    pub fn orig_is_key(self) -> bool {
        self.0 & Self::ORIG_IS_KEY != 0
    }

    pub fn ext(self) -> Option<usize> {
        match self.0 & !Self::ORIG_IS_KEY {
            0 => None,
            i => Some(usize::from(i) - 1),
        }
    }
}

impl Entry {
    pub fn orig(&self) -> Tuple {
        if self.link.orig_is_key() { self.key } else { self.key.invert().unwrap_or(self.key) }
    }

    pub fn reply(&self) -> Tuple {
        if self.link.orig_is_key() { self.key.invert().unwrap_or(self.key) } else { self.key }
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
    pub fn direction(&self, is_key: bool) -> Direction {
        if self.key.is_own_inverse() {
            return Direction::Reply;
        }
        if self.link.orig_is_key() == is_key { Direction::Original } else { Direction::Reply }
    }

    /// The handle of this entry, in slot `i`.
    pub fn handle(&self, i: usize) -> Handle {
        Handle { index: i as u32, generation: self.generation }
    }

    pub fn expired(&self, now: Tick) -> bool {
        !self.deadline.is_after(now)
    }

    pub fn refresh(&mut self, now: Tick, secs: u32) {
        if !self.status.contains(Status::FIXED_TIMEOUT) {
            self.deadline = now.after_secs(secs);
        }
    }
}

/// Storage for one entry. Build arrays of them with [`Slot::EMPTY`].
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Slot(pub(crate) SlotState);

#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum SlotState {
    Empty,
    Used(Entry),
}

impl Slot {
    /// An unused slot.
    pub const EMPTY: Slot = Slot(SlotState::Empty);
}

mod sealed {
    pub trait Sealed {}
}

/// The memory of a table: entry slots with one tag byte each (the index:
/// 0 for a free slot, else a few bits of the entry's hash), extension
/// slots (one per connection that has a helper or a master) and expectation
/// slots. Implemented by [`FixedStorage`], [`SliceStorage`] and
/// [`HeapStorage`] only (the trait is sealed: the table relies on what they
/// guarantee, e.g. as many tags as slots).
pub trait Storage: sealed::Sealed {
    /// The four arrays.
    fn parts(&self) -> Parts<'_>;
    /// The four arrays, mutable.
    fn parts_mut(&mut self) -> PartsMut<'_>;
}

/// The arrays of a [`Storage`].
pub type Parts<'a> = (&'a [Slot], &'a [u8], &'a [ExtSlot], &'a [ExpectSlot]);
/// The arrays of a [`Storage`], mutable.
pub type PartsMut<'a> = (&'a mut [Slot], &'a mut [u8], &'a mut [ExtSlot], &'a mut [ExpectSlot]);

/// Storage of `N` entries, `X` extensions and `E` expectations, fixed at
/// compile time; needs no allocator.
pub struct FixedStorage<const N: usize, const X: usize, const E: usize> {
    slots: [Slot; N],
    tags: [u8; N],
    exts: [ExtSlot; X],
    expects: [ExpectSlot; E],
}

impl<const N: usize, const X: usize, const E: usize> FixedStorage<N, X, E> {
    /// Empty storage (a `const fn`, so it can initialise a `static`).
    pub const fn new() -> Self {
        FixedStorage {
            slots: [Slot::EMPTY; N],
            tags: [0; N],
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
    fn parts(&self) -> Parts<'_> {
        (&self.slots, &self.tags, &self.exts, &self.expects)
    }
    fn parts_mut(&mut self) -> PartsMut<'_> {
        (&mut self.slots, &mut self.tags, &mut self.exts, &mut self.expects)
    }
}

/// Storage borrowed from elsewhere, e.g. `static` buffers in firmware.
///
/// ```
/// use ctrack::{Config, ConnTable, ExpectSlot, ExtSlot, HashKey, Slot, SliceStorage};
///
/// let mut slots = [Slot::EMPTY; 128];
/// let mut tags = [0u8; 128];
/// let mut exts = [ExtSlot::EMPTY; 8];
/// let mut expects = [ExpectSlot::EMPTY; 8];
/// let storage = SliceStorage::new(&mut slots, &mut tags, &mut exts, &mut expects);
/// let table = ConnTable::with_storage(storage, HashKey([9; 16]), Config::default());
/// assert_eq!(table.capacity(), 128);
/// ```
pub struct SliceStorage<'a> {
    slots: &'a mut [Slot],
    tags: &'a mut [u8],
    exts: &'a mut [ExtSlot],
    expects: &'a mut [ExpectSlot],
}

impl<'a> SliceStorage<'a> {
    /// Storage over entry slots, their tags (a byte per slot), extension
    /// slots and expectation slots. The table has as many entries as the
    /// shorter of `slots` and `tags`.
    pub fn new(
        slots: &'a mut [Slot],
        tags: &'a mut [u8],
        exts: &'a mut [ExtSlot],
        expects: &'a mut [ExpectSlot],
    ) -> Self {
        let n = slots.len().min(tags.len());
        let (slots, _) = slots.split_at_mut(n);
        let (tags, _) = tags.split_at_mut(n);
        SliceStorage { slots, tags, exts, expects }
    }
}

impl sealed::Sealed for SliceStorage<'_> {}

impl Storage for SliceStorage<'_> {
    fn parts(&self) -> Parts<'_> {
        (self.slots, self.tags, self.exts, self.expects)
    }
    fn parts_mut(&mut self) -> PartsMut<'_> {
        (self.slots, self.tags, self.exts, self.expects)
    }
}

/// Heap storage sized at run time (feature `alloc`).
#[cfg(feature = "alloc")]
pub struct HeapStorage {
    slots: alloc::vec::Vec<Slot>,
    tags: alloc::vec::Vec<u8>,
    exts: alloc::vec::Vec<ExtSlot>,
    expects: alloc::vec::Vec<ExpectSlot>,
}

#[cfg(feature = "alloc")]
impl HeapStorage {
    /// Storage of `entries` entry slots, `exts` extension slots and
    /// `expects` expectation slots.
    pub fn new(entries: usize, exts: usize, expects: usize) -> Self {
        HeapStorage {
            slots: alloc::vec![Slot::EMPTY; entries],
            tags: alloc::vec![0; entries],
            exts: alloc::vec![ExtSlot::EMPTY; exts],
            expects: alloc::vec![ExpectSlot::EMPTY; expects],
        }
    }
}

#[cfg(feature = "alloc")]
impl sealed::Sealed for HeapStorage {}

#[cfg(feature = "alloc")]
impl Storage for HeapStorage {
    fn parts(&self) -> Parts<'_> {
        (&self.slots, &self.tags, &self.exts, &self.expects)
    }
    fn parts_mut(&mut self) -> PartsMut<'_> {
        (&mut self.slots, &mut self.tags, &mut self.exts, &mut self.expects)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory budget per connection slot (dual-stack). The goal is 96
    /// bytes; this guards against growth while the TCP state is slimmed.
    #[test]
    fn slot_size() {
        // The TCP state's spare values tag the protocol state: no extra tag.
        assert_eq!(core::mem::size_of::<ProtoState>(), core::mem::size_of::<crate::proto::tcp::TcpConn>());
        assert!(core::mem::size_of::<Slot>() <= 108, "{}", core::mem::size_of::<Slot>());
        assert!(core::mem::size_of::<Link>() == 2);
    }

    #[test]
    fn link_packs_both_facts() {
        let l = Link::new(true, Some(5));
        assert!(l.orig_is_key());
        assert_eq!(l.ext(), Some(5));
        let l = Link::new(false, None);
        assert!(!l.orig_is_key());
        assert_eq!(l.ext(), None);
    }
}
