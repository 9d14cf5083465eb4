//! The control plane's deletions: `conntrack -D` by tuple or by filter,
//! `conntrack -F expect` and `conntrack -D expect` (in Linux,
//! `nf_conntrack_netlink.c: ctnetlink_del_conntrack()`, which deletes one
//! entry by tuple or, without a tuple, every entry a filter selects through
//! `nf_ct_iterate_cleanup_net()`; and `ctnetlink_del_expect()`, by tuple,
//! by helper name or all of them).

use super::probe::Sought;
use super::storage::Storage;
use super::{ConnTable, EventKind};
use crate::expect::ExpectLine;
use crate::time::Instant;
use crate::tuple::Tuple;

use super::EntryRef;

impl<S: Storage> ConnTable<S> {
    /// Delete the live, confirmed connection that `tuple` belongs to, in
    /// either direction, in `zone` (`conntrack -D` with a tuple:
    /// `nf_conntrack_netlink.c: ctnetlink_del_conntrack()`), with its
    /// extension and the expectations it made. Returns whether there was
    /// one.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant, packet_tuple};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let _ = table.track(now, &query);
    /// // The reply tuple names the connection too.
    /// let reply = packet_tuple(&query).unwrap().invert().unwrap();
    /// assert!(!table.delete_tuple(&reply, 1, now), "another zone");
    /// assert!(table.delete_tuple(&reply, 0, now));
    /// assert!(table.is_empty());
    /// ```
    pub fn delete_tuple(&mut self, tuple: &Tuple, zone: u16, now: Instant) -> bool {
        let Some((key, is_key)) = tuple.canonical() else { return false };
        let now = now.tick();
        self.tick_clock(now);
        match self.locate(Sought { place: self.place(&key, zone), key: &key, is_key, zone }, now) {
            Some((i, _)) => {
                self.remove(i);
                true
            }
            None => false,
        }
    }

    /// Delete every live, confirmed connection for which `filter` holds
    /// (`conntrack -D` with a filter, `conntrack -F` with one:
    /// `nf_conntrack_core.c: nf_ct_iterate_cleanup_net()` with
    /// `nf_conntrack_netlink.c: ctnetlink_filter_match()`); the filter sees
    /// each as an [`EntryRef`] (zone, tuples, protocol, addresses, status,
    /// TCP or SCTP state, helper, timeout). Each goes with its extension
    /// and the expectations it made. Returns how many were deleted. Visits
    /// every slot.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, Meta, Status};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let _ = table.track_with(now, &query, Meta::default().with_zone(1));
    /// let _ = table.track_with(now, &query, Meta::default().with_zone(2));
    /// // conntrack -D -w 2 -p udp -s 10.0.0.1
    /// let n = table.delete_where(now, |e| {
    ///     e.zone() == 2 && e.orig().proto() == 17 && e.orig().src() == core::net::Ipv4Addr::new(10, 0, 0, 1)
    /// });
    /// assert_eq!((n, table.len()), (1, 1));
    /// // conntrack -D --status UNREPLIED (no SEEN_REPLY)
    /// assert_eq!(table.delete_where(now, |e| !e.status().contains(Status::SEEN_REPLY)), 1);
    /// assert!(table.is_empty());
    /// ```
    pub fn delete_where(&mut self, now: Instant, mut filter: impl FnMut(&EntryRef<'_>) -> bool) -> usize {
        let now = now.tick();
        self.tick_clock(now);
        let mut deleted = 0;
        for i in 0..self.capacity() {
            let doomed = match self.entry_at(i) {
                Some(e) if super::listed(e, now) => filter(&self.entry_ref(e, now, i)),
                _ => false,
            };
            if doomed {
                self.remove(i);
                deleted += 1;
            }
        }
        deleted
    }

    /// Delete every expectation (`conntrack -F expect`:
    /// `nf_conntrack_netlink.c: ctnetlink_del_expect()` without a tuple);
    /// their masters stay. Returns how many there were (expired ones not yet
    /// reaped included).
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// assert_eq!(table.flush_expectations(), 0);
    /// ```
    pub fn flush_expectations(&mut self) -> usize {
        let mut n = 0;
        for i in 0..self.store.parts().expects.len() {
            if self.store.parts().expects[i].0.as_ref().is_some() {
                self.expect_event(i, EventKind::Destroy);
                self.expects().delete(i);
                n += 1;
            }
        }
        n
    }

    /// Delete the expired expectations, each with its DESTROY event (what
    /// the expectation's timer does in Linux: `nf_conntrack_expect.c:
    /// nf_ct_expectation_timed_out()`).
    pub(super) fn reap_expectations(&mut self, now: crate::time::Tick) {
        if self.expect_book.live == 0 {
            return;
        }
        for i in 0..self.store.parts().expects.len() {
            if self.store.parts().expects[i].0.get().is_some_and(|p| !p.deadline.is_after(now)) {
                self.expect_event(i, EventKind::Destroy);
                self.expects().delete(i);
            }
        }
    }

    /// Delete the pending expectations for which `filter` holds
    /// (`conntrack -D expect` with a tuple, or by helper name:
    /// `nf_conntrack_netlink.c: ctnetlink_del_expect()`); the filter sees
    /// each as its `conntrack -L expect` line at `now` ([`ExpectLine`]:
    /// expected tuple and mask, master, zone, class, flags, helper,
    /// timeout). Returns how many were deleted.
    ///
    /// ```
    /// # #[cfg(feature = "helper-tftp")] {
    /// use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant, helper};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// table.add_builtin_helper(helper::builtin("tftp").unwrap()).unwrap();
    /// // A TFTP read request 10.0.0.1:40000 -> 10.0.0.2:69 expects the
    /// // server's answer from any port.
    /// let mut rrq = [
    ///     0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x9c, 0x40, 0, 69, 0, 16, 0, 0, 0, 1, b'f', 0, b'o', b'c', b't', 0,
    /// ];
    /// let sum = rrq[..20].chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum::<u32>();
    /// let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    /// rrq[10..12].copy_from_slice(&sum.to_be_bytes());
    /// let now = Instant::from_secs(1);
    /// assert_eq!(table.track(now, &rrq).state(), Some(CtState::New));
    /// assert_eq!(table.expectations(now).count(), 1);
    /// let n = table.delete_expectations_where(now, |x| {
    ///     x.helper_name() == Some("tftp") && x.expectation().tuple().dport() == Some(40000)
    /// });
    /// assert_eq!((n, table.expectations(now).count()), (1, 0));
    /// # }
    /// ```
    pub fn delete_expectations_where(
        &mut self,
        now: Instant,
        mut filter: impl FnMut(&ExpectLine<'_>) -> bool,
    ) -> usize {
        let now = now.tick();
        let mut deleted = 0;
        for i in 0..self.store.parts().expects.len() {
            let doomed = {
                let p = self.store.parts();
                p.expects[i].0.as_ref().filter(|x| x.deadline.is_after(now)).is_some_and(|pend| {
                    p.slots.get(pend.master as usize).and_then(|s| s.entry()).is_some_and(|master| {
                        filter(&ExpectLine {
                            pending: pend,
                            master: master.orig(),
                            helper_name: self.helper(pend.owner).map(|h| h.name()),
                            timeout: pend.deadline.secs_left(now),
                        })
                    })
                })
            };
            if doomed {
                self.expect_event(i, EventKind::Destroy);
                let mut view = self.expects();
                view.delete(i);
                deleted += 1;
            }
        }
        deleted
    }
}
