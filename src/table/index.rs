//! The index: from a key's hash to the entries stored under it.
//!
//! Entries live in an arena of slots ([`super::storage`]); the index holds
//! *positions* that name them. A connection whose reply tuple is the plain
//! inversion of its original (no NAT) has one position, under the
//! canonical form of its tuples ([`Tuple::canonical`](crate::Tuple)), which
//! a packet of either direction finds. A connection whose reply tuple was
//! rewritten has a second, *secondary* position under the reply tuple's
//! canonical form, as Linux hashes both tuples of every entry
//! (`nf_conntrack_core.c: __nf_conntrack_hash_insert()`).
//!
//! Two indexes:
//!
//! * **Buckets** (fixed, slice and heap storage): words of 32 bits in
//!   buckets of [`BUCKET_WORDS`] (one 64-byte cache line). Word 0 of a
//!   bucket counts the positions whose search passed it because it was
//!   full (an *overflow count*); the others are positions: 0 when free,
//!   else an 8-bit tag from the key's hash, a secondary bit and the entry's
//!   slot + 1. A key's home bucket comes from its hash; its position is the
//!   first free one from there on, at most [`PROBE_BUCKETS`] buckets
//!   further. A search stops at the first bucket that nothing overflowed,
//!   so it reads one cache line nearly always and never more than
//!   [`PROBE_BUCKETS`]. The storage gives two positions per slot, so
//!   without NAT the index is at most half full.
//! * **Map** (growable storage, feature `alloc`): a `hashbrown::HashTable`
//!   of the same positions with 32 bits of hash each.

use crate::hash::scale;

/// Words of one bucket of the fixed index: 64 bytes, a cache line.
pub const BUCKET_WORDS: usize = 16;

/// Most buckets a search, an insert or an early drop visits.
pub const PROBE_BUCKETS: usize = 8;

/// Most slots a table with a bucket index can have: its positions name a
/// slot in 23 bits (slot + 1, 0 being free).
pub const MAX_SLOTS: usize = (1 << 23) - 2;

/// Most index words a table uses (a borrowed index beyond it is left
/// unused: 64 times the words [`MAX_SLOTS`] slots need, and a word's
/// number then fits 32 bits, as a packet's home bucket keeps it).
pub(crate) const MAX_WORDS: usize = 1 << 30;

/// A position: the slot it names and whether it is the entry's secondary
/// (reply-tuple) position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ref {
    pub slot: u32,
    pub secondary: bool,
}

impl Ref {
    pub(crate) fn primary(slot: usize) -> Ref {
        Ref { slot: slot as u32, secondary: false }
    }

    pub(crate) fn secondary(slot: usize) -> Ref {
        Ref { slot: slot as u32, secondary: true }
    }
}

/// The bucket-word form of a position (never 0).
const SECONDARY_BIT: u32 = 1 << 23;
const SLOT_BITS: u32 = SECONDARY_BIT - 1;

fn encode(tag: u32, r: Ref) -> u32 {
    tag << 24 | if r.secondary { SECONDARY_BIT } else { 0 } | (r.slot + 1)
}

fn decode(w: u32) -> Ref {
    Ref { slot: (w & SLOT_BITS).wrapping_sub(1), secondary: w & SECONDARY_BIT != 0 }
}

/// A key's hash, as the index uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    hash: u64,
}

impl Place {
    pub(crate) fn new(hash: u64) -> Place {
        Place { hash }
    }

    /// The 32 bits that choose the home bucket (and the map's hash).
    fn high(self) -> u32 {
        (self.hash >> 32) as u32
    }

    /// Never 0, so that a free position (0) and a bucket's overflow count
    /// (below 2^24) never carry it.
    pub(crate) fn tag(self) -> u32 {
        let t = (self.hash >> 24) as u32 & 0xff;
        t | u32::from(t == 0)
    }

    /// The slot a new entry of this key takes if it is unused, among `n`
    /// (see [`super::free`]): from the hash's low 24 bits, which neither
    /// the home bucket's choice nor the tag uses.
    #[inline]
    pub(crate) fn preferred(self, n: usize) -> usize {
        scale((self.hash as u32) << 8, n)
    }

    /// The home bucket among `n`.
    #[inline]
    fn home(self, n: usize) -> usize {
        scale(self.high(), n)
    }
}

/// Where the home bucket of `place` starts in a bucket index of `len`
/// words: the first bucket of `path`, without its wrap (the home bucket
/// is below the count) or its range; `None` without buckets.
#[inline(always)]
pub(crate) fn home_start_in(place: Place, len: usize) -> Option<usize> {
    let n = len.div_ceil(BUCKET_WORDS);
    (n != 0).then(|| place.home(n) * BUCKET_WORDS)
}

/// The buckets a search for `place` may visit, in order, in an index of
/// `len` words.
#[inline]
fn path(place: Place, len: usize) -> impl Iterator<Item = usize> {
    let n = len.div_ceil(BUCKET_WORDS);
    let home = if n == 0 { 0 } else { place.home(n) };
    // `home + k < 2n`: one conditional subtraction, no division.
    (0..PROBE_BUCKETS.min(n)).map(move |k| if home + k >= n { home + k - n } else { home + k })
}

/// Whether a search scans whole buckets at once ([`tag_matches`]): on
/// 64-bit hosts, where the scan vectorises. Microcontrollers test word by
/// word, which stops at the first match and takes less flash.
const WHOLE_BUCKETS: bool = cfg!(target_pointer_width = "64");

/// Words a whole-bucket search tests at once: a quarter bucket (measured
/// against halves and whole buckets: the fewest instructions for an
/// established packet and a new one together).
const SCAN_WORDS: usize = 4;

/// The positions among `words` that carry `tag`, as bits (bit `k` for
/// word `k`). A tag is never 0 ([`Place::tag`]), so neither a free position
/// (0) nor a bucket's word 0, its overflow count (below 2^24: it counts
/// positions), ever matches: the test is one comparison per word, which
/// vectorises.
#[inline]
fn tag_matches(bucket: &[u32; SCAN_WORDS], tag: u32) -> u32 {
    debug_assert!(tag != 0);
    let mut m = 0;
    for (k, &x) in bucket.iter().enumerate() {
        m |= u32::from(x >> 24 == tag) << k;
    }
    m
}

/// [`IndexMut::insert`] into the home bucket of `place`, if it has room
/// (nearly always): its first free position, found a quarter at a time
/// (as a search scans) where whole buckets are scanned; false otherwise,
/// and nothing changed. The same position as [`insert_on_path`] takes.
#[inline]
fn insert_home(w: &mut [u32], place: Place, r: Ref) -> bool {
    if !WHOLE_BUCKETS {
        return false;
    }
    // (The home bucket where it starts, as a search finds it: `path`'s
    // first, without its wrap; 2 instructions fewer, measured.)
    let Some(start) = home_start_in(place, w.len()) else { return false };
    let Some(bucket) = w.get_mut(start..).and_then(|x| x.first_chunk_mut::<BUCKET_WORDS>()) else {
        return false;
    };
    let (quarters, _) = bucket.as_chunks_mut::<SCAN_WORDS>();
    for (q, quarter) in quarters.iter_mut().enumerate() {
        // Not word 0, the overflow count.
        let free = free_positions(quarter) & if q == 0 { !1 } else { !0 };
        if free != 0 {
            quarter[free.trailing_zeros() as usize] = encode(place.tag(), r);
            return true;
        }
    }
    false
}

/// [`IndexMut::insert`] into the bucket index `w`: the first free position
/// of the first bucket on the path of `place` that has one, the overflow
/// counts of the buckets passed raised.
fn insert_on_path(w: &mut [u32], place: Place, r: Ref) -> bool {
    for (passed, b) in path(place, w.len()).enumerate() {
        if let Some(free) = position_of(w, b, 0) {
            *free = encode(place.tag(), r);
            // The buckets before this one overflowed into it.
            count_overflows(w, place, passed, true);
            return true;
        }
    }
    false
}

/// The first position word of bucket `b` in `w` that holds `word`.
fn position_of(w: &mut [u32], b: usize, word: u32) -> Option<&mut u32> {
    let range = positions(w.len(), b);
    w.get_mut(range)?.iter_mut().find(|x| **x == word)
}

/// Raise (`up`) or lower the overflow counts of the first `passed`
/// buckets on the path of `place`: those a position's search passes.
fn count_overflows(w: &mut [u32], place: Place, passed: usize, up: bool) {
    for p in path(place, w.len()).take(passed) {
        if let Some(count) = w.get_mut(p * BUCKET_WORDS) {
            *count = if up { count.wrapping_add(1) } else { count.wrapping_sub(1) };
        }
    }
}

/// The free words among `words`, as bits (bit `k` for word `k`).
#[inline]
fn free_positions(words: &[u32; SCAN_WORDS]) -> u32 {
    let mut m = 0;
    for (k, &x) in words.iter().enumerate() {
        m |= u32::from(x == 0) << k;
    }
    m
}

/// The position words of bucket `b` (without its overflow count).
fn positions(len: usize, b: usize) -> core::ops::Range<usize> {
    (b * BUCKET_WORDS + 1).min(len)..((b + 1) * BUCKET_WORDS).min(len)
}

/// The hashbrown hash of a position with 32 bits of hash `h` (hashbrown
/// takes its bucket from the low bits and its tag from the top 7).
#[cfg(feature = "alloc")]
fn map_hash(h: u32) -> u64 {
    u64::from(h) << 32 | u64::from(h)
}

#[cfg(feature = "alloc")]
fn map_ref(v: u64) -> Ref {
    Ref { slot: (v as u32) & !(1 << 31), secondary: v as u32 & 1 << 31 != 0 }
}

#[cfg(feature = "alloc")]
fn map_word(h: u32, r: Ref) -> u64 {
    u64::from(h) << 32 | u64::from(r.slot | if r.secondary { 1 << 31 } else { 0 })
}

/// An index, to read.
pub enum IndexRef<'a> {
    /// The bucket index.
    Buckets(&'a [u32]),
    /// The growable map.
    #[cfg(feature = "alloc")]
    Map(&'a hashbrown::HashTable<u64>),
}

/// An index, to change.
pub enum IndexMut<'a> {
    /// The bucket index.
    Buckets(&'a mut [u32]),
    /// The growable map.
    #[cfg(feature = "alloc")]
    Map(&'a mut hashbrown::HashTable<u64>),
}

/// The positions of a key's home bucket that carry its tag
/// ([`IndexRef::scan_home`]).
pub(crate) struct HomeScan<'a> {
    bucket: &'a [u32; BUCKET_WORDS],
    tag: u32,
    /// The next word to test, or (whole buckets) the next quarter's first.
    at: usize,
    /// Whole buckets: the positions of the quarter before `at` still to
    /// give, as bits.
    matches: u32,
}

impl HomeScan<'_> {
    /// The next position that carries the tag.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Option<Ref> {
        if WHOLE_BUCKETS {
            // A quarter at a time, as `find` scans.
            loop {
                if self.matches != 0 {
                    let k = self.at.wrapping_sub(SCAN_WORDS) + self.matches.trailing_zeros() as usize;
                    self.matches &= self.matches - 1;
                    return self.bucket.get(k).map(|&x| decode(x));
                }
                let quarter = self.bucket.get(self.at..)?.first_chunk::<SCAN_WORDS>()?;
                self.matches = tag_matches(quarter, self.tag);
                self.at += SCAN_WORDS;
            }
        } else {
            while let Some(&x) = self.bucket.get(self.at) {
                self.at += 1;
                if x >> 24 == self.tag {
                    return Some(decode(x));
                }
            }
            None
        }
    }

    /// Whether a search goes on past the home bucket: a position whose
    /// search passed it lies further on.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflow_count() != 0
    }

    /// The bucket's overflow count (its word 0). (A function of its own:
    /// folded into `overflowed`, the Cortex-M3 build spent 9 more
    /// instructions per UDP packet, measured.)
    pub(crate) fn overflow_count(&self) -> u32 {
        self.bucket[0]
    }
}

impl IndexRef<'_> {
    /// The first position of `place` (same tag or hash) for which `hit`
    /// holds.
    #[inline]
    pub(crate) fn find(&self, place: Place, mut hit: impl FnMut(Ref) -> bool) -> Option<Ref> {
        match self {
            IndexRef::Buckets(w) => {
                let tag = place.tag();
                for b in path(place, w.len()) {
                    let start = b * BUCKET_WORDS;
                    if let Some(bucket) = w
                        .get(start..start + BUCKET_WORDS)
                        .and_then(|x| x.first_chunk::<BUCKET_WORDS>())
                        .filter(|_| WHOLE_BUCKETS)
                    {
                        // A whole bucket, a quarter at a time: which
                        // positions carry the tag, in one branch-free pass
                        // (it vectorises), then only those. Positions fill
                        // from the front, so a hit is mostly in the first
                        // quarter.
                        let (quarters, _) = bucket.as_chunks::<SCAN_WORDS>();
                        for quarter in quarters {
                            let mut matches = tag_matches(quarter, tag);
                            while matches != 0 {
                                let x = quarter[matches.trailing_zeros() as usize];
                                matches &= matches - 1;
                                if hit(decode(x)) {
                                    return Some(decode(x));
                                }
                            }
                        }
                    } else {
                        for &x in w.get(positions(w.len(), b)).unwrap_or_default() {
                            if x >> 24 == tag && x != 0 && hit(decode(x)) {
                                return Some(decode(x));
                            }
                        }
                    }
                    if w.get(start).is_none_or(|&count| count == 0) {
                        break;
                    }
                }
                None
            }
            #[cfg(feature = "alloc")]
            IndexRef::Map(t) => {
                let h = place.high();
                t.find(map_hash(h), |&v| (v >> 32) as u32 == h && hit(map_ref(v))).map(|&v| map_ref(v))
            }
        }
    }

    /// The positions of the home bucket of `place` that carry its tag, in
    /// the order [`IndexRef::find`] meets them: the packet path's first
    /// try, inline (nearly every key is in its home bucket). `None` for the
    /// map and a partial last bucket.
    #[inline(always)]
    pub(crate) fn scan_home(&self, place: Place) -> Option<HomeScan<'_>> {
        self.scan_at(place, self.home_start(place)?)
    }

    /// [`IndexRef::scan_home`] of `place`, whose home bucket starts at
    /// word `start` ([`IndexRef::home_start`]).
    #[inline(always)]
    pub(crate) fn scan_at(&self, place: Place, start: usize) -> Option<HomeScan<'_>> {
        let bucket = self.bucket_at(start)?;
        // Word 0 is the overflow count, which never carries a tag: word by
        // word, the scan starts past it.
        Some(HomeScan { bucket, tag: place.tag(), at: if WHOLE_BUCKETS { 0 } else { 1 }, matches: 0 })
    }

    /// The index of the first word of `place`'s home bucket (`None` for
    /// the map): the packet path finds it once, to ask for the bucket
    /// early, and then reads the bucket there ([`IndexRef::scan_at`]).
    #[inline(always)]
    #[cfg_attr(not(feature = "alloc"), allow(clippy::infallible_destructuring_match))]
    pub(crate) fn home_start(&self, place: Place) -> Option<usize> {
        match self {
            IndexRef::Buckets(w) => home_start_in(place, w.len()),
            #[cfg(feature = "alloc")]
            IndexRef::Map(_) => None,
        }
    }

    /// The bucket whose first word is `start` (`None` for the map and a
    /// partial last bucket).
    #[inline(always)]
    #[cfg_attr(not(feature = "alloc"), allow(clippy::infallible_destructuring_match))]
    pub(crate) fn bucket_at(&self, start: usize) -> Option<&[u32; BUCKET_WORDS]> {
        let w = match self {
            IndexRef::Buckets(w) => w,
            #[cfg(feature = "alloc")]
            IndexRef::Map(_) => return None,
        };
        w.get(start..start + BUCKET_WORDS)?.first_chunk::<BUCKET_WORDS>()
    }

    /// Every position a search for `place` may meet, whatever its tag (the
    /// candidates of an early drop). The map has none: its early drop
    /// looks at the arena.
    pub(crate) fn neighbours(&self, place: Place, mut each: impl FnMut(Ref) -> bool) -> Option<Ref> {
        match self {
            IndexRef::Buckets(w) => {
                for b in path(place, w.len()) {
                    for &x in w.get(positions(w.len(), b)).unwrap_or_default() {
                        if x != 0 && each(decode(x)) {
                            return Some(decode(x));
                        }
                    }
                }
                None
            }
            #[cfg(feature = "alloc")]
            IndexRef::Map(_) => None,
        }
    }

    /// Whether this index has no room limit (the map).
    pub(crate) fn is_map(&self) -> bool {
        !matches!(self, IndexRef::Buckets(_))
    }

    /// The preferred slot of `place` among `n` ([`Place::preferred`]):
    /// with buckets only (a growable table's arena changes size).
    #[inline(always)]
    pub(crate) fn preferred_slot(&self, place: Place, n: usize) -> Option<usize> {
        match self {
            IndexRef::Buckets(_) => Some(place.preferred(n)),
            #[cfg(feature = "alloc")]
            IndexRef::Map(_) => None,
        }
    }
}

impl IndexMut<'_> {
    /// Add a position for `r` at `place`; false when every bucket its
    /// search may visit is full.
    // Inline on 64-bit hosts (a new UDP flow 12 instructions fewer,
    // measured); left to the compiler on microcontrollers, for flash.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    #[cfg_attr(not(target_pointer_width = "64"), inline)]
    pub(crate) fn insert(&mut self, place: Place, r: Ref) -> bool {
        match self {
            IndexMut::Buckets(w) => insert_home(w, place, r) || insert_on_path(w, place, r),
            #[cfg(feature = "alloc")]
            IndexMut::Map(t) => {
                let h = place.high();
                t.insert_unique(map_hash(h), map_word(h, r), |&v| map_hash((v >> 32) as u32));
                true
            }
        }
    }

    /// Remove the position of `r` at `place`; false if it is not there.
    pub(crate) fn remove(&mut self, place: Place, r: Ref) -> bool {
        match self {
            IndexMut::Buckets(w) => {
                let word = encode(place.tag(), r);
                for (passed, b) in path(place, w.len()).enumerate() {
                    if let Some(found) = position_of(w, b, word) {
                        *found = 0;
                        count_overflows(w, place, passed, false);
                        return true;
                    }
                    if w.get(b * BUCKET_WORDS).is_none_or(|&count| count == 0) {
                        break;
                    }
                }
                false
            }
            #[cfg(feature = "alloc")]
            IndexMut::Map(t) => {
                let h = place.high();
                let word = map_word(h, r);
                match t.find_entry(map_hash(h), |&v| v == word) {
                    Ok(e) => {
                        e.remove();
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }

    /// Remove every position.
    pub(crate) fn clear(&mut self) {
        match self {
            IndexMut::Buckets(w) => w.fill(0),
            #[cfg(feature = "alloc")]
            IndexMut::Map(t) => t.clear(),
        }
    }

    /// This index, to read.
    #[inline(always)]
    pub(crate) fn as_ref(&self) -> IndexRef<'_> {
        match self {
            IndexMut::Buckets(w) => IndexRef::Buckets(w),
            #[cfg(feature = "alloc")]
            IndexMut::Map(t) => IndexRef::Map(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(ix: &IndexRef<'_>, place: Place) -> std::vec::Vec<Ref> {
        let mut v = std::vec::Vec::new();
        ix.find(place, |r| {
            v.push(r);
            false
        });
        v
    }

    proptest::proptest! {
        #[test]
        fn tag_matches_is_the_word_rule(words in proptest::array::uniform16(proptest::prelude::any::<u32>()),
                                        tag in 1u32..256, pick in 1usize..16, free in 1usize..16) {
            // A real bucket: an overflow count below 2^24, free positions
            // (0) and positions of any tag, some of them this one.
            let mut bucket = words;
            bucket[0] &= 0xff_ffff;
            bucket[pick] = tag << 24 | (bucket[pick] & 0xff_ffff);
            bucket[free] = 0;
            let (quarters, _) = bucket.as_chunks::<SCAN_WORDS>();
            let m = quarters.iter().enumerate().fold(0, |m, (q, w)| m | tag_matches(w, tag) << (q * SCAN_WORDS));
            for (k, &x) in bucket.iter().enumerate() {
                let want = k != 0 && x != 0 && x >> 24 == tag;
                proptest::prop_assert_eq!(m >> k & 1 == 1, want, "word {}", k);
            }
        }
    }

    proptest::proptest! {
        /// The home bucket's start is the first bucket of the search's
        /// path, in indexes of any length (a partial last bucket too).
        #[test]
        fn the_home_start_is_the_paths_first_bucket(h in proptest::prelude::any::<u64>(), len in 0usize..200) {
            let w = std::vec![0u32; len];
            let place = Place::new(h);
            let first = path(place, len).next().map(|b| b * BUCKET_WORDS);
            proptest::prop_assert_eq!(IndexRef::Buckets(&w).home_start(place), first);
        }

        /// An insert takes the position a word-by-word walk of the path
        /// takes ([`insert_on_path`]): the same words after every insert
        /// and removal, in an index of 3 buckets and a partial one.
        #[test]
        fn an_insert_takes_the_first_free_position(
            ops in proptest::collection::vec((proptest::prelude::any::<u64>(), proptest::prelude::any::<bool>()), 1..200),
        ) {
            let mut fast = [0u32; 3 * BUCKET_WORDS + 5];
            let mut walk = fast;
            let mut held = std::vec::Vec::new();
            for (k, (h, remove)) in ops.into_iter().enumerate() {
                // Few homes, so that buckets fill and overflow.
                let place = Place::new(h & 0xffff_ffff_0000_0000 | (h & 0x3ff) << 24);
                if remove && !held.is_empty() {
                    let (p, r) = held.swap_remove(h as usize % held.len());
                    proptest::prop_assert!(IndexMut::Buckets(&mut fast).remove(p, r));
                    proptest::prop_assert!(IndexMut::Buckets(&mut walk).remove(p, r));
                } else {
                    let r = Ref::primary(k);
                    let ok = IndexMut::Buckets(&mut fast).insert(place, r);
                    proptest::prop_assert_eq!(ok, insert_on_path(&mut walk, place, r));
                    if ok {
                        held.push((place, r));
                    }
                }
                proptest::prop_assert_eq!(fast, walk);
            }
        }
    }

    #[test]
    fn tags_are_never_zero() {
        for h in [0u64, 0xff << 24, 1 << 24, 0x1234_5678_0000_0000] {
            let t = Place::new(h).tag();
            assert!(t != 0 && t < 256 && (t == (h >> 24) as u32 & 0xff || t == 1));
        }
    }

    #[test]
    fn words_round_trip() {
        for r in [Ref::primary(0), Ref::secondary(0), Ref::primary(MAX_SLOTS - 1), Ref::secondary(77)] {
            for tag in [0, 1, 0x80, 0xff] {
                let w = encode(tag, r);
                assert_ne!(w, 0);
                assert_eq!((decode(w), w >> 24), (r, tag));
            }
        }
    }

    /// Keys that all share a home bucket overflow into the next buckets, up
    /// to the probe bound; overflow counts let searches stop early, and
    /// removal undoes them.
    #[test]
    fn overflow_is_counted_and_bounded() {
        let mut words = [0u32; BUCKET_WORDS * 16];
        let same_home = |k: u64| Place::new(0x0000_0001_0000_0000 | k << 24);
        let per_bucket = BUCKET_WORDS - 1;
        let fits = per_bucket * PROBE_BUCKETS;
        let mut ix = IndexMut::Buckets(&mut words);
        for k in 0..fits {
            assert!(ix.insert(same_home(k as u64 % 256), Ref::primary(k)), "{k}");
        }
        assert!(!ix.insert(same_home(1), Ref::primary(fits)), "the probe bound holds");
        for k in 0..fits {
            let found = ix.as_ref().find(same_home(k as u64 % 256), |r| r.slot == k as u32);
            assert_eq!(found, Some(Ref::primary(k)));
        }
        for k in 0..fits {
            assert!(ix.remove(same_home(k as u64 % 256), Ref::primary(k)));
        }
        #[cfg_attr(not(feature = "alloc"), allow(irrefutable_let_patterns))]
        let IndexMut::Buckets(w) = ix else { unreachable!() };
        assert!(w.iter().all(|&x| x == 0), "every count back to 0");
    }

    #[test]
    fn a_search_stops_at_a_bucket_that_never_overflowed() {
        let mut words = [0u32; BUCKET_WORDS * 4];
        let p = Place::new(0x0000_0002_0000_0000);
        let mut ix = IndexMut::Buckets(&mut words);
        assert!(ix.insert(p, Ref::primary(3)));
        assert_eq!(all(&ix.as_ref(), p), [Ref::primary(3)]);
        // A position planted in the next bucket is not seen: nothing
        // overflowed into it.
        #[cfg_attr(not(feature = "alloc"), allow(irrefutable_let_patterns))]
        let IndexMut::Buckets(w) = &mut ix else { unreachable!() };
        let home = p.home(4);
        w[((home + 1) % 4) * BUCKET_WORDS + 1] = encode(p.tag(), Ref::primary(9));
        assert_eq!(all(&ix.as_ref(), p), [Ref::primary(3)]);
    }

    #[test]
    fn tiny_and_empty_indexes() {
        let mut none: [u32; 0] = [];
        let mut ix = IndexMut::Buckets(&mut none);
        assert!(!ix.insert(Place::new(5), Ref::primary(0)));
        assert_eq!(ix.as_ref().find(Place::new(5), |_| true), None);
        let mut two = [0u32; 2];
        let mut ix = IndexMut::Buckets(&mut two);
        assert!(ix.insert(Place::new(5), Ref::primary(0)));
        assert!(!ix.insert(Place::new(6), Ref::primary(1)));
        assert!(ix.remove(Place::new(5), Ref::primary(0)));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn the_map_finds_what_it_holds() {
        let mut t = hashbrown::HashTable::new();
        let mut ix = IndexMut::Map(&mut t);
        for k in 0..1000u64 {
            let p = Place::new(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            assert!(
                ix.insert(p, if k % 2 == 0 { Ref::primary(k as usize) } else { Ref::secondary(k as usize) })
            );
        }
        for k in 0..1000u64 {
            let p = Place::new(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let r = ix.as_ref().find(p, |r| r.slot == k as u32).unwrap();
            assert_eq!(r.secondary, k % 2 == 1);
            assert!(ix.remove(p, r));
            assert!(!ix.remove(p, r));
        }
    }
}
