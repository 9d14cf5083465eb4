//! The Amanda CONNECT-line parser (ctrack's counterpart of
//! `nf_conntrack_amanda.c: amanda_help()`'s search) on arbitrary replies.
#![no_main]

use ctrack::fuzzing::amanda_parse as parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ports = parse(data);
    // Port 0 is never announced, and nothing without a CONNECT line.
    assert!(ports.iter().flatten().all(|&p| p != 0));
    if ports.iter().any(Option::is_some) {
        assert!(data.windows(8).any(|w| w == b"CONNECT "));
        assert!(data.contains(&b'\n'));
    }
});
