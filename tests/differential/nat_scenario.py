"""What the NAT scenario generators share: the seed (argv[1]) and its
random generator, a family's hosts as nat_oracle.py sets them up, and the
scenario file (argv[2])."""
import json
import random
import sys

from nat_oracle import ADDRS

# A host on neither side.
OTHER = {4: "192.0.2.99", 6: "2001:db8:9::9"}


def begin():
    """The seed and its random generator."""
    if len(sys.argv) != 3:
        sys.exit("usage: %s SEED OUT.json" % sys.argv[0])
    seed = int(sys.argv[1])
    return seed, random.Random(seed)


def hosts(family):
    """The client, the server, the public address and another host."""
    client, server, public = ADDRS[family][:3]
    return client, server, public, OTHER[family]


def finish(scenario):
    """Write the scenario to argv[2]."""
    json.dump(scenario, open(sys.argv[2], "w"), indent=1)
