//! Helpers: readers of control connections that expect follow-up
//! connections (Linux's conntrack helpers, `nf_conntrack_helper.c`), and the
//! trait through which users add their own.
//!
//! A helper is registered with a table
//! ([`ConnTable::register_helper`](crate::ConnTable::register_helper),
//! which gives it its identity, a [`HelperId`]) and assigned explicitly,
//! as in current Linux: a [`HelperAssignment`] names the protocol and
//! destination port (and optionally the zone and family) whose new
//! connections get the helper. It then sees every packet of those
//! connections that passes (at confirmation, as Linux runs helpers; ICMP
//! errors about them too, except those travelling in the reply direction)
//! and may register [`Expectation`]s; a new
//! connection that matches one is RELATED to its master.
//!
//! The built-in helpers ([`builtin`], one cargo feature each) are
//! registered and assigned to their standard ports by
//! [`ConnTable::add_builtin_helper`](crate::ConnTable::add_builtin_helper).
//!
//! Per-connection helper state lives in the table's extension slots as a
//! small byte array ([`HelperData`]) that a helper reads and writes through
//! its own typed state ([`HelperState`]), so helpers need no allocation.

#[cfg(feature = "helper-amanda")]
pub(crate) mod amanda;
#[cfg(any(feature = "helper-snmp", feature = "helper-netbios-ns"))]
pub(crate) mod broadcast;
#[cfg(feature = "helper-ftp")]
pub(crate) mod ftp;
#[cfg(feature = "helper-irc")]
pub(crate) mod irc;
#[cfg(feature = "helper-pptp")]
pub(crate) mod pptp;
mod registry;
#[cfg(feature = "helper-sane")]
pub(crate) mod sane;
#[cfg(feature = "helper-sip")]
pub(crate) mod sip;
#[cfg(feature = "helper-snmp")]
pub(crate) mod snmp;
mod state;
#[cfg(feature = "helper-tftp")]
pub(crate) mod tftp;

pub use registry::{BUILTINS, Builtin, builtin};
pub use state::{HelperData, HelperState, StateReader, StateWriter};

pub use crate::expect::HelperId;
use core::net::IpAddr;

use crate::expect::{ExpectError, ExpectPolicy, Expectation, Expects};
use crate::hash::hash_words;
use crate::nat::payload::{Rewrite, SeqAdj};
use crate::reason::HelperDrop;
use crate::table::SourceLinks;
use crate::time::Tick;
use crate::tuple::{Direction, Family, Tuple};
use crate::verdict::CtState;
use crate::zeroed::{Maybe, Zeroed};

/// A connection-tracking helper.
///
/// ```
/// use ctrack::helper::{Helper, HelperContext};
/// use ctrack::{Config, ConnTable, CtState, ExpectPolicy, Expectation, FixedConnTable, HashKey};
/// use ctrack::{HelperAssignment, HelperDrop, Tuple};
///
/// /// Expects a TCP connection back to the port named in a "CALLBACK <port>" line.
/// struct Callback;
///
/// impl Helper for Callback {
///     fn name(&self) -> &'static str { "callback" }
///     fn policy(&self, _class: u8) -> ExpectPolicy {
///         ExpectPolicy::new(1, 60)
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
///
/// static CALLBACK: Callback = Callback;
///
/// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::default());
/// let id = table.register_helper(&CALLBACK).unwrap();
/// table.assign_helper(HelperAssignment::new(id, 6, 7000)).unwrap();
/// assert_eq!(table.helper(id).map(|h| h.name()), Some("callback"));
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

/// Which new connections get a helper: protocol and destination port, and
/// optionally only one zone or one address family
/// (`nf_conntrack_helper.c: __nf_ct_try_assign_helper()`: modern Linux
/// assigns helpers only by explicit rules).
///
/// ```
/// # #[cfg(feature = "helper-snmp")] {
/// use ctrack::{Family, HelperAssignment};
/// # use ctrack::{Config, ConnTable, FixedConnTable, HashKey};
/// # let mut table: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::default());
/// let snmp = table.register_helper(ctrack::helper::builtin("snmp").unwrap().helper).unwrap();
/// let a = HelperAssignment::new(snmp, 17, 161).family(Family::Ipv4).zone(3);
/// table.assign_helper(a).unwrap();
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelperAssignment {
    pub(crate) helper: HelperId,
    pub(crate) proto: u8,
    pub(crate) port: u16,
    pub(crate) zone: Option<u16>,
    pub(crate) family: Option<Family>,
}

impl HelperAssignment {
    /// Give `helper` to new connections of IP protocol `proto` (6 TCP,
    /// 17 UDP) to destination port `port`.
    pub fn new(helper: HelperId, proto: u8, port: u16) -> HelperAssignment {
        HelperAssignment { helper, proto, port, zone: None, family: None }
    }

    /// Only connections in `zone`.
    pub fn zone(self, zone: u16) -> HelperAssignment {
        HelperAssignment { zone: Some(zone), ..self }
    }

    /// Only connections of `family`.
    pub fn family(self, family: Family) -> HelperAssignment {
        HelperAssignment { family: Some(family), ..self }
    }

    /// The helper.
    pub fn helper(&self) -> HelperId {
        self.helper
    }

    pub(crate) fn applies(&self, t: &Tuple, zone: u16) -> bool {
        t.proto() == self.proto
            && t.dport() == Some(self.port)
            && self.zone.is_none_or(|z| z == zone)
            && self.family.is_none_or(|f| f == t.family())
    }
}

/// What a helper sees of one packet, and what it may do.
pub struct HelperContext<'a> {
    pub(crate) now: Tick,
    pub(crate) dir: Direction,
    pub(crate) state: CtState,
    pub(crate) orig: Tuple,
    /// The reply tuple: the inverted original, or NAT's.
    pub(crate) reply: Tuple,
    /// The connection has NAT: its reply tuple is its own.
    pub(crate) natted: bool,
    /// The payload edits of NAT for this packet.
    pub(crate) rewrite: &'a mut Rewrite,
    pub(crate) expected: bool,
    pub(crate) payload: &'a [u8],
    /// Bytes of the packet's layer-4 part (the IP payload): more than the
    /// UDP header and the payload when the UDP length says less.
    #[cfg_attr(not(all(feature = "helper-snmp", feature = "nat-helpers")), allow(dead_code))]
    pub(crate) l4_len: usize,
    pub(crate) tcp_seq: Option<u32>,
    pub(crate) data: &'a mut HelperData,
    pub(crate) helper: &'static dyn Helper,
    pub(crate) helper_id: HelperId,
    pub(crate) master: u32,
    pub(crate) zone: u16,
    pub(crate) broadcast_prefix: Option<u8>,
    pub(crate) expects: Expects<'a>,
    pub(crate) new_timeout: Option<u32>,
    /// What the PPTP helper may do to the table's GRE key map.
    #[cfg(feature = "helper-pptp")]
    pub(crate) pptp: crate::table::keymap::PptpCx<'a>,
}

impl<'a> HelperContext<'a> {
    /// Direction of the packet.
    pub fn dir(&self) -> Direction {
        self.dir
    }

    /// Classification of the packet: new, established or related.
    pub fn state(&self) -> CtState {
        self.state
    }

    /// The connection's tuple in direction `dir`.
    pub fn tuple(&self, dir: Direction) -> Tuple {
        match dir {
            Direction::Original => self.orig,
            Direction::Reply => self.reply,
        }
    }

    /// The connection is translated ([`ConnTable::nat`](crate::ConnTable::nat)):
    /// its reply tuple is not the inverted original, and what the packet
    /// announces must be rewritten ([`HelperContext::expect_translated`],
    /// [`HelperContext::mangle`]).
    pub fn is_translated(&self) -> bool {
        self.natted
    }

    /// Register `exp` for a translated connection, as Linux's NAT helpers
    /// do (`nf_nat_helper.c: nf_nat_exp_find_port()`): the expected
    /// connection travels in direction `from` of this one, towards the
    /// translated address in `exp`'s tuple, and is translated on arrival to
    /// `saved` (the address and port the packet announced); `sip_media`
    /// selects SIP's rule for its source (`nf_nat_sip_expected()`) instead
    /// of following the master (`nf_nat_follow_master()`). The
    /// destination port is kept if free, otherwise up to 128 others from
    /// it to 65535 are tried. Returns the port the expected connection
    /// will be addressed to, which the announcement must then carry.
    pub fn expect_translated(
        &mut self,
        exp: Expectation,
        from: Direction,
        saved: (IpAddr, u16),
        sip_media: bool,
    ) -> Result<u16, ExpectError> {
        let nat = exp.translated(from, saved, sip_media).nat;
        let first = exp.tuple.dport().unwrap_or(0);
        let range = u32::from(u16::MAX - first).max(1);
        let mut port = first;
        for attempt in 0..=128u64 {
            let t = crate::nat::with_dst_port(&exp.tuple, port);
            match self.expect(Expectation { tuple: t, nat, ..exp }) {
                Ok(()) => return Ok(port),
                Err(ExpectError::Clash | ExpectError::Exists) if attempt < 128 && first < u16::MAX => {
                    // Linux draws the next port at random; here a keyed
                    // hash of the tuple and the attempt.
                    let h = hash_words(self.expects.key, &[u64::from(port), attempt, u64::from(self.master)]);
                    port = first + (h % u64::from(range)) as u16;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ExpectError::Clash)
    }

    /// Replace `len` bytes of the payload at `off` by `text` when the
    /// packet is translated ([`ConnTable::translate_in`](crate::ConnTable::translate_in)),
    /// as Linux's NAT helpers mangle packets
    /// (`nf_nat_helper.c: __nf_nat_mangle_tcp_packet()`): a TCP
    /// connection's sequence numbers are adjusted for the change of
    /// length from then on. False if the edit overlaps another one of this
    /// packet or there is no room for it: the packet must then be dropped.
    pub fn mangle(&mut self, off: usize, len: usize, text: &[u8]) -> bool {
        off.checked_add(len).is_some_and(|end| end <= self.payload.len()) && self.rewrite.push(off, len, text)
    }

    /// Whether an edit of this packet ([`HelperContext::mangle`]) touches
    /// the `len` bytes of the payload at `off`.
    #[cfg(all(feature = "nat-helpers", feature = "helper-sip"))]
    pub(crate) fn is_mangled(&self, off: usize, len: usize) -> bool {
        self.rewrite.touches(off, len)
    }

    /// Send this packet, a UDP datagram, to port `port` of its
    /// destination when it is translated, whatever port the translation
    /// gives (the SIP helper's "forced" port, `nf_nat_sip()`).
    #[cfg(all(feature = "nat-helpers", feature = "helper-sip"))]
    pub(crate) fn force_dport(&mut self, port: u16) {
        self.rewrite.force_dport(port);
    }

    /// The connection was itself expected (it has a master).
    pub fn is_expected(&self) -> bool {
        self.expected
    }

    /// The application payload: after the TCP or UDP header, or, for an
    /// ICMP error RELATED to the connection, after the ICMP header (the
    /// quoted packet), as Linux hands the helper the bytes past its own
    /// protocol's header offset.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The TCP sequence number of the packet (TCP connections only).
    pub fn tcp_seq(&self) -> Option<u32> {
        self.tcp_seq
    }

    /// The identity of the helper running, e.g. for expectations whose
    /// connection gets the same helper ([`Expectation::with_helper`]).
    pub fn helper_id(&self) -> HelperId {
        self.helper_id
    }

    /// The helper's per-connection state, as the helper's type `T` (all
    /// zero bytes when the helper was attached).
    pub fn load<T: HelperState>(&self) -> T {
        T::load(&mut StateReader::new(self.data))
    }

    /// Store the helper's per-connection state.
    pub fn store<T: HelperState>(&mut self, state: &T) {
        state.store(&mut StateWriter::new(self.data));
    }

    /// For a locally generated packet sent to a subnet broadcast address:
    /// the prefix length of that subnet (see [`Meta`](crate::Meta)).
    pub fn broadcast_prefix(&self) -> Option<u8> {
        self.broadcast_prefix
    }

    /// Register an expectation with this connection as master, under the
    /// helper's policy for its class
    /// (`nf_conntrack_expect.c: nf_ct_expect_related_report()`).
    pub fn expect(&mut self, exp: Expectation) -> Result<(), ExpectError> {
        let policy = self.helper.policy(exp.class());
        self.expects.register(self.now, self.master, self.zone, policy, exp, self.helper_id)
    }

    /// True if another connection with this helper already expects a
    /// connection with original tuple `t` in expectation class `class`
    /// (SIP: the media of a call is expected once,
    /// `nf_conntrack_sip.c: set_expected_rtp_rtcp()`).
    pub fn expected_elsewhere(&self, t: &Tuple, class: u8) -> bool {
        self.expects.expected_elsewhere(self.now, t, self.master, self.zone, class, self.helper_id)
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

    /// Add this connection's GRE key map entry for direction `dir`
    /// (`nf_conntrack_proto_gre.c: nf_ct_gre_keymap_add()`).
    #[cfg(feature = "helper-pptp")]
    pub(crate) fn keymap_add(&mut self, dir: Direction, t: Tuple) -> bool {
        let (orig, zone) = (self.orig, self.zone);
        self.pptp.keymap.as_deref_mut().is_some_and(|k| k.add(&orig, zone, dir, &t))
    }

    /// Remove this connection's GRE key map entries
    /// (`nf_conntrack_proto_gre.c: nf_ct_gre_keymap_destroy()`).
    #[cfg(feature = "helper-pptp")]
    pub(crate) fn keymap_destroy(&mut self) {
        let (orig, zone) = (self.orig, self.zone);
        if let Some(k) = self.pptp.keymap.as_deref_mut() {
            k.destroy(&orig, zone);
        }
    }

    /// Give the connection a lifetime of `secs` seconds from now, replacing
    /// what its protocol tracker chose (SIP: 3600 s).
    pub fn set_timeout(&mut self, secs: u32) {
        self.new_timeout = Some(secs);
    }
}

/// Why a helper could not be registered or assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HelperError {
    /// The table has [`MAX_HELPERS`](crate::MAX_HELPERS) helpers already.
    TooManyHelpers,
    /// The table has [`MAX_HELPER_ASSIGNMENTS`](crate::MAX_HELPER_ASSIGNMENTS) already.
    TooManyAssignments,
    /// The helper is not registered with this table.
    UnknownHelper,
}

impl core::fmt::Display for HelperError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HelperError::TooManyHelpers => "too many helpers registered",
            HelperError::TooManyAssignments => "too many helper assignments",
            HelperError::UnknownHelper => "helper not registered with this table",
        })
    }
}

impl core::error::Error for HelperError {}

/// Storage for one connection's helper, master link or NAT binding, and
/// the slot's links in the table's chains of source NAT bindings.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExtSlot(pub(crate) Maybe<Ext>, pub(crate) SourceLinks);

impl ExtSlot {
    /// An unused extension slot.
    pub const EMPTY: ExtSlot = ExtSlot(Maybe::NONE, SourceLinks::NONE);
}

/// What an entry with a helper or a master carries besides its slot.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Ext {
    /// The slot of the entry it belongs to. (In an unused extension slot,
    /// carried by its none: the link of the stack of unused slots,
    /// `table/ext_free.rs`.)
    pub owner: u32,
    pub helper: Option<HelperId>,
    /// The master's original tuple (kept by value: the master may die first).
    pub master: Option<Tuple>,
    pub data: HelperData,
    /// The canonical form of a reply tuple of the entry's own (NAT), and
    /// whether the reply tuple is that form: the entry's secondary index
    /// key. Meaningful only when the entry has NAT status bits.
    pub reply: Tuple,
    pub reply_is_key: bool,
    /// TCP sequence adjustment per direction (original, reply) after NAT
    /// resized payloads (`struct nf_conn_seqadj`); meaningful with status
    /// SEQ_ADJUST.
    pub seqadj: [SeqAdj; 2],
}

impl Ext {
    /// A new extension of the entry in slot `owner`.
    pub(crate) fn new(owner: u32, helper: Option<HelperId>, master: Option<Tuple>) -> Ext {
        Ext { owner, helper, master, ..Ext::ZERO }
    }

    /// The entry's own reply tuple (NAT's), from its canonical form;
    /// meaningful only when the entry has one (`Entry::has_own_reply`).
    pub(crate) fn own_reply(&self) -> Option<Tuple> {
        if self.reply_is_key { Some(self.reply) } else { self.reply.invert() }
    }
}

impl Zeroed for Ext {
    const ZERO: Ext = Ext {
        owner: 0,
        helper: None,
        master: None,
        data: HelperData::ZERO,
        reply: Tuple::ZERO,
        reply_is_key: false,
        seqadj: [SeqAdj::ZERO; 2],
    };
}

#[cfg(feature = "defmt")]
impl defmt::Format for HelperContext<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "HelperContext({} {} {})", self.state, self.dir, self.orig);
    }
}
