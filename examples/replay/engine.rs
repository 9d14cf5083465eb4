//! The replay engine: command-line options and the frame-by-frame replay
//! that prints the oracle's JSON fields. Shared by the `replay` example and
//! the parity test (`tests/parity.rs`).

use ctrack::{
    Config, ConnTable, Event, EventSink, Family, GrowableStorage, HashKey, HeapDefragStorage, HeapStorage,
    Instant, L4, Meta, Reassembler, Reassembly, Status, Storage, Verdict, WithEvents, tuple::proto,
};
use ctrack_capture::{Frame, FrameContent, read_capture};
use serde_json::{Map, Value, json};

/// The oracle injects one frame about every 0.3 ms.
const FRAME_SPACING_MICROS: u64 = 300;

/// Helpers the oracle knows, with whether ctrack implements them yet.
const KNOWN_HELPERS: [&str; 10] =
    ["ftp", "tftp", "sip", "snmp", "irc", "h323", "pptp", "sane", "amanda", "netbios-ns"];

/// One `--notrack` rule, in the oracle's syntax.
#[derive(Debug, Clone, Copy)]
pub enum Notrack {
    All,
    Proto(u8),
    Ports { proto: Option<u8>, lo: u16, hi: u16 },
}

impl Notrack {
    fn parse(spec: &str) -> Result<Notrack, String> {
        let bad = || {
            format!("bad --notrack spec '{spec}' (expected udp/53, tcp/8000-8080, 53, icmp, icmpv6 or all)")
        };
        let (proto, ports) = match spec.split_once('/') {
            Some((p, r)) => (Some(p), r),
            None => match spec {
                "all" => return Ok(Notrack::All),
                "icmp" => return Ok(Notrack::Proto(proto::ICMP)),
                "icmpv6" => return Ok(Notrack::Proto(proto::ICMPV6)),
                _ => (None, spec),
            },
        };
        let proto = match proto {
            None => None,
            Some("tcp") => Some(proto::TCP),
            Some("udp") => Some(proto::UDP),
            Some(_) => return Err(bad()),
        };
        let (lo, hi) = match ports.split_once('-') {
            Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
            None => {
                let p = ports.parse().map_err(|_| bad())?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(bad());
        }
        Ok(Notrack::Ports { proto, lo, hi })
    }

    fn matches(&self, packet: &[u8]) -> bool {
        let Ok(t) = ctrack::packet_tuple(packet) else {
            return false;
        };
        match *self {
            Notrack::All => true,
            Notrack::Proto(p) => t.proto() == p,
            Notrack::Ports { proto, lo, hi } => {
                let proto_ok = match proto {
                    Some(p) => t.proto() == p,
                    None => matches!(t.proto(), proto::TCP | proto::UDP),
                };
                let L4::Ports { sport, dport } = t.l4() else {
                    return false;
                };
                proto_ok && ((lo..=hi).contains(&sport) || (lo..=hi).contains(&dport))
            }
        }
    }
}

pub struct Options {
    pub config: Config,
    pub notrack: Vec<Notrack>,
    pub honour_gaps: Option<f64>,
    pub capture: String,
    /// Things worth saying on stderr (helpers not implemented yet).
    pub warnings: Vec<String>,
    /// Helpers to assign on their standard ports.
    pub helpers: Vec<String>,
    /// Replay on a growable table (`--growable`) instead of a fixed one.
    pub growable: bool,
    /// Hand over to a fresh table before frame `k` (`--split-at K`): snapshot
    /// the table, restore the snapshot into a new one (same settings, the
    /// helpers registered in reverse order, so that they are bound by name)
    /// and replay the rest there.
    pub split_at: Option<usize>,
    /// Record the table's events (`--events`): each frame's object gets
    /// the `conntrack -E` lines (connections and expectations) it caused.
    pub events: bool,
}

fn usage() -> String {
    "usage: replay [--growable] [--split-at K] [--events] [--helpers LIST|none] [--notrack SPEC]... [--sysctl NAME=VALUE]... [--honour-gaps MAXSEC] CAPTURE"
        .to_string()
}

pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut config = Config::default();
    let mut notrack = Vec::new();
    let mut honour_gaps = None;
    let mut growable = false;
    let mut split_at = None;
    let mut events = false;
    let mut capture = None;
    let mut warnings = Vec::new();
    // The oracle's default helper list, when --helpers is not given.
    let mut helpers: Vec<String> = KNOWN_HELPERS
        .iter()
        .filter(|h| ctrack::helper::builtin(h).is_some())
        .map(|h| h.to_string())
        .collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value =
            |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value\n{}", usage()));
        match a.as_str() {
            "--helpers" => {
                let list = value("--helpers")?;
                helpers.clear();
                if list != "none" {
                    for h in list.split(',').filter(|h| !h.is_empty()) {
                        if !KNOWN_HELPERS.contains(&h) {
                            return Err(format!("unknown helper '{h}' (known: {})", KNOWN_HELPERS.join(",")));
                        }
                        match ctrack::helper::builtin(h) {
                            Some(_) => helpers.push(h.to_string()),
                            None => warnings
                                .push(format!("helper '{h}' is not implemented by ctrack yet; ignored")),
                        }
                    }
                }
            }
            "--notrack" => notrack.push(Notrack::parse(&value("--notrack")?)?),
            "--sysctl" => {
                let kv = value("--sysctl")?;
                let (k, v) =
                    kv.split_once('=').ok_or_else(|| format!("--sysctl needs NAME=VALUE, got '{kv}'"))?;
                config.set_sysctl(k, v).map_err(|e| format!("--sysctl {kv}: {e}"))?;
            }
            "--honour-gaps" => {
                let v = value("--honour-gaps")?;
                let secs: f64 = v.parse().map_err(|_| format!("--honour-gaps needs seconds, got '{v}'"))?;
                if !(secs >= 0.0 && secs.is_finite()) {
                    return Err(format!("--honour-gaps needs a non-negative number, got '{v}'"));
                }
                honour_gaps = Some(secs);
            }
            "--growable" => growable = true,
            "--events" => events = true,
            "--split-at" => {
                let v = value("--split-at")?;
                split_at =
                    Some(v.parse().map_err(|_| format!("--split-at needs a frame number, got '{v}'"))?);
            }
            "-h" | "--help" => return Err(usage()),
            s if s.starts_with("--") => return Err(format!("unknown option '{s}'\n{}", usage())),
            s => {
                if capture.replace(s.to_string()).is_some() {
                    return Err(format!("more than one capture given\n{}", usage()));
                }
            }
        }
    }
    let capture = capture.ok_or_else(usage)?;
    Ok(Options { config, notrack, honour_gaps, capture, warnings, helpers, growable, split_at, events })
}

/// The entry's fields as the oracle's `--snapshot-each` prints them.
fn snapshot(obj: &mut Map<String, Value>, e: &ctrack::EntryRef<'_>) {
    if let Some(s) = e.tcp_state() {
        obj.insert("tcp_state".into(), json!(s.name()));
    }
    if let Some(s) = e.sctp_state() {
        obj.insert("sctp_state".into(), json!(s.name()));
    }
    let status = e.status();
    let mut names: Vec<&str> = status.names().collect();
    if !status.contains(Status::SEEN_REPLY) {
        names.push("UNREPLIED");
    }
    obj.insert("status".into(), json!(names));
    obj.insert("timeout".into(), json!(e.timeout()));
    if let Some(h) = e.helper() {
        obj.insert("helper".into(), json!(h.name()));
    }
    if let Some(m) = e.master() {
        obj.insert("master".into(), json!(m.to_string()));
    }
}

/// Read the capture named in `opts` and print the replay to stdout.
pub fn run(opts: Options) -> Result<(), String> {
    for w in &opts.warnings {
        eprintln!("replay: warning: {w}");
    }
    let frames = read_capture(std::path::Path::new(&opts.capture)).map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    for line in replay(&opts, &frames) {
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

/// An event sink that keeps every event's `conntrack -E` line.
#[derive(Default)]
struct EventLines(Vec<String>);

impl EventSink for EventLines {
    fn push(&mut self, event: Event) {
        self.0.push(event.to_string());
    }
}

/// Replay `frames`: one JSON object per frame, then the final object.
pub fn replay(opts: &Options, frames: &[Frame]) -> Vec<Value> {
    let key = HashKey(*b"ctrack-replay-k1");
    let config = opts.config;
    if opts.growable {
        let initial = 1024;
        if opts.events {
            let make = || {
                let sized = match config.max_entries as usize {
                    0 => initial,
                    m => m,
                };
                let (exts, expects) = pools(sized);
                let storage = GrowableStorage::new(initial, exts, expects);
                ConnTable::with_storage(WithEvents::new(storage, EventLines::default()), key, config)
            };
            return replay_on(make, take_events, opts, frames);
        }
        return replay_on(|| ConnTable::growable(initial, key, config), no_events, opts, frames);
    }
    // The capacity is the kernel's default nf_conntrack_max on a large host.
    let capacity = match opts.config.max_entries {
        0 => 262_144,
        m => m as usize,
    };
    if opts.events {
        let make = || {
            let (exts, expects) = pools(capacity);
            let storage = HeapStorage::new(capacity, exts, expects);
            ConnTable::with_storage(WithEvents::new(storage, EventLines::default()), key, config)
        };
        return replay_on(make, take_events, opts, frames);
    }
    replay_on(|| ConnTable::with_capacity(capacity, key, config), no_events, opts, frames)
}

/// No events: the table has no sink.
fn no_events<S: Storage>(_: &mut ConnTable<S>) -> Vec<String> {
    Vec::new()
}

/// The events recorded since the last call.
fn take_events<S: Storage>(t: &mut ConnTable<WithEvents<S, EventLines>>) -> Vec<String> {
    std::mem::take(&mut t.events().0)
}

/// The extension and expectation pools `ConnTable::with_capacity` gives a
/// table of `capacity` entries.
fn pools(capacity: usize) -> (usize, usize) {
    ((capacity / 16).clamp(64, 0x7fff), (capacity / 64).clamp(16, 4096))
}

/// Reassembly queues of the replay: 64 of 64 KiB plus the largest header,
/// about Linux's 4 MB `ipfrag_high_thresh`.
const DEFRAG_QUEUES: usize = 64;
const DEFRAG_BUFFER: usize = 65535 + 60;

/// Register the helpers named in `names`, in that order.
fn add_helpers<'a, S: Storage>(table: &mut ConnTable<S>, names: impl Iterator<Item = &'a String>) {
    for name in names {
        let Some(builtin) = ctrack::helper::builtin(name) else { continue };
        table.add_builtin_helper(builtin).expect("few helpers");
    }
}

/// Snapshot `from` at `now` and restore it into `to` (whose helpers are
/// registered), a few records per call as a synchronisation link would.
fn hand_over<S: Storage>(from: &ConnTable<S>, to: &mut ConnTable<S>, now: Instant) {
    let mut cursor = ctrack::SnapshotCursor::new();
    let mut buf = [0u8; 2 * ctrack::SNAPSHOT_MAX_RECORD];
    while !cursor.is_done() {
        let n = from.snapshot(now, &mut cursor, &mut buf).expect("snapshot");
        to.restore(now, &buf[..n]).expect("restore");
    }
}

/// Whether the oracle's router, Linux 6.18's IPv4 input, drops `packet`
/// after conntrack's PREROUTING hook, so that its verdict is never
/// confirmed: options that `ip_options.c: ip_options_compile()` refuses or
/// that route by source (`ip_input.c: ip_rcv_options()`; the router does
/// not accept source routing), or a martian address
/// (`route.c: ip_route_input_slow()`, `ip_route_input_mc()`). This is the
/// router's part of what the oracle measures, not conntrack's: a router
/// built on ctrack makes these decisions itself. The rules are those the
/// oracle showed (`tests/data/crafted/ipv4-input/`): a loopback source, for
/// one, is forwarded there.
fn ipv4_input_drops(packet: &[u8]) -> bool {
    let Some(h) = packet.first_chunk::<20>() else { return false };
    if h[0] >> 4 != 4 {
        return false;
    }
    let src = [h[12], h[13], h[14], h[15]];
    let dst = [h[16], h[17], h[18], h[19]];
    let multicast = |a: [u8; 4]| a[0] >> 4 == 14;
    let limited_broadcast = |a: [u8; 4]| a == [255; 4];
    // (Only 0.0.0.0 is the zero network: `ipv4_is_zeronet()` since Linux
    // 5.3.)
    let zero = |a: [u8; 4]| a == [0; 4];
    if multicast(src) || limited_broadcast(src) {
        return true;
    }
    if multicast(dst) {
        // `ip_route_input_mc()`: no loopback source, and a zero one only to
        // a link-local group or by IGMP.
        let link_local = dst[..3] == [224, 0, 0];
        if src[0] == 127 || (zero(src) && !link_local && h[9] != 2) {
            return true;
        }
    } else if zero(src) {
        // A zero source only to the limited broadcast, or from 0.0.0.0 to
        // 0.0.0.0.
        if !(limited_broadcast(dst) || zero(dst)) {
            return true;
        }
    } else if zero(dst) {
        return true;
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    ihl > 20 && packet.get(20..ihl).is_some_and(options_refused)
}

/// Whether the oracle's router, Linux 6.18's IPv6 forwarding, drops
/// `packet` after conntrack's PREROUTING hook, so that its verdict is never
/// confirmed: a packet from the unspecified or the loopback address that
/// it would forward (`ip6_output.c: ip6_forward()` refuses such a source).
/// The rules are those the oracle showed (`tests/data/crafted/ipv6-input/`):
/// such a packet to the loopback address or to a group is delivered
/// locally (and confirmed there), and one from a link-local or a
/// v4-mapped address is forwarded. (What IPv6 input drops before
/// conntrack, the table refuses itself: `wire::ip::ipv6_input`.)
fn ipv6_forward_drops(packet: &[u8]) -> bool {
    let Some(h) = packet.first_chunk::<40>() else { return false };
    if h[0] >> 4 != 6 {
        return false;
    }
    let (src, dst) = (&h[8..24], &h[24..40]);
    let unspecified = |a: &[u8]| a.iter().all(|&b| b == 0);
    let loopback = |a: &[u8]| a[..15].iter().all(|&b| b == 0) && a[15] == 1;
    let delivered_locally = dst[0] == 0xff || loopback(dst);
    (unspecified(src) || loopback(src)) && !delivered_locally
}

/// Whether IPv4 input refuses the options `o` of a received packet
/// (`ip_options_compile()`), or they route by source.
fn options_refused(o: &[u8]) -> bool {
    const EOL: u8 = 0;
    const NOP: u8 = 1;
    const RR: u8 = 7;
    const TIMESTAMP: u8 = 68;
    const LSRR: u8 = 131;
    const SSRR: u8 = 137;
    const CIPSO: u8 = 134;
    const ROUTER_ALERT: u8 = 148;
    let (mut at, mut rr, mut ts) = (0, false, false);
    while let Some(&kind) = o.get(at) {
        match kind {
            EOL => return false,
            NOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let len = match o.get(at + 1) {
            Some(&l) if l >= 2 && usize::from(l) <= o.len() - at => l,
            _ => return true,
        };
        let ptr = o.get(at + 2).copied().unwrap_or(0);
        let flags = o.get(at + 3).copied().unwrap_or(0);
        let refused = match kind {
            RR => {
                let bad = rr || len < 3 || ptr < 4 || (ptr <= len && u16::from(ptr) + 3 > u16::from(len));
                rr = true;
                bad
            }
            TIMESTAMP => {
                let bad = ts
                    || len < 4
                    || ptr < 5
                    || if ptr <= len {
                        let room = match flags & 0x0f {
                            0 => 3,
                            1 | 3 => 7,
                            _ => 0,
                        };
                        u16::from(ptr) + 3 > u16::from(len) || u16::from(ptr) + room > u16::from(len)
                    } else {
                        flags & 0x0f != 3 && flags >> 4 == 15
                    };
                ts = true;
                bad
            }
            // Refused if malformed, dropped otherwise (source routing).
            LSRR | SSRR => true,
            // No CIPSO domain is configured: `cipso_v4_validate()` fails.
            CIPSO => true,
            ROUTER_ALERT => len < 4,
            _ => false,
        };
        if refused {
            return true;
        }
        at += usize::from(len);
    }
    false
}

/// [`replay`] on the tables `make` makes.
fn replay_on<S: Storage>(
    make: impl Fn() -> ConnTable<S>,
    take_events: impl Fn(&mut ConnTable<S>) -> Vec<String>,
    opts: &Options,
    frames: &[Frame],
) -> Vec<Value> {
    let mut lines = Vec::with_capacity(frames.len() + 1);
    let mut table = make();
    add_helpers(&mut table, opts.helpers.iter());
    // Fragments are reassembled before tracking, as nf_defrag_ipv4/ipv6 do.
    let mut defrag = Reassembler::with_storage(HeapDefragStorage::new(DEFRAG_QUEUES, DEFRAG_BUFFER));
    let mut now_micros: u64 = 1_000_000_000;
    let mut prev_ts: Option<u64> = None;
    for (k, f) in frames.iter().enumerate() {
        let gap = match (opts.honour_gaps, prev_ts) {
            (Some(max), Some(p)) => {
                let real = f.ts_nanos.saturating_sub(p) / 1000;
                real.min((max * 1e6) as u64).max(FRAME_SPACING_MICROS)
            }
            _ => FRAME_SPACING_MICROS,
        };
        prev_ts = Some(f.ts_nanos);
        now_micros += gap;
        let now = Instant::from_millis(now_micros / 1000);
        if opts.split_at == Some(k) {
            let mut next = make();
            add_helpers(&mut next, opts.helpers.iter().rev());
            hand_over(&table, &mut next, now);
            table = next;
        }
        let mut obj = Map::new();
        obj.insert("i".into(), json!(f.index));
        match &f.content {
            FrameContent::Skipped(why) => {
                obj.insert("state".into(), json!("skipped"));
                obj.insert("why".into(), json!(why));
            }
            FrameContent::Ip(frame) => {
                let r = defrag.push(now, frame);
                let Some(packet) = r.packet() else {
                    // Consumed by defragmentation: no verdict, as the oracle
                    // reports it.
                    obj.insert("state".into(), json!("none"));
                    obj.insert("stage".into(), json!("defrag"));
                    match r {
                        Reassembly::Dropped(d) => {
                            obj.insert("why".into(), json!("dropped by defragmentation"));
                            obj.insert("reason".into(), json!(d.to_string()));
                        }
                        _ => {
                            obj.insert("why".into(), json!("fragment held for reassembly"));
                        }
                    }
                    lines.push(Value::Object(obj));
                    continue;
                };
                let meta = Meta::default().with_notrack(opts.notrack.iter().any(|n| n.matches(packet)));
                // What the oracle's router drops after conntrack's hook is
                // classified and discarded, never confirmed.
                let dropped_by_router = ipv4_input_drops(packet) || ipv6_forward_drops(packet);
                let v = if dropped_by_router {
                    let v = table.classify(now, packet, meta);
                    table.discard(&v);
                    v
                } else {
                    table.track_with(now, packet, meta)
                };
                if dropped_by_router {
                    obj.insert("path".into(), json!("dropped_before_postrouting"));
                }
                match v {
                    Verdict::Dropped(d) => {
                        obj.insert("state".into(), json!("none"));
                        obj.insert("stage".into(), json!("conntrack"));
                        obj.insert("reason".into(), json!(d.to_string()));
                    }
                    _ => {
                        let state = v.state().map_or("none", |s| s.name());
                        obj.insert("state".into(), json!(state));
                        if let Some(d) = v.dir() {
                            obj.insert("dir".into(), json!(d.name()));
                        }
                        if let Some(r) = v.reason() {
                            obj.insert("reason".into(), json!(r.to_string()));
                        }
                        if let Some(d) = match v {
                            Verdict::Tracked(t) => t.helper_drop(),
                            _ => None,
                        } {
                            obj.insert("path".into(), json!("dropped_after_postrouting"));
                            obj.insert("reason".into(), json!(d.to_string()));
                        }
                        if let Some(e) = v.entry().and_then(|h| table.get(h, now)) {
                            obj.insert("in_table".into(), json!(true));
                            snapshot(&mut obj, &e);
                        } else if v.dir().is_some() {
                            obj.insert("in_table".into(), json!(false));
                        }
                    }
                }
            }
        }
        if opts.events {
            obj.insert("events".into(), json!(take_events(&mut table)));
        }
        lines.push(Value::Object(obj));
    }
    let now = Instant::from_millis(now_micros / 1000);
    // Each listing sorted: the order of `conntrack -L` is the order of a
    // hash table (Linux's, with its random seed; here the slots', which
    // depend on the storage), not part of what is compared.
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let listing = sorted(table.entries(now).map(|e| e.to_string()).collect());
    // `conntrack -L expect` lists the IPv4 expectations only (its default
    // family, as the oracle's listing shows); `-L expect -f ipv6` the rest.
    let (expect_v4, expect_v6): (Vec<_>, Vec<_>) =
        table.expectations(now).partition(|e| e.expectation().tuple().family() == Family::Ipv4);
    let expect_listing = sorted(expect_v4.iter().map(|e| e.to_string()).collect());
    let expect_listing_v6 = sorted(expect_v6.iter().map(|e| e.to_string()).collect());
    // `conntrack -L unconfirmed` / `-L dying` (see ConnTable::unconfirmed
    // and ConnTable::dying for what they hold here).
    let unconfirmed = sorted(table.unconfirmed(now).map(|e| e.to_string()).collect());
    let dying = sorted(table.dying(now).map(|e| e.to_string()).collect());
    let s = table.stats();
    let stats = json!({
        "entries": s.entries, "found": s.found, "invalid": s.invalid, "insert": s.insert,
        "insert_failed": s.insert_failed, "drop": s.drop, "early_drop": s.early_drop, "error": s.error,
        "search_restart": s.search_restart, "clash_resolve": s.clash_resolve, "chaintoolong": s.chaintoolong,
        "expect_new": s.expect_new, "expect_create": s.expect_create, "expect_delete": s.expect_delete,
    });
    let fin = json!({"final": true, "frames": frames.len(), "conntrack_L": listing, "conntrack_L_expect": expect_listing, "conntrack_L_expect_ipv6": expect_listing_v6, "conntrack_L_unconfirmed": unconfirmed, "conntrack_L_dying": dying, "stats": stats});
    lines.push(fin);
    lines
}
