//! `track_batch` against `track` one packet after the other: arbitrary
//! bytes cut into packets, in bursts, through two tables with the same key
//! and configuration. The batch reads each packet's key from its header
//! bytes before any check and trusts it once the checks pass; whatever
//! the bytes, both tables must give the same verdicts and end the same.
//!
//! Input layout:
//!
//! ```text
//! [cfg]  then bursts  [n] [dt]  then n records  [len] [len bytes of packet]
//! ```
//!
//! * `cfg` bit 0: checksum verification; bits 1-2: `max_entries` (0 =
//!   capacity, else 3, 6, 12), so that bursts also evict; bit 3: give
//!   every IPv4 header its right checksum (so that the fuzzer reaches the
//!   lookups without finding it); bit 4: `hashed_placement` off; bit 5:
//!   every packet in zone 1 (`track_batch_with` against `track_with`).
//! * `n`: the burst's packets (up to 80: several chunks of `BATCH`).
//! * `dt`: seconds before the burst (`dt * dt / 16`, up to about an hour).
//! * a truncated last record takes whatever bytes remain.
#![no_main]

use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, Meta};
use libfuzzer_sys::fuzz_target;

const CAPACITY: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else { return };
    let mut config = Config::default();
    config.checksum = cfg & 1 != 0;
    config.max_entries = [0, 3, 6, 12][usize::from((cfg >> 1) & 3)];
    config.hashed_placement = cfg & 16 == 0;
    let key = HashKey([0x5a; 16]);
    let mut one: FixedConnTable<CAPACITY> = ConnTable::new(key, config);
    let mut batch: FixedConnTable<CAPACITY> = ConnTable::new(key, config);
    let mut now = Instant::from_secs(1000);

    while let [n, dt, tail @ ..] = rest {
        rest = tail;
        now = Instant::from_millis(now.millis() + u64::from(*dt) * u64::from(*dt) * 1000 / 16);
        let mut owned: Vec<Vec<u8>> = Vec::new();
        for _ in 0..usize::from(*n % 81) {
            let Some((&len, tail)) = rest.split_first() else { break };
            let (packet, tail) = tail.split_at(usize::from(len).min(tail.len()));
            let mut packet = packet.to_vec();
            if cfg & 8 != 0 {
                fix_ipv4_checksum(&mut packet);
            }
            owned.push(packet);
            rest = tail;
        }
        let packets: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut got = Vec::new();
        let expected: Vec<_> = if cfg & 32 != 0 {
            let meta = Meta::default().with_zone(1);
            batch.track_batch_with(now, &packets, meta, |i, v| got.push((i, v)));
            packets.iter().map(|p| one.track_with(now, p, meta)).collect()
        } else {
            batch.track_batch(now, &packets, |i, v| got.push((i, v)));
            packets.iter().map(|p| one.track(now, p)).collect()
        };
        assert_eq!(got.len(), expected.len());
        for (k, ((i, v), e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(*i, k, "batch index");
            assert_eq!(
                (v.state(), v.dir(), v.reason(), v.must_drop()),
                (e.state(), e.dir(), e.reason(), e.must_drop()),
                "packet {k} of the burst: {:02x?}",
                packets[k]
            );
        }
        let lines = |t: &FixedConnTable<CAPACITY>| t.entries(now).map(|e| e.to_string()).collect::<Vec<_>>();
        assert_eq!(lines(&one), lines(&batch));
        assert_eq!(one.stats(), batch.stats());
        ctrack::fuzzing::check_slots(&batch).unwrap();
    }
});

/// Set the header checksum of an IPv4 packet (RFC 791 § 3.1) to the right
/// value.
fn fix_ipv4_checksum(p: &mut [u8]) {
    let Some(&first) = p.first() else { return };
    let hlen = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || hlen < 20 || p.len() < hlen {
        return;
    }
    p[10] = 0;
    p[11] = 0;
    let mut sum: u32 = p[..hlen].chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}
