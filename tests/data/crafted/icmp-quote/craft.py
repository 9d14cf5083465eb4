"""The packet an ICMP error quotes, read as conntrack reads it
(`nf_conntrack_core.c: nf_ct_get_tuplepr()`, `ipv4_get_l4proto()`,
`ipv6_get_l4proto()`).

usage: python3 craft.py   (writes icmp-quotes.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory: ct_oracle.py icmp-quotes.pcap
--snapshot-each --helpers none --honour-gaps 3 --out icmp-quotes.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/icmp-quote.

Each flow's first packet goes from the client to the server, and an ICMP
error (port unreachable) from the server quotes its first bytes, altered.
Linux (found by differential testing against the kernel): the quote is read
as a packet of the error's family whatever its version field says; its total
length (IPv4) or payload length (IPv6) is not read, its transport header
being whatever follows its header up to the end of the error; an IPv4 header
length under 20 bytes is taken as it is, the "ports" then being read from
inside the quoted header. Refused (INVALID): a header length that runs past
the quote, a later fragment, fewer than 4 bytes of ports. The same holds
for ICMPv6 errors: a quote whose version field says 4, or whose payload
length is shorter than its headers, is read to the error's end.
"""
import os
import struct
import sys

from scapy.all import IP, IPv6, IPv6ExtHdrDestOpt, TCP, UDP, ICMP, ICMPv6DestUnreach, Raw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from capture import Capture  # noqa: E402

C, S, C6, S6 = "10.1.0.1", "10.2.0.2", "2001:db8:1::1", "2001:db8:2::2"
capture = Capture()
add = capture.add


def syn(sport, dport):
    return bytes(IP(src=C, dst=S, id=1) / TCP(sport=sport, dport=dport, flags="S", seq=1000, window=65535))


def error_quoting(first, alter, cut=28):
    """The flow's first packet, then a port unreachable quoting its first
    `cut` bytes after `alter` changed them."""
    add(IP(first))
    quote = bytearray(first[:cut])
    alter(quote)
    add(IP(src=S, dst=C) / ICMP(type=3, code=4) / Raw(bytes(quote)))


def byte(at, value):
    def alter(q):
        q[at] = value
    return alter


def total_length(n):
    def alter(q):
        q[2:4] = struct.pack("!H", n)
    return alter


# Related: a version field that is not 4 (a TCP and a UDP quote).
error_quoting(syn(3310, 80), byte(0, 0x65))
error_quoting(bytes(IP(src=C, dst=S) / UDP(sport=3311, dport=53) / Raw(b"q" * 4)), byte(0, 0x05))
# Related: header length 0, the "ports" read from the quote's first 4 bytes
# (0x4000, then the total length, set to the flow's port).
error_quoting(syn(0x4000, 8080), lambda q: (q.__setitem__(0, 0x40), q.__setitem__(slice(2, 4), b"\x1f\x90")))
# Related: header length 12, the "ports" read from the quoted source
# address, 10.1.0.1 (2561 and 1).
error_quoting(syn(0x0A01, 1), byte(0, 0x43))
# Related: a total length shorter than the quoted header and its ports.
error_quoting(syn(3312, 80), total_length(0))
error_quoting(syn(3313, 80), total_length(20))
error_quoting(syn(3314, 80), total_length(22))
error_quoting(bytes(IP(src=C, dst=S, id=1) / ICMP(type=8, id=7, seq=1) / Raw(b"p" * 8)), total_length(24))
# Invalid: a header length past the quote's end (60 bytes of 28).
error_quoting(syn(3315, 80), byte(0, 0x4F))
# Invalid: a later fragment (offset 8 bytes).
error_quoting(syn(3316, 80), byte(7, 1))
# Invalid: 2 bytes of ports.
error_quoting(bytes(IP(src=C, dst=S) / UDP(sport=3317, dport=53) / Raw(b"q" * 4)), lambda q: None, cut=22)
# Related: an ICMPv6 error quoting an IPv6 packet whose version field says 4.
first6 = bytes(IPv6(src=C6, dst=S6) / UDP(sport=3310, dport=53) / Raw(b"q" * 4))
add(IPv6(first6))
quote6 = bytearray(first6[:48])
quote6[0] = 0x40 | (quote6[0] & 0x0F)
add(IPv6(src=S6, dst=C6) / ICMPv6DestUnreach(code=4) / Raw(bytes(quote6)))

# Related: IPv6 quotes whose payload length is 0 or shorter than the
# quoted headers (one with a Destination Options header).
for sport, length, ext in ((3320, 0, False), (3321, 4, False), (3322, 8, True)):
    inner6 = IPv6(src=C6, dst=S6) / IPv6ExtHdrDestOpt() if ext else IPv6(src=C6, dst=S6)
    first6 = bytes(inner6 / UDP(sport=sport, dport=53) / Raw(b"q" * 4))
    add(IPv6(first6))
    quote6 = bytearray(first6[: 56 if ext else 48])
    quote6[4:6] = struct.pack("!H", length)
    add(IPv6(src=S6, dst=C6) / ICMPv6DestUnreach(code=4) / Raw(bytes(quote6)))

capture.write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "icmp-quotes.pcap"))
