//! The translation of every packet of a NATed connection, from its
//! binding: no rule is consulted (`nf_nat_core.c: nf_nat_packet()`), and
//! ICMP errors about the connection are translated inside and out
//! (`nf_nat_proto.c: nf_nat_icmp_reply_translation()`,
//! `nf_nat_icmpv6_reply_translation()`).

use super::NatError;
use super::mangle::{Manip, layout, manip, manip_plain_ipv4};
use super::payload::{seq_adjust, tcp_seq};
use crate::status::Status;
use crate::table::{ConnTable, NatView, Storage};
use crate::tuple::{Direction, Family, Tuple, is_icmp_of};
use crate::verdict::{CtState, Handle, Tracked, Verdict};
use crate::wire::checksum::{sum, update_sums};
use crate::wire::ip::{Mode, parse_ip};

/// Which NAT types rewrite a packet travelling in `dir`: the source
/// manipulation is due when the connection has source NAT and the packet
/// goes the original way, or destination NAT and it comes back
/// (`nf_nat_packet()`: the status bit, inverted in the reply direction).
fn manips(status: Status, dir: Direction) -> (bool, bool) {
    let (s, d) = match dir {
        Direction::Original => (Status::SRC_NAT, Status::DST_NAT),
        Direction::Reply => (Status::DST_NAT, Status::SRC_NAT),
    };
    (status.contains(s), status.contains(d))
}

/// The tuple of the other direction, which a packet of `dir` must be made
/// to mirror (an ICMP error's quote included).
fn other(v: &NatView, dir: Direction) -> Tuple {
    match dir {
        Direction::Original => v.reply,
        Direction::Reply => v.orig,
    }
}

impl<S: Storage> ConnTable<S> {
    /// Rewrite `packet`, whose verdict is `verdict`, for its connection's
    /// NAT binding ([`ConnTable::nat`]): returns whether it changed. Call
    /// it for every packet that passes, after [`ConnTable::confirm`].
    ///
    /// A packet in the original direction gets the addresses and ports of
    /// the inverted reply tuple (source NAT rewrites its source,
    /// destination NAT its destination); a packet in the reply direction
    /// those of the inverted original tuple (the implicit reverse NAT).
    /// The IPv4 header checksum and the TCP, UDP (a zero UDP checksum
    /// stays zero), UDP-Lite, ICMP and ICMPv6 checksums are updated
    /// incrementally (RFC 1624); SCTP's CRC32c is recomputed. An ICMP
    /// query's identifier is translated like a port. An ICMP or ICMPv6
    /// error RELATED to a NATed connection gets its quoted packet
    /// (addresses, ports, inner checksums) and its outer addresses
    /// translated, and its checksum updated (`nf_nat_proto.c:
    /// nf_nat_icmp_reply_translation()`); an ICMP redirect about one is
    /// refused with [`NatError::Redirect`].
    ///
    /// A packet of a connection without NAT (or of none) is not touched:
    /// `Ok(false)` at the cost of one status test. An error means the
    /// packet must be dropped.
    ///
    /// ```
    /// use ctrack::nat::NatRule;
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// // 10.0.0.1:5353 -> 10.0.0.2:53, UDP without checksum.
    /// let mut query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// let now = Instant::from_secs(1);
    /// let mut v = table.classify(now, &query, Default::default());
    /// table.nat(&v, &NatRule::snat("192.0.2.1".parse().unwrap())).unwrap();
    /// table.confirm(&mut v, &query).unwrap();
    /// assert_eq!(table.translate(&v, &mut query), Ok(true));
    /// assert_eq!(query[12..16], [192, 0, 2, 1]);
    /// // The IPv4 header checksum follows.
    /// assert_eq!(query[10..12], [0xae, 0xce]);
    /// ```
    pub fn translate(&mut self, verdict: &Verdict, packet: &mut [u8]) -> Result<bool, NatError> {
        let len = packet.len();
        self.translate_packet(verdict, packet, len, false).map(|(_, changed)| changed)
    }

    /// [`ConnTable::translate`] for a packet that may change its length:
    /// the packet is `buf[..len]`, and the rest of `buf` is room for it to
    /// grow. Returns the packet's new length.
    ///
    /// A helper of a translated connection rewrites what the packet
    /// announces (the FTP helper the address and port of a `PORT`,
    /// `EPRT`, `227` or `229` line, as `nf_nat_ftp.c` does), which may
    /// make it longer or shorter; the IP and UDP lengths and the checksums
    /// follow, and from then on every segment of a TCP connection gets its
    /// sequence and acknowledgement numbers (and SACK edges) adjusted for
    /// the difference (`nf_conntrack_seqadj.c`; status
    /// [`Status::SEQ_ADJUST`]).
    ///
    /// The table keeps the edits of one packet at a time: translate each
    /// packet whose helper rewrote it before confirming the next one of a
    /// translated connection, or it fails with
    /// [`NatError::RewriteLost`]. An error means the packet must be
    /// dropped; nothing is written past `len` then.
    ///
    /// ```
    /// use ctrack::nat::NatRule;
    /// use ctrack::{Config, ConnTable, FixedConnTable, HashKey, Instant};
    ///
    /// let mut table: FixedConnTable<64> = ConnTable::new(HashKey([7; 16]), Config::default());
    /// let mut buf = [0u8; 1500];
    /// // 10.0.0.1:5353 -> 10.0.0.2:53, UDP without checksum.
    /// let query = [
    ///     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xcf, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0x14, 0xe9, 0, 53, 0, 8, 0, 0,
    /// ];
    /// buf[..28].copy_from_slice(&query);
    /// let now = Instant::from_secs(1);
    /// let mut v = table.classify(now, &buf[..28], Default::default());
    /// table.nat(&v, &NatRule::snat("192.0.2.1".parse().unwrap())).unwrap();
    /// table.confirm(&mut v, &buf[..28]).unwrap();
    /// // Without a helper the length stays.
    /// assert_eq!(table.translate_in(&v, &mut buf, 28), Ok(28));
    /// assert_eq!(buf[12..16], [192, 0, 2, 1]);
    /// ```
    pub fn translate_in(&mut self, verdict: &Verdict, buf: &mut [u8], len: usize) -> Result<usize, NatError> {
        self.translate_packet(verdict, buf, len, true).map(|(len, _)| len)
    }

    /// Both translations: the new length and whether anything changed.
    #[inline]
    fn translate_packet(
        &mut self,
        verdict: &Verdict,
        buf: &mut [u8],
        len: usize,
        resize: bool,
    ) -> Result<(usize, bool), NatError> {
        let Verdict::Tracked(t) = verdict else { return Ok((len, false)) };
        // Linux's nat hook hands every RELATED ICMP error, of a translated
        // connection or not, to `nf_nat_icmp_reply_translation()`, which
        // first verifies its checksum (`nf_ip_checksum()`): where
        // classification did not (`Config::checksum` off), a wrong one is
        // refused here.
        // (A `len` past the buffer is refused further on, as before.)
        if t.state() == CtState::Related
            && !self.config().checksum
            && buf.get(..len).is_some_and(|p| !icmp_error_sums_right(p))
        {
            return Err(NatError::BadChecksum);
        }
        // A packet that ended its connection is translated still.
        let Some(h) = t.entry().or(t.ended()) else { return Ok((len, false)) };
        // A connection without NAT costs this test.
        let status = self.status_of(h).ok_or(NatError::StaleEntry)?;
        if !status.intersects(Status::OWN_REPLY) {
            return Ok((len, false));
        }
        // The commonest packet, of an IPv4 TCP or UDP connection, with no
        // payload edits and no sequence adjustment to make: its addresses
        // and ports from the other direction's tuple, read in place,
        // written at their fixed places (`manip_plain_ipv4`) if the packet
        // is a plain one (a translated UDP packet 90 x86 instructions fewer
        // than through `translate_bound`, measured). What
        // `translate_bound` does for it, without its tuple and `Manip`.
        if t.rewrite() == 0
            && !status.contains(Status::SEQ_ADJUST)
            && t.state() != CtState::Related
            && let Some(((src, sport), (dst, dport))) = self.other_ends(h, t.dir())
        {
            let packet = buf.get_mut(..len).ok_or(NatError::Malformed)?;
            let (do_src, do_dst) = manips(status, t.dir());
            if !do_src && !do_dst {
                return Ok((len, false));
            }
            if let Some(done) =
                manip_plain_ipv4(packet, do_src.then_some((dst, dport)), do_dst.then_some((src, sport)))
            {
                return done.map(|()| (len, true));
            }
        }
        self.translate_bound(t, h, status, buf, len, resize)
    }

    /// [`ConnTable::translate_packet`] for a connection with NAT.
    fn translate_bound(
        &mut self,
        t: &Tracked,
        h: Handle,
        status: Status,
        buf: &mut [u8],
        len: usize,
        resize: bool,
    ) -> Result<(usize, bool), NatError> {
        let packet = buf.get_mut(..len).ok_or(NatError::Malformed)?;
        let ticket = t.rewrite();
        let mut forced_dport = None;
        if ticket != 0 {
            let r = self.pending_rewrite(ticket).ok_or(NatError::RewriteLost)?;
            if !resize && r.delta() != 0 {
                return Err(NatError::NoRoom);
            }
            forced_dport = r.forced_dport();
        }
        if t.state() == CtState::Related
            && let Some((l4, family, ty)) = icmp_error(packet)
        {
            let v = self.nat_view(h).ok_or(NatError::StaleEntry)?;
            return icmp_reply_translation(packet, &v, t.dir(), l4, family, ty).map(|c| (len, c));
        }
        let (do_src, do_dst) = manips(status, t.dir());
        let mut changed = false;
        if do_src || do_dst {
            // The tuple of the other direction, which this packet must
            // mirror; a helper may have chosen the destination port
            // (where the destination is not translated, the other
            // direction's source is the packet's destination already).
            let o = self.tuple_of(h, t.dir().opposite()).ok_or(NatError::StaleEntry)?;
            let m = Manip {
                src: do_src.then(|| (*o.dst_bytes(), o.dst_l4())),
                dst: (do_dst || forced_dport.is_some())
                    .then(|| (*o.src_bytes(), forced_dport.unwrap_or(o.src_l4()))),
                icmp_id: o.src_l4(),
            };
            manip(packet, &m, Mode::Outer)?;
            changed = true;
        }
        let d = usize::from(t.dir() == Direction::Reply);
        let mut len = len;
        let mut seq_adjusted = status.contains(Status::SEQ_ADJUST);
        if ticket != 0 {
            // The sequence number before any adjustment
            // (`__nf_nat_mangle_tcp_packet()` records it so).
            let seq = tcp_seq(&buf[..len]);
            let (applied, delta, edited) = match self.pending_rewrite(ticket) {
                Some(r) if !r.is_empty() => (r.apply(buf, len), r.delta(), true),
                _ => (Ok(len), 0, false),
            };
            self.clear_rewrite();
            len = applied?;
            changed |= edited;
            if let Some(seq) = seq
                && delta != 0
                && let Some(adj) = self.seqadj_mut(h)
            {
                adj[d].record(seq, delta);
                self.insert_status(h, Status::SEQ_ADJUST);
                seq_adjusted = true;
            }
        }
        if seq_adjusted && let Some(adj) = self.seqadj_mut(h).copied() {
            changed |= seq_adjust(&mut buf[..len], &adj[d], &adj[1 - d])?;
        }
        Ok((len, changed))
    }
}

/// If `packet` is an ICMP or ICMPv6 error: where its ICMP header starts,
/// its family and its type.
fn icmp_error(packet: &[u8]) -> Option<(usize, Family, u8)> {
    let lay = layout(packet, Mode::Outer).ok()?;
    if !is_icmp_of(lay.family, lay.proto) {
        return None;
    }
    let ty = *packet.get(lay.l4)?;
    let error = match lay.family {
        Family::Ipv4 => matches!(ty, 3 | 4 | 5 | 11 | 12),
        Family::Ipv6 => ty < 128 || ty == 137,
    };
    error.then_some((lay.l4, lay.family, ty))
}

/// Whether `packet`, if it is an ICMP or ICMPv6 error, has the right
/// checksum (ICMPv6's with its pseudo-header); anything else passes.
fn icmp_error_sums_right(packet: &[u8]) -> bool {
    if icmp_error(packet).is_none() {
        return true;
    }
    parse_ip(packet, Mode::Outer).is_ok_and(|ip| ip.l4_checksum_ok(ip.l4.len()))
}

/// `nf_nat_proto.c: nf_nat_icmp_reply_translation()` for both NAT types
/// at once: the quoted packet, which travelled the other way, is made to
/// look like the other direction's tuple, and the outer header like its
/// answer.
fn icmp_reply_translation(
    packet: &mut [u8],
    v: &NatView,
    dir: Direction,
    l4: usize,
    family: Family,
    ty: u8,
) -> Result<bool, NatError> {
    // Redirects about NATed connections are dropped.
    if matches!((family, ty), (Family::Ipv4, 5) | (Family::Ipv6, 137)) {
        return Err(NatError::Redirect);
    }
    let (do_src, do_dst) = manips(v.status, dir);
    if !do_src && !do_dst {
        return Ok(false);
    }
    let o = other(v, dir);
    // The quote gets the other manipulation: source NAT of the error is
    // destination NAT of the packet it quotes.
    let inner = Manip {
        src: do_dst.then(|| (*o.src_bytes(), o.src_l4())),
        dst: do_src.then(|| (*o.dst_bytes(), o.dst_l4())),
        icmp_id: o.src_l4(),
    };
    let outer = Manip {
        src: do_src.then(|| (*o.dst_bytes(), 0)),
        dst: do_dst.then(|| (*o.src_bytes(), 0)),
        icmp_id: 0,
    };
    let end = layout(packet, Mode::Outer)?.end;
    let quote = packet.get_mut(l4 + 8..end).ok_or(NatError::Malformed)?;
    let before = sum(quote);
    manip(quote, &inner, Mode::Quoted(family))?;
    let after = sum(quote);
    // The ICMP checksum covers the quote: updated for its change (Linux
    // recomputes it whole).
    if let Some(f) = packet.get_mut(l4 + 2..l4 + 4) {
        let check = u16::from_ne_bytes([f[0], f[1]]);
        f.copy_from_slice(&update_sums(check, before, after).to_ne_bytes());
    }
    manip(packet, &outer, Mode::Outer)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat::NatRule;
    use crate::wire::ip::tests::port_packet4;
    use crate::{Config, FixedConnTable, HashKey, Instant};
    use proptest::prelude::*;

    const CLIENT: [u8; 4] = [10, 0, 0, 5];
    const SERVER: [u8; 4] = [198, 51, 100, 7];

    proptest! {
        /// The translation of a plain IPv4 TCP or UDP packet read from the
        /// other direction's ends (`translate_packet`'s first way) is
        /// `translate_bound`'s: source or destination NAT, to a port or
        /// not, either direction, and the packet altered after its
        /// classification (a fragment bit, a total length past its end or
        /// short of its header, a zero UDP checksum, an option, cut short),
        /// which the plain rewrite passes over or refuses as the general
        /// one does.
        #[test]
        fn the_plain_translation_is_the_general_one(
            client_port in 1u16..,
            server_port in 1u16..,
            public in any::<[u8; 4]>(),
            to_port in proptest::option::of(1u16..),
            dnat in any::<bool>(),
            tcp in any::<bool>(),
            reply in any::<bool>(),
            alter in 0u8..7,
        ) {
            let mut t: FixedConnTable<16, 4> = ConnTable::new(HashKey([9; 16]), Config::default());
            let now = Instant::from_secs(5);
            let syn = |seq| tcp.then_some((0x02, seq, 0));
            let first = port_packet4(CLIENT, client_port, SERVER, server_port, syn(1));
            let mut v = t.classify(now, &first, Default::default());
            let rule = if dnat { NatRule::dnat(public.into()) } else { NatRule::snat(public.into()) };
            let rule = match to_port {
                Some(p) => rule.ports(p, p),
                None => rule,
            };
            prop_assume!(t.nat(&v, &rule).is_ok());
            prop_assert_eq!(t.confirm(&mut v, &first), Ok(()));
            let h = v.entry().unwrap();
            let packet = if reply {
                // From the reply tuple's source to its destination.
                let r = t.get(h, now).unwrap().reply();
                let (core::net::IpAddr::V4(s), core::net::IpAddr::V4(d)) = (r.src(), r.dst()) else { unreachable!() };
                port_packet4(s.octets(), r.sport().unwrap(), d.octets(), r.dport().unwrap(),
                    tcp.then_some((0x12, 7, 2)))
            } else {
                port_packet4(CLIENT, client_port, SERVER, server_port, syn(1))
            };
            let v = t.track(now, &packet);
            let Verdict::Tracked(tracked) = v else { return Err(TestCaseError::fail("not tracked")) };
            let mut p = packet.clone();
            let past_end = (p.len() as u16 + 1).to_be_bytes();
            match alter {
                1 => p[6] |= 0x20,
                2 => p[2..4].copy_from_slice(&past_end),
                3 => p[2..4].copy_from_slice(&27u16.to_be_bytes()),
                4 if !tcp => p[26..28].copy_from_slice(&[0, 0]),
                5 => p[0] = 0x46,
                6 => p.truncate(30),
                _ => {}
            }
            let len = p.len();
            let (mut plain, mut general) = (p.clone(), p);
            let plain_result = t.translate(&v, &mut plain);
            let status = t.status_of(h).unwrap();
            let general_result = t.translate_bound(&tracked, h, status, &mut general, len, false);
            prop_assert_eq!(plain_result, general_result.map(|(_, changed)| changed));
            prop_assert_eq!(&plain, &general);
            // A length past the buffer (`translate_in`'s), refused alike.
            let (mut plain, mut general) = (plain.clone(), general);
            prop_assert_eq!(t.translate_in(&v, &mut plain, len + 1), Err(NatError::Malformed));
            prop_assert_eq!(
                t.translate_bound(&tracked, h, status, &mut general, len + 1, true),
                Err(NatError::Malformed)
            );
            // The ends are the other direction's tuple's, with NAT or
            // without (a second flow, the other way round).
            let other = port_packet4(SERVER, server_port, CLIENT, client_port, None);
            let plain_flow = t.track(now, &other).entry().unwrap();
            for h in [h, plain_flow] {
                for dir in [Direction::Original, Direction::Reply] {
                    let expected = t.tuple_of(h, dir.opposite()).and_then(|o| o.ipv4_port_ends());
                    prop_assert_eq!(t.other_ends(h, dir), expected);
                }
            }
        }
    }
}
