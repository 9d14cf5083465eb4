//! Source NAT's port mapping, against the Linux kernel's (`nf_nat_core.c:
//! get_unique_tuple()`, `find_appropriate_src()`): each file in
//! `tests/data/nat-map/` holds flows that a client sent through a router
//! whose kernel translated them with a plain `snat` rule (one or a range
//! of addresses, a port range or none, no helper) — UDP datagrams or TCP
//! connections from a few source ports to a few ports of a server, or ICMP
//! echo requests with a few identifiers (the key NAT maps, as a port) to a
//! few of the server's addresses — and the source each reached the server
//! from (`tests/differential/nat_oracle.py`, its mapping mode). The
//! kernel picks a first port at random and ctrack by a hash, so what is
//! compared is the pattern of the flows' public ends: dropped, the source
//! port (identifier) kept, the end of an earlier flow of the same source
//! port (a mapping kept across destinations), or another; and the public
//! address itself, which both pick alike (`find_best_ips_proto()`). They
//! must be the same, except the deliberate differences that
//! `tests/data/nat-map/known-differences.txt` lists (exactly those). A
//! flow that differs in a round's files is named with what may explain
//! it: a source given another's end by chance.
//!
//! The files with `"nat": "dnat"` (`dnat-*.json`) hold the same for
//! destination NAT (port forwarding): flows from the client to one of the
//! router's public addresses and ports, which its kernel translated with
//! a plain `dnat` rule (one or a range of the server's addresses, a port
//! range or none), and where each reached the server and from. Linux
//! draws nothing there (the address by `find_best_ips_proto()`, the port
//! kept or searched from the range's first), so both ends are compared
//! exactly. A flow that Linux passed and ctrack dropped is named with
//! what explains it: Linux's null binding at POST_ROUTING gave it another
//! source (its translated tuple was taken).

mod common;

use std::net::IpAddr;

use common::*;
use ctrack::nat::NatRule;
use ctrack::*;

/// The client, the server and the router's (first) public address of a
/// family, as `nat_oracle.py` sets them up.
struct Hosts {
    client: &'static str,
    server: &'static str,
    public: &'static str,
}

const V4: Hosts = Hosts { client: "10.0.0.5", server: "198.51.100.7", public: "203.0.113.1" };
const V6: Hosts = Hosts { client: "fd00::5", server: "2001:db8:1::7", public: "2001:db8:ffff::1" };

/// The rule of a file's `mapping`, source or destination NAT (`dnat`):
/// `addrs` "A" or "A-B", `ports` "P", "P-Q" or none.
fn rule(dnat: bool, addrs: &str, ports: Option<&str>) -> NatRule {
    let r = match (addrs.split_once('-'), dnat) {
        (Some((lo, hi)), false) => NatRule::snat_range(ip(lo), ip(hi)),
        (None, false) => NatRule::snat(ip(addrs)),
        (Some((lo, hi)), true) => NatRule::dnat_range(ip(lo), ip(hi)),
        (None, true) => NatRule::dnat(ip(addrs)),
    };
    match ports {
        Some(p) => {
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            r.ports(lo.parse().unwrap(), hi.parse().unwrap())
        }
        None => r,
    }
}

/// The table the flows go through.
fn table() -> FixedConnTable<256, 128> {
    ConnTable::new(HashKey([0x17; 16]), Config::default())
}

/// A file's protocol (`proto`; UDP if it names none).
#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Udp,
    Tcp,
    Icmp,
}

/// A flow: its source port (the key source NAT maps; for ICMP the echo
/// request's identifier, the key either NAT maps) and where it goes (the
/// server and a port of it, or a public address and port for destination
/// NAT; for ICMP an address, port 0).
struct Flow {
    key: u16,
    dst: String,
    dport: u16,
}

/// The client's numbers and the server's, in ctrack's TCP handshakes.
const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 7000;

/// The source and the destination of packet `p`: address and key (port;
/// ICMP identifier, the same for both).
fn ends(p: &[u8]) -> ((IpAddr, u16), (IpAddr, u16)) {
    let (s, d, proto, l4) = if p[0] >> 4 == 4 {
        let a = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&p[at..at + 4]).unwrap());
        (a(12), a(16), p[9], &p[usize::from(p[0] & 15) * 4..])
    } else {
        let a = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&p[at..at + 16]).unwrap());
        (a(8), a(24), p[6], &p[40..])
    };
    let key = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    if proto == 1 || proto == 58 { ((s, key(4)), (d, key(4))) } else { ((s, key(0)), (d, key(2))) }
}

/// `addr:key` as `nat_oracle.py` writes it (IPv6 in brackets).
fn endpoint((a, k): (IpAddr, u16)) -> String {
    if a.is_ipv4() { format!("{a}:{k}") } else { format!("[{a}]:{k}") }
}

/// Track the answer or the next packet `p` of an established flow and
/// translate it; it must belong to the flow, in direction `dir`.
fn pass(t: &mut FixedConnTable<256, 128>, now: Instant, mut p: Vec<u8>, dir: Direction) {
    let v = t.track(now, &p);
    assert_eq!(v.dir(), Some(dir), "the replay's packet is not its flow's");
    t.translate(&v, &mut p).unwrap();
}

/// A flow as it left ctrack: the source and destination of its packet
/// after translation, and whether its connection's source is translated
/// (`Status::SRC_NAT`).
struct Sent {
    from: String,
    to: String,
    src_nat: bool,
}

/// The flows through ctrack: for each, how it left (`Sent`), or `None` if
/// it was dropped. The server answers as it does to the kernel: a SYN with
/// its SYN-ACK (from where the SYN went to where it came from), which the
/// client's ACK completes; an echo request with its reply. A TCP flow
/// repeated is a segment on its connection, or its SYN again if that was
/// dropped.
fn through_ctrack(h: &Hosts, proto: Proto, rule: &NatRule, flows: &[Flow]) -> Vec<Option<Sent>> {
    let mut t = table();
    let now = Instant::from_secs(100);
    let six = h.client.contains(':');
    // The TCP connections established: the client's next sequence number.
    let mut established = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        let data = format!("flow {i}");
        let conn = (f.key, f.dst.as_str(), f.dport);
        let seq = established.get(&conn).copied();
        let mut p = match (proto, seq) {
            (Proto::Udp, _) => udp(h.client, f.key, &f.dst, f.dport, data.as_bytes()),
            (Proto::Tcp, None) => tcp(h.client, f.key, &f.dst, f.dport, SYN, CLIENT_ISN, 0, 65535, b""),
            (Proto::Tcp, Some(seq)) => {
                tcp(h.client, f.key, &f.dst, f.dport, ACK | PSH, seq, SERVER_ISN + 1, 65535, data.as_bytes())
            }
            (Proto::Icmp, _) => icmp(h.client, &f.dst, if six { 128 } else { 8 }, 0, f.key, data.as_bytes()),
        };
        let mut v = t.classify(now, &p, Meta::default());
        // A connection's first packet is bound; a repeat is the same
        // connection, bound already.
        let first = matches!(&v, Verdict::Tracked(tr) if tr.is_unconfirmed());
        if first && t.nat(&v, rule).is_err() {
            t.discard(&v);
            out.push(None);
            continue;
        }
        if !(t.confirm(&mut v, &p).is_ok() && t.translate(&v, &mut p).is_ok()) {
            out.push(None);
            continue;
        }
        let (from, to) = ends(&p);
        let status = t.get(v.entry().unwrap(), now).unwrap().status();
        let (src, dst) = (from.0.to_string(), to.0.to_string());
        match (proto, seq) {
            (Proto::Tcp, None) => {
                let ack = CLIENT_ISN + 1;
                let synack = tcp(&dst, to.1, &src, from.1, SYN | ACK, SERVER_ISN, ack, 65535, b"");
                pass(&mut t, now, synack, Direction::Reply);
                let ack = tcp(h.client, f.key, &f.dst, f.dport, ACK, ack, SERVER_ISN + 1, 65535, b"");
                pass(&mut t, now, ack, Direction::Original);
                established.insert(conn, CLIENT_ISN + 1);
            }
            (Proto::Tcp, Some(seq)) => {
                established.insert(conn, seq + data.len() as u32);
            }
            (Proto::Icmp, _) => {
                let reply = icmp(&dst, &src, if six { 129 } else { 0 }, 0, to.1, data.as_bytes());
                pass(&mut t, now, reply, Direction::Reply);
            }
            (Proto::Udp, _) => {}
        }
        out.push(Some(Sent {
            from: endpoint(from),
            to: endpoint(to),
            src_nat: status.contains(Status::SRC_NAT),
        }));
    }
    out
}

/// The port of `addr:port`.
fn port(end: &str) -> u16 {
    end.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// Each flow's public end, as what it is to the flows before it:
/// "dropped", "kept" (its source port or identifier, `sports[i]`), "same
/// as flow J" (the first earlier flow of the same source port or
/// identifier with the same address and port) or "new". The ends themselves depend on a random pick (Linux) or a hash
/// (ctrack); their pattern does not.
fn pattern(sports: &[u16], ends: &[Option<String>]) -> Vec<String> {
    let name = |i: usize, end: &String| {
        if port(end) == sports[i] {
            return "kept".to_string();
        }
        match (0..i).find(|&j| sports[j] == sports[i] && ends[j].as_ref() == Some(end)) {
            Some(j) => format!("same as flow {j}"),
            None => "new".to_string(),
        }
    };
    ends.iter().enumerate().map(|(i, e)| e.as_ref().map_or("dropped".to_string(), |e| name(i, e))).collect()
}

/// A source NAT file's flows whose public ends differ in pattern or
/// address (rule's `ports` as the file gives them), with what each was in
/// Linux and in ctrack; one named with what may explain it if Linux, or
/// ctrack, gave a source port (identifier) by chance (its random pick,
/// its hash; from a range of several ports) the end of another, towards
/// another destination, or the port another would keep: a later choice
/// may follow from it.
fn snat_differences(
    ports: Option<&str>,
    flows: &[Flow],
    linux: &[Option<String>],
    ours: &[Option<String>],
) -> Vec<(usize, String)> {
    let sports: Vec<_> = flows.iter().map(|f| f.key).collect();
    let (want, got) = (pattern(&sports, linux), pattern(&sports, ours));
    let shared = |ends: &[Option<String>]| {
        ports.is_some_and(|p| p.contains('-'))
            && (0..ends.len()).any(|i| {
                ends[i].as_ref().is_some_and(|e| {
                    (0..ends.len()).any(|j| {
                        sports[i] != sports[j] && (ends[j].as_ref() == Some(e) || port(e) == sports[j])
                    })
                })
            })
    };
    let note = match (shared(linux), shared(ours)) {
        (true, _) => " (Linux gave one source port another's end by chance)",
        (_, true) => " (ctrack gave one source port another's end by chance)",
        _ => "",
    };
    // (The address of an end, which must be the same.)
    let address = |e: &Option<String>| e.as_ref().map(|e| e.rsplit_once(':').unwrap().0.to_string());
    (0..want.len())
        .filter(|&i| want[i] != got[i] || address(&linux[i]) != address(&ours[i]))
        .map(|i| {
            (
                i,
                format!(
                    "{note}:\n  linux:  {} ({:?})\n  ctrack: {} ({:?})",
                    want[i], linux[i], got[i], ours[i]
                ),
            )
        })
        .collect()
}

/// A destination NAT file's flows that differ, with what each was in Linux
/// and in ctrack (`from` and `seen`: where it came from and arrived at, or
/// dropped). Both ends are compared exactly, but where the source was
/// translated too: when the destination's tuple is taken (a one-port
/// range, a range of fewer ports than a source's flows, or none and two
/// public addresses that lead to one server address), Linux's destination
/// NAT keeps it, and the connection's null binding at POST_ROUTING (source
/// NAT to its own address, `nf_nat_alloc_null_binding()`) gives it another
/// source port (identifier), at random. So where ctrack's connection has
/// source NAT too, the addresses are compared and, for ports, the
/// destination and that the source port is another than the client's in
/// both. A flow that Linux passed so and ctrack dropped, or that went to
/// another address of the range, is named so.
fn dnat_differences(
    h: &Hosts,
    proto: Proto,
    flows: &[Flow],
    linux: &[Option<(String, String)>],
    ours: &[Option<Sent>],
) -> Vec<(usize, String)> {
    let address = |e: &str| e.rsplit_once(':').unwrap().0.to_string();
    let show = |e: Option<(&str, &str)>| match e {
        Some((from, seen)) => format!("from {from} to {seen}"),
        None => "dropped".to_string(),
    };
    let mut out = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        // (Over ICMP the identifier is both ends' key: destination NAT
        // may change it.)
        let own = |from: &str| proto == Proto::Icmp || from == endpoint((ip(h.client), f.key));
        let same = match (&linux[i], &ours[i]) {
            (None, None) => true,
            (Some((from, seen)), Some(o)) if o.src_nat => {
                address(from) == address(&o.from)
                    && (proto == Proto::Icmp && address(seen) == address(&o.to)
                        || *seen == o.to && !own(from) && !own(&o.from))
            }
            (Some((from, seen)), Some(o)) => *from == o.from && *seen == o.to,
            _ => false,
        };
        if same {
            continue;
        }
        let note = match (&linux[i], &ours[i]) {
            (Some((from, _)), None) if !own(from) || proto == Proto::Icmp => {
                " (Linux's null binding gave it another source: the tuple was taken)"
            }
            (Some((_, seen)), Some(o)) if address(seen) != address(&o.to) => {
                " (another address of the range)"
            }
            _ => "",
        };
        let linux = linux[i].as_ref().map(|(from, seen)| (from.as_str(), seen.as_str()));
        let ours = ours[i].as_ref().map(|o| (o.from.as_str(), o.to.as_str()));
        out.push((i, format!("{note}:\n  linux:  {}\n  ctrack: {}", show(linux), show(ours))));
    }
    out
}

#[test]
fn source_port_mapping_is_the_kernels() {
    // (`CTRACK_NAT_MAP_DIR`: another directory, e.g. a differential round's; the
    // deliberate differences: "FILE FLOW reason" lines.)
    let Scenarios { docs, known, skipped } = scenarios("CTRACK_NAT_MAP_DIR", "nat-map");
    let (mut compared, mut bad, mut listed) = (0, Vec::new(), Vec::new());
    for (name, doc) in &docs {
        let hosts = if is_ipv6(doc) { &V6 } else { &V4 };
        let dnat = doc["nat"].as_str() == Some("dnat");
        let m = &doc["mapping"];
        let rule = rule(dnat, m["addrs"].as_str().unwrap(), m["ports"].as_str());
        let proto = match doc["proto"].as_str() {
            None | Some("udp") => Proto::Udp,
            Some("tcp") => Proto::Tcp,
            Some("icmp") => Proto::Icmp,
            Some(p) => panic!("{name}: protocol {p}"),
        };
        let number = |f: &serde_json::Value, k: &str| f[k].as_u64().unwrap() as u16;
        let flows: Vec<_> = doc["flows"].as_array().unwrap().iter().collect();
        let input: Vec<_> = flows
            .iter()
            .map(|f| {
                // Where it goes: its `dst` (ICMP; destination NAT), else
                // the server (source NAT) or the first public address.
                let dst =
                    f["dst"].as_str().unwrap_or(if dnat { hosts.public } else { hosts.server }).to_string();
                match proto {
                    Proto::Icmp => Flow { key: number(f, "id"), dst, dport: 0 },
                    _ => Flow { key: number(f, "sport"), dst, dport: number(f, "dport") },
                }
            })
            .collect();
        let ours = through_ctrack(hosts, proto, &rule, &input);
        compared += flows.len();
        let differences = if dnat {
            let linux: Vec<_> = flows
                .iter()
                .map(|f| {
                    f["seen"].as_str().map(|seen| (f["from"].as_str().unwrap().to_string(), seen.to_string()))
                })
                .collect();
            dnat_differences(hosts, proto, &input, &linux, &ours)
        } else {
            let linux: Vec<_> = flows.iter().map(|f| f["seen"].as_str().map(String::from)).collect();
            let ours: Vec<_> = ours.into_iter().map(|e| e.map(|s| s.from)).collect();
            snat_differences(m["ports"].as_str(), &input, &linux, &ours)
        };
        for (i, what) in differences {
            if known.contains(&(name.clone(), i)) {
                listed.push((name.clone(), i));
                continue;
            }
            let (k, to) = (
                input[i].key,
                if dnat { endpoint((ip(&input[i].dst), input[i].dport)) } else { input[i].dport.to_string() },
            );
            let flow = match proto {
                Proto::Icmp => format!("icmp id {k} -> {}", input[i].dst),
                Proto::Tcp => format!("tcp {k} -> {to}"),
                Proto::Udp => format!("udp {k} -> {to}"),
            };
            bad.push(format!("{name} flow {i} ({flow}){what}"));
        }
    }
    settle("nat mapping", "flows", compared, &bad, &listed, &known, &skipped);
}
