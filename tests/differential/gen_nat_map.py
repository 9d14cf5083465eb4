#!/usr/bin/env python3
"""Random flows of a client behind plain source NAT (no helper), as a
scenario of nat_oracle.py's mapping mode: UDP datagrams or TCP connections
from a few source ports to a few server ports, or ICMP echo requests with a
few identifiers to a few of the server's addresses, in any order and
repeated, through a rule of one or a range of public addresses and one
port (identifier), a few, a hundred or none.
usage: gen_nat_map.py SEED OUT.json"""
from ipaddress import ip_address

from nat_scenario import begin, finish, hosts

seed, R = begin()
FAMILY = 6 if R.random() < 0.25 else 4
_, SERVER, PUBLIC, _ = hosts(FAMILY)
LOW = 6000
# The port range: one port (several sources to one server port exhaust
# it), a few, a hundred, or none (a free port is kept).
kind = R.choice(["one", "one", "few", "few", "wide", "wide", "wide", "none", "none"])
high = {"one": LOW, "few": LOW + R.randrange(1, 4), "wide": LOW + 99, "none": None}[kind]
ports = None if high is None else str(LOW) if high == LOW else "%d-%d" % (LOW, high)
n = R.choice([1, 1, 2, 3])
addrs = PUBLIC if n == 1 else "%s-%s" % (PUBLIC, ip_address(PUBLIC) + n - 1)
# Source ports outside the range, or inside it (kept where free). With a
# few ports, which ones the kernel picks at random decides whether two
# sources' ends coincide, and with it later choices: one source only.
inside = list(range(LOW, (high or LOW + 99) + 1))
sports = []
for _ in range(1 if kind == "few" else R.randrange(1, 5)):
    p = R.choice(inside) if R.random() < 0.3 else R.choice([5060, 5061, 5070, 40000, R.randrange(1024, 65536)])
    if p not in sports:
        sports.append(p)
dports = R.sample([53, 5060, 5061, 5062, 7000, 8080], R.randrange(1, 5))
flows = [{"sport": R.choice(sports), "dport": R.choice(dports)} for _ in range(R.randrange(2, 11))]
# The protocol last, so that a seed's UDP scenario is the one it was
# before there was a choice. ICMP takes the same draws: the source ports
# as identifiers (inside the range or not, repeated), each server port as
# one of the server's addresses (the server's own first).
proto = R.choice(["udp", "tcp", "icmp"])
if proto == "icmp":
    flows = [{"id": f["sport"], "dst": str(ip_address(SERVER) + dports.index(f["dport"]))} for f in flows]
finish({"seed": seed, "family": FAMILY, "proto": proto, "mapping": {"addrs": addrs, "ports": ports}, "flows": flows})
