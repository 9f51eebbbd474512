#!/usr/bin/env bash
# warmup-bench.sh - the hit ratio a client sees when a fourth node joins
# three under load (docs/cluster.md): three slabcached processes on
# 127.0.0.81-83 with gossip, Zipf load through the Go client
# (`slabbench run -discover`), an unmeasured phase that fills the caches,
# then a measured one during which 127.0.0.84 joins. Run with the default
# warm-up (fill on miss and the previous owners' push), with the push off
# (-o warmup_rate=0), and with warm-up off (-o warmup_secs=0). Prints the
# hit ratio around the join and the per-second p99: its median before the
# join and its highest in the 10 s after.
#
# Usage: scripts/warmup-bench.sh [-d DURATION] [-j JOIN_AFTER] [-b BINDIR]
#   -d  measured phase (default 40s); -j  seconds into it the node joins
#   (default 15); -b  directory with slabcached and slabbench (default:
#   built from this checkout).
# Environment: KEYS (200000), ZIPF (0.99), CONNS (32), RATIO (1:10).
set -eu
dur=40s join=15 bindir=""
while getopts "d:j:b:" o; do
	case $o in
	d) dur=$OPTARG ;;
	j) join=$OPTARG ;;
	b) bindir=$OPTARG ;;
	*) sed -n '2,16p' "$0"; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
. scripts/cluster-lib.sh
load=(-discover 127.0.0.81:11211 -conns "${CONNS:-32}" -keys "${KEYS:-200000}" -dist zipf
	-dist-param "${ZIPF:-0.99}" -ratio "${RATIO:-1:10}" -value-size 100)
for opts in warmup_secs=60 warmup_secs=60,warmup_rate=0 warmup_secs=0; do
	echo "== $opts"
	for i in 1 2 3; do start_node 127.0.0.8 $i "$opts"; done
	sleep 3
	"$bindir/slabbench" run "${load[@]}" -quiet -duration "$dur" -seed 1 | tail -1
	"$bindir/slabbench" run "${load[@]}" -duration "$dur" -seed 2 -json "$work/run.json" >"$work/run" 2>&1 &
	bench=$!
	sleep "$join"
	start_node 127.0.0.8 4 "$opts"
	echo "   (node 4 started ${join}s into the run)"
	wait $bench
	grep -E "hit ratio|busiest" "$work/run"
	python3 - "$work/run.json" "$join" <<'PY'
import json, statistics, sys
tl = json.load(open(sys.argv[1]))["timeline"]
join = float(sys.argv[2])
before = [p["p99_us"] for p in tl if p["t"] <= join]
after = [p["p99_us"] for p in tl if join < p["t"] <= join + 10]
if before and after:
    steady = statistics.median(before)
    print("   p99 before the join (median of seconds) %.0f us; highest in the 10 s after %.0f us (%.2fx)"
          % (steady, max(after), max(after) / steady))
PY
	stop_nodes
	sleep 2
done
