#!/usr/bin/env bash
# ab-bench.sh - two or more slabcached builds or flag sets under the same
# load, alternated (docs/benchmarks.md, "Huge pages and prefetching"): each
# server with -t 1 -m 1024 on CPU 0 in turn, the load on CPU 1, first a
# fill (slabbench's -prefill; memtier: 3 s of sets), then the measured
# run; the server's CPU ticks come from /proc/<pid>/stat.
#
#
# Usage: scripts/ab-bench.sh [-r ROUNDS] [-d SECONDS] [-p PIPELINE] [-k KEYS] [-v BYTES] [-g]
#                            [-B | -T] [-c CONNS] [-M MEMTIER] [-C] [-U] [-D N] 'SERVER [FLAGS]' 'SERVER [FLAGS]'...
#   defaults: 3 rounds of 5 s, pipeline 16, 100,000 keys; the load is
#   slabbench run (1:10 set:get, 100-byte values, 16 connections), or with
#   -B memtier_benchmark over the binary protocol (memcache_binary, 16
#   connections, 1:10, 100-byte values; MEMTIER or
#   ../shared/memtier_benchmark/memtier_benchmark; -T: over the text
#   protocol; -c: its connections), or with -C Debian's
#   memcaslap (one thread, 16 connections, its own 1:9 set:get mix of
#   its own keys and values, no pipelining; -p, -k, -v and -g do not
#   apply), or with -U the same memcaslap load over UDP (servers with
#   -p 0 -U PORT); -D N makes memcaslap's gets multi-gets of N keys
#   (its --division). -v sets the value size, -g measures gets only (after the
#   same fill).
#   Each SERVER is a command line, e.g. 'bin/slabcached -o no_prefetch'
#   (memcached run as root needs '-u root'; values over 1 MiB need -I).
# Prints, per round and server, requests per second, the server's CPU
# ticks per 100,000 requests (and of them in user space) and its threads'
# context switches per second (voluntary and involuntary, all threads).
set -eu
rounds=3 dur=5 pipeline=16 keys=100000 vsize=100 ratio=1:10 binary= proto=memcache_binary mconns=16 memtier=${MEMTIER:-} caslap= udp= division=
while getopts "r:d:p:k:v:gBTc:M:CUD:" o; do
	case $o in
	r) rounds=$OPTARG ;;
	d) dur=$OPTARG ;;
	p) pipeline=$OPTARG ;;
	k) keys=$OPTARG ;;
	v) vsize=$OPTARG ;;
	g) ratio=0:1 ;;
	B) binary=1 ;;
	T) binary=1 proto=memcache_text ;;
	c) mconns=$OPTARG ;;
	M) memtier=$OPTARG ;;
	C) caslap=1 ;;
	U) caslap=1 udp=--udp ;;
	D) caslap=1 division=--division=$OPTARG ;;
	*) sed -n '2,27p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '2,27p' "$0" >&2; exit 2; }
cd "$(dirname "$0")/.."
[ -n "$memtier" ] || memtier=../shared/memtier_benchmark/memtier_benchmark
if [ -n "$binary" ] && [ ! -x "$memtier" ]; then
	echo "ab-bench: $memtier not found (see -M)" >&2
	exit 1
fi
if [ -n "$caslap" ] && ! command -v memcaslap >/dev/null; then
	echo "ab-bench: memcaslap not found (Debian's libmemcached-tools)" >&2
	exit 1
fi
go build -o bin/slabbench ./cmd/slabbench
cpu0=() cpu1=()
command -v taskset >/dev/null && cpu0=(taskset -c 0) cpu1=(taskset -c 1)
port=22129
addr=127.0.0.1:$port

# load SECONDS RATIO prints the requests per second of one run.
load() {
	if [ -n "$caslap" ]; then
		"${cpu1[@]}" memcaslap -s $addr $udp $division -t "${1}s" -T 1 -c 16 -X 100 2>/dev/null |
			awk '/^Run time/ {for (i = 1; i < NF; i++) if ($i == "TPS:") print $(i + 1)}'
	elif [ -n "$binary" ]; then
		"${cpu1[@]}" "$memtier" -s 127.0.0.1 -p $port -P $proto -t 1 -c "$mconns" --key-maximum "$keys" \
			--test-time "$1" --ratio "$2" -d "$vsize" --pipeline "$pipeline" --hide-histogram 2>/dev/null |
			awk '/^Totals/ {printf "%.0f\n", $2}'
	else
		local s=${2%%:*} g=${2##*:}
		"${cpu1[@]}" bin/slabbench run -addr $addr -quiet -duration "${1}s" -keys "$keys" -value-size "$vsize" -pipeline "$pipeline" -ratio "$s:$g" |
			awk '/^throughput/ {print $2}'
	fi
}

ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
uticks() { awk '{print $14}' /proc/"$1"/stat; }
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }

for r in $(seq "$rounds"); do
	for server in "$@"; do
		read -ra cmd <<<"$server"
		if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || { [ -n "$udp" ] && ss -Hlun "sport = :$port" 2>/dev/null | grep -q .; }; then
			echo "ab-bench: port $port is already in use (a server left from an earlier run?)" >&2
			exit 1
		fi
		if [ -n "$udp" ]; then
			"${cpu0[@]}" "${cmd[@]}" -l 127.0.0.1 -p 0 -U $port -m 1024 -t 1 >/dev/null 2>&1 &
			pid=$!
			for _ in $(seq 50); do
				ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && break
				sleep 0.1
			done
		else
			"${cpu0[@]}" "${cmd[@]}" -l 127.0.0.1 -p $port -U 0 -m 1024 -t 1 >/dev/null 2>&1 &
			pid=$!
			for _ in $(seq 50); do
				(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
				sleep 0.1
			done
		fi
		if [ -n "$caslap" ]; then
			: # memcaslap stores its own items first
		elif [ -n "$binary" ]; then # fill
			load 3 1:0 >/dev/null
		else
			"${cpu1[@]}" bin/slabbench run -addr $addr -quiet -prefill -duration 1s -keys "$keys" -value-size "$vsize" >/dev/null
		fi
		t0=$(ticks $pid) u0=$(uticks $pid) s0=$(switches $pid)
		rate=$(load "$dur" "$ratio")
		t1=$(ticks $pid) u1=$(uticks $pid) s1=$(switches $pid)
		kill $pid
		wait $pid 2>/dev/null || true
		awk -v r="$r" -v s="$server" -v rate="$rate" -v t="$((t1 - t0))" -v u="$((u1 - u0))" -v sw="$((s1 - s0))" -v d="$dur" \
			'BEGIN {printf "round %s  %-40s %10.0f req/s  %6.2f CPU ticks per 100k requests (%5.2f user)  %6.0f switches/s\n", r, s, rate, t * 100000 / (rate * d), u * 100000 / (rate * d), sw / d}'
	done
done
