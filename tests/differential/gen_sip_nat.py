#!/usr/bin/env python3
"""Random SIP messages over UDP or TCP between a client and a server, one
of them behind NAT (source NAT of the client or destination NAT of the
server), as a scenario for nat_oracle.py: request lines, Via (with maddr=,
received=, rport=), Contact, From, To and SDP naming the client's own, its
public or other addresses and ports, in requests and answers both ways.
usage: gen_sip_nat.py SEED OUT.json"""
from nat_scenario import begin, finish, hosts

seed, R = begin()
FAMILY = 6 if R.random() < 0.3 else 4
CLIENT, SERVER, PUBLIC, OTHER = hosts(FAMILY)


def host(a, brackets=True):
    """An address as SIP writes it: IPv6 in brackets (or not, where a
    parameter may be either)."""
    return "[%s]" % a if ":" in a and brackets else a
TRANSPORT = "tcp" if R.random() < 0.25 else "udp"
# Source NAT of the client, or destination NAT of the server.
NAT = "dnat" if R.random() < 0.3 else "snat"
# Mostly 5060; sometimes a phone's high port (its Via then names 5060).
CLIENT_PORT = 5060 if R.random() < 0.7 else R.randrange(30000, 60000)


def hname(full, compact=None):
    if compact and R.random() < 0.2:
        n = compact
    else:
        n = R.choice([full, full, full, full.lower()])
    return n + R.choice([": ", ": ", ":", " : "])


def endpoint(from_client):
    """An address and port a message names: mostly one its sender knows
    (source NAT: the client's own end, or the client's public end that the
    server sees; destination NAT: the server's own end, or the server's
    public end that the client addresses), sometimes another."""
    if NAT == "snat":
        known = (CLIENT, R.choice([5060, CLIENT_PORT])) if from_client else (PUBLIC, 6000)
        other = [(SERVER, 5060), (PUBLIC if from_client else CLIENT, R.choice([5060, 6000]))]
    else:
        known = R.choice([(CLIENT, CLIENT_PORT), (PUBLIC, 6000)]) if from_client else (SERVER, 5060)
        other = [(CLIENT if from_client else PUBLIC, R.choice([5060, 6000])), (SERVER, 5060)]
    c = R.random()
    if c < 0.6:
        a, p = known
    elif c < 0.75:
        a, p = other[0]
    elif c < 0.85:
        a, p = other[1]
    else:
        a, p = OTHER, 5060
    port = R.choice([p, p, p, None, R.randrange(1024, 65536)])
    return a, port


def hostport(a, port):
    return host(a) if port is None else "%s:%d" % (host(a), port)


def via(from_client):
    a, port = endpoint(from_client)
    params = []
    for name in R.sample(["rport", "maddr", "received", "branch", "ttl"], R.randrange(0, 5)):
        if name == "rport":
            params.append(R.choice(["rport", "rport=%d" % R.choice([5060, 6000, 6000, R.randrange(1, 65536)]),
                                    "rport=x", "rport=%d" % (6000 + 65536)]))
        elif name == "maddr":
            params.append("maddr=%s" % host(R.choice([CLIENT, CLIENT, PUBLIC, SERVER, OTHER, "host.example"]),
                                            R.random() < 0.9))
        elif name == "received":
            params.append("received=%s" % host(R.choice([PUBLIC, PUBLIC, CLIENT, SERVER, OTHER, "1.2.3"]),
                                               R.random() < 0.3))
        elif name == "branch":
            params.append("branch=z9hG4bK%d" % R.randrange(99999))
        else:
            params.append("ttl=1")
    text = "SIP/2.0/%s %s" % (R.choice([TRANSPORT.upper()] * 2 + ["udp", "tcp"]), hostport(a, port))
    if params:
        text += ";" + ";".join(p.upper() if R.random() < 0.05 else p for p in params)
    if R.random() < 0.15:
        text += ", SIP/2.0/UDP %s;received=%s" % (hostport(OTHER, 5060), host(R.choice([PUBLIC, CLIENT]), False))
    return hname("Via", "v") + text + "\r\n"


def uri(a, port):
    return "sip:%s%s" % (R.choice(["alice@", "bob@", ""]), hostport(a, port))


def sdp(from_client):
    a, _ = endpoint(from_client)
    ip = "IP%d" % FAMILY
    lines = ["v=0", "o=- %d 1 IN %s %s" % (R.randrange(1000), ip, a), "s=-", "c=IN %s %s" % (ip, a), "t=0 0"]
    for _ in range(R.choice([1, 1, 2])):
        lines.append("m=%s %d RTP/AVP 0" % (R.choice(["audio", "video"]), R.randrange(10000, 60000, 2)))
    return "\r\n".join(lines) + "\r\n"


cseq = R.randrange(1, 50)


def message(from_client):
    global cseq
    response = R.random() < 0.45
    method = R.choice(["OPTIONS", "INVITE", "INVITE", "REGISTER", "REGISTER", "BYE", "ACK", "MESSAGE"])
    cseq += 1
    if response:
        first = "SIP/2.0 %d %s" % (R.choice([100, 180, 200, 200, 404]), "OK")
    else:
        a, port = endpoint(not from_client) if R.random() < 0.7 else endpoint(from_client)
        first = "%s %s SIP/2.0" % (method, uri(a, port))
    h = [via(from_client)]
    h.append(hname("From", "f") + "<%s>;tag=%d\r\n" % (uri(*endpoint(from_client)), R.randrange(99)))
    h.append(hname("To", "t") + "<%s>\r\n" % uri(*endpoint(not from_client)))
    h.append(hname("Call-ID", "i") + "%d@x\r\n" % seed)
    h.append(hname("CSeq") + "%d %s\r\n" % (cseq, method))
    if R.random() < 0.7:
        # A registration's lifetime: an expectation of calls to the contact.
        exp = ";expires=%d" % R.choice([0, 60, 3600]) if method == "REGISTER" and R.random() < 0.4 else ""
        h.append(hname("Contact", "m") + "<%s>%s\r\n" % (uri(*endpoint(from_client)), exp))
    if method == "REGISTER" and R.random() < 0.5:
        h.append(hname("Expires") + "%d\r\n" % R.choice([0, 3600, 3600]))
    body = ""
    if method == "INVITE" and R.random() < 0.6:
        body = sdp(from_client)
        h.append(hname("Content-Type", "c") + "application/sdp\r\n")
    h.append(hname("Content-Length", "l") + "%d\r\n" % len(body))
    if R.random() < 0.5:
        R.shuffle(h)
    return first + "\r\n" + "".join(h) + "\r\n" + body


def probe():
    """A new flow to a port of the public address that a message named (a
    medium, a contact), as an expected connection."""
    import re
    named = [int(p) for m in msgs for p in re.findall(r"(?:m=\w+ |:)(\d{4,5})\b", m["payload"])]
    inside = "client" if NAT == "snat" else "server"
    media = [int(p) for m in msgs if m["from"] == inside for p in re.findall(r"m=\w+ (\d+)", m["payload"])]
    if media and R.random() < 0.6:
        named = media
    port = R.choice(named + [6000, 5060]) if named else 6000
    port = min(port + R.choice([0, 0, 0, 1]), 65535)
    return {"from": "probe", "sport": R.randrange(1024, 65536), "port": port, "payload": "probe"}


msgs = [{"from": "client", "payload": message(True)}]
for _ in range(R.randrange(1, 6)):
    fc = R.random() < 0.5
    msgs.append({"from": "client" if fc else "server", "payload": message(fc)})
    if R.random() < 0.4:
        msgs.append(probe())
    if fc and "REGISTER" in msgs[-1]["payload"].split("\r\n", 1)[0] and R.random() < 0.5:
        msgs.append({"from": "server", "payload": "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s:6000\r\nCSeq: %d REGISTER\r\n"
                     "Contact: <sip:%s:%d>;expires=3600\r\nContent-Length: 0\r\n\r\n"
                     % (host(PUBLIC), cseq, host(PUBLIC), R.choice([6000, R.randrange(1024, 65536)]))})
finish({"seed": seed, "nat": NAT, "family": FAMILY, "transport": TRANSPORT, "client_port": CLIENT_PORT, "messages": msgs})
