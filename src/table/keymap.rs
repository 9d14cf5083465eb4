//! The GRE key map of the PPTP helper (`nf_conntrack_proto_gre.c`:
//! `nf_ct_gre_keymap_add()`, `gre_keymap_lookup()`,
//! `nf_ct_gre_keymap_destroy()`; `nf_conntrack_pptp.c:
//! pptp_destroy_siblings()`, `pptp_expectfn()`).
//!
//! An enhanced GRE (version 1) header carries only its receiver's call id,
//! which becomes the destination key of the packet's tuple; the source key
//! comes from the key map, where a PPTP control connection with a call up
//! keeps one entry per direction: the GRE tuple of that direction, whose
//! source key is what a packet with the same addresses and destination key
//! gets. The first entry in order of addition that matches wins (Linux's
//! list). Linux allocates entries; here they live in a small fixed pool of
//! [`KEYMAP_SLOTS`] (one call per control connection, two entries each):
//! when it is full a call gets no expectations, as when Linux's allocation
//! fails.

use super::ConnTable;
use super::probe::Sought;
use super::storage::{Slot, Storage};
use crate::expect::{ExpectNat, Expectation, Expects};
use crate::helper::pptp::{Master, PPTP};
use crate::helper::{Ext, Helper, HelperState, StateReader};
use crate::time::Tick;
use crate::tuple::{Direction, Tuple, proto};
use crate::wire::ip::{Mode, parse_ip};

/// Most key map entries a table holds (two per PPTP call).
pub const KEYMAP_SLOTS: usize = 32;

/// One key map entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyEntry {
    /// The original tuple of the control connection that added it, and
    /// its zone: the owner.
    master: Tuple,
    zone: u16,
    /// Which of the owner's two entries.
    dir: Direction,
    /// The GRE tuple; its source key is the key looked up.
    tuple: Tuple,
}

impl KeyEntry {
    /// The owner's original tuple and zone, which of its two entries, and
    /// the GRE tuple (for snapshots).
    pub(crate) fn parts(&self) -> (Tuple, u16, Direction, Tuple) {
        (self.master, self.zone, self.dir, self.tuple)
    }

    const ZERO: KeyEntry =
        KeyEntry { master: Tuple::ZERO, zone: 0, dir: Direction::Original, tuple: Tuple::ZERO };

    fn owned_by(&self, master: &Tuple, zone: u16) -> bool {
        self.zone == zone && self.master == *master
    }
}

/// `gre_key_cmpfn()`: same family, addresses, protocol and destination
/// key (the source key is what is looked up).
fn same_key(a: &Tuple, b: &Tuple) -> bool {
    a.family() == b.family()
        && a.proto() == b.proto()
        && a.src_bytes() == b.src_bytes()
        && a.dst_bytes() == b.dst_bytes()
        && a.dst_l4() == b.dst_l4()
}

/// The key map: entries in order of addition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keymap {
    entries: [KeyEntry; KEYMAP_SLOTS],
    len: u8,
}

impl Keymap {
    pub(crate) const ZERO: Keymap = Keymap { entries: [KeyEntry::ZERO; KEYMAP_SLOTS], len: 0 };

    /// The entries, in order of addition.
    pub(crate) fn live(&self) -> &[KeyEntry] {
        &self.entries[..usize::from(self.len).min(KEYMAP_SLOTS)]
    }

    /// Whether the map is empty (the lookup is then skipped).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget every entry.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// `gre_keymap_lookup()`: the source key of a GRE version 1 packet
    /// whose tuple (source key 0) is `t`; 0 if no entry matches.
    pub(crate) fn lookup(&self, t: &Tuple) -> u16 {
        self.live().iter().find(|e| same_key(&e.tuple, t)).map_or(0, |e| e.tuple.src_l4())
    }

    /// `nf_ct_gre_keymap_add()`: give the control connection `master` the
    /// entry `t` for direction `dir`. An entry it has for that direction
    /// already is kept if it matches `t` (a retransmission), else the
    /// addition fails; it fails too when the pool is full.
    pub(crate) fn add(&mut self, master: &Tuple, zone: u16, dir: Direction, t: &Tuple) -> bool {
        if let Some(e) = self.live().iter().find(|e| e.owned_by(master, zone) && e.dir == dir) {
            return same_key(&e.tuple, t);
        }
        let n = usize::from(self.len);
        if n >= KEYMAP_SLOTS {
            return false;
        }
        self.entries[n] = KeyEntry { master: *master, zone, dir, tuple: *t };
        self.len += 1;
        true
    }

    /// `nf_ct_gre_keymap_destroy()`: remove the entries of `master`.
    pub(crate) fn destroy(&mut self, master: &Tuple, zone: u16) {
        let n = usize::from(self.len).min(KEYMAP_SLOTS);
        let mut kept = 0;
        for k in 0..n {
            if !self.entries[k].owned_by(master, zone) {
                self.entries[kept] = self.entries[k];
                kept += 1;
            }
        }
        if kept != n {
            self.len = kept as u8;
        }
    }
}

/// What the PPTP helper may do to the table while it runs.
#[derive(Debug, Default)]
pub(crate) struct PptpCx<'a> {
    /// The table's key map (none in unit tests of other helpers).
    pub keymap: Option<&'a mut Keymap>,
    /// The call ended: `pptp_destroy_siblings()` once the helper returns.
    pub destroy_siblings: bool,
}

/// Whether `h` is the built-in PPTP helper.
pub(crate) fn is_pptp(h: &'static dyn Helper) -> bool {
    core::ptr::addr_eq(h as *const dyn Helper, &PPTP as *const _)
}

/// Whether `l4`, of protocol `proto_`, is keyed by the key map: an
/// enhanced GRE (version 1) header with its call id
/// (`gre_pkt_to_tuple()` looks the source key up only then).
pub(crate) fn is_gre_v1(proto_: u8, l4: &[u8]) -> bool {
    proto_ == proto::GRE && l4.first_chunk::<8>().is_some_and(crate::tuple::is_gre_v1)
}

impl<S: Storage> ConnTable<S> {
    /// The tuple of a GRE version 1 packet with its source key from the
    /// key map (`gre_pkt_to_tuple()`).
    pub(super) fn gre_keyed(&self, t: Tuple) -> Tuple {
        if self.keymap.is_empty() {
            return t;
        }
        let key = self.keymap.lookup(&t);
        Tuple::from_raw(t.family(), t.proto(), *t.src_bytes(), *t.dst_bytes(), key, t.dst_l4())
    }

    /// The tuple `t` an ICMP error relates to (the inverse of the quoted
    /// packet's), with the key map's source key when the quoted packet is
    /// enhanced GRE (Linux reads the quoted tuple with the same
    /// `gre_pkt_to_tuple()`).
    pub(super) fn gre_keyed_quote(&self, t: Tuple, quote: &[u8]) -> Tuple {
        if self.keymap.is_empty() || t.proto() != proto::GRE {
            return t;
        }
        let Ok(inner) = parse_ip(quote, Mode::Quoted(t.family())) else { return t };
        if !is_gre_v1(inner.proto, inner.l4) {
            return t;
        }
        t.invert().and_then(|q| self.gre_keyed(q).invert()).unwrap_or(t)
    }

    /// What goes with the entry of slot `i` (original tuple `orig`, zone
    /// `zone`, extension `ext`) when it is removed: a GRE connection with a
    /// master takes its master's key map entries
    /// (`nf_conntrack_core.c: destroy_gre_conntrack()`); a PPTP control
    /// connection takes its key map entries and its call's GRE connection
    /// or expectations (the helper's destroy hook, `pptp_destroy_siblings()`).
    /// (`own_reply`: the entry's reply tuple is its extension's, not the
    /// inverted original.)
    pub(super) fn pptp_on_remove(
        &mut self,
        i: usize,
        orig: &Tuple,
        own_reply: bool,
        zone: u16,
        ext: Option<Ext>,
    ) {
        let Some(ext) = ext else { return };
        if let Some(master) = ext.master.filter(|_| orig.proto() == proto::GRE) {
            self.keymap.destroy(&master, zone);
        }
        let Some(id) = ext.helper else { return };
        if self.helpers.get(usize::from(id.0)).is_some_and(|&h| is_pptp(h)) {
            let state = Master::load(&mut StateReader::new(&ext.data));
            let reply = if own_reply { ext.own_reply() } else { orig.invert() };
            let Some(reply) = reply else { return };
            self.pptp_destroy_siblings(i, (orig, &reply), zone, &state);
        }
    }

    /// `pptp_destroy_siblings()`: forget the key map entries of the control
    /// connection in slot `i` (tuples `orig` and `reply`), then for each
    /// direction of its call, kill the GRE connection of that direction's
    /// tuple (from the control connection's tuple of that direction and the
    /// call ids of its state), or else remove an expectation of it (Linux
    /// looks the expectation up among all masters'; the call's own are this
    /// connection's). On a translated control connection the PNS's call id
    /// in the state is the one the PAC knows: the first tuple is then no
    /// connection's, and the call's GRE connection goes by its reply tuple.
    pub(super) fn pptp_destroy_siblings(
        &mut self,
        i: usize,
        (orig, reply): (&Tuple, &Tuple),
        zone: u16,
        s: &Master,
    ) {
        self.keymap.destroy(orig, zone);
        let to_pac = Tuple::gre(orig.src(), s.pns_call_id, orig.dst(), s.pac_call_id);
        let to_pns = Tuple::gre(reply.src(), s.pac_call_id, reply.dst(), s.pns_call_id);
        for t in [to_pac, to_pns].into_iter().flatten() {
            let Some((key, is_key)) = t.canonical() else { continue };
            let place = self.place(&key, zone);
            // An expired sibling goes too: Linux's lookup skips it, but its
            // collection removes it just the same.
            if let Some((sibling, _)) =
                self.locate(Sought { place, key: &key, is_key, zone }, Tick::from_ticks(0))
            {
                if sibling != i {
                    self.remove(sibling);
                }
                continue;
            }
            self.remove_first_expectation(i as u32, &t);
        }
    }

    /// Remove the first expectation of the master in slot `master` that a
    /// connection with original tuple `t` would match.
    fn remove_first_expectation(&mut self, master: u32, t: &Tuple) {
        let p = self.store.parts_mut();
        let mut view = Expects {
            slots: p.expects,
            book: &mut self.expect_book,
            stats: &mut self.stats,
            key: &self.hash_key,
        };
        let mut first = true;
        view.remove(master, &mut |e| {
            let hit = first && e.matches(t);
            first &= !hit;
            hit
        });
    }

    /// `pptp_expectfn()`, when a new GRE connection matched `exp`, an
    /// expectation of the PPTP control connection in slot `master`: the
    /// expectation of the other direction goes. That is the inverse of
    /// `exp`'s tuple; on a translated control connection
    /// (`nf_nat_pptp.c: pptp_nat_expected()`), the tuple that direction's
    /// packets have on arrival, from the master's tuple of that direction
    /// and its call ids.
    pub(super) fn pptp_expected(&mut self, master: u32, exp: &Expectation) {
        let t = exp.tuple();
        let p = self.store.parts();
        let Some(e) = p.slots.get(master as usize).and_then(Slot::entry) else { return };
        let Some(x) = e.link().ext().and_then(|x| p.exts.get(x)?.0.get()) else { return };
        let is_pptp_master =
            x.helper.and_then(|id| self.helpers.get(usize::from(id.0))).is_some_and(|&h| is_pptp(h));
        if !is_pptp_master || t.proto() != proto::GRE {
            return;
        }
        let other = if exp.nat.kind == ExpectNat::PPTP {
            let s = Master::load(&mut StateReader::new(&x.data));
            let orig = e.orig();
            if exp.nat.reply {
                Tuple::gre(orig.src(), s.nat_pns_call_id, orig.dst(), s.nat_pac_call_id)
            } else {
                let reply = if e.has_own_reply() { x.own_reply() } else { orig.invert() };
                reply.and_then(|r| Tuple::gre(r.src(), s.pac_call_id, r.dst(), s.pns_call_id))
            }
        } else {
            t.invert()
        };
        if let Some(other) = other {
            self.remove_first_expectation(master, &other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gre(a: &str, sk: u16, b: &str, dk: u16) -> Tuple {
        Tuple::gre(a.parse().unwrap(), sk, b.parse().unwrap(), dk).unwrap()
    }

    #[test]
    fn add_lookup_destroy() {
        let mut k = Keymap::ZERO;
        let m1 = Tuple::with_ports("10.0.0.1".parse().unwrap(), 4000, "10.0.0.2".parse().unwrap(), 1723, 6)
            .unwrap();
        let m2 = Tuple::with_ports("10.0.0.1".parse().unwrap(), 4001, "10.0.0.2".parse().unwrap(), 1723, 6)
            .unwrap();
        assert_eq!(k.lookup(&gre("10.0.0.1", 0, "10.0.0.2", 9)), 0);
        assert!(k.add(&m1, 0, Direction::Original, &gre("10.0.0.1", 5, "10.0.0.2", 9)));
        assert!(k.add(&m1, 0, Direction::Reply, &gre("10.0.0.2", 9, "10.0.0.1", 5)));
        assert_eq!(k.lookup(&gre("10.0.0.1", 0, "10.0.0.2", 9)), 5);
        assert_eq!(k.lookup(&gre("10.0.0.2", 0, "10.0.0.1", 5)), 9);
        // A retransmission is kept (its old source key stays); another
        // tuple for the same direction is refused.
        assert!(k.add(&m1, 0, Direction::Original, &gre("10.0.0.1", 6, "10.0.0.2", 9)));
        assert_eq!(k.lookup(&gre("10.0.0.1", 0, "10.0.0.2", 9)), 5);
        assert!(!k.add(&m1, 0, Direction::Original, &gre("10.0.0.1", 5, "10.0.0.2", 10)));
        // The first entry added wins.
        assert!(k.add(&m2, 0, Direction::Original, &gre("10.0.0.1", 7, "10.0.0.2", 9)));
        assert_eq!(k.lookup(&gre("10.0.0.1", 0, "10.0.0.2", 9)), 5);
        k.destroy(&m1, 0);
        assert_eq!(k.lookup(&gre("10.0.0.1", 0, "10.0.0.2", 9)), 7);
        assert_eq!(k.lookup(&gre("10.0.0.2", 0, "10.0.0.1", 5)), 0);
        k.destroy(&m2, 1);
        assert!(!k.is_empty());
        k.destroy(&m2, 0);
        assert!(k.is_empty());
    }

    #[test]
    fn pool_full() {
        let mut k = Keymap::ZERO;
        for p in 0..KEYMAP_SLOTS as u16 {
            let m = Tuple::with_ports("10.0.0.1".parse().unwrap(), p, "10.0.0.2".parse().unwrap(), 1723, 6)
                .unwrap();
            assert!(k.add(&m, 0, Direction::Original, &gre("10.0.0.1", p, "10.0.0.2", p)));
        }
        let m = Tuple::with_ports("10.0.0.1".parse().unwrap(), 999, "10.0.0.2".parse().unwrap(), 1723, 6)
            .unwrap();
        assert!(!k.add(&m, 0, Direction::Original, &gre("10.0.0.1", 1, "10.0.0.2", 999)));
    }
}
