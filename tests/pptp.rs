//! The PPTP helper through the table (`nf_conntrack_pptp.c`, the GRE key
//! map of `nf_conntrack_proto_gre.c`). The expectation lines are those
//! `conntrack -L expect` printed on Linux 6.18 for the same exchange; the
//! crafted captures `tests/data/crafted/helpers/pptp-*` check the rest frame
//! by frame (`tests/parity.rs`).

mod common;

use common::*;
use ctrack::helper::builtin;
use ctrack::*;

type Table = FixedConnTable<256, 64, 64>;

fn table() -> Table {
    let mut t = ConnTable::new(HashKey([17; 16]), Config::default());
    t.add_builtin_helper(builtin("pptp").unwrap()).unwrap();
    t
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(1_000_000 + ms)
}

const PNS: &str = "192.168.1.10";
const PAC: &str = "198.51.100.5";

/// A PPTP control message of type `kind` with a body of `len` bytes, the
/// (offset, bytes) `fields` written into it.
fn msg(kind: u16, len: usize, fields: &[(usize, &[u8])]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((12 + len) as u16).to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&0x1A2B_3C4Du32.to_be_bytes());
    v.extend_from_slice(&kind.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    let mut body = vec![0u8; len];
    for (at, b) in fields {
        body[*at..*at + b.len()].copy_from_slice(b);
    }
    v.extend_from_slice(&body);
    v
}

fn be(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

/// An enhanced GRE (version 1) packet carrying PPP, with the receiver's
/// call id.
fn gre(src: &str, dst: &str, call_id: u16) -> Vec<u8> {
    let mut l4 = vec![0x30, 0x01, 0x88, 0x0b, 0, 4];
    l4.extend_from_slice(&call_id.to_be_bytes());
    l4.extend_from_slice(&[0, 0, 0, 1, 0xff, 0x03, 0x00, 0x21]);
    ip_packet(ip(src), ip(dst), 47, &l4, 64)
}

/// A PPTP control connection from port `cport`, its session started;
/// it returns the connection and the next sequence numbers.
struct Control {
    cport: u16,
    c: u32,
    s: u32,
    ms: u64,
}

impl Control {
    fn open(t: &mut Table, cport: u16) -> Control {
        let (c, s) = (1000u32, 5000u32);
        let _ = t.track(at(0), &tcp(PNS, cport, PAC, 1723, SYN, c - 1, 0, 64240, b""));
        let _ = t.track(at(1), &tcp(PAC, 1723, PNS, cport, SYN | ACK, s - 1, c, 64240, b""));
        let _ = t.track(at(2), &tcp(PNS, cport, PAC, 1723, ACK, c, s, 64240, b""));
        let mut ctl = Control { cport, c, s, ms: 3 };
        ctl.pns(t, &msg(1, 144, &[(0, &[1, 0])]));
        ctl.pac(t, &msg(2, 144, &[(0, &[1, 0]), (2, &[1])]));
        ctl
    }

    /// A segment from the PNS; the control connection's handle.
    fn pns(&mut self, t: &mut Table, data: &[u8]) -> Option<Handle> {
        self.ms += 1;
        let v =
            t.track(at(self.ms), &tcp(PNS, self.cport, PAC, 1723, PSH | ACK, self.c, self.s, 64240, data));
        self.c += data.len() as u32;
        v.entry()
    }

    /// A segment from the PAC; the control connection's handle.
    fn pac(&mut self, t: &mut Table, data: &[u8]) -> Option<Handle> {
        self.ms += 1;
        let v =
            t.track(at(self.ms), &tcp(PAC, 1723, PNS, self.cport, PSH | ACK, self.s, self.c, 64240, data));
        self.s += data.len() as u32;
        v.entry()
    }

    /// An outgoing call: PNS call id `pns`, PAC call id `pac`.
    fn out_call(&mut self, t: &mut Table, pns: u16, pac: u16) {
        self.pns(t, &msg(7, 156, &[(0, &be(pns))]));
        self.pac(t, &msg(8, 20, &[(0, &be(pac)), (2, &be(pns)), (4, &[1])]));
    }
}

fn lines(t: &Table, now: Instant) -> Vec<String> {
    let mut v: Vec<String> = t.expectations(now).map(|e| e.to_string()).collect();
    v.sort();
    v
}

fn listing(t: &Table, v: &Verdict, now: Instant) -> String {
    t.get(v.entry().unwrap(), now).unwrap().to_string()
}

#[test]
fn outgoing_call_expects_gre_both_ways_keyed_by_the_call_ids() {
    let mut t = table();
    let mut ctl = Control::open(&mut t, 40000);
    ctl.out_call(&mut t, 0x100, 0x200);
    assert_eq!(
        lines(&t, at(1010)),
        [
            "299 proto=47 src=192.168.1.10 dst=198.51.100.5 srckey=0x100 dstkey=0x200 \
             mask-src=255.255.255.255 mask-dst=255.255.255.255 srckey=0xffff dstkey=0xffff \
             master-src=192.168.1.10 master-dst=198.51.100.5 sport=40000 dport=1723 class=0 helper=pptp",
            "299 proto=47 src=198.51.100.5 dst=192.168.1.10 srckey=0x200 dstkey=0x100 \
             mask-src=255.255.255.255 mask-dst=255.255.255.255 srckey=0xffff dstkey=0xffff \
             master-src=192.168.1.10 master-dst=198.51.100.5 sport=40000 dport=1723 class=0 helper=pptp",
        ]
    );
    // The PNS's first GRE packet carries only the PAC's call id; the key
    // map gives it the PNS's as source key: RELATED.
    let v = t.track(at(1020), &gre(PNS, PAC, 0x200));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Original)));
    let e = t.get(v.entry().unwrap(), at(1020)).unwrap();
    assert_eq!(e.master().unwrap().to_string(), "src=192.168.1.10 dst=198.51.100.5 sport=40000 dport=1723");
    // The other direction's expectation is gone (`pptp_expectfn()`).
    assert!(t.expectations(at(1020)).next().is_none());
    // The PAC's answer is the same entry's reply.
    let r = t.track(at(1021), &gre(PAC, PNS, 0x100));
    assert_eq!((r.state(), r.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    assert_eq!(r.entry(), v.entry());
    assert_eq!(
        listing(&t, &r, at(1021)),
        "gre      47 30 src=192.168.1.10 dst=198.51.100.5 srckey=0x100 dstkey=0x200 \
         src=198.51.100.5 dst=192.168.1.10 srckey=0x200 dstkey=0x100 mark=0 use=1"
    );
}

#[test]
fn incoming_call_gre_from_the_pac_first() {
    let mut t = table();
    let mut ctl = Control::open(&mut t, 40001);
    ctl.pac(&mut t, &msg(9, 208, &[(0, &be(0x300))]));
    // Reply (accepted) naming the PAC's call id, then Connected naming the PNS's.
    ctl.pns(&mut t, &msg(10, 12, &[(0, &be(0x400)), (2, &be(0x300)), (4, &[1])]));
    assert!(t.expectations(at(10)).next().is_none(), "no expectation before Incoming-Call-Connected");
    ctl.pac(&mut t, &msg(11, 16, &[(0, &be(0x400))]));
    assert_eq!(t.expectations(at(10)).count(), 2);
    let v = t.track(at(20), &gre(PAC, PNS, 0x400));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Original)));
    let r = t.track(at(21), &gre(PNS, PAC, 0x300));
    assert_eq!(
        (r.state(), r.dir(), r.entry()),
        (Some(CtState::Established), Some(Direction::Reply), v.entry())
    );
}

#[test]
fn disconnect_notify_ends_the_gre_connection_and_the_key_map() {
    let mut t = table();
    let mut ctl = Control::open(&mut t, 40002);
    ctl.out_call(&mut t, 0x100, 0x200);
    let g = t.track(at(20), &gre(PNS, PAC, 0x200));
    let _ = t.track(at(21), &gre(PAC, PNS, 0x100));
    // Call-Clear-Request changes nothing for the GRE connection.
    ctl.pns(&mut t, &msg(12, 4, &[(0, &be(0x100))]));
    assert_eq!(t.track(at(30), &gre(PNS, PAC, 0x200)).entry(), g.entry());
    ctl.pac(&mut t, &msg(13, 136, &[(0, &be(0x200))]));
    assert!(t.get(g.entry().unwrap(), at(31)).is_none(), "the GRE connection is killed");
    // No key map any more: source key 0, a new connection each way.
    let v = t.track(at(40), &gre(PNS, PAC, 0x200));
    assert_eq!(v.state(), Some(CtState::New));
    assert!(listing(&t, &v, at(40)).contains("srckey=0x0 dstkey=0x200 [UNREPLIED]"));
    assert_eq!(t.track(at(41), &gre(PAC, PNS, 0x100)).state(), Some(CtState::New));
}

#[test]
fn the_master_takes_its_gre_connection_and_expectations_with_it() {
    let mut t = table();
    let mut ctl = Control::open(&mut t, 40003);
    ctl.out_call(&mut t, 0x100, 0x200);
    let g = t.track(at(20), &gre(PNS, PAC, 0x200));
    let master = ctl.pns(&mut t, &msg(5, 4, &[])).unwrap();
    assert!(t.delete(master));
    assert!(t.get(g.entry().unwrap(), at(30)).is_none());
    assert_eq!(t.track(at(31), &gre(PNS, PAC, 0x200)).state(), Some(CtState::New));

    // A call whose GRE never came: its expectations go with the master.
    let mut ctl = Control::open(&mut t, 40004);
    ctl.out_call(&mut t, 0x500, 0x600);
    let master = ctl.pns(&mut t, &msg(5, 4, &[])).unwrap();
    assert_eq!(t.expectations(at(40)).count(), 2);
    assert!(t.delete(master));
    assert!(t.expectations(at(40)).next().is_none());
    let v = t.track(at(41), &gre(PNS, PAC, 0x600));
    assert_eq!(v.state(), Some(CtState::New));
    assert!(listing(&t, &v, at(41)).contains("srckey=0x0 dstkey=0x600"));
}

#[test]
fn the_end_of_the_gre_connection_removes_the_key_map() {
    let mut t = table();
    let mut ctl = Control::open(&mut t, 40005);
    ctl.out_call(&mut t, 0x100, 0x200);
    let g = t.track(at(20), &gre(PNS, PAC, 0x200));
    assert!(t.delete(g.entry().unwrap()));
    // `destroy_gre_conntrack()`: the master's key map went with it.
    let v = t.track(at(21), &gre(PNS, PAC, 0x200));
    assert_eq!(v.state(), Some(CtState::New));
    assert!(listing(&t, &v, at(21)).contains("srckey=0x0 dstkey=0x200"));
    // The master itself stays.
    let _ = ctl.pns(&mut t, &msg(5, 4, &[]));
    assert_eq!(t.len(), 2);
}

#[test]
fn messages_out_of_place_or_short_are_ignored() {
    let mut t = table();
    // Before the handshake completes and before the session: nothing.
    let mut ctl = Control::open(&mut t, 40006);
    // A reply one byte short, a reply for an unknown call, a refused call.
    ctl.pns(&mut t, &msg(7, 156, &[(0, &be(1))]));
    ctl.pac(&mut t, &msg(8, 19, &[(0, &be(2)), (2, &be(1)), (4, &[1])]));
    ctl.pac(&mut t, &msg(8, 20, &[(0, &be(2)), (2, &be(9)), (4, &[1])]));
    ctl.pac(&mut t, &msg(8, 20, &[(0, &be(2)), (2, &be(1)), (4, &[2])]));
    assert!(t.expectations(at(50)).next().is_none());
    // Garbage of every length: never dropped.
    for n in 0..64 {
        let junk: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(37)).collect();
        assert!(ctl.pac(&mut t, &junk).is_some());
    }
}

#[test]
#[cfg(not(feature = "ipv4-only"))] // IPv6 only
fn ipv6_control_connections_get_no_helper() {
    let mut t = table();
    let v = t.track(at(0), &tcp("2001:db8::1", 40000, "2001:db8::2", 1723, SYN, 1, 0, 64240, b""));
    assert!(t.get(v.entry().unwrap(), at(0)).unwrap().helper().is_none());
}

#[test]
fn a_full_key_map_gives_a_call_no_expectations() {
    let mut t = table();
    let mut ctls = Vec::new();
    for k in 0..17u16 {
        let mut ctl = Control::open(&mut t, 41000 + k);
        ctl.out_call(&mut t, 0x1000 + k, 0x2000 + k);
        ctls.push(ctl);
    }
    // 32 entries: 16 calls keyed and expected, the 17th neither.
    assert_eq!(t.expectations(at(100)).count(), 32);
    let v = t.track(at(101), &gre(PNS, PAC, 0x2000 + 16));
    assert_eq!(v.state(), Some(CtState::New));
    let v = t.track(at(102), &gre(PNS, PAC, 0x2000 + 15));
    assert_eq!(v.state(), Some(CtState::Related));
}

#[test]
fn a_batch_keys_its_gre_packets_as_one_at_a_time() {
    // The call's reply and its first GRE packets in one batch: the GRE
    // tuples must see the key map the reply filled.
    let run = |batch: bool| -> Vec<Option<CtState>> {
        let mut t = table();
        let mut ctl = Control::open(&mut t, 40020);
        let _ = ctl.pns(&mut t, &msg(7, 156, &[(0, &be(0x100))]));
        let reply = tcp(
            PAC,
            1723,
            PNS,
            40020,
            PSH | ACK,
            ctl.s,
            ctl.c,
            64240,
            &msg(8, 20, &[(0, &be(0x200)), (2, &be(0x100)), (4, &[1])]),
        );
        let clear = tcp(
            PAC,
            1723,
            PNS,
            40020,
            PSH | ACK,
            ctl.s + 32,
            ctl.c,
            64240,
            &msg(13, 136, &[(0, &be(0x200))]),
        );
        let packets = [
            gre(PNS, PAC, 0x200),
            reply,
            gre(PNS, PAC, 0x200),
            gre(PAC, PNS, 0x100),
            clear,
            gre(PAC, PNS, 0x100),
        ];
        let refs: Vec<&[u8]> = packets.iter().map(|p| &p[..]).collect();
        let mut states = vec![None; refs.len()];
        if batch {
            t.track_batch(at(100), &refs, |i, v| states[i] = v.state());
        } else {
            for (i, p) in refs.iter().enumerate() {
                states[i] = t.track(at(100), p).state();
            }
        }
        states
    };
    let one_by_one = run(false);
    assert_eq!(
        one_by_one,
        [
            Some(CtState::New),
            Some(CtState::Established),
            Some(CtState::Related),
            Some(CtState::Established),
            Some(CtState::Established),
            Some(CtState::New),
        ]
    );
    assert_eq!(run(true), one_by_one);
}
