//! [`EntryRef`]: a live entry for inspection, and its `conntrack -L` line.

use super::storage::{Entry, Slot};
use crate::helper::{Ext, ExtSlot, Helper};
use crate::proto::ProtoState;
use crate::status::{SctpState, Status, TcpState};
use crate::time::Tick;
use crate::tuple::{Direction, Family, Tuple, proto};
use crate::verdict::Handle;

/// A live entry, for inspection and display.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    pub(super) entry: &'a Entry,
    pub(super) ext: Option<&'a Ext>,
    pub(super) helper: Option<&'static dyn Helper>,
    pub(super) now: Tick,
    pub(super) handle: Handle,
    /// Accounting (`nf_conntrack_acct`) and timestamps
    /// (`nf_conntrack_timestamp`) are on: the line shows the counters and
    /// `delta-time`.
    pub(super) acct: bool,
    pub(super) timestamp: bool,
    /// The table's entries and extensions, to count the connections this
    /// one is the master of.
    pub(super) slots: &'a [Slot],
    pub(super) exts: &'a [ExtSlot],
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
            Some(x) => x.own_reply().unwrap_or(x.reply),
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
        self.entry.deadline().secs_left(self.now)
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

    /// The connection mark (`ct mark`; always 0 without feature `ct-mark`).
    pub fn mark(&self) -> u32 {
        self.entry.extra.mark()
    }

    /// The connection labels (`ct label`), bit `i` = label `i` (always 0
    /// without feature `ct-mark`).
    pub fn labels(&self) -> u128 {
        self.entry.extra.labels()
    }

    /// Packets and bytes seen in direction `dir`, when accounting is on
    /// (`nf_conntrack_acct`, feature `ct-acct`). Bytes are IP packet
    /// lengths, headers included, as the kernel counts `skb->len`.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, Direction, FixedConnTable, HashKey, Instant};
    ///
    /// let mut config = Config::default();
    /// if !cfg!(feature = "ct-acct") {
    ///     // Without the feature there is nothing to count with.
    ///     assert!(config.set_sysctl("nf_conntrack_acct", "1").is_err());
    ///     return;
    /// }
    /// config.set_sysctl("nf_conntrack_acct", "1").unwrap();
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), config);
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let h = table.track(now, &query).entry().unwrap();
    /// let _ = table.track(now, &query);
    /// let e = table.get(h, now).unwrap();
    /// assert_eq!(e.counters(Direction::Original), Some((2, 56)));
    /// assert_eq!(e.counters(Direction::Reply), Some((0, 0)));
    /// assert!(e.to_string().contains(" dport=53 packets=2 bytes=56 [UNREPLIED] "));
    /// ```
    pub fn counters(&self, dir: Direction) -> Option<(u64, u64)> {
        self.acct.then(|| self.entry.extra.counted(dir))
    }

    /// Whole seconds since the entry was confirmed, when timestamps are on
    /// (`nf_conntrack_timestamp`, feature `ct-acct`) and were on then.
    pub fn age(&self) -> Option<u32> {
        let start = self.entry.extra.start().filter(|_| self.timestamp)?;
        Some(secs_between(start, self.now))
    }

    /// The entry's reference count as `conntrack -L` prints it (`use=`):
    /// one for the table, and one for each live connection it is the
    /// master of (`nf_conntrack_core.c: init_conntrack()` takes a
    /// reference on the master for each expected connection).
    pub fn use_count(&self) -> u32 {
        let orig = self.orig();
        let zone = self.zone();
        let children = self
            .exts
            .iter()
            .filter_map(|x| x.0.as_ref())
            .filter(|x| x.master == Some(orig))
            .filter(|x| {
                self.slots.get(x.owner as usize).and_then(Slot::entry).is_some_and(|e| e.zone == zone)
            })
            .count();
        u32::try_from(children).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// When the entry was confirmed, if timestamps were on then
    /// (`nf_conntrack_timestamp`), on the caller's clock to 1/16 s.
    pub fn started(&self) -> Option<crate::time::Instant> {
        self.entry.extra.start().map(super::events::instant_of)
    }

    /// The fields of the entry's line.
    pub(super) fn line(&self) -> Line<'_> {
        let status = self.status();
        let counters = self.acct.then(|| {
            [self.entry.extra.counted(Direction::Original), self.entry.extra.counted(Direction::Reply)]
        });
        Line {
            tag: None,
            timeout: Some(self.timeout()),
            state: self.state_name(),
            orig: self.orig(),
            reply: self.reply(),
            counters,
            status,
            mark: Some(self.mark()),
            zone: self.zone(),
            delta_time: self.age(),
            helper: self.helper().map(|h| h.name()),
            labels: self.labels(),
            with_use: Some(self.use_count()),
        }
    }

    /// The TCP or SCTP state's name.
    pub(super) fn state_name(&self) -> Option<&'static str> {
        self.tcp_state().map(TcpState::name).or_else(|| self.sctp_state().map(SctpState::name))
    }
}

/// Whole seconds from `from` to `to` (0 if `to` is earlier).
pub(super) fn secs_between(from: Tick, to: Tick) -> u32 {
    let secs = to.ticks().saturating_sub(from.ticks()) / u64::from(crate::time::TICKS_PER_SEC);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// The fields of one `conntrack -L` or `conntrack -E` line, in the order
/// libnetfilter_conntrack prints them (`src/conntrack/snprintf_default.c:
/// __snprintf_conntrack_default()`); absent ones are left out.
pub(super) struct Line<'a> {
    /// `[NEW]`, `[UPDATE]`, `[DESTROY]` (events only).
    pub tag: Option<&'a str>,
    pub timeout: Option<u32>,
    pub state: Option<&'static str>,
    pub orig: Tuple,
    pub reply: Tuple,
    /// (packets, bytes) original and reply, with accounting.
    pub counters: Option<[(u64, u64); 2]>,
    pub status: Status,
    pub mark: Option<u32>,
    pub zone: u16,
    pub delta_time: Option<u32>,
    pub helper: Option<&'static str>,
    /// Printed as the bit numbers of the set labels, when any is set.
    pub labels: u128,
    /// `use=N` (listings, not events).
    pub with_use: Option<u32>,
}

impl core::fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if let Some(tag) = self.tag {
            write!(f, "{tag:>9} ")?;
        }
        let orig = self.orig;
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
        write!(f, "{name:<8} {p}")?;
        if let Some(t) = self.timeout {
            write!(f, " {t}")?;
        }
        if let Some(s) = self.state {
            write!(f, " {s}")?;
        }
        write!(f, " {orig}")?;
        if let Some([(p, b), _]) = self.counters {
            write!(f, " packets={p} bytes={b}")?;
        }
        if !self.status.contains(Status::SEEN_REPLY) {
            f.write_str(" [UNREPLIED]")?;
        }
        write!(f, " {}", self.reply)?;
        if let Some([_, (p, b)]) = self.counters {
            write!(f, " packets={p} bytes={b}")?;
        }
        if self.status.contains(Status::ASSURED) {
            f.write_str(" [ASSURED]")?;
        }
        if let Some(m) = self.mark {
            write!(f, " mark={m}")?;
        }
        if self.zone != 0 {
            write!(f, " zone={}", self.zone)?;
        }
        if let Some(d) = self.delta_time {
            write!(f, " delta-time={d}")?;
        }
        if let Some(h) = self.helper {
            write!(f, " helper={h}")?;
        }
        if let Some(n) = self.with_use {
            write!(f, " use={n}")?;
        }
        if self.labels != 0 {
            f.write_str(" labels=")?;
            let mut sep = "";
            for bit in (0..128).filter(|b| self.labels >> b & 1 != 0) {
                write!(f, "{sep}{bit}")?;
                sep = ",";
            }
        }
        Ok(())
    }
}

impl core::fmt::Debug for EntryRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EntryRef({self})")
    }
}

/// The entry as one `conntrack -L` line (libnetfilter_conntrack,
/// `src/conntrack/snprintf_default.c: __snprintf_conntrack_default()`).
/// With accounting on, `packets=N bytes=M` follow each direction's tuple;
/// with timestamps on, `delta-time=N` follows the zone; set labels end the
/// line as `labels=` and their bit numbers (conntrack(8) prints label names
/// from `connlabel.conf`, and only with `-o labels`: ctrack has no name
/// file).
impl core::fmt::Display for EntryRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.line().fmt(f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for EntryRef<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Display2Format(self));
    }
}
