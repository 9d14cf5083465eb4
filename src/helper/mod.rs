//! Helpers: readers of control connections that expect follow-up
//! connections (semantics §9), and the trait through which users add
//! their own.
//!
//! A helper is assigned explicitly, as in current Linux: a
//! [`HelperAssignment`] names the protocol and destination port (and
//! optionally the zone and family) whose new connections get the helper.
//! It then sees every accepted packet of those connections (except ICMP
//! errors about them) and may register [`Expectation`]s; a new connection
//! that matches one is RELATED to its master.
//!
//! Per-connection helper state lives in the table's extension slots as a
//! small byte array ([`HelperData`]), so helpers need no allocation.

pub mod broadcast;
pub mod ftp;
pub mod sip;
pub mod tftp;

use core::fmt;

use crate::expect::{ExpectError, ExpectPolicy, Expectation, Expects};
use crate::time::Tick;
use crate::tuple::{Direction, Family, Tuple};
use crate::verdict::TrackedState;

/// A helper's per-connection state: zeroed when the helper is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HelperData(pub [u8; 20]);

impl HelperData {
    /// Read the big-endian `u32` at `at` (0 if out of range).
    pub fn u32_at(&self, at: usize) -> u32 {
        self.0.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Write a big-endian `u32` at `at` (ignored if out of range).
    pub fn set_u32_at(&mut self, at: usize, v: u32) {
        if let Some(b) = self.0.get_mut(at..at + 4) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    }
}

/// Why a helper wants the packet dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelperDrop(pub &'static str);

impl fmt::Display for HelperDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A connection-tracking helper.
///
/// ```
/// use ctrack::helper::{Helper, HelperContext, HelperDrop};
/// use ctrack::{ExpectPolicy, Expectation, Tuple};
///
/// /// Expects a TCP connection back to the port named in a "CALLBACK <port>" line.
/// struct Callback;
///
/// impl Helper for Callback {
///     fn name(&self) -> &'static str { "callback" }
///     fn policy(&self, _class: u8) -> ExpectPolicy {
///         ExpectPolicy { max_expected: 1, timeout: 60, name: None }
///     }
///     fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
///         let Some(rest) = cx.payload().strip_prefix(b"CALLBACK ") else { return Ok(()) };
///         let port = core::str::from_utf8(rest).ok()
///             .and_then(|s| s.trim().parse::<u16>().ok())
///             .ok_or(HelperDrop("bad CALLBACK"))?;
///         // The peer connects back to the sender of the line.
///         let me = cx.tuple(cx.dir());
///         let t = Tuple::with_ports(me.dst(), 0, me.src(), port, 6).unwrap();
///         cx.expect(Expectation::from_any_port(t)).map_err(|_| HelperDrop("cannot add expectation"))
///     }
/// }
/// ```
pub trait Helper: Sync {
    /// The name listings show (`helper=ftp`).
    fn name(&self) -> &'static str;

    /// Limits of expectation class `class`.
    fn policy(&self, class: u8) -> ExpectPolicy;

    /// Look at one packet of a helped connection. `Err` drops the packet
    /// (and, for a connection's first packet, its entry).
    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop>;
}

/// A reference to a helper, compared by name.
#[derive(Clone, Copy)]
pub struct HelperRef(pub &'static dyn Helper);

impl HelperRef {
    /// The helper's name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl PartialEq for HelperRef {
    fn eq(&self, o: &HelperRef) -> bool {
        self.name() == o.name()
    }
}

impl Eq for HelperRef {}

impl fmt::Debug for HelperRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HelperRef({})", self.name())
    }
}

/// Which new connections get a helper: protocol and destination port, and
/// optionally only one zone or one address family (semantics §9.1: modern
/// Linux assigns helpers only by explicit rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperAssignment {
    /// The helper.
    pub helper: HelperRef,
    /// IP protocol (6 TCP, 17 UDP).
    pub proto: u8,
    /// Destination port of the connection's first packet.
    pub port: u16,
    /// Only this zone (`None`: any).
    pub zone: Option<u16>,
    /// Only this family (`None`: both).
    pub family: Option<Family>,
}

impl HelperAssignment {
    /// Assign `helper` to new connections of `proto` to `port`.
    pub fn new(helper: &'static dyn Helper, proto: u8, port: u16) -> HelperAssignment {
        HelperAssignment { helper: HelperRef(helper), proto, port, zone: None, family: None }
    }

    pub(crate) fn applies(&self, t: &Tuple, zone: u16) -> bool {
        let crate::tuple::L4::Ports { dport, .. } = t.l4() else { return false };
        t.proto() == self.proto
            && dport == self.port
            && self.zone.is_none_or(|z| z == zone)
            && self.family.is_none_or(|f| f == t.family())
    }
}

/// What a helper sees of one packet, and what it may do.
pub struct HelperContext<'a> {
    pub(crate) now: Tick,
    pub(crate) dir: Direction,
    pub(crate) state: TrackedState,
    pub(crate) orig: Tuple,
    pub(crate) expected: bool,
    pub(crate) payload: &'a [u8],
    pub(crate) tcp_seq: Option<u32>,
    pub(crate) data: &'a mut HelperData,
    pub(crate) helper: HelperRef,
    pub(crate) master: u32,
    pub(crate) zone: u16,
    pub(crate) broadcast_prefix: Option<u8>,
    pub(crate) expects: Expects<'a>,
    pub(crate) new_timeout: Option<u32>,
}

impl HelperContext<'_> {
    /// Direction of the packet.
    pub fn dir(&self) -> Direction {
        self.dir
    }

    /// Classification of the packet (new, established, related).
    pub fn state(&self) -> TrackedState {
        self.state
    }

    /// The connection's tuple in direction `dir`.
    pub fn tuple(&self, dir: Direction) -> Tuple {
        match dir {
            Direction::Original => self.orig,
            Direction::Reply => self.orig.invert().unwrap_or(self.orig),
        }
    }

    /// The connection was itself expected (it has a master).
    pub fn is_expected(&self) -> bool {
        self.expected
    }

    /// The application payload (after the TCP or UDP header).
    pub fn payload(&self) -> &[u8] {
        self.payload
    }

    /// The TCP sequence number of the packet (TCP connections only).
    pub fn tcp_seq(&self) -> Option<u32> {
        self.tcp_seq
    }

    /// The helper's per-connection state.
    pub fn data(&mut self) -> &mut HelperData {
        self.data
    }

    /// For a locally generated packet sent to a subnet broadcast address:
    /// the prefix length of that subnet (see [`Meta`](crate::Meta)).
    pub fn broadcast_prefix(&self) -> Option<u8> {
        self.broadcast_prefix
    }

    /// Register an expectation with this connection as master, under the
    /// helper's policy for its class (§8.2).
    pub fn expect(&mut self, exp: Expectation) -> Result<(), ExpectError> {
        let policy = self.helper.0.policy(exp.class);
        self.expects.register(self.now, self.master, self.zone, policy, exp, self.helper)
    }

    /// True if another connection with this helper already expects a
    /// connection with original tuple `t` in expectation class `class`
    /// (SIP: the media of a call is expected once, §9.4).
    pub fn expected_elsewhere(&self, t: &Tuple, class: u8) -> bool {
        self.expects.expected_elsewhere(self.now, t, self.master, self.zone, class, self.helper)
    }

    /// Remove this connection's expectations that `f` selects.
    pub fn unexpect(&mut self, f: &mut dyn FnMut(&Expectation) -> bool) -> usize {
        self.expects.remove(self.master, f)
    }

    /// Activate this connection's first expectation that `f` selects (clear
    /// INACTIVE) with a lifetime of `timeout` seconds.
    pub fn activate(&mut self, f: &mut dyn FnMut(&Expectation) -> bool, timeout: u32) -> bool {
        self.expects.activate(self.now, self.master, f, timeout)
    }

    /// Give the connection a lifetime of `secs` seconds from now, replacing
    /// what its protocol tracker chose (SIP: 3600 s).
    pub fn set_timeout(&mut self, secs: u32) {
        self.new_timeout = Some(secs);
    }
}

/// Storage for one connection's helper and master link.
#[derive(Debug, Clone, Copy)]
pub struct ExtSlot(pub(crate) Option<Ext>);

impl ExtSlot {
    /// An unused extension slot.
    pub const EMPTY: ExtSlot = ExtSlot(None);
}

/// What an entry with a helper or a master carries besides its slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ext {
    pub helper: Option<HelperRef>,
    /// The master's original tuple (kept by value: the master may die first).
    pub master: Option<Tuple>,
    pub data: HelperData,
}

/// The built-in helpers, by their Linux names.
pub fn by_name(name: &str) -> Option<&'static dyn Helper> {
    match name {
        "ftp" => Some(&ftp::FTP),
        "tftp" => Some(&tftp::TFTP),
        "sip" => Some(&sip::SIP),
        "snmp" => Some(&broadcast::SNMP),
        "netbios-ns" => Some(&broadcast::NETBIOS_NS),
        _ => None,
    }
}

/// Standard (protocol, port) assignments of a built-in helper (semantics
/// §9, the ports the Linux oracle assigns).
pub fn standard_ports(name: &str) -> &'static [(u8, u16)] {
    match name {
        "ftp" => &[(6, 21)],
        "tftp" => &[(17, 69)],
        "sip" => &[(17, 5060), (6, 5060)],
        "snmp" => &[(17, 161)],
        "netbios-ns" => &[(17, 137)],
        _ => &[],
    }
}
