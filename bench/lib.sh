# SPDX-License-Identifier: ISC
# bench/lib.sh: what the shell benchmarks share; sourced after they set
# top (the build tree) and dir (their temporary directory).
#
# bench_cleanup: on exit, stop pollexd ($pid) and the test service ($spid),
# and remove $dir unless KEEP is set.  ctl: pollexctl itself, not libtool's
# wrapper script around it in the build tree (a shell and sed that cost
# ~10 ms per run).  ticks PID: its CPU in clock ticks; now_ms: the time.

pid= spid=
bench_cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap bench_cleanup EXIT

ctl=$top/client/pollexctl
if [ -x "$top/client/.libs/pollexctl" ]; then
	ctl=$top/client/.libs/pollexctl
	LD_LIBRARY_PATH=$top/client/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
fi

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_ms() { date +%s%3N; }

# bench_service [ARG...]: start the test service (with ARGs); $base is its
# URL.
bench_service() {
	mkfifo "$dir/port.fifo"
	"$top/tests/testservice" -a 127.0.0.1 "$@" >"$dir/port.fifo" &
	spid=$!
	read -r port <"$dir/port.fifo"
	rm -f "$dir/port.fifo"
	base="http://127.0.0.1:$port"
}

# search_poller INTERVAL: an http-batch poller's settings (no braces) that
# adopt the test service's tasks by ref ({"task_id": N}), 1,000 a search;
# search_poll: the part that searches and reads the outcomes.
search_poller() {
	cat <<POLLER
      "kind": "http-batch", "url": "$base",
      "interval": "$1", "min_interval": "1s", "max_batch": 1000,
      "max_requests": 64,
$(search_poll)
POLLER
}
search_poll() {
	cat <<POLLER
      "poll": {"method": "POST", "url": "/tasks/search",
               "body": {"task_id": "{{refs/task_id}}"}},
      "item_id": "/id", "ref_id": "/task_id",
      "outcome": {"rules": [
        {"path": "/state", "equals": "done", "state": "succeeded"},
        {"path": "/state", "in": ["error", "cancelled"], "state": "failed"}],
        "result": "/result"}
POLLER
}
