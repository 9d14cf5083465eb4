//! The embassy-net driver wrapper, driven with an in-memory IP driver: an
//! outbound TCP connection and its replies pass, an unsolicited inbound SYN
//! is dropped and leaves no entry, ARP-less IP medium, and the MTU is
//! capped to the wrapper's buffer.

use std::collections::VecDeque;
use std::task::{Context, Waker};

use ctrack::embassy::{Firewall, Path};
use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant, Verdict};
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};

/// An IP-medium driver whose wire is two queues.
#[derive(Default)]
struct Wire {
    inbound: VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.push(frame);
        r
    }
}

impl Driver for Wire {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: &mut Context) -> Option<(Rx, Tx<'_>)> {
        let frame = self.inbound.pop_front()?;
        Some((Rx(frame), Tx(&mut self.sent)))
    }
    fn transmit(&mut self, _: &mut Context) -> Option<Tx<'_>> {
        Some(Tx(&mut self.sent))
    }
    fn link_state(&mut self, _: &mut Context) -> LinkState {
        LinkState::Up
    }
    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::default();
        c.max_transmission_unit = 9000;
        c
    }
    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ip
    }
}

/// An IPv4 TCP segment with valid checksums.
fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    p[..20].copy_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[28..32].copy_from_slice(&ack.to_be_bytes());
    p[32] = 0x50;
    p[33] = flags;
    p[34..36].copy_from_slice(&64240u16.to_be_bytes());
    let sum = |data: &[u8], mut acc: u32| {
        for c in data.chunks(2) {
            acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    };
    let h = !sum(&p[..20], 0);
    p[10..12].copy_from_slice(&h.to_be_bytes());
    let pseudo = u32::from(sum(&src, 0)) + u32::from(sum(&dst, 0)) + 6 + 20;
    let c = !sum(&p[20..], pseudo);
    p[36..38].copy_from_slice(&c.to_be_bytes());
    p
}

const A: [u8; 4] = [192, 0, 2, 1];
const B: [u8; 4] = [198, 51, 100, 7];
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

#[test]
fn outbound_connection_passes_and_unsolicited_syn_is_dropped() {
    let table: FixedConnTable<64> = ConnTable::new(HashKey([5; 16]), Config::default());
    let policy = |path: Path, v: &Verdict| match path {
        Path::Inbound => matches!(v.state(), Some(CtState::Established | CtState::Related)),
        Path::Outbound => !v.must_drop() && v.state() != Some(CtState::Invalid),
    };
    let mut ms = 1_000u64;
    let clock = move || {
        ms += 1;
        Instant::from_millis(ms)
    };
    let mut fw: Firewall<_, _, _, _> = Firewall::new(Wire::default(), table, policy, clock);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fw.capabilities().max_transmission_unit <= 1536, "capped to the buffer");

    // A connects to B: the SYN goes out.
    let syn = tcp(A, 40000, B, 80, 1000, 0, SYN);
    fw.transmit(&mut cx).unwrap().consume(syn.len(), |b| b.copy_from_slice(&syn));
    assert_eq!(fw.inner().sent, std::slice::from_ref(&syn));

    // B's SYN-ACK comes in and reaches the stack.
    fw.inner_mut().inbound.push_back(tcp(B, 80, A, 40000, 5000, 1001, SYN | ACK));
    let (rx, _) = fw.receive(&mut cx).expect("the reply passes");
    assert_eq!(rx.consume(|f| f[33]), SYN | ACK);
    // A's ACK goes out.
    let ack = tcp(A, 40000, B, 80, 1001, 5001, ACK);
    fw.transmit(&mut cx).unwrap().consume(ack.len(), |b| b.copy_from_slice(&ack));
    assert_eq!(fw.inner().sent.len(), 2);

    // An unsolicited SYN from B to A's port 22 is dropped: the stack never
    // sees it and it leaves no entry.
    fw.inner_mut().inbound.push_back(tcp(B, 55555, A, 22, 9, 0, SYN));
    assert!(fw.receive(&mut cx).is_none());
    assert_eq!(fw.dropped(), 1);
    assert_eq!(fw.table().len(), 1);
    let line = fw.table().entries(Instant::from_millis(2_000)).next().unwrap().to_string();
    assert!(line.contains("ESTABLISHED") && line.contains("sport=40000 dport=80"), "{line}");

    // An outbound INVALID segment (a bare ACK for a connection that does
    // not exist, with loose pickup off) is not sent.
    fw.table_mut().config_mut().tcp.loose = false;
    let stray = tcp(A, 41000, B, 443, 7, 7, ACK);
    fw.transmit(&mut cx).unwrap().consume(stray.len(), |b| b.copy_from_slice(&stray));
    assert_eq!(fw.inner().sent.len(), 2, "not sent");
    assert_eq!(fw.dropped(), 2);
}
