//! ICMP errors and helpers. Linux runs the connection's helper at
//! confirmation for every packet except an ICMP error RELATED in the reply
//! direction (`nf_conntrack_proto.c: nf_confirm()`), so an error RELATED in
//! the ORIGINAL direction reaches `help()`, which reads it from the ICMP
//! header on as if it were its own protocol's packet. SIP over UDP
//! (`nf_conntrack_sip.c: sip_help_udp()`) refreshes the entry to 3600 s
//! before parsing anything. The crafted capture
//! `tests/data/crafted/helpers/sip-udp-icmp-error-refresh.pcap` holds the
//! kernel's verdicts.
#![cfg(all(feature = "helper-sip", feature = "helper-tftp"))]

mod common;

use common::*;
use ctrack::helper::builtin;
use ctrack::*;

const C: &str = "192.168.1.10";
const S: &str = "198.51.100.20";

fn table() -> FixedConnTable<64, 16, 16> {
    let mut t = ConnTable::new(HashKey([9; 16]), Config::default());
    for name in ["ftp", "tftp", "sip"] {
        t.add_builtin_helper(builtin(name).unwrap()).unwrap();
    }
    t
}

fn at(secs: u64) -> Instant {
    Instant::from_millis(1_000_000 + secs * 1000)
}

fn sip(first_line: &str) -> Vec<u8> {
    format!(
        "{first_line}\r\nVia: SIP/2.0/UDP 192.168.1.10:5060\r\nFrom: <sip:alice@192.168.1.10>;tag=a\r\n\
         To: <sip:bob@198.51.100.20>\r\nCall-ID: 1@192.168.1.10\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// ICMP port unreachable from `src` to `dst` quoting `quoted`.
fn unreachable(src: &str, dst: &str, quoted: &[u8]) -> Vec<u8> {
    icmp(src, dst, 3, 3, 0, quoted)
}

fn timeout<St: Storage>(t: &ConnTable<St>, v: &Verdict, now: Instant) -> u32 {
    t.get(v.entry().unwrap(), now).unwrap().timeout()
}

#[test]
fn sip_udp_timeout_refreshed_by_original_direction_icmp_error_only() {
    let mut t = table();
    let v = t.track(at(0), &udp(C, 5060, S, 5060, &sip("OPTIONS sip:bob@198.51.100.20 SIP/2.0")));
    assert_eq!(timeout(&t, &v, at(0)), 3600);
    let ok = udp(S, 5060, C, 5060, &sip("SIP/2.0 200 OK"));
    let v = t.track(at(1), &ok);
    assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
    assert_eq!(timeout(&t, &v, at(1)), 3600);
    // The client's host reports the server's datagram undeliverable:
    // RELATED in the original direction, and the helper refreshes the entry
    // (Linux 6.18: 3600, not 3596).
    let v = t.track(at(5), &unreachable(C, S, &ok));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Original)));
    assert!(!v.must_drop());
    assert_eq!(timeout(&t, &v, at(5)), 3600);
    // The server's host reports the client's datagram: RELATED in the reply
    // direction, no helper, the deadline stays (3600 - 5).
    let opts = udp(C, 5060, S, 5060, &sip("OPTIONS sip:bob@198.51.100.20 SIP/2.0"));
    let _ = t.track(at(10), &opts);
    let v = t.track(at(15), &unreachable(S, C, &opts));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Reply)));
    assert_eq!(timeout(&t, &v, at(15)), 3595);
}

/// What the helper parses is the ICMP message past 8 bytes: the quoted IP
/// header first, which is no SIP method, so a quoted INVITE with SDP
/// expects no media (and drops nothing), while the refresh still happens.
#[test]
fn sip_helper_reads_the_quoted_ip_header_not_the_quoted_message() {
    let mut t = table();
    let _ = t.track(at(0), &udp(C, 5060, S, 5060, &sip("OPTIONS sip:bob@198.51.100.20 SIP/2.0")));
    let _ = t.track(at(1), &udp(S, 5060, C, 5060, &sip("SIP/2.0 200 OK")));
    let sdp = "v=0\r\no=- 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:alice@192.168.1.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060\r\n\
         From: <sip:bob@198.51.100.20>\r\nTo: <sip:alice@192.168.1.10>\r\nCall-ID: 2@x\r\n\
         CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    // Sent as itself by the server, this INVITE would expect RTP and RTCP.
    let quoted = udp(S, 5060, C, 5060, invite.as_bytes());
    let v = t.track(at(7), &unreachable(C, S, &quoted));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Original)));
    assert!(!v.must_drop());
    assert_eq!(timeout(&t, &v, at(7)), 3600);
    assert_eq!(t.expectations(at(7)).count(), 0);
    let _ = t.track(at(8), &quoted);
    assert_eq!(t.expectations(at(8)).count(), 2, "the INVITE itself expects media");
}

/// TFTP reads its opcode where the quoted IP header begins (0x45..): never a
/// read or write request, so an original-direction error expects nothing.
#[test]
fn tftp_original_direction_icmp_error_expects_nothing() {
    let mut t = table();
    let rrq = udp(C, 40000, S, 69, b"\x00\x01file\x00octet\x00");
    let _ = t.track(at(0), &rrq);
    assert_eq!(t.expectations(at(0)).count(), 1);
    let data = udp(S, 40000, C, 40000, b"\x00\x03\x00\x01data");
    // The server answers from a new port (the expected connection), so
    // quote a reply of the control entry itself.
    let reply = udp(S, 69, C, 40000, b"\x00\x01file\x00octet\x00");
    let v = t.track(at(1), &unreachable(C, S, &reply));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Original)));
    assert!(!v.must_drop());
    assert_eq!(t.expectations(at(1)).count(), 1, "no second expectation");
    assert_eq!(t.track(at(2), &data).state(), Some(CtState::Related));
}

/// The same over IPv6: an ICMPv6 error in the original direction refreshes
/// the SIP entry.
#[test]
#[cfg(not(feature = "ipv4-only"))] // IPv6 only
fn sip_udp_ipv6_original_direction_icmpv6_error_refreshes() {
    const C6: &str = "2001:db8::10";
    const S6: &str = "2001:db8::20";
    let mut t = table();
    let _ = t.track(at(0), &udp(C6, 5060, S6, 5060, &sip("OPTIONS sip:bob@[2001:db8::20] SIP/2.0")));
    let ok = udp(S6, 5060, C6, 5060, &sip("SIP/2.0 200 OK"));
    let _ = t.track(at(1), &ok);
    let v = t.track(at(9), &icmp(C6, S6, 1, 4, 0, &ok));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Original)));
    assert_eq!(timeout(&t, &v, at(9)), 3600);
    let opts = udp(C6, 5060, S6, 5060, &sip("OPTIONS sip:bob@[2001:db8::20] SIP/2.0"));
    let v = t.track(at(12), &icmp(S6, C6, 1, 4, 0, &opts));
    assert_eq!((v.state(), v.dir()), (Some(CtState::Related), Some(Direction::Reply)));
    assert_eq!(timeout(&t, &v, at(12)), 3600 - 3);
}
