"""What Linux's IPv6 input does before conntrack sees a packet
(`ip6_input.c: ip6_rcv_core()`, `exthdrs.c: ipv6_parse_hopopts()` and
`ip6_parse_tlv()`), which the table applies itself (`wire::ip::ipv6_input`),
and what the oracle's router drops after conntrack when it forwards a packet
(`ip6_output.c: ip6_forward()`), which the replay tool models
(`examples/replay/engine.rs: ipv6_forward_drops`).

usage: python3 craft.py   (writes ipv6-input.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory: ct_oracle.py ipv6-input.pcap
--snapshot-each --helpers none --honour-gaps 3 --out ipv6-input.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/ipv6-input.

Each case is a UDP datagram, then one in the other direction: the second is
NEW if the first never reached conntrack or was dropped before its entry was
confirmed, ESTABLISHED if not. Found by differential testing against the
kernel: a multicast source, or a multicast destination of scope 0 or 1, never
reaches conntrack; a loopback source or destination does (a packet from the
loopback or the unspecified address is then dropped when forwarded); a payload
length of 0 before a hop-by-hop header without a Jumbo Payload option makes the
packet as long as its bytes; hop-by-hop options that input refuses (padding of
more than 7 bytes or not zero, an option past the header, Router Alert of a
length other than 2, IOAM off a 4-byte boundary, CALIPSO, a Jumbo Payload
option with a payload length or of 65,535 bytes or fewer, more than 8 options
that are not padding, an unknown option whose type asks for a drop) keep the
packet from conntrack. An IPv4-compatible address (::10.2.0.2) is listed as
`conntrack -L` prints it.
"""
import os
import struct
import sys

from scapy.all import IPv6, UDP, Raw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from capture import Capture  # noqa: E402

C, S = "2001:db8:1::1", "2001:db8:2::2"
capture = Capture()


def udp(src, dst, sport, dport, data):
    """The UDP datagram's bytes (its checksum over the IPv6 pseudo-header)."""
    return bytes(IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data))[40:]


def flow(src, dst, sport, hbh=None, plen=None, tail=b""):
    """A datagram from `src` (after a hop-by-hop header with the option
    bytes `hbh`, its payload length `plen` if given, `tail` bytes after
    it), then one back."""
    u = udp(src, dst, sport, 9, b"x")
    if hbh is None:
        body, nh = u, 17
    else:
        assert (len(hbh) + 2) % 8 == 0, hbh
        body, nh = bytes([17, (len(hbh) + 2) // 8 - 1]) + hbh + u, 0
    n = len(body) if plen is None else plen
    head = bytes(IPv6(src=src, dst=dst, nh=nh, plen=n))[:40]
    capture.add(IPv6(head + body + tail))
    capture.add(IPv6(src=dst, dst=src) / UDP(sport=9, dport=sport) / Raw(b"y"))


def padn(n):
    """A PadN option of `n` bytes in all (n >= 2)."""
    return bytes([1, n - 2]) + b"\0" * (n - 2)


port = 5000
for src, dst in [
    (C, S), ("ff02::1", S), ("ff0e::1234", S), (C, "ff00::1"), (C, "ff01::1"), (C, "ff02::1"),
    (C, "ff05::2"), (C, "ff0e::1234"), (C, "ff0f::1"), ("::1", S), (C, "::1"), ("::", S), (C, "::"),
    ("::", "::1"), ("::", "ff02::1:2"), ("fe80::1", S), (C, "fe80::2"), ("::ffff:10.1.0.1", S),
    (C, "::ffff:10.2.0.2"), (C, "::10.2.0.2"), ("::10.1.0.1", S), ("fec0::1", S),
]:
    port += 1
    flow(src, dst, port)
# Hop-by-hop options (6 bytes, or 14).
for hbh in [
    padn(6),  # PadN of 6 bytes
    b"\0" * 6,  # six Pad1
    bytes([0x1e, 4, 0, 0, 0, 0]),  # unknown, skip
    bytes([0x5e, 4, 0, 0, 0, 0]),  # unknown, discard
    bytes([0x9e, 4, 0, 0, 0, 0]),  # unknown, discard + ICMP
    bytes([0xde, 4, 0, 0, 0, 0]),  # unknown, discard + ICMP unless multicast
    bytes([5, 2, 0, 0]) + padn(2),  # Router Alert
    bytes([5, 3, 0, 0, 0]) + b"\0",  # Router Alert of 3 bytes
    bytes([1, 4, 0, 0, 1, 0]),  # PadN not zero
    padn(6) + b"\0" * 8,  # 14 bytes of padding
    padn(4) + b"\0" * 2 + bytes([0x1e, 0]) + padn(6),  # 6 + 6 of padding apart
    bytes([0x1e, 0]) + padn(4) + b"\0" * 2 + b"\0" * 6,  # 6 then 8 in a row
    bytes([0xc2, 4, 0, 1, 0, 0]),  # Jumbo with a payload length
    bytes([0x31, 4, 0, 0, 0, 0]),  # IOAM at offset 42
    padn(2) + bytes([0x31, 2, 0, 0]),  # IOAM at offset 44
    bytes([7, 8]) + b"\0" * 12,  # CALIPSO
    bytes([0x1e, 10, 0, 0, 0, 0]),  # an option past the header
    bytes([0x1e, 0]) * 7,  # 7 options
    bytes([0x1e, 0]) * 8 + padn(6),  # 8 options
    bytes([0x1e, 0]) * 9 + padn(4),  # 9 options
    bytes([0x1e, 0, 0, 0, 0, 0]),  # an option, then 4 bytes of Pad1
]:
    port += 1
    flow(C, S, port, hbh)
# Payload lengths.
for hbh, plen, tail in [
    (padn(6), 0, b""),  # 0 before a hop-by-hop header: as long as the bytes
    (padn(6), 0, b"\0" * 8),  # the same with 8 bytes more
    (bytes([0xc2, 4, 0, 0, 0xff, 0xff]), 0, b""),  # Jumbo of 65,535 bytes
    (bytes([0xc2, 4, 0, 1, 0, 0]), 0, b""),  # Jumbo of 65,536 bytes, not there
    (None, 0, b""),  # 0 without a hop-by-hop header
    (padn(6), 4, b""),  # shorter than the headers
    (None, 20, b""),  # longer than the bytes
    (None, 9, b"\0" * 7),  # shorter than the bytes: the rest is cut off
]:
    port += 1
    flow(C, S, port, hbh, plen, tail)

capture.write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ipv6-input.pcap"))
