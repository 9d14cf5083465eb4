//! The wire layer: views of the headers ctrack reads, and the checks Linux
//! makes on them before conntrack sees a packet. It depends on nothing
//! above it.

pub mod ethernet;
