#!/bin/bash
# usage: ev.sh CAPTURE OUT
cap=$1; out=$2
python3 /work/shared/oracle/ct_oracle.py $cap --helpers ftp,tftp,sip,snmp,netbios-ns --sysctl nf_conntrack_acct=1 --out /tmp/ev-oracle.jsonl 2>/tmp/ev-oracle.log &
opid=$!
ns=""
for i in $(seq 1 400); do
  ns=$(ls /run/netns 2>/dev/null | grep "^cto-$opid-ct$" || true)
  [ -n "$ns" ] && break
  sleep 0.01
done
ip netns exec $ns conntrack -E > $out.conn 2>&1 &
p1=$!
ip netns exec $ns conntrack -E expect > $out.exp 2>&1 &
p2=$!
wait $opid
sleep 0.5
kill $p1 $p2 2>/dev/null
