#!/usr/bin/env python3
"""Random flows of a client to a router's public addresses, forwarded by
plain destination NAT (no helper) to a server, as a scenario of
nat_oracle.py's mapping mode with "nat": "dnat": UDP datagrams or TCP
connections from a few source ports to a few ports of one to three public
addresses, or ICMP echo requests with a few identifiers to them, in any
order and repeated, through a rule of one or a range of the server's
addresses and one port (identifier), a few, a hundred or none.
usage: gen_nat_dnat.py SEED OUT.json

(A generator of its own rather than a draw in gen_nat_map.py, whose seeds'
source NAT scenarios stay as they were.)"""
from ipaddress import ip_address

from nat_scenario import begin, finish, hosts

seed, R = begin()
FAMILY = 6 if R.random() < 0.25 else 4
_, SERVER, PUBLIC, _ = hosts(FAMILY)
LOW = 7000
# The port range: one port (every flow of a source port to it, whatever
# public port it addressed: clashes), a few (exhausted by a source's
# flows to more public ports), a hundred, or none (the port addressed is
# kept, and clashes only towards several public addresses).
kind = R.choice(["one", "one", "few", "few", "wide", "none", "none"])
high = {"one": LOW, "few": LOW + R.randrange(1, 4), "wide": LOW + 99, "none": None}[kind]
ports = None if high is None else str(LOW) if high == LOW else "%d-%d" % (LOW, high)
n = R.choice([1, 1, 2, 3])
addrs = SERVER if n == 1 else "%s-%s" % (SERVER, ip_address(SERVER) + n - 1)
# The public addresses addressed: one, or several (each a choice of the
# server's address, by a hash of the client's and its own). Over IPv6
# some with a random interface identifier: the pick mixes the
# destination's words in, those the rule rewrites (the first three)
# among them, and ::1, ::2, ... differ from the server's only in bits
# too low to change it.
publics = []
for i in range(R.choice([1, 1, 2, 3])):
    a = ip_address(PUBLIC) + i
    if FAMILY == 6 and R.random() < 0.5:
        a = ip_address(int(a) >> 64 << 64 | R.getrandbits(64))
    publics.append(str(a))
# Public ports inside the range (kept where the tuple is free) or not.
inside = list(range(LOW, (high or LOW + 3) + 1))
dports = []
for _ in range(R.randrange(1, 5)):
    p = R.choice(inside) if R.random() < 0.4 else R.choice([53, 80, 5060, 8080, R.randrange(1024, 65536)])
    if p not in dports:
        dports.append(p)
sports = R.sample([5060, 5061, 40000, 40001, R.randrange(1024, 65536)], R.randrange(1, 4))
flows = [{"sport": R.choice(sports), "dport": R.choice(dports), "dst": R.choice(publics)}
         for _ in range(R.randrange(2, 11))]
# The protocol last; ICMP takes the same draws, a public port as the
# identifier (the key destination NAT maps for ICMP, inside the range or
# not).
proto = R.choice(["udp", "tcp", "icmp"])
if proto == "icmp":
    flows = [{"id": f["dport"], "dst": f["dst"]} for f in flows]
finish({"seed": seed, "nat": "dnat", "family": FAMILY, "proto": proto, "mapping": {"addrs": addrs, "ports": ports},
        "flows": flows})
