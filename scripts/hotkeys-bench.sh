#!/usr/bin/env bash
# hotkeys-bench.sh - the hot-key measurement of docs/hotkeys.md: five
# slabcached processes on 127.0.0.61-65 with gossip, driven through the Go
# client by `slabbench run -discover` (Zipf reads over a million keys),
# following hot keys (a node at random per read), following them with one
# node per client and key, and ignoring them, in the same run, after an
# unmeasured warm-up that fills the caches.
#
# Usage: scripts/hotkeys-bench.sh [-d DURATION] [-r REPLICAS] [-b BINDIR]
#   -d  measured phase length (default 60s; each of the four phases)
#   -r  -o hotkey_replicas for the nodes (default 3)
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
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
if [ -z "$bindir" ]; then
	bindir=$work
	go build -o "$bindir/" ./cmd/slabcached ./cmd/slabbench
fi
for i in 1 2 3 4 5; do
	ip=127.0.0.6$i
	if ! (exec 3<>"/dev/tcp/$ip/11211") 2>/dev/null; then :; else
		echo "$ip:11211 is in use" >&2; exit 1
	fi
	join=()
	[ "$i" -gt 1 ] && join=(--cluster-join 127.0.0.61:7946)
	"$bindir/slabcached" -l "$ip" -p 11211 -U 0 -m 256 -t 1 --metrics-listen off \
		--cluster --cluster-name "n$i" --cluster-bind "$ip:7946" "${join[@]}" \
		-o "hotkey_replicas=$replicas${HOTKEY_OPTS:+,$HOTKEY_OPTS}" 2>"$work/n$i.log" &
	pids+=($!)
done
sleep 3
load=(-discover 127.0.0.61:11211 -quiet -conns "${CONNS:-32}" -keys "${KEYS:-1000000}"
	-dist zipf -dist-param "${ZIPF:-1.1}" -ratio "${RATIO:-1:10}" -value-size 100 -duration "$dur")
echo "== warm-up ($dur, not measured)"
"$bindir/slabbench" run -no-hotkeys -seed 1 "${load[@]}" | tail -1
seed=2
for mode in on per-client off; do
	flag=(-seed $seed)
	seed=$((seed + 1))
	[ $mode = per-client ] && flag+=(-hotkey-per-client)
	[ $mode = off ] && flag+=(-no-hotkeys)
	echo "== hot keys $mode (hotkey_replicas=$replicas)"
	"$bindir/slabbench" run "${flag[@]}" "${load[@]}"
	sleep 4 # the hot set of the last phase ages out
done
