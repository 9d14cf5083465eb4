#!/usr/bin/env python3
"""Random FTP control sessions (IPv4 and IPv6) with PORT, EPRT,
227 and 229 variants, line splits, and probes of the expectations they
should create. usage: gen_ftp.py SEED OUT.pcap"""
from flows import TcpConn, begin, finish
from scapy.all import IP, IPv6, TCP

seed, R, cap = begin()
V6 = R.random() < 0.3
CL, SV, OTHER = ("2001:db8::10", "2001:db8::5", "2001:db8::99") if V6 else (
    "192.168.1.10", "198.51.100.5", "203.0.113.9")
CPORT = 40000 + R.randrange(20000)
L3 = (lambda s, d: IPv6(src=s, dst=d)) if V6 else (lambda s, d: IP(src=s, dst=d))
announced = []  # (from_client, port)


def num(v):
    c = R.random()
    if c < 0.8:
        return str(v)
    return R.choice(["0" + str(v), "00" + str(v), str(v + 256), str(v + 65536), str(v + 2**32), "", "x", " " + str(v),
                     "+" + str(v), "-" + str(v), str(v) + " "])


def v4_of(a):
    return a if not V6 else "192.168.1.10"


def pick_addr(own):
    c = R.random()
    if c < 0.75:
        return own
    return R.choice([SV if own == CL else CL, OTHER, "10.0.0.1", "192.168.1.10", "2001:db8::10"])


def port_pick():
    c = R.random()
    if c < 0.7:
        return R.randrange(1024, 65536)
    return R.choice([0, 1, 20, 65535, 65536, 70000, 1 << 20])


def comma_six(addr, port):
    if ":" in addr:
        parts = ["1", "2", "3", "4"]
    else:
        parts = addr.split(".")
    p1, p2 = (port >> 8), port & 0xff
    if R.random() < 0.1:
        p1, p2 = R.choice([(256, 0), (300, 5), (1, 256)])
    fields = [num(int(x)) for x in parts] + [num(p1), num(p2)]
    if R.random() < 0.08:
        fields = fields[:R.randrange(1, 6)]
    elif R.random() < 0.05:
        fields = fields + ["7"]
    sep = "," if R.random() < 0.95 else R.choice([", ", ".", ";"])
    return sep.join(fields)


def eol():
    return R.choice(["\r\n"] * 8 + ["\n", "\r", "", " \r\n"])


def delim():
    return R.choice(["|"] * 8 + ["!", "#", "1", " ", "\x7f", "(", "a"])


def client_line():
    kw = R.choice(["PORT", "PORT", "EPRT", "EPRT", "LIST", "RETR f", "PASV", "EPSV", "port", "Eprt", "NOOP"])
    port = port_pick()
    addr = pick_addr(CL)
    if kw.upper() == "PORT":
        announced.append((True, port))
        return "%s%s%s%s" % (kw, R.choice([" ", " ", "  ", ""]), comma_six(addr, port), eol())
    if kw.upper() == "EPRT":
        announced.append((True, port))
        d = delim()
        d3 = d if R.random() < 0.95 else R.choice(["|", "!"])
        fam = ("2" if ":" in addr else "1") if R.random() < 0.9 else R.choice(["1", "2", "3", "x", ""])
        a = addr if R.random() < 0.95 else R.choice(["1.2.3", "::ffff:192.168.1.10", "300.1.1.1", ""])
        return "%s %s%s%s%s%s%s%s%s" % (kw, d, fam, d3, a, d, num(port), d if R.random() < 0.95 else "", eol())
    return kw + eol()


def server_line():
    kw = R.choice(["227", "227", "229", "229", "200", "150", "226", "230"])
    port = port_pick()
    addr = pick_addr(SV)
    if kw == "227":
        announced.append((False, port))
        text = R.choice(["Entering Passive Mode (", "Entering Passive Mode ", "=", "ok (", ""])
        close = R.choice([")", ")", ").", "", " x"])
        return "227%s%s%s%s%s" % (R.choice([" ", " ", "-", ""]), text, comma_six(v4_of(addr), port), close, eol())
    if kw == "229":
        announced.append((False, port))
        d = delim()
        return "229%sEntering Extended Passive Mode %s%s%s%s%s%s%s%s" % (
            R.choice([" ", " ", "-"]), R.choice(["(", "(", "", "(("]), d, d, d if R.random() < 0.9 else "",
            num(port), d if R.random() < 0.93 else "", R.choice([")", ")", ""]), eol())
    return "%s %s%s" % (kw, R.choice(["OK", "Here comes the listing", "done"]), eol())


conn = TcpConn(cap, R, CL, SV, CPORT, 21)
conn.send(False, b"220 ready\r\n")
conn.send(True, b"USER anonymous\r\n")
conn.send(False, b"331 ok\r\n")
for _ in range(R.randrange(2, 10)):
    from_client = R.random() < 0.5
    text = client_line() if from_client else server_line()
    if R.random() < 0.15:
        text += client_line() if from_client else server_line()
    conn.send_split(from_client, text.encode(), R, 0.1)
    if announced and R.random() < 0.7:
        fc, port = announced[-1] if R.random() < 0.8 else R.choice(announced)
        dport = port % 65536 if R.random() < 0.85 else R.choice([port & 0xffff, (port + 1) % 65536, 20])
        if fc:  # the server connects to the client's port
            src, dst = (SV if R.random() < 0.9 else OTHER), CL
        else:
            src, dst = (CL if R.random() < 0.9 else OTHER), SV
        if dport:
            cap.add(L3(src, dst) / TCP(sport=R.choice([20, R.randrange(1024, 65536)]), dport=dport, flags="S",
                                       seq=R.randrange(1 << 32), window=65535))
finish(cap)
