# SPDX-License-Identifier: ISC
# docs/: documentation and the daemon's man pages (the client's are in
# client/local.mk).
dist_doc_DATA += README.md docs/protocol.md docs/configuration.md \
	docs/exec-poller.md docs/operations.md docs/benchmarks.md \
	docs/decisions.md docs/http-pollers.md docs/http-templates.md \
	docs/testing.md docs/architecture.md docs/cluster.md docs/python.md \
	common/io.pollex.varlink
dist_man_MANS += docs/man/pollexd.8 docs/man/pollexd.conf.5

# README's C example compiles as written (tests/readme-example.sh).
TESTS += tests/readme-example.sh
EXTRA_DIST += tests/readme-example.sh
tests/readme-example.log: client/libpollex.la

# Every configuration key the loader accepts, every function libpollex
# exports and every pollexctl command is in its man page
# (tests/man-coverage.sh); tests/confprobe asks the loader which keys it
# accepts.
check_PROGRAMS += tests/confprobe
tests_confprobe_SOURCES = tests/confprobe.c
tests_confprobe_CFLAGS = $(TEST_CFLAGS)
tests_confprobe_LDADD = $(TEST_LIBS)
TESTS += tests/man-coverage.sh
EXTRA_DIST += tests/man-coverage.sh
tests/man-coverage.log: tests/confprobe$(EXEEXT) client/libpollex.la \
	client/pollexctl$(EXEEXT)

# Every source file names its licence (LICENSE: ISC).
TESTS += tests/spdx.sh
EXTRA_DIST += tests/spdx.sh LICENSE
