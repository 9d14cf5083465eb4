//! What an entry's state says: its status bits
//! (`uapi/linux/netfilter/nf_conntrack_common.h: enum ip_conntrack_status`)
//! and, for TCP, its conntrack state. Values are the kernel's ABI, names are
//! the ones `conntrack` and ctnetlink print.

use core::fmt;

/// The status bits of an entry.
///
/// ```
/// use ctrack::Status;
/// let s = Status::SEEN_REPLY | Status::CONFIRMED;
/// assert!(s.contains(Status::SEEN_REPLY));
/// assert_eq!(s.to_string(), "SEEN_REPLY CONFIRMED");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Status(u16);

impl Status {
    /// Created from an expectation.
    pub const EXPECTED: Status = Status(0x0001);
    /// A reply-direction packet was accepted.
    pub const SEEN_REPLY: Status = Status(0x0002);
    /// Not evicted by early drop.
    pub const ASSURED: Status = Status(0x0004);
    /// In the table (the first packet was confirmed).
    pub const CONFIRMED: Status = Status(0x0008);
    /// The source of the original direction is rewritten (the reply
    /// tuple is not the inverted original).
    pub const SRC_NAT: Status = Status(0x0010);
    /// The destination of the original direction is rewritten.
    pub const DST_NAT: Status = Status(0x0020);
    /// TCP sequence numbers are adjusted: NAT changed the length of a
    /// payload (`IPS_SEQ_ADJUST`).
    pub const SEQ_ADJUST: Status = Status(0x0040);
    /// Source NAT is set up.
    pub const SRC_NAT_DONE: Status = Status(0x0080);
    /// Destination NAT is set up.
    pub const DST_NAT_DONE: Status = Status(0x0100);
    /// Deleted: its DESTROY event is sent, it waits to be freed
    /// (`IPS_DYING`; an entry a packet ended that stays for the packet's
    /// translation).
    pub const DYING: Status = Status(0x0200);
    /// Packets do not refresh the timeout.
    pub const FIXED_TIMEOUT: Status = Status(0x0400);
    /// The loser of an insert race whose reply tuple is not the winner's
    /// (NAT gave one of them another; `IPS_NAT_CLASH`, which shares its
    /// value with the ABI's `IPS_UNTRACKED`): kept under its reply tuple
    /// only for a second, never ASSURED, not listed
    /// (`nf_conntrack_core.c: nf_ct_resolve_clash_harder()`).
    pub const NAT_CLASH: Status = Status(0x1000);
    /// A helper was attached explicitly.
    pub const HELPER: Status = Status(0x2000);

    /// Every bit this crate knows, with its name.
    pub(crate) const NAMES: [(Status, &'static str); 13] = [
        (Status::EXPECTED, "EXPECTED"),
        (Status::SEEN_REPLY, "SEEN_REPLY"),
        (Status::ASSURED, "ASSURED"),
        (Status::CONFIRMED, "CONFIRMED"),
        (Status::SRC_NAT, "SRC_NAT"),
        (Status::DST_NAT, "DST_NAT"),
        (Status::SEQ_ADJUST, "SEQ_ADJUST"),
        (Status::SRC_NAT_DONE, "SRC_NAT_DONE"),
        (Status::DST_NAT_DONE, "DST_NAT_DONE"),
        (Status::DYING, "DYING"),
        (Status::FIXED_TIMEOUT, "FIXED_TIMEOUT"),
        (Status::NAT_CLASH, "NAT_CLASH"),
        (Status::HELPER, "HELPER"),
    ];

    /// No bit set.
    pub const fn empty() -> Status {
        Status(0)
    }

    /// The raw kernel value.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: Status) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits that give an entry a reply tuple of its own (NAT).
    pub(crate) const OWN_REPLY: Status = Status(0x0030);

    /// [`Status::OWN_REPLY`], and NAT_CLASH: the loser of an insert race,
    /// kept under its reply tuple only, has one of its own even without
    /// NAT (`table/probe.rs: keep_plain_reply_only`).
    pub(crate) const OWN_REPLY_OR_CLASH: Status = Status(0x1030);

    /// True if any bit of `other` is set.
    pub const fn intersects(self, other: Status) -> bool {
        self.0 & other.0 != 0
    }

    pub(crate) fn insert(&mut self, other: Status) {
        self.0 |= other.0;
    }

    /// The names of the set bits, lowest bit first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Status::NAMES.into_iter().filter(move |(b, _)| self.contains(*b)).map(|(_, n)| n)
    }
}

impl core::ops::BitOr for Status {
    type Output = Status;
    fn bitor(self, rhs: Status) -> Status {
        Status(self.0 | rhs.0)
    }
}

/// The names of the set bits separated by spaces.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(n)?;
        }
        Ok(())
    }
}

/// The ten TCP conntrack states
/// (`uapi/linux/netfilter/nf_conntrack_tcp.h: enum tcp_conntrack`); numbering
/// is the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TcpState {
    /// Initial state.
    #[default]
    None = 0,
    /// SYN seen in the original direction.
    SynSent = 1,
    /// SYN-ACK seen.
    SynRecv = 2,
    /// Handshake completed (or connection picked up mid-stream).
    Established = 3,
    /// A FIN seen.
    FinWait = 4,
    /// ACK after a FIN seen.
    CloseWait = 5,
    /// FINs seen both ways, waiting for the last ACK.
    LastAck = 6,
    /// Last ACK seen.
    TimeWait = 7,
    /// RST seen.
    Close = 8,
    /// SYN seen from the reply side too: simultaneous open.
    SynSent2 = 9,
}

impl TcpState {
    /// The name `conntrack -L` prints.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    /// The "early-droppable" closing states
    /// (`nf_conntrack_proto_tcp.c: tcp_can_early_drop()`).
    pub(crate) fn is_closing(self) -> bool {
        matches!(
            self,
            TcpState::FinWait
                | TcpState::CloseWait
                | TcpState::LastAck
                | TcpState::TimeWait
                | TcpState::Close
        )
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The SCTP conntrack states
/// (`uapi/linux/netfilter/nf_conntrack_sctp.h: enum sctp_conntrack`); numbering
/// is the kernel's. Linux 6.18 has no HEARTBEAT_ACKED state any more (a
/// heartbeat answered on a new path makes the entry ESTABLISHED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SctpState {
    /// Nothing seen yet (only while the first packet is processed).
    #[default]
    None = 0,
    /// An INIT seen, or the association closed (SHUTDOWN COMPLETE, ABORT).
    Closed = 1,
    /// INIT ACK seen in the reply direction.
    CookieWait = 2,
    /// COOKIE ECHO seen.
    CookieEchoed = 3,
    /// COOKIE ACK seen (or a heartbeat answered on a new path).
    Established = 4,
    /// SHUTDOWN seen in the original direction.
    ShutdownSent = 5,
    /// SHUTDOWN seen in the reply direction.
    ShutdownRecd = 6,
    /// SHUTDOWN ACK seen.
    ShutdownAckSent = 7,
    /// A HEARTBEAT started the entry (a secondary path of a multi-homed
    /// association).
    HeartbeatSent = 8,
}

impl SctpState {
    /// The name `conntrack -L` prints.
    pub fn name(self) -> &'static str {
        match self {
            SctpState::None => "NONE",
            SctpState::Closed => "CLOSED",
            SctpState::CookieWait => "COOKIE_WAIT",
            SctpState::CookieEchoed => "COOKIE_ECHOED",
            SctpState::Established => "ESTABLISHED",
            SctpState::ShutdownSent => "SHUTDOWN_SENT",
            SctpState::ShutdownRecd => "SHUTDOWN_RECD",
            SctpState::ShutdownAckSent => "SHUTDOWN_ACK_SENT",
            SctpState::HeartbeatSent => "HEARTBEAT_SENT",
        }
    }

    /// The states early drop may evict even when ASSURED
    /// (`nf_conntrack_proto_sctp.c: sctp_can_early_drop()`).
    pub(crate) fn is_closing(self) -> bool {
        matches!(self, SctpState::ShutdownSent | SctpState::ShutdownRecd | SctpState::ShutdownAckSent)
    }
}

impl fmt::Display for SctpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
