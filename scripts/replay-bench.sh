#!/usr/bin/env bash
# replay-bench.sh - hit ratios of eviction policies on synthetic traces
# (docs/memory.md): for each trace, memcached 1.6.45, slabcached with
# -o eviction=lru and slabcached with -o eviction=lfu, all started fresh
# with the same -m and -t 1, get the same request stream from slabbench
# replay (cache-aside: a get, and a set after a miss), one after the other.
#
# Usage: scripts/replay-bench.sh [-m MB] [-n READS] [-t TRACES] [-M MEMCACHED] [-- REPLAY FLAGS]
#   -m  memory of every server (default 64); -n  reads per trace (default
#   8000000); -t  traces (default zipf-scan,shifting,recency); -M  the
#   memcached binary (default: MEMCACHED_145, else
#   ../shared/memcached-1.6.45/memcached). Flags after -- go to
#   slabbench replay (-keys, -scan-len, -reuse, -value-size, ...).
set -eu
mb=64 reads=8000000 traces=zipf-scan,shifting,recency mc=${MEMCACHED_145:-}
while getopts "m:n:t:M:" o; do
	case $o in
	m) mb=$OPTARG ;;
	n) reads=$OPTARG ;;
	t) traces=$OPTARG ;;
	M) mc=$OPTARG ;;
	*) sed -n '2,14p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = -- ] && shift
cd "$(dirname "$0")/.."
[ -n "$mc" ] || mc=../shared/memcached-1.6.45/memcached
[ -x "$mc" ] || { echo "replay-bench: $mc not found (see -M)" >&2; exit 1; }
tmp=$(mktemp -d)
go build -o "$tmp" ./cmd/slabcached ./cmd/slabbench
user=()
[ "$(id -u)" = 0 ] && user=(-u root)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
IFS=, read -ra list <<<"$traces"
for tr in "${list[@]}"; do
	pids=()
	"$mc" "${user[@]}" -p 21951 -U 0 -t 1 -m "$mb" & pids+=($!)
	"$tmp/slabcached" -p 21952 -U 0 -t 1 -m "$mb" -o eviction=lru --metrics-listen off 2>/dev/null & pids+=($!)
	"$tmp/slabcached" -p 21953 -U 0 -t 1 -m "$mb" -o eviction=lfu --metrics-listen off 2>/dev/null & pids+=($!)
	sleep 1
	"$tmp/slabbench" replay -addr "memcached=127.0.0.1:21951,slabcached-lru=127.0.0.1:21952,slabcached-lfu=127.0.0.1:21953" \
		-trace "$tr" -requests "$reads" "$@"
	kill "${pids[@]}"
	wait "${pids[@]}" 2>/dev/null || true
done
