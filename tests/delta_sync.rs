//! The event stream as the delta between snapshots (what conntrackd's
//! event-driven synchronisation does between two firewalls): the standby
//! keeps, as conntrackd's external cache does, the records of every
//! connection the active table reported (a full snapshot at the middle of
//! a capture, then for each NEW or UPDATE event the connection's records
//! from `snapshot_entry`, and for each DESTROY its removal; an expectation
//! event re-reads its master's records). At the end (expired connections
//! reaped first, so that their DESTROY events come) the standby commits its
//! cache into a fresh table, as at a failover: that table holds the same
//! connections and expectations as the active one, with the same tuples,
//! states, status bits and helpers. Timeouts are not compared: packets
//! that change nothing raise no event (conntrackd refreshes them on
//! commit).
//!
//! Events the active table could not send (the expectations a helper
//! removed) make the standby take a full snapshot again, as conntrackd
//! asks for a resynchronisation when it loses events.

#[allow(dead_code)]
mod corpus;

use std::collections::{BTreeMap, BTreeSet};

use ctrack::helper::builtin;
use ctrack::*;
use ctrack_capture::FrameContent;

type Active = ConnTable<WithEvents<HeapStorage, EventRing<256>>>;

/// The standby's cache: the latest records of each connection, by its
/// original tuple (its protocol number, which a tuple's text leaves to the
/// listing's protocol column, then that text) and zone.
type Cache = BTreeMap<(u8, String, u16), Vec<u8>>;

/// A connection's key in the cache.
fn cache_key(orig: &Tuple, zone: u16) -> (u8, String, u16) {
    (orig.proto(), orig.to_string(), zone)
}

fn helpers<S: Storage>(t: &mut ConnTable<S>) {
    for name in ["ftp", "tftp", "sip", "snmp", "netbios-ns"] {
        if let Some(h) = builtin(name) {
            t.add_builtin_helper(h).unwrap();
        }
    }
}

fn active() -> Active {
    let storage = WithEvents::new(HeapStorage::new(4096, 256, 256), EventRing::new());
    let mut a = ConnTable::with_storage(storage, HashKey([3; 16]), Config::default());
    helpers(&mut a);
    a
}

/// A listing line without its timeout (the first number that follows the
/// protocol, or an expectation's leading one).
fn state_of(line: &str) -> String {
    let skip = if line.contains(" proto=") { 0 } else { 2 };
    line.split_whitespace()
        .enumerate()
        .filter(|&(k, _)| k != skip)
        .map(|(_, w)| w)
        .collect::<Vec<_>>()
        .join(" ")
}

fn conns<S: Storage>(t: &ConnTable<S>, now: Instant) -> BTreeSet<String> {
    t.entries(now).map(|e| state_of(&e.to_string())).collect()
}

/// The expectations, without the INACTIVE flag: activating one (a SIP
/// REGISTER's 200 OK, `refresh_signalling_expectation()`) changes no
/// connection and raises no event, in Linux as here, so the standby learns
/// of it with its master's next event only.
fn expects<S: Storage>(t: &ConnTable<S>, now: Instant) -> BTreeSet<String> {
    t.expectations(now)
        .map(|x| {
            state_of(&x.to_string()).replace("PERMANENT,INACTIVE", "PERMANENT").replace(" INACTIVE ", " ")
        })
        .collect()
}

/// The records of the connection `h` into the cache.
fn cache_entry(a: &Active, cache: &mut Cache, now: Instant, h: Handle) {
    let Some(e) = a.get(h, now) else { return };
    let key = cache_key(&e.orig(), e.zone());
    let mut buf = vec![0u8; 64 * 1024];
    let n = a.snapshot_entry(now, h, &mut buf).unwrap();
    if n > 0 {
        cache.insert(key, buf[..n].to_vec());
    }
}

/// The whole table into a fresh cache.
fn full_resync(a: &Active, now: Instant) -> Cache {
    let mut cache = Cache::new();
    for e in a.entries(now) {
        let h = e.handle();
        cache_entry(a, &mut cache, now, h);
    }
    cache
}

/// Apply the active table's pending events to the cache.
fn sync(a: &mut Active, cache: &mut Cache, now: Instant) {
    let events: Vec<Event> = a.events().drain().collect();
    for e in events {
        match e {
            Event::Conn(c) if c.kind() == EventKind::Destroy => {
                cache.remove(&cache_key(&c.orig(), c.zone()));
            }
            Event::Conn(c) => cache_entry(a, cache, now, c.handle()),
            Event::Expect(x) => {
                let line = x.line();
                if let Some((m, _)) = a.lookup(&line.master(), line.zone(), now) {
                    let h = m.handle();
                    cache_entry(a, cache, now, h);
                }
            }
            _ => {}
        }
    }
}

/// Failover: the cache committed into a fresh table.
fn commit(cache: &Cache, now: Instant) -> ConnTable<HeapStorage> {
    let mut b = ConnTable::with_capacity(4096, HashKey([4; 16]), Config::default());
    helpers(&mut b);
    // Masters before the connections they expected, as a snapshot orders
    // them: twice over, the second pass adding what needed a master.
    for _ in 0..2 {
        for records in cache.values() {
            let _ = b.restore(now, records);
        }
    }
    b
}

#[test]
fn events_keep_a_standby_in_step() {
    let (mut checked, mut resyncs) = (0, 0);
    for (_, capture) in corpus::captures() {
        let Ok(frames) = ctrack_capture::read_capture(&capture) else { continue };
        let packets: Vec<(Instant, Vec<u8>)> = frames
            .into_iter()
            .filter_map(|f| match f.content {
                FrameContent::Ip(p) => Some((Instant::from_millis(f.ts_nanos / 1_000_000), p)),
                FrameContent::Skipped(_) => None,
            })
            .collect();
        if packets.len() < 4 {
            continue;
        }
        let mut a = active();
        let mut cache = Cache::new();
        let half = packets.len() / 2;
        // The capture's clock, made monotonic.
        let mut now = packets[0].0;
        for (k, (t, p)) in packets.iter().enumerate() {
            now = now.max(*t);
            if k == half {
                cache = full_resync(&a, now);
            }
            let lost = a.events().lost();
            let _ = a.track(now, p);
            if k < half {
                let _ = a.events().drain().count();
            } else if a.events().lost() != lost {
                let _ = a.events().drain().count();
                cache = full_resync(&a, now);
                resyncs += 1;
            } else {
                sync(&mut a, &mut cache, now);
            }
        }
        // Expired connections reaped, their DESTROY events synchronised.
        let cap = a.capacity();
        a.gc(now, cap);
        sync(&mut a, &mut cache, now);
        let b = commit(&cache, now);
        let name = capture.display();
        assert_eq!(conns(&b, now), conns(&a, now), "{name}: connections");
        assert_eq!(expects(&b, now), expects(&a, now), "{name}: expectations");
        checked += 1;
    }
    assert!(checked >= 50, "{checked} captures");
    eprintln!("{checked} captures; {resyncs} full resynchronisations after lost events");
}
