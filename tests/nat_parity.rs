//! Helper NAT (SIP over UDP and TCP, FTP, IRC, TFTP, SNMP), against the
//! Linux kernel's (`nf_nat_sip`, `nf_nat_ftp`, `nf_nat_irc`, `nf_nat_tftp`,
//! `nf_nat_snmp_basic`):
//! each file in `tests/data/nat/` holds messages that a client and a
//! server sent through a router whose kernel translated the client to a
//! public address, port 6000, with the file's helper, and what arrived on
//! the other side (`tests/differential/nat_oracle.py`, which names the
//! addresses of each family). The same messages go through a ctrack table
//! with the same rule, and what leaves it must be the same bytes from and
//! to the same addresses and ports, or be dropped where the kernel
//! dropped, except the deliberate differences that
//! `tests/data/nat/known-differences.txt` lists (exactly those). Probes,
//! new flows from the server to the public address, check the
//! expectations the messages made (media, registrations, data
//! connections): they reach the client where they were expected.
#![cfg(all(
    feature = "nat-helpers",
    feature = "helper-sip",
    feature = "helper-ftp",
    feature = "helper-irc",
    feature = "helper-tftp",
    feature = "helper-snmp",
    feature = "helper-pptp"
))]

mod common;

use std::net::IpAddr;

use common::*;
use ctrack::nat::NatRule;
use ctrack::*;

const PORT: u16 = 5060;
const PUBLIC_PORT: u16 = 6000;

/// The client, the server and the public address of a family, as
/// `nat_oracle.py` sets them up.
struct Hosts {
    client: &'static str,
    server: &'static str,
    public: &'static str,
}

const V4: Hosts = Hosts { client: "10.0.0.5", server: "198.51.100.7", public: "203.0.113.1" };
const V6: Hosts = Hosts { client: "fd00::5", server: "2001:db8:1::7", public: "2001:db8:ffff::1" };

/// What left: source and destination `addr:port` (IPv6 in brackets), and
/// the payload.
type Leaving = (String, String, String);

/// The UDP datagram or TCP segment `p` as it left.
fn leaving(p: &[u8]) -> Leaving {
    let (src, dst, l4) = if p[0] >> 4 == 4 {
        (
            IpAddr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap()),
            IpAddr::from(<[u8; 4]>::try_from(&p[16..20]).unwrap()),
            20,
        )
    } else {
        (
            IpAddr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap()),
            IpAddr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap()),
            40,
        )
    };
    let end = |a: IpAddr, i: usize| {
        let port = u16::from_be_bytes([p[i], p[i + 1]]);
        if a.is_ipv6() { format!("[{a}]:{port}") } else { format!("{a}:{port}") }
    };
    let proto = if p[0] >> 4 == 4 { p[9] } else { p[6] };
    if proto == 47 {
        // GRE (as the oracle records it): the source with port 0, the
        // destination with the header's call id, the whole GRE packet.
        let call_id = u16::from_be_bytes([p[l4 + 6], p[l4 + 7]]);
        return (format!("{src}:0"), format!("{dst}:{call_id}"), latin1(&p[l4..]));
    }
    let data = if proto == 6 { l4 + usize::from(p[l4 + 12] >> 4) * 4 } else { l4 + 8 };
    (end(src, l4), end(dst, l4 + 2), latin1(&p[data..]))
}

/// Bytes as the scenarios store them: one char per byte (latin-1), so
/// that binary payloads (SNMP's) compare byte for byte.
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// The sequence number of TCP segment `p` and the length of its data.
fn seq_and_len(p: &[u8]) -> (u32, u32) {
    let l4 = if p[0] >> 4 == 4 { usize::from(p[0] & 15) * 4 } else { 40 };
    let seq = u32::from_be_bytes([p[l4 + 4], p[l4 + 5], p[l4 + 6], p[l4 + 7]]);
    (seq, (p.len() - l4 - usize::from(p[l4 + 12] >> 4) * 4) as u32)
}

/// A connection's setting: the family's hosts, the helper, the
/// translation (source NAT of the client, or destination NAT of the
/// server), the transport, the server's and the client's ports.
struct Setting<'a> {
    hosts: &'static Hosts,
    helper: &'a str,
    dnat: bool,
    tcp: bool,
    server_port: u16,
    client_port: u16,
}

/// Which packets pass, decided once a packet is classified.
enum Admit {
    /// Any, given this rule.
    Any(Option<NatRule>),
    /// Only a RELATED one (a probe: without an expectation the kernel's
    /// router has no route for it, and drops it before its entry is
    /// confirmed).
    Expected,
    /// A RELATED one, or a NEW one given this rule (a probe to the public
    /// port under destination NAT, which the rule sends on).
    ExpectedOrRule(NatRule),
    /// Any, a new (unconfirmed) connection given this rule (the client's
    /// datagrams: the kernel's rule binds every new connection, again
    /// after a first datagram a helper dropped before its entry was
    /// confirmed).
    RuleIfNew(NatRule),
    /// Not a new connection (the server's datagrams: one that would open
    /// a connection, its client's having been dropped, reaches the
    /// router's own public address and is not forwarded).
    NotNew,
    /// Any, without a rule (the nft rule translates TCP and UDP only),
    /// but a new connection to the router's own address is delivered
    /// there: confirmed, not forwarded (GRE packets).
    LocalIfNewTo([u8; 4]),
}

/// The client's end of a TCP connection, and the server's.
const CLIENT: usize = 0;
const SERVER: usize = 1;

/// The table and the ends' sequence numbers of the connection through it
/// ([`CLIENT`], [`SERVER`]): each end's next own number and the next
/// number it expects, as it sees them (translated).
struct Path {
    t: FixedConnTable<256, 128>,
    now: Instant,
    next: [u32; 2],
    expects: [u32; 2],
}

impl Path {
    /// Classify `packet`, apply `rule` (the first packet), confirm and
    /// translate it: what left, or `None` if it was dropped.
    fn pass(&mut self, packet: &[u8], rule: Option<NatRule>) -> Option<Vec<u8>> {
        self.pass_as(packet, Admit::Any(rule))
    }

    /// [`Path::pass`] with `admit` deciding, once the packet is
    /// classified, whether it passes and with which rule.
    fn pass_as(&mut self, packet: &[u8], admit: Admit) -> Option<Vec<u8>> {
        let mut v = self.t.classify(self.now, packet, Meta::default());
        let related = v.state() == Some(CtState::Related);
        let rule = match admit {
            Admit::Any(rule) => rule,
            Admit::Expected | Admit::ExpectedOrRule(_) if related => None,
            Admit::ExpectedOrRule(rule) if v.state() == Some(CtState::New) => Some(rule),
            Admit::RuleIfNew(rule) => matches!(&v, Verdict::Tracked(t) if t.is_unconfirmed()).then_some(rule),
            Admit::NotNew if v.state() != Some(CtState::New) => None,
            Admit::LocalIfNewTo(own) => {
                if v.state() == Some(CtState::New) && packet[16..20] == own {
                    let _ = self.t.confirm(&mut v, packet);
                    return None;
                }
                None
            }
            _ => {
                self.t.discard(&v);
                return None;
            }
        };
        if let Some(r) = rule {
            self.t.nat(&v, &r).unwrap();
        }
        let confirmed = self.t.confirm(&mut v, packet);
        if confirmed.is_err()
            || v.state().is_none()
            || matches!(&v, Verdict::Tracked(tr) if tr.helper_drop().is_some())
        {
            return None;
        }
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + 512, 0);
        let n = self.t.translate_in(&v, &mut buf, packet.len()).ok()?;
        buf.truncate(n);
        Some(buf)
    }
}

/// Where a message comes from.
enum From {
    Client,
    Server,
    /// A new flow from this port of the server to this port of the
    /// public address, which reaches the client only if expected.
    Probe(u16, u16),
    /// An enhanced GRE packet with this call id from the client (`true`)
    /// or the server, to where that end sends its messages.
    Gre(bool, u16),
}

/// The messages of one file through ctrack: for each, what left it, or
/// `None` if it was dropped.
fn through_ctrack(set: &Setting, messages: &[(From, Vec<u8>)]) -> Vec<Option<Leaving>> {
    let h = set.hosts;
    let (cp, sp) = (set.client_port, set.server_port);
    let mut t: FixedConnTable<256, 128> = ConnTable::new(HashKey([0x17; 16]), Config::default());
    for name in ["sip", "ftp", "irc", "tftp", "snmp", "snmp_trap", "pptp"] {
        t.add_builtin_helper(helper::builtin(name).unwrap()).unwrap();
    }
    if set.dnat {
        // The helper is assigned by the port the client addresses, as the
        // oracle assigns it before destination NAT.
        let id = t.register_helper(helper::builtin(set.helper).unwrap().helper).unwrap();
        t.assign_helper(HelperAssignment::new(id, if set.tcp { 6 } else { 17 }, PUBLIC_PORT)).unwrap();
    }
    let mut path = Path { t, now: Instant::from_secs(100), next: [0; 2], expects: [0; 2] };
    // Where each end sends to, who sends the probes and who gets them
    // (as nat_oracle.py arranges it), and the rule of the first packet.
    let public = (h.public, PUBLIC_PORT);
    let (to_server, to_client, prober, probed) = if set.dnat {
        (public, (h.client, cp), h.client, h.server)
    } else {
        ((h.server, sp), public, h.server, h.client)
    };
    let rule = || {
        Some(if set.dnat {
            NatRule::dnat(h.server.parse().unwrap()).ports(sp, sp)
        } else {
            NatRule::snat(h.public.parse().unwrap()).ports(PUBLIC_PORT, PUBLIC_PORT)
        })
    };
    // A segment from an end ([`CLIENT`], [`SERVER`]).
    let segment = |end: usize, flags, seq, ack, data: &[u8]| {
        let ((src, sport), (dst, dport)) =
            if end == CLIENT { ((h.client, cp), to_server) } else { ((h.server, sp), to_client) };
        tcp(src, sport, dst, dport, flags, seq, ack, 65535, data)
    };
    if set.tcp {
        // The handshake, the client's SYN given the binding.
        let syn = path.pass(&segment(CLIENT, SYN, 1000, 0, &[]), rule()).unwrap();
        path.expects[SERVER] = seq_and_len(&syn).0 + 1;
        let syn_ack = path.pass(&segment(SERVER, SYN | ACK, 5000, path.expects[SERVER], &[]), None);
        path.expects[CLIENT] = seq_and_len(&syn_ack.unwrap()).0 + 1;
        path.next = [1001, 5001];
        path.pass(&segment(CLIENT, ACK, 1001, path.expects[CLIENT], &[]), None).unwrap();
    }
    let mut out = Vec::new();
    for (from, payload) in messages {
        let left = match from {
            From::Probe(sport, port) => {
                let packet = if set.tcp {
                    // (A SYN without data: the oracle's connect().)
                    tcp(prober, *sport, h.public, *port, SYN, 9000, 0, 65535, &[])
                } else {
                    udp(prober, *sport, h.public, *port, payload)
                };
                // An unexpected probe has no route on the kernel's router:
                // dropped there before its entry is confirmed; but with
                // destination NAT, a new flow to the public port is the
                // rule's, as any client's.
                let admit = match rule() {
                    Some(r) if set.dnat && *port == PUBLIC_PORT => Admit::ExpectedOrRule(r),
                    _ => Admit::Expected,
                };
                let left = path.pass_as(&packet, admit);
                // Nothing listens there: a SYN that got through is refused.
                if set.tcp
                    && let Some(l) = &left
                {
                    let l4 = if l[0] >> 4 == 4 { usize::from(l[0] & 15) * 4 } else { 40 };
                    let dport = u16::from_be_bytes([l[l4 + 2], l[l4 + 3]]);
                    path.pass(&tcp(probed, dport, prober, *sport, RST | ACK, 0, 9001, 0, &[]), None);
                }
                left
            }
            From::Gre(from_client, call_id) => {
                let (src, dst) = if *from_client { (h.client, to_server.0) } else { (h.server, to_client.0) };
                let mut g = vec![0x20, 0x01, 0x88, 0x0b];
                g.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                g.extend_from_slice(&call_id.to_be_bytes());
                g.extend_from_slice(payload);
                let packet = ip_packet(ip(src), ip(dst), 47, &g, 64);
                let own = match ip(h.public) {
                    IpAddr::V4(a) => a.octets(),
                    IpAddr::V6(_) => unreachable!("PPTP is IPv4"),
                };
                path.pass_as(&packet, Admit::LocalIfNewTo(own))
            }
            From::Client | From::Server if set.tcp => {
                // The message in one segment, and the other end's ACK.
                let (me, peer) =
                    if matches!(from, From::Client) { (CLIENT, SERVER) } else { (SERVER, CLIENT) };
                let left = path.pass(&segment(me, ACK | PSH, path.next[me], path.expects[me], payload), None);
                if let Some(l) = &left {
                    path.next[me] = path.next[me].wrapping_add(payload.len() as u32);
                    let (seq, len) = seq_and_len(l);
                    path.expects[peer] = seq.wrapping_add(len);
                    path.pass(&segment(peer, ACK, path.next[peer], path.expects[peer], &[]), None);
                }
                left
            }
            From::Client => path.pass_as(
                &udp(h.client, cp, to_server.0, to_server.1, payload),
                Admit::RuleIfNew(rule().unwrap()),
            ),
            From::Server => {
                path.pass_as(&udp(h.server, sp, to_client.0, to_client.1, payload), Admit::NotNew)
            }
        };
        out.push(left.map(|l| leaving(&l)));
    }
    out
}

#[test]
fn helper_nat_is_the_kernels() {
    // (`CTRACK_NAT_DIR`: another directory, e.g. a differential round's; the
    // deliberate differences: "FILE MESSAGE reason" lines.)
    let Scenarios { docs, known, skipped } = scenarios("CTRACK_NAT_DIR", "nat");
    let (mut compared, mut bad, mut listed) = (0, Vec::new(), Vec::new());
    for (name, doc) in &docs {
        let hosts = if is_ipv6(doc) { &V6 } else { &V4 };
        let msgs = doc["messages"].as_array().unwrap();
        // The payloads are bytes, stored one char per byte (latin-1).
        let bytes =
            |v: &serde_json::Value| v.as_str().map(|s| s.chars().map(|c| c as u8).collect::<Vec<u8>>());
        let port = |m: &serde_json::Value, k: &str| m[k].as_u64().unwrap() as u16;
        let from = |m: &serde_json::Value| match m["from"].as_str().unwrap() {
            "client" => From::Client,
            "server" => From::Server,
            "gre-client" => From::Gre(true, port(m, "call_id")),
            "gre-server" => From::Gre(false, port(m, "call_id")),
            _ => From::Probe(port(m, "sport"), port(m, "port")),
        };
        let input: Vec<_> = msgs.iter().map(|m| (from(m), bytes(&m["payload"]).unwrap())).collect();
        let number = |k: &str| doc[k].as_u64().map_or(PORT, |p| p as u16);
        let tcp = doc["transport"] == "tcp";
        let set = Setting {
            hosts,
            helper: doc["helper"].as_str().unwrap_or("sip"),
            dnat: doc["nat"] == "dnat",
            tcp,
            server_port: number("server_port"),
            client_port: number("client_port"),
        };
        let got = through_ctrack(&set, &input);
        for (i, (m, g)) in msgs.iter().zip(&got).enumerate() {
            compared += 1;
            let text = |k: &str| m[k].as_str().unwrap().to_string();
            let want = bytes(&m["arrived"]).map(|b| (text("peer"), text("to"), latin1(&b)));
            if want != *g {
                if known.contains(&(name.clone(), i)) {
                    listed.push((name.clone(), i));
                } else {
                    bad.push(format!("{name} message {i}:\n  linux:  {want:?}\n  ctrack: {g:?}"));
                }
            }
            // A TCP message the kernel dropped is sent again and again, and
            // holds up what follows it: compared up to there.
            if tcp && matches!(m["from"].as_str(), Some("client" | "server")) && want.is_none() {
                break;
            }
        }
    }
    settle("nat parity", "messages", compared, &bad, &listed, &known, &skipped);
}
