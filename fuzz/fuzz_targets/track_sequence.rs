//! A sequence of packets against a tiny table, with two-step tracking,
//! time steps and garbage collection, checking the table's invariants after
//! every step.
//!
//! Input layout:
//!
//! ```text
//! [cfg] [t0 t1 ... t6]  then records  [ctl] [dt] [len] [len bytes of packet]
//! ```
//!
//! * `cfg` bit 0: checksum verification; bit 1: `tcp.be_liberal`; bit 2:
//!   clear `tcp.loose`; bit 3: use the short timeouts `t0..t6` (1..=64 s)
//!   instead of the kernel defaults; bits 4-5: `max_entries` (0 = capacity,
//!   else 2, 5, 7); bit 6: `hashed_placement` off.
//! * `ctl` bits 0-1: what happens to the verdict of `classify`:
//!   0/1 `confirm`, 2 `discard`, 3 defer (kept pending and confirmed or
//!   discarded, by `ctl` bit 2, before the clock next moves, so two NEW
//!   packets of one flow can race to confirm as on two CPUs);
//!   bit 3: zone 1 instead of 0; bit 4: `notrack`; bits 5-7: `gc` budget.
//! * `dt`: the clock step before the packet: `< 0x80` is `dt * 50` ms,
//!   else `(dt - 0x80)^2` seconds (up to 4.4 hours).
//! * a truncated last record takes whatever bytes remain.
#![no_main]

use ctrack::{Config, ConnTable, Direction, FixedConnTable, HashKey, Instant, Meta, Verdict};
use libfuzzer_sys::fuzz_target;

const CAPACITY: usize = 8;
const MAX_PENDING: usize = 4;

/// The largest timeout any entry can be given under `c`.
fn max_timeout(c: &Config) -> u32 {
    let t = &c.timeouts;
    let tcp = &c.tcp.timeouts;
    [
        t.udp,
        t.udp_stream,
        t.icmp,
        t.icmpv6,
        t.generic,
        t.gre,
        t.gre_stream,
        tcp.syn_sent,
        tcp.syn_recv,
        tcp.established,
        tcp.fin_wait,
        tcp.close_wait,
        tcp.last_ack,
        tcp.time_wait,
        tcp.close,
        tcp.syn_sent2,
        tcp.max_retrans,
        tcp.unacknowledged,
        c.sctp.closed,
        c.sctp.cookie_wait,
        c.sctp.cookie_echoed,
        c.sctp.established,
        c.sctp.shutdown_sent,
        c.sctp.shutdown_recd,
        c.sctp.shutdown_ack_sent,
        c.sctp.heartbeat_sent,
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
}

fn config_from(cfg: u8, t: &[u8; 7]) -> Config {
    let mut c = Config::default();
    c.checksum = cfg & 1 != 0;
    c.tcp.be_liberal = cfg & 2 != 0;
    c.tcp.loose = cfg & 4 == 0;
    if cfg & 8 != 0 {
        let s = |b: u8| u32::from(b & 63) + 1;
        c.timeouts.udp = s(t[0]);
        c.timeouts.udp_stream = s(t[1]);
        c.timeouts.icmp = s(t[2]);
        c.timeouts.icmpv6 = s(t[2] >> 2);
        c.timeouts.generic = s(t[3]);
        c.timeouts.gre = s(t[4]);
        c.timeouts.gre_stream = s(t[4] >> 2);
        let tt = &mut c.tcp.timeouts;
        tt.syn_sent = s(t[5]);
        tt.syn_recv = s(t[5] >> 1);
        tt.established = s(t[6]);
        tt.fin_wait = s(t[6] >> 1);
        tt.close_wait = s(t[5] >> 2);
        tt.last_ack = s(t[6] >> 2);
        tt.time_wait = s(t[5] ^ t[6]);
        tt.close = s(t[0] ^ t[5]);
        tt.syn_sent2 = s(t[1] ^ t[5]);
        tt.max_retrans = s(t[2] ^ t[6]);
        tt.unacknowledged = s(t[3] ^ t[6]);
        let st = &mut c.sctp;
        st.closed = s(t[0] ^ t[1]);
        st.cookie_wait = s(t[1] ^ t[2]);
        st.cookie_echoed = s(t[2] ^ t[3]);
        st.established = s(t[3] ^ t[4]);
        st.shutdown_sent = s(t[4] ^ t[5]);
        st.shutdown_recd = s(t[5] ^ t[0]);
        st.shutdown_ack_sent = s(t[6] ^ t[1]);
        st.heartbeat_sent = s(t[6] ^ t[2]);
    }
    c.max_entries = match (cfg >> 4) & 3 {
        0 => 0,
        1 => 2,
        2 => 5,
        _ => 7,
    };
    c.hashed_placement = cfg & 64 == 0;
    c
}

fn check_invariants<S: ctrack::Storage>(table: &ConnTable<S>, now: Instant, max: u32) {
    ctrack::fuzzing::check_slots(table).unwrap();
    assert!(table.len() <= table.capacity(), "len {} > capacity {}", table.len(), table.capacity());
    let mut live = 0;
    for e in table.entries(now) {
        live += 1;
        assert!(e.timeout() <= max, "timeout {} > max {max}: {e}", e.timeout());
        let h = e.handle();
        let (found, dir) =
            table.lookup(&e.orig(), e.zone(), now).unwrap_or_else(|| panic!("orig tuple of {e} not found"));
        assert_eq!(found.handle(), h, "orig tuple of {e} finds {found}");
        // A flow from an endpoint to itself has equal tuples, and Linux
        // finds its reply tuple first: such a lookup says reply.
        let expected = if e.orig() == e.reply() { Direction::Reply } else { Direction::Original };
        assert_eq!(dir, expected, "orig tuple of {e}");
        if e.orig() != e.reply() {
            let (found, dir) = table
                .lookup(&e.reply(), e.zone(), now)
                .unwrap_or_else(|| panic!("reply tuple of {e} not found"));
            assert_eq!(found.handle(), h, "reply tuple of {e} finds {found}");
            assert_eq!(dir, Direction::Reply, "reply tuple of {e}");
        }
        let got = table.get(h, now).expect("entries() yields live entries");
        assert_eq!(got.orig(), e.orig());
    }
    assert!(live <= table.len(), "{live} live entries, len {}", table.len());
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let cfg = data[0];
    let t: [u8; 7] = data[1..8].try_into().unwrap();
    let mut rest = &data[8..];
    let config = config_from(cfg, &t);
    let max = max_timeout(&config);

    let mut table: FixedConnTable<CAPACITY> = ConnTable::new(HashKey([0x17; 16]), config);
    let mut now = Instant::from_secs(100);
    // Verdicts whose confirm/discard is deferred, with the decision.
    let mut pending: [Option<(Verdict, bool, Vec<u8>)>; MAX_PENDING] = core::array::from_fn(|_| None);

    let resolve = |table: &mut FixedConnTable<CAPACITY>,
                   pending: &mut [Option<(Verdict, bool, Vec<u8>)>; MAX_PENDING]| {
        for p in pending.iter_mut() {
            if let Some((mut v, confirm, packet)) = p.take() {
                if confirm {
                    let _ = table.confirm(&mut v, &packet);
                } else {
                    table.discard(&v);
                }
            }
        }
    };

    while rest.len() >= 3 {
        let (ctl, dt, len) = (rest[0], rest[1], usize::from(rest[2]));
        rest = &rest[3..];
        let (packet, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;

        let step_ms = if dt < 0x80 {
            u64::from(dt) * 50
        } else {
            let s = u64::from(dt - 0x80);
            s * s * 1000
        };
        if step_ms > 0 {
            // Pending verdicts must be settled before the clock moves: an
            // unconfirmed entry can expire and its slot be reused.
            resolve(&mut table, &mut pending);
            now = Instant::from_millis(now.millis() + step_ms);
        }

        let meta = Meta::default().with_zone(u16::from((ctl >> 3) & 1)).with_notrack(ctl & 0x10 != 0);
        let mut v = table.classify(now, packet, meta);
        if meta.notrack {
            assert!(matches!(v, Verdict::Untracked));
        }
        match ctl & 3 {
            0 | 1 => {
                let _ = table.confirm(&mut v, packet);
            }
            2 => table.discard(&v),
            _ => match pending.iter_mut().find(|p| p.is_none()) {
                Some(slot) => *slot = Some((v, ctl & 4 != 0, packet.to_vec())),
                None => {
                    let _ = table.confirm(&mut v, packet);
                }
            },
        }
        check_invariants(&table, now, max);

        let budget = usize::from(ctl >> 5) * 2;
        if budget > 0 {
            table.gc(now, budget);
            check_invariants(&table, now, max);
        }
    }
    resolve(&mut table, &mut pending);
    check_invariants(&table, now, max);
    // Everything expires eventually; a full sweep then empties the table.
    let end = Instant::from_millis(now.millis() + (u64::from(max) + 1) * 1000);
    table.gc(end, CAPACITY);
    assert_eq!(table.entries(end).count(), 0);
    assert_eq!(table.len(), 0, "table not empty after everything expired");
});
