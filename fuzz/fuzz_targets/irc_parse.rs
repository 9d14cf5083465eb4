//! The IRC DCC parser (ctrack's counterpart of `nf_conntrack_irc.c:
//! help()` and `parse_dcc()`) on arbitrary client segments.
//!
//! Input: `[a] [b] [c] [d] [payload...]`: the client's IPv4 address, then
//! the segment.
#![no_main]

use core::net::Ipv4Addr;

use ctrack::fuzzing::irc_parse as parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((addr, payload)) = data.split_first_chunk::<4>() else { return };
    let sender = Ipv4Addr::from(*addr);
    if let Some((ip, port)) = parse(payload, sender) {
        // Only the sender's own address, never port 0; and an offer needs
        // "\1DCC " and a line end.
        assert_eq!(ip, sender);
        assert_ne!(port, 0);
        assert!(payload.windows(5).any(|w| w == b"\x01DCC "));
        assert!(payload.contains(&b'\n'));
    }
});
