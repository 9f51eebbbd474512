#!/usr/bin/env bash
# pgo-profile.sh - records the CPU profile the Go compiler optimizes
# slabcached with (profile-guided optimization: cmd/slabcached/default.pgo,
# which `go build` uses by itself). A slabcached built without it (-pgo=off)
# serves, pinned to CPU 0, the loads the benchmarks measure, from tools on
# CPU 1: slabbench pipelined, unpipelined and 10-key gets, memcaslap over
# TCP and UDP, and memtier_benchmark over the binary protocol when it is
# there; SLABCACHED_CPUPROFILE writes the profile at its graceful stop.
# Refresh it after changes to the request path (docs/benchmarks.md,
# "Profile-guided optimization").
#
# Usage: scripts/pgo-profile.sh [OUT]   (default cmd/slabcached/default.pgo)
set -eu
cd "$(dirname "$0")/.."
out=${1:-cmd/slabcached/default.pgo}
memtier=${MEMTIER:-../shared/memtier_benchmark/memtier_benchmark}
port=22201
addr=127.0.0.1:$port
cpu0=() cpu1=()
command -v taskset >/dev/null && cpu0=(taskset -c 0) cpu1=(taskset -c 1)
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
	echo "pgo-profile: port $port is already in use" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -pgo=off -o "$tmp/slabcached" ./cmd/slabcached
go build -o "$tmp/slabbench" ./cmd/slabbench
SLABCACHED_CPUPROFILE="$tmp/cpu.prof" "${cpu0[@]}" "$tmp/slabcached" -l 127.0.0.1 -p $port -U $port -m 1024 -t 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
	sleep 0.1
done
run() { "${cpu1[@]}" "$@" >/dev/null 2>&1 || echo "pgo-profile: $1 failed (its share of the profile is missing)" >&2; }
run "$tmp/slabbench" run -addr $addr -quiet -prefill -duration 1s -keys 100000
run "$tmp/slabbench" run -addr $addr -quiet -duration 8s -keys 100000 -pipeline 16
run "$tmp/slabbench" run -addr $addr -quiet -duration 6s -keys 100000
run "$tmp/slabbench" run -addr $addr -quiet -duration 5s -keys 100000 -multiget 10 -ratio 0:1
if command -v memcaslap >/dev/null; then
	run memcaslap -s $addr -t 6s -T 1 -c 16 -X 100
	run memcaslap -s $addr --udp -t 3s -T 1 -c 16 -X 100
fi
if [ -x "$memtier" ]; then
	run "$memtier" -s 127.0.0.1 -p $port -P memcache_binary -t 1 -c 16 --key-maximum 100000 --test-time 5 --ratio 1:10 -d 100 --pipeline 4 --hide-histogram
fi
kill -TERM $pid
wait $pid || true
cp "$tmp/cpu.prof" "$out"
echo "wrote $out"
