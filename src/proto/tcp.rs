//! TCP tracker: the state machine, window tracking and timeouts of Linux's
//! `nf_conntrack_proto_tcp` (semantics §3).
//!
//! INTERFACE CONTRACT (the table calls exactly these):
//!
//! * [`TcpConn`]: per-entry state, `Copy`, `Default` = all zero ("NONE").
//! * [`Segment`]: the header fields of one packet, already length-checked
//!   (20-byte header present, data offset valid) and checksum-verified by the
//!   packet layer.
//! * [`track`]: run one packet through the tracker.
//! * [`TcpConn::state`]: the [`TcpState`] to display.

use crate::config::TcpConfig;
use crate::tuple::Direction;

/// The ten TCP conntrack states (semantics §3.1); numbering is the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum TcpState {
    #[default]
    None = 0,
    SynSent = 1,
    SynRecv = 2,
    Established = 3,
    FinWait = 4,
    CloseWait = 5,
    LastAck = 6,
    TimeWait = 7,
    Close = 8,
    SynSent2 = 9,
}

/// One TCP segment as the tracker sees it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub seq: u32,
    pub ack: u32,
    /// Raw (unscaled) window field.
    pub window: u16,
    /// Byte 13 of the TCP header: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08,
    /// ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
    pub flags: u8,
    /// The option bytes (header length − 20 bytes).
    pub options: &'a [u8],
    /// Payload length derived from the IP length (semantics §3.7).
    pub payload_len: u32,
}

/// What the table knows about the entry when the packet arrives.
#[derive(Debug, Clone, Copy)]
pub struct EntryCtx {
    /// Direction of this packet relative to the entry.
    pub dir: Direction,
    /// The entry was created for this very packet (not yet confirmed).
    pub is_new: bool,
    /// SEEN_REPLY before this packet.
    pub seen_reply: bool,
    /// ASSURED before this packet.
    pub assured: bool,
    /// Whole seconds of lifetime the entry has left (for `handle_invalid`).
    pub remaining: u32,
}

// TEMPORARY placeholder until the real tracker lands.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConn {
    state: TcpState,
}
impl TcpConn {
    pub fn state(&self) -> TcpState {
        self.state
    }
}
impl TcpState {
    pub fn name(self) -> &'static str {
        "ESTABLISHED"
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpReason {
    X,
}
impl core::fmt::Display for TcpReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("x")
    }
}
pub enum TcpVerdict {
    Accept {
        timeout: Option<u32>,
        set_assured: bool,
        kill: bool,
    },
    Ignored(TcpReason),
    Invalid {
        reason: TcpReason,
        timeout: Option<u32>,
    },
    Reopen,
}
pub fn track(_c: &mut TcpConn, _s: &Segment<'_>, _x: &EntryCtx, _cfg: &TcpConfig) -> TcpVerdict {
    TcpVerdict::Accept {
        timeout: Some(300),
        set_assured: false,
        kill: false,
    }
}
