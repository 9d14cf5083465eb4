#!/usr/bin/env bash
# Differential rounds: random captures given to the Linux oracle and to the
# replay, compared frame by frame (compare.py). Needs root, scapy and the
# oracle (../shared/oracle beside the checkout); see README.md.
#
#   tests/differential/run.sh ROUND FROM TO [OUT]
#
# ROUND is one of sip, ftp, irc_amanda, pptp, tftp, sane, tcp, tcp_sysctl,
# sctp, icmp, frag, gre; seeds FROM..TO. tcp_sysctl is tcp's captures with
# each seed's own conntrack sysctls (sysctls.py), given to both sides.
# Each capture that differs is kept in OUT (default target/differential/ROUND)
# with the oracle's verdicts (k*.jsonl), the replay's (r*.jsonl) and the
# differences (d*.txt); the others are removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
round=$1 from=$2 to=$3
out=${4:-target/differential/$round}
here=tests/differential
oracle=${ORACLE:-../shared/oracle/ct_oracle.py}
case "$round" in
    sip) args=(--helpers sip) ;;
    ftp) args=(--helpers ftp) ;;
    irc_amanda) args=(--helpers irc,amanda) ;;
    pptp) args=(--helpers pptp) ;;
    tftp) args=(--helpers tftp --honour-gaps 3) ;;
    sane) args=(--helpers sane) ;;
    frag) args=(--helpers tftp --honour-gaps 3) ;;
    tcp|sctp|icmp|gre|tcp_sysctl) args=(--helpers none --honour-gaps 3) ;;
    *) echo "unknown round $round" >&2; exit 2 ;;
esac
cargo build --release --example replay --quiet
replay=target/release/examples/replay
mkdir -p "$out"
differ=0
for s in $(seq "$from" "$to"); do
    c=$out/c$s.pcap k=$out/k$s.jsonl r=$out/r$s.jsonl d=$out/d$s.txt
    gen=$round seed_args=()
    if [ "$round" = tcp_sysctl ]; then
        gen=tcp
        # shellcheck disable=SC2207 # the arguments are words
        seed_args=($(python3 "$here/sysctls.py" "$s"))
    fi
    python3 "$here/gen_$gen.py" "$s" "$c"
    python3 "$oracle" "$c" --snapshot-each "${args[@]}" "${seed_args[@]}" --out "$k" >/dev/null 2>&1
    "$replay" "${args[@]}" "${seed_args[@]}" "$c" >"$r"
    if python3 "$here/compare.py" "$k" "$r" >"$d"; then
        rm -f "$c" "$k" "$r" "$d"
    else
        differ=$((differ + 1))
        echo "seed $s differs: $(head -1 "$d")"
        [ ${#seed_args[@]} -eq 0 ] || echo "${seed_args[*]}" >"$out/s$s.txt"
    fi
done
echo "$round: $((to - from + 1)) captures, $differ differ"
