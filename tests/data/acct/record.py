#!/usr/bin/env python3
"""Record Linux 6.18's conntrack -L with accounting on for every capture
of tests/data (GROUP/NAME.pcap, crafted ones included): the oracle with the options of the
capture's own verdict file (NAME.linux.jsonl) plus nf_conntrack_acct=1,
written to tests/data/acct/GROUP/NAME.linux-acct.jsonl (run as root).

    python3 tests/data/acct/record.py [ORACLE]
"""
import json
import pathlib
import subprocess
import sys

ORACLE = sys.argv[1] if len(sys.argv) > 1 else "../shared/oracle/ct_oracle.py"
DATA = pathlib.Path(__file__).resolve().parent.parent
SHARED = DATA.parent.parent.parent / "shared" / "corpus"

# The vendored captures' verdicts are NAME.linux.jsonl, the crafted ones'
# NAME.default.jsonl (their other variants change settings).
found = [(v, ".linux.jsonl") for v in DATA.glob("**/*.linux.jsonl")]
found += [(v, ".default.jsonl") for v in DATA.glob("crafted/**/*.default.jsonl")]
# And the captures of ../shared/corpus that are not vendored.
vendored = {v.name for v, _ in found}
shared = [(v, ".linux.jsonl") for v in SHARED.glob("**/*.linux.jsonl") if v.name not in vendored]
for verdicts, suffix in sorted(found) + sorted(shared):
    base = SHARED if verdicts.is_relative_to(SHARED) else DATA
    group = verdicts.parent.relative_to(base)
    if group.parts[0] in ("acct", "events"):
        continue
    name = verdicts.name[: -len(suffix)]
    capture = verdicts.parent / f"{name}.pcap"
    if not capture.exists():
        capture = verdicts.parent / f"{name}.pcapng"
    if not capture.exists():
        continue
    options = {}
    for line in verdicts.read_text().splitlines():
        obj = json.loads(line)
        if "options" in obj:
            options = obj["options"]
    args = ["python3", ORACLE, str(capture), "--helpers", options.get("helpers") or "none"]
    for s in options.get("sysctl") or []:
        args += ["--sysctl", s]
    args += ["--sysctl", "nf_conntrack_acct=1"]
    for n in options.get("notrack") or []:
        args += ["--notrack", n]
    if options.get("honour_gaps") is not None:
        args += ["--honour-gaps", str(options["honour_gaps"])]
    out = DATA / "acct" / group / f"{name}.linux-acct.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(args + ["--out", str(out)], check=True, stderr=subprocess.DEVNULL)
    print(out.relative_to(DATA))
