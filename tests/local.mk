# SPDX-License-Identifier: ISC
# tests/: Check suites per module, the exec test poller and the
# integration tests that start the real pollexd.

noinst_LTLIBRARIES += tests/libtestlib.la
tests_libtestlib_la_SOURCES = tests/testlib.c tests/testlib.h
tests_libtestlib_la_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)

TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS) $(LIBEVENT_CFLAGS) \
	-iquote $(top_srcdir)/tests
TEST_LIBS = tests/libtestlib.la daemon/libpollexd.la $(CHECK_LIBS)

UNIT_TESTS = tests/check_frame tests/check_util tests/check_task \
	tests/check_sched tests/check_conf tests/check_methods tests/check_jspan \
	tests/check_idl
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

tests_check_frame_SOURCES = tests/check_frame.c
tests_check_frame_CFLAGS = $(TEST_CFLAGS)
tests_check_frame_LDADD = $(TEST_LIBS)
tests_check_util_SOURCES = tests/check_util.c
tests_check_util_CFLAGS = $(TEST_CFLAGS)
tests_check_util_LDADD = $(TEST_LIBS)
tests_check_task_SOURCES = tests/check_task.c
tests_check_task_CFLAGS = $(TEST_CFLAGS)
tests_check_task_LDADD = $(TEST_LIBS)
tests_check_sched_SOURCES = tests/check_sched.c
tests_check_sched_CFLAGS = $(TEST_CFLAGS)
tests_check_sched_LDADD = $(TEST_LIBS)
tests_check_conf_SOURCES = tests/check_conf.c
tests_check_conf_CFLAGS = $(TEST_CFLAGS)
tests_check_conf_LDADD = $(TEST_LIBS)
tests_check_jspan_SOURCES = tests/check_jspan.c
tests_check_jspan_CFLAGS = $(TEST_CFLAGS)
tests_check_jspan_LDADD = $(TEST_LIBS)
tests_check_idl_SOURCES = tests/check_idl.c
tests_check_idl_CFLAGS = $(TEST_CFLAGS)
tests_check_idl_LDADD = $(TEST_LIBS) $(JSONC_LIBS)

tests_check_methods_SOURCES = tests/check_methods.c
tests_check_methods_CFLAGS = $(TEST_CFLAGS)
tests_check_methods_LDADD = $(TEST_LIBS)

# Integration tests: the real daemon, the test poller, raw sockets.
check_PROGRAMS += tests/testpoller
tests_testpoller_SOURCES = tests/testpoller.c
tests_testpoller_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_testpoller_LDADD = $(JSONC_LIBS)

# The HTTP test service the HTTP pollers are tested against (see
# tests/testservice.md); its smoke test runs it with curl.
# Built by "make" too: examples/demo runs it as the example HTTP pollers' remote.
noinst_PROGRAMS += tests/testservice
tests_testservice_SOURCES = tests/testservice.c
tests_testservice_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) \
	$(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(JSONC_CFLAGS) $(ZLIB_CFLAGS)
tests_testservice_LDADD = $(LIBEVENT_OPENSSL_LIBS) $(LIBEVENT_LIBS) \
	$(OPENSSL_LIBS) $(JSONC_LIBS) $(ZLIB_LIBS) -lm
TESTS += tests/testservice-smoke.sh
EXTRA_DIST += tests/testservice-smoke.sh tests/testservice.md

# pollexd against a client built on Debian's varlink-go: the served IDL
# parsed by its idl package, every reply checked against it, and bindings
# generated from it (skipped without go).
TESTS += tests/varlink-go.sh
EXTRA_DIST += tests/varlink-go.sh tests/varlink-go/conformance/main.go \
	tests/varlink-go/bindings/main.go

# The README walk-through with pollexctl and examples/pollexd.conf.
TESTS += tests/cli-e2e.sh
EXTRA_DIST += tests/cli-e2e.sh
# Per-task progress in pollexctl wait (on a terminal) and watch.
TESTS += tests/ctl-progress.sh
EXTRA_DIST += tests/ctl-progress.sh
# The postgresql store backend against a PostgreSQL the test starts.
TESTS += tests/postgresql.sh
EXTRA_DIST += tests/postgresql.sh

# GET /metrics of a live pollexd through promtool (skipped without it).
TESTS += tests/metrics.sh
EXTRA_DIST += tests/metrics.sh

noinst_LTLIBRARIES += tests/libharness.la
tests_libharness_la_SOURCES = tests/harness.c tests/harness.h
tests_libharness_la_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -iquote $(top_srcdir)/tests

INTEGRATION_TESTS = tests/check_daemon tests/check_store tests/check_exec \
	tests/check_metrics tests/check_epochs
check_PROGRAMS += $(INTEGRATION_TESTS)
TESTS += $(INTEGRATION_TESTS)
tests_check_daemon_SOURCES = tests/check_daemon.c
tests_check_daemon_CFLAGS = $(TEST_CFLAGS)
tests_check_daemon_LDADD = tests/libharness.la $(TEST_LIBS) $(JSONC_LIBS)
tests_check_store_SOURCES = tests/check_store.c
tests_check_store_CFLAGS = $(TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_check_store_LDADD = tests/libharness.la $(TEST_LIBS) $(JSONC_LIBS) \
	$(SQLITE_LIBS)

tests_check_epochs_SOURCES = tests/check_epochs.c
tests_check_epochs_CFLAGS = $(TEST_CFLAGS)
tests_check_epochs_LDADD = tests/libharness.la $(TEST_LIBS) $(JSONC_LIBS) \
	$(LIBEVENT_LIBS)

tests_check_exec_SOURCES = tests/check_exec.c
tests_check_exec_CFLAGS = $(TEST_CFLAGS) -iquote $(top_srcdir)/client
tests_check_exec_LDADD = tests/libharness.la client/libpollex.la \
	tests/libtestlib.la $(CHECK_LIBS) $(JSONC_LIBS) -lm

tests_check_metrics_SOURCES = tests/check_metrics.c
tests_check_metrics_CFLAGS = $(TEST_CFLAGS) -iquote $(top_srcdir)/client
tests_check_metrics_LDADD = tests/libharness.la client/libpollex.la \
	tests/libtestlib.la $(CHECK_LIBS) $(JSONC_LIBS)

AM_TESTS_ENVIRONMENT = \
	POLLEXD='$(abs_top_builddir)/daemon/pollexd'; \
	POLLEXCTL='$(abs_top_builddir)/client/pollexctl'; \
	TESTPOLLER='$(abs_top_builddir)/tests/testpoller'; \
	TESTSERVICE='$(abs_top_builddir)/tests/testservice'; \
	TMPDIR="$${TMPDIR:-/tmp}"; srcdir='$(srcdir)'; \
	export srcdir POLLEXD POLLEXCTL TESTPOLLER TESTSERVICE TMPDIR;

# Client library unit tests live in their own fragment.
include tests/client.mk

# make check-valgrind: the unit suites under valgrind (through libtool, so
# that a suite linked with the shared libpollex is run, not its wrapper
# script), then the integration
# suites with pollexd itself under valgrind (every test stops the daemon
# with SIGTERM and requires exit status 0, so a valgrind error fails it).
VALGRIND_CMD = valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect
check-valgrind: $(check_PROGRAMS) daemon/pollexd
	@set -e; $(AM_TESTS_ENVIRONMENT) for t in $(UNIT_TESTS); do \
	  echo "valgrind: $$t"; \
	  CK_FORK=no CK_DEFAULT_TIMEOUT=600 \
	    $(LIBTOOL) --mode=execute $(VALGRIND_CMD) ./$$t; \
	done
	@set -e; $(AM_TESTS_ENVIRONMENT) for t in $(INTEGRATION_TESTS); do \
	  echo "valgrind (pollexd): $$t"; \
	  POLLEX_TEST_WRAPPER='$(VALGRIND_CMD)' CK_TIMEOUT_MULTIPLIER=10 ./$$t; \
	done
.PHONY: check-valgrind
