#!/usr/bin/env python3
"""What Linux does to ICMP errors about a NATed connection
(`nf_nat_proto.c: nf_nat_icmp_reply_translation()`,
`nf_nat_icmpv6_reply_translation()`): a client opens a flow through a
router namespace whose kernel translates it (nft `snat` of the client to
the public address, or `dnat` of the public address to the server), then
ICMP errors about the flow, as one side saw it, are sent through the
router, and what reaches the other side is recorded byte for byte.

usage: nat_icmp_oracle.py SCENARIO.json OUT.json   (root)

The namespaces, addresses and links are nat_oracle.py's (its `setup()`,
with this scenario's rule): the client 10.0.0.5 (fd00::5), the server
198.51.100.7 (2001:db8:1::7), the public address 203.0.113.1
(2001:db8:ffff::1). Every packet is sent raw, through a packet socket
on the client's or the server's link to the router's MAC address, so
that the router gets exactly the bytes recorded (no checksum offload, no
retransmission, no kernel of either end answering: both ends' output is
dropped but for neighbour discovery); what arrives is read by a packet
socket on the other link.

SCENARIO.json: {"family": 4 | 6, "nat": "snat" | "dnat", "proto": "udp"
| "tcp" | "icmp", "ports": "P" | "P-Q" | null, "sport": P, "dport": D,
"id": N, "data": HEX, "answer": bool, "conntrack_checksum": 0 | 1,
"rule_proto": "udp" | "tcp" | "icmp", "errors": [ERROR, ...]}.

- snat: `oifname "rs" saddr CLIENT-NET meta l4proto PROTO snat to
  PUBLIC[:ports]`; dnat: `iifname "rc" daddr PUBLIC meta l4proto PROTO
  dnat to SERVER[:ports]` (for ICMP "ports" is the echo identifier's
  range, as nft takes it).
- "rule_proto": the rule's protocol if not the flow's: source NAT that
  leaves the flow alone (its connection has no NAT; the router's NAT
  hooks see it all the same).
- "conntrack_checksum": 0 turns the router's nf_conntrack_checksum off
  (conntrack then takes an error with a wrong checksum for RELATED).
- The flow: the client's UDP datagram carrying `data` from port `sport`
  to port `dport` of the server (snat) or of the public address (dnat),
  its TCP SYN (with an MSS option), or its echo request with identifier
  `id` carrying `data` (ICMPv6 for family 6). With `answer`, the server
  answers what it received (a datagram, the SYN-ACK, the echo reply).
- An ERROR: {"from": "server" | "hop" | "far" | "client" | "client_hop",
  "type": T, "code": C, "rest": HEX (the 4 bytes after the checksum:
  MTU, pointer, unused), "quote": {...}, "outer": {...}}. "server" and
  "hop" (198.51.100.99, 2001:db8:1::99, an address of the server's link)
  and "far" (192.0.2.99, 2001:db8:9::9, beyond it) send to the client's
  side about the flow's packet as the server received it; "client" and
  "client_hop" (10.0.0.99, fd00::99) send to the server's side about
  the answer as the client received it (the connection's original
  direction). The outer destination is where the quoted packet came
  from, or with "outer": {"to": "wrong"} an address of the receiving
  side that the connection does not name (the inside address itself,
  or the other side's hop): conntrack's outer daddr check fails.
- "quote": what is done to the quoted packet, in this order: "options":
  N (IPv4: N bytes of NOP options put into its header) or "ext": true
  (IPv6: a destination options header put after it); "alter": a list
  of "sport", "dport", "id", "src", "dst", "proto" (no longer the
  connection's), "l4sum", "ipsum" (a wrong inner checksum), "l4sum0"
  (UDP: no checksum), "ttl", "len", "mf" (IPv4: more fragments),
  "offset" (IPv4: a later fragment), "version"; "cut": K (only K bytes
  of its layer 4 part kept; absent or null: all). "ihl": N (IPv4: the
  header length field made N, the bytes left as they are: with N under
  5 the ports are read inside the addresses) comes first.
- "outer": {"ttl": N, "ident": N, "df": bool, "options": N (IPv4 NOP
  option bytes), "ext": "hbh" | "dst" (IPv6: a hop-by-hop or
  destination options header first), "checksum": "bad" (the ICMP
  checksum off by one bit) or "ffff" (a checksum of 0, which "rest"
  must make it, sent as 0xffff), "trailer": N (bytes after the IP packet, in
  the frame: the router trims them), "to": "wrong"}.

OUT.json is the scenario with "client_sent", "server_saw", "answer_sent",
"answer_arrived" (the flow's packet and the answer, hex, as sent and as
they arrived), and for each error "sent" (the frame's bytes, hex, as the
router received them) and "arrived" (the packet that reached the other
side, hex, or null: dropped; "also": any more that arrived), "entries"
(the router's conntrack listing at the end) and "kernel".
tests/nat_icmp_parity.rs replays the same bytes through ctrack's NAT and
requires the same bytes to arrive.
"""
import json
import os
import socket
import subprocess
import sys

from scapy.all import ICMP, ICMPv6EchoReply, ICMPv6EchoRequest, IP, IPv6, IPv6ExtHdrDestOpt, \
    IPv6ExtHdrHopByHop, PadN, Raw, TCP, UDP

import nat_oracle as o

# Each side's hop (an extra address of its link, so that the router can
# deliver to it) and a host beyond the server's side.
HOP = {4: "198.51.100.99", 6: "2001:db8:1::99"}
CLIENT_HOP = {4: "10.0.0.99", 6: "fd00::99"}
FAR = {4: "192.0.2.99", 6: "2001:db8:9::9"}


def rules(family, nat, proto, ports):
    """The router's one NAT rule, for the flow's protocol."""
    client, server, public, net = o.ADDRS[family][:4]
    ip = "ip" if family == 4 else "ip6"
    l4, to = o.target(family, public if nat == "snat" else server, ports, proto)
    pre = post = ""
    if nat == "snat":
        post = 'oifname "rs" %s saddr %s meta l4proto %s snat to %s' % (ip, net, l4, to)
    else:
        pre = 'iifname "rc" %s daddr %s meta l4proto %s dnat to %s' % (ip, public, l4, to)
    return """
table %s nat {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        %s
    }
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        %s
    }
}
""" % (ip, pre, post)


# Both ends send through packet sockets only: their kernels' own answers
# (port unreachable, RST, echo replies, errors) would cross the router
# and be tracked. Neighbour discovery stays.
QUIET = """
table inet icmpquiet {
    chain out {
        type filter hook output priority 0; policy drop;
        icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept
    }
}
"""


def mac(ns, dev):
    out = subprocess.run(["ip", "-j", "-n", o.NS[ns], "link", "show", dev], check=True,
                         capture_output=True, text=True).stdout
    return bytes.fromhex(json.loads(out)[0]["address"].replace(":", ""))


def csum(data):
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_message(family, src, dst, ty, code, rest, quote):
    """An ICMP (ICMPv6) error message with its checksum."""
    msg = bytes([ty, code, 0, 0]) + rest + quote
    if family == 4:
        check = csum(msg)
    else:
        pseudo = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) \
            + len(msg).to_bytes(4, "big") + b"\0\0\0\x3a"
        check = csum(pseudo + msg)
    return msg[:2] + check.to_bytes(2, "big") + msg[4:]


def background(pkt, family):
    """Whether `pkt` is traffic of the links themselves (multicast,
    neighbour discovery), not of the scenario."""
    if family == 4:
        return len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[16] >= 224 or pkt[9] == 2
    return len(pkt) < 40 or pkt[24] == 0xFF or (pkt[6] == 58 and len(pkt) > 40 and 133 <= pkt[40] <= 137)


def incoming(sniffer, family, quiet=0.3):
    """The scenario's packets that arrive at the sniffer's link until
    none has for `quiet` seconds (what its own host sends is skipped)."""
    got = []
    sniffer.settimeout(quiet)
    while True:
        try:
            pkt, (_, _, pkttype, _, _) = sniffer.recvfrom(65535)
        except socket.timeout:
            return got
        if pkttype != socket.PACKET_OUTGOING and not background(pkt, family):
            got.append(pkt)


def layout(pkt, family):
    """Where the IP packet's layer 4 part starts, and its protocol
    (IPv6: after the extension headers this oracle puts in)."""
    if family == 4:
        return (pkt[0] & 15) * 4, pkt[9]
    at, nh = 40, pkt[6]
    while nh in (0, 60) and at + 2 <= len(pkt):
        nh, at = pkt[at], at + (pkt[at + 1] + 1) * 8
    return at, nh


def altered(pkt, family, q):
    """The quoted packet: `pkt` as one side received it, changed as the
    scenario's "quote" says."""
    p = bytearray(pkt)
    if family == 4 and q.get("ihl") is not None:
        p[0] = (p[0] & 0xF0) | q["ihl"]
    if family == 4 and q.get("options"):
        # NOP options: the header grows, the total length and the header
        # checksum are left as they were (no one reads them in a quote).
        n = q["options"]
        hl = (p[0] & 15) * 4
        p[hl:hl] = b"\x01" * n
        p[0] = (p[0] & 0xF0) | ((hl + n) // 4)
    if family == 6 and q.get("ext"):
        # A destination options header (PadN) before the layer 4 part.
        p[40:40] = bytes([p[6], 0, 1, 4, 0, 0, 0, 0])
        p[6] = 60
    l4, proto = layout(p, family)
    icmp = proto in (1, 58)
    for a in q.get("alter", []):
        if a == "sport" and not icmp:
            p[l4 + 1] ^= 0x10
        elif a == "dport" and not icmp:
            p[l4 + 3] ^= 0x10
        elif a == "id" and icmp:
            p[l4 + 5] ^= 0x10
        elif a == "src":
            p[15 if family == 4 else 23] ^= 0x20
        elif a == "dst":
            p[19 if family == 4 else 39] ^= 0x20
        elif a == "proto":
            at = 9 if family == 4 else (6 if l4 == 40 else 40)
            p[at] = {17: 6, 6: 17}.get(p[at], 17)
        elif a == "l4sum":
            at = l4 + {17: 6, 6: 16}.get(proto, 2)
            if at + 2 <= len(p):
                p[at] ^= 0x12
                p[at + 1] ^= 0x34
        elif a == "l4sum0" and proto == 17:
            p[l4 + 6:l4 + 8] = b"\0\0"
        elif a == "ipsum" and family == 4:
            p[10] ^= 0x5A
        elif a == "ttl":
            p[8 if family == 4 else 7] ^= 0x21
        elif a == "len":
            at = 2 if family == 4 else 4
            n = (int.from_bytes(p[at:at + 2], "big") + 300) & 0xFFFF
            p[at:at + 2] = n.to_bytes(2, "big")
        elif a == "mf" and family == 4:
            p[6] |= 0x20
        elif a == "offset" and family == 4:
            p[7] |= 0x03
        elif a == "version":
            p[0] = (p[0] & 0x0F) | (0x60 if family == 4 else 0x40)
    if q.get("cut") is not None:
        p = p[:l4 + q["cut"]]
    return bytes(p)


def outer_packet(family, src, dst, msg, out):
    """The error's IP packet around the ICMP message `msg`, with the
    scenario's "outer" header fields, and the frame's trailer."""
    if family == 4:
        opts = out.get("options", 0)
        ip = IP(src=src, dst=dst, ttl=out.get("ttl", 64), id=out.get("ident", 0),
                flags="DF" if out.get("df") else 0, proto=1)
        pkt = bytearray(bytes(ip / Raw(msg)))
        if opts:
            # NOP options, the header length, total length and checksum
            # made right.
            pkt[20:20] = b"\x01" * opts
            pkt[0] = 0x40 | (20 + opts) // 4
            pkt[2:4] = len(pkt).to_bytes(2, "big")
            pkt[10:12] = b"\0\0"
            pkt[10:12] = csum(bytes(pkt[:20 + opts])).to_bytes(2, "big")
        pkt = bytes(pkt)
    else:
        ext = out.get("ext")
        hlim = out.get("ttl", 64)
        if ext == "hbh":
            pkt = bytes(IPv6(src=src, dst=dst, hlim=hlim, nh=0)
                        / IPv6ExtHdrHopByHop(nh=58, options=[PadN(optdata=b"\0\0\0\0")]) / Raw(msg))
        elif ext == "dst":
            pkt = bytes(IPv6(src=src, dst=dst, hlim=hlim, nh=60) / IPv6ExtHdrDestOpt(nh=58) / Raw(msg))
        else:
            pkt = bytes(IPv6(src=src, dst=dst, hlim=hlim, nh=58) / Raw(msg))
    return pkt + bytes(range(0xA0, 0xA0 + out.get("trailer", 0)))


def flow_packet(s):
    """The client's first packet."""
    family, proto = s["family"], s.get("proto", "udp")
    client, server, public = o.ADDRS[family][:3]
    L3 = IP if family == 4 else IPv6
    l3 = L3(src=client, dst=server if s["nat"] == "snat" else public)
    data = bytes.fromhex(s.get("data", ""))
    if proto == "udp":
        return bytes(l3 / UDP(sport=s["sport"], dport=s["dport"]) / Raw(data))
    if proto == "tcp":
        return bytes(l3 / TCP(sport=s["sport"], dport=s["dport"], flags="S", seq=1000, window=65535,
                              options=[("MSS", 1460)]))
    echo = ICMP(type=8, id=s["id"], seq=1) if family == 4 else ICMPv6EchoRequest(id=s["id"], seq=1)
    return bytes(l3 / echo / Raw(data))


def answer_packet(family, proto, saw):
    """The server's answer to the flow's packet `saw` as it received it."""
    if family == 4:
        q = IP(saw)
        l3 = IP(src=q.dst, dst=q.src)
    else:
        q = IPv6(saw)
        l3 = IPv6(src=q.dst, dst=q.src)
    if proto == "udp":
        u = q[UDP]
        return bytes(l3 / UDP(sport=u.dport, dport=u.sport) / Raw(b"answer"))
    if proto == "tcp":
        t = q[TCP]
        return bytes(l3 / TCP(sport=t.dport, dport=t.sport, flags="SA", seq=5000, ack=t.seq + 1,
                              window=65535, options=[("MSS", 1400)]))
    if family == 4:
        e = q[ICMP]
        return bytes(l3 / ICMP(type=0, id=e.id, seq=e.seq) / Raw(bytes(e.payload)))
    e = q[ICMPv6EchoRequest]
    return bytes(l3 / ICMPv6EchoReply(id=e.id, seq=e.seq, data=e.data))


def one(got, what):
    """The only packet in `got`, or None; more is recorded as "also"."""
    if len(got) > 1:
        print("%s: %d packets arrived" % (what, len(got)), file=sys.stderr)
    return (got[0].hex() if got else None), [g.hex() for g in got[1:]]


def main():
    s = json.load(open(sys.argv[1]))
    family, nat, proto = s["family"], s["nat"], s.get("proto", "udp")
    client, server, public, net = o.ADDRS[family][:4]
    eth = 0x0800 if family == 4 else 0x86DD
    try:
        o.setup(family, rules(family, nat, s.get("rule_proto", proto), s.get("ports")), public if nat == "snat" else net,
                [HOP[family]])
        if s.get("conntrack_checksum") == 0:
            o.sh("sysctl", "-qw", "net.netfilter.nf_conntrack_checksum=0", ns="r")
        o.sh("ip", "addr", "add", "%s/%d" % (CLIENT_HOP[family], o.ADDRS[family][6]), "dev", "c0",
             *(["nodad"] if family == 6 else []), ns="c")
        if family == 6:
            # Its neighbour resolved now, as `setup` resolves the others':
            # else the first error to it arrives after the quiet time and
            # is taken for the next error's second packet.
            o.resolve("r", CLIENT_HOP[family])
        for ns in ("c", "s"):
            o.sh("nft", "-f", "-", ns=ns, stdin=QUIET)
        side = {"c": (o.sniffer_in("c", "c0", family), ("c0", eth, 0, 0, mac("r", "rc"))),
                "s": (o.sniffer_in("s", "s0", family), ("s0", eth, 0, 0, mac("r", "rs")))}

        def send(ns, pkt):
            sock, to = side[ns]
            sock.sendto(pkt, to)

        # The flow's packet, and what the server received.
        for sock, _ in side.values():
            incoming(sock, family, 0.05)
        pkt = flow_packet(s)
        s["client_sent"] = pkt.hex()
        send("c", pkt)
        got = incoming(side["s"][0], family)
        if len(got) != 1:
            raise RuntimeError("the flow's packet: %d arrived" % len(got))
        saw = got[0]
        s["server_saw"] = saw.hex()
        answered = None
        if s.get("answer"):
            pkt = answer_packet(family, proto, saw)
            s["answer_sent"] = pkt.hex()
            send("s", pkt)
            s["answer_arrived"], also = one(incoming(side["c"][0], family), "answer")
            if also:
                s["answer_also"] = also
            answered = s["answer_arrived"] and bytes.fromhex(s["answer_arrived"])
        for e in s["errors"]:
            inside = e["from"] in ("client", "client_hop")
            about = answered if inside else saw
            if about is None:
                # (Nothing arrived to quote.)
                e["sent"] = e["arrived"] = None
                continue
            src = {"server": server, "hop": HOP[family], "far": FAR[family], "client": client,
                   "client_hop": CLIENT_HOP[family]}[e["from"]]
            # Back to where the quoted packet came from.
            if family == 4:
                dst = socket.inet_ntoa(about[12:16])
            else:
                dst = socket.inet_ntop(socket.AF_INET6, about[8:24])
            out = e.get("outer", {})
            if out.get("to") == "wrong":
                # An address of the same side that the connection does
                # not name.
                dst = {("snat", False): client, ("dnat", False): CLIENT_HOP[family],
                       ("snat", True): HOP[family], ("dnat", True): server}[nat, inside]
            quote = altered(about, family, e.get("quote", {}))
            msg = icmp_message(family, src, dst, e["type"], e["code"], bytes.fromhex(e.get("rest", "00000000")),
                               quote)
            if out.get("checksum") == "bad":
                msg = msg[:3] + bytes([msg[3] ^ 1]) + msg[4:]
            elif out.get("checksum") == "ffff":
                # A checksum of 0 sent as its other form, all ones (the
                # scenario's "rest" makes it 0).
                if msg[2:4] != b"\0\0":
                    raise RuntimeError("the error's checksum is %s, not 0" % msg[2:4].hex())
                msg = msg[:2] + b"\xff\xff" + msg[4:]
            pkt = outer_packet(family, src, dst, msg, out)
            e["sent"] = pkt.hex()
            send("s" if not inside else "c", pkt)
            e["arrived"], also = one(incoming(side["c" if not inside else "s"][0], family), "error")
            if also:
                e["also"] = also
        r = subprocess.run(["ip", "netns", "exec", o.NS["r"], "conntrack", "-L", "-f",
                            "ipv4" if family == 4 else "ipv6"], capture_output=True, text=True)
        s["entries"] = r.stdout.splitlines()
        s["kernel"] = os.uname().release
        json.dump(s, open(sys.argv[2], "w"), indent=1)
    finally:
        o.teardown()


if __name__ == "__main__":
    main()
