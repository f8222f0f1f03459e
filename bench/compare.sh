#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/compare.sh: two builds of pollex against each other, in alternating
# runs (A, B, A, B, ...) so that the machine's drift hits both alike.
#
#   bench/compare.sh A_TOP B_TOP [RUNS]
#
# A_TOP and B_TOP are build trees (after `make`, and `make bench/loadgen
# bench/stamp-poller tests/testservice`).  Per run and build:
#   submits: durable pipelined submits (bench/loadgen, 8 clients, 64 calls
#     in flight each, 20,000 submits each), submits/s and pollexd's CPU;
#   http:    bench/http.sh's batch scenario (10,000 tasks, no http-each),
#     pollexd's and the client's CPU and the wall time.
# Prints one JSON line per measurement, then the medians of each build and
# the ratios B / A.  The clients are A's for both, so only the daemon
# differs.
set -eu
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
runs=${3:-5}
dir=$(mktemp -d /tmp/pollex-compare.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# submits TOP LABEL: one line of durable pipelined submit figures.
submits() {
	cat >"$dir/s.conf" <<CONF
{"store": "sqlite", "max_submit": 1000, "pollers": {
  "idle": {"kind": "exec", "interval": "1h", "coalesce": "10s",
           "poll": ["$a/bench/stamp-poller"]}}}
CONF
	rm -rf "$dir/s.sock" "$dir/state"
	"$1/daemon/pollexd" -c "$dir/s.conf" -S "$dir/s.sock" \
	    --state-dir "$dir/state" 2>"$dir/pollexd.log" </dev/null \
	    >/dev/null &
	pid=$!
	i=0
	while [ ! -S "$dir/s.sock" ] && [ $i -lt 500 ]; do
		sleep 0.01
		i=$((i + 1))
	done
	c0=$(ticks "$pid")
	out=$("$a/bench/loadgen" -S "$dir/s.sock" -m pipelined -c 8 \
	    -n 20000 -w 64 -p idle)
	c1=$(ticks "$pid")
	kill "$pid"
	wait "$pid" || true
	pid=
	rate=$(echo "$out" | sed -n 's/.*"calls_per_sec":\([0-9.]*\).*/\1/p')
	echo "{\"build\":\"$2\",\"what\":\"submits\",\"per_s\":$rate,\"cpu_s\":$(echo "$c0 $c1" | awk '{ printf "%.2f", ($2 - $1) / 100 }')}"
}

# http TOP LABEL: bench/http.sh's batch scenario, once.
http() {
	line=$("$1/bench/http.sh" 1 10000 0 2>/dev/null | grep '"poller":"batch"' |
	    head -n 1)
	cpu=$(echo "$line" | sed -n 's/.*"pollexd_cpu_s":\([0-9.]*\).*/\1/p')
	ccpu=$(echo "$line" | sed -n 's/.*"client_cpu_s":\([0-9.]*\).*/\1/p')
	wall=$(echo "$line" | sed -n 's/.*"wall_s":\([0-9.]*\).*/\1/p')
	echo "{\"build\":\"$2\",\"what\":\"http\",\"cpu_s\":${cpu:-null},\"client_cpu_s\":${ccpu:-null},\"wall_s\":${wall:-null}}"
}

: >"$dir/results"
for r in $(seq "$runs"); do
	for build in A B; do
		top=$a
		[ $build = B ] && top=$b
		submits "$top" $build | tee -a "$dir/results"
		http "$top" $build | tee -a "$dir/results"
	done
done

# med BUILD WHAT FIELD
med() {
	grep "\"build\":\"$1\",\"what\":\"$2\"" "$dir/results" |
	    sed -n "s/.*\"$3\":\([0-9.]*\).*/\1/p" | median
}
echo "medians of $runs alternating runs (A: $a, B: $b):"
for f in "submits per_s" "submits cpu_s" "http cpu_s" "http client_cpu_s" \
    "http wall_s"; do
	set -- $f
	ma=$(med A "$1" "$2")
	mb=$(med B "$1" "$2")
	echo "$1 $2: A $ma, B $mb, B/A $(echo "$ma $mb" |
	    awk '{ if ($1 > 0) printf "%.3f", $2 / $1; else print "-" }')"
done
