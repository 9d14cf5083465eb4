#!/usr/bin/env bash
# The helper NAT rounds: random scenarios (gen_sip_nat.py, gen_ftp_nat.py,
# gen_irc_tftp_nat.py)
# through the kernel's helper NAT (nat_oracle.py), then through ctrack's
# (tests/nat_parity.rs with CTRACK_NAT_DIR); and the source port mapping
# and port forwarding rounds (gen_nat_map.py, gen_nat_dnat.py;
# tests/nat_mapping.rs with CTRACK_NAT_MAP_DIR).
# Needs root; see README.md.
#
#   tests/differential/run_nat.sh FROM TO [OUT] [GENERATOR]
#
# GENERATOR: gen_sip_nat.py (default), gen_ftp_nat.py, gen_irc_tftp_nat.py,
# gen_nat_map.py or gen_nat_dnat.py.
#
# Every scenario and the kernel's output stay in OUT (default
# target/differential/sip_nat); the test lists the messages that differ.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
from=$1 to=$2
out=${3:-target/differential/sip_nat}
gen=${4:-gen_sip_nat.py}
here=tests/differential
mkdir -p "$out"
for s in $(seq "$from" "$to"); do
    python3 "$here/$gen" "$s" "$out/s$s.scenario"
    python3 "$here/nat_oracle.py" "$out/s$s.scenario" "$out/s$s.json"
done
if [ "$gen" = gen_nat_map.py ] || [ "$gen" = gen_nat_dnat.py ]; then
    CTRACK_NAT_MAP_DIR="$out" cargo test --release -q --test nat_mapping -- --nocapture
else
    CTRACK_NAT_DIR="$out" cargo test --release -q --test nat_parity -- --nocapture
fi
