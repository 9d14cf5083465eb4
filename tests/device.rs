//! The smoltcp `Device` wrapper, driven by the `smoltcp_firewall` example's
//! scenario: an outbound TCP connection and its replies work, an
//! unsolicited inbound SYN is dropped and leaves no entry.

#[path = "../examples/smoltcp_firewall.rs"]
mod example;

use smoltcp::socket::tcp;

#[test]
fn outbound_connection_works_and_unsolicited_syn_is_dropped() {
    let o = example::scenario();
    assert_eq!(o.received, b"hello through ctrack", "the outbound connection works");
    assert_eq!(o.client, tcp::State::Established);
    // B's connection attempt to A never reached A's stack.
    assert_eq!(o.a_listener, tcp::State::Listen);
    assert_eq!(o.intruder, tcp::State::SynSent);
    assert!(o.dropped >= 1, "the SYN (and its retransmissions) were dropped");
    // Only the outbound connection is in the table: the dropped SYNs left no entry.
    assert_eq!(o.table.len(), 1, "{:?}", o.table);
    assert!(
        o.table[0].contains("sport=49152 dport=80") && o.table[0].contains("ESTABLISHED"),
        "{:?}",
        o.table
    );
}
