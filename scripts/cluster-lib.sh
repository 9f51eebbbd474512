# cluster-lib.sh - sourced by the multi-node benchmark scripts
# (hotkeys-bench.sh, warmup-bench.sh), after their options are parsed and
# with the working directory at the checkout: a work directory removed at
# exit with every node started, the binaries (built there unless $bindir
# names a directory that has them), and start_node.

work=$(mktemp -d)
pids=()
# stop_nodes stops every node started so far.
stop_nodes() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}
trap 'stop_nodes; rm -rf "$work"' EXIT
if [ -z "${bindir:-}" ]; then
	bindir=$work
	go build -o "$bindir/" ./cmd/slabcached ./cmd/slabbench
fi

# start_node PREFIX INDEX OPTIONS [ARGS]: a clustered slabcached on
# PREFIX INDEX:11211 (127.0.0.6 and 2 make 127.0.0.62), gossip on port 7946
# of that address, joining PREFIX 1 unless it is that node, with -o OPTIONS
# and any further ARGS (one word each); its log goes to $work/nINDEX.log
# (appended to).
start_node() {
	local ip=$1$2 join=() extra=()
	[ $# -gt 3 ] && extra=("${@:4}")
	if (exec 3<>"/dev/tcp/$ip/11211") 2>/dev/null; then
		echo "$ip:11211 is in use" >&2
		exit 1
	fi
	[ "$2" -gt 1 ] && join=(--cluster-join "${1}1:7946")
	"$bindir/slabcached" -l "$ip" -p 11211 -U 0 -m 256 -t 1 --metrics-listen off \
		--cluster --cluster-name "n$2" --cluster-bind "$ip:7946" "${join[@]}" \
		-o "$3" "${extra[@]}" 2>>"$work/n$2.log" &
	pids+=($!)
}
