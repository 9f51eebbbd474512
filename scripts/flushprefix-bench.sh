#!/usr/bin/env bash
# flushprefix-bench.sh - what flushed namespaces cost reads
# (docs/invalidation.md): two slabcached processes side by side, one with
# no prefix flushed and one with 1,000 (t0: to t999:, so that every read's
# key, key:..., is looked up in the table once), the crawler off in both
# so the prefixes stay; the same get-only load against each in turn,
# rounds alternating; servers pinned to CPU 0, the load tool to CPU 1.
# Prints each run's throughput and the servers' CPU time per request.
#
# Usage: scripts/flushprefix-bench.sh [-d DURATION] [-r ROUNDS] [-b BINDIR]
#   -d  each run (default 10s); -r  rounds (default 3); -b  directory
#   with slabcached and slabbench (default: built from this checkout).
set -eu
dur=10s rounds=3 bindir=""
while getopts "d:r:b:" o; do
	case $o in
	d) dur=$OPTARG ;;
	r) rounds=$OPTARG ;;
	b) bindir=$OPTARG ;;
	*) sed -n '2,13p' "$0"; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
if [ -z "$bindir" ]; then
	bindir=$(mktemp -d)
	go build -o "$bindir" ./cmd/slabcached ./cmd/slabbench
fi
pin() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
server0=()
command -v taskset >/dev/null && server0=(taskset -c 0)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for port in 21911 21912; do
	# taskset execs the server: $! is the server's pid (its CPU time is read).
	"${server0[@]}" "$bindir/slabcached" -p $port -U 0 -t 1 -m 256 -o no_lru_crawler --metrics-listen off >/dev/null 2>&1 &
	pids+=($!)
done
sleep 1
python3 - <<'PY'
import socket
s = socket.create_connection(("127.0.0.1", 21912))
s.sendall(b"".join(b"flush_prefix t%d: noreply\r\n" % i for i in range(1000)) + b"mn\r\n")
buf = b""
while not buf.endswith(b"MN\r\n"):
    buf += s.recv(4096)
PY
load=(-conns 16 -keys 100000 -ratio 0:1 -value-size 100 -quiet)
for port in 21911 21912; do
	pin 1 "$bindir/slabbench" run -addr 127.0.0.1:$port "${load[@]}" -prefill -duration 2s >/dev/null
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
	for i in 0 1; do
		port=$((21911 + i)) pid=${pids[$i]}
		label=$([ $i = 0 ] && echo "none flushed " || echo "1000 flushed ")
		c0=$(cpu "$pid")
		out=$(pin 1 "$bindir/slabbench" run -addr 127.0.0.1:$port "${load[@]}" -duration "$dur" -json - -seed "$r")
		c1=$(cpu "$pid")
		python3 -c '
import json, sys
r = json.loads(sys.argv[1]); n = r["ops"]; secs = r["seconds"]
cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
print("round %s %s %9.0f req/s  hit ratio %.3f  server CPU %.2f us/request" % (sys.argv[5], sys.argv[6], n / secs, r["hit_ratio"], cpu / n * 1e6))
' "$out" "$c0" "$c1" "$tick" "$r" "$label"
	done
done
printf 'flushed prefixes on the second server: '
python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 21912)); s.sendall(b"stats\r\n"); b = b""
while not b.endswith(b"END\r\n"): b += s.recv(65536)
print([l for l in b.decode().split("\r\n") if "flush_prefix_pending" in l][0].split()[-1])'
