#!/usr/bin/env python3
"""Random FTP control sessions between a client and a server, one of them
behind NAT (source NAT of the client or destination NAT of the server),
as a scenario for nat_oracle.py: PORT and EPRT naming the client's
own, its public or another address, 227 and 229 replies, odd numbers and
delimiters, over IPv4 and IPv6; and probes of the data connections.
usage: gen_ftp_nat.py SEED OUT.json"""
from nat_scenario import begin, finish, hosts

seed, R = begin()
FAMILY = 6 if R.random() < 0.3 else 4
CLIENT, SERVER, PUBLIC, OTHER = hosts(FAMILY)
msgs, ports = [], []
# Source NAT of the client, or destination NAT of the server.
NAT = "dnat" if R.random() < 0.3 else "snat"


def port():
    p = R.choice([R.randrange(1024, 65536)] * 5 + [6000, 20, 65535])
    ports.append(p)
    return p


def addr():
    return R.choice([CLIENT] * 6 + [PUBLIC, SERVER, OTHER])


def port_cmd():
    a, p = addr(), port()
    if ":" in a:
        a = "10.0.0.5"  # PORT carries IPv4 only
    nums = a.split(".") + [str(p >> 8), str(p & 255)]
    if R.random() < 0.1:
        nums[R.randrange(6)] = R.choice(["256", "0", "007", ""])
    return "%s %s" % (R.choice(["PORT", "PORT", "port"]), ",".join(nums))


def eprt_cmd():
    a, p = addr(), port()
    proto = "2" if ":" in a else "1"
    if R.random() < 0.1:
        proto = R.choice(["1", "2", "3"])
    d = R.choice(["|"] * 8 + ["!", "#"])
    return "EPRT %s%s%s%s%s%d%s" % (d, proto, d, a, d, p, d)


def reply_227():
    p = port()
    nums = SERVER.split(".") if FAMILY == 4 else ["198", "51", "100", "7"]
    return "227 Entering Passive Mode (%s,%d,%d)." % (",".join(nums), p >> 8, p & 255)


def reply_229():
    return "229 Entering Extended Passive Mode (|||%d|)" % port()


msgs.append({"from": "server", "payload": "220 ready\r\n"})
msgs.append({"from": "client", "payload": "USER ftp\r\n"})
msgs.append({"from": "server", "payload": "331 ok\r\n"})
for _ in range(R.randrange(1, 7)):
    c = R.random()
    if c < 0.35:
        m = ("client", port_cmd())
    elif c < 0.6:
        m = ("client", eprt_cmd())
    elif c < 0.75:
        m = ("server", reply_227())
    elif c < 0.85:
        m = ("server", reply_229())
    else:
        m = R.choice([("client", "LIST"), ("client", "PASV"), ("client", "EPSV"), ("server", "200 ok"),
                      ("server", "150 here it comes")])
    end = R.choice(["\r\n"] * 8 + ["\n", ""])
    msgs.append({"from": m[0], "payload": m[1] + end})
    if R.random() < 0.5 and ports:
        p = R.choice(ports)
        msgs.append({"from": "probe", "sport": R.choice([20, R.randrange(1024, 65536)]),
                     "port": min(p + R.choice([0, 0, 0, 1]), 65535), "payload": ""})
    if m[0] == "client" and R.random() < 0.7:
        msgs.append({"from": "server", "payload": R.choice(["200 ok\r\n", "500 no\r\n"])})
finish({"seed": seed, "nat": NAT, "family": FAMILY, "transport": "tcp", "helper": "ftp", "server_port": 21,
           "client_port": R.randrange(30000, 60000), "messages": msgs})
