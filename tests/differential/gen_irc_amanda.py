#!/usr/bin/env python3
"""Random IRC DCC offers and Amanda CONNECT replies, with probes.
usage: gen_irc_amanda.py SEED OUT.pcap"""
from flows import TcpConn, begin, finish
from scapy.all import IP, TCP, UDP, Raw

seed, R, cap = begin()
CL, SV, OTHER = "192.168.1.10", "198.51.100.7", "203.0.113.9"


def u32(a):
    x = 0
    for p in a.split("."):
        x = x * 256 + int(p)
    return x


def num(v):
    c = R.random()
    if c < 0.75:
        return str(v)
    return R.choice(["0" + str(v), str(v + 2**32), str(v + 65536), "", "x", "+" + str(v), "-1", str(v) * 2,
                     "99999999999999999999", "0000000000" + str(v)])


def syn(src, dst, dport):
    cap.add(IP(src=src, dst=dst) / TCP(sport=R.randrange(1024, 65536), dport=dport, flags="S",
                                       seq=R.randrange(1 << 32), window=65535))


def irc():
    c = TcpConn(cap, R, CL, SV, R.randrange(30000, 60000), 6667)
    c.send(True, b"NICK alice\r\n")
    c.send(False, b":srv 001 alice :Welcome\r\n")
    ports = []
    for _ in range(R.randrange(1, 8)):
        kind = R.choice(["SEND", "SEND", "CHAT", "MOVE", "TSEND", "SCHAT", "send", "RESUME", "SENDX"])
        port = R.choice([R.randrange(1024, 65536)] * 6 + [0, 1, 65535])
        ports.append(port)
        ip = u32(CL) if R.random() < 0.8 else R.choice([u32(SV), u32(OTHER), u32(CL) + 2**32, 0])
        arg = R.choice(["file.txt", "chat", "a", "", "x" * 20, "\"my file\""])
        sp = R.choice([" ", " ", "  ", "\t"])
        text = "\x01DCC %s %s%s%s%s%s" % (kind, arg, R.choice([" ", " ", ""]), num(ip), sp, num(port))
        if R.random() < 0.7:
            text += " %d" % R.randrange(100000)
        if R.random() < 0.9:
            text += "\x01"
        pre = R.choice(["PRIVMSG bob :", "PRIVMSG bob :", "privmsg bob :", "NOTICE bob :", "PRIVMSG bob : ",
                        "\r\nPRIVMSG bob :", "PRIVMSG bob x :", "PRIVMSG #c :hi :"])
        line = pre + text + R.choice(["\r\n", "\r\n", "\n", "", "\r"])
        if R.random() < 0.15:
            line += "PRIVMSG bob :\x01DCC SEND f %d %d\x01\r\n" % (u32(CL), R.randrange(1024, 65536))
        c.send(True if R.random() < 0.9 else False, line.encode())
        if R.random() < 0.7:
            p = R.choice(ports)
            if R.random() < 0.1:
                p = (p + 1) % 65536
            if p:
                syn(R.choice([SV, OTHER]), CL, p)


def amanda():
    for _ in range(R.randrange(1, 4)):
        sport = R.randrange(600, 1024)
        cap.add(IP(src=SV, dst=CL) / UDP(sport=sport, dport=10080) /
                Raw(b"Amanda 2.6 REQ HANDLE 000-0 SEQ 1\nSERVICE sendbackup\n"))
        parts = []
        for kw in R.sample(["DATA", "MESG", "INDEX", "DATA", "FOO"], R.randrange(0, 5)):
            port = R.choice([R.randrange(1024, 65536)] * 5 + [0, 99999, 123456, 65536])
            parts.append("%s%s%s" % (kw, R.choice([" ", " ", "  ", ""]), num(port)))
        line = R.choice(["CONNECT ", "CONNECT ", "xxCONNECT ", "connect ", "CONNECT"]) + " ".join(parts)
        body = R.choice(["Amanda 2.6 REP HANDLE 000-0 SEQ 1\n", ""]) + line + R.choice(["\n", "\n", "", "\r\n"])
        cap.add(IP(src=CL, dst=SV) / UDP(sport=10080, dport=sport) / Raw(body.encode()))
        import re
        for p in re.findall(r"\d+", line):
            p = int(p) % 65536
            if p and R.random() < 0.6:
                syn(SV, CL, p)


irc() if seed % 2 == 0 else amanda()
finish(cap)
