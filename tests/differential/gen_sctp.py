#!/usr/bin/env python3
"""Random SCTP associations: the handshake, data, heartbeats,
shutdowns and aborts in random order, with right, wrong and zero
verification tags, the T bit, several chunks in a packet, now and then a
gap. usage: gen_sctp.py SEED OUT.pcap"""
import struct

from flows import begin, finish
from scapy.all import IP, IPv6, Raw
from scapy.layers.sctp import crc32c

seed, R, cap = begin()
V6 = R.random() < 0.2
A, B = ("2001:db8:1::1", "2001:db8:2::2") if V6 else ("10.1.0.1", "10.2.0.2")
AP, BP = R.randrange(1024, 65536), R.choice([5000, 9899, 3868])
TAG_A, TAG_B = R.randrange(1, 1 << 32), R.randrange(1, 1 << 32)


def chunk(ctype, flags=0, body=b""):
    c = struct.pack("!BBH", ctype, flags, 4 + len(body)) + body
    return c + b"\0" * (-len(c) % 4)


def init_body(tag):
    return struct.pack("!IIHHI", tag, 65535, 10, 10, R.randrange(1 << 32))


def send(from_a, vtag, *chunks):
    src, dst, sp, dp = (A, B, AP, BP) if from_a else (B, A, BP, AP)
    body = b"".join(chunks)
    hdr = struct.pack("!HHII", sp, dp, vtag, 0)
    pkt = hdr[:8] + struct.pack("!I", crc32c(hdr + body)) + body
    l3 = IPv6(src=src, dst=dst, nh=132) if V6 else IP(src=src, dst=dst, proto=132)
    cap.add(l3 / Raw(pkt), gap=R.choice([0.001] * 25 + [1.0, 3.0]))


def tag_for(from_a):
    """The tag the receiver expects, mostly; sometimes another."""
    right = TAG_B if from_a else TAG_A
    return right if R.random() < 0.85 else R.choice([0, right ^ 1, TAG_A if from_a else TAG_B])


CHUNKS = {
    "data": lambda fa: chunk(0, 3, struct.pack("!IHHI", R.randrange(1 << 32), 0, 0, 0) + b"x" * R.randrange(1, 20)),
    "sack": lambda fa: chunk(3, 0, struct.pack("!IIHH", R.randrange(1 << 32), 65535, 0, 0)),
    "hb": lambda fa: chunk(4, 0, struct.pack("!HH", 1, 8) + b"abcd"),
    "hback": lambda fa: chunk(5, 0, struct.pack("!HH", 1, 8) + b"abcd"),
    "abort": lambda fa: chunk(6, R.choice([0, 0, 1])),
    "shutdown": lambda fa: chunk(7, 0, struct.pack("!I", R.randrange(1 << 32))),
    "shutack": lambda fa: chunk(8),
    "error": lambda fa: chunk(9, 0, struct.pack("!HH", 1, 4)),
    "cookie": lambda fa: chunk(10, 0, b"cookie" * 3),
    "cookieack": lambda fa: chunk(11),
    "shutcomplete": lambda fa: chunk(14, R.choice([0, 0, 1])),
    "init": lambda fa: chunk(1, 0, init_body(TAG_A if fa else TAG_B)),
    "initack": lambda fa: chunk(2, 0, init_body(TAG_A if fa else TAG_B)),
    "unknown": lambda fa: chunk(R.choice([0x40, 0x80, 0xc0, 200]), 0, b"zz"),
}

# The handshake, mostly complete.
steps = [(True, 0, "init"), (False, TAG_A, "initack"), (True, TAG_B, "cookie"), (False, TAG_A, "cookieack")]
for fa, tag, name in steps[:R.choice([1, 2, 3, 4, 4, 4, 4])]:
    send(fa, tag if R.random() < 0.93 else R.randrange(1 << 32), CHUNKS[name](fa))
for _ in range(R.randrange(2, 20)):
    fa = R.random() < 0.5
    names = R.choices(list(CHUNKS), weights=[10, 6, 4, 3, 2, 3, 2, 1, 1, 1, 2, 1, 1, 1], k=R.choice([1, 1, 1, 2, 3]))
    chunks = [CHUNKS[n](fa) for n in names]
    tag = tag_for(fa)
    if names[0] == "init":
        tag = 0 if R.random() < 0.8 else tag
    if names[0] in ("abort", "shutcomplete") and chunks[0][1] & 1:
        # The T bit: the sender's own tag.
        tag = (TAG_A if fa else TAG_B) if R.random() < 0.85 else tag
    send(fa, tag, *chunks)
finish(cap)
