//! What an entry carries besides its tracking state, each part behind its
//! own cargo feature so that a table built without it pays no byte for it:
//!
//! * feature `ct-mark`: the 32-bit connection mark and the 128 connection
//!   label bits (`nf_conntrack.h: struct nf_conn::mark`, the labels
//!   extension `nf_conntrack_labels.h: struct nf_conn_labels`), 20 bytes;
//! * feature `ct-acct`: packets and bytes per direction
//!   (`nf_conntrack_acct.h: struct nf_conn_acct`, the
//!   `nf_conntrack_acct` sysctl) and the start timestamp
//!   (`nf_conntrack_timestamp.h: struct nf_conn_tstamp`, the
//!   `nf_conntrack_timestamp` sysctl), 40 bytes.
//!
//! Why a field of the entry and not the extension pool: the pool is sized
//! for the few connections with a helper, a master or NAT, while a mark or
//! counters are wanted on every connection (a connmark rule marks them
//! all); a pool slot per entry would cost the pool's whole extension (about
//! 100 bytes) for 20 or 40. Neither feature is a default one: without
//! them [`Extra`] is empty and the entry keeps its 108 bytes.

use crate::time::Tick;
use crate::tuple::Direction;

/// The entry's mark, labels, counters and start time (each present only
/// with its feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Extra {
    /// `ct mark`.
    #[cfg(feature = "ct-mark")]
    pub mark: u32,
    /// `ct label`, bit `i` in word `i / 32` (32-bit words keep the entry's
    /// alignment at 4).
    #[cfg(feature = "ct-mark")]
    pub labels: [u32; 4],
    /// Packets and bytes: original direction in words 0..4, reply in
    /// 4..8, each count a 64-bit number in two words (high first).
    #[cfg(feature = "ct-acct")]
    pub counters: [u32; 8],
    /// When the entry was confirmed, if timestamps were on then.
    #[cfg(feature = "ct-acct")]
    pub start: Tick,
}

impl Extra {
    pub(crate) const ZERO: Extra = Extra {
        #[cfg(feature = "ct-mark")]
        mark: 0,
        #[cfg(feature = "ct-mark")]
        labels: [0; 4],
        #[cfg(feature = "ct-acct")]
        counters: [0; 8],
        #[cfg(feature = "ct-acct")]
        start: Tick::from_ticks(0),
    };

    /// The mark (0 without feature `ct-mark`).
    pub(crate) fn mark(&self) -> u32 {
        #[cfg(feature = "ct-mark")]
        return self.mark;
        #[cfg(not(feature = "ct-mark"))]
        0
    }

    /// The labels as one 128-bit number, bit `i` = label `i` (0 without
    /// feature `ct-mark`).
    pub(crate) fn labels(&self) -> u128 {
        #[cfg(feature = "ct-mark")]
        return self.labels.iter().rev().fold(0u128, |a, &w| (a << 32) | u128::from(w));
        #[cfg(not(feature = "ct-mark"))]
        0
    }

    #[cfg(feature = "ct-mark")]
    pub(crate) fn set_labels(&mut self, labels: u128) {
        for (k, w) in self.labels.iter_mut().enumerate() {
            *w = (labels >> (32 * k)) as u32;
        }
    }

    /// Count a packet of `bytes` bytes in direction `dir`
    /// (`nf_conntrack_acct.h: nf_ct_acct_update()`). Counters wrap at
    /// 2^64 as the kernel's `atomic64_t` do.
    #[cfg(feature = "ct-acct")]
    pub(crate) fn count(&mut self, dir: Direction, bytes: u32) {
        let at = if dir == Direction::Original { 0 } else { 4 };
        let add = |w: &mut [u32], v: u64| {
            let n = ((u64::from(w[0]) << 32) | u64::from(w[1])).wrapping_add(v);
            w[0] = (n >> 32) as u32;
            w[1] = n as u32;
        };
        add(&mut self.counters[at..at + 2], 1);
        add(&mut self.counters[at + 2..at + 4], u64::from(bytes));
    }

    /// Set the counters: (packets, bytes) original, then reply.
    #[cfg(feature = "ct-acct")]
    pub(crate) fn set_counted(&mut self, c: [(u64, u64); 2]) {
        for (k, (p, b)) in c.into_iter().enumerate() {
            for (j, v) in [p, b].into_iter().enumerate() {
                let at = 4 * k + 2 * j;
                self.counters[at] = (v >> 32) as u32;
                self.counters[at + 1] = v as u32;
            }
        }
    }

    /// Packets and bytes in direction `dir` (zeros without feature
    /// `ct-acct`).
    pub(crate) fn counted(&self, dir: Direction) -> (u64, u64) {
        #[cfg(feature = "ct-acct")]
        {
            let at = if dir == Direction::Original { 0 } else { 4 };
            let w = &self.counters;
            let get = |k: usize| (u64::from(w[k]) << 32) | u64::from(w[k + 1]);
            (get(at), get(at + 2))
        }
        #[cfg(not(feature = "ct-acct"))]
        {
            let _ = dir;
            (0, 0)
        }
    }

    /// When the entry was confirmed, if timestamps were on then.
    pub(crate) fn start(&self) -> Option<Tick> {
        #[cfg(feature = "ct-acct")]
        return (self.start.ticks() != 0).then_some(self.start);
        #[cfg(not(feature = "ct-acct"))]
        None
    }
}

impl Default for Extra {
    fn default() -> Self {
        Self::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "ct-mark")]
    fn labels_round_trip() {
        let mut x = Extra::ZERO;
        let l = (1u128 << 127) | (1 << 64) | (1 << 33) | 1;
        x.set_labels(l);
        assert_eq!(x.labels(), l);
    }

    #[test]
    #[cfg(feature = "ct-acct")]
    fn counters_carry_into_the_high_word_and_wrap() {
        let mut x = Extra::ZERO;
        x.count(Direction::Reply, u32::MAX);
        x.count(Direction::Reply, 2);
        assert_eq!(x.counted(Direction::Reply), (2, u64::from(u32::MAX) + 2));
        assert_eq!(x.counted(Direction::Original), (0, 0));
        x.counters[6] = u32::MAX;
        x.counters[7] = u32::MAX;
        x.count(Direction::Reply, 1);
        assert_eq!(x.counted(Direction::Reply), (3, 0));
    }

    #[test]
    fn empty_without_features() {
        let size = core::mem::size_of::<Extra>();
        let want =
            if cfg!(feature = "ct-mark") { 20 } else { 0 } + if cfg!(feature = "ct-acct") { 40 } else { 0 };
        assert_eq!(size, want);
    }
}
