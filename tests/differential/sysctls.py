#!/usr/bin/env python3
"""The conntrack sysctls of a seed's capture in the rounds that vary them
(run.sh's `tcp_sysctl`): each of the TCP tracker's switches and its
retransmission limit, and now and then a short timeout of a state, as
`--sysctl NAME=VALUE` arguments for the oracle and the replay alike.
usage: sysctls.py SEED"""
import random
import sys

if len(sys.argv) != 2:
    sys.exit("usage: sysctls.py SEED")
# Another stream than the generator's (which seeds with the seed itself).
R = random.Random("sysctl-%s" % sys.argv[1])
chosen = {
    "tcp_loose": R.choice([0, 1]),
    "tcp_be_liberal": R.choice([0, 0, 1]),
    "tcp_ignore_invalid_rst": R.choice([0, 1]),
    "tcp_max_retrans": R.choice([0, 1, 2, 3, 3, 5, 255]),
}
# A short timeout now and then, so that entries expire during a capture
# (its gaps are at most a few seconds): odd values, away from the sums of
# the gaps (0.5 s and 2.5 s steps), which a timer's resolution would make
# a coin toss.
for state in ["syn_sent", "syn_recv", "established", "fin_wait", "close_wait",
              "last_ack", "time_wait", "close", "max_retrans", "unacknowledged"]:
    if R.random() < 0.15:
        chosen["tcp_timeout_" + state] = R.choice([1, 4, 7, 600])
print(" ".join("--sysctl %s=%d" % kv for kv in sorted(chosen.items())))
