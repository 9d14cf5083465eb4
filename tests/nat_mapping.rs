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
//! port (a mapping kept across destinations), or another. It must be the
//! same, except the deliberate differences that
//! `tests/data/nat-map/known-differences.txt` lists (exactly those). A
//! flow that differs is named with what may explain it, in a round's
//! files: a source given another's end by chance, or the destinations'
//! public addresses grouped differently (the address is a hash of the
//! client's and the destination's: Linux's without a secret,
//! `linux_pick()`, ctrack's keyed).

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

/// Linux's `jhash2()` (`include/linux/jhash.h`: Bob Jenkins' lookup3 of
/// 32-bit words).
fn jhash2(k: &[u32], initval: u32) -> u32 {
    let init = 0xdead_beef_u32.wrapping_add((k.len() as u32) << 2).wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = k;
    while k.len() > 3 {
        a = a.wrapping_add(k[0]);
        b = b.wrapping_add(k[1]);
        c = c.wrapping_add(k[2]);
        a = a.wrapping_sub(c) ^ c.rotate_left(4);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a) ^ a.rotate_left(6);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b) ^ b.rotate_left(8);
        b = b.wrapping_add(a);
        a = a.wrapping_sub(c) ^ c.rotate_left(16);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a) ^ a.rotate_left(19);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b) ^ b.rotate_left(4);
        b = b.wrapping_add(a);
        k = &k[3..];
    }
    if k.is_empty() {
        return c;
    }
    if k.len() == 3 {
        c = c.wrapping_add(k[2]);
    }
    if k.len() >= 2 {
        b = b.wrapping_add(k[1]);
    }
    a = a.wrapping_add(k[0]);
    c = (c ^ b).wrapping_sub(b.rotate_left(14));
    a = (a ^ c).wrapping_sub(c.rotate_left(11));
    b = (b ^ a).wrapping_sub(a.rotate_left(25));
    c = (c ^ b).wrapping_sub(b.rotate_left(16));
    a = (a ^ c).wrapping_sub(c.rotate_left(4));
    b = (b ^ a).wrapping_sub(a.rotate_left(14));
    (c ^ b).wrapping_sub(b.rotate_left(24))
}

/// The public address Linux's source NAT picks in the range `lo`-`hi` for
/// a connection from `src` to `dst` (`nf_nat_core.c:
/// find_best_ips_proto()`): a hash of the two addresses without a
/// secret, the same on every machine and boot (x86's byte order).
fn linux_pick(src: IpAddr, dst: IpAddr, lo: IpAddr, hi: IpAddr) -> IpAddr {
    // An address as the kernel's 16 bytes (IPv4 in the first 4).
    let bytes = |a: IpAddr| match a {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    };
    // Its words in memory (`all[i]`), and in host order (`ntohl`).
    let raw = |b: &[u8; 16], i: usize| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
    let host = |b: &[u8; 16], i: usize| u32::from_be_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
    let (s, d, lo, hi) = (bytes(src), bytes(dst), bytes(lo), bytes(hi));
    let last = if src.is_ipv4() { 0 } else { 3 };
    let mut j = jhash2(&[raw(&s, 0), raw(&s, 1), raw(&s, 2), raw(&s, 3)], raw(&d, last));
    let mut out = lo;
    let mut full_range = false;
    for i in 0..=last {
        // (The first words where the range's ends agree are theirs; after
        // the first that differs, any value.)
        let (min, dist) = if full_range {
            (0, u32::MAX)
        } else {
            (host(&lo, i), host(&hi, i).wrapping_sub(host(&lo, i)).wrapping_add(1))
        };
        let w = min.wrapping_add(((u64::from(j) * u64::from(dist)) >> 32) as u32);
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
        full_range |= w != host(&hi, i);
        j ^= raw(&d, i);
    }
    if src.is_ipv4() { IpAddr::from(<[u8; 4]>::try_from(&out[..4]).unwrap()) } else { IpAddr::from(out) }
}

/// The table the flows go through.
fn table() -> FixedConnTable<256, 128> {
    ConnTable::new(HashKey([0x17; 16]), Config::default())
}

/// The public address ctrack's source NAT picks in `rule`'s range for a
/// connection from `src` to `dst` (a keyed hash of the two): the source
/// of a first datagram.
fn ctrack_pick(rule: &NatRule, src: &str, dst: &str) -> IpAddr {
    let mut t = table();
    let mut p = udp(src, 40000, dst, 9, b"");
    let mut v = t.classify(Instant::from_secs(100), &p, Meta::default());
    t.nat(&v, rule).unwrap();
    t.confirm(&mut v, &p).unwrap();
    t.translate(&v, &mut p).unwrap();
    source(&p).0
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
        // Each destination's public address is a hash of the client's
        // and its own, Linux's without a secret and ctrack's keyed: where
        // the two group the destinations differently, a source's earlier
        // end may be free towards a destination in one and taken in the
        // other (several addresses, ICMP to several of the server's).
        let regrouped = m["addrs"].as_str().unwrap().split_once('-').is_some_and(|(lo, hi)| {
            let mut dsts: Vec<_> = input.iter().map(|f| f.dst.as_str()).collect();
            dsts.sort();
            dsts.dedup();
            let picks: Vec<_> = dsts
                .iter()
                .map(|&d| {
                    (linux_pick(ip(hosts.client), ip(d), ip(lo), ip(hi)), ctrack_pick(&rule, hosts.client, d))
                })
                .collect();
            picks.iter().any(|a| picks.iter().any(|b| (a.0 == b.0) != (a.1 == b.1)))
        });
        for i in 0..want.len() {
            compared += 1;
            if want[i] == got[i] {
                continue;
            }
            if known.contains(&(name.clone(), i)) {
                listed.push((name.clone(), i));
            } else {
                let note = match (chance, regrouped) {
                    (Some(who), _) => format!(" ({who} gave one source port another's end by chance)"),
                    (_, true) => {
                        " (Linux and ctrack group the destinations' public addresses differently)".into()
                    }
                    _ => String::new(),
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
