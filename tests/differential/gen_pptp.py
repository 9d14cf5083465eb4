#!/usr/bin/env python3
"""Random PPTP control sessions (message types, call ids, result
codes, broken headers, split segments) with GRE v1 packets both ways.
usage: gen_pptp.py SEED OUT.pcap"""
import struct

from flows import TcpConn, begin, finish
from scapy.all import IP, Raw

seed, R, cap = begin()
PNS, PAC = "192.168.1.10", "198.51.100.8"
SIZES = {1: 144, 2: 144, 3: 4, 4: 4, 5: 4, 6: 8, 7: 156, 8: 20, 9: 208, 10: 12, 11: 24, 12: 4, 13: 144, 14: 12, 15: 12}
IDS = [0x0100, 0x0200, 0x0300, 0x0400, 0]


def msg(kind, fields):
    size = SIZES.get(kind, 0)
    if R.random() < 0.06:
        size = max(0, size + R.choice([-1, -4, 4, 20]))
    body = bytearray(size)
    for at, b in fields:
        body[at:at + len(b)] = b[:max(0, len(body) - at)]
    total = 12 + len(body)
    if R.random() < 0.05:
        total = R.choice([0, 11, total + 8, total - 1])
    cookie = 0x1A2B3C4D if R.random() < 0.96 else 0x1A2B3C4E
    ptype = 1 if R.random() < 0.96 else 2
    return struct.pack(">HHIHH", total, ptype, cookie, kind, 0) + bytes(body)


def be16(v):
    return v.to_bytes(2, "big")


last = {}


def cid(kind=None):
    if kind in last and R.random() < 0.75:
        return last[kind]
    return R.choice(IDS)


def random_message(from_pns):
    if from_pns:
        kind = R.choice([1, 3, 5, 7, 7, 7, 10, 12, 12, 15, 4, 6])
    else:
        kind = R.choice([2, 4, 6, 8, 8, 8, 9, 9, 11, 13, 13, 14, 3, 5])
    result = bytes([R.choice([1, 1, 1, 2, 0, 3])])
    f = {
        1: [(0, be16(0x100))],
        2: [(0, be16(0x100)), (2, result)],
        3: [(0, b"\1")],
        4: [(0, result)],
        5: [(0, b"\0\0\0\1")],
        6: [(0, b"\0\0\0\1"), (4, result)],
        7: [(0, be16(cid())), (2, be16(R.randrange(5)))],
        8: [(0, be16(cid())), (2, be16(cid(7))), (4, result)],
        9: [(0, be16(cid())), (2, be16(R.randrange(5)))],
        10: [(0, be16(cid())), (2, be16(cid(9))), (4, result)],
        11: [(0, be16(cid()))],
        12: [(0, be16(cid()))],
        13: [(0, be16(cid())), (2, result)],
        14: [(0, be16(cid()))],
        15: [(0, be16(cid()))],
    }[kind]
    if kind in (7, 9):
        last[kind] = int.from_bytes(f[0][1], "big")
    return msg(kind, f)


def gre(from_pns, call_id):
    payload = b"\xff\x03\x00\x21" + b"\x45" * 20
    seq = R.randrange(100)
    hdr = struct.pack(">HHHHI", 0x3001, 0x880B, len(payload), call_id, seq)
    a, b = (PNS, PAC) if from_pns else (PAC, PNS)
    cap.add(IP(src=a, dst=b, proto=47) / Raw(hdr + payload))


c = TcpConn(cap, R, PNS, PAC, R.randrange(30000, 60000), 1723)
if R.random() < 0.9:
    c.send(True, msg(1, [(0, be16(0x100))]))
    c.send(False, msg(2, [(0, be16(0x100)), (2, b"\1")]))
for _ in range(R.randrange(3, 14)):
    r = R.random()
    if r < 0.55:
        fp = R.random() < 0.5
        data = random_message(fp)
        if R.random() < 0.1:
            data += random_message(fp)
        c.send_split(fp, data, R, 0.06)
    else:
        gre(R.random() < 0.5, cid())
if R.random() < 0.2:
    c.send(True, b"", "FA")
    c.send(False, b"", "FA")
    for _ in range(3):
        gre(R.random() < 0.5, cid())
finish(cap)
