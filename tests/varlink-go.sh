#!/bin/sh
# SPDX-License-Identifier: ISC
# varlink-go: pollexd against a client built on varlink-go, Debian's
# golang-github-varlink-go-dev (issue 14, 3).  tests/varlink-go/conformance
# parses the served IDL with varlink-go's idl package and checks every
# reply and error it gets against it; varlink-go-interface-generator makes
# Go bindings from that IDL, and tests/varlink-go/bindings is compiled
# with them and run.  Go builds offline, in GOPATH mode against Debian's
# packaged source.  Skipped (77) only when go is missing; go without
# varlink-go fails (scripts/install-deps installs both).
set -eu
: "${POLLEXD:?}" "${POLLEXCTL:?}" "${TESTPOLLER:?}" "${srcdir:=.}"
gosrc=/usr/share/gocode
if ! command -v go >/dev/null 2>&1; then
	echo "varlink-go: no go (apt-get install golang-go)"
	exit 77
fi
if [ ! -d "$gosrc/src/github.com/varlink/go/varlink/idl" ]; then
	echo "FAIL: go is here but varlink-go is not" \
	    "(apt-get install golang-github-varlink-go-dev)"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollex-vgo.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	chmod -R u+w "$tmp" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Offline: no modules, no proxy, a private cache.
GO111MODULE=off GOPROXY=off GOFLAGS= GOENV=off GOCACHE=$tmp/gocache
GOPATH=$tmp/gopath:$gosrc
export GO111MODULE GOPROXY GOFLAGS GOENV GOCACHE GOPATH
mkdir -p "$tmp/gopath/src/conformance" "$tmp/gopath/src/bindings" \
    "$tmp/gopath/src/iopollex" "$tmp/bin" "$tmp/pdir/outcomes"
cp "$srcdir/tests/varlink-go/conformance/main.go" "$tmp/gopath/src/conformance/"
cp "$srcdir/tests/varlink-go/bindings/main.go" "$tmp/gopath/src/bindings/"
go build -o "$tmp/bin/conformance" conformance
go build -o "$tmp/bin/generator" \
    github.com/varlink/go/cmd/varlink-go-interface-generator

for n in a b g; do
	echo '{"state": "succeeded", "result": {"n": 1}}' \
	    >"$tmp/pdir/outcomes/$n"
done
sock=$tmp/s.sock
cat >"$tmp/c.conf" <<CONF
{"store": "none", "pollers": {"p": {"kind": "exec", "interval": "100ms",
  "poll": ["$TESTPOLLER", "poll", "$tmp/pdir"]}}}
CONF
"$POLLEXD" -c "$tmp/c.conf" -S "$sock" --state-dir "$tmp" 2>"$tmp/log" &
pid=$!
# Bounded: until it answers.
for _ in $(seq 200); do
	"$POLLEXCTL" -S "$sock" stats >/dev/null 2>&1 && break
	kill -0 "$pid" || { cat "$tmp/log"; exit 1; }
	sleep 0.05
done

rc=0
"$tmp/bin/conformance" -socket "$sock" \
    -idl-out "$tmp/gopath/src/iopollex/io.pollex.varlink" || rc=1
if [ -s "$tmp/gopath/src/iopollex/io.pollex.varlink" ]; then
	"$tmp/bin/generator" "$tmp/gopath/src/iopollex/io.pollex.varlink"
	go build -o "$tmp/bin/bindings" bindings
	"$tmp/bin/bindings" -socket "$sock" || rc=1
else
	echo "FAIL: no IDL to generate bindings from"
	rc=1
fi
kill "$pid"
wait "$pid" || { echo "FAIL: pollexd exited with $?"; cat "$tmp/log"; rc=1; }
pid=
exit "$rc"
