//! Hostile snapshots: `ConnTable::restore` on arbitrary bytes.
//!
//! Input: `[split] bytes…`. The bytes are restored into a
//! `FixedConnTable<16>` with every built-in helper registered, in two calls
//! cut at `split` (so that records may be cut too). Then: no panic;
//! `len() <= capacity()`; every listed entry is found by `lookup` of its
//! original tuple (same handle) and displays; every expectation displays;
//! the table snapshots again, and that snapshot restores without an error
//! into a second table that lists the same entries.
#![no_main]

use core::fmt::Write;

use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, SnapshotCursor};
use libfuzzer_sys::fuzz_target;

/// A `fmt::Write` that throws the text away.
struct Sink;

impl Write for Sink {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}

fn table() -> FixedConnTable<16, 8, 8> {
    let mut t = ConnTable::new(HashKey([0x42; 16]), Config::default());
    for b in ctrack::helper::BUILTINS {
        t.add_builtin_helper(b).unwrap();
    }
    t
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let now = Instant::from_secs(1000);
    let mut a = table();
    let (head, tail) = bytes.split_at(usize::from(split).min(bytes.len()));
    let _ = a.restore(now, head);
    let _ = a.restore(now, tail);
    assert!(a.len() <= a.capacity());
    for e in a.entries(now) {
        let _ = write!(Sink, "{e}");
        let (found, _) = a.lookup(&e.orig(), e.zone(), now).expect("a listed entry is found");
        assert_eq!(found.handle(), e.handle());
    }
    for x in a.expectations(now) {
        let _ = write!(Sink, "{x}");
    }
    let mut b = table();
    let (mut cursor, mut buf) = (SnapshotCursor::new(), [0u8; 1024]);
    while !cursor.is_done() {
        let n = a.snapshot(now, &mut cursor, &mut buf).expect("a buffer of 1024 bytes holds any record");
        b.restore(now, &buf[..n]).expect("a snapshot restores");
    }
    let mut la: Vec<String> = a.entries(now).map(|e| e.to_string()).collect();
    let mut lb: Vec<String> = b.entries(now).map(|e| e.to_string()).collect();
    la.sort();
    lb.sort();
    assert_eq!(la, lb);
});
