#!/usr/bin/env python3
"""Random ICMP errors about a NATed flow, as a scenario of
nat_icmp_oracle.py: IPv4 or IPv6, source or destination NAT (with or
without a port range), a UDP, TCP or echo flow, answered or not, then one
to four errors of every type about it, from the server, a hop or a host
beyond, or from the client's side about the answer; their quotes whole,
cut short (to the classic 8 bytes, or to fewer than the ports or the
TCP checksum) or altered (another connection's ports or addresses, wrong
inner checksums, options, extension headers, fragments), their outer
headers with options, extension headers, a wrong checksum, a trailer in
the frame or a destination the connection does not name; now and then
with the router's nf_conntrack_checksum off.
usage: gen_nat_icmp.py SEED OUT.json"""
from nat_scenario import begin, finish

seed, R = begin()
FAMILY = 6 if R.random() < 0.4 else 4
nat = R.choice(["snat", "snat", "dnat"])
proto = R.choice(["udp", "udp", "tcp", "icmp"])
if nat == "snat":
    # A port range the client's port is in or not (ICMP: the
    # identifier's): the kernel picks the public end, which the replay
    # takes from what the server saw.
    ports = R.choice([None, None, "6000", "6000-6009", "40000-40010"])
elif proto == "icmp":
    ports = None
else:
    ports = R.choice([None, "5353", "8080"])
scenario = {"seed": seed, "family": FAMILY, "nat": nat, "proto": proto, "ports": ports}
if proto == "icmp":
    scenario["id"] = R.choice([R.randrange(65536), 6005, 1])
else:
    scenario["sport"] = R.choice([40000, 40005, 5060, 6003, R.randrange(1024, 65536)])
    scenario["dport"] = R.choice([53, 80, 443, 5060, 7000])
if proto != "tcp":
    # Odd and even lengths: the checksums' last word.
    scenario["data"] = bytes(R.randrange(256) for _ in range(R.randrange(0, 40))).hex()

# Types and codes, with the 4 bytes after the checksum they carry.
if FAMILY == 4:
    KINDS = [(3, c) for c in (0, 1, 2, 3, 4, 9, 10, 13)] + [(11, 0), (11, 1), (12, 0), (12, 2), (4, 0)]
    ODD = [(5, 1), (40, 0), (3, 3)]  # a redirect, a type past 18
else:
    KINDS = [(1, c) for c in (0, 1, 3, 4, 5, 6)] + [(2, 0), (3, 0), (3, 1), (4, 0), (4, 1), (4, 2)]
    ODD = [(100, 0), (127, 0), (1, 4)]  # unassigned error types


def rest(ty, code):
    if R.random() < 0.1:
        return bytes(R.randrange(256) for _ in range(4)).hex()
    if FAMILY == 4 and ty == 3 and code == 4:
        return "0000%04x" % R.choice([576, 1280, 1400, 1492])
    if FAMILY == 4 and ty == 12:
        return "%02x000000" % R.randrange(0, 40)
    if FAMILY == 6 and ty == 2:
        return "%08x" % R.choice([1280, 1400, 1480, 9000])
    if FAMILY == 6 and ty == 4:
        return "%08x" % R.randrange(0, 60)
    return "00000000"


ALTER = ["src", "dst", "proto", "l4sum", "ttl", "len", "version"]
ALTER += ["id"] if proto == "icmp" else ["sport", "dport"]
if proto == "udp":
    ALTER.append("l4sum0")
if FAMILY == 4:
    ALTER += ["ipsum", "mf", "offset"]


def quote():
    q = {}
    x = R.random()
    if x < 0.25:
        q["cut"] = 8
    elif x < 0.45:
        # Fewer bytes than the ports, the identifier or the UDP header,
        # around the TCP checksum (bytes 16-17), or some more.
        q["cut"] = R.choice([0, 2, 4, 6, 7, 12, 16, 17, 18, 19, 20, 24])
    if R.random() < 0.2:
        q["alter"] = R.sample(ALTER, R.choice([1, 1, 2]))
    if R.random() < 0.08:
        if FAMILY == 4:
            q["options"] = R.choice([4, 8])
        else:
            q["ext"] = True
    return q


def outer():
    out = {"ttl": R.choice([64, 255, R.randrange(2, 256)])}
    if FAMILY == 4:
        out["ident"] = R.randrange(65536)
        out["df"] = R.random() < 0.5
        if R.random() < 0.08:
            out["options"] = R.choice([4, 8, 12])
    elif R.random() < 0.1:
        out["ext"] = R.choice(["hbh", "dst"])
    if R.random() < 0.05:
        out["checksum"] = "bad"
    if R.random() < 0.08:
        out["trailer"] = R.randrange(1, 12)
    if R.random() < 0.05:
        out["to"] = "wrong"
    return out


errors = []
for _ in range(R.choice([1, 2, 2, 3, 3, 4])):
    who = R.choice(["server"] * 4 + ["hop"] * 2 + ["far", "client", "client_hop"])
    ty, code = R.choice(KINDS) if R.random() < 0.93 else R.choice(ODD)
    errors.append({"from": who, "type": ty, "code": code, "rest": rest(ty, code), "quote": quote(),
                   "outer": outer()})
scenario["errors"] = errors
# The client's side can only quote an answer.
scenario["answer"] = R.random() < 0.6 or any(e["from"].startswith("client") for e in errors)
# Now and then conntrack's checksum check off (drawn last, so that a
# seed's scenario is otherwise the one it was before): errors with a
# wrong checksum are related then, and what NAT does with them shows.
if R.random() < 0.15:
    scenario["conntrack_checksum"] = 0
    for e in errors:
        if R.random() < 0.3:
            e["outer"]["checksum"] = "bad"
finish(scenario)
