# memtier-lib.sh - sourced by the scripts that compare slabcached with
# memcached 1.6.45 under memtier_benchmark (ctxswitch-bench.sh,
# tls-bench.sh), after their options are parsed (mc and memtier: the
# binaries given, or empty for the defaults) and with the working directory
# at the checkout. It checks both binaries and sets cpu0 and cpu1 (taskset
# to CPU 0 or 1, when there is taskset) and user (-u root when running as root, which
# memcached requires).

[ -n "$mc" ] || mc=../shared/memcached-1.6.45/memcached
[ -n "$memtier" ] || memtier=../shared/memtier_benchmark/memtier_benchmark
for f in "$mc" "$memtier"; do
	[ -x "$f" ] || { echo "$(basename "$0" .sh): $f not found (see -m and -M)" >&2; exit 1; }
done
cpu0=() cpu1=()
command -v taskset >/dev/null && cpu0=(taskset -c 0) cpu1=(taskset -c 1)
user=()
[ "$(id -u)" = 0 ] && user=(-u root)

# memtier_rate JSON SECONDS prints the requests per second of the run whose
# --json-out-file is JSON: memtier's own Ops/sec is unreliable for some
# runs (a trailing second with a handful of requests), so its requests over
# the seconds of its per-second series that carried them (SECONDS when it
# has no series).
memtier_rate() {
	python3 - "$1" "$2" <<'PY'
import json, sys
tot = json.load(open(sys.argv[1]))["ALL STATS"]["Totals"]
series = [b["Count"] for b in tot.get("Time-Serie", {}).values()]
busy = max(series) if series else 0
secs = sum(1 for c in series if c * 100 >= busy) if busy else float(sys.argv[2])
print("%.0f" % (tot["Count"] / secs))
PY
}
