//! The source NAT bindings by their connection's source: what
//! `nf_nat_core.c: find_appropriate_src()` searches (Linux's
//! `nf_nat_bysource` hash), so that a new connection from a source that
//! is translated already gets the same public address and port
//! (endpoint-independent mapping, RFC 4787 § 4.1).
//!
//! A binding lives in an extension slot ([`Ext`](crate::helper)), and so do
//! these chains: the extension slots are also the hash's buckets. Each
//! slot holds the first binding of the bucket of its own index (`head`)
//! and the next binding of its own chain (`next`), as indices + 1, so that
//! an all-zero pool (a `static` table, a flushed one) holds no chain. A
//! binding is linked at the front when its connection's source is
//! translated ([`ConnTable::set_reply`] with [`Status::SRC_NAT`]) and
//! unlinked when its entry goes ([`ConnTable::remove`]): newest first, as
//! Linux adds to the front of its bucket. The bucket is a keyed hash of
//! the source (zone, family, protocol, address, port or ICMP identifier),
//! so that chains stay short whatever the sources.

use super::ConnTable;
use super::storage::{Link, Slot, Storage};
use crate::hash::hash_words;
use crate::status::Status;
use crate::tuple::Tuple;

/// An extension slot's links in the chains of source NAT bindings (see
/// the module's documentation). All zero: no chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct SourceLinks {
    /// The first binding of the bucket of this slot's index, + 1 (0: none).
    head: u32,
    /// The next binding of the chain this slot's binding is in, + 1 (0:
    /// none).
    next: u32,
}

// (Slot indices + 1 fit: at most `Link::MAX_EXT` extension slots count.)
const _: () = assert!(Link::MAX_EXT < u32::MAX as usize);

impl SourceLinks {
    /// No chain.
    pub(crate) const NONE: SourceLinks = SourceLinks { head: 0, next: 0 };
}

/// A source's hash words: zone, family, protocol and port (ICMP
/// identifier), then the address.
fn source_words(t: &Tuple, zone: u16) -> [u64; 3] {
    let a = t.src_bytes();
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&a[..8]);
    lo.copy_from_slice(&a[8..]);
    let head = u64::from(zone) << 32 | u64::from(t.family() as u8) << 24 | u64::from(t.proto()) << 16;
    [head | u64::from(t.src_l4()), u64::from_ne_bytes(hi), u64::from_ne_bytes(lo)]
}

impl<S: Storage> ConnTable<S> {
    /// The extension slots that are buckets: all that a link can name.
    fn source_buckets(&self) -> usize {
        self.usable_exts()
    }

    /// The bucket of the source of `orig` in `zone`, among `n` (> 0).
    fn source_bucket(&self, orig: &Tuple, zone: u16, n: usize) -> usize {
        (hash_words(&self.hash_key, &source_words(orig, zone)) % n as u64) as usize
    }

    /// Put the binding in extension slot `x`, of the entry whose original
    /// tuple is `orig` in `zone`, at the front of its source's chain.
    pub(super) fn link_source(&mut self, x: usize, orig: &Tuple, zone: u16) {
        let n = self.source_buckets();
        if x >= n {
            return;
        }
        let b = self.source_bucket(orig, zone, n);
        let exts = self.store.parts_mut().exts;
        exts[x].1.next = exts[b].1.head;
        exts[b].1.head = x as u32 + 1;
    }

    /// Take the binding in extension slot `x` (of the entry whose original
    /// tuple is `orig` in `zone`) out of its source's chain, if it is in
    /// it.
    pub(super) fn unlink_source(&mut self, x: usize, orig: &Tuple, zone: u16) {
        let n = self.source_buckets();
        if x >= n {
            return;
        }
        let b = self.source_bucket(orig, zone, n);
        let exts = self.store.parts_mut().exts;
        // `prev`: the slot whose `next` names the current one (`None`: the
        // bucket's `head` does). At most `n` steps, whatever the links.
        let (mut prev, mut cur): (Option<usize>, u32) = (None, exts[b].1.head);
        for _ in 0..n {
            let Some(c) = (cur as usize).checked_sub(1).filter(|&c| c < n) else { return };
            let next = exts[c].1.next;
            if c == x {
                match prev {
                    None => exts[b].1.head = next,
                    Some(p) => exts[p].1.next = next,
                }
                exts[c].1.next = 0;
                return;
            }
            (prev, cur) = (Some(c), next);
        }
    }

    /// The original and reply tuples of the connections with source NAT
    /// in `zone` whose source hashes as `orig`'s does, newest first (the
    /// caller compares the sources: `same_src()`), expired or not, as
    /// Linux's bysource hash holds its connections until they are
    /// destroyed.
    pub(crate) fn source_bindings(
        &self,
        orig: &Tuple,
        zone: u16,
    ) -> impl Iterator<Item = (Tuple, Tuple)> + '_ {
        let n = self.source_buckets();
        let (exts, slots) = (self.store.exts(), self.store.slots());
        let mut cur = if n == 0 { 0 } else { exts[self.source_bucket(orig, zone, n)].1.head };
        (0..n)
            .map_while(move |_| {
                let c = (cur as usize).checked_sub(1).filter(|&c| c < n)?;
                cur = exts[c].1.next;
                Some(c)
            })
            .filter_map(move |c| {
                let ext = exts[c].0.as_ref()?;
                let e = slots.get(ext.owner as usize).and_then(Slot::entry)?;
                let reply = ext.own_reply()?;
                (e.link().ext() == Some(c) && e.zone == zone && e.status.contains(Status::SRC_NAT))
                    .then(|| (e.orig(), reply))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::SourceLinks;
    use crate::tuple::{Tuple, proto};
    use crate::{Config, ConnTable, FixedConnTable, HashKey, Storage};

    /// Links that loop (which no sequence of links and unlinks makes, but
    /// a walk must survive whatever the links say): the walk and the
    /// unlinking stop after as many steps as there are buckets.
    #[test]
    fn a_looping_chain_ends() {
        let mut t: FixedConnTable<8, 4> = ConnTable::new(HashKey([3; 16]), Config::default());
        let orig = Tuple::ipv4(proto::UDP, 0x0a00_0005, 0xc633_6407, 5060, 5060);
        let exts = t.store.parts_mut().exts;
        for (i, x) in exts.iter_mut().enumerate() {
            x.1 = SourceLinks { head: 1, next: (i as u32 + 1) % 4 + 1 };
        }
        assert_eq!(t.source_bindings(&orig, 0).count(), 0, "no binding in the slots");
        t.unlink_source(2, &orig, 0);
        t.link_source(3, &orig, 0);
        assert_eq!(t.source_bindings(&orig, 0).count(), 0);
    }
}
