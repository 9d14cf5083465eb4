"""Fragmented datagrams, IPv4 and IPv6: reassembly before conntrack.

usage: python3 craft.py   (writes frag-v4.pcap, frag-v6.pcap, frag-timeout.pcap and
frag-v6-passed.pcap here; needs scapy)

Verdicts (Linux 6.18), run in this directory, for each NAME:
ct_oracle.py NAME.pcap --snapshot-each --helpers none --honour-gaps 3 --out NAME.default.jsonl,
then tests/data/vendor.py --compact-dir tests/data/crafted/frag.

Linux (net/ipv4/ip_fragment.c, net/ipv6/netfilter/nf_conntrack_reasm.c,
net/ipv4/inet_fragment.c): every fragment but the one completing a datagram is
consumed by defragmentation (`state: none, stage: defrag`); the completing one
carries the datagram's verdict. An overlap discards the whole queue (RFC 5722);
an exact duplicate is dropped and the queue kept. IPv4 discards the queue on an
inconsistent end, a fragment that trims to nothing, or a datagram over 65535
bytes; IPv6 drops only the offending fragment there (the queue lives on) but
discards the queue for a non-last fragment whose length is not a multiple of 8
(that fragment then reaches conntrack unreassembled). Queues expire 30 s
(IPv4, ipfrag_time) or 60 s (IPv6, nf_conntrack_frag6_timeout) after their first
fragment, and a later fragment of the same datagram starts a new queue.
"""
from scapy.all import Ether, IP, IPv6, UDP, ICMP, ICMPv6EchoRequest, ICMPv6EchoReply, \
    IPv6ExtHdrFragment, IPv6ExtHdrDestOpt, Raw, wrpcap

A, B = "10.1.0.1", "10.2.0.2"
A6, B6 = "2001:db8:1::1", "2001:db8:2::2"
pkts, t = [], 1_700_000_000.0


def add(p, gap=0.001):
    global t
    t += gap
    p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p
    p.time = t
    pkts.append(p)


# ---- IPv4 ----------------------------------------------------------------

def l4v4(src, dst, l4):
    """The layer-4 bytes of IP(src, dst)/l4, checksums computed over the whole datagram."""
    p = IP(bytes(IP(src=src, dst=dst) / l4))
    return p.proto, bytes(p.payload)


def frag4(src, dst, proto, ident, data, off, more, tos=0, gap=0.001):
    flags = "MF" if more else 0
    add(IP(src=src, dst=dst, id=ident, proto=proto, flags=flags, frag=off // 8, tos=tos) / Raw(data), gap)


def split4(src, dst, l4, ident, order=None, size=24, gap=0.001):
    proto, data = l4v4(src, dst, l4)
    pieces = [(o, data[o:o + size], o + size < len(data)) for o in range(0, len(data), size)]
    for k in (order if order is not None else range(len(pieces))):
        o, d, m = pieces[k]
        frag4(src, dst, proto, ident, d, o, m, gap=gap)


def udp4(src, sport, dst, dport, n=8, gap=0.001):
    add(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(b"u" * n), gap)


# ---- IPv6 ----------------------------------------------------------------

def l4v6(src, dst, l4):
    p = IPv6(bytes(IPv6(src=src, dst=dst) / l4))
    return p.nh, bytes(p.payload)


def frag6(src, dst, nh, ident, data, off, more, gap=0.001):
    add(IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(nh=nh, offset=off // 8, m=int(more), id=ident)
        / Raw(data), gap)


def split6(src, dst, l4, ident, order=None, size=24, gap=0.001):
    nh, data = l4v6(src, dst, l4)
    pieces = [(o, data[o:o + size], o + size < len(data)) for o in range(0, len(data), size)]
    for k in (order if order is not None else range(len(pieces))):
        o, d, m = pieces[k]
        frag6(src, dst, nh, ident, d, o, m, gap=gap)


def udp6(src, sport, dst, dport, n=8, gap=0.001):
    add(IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(b"u" * n), gap)


def v4():
    # control: plain UDP both ways (puts A on side a, B on side b)
    udp4(A, 999, B, 998)
    udp4(B, 998, A, 999)
    # 1. UDP in 3 fragments, in order: held, held, NEW; an unfragmented reply is ESTABLISHED
    split4(A, B, UDP(sport=1001, dport=2001) / Raw(b"a" * 56), 0x101)
    udp4(B, 2001, A, 1001)
    # 2. UDP in 3 fragments, out of order (last, first, middle): NEW on the middle one
    split4(A, B, UDP(sport=1002, dport=2002) / Raw(b"b" * 56), 0x102, order=[2, 0, 1])
    # 3. ICMP echo request in 2 fragments (NEW), its reply in 2 fragments reversed (ESTABLISHED)
    split4(A, B, ICMP(type=8, id=0x77, seq=1) / Raw(b"p" * 32), 0x103, size=24)
    split4(B, A, ICMP(type=0, id=0x77, seq=1) / Raw(b"p" * 32), 0x203, order=[1, 0], size=24)
    # 4. overlap: [0,24) then [16,40): the queue is discarded; the last fragment alone is then
    #    held in a new queue, and [0,40) resent completes it
    proto, d = l4v4(A, B, UDP(sport=1004, dport=2004) / Raw(b"c" * 40))
    frag4(A, B, proto, 0x104, d[0:24], 0, True)
    frag4(A, B, proto, 0x104, d[16:40], 16, True)
    frag4(A, B, proto, 0x104, d[40:48], 40, False)
    frag4(A, B, proto, 0x104, d[0:24], 0, True)
    frag4(A, B, proto, 0x104, d[24:40], 24, True)
    # 5. overlap inside the queue (binary-search path): [24,48) last, [0,8), then [4,28)
    proto, d = l4v4(A, B, UDP(sport=1005, dport=2005) / Raw(b"d" * 40))
    frag4(A, B, proto, 0x105, d[24:48], 24, False)
    frag4(A, B, proto, 0x105, d[0:8], 0, True)
    frag4(A, B, proto, 0x105, d[8:32], 8, True)
    frag4(A, B, proto, 0x105, d[8:24], 8, True)
    # 6. exact duplicate: dropped, the queue kept: the last fragment completes
    proto, d = l4v4(A, B, UDP(sport=1006, dport=2006) / Raw(b"e" * 40))
    frag4(A, B, proto, 0x106, d[0:24], 0, True)
    frag4(A, B, proto, 0x106, d[0:24], 0, True)
    frag4(A, B, proto, 0x106, d[24:48], 24, False)
    # 7. a duplicate inside one run of in-order fragments ([0,8)+[8,16)) is a duplicate,
    #    across two runs it is an overlap
    proto, d = l4v4(A, B, UDP(sport=1007, dport=2007) / Raw(b"f" * 40))
    frag4(A, B, proto, 0x107, d[0:8], 0, True)
    frag4(A, B, proto, 0x107, d[8:16], 8, True)
    frag4(A, B, proto, 0x107, d[0:16], 0, True)
    frag4(A, B, proto, 0x107, d[16:48], 16, False)
    proto, d = l4v4(A, B, UDP(sport=1008, dport=2008) / Raw(b"g" * 40))
    frag4(A, B, proto, 0x108, d[8:16], 8, True)
    frag4(A, B, proto, 0x108, d[0:8], 0, True)
    frag4(A, B, proto, 0x108, d[0:16], 0, True)
    frag4(A, B, proto, 0x108, d[16:48], 16, False)
    # 8. inconsistent end: last fragment ending at 40, then another "last" ending at 24: the
    #    queue is discarded; [16,40) then only starts a new one
    proto, d = l4v4(A, B, UDP(sport=1009, dport=2009) / Raw(b"h" * 32))
    frag4(A, B, proto, 0x109, d[0:16], 0, True)
    frag4(A, B, proto, 0x109, d[32:40], 32, False)
    frag4(A, B, proto, 0x109, d[16:24], 16, False)
    frag4(A, B, proto, 0x109, d[16:32], 16, True)
    # 9. a non-last fragment of 4 bytes trims to nothing: the queue is discarded
    proto, d = l4v4(A, B, UDP(sport=1010, dport=2010) / Raw(b"i" * 16))
    frag4(A, B, proto, 0x10a, d[0:16], 0, True)
    frag4(A, B, proto, 0x10a, d[16:20], 16, True)
    frag4(A, B, proto, 0x10a, d[16:24], 16, False)
    frag4(A, B, proto, 0x10a, d[0:16], 0, True)
    # 10. a non-last fragment of 20 bytes counts for 16: the next one at 16 completes
    proto, d = l4v4(A, B, UDP(sport=1011, dport=2011) / Raw(b"j" * 16))
    frag4(A, B, proto, 0x10b, d[0:20], 0, True)
    frag4(A, B, proto, 0x10b, d[16:24], 16, False)
    # 11. ECN: ECT(0) and not-ECT fragments cannot be merged: the datagram is dropped
    proto, d = l4v4(A, B, UDP(sport=1012, dport=2012) / Raw(b"k" * 16))
    frag4(A, B, proto, 0x10c, d[0:16], 0, True, tos=2)
    frag4(A, B, proto, 0x10c, d[16:24], 16, False, tos=0)
    # ... CE and ECT(0) can: tracked
    proto, d = l4v4(A, B, UDP(sport=1013, dport=2013) / Raw(b"l" * 16))
    frag4(A, B, proto, 0x10d, d[0:16], 0, True, tos=2)
    frag4(A, B, proto, 0x10d, d[16:24], 16, False, tos=3)
    # 12. same id and addresses, other protocol: another queue (the key has the protocol)
    proto, d = l4v4(A, B, UDP(sport=1014, dport=2014) / Raw(b"m" * 16))
    frag4(A, B, proto, 0x10e, d[0:16], 0, True)
    frag4(A, B, 47, 0x10e, d[16:24], 16, False)
    frag4(A, B, proto, 0x10e, d[16:24], 16, False)
    # 13. oversized: 45 fragments of a 65544-byte datagram: all held, the queue dropped
    proto, d = 17, bytes(UDP(sport=1015, dport=2015, len=0, chksum=0)) + b"n" * 65516
    for o in range(0, len(d), 1480):
        frag4(A, B, proto, 0x10f, d[o:o + 1480], o, o + 1480 < len(d))
    # ... and a big datagram that fits (65535 bytes): NEW
    proto, d = l4v4(A, B, UDP(sport=1016, dport=2016) / Raw(b"o" * 65507))
    for o in range(0, len(d), 1480):
        frag4(A, B, proto, 0x110, d[o:o + 1480], o, o + 1480 < len(d))
    # 14. a completed datagram's late duplicate starts a new queue (held)
    proto, d = l4v4(A, B, UDP(sport=1001, dport=2001) / Raw(b"a" * 56))
    frag4(A, B, proto, 0x101, d[0:24], 0, True)
    # 15. the fragmented UDP flow 1 again: ESTABLISHED on the completing fragment
    split4(A, B, UDP(sport=1001, dport=2001) / Raw(b"q" * 56), 0x111, order=[1, 2, 0])
    wrpcap("frag-v4.pcap", pkts)


def v6():
    udp6(A6, 999, B6, 998)
    udp6(B6, 998, A6, 999)
    # 1. UDP in 3 fragments, in order; unfragmented reply ESTABLISHED
    split6(A6, B6, UDP(sport=1001, dport=2001) / Raw(b"a" * 56), 0x601)
    udp6(B6, 2001, A6, 1001)
    # 2. out of order
    split6(A6, B6, UDP(sport=1002, dport=2002) / Raw(b"b" * 56), 0x602, order=[2, 0, 1])
    # 3. ICMPv6 echo request fragmented (NEW), reply fragmented and reversed (ESTABLISHED)
    split6(A6, B6, ICMPv6EchoRequest(id=0x77, seq=1, data=b"p" * 32), 0x603)
    split6(B6, A6, ICMPv6EchoReply(id=0x77, seq=1, data=b"p" * 32), 0x703, order=[1, 0])
    # 4. overlap: the queue is discarded
    nh, d = l4v6(A6, B6, UDP(sport=1004, dport=2004) / Raw(b"c" * 40))
    frag6(A6, B6, nh, 0x604, d[0:24], 0, True)
    frag6(A6, B6, nh, 0x604, d[16:40], 16, True)
    frag6(A6, B6, nh, 0x604, d[40:48], 40, False)
    frag6(A6, B6, nh, 0x604, d[0:24], 0, True)
    frag6(A6, B6, nh, 0x604, d[24:40], 24, True)
    # 5. exact duplicate: the queue kept
    nh, d = l4v6(A6, B6, UDP(sport=1006, dport=2006) / Raw(b"e" * 40))
    frag6(A6, B6, nh, 0x606, d[0:24], 0, True)
    frag6(A6, B6, nh, 0x606, d[0:24], 0, True)
    frag6(A6, B6, nh, 0x606, d[24:48], 24, False)
    # 6. an empty last fragment at 32 is dropped, yet fixes the end at 32; a last fragment
    #    ending at 24 then contradicts it: only that fragment is dropped (the queue lives),
    #    and [16,32) completes
    nh, d = l4v6(A6, B6, UDP(sport=1009, dport=2009) / Raw(b"h" * 24))
    frag6(A6, B6, nh, 0x609, d[0:16], 0, True)
    frag6(A6, B6, nh, 0x609, d[32:40], 32, False)
    frag6(A6, B6, nh, 0x609, d[16:24], 16, False)
    frag6(A6, B6, nh, 0x609, d[16:32], 16, True)
    # 7. a non-last fragment whose length is not a multiple of 8: the queue is discarded and the
    #    fragment goes to conntrack as it is (a non-first fragment: INVALID); a first one too
    nh, d = l4v6(A6, B6, UDP(sport=1010, dport=2010) / Raw(b"i" * 24))
    frag6(A6, B6, nh, 0x60a, d[0:16], 0, True)
    frag6(A6, B6, nh, 0x60a, d[16:28], 16, True)
    frag6(A6, B6, nh, 0x60a, d[16:32], 16, False)
    frag6(A6, B6, nh, 0x60a, d[0:12], 0, True)
    # 8. oversized: a fragment ending beyond 65535 is dropped alone; the queue completes
    nh, d = l4v6(A6, B6, UDP(sport=1011, dport=2011) / Raw(b"j" * 16))
    frag6(A6, B6, nh, 0x60b, d[0:16], 0, True)
    frag6(A6, B6, nh, 0x60b, b"z" * 16, 65528, False)
    frag6(A6, B6, nh, 0x60b, d[16:24], 16, False)
    # 9. a first fragment without the whole header chain (UDP header in the second): it goes
    #    to conntrack unreassembled; the second is held
    dst = IPv6ExtHdrDestOpt(nh=17, options=[]) / UDP(sport=1012, dport=2012) / Raw(b"k" * 16)
    nh, d = l4v6(A6, B6, dst)
    frag6(A6, B6, nh, 0x60c, d[0:8], 0, True)
    frag6(A6, B6, nh, 0x60c, d[8:32], 8, False)
    # 10. atomic fragment (offset 0, M clear): tracked
    frag6(A6, B6, 17, 0x60d, bytes(IPv6(bytes(IPv6(src=A6, dst=B6) / UDP(sport=1013, dport=2013)
                                               / Raw(b"l" * 8))).payload), 0, False)
    # 11. same id and addresses, other next header: the same queue (no protocol in the key)
    nh, d = l4v6(A6, B6, UDP(sport=1014, dport=2014) / Raw(b"m" * 16))
    frag6(A6, B6, nh, 0x60e, d[0:16], 0, True)
    frag6(A6, B6, 47, 0x60e, d[16:24], 16, False)
    # 12. a big datagram (65527-byte payload) in 46 fragments: NEW
    nh, d = l4v6(A6, B6, UDP(sport=1016, dport=2016) / Raw(b"o" * 65519))
    for o in range(0, len(d), 1448):
        frag6(A6, B6, nh, 0x610, d[o:o + 1448], o, o + 1448 < len(d))
    # 13. the fragmented UDP flow 1 again: ESTABLISHED
    split6(A6, B6, UDP(sport=1001, dport=2001) / Raw(b"q" * 56), 0x611, order=[1, 2, 0])
    wrpcap("frag-v6.pcap", pkts)


def timeout():
    udp4(A, 999, B, 998)
    udp4(B, 998, A, 999)
    udp6(A6, 999, B6, 998)
    udp6(B6, 998, A6, 999)
    pv, dx = l4v4(A, B, UDP(sport=3001, dport=4001) / Raw(b"x" * 16))
    _, dz = l4v4(A, B, UDP(sport=3002, dport=4002) / Raw(b"z" * 16))
    nh, dy = l4v6(A6, B6, UDP(sport=3003, dport=4003) / Raw(b"y" * 16))
    _, dw = l4v6(A6, B6, UDP(sport=3004, dport=4004) / Raw(b"w" * 16))
    frag4(A, B, pv, 0x301, dx[0:16], 0, True)
    frag4(A, B, pv, 0x302, dz[0:16], 0, True)
    frag6(A6, B6, nh, 0x303, dy[0:16], 0, True)
    frag6(A6, B6, nh, 0x304, dw[0:16], 0, True)
    elapsed = 0.0
    for k in range(23):
        udp4(A, 999, B, 998, gap=3.0)
        elapsed += 3.0
        if k == 8:  # ~27 s: the IPv4 queue Z is still there
            frag4(A, B, pv, 0x302, dz[16:24], 16, False)
        if k == 11:  # ~36 s: X expired (30 s): this fragment starts a new queue, then completes it
            frag4(A, B, pv, 0x301, dx[16:24], 16, False)
            frag4(A, B, pv, 0x301, dx[0:16], 0, True)
        if k == 14:  # ~45 s: the IPv6 queue W is still there (60 s)
            frag6(A6, B6, nh, 0x304, dw[16:24], 16, False)
    # ~69 s: Y expired
    frag6(A6, B6, nh, 0x303, dy[16:24], 16, False)
    frag6(A6, B6, nh, 0x303, dy[0:16], 0, True)
    wrpcap("frag-timeout.pcap", pkts)


def passed():
    """IPv6 fragments Linux's defragmentation lets through to conntrack as they
    are (found by differential testing): conntrack tracks a first fragment
    (offset 0, M set) from the headers it holds, and refuses only a later one."""
    # a first fragment of 13 bytes (not a multiple of 8) holding a whole UDP
    # datagram of 13 bytes: passed, NEW; the unfragmented answer ESTABLISHED
    frag6(A6, B6, 17, 0x401, bytes(UDP(sport=3010, dport=4010, len=13, chksum=0)) + b"abcde", 0, True)
    udp6(B6, 4010, A6, 3010)
    # a first fragment whose UDP header is cut short (4 bytes of it): passed,
    # INVALID (short)
    frag6(A6, B6, 17, 0x402, bytes(UDP(sport=3011, dport=4011))[:4], 0, True)
    # Fragment headers cut short: 4 bytes (offset 0, M clear; then M set),
    # protocols 253 and 254 after them: passed, tracked; 6 bytes, the answer
    add(IPv6(src=A6, dst=B6, nh=44) / Raw(bytes([253, 0, 0, 0])))
    add(IPv6(src=B6, dst=A6, nh=44) / Raw(bytes([253, 0, 0, 0, 0, 0])))
    add(IPv6(src=A6, dst=B6, nh=44) / Raw(bytes([254, 0, 0, 1])))
    # 4 bytes of a later fragment's header, then 2 bytes of one: dropped by
    # defragmentation
    add(IPv6(src=A6, dst=B6, nh=44) / Raw(bytes([254, 0, 0, 8])))
    add(IPv6(src=A6, dst=B6, nh=44) / Raw(bytes([252, 0])))
    # control: a first fragment of 16 bytes with the whole UDP header: held
    frag6(A6, B6, 17, 0x403, bytes(UDP(sport=3012, dport=4012, len=40, chksum=0)) + b"abcdefgh", 0, True)
    wrpcap("frag-v6-passed.pcap", pkts)


if __name__ == "__main__":
    v4()
    pkts.clear()
    v6()
    pkts.clear()
    timeout()
    pkts.clear()
    passed()
