//! The binding of a new connection: its new reply tuple, unique in the
//! table (`nf_nat_core.c: nf_nat_setup_info()`, `get_unique_tuple()`,
//! `find_best_ips_proto()`, `nf_nat_l4proto_unique_tuple()`).

use super::{NatError, NatRule, NatType};
use crate::expect::ExpectNat;
use crate::hash::hash_words;
use crate::status::{Status, TcpState};
use crate::table::{ConnTable, NatHooks, NatView, Storage};
use crate::time::Tick;
use crate::tuple::{Family, Tuple, has_ports, is_icmp_of, proto};
use crate::verdict::{Handle, Verdict};

/// The last tries of each round of a port search in which a new TCP
/// connection may evict an ending one whose tuple it would take
/// (`nf_nat_core.c: NF_NAT_HARDER_THRESH`, a quarter of
/// [`NAT_MAX_ATTEMPTS`]).
const NAT_HARDER_ATTEMPTS: u32 = NAT_MAX_ATTEMPTS / 4;

/// What a candidate tuple of the port search is to a new connection.
enum Used {
    Free,
    Taken,
    /// Free once the connection named, ending, is evicted.
    FreeOnceEvicted(Handle),
}

/// Most candidate tuples the first round of a port search tries
/// (`nf_nat_core.c: NF_NAT_MAX_ATTEMPTS`); each further round, from a new
/// offset, tries half as many, down to 16: at most 240 lookups.
pub const NAT_MAX_ATTEMPTS: u32 = 128;

/// An address as a number (IPv4 in the low 32 bits).
fn number(family: Family, a: &[u8; 16]) -> u128 {
    match family {
        Family::Ipv4 => u128::from(u32::from_be_bytes([a[0], a[1], a[2], a[3]])),
        Family::Ipv6 => u128::from_be_bytes(*a),
    }
}

/// The tuple with its source (`src`) or destination address replaced.
fn with_addr(t: &Tuple, src: bool, a: [u8; 16]) -> Tuple {
    let (s, d) = if src { (a, *t.dst_bytes()) } else { (*t.src_bytes(), a) };
    Tuple::from_raw(t.family(), t.proto(), s, d, t.src_l4(), t.dst_l4())
}

/// The tuple with its key (the source or destination port; the ICMP
/// identifier) set to `k`.
fn with_key(t: &Tuple, src: bool, k: u16) -> Tuple {
    let icmp = is_icmp_of(t.family(), t.proto());
    let (s, d) = if icmp || src { (k, t.dst_l4()) } else { (t.src_l4(), k) };
    Tuple::from_raw(t.family(), t.proto(), *t.src_bytes(), *t.dst_bytes(), s, d)
}

/// `t` with destination port `port` (TCP, UDP and the like).
pub(crate) fn with_dst_port(t: &Tuple, port: u16) -> Tuple {
    with_key(t, false, port)
}

/// The key NAT may change in `t`: `Some` for ICMP (the identifier, for
/// either type), for the port protocols and for GRE (the key; Linux's
/// `l4proto_in_range()` reads it as a port, and only a PPTP call's GRE
/// connection, which has a master, has it changed:
/// [`ConnTable::unique_key`]).
fn key(t: &Tuple, src: bool) -> Option<u16> {
    if is_icmp_of(t.family(), t.proto()) {
        Some(t.src_l4())
    } else if has_ports(t.proto()) || t.proto() == proto::GRE {
        Some(if src { t.src_l4() } else { t.dst_l4() })
    } else {
        None
    }
}

/// `nf_nat_core.c: l4proto_in_range()`: other protocols are always in
/// range.
fn key_in_range(t: &Tuple, src: bool, (lo, hi): (u16, u16)) -> bool {
    key(t, src).is_none_or(|k| (lo..=hi).contains(&k))
}

/// `nf_nat_core.c: nf_in_range()`, for source NAT: the source address
/// and port in the rule's ranges.
fn in_range(t: &Tuple, rule: &NatRule) -> bool {
    let addr_ok = rule.addrs.is_none_or(|(f, lo, hi)| {
        let a = number(f, t.src_bytes());
        (number(f, &lo)..=number(f, &hi)).contains(&a)
    });
    addr_ok && rule.ports.is_none_or(|r| key_in_range(t, true, r))
}

/// `nf_nat_core.c: find_best_ips_proto()`: the address of the range for
/// this connection, as Linux picks it: `jhash2()` of the source address
/// (its four 32-bit words as they lie in memory, little-endian as on the
/// machines Linux mostly runs on), seeded unless `persistent` with the
/// destination address's last word and the zone, scaled into the range
/// word by word, each further word mixed with the destination's (for
/// destination NAT, the word just chosen). No
/// secret: a client gets the same public address towards a server on
/// every boot and every machine ("some Internet Banking sites like
/// this", the kernel's comment says), Linux's and ctrack's alike.
fn best_ips(t: &Tuple, rule: &NatRule, src: bool, zone: u16) -> Tuple {
    let Some((f, lo, hi)) = rule.addrs else { return *t };
    if lo == hi {
        return with_addr(t, src, lo);
    }
    let memory =
        |a: &[u8; 16], i: usize| u32::from_le_bytes([a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]]);
    let number =
        |a: &[u8; 16], i: usize| u32::from_be_bytes([a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]]);
    let (s, d) = (t.src_bytes(), t.dst_bytes());
    let last = if f == Family::Ipv4 { 0 } else { 3 };
    let seed = if rule.persistent { 0 } else { memory(d, last) ^ u32::from(zone) };
    let mut j = jhash2(&[memory(s, 0), memory(s, 1), memory(s, 2), memory(s, 3)], seed);
    let mut out = [0u8; 16];
    // Each word in the range's span while the words before are at the
    // range's end; past one that is not, any value.
    let mut full_range = false;
    for i in 0..=last {
        let (min, dist) = if full_range {
            (0, u32::MAX)
        } else {
            (number(&lo, i), number(&hi, i).wrapping_sub(number(&lo, i)).wrapping_add(1))
        };
        let w = min.wrapping_add(((u64::from(j) * u64::from(dist)) >> 32) as u32);
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
        full_range |= w != number(&hi, i);
        // (The destination's word, which for destination NAT is the one
        // just chosen: Linux writes its choice into the tuple it reads.)
        if !rule.persistent {
            j ^= if src { memory(d, i) } else { memory(&out, i) };
        }
    }
    with_addr(t, src, out)
}

/// Bob Jenkins' lookup3 hash of 32-bit words (`hashword()`), which the
/// kernel calls `jhash2()`: its mix of each three words, and its final mix
/// of the last one to three.
fn jhash2(words: &[u32], seed: u32) -> u32 {
    let init = 0xdead_beef_u32.wrapping_add((words.len() as u32) << 2).wrapping_add(seed);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut rest = words;
    while rest.len() > 3 {
        a = a.wrapping_add(rest[0]);
        b = b.wrapping_add(rest[1]);
        c = c.wrapping_add(rest[2]);
        a = a.wrapping_sub(c) ^ c.rotate_left(4);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a) ^ a.rotate_left(6);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b) ^ b.rotate_left(8);
        b = b.wrapping_add(a);
        a = a.wrapping_sub(c) ^ c.rotate_left(16);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a) ^ a.rotate_left(19);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b) ^ b.rotate_left(4);
        b = b.wrapping_add(a);
        rest = &rest[3..];
    }
    match *rest {
        [] => return c,
        [x] => a = a.wrapping_add(x),
        [x, y] => {
            a = a.wrapping_add(x);
            b = b.wrapping_add(y);
        }
        [x, y, z, ..] => {
            a = a.wrapping_add(x);
            b = b.wrapping_add(y);
            c = c.wrapping_add(z);
        }
    }
    c = (c ^ b).wrapping_sub(b.rotate_left(14));
    a = (a ^ c).wrapping_sub(c.rotate_left(11));
    b = (b ^ a).wrapping_sub(a.rotate_left(25));
    c = (c ^ b).wrapping_sub(b.rotate_left(16));
    a = (a ^ c).wrapping_sub(c.rotate_left(4));
    b = (b ^ a).wrapping_sub(a.rotate_left(14));
    (c ^ b).wrapping_sub(b.rotate_left(24))
}

impl<S: Storage> ConnTable<S> {
    /// Give the new connection of `verdict` (a NEW packet's, classified
    /// and not yet confirmed) the NAT binding `rule` describes, as a nat
    /// table rule does at the connection's first packet (`nf_nat_core.c:
    /// nf_nat_setup_info()`). Call it between [`ConnTable::classify`] and
    /// [`ConnTable::confirm`], at most once per [`NatType`] (destination
    /// NAT first, as Linux's PRE_ROUTING comes before POST_ROUTING); then
    /// rewrite every packet of the connection with
    /// [`ConnTable::translate`].
    ///
    /// The binding is the connection's new reply tuple: the inversion of
    /// the original tuple as it will look after translation. It must be
    /// unique: source NAT keeps the original source when it is in the
    /// range and free; a source out of the range that another connection
    /// translates already gets that translation again, if it is in the
    /// range and free (endpoint-independent mapping, as Linux's
    /// `find_appropriate_src()`: one public address and port per inside
    /// address and port, whatever the destination); otherwise the address
    /// is chosen in the range and the original port kept when the
    /// translated tuple is free; otherwise the port (ICMP identifier) is
    /// searched in the range from a hashed offset, with a bounded number
    /// of tries ([`NAT_MAX_ATTEMPTS`]), and [`NatError::NoFreeTuple`] when
    /// all are taken (drop the packet and [`ConnTable::discard`] the
    /// verdict). A tuple is taken when a confirmed connection has it as its
    /// original or reply tuple; in the search's last tries, a new TCP
    /// connection takes the tuple of one that is ending (TIME_WAIT, CLOSE)
    /// with source NAT if its own sequence numbers are past that one's,
    /// which is then deleted (Linux's `nf_nat_used_tuple_harder()`).
    ///
    /// A binding lives in one of the table's extension slots (the `X` of
    /// [`FixedConnTable`](crate::FixedConnTable), the `exts` of
    /// `ConnTable::with_capacities`): size them for the connections that
    /// will be NATed. When none is free, the connection holding one that is
    /// expired, or confirmed and not ASSURED, is evicted (early drop's
    /// rule); else the binding fails with [`NatError::NoRoom`].
    ///
    /// The status gets [`Status::SRC_NAT_DONE`] or
    /// [`Status::DST_NAT_DONE`], and [`Status::SRC_NAT`] or
    /// [`Status::DST_NAT`] if the binding changes anything.
    ///
    /// ```
    /// use ctrack::nat::NatRule;
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant, Status};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// // 10.0.0.1:5353 -> 10.0.0.2:53, UDP without checksum.
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let mut v = table.classify(now, &query, Default::default());
    /// table.nat(&v, &NatRule::snat("192.0.2.1".parse().unwrap())).unwrap();
    /// table.confirm(&mut v, &query).unwrap();
    /// let e = table.get(v.entry().unwrap(), now).unwrap();
    /// assert!(e.status().contains(Status::SRC_NAT | Status::SRC_NAT_DONE));
    /// assert_eq!(e.reply().dst(), "192.0.2.1".parse::<core::net::IpAddr>().unwrap());
    /// assert_eq!(e.reply().dport(), Some(5353), "the port is kept");
    /// ```
    pub fn nat(&mut self, verdict: &Verdict, rule: &NatRule) -> Result<(), NatError> {
        let Verdict::Tracked(t) = verdict else { return Err(NatError::NotNew) };
        let h = t.entry().filter(|_| t.is_unconfirmed() && !t.is_settled()).ok_or(NatError::NotNew)?;
        let v = self.nat_view(h).ok_or(NatError::StaleEntry)?;
        if v.status.contains(Status::CONFIRMED) {
            return Err(NatError::NotNew);
        }
        self.enable_follow_master();
        self.bind(h, self.classified_now(), rule)
    }

    /// Let connections expected by translated masters be translated on
    /// arrival, confirmation make the null source binding, and the loser
    /// of an insert race be kept under its reply tuple (called where
    /// bindings are made: NAT's code is linked only into programs that
    /// make them).
    pub(crate) fn enable_follow_master(&mut self) {
        self.set_nat_hooks(NatHooks {
            follow_master: |t, now, h, master, nat| t.follow_master(now, h, master, nat),
            null_binding: |t, h, now| t.null_source_binding(h, now),
            keep_loser_under_reply: |t, i, now| t.keep_loser_under_reply(i, now),
        });
    }

    /// The NAT of a connection expected by a translated master, at its
    /// creation (`nf_nat_helper.c: nf_nat_follow_master()`,
    /// `nf_nat_sip.c: nf_nat_sip_expected()`): destination NAT to the
    /// address and port the master's packet announced, and source NAT
    /// to where the master's peer sends. Linux ignores the bindings'
    /// results: where no tuple is free a taken one is kept
    /// ([`ConnTable::bind_keeping_taken`]), and confirmation drops the
    /// packet.
    fn follow_master(&mut self, now: Tick, h: Handle, master: u32, nat: &ExpectNat) {
        let Some(m) = self.handle_at(master as usize).and_then(|mh| self.nat_view(mh)) else { return };
        let Some(child) = self.nat_view(h) else { return };
        // The master's tuple of the direction opposite to the expected
        // connection's (`master->tuplehash[!exp->dir]`).
        let (opposite, same) = if nat.reply { (m.orig, m.reply) } else { (m.reply, m.orig) };
        let saved = child.orig.ip(&nat.saved_addr);
        let dnat = NatRule::dnat(saved).ports(nat.saved_port, nat.saved_port);
        if nat.kind == ExpectNat::SIP_MEDIA {
            self.bind_keeping_taken(h, now, &dnat);
            // Source NAT only for media from the master's own peer.
            let Some(child) = self.nat_view(h) else { return };
            let mine = if nat.reply { child.reply } else { child.orig };
            if mine.src_bytes() == same.src_bytes() {
                self.bind_keeping_taken(h, now, &NatRule::snat(opposite.dst()));
            }
        } else if nat.kind == ExpectNat::PPTP {
            // `nf_nat_pptp.c: pptp_nat_expected()`: the source to where
            // the master's packets of the other direction go, the
            // destination to where they come from; the saved key is the
            // source key of a connection in the master's original
            // direction, the destination key of one in its reply
            // direction.
            let key = nat.saved_port;
            let snat = NatRule::snat(opposite.dst());
            let snat = if nat.reply { snat } else { snat.ports(key, key) };
            self.bind_keeping_taken(h, now, &snat);
            let dnat = NatRule::dnat(opposite.src());
            let dnat = if nat.reply { dnat.ports(key, key) } else { dnat };
            self.bind_keeping_taken(h, now, &dnat);
        } else {
            self.bind_keeping_taken(h, now, &NatRule::snat(opposite.dst()));
            self.bind_keeping_taken(h, now, &dnat);
        }
    }

    /// `nf_nat_core.c: nf_nat_alloc_null_binding()` of the source, as
    /// Linux's nat hook at POSTROUTING makes it for a new connection that
    /// no source NAT rule bound: a binding to its own source address. It
    /// changes the connection only where its tuple (after destination
    /// NAT, which keeps a taken tuple) is another connection's: the source
    /// port (ICMP identifier) is then searched in its class, so that two
    /// clients forwarded to one server port from one source port both get
    /// through. Elsewhere nothing is done (Linux would set
    /// `SRC_NAT_DONE`, which changes nothing else).
    pub(crate) fn null_source_binding(&mut self, h: Handle, now: Tick) {
        if self.status_of(h).is_none_or(|s| s.contains(Status::SRC_NAT_DONE)) {
            return;
        }
        let Some(v) = self.nat_view(h) else { return };
        let Some(curr) = v.reply.invert() else { return };
        if self.nat_used(&curr, &v, now) {
            // (Failing, the connection keeps its tuple, and its insert
            // clashes at confirmation: dropped, as in Linux.)
            let _ = self.bind(h, now, &NatRule::snat(curr.src()));
        }
    }

    /// Bind the unconfirmed entry `h` to `rule` (`nf_nat_setup_info()`);
    /// where source NAT finds no free tuple, [`NatError::NoFreeTuple`].
    pub(crate) fn bind(&mut self, h: Handle, now: Tick, rule: &NatRule) -> Result<(), NatError> {
        self.bind_with(h, now, rule, false)
    }

    /// [`ConnTable::bind`] as Linux makes the bindings whose result it
    /// ignores (an expected connection's, `nf_nat_follow_master()`): where
    /// no tuple is free, the last one tried is kept all the same
    /// (`get_unique_tuple()` returns it), and the insert clash at
    /// confirmation drops the packet, rather than the connection going on
    /// untranslated. (A PPTP call's GRE connection, whose source NAT has a
    /// range of one key, meets this when another connection has that key.)
    fn bind_keeping_taken(&mut self, h: Handle, now: Tick, rule: &NatRule) {
        let _ = self.bind_with(h, now, rule, true);
    }

    /// [`ConnTable::bind`]; `keep_taken`: as
    /// [`ConnTable::bind_keeping_taken`].
    fn bind_with(&mut self, h: Handle, now: Tick, rule: &NatRule, keep_taken: bool) -> Result<(), NatError> {
        let v = self.nat_view(h).ok_or(NatError::StaleEntry)?;
        let src = rule.nat_type == NatType::Source;
        let (done, bit) = if src {
            (Status::SRC_NAT_DONE, Status::SRC_NAT)
        } else {
            (Status::DST_NAT_DONE, Status::DST_NAT)
        };
        if v.status.contains(done) {
            return Err(NatError::AlreadyBound);
        }
        if rule.mixed_families || rule.addrs.is_some_and(|(f, _, _)| f != v.orig.family()) {
            return Err(NatError::FamilyMismatch);
        }
        // What the connection looks like after the bindings made so far.
        let curr = v.reply.invert().ok_or(NatError::Malformed)?;
        let (new, evict) = self.unique_tuple(&curr, rule, &v, now, (h.generation, keep_taken))?;
        // The ending connection whose tuple the new one takes goes first.
        if let Some(old) = evict {
            self.delete(old);
        }
        if new != curr {
            let reply = new.invert().ok_or(NatError::Malformed)?;
            self.room_for_reply(now, h);
            self.set_reply(now, h, reply, bit).map_err(|_| NatError::NoRoom)?;
        }
        self.insert_status(h, done);
        Ok(())
    }

    /// [`ConnTable::nat_used`] for the port search's try with `left`
    /// tries left in its round (`nf_nat_core.c:
    /// nf_nat_used_tuple_harder()`): in the last [`NAT_HARDER_ATTEMPTS`]
    /// of a round, a new TCP connection (its SYN seen) may take the tuple
    /// of a connection ending (TIME_WAIT, CLOSE or SYN_SENT2) with source
    /// NAT and no fixed timeout, if the new one's sequence numbers in the
    /// original direction are past the old one's: the old connection is
    /// evicted (its late packets, which the new entry then gets, are out of
    /// its window). A small range (at most that many ports) is searched so
    /// from its first try.
    fn nat_used_harder(&self, t: &Tuple, v: &NatView, now: Tick, left: u32) -> Used {
        let free = |taken| if taken { Used::Taken } else { Used::Free };
        let Some((TcpState::SynSent, end)) = v.tcp.filter(|_| left <= NAT_HARDER_ATTEMPTS) else {
            return free(self.nat_used(t, v, now));
        };
        // The connection whose reply tuple the new one would have; none
        // (free, or taken by an original tuple): the plain test.
        let Some(old) = t.invert().and_then(|r| self.reply_owner(&r, v.zone, now)) else {
            return free(self.nat_used(t, v, now));
        };
        let Some(o) = self.nat_view(old) else { return Used::Free };
        if o.orig == v.orig {
            // The new connection's own flow: not a clash (as `nat_used`).
            return Used::Free;
        }
        let ending = o.tcp.filter(|&(state, _)| state as u8 >= TcpState::TimeWait as u8);
        match ending {
            Some((_, old_end))
                if o.status.contains(Status::SRC_NAT)
                    && !o.status.intersects(Status::FIXED_TIMEOUT | Status::DYING)
                    && end.0.wrapping_sub(old_end.0) as i32 > 0 =>
            {
                Used::FreeOnceEvicted(old)
            }
            _ => Used::Taken,
        }
    }

    /// Whether `t`, as the original tuple after translation, is taken:
    /// its inversion, the reply tuple it would give, belongs to another
    /// connection (`nf_nat_core.c: nf_nat_used_tuple()`).
    fn nat_used(&self, t: &Tuple, v: &NatView, now: Tick) -> bool {
        t.invert().is_none_or(|r| self.tuple_taken(&r, v.zone, now, &v.orig))
    }

    /// Whether `t`, the connection's own tuple (after destination NAT), is
    /// taken for source NAT's first try (`nf_nat_core.c:
    /// nf_nat_used_tuple_new()`): as [`ConnTable::nat_used`], but a tuple
    /// taken only by the connection of the reverse flow, opened by a packet
    /// the other way classified before this one was confirmed, counts as
    /// free when neither connection has NAT (source, destination or
    /// sequence adjustment) and the protocol's insert clash merges (UDP,
    /// UDP-Lite, GRE). The connection then keeps its tuple rather than
    /// have its source port moved (which would give the reverse flow's
    /// answers another port), and confirmation's clash resolution decides:
    /// its insert clashes with the reverse flow's entry, which keeps the
    /// flow, and its packet is dropped. (Linux meets this when two CPUs
    /// take a flow's first packets in both directions at once; here, when a
    /// caller classifies both before confirming either.)
    fn nat_used_new(&self, t: &Tuple, v: &NatView, now: Tick) -> bool {
        if !self.nat_used(t, v, now) {
            return false;
        }
        let uses_nat = Status::SRC_NAT | Status::DST_NAT | Status::SEQ_ADJUST;
        if !v.allow_clash || v.status.intersects(uses_nat) {
            return true;
        }
        // The connection that has `t` (the reverse flow's, as its reply
        // tuple), else the one that has its inversion.
        let other = self
            .owner(t, v.zone, now)
            .or_else(|| t.invert().and_then(|r| self.owner(&r, v.zone, now)))
            .and_then(|o| self.nat_view(o));
        let Some(o) = other else { return false };
        o.status.intersects(uses_nat) || o.orig != v.reply
    }

    /// `nf_nat_core.c: get_unique_tuple()`.
    fn unique_tuple(
        &self,
        curr: &Tuple,
        rule: &NatRule,
        v: &NatView,
        now: Tick,
        salt_keep: (u16, bool),
    ) -> Result<(Tuple, Option<Handle>), NatError> {
        let src = rule.nat_type == NatType::Source;
        // 1. Source NAT keeps the tuple if it is in the range and free; a
        // source out of the range takes the binding of another connection
        // of the same source, if that is in the range and free.
        if src && !rule.random_all() {
            if in_range(curr, rule) {
                if !self.nat_used_new(curr, v, now) {
                    return Ok((*curr, None));
                }
            } else if let Some(t) = self.appropriate_src(curr, rule, v.zone)
                && !self.nat_used(&t, v, now)
            {
                return Ok((t, None));
            }
        }
        // 2. The address.
        let t = best_ips(curr, rule, src, v.zone);
        // 3. The port, if it is in the range and the tuple free.
        if !rule.random_all()
            && rule.ports.is_none_or(|r| key_in_range(&t, src, r))
            && !self.nat_used(&t, v, now)
        {
            return Ok((t, None));
        }
        self.unique_key(t, rule, src, v, now, salt_keep)
    }

    /// `nf_nat_core.c: find_appropriate_src()`: `curr` with the source
    /// another connection of the same source (protocol, address, port or
    /// ICMP identifier, zone) is translated to, from the newest such
    /// connection whose translation is in the rule's range (taken or not:
    /// the caller checks).
    fn appropriate_src(&self, curr: &Tuple, rule: &NatRule, zone: u16) -> Option<Tuple> {
        self.source_bindings(curr, zone).find_map(|(orig, reply)| {
            let same_src = orig.family() == curr.family()
                && orig.proto() == curr.proto()
                && orig.src_bytes() == curr.src_bytes()
                && orig.src_l4() == curr.src_l4();
            // The source the other connection's packets leave with.
            let mapped = reply.invert()?;
            let t = with_addr(curr, true, *mapped.src_bytes());
            let t = match key(&mapped, true) {
                Some(k) => with_key(&t, true, k),
                None => t,
            };
            (same_src && in_range(&t, rule)).then_some(t)
        })
    }

    /// `nf_nat_core.c: nf_nat_l4proto_unique_tuple()`: search the port
    /// (ICMP identifier) range for a free tuple.
    fn unique_key(
        &self,
        t: Tuple,
        rule: &NatRule,
        src: bool,
        v: &NatView,
        now: Tick,
        (salt, keep_taken): (u16, bool),
    ) -> Result<(Tuple, Option<Handle>), NatError> {
        // Where no tuple is free: source NAT fails (Linux keeps the taken
        // tuple, and its insert fails at confirmation), but for a binding
        // made as Linux makes it ([`ConnTable::bind_keeping_taken`]);
        // destination NAT keeps the taken tuple, as Linux does, for the
        // source binding at confirmation to make it unique
        // ([`ConnTable::null_source_binding`]).
        let none_free = |taken: Tuple| {
            if src && !keep_taken { Err(NatError::NoFreeTuple) } else { Ok((taken, None)) }
        };
        // A GRE key is searched for only for a connection with a master
        // (a PPTP call's): `nf_nat_l4proto_unique_tuple()`.
        let gre = t.proto() == proto::GRE;
        let Some(k) = key(&t, src).filter(|_| !gre || v.status.contains(Status::EXPECTED)) else {
            // No ports: the tuple is what the addresses make it.
            return if self.nat_used(&t, v, now) { none_free(t) } else { Ok((t, None)) };
        };
        let icmp = is_icmp_of(t.family(), t.proto());
        let (min, size): (u32, u32) = match rule.ports {
            Some((lo, hi)) => (u32::from(lo), u32::from(hi) - u32::from(lo) + 1),
            None if icmp => (0, 65536),
            None if gre => (1, 65535),
            // Destination NAT without ports keeps the port.
            None if !src => {
                return if self.nat_used(&t, v, now) { none_free(t) } else { Ok((t, None)) };
            }
            // Source NAT stays in the port's class.
            None if k < 512 => (1, 511),
            None if k < 1024 => (600, 424),
            None => (1024, 65536 - 1024),
        };
        // The first offset: Linux draws it at random for source NAT and
        // with `random`; here a keyed hash of the tuple (without the key),
        // plus the entry's generation for `random`. Destination NAT
        // starts at the range's first port.
        let offset = |round: u64| -> u16 {
            if !src && !rule.random_all() && round == 0 {
                return 0;
            }
            let (words, n) = with_key(&t, src, 0).hash_words(v.zone);
            let salt = if rule.random_all() { u64::from(salt) } else { 0 };
            let mut w = [0u64; 6];
            w[..n].copy_from_slice(&words[..n]);
            w[n] = round | salt << 16;
            hash_words(self.secret(), &w[..=n]) as u16
        };
        let mut attempts = size.min(NAT_MAX_ATTEMPTS);
        let mut off = offset(0);
        let mut round = 0;
        let mut cand = t;
        loop {
            for i in 0..attempts {
                cand = with_key(&t, src, (min + u32::from(off) % size) as u16);
                match self.nat_used_harder(&cand, v, now, attempts - i) {
                    Used::Free => return Ok((cand, None)),
                    Used::FreeOnceEvicted(old) => return Ok((cand, Some(old))),
                    Used::Taken => {}
                }
                off = off.wrapping_add(1);
            }
            // Another round from another offset, with half the tries; the
            // last, the last tuple tried.
            if attempts >= size || attempts < 16 {
                return none_free(cand);
            }
            attempts /= 2;
            round += 1;
            off = offset(round);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::expect::ExpectNat;
    use crate::nat::NatRule;
    use crate::reason::DropReason;
    use crate::wire::ip::tests::port_packet4;
    use crate::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant, Meta, Status};

    /// An expected connection whose source NAT finds no free tuple (a
    /// PPTP call's range of one key, which another connection has) keeps
    /// the taken tuple, as Linux's `get_unique_tuple()` returns the last
    /// one tried: its insert clashes at confirmation and its packet is
    /// dropped, rather than sent on untranslated.
    #[test]
    fn an_expected_connection_whose_tuple_is_taken_is_dropped_not_left_untranslated() {
        let mut t: FixedConnTable<64> = ConnTable::new(HashKey([3; 16]), Config::default());
        let now = Instant::from_secs(10);
        let (client, server, public) = ([10, 0, 0, 5], [198, 51, 100, 7], [203, 0, 113, 1]);
        // The master, its source translated (its port kept).
        let control = port_packet4(client, 40100, server, 1723, None);
        let mut m = t.classify(now, &control, Meta::default());
        t.nat(&m, &NatRule::snat(public.into())).unwrap();
        t.confirm(&mut m, &control).unwrap();
        // Another connection has the tuple the expected one would get.
        let other = t.track(now, &port_packet4(server, 9, public, 40100, None));
        assert_eq!(other.state(), Some(CtState::New));
        let packet = port_packet4(client, 40100, server, 9, None);
        let mut v = t.classify(now, &packet, Meta::default());
        let h = v.entry().unwrap();
        let nat = ExpectNat { kind: ExpectNat::PPTP, reply: false, saved_addr: [0; 16], saved_port: 40100 };
        t.follow_master(now.tick(), h, m.entry().unwrap().index() as u32, &nat);
        let view = t.nat_view(h).unwrap();
        assert!(view.status.contains(Status::SRC_NAT | Status::SRC_NAT_DONE));
        assert_eq!(view.reply, port_tuple(server, 9, public, 40100));
        assert_eq!(t.confirm(&mut v, &packet), Err(DropReason::InsertClash));
        assert_eq!(t.stats().insert_failed, 1);
    }

    fn port_tuple(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> crate::Tuple {
        crate::Tuple::ipv4(
            crate::tuple::proto::UDP,
            u32::from_be_bytes(src),
            u32::from_be_bytes(dst),
            sport,
            dport,
        )
    }
}
