#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/churn.sh: does the store stay bounded as tasks come and go (issue
# 17)?  Run from the build tree after `make` and `make tests/testservice`:
#
#   bench/churn.sh [TASKS] [ROUNDS]
#
# Each round creates TASKS (default 100000) tasks at the test service that
# are done at once, adopts them by ref on one http-batch poller (max_batch
# 1,000, interval 1 s, retention 1 s) with `pollexctl submit --file`, and
# waits until every one has succeeded and been purged.  After each round it
# prints one JSON line: the round, the seconds it took, the tasks left in
# the table (0), and the store's file and WAL sizes as Stats reports them;
# at the end, the file's pages and those free for reuse.
set -eu
n=${1:-100000}
rounds=${2:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/pollex-churn.XXXXXX)
. "$top/bench/lib.sh"

bench_service -m $((n * rounds + 1000))

cat >"$dir/pollexd.conf" <<CONF
{
  "max_submit": 1000,
  "retention": "1s",
  "pollers": {
    "churn": {
$(search_poller 1s)
    }
  }
}
CONF
"${POLLEXD:-$top/daemon/pollexd}" -c "$dir/pollexd.conf" -S "$dir/p.sock" \
    --state-dir "$dir/state" 2>>"$dir/pollexd.log" </dev/null >/dev/null &
pid=$!
i=0
until "$ctl" -S "$dir/p.sock" -t 1s stats >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || { cat "$dir/pollexd.log" >&2; exit 1; }
	i=$((i + 1))
	[ $i -lt 3000 ] || { echo "churn.sh: pollexd did not answer" >&2; exit 1; }
	sleep 0.01
done

stats() { "$ctl" -S "$dir/p.sock" -j stats; }
r=1
while [ $r -le "$rounds" ]; do
	t0=$(now_ms)
	first=$(curl -s -X POST "$base/_control/tasks" \
	    -d "{\"count\": $n, \"duration_ms\": 0}" | jq .first)
	awk -v n="$n" -v f="$first" 'BEGIN { for (i = 0; i < n; i++)
	    printf "{\"poller\":\"churn\",\"ref\":{\"task_id\":%d}}\n", f + i }' \
	    >"$dir/tasks.jsonl"
	"$ctl" -S "$dir/p.sock" -t 600s submit --file "$dir/tasks.jsonl" \
	    >/dev/null
	# Until all are done and purged (bounded: ten minutes a round).
	k=0
	while [ "$(stats | jq '[.tasks[]] | add')" != 0 ]; do
		k=$((k + 1))
		[ $k -lt 6000 ] || { echo "churn.sh: round $r never emptied" >&2
			exit 1; }
		sleep 0.1
	done
	t1=$(now_ms)
	stats | jq -c --argjson r "$r" --argjson s "$(( t1 - t0 ))" \
	    '{round: $r, seconds: ($s / 1000), tasks: ([.tasks[]] | add),
	    store_bytes: .store.size_bytes, wal_bytes: .store.wal_bytes,
	    rows_deleted: .store.rows_deleted}'
	r=$((r + 1))
done
# The file's pages, and those free for reuse, once pollexd has stopped
# (it holds the file locked while it runs).
kill -TERM "$pid"
wait "$pid" || true
pid=
echo "{\"page_size\": $(sqlite3 "$dir/state/pollex.db" "PRAGMA page_size"),\
 \"pages\": $(sqlite3 "$dir/state/pollex.db" "PRAGMA page_count"),\
 \"free_pages\": $(sqlite3 "$dir/state/pollex.db" "PRAGMA freelist_count")}"
