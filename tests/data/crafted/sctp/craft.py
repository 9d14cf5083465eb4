"""SCTP associations, verification tags, heartbeats, malformed chunk layouts, bad CRC32c.

usage: python3 craft.py   (writes the sctp-*.pcap captures here; needs scapy)

Verdicts (Linux 6.18), run in this directory, for each capture X:
  ct_oracle.py X.pcap --snapshot-each --helpers none --honour-gaps 3 --out X.default.jsonl
and the extra variants:
  sctp-association: --sysctl nf_conntrack_sctp_timeout_established=100
                    --sysctl nf_conntrack_sctp_timeout_closed=20 ... --out sctp-association.timeouts.jsonl
  sctp-bad-crc:     --sysctl nf_conntrack_checksum=0 ... --out sctp-bad-crc.nocsum.jsonl
  sctp-icmp-error:  --sysctl nf_conntrack_checksum=0 ... --out sctp-icmp-error.nocsum.jsonl
then tests/data/vendor.py --compact-dir tests/data/crafted/sctp.

Every flow uses its own port pair, so the scenarios do not interact. Chunks are
built by hand where scapy would "fix" a malformed layout.
"""
import struct

from scapy.all import Ether, ICMP, IP, IPv6, ICMPv6DestUnreach, Raw, wrpcap
from scapy.layers.sctp import (
    SCTP, SCTPChunkInit, SCTPChunkInitAck, SCTPChunkCookieEcho, SCTPChunkCookieAck, SCTPChunkData,
    SCTPChunkSACK, SCTPChunkHeartbeatReq, SCTPChunkHeartbeatAck, SCTPChunkAbort, SCTPChunkShutdown,
    SCTPChunkShutdownAck, SCTPChunkShutdownComplete, SCTPChunkError,
)

A, B = "10.1.0.1", "10.2.0.2"
A6, B6 = "2001:db8:1::1", "2001:db8:2::2"
pkts, t = [], 1_700_000_000.0


def add(p, gap=0.001):
    global t
    t += gap
    p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p
    p.time = t
    pkts.append(p)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def raw_chunk(ctype, flags=0, body=b"", length=None):
    """A chunk as bytes: `length` overrides the length field; padded to 4."""
    n = 4 + len(body) if length is None else length
    c = struct.pack("!BBH", ctype, flags, n) + body
    return c + b"\0" * (-len(c) % 4)


def send(src, dst, sport, dport, vtag, *chunks, gap=0.001, bad_crc=False):
    """One SCTP packet; chunks are scapy chunk layers or raw bytes."""
    v6 = ":" in src
    body = b"".join(bytes(c) for c in chunks)
    hdr = struct.pack("!HHII", sport, dport, vtag, 0)
    crc = crc32c(hdr + body)
    if bad_crc:
        crc ^= 0x1
    pkt = hdr[:8] + struct.pack("<I", crc) + body
    l3 = IPv6(src=src, dst=dst, nh=132) if v6 else IP(src=src, dst=dst, proto=132)
    add(l3 / Raw(pkt), gap)


def init(tag):
    return SCTPChunkInit(init_tag=tag, a_rwnd=65536, n_out_streams=10, n_in_streams=10, init_tsn=100)


def init_ack(tag):
    return SCTPChunkInitAck(init_tag=tag, a_rwnd=65536, n_out_streams=10, n_in_streams=10, init_tsn=200)


def data(tsn, payload=b"hello"):
    return SCTPChunkData(tsn=tsn, stream_id=0, stream_seq=0, proto_id=0, data=payload, beginning=1, ending=1)


def sack(tsn):
    return SCTPChunkSACK(cumul_tsn_ack=tsn, a_rwnd=65536)


COOKIE = SCTPChunkCookieEcho(cookie=b"C" * 16)
HB = SCTPChunkHeartbeatReq(params=[])
HBACK = SCTPChunkHeartbeatAck(params=[])


def handshake(c, s, sport, dport, ctag, stag):
    send(c, s, sport, dport, 0, init(ctag))
    send(s, c, dport, sport, ctag, init_ack(stag))
    send(c, s, sport, dport, stag, COOKIE)
    send(s, c, dport, sport, ctag, SCTPChunkCookieAck())


def write(name):
    global pkts, t
    wrpcap(name, pkts)
    pkts, t = [], 1_700_000_000.0


# --- sctp-association: a whole association over IPv4 and IPv6 -------------------------
# IPv4: INIT, INIT-ACK, COOKIE-ECHO, COOKIE-ACK, data, heartbeat, shutdown from the client.
C, S = 0x11111111, 0x22222222
send(A, B, 5001, 6001, 0, init(C))
send(B, A, 6001, 5001, C, init_ack(S))
send(A, B, 5001, 6001, S, COOKIE)
send(B, A, 6001, 5001, C, SCTPChunkCookieAck())
send(A, B, 5001, 6001, S, data(100))
send(B, A, 6001, 5001, C, sack(100))
send(A, B, 5001, 6001, S, HB)
send(B, A, 6001, 5001, C, HBACK)
send(A, B, 5001, 6001, S, SCTPChunkShutdown(cumul_tsn_ack=200))
send(B, A, 6001, 5001, C, SCTPChunkShutdownAck())
send(A, B, 5001, 6001, S, SCTPChunkShutdownComplete())
# the closed association is set up again: the INIT in CLOSED does not renew the timeout
send(A, B, 5001, 6001, 0, init(0x33333333), gap=1.5)
send(B, A, 6001, 5001, 0x33333333, init_ack(0x44444444))
send(A, B, 5001, 6001, 0x44444444, COOKIE)
send(B, A, 6001, 5001, 0x33333333, SCTPChunkCookieAck())
# the server aborts (T bit clear: its own tag for the peer)
send(B, A, 6001, 5001, 0x33333333, SCTPChunkAbort())
# IPv6, with bundled chunks, shutdown from the server
C6, S6 = 0x01020304, 0x05060708
send(A6, B6, 5002, 6002, 0, init(C6))
send(B6, A6, 6002, 5002, C6, init_ack(S6))
send(A6, B6, 5002, 6002, S6, COOKIE, data(100))
send(B6, A6, 6002, 5002, C6, SCTPChunkCookieAck(), sack(100))
send(B6, A6, 6002, 5002, C6, data(200))
send(A6, B6, 5002, 6002, S6, sack(200))
send(B6, A6, 6002, 5002, C6, SCTPChunkShutdown(cumul_tsn_ack=100))
send(A6, B6, 5002, 6002, S6, SCTPChunkShutdownAck())
send(B6, A6, 6002, 5002, C6, SCTPChunkShutdownComplete())
# a chunk after SHUTDOWN_COMPLETE in the same packet: INVALID
send(B6, A6, 6002, 5002, C6, SCTPChunkShutdownComplete(), data(201))
write("sctp-association.pcap")

# --- sctp-abort-vtag: ABORT and the verification-tag rules ------------------------------
handshake(A, B, 5003, 6003, C, S)
send(B, A, 6003, 5003, 0xDEADBEEF, SCTPChunkAbort())           # wrong tag: INVALID
send(A, B, 5003, 6003, C, SCTPChunkAbort(TCB=1))               # T bit: the sender's own tag
# out-of-the-blue packets that never create an entry
send(A, B, 5004, 6004, 0, SCTPChunkAbort())
send(A, B, 5005, 6005, 0, SCTPChunkShutdownComplete())
send(A, B, 5006, 6006, 0, SCTPChunkCookieAck())
send(A, B, 5007, 6007, 0x5555, data(1))                        # DATA first: INVALID
send(A, B, 5008, 6008, 0x5555, init(C))                        # INIT with a non-zero tag
# data before the handshake completes
send(A, B, 5009, 6009, 0, init(C))
send(B, A, 6009, 5009, C, init_ack(S))
send(A, B, 5009, 6009, S, data(100))                           # right tag: accepted
send(A, B, 5009, 6009, 0x12345678, data(100))                  # wrong tag: INVALID
send(A, B, 5009, 6009, 0x12345678, COOKIE)                     # COOKIE_ECHO, wrong tag
send(B, A, 6009, 5009, S, sack(100))                           # peer's tag in the wrong direction
send(A, B, 5009, 6009, S, COOKIE)
send(B, A, 6009, 5009, C, SCTPChunkCookieAck())
send(B, A, 6009, 5009, C, init_ack(0x99999999))                # INIT_ACK with another tag: INVALID
send(A, B, 5009, 6009, S, SCTPChunkShutdownComplete(TCB=1))    # T bit with the wrong tag: INVALID
send(A, B, 5009, 6009, S, SCTPChunkShutdownAck())              # SHUTDOWN_ACK in ESTABLISHED
# other first chunks
send(A, B, 5010, 6010, 0, SCTPChunkShutdown(cumul_tsn_ack=1))  # SHUTDOWN, tag 0: CLOSED
send(A, B, 5011, 6011, 7, SCTPChunkShutdown(cumul_tsn_ack=1))  # SHUTDOWN, tag 7: INVALID
send(A, B, 5012, 6012, 0, init_ack(S))                         # INIT_ACK first
send(A, B, 5013, 6013, 0x77, SCTPChunkShutdownAck())           # SHUTDOWN_ACK first (OOTB)
send(B, A, 6013, 5013, 0x77, SCTPChunkShutdownComplete())
send(A, B, 5014, 6014, S, COOKIE)                              # COOKIE_ECHO first
send(A, B, 5015, 6015, 0, SCTPChunkError())                    # ERROR first
# an ERROR answering the COOKIE_ECHO closes the association
send(A, B, 5016, 6016, 0, init(C))
send(B, A, 6016, 5016, C, init_ack(S))
send(A, B, 5016, 6016, S, COOKIE)
send(B, A, 6016, 5016, C, SCTPChunkError())
# INIT collision: both ends send INIT
send(A, B, 5017, 6017, 0, init(C))
send(B, A, 6017, 5017, 0, init(S))
send(A, B, 5017, 6017, S, init_ack(C))
send(B, A, 6017, 5017, C, init_ack(S))
send(A, B, 5017, 6017, S, COOKIE)
send(B, A, 6017, 5017, C, SCTPChunkCookieAck())
# an INIT from the server side in ESTABLISHED (restart), then an ABORT of the client
send(B, A, 6017, 5017, 0, init(0x0A0A0A0A))
send(A, B, 5017, 6017, 0x0A0A0A0A, SCTPChunkAbort())
# COOKIE_ACK bundled with an ABORT of the wrong tag: INVALID, but the entry
# stays ESTABLISHED and ASSURED from the COOKIE_ACK
send(A, B, 5018, 6018, 0, init(C))
send(B, A, 6018, 5018, C, init_ack(S))
send(A, B, 5018, 6018, S, COOKIE)
send(B, A, 6018, 5018, 0xBAD, SCTPChunkCookieAck(), SCTPChunkAbort())
send(B, A, 6018, 5018, C, sack(1), gap=0.5)
write("sctp-abort-vtag.pcap")

# --- sctp-heartbeat: heartbeats on a new path, tag changes -----------------------------
HA, HBt = 0xAAAA0001, 0xBBBB0002
send(A, B, 5020, 6020, HA, HB)                                 # HEARTBEAT_SENT
send(B, A, 6020, 5020, HBt, HBACK)                             # reply: ESTABLISHED, ASSURED
send(A, B, 5020, 6020, HA, data(1))
send(B, A, 6020, 5020, HBt, sack(1))
send(A, B, 5020, 6020, 0xCCCC0003, HB)                         # other tag: accepted, not refreshed
send(A, B, 5020, 6020, 0xCCCC0003, HB, data(2))                # other tag with data: INVALID
send(B, A, 6020, 5020, 0xDDDD0004, HBACK)                      # the answer: tags relearnt
send(A, B, 5020, 6020, 0xCCCC0003, data(2))                    # orig tag now 0: INVALID
send(A, B, 5020, 6020, 0xCCCC0003, HB)                         # learns the new tag
send(A, B, 5020, 6020, 0xCCCC0003, data(3))
send(B, A, 6020, 5020, 0xDDDD0004, sack(3))
send(B, A, 6020, 5020, 0xEEEE0005, HBACK)                      # no heartbeat failed first: INVALID
# a heartbeat from the reply side first, then its ack from the original side
send(A, B, 5021, 6021, HA, HB)
send(A, B, 5021, 6021, HA, HB)
send(B, A, 6021, 5021, HBt, HB)
send(A, B, 5021, 6021, HA, HBACK)
send(B, A, 6021, 5021, HBt, HBACK)
write("sctp-heartbeat.pcap")

# --- sctp-malformed: chunk layouts --------------------------------------------------------
handshake(A, B, 5030, 6030, C, S)
send(A, B, 5030, 6030, S, raw_chunk(0, 3, b"x" * 12, length=0))        # zero-length chunk
send(A, B, 5030, 6030, S, data(5), init(C))                            # INIT not first
send(A, B, 5030, 6030, S, init(C), data(5))                            # INIT not alone
send(A, B, 5030, 6030, S, data(5), COOKIE)                             # COOKIE_ECHO not first
send(B, A, 6030, 5030, C, sack(5), SCTPChunkCookieAck())               # COOKIE_ACK not first
send(A, B, 5030, 6030, S)                                              # no chunk at all
send(A, B, 5030, 6030, S, raw_chunk(0, 3, length=2))                   # length 2: rounded to 4
send(A, B, 5030, 6030, S, raw_chunk(0, 3, b"y" * 8, length=400))       # beyond the packet
send(A, B, 5030, 6030, S, data(6), b"\0\0")                            # 2 trailing bytes
send(A, B, 5030, 6030, S, raw_chunk(0xC1, 0, b"unknown!"))             # unknown chunk type
send(A, B, 5030, 6030, S, data(7), raw_chunk(0x3F, 0, b"abcd"), sack(1))
send(A, B, 5030, 6030, S, data(8), raw_chunk(0, 0, length=0xFFFF))     # huge length last
send(A, B, 5030, 6030, S, raw_chunk(0, 0, b"\1\2\3\4", length=0xFFFE), data(9))
# a short SCTP header (8 bytes), and 12 bytes with nothing after
add(IP(src=A, dst=B, proto=132) / Raw(struct.pack("!HHI", 5030, 6030, S)))
add(IP(src=A, dst=B, proto=132) / Raw(struct.pack("!HH", 5030, 6030)))
# truncated INIT: the INIT header (16 bytes) is not all there
send(A, B, 5031, 6031, 0, raw_chunk(1, 0, struct.pack("!II", C, 65536), length=12))
# an INIT of the client again in ESTABLISHED (tag 0), then its INIT_ACK
send(A, B, 5030, 6030, 0, init(0x0B0B0B0B))
send(B, A, 6030, 5030, 0x0B0B0B0B, init_ack(S))
send(A, B, 5030, 6030, S, data(10))
write("sctp-malformed.pcap")

# --- sctp-bad-crc: a wrong CRC32c ----------------------------------------------------------
send(A, B, 5040, 6040, 0, init(C), bad_crc=True)
send(A, B, 5040, 6040, 0, init(C))
send(B, A, 6040, 5040, C, init_ack(S), bad_crc=True)
send(B, A, 6040, 5040, C, init_ack(S))
send(A, B, 5040, 6040, S, COOKIE)
send(B, A, 6040, 5040, C, SCTPChunkCookieAck())
send(A, B, 5040, 6040, S, data(1), bad_crc=True)
send(A, B, 5040, 6040, S, data(1))
send(A6, B6, 5041, 6041, 0, init(C), bad_crc=True)
send(A6, B6, 5041, 6041, 0, init(C))
write("sctp-bad-crc.pcap")

# --- sctp-icmp-error: ICMP errors quoting SCTP packets; truncated INIT ACK ---------------
send(A, B, 5050, 6050, 0, init(C))
q = bytes(pkts[-1][IP])[:28 + 20]
add(IP(src=B, dst=A) / ICMP(type=3, code=3) / Raw(q))                  # RELATED
add(IP(src=B, dst=A) / ICMP(type=3, code=3) / Raw(bytes(pkts[0][IP])[:20 + 8]))  # 8 bytes quoted
send(B, A, 6050, 5050, C, raw_chunk(2, 0, struct.pack("!II", S, 65536), length=20))  # INIT ACK cut short
send(B, A, 6050, 5050, C, init_ack(S))
send(A6, B6, 5051, 6051, 0, init(C6))
q6 = bytes(pkts[-1][IPv6])[:40 + 28]
add(IPv6(src=B6, dst=A6) / ICMPv6DestUnreach(code=4) / Raw(q6))      # RELATED
# an ICMP error quoting an SCTP flow nobody started: INVALID
add(IP(src=B, dst=A) / ICMP(type=3, code=3) / Raw(bytes(IP(src=A, dst=B, proto=132) / Raw(struct.pack("!HHII", 5052, 6052, 0, 0)))))
# a packet with a wrong CRC32c that is otherwise an INIT ACK of the first flow
send(B, A, 6050, 5050, C, init_ack(S), bad_crc=True)
write("sctp-icmp-error.pcap")
