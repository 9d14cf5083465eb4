//! Per-packet cost and memory of the table, for comparison with Open
//! vSwitch's userspace conntrack (~430 ns per established packet at 100k
//! connections) and Linux (~304 bytes per entry).
//!
//! `cargo bench --bench track`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctrack::{Config, ConnTable, HashKey, Instant, Slot, Verdict};
use smoltcp::wire::Ipv4Packet;

/// An IPv4 UDP datagram (checksum 0) from 10.x.y.z:sport to 10.0.0.2:53.
fn udp(src: u32, sport: u16, reply: bool) -> Vec<u8> {
    let mut p = vec![0x45u8, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
    let (a, b) = (src.to_be_bytes(), [10, 0, 0, 2]);
    let (s, d) = if reply { (b, a) } else { (a, b) };
    p.extend_from_slice(&s);
    p.extend_from_slice(&d);
    let (sp, dp) = if reply { (53, sport) } else { (sport, 53) };
    p.extend_from_slice(&sp.to_be_bytes());
    p.extend_from_slice(&dp.to_be_bytes());
    p.extend_from_slice(&[0, 8, 0, 0]);
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    p
}

/// An IPv4 TCP ACK segment with a valid checksum.
fn tcp_ack(src: u32, sport: u16, seq: u32, ack: u32) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&80u16.to_be_bytes());
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    l4[8..12].copy_from_slice(&ack.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = 0x10;
    l4[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let mut p = vec![0x45u8, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0];
    p.extend_from_slice(&src.to_be_bytes());
    p.extend_from_slice(&[10, 0, 0, 2]);
    p.extend_from_slice(&l4);
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    let (s, d) = (
        smoltcp::wire::IpAddress::from(smoltcp::wire::Ipv4Address::from(src)),
        smoltcp::wire::IpAddress::v4(10, 0, 0, 2),
    );
    smoltcp::wire::TcpPacket::new_unchecked(&mut p[20..]).fill_checksum(&s, &d);
    p
}

fn flow(i: usize) -> (u32, u16) {
    (0x0a01_0000 + (i / 50_000) as u32, 1024 + (i % 50_000) as u16)
}

fn bench(c: &mut Criterion) {
    eprintln!("size_of::<Slot>() = {} bytes", std::mem::size_of::<Slot>());
    let mut g = c.benchmark_group("track");
    g.throughput(Throughput::Elements(1));
    for &conns in &[1_000usize, 100_000] {
        // Load 0.5, as a table sized for its peak would run.
        let cap = conns * 2;
        let now = Instant::from_secs(10);
        let mut t = ConnTable::with_capacity(cap, HashKey([0x42; 16]), Config::default());
        for i in 0..conns {
            let (s, p) = flow(i);
            let _ = t.track(now, &udp(s, p, false));
            let _ = t.track(now, &udp(s, p, true));
        }
        let udp_pkts: Vec<Vec<u8>> = (0..4096)
            .map(|k| {
                let (s, p) = flow((k * 7919) % conns);
                udp(s, p, k % 2 == 1)
            })
            .collect();
        g.bench_with_input(BenchmarkId::new("udp_established", conns), &udp_pkts, |b, pkts| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % pkts.len();
                let v = t.track(now, black_box(&pkts[k]));
                debug_assert!(matches!(v, Verdict::Tracked(_)));
                black_box(v)
            })
        });

        // TCP connections picked up mid-stream (loose): established, liberal.
        let mut tt = ConnTable::with_capacity(cap, HashKey([0x42; 16]), Config::default());
        for i in 0..conns {
            let (s, p) = flow(i);
            let _ = tt.track(now, &tcp_ack(s, p, 1000, 5000));
        }
        let tcp_pkts: Vec<Vec<u8>> = (0..4096)
            .map(|k| {
                let (s, p) = flow((k * 7919) % conns);
                tcp_ack(s, p, 1000, 5000)
            })
            .collect();
        g.bench_with_input(BenchmarkId::new("tcp_established", conns), &tcp_pkts, |b, pkts| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % pkts.len();
                black_box(tt.track(now, black_box(&pkts[k])))
            })
        });

        // New flows: classify a packet that creates an entry, then discard it.
        let fresh: Vec<Vec<u8>> = (0..4096).map(|k| udp(0x0b00_0000 + k as u32, 9, false)).collect();
        g.bench_with_input(BenchmarkId::new("udp_new_then_discard", conns), &fresh, |b, pkts| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % pkts.len();
                let v = t.classify(now, black_box(&pkts[k]), ctrack::Meta::default());
                t.discard(&v);
                black_box(v)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
