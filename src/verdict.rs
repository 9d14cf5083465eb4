//! What [`ConnTable::track`](crate::ConnTable::track) says about a packet.

use core::fmt;

use crate::proto::tcp::TcpReason;
use crate::tuple::Direction;

/// The user-visible conntrack state of a packet (semantics §2.8), what
/// `ct state` / `--ctstate` match on.
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

/// A reference to a slot of a [`ConnTable`](crate::ConnTable). It stays
/// valid while its entry lives; after the entry is deleted the slot may be
/// reused, so look entries up again rather than keeping handles across
/// many packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Handle(pub(crate) u32);

impl Handle {
    /// Index of the slot.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The state of a packet attached to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TrackedState {
    /// See [`CtState::New`].
    New,
    /// See [`CtState::Established`].
    Established,
    /// See [`CtState::Related`].
    Related,
}

/// A packet attached to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tracked {
    /// New, established or related.
    pub state: TrackedState,
    /// Direction of the packet relative to the entry.
    pub dir: Direction,
    /// The entry; `None` when this very packet ended it (a TCP RST that is
    /// the only answer to a SYN deletes the entry at once, semantics §3.6).
    pub entry: Option<Handle>,
    /// Set when the protocol tracker accepted the packet without learning
    /// from it (a TCP packet "ignored", semantics §3.6/§3.7), and why.
    pub ignored: Option<Reason>,
    /// The entry was created by this packet and awaits
    /// [`ConnTable::confirm`](crate::ConnTable::confirm).
    pub unconfirmed: bool,
    /// The connection's helper rejected the packet (e.g. an FTP command
    /// split across segments, semantics §9.2, §9.6): it keeps its
    /// classification, but the caller must drop it, as Linux does at the
    /// confirmation hook. A connection it would have opened is not kept.
    pub helper_drop: Option<crate::helper::HelperDrop>,
}

/// The verdict on one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Attached to an entry.
    Tracked(Tracked),
    /// Not attached to any entry, with the reason.
    Invalid(Reason),
    /// Not tracked (notrack, or ICMPv6 ND/MLD).
    Untracked,
    /// conntrack itself drops the packet: no room for its new entry, or its
    /// new entry lost an insert race (semantics §7.2, §7.3).
    Dropped(DropReason),
}

impl Verdict {
    /// The state a rule set sees; `None` for a dropped packet.
    pub fn state(&self) -> Option<CtState> {
        match self {
            Verdict::Tracked(t) => Some(match t.state {
                TrackedState::New => CtState::New,
                TrackedState::Established => CtState::Established,
                TrackedState::Related => CtState::Related,
            }),
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

    /// Why the packet is invalid, or why the tracker ignored it.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Verdict::Tracked(t) => t.ignored,
            Verdict::Invalid(r) => Some(*r),
            _ => None,
        }
    }
}

/// Why a packet is INVALID (or, for [`Tracked::ignored`], was ignored).
/// `Display` gives the kernel's log text where the kernel logs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reason {
    /// Not an IPv4 or IPv6 packet.
    NotIp,
    /// IPv4 header shorter than 20 bytes, IHL < 5, or lengths inconsistent.
    BadIpv4Header,
    /// IPv4 header checksum wrong.
    BadIpv4Checksum,
    /// IPv6 header truncated or payload length beyond the packet.
    BadIpv6Header,
    /// An IPv6 extension header is truncated.
    BadExtensionHeader,
    /// A fragment: ctrack expects reassembled datagrams (see the crate docs).
    Fragment,
    /// The layer-4 header is too short ("short packet").
    ShortPacket,
    /// The layer-4 checksum is wrong ("bad checksum").
    BadChecksum,
    /// UDP length field inconsistent ("truncated/malformed packet").
    BadUdpLength,
    /// UDP-Lite checksum coverage out of range ("invalid checksum coverage").
    BadUdpliteCoverage,
    /// UDP-Lite without checksum ("checksum missing").
    UdpliteNoChecksum,
    /// TCP data offset below 20 bytes or beyond the packet ("truncated packet").
    BadTcpHeader,
    /// ICMP type above 18 ("invalid icmp type").
    BadIcmpType,
    /// An ICMP type that cannot start or answer a connection (not invertible).
    NotInvertible,
    /// An ICMP/ICMPv6 reply with no request ("invalid new").
    UnsolicitedReply,
    /// ICMP in an IPv6 packet or ICMPv6 in an IPv4 packet.
    WrongIcmpFamily,
    /// An ICMP error whose quoted packet cannot be parsed.
    BadIcmpErrorQuote,
    /// An ICMP error quoting a packet of no known connection.
    IcmpErrorNoEntry,
    /// An ICMP error whose outer destination is not the connection's
    /// ("outer daddr != inner").
    IcmpErrorWrongDestination,
    /// An ICMPv6 redirect failing its checks (hop limit, source, options).
    BadRedirect,
    /// The TCP tracker's verdict.
    Tcp(TcpReason),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::NotIp => "not an IP packet",
            Reason::BadIpv4Header => "bad IPv4 header",
            Reason::BadIpv4Checksum => "bad IPv4 header checksum",
            Reason::BadIpv6Header => "bad IPv6 header",
            Reason::BadExtensionHeader => "bad IPv6 extension header",
            Reason::Fragment => "fragment (not reassembled)",
            Reason::ShortPacket => "short packet",
            Reason::BadChecksum => "bad checksum",
            Reason::BadUdpLength => "truncated/malformed packet",
            Reason::BadUdpliteCoverage => "invalid checksum coverage",
            Reason::UdpliteNoChecksum => "checksum missing",
            Reason::BadTcpHeader => "truncated packet",
            Reason::BadIcmpType => "invalid icmp type",
            Reason::NotInvertible => "not invertible",
            Reason::UnsolicitedReply => "invalid new",
            Reason::WrongIcmpFamily => "icmp of the wrong address family",
            Reason::BadIcmpErrorQuote => "failed to parse the packet inside the ICMP error",
            Reason::IcmpErrorNoEntry => "no conntrack for the packet inside the ICMP error",
            Reason::IcmpErrorWrongDestination => "outer daddr != inner",
            Reason::BadRedirect => "bad redirect",
            Reason::Tcp(r) => return fmt::Display::fmt(r, f),
        })
    }
}

/// Why conntrack itself drops a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DropReason {
    /// The table (or the new entry's probe window) is full and early drop
    /// found nothing to evict ("table full, dropping packet").
    TableFull,
    /// At confirmation an equal entry already existed and the clash could
    /// not be resolved (semantics §7.3).
    InsertClash,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::TableFull => "table full, dropping packet",
            DropReason::InsertClash => "insert clash",
        })
    }
}
