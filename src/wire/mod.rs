//! The wire layer: views of the headers ctrack reads, and the checks Linux
//! makes on them before conntrack sees a packet. It depends on nothing
//! above it (the reasons it reports are the crate's leaf vocabulary).

pub(crate) mod checksum;
pub mod ethernet;
pub(crate) mod icmp;
pub(crate) mod ip;
pub(crate) mod sctp;
pub(crate) mod tcp;
pub(crate) mod udp;
