#!/usr/bin/env python3
"""Whether the kernel's source NAT lets a new TCP connection evict an
ending one whose tuple it needs (`nf_nat_core.c:
nf_nat_used_tuple_harder()`), as tests/nat.rs
(`a_new_tcp_connection_evicts_an_ending_one_in_a_small_range`) says
ctrack does: two clients' connections take both ports of a two-port range
(`snat to 203.0.113.1:6000-6001`) and are reset (CLOSE); then a third
client's SYN whose sequence number is behind both connections' ends must
be dropped (no port), and one ahead of both must reach the server from one
of the two ports, that connection's entry gone. Uses nat_oracle.py's
namespaces. usage: nat_evict.py (root; exits 1 if the kernel does
otherwise)"""
import socket
import struct
import subprocess
import sys
import time

import nat_oracle as o

RULES = """
table ip nat {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "rs" ip saddr 10.0.0.0/24 meta l4proto tcp snat to 203.0.113.1:6000-6001
    }
}
"""
M = 1 << 32


def entries():
    """The router's TCP entries: (original source, public port, state)."""
    out = subprocess.run(["ip", "netns", "exec", o.NS["r"], "conntrack", "-L", "-p", "tcp"],
                         capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        w = line.split()
        kv = [x.split("=", 1) for x in w if "=" in x]
        rows.append((kv[0][1], int(kv[7][1]), w[3]))
    return sorted(rows)


def ends(sniffer):
    """The end of what each public port sent (seq + length + SYN/FIN), as
    the server saw it."""
    out = {}
    while True:
        try:
            pkt, (_, _, kind, _, _) = sniffer.recvfrom(65535)
        except socket.timeout:
            return out
        if kind == socket.PACKET_OUTGOING or pkt[9] != 6 or pkt[12:16] != socket.inet_aton("203.0.113.1"):
            continue
        u = pkt[20:]
        end = (int.from_bytes(u[4:8], "big") + len(u) - (u[12] >> 4) * 4 + (u[13] & 2) // 2 + (u[13] & 1)) % M
        port = int.from_bytes(u[0:2], "big")
        if port not in out or (end - out[port]) % M < M // 2:
            out[port] = end


def round_(ahead):
    """Two reset connections, then a raw SYN ahead of (or behind) both:
    whether it reached the server, and the entries left."""
    try:
        o.setup(4, RULES, "203.0.113.0/24")
        for a in ("10.0.0.6", "10.0.0.7"):
            o.sh("ip", "addr", "add", a + "/24", "dev", "c0", ns="c")
        listener = o.socket_in("s", "198.51.100.7", 80, socket.SOCK_STREAM)
        listener.listen(8)
        sniffer = o.sniffer_in("s", "s0", 4)
        for src in ("10.0.0.5", "10.0.0.6"):
            s = o.socket_in("c", src, 40000, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(("198.51.100.7", 80))
            c, _ = listener.accept()
            # A reset, not a close: the entry is CLOSE at once.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            c.close()
        time.sleep(0.3)
        e = ends(sniffer)
        assert len(e) == 2, e
        seq = (max(e.values()) + 100000) % M if ahead else (min(e.values()) - 100000) % M
        o.drain(sniffer)
        code = ("from scapy.all import IP, TCP, send; send(IP(src='10.0.0.7', dst='198.51.100.7')"
                "/TCP(sport=40001, dport=80, flags='S', seq=%d), verbose=0)" % seq)
        subprocess.run(["ip", "netns", "exec", o.NS["c"], "python3", "-c", code], check=True)
        got = o.arrival(sniffer, "198.51.100.7", 6)
        return got, entries()
    finally:
        o.teardown()


def main():
    got, rows = round_(ahead=False)
    print("behind:", got, rows)
    ok = got is None and [r[0] for r in rows] == ["10.0.0.5", "10.0.0.6"]
    got, rows = round_(ahead=True)
    print("ahead:", got, rows)
    ok &= got is not None and len(rows) == 2 and "10.0.0.7" in [r[0] for r in rows]
    print("as ctrack" if ok else "NOT as ctrack")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
