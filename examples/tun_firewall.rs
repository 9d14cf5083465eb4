//! A stateful firewall between two Linux TUN devices, built on ctrack.
//!
//! ```text
//! tun_firewall --inside fw-c --outside fw-s [--nat4 ADDR] [--nat6 ADDR] [--verbose]
//! ```
//!
//! (or `E2E_TUN_INSIDE` / `E2E_TUN_OUTSIDE` from the environment). It
//! attaches to the two existing TUN devices (`IFF_TUN | IFF_NO_PI`), tracks
//! every packet with one [`ConnTable`] (helpers: FTP tcp/21, TFTP udp/69,
//! SIP udp/5060 and tcp/5060) and forwards it to the other device when the
//! policy allows:
//!
//! * from inside: NEW, ESTABLISHED and RELATED pass;
//! * from outside: only ESTABLISHED and RELATED;
//! * INVALID, UNTRACKED from outside, and packets conntrack or a helper
//!   drops are dropped, with one log line each.
//!
//! With `--nat4 ADDR` / `--nat6 ADDR` it is also a NAT router: every
//! connection that leaves by the outside device is source-NATed to that
//! address (`snat to ADDR` in the nat table's postrouting chain, as the
//! e2e harness's `fw/kernel-nat.nft`), replies and ICMP errors are
//! translated back, and the helpers rewrite what FTP and SIP announce,
//! so that the connections they expect reach the inside through the
//! translation too.
//!
//! A NEW packet that the policy drops leaves no entry (the two-step
//! classify/confirm of Linux). SIGTERM or SIGINT prints the statistics and
//! exits. This is the program `shared/e2e/run.sh --firewall tun` runs.

use std::sync::{Arc, Mutex};
use std::time::Instant as StdInstant;

use std::net::IpAddr;

use ctrack::helper::builtin;
use ctrack::nat::{NatError, NatRule};
use ctrack::{Config, ConnTable, CtState, HashKey, HeapStorage, Instant, Meta, Verdict};
use tun_tap::{Iface, Mode};

/// Which side a packet came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Inside,
    Outside,
}

struct Shared {
    table: Mutex<ConnTable<HeapStorage>>,
    start: StdInstant,
    verbose: bool,
    /// Source NAT for connections leaving by the outside device.
    nat4: Option<NatRule>,
    nat6: Option<NatRule>,
}

/// The policy of the e2e harness (`fw/kernel.nft`).
fn allowed(side: Side, v: &Verdict) -> Result<(), String> {
    if v.must_drop() {
        return Err(match v {
            Verdict::Dropped(d) => d.to_string(),
            Verdict::Tracked(t) => t.helper_drop().map_or_else(String::new, |d| format!("helper: {d}")),
            _ => String::new(),
        });
    }
    match (side, v.state()) {
        (_, Some(CtState::Established | CtState::Related)) => Ok(()),
        (Side::Inside, Some(CtState::New)) => Ok(()),
        (Side::Outside, Some(CtState::New)) => Err("new connection from outside".into()),
        (_, Some(CtState::Invalid)) => {
            Err(format!("invalid: {}", v.reason().map_or_else(|| "?".to_string(), |r| r.to_string())))
        }
        (_, Some(CtState::Untracked)) => Err("untracked".into()),
        (_, None) => Err("dropped".into()),
    }
}

fn summary(packet: &[u8]) -> String {
    match ctrack::packet_tuple(packet) {
        Ok(t) => format!("proto {} {}", t.proto(), t),
        Err(e) => format!("unparsable packet ({e})"),
    }
}

/// Move packets from `from` to `to` until the process ends.
/// The source NAT of a NEW connection from the inside, which leaves by
/// the outside device (the nat table's postrouting hook, between
/// classification and confirmation). A connection a helper expected
/// follows its master's translation already.
fn bind(
    shared: &Shared,
    table: &mut ConnTable<HeapStorage>,
    side: Side,
    v: &Verdict,
    packet: &[u8],
) -> Result<(), String> {
    let new = matches!(v, Verdict::Tracked(t) if t.is_unconfirmed());
    if side != Side::Inside || !new {
        return Ok(());
    }
    let rule = match packet.first().map(|b| b >> 4) {
        Some(4) => shared.nat4.as_ref(),
        Some(6) => shared.nat6.as_ref(),
        _ => None,
    };
    match rule.map(|r| table.nat(v, r)) {
        None | Some(Ok(()) | Err(NatError::AlreadyBound)) => Ok(()),
        Some(Err(e)) => Err(format!("nat: {e}")),
    }
}

/// Move packets from `from` to `to` until the process ends.
fn pump(shared: &Shared, side: Side, from: &Iface, to: &Iface) {
    // Room for a packet to grow when a helper rewrites it.
    let mut buf = vec![0u8; 65536 + 1024];
    loop {
        let n = match from.recv(&mut buf[..65536]) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("tun_firewall: read {side:?}: {e}");
                continue;
            }
        };
        let now = Instant::from_millis(shared.start.elapsed().as_millis() as u64);
        let what = summary(&buf[..n]);
        let decision = {
            let mut table = shared.table.lock().expect("table lock");
            table.gc(now, 64);
            let mut v = table.classify(now, &buf[..n], Meta::default());
            let passed = allowed(side, &v).and_then(|()| bind(shared, &mut table, side, &v, &buf[..n]));
            match passed {
                Ok(()) => table
                    .confirm(&mut v, &buf[..n])
                    .map_err(|d| d.to_string())
                    .and_then(|()| table.translate_in(&v, &mut buf, n).map_err(|e| format!("nat: {e}")))
                    .map(|len| (v, len)),
                Err(why) => {
                    table.discard(&v);
                    Err(why)
                }
            }
        };
        match decision {
            Ok((v, len)) => {
                if shared.verbose {
                    println!("pass {side:?} {:?} {what}", v.state());
                }
                if let Err(e) = to.send(&buf[..len]) {
                    eprintln!("tun_firewall: write: {e}");
                }
            }
            Err(why) => println!("drop {side:?} {why}: {what}"),
        }
    }
}

fn main() {
    let mut inside = std::env::var("E2E_TUN_INSIDE").ok();
    let mut outside = std::env::var("E2E_TUN_OUTSIDE").ok();
    let mut verbose = false;
    let (mut nat4, mut nat6) = (None, None);
    let usage = || -> ! {
        eprintln!("usage: tun_firewall --inside TUN --outside TUN [--nat4 ADDR] [--nat6 ADDR] [--verbose]");
        std::process::exit(2);
    };
    // An address for source NAT; empty (the harness without --nat) is none.
    let nat_to = |value: Option<String>, v6: bool| -> Option<NatRule> {
        let value = value.unwrap_or_else(|| usage());
        if value.is_empty() {
            return None;
        }
        match value.parse::<IpAddr>() {
            Ok(a) if a.is_ipv6() == v6 => Some(NatRule::snat(a)),
            _ => {
                eprintln!("tun_firewall: bad NAT address '{value}'");
                std::process::exit(2);
            }
        }
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--inside" => inside = args.next(),
            "--outside" => outside = args.next(),
            "--nat4" => nat4 = nat_to(args.next(), false),
            "--nat6" => nat6 = nat_to(args.next(), true),
            "-v" | "--verbose" => verbose = true,
            _ => usage(),
        }
    }
    let (Some(inside), Some(outside)) = (inside, outside) else {
        eprintln!("tun_firewall: need --inside and --outside (or E2E_TUN_INSIDE / E2E_TUN_OUTSIDE)");
        std::process::exit(2);
    };
    let open = |name: &str| {
        Iface::without_packet_info(name, Mode::Tun).unwrap_or_else(|e| {
            eprintln!("tun_firewall: cannot attach to {name}: {e}");
            std::process::exit(1);
        })
    };
    let (fw_in, fw_out) = (Arc::new(open(&inside)), Arc::new(open(&outside)));

    // A random hash key, so that nobody can aim flows at one probe window.
    let mut table = ConnTable::with_capacity(65536, HashKey::random(), Config::default());
    // The kernel firewall's helpers (fw/kernel.nft), on their standard ports.
    for name in ["ftp", "tftp", "sip"] {
        match builtin(name) {
            Some(b) => drop(table.add_builtin_helper(b).expect("few helpers")),
            None => eprintln!("tun_firewall: helper {name} not compiled in"),
        }
    }
    let nat = format!("{nat4:?} {nat6:?}");
    let shared = Arc::new(Shared { table: Mutex::new(table), start: StdInstant::now(), verbose, nat4, nat6 });
    println!("tun_firewall: inside {inside}, outside {outside}, source NAT {nat}");

    for (side, from, to) in [(Side::Inside, fw_in.clone(), fw_out.clone()), (Side::Outside, fw_out, fw_in)] {
        let shared = shared.clone();
        std::thread::spawn(move || pump(&shared, side, &from, &to));
    }

    let mut signals =
        signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])
            .expect("signal handler");
    if let Some(sig) = signals.forever().next() {
        let table = shared.table.lock().unwrap_or_else(|e| e.into_inner());
        println!("tun_firewall: signal {sig}, exiting; {} entries", table.len());
        println!("{}", table.stats());
        std::process::exit(0);
    }
}
