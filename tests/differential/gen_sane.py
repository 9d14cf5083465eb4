#!/usr/bin/env python3
"""Random SANE sessions: requests of every code and length, SANE_NET_START
replies with any status, zero field and port, in one segment or split, before
or without a request, over IPv4 and IPv6; then connections to the ports
named. usage: gen_sane.py SEED OUT.pcap"""
from flows import TcpConn, begin, finish
from scapy.all import IP, IPv6, TCP

seed, R, cap = begin()
if seed % 3 == 2:
    CL, SV, OTHER = "2001:db8:1::10", "2001:db8:2::5", "2001:db8:3::9"
else:
    CL, SV, OTHER = "192.168.1.10", "198.51.100.5", "203.0.113.9"
L3 = IPv6 if ":" in CL else IP


def req(code):
    body = code.to_bytes(4, "big") + b"\x00\x00\x00\x00"
    c = R.random()
    if c < 0.1:
        body += b"\x00" * R.randrange(1, 12)
    elif c < 0.2:
        body = body[:R.randrange(0, 8)]
    return body


def reply(port):
    status = R.choice([0] * 6 + [1, 4, 0x01000000])
    zero = R.choice([0] * 6 + [1, 0x100])
    body = status.to_bytes(4, "big") + zero.to_bytes(2, "big") + port.to_bytes(2, "big") + \
        b"\x00\x00\x12\x34" + b"\x00\x00\x00\x00"
    c = R.random()
    if c < 0.1:
        body = body[:R.randrange(1, 8)]
    elif c < 0.2:
        body = body[:8]
    elif c < 0.25:
        body += b"\x00" * R.randrange(1, 20)
    return body


c = TcpConn(cap, R, CL, SV, R.randrange(30000, 60000), 6566)
if R.random() < 0.7:
    c.send(True, b"\x00\x00\x00\x00\x01\x00\x00\x03\x00\x00\x00\x06alice\x00")
    c.send(False, b"\x00\x00\x00\x00\x01\x00\x00\x03")
ports = []
for _ in range(R.randrange(1, 7)):
    port = R.choice([R.randrange(1024, 65536)] * 6 + [0, 6566, 65535])
    ports.append(port)
    for _ in range(R.choice([1, 1, 1, 0, 2])):
        code = R.choice([7] * 6 + [0, 1, 5, 8, 0x07000000])
        c.send(True if R.random() < 0.9 else False, req(code))
    body = reply(port)
    if len(body) > 1 and R.random() < 0.2:
        cut = R.randrange(1, len(body))
        c.send(False, body[:cut])
        c.send(False, body[cut:])
    else:
        c.send(False if R.random() < 0.9 else True, body)
    for _ in range(R.choice([0, 1, 1, 2])):
        p = R.choice(ports)
        if R.random() < 0.1:
            p = (p + 1) % 65536
        src, dst = R.choice([(CL, SV)] * 6 + [(OTHER, SV), (SV, CL)])
        cap.add(L3(src=src, dst=dst) / TCP(sport=R.randrange(1024, 65536), dport=p, flags="S",
                                            seq=R.randrange(1 << 32), window=65535))
finish(cap)
