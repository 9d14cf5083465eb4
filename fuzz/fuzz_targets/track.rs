//! One packet against a small table.
//!
//! Input: `[flags] [packet...]`. Bit 0 of `flags` turns checksum
//! verification on, bit 1 sets `tcp.be_liberal`, bit 2 clears `tcp.loose`,
//! bits 3-4 pick the zone. The packet is tracked twice (the second time it
//! may find the entry the first one created), and `packet_tuple` and the
//! `conntrack -L` display of every entry are exercised too.
#![no_main]

use core::fmt::Write;

use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, Meta, packet_tuple};
use libfuzzer_sys::fuzz_target;

/// A `fmt::Write` that throws the text away.
struct Sink;

impl Write for Sink {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, packet)) = data.split_first() else {
        return;
    };
    let mut config = Config::default();
    config.checksum = flags & 1 != 0;
    config.tcp.be_liberal = flags & 2 != 0;
    config.tcp.loose = flags & 4 == 0;
    let meta = Meta::default().with_zone(u16::from((flags >> 3) & 3));

    let _ = packet_tuple(packet);

    let mut table: FixedConnTable<64> = ConnTable::new(HashKey([0x42; 16]), config);
    let now = Instant::from_secs(1000);
    let later = Instant::from_millis(1_000_500);
    let first = table.track_with(now, packet, meta);
    let second = table.track_with(later, packet, meta);
    assert!(table.len() <= table.capacity());
    assert!(table.len() <= 2);
    for v in [first, second] {
        let _ = (v.state(), v.dir(), v.reason());
        if let Some(h) = v.entry() {
            if let Some(e) = table.get(h, later) {
                let _ = write!(Sink, "{e} {e:?}");
            }
        }
    }
    for e in table.entries(later) {
        let _ = write!(Sink, "{e}");
    }
});
