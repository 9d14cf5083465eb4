#!/usr/bin/env python3
"""Replay every capture of the shared corpus through ctrack and compare each
with the Linux oracle's verdicts using the oracle's own compare.py; print a
per-category agreement table.

usage: ci/corpus_table.py REPLAY_BINARY CORPUS_DIR COMPARE_PY

The replay options (helpers, sysctls, notrack rules) are re-created from the
`options` of each verdict file's final record, so every verdict variant is
replayed exactly as the oracle ran it. Exits non-zero if a replay fails.
"""
import collections
import json
import os
import subprocess
import sys
import tempfile


def options_args(verdict_path):
    final = None
    with open(verdict_path) as f:
        for line in f:
            if '"final"' in line:
                final = json.loads(line)
    opts = (final or {}).get("options") or {}
    args = []
    if opts.get("helpers"):
        args += ["--helpers", opts["helpers"]]
    for s in opts.get("sysctl") or []:
        args += ["--sysctl", s]
    for n in opts.get("notrack") or []:
        args += ["--notrack", n]
    if opts.get("honour_gaps") is not None:
        args += ["--honour-gaps", str(opts["honour_gaps"])]
    return args


def main():
    replay, corpus, compare = sys.argv[1:4]
    sys.path.insert(0, os.path.dirname(os.path.abspath(compare)))
    import compare as cmp  # the oracle's comparison rules

    totals = collections.defaultdict(lambda: collections.Counter())
    failures = 0
    for cat in sorted(os.listdir(corpus)):
        d = os.path.join(corpus, cat)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".pcap"):
                continue
            stem = name[: -len(".pcap")]
            for v in sorted(os.listdir(d)):
                if not (v.startswith(stem + ".") and v.endswith(".jsonl")):
                    continue
                variant = v[len(stem) + 1 : -len(".jsonl")]
                expected = os.path.join(d, v)
                with tempfile.NamedTemporaryFile("w+", suffix=".jsonl") as out:
                    r = subprocess.run([replay, *options_args(expected), os.path.join(d, name)],
                                       stdout=out, stderr=subprocess.PIPE, text=True)
                    if r.returncode != 0:
                        print(f"REPLAY FAILED {cat}/{name} {variant}: {r.stderr.strip()}")
                        failures += 1
                        continue
                    res = cmp.compare(expected, out.name)
                exp, _ = cmp.load(expected)
                t = totals[(cat, variant)]
                t["frames"] += res["frames"]
                t["agree"] += res["frames"] - len(res["mismatches"])
                bad = {m[0] for m in res["mismatches"]}
                for i, e in exp.items():
                    if e["state"] not in ("new", "established", "related", "invalid", "untracked"):
                        continue
                    needs = (e.get("summary", "").startswith("tcp ") or "tcp_state" in e or "helper" in e
                             or "master" in e or "EXPECTED" in (e.get("status") or []))
                    kind = "tcp_or_helper" if needs else "plain"
                    t[kind + "_frames"] += 1
                    t[kind + "_agree"] += i not in bad
    print()
    print(f"{'category':<8} {'variant':<13} {'frames':>7} {'agree':>7} {'%':>7}   {'non-TCP, no helper':>20}   {'TCP or helper':>16}")
    grand = collections.Counter()
    for (cat, variant), t in sorted(totals.items()):
        grand.update(t)
        pct = 100.0 * t["agree"] / t["frames"] if t["frames"] else 100.0
        print(f"{cat:<8} {variant:<13} {t['frames']:>7} {t['agree']:>7} {pct:>6.2f}%   "
              f"{t['plain_agree']:>9}/{t['plain_frames']:<10} {t['tcp_or_helper_agree']:>7}/{t['tcp_or_helper_frames']:<8}")
    pct = 100.0 * grand["agree"] / grand["frames"] if grand["frames"] else 100.0
    print(f"{'all':<8} {'':<13} {grand['frames']:>7} {grand['agree']:>7} {pct:>6.2f}%   "
          f"{grand['plain_agree']:>9}/{grand['plain_frames']:<10} {grand['tcp_or_helper_agree']:>7}/{grand['tcp_or_helper_frames']:<8}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
