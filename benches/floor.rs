//! ctrack against a floor: per-packet time of ctrack's table and of a
//! minimal open-addressing table (`common::Floor`: 64-byte slots, a cheap
//! keyed hash, linear probing) holding the same flows at the same load
//! (0.5), fed the same flows in the same fixed random order. ctrack gets
//! each packet's bytes (28-byte IPv4 UDP, 40-byte IPv4 TCP) and does
//! everything it does for a packet; the floor gets the packet's 5-tuple
//! and only finds (or inserts) the flow and refreshes a deadline.
//!
//! Benchmarks, at 10,000, 100,000 and 1,000,000 flows:
//!
//! * `established_udp/{ctrack,floor}/N`: a packet of an established,
//!   assured UDP flow (original or reply direction at random).
//! * `established_udp_batch/ctrack/N`: the same packets in bursts of 32
//!   through `track_batch` (the throughput counts packets).
//! * `established_tcp_ack/ctrack/N`: an ACK of an established TCP
//!   connection (after a three-way handshake; window tracking on);
//!   `established_tcp_batch/ctrack/N` the same in bursts of 32.
//! * `established_udp6/ctrack/N`: `established_udp`'s flows over IPv6
//!   (48-byte packets, the addresses in 2001:db8::/96); the floor holds
//!   IPv4 keys only, so its `established_udp` lookup is the comparison;
//!   `established_udp6_batch/ctrack/N` the same in bursts of 32.
//! * `new_udp_flow/ctrack/N`: the first packet of a new UDP flow,
//!   `classify` then `confirm`; `new_udp_flow/floor/N`: the floor's
//!   insert. The new entries are removed between rounds of N/64 packets,
//!   outside the timed part (ctrack's expire and `gc` reaps them; the
//!   floor deletes them), so the load stays at 0.5–0.508.
//! * `new_udp_flow_churn/ctrack/N` (N ≥ 1,000,000): the same in a table
//!   in service: before each round, N/64 connections picked at random end
//!   and a buffer larger than the caches is read (untimed); the round's
//!   new flows take slots and stay, so the table keeps N connections.
//!   `new_udp_flow_churn/ctrack_batch/N`: the same through `track_batch`
//!   in bursts of 32.
//!
//! * `floor_with_work/*/N`: the floor's lookup of the same flows, each
//!   followed by work that misses no cache: ctrack's `track` of one flow
//!   (`floor_then_cached_ctrack`; that alone is `cached_ctrack`) or the
//!   floor's lookup of one flow r = 1, 2, 4 times
//!   (`floor_then_{r}_cached_floor`). A lookup alone is a few dozen
//!   instructions, and the processor runs several of them at once, their
//!   misses overlapping; with hundreds of instructions after each, a miss
//!   is waited for alone. These show how much of the gap between ctrack
//!   and the floor is that.
//!
//! Every pass visits every flow once in a shuffled order, so at 1M flows
//! (216 MB of ctrack slots, 128 MB of floor slots) nearly every lookup
//! misses the caches. `CTRACK_BENCH_FLOWS=10000,100000` picks the sizes.
//!
//! `CTRACK_BENCH_HUGEPAGES=1` puts every allocation of 2 MiB or more (the
//! tables of ctrack and of the floor alike) on transparent huge pages
//! (Linux, `madvise(MADV_HUGEPAGE)`): at 1,000,000 flows the slots span
//! more 4 KiB pages than the TLB holds, and on the machine the README's
//! figures come from, a prefetch whose address misses the TLB does not
//! help, so ctrack's prefetches (the packet path's bucket, the batch's
//! buckets and entries) then hide less.
//!
//! `CTRACK_BENCH_PLACEMENT=off` builds ctrack's tables with
//! `Config::hashed_placement` off (a new entry takes the most recently
//! freed slot), to compare the two settings.
//!
//! `cargo bench --bench floor [-- FILTER]`

mod common;

#[cfg(target_os = "linux")]
mod huge {
    //! The global allocator of `CTRACK_BENCH_HUGEPAGES=1` (see the top).

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU8, Ordering};

    const HUGE: usize = 2 << 20;

    /// Whether the variable is set: 0 not read yet, 1 no, 2 yes. Read
    /// with `getenv`, which does not allocate.
    static ON: AtomicU8 = AtomicU8::new(0);

    fn on() -> bool {
        match ON.load(Ordering::Relaxed) {
            0 => {
                // SAFETY: a NUL-terminated name; the result is only
                // compared with null.
                let set = unsafe { !libc::getenv(c"CTRACK_BENCH_HUGEPAGES".as_ptr()).is_null() };
                ON.store(if set { 2 } else { 1 }, Ordering::Relaxed);
                set
            }
            v => v == 2,
        }
    }

    /// The layout a block of `layout` gets: 2 MiB-aligned when large and
    /// the mode is on (never less aligned than asked; the same answer at
    /// allocation and at release, as the variable is read once).
    fn placed(layout: Layout) -> Layout {
        if layout.size() >= HUGE && layout.align() <= HUGE && on() {
            Layout::from_size_align(layout.size(), HUGE).unwrap_or(layout)
        } else {
            layout
        }
    }

    pub struct HugePages;

    // SAFETY: every block is allocated and released by `System` with the
    // same layout (`placed` of the caller's, which is deterministic);
    // `madvise` only advises on memory the block owns.
    unsafe impl GlobalAlloc for HugePages {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let l = placed(layout);
            let p = unsafe { System.alloc(l) };
            if !p.is_null() && l.align() == HUGE {
                let len = l.size() / HUGE * HUGE;
                unsafe { libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE) };
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            unsafe { System.dealloc(p, placed(layout)) }
        }
    }
}

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: huge::HugePages = huge::HugePages;

use std::hint::black_box;
use std::time::Duration;

use common::{Floor, T_RUN, Table};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctrack::Instant;

fn sizes() -> Vec<usize> {
    match std::env::var("CTRACK_BENCH_FLOWS") {
        Ok(s) => s
            .split(',')
            .map(|n| n.trim().replace('_', "").parse().expect("CTRACK_BENCH_FLOWS: numbers"))
            .collect(),
        Err(_) => vec![10_000, 100_000, 1_000_000],
    }
}

/// `iters` packets in rounds of at most `round`: `round_of(m)` takes the
/// next `m` and returns the time of its timed part. The sum of those.
fn in_rounds(iters: u64, round: u64, mut round_of: impl FnMut(usize) -> Duration) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let m = left.min(round);
        timed += round_of(m as usize);
        left -= m;
    }
    timed
}

/// The floor's deadline for a refreshed flow (any value: it is only stored).
const FLOOR_DEADLINE: u64 = 1 << 40;

fn bench(c: &mut Criterion) {
    for n in sizes() {
        let setup = std::time::Instant::now();
        let common::Setup { mut table, live } = common::udp_table(n, true);
        let order = common::Setup::order_of(&live);
        let udp = common::udp_packets(&order);
        let udp_keys = common::tuples(&order, 17);
        common::check_established(&mut table, T_RUN, &udp);
        let mut floor = Floor::with_flows(&live, 17);
        assert!(udp_keys.iter().all(|k| floor.lookup(k, FLOOR_DEADLINE).is_some()));
        let fresh = common::fresh_udp(n);
        let fresh_keys = common::fresh_tuples(n);
        eprintln!(
            "{n} flows: UDP set up in {:.1} s; floor: {:.3} slots read per lookup",
            setup.elapsed().as_secs_f64(),
            floor.mean_probe()
        );

        let mut g = c.benchmark_group("established_udp");
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("ctrack", n), |b| {
            let mut k = 0;
            b.iter(|| {
                let v = table.track(T_RUN, black_box(&udp[k]));
                k = if k + 1 == udp.len() { 0 } else { k + 1 };
                v
            })
        });
        g.bench_function(BenchmarkId::new("floor", n), |b| {
            let mut k = 0;
            b.iter(|| {
                let v = floor.lookup(black_box(&udp_keys[k]), FLOOR_DEADLINE);
                k = if k + 1 == udp_keys.len() { 0 } else { k + 1 };
                v
            })
        });
        g.finish();

        // The same packets in bursts of 32 through `track_batch`.
        bench_bursts(c, "established_udp_batch", n, &mut table, &udp);

        bench_floor_with_work(c, n, &mut table, &mut floor, &udp, &udp_keys);

        // New flows, in rounds: a round's entries live until the round
        // ends, then are removed untimed.
        let round = (n / 64).max(1) as u64;
        let mut g = c.benchmark_group("new_udp_flow");
        g.throughput(Throughput::Elements(1));
        let cap = table.capacity();
        // A round untimed, checked: each packet opens a flow (but for the
        // rare one whose probe window is full of assured flows).
        let opened = fresh[..round as usize]
            .iter()
            .filter(|p| common::ctrack_new(&mut table, T_RUN, &p[..]).state() == Some(ctrack::CtState::New))
            .count();
        if opened < round as usize {
            eprintln!("new_udp_flow: {} of {round} new flows not opened", round as usize - opened);
        }
        assert!(opened * 100 >= round as usize * 99, "{opened} of {round} new flows opened");
        let mut now = Instant::from_millis(T_RUN.millis() + 2000);
        table.gc(now, cap);
        assert_eq!(table.len(), udp.len());
        let mut next = 0;
        g.bench_function(BenchmarkId::new("ctrack", n), |b| {
            b.iter_custom(|iters| {
                in_rounds(iters, round, |m| {
                    let start = std::time::Instant::now();
                    for _ in 0..m {
                        let _ = black_box(common::ctrack_new(&mut table, now, black_box(&fresh[next])));
                        next = if next + 1 == fresh.len() { 0 } else { next + 1 };
                    }
                    let timed = start.elapsed();
                    // Past the 1 s timeout of unreplied UDP flows: reap them.
                    now = Instant::from_millis(now.millis() + 2000);
                    table.gc(now, cap);
                    assert_eq!(table.len(), udp.len(), "the new flows were reaped");
                    timed
                })
            })
        });
        let mut next = 0;
        g.bench_function(BenchmarkId::new("floor", n), |b| {
            b.iter_custom(|iters| {
                in_rounds(iters, round, |m| {
                    let first = next;
                    let start = std::time::Instant::now();
                    for _ in 0..m {
                        black_box(floor.insert(black_box(&fresh_keys[next]), FLOOR_DEADLINE));
                        next = if next + 1 == fresh_keys.len() { 0 } else { next + 1 };
                    }
                    let timed = start.elapsed();
                    for j in 0..m {
                        floor.remove(&fresh_keys[(first + j) % fresh_keys.len()]);
                    }
                    assert_eq!(floor.len(), udp_keys.len());
                    timed
                })
            })
        });
        g.finish();

        // At 1,000,000 flows and more only: each round also reads a 64 MB
        // buffer, which would take most of the time of a smaller run.
        if n >= 1_000_000 {
            // New flows in a table in service: before each round (untimed),
            // N/64 connections picked at random among those in the table end
            // (`delete`) and a buffer larger than the caches is read (time
            // passes between a connection's end and its slot's next use);
            // then the round's N/64 new flows (timed) take slots, and stay.
            let mut g = c.benchmark_group("new_udp_flow_churn");
            g.throughput(Throughput::Elements(1));
            let now = Instant::from_millis(now.millis() + 2000);
            let mut churn = Churn {
                in_table: (0..n)
                    .filter(|&i| live[i])
                    .map(|i| common::flow(i, common::ESTABLISHED_BASE, 17))
                    .collect(),
                next_fresh: n,
                rng: 0x9e37_79b9_7f4a_7c15,
                evict: vec![1u8; 64 << 20],
            };
            g.bench_function(BenchmarkId::new("ctrack", n), |b| {
                b.iter_custom(|iters| {
                    in_rounds(iters, round, |m| {
                        churn.round(&mut table, now, m, |table, packets| {
                            let start = std::time::Instant::now();
                            for p in packets {
                                let _ = black_box(common::ctrack_new(table, now, black_box(p)));
                            }
                            start.elapsed()
                        })
                    })
                })
            });
            // The same through `track_batch`, in bursts of 32.
            g.bench_function(BenchmarkId::new("ctrack_batch", n), |b| {
                b.iter_custom(|iters| {
                    in_rounds(iters, round, |m| {
                        churn.round(&mut table, now, m, |table, packets| {
                            let bursts: Vec<Vec<&[u8]>> =
                                packets.chunks(32).map(|c| c.iter().map(|p| &p[..]).collect()).collect();
                            let start = std::time::Instant::now();
                            for burst in &bursts {
                                table.track_batch(now, black_box(burst), |_, v| {
                                    let _ = black_box(v);
                                });
                            }
                            start.elapsed()
                        })
                    })
                })
            });
            g.finish();
            assert_eq!(table.len(), churn.in_table.len(), "every new flow of the churn opened");
        }

        // Only one size's tables at a time.
        drop((table, floor, udp, udp_keys, fresh, fresh_keys));

        let setup = std::time::Instant::now();
        let common::Setup { mut table, live } = common::tcp_table(n);
        let tcp = common::tcp_packets(&common::Setup::order_of(&live));
        common::check_established(&mut table, T_RUN, &tcp);
        eprintln!("{n} flows: TCP set up in {:.1} s", setup.elapsed().as_secs_f64());
        let mut g = c.benchmark_group("established_tcp_ack");
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("ctrack", n), |b| {
            let mut k = 0;
            b.iter(|| {
                let v = table.track(T_RUN, black_box(&tcp[k]));
                k = if k + 1 == tcp.len() { 0 } else { k + 1 };
                v
            })
        });
        g.finish();

        // The same segments in bursts of 32 through `track_batch`.
        bench_bursts(c, "established_tcp_batch", n, &mut table, &tcp);
        drop((table, tcp));

        // The UDP flows over IPv6 (no floor of its own: compare with the
        // IPv4 floor's lookup of the same flows).
        let setup = std::time::Instant::now();
        let common::Setup { mut table, live } = common::udp6_table(n);
        let udp6 = common::udp6_packets(&common::Setup::order_of(&live));
        common::check_established(&mut table, T_RUN, &udp6);
        eprintln!("{n} flows: UDP over IPv6 set up in {:.1} s", setup.elapsed().as_secs_f64());
        let mut g = c.benchmark_group("established_udp6");
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("ctrack", n), |b| {
            let mut k = 0;
            b.iter(|| {
                let v = table.track(T_RUN, black_box(&udp6[k]));
                k = if k + 1 == udp6.len() { 0 } else { k + 1 };
                v
            })
        });
        g.finish();
        // The same packets in bursts of 32 through `track_batch`.
        bench_bursts(c, "established_udp6_batch", n, &mut table, &udp6);
        drop((table, udp6));

        // Translation on top of tracking: the original direction of
        // established UDP flows with source NAT, tracked only and tracked
        // and translated; and flows without NAT, tracked and translated
        // (what `translate` costs a connection without NAT).
        let setup = std::time::Instant::now();
        let common::Setup { table: mut nat_table, live } = common::udp_nat_table(n);
        let originals = |live: &[bool]| -> Vec<[u8; 28]> {
            let order: Vec<_> = common::Setup::order_of(live).into_iter().map(|(f, _)| (f, false)).collect();
            common::udp_packets(&order)
        };
        let natted = originals(&live);
        common::check_established(&mut nat_table, T_RUN, &natted);
        let common::Setup { table: mut plain_table, live: plain_live } = common::udp_table(n, true);
        let plain = originals(&plain_live);
        eprintln!("{n} flows: UDP with NAT set up in {:.1} s", setup.elapsed().as_secs_f64());
        let mut g = c.benchmark_group("udp_translate");
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("snat_track_only", n), |b| {
            track_copies(b, &mut nat_table, &natted, false)
        });
        g.bench_function(BenchmarkId::new("snat_track_translate", n), |b| {
            track_copies(b, &mut nat_table, &natted, true)
        });
        g.bench_function(BenchmarkId::new("no_nat_track_translate", n), |b| {
            track_copies(b, &mut plain_table, &plain, true)
        });
        g.finish();
    }
}

/// Time `track` of a copy of each of `packets` in turn, and its
/// `translate` if `translate`.
/// The group `name`: `packets` in bursts of 32 through `track_batch`,
/// burst after burst (per packet: the throughput counts the burst's
/// packets).
/// The state of `new_udp_flow_churn`: the flows in the table, the next
/// new flow's number, the random choice of the connections that end, and
/// the buffer read to push their slots out of the caches.
struct Churn {
    in_table: Vec<common::Tuple4>,
    next_fresh: usize,
    rng: u64,
    evict: Vec<u8>,
}

impl Churn {
    /// One round: `m` connections picked at random end and the buffer is
    /// read (untimed); then `send` gives the table `m` new flows' first
    /// packets, and they stay. Returns the time `send` measured (its
    /// sending, not its preparation).
    fn round(
        &mut self,
        table: &mut Table,
        now: Instant,
        m: usize,
        send: impl FnOnce(&mut Table, &[[u8; 28]]) -> std::time::Duration,
    ) -> std::time::Duration {
        for _ in 0..m {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let ended = self.in_table.swap_remove((self.rng % self.in_table.len() as u64) as usize);
            let tuple = ctrack::packet_tuple(&common::udp_packet(ended)).unwrap();
            let (e, _) = table.lookup(&tuple, 0, now).expect("a connection in the table");
            assert!(table.delete(e.handle()));
        }
        black_box(self.evict.iter().step_by(64).fold(0u8, |a, &x| a ^ x));
        let new: Vec<common::Tuple4> =
            (self.next_fresh..self.next_fresh + m).map(|i| common::flow(i, common::FRESH_BASE, 17)).collect();
        let packets: Vec<[u8; 28]> = new.iter().map(|&t| common::udp_packet(t)).collect();
        let timed = send(table, &packets);
        self.in_table.extend(new);
        self.next_fresh += m;
        timed
    }
}

fn bench_bursts<P: AsRef<[u8]>>(c: &mut Criterion, name: &str, n: usize, table: &mut Table, packets: &[P]) {
    let bursts: Vec<Vec<&[u8]>> =
        packets.chunks(32).map(|c| c.iter().map(|p| p.as_ref()).collect()).collect();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(32));
    g.bench_function(BenchmarkId::new("ctrack", n), |b| {
        let mut k = 0;
        b.iter(|| {
            let mut passed = 0u32;
            table.track_batch(T_RUN, black_box(&bursts[k]), |_, v| passed += u32::from(!v.must_drop()));
            k = if k + 1 == bursts.len() { 0 } else { k + 1 };
            passed
        })
    });
    g.finish();
}

/// The floor's lookup followed by work that misses no cache: what the
/// floor costs when each lookup comes with as many instructions as a
/// packet path executes (see `floor_with_work` at the top).
fn bench_floor_with_work(
    c: &mut Criterion,
    n: usize,
    table: &mut Table,
    floor: &mut Floor,
    udp: &[[u8; 28]],
    keys: &[common::Tuple4],
) {
    let mut g = c.benchmark_group("floor_with_work");
    g.throughput(Throughput::Elements(1));
    // ctrack's packet path, on one flow, again and again: its
    // instructions without its misses.
    g.bench_function(BenchmarkId::new("cached_ctrack", n), |b| {
        b.iter(|| table.track(T_RUN, black_box(&udp[0])))
    });
    g.bench_function(BenchmarkId::new("floor_then_cached_ctrack", n), |b| {
        let mut k = 0;
        b.iter(|| {
            let v = floor.lookup(black_box(&keys[k]), FLOOR_DEADLINE);
            let w = table.track(T_RUN, black_box(&udp[0]));
            k = if k + 1 == keys.len() { 0 } else { k + 1 };
            (v, w)
        })
    });
    // The floor's own lookup of one flow, r times more.
    for r in [1usize, 2, 4] {
        g.bench_function(BenchmarkId::new(format!("floor_then_{r}_cached_floor"), n), |b| {
            let mut k = 0;
            b.iter(|| {
                let v = floor.lookup(black_box(&keys[k]), FLOOR_DEADLINE);
                for _ in 0..r {
                    black_box(floor.lookup(black_box(&keys[0]), FLOOR_DEADLINE));
                }
                k = if k + 1 == keys.len() { 0 } else { k + 1 };
                v
            })
        });
    }
    g.finish();
}

fn track_copies(b: &mut criterion::Bencher<'_>, t: &mut Table, packets: &[[u8; 28]], translate: bool) {
    let mut k = 0;
    b.iter(|| {
        let mut p = packets[k];
        let v = t.track(T_RUN, black_box(&p));
        let r = translate.then(|| t.translate(&v, black_box(&mut p)));
        k = if k + 1 == packets.len() { 0 } else { k + 1 };
        (v, r, p)
    })
}

criterion_group!(benches, bench);
criterion_main!(benches);
