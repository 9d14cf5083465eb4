"""Flows whose tuple equals its own inversion (an endpoint talking to itself).

usage: python3 craft.py   (writes udp-flow-to-itself.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory: ct_oracle.py udp-flow-to-itself.pcap
--snapshot-each --helpers none --honour-gaps 3 --out udp-flow-to-itself.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/udp.

Linux: the first packet of a flow whose tuple equals its inversion is NEW/original;
every later one is ESTABLISHED/reply (the reply tuple is met first in the hash
chain), so SEEN_REPLY comes with the second packet and UDP is ASSURED after 2 s.
"""
from scapy.all import Ether, IP, IPv6, UDP, TCP, ICMP, Raw, wrpcap

A, B, A6 = "10.1.0.1", "10.2.0.2", "2001:db8::2"
pkts, t = [], 1_700_000_000.0


def add(p, gap=0.001):
    global t
    t += gap
    p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p
    p.time = t
    pkts.append(p)


def udp(src, sport, dst, dport, gap=0.001, v6=False):
    l3 = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    add(l3 / UDP(sport=sport, dport=dport) / Raw(b"x" * 8), gap)


def tcp(src, port, flags, seq, ack, plen=0):
    add(IP(src=src, dst=src) / TCP(sport=port, dport=port, flags=flags, seq=seq, ack=ack, window=1000)
        / Raw(b"y" * plen))


# control: an ordinary UDP exchange between two hosts (puts A on side a, B on side b)
udp(A, 4000, B, 53)
udp(B, 53, A, 4000)
# UDP from B:5000 to itself: twice at once, then 2.5 s and 5 s later
udp(B, 5000, B, 5000)
udp(B, 5000, B, 5000)
udp(B, 5000, B, 5000, gap=2.5)
udp(B, 5000, B, 5000, gap=2.5)
# the same from a side-a address
udp(A, 5001, A, 5001)
udp(A, 5001, A, 5001)
# control: same address, different ports, answered
udp(B, 5002, B, 6002)
udp(B, 6002, B, 5002)
udp(B, 5002, B, 6002)
# IPv6 UDP to itself
udp(A6, 5003, A6, 5003, v6=True)
udp(A6, 5003, A6, 5003, v6=True)
# TCP SYN, SYN-ACK, ACK, data, all B:7000 -> B:7000
tcp(B, 7000, "S", 1000, 0)
tcp(B, 7000, "SA", 5000, 1001)
tcp(B, 7000, "A", 1001, 5001)
tcp(B, 7000, "PA", 1001, 5001, plen=10)
tcp(B, 7000, "A", 5001, 1011)
# a real Linux self-connect (simultaneous open with itself): SYN s, SYN-ACK s/s+1, data
tcp(B, 7001, "S", 3000, 0)
tcp(B, 7001, "SA", 3000, 3001)
tcp(B, 7001, "PA", 3001, 3001, plen=10)
tcp(B, 7001, "A", 3011, 3011)
# ICMP errors quoting the UDP flow to itself, from B itself and from a router
for src in (B, "10.9.9.9"):
    add(IP(src=src, dst=B) / ICMP(type=3, code=3) / IP(src=B, dst=B) / UDP(sport=5000, dport=5000)
        / Raw(b"x" * 8))
# a protocol without ports (253, for experiments) from B to itself
add(IP(src=B, dst=B, proto=253) / Raw(b"g" * 8))
add(IP(src=B, dst=B, proto=253) / Raw(b"g" * 8))
# ICMP echo to itself: request and reply tuples differ (type 8 vs 0)
add(IP(src=B, dst=B) / ICMP(type=8, id=9, seq=1) / Raw(b"p" * 8))
add(IP(src=B, dst=B) / ICMP(type=0, id=9, seq=1) / Raw(b"p" * 8))
add(IP(src=B, dst=B) / ICMP(type=8, id=9, seq=2) / Raw(b"p" * 8))

wrpcap("udp-flow-to-itself.pcap", pkts)
