"""What the generators share: the seed's random generator and the capture
(tests/data/crafted/capture.py), and a TCP connection with right sequence
numbers both ways."""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "crafted"))
from capture import Capture  # noqa: E402
from scapy.all import IP, IPv6, TCP, Raw  # noqa: E402


def begin():
    """The seed (argv[1]), its random generator and an empty capture, which
    the generator writes to argv[2]."""
    if len(sys.argv) != 3:
        sys.exit("usage: %s SEED OUT.pcap" % os.path.basename(sys.argv[0]))
    seed = int(sys.argv[1])
    return seed, random.Random(seed), Capture()


def finish(cap):
    """Write the capture to argv[2]."""
    cap.write(sys.argv[2])


class TcpConn:
    """A TCP connection from `a`:`ap` to `b`:`bp` (IPv6 if the addresses
    are), its handshake added to `cap` at once; random initial sequence
    numbers from `rng`."""

    def __init__(self, cap, rng, a, b, ap, bp):
        self.cap, self.a, self.b, self.ap, self.bp = cap, a, b, ap, bp
        self.l3 = IPv6 if ":" in a else IP
        self.aseq, self.bseq = rng.randrange(1 << 32), rng.randrange(1 << 32)
        self.raw(True, "S", b"", self.aseq, 0)
        self.aseq = (self.aseq + 1) % (1 << 32)
        self.raw(False, "SA", b"", self.bseq, self.aseq)
        self.bseq = (self.bseq + 1) % (1 << 32)
        self.raw(True, "A", b"", self.aseq, self.bseq)

    def raw(self, from_a, flags, data, seq, ack):
        """One segment, its numbers as given."""
        src, dst, sp, dp = (self.a, self.b, self.ap, self.bp) if from_a else (self.b, self.a, self.bp, self.ap)
        p = self.l3(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, window=65535)
        self.cap.add(p / Raw(data) if data else p)

    def send(self, from_a, data, flags="PA"):
        """`data` in the next segment of its side (a FIN counts one), and the
        other side's ACK of it."""
        n = len(data) + ("F" in flags)
        if from_a:
            self.raw(True, flags, data, self.aseq, self.bseq)
            self.aseq = (self.aseq + n) % (1 << 32)
            self.raw(False, "A", b"", self.bseq, self.aseq)
        else:
            self.raw(False, flags, data, self.bseq, self.aseq)
            self.bseq = (self.bseq + n) % (1 << 32)
            self.raw(True, "A", b"", self.aseq, self.bseq)

    def send_split(self, from_a, data, rng, chance):
        """`data` in one segment or, with probability `chance`, in two cut
        at a random byte (a helper sees a command in pieces)."""
        if len(data) > 1 and rng.random() < chance:
            cut = rng.randrange(1, len(data))
            self.send(from_a, data[:cut])
            self.send(from_a, data[cut:])
        else:
            self.send(from_a, data)
