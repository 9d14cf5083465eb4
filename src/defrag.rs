//! Fragment reassembly before tracking, as Linux does it: IPv4 as
//! `net/ipv4/ip_fragment.c: ip_defrag()` (called by `nf_defrag_ipv4`),
//! IPv6 as `net/ipv6/netfilter/nf_conntrack_reasm.c: nf_ct_frag6_gather()`,
//! both over `net/ipv4/inet_fragment.c` queues.
//!
//! A [`Reassembler`] holds fragments in a fixed pool of queues the caller
//! sizes (one reassembly buffer per queue; no allocation). Every packet
//! goes through [`Reassembler::push`] before [`ConnTable::track`]:
//!
//! * [`Reassembly::Pass`]: not a fragment (or one Linux hands to conntrack
//!   as it is): track it and forward it as usual.
//! * [`Reassembly::Held`]: a fragment kept until its datagram is complete.
//!   It has no verdict (Linux's defrag hook steals it: the oracle reports
//!   `state: none, stage: defrag`); do not forward it.
//! * [`Reassembly::Complete`]: this fragment completed a datagram. Track the
//!   [`Datagram`]; its verdict is this fragment's.
//! * [`Reassembly::Dropped`]: the fragment was discarded ([`FragDrop`] says
//!   why), as Linux drops it; do not forward it.
//!
//! **What to forward.** Linux 6.18 forwards the *reassembled* datagram, for
//! both families: `ip_frag_reasm()` and `nf_ct_frag6_reasm()` hand the whole
//! datagram on and record the largest fragment size (`IPCB(skb)->
//! frag_max_size`, `IP6CB(skb)->frag_max_size`), and the output path
//! (`ip_fragment()`, `ip6_fragment()`) fragments it again to that size. (Up
//! to Linux 4.4 IPv6 conntrack forwarded the original fragments instead.) A
//! router built on ctrack does the same with [`Datagram::bytes`] and
//! [`Datagram::max_fragment_size`]; a filter that can only pass or drop the
//! packets it sees should keep the held fragments itself (or let the sender
//! retransmit).
//!
//! **Rules** (Linux's): queues are keyed by source, destination,
//! identification and (IPv4 only) protocol; a queue lives 30 s
//! (`ipfrag_time`, IPv4) or 60 s (`nf_conntrack_frag6_timeout`, IPv6) from
//! its first fragment, then its fragments are discarded; a fragment
//! overlapping one already held discards the whole queue (RFC 5722, for both
//! families, `inet_frag_queue_insert()`); an exact duplicate (a fragment
//! inside a run of contiguous fragments received in order) is dropped and the
//! queue kept; a datagram beyond 65535 bytes, an end that contradicts the last
//! fragment's, an empty fragment and fragments whose ECN marks cannot be
//! merged (RFC 3168) are refused. IPv4 rounds a non-last fragment down to
//! a multiple of 8 bytes; IPv6 discards the queue and passes such a fragment
//! to conntrack unreassembled, as it does with a first fragment that lacks
//! the upper-layer header (RFC 8200 section 4.5).
//!
//! **Limits of the pool** (deliberate differences): a datagram must fit one
//! queue's buffer (header included), or its queue is discarded
//! ([`FragDrop::TooBig`]); a queue holds at most [`MAX_RUNS`] separate runs
//! of out-of-order fragments ([`FragDrop::TooManyRuns`]); a fragment that
//! needs a new queue when every queue is busy is dropped
//! ([`FragDrop::PoolFull`]), as Linux drops fragments above
//! `ipfrag_high_thresh`. Linux's IPv4 `ipfrag_max_dist` (a queue restarted
//! when 64 other fragments from its source arrived in between) is not
//! modelled.
//!
//! [`ConnTable::track`]: crate::ConnTable::track

use core::fmt;

use smoltcp::wire::Ipv4Packet;

use crate::time::Instant;

/// The most separate runs of contiguous fragments one queue holds.
pub const MAX_RUNS: usize = 32;

/// IPv4 queue lifetime, `net.ipv4.ipfrag_time` (`IP_FRAG_TIME`).
pub const IPV4_FRAG_TIMEOUT_SECS: u32 = 30;
/// IPv6 queue lifetime, `net.netfilter.nf_conntrack_frag6_timeout`
/// (`IPV6_FRAG_TIMEOUT`).
pub const IPV6_FRAG_TIMEOUT_SECS: u32 = 60;

const IPV6_MAXPLEN: u32 = 65535;
const FRAGMENT: u8 = 44;

/// Why a fragment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FragDrop {
    /// It overlaps a fragment already held: the whole queue is discarded
    /// (RFC 5722; `IPFRAG_OVERLAP`).
    Overlap,
    /// A duplicate of data already held (`SKB_DROP_REASON_DUP_FRAG`); the
    /// queue is kept.
    Duplicate,
    /// Its end contradicts the datagram's: a last fragment ending before
    /// data already held or elsewhere than an earlier last fragment, or a
    /// fragment beyond the last one's end. IPv4 discards the queue, IPv6
    /// only this fragment.
    BadEnd,
    /// No data once trimmed to a multiple of 8 bytes (IPv4 discards the
    /// queue, IPv6 only this fragment).
    Empty,
    /// The datagram would exceed 65535 bytes (IPv4: discovered on
    /// completion, the queue is discarded; IPv6: this fragment's end is
    /// beyond 65535, or the completed payload is).
    Oversize,
    /// Fragments with and without ECN capability (RFC 3168): the datagram
    /// is discarded on completion (`ip_frag_ecn_table`).
    Ecn,
    /// The IPv6 Fragment header is cut short.
    Malformed,
    /// Every queue is busy (Linux: fragment memory above
    /// `ipfrag_high_thresh`).
    PoolFull,
    /// The datagram does not fit a queue's buffer: its queue is discarded.
    TooBig,
    /// More than [`MAX_RUNS`] separate runs of fragments: the queue is
    /// discarded.
    TooManyRuns,
}

impl fmt::Display for FragDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FragDrop::Overlap => "overlapping fragment",
            FragDrop::Duplicate => "duplicate fragment",
            FragDrop::BadEnd => "fragment end inconsistent with the datagram's",
            FragDrop::Empty => "empty fragment",
            FragDrop::Oversize => "datagram over 65535 bytes",
            FragDrop::Ecn => "fragments with incompatible ECN marks",
            FragDrop::Malformed => "truncated fragment header",
            FragDrop::PoolFull => "no free reassembly queue",
            FragDrop::TooBig => "datagram larger than the reassembly buffer",
            FragDrop::TooManyRuns => "too many out-of-order fragments",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FragDrop {}

/// A datagram reassembled from its fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Datagram<'a> {
    bytes: &'a [u8],
    max_fragment_size: u16,
}

impl<'a> Datagram<'a> {
    /// The whole datagram: for IPv4 the first fragment's header with the
    /// total length, flags (DF if the largest fragment had it) and checksum
    /// rewritten; for IPv6 the first fragment's header chain without the
    /// Fragment header.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The size of the largest fragment (header included), which Linux
    /// keeps to fragment the datagram again on output.
    pub fn max_fragment_size(&self) -> u16 {
        self.max_fragment_size
    }
}

/// What [`Reassembler::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Reassembly<'a> {
    /// Not a fragment, or a fragment Linux gives conntrack as it is (an
    /// IPv6 fragment whose length is not a multiple of 8, a first fragment
    /// without the upper-layer header): track this packet.
    Pass(&'a [u8]),
    /// Kept until the datagram is complete; no verdict.
    Held,
    /// This fragment completed a datagram: track it; the verdict is this
    /// fragment's.
    Complete(Datagram<'a>),
    /// Discarded.
    Dropped(FragDrop),
}

impl<'a> Reassembly<'a> {
    /// The bytes to track, if any: the packet itself or the datagram.
    pub fn packet(&self) -> Option<&'a [u8]> {
        match *self {
            Reassembly::Pass(p) => Some(p),
            Reassembly::Complete(d) => Some(d.bytes),
            _ => None,
        }
    }
}

/// The state of one reassembly queue (opaque). Its empty state,
/// [`FragQueue::EMPTY`], is all zero.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FragQueue {
    used: bool,
    v6: bool,
    first_in: bool,
    last_in: bool,
    proto: u8,
    /// ECN marks seen, one bit per codepoint (`IPFRAG_ECN_*`).
    ecn: u8,
    /// IPv6: the next header of the first fragment's Fragment header.
    frag_nh: u8,
    nruns: u8,
    /// The rightmost run, the only one fragments are appended to.
    tail: u8,
    /// Header bytes at the front of the buffer (0 until the first fragment).
    hlen: u16,
    /// IPv6: offset of the next-header byte that names the Fragment header.
    nh_off: u16,
    id: u32,
    /// The datagram's payload length as known so far (`q.len`).
    len: u32,
    /// Payload bytes held (`q.meat`).
    meat: u32,
    /// End of the rightmost run.
    tail_end: u32,
    max_size: u32,
    max_df_size: u32,
    created_ms: u64,
    src: [u8; 16],
    dst: [u8; 16],
    /// Runs `[start, end)` in 8-byte units (end rounded up).
    runs: [[u16; 2]; MAX_RUNS],
}

impl FragQueue {
    /// A free queue (all zero).
    pub const EMPTY: FragQueue = FragQueue {
        used: false,
        v6: false,
        first_in: false,
        last_in: false,
        proto: 0,
        ecn: 0,
        frag_nh: 0,
        nruns: 0,
        tail: 0,
        hlen: 0,
        nh_off: 0,
        id: 0,
        len: 0,
        meat: 0,
        tail_end: 0,
        max_size: 0,
        max_df_size: 0,
        created_ms: 0,
        src: [0; 16],
        dst: [0; 16],
        runs: [[0; 2]; MAX_RUNS],
    };
}

impl Default for FragQueue {
    fn default() -> Self {
        FragQueue::EMPTY
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Where a [`Reassembler`] keeps its queues and their buffers. The bytes
/// are shared out evenly: each queue gets `bytes.len() / queues.len()`.
pub trait DefragStorage: sealed::Sealed {
    #[doc(hidden)]
    fn parts(&self) -> (&[FragQueue], &[u8]);
    #[doc(hidden)]
    fn parts_mut(&mut self) -> (&mut [FragQueue], &mut [u8]);
}

/// `Q` queues of `N` bytes each, fixed at compile time; all zero when
/// empty, so a `static` goes to `.bss`.
pub struct FixedDefragStorage<const Q: usize, const N: usize> {
    queues: [FragQueue; Q],
    bufs: [[u8; N]; Q],
}

impl<const Q: usize, const N: usize> FixedDefragStorage<Q, N> {
    /// Empty storage.
    pub const fn new() -> Self {
        FixedDefragStorage { queues: [FragQueue::EMPTY; Q], bufs: [[0; N]; Q] }
    }
}

impl<const Q: usize, const N: usize> Default for FixedDefragStorage<Q, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const Q: usize, const N: usize> sealed::Sealed for FixedDefragStorage<Q, N> {}

impl<const Q: usize, const N: usize> DefragStorage for FixedDefragStorage<Q, N> {
    fn parts(&self) -> (&[FragQueue], &[u8]) {
        (&self.queues, self.bufs.as_flattened())
    }
    fn parts_mut(&mut self) -> (&mut [FragQueue], &mut [u8]) {
        (&mut self.queues, self.bufs.as_flattened_mut())
    }
}

/// Storage borrowed from elsewhere (e.g. `static` buffers).
///
/// ```
/// use ctrack::{FragQueue, Reassembler, SliceDefragStorage};
///
/// let mut queues = [FragQueue::EMPTY; 2];
/// let mut bytes = [0u8; 2 * 1500];
/// let defrag = Reassembler::with_storage(SliceDefragStorage::new(&mut queues, &mut bytes));
/// assert_eq!((defrag.queues(), defrag.buffer_size()), (2, 1500));
/// ```
pub struct SliceDefragStorage<'a> {
    queues: &'a mut [FragQueue],
    bytes: &'a mut [u8],
}

impl<'a> SliceDefragStorage<'a> {
    /// Storage over `queues` and `bytes` (shared out evenly).
    pub fn new(queues: &'a mut [FragQueue], bytes: &'a mut [u8]) -> Self {
        SliceDefragStorage { queues, bytes }
    }
}

impl sealed::Sealed for SliceDefragStorage<'_> {}

impl DefragStorage for SliceDefragStorage<'_> {
    fn parts(&self) -> (&[FragQueue], &[u8]) {
        (self.queues, self.bytes)
    }
    fn parts_mut(&mut self) -> (&mut [FragQueue], &mut [u8]) {
        (self.queues, self.bytes)
    }
}

/// Heap storage (feature `alloc`): `queues` queues of `buffer` bytes.
#[cfg(feature = "alloc")]
pub struct HeapDefragStorage {
    queues: alloc::vec::Vec<FragQueue>,
    bytes: alloc::vec::Vec<u8>,
}

#[cfg(feature = "alloc")]
impl HeapDefragStorage {
    /// `queues` queues of `buffer` bytes each.
    pub fn new(queues: usize, buffer: usize) -> Self {
        HeapDefragStorage {
            queues: alloc::vec![FragQueue::EMPTY; queues],
            bytes: alloc::vec![0; queues.saturating_mul(buffer)],
        }
    }
}

#[cfg(feature = "alloc")]
impl sealed::Sealed for HeapDefragStorage {}

#[cfg(feature = "alloc")]
impl DefragStorage for HeapDefragStorage {
    fn parts(&self) -> (&[FragQueue], &[u8]) {
        (&self.queues, &self.bytes)
    }
    fn parts_mut(&mut self) -> (&mut [FragQueue], &mut [u8]) {
        (&mut self.queues, &mut self.bytes)
    }
}

/// Counters of a [`Reassembler`] (Linux's `ReasmOKs`, `ReasmFails`,
/// `ReasmTimeout`, `ReasmOverlaps`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct DefragStats {
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Fragments dropped.
    pub dropped: u64,
    /// Queues discarded because their time ran out.
    pub expired: u64,
    /// Queues discarded because of an overlap.
    pub overlaps: u64,
}

/// A [`Reassembler`] over [`FixedDefragStorage`]: `Q` queues of `N` bytes.
pub type FixedReassembler<const Q: usize, const N: usize> = Reassembler<FixedDefragStorage<Q, N>>;

/// Reassembles IPv4 and IPv6 fragments before tracking (see the
/// [module docs](self)).
///
/// ```
/// use ctrack::{Config, ConnTable, CtState, FixedConnTable, FixedReassembler, HashKey, Instant, Reassembly};
///
/// // Two queues of 1,500 bytes: enough for a microcontroller.
/// let mut defrag: FixedReassembler<2, 1500> = FixedReassembler::new();
/// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
/// // An ICMP echo request (8 bytes of header, 8 of data) in two fragments.
/// let icmp = [8, 0, 0xd5, 0xb6, 0x12, 0x34, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8];
/// let frag = |off: u16, more: bool, data: &[u8]| {
///     let mut p = vec![0x45, 0, 0, 0, 0xab, 0xcd, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
///     p.extend_from_slice(data);
///     let len = p.len() as u16;
///     p[2..4].copy_from_slice(&len.to_be_bytes());
///     p[6..8].copy_from_slice(&((off / 8) | if more { 0x2000 } else { 0 }).to_be_bytes());
///     let sum = !p[..20].chunks(2).fold(0u32, |s, w| {
///         let s = s + u32::from(u16::from_be_bytes([w[0], w[1]]));
///         (s & 0xffff) + (s >> 16)
///     }) as u16;
///     p[10..12].copy_from_slice(&sum.to_be_bytes());
///     p
/// };
/// let now = Instant::from_secs(1);
/// let first = frag(0, true, &icmp[..8]);
/// let last = frag(8, false, &icmp[8..]);
/// assert_eq!(defrag.push(now, &first), Reassembly::Held);
/// let datagram = match defrag.push(now, &last) {
///     Reassembly::Complete(d) => d,
///     other => panic!("{other:?}"),
/// };
/// assert_eq!(datagram.bytes().len(), 36);
/// // The fragment that completed the datagram gets its verdict.
/// assert_eq!(table.track(now, datagram.bytes()).state(), Some(CtState::New));
/// ```
pub struct Reassembler<S: DefragStorage> {
    storage: S,
    /// Queue lifetimes in seconds; 0 means Linux's default.
    ipv4_timeout: u32,
    ipv6_timeout: u32,
    stats: DefragStats,
}

impl<const Q: usize, const N: usize> Reassembler<FixedDefragStorage<Q, N>> {
    /// An empty reassembler with Linux's timeouts; all zero, so that a
    /// `static` of it goes to `.bss`.
    pub const fn new() -> Self {
        Reassembler {
            storage: FixedDefragStorage::new(),
            ipv4_timeout: 0,
            ipv6_timeout: 0,
            stats: DefragStats { reassembled: 0, dropped: 0, expired: 0, overlaps: 0 },
        }
    }
}

impl<const Q: usize, const N: usize> Default for Reassembler<FixedDefragStorage<Q, N>> {
    fn default() -> Self {
        Self::new()
    }
}

/// What to do with the queue after a step.
enum Step {
    Held,
    Pass,
    Complete(usize, u16),
    /// Dropped; `true`: the queue is discarded too.
    Drop(FragDrop, bool),
}

/// A parsed fragment.
struct Frag<'p> {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    proto: u8,
    offset: u32,
    more: bool,
    /// Bytes of the fragment's header (IPv4 header, or IPv6 header chain
    /// before the Fragment header).
    hlen: usize,
    /// IPv6: offset of the next-header byte naming the Fragment header.
    nh_off: usize,
    /// The payload after the (Fragment) header.
    data: &'p [u8],
    /// The bytes up to the payload (header; IPv6: before the Fragment header).
    header: &'p [u8],
    ecn: u8,
    df: bool,
    /// Linux's size for `max_size`: IPv4 header + trimmed payload, IPv6
    /// payload length.
    size: u32,
}

impl<S: DefragStorage> Reassembler<S> {
    /// A reassembler over `storage`, with Linux's timeouts.
    pub fn with_storage(storage: S) -> Self {
        Reassembler { storage, ipv4_timeout: 0, ipv6_timeout: 0, stats: DefragStats::default() }
    }

    /// Set the queue lifetimes in seconds (`ipfrag_time`,
    /// `nf_conntrack_frag6_timeout`); 0 restores Linux's defaults (30, 60).
    pub fn set_timeouts(&mut self, ipv4_secs: u32, ipv6_secs: u32) {
        self.ipv4_timeout = ipv4_secs;
        self.ipv6_timeout = ipv6_secs;
    }

    /// The queue lifetimes in seconds (IPv4, IPv6).
    pub fn timeouts(&self) -> (u32, u32) {
        let pick = |t: u32, d: u32| if t == 0 { d } else { t };
        (pick(self.ipv4_timeout, IPV4_FRAG_TIMEOUT_SECS), pick(self.ipv6_timeout, IPV6_FRAG_TIMEOUT_SECS))
    }

    /// How many queues the pool has.
    pub fn queues(&self) -> usize {
        self.storage.parts().0.len()
    }

    /// Each queue's buffer size: the largest datagram (header included) it
    /// reassembles.
    pub fn buffer_size(&self) -> usize {
        let (q, b) = self.storage.parts();
        b.len().checked_div(q.len()).unwrap_or(0)
    }

    /// Queues holding fragments at `now`.
    pub fn in_use(&self, now: Instant) -> usize {
        let (queues, _) = self.storage.parts();
        queues.iter().filter(|q| q.used && !self.expired(q, now)).count()
    }

    /// The counters.
    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Discard every queue whose time has run out at `now` (this also
    /// happens lazily in [`push`](Self::push)); returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let (t4, t6) = self.timeouts();
        let (queues, _) = self.storage.parts_mut();
        let mut n = 0;
        for q in queues.iter_mut().filter(|q| q.used && is_expired(q, now, t4, t6)) {
            q.used = false;
            n += 1;
        }
        self.stats.expired += n as u64;
        n
    }

    fn expired(&self, q: &FragQueue, now: Instant) -> bool {
        let (t4, t6) = self.timeouts();
        is_expired(q, now, t4, t6)
    }

    /// Run `packet` (an IPv4 or IPv6 packet) through reassembly at `now`.
    pub fn push<'a>(&'a mut self, now: Instant, packet: &'a [u8]) -> Reassembly<'a> {
        let frag = match packet.first().map(|b| b >> 4) {
            Some(4) => parse_v4(packet),
            Some(6) => parse_v6(packet),
            _ => Ok(None),
        };
        let frag = match frag {
            Ok(Some(f)) => f,
            Ok(None) => return Reassembly::Pass(packet),
            Err(d) => {
                self.stats.dropped += 1;
                return Reassembly::Dropped(d);
            }
        };
        let (t4, t6) = self.timeouts();
        let (queues, bytes) = self.storage.parts_mut();
        let per = bytes.len().checked_div(queues.len()).unwrap_or(0);
        let key_matches = |q: &FragQueue| {
            q.used
                && q.v6 == frag.v6
                && q.id == frag.id
                && q.src == frag.src
                && q.dst == frag.dst
                && (frag.v6 || q.proto == frag.proto)
        };
        let mut found = None;
        for (i, q) in queues.iter_mut().enumerate() {
            if key_matches(q) {
                if is_expired(q, now, t4, t6) {
                    q.used = false;
                    self.stats.expired += 1;
                } else {
                    found = Some(i);
                }
                break;
            }
        }
        // An IPv6 atomic fragment with no queue of its own (RFC 6946)
        // takes a queue that completes at once, as Linux's does
        // (`nf_ct_frag6_gather()`): the datagram is tracked without its
        // Fragment header, as long as Linux counts it (56 bytes for 64).
        let i = match found {
            Some(i) => i,
            None => {
                let Some(i) = queues.iter().position(|q| !q.used || is_expired(q, now, t4, t6)) else {
                    self.stats.dropped += 1;
                    return Reassembly::Dropped(FragDrop::PoolFull);
                };
                if queues[i].used {
                    self.stats.expired += 1;
                }
                let q = &mut queues[i];
                *q = FragQueue::EMPTY;
                q.used = true;
                q.v6 = frag.v6;
                q.id = frag.id;
                q.proto = frag.proto;
                q.src = frag.src;
                q.dst = frag.dst;
                q.created_ms = now.millis();
                i
            }
        };
        let start = i * per;
        let Some(buf) = bytes.get_mut(start..start + per) else {
            queues[i].used = false;
            self.stats.dropped += 1;
            return Reassembly::Dropped(FragDrop::TooBig);
        };
        let q = &mut queues[i];
        match queue(q, buf, &frag) {
            Step::Held => Reassembly::Held,
            Step::Pass => {
                q.used = false;
                Reassembly::Pass(packet)
            }
            Step::Drop(d, kill) => {
                if kill {
                    q.used = false;
                }
                self.stats.dropped += 1;
                if d == FragDrop::Overlap {
                    self.stats.overlaps += 1;
                }
                Reassembly::Dropped(d)
            }
            Step::Complete(total, max) => {
                q.used = false;
                self.stats.reassembled += 1;
                Reassembly::Complete(Datagram { bytes: &buf[..total], max_fragment_size: max })
            }
        }
    }
}

fn is_expired(q: &FragQueue, now: Instant, t4: u32, t6: u32) -> bool {
    let t = if q.v6 { t6 } else { t4 };
    now.millis().saturating_sub(q.created_ms) >= u64::from(t) * 1000
}

/// An IPv4 fragment, if `p` is one; `None` for anything else, including
/// packets IP input would drop (the tracker then reports them INVALID).
fn parse_v4(p: &[u8]) -> Result<Option<Frag<'_>>, FragDrop> {
    if p.len() < 20 {
        return Ok(None);
    }
    let ip = Ipv4Packet::new_unchecked(p);
    let hlen = usize::from(ip.header_len());
    let total = usize::from(ip.total_len());
    if hlen < 20 || hlen > total || total > p.len() || !ip.verify_checksum() {
        return Ok(None);
    }
    let fo = u16::from_be_bytes([p[6], p[7]]);
    let more = fo & 0x2000 != 0;
    let offset = u32::from(fo & 0x1fff) * 8;
    if !more && offset == 0 {
        return Ok(None);
    }
    let mut src = [0; 16];
    let mut dst = [0; 16];
    src[..4].copy_from_slice(&p[12..16]);
    dst[..4].copy_from_slice(&p[16..20]);
    Ok(Some(Frag {
        v6: false,
        src,
        dst,
        id: u32::from(u16::from_be_bytes([p[4], p[5]])),
        proto: p[9],
        offset,
        more,
        hlen,
        nh_off: 0,
        data: &p[hlen..total],
        header: &p[..hlen],
        ecn: 1 << (p[1] & 3),
        df: fo & 0x4000 != 0,
        size: 0,
    }))
}

/// An IPv6 packet with a Fragment header, as `find_prev_fhdr()` finds it.
fn parse_v6(p: &[u8]) -> Result<Option<Frag<'_>>, FragDrop> {
    if p.len() < 40 {
        return Ok(None);
    }
    // What IPv6 input drops (a payload beyond the packet, a refused
    // address or hop-by-hop option) never reaches the defragmenter: the
    // table says why. A payload length of 0 (a jumbogram's) is not
    // reassembled: `nf_conntrack_reasm.c: nf_ct_frag6_gather()` lets such
    // a packet through ("jumbo payload inhibits frag. header"), and a
    // jumbogram has no Fragment header anyway (RFC 2675 § 3).
    let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
    let Ok(end) = crate::wire::ip::ipv6_input(p) else { return Ok(None) };
    if plen == 0 {
        return Ok(None);
    }
    let Some(p) = p.get(..end) else { return Ok(None) };
    let mut nh = p[6];
    let mut nh_off = 6;
    let mut off = 40;
    // Every header is 8 bytes or more: at most `plen / 8` steps.
    while nh != FRAGMENT {
        if !matches!(nh, 0 | 43 | 51 | 60) {
            return Ok(None);
        }
        let Some(h) = p.get(off..off + 2) else { return Ok(None) };
        let len = if nh == 51 { (usize::from(h[1]) + 2) * 4 } else { (usize::from(h[1]) + 1) * 8 };
        nh = h[0];
        nh_off = off;
        off += len;
    }
    if off > p.len() {
        return Ok(None);
    }
    // RFC 8200 4.5: a first fragment must hold the upper-layer header;
    // Linux lets one that does not through to conntrack as it is, and
    // tests it before it needs the whole Fragment header (a first
    // fragment whose header is cut short passes too).
    if first_fragment_truncated(p, off) {
        return Ok(None);
    }
    let Some(fh) = p.get(off..off + 8) else { return Err(FragDrop::Malformed) };
    let fo = u16::from_be_bytes([fh[2], fh[3]]);
    let offset = u32::from(fo & 0xfff8);
    let more = fo & 1 != 0;
    let mut src = [0; 16];
    let mut dst = [0; 16];
    src.copy_from_slice(&p[8..24]);
    dst.copy_from_slice(&p[24..40]);
    Ok(Some(Frag {
        v6: true,
        src,
        dst,
        id: u32::from_be_bytes([fh[4], fh[5], fh[6], fh[7]]),
        proto: fh[0],
        offset,
        more,
        hlen: off,
        nh_off,
        data: &p[off + 8..],
        header: &p[..off],
        ecn: 1 << ((p[1] >> 4) & 3),
        df: false,
        size: plen as u32,
    }))
}

/// `ipv6frag_thdr_truncated()`: walk the headers from the Fragment header
/// at `fhoff` (the one walk of the packet path,
/// [`skip_extension_headers`](crate::wire::ip::skip_extension_headers),
/// which refuses a later fragment); true if the upper-layer header of a
/// first fragment is cut short. A walk that fails (a later fragment, a
/// header cut short, No Next Header) is not truncation.
fn first_fragment_truncated(p: &[u8], fhoff: usize) -> bool {
    let Ok((nh, off)) = crate::wire::ip::skip_extension_headers(p, fhoff, FRAGMENT) else {
        return false;
    };
    let need = match nh {
        6 => 20,
        17 | 58 => 8,
        _ => 1,
    };
    off + need > p.len()
}

/// `ip_frag_queue()` / `nf_ct_frag6_queue()`: add `f` to `q`, whose
/// reassembly buffer is `buf`.
fn queue(q: &mut FragQueue, buf: &mut [u8], f: &Frag<'_>) -> Step {
    let v6 = f.v6;
    let offset = f.offset;
    let mut end = offset + f.data.len() as u32;
    if v6 && end > IPV6_MAXPLEN {
        return Step::Drop(FragDrop::Oversize, false);
    }
    if !f.more {
        if end < q.len || (q.last_in && end != q.len) {
            return Step::Drop(FragDrop::BadEnd, !v6);
        }
        q.last_in = true;
        q.len = end;
    } else {
        if end & 7 != 0 {
            if v6 {
                // RFC 8200: a non-last fragment is a multiple of 8 bytes;
                // Linux discards the queue and lets this one through.
                return Step::Pass;
            }
            end &= !7;
        }
        if end > q.len {
            if q.last_in {
                return Step::Drop(FragDrop::BadEnd, !v6);
            }
            q.len = end;
        }
    }
    if end == offset {
        return Step::Drop(FragDrop::Empty, !v6);
    }
    // Where the fragment goes among the runs (`inet_frag_queue_insert()`).
    let unit = |b: u32| b.div_ceil(8) as u16;
    let (o8, e8) = ((offset / 8) as u16, unit(end));
    enum Place {
        First,
        Append,
        NewTail,
        Middle,
    }
    let place = if q.nruns == 0 {
        Place::First
    } else if q.tail_end < end {
        if offset < q.tail_end {
            return Step::Drop(FragDrop::Overlap, true);
        }
        if offset == q.tail_end { Place::Append } else { Place::NewTail }
    } else {
        for r in &q.runs[..usize::from(q.nruns)] {
            if e8 <= r[0] || o8 >= r[1] {
                continue;
            }
            if o8 >= r[0] && e8 <= r[1] {
                return Step::Drop(FragDrop::Duplicate, false);
            }
            return Step::Drop(FragDrop::Overlap, true);
        }
        Place::Middle
    };
    // Room in the buffer: the header (known once the first fragment is
    // in) and the payload up to its furthest byte.
    let hlen = if offset == 0 { f.hlen } else { usize::from(q.hlen) };
    let furthest = q.tail_end.max(end) as usize;
    if hlen + furthest > buf.len() || f.hlen > usize::from(u16::MAX) {
        return Step::Drop(FragDrop::TooBig, true);
    }
    if !matches!(place, Place::Append) && usize::from(q.nruns) >= MAX_RUNS {
        return Step::Drop(FragDrop::TooManyRuns, true);
    }
    match place {
        Place::Append => q.runs[usize::from(q.tail)][1] = e8,
        _ => {
            let n = usize::from(q.nruns);
            q.runs[n] = [o8, e8];
            if !matches!(place, Place::Middle) {
                q.tail = n as u8;
            }
            q.nruns += 1;
        }
    }
    if !matches!(place, Place::Middle) {
        q.tail_end = end;
    }
    let size = (end - offset) as usize;
    if offset == 0 {
        // The first fragment: its header goes in front of the data held.
        let held = (q.tail_end as usize).min(buf.len() - hlen);
        buf.copy_within(..held, hlen);
        buf[..hlen].copy_from_slice(&f.header[..hlen]);
        q.hlen = hlen as u16;
        q.nh_off = f.nh_off as u16;
        q.frag_nh = f.proto;
        q.first_in = true;
    }
    let at = hlen + offset as usize;
    buf[at..at + size].copy_from_slice(&f.data[..size]);
    q.meat += size as u32;
    q.ecn |= f.ecn;
    let fragsize = if v6 { f.size } else { (f.hlen + size) as u32 };
    q.max_size = q.max_size.max(fragsize);
    if f.df {
        q.max_df_size = q.max_df_size.max(fragsize);
    }
    if !(q.first_in && q.last_in && q.meat == q.len) {
        return Step::Held;
    }
    reassemble(q, buf)
}

/// `ip_frag_reasm()` / `nf_ct_frag6_reasm()`: the datagram in `buf`.
fn reassemble(q: &FragQueue, buf: &mut [u8]) -> Step {
    // `ip_frag_ecn_table`: not-ECT with anything else cannot be merged; CE
    // with ECT marks the datagram CE.
    const NOT_ECT: u8 = 1;
    const CE: u8 = 8;
    if q.ecn & NOT_ECT != 0 && q.ecn != NOT_ECT {
        return Step::Drop(FragDrop::Ecn, true);
    }
    let ce = if q.ecn & CE != 0 && q.ecn != CE { 3 } else { 0 };
    let hlen = usize::from(q.hlen);
    let total = hlen + q.len as usize;
    if q.v6 {
        let plen = total - 40;
        if plen > IPV6_MAXPLEN as usize {
            return Step::Drop(FragDrop::Oversize, true);
        }
        buf[usize::from(q.nh_off)] = q.frag_nh;
        buf[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
        buf[1] |= ce << 4;
        let max = (40 + q.max_size).min(u32::from(u16::MAX)) as u16;
        Step::Complete(total, max)
    } else {
        if total > 65535 {
            return Step::Drop(FragDrop::Oversize, true);
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..hlen]);
        ip.set_total_len(total as u16);
        buf[1] |= ce;
        let df = q.max_df_size == q.max_size;
        buf[6..8].copy_from_slice(&(if df { 0x4000u16 } else { 0 }).to_be_bytes());
        Ipv4Packet::new_unchecked(&mut buf[..hlen]).fill_checksum();
        let max = q.max_size.max(q.max_df_size).min(u32::from(u16::MAX)) as u16;
        Step::Complete(total, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag4(id: u16, off: usize, more: bool, data: &[u8]) -> std::vec::Vec<u8> {
        let mut v = crate::wire::ip::tests::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, data);
        let fo = (off as u16 / 8) | if more { 0x2000 } else { 0 };
        v[4..6].copy_from_slice(&id.to_be_bytes());
        v[6..8].copy_from_slice(&fo.to_be_bytes());
        Ipv4Packet::new_unchecked(&mut v[..]).fill_checksum();
        v
    }

    #[test]
    fn empty_state_is_all_zero() {
        let q = FragQueue::EMPTY;
        assert!(!q.used && q.runs.iter().flatten().all(|&w| w == 0) && q.created_ms == 0);
        let r: FixedReassembler<2, 16> = FixedReassembler::new();
        assert_eq!(r.timeouts(), (30, 60));
        assert_eq!(r.stats(), DefragStats::default());
    }

    #[test]
    fn runs_follow_arrival_order() {
        let now = Instant::from_secs(1);
        let mut d: FixedReassembler<1, 256> = FixedReassembler::new();
        let data = [5u8; 64];
        // In order: one run.
        for k in 0..4 {
            assert_eq!(d.push(now, &frag4(1, k * 8, true, &data[..8])), Reassembly::Held);
        }
        let q = d.storage.parts().0[0];
        assert_eq!((q.nruns, q.runs[0], q.tail_end, q.meat), (1, [0, 4], 32, 32));
        // A gap: a second run, now the tail.
        assert_eq!(d.push(now, &frag4(1, 48, true, &data[..8])), Reassembly::Held);
        // Below the tail: a run of its own, never extended.
        assert_eq!(d.push(now, &frag4(1, 32, true, &data[..8])), Reassembly::Held);
        let q = d.storage.parts().0[0];
        assert_eq!((q.nruns, q.tail, q.tail_end), (3, 1, 56));
        // [32,48) spans the middle run and the gap: overlap.
        assert_eq!(d.push(now, &frag4(1, 32, true, &data[..16])), Reassembly::Dropped(FragDrop::Overlap));
        assert_eq!(d.in_use(now), 0);
    }

    #[test]
    fn header_moves_in_front_of_held_data() {
        let now = Instant::from_secs(1);
        let mut d: FixedReassembler<1, 128> = FixedReassembler::new();
        let data: std::vec::Vec<u8> = (0..48).collect();
        assert_eq!(d.push(now, &frag4(1, 16, true, &data[16..32])), Reassembly::Held);
        assert_eq!(d.push(now, &frag4(1, 32, false, &data[32..])), Reassembly::Held);
        let first = frag4(1, 0, true, &data[..16]);
        let Reassembly::Complete(dg) = d.push(now, &first) else { panic!() };
        assert_eq!(&dg.bytes()[20..], &data[..]);
        assert_eq!(dg.bytes().len(), 68);
        // Exactly full: 20 + 108 bytes in a 128-byte buffer.
        let big: std::vec::Vec<u8> = (0..108).collect();
        assert_eq!(d.push(now, &frag4(2, 0, true, &big[..56])), Reassembly::Held);
        assert!(matches!(d.push(now, &frag4(2, 56, false, &big[56..])), Reassembly::Complete(_)));
        // One byte more does not fit.
        assert_eq!(d.push(now, &frag4(3, 56, false, &[0; 53])), Reassembly::Held);
        assert_eq!(d.push(now, &frag4(3, 0, true, &big[..56])), Reassembly::Dropped(FragDrop::TooBig));
    }

    #[test]
    fn zero_sized_pool_is_total() {
        let now = Instant::from_secs(1);
        let mut queues: [FragQueue; 0] = [];
        let mut bytes = [0u8; 4];
        let mut d = Reassembler::with_storage(SliceDefragStorage::new(&mut queues, &mut bytes));
        assert_eq!(d.buffer_size(), 0);
        assert_eq!(d.push(now, &frag4(1, 0, true, &[0; 8])), Reassembly::Dropped(FragDrop::PoolFull));
        let mut queues = [FragQueue::EMPTY; 2];
        let mut d = Reassembler::with_storage(SliceDefragStorage::new(&mut queues, &mut bytes));
        assert_eq!(d.push(now, &frag4(1, 0, true, &[0; 8])), Reassembly::Dropped(FragDrop::TooBig));
        assert_eq!(d.in_use(now), 0);
    }

    #[test]
    fn truncations_never_panic() {
        let now = Instant::from_secs(1);
        let mut d: FixedReassembler<2, 96> = FixedReassembler::new();
        let v4 = frag4(7, 8, true, &[1; 40]);
        let mut v6 = std::vec![0x60, 0, 0, 0, 0, 24, 0, 64];
        v6.extend_from_slice(&[1; 32]);
        v6.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 1, 0, 0, 0, 9]);
        for p in [&v4[..], &v6[..]] {
            for cut in 0..=p.len() {
                let _ = d.push(now, &p[..cut]);
                let mut q = p[..cut].to_vec();
                if cut > 5 {
                    q[5] = 0xff; // lengths beyond the packet
                    let _ = d.push(now, &q);
                }
            }
        }
    }
}
