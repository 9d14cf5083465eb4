//! Protocol trackers: what each layer-4 protocol checks and how it moves an
//! entry's state and timeout (semantics §3–§6).

pub(crate) mod icmp;
pub mod tcp;
pub(crate) mod udp;

use crate::time::Tick;

/// Per-entry protocol state; the entry's protocol number says which
/// variant it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ProtoState {
    /// ICMP, ICMPv6, generic protocols: nothing beyond the timeout.
    Stateless,
    /// UDP, UDP-Lite and GRE: when the "stream" timeout may start (§4.2).
    Stream { stream_after: Tick },
    /// TCP.
    Tcp(tcp::TcpConn),
}
