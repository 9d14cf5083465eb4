"""IPv6 extension headers as conntrack walks them (`ipv6_skip_exthdr()`).

usage: python3 craft.py   (writes ipv6-extension-walk.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory: ct_oracle.py ipv6-extension-walk.pcap
--snapshot-each --helpers none --honour-gaps 3 --out ipv6-extension-walk.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/ipv6.

Linux (found by differential testing against the kernel): of each extension header
only its first 2 bytes (next header, length) need be there; a length that runs past
the end of the packet leaves the upper layer nothing (a protocol without a header
of its own is tracked, UDP and TCP are INVALID, short). Next header 59 (No Next
Header), first or after an extension header, is INVALID. An ICMPv6 error's quote is
walked the same way. A hop-by-hop header that
runs past the end never reaches conntrack (IPv6 input drops it), and so makes no
entry.
"""
import os
import sys
from scapy.all import ICMPv6DestUnreach, IPv6, Raw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from capture import Capture  # noqa: E402

C, S = "2001:db8:1::1", "2001:db8:2::2"
capture = Capture()
add = capture.add


# destination options of 16 bytes, 8 there, then protocol 253: tracked, answered
add(IPv6(src=C, dst=S, nh=60) / Raw(bytes([253, 1]) + b"\0" * 6))
add(IPv6(src=S, dst=C, nh=60) / Raw(bytes([253, 1]) + b"\0" * 6))
# hop-by-hop of 2048 bytes, 8 there: dropped by IPv6 input
add(IPv6(src=C, dst=S, nh=0) / Raw(bytes([254, 0xff]) + b"\0" * 6))
# protocol 254 itself: NEW (the packet before made no entry)
add(IPv6(src=C, dst=S, nh=254) / Raw(b"x" * 8))
# destination options of which only 2 bytes are there, then 253: the same flow
add(IPv6(src=C, dst=S, nh=60) / Raw(bytes([253, 0])))
# one byte of a destination options header: INVALID
add(IPv6(src=C, dst=S, nh=60) / Raw(bytes([253])))
# routing header past the end, then UDP and TCP: nothing left of them, INVALID
add(IPv6(src=C, dst=S, nh=43) / Raw(bytes([17, 2]) + b"\0" * 6))
add(IPv6(src=C, dst=S, nh=43) / Raw(bytes([6, 2]) + b"\0" * 6))
# then 253 after the same routing header: tracked
add(IPv6(src=C, dst=S, nh=43) / Raw(bytes([253, 2]) + b"\0" * 6))
# No Next Header: first, with and without bytes after it, and after destination options
add(IPv6(src=C, dst=S, nh=59) / Raw(b""))
add(IPv6(src=S, dst=C, nh=59) / Raw(b"abcdefgh"))
add(IPv6(src=C, dst=S, nh=60) / Raw(bytes([59, 0]) + b"\0" * 6))
# ICMPv6 errors quoting packets of that shape (the quote walked the same way):
# the flow's own (RELATED), and one ending in No Next Header (INVALID)
add(IPv6(src="2001:db8:2::fe", dst=C) / ICMPv6DestUnreach(code=1)
    / IPv6(src=C, dst=S, nh=60) / Raw(bytes([253, 1]) + b"\0" * 6))
add(IPv6(src="2001:db8:2::fe", dst=C) / ICMPv6DestUnreach(code=1)
    / IPv6(src=C, dst=S, nh=59) / Raw(b""))
# control: destination options of 8 bytes, then 253: tracked (the flow above)
add(IPv6(src=C, dst=S, nh=60) / Raw(bytes([253, 0]) + b"\0" * 6))

capture.write("ipv6-extension-walk.pcap")
