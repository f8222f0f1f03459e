#!/bin/sh
# SPDX-License-Identifier: ISC
# ctl-messages: pollexctl's connect errors say what was tried and what to
# do: the default paths it looked for, and, on permission denied, that
# the socket is for the members of its group.
set -eu
: "${POLLEXD:?}" "${POLLEXCTL:?}" "${srcdir:=.}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollex-msg.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0 passes=0
check() {	# check NAME PATTERN FILE
	if grep -q -- "$2" "$3"; then
		passes=$((passes + 1))
	else
		echo "FAIL: $1: no \"$2\" in:"
		cat "$3"
		fails=$((fails + 1))
	fi
}

# No -S, no POLLEX_SOCKET: both default paths are named.
rc=0
env -u POLLEX_SOCKET XDG_RUNTIME_DIR="$tmp/xdg" "$POLLEXCTL" stats \
    2>"$tmp/err" || rc=$?
cat "$tmp/err"
[ "$rc" -eq 4 ] || { echo "FAIL: exit $rc, not 4"; fails=$((fails + 1)); }
check "user path" "tried $tmp/xdg/pollex/pollex.sock and /" "$tmp/err"
check "system path" "pollex/pollex.sock): No such file" "$tmp/err"

# Permission denied: the hint about the group.  Needs root to act as
# another user.
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null &&
    id nobody >/dev/null 2>&1; then
	chmod 0755 "$tmp"
	mkdir -m 0700 "$tmp/state"
	echo '{"store": "none"}' >"$tmp/c.conf"
	"$POLLEXD" -c "$tmp/c.conf" -S "$tmp/s.sock" --state-dir "$tmp/state" \
	    2>"$tmp/log" &
	pid=$!
	i=0
	until "$POLLEXCTL" -S "$tmp/s.sock" stats >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 200 ] && kill -0 "$pid" || { cat "$tmp/log"; exit 1; }
		sleep 0.05
	done
	chmod 0600 "$tmp/s.sock"
	# The libtool wrapper script cannot be run by another user, nor may
	# the build tree be open to it: copies of the real program and of
	# the library, in the test's own directory.
	d=$(dirname "$POLLEXCTL")
	mkdir -m 0755 "$tmp/bin"
	if [ -x "$d/.libs/pollexctl" ]; then
		cp "$d/.libs/pollexctl" "$tmp/bin/"
		cp -P "$d"/.libs/libpollex.so* "$tmp/bin/" 2>/dev/null || :
	else
		cp "$POLLEXCTL" "$tmp/bin/"
	fi
	chmod -R a+rX "$tmp/bin"
	rc=0
	runuser -u nobody -- env LD_LIBRARY_PATH="$tmp/bin" \
	    "$tmp/bin/pollexctl" -S "$tmp/s.sock" stats 2>"$tmp/err" || rc=$?
	cat "$tmp/err"
	[ "$rc" -eq 4 ] || { echo "FAIL: exit $rc, not 4"; fails=$((fails + 1)); }
	check "group hint" "Permission denied (the socket is for the members of its group" "$tmp/err"
	check "usermod" "usermod -aG pollex" "$tmp/err"
else
	echo "ctl-messages: not root, the permission check is skipped"
fi
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
