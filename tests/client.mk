# SPDX-License-Identifier: ISC
# tests/client.mk: unit tests of libpollex and pollexctl (no daemon needed;
# a scripted peer in the test plays pollexd).
UNIT_TESTS += tests/check_client
tests_check_client_SOURCES = tests/check_client.c
tests_check_client_CPPFLAGS = $(AM_CPPFLAGS) \
	-DPOLLEXCTL_PATH='"$(abs_top_builddir)/client/pollexctl$(EXEEXT)"' \
	-DLIBPOLLEX_SO='"$(abs_top_builddir)/client/.libs/libpollex.so"'
tests_check_client_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(CHECK_CFLAGS) \
	-pthread
tests_check_client_LDADD = client/libpollex.la $(CHECK_LIBS) $(JSONC_LIBS) \
	-lpthread -lm
