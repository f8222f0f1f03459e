#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/run.sh: the submit, notification and memory benchmarks of
# docs/benchmarks.md.  Run from the build tree after `make`:
#
#   bench/run.sh [RUNS]
#
# Every measurement gets a fresh pollexd.  Prints one JSON line per
# measurement and a summary of medians.
set -eu
runs=${1:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/pollex-bench.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "${fpid:-}" ] && kill "$fpid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
lg="$top/bench/loadgen"

# $1: "sqlite" (durable, the default) or "none" (memory only)
write_conf() {
	cat > "$dir/bench.conf" <<CONF
{
  "store": "$1",
  "max_submit": 1000,
  "pollers": {
    "idle":   {"kind": "exec", "interval": "1h", "coalesce": "10s",
               "poll": ["$top/bench/stamp-poller"]},
    "notify": {"kind": "exec", "interval": "1h", "min_interval": "10ms",
               "coalesce": "1ms", "poll": ["$top/bench/stamp-poller"]}
  }
}
CONF
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

start_pollexd() {
	write_conf "$1"
	rm -rf "$dir/p.sock" "$dir/state"
	"$top/daemon/pollexd" -c "$dir/bench.conf" -S "$dir/p.sock" \
	    --state-dir "$dir/state" 2>"$dir/pollexd.log" </dev/null >/dev/null &
	pid=$!
	i=0
	while [ ! -S "$dir/p.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
}
stop_pollexd() { kill "$pid"; wait "$pid" || true; pid=; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# run TARGET STORE loadgen-args...: one measurement as a JSON line
run() {
	target=$1 store=$2
	shift 2
	if [ "$target" = floor ]; then
		"$lg" -S "$dir/f.sock" "$@" | sed "s/^{/{\"target\":\"floor\",/"
		return
	fi
	start_pollexd "$store"
	c0=$(cpu_ticks "$pid")
	out=$("$lg" -S "$dir/p.sock" "$@")
	c1=$(cpu_ticks "$pid")
	stop_pollexd
	echo "$out" | sed "s/^{/{\"target\":\"pollexd\",\"store\":\"$store\",\"daemon_cpu_s\":$(echo "$c0 $c1" | awk '{ printf "%.2f", ($2 - $1) / 100 }'),/"
}

: > "$dir/results"
for r in $(seq "$runs"); do
	"$top/bench/floor" "$dir/f.sock" </dev/null >/dev/null & fpid=$!
	while [ ! -S "$dir/f.sock" ]; do sleep 0.01; done
	run floor - -m pipelined -c 8 -n 50000 -w 64 >> "$dir/results"
	run floor - -m serial -c 1 -n 20000 >> "$dir/results"
	kill $fpid; wait $fpid 2>/dev/null || true; fpid=
	"$top/bench/fsync-floor" "$dir/floor.db" 3000 | sed 's/^{/{"target":"floor",/' >> "$dir/results"
	for store in none sqlite; do
		run pollexd $store -m pipelined -c 8 -n 20000 -w 64 -p idle >> "$dir/results"
		run pollexd $store -m serial -c 1 -n 5000 -p idle >> "$dir/results"
		run pollexd $store -m notify -c 1 -n 300 -p notify >> "$dir/results"
	done
	start_pollexd sqlite
	before=$(rss_kb "$pid")
	"$lg" -S "$dir/p.sock" -m pipelined -c 4 -n 250 -w 16 -b 100 -p idle > /dev/null
	after=$(rss_kb "$pid")
	stop_pollexd
	echo "{\"target\":\"pollexd\",\"store\":\"sqlite\",\"mode\":\"memory\",\"tasks\":100000,\"rss_before_kb\":$before,\"rss_after_kb\":$after,\"bytes_per_task\":$(( (after - before) * 1024 / 100000 ))}" >> "$dir/results"
done
cat "$dir/results"

sel() { grep "\"target\":\"$1\"" "$dir/results" | grep "$2" | grep "\"mode\":\"$3\"" || true; }
med() { sel "$1" "$2" "$3" | field "$4" | median; }
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }
fp=$(med floor floor pipelined calls_per_sec)
fs50=$(med floor floor serial p50_us)
fs99=$(med floor floor serial p99_us)
echo
echo "medians of $runs runs"
echo "floor (bare Unix-socket request/response): pipelined $fp/s; one at a time p50 ${fs50}us p99 ${fs99}us"
echo "fsync floor (one-row durable SQLite commit): p50 $(med floor floor fsync-floor p50_us)us p99 $(med floor floor fsync-floor p99_us)us"
for store in none sqlite; do
	pp=$(med pollexd "\"store\":\"$store\"" pipelined calls_per_sec)
	pc=$(med pollexd "\"store\":\"$store\"" pipelined daemon_cpu_s)
	s50=$(med pollexd "\"store\":\"$store\"" serial p50_us)
	s99=$(med pollexd "\"store\":\"$store\"" serial p99_us)
	n50=$(med pollexd "\"store\":\"$store\"" notify p50_us)
	n99=$(med pollexd "\"store\":\"$store\"" notify p99_us)
	echo "store=$store: pipelined $pp/s (floor/pollexd $(ratio "$fp" "$pp"), daemon CPU ${pc}s for 160000); one at a time p50 ${s50}us p99 ${s99}us (pollexd/floor p50 $(ratio "$s50" "$fs50")); notification p50 ${n50}us p99 ${n99}us"
done
echo "memory per outstanding task (durable): $(sel pollexd sqlite memory | field bytes_per_task | median) bytes"
