//! SIP through source NAT, against the Linux kernel's `nf_nat_sip`: each
//! file in `tests/data/nat/` holds UDP messages a client (10.0.0.5, port
//! 5060 or the file's `client_port`) and a server (198.51.100.7:5060) sent through a router whose kernel
//! translated the client to 203.0.113.1:6000 with the `sip` helper, and
//! what arrived on the other side (`tests/differential/nat_oracle.py`).
//! The same messages go through a ctrack table with the same rule, and
//! what leaves it must be the same bytes from the same address and port,
//! or be dropped where the kernel dropped. Probes, new flows from the
//! server to the public address, check the expectations the messages made
//! (media, registrations): they reach the client where they were expected.
#![cfg(all(feature = "nat-helpers", feature = "helper-sip"))]

mod common;

use std::net::IpAddr;

use common::*;
use ctrack::nat::NatRule;
use ctrack::*;

const CLIENT: &str = "10.0.0.5";
const SERVER: &str = "198.51.100.7";
const PUBLIC: &str = "203.0.113.1";
const PORT: u16 = 5060;
const PUBLIC_PORT: u16 = 6000;

/// What left: source and destination `addr:port`, and the payload.
type Leaving = (String, String, String);

/// The packet `p` (IPv4, UDP) as it left.
fn leaving(p: &[u8]) -> Leaving {
    let src = IpAddr::from([p[12], p[13], p[14], p[15]]);
    let dst = IpAddr::from([p[16], p[17], p[18], p[19]]);
    let port = |i: usize| u16::from_be_bytes([p[i], p[i + 1]]);
    (
        format!("{src}:{}", port(20)),
        format!("{dst}:{}", port(22)),
        String::from_utf8_lossy(&p[28..]).into_owned(),
    )
}

/// The messages of one file through ctrack: for each, what left it, or
/// `None` if it was dropped.
/// Where a message comes from.
enum From {
    Client,
    Server,
    /// A new flow from this port of the server to this port of the
    /// public address, which reaches the client only if expected.
    Probe(u16, u16),
}

fn through_ctrack(client_port: u16, messages: &[(From, Vec<u8>)]) -> Vec<Option<Leaving>> {
    let mut t: FixedConnTable<256, 128> = ConnTable::new(HashKey([0x17; 16]), Config::default());
    t.add_builtin_helper(helper::builtin("sip").unwrap()).unwrap();
    let now = Instant::from_secs(100);
    let mut out = Vec::new();
    for (i, (from, payload)) in messages.iter().enumerate() {
        let packet = match from {
            From::Client => udp(CLIENT, client_port, SERVER, PORT, payload),
            From::Server => udp(SERVER, PORT, PUBLIC, PUBLIC_PORT, payload),
            From::Probe(sport, port) => udp(SERVER, *sport, PUBLIC, *port, payload),
        };
        let mut v = t.classify(now, &packet, Meta::default());
        // An unexpected probe has no route on the kernel's router: dropped
        // there before its entry is confirmed.
        if matches!(from, From::Probe(..)) && v.state() != Some(CtState::Related) {
            t.discard(&v);
            out.push(None);
            continue;
        }
        if i == 0 {
            t.nat(&v, &NatRule::snat(PUBLIC.parse().unwrap()).ports(PUBLIC_PORT, PUBLIC_PORT)).unwrap();
        }
        let confirmed = t.confirm(&mut v, &packet);
        let dropped = confirmed.is_err()
            || v.state().is_none()
            || matches!(&v, Verdict::Tracked(tr) if tr.helper_drop().is_some());
        if dropped {
            out.push(None);
            continue;
        }
        let mut buf = packet.clone();
        buf.resize(packet.len() + 512, 0);
        match t.translate_in(&v, &mut buf, packet.len()) {
            Ok(n) => out.push(Some(leaving(&buf[..n]))),
            Err(_) => out.push(None),
        }
    }
    out
}

#[test]
fn sip_nat_is_the_kernels() {
    // (`CTRACK_NAT_DIR`: another directory, e.g. a differential round's.)
    let dir = std::env::var("CTRACK_NAT_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nat").to_string());
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    assert!(!files.is_empty());
    let (mut compared, mut bad) = (0, Vec::new());
    for f in &files {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let msgs = doc["messages"].as_array().unwrap();
        // The payloads are bytes, stored one char per byte (latin-1).
        let bytes =
            |v: &serde_json::Value| v.as_str().map(|s| s.chars().map(|c| c as u8).collect::<Vec<u8>>());
        let port = |m: &serde_json::Value, k: &str| m[k].as_u64().unwrap() as u16;
        let from = |m: &serde_json::Value| match m["from"].as_str().unwrap() {
            "client" => From::Client,
            "server" => From::Server,
            _ => From::Probe(port(m, "sport"), port(m, "port")),
        };
        let input: Vec<_> = msgs.iter().map(|m| (from(m), bytes(&m["payload"]).unwrap())).collect();
        let client_port = doc["client_port"].as_u64().map_or(PORT, |p| p as u16);
        let got = through_ctrack(client_port, &input);
        for (i, (m, g)) in msgs.iter().zip(&got).enumerate() {
            compared += 1;
            let text = |k: &str| m[k].as_str().unwrap().to_string();
            let want = bytes(&m["arrived"])
                .map(|b| (text("peer"), text("to"), String::from_utf8_lossy(&b).into_owned()));
            if want != *g {
                bad.push(format!("{} message {i}:\n  linux:  {want:?}\n  ctrack: {g:?}", f.display()));
            }
        }
    }
    println!("nat parity: {} of {compared} messages as Linux", compared - bad.len());
    assert!(bad.is_empty(), "{} differ:\n{}", bad.len(), bad.join("\n"));
}
