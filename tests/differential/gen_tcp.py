#!/usr/bin/env python3
"""Random TCP segments on one or two connections: handshakes with
options, data in and out of the window, retransmissions, odd flag
combinations, RSTs with any sequence, FINs, window changes, now and then a
gap of seconds. usage: gen_tcp.py SEED OUT.pcap"""
from flows import begin, finish
from scapy.all import IP, IPv6, TCP, Raw

seed, R, cap = begin()
V6 = R.random() < 0.2
C, S = ("2001:db8::10", "2001:db8::20") if V6 else ("10.1.0.1", "10.2.0.2")
L3 = (lambda a, b: IPv6(src=a, dst=b)) if V6 else (lambda a, b: IP(src=a, dst=b))
M = 1 << 32


class Side:
    def __init__(self):
        self.isn = R.randrange(M)
        self.nxt = (self.isn + 1) % M  # after the SYN
        self.win = R.choice([65535, 29200, 1024, 0, 64240])
        self.wscale = R.choice([None, None, 0, 2, 7, 14, 15])


cl, sv = Side(), Side()
CP, SP = R.randrange(1024, 65536), R.choice([80, 443, 22, 8080])


def opts(side, syn):
    o = []
    if syn:
        if R.random() < 0.8:
            o.append(("MSS", 1460))
        if side.wscale is not None:
            o.append(("WScale", side.wscale))
        if R.random() < 0.5:
            o.append(("SAckOK", b""))
    elif R.random() < 0.05:
        o.append(("SAck", (R.randrange(M), R.randrange(M))))
    return o


def seg(from_client, flags, seq=None, ack=None, data=b"", win=None):
    me, peer = (cl, sv) if from_client else (sv, cl)
    a, b, sp, dp = (C, S, CP, SP) if from_client else (S, C, SP, CP)
    if seq is None:
        seq = me.nxt
    if ack is None:
        ack = peer.nxt if "A" in flags else 0
    w = me.win if win is None else win
    p = L3(a, b) / TCP(sport=sp, dport=dp, flags=flags, seq=seq % M, ack=ack % M, window=w,
                       options=opts(me, "S" in flags))
    if data:
        p = p / Raw(data)
    cap.add(p, gap=R.choice([0.001] * 20 + [0.5, 2.5]))


def advance(from_client, n):
    me = cl if from_client else sv
    me.nxt = (me.nxt + n) % M


# Handshake (sometimes partial, simultaneous, or retransmitted).
h = R.random()
seg(True, "S", seq=cl.isn)
if h < 0.1:
    seg(True, "S", seq=cl.isn)  # retransmitted SYN
if h < 0.85:
    seg(False, "SA", seq=sv.isn)
    if R.random() < 0.1:
        seg(False, "SA", seq=sv.isn)
    seg(True, "A")
elif h < 0.93:
    seg(False, "S", seq=sv.isn)  # simultaneous open
    seg(True, "SA", seq=cl.isn)
    seg(False, "SA", seq=sv.isn)
    seg(True, "A")

for _ in range(R.randrange(3, 25)):
    fc = R.random() < 0.55
    me, peer = (cl, sv) if fc else (sv, cl)
    r = R.random()
    if r < 0.45:  # in-order data
        n = R.choice([1, 10, 100, 1000, 1460])
        seg(fc, "PA", data=bytes(n))
        advance(fc, n)
    elif r < 0.55:  # a retransmission of old data, or a pure dup ACK
        n = R.choice([0, 10, 100])
        seg(fc, "A" if n == 0 else "PA", seq=me.nxt - n, data=bytes(n))
    elif r < 0.62:  # out of the window (far ahead or far behind)
        off = R.choice([1 << 20, 1 << 30, -(1 << 20), 70000, -70000, 1 << 31])
        seg(fc, "PA", seq=me.nxt + off, data=bytes(10))
    elif r < 0.67:  # an ACK of data not sent
        seg(fc, "A", ack=peer.nxt + R.choice([1, 1000, 1 << 20, 1 << 31]))
    elif r < 0.72:  # window changes
        me.win = R.choice([0, 1, 512, 65535])
        seg(fc, "A")
    elif r < 0.78:  # FIN
        seg(fc, "FA")
        advance(fc, 1)
    elif r < 0.84:  # RST, exact or not
        s = me.nxt + R.choice([0, 0, 1, -1, 1000, 1 << 20, 1 << 31])
        seg(fc, R.choice(["R", "RA"]), seq=s, ack=peer.nxt if R.random() < 0.7 else 0)
        if R.random() < 0.5:
            break
    elif r < 0.90:  # odd flags
        fl = R.choice(["", "F", "U", "SF", "SR", "FR", "SFR", "PU", "AU", "SAF", "E", "C", "AEC", "SEC", "P"])
        seg(fc, fl)
    elif r < 0.95:  # a new SYN (reopen attempt)
        cl.isn = R.randrange(M)
        cl.nxt = (cl.isn + 1) % M
        seg(True, "S", seq=cl.isn)
    else:  # a SYN-ACK out of the blue
        seg(False, "SA", seq=R.randrange(M))
finish(cap)
