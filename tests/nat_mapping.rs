//! Source NAT's port mapping, against the Linux kernel's (`nf_nat_core.c:
//! get_unique_tuple()`, `find_appropriate_src()`): each file in
//! `tests/data/nat-map/` holds UDP flows that a client sent, from a few
//! source ports to a few ports of a server, through a router whose kernel
//! translated them with a plain `snat` rule (one or a range of addresses,
//! a port range or none, no helper), and the source each reached the
//! server from (`tests/differential/nat_oracle.py`, its mapping mode). The
//! kernel picks a first port at random and ctrack by a hash, so what is
//! compared is the pattern of the flows' public ends: dropped, the source
//! port kept, the end of an earlier flow of the same source port (a
//! mapping kept across destinations), or another. It must be the same,
//! except the deliberate differences that
//! `tests/data/nat-map/known-differences.txt` lists (exactly those).

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

/// The source `addr:port` (IPv6 in brackets) of UDP datagram `p`.
fn source(p: &[u8]) -> String {
    if p[0] >> 4 == 4 {
        let a = IpAddr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap());
        format!("{a}:{}", u16::from_be_bytes([p[20], p[21]]))
    } else {
        let a = IpAddr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
        format!("[{a}]:{}", u16::from_be_bytes([p[40], p[41]]))
    }
}

/// The flows (source port, server port) through ctrack: for each, the
/// source it left with, or `None` if it was dropped.
fn through_ctrack(h: &Hosts, rule: &NatRule, flows: &[(u16, u16)]) -> Vec<Option<String>> {
    let mut t: FixedConnTable<256, 128> = ConnTable::new(HashKey([0x17; 16]), Config::default());
    let now = Instant::from_secs(100);
    let mut out = Vec::new();
    for (i, &(sport, dport)) in flows.iter().enumerate() {
        let mut p = udp(h.client, sport, h.server, dport, format!("flow {i}").as_bytes());
        let mut v = t.classify(now, &p, Meta::default());
        // A connection's first packet is bound; a repeat is the same
        // connection, bound already.
        let first = matches!(&v, Verdict::Tracked(tr) if tr.is_unconfirmed());
        if first && t.nat(&v, rule).is_err() {
            t.discard(&v);
            out.push(None);
            continue;
        }
        let passed = t.confirm(&mut v, &p).is_ok() && t.translate(&v, &mut p).is_ok();
        out.push(passed.then(|| source(&p)));
    }
    out
}

/// The port of `addr:port`.
fn port(end: &str) -> u16 {
    end.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// Each flow's public end, as what it is to the flows before it:
/// "dropped", "kept" (its source port), "same as flow J" (the first
/// earlier flow of the same source port with the same address and port)
/// or "new". The ends themselves depend on a random pick (Linux) or a hash
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
        let port_of = |f: &serde_json::Value, k: &str| f[k].as_u64().unwrap() as u16;
        let flows: Vec<_> = doc["flows"].as_array().unwrap().iter().collect();
        let input: Vec<_> = flows.iter().map(|f| (port_of(f, "sport"), port_of(f, "dport"))).collect();
        let sports: Vec<_> = input.iter().map(|&(s, _)| s).collect();
        let linux: Vec<_> = flows.iter().map(|f| f["seen"].as_str().map(String::from)).collect();
        let ours = through_ctrack(hosts, &rule, &input);
        let (want, got) = (pattern(&sports, &linux), pattern(&sports, &ours));
        // Two source ports the kernel gave the same end (towards different
        // destinations, from a range of several ports) by chance: a later
        // choice may follow from it.
        let chance = m["ports"].as_str().is_some_and(|p| p.contains('-'))
            && (0..linux.len()).any(|i| {
                (0..i).any(|j| linux[i].is_some() && linux[i] == linux[j] && sports[i] != sports[j])
            });
        for i in 0..want.len() {
            compared += 1;
            if want[i] == got[i] {
                continue;
            }
            if known.contains(&(name.clone(), i)) {
                listed.push((name.clone(), i));
            } else {
                let note = if chance { " (the kernel gave two source ports one end by chance)" } else { "" };
                bad.push(format!(
                    "{} flow {i} ({} -> {}){note}:\n  linux:  {} ({:?})\n  ctrack: {} ({:?})",
                    f.display(),
                    input[i].0,
                    input[i].1,
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
