#!/usr/bin/env python3
"""Scenarios of SNMP NAT (`nf_nat_snmp_basic`) for nat_oracle.py: SNMP
messages, BER-encoded here, between a client behind source NAT and a
server, through the `snmp` helper (UDP 161: the manager is the client)
and the `snmp_trap` helper (UDP 162: the agent is the client, sending
traps). The messages carry IpAddress values (the client's address
10.0.0.5, the public one 203.0.113.1, others) where the kernel rewrites
them (varbind values, a v1 trap's agent-addr), at even and odd offsets
(the checksum update differs), where it does not (inside an OCTET STRING,
an OID), in versions it takes (1, 2c) and not (3), and broken encodings.

usage: gen_snmp_nat.py OUTDIR   (writes snmp-161.json, snmp-trap-162.json,
snmp-encodings.json, snmp-v1-traps.json; then nat_oracle.py each into
tests/data/nat/)
       gen_snmp_nat.py --random OUTDIR FIRST_SEED COUNT   (a random round:
COUNT scenarios of 40 mutated messages each, for nat_oracle.py and then
`CTRACK_NAT_DIR=... cargo test --test nat_parity`)
"""
import json
import os
import sys

CLIENT = bytes([10, 0, 0, 5])
PUBLIC = bytes([203, 0, 113, 1])
SERVER = bytes([198, 51, 100, 7])
OTHER = bytes([192, 0, 2, 9])


def tlv(tag, body, long_form=False):
    n = len(body)
    if n < 128 and not long_form:
        return bytes([tag, n]) + body
    if n < 256:
        return bytes([tag, 0x81, n]) + body
    return bytes([tag, 0x82, n >> 8, n & 255]) + body


def integer(v):
    return tlv(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def octets(b):
    return tlv(0x04, b)


def null():
    return b"\x05\x00"


def oid(*arcs):
    body = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        enc = [a & 0x7F]
        a >>= 7
        while a:
            enc.append(0x80 | (a & 0x7F))
            a >>= 7
        body += bytes(reversed(enc))
    return tlv(0x06, body)


def ipaddr(a):
    return tlv(0x40, a)


def seq(*parts, long_form=False):
    return tlv(0x30, b"".join(parts), long_form)


def varbinds(*vbs, long_form=False):
    return seq(*(seq(oid(1, 3, 6, 1, 2, 1, 4, 20, 1, i + 1), v) for i, v in enumerate(vbs)), long_form=long_form)


def pdu(tag, vbs, request_id=7):
    return tlv(tag, integer(request_id) + integer(0) + integer(0) + vbs)


def message(version, p, community=b"public"):
    return seq(integer(version), octets(community), p)


def trap_v1(agent, vbs, enterprise=oid(1, 3, 6, 1, 4, 1, 8072)):
    return tlv(0xA4, enterprise + ipaddr(agent) + integer(6) + integer(1) + tlv(0x43, b"\x01\x02") + vbs)


def text(b):
    return b.decode("latin-1")


def snmp_161():
    msgs = []

    def client(b):
        msgs.append({"from": "client", "payload": text(b)})

    def server(b):
        msgs.append({"from": "server", "payload": text(b)})

    # v1 get: nothing to rewrite.
    client(message(0, pdu(0xA0, varbinds(null(), null()))))
    # v1 response: IpAddress values of every kind, the client's in an
    # OCTET STRING too.
    server(message(0, pdu(0xA2, varbinds(ipaddr(CLIENT), ipaddr(PUBLIC), ipaddr(SERVER), octets(CLIENT),
                                         ipaddr(OTHER)))))
    # v2c set carrying the client's address (even and odd offsets: the
    # community's length moves them).
    client(message(1, pdu(0xA3, varbinds(ipaddr(CLIENT), ipaddr(PUBLIC)))))
    client(message(1, pdu(0xA3, varbinds(ipaddr(CLIENT), ipaddr(CLIENT))), community=b"privat"))
    client(message(1, pdu(0xA3, varbinds(ipaddr(CLIENT))), community=b"priv"))
    server(message(1, pdu(0xA2, varbinds(ipaddr(CLIENT), ipaddr(PUBLIC))), community=b"privat"))
    # getbulk, inform, v2 trap, report.
    client(message(1, pdu(0xA5, varbinds(ipaddr(CLIENT)))))
    client(message(1, pdu(0xA6, varbinds(ipaddr(CLIENT)))))
    client(message(1, pdu(0xA7, varbinds(ipaddr(CLIENT)))))
    client(message(1, pdu(0xA8, varbinds(ipaddr(CLIENT)))))
    # A v1 trap to port 161.
    client(message(0, trap_v1(CLIENT, varbinds(ipaddr(CLIENT)))))
    # Long-form lengths.
    client(message(1, pdu(0xA3, varbinds(ipaddr(CLIENT), long_form=True))))
    # Other value types beside it: Counter32, TimeTicks, OID, Counter64,
    # Opaque, noSuchObject.
    client(message(1, pdu(0xA3, varbinds(tlv(0x41, b"\x05"), tlv(0x43, b"\x10"), oid(1, 3, 6, 10, 0, 0, 5),
                                         tlv(0x46, b"\x01"), tlv(0x44, b"\x00"), tlv(0x80, b""),
                                         ipaddr(CLIENT)))))
    # Version 3, and versions 2 and -1.
    client(message(3, pdu(0xA0, varbinds(ipaddr(CLIENT)))))
    client(message(2, pdu(0xA0, varbinds(ipaddr(CLIENT)))))
    client(message(-1, pdu(0xA0, varbinds(ipaddr(CLIENT)))))
    # An IpAddress of 3 and of 5 bytes.
    client(message(1, pdu(0xA3, varbinds(tlv(0x40, CLIENT[:3])))))
    client(message(1, pdu(0xA3, varbinds(tlv(0x40, CLIENT + b"\x00")))))
    # Broken: cut short, trailing bytes, an unknown PDU, a wrong outer tag,
    # not BER at all, empty.
    good = message(1, pdu(0xA3, varbinds(ipaddr(CLIENT))))
    client(good[:-3])
    client(good + b"\x00\x00")
    client(message(1, pdu(0xA9, varbinds(ipaddr(CLIENT)))))
    client(b"\x31" + good[1:])
    client(b"hello")
    client(b"")
    # A community that is not an OCTET STRING; a version that is not an
    # INTEGER.
    client(seq(integer(1), integer(5), pdu(0xA3, varbinds(ipaddr(CLIENT)))))
    client(seq(octets(b"\x01"), octets(b"public"), pdu(0xA3, varbinds(ipaddr(CLIENT)))))
    # And a last good one: the connection still translates.
    server(message(1, pdu(0xA2, varbinds(ipaddr(CLIENT)))))
    return {"helper": "snmp", "server_port": 161, "client_port": 40161, "messages": msgs}


def snmp_trap_162():
    msgs = []

    def client(b):
        msgs.append({"from": "client", "payload": text(b)})

    def server(b):
        msgs.append({"from": "server", "payload": text(b)})

    # The agent (client) sends traps: v1 with its address as agent-addr,
    # v2c.
    client(message(0, trap_v1(CLIENT, varbinds(ipaddr(CLIENT), ipaddr(OTHER)))))
    client(message(0, trap_v1(OTHER, varbinds(ipaddr(CLIENT))), community=b"publi"))
    client(message(1, pdu(0xA7, varbinds(tlv(0x43, b"\x07"), ipaddr(CLIENT)))))
    client(message(1, pdu(0xA6, varbinds(ipaddr(CLIENT)))))
    # The manager answers the inform (the reply direction).
    server(message(1, pdu(0xA2, varbinds(ipaddr(CLIENT), ipaddr(PUBLIC)))))
    client(message(3, pdu(0xA7, varbinds(ipaddr(CLIENT)))))
    client(b"\x30\x03\x02\x01")
    client(message(0, trap_v1(CLIENT, varbinds())))
    return {"helper": "snmp_trap", "server_port": 162, "client_port": 40162, "messages": msgs}


def encodings():
    """Odd encodings through the `snmp` helper, each labelled ("case"):
    what the kernel's decoder takes and refuses."""
    vb = varbinds(ipaddr(CLIENT))
    def P(body, tag=0xA3): return tlv(tag, body)
    std = integer(7) + integer(0) + integer(0)
    cases = {
     'a version 020200 01': seq(b"\x02\x02\x00\x01", octets(b"public"), P(std + vb)),
     'b version empty': seq(b"\x02\x00", octets(b"public"), P(std + vb)),
     'c indefinite outer': b"\x30\x80" + integer(1) + octets(b"public") + P(std + vb) + b"\x00\x00",
     'd varbind extra elem': message(1, P(std + seq(seq(oid(1,3,6,1), ipaddr(CLIENT), null())))),
     'e pdu extra elem': message(1, P(std + vb + null())),
     'f nsap 0x45': message(1, P(std + seq(seq(oid(1,3,6,1), tlv(0x45, b"\x01")), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'g gauge 0x42': message(1, P(std + seq(seq(oid(1,3,6,1), tlv(0x42, b"\x01")), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'h boolean': message(1, P(std + seq(seq(oid(1,3,6,1), b"\x01\x01\xff"), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'i multibyte tag': message(1, P(std + seq(seq(oid(1,3,6,1), b"\x5f\x20\x01\x00"), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'j long form leading zero': seq(integer(1), b"\x04\x82\x00\x06public", P(std + vb)),
     'k ipaddr as name': message(1, P(std + seq(seq(ipaddr(CLIENT), null())))),
     'l request-id octets': message(1, P(octets(b"\x07") + integer(0) + integer(0) + vb)),
     'n extra inside outer': seq(integer(1), octets(b"public"), P(std + vb), null()),
     'o pdu len too long': message(1, tlv(0xA3, std + vb)[:1] + bytes([len(std+vb)+2]) + std + vb),
     'p constructed ipaddr 0x60': message(1, P(std + seq(seq(oid(1,3,6,1), tlv(0x60, CLIENT)), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'q ipaddr as error-status': message(1, P(integer(7) + ipaddr(CLIENT) + integer(0) + vb)),
     's empty varbinds get': message(1, P(std + seq(), 0xA0)),
     't long request id': message(1, P(integer(0x12345678) + integer(0) + integer(0) + vb)),
     'u nosuchinstance 0x81 then ip': message(1, P(std + seq(seq(oid(1,3,6,1), b"\x81\x00"), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'v endofmib 0x82 nonempty': message(1, P(std + seq(seq(oid(1,3,6,1), b"\x82\x01\x00"), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'w null nonempty': message(1, P(std + seq(seq(oid(1,3,6,1), b"\x05\x01\x00"), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'x varbind no value': message(1, P(std + seq(seq(oid(1,3,6,1)), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'y varbind not seq': message(1, P(std + seq(oid(1,3,6,1), ipaddr(CLIENT)))),
     'z version 3 byte 0x01 0x03': seq(b"\x02\x02\x01\x03", octets(b"public"), P(std + vb)),
     'A 0x83 noSuch tag 3': message(1, P(std + seq(seq(oid(1,3,6,1), b"\x83\x00"), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'B len 0x80 on primitive': message(1, P(std + seq(seq(oid(1,3,6,1), b"\x40\x80" + CLIENT + b"\x00\x00")))),
     'C community 0x24 constructed': seq(integer(1), tlv(0x24, octets(b"pub")), P(std + vb)),
     'D indefinite varbinds': message(1, P(std + b"\x30\x80" + seq(oid(1,3,6,1), ipaddr(CLIENT)) + b"\x00\x00")),
     'E 5-byte long len 0x84': seq(integer(1), b"\x04\x84\x00\x00\x00\x06public", P(std + vb)),
     'F ip at end no trailing': message(1, P(std + vb)),
     'G two pdus in order': seq(integer(1), octets(b"public"), P(std + vb, 0xA0), P(std + vb, 0xA3)),
     'H two pdus reversed': seq(integer(1), octets(b"public"), P(std + vb, 0xA3), P(std + vb, 0xA0)),
     'I int then ip': message(1, P(std + seq(seq(oid(1,3,6,1), integer(3), ipaddr(CLIENT))))),
     'J ip then ip': message(1, P(std + seq(seq(oid(1,3,6,1), ipaddr(CLIENT), ipaddr(CLIENT))))),
     'K null then ip': message(1, P(std + seq(seq(oid(1,3,6,1), null(), ipaddr(CLIENT))))),
     'L indefinite varbind null': message(1, P(std + seq(b"\x30\x80" + oid(1,3,6,1) + null() + b"\x00\x00", seq(oid(1,3,6,2), ipaddr(CLIENT))))),
     'M indefinite varbind ip': message(1, P(std + seq(b"\x30\x80" + oid(1,3,6,1) + ipaddr(CLIENT) + b"\x00\x00"))),
     'N primitive form outer 0x10': b"\x10" + message(1, P(std + vb))[1:],
     'P stray byte after value': message(1, P(std + seq(tlv(0x30, oid(1,3,6,1) + ipaddr(CLIENT) + b"\x05")))),
     'Q second varbind without value': message(1, P(std + seq(seq(oid(1,3,6,1), ipaddr(CLIENT)), seq(oid(1,3,6,2))))),
     'R counter then ip': message(1, P(std + seq(seq(oid(1,3,6,1), tlv(0x41, b"\x01"), ipaddr(CLIENT))))),
     'S ip then counter': message(1, P(std + seq(seq(oid(1,3,6,1), ipaddr(CLIENT), tlv(0x41, b"\x01"))))),
     'T string then ip': message(1, P(std + seq(seq(oid(1,3,6,1), octets(b"x"), ipaddr(CLIENT))))),
     'U nosuchobject then null': message(1, P(std + seq(seq(oid(1,3,6,1), b"\x80\x00\x05\x00"), seq(oid(1,3,6,2), ipaddr(CLIENT))))),
    }
    msgs = [{"from": "client", "payload": text(v), "case": k} for k, v in cases.items()]
    return {"helper": "snmp", "server_port": 161, "client_port": 40164, "messages": msgs}


def v1_traps():
    """v1 traps (`[4]`) of every shape through the `snmp_trap` helper:
    the kernel's grammar has no `[4]`."""
    E = oid(1, 3, 6, 1, 4, 1, 8072)
    vs = [
     tlv(0xA4, E + ipaddr(OTHER) + integer(0) + integer(0) + tlv(0x43, b"\x00") + seq()),
     tlv(0xA4, E + octets(OTHER) + integer(0) + integer(0) + tlv(0x43, b"\x00") + seq()),
     tlv(0xA4, E + ipaddr(OTHER) + integer(0) + integer(0) + integer(0) + seq()),
     tlv(0xA4, E + ipaddr(OTHER) + integer(0) + integer(0) + tlv(0x43, b"\x00")),
     tlv(0xA4, seq(E + ipaddr(OTHER) + integer(0) + integer(0) + tlv(0x43, b"\x00") + seq())),
     tlv(0xA4, ipaddr(OTHER) + integer(0) + integer(0) + tlv(0x43, b"\x00") + seq()),
     tlv(0xA4, E + tlv(0xa0, ipaddr(OTHER)) + integer(0) + integer(0) + tlv(0x43, b"\x00") + seq()),
     tlv(0xA4, E + ipaddr(OTHER) + integer(0) + integer(0) + tlv(0x43, b"\x00") + seq() + b"\x05\x00"),
    ]
    msgs = [{"from": "client", "payload": text(message(0, v))} for v in vs]
    msgs += [{"from": "client", "payload": text(message(1, v))} for v in vs[:1]]
    return {"helper": "snmp_trap", "server_port": 162, "client_port": 40163, "messages": msgs}


def random_round(seed, n=40):
    """`n` messages of a random round: a well-formed message (any PDU
    type, [4] included, versions 0 to 3, one to four VarBinds of any value
    type, the client's address among them), then up to three random edits
    (a byte changed, often to a tag or length byte; a byte put in or taken
    out; the message cut short)."""
    import random
    r = random.Random(seed)
    values = [lambda: ipaddr(CLIENT), lambda: ipaddr(OTHER), lambda: integer(r.randrange(-300, 300)),
              lambda: octets(bytes(r.randrange(256) for _ in range(r.randrange(6)))), null,
              lambda: oid(1, 3, 6, r.randrange(50)), lambda: tlv(r.choice([0x41, 0x42, 0x43, 0x44, 0x46]), b"\x01"),
              lambda: tlv(r.choice([0x80, 0x81, 0x82]), b""), lambda: b""]
    structural = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x10, 0x30, 0x40, 0x41, 0x45, 0x60, 0x80, 0x81, 0x82,
                  0x83, 0x84, 0xa0, 0xa2, 0xa3, 0xa4, 0xa7, 0xa9, 0xff]
    msgs = []
    for _ in range(n):
        vbs = [seq(oid(1, 3, 6, 1, r.randrange(9)), *[r.choice(values)() for _ in range(r.choice([1, 1, 1, 2]))])
               for _ in range(r.randrange(1, 5))]
        pdu_tag = r.choice([0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA6, 0xA7, 0xA8, 0xA4])
        m = bytearray(message(r.choice([0, 1, 1, 1, 3]), pdu(pdu_tag, seq(*vbs), r.randrange(1 << 16))))
        for _ in range(r.choice([0, 0, 1, 1, 2, 3])):
            k = r.randrange(5)
            i = r.randrange(len(m))
            if k <= 2:
                m[i] = r.choice(structural) if r.random() < 0.7 else r.randrange(256)
            elif k == 3 and len(m) > 2:
                del m[i]
            else:
                m.insert(i, r.choice(structural))
        if r.random() < 0.1:
            del m[r.randrange(1, len(m)):]
        # The client first: its datagram opens the connection (one from
        # the server first would meet no translation).
        sender = r.choice(["client", "client", "server"]) if msgs else "client"
        msgs.append({"from": sender, "payload": text(bytes(m))})
    return {"helper": r.choice(["snmp", "snmp_trap"]), "server_port": 161, "client_port": 40000 + seed % 20000,
            "seed": seed, "messages": msgs}


def main():
    if sys.argv[1] == "--random":
        # gen_snmp_nat.py --random OUTDIR FIRST_SEED COUNT
        out, first, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        os.makedirs(out, exist_ok=True)
        for seed in range(first, first + count):
            s = random_round(seed)
            if s["helper"] == "snmp_trap":
                s["server_port"] = 162
            json.dump(s, open(os.path.join(out, "snmp-random-%d.json" % seed), "w"), indent=1)
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, s in (("snmp-161.json", snmp_161()), ("snmp-trap-162.json", snmp_trap_162()),
                    ("snmp-encodings.json", encodings()), ("snmp-v1-traps.json", v1_traps())):
        json.dump(s, open(os.path.join(out, name), "w"), indent=1)


if __name__ == "__main__":
    main()
