//! Any protocol without a tracker of its own
//! (`nf_conntrack_core.c: generic_packet()`; the timeout is set up in
//! `nf_conntrack_proto_generic.c`): tracked by addresses and protocol, one
//! timeout, never assured.

use super::Outcome;
use crate::config::Timeouts;

/// An accepted packet of a generic protocol.
pub(crate) fn track(t: &Timeouts) -> Outcome {
    Outcome::Accept { timeout: Some(t.generic), assure: false }
}
