//! A hint to the processor: fetch a cache line now, it will be read soon.
//!
//! The packet path asks this way for the index bucket of a UDP or TCP
//! packet's key before it checks the packet's headers, so that the bucket
//! is on its way from memory while the checks run (measured with
//! `benches/floor.rs`: an established UDP packet at 1,000,000 flows in
//! about 220 ns instead of 390), and
//! [`ConnTable::track_batch`](crate::ConnTable::track_batch) asks for the
//! index buckets of a whole burst before it reads any of them, and for
//! each packet's entry a few packets before its turn. An ordinary
//! load would not do: the processor retires instructions in order, so a
//! load that misses holds back everything after it, and after a few
//! packets' worth of hashing the reorder buffer is full and no further
//! load is issued. A prefetch retires at once, so the burst's misses are
//! all in flight together (a burst of 32 packets in 3.3 µs instead of 4.7
//! at 1,000,000 flows, when that step alone changed).
//!
//! A prefetch is only as good as its address translation: on the machine
//! of the README's figures, one whose address misses the TLB did little,
//! and the tables of 1,000,000 flows gained most on huge pages (see the
//! README, "Measuring speed").
//!
//! This is the crate's one `unsafe` block (the x86-64 intrinsic is an
//! `unsafe fn`); on other targets the hint does nothing (a
//! microcontroller has no data cache to fill).

/// Whether [`line`] does anything on this target.
pub(crate) const ENABLED: bool = cfg!(all(target_arch = "x86_64", target_feature = "sse"));

/// Ask for the cache line that holds the byte `offset` bytes into `*r`
/// (past its end too: the address is only a hint).
#[inline(always)]
pub(crate) fn line<T: ?Sized>(r: &T, offset: usize) {
    address((r as *const T).cast::<u8>().wrapping_add(offset));
}

/// Ask for the cache line that holds the byte at `p`, whatever `p` is
/// (a pointer computed without bounds tests, never read through).
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn address<T>(p: *const T) {
    let p = p.cast::<i8>();
    // SAFETY: `_mm_prefetch` is `unsafe` only because it is a
    // `#[target_feature(enable = "sse")]` function, and SSE is enabled
    // (the `cfg`; every x86-64 processor has it). The instruction,
    // PREFETCHT0, is a hint: it reads no memory the program can observe,
    // writes none, and never faults, whatever the address (Intel SDM
    // vol. 2B, "PREFETCHh"; AMD APM vol. 3, "PREFETCHlevel"), so any
    // pointer, even one past the object or dangling, is sound.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p)
    };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::line;

    /// A prefetch changes nothing and never faults: of a value, past its
    /// end, of a zero-sized value and far beyond any mapping.
    #[test]
    fn a_prefetch_is_only_a_hint() {
        let words = [7u32; 16];
        line(&words, 0);
        line(&words, 63);
        line(&words, 4096);
        line(&(), 0);
        line(&words[0], usize::MAX / 2);
        assert_eq!(words, [7u32; 16]);
    }
}
