#!/usr/bin/env python3
"""What Linux's helper NAT (nf_nat_sip, nf_nat_ftp, ...) does to a
scenario's messages: each is sent through a router namespace whose kernel
translates one end (nft `snat` or `dnat`, the scenario's helper assigned),
and what arrives on the other side is recorded.

usage: nat_oracle.py SCENARIO.json OUT.json   (root)

SCENARIO.json: {"nat": "snat" | "dnat", "family": 4 | 6, "transport":
"udp" | "tcp", "helper": "sip" | "ftp" | ..., "server_port": S,
"client_port": P, "messages": [{"from": "client" | "server" | "probe",
"payload": "..."}]} (defaults: snat, 4, udp, sip, 5060, 5060). The client
(10.0.0.5, or fd00::5) sends from port P; the server (198.51.100.7, or
2001:db8:1::7) listens on port S. Source NAT: the client sends to the
server, which sees it come from the public address (203.0.113.1, or
2001:db8:ffff::1) port 6000 and answers there; a probe ("sport", "port")
is a new flow from the server's port sport to the public address's port,
which reaches the client only if a helper expected it. Destination NAT:
the client sends to the public address port 6000, which the router
translates to the server's port S; the server answers the client; a probe
goes from the client to the public address and reaches the server only if
expected. A message from "gre-client" or "gre-server" (IPv4), with a
"call_id", is an enhanced GRE (version 1, PPTP) packet of that call id
and the payload, sent by that end to where it sends its messages: what
arrives is the whole GRE packet, "to" with its call id as the port (a
PPTP call's GRE connection is translated, keys included, by the helper's
expectations).

OUT.json is the scenario with, for each message, "arrived": the payload as
the other side received it (null: the router dropped it), "peer" and
"to": the address and port it came from and went to (a packet socket on
each side sees a datagram to any port). Over TCP, a message is what the
other end's application reads until the connection is quiet, and a probe
is a SYN. tests/nat_parity.rs replays the messages through ctrack's NAT
and requires the same.

A scenario with a "mapping" key is of the second mode, plain source NAT
(or destination NAT, below) without a helper: how the router maps the
client's source ports (ICMP echo identifiers). Its rule is `meta l4proto PROTO snat to ADDRS[:PORTS]`
({"mapping": {"addrs": "203.0.113.1" or "203.0.113.1-203.0.113.3",
"ports": "6000-6099", "6000" or null}, "family": 4 | 6, "proto": "udp" |
"tcp" | "icmp" (default udp), "flows": [...]}); for ICMP the ports are
the range of the identifier, as nft accepts them and the kernel applies
them (`nf_nat_l4proto_unique_tuple()`: the identifier is the key, 0-65535
when the rule gives no ports). For each flow in order:

- udp, {"sport": P, "dport": D}: the client sends one datagram from its
  port P to the server's port D (a repeat is the same connection again);
- tcp, {"sport": P, "dport": D}: the client connect()s from its port P
  to the server's port D, where the server listens, and keeps the
  connection open (ESTABLISHED) to the scenario's end; a repeat sends one
  segment of data on it (the same connection again), or nothing if its
  SYN was dropped (the client's retransmissions find the range no freer);
- icmp, {"id": N, "dst": A}: the client sends an echo request (ICMPv6 for
  family 6) with identifier N to A, the server's address or another the
  server has (198.51.100.8 or 2001:db8:1::8 and on: towards several
  destinations a source may keep its public end, as with ports); a repeat
  of N and A is the same connection again. The server answers each
  (through the router: its replies are the connections' reply direction).

OUT.json adds to each flow "seen": the source `addr:port` (ICMP:
`addr:identifier`) its datagram, SYN, segment or echo request reached
the server from (null: dropped). tests/nat_mapping.rs compares the pattern
(kept ports, a source keeping its public end across destinations, drops)
with ctrack's.

With "nat": "dnat" the mapping is destination NAT (port forwarding):
`iifname "rc" daddr PUBLIC-NET meta l4proto PROTO dnat to ADDRS[:PORTS]`
(prerouting), ADDRS the server's: "198.51.100.7" or "198.51.100.7-
198.51.100.9" (2001:db8:1::7, ...), each of which the server has. A flow
goes from the client to a public address, "dst" (203.0.113.1 by default,
or any other of its net: .2, .3, ...; 2001:db8:ffff::1, ::2, ...), which
the router does not have (destination NAT comes before routing): udp and
tcp {"sport": P, "dport": D, "dst": A}, the same as above but to A's port
D, where the server listens on every port of the range and every D (on
all its addresses); icmp {"id": N, "dst": A}. A repeat of sport, dst and
dport (id and dst) is the same connection again. Each flow gets "seen": the
destination `addr:port` (`addr:identifier`) its datagram, SYN, segment or
echo request reached the server at, and "from": the source it came from
(`addr:identifier` for ICMP), or both null if it was dropped.
tests/nat_mapping.rs compares both with ctrack's exactly: Linux's
destination NAT picks the address by `find_best_ips_proto()` and searches
the port range from its first port (offset 0), no random draw. (Where the
tuple is taken all the same, Linux keeps it, and the connection's null
binding at postrouting gives the client another source port, or ICMP
identifier, at random: "from" shows it.)
"""
import ctypes
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys

PORT, PUBLIC_PORT = 5060, 6000
# family: (client, server, public, client net, router's client side, router's server side, prefix length)
ADDRS = {
    4: ("10.0.0.5", "198.51.100.7", "203.0.113.1", "10.0.0.0/24", "10.0.0.1", "198.51.100.1", 24),
    6: ("fd00::5", "2001:db8:1::7", "2001:db8:ffff::1", "fd00::/64", "fd00::1", "2001:db8:1::1", 64),
}
NS = {k: "ctnat-%d-%s" % (os.getpid(), k) for k in ("c", "r", "s")}


def rules(family, transport, helper, port, nat):
    client, server, public, net, *_ = ADDRS[family]
    ip = "ip" if family == 4 else "ip6"
    br = (lambda a: a) if family == 4 else (lambda a: "[%s]" % a)
    if nat == "snat":
        pre = ""
        post = 'oifname "rs" %s saddr %s meta l4proto { tcp, udp } snat to %s:%d' % (ip, net, br(public), PUBLIC_PORT)
    else:
        pre = 'iifname "rc" %s daddr %s meta l4proto { tcp, udp } th dport %d dnat to %s:%d' % (
            ip, public, PUBLIC_PORT, br(server), port)
        post = ""
    return """
table %(ip)s nat {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        %(pre)s
    }
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        %(post)s
    }
}
table %(ip)s helpers {
    ct helper h { type "%(helper)s" protocol %(tr)s; l3proto %(ip)s; }
    chain pre {
        type filter hook prerouting priority -150; policy accept;
        %(tr)s dport %(match)d ct helper set "h"
    }
}
""" % {"ip": ip, "pre": pre, "post": post, "helper": helper, "tr": transport,
       # The helper is assigned by the port the client addressed, before
       # destination NAT (priority -150: after conntrack, before dstnat),
       # as ctrack assigns helpers by the original tuple.
       "match": port if nat == "snat" else PUBLIC_PORT}


def sh(*cmd, ns=None, stdin=None):
    full = (["ip", "netns", "exec", NS[ns]] if ns else []) + list(cmd)
    subprocess.run(full, check=True, input=stdin, text=True, stdout=subprocess.DEVNULL)


def target(family, addrs, ports, proto):
    """A mapping rule's `l4proto` ("icmp" is ICMPv6 for IPv6) and what it
    translates to: `addrs` ("A" or "A-B"), and `ports` ("P" or "P-Q": for
    ICMP, the identifiers) if given."""
    to = "-".join(a if family == 4 else "[%s]" % a for a in addrs.split("-"))
    if ports:
        to += ":" + ports
    if proto == "icmp" and family == 6:
        proto = "icmpv6"
    return proto, to


def snat_rules(family, addrs, ports, proto="udp"):
    """The mapping mode's rule: source NAT of the client's `proto` ("udp",
    "tcp" or "icmp") to `addrs` and `ports` (`target()`)."""
    ip = "ip" if family == 4 else "ip6"
    return """
table %s nat {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "rs" %s saddr %s meta l4proto %s snat to %s
    }
}
""" % (ip, ip, ADDRS[family][3], *target(family, addrs, ports, proto))


def dnat_rules(family, addrs, ports, proto="udp"):
    """The mapping mode's destination NAT rule: the client's `proto` to
    any public address (the net of the first) translated to `addrs` and
    `ports` (`target()`). No postrouting chain: the kernel's nat hooks are
    registered for every hook all the same, and postrouting gives each
    connection its null binding (source NAT to its own source)."""
    ip = "ip" if family == 4 else "ip6"
    public_net = ipaddress.ip_interface("%s/%d" % (ADDRS[family][2], ADDRS[family][6])).network
    return """
table %s nat {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "rc" %s daddr %s meta l4proto %s dnat to %s
    }
}
""" % (ip, ip, public_net, *target(family, addrs, ports, proto))


def resolve(ns, peer):
    """Ping the IPv6 address `peer` from namespace `ns`, so that its
    neighbour entry is there before a scenario's packets go to it. Without
    it (no `ping` on the machine, say) the first datagrams arrive late and
    are taken for later messages' arrivals: refuse to go on."""
    r = subprocess.run(["ip", "netns", "exec", NS[ns], "ping", "-6", "-c1", "-W3", peer],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit("nat_oracle: cannot resolve %s from %s (is iputils-ping installed?): %s"
                         % (peer, ns, r.stderr.decode(errors="replace").strip()))


def setup(family, ruleset, route, more=()):
    """The namespaces and their links, the router's `ruleset`, the
    server's route to `route` (an address or net) through the router, and
    the server's `more` addresses besides its own."""
    client, server, _, _, r_c, r_s, plen = ADDRS[family]
    for n in NS.values():
        sh("ip", "netns", "add", n)
    sh("ip", "link", "add", "c0", "netns", NS["c"], "type", "veth", "peer", "name", "rc", "netns", NS["r"])
    sh("ip", "link", "add", "s0", "netns", NS["s"], "type", "veth", "peer", "name", "rs", "netns", NS["r"])
    for ns, dev, a in (("c", "c0", client), ("r", "rc", r_c), ("r", "rs", r_s), ("s", "s0", server)):
        extra = ["nodad"] if family == 6 else []
        sh("ip", "addr", "add", "%s/%d" % (a, plen), "dev", dev, *extra, ns=ns)
        sh("ip", "link", "set", dev, "up", ns=ns)
    for a in more:
        sh("ip", "addr", "add", "%s/%d" % (a, plen), "dev", "s0", *(["nodad"] if family == 6 else []), ns="s")
    for ns in NS:
        sh("ip", "link", "set", "lo", "up", ns=ns)
    v = "-4" if family == 4 else "-6"
    sh("ip", v, "route", "add", "default", "via", r_c, ns="c")
    sh("ip", v, "route", "add", route, "via", r_s, ns="s")
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1" if family == 4 else "net.ipv6.conf.all.forwarding=1", ns="r")
    sh("nft", "-f", "-", ns="r", stdin=ruleset)
    if family == 6:
        # Neighbours resolved before the first message (its first packet
        # would otherwise wait for the links' addresses to be usable).
        for ns, peer in (("r", client), ("r", server), ("c", r_c), ("s", r_s), *(("r", a) for a in more)):
            resolve(ns, peer)
    # A datagram translated to a port nobody listens on draws no ICMP error
    # (which the router would track).
    sh("nft", "-f", "-", ns="c", stdin="table inet quiet {\n chain out {\n type filter hook output priority 0;\n"
       " icmp type destination-unreachable drop\n icmpv6 type destination-unreachable drop\n }\n}\n")


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


def socket_in(ns, addr, port, kind=socket.SOCK_DGRAM):
    """A UDP (or TCP) socket bound to addr:port in namespace `ns`."""
    def make():
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((addr, port))
        return s
    return made_in(ns, make)


def sniffer_in(ns, dev, family):
    """A packet socket on `dev` in namespace `ns`: every IP packet of
    `family` that arrives there, to any port (a translation may change the
    port)."""
    ethertype = 0x0800 if family == 4 else 0x86DD

    def make():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ethertype))
        s.bind((dev, ethertype))
        return s
    return made_in(ns, make)


def endpoint(addr, port):
    return ("[%s]:%d" if ":" in addr else "%s:%d") % (addr, port)


def arrival(sniffer, dst, proto=17):
    """The next UDP datagram (or TCP SYN, or GRE packet) to `dst` the
    sniffer sees: (source, destination, payload), or None. A GRE packet's
    ends are its addresses with port 0 for the source and the header's call
    id (key) for the destination, its payload the whole GRE packet."""
    while True:
        try:
            pkt, (_, _, pkttype, _, _) = sniffer.recvfrom(65535)
        except socket.timeout:
            return None
        if pkttype == socket.PACKET_OUTGOING:
            continue
        if pkt[0] >> 4 == 4:
            if len(pkt) < 28 or pkt[9] != proto:
                continue
            src, to, u = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), pkt[(pkt[0] & 15) * 4:]
        else:
            if len(pkt) < 48 or pkt[6] != proto:
                continue
            src, to = socket.inet_ntop(socket.AF_INET6, pkt[8:24]), socket.inet_ntop(socket.AF_INET6, pkt[24:40])
            u = pkt[40:]
        if to != dst or proto == 6 and u[13] & 0x12 != 0x02:
            continue
        if proto == 47:
            return endpoint(src, 0), endpoint(to, int.from_bytes(u[6:8], "big")), u
        sport, dport = int.from_bytes(u[0:2], "big"), int.from_bytes(u[2:4], "big")
        return endpoint(src, sport), endpoint(to, dport), u[8 if proto == 17 else (u[12] >> 4) * 4:]


def drain(sniffer):
    """Forget what the sniffer saw so far."""
    sniffer.setblocking(False)
    try:
        while True:
            sniffer.recv(65535)
    except BlockingIOError:
        pass
    sniffer.settimeout(0.5)


def stream(sock):
    """What arrives on a TCP connection until it is quiet for 0.3 s."""
    got = b""
    sock.settimeout(0.3)
    while True:
        try:
            b = sock.recv(65535)
        except socket.timeout:
            return got
        if not b:
            return got
        got += b


def echo(family, ident, seq, data):
    """An echo request (ICMPv6 for family 6, whose checksum the kernel's
    raw socket fills) with identifier `ident`."""
    head = bytes([8 if family == 4 else 128, 0, 0, 0]) + ident.to_bytes(2, "big") + seq.to_bytes(2, "big")
    if family == 6:
        return head + data
    msg = head + data + b"\0" * (len(data) % 2)
    total = sum(int.from_bytes(msg[i:i + 2], "big") for i in range(0, len(msg), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return head[:2] + (~total & 0xFFFF).to_bytes(2, "big") + head[4:] + data


def incoming(sniffer):
    """The IP packets that arrive at the sniffer's link, until none has
    for 0.5 s: (source, destination, protocol, layer 4 header and data).
    (What its host sends, the server's echo replies and SYN-ACKs among
    them, is outgoing: skipped.)"""
    while True:
        try:
            pkt, (_, _, pkttype, _, _) = sniffer.recvfrom(65535)
        except socket.timeout:
            return
        if pkttype == socket.PACKET_OUTGOING:
            continue
        if pkt[0] >> 4 == 4:
            yield socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), pkt[9], pkt[(pkt[0] & 15) * 4:]
        else:
            src, to = socket.inet_ntop(socket.AF_INET6, pkt[8:24]), socket.inet_ntop(socket.AF_INET6, pkt[24:40])
            yield src, to, pkt[6], pkt[40:]


def request(sniffer, proto, dst, dport, data):
    """Where a flow's packet to `dst` came from, as the server's packet
    socket saw it: `addr:port` of the UDP datagram carrying `data`, of the
    TCP SYN to port `dport` (`data` empty) or segment carrying `data`;
    `addr:identifier` of the echo request carrying `data`. None if none
    arrives."""
    number = {"udp": 17, "tcp": 6, "icmp": 1 if ":" not in dst else 58}[proto]
    for src, to, nh, l4 in incoming(sniffer):
        if to != dst or nh != number or len(l4) < 8:
            continue
        if proto == "icmp":
            # An echo request (the server's neighbour discovery is ICMPv6
            # too).
            if l4[0] != (8 if number == 1 else 128) or l4[8:] != data:
                continue
            return endpoint(src, int.from_bytes(l4[4:6], "big"))
        if proto == "udp" and l4[8:] != data:
            continue
        if proto == "tcp":
            if len(l4) < 20 or int.from_bytes(l4[2:4], "big") != dport:
                continue
            body, flags = l4[(l4[12] >> 4) * 4:], l4[13]
            if (body != data) if data else (flags & 0x12 != 0x02):
                continue
        return endpoint(src, int.from_bytes(l4[0:2], "big"))
    return None


def delivery(sniffer, family, proto, data):
    """Where a flow's packet arrived at the server, to any of its
    addresses and ports, and where from, as the server's packet socket saw
    it: (source, destination) as `addr:port` of the UDP datagram carrying
    `data`, of the TCP SYN (`data` empty: the only one in flight) or
    segment carrying `data`; as `addr:identifier` of the echo request
    carrying `data`. None if none arrives."""
    number = {"udp": 17, "tcp": 6, "icmp": 1 if family == 4 else 58}[proto]
    for src, to, nh, l4 in incoming(sniffer):
        if nh != number or len(l4) < 8:
            continue
        if proto == "icmp":
            # An echo request (the server's neighbour discovery is ICMPv6
            # too).
            if l4[0] != (8 if number == 1 else 128) or l4[8:] != data:
                continue
            ident = int.from_bytes(l4[4:6], "big")
            return endpoint(src, ident), endpoint(to, ident)
        if proto == "udp" and l4[8:] != data:
            continue
        if proto == "tcp":
            if len(l4) < 20:
                continue
            body, flags = l4[(l4[12] >> 4) * 4:], l4[13]
            if (body != data) if data else (flags & 0x12 != 0x02):
                continue
        return endpoint(src, int.from_bytes(l4[0:2], "big")), endpoint(to, int.from_bytes(l4[2:4], "big"))
    return None


def echo_socket(family):
    """A raw ICMP (ICMPv6) socket in the client namespace: one for every
    echo request of a scenario."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    return made_in("c", lambda: socket.socket(
        af, socket.SOCK_RAW, socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6))


def mapping(scenario):
    """The mapping mode: each flow's datagram, connection or echo request
    through plain source NAT, and where the server saw it come from (or
    through destination NAT: `port_forwarding()`)."""
    if scenario.get("nat", "snat") == "dnat":
        port_forwarding(scenario)
        return
    family = scenario.get("family", 4)
    proto = scenario.get("proto", "udp")
    client, server = ADDRS[family][:2]
    m = scenario["mapping"]
    # The server's route to every public address: the net of the first.
    first = m["addrs"].split("-")[0]
    public_net = ipaddress.ip_interface("%s/%d" % (first, ADDRS[family][6])).network
    flows = scenario["flows"]
    # The server's other addresses that echo requests go to.
    more = sorted({f["dst"] for f in flows if proto == "icmp"} - {server})
    listening, senders, connected = [], {}, {}
    try:
        setup(family, snat_rules(family, m["addrs"], m["ports"], proto), str(public_net), more)
        sniff = sniffer_in("s", "s0", family)
        if proto == "udp":
            # The server listens on every port addressed (a closed one
            # would answer with an ICMP error, which the router would
            # track).
            listening = [socket_in("s", server, p) for p in sorted({f["dport"] for f in flows})]
        elif proto == "tcp":
            for p in sorted({f["dport"] for f in flows}):
                listening.append(socket_in("s", server, p, socket.SOCK_STREAM))
                listening[-1].listen(16)
        else:
            ping = senders["echo"] = echo_socket(family)
        for i, f in enumerate(flows):
            data = b"flow %d" % i
            if proto == "icmp":
                ping.sendto(echo(family, f["id"], i, data), (f["dst"], 0))
                got = request(sniff, proto, f["dst"], 0, data)
            elif proto == "udp":
                # One client socket a source port.
                if f["sport"] not in senders:
                    senders[f["sport"]] = socket_in("c", client, f["sport"])
                senders[f["sport"]].sendto(data, (server, f["dport"]))
                got = request(sniff, proto, server, f["dport"], data)
            elif (f["sport"], f["dport"]) in connected:
                # The same connection again: a segment on it, or nothing
                # if its SYN was dropped.
                c = connected[f["sport"], f["dport"]]
                got = None
                if c:
                    c.sendall(data)
                    got = request(sniff, proto, server, f["dport"], data)
            else:
                # (connect_ex waits up to the socket's 0.5 s for the
                # handshake: the client's ACK has passed the router before
                # the next flow, as ctrack's replay has it.)
                c = socket_in("c", client, f["sport"], socket.SOCK_STREAM)
                senders[i] = c
                done = c.connect_ex((server, f["dport"])) == 0
                got = request(sniff, proto, server, f["dport"], b"")
                if done != bool(got):
                    # (A SYN seen but no connection, or the other way: no
                    # answer to record.)
                    raise RuntimeError("flow %d: connected %s, SYN seen %s" % (i, done, got))
                connected[f["sport"], f["dport"]] = c if done else None
            f["seen"] = got
        scenario["kernel"] = os.uname().release
        json.dump(scenario, open(sys.argv[2], "w"), indent=1)
    finally:
        for s in listening + list(senders.values()):
            s.close()
        teardown()


def port_forwarding(scenario):
    """The mapping mode with destination NAT: each flow's datagram,
    connection or echo request from the client to a public address,
    translated to the server's, and where the server saw it arrive and
    come from."""
    family = scenario.get("family", 4)
    proto = scenario.get("proto", "udp")
    client, server, public = ADDRS[family][:3]
    m = scenario["mapping"]
    lo, _, hi = m["addrs"].partition("-")
    first, last = ipaddress.ip_address(lo), ipaddress.ip_address(hi or lo)
    # The server has every address of the range (its own among them).
    more = [str(first + i) for i in range(int(last) - int(first) + 1) if str(first + i) != server]
    flows = scenario["flows"]
    listening, senders, connected = [], {}, {}
    try:
        # The server answers the client itself, through the router.
        setup(family, dnat_rules(family, m["addrs"], m["ports"], proto), ADDRS[family][3], more)
        sniff = sniffer_in("s", "s0", family)
        if proto in ("udp", "tcp"):
            # The server listens, on all its addresses, on every port a
            # flow may reach: the range's and the ports addressed (kept
            # without a range, or when in it). A closed one would answer
            # with an ICMP error (which the router would track), or a
            # reset (which would end the connection).
            ports = {f["dport"] for f in flows}
            if m["ports"]:
                a, _, b = m["ports"].partition("-")
                ports |= set(range(int(a), int(b or a) + 1))
            kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
            for p in sorted(ports):
                listening.append(socket_in("s", "0.0.0.0" if family == 4 else "::", p, kind))
                if proto == "tcp":
                    listening[-1].listen(16)
        else:
            ping = senders["echo"] = echo_socket(family)
        for i, f in enumerate(flows):
            data = b"flow %d" % i
            dst = f.get("dst", public)
            if proto == "icmp":
                ping.sendto(echo(family, f["id"], i, data), (dst, 0))
                got = delivery(sniff, family, proto, data)
            elif proto == "udp":
                # One client socket a source port.
                if f["sport"] not in senders:
                    senders[f["sport"]] = socket_in("c", client, f["sport"])
                senders[f["sport"]].sendto(data, (dst, f["dport"]))
                got = delivery(sniff, family, proto, data)
            elif (f["sport"], dst, f["dport"]) in connected:
                # The same connection again: a segment on it, or nothing
                # if its SYN was dropped.
                c = connected[f["sport"], dst, f["dport"]]
                got = None
                if c:
                    c.sendall(data)
                    got = delivery(sniff, family, proto, data)
            else:
                # (connect_ex waits up to the socket's 0.5 s for the
                # handshake: the client's ACK has passed the router before
                # the next flow, as ctrack's replay has it.)
                c = socket_in("c", client, f["sport"], socket.SOCK_STREAM)
                senders[i] = c
                done = c.connect_ex((dst, f["dport"])) == 0
                got = delivery(sniff, family, proto, b"")
                if done != bool(got):
                    raise RuntimeError("flow %d: connected %s, SYN seen %s" % (i, done, got))
                connected[f["sport"], dst, f["dport"]] = c if done else None
            src, to = got or (None, None)
            f["seen"], f["from"] = to, src
        scenario["kernel"] = os.uname().release
        json.dump(scenario, open(sys.argv[2], "w"), indent=1)
    finally:
        for s in listening + list(senders.values()):
            s.close()
        teardown()


def main():
    scenario = json.load(open(sys.argv[1]))
    if "mapping" in scenario:
        mapping(scenario)
        return
    family = scenario.get("family", 4)
    transport = scenario.get("transport", "udp")
    port = scenario.get("server_port", PORT)
    nat = scenario.get("nat", "snat")
    client, server, public = ADDRS[family][:3]
    client_port = scenario.get("client_port", PORT)
    # Where each end sends to: with source NAT the client addresses the
    # server and the server the client's public end; with destination NAT
    # the client addresses the server's public end and the server the
    # client.
    if nat == "snat":
        to_server, to_client = (server, port), (public, PUBLIC_PORT)
    else:
        to_server, to_client = (public, PUBLIC_PORT), (client, client_port)
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    try:
        # The server reaches the client's public end (source NAT) or the
        # client itself (destination NAT).
        setup(family, rules(family, transport, scenario.get("helper", "sip"), port, nat),
              public if nat == "snat" else ADDRS[family][3])
        sniff = {"c": sniffer_in("c", "c0", family), "s": sniffer_in("s", "s0", family)}
        if transport == "udp":
            c, s = socket_in("c", client, client_port), socket_in("s", server, port)
        else:
            listener = socket_in("s", server, port, kind)
            listener.listen(1)
            c = socket_in("c", client, client_port, kind)
            c.settimeout(3)
            c.connect(to_server)
            s, _ = listener.accept()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for m in scenario["messages"]:
            data = m["payload"].encode("latin-1")
            if m["from"] in ("gre-client", "gre-server"):
                # An enhanced GRE (version 1, PPTP) packet with this call
                # id, from the client to where it sends, or from the server
                # to where it sends: the router forwards it if its
                # connection (expected by the PPTP helper) says where.
                tx_ns, rx_ns, src, (dst, _), rx = (
                    ("c", "s", client, to_server, server) if m["from"] == "gre-client"
                    else ("s", "c", server, to_client, client))
                drain(sniff[rx_ns])
                raw = made_in(tx_ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_GRE))
                raw.bind((src, 0))
                raw.sendto(struct.pack(">HHHH", 0x2001, 0x880B, len(data), m["call_id"]) + data, (dst, 0))
                raw.close()
                got = arrival(sniff[rx_ns], rx, 47)
            elif m["from"] == "probe":
                # A new flow to the public address from another port of the
                # other side (source NAT: the server; destination NAT: the
                # client): reaches the inside end only if expected.
                inside, outside, rx = ("c", "s", client) if nat == "snat" else ("s", "c", server)
                drain(sniff[inside])
                p = socket_in(outside, server if nat == "snat" else client, m["sport"], kind)
                if transport == "udp":
                    p.sendto(data, (public, m["port"]))
                    got = arrival(sniff[inside], rx)
                else:
                    p.setblocking(False)
                    p.connect_ex((public, m["port"]))
                    got = arrival(sniff[inside], rx, 6)
                p.close()
            elif transport == "tcp":
                # The stream's bytes as the other end's application reads
                # them, between the connection's own ends.
                tx, rx = (c, s) if m["from"] == "client" else (s, c)
                tx.sendall(data)
                b = stream(rx)
                peer, me = rx.getpeername(), rx.getsockname()
                got = (endpoint(peer[0], peer[1]), endpoint(me[0], me[1]), b) if b else None
            elif m["from"] == "client":
                c.sendto(data, to_server)
                got = arrival(sniff["s"], server)
            else:
                s.sendto(data, to_client)
                got = arrival(sniff["c"], client)
            if got:
                m["peer"], m["to"], m["arrived"] = got[0], got[1], got[2].decode("latin-1")
            else:
                m["peer"], m["to"], m["arrived"] = None, None, None
        scenario["kernel"] = os.uname().release
        json.dump(scenario, open(sys.argv[2], "w"), indent=1)
    finally:
        teardown()


if __name__ == "__main__":
    main()
