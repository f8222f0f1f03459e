# SPDX-License-Identifier: ISC
# daemon/http/: the http-batch and http-each poller kinds (kinds.c), their
# request templates and outcome rules (rules.c), and the HTTP transport
# they share (http.c: libcurl multi on libevent).
daemon_libpollexd_la_SOURCES += \
	daemon/http/kinds.c \
	daemon/http/rules.c daemon/http/rules.h \
	daemon/http/http.c daemon/http/http.h
dist_doc_DATA += docs/http-transport.md
