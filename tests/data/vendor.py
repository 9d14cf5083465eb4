#!/usr/bin/env python3
"""Vendor the permissively licensed corpus captures with compacted verdicts.

usage: tests/data/vendor.py [CORPUS_DIR]   (default: ../shared/corpus beside the checkout)

Copies every capture of CORPUS_DIR whose source licence (SOURCES.md) is not
a GPL variant into tests/data/<category>/, with both verdict files reduced to
the fields the parity test compares, and writes tests/data/SOURCES.md with
the provenance rows of the vendored files.
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "corpus")
KEEP = ("i", "summary", "state", "dir", "stage", "tcp_state", "sctp_state", "status", "timeout", "helper", "master", "ct_log", "in_table")
KEEP_FINAL = ("final", "frames", "conntrack_L", "conntrack_L_expect", "conntrack_S", "options")


def compact(src, dst):
    with open(src) as f, open(dst, "w") as out:
        for line in f:
            line = line.strip()
            if not line:
                continue
            o = json.loads(line)
            keep = KEEP_FINAL if o.get("final") else KEEP
            out.write(json.dumps({k: o[k] for k in keep if k in o}, separators=(",", ":")) + "\n")


def compact_dir(directory):
    """Compact every verdict file of `directory` in place (crafted captures)."""
    for name in sorted(os.listdir(directory)):
        if name.endswith(".jsonl"):
            path = os.path.join(directory, name)
            compact(path, path + ".tmp")
            os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--compact-dir":
        compact_dir(sys.argv[2])
        return
    rows, header = [], []
    with open(os.path.join(CORPUS, "SOURCES.md")) as f:
        for line in f:
            cells = [c.strip() for c in line.split("|")]
            if line.startswith("| ") and len(cells) > 5 and cells[1].endswith(".pcap"):
                rows.append((cells[1], cells[5], line))
            elif line.startswith("|") and not rows:
                header.append(line)
    vendored = []
    for path, licence, line in rows:
        if "GPL" in licence:
            continue
        base = path[: -len(".pcap")]
        os.makedirs(os.path.join(HERE, os.path.dirname(path)), exist_ok=True)
        shutil.copyfile(os.path.join(CORPUS, path), os.path.join(HERE, path))
        for variant in ("linux", "linux-nocsum"):
            compact(os.path.join(CORPUS, f"{base}.{variant}.jsonl"), os.path.join(HERE, f"{base}.{variant}.jsonl"))
        vendored.append(line)
    with open(os.path.join(HERE, "SOURCES.md"), "w") as f:
        f.write("# Vendored captures: provenance and licences\n\n")
        f.write("Copied unchanged from `shared/corpus` (see its SOURCES.md) by `vendor.py`; only the\n")
        f.write("permissively licensed ones (BSD-3-Clause, MIT, Apache-2.0). The `.jsonl` files are the\n")
        f.write("Linux 6.18 oracle's verdicts reduced to the compared fields.\n\n")
        f.write("| file | source repository | path in repository | commit | license | pkts | bytes | conns tcp/udp | SYN/SYN-ACK/FIN/RST | contents |\n")
        f.write("|---|---|---|---|---|---|---|---|---|---|\n")
        f.writelines(vendored)
    print(f"vendored {len(vendored)} captures")


if __name__ == "__main__":
    main()
