# SPDX-License-Identifier: ISC
# daemon/rules.mk: request templates and outcome rules of the HTTP pollers.
daemon_libpollexd_la_SOURCES += daemon/rules.c daemon/rules.h
