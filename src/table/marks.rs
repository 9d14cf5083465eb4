//! The connection mark and labels, set by the caller as nftables sets them
//! (`ct mark set`, `ct label set`: `nft_ct.c: nft_ct_set_eval()`), read
//! through [`EntryRef::mark`](super::EntryRef::mark) and
//! [`EntryRef::labels`](super::EntryRef::labels). Stored in the entry with
//! feature `ct-mark` (see `extra.rs` for why not in the extension pool).

use super::ConnTable;
use super::events::EventMask;
use super::storage::Storage;
use crate::time::Instant;
use crate::verdict::Handle;

impl<S: Storage> ConnTable<S> {
    /// Set the mark of the entry `handle` names (`ct mark set`; Linux
    /// raises the MARK event only when the value changes). Returns whether
    /// the entry was there. Needs feature `ct-mark` (without it, nothing is
    /// stored and this returns false).
    ///
    /// An expected connection starts with its master's mark
    /// (`nf_conntrack_core.c: init_conntrack()`).
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let h = table.track(now, &query).entry().unwrap();
    /// if !cfg!(feature = "ct-mark") {
    ///     // Without the feature nothing is stored.
    ///     assert!(!table.set_mark(h, 0x2a));
    ///     return;
    /// }
    /// assert!(table.set_mark(h, 0x2a));
    /// assert!(table.set_labels(h, 1 << 3 | 1 << 70));
    /// let e = table.get(h, now).unwrap();
    /// assert_eq!((e.mark(), e.labels()), (42, 1 << 3 | 1 << 70));
    /// assert!(e.to_string().ends_with(" mark=42 use=1 labels=3,70"));
    /// // conntrack -D --mark 0x20/0xf0
    /// assert_eq!(table.delete_marked(now, 0x20, 0xf0), 1);
    /// ```
    pub fn set_mark(&mut self, handle: Handle, mark: u32) -> bool {
        #[cfg(feature = "ct-mark")]
        {
            let Some(e) = self.entry_of_mut(handle) else { return false };
            let changed = e.extra.mark != mark;
            e.extra.mark = mark;
            if changed {
                self.changed(handle, EventMask::MARK);
            }
            true
        }
        #[cfg(not(feature = "ct-mark"))]
        {
            let _ = (handle, mark, EventMask::MARK);
            false
        }
    }

    /// Set the labels of the entry `handle` names, bit `i` = label `i`
    /// (`ct label set`; the LABEL event is raised when they change:
    /// `nf_conntrack_labels.c: nf_connlabels_replace()`). Returns whether
    /// the entry was there. Needs feature `ct-mark`.
    pub fn set_labels(&mut self, handle: Handle, labels: u128) -> bool {
        #[cfg(feature = "ct-mark")]
        {
            let Some(e) = self.entry_of_mut(handle) else { return false };
            let changed = e.extra.labels() != labels;
            e.extra.set_labels(labels);
            if changed {
                self.changed(handle, EventMask::LABEL);
            }
            true
        }
        #[cfg(not(feature = "ct-mark"))]
        {
            let _ = (handle, labels, EventMask::LABEL);
            false
        }
    }

    /// Delete every live, confirmed connection whose mark, masked with
    /// `mask`, is `mark` (`conntrack -D --mark mark/mask`: the filter of
    /// `nf_conntrack_netlink.c: ctnetlink_filter_match()`). Returns how
    /// many were deleted.
    pub fn delete_marked(&mut self, now: Instant, mark: u32, mask: u32) -> usize {
        self.delete_where(now, |e| e.mark() & mask == mark)
    }

    /// The live entry `handle` names, mutable.
    #[cfg(feature = "ct-mark")]
    fn entry_of_mut(&mut self, handle: Handle) -> Option<&mut super::storage::Entry> {
        self.entry_of(handle)?;
        self.entry_at_mut(handle.index())
    }

    /// An UPDATE event `mask` for a confirmed entry (an unconfirmed one
    /// carries the change in its NEW event).
    #[cfg(feature = "ct-mark")]
    fn changed(&mut self, handle: Handle, mask: EventMask) {
        if self.wants(mask)
            && self.entry_of(handle).is_some_and(|e| e.status.contains(crate::status::Status::CONFIRMED))
        {
            self.conn_event(handle.index(), mask);
        }
    }
}
