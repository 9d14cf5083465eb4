//! The two lists `conntrack -L unconfirmed` and `conntrack -L dying` read
//! besides the table (`nf_conntrack_netlink.c:
//! ctnetlink_dump_unconfirmed()`, `ctnetlink_dump_dying()`).
//!
//! What they hold in ctrack, honestly:
//!
//! * **unconfirmed**: entries [`ConnTable::classify`] created whose packet
//!   has not yet been [`confirm`](ConnTable::confirm)ed or
//!   [`discard`](ConnTable::discard)ed: the list Linux kept per CPU up to
//!   5.18. A caller of [`ConnTable::track`] never sees one (its entries are
//!   confirmed in the same call). Linux 6.18 has no such list any more (an
//!   unconfirmed entry belongs to its packet only) and its dump is empty.
//! * **dying**: entries whose life has ended but that still hold their
//!   slot: expired ones that neither [`ConnTable::gc`] nor a lookup has
//!   reaped yet, and the entry of a NATed connection that a packet ended
//!   (kept, expired, until the packet is translated). They are the
//!   entries "removed from the table but not yet freed" of Linux before
//!   6.0. In Linux 6.18 the dying list holds only entries whose DESTROY
//!   event a listener could not take yet, to be sent again; ctrack's sinks
//!   never refuse an event (a full [`EventRing`](super::EventRing) counts it
//!   lost), so nothing of that kind exists here.
//!
//! Both are found by walking every slot: they cost nothing until read.

use super::storage::Storage;
use super::{ConnTable, EntryRef};
use crate::status::Status;
use crate::time::Instant;

impl<S: Storage> ConnTable<S> {
    /// Entries created by [`ConnTable::classify`] and not yet confirmed or
    /// discarded, live ones (`conntrack -L unconfirmed`; see the module
    /// notes for what Linux shows).
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, Meta};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let mut v = table.classify(now, &query, Meta::default());
    /// assert_eq!(table.unconfirmed(now).count(), 1);
    /// assert_eq!(table.entries(now).count(), 0);
    /// table.confirm(&mut v, &query).unwrap();
    /// assert_eq!(table.unconfirmed(now).count(), 0);
    /// // Expired and not reaped yet: dying.
    /// let later = Instant::from_secs(100);
    /// assert_eq!(table.dying(later).count(), 1);
    /// table.gc(later, 64);
    /// assert_eq!(table.dying(later).count(), 0);
    /// ```
    pub fn unconfirmed(&self, now: Instant) -> impl Iterator<Item = EntryRef<'_>> {
        let now = now.tick();
        self.slots().iter().enumerate().filter_map(move |(i, s)| match s.entry() {
            Some(e) if !e.status.contains(Status::CONFIRMED) && !e.expired(now) => {
                Some(self.entry_ref(e, now, i))
            }
            _ => None,
        })
    }

    /// Entries whose life has ended but that still hold their slot
    /// (`conntrack -L dying`; see the module notes): expired, not yet
    /// reaped. Their timeout shows as 0.
    pub fn dying(&self, now: Instant) -> impl Iterator<Item = EntryRef<'_>> {
        let now = now.tick();
        self.slots().iter().enumerate().filter_map(move |(i, s)| match s.entry() {
            Some(e) if e.expired(now) => Some(self.entry_ref(e, now, i)),
            _ => None,
        })
    }
}
