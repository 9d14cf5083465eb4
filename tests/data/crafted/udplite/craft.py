"""UDP-Lite checksums as Linux verifies them (`udplite_error()`).

usage: python3 craft.py   (writes udplite-checksum.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory: ct_oracle.py udplite-checksum.pcap
--snapshot-each --helpers none --honour-gaps 3 --out udplite-checksum.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/udplite.

Linux (found by differential testing against the kernel): the pseudo-header of the
checksum it verifies carries protocol 17 (UDP), not UDP-Lite's 136 as RFC 3828
says: a datagram summed with 136 is INVALID (bad checksum), one summed with 17 is
tracked; over IPv4 and IPv6, whole and partial coverage alike.
"""
import os
import sys
import ipaddress
import struct

from scapy.all import IP, IPv6, Raw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from capture import Capture  # noqa: E402

C, S, C6, S6 = "10.1.0.1", "10.2.0.2", "2001:db8:1::1", "2001:db8:2::2"
capture = Capture()
add = capture.add


def sum16(b):
    if len(b) % 2:
        b += b"\0"
    return sum(struct.unpack("!%dH" % (len(b) // 2), b))


def udplite(src, dst, sport, dport, payload, pseudo_proto, coverage=0):
    """A UDP-Lite datagram whose checksum has `pseudo_proto` in its pseudo-header."""
    l4 = struct.pack("!HHHH", sport, dport, coverage, 0) + payload
    covered = l4[: coverage or len(l4)]
    if ":" in src:
        ph = ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
        ph += struct.pack("!IxxxB", len(l4), pseudo_proto)
    else:
        ph = ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
        ph += struct.pack("!xBH", pseudo_proto, len(l4))
    s = sum16(ph) + sum16(covered)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    check = (~s) & 0xFFFF or 0xFFFF
    l4 = l4[:6] + struct.pack("!H", check) + l4[8:]
    l3 = IPv6(src=src, dst=dst, nh=136) if ":" in src else IP(src=src, dst=dst, proto=136)
    return l3 / Raw(l4)


for n, (src, dst) in enumerate([(C, S), (C6, S6)]):
    # whole coverage: RFC 3828's pseudo-header (136), then UDP's (17)
    add(udplite(src, dst, 1000 + 10 * n, 2000, b"LLLL", 136))
    add(udplite(src, dst, 1001 + 10 * n, 2001, b"LLLL", 17))
    # coverage of the header alone (8 bytes)
    add(udplite(src, dst, 1002 + 10 * n, 2002, b"LLLLLLLL", 136, coverage=8))
    add(udplite(src, dst, 1003 + 10 * n, 2003, b"LLLLLLLL", 17, coverage=8))
    # the answer to the tracked flow, summed with 17
    add(udplite(dst, src, 2001, 1001 + 10 * n, b"RRRR", 17))

capture.write("udplite-checksum.pcap")
