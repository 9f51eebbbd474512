#!/usr/bin/env bash
# idle-wakeups.sh - what an idle server costs: memcached 1.6.45 and
# slabcached (and any other slabcached builds given) started side by side
# with -t 1 and no clients, then the context switches of all their
# threads and their CPU ticks over the same SECONDS, read from
# /proc/<pid>/task/*/status and /proc/<pid>/stat (docs/benchmarks.md,
# "An idle server").
#
# Usage: scripts/idle-wakeups.sh [-d SECONDS] [-b SLABCACHED]... [-m MEMCACHED]
#   defaults: 20 s; MEMCACHED_145 or ../shared/memcached-1.6.45/memcached.
set -eu
dur=20 mc=${MEMCACHED_145:-} extra=()
while getopts "d:b:m:" o; do
	case $o in
	d) dur=$OPTARG ;;
	b) extra+=("$(readlink -f "$OPTARG")") ;;
	m) mc=$OPTARG ;;
	*) sed -n '2,11p' "$0"; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
[ -n "$mc" ] || mc=../shared/memcached-1.6.45/memcached
[ -x "$mc" ] || { echo "idle-wakeups: no memcached 1.6.45 at $mc (set MEMCACHED_145 or -m)" >&2; exit 1; }
tmp=$(mktemp -d)
go build -o "$tmp" ./cmd/slabcached
pids=() names=() port=23411
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
start() { # name, command...
	local name=$1; shift
	"$@" >/dev/null 2>&1 &
	pids+=($!) names+=("$name")
	port=$((port + 1))
}
user=()
[ "$(id -u)" -eq 0 ] && user=(-u root)
start memcached "$mc" "${user[@]}" -l 127.0.0.1 -p $port -U 0 -t 1
start slabcached "$tmp/slabcached" -l 127.0.0.1 -p $port -U 0 -t 1 --metrics-listen off
for b in "${extra[@]}"; do
	start "$b" "$b" -l 127.0.0.1 -p $port -U 0 -t 1 --metrics-listen off
done
sleep 3 # past the start
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s + 0}'; }
ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
declare -A s0 t0
for p in "${pids[@]}"; do s0[$p]=$(switches "$p") t0[$p]=$(ticks "$p"); done
sleep "$dur"
for i in "${!pids[@]}"; do
	p=${pids[$i]}
	s=$(( $(switches "$p") - ${s0[$p]} )) t=$(( $(ticks "$p") - ${t0[$p]} ))
	awk -v n="${names[$i]}" -v s="$s" -v t="$t" -v d="$dur" \
		'BEGIN {printf "%-40s %7.1f switches/s  %3d CPU ticks in %d s\n", n, s / d, t, d}'
done
