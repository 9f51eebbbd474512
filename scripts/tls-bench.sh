#!/usr/bin/env bash
# tls-bench.sh - slabcached against memcached 1.6.45, both over TLS
# (docs/tls.md, docs/benchmarks.md): each server started with -Z -t 1 on
# CPU 0, memtier_benchmark (memcache_text, --tls) on CPU 1, the same load
# against each in turn, rounds alternating. Prints each run's throughput
# and the server's CPU time (user+system) per request, then the ratios.
#
# Usage: scripts/tls-bench.sh [-d SECONDS] [-r ROUNDS] [-c CONNS] [-p PIPELINE]
#                             [-m MEMCACHED] [-M MEMTIER] [-P]
#   -d  each run (default 10); -r  rounds (default 3); -c  connections
#   (default 50); -p  memtier's pipeline (default 1); -m  the memcached
#   binary (default: MEMCACHED_145, else ../shared/memcached-1.6.45/memcached);
#   -M  memtier_benchmark (default: MEMTIER, else ../shared/memtier_benchmark/);
#   -P  the same runs in the clear too, for TLS's own cost.
set -eu
dur=10 rounds=3 conns=50 pipeline=1 plain=0
mc=${MEMCACHED_145:-} memtier=${MEMTIER:-}
while getopts "d:r:c:p:m:M:P" o; do
	case $o in
	d) dur=$OPTARG ;;
	r) rounds=$OPTARG ;;
	c) conns=$OPTARG ;;
	p) pipeline=$OPTARG ;;
	m) mc=$OPTARG ;;
	M) memtier=$OPTARG ;;
	P) plain=1 ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
. scripts/memtier-lib.sh
command -v openssl >/dev/null || { echo "tls-bench: needs openssl to make a certificate" >&2; exit 1; }
tmp=$(mktemp -d)
go build -o "$tmp" ./cmd/slabcached
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
	-days 1 -subj /CN=127.0.0.1 2>/dev/null
tlsopt="ssl_chain_cert=$tmp/cert.pem,ssl_key=$tmp/key.pem"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
# taskset execs the server: $! is the server's pid (its CPU time is read).
"${cpu0[@]}" "$mc" "${user[@]}" -p 21931 -U 0 -t 1 -m 256 -Z -o "$tlsopt" -l notls:127.0.0.1:21933,127.0.0.1:21931 &
pids+=($!)
"${cpu0[@]}" "$tmp/slabcached" -p 21932 -U 0 -t 1 -m 256 -Z -o "$tlsopt" -l notls:127.0.0.1:21934,127.0.0.1:21932 \
	--metrics-listen off 2>/dev/null &
pids+=($!)
sleep 1
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
load=(-P memcache_text -t 1 -c "$conns" --pipeline "$pipeline" --ratio 1:10 -d 100
	--key-maximum 100000 --hide-histogram)
modes=(tls)
[ "$plain" = 1 ] && modes+=(plain)
results=$tmp/results
for r in $(seq "$rounds"); do
	for mode in "${modes[@]}"; do
		for i in 0 1; do
			name=$([ $i = 0 ] && echo memcached || echo slabcached)
			port=$((21931 + i)) extra=(--tls --tls-skip-verify)
			[ "$mode" = plain ] && port=$((21933 + i)) extra=()
			c0=$(cpu "${pids[$i]}")
			"${cpu1[@]}" "$memtier" -s 127.0.0.1 -p $port "${load[@]}" "${extra[@]}" --test-time "$dur" \
				--json-out-file "$tmp/out.json" >/dev/null 2>&1
			c1=$(cpu "${pids[$i]}")
			rate=$(memtier_rate "$tmp/out.json" "$dur")
			count=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ALL STATS"]["Totals"]["Count"])' "$tmp/out.json")
			echo "$r $mode $name $rate $(awk -v a="$c0" -v b="$c1" -v t="$tick" 'BEGIN {print (b - a) / t}') $count" >>"$results"
			tail -1 "$results" | awk '{printf "round %s %-5s %-10s %9.0f req/s  server CPU %.2f us/request\n", $1, $2, $3, $4, $5 / $6 * 1e6}'
		done
	done
done
python3 - "$results" "$dur" <<'PY'
import sys, collections
d = float(sys.argv[2])
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, mode, name, rate, cpu, count = line.split()
    rows[(mode, name)].append((float(rate), float(cpu) / float(count) * 1e6))
for mode in ("tls", "plain"):
    if (mode, "memcached") not in rows:
        continue
    m, s = rows[(mode, "memcached")], rows[(mode, "slabcached")]
    tput = [b[0] / a[0] for a, b in zip(m, s)]
    cpu = [b[1] / a[1] for a, b in zip(m, s)]
    print("%-5s slabcached/memcached: throughput %s  CPU per request %s" % (
        mode, " ".join("%.2f" % x for x in tput), " ".join("%.2f" % x for x in cpu)))
PY
