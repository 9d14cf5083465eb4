//! PPTP (`nf_conntrack_pptp.c: conntrack_pptp_help()`, RFC 2637): the
//! control connection (TCP port 1723, from the PNS, the client, to the PAC,
//! the server) announces calls whose data travel in enhanced GRE (version
//! 1) packets, each carrying the call id of its receiver.
//!
//! Only ESTABLISHED packets are read (not the handshake). A control message
//! is an 8-byte PPTP header (length, message type 1 = control, magic cookie
//! `0x1A2B3C4D`), a 4-byte control header (control message type, reserved)
//! and a body at least as long as its type's structure; anything else is
//! ignored. The original direction is read as PNS to PAC
//! (`pptp_outbound_pkt()`), the reply direction as PAC to PNS
//! (`pptp_inbound_pkt()`); a message out of place changes nothing, and no
//! packet is ever dropped.
//!
//! When a call is up (an `Outgoing-Call-Reply` with result "connected", or
//! an `Incoming-Call-Connected`), `exp_gre()` expects the GRE connection
//! in both directions (each expectation keyed by both call ids) and adds
//! the master's two GRE key map entries (`nf_conntrack_proto_gre.c:
//! nf_ct_gre_keymap_add()`), through which a GRE packet, whose header
//! carries only its receiver's call id, gets the sender's call id as
//! source key (`gre_pkt_to_tuple()`). The first GRE packet of the call, in
//! either direction, is RELATED and removes the other direction's
//! expectation (`pptp_expectfn()`).
//!
//! On a translated control connection (feature `nat-helpers`) the call
//! messages' call ids are rewritten, and the call's GRE connection is
//! expected as each side sees it and translated on arrival, keys
//! included, as Linux's `nf_nat_pptp` does: see [`nat`].
//!
//! A `Call-Disconnect-Notify`, and the end of the control connection
//! (`pptp_destroy_siblings()`, the helper's destroy hook), remove the key
//! map entries and the call's GRE connection (or its expectations); the end
//! of the GRE connection removes its master's key map entries
//! (`nf_conntrack_core.c: destroy_gre_conntrack()`).

use super::{Helper, HelperContext, HelperState, StateReader, StateWriter};
use crate::expect::{ExpectPolicy, Expectation};
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Tuple};
use crate::verdict::CtState;

/// The PPTP helper (`pptp`, TCP port 1723, IPv4).
pub struct Pptp;

/// The PPTP helper instance.
pub static PPTP: Pptp = Pptp;

/// The TCP port of the control connection (`PPTP_CONTROL_PORT`).
pub const PORT: u16 = 1723;

/// The magic cookie of every PPTP message (RFC 2637 section 2).
pub const MAGIC_COOKIE: u32 = 0x1A2B_3C4D;

/// PPTP message type of control messages (`PPTP_PACKET_CONTROL`).
const PACKET_CONTROL: u16 = 1;

/// Bytes before a control message's body: the PPTP header (8) and the
/// control header (4).
pub const HEADER_LEN: usize = 12;

/// Control message types (RFC 2637 section 2; `PPTP_*` of
/// `linux/netfilter/nf_conntrack_pptp.h`).
#[allow(dead_code)] // the echo types: named for completeness
pub mod msg {
    /// Start-Control-Connection-Request.
    pub const START_SESSION_REQUEST: u16 = 1;
    /// Start-Control-Connection-Reply.
    pub const START_SESSION_REPLY: u16 = 2;
    /// Stop-Control-Connection-Request.
    pub const STOP_SESSION_REQUEST: u16 = 3;
    /// Stop-Control-Connection-Reply.
    pub const STOP_SESSION_REPLY: u16 = 4;
    /// Echo-Request.
    pub const ECHO_REQUEST: u16 = 5;
    /// Echo-Reply.
    pub const ECHO_REPLY: u16 = 6;
    /// Outgoing-Call-Request.
    pub const OUT_CALL_REQUEST: u16 = 7;
    /// Outgoing-Call-Reply.
    pub const OUT_CALL_REPLY: u16 = 8;
    /// Incoming-Call-Request.
    pub const IN_CALL_REQUEST: u16 = 9;
    /// Incoming-Call-Reply.
    pub const IN_CALL_REPLY: u16 = 10;
    /// Incoming-Call-Connected.
    pub const IN_CALL_CONNECT: u16 = 11;
    /// Call-Clear-Request.
    pub const CALL_CLEAR_REQUEST: u16 = 12;
    /// Call-Disconnect-Notify.
    pub const CALL_DISCONNECT_NOTIFY: u16 = 13;
    /// WAN-Error-Notify.
    pub const WAN_ERROR_NOTIFY: u16 = 14;
    /// Set-Link-Info.
    pub const SET_LINK_INFO: u16 = 15;
}

/// The least body length of each control message type, after the 12
/// header bytes (the structures of `linux/netfilter/nf_conntrack_pptp.h`,
/// the sizes of `nf_conntrack_pptp.c: pptp_msg_size[]`; echo messages have
/// none). Index: the message type.
const MIN_BODY: [usize; 16] = [0, 144, 144, 4, 4, 0, 0, 156, 20, 208, 12, 16, 4, 136, 28, 12];

/// A control message as the helper reads it: its type and the fields the
/// tracker uses (0 where the type has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// The control message type ([`msg`]).
    pub kind: u16,
    /// Call ID (the sender's), or for `Incoming-Call-Connected` the peer's.
    pub call_id: u16,
    /// Peer's Call ID (replies).
    pub peer_call_id: u16,
    /// Result code (replies).
    pub result: u8,
}

/// Read a control message from a TCP payload (`conntrack_pptp_help()`'s
/// checks): `None` when it is not one (short header, not a control
/// message, wrong cookie, or a body shorter than its type's structure).
/// Message types unknown to PPTP are returned (with no fields): the tracker
/// ignores them.
pub fn parse(payload: &[u8]) -> Option<Message> {
    let be16 = |o: usize| payload.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let header = payload.get(..HEADER_LEN)?;
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    // The length field is not checked (`conntrack_pptp_help()`).
    if be16(2)? != PACKET_CONTROL || cookie != MAGIC_COOKIE {
        return None;
    }
    let kind = be16(8)?;
    let body = &payload[HEADER_LEN..];
    let need = MIN_BODY.get(usize::from(kind)).copied().unwrap_or(0);
    if body.len() < need {
        return None;
    }
    let field = |o: usize| body.get(o..o + 2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let byte = |o: usize| body.get(o).copied().unwrap_or(0);
    let mut m = Message { kind, call_id: 0, peer_call_id: 0, result: 0 };
    match kind {
        // Start-Control-Connection-Reply: protocol version, result code.
        msg::START_SESSION_REPLY => m.result = byte(2),
        msg::STOP_SESSION_REPLY => m.result = byte(0),
        msg::OUT_CALL_REQUEST
        | msg::IN_CALL_REQUEST
        | msg::CALL_DISCONNECT_NOTIFY
        | msg::CALL_CLEAR_REQUEST => m.call_id = field(0),
        msg::OUT_CALL_REPLY | msg::IN_CALL_REPLY => {
            m.call_id = field(0);
            m.peer_call_id = field(2);
            m.result = byte(4);
        }
        msg::IN_CALL_CONNECT | msg::WAN_ERROR_NOTIFY | msg::SET_LINK_INFO => m.peer_call_id = field(0),
        _ => {}
    }
    Some(m)
}

/// The control session's state (`enum pptp_ctrlsess_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Session {
    /// No session.
    #[default]
    None = 0,
    /// A session error.
    Error = 1,
    /// Stop-Control-Connection-Request seen.
    StopRequested = 2,
    /// Start-Control-Connection-Request seen.
    Requested = 3,
    /// Session established.
    Confirmed = 4,
}

/// The call's state (`enum pptp_ctrlcall_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Call {
    /// No call.
    #[default]
    None = 0,
    /// A call error.
    Error = 1,
    /// Outgoing-Call-Request seen.
    OutRequested = 2,
    /// Outgoing-Call-Reply (connected) seen.
    OutConfirmed = 3,
    /// Incoming-Call-Request seen.
    InRequested = 4,
    /// Incoming-Call-Reply (accepted) seen.
    InReplied = 5,
    /// Incoming-Call-Connected seen.
    InConfirmed = 6,
    /// Call-Clear-Request seen.
    ClearRequested = 7,
}

/// The helper's state of one control connection (`struct
/// nf_ct_pptp_master`, without the key map, which the table keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Master {
    /// Control session state.
    pub session: Session,
    /// Call state (of the last call: Linux tracks one).
    pub call: Call,
    /// The PNS's (client's) call id.
    pub pns_call_id: u16,
    /// The PAC's (server's) call id.
    pub pac_call_id: u16,
    /// On a translated control connection, the PNS's call id as the PNS
    /// sent it (`struct nf_nat_pptp`'s `pns_call_id`; `pns_call_id` above
    /// is then the one the PAC sees).
    pub nat_pns_call_id: u16,
    /// On a translated control connection, the PAC's call id when the
    /// call's GRE connection was expected (`struct nf_nat_pptp`'s
    /// `pac_call_id`).
    pub nat_pac_call_id: u16,
}

impl HelperState for Master {
    fn load(r: &mut StateReader<'_>) -> Self {
        let session = match r.u8() {
            1 => Session::Error,
            2 => Session::StopRequested,
            3 => Session::Requested,
            4 => Session::Confirmed,
            _ => Session::None,
        };
        let call = match r.u8() {
            1 => Call::Error,
            2 => Call::OutRequested,
            3 => Call::OutConfirmed,
            4 => Call::InRequested,
            5 => Call::InReplied,
            6 => Call::InConfirmed,
            7 => Call::ClearRequested,
            _ => Call::None,
        };
        Master {
            session,
            call,
            pns_call_id: r.u16(),
            pac_call_id: r.u16(),
            nat_pns_call_id: r.u16(),
            nat_pac_call_id: r.u16(),
        }
    }

    fn store(&self, w: &mut StateWriter<'_>) {
        w.u8(self.session as u8);
        w.u8(self.call as u8);
        w.u16(self.pns_call_id);
        w.u16(self.pac_call_id);
        w.u16(self.nat_pns_call_id);
        w.u16(self.nat_pac_call_id);
    }
}

/// What a message asks of the table besides the new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The message is out of place (the kernel's `invalid:` label): the
    /// state is unchanged, and on a translated connection the message is
    /// not rewritten.
    Ignored,
    /// Nothing.
    None,
    /// Expect the call's GRE connection: `exp_gre(call id, peer call id)`
    /// (the PAC's call id, then the PNS's).
    ExpectGre {
        /// The PAC's call id.
        pac: u16,
        /// The PNS's call id.
        pns: u16,
    },
    /// Forget the call: `pptp_destroy_siblings()`.
    DestroySiblings,
}

/// The tracker: `pptp_outbound_pkt()` for a message from the PNS (the
/// original direction), `pptp_inbound_pkt()` for one from the PAC. A
/// message out of place leaves the state as it is ([`Action::Ignored`]).
pub fn step(state: &mut Master, m: &Message, from_pns: bool) -> Action {
    let confirmed = state.session == Session::Confirmed;
    if from_pns {
        match m.kind {
            msg::START_SESSION_REQUEST if state.session == Session::None => {
                state.session = Session::Requested
            }
            msg::STOP_SESSION_REQUEST => state.session = Session::StopRequested,
            msg::OUT_CALL_REQUEST if confirmed => {
                state.call = Call::OutRequested;
                state.pns_call_id = m.call_id;
            }
            msg::IN_CALL_REPLY
                if confirmed
                    && matches!(state.call, Call::InRequested | Call::InReplied)
                    && state.pac_call_id == m.peer_call_id =>
            {
                if m.result == 1 {
                    state.call = Call::InReplied;
                    state.pns_call_id = m.call_id;
                } else {
                    state.call = Call::None;
                }
            }
            msg::CALL_CLEAR_REQUEST if confirmed => state.call = Call::ClearRequested,
            msg::SET_LINK_INFO | msg::ECHO_REQUEST | msg::ECHO_REPLY => {}
            _ => return Action::Ignored,
        }
        return Action::None;
    }
    match m.kind {
        msg::START_SESSION_REPLY if state.session >= Session::Requested => {
            state.session = if m.result == 1 { Session::Confirmed } else { Session::Error };
        }
        msg::STOP_SESSION_REPLY if state.session <= Session::StopRequested => {
            state.session = if m.result == 1 { Session::None } else { Session::Error };
        }
        msg::OUT_CALL_REPLY
            if confirmed
                && matches!(state.call, Call::OutRequested | Call::OutConfirmed)
                && state.pns_call_id == m.peer_call_id =>
        {
            if m.result == 1 {
                state.call = Call::OutConfirmed;
                state.pac_call_id = m.call_id;
                return Action::ExpectGre { pac: m.call_id, pns: m.peer_call_id };
            }
            state.call = Call::None;
        }
        msg::IN_CALL_REQUEST if confirmed => {
            state.call = Call::InRequested;
            state.pac_call_id = m.call_id;
        }
        msg::IN_CALL_CONNECT
            if confirmed
                && matches!(state.call, Call::InReplied | Call::InConfirmed)
                && state.pns_call_id == m.peer_call_id =>
        {
            state.call = Call::InConfirmed;
            return Action::ExpectGre { pac: state.pac_call_id, pns: m.peer_call_id };
        }
        msg::CALL_DISCONNECT_NOTIFY => {
            state.call = Call::None;
            return Action::DestroySiblings;
        }
        msg::WAN_ERROR_NOTIFY | msg::SET_LINK_INFO | msg::ECHO_REQUEST | msg::ECHO_REPLY => {}
        _ => return Action::Ignored,
    }
    Action::None
}

impl Helper for Pptp {
    fn name(&self) -> &'static str {
        "pptp"
    }

    fn policy(&self, _class: u8) -> ExpectPolicy {
        ExpectPolicy::new(2, 5 * 60)
    }

    fn help(&self, cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        // No tracking before the TCP handshake is complete.
        if cx.state() != CtState::Established {
            return Ok(());
        }
        let Some(m) = parse(cx.payload()) else { return Ok(()) };
        let mut state: Master = cx.load();
        let from_pns = cx.dir() == Direction::Original;
        let action = step(&mut state, &m, from_pns);
        match action {
            Action::Ignored | Action::None => {}
            Action::ExpectGre { pac, pns } => expect_gre(cx, &mut state, pac, pns),
            Action::DestroySiblings => cx.pptp.destroy_siblings = true,
        }
        // A message in place reaches NAT's hooks (`nf_nat_pptp.c`).
        #[cfg(feature = "nat-helpers")]
        let r = if cx.is_translated() && action != Action::Ignored {
            nat::rewrite(cx, &mut state, &m, from_pns)
        } else {
            Ok(())
        };
        #[cfg(not(feature = "nat-helpers"))]
        let r = Ok(());
        cx.store(&state);
        r
    }
}

/// `exp_gre()`: the two expectations (PNS to PAC keyed PNS id to PAC id,
/// and the other way), then the two key map entries; whatever fails undoes
/// what this call added. Failure does not drop the packet. On a
/// translated control connection the keys are those of each side of the
/// router, and the GRE connection is translated on arrival
/// (`nf_nat_pptp.c: pptp_exp_gre()`, below).
fn expect_gre(cx: &mut HelperContext<'_>, state: &mut Master, pac: u16, pns: u16) {
    let (orig, reply) = (cx.tuple(Direction::Original), cx.tuple(Direction::Reply));
    let (Some(to_pac), Some(to_pns)) =
        (Tuple::gre(orig.src(), pns, orig.dst(), pac), Tuple::gre(reply.src(), pac, reply.dst(), pns))
    else {
        return;
    };
    let exp = |t: Tuple| Expectation::from_any_port(t).with_exact_src_port();
    let (exp_to_pac, exp_to_pns) = (exp(to_pac), exp(to_pns));
    #[cfg(feature = "nat-helpers")]
    let (exp_to_pac, exp_to_pns) =
        if cx.is_translated() { nat::expect_gre(state, to_pac, to_pns) } else { (exp_to_pac, exp_to_pns) };
    #[cfg(not(feature = "nat-helpers"))]
    let _ = state;
    let (to_pac, to_pns) = (exp_to_pac.tuple(), exp_to_pns.tuple());
    if cx.expect(exp_to_pac).is_err() {
        return;
    }
    let unexpect = |cx: &mut HelperContext<'_>, t: Tuple| {
        cx.unexpect(&mut |e| e.tuple() == t);
    };
    if cx.expect(exp_to_pns).is_err() {
        unexpect(cx, to_pac);
        return;
    }
    if !cx.keymap_add(Direction::Original, to_pac) {
        unexpect(cx, to_pns);
        unexpect(cx, to_pac);
        return;
    }
    if !cx.keymap_add(Direction::Reply, to_pns) {
        cx.keymap_destroy();
        unexpect(cx, to_pns);
        unexpect(cx, to_pac);
    }
}

/// PPTP's NAT (`nf_nat_pptp.c`): on a translated control connection the
/// PNS's call id is the control connection's port on the PAC's side of
/// the router (there is no allocator of call ids: Linux's own comment
/// says so, and that two calls in one control connection then clash), the
/// call messages carry each side's ids, and the call's GRE connection is
/// translated like its master, keys included.
#[cfg(feature = "nat-helpers")]
pub(crate) mod nat {
    use super::{HEADER_LEN, Master, Message, msg};
    use crate::expect::Expectation;
    use crate::helper::HelperContext;
    use crate::reason::HelperDrop;
    use crate::tuple::{Direction, Tuple};

    /// The body offset of the call id NAT rewrites in a message from the
    /// PNS (`pptp_outbound_pkt()`), or from the PAC (`pptp_inbound_pkt()`):
    /// the PNS's own call id in what it sends, the PAC's peer call id in
    /// what it sends, and for a `Call-Disconnect-Notify` the call id the
    /// PAC names, which is its own (the kernel writes the PNS's there).
    fn offset(kind: u16, from_pns: bool) -> Option<usize> {
        match (from_pns, kind) {
            (true, msg::OUT_CALL_REQUEST | msg::IN_CALL_REPLY | msg::CALL_CLEAR_REQUEST) => Some(0),
            (false, msg::OUT_CALL_REPLY) => Some(2),
            (
                false,
                msg::IN_CALL_CONNECT
                | msg::WAN_ERROR_NOTIFY
                | msg::CALL_DISCONNECT_NOTIFY
                | msg::SET_LINK_INFO,
            ) => Some(0),
            _ => None,
        }
    }

    /// Rewrite the call id of message `m` (in place: its tracking done,
    /// `state` is the connection's new state) for the other side of the
    /// router. An `Outgoing-Call-Request` makes the PNS's call id the
    /// control connection's reply destination port, and saves the PNS's
    /// own; messages from the PNS then carry the call id the PAC knows,
    /// messages from the PAC the one the PNS chose. A rewrite that cannot
    /// be made drops the packet.
    pub(super) fn rewrite(
        cx: &mut HelperContext<'_>,
        state: &mut Master,
        m: &Message,
        from_pns: bool,
    ) -> Result<(), HelperDrop> {
        let Some(at) = offset(m.kind, from_pns) else { return Ok(()) };
        let id = if from_pns {
            if m.kind == msg::OUT_CALL_REQUEST {
                state.nat_pns_call_id = state.pns_call_id;
                state.pns_call_id = cx.tuple(Direction::Reply).dport().unwrap_or(0);
            }
            state.pns_call_id
        } else {
            state.nat_pns_call_id
        };
        if cx.mangle(HEADER_LEN + at, 2, &id.to_be_bytes()) {
            Ok(())
        } else {
            Err(HelperDrop("call id not rewritten"))
        }
    }

    /// `pptp_exp_gre()`: the expectations of a call's GRE connection on a
    /// translated control connection, from the untranslated ones (PNS to
    /// PAC, and PAC to PNS, keyed by the ids each side sees): the packets
    /// of the PNS carry the PNS's own call id as their source key, those
    /// of the PAC the call id the PAC knows as their destination key; on
    /// arrival each is translated to the other side's view.
    pub(super) fn expect_gre(state: &mut Master, to_pac: Tuple, to_pns: Tuple) -> (Expectation, Expectation) {
        state.nat_pac_call_id = state.pac_call_id;
        let rekey = |t: Tuple, src: u16, dst: u16| {
            let t = Tuple::gre(t.src(), src, t.dst(), dst).unwrap_or(t);
            Expectation::from_any_port(t).with_exact_src_port()
        };
        let to_pac = rekey(to_pac, state.nat_pns_call_id, state.pac_call_id)
            .pptp_translated(Direction::Original, state.pns_call_id);
        let to_pns = rekey(to_pns, state.nat_pac_call_id, state.pns_call_id)
            .pptp_translated(Direction::Reply, state.nat_pns_call_id);
        (to_pac, to_pns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, body: &[u8]) -> std::vec::Vec<u8> {
        let mut v = std::vec::Vec::new();
        let len = (HEADER_LEN + body.len()) as u16;
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        v.extend_from_slice(&kind.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(body);
        v
    }

    fn body(len: usize, fields: &[(usize, &[u8])]) -> std::vec::Vec<u8> {
        let mut b = std::vec![0u8; len];
        for (at, bytes) in fields {
            b[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
        b
    }

    #[test]
    fn parses_control_messages() {
        let ocrp = message(msg::OUT_CALL_REPLY, &body(20, &[(0, &[0x12, 0x34]), (2, &[0, 7]), (4, &[1])]));
        assert_eq!(
            parse(&ocrp),
            Some(Message { kind: msg::OUT_CALL_REPLY, call_id: 0x1234, peer_call_id: 7, result: 1 })
        );
        // One byte short of the structure: not read.
        assert_eq!(parse(&ocrp[..ocrp.len() - 1]), None);
        // Not a control message, or a wrong cookie.
        let mut data = ocrp.clone();
        data[3] = 2;
        assert_eq!(parse(&data), None);
        let mut cookie = ocrp.clone();
        cookie[7] ^= 1;
        assert_eq!(parse(&cookie), None);
        // Echo messages need no body; unknown types are returned bare.
        assert_eq!(parse(&message(msg::ECHO_REQUEST, &[])).map(|m| m.kind), Some(msg::ECHO_REQUEST));
        assert_eq!(parse(&message(99, &[])).map(|m| m.kind), Some(99));
        let scrp = message(msg::START_SESSION_REPLY, &body(144, &[(2, &[1])]));
        assert_eq!(parse(&scrp).map(|m| m.result), Some(1));
        assert_eq!(parse(&scrp[..HEADER_LEN + 143]), None);
        let iccn = message(msg::IN_CALL_CONNECT, &body(16, &[(0, &[0, 9])]));
        assert_eq!(parse(&iccn).map(|m| m.peer_call_id), Some(9));
    }

    #[test]
    fn total_on_prefixes() {
        for kind in 0..20 {
            let m = message(kind, &[0xff; 220]);
            for n in 0..=m.len() {
                let _ = parse(&m[..n]);
            }
        }
    }

    fn m(kind: u16, call_id: u16, peer_call_id: u16, result: u8) -> Message {
        Message { kind, call_id, peer_call_id, result }
    }

    #[test]
    fn outgoing_call() {
        let mut s = Master::default();
        // A call before the session is up is ignored.
        assert_eq!(step(&mut s, &m(msg::OUT_CALL_REQUEST, 5, 0, 0), true), Action::Ignored);
        assert_eq!(s, Master::default());
        step(&mut s, &m(msg::START_SESSION_REQUEST, 0, 0, 0), true);
        assert_eq!(s.session, Session::Requested);
        // A reply travels from the PAC only.
        step(&mut s, &m(msg::START_SESSION_REPLY, 0, 0, 1), true);
        assert_eq!(s.session, Session::Requested);
        step(&mut s, &m(msg::START_SESSION_REPLY, 0, 0, 1), false);
        assert_eq!(s.session, Session::Confirmed);
        step(&mut s, &m(msg::OUT_CALL_REQUEST, 5, 0, 0), true);
        assert_eq!((s.call, s.pns_call_id), (Call::OutRequested, 5));
        // The reply must name the PNS's call id.
        assert_eq!(step(&mut s, &m(msg::OUT_CALL_REPLY, 9, 6, 1), false), Action::Ignored);
        assert_eq!(
            step(&mut s, &m(msg::OUT_CALL_REPLY, 9, 5, 1), false),
            Action::ExpectGre { pac: 9, pns: 5 }
        );
        assert_eq!((s.call, s.pac_call_id), (Call::OutConfirmed, 9));
        step(&mut s, &m(msg::CALL_CLEAR_REQUEST, 5, 0, 0), true);
        assert_eq!(s.call, Call::ClearRequested);
        assert_eq!(step(&mut s, &m(msg::CALL_DISCONNECT_NOTIFY, 9, 0, 0), false), Action::DestroySiblings);
        assert_eq!(s.call, Call::None);
        // A refused call.
        step(&mut s, &m(msg::OUT_CALL_REQUEST, 6, 0, 0), true);
        assert_eq!(step(&mut s, &m(msg::OUT_CALL_REPLY, 10, 6, 2), false), Action::None);
        assert_eq!(s.call, Call::None);
    }

    #[test]
    fn messages_out_of_place_are_told_apart() {
        // What the kernel's trackers send to `invalid:` (no NAT), and
        // what they accept without a change of state (NAT's hooks run).
        let mut s = Master { session: Session::Confirmed, ..Master::default() };
        for (kind, from_pns, want) in [
            (msg::ECHO_REQUEST, true, Action::None),
            (msg::SET_LINK_INFO, true, Action::None),
            (msg::WAN_ERROR_NOTIFY, false, Action::None),
            (msg::SET_LINK_INFO, false, Action::None),
            (msg::ECHO_REPLY, false, Action::None),
            // Replies from the wrong side, a second session request,
            // requests from the PAC, types PPTP does not have.
            (msg::START_SESSION_REPLY, true, Action::Ignored),
            (msg::START_SESSION_REQUEST, true, Action::Ignored),
            (msg::OUT_CALL_REQUEST, false, Action::Ignored),
            (msg::WAN_ERROR_NOTIFY, true, Action::Ignored),
            (16, true, Action::Ignored),
            (16, false, Action::Ignored),
            // No incoming call was requested.
            (msg::IN_CALL_REPLY, true, Action::Ignored),
            (msg::IN_CALL_CONNECT, false, Action::Ignored),
        ] {
            assert_eq!(
                step(&mut s, &m(kind, 1, 2, 1), from_pns),
                want,
                "type {kind}, from the PNS: {from_pns}"
            );
            assert_eq!(s, Master { session: Session::Confirmed, ..Master::default() });
        }
        // A disconnect is never out of place; without a session, nor is a
        // stop request or its reply.
        assert_eq!(step(&mut s, &m(msg::CALL_DISCONNECT_NOTIFY, 1, 0, 0), false), Action::DestroySiblings);
        let mut s = Master::default();
        assert_eq!(step(&mut s, &m(msg::STOP_SESSION_REQUEST, 0, 0, 0), true), Action::None);
        assert_eq!(step(&mut s, &m(msg::STOP_SESSION_REPLY, 0, 0, 1), false), Action::None);
        assert_eq!(step(&mut s, &m(msg::OUT_CALL_REQUEST, 5, 0, 0), true), Action::Ignored);
    }

    #[test]
    fn incoming_call() {
        let mut s = Master { session: Session::Confirmed, ..Master::default() };
        step(&mut s, &m(msg::IN_CALL_REQUEST, 40, 0, 0), false);
        assert_eq!((s.call, s.pac_call_id), (Call::InRequested, 40));
        step(&mut s, &m(msg::IN_CALL_REPLY, 3, 40, 1), true);
        assert_eq!((s.call, s.pns_call_id), (Call::InReplied, 3));
        assert_eq!(step(&mut s, &m(msg::IN_CALL_CONNECT, 0, 4, 0), false), Action::Ignored);
        assert_eq!(
            step(&mut s, &m(msg::IN_CALL_CONNECT, 0, 3, 0), false),
            Action::ExpectGre { pac: 40, pns: 3 }
        );
        assert_eq!(s.call, Call::InConfirmed);
    }

    #[test]
    fn state_round_trip() {
        let s = Master {
            session: Session::Confirmed,
            call: Call::InReplied,
            pns_call_id: 0xfffe,
            pac_call_id: 1,
            nat_pns_call_id: 0x1234,
            nat_pac_call_id: 0xabcd,
        };
        let mut data = crate::helper::HelperData::default();
        s.store(&mut StateWriter::new(&mut data));
        assert_eq!(Master::load(&mut StateReader::new(&data)), s);
        assert_eq!(
            Master::load(&mut StateReader::new(&crate::helper::HelperData::default())),
            Master::default()
        );
    }
}
