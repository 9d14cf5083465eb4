//! GRE (`nf_conntrack_proto_gre.c: gre_pkt_to_tuple(), nf_conntrack_gre_packet()`):
//! version 0 is tracked by addresses only, version 1 (PPTP) by call id; both use
//! UDP's stream logic with their own timeouts, streaming from the first
//! packet after a reply.

use super::udp::{self, StreamKind};
use super::{Outcome, PacketCtx};
use crate::config::Timeouts;
use crate::time::FineTick;

/// An accepted GRE packet.
pub(crate) fn track(stream_after: FineTick, ctx: &PacketCtx, t: &Timeouts) -> Outcome {
    udp::track(StreamKind::Immediate, stream_after, ctx, t.gre, t.gre_stream)
}
