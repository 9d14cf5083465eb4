#!/usr/bin/env python3
"""Random TFTP requests (every opcode, short, odd and retransmitted ones, over
IPv4 and IPv6) and answers from the server's new port, other ports and other
hosts. usage: gen_tftp.py SEED OUT.pcap"""
from flows import begin, finish
from scapy.all import IP, IPv6, UDP, Raw

seed, R, cap = begin()
if seed % 3 == 2:
    CL, SV, OTHER, L3 = "2001:db8:1::10", "2001:db8:2::5", "2001:db8:3::9", IPv6
else:
    CL, SV, OTHER, L3 = "192.168.1.10", "198.51.100.5", "203.0.113.9", IP


def udp(src, dst, sport, dport, data):
    cap.add(L3(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data), gap=R.choice([0.001] * 5 + [0.5]))


def request():
    op = R.choice([1, 1, 2, 2, 3, 4, 5, 6, 0, 7, 0x100, 0x101, 0x201])
    name = R.choice([b"file.bin", b"", b"a" * 40, b"x/y"])
    mode = R.choice([b"octet", b"netascii", b"", b"mail"])
    body = op.to_bytes(2, "big") + name + b"\x00" + mode + b"\x00"
    c = R.random()
    if c < 0.08:
        body = body[:1]
    elif c < 0.14:
        body = body[:2]
    elif c < 0.18:
        body = b""
    elif c < 0.25:
        body = body[:R.randrange(3, len(body) + 1)]
    return body


ports = []
for _ in range(R.randrange(1, 6)):
    cport = R.choice([R.randrange(1024, 65536)] * 4 + [69, 1024])
    sport_req = 69 if R.random() < 0.9 else R.choice([70, 6969])
    ports.append(cport)
    for _ in range(R.choice([1, 1, 1, 2, 3])):
        src, dst, sp, dp = CL, SV, cport, sport_req
        if R.random() < 0.1:
            src, dst, sp, dp = SV, CL, cport, sport_req
        udp(src, dst, sp, dp, request())
    for _ in range(R.randrange(0, 4)):
        # the answer: from the server's new port to the client's port, or
        # from elsewhere, or to another port
        who = R.choice([SV] * 6 + [OTHER, CL])
        to = CL if who != CL else SV
        dport = R.choice([cport] * 6 + [cport + 1 if cport < 65535 else 1, R.choice(ports)])
        sport = R.choice([R.randrange(1024, 65536)] * 5 + [69])
        data = R.choice([b"\x00\x03\x00\x01" + b"d" * R.randrange(0, 64), b"\x00\x04\x00\x00",
                         b"\x00\x05\x00\x01oops\x00", b"\x00\x06blksize\x001024\x00"])
        udp(who, to, sport, dport, data)
        if R.random() < 0.5:
            udp(to, who, dport, sport, b"\x00\x04\x00\x01")
finish(cap)
