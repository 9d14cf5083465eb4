#!/usr/bin/env python3
"""Compare the replay's output with the oracle's for one capture, as
tests/parity.rs does per frame, plus the final expectation listing (timeouts
left out). usage: compare.py ORACLE.jsonl REPLAY.jsonl: prints the differences, exit status 1 if any"""
import json
import re
import sys


def load(path):
    frames, final = {}, None
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        o = json.loads(line)
        if o.get("final"):
            final = o
        elif "i" in o:
            frames[o["i"]] = o
    return frames, final


def flags(o):
    st = o.get("status") or []
    return ("ASSURED" in st, "SEEN_REPLY" in st)


def diffs(e, a):
    if a is None:
        return ["missing"]
    bad = []
    if a.get("state") != e.get("state"):
        bad.append("state %s!=%s" % (a.get("state"), e.get("state")))
    if e.get("stage") and a.get("stage") != e["stage"]:
        bad.append("stage %s!=%s" % (a.get("stage"), e["stage"]))
    if e.get("dir") and a.get("dir") != e["dir"]:
        bad.append("dir %s!=%s" % (a.get("dir"), e["dir"]))
    if e.get("state") != "invalid":
        for k in ("tcp_state", "helper", "master"):
            if e.get(k) and a.get(k) != e[k]:
                bad.append("%s %s!=%s" % (k, a.get(k), e[k]))
        if e.get("status") is not None and flags(a) != flags(e):
            bad.append("flags %s!=%s" % (flags(a), flags(e)))
        if e.get("timeout") is not None and a.get("timeout") is not None and abs(e["timeout"] - a["timeout"]) > 1:
            bad.append("timeout %s!=%s" % (a["timeout"], e["timeout"]))
    if "in_table" in e and a.get("in_table") != e["in_table"] and e.get("state") not in ("invalid",):
        bad.append("in_table %s!=%s" % (a.get("in_table"), e["in_table"]))
    return bad


def expect_lines(final):
    out = []
    for l in (final or {}).get("conntrack_L_expect", []):
        if l.startswith("#"):
            continue
        # `conntrack -L expect` lists IPv4 expectations only (the CLI's
        # default family): the oracle's listing has no IPv6 ones.
        if "src=" in l and ":" in l.split("src=")[1].split()[0]:
            continue
        out.append(re.sub(r"^\d+ ", "", l).strip())
    return sorted(out)


exp, efin = load(sys.argv[1])
act, afin = load(sys.argv[2])
n = 0
for i in sorted(exp):
    e = exp[i]
    if e.get("state") not in ("new", "established", "related", "invalid", "untracked"):
        continue
    b = diffs(e, act.get(i))
    if b:
        n += 1
        print("frame %d: %s  [%s]" % (i, "; ".join(b), e.get("summary", "")))
el, al = expect_lines(efin), expect_lines(afin)
if el != al:
    n += 1
    print("expectations differ:\n  linux:  %s\n  ctrack: %s" % (el, al))
sys.exit(1 if n else 0)
