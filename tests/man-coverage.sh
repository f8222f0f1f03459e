#!/bin/sh
# SPDX-License-Identifier: ISC
# man-coverage.sh: the man pages cover what the programs accept.
#
#  (a) every configuration key the loader accepts is in pollexd.conf(5) as
#      "Ic key", and every "Ic key" there is a key the loader accepts;
#  (b) every function libpollex.so exports is in libpollex(3)'s SYNOPSIS as
#      ".Fn name" with its prototype, and every function there is exported;
#  (c) every command of "pollexctl --help" is in pollexctl(1) as "Cm name".
#
# The keys come from two places, so that neither alone can miss one:
#  - the loader itself: tests/confprobe loads a valid configuration of each
#    kind of object (daemon settings, each poller kind, request template,
#    retry policy, outcome, rule) with one candidate key added, and keeps
#    the candidates not answered "unknown key".  The candidates are every
#    "lower_case" string literal of daemon/*.c and every documented key, so
#    a key is found however the code reads it (the rules' keys[] table, a
#    new wrapper around the getters);
#  - the sources: the key literal of every call of a reader (cfg_string(c,
#    "key", ...) and the like) and rules.c's keys[] table, so that a key of
#    an object the probe does not build yet is still required in the page.
# Limits: a key built at run time rather than written as a literal in
# daemon/*.c, in an object kind the probe does not build, read by a function
# the static list does not know, escapes both.

set -u
: "${srcdir:=.}"
: "${CONFPROBE:=./tests/confprobe}"
: "${POLLEXCTL:=./client/pollexctl}"
: "${LIBPOLLEX:=./client/.libs/libpollex.so}"
conf5=$srcdir/docs/man/pollexd.conf.5
lib3=$srcdir/docs/man/libpollex.3
ctl1=$srcdir/docs/man/pollexctl.1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/man-coverage.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

# $1 missing from $2 ("what"), each item of the file $3 listed.
report() {
	if [ -s "$3" ]; then
		echo "FAIL: $1:"
		sed 's/^/    /' "$3"
		fail=1
	else
		echo "ok: $2"
	fi
}

# ---------------------------------------------------------------- (a) keys
# "Ic word" anywhere in a request line of the page (".It Ic a , Ic b Ar t").
awk '/^\./ { for (i = 1; i < NF; i++) if ($i == "Ic" || $i == ".Ic") print $(i + 1) }' \
    "$conf5" | sort -u >"$tmp/documented"

grep -ohE '"[a-z][a-z0-9_]*"' "$srcdir"/daemon/*.c "$srcdir"/daemon/*/*.c | tr -d '"' |
    cat - "$tmp/documented" | sort -u >"$tmp/candidates"

# The objects a key may be in, each valid around the probed key.
U='"url": "http://127.0.0.1:1/"'
set -- \
    '{"@KEY@": null}' \
    '{"postgresql": {"@KEY@": null}}' \
    '{"pollers": {"p": {"kind": "exec", "poll": ["/bin/true"], "@KEY@": null}}}' \
    '{"pollers": {"p": {"kind": "http-batch", '"$U"', "poll": {"url": "/s"},
      "item_id": "/id", "ref_id": "/id", "outcome": {"rules": []},
      "@KEY@": null}}}' \
    '{"pollers": {"p": {"kind": "http-each", '"$U"',
      "poll": {"url": "/s/{{id}}"}, "outcome": {"rules": []},
      "@KEY@": null}}}' \
    '{"pollers": {"p": {"kind": "http-each", '"$U"', "lro": true,
      "start": {"method": "PUT", "url": "/s/{{id}}"}, "@KEY@": null}}}' \
    '{"pollers": {"p": {"kind": "http-each", '"$U"',
      "poll": {"url": "/s/{{id}}", "@KEY@": null},
      "outcome": {"rules": []}}}}' \
    '{"pollers": {"p": {"kind": "http-each", '"$U"',
      "poll": {"url": "/s/{{id}}"}, "outcome": {"rules": []},
      "retry": {"@KEY@": null}}}}' \
    '{"pollers": {"p": {"kind": "http-each", '"$U"',
      "poll": {"url": "/s/{{id}}"}, "outcome": {"rules": [], "@KEY@": null}}}}' \
    '{"pollers": {"p": {"kind": "http-each", '"$U"',
      "poll": {"url": "/s/{{id}}"},
      "outcome": {"rules": [{"status": 200, "state": "succeeded",
      "@KEY@": null}]}}}}'
: >"$tmp/accepted"
for tmpl; do
	# shellcheck disable=SC2046 # one argument per candidate
	if ! "$CONFPROBE" "$tmpl" $(cat "$tmp/candidates") >>"$tmp/accepted"
	then
		echo "FAIL: tests/confprobe could not probe this object"
		fail=1
	fi
done
sort -u -o "$tmp/accepted" "$tmp/accepted"
if [ "$(grep -cxE 'socket|kind|url|attempts|method|result|path' \
    "$tmp/accepted")" != 7 ]; then
	echo "FAIL: the probe did not find the keys it must find:"
	sed 's/^/    /' "$tmp/accepted"
	fail=1
fi

# The sources' readers, and rules.c's table of rule keys.
{
	grep -ohE '(cfg_(string|uint|duration|bool|argv|env|json|sub)|conf_read_[a-z]+|http_conf_[a-z]+|hk_read_[a-z]+|req_tmpl_read|rules_read|rules_pointer)\([a-z_>.-]+, "[a-z_0-9]+"' \
	    "$srcdir"/daemon/*.c "$srcdir"/daemon/*/*.c | sed 's/.*"\(.*\)"$/\1/'
	sed -n '/keys\[\] = {/,/};/p' "$srcdir"/daemon/http/rules.c |
	    grep -oE '"[a-z_]+"' | tr -d '"'
} | sort -u >"$tmp/read"
[ -s "$tmp/read" ] || { echo "FAIL: no key found in daemon/*.c"; fail=1; }

sort -u "$tmp/accepted" "$tmp/read" | comm -23 - "$tmp/documented" \
    >"$tmp/undocumented"
report "configuration keys the loader accepts missing from $conf5 (as Ic key)" \
    "$(wc -l <"$tmp/accepted") keys accepted, $(wc -l <"$tmp/read") read in the sources, all in pollexd.conf(5)" \
    "$tmp/undocumented"
comm -13 "$tmp/accepted" "$tmp/documented" >"$tmp/unknown"
report "keys in $conf5 (Ic key) the loader does not accept" \
    "every Ic in pollexd.conf(5) is a key the loader accepts" "$tmp/unknown"

# ----------------------------------------------------------- (b) functions
if [ -f "$LIBPOLLEX" ]; then
	nm -D --defined-only "$LIBPOLLEX" | awk '$2 == "T" { print $3 }' |
	    sed 's/@.*//' | sort -u >"$tmp/exported"
else
	echo "FAIL: $LIBPOLLEX: not built (configure --disable-shared?)"
	fail=1
	: >"$tmp/exported"
fi
[ -s "$tmp/exported" ] || { echo "FAIL: no exported function found"; fail=1; }
# ".Fn name "type arg" ..." in the SYNOPSIS: a function with its prototype.
awk '/^\.Sh / { syn = ($2 == "SYNOPSIS") }
    syn && $1 == ".Fn" && NF > 2 && $3 ~ /^"/ { print $2 }' "$lib3" |
    sort -u >"$tmp/synopsis"
comm -23 "$tmp/exported" "$tmp/synopsis" >"$tmp/missing"
report "exported functions missing from the SYNOPSIS of $lib3 (.Fn name \"prototype\")" \
    "$(wc -l <"$tmp/exported") exported functions, all in libpollex(3)" \
    "$tmp/missing"
comm -13 "$tmp/exported" "$tmp/synopsis" >"$tmp/stale"
report "functions in the SYNOPSIS of $lib3 that libpollex does not export" \
    "every function of libpollex(3)'s SYNOPSIS is exported" "$tmp/stale"

# ------------------------------------------------------------ (c) commands
"$POLLEXCTL" --help >"$tmp/help" 2>&1 || true
awk '/^Commands:/ { on = 1; next } on && /^$/ { exit }
    on && /^  [a-z]/ { print $1 }' "$tmp/help" | sort -u >"$tmp/commands"
[ -s "$tmp/commands" ] || { echo "FAIL: no command in pollexctl --help:";
    cat "$tmp/help"; fail=1; }
awk '/^\.Sh / { cmds = ($2 == "COMMANDS") }
    cmds { for (i = 1; i < NF; i++) if ($i == "Cm" || $i == ".Cm")
        print $(i + 1) }' "$ctl1" | sort -u >"$tmp/documented-commands"
comm -23 "$tmp/commands" "$tmp/documented-commands" >"$tmp/missing"
report "pollexctl commands missing from the COMMANDS of $ctl1 (Cm name)" \
    "$(wc -l <"$tmp/commands") pollexctl commands, all in pollexctl(1)" \
    "$tmp/missing"

exit $fail
