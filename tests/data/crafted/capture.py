"""What the crafted captures' scripts share: a capture of Ethernet frames with
the MAC addresses the oracle expects (ct_oracle.py), 1 ms apart unless a gap
is given, from a fixed start, written as a pcap.

usage, from a script in a directory beside this file:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from capture import Capture
"""
from scapy.all import Ether, wrpcap


class Capture:
    def __init__(self, start=1_700_000_000.0):
        self.frames, self.t = [], start

    def add(self, l3, gap=0.001):
        """Append the IP packet `l3` in a frame, `gap` seconds after the last."""
        self.t += gap
        p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / l3
        p.time = self.t
        self.frames.append(p)

    def write(self, name):
        wrpcap(name, self.frames)
