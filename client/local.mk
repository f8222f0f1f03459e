# SPDX-License-Identifier: ISC
# client/: libpollex (the client library) and pollexctl (its CLI).

# The library: a real installed libtool library exporting pollex_* only.
lib_LTLIBRARIES += client/libpollex.la
include_HEADERS = client/pollex.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = client/libpollex.pc
client_libpollex_la_SOURCES = \
	client/pollex.h client/pollex-int.h \
	client/conn.c client/error.c client/libpollex.c \
	client/spec.c client/task.c
client_libpollex_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
client_libpollex_la_LIBADD = common/libpxproto.la $(JSONC_LIBS) -lm
client_libpollex_la_LDFLAGS = $(AM_LDFLAGS) -no-undefined \
	-version-info $(LIBPOLLEX_LT_VERSION) \
	-Wl,--version-script=$(srcdir)/client/libpollex.map
EXTRA_client_libpollex_la_DEPENDENCIES = client/libpollex.map

# The CLI: a thin user of the public library.
bin_PROGRAMS += client/pollexctl
client_pollexctl_SOURCES = \
	client/pollexctl.h client/pollexctl.c \
	client/pollexctl-task.c client/pollexctl-info.c
client_pollexctl_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -pthread
client_pollexctl_LDADD = client/libpollex.la common/libpxutil.la \
	common/libpxproto.la \
	$(JSONC_LIBS) -lm
client_pollexctl_LDFLAGS = $(AM_LDFLAGS) -pthread

dist_man_MANS += docs/man/pollexctl.1 docs/man/libpollex.3
EXTRA_DIST += client/libpollex.map client/libpollex.pc.in

# bash completion, where bash-completion looks for it on demand.
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = client/pollexctl.bash
install-data-hook: install-completion-name
uninstall-hook: uninstall-completion-name
install-completion-name:
	cd '$(DESTDIR)$(bashcompletiondir)' && mv -f pollexctl.bash pollexctl
uninstall-completion-name:
	rm -f '$(DESTDIR)$(bashcompletiondir)/pollexctl'
.PHONY: install-completion-name uninstall-completion-name
TESTS += tests/completion.sh
EXTRA_DIST += tests/completion.sh
TESTS += tests/ctl-messages.sh
EXTRA_DIST += tests/ctl-messages.sh
