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

use crate::firewall;
pub use crate::firewall::{Path, Policy};
use crate::table::{ConnTable, Storage};
use crate::time::Instant;

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
        let Firewall { inner, table, policy, rx_buf, tx_buf, dropped } = self;
        let now = || Instant::from(timestamp);
        let len = firewall::receive(table, policy, medium == Medium::Ip, rx_buf, dropped, now, |buf| {
            let (rx, _) = inner.receive(timestamp)?;
            Some(rx.consume(|frame| firewall::stage(buf, frame)))
        })?;
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
        let FwTxToken { inner, table, policy, buf, dropped, medium, timestamp } = self;
        let now = Instant::from(timestamp);
        firewall::transmit(table, policy, medium == Medium::Ip, now, buf, dropped, len, f, |frame| {
            inner.consume(len, |out| out.copy_from_slice(frame))
        })
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
