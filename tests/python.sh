#!/bin/sh
# SPDX-License-Identifier: ISC
# python.sh: the Python package's unittest suites (tests/python/test_*.py)
# with the system python3, against the real pollexd of this build tree
# and the HTTP test service (tests/python/pxharness.py starts both on a
# private socket and state directory).  The package is imported from the
# source tree's python/, as it would be installed.
set -u
: "${POLLEXD:?}" "${TESTSERVICE:?}"
srcdir=${srcdir:-.}
PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
	echo "SKIP: $PYTHON is not installed"
	exit 77
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
	echo "SKIP: the pollex package needs Python 3.9 or later"
	exit 77
fi
top=$(cd "$srcdir" && pwd)
srcdir=$top
PYTHONPATH="$top/python:$top/tests/python${PYTHONPATH:+:$PYTHONPATH}"
PYTHONDONTWRITEBYTECODE=1
export srcdir PYTHONPATH PYTHONDONTWRITEBYTECODE
# Bounded as a whole too: every wait inside is (pxharness.BOUND).
exec timeout 600 "$PYTHON" -W error::ResourceWarning \
    -m unittest discover -s "$top/tests/python" -p 'test_*.py' -v
