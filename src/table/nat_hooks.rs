//! What [`crate::nat`] needs of the table: an entry's tuples and status,
//! the uniqueness lookup ([`ConnTable::tuple_taken`], in
//! [`probe`](super::probe)), the reply tuple of its own
//! ([`ConnTable::set_reply`]) and status bits.

use super::storage::Storage;
use super::{ConnTable, NatHooks};
use crate::hash::HashKey;
use crate::nat::payload::{Rewrite, SeqAdj};
use crate::proto::ProtoState;
use crate::status::{Status, TcpState};
use crate::time::Tick;
use crate::tuple::{Direction, Ipv4PortEnds, Tuple};
use crate::verdict::Handle;
use crate::wire::tcp::SeqNumber;

/// An entry as NAT sees it.
#[derive(Clone, Copy)]
pub(crate) struct NatView {
    pub status: Status,
    pub orig: Tuple,
    pub reply: Tuple,
    pub zone: u16,
    /// A TCP connection's state and the end of what its original
    /// direction sent (`seen[0].td_end`).
    pub tcp: Option<(TcpState, SeqNumber)>,
    /// Whether its protocol resolves an insert clash by merging (UDP,
    /// UDP-Lite, GRE: the trackers' `allow_clash`).
    pub allow_clash: bool,
}

impl<S: Storage> ConnTable<S> {
    /// The entry `h` names (confirmed or not, expired or not): its status
    /// and tuples.
    #[inline]
    pub(crate) fn nat_view(&self, h: Handle) -> Option<NatView> {
        let e = self.entry_of(h)?;
        let status = e.status;
        let (orig, reply) = if e.has_own_reply() {
            let r = self.entry_ref(e, Tick::from_ticks(0), h.index());
            (r.orig(), r.reply())
        } else {
            (e.orig(), e.reply())
        };
        let tcp = match &e.proto {
            ProtoState::Tcp(c) => Some((c.state(), c.side(Direction::Original).td_end)),
            _ => None,
        };
        Some(NatView { status, orig, reply, zone: e.zone, tcp, allow_clash: e.proto.merges_on_clash() })
    }

    /// The handle of the entry in slot `i`, if there is one.
    pub(crate) fn handle_at(&self, i: usize) -> Option<Handle> {
        self.entry_at(i).map(|e| e.handle(i))
    }

    /// Only the status of the entry `h` names: the cost of a packet of a
    /// connection without NAT.
    #[inline]
    pub(crate) fn status_of(&self, h: Handle) -> Option<Status> {
        self.entry_of(h).map(|e| e.status)
    }

    /// For an IPv4 TCP or UDP connection, the ends of the tuple of the
    /// entry `h` names of the direction opposite to `dir` (its own reply
    /// tuple, if NAT gave it one), read without building the tuple: what
    /// the translation of a packet of `dir` writes into it. `None` for any
    /// other connection, or none. ([`ConnTable::tuple_of`]'s choice of
    /// tuple and orientation, on the ends: `translate.rs`'s
    /// `the_plain_translation_is_the_general_one` holds the two equal.)
    #[inline]
    pub(crate) fn other_ends(&self, h: Handle, dir: Direction) -> Option<Ipv4PortEnds> {
        let e = self.entry_of(h)?;
        // The other direction's tuple is the key's orientation, or its
        // inversion (source and destination swapped).
        let (key, key_is_other) = match dir {
            Direction::Reply => (e.key.ipv4_port_ends(), e.link().orig_is_key()),
            Direction::Original if !e.has_own_reply() => (e.key.ipv4_port_ends(), !e.link().orig_is_key()),
            Direction::Original => {
                let x = self.store.exts().get(e.link().ext()?)?.0.as_ref()?;
                (x.reply.ipv4_port_ends(), x.reply_is_key)
            }
        };
        key.map(|(a, b)| if key_is_other { (a, b) } else { (b, a) })
    }

    /// Set `bits` on the entry `h` names.
    pub(crate) fn insert_status(&mut self, h: Handle, bits: Status) {
        if let Some(e) = self.entry_of(h).is_some().then(|| self.entry_at_mut(h.index())).flatten() {
            e.status.insert(bits);
        }
    }

    /// Free an extension slot if none is free and the entry `h` has none
    /// (a reply tuple of its own lives in one).
    pub(crate) fn room_for_reply(&mut self, now: Tick, h: Handle) {
        if self.entry_of(h).is_some_and(|e| e.link().ext().is_none()) {
            self.make_room_for_ext(now);
        }
    }

    /// The TCP sequence adjustment records (original, reply) of the entry
    /// `h`, if it has an extension slot.
    pub(crate) fn seqadj_mut(&mut self, h: Handle) -> Option<&mut [SeqAdj; 2]> {
        let x = self.entry_of(h)?.link().ext()?;
        Some(&mut self.store.parts_mut().exts.get_mut(x)?.0.as_mut()?.seqadj)
    }

    /// The payload edits waiting for the packet whose verdict carries
    /// `ticket` (`None`: another packet's edits replaced them).
    pub(crate) fn pending_rewrite(&self, ticket: u16) -> Option<&Rewrite> {
        (ticket != 0 && self.rewrite.ticket == ticket).then_some(&self.rewrite)
    }

    /// Forget the pending payload edits (applied).
    pub(crate) fn clear_rewrite(&mut self) {
        self.rewrite.clear();
    }

    /// The tuple of direction `dir` of the entry `h` (its own reply tuple,
    /// if NAT gave it one), without copying the other.
    #[inline]
    pub(crate) fn tuple_of(&self, h: Handle, dir: Direction) -> Option<Tuple> {
        let e = self.entry_of(h)?;
        if dir == Direction::Original || !e.has_own_reply() {
            return Some(if dir == Direction::Original { e.orig() } else { e.reply() });
        }
        let x = self.store.exts().get(e.link().ext()?)?.0.as_ref()?;
        x.own_reply()
    }

    /// Set the steps of NAT on the table's own paths
    /// ([`ConnTable::enable_follow_master`]).
    pub(crate) fn set_nat_hooks(&mut self, hooks: NatHooks<S>) {
        self.nat_hooks = Some(hooks);
    }

    /// The table's secret hash key (NAT's port and address choices).
    pub(crate) fn secret(&self) -> &HashKey {
        &self.hash_key
    }
}
