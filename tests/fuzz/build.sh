#!/bin/sh
# SPDX-License-Identifier: ISC
# tests/fuzz/build.sh: build the libFuzzer targets with clang.
#
# usage: build.sh [SRCDIR [BUILDDIR [OUTDIR]]]
#
# SRCDIR is the source tree (default: two levels above this script),
# BUILDDIR the configured build tree holding config.h and
# daemon/varlink-idl.c (default: SRCDIR), OUTDIR where the fuzzers go
# (default: BUILDDIR/tests/fuzz/out).  `make fuzz` runs it.  The project's
# sources are compiled straight from the tree with
# -fsanitize=fuzzer-no-link,address,undefined; nothing of the normal build
# is reused, so the normal build never needs clang.
# Environment: FUZZ_CC (default clang), FUZZ_CFLAGS (added), FUZZ_SAN
# (default address,undefined).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "${1:-$here/../..}" && pwd)
build=$(cd "${2:-$src}" && pwd)
out=${3:-$build/tests/fuzz/out}
cc=${FUZZ_CC:-clang}
san=${FUZZ_SAN:-address,undefined}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "build.sh: $cc not found (the fuzzers need clang with libFuzzer)" >&2
	exit 1
fi
if [ ! -f "$build/config.h" ]; then
	echo "build.sh: $build/config.h missing: run ./configure first" >&2
	exit 1
fi
if [ ! -f "$build/daemon/varlink-idl.c" ]; then
	# Made by the normal build; make it here when only configure ran.
	(cd "$build" && make daemon/varlink-idl.c >/dev/null)
fi

mkdir -p "$out/obj"
pkgs="json-c libevent libcurl sqlite3 libpq"
pkgcflags=$(pkg-config --cflags $pkgs)
pkglibs=$(pkg-config --libs $pkgs)

cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,$san \
 -fno-sanitize-recover=undefined -D_GNU_SOURCE \
 -DSYSCONFDIR=\"/etc\" -DLOCALSTATEDIR=\"/var\" -DRUNSTATEDIR=\"/run\" \
 -I$build -iquote $src/common -iquote $src/daemon -iquote $src/daemon/store \
 -iquote $src/daemon/exec -iquote $src/daemon/http -I$src/client \
 -iquote $src/tests/fuzz -Wall -Wno-unused-parameter $pkgcflags \
 ${FUZZ_CFLAGS:-}"
ldflags="-fsanitize=fuzzer,$san"

# The newest header: an object older than it is rebuilt (a changed
# struct must not meet objects compiled with its old layout).
newest_h=$(ls -t "$src"/common/*.h "$src"/daemon/*.h "$src"/daemon/*/*.h \
    "$src"/client/*.h \
    "$src"/tests/fuzz/*.h "$build/config.h" 2>/dev/null | head -n 1)

# Compile one source file into $out/obj (only when it or a header is
# newer than the object).
compile() {
	o="$out/obj/$(echo "$1" | sed -e "s|^$src/||" -e "s|^$build/||" \
	    -e 's|/|_|g' -e 's|\.c$|.o|')"
	if [ ! -f "$o" ] || [ "$1" -nt "$o" ] || [ "$0" -nt "$o" ] ||
	    { [ -n "$newest_h" ] && [ "$newest_h" -nt "$o" ]; }; then
		echo "  CC       $o"
		# shellcheck disable=SC2086
		"$cc" $cflags -c "$1" -o "$o"
	fi
	objs="$objs $o"
}

# The objects of a group of sources, in $objs.
group() {
	objs=
	for f in "$@"; do
		compile "$f"
	done
}

group $src/common/proto.c $src/common/frame.c $src/common/jspan.c
proto=$objs
group $src/common/log.c $src/common/xmalloc.c $src/common/util.c \
    $src/common/hmap.c
util=$objs
daemon_srcs=
for f in $src/daemon/*.c $src/daemon/store/*.c $src/daemon/exec/*.c \
    $src/daemon/http/*.c; do
	case $f in */main.c|*/varlink-idl.c) ;; *) daemon_srcs="$daemon_srcs $f" ;; esac
done
group $daemon_srcs $build/daemon/varlink-idl.c
daemon=$objs
group $src/client/conn.c $src/client/error.c $src/client/libpollex.c \
    $src/client/spec.c $src/client/task.c
client=$objs
group $here/fzdaemon.c
fzd=$objs

# Link one fuzzer: name, then the objects and flags it needs.
fuzzer() {
	name=$1
	shift
	group $here/fuzz_$name.c $here/fuzzlib.c
	echo "  CCLD     $out/fuzz_$name"
	# shellcheck disable=SC2086
	"$cc" $ldflags -o "$out/fuzz_$name" $objs "$@" $pkglibs -lm
}

dwrap_exec="-Wl,--wrap=proc_start -Wl,--wrap=proc_abort"
dwrap_http="-Wl,--wrap=http_get -Wl,--wrap=http_client_new \
 -Wl,--wrap=http_client_free -Wl,--wrap=http_client_stats \
 -Wl,--wrap=http_submit -Wl,--wrap=http_cancel \
 -Wl,--wrap=http_response_header"

targets=${FUZZ_TARGETS:-frame client_reply jspan conf rules templates \
 dispatch exec_output http_response}
for t in $targets; do
	case $t in
	frame|jspan)
		fuzzer "$t" $proto ;;
	client_reply)
		fuzzer "$t" $client $proto ;;
	dispatch|exec_output)
		fuzzer "$t" $fzd $daemon $proto $util $dwrap_exec ;;
	http_response)
		fuzzer "$t" $fzd $daemon $proto $util $dwrap_exec \
		    $dwrap_http ;;
	*)
		fuzzer "$t" $daemon $proto $util ;;
	esac
done
echo "fuzzers in $out"
