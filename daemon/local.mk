# SPDX-License-Identifier: ISC
# daemon/: pollexd.  Its code is a convenience library so the tests link
# the daemon's modules directly; main.c only calls pollexd_main().

noinst_LTLIBRARIES += daemon/libpollexd.la
daemon_libpollexd_la_SOURCES = \
	daemon/pollexd.c daemon/pollexd.h \
	daemon/conf.c daemon/conf.h \
	daemon/task.c daemon/task.h \
	daemon/sched.c daemon/sched.h \
	daemon/kind.c daemon/kind.h \
	daemon/poller.c daemon/poller.h \
	daemon/exec/exec.c daemon/exec/proc.c daemon/exec/proc.h \
	daemon/call.c daemon/call.h \
	daemon/server.c daemon/server.h \
	daemon/methods.c daemon/methods.h \
	daemon/waits.c daemon/waits.h \
	daemon/sdnotify.c daemon/sdnotify.h \
	daemon/store/store.c daemon/store/store.h daemon/store/backend.h \
	daemon/store/sqlite.c daemon/store/none.c daemon/store/postgresql.c \
	daemon/metrics.c daemon/metrics.h
nodist_daemon_libpollexd_la_SOURCES = daemon/varlink-idl.c
daemon_libpollexd_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JSONC_CFLAGS) \
	$(CURL_CFLAGS) $(SQLITE_CFLAGS) $(LIBPQ_CFLAGS)
daemon_libpollexd_la_LIBADD = common/libpxproto.la common/libpxutil.la \
	$(LIBEVENT_LIBS) $(JSONC_LIBS) $(CURL_LIBS) $(SQLITE_LIBS) \
	$(LIBPQ_LIBS) -lm -lpthread

sbin_PROGRAMS += daemon/pollexd
daemon_pollexd_SOURCES = daemon/main.c
daemon_pollexd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JSONC_CFLAGS)
daemon_pollexd_LDADD = daemon/libpollexd.la

# The interface definition the daemon serves, from common/io.pollex.varlink.
BUILT_SOURCES += daemon/varlink-idl.c
CLEANFILES += daemon/varlink-idl.c
daemon/varlink-idl.c: $(top_srcdir)/common/io.pollex.varlink
	$(AM_V_GEN)$(MKDIR_P) daemon && { \
	  echo '/* Generated from common/io.pollex.varlink; do not edit. */'; \
	  echo 'const char px_varlink_idl[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' \
	    $(top_srcdir)/common/io.pollex.varlink; \
	  echo '    ;'; \
	} > $@.tmp && mv $@.tmp $@
