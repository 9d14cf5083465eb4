//! [`EntryRef`]: a live entry for inspection, and its `conntrack -L` line.

use super::storage::Entry;
use crate::helper::{Ext, Helper};
use crate::proto::ProtoState;
use crate::status::{SctpState, Status, TcpState};
use crate::time::Tick;
use crate::tuple::{Family, Tuple, proto};
use crate::verdict::Handle;

/// A live entry, for inspection and display.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    pub(super) entry: &'a Entry,
    pub(super) ext: Option<&'a Ext>,
    pub(super) helper: Option<&'static dyn Helper>,
    pub(super) now: Tick,
    pub(super) handle: Handle,
}

impl EntryRef<'_> {
    /// The entry's handle.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// The original tuple (from the first packet).
    pub fn orig(&self) -> Tuple {
        self.entry.orig()
    }

    /// The reply tuple: the inverted original, unless NAT gave the entry
    /// one of its own.
    pub fn reply(&self) -> Tuple {
        match self.ext.filter(|_| self.entry.has_own_reply()) {
            Some(x) if x.reply_is_key => x.reply,
            Some(x) => x.reply.invert().unwrap_or(x.reply),
            None => self.entry.reply(),
        }
    }

    /// Status bits.
    pub fn status(&self) -> Status {
        self.entry.status
    }

    /// Zone.
    pub fn zone(&self) -> u16 {
        self.entry.zone
    }

    /// Whole seconds until the entry expires.
    pub fn timeout(&self) -> u32 {
        self.entry.deadline.secs_left(self.now)
    }

    /// TCP state, for TCP entries.
    pub fn tcp_state(&self) -> Option<TcpState> {
        match &self.entry.proto {
            ProtoState::Tcp(c) => Some(c.state()),
            _ => None,
        }
    }

    /// SCTP state, for SCTP entries.
    pub fn sctp_state(&self) -> Option<SctpState> {
        match &self.entry.proto {
            ProtoState::Sctp(c) => Some(c.state()),
            _ => None,
        }
    }

    /// The helper attached to the connection.
    pub fn helper(&self) -> Option<&'static dyn Helper> {
        self.helper
    }

    /// For an expected connection, its master's original tuple.
    pub fn master(&self) -> Option<Tuple> {
        self.ext.and_then(|x| x.master)
    }
}

impl core::fmt::Debug for EntryRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EntryRef({self})")
    }
}

/// The entry as one `conntrack -L` line (libnetfilter_conntrack,
/// `src/conntrack/snprintf_default.c: __snprintf_conntrack_default()`).
impl core::fmt::Display for EntryRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let orig = self.orig();
        let p = orig.proto();
        let name = match p {
            proto::TCP => "tcp",
            proto::UDP => "udp",
            proto::UDPLITE => "udplite",
            proto::ICMP if orig.family() == Family::Ipv4 => "icmp",
            proto::ICMPV6 if orig.family() == Family::Ipv6 => "icmpv6",
            proto::SCTP => "sctp",
            proto::GRE => "gre",
            proto::DCCP => "dccp",
            _ => "unknown",
        };
        write!(f, "{name:<8} {p} {}", self.timeout())?;
        if let Some(s) = self.tcp_state() {
            write!(f, " {}", s.name())?;
        }
        if let Some(s) = self.sctp_state() {
            write!(f, " {}", s.name())?;
        }
        write!(f, " {orig}")?;
        let status = self.status();
        if !status.contains(Status::SEEN_REPLY) {
            f.write_str(" [UNREPLIED]")?;
        }
        write!(f, " {}", self.reply())?;
        if status.contains(Status::ASSURED) {
            f.write_str(" [ASSURED]")?;
        }
        f.write_str(" mark=0")?;
        if self.zone() != 0 {
            write!(f, " zone={}", self.zone())?;
        }
        if let Some(h) = self.helper() {
            write!(f, " helper={}", h.name())?;
        }
        f.write_str(" use=1")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for EntryRef<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Display2Format(self));
    }
}
