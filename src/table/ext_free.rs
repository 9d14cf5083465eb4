//! The unused extension slots: a stack threaded through them, from which
//! a connection that needs an extension (a helper, a master, a NAT
//! binding) takes one in constant time, however full the pool.
//!
//! Each unused slot keeps the next unused slot's index in the memory of
//! the extension it does not hold (its owner field; the slot stays
//! unused), as the difference from the slot after it, so that all zero
//! means "the next slot": an all-zero pool (a `static` table in `.bss`, a
//! heap table just built, a flushed one) is already the stack of every
//! slot, in order, and fills in order. A freed slot goes on top, so the
//! slot taken next is the one freed last, still in the cache.
//!
//! The stack runs over the slots a table can use, the first
//! [`Link::MAX_EXT`](super::storage::Link) of the pool; a link that points
//! past them ends it.

use crate::helper::{Ext, ExtSlot};
use crate::zeroed::{Maybe, Zeroed};

/// The stack of unused extension slots: where it starts. All zero (the
/// first slot on top) for an all-zero pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ExtFree {
    /// The top unused slot; past the usable slots when there is none.
    top: u32,
}

impl ExtFree {
    /// The stack of an all-zero pool: every slot, in order.
    pub const ALL: ExtFree = ExtFree { top: 0 };

    /// The slot [`ExtFree::fill`] would take from the first `n` of `exts`,
    /// if any.
    #[inline]
    pub fn top(self, exts: &[ExtSlot], n: usize) -> Option<usize> {
        let t = self.top as usize;
        (t < n && exts.get(t)?.0.is_none()).then_some(t)
    }

    /// Take the top unused slot of the first `n` of `exts` for `ext`.
    #[inline]
    pub fn fill(&mut self, exts: &mut [ExtSlot], n: usize, ext: Ext) -> Option<usize> {
        let t = self.top(exts, n)?;
        self.top = next(exts, t);
        exts[t].0 = Maybe::some(ext);
        Some(t)
    }

    /// Empty extension slot `x` and put it on top.
    #[inline]
    pub fn push(&mut self, exts: &mut [ExtSlot], x: usize) {
        if let Some(s) = exts.get_mut(x) {
            let link = self.top.wrapping_sub((x as u32).wrapping_add(1));
            s.0 = Maybe::none_carrying(Ext { owner: link, ..Ext::ZERO });
            self.top = x as u32;
        }
    }
}

/// The unused slot under unused slot `x` (past the end: none).
#[inline]
fn next(exts: &[ExtSlot], x: usize) -> u32 {
    let d = exts.get(x).map_or(0, |s| s.0.carried().owner);
    (x as u32).wrapping_add(1).wrapping_add(d)
}

/// Check `stack` over the first `n` of `exts` (tests and fuzz targets):
/// it holds each unused slot of them once and nothing else.
#[cfg(any(test, fuzzing))]
pub(super) fn check(stack: ExtFree, exts: &[ExtSlot], n: usize) -> Result<(), &'static str> {
    let n = n.min(exts.len());
    let unused = exts[..n].iter().filter(|s| s.0.is_none()).count();
    let (mut at, mut listed) = (stack.top as usize, 0);
    // A slot listed twice would make the walk go round for ever: more
    // steps than slots.
    while at < n {
        if !exts[at].0.is_none() {
            return Err("a used extension slot on the stack of unused ones");
        }
        listed += 1;
        if listed > n {
            return Err("the stack of unused extension slots goes round");
        }
        at = next(exts, at) as usize;
    }
    if listed != unused {
        return Err("an unused extension slot missing from the stack");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{ExtFree, check};
    use crate::helper::{Ext, ExtSlot};
    use crate::zeroed::Maybe;

    fn ext(owner: u32) -> Ext {
        Ext::new(owner, None, None)
    }

    fn used(owner: u32) -> ExtSlot {
        ExtSlot(Maybe::some(ext(owner)), crate::table::by_source::SourceLinks::NONE)
    }

    /// An all-zero pool is the stack of every slot in order; a freed slot
    /// is taken next; the stack ends when the slots do, and a slot past the
    /// first `n` is never taken.
    #[test]
    fn slots_come_off_the_top() {
        let mut exts = [ExtSlot::EMPTY; 6];
        let mut stack = ExtFree::ALL;
        for want in 0..4 {
            assert_eq!(stack.fill(&mut exts, 4, ext(want as u32)), Some(want));
            assert_eq!(exts[want].0.get().map(|x| x.owner), Some(want as u32));
            check(stack, &exts, 4).unwrap();
        }
        assert_eq!(stack.fill(&mut exts, 4, ext(9)), None, "slots 4 and 5 are beyond n");
        stack.push(&mut exts, 2);
        stack.push(&mut exts, 0);
        check(stack, &exts, 4).unwrap();
        assert!(exts[0].0.is_none() && exts[2].0.is_none());
        assert_eq!(stack.fill(&mut exts, 4, ext(9)), Some(0));
        assert_eq!(stack.fill(&mut exts, 4, ext(9)), Some(2));
        assert_eq!(stack.fill(&mut exts, 4, ext(9)), None);
        check(stack, &exts, 4).unwrap();
    }

    /// The check finds a used slot on the stack and an unused one off it.
    #[test]
    fn the_check_finds_damage() {
        let mut exts = [ExtSlot::EMPTY; 4];
        let stack = ExtFree::ALL;
        check(stack, &exts, 4).unwrap();
        exts[1] = used(1);
        assert!(check(stack, &exts, 4).is_err(), "slot 1 is used but listed");
        let mut stack = ExtFree::ALL;
        assert_eq!(stack.fill(&mut exts, 4, ext(0)), Some(0));
        exts[0] = ExtSlot::EMPTY;
        assert!(check(stack, &exts, 4).is_err(), "slot 0 is unused but not listed");
    }

    proptest::proptest! {
        /// Any sequence of takes and frees keeps the stack whole, takes only
        /// unused slots, and finds one whenever one is unused.
        #[test]
        fn the_stack_stays_whole(ops in proptest::collection::vec((proptest::prelude::any::<bool>(), 0usize..40), 0..300)) {
            const N: usize = 33;
            let mut exts = [ExtSlot::EMPTY; 40];
            let mut stack = ExtFree::ALL;
            for (take, pick) in ops {
                let unused = exts[..N].iter().filter(|s| s.0.is_none()).count();
                if take {
                    let before = exts;
                    match stack.fill(&mut exts, N, ext(7)) {
                        Some(x) => {
                            proptest::prop_assert!(x < N && before[x].0.is_none());
                            proptest::prop_assert_eq!(exts[x].0.get().map(|e| e.owner), Some(7));
                        }
                        None => proptest::prop_assert_eq!(unused, 0),
                    }
                } else if pick < N && !exts[pick].0.is_none() {
                    stack.push(&mut exts, pick);
                }
                proptest::prop_assert_eq!(check(stack, &exts, N), Ok(()));
            }
        }
    }
}
