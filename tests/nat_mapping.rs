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

mod common;

use std::net::IpAddr;

use common::*;
use ctrack::nat::NatRule;
use ctrack::*;

/// The client and the server of a family, as `nat_oracle.py` sets them up.
struct Hosts {
    client: &'static str,
    server: &'static str,
}

const V4: Hosts = Hosts { client: "10.0.0.5", server: "198.51.100.7" };
const V6: Hosts = Hosts { client: "fd00::5", server: "2001:db8:1::7" };

/// The rule of a file's `mapping`: `addrs` "A" or "A-B", `ports` "P",
/// "P-Q" or none.
fn rule(addrs: &str, ports: Option<&str>) -> NatRule {
    let r = match addrs.split_once('-') {
        Some((lo, hi)) => NatRule::snat_range(ip(lo), ip(hi)),
        None => NatRule::snat(ip(addrs)),
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

/// A flow: the key source NAT maps (the source port; the ICMP echo
/// request's identifier) and where it goes (the server and a port of it;
/// for ICMP one of the server's addresses, port 0).
struct Flow {
    key: u16,
    dst: String,
    dport: u16,
}

/// The client's numbers and the server's, in ctrack's TCP handshakes.
const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 7000;

/// The source address and key (port; ICMP identifier) of packet `p`.
fn source(p: &[u8]) -> (IpAddr, u16) {
    let (a, proto, l4) = if p[0] >> 4 == 4 {
        (IpAddr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap()), p[9], &p[usize::from(p[0] & 15) * 4..])
    } else {
        (IpAddr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap()), p[6], &p[40..])
    };
    let at = if proto == 1 || proto == 58 { 4 } else { 0 };
    (a, u16::from_be_bytes([l4[at], l4[at + 1]]))
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

/// The flows through ctrack: for each, the source it left with, or `None`
/// if it was dropped. The server answers as it does to the kernel: a SYN
/// with its SYN-ACK (to the public end), which the client's ACK
/// completes; an echo request with its reply. A TCP flow repeated is a
/// segment on its connection, or its SYN again if that was dropped.
fn through_ctrack(h: &Hosts, proto: Proto, rule: &NatRule, flows: &[Flow]) -> Vec<Option<String>> {
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
        let (public, key) = source(&p);
        let to = public.to_string();
        match (proto, seq) {
            (Proto::Tcp, None) => {
                let ack = CLIENT_ISN + 1;
                let synack = tcp(&f.dst, f.dport, &to, key, SYN | ACK, SERVER_ISN, ack, 65535, b"");
                pass(&mut t, now, synack, Direction::Reply);
                let ack = tcp(h.client, f.key, &f.dst, f.dport, ACK, ack, SERVER_ISN + 1, 65535, b"");
                pass(&mut t, now, ack, Direction::Original);
                established.insert(conn, CLIENT_ISN + 1);
            }
            (Proto::Tcp, Some(seq)) => {
                established.insert(conn, seq + data.len() as u32);
            }
            (Proto::Icmp, _) => {
                let reply = icmp(&f.dst, &to, if six { 129 } else { 0 }, 0, key, data.as_bytes());
                pass(&mut t, now, reply, Direction::Reply);
            }
            (Proto::Udp, _) => {}
        }
        out.push(Some(endpoint((public, key))));
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

#[test]
fn source_port_mapping_is_the_kernels() {
    // (`CTRACK_NAT_MAP_DIR`: another directory, e.g. a differential round's; the
    // deliberate differences: "FILE FLOW reason" lines.)
    let (files, known) = scenarios("CTRACK_NAT_MAP_DIR", "nat-map");
    let (mut compared, mut bad, mut listed) = (0, Vec::new(), Vec::new());
    let mut skipped_files = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let hosts = match doc["family"].as_u64() {
            Some(6) if cfg!(feature = "ipv4-only") => {
                skipped_files.push(name);
                continue;
            }
            Some(6) => &V6,
            _ => &V4,
        };
        let m = &doc["mapping"];
        let rule = rule(m["addrs"].as_str().unwrap(), m["ports"].as_str());
        let proto = match doc["proto"].as_str() {
            None | Some("udp") => Proto::Udp,
            Some("tcp") => Proto::Tcp,
            Some("icmp") => Proto::Icmp,
            Some(p) => panic!("{}: protocol {p}", f.display()),
        };
        let number = |f: &serde_json::Value, k: &str| f[k].as_u64().unwrap() as u16;
        let flows: Vec<_> = doc["flows"].as_array().unwrap().iter().collect();
        let input: Vec<_> = flows
            .iter()
            .map(|f| match proto {
                Proto::Icmp => {
                    Flow { key: number(f, "id"), dst: f["dst"].as_str().unwrap().to_string(), dport: 0 }
                }
                _ => {
                    Flow { key: number(f, "sport"), dst: hosts.server.to_string(), dport: number(f, "dport") }
                }
            })
            .collect();
        let sports: Vec<_> = input.iter().map(|f| f.key).collect();
        let linux: Vec<_> = flows.iter().map(|f| f["seen"].as_str().map(String::from)).collect();
        let ours = through_ctrack(hosts, proto, &rule, &input);
        let (want, got) = (pattern(&sports, &linux), pattern(&sports, &ours));
        // A source port (identifier) that Linux, or ctrack, gave by
        // chance (its random pick, its hash; from a range of several
        // ports) the end of another, towards another destination, or the
        // port another would keep: a later choice may follow from it.
        let shared = |ends: &[Option<String>]| {
            m["ports"].as_str().is_some_and(|p| p.contains('-'))
                && (0..ends.len()).any(|i| {
                    ends[i].as_ref().is_some_and(|e| {
                        (0..ends.len()).any(|j| {
                            sports[i] != sports[j] && (ends[j].as_ref() == Some(e) || port(e) == sports[j])
                        })
                    })
                })
        };
        let chance = match (shared(&linux), shared(&ours)) {
            (true, _) => Some("Linux"),
            (_, true) => Some("ctrack"),
            _ => None,
        };
        // (The address of an end, which must be the same.)
        let address = |e: &Option<String>| e.as_ref().map(|e| e.rsplit_once(':').unwrap().0.to_string());
        for i in 0..want.len() {
            compared += 1;
            if want[i] == got[i] && address(&linux[i]) == address(&ours[i]) {
                continue;
            }
            if known.contains(&(name.clone(), i)) {
                listed.push((name.clone(), i));
            } else {
                let note = match chance {
                    Some(who) => format!(" ({who} gave one source port another's end by chance)"),
                    None => String::new(),
                };
                let flow = match proto {
                    Proto::Icmp => format!("icmp id {} -> {}", input[i].key, input[i].dst),
                    Proto::Tcp => format!("tcp {} -> {}", input[i].key, input[i].dport),
                    Proto::Udp => format!("udp {} -> {}", input[i].key, input[i].dport),
                };
                bad.push(format!(
                    "{} flow {i} ({flow}){note}:\n  linux:  {} ({:?})\n  ctrack: {} ({:?})",
                    f.display(),
                    want[i],
                    linux[i],
                    got[i],
                    ours[i]
                ));
            }
        }
    }
    let skipped = match skipped_files.len() {
        0 => String::new(),
        n => format!(" ({n} IPv6 files skipped: ipv4-only)"),
    };
    println!(
        "nat mapping: {} of {compared} flows as Linux, {} listed differences{skipped}",
        compared - bad.len() - listed.len(),
        listed.len()
    );
    assert!(bad.is_empty(), "{} differ:\n{}", bad.len(), bad.join("\n"));
    // Each listed difference (of a file compared) is still one.
    for k in known.iter().filter(|k| !skipped_files.contains(&k.0)) {
        assert!(listed.contains(k), "{} flow {} is listed as differing but agrees", k.0, k.1);
    }
}
