#!/bin/sh
# SPDX-License-Identifier: ISC
# ctl-progress.sh: pollexctl shows each task's progress when the poller
# reports one: `wait` on a terminal draws it on its status line (from a
# Watch beside the Wait), `watch` prints it with each event, and `wait`
# without a terminal draws nothing.  The terminal is script(1)'s.  Every
# wait is bounded (pollexctl's --timeout and timeout(1)).
set -u

: "${POLLEXD:?}" "${POLLEXCTL:?}"
command -v jq >/dev/null || { echo "FAIL: jq is not installed"; exit 1; }
command -v script >/dev/null ||
	{ echo "FAIL: script(1) (bsdutils) is not installed"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/pollex-progress.XXXXXX")
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

# Every task pending; progress 0.4 for refs with "slow", 0.75 otherwise.
cat >"$dir/pollexd.conf" <<'CONF'
{"store": "none", "pollers": {"p": {"kind": "exec", "interval": "200ms",
  "poll": ["/bin/sh", "-c", "jq -c '{tasks: [.tasks[] | {id, state: \"pending\", progress: (if .ref.slow then 0.4 else 0.75 end)}]}'"]}}}
CONF
sock=$dir/s.sock
"$POLLEXD" -c "$dir/pollexd.conf" -S "$sock" --state-dir "$dir/state" \
    >"$dir/log" 2>&1 &
pid=$!
i=0
until "$POLLEXCTL" -S "$sock" --io-timeout 1s stats >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || fail "pollexd exited at start"
	i=$((i + 1))
	[ $i -lt 200 ] || fail "pollexd did not answer within 10s"
	sleep 0.05
done
ctl() { timeout 30 "$POLLEXCTL" -S "$sock" --io-timeout 20s "$@"; }
a=$(ctl submit p '{"slow": true}') || fail "submit: $a"
b=$(ctl submit p '{"slow": false}') || fail "submit: $b"

# wait on a terminal: both tasks' progress on the status line (script's
# terminal has no size: COLUMNS gives one wide enough for both).
COLUMNS=200 timeout 30 script -qfec "\"$POLLEXCTL\" -S \"$sock\" wait --timeout 3s $a $b" \
    "$dir/tty" >/dev/null 2>&1
grep -q "$a 40%" "$dir/tty" ||
	fail "no progress of $a on the terminal: $(cat -v "$dir/tty")"
grep -q "$b 75%" "$dir/tty" ||
	fail "no progress of $b on the terminal: $(cat -v "$dir/tty")"
grep -q "0/2 done, 0 failed, 2 pending" "$dir/tty" ||
	fail "no counts on the terminal: $(cat -v "$dir/tty")"
echo "ok: wait on a terminal shows each task's progress"

# wait without a terminal: no status line at all.
ctl wait --timeout 1s "$a" "$b" >"$dir/out" 2>"$dir/err"
rc=$?
[ "$rc" -eq 3 ] || fail "wait exited $rc, want 3 (timed out)"
if grep -q "%" "$dir/err" || grep -q "$(printf '\r')" "$dir/err"; then
	fail "a status line without a terminal: $(cat -v "$dir/err")"
fi
echo "ok: no status line without a terminal"

# watch prints the progress with each event.
timeout 3 "$POLLEXCTL" -S "$sock" watch --initial "$a" >"$dir/watch" 2>&1
grep -q "^current $a pending 40%$" "$dir/watch" ||
	fail "watch does not show the progress: $(cat "$dir/watch")"
echo "ok: watch shows the progress"
exit 0
