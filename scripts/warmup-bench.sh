#!/usr/bin/env bash
# warmup-bench.sh - what a client sees when the membership changes under
# load (docs/cluster.md): slabcached processes on 127.0.0.81-84 with
# gossip, Zipf load through the Go client (`slabbench run -discover`), an
# unmeasured phase that fills the caches, then a measured one during which
# the membership changes:
#   join   three nodes, a fourth joins; run with the default warm-up (fill
#          on miss and the previous owners' push), with the push off
#          (-o warmup_rate=0) and with warm-up off (-o warmup_secs=0);
#   leave  four nodes, the fourth gets SIGTERM (graceful leave, hand-off);
#   kill   four nodes, the fourth gets SIGKILL;
#   restart four nodes, the fourth (with -e, a memory file) stops with
#          SIGUSR1 and starts again warm AWAY seconds later (default 3),
#          with warm-up 30 s (it must stop that long after its join for
#          the others to vouch for its absence);
#   rolling the same for the fourth and then the third, which stops one
#          second after the fourth answers again (a rolling restart).
# Prints, per run: the hit ratio the second before the change and its
# lowest in the 10 s after (the dip), the per-second p99 (median before,
# highest in the 10 s after), client errors after the change and the
# seconds they span, the slowest request, and when the hit ratio is back
# within 5 and within 0.5 points.
#
# Usage: scripts/warmup-bench.sh [-s join|leave|kill|restart|rolling] [-d DURATION] [-j AT] [-b BINDIR]
#   -s  scenario (default join); -d  measured phase (default 40s); -j
#   seconds into it the change happens (default 15); -b  directory with
#   slabcached and slabbench (default: built from this checkout).
# Environment: KEYS (200000), ZIPF (0.99), CONNS (32), RATIO (1:10), AWAY (3); PLOT, a
# path prefix: each run's per-second hit ratio and throughput are plotted
# to PLOT-<scenario>-<options>-hitratio.png and -throughput.png.
set -eu
scenario=join dur=40s join=15 bindir=""
while getopts "s:d:j:b:" o; do
	case $o in
	s) scenario=$OPTARG ;;
	d) dur=$OPTARG ;;
	j) join=$OPTARG ;;
	b) bindir=$OPTARG ;;
	*) sed -n '2,29p' "$0"; exit 2 ;;
	esac
done
case $scenario in join | leave | kill | restart | rolling) ;; *) sed -n '2,29p' "$0"; exit 2 ;; esac
cd "$(dirname "$0")/.."
. scripts/cluster-lib.sh
load=(-discover 127.0.0.81:11211 -conns "${CONNS:-32}" -keys "${KEYS:-200000}" -dist zipf
	-dist-param "${ZIPF:-0.99}" -ratio "${RATIO:-1:10}" -value-size 100)
configs=(warmup_secs=60)
[ "$scenario" = join ] && configs=(warmup_secs=60 warmup_secs=60,warmup_rate=0 warmup_secs=0)
case $scenario in restart | rolling) configs=(warmup_secs=30) ;; esac
# warm I: the arguments of node I when it restarts warm in the scenario.
warm() {
	case $scenario:$1 in restart:4 | rolling:[34]) echo "-e $work/n$1.mem -o drain_secs=0" ;; esac
}
for opts in "${configs[@]}"; do
	echo "== $scenario, -o $opts"
	first=3
	[ "$scenario" != join ] && first=4
	for i in $(seq 1 $first); do
		# shellcheck disable=SC2046 # one word each
		start_node 127.0.0.8 "$i" "$opts" $(warm "$i")
	done
	sleep 3
	"$bindir/slabbench" run "${load[@]}" -quiet -duration "$dur" -seed 1 | tail -1
	"$bindir/slabbench" run "${load[@]}" -duration "$dur" -seed 2 -json "$work/run.json" ${PLOT:+-plot "$PLOT-$scenario-${opts//[=,]/-}"} >"$work/run" 2>&1 &
	bench=$!
	sleep "$join"
	case $scenario in
	join) start_node 127.0.0.8 4 "$opts" ;;
	leave) kill -TERM "${pids[3]}" ;;
	kill) kill -KILL "${pids[3]}" ;;
	restart | rolling)
		nodes=(4)
		[ "$scenario" = rolling ] && nodes=(4 3)
		for n in "${nodes[@]}"; do
			p=${pids[$((n - 1))]}
			kill -USR1 "$p"
			wait "$p" || true
			sleep "${AWAY:-3}"
			# shellcheck disable=SC2046
			start_node 127.0.0.8 "$n" "$opts" $(warm "$n")
			until (exec 3<>"/dev/tcp/127.0.0.8$n/11211") 2>/dev/null; do sleep 0.1; done
			sleep 1
		done
		;;
	esac
	echo "   (the change ${join}s into the run)"
	wait $bench || echo "   (slabbench exited with $?: see the errors below)"
	python3 - "$work/run.json" "$join" <<'PY'
import json, statistics, sys
tl = json.load(open(sys.argv[1]))["timeline"]
at = float(sys.argv[2])
def ratio(p):
    g = p["hits"] + p["misses"]
    return p["hits"] / g if g else 0.0
before = [p for p in tl if p["t"] <= at]
after = [p for p in tl if at < p["t"] <= at + 10]
if not before or not after:
    sys.exit("too short a run")
steady = ratio(before[-1])
lowp = min(after, key=ratio)
low = ratio(lowp)
def recovered(points):
    return next((p["t"] - at for p in tl if p["t"] >= lowp["t"] and ratio(p) >= steady - points / 100), None)
back, back5 = recovered(0.5), recovered(5)
p99 = statistics.median(p["p99_us"] for p in before)
hi = max(p["p99_us"] for p in after)
errs = [p for p in tl if p["t"] > at and p["errors"]]
span = (errs[-1]["t"] - errs[0]["t"] + 1) if errs else 0
when = lambda b: "%.0f s after the change" % b if b is not None else "not in the run"
print("   hit ratio %.3f the second before, lowest %.3f after (dip %.1f points); within 5 points %s, within 0.5 point %s"
      % (steady, low, (steady - low) * 100, when(back5), when(back)))
print("   p99 %.0f us before (median of seconds), highest %.0f us in the 10 s after (%.2fx)" % (p99, hi, hi / p99))
print("   client errors after the change: %d, over %d s; slowest request in the 10 s after: %.0f ms"
      % (sum(p["errors"] for p in errs), span, max(p["max_us"] for p in after) / 1000))
last = [p for p in tl if p["t"] > tl[-1]["t"] - 10]
hits, gets = sum(p["hits"] for p in last), sum(p["hits"] + p["misses"] for p in last)
print("   hit ratio over the run's last 10 s: %.3f (%.1f points under the second before the change)"
      % (hits / gets, (steady - hits / gets) * 100))
PY
	for n in 3 4; do
		if [ -n "$(warm "$n")" ]; then
			grep -h -o '"msg":"warm restart: [^"]*"' "$work/n$n.log" | sed "s/^/   n$n: /"
		fi
	done
	stop_nodes
	sleep 2
done
