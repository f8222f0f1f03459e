#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/soak.sh: the kill -9 test of the suite, larger: CLIENTS processes
# submit continuously while pollexd is killed KILLS times at random moments
# and restarted; then every acknowledged id must exist exactly once and
# finish.  Run from the build tree after `make check` built the tests.
#
#   bench/soak.sh [CLIENTS] [KILLS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
export POLLEX_SOAK_CLIENTS=${1:-16} POLLEX_SOAK_KILLS=${2:-50}
export POLLEXD="$top/daemon/pollexd" TESTPOLLER="$top/tests/testpoller"
export CK_RUN_CASE=soak CK_TIMEOUT_MULTIPLIER=20
"$top/tests/check_store" 2>&1 | grep -E "kill9 soak|Checks|:[EF]:"
