#!/usr/bin/env python3
"""What Linux's SIP NAT (nf_nat_sip) does to UDP messages: each message of a
scenario is sent through a router namespace whose kernel translates the
client's source to 203.0.113.1:6000 (nft `snat`, the `sip` helper assigned),
and what arrives on the other side is recorded.

usage: nat_oracle.py SCENARIO.json OUT.json   (root; IPv4)

SCENARIO.json: {"messages": [{"from": "client" | "server" | "probe",
"payload": "..."}], ...}; a probe ("sport", "port") is a new flow from
198.51.100.7:sport to 203.0.113.1:port, which reaches the client only if
a helper expected it. Also
"client_port": P}. The client sends from 10.0.0.5:P (default 5060) to the
server, 198.51.100.7:5060; the
server answers from 198.51.100.7:5060 to 203.0.113.1:6000. OUT.json is the
scenario with, for each message, "arrived": the payload as the other side
received it (null: the router dropped it), "peer": the address and port it
came from and "to": the address and port it went to. tests/nat_parity.rs replays the messages through ctrack's NAT
and requires the same bytes.
"""
import ctypes
import json
import os
import socket
import subprocess
import sys

CLIENT, SERVER, PUBLIC, PORT, PUBLIC_PORT = "10.0.0.5", "198.51.100.7", "203.0.113.1", 5060, 6000
NS = {k: "ctnat-%d-%s" % (os.getpid(), k) for k in ("c", "r", "s")}
RULES = """
table ip nat {
    chain pre { type nat hook prerouting priority dstnat; policy accept; }
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "rs" ip saddr 10.0.0.0/24 meta l4proto udp snat to %s:%d
    }
}
table ip helpers {
    ct helper sip { type "sip" protocol udp; l3proto ip; }
    chain pre {
        type filter hook prerouting priority filter; policy accept;
        udp dport 5060 ct helper set "sip"
    }
}
""" % (PUBLIC, PUBLIC_PORT)


def sh(*cmd, ns=None, stdin=None):
    full = (["ip", "netns", "exec", NS[ns]] if ns else []) + list(cmd)
    subprocess.run(full, check=True, input=stdin, text=True, stdout=subprocess.DEVNULL)


def setup():
    for n in NS.values():
        sh("ip", "netns", "add", n)
    sh("ip", "link", "add", "c0", "netns", NS["c"], "type", "veth", "peer", "name", "rc", "netns", NS["r"])
    sh("ip", "link", "add", "s0", "netns", NS["s"], "type", "veth", "peer", "name", "rs", "netns", NS["r"])
    for ns, dev, a in (("c", "c0", "10.0.0.5/24"), ("r", "rc", "10.0.0.1/24"), ("r", "rs", "198.51.100.1/24"),
                       ("s", "s0", "198.51.100.7/24")):
        sh("ip", "addr", "add", a, "dev", dev, ns=ns)
        sh("ip", "link", "set", dev, "up", ns=ns)
    for ns in NS:
        sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "route", "add", "default", "via", "10.0.0.1", ns="c")
    sh("ip", "route", "add", PUBLIC, "via", "198.51.100.1", ns="s")
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns="r")
    sh("nft", "-f", "-", ns="r", stdin=RULES)
    # A datagram translated to a port nobody listens on draws no ICMP error
    # (which the router would track).
    sh("nft", "-f", "-", ns="c", stdin="table ip quiet {\n chain out {\n type filter hook output priority 0;\n"
       " icmp type destination-unreachable drop\n }\n}\n")


def teardown():
    for n in NS.values():
        subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)


libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def made_in(ns, make):
    """What `make()` returns, a socket, made in namespace `ns` (setns for
    its creation only: a socket stays in the namespace it was made in)."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + NS[ns], os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        s = make()
        s.settimeout(0.5)
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)
    return s


def socket_in(ns, addr, port):
    """A UDP socket bound to addr:port in namespace `ns`."""
    def make():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        return s
    return made_in(ns, make)


def sniffer_in(ns, dev):
    """A packet socket on `dev` in namespace `ns`: every IPv4 packet that
    arrives there, to any port (a translation may change the port)."""
    def make():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
        s.bind((dev, 0x0800))
        return s
    return made_in(ns, make)


def arrival(sniffer, dst):
    """The next UDP datagram to `dst` the sniffer sees: (source, destination,
    payload), or None."""
    while True:
        try:
            pkt, (_, _, pkttype, _, _) = sniffer.recvfrom(65535)
        except socket.timeout:
            return None
        if pkttype == socket.PACKET_OUTGOING or len(pkt) < 28 or pkt[9] != 17:
            continue
        ihl = (pkt[0] & 15) * 4
        src, to = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
        if to != dst:
            continue
        u = pkt[ihl:]
        sport, dport = int.from_bytes(u[0:2], "big"), int.from_bytes(u[2:4], "big")
        return "%s:%d" % (src, sport), "%s:%d" % (to, dport), u[8:]


def main():
    scenario = json.load(open(sys.argv[1]))
    try:
        setup()
        c, s = socket_in("c", CLIENT, scenario.get("client_port", PORT)), socket_in("s", SERVER, PORT)
        sniff = {"c": sniffer_in("c", "c0"), "s": sniffer_in("s", "s0")}
        for m in scenario["messages"]:
            data = m["payload"].encode("latin-1")
            if m["from"] == "client":
                c.sendto(data, (SERVER, PORT))
                got = arrival(sniff["s"], SERVER)
            elif m["from"] == "probe":
                # A new flow from another port of the server to the public
                # address: reaches the client only if expected.
                p = socket_in("s", SERVER, m["sport"])
                p.sendto(data, (PUBLIC, m["port"]))
                p.close()
                got = arrival(sniff["c"], CLIENT)
            else:
                s.sendto(data, (PUBLIC, PUBLIC_PORT))
                got = arrival(sniff["c"], CLIENT)
            if got:
                m["peer"], m["to"], m["arrived"] = got[0], got[1], got[2].decode("latin-1")
            else:
                m["peer"], m["to"], m["arrived"] = None, None, None
        scenario["kernel"] = os.uname().release
        json.dump(scenario, open(sys.argv[2], "w"), indent=1)
    finally:
        teardown()


main()
