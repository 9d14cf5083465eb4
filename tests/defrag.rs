//! Fragment reassembly before tracking: the behaviour of
//! `ctrack::Reassembler` as Linux 6.18 reassembles (`ip_defrag()`,
//! `nf_ct_frag6_gather()`), and the verdict of a datagram going to the
//! fragment that completes it.

use ctrack::{
    Config, ConnTable, CtState, Direction, FixedConnTable, FixedReassembler, FragDrop, FragQueue, HashKey,
    Instant, Reason, Reassembler, Reassembly, SliceDefragStorage, Verdict,
};
use smoltcp::wire::{IpProtocol, Ipv4Packet};

const A: [u8; 4] = [10, 0, 0, 1];

/// `v`, the verdict of an IPv6 datagram that opens a connection, is NEW;
/// with feature `ipv4-only`, INVALID for its family.
fn assert_new_ipv6(v: &Verdict) {
    if cfg!(feature = "ipv4-only") {
        assert_eq!(*v, Verdict::Invalid(Reason::FamilyNotTracked));
    } else {
        assert_eq!(v.state(), Some(CtState::New));
    }
}
const B: [u8; 4] = [10, 0, 0, 2];

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for w in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A UDP datagram's layer-4 bytes (checksum over the IPv4 pseudo-header).
fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut ph = Vec::new();
    ph.extend_from_slice(&src);
    ph.extend_from_slice(&dst);
    ph.extend_from_slice(&[0, 17]);
    ph.extend_from_slice(&len.to_be_bytes());
    ph.extend_from_slice(&u);
    let c = csum(&ph);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// An IPv4 packet: `data` at fragment offset `off` (bytes), MF as `more`.
#[allow(clippy::too_many_arguments)]
fn ip4(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    off: usize,
    more: bool,
    tos: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut v = vec![0u8; 20];
    v.extend_from_slice(data);
    let total = v.len() as u16;
    let mut p = Ipv4Packet::new_unchecked(&mut v[..]);
    p.set_version(4);
    p.set_header_len(20);
    p.set_total_len(total);
    p.set_ident(id);
    p.set_hop_limit(64);
    p.set_next_header(IpProtocol::from(proto));
    p.set_src_addr(src.into());
    p.set_dst_addr(dst.into());
    p.set_frag_offset((off as u16) & !7);
    p.set_more_frags(more);
    p.set_dscp(tos >> 2);
    p.set_ecn(tos & 3);
    p.fill_checksum();
    v
}

/// `l4` split in pieces of `size` bytes, as IPv4 fragments.
fn split4(l4: &[u8], id: u16, size: usize) -> Vec<Vec<u8>> {
    (0..l4.len())
        .step_by(size)
        .map(|o| {
            let end = (o + size).min(l4.len());
            ip4(A, B, 17, id, o, end < l4.len(), 0, &l4[o..end])
        })
        .collect()
}

const A6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn udp6(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut ph = Vec::new();
    ph.extend_from_slice(&A6);
    ph.extend_from_slice(&B6);
    ph.extend_from_slice(&u32::from(len).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 17]);
    ph.extend_from_slice(&u);
    let c = csum(&ph);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

fn ip6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    v.extend_from_slice(&[next, 64]);
    v.extend_from_slice(&A6);
    v.extend_from_slice(&B6);
    v.extend_from_slice(payload);
    v
}

fn frag6(nh: u8, id: u32, off: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let mut f = vec![nh, 0];
    f.extend_from_slice(&((off as u16 & !7) | u16::from(more)).to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(data);
    ip6(44, &f)
}

fn table() -> FixedConnTable<64> {
    ConnTable::new(HashKey([3; 16]), Config::default())
}

fn complete(r: Reassembly<'_>) -> Vec<u8> {
    match r {
        Reassembly::Complete(d) => d.bytes().to_vec(),
        other => panic!("expected a complete datagram, got {other:?}"),
    }
}

#[test]
fn ipv4_in_order_and_out_of_order() {
    let l4 = udp4(A, B, 1000, 2000, &[7; 56]);
    let whole = ip4(A, B, 17, 0x101, 0, false, 0, &l4);
    let frags = split4(&l4, 0x101, 24);
    assert_eq!(frags.len(), 3);
    for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]] {
        let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
        let now = Instant::from_secs(5);
        assert_eq!(d.push(now, &frags[order[0]]), Reassembly::Held);
        assert_eq!(d.push(now, &frags[order[1]]), Reassembly::Held);
        let got = complete(d.push(now, &frags[order[2]]));
        // The datagram is the unfragmented packet: the first fragment's
        // header, total length and flags rewritten, checksum valid.
        assert_eq!(got, whole, "order {order:?}");
        assert_eq!(d.in_use(now), 0);
        assert_eq!(d.stats().reassembled, 1);
    }
}

#[test]
fn verdict_goes_to_the_completing_fragment() {
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    let mut t = table();
    let now = Instant::from_secs(1);
    let l4 = udp4(A, B, 1000, 2000, &[1; 40]);
    let frags = split4(&l4, 9, 24);
    // A fragment given to the table directly is INVALID.
    assert_eq!(t.track(now, &frags[0]).reason(), Some(Reason::Fragment));
    assert_eq!(d.push(now, &frags[0]), Reassembly::Held);
    let r = d.push(now, &frags[1]);
    let v = t.track(now, r.packet().unwrap());
    assert_eq!((v.state(), v.dir()), (Some(CtState::New), Some(Direction::Original)));
    // The reply, fragmented too, is ESTABLISHED on its completing fragment.
    let back = udp4(B, A, 2000, 1000, &[2; 40]);
    let r1 = ip4(B, A, 17, 77, 24, false, 0, &back[24..]);
    let r0 = ip4(B, A, 17, 77, 0, true, 0, &back[..24]);
    assert_eq!(d.push(now, &r1), Reassembly::Held);
    let r = d.push(now, &r0);
    let v = t.track(now, r.packet().unwrap());
    assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
}

#[test]
fn not_fragments_pass() {
    let mut d: FixedReassembler<1, 64> = FixedReassembler::new();
    let now = Instant::from_secs(1);
    let p = ip4(A, B, 17, 1, 0, false, 0, &udp4(A, B, 1, 2, &[]));
    assert_eq!(d.push(now, &p), Reassembly::Pass(&p[..]));
    assert_eq!(d.push(now, &[]), Reassembly::Pass(&[][..]));
    assert_eq!(d.push(now, &[0x45, 0]), Reassembly::Pass(&[0x45, 0][..]));
    // A fragment with a bad header checksum is IP input's to drop: passed
    // on, and the table says INVALID.
    let mut bad = ip4(A, B, 17, 1, 0, true, 0, &[0; 8]);
    bad[10] ^= 1;
    assert_eq!(d.push(now, &bad), Reassembly::Pass(&bad[..]));
    // An IPv6 atomic fragment is a whole datagram: reassembled at once,
    // without its Fragment header (Linux's queue completes at once, and
    // accounting counts the datagram's length).
    let atomic = frag6(17, 5, 0, false, &udp6(1, 2, &[0; 8]));
    let r = d.push(now, &atomic);
    let Reassembly::Complete(datagram) = r else { panic!("{r:?}") };
    assert_eq!(datagram.bytes().len(), atomic.len() - 8);
    assert_eq!(datagram.bytes()[6], 17, "the next header is UDP again");
    assert_new_ipv6(&table().track(now, datagram.bytes()));
}

#[test]
fn overlap_discards_the_queue() {
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    let now = Instant::from_secs(1);
    let l4 = udp4(A, B, 1, 2, &[3; 40]);
    let f = |o: usize, e: usize| ip4(A, B, 17, 4, o, e < l4.len(), 0, &l4[o..e]);
    assert_eq!(d.push(now, &f(0, 24)), Reassembly::Held);
    assert_eq!(d.push(now, &f(16, 40)), Reassembly::Dropped(FragDrop::Overlap));
    assert_eq!(d.in_use(now), 0);
    assert_eq!(d.stats().overlaps, 1);
    // [0,24) went with the queue: the rest alone does not complete.
    assert_eq!(d.push(now, &f(24, 48)), Reassembly::Held);
    assert!(matches!(d.push(now, &f(0, 24)), Reassembly::Complete(_)));
    // Within the queue (not at its end): overlapping a run is an overlap.
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    assert_eq!(d.push(now, &f(24, 48)), Reassembly::Held);
    assert_eq!(d.push(now, &f(0, 8)), Reassembly::Held);
    assert_eq!(d.push(now, &f(8, 32)), Reassembly::Dropped(FragDrop::Overlap));
}

#[test]
fn duplicates_inside_one_run_only() {
    let now = Instant::from_secs(1);
    let l4 = udp4(A, B, 1, 2, &[3; 40]);
    let f = |o: usize, e: usize| ip4(A, B, 17, 4, o, e < l4.len(), 0, &l4[o..e]);
    // [0,8) then [8,16): one run; [0,16) is a duplicate and the datagram completes.
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    assert_eq!(d.push(now, &f(0, 8)), Reassembly::Held);
    assert_eq!(d.push(now, &f(8, 16)), Reassembly::Held);
    assert_eq!(d.push(now, &f(0, 16)), Reassembly::Dropped(FragDrop::Duplicate));
    assert!(matches!(d.push(now, &f(16, 48)), Reassembly::Complete(_)));
    // [8,16) then [0,8): two runs; [0,16) overlaps.
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    assert_eq!(d.push(now, &f(8, 16)), Reassembly::Held);
    assert_eq!(d.push(now, &f(0, 8)), Reassembly::Held);
    assert_eq!(d.push(now, &f(0, 16)), Reassembly::Dropped(FragDrop::Overlap));
}

#[test]
fn ipv4_end_rules() {
    let now = Instant::from_secs(1);
    let l4 = udp4(A, B, 1, 2, &[3; 32]);
    let f = |o: usize, e: usize, more: bool| ip4(A, B, 17, 8, o, more, 0, &l4[o..e]);
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    assert_eq!(d.push(now, &f(0, 16, true)), Reassembly::Held);
    assert_eq!(d.push(now, &f(32, 40, false)), Reassembly::Held);
    // Another last fragment ending elsewhere: the IPv4 queue is discarded.
    assert_eq!(d.push(now, &f(16, 24, false)), Reassembly::Dropped(FragDrop::BadEnd));
    assert_eq!(d.in_use(now), 0);
    // A non-last fragment is rounded down to 8 bytes; 4 bytes are nothing.
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    assert_eq!(d.push(now, &f(0, 20, true)), Reassembly::Held);
    assert_eq!(complete(d.push(now, &f(16, 40, false))).len(), 60);
    assert_eq!(d.push(now, &f(16, 20, true)), Reassembly::Dropped(FragDrop::Empty));
}

#[test]
fn ipv4_key_has_the_protocol() {
    let now = Instant::from_secs(1);
    let mut d: FixedReassembler<4, 1500> = FixedReassembler::new();
    let l4 = udp4(A, B, 1, 2, &[3; 16]);
    assert_eq!(d.push(now, &ip4(A, B, 17, 8, 0, true, 0, &l4[..16])), Reassembly::Held);
    assert_eq!(d.push(now, &ip4(A, B, 47, 8, 16, false, 0, &l4[16..])), Reassembly::Held);
    assert_eq!(d.in_use(now), 2);
    assert!(matches!(d.push(now, &ip4(A, B, 17, 8, 16, false, 0, &l4[16..])), Reassembly::Complete(_)));
}

#[test]
fn ecn_marks() {
    let now = Instant::from_secs(1);
    let l4 = udp4(A, B, 1, 2, &[3; 16]);
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    assert_eq!(d.push(now, &ip4(A, B, 17, 1, 0, true, 2, &l4[..16])), Reassembly::Held);
    assert_eq!(d.push(now, &ip4(A, B, 17, 1, 16, false, 0, &l4[16..])), Reassembly::Dropped(FragDrop::Ecn));
    assert_eq!(d.push(now, &ip4(A, B, 17, 2, 0, true, 2, &l4[..16])), Reassembly::Held);
    let got = complete(d.push(now, &ip4(A, B, 17, 2, 16, false, 3, &l4[16..])));
    assert_eq!(got[1] & 3, 3, "CE with ECT is CE");
    assert!(Ipv4Packet::new_checked(&got[..]).unwrap().verify_checksum());
}

#[test]
fn ipv4_df_and_max_fragment_size() {
    let now = Instant::from_secs(1);
    let l4 = udp4(A, B, 1, 2, &[3; 40]);
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    let mut first = ip4(A, B, 17, 1, 0, true, 0, &l4[..32]);
    let mut p = Ipv4Packet::new_unchecked(&mut first[..]);
    p.set_dont_frag(true);
    p.fill_checksum();
    assert_eq!(d.push(now, &first), Reassembly::Held);
    let second = ip4(A, B, 17, 1, 32, false, 0, &l4[32..]);
    let Reassembly::Complete(dg) = d.push(now, &second) else { panic!() };
    assert_eq!(dg.max_fragment_size(), 52);
    let p = Ipv4Packet::new_checked(dg.bytes()).unwrap();
    assert!(p.dont_frag() && !p.more_frags() && p.frag_offset() == 0 && p.verify_checksum());
}

#[test]
fn ipv4_oversize_is_dropped_on_completion() {
    let now = Instant::from_secs(1);
    let mut d = Reassembler::with_storage(ctrack::HeapDefragStorage::new(1, 65535 + 60));
    let data = vec![0u8; 65524];
    for o in (0..data.len()).step_by(1480) {
        let e = (o + 1480).min(data.len());
        let p = ip4(A, B, 17, 3, o, e < data.len(), 0, &data[o..e]);
        let r = d.push(now, &p);
        if e < data.len() {
            assert_eq!(r, Reassembly::Held);
        } else {
            assert_eq!(r, Reassembly::Dropped(FragDrop::Oversize));
        }
    }
    assert_eq!(d.in_use(now), 0);
}

#[test]
fn timeouts_30s_ipv4_60s_ipv6() {
    let mut d: FixedReassembler<4, 1500> = FixedReassembler::new();
    assert_eq!(d.timeouts(), (30, 60));
    let t0 = Instant::from_secs(100);
    let l4 = udp4(A, B, 1, 2, &[3; 16]);
    let u6 = udp6(1, 2, &[3; 16]);
    assert_eq!(d.push(t0, &ip4(A, B, 17, 1, 0, true, 0, &l4[..16])), Reassembly::Held);
    assert_eq!(d.push(t0, &ip4(A, B, 17, 2, 0, true, 0, &l4[..16])), Reassembly::Held);
    assert_eq!(d.push(t0, &frag6(17, 1, 0, true, &u6[..16])), Reassembly::Held);
    assert_eq!(d.push(t0, &frag6(17, 2, 0, true, &u6[..16])), Reassembly::Held);
    // 29.9 s later the IPv4 queue is still there.
    let t = Instant::from_millis(t0.millis() + 29_900);
    assert!(matches!(d.push(t, &ip4(A, B, 17, 1, 16, false, 0, &l4[16..])), Reassembly::Complete(_)));
    // At 30 s the other is gone: its last fragment starts a new queue.
    let t = Instant::from_secs(130);
    assert_eq!(d.push(t, &ip4(A, B, 17, 2, 16, false, 0, &l4[16..])), Reassembly::Held);
    assert_eq!(d.stats().expired, 1);
    // IPv6 queues live 60 s.
    let t = Instant::from_secs(159);
    assert!(matches!(d.push(t, &frag6(17, 1, 16, false, &u6[16..])), Reassembly::Complete(_)));
    // At 160 s the IPv6 queue of 100 s and the IPv4 queue of 130 s expire.
    let t = Instant::from_secs(160);
    assert_eq!(d.expire(t), 2);
    assert_eq!(d.push(t, &frag6(17, 2, 16, false, &u6[16..])), Reassembly::Held);
    d.set_timeouts(5, 7);
    assert_eq!(d.timeouts(), (5, 7));
}

#[test]
fn ipv6_reassembly_strips_the_fragment_header() {
    let now = Instant::from_secs(1);
    let u = udp6(1000, 2000, &[9; 56]);
    let whole = ip6(17, &u);
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    assert_eq!(d.push(now, &frag6(17, 0x601, 40, false, &u[40..])), Reassembly::Held);
    assert_eq!(d.push(now, &frag6(17, 0x601, 0, true, &u[..16])), Reassembly::Held);
    let middle = frag6(17, 0x601, 16, true, &u[16..40]);
    let Reassembly::Complete(dg) = d.push(now, &middle) else { panic!() };
    assert_eq!(dg.bytes(), &whole[..]);
    assert_eq!(dg.max_fragment_size(), 40 + 8 + 24);
    assert_new_ipv6(&table().track(now, dg.bytes()));
    // With a Destination Options header before the Fragment header, that
    // header's next-header field is patched.
    let mut chain = vec![44, 0, 1, 4, 0, 0, 0, 0];
    let mut f0 = chain.clone();
    f0.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]);
    f0.extend_from_slice(&u[..32]);
    let mut f1 = chain.clone();
    f1.extend_from_slice(&[17, 0, 0, 32, 0, 0, 0, 7]);
    f1.extend_from_slice(&u[32..]);
    assert_eq!(d.push(now, &ip6(60, &f1)), Reassembly::Held);
    let got = complete(d.push(now, &ip6(60, &f0)));
    chain[0] = 17;
    chain.extend_from_slice(&u);
    assert_eq!(got, ip6(60, &chain));
}

#[test]
fn ipv6_rules() {
    let now = Instant::from_secs(1);
    let u = udp6(1, 2, &[3; 24]);
    let mut d: FixedReassembler<2, 1500> = FixedReassembler::new();
    // A non-last fragment not a multiple of 8 bytes: the queue is discarded
    // and the fragment goes to the table as it is (INVALID there).
    assert_eq!(d.push(now, &frag6(17, 1, 0, true, &u[..16])), Reassembly::Held);
    let odd = frag6(17, 1, 16, true, &u[16..28]);
    assert_eq!(d.push(now, &odd), Reassembly::Pass(&odd[..]));
    assert_eq!(d.in_use(now), 0);
    assert_eq!(table().track(now, &odd).state(), Some(CtState::Invalid));
    // A fragment ending beyond 65535 is dropped, the queue kept.
    assert_eq!(d.push(now, &frag6(17, 2, 0, true, &u[..16])), Reassembly::Held);
    assert_eq!(d.push(now, &frag6(17, 2, 65528, false, &[0; 16])), Reassembly::Dropped(FragDrop::Oversize));
    // A contradicting end drops only the fragment.
    assert_eq!(d.push(now, &frag6(17, 2, 24, false, &u[24..])), Reassembly::Held);
    assert_eq!(d.push(now, &frag6(17, 2, 8, false, &u[8..16])), Reassembly::Dropped(FragDrop::BadEnd));
    assert!(matches!(d.push(now, &frag6(17, 2, 16, true, &u[16..24])), Reassembly::Complete(_)));
    // The key has no protocol: the first fragment's next header wins.
    assert_eq!(d.push(now, &frag6(17, 3, 0, true, &u[..16])), Reassembly::Held);
    let got = complete(d.push(now, &frag6(47, 3, 16, false, &u[16..])));
    assert_eq!(got[6], 17);
    // A first fragment without the whole UDP header passes.
    let mut opts = vec![17, 0, 1, 4, 0, 0, 0, 0];
    opts.extend_from_slice(&u[..8]);
    let first = frag6(60, 4, 0, true, &opts[..8]);
    assert_eq!(d.push(now, &first), Reassembly::Pass(&first[..]));
    // A truncated Fragment header is dropped.
    let cut = ip6(44, &[17, 0, 0]);
    assert_eq!(d.push(now, &cut), Reassembly::Dropped(FragDrop::Malformed));
}

#[test]
fn pool_limits() {
    let now = Instant::from_secs(1);
    let l4 = udp4(A, B, 1, 2, &[3; 80]);
    let mut queues = [FragQueue::EMPTY; 1];
    let mut bytes = [0u8; 64];
    let mut d = Reassembler::with_storage(SliceDefragStorage::new(&mut queues, &mut bytes));
    assert_eq!(d.push(now, &ip4(A, B, 17, 1, 0, true, 0, &l4[..16])), Reassembly::Held);
    // Every queue busy.
    assert_eq!(
        d.push(now, &ip4(A, B, 17, 2, 0, true, 0, &l4[..16])),
        Reassembly::Dropped(FragDrop::PoolFull)
    );
    // Beyond the buffer: the queue is discarded.
    assert_eq!(
        d.push(now, &ip4(A, B, 17, 1, 40, true, 0, &l4[40..56])),
        Reassembly::Dropped(FragDrop::TooBig)
    );
    assert_eq!(d.in_use(now), 0);
    // Too many runs of out-of-order fragments: 8-byte pieces, backwards.
    let mut d: FixedReassembler<1, 1500> = FixedReassembler::new();
    let data = [0u8; 8 * 40];
    let mut drops = 0;
    for k in (0..40).rev() {
        let p = ip4(A, B, 17, 1, k * 8, k < 39, 0, &data[k * 8..k * 8 + 8]);
        if d.push(now, &p) == Reassembly::Dropped(FragDrop::TooManyRuns) {
            drops += 1;
        }
    }
    assert!(drops >= 1);
}

/// A static reassembler is all zero (placed in `.bss`).
static EMPTY: FixedReassembler<2, 1500> = FixedReassembler::new();

#[test]
fn static_and_garbage() {
    assert_eq!(EMPTY.queues(), 2);
    assert_eq!(EMPTY.buffer_size(), 1500);
    // Mutations of valid fragments never panic.
    let mut d: FixedReassembler<3, 256> = FixedReassembler::new();
    let l4 = udp4(A, B, 1, 2, &[3; 40]);
    let u6 = udp6(1, 2, &[3; 40]);
    let mut seed = 0x1234_5678u32;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for step in 0..20_000u64 {
        let mut p = if rnd() % 2 == 0 {
            let o = (rnd() as usize % 6) * 8;
            ip4(A, B, 17, (rnd() % 3) as u16, o, rnd() % 2 == 0, (rnd() % 4) as u8, &l4[o.min(40)..])
        } else {
            let o = (rnd() as usize % 6) * 8;
            frag6(17, rnd() % 3, o, rnd() % 2 == 0, &u6[o.min(40)..])
        };
        for _ in 0..rnd() % 3 {
            let i = rnd() as usize % p.len();
            p[i] = rnd() as u8;
        }
        let cut = p.len() - rnd() as usize % 8;
        let now = Instant::from_millis(step * 10);
        let _ = d.push(now, &p[..cut]);
        assert!(d.in_use(now) <= 3);
    }
}
