#!/usr/bin/env bash
# ctxswitch-bench.sh - context switches per thread of memcached 1.6.45 and
# slabcached under the same load (docs/benchmarks.md): each server with
# -t 1 on CPU 0 in turn, memtier_benchmark (memcache_text, 50 connections,
# 1:10, 100-byte values, no pipelining) on CPU 1; voluntary and
# involuntary switches and CPU ticks of every thread are read from
# /proc/<pid>/task/*/ before and after the run.
#
# Usage: scripts/ctxswitch-bench.sh [-d SECONDS] [-r ROUNDS] [-t THREADS] [-p PIPELINE] [-C]
#                                   [-b SLABCACHED]... [-m MEMCACHED] [-M MEMTIER]
#   defaults: 5 s, 1 round, -t 1, pipeline 1; MEMCACHED_145 or
#   ../shared/memcached-1.6.45/memcached; MEMTIER or
#   ../shared/memtier_benchmark/memtier_benchmark.
#   -t sets both servers' threads (event loops); with more than one, nothing
#   is pinned (servers and memtier share the CPUs). -p is memtier's pipeline.
#   -C runs Debian's memcaslap instead (one thread, 16 connections, its
#   1:9 mix, no pipelining; -p does not apply).
#   -b adds another slabcached binary (a build with a change to try) to the
#   servers compared; -r repeats the whole sequence, so servers alternate.
# Each server's summary line gives its context switches per second (all
# threads) and CPU ticks per 100,000 requests.
set -eu
dur=5 rounds=1 threads=1 pipeline=1 mc=${MEMCACHED_145:-} memtier=${MEMTIER:-} extra=() caslap=
while getopts "d:r:t:p:b:m:M:C" o; do
	case $o in
	d) dur=$OPTARG ;;
	r) rounds=$OPTARG ;;
	t) threads=$OPTARG ;;
	p) pipeline=$OPTARG ;;
	b) extra+=("$(readlink -f "$OPTARG")") ;;
	m) mc=$OPTARG ;;
	M) memtier=$OPTARG ;;
	C) caslap=1 ;;
	*) sed -n '2,21p' "$0"; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
. scripts/memtier-lib.sh
tmp=$(mktemp -d)
go build -o "$tmp" ./cmd/slabcached
[ "$threads" -gt 1 ] && cpu0=() cpu1=()
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
# tid voluntary involuntary ticks, one line per thread of $1
snap() {
	for t in /proc/"$1"/task/*; do
		printf '%s %s %s\n' "${t##*/}" \
			"$(awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v, n}' "$t/status")" \
			"$(awk '{print $14, $15}' "$t/stat")"
	done | sort
}
for round in $(seq "$rounds"); do
[ "$rounds" -gt 1 ] && echo "== round $round"
for name in memcached slabcached "${extra[@]}"; do
	if [ $name = memcached ]; then
		"${cpu0[@]}" "$mc" "${user[@]}" -p 21991 -U 0 -t "$threads" -m 256 & pid=$!
	else
		bin=$name
		[ $name = slabcached ] && bin=$tmp/slabcached
		"${cpu0[@]}" "$bin" -p 21991 -U 0 -t "$threads" -m 256 --metrics-listen off 2>/dev/null & pid=$!
	fi
	sleep 1
	snap $pid >"$tmp/before"
	if [ -n "$caslap" ]; then
		out=$("${cpu1[@]}" memcaslap -s 127.0.0.1:21991 -t "${dur}s" -T 1 -c 16 -X 100 2>/dev/null |
			awk '/^Run time/ {for (i = 1; i < NF; i++) if ($i == "TPS:") print $(i + 1)}')
	else
		"${cpu1[@]}" "$memtier" -s 127.0.0.1 -p 21991 -P memcache_text -t 1 -c 50 --pipeline "$pipeline" --ratio 1:10 -d 100 \
			--key-maximum 100000 --test-time "$dur" --hide-histogram --json-out-file "$tmp/out.json" >/dev/null 2>&1
		out=$(memtier_rate "$tmp/out.json" "$dur")
	fi
	snap $pid >"$tmp/after"
	echo "$name: $out req/s"
	# joined: tid, before (vol invol user sys), after (vol invol user sys);
	# a thread started during the run counts from zero
	join -a 2 -e 0 -o 0,1.2,1.3,1.4,1.5,2.2,2.3,2.4,2.5 "$tmp/before" "$tmp/after" | awk -v d="$dur" -v rps="$out" '{dv=$6-$2; dn=$7-$3; du=$8-$4; ds=$9-$5
		sw+=dv+dn; u+=du; sy+=ds; if (dv+dn > 0)
		printf "  thread %s: %6.0f voluntary/s %5.0f involuntary/s, %d CPU ticks\n", $1, dv/d, dn/d, du+ds}
		END {if (rps > 0) printf "  all threads: %.0f switches/s; CPU ticks per 100k requests: %.1f user, %.1f system, %.1f in all\n", sw/d, u*100000/(rps*d), sy*100000/(rps*d), (u+sy)*100000/(rps*d)}'
	kill $pid; wait $pid 2>/dev/null || true; pid=
done
done
