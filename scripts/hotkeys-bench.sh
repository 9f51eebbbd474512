#!/usr/bin/env bash
# hotkeys-bench.sh - the hot-key measurement of docs/hotkeys.md: five
# slabcached processes on 127.0.0.61-65 with gossip, driven through the Go
# client by `slabbench run -discover` (Zipf reads over a million keys),
# following hot keys (the least loaded node per read, a node at random per
# read, one node per client and key), and ignoring them, in the same run, after an
# unmeasured warm-up that fills the caches.
#
# Usage: scripts/hotkeys-bench.sh [-d DURATION] [-r REPLICAS] [-b BINDIR]
#   -d  measured phase length (default 60s; each of the five phases)
#   -r  -o hotkey_replicas for the nodes: 1 to 16 or all (default 3)
#   -b  directory with slabcached and slabbench (default: built into a
#       temporary directory from this checkout)
# Environment: KEYS (1000000), ZIPF (1.1), CONNS (32), RATIO (1:10),
# HOTKEY_OPTS (more -o options for the nodes, e.g. hotkey_threshold=0.005).
set -eu
dur=60s replicas=3 bindir=""
while getopts "d:r:b:" o; do
	case $o in
	d) dur=$OPTARG ;;
	r) replicas=$OPTARG ;;
	b) bindir=$OPTARG ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.."
. scripts/cluster-lib.sh
for i in 1 2 3 4 5; do
	start_node 127.0.0.6 $i "hotkey_replicas=$replicas${HOTKEY_OPTS:+,$HOTKEY_OPTS}"
done
sleep 3
load=(-discover 127.0.0.61:11211 -quiet -conns "${CONNS:-32}" -keys "${KEYS:-1000000}"
	-dist zipf -dist-param "${ZIPF:-1.1}" -ratio "${RATIO:-1:10}" -value-size 100 -duration "$dur")
echo "== warm-up ($dur, not measured)"
"$bindir/slabbench" run -no-hotkeys -seed 1 "${load[@]}" | tail -1
seed=2
for mode in on random per-client off; do
	flag=(-seed $seed)
	seed=$((seed + 1))
	[ $mode = random ] && flag+=(-hotkey-random)
	[ $mode = per-client ] && flag+=(-hotkey-per-client)
	[ $mode = off ] && flag+=(-no-hotkeys)
	echo "== hot keys $mode (hotkey_replicas=$replicas)"
	"$bindir/slabbench" run "${flag[@]}" "${load[@]}"
	sleep 4 # the hot set of the last phase ages out
done
