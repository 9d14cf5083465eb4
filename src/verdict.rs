//! What [`ConnTable::classify`](crate::ConnTable::classify) and
//! [`ConnTable::track`](crate::ConnTable::track) say about a packet.

use core::fmt;

use crate::reason::{DropReason, HelperDrop, Reason};
use crate::tuple::Direction;

/// The user-visible conntrack state of a packet
/// (`uapi/linux/netfilter/nf_conntrack_common.h: enum ip_conntrack_info`,
/// `NF_CT_STATE_BIT()`), what `ct state` / `--ctstate` match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CtState {
    /// The packet opens (or, before any reply, continues) a connection.
    New,
    /// The packet belongs to a connection that has seen traffic both ways,
    /// or travels in its reply direction.
    Established,
    /// The packet is related to a connection: an ICMP error about it, or
    /// a connection a helper expected.
    Related,
    /// conntrack looked and could not attach the packet to a valid entry.
    Invalid,
    /// conntrack was told not to look (notrack), or the protocol is never
    /// tracked (ICMPv6 neighbour discovery and MLD).
    Untracked,
}

impl CtState {
    /// `new`, `established`, `related`, `invalid`, `untracked`.
    pub fn name(self) -> &'static str {
        match self {
            CtState::New => "new",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::Invalid => "invalid",
            CtState::Untracked => "untracked",
        }
    }
}

impl fmt::Display for CtState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reference to one entry of a [`ConnTable`](crate::ConnTable): its slot
/// and the entry's generation. Once the entry is gone the handle names
/// nothing ([`ConnTable::get`](crate::ConnTable::get) returns `None`), even
/// after its slot holds another entry. Generations are 16 bits: a handle
/// kept while 65,536 more entries are created can, by chance, name a new
/// entry of its slot again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Handle {
    pub(crate) index: u32,
    pub(crate) generation: u16,
}

impl Handle {
    /// Index of the slot.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// A packet attached to an entry.
///
/// ```
/// use ctrack::{Config, ConnTable, CtState, Direction, FixedConnTable, HashKey, Instant, Verdict};
///
/// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
/// let query = [
///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
/// ];
/// let Verdict::Tracked(t) = table.track(Instant::from_secs(1), &query) else { panic!() };
/// assert_eq!((t.state(), t.dir()), (CtState::New, Direction::Original));
/// assert!(t.entry().is_some() && !t.is_unconfirmed() && t.helper_drop().is_none());
/// ```
// Small, because every packet's verdict is written and copied: its
// handle kept as its two numbers and the flags below, the time of its
// classification not kept at all (confirmation takes the table's last
// classification time, `ConnTable::classified_now`). 40 bytes a verdict
// on 64-bit hosts instead of 64 (the rest is the helper's message, a
// `&'static str`, and the ignored reason): at 2,000 flows an established
// UDP datagram 5 x86 instructions fewer, over IPv6 22, in a batch 11, a
// TCP ACK 10 (measured).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tracked {
    /// The handle of the entry ([`Tracked::ENTRY`]) or of the NATed entry
    /// the packet ended ([`Tracked::ENDED`]), as its slot and generation;
    /// both 0 when it names neither.
    index: u32,
    generation: u16,
    /// The ticket of the payload edits the helper decided for this packet
    /// (0: none), for its translation.
    rewrite: u16,
    /// New, established or related: never one of the states of an
    /// unattached packet (the constructors below see to it).
    state: CtState,
    dir: Direction,
    /// [`Tracked::ENTRY`], [`Tracked::ENDED`], [`Tracked::UNCONFIRMED`],
    /// [`Tracked::SETTLED`], [`Tracked::HELPED`].
    flags: u8,
    /// What the packet's [`Meta`](crate::Meta) said: for the helper that
    /// runs at confirmation.
    broadcast_prefix: Option<u8>,
    ignored: Option<Reason>,
    helper_drop: Option<HelperDrop>,
}

// (The size the comment above gives, on 64-bit hosts.)
#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<Verdict>() == 40);

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("state", &self.state)
            .field("dir", &self.dir)
            .field("entry", &self.entry())
            .field("ignored", &self.ignored)
            .field("unconfirmed", &self.is_unconfirmed())
            .field("helper_drop", &self.helper_drop)
            .finish_non_exhaustive()
    }
}

impl Tracked {
    /// The handle names the packet's entry.
    const ENTRY: u8 = 1;
    /// The handle names the NATed entry the packet ended (its translation
    /// needs it); never with [`Tracked::ENTRY`].
    const ENDED: u8 = 2;
    /// The entry was created by this packet and awaits confirmation.
    const UNCONFIRMED: u8 = 4;
    /// Confirmed already: a verdict acts once.
    const SETTLED: u8 = 8;
    /// The entry had a helper when the packet was classified:
    /// confirmation runs it. An entry gains none later (a helper is given
    /// with the entry's extension, at its creation; NAT gives an extension
    /// without one).
    const HELPED: u8 = 16;

    /// A packet of the entry `entry` (in slot order), in state `state`;
    /// `helped`: the entry has a helper.
    #[inline(always)]
    pub(crate) fn new(state: AttachedState, dir: Direction, entry: Handle, helped: bool) -> Tracked {
        Tracked {
            index: entry.index,
            generation: entry.generation,
            rewrite: 0,
            state: state.into(),
            dir,
            flags: Tracked::ENTRY | if helped { Tracked::HELPED } else { 0 },
            broadcast_prefix: None,
            ignored: None,
            helper_drop: None,
        }
    }

    #[inline(always)]
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    #[inline(always)]
    fn set(&mut self, flag: u8, on: bool) {
        self.flags = if on { self.flags | flag } else { self.flags & !flag };
    }

    /// The handle, if `flag` says it names something.
    #[inline(always)]
    fn handle(&self, flag: u8) -> Option<Handle> {
        self.has(flag).then_some(Handle { index: self.index, generation: self.generation })
    }

    /// Let the handle name `h` under `flag` (and nothing under the other
    /// flag), or, `None`, nothing under `flag`.
    fn set_handle(&mut self, flag: u8, h: Option<Handle>) {
        match h {
            Some(h) => {
                (self.index, self.generation) = (h.index, h.generation);
                self.flags = (self.flags & !(Tracked::ENTRY | Tracked::ENDED)) | flag;
            }
            None if self.has(flag) => {
                (self.index, self.generation) = (0, 0);
                self.set(flag, false);
            }
            None => {}
        }
    }

    /// New, established or related.
    pub fn state(&self) -> CtState {
        self.state
    }

    /// Direction of the packet relative to the entry.
    pub fn dir(&self) -> Direction {
        self.dir
    }

    /// The entry; `None` when this very packet ended it (a TCP RST that is
    /// the only answer to a SYN deletes the entry at once,
    /// `nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()`).
    pub fn entry(&self) -> Option<Handle> {
        self.handle(Tracked::ENTRY)
    }

    /// Set when the protocol tracker accepted the packet without learning
    /// from it (a TCP packet "ignored" by
    /// `nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()` or
    /// `tcp_in_window()`), and why.
    pub fn ignored(&self) -> Option<Reason> {
        self.ignored
    }

    /// The entry was created by this packet and awaits
    /// [`ConnTable::confirm`](crate::ConnTable::confirm).
    pub fn is_unconfirmed(&self) -> bool {
        self.has(Tracked::UNCONFIRMED)
    }

    /// The connection's helper rejected the packet at confirmation (e.g. an
    /// FTP command split across segments, `nf_conntrack_ftp.c: help()`): it
    /// keeps its classification, but it must be dropped, as Linux drops it at
    /// the confirmation hook. A connection it would have opened is not kept.
    pub fn helper_drop(&self) -> Option<HelperDrop> {
        self.helper_drop
    }

    pub(crate) fn set_entry(&mut self, entry: Option<Handle>) {
        self.set_handle(Tracked::ENTRY, entry);
    }

    /// The NATed entry this packet ended, kept for its translation.
    pub(crate) fn ended(&self) -> Option<Handle> {
        self.handle(Tracked::ENDED)
    }

    /// Keep the NATed entry the packet ended, whose handle the verdict
    /// no longer gives as its entry.
    pub(crate) fn set_ended(&mut self, ended: Option<Handle>) {
        debug_assert!(self.entry().is_none(), "an ended entry is not the packet's entry");
        self.set_handle(Tracked::ENDED, ended);
    }

    pub(crate) fn set_ignored(&mut self, reason: Option<Reason>) {
        self.ignored = reason;
    }

    pub(crate) fn set_unconfirmed(&mut self, unconfirmed: bool) {
        self.set(Tracked::UNCONFIRMED, unconfirmed);
    }

    pub(crate) fn is_settled(&self) -> bool {
        self.has(Tracked::SETTLED)
    }

    pub(crate) fn is_helped(&self) -> bool {
        self.has(Tracked::HELPED)
    }

    pub(crate) fn settle(&mut self) {
        self.set(Tracked::SETTLED, true);
    }

    pub(crate) fn set_helper_drop(&mut self, drop: HelperDrop) {
        self.helper_drop = Some(drop);
    }

    pub(crate) fn broadcast_prefix(&self) -> Option<u8> {
        self.broadcast_prefix
    }

    pub(crate) fn set_broadcast_prefix(&mut self, prefix: Option<u8>) {
        self.broadcast_prefix = prefix;
    }

    pub(crate) fn rewrite(&self) -> u16 {
        self.rewrite
    }

    pub(crate) fn set_rewrite(&mut self, ticket: u16) {
        self.rewrite = ticket;
    }
}

/// The states a packet attached to an entry can have: the subset of
/// [`CtState`] a [`Tracked`] verdict holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttachedState {
    New,
    Established,
    Related,
}

impl From<AttachedState> for CtState {
    fn from(s: AttachedState) -> CtState {
        match s {
            AttachedState::New => CtState::New,
            AttachedState::Established => CtState::Established,
            AttachedState::Related => CtState::Related,
        }
    }
}

/// The verdict on one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "a verdict says whether the packet may pass, and a NEW one must be confirmed or discarded"]
#[non_exhaustive]
pub enum Verdict {
    /// Attached to an entry.
    Tracked(Tracked),
    /// Not attached to any entry, with the reason.
    Invalid(Reason),
    /// Not tracked (notrack, or ICMPv6 ND/MLD).
    Untracked,
    /// conntrack itself drops the packet: no room for its new entry, or its
    /// new entry lost an insert race (`nf_conntrack_core.c: early_drop()`,
    /// `nf_ct_resolve_clash()`).
    Dropped(DropReason),
}

impl Verdict {
    /// The state a rule set sees; `None` for a dropped packet.
    pub fn state(&self) -> Option<CtState> {
        match self {
            Verdict::Tracked(t) => Some(t.state),
            Verdict::Invalid(_) => Some(CtState::Invalid),
            Verdict::Untracked => Some(CtState::Untracked),
            Verdict::Dropped(_) => None,
        }
    }

    /// True if the packet must be dropped: conntrack dropped it, or the
    /// connection's helper rejected it.
    pub fn must_drop(&self) -> bool {
        match self {
            Verdict::Dropped(_) => true,
            Verdict::Tracked(t) => t.helper_drop.is_some(),
            _ => false,
        }
    }

    /// Direction, for tracked packets.
    pub fn dir(&self) -> Option<Direction> {
        match self {
            Verdict::Tracked(t) => Some(t.dir),
            _ => None,
        }
    }

    /// The entry the packet is attached to.
    pub fn entry(&self) -> Option<Handle> {
        match self {
            Verdict::Tracked(t) => t.entry(),
            _ => None,
        }
    }

    /// Why the packet is invalid or dropped, or why the tracker ignored it.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Verdict::Tracked(t) => t.ignored,
            Verdict::Invalid(r) => Some(*r),
            _ => None,
        }
    }
}
