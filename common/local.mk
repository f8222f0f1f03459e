# SPDX-License-Identifier: ISC
# common/: code shared by pollexd, libpollex, pollexctl, tests and benchmarks.

# Protocol names and framing: linked into libpollex too, so nothing here
# may abort or log.
noinst_LTLIBRARIES += common/libpxproto.la
common_libpxproto_la_SOURCES = \
	common/proto.c common/proto.h \
	common/frame.c common/frame.h \
	common/jspan.c common/jspan.h
common_libpxproto_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)

# Utilities for the daemon and the tools (x* functions abort).
noinst_LTLIBRARIES += common/libpxutil.la
common_libpxutil_la_SOURCES = \
	common/log.c common/log.h \
	common/xmalloc.c common/xmalloc.h \
	common/util.c common/util.h \
	common/hmap.c common/hmap.h common/compat.h
common_libpxutil_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)

EXTRA_DIST += common/io.pollex.varlink
