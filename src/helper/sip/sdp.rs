//! SDP session descriptions, the one job of this file: finding the
//! `v=`, `c=` and `m=` lines of the body of a SIP message and reading the
//! media streams it announces, as `nf_conntrack_sip.c: process_sdp()`
//! does before it expects them.
//!
//! SDP lines are found at line starts (`ct_sip_get_sdp_header()`): the
//! description starts at the first `v=` line of the message, the session's
//! connection address is the `c=` line before the first `m=` line, and a
//! media section's own `c=` line (which takes precedence) must come
//! before the next `m=` line (`ct_sip_parse_sdp_addr()`). Only `audio`,
//! `video` and `image` media are recognised (`sdp_media_type()`), at most
//! three that are not inactive (port 0).

use core::net::IpAddr;

use super::addr::parse_addr;
use super::header::HeaderMatch;
use super::lex::{
    at_before, checked_port, count_while, digits, eq_ci, eq_cs, is_alpha, line_starts, search, uint,
};
use super::{CLASS_AUDIO, CLASS_IMAGE, CLASS_VIDEO};
use crate::tuple::Family;

/// At most this many recognised media per SDP body.
const MAX_MEDIA: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum SdpLine {
    Version,
    Owner,
    Connection,
    Media,
}

impl SdpLine {
    fn name(self) -> &'static [u8] {
        match self {
            SdpLine::Version => b"v=",
            SdpLine::Owner => b"o=",
            SdpLine::Connection => b"c=",
            SdpLine::Media => b"m=",
        }
    }
}

/// `needle` (case-sensitive) in the rest of the line at `p`.
fn sdp_search(m: &[u8], p: usize, limit: usize, needle: &[u8]) -> Option<usize> {
    search(m, p, limit, needle, eq_cs, |_, _| None)
}

/// Find SDP line `ty` at a line start after `from`, stopping at a line of
/// type `term`.
fn sdp_line(m: &[u8], from: usize, ty: SdpLine, term: Option<SdpLine>, family: Family) -> HeaderMatch {
    let limit = m.len();
    let name = ty.name();
    for p in line_starts(m, from) {
        if term.is_some_and(|t| eq_ci(m, p, t.name())) {
            return HeaderMatch::None;
        }
        if !eq_ci(m, p, name) {
            continue;
        }
        let mut v = p + name.len();
        let start = v;
        let len = match ty {
            SdpLine::Version => digits(m, v, limit),
            SdpLine::Owner | SdpLine::Connection => {
                let needle: &[u8] = match family {
                    Family::Ipv4 => b"IN IP4 ",
                    Family::Ipv6 => b"IN IP6 ",
                };
                let Some(s) = sdp_search(m, v, limit, needle) else { return HeaderMatch::Bad(start) };
                v = s + needle.len();
                parse_addr(m, v, limit, family, false).map_or(0, |(_, e)| e - v)
            }
            SdpLine::Media => {
                // Letters, one space, digits.
                let t = count_while(m, v, limit, is_alpha);
                if at_before(m, v + t, limit) != b' ' { 0 } else { t + 1 + digits(m, v + t + 1, limit) }
            }
        };
        return HeaderMatch::found(start, v, len);
    }
    HeaderMatch::None
}

/// The address of the `c=` line after `from`, before the next `m=` line,
/// and where its text is.
fn sdp_connection(m: &[u8], from: usize, family: Family) -> Option<(IpAddr, Span)> {
    match sdp_line(m, from, SdpLine::Connection, Some(SdpLine::Media), family) {
        HeaderMatch::At(o, l) => parse_addr(m, o, o + l, family, false).map(|(a, _)| (a, (o, l))),
        _ => None,
    }
}

/// Where a piece of text is in a message: offset and length.
pub type Span = (usize, usize);

/// Where NAT rewrites an SDP body (`nf_nat_sip.c: nf_nat_sdp_session()`,
/// `nf_nat_sdp_addr()`, `nf_nat_sdp_port()`): the addresses of the
/// session's `o=` and `c=` lines, and per medium (as in [`Sdp::media`])
/// its port and the address of its own `c=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SdpSpans {
    pub owner: Option<Span>,
    pub session: Option<Span>,
    pub port: [Option<Span>; MAX_MEDIA],
    pub connection: [Option<Span>; MAX_MEDIA],
}

/// One media stream an SDP body announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media {
    /// [`CLASS_AUDIO`], [`CLASS_VIDEO`] or [`CLASS_IMAGE`].
    pub class: u8,
    /// Its connection address (the media's `c=`, else the session's).
    pub addr: IpAddr,
    /// Its port, 1024–65535.
    pub port: u16,
}

/// What an SDP body announces: up to three media in order, and the error
/// that stopped the reading, if any (the packet is then dropped, after the
/// media before it were expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sdp {
    /// The recognised media with a non-zero port.
    pub media: [Option<Media>; MAX_MEDIA],
    /// `"wrong port"` or `"cannot parse SDP message"`.
    pub error: Option<&'static str>,
    /// Where its addresses and ports are written.
    pub spans: SdpSpans,
}

/// Read the SDP body of SIP message `msg` on a connection of `family`.
pub fn parse_sdp(msg: &[u8], family: Family) -> Sdp {
    let m = msg;
    let mut sdp = Sdp::default();
    let HeaderMatch::At(sdpoff, _) = sdp_line(m, 0, SdpLine::Version, None, family) else { return sdp };
    let session = sdp_connection(m, sdpoff, family);
    sdp.spans.session = session.map(|(_, s)| s);
    if let HeaderMatch::At(o, l) = sdp_line(m, sdpoff, SdpLine::Owner, Some(SdpLine::Media), family) {
        sdp.spans.owner = Some((o, l));
    }
    let mut off = sdpoff;
    let mut n = 0;
    while n < MAX_MEDIA {
        let HeaderMatch::At(o, len) = sdp_line(m, off, SdpLine::Media, None, family) else { break };
        let kind = [(b"audio ", CLASS_AUDIO), (b"video ", CLASS_VIDEO), (b"image ", CLASS_IMAGE)]
            .into_iter()
            .find(|(name, _)| len >= name.len() && eq_cs(m, o, *name));
        let Some((name, class)) = kind else {
            off = o + len;
            continue;
        };
        off = o + name.len();
        // (`sip_strtouint()`: a number too large to read is 0.)
        let (port, port_end) = uint(m, off);
        let port_span = (off, port_end - off);
        if port == 0 {
            // An inactive stream.
            continue;
        }
        let Some(port) = checked_port(port) else {
            sdp.error = Some("wrong port");
            break;
        };
        let own = sdp_connection(m, off, family);
        let Some((addr, _)) = own.or(session) else {
            sdp.error = Some("cannot parse SDP message");
            break;
        };
        sdp.media[n] = Some(Media { class, addr, port });
        sdp.spans.port[n] = Some(port_span);
        sdp.spans.connection[n] = own.map(|(_, s)| s);
        n += 1;
    }
    sdp
}

#[cfg(test)]
mod tests {
    use super::super::tests::{V4, V6, ip};
    use super::*;
    use std::vec::Vec;

    fn media(class: u8, addr: &str, port: u16) -> Option<Media> {
        Some(Media { class, addr: ip(addr), port })
    }

    #[test]
    fn sdp_session_and_media_addresses() {
        let m = b"INVITE x SIP/2.0\r\nl: 1\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.99\r\n\
            c=IN IP4 192.0.2.10\r\nt=0 0\r\n\
            m=audio 49170 RTP/AVP 0\r\n\
            m=video 51372 RTP/AVP 31\r\nc=IN IP4 192.0.2.11/127\r\n\
            m=image 6001 udptl t38\r\n";
        let sdp = parse_sdp(m, V4);
        assert_eq!(sdp.error, None);
        assert_eq!(
            sdp.media,
            [
                media(CLASS_AUDIO, "192.0.2.10", 49170),
                media(CLASS_VIDEO, "192.0.2.11", 51372),
                media(CLASS_IMAGE, "192.0.2.10", 6001),
            ]
        );
        // A c= line after the first m= line is not the session's.
        let m = b"X\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n";
        assert_eq!(parse_sdp(m, V4).error, Some("cannot parse SDP message"));
        // IPv6.
        let m = b"X\r\n\r\nv=0\r\nc=IN IP6 2001:db8::10\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(parse_sdp(m, V6).media[0], media(CLASS_AUDIO, "2001:db8::10", 4000));
        assert_eq!(parse_sdp(m, V4).error, Some("cannot parse SDP message"));
        // An IPv6 address in brackets is no address (`sdp_parse_addr()`):
        // a bracketed session address leaves the media without one, a
        // bracketed media address falls back to the session's. Brackets in
        // o= do not matter.
        let m = b"X\r\n\r\nv=0\r\no=- 1 1 IN IP6 [2001:db8::10]\r\nc=IN IP6 [2001:db8::10]\r\n\
            m=audio 4000 RTP/AVP 0\r\n";
        let sdp = parse_sdp(m, V6);
        assert_eq!((sdp.media, sdp.error), ([None; 3], Some("cannot parse SDP message")));
        let m = b"X\r\n\r\nv=0\r\no=- 1 1 IN IP6 [2001:db8::10]\r\nc=IN IP6 2001:db8::10\r\n\
            m=audio 4000 RTP/AVP 0\r\nc=IN IP6 [2001:db8::11]\r\n";
        assert_eq!(parse_sdp(m, V6).media[0], media(CLASS_AUDIO, "2001:db8::10", 4000));
        // No v= line: no SDP.
        assert_eq!(
            parse_sdp(b"X\r\n\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n", V4),
            Sdp::default()
        );
    }

    #[test]
    fn sdp_spans() {
        let m = b"X\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.99\r\nc=IN IP4 192.0.2.10\r\n\
            m=audio 49170 RTP/AVP 0\r\nm=video 51372 RTP/AVP 31\r\nc=IN IP4 192.0.2.11\r\n";
        let s = parse_sdp(m, V4).spans;
        let text = |span: Option<Span>| span.map(|(o, l)| core::str::from_utf8(&m[o..o + l]).unwrap());
        assert_eq!(text(s.owner), Some("192.0.2.99"));
        assert_eq!(text(s.session), Some("192.0.2.10"));
        assert_eq!((text(s.port[0]), text(s.port[1]), s.port[2]), (Some("49170"), Some("51372"), None));
        assert_eq!((s.connection[0], text(s.connection[1])), (None, Some("192.0.2.11")));
    }

    #[test]
    fn sdp_ports_types_and_limits() {
        let sdp = |body: &str| {
            let mut m = Vec::from(&b"X\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\n"[..]);
            m.extend_from_slice(body.as_bytes());
            parse_sdp(&m, V4)
        };
        // Port 0 is an inactive stream and does not count.
        let s = sdp("m=audio 0 RTP/AVP 0\r\nm=audio 4000 RTP/AVP 0\r\n");
        assert_eq!(s.media, [media(CLASS_AUDIO, "192.0.2.1", 4000), None, None]);
        // Out-of-range ports stop the reading with an error.
        let s = sdp("m=audio 4000 RTP/AVP 0\r\nm=audio 1023 RTP/AVP 0\r\nm=audio 5000 RTP/AVP 0\r\n");
        assert_eq!((s.media[0].is_some(), s.media[1], s.error), (true, None, Some("wrong port")));
        assert_eq!(sdp("m=video 65536 RTP/AVP 0\r\n").error, Some("wrong port"));
        // A port too large to read, or of more than 11 digits, reads as 0
        // (`sip_strtouint()`): skipped as an inactive stream.
        let s = sdp(
            "m=audio 4294967297 RTP/AVP 0\r\nm=audio 000000004000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\n",
        );
        assert_eq!((s.media, s.error), ([media(CLASS_AUDIO, "192.0.2.1", 4002), None, None], None));
        assert_eq!(sdp("m=audio 00000004000 RTP/AVP 0\r\n").media[0], media(CLASS_AUDIO, "192.0.2.1", 4000));
        // Unknown and case-mismatched media types are skipped.
        let s = sdp(
            "m=application 9 TCP/BFCP *\r\nm=Audio 4000 RTP/AVP 0\r\nm=text 4002 RTP/AVP 0\r\nm=video 4004 RTP/AVP 0\r\n",
        );
        assert_eq!(s.media, [media(CLASS_VIDEO, "192.0.2.1", 4004), None, None]);
        // At most three media.
        let s = sdp(
            "m=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\nm=audio 4004 RTP/AVP 0\r\nm=audio 80 RTP/AVP 0\r\n",
        );
        assert_eq!((s.media.iter().flatten().count(), s.error), (3, None));
        // A malformed m= line ends the media list.
        let s = sdp("m=audio\r\nm=audio 4000 RTP/AVP 0\r\n");
        assert_eq!((s.media, s.error), ([None; 3], None));
        // No address at all.
        let s = parse_sdp(b"X\r\n\r\nv=0\r\nc=IN IP4 host.example\r\nm=audio 4000 RTP/AVP 0\r\n", V4);
        assert_eq!(s.error, Some("cannot parse SDP message"));
    }
}
