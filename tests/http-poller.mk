# SPDX-License-Identifier: ISC
# tests/http-poller.mk: the HTTP poller kinds against the HTTP test service.
INTEGRATION_TESTS += tests/check_http_poller
tests_check_http_poller_SOURCES = tests/check_http_poller.c tests/tsvc.c \
	tests/tsvc.h
tests_check_http_poller_CFLAGS = $(TEST_CFLAGS) $(CURL_CFLAGS) \
	-iquote $(top_srcdir)/client
tests_check_http_poller_LDADD = tests/libharness.la client/libpollex.la \
	tests/libtestlib.la common/libpxutil.la $(CHECK_LIBS) $(JSONC_LIBS) \
	$(CURL_LIBS) -lm

# Text from outside (clients, exec programs, HTTP services) through pollexd.
INTEGRATION_TESTS += tests/check_strings
tests_check_strings_SOURCES = tests/check_strings.c tests/tsvc.c tests/tsvc.h
tests_check_strings_CFLAGS = $(TEST_CFLAGS) -iquote $(top_srcdir)/client
tests_check_strings_LDADD = tests/libharness.la client/libpollex.la \
	tests/libtestlib.la common/libpxutil.la $(CHECK_LIBS) $(JSONC_LIBS) \
	$(CURL_LIBS) -lm
