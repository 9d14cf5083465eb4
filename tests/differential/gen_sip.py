#!/usr/bin/env python3
"""Random SIP exchanges (UDP and TCP, IPv4 and IPv6) with probes
of the expectations they should create. usage: gen_sip.py SEED OUT.pcap"""
from flows import TcpConn, begin, finish
from scapy.all import IP, IPv6, TCP, UDP, Raw

seed, R, cap = begin()
V6 = R.random() < 0.25
UA, PX, OTHER = ("2001:db8::10", "2001:db8::20", "2001:db8::99") if V6 else (
    "192.168.1.10", "198.51.100.20", "203.0.113.9")
TRANSPORT = "TCP" if R.random() < 0.3 else "UDP"
UA_PORT = R.choice([5060, 5060, 5062, 40000 + R.randrange(1000)])
PX_PORT = 5060
L3 = (lambda s, d: IPv6(src=s, dst=d)) if V6 else (lambda s, d: IP(src=s, dst=d))


def addr_text(a, brackets=True):
    if ":" in a and brackets:
        return "[%s]" % a
    return a


def pick_addr():
    c = R.random()
    if c < 0.45:
        return UA
    if c < 0.8:
        return PX
    if c < 0.9:
        return OTHER
    return R.choice(["10.0.0.1", "1.2.3", "999.1.1.1", "2001:db8::10", "example.com", "", "192.168.1.10x"])


def pick_port():
    return R.choice([None, None, 5060, 5062, R.randrange(1024, 65536), R.randrange(1024, 65536),
                     R.randrange(0, 1024), 65535, 65536, 70000, "abc", 1023, 1024])


def hname(full, compact=None):
    if compact and R.random() < 0.25:
        n = compact if R.random() < 0.7 else compact.upper()
    else:
        n = R.choice([full, full, full.lower(), full.upper()])
    sep = R.choice([":", ":", ": ", ": ", " : ", ":\t", ":  ", "\t:", ":\r\n "])
    return n + sep


def uri(a, port, params=""):
    p = "" if port is None else ":%s" % port
    user = R.choice(["alice@", "bob@", "", "x@"])
    scheme = R.choice(["sip:", "sip:", "sip:", "sips:", "SIP:"])
    return "%s%s%s%s%s" % (scheme, user, addr_text(a, R.random() < 0.9), p, params)


def via(sender):
    a = sender if R.random() < 0.7 else pick_addr()
    port = R.choice([None, 5060, UA_PORT, R.randrange(1024, 65536), 80, "x"]) if R.random() < 0.5 else None
    t = R.choice([TRANSPORT, TRANSPORT, "UDP", "TCP", "udp", "TLS"])
    p = "" if port is None else ":%s" % port
    sp = R.choice([" ", " ", "  ", "\t"])
    return hname("Via", "v") + "SIP/2.0/%s%s%s%s;branch=z9hG4bK%d\r\n" % (t, sp, addr_text(a), p, R.randrange(99999))


def contact(sender):
    n = R.choice([1, 1, 1, 2])
    items = []
    for _ in range(n):
        a = sender if R.random() < 0.7 else pick_addr()
        port = pick_port() if R.random() < 0.6 else None
        params = ""
        if R.random() < 0.4:
            params += ";transport=%s" % R.choice(["udp", "tcp", "UDP", "TCP", "sctp", "tls", TRANSPORT.lower()])
        inner = R.random() < 0.5
        if R.random() < 0.4:
            params_e = ";expires=%s" % R.choice([0, 60, 3600, 300, "x", 4294967296, 1])
        else:
            params_e = ""
        u = uri(a, port, params + (params_e if inner else ""))
        if R.random() < 0.8:
            items.append("<%s>%s" % (u, "" if inner else params_e))
        else:
            items.append(u + ("" if inner else params_e))
    if R.random() < 0.03:
        items = ["*"]
    return hname("Contact", "m") + ",".join(items) + "\r\n"


def sdp(sender):
    nl = "\r\n" if R.random() < 0.85 else R.choice(["\n", "\r"])
    fam = "IP6" if V6 else "IP4"
    if R.random() < 0.05:
        fam = R.choice(["IP4", "IP6", "ip4"])
    lines = ["v=0", "o=- %d 1 IN %s %s" % (R.randrange(1000), fam, sender), "s=-"]
    if R.random() < 0.75:
        lines.append("c=IN %s %s" % (fam, R.choice([sender, sender, sender, pick_addr()])))
    lines.append("t=0 0")
    for _ in range(R.choice([0, 1, 1, 1, 2, 2, 3, 4, 5])):
        t = R.choice(["audio", "audio", "video", "image", "application", "text", "Audio"])
        port = R.choice([R.randrange(1024, 65536), R.randrange(1024, 65536), 49170, 49171, 0, 500, 65535, 70000, "x"])
        fmt = "udptl t38" if t == "image" else "RTP/AVP 0"
        lines.append("m=%s %s %s" % (t, port, fmt))
        if R.random() < 0.3:
            lines.append("c=IN %s %s" % (fam, R.choice([sender, sender, pick_addr()])))
        if R.random() < 0.2:
            lines.append("a=rtpmap:0 PCMU/8000")
    if R.random() < 0.1:
        lines = lines[1:]
    return nl.join(lines) + nl


METHODS = ["INVITE", "INVITE", "ACK", "BYE", "REGISTER", "REGISTER", "UPDATE", "PRACK", "OPTIONS", "CANCEL"]
cseq_n = R.randrange(1, 20)
last = {}


def message(from_ua):
    global cseq_n
    sender, peer = (UA, PX) if from_ua else (PX, UA)
    response = R.random() < 0.4
    method = R.choice(METHODS)
    if response and method in last and R.random() < 0.7:
        n = last[method]
    else:
        cseq_n += R.choice([0, 1, 1, 1, 2])
        n = cseq_n
        if not response:
            last[method] = n
    m = method if R.random() < 0.85 else R.choice([method.lower(), method.capitalize()])
    if response:
        code = R.choice([100, 180, 183, 200, 200, 200, 202, 486, 603, 0, "abc", 299, 300])
        first = "%s %s %s" % (R.choice(["SIP/2.0", "SIP/2.0", "sip/2.0"]), code, "OK")
    else:
        first = "%s %s SIP/2.0" % (m, uri(peer, None))
    h = [first + "\r\n", via(sender)]
    if R.random() < 0.9:
        h.append(hname("From", "f") + "<%s>;tag=%d\r\n" % (uri(sender, None), R.randrange(99)))
        h.append(hname("To", "t") + "<%s>\r\n" % uri(peer, None))
    h.append(hname("Call-ID", "i") + "%d@%s\r\n" % (seed, addr_text(UA)))
    c = R.random()
    if c < 0.9:
        h.append(hname("CSeq") + "%d %s\r\n" % (n, m if R.random() < 0.9 else R.choice(METHODS)))
    elif c < 0.95:
        h.append(hname("CSeq") + "x %s\r\n" % m)
    if R.random() < 0.75:
        h.append(contact(sender))
    if R.random() < 0.3:
        h.append(hname("Expires") + "%s\r\n" % R.choice([0, 60, 3600, "x", 120]))
    body = ""
    if method in ("INVITE", "ACK", "UPDATE", "PRACK") and R.random() < 0.8 or R.random() < 0.1:
        body = sdp(sender)
        h.append(hname("Content-Type", "c") + "application/sdp\r\n")
    cl = len(body.encode())
    c = R.random()
    if TRANSPORT == "TCP":
        if c < 0.85:
            h.append(hname("Content-Length", "l") + "%d\r\n" % cl)
        elif c < 0.95:
            h.append(hname("Content-Length", "l") + "%d\r\n" % max(0, cl + R.choice([-5, 5, 100])))
    else:
        if c < 0.6:
            h.append(hname("Content-Length", "l") + "%d\r\n" % cl)
        elif c < 0.7:
            h.append(hname("Content-Length", "l") + "%d\r\n" % (cl + R.choice([-5, 5, 100])))
    R.shuffle(h[1:])  # header order (the first line stays)
    text = "".join(h) + "\r\n" + body
    return text.encode()


mentioned = set()  # (addr, port) pairs the messages named


def note_ports(data):
    """Remember the ports a message names (media pairs, URI ports), to probe."""
    import re
    txt = data.decode(errors="replace")
    for p in re.findall(r"m=\w+ (\d+)", txt):
        p = int(p)
        if 0 < p < 65536:
            mentioned.add(p & ~1)
            mentioned.add((p & ~1) + 1)
    for p in re.findall(r":(\d+)[;>,\r]", txt):
        p = int(p)
        if 0 < p < 65536:
            mentioned.add(p)


tcp = TcpConn(cap, R, UA, PX, UA_PORT, PX_PORT) if TRANSPORT == "TCP" else None


def send(from_ua, data):
    if tcp:
        tcp.send(from_ua, data)
    else:
        s, d = (UA, PX) if from_ua else (PX, UA)
        sp, dp = (UA_PORT, PX_PORT) if from_ua else (PX_PORT, UA_PORT)
        cap.add(L3(s, d) / UDP(sport=sp, dport=dp) / Raw(data))


def probe():
    if not mentioned:
        return
    for p in R.sample(sorted(mentioned), min(len(mentioned), R.choice([1, 2, 3, 4]))):
        c = R.random()
        if c < 0.4:
            src, dst = PX, UA
        elif c < 0.8:
            src, dst = UA, PX
        else:
            src, dst = OTHER, R.choice([UA, PX])
        if R.random() < 0.8:
            cap.add(L3(src, dst) / UDP(sport=R.randrange(1024, 65536), dport=p) / Raw(b"\x80" + bytes(11)))
        else:
            cap.add(L3(src, dst) / TCP(sport=R.randrange(1024, 65536), dport=p, flags="S", seq=R.randrange(1 << 31)))


for _ in range(R.randrange(1, 7)):
    from_ua = R.random() < 0.6
    data = message(from_ua)
    if tcp and R.random() < 0.15:
        data = data + message(from_ua)  # two messages in one segment
    note_ports(data)
    send(from_ua, data)
    if R.random() < 0.6:
        probe()
probe()
finish(cap)
