//! The FTP command/reply parser (ctrack's counterpart of
//! `nf_conntrack_ftp.c: find_pattern()`) on arbitrary lines.
//!
//! Input: `[selector] [payload...]`: bit 0 of the selector picks the
//! direction (PORT/EPRT or 227/229), bit 1 the address family.
#![no_main]

use ctrack::fuzzing::{FtpParsed as Parsed, ftp_parse as parse};
use ctrack::{Direction, Family};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else { return };
    let dir = if sel & 1 == 0 { Direction::Original } else { Direction::Reply };
    let family = if sel & 2 == 0 { Family::Ipv4 } else { Family::Ipv6 };
    match parse(payload, dir, family) {
        // A match never announces port 0 from the extended forms, and an
        // address only of the connection's family.
        Parsed::Endpoint(Some(addr), _) => assert_eq!(addr.is_ipv4(), family == Family::Ipv4),
        Parsed::Endpoint(None, port) => assert_ne!(port, 0),
        Parsed::None | Parsed::Partial => {}
    }
});
