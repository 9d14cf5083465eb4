//! An [`embassy_net_driver::Driver`] wrapper (feature `embassy`): tracks
//! every frame the wrapped driver receives and every frame the stack
//! transmits, and lets a [`Policy`] pass or drop it, so that firmware on
//! embassy-net (the smoltcp-based stack of most Rust microcontroller
//! routers) gets a stateful firewall with no change to the stack. The same
//! design as the smoltcp wrapper [`device::Firewall`](crate::device):
//! frames go through buffers of `BUF` bytes inside the wrapper (no
//! allocation; longer frames are dropped), a NEW packet the policy drops
//! leaves no entry, and a frame that carries no IP packet (ARP) passes
//! untracked.
//!
//! An embassy driver has no clock, so the wrapper takes one: a [`Clock`],
//! e.g. `|| Instant::from_millis(embassy_time::Instant::now().as_millis())`.
//!
//! ```
//! use ctrack::embassy::{Firewall, Path};
//! use ctrack::{Config, ConnTable, CtState, FixedConnTable, HashKey, Instant, Verdict};
//!
//! # struct Nic;
//! # impl embassy_net_driver::Driver for Nic {
//! #     type RxToken<'a> = Tok where Self: 'a;
//! #     type TxToken<'a> = Tok where Self: 'a;
//! #     fn receive(&mut self, _: &mut core::task::Context) -> Option<(Tok, Tok)> { None }
//! #     fn transmit(&mut self, _: &mut core::task::Context) -> Option<Tok> { None }
//! #     fn link_state(&mut self, _: &mut core::task::Context) -> embassy_net_driver::LinkState {
//! #         embassy_net_driver::LinkState::Up
//! #     }
//! #     fn capabilities(&self) -> embassy_net_driver::Capabilities { Default::default() }
//! #     fn hardware_address(&self) -> embassy_net_driver::HardwareAddress {
//! #         embassy_net_driver::HardwareAddress::Ethernet([2, 0, 0, 0, 0, 1])
//! #     }
//! # }
//! # struct Tok;
//! # impl embassy_net_driver::RxToken for Tok {
//! #     fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R { f(&mut []) }
//! # }
//! # impl embassy_net_driver::TxToken for Tok {
//! #     fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R { f(&mut [0; 64][..len]) }
//! # }
//! # let nic = Nic;
//! let table: FixedConnTable<256> = ConnTable::new(HashKey([9; 16]), Config::default());
//! // Inbound: only replies and related traffic; outbound: anything tracked.
//! let policy = |path: Path, v: &Verdict| match path {
//!     Path::Inbound => matches!(v.state(), Some(CtState::Established | CtState::Related)),
//!     Path::Outbound => !v.must_drop() && v.state() != Some(CtState::Invalid),
//! };
//! let clock = || Instant::from_millis(0); // a millisecond counter in firmware
//! let driver: Firewall<_, _, _, _> = Firewall::new(nic, table, policy, clock);
//! // embassy_net::new(driver, config, resources, seed) then uses it as its driver.
//! assert_eq!(driver.table().len(), 0);
//! ```

use core::task::Context;

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};

use crate::firewall;
pub use crate::firewall::{Path, Policy};
use crate::table::{ConnTable, Storage};
use crate::time::Instant;

/// The wrapper's clock: the current time, for the table.
pub trait Clock {
    /// Now.
    fn now(&mut self) -> Instant;
}

impl<F: FnMut() -> Instant> Clock for F {
    fn now(&mut self) -> Instant {
        self()
    }
}

/// A [`Driver`] that tracks and filters the traffic of `D`.
pub struct Firewall<D, S, P, C, const BUF: usize = 1536> {
    inner: D,
    table: ConnTable<S>,
    policy: P,
    clock: C,
    rx_buf: [u8; BUF],
    tx_buf: [u8; BUF],
    dropped: u64,
}

impl<D: Driver, S: Storage, P: Policy, C: Clock, const BUF: usize> Firewall<D, S, P, C, BUF> {
    /// Wrap `inner`, tracking with `table`, deciding with `policy` and
    /// reading the time from `clock`.
    pub fn new(inner: D, table: ConnTable<S>, policy: P, clock: C) -> Self {
        Firewall { inner, table, policy, clock, rx_buf: [0; BUF], tx_buf: [0; BUF], dropped: 0 }
    }

    /// The connection table.
    pub fn table(&self) -> &ConnTable<S> {
        &self.table
    }

    /// The connection table, e.g. to assign helpers or run `gc`.
    pub fn table_mut(&mut self) -> &mut ConnTable<S> {
        &mut self.table
    }

    /// The wrapped driver.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped driver, mutable.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Frames dropped so far, both ways.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn ip_medium(&self) -> bool {
        matches!(self.inner.hardware_address(), HardwareAddress::Ip)
    }
}

impl<D: Driver, S: Storage, P: Policy, C: Clock, const BUF: usize> Driver for Firewall<D, S, P, C, BUF> {
    type RxToken<'a>
        = FwRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = FwTxToken<'a, D::TxToken<'a>, S, P>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let ip_medium = self.ip_medium();
        let Firewall { inner, table, policy, clock, rx_buf, tx_buf, dropped } = self;
        let len = firewall::receive(
            table,
            policy,
            ip_medium,
            rx_buf,
            dropped,
            || clock.now(),
            |buf| {
                let (rx, _) = inner.receive(cx)?;
                Some(rx.consume(|frame| firewall::stage(buf, frame)))
            },
        )?;
        let now = clock.now();
        let tx = inner.transmit(cx)?;
        Some((
            FwRxToken { frame: &mut rx_buf[..len] },
            FwTxToken { inner: tx, table, policy, buf: tx_buf, dropped, ip_medium, now },
        ))
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<Self::TxToken<'_>> {
        let ip_medium = self.ip_medium();
        let now = self.clock.now();
        let Firewall { inner, table, policy, tx_buf, dropped, .. } = self;
        let tx = inner.transmit(cx)?;
        Some(FwTxToken { inner: tx, table, policy, buf: tx_buf, dropped, ip_medium, now })
    }

    fn link_state(&mut self, cx: &mut Context) -> LinkState {
        self.inner.link_state(cx)
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        caps.max_transmission_unit = caps.max_transmission_unit.min(BUF);
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        self.inner.hardware_address()
    }
}

/// A received frame that passed the policy.
pub struct FwRxToken<'a> {
    frame: &'a mut [u8],
}

impl RxToken for FwRxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// A transmission slot: the stack writes the frame into the wrapper's
/// buffer; it reaches the wrapped driver only if the policy passes it.
pub struct FwTxToken<'a, T, S, P> {
    inner: T,
    table: &'a mut ConnTable<S>,
    policy: &'a mut P,
    buf: &'a mut [u8],
    dropped: &'a mut u64,
    ip_medium: bool,
    now: Instant,
}

impl<T: TxToken, S: Storage, P: Policy> TxToken for FwTxToken<'_, T, S, P> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let FwTxToken { inner, table, policy, buf, dropped, ip_medium, now } = self;
        firewall::transmit(table, policy, ip_medium, now, buf, dropped, len, f, |frame| {
            inner.consume(len, |out| out.copy_from_slice(frame))
        })
    }
}

/// The wrapper as a log line: what it dropped so far.
#[cfg(feature = "defmt")]
impl<D, S, P, C, const BUF: usize> defmt::Format for Firewall<D, S, P, C, BUF> {
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
