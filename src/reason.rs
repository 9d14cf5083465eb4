//! Why a packet is INVALID, ignored or dropped: the vocabulary every layer
//! reports in. It depends on nothing but the TCP state names.

use core::fmt;

use crate::status::{SctpState, TcpState};

/// Why a packet is INVALID (or, for [`Tracked::ignored`](crate::Tracked::ignored), was ignored).
/// `Display` gives the kernel's log text where the kernel logs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
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
    /// An IPv6 packet that IPv6 input drops before conntrack for its
    /// addresses: from a multicast address, or to a multicast address of
    /// scope 0 or 1 (`ip6_input.c: ip6_rcv_core()`, RFC 4291 § 2.7).
    BadIpv6Address,
    /// An IPv6 packet whose hop-by-hop options IPv6 input refuses before
    /// conntrack (`exthdrs.c: ip6_parse_tlv()`): too much or non-zero
    /// padding, an option past the header, a malformed Router Alert, IOAM
    /// or Jumbo Payload option, a CALIPSO option, more than 8 options, or
    /// an unknown option whose type says to drop the packet.
    BadHopByHopOptions,
    /// An IPv6 packet whose headers end in next header 59 (No Next Header,
    /// RFC 8200 § 4.7): no upper-layer protocol to track
    /// (`ipv6_skip_exthdr()` fails, as conntrack counts it: INVALID).
    NoNextHeader,
    /// A fragment given to the table (IPv4: any; IPv6: one whose offset
    /// is not zero): reassemble first with a
    /// [`Reassembler`](crate::Reassembler) (or one Linux too hands to
    /// conntrack unreassembled, see [`Reassembly::Pass`](crate::Reassembly::Pass)).
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
    /// An IPv6 packet given to a table built with feature `ipv4-only`,
    /// which tracks IPv4 only (as Linux without IPv6 conntrack, which
    /// leaves such a packet without a connection; only this build says
    /// so).
    FamilyNotTracked,
    /// The TCP tracker's verdict.
    Tcp(TcpReason),
    /// The SCTP tracker's verdict.
    Sctp(SctpReason),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::NotIp => "not an IP packet",
            Reason::BadIpv4Header => "bad IPv4 header",
            Reason::BadIpv4Checksum => "bad IPv4 header checksum",
            Reason::BadIpv6Header => "bad IPv6 header",
            Reason::BadExtensionHeader => "bad IPv6 extension header",
            Reason::BadIpv6Address => "IPv6 address refused by IPv6 input",
            Reason::BadHopByHopOptions => "hop-by-hop options refused by IPv6 input",
            Reason::NoNextHeader => "no next header",
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
            Reason::FamilyNotTracked => "IPv6 not tracked (feature ipv4-only)",
            Reason::Tcp(r) => return fmt::Display::fmt(r, f),
            Reason::Sctp(r) => return fmt::Display::fmt(r, f),
        })
    }
}

/// Why conntrack itself drops a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DropReason {
    /// The table (or both of the new entry's buckets) is full and early drop
    /// found nothing to evict ("table full, dropping packet").
    TableFull,
    /// At confirmation an equal entry already existed and the clash could
    /// not be resolved (`nf_conntrack_core.c: nf_ct_resolve_clash()`).
    InsertClash,
    /// The connection's helper rejected the packet at confirmation.
    Helper(HelperDrop),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::TableFull => f.write_str("table full, dropping packet"),
            DropReason::InsertClash => f.write_str("insert clash"),
            DropReason::Helper(d) => write!(f, "helper: {d}"),
        }
    }
}

/// Why a packet was rejected or ignored: one variant per kernel log text
/// (printed by `Display` without the `nf_ct_proto_6: ` prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TcpReason {
    /// A flag combination that `nf_conntrack_proto_tcp.c: tcp_error()` rejects
    /// (absent from `tcp_valid_flags[]`).
    InvalidFlags,
    /// `nf_conntrack_proto_tcp.c: tcp_new()`: the first packet of an entry is
    /// not SYN- or ACK-class.
    InvalidNew,
    /// `nf_conntrack_proto_tcp.c: tcp_new()`: an ACK-class first packet with
    /// `tcp_loose` = 0. The kernel rejects it *without* logging (checked
    /// against 6.18), hence [`TcpReason::kernel_logs`] is false.
    PickupDisabled,
    /// A transition marked `sIV` in `nf_conntrack_proto_tcp.c: tcp_conntracks[]`:
    /// `packet (index I) in dir D invalid, state S` (old state).
    InvalidTransition {
        /// Packet class number (`nf_conntrack_proto_tcp.c: get_conntrack_index()`).
        index: u8,
        /// Direction, 0 original, 1 reply.
        dir: u8,
        /// State before the packet.
        state: TcpState,
    },
    /// A transition marked `sIG` in `nf_conntrack_proto_tcp.c: tcp_conntracks[]`
    /// (or a reopen that `nf_conntrack_tcp_packet()` declines):
    /// `... ignored, state S`.
    IgnoredTransition {
        /// Packet class number (`nf_conntrack_proto_tcp.c: get_conntrack_index()`).
        index: u8,
        /// Direction, 0 original, 1 reply.
        dir: u8,
        /// State before the packet.
        state: TcpState,
    },
    /// Check I of `nf_conntrack_proto_tcp.c: tcp_in_window()` failed beyond
    /// tolerance; carries `S.td_maxend + 1`.
    SeqOverUpperBound(u32),
    /// Check III of `nf_conntrack_proto_tcp.c: tcp_in_window()` failed; carries
    /// `R.td_end + 1`.
    AckOverUpperBound(u32),
    /// Check II of `nf_conntrack_proto_tcp.c: tcp_in_window()` failed; carries
    /// `S.td_end − R.td_maxwin − 1`.
    SeqUnderLowerBound(u32),
    /// Check IV of `nf_conntrack_proto_tcp.c: tcp_in_window()` failed; carries
    /// `R.td_end − MAXACKWIN − 1`.
    AckUnderLowerBound(u32),
    /// Check I of `nf_conntrack_proto_tcp.c: tcp_in_window()` failed by at most
    /// the receiver's max window (IGNORE).
    Overshoot(u32),
    /// RST sequence number below the peer's `td_maxack` (the RST check in the
    /// `TCP_CONNTRACK_CLOSE` case of
    /// `nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()`).
    InvalidRst,
    /// RFC 5961 challenge ACK in LAST_ACK, not taken as the last ACK (the
    /// `TCP_CONNTRACK_TIME_WAIT` case of
    /// `nf_conntrack_proto_tcp.c: nf_conntrack_tcp_packet()`).
    ChallengeAck,
}

impl TcpReason {
    /// Whether the kernel logs this reason (`nf_conntrack_log_invalid`). All
    /// do except [`TcpReason::PickupDisabled`].
    ///
    /// Note: when `nf_conntrack_proto_tcp.c: nf_tcp_handle_invalid()` cuts the
    /// lifetime (an `Invalid` verdict with `timeout: Some(t)`), the kernel
    /// logs a second line after the window-check reason: `packet (index I, dir
    /// D) response for index L lower timeout to J`, with `J` = t × HZ jiffies;
    /// the core can build it.
    pub fn kernel_logs(self) -> bool {
        !matches!(self, TcpReason::PickupDisabled)
    }
}

impl fmt::Display for TcpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TcpReason::InvalidFlags => f.write_str("invalid tcp flag combination"),
            TcpReason::InvalidNew => f.write_str("invalid new"),
            TcpReason::PickupDisabled => f.write_str("pickup disabled (nf_conntrack_tcp_loose=0)"),
            TcpReason::InvalidTransition { index, dir, state } => {
                write!(f, "packet (index {index}) in dir {dir} invalid, state {state}")
            }
            TcpReason::IgnoredTransition { index, dir, state } => {
                write!(f, "packet (index {index}) in dir {dir} ignored, state {state}")
            }
            TcpReason::SeqOverUpperBound(b) => {
                write!(f, "SEQ is over upper bound {b} (over the window of the receiver)")
            }
            TcpReason::AckOverUpperBound(b) => {
                write!(f, "ACK is over upper bound {b} (ACKed data not seen yet)")
            }
            TcpReason::SeqUnderLowerBound(b) => {
                write!(f, "SEQ is under lower bound {b} (already ACKed data retransmitted)")
            }
            TcpReason::AckUnderLowerBound(b) => {
                write!(f, "ignored ACK under lower bound {b} (possible overly delayed)")
            }
            TcpReason::Overshoot(n) => write!(f, "{n} bytes more than expected"),
            TcpReason::InvalidRst => f.write_str("invalid rst"),
            TcpReason::ChallengeAck => f.write_str("challenge-ack ignored"),
        }
    }
}

/// Why the SCTP tracker (`nf_conntrack_proto_sctp.c`) rejected a packet.
/// `Display` gives the kernel's log text where it logs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SctpReason {
    /// The chunk layout fails `nf_conntrack_proto_sctp.c: do_basic_checks()`:
    /// no chunk, a chunk with a zero length field, COOKIE ECHO or COOKIE ACK
    /// not first, INIT, INIT ACK or SHUTDOWN COMPLETE not alone.
    BadChunks,
    /// The verification tag is not the one learnt for this direction (the
    /// check before the chunk loop of
    /// `nf_conntrack_proto_sctp.c: nf_conntrack_sctp_packet()`).
    VerificationTag,
    /// A per-chunk tag rule of RFC 9260 section 8.5.1 failed (INIT with a
    /// non-zero tag, ABORT / SHUTDOWN COMPLETE against their T bit,
    /// COOKIE ECHO, a heartbeat or INIT ACK whose tag cannot be taken). The
    /// kernel logs nothing.
    ChunkTag,
    /// The first packet cannot create an entry: an out-of-the-blue ABORT,
    /// SHUTDOWN COMPLETE or COOKIE ACK (RFC 9260 section 8.4), a chunk that
    /// does not start an association, or an INIT with a non-zero tag
    /// (`nf_conntrack_proto_sctp.c: sctp_new()`). The kernel logs nothing.
    InvalidNew,
    /// The INIT or INIT ACK header (16 bytes) is not all in the packet. The
    /// kernel logs nothing.
    TruncatedInit,
    /// A chunk with no transition from the state (`Invalid, old_state S, dir
    /// D, type T`).
    InvalidTransition {
        /// The chunk type.
        chunk: u8,
        /// Direction, 0 original, 1 reply.
        dir: u8,
        /// State before the chunk.
        state: SctpState,
    },
}

impl SctpReason {
    /// Whether the kernel logs this reason (`nf_conntrack_log_invalid`).
    pub fn kernel_logs(self) -> bool {
        matches!(
            self,
            SctpReason::BadChunks | SctpReason::VerificationTag | SctpReason::InvalidTransition { .. }
        )
    }
}

impl fmt::Display for SctpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SctpReason::BadChunks => f.write_str("do_basic_checks failed"),
            SctpReason::VerificationTag => f.write_str("verification tag check failed"),
            SctpReason::ChunkTag => f.write_str("chunk verification tag rule failed"),
            SctpReason::InvalidNew => f.write_str("invalid new"),
            SctpReason::TruncatedInit => f.write_str("truncated INIT header"),
            SctpReason::InvalidTransition { chunk, dir, state } => {
                write!(f, "Invalid, old_state {}, dir {dir}, type {chunk}", state as u8)
            }
        }
    }
}

impl From<SctpReason> for Reason {
    fn from(r: SctpReason) -> Reason {
        Reason::Sctp(r)
    }
}

/// Why a helper wants the packet dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelperDrop(pub &'static str);

impl fmt::Display for HelperDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl From<TcpReason> for Reason {
    fn from(r: TcpReason) -> Reason {
        Reason::Tcp(r)
    }
}

impl core::error::Error for Reason {}
impl core::error::Error for TcpReason {}
impl core::error::Error for SctpReason {}
impl core::error::Error for DropReason {}
impl core::error::Error for HelperDrop {}
