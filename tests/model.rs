//! Model-based property test: random sequences of UDP and ICMP echo
//! packets (IPv4 and IPv6) over a handful of flows, run through a
//! [`ConnTable`] and through a small reference model of Linux conntrack's
//! rules for those protocols, compared after every packet. The same
//! property runs over every storage (fixed array, heap vector, borrowed
//! slice, and a crowded small array), so that they all keep the same
//! semantics. It uses the public API only: it guards rewrites of the
//! table's internals.
//!
//! The rules the model encodes (Linux 6.x):
//!
//! * lookup (`nf_conntrack_core.c: resolve_normal_ct()`,
//!   `____nf_conntrack_find()`): a packet belongs to the live confirmed
//!   entry of its zone whose original tuple is the packet's tuple
//!   (original direction) or its inversion (reply direction). It is
//!   ESTABLISHED in the reply direction or once the entry has SEEN_REPLY,
//!   else NEW. An entry is dead from its deadline on
//!   (`nf_conntrack.h: nf_ct_is_expired()`: `timeout - now <= 0`).
//! * no entry: the packet creates one (NEW, original direction), which
//!   other packets see only once confirmed (`__nf_conntrack_confirm()`); a
//!   discarded packet leaves nothing. ICMP: only an echo request may create
//!   an entry; any other query is INVALID
//!   (`nf_conntrack_proto_icmp.c: nf_conntrack_icmp_packet()`,
//!   `nf_conntrack_proto_icmpv6.c: nf_conntrack_icmpv6_packet()`,
//!   `valid_new[]`), counted in the `invalid` statistic.
//! * UDP (`nf_conntrack_proto_udp.c: nf_conntrack_udp_packet()`): with no
//!   SEEN_REPLY before the packet, the timeout becomes `udp` (30 s); once
//!   replied, a packet strictly more than 2 s after the entry's creation
//!   (`time_after(jiffies, stream_ts)`) sets `udp_stream` (120 s) and
//!   ASSURED, one within the grace `udp` again. ICMP and ICMPv6: every
//!   accepted packet sets `icmp` / `icmpv6` (30 s), never ASSURED.
//! * SEEN_REPLY is set after an accepted reply-direction packet
//!   (`nf_conntrack_core.c: nf_conntrack_in()`); the timeout shown is
//!   the whole seconds left, truncated (`ctnetlink`/`conntrack -L`).
//! * zones separate connections; notrack packets are UNTRACKED and touch
//!   nothing; `gc()` never changes what is live.
//!
//! The clock moves in steps of 125 ms, whole multiples of the table's
//! 1/16 s tick, so deadlines and the stream grace are exact and the model
//! can demand exact timeouts.

mod common;

use std::fmt;
use std::net::IpAddr;

use common::*;
use ctrack::*;
use proptest::prelude::*;

// ------------------------------------------------------------------------
// The traffic: a few fixed flows between two endpoints A and B.

/// Milliseconds per step of the test's clock (two ticks of 1/16 s).
const STEP_MS: u64 = 125;

#[derive(Clone, Copy)]
enum FlowKind {
    Udp { a_port: u16, b_port: u16 },
    Echo { id: u16 },
}

struct Flow {
    a: &'static str,
    b: &'static str,
    kind: FlowKind,
}

const FLOWS: [Flow; 6] = [
    // A DNS-like exchange.
    Flow { a: "192.0.2.1", b: "198.51.100.53", kind: FlowKind::Udp { a_port: 40000, b_port: 53 } },
    // Flow 0's hosts and ports, each port on the other host: its tuples are
    // neither flow 0's nor their inversions, though made of the same parts.
    Flow { a: "198.51.100.53", b: "192.0.2.1", kind: FlowKind::Udp { a_port: 40000, b_port: 53 } },
    // Same addresses as flow 0, one port apart.
    Flow { a: "192.0.2.1", b: "198.51.100.53", kind: FlowKind::Udp { a_port: 40001, b_port: 53 } },
    // IPv6, equal ports on both sides.
    Flow { a: "2001:db8::1", b: "2001:db8::2", kind: FlowKind::Udp { a_port: 5353, b_port: 5353 } },
    Flow { a: "192.0.2.1", b: "198.51.100.53", kind: FlowKind::Echo { id: 0x1267 } },
    Flow { a: "2001:db8::1", b: "2001:db8::2", kind: FlowKind::Echo { id: 7 } },
];

/// One packet of the universe: flow, which endpoint sends it, and for an
/// echo flow whether it is an echo request or an echo reply.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Pkt {
    flow: usize,
    from_b: bool,
    echo_reply: bool,
    payload: u8,
}

/// How a packet goes through the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// `track()` in zone 0, `track_with()` in another zone.
    Track,
    /// `track_with()`, any zone.
    TrackWith,
    /// `classify()`, then `confirm()`.
    Confirm,
    /// `classify()`, then `discard()`: a firewall dropped it.
    Discard,
    /// `track_with()` with notrack.
    Notrack,
    /// `classify()` with notrack, then `confirm()`.
    NotrackTwoStep,
}

#[derive(Clone, Copy)]
enum Action {
    Packet { pkt: Pkt, zone: usize, how: How },
    Gc { budget: usize },
}

#[derive(Clone, Copy)]
struct Step {
    /// Clock advance before the action, in [`STEP_MS`] units.
    gap: u64,
    action: Action,
}

#[derive(Clone)]
struct Case {
    key: [u8; 16],
    /// The clock's value at the first step, in milliseconds.
    start_ms: u64,
    zones: [u16; 2],
    steps: Vec<Step>,
}

// ------------------------------------------------------------------------
// The model's own tuples (independent of ctrack's `Tuple`).

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum ML4 {
    Udp { sport: u16, dport: u16 },
    Icmp { ty: u8, id: u16 },
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct MTuple {
    src: IpAddr,
    dst: IpAddr,
    l4: ML4,
}

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

impl MTuple {
    fn v6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// `nf_ct_invert_tuple()`: swap the endpoints; ICMP maps the query type
    /// to its answer (`invmap[]`) and keeps the id.
    fn invert(&self) -> MTuple {
        let l4 = match self.l4 {
            ML4::Udp { sport, dport } => ML4::Udp { sport: dport, dport: sport },
            ML4::Icmp { ty, id } => {
                let ty = match ty {
                    ECHO_REQUEST_V4 => ECHO_REPLY_V4,
                    ECHO_REPLY_V4 => ECHO_REQUEST_V4,
                    ECHO_REQUEST_V6 => ECHO_REPLY_V6,
                    ECHO_REPLY_V6 => ECHO_REQUEST_V6,
                    t => panic!("no inverse for ICMP type {t}"),
                };
                ML4::Icmp { ty, id }
            }
        };
        MTuple { src: self.dst, dst: self.src, l4 }
    }

    /// ctrack's `Tuple` for the same flow direction, for `lookup()`.
    fn ctrack(&self) -> Tuple {
        match self.l4 {
            ML4::Udp { sport, dport } => Tuple::with_ports(self.src, sport, self.dst, dport, 17),
            ML4::Icmp { ty, id } => Tuple::icmp(self.src, self.dst, ty, 0, id),
        }
        .expect("a valid tuple")
    }
}

/// The tuple as `conntrack -L` prints it.
impl fmt::Display for MTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src={} dst={}", self.src, self.dst)?;
        match self.l4 {
            ML4::Udp { sport, dport } => write!(f, " sport={sport} dport={dport}"),
            ML4::Icmp { ty, id } => write!(f, " type={ty} code=0 id={id}"),
        }
    }
}

impl Pkt {
    fn tuple(&self) -> MTuple {
        let f = &FLOWS[self.flow];
        let (src, dst) = if self.from_b { (f.b, f.a) } else { (f.a, f.b) };
        let (src, dst) = (ip(src), ip(dst));
        let l4 = match f.kind {
            FlowKind::Udp { a_port, b_port } => {
                let (sport, dport) = if self.from_b { (b_port, a_port) } else { (a_port, b_port) };
                ML4::Udp { sport, dport }
            }
            FlowKind::Echo { id } => {
                let ty = match (src.is_ipv6(), self.echo_reply) {
                    (false, false) => ECHO_REQUEST_V4,
                    (false, true) => ECHO_REPLY_V4,
                    (true, false) => ECHO_REQUEST_V6,
                    (true, true) => ECHO_REPLY_V6,
                };
                ML4::Icmp { ty, id }
            }
        };
        MTuple { src, dst, l4 }
    }

    /// The packet's bytes (checksums filled by the builders).
    fn bytes(&self) -> Vec<u8> {
        let t = self.tuple();
        let (src, dst) = (t.src.to_string(), t.dst.to_string());
        let data: Vec<u8> = (0..self.payload).collect();
        match t.l4 {
            ML4::Udp { sport, dport } => udp(&src, sport, &dst, dport, &data),
            ML4::Icmp { ty, id } => icmp(&src, &dst, ty, 0, id, &data),
        }
    }
}

impl fmt::Debug for Pkt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.tuple();
        let proto = match (t.l4, t.v6()) {
            (ML4::Udp { .. }, false) => "udp",
            (ML4::Udp { .. }, true) => "udp6",
            (ML4::Icmp { .. }, false) => "icmp",
            (ML4::Icmp { .. }, true) => "icmpv6",
        };
        write!(f, "flow {} {proto} {t} +{}B", self.flow, self.payload)
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key: String = self.key.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(f, "Case {{ key: {key}, start_ms: {}, zones: {:?}, steps: [", self.start_ms, self.zones)?;
        for (k, step) in self.steps.iter().enumerate() {
            writeln!(f, "    #{k:<3} {step:?}")?;
        }
        write!(f, "] }}")
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{:.3}s ", (self.gap * STEP_MS) as f64 / 1000.0)?;
        match self.action {
            Action::Packet { pkt, zone, how } => write!(f, "{how:?} zone#{zone} [{pkt:?}]"),
            Action::Gc { budget } => write!(f, "gc({budget})"),
        }
    }
}

// ------------------------------------------------------------------------
// The reference model.

/// Timeouts in seconds: `Config::default()`, the kernel's sysctl defaults.
const UDP_TIMEOUT: u64 = 30;
const UDP_STREAM_TIMEOUT: u64 = 120;
const ICMP_TIMEOUT: u64 = 30;
const ICMPV6_TIMEOUT: u64 = 30;
/// `nf_conntrack_udp_packet()`: `stream_ts = jiffies + 2 * HZ`.
const UDP_STREAM_GRACE_MS: u64 = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MEntry {
    zone: u16,
    orig: MTuple,
    created_ms: u64,
    deadline_ms: u64,
    seen_reply: bool,
    assured: bool,
}

impl MEntry {
    fn live(&self, now: u64) -> bool {
        now < self.deadline_ms
    }

    fn status(&self, confirmed: bool) -> Status {
        let mut s = Status::empty();
        for (on, bit) in [
            (confirmed, Status::CONFIRMED),
            (self.seen_reply, Status::SEEN_REPLY),
            (self.assured, Status::ASSURED),
        ] {
            if on {
                s = s | bit;
            }
        }
        s
    }

    /// What the table should show of the entry at `now`.
    fn listed(&self, now: u64, confirmed: bool) -> Listed {
        let timeout = u32::try_from((self.deadline_ms - now) / 1000).unwrap();
        (self.line(now), self.zone, self.status(confirmed).bits(), timeout)
    }

    /// The `conntrack -L` line at `now`.
    fn line(&self, now: u64) -> String {
        let (name, proto) = match (self.orig.l4, self.orig.v6()) {
            (ML4::Udp { .. }, _) => ("udp", 17),
            (ML4::Icmp { .. }, false) => ("icmp", 1),
            (ML4::Icmp { .. }, true) => ("icmpv6", 58),
        };
        let timeout = self.deadline_ms.saturating_sub(now) / 1000;
        let mut l = format!("{name:<8} {proto} {timeout} {}", self.orig);
        if !self.seen_reply {
            l += " [UNREPLIED]";
        }
        l += &format!(" {}", self.orig.invert());
        if self.assured {
            l += " [ASSURED]";
        }
        l += " mark=0";
        if self.zone != 0 {
            l += &format!(" zone={}", self.zone);
        }
        l + " use=1"
    }
}

/// What the model says about a tracked packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MVerdict {
    /// Attached to `entry` (its state after the packet); `new`: the packet
    /// created it and it awaits confirmation.
    Tracked { state: CtState, dir: Direction, entry: MEntry, new: bool },
    /// An ICMP answer to nothing.
    Unsolicited,
    /// An IPv6 packet in a table built with feature `ipv4-only`: INVALID
    /// for that reason, not counted, nothing stored.
    NotTracked,
}

#[derive(Default)]
struct Model {
    entries: Vec<MEntry>,
    /// The `invalid` statistic.
    invalid: u64,
    /// How often each rule applied (see `generator_reaches_every_rule`).
    hits: Hits,
}

type Hits = std::collections::BTreeMap<&'static str, u32>;

impl Model {
    fn hit(&mut self, rule: &'static str) {
        *self.hits.entry(rule).or_default() += 1;
    }

    /// The live entry `t` belongs to in `zone`, and the direction.
    fn find(&self, zone: u16, t: &MTuple, now: u64) -> Option<(usize, Direction)> {
        self.entries.iter().enumerate().filter(|(_, e)| e.zone == zone && e.live(now)).find_map(|(i, e)| {
            if e.orig == *t {
                Some((i, Direction::Original))
            } else if e.orig.invert() == *t {
                Some((i, Direction::Reply))
            } else {
                None
            }
        })
    }

    /// `nf_conntrack_in()` for a packet with tuple `t`: the verdict, with
    /// an existing entry updated. A new entry is not stored: see
    /// [`Model::confirm`].
    fn classify(&mut self, now: u64, zone: u16, t: &MTuple) -> MVerdict {
        if cfg!(feature = "ipv4-only") && t.v6() {
            self.hit("ipv6 packet refused by an ipv4-only table");
            return MVerdict::NotTracked;
        }
        let of_flow = |e: &MEntry| e.zone == zone && (e.orig == *t || e.orig.invert() == *t);
        if let Some(dead) = self.entries.iter().find(|e| of_flow(e) && !e.live(now)) {
            self.hit(if dead.deadline_ms == now {
                "packet exactly at the deadline"
            } else {
                "packet after expiry"
            });
        }
        if self.entries.iter().any(|e| of_flow(e) && e.live(now) && e.deadline_ms - now <= STEP_MS) {
            self.hit("packet one step before the deadline");
        }
        self.entries.retain(|e| e.live(now));
        let Some((i, dir)) = self.find(zone, t, now) else {
            let timeout = match t.l4 {
                ML4::Udp { .. } => UDP_TIMEOUT,
                ML4::Icmp { ty: ECHO_REQUEST_V4, .. } => ICMP_TIMEOUT,
                ML4::Icmp { ty: ECHO_REQUEST_V6, .. } => ICMPV6_TIMEOUT,
                ML4::Icmp { .. } => {
                    self.invalid += 1;
                    self.hit("icmp answer without request: invalid");
                    return MVerdict::Unsolicited;
                }
            };
            self.hit(match (t.l4, t.v6()) {
                (ML4::Udp { .. }, false) => "new udp entry",
                (ML4::Udp { .. }, true) => "new udp6 entry",
                (ML4::Icmp { .. }, false) => "new icmp entry",
                (ML4::Icmp { .. }, true) => "new icmpv6 entry",
            });
            let entry = MEntry {
                zone,
                orig: *t,
                created_ms: now,
                deadline_ms: now + timeout * 1000,
                seen_reply: false,
                assured: false,
            };
            return MVerdict::Tracked { state: CtState::New, dir: Direction::Original, entry, new: true };
        };
        let e = self.entries[i];
        let state = if dir == Direction::Reply || e.seen_reply { CtState::Established } else { CtState::New };
        let after_grace = now > e.created_ms + UDP_STREAM_GRACE_MS;
        let (timeout, assure, rule) = match e.orig.l4 {
            ML4::Udp { .. } if !e.seen_reply => (UDP_TIMEOUT, false, "udp before any reply"),
            ML4::Udp { .. } if after_grace && !e.assured => (UDP_STREAM_TIMEOUT, true, "udp stream: assured"),
            ML4::Udp { .. } if after_grace => (UDP_STREAM_TIMEOUT, false, "udp stream, already assured"),
            ML4::Udp { .. } if now == e.created_ms + UDP_STREAM_GRACE_MS => {
                (UDP_TIMEOUT, false, "udp replied, exactly at the grace end")
            }
            ML4::Udp { .. } => (UDP_TIMEOUT, false, "udp replied, within the grace"),
            ML4::Icmp { .. } if e.orig.v6() => (ICMPV6_TIMEOUT, false, "icmpv6 packet of an entry"),
            ML4::Icmp { .. } => (ICMP_TIMEOUT, false, "icmp packet of an entry"),
        };
        self.hit(rule);
        self.hit(match (dir, e.seen_reply) {
            (Direction::Reply, false) => "first reply",
            (Direction::Reply, true) => "reply after a reply",
            (Direction::Original, true) => "original after a reply: established",
            (Direction::Original, false) => "original again before a reply: new",
        });
        let e = &mut self.entries[i];
        e.deadline_ms = now + timeout * 1000;
        e.assured |= assure;
        if dir == Direction::Reply {
            e.seen_reply = true;
        }
        MVerdict::Tracked { state, dir, entry: *e, new: false }
    }

    /// `__nf_conntrack_confirm()`: the new entry of a packet that passed
    /// becomes visible.
    fn confirm(&mut self, v: &MVerdict) {
        if let MVerdict::Tracked { entry, new: true, .. } = v {
            self.entries.push(*entry);
        }
    }

    /// Every live entry as [`Listed`], sorted.
    fn listing(&self, now: u64) -> Vec<Listed> {
        let mut l: Vec<_> =
            self.entries.iter().filter(|e| e.live(now)).map(|e| e.listed(now, true)).collect();
        l.sort();
        l
    }
}

// ------------------------------------------------------------------------
// Running a case against a table.

/// An entry as compared: its `conntrack -L` line (`Display`), `zone()`,
/// `status()` bits and `timeout()`.
type Listed = (String, u16, u16, u32);

fn listed(e: &EntryRef<'_>) -> Listed {
    (e.to_string(), e.zone(), e.status().bits(), e.timeout())
}

fn listing<S: Storage>(t: &ConnTable<S>, now: Instant) -> Vec<Listed> {
    let mut l: Vec<_> = t.entries(now).map(|e| listed(&e)).collect();
    l.sort();
    l
}

/// Every packet tuple of the universe, for the lookup comparison.
fn universe() -> Vec<MTuple> {
    let mut all = Vec::new();
    for flow in 0..FLOWS.len() {
        for from_b in [false, true] {
            for echo_reply in [false, true] {
                let t = Pkt { flow, from_b, echo_reply, payload: 0 }.tuple();
                if !all.contains(&t) {
                    all.push(t);
                }
            }
        }
    }
    all
}

/// The comparisons made after every step: the `conntrack -L` listing with
/// the status bits, what `lookup()` finds for every tuple of the universe
/// in both zones, and the counters (nothing was ever evicted or dropped).
fn compare_table<S: Storage>(
    t: &ConnTable<S>,
    m: &Model,
    now_ms: u64,
    zones: &[u16; 2],
    universe: &[MTuple],
    trace: &dyn Fn() -> String,
) -> Result<(), TestCaseError> {
    let now = Instant::from_millis(now_ms);
    prop_assert_eq!(listing(t, now), m.listing(now_ms), "entries(now) differ\n{}", trace());
    for &zone in zones {
        for tuple in universe {
            let got = t.lookup(&tuple.ctrack(), zone, now).map(|(e, d)| (listed(&e), d));
            let want = m.find(zone, tuple, now_ms).map(|(i, d)| (m.entries[i].listed(now_ms, true), d));
            prop_assert_eq!(got, want, "lookup({}, zone {}) differs\n{}", tuple, zone, trace());
        }
    }
    let s = t.stats();
    prop_assert_eq!(
        (s.early_drop, s.drop, s.chaintoolong, s.insert_failed, s.clash_resolve, s.error),
        (0, 0, 0, 0, 0, 0),
        "the table evicted or dropped: too small for the model\n{}",
        trace()
    );
    prop_assert_eq!(u64::from(s.invalid), m.invalid, "invalid counter\n{}", trace());
    Ok(())
}

/// The verdict and the entry it names against the model's verdict.
fn compare_verdict<S: Storage>(
    t: &ConnTable<S>,
    v: &Verdict,
    want: &MVerdict,
    confirmed: bool,
    now_ms: u64,
    trace: &dyn Fn() -> String,
) -> Result<(), TestCaseError> {
    let now = Instant::from_millis(now_ms);
    match *want {
        MVerdict::Unsolicited => {
            prop_assert_eq!(*v, Verdict::Invalid(Reason::UnsolicitedReply), "verdict\n{}", trace());
        }
        MVerdict::NotTracked => {
            prop_assert_eq!(*v, Verdict::Invalid(Reason::FamilyNotTracked), "verdict\n{}", trace());
        }
        MVerdict::Tracked { state, dir, entry, new } => {
            prop_assert_eq!((v.state(), v.dir()), (Some(state), Some(dir)), "state, dir\n{}", trace());
            let Verdict::Tracked(tr) = v else { unreachable!() };
            prop_assert_eq!(tr.is_unconfirmed(), new && !confirmed, "is_unconfirmed()\n{}", trace());
            let handle = v.entry();
            prop_assert!(handle.is_some(), "no entry handle\n{}", trace());
            let got = t.get(handle.unwrap(), now).map(|e| listed(&e));
            let want = entry.listed(now_ms, confirmed || !new);
            prop_assert_eq!(got, Some(want), "the packet's entry\n{}", trace());
        }
    }
    Ok(())
}

/// Run `case` through `t` and the model, comparing after every step;
/// returns how often each rule of the model applied.
fn run<S: Storage>(t: &mut ConnTable<S>, case: &Case) -> Result<Hits, TestCaseError> {
    let universe = universe();
    let mut m = Model::default();
    let mut now_ms = case.start_ms;
    let mut log: Vec<String> = Vec::new();
    // The tick counter is 32 bits of 1/16 s: it wraps at 2^32 ticks.
    let wrap_ms = (1u64 << 32) * 1000 / u64::from(TICKS_PER_SEC);
    for (k, step) in case.steps.iter().enumerate() {
        if now_ms < wrap_ms && now_ms + step.gap * STEP_MS >= wrap_ms {
            m.hit("tick counter wrapped");
        }
        now_ms += step.gap * STEP_MS;
        let now = Instant::from_millis(now_ms);
        let elapsed = (now_ms - case.start_ms) as f64 / 1000.0;
        log.push(format!("#{k:<3} t={elapsed:>9.3}s {step:?}"));
        let before: Vec<String> = m.listing(now_ms).into_iter().map(|l| l.0).collect();
        let trace = || {
            let from = log.len().saturating_sub(40);
            format!(
                "case start {} ms, zones {:?}; last steps (=> verdict, and the entry after it):\n  {}\n\
                 model's live entries before this step:\n  {}",
                case.start_ms,
                case.zones,
                log[from..].join("\n  "),
                before.join("\n  ")
            )
        };
        let mut outcome = None;
        match step.action {
            Action::Gc { budget } => {
                let _ = t.gc(now, budget);
                m.hit("gc");
            }
            Action::Packet { pkt, zone, how } => {
                let zone = case.zones[zone];
                if zone != 0 {
                    m.hit("packet in a zone other than 0");
                }
                let bytes = pkt.bytes();
                let meta = Meta::default().with_zone(zone);
                let v = match how {
                    How::Notrack | How::NotrackTwoStep => {
                        let meta = meta.with_notrack(true);
                        let v = if how == How::Notrack {
                            t.track_with(now, &bytes, meta)
                        } else {
                            let mut v = t.classify(now, &bytes, meta);
                            prop_assert_eq!(t.confirm(&mut v, &bytes), Ok(()), "confirm\n{}", trace());
                            v
                        };
                        prop_assert_eq!(v, Verdict::Untracked, "notrack\n{}", trace());
                        m.hit("notrack");
                        v
                    }
                    How::Track | How::TrackWith => {
                        let v = if how == How::Track && zone == 0 {
                            t.track(now, &bytes)
                        } else {
                            t.track_with(now, &bytes, meta)
                        };
                        let want = m.classify(now_ms, zone, &pkt.tuple());
                        m.confirm(&want);
                        compare_verdict(t, &v, &want, true, now_ms, &trace)?;
                        v
                    }
                    How::Confirm | How::Discard => {
                        let mut v = t.classify(now, &bytes, meta);
                        let want = m.classify(now_ms, zone, &pkt.tuple());
                        compare_verdict(t, &v, &want, false, now_ms, &trace)?;
                        // Not confirmed yet: a new entry is invisible.
                        compare_table(t, &m, now_ms, &case.zones, &universe, &trace)?;
                        let new = matches!(want, MVerdict::Tracked { new: true, .. });
                        if how == How::Confirm {
                            prop_assert_eq!(t.confirm(&mut v, &bytes), Ok(()), "confirm\n{}", trace());
                            m.confirm(&want);
                            compare_verdict(t, &v, &want, true, now_ms, &trace)?;
                            m.hit(if new {
                                "new entry confirmed in two steps"
                            } else {
                                "two steps, no new entry"
                            });
                        } else {
                            t.discard(&v);
                            m.hit(if new { "new entry discarded" } else { "discard, no new entry" });
                        }
                        v
                    }
                };
                let state = v.state().map_or("dropped", CtState::name);
                let dir = v.dir().map_or("", Direction::name);
                outcome = Some(match t.lookup(&pkt.tuple().ctrack(), zone, now) {
                    Some((e, _)) => format!("{state} {dir} => {e}"),
                    None => format!("{state} {dir} => no entry"),
                });
            }
        }
        compare_table(t, &m, now_ms, &case.zones, &universe, &trace)?;
        if let (Some(o), Some(last)) = (outcome, log.last_mut()) {
            *last += &format!("  => {o}");
        }
    }
    // Later than any timeout: nothing is live, and a full sweep reaps all.
    let later_ms = now_ms + (UDP_STREAM_TIMEOUT + 1) * 1000;
    let later = Instant::from_millis(later_ms);
    prop_assert_eq!(t.entries(later).count(), 0);
    for tuple in &universe {
        for &zone in &case.zones {
            prop_assert!(t.lookup(&tuple.ctrack(), zone, later).is_none());
        }
    }
    let cap = t.capacity();
    t.gc(later, cap);
    prop_assert_eq!(t.len(), 0, "a full gc sweep after every deadline leaves entries");
    Ok(m.hits)
}

// ------------------------------------------------------------------------
// Strategies.

/// Clock advances: mostly short (within the 2 s stream grace and around
/// it), the timeouts' exact boundaries, and anything up to 200 s.
fn gap() -> impl Strategy<Value = u64> {
    let s = 1000 / STEP_MS; // steps per second
    prop_oneof![
        2 => Just(0),
        6 => 1..=3 * s,
        2 => prop::sample::select(vec![
            2 * s,
            2 * s + 1,
            30 * s - 1,
            30 * s,
            30 * s + 1,
            120 * s - 1,
            120 * s,
            120 * s + 1,
        ]),
        2 => 0..=200 * s,
    ]
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        4 => Just(How::Track),
        2 => Just(How::TrackWith),
        2 => Just(How::Confirm),
        1 => Just(How::Discard),
        1 => Just(How::Notrack),
        1 => Just(How::NotrackTwoStep),
    ]
}

/// A step before resolution: a `None` flow or zone repeats the previous
/// packet's, so that connections see bursts (replies, streams, the timeout
/// boundaries) rather than dying before their next packet.
type RawStep = (u64, Option<usize>, bool, bool, u8, Option<usize>, How, Option<usize>);

fn raw_step() -> impl Strategy<Value = RawStep> {
    (
        gap(),
        prop_oneof![4 => Just(None), 1 => (0..FLOWS.len()).prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
        0u8..24,
        prop_oneof![4 => Just(None), 1 => (0usize..2).prop_map(Some)],
        how(),
        prop_oneof![12 => Just(None), 1 => (0usize..5000).prop_map(Some)],
    )
}

fn case() -> impl Strategy<Value = Case> {
    let start = prop_oneof![
        Just(0u64),
        Just(1_000_000u64),
        // A few thousand seconds before the 32-bit tick counter wraps.
        (0u64..40_000).prop_map(|k| ((1u64 << 31) - k) * STEP_MS),
    ];
    let zones = prop::sample::select(vec![[0u16, 1], [0, 258], [7, 65535]]);
    (any::<[u8; 16]>(), start, zones, prop::collection::vec(raw_step(), 1..150)).prop_map(
        |(key, start_ms, zones, raw)| {
            let (mut prev_flow, mut prev_zone) = (0, 0);
            let steps = raw
                .into_iter()
                .map(|(gap, flow, from_b, echo_reply, payload, zone, how, gc)| {
                    let action = match gc {
                        Some(budget) => Action::Gc { budget },
                        None => {
                            let flow = flow.unwrap_or(prev_flow);
                            let zone = zone.unwrap_or(prev_zone);
                            (prev_flow, prev_zone) = (flow, zone);
                            Action::Packet { pkt: Pkt { flow, from_b, echo_reply, payload }, zone, how }
                        }
                    };
                    Step { gap, action }
                })
                .collect();
            Case { key, start_ms, zones, steps }
        },
    )
}

// ------------------------------------------------------------------------
// The property, over every storage.

/// Cases per storage: enough to meet every rule many times, few enough for
/// a debug build.
const CASES: u32 = 256;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn model_heap_storage(case in case()) {
        run(&mut ConnTable::with_capacity(4096, HashKey(case.key), Config::default()), &case)?;
    }

    #[test]
    fn model_fixed_storage(case in case()) {
        let mut t: Box<FixedConnTable<1024>> = Box::new(ConnTable::new(HashKey(case.key), Config::default()));
        run(&mut t, &case)?;
    }

    #[test]
    fn model_slice_storage(case in case()) {
        let mut slots = vec![Slot::EMPTY; 64];
        let mut index = vec![0u32; 128];
        let mut exts = [ExtSlot::EMPTY; 4];
        let mut expects = [ExpectSlot::EMPTY; 4];
        let storage = SliceStorage::new(&mut slots, &mut index, &mut exts, &mut expects);
        run(&mut ConnTable::with_storage(storage, HashKey(case.key), Config::default()), &case)?;
    }

    #[test]
    fn model_growable_storage(case in case()) {
        run(&mut ConnTable::growable(4, HashKey(case.key), Config::default()), &case)?;
    }

    /// A small table of odd size: at most 16 connections (4 UDP flows and
    /// 2 echo flows with a request from each side, in 2 zones) plus one
    /// unconfirmed entry ever hold a slot, fewer than a probe window, so
    /// nothing is evicted; but the entries crowd, collide and wrap around.
    #[test]
    fn model_crowded_fixed_storage(case in case()) {
        run(&mut FixedConnTable::<37>::new(HashKey(case.key), Config::default()), &case)?;
    }
}

/// The generator reaches every rule of the model: a fixed set of cases
/// (proptest's deterministic runner), run against a table, must apply each
/// rule at least once; `--nocapture` prints how often each did.
#[test]
fn generator_reaches_every_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut total = Hits::new();
    for _ in 0..CASES {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        let mut t: FixedConnTable<37> = ConnTable::new(HashKey(case.key), Config::default());
        let hits = run(&mut t, &case).unwrap_or_else(|e| panic!("{e}"));
        for (rule, n) in hits {
            *total.entry(rule).or_default() += n;
        }
    }
    for (rule, n) in &total {
        println!("{n:>7}  {rule}");
    }
    // An IPv4-only table refuses the IPv6 packets, so their rules apply
    // only where IPv6 is tracked.
    let ipv6_rules: &[&str] = if cfg!(feature = "ipv4-only") {
        &["ipv6 packet refused by an ipv4-only table"]
    } else {
        &["new udp6 entry", "new icmpv6 entry", "icmpv6 packet of an entry"]
    };
    let rules = [
        "new udp entry",
        "new icmp entry",
        "icmp answer without request: invalid",
        "first reply",
        "reply after a reply",
        "original after a reply: established",
        "original again before a reply: new",
        "udp before any reply",
        "udp replied, within the grace",
        "udp replied, exactly at the grace end",
        "udp stream: assured",
        "udp stream, already assured",
        "icmp packet of an entry",
        "packet exactly at the deadline",
        "packet one step before the deadline",
        "packet after expiry",
        "packet in a zone other than 0",
        "new entry confirmed in two steps",
        "new entry discarded",
        "two steps, no new entry",
        "discard, no new entry",
        "notrack",
        "gc",
        "tick counter wrapped",
    ];
    let missed: Vec<_> = rules.iter().chain(ipv6_rules).filter(|r| !total.contains_key(*r)).collect();
    assert!(missed.is_empty(), "rules no generated case reaches: {missed:?}");
}
