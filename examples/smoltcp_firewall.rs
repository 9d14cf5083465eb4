//! A smoltcp host behind a ctrack firewall.
//!
//! Two smoltcp hosts, A (10.0.0.1) and B (10.0.0.2), are joined by a pair
//! of in-memory IP devices. A's device is wrapped in
//! [`ctrack::device::Firewall`] with the policy of a host firewall:
//! inbound traffic only if ESTABLISHED or RELATED, outbound anything that is
//! not INVALID. A opens a TCP connection to B and sends a greeting, which
//! works; B tries to connect to A's listening port 22, and its SYNs are
//! dropped before A's stack sees them.
//!
//! `cargo run --example smoltcp_firewall`

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use ctrack::device::{Firewall, Path};
use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Verdict};
use smoltcp::iface::{Config as IfConfig, Interface, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of a point-to-point IP link held in memory.
struct Wire {
    rx: Queue,
    tx: Queue,
}

fn link() -> (Wire, Wire) {
    let (a, b): (Queue, Queue) = Default::default();
    (Wire { rx: a.clone(), tx: b.clone() }, Wire { rx: b, tx: a })
}

struct WireRx(Vec<u8>);
struct WireTx(Queue);

impl RxToken for WireRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for WireTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.borrow_mut().push_back(buf);
        r
    }
}

impl Device for Wire {
    type RxToken<'a> = WireRx;
    type TxToken<'a> = WireTx;

    fn receive(&mut self, _: Instant) -> Option<(WireRx, WireTx)> {
        let frame = self.rx.borrow_mut().pop_front()?;
        Some((WireRx(frame), WireTx(self.tx.clone())))
    }

    fn transmit(&mut self, _: Instant) -> Option<WireTx> {
        Some(WireTx(self.tx.clone()))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

fn iface<D: Device>(dev: &mut D, addr: [u8; 4]) -> Interface {
    let mut iface = Interface::new(IfConfig::new(HardwareAddress::Ip), dev, Instant::ZERO);
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(addr[0], addr[1], addr[2], addr[3]), 24)).unwrap()
    });
    iface
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 4096]), tcp::SocketBuffer::new(vec![0; 4096]))
}

/// Inbound: only ESTABLISHED and RELATED; outbound: anything not INVALID.
fn host_policy(path: Path, v: &Verdict) -> bool {
    match path {
        Path::Inbound => matches!(v.state(), Some(CtState::Established | CtState::Related)),
        Path::Outbound => !matches!(v.state(), Some(CtState::Invalid) | None),
    }
}

/// What happened in [`scenario`].
pub struct Outcome {
    /// Bytes B's server received from A's client.
    pub received: Vec<u8>,
    /// State of A's client socket at the end.
    pub client: tcp::State,
    /// State of A's listening socket (port 22) at the end.
    pub a_listener: tcp::State,
    /// State of B's socket that tried to connect to A.
    pub intruder: tcp::State,
    /// Packets the firewall dropped.
    pub dropped: u64,
    /// The firewall's table, `conntrack -L` style.
    pub table: Vec<String>,
}

/// Run both hosts for two simulated seconds.
pub fn scenario() -> Outcome {
    let (wire_a, mut wire_b) = link();
    let table: FixedConnTable<64> = ConnTable::new(HashKey([1; 16]), Config::default());
    let mut dev_a = Firewall::<_, _, _>::new(wire_a, table, host_policy as fn(Path, &Verdict) -> bool);
    let mut if_a = iface(&mut dev_a, [10, 0, 0, 1]);
    let mut if_b = iface(&mut wire_b, [10, 0, 0, 2]);
    let (mut socks_a, mut socks_b) = (SocketSet::new(vec![]), SocketSet::new(vec![]));

    // A (behind the firewall) connects out to B:80; B also listens on 80,
    // and A listens on 22, which B will try to reach.
    let client = socks_a.add(tcp_socket());
    let a_listener = socks_a.add(tcp_socket());
    let server = socks_b.add(tcp_socket());
    let intruder = socks_b.add(tcp_socket());
    socks_b.get_mut::<tcp::Socket>(server).listen(80).unwrap();
    socks_a.get_mut::<tcp::Socket>(a_listener).listen(22).unwrap();
    socks_a
        .get_mut::<tcp::Socket>(client)
        .connect(if_a.context(), (IpAddress::v4(10, 0, 0, 2), 80), 49152)
        .unwrap();
    socks_b
        .get_mut::<tcp::Socket>(intruder)
        .connect(if_b.context(), (IpAddress::v4(10, 0, 0, 1), 22), 49153)
        .unwrap();

    let mut now = Instant::from_secs(1);
    let mut sent = false;
    let mut received = Vec::new();
    for _ in 0..200 {
        if_a.poll(now, &mut dev_a, &mut socks_a);
        if_b.poll(now, &mut wire_b, &mut socks_b);
        let c = socks_a.get_mut::<tcp::Socket>(client);
        if c.may_send() && !sent {
            c.send_slice(b"hello through ctrack").unwrap();
            sent = true;
        }
        let s = socks_b.get_mut::<tcp::Socket>(server);
        if s.can_recv() {
            s.recv(|d| {
                received.extend_from_slice(d);
                (d.len(), ())
            })
            .unwrap();
        }
        now += Duration::from_millis(10);
    }
    let entries = dev_a.table().entries(ctrack::Instant::from(now)).map(|e| e.to_string()).collect();
    Outcome {
        received,
        client: socks_a.get::<tcp::Socket>(client).state(),
        a_listener: socks_a.get::<tcp::Socket>(a_listener).state(),
        intruder: socks_b.get::<tcp::Socket>(intruder).state(),
        dropped: dev_a.dropped(),
        table: entries,
    }
}

#[allow(dead_code)]
fn main() {
    let o = scenario();
    println!("B received from A: {:?}", String::from_utf8_lossy(&o.received));
    println!("A's client socket: {}", o.client);
    println!("A's listener on port 22: {} (B's socket: {})", o.a_listener, o.intruder);
    println!("packets dropped by the firewall: {}", o.dropped);
    println!("conntrack table of A:");
    for line in &o.table {
        println!("  {line}");
    }
}
