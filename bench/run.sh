#!/bin/sh
# bench/run.sh: the submit, notification and memory benchmarks of
# docs/benchmarks.md.  Run from the build tree after `make`:
#
#   bench/run.sh [RUNS]
#
# Prints one JSON line per run and a summary of medians.
set -eu
runs=${1:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/pollex-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
lg="$top/bench/loadgen"

cat > "$dir/bench.conf" <<CONF
{
  "max_submit": 1000,
  "pollers": {
    "bench":  {"kind": "exec", "interval": "1h", "max_batch": 100000,
               "poll": ["$top/bench/stamp-poller"]},
    "notify": {"kind": "exec", "interval": "1h", "min_interval": "10ms",
               "coalesce": "1ms", "poll": ["$top/bench/stamp-poller"]}
  }
}
CONF

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

start_pollexd() {
	rm -f "$dir/p.sock"
	"$top/daemon/pollexd" -c "$dir/bench.conf" -S "$dir/p.sock" \
	    --state-dir "$dir/state" 2>"$dir/pollexd.log" &
	pid=$!
	i=0
	while [ ! -S "$dir/p.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
}
stop_pollexd() { kill "$pid"; wait "$pid" || true; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

: > "$dir/results"
for r in $(seq "$runs"); do
	"$top/bench/floor" "$dir/f.sock" & fpid=$!
	while [ ! -S "$dir/f.sock" ]; do sleep 0.01; done
	"$lg" -S "$dir/f.sock" -m pipelined -c 8 -n 50000 -w 64 | sed 's/^{/{"target":"floor",/' >> "$dir/results"
	"$lg" -S "$dir/f.sock" -m serial -c 1 -n 20000 | sed 's/^{/{"target":"floor",/' >> "$dir/results"
	kill $fpid; wait $fpid 2>/dev/null || true

	start_pollexd
	"$lg" -S "$dir/p.sock" -m pipelined -c 8 -n 50000 -w 64 | sed 's/^{/{"target":"pollexd",/' >> "$dir/results"
	"$lg" -S "$dir/p.sock" -m serial -c 1 -n 20000 | sed 's/^{/{"target":"pollexd",/' >> "$dir/results"
	"$lg" -S "$dir/p.sock" -m notify -p notify -c 1 -n 300 | sed 's/^{/{"target":"pollexd",/' >> "$dir/results"
	stop_pollexd

	start_pollexd
	before=$(rss_kb "$pid")
	"$lg" -S "$dir/p.sock" -m pipelined -c 4 -n 250 -w 16 -b 100 > /dev/null
	after=$(rss_kb "$pid")
	echo "{\"target\":\"pollexd\",\"mode\":\"memory\",\"tasks\":100000,\"rss_before_kb\":$before,\"rss_after_kb\":$after,\"bytes_per_task\":$(( (after - before) * 1024 / 100000 ))}" >> "$dir/results"
	stop_pollexd
done
cat "$dir/results"

sel() { grep "\"target\":\"$1\"" "$dir/results" | grep "\"mode\":\"$2\"" | grep "\"clients\":$3," || true; }
fp=$(sel floor pipelined 8 | field calls_per_sec | median)
pp=$(sel pollexd pipelined 8 | field calls_per_sec | median)
fs50=$(sel floor serial 1 | field p50_us | median)
fs99=$(sel floor serial 1 | field p99_us | median)
ps50=$(sel pollexd serial 1 | field p50_us | median)
ps99=$(sel pollexd serial 1 | field p99_us | median)
ps=$(sel pollexd serial 1 | field calls_per_sec | median)
fsr=$(sel floor serial 1 | field calls_per_sec | median)
n50=$(sel pollexd notify 1 | field p50_us | median)
n99=$(sel pollexd notify 1 | field p99_us | median)
mem=$(grep '"mode":"memory"' "$dir/results" | field bytes_per_task | median)
echo
echo "medians of $runs runs"
echo "pipelined submits/s, 8 clients:  pollexd $pp  floor $fp  ratio $(echo "$fp $pp" | awk '{ printf "%.2f", $1 / $2 }')"
echo "one at a time, 1 client: pollexd $ps/s p50 ${ps50}us p99 ${ps99}us; floor $fsr/s p50 ${fs50}us p99 ${fs99}us; p50 ratio $(echo "$ps50 $fs50" | awk '{ printf "%.2f", $1 / $2 }')"
echo "notification delay (poll answer -> waiting client): p50 ${n50}us p99 ${n99}us"
echo "memory per outstanding task: $mem bytes"
