//! Time as the caller supplies it, and the compact form entries store.
//!
//! A `no_std` library has no clock: every call that can create, refresh or
//! expire an entry takes the current [`Instant`]. The caller's clock must be
//! monotonic; it may start anywhere.
//!
//! Entries store deadlines as [`Tick`]s: 1/16 s since the caller's clock
//! origin, in 40 bits (5 bytes in an entry, which keeps a 24-bit link
//! in the other 3 of a word). The resolution is far finer
//! than any conntrack timeout (UDP's 2 s stream grace, the shortest rule,
//! is kept to the millisecond besides: [`FineTick`]) and the range, 2³⁶ s,
//! is about 2,179 years:
//! comparisons never wrap, whatever the clock's origin (a Unix-epoch clock
//! in milliseconds is fine) and however long the table runs (a Unix-epoch
//! clock a century on, plus the longest timeout, `u32::MAX` seconds or
//! 136 years, is below 2³⁸ ticks), and every timeout up to `u32::MAX`
//! seconds is exact. Instants beyond the range count as its last tick.

/// Ticks per second of the stored deadlines.
pub const TICKS_PER_SEC: u32 = 16;

/// A point in time from the caller's monotonic clock, in milliseconds.
///
/// ```
/// use ctrack::Instant;
/// let t = Instant::from_secs(3);
/// assert_eq!(t.millis(), 3000);
/// assert_eq!(Instant::from_millis(2500).secs(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant { millis: 0 };

    /// A time `millis` milliseconds after the clock's origin.
    pub const fn from_millis(millis: u64) -> Instant {
        Instant { millis }
    }

    /// A time `secs` seconds after the clock's origin.
    pub const fn from_secs(secs: u64) -> Instant {
        Instant { millis: secs.saturating_mul(1000) }
    }

    /// Milliseconds since the clock's origin.
    pub const fn millis(self) -> u64 {
        self.millis
    }

    /// Whole seconds since the clock's origin.
    pub const fn secs(self) -> u64 {
        self.millis / 1000
    }

    pub(crate) fn tick(self) -> Tick {
        self.fine_tick().tick
    }

    /// The tick and where in it this millisecond lies ([`FineTick`]).
    pub(crate) fn fine_tick(self) -> FineTick {
        // Whole seconds and the milliseconds apart: no overflow for any
        // `u64` of milliseconds.
        #[cfg(target_pointer_width = "64")]
        let (secs, ms) = (self.millis / 1000, (self.millis % 1000) as u32);
        #[cfg(not(target_pointer_width = "64"))]
        let (secs, ms) = div_rem_1000(self.millis);
        let ticks = secs.saturating_mul(u64::from(TICKS_PER_SEC)) + u64::from(ms * TICKS_PER_SEC / 1000);
        FineTick { tick: Tick::from_ticks(ticks), frac: (ms * TICKS_PER_SEC % 1000) as u16 }
    }
}

/// `n / 1000` and `n % 1000` with 32-bit divisions, 16 bits of `n` at a
/// time (each partial dividend, the remainder so far and 16 bits, is
/// below 1000 · 2¹⁶): a 32-bit microcontroller then links no 64-bit
/// division routine (about 900 bytes of flash on a Cortex-M3, whose
/// 32-bit division is one instruction).
#[cfg_attr(target_pointer_width = "64", allow(dead_code))]
fn div_rem_1000(n: u64) -> (u64, u32) {
    let (mut q, mut r) = (0u64, 0u32);
    for shift in [48, 32, 16, 0] {
        let part = (r << 16) | ((n >> shift) as u32 & 0xffff);
        q = (q << 16) | u64::from(part / 1000);
        r = part % 1000;
    }
    (q, r)
}

/// The last [`Instant`] a table converted, and its [`Tick`]: the packets of
/// a burst share one `now`, and the conversion divides by 1000 (a library
/// call on 32-bit microcontrollers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TickMemo {
    millis: u64,
    fine: FineTick,
}

impl TickMemo {
    /// `Instant` 0, which is tick 0 (all zero: a table in `.bss`).
    pub(crate) const ZERO: TickMemo = TickMemo { millis: 0, fine: FineTick::ZERO };

    /// `now.tick()`, converted only when `now` is not the last time given.
    #[inline]
    pub(crate) fn tick(&mut self, now: Instant) -> Tick {
        if now.millis != self.millis {
            *self = TickMemo { millis: now.millis, fine: now.fine_tick() };
        }
        self.fine.tick
    }

    /// The last time converted: that of the last packet classified.
    #[inline(always)]
    pub(crate) fn last(&self) -> Tick {
        self.fine.tick
    }

    /// Where in its tick the last time converted lies: `now` of the
    /// packet a table tracks, which it converts first.
    #[inline(always)]
    pub(crate) fn frac(&self) -> u16 {
        self.fine.frac
    }

    /// The last time converted, `tick`, to the millisecond.
    #[inline(always)]
    pub(crate) fn fine(&self, tick: Tick) -> FineTick {
        debug_assert!(self.fine.tick == tick, "the packet's time was converted first");
        self.fine
    }
}

/// A millisecond of the caller's clock as a [`Tick`] and where in it the
/// millisecond lies (`frac`, in 1/16,000 s: 0 to 999), so that two
/// milliseconds compare as the pair. Only UDP's two-second stream rule,
/// the one timer short enough for 1/16 s to matter, keeps one
/// (`nf_conntrack_proto_udp.c: nf_conntrack_udp_packet()` compares
/// jiffies, of 1 to 10 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct FineTick {
    pub(crate) tick: Tick,
    pub(crate) frac: u16,
}

impl FineTick {
    /// The origin (all zero).
    pub(crate) const ZERO: FineTick = FineTick { tick: Tick::from_ticks(0), frac: 0 };
    /// The largest fraction: the last millisecond of a tick.
    pub(crate) const LAST_FRAC: u16 = 999;

    /// `secs` seconds later (saturating, as [`Tick::after_secs`]).
    #[inline]
    pub(crate) fn after_secs(self, secs: u32) -> FineTick {
        FineTick { tick: self.tick.after_secs(secs), frac: self.frac }
    }

    /// True when `self` is strictly earlier than the time `now` (a tick,
    /// and where in it: asked only when the ticks are equal, the rare
    /// case).
    #[inline(always)]
    pub(crate) fn is_before(&self, now: Tick, now_frac: impl FnOnce() -> u16) -> bool {
        now.is_after(self.tick) || (now == self.tick && now_frac() > self.frac)
    }
}

impl From<smoltcp::time::Instant> for Instant {
    /// smoltcp's clock counts microseconds (negative values clamp to zero).
    fn from(t: smoltcp::time::Instant) -> Instant {
        Instant::from_millis(u64::try_from(t.total_millis()).unwrap_or(0))
    }
}

/// A point in time: 1/16 s since the clock's origin, 40 bits (a high
/// 8-bit and a low 32-bit part, so that comparing two needs no assembly,
/// and an entry stores one in 5 bytes, [`Tick::parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, packed(2))]
pub(crate) struct Tick {
    // The low part first: a tick in a register is then its number of
    // ticks, with no shuffling of parts (an established UDP packet 7
    // instructions fewer, a TCP ACK 10, a new flow 14, measured with a
    // 16-bit high part).
    low: u32,
    high: u8,
}

impl Ord for Tick {
    /// The order of the numbers of ticks, compared half by half.
    #[inline]
    fn cmp(&self, other: &Tick) -> core::cmp::Ordering {
        let (a, b) = (*self, *other);
        (a.high, a.low).cmp(&(b.high, b.low))
    }
}

impl PartialOrd for Tick {
    #[inline]
    fn partial_cmp(&self, other: &Tick) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Tick {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Tick({=u64})", self.ticks());
    }
}

impl Tick {
    /// The last representable tick (2⁴⁰ − 1).
    pub(crate) const MAX: u64 = (1 << 40) - 1;

    /// `ticks`, or [`Tick::MAX`] if beyond it.
    pub(crate) const fn from_ticks(ticks: u64) -> Tick {
        let t = if ticks > Self::MAX { Self::MAX } else { ticks };
        Tick { high: (t >> 32) as u8, low: t as u32 }
    }

    /// The tick of parts `(low, high)` ([`Tick::parts`]).
    #[inline(always)]
    pub(crate) const fn from_parts(low: u32, high: u8) -> Tick {
        Tick { low, high }
    }

    /// The low 32 bits and the high 8, as an entry stores them.
    #[inline(always)]
    pub(crate) const fn parts(self) -> (u32, u8) {
        (self.low, self.high)
    }

    /// Ticks since the clock's origin.
    pub(crate) const fn ticks(self) -> u64 {
        ((self.high as u64) << 32) | self.low as u64
    }

    /// `self + secs`.
    pub(crate) fn after_secs(self, secs: u32) -> Tick {
        Tick::from_ticks(self.ticks() + u64::from(secs) * u64::from(TICKS_PER_SEC))
    }

    /// True when `self` is strictly later than `other`.
    #[inline]
    pub(crate) fn is_after(self, other: Tick) -> bool {
        // The same order two ways: on a 32-bit microcontroller as numbers
        // (the derived field-by-field ordering is a chain of branches there,
        // 15 more Cortex-M3 instructions per packet), on 64-bit hosts as
        // fields (9 fewer x86 instructions per packet). A test holds both
        // to the numeric order.
        if cfg!(target_pointer_width = "64") { self > other } else { self.ticks() > other.ticks() }
    }

    /// Whole seconds from `now` until `self`, 0 if passed (the kernel's
    /// truncating display: callers divide `nf_conntrack.h: nf_ct_expires()`
    /// by HZ).
    pub(crate) fn secs_left(self, now: Tick) -> u32 {
        let secs = self.ticks().saturating_sub(now.ticks()) / u64::from(TICKS_PER_SEC);
        u32::try_from(secs).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The 32-bit targets' division by 1000 is the division.
        #[test]
        fn div_rem_1000_divides(n in proptest::prelude::any::<u64>(), small in 0u64..5_000_000) {
            for n in [n, small, u64::MAX - small] {
                proptest::prop_assert_eq!(div_rem_1000(n), (n / 1000, (n % 1000) as u32));
            }
        }

        /// `is_after` is the order of the ticks as numbers, and the derived
        /// ordering (which `max` uses) agrees.
        #[test]
        fn is_after_is_the_numeric_order(a in 0u64..=Tick::MAX, b in 0u64..=Tick::MAX, near in 0u64..3) {
            // Now and then ticks that differ only in their low half.
            let b = if near == 0 { a ^ (b & 0xffff) } else { b };
            let (x, y) = (Tick::from_ticks(a), Tick::from_ticks(b));
            proptest::prop_assert_eq!(x.is_after(y), a > b);
            proptest::prop_assert_eq!(x > y, a > b);
            proptest::prop_assert_eq!(x.ticks() > y.ticks(), a > b);
        }

        /// The memo gives what the conversion gives, for any sequence of
        /// times (repeated, going back, far apart).
        #[test]
        fn the_memo_is_the_conversion(times in proptest::collection::vec(
            proptest::prop_oneof![0u64..3000, proptest::prelude::any::<u64>()], 1..40)) {
            let mut memo = TickMemo::ZERO;
            for &ms in times.iter().chain(times.iter().rev()) {
                let now = Instant::from_millis(ms);
                proptest::prop_assert_eq!(memo.tick(now), now.tick());
            }
            let mut fresh = TickMemo::ZERO;
            proptest::prop_assert_eq!(fresh.tick(Instant::from_millis(0)), Instant::from_millis(0).tick());
        }
    }

    #[test]
    fn ticks_never_wrap() {
        // Where a 32-bit tick wrapped (8.5 years), nothing happens.
        let t = Tick::from_ticks(u64::from(u32::MAX) - 5);
        let later = t.after_secs(1);
        assert!(later.is_after(t) && !t.is_after(later));
        assert_eq!((later.secs_left(t), t.secs_left(later)), (1, 0));
        // A Unix-epoch clock in milliseconds, 100 years on, and the longest
        // timeout: exact.
        let epoch_ms = 1_800_000_000_000u64;
        let now = Instant::from_millis(epoch_ms + 100 * 365 * 86_400_000).tick();
        let far = now.after_secs(u32::MAX);
        assert_eq!(far.secs_left(now), u32::MAX);
        assert!(far.is_after(now));
        // An entry that expired long ago stays expired, however long ago.
        let old = Instant::from_secs(10).tick();
        assert!(!old.is_after(now) && old.secs_left(now) == 0);
        // The end of the range saturates instead of wrapping.
        let end = Instant::from_millis(u64::MAX).tick();
        assert_eq!(end.ticks(), Tick::MAX);
        assert_eq!(end.after_secs(5), end);
    }

    #[test]
    fn instant_to_tick() {
        assert_eq!(Instant::from_secs(2).tick().ticks(), 32);
        assert_eq!(Instant::from_millis(62).tick().ticks(), 0);
        assert_eq!(Instant::from_millis(63).tick().ticks(), 1);
        assert_eq!(Instant::from_millis(1063).tick().ticks(), 17);
        let s = smoltcp::time::Instant::from_millis(1500);
        assert_eq!(Instant::from(s).millis(), 1500);
    }
}
