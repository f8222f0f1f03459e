# bench/: load generators and benchmark scenarios (built by `make`, run by
# bench/run.sh; figures in docs/benchmarks.md).
noinst_PROGRAMS += bench/loadgen bench/floor bench/stamp-poller
bench_loadgen_SOURCES = bench/loadgen.c
bench_floor_SOURCES = bench/floor.c
bench_stamp_poller_SOURCES = bench/stamp-poller.c
EXTRA_DIST += bench/run.sh
