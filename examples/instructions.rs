//! The program `ci/instructions.sh` runs under callgrind: set up N flows,
//! then track K packets of them (in `benches/floor.rs`'s fixed random
//! order). Instructions per packet are (I(K2) − I(K1)) / (K2 − K1) over two
//! runs; only the `measure_*` functions are counted (`--toggle-collect`).
//! The script also takes the cache lines missed in callgrind's simulated
//! caches, the same way.
//!
//! `instructions WORKLOAD N K`, WORKLOAD one of:
//!
//! * `udp`, `udp-nocsum`: ctrack, a 28-byte UDP packet of an established
//!   flow, `Config::checksum` on / off;
//! * `udp-mtu`: the same flows' 1,500-byte datagrams (1,472 bytes of
//!   payload), checksum on: what verifying the checksum of a full-size
//!   packet costs;
//! * `udp-batch`: the same packets (checksum on) in bursts of 32 through
//!   `track_batch`;
//! * `udp6`: ctrack, a 48-byte UDP packet over IPv6 of an established
//!   flow (the same flows, their addresses in 2001:db8::/96);
//!   `udp6-batch`: those packets in bursts of 32 through `track_batch`;
//! * `tcp`: ctrack, a 40-byte ACK of an established TCP connection;
//!   `tcp-ts`: a 52-byte one (the timestamps option) of a connection
//!   opened with Linux's SYN options (SACK permitted, window scaling);
//!   `tcp6`: a 60-byte one over IPv6;
//! * `new-udp`: ctrack, `classify` + `confirm` of a new UDP flow, from a
//!   pool of N (the flows are reaped between rounds of N/64, outside
//!   `measure_*`, as in the benchmark); `new-udp6`: the same over IPv6;
//! * `udp-orig`, `udp-nat`: ctrack, `track` of the original direction of
//!   established UDP flows without NAT and with source NAT (the packet
//!   copied into a buffer first), the baselines of:
//! * `udp-nat-reply`: ctrack, `track` of the answers of `udp-nat`'s
//!   flows, to the public address (the packet copied into a buffer
//!   first);
//! * `udp-translate`: ctrack, `track` and `translate` of the 28-byte UDP
//!   packet of an established flow with source NAT, in the original
//!   direction (the packet copied into a buffer first);
//!   `udp-translate-none`: the same on flows without NAT (what `translate`
//!   costs a connection without NAT);
//! * `floor-udp`, `floor-tcp`: the floor's lookup of the same packets'
//!   5-tuples; `floor-insert`: its insert of the new flows.

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::process::exit;

use common::{Floor, Setup, T_RUN, Table, Tuple4};
use ctrack::Instant;

#[inline(never)]
fn measure_track<P: AsRef<[u8]>>(t: &mut Table, packets: &[P], k: usize) {
    for j in 0..k {
        let _ = black_box(t.track(T_RUN, black_box(packets[j % packets.len()].as_ref())));
    }
}

#[inline(never)]
fn measure_batch(t: &mut Table, bursts: &[Vec<&[u8]>], k: usize) {
    let mut left = k;
    for burst in bursts.iter().cycle() {
        if left == 0 {
            break;
        }
        let burst = &burst[..burst.len().min(left)];
        t.track_batch(T_RUN, black_box(burst), |_, v| {
            let _ = black_box(v);
        });
        left -= burst.len();
    }
}

#[inline(never)]
fn measure_track_copy(t: &mut Table, packets: &[[u8; 28]], k: usize) {
    for j in 0..k {
        let p = black_box(packets[j % packets.len()]);
        let _ = black_box(t.track(T_RUN, &p));
        black_box(&p);
    }
}

#[inline(never)]
fn measure_track_translate(t: &mut Table, packets: &[[u8; 28]], k: usize) {
    for j in 0..k {
        let mut p = black_box(packets[j % packets.len()]);
        let v = t.track(T_RUN, &p);
        let _ = black_box(t.translate(&v, &mut p));
        black_box(&p);
    }
}

#[inline(never)]
fn measure_new<const L: usize>(t: &mut Table, now: Instant, packets: &[[u8; L]]) {
    for p in packets {
        let _ = black_box(common::ctrack_new(t, now, black_box(p)));
    }
}

/// `new-udp`'s rounds: `k` new flows from the pool `fresh`, used in turn,
/// the clock 2 s on and the expired ones reaped (outside `measure_new`)
/// after each round of `round`.
fn new_flows<const L: usize>(workload: &str, mut t: Table, fresh: &[[u8; L]], k: usize, round: usize) {
    let n = fresh.len();
    let mut now = T_RUN;
    let (mut left, mut next) = (k, 0);
    while left > 0 {
        let m = left.min(round).min(n - next);
        measure_new(&mut t, now, &fresh[next..next + m]);
        next = (next + m) % n;
        left -= m;
        now = Instant::from_millis(now.millis() + 2000);
        let cap = t.capacity();
        t.gc(now, cap);
    }
    let s = t.stats();
    if s.drop + s.early_drop > 0 {
        eprintln!("{workload}: {} new flows dropped, {} evicted", s.drop, s.early_drop);
    }
}

#[inline(never)]
fn measure_lookup(f: &mut Floor, keys: &[Tuple4], k: usize) {
    for j in 0..k {
        black_box(f.lookup(black_box(&keys[j % keys.len()]), 1 << 40));
    }
}

#[inline(never)]
fn measure_insert(f: &mut Floor, keys: &[Tuple4]) {
    for key in keys {
        black_box(f.insert(black_box(key), 1 << 40));
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: instructions udp|udp-nocsum|udp-mtu|udp-batch|udp6|udp6-batch|tcp|tcp-ts|tcp6|new-udp|new-udp6|udp-orig|udp-nat|udp-nat-reply|udp-translate|udp-translate-none|floor-udp|floor-tcp|floor-insert N K"
    );
    exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, n, k] = &args[..] else { usage() };
    let (Ok(n), Ok(k)) = (n.parse::<usize>(), k.parse::<usize>()) else { usage() };
    assert!(n > 0);
    let round = (n / 64).max(1);
    match workload.as_str() {
        "udp" | "udp-nocsum" => {
            let Setup { table: mut t, live } = common::udp_table(n, workload == "udp");
            measure_track(&mut t, &common::udp_packets(&Setup::order_of(&live)), k);
            check(&t, &live);
        }
        "udp-mtu" => {
            let Setup { table: mut t, live } = common::udp_table(n, true);
            measure_track(&mut t, &common::udp_mtu_packets(&Setup::order_of(&live)), k);
            check(&t, &live);
        }
        "udp6" => {
            let Setup { table: mut t, live } = common::udp6_table(n);
            measure_track(&mut t, &common::udp6_packets(&Setup::order_of(&live)), k);
            check(&t, &live);
        }
        "tcp6" => {
            let Setup { table: mut t, live } = common::tcp6_table(n);
            measure_track(&mut t, &common::tcp6_packets(&Setup::order_of(&live)), k);
            check(&t, &live);
        }
        "udp6-batch" => {
            let Setup { table: mut t, live } = common::udp6_table(n);
            let packets = common::udp6_packets(&Setup::order_of(&live));
            let bursts: Vec<Vec<&[u8]>> =
                packets.chunks(32).map(|c| c.iter().map(|p| &p[..]).collect()).collect();
            measure_batch(&mut t, &bursts, k);
            check(&t, &live);
        }
        "udp-batch" => {
            let Setup { table: mut t, live } = common::udp_table(n, true);
            let packets = common::udp_packets(&Setup::order_of(&live));
            // Bursts of 32, as in the benchmark.
            let bursts: Vec<Vec<&[u8]>> =
                packets.chunks(32).map(|c| c.iter().map(|p| &p[..]).collect()).collect();
            measure_batch(&mut t, &bursts, k);
            check(&t, &live);
        }
        "udp-nat-reply" => {
            let Setup { table: mut t, live } = common::udp_nat_table(n);
            // The answers, to the public address: each flow's reply tuple.
            let answers: Vec<[u8; 28]> = Setup::order_of(&live)
                .into_iter()
                .filter_map(|(f, _)| {
                    let q = common::flow(f, common::ESTABLISHED_BASE, 17);
                    let (e, _) = t.lookup(&ctrack::packet_tuple(&common::udp_packet(q)).ok()?, 0, T_RUN)?;
                    let r = e.reply();
                    let v4 = |a| match a {
                        std::net::IpAddr::V4(a) => u32::from(a),
                        std::net::IpAddr::V6(_) => 0,
                    };
                    let (sport, dport) = (r.sport()?, r.dport()?);
                    Some(common::udp_packet(Tuple4 {
                        src: v4(r.src()),
                        dst: v4(r.dst()),
                        sport,
                        dport,
                        proto: 17,
                    }))
                })
                .collect();
            measure_track_copy(&mut t, &answers, k);
            check(&t, &live);
        }
        "udp-orig" | "udp-nat" | "udp-translate" | "udp-translate-none" => {
            let nat = matches!(workload.as_str(), "udp-nat" | "udp-translate");
            let Setup { table: mut t, live } =
                if nat { common::udp_nat_table(n) } else { common::udp_table(n, true) };
            // The original direction only (its answers go to the public
            // address), for all four.
            let order: Vec<_> = Setup::order_of(&live).into_iter().map(|(f, _)| (f, false)).collect();
            let packets = common::udp_packets(&order);
            if workload.ends_with("translate") || workload.ends_with("none") {
                measure_track_translate(&mut t, &packets, k);
            } else {
                measure_track_copy(&mut t, &packets, k);
            }
            check(&t, &live);
        }
        "tcp" => {
            let Setup { table: mut t, live } = common::tcp_table(n);
            measure_track(&mut t, &common::tcp_packets(&Setup::order_of(&live)), k);
            check(&t, &live);
        }
        "tcp-ts" => {
            let Setup { table: mut t, live } = common::tcp_ts_table(n);
            measure_track(&mut t, &common::tcp_ts_packets(&Setup::order_of(&live)), k);
            check(&t, &live);
        }
        "new-udp" => {
            // As in the benchmark: a pool of N new flows, used in turn.
            new_flows(workload, common::udp_table(n, true).table, &common::fresh_udp(n), k, round);
        }
        "new-udp6" => {
            let mut t = common::udp6_table(n).table;
            // As `udp_table` does: unreplied flows expire between rounds.
            t.config_mut().timeouts.udp = 1;
            let fresh: Vec<_> =
                (0..n).map(|i| common::udp6_packet(common::flow(i, common::FRESH_BASE, 17))).collect();
            new_flows(workload, t, &fresh, k, round);
        }
        "floor-udp" | "floor-tcp" => {
            // The flows ctrack has: the floor is given the same ones.
            let (live, proto) = if workload == "floor-tcp" {
                (common::tcp_table(n).live, 6)
            } else {
                (common::udp_table(n, true).live, 17)
            };
            let mut f = Floor::with_flows(&live, proto);
            let keys = common::tuples(&Setup::order_of(&live), proto);
            measure_lookup(&mut f, &keys, k);
            assert!(keys.iter().all(|key| f.lookup(key, 0).is_some()));
        }
        "floor-insert" => {
            let live = common::udp_table(n, true).live;
            let mut f = Floor::with_flows(&live, 17);
            let before = f.len();
            let fresh = common::fresh_tuples(n);
            let (mut left, mut next) = (k, 0);
            while left > 0 {
                let m = left.min(round).min(n - next);
                let keys = &fresh[next..next + m];
                measure_insert(&mut f, keys);
                assert_eq!(f.len(), before + m);
                for key in keys {
                    f.remove(key);
                }
                next = (next + m) % n;
                left -= m;
            }
            assert_eq!(f.len(), before);
        }
        _ => usage(),
    }
}

/// Nothing was INVALID or dropped, and no flow was lost.
fn check(t: &Table, live: &[bool]) {
    let s = t.stats();
    assert_eq!(s.invalid, 0, "{s:?}");
    assert_eq!(t.len(), live.iter().filter(|&&l| l).count());
}
