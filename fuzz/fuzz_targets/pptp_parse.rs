//! The PPTP control-message parser and tracker (ctrack's counterpart of
//! `nf_conntrack_pptp.c: conntrack_pptp_help()`, `pptp_outbound_pkt()`,
//! `pptp_inbound_pkt()`) on arbitrary payloads, in both directions.
#![no_main]

use ctrack::fuzzing::{PptpMaster, pptp_parse as parse, pptp_step as step};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut state = PptpMaster::default();
    // The payload as one message, then cut into pieces read in turn from
    // alternating directions.
    for (k, piece) in core::iter::once(data).chain(data.chunks(24)).enumerate() {
        let Some(m) = parse(piece) else { continue };
        // Only a full control header with the magic cookie is read.
        assert!(piece.len() >= 12);
        assert_eq!(&piece[2..8], &[0, 1, 0x1a, 0x2b, 0x3c, 0x4d]);
        assert_eq!(m.kind, u16::from_be_bytes([piece[8], piece[9]]));
        let before = state;
        let _ = step(&mut state, &m, k % 2 == 0);
        // Unknown message types change nothing.
        if m.kind == 0 || m.kind > 15 {
            assert_eq!(state, before);
        }
    }
});
