#!/bin/sh
# SPDX-License-Identifier: ISC
# default-conf: etc/pollexd.conf, the configuration installed to
# /etc/pollex, loads with no active poller; with its commented examples
# uncommented, it loads with one poller of each kind.
set -eu
: "${POLLEXD:?}" "${srcdir:=.}"
conf=$srcdir/etc/pollexd.conf
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollex-defconf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

out=$("$POLLEXD" --check -c "$conf")
echo "$out"
case $out in
*"configuration OK (0 pollers)"*) ;;
*) echo "default-conf: the shipped file is not poller-free"; exit 1 ;;
esac

# Example lines are those under "pollers" whose text after "// " starts
# with a quote, a brace or more indentation; prose starts with a word.
sed -E 's#^    // ( *["}]|  )#    \1#' "$conf" >"$tmp/examples.conf"
mkdir "$tmp/cred"
echo token >"$tmp/cred/exports-token"
echo token >"$tmp/cred/management-token"
out=$(CREDENTIALS_DIRECTORY=$tmp/cred "$POLLEXD" --check -c "$tmp/examples.conf")
echo "$out"
case $out in
*"configuration OK (3 pollers)"*) ;;
*) echo "default-conf: the commented examples do not load"; exit 1 ;;
esac
for kind in exec http-batch http-each; do
	grep -q "\"kind\": \"$kind\"" "$tmp/examples.conf" ||
		{ echo "default-conf: no example of $kind"; exit 1; }
done
echo "default-conf: OK"
