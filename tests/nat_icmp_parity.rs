//! ICMP errors about NATed connections, against the Linux kernel's
//! translation of them (`nf_nat_proto.c: nf_nat_icmp_reply_translation()`,
//! `nf_nat_icmpv6_reply_translation()`): each file in
//! `tests/data/nat-icmp/` holds a flow (UDP, a TCP SYN or an echo request)
//! that a client opened through a router whose kernel translated it
//! (`snat` of the client to the public address, or `dnat` of the public
//! address to the server), the server's answer, and ICMP errors about the
//! flow that one side sent through the router — whole, cut short or
//! altered quotes, odd outer headers — with the bytes that reached the
//! other side (`tests/differential/nat_icmp_oracle.py`, which sends every
//! packet raw, so that the router got exactly the bytes recorded). The
//! same bytes go through a ctrack table with the same binding, and what
//! leaves it must be the same bytes, every checksum included, or be
//! dropped where the kernel dropped, except the differences that
//! `tests/data/nat-icmp/known-differences.txt` lists (exactly those; its
//! README says what each is). The binding is the kernel's (the public
//! port or identifier it picked, read from what the server received), and
//! the flow's packet and the answer must arrive as the kernel's did too. A
//! file with `"conntrack_checksum": 0` turned the router's
//! `nf_conntrack_checksum` off: so is the table's `Config::checksum`.
//!
//! The router's forwarding is done here: the TTL (hop limit) one less,
//! the IPv4 header checksum updated as `ip_decrease_ttl()` does, the
//! frame's trailer cut, and a packet reaches the other side only if its
//! destination is on that side's link. A packet that conntrack does not
//! relate to the connection (INVALID: no entry, a wrong outer
//! destination, a bad checksum) passes untranslated, as the kernel's
//! router forwards it without a conntrack entry.

mod common;

use std::net::IpAddr;

use common::*;
use ctrack::nat::NatRule;
use ctrack::*;

/// The hosts of a family as `nat_oracle.py` sets them up, and the
/// router's two links (address and prefix length).
struct Hosts {
    server: &'static str,
    public: &'static str,
    client_net: &'static str,
    server_net: &'static str,
    prefix: u32,
}

const V4: Hosts = Hosts {
    server: "198.51.100.7",
    public: "203.0.113.1",
    client_net: "10.0.0.0",
    server_net: "198.51.100.0",
    prefix: 24,
};
const V6: Hosts = Hosts {
    server: "2001:db8:1::7",
    public: "2001:db8:ffff::1",
    client_net: "fd00::",
    server_net: "2001:db8:1::",
    prefix: 64,
};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Where the layer-4 part of IP packet `p` starts (IPv6: after the
/// extension headers the oracle puts in) and its protocol.
fn l4(p: &[u8]) -> (usize, u8) {
    if p[0] >> 4 == 4 {
        return (usize::from(p[0] & 15) * 4, p[9]);
    }
    let (mut at, mut nh) = (40, p[6]);
    while matches!(nh, 0 | 60) {
        nh = p[at];
        at += (usize::from(p[at + 1]) + 1) * 8;
    }
    (at, nh)
}

fn destination(p: &[u8]) -> IpAddr {
    if p[0] >> 4 == 4 {
        IpAddr::from(<[u8; 4]>::try_from(&p[16..20]).unwrap())
    } else {
        IpAddr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap())
    }
}

/// Whether `a` is in the net `net`/`prefix`.
fn on_link(a: IpAddr, net: &str, prefix: u32) -> bool {
    match (a, ip(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) ^ u32::from(n)) >> (32 - prefix) == 0,
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a) ^ u128::from(n)) >> (128 - prefix) == 0,
        _ => false,
    }
}

/// What the kernel's router does to a packet it forwards, NAT aside: the
/// frame's trailer cut (`ip_rcv_core()`, `ip6_rcv_core()`), the TTL or
/// hop limit one less, and the IPv4 header checksum updated as
/// `ip_decrease_ttl()` does (one's complement addition of 0x0100).
fn forwarded(mut p: Vec<u8>) -> Vec<u8> {
    if p[0] >> 4 == 4 {
        p.truncate(usize::from(u16::from_be_bytes([p[2], p[3]])));
        p[8] -= 1;
        let c = u32::from(u16::from_be_bytes([p[10], p[11]])) + 0x0100;
        let c = c + u32::from(c >= 0xffff);
        p[10..12].copy_from_slice(&(c as u16).to_be_bytes());
    } else {
        p.truncate(40 + usize::from(u16::from_be_bytes([p[4], p[5]])));
        p[7] -= 1;
    }
    p
}

/// The router: ctrack's table in the kernel's place.
struct Router {
    t: FixedConnTable<64, 32>,
    now: Instant,
}

/// What became of a packet in ctrack: the bytes that left (before
/// forwarding), or why not, and what conntrack made of it.
struct Passed {
    out: Option<Vec<u8>>,
    seen: String,
}

impl Router {
    /// Classify `packet` (a frame's bytes), apply `rule` (the flow's
    /// first packet), confirm and translate it.
    fn pass(&mut self, packet: &[u8], rule: Option<NatRule>) -> Passed {
        let mut v = self.t.classify(self.now, packet, Meta::default());
        let seen = match &v {
            Verdict::Tracked(t) => format!("{:?} {:?}", t.state(), t.dir()),
            other => format!("{other:?}"),
        };
        if let Some(r) = rule {
            self.t.nat(&v, &r).unwrap();
        }
        if self.t.confirm(&mut v, packet).is_err() || v.must_drop() {
            return Passed { out: None, seen };
        }
        let mut buf = packet.to_vec();
        match self.t.translate_in(&v, &mut buf, packet.len()) {
            Ok(n) => {
                buf.truncate(n);
                Passed { out: Some(buf), seen }
            }
            Err(e) => Passed { out: None, seen: format!("{seen}, translation refused: {e:?}") },
        }
    }
}

/// The binding the kernel gave the flow, from what the server received
/// (`server_saw`): source NAT to the public address and the port (echo
/// identifier) the server saw it from, or destination NAT to the server
/// and the port it arrived at. (The kernel picks a port of a range at
/// random; `tests/nat_mapping.rs` compares the picks.)
fn binding(h: &Hosts, dnat: bool, saw: &[u8]) -> NatRule {
    let (at, proto) = l4(saw);
    let port = |i: usize| u16::from_be_bytes([saw[at + i], saw[at + i + 1]]);
    let icmp = matches!(proto, 1 | 58);
    if dnat {
        let p = if icmp { port(4) } else { port(2) };
        NatRule::dnat(ip(h.server)).ports(p, p)
    } else {
        let p = if icmp { port(4) } else { port(0) };
        NatRule::snat(ip(h.public)).ports(p, p)
    }
}

/// The first byte where two packets differ, and what is there.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("byte {i}: {:02x} vs {:02x}", a[i], b[i]),
        None => format!("lengths {} vs {}", a.len(), b.len()),
    }
}

#[test]
fn icmp_errors_about_nat_are_translated_as_linux_does() {
    // (`CTRACK_NAT_ICMP_DIR`: another directory, e.g. a differential
    // round's; the listed differences: "FILE ERROR reason" lines, ERROR
    // counting the file's errors from 0.)
    let Scenarios { docs, known, skipped } = scenarios("CTRACK_NAT_ICMP_DIR", "nat-icmp");
    let (mut compared, mut bad, mut listed) = (0, Vec::new(), Vec::new());
    for (name, doc) in &docs {
        let h = if is_ipv6(doc) { &V6 } else { &V4 };
        let dnat = doc["nat"] == "dnat";
        let bytes = |v: &serde_json::Value| v.as_str().map(unhex);
        // The router's nf_conntrack_checksum: on, unless the file turned
        // it off.
        let mut config = Config::default();
        config.checksum = doc["conntrack_checksum"] != 0;
        let mut r = Router { t: ConnTable::new(HashKey([0x17; 16]), config), now: Instant::from_secs(100) };

        // The flow's packet, given the kernel's binding (none where the
        // rule is for another protocol): the server must get what it got.
        let saw = bytes(&doc["server_saw"]).unwrap();
        let translated = doc["rule_proto"].is_null() || doc["rule_proto"] == doc["proto"];
        let p = r.pass(&bytes(&doc["client_sent"]).unwrap(), translated.then(|| binding(h, dnat, &saw)));
        let got = p.out.map(forwarded);
        if got.as_deref() != Some(&saw[..]) {
            bad.push(format!(
                "{}: the flow's packet\n  linux:  {}\n  ctrack: {:?}",
                name,
                hex(&saw),
                got.map(|g| hex(&g))
            ));
            continue;
        }
        if let Some(answer) = bytes(&doc["answer_sent"]) {
            let want = bytes(&doc["answer_arrived"]);
            let got = r.pass(&answer, None).out.map(forwarded);
            if got != want {
                bad.push(format!(
                    "{}: the answer\n  linux:  {:?}\n  ctrack: {:?}",
                    name,
                    want.map(|w| hex(&w)),
                    got.map(|g| hex(&g))
                ));
                continue;
            }
        }

        for (i, e) in doc["errors"].as_array().unwrap().iter().enumerate() {
            // (Nothing to quote: the oracle sent nothing.)
            let Some(sent) = bytes(&e["sent"]) else { continue };
            compared += 1;
            // It reaches the other side if its destination is there.
            let towards_client = !e["from"].as_str().unwrap().starts_with("client");
            let (net, side) =
                if towards_client { (h.client_net, "client") } else { (h.server_net, "server") };
            let p = r.pass(&sent, None);
            let got = p.out.filter(|o| on_link(destination(o), net, h.prefix)).map(forwarded);
            let mut want = bytes(&e["arrived"]);
            let also = e["also"].as_array().map_or(0, |a| a.len());
            if also > 0 {
                // (More than one packet arrived: no translation makes that.)
                want = None;
            }
            if got == want && also == 0 {
                continue;
            }
            if known.contains(&(name.clone(), i)) {
                listed.push((name.clone(), i));
                continue;
            }
            let why = match (&want, &got) {
                (Some(w), Some(g)) => first_difference(w, g),
                (Some(_), None) => "ctrack dropped it".into(),
                (None, Some(_)) => "Linux dropped it".into(),
                (None, None) => format!("{also} more packets arrived"),
            };
            bad.push(format!(
                "{} error {i} ({} to the {side}: {}, ctrack saw {}):\n  sent:   {}\n  linux:  {}\n  ctrack: {}",
                name,
                e["from"].as_str().unwrap(),
                why,
                p.seen,
                hex(&sent),
                want.map_or("dropped".into(), |w| hex(&w)),
                got.map_or("dropped".into(), |g| hex(&g)),
            ));
        }
    }
    settle("nat icmp parity", "errors", compared, &bad, &listed, &known, &skipped);
}
