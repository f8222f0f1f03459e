# SPDX-License-Identifier: ISC
# daemon/http-poller.mk: the http-batch and http-each poller kinds.
daemon_libpollexd_la_SOURCES += daemon/poller_http.c
