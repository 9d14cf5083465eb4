//! # ctrack: connection tracking with Linux semantics, for any network stack
//!
//! ctrack classifies IP packets the way the Linux kernel's netfilter
//! connection tracker (conntrack) does: every packet is **NEW**,
//! **ESTABLISHED**, **RELATED**, **INVALID** or **UNTRACKED**, travels in
//! the **original** or **reply** direction of its connection, and moves the
//! connection's state and timeout exactly as Linux would. It is `no_std`,
//! allocates nothing, and takes the current time from the caller, so a
//! firewall on a microcontroller, a router in user space or a smoltcp
//! device can be stateful without a kernel.
//!
//! ## Layers
//!
//! Each layer depends only on the ones below it:
//!
//! ```text
//!  device (feature)      smoltcp Device wrapper: filters a host's traffic
//! ───────────────────────────────────────────────────────────────────────
//!  defrag                Reassembler: IPv4/IPv6 fragments held in a fixed
//!                        pool until their datagram is whole (before table)
//! ───────────────────────────────────────────────────────────────────────
//!  nat                   NatRule; ConnTable::nat (bindings) and
//!                        ConnTable::translate (in-place rewriting, RFC 1624)
//! ───────────────────────────────────────────────────────────────────────
//!  table                 ConnTable: the public face
//!    storage, index,     the slot arena and its index (64-byte buckets, or
//!    probe, free         hashbrown); finding, admission, early drop; the
//!                        list of unused slots (hashed placement)
//!    pipeline, fast      the path of a packet (below); the fast paths
//!                        of UDP and TCP over IPv4
//!    display             EntryRef, `conntrack -L` lines
//! ───────────────────────────────────────────────────────────────────────
//!  helper                Helper trait, registry, FTP/TFTP/SIP/SNMP
//!                        (and its traps' NAT)/NetBIOS-NS/IRC/Amanda/
//!                        SANE/PPTP
//!  expect                expectations: connections helpers announce
//! ───────────────────────────────────────────────────────────────────────
//!  proto                 the tracker contract (inspect, handle_packet,
//!                        Outcome) and one file per tracker: tcp, udp,
//!                        sctp, gre, icmp, generic
//! ───────────────────────────────────────────────────────────────────────
//!  verdict, config,      what a packet is (CtState, Verdict); the sysctls;
//!  stats, tuple          counters; the identity of a flow direction
//! ───────────────────────────────────────────────────────────────────────
//!  wire                  header views and checks: ethernet, ip, tcp,
//!                        udp, sctp, icmp (checksums and CRC32c, option
//!                        and chunk walks, sequence space)
//! ───────────────────────────────────────────────────────────────────────
//!  reason, status,       the leaf vocabulary: why a packet is INVALID,
//!  time, hash, zeroed    status bits and TCP/SCTP states, ticks, the keyed
//!                        hash, all-zero "none" for `.bss` tables
//! ```
//!
//! ## Firmware
//!
//! A table can be a `static` whose every byte is zero
//! ([`ConnTable::zeroed`]), so it lives in `.bss` and costs no flash;
//! behind a `cortex_m::interrupt::Mutex<RefCell<..>>` it needs no `unsafe`.
//! Give it a key from the hardware RNG at boot
//! ([`ConnTable::set_hash_key`]) and the time from a millisecond counter
//! ([`Instant::from_millis`]). `examples/firmware` is such a firmware, run
//! in QEMU by CI; the `embassy` feature wraps an embassy-net driver.
//!
//! ## The path of a packet
//!
//! As in `nf_conntrack_core.c: nf_conntrack_in()` and the confirmation
//! hook after it:
//!
//! 1. [`ConnTable::classify`]: `wire::ip` parses the IP header (Linux's IP
//!    input checks; on x86-64 the key of a plain IPv4 UDP or TCP packet is
//!    read and hashed first, and its index bucket prefetched with the slot
//!    its hash names, where a new entry is placed if it can be, so that
//!    both arrive while the checks run); `proto::inspect` reads the
//!    layer-4 header and yields the packet's [`Tuple`] (or an ICMP error's quoted tuple, or UNTRACKED,
//!    or INVALID with a [`Reason`]).
//! 2. The tuple's canonical form is hashed with the caller's [`HashKey`];
//!    the index names the entry from either direction (a NAT entry by each
//!    of its two tuples), or the arena gives a slot for a new, *unconfirmed*
//!    one (an expectation may make it RELATED).
//! 3. `proto::handle_packet` runs the entry's tracker, whose
//!    `Outcome` (accept with a timeout, ignore, invalid, reopen) the table
//!    applies; the [`Verdict`] says NEW, ESTABLISHED or RELATED and the
//!    direction. (A UDP datagram, in a table without an event sink, takes
//!    the UDP tracker's rule directly: the same result without the
//!    general step. Over IPv4 without options, and on 64-bit hosts over
//!    IPv6 without extension headers, a UDP datagram or TCP
//!    segment takes a fast path through steps 1 to 3 that reads its
//!    headers straight from the bytes, with the same checks, keeps its key
//!    in registers and searches the key's home bucket first; anything it
//!    does not finish goes on as above.)
//! 4. [`ConnTable::confirm`], for a packet that passes: the connection's
//!    helper sees it and may register expectations; a new entry becomes
//!    visible to other packets. [`ConnTable::discard`] instead leaves no
//!    trace of a dropped NEW packet.
//!
//! ## Example
//!
//! ```
//! use ctrack::{Config, ConnTable, CtState, Direction, FixedConnTable, HashKey, Instant};
//!
//! let mut table: FixedConnTable<256> = ConnTable::new(HashKey([0x5a; 16]), Config::default());
//! // ICMP echo request 10.0.0.1 -> 10.0.0.2 (id 0x1267), then its reply.
//! let request = [
//!     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0x66, 0xdf, 10, 0, 0, 1, 10, 0, 0, 2,
//!     8, 0, 0xe5, 0x97, 0x12, 0x67, 0, 1,
//! ];
//! let reply = [
//!     0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0x66, 0xdf, 10, 0, 0, 2, 10, 0, 0, 1,
//!     0, 0, 0xed, 0x97, 0x12, 0x67, 0, 1,
//! ];
//! let now = Instant::from_secs(10);
//! let v = table.track(now, &request);
//! assert_eq!(v.state(), Some(CtState::New));
//! let v = table.track(now, &reply);
//! assert_eq!((v.state(), v.dir()), (Some(CtState::Established), Some(Direction::Reply)));
//! // An echo reply nobody asked for is INVALID.
//! let mut stray = reply;
//! stray[25] = 0x68; // another id
//! stray[23] = 0x96; // checksum fixed up
//! assert_eq!(table.track(now, &stray).state(), Some(CtState::Invalid));
//! ```
//!
//! ## Two-step tracking
//!
//! Linux confirms a new entry only when its first packet leaves the box,
//! and runs helpers then: a packet the firewall drops leaves nothing
//! behind. [`ConnTable::classify`] and [`ConnTable::confirm`] (or
//! [`ConnTable::discard`]) are that; the one-step [`ConnTable::track`]
//! confirms at once.
//!
//! ## Fragments
//!
//! Linux reassembles fragments before conntrack sees them
//! (`nf_defrag_ipv4`, `nf_defrag_ipv6`, at priority -400). So does ctrack's
//! [`Reassembler`], over a fixed pool of buffers the caller sizes: run
//! every packet through [`Reassembler::push`] first and track what it
//! gives back (the packet itself, or the datagram a fragment completed,
//! whose verdict is that fragment's); held fragments have no verdict. See
//! [`defrag`] for the rules, what to forward and the limits. A fragment
//! given to the table directly is INVALID ([`Reason::Fragment`]), but for
//! an IPv6 first fragment, which is tracked from the headers it holds, as
//! Linux's conntrack tracks the few its defragmentation lets through.
//!
//! ## Features
//!
//! * `std` (default): implies `alloc`; `std::error::Error` impls.
//! * `alloc`: heap-backed tables ([`ConnTable::with_capacity`]).
//! * `defmt`: `defmt::Format` for the public types.
//! * `device`: [`device::Firewall`], a smoltcp `Device` wrapper that
//!   filters a smoltcp host's traffic by classification.
//! * `helpers` (default): all built-in helpers; or one at a time:
//!   `helper-ftp`, `helper-tftp`, `helper-sip`, `helper-snmp`,
//!   `helper-netbios-ns`, `helper-irc`, `helper-amanda`, `helper-sane`,
//!   `helper-pptp`.

#![no_std]
// Denied, not forbidden: `prefetch` holds the one `unsafe` block, a
// hint instruction, with its safety argument.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod config;
pub mod defrag;
#[cfg(feature = "device")]
pub mod device;
#[cfg(feature = "embassy")]
pub mod embassy;
mod expect;
#[cfg(any(feature = "device", feature = "embassy"))]
mod firewall;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod hash;
pub mod helper;
pub mod nat;
mod prefetch;
mod proto;
mod reason;
mod stats;
mod status;
mod table;
mod time;
pub mod tuple;
mod verdict;

pub mod snapshot {
    #![doc = include_str!("table/snapshot.md")]
    pub use crate::table::{
        RestoreError, SNAPSHOT_MAX_RECORD, SNAPSHOT_SLOTS_PER_CALL, SNAPSHOT_VERSION, SnapshotCursor,
        SnapshotError,
    };
}
pub mod wire;
mod zeroed;

/// The README's examples, compiled and run as doctests (in the default
/// build, which they show).
#[cfg(all(doctest, feature = "std", feature = "helpers"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use config::{Config, SctpTimeouts, SysctlError, TcpConfig, TcpTimeouts, Timeouts};
#[cfg(feature = "alloc")]
pub use defrag::HeapDefragStorage;
pub use defrag::{
    Datagram, DefragStats, DefragStorage, FixedDefragStorage, FixedReassembler, FragDrop, FragQueue,
    Reassembler, Reassembly, SliceDefragStorage,
};
pub use expect::{ExpectError, ExpectFlags, ExpectLine, ExpectPolicy, ExpectSlot, Expectation, HelperId};
pub use hash::HashKey;
pub use helper::{ExtSlot, HelperAssignment, HelperError};
pub use nat::{NatError, NatRule, NatType};
pub use reason::{DropReason, HelperDrop, Reason, SctpReason, TcpReason};
pub use stats::Stats;
pub use status::{SctpState, Status, TcpState};
pub use table::{
    BATCH, BUCKET_WORDS, ConnTable, EntryRef, FixedConnTable, FixedStorage, MAX_HELPER_ASSIGNMENTS,
    MAX_HELPERS, MAX_SLOTS, Meta, PROBE_BUCKETS, RestoreError, SNAPSHOT_MAX_RECORD, SNAPSHOT_SLOTS_PER_CALL,
    SNAPSHOT_VERSION, SliceStorage, Slot, SnapshotCursor, SnapshotError, Storage,
};
pub use table::{ConnEvent, Event, EventKind, EventMask, EventRing, EventSink, ExpectEvent, WithEvents};
#[cfg(feature = "alloc")]
pub use table::{GrowableStorage, HeapStorage, MAX_GROWABLE};
pub use table::{MAX_TIMEOUT_POLICIES, TimeoutPolicy, TimeoutPolicyError};
pub use time::{Instant, TICKS_PER_SEC};
pub use tuple::{Direction, Family, L4, Tuple, packet_tuple};
pub use verdict::{CtState, Handle, Tracked, Verdict};
