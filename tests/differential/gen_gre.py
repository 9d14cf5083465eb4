#!/usr/bin/env python3
"""Random GRE headers (versions, flags, keys, sequence numbers, routing,
protocols, lengths) and packets of other protocols the generic tracker
takes, both ways, over IPv4 and IPv6, and ICMP errors quoting them.
usage: gen_gre.py SEED OUT.pcap"""
import struct

from flows import begin, finish
from scapy.all import IP, IPv6, ICMP, ICMPv6DestUnreach, Raw

seed, R, cap = begin()
V6 = seed % 3 == 2
HOSTS = ["2001:db8:1::1", "2001:db8:2::2", "2001:db8:1::3"] if V6 else ["10.1.0.1", "10.2.0.2", "10.1.0.3"]
ROUTER = "2001:db8:2::fe" if V6 else "10.2.0.254"


def pkt(src, dst, proto, body):
    return (IPv6(src=src, dst=dst, nh=proto) if V6 else IP(src=src, dst=dst, proto=proto)) / Raw(body)


def gre_header():
    version = R.choice([0, 0, 1, 1, 1, 2, 7])
    c, k, s, r = (R.random() < p for p in (0.2, 0.5, 0.3, 0.05))
    ack = version == 1 and R.random() < 0.5
    word = (c << 15) | (r << 14) | (k << 13) | (s << 12) | (ack << 7) | version
    if R.random() < 0.05:
        word |= R.randrange(1, 8) << 8  # recursion bits
    proto = R.choice([0x880B] * 4 + [0x0800, 0x86DD, 0x6558, 0])
    h = struct.pack("!HH", word, proto)
    if version == 1:
        h += struct.pack("!HH", R.randrange(0, 100), R.choice([7, 9, 1, 0, R.randrange(1 << 16)]))
    elif k:
        h += struct.pack("!I", R.randrange(1 << 32))
    if c:
        h += b"\x00" * 4
    if s:
        h += struct.pack("!I", R.randrange(1 << 32))
    if ack:
        h += struct.pack("!I", R.randrange(1 << 32))
    h += b"\x45" * R.randrange(0, 24)
    if R.random() < 0.15:
        h = h[:R.randrange(0, len(h) + 1)]
    return h


sent = []
for _ in range(R.randrange(2, 12)):
    src, dst = R.sample(HOSTS, 2)
    if sent and R.random() < 0.4:
        dst, src, proto, body = R.choice(sent)  # an answer
        if proto == 47 and len(body) >= 8 and R.random() < 0.5:
            # a version-1 answer names the other call id
            body = body[:6] + struct.pack("!H", R.randrange(0, 12)) + body[8:]
    else:
        proto = R.choice([47] * 6 + [4, 41, 50, 51, 103, 132 if R.random() < 0.2 else 253])
        body = gre_header() if proto == 47 else bytes(R.randrange(256) for _ in range(R.randrange(0, 40)))
    sent.append((src, dst, proto, body))
    cap.add(pkt(src, dst, proto, body), gap=R.choice([0.001] * 8 + [1.0, 2.5]))
    if R.random() < 0.15:
        q = pkt(src, dst, proto, body)
        if V6:
            cap.add(IPv6(src=ROUTER, dst=src) / ICMPv6DestUnreach(code=1) / q)
        else:
            cap.add(IP(src=ROUTER, dst=src) / ICMP(type=3, code=1) / q)
finish(cap)
