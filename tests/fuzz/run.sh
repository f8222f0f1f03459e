#!/bin/sh
# SPDX-License-Identifier: ISC
# tests/fuzz/run.sh: run every fuzz target on its seed corpus for a while.
#
# usage: run.sh [SECONDS [TARGET...]]
#
# Each target runs SECONDS (default 60) with one job, on a fresh copy of
# tests/fuzz/corpus/TARGET in a temporary directory (the tree is never
# written), with -timeout=10 and -rss_limit_mb=2048; leaks count.  Any
# crash, leak, timeout or out-of-memory fails the run: the input is kept
# and its path and the command that reproduces it are printed.  Before
# fuzzing, each target replays the reproducers of past findings
# (tests/fuzz/crashers/TARGET-*): they must all pass.
# Environment: FUZZ_SEED (libFuzzer's -seed; CI sets one so that its run
# is the same on every machine and a stop is not failed by a new finding
# of chance: campaigns that look for new bugs run without it), FUZZ_OUT (the fuzzers, default tests/fuzz/out next to this
# script), FUZZ_WORK (where corpora and crashes go, default a new
# directory under $TMPDIR), FUZZ_ARGS (more libFuzzer flags).
set -u

here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-frame client_reply jspan conf rules templates dispatch \
 exec_output http_response}
out=${FUZZ_OUT:-$here/out}
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/pollex-fuzz.XXXXXX")}
mkdir -p "$work"

failed=
for t in $targets; do
	bin=$out/fuzz_$t
	if [ ! -x "$bin" ]; then
		echo "run.sh: $bin missing: run 'make fuzz' first" >&2
		exit 2
	fi
	corpus=$work/corpus-$t
	crashes=$work/crashes-$t
	rm -rf "$corpus" "$crashes"
	mkdir -p "$corpus" "$crashes"
	cp "$here/corpus/$t"/* "$corpus"/ 2>/dev/null || true
	dict=
	[ -f "$here/pollex.dict" ] && dict=-dict=$here/pollex.dict
	seed=
	[ -n "${FUZZ_SEED:-}" ] && seed=-seed=$FUZZ_SEED
	# The reproducers of past findings first: each must pass now.
	for f in "$here/crashers/$t"-*; do
		[ -f "$f" ] || continue
		if ! "$bin" "$f" >"$work/$t.replay.log" 2>&1; then
			failed="$failed $t"
			echo "!! $t: the reproducer $f fails again"
			grep -a -E 'ERROR:|fuzz check failed|SUMMARY' \
			    "$work/$t.replay.log" | head -5 | sed "s/^/   /"
		fi
	done
	echo "== $t: $secs s"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -detect_leaks=1 -print_final_stats=1 $dict $seed \
	    -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} "$corpus" \
	    >"$work/$t.log" 2>&1
	rc=$?
	grep -a -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^Done' \
	    "$work/$t.log" | sed "s/^/   /"
	found=$(ls "$crashes" 2>/dev/null)
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		failed="$failed $t"
		echo "!! $t FAILED (exit $rc); log: $work/$t.log"
		grep -a -E 'ERROR:|fuzz check failed|SUMMARY' "$work/$t.log" |
		    head -5 | sed "s/^/   /"
		for f in $found; do
			echo "   input:     $crashes/$f"
			echo "   reproduce: $bin $crashes/$f"
		done
	fi
done
if [ -n "$failed" ]; then
	echo "run.sh: failed:$failed (work directory $work)"
	exit 1
fi
echo "run.sh: every target ran $secs s without a failure"
[ -z "${FUZZ_WORK:-}" ] && rm -rf "$work"
exit 0
