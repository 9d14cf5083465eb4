//! What [`ConnTable::classify`](crate::ConnTable::classify) and
//! [`ConnTable::track`](crate::ConnTable::track) say about a packet.

use core::fmt;

use crate::reason::{DropReason, HelperDrop, Reason};
use crate::time::Tick;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tracked {
    /// New, established or related: never one of the states of an
    /// unattached packet (the constructors below see to it).
    state: CtState,
    dir: Direction,
    entry: Option<Handle>,
    ignored: Option<Reason>,
    unconfirmed: bool,
    /// Confirmed already: a verdict acts once.
    settled: bool,
    /// The entry had a helper when the packet was classified:
    /// confirmation runs it. An entry gains none later (a helper is given
    /// with the entry's extension, at its creation; NAT gives an extension
    /// without one).
    helped: bool,
    helper_drop: Option<HelperDrop>,
    /// The NATed entry this packet ended (its translation needs it).
    ended: Option<Handle>,
    /// What the packet's [`Meta`](crate::Meta) said, and when it was
    /// classified: for the helper that runs at confirmation.
    broadcast_prefix: Option<u8>,
    at: Tick,
    /// The ticket of the payload edits the helper decided for this packet
    /// (0: none), for its translation.
    rewrite: u16,
}

impl Tracked {
    /// A packet of the entry `entry` (in slot order), in state `state`;
    /// `helped`: the entry has a helper.
    pub(crate) fn new(
        state: AttachedState,
        dir: Direction,
        entry: Handle,
        helped: bool,
        at: Tick,
    ) -> Tracked {
        Tracked {
            state: state.into(),
            dir,
            entry: Some(entry),
            ignored: None,
            unconfirmed: false,
            settled: false,
            helped,
            helper_drop: None,
            ended: None,
            broadcast_prefix: None,
            at,
            rewrite: 0,
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
        self.entry
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
        self.unconfirmed
    }

    /// The connection's helper rejected the packet at confirmation (e.g. an
    /// FTP command split across segments, `nf_conntrack_ftp.c: help()`): it
    /// keeps its classification, but it must be dropped, as Linux drops it at
    /// the confirmation hook. A connection it would have opened is not kept.
    pub fn helper_drop(&self) -> Option<HelperDrop> {
        self.helper_drop
    }

    pub(crate) fn set_entry(&mut self, entry: Option<Handle>) {
        self.entry = entry;
    }

    /// The NATed entry this packet ended, kept for its translation.
    pub(crate) fn ended(&self) -> Option<Handle> {
        self.ended
    }

    pub(crate) fn set_ended(&mut self, ended: Option<Handle>) {
        self.ended = ended;
    }

    pub(crate) fn set_ignored(&mut self, reason: Option<Reason>) {
        self.ignored = reason;
    }

    pub(crate) fn set_unconfirmed(&mut self, unconfirmed: bool) {
        self.unconfirmed = unconfirmed;
    }

    pub(crate) fn is_settled(&self) -> bool {
        self.settled
    }

    pub(crate) fn is_helped(&self) -> bool {
        self.helped
    }

    pub(crate) fn settle(&mut self) {
        self.settled = true;
    }

    pub(crate) fn set_helper_drop(&mut self, drop: HelperDrop) {
        self.helper_drop = Some(drop);
    }

    pub(crate) fn classified_at(&self) -> Tick {
        self.at
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
            Verdict::Tracked(t) => t.entry,
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
