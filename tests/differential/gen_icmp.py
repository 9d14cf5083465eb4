#!/usr/bin/env python3
"""ICMP and ICMPv6: queries of every type (echo, timestamp,
information, address mask, node information, ND, MLD, unknown types and
codes), and errors quoting packets of live flows (UDP, TCP, echo) or of no
flow, whole, truncated or altered, from the peer or a router.
usage: gen_icmp.py SEED OUT.pcap"""
from flows import begin, finish
from scapy.all import IP, IPv6, ICMP, TCP, UDP, Raw, ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6DestUnreach, \
    ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParamProblem, ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6MLQuery

seed, R, cap = begin()
V6 = R.random() < 0.4
C, S, RT = ("2001:db8:1::1", "2001:db8:2::2", "2001:db8:2::fe") if V6 else ("10.1.0.1", "10.2.0.2", "10.2.0.254")
L3 = (lambda a, b, **k: IPv6(src=a, dst=b, **k)) if V6 else (lambda a, b, **k: IP(src=a, dst=b, **k))
flows = []  # packets of live flows, to quote


def add(p):
    cap.add(p, gap=R.choice([0.001] * 30 + [1.0]))


def udp_flow():
    sp, dp = R.randrange(1024, 65536), R.choice([53, 123, 5000])
    a = L3(C, S) / UDP(sport=sp, dport=dp) / Raw(b"q" * R.randrange(0, 30))
    add(a)
    if R.random() < 0.7:
        add(L3(S, C) / UDP(sport=dp, dport=sp) / Raw(b"r"))
    flows.append(a)


def tcp_flow():
    sp, dp = R.randrange(1024, 65536), R.choice([80, 443])
    s = L3(C, S) / TCP(sport=sp, dport=dp, flags="S", seq=1000, window=65535)
    add(s)
    if R.random() < 0.7:
        add(L3(S, C) / TCP(sport=dp, dport=sp, flags="SA", seq=5000, ack=1001, window=65535))
        add(L3(C, S) / TCP(sport=sp, dport=dp, flags="A", seq=1001, ack=5001, window=65535))
    flows.append(s)


def echo():
    i, q = R.randrange(65536), R.randrange(65536)
    if V6:
        p = L3(C, S) / ICMPv6EchoRequest(id=i, seq=q)
        add(p)
        if R.random() < 0.7:
            add(L3(S, C) / ICMPv6EchoReply(id=i if R.random() < 0.9 else i ^ 1, seq=q))
    else:
        p = L3(C, S) / ICMP(type=8, id=i, seq=q)
        add(p)
        if R.random() < 0.7:
            add(L3(S, C) / ICMP(type=0, id=i if R.random() < 0.9 else i ^ 1, seq=q))
    flows.append(p)


def query():
    if V6:
        p = R.choice([
            lambda: ICMPv6EchoReply(id=R.randrange(65536)),
            lambda: ICMPv6ND_NS(tgt=S),
            lambda: ICMPv6ND_NA(tgt=S),
            lambda: ICMPv6MLQuery(),
            lambda: Raw(bytes([R.choice([139, 140, 141, 142, 150, 200, 1, 4]), R.randrange(3), 0, 0, 0, 1, 0, 1])),
        ])()
        add(L3(C if R.random() < 0.6 else S, S if R.random() < 0.6 else C, nh=58 if isinstance(p, Raw) else None) / p
            if isinstance(p, Raw) else L3(C, S, hlim=255) / p)
    else:
        t = R.choice([13, 14, 15, 16, 17, 18, 0, 9, 10, 5, 42, 255, 8])
        code = R.choice([0, 0, 0, 1, 3])
        add(L3(C, S) / ICMP(type=t, code=code, id=R.randrange(65536), seq=R.randrange(65536)))


def error():
    if not flows or R.random() < 0.1:
        quoted = L3(C, S) / UDP(sport=R.randrange(1024, 65536), dport=53) / Raw(b"x")
    else:
        quoted = R.choice(flows)
    q = bytes(quoted)
    r = R.random()
    if r < 0.15:
        q = q[:R.choice([8, 20, 24, 27, 28, 40, 44, 47, 48])]
    elif r < 0.22:
        b = bytearray(q)
        k = R.randrange(len(b))
        b[k] ^= 0xff
        q = bytes(b)
    src = R.choice([S, S, RT])
    if R.random() < 0.2:
        src, dst = C, S  # an error about the client's packet from the client itself
    else:
        dst = C
    if V6:
        err = R.choice([lambda: ICMPv6DestUnreach(code=R.choice([0, 1, 3, 4])), lambda: ICMPv6PacketTooBig(mtu=1280),
                        lambda: ICMPv6TimeExceeded(), lambda: ICMPv6ParamProblem(ptr=R.randrange(48))])()
        add(L3(src, dst) / err / Raw(q))
    else:
        t, code = R.choice([(3, 3), (3, 1), (3, 4), (11, 0), (12, 0), (4, 0), (5, 1), (3, 13)])
        add(L3(src, dst) / ICMP(type=t, code=code) / Raw(q))


acts = [udp_flow, tcp_flow, echo, query, error, error, error]
for _ in range(R.randrange(3, 16)):
    R.choice(acts)()
finish(cap)
