#!/usr/bin/env python3
"""Random fragmented datagrams, IPv4 and IPv6: UDP (some of them TFTP
requests, whose expectation needs the whole datagram), ICMP echoes and TCP
SYNs cut at random multiples of 8, sent in any order, with exact duplicates,
overlaps, missing, short or contradictory pieces, ECN mixes and other
datagrams' pieces in between; unfragmented answers and probes after them.
usage: gen_frag.py SEED OUT.pcap"""
from flows import begin, finish
from scapy.all import IP, IPv6, UDP, TCP, ICMP, ICMPv6EchoRequest, ICMPv6EchoReply, IPv6ExtHdrFragment, \
    IPv6ExtHdrDestOpt, Raw

seed, R, cap = begin()
V6 = seed % 2 == 1
A, B = ("2001:db8:1::1", "2001:db8:2::2") if V6 else ("10.1.0.1", "10.2.0.2")
L3 = IPv6 if V6 else IP


def layer4(kind, sport, dport, n):
    if kind == "udp":
        return UDP(sport=sport, dport=dport) / Raw(b"u" * n)
    if kind == "tftp":
        return UDP(sport=sport, dport=69) / Raw(b"\x00\x01" + b"f" * max(n - 9, 1) + b"\x00octet\x00")
    if kind == "tcp":
        return TCP(sport=sport, dport=dport, flags="S", seq=R.randrange(1 << 32), window=65535,
                   options=[("MSS", 1460), ("WScale", 7), ("SAckOK", b""), ("NOP", None), ("NOP", None)])
    if V6:
        return ICMPv6EchoRequest(id=sport, seq=1, data=b"p" * n)
    return ICMP(type=8, id=sport, seq=1) / Raw(b"p" * n)


def answer(kind, sport, dport):
    if kind in ("udp", "tftp"):
        return UDP(sport=dport if kind == "udp" else R.randrange(1024, 65536), dport=sport) / Raw(b"r" * 8)
    if kind == "tcp":
        return TCP(sport=dport, dport=sport, flags="SA", seq=R.randrange(1 << 32), ack=0, window=65535)
    if V6:
        return ICMPv6EchoReply(id=sport, seq=1, data=b"p" * 8)
    return ICMP(type=0, id=sport, seq=1) / Raw(b"p" * 8)


def body(src, dst, l4):
    """The datagram's protocol number and its layer-4 bytes, checksums over the whole."""
    p = L3(bytes(L3(src=src, dst=dst) / l4))
    return (p.nh if V6 else p.proto), bytes(p.payload)


def frag(src, dst, proto, ident, data, off, more, tos=0):
    gap = R.choice([0.001] * 20 + [0.2, 1.5])
    if V6:
        ext = IPv6ExtHdrDestOpt() if R.random() < 0.05 else None
        f = IPv6ExtHdrFragment(nh=proto, offset=off // 8, m=int(more), id=ident)
        p = IPv6(src=src, dst=dst, tc=tos) / (ext / f if ext else f) / Raw(data)
    else:
        p = IP(src=src, dst=dst, id=ident, proto=proto, flags="MF" if more else 0, frag=off // 8, tos=tos) / \
            Raw(data)
    cap.add(p, gap=gap)


def pieces(data):
    out, o = [], 0
    while o < len(data):
        size = 8 * R.randrange(1, 9)
        out.append([o, data[o:o + size], o + size < len(data)])
        o += size
    return out


def datagram(src, dst, kind, sport, dport, ident):
    proto, data = body(src, dst, layer4(kind, sport, dport, R.randrange(8, 160)))
    ps = pieces(data)
    if R.random() < 0.3:
        R.shuffle(ps)
    elif R.random() < 0.3:
        ps.reverse()
    extra = []
    for _ in range(R.choice([0, 0, 0, 1, 2])):
        if not ps:
            break
        o, d, m = R.choice(ps)
        c = R.random()
        if c < 0.35:
            extra.append([o, d, m])  # exact duplicate
        elif c < 0.55:
            no = max(0, o + R.choice([-8, 8, 4, -4]))
            extra.append([no, data[no:no + len(d)], no + len(d) < len(data)])  # overlap
        elif c < 0.7:
            extra.append([o, d[:len(d) - R.randrange(1, 8)] if len(d) > 8 else d, True])  # short, not last
        elif c < 0.85:
            extra.append([o, d, not m])  # the other "more" flag
        else:
            ps.remove([o, d, m])  # missing
    for e in extra:
        ps.insert(R.randrange(len(ps) + 1), e)
    tos = 0
    if not V6 and R.random() < 0.1:
        tos = R.choice([1, 2, 3])
    if R.random() < 0.1 and ps:
        # an atomic fragment or an unfragmented copy in between
        ps.insert(R.randrange(len(ps) + 1), [0, data, False])
    return [(src, dst, proto, ident, d, o, m, tos if R.random() < 0.5 else R.choice([0, tos])) for o, d, m in ps]


queue = []
flows = []
for n in range(R.randrange(1, 5)):
    kind = R.choice(["udp", "udp", "tftp", "tcp", "icmp"])
    sport, dport = R.randrange(1024, 65536), R.randrange(1, 65536)
    ident = R.choice([0x100 + n, 0x100, R.randrange(1 << 16)])
    src, dst = (A, B) if R.random() < 0.8 else (B, A)
    queue.append(datagram(src, dst, kind, sport, dport, ident))
    flows.append((src, dst, kind, sport, dport))
# the datagrams' pieces, interleaved
while any(queue):
    q = R.choice([q for q in queue if q])
    frag(*q.pop(0))
for src, dst, kind, sport, dport in flows:
    if R.random() < 0.8:
        cap.add(L3(src=dst, dst=src) / answer(kind, sport, dport))
    if R.random() < 0.3:
        cap.add(L3(src=src, dst=dst) / layer4(kind, sport, dport, 8))
finish(cap)
