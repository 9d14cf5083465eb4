#!/usr/bin/env python3
"""Random IRC DCC offers (TCP) or TFTP requests (UDP) from a client behind
source NAT, as a scenario for nat_oracle.py, with probes of the connections
they announce: an even seed IRC, an odd one TFTP.
usage: gen_irc_tftp_nat.py SEED OUT.json"""
from ipaddress import IPv4Address

from nat_scenario import begin, finish, hosts

seed, R = begin()
# (Linux's IRC helper is IPv4 only.)
FAMILY = 6 if seed % 2 == 1 and R.random() < 0.3 else 4
CLIENT, _, PUBLIC, _ = hosts(FAMILY)
msgs, ports = [], []


def probe(port):
    msgs.append({"from": "probe", "sport": R.randrange(1024, 65536), "port": port, "payload": ""})


def irc():
    msgs.append({"from": "client", "payload": "NICK alice\r\n"})
    msgs.append({"from": "server", "payload": ":srv 001 alice :hi\r\n"})
    for _ in range(R.randrange(1, 5)):
        p = R.choice([R.randrange(1024, 65536)] * 5 + [6000, 65535])
        ports.append(p)
        if FAMILY == 4:
            a = R.choice([str(int(IPv4Address(CLIENT)))] * 6 + [str(int(IPv4Address(PUBLIC))), "3405803776", "0", "167772165x"])
        else:
            a = R.choice([CLIENT, CLIENT, PUBLIC, "fd00::6"])
        kind = R.choice(["SEND", "SEND", "CHAT", "RESUME", "send"])
        text = "PRIVMSG bob :\x01DCC %s file %s %d%s\x01\r\n" % (kind, a, p, R.choice(["", " 1234"]))
        msgs.append({"from": "client", "payload": text})
        msgs.append({"from": "server", "payload": ":srv NOTICE alice :ok\r\n"})
        if R.random() < 0.7:
            probe(min(R.choice(ports) + R.choice([0, 0, 0, 1]), 65535))


def tftp():
    for _ in range(R.randrange(1, 4)):
        op = R.choice([1, 1, 2, 3, 4])
        msgs.append({"from": "client", "payload": "\x00%cfile\x00octet\x00" % op})
        if R.random() < 0.8:
            probe(6000)  # the server's answer from a new port to the public end


irc() if seed % 2 == 0 else tftp()
scenario = {"seed": seed, "family": FAMILY, "client_port": R.randrange(30000, 60000), "messages": msgs}
if seed % 2 == 0:
    scenario.update(transport="tcp", helper="irc", server_port=6667)
else:
    scenario.update(transport="udp", helper="tftp", server_port=69)
finish(scenario)
