//! Finding, allocating, evicting and deleting entries: the table's use of
//! its [index](super::index) and its arena of slots, with bounded work.
//!
//! A new entry takes an unused slot of the arena (the slot its key's hash
//! prefers if that is unused, else the first of the [list of unused
//! slots](super::free)) and a position in the index. Admission is Linux's:
//! a new connection is refused only when the table holds `max_entries` (or
//! its capacity) or when every bucket the index may put it in is full, and
//! then only if early drop finds no victim among the entries of those
//! buckets: an expired entry first, else a confirmed entry that is not
//! ASSURED (`nf_conntrack_core.c: early_drop()`, which looks at a few hash
//! chains of the new tuple; an ASSURED entry is never evicted). With two
//! index positions per slot, the index of a table without NAT is at most
//! half full, so its buckets practically never fill before the table does.

use super::fast::FastKey;
use super::index::{IndexRef, Place, Ref};
use super::storage::{Entry, Parts, Slot, Storage};
use super::{ConnTable, LoserKept};
use crate::expect::Expects;
use crate::hash::hash_words;
use crate::helper::Ext;
use crate::reason::DropReason;
use crate::stats::bump;
use crate::status::Status;
use crate::time::Tick;
use crate::tuple::{Direction, Tuple, TupleView};
use crate::verdict::Handle;
use core::borrow::Borrow;

/// How many slots the early drop of a growable table looks at (its map
/// has no buckets to search).
const ARENA_DROP_WINDOW: usize = 64;

impl Entry {
    /// Whether the reply tuple is not the inverted original (NAT), and so
    /// has a secondary index position.
    pub(crate) fn has_own_reply(&self) -> bool {
        self.status.intersects(Status::OWN_REPLY_OR_CLASH)
    }
}

/// Whether an entry takes part in lookups: confirmed, alive at `now`, in
/// `zone`.
fn visible(e: &Entry, zone: u16, now: Tick) -> bool {
    e.zone == zone && e.status.contains(Status::CONFIRMED) && !e.expired(now)
}

/// The tuples position `r` of the entry `e` stands for: a canonical key
/// and which orientation of it (`None`: both, an entry without NAT, whose
/// one position stands for both of its tuples).
fn tuples_at<'a>(p: &'a Parts<'_>, e: &'a Entry, r: Ref) -> Option<(TupleView<'a>, Option<bool>)> {
    if r.secondary {
        let x = p.exts.get(e.link().ext()?)?.0.as_ref()?;
        return Some((x.reply.view(), Some(x.reply_is_key)));
    }
    Some((e.key.view(), e.has_own_reply().then_some(e.link().orig_is_key())))
}

/// Whether position `r` of the visible entry `e` is `key` (a canonical
/// key, `is_key` saying whether the packet's tuple is it), and in which
/// direction the packet then goes.
#[inline]
fn hit(p: &Parts<'_>, e: &Entry, r: Ref, key: &Tuple, is_key: bool) -> Option<Direction> {
    let (k, orientation) = tuples_at(p, e, r)?;
    if Borrow::<Tuple>::borrow(&k) != key {
        return None;
    }
    match orientation {
        // Without NAT: either tuple.
        None => Some(e.direction(is_key)),
        // With NAT: only the position's own tuple.
        Some(o) if o == is_key => Some(if r.secondary { Direction::Reply } else { Direction::Original }),
        Some(_) => None,
    }
}

/// What a search looks for: the canonical `key` at `place` in `zone`,
/// and whether the packet's tuple is the key (`is_key`), which gives the
/// direction of the entry found.
#[derive(Clone, Copy)]
pub(super) struct Sought<'a> {
    pub(super) place: Place,
    pub(super) key: &'a Tuple,
    pub(super) is_key: bool,
    pub(super) zone: u16,
}

/// What [`ConnTable::search_home`]'s key test says of a live, confirmed
/// entry that carries the key's tag (in the key's zone, or in any zone if
/// the test compares it).
pub(super) enum KeyTest {
    /// The key's entry, in this direction.
    Hit(Direction),
    /// Another key's, or another zone's.
    Miss,
    /// The test cannot tell here: the full search decides.
    Undecided,
}

impl<S: Storage> ConnTable<S> {
    pub(super) fn slots(&self) -> &[Slot] {
        self.store.slots()
    }

    /// The entry `h` names, if it still holds its slot.
    pub(super) fn entry_of(&self, h: Handle) -> Option<&Entry> {
        self.entry_at(h.index()).filter(|e| e.generation == h.generation)
    }

    pub(super) fn entry_at(&self, i: usize) -> Option<&Entry> {
        self.slots().get(i)?.entry()
    }

    pub(super) fn entry_at_mut(&mut self, i: usize) -> Option<&mut Entry> {
        self.store.parts_mut().slots.get_mut(i)?.entry_mut()
    }

    /// The place of `key` in `zone`: its keyed hash.
    pub(super) fn place(&self, key: &Tuple, zone: u16) -> Place {
        // The same words and hash as the fast paths' `ipv4_key` for an
        // IPv4 key (`the_fast_key_is_the_canonical_key` checks it), out of
        // line: the fast paths have their inline copy.
        let (words, n) = key.hash_words(zone);
        Place::new(hash_words(&self.hash_key, &words[..n]))
    }

    /// The first position of the place's tag in its home bucket, which
    /// starts at word `home` (a batch reads it early).
    #[inline(always)]
    pub(super) fn first_candidate(&self, place: Place, home: usize) -> Option<Ref> {
        self.store.parts().index.scan_at(place, home)?.next()
    }

    /// Prefetch the home bucket of `place` (the packet path and the batch
    /// ask for it early); where it starts ([`IndexRef::home_start`]), for
    /// the search that follows.
    #[inline]
    pub(super) fn prefetch_home(&self, place: Place) -> Option<usize> {
        // The words' address and count without the index's bounds tests
        // (`Storage::index_words_at`): a prefetch needs no more.
        let (words, len) = self.store.index_words_at()?;
        let start = super::index::home_start_in(place, len)?;
        crate::prefetch::address(words.wrapping_add(start));
        Some(start)
    }

    /// Choose the key's preferred slot ([`ConnTable::alloc`]), where most
    /// entries are, as the slot its search tries first
    /// ([`FastKey::candidate`]); where there is a prefetch, ask for that
    /// slot (`tcp`: for a TCP segment, whose tracker reads the entry to
    /// its end) and for the key's home bucket, noting where it starts: the
    /// entry's miss then overlaps the bucket's.
    #[inline]
    pub(super) fn ask_place<const W: usize>(&self, key: &mut FastKey<W>, tcp: bool) {
        if crate::prefetch::ENABLED {
            key.set_home(self.prefetch_home(key.place));
        }
        let i = self.slot_index_to_ask(key.place);
        if crate::prefetch::ENABLED
            && let Some(s) = i.and_then(|i| self.slots().get(i))
        {
            s.0.prefetch(tcp);
        }
        key.set_candidate(i);
    }

    /// The slot to ask for early for a key at `place` before its bucket
    /// is read, and to try first: its preferred slot ([`ConnTable::alloc`]),
    /// where most entries are and a new entry goes if it can; with
    /// placement off, slot 0 (in the cache). `None` for the map, which has
    /// no preferred slots. (Without a branch: with one, established UDP at
    /// 1,000,000 flows measured 245-260 ns a packet against 185-193, the
    /// same prefetches issued.)
    #[inline(always)]
    pub(super) fn slot_index_to_ask(&self, place: Place) -> Option<usize> {
        // (Without taking the index, whose bounds a heap storage tests:
        // only whether it has buckets matters.)
        let n = if self.packet_config().hashed_placement { self.store.slots().len() } else { 0 };
        self.store.index_words_at().map(|_| place.preferred(n))
    }

    /// The entry of `key` in `zone` if it sits in the key's preferred
    /// slot ([`ConnTable::slot_index_to_ask`]), where most entries are: a live,
    /// confirmed entry there whose primary position stands for the
    /// packet's tuple is the packet's entry wherever it sits (a table
    /// holds one confirmed entry per tuple and zone: confirmation refuses
    /// a second, [`ConnTable::clash`]). Every search that reaps
    /// ([`ConnTable::find`], [`ConnTable::find_fast`] and the fast paths')
    /// tries it first, without the index, and so reaps no expired entry
    /// that its bucket holds before it (the next search, or `gc`, does).
    #[inline(always)]
    pub(super) fn find_preferred(&self, now: Tick, sought: Sought<'_>) -> Option<(usize, Direction)> {
        let Sought { place, key, is_key, zone } = sought;
        let i = self.slot_index_to_ask(place)?;
        let p = self.store.parts();
        let e = p.slots.get(i)?.entry()?;
        // Nor the loser of an insert race kept under its reply tuple only
        // ([`ConnTable::keep_reply_only`]): its original position, which
        // the index no longer holds, stands for nothing (read here
        // without the index).
        if !visible(e, zone, now) || e.status.contains(Status::NAT_CLASH) {
            return None;
        }
        Some((i, hit(&p, e, Ref::primary(i), key, is_key)?))
    }

    /// The live, confirmed entry of `key` in `zone`, and the direction of a
    /// packet whose tuple is (`is_key`) or is not the key.
    pub(super) fn locate(&self, sought: Sought<'_>, now: Tick) -> Option<(usize, Direction)> {
        let Sought { place, key, is_key, zone } = sought;
        let p = self.store.parts();
        let mut dir = Direction::Original;
        let r = p.index.find(place, |r| {
            let Some(e) = p.slots.get(r.slot as usize).and_then(Slot::entry) else { return false };
            visible(e, zone, now) && hit(&p, e, r, key, is_key).map(|d| dir = d).is_some()
        })?;
        Some((r.slot as usize, dir))
    }

    /// [`ConnTable::locate`], reaping the expired entries of the same tag
    /// the search meets, as Linux's lookup does (an expired entry of the key
    /// itself among them, so that it cannot clash with the key's new entry
    /// at confirmation).
    pub(super) fn find(&mut self, now: Tick, sought: Sought<'_>) -> Option<(usize, Direction)> {
        if let Some(found) = self.find_preferred(now, sought) {
            return Some(found);
        }
        self.find_reaping(now, sought.place, sought.key, sought.is_key, sought.zone)
    }

    /// [`ConnTable::find`] after its preferred slot was tried: the search
    /// of the whole probe path, reaping.
    // (The fields of a `Sought` apart, in registers: given the struct,
    // which goes in memory, a TCP ACK measured 13 instructions more,
    // though it never comes here.)
    fn find_reaping(
        &mut self,
        now: Tick,
        place: Place,
        key: &Tuple,
        is_key: bool,
        zone: u16,
    ) -> Option<(usize, Direction)> {
        loop {
            let p = self.store.parts();
            let mut found = None;
            let r = p.index.find(place, |r| {
                let Some(e) = p.slots.get(r.slot as usize).and_then(Slot::entry) else { return false };
                if e.expired(now) {
                    return true;
                }
                // Visible (alive, as just seen), confirmed, in the zone.
                let visible = e.zone == zone && e.status.contains(Status::CONFIRMED);
                found = if visible { hit(&p, e, r, key, is_key) } else { None };
                found.is_some()
            })?;
            match found {
                Some(dir) => return Some((r.slot as usize, dir)),
                None => self.remove(r.slot as usize),
            }
        }
    }

    /// `find`'s test, position by position, in the home bucket of `place`
    /// alone (the packet path's first try, inline: nearly every key is
    /// there), the key compared by `key_test` with each live, confirmed
    /// entry that carries its tag and is in `zone` (`None`: in any zone,
    /// the key test compares the zone). `Some(found)` when the home
    /// bucket decides: an entry found there before any expired entry of
    /// the same tag (which `find` would reap first), or the key's absence
    /// when nothing overflowed the bucket; `None` when [`ConnTable::find`]
    /// must.
    ///
    /// `whole_entry`: the packet's tracker reads the entry to its end (a
    /// TCP segment's window state), so every line of each candidate is
    /// asked for as soon as its slot is known, while its first line is
    /// compared, rather than after the match (measured at 1,000,000 flows:
    /// a TCP ACK 2 to 7 % faster, for 3 instructions).
    #[inline(always)]
    pub(super) fn search_home(
        &self,
        now: Tick,
        place: Place,
        home: Option<usize>,
        zone: Option<u16>,
        whole_entry: bool,
        key_test: impl Fn(&Parts<'_>, &Entry, Ref) -> KeyTest,
    ) -> Option<Option<(usize, Direction)>> {
        let p = self.store.parts();
        // (Only a prefetch finds `home` before the search: elsewhere it is
        // never known, and the test compiles away.)
        let mut scan = match home.filter(|_| crate::prefetch::ENABLED) {
            Some(start) => p.index.scan_at(place, start)?,
            None => p.index.scan_home(place)?,
        };
        loop {
            let Some(r) = scan.next() else {
                return if scan.overflowed() { None } else { Some(None) };
            };
            let slot = p.slots.get(r.slot as usize);
            if whole_entry && let Some(s) = slot {
                s.0.prefetch(true);
            }
            let Some(e) = slot.and_then(Slot::entry) else { continue };
            if e.expired(now) {
                return None;
            }
            if zone.is_some_and(|z| e.zone != z) || !e.status.contains(Status::CONFIRMED) {
                continue;
            }
            match key_test(&p, e, r) {
                KeyTest::Hit(dir) => return Some(Some((r.slot as usize, dir))),
                KeyTest::Miss => continue,
                KeyTest::Undecided => return None,
            }
        }
    }

    /// [`ConnTable::find`], its search tried in the key's home bucket
    /// first ([`ConnTable::search_home`]).
    // Inline on 64-bit hosts (fewer instructions per packet); left to the
    // compiler on 32-bit microcontrollers, where its copies cost flash.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    pub(super) fn find_fast(&mut self, now: Tick, sought: Sought<'_>) -> Option<(usize, Direction)> {
        if let Some(found) = self.find_preferred(now, sought) {
            return Some(found);
        }
        let Sought { place, key, is_key, zone } = sought;
        let found = self.search_home(now, place, None, Some(zone), false, |p, e, r| {
            match hit(p, e, r, key, is_key) {
                Some(dir) => KeyTest::Hit(dir),
                None => KeyTest::Miss,
            }
        });
        if let Some(found) = found {
            return found;
        }
        // (The preferred slot was tried above; nothing changed since.)
        self.find_reaping(now, sought.place, sought.key, sought.is_key, sought.zone)
    }

    /// Check that the list of unused slots holds every unused slot and
    /// that the count of used ones is right, and the same of the extension
    /// slots (tests and fuzz targets).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn check_slots(&self) -> Result<(), &'static str> {
        super::free::check(self.free, self.slots(), self.count)?;
        let exts = self.store.exts();
        if exts.iter().filter(|x| !x.0.is_none()).count() != self.exts_used {
            return Err("extension slots counted wrong");
        }
        for e in self.slots().iter().filter_map(Slot::entry) {
            let ext = e.link().ext().map(|x| exts.get(x).and_then(|s| s.0.as_ref()));
            match ext {
                Some(None) => return Err("an entry's extension slot is unused"),
                Some(Some(x)) if x.helper.is_some() != e.link().helped() => {
                    return Err("an entry's link says wrong whether it has a helper");
                }
                None if e.link().helped() => return Err("a helper without an extension"),
                _ => {}
            }
        }
        super::ext_free::check(self.ext_free, exts, self.usable_exts())
    }

    /// Most entries the table may hold.
    pub(super) fn limit(&self) -> usize {
        let p = self.store.parts();
        self.limit_in(if p.index.is_map() { usize::MAX } else { p.slots.len() })
    }

    /// [`ConnTable::limit`] where the index leaves room for `room`
    /// entries.
    #[inline(always)]
    fn limit_in(&self, room: usize) -> usize {
        match self.config().max_entries as usize {
            0 => room,
            m => m.min(room),
        }
    }

    /// Take an unused slot for a new entry whose key is at `place`,
    /// early-dropping an entry if the table is full. The caller stores the
    /// entry in it and then indexes it ([`ConnTable::index_entry`]).
    ///
    /// The slot is the key's preferred one ([`Place::preferred`]) when
    /// that is unused, the index has buckets and
    /// [`Config::hashed_placement`](crate::Config) is on: a lookup then
    /// asks for the entry with its bucket ([`ConnTable::ask_place`]).
    /// Else it is the first on the list of unused slots (the most recently
    /// freed).
    pub(super) fn alloc(&mut self, now: Tick, place: Place) -> Result<usize, DropReason> {
        // (The room and, below, the preferred slot read through the index
        // taken mutably, one bounds test, not through `parts()`, whose
        // bounds tests of a heap storage's index the compiler keeps: a
        // new flow 11 instructions fewer, measured.)
        let p = self.store.parts_mut();
        let room = if p.index.as_ref().is_map() { usize::MAX } else { p.slots.len() };
        if self.count >= self.limit_in(room) && !self.early_drop(place, now, None) {
            return Err(self.refuse_for_room());
        }
        let hashed = self.config().hashed_placement;
        let p = self.store.parts_mut();
        let preferred = p.index.as_ref().preferred_slot(place, p.slots.len()).filter(|_| hashed);
        let i = if let Some(x) = preferred
            && self.free.take(p.slots, x)
        {
            x
        } else if let Some(i) = self.free.pop(p.slots) {
            i
        } else {
            let from = p.slots.len();
            let popped = if self.store.grow() {
                let slots = self.store.parts_mut().slots;
                self.free.grown(slots, from);
                self.free.pop(slots)
            } else {
                None
            };
            let Some(i) = popped else {
                bump(&mut self.stats.drop);
                return Err(DropReason::TableFull);
            };
            i
        };
        self.count += 1;
        Ok(i)
    }

    /// A new entry refused: the table is at its limit and the early drop
    /// found nothing to evict. `nf_conntrack_core.c: __nf_conntrack_alloc()`
    /// counts the drop and puts the GC in its pressure mode (see
    /// [`ConnTable::gc`]).
    #[cold]
    fn refuse_for_room(&mut self) -> DropReason {
        bump(&mut self.stats.drop);
        self.gc_pressure = true;
        DropReason::TableFull
    }

    /// Give the entry in slot `r.slot` its index position at `place`; when
    /// every bucket its search may visit is full (the kernel's "chain too
    /// long"), early-drop one of their entries first. False if that fails.
    // Inline on 64-bit hosts, its crowded case out of line (a new UDP flow
    // 25 x86 instructions fewer, over IPv6 too, measured).
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    pub(super) fn index_entry(&mut self, now: Tick, place: Place, r: Ref) -> bool {
        self.visible_epoch = self.visible_epoch.wrapping_add(1);
        self.store.parts_mut().index.insert(place, r) || self.index_entry_crowded(now, place, r)
    }

    /// [`ConnTable::index_entry`] when every bucket the position's search
    /// may visit is full: an early drop first.
    #[cold]
    #[inline(never)]
    fn index_entry_crowded(&mut self, now: Tick, place: Place, r: Ref) -> bool {
        bump(&mut self.stats.chaintoolong);
        self.early_drop(place, now, Some(r.slot as usize)) && self.store.parts_mut().index.insert(place, r)
    }

    /// Evict an entry near `place` (not the one in slot `except`): the first
    /// expired one, else the first confirmed, non-ASSURED one. Returns
    /// whether a slot was freed.
    fn early_drop(&mut self, place: Place, now: Tick, except: Option<usize>) -> bool {
        let p = self.store.parts();
        let ok = |i: usize, e: &Entry, expired: bool| {
            Some(i) != except
                && if expired {
                    e.expired(now)
                } else {
                    e.status.contains(Status::CONFIRMED) && !e.status.contains(Status::ASSURED)
                }
        };
        let first = |expired: bool| match &p.index {
            IndexRef::Buckets(_) => p
                .index
                .neighbours(place, |r| {
                    p.slots
                        .get(r.slot as usize)
                        .and_then(Slot::entry)
                        .is_some_and(|e| ok(r.slot as usize, e, expired))
                })
                .map(|r| r.slot as usize),
            #[cfg(feature = "alloc")]
            IndexRef::Map(_) => {
                let n = p.slots.len();
                (0..ARENA_DROP_WINDOW.min(n))
                    .map(|k| (self.drop_cursor + k) % n)
                    .find(|&i| p.slots[i].entry().is_some_and(|e| ok(i, e, expired)))
            }
        };
        let expired = first(true);
        let victim = expired.or_else(|| first(false));
        if p.index.is_map() {
            self.drop_cursor = victim.map_or(self.drop_cursor + ARENA_DROP_WINDOW, |v| v + 1);
        }
        let Some(victim) = victim else { return false };
        self.remove(victim);
        if expired.is_none() {
            bump(&mut self.stats.early_drop);
        }
        true
    }

    /// A confirmed entry, other than the one in slot `except`, that shares
    /// a tuple with the entry `e` (the insert clash of
    /// `nf_conntrack_core.c: __nf_conntrack_confirm()`, which looks up both
    /// tuples of the new entry).
    pub(super) fn clash(&self, e: &Entry, except: usize, now: Tick) -> Option<usize> {
        self.clash_by(e, except, now).map(|(i, _)| i)
    }

    /// [`ConnTable::clash`], and whether the entry found has the reply
    /// tuple of `e` (`false`: its original tuple, or, without NAT, either:
    /// its canonical key stands for both).
    pub(super) fn clash_by(&self, e: &Entry, except: usize, now: Tick) -> Option<(usize, bool)> {
        let p = self.store.parts();
        // The new entry's keys: without NAT its canonical key stands for
        // both of its tuples; with NAT each key for one tuple.
        let mut keys = [(e.key.tuple(), None), (e.key.tuple(), None)];
        let mut n = 1;
        if e.has_own_reply() {
            keys[0].1 = Some(e.link().orig_is_key());
            if let Some(x) = e.link().ext().and_then(|x| p.exts.get(x)?.0.as_ref()) {
                keys[1] = (x.reply, Some(x.reply_is_key));
                n = 2;
            }
        }
        keys[..n]
            .iter()
            .enumerate()
            .find_map(|(k, &(key, is_key))| Some((self.holder(&key, is_key, e.zone, except, now)?, k == 1)))
    }

    /// A confirmed entry of `zone`, other than the one in slot `except`,
    /// with the canonical `key` as a tuple: in the orientation `is_key`
    /// says (`None`: either).
    fn holder(
        &self,
        key: &Tuple,
        is_key: Option<bool>,
        zone: u16,
        except: usize,
        now: Tick,
    ) -> Option<usize> {
        let p = self.store.parts();
        let r = p.index.find(self.place(key, zone), |r| {
            let Some(other) = p.slots.get(r.slot as usize).and_then(Slot::entry) else { return false };
            r.slot as usize != except
                && visible(other, zone, now)
                && tuples_at(&p, other, r).is_some_and(|(k, o)| {
                    Borrow::<Tuple>::borrow(&k) == key && (o.is_none() || is_key.is_none() || o == is_key)
                })
        })?;
        Some(r.slot as usize)
    }

    /// The entry in slot `i`, an unconfirmed one with a reply tuple of its
    /// own (NAT, or [`ConnTable::keep_plain_reply_only`]) whose original
    /// tuple a confirmed entry has: the loser of
    /// an insert race that `nf_conntrack_core.c:
    /// nf_ct_resolve_clash_harder()` keeps under its reply tuple only.
    /// If a confirmed entry has that reply tuple too ("reply direction
    /// must never result in a clash"), it is returned (`Err`), and nothing
    /// changes. Else the entry's original position leaves the index
    /// (lookups of the original tuple find the winner), and it is
    /// confirmed, NAT_CLASH and FIXED_TIMEOUT set, to live one second
    /// from `now`: long enough for the answers to the packet that made it,
    /// which its binding translates.
    fn keep_reply_only(&mut self, i: usize, now: Tick) -> Result<(), usize> {
        let Some(e) = self.entry_at(i).copied() else { return Ok(()) };
        let reply = e
            .link()
            .ext()
            .and_then(|x| self.store.exts().get(x)?.0.as_ref())
            .map(|x| (x.reply, x.reply_is_key));
        if let Some((reply, reply_is_key)) = reply
            && let Some(other) = self.holder(&reply, Some(reply_is_key), e.zone, i, now)
        {
            return Err(other);
        }
        let primary = self.place(&e.key.tuple(), e.zone);
        self.store.parts_mut().index.remove(primary, Ref::primary(i));
        self.visible_epoch = self.visible_epoch.wrapping_add(1);
        if let Some(e) = self.entry_at_mut(i) {
            e.status.insert(Status::CONFIRMED | Status::NAT_CLASH | Status::FIXED_TIMEOUT);
            e.set_deadline(now.after_secs(1));
        }
        Ok(())
    }

    /// The loser of an insert race in slot `i`, kept under its reply tuple
    /// only: [`ConnTable::keep_reply_only`] or, for an entry without NAT,
    /// [`ConnTable::keep_plain_reply_only`]. `Err(Some)`: a confirmed entry
    /// has that tuple; `Err(None)`: no room for it.
    pub(crate) fn keep_loser_under_reply(&mut self, i: usize, now: Tick) -> LoserKept {
        if self.entry_at(i).is_some_and(|e| e.has_own_reply()) {
            self.keep_reply_only(i, now).map_err(Some)
        } else {
            self.keep_plain_reply_only(i, now)
        }
    }

    /// [`ConnTable::keep_reply_only`] for an entry without NAT, whose one
    /// index position stands for both of its tuples: it is given its
    /// reply tuple (the inverted original) as one of its own first, marked
    /// NAT_CLASH, as Linux keeps any such loser under its reply tuple. If
    /// a confirmed entry has that tuple, it is returned (`Err(Some)`), and
    /// nothing changes; without room for the reply tuple (a free extension
    /// slot, an index position), `Err(None)`.
    fn keep_plain_reply_only(&mut self, i: usize, now: Tick) -> LoserKept {
        let Some(e) = self.entry_at(i).copied() else { return Ok(()) };
        let reply = e.reply();
        let (key, is_key) = reply.canonical().ok_or(None)?;
        if let Some(other) = self.holder(&key, Some(is_key), e.zone, i, now) {
            return Err(Some(other));
        }
        // (No extension slot is freed for it: no other entry is evicted
        // to make room for a loser that lives a second.)
        self.set_reply(now, e.handle(i), reply, Status::NAT_CLASH).map_err(|_| None)?;
        self.keep_reply_only(i, now).map_err(Some)
    }

    /// Delete the entry in slot `i`: its index positions, its extension and
    /// the expectations it made.
    pub(super) fn remove(&mut self, i: usize) {
        // `nf_conntrack_core.c: nf_ct_delete()` reports DESTROY for the
        // entry and, unlinking them, for the expectations it made.
        self.destroy_events(i);
        let Some(e) = self.entry_at(i).copied() else { return };
        let primary = self.place(&e.key.tuple(), e.zone);
        let ext = e.link().ext().and_then(|x| self.store.exts().get(x)?.0.get());
        let secondary = ext.filter(|_| e.has_own_reply()).map(|x| self.place(&x.reply, e.zone));
        if e.status.contains(Status::SRC_NAT)
            && let Some(x) = e.link().ext()
        {
            self.unlink_source(x, &e.orig(), e.zone);
        }
        let p = self.store.parts_mut();
        let mut index = p.index;
        index.remove(primary, Ref::primary(i));
        if let Some(place) = secondary {
            index.remove(place, Ref::secondary(i));
        }
        self.free.push(p.slots, i);
        self.count -= 1;
        // Its extension goes with it, and so do the expectations it made
        // (`nf_conntrack_core.c: nf_ct_delete()`); connections it expected
        // keep their copy of its tuple.
        if let Some(x) = e.link().ext().filter(|&x| p.exts.get(x).is_some_and(|s| !s.0.is_none())) {
            self.exts_used -= 1;
            // (Onto the stack of unused slots only if it was in use: a
            // slot listed twice would make it go round.)
            self.ext_free.push(p.exts, x);
            if ext.is_some_and(|x| x.helper.is_some()) {
                let mut view = Expects {
                    slots: p.expects,
                    book: &mut self.expect_book,
                    stats: &mut self.stats,
                    key: &self.hash_key,
                };
                view.remove(i as u32, &mut |_| true);
            }
        }
        #[cfg(feature = "helper-pptp")]
        self.pptp_on_remove(i, &e.orig(), e.has_own_reply(), e.zone, ext);
    }

    /// Whether a live, confirmed entry of `zone` has `tuple` as its
    /// original or its reply tuple: the reply tuple a NAT binding would
    /// give a new connection is then taken (`nf_conntrack_core.c:
    /// nf_conntrack_tuple_taken()`). An entry whose original tuple is
    /// `orig`, the new connection's own, does not count: both describe the
    /// same flow, and clash resolution at confirmation deals with them.
    pub(crate) fn tuple_taken(&self, tuple: &Tuple, zone: u16, now: Tick, orig: &Tuple) -> bool {
        let Some((key, is_key)) = tuple.canonical() else { return true };
        let Some((i, _)) =
            self.locate(Sought { place: self.place(&key, zone), key: &key, is_key, zone }, now)
        else {
            return false;
        };
        self.entry_at(i).is_none_or(|e| e.orig() != *orig)
    }

    /// [`ConnTable::locate`] of `tuple`, not canonical.
    fn locate_tuple(&self, tuple: &Tuple, zone: u16, now: Tick) -> Option<(usize, Direction)> {
        let (key, is_key) = tuple.canonical()?;
        self.locate(Sought { place: self.place(&key, zone), key: &key, is_key, zone }, now)
    }

    /// The live, confirmed entry of `zone` that has `tuple` as its
    /// original or reply tuple.
    pub(crate) fn owner(&self, tuple: &Tuple, zone: u16, now: Tick) -> Option<Handle> {
        self.locate_tuple(tuple, zone, now).and_then(|(i, _)| self.handle_at(i))
    }

    /// The live, confirmed entry of `zone` whose reply tuple is `tuple`
    /// (`None` also when one has it as its original tuple): what NAT may
    /// evict to take that tuple (`nf_nat_core.c:
    /// nf_nat_used_tuple_harder()`).
    pub(crate) fn reply_owner(&self, tuple: &Tuple, zone: u16, now: Tick) -> Option<Handle> {
        let (i, dir) = self.locate_tuple(tuple, zone, now)?;
        (dir == Direction::Reply).then(|| self.handle_at(i))?
    }

    /// Give the unconfirmed entry `h` the reply tuple `reply` of its own
    /// (what NAT does before confirmation: `nf_nat_core.c:
    /// nf_nat_setup_info()` alters the reply tuple), with `status`
    /// ([`Status::SRC_NAT`] and/or [`Status::DST_NAT`]). The entry is then
    /// found by its original tuple and by `reply`, each in its own
    /// direction only. A second call (the second NAT type of a connection,
    /// source after destination) replaces the reply tuple. Needs an
    /// extension slot.
    pub(crate) fn set_reply(
        &mut self,
        now: Tick,
        h: Handle,
        reply: Tuple,
        status: Status,
    ) -> Result<(), DropReason> {
        let e = *self.entry_of(h).ok_or(DropReason::TableFull)?;
        let i = h.index();
        if e.status.contains(Status::CONFIRMED) || !status.intersects(Status::OWN_REPLY_OR_CLASH) {
            return Err(DropReason::TableFull);
        }
        let (key, is_key) = reply.canonical().ok_or(DropReason::TableFull)?;
        let x = match e.link().ext() {
            Some(x) => x,
            None => {
                let x = self.take_ext(Ext::new(i as u32, None, None)).ok_or(DropReason::TableFull)?;
                if let Some(e) = self.entry_at_mut(i) {
                    e.set_link(super::storage::Link::new(e.link().orig_is_key(), Some(x), false));
                }
                x
            }
        };
        // A reply tuple set before: its index position goes.
        let old = self.store.exts()[x].0.get().filter(|_| e.has_own_reply()).map(|x| x.reply);
        if let Some(old) = old {
            let place = self.place(&old, e.zone);
            self.store.parts_mut().index.remove(place, Ref::secondary(i));
        }
        let place = self.place(&key, e.zone);
        if !self.index_entry(now, place, Ref::secondary(i)) {
            if let Some(old) = old {
                // Back where it was (its position was just freed).
                let place = self.place(&old, e.zone);
                self.store.parts_mut().index.insert(place, Ref::secondary(i));
            }
            return Err(DropReason::TableFull);
        }
        if let Some(ext) = self.store.parts_mut().exts[x].0.as_mut() {
            ext.reply = key;
            ext.reply_is_key = is_key;
        }
        if let Some(e) = self.entry_at_mut(i) {
            e.status.insert(status);
        }
        // A translated source: found by it from now on
        // (`nf_nat_setup_info()` adds to `nf_nat_bysource`).
        if status.contains(Status::SRC_NAT) && !e.status.contains(Status::SRC_NAT) {
            self.link_source(x, &e.orig(), e.zone);
        }
        Ok(())
    }
}

impl<S: Storage> ConnTable<S> {
    /// The extension slots a table can use: the first
    /// [`Link::MAX_EXT`](super::storage::Link) of its pool.
    pub(super) fn usable_exts(&self) -> usize {
        self.store.exts().len().min(super::storage::Link::MAX_EXT)
    }

    /// The free extension slot [`ConnTable::take_ext`] takes next (`None`:
    /// all are in use), in constant time ([`ext_free`](super::ext_free)).
    pub(super) fn free_ext(&self) -> Option<usize> {
        debug_assert_eq!(
            self.exts_used,
            self.store.exts().iter().filter(|x| !x.0.is_none()).count(),
            "extension slots counted wrong"
        );
        self.ext_free.top(self.store.exts(), self.usable_exts())
    }

    /// Put `ext` in the free extension slot [`ConnTable::free_ext`] names,
    /// and say which (`None`: all are in use).
    pub(super) fn take_ext(&mut self, ext: Ext) -> Option<usize> {
        let n = self.usable_exts();
        let x = self.ext_free.fill(self.store.parts_mut().exts, n, ext)?;
        self.exts_used += 1;
        Some(x)
    }
}

#[cfg(test)]
mod tests {
    use crate::tuple::{Direction, Tuple, proto};
    use crate::verdict::{CtState, Verdict};
    use crate::{Config, ConnTable, DropReason, FixedConnTable, HashKey, Instant, Status, Storage};

    use crate::wire::ip::tests::udp4 as udp;

    const CLIENT: [u8; 4] = [10, 0, 0, 1];
    const SERVER: [u8; 4] = [198, 51, 100, 53];
    const PUBLIC: [u8; 4] = [203, 0, 113, 1];

    /// With hashed placement (the default), a new entry takes the slot its
    /// key's hash names while that slot is unused, else the first unused
    /// one; without it, the first unused one (the most recently freed);
    /// either way the list of unused slots stays whole.
    #[test]
    fn a_new_entry_takes_its_preferred_slot_if_unused() {
        for hashed in [true, false] {
            let config = Config { hashed_placement: hashed, ..Config::DEFAULT };
            let mut t: FixedConnTable<64> = ConnTable::new(HashKey([8; 16]), config);
            let now = Instant::from_secs(1);
            let (mut preferred, mut elsewhere) = (0, 0);
            for port in 0..64u16 {
                let p = udp(CLIENT, 1000 + port, SERVER, 53);
                let (key, _) = Tuple::canonical_ipv4(proto::UDP, CLIENT, SERVER, 1000 + port, 53);
                let want = t.place(&key, 0).preferred(64);
                let was_unused = t.slots()[want].entry().is_none();
                let v = t.track(now, &p);
                assert_eq!(v.state(), Some(CtState::New), "{port}");
                let slot = v.entry().unwrap().index();
                if hashed && was_unused {
                    assert_eq!(slot, want, "{port}");
                    preferred += 1;
                } else {
                    assert!(!hashed || slot != want, "{port}");
                    elsewhere += 1;
                }
                if !hashed {
                    assert_eq!(slot, usize::from(port), "in order from an empty table");
                }
                t.check_slots().unwrap();
            }
            assert_eq!(t.len(), 64, "every slot used");
            if hashed {
                // Fewer than 1 - 1/e of 64 keys find their slot unused
                // (keys share slots, and pops take some): 28 with this
                // hash key.
                assert!(preferred >= 20 && elsewhere >= 10, "{preferred} {elsewhere}");
            }
            // Freed slots are taken again, most recent first.
            let gone = udp(CLIENT, 1005, SERVER, 53);
            let h = t.track(now, &gone).entry().unwrap();
            assert!(t.delete(h));
            t.check_slots().unwrap();
            let v = t.track(now, &udp(CLIENT, 3000, SERVER, 53));
            assert_eq!(v.entry().unwrap().index(), h.index());
            t.check_slots().unwrap();
        }
    }

    /// An entry given a reply tuple of its own (source NAT of 10.0.0.1:1000
    /// to 203.0.113.1:2000) is found by both of its tuples, each in its own
    /// direction only, and deleting it removes both index positions.
    fn independent_reply_tuple<S: Storage>(t: &mut ConnTable<S>) {
        let now = Instant::from_secs(1);
        let out = udp(CLIENT, 1000, SERVER, 53);
        let mut v = t.classify(now, &out, Default::default());
        let h = v.entry().unwrap();
        let reply = Tuple::with_ports(SERVER.into(), 53, PUBLIC.into(), 2000, proto::UDP).unwrap();
        t.set_reply(now.tick(), h, reply, Status::SRC_NAT).unwrap();
        t.confirm(&mut v, &out).unwrap();
        assert_eq!(t.get(h, now).unwrap().reply(), reply);

        // The answer to the public address is the reply direction.
        let v = t.track(now, &udp(SERVER, 53, PUBLIC, 2000));
        assert_eq!(
            (v.state(), v.dir(), v.entry()),
            (Some(CtState::Established), Some(Direction::Reply), Some(h))
        );
        // More of the original direction.
        let v = t.track(now, &out);
        assert_eq!(
            (v.state(), v.dir(), v.entry()),
            (Some(CtState::Established), Some(Direction::Original), Some(h))
        );
        // The plain inversion of the original is not this connection's
        // reply; a connection of its own would have the entry's original
        // tuple as its reply tuple, so it clashes at confirmation (and a
        // UDP clash merges only into an entry without NAT, as
        // `nf_conntrack_core.c: __nf_ct_resolve_clash()` requires).
        let v = t.classify(now, &udp(SERVER, 53, CLIENT, 1000), Default::default());
        assert_eq!(v.state(), Some(CtState::New));
        assert_ne!(v.entry(), Some(h));
        t.discard(&v);
        let v = t.track(now, &udp(SERVER, 53, CLIENT, 1000));
        assert_eq!(v, Verdict::Dropped(DropReason::InsertClash));
        // The same for a packet to the public address in the original
        // direction's orientation: its reply tuple is the entry's.
        let v = t.track(now, &udp(PUBLIC, 2000, SERVER, 53));
        assert_eq!(v, Verdict::Dropped(DropReason::InsertClash));
        // A second NAT entry may not take the reply tuple of the first.
        let other = udp(CLIENT, 1001, SERVER, 53);
        let mut v2 = t.classify(now, &other, Default::default());
        t.set_reply(now.tick(), v2.entry().unwrap(), reply, Status::SRC_NAT).unwrap();
        assert_eq!(t.confirm(&mut v2, &other), Err(DropReason::InsertClash));
        assert_eq!(t.len(), 1);

        assert!(t.delete(h));
        let v = t.track(now, &udp(SERVER, 53, PUBLIC, 2000));
        assert_eq!(v.state(), Some(CtState::New), "both positions went with the entry");
    }

    #[test]
    fn independent_reply_tuple_fixed() {
        let mut t: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        independent_reply_tuple(&mut t);
    }

    #[test]
    #[cfg(feature = "alloc")]
    fn independent_reply_tuple_growable() {
        independent_reply_tuple(&mut ConnTable::growable(4, HashKey([3; 16]), Config::DEFAULT));
    }

    /// Refused: a confirmed entry, no NAT bit. A second reply tuple replaces
    /// the first.
    #[test]
    fn reply_tuples_are_set_once_before_confirmation() {
        let mut t: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        let now = Instant::from_secs(1);
        let reply = Tuple::with_ports(SERVER.into(), 53, PUBLIC.into(), 2000, proto::UDP).unwrap();
        let out = udp(CLIENT, 1000, SERVER, 53);
        let mut v = t.classify(now, &out, Default::default());
        let h = v.entry().unwrap();
        assert!(t.set_reply(now.tick(), h, reply, Status::ASSURED).is_err());
        t.set_reply(now.tick(), h, reply, Status::DST_NAT).unwrap();
        // A second reply tuple replaces the first (both NAT types).
        let reply2 = Tuple::with_ports(SERVER.into(), 53, PUBLIC.into(), 2001, proto::UDP).unwrap();
        t.set_reply(now.tick(), h, reply2, Status::SRC_NAT).unwrap();
        t.confirm(&mut v, &out).unwrap();
        assert_eq!(t.get(h, now).unwrap().reply(), reply2);
        assert_eq!(t.track(now, &udp(SERVER, 53, PUBLIC, 2001)).dir(), Some(Direction::Reply));
        assert_eq!(t.track(now, &udp(SERVER, 53, PUBLIC, 2000)).entry().map(|e| e == h), Some(false));
        let Verdict::Tracked(_) = v else { panic!() };
        let v = t.track(now, &udp(CLIENT, 1002, SERVER, 53));
        assert!(t.set_reply(now.tick(), v.entry().unwrap(), reply, Status::SRC_NAT).is_err());
    }

    /// The packets of [`the_fast_find_is_the_find`]'s two tables, and its
    /// probes: `(client, port, zone, seconds later, reversed, nat)`.
    type Op = (u8, u16, u16, u8, bool, bool);

    /// Apply `op` to `t`: a UDP packet between one of 4 clients and the
    /// server, at `now`, in a zone, the new entry of an original packet
    /// given an own reply tuple (source NAT) when `nat`.
    fn apply<S: Storage>(t: &mut ConnTable<S>, now: Instant, op: Op) {
        let (c, port, zone, _, reversed, nat) = op;
        let client = [10, 0, 0, c % 4 + 1];
        let p = if reversed {
            udp(SERVER, 53, client, 1000 + port)
        } else {
            udp(client, 1000 + port, SERVER, 53)
        };
        let mut v = t.classify(now, &p, crate::Meta::default().with_zone(zone));
        if nat && v.state() == Some(CtState::New) && v.dir() == Some(Direction::Original) {
            let reply = Tuple::with_ports(SERVER.into(), 53, PUBLIC.into(), 2000 + port, proto::UDP).unwrap();
            let _ = t.set_reply(now.tick(), v.entry().unwrap(), reply, Status::SRC_NAT);
        }
        let _ = t.confirm(&mut v, &p);
    }

    proptest::proptest! {
        /// The packet path's search ([`ConnTable::find_fast`], which tries
        /// the home bucket alone first) is [`ConnTable::find`]: two tables
        /// given the same packets (a small table, so that buckets overflow;
        /// entries that expire; zones; entries with their own reply tuple)
        /// answer every probe alike, and are left alike (`find` reaps the
        /// expired entries it meets).
        #[test]
        fn the_fast_find_is_the_find(
            ops in proptest::collection::vec(
                // Mostly a few seconds apart, now and then long enough
                // for entries to expire.
                (0u8..4, 0u16..12, 0u16..2, proptest::prop_oneof![6 => 0u8..3, 1 => 0u8..60],
                 proptest::bool::ANY, proptest::bool::weighted(0.5)),
                1..120,
            ),
            probes in proptest::collection::vec((0u8..4, 0u16..12, 0u16..2, 0u8..40, proptest::bool::ANY), 1..16),
            key in proptest::array::uniform16(0u8..),
        ) {
            let mut fast: FixedConnTable<16> = ConnTable::new(HashKey(key), Config::DEFAULT);
            let mut full: FixedConnTable<16> = ConnTable::new(HashKey(key), Config::DEFAULT);
            let mut now = 1;
            for op in ops {
                now += u64::from(op.3);
                apply(&mut fast, Instant::from_secs(now), op);
                apply(&mut full, Instant::from_secs(now), op);
            }
            for (c, port, zone, later, reversed) in probes {
                now += u64::from(later);
                let tick = Instant::from_secs(now).tick();
                let client = [10, 0, 0, c % 4 + 1];
                let (a, ap, b, bp) = if reversed { (SERVER, 53, client, 1000 + port) } else { (client, 1000 + port, SERVER, 53) };
                let (key, is_key) = Tuple::canonical_ipv4(proto::UDP, a, b, ap, bp);
                let place = fast.place(&key, zone);
                proptest::prop_assert_eq!(place, full.place(&key, zone));
                let sought = super::Sought { place, key: &key, is_key, zone };
                let found = fast.find_fast(tick, sought);
                proptest::prop_assert_eq!(found, full.find(tick, sought));
                proptest::prop_assert_eq!(fast.len(), full.len());
            }
        }
    }
}
