# SPDX-License-Identifier: ISC
# tests/http.mk: the HTTP transport against tests/testservice.
UNIT_TESTS += tests/check_http
tests_check_http_SOURCES = tests/check_http.c
tests_check_http_CFLAGS = $(TEST_CFLAGS) $(CURL_CFLAGS)
tests_check_http_LDADD = $(TEST_LIBS) $(CURL_LIBS) $(JSONC_LIBS) \
	$(LIBEVENT_LIBS) -lm
