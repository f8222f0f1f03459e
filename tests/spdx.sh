#!/bin/sh
# SPDX-License-Identifier: ISC
# spdx: every source file of the tree (C, Go, shell, make and autoconf
# files, unit templates, scripts) names its licence in its first lines.
set -eu
: "${srcdir:=.}"
cd "$srcdir"
bad=0 n=0
for f in $(find . \( -name .git -o -name corpus -o -name crashers \
    -o -name autom4te.cache -o -name .libs -o -name .deps -o -name build-aux -o -name _build \) -prune -o \
    -type f \( -name '*.c' -o -name '*.h' -o -name '*.go' -o -name '*.sh' \
    -o -name '*.mk' -o -name 'Makefile.am' -o -name 'configure.ac' \
    -o -name '*.service.in' -o -name '*.socket.in' -o -name '*.bash' \
    -o -name '*.map' -o -name '*.py' \) -print) \
    debian/rules debian/pollexd.postinst debian/pollexd.postrm \
    scripts/install-deps scripts/package-check .ci/run examples/demo \
    examples/timer-start examples/timer-poll examples/timer-cancel; do
	[ -f "$f" ] || continue
	case $f in
	*/config.h | */tests/fuzz/out/* | */daemon/varlink-idl.c) continue ;;
	esac
	n=$((n + 1))
	if ! head -n 3 "$f" | grep -q "SPDX-License-Identifier: ISC"; then
		echo "no SPDX line: $f"
		bad=$((bad + 1))
	fi
done
echo "spdx: $n files, $bad without an SPDX line"
echo "$((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
