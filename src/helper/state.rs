//! Per-connection helper state: a fixed byte array in the table's
//! extension slot, read and written through the helper's own type.

/// The bytes of one connection's helper state: all zero when the helper
/// is attached. Helpers see it only through their [`HelperState`] type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelperData([u8; HelperData::LEN]);

impl HelperData {
    pub(crate) const ZERO: HelperData = HelperData([0; HelperData::LEN]);
    /// Bytes of state a helper may keep per connection.
    pub const LEN: usize = 20;

    /// The bytes (the snapshot format carries them as they are).
    pub(crate) fn as_bytes(&self) -> &[u8; HelperData::LEN] {
        &self.0
    }

    /// State of these bytes.
    pub(crate) const fn from_bytes(bytes: [u8; HelperData::LEN]) -> HelperData {
        HelperData(bytes)
    }
}

/// A helper's per-connection state, kept in a [`HelperData`] of
/// [`HelperData::LEN`] bytes: `load` reads the fields in order, `store`
/// writes them in the same order. What does not fit is not stored; a state
/// never stored reads as zeros.
///
/// ```
/// use ctrack::helper::{HelperState, StateReader, StateWriter};
///
/// #[derive(Debug, Default, PartialEq)]
/// struct Calls { last_cseq: u32, open: u16 }
///
/// impl HelperState for Calls {
///     fn load(r: &mut StateReader<'_>) -> Self {
///         Calls { last_cseq: r.u32(), open: r.u16() }
///     }
///     fn store(&self, w: &mut StateWriter<'_>) {
///         w.u32(self.last_cseq);
///         w.u16(self.open);
///     }
/// }
/// ```
pub trait HelperState {
    /// Read the state.
    fn load(r: &mut StateReader<'_>) -> Self;
    /// Write the state.
    fn store(&self, w: &mut StateWriter<'_>);
}

/// Reads a [`HelperState`]'s fields in order (big-endian; zero past the end).
pub struct StateReader<'a> {
    bytes: &'a [u8],
}

impl<'a> StateReader<'a> {
    pub(crate) fn new(data: &'a HelperData) -> Self {
        StateReader { bytes: &data.0 }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some((head, rest)) = self.bytes.split_at_checked(N) {
            out.copy_from_slice(head);
            self.bytes = rest;
        } else {
            self.bytes = &[];
        }
        out
    }

    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    /// The next 16-bit field.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take())
    }

    /// The next 32-bit field.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }
}

/// Writes a [`HelperState`]'s fields in order (what does not fit is
/// dropped).
pub struct StateWriter<'a> {
    bytes: &'a mut [u8],
}

impl<'a> StateWriter<'a> {
    pub(crate) fn new(data: &'a mut HelperData) -> Self {
        StateWriter { bytes: &mut data.0 }
    }

    fn put(&mut self, v: &[u8]) {
        let bytes = core::mem::take(&mut self.bytes);
        match bytes.split_at_mut_checked(v.len()) {
            Some((head, rest)) => {
                head.copy_from_slice(v);
                self.bytes = rest;
            }
            None => self.bytes = &mut [],
        }
    }

    /// Write a byte.
    pub fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    /// Write a 16-bit field.
    pub fn u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }

    /// Write a 32-bit field.
    pub fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for StateReader<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "StateReader({=usize} bytes left)", self.bytes.len());
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for StateWriter<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "StateWriter({=usize} bytes left)", self.bytes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Wide {
        a: [u32; 5],
        b: u16,
    }

    impl HelperState for Wide {
        fn load(r: &mut StateReader<'_>) -> Self {
            Wide { a: core::array::from_fn(|_| r.u32()), b: r.u16() }
        }
        fn store(&self, w: &mut StateWriter<'_>) {
            self.a.iter().for_each(|&v| w.u32(v));
            w.u16(self.b);
        }
    }

    #[test]
    fn round_trip_and_overflow() {
        let mut d = HelperData::default();
        assert_eq!(Wide::load(&mut StateReader::new(&d)), Wide::default());
        let s = Wide { a: [1, 2, 3, 4, 5], b: 7 };
        s.store(&mut StateWriter::new(&mut d));
        // 20 bytes hold the five u32s; the u16 past the end is dropped.
        assert_eq!(Wide::load(&mut StateReader::new(&d)), Wide { a: [1, 2, 3, 4, 5], b: 0 });
    }
}
