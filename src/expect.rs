//! Expectations (`nf_conntrack_expect.c`): connections a helper has seen
//! announced in a control connection, which become RELATED when they arrive.
//!
//! An expectation is the original tuple of the future connection, with a
//! mask on its source (address prefix, any or exact source port), the
//! master connection that announced it, and a deadline. The table keeps
//! them in a small fixed array scanned linearly: expectations are few (a
//! handful per helper connection, at most `max_expected` per class), and
//! the scan happens only while at least one exists.

use core::fmt;
use core::net::IpAddr;

use crate::hash::{HashKey, slot};
use crate::time::Tick;
use crate::tuple::{CliAddr, Direction, Family, L4, Tuple};
use crate::zeroed::{Maybe, Zeroed};

/// Flags of an expectation (`NF_CT_EXPECT_*` in
/// `uapi/linux/netfilter/nf_conntrack_common.h`).
///
/// ```
/// use ctrack::ExpectFlags;
/// let f = ExpectFlags::PERMANENT | ExpectFlags::INACTIVE;
/// assert!(f.contains(ExpectFlags::INACTIVE));
/// assert_eq!(f.to_string(), "PERMANENT,INACTIVE");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExpectFlags(u8);

impl ExpectFlags {
    /// Not consumed when matched
    /// (`uapi/linux/netfilter/nf_conntrack_common.h: NF_CT_EXPECT_PERMANENT`).
    pub const PERMANENT: ExpectFlags = ExpectFlags(0x1);
    /// Exists but does not match yet (SIP registrations).
    pub const INACTIVE: ExpectFlags = ExpectFlags(0x2);

    /// No flag.
    pub const fn empty() -> ExpectFlags {
        ExpectFlags(0)
    }

    /// True if every flag of `other` is set.
    pub const fn contains(self, other: ExpectFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn remove(&mut self, other: ExpectFlags) {
        self.0 &= !other.0;
    }
}

impl core::ops::BitOr for ExpectFlags {
    type Output = ExpectFlags;
    fn bitor(self, rhs: ExpectFlags) -> ExpectFlags {
        ExpectFlags(self.0 | rhs.0)
    }
}

/// The set flags as `conntrack -L expect` prints them: `PERMANENT,INACTIVE`.
impl fmt::Display for ExpectFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [(ExpectFlags::PERMANENT, "PERMANENT"), (ExpectFlags::INACTIVE, "INACTIVE")];
        let mut first = true;
        for (flag, name) in names {
            if self.contains(flag) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A helper registered with a table ([`ConnTable::register_helper`](crate::ConnTable::register_helper)):
/// its identity, which expectations name to give the connection they
/// expect a helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelperId(pub(crate) u8);

/// A connection expected by a helper.
///
/// ```
/// use ctrack::{ExpectFlags, Expectation, Tuple};
/// let t = Tuple::with_ports("192.0.2.1".parse().unwrap(), 0,
///                           "198.51.100.2".parse().unwrap(), 2000, 6).unwrap();
/// let e = Expectation::from_any_port(t).with_class(1).with_flags(ExpectFlags::PERMANENT);
/// assert_eq!((e.class(), e.src_prefix(), e.any_src_port()), (1, 32, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Expectation {
    /// The expected original tuple (its source port is ignored when
    /// `any_src_port` is set).
    pub(crate) tuple: Tuple,
    /// How many leading bits of the source address must match.
    pub(crate) src_prefix: u8,
    pub(crate) any_src_port: bool,
    pub(crate) class: u8,
    pub(crate) flags: ExpectFlags,
    pub(crate) helper: Option<HelperId>,
    /// How the expected connection is translated when its master has NAT.
    pub(crate) nat: ExpectNat,
}

/// How a connection expected by a NATed master is translated when it
/// arrives (the expectation's `saved_addr`, `saved_proto`, `dir` and
/// `expectfn` in Linux): destination NAT to the address and port the
/// announcement carried before the helper rewrote it, and source NAT as
/// the master's (`nf_nat_helper.c: nf_nat_follow_master()`,
/// `nf_nat_sip.c: nf_nat_sip_expected()`). All zero: no translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct ExpectNat {
    /// 0: none; [`ExpectNat::FOLLOW_MASTER`], [`ExpectNat::SIP_MEDIA`] or
    /// [`ExpectNat::PPTP`].
    pub kind: u8,
    /// The master's direction the expected connection travels in.
    pub reply: bool,
    /// Where the expected connection is really going: the announced
    /// address and port.
    pub saved_addr: [u8; 16],
    pub saved_port: u16,
}

impl ExpectNat {
    pub(crate) const NONE: ExpectNat =
        ExpectNat { kind: 0, reply: false, saved_addr: [0; 16], saved_port: 0 };
    /// Source NAT to where the master's peer sends, destination NAT to the
    /// saved address and port (`nf_nat_follow_master()`).
    pub(crate) const FOLLOW_MASTER: u8 = 1;
    /// Destination NAT to the saved address and port; source NAT as the
    /// master only for a connection from the master's own peer
    /// (`nf_nat_sip_expected()`).
    pub(crate) const SIP_MEDIA: u8 = 2;
    /// A PPTP call's GRE connection (`nf_nat_pptp.c: pptp_nat_expected()`):
    /// source NAT to where the master's peer sends, destination NAT to
    /// where the master's packets come from, and the saved key (in
    /// `saved_port`) as the translated source key of a connection in the
    /// master's original direction, the destination key of one in its
    /// reply direction.
    pub(crate) const PPTP: u8 = 3;

    pub(crate) fn is_none(&self) -> bool {
        self.kind == 0
    }
}

impl Expectation {
    /// A one-shot expectation of `tuple` from its exact source address and
    /// any source port: what FTP, TFTP and SIP media create.
    pub fn from_any_port(tuple: Tuple) -> Expectation {
        let src_prefix = match tuple.family() {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        };
        Expectation {
            tuple,
            src_prefix,
            any_src_port: true,
            class: 0,
            flags: ExpectFlags::empty(),
            helper: None,
            nat: ExpectNat::NONE,
        }
    }

    /// Match only the first `bits` bits of the source address (0: any
    /// source; capped at the address length).
    pub fn with_src_prefix(self, bits: u8) -> Expectation {
        let max = match self.tuple.family() {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        };
        Expectation { src_prefix: bits.min(max), ..self }
    }

    /// Match the tuple's source port exactly.
    pub fn with_exact_src_port(self) -> Expectation {
        Expectation { any_src_port: false, ..self }
    }

    /// Expectation class (0 by default), which selects the helper's
    /// policy ([`ExpectPolicy`]).
    pub fn with_class(self, class: u8) -> Expectation {
        Expectation { class, ..self }
    }

    /// Flags.
    pub fn with_flags(self, flags: ExpectFlags) -> Expectation {
        Expectation { flags, ..self }
    }

    /// The helper the expected connection gets (SIP registrations expect
    /// SIP signalling); by default none.
    pub fn with_helper(self, helper: HelperId) -> Expectation {
        Expectation { helper: Some(helper), ..self }
    }

    /// This expectation of a translated master: the connection comes in
    /// the master's direction `from` and is translated on arrival to
    /// `saved` (see [`ExpectNat`]).
    pub(crate) fn translated(self, from: Direction, saved: (IpAddr, u16), sip_media: bool) -> Expectation {
        let mut saved_addr = [0u8; 16];
        match saved.0 {
            IpAddr::V4(a) => saved_addr[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => saved_addr.copy_from_slice(&a.octets()),
        }
        let nat = ExpectNat {
            kind: if sip_media { ExpectNat::SIP_MEDIA } else { ExpectNat::FOLLOW_MASTER },
            reply: from == Direction::Reply,
            saved_addr,
            saved_port: saved.1,
        };
        Expectation { nat, ..self }
    }

    /// This expectation of a PPTP call's GRE connection, whose control
    /// connection is translated: it comes in the master's direction
    /// `from`, and its key is translated to `saved_key` on arrival
    /// ([`ExpectNat::PPTP`]).
    #[cfg(all(feature = "helper-pptp", feature = "nat-helpers"))]
    pub(crate) fn pptp_translated(self, from: Direction, saved_key: u16) -> Expectation {
        let nat = ExpectNat {
            kind: ExpectNat::PPTP,
            reply: from == Direction::Reply,
            saved_addr: [0; 16],
            saved_port: saved_key,
        };
        Expectation { nat, ..self }
    }

    /// The expected original tuple.
    pub fn tuple(&self) -> Tuple {
        self.tuple
    }

    /// How many leading bits of the source address must match.
    pub fn src_prefix(&self) -> u8 {
        self.src_prefix
    }

    /// Whether any source port matches.
    pub fn any_src_port(&self) -> bool {
        self.any_src_port
    }

    /// Expectation class.
    pub fn class(&self) -> u8 {
        self.class
    }

    /// Flags.
    pub fn flags(&self) -> ExpectFlags {
        self.flags
    }

    /// The helper the expected connection gets.
    pub fn helper(&self) -> Option<HelperId> {
        self.helper
    }

    /// True if a connection whose original tuple is `t` is the expected one.
    pub(crate) fn matches(&self, t: &Tuple) -> bool {
        let e = &self.tuple;
        e.family() == t.family()
            && e.proto() == t.proto()
            && e.dst_bytes() == t.dst_bytes()
            && e.dst_l4() == t.dst_l4()
            && (self.any_src_port || e.src_l4() == t.src_l4())
            && prefix_eq(e.src_bytes(), t.src_bytes(), self.src_prefix)
    }

    /// Two expectations clash when one connection could match both: equal
    /// destination and protocol, and equal on the source parts both masks
    /// cover (`nf_conntrack_expect.c: expect_clash()`).
    pub(crate) fn clashes(&self, o: &Expectation) -> bool {
        let (a, b) = (&self.tuple, &o.tuple);
        a.family() == b.family()
            && a.proto() == b.proto()
            && a.dst_bytes() == b.dst_bytes()
            && a.dst_l4() == b.dst_l4()
            && (self.any_src_port || o.any_src_port || a.src_l4() == b.src_l4())
            && prefix_eq(a.src_bytes(), b.src_bytes(), self.src_prefix.min(o.src_prefix))
    }

    /// Same tuple and same mask.
    pub(crate) fn same_target(&self, o: &Expectation) -> bool {
        self.tuple.dst_bytes() == o.tuple.dst_bytes()
            && self.tuple.dst_l4() == o.tuple.dst_l4()
            && self.tuple.proto() == o.tuple.proto()
            && self.tuple.family() == o.tuple.family()
            && self.src_prefix == o.src_prefix
            && self.any_src_port == o.any_src_port
            && prefix_eq(self.tuple.src_bytes(), o.tuple.src_bytes(), self.src_prefix)
            && (self.any_src_port || self.tuple.src_l4() == o.tuple.src_l4())
    }
}

fn prefix_eq(a: &[u8; 16], b: &[u8; 16], bits: u8) -> bool {
    let bits = usize::from(bits.min(128));
    let (full, rest) = (bits / 8, bits % 8);
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || {
        let m = 0xffu8 << (8 - rest);
        a[full] & m == b[full] & m
    }
}

/// A helper's limits for one expectation class
/// (`nf_conntrack_expect.h: struct nf_conntrack_expect_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ExpectPolicy {
    /// Most expectations one master may have in this class (0 = no limit);
    /// creating one more evicts the master's oldest.
    pub max_expected: u8,
    /// Lifetime of an expectation in seconds.
    pub timeout: u32,
    /// Name shown in listings (`/policy`), if any.
    pub name: Option<&'static str>,
}

impl ExpectPolicy {
    /// At most `max_expected` expectations per master (0 = no limit),
    /// living `timeout` seconds.
    pub const fn new(max_expected: u8, timeout: u32) -> ExpectPolicy {
        ExpectPolicy { max_expected, timeout, name: None }
    }

    /// The same policy with a name.
    pub const fn named(self, name: &'static str) -> ExpectPolicy {
        ExpectPolicy { name: Some(name), ..self }
    }
}

/// Storage for one expectation.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExpectSlot(pub(crate) Maybe<Pending>);

impl ExpectSlot {
    /// An unused expectation slot.
    pub const EMPTY: ExpectSlot = ExpectSlot(Maybe::NONE);
}

/// A registered expectation.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Pending {
    pub exp: Expectation,
    /// Slot of the master entry.
    pub master: u32,
    pub zone: u16,
    pub deadline: Tick,
    /// Creation order: newer expectations match first, the oldest is evicted.
    pub serial: u32,
    /// The helper of the master that registered it.
    pub owner: HelperId,
}

/// Why an expectation could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExpectError {
    /// An identical expectation of another class or master exists (-EALREADY).
    Exists,
    /// Another master's expectation would match the same connections (-EBUSY).
    Clash,
    /// The master reached `max_expected` and nothing could be evicted, or
    /// the expectation table is full (-EMFILE).
    Full,
    /// The master entry is gone.
    NoMaster,
    /// An IPv6 expectation given to a table built with feature
    /// `ipv4-only`, which tracks no IPv6 connection: it could never be met.
    FamilyNotTracked,
}

impl core::error::Error for ExpectError {}

impl fmt::Display for ExpectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExpectError::Exists => "expectation already exists",
            ExpectError::Clash => "expectation clashes with another",
            ExpectError::Full => "expectation table full",
            ExpectError::NoMaster => "master connection gone",
            ExpectError::FamilyNotTracked => "IPv6 expectation in an IPv4-only table",
        })
    }
}

/// One `conntrack -L expect` line (libnetfilter_conntrack,
/// `src/expect/snprintf_default.c: __snprintf_expect_default()`).
pub struct ExpectLine<'a> {
    pub(crate) pending: &'a Pending,
    pub(crate) master: Tuple,
    pub(crate) helper_name: Option<&'static str>,
    pub(crate) timeout: u32,
}

impl ExpectLine<'_> {
    /// The expectation: expected tuple, source mask, class, flags and the
    /// helper the expected connection gets.
    pub fn expectation(&self) -> Expectation {
        self.pending.exp
    }

    /// The original tuple of the master connection.
    pub fn master(&self) -> Tuple {
        self.master
    }

    /// The zone of the master connection (and of the expected one).
    pub fn zone(&self) -> u16 {
        self.pending.zone
    }

    /// Whole seconds until the expectation expires.
    pub fn timeout(&self) -> u32 {
        self.timeout
    }

    /// The name of the helper that registered it.
    pub fn helper_name(&self) -> Option<&'static str> {
        self.helper_name
    }
}

impl fmt::Display for ExpectLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.pending.exp;
        let t = &e.tuple;
        let sport = if e.any_src_port { 0 } else { t.src_l4() };
        write!(f, "{} proto={} src={} dst={}", self.timeout, t.proto(), CliAddr(t.src()), CliAddr(t.dst()))?;
        match t.l4() {
            L4::Ports { dport, .. } => write!(f, " sport={sport} dport={dport}")?,
            // GRE keys (the PPTP helper's expectations).
            L4::Gre { dstkey, .. } => write!(f, " srckey={sport:#x} dstkey={dstkey:#x}")?,
            _ => {}
        }
        let mask = mask_addr(t.family(), e.src_prefix);
        let full = mask_addr(t.family(), 128);
        write!(f, " mask-src={mask} mask-dst={full}")?;
        let src_mask = if e.any_src_port { 0 } else { 65535 };
        match t.l4() {
            L4::Ports { .. } => write!(f, " sport={src_mask} dport=65535")?,
            L4::Gre { .. } => write!(f, " srckey={src_mask:#x} dstkey=0xffff")?,
            _ => {}
        }
        let m = &self.master;
        write!(f, " master-src={} master-dst={}", CliAddr(m.src()), CliAddr(m.dst()))?;
        if let L4::Ports { sport, dport } = m.l4() {
            write!(f, " sport={sport} dport={dport}")?;
        }
        if self.pending.zone != 0 {
            write!(f, " zone={}", self.pending.zone)?;
        }
        if !e.flags.is_empty() {
            write!(f, " {}", e.flags)?;
        }
        write!(f, " class={}", e.class)?;
        if let Some(h) = self.helper_name {
            write!(f, " helper={h}")?;
        }
        Ok(())
    }
}

fn mask_addr(family: Family, bits: u8) -> IpAddr {
    let bits = u32::from(bits);
    match family {
        Family::Ipv4 => {
            let m = if bits == 0 { 0 } else { u32::MAX << (32 - bits.min(32)) };
            IpAddr::V4(m.into())
        }
        Family::Ipv6 => {
            let m = if bits == 0 { 0 } else { u128::MAX << (128 - bits.min(128)) };
            IpAddr::V6(m.into())
        }
    }
}

/// The expectation table: a view over the table's expectation slots and
/// the counters it updates.
///
/// An expectation lives in the probe window of its destination (address,
/// port, protocol, zone: the part of its tuple no mask touches), found by
/// the table's keyed hash, so that a new connection looks at one window,
/// not at every expectation (Linux hashes expectations by their tuple
/// for the same reason, `nf_conntrack_expect.c: nf_ct_expect_dst_hash()`).
pub(crate) struct Expects<'a> {
    pub slots: &'a mut [ExpectSlot],
    pub book: &'a mut ExpectBook,
    pub stats: &'a mut crate::stats::Stats,
    pub key: &'a HashKey,
}

/// The longest probe window of an expectation.
const EXPECT_WINDOW: usize = 16;

/// Bookkeeping kept beside the expectation slots.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ExpectBook {
    /// Creation counter: newer expectations match first.
    pub serial: u32,
    /// Slots in use, so that new connections skip the scan when none is.
    pub live: usize,
}

impl Zeroed for Pending {
    const ZERO: Pending = Pending {
        exp: Expectation {
            tuple: Tuple::ZERO,
            src_prefix: 0,
            any_src_port: false,
            class: 0,
            flags: ExpectFlags(0),
            helper: None,
            nat: ExpectNat::NONE,
        },
        master: 0,
        zone: 0,
        deadline: Tick::from_ticks(0),
        serial: 0,
        owner: HelperId(0),
    };
}

impl ExpectBook {
    pub(crate) const ZERO: ExpectBook = ExpectBook { serial: 0, live: 0 };

    /// No live expectation.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }
}

impl Expects<'_> {
    /// The slots where an expectation of a connection to `t`'s destination
    /// in `zone` lives.
    fn window(&self, t: &Tuple, zone: u16) -> impl Iterator<Item = usize> + use<> {
        let len = self.slots.len();
        let n = match t.family() {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        };
        let mut b = [0u8; 22];
        b[0] = t.family() as u8;
        b[1] = t.proto();
        b[2..4].copy_from_slice(&zone.to_be_bytes());
        b[4..6].copy_from_slice(&t.dst_l4().to_be_bytes());
        b[6..6 + n].copy_from_slice(&t.dst_bytes()[..n]);
        let home = slot(self.key, &b[..6 + n], len);
        (home..home + EXPECT_WINDOW.min(len)).map(move |i| if i >= len { i - len } else { i })
    }

    /// The expectation in slot `i`, if any. (Slots are read through
    /// `get`, as the table's are: no panic path.)
    fn pending(&self, i: usize) -> Option<&Pending> {
        self.slots.get(i).and_then(|s| s.0.as_ref())
    }

    /// Put `p` in slot `i`.
    fn put(&mut self, i: usize, p: Pending) {
        if let Some(s) = self.slots.get_mut(i) {
            s.0 = Maybe::some(p);
        }
    }

    pub(crate) fn delete(&mut self, i: usize) {
        if self.slots.get_mut(i).and_then(|s| s.0.take()).is_some() {
            self.book.live = self.book.live.saturating_sub(1);
            crate::stats::bump(&mut self.stats.expect_delete);
        }
    }

    /// Register `exp` for `master`
    /// (`nf_conntrack_expect.c: nf_ct_expect_related_report()`).
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        now: Tick,
        master: u32,
        zone: u16,
        policy: ExpectPolicy,
        exp: Expectation,
        owner: HelperId,
    ) -> Result<(), ExpectError> {
        if cfg!(feature = "ipv4-only") && exp.tuple.family() == Family::Ipv6 {
            return Err(ExpectError::FamilyNotTracked);
        }
        let mut free = None;
        // Expectations that could clash with this one share its
        // destination, so its window holds them all.
        for i in self.window(&exp.tuple, zone) {
            let Some(p) = self.pending(i).copied() else {
                free = free.or(Some(i));
                continue;
            };
            if !p.deadline.is_after(now) {
                self.delete(i);
                free = free.or(Some(i));
                continue;
            }
            if p.zone != zone {
                continue;
            }
            if p.master == master && p.exp.same_target(&exp) {
                if p.exp.class != exp.class {
                    return Err(ExpectError::Exists);
                }
                // The same expectation again (a retransmitted command): replace it.
                self.delete(i);
                free = free.or(Some(i));
            } else if p.exp.clashes(&exp) {
                return Err(if p.exp.same_target(&exp) { ExpectError::Exists } else { ExpectError::Clash });
            }
        }
        if policy.max_expected > 0 {
            let mine = |p: &Pending| p.master == master && p.exp.class == exp.class;
            let count = self.slots.iter().filter(|s| s.0.as_ref().is_some_and(mine)).count();
            if count >= usize::from(policy.max_expected) {
                // Evict the master's oldest expectation of this class.
                let oldest = (0..self.slots.len())
                    .filter(|&i| self.pending(i).is_some_and(mine))
                    .min_by_key(|&i| self.pending(i).map_or(u32::MAX, |p| p.serial));
                if let Some(i) = oldest {
                    self.delete(i);
                    if self.window(&exp.tuple, zone).any(|w| w == i) {
                        free = free.or(Some(i));
                    }
                }
                if count > usize::from(policy.max_expected) {
                    return Err(ExpectError::Full);
                }
            }
        }
        let i = free.ok_or(ExpectError::Full)?;
        self.book.serial = self.book.serial.wrapping_add(1);
        self.book.live += 1;
        let deadline = now.after_secs(policy.timeout);
        self.put(i, Pending { exp, master, zone, deadline, serial: self.book.serial, owner });
        crate::stats::bump(&mut self.stats.expect_create);
        Ok(())
    }

    /// The newest live, active expectation matching a new connection's
    /// tuple (`nf_conntrack_expect.c: nf_ct_find_expectation()`); a one-shot
    /// one is consumed.
    pub fn take_match(&mut self, now: Tick, t: &Tuple, zone: u16) -> Option<Pending> {
        let mut best: Option<usize> = None;
        for i in self.window(t, zone) {
            let Some(p) = self.pending(i).copied() else { continue };
            if !p.deadline.is_after(now) {
                self.delete(i);
                continue;
            }
            if p.zone == zone
                && !p.exp.flags.contains(ExpectFlags::INACTIVE)
                && p.exp.matches(t)
                && best.is_none_or(|b| {
                    self.pending(b).is_some_and(|q| p.serial.wrapping_sub(q.serial) as i32 > 0)
                })
            {
                best = Some(i);
            }
        }
        let i = best?;
        let p = self.pending(i).copied()?;
        if !p.exp.flags.contains(ExpectFlags::PERMANENT) {
            self.delete(i);
        }
        Some(p)
    }

    /// True if a live expectation of another master, registered by the
    /// same helper, in `class` and `zone`, would accept a connection whose
    /// original tuple is `t`.
    pub fn expected_elsewhere(
        &self,
        now: Tick,
        t: &Tuple,
        master: u32,
        zone: u16,
        class: u8,
        owner: HelperId,
    ) -> bool {
        self.window(t, zone).filter_map(|i| self.pending(i)).any(|p| {
            p.deadline.is_after(now)
                && p.master != master
                && p.zone == zone
                && p.exp.class == class
                && p.owner == owner
                && p.exp.matches(t)
        })
    }

    /// Remove the expectations of `master` that `f` selects; returns how many.
    pub fn remove(&mut self, master: u32, f: &mut dyn FnMut(&Expectation) -> bool) -> usize {
        let mut n = 0;
        for i in 0..self.slots.len() {
            if self.pending(i).is_some_and(|p| p.master == master && f(&p.exp)) {
                self.delete(i);
                n += 1;
            }
        }
        n
    }

    /// Make the first expectation of `master` that `f` selects matchable,
    /// living `timeout` seconds from now. Returns whether one was found.
    pub fn activate(
        &mut self,
        now: Tick,
        master: u32,
        f: &mut dyn FnMut(&Expectation) -> bool,
        timeout: u32,
    ) -> bool {
        for s in self.slots.iter_mut() {
            if let Some(p) = s.0.as_mut()
                && p.master == master
                && f(&p.exp)
            {
                p.exp.flags.remove(ExpectFlags::INACTIVE);
                p.deadline = now.after_secs(timeout);
                return true;
            }
        }
        false
    }

    /// True if a new connection whose original tuple is `t` would be
    /// expected (what [`Expects::take_match`] would find, without taking
    /// it).
    pub fn has_match(&self, now: Tick, t: &Tuple, zone: u16) -> bool {
        !self.is_empty()
            && self.window(t, zone).filter_map(|i| self.pending(i)).any(|p| {
                p.deadline.is_after(now)
                    && p.zone == zone
                    && !p.exp.flags.contains(ExpectFlags::INACTIVE)
                    && p.exp.matches(t)
            })
    }

    /// Put back an expectation read from a snapshot, with its serial: in
    /// its destination's window, replacing one of the same master and
    /// target; expired ones make room. No policy applies (the helper that
    /// made it applied its own).
    pub fn restore(&mut self, now: Tick, p: Pending) -> Result<(), ExpectError> {
        let mut free = None;
        for i in self.window(&p.exp.tuple, p.zone) {
            match self.pending(i).copied() {
                None => free = free.or(Some(i)),
                Some(q)
                    if !q.deadline.is_after(now)
                        || (q.master == p.master && q.zone == p.zone && q.exp.same_target(&p.exp)) =>
                {
                    self.delete(i);
                    free = free.or(Some(i));
                }
                Some(_) => {}
            }
        }
        let i = free.ok_or(ExpectError::Full)?;
        // New expectations must stay newer than restored ones.
        if self.book.live == 0 || p.serial.wrapping_sub(self.book.serial) as i32 > 0 {
            self.book.serial = p.serial;
        }
        self.book.live += 1;
        self.put(i, p);
        Ok(())
    }

    /// True if no expectation exists.
    pub fn is_empty(&self) -> bool {
        self.book.live == 0
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ExpectLine<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", defmt::Display2Format(self));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn t(src: &str, sport: u16, dst: &str, dport: u16) -> Tuple {
        Tuple::with_ports(src.parse().unwrap(), sport, dst.parse().unwrap(), dport, 6).unwrap()
    }

    #[test]
    fn masks() {
        let e = Expectation::from_any_port(t("192.168.1.10", 0, "198.51.100.5", 50069));
        assert!(e.matches(&t("192.168.1.10", 50123, "198.51.100.5", 50069)));
        assert!(!e.matches(&t("192.168.1.11", 50123, "198.51.100.5", 50069)));
        assert!(!e.matches(&t("192.168.1.10", 50123, "198.51.100.5", 50070)));
        let subnet = Expectation::from_any_port(t("192.168.1.255", 161, "192.168.1.10", 40000))
            .with_src_prefix(24)
            .with_exact_src_port();
        assert!(subnet.matches(&t("192.168.1.77", 161, "192.168.1.10", 40000)));
        assert!(!subnet.matches(&t("192.168.2.77", 161, "192.168.1.10", 40000)));
        assert!(!subnet.matches(&t("192.168.1.77", 162, "192.168.1.10", 40000)));
        assert!(!subnet.clashes(&e));
        assert_eq!(mask_addr(Family::Ipv4, 24).to_string(), "255.255.255.0");
        assert_eq!(mask_addr(Family::Ipv4, 0).to_string(), "0.0.0.0");
        assert_eq!(mask_addr(Family::Ipv6, 128).to_string(), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    }

    /// Expectations are found in the window of their destination: with a
    /// thousand of them pending, each is found (and used up) by the
    /// connection it expects, and a connection nobody expects finds none.
    #[test]
    fn found_by_destination_among_many() {
        with_expects::<1024>(found_by_destination);
    }

    /// `f` given expectations over `N` slots, a time and a policy without
    /// a per-master limit.
    fn with_expects<const N: usize>(f: impl FnOnce(&mut Expects<'_>, Tick, ExpectPolicy)) {
        let mut slots = [ExpectSlot::EMPTY; N];
        let mut book = ExpectBook::default();
        let mut stats = crate::stats::Stats::default();
        let key = HashKey([3; 16]);
        let mut x = Expects { slots: &mut slots, book: &mut book, stats: &mut stats, key: &key };
        f(&mut x, Tick::from_ticks(1000), ExpectPolicy::new(0, 60));
    }

    fn found_by_destination(x: &mut Expects<'_>, now: Tick, policy: ExpectPolicy) {
        let mut created = 0u16;
        for port in 1000..1900u16 {
            let e = Expectation::from_any_port(t("192.0.2.1", 0, "198.51.100.5", port));
            // A window may be full at this load; most fit.
            if x.register(now, u32::from(port), 0, policy, e, HelperId(0)).is_ok() {
                created += 1;
            }
        }
        assert!(created > 850, "{created}");
        assert_eq!(x.book.live, usize::from(created));
        let mut found = 0u16;
        for port in 1000..1900u16 {
            let c = t("192.0.2.1", 40000, "198.51.100.5", port);
            if let Some(p) = x.take_match(now, &c, 0) {
                assert_eq!(p.exp.tuple.dport(), Some(port));
                found += 1;
                assert!(x.take_match(now, &c, 0).is_none(), "used up");
            }
        }
        assert_eq!(found, created);
        assert!(x.is_empty());
        assert!(!x.has_match(now, &t("192.0.2.1", 1, "198.51.100.5", 1000), 0));
    }

    /// An IPv6 expectation can be registered, except in a table built with
    /// feature `ipv4-only`, where no IPv6 connection could ever meet it.
    #[test]
    fn ipv6_expectations_unless_ipv4_only() {
        with_expects::<16>(ipv6_expectations);
    }

    fn ipv6_expectations(x: &mut Expects<'_>, now: Tick, policy: ExpectPolicy) {
        let v6 = Expectation::from_any_port(t("2001:db8::1", 0, "2001:db8::5", 5000));
        let r = x.register(now, 1, 0, policy, v6, HelperId(0));
        if cfg!(feature = "ipv4-only") {
            assert_eq!(r, Err(ExpectError::FamilyNotTracked));
            assert!(x.is_empty());
        } else {
            assert_eq!(r, Ok(()));
        }
        let v4 = Expectation::from_any_port(t("192.0.2.1", 0, "198.51.100.5", 5000));
        assert_eq!(x.register(now, 1, 0, policy, v4, HelperId(0)), Ok(()));
    }
}
