"""GRE headers shorter than their fixed part (`gre_pkt_to_tuple()`).

usage: python3 craft.py   (writes gre-short-headers.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory: ct_oracle.py gre-short-headers.pcap
--snapshot-each --helpers none --honour-gaps 3 --out gre-short-headers.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/gre.

Linux (found by differential testing against the kernel): a GRE header shorter than
its 4-byte base, or of another version than 1, gets keys 0 (the generic tracker's
tuple) and GRE's tracker; version 1 (PPTP) is keyed by call id and must carry PPP
only when its 8 bytes up to the call id are there: shorter, it gets keys 0 whatever
its protocol; with them, another protocol than PPP is INVALID.
"""
import os
import sys
import struct

from scapy.all import IP, IPv6, ICMP, Raw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from capture import Capture  # noqa: E402

C, S, C6, S6 = "10.1.0.1", "10.2.0.2", "2001:db8:1::1", "2001:db8:2::2"
capture = Capture()
add = capture.add


def gre(src, dst, body):
    return (IPv6(src=src, dst=dst, nh=47) if ":" in src else IP(src=src, dst=dst, proto=47)) / Raw(body)


# 2 bytes, then an empty answer, then 1 byte over IPv6: keys 0, tracked
add(gre(C, S, b"\x00\x00"))
add(gre(S, C, b""))
add(gre(C6, S6, b"\x00"))
# version 1, protocol IPv4 (not PPP), 8 bytes: INVALID
add(gre("10.1.0.3", S, struct.pack("!HHHH", 0x2001, 0x0800, 0, 7)))
# version 1, PPP, 6 bytes (no call id): keys 0; an answer of 4 bytes
add(gre("10.1.0.3", S, struct.pack("!HHH", 0x2001, 0x880B, 0)))
add(gre(S, "10.1.0.3", struct.pack("!HH", 0x2001, 0x880B)))
# version 1, not PPP, 4 bytes; then 2 bytes: keys 0, the same flow
add(gre("10.1.0.3", S, struct.pack("!HH", 0x2001, 0x3B24)))
add(gre("10.1.0.3", S, struct.pack("!H", 0x2001)))
# version 1, PPP, 8 bytes: keyed by its call id, another flow; and its answer
add(gre("10.1.0.3", S, struct.pack("!HHHH", 0x2001, 0x880B, 0, 7)))
add(gre(S, "10.1.0.3", struct.pack("!HHHH", 0x2001, 0x880B, 0, 9)))
# version 0 with a key: keys 0
add(gre("10.1.0.4", S, struct.pack("!HHI", 0x2000, 0x0800, 0x12345678)))
# an ICMP error quoting a GRE packet of 2 bytes: RELATED to the first flow
add(IP(src="10.2.0.254", dst=C) / ICMP(type=3, code=1) / IP(src=C, dst=S, proto=47) / Raw(b"\x00\x00"))

capture.write("gre-short-headers.pcap")
