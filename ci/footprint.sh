#!/usr/bin/env bash
# Footprint of ctrack on a Cortex-M3 (examples/firmware, thumbv7m-none-eabi,
# opt-level "s", LTO), printed as the README's table:
#  * flash (text + rodata) and RAM (.data + .bss) of the measuring firmware
#    (no capture compiled in) with the core alone, each helper alone, and
#    all helpers; the firmware's own code (cortex-m-rt, semihosting,
#    core::fmt) is included in every figure;
#  * Cortex-M3 instructions per established UDP packet and per TCP ACK,
#    counted in QEMU (one instruction per translation block, the execution
#    log) between the firmware's `marker` calls, divided by its rounds;
#  * the stack used while tracking (QEMU's register trace).
# Fails if the core-alone flash exceeds ci/footprint-budget.txt by more
# than 10 %.
#
# Needs: qemu-system-arm, the thumbv7m-none-eabi target, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
FW=examples/firmware
ELF=$FW/target/thumbv7m-none-eabi/release/ctrack-firmware
OUT=target/footprint
mkdir -p "$OUT"
SIZE=$(command -v llvm-size || command -v size)
NM=$(command -v llvm-nm || command -v nm)

# EXTRA: features added to every build, e.g.
#   EXTRA=ctrack/compact-tcp,ctrack/ipv4-only bash ci/footprint.sh
build() {
    local f="$1${EXTRA:+${1:+,}$EXTRA}"
    (cd "$FW" && cargo build --release --quiet --no-default-features ${f:+--features "$f"})
}
sizes() { "$SIZE" -A "$ELF" | awk '
    $1 == ".text" || $1 == ".rodata" || $1 == ".vector_table" { flash += $2 }
    $1 == ".data" { flash += $2; ram += $2 }
    $1 == ".bss" || $1 == ".uninit" { ram += $2 }
    END { printf "%d %d\n", flash, ram }'; }

echo "| firmware (no capture) | flash bytes | RAM bytes (256-entry table) |"
echo "|---|---:|---:|"
build ""
read -r core_flash core_ram < <(sizes)
echo "| core (TCP, UDP, ICMP, SCTP, GRE, generic) | $core_flash | $core_ram |"
for h in ftp tftp sip snmp netbios-ns irc amanda sane pptp; do
    build "helper-$h"
    read -r f r < <(sizes)
    echo "| core + $h | $f (+$((f - core_flash))) | $r |"
done
build "helpers"
read -r f r < <(sizes)
echo "| core + all helpers | $f (+$((f - core_flash))) | $r |"

# Instructions per packet: the core build, traced.
build ""
marker=$("$NM" -C "$ELF" | awk '$3 ~ /^ctrack_firmware::marker(::h[0-9a-f]+)?$/ { print $1 }')
[ -n "$marker" ] || { echo "footprint: no marker symbol" >&2; exit 1; }
timeout 600 qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic \
    -semihosting-config enable=on,target=native -singlestep -d exec,nochain \
    -D "$OUT/exec.log" -kernel "$ELF" > "$OUT/run.txt" 2>/dev/null
grep -q "rounds: ok" "$OUT/run.txt" || { echo "footprint: the measuring firmware failed" >&2; exit 1; }
rounds=$(sed -n 's/^measured \([0-9]*\) rounds.*/\1/p' "$OUT/run.txt")
python3 - "$OUT/exec.log" "$marker" "$rounds" <<'PY'
import re, sys
log, marker, rounds = sys.argv[1], int(sys.argv[2], 16) & ~1, int(sys.argv[3])
hits, n = [], 0
pc = re.compile(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")
with open(log) as f:
    for line in f:
        m = pc.match(line)
        if not m:
            continue
        if int(m.group(1), 16) == marker:
            hits.append(n)
        n += 1
if len(hits) != 4:
    sys.exit(f"footprint: expected 4 marker calls, saw {len(hits)}")
print()
print("| Cortex-M3 instructions per packet (QEMU) | count |")
print("|---|---:|")
print(f"| established UDP, 28 B, checksum on | {(hits[1] - hits[0]) / rounds:.0f} |")
print(f"| established TCP ACK, 40 B | {(hits[3] - hits[2]) / rounds:.0f} |")
PY

# Stack: the lowest stack pointer while tracking (a register trace).
timeout 600 qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic \
    -semihosting-config enable=on,target=native -singlestep -d cpu,nochain \
    -D "$OUT/cpu.log" -kernel "$ELF" > /dev/null 2>&1
python3 - "$OUT/cpu.log" "$marker" <<'PY'
import re, sys
log, marker = sys.argv[1], int(sys.argv[2], 16) & ~1
reg = re.compile(r"R13=([0-9a-f]{8}) R14=[0-9a-f]{8} R15=([0-9a-f]{8})")
top, low, hits = None, None, 0
with open(log) as f:
    for line in f:
        m = reg.search(line)
        if not m:
            continue
        sp, pc = int(m.group(1), 16), int(m.group(2), 16)
        top = sp if top is None else top
        hits += pc == marker
        if hits in (1, 3):
            low = sp if low is None else min(low, sp)
print(f"| stack at the deepest point of `track` (whole firmware, from reset) | {top - low} bytes |")
PY
rm -f "$OUT/cpu.log"

budget=$(cat ci/footprint-budget.txt)
limit=$((budget + budget / 10))
if [ "$core_flash" -gt "$limit" ]; then
    echo "footprint: core flash $core_flash exceeds the budget $budget + 10 % ($limit)" >&2
    exit 1
fi
echo
echo "footprint: core flash $core_flash within the budget $budget + 10 %"
