#!/bin/sh
# SPDX-License-Identifier: ISC
# readme-example: the C program of README.md ("Using it from C") compiles
# as written, with -Wall -Wextra -Werror, against the library just built.
# (scripts/package-check builds and runs it against the installed
# packages.)
set -eu
: "${srcdir:=.}" "${CC:=cc}"
top=$(cd "$srcdir" && pwd)
build=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollex-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
awk '/^## Using it from C/ { s = 1 } s && /^```c$/ { c = 1; next }
    c && /^```$/ { exit } c { print }' "$top/README.md" >"$tmp/timer-wait.c"
test -s "$tmp/timer-wait.c" || { echo "readme-example: no C block found"; exit 1; }
grep -q '^main(void)' "$tmp/timer-wait.c" ||
	{ echo "readme-example: the C block is not a whole program"; exit 1; }
# A library built with --enable-sanitizers needs its runtime first.
san=
ldd "$build/client/.libs/libpollex.so" | grep -q libasan &&
	san="-fsanitize=address,undefined"
# shellcheck disable=SC2086
$CC $san -Wall -Wextra -Werror -I"$top/client" -o "$tmp/timer-wait" \
    "$tmp/timer-wait.c" "$build/client/.libs/libpollex.so" \
    -Wl,-rpath,"$build/client/.libs"
# Without a daemon it says so and exits 4, as written.
rc=0
POLLEX_SOCKET=$tmp/none.sock "$tmp/timer-wait" 2>"$tmp/err" || rc=$?
cat "$tmp/err"
test "$rc" -eq 4 || { echo "readme-example: exit $rc, not 4"; exit 1; }
grep -q "pollexd is not running" "$tmp/err"
echo "readme-example: OK"
