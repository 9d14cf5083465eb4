//! The SANE request and SANE_NET_START reply parsers (ctrack's
//! counterpart of `nf_conntrack_sane.c: help()`) on arbitrary segments.
#![no_main]

use ctrack::fuzzing::{SaneRequest, sane_parse_reply, sane_parse_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match sane_parse_request(data) {
        SaneRequest::Other => assert_ne!(data.len(), 8),
        SaneRequest::NotStart | SaneRequest::Start => assert_eq!(data.len(), 8),
    }
    if let Some(port) = sane_parse_reply(data) {
        assert!(data.len() >= 8 && data[..6] == [0; 6]);
        assert_eq!(port, u16::from_be_bytes([data[6], data[7]]));
    }
});
