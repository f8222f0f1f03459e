# SPDX-License-Identifier: ISC
# daemon/http.mk: the HTTP transport (libcurl multi on libevent).
daemon_libpollexd_la_SOURCES += daemon/http.c daemon/http.h
dist_doc_DATA += docs/http-transport.md
