"""Two DCCP flows between the same two hosts (other ports), over IPv4 and IPv6.

usage: python3 craft.py   (writes dccp-two-flows.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory: ct_oracle.py dccp-two-flows.pcap
--snapshot-each --helpers none --out dccp-two-flows.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/dccp.

The packets are well-formed DCCP (RFC 4340 generic header with 48-bit sequence
numbers, correct checksums over the IPv4/IPv6 pseudo-header): Request, Response,
Ack on flow A (5000 -> 6000), then Request and Response on flow B (5001 -> 6001).
"""
import struct

from scapy.all import Ether, IP, IPv6, Raw, wrpcap

A, B = "10.1.0.1", "10.2.0.2"
A6, B6 = "2001:db8:1::1", "2001:db8:2::2"
DCCP = 33
REQUEST, RESPONSE, ACK = 0, 1, 3
pkts, t = [], 1_700_000_000.0


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def pseudo(src, dst, length, v6):
    import ipaddress
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if v6:
        return s + d + struct.pack("!IxxxB", length, DCCP)
    return s + d + struct.pack("!xBH", DCCP, length)


def dccp(src, sport, dst, dport, ty, seq, ack=None, v6=False):
    """A DCCP packet with X=1 (48-bit sequence numbers), CsCov 0 (whole packet)."""
    # generic header: ports, data offset (words), CCVal/CsCov, checksum,
    # res(3) type(4) X(1), reserved, seq (48 bits)
    body = b""
    if ty == REQUEST:
        body = struct.pack("!I", 42)  # service code
    elif ack is not None:
        body = struct.pack("!HH", 0, ack >> 32) + struct.pack("!I", ack & 0xFFFFFFFF)
        if ty == RESPONSE:
            body += struct.pack("!I", 42)
    hdr_len = 16 + len(body)
    assert hdr_len % 4 == 0
    def build(c):
        return (struct.pack("!HHBBH", sport, dport, hdr_len // 4, 0, c)
                + struct.pack("!BB", (ty << 1) | 1, 0) + struct.pack("!HI", seq >> 32, seq & 0xFFFFFFFF)
                + body)
    raw = build(0)
    raw = build(csum(pseudo(src, dst, len(raw), v6) + raw))
    l3 = IPv6(src=src, dst=dst, nh=DCCP) if v6 else IP(src=src, dst=dst, proto=DCCP)
    global t
    t += 0.001
    p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / l3 / Raw(raw)
    p.time = t
    pkts.append(p)


for v6, (a, b) in ((False, (A, B)), (True, (A6, B6))):
    # flow A: Request, Response, Ack
    dccp(a, 5000, b, 6000, REQUEST, 100, v6=v6)
    dccp(b, 6000, a, 5000, RESPONSE, 900, ack=100, v6=v6)
    dccp(a, 5000, b, 6000, ACK, 101, ack=900, v6=v6)
    # flow B: same hosts, other ports: Request, Response
    dccp(a, 5001, b, 6001, REQUEST, 200, v6=v6)
    dccp(b, 6001, a, 5001, RESPONSE, 700, ack=200, v6=v6)

wrpcap("dccp-two-flows.pcap", pkts)
