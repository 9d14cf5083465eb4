#!/usr/bin/env bash
# Instructions per packet, ctrack against the floor of benches/common/mod.rs,
# counted by callgrind (deterministic: unlike nanoseconds, the same on any
# machine for the same build and toolchain).
#
# For each workload, examples/instructions.rs sets up N flows and then tracks
# K packets of them in the benchmarks' fixed random order; it runs under
# callgrind for K1 and K2 packets, only the measure_* functions counted, and
# instructions per packet = (I(K2) - I(K1)) / (K2 - K1).
#
#   bash ci/instructions.sh              # the table
#   bash ci/instructions.sh --profile    # and callgrind's top functions
#   N=10000 bash ci/instructions.sh      # another table size (default 100000)
#
# The callgrind files stay in target/instructions/ for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=0
for a in "$@"; do
    case "$a" in
        --profile) PROFILE=1 ;;
        *) echo "usage: $0 [--profile]" >&2; exit 2 ;;
    esac
done

N=${N:-100000}
# Two whole passes over the flows between K1 and K2: every flow counted twice.
K1=${K1:-$N}
K2=${K2:-$((3 * N))}

if ! command -v valgrind >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi

cargo build --release --example instructions --quiet
BIN=target/release/examples/instructions
OUT=target/instructions
mkdir -p "$OUT"

# run WORKLOAD K: the instructions (.ir) and simulated last-level data
# cache misses (.ll) counted in measure_* for K packets. The simulated
# caches are fixed (not the host's), so the misses are repeatable too: with
# a 1 MiB last level, far smaller than the tables (N = 100000: 21 MB of
# ctrack slots, 12.8 MB of floor slots), they count the cache lines a packet
# brings in.
run() {
    local w=$1 k=$2 n=${3:-$N} f="$OUT/$1-$2"
    valgrind --tool=callgrind --callgrind-out-file="$f.out" --toggle-collect='*measure_*' \
        --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=1048576,16,64 \
        "$BIN" "$w" "$n" "$k" >"$f.log" 2>&1 || { cat "$f.log" >&2; return 1; }
    # "events: Ir Dr ..." names the columns of "summary: ..." (trailing
    # zeros may be left out).
    awk -v ir="$f.ir" -v ll="$f.ll" '
        /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
        /^summary:/ { print $col["Ir"] + 0 > ir; print $col["DLmr"] + $col["DLmw"] > ll }' "$f.out"
    if [ ! -s "$f.ir" ] || [ "$(cat "$f.ir")" = 0 ]; then
        echo "callgrind counted nothing for $w (no measure_* function?)" >&2
        return 1
    fi
}

WORKLOADS="udp udp-nocsum udp-mtu udp-batch udp6 udp6-batch tcp tcp-ts tcp6 new-udp new-udp6 floor-udp floor-tcp floor-insert"
# Translation: these run at N_NAT flows (N unless told).
NAT_WORKLOADS="udp-orig udp-nat udp-translate udp-translate-none udp-nat-reply"
N_NAT=${N_NAT:-$N}
# Two runs at a time (one per core); callgrind itself is single-threaded.
pids=()
# run_all N WORKLOAD...: both runs of each workload with N flows.
run_all() {
    local n=$1 w k
    shift
    for w in "$@"; do
        for k in "$K1" "$K2"; do
            run "$w" "$k" "$n" &
            pids+=($!)
            if [ ${#pids[@]} -ge 2 ]; then
                wait "${pids[0]}"
                pids=("${pids[@]:1}")
            fi
        done
    done
}
# shellcheck disable=SC2086 # the lists are words
run_all "$N" $WORKLOADS
# shellcheck disable=SC2086
run_all "$N_NAT" $NAT_WORKLOADS
for p in "${pids[@]}"; do wait "$p"; done
# Setup remarks (flows a full probe window left out), once per workload.
for w in udp udp6 tcp tcp6 new-udp new-udp6; do
    grep -h "not established\|dropped" "$OUT/$w-$K2.log" || true
done

# per_packet WORKLOAD EXT: (count(K2) - count(K1)) / (K2 - K1).
per_packet() {
    local a b
    a=$(cat "$OUT/$1-$K1.$2")
    b=$(cat "$OUT/$1-$K2.$2")
    awk -v a="$a" -v b="$b" -v k1="$K1" -v k2="$K2" 'BEGIN { printf "%.2f", (b - a) / (k2 - k1) }'
}

row() {
    awk -v w="$1" -v c="$(per_packet "$2" ir)" -v f="$(per_packet "$3" ir)" \
        -v cl="$(per_packet "$2" ll)" -v fl="$(per_packet "$3" ll)" \
        'BEGIN { printf "| %-40s | %8.1f | %6.1f | %5.1f | %6.2f | %6.2f |\n", w, c, f, c / f, cl, fl }'
}

echo
echo "Per packet, $N flows at load 0.5, K = $K1 -> $K2 packets (callgrind):"
echo "instructions, and cache lines missed in a simulated 1 MiB last-level cache."
echo
printf '| %-40s | %8s | %6s | %5s | %6s | %6s |\n' workload ctrack floor ratio "ctrack" "floor"
printf '| %-40s | %8s | %6s | %5s | %6s | %6s |\n' "" instr instr "" "lines" "lines"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..42})" ---------: -------: ------: -------: -------:
row "established UDP, 28 B, checksum on" udp floor-udp
row "established UDP, 28 B, checksum off" udp-nocsum floor-udp
row "established UDP, 1,500 B, checksum on" udp-mtu floor-udp
row "established UDP, bursts of 32 (batch)" udp-batch floor-udp
row "established UDP over IPv6, 48 B" udp6 floor-udp
row "established UDP over IPv6, batch" udp6-batch floor-udp
row "established TCP ACK, 40 B" tcp floor-tcp
row "established TCP ACK, timestamps, 52 B" tcp-ts floor-tcp
row "established TCP ACK over IPv6, 60 B" tcp6 floor-tcp
row "new UDP flow (classify+confirm / insert)" new-udp floor-insert
row "new UDP flow over IPv6" new-udp6 floor-insert

echo
echo "Translation per packet, $N_NAT flows, the original direction of established"
echo "UDP flows (28 B, checksum on), the packet copied into a buffer first:"
echo
nat_row() {
    awk -v w="$1" -v a="$(per_packet "$2" ir)" -v b="$(per_packet "$3" ir)" \
        'BEGIN { printf "| %-40s | %8.1f | %8.1f | %8.1f |\n", w, a, b, b - a }'
}
printf '| %-40s | %8s | %8s | %8s |\n' "flows" track "+ transl" cost
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..42})" ---------: ---------: ---------:
nat_row "without NAT (translate: nothing to do)" udp-orig udp-translate-none
nat_row "with source NAT" udp-nat udp-translate
echo
echo "The answers of the flows with source NAT (to the public address), track:"
echo "$(per_packet udp-nat-reply ir) instructions per packet"

if [ "$PROFILE" = 1 ]; then
    for w in udp new-udp; do
        echo
        echo "Top functions, ctrack $w (self instructions per packet over $K2 packets;"
        echo "inlined code is charged to the function it was inlined into):"
        callgrind_annotate --show=Ir --auto=no --threshold=100 "$OUT/$w-$K2.out" 2>/dev/null |
            awk -v k="$K2" '
                /^ *[0-9,]+ +\([ 0-9.]+%\) +[^ ]+:/ && !/PROGRAM TOTALS/ {
                    n = $1; gsub(",", "", n)
                    line = $0; sub(/^ *[0-9,]+ +\([ 0-9.]+%\) +/, "", line)
                    sub(/ \[[^]]*\]$/, "", line)
                    fn = line; sub(/^[^:]*:/, "", fn)
                    sum[fn] += n
                }
                END { for (f in sum) printf "%8.1f  %s\n", sum[f] / k, f }' |
            sort -rn | head -15
    done
fi
