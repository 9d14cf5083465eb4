"""What Linux's IPv4 input drops after conntrack's PREROUTING hook, so that
the packet's entry is never confirmed (`ip_options.c: ip_options_compile()`,
`ip_input.c: ip_rcv_options()`, `route.c: ip_route_input_slow()` and
`ip_route_input_mc()`): the oracle's router, which the replay tool models
(`examples/replay/engine.rs: ipv4_input_drops`). Not conntrack's behaviour:
the verdicts are the same either way; what differs is whether a flow's
next packet finds an entry.

usage: python3 craft.py   (writes ipv4-input.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory: ct_oracle.py ipv4-input.pcap
--snapshot-each --helpers none --honour-gaps 3 --out ipv4-input.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/ipv4-input.

Each case is a UDP datagram, then one in the other direction: NEW if the
first was dropped before confirmation, ESTABLISHED if not. Found by
differential testing against the kernel: a multicast or limited-broadcast
source is dropped; 0.0.0.0 as a source only reaches the limited broadcast,
0.0.0.0 or a link-local group, and as a destination is dropped; a loopback
source is forwarded to a unicast address but dropped to a group; options
that are malformed (lengths, pointers, a second Record Route, Router Alert
shorter than 4, CIPSO without a configured domain, a timestamp whose
overflow count is full) or that route by source are dropped.
"""
import os
import struct
import sys

from scapy.all import IP, UDP, Raw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from capture import Capture  # noqa: E402

C, S = "10.1.0.1", "10.2.0.2"
capture = Capture()


def with_options(packet, options):
    """`packet` (an IPv4 packet without options) with `options`, padded."""
    o = options + b"\0" * (-len(options) % 4)
    b = bytearray([0x40 | (5 + len(o) // 4)]) + bytearray(packet[1:20]) + o + bytearray(packet[20:])
    b[2:4] = struct.pack("!H", len(b))
    b[10:12] = b"\0\0"
    s = sum(struct.unpack("!%dH" % (10 + len(o) // 2), bytes(b[: 20 + len(o)])))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    b[10:12] = struct.pack("!H", ~s & 0xFFFF)
    return bytes(b)


def flow(src, dst, sport, options=b""):
    first = bytes(IP(src=src, dst=dst) / UDP(sport=sport, dport=9) / Raw(b"x"))
    capture.add(IP(with_options(first, options) if options else first))
    capture.add(IP(src=dst, dst=src) / UDP(sport=9, dport=sport) / Raw(b"y"))


port = 4000
for src, dst in [
    (C, S), ("0.0.0.0", S), ("0.0.0.0", "255.255.255.255"), ("0.0.0.0", "0.0.0.0"), (C, "0.0.0.0"),
    ("127.0.0.1", S), (C, "127.0.0.1"), ("224.0.0.5", S), ("255.255.255.255", S), (C, "224.0.0.1"),
    (C, "239.1.2.3"), (C, "224.0.0.251"), ("0.0.0.0", "224.0.0.1"), ("0.0.0.0", "239.1.2.3"),
    ("127.0.0.1", "224.0.0.251"), (C, "240.0.0.1"), ("240.0.0.1", S), (C, "255.255.255.255"),
    (C, "10.2.0.255"), ("0.1.2.3", S), (C, "0.1.2.3"),
]:
    port += 1
    flow(src, dst, port)
for options in [
    b"\x01", b"\x00", bytes([7, 7, 4, 0, 0, 0, 0]), bytes([7, 7, 3, 0, 0, 0, 0]), bytes([7, 8, 4, 0]),
    bytes([7, 2]), bytes([7, 7, 8, 1, 2, 3, 4]), bytes([68, 8, 5, 0, 0, 0, 0, 0]), bytes([68, 12, 3, 0] + [0] * 8),
    bytes([68, 3, 5]), bytes([68, 12, 5, 1] + [0] * 8), bytes([68, 12, 5, 3] + [0] * 8), bytes([68, 12, 5, 2] + [0] * 8),
    bytes([68, 8, 9, 0, 1, 2, 3, 4]), bytes([68, 8, 9, 0xF0, 1, 2, 3, 4]), bytes([68, 8, 9, 0xF3, 1, 2, 3, 4]),
    bytes([131, 7, 4, 10, 2, 0, 2]), bytes([137, 7, 4, 10, 2, 0, 2]), bytes([131, 7, 8, 10, 2, 0, 2]),
    bytes([148, 4, 0, 0]), bytes([148, 3, 0]), bytes([30, 4, 0, 0]), bytes([30, 1]), bytes([30, 0]),
    bytes([30, 9, 0, 0]), bytes([130, 11] + [0] * 9), bytes([134, 6, 0, 0, 0, 1]), bytes([134, 10, 0, 0, 0, 1, 1, 4, 0, 0]),
    bytes([7, 7, 4, 0, 0, 0, 0, 7, 7, 4, 0, 0, 0, 0]), bytes([136, 4, 0, 1]), bytes([1, 0, 99, 99]),
]:
    port += 1
    flow(C, S, port, options)

capture.write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ipv4-input.pcap"))
