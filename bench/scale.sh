#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/scale.sh: pollexd with many outstanding tasks (issue 17).  Run from
# the build tree after `make` and `make tests/testservice`:
#
#   bench/scale.sh [TASKS] [STORE]
#
# TASKS (default 100000) tasks are created at the test service with a
# duration of 30 days (they do not end) by its bulk control call, then
# adopted by ref on one http-batch poller (max_batch 1,000, max_requests
# 64, interval 15 s) with `pollexctl submit --file` (pipelined, 1,000 per
# call).  STORE is "sqlite" (default) or "postgresql"'s absence: only
# sqlite and none are measured here.
#
# Prints one JSON line: submits/s and pollexd's CPU for them; RSS before and
# after (bytes per task); one full tick (all TASKS polled once: its wall
# time from the first search to the last, pollexd's CPU in it, CPU per task
# per tick); a clean stop's duration; restart until the socket answers
# after the clean stop and after a kill -9; the store's size.
set -eu
n=${1:-100000}
store=${2:-sqlite}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/pollex-scale.XXXXXX)
. "$top/bench/lib.sh"
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

bench_service -m $((n + 1000))
ids=$(curl -s -X POST "$base/_control/tasks" \
    -d "{\"count\": $n, \"duration_ms\": 2592000000}")
first=$(echo "$ids" | jq .first)

cat >"$dir/pollexd.conf" <<CONF
{
  "store": "$store",
  "max_submit": 1000,
  "pollers": {
    "scale": {
$(search_poller 15s)
    }
  }
}
CONF
awk -v n="$n" -v f="$first" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"poller\":\"scale\",\"ref\":{\"task_id\":%d}}\n", f + i }' \
    >"$dir/tasks.jsonl"

# start: until the socket answers; $took: the milliseconds it took.
start() {
	ts=$(now_ms)
	"${POLLEXD:-$top/daemon/pollexd}" -c "$dir/pollexd.conf" -S "$dir/p.sock" \
	    --state-dir "$dir/state" 2>>"$dir/pollexd.log" </dev/null \
	    >/dev/null &
	pid=$!
	until "$ctl" -S "$dir/p.sock" -t 1s stats >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || { cat "$dir/pollexd.log" >&2; exit 1; }
		sleep 0.01
	done
	took=$(($(now_ms) - ts))
}
searches() { curl -s "$base/_control/requests" |
    jq '.by_route["POST /tasks/search"] // 0'; }

start
rss0=$(rss_kb "$pid")
c0=$(ticks "$pid")
t0=$(now_ms)
"$ctl" -S "$dir/p.sock" -t 600s submit --file "$dir/tasks.jsonl" >/dev/null
t1=$(now_ms)
c1=$(ticks "$pid")
rss1=$(rss_kb "$pid")

# One full tick: every task polled once (n / 1000 searches).
want=$(( (n + 999) / 1000 ))
curl -s -X DELETE "$base/_control/requests" >/dev/null
"$ctl" -S "$dir/p.sock" call io.pollex.Stats >/dev/null
until [ "$(searches)" -ge 1 ]; do sleep 0.01; done
tk0=$(now_ms)
ck0=$(ticks "$pid")
until [ "$(searches)" -ge "$want" ]; do sleep 0.01; done
tk1=$(now_ms)
ck1=$(ticks "$pid")

size=$(du -sb "$dir/state" | awk '{ print $1 }')
s0=$(now_ms)
kill -TERM "$pid"; wait "$pid" || true; pid=
s1=$(now_ms)
start
clean=$took
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; pid=
start
crash=$took
kill -TERM "$pid"; wait "$pid" || true; pid=

awk -v n="$n" -v store="$store" -v sub_ms=$((t1 - t0)) \
    -v sub_cpu=$((c1 - c0)) -v rss0="$rss0" -v rss1="$rss1" \
    -v tick_ms=$((tk1 - tk0)) -v tick_cpu=$((ck1 - ck0)) \
    -v stop_ms=$((s1 - s0)) -v clean="$clean" -v crash="$crash" \
    -v size="$size" -v want="$want" 'BEGIN {
	printf "{\"tasks\":%d,\"store\":\"%s\",\"submits_per_s\":%.0f,", n, store,
	    n / (sub_ms / 1000)
	printf "\"submit_cpu_s\":%.2f,\"rss_mb\":%.1f,\"bytes_per_task\":%.0f,",
	    sub_cpu / 100, rss1 / 1024, (rss1 - rss0) * 1024 / n
	printf "\"tick_searches\":%d,\"tick_s\":%.2f,\"tick_cpu_s\":%.2f,", want,
	    tick_ms / 1000, tick_cpu / 100
	printf "\"cpu_us_per_task_tick\":%.2f,", tick_cpu / 100 / n * 1e6
	printf "\"stop_s\":%.2f,\"restart_clean_s\":%.2f,", stop_ms / 1000,
	    clean / 1000
	printf "\"restart_kill9_s\":%.2f,\"store_mb\":%.1f}\n", crash / 1000,
	    size / 1048576
}'
