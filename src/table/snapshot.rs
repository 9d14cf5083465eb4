//! Snapshot and restore (the format and its overview: `snapshot.md`,
//! the documentation of the public module `ctrack::snapshot`).

use core::fmt;

use super::ConnTable;
use super::index::Ref;
use super::probe::Sought;
use super::storage::{Entry, Link, Slot, Storage};
use crate::expect::{ExpectFlags, ExpectNat, Expectation, Pending};
use crate::helper::{Ext, HelperData, HelperId};
use crate::nat::payload::SeqAdj;
use crate::proto::ProtoState;
use crate::proto::sctp::SctpConn;
use crate::proto::tcp::{TcpConn, snap};
use crate::status::Status;
use crate::time::{FineTick, Instant, TICKS_PER_SEC, Tick};
#[cfg(feature = "helper-pptp")]
use crate::tuple::Direction;
use crate::tuple::{Family, Tuple, proto};
use crate::verdict::Handle;

/// The format version this library writes and reads.
pub const SNAPSHOT_VERSION: u8 = 1;

/// The longest record (an IPv6 TCP entry with a reply tuple of its own, a
/// helper of a 255-byte name and a master): a buffer of this size always
/// holds the next record.
pub const SNAPSHOT_MAX_RECORD: usize =
    4 + 1 + 2 + 2 + 6 + 3 * 38 + 1 + snap::LEN + 256 + 1 + HelperData::LEN + EXTRA_MAX;

/// The optional tail of an entry record: the TCP sequence adjustment (24
/// bytes), mark and labels (20), counters (32), the time since
/// confirmation (6), the TCP retransmission fingerprint (4) or the end of
/// a stream grace within its tick (2).
const EXTRA_MAX: usize = 24 + 20 + 32 + 6 + 4;

/// Most slots one [`ConnTable::snapshot`] call visits.
pub const SNAPSHOT_SLOTS_PER_CALL: usize = 1024;

const MAGIC: &[u8; 4] = b"CTRK";
const HEADER: u8 = 1;
const ENTRY: u8 = 2;
const EXPECT: u8 = 3;
#[cfg(feature = "helper-pptp")]
const KEYMAP: u8 = 4;

/// Where a snapshot resumes: give the same cursor to every
/// [`ConnTable::snapshot`] call until [`SnapshotCursor::is_done`].
///
/// ```
/// use ctrack::SnapshotCursor;
/// let c = SnapshotCursor::new();
/// assert!(!c.is_done());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnapshotCursor {
    phase: Phase,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Phase {
    #[default]
    Header,
    Entries(usize),
    Expects(usize),
    Keymap(usize),
    Done,
}

impl SnapshotCursor {
    /// The start of a snapshot.
    pub const fn new() -> SnapshotCursor {
        SnapshotCursor { phase: Phase::Header }
    }

    /// True once every record is written.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }
}

/// Why [`ConnTable::snapshot`] wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SnapshotError {
    /// The buffer cannot hold the next record, of `needed` bytes (a buffer
    /// of [`SNAPSHOT_MAX_RECORD`] bytes always can).
    BufferTooSmall {
        /// Bytes of the next record.
        needed: usize,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::BufferTooSmall { needed } => {
                write!(f, "snapshot buffer too small for the next record ({needed} bytes)")
            }
        }
    }
}

impl core::error::Error for SnapshotError {}

/// Why [`ConnTable::restore`] stopped. The records before the one at fault
/// are restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RestoreError {
    /// The bytes end inside a record.
    Truncated,
    /// A record of another format version.
    UnsupportedVersion(u8),
    /// Not a snapshot header: wrong magic or time unit.
    BadHeader,
    /// A record of an unknown kind, or a field out of range (an unknown
    /// family or status bit, or `NAT_CLASH`, which no snapshot holds; a
    /// protocol state of another protocol, a tuple that cannot be
    /// inverted, bytes left over).
    Malformed,
    /// The record names a helper this table has not registered.
    UnknownHelper,
    /// No room for the entry, its extension or the expectation.
    TableFull,
    /// An IPv6 entry or expectation given to a table built with feature
    /// `ipv4-only`.
    FamilyNotTracked,
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Truncated => f.write_str("snapshot record truncated"),
            RestoreError::UnsupportedVersion(v) => write!(f, "snapshot format version {v} not supported"),
            RestoreError::BadHeader => f.write_str("not a ctrack snapshot"),
            RestoreError::Malformed => f.write_str("malformed snapshot record"),
            RestoreError::UnknownHelper => f.write_str("snapshot names a helper not registered"),
            RestoreError::TableFull => f.write_str("no room to restore the record"),
            RestoreError::FamilyNotTracked => f.write_str("IPv6 record in an IPv4-only table"),
        }
    }
}

impl core::error::Error for RestoreError {}

/// Writes fields into a record buffer.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        // The buffer is SNAPSHOT_MAX_RECORD long, which every record fits.
        if let Some(dst) = self.buf.get_mut(self.at..self.at + b.len()) {
            dst.copy_from_slice(b);
        }
        self.at += b.len();
    }

    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    fn u48(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes()[2..]);
    }

    fn tuple(&mut self, t: &Tuple) {
        let n = match t.family() {
            Family::Ipv4 => {
                self.u8(4);
                4
            }
            Family::Ipv6 => {
                self.u8(6);
                16
            }
        };
        self.u8(t.proto());
        self.bytes(&t.src_bytes()[..n]);
        self.bytes(&t.dst_bytes()[..n]);
        self.u16(t.src_l4());
        self.u16(t.dst_l4());
    }

    fn name(&mut self, name: Option<&str>) {
        // Longer names are cut (they then name no helper on restore).
        let b = name.map_or(&[][..], str::as_bytes);
        let b = &b[..b.len().min(255)];
        self.u8(b.len() as u8);
        self.bytes(b);
    }
}

/// Reads fields of a record body; every read fails past its end.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RestoreError> {
        let (head, rest) = self.b.split_at_checked(n).ok_or(RestoreError::Malformed)?;
        self.b = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RestoreError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, RestoreError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, RestoreError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, RestoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u48(&mut self) -> Result<u64, RestoreError> {
        let [a, b, c, d, e, f] = self.array()?;
        Ok(u64::from_be_bytes([0, 0, a, b, c, d, e, f]))
    }

    fn tuple(&mut self) -> Result<Tuple, RestoreError> {
        let (family, n) = match self.u8()? {
            4 => (Family::Ipv4, 4),
            6 => (Family::Ipv6, 16),
            _ => return Err(RestoreError::Malformed),
        };
        let proto = self.u8()?;
        let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
        src[..n].copy_from_slice(self.take(n)?);
        dst[..n].copy_from_slice(self.take(n)?);
        let (sl4, dl4) = (self.u16()?, self.u16()?);
        Ok(Tuple::from_raw(family, proto, src, dst, sl4, dl4))
    }

    fn name(&mut self) -> Result<&'a [u8], RestoreError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn end(&self) -> Result<(), RestoreError> {
        if self.b.is_empty() { Ok(()) } else { Err(RestoreError::Malformed) }
    }
}

/// The status bits a record may carry.
/// Status bits `bits` without those of `except`; `None` for an unknown bit,
/// and for NAT_CLASH: a snapshot holds no loser of an insert race (it is
/// in no walk of the table, and lives a second).
fn status_of(bits: u16, except: Status) -> Option<Status> {
    if bits & Status::NAT_CLASH.bits() != 0 {
        return None;
    }
    let mut s = Status::empty();
    let mut seen = 0;
    for (b, _) in Status::NAMES {
        if bits & b.bits() != 0 {
            seen |= b.bits();
            if !except.contains(b) {
                s.insert(b);
            }
        }
    }
    (seen == bits).then_some(s)
}

/// Which protocol-state kind the protocol of `t` has (0 none, 1 stream,
/// 2 TCP, 3 SCTP), as `ProtoState::new` gives it.
fn state_kind(proto: u8) -> u8 {
    match proto {
        proto::TCP => 2,
        proto::SCTP => 3,
        proto::UDP | proto::UDPLITE | proto::GRE => 1,
        _ => 0,
    }
}

/// A parsed entry record.
struct EntryRecord<'a> {
    zone: u16,
    status: u16,
    remaining: u64,
    orig: Tuple,
    reply: Option<Tuple>,
    proto: ProtoState,
    helper: Option<(&'a [u8], HelperData)>,
    master: Option<Tuple>,
    seqadj: Option<[SeqAdj; 2]>,
    /// Mark and labels (flag bit 3).
    marks: Option<(u32, u128)>,
    /// Packets and bytes, original then reply (flag bit 4).
    counters: Option<[u64; 4]>,
    /// Ticks since the entry was confirmed (flag bit 5).
    age: Option<u64>,
}

fn parse_entry<'a>(r: &mut Reader<'a>, now: Tick) -> Result<EntryRecord<'a>, RestoreError> {
    let flags = r.u8()?;
    let zone = r.u16()?;
    let status = r.u16()?;
    status_of(status, Status::empty()).ok_or(RestoreError::Malformed)?;
    let remaining = r.u48()?;
    let orig = r.tuple()?;
    orig.canonical().ok_or(RestoreError::Malformed)?;
    let reply = if status & Status::OWN_REPLY.bits() != 0 {
        let t = r.tuple()?;
        if t.family() != orig.family() || t.proto() != orig.proto() || t.canonical().is_none() {
            return Err(RestoreError::Malformed);
        }
        Some(t)
    } else {
        None
    };
    let kind = r.u8()?;
    if kind != state_kind(orig.proto()) {
        return Err(RestoreError::Malformed);
    }
    let proto = match kind {
        1 => {
            // Signed, 48 bits: sign-extend.
            let d = ((r.u48()? << 16) as i64) >> 16;
            // Where in the tick the grace ends comes later (flag bit 7);
            // without it, with the tick.
            let tick = Tick::from_ticks(now.ticks().saturating_add_signed(d));
            ProtoState::Stream { stream_after: FineTick { tick, frac: FineTick::LAST_FRAC } }
        }
        2 => ProtoState::Tcp(TcpConn::decode(&r.array()?).ok_or(RestoreError::Malformed)?),
        3 => ProtoState::Sctp(SctpConn::decode(&r.array()?).ok_or(RestoreError::Malformed)?),
        _ => ProtoState::Stateless,
    };
    let helper = if flags & 0x01 != 0 {
        let name = r.name()?;
        let n = usize::from(r.u8()?);
        if n > HelperData::LEN {
            return Err(RestoreError::Malformed);
        }
        let data = r.take(n)?;
        let mut bytes = [0u8; HelperData::LEN];
        bytes[..data.len()].copy_from_slice(data);
        Some((name, HelperData::from_bytes(bytes)))
    } else {
        None
    };
    let master = if flags & 0x02 != 0 { Some(r.tuple()?) } else { None };
    let seqadj = if flags & 0x04 != 0 {
        let mut adj = [SeqAdj::ZERO; 2];
        for a in &mut adj {
            a.correction_pos = r.u32()?;
            a.offset_before = r.u32()? as i32;
            a.offset_after = r.u32()? as i32;
        }
        Some(adj)
    } else {
        None
    };
    let u64_of = |b: &[u8]| b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
    let marks = if flags & 0x08 != 0 {
        let mark = r.u32()?;
        let labels = r.take(16)?.iter().fold(0u128, |a, &x| (a << 8) | u128::from(x));
        Some((mark, labels))
    } else {
        None
    };
    let counters = if flags & 0x10 != 0 {
        let mut c = [0u64; 4];
        for v in &mut c {
            *v = u64_of(r.take(8)?);
        }
        Some(c)
    } else {
        None
    };
    let age = if flags & 0x20 != 0 { Some(r.u48()?) } else { None };
    // The TCP retransmission fingerprint of a `compact-tcp` build, which
    // other builds drop (they keep the numbers themselves).
    let mut proto = proto;
    if flags & 0x40 != 0 {
        let recent = r.array::<4>()?;
        match &mut proto {
            ProtoState::Tcp(c) => c.set_recent(recent),
            _ => return Err(RestoreError::Malformed),
        }
    }
    // Where in its tick a stream grace ends (in 1/16,000 s).
    if flags & 0x80 != 0 {
        let frac = r.u16()?;
        match &mut proto {
            ProtoState::Stream { stream_after } if frac <= FineTick::LAST_FRAC => stream_after.frac = frac,
            _ => return Err(RestoreError::Malformed),
        }
    }
    r.end()?;
    Ok(EntryRecord {
        zone,
        status,
        remaining,
        orig,
        reply,
        proto,
        helper,
        master,
        seqadj,
        marks,
        counters,
        age,
    })
}

/// A parsed expectation record.
struct ExpectRecord<'a> {
    zone: u16,
    remaining: u64,
    serial: u32,
    master: Tuple,
    exp: Expectation,
    owner: &'a [u8],
    helper: &'a [u8],
}

fn parse_expect<'a>(r: &mut Reader<'a>) -> Result<ExpectRecord<'a>, RestoreError> {
    let zone = r.u16()?;
    let remaining = r.u48()?;
    let serial = r.u32()?;
    let master = r.tuple()?;
    master.canonical().ok_or(RestoreError::Malformed)?;
    let tuple = r.tuple()?;
    let src_prefix = r.u8()?;
    let any = r.u8()?;
    let class = r.u8()?;
    let fl = r.u8()?;
    let max = match tuple.family() {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    };
    if src_prefix > max || any & !0x03 != 0 || fl & !0x03 != 0 {
        return Err(RestoreError::Malformed);
    }
    let mut flags = ExpectFlags::empty();
    if fl & 0x01 != 0 {
        flags = flags | ExpectFlags::PERMANENT;
    }
    if fl & 0x02 != 0 {
        flags = flags | ExpectFlags::INACTIVE;
    }
    let owner = r.name()?;
    let helper = r.name()?;
    let mut nat = ExpectNat::NONE;
    if any & 0x02 != 0 {
        nat.kind = r.u8()?;
        let reply = r.u8()?;
        let mut a = [0; 16];
        for b in &mut a {
            *b = r.u8()?;
        }
        nat.saved_port = r.u16()?;
        if !matches!(nat.kind, ExpectNat::FOLLOW_MASTER | ExpectNat::SIP_MEDIA | ExpectNat::PPTP) || reply > 1
        {
            return Err(RestoreError::Malformed);
        }
        (nat.reply, nat.saved_addr) = (reply == 1, a);
    }
    r.end()?;
    let exp = Expectation { tuple, src_prefix, any_src_port: any & 1 == 1, class, flags, helper: None, nat };
    Ok(ExpectRecord { zone, remaining, serial, master, exp, owner, helper })
}

/// Put the record's framing around the body written from byte 4 to `end`.
fn frame(rec: &mut [u8], kind: u8, end: usize) -> usize {
    let len = (end - 4) as u16;
    rec[0] = kind;
    rec[1] = SNAPSHOT_VERSION;
    rec[2..4].copy_from_slice(&len.to_be_bytes());
    end
}

impl<S: Storage> ConnTable<S> {
    /// Write the next records of a snapshot of the table into `out`, from
    /// where `cursor` says; returns the bytes written (whole records).
    /// Call again with the same cursor until [`SnapshotCursor::is_done`]:
    /// each call visits at most [`SNAPSHOT_SLOTS_PER_CALL`] slots, so it may
    /// write nothing and still not be done. The table may change between
    /// calls (a connection created in a slot already visited is missed, as
    /// a ctnetlink dump misses it); the format is in the
    /// [`snapshot`](crate::snapshot) module.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant, SnapshotCursor};
    ///
    /// let mut a: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let answer = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 2, 10, 0, 0, 1,
    ///     0, 53, 0x14, 0xe9, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// a.track(now, &query);
    /// a.track(now, &answer);
    ///
    /// // Another table, e.g. on the standby firewall, with its own key.
    /// let mut b: FixedConnTable<64> = ConnTable::new(HashKey([9; 16]), Config::default());
    /// let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 256]);
    /// while !cursor.is_done() {
    ///     let n = a.snapshot(now, &mut cursor, &mut buf).unwrap();
    ///     b.restore(now, &buf[..n]).unwrap();
    /// }
    /// assert_eq!(b.len(), 1);
    /// // The connection goes on in `b`: no NEW.
    /// assert_eq!(b.track(Instant::from_secs(2), &query).state(), Some(CtState::Established));
    /// ```
    pub fn snapshot(
        &self,
        now: Instant,
        cursor: &mut SnapshotCursor,
        out: &mut [u8],
    ) -> Result<usize, SnapshotError> {
        let now = now.tick();
        let mut written = 0;
        let mut visits = 0;
        let mut rec = [0u8; SNAPSHOT_MAX_RECORD];
        while visits < SNAPSHOT_SLOTS_PER_CALL {
            let (n, next) = match cursor.phase {
                Phase::Done => break,
                Phase::Header => (self.header_record(&mut rec), Phase::Entries(0)),
                Phase::Entries(i) if i >= self.capacity() => (0, Phase::Expects(0)),
                Phase::Entries(i) => {
                    visits += 1;
                    (self.entry_record(i, now, &mut rec), Phase::Entries(i + 1))
                }
                Phase::Expects(i) if i >= self.store.parts().expects.len() => (0, Phase::Keymap(0)),
                Phase::Expects(i) => {
                    visits += 1;
                    (self.expect_record(i, now, &mut rec), Phase::Expects(i + 1))
                }
                #[cfg(feature = "helper-pptp")]
                Phase::Keymap(i) if i < self.keymap.live().len() => {
                    visits += 1;
                    (self.keymap_record(i, &mut rec), Phase::Keymap(i + 1))
                }
                Phase::Keymap(_) => (0, Phase::Done),
            };
            let Some(dst) = out.get_mut(written..written + n) else {
                if written == 0 {
                    return Err(SnapshotError::BufferTooSmall { needed: n });
                }
                break;
            };
            dst.copy_from_slice(&rec[..n]);
            written += n;
            cursor.phase = next;
        }
        Ok(written)
    }

    /// The records of one connection and of the expectations it made:
    /// what changed since a full [`ConnTable::snapshot`], for a standby
    /// kept up to date by the event stream (conntrackd's event-driven
    /// synchronisation). On a NEW or UPDATE event the active table writes
    /// the connection's records and the standby [`restore`](ConnTable::restore)s
    /// them (the connection there is replaced, its expectations added); on
    /// a DESTROY the standby deletes the connection by tuple
    /// ([`ConnTable::delete_tuple`]). Returns 0 bytes for a connection that
    /// is gone, not confirmed yet, or expired.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant};
    ///
    /// let mut a: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let mut b: FixedConnTable<64> = ConnTable::new(HashKey([9; 16]), Config::default());
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let h = a.track(now, &query).entry().unwrap();
    /// let mut buf = [0u8; 512];
    /// let n = a.snapshot_entry(now, h, &mut buf).unwrap();
    /// assert_eq!(b.restore(now, &buf[..n]), Ok(1));
    /// assert_eq!(b.entries(now).next().unwrap().to_string(), a.get(h, now).unwrap().to_string());
    /// ```
    pub fn snapshot_entry(
        &self,
        now: Instant,
        handle: Handle,
        out: &mut [u8],
    ) -> Result<usize, SnapshotError> {
        let tick = now.tick();
        if self.entry_of(handle).is_none() {
            return Ok(0);
        }
        let mut rec = [0u8; SNAPSHOT_MAX_RECORD];
        let mut written = self.entry_record(handle.index(), tick, &mut rec);
        if written == 0 {
            return Ok(0);
        }
        let dst = out.get_mut(..written).ok_or(SnapshotError::BufferTooSmall { needed: written })?;
        dst.copy_from_slice(&rec[..written]);
        let master = handle.index() as u32;
        for i in 0..self.store.parts().expects.len() {
            if self.store.parts().expects[i].0.get().is_none_or(|x| x.master != master) {
                continue;
            }
            let n = self.expect_record(i, tick, &mut rec);
            let dst = out
                .get_mut(written..written + n)
                .ok_or(SnapshotError::BufferTooSmall { needed: written + n })?;
            dst.copy_from_slice(&rec[..n]);
            written += n;
        }
        Ok(written)
    }

    /// Restore the records in `bytes` (whole records, as
    /// [`ConnTable::snapshot`] writes them; any number of calls) into this
    /// table at `now`; returns how many entries and expectations were
    /// restored. Restored connections continue where they were: their
    /// packets are ESTABLISHED (or RELATED), not NEW. Helpers are bound by
    /// name to this table's registered helpers. On an error, the records
    /// before the one at fault are restored; nothing of that one is.
    ///
    /// ```
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, RestoreError};
    ///
    /// let mut t: FixedConnTable<64> = ConnTable::new(HashKey([9; 16]), Config::default());
    /// assert_eq!(t.restore(Instant::ZERO, &[]), Ok(0));
    /// assert_eq!(t.restore(Instant::ZERO, &[2, 1, 0]), Err(RestoreError::Truncated));
    /// assert_eq!(t.restore(Instant::ZERO, &[2, 9, 0, 0]), Err(RestoreError::UnsupportedVersion(9)));
    /// ```
    pub fn restore(&mut self, now: Instant, bytes: &[u8]) -> Result<usize, RestoreError> {
        let now = now.tick();
        let mut rest = bytes;
        let mut restored = 0;
        while let Some(&[kind, version, l0, l1]) = rest.first_chunk::<4>() {
            if version != SNAPSHOT_VERSION {
                return Err(RestoreError::UnsupportedVersion(version));
            }
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            let body = rest.get(4..4 + len).ok_or(RestoreError::Truncated)?;
            rest = &rest[4 + len..];
            let mut r = Reader { b: body };
            match kind {
                HEADER => {
                    let magic: [u8; 4] = r.array().map_err(|_| RestoreError::BadHeader)?;
                    let rate = r.u16().map_err(|_| RestoreError::BadHeader)?;
                    if &magic != MAGIC || u32::from(rate) != TICKS_PER_SEC || r.end().is_err() {
                        return Err(RestoreError::BadHeader);
                    }
                }
                ENTRY => {
                    let e = parse_entry(&mut r, now)?;
                    self.restore_entry(now, &e)?;
                    restored += 1;
                }
                EXPECT => {
                    let x = parse_expect(&mut r)?;
                    if self.restore_expect(now, &x)? {
                        restored += 1;
                    }
                }
                #[cfg(feature = "helper-pptp")]
                KEYMAP => {
                    let master = r.tuple()?;
                    let zone = r.u16()?;
                    let dir = match r.u8()? {
                        0 => Direction::Original,
                        1 => Direction::Reply,
                        _ => return Err(RestoreError::Malformed),
                    };
                    let tuple = r.tuple()?;
                    r.end()?;
                    if !self.keymap.add(&master, zone, dir, &tuple) {
                        return Err(RestoreError::TableFull);
                    }
                }
                _ => return Err(RestoreError::Malformed),
            }
        }
        if rest.is_empty() { Ok(restored) } else { Err(RestoreError::Truncated) }
    }

    /// The registered helper of that name.
    fn helper_named(&self, name: &[u8]) -> Result<HelperId, RestoreError> {
        let i = self.helpers.iter().position(|h| h.name().as_bytes() == name);
        i.and_then(|i| u8::try_from(i).ok()).map(HelperId).ok_or(RestoreError::UnknownHelper)
    }

    fn header_record(&self, rec: &mut [u8]) -> usize {
        let mut w = Writer { buf: rec, at: 4 };
        w.bytes(MAGIC);
        w.u16(TICKS_PER_SEC as u16);
        let end = w.at;
        frame(rec, HEADER, end)
    }

    /// The record of the entry in slot `i`, if a walk of the table sees
    /// it (`listed`: live, confirmed, no NAT_CLASH loser; else 0 bytes).
    fn entry_record(&self, i: usize, now: Tick, rec: &mut [u8]) -> usize {
        let Some(e) = self.entry_at(i) else { return 0 };
        if !super::listed(e, now) {
            return 0;
        }
        let r = self.entry_ref(e, now, i);
        let ext = r.ext;
        let helper = r.helper.map(|h| h.name());
        let master = ext.and_then(|x| x.master);
        let seqadj = ext.filter(|_| e.status.contains(Status::SEQ_ADJUST)).map(|x| x.seqadj);
        let mut w = Writer { buf: rec, at: 4 };
        let marks = (r.mark() != 0 || r.labels() != 0).then(|| (r.mark(), r.labels()));
        let counted = [
            e.extra.counted(crate::tuple::Direction::Original),
            e.extra.counted(crate::tuple::Direction::Reply),
        ];
        let counters = (counted != [(0, 0); 2]).then_some(counted);
        let age = e.extra.start().map(|s| now.ticks().saturating_sub(s.ticks()));
        let recent = match &e.proto {
            ProtoState::Tcp(c) if state_kind(e.key.proto()) == 2 => c.recent(),
            _ => None,
        };
        let grace_frac = match &e.proto {
            ProtoState::Stream { stream_after } if state_kind(e.key.proto()) == 1 => Some(stream_after.frac),
            _ => None,
        };
        w.u8(u8::from(helper.is_some())
            | u8::from(master.is_some()) << 1
            | u8::from(seqadj.is_some()) << 2
            | u8::from(marks.is_some()) << 3
            | u8::from(counters.is_some()) << 4
            | u8::from(age.is_some()) << 5
            | u8::from(recent.is_some()) << 6
            | u8::from(grace_frac.is_some()) << 7);
        w.u16(e.zone);
        w.u16(e.status.bits());
        w.u48(e.deadline().ticks() - now.ticks());
        w.tuple(&r.orig());
        if e.status.intersects(Status::OWN_REPLY) {
            w.tuple(&r.reply());
        }
        w.u8(state_kind(e.key.proto()));
        match (&e.proto, state_kind(e.key.proto())) {
            (ProtoState::Stream { stream_after }, 1) => {
                // Signed: the time may have passed.
                let d = stream_after.tick.ticks() as i64 - now.ticks() as i64;
                w.u48(d.clamp(-(1 << 47), (1 << 47) - 1) as u64);
            }
            (ProtoState::Tcp(c), 2) => w.bytes(&c.encode()),
            (ProtoState::Sctp(c), 3) => w.bytes(&c.encode()),
            // A state of another kind (never: the state is made from a
            // packet of the entry's protocol) is written as a new one.
            (_, 1) => w.u48(0),
            (_, 2) => w.bytes(&TcpConn::ZERO.encode()),
            (_, 3) => w.bytes(&SctpConn::default().encode()),
            _ => {}
        }
        if helper.is_some() {
            w.name(helper);
            let data = ext.map_or(HelperData::ZERO, |x| x.data);
            w.u8(HelperData::LEN as u8);
            w.bytes(data.as_bytes());
        }
        if let Some(m) = master {
            w.tuple(&m);
        }
        for a in seqadj.iter().flatten() {
            w.u32(a.correction_pos);
            w.u32(a.offset_before as u32);
            w.u32(a.offset_after as u32);
        }
        if let Some((mark, labels)) = marks {
            w.u32(mark);
            w.bytes(&labels.to_be_bytes());
        }
        if let Some([(op, ob), (rp, rb)]) = counters {
            for v in [op, ob, rp, rb] {
                w.bytes(&v.to_be_bytes());
            }
        }
        if let Some(a) = age {
            w.u48(a.min((1 << 48) - 1));
        }
        if let Some(r) = recent {
            w.bytes(&r);
        }
        if let Some(f) = grace_frac {
            w.u16(f);
        }
        let end = w.at;
        frame(rec, ENTRY, end)
    }

    /// The record of the expectation in slot `i`, if it is live and its
    /// master is (else 0 bytes).
    fn expect_record(&self, i: usize, now: Tick, rec: &mut [u8]) -> usize {
        let p = self.store.parts();
        let Some(x) = p.expects.get(i).and_then(|s| s.0.as_ref()) else { return 0 };
        if !x.deadline.is_after(now) {
            return 0;
        }
        let Some(m) = self.entry_at(x.master as usize) else { return 0 };
        if !m.status.contains(Status::CONFIRMED) || m.expired(now) {
            return 0;
        }
        let name = |id: Option<HelperId>| id.and_then(|id| self.helper(id)).map(|h| h.name());
        let mut w = Writer { buf: rec, at: 4 };
        w.u16(x.zone);
        w.u48(x.deadline.ticks() - now.ticks());
        w.u32(x.serial);
        w.tuple(&m.orig());
        w.tuple(&x.exp.tuple);
        w.u8(x.exp.src_prefix);
        w.u8(u8::from(x.exp.any_src_port) | u8::from(!x.exp.nat.is_none()) << 1);
        w.u8(x.exp.class);
        let f = &x.exp.flags;
        w.u8(u8::from(f.contains(ExpectFlags::PERMANENT)) | u8::from(f.contains(ExpectFlags::INACTIVE)) << 1);
        w.name(name(Some(x.owner)));
        w.name(name(x.exp.helper));
        if !x.exp.nat.is_none() {
            let n = &x.exp.nat;
            w.u8(n.kind);
            w.u8(u8::from(n.reply));
            for &b in &n.saved_addr {
                w.u8(b);
            }
            w.u16(n.saved_port);
        }
        let end = w.at;
        frame(rec, EXPECT, end)
    }

    /// The record of the GRE key map's entry `i` (PPTP).
    #[cfg(feature = "helper-pptp")]
    fn keymap_record(&self, i: usize, rec: &mut [u8]) -> usize {
        let Some(k) = self.keymap.live().get(i) else { return 0 };
        let (master, zone, dir, tuple) = k.parts();
        let mut w = Writer { buf: rec, at: 4 };
        w.tuple(&master);
        w.u16(zone);
        w.u8(u8::from(dir == Direction::Reply));
        w.tuple(&tuple);
        let end = w.at;
        frame(rec, KEYMAP, end)
    }

    /// Insert a parsed entry: the steps of a new connection
    /// (`pipeline.rs: create()`), then confirmed at once.
    fn restore_entry(&mut self, now: Tick, r: &EntryRecord<'_>) -> Result<(), RestoreError> {
        let helper = match r.helper {
            Some((name, data)) => Some((self.helper_named(name)?, data)),
            None => None,
        };
        let (key, is_key) = r.orig.canonical().ok_or(RestoreError::Malformed)?;
        let place = self.place(&key, r.zone);
        let ext = if helper.is_some() || r.master.is_some() {
            let free = self.free_ext();
            Some(free.ok_or(RestoreError::TableFull)?)
        } else {
            None
        };
        let nat = status_of(r.status & Status::OWN_REPLY.bits(), Status::empty()).unwrap_or_default();
        let status =
            status_of(r.status, Status::CONFIRMED | Status::OWN_REPLY).ok_or(RestoreError::Malformed)?;
        // Every check done (the parse refused unknown bits already): from
        // here on the slot is filled or given back.
        let stored = crate::tuple::StoredKey::store(&key).ok_or(RestoreError::FamilyNotTracked)?;
        let i = self.alloc(now, place).map_err(|_| RestoreError::TableFull)?;
        self.generation = self.generation.checked_add(1).unwrap_or(1);
        let deadline = Tick::from_ticks(now.ticks() + r.remaining);
        let mut entry = Entry::new(
            stored,
            r.zone,
            self.generation,
            r.proto,
            deadline,
            Link::new(is_key, ext, helper.is_some()),
        );
        entry.status = status;
        entry.extra = restored_extra(now, r);
        let p = self.store.parts_mut();
        p.slots[i] = Slot(entry);
        if let Some(x) = ext {
            let mut e = Ext::new(i as u32, helper.map(|h| h.0), r.master);
            e.data = helper.map_or(HelperData::ZERO, |h| h.1);
            let taken = self.take_ext(e);
            debug_assert_eq!(taken, Some(x), "the extension slot taken is the one found free");
        }
        if !self.index_entry(now, place, Ref::primary(i)) {
            self.remove(i);
            return Err(RestoreError::TableFull);
        }
        let handle = entry.handle(i);
        if r.reply.is_some() {
            self.enable_follow_master();
        }
        if let Some(reply) = r.reply
            && self.set_reply(now, handle, reply, nat).is_err()
        {
            self.remove(i);
            return Err(RestoreError::TableFull);
        }
        if let Some(adj) = r.seqadj
            && let Some(x) = self.seqadj_mut(handle)
        {
            *x = adj;
        }
        // A connection that shares a tuple with this one (the clash of
        // confirmation, `nf_conntrack_core.c: __nf_conntrack_confirm()`) is
        // replaced, as conntrackd's commit updates what the kernel holds.
        while let Some(e) = self.entry_at(i).copied()
            && let Some(old) = self.clash(&e, i, now)
        {
            self.remove(old);
        }
        if let Some(e) = self.entry_at_mut(i) {
            e.status.insert(Status::CONFIRMED);
        }
        Ok(())
    }

    /// Insert a parsed expectation under its master; false if the master is
    /// not in the table (or has no helper to own it).
    fn restore_expect(&mut self, now: Tick, r: &ExpectRecord<'_>) -> Result<bool, RestoreError> {
        // As `ExpectError::FamilyNotTracked`: it could never be met.
        if cfg!(feature = "ipv4-only") && r.exp.tuple().family() == crate::tuple::Family::Ipv6 {
            return Err(RestoreError::FamilyNotTracked);
        }
        let owner = self.helper_named(r.owner)?;
        let helper = if r.helper.is_empty() { None } else { Some(self.helper_named(r.helper)?) };
        let (key, is_key) = r.master.canonical().ok_or(RestoreError::Malformed)?;
        let Some((m, _)) =
            self.locate(Sought { place: self.place(&key, r.zone), key: &key, is_key, zone: r.zone }, now)
        else {
            return Ok(false);
        };
        // Only a master with a helper has its expectations deleted with it.
        let has_helper = self
            .entry_at(m)
            .and_then(|e| e.link().ext())
            .and_then(|x| self.store.exts().get(x)?.0.get())
            .is_some_and(|x| x.helper.is_some());
        if !has_helper {
            return Ok(false);
        }
        let pending = Pending {
            exp: Expectation { helper, ..r.exp },
            master: m as u32,
            zone: r.zone,
            deadline: Tick::from_ticks(now.ticks() + r.remaining),
            serial: r.serial,
            owner,
        };
        let mut view = self.expects();
        view.restore(now, pending).map_err(|_| RestoreError::TableFull)?;
        Ok(true)
    }
}

/// The mark, labels, counters and start time of a restored entry (what
/// this build keeps of them: nothing without features `ct-mark` and
/// `ct-acct`).
fn restored_extra(now: Tick, r: &EntryRecord<'_>) -> super::extra::Extra {
    #[allow(unused_mut)]
    let mut x = super::extra::Extra::ZERO;
    #[cfg(feature = "ct-mark")]
    if let Some((mark, labels)) = r.marks {
        x.mark = mark;
        x.set_labels(labels);
    }
    #[cfg(feature = "ct-acct")]
    {
        if let Some(c) = r.counters {
            x.set_counted([(c[0], c[1]), (c[2], c[3])]);
        }
        if let Some(age) = r.age {
            x.start = Tick::from_ticks(now.ticks().saturating_sub(age).max(1));
        }
    }
    #[cfg(not(all(feature = "ct-mark", feature = "ct-acct")))]
    let _ = (now, r.marks, r.counters, r.age);
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::Direction;
    use crate::verdict::CtState;
    use crate::{Config, FixedConnTable, HashKey};

    use crate::wire::ip::tests::udp4 as udp;

    const CLIENT: [u8; 4] = [10, 0, 0, 1];
    const SERVER: [u8; 4] = [198, 51, 100, 53];
    const PUBLIC: [u8; 4] = [203, 0, 113, 1];

    fn copy<S: Storage, T: Storage>(
        from: &ConnTable<S>,
        to: &mut ConnTable<T>,
        now: Instant,
        buf: &mut [u8],
    ) -> usize {
        let mut cursor = SnapshotCursor::new();
        let mut n = 0;
        while !cursor.is_done() {
            let k = from.snapshot(now, &mut cursor, buf).unwrap();
            n += to.restore(now, &buf[..k]).unwrap();
        }
        n
    }

    /// A table with one plain and one source-NAT connection, in zone 3.
    fn table_with_nat() -> (FixedConnTable<64>, Instant) {
        let mut t: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        let now = Instant::from_secs(1);
        let meta = crate::Meta::default().with_zone(3);
        let out = udp(CLIENT, 1000, SERVER, 53);
        let mut v = t.classify(now, &out, meta);
        let reply = Tuple::with_ports(SERVER.into(), 53, PUBLIC.into(), 2000, proto::UDP).unwrap();
        t.set_reply(now.tick(), v.entry().unwrap(), reply, Status::SRC_NAT).unwrap();
        t.confirm(&mut v, &out).unwrap();
        let _ = t.track_with(now, &udp(CLIENT, 1001, SERVER, 53), meta);
        (t, now)
    }

    /// A one-entry snapshot of the UDP flow from CLIENT:1000 to SERVER:53,
    /// its entry record's original tuple turned into an IPv6 one
    /// (`2001:db8::` + the IPv4 address): the record of an IPv6 entry.
    fn ipv6_entry_snapshot() -> std::vec::Vec<u8> {
        let mut a: FixedConnTable<8> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        let now = Instant::from_secs(1);
        let _ = a.track(now, &udp(CLIENT, 1000, SERVER, 53));
        let mut buf = [0u8; 4096];
        let mut cursor = SnapshotCursor::new();
        let mut bytes = std::vec::Vec::new();
        while !cursor.is_done() {
            let k = a.snapshot(now, &mut cursor, &mut buf).unwrap();
            bytes.extend_from_slice(&buf[..k]);
        }
        let mut v4 = std::vec![4, 17];
        v4.extend_from_slice(&CLIENT);
        v4.extend_from_slice(&SERVER);
        let at = bytes.windows(v4.len()).position(|w| w == v4.as_slice()).unwrap();
        let six = |a: [u8; 4]| [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, a[0], a[1], a[2], a[3]];
        let mut v6 = std::vec![6, 17];
        v6.extend_from_slice(&six(CLIENT));
        v6.extend_from_slice(&six(SERVER));
        bytes.splice(at..at + v4.len(), v6);
        // The entry record (the one holding the tuple) grew by 24 bytes.
        let mut r = 0;
        while r + 4 + usize::from(u16::from_be_bytes([bytes[r + 2], bytes[r + 3]])) <= at {
            r += 4 + usize::from(u16::from_be_bytes([bytes[r + 2], bytes[r + 3]]));
        }
        let len = u16::from_be_bytes([bytes[r + 2], bytes[r + 3]]) + 24;
        bytes[r + 2..r + 4].copy_from_slice(&len.to_be_bytes());
        bytes
    }

    /// An IPv6 entry restores into a dual-stack table, and is refused with
    /// its own error by an IPv4-only one.
    #[test]
    fn an_ipv6_entry_restores_unless_the_table_is_ipv4_only() {
        let bytes = ipv6_entry_snapshot();
        let mut b: FixedConnTable<8> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        let now = Instant::from_secs(1);
        let r = b.restore(now, &bytes);
        if cfg!(feature = "ipv4-only") {
            assert_eq!(r, Err(RestoreError::FamilyNotTracked));
            assert_eq!(b.len(), 0);
        } else {
            assert_eq!(r, Ok(1));
            let e = b.entries(now).next().unwrap();
            assert_eq!(std::format!("{}", e.orig().src()), "2001:db8::a00:1");
        }
    }

    #[test]
    fn nat_zone_and_lifetimes_survive() {
        let (a, now) = table_with_nat();
        let mut b: FixedConnTable<32> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        // The smallest buffer that always makes progress.
        let mut buf = [0u8; SNAPSHOT_MAX_RECORD];
        assert_eq!(copy(&a, &mut b, now, &mut buf), 2);
        let list = |t: &dyn Fn() -> std::vec::Vec<std::string::String>| {
            let mut v = t();
            v.sort();
            v
        };
        let la = list(&|| a.entries(now).map(|e| std::format!("{e} {}", e.status())).collect());
        let lb = list(&|| b.entries(now).map(|e| std::format!("{e} {}", e.status())).collect());
        assert_eq!(la, lb);
        assert!(la[0].contains("zone=3"), "{la:?}");
        let later = Instant::from_secs(5);
        let meta = crate::Meta::default().with_zone(3);
        let v = b.track_with(later, &udp(SERVER, 53, PUBLIC, 2000), meta);
        assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
        // Not in zone 0.
        let v = b.track(later, &udp(SERVER, 53, PUBLIC, 2000));
        assert_eq!(v.state(), Some(CtState::New));
        // Restoring again replaces rather than duplicates.
        let before = b.len();
        copy(&a, &mut b, now, &mut buf);
        assert_eq!(b.len(), before);
    }

    #[test]
    fn small_buffers_and_bounded_calls() {
        let (a, now) = table_with_nat();
        let mut cursor = SnapshotCursor::new();
        let mut tiny = [0u8; 8];
        assert!(matches!(
            a.snapshot(now, &mut cursor, &mut tiny),
            Ok(_) | Err(SnapshotError::BufferTooSmall { .. })
        ));
        let mut b: FixedConnTable<64> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        let mut buf = [0u8; 2048];
        let mut calls = 0;
        while !cursor.is_done() {
            let n = a.snapshot(now, &mut cursor, &mut buf).unwrap();
            b.restore(now, &buf[..n]).unwrap();
            calls += 1;
        }
        assert_eq!((b.len(), calls), (2, 1));
        assert_eq!(a.snapshot(now, &mut cursor, &mut buf), Ok(0), "done stays done");
    }

    /// Cut or damaged snapshots give errors, never a panic, and leave a
    /// consistent table.
    #[test]
    fn hostile_bytes() {
        let (a, now) = table_with_nat();
        let mut buf = [0u8; 1024];
        let mut cursor = SnapshotCursor::new();
        let n = a.snapshot(now, &mut cursor, &mut buf).unwrap();
        assert!(cursor.is_done());
        for cut in 0..n {
            let mut b: FixedConnTable<64> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
            let r = b.restore(now, &buf[..cut]);
            assert!(matches!(r, Ok(_) | Err(RestoreError::Truncated)), "{cut}: {r:?}");
        }
        let mut seed = 0x1234_5678_9abc_def0u64;
        for round in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bytes = buf;
            let (at, bit) = ((seed >> 8) as usize % n, (seed >> 3) as u8 % 8);
            bytes[at] ^= 1 << bit;
            if round % 2 == 0 {
                bytes[(seed >> 32) as usize % n] = (seed >> 40) as u8;
            }
            let mut b: FixedConnTable<64> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
            let _ = b.restore(now, &bytes[..n]);
            let listed = b.entries(now).count();
            assert!(listed <= b.len());
            // No slot taken and left empty by a refused record.
            b.check_slots().unwrap();
            for e in b.entries(now) {
                let _ = std::format!("{e}");
                let (found, _) = b.lookup(&e.orig(), e.zone(), now).unwrap();
                assert_eq!(found.handle(), e.handle());
            }
        }
        let mut b: FixedConnTable<64> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        assert_eq!(
            b.restore(now, &[1, 1, 0, 6, b'C', b'T', b'R', b'X', 0, 16]),
            Err(RestoreError::BadHeader)
        );
        assert_eq!(b.restore(now, &[7, 1, 0, 0]), Err(RestoreError::Malformed));
    }

    /// The TCP retransmission fingerprint (flag bit 6): a `compact-tcp`
    /// build writes it for a TCP entry and takes it back, so that the
    /// count goes on in the restoring table; a build that keeps the
    /// numbers writes none and drops one it reads; on another protocol's
    /// entry it is malformed.
    #[test]
    fn the_retransmission_fingerprint_goes_with_a_tcp_entry() {
        use crate::wire::ip::tests::port_packet4;
        let now = Instant::from_secs(1);
        let mut a: FixedConnTable<8> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        let syn = port_packet4(CLIENT, 1000, SERVER, 80, Some((0x02, 100, 0)));
        let synack = port_packet4(SERVER, 80, CLIENT, 1000, Some((0x12, 500, 101)));
        let ack = port_packet4(CLIENT, 1000, SERVER, 80, Some((0x10, 101, 501)));
        for p in [&syn, &synack, &ack, &ack] {
            assert!(matches!(a.track(now, p), crate::Verdict::Tracked(_)));
        }
        let kept = |t: &FixedConnTable<8>| {
            let e = t.store.parts().slots.iter().find_map(Slot::entry).unwrap();
            match &e.proto {
                ProtoState::Tcp(c) => (c.recent(), c.retrans()),
                _ => unreachable!(),
            }
        };
        let (recent, retrans) = kept(&a);
        assert_eq!(retrans, if recent.is_some() || cfg!(not(feature = "compact-tcp")) { 1 } else { 0 });
        let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 1024]);
        let n = a.snapshot(now, &mut cursor, &mut buf).unwrap();
        let at = entry_record(&buf[..n]);
        assert_eq!(buf[at + 4] & 0x40 != 0, recent.is_some());
        let mut b: FixedConnTable<8> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        b.restore(now, &buf[..n]).unwrap();
        assert_eq!(kept(&b), (recent, retrans));
        // The same ACK again counts on in the restored table.
        let _ = b.track(now, &ack);
        assert_eq!(kept(&b).1, retrans + u8::from(retrans > 0));

        // A fingerprint added by hand: taken by a compact build, dropped
        // by another; on a UDP entry, malformed, as a stream grace's
        // fraction (flag bit 7) is on a TCP entry.
        let fresh = || -> FixedConnTable<8> { ConnTable::new(HashKey([4; 16]), Config::DEFAULT) };
        if recent.is_none() {
            let mut c = fresh();
            c.restore(now, &with_field(&buf[..n], 0x40, &[7, 0, 0, 2])).unwrap();
            assert_eq!(kept(&c), (None, retrans));
        }
        assert_eq!(fresh().restore(now, &with_field(&buf[..n], 0x80, &[0, 5])), Err(RestoreError::Malformed));
        let mut u: FixedConnTable<8> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        let _ = u.track(now, &udp(CLIENT, 1000, SERVER, 53));
        let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 1024]);
        let n = u.snapshot(now, &mut cursor, &mut buf).unwrap();
        // Its grace ends on a tick's start (the whole second it began):
        // the fraction 0 written, the last field.
        let at = entry_record(&buf[..n]);
        assert!(buf[at + 4] & 0x80 != 0 && buf[n - 2..n] == [0, 0]);
        let mut plain = buf[..n - 2].to_vec();
        plain[at + 4] &= !0x80;
        let len = u16::from_be_bytes([plain[at + 2], plain[at + 3]]) - 2;
        plain[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        fresh().restore(now, &plain).unwrap();
        assert_eq!(
            fresh().restore(now, &with_field(&plain, 0x40, &[7, 0, 0, 2])),
            Err(RestoreError::Malformed)
        );
        // A fraction of a tick: at most 999.
        assert_eq!(
            fresh().restore(now, &with_field(&plain, 0x80, &[0x03, 0xe8])),
            Err(RestoreError::Malformed)
        );
        fresh().restore(now, &with_field(&plain, 0x80, &[0x03, 0xe7])).unwrap();
    }

    /// Where the (first) entry record of a snapshot starts.
    fn entry_record(bytes: &[u8]) -> usize {
        let mut at = 0;
        while bytes[at] != ENTRY {
            at += 4 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        }
        at
    }

    /// The snapshot `bytes` with `field` added at the end of its entry
    /// record, and its flag `flag` set (the optional fields' order is the
    /// flags', and the entry records of these tests have no other).
    fn with_field(bytes: &[u8], flag: u8, field: &[u8]) -> std::vec::Vec<u8> {
        let mut with = bytes.to_vec();
        let at = entry_record(bytes);
        with[at + 4] |= flag;
        let len = u16::from_be_bytes([with[at + 2], with[at + 3]]);
        let end = at + 4 + usize::from(len);
        with.splice(end..end, field.iter().copied());
        with[at + 2..at + 4].copy_from_slice(&(len + field.len() as u16).to_be_bytes());
        with
    }

    /// A record refused for an unknown status bit leaves no slot taken
    /// (the list of unused slots whole): the table still has room for as
    /// many connections as before.
    #[test]
    fn a_refused_record_takes_no_slot() {
        let mut a: FixedConnTable<8> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        let now = Instant::from_secs(1);
        let _ = a.track(now, &udp(CLIENT, 1000, SERVER, 53));
        let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 1024]);
        let n = a.snapshot(now, &mut cursor, &mut buf).unwrap();
        // The entry record: flags at 4, zone at 5, status at 7 (bit 15,
        // Linux's IPS_HW_OFFLOAD, is none ctrack knows).
        let at = entry_record(&buf[..n]);
        buf[at + 7] |= 0x80;
        let mut b: FixedConnTable<8> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        for _ in 0..16 {
            assert_eq!(b.restore(now, &buf[..n]), Err(RestoreError::Malformed));
        }
        assert_eq!(b.len(), 0);
        b.check_slots().unwrap();
        for port in 0..8 {
            let v = b.track(now, &udp(CLIENT, 2000 + port, SERVER, 53));
            assert_eq!(v.state(), Some(CtState::New), "{port}");
        }
    }

    /// A record that says NAT_CLASH (bit 12) is refused: no snapshot
    /// holds the loser of an insert race, and restored under both of its
    /// tuples it would take its winner's lookups.
    #[test]
    fn a_nat_clash_record_is_refused() {
        let mut a: FixedConnTable<8> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        let now = Instant::from_secs(1);
        let _ = a.track(now, &udp(CLIENT, 1000, SERVER, 53));
        let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 1024]);
        let n = a.snapshot(now, &mut cursor, &mut buf).unwrap();
        let mut b: FixedConnTable<8> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        assert_eq!(b.restore(now, &buf[..n]), Ok(1));
        let at = entry_record(&buf[..n]);
        buf[at + 7] |= 0x10;
        let mut c: FixedConnTable<8> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        assert_eq!(c.restore(now, &buf[..n]), Err(RestoreError::Malformed));
        assert_eq!(c.len(), 0);
    }

    #[cfg(feature = "helper-tftp")]
    #[test]
    fn unknown_helpers_are_refused() {
        let mut a: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        let tftp = crate::helper::builtin("tftp").unwrap();
        a.add_builtin_helper(tftp).unwrap();
        let now = Instant::from_secs(1);
        let _ = a.track(now, &udp(CLIENT, 1000, SERVER, 69));
        let mut b: FixedConnTable<64> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 1024]);
        let n = a.snapshot(now, &mut cursor, &mut buf).unwrap();
        assert_eq!(b.restore(now, &buf[..n]), Err(RestoreError::UnknownHelper));
        assert_eq!(b.len(), 0);
        b.add_builtin_helper(tftp).unwrap();
        assert_eq!(b.restore(now, &buf[..n]), Ok(1));
        assert_eq!(b.entries(now).next().unwrap().helper().map(|h| h.name()), Some("tftp"));
    }

    /// An IPv6 expectation (here of an IPv4 master: a record only a
    /// hand-made or foreign snapshot holds) restores into a dual-stack
    /// table, and is refused with its own error by an IPv4-only one, as
    /// registering it is.
    #[cfg(feature = "helper-tftp")]
    #[test]
    fn an_ipv6_expectation_restores_unless_the_table_is_ipv4_only() {
        let tftp = crate::helper::builtin("tftp").unwrap();
        let mut a: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::DEFAULT);
        a.add_builtin_helper(tftp).unwrap();
        let now = Instant::from_secs(1);
        // A read request: the helper expects the server's answer.
        let rrq = [&[0x04, 0x00, 0x00, 0x45, 0x00, 0x12, 0x00, 0x00][..], b"\x00\x01f\x00octet\x00"].concat();
        let v = a.track(now, &crate::wire::ip::tests::ipv4(CLIENT, SERVER, 17, &rrq));
        assert_eq!(v.state(), Some(CtState::New));
        assert_eq!(a.expectations(now).count(), 1);
        let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 1024]);
        let n = a.snapshot(now, &mut cursor, &mut buf).unwrap();
        let mut bytes = buf[..n].to_vec();
        // The expectation record: after the entry's; its tuple after the
        // zone, lifetime, serial and the master's tuple (14 bytes).
        let mut r = 0;
        while bytes[r] != EXPECT {
            r += 4 + usize::from(u16::from_be_bytes([bytes[r + 2], bytes[r + 3]]));
        }
        let at = r + 4 + 2 + 6 + 4 + 14;
        assert_eq!(bytes[at], 4, "an IPv4 tuple");
        let six = |a: &[u8]| [&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0][..], a].concat();
        let v6 =
            [&[6, bytes[at + 1]][..], &six(&bytes[at + 2..at + 6]), &six(&bytes[at + 6..at + 10])].concat();
        bytes.splice(at..at + 10, v6);
        let len = u16::from_be_bytes([bytes[r + 2], bytes[r + 3]]) + 24;
        bytes[r + 2..r + 4].copy_from_slice(&len.to_be_bytes());
        let mut b: FixedConnTable<64> = ConnTable::new(HashKey([4; 16]), Config::DEFAULT);
        b.add_builtin_helper(tftp).unwrap();
        let r = b.restore(now, &bytes);
        if cfg!(feature = "ipv4-only") {
            assert_eq!(r, Err(RestoreError::FamilyNotTracked));
            assert_eq!(b.expectations(now).count(), 0);
        } else {
            assert_eq!(r, Ok(2));
            let e = b.expectations(now).next().unwrap().expectation();
            assert_eq!(e.tuple().family(), crate::tuple::Family::Ipv6);
        }
        // The entry, before it, is restored either way.
        assert_eq!(b.len(), 1);
    }
}
