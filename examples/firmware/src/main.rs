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
//! tool's, frame for frame.
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
use cortex_m_semihosting::{debug, hprintln};
use ctrack::wire::ethernet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, payload};
use ctrack::{ConnTable, FixedConnTable, HashKey, Instant, Verdict};
use panic_semihosting as _;

/// The capture (a LAN: DNS, mDNS, NetBIOS, HTTP, ARP, STP), compiled in.
static CAPTURE: &[u8] = include_bytes!("../../../tests/data/mixed/lan-wikipedia-browse-dns-mdns-nbns-arp-stp.pcap");

/// The connection table: 256 entries, all zero until used.
static TABLE: Mutex<RefCell<FixedConnTable<256>>> = Mutex::new(RefCell::new(ConnTable::zeroed()));

/// Microseconds between frames, and the clock's start: the host replay
/// tool's.
const FRAME_SPACING_MICROS: u64 = 300;
const START_MICROS: u64 = 1_000_000_000;

#[entry]
fn main() -> ! {
    let ok = interrupt::free(|cs| {
        let mut table = TABLE.borrow(cs).borrow_mut();
        table.set_hash_key(HashKey(*b"ctrack-replay-k1"));
        replay(&mut table)
    });
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

/// A little-endian pcap file's records: (index, captured bytes, whether
/// the capture cut the frame short).
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
fn replay(table: &mut FixedConnTable<256>) -> bool {
    let is_pcap = CAPTURE.get(..4) == Some(&[0xd4, 0xc3, 0xb2, 0xa1]) && CAPTURE.get(20..24) == Some(&[1, 0, 0, 0]);
    if !is_pcap {
        hprintln!("not a little-endian Ethernet pcap");
        return false;
    }
    let mut now_micros = START_MICROS;
    for (i, frame, truncated) in records(CAPTURE) {
        now_micros += FRAME_SPACING_MICROS;
        let packet = match payload(frame) {
            Some((ETHERTYPE_IPV4 | ETHERTYPE_IPV6, p)) if !truncated => p,
            _ => {
                hprintln!("{} skipped", i);
                continue;
            }
        };
        let v = table.track(Instant::from_millis(now_micros / 1000), packet);
        let state = match v {
            Verdict::Dropped(_) => "none",
            _ => v.state().map_or("none", |s| s.name()),
        };
        hprintln!("{} {} {}", i, state, v.dir().map_or("-", |d| d.name()));
    }
    let now = Instant::from_millis(now_micros / 1000);
    for e in table.entries(now) {
        hprintln!("{}", e);
    }
    hprintln!("end {} entries", table.len());
    true
}
