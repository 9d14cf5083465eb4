//! [`Maybe`]: an optional value whose "none" is all-zero memory, for the
//! slots of a table (an `Option` marks "none" with whatever value the
//! compiler picks, often not zero, and a `static` table that is not all
//! zero is placed in `.data`: flash, and a copy at boot).

/// A type with an all-zero value.
pub(crate) trait Zeroed: Copy {
    /// The all-zero value.
    const ZERO: Self;
}

/// `Option<T>` with an all-zero [`Maybe::NONE`].
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Maybe<T> {
    some: bool,
    value: T,
}

impl<T: Zeroed> Maybe<T> {
    /// No value (all zero).
    pub(crate) const NONE: Maybe<T> = Maybe { some: false, value: T::ZERO };

    pub(crate) fn some(value: T) -> Maybe<T> {
        Maybe { some: true, value }
    }

    pub(crate) fn as_ref(&self) -> Option<&T> {
        self.some.then_some(&self.value)
    }

    pub(crate) fn as_mut(&mut self) -> Option<&mut T> {
        self.some.then_some(&mut self.value)
    }

    /// The value, copied.
    pub(crate) fn get(&self) -> Option<T> {
        self.some.then_some(self.value)
    }

    pub(crate) fn is_none(&self) -> bool {
        !self.some
    }

    /// No value, its memory carrying `value` all the same (an unused
    /// slot's link in a list of unused slots): [`Maybe::carried`] gives it
    /// back; every other reading sees none.
    pub(crate) fn none_carrying(value: T) -> Maybe<T> {
        Maybe { some: false, value }
    }

    /// What a none carries ([`Maybe::none_carrying`]; all zero for
    /// [`Maybe::NONE`]), or all zero for a value.
    pub(crate) fn carried(&self) -> T {
        if self.some { T::ZERO } else { self.value }
    }

    pub(crate) fn take(&mut self) -> Option<T> {
        core::mem::replace(self, Maybe::NONE).get()
    }
}
