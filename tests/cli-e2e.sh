#!/bin/sh
# SPDX-License-Identifier: ISC
# cli-e2e.sh: the README's walk-through as a test.  The real pollexd runs
# the bundled examples/pollexd.conf (the jq timer poller) on a private
# socket and state directory; pollexctl submits, waits, cancels, lists and
# reads stats, and every exit code it documents is checked.  Every wait is
# bounded (timeout(1) and pollexctl's own timeouts).
set -u

: "${POLLEXD:?}" "${POLLEXCTL:?}"
srcdir=${srcdir:-.}
conf="$srcdir/examples/pollexd.conf"

if ! command -v jq >/dev/null 2>&1; then
	echo "SKIP: jq is not installed (the example poll program needs it)"
	exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/pollex-cli.XXXXXX")
sock="$dir/pollex.sock"
pid= svc=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "$svc" ] && kill "$svc" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# The example HTTP pollers' remote service (examples/demo runs it on port
# 8750): here on a free port, with a copy of the examples pointed at it.
: "${TESTSERVICE:?}"
mkfifo "$dir/port.fifo"
"$TESTSERVICE" -a 127.0.0.1 >"$dir/port.fifo" &
svc=$!
read -r port <"$dir/port.fifo" || true
[ -n "$port" ] || { echo "FAIL: the test service did not start"; exit 1; }
mkdir "$dir/ex"
cp "$srcdir"/examples/timer-* "$dir/ex/"
sed "s/127.0.0.1:8750/127.0.0.1:$port/g" "$conf" >"$dir/ex/pollexd.conf"
conf="$dir/ex/pollexd.conf"

fail() {
	echo "FAIL: $*"
	[ -n "$pid" ] && { ctl pollers; ctl list --all; }
	echo "--- pollexd log"; cat "$dir/log" 2>/dev/null
	exit 1
}

ctl() { timeout 30 "$POLLEXCTL" -S "$sock" --io-timeout 20s "$@"; }

# $1 = expected exit status, the rest a pollexctl command; output in $out.
expect() {
	want=$1; shift
	out=$(ctl "$@" 2>&1); rc=$?
	[ "$rc" -eq "$want" ] ||
		fail "pollexctl $* exited $rc, want $want: $out"
}

start_daemon() {
	"$POLLEXD" -c "$conf" -S "$sock" --state-dir "$dir/state" \
	    >>"$dir/log" 2>&1 &
	pid=$!
	# Ready when it answers; bounded (10 s), not a fixed sleep.
	i=0
	until "$POLLEXCTL" -S "$sock" --io-timeout 1s stats >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || fail "pollexd exited at start"
		i=$((i + 1))
		[ $i -lt 200 ] || fail "pollexd did not answer within 10s"
		sleep 0.05
	done
}

# Wait (bounded, 10 s) until task $1 is in state $2.
await_state() {
	i=0
	until [ "$(ctl get --json "$1" | jq -r .state)" = "$2" ]; do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "task $1 did not become $2"
		sleep 0.05
	done
}

stop_daemon() {
	kill -TERM "$pid"
	timeout 10 sh -c "while kill -0 $pid 2>/dev/null; do sleep 0.05; done" ||
		fail "pollexd did not stop on SIGTERM"
	wait "$pid"; rc=$?
	pid=
	[ "$rc" -eq 0 ] || fail "pollexd exited $rc after SIGTERM"
}

# The configuration checks; a broken copy is refused, naming file and key.
"$POLLEXD" -n -c "$conf" >"$dir/check" 2>&1 || fail "pollexd -n: $(cat "$dir/check")"
sed 's/"interval": "1s"/"intervall": "1s"/' "$conf" >"$dir/bad.conf"
if "$POLLEXD" -n -c "$dir/bad.conf" >"$dir/check" 2>&1; then
	fail "a misspelt key was accepted"
fi
grep -q "bad.conf.*pollers.timer.intervall" "$dir/check" ||
	fail "the error does not name file and key: $(cat "$dir/check")"

start_daemon

# Two timers, waited for together: both succeed, the shorter first (3 s
# apart, so that a loaded machine still resolves them in separate polls).
a=$(ctl submit timer --args '{"seconds": 4}') || fail "submit a"
b=$(ctl submit timer --args '{"seconds": 1}' --label team=web) || fail "submit b"
expect 0 list
echo "$out" | grep -Eq "^$b  *(starting|pending)  *timer .*team=web" ||
	fail "list does not show b outstanding with its label: $out"
expect 0 wait "$a" "$b"
first=$(echo "$out" | sed -n 1p)
case $first in
"$b succeeded {\"slept\":1,"*) ;;
*) fail "wait: b should finish first and succeed: $out" ;;
esac
echo "$out" | grep -q "^$a succeeded {\"slept\":4," || fail "wait: $out"
expect 0 get --json "$a"
[ "$(echo "$out" | jq -r .state)" = succeeded ] || fail "get: $out"
[ "$(echo "$out" | jq -r .result.slept)" = 4 ] || fail "get: $out"

# The start program refuses bad arguments: the task fails, wait exits 1.
c=$(ctl submit timer --args '{"seconds": -1}') || fail "submit c"
expect 1 wait "$c"
echo "$out" | grep -q "^$c failed.*args.seconds must be" ||
	fail "wait for a bad start: $out"
# A ref given by hand skips the start program; the same ref is the same
# task (the design's dedupe), a different one is another task.
f=$(ctl submit timer '{"seconds": 0, "name": "x"}') || fail "submit f"
g=$(ctl submit timer '{"name": "x", "seconds": 0}') || fail "submit g"
[ "$f" = "$g" ] || fail "the same ref made two tasks: $f $g"
expect 0 wait "$f"

# A deadline expires the task.
expect 1 submit timer --args '{"seconds": 60}' --timeout 1s --wait
echo "$out" | grep -q " expired" || fail "submit --timeout --wait: $out"

# A wait that runs out of time exits 3 and leaves the task pending.
d=$(ctl submit timer --args '{"seconds": 60}') || fail "submit d"
await_state "$d" pending
expect 3 wait --timeout 300ms "$d"
expect 0 get --json "$d"
[ "$(echo "$out" | jq -r .state)" = pending ] || fail "get d: $out"

# The cancel program accepts a short timer and refuses an hour or more.
expect 0 cancel "$d"
expect 1 wait "$d"
echo "$out" | grep -q "^$d cancelled" || fail "after cancel: $out"
e=$(ctl submit timer --args '{"seconds": 7200}') || fail "submit e"
await_state "$e" pending	# a cancel while starting would abort the start
expect 1 cancel "$e"
echo "$out" | grep -q "cannot be cancelled" || fail "refused cancel: $out"

# Errors from the daemon exit 5 with its words; usage errors exit 2.
expect 5 submit nosuchpoller '{"seconds": 1}'
echo "$out" | grep -qi "nosuchpoller" || fail "unknown poller: $out"
expect 5 get 0123456789abcdef0123
expect 2 submit timer 'not json'
expect 2 wait --bogus "$a"

# Many tasks as JSON lines: ids in input order, all complete.
for i in 1 2 3 4 5; do
	echo "{\"poller\": \"timer\", \"args\": {\"seconds\": 0.$i}}"
done >"$dir/batch"
expect 0 submit --file "$dir/batch" --wait --wait-timeout 20s
[ "$(echo "$out" | grep -c succeeded)" -eq 5 ] || fail "submit --file --wait: $out"

expect 0 pollers
echo "$out" | grep -q "^timer  *exec" || fail "pollers: $out"
expect 0 stats
echo "$out" | grep -q "^store: *$dir/state" || fail "stats has no store: $out"
echo "$out" | grep -q "^commits: *[1-9]" || fail "stats has no commits: $out"
echo "$out" | grep -q "^tasks: .* 1 pending" || fail "stats tasks: $out"

# The HTTP pollers of the example, as in the README.
expect 0 submit publish --args '{"object": "img-1", "duration_ms": 500}' \
    --wait --wait-timeout 20s
echo "$out" | grep -q ' succeeded {"id":[0-9]*,"object":"img-1"}$' ||
	fail "publish: $out"
expect 0 submit vm --args '{"name": "vm1", "size": "small"}' --wait \
    --wait-timeout 30s
echo "$out" | grep -q '"properties":{"size":"small"},"provisioningState":"Succeeded"' ||
	fail "vm: $out"
expect 1 submit publish --args '{"object": "x", "outcome": "error", "message": "boom", "duration_ms": 0}' \
    --wait --wait-timeout 20s
echo "$out" | grep -q " failed" || fail "publish failure: $out"

# The refused-cancel timer outlives a restart, with its id.
stop_daemon
start_daemon
expect 0 get --json "$e"
[ "$(echo "$out" | jq -r .state)" = pending ] || fail "after restart: $out"
[ "$(echo "$out" | jq -r .ref.seconds)" = 7200 ] || fail "after restart: $out"
[ "$(echo "$out" | jq -r .ref.timer)" = "$e" ] || fail "after restart: $out"
expect 0 get --json "$a"
[ "$(echo "$out" | jq -r .state)" = succeeded ] || fail "a after restart: $out"
stop_daemon
echo "PASS: the walk-through works end to end"
