//! ctrack on a Cortex-M3: a `static` connection table in `.bss`, with no
//! `unsafe` in this code, replays a capture compiled into the flash and
//! prints each frame's verdict and the final table over semihosting.
//!
//! Run it in QEMU (`qemu-system-arm -machine lm3s6965evb`, the runner in
//! `.cargo/config.toml`):
//!
//! ```sh
//! cd examples/firmware && cargo run --release
//! ```
//!
//! `ci/firmware.sh` runs it and requires its lines to equal the host replay
//! tool's, frame for frame. Without the default feature `capture`, it
//! instead tracks an established UDP flow's and TCP connection's packets
//! between calls of `marker`, for `ci/footprint.sh` to count the Cortex-M3
//! instructions per packet in QEMU; the `helper-*` features register the
//! built-in helpers, for its flash figures.
//!
//! The pattern for firmware:
//! * the table is a `static` built by `ConnTable::zeroed()`, every byte zero,
//!   so it costs no flash and no copy at boot (`.bss`); a
//!   `cortex_m::interrupt::Mutex<RefCell<..>>` makes it shareable without
//!   `unsafe`;
//! * its hash key comes from the hardware RNG at boot (`set_hash_key`);
//!   this replay uses the host replay tool's fixed key, though any key gives
//!   the same verdicts;
//! * the clock is the caller's: here the capture's frames 300 µs apart, as
//!   the host replay spaces them; on a device, a SysTick or embassy-time
//!   millisecond counter (`Instant::from_millis`).

#![no_std]
#![no_main]

use core::cell::RefCell;

use cortex_m::interrupt::{self, Mutex};
use cortex_m_rt::entry;
#[cfg(not(feature = "defmt"))]
use cortex_m_semihosting::hprintln;
use cortex_m_semihosting::debug;
#[cfg(feature = "capture")]
use ctrack::Verdict;
#[cfg(feature = "capture")]
use ctrack::wire::ethernet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, payload};
use ctrack::{ConnTable, FixedConnTable, HashKey, Instant};
#[cfg(feature = "defmt")]
use defmt_semihosting as _;
use panic_semihosting as _;

/// A line of output: formatted on the device and written over semihosting,
/// or (feature `defmt`) formatted into a buffer and sent as a defmt string.
#[cfg(not(feature = "defmt"))]
macro_rules! out {
    ($($arg:tt)*) => { hprintln!($($arg)*) };
}
#[cfg(feature = "defmt")]
macro_rules! out {
    ($($arg:tt)*) => {{
        let mut line = heapless::String::<512>::new();
        let _ = core::fmt::write(&mut line, format_args!($($arg)*));
        defmt::println!("{=str}", line.as_str());
    }};
}

/// The capture (a LAN: DNS, mDNS, NetBIOS, HTTP, ARP, STP), compiled in.
#[cfg(feature = "capture")]
static CAPTURE: &[u8] = include_bytes!("../../../tests/data/mixed/lan-wikipedia-browse-dns-mdns-nbns-arp-stp.pcap");

/// The connection table: 256 entries, all zero until used.
static TABLE: Mutex<RefCell<FixedConnTable<256>>> = Mutex::new(RefCell::new(ConnTable::zeroed()));

/// Microseconds between frames, and the clock's start: the host replay
/// tool's.
#[cfg(feature = "capture")]
const FRAME_SPACING_MICROS: u64 = 300;
#[cfg(feature = "capture")]
const START_MICROS: u64 = 1_000_000_000;

#[entry]
fn main() -> ! {
    let ok = interrupt::free(|cs| {
        let mut table = TABLE.borrow(cs).borrow_mut();
        table.set_hash_key(HashKey(*b"ctrack-replay-k1"));
        for b in ctrack::helper::BUILTINS {
            if table.add_builtin_helper(b).is_err() {
                return false;
            }
        }
        #[cfg(feature = "capture")]
        return replay(&mut table);
        #[cfg(not(feature = "capture"))]
        return measure(&mut table);
    });
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

/// A little-endian pcap file's records: (index, captured bytes, whether
/// the capture cut the frame short).
#[cfg(feature = "capture")]
fn records(file: &[u8]) -> impl Iterator<Item = (usize, &[u8], bool)> {
    let u32_at = |b: &[u8], at: usize| b.get(at..at + 4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    let mut at = 24;
    let mut index = 0;
    core::iter::from_fn(move || {
        let incl = u32_at(file, at + 8)? as usize;
        let orig = u32_at(file, at + 12)? as usize;
        let data = file.get(at + 16..at + 16 + incl)?;
        at += 16 + incl;
        index += 1;
        Some((index - 1, data, incl < orig))
    })
}

/// Track every frame; print `index state direction` per frame and the
/// final table. False if the capture is not a little-endian Ethernet pcap.
#[cfg(feature = "capture")]
fn replay(table: &mut FixedConnTable<256>) -> bool {
    let is_pcap = CAPTURE.get(..4) == Some(&[0xd4, 0xc3, 0xb2, 0xa1]) && CAPTURE.get(20..24) == Some(&[1, 0, 0, 0]);
    if !is_pcap {
        out!("not a little-endian Ethernet pcap");
        return false;
    }
    let mut now_micros = START_MICROS;
    for (i, frame, truncated) in records(CAPTURE) {
        now_micros += FRAME_SPACING_MICROS;
        let packet = match payload(frame) {
            Some((ETHERTYPE_IPV4 | ETHERTYPE_IPV6, p)) if !truncated => p,
            _ => {
                out!("{} skipped", i);
                continue;
            }
        };
        let v = table.track(Instant::from_millis(now_micros / 1000), packet);
        let state = match v {
            Verdict::Dropped(_) => "none",
            _ => v.state().map_or("none", |s| s.name()),
        };
        out!("{} {} {}", i, state, v.dir().map_or("-", |d| d.name()));
    }
    let now = Instant::from_millis(now_micros / 1000);
    for e in table.entries(now) {
        out!("{}", e);
    }
    out!("end {} entries", table.len());
    true
}

/// Packets tracked between the two markers, per workload.
#[cfg(not(feature = "capture"))]
const ROUNDS: u32 = 64;

/// Called before (`k` = 1, 3) and after (2, 4) each measured loop; QEMU's
/// execution log finds it by address.
#[cfg(not(feature = "capture"))]
#[inline(never)]
fn marker(k: u32) {
    core::hint::black_box(k);
}

/// The one's-complement sum of `data`, folded (RFC 1071).
#[cfg(not(feature = "capture"))]
fn sum(data: &[u8], mut acc: u32) -> u16 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// An IPv4 packet from `src` to `dst` with layer-4 bytes `l4` (whose
/// checksum field is at `csum_at`), checksums filled in.
#[cfg(not(feature = "capture"))]
fn ipv4<const N: usize>(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8], csum_at: usize) -> [u8; N] {
    let mut p = [0u8; N];
    let total = (20 + l4.len()) as u16;
    p[..20].copy_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let h = !sum(&p[..20], 0);
    p[10..12].copy_from_slice(&h.to_be_bytes());
    p[20..20 + l4.len()].copy_from_slice(l4);
    let pseudo = sum(&src, 0) as u32 + sum(&dst, 0) as u32 + u32::from(proto) + l4.len() as u32;
    let c = !sum(&p[20..20 + l4.len()], pseudo);
    p[20 + csum_at..22 + csum_at].copy_from_slice(&c.to_be_bytes());
    p
}

/// An established UDP flow (query, answer, a query 3 s later: ASSURED) and
/// a TCP connection (three-way handshake), then `ROUNDS` packets of each
/// between markers.
#[cfg(not(feature = "capture"))]
fn measure(table: &mut FixedConnTable<256>) -> bool {
    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];
    let udp = |src, sport: u16, dst, dport: u16| {
        let mut l4 = [0u8; 8];
        l4[..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        l4[4..6].copy_from_slice(&8u16.to_be_bytes());
        ipv4::<28>(src, dst, 17, &l4, 6)
    };
    let tcp = |src, sport: u16, dst, dport: u16, seq: u32, ack: u32, flags: u8| {
        let mut l4 = [0u8; 20];
        l4[..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        l4[4..8].copy_from_slice(&seq.to_be_bytes());
        l4[8..12].copy_from_slice(&ack.to_be_bytes());
        l4[12] = 0x50;
        l4[13] = flags;
        l4[14..16].copy_from_slice(&64240u16.to_be_bytes());
        ipv4::<40>(src, dst, 6, &l4, 16)
    };
    let t0 = Instant::from_secs(1);
    let t1 = Instant::from_secs(5);
    let query = udp(A, 40000, B, 53);
    let mut ok = table.track(t0, &query).state().is_some();
    ok &= table.track(t0, &udp(B, 53, A, 40000)).state().is_some();
    ok &= table.track(t1, &query).state().is_some();
    let (syn, ack) = (0x02, 0x10);
    ok &= table.track(t0, &tcp(A, 40001, B, 80, 1000, 0, syn)).state().is_some();
    ok &= table.track(t0, &tcp(B, 80, A, 40001, 5000, 1001, syn | ack)).state().is_some();
    let tcp_ack = tcp(A, 40001, B, 80, 1001, 5001, ack);
    ok &= table.track(t0, &tcp_ack).state().is_some();

    marker(1);
    for _ in 0..ROUNDS {
        ok &= core::hint::black_box(table.track(t1, core::hint::black_box(&query))).state().is_some();
    }
    marker(2);
    marker(3);
    for _ in 0..ROUNDS {
        ok &= core::hint::black_box(table.track(t1, core::hint::black_box(&tcp_ack))).state().is_some();
    }
    marker(4);
    out!("measured {} rounds: {}", ROUNDS, if ok { "ok" } else { "FAILED" });
    ok
}
