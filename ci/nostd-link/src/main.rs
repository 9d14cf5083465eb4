//! A `no_std`, `no_main` binary with no allocator that tracks one packet in
//! a `FixedConnTable`: if ctrack (built without default features) needed
//! `std`, `alloc` or a global allocator, this would not link.
//!
//! The binary is only linked, never run: the entry point sets up nothing
//! (no stack pointer, no `.data`/`.bss` init), it just exercises the table so
//! that the tracking code is really in the image, then spins forever.

#![no_std]
#![no_main]

use core::cell::RefCell;
use core::hint::black_box;
use core::panic::PanicInfo;

use ctrack::{Config, ConnTable, CtState, Direction, FixedConnTable, HashKey, Instant, Meta};

/// An IPv4 UDP datagram 10.0.0.1:5353 -> 10.0.0.2:53, UDP checksum 0 (none).
const QUERY: [u8; 28] = [
    0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcb, 10, 0, 0, 1, 10, 0, 0, 2, //
    0x14, 0xe9, 0, 53, 0, 8, 0, 0,
];

/// Its answer 10.0.0.2:53 -> 10.0.0.1:5353.
const ANSWER: [u8; 28] = [
    0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcb, 10, 0, 0, 2, 10, 0, 0, 1, //
    0, 53, 0x14, 0xe9, 0, 8, 0, 0,
];

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A `static` table as firmware keeps one: built by `ConnTable::zeroed`,
/// every byte zero, so it must be in `.bss` (check.sh verifies the
/// section), not in `.data` (flash plus a copy at boot).
struct Shared(RefCell<FixedConnTable<256>>);
// SAFETY: this binary has one thread and no interrupts.
unsafe impl Sync for Shared {}
static STATIC_TABLE: Shared = Shared(RefCell::new(ConnTable::zeroed()));

/// The static table tracks the query: true if NEW.
fn exercise_static() -> bool {
    let mut table = STATIC_TABLE.0.borrow_mut();
    table.set_hash_key(HashKey(black_box([0x3c; 16])));
    table.track(black_box(Instant::from_secs(1)), &black_box(QUERY)).state() == Some(CtState::New)
}

/// Track a query and its answer; true if ctrack saw NEW then ESTABLISHED/reply.
fn exercise() -> bool {
    // Opaque inputs: the optimiser cannot evaluate the tracker at compile time.
    let mut table: FixedConnTable<16> =
        ConnTable::new(HashKey(black_box([0x5a; 16])), black_box(Config::default()));
    let now = black_box(Instant::from_secs(1));
    let query = black_box(QUERY);
    let answer = black_box(ANSWER);

    let mut first = table.classify(now, &query, Meta::default());
    let confirmed = table.confirm(&mut first, &query).is_ok();
    let second = table.track(now, &answer);
    table.gc(now, black_box(16));

    confirmed
        && first.state() == Some(CtState::New)
        && second.state() == Some(CtState::Established)
        && second.dir() == Some(Direction::Reply)
        && table.len() == 1
}

/// The entry point the linker is told about (`-e _start` / `ENTRY(_start)`).
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    if black_box(exercise()) && black_box(exercise_static()) {
        loop {
            black_box(1u8);
        }
    } else {
        loop {
            black_box(0u8);
        }
    }
}

#[cfg(target_os = "linux")]
mod mem;
