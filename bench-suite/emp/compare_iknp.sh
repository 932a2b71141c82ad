#!/usr/bin/env bash
# IKNP random OTs, Tessera against emp-ot 0.3.0, interleaved on one machine (figures on a
# shared VM drift by minutes; compare only rounds taken together).
#
# Needs emp-tool and emp-ot 0.3.0 built and installed into $EMP_PREFIX (cmake, Release,
# emp's default flags) and this driver built against them:
#   c++ -O3 -march=native -maes -mrdseed -std=c++11 -pthread -I$EMP_PREFIX/include \
#       bench-suite/emp/iknp_bench.cpp -o $EMP_PREFIX/iknp_bench \
#       -L$EMP_PREFIX/lib -lemp-tool -lssl -lcrypto
# Usage (from the repository root): EMP_PREFIX=... bench-suite/emp/compare_iknp.sh [rounds]
set -euo pipefail
: "${EMP_PREFIX:?set EMP_PREFIX to the install prefix of emp, with iknp_bench in it}"
rounds=${1:-3}
target=${CARGO_TARGET_DIR:-target}
export LD_LIBRARY_PATH="$EMP_PREFIX/lib:${LD_LIBRARY_PATH:-}"
port=14500
for round in $(seq "$rounds"); do
    echo "round $round: $(uptime)"
    for lg in 16 20; do
        port=$((port + 1))
        "$EMP_PREFIX/iknp_bench" 1 $port $lg 5 >/tmp/emp_p1.txt &
        p=$!
        sleep 0.05
        "$EMP_PREFIX/iknp_bench" 2 $port $lg 5 >/tmp/emp_p2.txt
        wait $p
        # Median over both parties' timed calls (the slower party alone is lower).
        cat /tmp/emp_p1.txt /tmp/emp_p2.txt | grep 'kind=rot' | sed 's/.*Mops=//' | sort -n |
            awk -v lg=$lg '{a[NR]=$1} END {printf "emp-ot    rot 2^%d  %.1f M/s (median of %d calls)\n", lg, a[int((NR+1)/2)], NR}'
    done
    cargo bench -q -p tessera-bench-suite --bench ot -- ot_iknp >/dev/null 2>&1
    for d in "$target"/criterion/ot_iknp_tcp/*/*/; do
        python3 -c '
import json, sys
d = sys.argv[1].rstrip("/")
name, n = d.split("/")[-2], int(d.split("/")[-1])
m = json.load(open(d + "/new/estimates.json"))["median"]["point_estimate"]
print(f"tessera   {name} 2^{n.bit_length() - 1}  {n / m * 1e3:.1f} M/s (criterion median)")
' "$d"
    done
done
echo "end: $(uptime)"
