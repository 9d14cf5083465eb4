//! The SIP header and SDP parsers (`nf_conntrack_sip.c: ct_sip_get_header()`,
//! `ct_sip_get_sdp_header()`) on arbitrary messages.
//!
//! Input: `[selector] [message...]`: bit 0 picks the address family. Every
//! header is searched from every offset a match reports, and the SDP body
//! is parsed; offsets reported must lie inside the message and every
//! announced media port must be in 1024..=65535.
#![no_main]

use ctrack::Family;
use ctrack::fuzzing::{SipHeader as Header, SipHeaderMatch as HeaderMatch, find_header, parse_sdp};
use libfuzzer_sys::fuzz_target;

const HEADERS: [Header; 9] = [
    Header::CSeq,
    Header::From,
    Header::To,
    Header::Contact,
    Header::ViaUdp,
    Header::ViaTcp,
    Header::Expires,
    Header::ContentLength,
    Header::CallId,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, msg)) = data.split_first() else { return };
    let family = if sel & 1 == 0 { Family::Ipv4 } else { Family::Ipv6 };
    for h in HEADERS {
        // Walk every occurrence, as the helper does for Contact lists; each
        // step must move forward, so the walk ends.
        let mut from = 0;
        for _ in 0..=msg.len() {
            let next = match find_header(msg, from, h, family) {
                HeaderMatch::None => break,
                HeaderMatch::Bad(at) => at,
                HeaderMatch::At(at, len) => {
                    assert!(at + len <= msg.len());
                    at + len.max(1)
                }
            };
            assert!(next <= msg.len() + 1);
            if next <= from {
                break;
            }
            from = next;
        }
    }
    let sdp = parse_sdp(msg, family);
    for m in sdp.media.iter().flatten() {
        assert!(m.port >= 1024);
        assert_eq!(m.addr.is_ipv4(), family == Family::Ipv4);
    }
});
