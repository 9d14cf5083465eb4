//! What `benches/floor.rs` and `examples/instructions.rs` share: the flows,
//! their packets in one fixed random order, ctrack tables set up over them,
//! and the *floor*, a minimal open-addressing table to compare ctrack with.
//!
//! Only ctrack's public API is used, so the tools keep measuring whatever
//! the table's internals become.

// Each user takes what it needs from this file.
#![allow(dead_code)]

use ctrack::{
    Config, ConnTable, CtState, HashKey, HeapStorage, Instant, Meta, Status, TcpState, Verdict, packet_tuple,
};
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv4Packet, Ipv6Address, TcpPacket, UdpPacket};

/// The hash key of every ctrack table here.
pub const CTRACK_KEY: HashKey = HashKey([0x42; 16]);

/// When the flows are opened, and when they are tracked (3 s later: past
/// UDP's 2 s stream grace, so the UDP flows are ASSURED and on their
/// stream timeout, as long-lived flows are).
pub const T_OPEN: Instant = Instant::from_secs(10);
pub const T_RUN: Instant = Instant::from_secs(13);

/// The server side of every flow.
pub const SERVER: u32 = 0x0a00_0002; // 10.0.0.2
pub const UDP_PORT: u16 = 53;
pub const TCP_PORT: u16 = 80;

/// xorshift64 (Marsaglia's 13/7/17): a fixed-seed generator, so that every
/// run and every tool sees the same order.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (multiply-shift, no division).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// A packet's IPv4 5-tuple, as the packet carries it (not canonical): what
/// the floor is given instead of the packet's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuple4 {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

impl Tuple4 {
    pub fn invert(self) -> Tuple4 {
        Tuple4 { src: self.dst, dst: self.src, sport: self.dport, dport: self.sport, ..self }
    }
}

/// The client side of flow `i` (at most 50,000 ports per address).
pub fn client(i: usize, base: u32) -> (u32, u16) {
    (base + (i / 50_000) as u32, 1024 + (i % 50_000) as u16)
}

/// Clients of the established flows live in 10.1.0.0/16 ...
pub const ESTABLISHED_BASE: u32 = 0x0a01_0000;
/// ... and those of the new flows in 10.2.0.0/16.
pub const FRESH_BASE: u32 = 0x0a02_0000;

/// The original-direction tuple of flow `i`.
pub fn flow(i: usize, base: u32, proto: u8) -> Tuple4 {
    let (src, sport) = client(i, base);
    let dport = if proto == 6 { TCP_PORT } else { UDP_PORT };
    Tuple4 { src, dst: SERVER, sport, dport, proto }
}

fn addr(a: u32) -> IpAddress {
    IpAddress::from(Ipv4Address::from(a))
}

fn ipv4_header(p: &mut [u8], t: Tuple4) {
    let len = p.len() as u16;
    p[..12].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, t.proto, 0, 0]);
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[12..16].copy_from_slice(&t.src.to_be_bytes());
    p[16..20].copy_from_slice(&t.dst.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
}

/// A 28-byte IPv4 UDP datagram (no payload) with valid IPv4 and UDP
/// checksums, so that `Config::checksum` has a checksum to verify.
pub fn udp_packet(t: Tuple4) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[20..22].copy_from_slice(&t.sport.to_be_bytes());
    p[22..24].copy_from_slice(&t.dport.to_be_bytes());
    p[24..26].copy_from_slice(&8u16.to_be_bytes());
    UdpPacket::new_unchecked(&mut p[20..]).fill_checksum(&addr(t.src), &addr(t.dst));
    ipv4_header(&mut p, t);
    p
}

/// A 1,500-byte IPv4 UDP datagram (a full Ethernet MTU: 1,472 bytes of
/// payload, not all zero) with valid IPv4 and UDP checksums: what the
/// checksum's bytes cost.
pub fn udp_mtu_packet(t: Tuple4) -> Vec<u8> {
    let mut p = vec![0u8; 1500];
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ (t.src as u8);
    }
    p[20..22].copy_from_slice(&t.sport.to_be_bytes());
    p[22..24].copy_from_slice(&t.dport.to_be_bytes());
    p[24..26].copy_from_slice(&1480u16.to_be_bytes());
    UdpPacket::new_unchecked(&mut p[20..]).fill_checksum(&addr(t.src), &addr(t.dst));
    ipv4_header(&mut p, t);
    p
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;

/// A 40-byte IPv4 TCP segment (no options, no payload, window 65535) with
/// valid checksums.
pub fn tcp_packet(t: Tuple4, seq: u32, ack: u32, flags: u8) -> [u8; 40] {
    tcp_packet_with(t, seq, ack, flags, &[]).try_into().expect("40 bytes")
}

/// The options of a Linux client's or server's SYN: MSS 1460, SACK
/// permitted, timestamps, a NOP, window scale 7 (20 bytes).
pub const SYN_OPTIONS: [u8; 20] = [2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
/// The options of every later segment of such a connection: two NOPs and
/// the timestamps (12 bytes).
pub const TS_OPTIONS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1];

/// [`tcp_packet`] with TCP options `opts` (a multiple of 4 bytes).
pub fn tcp_packet_with(t: Tuple4, seq: u32, ack: u32, flags: u8, opts: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40 + opts.len()];
    let l4 = &mut p[20..];
    l4[0..2].copy_from_slice(&t.sport.to_be_bytes());
    l4[2..4].copy_from_slice(&t.dport.to_be_bytes());
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    l4[8..12].copy_from_slice(&ack.to_be_bytes());
    l4[12] = ((5 + opts.len() / 4) as u8) << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&65535u16.to_be_bytes());
    l4[20..].copy_from_slice(opts);
    TcpPacket::new_unchecked(&mut p[20..]).fill_checksum(&addr(t.src), &addr(t.dst));
    ipv4_header(&mut p, t);
    p
}

/// The ACKs of `order` on [`tcp_ts_table`]'s connections (52 bytes: the
/// timestamps option).
pub fn tcp_ts_packets(order: &[(usize, bool)]) -> Vec<Vec<u8>> {
    tcp_acks(order, &TS_OPTIONS)
}

/// The ACKs of `order`, with options `opts` ([`acks`]).
fn tcp_acks(order: &[(usize, bool)], opts: &[u8]) -> Vec<Vec<u8>> {
    acks(order, |t, seq, ack| tcp_packet_with(t, seq, ack, ACK, opts))
}

/// The ACKs of `order` as `build(tuple, seq, ack)` makes them: each side
/// acknowledges the other's SYN, with no data, inside both windows.
fn acks<P>(order: &[(usize, bool)], build: impl Fn(Tuple4, u32, u32) -> P) -> Vec<P> {
    order
        .iter()
        .map(|&(f, reply)| {
            let t = flow(f, ESTABLISHED_BASE, 6);
            let (c, s) = isns(f);
            if reply {
                build(t.invert(), s.wrapping_add(1), c.wrapping_add(1))
            } else {
                build(t, c.wrapping_add(1), s.wrapping_add(1))
            }
        })
        .collect()
}

/// The initial sequence numbers of TCP flow `i`: client's, server's.
fn isns(i: usize) -> (u32, u32) {
    let x = (i as u32).wrapping_mul(0x9e37_79b9);
    (x, !x)
}

/// The order in which the established flows are tracked: every flow once
/// per pass, in a fixed-seed shuffle (Fisher–Yates), each packet in the
/// original or the reply direction at random. The same for every
/// benchmark, ctrack's and the floor's.
pub fn order(n: usize) -> Vec<(usize, bool)> {
    let mut rng = XorShift::new(0x5eed_1234_abcd_0001);
    let mut flows: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        flows.swap(i, rng.below(i + 1));
    }
    flows.into_iter().map(|f| (f, rng.next_u64() & 1 == 1)).collect()
}

/// The tuples of `order`'s packets.
pub fn tuples(order: &[(usize, bool)], proto: u8) -> Vec<Tuple4> {
    order
        .iter()
        .map(|&(f, reply)| {
            let t = flow(f, ESTABLISHED_BASE, proto);
            if reply { t.invert() } else { t }
        })
        .collect()
}

/// The UDP packets of `order`.
pub fn udp_packets(order: &[(usize, bool)]) -> Vec<[u8; 28]> {
    tuples(order, 17).into_iter().map(udp_packet).collect()
}

/// [`udp_mtu_packet`]s of `order`.
pub fn udp_mtu_packets(order: &[(usize, bool)]) -> Vec<Vec<u8>> {
    tuples(order, 17).into_iter().map(udp_mtu_packet).collect()
}

/// The TCP ACKs of `order` ([`tcp_acks`] without options).
pub fn tcp_packets(order: &[(usize, bool)]) -> Vec<[u8; 40]> {
    tcp_acks(order, &[]).into_iter().map(|p| p.try_into().expect("40 bytes")).collect()
}

/// The first packets of `n` new UDP flows (clients in `FRESH_BASE`, never
/// in the table).
pub fn fresh_udp(n: usize) -> Vec<[u8; 28]> {
    (0..n).map(|i| udp_packet(flow(i, FRESH_BASE, 17))).collect()
}

/// The tuples of `fresh_udp`'s packets.
pub fn fresh_tuples(n: usize) -> Vec<Tuple4> {
    (0..n).map(|i| flow(i, FRESH_BASE, 17)).collect()
}

/// A ctrack configuration for the tables here: the default, except that
/// replied, assured UDP flows time out after 2²⁴ s (so that the
/// established ones never expire while the clock runs on in
/// `new_udp_flow`).
pub fn config(checksum: bool) -> Config {
    let mut c = Config::default();
    c.checksum = checksum;
    c.timeouts.udp_stream = 1 << 24;
    // `CTRACK_BENCH_PLACEMENT=off`: new entries in the most recently freed
    // slot (benches/floor.rs).
    c.hashed_placement = std::env::var("CTRACK_BENCH_PLACEMENT").map_or(true, |v| v != "off");
    c
}

pub type Table = ConnTable<HeapStorage>;

fn lookup_status(t: &Table, packet: &[u8], now: Instant) -> Option<(Status, Option<TcpState>)> {
    let tuple = packet_tuple(packet).ok()?;
    t.lookup(&tuple, 0, now).map(|(e, _)| (e.status(), e.tcp_state()))
}

/// A heap table at load 0.5 over `n` flows, and which of them are
/// established in it.
pub struct Setup {
    pub table: Table,
    pub live: Vec<bool>,
}

impl Setup {
    /// How many flows are not established: at load 0.5 a rare insert meets
    /// a probe window full of live entries (`Stats::chaintoolong`) and
    /// is dropped or evicts an unassured flow (about 5 in 1,000,000 here).
    pub fn lost(&self) -> usize {
        self.live.iter().filter(|&&l| !l).count()
    }

    /// `order(live.len())` without the flows that are not `live`.
    pub fn order_of(live: &[bool]) -> Vec<(usize, bool)> {
        order(live.len()).into_iter().filter(|&(f, _)| live[f]).collect()
    }

    fn check(self, what: &str) -> Setup {
        let lost = self.lost();
        let s = self.table.stats();
        if lost > 0 {
            eprintln!(
                "{what}: {lost} of {} flows not established (chaintoolong {}, early_drop {}, drop {})",
                self.live.len(),
                s.chaintoolong,
                s.early_drop,
                s.drop
            );
        }
        assert!(lost * 1000 <= self.live.len(), "{what}: {lost} flows lost: {s:?}");
        assert_eq!(self.table.len(), self.live.len() - lost, "{what}: stray entries");
        self
    }
}

/// `n` UDP flows: a query and its answer at `T_OPEN`, a second query at
/// `T_RUN` (ASSURED, stream timeout). Then unreplied UDP flows are given a
/// timeout of 1 s, so that the new flows of `new_udp_flow` expire between
/// its rounds.
pub fn udp_table(n: usize, checksum: bool) -> Setup {
    let mut t = ConnTable::with_capacity(2 * n, CTRACK_KEY, config(checksum));
    let mut live = vec![true; n];
    for (i, l) in live.iter_mut().enumerate() {
        let f = flow(i, ESTABLISHED_BASE, 17);
        *l = t.track(T_OPEN, &udp_packet(f)).state() == Some(CtState::New);
        if *l {
            let _ = t.track(T_OPEN, &udp_packet(f.invert()));
        }
    }
    // The clock only goes forward: the second queries after all answers.
    for (i, l) in live.iter_mut().enumerate() {
        let q = udp_packet(flow(i, ESTABLISHED_BASE, 17));
        let mut v = t.classify(T_RUN, &q, Meta::default());
        if v.state() == Some(CtState::New) {
            // The flow was evicted by a later insert: leave it out.
            t.discard(&v);
        } else {
            let _ = t.confirm(&mut v, &q);
        }
        *l = *l && lookup_status(&t, &q, T_RUN).is_some_and(|(s, _)| s.contains(Status::ASSURED));
    }
    t.config_mut().timeouts.udp = 1;
    Setup { table: t, live }.check("UDP setup")
}

/// The public address of [`udp_nat_table`]'s source NAT.
pub const NAT_PUBLIC: u32 = 0xcb00_7101; // 203.0.113.1

/// [`udp_table`]'s flows (checksum on), each source-NATed at its first
/// packet to a public address of its client's own, [`NAT_PUBLIC`] for the
/// first 50,000 flows' client, the next address for the next client's
/// (their ports kept: one address holds at most 64,512 flows to the one
/// server port): the answers come to the public address. Every flow has
/// a binding, so the table has an extension slot per flow.
pub fn udp_nat_table(n: usize) -> Setup {
    let mut t = ConnTable::with_capacities(2 * n, n + 64, 64, CTRACK_KEY, config(true));
    let rule = |i: usize| {
        let (client, _) = client(i, ESTABLISHED_BASE);
        let public = NAT_PUBLIC + (client - ESTABLISHED_BASE);
        ctrack::nat::NatRule::snat(std::net::IpAddr::V4(std::net::Ipv4Addr::from(public)))
    };
    let mut live = vec![true; n];
    for (i, l) in live.iter_mut().enumerate() {
        let q = udp_packet(flow(i, ESTABLISHED_BASE, 17));
        let mut v = t.classify(T_OPEN, &q, Meta::default());
        *l = v.state() == Some(CtState::New) && t.nat(&v, &rule(i)).is_ok();
        if !*l {
            t.discard(&v);
            continue;
        }
        let _ = t.confirm(&mut v, &q);
        let Some(e) = v.entry().and_then(|h| t.get(h, T_OPEN)) else { continue };
        let r = e.reply();
        let v4 = |a: std::net::IpAddr| match a {
            std::net::IpAddr::V4(a) => u32::from(a),
            std::net::IpAddr::V6(_) => 0,
        };
        let answer = Tuple4 {
            src: v4(r.src()),
            dst: v4(r.dst()),
            sport: r.sport().unwrap_or(0),
            dport: r.dport().unwrap_or(0),
            proto: 17,
        };
        let _ = t.track(T_OPEN, &udp_packet(answer));
    }
    for (i, l) in live.iter_mut().enumerate() {
        let q = udp_packet(flow(i, ESTABLISHED_BASE, 17));
        let v = t.track(T_RUN, &q);
        *l = *l && v.state() == Some(CtState::Established);
    }
    Setup { table: t, live }.check("UDP NAT setup")
}

/// `n` TCP connections after a three-way handshake at `T_OPEN`
/// (ESTABLISHED and ASSURED; window tracking on, not picked up
/// mid-stream).
pub fn tcp_table(n: usize) -> Setup {
    tcp_table_with(n, &[], &[])
}

/// [`tcp_table`]'s connections, opened with SYN options `syn_opts` and a
/// last ACK with `ack_opts`.
fn tcp_table_with(n: usize, syn_opts: &[u8], ack_opts: &[u8]) -> Setup {
    let mut t = ConnTable::with_capacity(2 * n, CTRACK_KEY, config(true));
    let mut live = vec![true; n];
    for (i, l) in live.iter_mut().enumerate() {
        let f = flow(i, ESTABLISHED_BASE, 6);
        let (c, s) = isns(i);
        if t.track(T_OPEN, &tcp_packet_with(f, c, 0, SYN, syn_opts)).state() != Some(CtState::New) {
            *l = false;
            continue;
        }
        let _ = t.track(T_OPEN, &tcp_packet_with(f.invert(), s, c.wrapping_add(1), SYN | ACK, syn_opts));
        let _ = t.track(T_OPEN, &tcp_packet_with(f, c.wrapping_add(1), s.wrapping_add(1), ACK, ack_opts));
    }
    for (i, l) in live.iter_mut().enumerate() {
        let syn = tcp_packet(flow(i, ESTABLISHED_BASE, 6), 0, 0, SYN);
        *l = *l && lookup_status(&t, &syn, T_RUN).is_some_and(|(_, s)| s == Some(TcpState::Established));
    }
    Setup { table: t, live }.check("TCP setup")
}

/// [`tcp_table`]'s connections opened as Linux opens them: SYNs with
/// [`SYN_OPTIONS`] (so SACK permitted and window scaling on both sides),
/// the handshake's last ACK with [`TS_OPTIONS`].
pub fn tcp_ts_table(n: usize) -> Setup {
    tcp_table_with(n, &SYN_OPTIONS, &TS_OPTIONS)
}

/// Track every packet once at `now`, checking that each is ESTABLISHED
/// (outside any measurement: it also warms the table up).
pub fn check_established<P: AsRef<[u8]>>(t: &mut Table, now: Instant, packets: &[P]) {
    for p in packets {
        let v = t.track(now, p.as_ref());
        assert_eq!(v.state(), Some(CtState::Established), "{v:?}");
    }
}

/// One new flow through ctrack: classify and confirm, as for a packet the
/// firewall lets through.
#[inline]
pub fn ctrack_new(t: &mut Table, now: Instant, packet: &[u8]) -> Verdict {
    let mut v = t.classify(now, packet, Meta::default());
    let _ = t.confirm(&mut v, packet);
    v
}

// ---------------------------------------------------------------------------
// The floor.

/// A canonical key: the lower (address, port) endpoint first, so that both
/// directions of a flow find one slot (as ctrack stores one entry per
/// connection). Two words: addresses; ports and protocol. Protocol 0
/// marks an empty slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FloorKey {
    addrs: u64,
    ports: u64,
}

impl FloorKey {
    /// The canonical key of `t`, and whether `t` is already in canonical
    /// order (which tells the packet's direction, as ctrack's is_key does).
    #[inline(always)]
    pub fn of(t: &Tuple4) -> (FloorKey, bool) {
        let fwd = (t.src, t.sport) <= (t.dst, t.dport);
        let (a, ap, b, bp) =
            if fwd { (t.src, t.sport, t.dst, t.dport) } else { (t.dst, t.dport, t.src, t.sport) };
        let key = FloorKey {
            addrs: u64::from(a) << 32 | u64::from(b),
            ports: u64::from(ap) << 48 | u64::from(bp) << 32 | u64::from(t.proto),
        };
        (key, fwd)
    }

    fn is_empty(&self) -> bool {
        self.ports & 0xff == 0
    }
}

/// One slot: the key, a deadline refreshed by every packet (the least a
/// tracker must write), the rest of the cache line unused.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub struct FloorSlot {
    key: FloorKey,
    deadline: u64,
}

const _: () = assert!(core::mem::size_of::<FloorSlot>() == 64);

/// A minimal open-addressing table: 64-byte slots, a keyed folded-multiply
/// hash (two 64×64→128-bit multiplies), multiply-shift onto the table,
/// linear probing, no probe limit, no expiry, deletion by backward shift
/// (no tombstones). IPv4 only, one zone.
pub struct Floor {
    slots: Vec<FloorSlot>,
    k0: u64,
    k1: u64,
    len: usize,
}

#[inline(always)]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Floor {
    /// An empty floor of `capacity` slots.
    pub fn new(capacity: usize) -> Floor {
        assert!(capacity > 0);
        Floor {
            slots: vec![FloorSlot::default(); capacity],
            k0: 0x243f_6a88_85a3_08d3,
            k1: 0x1319_8a2e_0370_7344,
            len: 0,
        }
    }

    /// A floor of `2 * live.len()` slots holding the flows of `proto`
    /// that are `live` (those of a ctrack `Setup`).
    pub fn with_flows(live: &[bool], proto: u8) -> Floor {
        let mut f = Floor::new(2 * live.len());
        for (i, _) in live.iter().enumerate().filter(|(_, l)| **l) {
            assert!(f.insert(&flow(i, ESTABLISHED_BASE, proto), 0));
        }
        f
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn home(&self, k: &FloorKey) -> usize {
        // foldhash's 16-byte step, then one more fold to spread the
        // structured keys (consecutive ports) over the high bits.
        let h = folded_multiply(k.addrs ^ self.k0, k.ports ^ self.k1);
        let h = folded_multiply(h, 0x9e37_79b9_7f4a_7c15);
        ((u128::from(h) * self.slots.len() as u128) >> 64) as usize
    }

    #[inline(always)]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    /// Find the flow of `t` and refresh its deadline; whether `t` is in
    /// canonical order (its direction), or `None`.
    #[inline]
    pub fn lookup(&mut self, t: &Tuple4, deadline: u64) -> Option<bool> {
        let (k, fwd) = FloorKey::of(t);
        let mut i = self.home(&k);
        loop {
            let s = &mut self.slots[i];
            if s.key == k {
                s.deadline = deadline;
                return Some(fwd);
            }
            if s.key.is_empty() {
                return None;
            }
            i = self.next(i);
        }
    }

    /// Insert the flow of `t` unless present; whether it was inserted.
    /// The caller keeps the load below 1.
    #[inline]
    pub fn insert(&mut self, t: &Tuple4, deadline: u64) -> bool {
        let (k, _) = FloorKey::of(t);
        let mut i = self.home(&k);
        loop {
            let s = &mut self.slots[i];
            if s.key == k {
                return false;
            }
            if s.key.is_empty() {
                *s = FloorSlot { key: k, deadline };
                self.len += 1;
                return true;
            }
            i = self.next(i);
        }
    }

    /// Remove the flow of `t`: backward-shift deletion, so that no
    /// tombstone lengthens later probes.
    pub fn remove(&mut self, t: &Tuple4) -> bool {
        let (k, _) = FloorKey::of(t);
        let mut i = self.home(&k);
        loop {
            if self.slots[i].key == k {
                break;
            }
            if self.slots[i].key.is_empty() {
                return false;
            }
            i = self.next(i);
        }
        let len = self.slots.len();
        let mut hole = i;
        let mut j = self.next(i);
        while !self.slots[j].key.is_empty() {
            let home = self.home(&self.slots[j].key);
            // Distances from the home slot, cyclically: the entry at `j`
            // may move into the hole if its home is not between the hole
            // (exclusive) and `j`.
            let dist_j = (j + len - home) % len;
            let dist_hole = (hole + len - home) % len;
            if dist_hole <= dist_j {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = self.next(j);
        }
        self.slots[hole] = FloorSlot::default();
        self.len -= 1;
        true
    }

    /// The mean number of slots a lookup of each present key reads.
    pub fn mean_probe(&self) -> f64 {
        let len = self.slots.len();
        let mut total = 0usize;
        for (i, s) in self.slots.iter().enumerate() {
            if !s.key.is_empty() {
                total += (i + len - self.home(&s.key)) % len + 1;
            }
        }
        total as f64 / self.len.max(1) as f64
    }
}

/// The IPv6 addresses of flow `t` ([`Tuple4`]'s addresses in
/// 2001:db8::/96).
fn addr6(a: u32) -> [u8; 16] {
    let mut x = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    x[12..].copy_from_slice(&a.to_be_bytes());
    x
}

/// [`udp_packet`] over IPv6: a 48-byte datagram (no payload) with a valid
/// UDP checksum, its addresses [`Tuple4`]'s in 2001:db8::/96.
pub fn udp6_packet(t: Tuple4) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&8u16.to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&addr6(t.src));
    p[24..40].copy_from_slice(&addr6(t.dst));
    p[40..42].copy_from_slice(&t.sport.to_be_bytes());
    p[42..44].copy_from_slice(&t.dport.to_be_bytes());
    p[44..46].copy_from_slice(&8u16.to_be_bytes());
    let (src, dst) = (Ipv6Address::from(addr6(t.src)), Ipv6Address::from(addr6(t.dst)));
    UdpPacket::new_unchecked(&mut p[40..]).fill_checksum(&IpAddress::from(src), &IpAddress::from(dst));
    p
}

/// [`udp_table`] over IPv6 ([`udp6_packet`]).
pub fn udp6_table(n: usize) -> Setup {
    let mut t = ConnTable::with_capacity(2 * n, CTRACK_KEY, config(true));
    let mut live = vec![true; n];
    for (i, l) in live.iter_mut().enumerate() {
        let f = flow(i, ESTABLISHED_BASE, 17);
        *l = t.track(T_OPEN, &udp6_packet(f)).state() == Some(CtState::New);
        if *l {
            let _ = t.track(T_OPEN, &udp6_packet(f.invert()));
        }
    }
    for (i, l) in live.iter_mut().enumerate() {
        let q = udp6_packet(flow(i, ESTABLISHED_BASE, 17));
        let v = t.track(T_RUN, &q);
        *l = *l && v.state() == Some(CtState::Established);
    }
    Setup { table: t, live }.check("UDP over IPv6 setup")
}

/// [`udp_packets`] over IPv6.
pub fn udp6_packets(order: &[(usize, bool)]) -> Vec<[u8; 48]> {
    tuples(order, 17).into_iter().map(udp6_packet).collect()
}

/// [`tcp_packet`] over IPv6: a 60-byte segment, its addresses
/// [`Tuple4`]'s in 2001:db8::/96.
pub fn tcp6_packet(t: Tuple4, seq: u32, ack: u32, flags: u8) -> [u8; 60] {
    let mut p = [0u8; 60];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&20u16.to_be_bytes());
    p[6] = 6;
    p[7] = 64;
    p[8..24].copy_from_slice(&addr6(t.src));
    p[24..40].copy_from_slice(&addr6(t.dst));
    let l4 = &mut p[40..];
    l4[0..2].copy_from_slice(&t.sport.to_be_bytes());
    l4[2..4].copy_from_slice(&t.dport.to_be_bytes());
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    l4[8..12].copy_from_slice(&ack.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let (src, dst) = (Ipv6Address::from(addr6(t.src)), Ipv6Address::from(addr6(t.dst)));
    TcpPacket::new_unchecked(&mut p[40..]).fill_checksum(&IpAddress::from(src), &IpAddress::from(dst));
    p
}

/// [`tcp_table`] over IPv6 ([`tcp6_packet`]).
pub fn tcp6_table(n: usize) -> Setup {
    let mut t = ConnTable::with_capacity(2 * n, CTRACK_KEY, config(true));
    let mut live = vec![true; n];
    for (i, l) in live.iter_mut().enumerate() {
        let f = flow(i, ESTABLISHED_BASE, 6);
        let (c, s) = isns(i);
        if t.track(T_OPEN, &tcp6_packet(f, c, 0, SYN)).state() != Some(CtState::New) {
            *l = false;
            continue;
        }
        let _ = t.track(T_OPEN, &tcp6_packet(f.invert(), s, c.wrapping_add(1), SYN | ACK));
        let v = t.track(T_OPEN, &tcp6_packet(f, c.wrapping_add(1), s.wrapping_add(1), ACK));
        *l = v.state() == Some(CtState::Established);
    }
    Setup { table: t, live }.check("TCP over IPv6 setup")
}

/// [`tcp_packets`] over IPv6.
pub fn tcp6_packets(order: &[(usize, bool)]) -> Vec<[u8; 60]> {
    acks(order, |t, seq, ack| tcp6_packet(t, seq, ack, ACK))
}
