//! The unused slots of the arena: a doubly linked list threaded through
//! them, from which a new entry takes, in constant time, either the slot
//! its key's hash prefers ([`Place::preferred`](super::index::Place)) or
//! the list's first slot.
//!
//! Why a preferred slot: a lookup reads the key's index bucket and then the
//! entry the bucket names, two cache misses one after the other. An entry
//! that sits in the slot its key's hash names can be asked for at the same
//! time as its bucket, before the bucket has arrived
//! ([`ConnTable::ask_place`](super::ConnTable)), and the second miss
//! is then hidden behind the first. A slot is taken only while it is unused,
//! so this costs no memory; it takes the list's links in both directions,
//! as the slot may be anywhere in the list.
//!
//! The links live in the unused slot itself, in fields a used slot needs
//! and an unused one does not: the next slot in the deadline's low 32
//! bits, the previous one in the zone and the link's low 16 bits. Each is
//! stored as the difference from the slot's neighbour (the next slot's
//! index, the previous slot's), so that all zero means "the slots on
//! either side": an all-zero arena (a
//! `static` table in `.bss`, a heap table just built, the slots a growable
//! table just added) is already one list, in order, without any work to
//! build it. Each link is written with a plain store, none after a read of
//! its slot: a slot that leaves or joins the list reads nothing of the
//! slots beside it in the list. The two stores of a slot taken from the
//! middle wait for the list's next operation, their lines asked for
//! meanwhile, since they lie anywhere in the arena.
//!
//! The first slot's backward link is never read (it may be stale): taking
//! the first slot reads and writes nothing but that slot's forward link.
//! Whichever slot becomes first is asked for then ([`FreeList::set_head`]):
//! the next new entry that cannot have its preferred slot reads it, and
//! it too lies anywhere in the arena.

use super::storage::{Entry, Slot};
use crate::time::Tick;

/// "No slot" in a link (any index past the arena's end reads the same).
const NONE: u32 = u32::MAX;

/// The list of unused slots: where it starts. All zero (the first slot
/// first) for an all-zero arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FreeList {
    /// The first unused slot; past the arena's end when there is none.
    head: u32,
    /// A slot taken from the middle of the list whose neighbours still
    /// link to it: its predecessor + 1 (0: none) and its successor. Their
    /// links are written at the list's next operation ([`FreeList::settle`]),
    /// their lines asked for meanwhile: they lie anywhere in the arena,
    /// and a store that misses the cache would hold up every store after
    /// it.
    stale_before: u32,
    stale_after: u32,
}

impl FreeList {
    /// The list of an all-zero arena: every slot, in order.
    pub const ALL: FreeList = FreeList { head: 0, stale_before: 0, stale_after: 0 };

    /// The first unused slot, if any.
    #[inline]
    pub fn first(self, slots: &[Slot]) -> Option<usize> {
        let h = self.head as usize;
        slots.get(h)?.entry().is_none().then_some(h)
    }

    /// Write the links a [`FreeList::take`] left to write.
    #[inline]
    fn settle(&mut self, slots: &mut [Slot]) {
        if self.stale_before != 0 {
            let before = self.stale_before - 1;
            set_next(slots, before as usize, self.stale_after);
            set_prev(slots, self.stale_after as usize, before);
            self.stale_before = 0;
        }
    }

    /// Take the first unused slot.
    #[inline]
    pub fn pop(&mut self, slots: &mut [Slot]) -> Option<usize> {
        self.settle(slots);
        let i = self.first(slots)?;
        self.set_head(slots, next(slots, i));
        Some(i)
    }

    /// Make `h` the first slot, and ask for the line its next taker reads
    /// (its generation and forward link): it lies anywhere in the arena.
    #[inline]
    fn set_head(&mut self, slots: &[Slot], h: u32) {
        self.head = h;
        if let Some(s) = slots.get(h as usize) {
            crate::prefetch::line(&s.0, Entry::TIMING_AT);
        }
    }

    /// Take the unused slot `x` out of the list, wherever it is in it;
    /// false, and nothing changed, if `x` is used (or out of range).
    #[inline]
    pub fn take(&mut self, slots: &mut [Slot], x: usize) -> bool {
        if slots.get(x).is_none_or(|s| s.entry().is_some()) {
            return false;
        }
        self.settle(slots);
        let after = next(slots, x);
        if x == self.head as usize {
            self.set_head(slots, after);
            return true;
        }
        // A slot in the list other than the first always has a
        // predecessor, an unused slot (not read here: it lies anywhere in
        // the arena, and only its link is written, later).
        let before = prev(slots, x);
        if before as usize >= slots.len() {
            return false;
        }
        if let Some(s) = slots.get(before as usize) {
            crate::prefetch::line(&s.0, Entry::TIMING_AT);
        }
        if let Some(s) = slots.get(after as usize) {
            crate::prefetch::line(&s.0, core::mem::offset_of!(Entry, zone));
        }
        self.stale_before = before + 1;
        self.stale_after = after;
        true
    }

    /// Put slot `i`, just emptied, first in the list.
    #[inline]
    pub fn push(&mut self, slots: &mut [Slot], i: usize) {
        self.settle(slots);
        let old = self.head;
        let after = if self.first(slots).is_some() {
            set_prev(slots, old as usize, i as u32);
            old
        } else {
            NONE
        };
        if let Some(s) = slots.get_mut(i) {
            *s = Slot::EMPTY;
        }
        set_next(slots, i, after);
        self.head = i as u32;
    }

    /// The storage added unused slots from `from` on, when the list was
    /// empty: they are the list now (all zero, they link to each other).
    pub fn grown(&mut self, slots: &mut [Slot], from: usize) {
        self.settle(slots);
        self.head = from as u32;
    }
}

/// The slot after unused slot `i` in the list (past the end: none).
#[inline]
fn next(slots: &[Slot], i: usize) -> u32 {
    let d = slots.get(i).map_or(0, |s| s.0.deadline().parts().0);
    (i as u32).wrapping_add(1).wrapping_add(d)
}

/// The slot before unused slot `i` in the list (unless `i` is first).
#[inline]
fn prev(slots: &[Slot], i: usize) -> u32 {
    let d = slots.get(i).map_or(0, |s| u32::from(s.0.zone) | u32::from(s.0.link_low_bits()) << 16);
    (i as u32).wrapping_sub(1).wrapping_add(d)
}

#[inline]
fn set_next(slots: &mut [Slot], i: usize, to: u32) {
    if let Some(s) = slots.get_mut(i) {
        s.0.set_deadline(Tick::from_parts(to.wrapping_sub((i as u32).wrapping_add(1)), 0));
    }
}

#[inline]
fn set_prev(slots: &mut [Slot], i: usize, to: u32) {
    if let Some(s) = slots.get_mut(i) {
        let d = to.wrapping_sub((i as u32).wrapping_sub(1));
        s.0.zone = d as u16;
        s.0.set_link_low_bits((d >> 16) as u16);
    }
}

/// Check `list` over `slots`, `used` of them used (tests and fuzz
/// targets): the list holds each unused slot once and nothing else, its
/// links agree both ways (the links a take left to write counted as
/// written).
#[cfg(any(test, fuzzing))]
pub(super) fn check(list: FreeList, slots: &[Slot], used: usize) -> Result<(), &'static str> {
    let pending = list.stale_before.checked_sub(1);
    let next_of = |i: usize| if pending == Some(i as u32) { list.stale_after } else { next(slots, i) };
    let prev_of = |i: usize| match pending {
        Some(b) if list.stale_after as usize == i => b,
        _ => prev(slots, i),
    };
    let (mut at, mut before, mut listed) = (list.first(slots), None, 0);
    while let Some(i) = at {
        listed += 1;
        if listed > slots.len() {
            return Err("a cycle in the list of unused slots");
        }
        if before.is_some_and(|b| prev_of(i) as usize != b) {
            return Err("a backward link disagrees with the forward one");
        }
        before = Some(i);
        let n = next_of(i) as usize;
        at = match slots.get(n) {
            Some(s) if s.entry().is_some() => return Err("a used slot in the list of unused slots"),
            Some(_) => Some(n),
            None => None,
        };
    }
    let unused = slots.iter().filter(|s| s.entry().is_none()).count();
    if listed != unused {
        Err("an unused slot missing from the list")
    } else if slots.len() - unused != used {
        Err("the count of used slots is wrong")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// A used slot (generation not 0).
    fn used() -> Slot {
        let mut s = Slot::EMPTY;
        s.0.generation = 1;
        s
    }

    /// The list from its first slot, following forward links (at most as
    /// many steps as there are slots), checking each backward link but
    /// the first's.
    fn walk(list: FreeList, slots: &[Slot]) -> Vec<usize> {
        // The links a take left to write, written (in a copy).
        let (mut list, mut slots) = (list, slots.to_vec());
        list.settle(&mut slots);
        let slots = &slots[..];
        let mut out = Vec::new();
        let mut at = list.first(slots);
        while let Some(i) = at {
            assert!(out.len() < slots.len(), "a cycle: {out:?}");
            if let Some(&before) = out.last() {
                assert_eq!(prev(slots, i) as usize, before, "backward link of {i}");
            }
            out.push(i);
            let n = next(slots, i) as usize;
            at = slots.get(n).map(|_| n);
            if let Some(n) = at {
                assert!(slots[n].entry().is_none(), "used slot {n} in the list");
            }
        }
        out
    }

    #[test]
    fn an_all_zero_arena_is_one_list_in_order() {
        let slots = [Slot::EMPTY; 5];
        assert_eq!(walk(FreeList::ALL, &slots), [0, 1, 2, 3, 4]);
        assert_eq!(walk(FreeList::ALL, &[]), [0usize; 0]);
    }

    #[test]
    fn take_pop_push() {
        let mut slots = [Slot::EMPTY; 6];
        let mut list = FreeList::ALL;
        assert!(list.take(&mut slots, 3));
        slots[3] = used();
        assert!(!list.take(&mut slots, 3), "a used slot cannot be taken");
        assert!(!list.take(&mut slots, 6), "out of range");
        assert_eq!(walk(list, &slots), [0, 1, 2, 4, 5]);
        assert_eq!(list.pop(&mut slots), Some(0));
        slots[0] = used();
        assert!(list.take(&mut slots, 5));
        slots[5] = used();
        assert_eq!(walk(list, &slots), [1, 2, 4]);
        list.push(&mut slots, 3);
        list.push(&mut slots, 5);
        assert_eq!(walk(list, &slots), [5, 3, 1, 2, 4]);
        assert!(list.take(&mut slots, 1));
        slots[1] = used();
        assert_eq!(walk(list, &slots), [5, 3, 2, 4]);
        for want in [5, 3, 2, 4] {
            assert_eq!(list.pop(&mut slots), Some(want));
            slots[want] = used();
        }
        assert_eq!(list.pop(&mut slots), None);
        assert_eq!(walk(list, &slots), [0usize; 0]);
        // Pushed onto an empty list, a slot is the whole list.
        list.push(&mut slots, 2);
        assert_eq!(walk(list, &slots), [2]);
    }

    #[test]
    fn slots_added_to_an_empty_list_are_the_list() {
        let mut slots = Vec::from([Slot::EMPTY; 3]);
        let mut list = FreeList::ALL;
        while let Some(i) = list.pop(&mut slots) {
            slots[i] = used();
        }
        slots.resize(7, Slot::EMPTY);
        list.grown(&mut slots, 3);
        assert_eq!(walk(list, &slots), [3, 4, 5, 6]);
    }

    proptest! {
        /// Any sequence of takes, pops and pushes leaves the list equal to
        /// a model's set of unused slots, its links intact, and takes
        /// exactly the slots the model says are unused.
        #[test]
        fn the_list_is_the_unused_slots(ops in proptest::collection::vec((0u8..3, 0usize..40), 0..300), n in 1usize..40) {
            let mut slots = Vec::from_iter((0..n).map(|_| Slot::EMPTY));
            let mut list = FreeList::ALL;
            let mut unused: Vec<bool> = std::vec![true; n];
            for (op, x) in ops {
                match op {
                    0 => {
                        let took = list.take(&mut slots, x);
                        prop_assert_eq!(took, unused.get(x) == Some(&true));
                        if took {
                            slots[x] = used();
                            unused[x] = false;
                        }
                    }
                    1 => match list.pop(&mut slots) {
                        Some(i) => {
                            prop_assert!(unused[i]);
                            slots[i] = used();
                            unused[i] = false;
                        }
                        None => prop_assert!(!unused.contains(&true)),
                    },
                    _ => {
                        if x < n && !unused[x] {
                            list.push(&mut slots, x);
                            unused[x] = true;
                        }
                    }
                }
                let mut listed = walk(list, &slots);
                listed.sort_unstable();
                let want: Vec<usize> = (0..n).filter(|&i| unused[i]).collect();
                prop_assert_eq!(listed, want);
            }
        }
    }
}
