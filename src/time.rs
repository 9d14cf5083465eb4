//! Time as the caller supplies it, and the compact form entries store.
//!
//! A `no_std` library has no clock: every call that can create, refresh or
//! expire an entry takes the current [`Instant`]. The caller's clock must be
//! monotonic; it may start anywhere.
//!
//! Entries store deadlines as [`Tick`]s, 1/16 s in a wrapping `u32` (the way
//! the kernel stores jiffies): 4 bytes per deadline instead of 8, a
//! resolution far finer than any conntrack timeout (the shortest rule, UDP's
//! 2 s stream grace, is off by at most 62.5 ms), and a range of 8.5 years in
//! which comparisons are exact. Comparisons are modulo 2³², so a table keeps
//! working across the wrap as long as every entry is visited (looked up or
//! swept by [`ConnTable::gc`](crate::ConnTable::gc)) at least once every
//! 4 years.

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
        // Truncation to u32 is the intended wrap (see the module docs).
        Tick((self.millis.wrapping_mul(TICKS_PER_SEC as u64) / 1000) as u32)
    }
}

impl From<smoltcp::time::Instant> for Instant {
    /// smoltcp's clock counts microseconds (negative values clamp to zero).
    fn from(t: smoltcp::time::Instant) -> Instant {
        Instant::from_millis(u64::try_from(t.total_millis()).unwrap_or(0))
    }
}

/// A stored point in time: 1/16 s, wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Tick(pub(crate) u32);

impl Tick {
    /// `self + secs`, wrapping.
    pub(crate) fn after_secs(self, secs: u32) -> Tick {
        Tick(self.0.wrapping_add(secs.saturating_mul(TICKS_PER_SEC)))
    }

    /// Signed distance `self − earlier` in ticks, modulo 2³².
    pub(crate) fn since(self, earlier: Tick) -> i32 {
        self.0.wrapping_sub(earlier.0) as i32
    }

    /// True when `self` is strictly later than `other`.
    pub(crate) fn is_after(self, other: Tick) -> bool {
        self.since(other) > 0
    }

    /// Whole seconds from `now` until `self`, 0 if passed (the kernel's
    /// truncating display: callers divide `nf_conntrack.h: nf_ct_expires()`
    /// by HZ).
    pub(crate) fn secs_left(self, now: Tick) -> u32 {
        (self.since(now).max(0) as u32) / TICKS_PER_SEC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_wrap() {
        let near_wrap = Tick(u32::MAX - 5);
        let later = near_wrap.after_secs(1);
        assert!(later.is_after(near_wrap));
        assert!(!near_wrap.is_after(later));
        assert_eq!(later.secs_left(near_wrap), 1);
        assert_eq!(near_wrap.secs_left(later), 0);
    }

    #[test]
    fn instant_to_tick() {
        assert_eq!(Instant::from_secs(2).tick(), Tick(32));
        assert_eq!(Instant::from_millis(62).tick(), Tick(0));
        assert_eq!(Instant::from_millis(63).tick(), Tick(1));
        let s = smoltcp::time::Instant::from_millis(1500);
        assert_eq!(Instant::from(s).millis(), 1500);
    }
}
