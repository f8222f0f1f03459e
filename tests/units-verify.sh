#!/bin/sh
# SPDX-License-Identifier: ISC
# units-verify.sh: the built units pass "systemd-analyze verify" (unknown
# keys fail) and "systemd-analyze security" at exposure 2.0 or lower.
# ExecStart= must name an existing file: the units are checked with
# @sbindir@ pointing at the build tree.
set -u
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/pollex-units.XXXXXX") || exit 99
trap 'rm -rf "$dir"' EXIT INT TERM
fail=0
for u in pollexd.service pollexd.socket; do
	in="$top/systemd/$u.in"
	[ -f "$in" ] || in="$srcdir/systemd/$u.in"
	sed -e "s|@sbindir@|$builddir/daemon|g" -e 's|@bindir@|/usr/bin|g' \
	    -e 's|@sysconfdir@|/etc|g' -e 's|@localstatedir@|/var|g' \
	    -e 's|@runstatedir@|/run|g' "$in" >"$dir/$u"
done
# The units as built must have no placeholder left.
for u in pollexd.service pollexd.socket pollex.sysusers pollex.tmpfiles; do
	if grep -n '@[a-z]*@' "$builddir/systemd/$u"; then
		echo "FAIL: systemd/$u has unexpanded placeholders"
		fail=1
	fi
done
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
    --recursive-errors=no "$dir/pollexd.socket" "$dir/pollexd.service" 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
	echo "FAIL: systemd-analyze verify: exit status $rc"
	fail=1
fi
# verify only warns about unknown keys and bad values: those fail here.
if echo "$out" | grep -Ei 'unknown|failed to parse|invalid|ignoring'; then
	echo "FAIL: systemd-analyze verify warned about the units"
	fail=1
fi
# An unknown key must be noticed (the check above works at all).
{ cat "$dir/pollexd.service"; printf '\n[Service]\nNoSuchKey=1\n'; } \
    >"$dir/bogus.service"
if ! systemd-analyze verify --man=no --recursive-errors=no \
    "$dir/bogus.service" 2>&1 | grep -qi 'unknown'; then
	echo "FAIL: an unknown key went unnoticed by systemd-analyze verify"
	fail=1
fi
sec=$(systemd-analyze security --offline=yes --threshold=20 --no-pager \
    "$dir/pollexd.service" 2>&1)
rc=$?
echo "$sec" | tail -n 3
if [ $rc -ne 0 ]; then
	echo "FAIL: systemd-analyze security: exposure above 2.0 (exit $rc)"
	fail=1
fi
exit $fail
