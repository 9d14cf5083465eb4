//! A smoltcp [`Device`] wrapper that tracks every packet the wrapped device
//! receives and transmits, and lets a [`Policy`] pass or drop it — a
//! stateful firewall for a smoltcp host, with no change to smoltcp (in the
//! style of smoltcp's own `Tracer` and `FaultInjector` wrappers).
//!
//! Received packets are tracked *inbound*, transmitted ones *outbound*; the
//! timestamps smoltcp passes to the device are the table's clock. A NEW
//! packet the policy drops leaves no entry. Frames are copied through a
//! buffer of `BUF` bytes inside the wrapper, so it allocates nothing; longer
//! frames are dropped.
//!
//! The wrapper filters IP-medium devices (the packet starts at the IP
//! header). On any other medium it skips a 14-byte Ethernet header (and
//! 802.1Q tags) and lets non-IP frames (ARP) through untracked.
//!
//! ```
//! use ctrack::device::{Firewall, Path};
//! use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Verdict};
//! use smoltcp::phy::{Loopback, Medium};
//!
//! let table: FixedConnTable<256> = ConnTable::new(HashKey([9; 16]), Config::default());
//! // Inbound: only replies and related traffic; outbound: anything tracked.
//! let policy = |path: Path, v: &Verdict| match path {
//!     Path::Inbound => matches!(v.state(), Some(CtState::Established | CtState::Related)),
//!     Path::Outbound => !v.must_drop() && v.state() != Some(CtState::Invalid),
//! };
//! let device: Firewall<_, _, _> = Firewall::new(Loopback::new(Medium::Ip), table, policy);
//! assert_eq!(device.table().len(), 0);
//! ```

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant as SmolInstant;

use crate::table::{ConnTable, Meta, Storage};
use crate::time::Instant;
use crate::verdict::Verdict;
use crate::wire::ethernet;

/// Which way a packet crosses the wrapped device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Path {
    /// Received from the network, going to the host's stack.
    Inbound,
    /// Sent by the host's stack to the network.
    Outbound,
}

/// Decides, from the classification, whether a packet passes.
pub trait Policy {
    /// `true` lets the packet through.
    fn allow(&mut self, path: Path, verdict: &Verdict) -> bool;
}

impl<F: FnMut(Path, &Verdict) -> bool> Policy for F {
    fn allow(&mut self, path: Path, verdict: &Verdict) -> bool {
        self(path, verdict)
    }
}

/// Frames examined per `receive` call before giving up for this poll.
const MAX_DROPS_PER_POLL: usize = 32;

/// A [`Device`] that tracks and filters the traffic of `D`.
pub struct Firewall<D, S, P, const BUF: usize = 1536> {
    inner: D,
    table: ConnTable<S>,
    policy: P,
    rx_buf: [u8; BUF],
    tx_buf: [u8; BUF],
    dropped: u64,
}

impl<D: Device, S: Storage, P: Policy, const BUF: usize> Firewall<D, S, P, BUF> {
    /// Wrap `inner`, tracking with `table` and deciding with `policy`.
    pub fn new(inner: D, table: ConnTable<S>, policy: P) -> Self {
        Firewall { inner, table, policy, rx_buf: [0; BUF], tx_buf: [0; BUF], dropped: 0 }
    }

    /// The connection table.
    pub fn table(&self) -> &ConnTable<S> {
        &self.table
    }

    /// The connection table, e.g. to assign helpers or run `gc`.
    pub fn table_mut(&mut self) -> &mut ConnTable<S> {
        &mut self.table
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutable.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Packets dropped so far, both ways.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The IP packet of a frame (the whole frame on an IP-medium device, what
/// follows the Ethernet header and any VLAN tags otherwise), or `None` for
/// a frame that carries no IP packet.
fn ip_packet(ip_medium: bool, frame: &[u8]) -> Option<&[u8]> {
    if ip_medium {
        return Some(frame);
    }
    match ethernet::payload(frame)? {
        (ethernet::ETHERTYPE_IPV4 | ethernet::ETHERTYPE_IPV6, packet) => Some(packet),
        _ => None,
    }
}

/// Track one frame and apply the policy; true if it passes.
fn filter<S: Storage, P: Policy>(
    table: &mut ConnTable<S>,
    policy: &mut P,
    medium: Medium,
    path: Path,
    now: SmolInstant,
    frame: &[u8],
) -> bool {
    let Some(packet) = ip_packet(medium == Medium::Ip, frame) else { return true };
    let mut v = table.classify(Instant::from(now), packet, Meta::default());
    if policy.allow(path, &v) && table.confirm(&mut v, packet).is_ok() {
        true
    } else {
        table.discard(&v);
        false
    }
}

impl<D: Device, S: Storage, P: Policy, const BUF: usize> Device for Firewall<D, S, P, BUF> {
    type RxToken<'a>
        = FwRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = FwTxToken<'a, D::TxToken<'a>, S, P>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: SmolInstant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let medium = self.inner.capabilities().medium;
        let mut passed = None;
        for _ in 0..MAX_DROPS_PER_POLL {
            let (rx, _) = self.inner.receive(timestamp)?;
            let buf = &mut self.rx_buf;
            let len = rx.consume(|frame| {
                let n = frame.len();
                if let Some(dst) = buf.get_mut(..n) {
                    dst.copy_from_slice(frame);
                    Some(n)
                } else {
                    None
                }
            });
            let Some(len) = len else {
                self.dropped = self.dropped.wrapping_add(1);
                continue;
            };
            if filter(
                &mut self.table,
                &mut self.policy,
                medium,
                Path::Inbound,
                timestamp,
                &self.rx_buf[..len],
            ) {
                passed = Some(len);
                break;
            }
            self.dropped = self.dropped.wrapping_add(1);
        }
        let len = passed?;
        let Firewall { inner, table, policy, rx_buf, tx_buf, dropped } = self;
        let tx = inner.transmit(timestamp)?;
        Some((
            FwRxToken { frame: &rx_buf[..len] },
            FwTxToken { inner: tx, table, policy, buf: tx_buf, dropped, medium, timestamp },
        ))
    }

    fn transmit(&mut self, timestamp: SmolInstant) -> Option<Self::TxToken<'_>> {
        let medium = self.inner.capabilities().medium;
        let Firewall { inner, table, policy, tx_buf, dropped, .. } = self;
        let tx = inner.transmit(timestamp)?;
        Some(FwTxToken { inner: tx, table, policy, buf: tx_buf, dropped, medium, timestamp })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = self.inner.capabilities();
        caps.max_transmission_unit = caps.max_transmission_unit.min(BUF);
        caps
    }
}

/// A received frame that passed the policy.
pub struct FwRxToken<'a> {
    frame: &'a [u8],
}

impl RxToken for FwRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// A transmission slot: the stack writes the frame into the wrapper's
/// buffer; it reaches the wrapped device only if the policy passes it.
pub struct FwTxToken<'a, T, S, P> {
    inner: T,
    table: &'a mut ConnTable<S>,
    policy: &'a mut P,
    buf: &'a mut [u8],
    dropped: &'a mut u64,
    medium: Medium,
    timestamp: SmolInstant,
}

impl<T: TxToken, S: Storage, P: Policy> TxToken for FwTxToken<'_, T, S, P> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut scratch = [0u8; 0];
        let (frame, fits) = match self.buf.get_mut(..len) {
            Some(b) => (b, true),
            None => (&mut scratch[..], false),
        };
        let r = f(frame);
        let frame = &*frame;
        if fits && filter(self.table, self.policy, self.medium, Path::Outbound, self.timestamp, frame) {
            self.inner.consume(len, |out| out.copy_from_slice(frame));
        } else {
            *self.dropped = self.dropped.wrapping_add(1);
        }
        r
    }
}

/// The wrapper as a log line: what it dropped so far.
#[cfg(feature = "defmt")]
impl<D, S, P, const BUF: usize> defmt::Format for Firewall<D, S, P, BUF> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Firewall({=u64} dropped)", self.dropped);
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for FwRxToken<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "FwRxToken({=usize} bytes)", self.frame.len());
    }
}

#[cfg(feature = "defmt")]
impl<T, S, P> defmt::Format for FwTxToken<'_, T, S, P> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "FwTxToken({=usize} bytes)", self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::ip_packet;

    #[test]
    fn ip_packet_of_frames() {
        let mut eth = [0u8; 40];
        eth[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(ip_packet(false, &eth).map(<[u8]>::len), Some(26));
        eth[12..14].copy_from_slice(&[0x81, 0x00]);
        eth[16..18].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(ip_packet(false, &eth).map(<[u8]>::len), Some(22));
        eth[16..18].copy_from_slice(&[0x08, 0x06]); // ARP behind a VLAN tag
        assert_eq!(ip_packet(false, &eth), None);
        assert_eq!(ip_packet(false, &eth[..13]), None);
        assert_eq!(ip_packet(true, &eth).map(<[u8]>::len), Some(40));
    }
}
