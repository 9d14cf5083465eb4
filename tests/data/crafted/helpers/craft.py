#!/usr/bin/env python3
"""Build the helper corner-case captures (the FTP, TFTP, SIP, IRC, Amanda
and SANE helpers: nf_conntrack_ftp.c, nf_conntrack_tftp.c,
nf_conntrack_sip.c, nf_conntrack_irc.c, nf_conntrack_amanda.c,
nf_conntrack_sane.c) with scapy.

Each capture is then replayed through the real kernel with
  ../../../../../shared/oracle/ct_oracle.py NAME.pcap --snapshot-each \
      --helpers ftp,tftp,sip --out NAME.default.jsonl
(--helpers irc,amanda,sane for the irc-*, amanda-*, sane-* and helpers-*
captures; --helpers pptp for the pptp-* captures)
and the verdicts are compacted with tests/data/vendor.py --compact-dir.
"""
from scapy.all import Ether, IP, IPv6, TCP, UDP, Raw, wrpcap

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


class Tcp:
    """One TCP connection with correct sequence numbers both ways."""

    def __init__(self, ip, c, s, cport, sport, v6=False):
        self.ip, self.c, self.s, self.cp, self.sp, self.v6 = ip, c, s, cport, sport, v6
        self.cseq, self.sseq = 1000, 5000
        self.pkts = []

    def _l3(self, from_client):
        a, b = (self.c, self.s) if from_client else (self.s, self.c)
        return (IPv6(src=a, dst=b) if self.v6 else IP(src=a, dst=b))

    def send(self, from_client, flags, data=b""):
        seq, ack = (self.cseq, self.sseq) if from_client else (self.sseq, self.cseq)
        sp, dp = (self.cp, self.sp) if from_client else (self.sp, self.cp)
        p = Ether(**MAC) / self._l3(from_client) / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, window=64240)
        if data:
            p = p / Raw(data)
        self.pkts.append(p)
        n = len(data) + (1 if "S" in flags or "F" in flags else 0)
        if from_client:
            self.cseq += n
        else:
            self.sseq += n
        return p

    def handshake(self):
        self.pkts.append(Ether(**MAC) / self._l3(True) / TCP(sport=self.cp, dport=self.sp, flags="S", seq=self.cseq - 1, window=64240))
        self.pkts.append(Ether(**MAC) / self._l3(False) / TCP(sport=self.sp, dport=self.cp, flags="SA", seq=self.sseq - 1, ack=self.cseq, window=64240))
        self.send(True, "A")


def ftp_session(v6=False):
    c, s = ("2001:db8::10", "2001:db8::5") if v6 else ("192.168.1.10", "198.51.100.5")
    t = Tcp(None, c, s, 50000, 21, v6)
    t.handshake()
    t.send(False, "PA", b"220 ready\r\n")
    t.send(True, "PA", b"USER anonymous\r\n")
    t.send(False, "PA", b"331 password please\r\n")
    t.send(True, "PA", b"PASS x\r\n")
    t.send(False, "PA", b"230 logged in\r\n")
    return t, c, s


def data_conn(pkts, c, s, cport, sport, v6=False, client_opens=True):
    d = Tcp(None, c, s, cport, sport, v6) if client_opens else Tcp(None, s, c, sport, cport, v6)
    d.handshake()
    d.send(True, "PA", b"hello data\r\n")
    d.send(False, "A")
    pkts += d.pkts


def split_commands():
    t, c, s = ftp_session()
    t.send(True, "PA", b"PO")                       # partial: dropped by the helper
    t.cseq -= 2                                      # the sender retransmits it whole
    t.send(True, "PA", b"PORT 192,168,1,10,4,1\r\n")
    t.send(False, "PA", b"200 PORT ok\r\n")
    t.send(True, "PA", b"LIST\r\n")
    pkts = t.pkts
    data_conn(pkts, c, s, 1025, 20, client_opens=False)
    # A PASV reply split in two segments: the first half is partial.
    t.pkts = []
    t.send(True, "PA", b"PASV\r\n")
    t.send(False, "PA", b"227 Entering Passive Mode (198,51,100,5,")
    t.send(False, "PA", b"195,149).\r\n")
    pkts += t.pkts
    data_conn(pkts, c, s, 50124, 50069)
    wrpcap("ftp-split-commands.pcap", pkts)


def pasv_other_host():
    t, c, s = ftp_session()
    t.send(True, "PA", b"PASV\r\n")
    t.send(False, "PA", b"227 Entering Passive Mode (203,0,113,9,195,149).\r\n")  # names another host
    t.send(True, "PA", b"PASV\r\n")
    t.send(False, "PA", b"227 Entering Passive Mode (198,51,100,5,195,150).\r\n")
    t.send(True, "PA", b"PASV\r\n")
    t.send(False, "PA", b"227 Entering Passive Mode (198,51,100,5,195,151).\r\n")
    pkts = t.pkts
    data_conn(pkts, c, "203.0.113.9", 50123, 50069)
    data_conn(pkts, c, s, 50124, 50070)
    data_conn(pkts, c, s, 50125, 50071)
    wrpcap("ftp-pasv-names-other-host.pcap", pkts)


def eprt_epsv_v6():
    t, c, s = ftp_session(v6=True)
    t.send(True, "PA", b"EPSV\r\n")
    t.send(False, "PA", b"229 Entering Extended Passive Mode (|||6446|)\r\n")
    pkts = list(t.pkts)
    data_conn(pkts, c, s, 50123, 6446, v6=True)
    t.pkts = []
    t.send(True, "PA", b"EPRT |2|2001:db8::10|5282|\r\n")
    t.send(False, "PA", b"200 EPRT ok\r\n")
    t.send(True, "PA", b"EPRT |2|2001:db8::99|5283|\r\n")  # another host: no expectation
    t.send(False, "PA", b"200 EPRT ok\r\n")
    pkts += t.pkts
    data_conn(pkts, c, s, 5282, 20, v6=True, client_opens=False)
    data_conn(pkts, "2001:db8::99", s, 5283, 20, v6=True, client_opens=False)
    wrpcap("ftp-ipv6-eprt-epsv.pcap", pkts)


def flush(t, pkts):
    """Move the control connection's packets so far to `pkts`."""
    pkts += t.pkts
    t.pkts = []


# Question: after a 227 or PORT naming ANOTHER host (no expectation), does
# the helper still remember that segment's end as a line start, so that a
# 227/PORT in the next segment of the same direction is parsed? Each valid
# announcement comes right after a third-party one in its direction, and
# its data connection follows at once (FTP expects one data connection at a
# time: a later expectation would evict it): RELATED if Linux remembered
# the line end, NEW if not. What Linux 6.18 does (the oracle's verdicts):
# it remembers it; both data connections (client to 50070, server port 20
# to 1026) are RELATED, master the control connection.
def third_party_then_valid():
    t, c, s = ftp_session()
    pkts = []
    t.send(True, "PA", b"PASV\r\n")
    t.send(False, "PA", b"227 Entering Passive Mode (203,0,113,9,195,149).\r\n")  # another host
    t.send(True, "PA", b"PASV\r\n")
    t.send(False, "PA", b"227 Entering Passive Mode (198,51,100,5,195,150).\r\n")  # the next reply segment
    t.send(True, "PA", b"LIST\r\n")
    flush(t, pkts)
    data_conn(pkts, c, s, 50124, 50070)
    t.send(False, "PA", b"226 Transfer complete\r\n")
    t.send(True, "PA", b"PORT 203,0,113,9,4,1\r\n")                               # another host
    t.send(False, "PA", b"200 PORT ok\r\n")
    t.send(True, "PA", b"PORT 192,168,1,10,4,2\r\n")                              # the next command segment
    t.send(False, "PA", b"200 PORT ok\r\n")
    t.send(True, "PA", b"LIST\r\n")
    flush(t, pkts)
    data_conn(pkts, c, s, 1026, 20, client_opens=False)
    t.send(False, "PA", b"226 Transfer complete\r\n")
    flush(t, pkts)
    wrpcap("ftp-third-party-then-valid.pcap", pkts)


# Question: the numbers of PORT and 227 are not range-checked; does a number
# above 255 spill into the neighbouring byte ((a<<24)|(b<<16)|(c<<8)|d,
# (p1<<8)|p2) or is each one cut to its low byte? Server 198.51.100.5,
# client 192.168.1.10. Each announcement is followed by LIST, its data
# connection(s) and a 226 (so every case starts at a line start in both
# directions whatever became of the one before).
#   1. 227 (198,51,100,5,4,300): port 1324 with spilling, 1068 cut to bytes;
#      connections to 1068, then 1324.
#   2. 227 (198,51,0,25605,4,10): spilling gives 198.51.100.5 (the server),
#      cutting 198.51.0.5; connection to 1034.
#   3. 227 (198,51,100,261,4,11): spilling gives 198.51.101.5, cutting the
#      server's address; connection to 1035.
#   4. PORT 192,168,1,10,4,300: server connections from port 20 to 1068,
#      then 1324.
#   5. 227 (198,51,100,4294967301,4,12): 2^32+5, which wraps to 5 in 32 bits
#      (the server's address) but saturates to 2^32-1; connection to 1036.
#   6. 229 (|||67657|): EPSV port above 65535 (67657 = 65536+2121); wraps to
#      2121 in 16 bits; connection to 2121.
#   7. EPRT |1|192.168.0.266|5001|: spilling gives the client's address;
#      server connection from port 20 to 5001.
#   8. 227 (198,51,100,5,,150): an empty number (0 if accepted, port 150);
#      connection to 150.
# What Linux 6.18 does (the oracle's verdicts): the numbers spill and wrap.
# RELATED: 1324 (cases 1 and 4; 1068 is NEW), 1034 (2), 1036 (5), 2121 (6),
# 5001 (7), 150 (8); NEW: 1035 (3). No control segment is dropped.
def numbers_above_255():
    t, c, s = ftp_session()
    pkts = []
    cports = iter(range(50130, 50200))

    def pasv(reply, ports, request=b"PASV\r\n"):
        t.send(True, "PA", request)
        t.send(False, "PA", reply)
        t.send(True, "PA", b"LIST\r\n")
        flush(t, pkts)
        for p in ports:
            data_conn(pkts, c, s, next(cports), p)
        t.send(False, "PA", b"226 Transfer complete\r\n")

    def port(command, ports):
        t.send(True, "PA", command)
        t.send(False, "PA", b"200 PORT ok\r\n")
        t.send(True, "PA", b"LIST\r\n")
        flush(t, pkts)
        for p in ports:
            data_conn(pkts, c, s, p, 20, client_opens=False)
        t.send(False, "PA", b"226 Transfer complete\r\n")

    pasv(b"227 Entering Passive Mode (198,51,100,5,4,300).\r\n", [1068, 1324])
    pasv(b"227 Entering Passive Mode (198,51,0,25605,4,10).\r\n", [1034])
    pasv(b"227 Entering Passive Mode (198,51,100,261,4,11).\r\n", [1035])
    port(b"PORT 192,168,1,10,4,300\r\n", [1068, 1324])
    pasv(b"227 Entering Passive Mode (198,51,100,4294967301,4,12).\r\n", [1036])
    pasv(b"229 Entering Extended Passive Mode (|||67657|)\r\n", [2121], request=b"EPSV\r\n")
    port(b"EPRT |1|192.168.0.266|5001|\r\n", [5001])
    pasv(b"227 Entering Passive Mode (198,51,100,5,,150).\r\n", [150])
    flush(t, pkts)
    wrpcap("ftp-numbers-above-255.pcap", pkts)


# Question: when a valid 227 cannot be expected (the same data connection is
# already expected by another FTP session: a clash) and its segment is
# dropped, does the helper still remember that segment's end as a line
# start? Two control connections from the same client; the first expects
# port 50080; the second announces 50080 too (clash), then, in its next
# reply segment, 50081, whose data connection follows: RELATED if Linux
# remembered the line end. Then the first session's data connection to
# 50080. What Linux 6.18 does (the oracle's verdicts): the clashing 227 is
# dropped ("cannot add expectation"), its line end is remembered all the
# same: both data connections are RELATED, each with its own master.
def expect_clash_then_valid():
    t, c, s = ftp_session()
    t2 = Tcp(None, c, s, 50001, 21)
    t2.handshake()
    t2.send(False, "PA", b"220 ready\r\n")
    t2.send(True, "PA", b"USER anonymous\r\n")
    t2.send(False, "PA", b"331 password please\r\n")
    t2.send(True, "PA", b"PASS x\r\n")
    t2.send(False, "PA", b"230 logged in\r\n")
    pkts = []
    t.send(True, "PA", b"PASV\r\n")
    t.send(False, "PA", b"227 Entering Passive Mode (198,51,100,5,195,160).\r\n")
    flush(t, pkts)
    flush(t2, pkts)
    t2.send(True, "PA", b"PASV\r\n")
    t2.send(False, "PA", b"227 Entering Passive Mode (198,51,100,5,195,160).\r\n")  # clash
    t2.send(True, "PA", b"PASV\r\n")
    t2.send(False, "PA", b"227 Entering Passive Mode (198,51,100,5,195,161).\r\n")  # the next reply segment
    t2.send(True, "PA", b"LIST\r\n")
    flush(t2, pkts)
    data_conn(pkts, c, s, 50125, 50081)
    t2.send(False, "PA", b"226 Transfer complete\r\n")
    flush(t2, pkts)
    t.send(True, "PA", b"LIST\r\n")
    flush(t, pkts)
    data_conn(pkts, c, s, 50124, 50080)
    t.send(False, "PA", b"226 Transfer complete\r\n")
    flush(t, pkts)
    wrpcap("ftp-expect-clash-then-valid.pcap", pkts)


# Question: what do PORT and 227 (IPv4 forms) do on an IPv6 control
# connection? Client 2001:db8::10, server 2001:db8::5; 32,1,13,184 is
# 2001:0db8, the first four bytes of both addresses.
#   1. PORT 1,2,3,4,4,1, then in the next command segment
#      PORT 32,1,13,184,4,2: server connection from port 20 to 1026.
#   2. 227 (32,1,13,184,4,3): connection to 1027.
#   3. 227 (198,51,100,5,4,4): connection to 1028.
# What Linux 6.18 does (the oracle's verdicts): no segment is dropped. The
# four numbers replace the first four bytes of the sender's address
# (try_rfc959() writes them over the IPv4 part of the address, which
# help() starts from the sender's): 1026 and 1027 are RELATED, 1028 NEW.
def port_227_over_ipv6():
    t, c, s = ftp_session(v6=True)
    pkts = []
    t.send(True, "PA", b"PORT 1,2,3,4,4,1\r\n")
    t.send(False, "PA", b"200 PORT ok\r\n")
    t.send(True, "PA", b"PORT 32,1,13,184,4,2\r\n")
    t.send(False, "PA", b"200 PORT ok\r\n")
    t.send(True, "PA", b"LIST\r\n")
    flush(t, pkts)
    data_conn(pkts, c, s, 1026, 20, v6=True, client_opens=False)
    t.send(False, "PA", b"226 Transfer complete\r\n")
    for n, port in ((b"32,1,13,184,4,3", 1027), (b"198,51,100,5,4,4", 1028)):
        t.send(True, "PA", b"PASV\r\n")
        t.send(False, "PA", b"227 Entering Passive Mode (" + n + b").\r\n")
        t.send(True, "PA", b"LIST\r\n")
        flush(t, pkts)
        data_conn(pkts, c, s, 50100 + port - 1000, port, v6=True)
        t.send(False, "PA", b"226 Transfer complete\r\n")
    flush(t, pkts)
    wrpcap("ftp-ipv6-port-227.pcap", pkts)


def tftp_write():
    c, s = "192.168.1.10", "198.51.100.5"
    u = lambda a, b, sp, dp, data: Ether(**MAC) / IP(src=a, dst=b) / UDP(sport=sp, dport=dp) / Raw(data)
    pkts = [
        u(c, s, 40000, 69, b"\x00\x02upload.bin\x00octet\x00"),   # WRQ
        u(s, c, 51000, 40000, b"\x00\x04\x00\x00"),                # ACK 0 from the new port
        u(c, s, 40000, 51000, b"\x00\x03\x00\x01" + b"x" * 100),   # DATA 1
        u(s, c, 51000, 40000, b"\x00\x04\x00\x01"),
        u(c, s, 40001, 69, b"\x00\x02again.bin\x00octet\x00"),     # second WRQ, other port
        u(c, s, 40001, 69, b"\x00\x02again.bin\x00octet\x00"),     # retransmitted
        u(s, c, 51001, 40001, b"\x00\x04\x00\x00"),
        u(s, c, 51002, 40001, b"\x00\x04\x00\x00"),                # a second server port: expectation used up
    ]
    wrpcap("tftp-write.pcap", pkts)


def sip_tcp_media():
    ua, px = "192.168.1.10", "198.51.100.20"
    t = Tcp(None, ua, px, 50600, 5060)
    t.handshake()
    sdp = (b"v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\n"
           b"m=audio 49170 RTP/AVP 0\r\n")
    inv = (b"INVITE sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.10:50600\r\n"
           b"From: <sip:alice@192.168.1.10>\r\nTo: <sip:bob@198.51.100.20>\r\nCall-ID: 1@192.168.1.10\r\n"
           b"CSeq: 1 INVITE\r\nContact: <sip:alice@192.168.1.10:50600;transport=tcp>\r\n"
           b"Content-Type: application/sdp\r\nContent-Length: " + str(len(sdp)).encode() + b"\r\n\r\n" + sdp)
    t.send(True, "PA", inv)
    sdp2 = (b"v=0\r\no=- 2 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
            b"m=audio 3456 RTP/AVP 0\r\n")
    ok = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.168.1.10:50600\r\nFrom: <sip:alice@192.168.1.10>\r\n"
          b"To: <sip:bob@198.51.100.20>\r\nCall-ID: 1@192.168.1.10\r\nCSeq: 1 INVITE\r\n"
          b"Contact: <sip:bob@198.51.100.20:5060;transport=tcp>\r\nContent-Type: application/sdp\r\n"
          b"Content-Length: " + str(len(sdp2)).encode() + b"\r\n\r\n" + sdp2)
    t.send(False, "PA", ok)
    ack = (b"ACK sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.10:50600\r\nCSeq: 1 ACK\r\n"
           b"Content-Length: 0\r\n\r\n")
    t.send(True, "PA", ack)
    u = lambda a, b, sp, dp: Ether(**MAC) / IP(src=a, dst=b) / UDP(sport=sp, dport=dp) / Raw(b"\x80" + b"\x00" * 20)
    pkts = t.pkts + [
        u(px, ua, 3456, 49170), u(ua, px, 49170, 3456),   # RTP both ways (proxy's stream first)
        u(px, ua, 3457, 49171),                           # RTCP
        u(px, ua, 7000, 49172),                           # not announced: NEW
    ]
    bye = (b"BYE sip:bob@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.10:50600\r\nCSeq: 2 BYE\r\n"
           b"Content-Length: 0\r\n\r\n")
    t.pkts = []
    t.send(True, "PA", bye)
    pkts += t.pkts + [u(ua, px, 49170, 3456)]
    wrpcap("sip-tcp-invite-media-bye.pcap", pkts)


def sip_invite(ua, px, cseq, media_port, content_length=None, v6=False):
    """An INVITE over TCP from `ua` to the proxy `px` whose SDP announces
    `ua`'s own address and `media_port`; `content_length` overrides the
    true Content-Length."""
    ip = "IP6" if v6 else "IP4"
    host = lambda a: "[%s]" % a if v6 else a
    sdp = ("v=0\r\no=- %d %d IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0\r\n" % (cseq, cseq, ip, ua, ip, ua, media_port)).encode()
    clen = len(sdp) if content_length is None else content_length
    return ("INVITE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/TCP %s:50600\r\n"
            "From: <sip:alice@%s>\r\nTo: <sip:bob@%s>\r\nCall-ID: 2@%s\r\n"
            "CSeq: %d INVITE\r\nContact: <sip:alice@%s:50600;transport=tcp>\r\n"
            "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n"
            % (host(px), host(ua), host(ua), host(px), host(ua), cseq, host(ua), clen)).encode() + sdp


def sip_bye_fin(t, ua, px, cseq, v6=False):
    """BYE, then both sides close with FIN."""
    host = lambda a: "[%s]" % a if v6 else a
    t.send(True, "PA", ("BYE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/TCP %s:50600\r\nCall-ID: 2@%s\r\n"
                        "CSeq: %d BYE\r\nContent-Length: 0\r\n\r\n" % (host(px), host(ua), host(ua), cseq)).encode())
    t.send(False, "A")
    t.send(True, "FA")
    t.send(False, "FA")
    t.send(True, "A")


def rtp(a, b, sp, dp, v6=False):
    return Ether(**MAC) / (IPv6(src=a, dst=b) if v6 else IP(src=a, dst=b)) / UDP(sport=sp, dport=dp) / Raw(b"\x80" + b"\x00" * 20)


# SIP over TCP, INVITEs whose Content-Length is 18446744073709551615 (2^64-1)
# and 18446744073709551610 (2^64-6), then a correct one. What Linux 6.18 does
# (the oracle's verdicts): sip_help_tcp() takes neither hostile INVITE as a
# message. Their segments pass (established, the signalling entry refreshed
# to the SIP timeout of 3600 s) but no expectation is set up for their media:
# the RTP to 49170 and 49172 is NEW. The correct INVITE is parsed as usual:
# the RTP to 49174 is RELATED (EXPECTED, master the signalling entry). BYE and
# the FIN close go as in any TCP connection; no expectation is left.
def sip_tcp_content_length_overflow():
    ua, px = "192.168.1.10", "198.51.100.20"
    t = Tcp(None, ua, px, 50600, 5060)
    t.handshake()
    t.send(True, "PA", sip_invite(ua, px, 1, 49170, content_length=2**64 - 1))
    t.send(False, "A")
    t.send(True, "PA", sip_invite(ua, px, 2, 49172, content_length=2**64 - 6))
    t.send(False, "A")
    t.send(True, "PA", sip_invite(ua, px, 3, 49174))         # true Content-Length
    t.send(False, "A")
    pkts = t.pkts + [rtp(px, ua, 40000 + p - 49170, p) for p in (49170, 49172, 49174)]
    t.pkts = []
    sip_bye_fin(t, ua, px, 4)
    wrpcap("sip-tcp-content-length-overflow.pcap", pkts + t.pkts)


# The same over IPv6, the hostile INVITEs after a correct one (media 49180).
# An INVITE that Linux parses first flushes the connection's media
# expectations (a second correct INVITE makes the RTP to 49180 NEW), yet here
# the RTP to 49180 stays RELATED: Linux 6.18 ignores the hostile INVITEs as a
# whole, flush included. The RTP to 49182 and 49184 is NEW.
def sip_tcp_content_length_overflow_v6():
    ua, px = "2001:db8::10", "2001:db8::20"
    t = Tcp(None, ua, px, 50600, 5060, v6=True)
    t.handshake()
    t.send(True, "PA", sip_invite(ua, px, 1, 49180, v6=True))  # true Content-Length
    t.send(False, "A")
    t.send(True, "PA", sip_invite(ua, px, 2, 49182, content_length=2**64 - 1, v6=True))
    t.send(False, "A")
    t.send(True, "PA", sip_invite(ua, px, 3, 49184, content_length=2**64 - 6, v6=True))
    t.send(False, "A")
    pkts = t.pkts + [rtp(px, ua, 40000 + p - 49180, p, v6=True) for p in (49180, 49182, 49184)]
    t.pkts = []
    sip_bye_fin(t, ua, px, 4, v6=True)
    wrpcap("sip-tcp-content-length-overflow-ipv6.pcap", pkts + t.pkts)


def sip_udp_msg(first_line, frm, to, call_id, cseq, method, sdp=b""):
    """A SIP message over UDP between the IPv6 hosts of
    sip_udp_ipv6_sdp_brackets(), with `sdp` as its body."""
    return (("%s\r\nVia: SIP/2.0/UDP [%s]:5060\r\nFrom: <sip:alice@[2001:db8::10]>;tag=a\r\n"
             "To: <sip:bob@[2001:db8::20]>\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
             "Contact: <sip:%s@[%s]:5060>\r\n%sContent-Length: %d\r\n\r\n"
             % (first_line, frm, call_id, cseq, method, "alice" if frm.endswith("10") else "bob", frm,
                "Content-Type: application/sdp\r\n" if sdp else "", len(sdp))).encode() + sdp)


def sdp_v6(addr, sess, port, o_brackets, c_brackets):
    o = "[%s]" % addr if o_brackets else addr
    c = "[%s]" % addr if c_brackets else addr
    return ("v=0\r\no=- %d %d IN IP6 %s\r\ns=-\r\nc=IN IP6 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\n" % (sess, sess, o, c, port)).encode()


# SIP over UDP and IPv6: a call whose SDP bodies write the addresses in
# brackets (c=IN IP6 [2001:db8::10], and in o=), a second call with them
# unbracketed (the control), a third with brackets in o= only. Media: RTP and
# RTCP to the announced ports, each from a source port of its own so that no
# stream is the reply of another. What Linux 6.18 does: sdp_parse_addr()
# knows no brackets, so the first call's c= lines hold no address; the SIP
# helper drops the INVITE and the 200 OK ("cannot parse SDP message", no
# entry confirmed) and the first call's RTP and RTCP are NEW. The ACK then
# creates the signalling entry. The other two calls' media is RELATED:
# brackets in o= do not matter (it is not read without NAT).
def sip_udp_ipv6_sdp_brackets():
    c, s = "2001:db8::10", "2001:db8::20"
    sip = lambda a, b, data: Ether(**MAC) / IPv6(src=a, dst=b) / UDP(sport=5060, dport=5060) / Raw(data)
    pkts = []
    for call, (cport, sport, o_br, c_br) in enumerate(((49170, 49180, True, True),
                                                        (49190, 49200, False, False),
                                                        (49210, 49220, True, False)), 1):
        cid = "%d@2001:db8::10" % call
        pkts += [
            sip(c, s, sip_udp_msg("INVITE sip:bob@[%s] SIP/2.0" % s, c, s, cid, 1, "INVITE",
                                  sdp_v6(c, call, cport, o_br, c_br))),
            sip(s, c, sip_udp_msg("SIP/2.0 200 OK", s, c, cid, 1, "INVITE", sdp_v6(s, 10 + call, sport, o_br, c_br))),
            sip(c, s, sip_udp_msg("ACK sip:bob@[%s] SIP/2.0" % s, c, s, cid, 1, "ACK")),
            rtp(s, c, 41000, cport, v6=True),          # RTP to the client
            rtp(s, c, 41001, cport + 1, v6=True),      # RTCP to the client
            rtp(c, s, 42000, sport, v6=True),          # RTP to the server
            rtp(c, s, 42001, sport + 1, v6=True),      # RTCP to the server
        ]
    wrpcap("sip-udp-ipv6-sdp-brackets.pcap", pkts)


# SIP over UDP and ICMP errors: OPTIONS from the client and the server's
# 200 OK (the SIP helper sets the entry's timeout to 3600 s), then, each a few
# seconds later and each followed after a pause by a UDP packet of the flow:
# an ICMP port unreachable sent by the client to the server, quoting a
# server->client datagram (RELATED in the ORIGINAL direction: nf_confirm()
# hands it to the helper), and one sent by the server to the client, quoting
# a client->server datagram (RELATED in the REPLY direction: no helper).
# Replay with --honour-gaps 10 so that the timeouts show which errors
# refresh the entry.
def sip_udp_icmp_error_refresh():
    from scapy.all import ICMP, IPerror, UDPerror
    c, s = "192.168.1.10", "198.51.100.20"
    hdrs = ("Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@192.168.1.10>;tag=a\r\n"
            "To: <sip:bob@198.51.100.20>\r\nCall-ID: 1@192.168.1.10\r\nCSeq: 1 OPTIONS\r\n")
    opts = ("OPTIONS sip:bob@198.51.100.20 SIP/2.0\r\n" + hdrs + "Content-Length: 0\r\n\r\n").encode()
    ok = ("SIP/2.0 200 OK\r\n" + hdrs + "Content-Length: 0\r\n\r\n").encode()
    sip = lambda a, b, data: Ether(**MAC) / IP(src=a, dst=b) / UDP(sport=5060, dport=5060) / Raw(data)
    unreach = lambda a, b, data: (Ether(**MAC) / IP(src=a, dst=b) / ICMP(type=3, code=3)
                                  / IPerror(src=b, dst=a) / UDPerror(sport=5060, dport=5060) / Raw(data))
    frames = [
        (0, sip(c, s, opts)),                 # 0: new, helper sip, 3600
        (1, sip(s, c, ok)),                   # 1: established reply
        (5, unreach(c, s, ok)),               # 2: related original (quotes s->c)
        (10, sip(c, s, opts)),                # 3: the flow, to read the timeout
        (15, unreach(s, c, opts)),            # 4: related reply (quotes c->s)
        (20, sip(c, s, opts)),                # 5: the flow, to read the timeout
    ]
    pkts = []
    for t, p in frames:
        p.time = 1700000000 + t
        pkts.append(p)
    wrpcap("sip-udp-icmp-error-refresh.pcap", pkts)


# ----------------------------------------------------------------------------
# IRC (nf_conntrack_irc.c), Amanda (nf_conntrack_amanda.c), SANE
# (nf_conntrack_sane.c). Replayed with --helpers irc,amanda,sane.
# ----------------------------------------------------------------------------

def ip_u32(a):
    return str(int.from_bytes(bytes(int(x) for x in a.split(".")), "big")).encode()


def tcp_conn(pkts, a, b, aport, bport, v6=False, data=True):
    """A TCP connection opened by `a`: handshake, one data segment, ACK."""
    d = Tcp(None, a, b, aport, bport, v6)
    d.handshake()
    if data:
        d.send(True, "PA", b"hello data\r\n")
        d.send(False, "A")
    pkts += d.pkts


def irc_session(c, s, cport=50000):
    t = Tcp(None, c, s, cport, 6667)
    t.handshake()
    t.send(True, "PA", b"NICK alice\r\nUSER alice 0 * :Alice\r\n")
    t.send(False, "PA", b":irc.example 001 alice :Welcome\r\n")
    return t


# IRC DCC: client 192.168.1.10 (3232235786) on the IRC server 198.51.100.5.
#   1. PRIVMSG with DCC SEND announcing the client's own address, port 5000:
#      a peer (any address, any port) connects to 192.168.1.10:5000.
#   2. lowercase "privmsg", leading blank line, DCC CHAT port 5001: a peer
#      connects to 5001.
#   3. The server (reply direction) sends a DCC SEND naming port 5002: no
#      expectation (only the client's messages are read).
#   4. DCC in the middle of a message text, not at its start (5003): none.
#   5. NOTICE instead of PRIVMSG (5004): none.
#   6. Two DCC SENDs in one segment (5005, 5006): only the first.
#   7. DCC TSEND (5007), SCHAT (5008), MOVE (5009), one segment each.
def irc_dcc():
    c, s = "192.168.1.10", "198.51.100.5"
    t = irc_session(c, s)
    pkts = []
    me = ip_u32(c)
    t.send(True, "PA", b"PRIVMSG bob :\x01DCC SEND report.pdf " + me + b" 5000 12345\x01\r\n")
    flush(t, pkts)
    tcp_conn(pkts, "203.0.113.7", c, 40000, 5000)
    t.send(True, "PA", b"\r\nprivmsg bob :\x01DCC CHAT chat " + me + b" 5001\x01\r\n")
    flush(t, pkts)
    tcp_conn(pkts, "203.0.113.8", c, 40001, 5001)
    t.send(False, "PA", b":bob!b@h PRIVMSG alice :\x01DCC SEND x " + me + b" 5002 1\x01\r\n")
    t.send(True, "PA", b"PRIVMSG bob :look \x01DCC SEND f " + me + b" 5003 1\x01\r\n")
    t.send(True, "PA", b"NOTICE bob :\x01DCC SEND f " + me + b" 5004 1\x01\r\n")
    t.send(True, "PA", b"PRIVMSG bob :\x01DCC SEND a " + me + b" 5005 1\x01\r\nPRIVMSG bob :\x01DCC SEND b " + me + b" 5006 1\x01\r\n")
    for kind, port in ((b"TSEND", 5007), (b"SCHAT", 5008), (b"MOVE", 5009)):
        t.send(True, "PA", b"PRIVMSG bob :\x01DCC " + kind + b" f " + me + b" " + str(port).encode() + b" 1\x01\r\n")
    flush(t, pkts)
    for port in range(5002, 5010):
        tcp_conn(pkts, "203.0.113.9", c, 41000 + port - 5000, port, data=False)
    wrpcap("irc-dcc-send-chat.pcap", pkts)


# IRC DCC naming another address (spoofing) or port 0: no expectation, the
# control segment passes. Then a valid one (6003) to show the connection is
# still read. Then the limit: nine DCC SENDs (6100..6108) in nine segments;
# max_dcc_channels (8 by default) keeps the newest eight: 6100 is NEW.
def irc_dcc_spoofed():
    c, s = "192.168.1.10", "198.51.100.5"
    t = irc_session(c, s)
    pkts = []
    me = ip_u32(c)
    t.send(True, "PA", b"PRIVMSG bob :\x01DCC SEND f " + ip_u32("10.9.9.9") + b" 6000 1\x01\r\n")
    t.send(True, "PA", b"PRIVMSG bob :\x01DCC SEND f " + ip_u32(s) + b" 6001 1\x01\r\n")
    t.send(True, "PA", b"PRIVMSG bob :\x01DCC SEND f " + me + b" 0 1\x01\r\n")
    t.send(True, "PA", b"PRIVMSG bob :\x01DCC SEND f " + me + b" 6003 1\x01\r\n")
    flush(t, pkts)
    tcp_conn(pkts, "203.0.113.7", "10.9.9.9", 40000, 6000, data=False)
    tcp_conn(pkts, "203.0.113.7", c, 40001, 6000, data=False)
    tcp_conn(pkts, "203.0.113.7", c, 40002, 6001, data=False)
    tcp_conn(pkts, "203.0.113.7", c, 40003, 6003, data=False)
    for port in range(6100, 6109):
        t.send(True, "PA", b"PRIVMSG bob :\x01DCC SEND f " + me + b" " + str(port).encode() + b" 1\x01\r\n")
    flush(t, pkts)
    for port in range(6100, 6109):
        tcp_conn(pkts, "203.0.113.7", c, 40000 + port, port, data=False)
    wrpcap("irc-dcc-spoofed-and-limit.pcap", pkts)


# Malformed and truncated DCC messages: none may expect anything or drop
# anything; a valid one at the end (7009) is expected.
#   no line end (7000); cut short (7001); no address token (7002);
#   address not a number (7003); address + 2^32 (wraps to the client's
#   address, 7004); port 65536+7005 (wraps to 7005); a blank-separated port
#   after several blanks (7006); "DCC SENDX" (7007).
def irc_dcc_malformed():
    c, s = "192.168.1.10", "198.51.100.5"
    t = irc_session(c, s)
    pkts = []
    me = ip_u32(c)
    wrap = str(int(me) + 2**32).encode()
    for payload in (
        b"PRIVMSG bob :\x01DCC SEND f " + me + b" 7000 1\x01",
        b"PRIVMSG bob :\x01DCC SEND f " + me[:4],
        b"PRIVMSG bob :\x01DCC SEND " + me + b"\x01\r\n",
        b"PRIVMSG bob :\x01DCC SEND f x" + me + b" 7003 1\x01\r\n",
        b"PRIVMSG bob :\x01DCC SEND f " + wrap + b" 7004 1\x01\r\n",
        b"PRIVMSG bob :\x01DCC SEND f " + me + b" " + str(65536 + 7005).encode() + b" 1\x01\r\n",
        b"PRIVMSG bob :\x01DCC SEND f " + me + b"    7006\x01\r\n",
        b"PRIVMSG bob :\x01DCC SENDX f " + me + b" 7007 1\x01\r\n",
        b"PRIVMSG bob :\x01DCC SEND f " + me + b" 7009 1\x01\r\n",
    ):
        t.send(True, "PA", payload)
        t.send(False, "A")
    flush(t, pkts)
    for port in (7000, 7001, 7002, 7003, 7004, 7005, 7006, 7007, 7009):
        tcp_conn(pkts, "203.0.113.7", c, 40000 + port - 7000, port, data=False)
    wrpcap("irc-dcc-malformed.pcap", pkts)


def amanda_udp(a, b, sp, dp, data, v6=False):
    return Ether(**MAC) / (IPv6(src=a, dst=b) if v6 else IP(src=a, dst=b)) / UDP(sport=sp, dport=dp) / Raw(data)


AMANDA_REQ = b"Amanda 2.6 REQ HANDLE 000-00000000 SEQ 1\nSECURITY USER amanda\nSERVICE sendbackup\n"


# Amanda: the backup server 198.51.100.5 asks the client 192.168.1.10 on
# UDP 10080; the client's reply names its DATA, MESG and INDEX ports; the
# server connects to each (RELATED). The master's timeout becomes 300 s after
# the reply. Then a second request whose reply names 50010 with DATA not a
# number (MESG 50011 not read either), and a request whose reply has no line
# end after CONNECT (50020). A CONNECT line sent by the server (original
# direction, 50030) is not read. Then the same over IPv6 (50040..50042).
def amanda_connect():
    srv, cl = "198.51.100.5", "192.168.1.10"
    rep = lambda ports: (b"Amanda 2.6 REP HANDLE 000-00000000 SEQ 1\nCONNECT " + ports +
                         b"\nOPTIONS features=ffff;\n")
    pkts = [
        amanda_udp(srv, cl, 850, 10080, AMANDA_REQ),
        amanda_udp(cl, srv, 10080, 850, b"Amanda 2.6 ACK HANDLE 000-00000000 SEQ 1\n"),
        amanda_udp(cl, srv, 10080, 850, rep(b"DATA 50000 MESG 50001 INDEX 50002")),
        amanda_udp(srv, cl, 850, 10080, b"Amanda 2.6 ACK HANDLE 000-00000000 SEQ 1\n"),
    ]
    for port in (50000, 50001, 50002):
        tcp_conn(pkts, srv, cl, 40000 + port - 50000, port)
    pkts += [
        amanda_udp(srv, cl, 851, 10080, AMANDA_REQ),
        amanda_udp(cl, srv, 10080, 851, rep(b"DATA x50010 MESG 50011 INDEX 50012")),
        amanda_udp(srv, cl, 852, 10080, AMANDA_REQ),
        amanda_udp(cl, srv, 10080, 852, b"Amanda 2.6 REP HANDLE 0 SEQ 1\nCONNECT DATA 50020 MESG 50021"),
        amanda_udp(srv, cl, 853, 10080, b"CONNECT DATA 50030 MESG 50031\n"),
    ]
    for port in (50010, 50011, 50012, 50020, 50021, 50030):
        tcp_conn(pkts, srv, cl, 41000 + port - 50000, port, data=False)
    s6, c6 = "2001:db8::5", "2001:db8::10"
    pkts += [
        amanda_udp(s6, c6, 850, 10080, AMANDA_REQ, v6=True),
        amanda_udp(c6, s6, 10080, 850, rep(b"DATA 50040 MESG 50041 INDEX 50042"), v6=True),
    ]
    for port in (50040, 50041, 50042):
        tcp_conn(pkts, s6, c6, 42000 + port - 50040, port, v6=True, data=False)
    wrpcap("amanda-connect.pcap", pkts)


# Amanda corner cases: port numbers are read from at most five characters
# and cut to 16 bits (DATA 99999 -> 34463; MESG 123456 -> 12345); port 0
# stops the reading (DATA 0: MESG 50101 not expected); keywords are found
# anywhere between CONNECT and the line end, in any order (INDEX before DATA);
# a keyword cut by the line end is not found; an empty reply.
def amanda_ports():
    srv, cl = "198.51.100.5", "192.168.1.10"
    pkts = []
    cases = [
        (860, b"CONNECT DATA 99999 MESG 123456\n", (34463, 12345, 12346)),
        (861, b"CONNECT DATA 0 MESG 50101\n", (50101,)),
        (862, b"xxCONNECT INDEX 50112 junk DATA 50110 MESG 50111\n", (50110, 50111, 50112)),
        (863, b"CONNECT DATA 50120 MES\nG 50121\n", (50120, 50121)),
        (864, b"", ()),
    ]
    for sport, reply, ports in cases:
        pkts.append(amanda_udp(srv, cl, sport, 10080, AMANDA_REQ))
        pkts.append(amanda_udp(cl, srv, 10080, sport, reply))
        for port in ports:
            tcp_conn(pkts, srv, cl, 40000 + port % 20000, port, data=False)
    wrpcap("amanda-ports.pcap", pkts)


def sane_req(code, extra=b""):
    return code.to_bytes(4, "big") + b"\x00\x00\x00\x00" + extra


def sane_start_reply(status, port, zero=0):
    return status.to_bytes(4, "big") + zero.to_bytes(2, "big") + port.to_bytes(2, "big") + \
        b"\x00\x00\x12\x34" + b"\x00\x00\x00\x00"


# SANE: client 192.168.1.10 to saned 198.51.100.5:6566. SANE_NET_INIT, then
# SANE_NET_START (code 7, 8 bytes) answered with status 0 and port 6600: the
# client connects to 6600 (RELATED). Then, each followed by a connection to
# its port: a reply with status 1 (6601), a reply with the zero field set
# (6602), a START followed by another request before the reply (6603), a
# START in 9 bytes (6604), a reply of 6 bytes (6605) then a full reply with
# no START before it (6606), a START whose reply is split in two segments
# (6607). Then the same over IPv6 (6610).
def sane_start():
    c, s = "192.168.1.10", "198.51.100.5"
    pkts = []
    t = Tcp(None, c, s, 50000, 6566)
    t.handshake()
    t.send(True, "PA", b"\x00\x00\x00\x00\x01\x00\x00\x03\x00\x00\x00\x06alice\x00")  # NET_INIT
    t.send(False, "PA", b"\x00\x00\x00\x00\x01\x00\x00\x03")
    t.send(True, "PA", sane_req(7))
    t.send(False, "PA", sane_start_reply(0, 6600))
    flush(t, pkts)
    tcp_conn(pkts, c, s, 40000, 6600)

    def case(req, replies, port):
        for r in req:
            t.send(True, "PA", r)
        for r in replies:
            t.send(False, "PA", r)
        flush(t, pkts)
        tcp_conn(pkts, c, s, 40000 + port - 6600, port, data=False)

    case([sane_req(7)], [sane_start_reply(1, 6601)], 6601)
    case([sane_req(7)], [sane_start_reply(0, 6602, zero=1)], 6602)
    case([sane_req(7), sane_req(5)], [sane_start_reply(0, 6603)], 6603)
    case([sane_req(7, b"\x00")], [sane_start_reply(0, 6604)], 6604)
    case([sane_req(7)], [sane_start_reply(0, 6605)[:6]], 6605)
    case([], [sane_start_reply(0, 6606)], 6606)
    r = sane_start_reply(0, 6607)
    case([sane_req(7)], [r[:4], r[4:]], 6607)
    c6, s6 = "2001:db8::10", "2001:db8::5"
    t6 = Tcp(None, c6, s6, 50001, 6566, v6=True)
    t6.handshake()
    t6.send(True, "PA", sane_req(7))
    t6.send(False, "PA", sane_start_reply(0, 6610))
    pkts += t6.pkts
    tcp_conn(pkts, c6, s6, 40010, 6610, v6=True)
    wrpcap("sane-start.pcap", pkts)



# IRC edge cases of the search (each offer in a segment of its own, each
# followed by a connection to its port):
#   5010: an offer naming another address ("1 2"), then a second " :" and a
#         valid offer further on: the search goes on past a refused offer.
#   5011: "SEND CHAT f ip port": SEND's arguments fail (address "f" = 0),
#         then CHAT is compared where SEND ended, and matches.
#   5012: the shortest offer the length rule allows (36 bytes).
#   5013: the same without its line end.
#   5014: "PRIVMSG :..." (the blank before ':' is PRIVMSG's own): no " :".
#   5015: "PRIVMSG  :..." (two blanks): found.
#   5016: lowercase "dcc send": not an offer.
#   5030..5032: segments of more than 4095 bytes whose line end is at byte
#         4100, 4094 and 4095 (0-based): is only the start searched?
# What Linux 6.18 does (the oracle's verdicts): 5012, 5015 and 5031 are
# RELATED, the others NEW: only the first 4095 bytes are searched
# (MAX_SEARCH_SIZE), the line end included. A forged offer ends the search: neither 5010
# nor 5011 is expected (the first offer of each names 0.0.0.1:2 and
# 0.0.0.0:0, logged as forged).
def irc_dcc_search():
    c, s = "192.168.1.10", "198.51.100.5"
    t = irc_session(c, s)
    pkts = []
    me = ip_u32(c)
    for payload in (
        b"PRIVMSG bob :\x01DCC SEND f 1 2 x :\x01DCC CHAT f " + me + b" 5010\x01\r\n",
        b"PRIVMSG bob :\x01DCC SEND CHAT f " + me + b" 5011\x01\r\n",
        b"PRIVMSG b :\x01DCC SEND f " + me + b" 5012\n",
        b"PRIVMSG b :\x01DCC SEND f " + me + b" 5013",
        b"PRIVMSG :\x01DCC SEND f " + me + b" 5014 1\x01\r\n",
        b"PRIVMSG  :\x01DCC SEND f " + me + b" 5015 1\x01\r\n",
        b"PRIVMSG bob :\x01dcc send f " + me + b" 5016 1\x01\r\n",
    ):
        t.send(True, "PA", payload)
        t.send(False, "A")
    for port, nl_at in ((5030, 4100), (5031, 4094), (5032, 4095)):
        offer = b"PRIVMSG bob :\x01DCC SEND f " + me + b" " + str(port).encode() + b" 1\x01"
        t.send(True, "PA", offer + b" " * (nl_at - len(offer)) + b"\n  ")
        t.send(False, "A")
    flush(t, pkts)
    for port in list(range(5010, 5017)) + [5030, 5031, 5032]:
        tcp_conn(pkts, "203.0.113.7", c, 40000 + port - 5000, port, data=False)
    wrpcap("irc-dcc-search.pcap", pkts)


# Expectations that cannot be added. Amanda: two requests from the server
# (ports 870, 871); the first reply expects DATA 50200; the second names
# DATA 50200 too (the same connection expected by another master: a clash)
# and MESG 50201: the packet is dropped, but MESG 50201 is expected all the
# same. Then a reply whose first CONNECT line names nothing and a second
# names 50210: only the first line is read. SANE: two control connections
# get the same START port 6620: the second reply is dropped; the data
# connection is RELATED to the first.
def expect_clashes():
    srv, cl = "198.51.100.5", "192.168.1.10"
    pkts = [
        amanda_udp(srv, cl, 870, 10080, AMANDA_REQ),
        amanda_udp(cl, srv, 10080, 870, b"CONNECT DATA 50200\n"),
        amanda_udp(srv, cl, 871, 10080, AMANDA_REQ),
        amanda_udp(cl, srv, 10080, 871, b"CONNECT DATA 50200 MESG 50201\n"),
        amanda_udp(srv, cl, 872, 10080, AMANDA_REQ),
        amanda_udp(cl, srv, 10080, 872, b"CONNECT foo\nCONNECT DATA 50210\n"),
    ]
    for port in (50201, 50200, 50210):
        tcp_conn(pkts, srv, cl, 40000 + port - 50000, port, data=False)
    a = Tcp(None, cl, srv, 50000, 6566)
    b = Tcp(None, cl, srv, 50001, 6566)
    a.handshake()
    b.handshake()
    for t in (a, b):
        t.send(True, "PA", sane_req(7))
        t.send(False, "PA", sane_start_reply(0, 6620))
        t.send(True, "A")
    pkts += a.pkts + b.pkts
    tcp_conn(pkts, cl, srv, 40020, 6620, data=False)
    wrpcap("helpers-expect-clash.pcap", pkts)


# ---------------------------------------------------------------------------
# PPTP (nf_conntrack_pptp.c, RFC 2637): control connection PNS 192.168.1.10
# to PAC 198.51.100.5 port 1723, then enhanced GRE (version 1) both ways.
# Captures replayed with --helpers pptp.

PNS, PAC = "192.168.1.10", "198.51.100.5"
PPTP_SIZES = {1: 144, 2: 144, 3: 4, 4: 4, 5: 4, 6: 16, 7: 156, 8: 20, 9: 208, 10: 12,
              11: 16, 12: 4, 13: 136, 14: 28, 15: 12}


def pptp_msg(kind, fields=(), size=None, cookie=0x1A2B3C4D, ptype=1, length=None):
    """A PPTP control message: header, control header, body of its type's
    size (or `size`), with (offset, bytes) fields written into the body."""
    import struct
    body = bytearray(PPTP_SIZES.get(kind, 0) if size is None else size)
    for at, b in fields:
        body[at:at + len(b)] = b
    total = 12 + len(body) if length is None else length
    return struct.pack(">HHIHH", total, ptype, cookie, kind, 0) + bytes(body)


def be16(v):
    return v.to_bytes(2, "big")


def sccrq():
    return pptp_msg(1, [(0, be16(0x100)), (4, b"\0\0\0\1"), (8, b"\0\0\0\1")])


def sccrp(result=1):
    return pptp_msg(2, [(0, be16(0x100)), (2, bytes([result]))])


def ocrq(cid, serial=1):
    return pptp_msg(7, [(0, be16(cid)), (2, be16(serial))])


def ocrp(cid, pcid, result=1):
    return pptp_msg(8, [(0, be16(cid)), (2, be16(pcid)), (4, bytes([result]))])


def gre_v1(src, dst, call_id, seq, payload=b"\xff\x03\x00\x21" + b"\x45" * 20):
    """An enhanced GRE packet (RFC 2637 section 4.1): key and sequence
    present, version 1, protocol PPP, payload length, the receiver's call id."""
    import struct
    hdr = struct.pack(">HHHHI", 0x3001, 0x880B, len(payload), call_id, seq)
    return Ether(**MAC) / IP(src=src, dst=dst, proto=47) / Raw(hdr + payload)


def pptp_session(cport=40000):
    t = Tcp(None, PNS, PAC, cport, 1723)
    t.handshake()
    t.send(True, "PA", sccrq())
    t.send(False, "PA", sccrp())
    return t


# Question: an outgoing call (Outgoing-Call-Request, -Reply "connected"):
# is the first GRE packet, PNS to PAC with the PAC's call id in its header,
# RELATED (its tuple keyed PNS id -> PAC id through the key map), and the
# PAC's answer (the PNS's call id in its header) the reply direction of the
# same entry? After Call-Clear-Request and Call-Disconnect-Notify, is the
# GRE entry gone and the key map with it (the next GRE packet NEW, a new
# entry)?
def pptp_outgoing_call():
    t = pptp_session()
    t.send(True, "PA", ocrq(0x0100))
    t.send(False, "PA", ocrp(0x0200, 0x0100))
    pkts = []
    flush(t, pkts)
    pkts.append(gre_v1(PNS, PAC, 0x0200, 1))
    pkts.append(gre_v1(PAC, PNS, 0x0100, 1))
    pkts.append(gre_v1(PNS, PAC, 0x0200, 2))
    pkts.append(gre_v1(PAC, PNS, 0x0100, 2))
    t.send(True, "PA", pptp_msg(5, [(0, b"\0\0\0\1")]))      # echo request
    t.send(False, "PA", pptp_msg(6, [(0, b"\0\0\0\1"), (4, b"\1")]))
    t.send(True, "PA", pptp_msg(15, [(0, be16(0x0200))]))   # set link info
    flush(t, pkts)
    pkts.append(gre_v1(PNS, PAC, 0x0200, 3))
    t.send(True, "PA", pptp_msg(12, [(0, be16(0x0100))]))   # call clear request
    flush(t, pkts)
    pkts.append(gre_v1(PAC, PNS, 0x0100, 3))                 # still the call's
    t.send(False, "PA", pptp_msg(13, [(0, be16(0x0200)), (2, b"\3")]))  # disconnect notify
    flush(t, pkts)
    pkts.append(gre_v1(PNS, PAC, 0x0200, 4))                 # call gone: NEW
    pkts.append(gre_v1(PAC, PNS, 0x0100, 4))
    t.send(True, "PA", pptp_msg(3, [(0, b"\1")]))            # stop session
    t.send(False, "PA", pptp_msg(4, [(0, b"\1")]))
    flush(t, pkts)
    wrpcap("pptp-outgoing-call.pcap", pkts)


# Question: an incoming call (Incoming-Call-Request from the PAC, -Reply
# from the PNS, -Connected from the PAC): is the first GRE packet, PAC to
# PNS, RELATED in the original direction of a new entry, the PNS's answer
# its reply? When the control connection ends (FIN both ways, then a new
# SYN on the same ports, which replaces the entry), do the GRE entry and
# the key map go with it?
def pptp_incoming_call():
    t = pptp_session(40001)
    t.send(False, "PA", pptp_msg(9, [(0, be16(0x0300)), (2, be16(7))]))
    t.send(True, "PA", pptp_msg(10, [(0, be16(0x0400)), (2, be16(0x0300)), (4, b"\1")]))
    t.send(False, "PA", pptp_msg(11, [(0, be16(0x0400))]))
    pkts = []
    flush(t, pkts)
    pkts.append(gre_v1(PAC, PNS, 0x0400, 1))
    pkts.append(gre_v1(PNS, PAC, 0x0300, 1))
    pkts.append(gre_v1(PAC, PNS, 0x0400, 2))
    t.send(True, "FA")
    t.send(False, "FA")
    t.send(True, "A")
    flush(t, pkts)
    pkts.append(gre_v1(PNS, PAC, 0x0300, 2))                 # master in TIME_WAIT: still keyed
    # The same ports again: the TIME_WAIT entry is replaced.
    pkts.append(Ether(**MAC) / IP(src=PNS, dst=PAC) / TCP(sport=40001, dport=1723, flags="S", seq=90000, window=64240))
    pkts.append(gre_v1(PNS, PAC, 0x0300, 3))                 # master gone: NEW
    pkts.append(gre_v1(PAC, PNS, 0x0400, 3))
    wrpcap("pptp-incoming-call.pcap", pkts)


# Question: which control messages are read? Each broken Outgoing-Call-
# Reply below would, if read, expect the GRE call 0x0a00 <-> 0x0b00, whose
# first GRE packet follows it (RELATED if expected, NEW if not).
#   1. one byte short of its structure (length field right);
#   2. the magic cookie wrong;
#   3. message type 2 (not control);
#   4. the peer's call id not the PNS's;
#   5. result code 2 (not connected);
#   6. the length field wrong (not checked);
# then, after a new Outgoing-Call-Request, a right reply whose GRE is
# RELATED. Also: an Outgoing-Call-Request before the session is confirmed
# (ignored), a header of 11 bytes, and GRE version 1 with another protocol.
def pptp_malformed():
    t = Tcp(None, PNS, PAC, 40002, 1723)
    t.handshake()
    pkts = []
    t.send(True, "PA", ocrq(0x0a00))                         # before the session
    t.send(True, "PA", sccrq()[:11])                         # 11 bytes
    t.send(True, "PA", sccrq())
    t.send(False, "PA", sccrp())
    t.send(False, "PA", ocrp(0x0b00, 0x0a00))                # no request yet: out of place
    flush(t, pkts)
    pkts.append(gre_v1(PNS, PAC, 0x0b00, 1))
    cases = [
        ocrp(0x0b01, 0x0a01)[:-1],
        pptp_msg(8, [(0, be16(0x0b02)), (2, be16(0x0a02)), (4, b"\1")], cookie=0x1A2B3C4E),
        pptp_msg(8, [(0, be16(0x0b03)), (2, be16(0x0a03)), (4, b"\1")], ptype=2),
        ocrp(0x0b04, 0x0aff),
        ocrp(0x0b05, 0x0a05, result=2),
    ]
    for k, reply in enumerate(cases, start=1):
        t.send(True, "PA", ocrq(0x0a00 + k))
        t.send(False, "PA", reply)
        flush(t, pkts)
        pkts.append(gre_v1(PNS, PAC, 0x0b00 + k, 1))
    t.send(True, "PA", ocrq(0x0a06))
    t.send(False, "PA", pptp_msg(8, [(0, be16(0x0b06)), (2, be16(0x0a06)), (4, b"\1")], length=9999))
    flush(t, pkts)
    pkts.append(gre_v1(PNS, PAC, 0x0b06, 1))
    pkts.append(gre_v1(PAC, PNS, 0x0a06, 1))
    # GRE version 1 carrying IPv4 rather than PPP: INVALID.
    import struct
    pkts.append(Ether(**MAC) / IP(src=PNS, dst=PAC, proto=47) / Raw(struct.pack(">HHHHI", 0x3001, 0x0800, 4, 0x0b06, 9) + b"abcd"))
    wrpcap("pptp-malformed.pcap", pkts)


# Question: a second call on the same control connection (Linux keeps one
# call's key map per connection): a retransmitted Outgoing-Call-Reply of the
# first call (refreshes its expectations, keeps its key map), then another
# call 0x0c00 <-> 0x0d00. Its key map entry cannot be added (the first
# call's is there), so its expectations are withdrawn, and the first call's
# were evicted by max_expected 2: GRE of both calls NEW; the first call's
# still keyed by the key map.
def pptp_second_call():
    t = pptp_session(40003)
    t.send(True, "PA", ocrq(0x0100))
    t.send(False, "PA", ocrp(0x0200, 0x0100))
    t.send(False, "PA", ocrp(0x0200, 0x0100))                # retransmitted
    t.send(True, "PA", ocrq(0x0c00))
    t.send(False, "PA", ocrp(0x0d00, 0x0c00))
    pkts = []
    flush(t, pkts)
    pkts.append(gre_v1(PNS, PAC, 0x0d00, 1))
    pkts.append(gre_v1(PAC, PNS, 0x0c00, 1))
    pkts.append(gre_v1(PNS, PAC, 0x0200, 1))
    pkts.append(gre_v1(PAC, PNS, 0x0100, 1))
    wrpcap("pptp-second-call.pcap", pkts)


# Question: an ICMP error about an enhanced GRE packet: is the quoted
# packet's tuple keyed through the key map (then RELATED to the call's GRE
# entry), in both directions? And about a GRE packet of no call (source key
# 0, an entry of its own)?
def pptp_icmp_error():
    from scapy.all import ICMP
    t = pptp_session(40010)
    t.send(True, "PA", ocrq(0x0100))
    t.send(False, "PA", ocrp(0x0200, 0x0100))
    pkts = []
    flush(t, pkts)
    to_pac = gre_v1(PNS, PAC, 0x0200, 1)
    to_pns = gre_v1(PAC, PNS, 0x0100, 1)
    pkts += [to_pac, to_pns]
    # The PAC's network says the PNS's packet could not be delivered, and
    # the other way round.
    pkts.append(Ether(**MAC) / IP(src=PAC, dst=PNS) / ICMP(type=3, code=1) / bytes(to_pac[IP])[:28])
    pkts.append(Ether(**MAC) / IP(src=PNS, dst=PAC) / ICMP(type=3, code=1) / bytes(to_pns[IP])[:28])
    other = gre_v1(PNS, PAC, 0x0777, 1)
    pkts.append(other)
    pkts.append(Ether(**MAC) / IP(src=PAC, dst=PNS) / ICMP(type=3, code=1) / bytes(other[IP])[:28])
    wrpcap("pptp-icmp-error.pcap", pkts)


# The numbers and ports of SIP as Linux 6.18 reads them since 6.18.33
# ("netfilter: nf_conntrack_sip: don't use simple_strtoul"): a URI port must
# be 1-5 digits, 1024-65535, and a header naming another is passed over for
# the next one of its name; numbers are decimal, at most 11 digits and at
# most 2^32-1, else no number. Each case on its own signalling flow (UA port
# 5061-5068 to the proxy's 5060), its outcome shown by a probe from the peer
# (RELATED if the helper expected it):
#  A. REGISTER, a Contact on port 80, then one on 5070, Expires 3600; the
#     200 OK names 5070: the second is registered, the probe to 5070 RELATED
#     (before: "cannot parse contact", the REGISTER dropped).
#  B. REGISTER whose only Contact is on port 70000: passed, nothing expected.
#  C. INVITE whose first audio port is 4294967297 (no number: the medium is
#     skipped, not "wrong port"), the second 49180: RELATED.
#  D. INVITE whose audio port has 12 digits (000000049190): skipped, NEW.
#  E. INVITE with CSeq 4294967297: "cannot get cseq", dropped; 49200 NEW.
#  F. A 200 answer whose code is 4294967496: "cannot get code", dropped; the
#     media it announces (49220) NEW, the INVITE's (49210) RELATED.
#  G. REGISTER with ;expires=0x10 (decimal: 0, no registration) then a 200 OK
#     with Expires 3600: nothing to refresh, the probe to 5080 NEW.
#  H. REGISTER with Expires 4294967297 (no number: 0), then a 200 OK whose
#     Contact says ;expires=3600: nothing registered, the probe to 5090 NEW.
#  J. SIP over TCP: an INVITE whose Content-Length would make a 32-bit sum
#     of the message's length wrap to a length inside the headers, just past
#     lines that read as SDP (v=, c=, m=audio 49230). Linux does not wrap:
#     the message runs past the segment and is not taken; the probe to 49230
#     is NEW. (The same lines with Content-Length 0 are taken as SDP.)
def sip_numbers_and_ports():
    ua, px = "192.168.1.10", "198.51.100.20"
    pkts = []

    def sip(uport, from_ua, text):
        a, b, sp, dp = (ua, px, uport, 5060) if from_ua else (px, ua, 5060, uport)
        pkts.append(Ether(**MAC) / IP(src=a, dst=b) / UDP(sport=sp, dport=dp) / Raw(text.encode()))

    def probe(src, dst, sport, dport):
        pkts.append(rtp(src, dst, sport, dport))

    def hdrs(uport, method, cseq):
        return ("Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%d\r\nFrom: <sip:alice@%s>;tag=1\r\n"
                "To: <sip:bob@%s>\r\nCall-ID: %d@%s\r\nCSeq: %s %s\r\n"
                % (ua, uport, uport, ua, px, uport, ua, cseq, method))

    def sdp(addr, *ports):
        body = "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n" % (addr, addr)
        body += "".join("m=audio %s RTP/AVP 0\r\n" % p for p in ports)
        return "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    def register(uport, contacts, extra=""):
        sip(uport, True, "REGISTER sip:%s SIP/2.0\r\n" % px + hdrs(uport, "REGISTER", 1) + contacts + extra
            + "Content-Length: 0\r\n\r\n")

    def registered(uport, contact, extra=""):
        sip(uport, False, "SIP/2.0 200 OK\r\n" + hdrs(uport, "REGISTER", 1) + contact + extra
            + "Content-Length: 0\r\n\r\n")

    # A
    register(5061, "Contact: <sip:alice@%s:80>\r\nContact: <sip:alice@%s:5070>\r\n" % (ua, ua), "Expires: 3600\r\n")
    registered(5061, "Contact: <sip:alice@%s:5070>;expires=3600\r\n" % ua)
    probe(px, ua, 40001, 5070)
    # B
    register(5062, "Contact: <sip:alice@%s:70000>\r\n" % ua, "Expires: 3600\r\n")
    # C
    invite = lambda uport, cseq, *ports: sip(uport, True, "INVITE sip:bob@%s SIP/2.0\r\n" % px
                                            + hdrs(uport, "INVITE", cseq) + sdp(ua, *ports))
    invite(5063, 1, 4294967297, 49180)
    probe(px, ua, 40002, 49180)
    # D
    invite(5064, 1, "000000049190")
    probe(px, ua, 40003, 49190)
    # E
    invite(5065, 4294967297, 49200)
    probe(px, ua, 40004, 49200)
    # F
    invite(5066, 1, 49210)
    sip(5066, False, "SIP/2.0 4294967496 OK\r\n" + hdrs(5066, "INVITE", 1) + sdp(px, 49220))
    probe(ua, px, 40005, 49220)
    probe(px, ua, 40006, 49210)
    # G
    register(5067, "Contact: <sip:alice@%s:5080>;expires=0x10\r\n" % ua)
    registered(5067, "Contact: <sip:alice@%s:5080>\r\n" % ua, "Expires: 3600\r\n")
    probe(px, ua, 40007, 5080)
    # H
    register(5068, "Contact: <sip:alice@%s:5090>\r\n" % ua, "Expires: 4294967297\r\n")
    registered(5068, "Contact: <sip:alice@%s:5090>;expires=3600\r\n" % ua)
    probe(px, ua, 40008, 5090)
    # J
    t = Tcp(None, ua, px, 50601, 5060)
    t.handshake()
    head = lambda clen: ("INVITE sip:bob@%s SIP/2.0\r\nCSeq: 1 INVITE\r\nContent-Length: %d\r\n"
                         "v=0\r\nc=IN IP4 %s\r\nm=audio 49230 RTP/AVP 0\r\nX-Pad: aaaa\r\n\r\n" % (px, clen, ua))
    text = head(4000000000)
    msglen = text.index("X-Pad") + 3
    clen = 2**32 - len(text) + msglen
    assert len(str(clen)) == 10 and (len(head(clen)) + clen) % 2**32 == msglen
    t.send(True, "PA", head(clen).encode())
    t.send(False, "A")
    pkts += t.pkts + [rtp(px, ua, 40009, 49230)]
    wrpcap("sip-numbers-and-ports.pcap", pkts)


BUILDERS = {
    "ftp-split-commands": split_commands,
    "ftp-pasv-names-other-host": pasv_other_host,
    "ftp-ipv6-eprt-epsv": eprt_epsv_v6,
    "ftp-third-party-then-valid": third_party_then_valid,
    "ftp-numbers-above-255": numbers_above_255,
    "ftp-expect-clash-then-valid": expect_clash_then_valid,
    "ftp-ipv6-port-227": port_227_over_ipv6,
    "tftp-write": tftp_write,
    "sip-tcp-invite-media-bye": sip_tcp_media,
    "sip-tcp-content-length-overflow": sip_tcp_content_length_overflow,
    "sip-tcp-content-length-overflow-ipv6": sip_tcp_content_length_overflow_v6,
    "sip-udp-ipv6-sdp-brackets": sip_udp_ipv6_sdp_brackets,
    "sip-udp-icmp-error-refresh": sip_udp_icmp_error_refresh,
    "sip-numbers-and-ports": sip_numbers_and_ports,
    "irc-dcc-send-chat": irc_dcc,
    "irc-dcc-spoofed-and-limit": irc_dcc_spoofed,
    "irc-dcc-malformed": irc_dcc_malformed,
    "amanda-connect": amanda_connect,
    "amanda-ports": amanda_ports,
    "sane-start": sane_start,
    "irc-dcc-search": irc_dcc_search,
    "helpers-expect-clash": expect_clashes,
    "pptp-outgoing-call": pptp_outgoing_call,
    "pptp-incoming-call": pptp_incoming_call,
    "pptp-malformed": pptp_malformed,
    "pptp-second-call": pptp_second_call,
    "pptp-icmp-error": pptp_icmp_error,
}


if __name__ == "__main__":
    # craft.py [NAME...]: build the named captures (default: all of them;
    # rebuilding a capture gives it new timestamps).
    import sys
    for name in sys.argv[1:] or BUILDERS:
        BUILDERS[name]()
