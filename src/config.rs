//! Tunables: the kernel's conntrack sysctls, with the kernel's defaults.
//!
//! Every field maps to a `net.netfilter.nf_conntrack_*` sysctl of Linux 6.x
//! (see the kernel's `Documentation/networking/nf_conntrack-sysctl.rst`).
//! [`Config::set_sysctl`] accepts the kernel's names so that tools can take
//! the same command line as the Linux oracle.

use core::fmt;

/// Per-state TCP timeouts in seconds: the `nf_conntrack_tcp_timeout_*` sysctls
/// (`Documentation/networking/nf_conntrack-sysctl.rst`), with the defaults of
/// `nf_conntrack_proto_tcp.c: tcp_timeouts[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct TcpTimeouts {
    /// `nf_conntrack_tcp_timeout_syn_sent` (120).
    pub syn_sent: u32,
    /// `nf_conntrack_tcp_timeout_syn_recv` (60).
    pub syn_recv: u32,
    /// `nf_conntrack_tcp_timeout_established` (432000, five days).
    pub established: u32,
    /// `nf_conntrack_tcp_timeout_fin_wait` (120).
    pub fin_wait: u32,
    /// `nf_conntrack_tcp_timeout_close_wait` (60).
    pub close_wait: u32,
    /// `nf_conntrack_tcp_timeout_last_ack` (30).
    pub last_ack: u32,
    /// `nf_conntrack_tcp_timeout_time_wait` (120).
    pub time_wait: u32,
    /// `nf_conntrack_tcp_timeout_close` (10).
    pub close: u32,
    /// SYN_SENT2 (simultaneous open), 120; the kernel has no sysctl for it.
    pub syn_sent2: u32,
    /// `nf_conntrack_tcp_timeout_max_retrans` (300).
    pub max_retrans: u32,
    /// `nf_conntrack_tcp_timeout_unacknowledged` (300).
    pub unacknowledged: u32,
}

impl Default for TcpTimeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TcpTimeouts {
    /// All zero: the unset configuration of [`ConnTable::zeroed`](crate::ConnTable::zeroed).
    pub(crate) const ZERO: TcpTimeouts = TcpTimeouts {
        syn_sent: 0,
        syn_recv: 0,
        established: 0,
        fin_wait: 0,
        close_wait: 0,
        last_ack: 0,
        time_wait: 0,
        close: 0,
        syn_sent2: 0,
        max_retrans: 0,
        unacknowledged: 0,
    };

    /// The kernel's defaults (a `const`, for `static` tables).
    pub const DEFAULT: TcpTimeouts = TcpTimeouts {
        syn_sent: 120,
        syn_recv: 60,
        established: 432_000,
        fin_wait: 120,
        close_wait: 60,
        last_ack: 30,
        time_wait: 120,
        close: 10,
        syn_sent2: 120,
        max_retrans: 300,
        unacknowledged: 300,
    };
}

/// TCP tracker settings: the `nf_conntrack_tcp_*` sysctls
/// (`Documentation/networking/nf_conntrack-sysctl.rst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct TcpConfig {
    /// `nf_conntrack_tcp_loose` (on): pick up connections seen mid-stream.
    pub loose: bool,
    /// `nf_conntrack_tcp_be_liberal` (off): do not enforce the window checks.
    pub be_liberal: bool,
    /// `nf_conntrack_tcp_ignore_invalid_rst` (off).
    pub ignore_invalid_rst: bool,
    /// `nf_conntrack_tcp_max_retrans` (3).
    pub max_retrans: u8,
    /// Per-state timeouts.
    pub timeouts: TcpTimeouts,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TcpConfig {
    pub(crate) const ZERO: TcpConfig = TcpConfig {
        loose: false,
        be_liberal: false,
        ignore_invalid_rst: false,
        max_retrans: 0,
        timeouts: TcpTimeouts::ZERO,
    };

    /// The kernel's defaults (a `const`, for `static` tables).
    pub const DEFAULT: TcpConfig = TcpConfig {
        loose: true,
        be_liberal: false,
        ignore_invalid_rst: false,
        max_retrans: 3,
        timeouts: TcpTimeouts::DEFAULT,
    };
}

/// Timeouts of the connection-less trackers, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Timeouts {
    /// `nf_conntrack_udp_timeout` (30): before a reply, or within 2 s of creation.
    pub udp: u32,
    /// `nf_conntrack_udp_timeout_stream` (120): replied flows older than 2 s.
    pub udp_stream: u32,
    /// `nf_conntrack_icmp_timeout` (30).
    pub icmp: u32,
    /// `nf_conntrack_icmpv6_timeout` (30).
    pub icmpv6: u32,
    /// `nf_conntrack_generic_timeout` (600).
    pub generic: u32,
    /// `nf_conntrack_gre_timeout` (30): GRE before a reply.
    pub gre: u32,
    /// `nf_conntrack_gre_timeout_stream` (180): GRE after a reply.
    pub gre_stream: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Timeouts {
    pub(crate) const ZERO: Timeouts =
        Timeouts { udp: 0, udp_stream: 0, icmp: 0, icmpv6: 0, generic: 0, gre: 0, gre_stream: 0 };

    /// The kernel's defaults (a `const`, for `static` tables).
    pub const DEFAULT: Timeouts =
        Timeouts { udp: 30, udp_stream: 120, icmp: 30, icmpv6: 30, generic: 600, gre: 30, gre_stream: 180 };
}

/// Per-state SCTP timeouts in seconds: the `nf_conntrack_sctp_timeout_*`
/// sysctls, with the defaults of `nf_conntrack_proto_sctp.c: sctp_timeouts[]`
/// (Linux 6.18; no HEARTBEAT_ACKED state any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct SctpTimeouts {
    /// `nf_conntrack_sctp_timeout_closed` (10); also the first packet's
    /// state NONE.
    pub closed: u32,
    /// `nf_conntrack_sctp_timeout_cookie_wait` (3).
    pub cookie_wait: u32,
    /// `nf_conntrack_sctp_timeout_cookie_echoed` (3).
    pub cookie_echoed: u32,
    /// `nf_conntrack_sctp_timeout_established` (210).
    pub established: u32,
    /// `nf_conntrack_sctp_timeout_shutdown_sent` (3).
    pub shutdown_sent: u32,
    /// `nf_conntrack_sctp_timeout_shutdown_recd` (3).
    pub shutdown_recd: u32,
    /// `nf_conntrack_sctp_timeout_shutdown_ack_sent` (3).
    pub shutdown_ack_sent: u32,
    /// `nf_conntrack_sctp_timeout_heartbeat_sent` (30).
    pub heartbeat_sent: u32,
}

impl Default for SctpTimeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl SctpTimeouts {
    pub(crate) const ZERO: SctpTimeouts = SctpTimeouts {
        closed: 0,
        cookie_wait: 0,
        cookie_echoed: 0,
        established: 0,
        shutdown_sent: 0,
        shutdown_recd: 0,
        shutdown_ack_sent: 0,
        heartbeat_sent: 0,
    };

    /// The kernel's defaults (a `const`, for `static` tables).
    pub const DEFAULT: SctpTimeouts = SctpTimeouts {
        closed: 10,
        cookie_wait: 3,
        cookie_echoed: 3,
        established: 210,
        shutdown_sent: 3,
        shutdown_recd: 3,
        shutdown_ack_sent: 3,
        heartbeat_sent: 30,
    };
}

/// All tunables of a [`ConnTable`](crate::ConnTable).
///
/// ```
/// use ctrack::Config;
/// let mut cfg = Config::default();
/// cfg.set_sysctl("nf_conntrack_tcp_be_liberal", "1").unwrap();
/// cfg.set_sysctl("net.netfilter.nf_conntrack_udp_timeout", "60").unwrap();
/// assert!(cfg.tcp.be_liberal);
/// assert_eq!(cfg.timeouts.udp, 60);
/// assert!(cfg.set_sysctl("nf_conntrack_bogus", "1").is_err());
/// // Not a sysctl: where new entries go (mostly one- or two-packet flows).
/// cfg.hashed_placement = false;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Config {
    /// `nf_conntrack_checksum` (on): verify TCP/UDP/ICMP/ICMPv6 checksums
    /// and SCTP's CRC32c.
    pub checksum: bool,
    /// `nf_conntrack_max`: maximum number of entries (0 = the table's capacity).
    /// Never more than the table's capacity.
    pub max_entries: u32,
    /// TCP tracker settings.
    pub tcp: TcpConfig,
    /// UDP/ICMP/generic timeouts.
    pub timeouts: Timeouts,
    /// SCTP per-state timeouts.
    pub sctp: SctpTimeouts,
    /// `nf_conntrack_acct` (off): count packets and bytes per direction
    /// (needs feature `ct-acct`).
    pub acct: bool,
    /// `nf_conntrack_timestamp` (off): record when each entry was
    /// confirmed (needs feature `ct-acct`).
    pub timestamp: bool,
    /// Hashed placement (on; not a Linux setting, verdicts are the same
    /// either way): a new entry takes the slot its key's hash names when
    /// that slot is unused, so that a packet's lookup asks for its entry
    /// at the same time as its index bucket, not after it. Off, a new
    /// entry takes the most recently freed slot, whose memory is often
    /// still in the cache.
    ///
    /// Measured at 1,000,000 flows (`docs/measurements.md`): on, an
    /// established packet is faster (two cache misses overlap instead of
    /// following each other) and a new flow slower (it writes a slot
    /// anywhere in the table, not a recently freed one). On suits traffic
    /// of many packets per flow; off, traffic of one or two packets per
    /// flow (DNS). Tables whose index is a map (`ConnTable::growable`)
    /// ignore it.
    pub hashed_placement: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Config {
    pub(crate) const ZERO: Config = Config {
        checksum: false,
        max_entries: 0,
        tcp: TcpConfig::ZERO,
        timeouts: Timeouts::ZERO,
        sctp: SctpTimeouts::ZERO,
        acct: false,
        timestamp: false,
        hashed_placement: false,
    };

    /// The kernel's defaults (a `const`, for `static` tables).
    pub const DEFAULT: Config = Config {
        checksum: true,
        max_entries: 0,
        tcp: TcpConfig::DEFAULT,
        timeouts: Timeouts::DEFAULT,
        sctp: SctpTimeouts::DEFAULT,
        acct: false,
        timestamp: false,
        hashed_placement: true,
    };
}

/// Why [`Config::set_sysctl`] refused a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SysctlError {
    /// The name is not a conntrack sysctl that ctrack implements.
    UnknownName,
    /// The value is not a number in the sysctl's range.
    BadValue,
    /// The setting needs a cargo feature this build lacks (`ct-acct` for
    /// `nf_conntrack_acct=1` and `nf_conntrack_timestamp=1`).
    NotBuilt,
}

impl fmt::Display for SysctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlError::UnknownName => f.write_str("unknown or unsupported conntrack sysctl"),
            SysctlError::BadValue => f.write_str("value out of range for this sysctl"),
            SysctlError::NotBuilt => f.write_str("needs a cargo feature this build lacks"),
        }
    }
}

impl core::error::Error for SysctlError {}

impl Config {
    /// Set a tunable by its Linux sysctl name: `nf_conntrack_tcp_loose`,
    /// `net.netfilter.nf_conntrack_tcp_loose` and `tcp_loose` are the same.
    pub fn set_sysctl(&mut self, name: &str, value: &str) -> Result<(), SysctlError> {
        let name = name.strip_prefix("net.netfilter.").unwrap_or(name);
        let name = name.strip_prefix("nf_conntrack_").unwrap_or(name);
        let v: u32 = value.trim().parse().map_err(|_| SysctlError::BadValue)?;
        let flag = |v: u32| match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SysctlError::BadValue),
        };
        let t = &mut self.tcp.timeouts;
        match name {
            "checksum" => self.checksum = flag(v)?,
            "max" => self.max_entries = v,
            "acct" | "timestamp" => {
                let on = flag(v)?;
                if on && !cfg!(feature = "ct-acct") {
                    return Err(SysctlError::NotBuilt);
                }
                if name == "acct" { self.acct = on } else { self.timestamp = on }
            }
            "tcp_loose" => self.tcp.loose = v != 0,
            "tcp_be_liberal" => self.tcp.be_liberal = v != 0,
            "tcp_ignore_invalid_rst" => self.tcp.ignore_invalid_rst = flag(v)?,
            "tcp_max_retrans" => self.tcp.max_retrans = u8::try_from(v).map_err(|_| SysctlError::BadValue)?,
            "tcp_timeout_syn_sent" => t.syn_sent = v,
            "tcp_timeout_syn_recv" => t.syn_recv = v,
            "tcp_timeout_established" => t.established = v,
            "tcp_timeout_fin_wait" => t.fin_wait = v,
            "tcp_timeout_close_wait" => t.close_wait = v,
            "tcp_timeout_last_ack" => t.last_ack = v,
            "tcp_timeout_time_wait" => t.time_wait = v,
            "tcp_timeout_close" => t.close = v,
            "tcp_timeout_max_retrans" => t.max_retrans = v,
            "tcp_timeout_unacknowledged" => t.unacknowledged = v,
            "udp_timeout" => self.timeouts.udp = v,
            "udp_timeout_stream" => self.timeouts.udp_stream = v,
            "icmp_timeout" => self.timeouts.icmp = v,
            "icmpv6_timeout" => self.timeouts.icmpv6 = v,
            "generic_timeout" => self.timeouts.generic = v,
            "gre_timeout" => self.timeouts.gre = v,
            "gre_timeout_stream" => self.timeouts.gre_stream = v,
            "sctp_timeout_closed" => self.sctp.closed = v,
            "sctp_timeout_cookie_wait" => self.sctp.cookie_wait = v,
            "sctp_timeout_cookie_echoed" => self.sctp.cookie_echoed = v,
            "sctp_timeout_established" => self.sctp.established = v,
            "sctp_timeout_shutdown_sent" => self.sctp.shutdown_sent = v,
            "sctp_timeout_shutdown_recd" => self.sctp.shutdown_recd = v,
            "sctp_timeout_shutdown_ack_sent" => self.sctp.shutdown_ack_sent = v,
            "sctp_timeout_heartbeat_sent" => self.sctp.heartbeat_sent = v,
            _ => return Err(SysctlError::UnknownName),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_names_in_all_spellings() {
        let mut c = Config::default();
        c.set_sysctl("tcp_loose", "0").unwrap();
        assert!(!c.tcp.loose);
        c.set_sysctl("nf_conntrack_tcp_loose", "1").unwrap();
        assert!(c.tcp.loose);
        c.set_sysctl("net.netfilter.nf_conntrack_checksum", "0").unwrap();
        assert!(!c.checksum);
        assert_eq!(c.set_sysctl("checksum", "2"), Err(SysctlError::BadValue));
        assert_eq!(c.set_sysctl("tcp_max_retrans", "300"), Err(SysctlError::BadValue));
        assert_eq!(c.set_sysctl("udp_timeout", "x"), Err(SysctlError::BadValue));
        assert_eq!(c.set_sysctl("nf_conntrack_frag6_timeout", "1"), Err(SysctlError::UnknownName));
        c.set_sysctl("net.netfilter.nf_conntrack_sctp_timeout_established", "100").unwrap();
        c.set_sysctl("sctp_timeout_heartbeat_sent", "7").unwrap();
        assert_eq!((c.sctp.established, c.sctp.heartbeat_sent, c.sctp.closed), (100, 7, 10));
        // Removed in Linux 6.x with the HEARTBEAT_ACKED state.
        assert_eq!(c.set_sysctl("sctp_timeout_heartbeat_acked", "1"), Err(SysctlError::UnknownName));
        let built = if cfg!(feature = "ct-acct") { Ok(()) } else { Err(SysctlError::NotBuilt) };
        assert_eq!(c.set_sysctl("nf_conntrack_acct", "1"), built);
        assert_eq!(c.set_sysctl("timestamp", "1"), built);
        assert_eq!((c.acct, c.timestamp), (built.is_ok(), built.is_ok()));
        assert_eq!(c.set_sysctl("acct", "2"), Err(SysctlError::BadValue));
    }
}
