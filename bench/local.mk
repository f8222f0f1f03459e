# SPDX-License-Identifier: ISC
# bench/: load generators and benchmark scenarios (built by `make`, run by
# bench/run.sh; figures in docs/benchmarks.md).
noinst_PROGRAMS += bench/loadgen bench/floor bench/stamp-poller bench/fsync-floor
bench_loadgen_SOURCES = bench/loadgen.c
bench_floor_SOURCES = bench/floor.c
bench_stamp_poller_SOURCES = bench/stamp-poller.c
bench_fsync_floor_SOURCES = bench/fsync-floor.c
bench_fsync_floor_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
bench_fsync_floor_LDADD = $(SQLITE_LIBS)
EXTRA_DIST += bench/run.sh bench/soak.sh bench/http.sh bench/python-executor.py
