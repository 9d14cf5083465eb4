#!/usr/bin/env bash
# Measure the e2e harness's http_v4 transfer (curl downloads the 5 MB file
# from python's http.server across the firewall) with the kernel firewall
# and with ctrack's TUN firewall, and print curl's time_total for each run.
#
# Usage (root): ci/e2e-throughput.sh [RUNS]   (default 5)
# Needs ../shared/e2e beside the checkout and its dependencies installed.
# It copies the harness to a temporary directory and adds one scenario,
# `throughput_v4`, that repeats the download RUNS times and prints the times.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SHARED=${SHARED:-../shared}
cargo build --release --example tun_firewall
FW="$PWD/target/release/examples/tun_firewall"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$SHARED/e2e" "$tmp/e2e"
cat >"$tmp/e2e/scenarios/11-throughput.sh" <<SCEN
# shellcheck shell=bash
E2E_SCENARIOS+=("throughput_v4|python3 curl|http_v4 download repeated $RUNS times, curl time_total")
sc_throughput_v4() {
    bg server httpd python3 -m http.server 8080 --bind "\$S4" --directory "\$WORK/data" >/dev/null
    wait_listen server tcp 8080 || fail "http.server did not start"
    local i t
    for i in \$(seq $RUNS); do
        t=\$(ip netns exec e2e-client curl -sS -g --max-time 15 -o /dev/null -w '%{time_total}' "http://\$S4:8080/5M.bin") ||
            fail "curl failed"
        echo "\$t" >>"$tmp/times"
    done
}
SCEN
chmod -R u+w "$tmp/e2e"
report() {
    sort -n "$tmp/times" | awk -v name="$1" '{ t[NR] = $1 } END {
        printf "%-22s runs %d  min %.3f s  median %.3f s  max %.3f s  (5 MB: median %.0f Mbit/s)\n",
            name, NR, t[1], t[int((NR + 1) / 2)], t[NR], 5 * 8 / t[int((NR + 1) / 2)] }'
    rm -f "$tmp/times"
}
"$tmp/e2e/run.sh" --firewall kernel throughput_v4 >/dev/null 2>&1
report "kernel firewall"
"$tmp/e2e/run.sh" --firewall tun --cmd "$FW --inside \"\$E2E_TUN_INSIDE\" --outside \"\$E2E_TUN_OUTSIDE\"" throughput_v4 >/dev/null 2>&1
report "ctrack tun_firewall"
