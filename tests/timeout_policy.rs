//! Timeout policies per zone (nftables `ct timeout` objects): per protocol
//! and state, set and removed at run time, the sysctls otherwise.

mod common;

use common::*;
use ctrack::tuple::proto;
use ctrack::*;

fn at(ms: u64) -> Instant {
    Instant::from_millis(9_000_000 + ms)
}

const C: &str = "192.168.1.10";
const S: &str = "198.51.100.5";

/// A TCP handshake in `zone`; the entry's timeout after it.
fn handshake<St: Storage>(t: &mut ConnTable<St>, zone: u16, cport: u16) -> (Handle, u32) {
    let m = Meta::default().with_zone(zone);
    let (c, s) = (1000u32, 5000u32);
    let _ = t.track_with(at(0), &tcp(C, cport, S, 80, SYN, c - 1, 0, 64240, b""), m);
    let _ = t.track_with(at(1), &tcp(S, 80, C, cport, SYN | ACK, s - 1, c, 64240, b""), m);
    let v = t.track_with(at(2), &tcp(C, cport, S, 80, ACK, c, s, 64240, b""), m);
    let h = v.entry().unwrap();
    (h, t.get(h, at(2)).unwrap().timeout())
}

#[test]
fn tcp_policy_of_a_zone() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([8; 16]), Config::default());
    // nft: ct timeout agressive { protocol tcp; policy = { established: 120, close: 10 } }
    let policy =
        TimeoutPolicy::new(5, proto::TCP).with("established", 120).unwrap().with("close", 10).unwrap();
    t.set_timeout_policy(policy).unwrap();
    assert_eq!(handshake(&mut t, 5, 40000).1, 120);
    assert_eq!(handshake(&mut t, 0, 40001).1, 432_000, "other zones keep the sysctl");
    // States the policy leaves out keep the sysctl: SYN_SENT 120.
    let v = t.track_with(at(3), &tcp(C, 40002, S, 80, SYN, 1, 0, 64240, b""), Meta::default().with_zone(5));
    assert_eq!(t.get(v.entry().unwrap(), at(3)).unwrap().timeout(), 120);
    // A UDP connection in zone 5 is not touched by a TCP policy.
    let v = t.track_with(at(3), &udp(C, 1, S, 53, b"q"), Meta::default().with_zone(5));
    assert_eq!(t.get(v.entry().unwrap(), at(3)).unwrap().timeout(), 30);
}

#[test]
fn policies_change_at_run_time() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([8; 16]), Config::default());
    let (h, timeout) = handshake(&mut t, 2, 40000);
    assert_eq!(timeout, 432_000);
    t.set_timeout_policy(TimeoutPolicy::new(2, proto::TCP).with("established", 60).unwrap()).unwrap();
    // The existing connection gets it from its next packet on.
    let _ =
        t.track_with(at(5), &tcp(C, 40000, S, 80, ACK, 1000, 5000, 64240, b""), Meta::default().with_zone(2));
    assert_eq!(t.get(h, at(5)).unwrap().timeout(), 60);
    // Replaced, then removed.
    t.set_timeout_policy(TimeoutPolicy::new(2, proto::TCP).with("established", 90).unwrap()).unwrap();
    assert_eq!(t.timeout_policies().len(), 1);
    assert_eq!(t.timeout_policies()[0].get("established"), Some(90));
    assert!(t.remove_timeout_policy(2, proto::TCP));
    assert!(!t.remove_timeout_policy(2, proto::TCP));
    let _ =
        t.track_with(at(6), &tcp(C, 40000, S, 80, ACK, 1000, 5000, 64240, b""), Meta::default().with_zone(2));
    assert_eq!(t.get(h, at(6)).unwrap().timeout(), 432_000);
}

#[test]
fn udp_icmp_and_limits() {
    let mut t: FixedConnTable<64> = ConnTable::new(HashKey([8; 16]), Config::default());
    t.set_timeout_policy(
        TimeoutPolicy::new(1, proto::UDP).with("unreplied", 4).unwrap().with("replied", 8).unwrap(),
    )
    .unwrap();
    t.set_timeout_policy(TimeoutPolicy::new(1, proto::ICMP).with("timeout", 3).unwrap()).unwrap();
    let m = Meta::default().with_zone(1);
    let h = t.track_with(at(0), &udp(C, 7, S, 53, b"q"), m).entry().unwrap();
    assert_eq!(t.get(h, at(0)).unwrap().timeout(), 4);
    let _ = t.track_with(at(1), &udp(S, 53, C, 7, b"a"), m);
    // Replied but younger than 2 s: still the unreplied timeout (Linux >= 5.16).
    assert_eq!(t.get(h, at(1)).unwrap().timeout(), 4);
    let _ = t.track_with(at(2_500), &udp(C, 7, S, 53, b"q"), m);
    assert_eq!(t.get(h, at(2_500)).unwrap().timeout(), 8);
    let h = t.track_with(at(0), &icmp(C, S, 8, 0, 1, b"ping"), m).entry().unwrap();
    assert_eq!(t.get(h, at(0)).unwrap().timeout(), 3);
    // The table holds MAX_TIMEOUT_POLICIES.
    for zone in 2..=3 {
        t.set_timeout_policy(TimeoutPolicy::new(zone, proto::TCP)).unwrap();
    }
    assert_eq!(
        t.set_timeout_policy(TimeoutPolicy::new(9, proto::TCP)),
        Err(TimeoutPolicyError::TooManyPolicies)
    );
    assert_eq!(
        TimeoutPolicy::new(1, proto::UDP).with("established", 1),
        Err(TimeoutPolicyError::UnknownState)
    );
}
