//! The index: where an entry lives, and finding, allocating, evicting and
//! deleting entries with bounded work.
//!
//! An entry is stored once, under the *canonical* form of its tuples
//! ([`Tuple::canonical`]): a tuple and its inversion hash alike, so one
//! lookup finds a connection from either direction, and the reply tuple
//! need not be stored (ctrack does no NAT, so the reply tuple is always the
//! inverted original: `nf_conntrack_core.c: nf_ct_invert_tuple()`).
//!
//! The slots form buckets of [`BUCKET_SLOTS`]. The keyed hash of a key
//! names two buckets and a tag (a byte, never 0); the entry lives in the
//! less full of its two buckets, and a tag array beside the slots (0 for a
//! free slot) lets a lookup compare one byte per slot and read only the
//! entries whose tag matches. Two choices of 64 slots keep every bucket
//! pair from filling up until the table is about 97 % full (measured by
//! simulation at 4,096 to 262,144 slots: the first insert to find both
//! its buckets full came at a load of 0.97 to 0.98), so new flows are
//! admitted like Linux admits them, until the table is full; early drop
//! then looks at the new key's two buckets (`nf_conntrack_core.c:
//! early_drop()` looks at a few hash chains). Every lookup, insert and
//! early drop reads at most two buckets, whatever the load or the input.

use core::ops::Range;

use super::ConnTable;
use super::storage::{Entry, Slot, SlotState, Storage};
use crate::expect::Expects;
use crate::hash::{hash_words, scale};
use crate::reason::DropReason;
use crate::stats::bump;
use crate::status::Status;
use crate::time::Tick;
use crate::tuple::Tuple;
use crate::verdict::Handle;

/// Slots per bucket: an entry lives in one of the two buckets its hash
/// names.
pub const BUCKET_SLOTS: usize = 64;

/// Where a key lives: its two buckets and its tag.
#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    buckets: [usize; 2],
    tag: u8,
}

impl Place {
    /// The two buckets (equal when the table has one bucket).
    pub(super) fn buckets(&self) -> [usize; 2] {
        self.buckets
    }
}

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

    /// The place of `key` in `zone`: one keyed hash gives both buckets
    /// (from its high and its middle bits) and the tag (its low 7 bits,
    /// with the top bit set so that no tag is 0).
    pub(super) fn place(&self, key: &Tuple, zone: u16) -> Place {
        let (words, n) = key.hash_words(zone);
        let h = hash_words(&self.hash_key, &words[..n]);
        let n = self.capacity().div_ceil(BUCKET_SLOTS);
        Place {
            buckets: [scale((h >> 32) as u32, n), scale((h >> 7) as u32, n)],
            tag: 0x80 | (h & 0x7f) as u8,
        }
    }

    /// The slots of bucket `k`.
    fn bucket(&self, k: usize) -> Range<usize> {
        let cap = self.capacity();
        (k * BUCKET_SLOTS).min(cap)..((k + 1) * BUCKET_SLOTS).min(cap)
    }

    /// The first slot of bucket `k` whose tag is `tag` and for which `hit`
    /// holds, eight tags at a time.
    #[inline]
    fn first_tagged(&self, k: usize, tag: u8, mut hit: impl FnMut(usize) -> bool) -> Option<usize> {
        let tags = self.store.parts().1;
        let Range { start: mut at, end } = self.bucket(k);
        while at < end {
            let mut m = match_mask(tags, at, end, tag);
            while m != 0 {
                let i = at + (m.trailing_zeros() / 8) as usize;
                m &= m - 1;
                if hit(i) {
                    return Some(i);
                }
            }
            at += 8;
        }
        None
    }

    fn matches(e: &Entry, key: &Tuple, zone: u16, now: Tick) -> bool {
        e.key == *key && e.zone == zone && e.status.contains(Status::CONFIRMED) && !e.expired(now)
    }

    fn position_matches(&self, i: usize, key: &Tuple, zone: u16, now: Tick) -> bool {
        matches!(&self.slots()[i].0, SlotState::Used(e) if Self::matches(e, key, zone, now))
    }

    /// The distinct buckets of a place: one or two.
    fn buckets(place: &Place) -> &[usize] {
        let [a, b] = place.buckets;
        if a == b { &place.buckets[..1] } else { &place.buckets }
    }

    /// The first slot of the place's buckets whose tag is the place's.
    pub(super) fn first_candidate(&self, place: &Place) -> Option<usize> {
        Self::buckets(place).iter().find_map(|&k| self.first_tagged(k, place.tag, |_| true))
    }

    /// The slot of the live, confirmed entry of `key` in `zone`, if any.
    pub(super) fn position(&self, place: &Place, key: &Tuple, zone: u16, now: Tick) -> Option<usize> {
        Self::buckets(place)
            .iter()
            .find_map(|&k| self.first_tagged(k, place.tag, |i| self.position_matches(i, key, zone, now)))
    }

    /// Find a live, confirmed entry; the expired entries of the same tag
    /// the search meets are reaped, as Linux's lookup does (an expired
    /// entry of the key itself among them, so that it cannot clash with
    /// the key's new entry at confirmation).
    pub(super) fn find(&mut self, now: Tick, place: &Place, key: &Tuple, zone: u16) -> Option<usize> {
        for &k in Self::buckets(place) {
            let Range { start: mut at, end } = self.bucket(k);
            while at < end {
                let mut m = match_mask(self.store.parts().1, at, end, place.tag);
                while m != 0 {
                    let i = at + (m.trailing_zeros() / 8) as usize;
                    m &= m - 1;
                    match self.entry_at(i) {
                        Some(e) if e.expired(now) => self.remove(i),
                        Some(e) if Self::matches(e, key, zone, now) => return Some(i),
                        _ => {}
                    }
                }
                at += 8;
            }
        }
        None
    }

    /// Take a slot for a new entry at `place`: a free slot of the less full
    /// of its two buckets, else one an expired or early-dropped entry
    /// leaves. The caller stores the entry and sets its tag.
    pub(super) fn alloc(&mut self, now: Tick, place: &Place) -> Result<usize, DropReason> {
        let cap = self.capacity();
        let limit = match self.config.max_entries as usize {
            0 => cap,
            m => m.min(cap),
        };
        let mut slot = self.free_slot(place);
        if slot.is_none() {
            // Both buckets are full of entries: the kernel's "chain too
            // long" situation. An expired entry is reaped first.
            bump(&mut self.stats.chaintoolong);
        }
        if (slot.is_none() || self.count >= limit) && !self.early_drop(place, now) {
            bump(&mut self.stats.drop);
            return Err(DropReason::TableFull);
        }
        if slot.is_none() {
            slot = self.free_slot(place);
        }
        let slot = slot.ok_or(DropReason::TableFull)?;
        self.count += 1;
        Ok(slot)
    }

    /// The first free slot of the less full of the place's buckets.
    fn free_slot(&self, place: &Place) -> Option<usize> {
        let tags = self.store.parts().1;
        let free_in = |k: usize| {
            let range = self.bucket(k);
            range.clone().step_by(8).map(|at| match_mask(tags, at, range.end, 0).count_ones()).sum::<u32>()
        };
        let [a, b] = place.buckets;
        let k = if a != b && free_in(b) > free_in(a) { b } else { a };
        self.first_tagged(k, 0, |_| true)
    }

    /// Evict an entry of the place's buckets: the first expired one, else
    /// the first confirmed, non-ASSURED one (`nf_conntrack_core.c:
    /// early_drop()`: ASSURED entries are never early-dropped). Returns
    /// whether a slot was freed.
    fn early_drop(&mut self, place: &Place, now: Tick) -> bool {
        let first = |ok: &dyn Fn(&Entry) -> bool| {
            Self::buckets(place)
                .iter()
                .find_map(|&k| self.bucket(k).find(|&i| self.entry_at(i).is_some_and(ok)))
        };
        let expired = first(&|e| e.expired(now));
        let victim = expired.or_else(|| {
            first(&|e| e.status.contains(Status::CONFIRMED) && !e.status.contains(Status::ASSURED))
        });
        let Some(victim) = victim else { return false };
        self.remove(victim);
        if expired.is_none() {
            bump(&mut self.stats.early_drop);
        }
        true
    }

    /// A confirmed entry of `key` in `zone` other than the one in slot
    /// `except` (the insert clash of `nf_conntrack_core.c:
    /// __nf_conntrack_confirm()`).
    pub(super) fn clash(&self, key: &Tuple, zone: u16, except: usize, now: Tick) -> Option<usize> {
        let place = self.place(key, zone);
        Self::buckets(&place).iter().find_map(|&k| {
            self.first_tagged(k, place.tag, |i| i != except && self.position_matches(i, key, zone, now))
        })
    }

    /// Store `entry` in slot `i` (taken by [`ConnTable::alloc`]) with the
    /// place's tag.
    pub(super) fn store_entry(&mut self, i: usize, place: &Place, entry: Entry) {
        let (slots, tags, _, _) = self.store.parts_mut();
        if let (Some(s), Some(t)) = (slots.get_mut(i), tags.get_mut(i)) {
            s.0 = SlotState::Used(entry);
            *t = place.tag;
        }
    }

    /// Delete the entry in slot `i`.
    pub(super) fn remove(&mut self, i: usize) {
        let (slots, tags, exts, expects) = self.store.parts_mut();
        let Some(SlotState::Used(e)) = slots.get(i).map(|s| s.0) else { return };
        self.count -= 1;
        slots[i].0 = SlotState::Empty;
        if let Some(t) = tags.get_mut(i) {
            *t = 0;
        }
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
    }
}

/// Bytes 0x01 repeated.
const ONES: u64 = 0x0101_0101_0101_0101;
/// Bytes 0x7f repeated.
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The tags `tags[at..end]` (at most eight) equal to `tag`, as a mask with
/// bit 7 of byte `k` set for `tags[at + k]`: the exact zero-byte test of
/// `tags ^ tag` (a byte's high bit is set in `(x & 0x7f) + 0x7f | x` iff
/// the byte is not zero). Tags past `end` never match.
#[inline]
fn match_mask(tags: &[u8], at: usize, end: usize, tag: u8) -> u64 {
    let eight = tags.get(at..at + 8).and_then(|t| <[u8; 8]>::try_from(t).ok());
    let word = match eight {
        // The usual case: eight tags of the bucket, one load.
        Some(word) if at + 8 <= end => word,
        _ => {
            let mut word = [!tag; 8];
            for (w, &t) in word.iter_mut().zip(tags.get(at..end.min(tags.len())).unwrap_or(&[])) {
                *w = t;
            }
            word
        }
    };
    let x = u64::from_le_bytes(word) ^ (u64::from(tag) * ONES);
    !((x & LOW7).wrapping_add(LOW7) | x | LOW7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_masks_are_exact() {
        let tags = [0u8, 0x81, 0x81, 0, 0x80, 0x81, 1, 0x81, 0x81, 0];
        let bits = |m: u64| (0..8).filter(|k| (m >> (8 * k + 7)) & 1 == 1).collect::<std::vec::Vec<_>>();
        assert_eq!(bits(match_mask(&tags, 0, 10, 0x81)), [1, 2, 5, 7]);
        assert_eq!(bits(match_mask(&tags, 0, 10, 0)), [0, 3]);
        // Past the end nothing matches, the padding included.
        assert_eq!(bits(match_mask(&tags, 8, 10, 0)), [1]);
        assert_eq!(bits(match_mask(&tags, 8, 9, 0x81)), [0]);
        assert_eq!(bits(match_mask(&tags, 8, 9, !0x81)), []);
        // Every byte value against every tag value: exact.
        for tag in 0..=255u8 {
            for v in 0..=255u8 {
                let m = match_mask(&[v; 8], 0, 8, tag);
                assert_eq!(m == !LOW7, v == tag, "{v} {tag}");
            }
        }
    }
}
