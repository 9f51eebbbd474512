#!/usr/bin/env bash
# memcached-t.sh - run memcached's own test suite (its t/*.t Perl files,
# unmodified) against slabcached.
#
# Usage: scripts/memcached-t.sh [-b BINARY] [-T SECONDS] [-k] [-v] [SET|TEST ...]
#   SET        protocol (the default: the files about what clients see),
#              internals (process behaviour, detailed stats, slabs, LRU,
#              crawler, watcher, UDP, binary protocol, auth, restart), all
#   TEST       a file name: getset, getset.t or t/getset.t
#   -b BINARY  the server to test (default: slabcached built from this
#              checkout); any binary that takes memcached's flags works,
#              memcached itself included
#   -T SECONDS time limit per file (default 300)
#   -k         keep the work directory (logs of every file and server)
#   -v         print each file's full TAP output
#
# MEMCACHED_SRC names a memcached source tree or release tarball
# (memcached-1.6.45.tar.gz) holding t/; without it the script looks for
# shared/memcached-1.6.45/memcached-1.6.45-src.tar.gz beside the checkout.
# Needs perl with prove (Debian: perl). SSL_TEST=1 runs every file over TLS
# and enables the ssl_*.t files (Perl's IO::Socket::SSL: Debian
# libio-socket-ssl-perl).
#
# The test library starts "$dir/timedrun 600 $dir/memcached-debug ARGS";
# the work directory gets a memcached-debug that runs BINARY without the
# debug-build suboption relaxed_privileges, and a timedrun that execs it
# with its output in a log. Every server started is killed after its file.
#
# Prints one PASS/FAIL/SKIP line per file and "N passed, M failed".
# Exit status: 0 when no file failed, 1 otherwise, 2 on a setup error.
set -u

protocol=(00-startup item_size_max unixsocket getset cas flags multiversioning
	issue_3 issue_68 issue_70 issue_108 issue_152 incrdecr touch getandtouch
	flush-all noreply metaget issue_104 issue_41 bogus-commands quit
	malicious-commands strtol-testing issue_192 issue_50 shutdown)
internals=(daemonize issue_67 idle-timeout maxconns issue_61 conn-limits restart
	64bit stats stats-detail stats-conns dash-M evictions lru issue_14 issue_22
	issue_29 issue_42 issue_163 issue_183 dyn-maxbytes chunked-items lru-crawler
	lru-maintainer slabs_reassign slabs-reassign2 slabs-reassign-chunked slabs-cas
	watcher watcher_connid udp binary binary-get ascii-auth ascii-auth2)

die() { echo "memcached-t: $*" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="" tmo=300 keep=0 verbose=0
while getopts "b:T:kvh" o; do
	case $o in
	b) bin=$(readlink -f "$OPTARG") || die "no binary $OPTARG" ;;
	T) tmo=$OPTARG ;;
	k) keep=1 ;;
	v) verbose=1 ;;
	*) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

tests=()
[ $# -eq 0 ] && set -- protocol
for a in "$@"; do
	case $a in
	protocol) tests+=("${protocol[@]}") ;;
	internals) tests+=("${internals[@]}") ;;
	all) tests+=("${protocol[@]}" "${internals[@]}") ;;
	*) a=${a#t/}; tests+=("${a%.t}") ;;
	esac
done

src=${MEMCACHED_SRC:-$(dirname "$root")/shared/memcached-1.6.45/memcached-1.6.45-src.tar.gz}
[ -e "$src" ] || die "no memcached source at $src: set MEMCACHED_SRC to a memcached source tree or release tarball"
command -v prove >/dev/null || die "prove not found (Debian: apt-get install perl)"

work=$(mktemp -d "${TMPDIR:-/tmp}/memcached-t.XXXXXX") || die "mktemp failed"
run_id="slabcache-t-$$"
cleanup() {
	kill_servers
	if [ $keep = 1 ]; then echo "memcached-t: kept $work" >&2; else rm -rf "$work"; fi
}
# kill_servers kills every process started with this run's marker.
kill_servers() {
	local p pids=()
	for p in /proc/[0-9]*; do
		grep -qsz "^SLABCACHE_T_RUN=$run_id\$" "$p/environ" && pids+=("${p#/proc/}")
	done
	[ ${#pids[@]} -eq 0 ] && return 0
	kill -TERM "${pids[@]}" 2>/dev/null
	sleep 0.5
	kill -KILL "${pids[@]}" 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -d "$src" ]; then
	cp -r "$src/t" "$work/t" || die "no t/ in $src"
else
	tar -xzf "$src" -C "$work" --wildcards --strip-components=1 '*/t/*' || die "cannot extract t/ from $src"
fi

if [ -z "$bin" ]; then
	(cd "$root" && go build -o "$work/slabcached" ./cmd/slabcached) || die "build failed"
	bin=$work/slabcached
fi

cat >"$work/memcached-debug" <<EOF
#!/usr/bin/env bash
# Runs the server under test without relaxed_privileges (debug builds only).
args=()
while [ \$# -gt 0 ]; do
	if [ "\$1" = -o ] && [ \$# -gt 1 ]; then
		v=\$(tr , '\n' <<<"\$2" | grep -vx relaxed_privileges | paste -sd,)
		[ -n "\$v" ] && args+=(-o "\$v")
		shift 2
	else
		args+=("\$1")
		shift
	fi
done
exec "$bin" "\${args[@]}"
EOF
cat >"$work/timedrun" <<'EOF'
#!/bin/sh
# memcached's timedrun SECONDS CMD...: the harness bounds time itself.
shift
exec "$@" >>"$SLABCACHE_T_LOG" 2>&1
EOF
chmod +x "$work/memcached-debug" "$work/timedrun"

echo "# server: $bin ($("$bin" -V 2>/dev/null | head -n1))"
echo "# t/ from: $src"
pass=0 fail=0 skip=0
for name in "${tests[@]}"; do
	f=t/$name.t
	if [ ! -f "$work/$f" ]; then
		printf 'SKIP  %-26s not in this t/\n' "$name.t"
		skip=$((skip + 1))
		continue
	fi
	log=$work/$name.log
	start=$(date +%s)
	(cd "$work" && SLABCACHE_T_RUN=$run_id SLABCACHE_T_LOG=$work/$name.server.log TMPDIR=$work \
		timeout -k 5 "$tmo" prove -v "$f" </dev/null >"$log" 2>&1)
	rc=$?
	kill_servers
	secs=$(($(date +%s) - start))
	[ $verbose = 1 ] && cat "$log"
	nok=$(grep -c '^ok ' "$log")
	nnot=$(grep -c '^not ok ' "$log")
	if grep -q '^Result: PASS' "$log" && [ $rc = 0 ]; then
		if grep -q 'skipped:' "$log"; then
			status=SKIP skip=$((skip + 1))
		else
			status=PASS pass=$((pass + 1))
		fi
	else
		status=FAIL fail=$((fail + 1))
	fi
	note="$nok ok"
	[ "$nnot" -gt 0 ] && note="$note, $nnot not ok"
	[ $rc = 124 ] && note="$note, TIMEOUT"
	printf '%-4s  %-26s %s [%ss]\n' "$status" "$name.t" "$note" "$secs"
	if [ $status = FAIL ] && [ $verbose = 0 ]; then
		grep -E '^not ok|^#' "$log" | head -n 8 | sed 's/^/    | /'
	fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
