#!/bin/sh
# SPDX-License-Identifier: ISC
# metrics.sh: a live pollexd's GET /metrics read by a real parser,
# Prometheus' `promtool check metrics` (Debian: the prometheus package;
# skipped when it is not installed).  An exec poller whose polls fail and
# an HTTP poller whose requests are refused fill every family.  Every wait
# is bounded.
set -u

: "${POLLEXD:?}" "${POLLEXCTL:?}"

for tool in promtool curl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is not installed"
		exit 77
	fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/pollex-metrics.XXXXXX")
sock="$dir/pollex.sock"
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- pollexd log"; cat "$dir/log" 2>/dev/null
	exit 1
}

ctl() { timeout 30 "$POLLEXCTL" -S "$sock" --io-timeout 20s "$@"; }

# A port picked at random; another one when it is taken (at most 5 tries).
try=0
while :; do
	port=$((20000 + ($$ * 7 + try * 7919) % 40000))
	cat >"$dir/pollexd.conf" <<CONF
{
	"metrics_listen": "127.0.0.1:$port",
	"pollers": {
		"exec-p": {"kind": "exec", "poll": ["/bin/true"],
		    "interval": "100ms"},
		"http_p": {"kind": "http-each", "url": "http://127.0.0.1:1/",
		    "poll": {"url": "/s/{{id}}"}, "outcome": {"rules": []},
		    "interval": "100ms"}
	}
}
CONF
	"$POLLEXD" -c "$dir/pollexd.conf" -S "$sock" --state-dir "$dir/state" \
	    >>"$dir/log" 2>&1 &
	pid=$!
	i=0
	until "$POLLEXCTL" -S "$sock" --io-timeout 1s stats >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || break
		i=$((i + 1))
		[ $i -lt 200 ] || fail "pollexd did not answer within 10s"
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && break
	pid=
	try=$((try + 1))
	if ! grep -q 'metrics_listen' "$dir/log" || [ $try -ge 5 ]; then
		fail "pollexd exited at start"
	fi
done

ctl submit exec-p '{"n": 1}' >/dev/null || fail "submit"
ctl submit http_p '{"id": "x"}' >/dev/null || fail "submit"

# Scrape until both pollers have polled (bounded: 10 s).
i=0
while :; do
	curl -sS --max-time 5 -o "$dir/metrics" \
	    "http://127.0.0.1:$port/metrics" || fail "curl"
	grep -q '^pollex_polls_total{poller="exec-p"} [1-9]' "$dir/metrics" &&
	    grep -q '^pollex_http_requests_total{poller="http_p"} [1-9]' \
	    "$dir/metrics" && break
	i=$((i + 1))
	[ $i -lt 200 ] || fail "no polls counted: $(cat "$dir/metrics")"
	sleep 0.05
done

if ! promtool check metrics <"$dir/metrics" >"$dir/promtool" 2>&1; then
	cat "$dir/metrics"
	fail "promtool check metrics: $(cat "$dir/promtool")"
fi
for family in pollex_tasks pollex_submits_total pollex_polls_total \
    pollex_poll_failures_total pollex_poll_duration_seconds \
    pollex_rate_limited_seconds_total pollex_rate_waiting \
    pollex_http_requests_total pollex_http_retries_total \
    pollex_store_commits_total pollex_store_commit_duration_seconds \
    pollex_connections pollex_clients_dropped_total pollex_build_info; do
	grep -q "^# TYPE $family " "$dir/metrics" || fail "no $family"
done

kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "pollexd did not stop within 10s"
	sleep 0.05
done
pid=
echo "ok: promtool check metrics accepts pollexd's output"
