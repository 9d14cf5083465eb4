//! SIP messages, the one job of this file: telling a request from a
//! response, dispatching on its method and CSeq, and the expectations that
//! follow, as the handlers of `nf_conntrack_sip.c` do
//! (`process_sip_request()`, `process_sip_response()`, the handler table
//! `sip_handlers[]`):
//!
//! * media: INVITE/UPDATE/ACK/PRACK requests and the answers to
//!   INVITE/UPDATE/PRACK carry SDP whose streams are expected as RTP/RTCP
//!   pairs (`process_sdp()`, `set_expected_rtp_rtcp()`); a new INVITE, a BYE
//!   and a failure answer with the CSeq of the last INVITE remove them
//!   (`process_invite_request()`, `process_bye_request()`,
//!   `process_invite_response()` and its UPDATE and PRACK twins,
//!   `flush_expectations()`);
//! * registrations: a REGISTER expects incoming calls from the registrar to
//!   the registered contact, and its 200 OK activates that expectation for
//!   the contact's lifetime (`process_register_request()`,
//!   `process_register_response()`, `refresh_signalling_expectation()`).

use super::header::{Header, header_uri, header_value, numeric_param, transport};
use super::lex::{eq_ci, is_alpha, uint};
#[cfg(feature = "nat-helpers")]
use super::nat;
use super::sdp::{Media, parse_sdp};
use super::{CLASS_SIGNALLING, MIN_MSG, SipState};
use crate::expect::{ExpectError, ExpectFlags, Expectation};
use crate::helper::HelperContext;
use crate::reason::HelperDrop;
use crate::tuple::{Direction, Family, Tuple};

/// Request methods with a handler, in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Invite,
    Update,
    Ack,
    Prack,
    Bye,
    Register,
}

const METHODS: [(Method, &[u8]); 6] = [
    (Method::Invite, b"INVITE"),
    (Method::Update, b"UPDATE"),
    (Method::Ack, b"ACK"),
    (Method::Prack, b"PRACK"),
    (Method::Bye, b"BYE"),
    (Method::Register, b"REGISTER"),
];

/// Why a packet with a `Contact` the helper must read is dropped.
const BAD_CONTACT: HelperDrop = HelperDrop("cannot parse contact");

/// The sequence number of a message: required, and numeric.
fn cseq(m: &[u8], family: Family) -> Result<(u32, usize), HelperDrop> {
    let Some((o, l)) = header_value(m, Header::CSeq, family) else {
        return Err(HelperDrop("cannot parse cseq"));
    };
    // (A number too large to read, `sip_strtouint()`, is no number.)
    let (v, end) = uint(m, o);
    if end == o {
        return Err(HelperDrop("cannot get cseq"));
    }
    Ok((v, o + l))
}

/// The lifetime the `Expires` header gives a registration (0 without one).
fn expires_header(m: &[u8], family: Family) -> u32 {
    header_value(m, Header::Expires, family).map_or(0, |(o, _)| uint(m, o).0)
}

/// The lifetime of the contact whose URI ends at `end`: its `expires=`
/// parameter, else `default`.
fn contact_expires(m: &[u8], end: usize, default: u32) -> Result<u32, HelperDrop> {
    match numeric_param(m, end, b"expires=") {
        Err(()) => Err(HelperDrop("cannot parse expires")),
        Ok(v) => Ok(v.unwrap_or(default)),
    }
}

pub(super) struct Msg<'m> {
    pub(super) m: &'m [u8],
    pub(super) family: Family,
    pub(super) proto: u8,
    pub(super) dir: Direction,
    /// Offset of `m` in the packet's payload (for NAT's edits).
    #[cfg_attr(not(feature = "nat-helpers"), allow(dead_code))]
    pub(super) base: usize,
}

/// Handle one SIP message (`nf_conntrack_sip.c: process_sip_msg()`).
pub(super) fn process_msg(cx: &mut HelperContext<'_>, m: &[u8]) -> Result<(), HelperDrop> {
    let orig = cx.tuple(Direction::Original);
    // Where the message starts in the payload (a TCP segment may hold
    // several): NAT's edits address the payload.
    let base = (m.as_ptr() as usize).wrapping_sub(cx.payload().as_ptr() as usize);
    let msg = Msg { m, family: orig.family(), proto: orig.proto(), dir: cx.dir(), base };
    if eq_ci(m, 0, b"SIP/2.0 ") {
        response(cx, &msg)?
    } else {
        request(cx, &msg)?
    }
    // The signalling part of NAT runs after the media's
    // (`process_sip_msg()`: the `msg` hook after the method's handler).
    #[cfg(feature = "nat-helpers")]
    if cx.is_translated() {
        nat::rewrite_headers(cx, &msg)?;
    }
    Ok(())
}

/// A request (`process_sip_request()`): the `Via` port, then the handler
/// of its method.
fn request(cx: &mut HelperContext<'_>, msg: &Msg<'_>) -> Result<(), HelperDrop> {
    let m = msg.m;
    let me = cx.tuple(msg.dir);
    // A phone announcing another port for responses in its Via (used by NAT).
    if let Ok(Some(via)) = header_uri(m, 0, Header::ViaUdp, msg.family, None)
        && via.addr == me.src()
        && Some(via.port) != me.sport()
    {
        SipState::update(cx, |st| st.forced_dport = via.port);
    }
    for (method, name) in METHODS {
        if m.len() < name.len() + 2 || !eq_ci(m, 0, name) {
            continue;
        }
        if m[name.len()] != b' ' || !is_alpha(m[name.len() + 1]) {
            continue;
        }
        let (cseq, _) = cseq(m, msg.family)?;
        return match method {
            Method::Invite => {
                flush_media(cx);
                process_sdp(cx, msg)?;
                SipState::update(cx, |st| st.invite_cseq = cseq);
                Ok(())
            }
            Method::Update | Method::Ack | Method::Prack => process_sdp(cx, msg),
            Method::Bye => {
                flush_media(cx);
                Ok(())
            }
            Method::Register => register_request(cx, msg, cseq),
        };
    }
    Ok(())
}

/// A response (`process_sip_response()`): status code, CSeq, then the
/// handler of the method its CSeq names.
fn response(cx: &mut HelperContext<'_>, msg: &Msg<'_>) -> Result<(), HelperDrop> {
    let m = msg.m;
    if m.len() < MIN_MSG {
        return Ok(());
    }
    let code = uint(m, 8).0;
    if code == 0 {
        return Err(HelperDrop("cannot get code"));
    }
    let (cseq, end) = cseq(m, msg.family)?;
    let method_at = end + 1;
    for (method, name) in METHODS {
        if matches!(method, Method::Ack | Method::Bye) {
            continue;
        }
        if m.len() < method_at + name.len() || !eq_ci(m, method_at, name) {
            continue;
        }
        if method == Method::Register {
            return register_response(cx, msg, cseq, code);
        }
        if (100..=299).contains(&code) {
            return process_sdp(cx, msg);
        }
        if cx.load::<SipState>().invite_cseq == cseq {
            flush_media(cx);
        }
        return Ok(());
    }
    Ok(())
}

/// Remove this connection's media expectations
/// (`flush_expectations()` with `media` true).
fn flush_media(cx: &mut HelperContext<'_>) {
    cx.unexpect(&mut |e| e.class() != CLASS_SIGNALLING);
}

/// Remove this connection's (one) registration expectation
/// (`flush_expectations()` with `media` false).
fn flush_signalling(cx: &mut HelperContext<'_>) {
    let mut done = false;
    cx.unexpect(&mut |e| {
        let hit = !done && e.class() == CLASS_SIGNALLING;
        done |= hit;
        hit
    });
}

/// Expect the media of the message's SDP body (`process_sdp()`); an SDP
/// error drops the packet after the media before it were expected.
fn process_sdp(cx: &mut HelperContext<'_>, msg: &Msg<'_>) -> Result<(), HelperDrop> {
    let sdp = parse_sdp(msg.m, msg.family);
    #[cfg(feature = "nat-helpers")]
    if cx.is_translated() {
        return nat::process_sdp(cx, msg, &sdp);
    }
    for media in sdp.media.iter().flatten() {
        expect_rtp_rtcp(cx, msg.dir, media)?;
    }
    match sdp.error {
        Some(e) => Err(HelperDrop(e)),
        None => Ok(()),
    }
}

/// Expect the RTP and RTCP flows of `media` from the signalling peer
/// (`set_expected_rtp_rtcp()`, direct media).
fn expect_rtp_rtcp(cx: &mut HelperContext<'_>, dir: Direction, media: &Media) -> Result<(), HelperDrop> {
    const FAIL: HelperDrop = HelperDrop("cannot add expectation for voice");
    // Direct media: only streams the sender itself will receive.
    if media.addr != cx.tuple(dir).src() {
        return Ok(());
    }
    let peer = cx.tuple(dir.opposite()).src();
    let rtp = media.port & !1;
    let make = |port| {
        Tuple::with_ports(peer, 0, media.addr, port, 17)
            .map(|t| Expectation::from_any_port(t).with_class(media.class))
    };
    let (Some(rtp_exp), Some(rtcp_exp)) = (make(rtp), make(rtp + 1)) else { return Err(FAIL) };
    // Another call leg (another master with this helper) already expects
    // this stream: Linux creates neither RTP nor RTCP then.
    if cx.expected_elsewhere(&rtp_exp.tuple(), media.class) {
        return Ok(());
    }
    // An identical expectation (another master's, or another class) counts
    // as set up.
    let created = match cx.expect(rtp_exp) {
        Ok(()) => true,
        Err(ExpectError::Exists) => false,
        Err(_) => return Err(FAIL),
    };
    match cx.expect(rtcp_exp) {
        Ok(()) | Err(ExpectError::Exists) => Ok(()),
        Err(_) => {
            if created {
                cx.unexpect(&mut |e| *e == rtp_exp);
            }
            Err(FAIL)
        }
    }
}

/// A REGISTER (`process_register_request()`): expect calls from the
/// registrar to the sender's own contact, inactive until the registrar
/// accepts.
fn register_request(cx: &mut HelperContext<'_>, msg: &Msg<'_>, cseq: u32) -> Result<(), HelperDrop> {
    let m = msg.m;
    // Expected connections (incoming calls) do not register again.
    if cx.is_expected() {
        return Ok(());
    }
    let expires = expires_header(m, msg.family);
    let Some(contact) = header_uri(m, 0, Header::Contact, msg.family, None).map_err(|()| BAD_CONTACT)? else {
        return Ok(());
    };
    // No third-party registrations.
    if contact.addr != cx.tuple(msg.dir).src() {
        return Ok(());
    }
    let Some(proto) = transport(m, contact.end, msg.proto) else { return Ok(()) };
    let expires = contact_expires(m, contact.end, expires)?;
    if expires != 0 {
        let registrar = cx.tuple(msg.dir.opposite()).src();
        let t = Tuple::with_ports(registrar, 0, contact.addr, contact.port, proto)
            .ok_or(HelperDrop("cannot add expectation"))?;
        let exp = Expectation::from_any_port(t)
            .with_class(CLASS_SIGNALLING)
            .with_flags(ExpectFlags::PERMANENT | ExpectFlags::INACTIVE)
            .with_helper(cx.helper_id());
        #[cfg(feature = "nat-helpers")]
        if cx.is_translated() {
            nat::expect_registration(cx, msg, &contact, exp)?;
            SipState::update(cx, |st| st.register_cseq = cseq);
            return Ok(());
        }
        cx.expect(exp).map_err(|_| HelperDrop("cannot add expectation"))?;
    }
    SipState::update(cx, |st| st.register_cseq = cseq);
    Ok(())
}

/// The answer to a REGISTER (`process_register_response()`). Only the
/// answer to the last accepted REGISTER counts, and provisional answers
/// change nothing; a 2xx activates the expectation that one of the user
/// agent's contacts names, for that contact's lifetime
/// (`refresh_signalling_expectation()`); otherwise the registration
/// expectation is removed.
fn register_response(
    cx: &mut HelperContext<'_>,
    msg: &Msg<'_>,
    cseq: u32,
    code: u32,
) -> Result<(), HelperDrop> {
    let m = msg.m;
    // Only the answer to the last accepted REGISTER (late answers to
    // retransmissions are ignored).
    if cx.load::<SipState>().register_cseq != cseq || (100..=199).contains(&code) {
        return Ok(());
    }
    if (200..=299).contains(&code) {
        let expires = expires_header(m, msg.family);
        let ua = cx.tuple(msg.dir).dst();
        let (mut from, mut in_list) = (0usize, false);
        loop {
            let uri = header_uri(m, from, Header::Contact, msg.family, Some(&mut in_list));
            let Some(contact) = uri.map_err(|()| BAD_CONTACT)? else { break };
            if contact.end <= from {
                break;
            }
            from = contact.end;
            if contact.addr != ua {
                continue;
            }
            let Some(proto) = transport(m, contact.end, msg.proto) else { continue };
            let c_expires = contact_expires(m, contact.end, expires)?;
            if c_expires == 0 {
                break;
            }
            let found = cx.activate(
                &mut |e| {
                    e.class() == CLASS_SIGNALLING
                        && e.tuple().dst() == contact.addr
                        && e.tuple().proto() == proto
                        && e.tuple().dport() == Some(contact.port)
                },
                c_expires,
            );
            if found {
                return Ok(());
            }
        }
    }
    flush_signalling(cx);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Rig, invite, ip};
    use super::super::{CLASS_AUDIO, SipState};
    use super::*;
    use crate::helper::{HelperState, StateReader};
    use crate::verdict::CtState;
    use std::vec::Vec;

    fn answer(code: &str, cseq: u32, method: &str, addr: &str, port: u16) -> std::string::String {
        let sdp = std::format!("v=0\r\nc=IN IP4 {addr}\r\nm=audio {port} RTP/AVP 0\r\n");
        std::format!("SIP/2.0 {code}\r\nCSeq: {cseq} {method}\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len())
    }

    #[test]
    fn worked_example() {
        use Direction::{Original, Reply};
        let (ua, proxy) = (ip("192.0.2.10"), ip("198.51.100.20"));
        let mut rig = Rig::udp("192.0.2.10", 5060, "198.51.100.20", 5060);
        let (r, timeout) = rig.run(Original, CtState::New, invite(1, "192.0.2.10", 49170).as_bytes());
        assert_eq!((r, timeout), (Ok(()), Some(3600)));
        assert_eq!(
            rig.expectations(),
            [
                (CLASS_AUDIO, ExpectFlags::empty(), proxy, ua, 49170, 180),
                (CLASS_AUDIO, ExpectFlags::empty(), proxy, ua, 49171, 180)
            ]
        );
        assert_eq!(SipState::load(&mut StateReader::new(&rig.data)).invite_cseq, 1);
        // The 200 OK from the proxy adds the proxy's media.
        rig.send(Reply, &answer("200 OK", 1, "INVITE", "198.51.100.20", 3456)).unwrap();
        assert_eq!(rig.expectations().len(), 4);
        assert!(rig.expectations().contains(&(CLASS_AUDIO, ExpectFlags::empty(), ua, proxy, 3456, 180)));
        assert!(rig.expectations().contains(&(CLASS_AUDIO, ExpectFlags::empty(), ua, proxy, 3457, 180)));
        // A failure answer to another CSeq changes nothing; to the INVITE's removes the media.
        rig.send(Reply, &answer("486 Busy Here", 2, "INVITE", "198.51.100.20", 3456)).unwrap();
        assert_eq!(rig.expectations().len(), 4);
        rig.send(Reply, &answer("486 Busy Here", 1, "INVITE", "198.51.100.20", 3456)).unwrap();
        assert_eq!(rig.expectations(), []);
    }

    #[test]
    fn media_rules() {
        use Direction::{Original, Reply};
        let mut rig = Rig::udp("192.0.2.10", 5060, "198.51.100.20", 5060);
        // Direct media: an SDP naming a third party expects nothing.
        rig.send(Original, &invite(1, "203.0.113.5", 49170)).unwrap();
        assert_eq!(rig.expectations(), []);
        // Odd port: RTP is the even one below.
        rig.send(Original, &invite(2, "192.0.2.10", 49171)).unwrap();
        let ports: Vec<u16> = rig.expectations().iter().map(|e| e.4).collect();
        assert_eq!(ports, [49170, 49171]);
        // A new INVITE replaces the media; BYE removes them.
        rig.send(Original, &invite(3, "192.0.2.10", 50000)).unwrap();
        let ports: Vec<u16> = rig.expectations().iter().map(|e| e.4).collect();
        assert_eq!(ports, [50000, 50001]);
        rig.send(Original, "BYE sip:bob@198.51.100.20 SIP/2.0\r\nCSeq: 4 BYE\r\n\r\n").unwrap();
        assert_eq!(rig.expectations(), []);
        // Requests with a handler need a CSeq; others do not.
        assert_eq!(
            rig.send(Original, "BYE sip:bob SIP/2.0\r\nTo: x\r\n\r\n"),
            Err(HelperDrop("cannot parse cseq"))
        );
        assert_eq!(
            rig.send(Original, "BYE sip:bob SIP/2.0\r\nCSeq: x\r\n\r\n"),
            Err(HelperDrop("cannot parse cseq"))
        );
        assert_eq!(rig.send(Original, "OPTIONS sip:bob SIP/2.0\r\nTo: x\r\n\r\n"), Ok(()));
        // A CSeq too large to read is none (`sip_strtouint()`); 0 is one.
        assert_eq!(
            rig.send(Original, "BYE sip:bob SIP/2.0\r\nCSeq: 4294967297 BYE\r\n\r\n"),
            Err(HelperDrop("cannot get cseq"))
        );
        assert_eq!(rig.send(Original, "BYE sip:bob SIP/2.0\r\nCSeq: 0 BYE\r\n\r\n"), Ok(()));
        // Responses need a status code and a CSeq.
        assert_eq!(
            rig.send(Reply, "SIP/2.0 xyz OK\r\nCSeq: 1 INVITE\r\n\r\n"),
            Err(HelperDrop("cannot get code"))
        );
        assert_eq!(
            rig.send(Reply, "SIP/2.0 4294967496 OK\r\nCSeq: 1 INVITE\r\n\r\n"),
            Err(HelperDrop("cannot get code"))
        );
        assert_eq!(rig.send(Reply, "SIP/2.0 200 OK\r\nTo: x\r\n\r\n"), Err(HelperDrop("cannot parse cseq")));
        // Bad SDP drops the packet.
        assert_eq!(rig.send(Original, &invite(5, "192.0.2.10", 80)), Err(HelperDrop("wrong port")));
        // Short UDP payloads only refresh the timeout.
        assert_eq!(rig.run(Original, CtState::Established, b"BYE x SIP"), (Ok(()), Some(3600)));
        assert_eq!(rig.run(Original, CtState::Established, b""), (Ok(()), None));
    }

    #[test]
    fn registration() {
        use Direction::{Original, Reply};
        let (ua, registrar) = (ip("192.0.2.10"), ip("198.51.100.20"));
        let register = |cseq: u32, contact: &str| {
            std::format!(
                "REGISTER sip:198.51.100.20 SIP/2.0\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\n\
                 Expires: 3600\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let ok = |cseq: u32, contact: &str| {
            std::format!(
                "SIP/2.0 200 OK\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let mut rig = Rig::udp("192.0.2.10", 5060, "198.51.100.20", 5060);
        rig.send(Original, &register(1, "<sip:alice@192.0.2.10:5070>")).unwrap();
        assert_eq!(
            rig.expectations(),
            [(CLASS_SIGNALLING, ExpectFlags::PERMANENT | ExpectFlags::INACTIVE, registrar, ua, 5070, 180)]
        );
        let e = rig.slots.iter().find_map(|s| s.0.get()).unwrap().exp;
        assert_eq!(e.helper, Some(crate::expect::HelperId(0)));
        assert!(e.any_src_port && e.tuple.proto() == 17);
        // An answer to another REGISTER, or a provisional one, changes nothing.
        rig.send(Reply, &ok(2, "<sip:alice@192.0.2.10:5070>;expires=600")).unwrap();
        rig.send(Reply, "SIP/2.0 100 Trying\r\nCSeq: 1 REGISTER\r\n\r\n").unwrap();
        assert_eq!(rig.expectations()[0].1, ExpectFlags::PERMANENT | ExpectFlags::INACTIVE);
        // The 200 OK activates it for the contact's expires.
        rig.send(Reply, &ok(1, "<sip:x@192.0.2.99>, <sip:alice@192.0.2.10:5070>;expires=600")).unwrap();
        assert_eq!(
            rig.expectations(),
            [(CLASS_SIGNALLING, ExpectFlags::PERMANENT, registrar, ua, 5070, 600)]
        );
        // A failure answer removes it.
        rig.send(Reply, "SIP/2.0 403 Forbidden\r\nCSeq: 1 REGISTER\r\n\r\n").unwrap();
        assert_eq!(rig.expectations(), []);
        // Unregistering (expires 0) expects nothing; third parties are ignored.
        rig.send(Original, &register(3, "<sip:alice@192.0.2.10>;expires=0")).unwrap();
        assert_eq!(
            (rig.expectations().len(), SipState::load(&mut StateReader::new(&rig.data)).register_cseq),
            (0, 3)
        );
        rig.send(Original, &register(4, "<sip:alice@192.0.2.77>")).unwrap();
        rig.send(Original, &register(5, "<sip:alice@192.0.2.10;transport=tcp>")).unwrap();
        assert_eq!(
            (rig.expectations().len(), SipState::load(&mut StateReader::new(&rig.data)).register_cseq),
            (0, 3)
        );
        // A contact on a port outside 1024–65535 is passed over (Linux
        // 6.18.33 on): nothing registered, nothing dropped.
        rig.send(Original, &register(6, "<sip:alice@192.0.2.10:99>")).unwrap();
        assert_eq!(rig.expectations(), []);
        // A contact parameter that is not a number drops.
        assert_eq!(
            rig.send(Original, &register(7, "<sip:alice@192.0.2.10>;expires=never")),
            Err(HelperDrop("cannot parse expires"))
        );
        // Expected connections do not register.
        rig.expected = true;
        rig.send(Original, &register(8, "<sip:alice@192.0.2.10>")).unwrap();
        assert_eq!(rig.expectations(), []);
    }
}
