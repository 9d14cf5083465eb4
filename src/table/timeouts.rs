//! Timeout policies per zone: nftables' `ct timeout` objects
//! (`nft_ct.c: nft_ct_timeout_obj_eval()`, the policy parsed by each
//! tracker's `ctnl_timeout` handler, e.g. `nf_conntrack_proto_tcp.c:
//! tcp_timeout_nlattr_to_obj()`): per protocol, some states get their own
//! timeout; the states a policy leaves out keep the sysctl's
//! ([`Config`]).
//!
//! Where ctrack differs: nftables attaches a policy to a connection when
//! the connection is created (a rule `ct timeout set "name"` matches its
//! first packet) and the connection keeps it; ctrack applies the policy of
//! the entry's zone and protocol to every packet of the zone's entries,
//! whenever they were created, so a policy set at run time also changes
//! the timeouts of the zone's existing connections from their next packet
//! on. The policy's layer-3 protocol (`l3proto`) is not looked at.

use super::ConnTable;
use super::storage::Storage;
use crate::config::Config;
use crate::tuple::proto;

/// Most timeout policies a table holds.
pub const MAX_TIMEOUT_POLICIES: usize = 4;

/// The state names a policy of protocol `p` may set, in the order of its
/// values (nftables' names, `nft describe ct timeout`).
fn state_names(p: u8) -> &'static [&'static str] {
    match p {
        proto::TCP => &[
            "syn_sent",
            "syn_recv",
            "established",
            "fin_wait",
            "close_wait",
            "last_ack",
            "time_wait",
            "close",
            "syn_sent2",
            "retransmit",
            "unacknowledged",
        ],
        proto::UDP | proto::UDPLITE | proto::GRE => &["unreplied", "replied"],
        proto::SCTP => &[
            "closed",
            "cookie_wait",
            "cookie_echoed",
            "established",
            "shutdown_sent",
            "shutdown_recd",
            "shutdown_ack_sent",
            "heartbeat_sent",
        ],
        _ => &["timeout"],
    }
}

/// A `ct timeout` object bound to a zone: for connections of protocol
/// `proto` in `zone`, the timeouts of the states it names.
///
/// ```
/// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, TimeoutPolicy, tuple::proto};
///
/// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
/// // nft add ct timeout ip filter dns '{ protocol udp; policy = { unreplied: 5, replied: 10 } }'
/// // and `ct zone 3 ct timeout set "dns"`:
/// let policy = TimeoutPolicy::new(3, proto::UDP).with("unreplied", 5).unwrap().with("replied", 10).unwrap();
/// table.set_timeout_policy(policy).unwrap();
/// let query = [
///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
/// ];
/// let now = Instant::from_secs(1);
/// let h = table.track_with(now, &query, ctrack::Meta::default().with_zone(3)).entry().unwrap();
/// assert_eq!(table.get(h, now).unwrap().timeout(), 5);
/// // Zone 0 keeps the sysctl (30 s).
/// let h = table.track(now, &query).entry().unwrap();
/// assert_eq!(table.get(h, now).unwrap().timeout(), 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeoutPolicy {
    zone: u16,
    proto: u8,
    /// Bit `k`: value `k` is set.
    set: u16,
    values: [u32; 11],
}

/// Why a timeout policy was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TimeoutPolicyError {
    /// The protocol has no state of that name.
    UnknownState,
    /// The table holds [`MAX_TIMEOUT_POLICIES`] policies of other zones or
    /// protocols.
    TooManyPolicies,
}

impl core::fmt::Display for TimeoutPolicyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TimeoutPolicyError::UnknownState => "no such state for this protocol",
            TimeoutPolicyError::TooManyPolicies => "too many timeout policies",
        })
    }
}

impl core::error::Error for TimeoutPolicyError {}

impl TimeoutPolicy {
    /// A policy for connections of protocol `proto` (an IP protocol
    /// number) in `zone` that sets no timeout yet.
    pub const fn new(zone: u16, proto: u8) -> TimeoutPolicy {
        TimeoutPolicy { zone, proto, set: 0, values: [0; 11] }
    }

    /// This policy with the timeout of `state` set to `secs` seconds.
    /// States by protocol: TCP `syn_sent`, `syn_recv`, `established`,
    /// `fin_wait`, `close_wait`, `last_ack`, `time_wait`, `close`,
    /// `syn_sent2`, `retransmit`, `unacknowledged`; UDP, UDP-Lite and GRE
    /// `unreplied`, `replied`; SCTP `closed`, `cookie_wait`,
    /// `cookie_echoed`, `established`, `shutdown_sent`, `shutdown_recd`,
    /// `shutdown_ack_sent`, `heartbeat_sent`; any other protocol (ICMP,
    /// ICMPv6, generic) `timeout`.
    pub fn with(mut self, state: &str, secs: u32) -> Result<TimeoutPolicy, TimeoutPolicyError> {
        let k = state_names(self.proto)
            .iter()
            .position(|n| *n == state)
            .ok_or(TimeoutPolicyError::UnknownState)?;
        self.values[k] = secs;
        self.set |= 1 << k;
        Ok(self)
    }

    /// The zone.
    pub fn zone(&self) -> u16 {
        self.zone
    }

    /// The protocol.
    pub fn proto(&self) -> u8 {
        self.proto
    }

    /// The timeout this policy gives `state`, if it sets one.
    pub fn get(&self, state: &str) -> Option<u32> {
        let k = state_names(self.proto).iter().position(|n| *n == state)?;
        (self.set & (1 << k) != 0).then_some(self.values[k])
    }

    /// `cfg` with this policy's timeouts.
    fn apply(&self, cfg: &mut Config) {
        let v = |k: usize| (self.set & (1 << k) != 0).then_some(self.values[k]);
        let put = |field: &mut u32, k: usize| {
            if let Some(x) = v(k) {
                *field = x;
            }
        };
        match self.proto {
            proto::TCP => {
                let t = &mut cfg.tcp.timeouts;
                for (k, field) in [
                    &mut t.syn_sent,
                    &mut t.syn_recv,
                    &mut t.established,
                    &mut t.fin_wait,
                    &mut t.close_wait,
                    &mut t.last_ack,
                    &mut t.time_wait,
                    &mut t.close,
                    &mut t.syn_sent2,
                    &mut t.max_retrans,
                    &mut t.unacknowledged,
                ]
                .into_iter()
                .enumerate()
                {
                    put(field, k);
                }
            }
            proto::UDP | proto::UDPLITE => {
                put(&mut cfg.timeouts.udp, 0);
                put(&mut cfg.timeouts.udp_stream, 1);
            }
            proto::GRE => {
                put(&mut cfg.timeouts.gre, 0);
                put(&mut cfg.timeouts.gre_stream, 1);
            }
            proto::SCTP => {
                let s = &mut cfg.sctp;
                for (k, field) in [
                    &mut s.closed,
                    &mut s.cookie_wait,
                    &mut s.cookie_echoed,
                    &mut s.established,
                    &mut s.shutdown_sent,
                    &mut s.shutdown_recd,
                    &mut s.shutdown_ack_sent,
                    &mut s.heartbeat_sent,
                ]
                .into_iter()
                .enumerate()
                {
                    put(field, k);
                }
            }
            proto::ICMP => put(&mut cfg.timeouts.icmp, 0),
            proto::ICMPV6 => put(&mut cfg.timeouts.icmpv6, 0),
            _ => put(&mut cfg.timeouts.generic, 0),
        }
    }
}

impl<S: Storage> ConnTable<S> {
    /// Give the connections of the policy's protocol in its zone the
    /// policy's timeouts (replacing the policy of that zone and protocol,
    /// if any). Takes effect from each connection's next packet.
    pub fn set_timeout_policy(&mut self, policy: TimeoutPolicy) -> Result<(), TimeoutPolicyError> {
        let same = |p: &TimeoutPolicy| p.zone == policy.zone && p.proto == policy.proto;
        if let Some(p) = self.timeout_policies.iter_mut().find(|p| same(p)) {
            *p = policy;
            return Ok(());
        }
        self.timeout_policies.push(policy).map_err(|_| TimeoutPolicyError::TooManyPolicies)
    }

    /// Remove the policy of `zone` and `proto`: the sysctls apply again.
    /// Returns whether there was one.
    pub fn remove_timeout_policy(&mut self, zone: u16, proto: u8) -> bool {
        let before = self.timeout_policies.len();
        self.timeout_policies.retain(|p| p.zone != zone || p.proto != proto);
        self.timeout_policies.len() != before
    }

    /// The timeout policies in force.
    pub fn timeout_policies(&self) -> &[TimeoutPolicy] {
        &self.timeout_policies
    }

    /// The settings for a packet of protocol `proto` in `zone`, if a policy
    /// changes them.
    #[inline]
    pub(super) fn zone_config(&self, zone: u16, proto: u8) -> Option<Config> {
        if self.timeout_policies.is_empty() {
            return None;
        }
        let p = self.timeout_policies.iter().find(|p| p.zone == zone && p.proto == proto)?;
        let mut cfg = *self.config();
        p.apply(&mut cfg);
        Some(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_by_protocol() {
        let p =
            TimeoutPolicy::new(1, proto::TCP).with("established", 120).unwrap().with("close", 10).unwrap();
        assert_eq!((p.get("established"), p.get("close"), p.get("time_wait")), (Some(120), Some(10), None));
        assert_eq!(
            TimeoutPolicy::new(1, proto::TCP).with("replied", 1),
            Err(TimeoutPolicyError::UnknownState)
        );
        let mut cfg = Config::DEFAULT;
        p.apply(&mut cfg);
        assert_eq!((cfg.tcp.timeouts.established, cfg.tcp.timeouts.close), (120, 10));
        assert_eq!(cfg.tcp.timeouts.time_wait, Config::DEFAULT.tcp.timeouts.time_wait);
        let mut cfg = Config::DEFAULT;
        TimeoutPolicy::new(0, 50).with("timeout", 7).unwrap().apply(&mut cfg);
        assert_eq!(cfg.timeouts.generic, 7);
        let mut cfg = Config::DEFAULT;
        TimeoutPolicy::new(0, proto::SCTP).with("heartbeat_sent", 9).unwrap().apply(&mut cfg);
        assert_eq!(cfg.sctp.heartbeat_sent, 9);
    }
}
