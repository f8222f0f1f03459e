# tests/: Check suites per module, the exec test poller and the
# integration tests that start the real pollexd.

noinst_LTLIBRARIES += tests/libtestlib.la
tests_libtestlib_la_SOURCES = tests/testlib.c tests/testlib.h
tests_libtestlib_la_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)

TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS) $(LIBEVENT_CFLAGS) \
	-iquote $(top_srcdir)/tests
TEST_LIBS = tests/libtestlib.la daemon/libpollexd.la $(CHECK_LIBS)

UNIT_TESTS = tests/check_frame tests/check_util tests/check_task \
	tests/check_sched tests/check_conf tests/check_methods
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
tests_check_methods_SOURCES = tests/check_methods.c
tests_check_methods_CFLAGS = $(TEST_CFLAGS)
tests_check_methods_LDADD = $(TEST_LIBS)

# Client library unit tests live in their own fragment.
include tests/client.mk
