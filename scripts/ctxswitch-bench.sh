#!/usr/bin/env bash
# ctxswitch-bench.sh - context switches per thread of memcached 1.6.45 and
# slabcached under the same load (docs/benchmarks.md): each server with
# -t 1 on CPU 0 in turn, memtier_benchmark (memcache_text, 50 connections,
# 1:10, 100-byte values, no pipelining) on CPU 1; voluntary and
# involuntary switches and CPU ticks of every thread are read from
# /proc/<pid>/task/*/ before and after the run.
#
# Usage: scripts/ctxswitch-bench.sh [-d SECONDS] [-m MEMCACHED] [-M MEMTIER]
#   defaults: 5 s; MEMCACHED_145 or ../shared/memcached-1.6.45/memcached;
#   MEMTIER or ../shared/memtier_benchmark/memtier_benchmark.
set -eu
dur=5 mc=${MEMCACHED_145:-} memtier=${MEMTIER:-}
while getopts "d:m:M:" o; do
	case $o in
	d) dur=$OPTARG ;;
	m) mc=$OPTARG ;;
	M) memtier=$OPTARG ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
[ -n "$mc" ] || mc=../shared/memcached-1.6.45/memcached
[ -n "$memtier" ] || memtier=../shared/memtier_benchmark/memtier_benchmark
for f in "$mc" "$memtier"; do
	[ -x "$f" ] || { echo "ctxswitch-bench: $f not found (see -m and -M)" >&2; exit 1; }
done
tmp=$(mktemp -d)
go build -o "$tmp" ./cmd/slabcached
cpu0=()
command -v taskset >/dev/null && cpu0=(taskset -c 0)
user=()
[ "$(id -u)" = 0 ] && user=(-u root)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
# tid voluntary involuntary ticks, one line per thread of $1
snap() {
	for t in /proc/"$1"/task/*; do
		printf '%s %s %s\n' "${t##*/}" \
			"$(awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v, n}' "$t/status")" \
			"$(awk '{print $14+$15}' "$t/stat")"
	done | sort
}
for name in memcached slabcached; do
	if [ $name = memcached ]; then
		"${cpu0[@]}" "$mc" "${user[@]}" -p 21991 -U 0 -t 1 -m 256 & pid=$!
	else
		"${cpu0[@]}" "$tmp/slabcached" -p 21991 -U 0 -t 1 -m 256 --metrics-listen off 2>/dev/null & pid=$!
	fi
	sleep 1
	snap $pid >"$tmp/before"
	out=$(taskset -c 1 "$memtier" -s 127.0.0.1 -p 21991 -P memcache_text -t 1 -c 50 --ratio 1:10 -d 100 \
		--key-maximum 100000 --test-time "$dur" --hide-histogram --json-out-file "$tmp/out.json" 2>/dev/null >/dev/null; \
		python3 -c '
import json, sys
tot = json.load(open(sys.argv[1]))["ALL STATS"]["Totals"]
series = [b["Count"] for b in tot.get("Time-Serie", {}).values()]
busy = max(series) if series else 0
secs = sum(1 for c in series if c * 100 >= busy) if busy else float(sys.argv[2])
print("%.0f" % (tot["Count"] / secs))' "$tmp/out.json" "$dur")
	snap $pid >"$tmp/after"
	echo "$name: $out req/s"
	join "$tmp/before" "$tmp/after" | awk -v d="$dur" '{dv=$5-$2; dn=$6-$3; if (dv+dn > 0)
		printf "  thread %s: %6.0f voluntary/s %5.0f involuntary/s, %d CPU ticks\n", $1, dv/d, dn/d, $7-$4}'
	kill $pid; wait $pid 2>/dev/null || true; pid=
done
