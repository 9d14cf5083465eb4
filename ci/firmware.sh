#!/usr/bin/env bash
# The firmware example (examples/firmware: a Cortex-M3, QEMU's lm3s6965evb,
# a static 256-entry table in .bss) replays a capture compiled into it; its
# lines must equal the host replay tool's, frame for frame, and the final
# `conntrack -L` listing too. Also checks that the table is in .bss and that
# the firmware has no .data.
#
# Needs: qemu-system-arm (Debian: qemu-system-arm), the thumbv7m-none-eabi
# target (rustup target add thumbv7m-none-eabi).
set -euo pipefail
cd "$(dirname "$0")/.."

CAPTURE=tests/data/mixed/lan-wikipedia-browse-dns-mdns-nbns-arp-stp.pcap
OUT=target/firmware
mkdir -p "$OUT"

cargo build --release --example replay --quiet
target/release/examples/replay --helpers none "$CAPTURE" | python3 -c '
import json, sys
final = None
for line in sys.stdin:
    o = json.loads(line)
    if o.get("final"):
        final = o
        continue
    if o["state"] == "skipped":
        print(o["i"], "skipped")
    else:
        print(o["i"], o["state"], o.get("dir", "-"))
for e in final["conntrack_L"]:
    print(e)
print("end", final["stats"]["entries"], "entries")
' > "$OUT/host.txt"

(cd examples/firmware && cargo build --release --quiet)
ELF=examples/firmware/target/thumbv7m-none-eabi/release/ctrack-firmware
timeout 300 qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic \
    -semihosting-config enable=on,target=native -kernel "$ELF" > "$OUT/device.txt"

# The final listing in sorted order on both sides: its order is the
# slots', which depend on the table's size (the host replay's and the
# device's differ), not part of what is compared.
sort_listing() {
    python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
frames = [l for l in lines if l[:1].isdigit()]
end = [l for l in lines if l.startswith("end ")]
listing = sorted(l for l in lines if not l[:1].isdigit() and not l.startswith("end "))
print("\n".join(frames + listing + end))
' "$1" > "$1.sorted"
    mv "$1.sorted" "$1"
}
sort_listing "$OUT/host.txt"
sort_listing "$OUT/device.txt"

if ! diff -u "$OUT/host.txt" "$OUT/device.txt"; then
    echo "firmware: the device's verdicts differ from the host replay's" >&2
    exit 1
fi

NM=$(command -v llvm-nm || command -v nm)
SIZE=$(command -v llvm-size || command -v size)
# (The symbols are read whole first: `grep -q` would close the pipe early
# and, with pipefail, fail the check on nm's SIGPIPE.)
syms=$("$NM" -C "$ELF")
grep -Eq ' [bB] ctrack_firmware::TABLE(::h[0-9a-f]+)?$' <<<"$syms" \
    || { echo "firmware: the static table is not in .bss" >&2; exit 1; }
data=$("$SIZE" -A "$ELF" | awk '$1 == ".data" { print $2 }')
[ "${data:-0}" = 0 ] || { echo "firmware: .data is $data bytes, expected 0" >&2; exit 1; }
"$SIZE" "$ELF"
echo "firmware: $(grep -c . "$OUT/device.txt") lines equal the host replay's; table in .bss"

# The defmt variant: the same lines as defmt frames over semihosting,
# decoded on the host by defmt-print (`cargo install defmt-print`) when it
# is installed; without it, the run must still succeed and log something.
(cd examples/firmware && cargo build --release --quiet --features defmt)
timeout 300 qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic \
    -semihosting-config enable=on,target=native -kernel "$ELF" > "$OUT/device-defmt.bin"
[ -s "$OUT/device-defmt.bin" ] || { echo "firmware (defmt): no output" >&2; exit 1; }
if command -v defmt-print >/dev/null; then
    defmt-print -e "$ELF" --log-format "{s}" < "$OUT/device-defmt.bin" > "$OUT/device-defmt.txt"
    sort_listing "$OUT/device-defmt.txt"
    diff -u "$OUT/host.txt" "$OUT/device-defmt.txt" \
        || { echo "firmware (defmt): the device's verdicts differ from the host replay's" >&2; exit 1; }
    echo "firmware (defmt): $(grep -c . "$OUT/device-defmt.txt") decoded lines equal the host replay's"
else
    echo "firmware (defmt): ran, $(stat -c %s "$OUT/device-defmt.bin") bytes of defmt frames (defmt-print not installed: not decoded)"
fi
"$SIZE" "$ELF"
