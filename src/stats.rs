//! Counters with the kernel's names
//! (`linux/netfilter/nf_conntrack_common.h: struct ip_conntrack_stat`, as
//! `conntrack -S` prints them).

use core::fmt;

/// Table statistics. Counters wrap at 2³²; `entries` is a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Stats {
    /// Entries allocated now, unconfirmed ones included.
    pub entries: u32,
    /// NAT tuple-taken checks that found the tuple in use (always 0: no NAT).
    pub found: u32,
    /// Packets not trackable or rejected by their protocol tracker. Unlike
    /// the kernel's counter, this one also counts what IP input refuses
    /// before conntrack (a bad IPv4 header or checksum, IPv6 input's
    /// address and hop-by-hop rules): Linux drops such a packet before its
    /// hook, and the table, which is handed it, says INVALID.
    pub invalid: u32,
    /// Entries inserted from outside the packet path (always 0 so far).
    pub insert: u32,
    /// Confirmations that failed (unresolvable clash).
    pub insert_failed: u32,
    /// Packets conntrack dropped (table full, insert clash).
    pub drop: u32,
    /// Entries evicted to make room for a new one.
    pub early_drop: u32,
    /// ICMP/ICMPv6 packets rejected by the ICMP error handling.
    pub error: u32,
    /// Lookups restarted (always 0: lookups are not lock-free).
    pub search_restart: u32,
    /// Insert clashes resolved without a drop.
    pub clash_resolve: u32,
    /// Inserts that found both their buckets full of live entries (the
    /// kernel's "chain too long"); such an insert evicts a non-ASSURED
    /// entry of the window (counted in `early_drop`) or is dropped.
    pub chaintoolong: u32,
    /// Entries created from an expectation.
    pub expect_new: u32,
    /// Expectations created.
    pub expect_create: u32,
    /// Expectations removed.
    pub expect_delete: u32,
}

pub(crate) fn bump(c: &mut u32) {
    *c = c.wrapping_add(1);
}

/// The `conntrack -S` line of one CPU (ctrack is one "CPU").
impl Stats {
    /// All zero.
    pub(crate) const ZERO: Stats = Stats {
        entries: 0,
        found: 0,
        invalid: 0,
        insert: 0,
        insert_failed: 0,
        drop: 0,
        early_drop: 0,
        error: 0,
        search_restart: 0,
        clash_resolve: 0,
        chaintoolong: 0,
        expect_new: 0,
        expect_create: 0,
        expect_delete: 0,
    };
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu=0   \tfound={} invalid={} insert={} insert_failed={} drop={} early_drop={} error={} search_restart={} clash_resolve={} chaintoolong={} ",
            self.found,
            self.invalid,
            self.insert,
            self.insert_failed,
            self.drop,
            self.early_drop,
            self.error,
            self.search_restart,
            self.clash_resolve,
            self.chaintoolong
        )
    }
}
