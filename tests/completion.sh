#!/bin/bash
# SPDX-License-Identifier: ISC
# completion: client/pollexctl.bash completes commands, options, states,
# and poller names and task ids asked from a real pollexd.
set -eu
: "${POLLEXD:?}" "${POLLEXCTL:?}" "${srcdir:=.}"
bc=/usr/share/bash-completion/bash_completion
if [ ! -r "$bc" ]; then
	echo "completion: $bc missing (apt-get install bash-completion)"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollex-compl.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/s.sock
cat >"$tmp/c.conf" <<'CONF'
{"store": "none", "pollers": {
  "alpha": {"kind": "exec", "poll": ["/bin/false"]},
  "beta": {"kind": "exec", "poll": ["/bin/false"]}}}
CONF
"$POLLEXD" -c "$tmp/c.conf" -S "$sock" --state-dir "$tmp" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do
	"$POLLEXCTL" -S "$sock" pollers >/dev/null 2>&1 && break
	kill -0 "$pid" || { cat "$tmp/log"; exit 1; }
	sleep 0.05
done
id=$("$POLLEXCTL" -S "$sock" submit alpha '{"n": 1}')

# shellcheck disable=SC1090
. "$bc"
# shellcheck disable=SC1091
. "$srcdir/client/pollexctl.bash"

# complete WORD...: COMPREPLY for the command line WORDS, the last being
# the one completed.
complete_line() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_pollexctl
	[ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "
}
fails=0
expect() {
	local want=$1
	shift
	local got
	got=$(complete_line "$@")
	if [ "$got" = "$want" ]; then
		echo "ok: ${*:2} -> $got"
	else
		echo "FAIL: ${*:2}: want '$want', got '$got'"
		fails=$((fails + 1))
	fi
}
ctl=$POLLEXCTL
expect "stats submit " "$ctl" -S "$sock" s
expect "alpha beta " "$ctl" -S "$sock" submit ""
expect "beta " "$ctl" --socket "$sock" submit b
expect "" "$ctl" -S "$sock" submit alpha ""
expect "$id " "$ctl" -S "$sock" get ""
expect "$id " "$ctl" -S "$sock" cancel "${id:0:4}"
expect "cancelled " "$ctl" list --state c
expect "--first-exception " "$ctl" wait --f
expect "alpha " "$ctl" -S "$sock" list --poller a
expect "io.pollex.Submit " "$ctl" call io.pollex.Su
expect "poll pollers " "$ctl" -S "$sock" po
expect "alpha beta " "$ctl" -S "$sock" poll ""
expect "$id " "$ctl" -S "$sock" poll alpha ""
expect "" "$ctl" -S "$sock" poll beta ""
expect "io.pollex.Poll io.pollex.Pollers " "$ctl" call io.pollex.Pol
# A daemon that is not there: nothing, and no hang.
expect "" "$ctl" -S "$tmp/none.sock" submit ""
echo "$((16 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
