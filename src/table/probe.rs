//! Open addressing: where an entry lives, and finding, allocating, evicting
//! and deleting entries with bounded work.
//!
//! Entries live in an array of [`Slot`]s addressed by open addressing with
//! linear probing. An entry is stored once, under the *canonical* form of
//! its tuples ([`Tuple::canonical`]): a tuple and its inversion hash alike,
//! so one probe sequence finds a connection from either direction, and the
//! reply tuple need not be stored (ctrack does no NAT, so the reply tuple is
//! always the inverted original: `nf_conntrack_core.c: nf_ct_invert_tuple()`).
//!
//! A probe sequence is at most [`PROBE_WINDOW`] slots long, so every lookup,
//! insert and early drop does bounded work whatever the load or the input.
//! Deleted slots become tombstones, turned back into empty slots when
//! nothing can probe past them.

use super::ConnTable;
use super::storage::{Entry, Slot, SlotState, Storage};
use crate::expect::Expects;
use crate::hash::slot;
use crate::reason::DropReason;
use crate::stats::bump;
use crate::status::Status;
use crate::time::Tick;
use crate::tuple::Tuple;
use crate::verdict::Handle;

/// The longest probe sequence: lookups, inserts and the early-drop scan
/// look at no more slots than this (the kernel's early drop,
/// `nf_conntrack_core.c: early_drop()`, looks at 8 buckets of about 1–2
/// entries each). With linear probing, windows fill up before the table
/// does when the load is high: measured with 100 000 flows, no window was
/// full at a load of 0.5, and 0.36 % of the inserts met a full window at
/// 0.76 (see the README). Size tables for a load of at most about 2/3.
pub const PROBE_WINDOW: usize = 32;

impl<S: Storage> ConnTable<S> {
    pub(super) fn slots(&self) -> &[Slot] {
        self.store.parts().0
    }

    pub(super) fn slots_mut(&mut self) -> &mut [Slot] {
        self.store.parts_mut().0
    }

    /// The entry `h` names, if it still holds its slot.
    pub(super) fn entry_of(&self, h: Handle) -> Option<&Entry> {
        self.entry_at(h.index()).filter(|e| e.generation == h.generation)
    }

    pub(super) fn entry_at(&self, i: usize) -> Option<&Entry> {
        match &self.slots().get(i)?.0 {
            SlotState::Used(e) => Some(e),
            _ => None,
        }
    }

    pub(super) fn home(&self, key: &Tuple, zone: u16) -> usize {
        let (bytes, len) = key.hash_bytes(zone);
        slot(&self.hash_key, &bytes[..len], self.capacity())
    }

    pub(super) fn probe_indices(&self, home: usize) -> impl Iterator<Item = usize> + use<S> {
        let len = self.capacity();
        // `home < len` and the window is at most `len` long, so one
        // conditional subtraction wraps (no division on the hot path).
        (home..home + PROBE_WINDOW.min(len)).map(move |i| if i >= len { i - len } else { i })
    }

    pub(super) fn matches(e: &Entry, key: &Tuple, zone: u16, now: Tick) -> bool {
        e.key == *key && e.zone == zone && e.status.contains(Status::CONFIRMED) && !e.expired(now)
    }

    /// The probe walk every lookup shares: the slot of the live,
    /// confirmed entry of `key` in `zone`, if any, and how many slots the
    /// walk passed before it stopped.
    pub(super) fn position(&self, home: usize, key: &Tuple, zone: u16, now: Tick) -> (Option<usize>, usize) {
        let mut walked = 0;
        for i in self.probe_indices(home) {
            match &self.slots()[i].0 {
                SlotState::Empty => return (None, walked),
                SlotState::Used(e) if Self::matches(e, key, zone, now) => return (Some(i), walked),
                _ => walked += 1,
            }
        }
        (None, walked)
    }

    /// Find a live, confirmed entry; the expired entries the walk passed
    /// are reaped, as Linux's lookup does
    /// (`nf_conntrack_core.c: ____nf_conntrack_find()`, `nf_ct_gc_expired()`).
    pub(super) fn find(&mut self, now: Tick, key: &Tuple, zone: u16) -> Option<usize> {
        let home = self.home(key, zone);
        let (found, walked) = self.position(home, key, zone, now);
        for i in self.probe_indices(home).take(walked) {
            if matches!(&self.slots()[i].0, SlotState::Used(e) if e.expired(now)) {
                self.remove(i);
            }
        }
        found
    }

    /// Take a slot for a new entry keyed `key`: a free slot in the probe
    /// window, else early drop (`nf_conntrack_core.c: early_drop()`).
    pub(super) fn alloc(&mut self, now: Tick, key: &Tuple, zone: u16) -> Result<usize, DropReason> {
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
    /// (`nf_conntrack_core.c: early_drop()`: ASSURED entries are never
    /// early-dropped); an expired entry met first is reaped instead. Returns
    /// whether a slot was freed.
    pub(super) fn early_drop(&mut self, home: usize, now: Tick) -> bool {
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
    pub(super) fn remove(&mut self, i: usize) {
        let len = self.capacity();
        let (slots, exts, expects) = self.store.parts_mut();
        let SlotState::Used(e) = slots[i].0 else { return };
        self.count -= 1;
        slots[i].0 = SlotState::Tombstone;
        // Its extension goes with it, and so do the expectations it made
        // (`nf_conntrack_core.c: nf_ct_delete()`); connections it expected
        // keep their copy of its tuple.
        if let Some(x) = e.link.ext().and_then(|x| exts.get_mut(x)) {
            let had_helper = x.0.is_some_and(|x| x.helper.is_some());
            x.0 = None;
            if had_helper {
                let mut view = Expects {
                    slots: expects,
                    book: &mut self.expect_book,
                    stats: &mut self.stats,
                    key: &self.hash_key,
                };
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
}
