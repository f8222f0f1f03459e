#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/http.sh: the HTTP poller scenarios of docs/benchmarks.md, against
# the test service (tests/testservice).  Run from the build tree after make:
#
#   bench/http.sh [RUNS] [BATCH_TASKS] [EACH_TASKS]
#
# batch: BATCH_TASKS (10,000) tasks created through an http-batch poller's
#   start request (POST /object/:id/publish), each finishing 2-3 s after it
#   was created, polled by POST /tasks/search every 0.5 s, max_batch 1,000.
# each:  EACH_TASKS (1,000) tasks through an http-each poller (POST /tasks,
#   then GET /tasks/:id per task per tick), finishing 2-3 s after creation.
#
# Per run: wall time from the first submit to the last completion, CPU
# seconds of pollexd and of the client (pollexctl submit --file --wait),
# HTTP requests by route (the service's count), pollexd's peak RSS, and
# from the service's table: how long the creations took (creation_s), the
# span from the first creation to the last task's due time (own_s: the
# floor for the wall time) and how long after that due time the last
# completion reached the client (lag_s).
set -eu
runs=${1:-3}
nbatch=${2:-10000}
neach=${3:-1000}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/pollex-httpbench.XXXXXX)
. "$top/bench/lib.sh"
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }


write_conf() {
	cat >"$dir/pollexd.conf" <<CONF
{
  "store": "${POLLEX_BENCH_STORE:-sqlite}",
  "pollers": {
    "batch": {
      "kind": "http-batch", "url": "$base",
      "interval": "500ms", "min_interval": "500ms", "max_batch": 1000,
      "max_starts": 64, "max_requests": 64,
      "start": {"method": "POST", "url": "/object/{{args/object}}/publish",
                "body": "{{args}}"},
      "start_ref": {"task_id": "/task_id"},
$(search_poll)
    },
    "each": {
      "kind": "http-each", "url": "$base",
      "interval": "500ms", "min_interval": "500ms",
      "max_starts": 64, "max_requests": 256,
      "start": {"method": "POST", "url": "/tasks", "body": "{{args}}"},
      "start_ref": {"task_id": "/task_id"},
      "poll": {"url": "/tasks/{{ref/task_id}}"},
      "outcome": {"rules": [
        {"path": "/state", "equals": "done", "state": "succeeded"},
        {"path": "/state", "in": ["error", "cancelled"], "state": "failed"}],
        "result": "/result"}
    }
  }
}
CONF
}

start_pollexd() {
	rm -rf "$dir/state" "$dir/p.sock"
	${POLLEX_BENCH_WRAPPER:-} "$top/daemon/pollexd" -c "$dir/pollexd.conf" -S "$dir/p.sock" \
	    --state-dir "$dir/state" 2>"$dir/pollexd.log" </dev/null &
	pid=$!
	i=0
	until "$top/client/pollexctl" -S "$dir/p.sock" -t 1s stats \
	    >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 500 ] || { echo "pollexd did not start" >&2; exit 1; }
		sleep 0.01
	done
}

# scenario POLLER N: one JSON line of results
scenario() {
	poller=$1 n=$2
	awk -v n="$n" -v p="$poller" 'BEGIN { srand(42); for (i = 0; i < n; i++)
	    printf "{\"poller\":\"%s\",\"args\":{\"object\":\"o%d\",\"duration_ms\":%d}}\n",
	        p, i, 2000 + int(rand() * 1000) }' >"$dir/tasks.jsonl"
	curl -s -X POST "$base/_control/reset" >/dev/null
	start_pollexd
	c0=$(ticks "$pid")
	t0=$(now_ms)
	# The client's CPU: times(1) of the shell that ran it.
	sh -c "${POLLEX_BENCH_CLIENT_WRAPPER:-} \"$ctl\" -S \"$dir/p.sock\" -t 60s submit \
	    --file \"$dir/tasks.jsonl\" --wait --wait-timeout 120s >\"$dir/out\"; \
	    times" >"$dir/times"
	t1=$(now_ms)
	c1=$(ticks "$pid")
	hwm=$(hwm_kb "$pid")
	# The tasks' own span on the service's clock, mapped to ours: the
	# last due time, and how long after it the last completion came.
	tq=$(now_ms)
	span=$(curl -s "$base/_control/tasks" | jq -c --argjson t1 "$t1" \
	    --argjson tq "$tq" '{creation_s: ((.last_created_ms -
	    .first_created_ms) / 1000), own_s: ((.last_due_ms -
	    .first_created_ms) / 1000), lag_s: (($t1 - ($tq - (.now_ms -
	    .last_due_ms))) / 1000)}')
	ok=$(grep -c " succeeded" "$dir/out" || true)
	# The store's group commits over the run.
	commits=$("$ctl" -S "$dir/p.sock" --json stats |
	    jq -c '.store // {} | {commits, batch_mean, commit_ms_mean}')
	# The transport's own count: requests sent, connections opened.
	http=$("$ctl" -S "$dir/p.sock" --json pollers | jq -c --arg p "$poller" \
	    '[.pollers[] | select(.name == $p) | .http |
	    {requests, connects, retries}][0]')
	kill "$pid"; wait "$pid" || true; pid=
	reqs=$(curl -s "$base/_control/requests")
	ccpu=$(sed -n 2p "$dir/times" | awk '{ gsub("m", " "); gsub("s", "");
	    print $1 * 60 + $2 + $3 * 60 + $4 }')
	echo "{\"poller\":\"$poller\",\"tasks\":$n,\"succeeded\":$ok,\"wall_s\":$(echo "$t0 $t1" | awk '{ printf "%.3f", ($2 - $1) / 1000 }'),\"pollexd_cpu_s\":$(echo "$c0 $c1" | awk '{ printf "%.2f", ($2 - $1) / 100 }'),\"client_cpu_s\":$ccpu,\"peak_rss_kb\":$hwm,\"span\":$span,\"store\":$commits,\"http\":$http,\"requests\":$(echo "$reqs" | jq -c '{total, by_route}')}"
}

bench_service
write_conf
: >"$dir/results"
for r in $(seq "$runs"); do
	scenario batch "$nbatch" | tee -a "$dir/results"
	[ "$neach" -gt 0 ] && scenario each "$neach" | tee -a "$dir/results"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for p in batch each; do
	sel() { grep "\"poller\":\"$p\"" "$dir/results" | jq -r "$1"; }
	echo "$p: median of $runs: wall $(sel .wall_s | median)s," \
	    "pollexd CPU $(sel .pollexd_cpu_s | median)s," \
	    "client CPU $(sel .client_cpu_s | median)s," \
	    "peak RSS $(sel .peak_rss_kb | median) kB," \
	    "creation span $(sel .span.creation_s | median)s," \
	    "own span $(sel .span.own_s | median)s," \
	    "lag after the last due $(sel .span.lag_s | median)s," \
	    "requests $(sel .requests.total | median)"
done
