#!/usr/bin/env python3
"""Scenarios of PPTP NAT (`nf_nat_pptp`) for nat_oracle.py: PPTP control
messages over TCP port 1723 between a client (the PNS) and a server (the
PAC), one of them behind NAT (source NAT of the client, or destination NAT
of the server), through the `pptp` helper. Linux rewrites the call ids of
the call messages when the control connection is translated: a message's
own call id from the PNS, the peer's call id from the PAC; the public
call id of the PNS is the control connection's port on the public side.

usage: gen_pptp_nat.py OUTDIR   (writes pptp-outgoing.json,
pptp-incoming.json, pptp-dnat.json; then nat_oracle.py each into
tests/data/nat/). GRE packets of the calls ("gre-client", "gre-server")
go between the messages: Linux translates a call's GRE connection, keys
included.
       gen_pptp_nat.py --random OUTDIR FIRST_SEED COUNT   (a random round:
COUNT scenarios of 30 messages each, for nat_oracle.py and then
`CTRACK_NAT_DIR=... cargo test --test nat_parity`)
"""
import json
import os
import random
import struct
import sys

COOKIE = 0x1A2B3C4D
# Least body length of each control message type (RFC 2637's structures).
BODY = {1: 144, 2: 144, 3: 4, 4: 4, 5: 4, 6: 8, 7: 156, 8: 20, 9: 208, 10: 12, 11: 16, 12: 4, 13: 136,
        14: 28, 15: 12}
# The public side's port of the client's control connection (nat_oracle.py's
# PUBLIC_PORT): what Linux makes the PNS's call id under source NAT.
PUBLIC_PORT = 6000
CLIENT_PORT = 40100


def message(kind, fields=(), body_len=None, cookie=COOKIE, msg_type=1):
    """A control message: `fields` are (offset in the body, bytes)."""
    body = bytearray(BODY.get(kind, 8) if body_len is None else body_len)
    for at, b in fields:
        body[at:at + len(b)] = b
    head = struct.pack(">HHIHH", 12 + len(body), msg_type, cookie, kind, 0)
    return (head + bytes(body)).decode("latin-1")


def u16(v):
    return struct.pack(">H", v)


def start_request():
    return message(1, [(0, u16(0x100))])


def start_reply(result=1):
    return message(2, [(0, u16(0x100)), (2, bytes([result]))])


def out_call_request(cid):
    return message(7, [(0, u16(cid)), (2, u16(1))])


def out_call_reply(cid, peer, result=1):
    return message(8, [(0, u16(cid)), (2, u16(peer)), (4, bytes([result]))])


def in_call_request(cid):
    return message(9, [(0, u16(cid)), (2, u16(7))])


def in_call_reply(cid, peer, result=1):
    return message(10, [(0, u16(cid)), (2, u16(peer)), (4, bytes([result]))])


def in_call_connect(peer):
    return message(11, [(0, u16(peer))])


def clear_request(cid):
    return message(12, [(0, u16(cid))])


def disconnect_notify(cid):
    return message(13, [(0, u16(cid)), (2, bytes([1]))])


def wan_error(peer):
    return message(14, [(0, u16(peer))])


def set_link(peer):
    return message(15, [(0, u16(peer)), (4, b"\xff\xff\xff\xff")])


def echo_request():
    return message(5, [(0, b"\x00\x00\x00\x2a")])


def gre(side, call_id, data="ppp"):
    """An enhanced GRE packet from the client or the server with this
    call id (nat_oracle.py builds the header)."""
    return ("gre-" + side, data, call_id)


def scenario(nat, msgs):
    def one(m):
        d = {"from": m[0], "payload": m[1]}
        if len(m) > 2:
            d["call_id"] = m[2]
        return d
    return {"nat": nat, "family": 4, "transport": "tcp", "helper": "pptp", "server_port": 1723,
            "client_port": CLIENT_PORT, "messages": [one(m) for m in msgs]}


def outgoing():
    c, pac, pub = 0x1234, 0x0777, PUBLIC_PORT
    return scenario("snat", [
        # Before the session is up, a call request is not tracked, nor
        # rewritten.
        ("client", out_call_request(0x4444)),
        ("client", start_request()),
        ("server", start_reply()),
        ("client", echo_request()),
        # The call: the PNS's call id becomes the public port.
        ("client", out_call_request(c)),
        # A reply naming another peer call id is not tracked.
        ("server", out_call_reply(pac, 0x9999)),
        ("server", out_call_reply(pac, pub)),
        # The call's GRE: the client's first, then both ways.
        gre("client", pac),
        gre("server", pub),
        gre("client", pac, "more"),
        gre("server", pub, "more"),
        # Other keys: no connection of the call's.
        gre("server", c),
        ("client", set_link(pac)),
        ("server", set_link(pub)),
        ("server", wan_error(pub)),
        ("client", clear_request(c)),
        ("server", disconnect_notify(pac)),
        # The call is over: its GRE connection is gone.
        gre("server", pub, "late"),
        # A second call, refused, then a third.
        ("client", out_call_request(0x2222)),
        ("server", out_call_reply(0x0888, pub, result=2)),
        ("client", out_call_request(0x3333)),
        ("server", out_call_reply(0x0999, pub)),
        # The server's GRE first.
        gre("server", pub),
        gre("client", 0x0999),
        gre("server", pub),
        ("server", in_call_connect(pub)),
        ("client", clear_request(0x3333)),
        ("server", disconnect_notify(0x0999)),
    ])


def incoming():
    return scenario("snat", [
        ("client", start_request()),
        ("server", start_reply()),
        ("server", in_call_request(0x0555)),
        ("client", in_call_reply(0x0abc, 0x0555)),
        ("server", in_call_connect(0x0abc)),
        gre("client", 0x0555),
        gre("server", 0x0abc),
        gre("server", 0),
        ("server", set_link(0x0abc)),
        ("client", clear_request(0x0abc)),
        ("server", disconnect_notify(0x0555)),
        # Then an outgoing call, and an incoming one refused.
        ("client", out_call_request(0x0101)),
        ("server", out_call_reply(0x0202, PUBLIC_PORT)),
        ("server", in_call_request(0x0303)),
        ("client", in_call_reply(0x0404, 0x0303, result=3)),
        ("client", in_call_reply(0x0505, 0x0303)),
        ("server", in_call_connect(0x0505)),
        ("server", in_call_connect(0x0404)),
    ])


def dnat():
    # The PAC behind destination NAT: the PNS's call id becomes the
    # control connection's reply destination port, its own source port.
    return scenario("dnat", [
        ("client", start_request()),
        ("server", start_reply()),
        ("client", out_call_request(0x1234)),
        ("server", out_call_reply(0x0777, CLIENT_PORT)),
        ("server", out_call_reply(0x0777, 0x1234)),
        gre("server", CLIENT_PORT),
        gre("client", 0x0777),
        gre("server", CLIENT_PORT),
        ("client", set_link(0x0777)),
        ("server", set_link(CLIENT_PORT)),
        ("client", clear_request(0x1234)),
        ("server", disconnect_notify(0x0777)),
    ])


def random_scenario(R):
    ids = [PUBLIC_PORT, CLIENT_PORT, 0, 0x1234, 0x0777, 0xffff] + [R.randrange(65536) for _ in range(3)]
    pick = lambda: R.choice(ids)
    msgs = [("client", start_request()), ("server", start_reply(R.choice([1, 1, 1, 2])))]
    makers = [
        ("client", lambda: out_call_request(pick())),
        ("client", lambda: in_call_reply(pick(), pick(), R.choice([1, 1, 2]))),
        ("client", lambda: clear_request(pick())),
        ("client", lambda: set_link(pick())),
        ("client", echo_request),
        ("client", start_request),
        ("client", lambda: message(3)),
        ("server", lambda: out_call_reply(pick(), pick(), R.choice([1, 1, 2]))),
        ("server", lambda: in_call_request(pick())),
        ("server", lambda: in_call_connect(pick())),
        ("server", lambda: disconnect_notify(pick())),
        ("server", lambda: wan_error(pick())),
        ("server", lambda: set_link(pick())),
        ("server", lambda: start_reply(R.choice([1, 2]))),
        ("server", lambda: message(4, [(0, b"\x01")])),
        # Messages out of place, of no known type, too short, with a
        # wrong cookie or not control messages.
        ("server", lambda: out_call_request(pick())),
        ("client", lambda: out_call_reply(pick(), pick())),
        ("client", lambda: message(R.randrange(16, 40), [(0, u16(pick()))], body_len=20)),
        ("server", lambda: message(R.choice([8, 11, 13, 14, 15]), [(0, u16(pick())), (2, u16(pick()))],
                                   body_len=R.randrange(0, 30))),
        ("client", lambda: message(R.choice([7, 10, 12]), [(0, u16(pick()))], cookie=R.choice([0, COOKIE ^ 1]))),
        ("server", lambda: message(R.choice([8, 11]), [(0, u16(pick()))], msg_type=2)),
        ("gre", lambda: gre(R.choice(["client", "server"]), pick())),
        ("gre", lambda: gre(R.choice(["client", "server"]), pick())),
        ("gre", lambda: gre(R.choice(["client", "server"]), pick())),
    ]
    for _ in range(28):
        f, make = R.choice(makers)
        m = make()
        msgs.append(m if f == "gre" else (f, m))
    return scenario(R.choice(["snat", "snat", "dnat"]), msgs)


def main():
    if sys.argv[1:2] == ["--random"]:
        out, first, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        os.makedirs(out, exist_ok=True)
        for seed in range(first, first + count):
            json.dump(random_scenario(random.Random(seed)), open(os.path.join(out, "pptp-random-%d.json" % seed), "w"),
                      indent=1)
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, s in [("pptp-outgoing", outgoing()), ("pptp-incoming", incoming()), ("pptp-dnat", dnat())]:
        json.dump(s, open(os.path.join(out, name + ".json"), "w"), indent=1)


if __name__ == "__main__":
    main()
