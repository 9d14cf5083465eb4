//! DCCP (IP protocol 33) in Linux 6.18: there is no DCCP tracker any more
//! (it went with the DCCP protocol in 6.16), so DCCP packets get the generic
//! tracker's tuple, which has addresses and protocol but no ports, and its 600 s
//! timeout. Two DCCP flows between the same two hosts are one entry, and the
//! second flow's packets are ESTABLISHED packets of the first flow's entry.
//! `conntrack -L` still names the protocol `dccp` and prints `sport=0 dport=0`.
//! The crafted capture is `tests/data/crafted/dccp/dccp-two-flows.pcap`, with
//! the kernel's verdicts beside it.

mod common;

use common::*;
use ctrack::tuple::proto::DCCP;
use ctrack::*;

fn table() -> FixedConnTable<64> {
    ConnTable::new(HashKey([7; 16]), Config::default())
}

/// A DCCP-looking packet: ports, data offset 4 words, and a Request/Response
/// type byte. The kernel does not parse any of it.
fn dccp(src: &str, sport: u16, dst: &str, dport: u16, ty: u8) -> Vec<u8> {
    let mut h = [0u8; 16];
    h[..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4] = 4;
    h[8] = (ty << 1) | 1;
    ip_packet(ip(src), ip(dst), DCCP, &h, 64)
}

fn sd(v: &Verdict) -> (Option<CtState>, Option<Direction>) {
    (v.state(), v.dir())
}

#[test]
fn two_dccp_flows_between_the_same_hosts_share_one_entry() {
    let families = [("10.1.0.1", "10.2.0.2"), ("2001:db8:1::1", "2001:db8:2::2")];
    for (a, b) in families.into_iter().take(if IPV6_TRACKED { 2 } else { 1 }) {
        let mut t = table();
        let now = Instant::from_secs(10);
        let v = t.track(now, &dccp(a, 5000, b, 6000, 0));
        assert_eq!(sd(&v), (Some(CtState::New), Some(Direction::Original)), "{a}");
        let first = v.entry().expect("entry");
        let v = t.track(now, &dccp(b, 6000, a, 5000, 1));
        assert_eq!(sd(&v), (Some(CtState::Established), Some(Direction::Reply)), "{a}");
        // Flow B: other ports, same hosts: the same entry.
        let v = t.track(now, &dccp(a, 5001, b, 6001, 0));
        assert_eq!(sd(&v), (Some(CtState::Established), Some(Direction::Original)), "{a}");
        assert_eq!(v.entry(), Some(first), "{a}");
        let v = t.track(now, &dccp(b, 6001, a, 5001, 1));
        assert_eq!(sd(&v), (Some(CtState::Established), Some(Direction::Reply)), "{a}");
        assert_eq!(t.len(), 1, "{a}");

        let e = t.get(first, now).expect("live entry");
        assert!(e.status().contains(Status::SEEN_REPLY) && !e.status().contains(Status::ASSURED));
        assert_eq!((e.timeout(), e.tcp_state()), (600, None), "{a}");
        assert_eq!(e.orig(), Tuple::generic(ip(a), ip(b), DCCP).unwrap(), "{a}");
        assert_eq!(e.orig().l4(), L4::None);
        assert_eq!(
            e.to_string(),
            format!(
                "dccp     33 600 src={a} dst={b} sport=0 dport=0 src={b} dst={a} sport=0 dport=0 mark=0 use=1"
            )
        );
    }
}

#[test]
fn dccp_has_no_port_tuple() {
    let (a, b) = (ip("10.1.0.1"), ip("10.2.0.2"));
    assert_eq!(Tuple::with_ports(a, 5000, b, 6000, DCCP), None);
    let t = Tuple::generic(a, b, DCCP).expect("generic tuple");
    assert_eq!((t.sport(), t.dport(), t.l4()), (None, None, L4::None));
    assert_eq!(packet_tuple(&dccp("10.1.0.1", 5000, "10.2.0.2", 6000, 0)), Ok(t));
}
